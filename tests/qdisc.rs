//! Egress shaping end to end: a 20 Mbit/s tbf on port1 (towards h2), measured with
//! iperf3 and ping between the two namespaces.
//!
//! On-wire accounting: the shaper counts Ethernet frames without FCS, as Linux's tbf
//! does; iperf3 reports UDP/TCP payload. With 1472-byte UDP datagrams a frame is 1514
//! bytes, so 20 Mbit/s of frames is 19.45 Mbit/s of payload.
mod common;

use common::{iperf_num, received, text, Lab};
use std::process::Child;
use std::time::{Duration, Instant};

const RATE: f64 = 20e6;
/// tbf rate 20mbit burst 32kb latency 50ms on port1: tc derives limit = 2.5e6 B/s *
/// 0.05 s + 32768 = 157768 bytes, so a packet waits at most limit / rate = 63.1 ms.
const SHAPER: &str = "[[qdisc]]\nport = \"port1\"\nkind = \"tbf\"\nrate = \"20mbit\"\n\
                      burst = \"32kb\"\nlatency = \"50ms\"\n";
const LIMIT: f64 = 157_768.0;
/// UDP payload per datagram: 1472 + 8 + 20 + 14 = a 1514-byte frame.
const UDP_LEN: &str = "1472";
const FRAME_PER_PAYLOAD: f64 = 1514.0 / 1472.0;

/// An iperf3 server in host `host`'s namespace for one test, on `port`.
fn server(lab: &Lab, host: usize, port: u16) -> Child {
    let addr = &lab.hosts[host].addr;
    let s = lab.spawn(
        host,
        &["iperf3", "-s", "-1", "-B", addr, "-p", &port.to_string()],
    );
    std::thread::sleep(Duration::from_millis(500));
    s
}

/// Runs an iperf3 client in `from` towards host `to` on `port` with `args`, returns
/// its JSON.
fn client(lab: &Lab, from: usize, to: usize, port: u16, args: &[&str]) -> String {
    let p = port.to_string();
    let mut v = vec!["iperf3", "-c", &lab.hosts[to].addr, "-p", &p, "-J"];
    v.extend_from_slice(args);
    let o = lab.exec(from, &v);
    let out = text(&o);
    assert!(o.status.success(), "iperf3 {args:?}: {out}");
    out
}

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// Round-trip times (ms) of a ping's replies.
fn rtts(ping_out: &str) -> Vec<f64> {
    ping_out
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("time="))
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// `ferroute ARGS` must succeed; its stdout.
fn ok(lab: &Lab, args: &[&str]) -> String {
    let o = lab.cli(args);
    assert!(o.status.success(), "ferroute {args:?} failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// A number after `word` in `text` ("backlog 1514b" -> 1514 for "backlog").
fn number_after(text: &str, word: &str) -> u64 {
    text.split_whitespace()
        .skip_while(|w| *w != word)
        .nth(1)
        .and_then(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no number after {word:?} in {text}"))
}

fn warm_arp(lab: &Lab) {
    let out = text(&lab.exec(0, &["ping", "-n", "-c", "2", "-i", "0.2", "10.0.2.2"]));
    assert_eq!(received(&out), 2, "{out}");
}

#[test]
fn udp_offered_at_200mbit_is_received_at_the_rate() {
    let lab = Lab::start("qudp", SHAPER);
    warm_arp(&lab);
    let idle = lab.counter("mempool_in_use");
    let show = ok(&lab, &["qdisc", "show", "dev", "port1"]);
    assert_eq!(
        show,
        "qdisc tbf 8001: dev port1 root rate 20Mbit burst 32Kb limit 157768b lat 50ms\n"
    );
    assert_eq!(ok(&lab, &["qdisc", "show", "dev", "port0"]), "");
    // A token bucket only keeps its rate if the worker runs at least every burst / rate
    // (13 ms here): tokens beyond `burst` are lost, as in Linux. Busy-polling routers of
    // other tests pinned to the same core can starve ours for longer, so a run that
    // misses the band is tried once more; a shaper that is wrong misses it both times.
    let secs = 8.0;
    let mut attempt = 0;
    let (before, sent, got, lost) = loop {
        attempt += 1;
        let before = lab.counters();
        let srv = server(&lab, 1, 5201);
        let json = client(
            &lab,
            0,
            1,
            5201,
            &["-u", "-b", "200M", "-l", UDP_LEN, "-t", "8"],
        );
        stop(srv);
        let sent = iperf_num(&json, "sum_sent", "bits_per_second");
        let got = iperf_num(&json, "sum_received", "bits_per_second");
        let packets = iperf_num(&json, "sum_received", "packets");
        let lost = iperf_num(&json, "sum_received", "lost_packets");
        eprintln!(
            "udp (attempt {attempt}): offered {:.1} Mbit/s, received {:.2} Mbit/s payload = \
             {:.2} Mbit/s of frames, {lost}/{packets} lost",
            sent / 1e6,
            got / 1e6,
            got * FRAME_PER_PAYLOAD / 1e6
        );
        if attempt == 2 || (got * FRAME_PER_PAYLOAD - RATE).abs() <= 0.02 * RATE {
            break (before, sent, got, lost);
        }
    };
    let wire = got * FRAME_PER_PAYLOAD;
    // The machine must really offer ~200 Mbit/s for the test to mean anything.
    assert!(sent > 150e6, "offered only {:.1} Mbit/s", sent / 1e6);
    // What the issue asks: received at 20 Mbit/s within 5 %.
    assert!(
        (got - RATE).abs() <= 0.05 * RATE,
        "received {:.2} Mbit/s, want 20 +- 5 %",
        got / 1e6
    );
    // And what the shaper controls, frames on the wire: within 2 % (the initial burst
    // and iperf3's own timing are the slack).
    assert!(
        (wire - RATE).abs() <= 0.02 * RATE,
        "{:.2} Mbit/s of frames",
        wire / 1e6
    );

    // The router's own account: every drop of the shaper is counted, as qdisc_overlimit,
    // and what left the qdisc matches what h2 received.
    std::thread::sleep(Duration::from_millis(300));
    let after = lab.counters();
    let delta = |k: &str| after[k] - before.get(k).copied().unwrap_or(0);
    let dropped = delta("qdisc port1 dropped");
    assert_eq!(delta("drop qdisc_overlimit"), dropped);
    assert_eq!(delta("drop qdisc_exceeds_burst"), 0);
    assert!(
        dropped as f64 >= 0.8 * lost,
        "dropped {dropped} vs lost {lost}"
    );
    let qsent = delta("qdisc port1 sent_bytes") as f64;
    assert!(
        (qsent * 8.0 / secs - RATE).abs() <= 0.05 * RATE,
        "qdisc sent {qsent} bytes in {secs} s"
    );
    assert_eq!(after["qdisc port1 backlog_packets"], 0);
    assert_eq!(after["qdisc port1 backlog_bytes"], 0);
    assert_eq!(after["qdisc port1 tokens_bytes"], 32768);
    // Prometheus has it too.
    let m = lab.scrape();
    assert_eq!(m["ferroute_qdisc_limit_bytes{port=\"port1\"}"], LIMIT);
    assert_eq!(
        m["ferroute_qdisc_dropped_packets_total{port=\"port1\"}"],
        after["qdisc port1 dropped"] as f64
    );
    assert!(!m.contains_key("ferroute_qdisc_limit_bytes{port=\"port0\"}"));
    lab.assert_pool_back_to(idle);
}

#[test]
fn tcp_settles_near_the_rate() {
    let lab = Lab::start("qtcp", SHAPER);
    warm_arp(&lab);
    let idle = lab.counter("mempool_in_use");
    let srv = server(&lab, 1, 5201);
    // 8 s, the first 2 s (slow start filling the queue) left out of the result.
    let json = client(&lab, 0, 1, 5201, &["-t", "8", "-O", "2"]);
    stop(srv);
    let got = iperf_num(&json, "sum_received", "bits_per_second");
    eprintln!("tcp: received {:.2} Mbit/s", got / 1e6);
    // TCP payload is 1448 of a 1514-byte frame (timestamps on): 19.13 Mbit/s at a full
    // link. The queue (157 KB) is far above the path's BDP, so the link stays busy; the
    // band allows 10 % below that for loss recovery and down to it, 2 % above the rate
    // for timing slack.
    assert!(
        (0.86 * RATE..=1.02 * RATE).contains(&got),
        "TCP at {:.2} Mbit/s through a 20 Mbit/s shaper",
        got / 1e6
    );
    lab.assert_pool_back_to(idle);
}

#[test]
fn ping_through_the_saturated_shaper_waits_at_most_limit_over_rate() {
    let lab = Lab::start("qpng", SHAPER);
    warm_arp(&lab);
    let idle = lab.counter("mempool_in_use");
    let srv = server(&lab, 1, 5201);
    let flood = lab.spawn(
        0,
        &[
            "iperf3", "-c", "10.0.2.2", "-p", "5201", "-u", "-b", "200M", "-l", UDP_LEN, "-t", "7",
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    // 50 echo requests through the full queue; each is accepted only when it fits
    // under the limit, so some are dropped (tail drop, as Linux's bfifo).
    let out = text(&lab.exec(
        0,
        &["ping", "-n", "-c", "50", "-i", "0.1", "-W", "2", "10.0.2.2"],
    ));
    // While the flood still runs (it ends 1 s after the pings): the queue is full.
    let show = ok(&lab, &["-stats", "qdisc"]);
    eprintln!("{show}");
    assert!(
        show.contains("qdisc tbf 8001: dev port1 root rate 20Mbit"),
        "{show}"
    );
    assert!(show.contains(" Sent "), "{show}");
    let _ = flood.wait_with_output();
    stop(srv);
    let t = rtts(&out);
    assert!(t.len() >= 3, "too few replies through the shaper: {out}");
    let max = t.iter().cloned().fold(0.0, f64::max);
    let avg = t.iter().sum::<f64>() / t.len() as f64;
    eprintln!(
        "ping: {} replies, avg {avg:.1} ms, max {max:.1} ms",
        t.len()
    );
    // The bound: tc's latency 50 ms plus burst / rate (13.1 ms), i.e. limit / rate =
    // 63.1 ms (a packet can find the queue full and the bucket empty), plus 10 ms for
    // the hosts' and the router's scheduling on this shared 2-core machine.
    let bound_ms = LIMIT * 8.0 / RATE * 1e3 + 10.0;
    assert!(max <= bound_ms, "max {max} ms > {bound_ms} ms: {out}");
    // And the queue really was full: the replies waited most of that bound.
    assert!(avg >= 40.0, "avg {avg} ms: was the shaper saturated? {out}");
    lab.assert_pool_back_to(idle);
}

/// Rate of a UDP flow h2 -> h1 (through port0, not shaped) offered at `rate`, while h1
/// floods h2 at 200 Mbit/s (through port1): bytes h1 received over the sender's 4 s.
/// (Not iperf3's receiver rate: the receiver's window ends with an exchange on the
/// control connection whose h1 -> h2 half crosses the saturated shaper, 63 ms late.)
fn reverse_udp_under_load(lab: &Lab, rate: &str) -> f64 {
    let srv_h2 = server(lab, 1, 5201);
    let srv_h1 = server(lab, 0, 5202);
    let flood = lab.spawn(
        0,
        &[
            "iperf3", "-c", "10.0.2.2", "-p", "5201", "-u", "-b", "200M", "-l", UDP_LEN, "-t", "6",
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    let json = client(
        lab,
        1,
        0,
        5202,
        &["-u", "-b", rate, "-l", UDP_LEN, "-t", "4"],
    );
    let _ = flood.wait_with_output();
    stop(srv_h1);
    stop(srv_h2);
    let bytes = iperf_num(&json, "sum_received", "bytes");
    let secs = iperf_num(&json, "sum_sent", "seconds");
    eprintln!(
        "h2 -> h1: {} of {} datagrams lost",
        iperf_num(&json, "sum_received", "lost_packets"),
        iperf_num(&json, "sum_received", "packets")
    );
    bytes * 8.0 / secs
}

#[test]
fn the_unshaped_direction_keeps_its_throughput() {
    // The best of two runs each, without and with the shaper: other work on this shared
    // machine (busy-polling routers of other tests pinned to the same core) can starve
    // the router for a moment in any single run, whichever it is.
    let best = |lab: &Lab| {
        warm_arp(lab);
        let a = reverse_udp_under_load(lab, "100M");
        a.max(reverse_udp_under_load(lab, "100M"))
    };
    let base = best(&Lab::start("qrv0", ""));
    let lab = Lab::start("qrv1", SHAPER);
    let idle = lab.counter("mempool_in_use");
    let shaped = best(&lab);
    eprintln!(
        "h2 -> h1 at 100 Mbit/s offered while h1 -> h2 floods: {:.1} Mbit/s without the \
         shaper, {:.1} Mbit/s with it",
        base / 1e6,
        shaped / 1e6
    );
    assert!(base > 90e6, "baseline only {:.1} Mbit/s", base / 1e6);
    assert!(
        shaped >= 0.95 * base,
        "with the shaper {:.1} vs {:.1} Mbit/s",
        shaped / 1e6,
        base / 1e6
    );
    lab.assert_pool_back_to(idle);
}

#[test]
fn fragments_are_shaped_like_any_packet() {
    // port1 at MTU 1280: fragmentation happens on output, before the qdisc, so the
    // shaper sees and counts the fragments, each as its own frame.
    let lab = Lab::start_ports("qfrg", ["", "mtu = 1280"], SHAPER);
    warm_arp(&lab);
    let idle = lab.counter("mempool_in_use");
    let before = lab.counters();
    let out = text(&lab.exec(
        0,
        &[
            "ping", "-n", "-c", "5", "-i", "0.2", "-W", "2", "-s", "1400", "-M", "dont", "10.0.2.2",
        ],
    ));
    assert_eq!(received(&out), 5, "{out}");
    let after = lab.counters();
    let delta = |k: &str| after[k] - before[k];
    // Each 1428-octet request leaves as 1276 + 172 octets of IP: frames of 1290 + 186.
    assert_eq!(delta("qdisc port1 sent_packets"), 10);
    assert_eq!(delta("qdisc port1 sent_bytes"), 5 * (1290 + 186));
    assert_eq!(delta("qdisc port1 dropped"), 0);
    lab.assert_pool_back_to(idle);
}

#[test]
fn qdiscs_are_replaced_and_deleted_at_run_time_without_losing_a_packet() {
    let lab = Lab::start("qrun", SHAPER);
    warm_arp(&lab);
    let idle = lab.counter("mempool_in_use");
    let srv = server(&lab, 1, 5201);
    let flood = lab.spawn(
        0,
        &[
            "iperf3", "-c", "10.0.2.2", "-p", "5201", "-u", "-b", "200M", "-l", UDP_LEN, "-t", "7",
        ],
    );
    std::thread::sleep(Duration::from_secs(2));
    // The queue is full (157768 bytes); replace the tbf with a smaller one, by limit.
    let full = ok(&lab, &["-stats", "qdisc", "show", "dev", "port1"]);
    assert!(number_after(&full, "backlog") > 100_000, "{full}");
    ok(
        &lab,
        &[
            "qdisc", "replace", "dev", "port1", "root", "tbf", "rate", "10mbit", "burst", "16kb",
            "limit", "64kb",
        ],
    );
    let show = ok(&lab, &["-stats", "qdisc", "show", "dev", "port1"]);
    assert!(
        show.starts_with("qdisc tbf 8001: dev port1 root rate 10Mbit burst 16Kb limit 64Kb\n"),
        "{show}"
    );
    assert!(number_after(&show, "backlog") <= 65536, "{show}");
    let dump = ok(&lab, &["config", "dump"]);
    assert!(
        dump.contains(
            "[[qdisc]]\nport = \"port1\"\nkind = \"tbf\"\nrate = \"10000000bit\"\n\
             burst = \"16Kb\"\nlimit = \"64Kb\"\n"
        ),
        "{dump}"
    );
    // The new rate holds: 1.25 MB/s of frames left the qdisc over a measured interval.
    std::thread::sleep(Duration::from_millis(500));
    let (t0, b0) = (Instant::now(), lab.counter("qdisc port1 sent_bytes"));
    std::thread::sleep(Duration::from_millis(1500));
    let (t1, b1) = (Instant::now(), lab.counter("qdisc port1 sent_bytes"));
    let rate = (b1 - b0) as f64 * 8.0 / (t1 - t0).as_secs_f64();
    eprintln!("after replace: {:.2} Mbit/s of frames", rate / 1e6);
    assert!(
        (rate - 10e6).abs() <= 0.1 * 10e6,
        "{:.2} Mbit/s",
        rate / 1e6
    );
    // Deleted while full: what waited goes out unshaped, then everything does.
    ok(&lab, &["qdisc", "del", "dev", "port1", "root"]);
    assert_eq!(ok(&lab, &["qdisc", "show"]), "");
    assert!(!lab.counters().contains_key("qdisc port1 sent_bytes"));
    let _ = flood.wait_with_output();
    stop(srv);
    assert!(lab.counter("drop qdisc_overlimit") > 0);
    // No mbuf was lost on the way: replaced and deleted queues were all accounted for.
    lab.assert_pool_back_to(idle);
}
