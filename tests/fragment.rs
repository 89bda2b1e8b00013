//! Fragmentation, path MTU discovery and reassembly, end to end: the router's port
//! towards h2 has MTU 1280 while both hosts keep 1500, and real Linux tools (ping,
//! tracepath, iperf3, tcpdump) judge the result.
mod common;

use common::{iperf_num, received, run, text, Lab};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::{Duration, Instant};

/// Port lines: port0 keeps 1500, port1 (towards h2) gets 1280.
const MTU_1280: [&str; 2] = ["", "mtu = 1280"];

fn ping(lab: &Lab, host: usize, dst: &str, count: u32, extra: &[&str]) -> String {
    let c = count.to_string();
    let mut args = vec!["ping", "-n", "-c", &c, "-i", "0.05", "-W", "3"];
    args.extend_from_slice(extra);
    args.push(dst);
    text(&lab.exec(host, &args))
}

/// Counter changes between two `ferroute counters` readings.
fn delta(before: &HashMap<String, u64>, after: &HashMap<String, u64>, key: &str) -> u64 {
    let (b, a) = (before.get(key), after.get(key));
    let (Some(b), Some(a)) = (b, a) else {
        panic!("no counter {key:?}");
    };
    a - b
}

/// tcpdump in a host's namespace, started and listening before `start` returns.
struct Capture {
    child: Child,
}

impl Capture {
    /// Captures `count` packets matching `filter` on host `host`'s interface (gives up
    /// after 20 s).
    fn start(lab: &Lab, host: usize, count: u32, filter: &str) -> Capture {
        let n = count.to_string();
        let tap = lab.hosts[host].tap.clone();
        let mut child = lab.spawn(
            host,
            &[
                "timeout", "20", "tcpdump", "-l", "-n", "-v", "-i", &tap, "-c", &n, filter,
            ],
        );
        let stderr = child.stderr.take().expect("tcpdump stderr");
        let mut err = BufReader::new(stderr);
        let mut line = String::new();
        while err.read_line(&mut line).is_ok_and(|n| n > 0) {
            if line.contains("listening on") {
                break;
            }
            line.clear();
        }
        // Keep draining so tcpdump never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        Capture { child }
    }

    /// What tcpdump printed, once it has its packets (or timed out).
    fn finish(self) -> String {
        let o = self.child.wait_with_output().expect("tcpdump");
        String::from_utf8_lossy(&o.stdout).to_string()
    }
}

/// The lines of a `tcpdump -v` capture that are IP headers.
fn ip_lines(capture: &str) -> Vec<&str> {
    capture.lines().filter(|l| l.contains(" IP (")).collect()
}

#[test]
fn forwarded_datagrams_over_the_mtu_are_fragmented_or_answered_with_frag_needed() {
    let lab = Lab::start_ports("frg", MTU_1280, "");
    let idle = lab.counter("mempool_in_use");
    let h1 = &lab.hosts[0];
    // ARP both ways first, so the checks below see only their own packets.
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 1, &[])), 1);

    // DF clear: the router cuts each 1428-octet request into 1276 + 172 octets (1256
    // data octets, a multiple of 8, fit in 1280); h2's kernel reassembles and answers.
    let before = lab.counters();
    let cap = Capture::start(&lab, 1, 2, "icmp and src host 10.0.1.2");
    let out = ping(&lab, 0, "10.0.2.2", 5, &["-s", "1400", "-M", "dont"]);
    assert_eq!(received(&out), 5, "{out}");
    let seen = cap.finish();
    let lines = ip_lines(&seen);
    assert_eq!(lines.len(), 2, "{seen}");
    assert!(
        lines[0].contains("offset 0, flags [+]") && lines[0].contains("length 1276)"),
        "first fragment: {seen}"
    );
    assert!(
        lines[1].contains("offset 1256, flags [none]") && lines[1].contains("length 172)"),
        "last fragment: {seen}"
    );
    let after = lab.counters();
    // Requests only: the 1428-octet replies leave through port0, MTU 1500.
    assert_eq!(delta(&before, &after, "frag_packets"), 5);
    assert_eq!(delta(&before, &after, "frag_created"), 10);

    // DF set: "fragmentation needed" with the next-hop MTU (RFC 1191).
    let before = after;
    let out = ping(&lab, 0, "10.0.2.2", 2, &["-s", "1400", "-M", "do"]);
    assert!(
        out.contains("From 10.0.1.1 icmp_seq=1 Frag needed and DF set (mtu = 1280)"),
        "{out}"
    );
    let after = lab.counters();
    let sent = delta(&before, &after, "icmp_out frag_needed");
    assert!(sent >= 1, "{out}");
    assert_eq!(delta(&before, &after, "drop ip4_frag_needed"), sent);
    assert_eq!(delta(&before, &after, "frag_packets"), 0, "DF is never cut");

    // tracepath discovers the path MTU from the router's answer (h1 forgets what
    // ping taught it first).
    let flush = || {
        let o = run(&["ip", "-n", &h1.ns, "route", "flush", "cache"]);
        assert!(o.status.success(), "{}", text(&o));
    };
    flush();
    let before = lab.counters();
    let out = text(&lab.exec(0, &["tracepath", "-n", "10.0.2.2"]));
    eprintln!("tracepath:\n{out}");
    assert!(out.contains("Resume: pmtu 1280 hops 2"), "{out}");
    assert!(out.contains("10.0.1.1") && out.contains("reached"), "{out}");
    assert!(
        delta(&before, &lab.counters(), "icmp_out frag_needed") >= 1,
        "tracepath learned 1280 from the router: {out}"
    );

    // TCP: segments of 1460 octets with DF, frag needed, the sender drops to 1280.
    flush();
    let before = lab.counters();
    let mut server = lab.spawn(1, &["iperf3", "-s", "-1", "-B", "10.0.2.2"]);
    std::thread::sleep(Duration::from_millis(500));
    let o = lab.exec(0, &["iperf3", "-c", "10.0.2.2", "-t", "3", "-J"]);
    let _ = server.kill();
    let _ = server.wait();
    let out = text(&o);
    assert!(o.status.success(), "iperf3: {out}");
    let bytes = iperf_num(&out, "sum_received", "bytes") as u64;
    eprintln!("iperf3 TCP h1 -> h2 across MTU 1280: {bytes} bytes in 3 s");
    assert!(bytes > 1_000_000, "moved only {bytes} bytes");
    assert!(
        delta(&before, &lab.counters(), "icmp_out frag_needed") >= 1,
        "TCP found the path MTU through the router"
    );
    lab.assert_pool_back_to(idle);
}

#[test]
fn large_pings_to_the_router_are_reassembled_and_answered_in_fragments() {
    let lab = Lab::start_ports("rsm", MTU_1280, "");
    let idle = lab.counter("mempool_in_use");
    assert_eq!(received(&ping(&lab, 0, "10.0.1.1", 1, &[])), 1);
    assert_eq!(received(&ping(&lab, 1, "10.0.2.1", 1, &[])), 1);
    let before = lab.counters();

    // 4028 octets: h1 sends 3 fragments, the router answers in 3 (MTU 1500).
    let cap = Capture::start(&lab, 0, 3, "icmp and src host 10.0.1.1");
    let out = ping(&lab, 0, "10.0.1.1", 5, &["-s", "4000"]);
    assert_eq!(received(&out), 5, "{out}");
    assert!(out.contains("4008 bytes from 10.0.1.1"), "{out}");
    let seen = cap.finish();
    let lines = ip_lines(&seen);
    assert_eq!(lines.len(), 3, "{seen}");
    for (line, want) in lines.iter().zip([
        "offset 0, flags [+]",
        "offset 1480, flags [+]",
        "offset 2960, flags [none]",
    ]) {
        assert!(line.contains(want), "want {want}: {seen}");
    }
    // From h2, the answer leaves through port1 (MTU 1280) in 4 fragments.
    let out = ping(&lab, 1, "10.0.2.1", 5, &["-s", "4000"]);
    assert_eq!(received(&out), 5, "{out}");
    // The largest datagrams: 65028 octets, 44 fragments each way.
    let out = ping(&lab, 0, "10.0.1.1", 2, &["-s", "65000", "-i", "0.5"]);
    assert_eq!(received(&out), 2, "{out}");

    let after = lab.counters();
    let d = |k: &str| delta(&before, &after, k);
    assert_eq!(d("reasm_ok"), 12);
    assert_eq!(d("reasm_fragments"), 5 * 3 + 5 * 3 + 2 * 44);
    assert_eq!(d("icmp_out echo_reply"), 12);
    assert_eq!(d("frag_packets"), 12);
    assert_eq!(d("frag_created"), 5 * 3 + 5 * 4 + 2 * 44);
    for k in after.keys().filter(|k| k.starts_with("reasm_fail ")) {
        assert_eq!(d(k), 0, "{k}");
    }
    assert_eq!((after["reasm_bytes"], after["reasm_datagrams"]), (0, 0));
    let m = lab.scrape();
    assert!(m["ferroute_reassembled_datagrams_total"] >= 12.0);
    assert!(m["ferroute_fragments_created_total"] >= 123.0);
    assert_eq!(m["ferroute_reassembly_bytes"], 0.0);
    lab.assert_pool_back_to(idle);
}

#[test]
fn reassembly_failures_are_counted_and_timeouts_answered() {
    let lab = Lab::start("rfl", "[reassembly]\ntimeout_ms = 1000\n");
    let idle = lab.counter("mempool_in_use");
    let mac = lab.router_mac(0);
    // The router knows h1's MAC, for the ICMP errors.
    assert_eq!(received(&ping(&lab, 0, "10.0.1.1", 1, &[])), 1);
    let before = lab.counters();
    // Each timed-out datagram whose first fragment came is answered (frag_first 2,
    // frag_dup 3); frag_nofirst's 2 are not (RFC 792).
    let cap = Capture::start(&lab, 0, 5, "icmp[0] = 11");
    let (h1, r) = ("10.0.1.2", "10.0.1.1");
    for (kind, n) in [
        ("frag_overlap", 3),
        ("frag_inconsistent", 3),
        ("frag_oversize", 3),
        ("frag_dup", 3),
        ("frag_first", 2),
        ("frag_nofirst", 2),
    ] {
        lab.inject(kind, n, &mac, h1, r);
    }
    assert!(
        Lab::wait_for(Duration::from_secs(10), || {
            delta(&before, &lab.counters(), "reasm_fail timeout") >= 7
        }),
        "timeouts: {:?}",
        lab.counters()
    );
    let seen = cap.finish();
    std::thread::sleep(Duration::from_millis(300));
    let after = lab.counters();
    let d = |k: &str| delta(&before, &after, k);
    // (counter, change): each overlap and inconsistency discards both fragments.
    let want = [
        ("drop ip4_reasm_overlap", 6),
        ("reasm_fail overlap", 3),
        ("drop ip4_reasm_inconsistent", 6),
        ("reasm_fail inconsistent", 3),
        ("drop ip4_oversize", 3),
        ("reasm_fail oversize", 3),
        ("drop ip4_reasm_duplicate", 3),
        ("drop ip4_reasm_timeout", 3 + 2 + 2),
        ("reasm_fail timeout", 7),
        ("reasm_fail evicted", 0),
        ("icmp_out reasm_timeout", 5),
        ("reasm_ok", 0),
        ("reasm_fragments", 6 + 6 + 3 + 6 + 2 + 2),
    ];
    for (k, n) in want {
        assert_eq!(d(k), n, "{k}");
    }
    for k in after.keys().filter(|k| k.starts_with("drop ")) {
        let counted = want.iter().any(|(w, _)| w == k);
        if !counted && k != "drop eth_other_host" && k != "drop eth_unhandled_ethertype" {
            assert_eq!(d(k), 0, "{k} moved");
        }
    }
    // What h1 got: ICMP time exceeded, code 1, from the router.
    let answers = seen
        .lines()
        .filter(|l| l.contains("10.0.1.1 > 10.0.1.2: ICMP ip reassembly time exceeded"))
        .count();
    assert_eq!(answers, 5, "{seen}");
    assert_eq!((after["reasm_bytes"], after["reasm_datagrams"]), (0, 0));
    let m = lab.scrape();
    assert_eq!(
        m["ferroute_reassembly_failures_total{reason=\"overlap\"}"],
        3.0
    );
    assert_eq!(m["ferroute_icmp_sent_total{type=\"11\",code=\"1\"}"], 5.0);
    lab.assert_pool_back_to(idle);
}

#[test]
fn fragment_storm_stays_within_the_memory_bound_and_traffic_flows() {
    const MAX_BYTES: f64 = 131072.0;
    let lab = Lab::start_ports(
        "stm",
        MTU_1280,
        "[reassembly]\ntimeout_ms = 2000\nmax_bytes = 131072\n",
    );
    let idle = lab.counter("mempool_in_use");
    let mac = lab.router_mac(0);
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 1, &[])), 1);
    assert_eq!(received(&ping(&lab, 0, "10.0.1.1", 1, &[])), 1);
    let before = lab.counters();
    // During the storm: pings through the router and large pings to it.
    let through = lab.spawn(
        0,
        &[
            "ping", "-n", "-c", "150", "-i", "0.02", "-W", "3", "10.0.2.2",
        ],
    );
    let to_router = lab.spawn(
        0,
        &[
            "ping", "-n", "-c", "10", "-i", "0.25", "-W", "3", "-s", "4000", "10.0.1.1",
        ],
    );
    // 20000 incomplete datagrams of 1000 octets (about 1350 accounted octets each).
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/inject.py");
    let tap = lab.hosts[0].tap.clone();
    let start = Instant::now();
    let mut storm = lab.spawn(
        0,
        &[
            "python3",
            script,
            &tap,
            &mac,
            "10.0.1.2",
            "10.0.1.1",
            "frag_storm",
            "20000",
        ],
    );
    let (mut max_bytes, mut max_datagrams, mut samples) = (0.0f64, 0.0f64, 0);
    while storm.try_wait().expect("storm").is_none() {
        let m = lab.scrape();
        max_bytes = max_bytes.max(m["ferroute_reassembly_bytes"]);
        max_datagrams = max_datagrams.max(m["ferroute_reassembly_datagrams"]);
        samples += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = start.elapsed();
    let through = text(&through.wait_with_output().expect("ping"));
    let to_router = text(&to_router.wait_with_output().expect("ping"));
    let c = lab.counters();
    eprintln!(
        "storm of 20000 datagrams in {took:?}: peak {max_bytes} bytes, {max_datagrams} \
         datagrams over {samples} samples; evicted {}, reassembly queue full {}; \
         pings through {}/150, large pings to the router {}/10",
        delta(&before, &c, "reasm_fail evicted"),
        delta(&before, &c, "drop reasm_queue_full"),
        received(&through),
        received(&to_router),
    );
    assert!(samples >= 3, "the storm was sampled ({samples})");
    assert!(max_bytes > MAX_BYTES / 2.0, "the storm filled reassembly");
    assert!(max_bytes <= MAX_BYTES, "{max_bytes} > {MAX_BYTES}");
    // 131072 / (1000 + 64 + 34 + 256) octets per datagram.
    assert!(max_datagrams <= 96.0, "{max_datagrams}");
    assert!(delta(&before, &c, "reasm_fail evicted") >= 10_000);
    // Margins for a loaded 2-core machine: the kernel's tap queue, not the router,
    // loses a few pings when the storm and the router's threads fight for the CPUs.
    assert!(received(&through) >= 135, "{through}");
    assert!(received(&to_router) >= 5, "{to_router}");
    // The table empties by timeout; then large pings are answered again, every one.
    assert!(
        Lab::wait_for(Duration::from_secs(10), || lab.counter("reasm_datagrams")
            == 0),
        "reassembly did not empty"
    );
    assert_eq!(lab.counter("reasm_bytes"), 0);
    let out = ping(&lab, 0, "10.0.1.1", 3, &["-s", "4000", "-i", "0.2"]);
    assert_eq!(received(&out), 3, "{out}");
    let c = lab.counters();
    let timed_out = delta(&before, &c, "reasm_fail timeout");
    assert!((1..=96).contains(&timed_out), "{timed_out}");
    assert!(delta(&before, &c, "icmp_out reasm_timeout") <= timed_out);
    lab.assert_pool_back_to(idle);
}

#[test]
fn mtu_above_what_the_port_supports_is_refused_naming_the_key() {
    // net_tap accepts at most 1504 (1522-octet frames with a VLAN tag, less 18).
    let mut lab = Lab::launch_ports("mtx", ["", "mtu = 9000"], "", None);
    let mut status = None;
    assert!(
        Lab::wait_for(Duration::from_secs(30), || {
            status = lab
                .router
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            status.is_some()
        }),
        "router kept running with an MTU the port refuses"
    );
    assert!(!status.is_some_and(|s| s.success()));
    let log = lab.log_text();
    assert!(
        log.contains("port[1].mtu: 9000 is above what port port1") && log.contains("..=1504"),
        "{log}"
    );
    lab.router = None;
}
