//! `ferroute -j` against the real `ip -j` and `tc -j`: the same state is built in the
//! router (a Lab) and in a scratch network namespace whose veth ends carry the router's
//! port names, and the parsed JSON is compared object by object. Keys must be the same
//! and values equal, except the fields listed in each comparison as necessarily
//! different (with the reason next to them).
mod common;

use common::{run, text, Lab};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// A namespace with `port0` and `port1` (veth, peers `peer0`/`peer1`), IPv6 off so that
/// only IPv4 shows; deleted on drop, also when the test fails.
struct Scratch {
    ns: String,
}

impl Scratch {
    fn new() -> Scratch {
        let ns = format!("frjson-{}", std::process::id());
        let _ = run(&["ip", "netns", "del", &ns]);
        let s = Scratch { ns };
        s.ok(&["ip", "netns", "add", &s.ns]);
        for k in ["all", "default"] {
            let key = format!("net.ipv6.conf.{k}.disable_ipv6=1");
            s.exec(&["sysctl", "-qw", &key]);
        }
        for i in 0..2 {
            let (p, q) = (format!("port{i}"), format!("peer{i}"));
            s.ip(&["link", "add", &p, "type", "veth", "peer", "name", &q]);
            s.ip(&["link", "set", &q, "up"]);
            s.ip(&["link", "set", &p, "up"]);
        }
        s
    }

    fn ok(&self, cmd: &[&str]) {
        let o = run(cmd);
        assert!(o.status.success(), "{cmd:?}: {}", text(&o));
    }

    fn exec(&self, cmd: &[&str]) {
        let mut v = vec!["ip", "netns", "exec", &self.ns];
        v.extend_from_slice(cmd);
        self.ok(&v);
    }

    fn ip(&self, args: &[&str]) {
        let mut v = vec!["ip", "-n", &self.ns];
        v.extend_from_slice(args);
        self.ok(&v);
    }

    fn tc(&self, args: &[&str]) {
        let mut v = vec!["tc", "-n", &self.ns];
        v.extend_from_slice(args);
        self.ok(&v);
    }

    /// `TOOL -n NS -j ARGS` parsed.
    fn json(&self, tool: &str, args: &[&str]) -> Value {
        let mut v = vec![tool, "-n", &self.ns, "-j"];
        v.extend_from_slice(args);
        let o = run(&v);
        assert!(o.status.success(), "{v:?}: {}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{v:?}: {e}: {}", text(&o)))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.ns]);
    }
}

fn ours(lab: &Lab, args: &[&str]) -> Value {
    let mut v = vec!["-j"];
    v.extend_from_slice(args);
    let o = lab.cli(&v);
    assert!(o.status.success(), "ferroute {v:?}: {}", text(&o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("ferroute {v:?}: {e}: {}", text(&o)))
}

fn obj<'a>(v: &'a Value, what: &str) -> &'a Map<String, Value> {
    v.as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {v}"))
}

/// How a field may differ between the two.
#[derive(Clone, Copy)]
enum Differs {
    /// Present in both, values may differ.
    Value,
    /// Only iproute2 has it.
    LinuxOnly,
    /// A number within one of the other.
    ByOne,
    /// A list of names, both with these removed.
    Without(&'static [&'static str]),
}

/// Compares one object; returns the number of fields compared.
fn same(what: &str, mine: &Value, linux: &Value, differs: &[(&str, Differs)]) -> usize {
    let (m, l) = (obj(mine, what), obj(linux, what));
    let rule = |k: &str| differs.iter().find(|(d, _)| *d == k).map(|(_, r)| *r);
    let mk: BTreeSet<&str> = m.keys().map(String::as_str).collect();
    let lk: BTreeSet<&str> = l
        .keys()
        .map(String::as_str)
        .filter(|k| !matches!(rule(k), Some(Differs::LinuxOnly)))
        .collect();
    assert_eq!(
        mk, lk,
        "{what}: keys differ\n ferroute {mine}\n linux    {linux}"
    );
    for k in &mk {
        let (a, b) = (&m[*k], &l[*k]);
        match rule(k) {
            Some(Differs::Value) => {
                assert_eq!(
                    std::mem::discriminant(a),
                    std::mem::discriminant(b),
                    "{what}.{k}: types differ: {a} vs {b}"
                );
            }
            Some(Differs::ByOne) => {
                let (x, y) = (a.as_i64().unwrap_or(-9), b.as_i64().unwrap_or(9));
                assert!((x - y).abs() <= 1, "{what}.{k}: {a} vs {b}");
            }
            Some(Differs::Without(names)) => {
                let strip = |v: &'_ Value| -> Vec<Value> {
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .filter(|n| !names.iter().any(|x| n.as_str() == Some(x)))
                        .cloned()
                        .collect()
                };
                let (a, b) = (strip(a), strip(b));
                assert_eq!(a, b, "{what}.{k}");
            }
            _ => assert_eq!(a, b, "{what}.{k}\n ferroute {mine}\n linux    {linux}"),
        }
    }
    mk.len()
}

/// The objects of a list by a key field (`dst`, `ifname`, `dev`).
fn by<'a>(list: &'a Value, key: &str, what: &str) -> Vec<(String, &'a Value)> {
    list.as_array()
        .unwrap_or_else(|| panic!("{what}: not a list: {list}"))
        .iter()
        .map(|o| {
            let k = o[key]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: no {key}: {o}"));
            (k.to_string(), o)
        })
        .collect()
}

/// Compares two lists keyed by `key`, only Linux's objects whose key `keep` accepts;
/// every such object must be in both. Returns (objects, fields) compared.
fn same_list(
    what: &str,
    mine: &Value,
    linux: &Value,
    key: &str,
    keep: impl Fn(&str) -> bool,
    differs: &[(&str, Differs)],
) -> (usize, usize) {
    let m = by(mine, key, what);
    let l: Vec<_> = by(linux, key, what)
        .into_iter()
        .filter(|(k, _)| keep(k))
        .collect();
    let mk: BTreeSet<&String> = m.iter().map(|(k, _)| k).filter(|k| keep(k)).collect();
    let lk: BTreeSet<&String> = l.iter().map(|(k, _)| k).collect();
    assert_eq!(
        mk, lk,
        "{what}: objects differ\n ferroute {mine}\n linux    {linux}"
    );
    let mut fields = 0;
    for (k, lo) in &l {
        let (_, mo) = m.iter().find(|(x, _)| x == k).expect("matched above");
        fields += same(&format!("{what} {k}"), mo, lo, differs);
    }
    (l.len(), fields)
}

/// Link fields that cannot match: the kernel's ifindex and a veth's random MAC, and
/// what a veth has that a DPDK port does not.
const LINK: &[(&str, Differs)] = &[
    ("ifindex", Differs::Value),
    ("address", Differs::Value),
    // The veth's peer: ferroute's ports have none.
    ("link", Differs::LinuxOnly),
    // The kernel's queue in front of a device; a DPDK port has its TX rings only.
    ("txqlen", Differs::LinuxOnly),
    // veth supports multicast; ferroute's ports are unicast and broadcast only. And
    // net_tap reads the carrier from its tap's flags, which it cannot once the tap has
    // moved into the host's namespace (as in every Lab): ferroute says NO-CARRIER and
    // state DOWN where the veth has LOWER_UP and UP. Both are compared as present.
    (
        "flags",
        Differs::Without(&["MULTICAST", "NO-CARRIER", "LOWER_UP"]),
    ),
    ("operstate", Differs::Value),
];

#[test]
fn json_is_what_iproute2_and_tc_print() {
    let lab = Lab::start("json", "");
    let linux = Scratch::new();
    let h1_mac = {
        let o = lab.exec(
            0,
            &[
                "cat",
                &format!("/sys/class/net/{}/address", lab.hosts[0].tap),
            ],
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    // The router's own state (its config), then the same changes on both sides.
    linux.ip(&["addr", "add", "10.0.1.1/24", "brd", "+", "dev", "port0"]);
    linux.ip(&["addr", "add", "10.0.2.1/24", "brd", "+", "dev", "port1"]);
    let both: &[(&[&str], &[&str])] = &[
        (
            &["addr", "add", "10.0.3.1/24", "dev", "port0"],
            &["addr", "add", "10.0.3.1/24", "brd", "+", "dev", "port0"],
        ),
        (
            &["addr", "add", "10.0.1.5/24", "dev", "port0"],
            &["addr", "add", "10.0.1.5/24", "brd", "+", "dev", "port0"],
        ),
        (
            &["link", "set", "port1", "mtu", "1280"],
            &["link", "set", "port1", "mtu", "1280"],
        ),
        // ferroute's routes are `proto static`; ip's default is `boot`.
        (
            &["route", "add", "10.9.0.0/16", "via", "10.0.2.2"],
            &[
                "route",
                "add",
                "10.9.0.0/16",
                "via",
                "10.0.2.2",
                "proto",
                "static",
            ],
        ),
        (
            &[
                "route",
                "add",
                "10.8.0.0/16",
                "via",
                "10.0.2.2",
                "metric",
                "10",
            ],
            &[
                "route",
                "add",
                "10.8.0.0/16",
                "via",
                "10.0.2.2",
                "metric",
                "10",
                "proto",
                "static",
            ],
        ),
        (
            &["route", "add", "10.7.7.0/24", "dev", "port0"],
            &[
                "route",
                "add",
                "10.7.7.0/24",
                "dev",
                "port0",
                "proto",
                "static",
            ],
        ),
        (
            &["route", "add", "default", "via", "10.0.1.2"],
            &[
                "route", "add", "default", "via", "10.0.1.2", "proto", "static",
            ],
        ),
        // Multipath: `nexthops` with gateway, dev, weight and flags per next hop.
        (
            &[
                "route",
                "add",
                "10.3.0.0/16",
                "nexthop",
                "via",
                "10.0.1.2",
                "nexthop",
                "via",
                "10.0.2.2",
                "dev",
                "port1",
                "weight",
                "2",
            ],
            &[
                "route",
                "add",
                "10.3.0.0/16",
                "proto",
                "static",
                "nexthop",
                "via",
                "10.0.1.2",
                "nexthop",
                "via",
                "10.0.2.2",
                "dev",
                "port1",
                "weight",
                "2",
            ],
        ),
        (
            &["route", "add", "blackhole", "10.6.0.0/16"],
            &[
                "route",
                "add",
                "blackhole",
                "10.6.0.0/16",
                "proto",
                "static",
            ],
        ),
        (
            &["route", "add", "unreachable", "10.5.0.0/16"],
            &[
                "route",
                "add",
                "unreachable",
                "10.5.0.0/16",
                "proto",
                "static",
            ],
        ),
        (
            &["route", "add", "prohibit", "10.4.0.0/16"],
            &["route", "add", "prohibit", "10.4.0.0/16", "proto", "static"],
        ),
        (
            &[
                "neigh",
                "add",
                "10.0.2.7",
                "lladdr",
                "02:00:00:00:02:07",
                "dev",
                "port1",
            ],
            &[
                "neigh",
                "add",
                "10.0.2.7",
                "lladdr",
                "02:00:00:00:02:07",
                "dev",
                "port1",
            ],
        ),
    ];
    for (mine, theirs) in both {
        let o = lab.cli(mine);
        assert!(o.status.success(), "ferroute {mine:?}: {}", text(&o));
        linux.ip(theirs);
    }
    let tbf = [
        "qdisc", "replace", "dev", "port1", "root", "tbf", "rate", "20mbit", "burst", "32kb",
        "latency", "50ms",
    ];
    let o = lab.cli(&tbf);
    assert!(o.status.success(), "ferroute {tbf:?}: {}", text(&o));
    linux.tc(&tbf);
    // A learnt neighbour: h1 pings the router; Linux gets the same entry by hand.
    let o = lab.exec(0, &["ping", "-c", "1", "-W", "2", "10.0.1.1"]);
    assert!(o.status.success(), "ping: {}", text(&o));
    linux.ip(&[
        "neigh",
        "replace",
        "10.0.1.2",
        "lladdr",
        &h1_mac,
        "dev",
        "port0",
        "nud",
        "reachable",
    ]);

    let mut objects = 0;
    let mut fields = 0;
    let mut tally = |what: &str, (o, f): (usize, usize)| {
        eprintln!("{what}: {o} objects, {f} fields compared");
        objects += o;
        fields += f;
    };
    let any = |_: &str| true;
    let port = |d: &str| d == "port0" || d == "port1";

    // Routes: main, local and all tables.
    tally(
        "route",
        same_list(
            "route",
            &ours(&lab, &["route"]),
            &linux.json("ip", &["route"]),
            "dst",
            any,
            &[],
        ),
    );
    for t in ["local", "all"] {
        let args = ["route", "show", "table", t];
        tally(
            &format!("route table {t}"),
            same_list(
                "route",
                &ours(&lab, &args),
                &linux.json("ip", &args),
                "dst",
                any,
                &[],
            ),
        );
    }
    // Abbreviations give the same answer.
    assert_eq!(ours(&lab, &["ro", "sh"]), ours(&lab, &["route", "show"]));
    for dst in ["10.9.1.1", "10.0.2.2"] {
        let args = ["route", "get", dst];
        tally(
            &format!("route get {dst}"),
            same_list(
                "route get",
                &ours(&lab, &args),
                &linux.json("ip", &args),
                "dst",
                any,
                &[],
            ),
        );
    }

    // Neighbours: the permanent one exactly; the learnt one's state depends on timing.
    let neigh = (ours(&lab, &["neigh"]), linux.json("ip", &["neigh"]));
    tally(
        "neigh",
        same_list("neigh", &neigh.0, &neigh.1, "dst", |d| d == "10.0.2.7", &[]),
    );
    tally(
        "neigh learnt",
        same_list(
            "neigh",
            &neigh.0,
            &neigh.1,
            "dst",
            |d| d == "10.0.1.2",
            &[("state", Differs::Value)],
        ),
    );

    // Links and addresses.
    tally(
        "link",
        same_list(
            "link",
            &ours(&lab, &["link"]),
            &linux.json("ip", &["link"]),
            "ifname",
            port,
            LINK,
        ),
    );
    tally(
        "addr",
        same_list(
            "addr",
            &ours(&lab, &["addr"]),
            &linux.json("ip", &["addr"]),
            "ifname",
            port,
            LINK,
        ),
    );
    // `-s link`: the counters themselves differ (different traffic), their shape not.
    let stats_rules: Vec<(&str, Differs)> = LINK
        .iter()
        .copied()
        .chain([("stats64", Differs::Value)])
        .collect();
    let (m, l) = (
        ours(&lab, &["-s", "link"]),
        linux.json("ip", &["-s", "link"]),
    );
    tally(
        "link -s",
        same_list("link -s", &m, &l, "ifname", port, &stats_rules),
    );
    for side in ["rx", "tx"] {
        let counters = |v: &Value| -> Vec<String> {
            v[0]["stats64"][side]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let lp: Vec<&Value> = l
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["ifname"] == "port0")
            .collect();
        assert_eq!(
            counters(&m),
            counters(&Value::Array(lp.into_iter().cloned().collect())),
            "stats64.{side} keys"
        );
    }

    // Qdiscs: tc's refcnt is the kernel's reference count (3 for a tbf on a veth); the
    // kernel numbers automatic handles from a counter of its own (8001:, 8002:, ... as
    // qdiscs were made before, by anyone); tc reads the burst back through the kernel's
    // tick conversion (32768 -> 32767): the options are compared on their own below.
    let qdisc_rules = [
        ("refcnt", Differs::Value),
        ("handle", Differs::Value),
        ("options", Differs::Value),
    ];
    let mine = ours(&lab, &["qdisc"]);
    let theirs = linux.json("tc", &["qdisc", "show"]);
    tally(
        "qdisc",
        same_list("qdisc", &mine, &theirs, "dev", port, &qdisc_rules),
    );
    let opts = |v: &Value, dev: &str| -> Value {
        v.as_array()
            .unwrap()
            .iter()
            .find(|q| q["dev"] == dev)
            .map(|q| q["options"].clone())
            .unwrap_or(Value::Null)
    };
    tally(
        "qdisc options",
        (
            1,
            same(
                "tbf options",
                &opts(&mine, "port1"),
                &opts(&theirs, "port1"),
                &[("burst", Differs::ByOne)],
            ),
        ),
    );
    for stats in [false, true] {
        let mut args = vec!["qdisc", "show", "dev", "port1"];
        if stats {
            args.insert(0, "-s");
        }
        let (m, l) = (ours(&lab, &args), linux.json("tc", &args));
        let mut rules = qdisc_rules.to_vec();
        if stats {
            // Traffic: the router sent ARP through its tbf, the veth sent nothing.
            for k in ["bytes", "packets", "drops", "backlog", "qlen"] {
                rules.push((k, Differs::Value));
            }
        }
        let (m, l) = (&m[0], &l[0]);
        tally(
            &format!("qdisc show dev -s={stats}"),
            (1, same("qdisc dev", m, l, &rules)),
        );
    }
    eprintln!("json: {objects} objects, {fields} fields compared with iproute2/tc");
    assert!(objects >= 30, "{objects} objects compared");
}
