//! Config tests: The sections of single settings: datapath, icmp, punt, ip, reassembly, arp, control, log, metrics, eal, linux_cp.

use super::*;

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
