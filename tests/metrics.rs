//! The Prometheus endpoint of a real router: promtool's linter on its output, a real
//! Prometheus server scraping it while pings flow, every drop reason a crafted frame
//! can reach moving alone, and `ferroute stats`.
mod common;

use common::{free_local_addr, http_get, received, run, text, Lab};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn ping(lab: &Lab, host: usize, dst: &str, count: u32, interval: &str) -> String {
    let c = count.to_string();
    text(&lab.exec(
        host,
        &["ping", "-n", "-q", "-c", &c, "-i", interval, "-W", "2", dst],
    ))
}

fn drops(reason: &str) -> String {
    format!("ferroute_drops_total{{reason=\"{reason}\"}}")
}

fn port_series(name: &str, port: &str) -> String {
    format!("ferroute_port_{name}{{port=\"{port}\"}}")
}

/// `promtool check metrics` on `body`: (success, promtool's output).
fn promtool_check(body: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/install-deps.sh installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool");
    (out.status.success(), text(&out))
}

#[test]
fn endpoint_serves_lint_clean_metrics_and_only_metrics() {
    let lab = Lab::start("mtx", "");
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 3, "0.05")), 3);
    assert_eq!(received(&ping(&lab, 1, "10.0.2.1", 2, "0.05")), 2);

    let (status, head, body) = http_get(lab.metrics, "/metrics");
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let (ok, out) = promtool_check(&body);
    assert!(ok, "promtool check metrics:\n{out}\n---\n{body}");

    let m = ferroute::metrics::parse(&body);
    let v = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no {k} in\n{body}"));
    for port in ["port0", "port1"] {
        assert!(v(&port_series("rx_packets_total", port)) >= 3.0);
        assert!(v(&port_series("pmd_rx_packets_total", port)) >= 3.0);
        assert!(v(&port_series("pmd_tx_bytes_total", port)) > 0.0);
        // net_tap reads the link state of its kernel interface by name in the router's
        // namespace, where it no longer is once moved to the host's: only 0 or 1 here.
        assert!([0.0, 1.0].contains(&v(&port_series("link_up", port))));
    }
    assert!(v(&port_series("forwarded_packets_total", "port0")) >= 3.0);
    assert!(v(&port_series("forwarded_packets_total", "port1")) >= 3.0);
    assert!(v(&port_series("delivered_packets_total", "port1")) >= 2.0);
    assert!(v("ferroute_icmp_sent_total{type=\"0\",code=\"0\"}") >= 2.0);
    for r in ferroute::datapath::Reason::ALL {
        assert!(m.contains_key(&drops(r.name())), "{}", r.name());
    }
    assert!(
        v("ferroute_fib_routes") >= 6.0,
        "connected, local, broadcast x2"
    );
    assert_eq!(v("ferroute_fib_version"), 1.0);
    assert!(v("ferroute_fib_memory_bytes") > 0.0);
    assert!(v("ferroute_mempool_mbufs_free") > 1000.0);
    assert!(v("ferroute_lcore_busy_cycles_total{lcore=\"1\"}") > 0.0);
    assert!(v("ferroute_lcore_idle_cycles_total{lcore=\"1\"}") > 0.0);
    let bursts = v("ferroute_lcore_bursts_total{lcore=\"1\"}");
    assert!(bursts > 0.0 && v("ferroute_lcore_burst_packets_total{lcore=\"1\"}") >= bursts);
    let build = m
        .keys()
        .find(|k| k.starts_with("ferroute_build_info{"))
        .expect("build_info");
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && build.contains("dpdk=\"DPDK 22.11"),
        "{build}"
    );
    // Both hosts resolved (REACHABLE, or DELAY/STALE after h2's own ARP request); the
    // summary is refreshed every 100 ms.
    let resolved = || {
        let m = lab.scrape();
        let n = |s: &str| m[&format!("ferroute_neighbours{{state=\"{s}\"}}")];
        let usable: f64 = ["REACHABLE", "STALE", "DELAY", "PROBE"].map(n).iter().sum();
        usable == 2.0 && n("INCOMPLETE") + n("FAILED") + n("PERMANENT") == 0.0
    };
    assert!(
        Lab::wait_for(Duration::from_secs(3), resolved),
        "{:?}",
        lab.scrape()
            .into_iter()
            .filter(|(k, _)| k.starts_with("ferroute_neigh"))
            .collect::<Vec<_>>()
    );
    assert_eq!(lab.metric("ferroute_neighbour_held_packets"), 0.0);

    for target in ["/", "/metric", "/metrics/x", "/favicon.ico"] {
        let (status, _, _) = http_get(lab.metrics, target);
        assert_eq!(status, 404, "{target}");
    }
    // The query string is ignored.
    assert_eq!(http_get(lab.metrics, "/metrics?x=1").0, 200);
}

/// A Prometheus server (Debian's `prometheus`) scraping `target` every second, with
/// its TSDB in a temporary directory; killed and cleaned up on drop.
struct Prometheus {
    child: Option<Child>,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Prometheus {
    fn start(target: SocketAddr) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "ferroute-prom-{}-{}",
            std::process::id(),
            target.port()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("prometheus dir");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: ferroute\n    static_configs:\n\
                 \x20     - targets: ['{target}']\n"
            ),
        )
        .expect("prometheus.yml");
        let addr = free_local_addr();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("prometheus (Debian package prometheus; scripts/install-deps.sh)");
        let p = Prometheus {
            child: Some(child),
            dir,
            addr,
        };
        let ready = Lab::wait_for(Duration::from_secs(30), || {
            std::net::TcpStream::connect(p.addr).is_ok() && http_get(p.addr, "/-/ready").0 == 200
        });
        assert!(ready, "prometheus not ready:\n{}", p.log());
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// The value of an instant query's first result, if any.
    fn query(&self, expr: &str) -> Option<f64> {
        let mut q = String::new();
        for b in expr.bytes() {
            if b.is_ascii_alphanumeric() || b"_.-~".contains(&b) {
                q.push(b as char);
            } else {
                q.push_str(&format!("%{b:02X}"));
            }
        }
        let (status, _, body) = http_get(self.addr, &format!("/api/v1/query?query={q}"));
        assert_eq!(status, 200, "query {expr}: {body}");
        // {"status":"success","data":{"resultType":"vector","result":[{"metric":{..},
        //  "value":[1700000000.123,"500"]}]}}
        let rest = &body[body.find("\"value\":[")? + 9..];
        let rest = &rest[rest.find(",\"")? + 2..];
        rest[..rest.find('"')?].parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("prometheus log:\n{}", self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn prometheus_sees_forwarded_pings_and_echo_replies() {
    let lab = Lab::start("prm", "");
    // Resolve both hosts first so the measured pings are the only traffic.
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 1, "0.05")), 1);
    let prom = Prometheus::start(lab.metrics);
    let series = [
        port_series("forwarded_packets_total", "port0"),
        port_series("forwarded_packets_total", "port1"),
        "ferroute_icmp_sent_total{type=\"0\",code=\"0\"}".to_string(),
    ];
    // Prometheus's latest sample equals what the router shows now, for every series.
    let in_sync = |min: &[f64]| -> Option<Vec<f64>> {
        let direct = lab.scrape();
        let mut out = Vec::new();
        for (s, min) in series.iter().zip(min) {
            let d = *direct.get(s)?;
            let p = prom.query(s)?;
            if d != p || p < *min {
                return None;
            }
            out.push(p);
        }
        Some(out)
    };
    let wait_sync = |min: &[f64]| -> Vec<f64> {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(v) = in_sync(min) {
                return v;
            }
            assert!(
                Instant::now() < end,
                "prometheus never caught up to {min:?}: up={:?} {:?} vs router {:?}",
                prom.query("up"),
                series.iter().map(|s| prom.query(s)).collect::<Vec<_>>(),
                series
                    .iter()
                    .map(|s| lab.scrape().get(s).copied())
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let before = wait_sync(&[0.0, 0.0, 0.0]);
    assert_eq!(prom.query("up{job=\"ferroute\"}"), Some(1.0));

    let out = ping(&lab, 0, "10.0.2.2", 500, "0.002");
    assert_eq!(received(&out), 500, "{out}");
    let out = ping(&lab, 0, "10.0.1.1", 500, "0.002");
    assert_eq!(received(&out), 500, "{out}");

    let after = wait_sync(&[before[0] + 500.0, before[1] + 500.0, before[2] + 500.0]);
    let delta: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    eprintln!("deltas seen by prometheus: {series:?} = {delta:?}");
    // Requests counted on port0 (ingress), replies on port1; nothing else is IPv4 traffic
    // between the hosts, but allow a few packets of noise.
    for (s, d) in series[..2].iter().zip(&delta) {
        assert!((500.0..=510.0).contains(d), "{s}: +{d}");
    }
    assert_eq!(
        delta[2], 500.0,
        "echo replies from the router's own address"
    );
    // PromQL sees the same through increase() over the window.
    let inc = prom
        .query("sum(increase(ferroute_icmp_sent_total{type=\"0\",code=\"0\"}[5m]))")
        .expect("increase()");
    assert!(inc >= 500.0, "increase() = {inc}");
}

/// Every drop reason a crafted frame can reach, one at a time: its counter moves by
/// exactly the frames sent and no other reason moves.
#[test]
fn each_drop_reason_moves_alone_in_metrics() {
    let lab = Lab::start(
        "drp",
        "[[route]]\nprefix = \"198.51.100.0/24\"\ntype = \"blackhole\"\n\
         [[route]]\nprefix = \"203.0.113.0/25\"\ntype = \"unreachable\"\n\
         [[route]]\nprefix = \"203.0.113.128/25\"\ntype = \"prohibit\"\n",
    );
    let mac = lab.router_mac(0);
    // Room for the 1600-byte frames of the MTU cases (the router's port1 MTU is 1500).
    let h1 = &lab.hosts[0];
    let o = run(&["ip", "-n", &h1.ns, "link", "set", &h1.tap, "mtu", "1600"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 1, "0.05")), 1);

    const BCAST: &str = "ff:ff:ff:ff:ff:ff";
    const OTHER: &str = "02:00:00:00:00:99";
    let (h1a, h2a, r) = ("10.0.1.2", "10.0.2.2", "10.0.1.1");
    // (kind, destination MAC (None: the router's), source, destination, reason)
    let cases: &[(&str, Option<&str>, &str, &str, &str)] = &[
        ("bad_checksum", None, h1a, h2a, "ip4_bad_checksum"),
        ("version6", None, h1a, h2a, "ip4_bad_version"),
        ("ihl4", None, h1a, h2a, "ip4_bad_ihl"),
        ("hdr_truncated", None, h1a, h2a, "ip4_hdr_truncated"),
        ("total_len_beyond", None, h1a, h2a, "ip4_truncated"),
        ("total_len_short", None, h1a, h2a, "ip4_bad_total_length"),
        ("ttl0", None, h1a, h2a, "ip4_ttl_exceeded"),
        ("ttl1", None, h1a, h2a, "ip4_ttl_exceeded"),
        ("good", None, "127.0.0.1", h2a, "ip4_martian_source"),
        ("good", None, h1a, "127.0.0.9", "ip4_martian_destination"),
        ("good", None, h1a, "239.1.2.3", "ip4_multicast"),
        ("good", None, h1a, "10.0.1.255", "ip4_broadcast"),
        ("good", Some(BCAST), h1a, h2a, "ip4_not_host"),
        ("good", None, h1a, "172.16.5.5", "ip4_no_route"),
        ("good", None, h1a, "198.51.100.7", "route_blackhole"),
        ("good", None, h1a, "203.0.113.7", "route_unreachable"),
        ("good", None, h1a, "203.0.113.200", "route_prohibit"),
        ("big_df", None, h1a, h2a, "ip4_frag_needed"),
        ("proto253", None, h1a, r, "ip4_unknown_protocol"),
        ("good", None, h1a, r, "udp_no_port"),
        ("icmp_bad_checksum", None, h1a, r, "icmp_malformed"),
        ("icmp_timestamp", None, h1a, r, "icmp_unhandled_type"),
        ("arp_short", None, h1a, r, "arp_malformed"),
        ("arp_other", None, h1a, "10.0.1.77", "arp_other_target"),
        // The hosts' kernels send IPv6 and multicast frames of their own: these two can
        // only be checked to move by at least the frames sent.
        ("ethertype", None, h1a, h2a, "eth_unhandled_ethertype"),
        ("good", Some(OTHER), h1a, h2a, "eth_other_host"),
    ];
    let noisy = ["eth_unhandled_ethertype", "eth_other_host"];
    let n = 5u32;
    let reasons: Vec<String> = ferroute::datapath::Reason::ALL
        .iter()
        .map(|r| r.name().to_string())
        .collect();
    let drop_counts = || -> HashMap<String, f64> {
        let m = lab.scrape();
        reasons
            .iter()
            .map(|r| (r.clone(), *m.get(&drops(r)).expect("every reason exposed")))
            .collect()
    };
    let mut covered = Vec::new();
    for (kind, dst_mac, src, dst, reason) in cases {
        let before = drop_counts();
        lab.inject(kind, n, dst_mac.unwrap_or(&mac), src, dst);
        let want = before[*reason] + f64::from(n);
        let moved = Lab::wait_for(Duration::from_secs(3), || drop_counts()[*reason] >= want);
        // Give stray effects (another reason moving) time to show before comparing.
        std::thread::sleep(Duration::from_millis(200));
        let after = drop_counts();
        assert!(
            moved,
            "{kind} -> {dst}: {reason} {} -> {}",
            before[*reason], after[*reason]
        );
        for r in &reasons {
            let d = after[r] - before[r];
            if r == reason {
                if noisy.contains(&r.as_str()) {
                    assert!(d >= f64::from(n), "{kind}: {r} +{d}");
                } else {
                    assert_eq!(d, f64::from(n), "{kind} -> {dst}: {r}");
                }
            } else if !noisy.contains(&r.as_str()) {
                assert_eq!(
                    d, 0.0,
                    "{kind} -> {dst} moved {r} by {d} (expected {reason})"
                );
            }
        }
        covered.push(*reason);
    }
    // The reasons no crafted frame can reach from a host: resource exhaustion, chained
    // mbufs, neighbour resolution (tests/router.rs covers neigh_failed), runts below
    // an Ethernet header (the kernel refuses to send them); reassembly's reasons take
    // fragment sequences and timeouts: tests/fragment.rs covers them; a port set down:
    // tests/api.rs; the egress qdisc's need a shaper configured: tests/qdisc.rs covers
    // qdisc_overlimit, and a burst below the largest frame, which qdisc_exceeds_burst
    // needs, is refused (the unit tests of datapath::qdisc cover it); the punt
    // policers need floods: tests/flood.rs covers them; the source, option and local
    // TCP/UDP checks need crafted packets: tests/conformance covers them; the twins'
    // need [linux_cp]: tests/linuxcp.rs covers twin_not_ipv4, and twin_refused and
    // twin_no_mbuf need a twin that is gone or an exhausted pool.
    let unreachable_here = [
        "twin_refused",
        "twin_not_ipv4",
        "twin_no_mbuf",
        "ip4_local_source",
        "ip4_broadcast_source",
        "ip4_rp_filter",
        "ip4_directed_broadcast",
        "ip4_source_route",
        "ip4_bad_options",
        "tcp_no_socket",
        "tcp_malformed",
        "udp_malformed",
        "igmp_ignored",
        "punt_arp_known_policed",
        "punt_arp_policed",
        "punt_resolve_policed",
        "punt_frag_policed",
        "punt_host_policed",
        "port_down",
        "eth_truncated",
        "multi_segment",
        "punt_arp_known_queue_full",
        "punt_arp_queue_full",
        "punt_resolve_queue_full",
        "punt_host_queue_full",
        "reasm_queue_full",
        "neigh_failed",
        "neigh_queue_full",
        "neigh_deleted",
        "neigh_table_full",
        "tx_queue_full",
        "ip4_frag_nomem",
        "ip4_oversize",
        "ip4_reasm_timeout",
        "ip4_reasm_overlap",
        "ip4_reasm_duplicate",
        "ip4_reasm_inconsistent",
        "ip4_reasm_evicted",
        "qdisc_overlimit",
        "qdisc_exceeds_burst",
    ];
    for r in &reasons {
        assert!(
            covered.contains(&r.as_str()) || unreachable_here.contains(&r.as_str()),
            "drop reason {r} is neither tested here nor listed as unreachable"
        );
    }
}

/// Column `col` (0 = port name) of `port`'s row in a `ferroute stats` view.
fn stats_cell(view: &str, port: &str, col: usize) -> u64 {
    view.lines()
        .find(|l| l.split_whitespace().next() == Some(port))
        .and_then(|l| l.split_whitespace().nth(col))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no column {col} for {port} in:\n{view}"))
}

#[test]
fn stats_shows_rates_and_nonzero_drops() {
    let lab = Lab::start("sts", "");
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 1, "0.05")), 1);
    // Something to drop, then steady traffic during the sample.
    let mac = lab.router_mac(0);
    lab.inject("bad_checksum", 3, &mac, "10.0.1.2", "10.0.2.2");
    let pinger = lab.spawn(
        0,
        &["ping", "-n", "-q", "-c", "400", "-i", "0.005", "10.0.2.2"],
    );
    std::thread::sleep(Duration::from_millis(300));
    let o = lab.cli(&["stats", "--once"]);
    let view = text(&o);
    assert!(o.status.success(), "{view}");
    let _ = pinger.wait_with_output();
    eprintln!("ferroute stats --once:\n{view}");
    // ~200 pings/s: requests in on port0 and out of port1, replies the other way.
    for (port, col) in [("port0", 1), ("port0", 2), ("port1", 1), ("port1", 2)] {
        let pps = stats_cell(&view, port, col);
        assert!(
            (100..=400).contains(&pps),
            "{port} col {col}: {pps}\n{view}"
        );
    }
    assert!(
        stats_cell(&view, "port0", 3) > 100 * 98,
        "Rx-bytes/s\n{view}"
    );
    let fwd = stats_cell(&view, "port0", 5);
    assert!((100..=400).contains(&fwd), "Fwd-pps {fwd}\n{view}");
    let bad = view
        .lines()
        .find(|l| l.starts_with("ip4_bad_checksum "))
        .unwrap_or_else(|| panic!("nonzero drop reason listed:\n{view}"));
    assert_eq!(bad.split_whitespace().nth(1), Some("3"), "{bad}");
    assert!(
        !view.contains("tx_queue_full"),
        "zero reasons hidden:\n{view}"
    );

    // Live mode prints a view every second until stopped.
    let mut live = Command::new(common::BIN)
        .args(["stats", "--socket"])
        .arg(&lab.socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ferroute stats");
    std::thread::sleep(Duration::from_millis(2600));
    let _ = live.kill();
    let out = live.wait_with_output().expect("stats output");
    let out = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.matches("rates over the last second").count(),
        2,
        "two views in 2.6 s:\n{out}"
    );
}

#[test]
fn taken_metrics_address_fails_startup_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let mut lab = Lab::launch("mtk", "", Some(addr));
    let child = lab.router.as_mut().expect("router process");
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(
            Instant::now() < end,
            "router kept running:\n{}",
            lab.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = lab.log_text();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains(&format!("metrics.listen: cannot listen on {addr}")),
        "{log}"
    );
    drop(taken);
}

#[test]
fn empty_listen_disables_the_endpoint() {
    let lab = Lab::launch("mof", "", None);
    lab.wait_ready();
    assert!(
        lab.log_text().contains("metrics disabled"),
        "{}",
        lab.log_text()
    );
    assert!(lab.counters().contains_key("drop ip4_no_route"));
    let cfg = std::fs::read_to_string(&lab.config).expect("config");
    assert!(cfg.contains("listen = \"\""), "{cfg}");
}
