//! The config applied as API requests, and `config dump` reloaded.
use super::*;

const BASE: &str = r#"
[control]
socket = "/tmp/ferroute-unit.sock"
[[port]]
name = "port0"
devargs = "net_tap0,iface=ftap0"
address = "10.0.1.1/24"
[[port]]
name = "port1"
devargs = "net_tap1,iface=ftap1"
address = "10.0.2.1/24"
mtu = 9000
[[worker]]
lcore = 1
rx = ["port0:0", "port1:0"]
[[address]]
port = "port1"
address = "10.0.4.1/24"
[[route]]
prefix = "10.9.0.0/16"
via = "10.0.2.2"
[[route]]
prefix = "10.9.0.0/16"
via = "10.0.4.2"
[[route]]
prefix = "0.0.0.0/0"
type = "blackhole"
metric = 100
[[neighbor]]
address = "10.0.2.2"
mac = "02:00:00:00:02:02"
[[qdisc]]
port = "port1"
kind = "tbf"
rate = "20mbit"
burst = "64kb"
latency = "50ms"
"#;

/// A router state as `daemon` builds it from config text, without DPDK.
fn from_config(text: &str) -> T {
    let cfg = Config::parse(text, "unit.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    let ports = cfg
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| PortState {
            mtu: p.mtu,
            ..port(i as u16)
        })
        .collect();
    let mut t = T {
        rtnl: Rtnl::new(shared(), ports),
        table: NeighTable::new(NeighParams::default()),
        actions: Vec::new(),
        seq: 0,
    };
    t.rtnl.base = Some(cfg.clone());
    let ids: Vec<u16> = (0..cfg.ports.len() as u16).collect();
    let mut env = TableEnv {
        table: &mut t.table,
        actions: &mut t.actions,
    };
    crate::daemon::check::apply_config(&cfg, &ids, &mut t.rtnl, &mut env).unwrap();
    t
}

fn dump_config(t: &mut T) -> String {
    match &t.ok(FR_GETCONFIG, 0, Body::Empty)[0].body {
        Body::Text(s) => s.clone(),
        b => panic!("{b:?}"),
    }
}

#[test]
fn config_is_applied_as_messages_in_one_version() {
    let mut t = from_config(BASE);
    assert_eq!(t.version(), 1, "the whole config is FIB version 1");
    assert_eq!(t.lookup("10.9.0.1"), gw(1, "10.0.2.2"));
    assert_eq!(t.lookup("10.0.4.9"), Some(NextHop::Connected { port: 1 }));
    assert_eq!(t.lookup("8.8.8.8"), Some(NextHop::Blackhole));
    assert_eq!(
        t.table
            .get(NeighKey::new(1, ip("10.0.2.2")))
            .map(|n| n.state),
        Some(NeighState::Permanent)
    );
    let b = t.rtnl.shared.qdisc.get(1).expect("[[qdisc]] installed");
    assert_eq!(
        (b.params.rate, b.params.burst, b.params.latency_us),
        (20_000_000, 65536, Some(50_000))
    );
    // A config error names the key.
    let cfg = Config::parse(
        &BASE.replace(
            "10.0.2.2\"\n[[route]]",
            "10.0.2.2\"\nport = \"port1\"\n[[route]]",
        ),
        "u.toml",
    )
    .unwrap();
    let mut t2 = T {
        rtnl: Rtnl::new(shared(), vec![port(0), port(1)]),
        table: NeighTable::new(NeighParams::default()),
        actions: Vec::new(),
        seq: 0,
    };
    let mut env = TableEnv {
        table: &mut t2.table,
        actions: &mut t2.actions,
    };
    // Port 1 down before the routes: the route through it is refused with the key.
    t2.rtnl.handle(
        &Message::new(RTM_NEWLINK, NLM_F_REQUEST, 1, link(P1, Some(false), None)),
        &mut env,
        &mut Vec::new(),
    );
    let e = crate::daemon::check::apply_config(&cfg, &[0, 1], &mut t2.rtnl, &mut env)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("u.toml: route[0]: nexthop device port1 is not up (ENETDOWN)"),
        "{e}"
    );
}

#[test]
fn config_dump_reloaded_reproduces_the_state() {
    let mut t = from_config(BASE);
    // Runtime changes on top of the file.
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.77.0.0/16", Some("10.0.1.2"), Some(P0), Some(7)),
    );
    t.ok(
        RTM_NEWROUTE,
        NLM_F_CREATE | NLM_F_APPEND,
        route("10.77.0.0/16", Some("10.0.1.3"), None, Some(7)),
    );
    t.ok(
        RTM_NEWROUTE,
        ADD,
        typed("10.78.0.0/16", RouteType::Prohibit),
    );
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.79.0.0/16", None, Some(P0), None),
    );
    let hops = [
        hop(Some("10.0.1.2"), None, 1),
        hop(Some("10.0.2.2"), None, 3),
        hop(None, Some(P1), 2),
    ];
    t.ok(RTM_NEWROUTE, ADD, multipath("10.80.0.0/16", &hops));
    t.ok(RTM_DELROUTE, 0, del("0.0.0.0/0"));
    t.ok(RTM_NEWADDR, ADD, addr(P0, "10.0.3.1", 24));
    t.ok(
        RTM_NEWNEIGH,
        ADD,
        neigh(P0, "10.0.3.5", Some([2, 0, 0, 0, 3, 5]), Nud::Permanent),
    );
    t.ok(RTM_NEWLINK, 0, link(P0, None, Some(1400)));
    t.ok(
        RTM_NEWQDISC,
        ADD,
        Body::Qdisc(QdiscMsg {
            ifindex: P0,
            parent: TC_H_ROOT,
            kind: Some("tbf".into()),
            tbf: Some(TbfSpec {
                rate: 125_000,
                burst: 3000,
                latency_us: 0,
                limit: 10_000,
            }),
            ..QdiscMsg::default()
        }),
    );
    let text = dump_config(&mut t);
    let mut u = from_config(&text);
    assert_eq!(u.rtnl.qdiscs(), t.rtnl.qdiscs(), "{text}");
    assert_eq!(t.rtnl.qdiscs().len(), 2);
    assert_eq!(u.routes(), t.routes(), "{text}");
    assert_eq!(u.rtnl.ports(), t.rtnl.ports(), "{text}");
    let statics = |t: &T| -> Vec<(NeighKey, Option<MacAddr>)> {
        t.table
            .dump()
            .into_iter()
            .filter(|n| n.state == NeighState::Permanent)
            .map(|n| (n.key, n.mac))
            .collect()
    };
    assert_eq!(statics(&u), statics(&t));
    // Dumping the reloaded state gives the same file (a fixed point).
    assert_eq!(dump_config(&mut u), text);
    // A port left down is dumped as such and restarts down.
    t.ok(RTM_NEWLINK, 0, link(P1, Some(false), None));
    let text = dump_config(&mut t);
    assert!(text.contains("up = false"), "{text}");
    let mut u = from_config(&text);
    assert_eq!(u.routes(), t.routes());
    assert_eq!(u.rtnl.ports(), t.rtnl.ports());
}

#[test]
fn a_long_text_reply_goes_in_parts_up_to_done() {
    // A text over one part (256 KiB; a `config dump` of tens of thousands of routes): FR_TEXT
    // parts flagged NLM_F_MULTI with the request's seq, then NLMSG_DONE; joined, the text.
    // A short one is a single message without the flag.
    let long: String = (0..40_000).map(|i| format!("route é{i}\n")).collect();
    let mut out = Vec::new();
    crate::rtnl::status::text(9, long.clone(), &mut out);
    let (done, parts) = out.split_last().expect("messages");
    assert!(parts.len() >= 2, "{} parts", parts.len());
    assert_eq!((done.kind, done.seq), (NLMSG_DONE, 9));
    let mut joined = String::new();
    for m in parts {
        assert_eq!(
            (m.kind, m.flags & NLM_F_MULTI, m.seq),
            (FR_TEXT, NLM_F_MULTI, 9)
        );
        match &m.body {
            Body::Text(t) => joined.push_str(t),
            other => panic!("{other:?}"),
        }
        assert!(m.to_bytes().len() < MAX_MSG_LEN);
    }
    assert_eq!(joined, long);
    let mut out = Vec::new();
    crate::rtnl::status::text(10, "ready yes\n".into(), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].kind, out[0].flags), (FR_TEXT, 0));
}
