//! Config tests: the helpers, the embedded default, file-level errors (syntax, unknown keys, types); one file per topic beside.

use std::net::{Ipv4Addr, SocketAddr};

use ipnet::Ipv4Net;

use super::key_path::line_column;
use super::*;
use crate::api::RouteType;
use crate::datapath::punt;
use crate::datapath::qdisc::TbfParams;
use crate::wire::MacAddr;

mod objects;
mod ports;
mod settings;
mod workers;

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

/// As [`fail`], for what the API judges: the text parses, and `ferroute check` (the
/// config applied to a scratch API state) refuses it.
fn fail_check(text: &str, key: &str, fragment: &str) -> ConfigError {
    let cfg = ok(text);
    let e = match crate::daemon::check::check(&cfg) {
        Ok(()) => panic!("accepted, expected {key}: ...{fragment}...\n---\n{text}"),
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
fn error_display_format() {
    let e = Config::parse(&with("[datapath]\nburst = 0\n"), "r.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "r.toml: datapath.burst: 0 is out of range; must be 1..=32"
    );
}
