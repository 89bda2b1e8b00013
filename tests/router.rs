//! End-to-end tests: the real router on net_tap ports between two Linux network
//! namespaces, driven with ping, traceroute, iperf3 and crafted frames.
mod common;

use common::{iperf_num, received, run, text, Lab};
use std::time::Duration;

fn ping(lab: &Lab, host: usize, dst: &str, count: u32, extra: &[&str]) -> String {
    let c = count.to_string();
    let mut args = vec!["ping", "-n", "-c", &c, "-i", "0.05", "-W", "2"];
    args.extend_from_slice(extra);
    args.push(dst);
    text(&lab.exec(host, &args))
}

#[test]
fn forwards_between_hosts_and_answers_its_addresses() {
    let lab = Lab::start("fwd", "");
    let idle = lab.counter("mempool_in_use");
    // h1 -> h2 and back: the router resolves ARP on both sides.
    let out = ping(&lab, 0, "10.0.2.2", 5, &[]);
    assert_eq!(received(&out), 5, "{out}");
    assert!(
        out.contains("ttl=63"),
        "forwarded replies have TTL 63: {out}"
    );
    let out = ping(&lab, 1, "10.0.1.2", 5, &[]);
    assert_eq!(received(&out), 5, "{out}");
    let neigh = text(&lab.cli(&["neigh"]));
    for want in ["10.0.1.2 dev port0 lladdr", "10.0.2.2 dev port1 lladdr"] {
        assert!(neigh.contains(want), "neigh lacks {want}: {neigh}");
    }
    // Both router addresses answer, from either side.
    for (host, addr) in [
        (0, "10.0.1.1"),
        (0, "10.0.2.1"),
        (1, "10.0.2.1"),
        (1, "10.0.1.1"),
    ] {
        let out = ping(&lab, host, addr, 3, &[]);
        assert_eq!(received(&out), 3, "ping {addr} from h{}: {out}", host + 1);
        assert!(out.contains("ttl=64"), "{out}");
    }
    let c = lab.counters();
    assert!(c["icmp_out echo_reply"] >= 12, "{c:?}");
    assert!(c["port port0 forwarded"] >= 5 && c["port port1 forwarded"] >= 5);
    // Nothing leaked: the pool is back at its idle level once traffic stops.
    lab.assert_pool_back_to(idle);
}

#[test]
fn traceroute_shows_router_then_host() {
    let lab = Lab::start("trc", "");
    let out = text(&lab.exec(0, &["traceroute", "-n", "-q", "1", "-w", "2", "10.0.2.2"]));
    let hops: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(hops, ["10.0.1.1", "10.0.2.2"], "{out}");
    assert!(lab.counter("icmp_out ttl_exceeded") >= 1);
    assert!(lab.counter("drop ip4_ttl_exceeded") >= 1);
}

#[test]
fn unrouted_destination_gets_net_unreachable() {
    let lab = Lab::start("nrt", "");
    let out = ping(&lab, 0, "172.16.5.5", 2, &[]);
    assert!(
        out.contains("From 10.0.1.1") && out.contains("Destination Net Unreachable"),
        "{out}"
    );
    assert_eq!(lab.counter("drop ip4_no_route"), 2);
    assert_eq!(lab.counter("icmp_out net_unreachable"), 2);
}

#[test]
fn silent_next_hop_gets_host_unreachable() {
    // 10.0.2.99 never answers ARP; retransmit fast so the test is short.
    let lab = Lab::start(
        "hun",
        "[arp]\nretrans_ms = 200\nmcast_probes = 3\n[[route]]\nprefix = \"198.51.100.0/24\"\nvia = \"10.0.2.99\"\n",
    );
    let idle = lab.counter("mempool_in_use");
    let out = ping(&lab, 0, "198.51.100.7", 3, &["-i", "0.2"]);
    assert!(out.contains("Destination Host Unreachable"), "{out}");
    assert!(out.contains("From 10.0.1.1"), "{out}");
    let c = lab.counters();
    assert_eq!(
        c["drop neigh_failed"], c["icmp_out host_unreachable"],
        "{c:?}"
    );
    assert!(c["drop neigh_failed"] >= 1);
    assert!(c["arp_requests"] >= 3, "ARP was retried: {c:?}");
    let neigh = text(&lab.cli(&["neigh"]));
    assert!(neigh.contains("10.0.2.99 dev port1 FAILED"), "{neigh}");
    // Held packets were answered and freed.
    assert!(Lab::wait_for(Duration::from_secs(5), || lab
        .counter("neigh_held")
        == 0
        && lab.counter("mempool_in_use") == idle));
}

#[test]
fn iperf3_tcp_both_ways() {
    let lab = Lab::start("ipf", "");
    let idle = lab.counter("mempool_in_use");
    for reverse in [false, true] {
        let mut server = lab.spawn(1, &["iperf3", "-s", "-1", "-B", "10.0.2.2"]);
        std::thread::sleep(Duration::from_millis(500));
        let mut args = vec!["iperf3", "-c", "10.0.2.2", "-t", "2", "-J"];
        if reverse {
            args.push("-R");
        }
        let o = lab.exec(0, &args);
        let _ = server.kill();
        let _ = server.wait();
        let out = text(&o);
        assert!(o.status.success(), "iperf3 {reverse}: {out}");
        let bytes = iperf_num(&out, "sum_received", "bytes") as u64;
        assert!(
            bytes > 1_000_000,
            "iperf3 reverse={reverse} moved only {bytes} bytes"
        );
    }
    lab.assert_pool_back_to(idle);
}

#[test]
fn malformed_frames_are_counted_by_reason_and_ping_loses_nothing() {
    let lab = Lab::start("bad", "");
    let mac = lab.router_mac(0);
    // Warm up ARP so the concurrent ping has no resolution delay.
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 1, &[])), 1);
    let before = lab.counters();
    let pinger = lab.spawn(
        0,
        &[
            "ping", "-n", "-c", "100", "-i", "0.01", "-W", "2", "10.0.2.2",
        ],
    );
    let n = 7u32;
    let n64 = u64::from(n);
    let cases = [
        ("bad_checksum", "drop ip4_bad_checksum"),
        ("version6", "drop ip4_bad_version"),
        ("ihl4", "drop ip4_bad_ihl"),
        ("hdr_truncated", "drop ip4_hdr_truncated"),
        ("total_len_beyond", "drop ip4_truncated"),
        ("ttl0", "drop ip4_ttl_exceeded"),
        ("ttl1", "drop ip4_ttl_exceeded"),
    ];
    for (kind, _) in cases {
        lab.inject(kind, n, &mac, "10.0.1.2", "10.0.2.2");
    }
    let out = pinger.wait_with_output().expect("ping");
    let out = text(&out);
    assert_eq!(received(&out), 100, "concurrent ping lost packets: {out}");
    std::thread::sleep(Duration::from_millis(300));
    let after = lab.counters();
    let delta = |k: &str| after[k] - before[k];
    for (kind, key) in cases {
        let want = if key == "drop ip4_ttl_exceeded" {
            2 * n64
        } else {
            n64
        };
        assert_eq!(delta(key), want, "{kind}: {key}");
    }
    // TTL 0/1 are answered with time exceeded, as far as the limit per destination
    // host allows (all 14 come from h1: a burst of 6, then one a second, as Linux).
    let answered = delta("icmp_out ttl_exceeded");
    let limited = delta("icmp_ratelimited_host");
    assert!((6..=8).contains(&answered), "{answered} time exceeded sent");
    assert_eq!(answered + limited, 2 * n64);
    // No other drop reason moved (IPv6 noise from the hosts' kernels aside).
    for (k, v) in &after {
        if k.starts_with("drop ")
            && !cases.iter().any(|(_, key)| key == k)
            && k != "drop eth_other_host"
            && k != "drop eth_unhandled_ethertype"
        {
            assert_eq!(*v, before[k], "{k} moved");
        }
    }
}

#[test]
fn bad_config_is_refused_with_file_key_and_reason() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("ferroute-bad-{}.toml", std::process::id()));
    let cfg = ferroute::config::DEFAULT_CONFIG
        .replace("address = \"10.0.2.1/24\"", "address = \"10.0.2.1/33\"");
    std::fs::write(&path, cfg).unwrap();
    let p = path.to_str().unwrap();
    for cmd in ["check", "run"] {
        let o = run(&[common::BIN, cmd, "-c", p]);
        let msg = text(&o);
        assert!(!o.status.success(), "{cmd} accepted a bad config");
        // EX_CONFIG: systemd's RestartPreventExitStatus=78 stops a restart loop.
        assert_eq!(o.status.code(), Some(78), "{cmd}: {}", text(&o));
        assert!(
            msg.contains(p) && msg.contains("port[1].address"),
            "{cmd}: {msg}"
        );
    }
    let o = run(&[common::BIN, "check", "-c", "/nonexistent/ferroute.toml"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("/nonexistent/ferroute.toml"),
        "{}",
        text(&o)
    );
    let o = run(&[common::BIN, "check"]);
    assert!(o.status.success(), "embedded default: {}", text(&o));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn sigterm_stops_cleanly() {
    let mut lab = Lab::start("sig", "");
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 2, &[])), 2);
    let st = lab.stop().expect("router exited within 10 s of SIGTERM");
    assert!(st.success(), "exit status {st:?}\n{}", lab.log_text());
    assert!(lab.log_text().contains("ferroute: stopped"));
    assert!(
        !lab.log_text().contains("ferroute: error"),
        "{}",
        lab.log_text()
    );
    assert!(!lab.socket.exists(), "control socket removed at exit");
}

fn neigh_state(lab: &Lab, ip: &str) -> String {
    let out = text(&lab.cli(&["neigh"]));
    out.lines()
        .find(|l| l.starts_with(&format!("{ip} ")))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or("none")
        .to_string()
}

#[test]
fn neighbours_go_stale_and_are_reconfirmed_static_ones_stay() {
    let lab = Lab::start(
        "nud",
        "[arp]\nreachable_ms = 1000\ndelay_probe_ms = 300\nretrans_ms = 200\n\
         [[neighbor]]\naddress = \"10.0.2.50\"\nmac = \"02:00:00:00:02:50\"\nport = \"port1\"\n",
    );
    assert_eq!(neigh_state(&lab, "10.0.2.50"), "PERMANENT");
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 1, &[])), 1);
    assert_eq!(neigh_state(&lab, "10.0.2.2"), "REACHABLE");
    assert!(
        Lab::wait_for(Duration::from_secs(5), || neigh_state(&lab, "10.0.2.2")
            == "STALE"),
        "REACHABLE -> STALE after reachable_ms"
    );
    // Traffic through a STALE entry flows at once and triggers a unicast probe
    // (DELAY -> PROBE) that h2 answers: REACHABLE again.
    let requests = lab.counter("arp_requests");
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 3, &["-i", "0.2"])), 3);
    assert!(
        Lab::wait_for(Duration::from_secs(5), || neigh_state(&lab, "10.0.2.2")
            == "REACHABLE"),
        "re-confirmed: {}",
        neigh_state(&lab, "10.0.2.2")
    );
    assert!(lab.counter("arp_requests") > requests, "a probe was sent");
    assert_eq!(neigh_state(&lab, "10.0.2.50"), "PERMANENT");
}
