//! Soak (issue 12, item 6): the router forwarding for a long period with everything at
//! once — route churn through the control API (atomic batches, 10k updates/s in the full
//! run), a garbage flood and an ARP flood from h1 (tests/tools/flood.py), fragmented
//! pings (3000 octets, fragmented by h1's kernel) and plain pings through and to the
//! router, metric scrapes and API queries every 0.2 s.
//!
//! Sampled over time: RSS, mbufs in use, FIB version, the API's latency; at the end,
//! drops by reason, route updates, ping loss, the kernel's tap drops. Asserted: the router never exits; RSS grows by less than
//! 16 MiB + 10 % from the first sample (after warm-up) to the last; the pool is back to
//! its idle count once the floods stop and held packets time out; no counter goes
//! backwards between samples; pings lose nothing beyond the kernel's own tap drops.
//!
//! `cargo bench --bench soak` is the full run (600 s; `FERROUTE_SOAK_SECS` overrides);
//! a plain run (`cargo test`) is a 20 s smoke run. Needs root, net_tap, python3.
#[path = "common/mod.rs"]
mod common;
#[path = "../tests/common/mod.rs"]
mod lab;

use common::{percentile, Mode, Report};
use ferroute::api::client::Conn;
use ferroute::api::*;
use lab::{received, text, Lab};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Prefix `i` of the churn set: 10.128.0.0/9 split in /24s, none overlapping the lab's.
fn churn_prefix(i: u32) -> (Ipv4Addr, u8) {
    let n = i % 32_768;
    (Ipv4Addr::from(0x0a80_0000 | (n << 8)), 24)
}

/// Adds then deletes batches of `per_batch` routes at `pace` updates/s until `stop`:
/// (updates, failed batches).
fn churn(socket: &Path, stop: &AtomicBool, per_batch: u32, pace: f64) -> (u64, u64) {
    let Ok(mut conn) = Conn::connect(socket) else {
        return (0, 1);
    };
    let t = Instant::now();
    let (mut n, mut failed, mut round) = (0u64, 0u64, 0u32);
    while !stop.load(Ordering::Relaxed) {
        for kind in [RTM_NEWROUTE, RTM_DELROUTE] {
            let prefixes =
                (0..per_batch).map(|i| churn_prefix(round.wrapping_mul(per_batch).wrapping_add(i)));
            let gw = Ipv4Addr::new(10, 0, 2, 2);
            let (buf, seq) = common::route_batch(&mut conn, kind, gw, prefixes);
            if conn.write_raw(&buf).is_err() || conn.wait_ack(seq).is_err() {
                failed += 1;
            } else {
                n += u64::from(per_batch);
            }
        }
        round = round.wrapping_add(1);
        let due = Duration::from_secs_f64(n as f64 / pace);
        std::thread::sleep(due.saturating_sub(t.elapsed()));
    }
    (n, failed)
}

/// The router process's resident set, in KiB.
fn rss_kib(lab: &Lab) -> f64 {
    let Some(pid) = lab.router.as_ref().map(|c| c.id()) else {
        return 0.0;
    };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// Frames h1's kernel dropped on its tap (TX dropped: not read by the router in time).
fn tap_dropped(lab: &Lab) -> u64 {
    let tap = lab.hosts[0].tap.clone();
    let out = text(&lab.exec(0, &["ip", "-s", "link", "show", &tap]));
    out.lines()
        .skip_while(|l| !l.trim_start().starts_with("TX:"))
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn flood(lab: &Lab, mix: &str, secs: u64, pps: u32) -> Child {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/flood.py");
    let (tap, mac) = (lab.hosts[0].tap.clone(), lab.router_mac(0));
    let (secs, pps) = (secs.to_string(), pps.to_string());
    lab.spawn(
        0,
        &[
            "python3", script, &tap, &mac, "10.0.1.1", &secs, mix, "11", &pps,
        ],
    )
}

fn main() {
    let mode = Mode::from_args();
    let secs: u64 = std::env::var("FERROUTE_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(mode.pick(600, 20));
    let pace = mode.pick(10_000.0, 2_000.0);
    let sample_every = Duration::from_secs((secs / 12).max(2));
    let mut report = Report::new(
        "soak",
        "Soak: forwarding under route churn, floods, ARP churn and fragments",
        mode,
    );
    let mut lab = Lab::start("soak", "");
    let pings = |n: &str, dst: &str, size: &str| {
        lab.spawn(
            0,
            &[
                "ping", "-n", "-q", "-i", "0.2", "-W", "2", "-s", size, "-c", n, dst,
            ],
        )
    };
    assert_eq!(
        received(&text(&lab.exec(0, &["ping", "-c", "2", "10.0.2.2"]))),
        2
    );
    let idle = lab.counter("mempool_in_use");
    let drops0 = tap_dropped(&lab);
    let count = ((secs - 2) * 5).to_string();
    let through = pings(&count, "10.0.2.2", "56");
    let to_router = pings(&count, "10.0.1.1", "56");
    let frags = pings(&count, "10.0.2.2", "3000");
    let garbage = flood(&lab, "mixed", secs, 20_000);
    let arp = flood(&lab, "arp", secs, 2_000);
    let stop = Arc::new(AtomicBool::new(false));
    let churner = {
        let (s, sock) = (Arc::clone(&stop), lab.socket.clone());
        std::thread::spawn(move || churn(&sock, &s, 100, pace))
    };

    let t0 = Instant::now();
    let (mut api_ms, mut samples) = (Vec::new(), Vec::<(f64, f64, f64, f64, f64)>::new());
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut backwards = Vec::new();
    let mut next_sample = Duration::ZERO;
    while t0.elapsed() < Duration::from_secs(secs) {
        let t = Instant::now();
        let ok = lab.cli(&["route", "show", "10.0.2.0/24"]).status.success();
        api_ms.push(if ok {
            t.elapsed().as_secs_f64() * 1e3
        } else {
            5_000.0
        });
        let m = lab.scrape();
        assert!(!m.is_empty(), "empty /metrics");
        if t0.elapsed() >= next_sample {
            next_sample += sample_every;
            let c = lab.counters();
            for (k, v) in &c {
                if !k.contains("in_use") && !k.contains("entries") && !k.contains("held") {
                    if let Some(p) = last.get(k) {
                        if v < p && !k.starts_with("neigh") && !k.starts_with("fib") {
                            backwards.push(format!("{k}: {p} -> {v}"));
                        }
                    }
                }
            }
            let s = (
                t0.elapsed().as_secs_f64(),
                rss_kib(&lab) / 1024.0,
                c.get("mempool_in_use").copied().unwrap_or(0) as f64,
                api_ms.last().copied().unwrap_or(0.0),
                c.get("fib_version").copied().unwrap_or(0) as f64,
            );
            eprintln!(
                "soak t={:.0}s rss={:.1} MiB mbufs={} api={:.1} ms fib version {}",
                s.0, s.1, s.2, s.3, s.4
            );
            samples.push(s);
            last = c;
        }
        let alive = lab
            .router
            .as_mut()
            .map(|c| c.try_wait().ok().flatten().is_none());
        assert_eq!(alive, Some(true), "the router exited: {}", lab.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    let (updates, failed) = churner.join().expect("churn thread");
    let _ = garbage.wait_with_output();
    let _ = arp.wait_with_output();
    let through = received(&text(&through.wait_with_output().expect("ping")));
    let to_router = received(&text(&to_router.wait_with_output().expect("ping")));
    let frags = received(&text(&frags.wait_with_output().expect("ping")));
    let tap_drops = tap_dropped(&lab) - drops0;
    let rss_end = rss_kib(&lab) / 1024.0;
    // Held packets (neighbours being resolved) are released within arp's 3 s.
    let back = Lab::wait_for(Duration::from_secs(10), || {
        lab.counter("mempool_in_use") <= idle
    });
    let in_use = lab.counter("mempool_in_use");
    // The counters at the end: drops by reason over the whole run.
    let end_counters = lab.counters();
    let sent: u32 = count.parse().unwrap_or(0);
    let rss_first = samples.get(1).or(samples.first()).map_or(0.0, |s| s.1);
    let growth = rss_end - rss_first;
    let (p50, p99, max) = (
        percentile(&mut api_ms.clone(), 50.0),
        percentile(&mut api_ms.clone(), 99.0),
        api_ms.iter().cloned().fold(0.0, f64::max),
    );
    report.note(format!(
        "{secs} s; churn {pace} updates/s (batches of 100); floods: mixed 20 kpps, arp 2 kpps; \
         pings every 0.2 s (56 and 3000 octets); API `route show` every 0.2 s"
    ));
    report.columns(&[
        "t (s)",
        "RSS (MiB)",
        "mbufs in use",
        "API (ms)",
        "FIB version",
    ]);
    for s in &samples {
        report.row(vec![
            format!("{:.0}", s.0),
            format!("{:.1}", s.1),
            format!("{:.0}", s.2),
            format!("{:.1}", s.3),
            format!("{:.0}", s.4),
        ]);
        report.bar("RSS over time", "MiB", &format!("{:.0}s", s.0), s.1);
        report.bar(
            "mbufs in use over time",
            "mbufs",
            &format!("{:.0}s", s.0),
            s.2,
        );
    }
    report.bar("API latency", "ms", "p50", p50);
    report.bar("API latency", "ms", "p99", p99);
    report.bar("API latency", "ms", "max", max);
    for (k, v) in [
        ("soak.seconds", secs as f64),
        ("soak.rss_first_mib", rss_first),
        ("soak.rss_end_mib", rss_end),
        ("soak.rss_growth_mib", growth),
        ("soak.mbufs_idle", idle as f64),
        ("soak.mbufs_end", in_use as f64),
        ("soak.api_p50_ms", p50),
        ("soak.api_p99_ms", p99),
        ("soak.api_max_ms", max),
        ("soak.route_updates", updates as f64),
        ("soak.route_batches_failed", failed as f64),
        ("soak.pings_sent", f64::from(sent)),
        (
            "soak.ping_through_lost",
            f64::from(sent - through.min(sent)),
        ),
        (
            "soak.ping_router_lost",
            f64::from(sent - to_router.min(sent)),
        ),
        ("soak.ping_frag_lost", f64::from(sent - frags.min(sent))),
        ("soak.tap_drops", tap_drops as f64),
    ] {
        report.figure(k, v);
    }
    report.series("soak.api_ms", &api_ms);
    // Drops by reason over the whole run.
    let mut drops: Vec<_> = end_counters
        .iter()
        .filter(|(k, _)| k.starts_with("drop "))
        .collect();
    drops.sort();
    for (k, v) in drops {
        report.figure(&format!("soak.{}", k.replace(' ', ".")), *v as f64);
    }
    let fib_versions = samples.last().map_or(0.0, |s| s.4) - samples.first().map_or(0.0, |s| s.4);
    report.figure("soak.fib_versions", fib_versions);
    let path = report.finish().expect("write results");
    println!("results: {}", path.display());
    let _ = lab.stop();

    assert!(
        backwards.is_empty(),
        "counters went backwards: {backwards:?}"
    );
    assert!(back, "mbufs in use {in_use}, idle {idle}");
    assert!(
        growth < 16.0 + rss_first * 0.1,
        "RSS grew {growth:.1} MiB (from {rss_first:.1})"
    );
    assert_eq!(failed, 0, "route batches failed");
    assert!(
        updates > 0 && fib_versions > 0.0,
        "no route updates ({updates}, {fib_versions} FIB versions)"
    );
    // Unaffected flows: nothing lost beyond what h1's kernel dropped on its tap.
    let allowed = |got: u32| u64::from(sent - got.min(sent)) <= tap_drops;
    assert!(
        allowed(through),
        "pings through: {through}/{sent}, tap drops {tap_drops}"
    );
    assert!(
        allowed(to_router),
        "pings to the router: {to_router}/{sent}, tap drops {tap_drops}"
    );
    assert!(
        allowed(frags),
        "fragmented pings: {frags}/{sent}, tap drops {tap_drops}"
    );
    assert!(p99 < 1_000.0, "API p99 {p99:.1} ms");
}
