//! Floods and faults: garbage and ARP floods from h1 (tests/tools/flood.py) while pings
//! run through and to the router and the API is queried; ICMP errors limited per host
//! as Linux limits them; SIGHUP ignored and SIGTERM obeyed within a second under a flood.
mod common;

use common::{received, text, Lab};
use std::process::Child;
use std::time::{Duration, Instant};

/// The flood's rate: about what one worker reads from a net_tap on this machine class
/// while the generator shares the other core (the Linux figure in issue 12 is 139 kpps
/// over veth). Above it the kernel's tap queue drops frames, pings included, before
/// the router sees them.
const FLOOD_PPS: &str = "60000";
const FLOOD_SECONDS: u64 = 10;

fn flood(lab: &Lab, mix: &str, seconds: u64, pps: &str) -> Child {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/flood.py");
    let tap = lab.hosts[0].tap.clone();
    let mac = lab.router_mac(0);
    let secs = seconds.to_string();
    lab.spawn(
        0,
        &[
            "python3", script, &tap, &mac, "10.0.1.1", &secs, mix, "7", pps,
        ],
    )
}

/// Runs a CLI command, asserting it succeeds; how long it took.
fn timed(lab: &Lab, args: &[&str]) -> Duration {
    let t = Instant::now();
    let o = lab.cli(args);
    let took = t.elapsed();
    assert!(o.status.success(), "ferroute {args:?}: {}", text(&o));
    took
}

/// The router process's resident set, in KiB.
fn rss_kib(lab: &Lab) -> u64 {
    let pid = lab.router.as_ref().expect("router running").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// While `flooder` runs: pings through and to the router every 0.1 s, and `neigh` and
/// `route show` every 0.2 s. Returns (flood report, pings through, pings to the router,
/// pings sent each, slowest API answer).
fn under_flood(lab: &Lab, mut flooder: Child) -> (String, u32, u32, u32, Duration) {
    let count = (FLOOD_SECONDS * 10 - 10) as u32;
    let n = count.to_string();
    let ping = |dst: &str| {
        lab.spawn(
            0,
            &["ping", "-n", "-q", "-i", "0.1", "-W", "1", "-c", &n, dst],
        )
    };
    let through = ping("10.0.2.2");
    let to_router = ping("10.0.1.1");
    let mut slowest = Duration::ZERO;
    while flooder.try_wait().expect("flood").is_none() {
        slowest = slowest.max(timed(lab, &["neigh"]));
        slowest = slowest.max(timed(lab, &["route", "show"]));
        std::thread::sleep(Duration::from_millis(200));
    }
    let report = text(&flooder.wait_with_output().expect("flood"));
    let through = text(&through.wait_with_output().expect("ping"));
    let to_router = text(&to_router.wait_with_output().expect("ping"));
    eprintln!("flood: {report}\nthrough: {through}\nto the router: {to_router}");
    (
        report,
        received(&through),
        received(&to_router),
        count,
        slowest,
    )
}

#[test]
fn a_garbage_flood_loses_no_pings_and_the_api_answers_at_once() {
    let lab = Lab::start("fl-mix", "");
    // Neighbours resolved, pool idle before the flood.
    assert_eq!(
        received(&text(&lab.exec(0, &["ping", "-c", "2", "10.0.2.2"]))),
        2
    );
    let idle = lab.counter("mempool_in_use");
    let flooder = flood(&lab, "mixed", FLOOD_SECONDS, FLOOD_PPS);
    let (report, through, to_router, sent, slowest) = under_flood(&lab, flooder);
    let c = lab.counters();
    eprintln!(
        "slowest API answer {slowest:?}; ip4_bad_version {}, arp_malformed {}, punted {}",
        c["drop ip4_bad_version"], c["drop arp_malformed"], c["punted"]
    );
    assert!(report.contains("\"sent\""), "{report}");
    assert_eq!(through, sent, "pings through the router lost");
    assert_eq!(to_router, sent, "pings to the router lost");
    assert!(
        slowest < Duration::from_millis(100),
        "an API answer took {slowest:?}"
    );
    // The garbage was seen and counted by reason, in the worker.
    assert!(c["drop ip4_bad_version"] > 10_000, "{c:?}");
    assert!(c["drop arp_malformed"] > 10_000, "{c:?}");
    // A second after the flood, the only mbufs still in use are those held for
    // neighbours being resolved (garbage to addresses of the connected subnets); they
    // are released when resolution gives up (arp.mcast_probes x retrans_ms = 3 s).
    std::thread::sleep(Duration::from_secs(1));
    let (in_use, held) = (lab.counter("mempool_in_use"), lab.counter("neigh_held"));
    eprintln!("1 s after the flood: {in_use} mbufs in use ({idle} idle), {held} held");
    assert!(
        in_use <= idle + held,
        "{in_use} in use, {idle} idle + {held} held"
    );
    assert!(lab.counter("neigh_entries") <= 1024);
    assert!(held <= 1024);
    lab.assert_pool_back_to(idle);
}

#[test]
fn an_arp_flood_from_thousands_of_sources_is_policed_and_bounded() {
    let lab = Lab::start("fl-arp", "");
    assert_eq!(
        received(&text(&lab.exec(0, &["ping", "-c", "2", "10.0.2.2"]))),
        2
    );
    let idle = lab.counter("mempool_in_use");
    // A first round fills the neighbour table; the second must not grow memory.
    let first = flood(&lab, "arp", 4, FLOOD_PPS);
    let first = text(&first.wait_with_output().expect("flood"));
    let rss_before = rss_kib(&lab);
    let flooder = flood(&lab, "arp", FLOOD_SECONDS, FLOOD_PPS);
    let (_, through, to_router, sent, slowest) = under_flood(&lab, flooder);
    let rss_after = rss_kib(&lab);
    let c = lab.counters();
    eprintln!(
        "first round {first}; RSS {rss_before} -> {rss_after} KiB; slowest API answer \
         {slowest:?}; policed {} (known {}), table full {}, entries {}",
        c["drop punt_arp_policed"],
        c["drop punt_arp_known_policed"],
        c["drop neigh_table_full"],
        c["neigh_entries"]
    );
    assert_eq!(through, sent, "pings through the router lost");
    assert_eq!(to_router, sent, "pings to the router lost");
    assert!(slowest < Duration::from_millis(100), "{slowest:?}");
    // Unsolicited ARP over punt.arp_pps (1000/s per port) is dropped in the worker.
    assert!(c["drop punt_arp_policed"] > 100_000, "{c:?}");
    assert!(c["drop punt_arp_queue_full"] == 0, "{c:?}");
    assert!(c["neigh_entries"] <= 1024 + 2, "{c:?}");
    assert!(
        rss_after <= rss_before + 2048,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    // h1 and h2 kept their entries (Linux spares entries updated in the last 5 s).
    let neigh = text(&lab.cli(&["neigh"]));
    assert!(neigh.contains("10.0.1.2 dev port0 lladdr"), "{neigh}");
    assert!(neigh.contains("10.0.2.2 dev port1 lladdr"), "{neigh}");
    lab.assert_pool_back_to(idle);
}

#[test]
fn icmp_errors_are_limited_per_host_as_linux_does() {
    let lab = Lab::start("fl-icmp", "");
    assert_eq!(
        received(&text(&lab.exec(0, &["ping", "-c", "1", "10.0.2.2"]))),
        1
    );
    let mac = lab.router_mac(0);
    let sent = lab.counter("icmp_out ttl_exceeded");
    let limited = lab.counter("icmp_ratelimited_host");
    // 400 packets to forward with TTL 1 from one host, in a burst.
    lab.inject("ttl1", 400, &mac, "10.0.1.2", "10.0.2.2");
    assert!(Lab::wait_for(Duration::from_secs(2), || {
        lab.counter("icmp_out ttl_exceeded") - sent + lab.counter("icmp_ratelimited_host") - limited
            >= 400
    }));
    let answered = lab.counter("icmp_out ttl_exceeded") - sent;
    // Linux: a burst of 6 (XRLIM_BURST_FACTOR), then one per icmp_ratelimit (1 s).
    assert!((6..=7).contains(&answered), "{answered} time exceeded sent");
    assert_eq!(
        lab.counter("icmp_ratelimited_host") - limited,
        400 - answered
    );
    // Another source host has its own bucket.
    let before = lab.counter("icmp_out ttl_exceeded");
    lab.inject("ttl1", 10, &mac, "10.0.1.77", "10.0.2.2");
    assert!(Lab::wait_for(Duration::from_secs(2), || lab
        .counter("icmp_out ttl_exceeded")
        >= before + 6));
    // Echo replies are not limited (ratemask bit 0 clear).
    let out = text(&lab.exec(
        0,
        &["ping", "-n", "-q", "-i", "0.01", "-c", "50", "10.0.1.1"],
    ));
    assert_eq!(received(&out), 50, "{out}");
}

#[test]
fn sighup_is_ignored_and_sigterm_stops_a_flooded_router_within_a_second() {
    let mut lab = Lab::start("fl-sig", "");
    let mut flooder = flood(&lab, "mixed", 6, "0");
    std::thread::sleep(Duration::from_secs(2));
    let pid = lab.router.as_ref().expect("router").id().to_string();
    assert!(common::run(&["kill", "-HUP", &pid]).status.success());
    std::thread::sleep(Duration::from_millis(500));
    let alive = lab
        .router
        .as_mut()
        .expect("router")
        .try_wait()
        .expect("wait");
    assert!(alive.is_none(), "SIGHUP stopped the router: {alive:?}");
    assert!(lab.cli(&["route", "show"]).status.success());
    let t = Instant::now();
    let st = lab.stop();
    let took = t.elapsed();
    let _ = flooder.kill();
    let _ = flooder.wait();
    eprintln!("stopped in {took:?}: {st:?}");
    assert!(st.is_some_and(|s| s.success()), "{st:?}");
    assert!(took < Duration::from_secs(1), "SIGTERM took {took:?}");
}
