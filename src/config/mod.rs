//! Router configuration: a TOML file (default embedded from `conf/router.toml`) parsed
//! into plain structs, with every value checked up front.
//!
//! Parsing happens in two steps. First the text is deserialized into private `Raw*`
//! structs (`deny_unknown_fields`, everything optional, integers as `i64`), so that
//! unknown keys and wrong value types are caught by serde; their error's span is mapped
//! back to a key path like `port[1].mtu` (`key_path.rs`). Then `Builder` checks ranges and
//! cross-references and produces a [`Config`] whose port references are indices.
//! Every error names the file, the key and the reason: see [`ConfigError`].
//!
//! One file per section (`ports.rs`, `routes.rs`, ...) holds its typed struct, its `Raw*`
//! struct and the `Builder` method that turns one into the other. The sections of
//! single settings (`[control]`, `[metrics]`, `[log]`, `[datapath]`, `[icmp]`, `[arp]`,
//! `[reassembly]`, `[ip]`) write each key once, with its doc, type, default and range
//! or parser, and `settings!` (`settings.rs`) makes the three. The object sections
//! (`[[port]]`, `[[route]]`, ...) keep a `Raw*` struct of the file's form beside the
//! typed one, which holds what it resolves to (port indices, parsed addresses).
//! `values.rs` has the value parsers they share, `eal_cores.rs` the EAL's
//! `-l`/`--lcores` lists.

use std::path::Path;

use serde::Deserialize;

use crate::datapath::punt::PuntLimits;
use addresses::RawAddress;
use control::RawControl;
use datapath::{RawArp, RawDatapath, RawIcmp, RawIp, RawPunt, RawReassembly};
use eal_cores::eal_cores;
use key_path::parse_raw;
use log_level::RawLog;
use metrics::RawMetrics;
use neighbors::RawNeighbor;
use ports::RawPort;
use qdiscs::RawQdisc;
use routes::RawRoute;
use values::{parse_addr, parse_net, parse_unicast_mac, reserved_host, Int, UnitText};
use workers::RawWorker;

/// The default configuration, compiled in.
pub const DEFAULT_CONFIG: &str = include_str!("../../conf/router.toml");
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

#[macro_use]
mod settings;
mod addresses;
mod control;
mod datapath;
mod eal_cores;
mod key_path;
mod log_level;
mod metrics;
mod neighbors;
mod nexthops;
mod ports;
mod qdiscs;
pub mod requests;
mod routes;
#[cfg(test)]
mod tests;
mod values;
mod workers;

pub use addresses::AddressConfig;
pub use control::ControlConfig;
pub use datapath::{ArpConfig, DatapathConfig, IcmpConfig, IpConfig, ReassemblyConfig};
pub use log_level::LogConfig;
pub use metrics::{MetricsConfig, DEFAULT_METRICS_LISTEN};
pub use neighbors::NeighborConfig;
pub use nexthops::NexthopConfig;
pub use ports::PortConfig;
pub use qdiscs::QdiscConfig;
pub use routes::RouteConfig;
pub use workers::{RxQueueRef, WorkerConfig};

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

#[path = "../linuxcp/config_parse.rs"]
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
        let routes = self.routes(raw.route, &ports)?;
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
}
