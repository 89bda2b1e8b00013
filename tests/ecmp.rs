//! ECMP end to end: a multipath route through next hops that are macvlans on h2's side
//! of port1 (each with its own MAC and address). h1 sends many UDP flows (distinct
//! source ports) to a prefix behind them; tcpdump in h2 tells which macvlan each packet
//! reached. Each flow must stick to one next hop, the split must follow the weights, and
//! adding or removing a next hop must move only the flows that must move.
mod common;

use common::{text, Lab};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::Duration;

/// Flows (source ports) and packets per flow in a round.
const FLOWS: u16 = 240;
const PER_FLOW: u16 = 3;
const SPORT: u16 = 20000;
const DST: &str = "10.9.0.1";
const GW: [&str; 3] = ["10.0.2.11", "10.0.2.12", "10.0.2.13"];

/// Sends `per_flow` rounds of one datagram from each of `flows` sockets bound to
/// 10.0.1.2:SPORT.. to DST:9.
const SENDER: &str = r#"
import socket, sys, time
dst, flows, per_flow, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
socks = []
for i in range(flows):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.0.1.2", base + i))
    socks.append(s)
for r in range(per_flow):
    for i, s in enumerate(socks):
        s.sendto(b"ecmp", (dst, 9))
        if i % 16 == 15:
            time.sleep(0.002)
"#;

fn ok(o: std::process::Output, what: &str) {
    assert!(o.status.success(), "{what}: {}", text(&o));
}

/// h2 gets macvlans on its tap, mv1 = 10.0.2.11, mv2 = 10.0.2.12, mv3 = 10.0.2.13; ARP is
/// answered only by the interface holding the address (arp_ignore=1), so each address has
/// one MAC.
fn macvlans(lab: &Lab) {
    let h2 = &lab.hosts[1];
    for k in ["all", "default"] {
        for (key, v) in [("arp_ignore", "1"), ("arp_announce", "2")] {
            let s = format!("net.ipv4.conf.{k}.{key}={v}");
            ok(lab.exec(1, &["sysctl", "-qw", &s]), &s);
        }
    }
    for (i, gw) in GW.iter().enumerate() {
        let mv = format!("mv{}", i + 1);
        for cmd in [
            vec!["ip", "link", "add", &mv, "link", &h2.tap, "type", "macvlan"],
            vec!["sysctl", "-qw", &format!("net.ipv4.conf.{mv}.arp_ignore=1")],
            vec!["ip", "addr", "add", &format!("{gw}/24"), "dev", &mv],
            vec!["ip", "link", "set", &mv, "up"],
        ] {
            let o = lab.exec(1, &cmd);
            ok(o, &format!("{cmd:?}"));
        }
    }
}

/// tcpdump on all of h2's interfaces for the UDP to DST, until `count` packets.
struct Capture {
    child: Child,
}

impl Capture {
    fn start(lab: &Lab, count: u32) -> Capture {
        let n = count.to_string();
        let filter = format!("udp and dst host {DST}");
        let mut child = lab.spawn(
            1,
            &[
                "timeout", "30", "tcpdump", "-l", "-n", "-t", "-i", "any", "-c", &n, &filter,
            ],
        );
        let mut err = BufReader::new(child.stderr.take().expect("tcpdump stderr"));
        let mut line = String::new();
        while err.read_line(&mut line).is_ok_and(|n| n > 0) {
            if line.contains("listening on") {
                break;
            }
            line.clear();
        }
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        Capture { child }
    }

    /// Per source port, the macvlans its packets reached (one entry per packet).
    fn finish(self) -> BTreeMap<u16, Vec<String>> {
        let o = self.child.wait_with_output().expect("tcpdump");
        let mut per_flow: BTreeMap<u16, Vec<String>> = BTreeMap::new();
        // "mv1   In  IP 10.0.1.2.20017 > 10.9.0.1.9: UDP, length 4"
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            let (Some(dev), Some(src)) = (w.first(), w.get(3)) else {
                continue;
            };
            if !dev.starts_with("mv") {
                continue; // the same packet on the tap below the macvlans
            }
            let Some(port) = src.rsplit('.').next().and_then(|p| p.parse().ok()) else {
                continue;
            };
            per_flow.entry(port).or_default().push(dev.to_string());
        }
        per_flow
    }
}

/// One round of every flow; per flow, the one macvlan all its packets reached.
fn round(lab: &Lab) -> BTreeMap<u16, String> {
    // Each packet shows twice on `any`: on the tap, then on its macvlan.
    let cap = Capture::start(lab, 2 * u32::from(FLOWS) * u32::from(PER_FLOW));
    send(lab, PER_FLOW);
    let per_flow = cap.finish();
    assert_eq!(
        per_flow.len(),
        usize::from(FLOWS),
        "flows seen: {per_flow:?}"
    );
    per_flow
        .into_iter()
        .map(|(port, devs)| {
            assert_eq!(devs.len(), usize::from(PER_FLOW), "flow {port}: {devs:?}");
            assert!(
                devs.iter().all(|d| *d == devs[0]),
                "flow {port} took several paths: {devs:?}"
            );
            (port, devs[0].clone())
        })
        .collect()
}

fn send(lab: &Lab, per_flow: u16) {
    let (flows, per, base) = (FLOWS.to_string(), per_flow.to_string(), SPORT.to_string());
    let o = lab.exec(0, &["python3", "-c", SENDER, DST, &flows, &per, &base]);
    ok(o, "sender");
}

/// The share of flows on `dev`.
fn share(paths: &BTreeMap<u16, String>, dev: &str) -> f64 {
    paths.values().filter(|d| *d == dev).count() as f64 / paths.len() as f64
}

/// Asserts that between `a` and `b` flows moved only to or from `dev`.
fn only_moved_via(a: &BTreeMap<u16, String>, b: &BTreeMap<u16, String>, dev: &str) {
    for (port, before) in a {
        let after = &b[port];
        assert!(
            before == after || before == dev || after == dev,
            "flow {port} moved from {before} to {after}, not via {dev}"
        );
    }
}

#[test]
fn flows_stick_to_one_next_hop_and_split_by_the_weights() {
    let lab = Lab::start("ecmp", "");
    let idle = lab.counter("mempool_in_use");
    macvlans(&lab);
    // `route VERB 10.9.0.0/24 nexthop via GW[i] weight W[i] ...` for the weights given.
    let add = |verb: &str, w: &[&str]| {
        let mut args = vec!["route", verb, "10.9.0.0/24"];
        for (gw, w) in GW.iter().zip(w) {
            args.extend(["nexthop", "via", gw, "weight", w]);
        }
        ok(lab.cli(&args), &format!("{args:?}"));
    };
    add("add", &["1", "1"]);
    let shown = text(&lab.cli(&["route", "show", "10.9.0.0/24"]));
    assert_eq!(
        shown.trim_end(),
        "10.9.0.0/24 proto static\n\tnexthop via 10.0.2.11 dev port1 weight 1\n\
         \tnexthop via 10.0.2.12 dev port1 weight 1",
        "{shown}"
    );
    // ARP for the next hops first (the first packets wait for it), then the rounds.
    let resolved = |gws: &[&str]| {
        send(&lab, 1);
        assert!(Lab::wait_for(Duration::from_secs(5), || {
            let n = text(&lab.cli(&["neigh"]));
            gws.iter()
                .all(|g| n.contains(&format!("{g} dev port1 lladdr")))
        }));
        std::thread::sleep(Duration::from_millis(300));
    };
    resolved(&GW[..2]);

    // 1:1, twice: the same flows take the same paths.
    let even = round(&lab);
    let s = share(&even, "mv2");
    assert!(
        (s - 0.5).abs() <= 0.10,
        "1:1 puts {s:.3} of the flows on mv2"
    );
    assert_eq!(round(&lab), even, "a flow changed path between rounds");

    // 1:2 by replacing the route: only flows from mv1 move (to mv2).
    add("replace", &["1", "2"]);
    let heavier = round(&lab);
    let s = share(&heavier, "mv2");
    assert!(
        (s - 2.0 / 3.0).abs() <= 0.10,
        "1:2 puts {s:.3} of the flows on mv2"
    );
    for (port, dev) in &even {
        if dev == "mv2" {
            assert_eq!(
                heavier[port], "mv2",
                "flow {port} left mv2 for a heavier mv2"
            );
        }
    }

    // A third next hop (1:2:1): it takes about a quarter of the flows, from both others;
    // no flow moves between mv1 and mv2.
    add("replace", &["1", "2", "1"]);
    resolved(&GW);
    let three = round(&lab);
    only_moved_via(&heavier, &three, "mv3");
    let s3 = share(&three, "mv3");
    assert!((s3 - 0.25).abs() <= 0.10, "mv3 has {s3:.3} of the flows");
    // Removed again: only its flows move.
    add("replace", &["1", "2"]);
    let two = round(&lab);
    only_moved_via(&three, &two, "mv3");
    assert_eq!(share(&two, "mv3"), 0.0);
    eprintln!(
        "ecmp: {FLOWS} flows x {PER_FLOW}: 1:1 -> {:.3} on mv2, 1:2 -> {s:.3} on mv2, \
         1:2:1 -> {s3:.3} on mv3",
        share(&even, "mv2")
    );
    lab.assert_pool_back_to(idle);
}
