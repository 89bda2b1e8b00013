//! N workers: the real router with 2 workers and 2 RX queues per net_tap port, many flows
//! from h1 to h2. net_tap's kernel side (tun, multiqueue) puts each packet the host sends
//! into one of the tap's queues by a hash of its flow, as RSS does on a NIC, so each flow
//! should be carried by one worker, in order, and the flows spread over both workers.
//!
//! The machine has 2 cores: the main lcore runs on CPU 0, both workers (lcores 1 and 2)
//! share CPU 1 (`--lcores 0@0,1@1,2@1`).
mod common;

use common::{received, text, Lab, Layout};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// UDP flows: source ports BASE_SPORT.., one destination port.
const FLOWS: usize = 32;
const BASE_SPORT: u16 = 40000;
const DPORT: u16 = 5000;
/// The worker lcores.
const LCORES: [u32; 2] = [1, 2];
/// Datagrams of a flow sent on their own, to see which worker carries it.
const PROBE: u64 = 40;
/// Datagrams of every flow sent with all flows interleaved, and the rate in all.
const ROUND: u64 = 150;
const ROUND_PPS: u64 = 6000;
/// Parallel iperf3 TCP streams.
const TCP_STREAMS: usize = 16;
/// ARP frames the router may receive during one measurement besides the test's traffic
/// (the hosts' refreshes and answers to the router's probes; IPv6 is off in the
/// namespaces), at most.
const MAX_ARP: u64 = 10;
/// Datagrams lost on the way, at most (1 %). The only place they may be lost is h1's
/// tap, whose queues drop when the workers that drain them (both on one CPU shared with
/// other work) are off the CPU for long; the test counts them there, and the router
/// itself must drop nothing.
const MAX_LOSS_PERMILLE: u64 = 10;

/// flows.py in a host's namespace, driven a line at a time.
struct Flows {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    what: &'static str,
}

impl Flows {
    fn spawn(lab: &Lab, host: usize, what: &'static str, args: &[&str]) -> Flows {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/flows.py");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.hosts[host].ns, "python3", script])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn flows.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Flows {
            child,
            stdin,
            lines,
            what,
        }
    }

    fn ask(&mut self, cmd: &str, timeout: Duration) -> String {
        writeln!(self.stdin, "{cmd}")
            .and_then(|_| self.stdin.flush())
            .unwrap_or_else(|e| panic!("{}: {cmd}: {e}", self.what));
        self.lines
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("{}: no answer to {cmd:?} in {timeout:?}: {e}", self.what))
    }

    /// Sends and returns how many datagrams the kernel took.
    fn send(&mut self, cmd: &str) -> u64 {
        let a = self.ask(cmd, Duration::from_secs(20));
        a.strip_prefix("sent ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("sender: {cmd:?} answered {a:?}"))
    }
}

impl Drop for Flows {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What h2's receiver counted, per flow.
#[derive(Debug, Clone, Default, PartialEq)]
struct FlowStats {
    received: u64,
    reordered: u64,
    duplicates: u64,
}

#[derive(Debug, Clone)]
struct RecvStats {
    total: u64,
    bad: u64,
    flows: Vec<FlowStats>,
}

impl RecvStats {
    fn received(&self) -> u64 {
        self.flows.iter().map(|f| f.received).sum()
    }
}

fn recv_stats(rx: &mut Flows) -> RecvStats {
    let line = rx.ask("stats", Duration::from_secs(10));
    let j: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("receiver: {e}: {line}"));
    let n = |v: &serde_json::Value| v.as_i64().unwrap_or_else(|| panic!("{line}")).max(0) as u64;
    RecvStats {
        total: n(&j["total"]),
        bad: n(&j["bad"]),
        flows: j["flows"]
            .as_array()
            .unwrap_or_else(|| panic!("{line}"))
            .iter()
            .map(|f| FlowStats {
                received: n(&f[0]),
                reordered: n(&f[1]),
                duplicates: n(&f[2]),
            })
            .collect(),
    }
}

/// Waits until h2 has received `want` datagrams in all, or nothing more came for 2 s.
fn wait_received(rx: &mut Flows, want: u64) -> RecvStats {
    let end = Instant::now() + Duration::from_secs(15);
    let mut last = recv_stats(rx);
    let mut since = Instant::now();
    while last.received() < want && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        let s = recv_stats(rx);
        if s.received() != last.received() {
            since = Instant::now();
        } else if since.elapsed() > Duration::from_secs(2) {
            return s;
        }
        last = s;
    }
    last
}

type Metrics = HashMap<String, f64>;

fn get(m: &Metrics, series: &str) -> u64 {
    m.get(series)
        .unwrap_or_else(|| panic!("no series {series} in /metrics"))
        .max(0.0) as u64
}

fn lcore(m: &Metrics, field: &str, lcore: u32) -> u64 {
    get(
        m,
        &format!("ferroute_lcore_{field}_total{{lcore=\"{lcore}\"}}"),
    )
}

fn port(m: &Metrics, field: &str, port: usize) -> u64 {
    get(
        m,
        &format!("ferroute_port_{field}_total{{port=\"port{port}\"}}"),
    )
}

/// Packets each worker received (its RX bursts).
fn per_worker(m: &Metrics) -> [u64; 2] {
    LCORES.map(|l| lcore(m, "burst_packets", l))
}

/// Checks that the receive counters agree, every worker's and every port's: the workers'
/// burst packets sum to the ports' RX counts, the datapath's and the PMD's.
fn assert_rx_adds_up(m: &Metrics) {
    let workers: u64 = per_worker(m).iter().sum();
    let sw: u64 = (0..2).map(|p| port(m, "rx_packets", p)).sum();
    let pmd: u64 = (0..2).map(|p| port(m, "pmd_rx_packets", p)).sum();
    assert_eq!(
        (workers, sw),
        (pmd, pmd),
        "RX packets: sum over workers, sum over ports (datapath), sum over ports (PMD)"
    );
}

/// `/metrics` once the workers have received `want` more packets than in `before` (or
/// 3 s passed), and their counters stopped moving.
fn metrics_after(lab: &Lab, before: &Metrics, want: u64) -> Metrics {
    let base: u64 = per_worker(before).iter().sum();
    let end = Instant::now() + Duration::from_secs(3);
    let mut m = lab.scrape();
    loop {
        let got: u64 = per_worker(&m).iter().sum::<u64>() - base;
        if got >= want || Instant::now() >= end {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        m = lab.scrape();
    }
    // Settled: two reads 100 ms apart agree, and the RX counters add up.
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        let again = lab.scrape();
        let sums = |m: &Metrics| {
            let w: u64 = per_worker(m).iter().sum();
            let p: u64 = (0..2).map(|p| port(m, "pmd_rx_packets", p)).sum();
            (w, p)
        };
        let (w, p) = sums(&again);
        if sums(&m) == (w, p) && w == p {
            return again;
        }
        m = again;
    }
    m
}

/// Packets the workers received between two reads that they did not forward: those
/// handed to the control thread (ARP). Asserts that these and forwarded ones are all
/// there were (nothing dropped, nothing for the router itself).
fn punted_only(m0: &Metrics, m1: &Metrics) -> u64 {
    let rx: u64 = (0..2).map(|w| per_worker(m1)[w] - per_worker(m0)[w]).sum();
    let delta = |f: &str| -> u64 { (0..2).map(|p| port(m1, f, p) - port(m0, f, p)).sum() };
    let (fwd, dropped, local) = (
        delta("forwarded_packets"),
        delta("dropped_packets"),
        delta("delivered_packets"),
    );
    let punted =
        get(m1, "ferroute_punted_packets_total") - get(m0, "ferroute_punted_packets_total");
    assert_eq!(
        (dropped, local, rx),
        (0, 0, fwd + punted),
        "dropped, delivered, received by the workers vs forwarded {fwd} + punted {punted}"
    );
    assert!(
        punted <= MAX_ARP,
        "{punted} packets punted to the control thread"
    );
    punted
}

/// A counter of a host's kernel: `/sys/class/net/TAP/statistics/NAME` in its namespace.
fn tap_stat(lab: &Lab, host: usize, name: &str) -> u64 {
    let path = format!("/sys/class/net/{}/statistics/{name}", lab.hosts[host].tap);
    let o = lab.exec(host, &["cat", &path]);
    text(&o)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{path}: {}", text(&o)))
}

/// Datagrams h2's UDP layer dropped (`Udp: InErrors` in /proc/net/snmp: socket buffer
/// full, bad checksums).
fn h2_udp_in_errors(lab: &Lab) -> u64 {
    let snmp = text(&lab.exec(1, &["cat", "/proc/net/snmp"]));
    let udp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Udp: ")).collect();
    assert_eq!(udp.len(), 2, "{snmp}");
    let names = udp[0].split_whitespace();
    let values = udp[1].split_whitespace();
    names
        .zip(values)
        .find(|(n, _)| *n == "InErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no Udp InErrors: {snmp}"))
}

/// Every `drop REASON` of `ferroute counters` that moved between two reads.
fn drops_moved(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> Vec<String> {
    after
        .iter()
        .filter(|(k, v)| k.starts_with("drop ") && before.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k} +{}", v - before.get(k).copied().unwrap_or(0)))
        .collect()
}

#[test]
fn two_workers_carry_every_flow_in_order_each_flow_on_one_worker() {
    let layout = Layout {
        lcores: r#""--lcores", "0@0,1@1,2@1""#.into(),
        workers: "[[worker]]\nlcore = 1\nrx = [\"port0:0\", \"port1:0\"]\n\
                  [[worker]]\nlcore = 2\nrx = [\"port0:1\", \"port1:1\"]\n"
            .into(),
    };
    let lab = Lab::start_layout("wrk", &layout, "");
    let log = lab.log_text();
    for want in [
        "worker 0 on lcore 1 polls port0:0, port1:0",
        "worker 1 on lcore 2 polls port0:1, port1:1",
    ] {
        assert!(log.contains(want), "log lacks {want:?}:\n{log}");
    }
    assert_eq!(log.matches("2 RX queue(s)").count(), 2, "{log}");
    // RSS is configured (net_tap accepts it, though tun chooses the queues itself).
    assert_eq!(log.matches("RSS over 2 RX queues").count(), 2, "{log}");
    for h in 0..2 {
        // The kernel side of each tap has the two queues, one per worker.
        let tap = &lab.hosts[h].tap;
        let d = text(&lab.exec(h, &["ip", "-d", "link", "show", "dev", tap]));
        assert!(d.contains("multi_queue numqueues 2 "), "{d}");
        // No IPv6 noise (router solicitations, MLD) in the per-worker counts.
        let o = lab.exec(h, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    // ARP on both sides before the flows start.
    let out = text(&lab.exec(
        0,
        &["ping", "-n", "-c", "3", "-i", "0.1", "-W", "2", "10.0.2.2"],
    ));
    assert_eq!(received(&out), 3, "{out}");

    let dport = DPORT.to_string();
    let sport = BASE_SPORT.to_string();
    let nflows = FLOWS.to_string();
    let mut rx = Flows::spawn(&lab, 1, "receiver", &["recv", "10.0.2.2", &dport, &nflows]);
    let mut tx = Flows::spawn(
        &lab,
        0,
        "sender",
        &["send", "10.0.1.2", "10.0.2.2", &dport, &sport, &nflows],
    );
    // Both are up (their sockets bound) once they answer.
    assert_eq!(recv_stats(&mut rx).total, 0);
    assert_eq!(tx.send("one 0 0 1"), 0);
    let idle = lab.counter("mempool_in_use");

    // 1. Each flow on its own: which worker carries it.
    let mut worker_of = [0usize; FLOWS];
    let mut probe_lost = 0;
    let mut m = lab.scrape();
    assert_rx_adds_up(&m);
    let mut got = recv_stats(&mut rx);
    for (f, w) in worker_of.iter_mut().enumerate() {
        let sent = tx.send(&format!("one {f} {PROBE} 4000"));
        let now = wait_received(&mut rx, got.received() + sent);
        let n = now.flows[f].received - got.flows[f].received;
        probe_lost += sent - n;
        let after = metrics_after(&lab, &m, n);
        let (a, b) = (per_worker(&after), per_worker(&m));
        let d = [a[0] - b[0], a[1] - b[1]];
        *w = if d[0] >= d[1] { 0 } else { 1 };
        let arp = punted_only(&m, &after);
        let fwd = port(&after, "forwarded_packets", 0) - port(&m, "forwarded_packets", 0);
        // The other worker received nothing but (at most) the ARP frames.
        assert!(
            n > 0 && fwd >= n && d[*w] >= fwd && d[1 - *w] <= arp,
            "flow {f} (source port {}): {n} of {sent} datagrams arrived, {fwd} forwarded; \
             the workers received {d:?} packets meanwhile ({arp} ARP): one worker should \
             have them all",
            BASE_SPORT as usize + f
        );
        assert_rx_adds_up(&after);
        m = after;
        got = now;
    }
    let flows_on = [0, 1].map(|w| worker_of.iter().filter(|&&x| x == w).count());
    println!(
        "flows per worker (lcores {LCORES:?}): {flows_on:?}; worker of each flow: {worker_of:?}"
    );
    assert!(
        flows_on.iter().all(|&n| n > 0),
        "all {FLOWS} flows on one worker: {worker_of:?} (the tap does not spread flows?)"
    );

    // 2. All flows at once, interleaved: in order, none lost in the router, each flow
    //    still on its worker, and the counters add up.
    let c0 = lab.counters();
    let m0 = lab.scrape();
    let (h1_drop0, h2_err0) = (tap_stat(&lab, 0, "tx_dropped"), h2_udp_in_errors(&lab));
    let before = recv_stats(&mut rx);
    let sent = tx.send(&format!("all {ROUND} {ROUND_PPS}"));
    let after = wait_received(&mut rx, before.received() + sent);
    let m1 = metrics_after(&lab, &m0, after.received() - before.received());
    let c1 = lab.counters();
    let h1_lost = tap_stat(&lab, 0, "tx_dropped") - h1_drop0;
    let h2_lost = h2_udp_in_errors(&lab) - h2_err0;
    let got = after.received() - before.received();
    let per_flow: Vec<u64> = (0..FLOWS)
        .map(|f| after.flows[f].received - before.flows[f].received)
        .collect();
    let d = [0, 1].map(|w| per_worker(&m1)[w] - per_worker(&m0)[w]);
    let predicted = [0, 1].map(|w| {
        (0..FLOWS)
            .filter(|&f| worker_of[f] == w)
            .map(|f| per_flow[f])
            .sum::<u64>()
    });
    let forwarded = port(&m1, "forwarded_packets", 0) - port(&m0, "forwarded_packets", 0);
    let tx1 = port(&m1, "tx_packets", 1) - port(&m0, "tx_packets", 1);
    println!(
        "{FLOWS} flows x {ROUND} datagrams interleaved: sent {sent}, received {got}, lost at \
         h1's tap {h1_lost}, at h2's UDP {h2_lost}; forwarded {forwarded}; per worker {d:?} \
         (from the flows' workers {predicted:?}); probes lost {probe_lost}"
    );
    assert_eq!((after.bad, after.total), (0, after.received()), "{after:?}");
    for (f, s) in after.flows.iter().enumerate() {
        assert_eq!(
            (s.reordered, s.duplicates),
            (0, 0),
            "flow {f}: reordered/duplicated datagrams: {s:?}"
        );
        assert!(per_flow[f] > 0, "flow {f}: nothing arrived: {per_flow:?}");
    }
    let moved = drops_moved(&c0, &c1);
    assert!(moved.is_empty(), "the router dropped packets: {moved:?}");
    assert_eq!(
        sent,
        got + h1_lost + h2_lost,
        "every datagram sent arrived or was counted lost by a host's kernel"
    );
    assert!(
        (sent - got + probe_lost) * 1000 <= (sent + FLOWS as u64 * PROBE) * MAX_LOSS_PERMILLE,
        "lost {} of {sent} (+ {probe_lost} of the probes)",
        sent - got
    );
    // Per port: the router forwarded from port0 exactly what reached h2's UDP layer.
    assert_eq!(
        forwarded,
        got + h2_lost,
        "port0 forwarded vs received at h2"
    );
    assert!(
        tx1 >= forwarded && tx1 <= forwarded + MAX_ARP,
        "port1 sent {tx1}, forwarded {forwarded}"
    );
    // Per worker: each received what its flows carried (each flow stayed on the worker
    // it was on alone), and both worked.
    let arp = punted_only(&m0, &m1);
    for w in 0..2 {
        assert!(
            d[w] >= predicted[w] && d[w] <= predicted[w] + h2_lost + arp,
            "worker {w} (lcore {}) received {} packets; its flows carried {} ({arp} ARP \
             meanwhile)",
            LCORES[w],
            d[w],
            predicted[w]
        );
        let busy = lcore(&m1, "busy_cycles", LCORES[w]) - lcore(&m0, "busy_cycles", LCORES[w]);
        assert!(busy > 0, "lcore {} no busy cycles", LCORES[w]);
    }
    assert_rx_adds_up(&m1);
    drop(tx);
    drop(rx);

    // 3. TCP, both directions through both workers: iperf3 with parallel streams (by the
    //    tap's flow hash, all of them on one worker has a chance of 2^-(STREAMS-1)).
    let mut server = lab.spawn(1, &["iperf3", "-s", "-1", "-B", "10.0.2.2"]);
    assert!(
        Lab::wait_for(Duration::from_secs(10), || text(
            &lab.exec(1, &["ss", "-Hltn", "sport = :5201"])
        )
        .contains("10.0.2.2:5201")),
        "iperf3 server not listening"
    );
    let m0 = lab.scrape();
    let taps0 = [
        tap_stat(&lab, 0, "tx_dropped"),
        tap_stat(&lab, 1, "tx_dropped"),
    ];
    let streams = TCP_STREAMS.to_string();
    let o = lab.exec(
        0,
        &["iperf3", "-c", "10.0.2.2", "-P", &streams, "-t", "2", "-J"],
    );
    let _ = server.kill();
    let _ = server.wait();
    let out = text(&o);
    assert!(o.status.success(), "iperf3: {out}");
    let j: serde_json::Value = serde_json::from_str(&String::from_utf8_lossy(&o.stdout))
        .unwrap_or_else(|e| panic!("iperf3 JSON: {e}: {out}"));
    let bytes: Vec<u64> = j["end"]["streams"]
        .as_array()
        .unwrap_or_else(|| panic!("no end.streams: {out}"))
        .iter()
        .map(|s| s["receiver"]["bytes"].as_u64().unwrap_or(0))
        .collect();
    let total = j["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0);
    let retransmits = j["end"]["sum_sent"]["retransmits"].as_u64().unwrap_or(0);
    let m1 = metrics_after(&lab, &m0, 0);
    let taps = [0, 1].map(|h| tap_stat(&lab, h, "tx_dropped") - taps0[h]);
    let d = [0, 1].map(|w| per_worker(&m1)[w] - per_worker(&m0)[w]);
    let fwd: u64 = (0..2)
        .map(|p| port(&m1, "forwarded_packets", p) - port(&m0, "forwarded_packets", p))
        .sum();
    println!(
        "iperf3 -P {TCP_STREAMS}: {total} bytes received, {retransmits} retransmits \
         (dropped by the hosts' taps: {taps:?}); packets per worker {d:?}, forwarded {fwd}"
    );
    assert_eq!(bytes.len(), TCP_STREAMS, "{out}");
    assert!(
        bytes.iter().all(|&b| b > 0) && total > 1_000_000,
        "iperf3 streams received {bytes:?}"
    );
    assert!(
        d.iter().all(|&n| n >= 100),
        "both workers carry TCP streams: {d:?}"
    );
    // Everything the workers received was forwarded (ARP aside).
    punted_only(&m0, &m1);
    assert_rx_adds_up(&m1);

    // Nothing leaked: the pool is back at its idle level once traffic stops.
    lab.assert_pool_back_to(idle);
}
