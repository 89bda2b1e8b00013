//! Router configuration: a TOML file (default embedded from `conf/router.toml`) parsed
//! into plain structs, with every value checked up front.
//!
//! Parsing happens in two steps. First the text is deserialized into private `Raw*`
//! structs (`deny_unknown_fields`, everything optional, integers as `i64`), so that
//! unknown keys and wrong value types are caught by serde; their error's span is mapped
//! back to a key path like `port[1].mtu`. Then [`Builder`] checks ranges and
//! cross-references and produces a [`Config`] whose port references are indices.
//! Every error names the file, the key and the reason: see [`ConfigError`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::datapath::icmp_ratelimit::IcmpLimits;
use crate::datapath::punt::{self, PuntLimits};
use crate::datapath::qdisc::{self, Limit, TbfParams};
use crate::wire::MacAddr;

mod nexthops;
pub use nexthops::NexthopConfig;

/// The default configuration, compiled in.
pub const DEFAULT_CONFIG: &str = include_str!("../conf/router.toml");
/// [`Config::source`] of the embedded default.
pub const DEFAULT_SOURCE: &str = "<embedded conf/router.toml>";

/// Default `[eal] args`.
const DEFAULT_EAL_ARGS: &[&str] = &[
    "-l",
    "0,1",
    "--no-huge",
    "-m",
    "512",
    "--no-pci",
    "--file-prefix",
    "ferroute",
    "--log-level",
    "lib.eal:notice",
];

/// Largest RX queue index + 1 accepted in `[[worker]].rx`.
const MAX_RX_QUEUES: u16 = 16;
/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// A configuration error: `{file}: {key}: {message}`.
///
/// `key` is a path such as `port[1].address` or `worker[0].rx[1]` (indices count from 0
/// in file order), `line L, column C` for TOML syntax errors, or empty when the file
/// cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where it came from: the file path, or [`DEFAULT_SOURCE`].
    pub source: String,
    /// `[eal] args`, without the `--vdev` arguments of the ports.
    pub eal_args: Vec<String>,
    pub control: ControlConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub datapath: DatapathConfig,
    pub icmp: IcmpConfig,
    /// Policers of the hand-off to the control thread (`[punt]`).
    pub punt: PuntLimits,
    pub arp: ArpConfig,
    pub reassembly: ReassemblyConfig,
    pub ip: IpConfig,
    /// At least one.
    pub ports: Vec<PortConfig>,
    /// At least one.
    pub workers: Vec<WorkerConfig>,
    /// The exception path to the kernel twins and the route mirror (`[linux_cp]`).
    pub linux_cp: crate::linuxcp::config::LinuxCpConfig,
    /// Further port addresses (`[[address]]`), beyond each port's `address`.
    pub addresses: Vec<AddressConfig>,
    pub routes: Vec<RouteConfig>,
    pub neighbors: Vec<NeighborConfig>,
    /// Egress qdiscs, at most one per port.
    pub qdiscs: Vec<QdiscConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlConfig {
    pub socket: PathBuf,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: PathBuf::from("/run/ferroute/ferroute.sock"),
        }
    }
}

/// `[log]`: what the router writes to stderr (the journal under systemd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Records above this level are not written; `--log-level` overrides it.
    pub level: log::LevelFilter,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: log::LevelFilter::Info,
        }
    }
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Where `/metrics` is served; `None` (`listen = ""`) disables the endpoint.
    pub listen: Option<SocketAddr>,
}

/// Default `[metrics] listen`: loopback only, the port is ferroute's own choice.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9417";

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: DEFAULT_METRICS_LISTEN.parse().ok(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatapathConfig {
    /// Packets per RX burst, 1..=32.
    pub burst: usize,
    /// TX buffers are flushed at least this often, 1..=10000.
    pub tx_drain_us: u64,
    /// Sleep after 100 empty polls in a row; 0 = pure polling. 0..=1000.
    pub idle_sleep_us: u64,
    /// Mbufs in the packet pool, >= 1024.
    pub mbufs: u32,
    /// Per-lcore mempool cache, <= 512 and <= mbufs / 1.5.
    pub mbuf_cache: u32,
    /// RX descriptor ring size, a power of two in 64..=4096.
    pub rx_desc: u16,
    /// TX descriptor ring size, a power of two in 64..=4096.
    pub tx_desc: u16,
}

impl Default for DatapathConfig {
    fn default() -> Self {
        DatapathConfig {
            burst: 32,
            tx_drain_us: 100,
            idle_sleep_us: 0,
            mbufs: 8191,
            mbuf_cache: 256,
            rx_desc: 1024,
            tx_desc: 1024,
        }
    }
}

/// ICMP rate limits, as Linux's `net.ipv4.icmp_*` sysctls (per worker lcore here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpConfig {
    /// Global bucket (`icmp_msgs_per_sec`): ICMP messages per second of the types in
    /// `ratemask`; 0 = unlimited.
    pub msgs_per_sec: u32,
    /// Its depth (`icmp_msgs_burst`); >= 1 unless `msgs_per_sec` is 0.
    pub msgs_burst: u32,
    /// Per destination host (`icmp_ratelimit`): one message per this many ms, of the
    /// types in `ratemask`; 0 = no per-host limit.
    pub ratelimit_ms: u32,
    /// The ICMP types limited, one bit per type (`icmp_ratemask`; Linux's default 6168
    /// is destination unreachable, source quench, time exceeded, parameter problem).
    /// Fragmentation needed is never limited (Linux does not limit PMTU discovery).
    pub ratemask: u32,
    /// Messages a host may get in a row before `ratelimit_ms` applies (Linux's
    /// XRLIM_BURST_FACTOR, 6).
    pub burst: u32,
    /// Hosts tracked per worker; the least recently limited one is forgotten (counted)
    /// when a new one comes.
    pub peers: u32,
}

impl IcmpConfig {
    /// The datapath's form of these settings.
    pub fn limits(&self) -> IcmpLimits {
        IcmpLimits {
            msgs_per_sec: self.msgs_per_sec,
            msgs_burst: self.msgs_burst,
            ratelimit_ms: self.ratelimit_ms,
            ratemask: self.ratemask,
            burst: self.burst,
            peers: self.peers,
        }
    }
}

impl Default for IcmpConfig {
    fn default() -> Self {
        IcmpConfig {
            msgs_per_sec: 1000,
            msgs_burst: 50,
            ratelimit_ms: 1000,
            ratemask: 6168,
            burst: 6,
            peers: 4096,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpConfig {
    pub reachable_ms: u64,
    /// >= 10.
    pub retrans_ms: u64,
    /// >= 1.
    pub mcast_probes: u32,
    pub ucast_probes: u32,
    pub delay_probe_ms: u64,
    /// Packets held per unresolved neighbour, 1..=10000.
    pub hold_queue: usize,
}

impl Default for ArpConfig {
    fn default() -> Self {
        ArpConfig {
            reachable_ms: 30000,
            retrans_ms: 1000,
            mcast_probes: 3,
            ucast_probes: 3,
            delay_probe_ms: 5000,
            hold_queue: 101,
        }
    }
}

/// Reassembly of fragments addressed to the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// A datagram not complete this long after its first-arriving fragment is dropped,
    /// 100..=600000 (Linux `ipfrag_time`: 30 s).
    pub timeout_ms: u64,
    /// Memory for datagrams in progress, data plus bookkeeping, 131072..=1073741824
    /// (Linux `ipfrag_high_thresh`: 4 MiB). At least 128 KiB: a 64 KiB datagram fits.
    pub max_bytes: usize,
    /// Datagrams in progress, 1..=1000000.
    pub max_datagrams: usize,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            timeout_ms: 30_000,
            max_bytes: 4 << 20,
            max_datagrams: 1024,
        }
    }
}

/// `[ip]`: IPv4 input policy, as Linux's `net.ipv4.conf.*` switches of the same names
/// (global here: the same for every port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IpConfig {
    /// Accept packets with LSRR/SSRR options (Linux `accept_source_route`); default
    /// false: dropped, counted as `ip4_source_route`.
    pub accept_source_route: bool,
    /// Reverse-path filter, 0 (off, the default), 1 (strict) or 2 (loose), as Linux's
    /// `rp_filter` (RFC 3704).
    pub rp_filter: u8,
    /// Forward directed broadcasts to connected subnets (Linux `bc_forwarding`);
    /// default false (RFC 2644).
    pub bc_forwarding: bool,
}

impl IpConfig {
    /// The datapath's view of these switches.
    pub fn policy(&self) -> crate::datapath::ip4_source::IpPolicy {
        use crate::datapath::ip4_source::{IpPolicy, RpFilter};
        IpPolicy {
            accept_source_route: self.accept_source_route,
            rp_filter: match self.rp_filter {
                1 => RpFilter::Strict,
                2 => RpFilter::Loose,
                _ => RpFilter::Off,
            },
            bc_forwarding: self.bc_forwarding,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Unique, non-empty, no ':' or whitespace.
    pub name: String,
    /// DPDK `--vdev` argument, e.g. `net_tap0,iface=ftap0`.
    pub devargs: String,
    /// The router's address with the connected subnet's prefix length (host bits kept:
    /// `10.0.1.1/24`).
    pub address: Ipv4Net,
    /// IP MTU, 68..=9600.
    pub mtu: u16,
    /// Unicast MAC to set; `None` keeps the PMD's address.
    pub mac: Option<MacAddr>,
    /// Administratively up (default); `false` starts it as `ferroute link set PORT down`.
    pub up: bool,
    /// `pci = "0000:03:00.0"`: a physical NIC (bound to vfio-pci/uio) instead of a vdev;
    /// `devargs` then holds the same address (the DPDK port's name).
    pub pci: Option<String>,
}

impl PortConfig {
    /// The device name: `devargs` up to the first ',' (`"net_tap0"`).
    pub fn dev_name(&self) -> &str {
        dev_name(&self.devargs)
    }
}

fn dev_name(devargs: &str) -> &str {
    match devargs.find(',') {
        Some(i) => &devargs[..i],
        None => devargs,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    pub lcore: u32,
    /// At least one; each (port, queue) is polled by exactly one worker.
    pub rx: Vec<RxQueueRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RxQueueRef {
    /// Index into [`Config::ports`].
    pub port: usize,
    pub queue: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RouteType {
    /// Forward via `via` and/or out of `port`.
    #[default]
    Unicast,
    /// Drop silently.
    Blackhole,
    /// Drop with ICMP destination unreachable (host unreachable).
    Unreachable,
    /// Drop with ICMP destination unreachable (administratively prohibited).
    Prohibit,
}

impl RouteType {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteType::Unicast => "unicast",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
        }
    }
}

impl fmt::Display for RouteType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// Network address (host bits zero).
    pub prefix: Ipv4Net,
    /// Next hop; on the connected subnet of `port` if given, else of some port.
    pub via: Option<Ipv4Addr>,
    /// Egress port (index into [`Config::ports`]) if given in the file.
    pub port: Option<usize>,
    pub route_type: RouteType,
    pub metric: u32,
    /// The paths of a multipath route (`nexthops`); empty for a single path.
    pub nexthops: Vec<NexthopConfig>,
}

/// A further address of a port (`[[address]]`), with its connected subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressConfig {
    /// Index into [`Config::ports`].
    pub port: usize,
    /// Host bits kept (`10.0.3.1/24`).
    pub address: Ipv4Net,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborConfig {
    pub address: Ipv4Addr,
    pub mac: MacAddr,
    /// Index into [`Config::ports`]; the port whose connected subnet holds `address`.
    pub port: usize,
}

/// A `[[qdisc]]`: a tbf shaper on a port's egress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QdiscConfig {
    /// Index into [`Config::ports`].
    pub port: usize,
    pub tbf: TbfParams,
}

impl Config {
    /// Reads and validates `path`, or the embedded default when `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Config::parse(DEFAULT_CONFIG, DEFAULT_SOURCE);
        };
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &file)
    }

    /// Parses and validates `text`; `source` names it in errors and in [`Config::source`].
    pub fn parse(text: &str, source: &str) -> Result<Config, ConfigError> {
        let raw = parse_raw(text, source)?;
        Builder { file: source }.build(raw)
    }

    /// Number of RX queues to configure on port `port`: the highest queue index any
    /// worker polls + 1 (0 for an unknown port).
    pub fn rx_queues(&self, port: usize) -> u16 {
        self.workers
            .iter()
            .flat_map(|w| &w.rx)
            .filter(|r| r.port == port)
            .map(|r| r.queue + 1)
            .max()
            .unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------
// Step 1: TOML -> Raw* structs.

/// An integer as TOML gives it (`i64`), range-checked later with a precise message.
#[derive(Debug, Clone, Copy)]
struct Int(i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IntVisitor;
        impl Visitor<'_> for IntVisitor {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format!("integer {v} is too large")))
            }
        }
        d.deserialize_i64(IntVisitor)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    eal: Option<RawEal>,
    control: Option<RawControl>,
    metrics: Option<RawMetrics>,
    log: Option<RawLog>,
    datapath: Option<RawDatapath>,
    icmp: Option<RawIcmp>,
    punt: Option<RawPunt>,
    arp: Option<RawArp>,
    reassembly: Option<RawReassembly>,
    ip: Option<RawIp>,
    linux_cp: Option<linux_cp::RawLinuxCp>,
    #[serde(default)]
    port: Vec<RawPort>,
    #[serde(default)]
    worker: Vec<RawWorker>,
    #[serde(default)]
    address: Vec<RawAddress>,
    #[serde(default)]
    route: Vec<RawRoute>,
    #[serde(default)]
    neighbor: Vec<RawNeighbor>,
    #[serde(default)]
    qdisc: Vec<RawQdisc>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEal {
    args: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    socket: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatapath {
    burst: Option<Int>,
    tx_drain_us: Option<Int>,
    idle_sleep_us: Option<Int>,
    mbufs: Option<Int>,
    mbuf_cache: Option<Int>,
    rx_desc: Option<Int>,
    tx_desc: Option<Int>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIcmp {
    msgs_per_sec: Option<Int>,
    msgs_burst: Option<Int>,
    ratelimit_ms: Option<Int>,
    ratemask: Option<Int>,
    burst: Option<Int>,
    peers: Option<Int>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPunt {
    arp_known_pps: Option<Int>,
    arp_known_burst: Option<Int>,
    arp_pps: Option<Int>,
    arp_burst: Option<Int>,
    resolve_pps: Option<Int>,
    resolve_burst: Option<Int>,
    frag_pps: Option<Int>,
    frag_burst: Option<Int>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArp {
    reachable_ms: Option<Int>,
    retrans_ms: Option<Int>,
    mcast_probes: Option<Int>,
    ucast_probes: Option<Int>,
    delay_probe_ms: Option<Int>,
    hold_queue: Option<Int>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReassembly {
    timeout_ms: Option<Int>,
    max_bytes: Option<Int>,
    max_datagrams: Option<Int>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIp {
    accept_source_route: Option<bool>,
    rp_filter: Option<Int>,
    bc_forwarding: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: Option<String>,
    devargs: Option<String>,
    address: Option<String>,
    mtu: Option<Int>,
    mac: Option<String>,
    up: Option<bool>,
    pci: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAddress {
    port: Option<String>,
    address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorker {
    lcore: Option<Int>,
    rx: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: Option<String>,
    via: Option<String>,
    port: Option<String>,
    #[serde(rename = "type")]
    route_type: Option<String>,
    metric: Option<Int>,
    nexthops: Option<Vec<nexthops::RawNexthop>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbor {
    address: Option<String>,
    mac: Option<String>,
    port: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQdisc {
    port: Option<String>,
    kind: Option<String>,
    rate: Option<UnitText>,
    burst: Option<UnitText>,
    limit: Option<UnitText>,
    latency: Option<UnitText>,
    // tc's peak-rate bucket: known, so that the error can say it is not supported.
    peakrate: Option<UnitText>,
    mtu: Option<UnitText>,
}

/// A value with a tc unit (`"20mbit"`), or a bare number in tc's default unit.
#[derive(Debug, Clone)]
struct UnitText(String);

impl<'de> Deserialize<'de> for UnitText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct UnitVisitor;
        impl Visitor<'_> for UnitVisitor {
            type Value = UnitText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a string with a tc unit (e.g. \"20mbit\", \"32kb\", \"50ms\") or a number",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UnitText, E> {
                Ok(UnitText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<UnitText, E> {
                Ok(UnitText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<UnitText, E> {
                Ok(UnitText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<UnitText, E> {
                Ok(UnitText(v.to_string()))
            }
        }
        d.deserialize_any(UnitVisitor)
    }
}

fn parse_raw(text: &str, file: &str) -> Result<RawConfig, ConfigError> {
    let err = match toml::from_str::<RawConfig>(text) {
        Ok(raw) => return Ok(raw),
        Err(e) => e,
    };
    let message = err.message().trim().replace('\n', "; ");
    let at = err.span().map(|s| s.start.min(text.len()));
    let position = at.map(|at| {
        let (line, column) = line_column(text, at);
        format!("line {line}, column {column}")
    });
    // Any valid TOML deserializes into a `Table`: if that fails too, it is a syntax error.
    if toml::from_str::<toml::Table>(text).is_err() {
        return Err(ConfigError {
            file: file.to_string(),
            key: position.unwrap_or_default(),
            message,
        });
    }
    // A schema error (unknown key, wrong type): name the key at the error's position.
    let path = at.and_then(|at| key_path(text, at));
    let (key, message) = match (path, position) {
        (Some(path), Some(position)) => (path, format!("{message} ({position})")),
        (None, Some(position)) => (position, message),
        (_, None) => (String::new(), message),
    };
    Err(ConfigError {
        file: file.to_string(),
        key,
        message,
    })
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The shape of a TOML document with the span of every key and value, used to turn an
/// error's byte offset into a key path.
#[derive(Debug)]
enum Node {
    Table(Vec<(toml::Spanned<String>, toml::Spanned<Node>)>),
    Array(Vec<toml::Spanned<Node>>),
    Leaf,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any TOML value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Node::Table(entries))
            }
        }
        d.deserialize_any(NodeVisitor)
    }
}

/// The path (`port[1].mtu`) of the innermost key or value at byte offset `at`, if the
/// document can be mapped (it cannot when it holds datetimes, which no key accepts).
fn key_path(text: &str, at: usize) -> Option<String> {
    let root = toml::from_str::<toml::Spanned<Node>>(text).ok()?;
    let mut path = String::new();
    let mut node = root.get_ref();
    let inside = |span: std::ops::Range<usize>| span.start <= at && at < span.end;
    'descend: loop {
        match node {
            Node::Table(entries) => {
                for (k, v) in entries {
                    let on_key = inside(k.span());
                    if on_key || inside(v.span()) {
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(&quote_key(k.get_ref()));
                        if on_key {
                            break 'descend;
                        }
                        node = v.get_ref();
                        continue 'descend;
                    }
                }
                break;
            }
            Node::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if inside(item.span()) {
                        path.push_str(&format!("[{i}]"));
                        node = item.get_ref();
                        continue 'descend;
                    }
                }
                break;
            }
            Node::Leaf => break,
        }
    }
    (!path.is_empty()).then_some(path)
}

fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

// ---------------------------------------------------------------------------------------
// Step 2: Raw* -> Config, checking every value.

/// The lcores the EAL arguments give, when they can be told from `-l` or `--lcores`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EalCores {
    /// The option that gave them, as written (`-l 0,1`, `--lcores 0@0,1@1,2@1`).
    option_text: String,
    cores: BTreeSet<u32>,
    /// `--main-lcore`, else the lowest lcore of the list (as DPDK picks it).
    main: u32,
}

/// Lcore ids of an EAL `-l` list: `N` or `N-M` items, comma separated.
fn parse_core_list(list: &str) -> Option<BTreeSet<u32>> {
    let mut cores = BTreeSet::new();
    for item in list.split(',') {
        let item = item.trim();
        let (lo, hi) = match item.split_once('-') {
            Some((lo, hi)) => (
                lo.trim().parse::<u32>().ok()?,
                hi.trim().parse::<u32>().ok()?,
            ),
            None => {
                let n = item.parse::<u32>().ok()?;
                (n, n)
            }
        };
        if lo > hi || hi - lo > 1024 {
            return None;
        }
        cores.extend(lo..=hi);
    }
    Some(cores)
}

/// Lcore ids of an EAL `--lcores` map (eal_parse_lcores): elements `LCORES[@CPUS]`,
/// comma separated, where LCORES and CPUS are each `N`, `N-M` or a group `(a,b-c,..)`.
/// The CPUs (where the lcores' threads run) do not matter here.
fn parse_lcore_map(map: &str) -> Option<BTreeSet<u32>> {
    // A set at the start of `s`: a group in parentheses, else up to '@' or ','.
    fn set(s: &str) -> Option<(&str, &str)> {
        let s = s.trim_start();
        if let Some(group) = s.strip_prefix('(') {
            let end = group.find(')')?;
            Some((&group[..end], &group[end + 1..]))
        } else {
            let end = s.find(['@', ',']).unwrap_or(s.len());
            Some((&s[..end], &s[end..]))
        }
    }
    let mut cores = BTreeSet::new();
    let mut rest = map;
    loop {
        let (lcores, mut after) = set(rest)?;
        cores.extend(parse_core_list(lcores)?);
        after = after.trim_start();
        if let Some(cpus) = after.strip_prefix('@') {
            let (cpus, tail) = set(cpus)?;
            parse_core_list(cpus)?;
            after = tail.trim_start();
        }
        if after.is_empty() {
            return Some(cores);
        }
        rest = after.strip_prefix(',')?;
    }
}

/// Parses `-l LIST` / `-lLIST` (items `N` or `N-M`, comma separated), `--lcores MAP`
/// / `--lcores=MAP` (see [`parse_lcore_map`]) and `--main-lcore N`. Anything else that
/// selects cores (`-c`, `--coremask`, both `-l` and `--lcores`, odd syntax) makes the
/// cores unknown, and the lcore checks are skipped (the EAL judges them).
fn eal_cores(args: &[String]) -> Option<EalCores> {
    let mut option = None;
    let mut main = None;
    let mut it = args.iter();
    let mut set_option = |opt: (&'static str, String)| match option {
        Some(_) => None,
        None => {
            option = Some(opt);
            Some(())
        }
    };
    while let Some(arg) = it.next() {
        let arg = arg.as_str();
        if arg == "-l" {
            set_option(("-l", it.next()?.clone()))?;
        } else if let Some(rest) = arg.strip_prefix("-l") {
            if rest.starts_with(|c: char| c.is_ascii_digit()) {
                set_option(("-l", rest.to_string()))?;
            } else {
                return None;
            }
        } else if arg == "--lcores" {
            set_option(("--lcores", it.next()?.clone()))?;
        } else if let Some(rest) = arg.strip_prefix("--lcores=") {
            set_option(("--lcores", rest.to_string()))?;
        } else if arg == "--main-lcore" || arg == "--master-lcore" {
            main = Some(it.next()?.trim().parse::<u32>().ok()?);
        } else if let Some(v) = arg
            .strip_prefix("--main-lcore=")
            .or_else(|| arg.strip_prefix("--master-lcore="))
        {
            main = Some(v.trim().parse::<u32>().ok()?);
        } else if arg == "-c" || arg.starts_with("--lcores") || arg.starts_with("--coremask") {
            return None;
        }
    }
    let (name, value) = option?;
    let cores = if name == "-l" {
        parse_core_list(&value)?
    } else {
        parse_lcore_map(&value)?
    };
    let main = match main {
        Some(m) => m,
        None => *cores.first()?,
    };
    Some(EalCores {
        option_text: format!("{name} {value}"),
        cores,
        main,
    })
}

/// Parses `a.b.c.d/len` with `len` in `min_len..=32`.
fn parse_net(s: &str, min_len: u8) -> Result<Ipv4Net, String> {
    let Some((addr, len)) = s.trim().split_once('/') else {
        return Err(format!(
            "{s:?} is not of the form a.b.c.d/prefix-length (e.g. \"10.0.1.1/24\")"
        ));
    };
    let addr: Ipv4Addr = addr
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: {addr:?} is not an IPv4 address"))?;
    let len: u8 = len
        .trim()
        .parse()
        .ok()
        .filter(|l| (min_len..=32).contains(l))
        .ok_or_else(|| format!("{s:?}: prefix length must be {min_len}..=32"))?;
    Ipv4Net::new(addr, len).map_err(|e| format!("{s:?}: {e}"))
}

fn parse_addr(s: &str) -> Result<Ipv4Addr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IPv4 address (a.b.c.d)"))
}

/// A unicast, non-zero MAC address.
fn parse_unicast_mac(s: &str) -> Result<MacAddr, String> {
    let mac: MacAddr = s.trim().parse().map_err(|e| format!("{e}"))?;
    if mac.is_zero() {
        Err(format!("{mac} is the all-zero address"))
    } else if mac.is_multicast() {
        Err(format!(
            "{mac} is a multicast address (least significant bit of the first octet set)"
        ))
    } else {
        Ok(mac)
    }
}

/// Why `addr` cannot be a host on `net` (the network or broadcast address of a subnet of
/// 4 or more addresses), if so.
fn reserved_host(addr: Ipv4Addr, net: &Ipv4Net) -> Option<&'static str> {
    if net.prefix_len() > 30 {
        None
    } else if addr == net.network() {
        Some("network")
    } else if addr == net.broadcast() {
        Some("broadcast")
    } else {
        None
    }
}

#[path = "linuxcp/config_parse.rs"]
mod linux_cp;

struct Builder<'a> {
    file: &'a str,
}

impl Builder<'_> {
    fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            key: key.into(),
            message: message.into(),
        }
    }

    fn required<T>(&self, key: &str, v: Option<T>) -> Result<T, ConfigError> {
        v.ok_or_else(|| self.err(key, "required key is missing"))
    }

    /// An integer key: `default` if absent, else within `lo..=hi` and converted to `T`.
    fn int<T: TryFrom<i64>>(
        &self,
        key: &str,
        v: Option<Int>,
        default: T,
        lo: i64,
        hi: i64,
    ) -> Result<T, ConfigError> {
        let Some(Int(v)) = v else {
            return Ok(default);
        };
        if v < lo || v > hi {
            // Bounds that only mirror the Rust type are not worth printing in full.
            let msg = if hi < i64::from(u32::MAX) {
                format!("{v} is out of range; must be {lo}..={hi}")
            } else if v < lo {
                format!("{v} is out of range; must be at least {lo}")
            } else {
                format!("{v} is out of range; must be at most {hi}")
            };
            return Err(self.err(key, msg));
        }
        T::try_from(v).map_err(|_| self.err(key, format!("{v} is out of range")))
    }

    fn build(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let eal_args = match raw.eal.and_then(|e| e.args) {
            Some(args) => args,
            None => DEFAULT_EAL_ARGS.iter().map(|s| s.to_string()).collect(),
        };
        for (i, a) in eal_args.iter().enumerate() {
            if a.is_empty() {
                return Err(self.err(format!("eal.args[{i}]"), "must not be empty"));
            }
        }
        let control = self.control(raw.control.unwrap_or_default())?;
        let metrics = self.metrics(raw.metrics.unwrap_or_default())?;
        let log = self.log(raw.log.unwrap_or_default())?;
        let datapath = self.datapath(raw.datapath.unwrap_or_default())?;
        let icmp = self.icmp(raw.icmp.unwrap_or_default())?;
        let punt = self.punt(raw.punt.unwrap_or_default())?;
        let arp = self.arp(raw.arp.unwrap_or_default())?;
        let reassembly = self.reassembly(raw.reassembly.unwrap_or_default())?;
        let ip = self.ip(raw.ip.unwrap_or_default())?;
        let linux_cp = self.linux_cp(raw.linux_cp.unwrap_or_default())?;
        let ports = self.ports(raw.port)?;
        let workers = self.workers(raw.worker, &ports, eal_cores(&eal_args).as_ref())?;
        self.check_rx_rings(&datapath, &workers)?;
        let addresses = self.addresses(raw.address, &ports)?;
        let routes = self.routes(raw.route, &ports, &addresses)?;
        let neighbors = self.neighbors(raw.neighbor, &ports, &addresses)?;
        let qdiscs = self.qdiscs(raw.qdisc, &ports)?;
        Ok(Config {
            source: self.file.to_string(),
            eal_args,
            control,
            metrics,
            log,
            datapath,
            icmp,
            punt,
            arp,
            reassembly,
            ip,
            linux_cp,
            ports,
            workers,
            addresses,
            routes,
            neighbors,
            qdiscs,
        })
    }

    fn control(&self, raw: RawControl) -> Result<ControlConfig, ConfigError> {
        let Some(socket) = raw.socket else {
            return Ok(ControlConfig::default());
        };
        if socket.is_empty() {
            return Err(self.err("control.socket", "must not be empty"));
        }
        if socket.len() > MAX_SOCKET_PATH {
            return Err(self.err(
                "control.socket",
                format!(
                    "path is {} bytes; Unix socket paths are limited to {MAX_SOCKET_PATH}",
                    socket.len()
                ),
            ));
        }
        Ok(ControlConfig {
            socket: PathBuf::from(socket),
        })
    }

    fn log(&self, raw: RawLog) -> Result<LogConfig, ConfigError> {
        let Some(level) = raw.level else {
            return Ok(LogConfig::default());
        };
        let level = crate::logging::parse_level(&level).map_err(|e| self.err("log.level", e))?;
        Ok(LogConfig { level })
    }

    fn metrics(&self, raw: RawMetrics) -> Result<MetricsConfig, ConfigError> {
        let Some(listen) = raw.listen else {
            return Ok(MetricsConfig::default());
        };
        let text = listen.trim();
        if text.is_empty() {
            return Ok(MetricsConfig { listen: None });
        }
        let addr: SocketAddr = text.parse().map_err(|_| {
            self.err(
                "metrics.listen",
                format!(
                    "{listen:?} is not a socket address (e.g. \"{DEFAULT_METRICS_LISTEN}\", \
                     \"[::1]:9417\"; \"\" disables the endpoint)"
                ),
            )
        })?;
        if addr.port() == 0 {
            return Err(self.err(
                "metrics.listen",
                format!("{listen:?}: port 0 would pick a random port Prometheus cannot know"),
            ));
        }
        Ok(MetricsConfig { listen: Some(addr) })
    }

    fn datapath(&self, raw: RawDatapath) -> Result<DatapathConfig, ConfigError> {
        let d = DatapathConfig::default();
        let mbufs = self.int("datapath.mbufs", raw.mbufs, d.mbufs, 1024, u32::MAX.into())?;
        let mbuf_cache = self.int("datapath.mbuf_cache", raw.mbuf_cache, d.mbuf_cache, 0, 512)?;
        // DPDK refuses a cache whose flush threshold (cache * 3 / 2) exceeds the pool.
        if u64::from(mbuf_cache) * 3 / 2 > u64::from(mbufs) {
            return Err(self.err(
                "datapath.mbuf_cache",
                format!("{mbuf_cache} is too large for {mbufs} mbufs; must be <= mbufs / 1.5"),
            ));
        }
        let desc = |key: &str, v: Option<Int>, default: u16| -> Result<u16, ConfigError> {
            let n: u16 = self.int(key, v, default, 64, 4096)?;
            if n.is_power_of_two() {
                Ok(n)
            } else {
                Err(self.err(key, format!("{n} is not a power of two (64..=4096)")))
            }
        };
        Ok(DatapathConfig {
            burst: self.int("datapath.burst", raw.burst, d.burst, 1, 32)?,
            tx_drain_us: self.int(
                "datapath.tx_drain_us",
                raw.tx_drain_us,
                d.tx_drain_us,
                1,
                10000,
            )?,
            idle_sleep_us: self.int(
                "datapath.idle_sleep_us",
                raw.idle_sleep_us,
                d.idle_sleep_us,
                0,
                1000,
            )?,
            mbufs,
            mbuf_cache,
            rx_desc: desc("datapath.rx_desc", raw.rx_desc, d.rx_desc)?,
            tx_desc: desc("datapath.tx_desc", raw.tx_desc, d.tx_desc)?,
        })
    }

    /// A rate and its burst: the burst must be at least 1 unless the rate is 0
    /// (unlimited).
    fn rate_burst(
        &self,
        (rate_key, rate, rate_default): (&str, Option<Int>, u32),
        (burst_key, burst, burst_default): (&str, Option<Int>, u32),
    ) -> Result<(u32, u32), ConfigError> {
        let max = u32::MAX.into();
        let rate = self.int(rate_key, rate, rate_default, 0, max)?;
        let burst = self.int(burst_key, burst, burst_default, 0, max)?;
        if rate > 0 && burst == 0 {
            return Err(self.err(
                burst_key,
                format!("must be at least 1 when {rate_key} is not 0 (unlimited)"),
            ));
        }
        Ok((rate, burst))
    }

    fn icmp(&self, raw: RawIcmp) -> Result<IcmpConfig, ConfigError> {
        let d = IcmpConfig::default();
        let (msgs_per_sec, msgs_burst) = self.rate_burst(
            ("icmp.msgs_per_sec", raw.msgs_per_sec, d.msgs_per_sec),
            ("icmp.msgs_burst", raw.msgs_burst, d.msgs_burst),
        )?;
        Ok(IcmpConfig {
            msgs_per_sec,
            msgs_burst,
            // Linux caps icmp_ratelimit at INT_MAX jiffies; an hour is plenty.
            ratelimit_ms: self.int(
                "icmp.ratelimit_ms",
                raw.ratelimit_ms,
                d.ratelimit_ms,
                0,
                3_600_000,
            )?,
            ratemask: self.int(
                "icmp.ratemask",
                raw.ratemask,
                d.ratemask,
                0,
                u32::MAX.into(),
            )?,
            burst: self.int("icmp.burst", raw.burst, d.burst, 1, 10_000)?,
            peers: self.int("icmp.peers", raw.peers, d.peers, 1, 1 << 20)?,
        })
    }

    fn punt(&self, raw: RawPunt) -> Result<PuntLimits, ConfigError> {
        let d = PuntLimits::default();
        let limit =
            |kind: &str, pps, burst, def: punt::Limit| -> Result<punt::Limit, ConfigError> {
                let (pps, burst) = self.rate_burst(
                    (&format!("punt.{kind}_pps"), pps, def.pps),
                    (&format!("punt.{kind}_burst"), burst, def.burst),
                )?;
                Ok(punt::Limit { pps, burst })
            };
        Ok(PuntLimits {
            arp_known: limit(
                "arp_known",
                raw.arp_known_pps,
                raw.arp_known_burst,
                d.arp_known,
            )?,
            arp: limit("arp", raw.arp_pps, raw.arp_burst, d.arp)?,
            resolve: limit("resolve", raw.resolve_pps, raw.resolve_burst, d.resolve)?,
            frag: limit("frag", raw.frag_pps, raw.frag_burst, d.frag)?,
        })
    }

    fn arp(&self, raw: RawArp) -> Result<ArpConfig, ConfigError> {
        let d = ArpConfig::default();
        let (u32_max, i64_max) = (u32::MAX.into(), i64::MAX);
        Ok(ArpConfig {
            reachable_ms: self.int(
                "arp.reachable_ms",
                raw.reachable_ms,
                d.reachable_ms,
                0,
                i64_max,
            )?,
            retrans_ms: self.int("arp.retrans_ms", raw.retrans_ms, d.retrans_ms, 10, i64_max)?,
            mcast_probes: self.int(
                "arp.mcast_probes",
                raw.mcast_probes,
                d.mcast_probes,
                1,
                u32_max,
            )?,
            ucast_probes: self.int(
                "arp.ucast_probes",
                raw.ucast_probes,
                d.ucast_probes,
                0,
                u32_max,
            )?,
            delay_probe_ms: self.int(
                "arp.delay_probe_ms",
                raw.delay_probe_ms,
                d.delay_probe_ms,
                0,
                i64_max,
            )?,
            hold_queue: self.int("arp.hold_queue", raw.hold_queue, d.hold_queue, 1, 10000)?,
        })
    }

    fn reassembly(&self, raw: RawReassembly) -> Result<ReassemblyConfig, ConfigError> {
        let d = ReassemblyConfig::default();
        Ok(ReassemblyConfig {
            timeout_ms: self.int(
                "reassembly.timeout_ms",
                raw.timeout_ms,
                d.timeout_ms,
                100,
                600_000,
            )?,
            max_bytes: self.int(
                "reassembly.max_bytes",
                raw.max_bytes,
                d.max_bytes,
                128 << 10,
                1 << 30,
            )?,
            max_datagrams: self.int(
                "reassembly.max_datagrams",
                raw.max_datagrams,
                d.max_datagrams,
                1,
                1_000_000,
            )?,
        })
    }

    fn ip(&self, raw: RawIp) -> Result<IpConfig, ConfigError> {
        let d = IpConfig::default();
        Ok(IpConfig {
            accept_source_route: raw.accept_source_route.unwrap_or(d.accept_source_route),
            rp_filter: self.int("ip.rp_filter", raw.rp_filter, d.rp_filter, 0, 2)?,
            bc_forwarding: raw.bc_forwarding.unwrap_or(d.bc_forwarding),
        })
    }

    fn ports(&self, raw: Vec<RawPort>) -> Result<Vec<PortConfig>, ConfigError> {
        if raw.is_empty() {
            return Err(self.err("port", "at least one [[port]] is required"));
        }
        let mut ports: Vec<PortConfig> = Vec::with_capacity(raw.len());
        for (i, p) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("port[{i}].{field}");

            let name = self.required(&key("name"), p.name)?;
            if name.is_empty() {
                return Err(self.err(key("name"), "must not be empty"));
            }
            if name.contains(|c: char| c == ':' || c.is_whitespace() || c.is_control()) {
                return Err(self.err(
                    key("name"),
                    format!("{name:?} must not contain ':', whitespace or control characters"),
                ));
            }
            if ports.iter().any(|q| q.name == name) {
                return Err(self.err(key("name"), format!("duplicate port name {name:?}")));
            }

            let devargs = match (&p.pci, p.devargs) {
                (Some(_), Some(_)) => {
                    return Err(self.err(key("pci"), "set either pci or devargs, not both"))
                }
                (Some(a), None) => crate::dpdk::check_pci_address(a)
                    .map_err(|m| self.err(key("pci"), m))?
                    .to_string(),
                (None, d) => self.required(&key("devargs"), d)?,
            };
            let dev = dev_name(&devargs).trim();
            if dev.is_empty() {
                return Err(self.err(
                    key("devargs"),
                    format!("{devargs:?} has no device name (e.g. \"net_tap0,iface=ftap0\")"),
                ));
            }
            if let Some((j, _)) = ports.iter().enumerate().find(|(_, q)| q.dev_name() == dev) {
                return Err(self.err(
                    key("devargs"),
                    format!("duplicate device name {dev:?} (also used by port[{j}])"),
                ));
            }

            let address_text = self.required(&key("address"), p.address)?;
            let address = parse_net(&address_text, 1).map_err(|m| self.err(key("address"), m))?;
            if let Some(what) = reserved_host(address.addr(), &address) {
                return Err(self.err(
                    key("address"),
                    format!("{address} is the {what} address of its subnet"),
                ));
            }
            let subnet = address.trunc();
            for (j, q) in ports.iter().enumerate() {
                let other = q.address.trunc();
                if subnet.contains(&other.network()) || other.contains(&subnet.network()) {
                    return Err(self.err(
                        key("address"),
                        format!(
                            "subnet {subnet} overlaps {other} of port[{j}] ({:?})",
                            q.name
                        ),
                    ));
                }
            }

            let mtu = self.int(&key("mtu"), p.mtu, 1500, 68, 9600)?;
            let mac = match p.mac {
                Some(m) => Some(parse_unicast_mac(&m).map_err(|e| self.err(key("mac"), e))?),
                None => None,
            };
            ports.push(PortConfig {
                name,
                devargs,
                address,
                mtu,
                mac,
                up: p.up.unwrap_or(true),
                pci: p.pci,
            });
        }
        Ok(ports)
    }

    fn port_index(
        &self,
        key: &str,
        ports: &[PortConfig],
        name: &str,
    ) -> Result<usize, ConfigError> {
        ports
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| self.err(key, format!("unknown port {name:?}")))
    }

    fn workers(
        &self,
        raw: Vec<RawWorker>,
        ports: &[PortConfig],
        cores: Option<&EalCores>,
    ) -> Result<Vec<WorkerConfig>, ConfigError> {
        if raw.is_empty() {
            return Err(self.err("worker", "at least one [[worker]] is required"));
        }
        let mut workers: Vec<WorkerConfig> = Vec::with_capacity(raw.len());
        // (port, queue) -> polling worker
        let mut polled: BTreeMap<RxQueueRef, usize> = BTreeMap::new();
        for (i, w) in raw.into_iter().enumerate() {
            let lcore_key = format!("worker[{i}].lcore");
            let lcore: u32 = self.int(
                &lcore_key,
                Some(self.required(&lcore_key, w.lcore)?),
                0,
                0,
                u32::MAX.into(),
            )?;
            if let Some(j) = workers.iter().position(|w| w.lcore == lcore) {
                return Err(self.err(
                    lcore_key,
                    format!("lcore {lcore} is already used by worker[{j}]"),
                ));
            }
            if let Some(c) = cores {
                if lcore == c.main {
                    return Err(self.err(
                        lcore_key,
                        format!(
                            "lcore {lcore} is the EAL main lcore (eal.args \"{}\"); \
                             workers must run on the other lcores",
                            c.option_text
                        ),
                    ));
                }
                if !c.cores.contains(&lcore) {
                    return Err(self.err(
                        lcore_key,
                        format!(
                            "lcore {lcore} is not in the EAL core list (eal.args \"{}\")",
                            c.option_text
                        ),
                    ));
                }
            }

            let rx_key = format!("worker[{i}].rx");
            let rx_text = self.required(&rx_key, w.rx)?;
            if rx_text.is_empty() {
                return Err(self.err(rx_key, "must list at least one \"port:queue\""));
            }
            let mut rx = Vec::with_capacity(rx_text.len());
            for (k, entry) in rx_text.iter().enumerate() {
                let key = format!("{rx_key}[{k}]");
                let Some((name, queue)) = entry.rsplit_once(':') else {
                    return Err(self.err(
                        key,
                        format!("{entry:?} is not of the form port-name:queue (e.g. \"port0:0\")"),
                    ));
                };
                let port = self.port_index(&key, ports, name.trim())?;
                let queue: u16 = queue
                    .trim()
                    .parse()
                    .ok()
                    .filter(|q| *q < MAX_RX_QUEUES)
                    .ok_or_else(|| {
                        self.err(
                            &key,
                            format!(
                                "{entry:?}: queue {queue:?} must be a number 0..={}",
                                MAX_RX_QUEUES - 1
                            ),
                        )
                    })?;
                let r = RxQueueRef { port, queue };
                if let Some(&j) = polled.get(&r) {
                    let by = if j == i {
                        "this worker".to_string()
                    } else {
                        format!("worker[{j}]")
                    };
                    return Err(self.err(
                        key,
                        format!("{}:{queue} is already polled by {by}", ports[port].name),
                    ));
                }
                polled.insert(r, i);
                rx.push(r);
            }
            workers.push(WorkerConfig { lcore, rx });
        }

        for (p, port) in ports.iter().enumerate() {
            let queues: Vec<u16> = polled
                .keys()
                .filter(|r| r.port == p)
                .map(|r| r.queue)
                .collect();
            if queues.is_empty() {
                return Err(self.err(
                    format!("port[{p}]"),
                    "no worker polls this port's RX queues",
                ));
            }
            // `queues` is sorted (BTreeMap order); contiguous from 0 iff queues[n] == n.
            if let Some(missing) = (0u16..)
                .zip(&queues)
                .find(|(n, q)| *n != **q)
                .map(|(n, _)| n)
            {
                return Err(self.err(
                    format!("port[{p}]"),
                    format!(
                        "RX queue {missing} of {:?} is polled by no worker although queue {} is; \
                         a port's queues must be numbered contiguously from 0",
                        port.name,
                        queues[queues.len() - 1]
                    ),
                ));
            }
        }
        Ok(workers)
    }

    /// Every RX queue's ring is filled with mbufs when its port starts (net_tap: one per
    /// descriptor, up to 1023), so more workers mean more of the pool held by the rings.
    /// Refuses a pool the rings would take (nearly) whole: it must leave at least one
    /// burst per RX queue for packets on their way through.
    fn check_rx_rings(
        &self,
        d: &DatapathConfig,
        workers: &[WorkerConfig],
    ) -> Result<(), ConfigError> {
        let queues: u64 = workers.iter().map(|w| w.rx.len() as u64).sum();
        let rings = queues * u64::from(d.rx_desc);
        let need = rings + queues * d.burst as u64;
        if u64::from(d.mbufs) < need {
            return Err(self.err(
                "datapath.mbufs",
                format!(
                    "{} mbufs are too few for {queues} RX queues of {} descriptors \
                     (datapath.rx_desc), which take {rings} mbufs when the ports start, \
                     plus a burst of {} per queue: at least {need}; raise mbufs or \
                     lower rx_desc",
                    d.mbufs, d.rx_desc, d.burst
                ),
            ));
        }
        Ok(())
    }

    /// Checks that `via` can be a neighbour on `port` (or on some port when `None`),
    /// given every (port, address) pair; returns the port whose subnet holds it.
    fn check_on_link(
        &self,
        key: &str,
        via: Ipv4Addr,
        ports: &[PortConfig],
        addrs: &[(usize, Ipv4Net)],
        port: Option<usize>,
    ) -> Result<usize, ConfigError> {
        let Some(&(p, net)) = addrs
            .iter()
            .filter(|(q, _)| port.map_or(true, |p| p == *q))
            .filter(|(_, a)| a.contains(&via))
            .max_by_key(|(_, a)| a.prefix_len())
        else {
            return Err(self.err(
                key,
                match port {
                    Some(p) => format!(
                        "{via} is not on the connected network {} of port {:?}",
                        ports[p].address.trunc(),
                        ports[p].name
                    ),
                    None => format!("{via} is not on a connected network"),
                },
            ));
        };
        let port = &ports[p];
        if addrs.iter().any(|(q, a)| *q == p && a.addr() == via) {
            return Err(self.err(
                key,
                format!("{via} is this router's own address on port {:?}", port.name),
            ));
        }
        if let Some(what) = reserved_host(via, &net) {
            return Err(self.err(
                key,
                format!(
                    "{via} is the {what} address of the connected network {} of port {:?}",
                    net.trunc(),
                    port.name
                ),
            ));
        }
        Ok(p)
    }

    /// `[[address]]`: further addresses of ports.
    fn addresses(
        &self,
        raw: Vec<RawAddress>,
        ports: &[PortConfig],
    ) -> Result<Vec<AddressConfig>, ConfigError> {
        let mut out: Vec<AddressConfig> = Vec::with_capacity(raw.len());
        for (i, a) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("address[{i}].{field}");
            let name = self.required(&key("port"), a.port)?;
            let port = self.port_index(&key("port"), ports, name.trim())?;
            let text = self.required(&key("address"), a.address)?;
            let address = parse_net(&text, 1).map_err(|m| self.err(key("address"), m))?;
            if let Some(what) = reserved_host(address.addr(), &address) {
                return Err(self.err(
                    key("address"),
                    format!("{address} is the {what} address of its subnet"),
                ));
            }
            let all = ports
                .iter()
                .enumerate()
                .map(|(j, p)| (j, p.address))
                .chain(out.iter().map(|a| (a.port, a.address)));
            for (j, other) in all {
                if other.addr() == address.addr() {
                    return Err(self.err(
                        key("address"),
                        format!(
                            "{} is already an address of port {:?}",
                            address.addr(),
                            ports[j].name
                        ),
                    ));
                }
                let (a, b) = (address.trunc(), other.trunc());
                if j != port && (a.contains(&b.network()) || b.contains(&a.network())) {
                    return Err(self.err(
                        key("address"),
                        format!("subnet {a} overlaps {b} of port {:?}", ports[j].name),
                    ));
                }
            }
            out.push(AddressConfig { port, address });
        }
        Ok(out)
    }

    /// Every (port index, address) pair: the ports' own and `[[address]]`.
    fn all_addresses(ports: &[PortConfig], extra: &[AddressConfig]) -> Vec<(usize, Ipv4Net)> {
        ports
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.address))
            .chain(extra.iter().map(|a| (a.port, a.address)))
            .collect()
    }

    fn routes(
        &self,
        raw: Vec<RawRoute>,
        ports: &[PortConfig],
        extra: &[AddressConfig],
    ) -> Result<Vec<RouteConfig>, ConfigError> {
        let addrs = Self::all_addresses(ports, extra);
        let mut routes: Vec<RouteConfig> = Vec::with_capacity(raw.len());
        // (prefix, metric) -> index: a full table has ~10^6 routes, so no linear search.
        let mut seen: HashMap<(Ipv4Net, u32), Vec<usize>> = HashMap::with_capacity(raw.len());
        for (i, r) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("route[{i}].{field}");

            let prefix_text = self.required(&key("prefix"), r.prefix)?;
            let prefix = parse_net(&prefix_text, 0).map_err(|m| self.err(key("prefix"), m))?;
            if prefix.trunc() != prefix {
                return Err(self.err(
                    key("prefix"),
                    format!(
                        "{prefix} has host bits set; did you mean {}?",
                        prefix.trunc()
                    ),
                ));
            }

            let route_type = match r.route_type.as_deref().map(str::trim) {
                None | Some("unicast") => RouteType::Unicast,
                Some("blackhole") => RouteType::Blackhole,
                Some("unreachable") => RouteType::Unreachable,
                Some("prohibit") => RouteType::Prohibit,
                Some(other) => {
                    return Err(self.err(
                        key("type"),
                        format!(
                            "unknown route type {other:?}; expected \"unicast\", \"blackhole\", \
                             \"unreachable\" or \"prohibit\""
                        ),
                    ))
                }
            };

            let port = match &r.port {
                Some(name) => Some(self.port_index(&key("port"), ports, name.trim())?),
                None => None,
            };
            let via = match &r.via {
                Some(v) => Some(parse_addr(v).map_err(|m| self.err(key("via"), m))?),
                None => None,
            };
            let nexthops = match r.nexthops {
                Some(raw) => {
                    for (field, given) in [("via", via.is_some()), ("port", port.is_some())] {
                        if given {
                            return Err(self.err(
                                key(field),
                                "a route with `nexthops` gives `via` and `port` in each next hop",
                            ));
                        }
                    }
                    if route_type != RouteType::Unicast {
                        return Err(self.err(
                            key("nexthops"),
                            format!("a {route_type} route must not have `nexthops`"),
                        ));
                    }
                    self.nexthops(i, raw, ports, &addrs)?
                }
                None => Vec::new(),
            };
            if route_type == RouteType::Unicast && nexthops.is_empty() {
                if via.is_none() && port.is_none() {
                    return Err(self.err(
                        format!("route[{i}]"),
                        "a unicast route needs `via` (next hop) or `port` (directly connected)",
                    ));
                }
            } else {
                for (field, given) in [("via", via.is_some()), ("port", port.is_some())] {
                    if given {
                        return Err(self.err(
                            key(field),
                            format!("a {route_type} route must not have `{field}`"),
                        ));
                    }
                }
            }
            if let Some(via) = via {
                self.check_on_link(&key("via"), via, ports, &addrs, port)?;
            }

            let metric = self.int(&key("metric"), r.metric, 0, 0, u32::MAX.into())?;
            // Routes sharing a prefix and metric are kept in file order (as `ferroute
            // route append` makes them; the first is used); identical ones are an error.
            // Candidates by (prefix, metric): a full table has ~10^6 routes.
            let mut same = seen.get(&(prefix, metric)).into_iter().flatten().copied();
            if let Some(j) = same.find(|&j| {
                let q = &routes[j];
                q.route_type == route_type
                    && q.via == via
                    && q.port == port
                    && q.nexthops == nexthops
            }) {
                return Err(self.err(
                    key("prefix"),
                    format!("duplicate route {prefix} metric {metric} (same as route[{j}])"),
                ));
            }
            seen.entry((prefix, metric)).or_default().push(i);
            routes.push(RouteConfig {
                prefix,
                via,
                port,
                route_type,
                metric,
                nexthops,
            });
        }
        Ok(routes)
    }

    fn neighbors(
        &self,
        raw: Vec<RawNeighbor>,
        ports: &[PortConfig],
        extra: &[AddressConfig],
    ) -> Result<Vec<NeighborConfig>, ConfigError> {
        let addrs = Self::all_addresses(ports, extra);
        let mut neighbors: Vec<NeighborConfig> = Vec::with_capacity(raw.len());
        let mut seen: HashMap<(usize, Ipv4Addr), usize> = HashMap::new();
        for (i, n) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("neighbor[{i}].{field}");
            let address_text = self.required(&key("address"), n.address)?;
            let address = parse_addr(&address_text).map_err(|m| self.err(key("address"), m))?;
            let mac_text = self.required(&key("mac"), n.mac)?;
            let mac = parse_unicast_mac(&mac_text).map_err(|m| self.err(key("mac"), m))?;
            let port = match &n.port {
                Some(name) => Some(self.port_index(&key("port"), ports, name.trim())?),
                None => None,
            };
            // Subnets of different ports do not overlap, so the port is unique.
            let port = self.check_on_link(&key("address"), address, ports, &addrs, port)?;
            if let Some(j) = seen.insert((port, address), i) {
                return Err(self.err(
                    key("address"),
                    format!(
                        "duplicate static neighbour {address} on port {:?} (same as neighbor[{j}])",
                        ports[port].name
                    ),
                ));
            }
            neighbors.push(NeighborConfig { address, mac, port });
        }
        Ok(neighbors)
    }
}

impl Builder<'_> {
    /// `[[qdisc]]` sections: tc's tbf parameters and units (see `datapath::qdisc`).
    fn qdiscs(
        &self,
        raw: Vec<RawQdisc>,
        ports: &[PortConfig],
    ) -> Result<Vec<QdiscConfig>, ConfigError> {
        let mut out: Vec<QdiscConfig> = Vec::with_capacity(raw.len());
        for (i, q) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("qdisc[{i}].{field}");
            let name = self.required(&key("port"), q.port)?;
            let port = self.port_index(&key("port"), ports, name.trim())?;
            if let Some(j) = out.iter().position(|o| o.port == port) {
                return Err(self.err(
                    key("port"),
                    format!("port {name:?} already has a qdisc (qdisc[{j}])"),
                ));
            }
            let kind = self.required(&key("kind"), q.kind)?;
            if kind.trim() != "tbf" {
                return Err(self.err(
                    key("kind"),
                    format!("unknown qdisc kind {kind:?}; expected \"tbf\""),
                ));
            }
            for (field, given) in [("peakrate", q.peakrate.is_some()), ("mtu", q.mtu.is_some())] {
                if given {
                    return Err(self.err(
                        key(field),
                        "not supported: ferroute's tbf has no peak-rate bucket (peakrate/mtu)",
                    ));
                }
            }
            let value = |field: &str,
                         v: Option<UnitText>,
                         parse: fn(&str) -> Result<u64, String>|
             -> Result<Option<u64>, ConfigError> {
                v.map(|UnitText(t)| parse(&t).map_err(|m| self.err(key(field), m)))
                    .transpose()
            };
            let rate = self.required(&key("rate"), value("rate", q.rate, qdisc::parse_rate)?)?;
            let burst =
                self.required(&key("burst"), value("burst", q.burst, qdisc::parse_size)?)?;
            let limit = value("limit", q.limit, qdisc::parse_size)?;
            let latency = value("latency", q.latency, qdisc::parse_time_us)?;
            let limit = match (limit, latency) {
                (Some(b), None) => Limit::Bytes(b),
                (None, Some(us)) => Limit::LatencyUs(us),
                (Some(_), Some(_)) => {
                    return Err(self.err(
                        key("latency"),
                        "give `limit` or `latency`, not both (as tc)",
                    ))
                }
                (None, None) => {
                    return Err(self.err(
                        format!("qdisc[{i}]"),
                        "`limit` (bytes that may wait) or `latency` (longest wait) is required",
                    ))
                }
            };
            let max_frame = u32::from(ports[port].mtu) + crate::datapath::ETH_HLEN as u32;
            let tbf = TbfParams::new(rate, burst, limit, max_frame)
                .map_err(|e| self.err(key(e.key), e.message))?;
            out.push(QdiscConfig { port, tbf });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: &str = r#"
[[port]]
name = "port0"
devargs = "net_tap0,iface=ftap0"
address = "10.0.1.1/24"

[[port]]
name = "port1"
devargs = "net_tap1,iface=ftap1"
address = "10.0.2.1/24"
"#;

    const WORKER: &str = r#"
[[worker]]
lcore = 1
rx = ["port0:0", "port1:0"]
"#;

    /// Two ports, one worker, everything else default.
    fn base() -> String {
        format!("{PORTS}{WORKER}")
    }

    /// `base()` followed by `extra` (which must start with a table header).
    fn with(extra: &str) -> String {
        format!("{}{extra}", base())
    }

    fn ok(text: &str) -> Config {
        Config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
    }

    fn fail(text: &str, key: &str, fragment: &str) -> ConfigError {
        let e = match Config::parse(text, "test.toml") {
            Ok(c) => panic!("accepted, expected {key}: ...{fragment}...\n{c:#?}\n---\n{text}"),
            Err(e) => e,
        };
        assert_eq!(e.file, "test.toml", "{e}");
        assert_eq!(e.key, key, "{e}");
        assert!(e.message.contains(fragment), "{e:?} lacks {fragment:?}");
        e
    }

    // --- the default, loading, syntax ----------------------------------------------------

    #[test]
    fn embedded_default_has_documented_values() {
        let c = Config::load(None).unwrap();
        assert_eq!(c.source, DEFAULT_SOURCE);
        assert_eq!(c.eal_args, DEFAULT_EAL_ARGS);
        assert_eq!(c.control.socket, Path::new("/run/ferroute/ferroute.sock"));
        assert_eq!(
            c.metrics.listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 9417)))
        );
        assert_eq!(c.ip, IpConfig::default());
        assert_eq!(
            c.datapath,
            DatapathConfig {
                burst: 32,
                tx_drain_us: 100,
                idle_sleep_us: 0,
                mbufs: 8191,
                mbuf_cache: 256,
                rx_desc: 1024,
                tx_desc: 1024,
            }
        );
        assert_eq!(
            c.icmp,
            IcmpConfig {
                msgs_per_sec: 1000,
                msgs_burst: 50,
                ratelimit_ms: 1000,
                ratemask: 6168,
                burst: 6,
                peers: 4096,
            }
        );
        assert_eq!(c.punt, PuntLimits::default());
        assert_eq!(
            c.arp,
            ArpConfig {
                reachable_ms: 30000,
                retrans_ms: 1000,
                mcast_probes: 3,
                ucast_probes: 3,
                delay_probe_ms: 5000,
                hold_queue: 101,
            }
        );
        assert_eq!(
            c.reassembly,
            ReassemblyConfig {
                timeout_ms: 30000,
                max_bytes: 4194304,
                max_datagrams: 1024,
            }
        );
        assert_eq!(c.ports.len(), 2);
        let p0 = &c.ports[0];
        assert_eq!(p0.name, "port0");
        assert_eq!(p0.devargs, "net_tap0,iface=ftap0");
        assert_eq!(p0.dev_name(), "net_tap0");
        assert_eq!(p0.address, "10.0.1.1/24".parse::<Ipv4Net>().unwrap());
        assert_eq!(p0.address.addr(), Ipv4Addr::new(10, 0, 1, 1));
        assert_eq!(p0.mtu, 1500);
        assert_eq!(p0.mac, None);
        assert_eq!(c.ports[1].name, "port1");
        assert_eq!(c.ports[1].dev_name(), "net_tap1");
        assert_eq!(c.ports[1].address.to_string(), "10.0.2.1/24");
        assert_eq!(
            c.workers,
            vec![WorkerConfig {
                lcore: 1,
                rx: vec![
                    RxQueueRef { port: 0, queue: 0 },
                    RxQueueRef { port: 1, queue: 0 }
                ],
            }]
        );
        assert_eq!((c.rx_queues(0), c.rx_queues(1), c.rx_queues(2)), (1, 1, 0));
        assert_eq!(
            c.routes,
            vec![RouteConfig {
                prefix: "192.0.2.0/24".parse().unwrap(),
                via: Some(Ipv4Addr::new(10, 0, 2, 2)),
                port: None,
                route_type: RouteType::Unicast,
                metric: 0,
                nexthops: Vec::new(),
            }]
        );
        assert!(c.neighbors.is_empty());
    }

    #[test]
    fn omitted_sections_take_the_defaults() {
        let c = ok(&base());
        assert_eq!(c.eal_args, DEFAULT_EAL_ARGS);
        assert_eq!(c.control, ControlConfig::default());
        assert_eq!(c.datapath, DatapathConfig::default());
        assert_eq!(c.icmp, IcmpConfig::default());
        assert_eq!(c.arp, ArpConfig::default());
        assert_eq!(c.reassembly, ReassemblyConfig::default());
        // And the embedded file agrees with the code's defaults.
        let d = Config::load(None).unwrap();
        assert_eq!(
            (d.control, d.datapath, d.icmp, d.arp, d.reassembly),
            (c.control, c.datapath, c.icmp, c.arp, c.reassembly)
        );
        // Keys omitted within a section are defaulted too.
        let c = ok(&with("[datapath]\nburst = 8\n[arp]\nhold_queue = 3\n"));
        assert_eq!(c.datapath.burst, 8);
        assert_eq!(c.datapath.mbufs, 8191);
        assert_eq!(c.arp.hold_queue, 3);
        assert_eq!(c.arp.retrans_ms, 1000);
    }

    #[test]
    fn all_keys_are_read() {
        let c = ok(&format!(
            "{}{}",
            r#"
[eal]
args = ["-l", "0-2", "--no-huge"]
[control]
socket = "/tmp/f.sock"
[datapath]
burst = 16
tx_drain_us = 50
idle_sleep_us = 10
mbufs = 4096
mbuf_cache = 128
rx_desc = 512
tx_desc = 256
[icmp]
msgs_per_sec = 0
msgs_burst = 0
ratelimit_ms = 0
ratemask = 1
burst = 2
peers = 16
[punt]
arp_known_pps = 0
arp_known_burst = 0
arp_pps = 5
arp_burst = 1
[arp]
reachable_ms = 1
retrans_ms = 10
mcast_probes = 1
ucast_probes = 0
delay_probe_ms = 0
hold_queue = 10000
[reassembly]
timeout_ms = 100
max_bytes = 131072
max_datagrams = 1000000
"#,
            r#"
[[port]]
name = "a"
devargs = "net_tap0"
address = "192.168.0.1/30"
mtu = 9000
mac = "02:00:00:00:01:01"
[[worker]]
lcore = 2
rx = ["a:1"]
[[worker]]
lcore = 1
rx = ["a:0"]
[[route]]
prefix = "0.0.0.0/0"
via = "192.168.0.2"
port = "a"
metric = 7
[[route]]
prefix = "10.0.0.0/8"
type = "unreachable"
[[neighbor]]
address = "192.168.0.2"
mac = "02:00:00:00:02:02"
port = "a"
"#
        ));
        assert_eq!(c.eal_args, ["-l", "0-2", "--no-huge"]);
        assert_eq!(c.control.socket, Path::new("/tmp/f.sock"));
        assert_eq!(
            c.datapath,
            DatapathConfig {
                burst: 16,
                tx_drain_us: 50,
                idle_sleep_us: 10,
                mbufs: 4096,
                mbuf_cache: 128,
                rx_desc: 512,
                tx_desc: 256
            }
        );
        assert_eq!(
            (c.icmp.msgs_per_sec, c.icmp.ratelimit_ms, c.icmp.ratemask),
            (0, 0, 1)
        );
        assert_eq!((c.icmp.burst, c.icmp.peers), (2, 16));
        assert_eq!(c.punt.arp_known, punt::Limit { pps: 0, burst: 0 });
        assert_eq!(c.punt.arp, punt::Limit { pps: 5, burst: 1 });
        assert_eq!(c.punt.resolve, PuntLimits::default().resolve);
        assert_eq!(
            c.arp,
            ArpConfig {
                reachable_ms: 1,
                retrans_ms: 10,
                mcast_probes: 1,
                ucast_probes: 0,
                delay_probe_ms: 0,
                hold_queue: 10000
            }
        );
        assert_eq!(
            c.reassembly,
            ReassemblyConfig {
                timeout_ms: 100,
                max_bytes: 131072,
                max_datagrams: 1_000_000
            }
        );
        assert_eq!(c.ports[0].mtu, 9000);
        assert_eq!(c.ports[0].dev_name(), "net_tap0");
        assert_eq!(c.ports[0].mac, Some(MacAddr([2, 0, 0, 0, 1, 1])));
        assert_eq!(c.rx_queues(0), 2);
        assert_eq!(c.workers[0].lcore, 2);
        assert_eq!(c.workers[0].rx, [RxQueueRef { port: 0, queue: 1 }]);
        assert_eq!(c.routes[0].port, Some(0));
        assert_eq!(c.routes[0].metric, 7);
        assert_eq!(c.routes[0].prefix.prefix_len(), 0);
        assert_eq!(c.routes[1].route_type, RouteType::Unreachable);
        assert_eq!((c.routes[1].via, c.routes[1].port), (None, None));
        assert_eq!(
            c.neighbors,
            [NeighborConfig {
                address: Ipv4Addr::new(192, 168, 0, 2),
                mac: MacAddr([2, 0, 0, 0, 2, 2]),
                port: 0
            }]
        );
    }

    #[test]
    fn load_reads_a_file_and_names_it() {
        let dir = std::env::temp_dir().join(format!("ferroute-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("router.toml");
        std::fs::write(&path, base()).unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.source, path.display().to_string());
        std::fs::write(&path, with("[datapath]\nburst = 0\n")).unwrap();
        let e = Config::load(Some(&path)).unwrap_err();
        assert_eq!(e.file, path.display().to_string());
        assert_eq!(e.key, "datapath.burst");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_reports_the_path() {
        let path = Path::new("/nonexistent/ferroute/router.toml");
        let e = Config::load(Some(path)).unwrap_err();
        assert_eq!(e.file, "/nonexistent/ferroute/router.toml");
        assert_eq!(e.key, "");
        assert!(e.message.starts_with("cannot read: "), "{e}");
        assert!(e.message.contains("No such file or directory"), "{e}");
        assert!(e
            .to_string()
            .starts_with("/nonexistent/ferroute/router.toml: "));
    }

    #[test]
    fn syntax_error_reports_line_and_column() {
        let text = with("[datapath]\nburst = = 3\n");
        let line = text.lines().position(|l| l.starts_with("burst =")).unwrap() + 1;
        let e = Config::parse(&text, "test.toml").unwrap_err();
        assert!(e.key.starts_with(&format!("line {line}, column ")), "{e}");
        assert!(!e.message.is_empty() && !e.message.contains('\n'), "{e:?}");

        let e = Config::parse("[[port]\nname = \"a\"\n", "x.toml").unwrap_err();
        assert!(e.key.starts_with("line 1, column "), "{e}");
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é\nxé y", 7), (2, 4));
        assert_eq!(line_column("ab", 99), (1, 3));
    }

    #[test]
    fn unknown_keys_and_sections_are_errors() {
        fail(&with("[bogus]\nx = 1\n"), "bogus", "unknown field `bogus`");
        fail(
            &format!("bogus = 1\n{}", base()),
            "bogus",
            "unknown field `bogus`",
        );
        fail(
            &with("[datapath]\nbusrt = 1\n"),
            "datapath.busrt",
            "unknown field `busrt`",
        );
        let e = fail(
            &base().replace("mtu", "x").replace(
                "address = \"10.0.2.1/24\"",
                "address = \"10.0.2.1/24\"\nmtus = 1",
            ),
            "port[1].mtus",
            "unknown field `mtus`",
        );
        assert!(e.message.contains("line 11"), "{e}");
        fail(
            &with("[[ports]]\nname = \"x\"\n"),
            "ports",
            "unknown field `ports`",
        );
    }

    #[test]
    fn wrong_types_name_the_key() {
        let e = fail(
            &base().replace(
                "address = \"10.0.2.1/24\"",
                "address = \"10.0.2.1/24\"\nmtu = \"1500\"",
            ),
            "port[1].mtu",
            "invalid type: string \"1500\", expected an integer",
        );
        assert!(e.message.contains("(line 11, column 7)"), "{e}");
        fail(
            &with("[datapath]\nburst = 1.5\n"),
            "datapath.burst",
            "expected an integer",
        );
        fail(
            &with("[eal]\nargs = \"-l 0,1\"\n"),
            "eal.args",
            "invalid type",
        );
        fail(
            &with("[eal]\nargs = [\"-l\", 1]\n"),
            "eal.args[1]",
            "expected a string",
        );
        fail(
            &base().replace("lcore = 1", "lcore = true"),
            "worker[0].lcore",
            "expected an integer",
        );
        // Datetimes defeat the key mapping: the position is given instead.
        let text = with("[datapath]\nburst = 1979-05-27\n");
        let line = text.lines().position(|l| l.starts_with("burst")).unwrap() + 1;
        fail(
            &text,
            &format!("line {line}, column 9"),
            "expected an integer",
        );
    }

    // --- datapath / icmp / arp ranges ----------------------------------------------------

    #[test]
    fn datapath_ranges() {
        let dp = |kv: &str| with(&format!("[datapath]\n{kv}\n"));
        fail(
            &dp("burst = 0"),
            "datapath.burst",
            "0 is out of range; must be 1..=32",
        );
        fail(&dp("burst = 33"), "datapath.burst", "33 is out of range");
        fail(&dp("burst = -1"), "datapath.burst", "-1 is out of range");
        fail(&dp("tx_drain_us = 0"), "datapath.tx_drain_us", "1..=10000");
        fail(
            &dp("tx_drain_us = 10001"),
            "datapath.tx_drain_us",
            "1..=10000",
        );
        fail(
            &dp("idle_sleep_us = 1001"),
            "datapath.idle_sleep_us",
            "0..=1000",
        );
        fail(
            &dp("mbufs = 1023"),
            "datapath.mbufs",
            "must be at least 1024",
        );
        fail(
            &dp("mbufs = 4294967296"),
            "datapath.mbufs",
            "must be at most 4294967295",
        );
        fail(&dp("mbuf_cache = 513"), "datapath.mbuf_cache", "0..=512");
        // DPDK's rule (cache * 3 / 2 <= mbufs) cannot fail within the ranges above.
        // (Small RX rings: the two default ones would take more than 1024 mbufs.)
        ok(&dp("mbufs = 1024\nmbuf_cache = 512\nrx_desc = 256"));
        ok(&dp("mbufs = 1024\nmbuf_cache = 0\nrx_desc = 256"));
        ok(&dp("mbufs = 1536\nmbuf_cache = 512\nrx_desc = 256"));
        fail(
            &dp("rx_desc = 1000"),
            "datapath.rx_desc",
            "not a power of two",
        );
        fail(&dp("rx_desc = 32"), "datapath.rx_desc", "64..=4096");
        fail(&dp("tx_desc = 8192"), "datapath.tx_desc", "64..=4096");
        ok(&dp("rx_desc = 64\ntx_desc = 4096"));
    }

    #[test]
    fn icmp_ranges() {
        let icmp = |kv: &str| with(&format!("[icmp]\n{kv}\n"));
        fail(
            &icmp("msgs_burst = 0"),
            "icmp.msgs_burst",
            "must be at least 1 when icmp.msgs_per_sec is not 0",
        );
        fail(
            &icmp("msgs_per_sec = -5"),
            "icmp.msgs_per_sec",
            "out of range",
        );
        ok(&icmp("msgs_per_sec = 0\nmsgs_burst = 0"));
        fail(
            &icmp("ratelimit_ms = 3600001"),
            "icmp.ratelimit_ms",
            "0..=3600000",
        );
        fail(&icmp("burst = 0"), "icmp.burst", "1..=10000");
        fail(&icmp("peers = 0"), "icmp.peers", "1..=1048576");
        fail(&icmp("ratemask = -1"), "icmp.ratemask", "out of range");
        // The old names are gone: unknown keys are refused by name.
        fail(
            &icmp("ratelimit_pps = 1"),
            "icmp.ratelimit_pps",
            "unknown field",
        );
    }

    #[test]
    fn punt_ranges() {
        let punt = |kv: &str| with(&format!("[punt]\n{kv}\n"));
        fail(
            &punt("arp_burst = 0"),
            "punt.arp_burst",
            "must be at least 1 when punt.arp_pps is not 0",
        );
        fail(
            &punt("resolve_pps = -1"),
            "punt.resolve_pps",
            "out of range",
        );
        fail(
            &punt("frag_burst = 4294967296"),
            "punt.frag_burst",
            "out of range",
        );
        ok(&punt("arp_known_pps = 0\narp_known_burst = 0"));
        fail(&punt("arp_rate = 5"), "punt.arp_rate", "unknown field");
    }

    #[test]
    fn ip_section() {
        let c = ok(&base());
        assert_eq!(c.ip, IpConfig::default());
        assert!(!c.ip.accept_source_route && !c.ip.bc_forwarding);
        assert_eq!(c.ip.rp_filter, 0);
        let ip = |kv: &str| with(&format!("[ip]\n{kv}\n"));
        let c = ok(&ip(
            "accept_source_route = true\nrp_filter = 2\nbc_forwarding = true",
        ));
        assert_eq!(
            c.ip,
            IpConfig {
                accept_source_route: true,
                rp_filter: 2,
                bc_forwarding: true
            }
        );
        use crate::datapath::ip4_source::RpFilter;
        assert_eq!(c.ip.policy().rp_filter, RpFilter::Loose);
        assert_eq!(
            ok(&ip("rp_filter = 1")).ip.policy().rp_filter,
            RpFilter::Strict
        );
        assert_eq!(
            ok(&ip("rp_filter = 0")).ip.policy().rp_filter,
            RpFilter::Off
        );
        fail(
            &ip("rp_filter = 3"),
            "ip.rp_filter",
            "3 is out of range; must be 0..=2",
        );
        fail(&ip("rp_filter = -1"), "ip.rp_filter", "out of range");
        assert!(Config::parse(&ip("bc_forwarding = 1"), "test.toml").is_err());
        assert!(Config::parse(&ip("forwarding = true"), "test.toml").is_err());
    }

    #[test]
    fn reassembly_ranges() {
        let r = |kv: &str| with(&format!("[reassembly]\n{kv}\n"));
        fail(
            &r("timeout_ms = 99"),
            "reassembly.timeout_ms",
            "100..=600000",
        );
        fail(
            &r("timeout_ms = 600001"),
            "reassembly.timeout_ms",
            "100..=600000",
        );
        fail(
            &r("max_bytes = 131071"),
            "reassembly.max_bytes",
            "131072..=1073741824",
        );
        fail(
            &r("max_datagrams = 0"),
            "reassembly.max_datagrams",
            "1..=1000000",
        );
        fail(
            &r("max_datagram = 5"),
            "reassembly.max_datagram",
            "unknown field",
        );
        let c = ok(&r("timeout_ms = 2000"));
        assert_eq!(c.reassembly.timeout_ms, 2000);
        assert_eq!(c.reassembly.max_bytes, 4 << 20);
    }

    #[test]
    fn arp_ranges() {
        let arp = |kv: &str| with(&format!("[arp]\n{kv}\n"));
        fail(&arp("hold_queue = 0"), "arp.hold_queue", "1..=10000");
        fail(&arp("hold_queue = 10001"), "arp.hold_queue", "1..=10000");
        fail(&arp("retrans_ms = 9"), "arp.retrans_ms", "at least 10");
        fail(&arp("mcast_probes = 0"), "arp.mcast_probes", "at least 1");
        fail(
            &arp("reachable_ms = -1"),
            "arp.reachable_ms",
            "out of range",
        );
        fail(
            &arp("ucast_probes = 4294967296"),
            "arp.ucast_probes",
            "out of range",
        );
    }

    #[test]
    fn control_socket_checks() {
        fail(
            &with("[control]\nsocket = \"\"\n"),
            "control.socket",
            "must not be empty",
        );
        let long = format!("/run/{}", "x".repeat(110));
        fail(
            &with(&format!("[control]\nsocket = \"{long}\"\n")),
            "control.socket",
            "limited to 107",
        );
    }

    #[test]
    fn log_level_key() {
        assert_eq!(ok(&base()).log.level, log::LevelFilter::Info);
        let l = |v: &str| with(&format!("[log]\nlevel = {v}\n"));
        assert_eq!(ok(&l("\"debug\"")).log.level, log::LevelFilter::Debug);
        assert_eq!(ok(&l("\"warning\"")).log.level, log::LevelFilter::Warn);
        fail(&l("\"loud\""), "log.level", "not a log level");
        fail(&l("3"), "log.level", "");
        fail(&with("[log]\nfile = \"x\"\n"), "log.file", "");
    }

    #[test]
    fn metrics_listen_checks() {
        let m = |v: &str| with(&format!("[metrics]\nlisten = {v}\n"));
        assert_eq!(ok(&m("\"\"")).metrics.listen, None);
        assert_eq!(
            ok(&m("\"0.0.0.0:9100\"")).metrics.listen,
            Some(SocketAddr::from(([0, 0, 0, 0], 9100)))
        );
        assert_eq!(
            ok(&m("\"[::1]:9417\"")).metrics.listen,
            "[::1]:9417".parse().ok()
        );
        assert_eq!(ok(&with("[metrics]\n")).metrics, MetricsConfig::default());
        fail(
            &m("\"localhost:9417\""),
            "metrics.listen",
            "not a socket address",
        );
        fail(
            &m("\"127.0.0.1\""),
            "metrics.listen",
            "not a socket address",
        );
        fail(
            &m("\"127.0.0.1:99999\""),
            "metrics.listen",
            "not a socket address",
        );
        fail(&m("\"127.0.0.1:0\""), "metrics.listen", "port 0");
        fail(&m("9417"), "metrics.listen", "");
        fail(
            &with("[metrics]\nport = 9417\n"),
            "metrics.port",
            "unknown field",
        );
    }

    #[test]
    fn eal_args_must_not_be_empty_strings() {
        fail(
            &with("[eal]\nargs = [\"-l\", \"0,1\", \"\"]\n"),
            "eal.args[2]",
            "must not be empty",
        );
    }

    // --- ports -------------------------------------------------------------------------------

    #[test]
    fn ports_required() {
        fail(WORKER, "port", "at least one [[port]]");
    }

    #[test]
    fn port_names_unique_and_non_empty() {
        fail(
            &base()
                .replace("\"port1\"", "\"port0\"")
                .replace("port0:0\", \"port0:0", "port0:0"),
            "port[1].name",
            "duplicate port name \"port0\"",
        );
        fail(
            &base().replace("name = \"port1\"", "name = \"\""),
            "port[1].name",
            "must not be empty",
        );
        fail(
            &base().replace("name = \"port1\"", "name = \"a:b\""),
            "port[1].name",
            "must not contain ':'",
        );
        fail(
            &base().replace("name = \"port1\"\n", ""),
            "port[1].name",
            "required key is missing",
        );
    }

    #[test]
    fn port_pci_instead_of_devargs() {
        let pci = |v: &str| base().replace("devargs = \"net_tap1,iface=ftap1\"", v);
        let c = ok(&pci("pci = \"0000:03:00.0\""));
        assert_eq!(c.ports[1].pci.as_deref(), Some("0000:03:00.0"));
        assert_eq!(c.ports[1].dev_name(), "0000:03:00.0");
        assert_eq!(c.ports[0].pci, None);
        fail(
            &pci("pci = \"03:00.0\""),
            "port[1].pci",
            "is not a PCI address",
        );
        fail(
            &pci("pci = \"0000:03:00.0\"\ndevargs = \"net_tap1\""),
            "port[1].pci",
            "either pci or devargs",
        );
    }

    #[test]
    fn port_devargs_non_empty_and_unique() {
        fail(
            &base().replace("net_tap1,iface=ftap1", ""),
            "port[1].devargs",
            "no device name",
        );
        fail(
            &base().replace("net_tap1,iface=ftap1", ",iface=x"),
            "port[1].devargs",
            "no device name",
        );
        fail(
            &base().replace("net_tap1,iface=ftap1", "net_tap0,iface=ftap9"),
            "port[1].devargs",
            "duplicate device name \"net_tap0\" (also used by port[0])",
        );
        fail(
            &base().replace("devargs = \"net_tap1,iface=ftap1\"\n", ""),
            "port[1].devargs",
            "required",
        );
    }

    #[test]
    fn port_address_syntax() {
        let addr = |a: &str| base().replace("10.0.2.1/24", a);
        fail(
            &addr("10.0.2.1"),
            "port[1].address",
            "a.b.c.d/prefix-length",
        );
        fail(&addr("10.0.2/24"), "port[1].address", "not an IPv4 address");
        fail(
            &addr("10.0.2.1/0"),
            "port[1].address",
            "prefix length must be 1..=32",
        );
        fail(
            &addr("10.0.2.1/33"),
            "port[1].address",
            "prefix length must be 1..=32",
        );
        fail(&addr("10.0.2.1/x"), "port[1].address", "prefix length");
        fail(
            &base().replace("address = \"10.0.2.1/24\"\n", ""),
            "port[1].address",
            "required",
        );
    }

    #[test]
    fn port_address_not_network_or_broadcast() {
        let addr = |a: &str| base().replace("10.0.1.1/24", a);
        fail(
            &addr("10.0.1.0/24"),
            "port[0].address",
            "10.0.1.0/24 is the network address of its subnet",
        );
        fail(
            &addr("10.0.1.255/24"),
            "port[0].address",
            "10.0.1.255/24 is the broadcast address of its subnet",
        );
        fail(&addr("10.0.1.3/30"), "port[0].address", "broadcast");
        let c = ok(&addr("10.0.1.0/31"));
        assert_eq!(c.ports[0].address.to_string(), "10.0.1.0/31");
        ok(&addr("10.0.1.1/31"));
        ok(&addr("10.0.1.7/32"));
    }

    #[test]
    fn port_subnets_must_not_overlap() {
        fail(
            &base().replace("10.0.2.1/24", "10.0.1.2/24"),
            "port[1].address",
            "subnet 10.0.1.0/24 overlaps 10.0.1.0/24 of port[0] (\"port0\")",
        );
        fail(
            &base().replace("10.0.2.1/24", "10.0.0.1/16"),
            "port[1].address",
            "overlaps",
        );
        fail(
            &base().replace("10.0.2.1/24", "10.0.1.200/25"),
            "port[1].address",
            "overlaps",
        );
        ok(&base().replace("10.0.2.1/24", "10.0.0.1/24"));
    }

    #[test]
    fn port_mtu_range() {
        let mtu = |m: &str| {
            base().replace(
                "address = \"10.0.2.1/24\"",
                &format!("address = \"10.0.2.1/24\"\nmtu = {m}"),
            )
        };
        fail(
            &mtu("67"),
            "port[1].mtu",
            "67 is out of range; must be 68..=9600",
        );
        fail(&mtu("9601"), "port[1].mtu", "68..=9600");
        assert_eq!(ok(&mtu("68")).ports[1].mtu, 68);
        assert_eq!(ok(&mtu("9600")).ports[1].mtu, 9600);
    }

    #[test]
    fn port_mac_unicast() {
        let mac = |m: &str| {
            base().replace(
                "address = \"10.0.2.1/24\"",
                &format!("address = \"10.0.2.1/24\"\nmac = \"{m}\""),
            )
        };
        fail(&mac("01:00:5e:00:00:01"), "port[1].mac", "multicast");
        fail(&mac("ff:ff:ff:ff:ff:ff"), "port[1].mac", "multicast");
        fail(&mac("00:00:00:00:00:00"), "port[1].mac", "all-zero");
        fail(&mac("02:00:00:00:01"), "port[1].mac", "invalid MAC address");
        assert_eq!(
            ok(&mac("02:00:00:00:02:01")).ports[1].mac,
            Some(MacAddr([2, 0, 0, 0, 2, 1]))
        );
    }

    // --- workers -----------------------------------------------------------------------------

    fn workers(w: &str) -> String {
        format!("{PORTS}{w}")
    }

    #[test]
    fn rx_rings_leave_room_in_the_pool() {
        // n workers on lcores 1..=n, worker i polling queue i of both ports.
        let layout = |n: u16, dp: &str| {
            let mut t = format!("{PORTS}[eal]\nargs = [\"-l\", \"0-{n}\"]\n[datapath]\n{dp}\n");
            for i in 0..n {
                t += &format!(
                    "[[worker]]\nlcore = {}\nrx = [\"port0:{i}\", \"port1:{i}\"]\n",
                    i + 1
                );
            }
            t
        };
        // Defaults: 8191 mbufs, 1024 descriptors, bursts of 32.
        ok(&layout(2, ""));
        ok(&layout(3, ""));
        let e = fail(
            &layout(4, ""),
            "datapath.mbufs",
            "8191 mbufs are too few for 8 RX queues of 1024 descriptors (datapath.rx_desc), \
             which take 8192 mbufs when the ports start",
        );
        assert!(e.to_string().contains("at least 8448"), "{e}");
        ok(&layout(4, "rx_desc = 512"));
        ok(&layout(4, "mbufs = 16383"));
        // The bound: 14 queues * (512 + 32).
        ok(&layout(7, "rx_desc = 512\nmbufs = 7616"));
        fail(
            &layout(7, "rx_desc = 512\nmbufs = 7615"),
            "datapath.mbufs",
            "at least 7616",
        );
    }

    #[test]
    fn workers_required() {
        fail(PORTS, "worker", "at least one [[worker]]");
    }

    #[test]
    fn worker_lcores_unique() {
        fail(
            &workers("[[worker]]\nlcore = 1\nrx = [\"port0:0\"]\n[[worker]]\nlcore = 1\nrx = [\"port1:0\"]\n"),
            "worker[1].lcore",
            "lcore 1 is already used by worker[0]",
        );
        fail(
            &workers("[[worker]]\nrx = [\"port0:0\"]\n"),
            "worker[0].lcore",
            "required",
        );
        fail(
            &workers("[[worker]]\nlcore = -1\nrx = [\"port0:0\"]\n"),
            "worker[0].lcore",
            "out of range",
        );
    }

    #[test]
    fn worker_lcore_not_main() {
        fail(
            &base().replace("lcore = 1", "lcore = 0"),
            "worker[0].lcore",
            "lcore 0 is the EAL main lcore",
        );
        let args = |a: &str, lcore: u32| {
            with(&format!("[eal]\nargs = {a}\n")).replace("lcore = 1", &format!("lcore = {lcore}"))
        };
        fail(
            &args("[\"-l\", \"2-5\"]", 2),
            "worker[0].lcore",
            "main lcore",
        );
        ok(&args("[\"-l\", \"2-5\"]", 3));
        fail(&args("[\"-l3,1\"]", 1), "worker[0].lcore", "main lcore");
        fail(
            &args("[\"-l\", \"0,1\", \"--main-lcore\", \"1\"]", 1),
            "worker[0].lcore",
            "main lcore",
        );
        ok(&args("[\"-l\", \"0,1\", \"--main-lcore=1\"]", 0));
        // --lcores: lcore ids before '@' (the CPUs they run on may be shared).
        fail(
            &args("[\"--lcores\", \"0@0,1@1,2@1\"]", 0),
            "worker[0].lcore",
            "lcore 0 is the EAL main lcore (eal.args \"--lcores 0@0,1@1,2@1\")",
        );
        ok(&args("[\"--lcores\", \"0@0,1@1,2@1\"]", 2));
        ok(&args(
            "[\"--lcores=(0-2)@(0,1)\", \"--main-lcore\", \"2\"]",
            0,
        ));
        // Forms we do not parse skip the check.
        ok(&args("[\"--lcores\", \"0@1,1@2\", \"-l\", \"0,1\"]", 0));
        ok(&args("[\"-c\", \"0x3\"]", 0));
        ok(&args("[\"-l\", \"0-1;x\"]", 0));
        ok(&args("[\"--no-huge\"]", 0));
    }

    #[test]
    fn worker_lcore_in_eal_core_list() {
        fail(
            &base().replace("lcore = 1", "lcore = 2"),
            "worker[0].lcore",
            "lcore 2 is not in the EAL core list (eal.args \"-l 0,1\")",
        );
        fail(
            &with("[eal]\nargs = [\"--lcores\", \"0@0,2@1\"]\n"),
            "worker[0].lcore",
            "lcore 1 is not in the EAL core list (eal.args \"--lcores 0@0,2@1\")",
        );
    }

    #[test]
    fn eal_core_list_forms() {
        let v = |a: &[&str]| eal_cores(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let c = v(&["--no-huge", "-l", "0,2-4"]).unwrap();
        assert_eq!(
            (c.main, c.cores.into_iter().collect::<Vec<_>>()),
            (0, vec![0, 2, 3, 4])
        );
        assert_eq!(v(&["-l", "0-1"]).unwrap().main, 0);
        assert_eq!(v(&["-l5,3"]).unwrap().main, 3);
        assert_eq!(v(&["-l", "0-3", "--main-lcore", "2"]).unwrap().main, 2);
        assert_eq!(v(&["-l", "3-1"]), None);
        assert_eq!(v(&["-l"]), None);
        assert_eq!(v(&["-l", "(0-1)@0"]), None);
        let lcores = |m: &str| {
            let c = v(&["--lcores", m])?;
            Some((c.main, c.cores.into_iter().collect::<Vec<_>>()))
        };
        assert_eq!(lcores("0@0,1@1,2@1"), Some((0, vec![0, 1, 2])));
        assert_eq!(lcores("1-3"), Some((1, vec![1, 2, 3])));
        assert_eq!(
            lcores("(0-2)@0, 5@(0,1), (7,9)"),
            Some((0, vec![0, 1, 2, 5, 7, 9]))
        );
        assert_eq!(lcores("4@1-2,3"), Some((3, vec![3, 4])));
        assert_eq!(
            v(&["--lcores=0@0,2@1", "--main-lcore=2"]).map(|c| c.main),
            Some(2)
        );
        for bad in ["", "0@", "(0-1", "0@(1", "a@0", "0,,1", "0@0,", "0@0@1"] {
            assert_eq!(lcores(bad), None, "{bad:?}");
        }
        // Both -l and --lcores: the EAL refuses that itself.
        assert_eq!(v(&["-l", "0,1", "--lcores", "0@0,1@1"]), None);
        assert_eq!(v(&["--log-level", "lib.eal:notice"]), None);
    }

    #[test]
    fn worker_rx_entries() {
        let rx = |list: &str| base().replace("[\"port0:0\", \"port1:0\"]", list);
        fail(
            &rx("[\"port0:0\", \"port9:0\"]"),
            "worker[0].rx[1]",
            "unknown port \"port9\"",
        );
        fail(
            &rx("[\"port0\", \"port1:0\"]"),
            "worker[0].rx[0]",
            "port-name:queue",
        );
        fail(
            &rx("[\"port0:16\", \"port1:0\"]"),
            "worker[0].rx[0]",
            "0..=15",
        );
        fail(
            &rx("[\"port0:x\", \"port1:0\"]"),
            "worker[0].rx[0]",
            "0..=15",
        );
        fail(
            &rx("[\"port0:-1\", \"port1:0\"]"),
            "worker[0].rx[0]",
            "0..=15",
        );
        fail(&rx("[]"), "worker[0].rx", "at least one");
        fail(
            &base().replace("rx = [\"port0:0\", \"port1:0\"]", ""),
            "worker[0].rx",
            "required",
        );
    }

    #[test]
    fn rx_queue_polled_once() {
        fail(
            &workers("[[worker]]\nlcore = 1\nrx = [\"port0:0\", \"port1:0\"]\n[[worker]]\nlcore = 2\nrx = [\"port0:0\"]\n[eal]\nargs = [\"-l\", \"0-2\"]\n"),
            "worker[1].rx[0]",
            "port0:0 is already polled by worker[0]",
        );
        fail(
            &base().replace(
                "[\"port0:0\", \"port1:0\"]",
                "[\"port0:0\", \"port1:0\", \"port0:0\"]",
            ),
            "worker[0].rx[2]",
            "already polled by this worker",
        );
    }

    #[test]
    fn every_port_polled() {
        fail(
            &base().replace(", \"port1:0\"", ""),
            "port[1]",
            "no worker polls this port's RX queues",
        );
    }

    #[test]
    fn rx_queues_contiguous() {
        fail(
            &base().replace("\"port1:0\"", "\"port1:0\", \"port0:2\""),
            "port[0]",
            "RX queue 1 of \"port0\" is polled by no worker although queue 2 is",
        );
        fail(
            &base().replace("\"port1:0\"", "\"port1:1\""),
            "port[1]",
            "RX queue 0",
        );
        let text = format!(
            "[eal]\nargs = [\"-l\", \"0-2\"]\n{}",
            workers("[[worker]]\nlcore = 1\nrx = [\"port0:0\", \"port1:1\"]\n[[worker]]\nlcore = 2\nrx = [\"port1:0\", \"port0:1\"]\n")
        );
        let c = ok(&text);
        assert_eq!((c.rx_queues(0), c.rx_queues(1)), (2, 2));
        assert_eq!(
            c.workers[1].rx,
            [
                RxQueueRef { port: 1, queue: 0 },
                RxQueueRef { port: 0, queue: 1 }
            ]
        );
    }

    // --- routes ------------------------------------------------------------------------------

    fn route(body: &str) -> String {
        with(&format!("[[route]]\n{body}\n"))
    }

    #[test]
    fn route_nexthops() {
        let mp = |hops: &str| route(&format!("prefix = \"10.7.0.0/16\"\nnexthops = [{hops}]"));
        let c = ok(&mp(
            "{ via = \"10.0.1.2\" }, { via = \"10.0.2.2\", port = \"port1\", weight = 2 }, \
             { dev = \"port0\", weight = 256 }",
        ));
        assert_eq!(
            c.routes[0].nexthops,
            [
                NexthopConfig {
                    via: Some(Ipv4Addr::new(10, 0, 1, 2)),
                    port: None,
                    weight: 1
                },
                NexthopConfig {
                    via: Some(Ipv4Addr::new(10, 0, 2, 2)),
                    port: Some(1),
                    weight: 2
                },
                NexthopConfig {
                    via: None,
                    port: Some(0),
                    weight: 256
                },
            ]
        );
        let one = "{ via = \"10.0.1.2\" }";
        fail(
            &mp(&format!("{one}, {{ via = \"10.0.2.2\", weight = 0 }}")),
            "route[0].nexthops[1].weight",
            "0 is out of range; must be 1..=256",
        );
        fail(
            &mp(&format!("{one}, {{ via = \"10.0.2.2\", weight = 257 }}")),
            "route[0].nexthops[1].weight",
            "1..=256",
        );
        fail(&mp(""), "route[0].nexthops", "at least one next hop");
        fail(
            &mp(&format!(
                "{one}, {{ via = \"10.0.1.2\", port = \"port0\" }}"
            )),
            "route[0].nexthops[1]",
            "duplicate next hop (same as nexthops[0])",
        );
        fail(
            &mp(&format!("{one}, {{ via = \"10.0.9.2\" }}")),
            "route[0].nexthops[1].via",
            "10.0.9.2 is not on a connected network",
        );
        fail(
            &mp(&format!("{one}, {{ weight = 3 }}")),
            "route[0].nexthops[1]",
            "needs `via` (gateway) or `port`",
        );
        fail(
            &mp(&format!("{one}, {{ via = \"10.0.2.2\", port = \"nope\" }}")),
            "route[0].nexthops[1].port",
            "nope",
        );
        fail(
            &route(&format!(
                "prefix = \"10.7.0.0/16\"\nvia = \"10.0.1.2\"\nnexthops = [{one}]"
            )),
            "route[0].via",
            "in each next hop",
        );
        fail(
            &route(&format!(
                "prefix = \"10.7.0.0/16\"\ntype = \"blackhole\"\nnexthops = [{one}]"
            )),
            "route[0].nexthops",
            "a blackhole route must not have `nexthops`",
        );
    }

    #[test]
    fn route_prefix_host_bits() {
        let text = with(
            "[[route]]\nprefix = \"10.8.0.0/16\"\nport = \"port0\"\n\
             [[route]]\nprefix = \"10.7.0.0/16\"\nport = \"port0\"\n\
             [[route]]\nprefix = \"10.9.0.1/16\"\nvia = \"10.0.1.2\"\n",
        );
        fail(
            &text,
            "route[2].prefix",
            "10.9.0.1/16 has host bits set; did you mean 10.9.0.0/16?",
        );
        fail(
            &route("prefix = \"10.9.0.0\"\nport = \"port0\""),
            "route[0].prefix",
            "prefix-length",
        );
        fail(
            &route("prefix = \"10.9.0.0/40\"\nport = \"port0\""),
            "route[0].prefix",
            "0..=32",
        );
        fail(&route("port = \"port0\""), "route[0].prefix", "required");
        let c = ok(&route("prefix = \"0.0.0.0/0\"\nvia = \"10.0.1.254\""));
        assert_eq!(c.routes[0].prefix, Ipv4Net::default());
        ok(&route("prefix = \"10.9.0.7/32\"\nport = \"port1\""));
    }

    #[test]
    fn route_type_rules() {
        fail(
            &route("prefix = \"10.9.0.0/16\""),
            "route[0]",
            "unicast route needs `via`",
        );
        fail(
            &route("prefix = \"10.9.0.0/16\"\ntype = \"unicast\""),
            "route[0]",
            "needs `via`",
        );
        fail(
            &route("prefix = \"10.9.0.0/16\"\ntype = \"blackhole\"\nvia = \"10.0.1.2\""),
            "route[0].via",
            "a blackhole route must not have `via`",
        );
        fail(
            &route("prefix = \"10.9.0.0/16\"\ntype = \"prohibit\"\nport = \"port0\""),
            "route[0].port",
            "a prohibit route must not have `port`",
        );
        fail(
            &route("prefix = \"10.9.0.0/16\"\ntype = \"unreachable\"\nvia = \"10.0.1.2\""),
            "route[0].via",
            "must not have",
        );
        fail(
            &route("prefix = \"10.9.0.0/16\"\ntype = \"drop\""),
            "route[0].type",
            "unknown route type \"drop\"",
        );
        for (t, rt) in [
            ("blackhole", RouteType::Blackhole),
            ("unreachable", RouteType::Unreachable),
            ("prohibit", RouteType::Prohibit),
        ] {
            let c = ok(&route(&format!("prefix = \"10.9.0.0/16\"\ntype = \"{t}\"")));
            assert_eq!(c.routes[0].route_type, rt);
            assert_eq!(rt.to_string(), t);
        }
        let c = ok(&route("prefix = \"10.9.0.0/16\"\nport = \"port1\""));
        assert_eq!((c.routes[0].via, c.routes[0].port), (None, Some(1)));
    }

    #[test]
    fn route_port_must_exist() {
        fail(
            &route("prefix = \"10.9.0.0/16\"\nport = \"port9\""),
            "route[0].port",
            "unknown port \"port9\"",
        );
    }

    #[test]
    fn route_via_on_connected_network() {
        fail(
            &route("prefix = \"10.9.0.0/16\"\nvia = \"10.0.9.9\""),
            "route[0].via",
            "10.0.9.9 is not on a connected network",
        );
        fail(
            &route("prefix = \"10.9.0.0/16\"\nvia = \"10.0.1.2\"\nport = \"port1\""),
            "route[0].via",
            "10.0.1.2 is not on the connected network 10.0.2.0/24 of port \"port1\"",
        );
        fail(
            &route("prefix = \"10.9.0.0/16\"\nvia = \"10.0.2.1\""),
            "route[0].via",
            "own address",
        );
        fail(
            &route("prefix = \"10.9.0.0/16\"\nvia = \"10.0.2.255\""),
            "route[0].via",
            "broadcast address",
        );
        fail(
            &route("prefix = \"10.9.0.0/16\"\nvia = \"10.0.2\""),
            "route[0].via",
            "not an IPv4 address",
        );
        let c = ok(&route(
            "prefix = \"10.9.0.0/16\"\nvia = \"10.0.1.2\"\nport = \"port0\"",
        ));
        assert_eq!(
            (c.routes[0].via, c.routes[0].port),
            (Some(Ipv4Addr::new(10, 0, 1, 2)), Some(0))
        );
    }

    #[test]
    fn identical_routes_refused_same_prefix_and_metric_kept_in_order() {
        let two = |via: &str, m: u32| {
            with(&format!(
                "[[route]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.0.1.2\"\n\
                 [[route]]\nprefix = \"10.9.0.0/16\"\nvia = \"{via}\"\nmetric = {m}\n"
            ))
        };
        fail(
            &two("10.0.1.2", 0),
            "route[1].prefix",
            "duplicate route 10.9.0.0/16 metric 0 (same as route[0])",
        );
        // Same prefix and metric, another next hop: appended (as `ip route append`).
        assert_eq!(
            ok(&two("10.0.2.2", 0)).routes[1].via,
            Some(Ipv4Addr::new(10, 0, 2, 2))
        );
        assert_eq!(ok(&two("10.0.1.2", 10)).routes[1].metric, 10);
        fail(
            &route("prefix = \"10.9.0.0/16\"\nport = \"port0\"\nmetric = -1"),
            "route[0].metric",
            "out of range",
        );
    }

    // --- neighbours --------------------------------------------------------------------------

    fn neighbor(body: &str) -> String {
        with(&format!("[[neighbor]]\n{body}\n"))
    }

    #[test]
    fn neighbor_port_must_exist() {
        fail(
            &neighbor("address = \"10.0.1.2\"\nmac = \"02:00:00:00:00:02\"\nport = \"port9\""),
            "neighbor[0].port",
            "unknown port \"port9\"",
        );
    }

    #[test]
    fn neighbor_mac_valid_unicast() {
        fail(
            &neighbor("address = \"10.0.1.2\"\nmac = \"03:00:00:00:00:02\""),
            "neighbor[0].mac",
            "multicast",
        );
        fail(
            &neighbor("address = \"10.0.1.2\"\nmac = \"00:00:00:00:00:00\""),
            "neighbor[0].mac",
            "all-zero",
        );
        fail(
            &neighbor("address = \"10.0.1.2\"\nmac = \"nope\""),
            "neighbor[0].mac",
            "invalid MAC",
        );
        fail(
            &neighbor("address = \"10.0.1.2\""),
            "neighbor[0].mac",
            "required",
        );
    }

    #[test]
    fn neighbor_on_link_and_port_inferred() {
        let c = ok(&neighbor(
            "address = \"10.0.2.9\"\nmac = \"02:00:00:00:00:02\"",
        ));
        assert_eq!(c.neighbors[0].port, 1);
        fail(
            &neighbor("address = \"10.0.3.9\"\nmac = \"02:00:00:00:00:02\""),
            "neighbor[0].address",
            "not on a connected network",
        );
        fail(
            &neighbor("address = \"10.0.2.9\"\nmac = \"02:00:00:00:00:02\"\nport = \"port0\""),
            "neighbor[0].address",
            "of port \"port0\"",
        );
        fail(
            &neighbor("address = \"10.0.1.1\"\nmac = \"02:00:00:00:00:02\""),
            "neighbor[0].address",
            "own address",
        );
        fail(
            &neighbor("mac = \"02:00:00:00:00:02\""),
            "neighbor[0].address",
            "required",
        );
    }

    #[test]
    fn neighbor_port_address_unique() {
        let text = with(
            "[[neighbor]]\naddress = \"10.0.1.2\"\nmac = \"02:00:00:00:00:02\"\n\
             [[neighbor]]\naddress = \"10.0.1.2\"\nmac = \"02:00:00:00:00:03\"\nport = \"port0\"\n",
        );
        fail(
            &text,
            "neighbor[1].address",
            "duplicate static neighbour 10.0.1.2 on port \"port0\" (same as neighbor[0])",
        );
    }

    // --- [[qdisc]] --------------------------------------------------------------------

    fn qdisc(body: &str) -> String {
        with(&format!("[[qdisc]]\n{body}"))
    }

    const TBF: &str = "port = \"port1\"\nkind = \"tbf\"\nrate = \"20mbit\"\nburst = \"32kb\"\n";

    #[test]
    fn qdisc_tbf_in_tc_units() {
        let c = ok(&qdisc(&format!("{TBF}latency = \"50ms\"\n")));
        assert_eq!(
            c.qdiscs,
            [QdiscConfig {
                port: 1,
                tbf: TbfParams {
                    rate: 20_000_000,
                    burst: 32768,
                    // tc: rate (bytes/s) * latency + burst
                    limit: 2_500_000 / 20 + 32768,
                    latency_us: Some(50_000),
                },
            }]
        );
        // Bare numbers take tc's default units (bit/s, bytes), limit in bytes.
        let c = ok(&qdisc(
            "port = \"port0\"\nkind = \"tbf\"\nrate = 1000000\nburst = 2000\nlimit = \"100kb\"\n\
             [[qdisc]]\nport = \"port1\"\nkind = \"tbf\"\nrate = \"1Gbit\"\nburst = \"1mb\"\nlimit = 2000000\n",
        ));
        assert_eq!(c.qdiscs.len(), 2);
        assert_eq!(c.qdiscs[0].port, 0);
        assert_eq!(
            c.qdiscs[0].tbf,
            TbfParams {
                rate: 1_000_000,
                burst: 2000,
                limit: 102_400,
                latency_us: None
            }
        );
        assert_eq!(c.qdiscs[1].tbf.rate, 1_000_000_000);
        assert_eq!(c.qdiscs[1].tbf.burst, 1 << 20);
        assert!(ok(&base()).qdiscs.is_empty());
    }

    #[test]
    fn qdisc_errors_name_the_key_and_value() {
        let q = |s: &str| qdisc(&s.replace("\\n", "\n"));
        fail(
            &q(&TBF.replace("port1", "port9")),
            "qdisc[0].port",
            "unknown port \"port9\"",
        );
        fail(&q("kind = \"tbf\"\n"), "qdisc[0].port", "required");
        fail(
            &q(&format!("{}limit = 100000\n", TBF.replace("tbf", "htb"))),
            "qdisc[0].kind",
            "unknown qdisc kind \"htb\"",
        );
        fail(
            &q(&format!(
                "{}limit = 100000\n",
                TBF.replace("20mbit", "fast")
            )),
            "qdisc[0].rate",
            "\"fast\" is not a rate",
        );
        fail(
            &q(&format!(
                "{}limit = 100000\n",
                TBF.replace("20mbit", "20mbits")
            )),
            "qdisc[0].rate",
            "unknown unit \"mbits\"",
        );
        fail(
            &q(&format!(
                "{}limit = 100000\n",
                TBF.replace("20mbit", "100bit")
            )),
            "qdisc[0].rate",
            "100bit is out of range",
        );
        fail(
            &q("port = \"port1\"\nkind = \"tbf\"\nburst = \"32kb\"\nlimit = 100000\n"),
            "qdisc[0].rate",
            "required",
        );
        fail(
            &q(&format!("{}limit = 100000\n", TBF.replace("32kb", "1kb"))),
            "qdisc[0].burst",
            "1024 bytes is out of range; must be from the port's largest frame (1514 bytes",
        );
        fail(
            &q(&format!("{}latency = \"50mins\"\n", TBF)),
            "qdisc[0].latency",
            "\"50mins\": unknown unit \"mins\"",
        );
        fail(
            &q(&format!("{}latency = \"50ms\"\nlimit = 100000\n", TBF)),
            "qdisc[0].latency",
            "not both",
        );
        fail(
            &q(TBF),
            "qdisc[0]",
            "`limit` (bytes that may wait) or `latency`",
        );
        fail(
            &q(&format!("{}limit = 1000\n", TBF)),
            "qdisc[0].limit",
            "limit 1000 bytes is out of range",
        );
        fail(
            &q(&format!("{}limit = 100000\npeakrate = \"30mbit\"\n", TBF)),
            "qdisc[0].peakrate",
            "not supported",
        );
        fail(
            &q(&format!("{}limit = 100000\nceil = \"30mbit\"\n", TBF)),
            "qdisc[0].ceil",
            "unknown field `ceil`",
        );
        fail(
            &q(&format!("{}limit = true\n", TBF)),
            "qdisc[0].limit",
            "expected a string with a tc unit",
        );
        fail(
            &q(&format!(
                "{TBF}limit = 100000\n[[qdisc]]\n{TBF}latency = \"1ms\"\n"
            )),
            "qdisc[1].port",
            "port \"port1\" already has a qdisc (qdisc[0])",
        );
        // A jumbo port needs a burst of at least one jumbo frame.
        fail(
            &q(&format!("{}limit = 100000\n", TBF.replace("32kb", "8kb"))).replace(
                "address = \"10.0.2.1/24\"",
                "address = \"10.0.2.1/24\"\nmtu = 9000",
            ),
            "qdisc[0].burst",
            "(9014 bytes",
        );
    }

    #[test]
    fn error_display_format() {
        let e = Config::parse(&with("[datapath]\nburst = 0\n"), "r.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.toml: datapath.burst: 0 is out of range; must be 1..=32"
        );
    }

    #[test]
    fn linux_cp_section() {
        assert!(!ok(&base()).linux_cp.enabled, "off without the section");
        let embedded = Config::parse(DEFAULT_CONFIG, DEFAULT_SOURCE).unwrap();
        assert!(embedded.linux_cp.enabled, "on in the embedded config");
        assert_eq!(embedded.linux_cp.netns, "ferroute-cp");
        let c = ok(&with(
            "[linux_cp]\nenabled = true\nnetns = \"cp1\"\nmirror_protocols = [\"bird\", \"zebra\", \"99\"]\nmirror_tables = [254, 1000]\n",
        ));
        assert_eq!(c.linux_cp.mirror.protocols, vec![12, 11, 99]);
        assert_eq!(c.linux_cp.mirror.tables, vec![254, 1000]);
        let cp = |kv: &str| with(&format!("[linux_cp]\n{kv}\n"));
        fail(
            &cp("netns = \"a/b\""),
            "linux_cp.netns",
            "\"a/b\": must be a file name",
        );
        fail(&cp("punt_burst = 0"), "linux_cp.punt_burst", "at least 1");
        fail(
            &cp("mirror_protocols = [\"bird\", \"birdd\"]"),
            "linux_cp.mirror_protocols[1]",
            "\"birdd\" is not a route protocol",
        );
        fail(
            &cp("mirror_tables = [0]"),
            "linux_cp.mirror_tables[0]",
            "out of range",
        );
        fail(&cp("tap = true"), "linux_cp.tap", "unknown field");
    }
}
