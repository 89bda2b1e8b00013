//! Config tests: `[[route]]`, `[[neighbor]]`, `[[qdisc]]`.

use super::*;

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
    fail_check(
        &mp(&format!(
            "{one}, {{ via = \"10.0.1.2\", port = \"port0\" }}"
        )),
        "route[0].nexthops[1]",
        "duplicate next hop (same as nexthops[0])",
    );
    fail_check(
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
    fail_check(
        &route("prefix = \"10.9.0.0/16\"\nvia = \"10.0.9.9\""),
        "route[0].via",
        "10.0.9.9 is not on a connected network",
    );
    fail_check(
        &route("prefix = \"10.9.0.0/16\"\nvia = \"10.0.1.2\"\nport = \"port1\""),
        "route[0].via",
        "10.0.1.2 is not on the connected network 10.0.2.0/24 of port \"port1\"",
    );
    fail_check(
        &route("prefix = \"10.9.0.0/16\"\nvia = \"10.0.2.1\""),
        "route[0].via",
        "own address",
    );
    fail_check(
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
    fail_check(
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
    fail_check(
        &neighbor("address = \"10.0.2.9\"\nmac = \"02:00:00:00:00:02\"\nport = \"port0\""),
        "neighbor[0].address",
        "of port \"port0\"",
    );
    fail_check(
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
    fail_check(
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
