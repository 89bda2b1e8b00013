use std::net::{Ipv4Addr, SocketAddr};

use ipnet::Ipv4Net;

use super::key_path::line_column;
use super::*;
use crate::datapath::punt;
use crate::datapath::qdisc::TbfParams;
use crate::wire::MacAddr;

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
