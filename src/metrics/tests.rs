//! Rendering tests on synthetic snapshots (no DPDK).
use super::*;
use crate::datapath::qdisc::{Limit, TbfParams};
use crate::datapath::{IcmpOut, QdiscStat, Reason, SharedCounters};
use std::collections::BTreeMap;

fn build() -> BuildInfo {
    BuildInfo {
        version: "0.1.0".into(),
        git_rev: "abc123".into(),
        dpdk: "DPDK 22.11.0".into(),
    }
}

/// Two workers (lcores 1 and 2) and the control thread (lcore 0), fed by `f`.
struct Lcores {
    cells: Vec<(u32, SharedCounters)>,
}

impl Lcores {
    fn new() -> Lcores {
        Lcores {
            cells: [1, 2, 0]
                .into_iter()
                .map(|l| (l, SharedCounters::default()))
                .collect(),
        }
    }

    fn add(&self, lcore: u32, f: impl FnOnce(&mut Tally)) {
        let mut t = Tally::default();
        f(&mut t);
        if let Some((_, c)) = self.cells.iter().find(|(l, _)| *l == lcore) {
            c.flush(&mut t);
        }
    }

    fn snapshot(&self, pmd_rx: u64) -> Snapshot {
        let mut totals = Tally::default();
        let mut workers = Vec::new();
        for (l, c) in &self.cells {
            let t = c.read();
            totals.add(&t);
            if *l != 0 {
                workers.push((*l, t));
            }
        }
        let port = |id: u16, name: &str| {
            let mut sw = [0; PortStat::COUNT];
            for s in PortStat::ALL {
                sw[*s as usize] = totals.port_stat(id, *s);
            }
            PortSample {
                name: name.into(),
                sw,
                pmd: PortStats {
                    ipackets: pmd_rx,
                    ibytes: pmd_rx * 100,
                    ..PortStats::default()
                },
                link_up: id == 0,
            }
        };
        let tbf = TbfParams::new(20_000_000, 32768, Limit::LatencyUs(50_000), 1514).unwrap();
        let qdisc = QdiscStatus {
            port: 3,
            params: tbf,
            sent_bytes: totals.qdisc_stat(3, QdiscStat::SentBytes),
            sent_packets: totals.qdisc_stat(3, QdiscStat::SentPackets),
            dropped: totals.qdisc_stat(3, QdiscStat::Dropped),
            backlog_bytes: 3028,
            backlog_packets: 2,
            tokens: 1000,
        };
        Snapshot {
            ports: vec![port(0, "wan"), port(3, "lan")],
            qdiscs: vec![("lan".into(), qdisc)],
            totals,
            workers,
            fib_routes: 5,
            fib_version: 2,
            fib_memory_bytes: 4096,
            neigh: NeighSample {
                by_state: [1, 2, 0, 0, 0, 3, 1],
                held: 4,
            },
            reasm_bytes: 3000,
            reasm_datagrams: 2,
            mbufs_in_use: 100,
            mbufs_free: 8091,
            linux_cp: Some(crate::linuxcp::stats::LinuxCpStats::default().pairs()),
            tsc_hz: 2_000_000_000,
            build: build(),
        }
    }
}

fn traffic(l: &Lcores) {
    l.add(1, |t| {
        t.port(0, PortStat::RxPackets, 10);
        t.port(0, PortStat::Forwarded, 9);
        t.drop(0, Reason::Ip4BadChecksum);
        t.icmp(IcmpOut::EchoReply);
        t.busy_cycles += 1000;
        t.idle_cycles += 50;
        t.bursts += 2;
        t.burst_packets += 10;
    });
    l.add(2, |t| {
        t.port(3, PortStat::TxBytes, 1500);
        t.qdisc(3, QdiscStat::SentBytes, 1500);
        t.qdisc(3, QdiscStat::SentPackets, 1);
        t.qdisc(3, QdiscStat::Dropped, 4);
        t.drop(3, Reason::Ip4TtlExceeded);
        t.icmp(IcmpOut::TtlExceeded);
        t.icmp(IcmpOut::AdminProhibited);
        t.icmp_ratelimited += 1;
        t.busy_cycles += 7;
    });
    l.add(0, |t| {
        t.drop(0, Reason::NeighFailed);
        t.icmp(IcmpOut::HostUnreachable);
        t.arp_requests += 3;
    });
}

fn rendered(s: &Snapshot) -> String {
    render(s).expect("render")
}

/// `# TYPE` of every family.
fn types(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

#[test]
fn every_family_has_help_type_prefix_and_unit_conventions() {
    let l = Lcores::new();
    traffic(&l);
    let text = rendered(&l.snapshot(11));
    let types = types(&text);
    assert_eq!(types.len(), all_specs().len(), "{text}");
    for (name, ty) in &types {
        assert!(name.starts_with("ferroute_"), "{name}");
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
        match ty.as_str() {
            "counter" => assert!(name.ends_with("_total"), "counter {name}"),
            "gauge" => assert!(!name.ends_with("_total"), "gauge {name}"),
            other => panic!("{name}: unexpected type {other}"),
        }
        assert!(
            text.lines()
                .any(|l| l.starts_with(name.as_str()) && !l.starts_with('#')),
            "{name} has no sample"
        );
    }
    for name in [
        "ferroute_port_rx_packets_total",
        "ferroute_port_rx_bytes_total",
        "ferroute_port_tx_packets_total",
        "ferroute_port_tx_bytes_total",
        "ferroute_port_forwarded_packets_total",
        "ferroute_port_delivered_packets_total",
        "ferroute_port_dropped_packets_total",
        "ferroute_port_pmd_rx_packets_total",
        "ferroute_port_pmd_tx_packets_total",
        "ferroute_port_pmd_rx_bytes_total",
        "ferroute_port_pmd_tx_bytes_total",
        "ferroute_port_pmd_rx_missed_total",
        "ferroute_port_pmd_rx_errors_total",
        "ferroute_port_pmd_tx_errors_total",
        "ferroute_port_pmd_rx_nombuf_total",
        "ferroute_drops_total",
        "ferroute_icmp_sent_total",
        "ferroute_icmp_ratelimited_total",
        "ferroute_icmp_ratelimited_host_total",
        "ferroute_icmp_peers_evicted_total",
        "ferroute_icmp_suppressed_total",
        "ferroute_fib_routes",
        "ferroute_fib_version",
        "ferroute_fib_memory_bytes",
        "ferroute_neighbours",
        "ferroute_neighbour_held_packets",
        "ferroute_mempool_mbufs_in_use",
        "ferroute_mempool_mbufs_free",
        "ferroute_lcore_busy_cycles_total",
        "ferroute_lcore_idle_cycles_total",
        "ferroute_lcore_bursts_total",
        "ferroute_lcore_burst_packets_total",
        "ferroute_build_info",
        "ferroute_drop_reason_info",
        "ferroute_qdisc_sent_bytes_total",
        "ferroute_qdisc_sent_packets_total",
        "ferroute_qdisc_dropped_packets_total",
        "ferroute_qdisc_backlog_bytes",
        "ferroute_qdisc_backlog_packets",
        "ferroute_qdisc_tokens_bytes",
        "ferroute_qdisc_rate_bytes_per_second",
        "ferroute_qdisc_burst_bytes",
        "ferroute_qdisc_limit_bytes",
    ] {
        assert!(types.contains_key(name), "missing {name}");
    }
}

#[test]
fn values_and_labels() {
    let l = Lcores::new();
    traffic(&l);
    let m = parse(&rendered(&l.snapshot(11)));
    let v = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no series {k}"));
    // Ports by name; counters summed over lcores.
    assert_eq!(v("ferroute_port_rx_packets_total{port=\"wan\"}"), 10.0);
    assert_eq!(
        v("ferroute_port_forwarded_packets_total{port=\"wan\"}"),
        9.0
    );
    assert_eq!(v("ferroute_port_dropped_packets_total{port=\"wan\"}"), 2.0);
    assert_eq!(v("ferroute_port_tx_bytes_total{port=\"lan\"}"), 1500.0);
    assert_eq!(v("ferroute_port_dropped_packets_total{port=\"lan\"}"), 1.0);
    assert_eq!(v("ferroute_port_pmd_rx_packets_total{port=\"lan\"}"), 11.0);
    assert_eq!(v("ferroute_port_pmd_rx_bytes_total{port=\"wan\"}"), 1100.0);
    assert_eq!(v("ferroute_port_pmd_rx_nombuf_total{port=\"wan\"}"), 0.0);
    assert_eq!(v("ferroute_port_link_up{port=\"wan\"}"), 1.0);
    assert_eq!(v("ferroute_port_link_up{port=\"lan\"}"), 0.0);
    // Every reason is there, moved or not, and has its description.
    for r in Reason::ALL {
        let want = match r {
            Reason::Ip4BadChecksum | Reason::Ip4TtlExceeded | Reason::NeighFailed => 1.0,
            _ => 0.0,
        };
        assert_eq!(
            v(&format!("ferroute_drops_total{{reason=\"{}\"}}", r.name())),
            want,
            "{}",
            r.name()
        );
        let info = format!(
            "ferroute_drop_reason_info{{reason=\"{}\",description=\"{}\"}}",
            r.name(),
            r.help().replace('\\', "\\\\").replace('"', "\\\"")
        );
        assert_eq!(v(&info), 1.0, "{info}");
    }
    // ICMP by type and code, every kind present.
    assert_eq!(v("ferroute_icmp_sent_total{type=\"0\",code=\"0\"}"), 1.0);
    assert_eq!(v("ferroute_icmp_sent_total{type=\"11\",code=\"0\"}"), 1.0);
    assert_eq!(v("ferroute_icmp_sent_total{type=\"3\",code=\"13\"}"), 1.0);
    assert_eq!(v("ferroute_icmp_sent_total{type=\"3\",code=\"1\"}"), 1.0);
    assert_eq!(v("ferroute_icmp_sent_total{type=\"3\",code=\"4\"}"), 0.0);
    assert_eq!(
        m.keys()
            .filter(|k| k.starts_with("ferroute_icmp_sent_total{"))
            .count(),
        IcmpOut::COUNT
    );
    assert_eq!(v("ferroute_icmp_ratelimited_total"), 1.0);
    assert_eq!(v("ferroute_icmp_suppressed_total"), 0.0);
    assert_eq!(v("ferroute_arp_requests_sent_total"), 3.0);
    // Per worker lcore; the control thread (lcore 0) has no loop counters.
    assert_eq!(v("ferroute_lcore_busy_cycles_total{lcore=\"1\"}"), 1000.0);
    assert_eq!(v("ferroute_lcore_busy_cycles_total{lcore=\"2\"}"), 7.0);
    assert_eq!(v("ferroute_lcore_idle_cycles_total{lcore=\"1\"}"), 50.0);
    assert_eq!(v("ferroute_lcore_bursts_total{lcore=\"1\"}"), 2.0);
    assert_eq!(v("ferroute_lcore_burst_packets_total{lcore=\"1\"}"), 10.0);
    assert!(!m.contains_key("ferroute_lcore_busy_cycles_total{lcore=\"0\"}"));
    // The egress qdisc, only for the port that has one.
    assert_eq!(v("ferroute_qdisc_sent_bytes_total{port=\"lan\"}"), 1500.0);
    assert_eq!(v("ferroute_qdisc_sent_packets_total{port=\"lan\"}"), 1.0);
    assert_eq!(v("ferroute_qdisc_dropped_packets_total{port=\"lan\"}"), 4.0);
    assert_eq!(v("ferroute_qdisc_backlog_bytes{port=\"lan\"}"), 3028.0);
    assert_eq!(v("ferroute_qdisc_backlog_packets{port=\"lan\"}"), 2.0);
    assert_eq!(v("ferroute_qdisc_tokens_bytes{port=\"lan\"}"), 1000.0);
    assert_eq!(
        v("ferroute_qdisc_rate_bytes_per_second{port=\"lan\"}"),
        2.5e6
    );
    assert_eq!(v("ferroute_qdisc_burst_bytes{port=\"lan\"}"), 32768.0);
    assert_eq!(v("ferroute_qdisc_limit_bytes{port=\"lan\"}"), 157768.0);
    assert!(!m.contains_key("ferroute_qdisc_sent_bytes_total{port=\"wan\"}"));
    // Gauges.
    assert_eq!(v("ferroute_fib_routes"), 5.0);
    assert_eq!(v("ferroute_fib_version"), 2.0);
    assert_eq!(v("ferroute_fib_memory_bytes"), 4096.0);
    assert_eq!(v("ferroute_neighbours{state=\"REACHABLE\"}"), 2.0);
    assert_eq!(v("ferroute_neighbours{state=\"FAILED\"}"), 3.0);
    assert_eq!(v("ferroute_neighbours{state=\"STALE\"}"), 0.0);
    assert_eq!(
        m.keys()
            .filter(|k| k.starts_with("ferroute_neighbours{"))
            .count(),
        NeighState::ALL.len()
    );
    assert_eq!(v("ferroute_neighbour_held_packets"), 4.0);
    assert_eq!(v("ferroute_mempool_mbufs_in_use"), 100.0);
    assert_eq!(v("ferroute_mempool_mbufs_free"), 8091.0);
    assert_eq!(v("ferroute_tsc_hertz"), 2e9);
    assert_eq!(
        v("ferroute_build_info{version=\"0.1.0\",git_rev=\"abc123\",dpdk=\"DPDK 22.11.0\"}"),
        1.0
    );
}

#[test]
fn counters_only_go_up_between_scrapes() {
    let l = Lcores::new();
    let text0 = rendered(&l.snapshot(0));
    traffic(&l);
    let text1 = rendered(&l.snapshot(5));
    traffic(&l);
    l.add(2, |t| t.port(0, PortStat::Delivered, 4));
    let text2 = rendered(&l.snapshot(9));
    let counters: Vec<String> = types(&text2)
        .into_iter()
        .filter(|(_, t)| t == "counter")
        .map(|(n, _)| n)
        .collect();
    let scrapes = [parse(&text0), parse(&text1), parse(&text2)];
    // The same series in every scrape (all reasons etc. are there from the start).
    let keys = |m: &HashMap<String, f64>| {
        let mut k: Vec<&String> = m.keys().collect();
        k.sort();
        k.into_iter().cloned().collect::<Vec<_>>()
    };
    assert_eq!(keys(&scrapes[0]), keys(&scrapes[2]));
    let mut moved = 0;
    for pair in scrapes.windows(2) {
        for (series, after) in &pair[1] {
            let family = series.split('{').next().unwrap_or("");
            if !counters.iter().any(|c| c == family) {
                continue;
            }
            let before = pair[0][series];
            assert!(*after >= before, "{series} went down: {before} -> {after}");
            if *after > before {
                moved += 1;
            }
        }
    }
    assert!(moved > 20, "traffic moved only {moved} series");
    assert_eq!(
        scrapes[2]["ferroute_drops_total{reason=\"ip4_bad_checksum\"}"],
        2.0
    );
    assert_eq!(
        scrapes[2]["ferroute_port_delivered_packets_total{port=\"wan\"}"],
        4.0
    );
}

#[test]
fn exporter_collects_fresh_values_each_scrape() {
    let l = Arc::new(Lcores::new());
    let src = Arc::clone(&l);
    let e = Exporter::new(move || src.snapshot(0)).unwrap();
    let first = parse(&e.render().unwrap());
    l.add(1, |t| t.drop(0, Reason::Ip4NoRoute));
    let second = parse(&e.render().unwrap());
    let k = "ferroute_drops_total{reason=\"ip4_no_route\"}";
    assert_eq!((first[k], second[k]), (0.0, 1.0));
}

#[test]
fn output_is_sorted_and_well_formed() {
    let l = Lcores::new();
    traffic(&l);
    let text = rendered(&l.snapshot(1));
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "families sorted by name");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("series value");
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let name = series.split('{').next().unwrap_or("");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{line}"
        );
    }
}

/// promtool's own linter, when it is installed (scripts/install-deps.sh installs it; the
/// integration tests require it and check a live router's output).
#[test]
fn promtool_check_metrics_if_installed() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let l = Lcores::new();
    traffic(&l);
    let text = rendered(&l.snapshot(1));
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("promtool not installed; skipped");
        return;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
