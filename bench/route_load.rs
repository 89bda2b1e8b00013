//! Route loading and churn through the control API, against Linux's own FIB as the peer.
//!
//! 1. Full-table load: `ferroute route load` of the BGP table (901,899 prefixes from
//!    ../shared/data, or a synthetic table of the same length mix when it is absent),
//!    next to `ip -batch` loading the same routes into a Linux network namespace.
//! 2. Sustained updates per second (atomic batches of adds and deletes of unrelated
//!    prefixes) on top of that table while the router forwards an iperf3 UDP stream;
//!    Linux's update rate on the same table (`ip -batch`) beside it.
//! 3. The forwarding rate with and without that churn, interleaved rounds, medians.
//!
//! Needs root, net_tap and iperf3 (as the integration tests). Smoke run (no `--bench`):
//! 2,000 routes and one short round of each.
#[path = "common/mod.rs"]
mod common;
#[path = "../tests/common/mod.rs"]
mod lab;

use common::{median, table, Mode, Report};
use ferroute::api::client::Conn;
use ferroute::api::*;
use ipnet::Ipv4Net;
use lab::{run, text, Lab};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The prefixes to load: the real table (full run, when present) or a synthetic one with
/// its length mix, minus our own test networks (10/8), loopback and the churn's
/// 100.64.0.0/10.
fn table(mode: Mode) -> (Vec<(Ipv4Addr, u8)>, String) {
    let t = match table::for_mode(mode, 2_000) {
        Ok(t) => t,
        Err(e) => panic!("route table: {e}"),
    };
    let cgnat: Ipv4Net = "100.64.0.0/10".parse().expect("a valid prefix");
    let v = t
        .prefixes
        .iter()
        .filter(|p| !matches!(p.addr().octets()[0], 10 | 127) && !cgnat.contains(*p))
        .map(|p| (p.addr(), p.prefix_len()))
        .collect();
    (v, t.source)
}

fn write_table(path: &Path, routes: &[(Ipv4Addr, u8)], line: impl Fn(Ipv4Addr, u8) -> String) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("table file"));
    for (a, l) in routes {
        writeln!(f, "{}", line(*a, *l)).expect("write table");
    }
}

/// Seconds for `ferroute route load` of `file`.
fn ferroute_load(lab: &Lab, file: &Path) -> f64 {
    let t = Instant::now();
    let o = lab.cli(&[
        "route",
        "load",
        file.to_str().unwrap_or(""),
        "via",
        "10.0.2.2",
    ]);
    let secs = t.elapsed().as_secs_f64();
    assert!(o.status.success(), "route load: {}", text(&o));
    secs
}

/// A namespace whose Linux kernel loads the same routes: the peer.
struct LinuxPeer {
    ns: String,
}

impl LinuxPeer {
    fn new() -> LinuxPeer {
        let ns = format!("frbench-linux-{}", std::process::id());
        let _ = run(&["ip", "netns", "del", &ns]);
        for cmd in [
            vec!["ip", "netns", "add", &ns],
            // A veth pair inside the namespace (the sandbox kernel may lack `dummy`).
            vec![
                "ip", "-n", &ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1",
            ],
            vec!["ip", "-n", &ns, "addr", "add", "10.0.2.1/24", "dev", "d0"],
            vec!["ip", "-n", &ns, "link", "set", "d1", "up"],
            vec!["ip", "-n", &ns, "link", "set", "d0", "up"],
        ] {
            let o = run(&cmd);
            assert!(o.status.success(), "{cmd:?}: {}", text(&o));
        }
        LinuxPeer { ns }
    }

    /// Seconds for `ip -batch FILE`.
    fn batch(&self, file: &Path) -> f64 {
        let t = Instant::now();
        let o = run(&["ip", "-n", &self.ns, "-batch", file.to_str().unwrap_or("")]);
        let secs = t.elapsed().as_secs_f64();
        assert!(o.status.success(), "ip -batch: {}", text(&o));
        secs
    }

    fn flush(&self) {
        let _ = run(&["ip", "-n", &self.ns, "route", "flush", "proto", "static"]);
    }
}

impl Drop for LinuxPeer {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.ns]);
    }
}

/// 100.64.0.0/10 as /24s (16,384 of them): prefixes the loaded table does not have.
fn churn_prefix(i: u32) -> (Ipv4Addr, u8) {
    (Ipv4Addr::from(0x6440_0000 + ((i % 16384) << 8)), 24)
}

/// Adds then deletes `per_batch` prefixes per atomic batch until `stop`, as fast as the
/// router acks or at `pace` updates per second: (updates, seconds).
fn churn(socket: &Path, stop: &AtomicBool, per_batch: u32, pace: Option<f64>) -> (u64, f64) {
    let mut conn = Conn::connect(socket).expect("connect");
    let t = Instant::now();
    let (mut n, mut round) = (0u64, 0u32);
    while !stop.load(Ordering::Relaxed) {
        for kind in [RTM_NEWROUTE, RTM_DELROUTE] {
            let prefixes = (0..per_batch).map(|i| churn_prefix(round * per_batch + i));
            let gw = Ipv4Addr::new(10, 0, 2, 2);
            let (buf, seq) = common::route_batch(&mut conn, kind, gw, prefixes);
            conn.write_raw(&buf).expect("send");
            conn.wait_ack(seq).expect("churn batch");
            n += u64::from(per_batch);
        }
        round += 1;
        if let Some(p) = pace {
            let due = Duration::from_secs_f64(n as f64 / p);
            std::thread::sleep(due.saturating_sub(t.elapsed()));
        }
    }
    (n, t.elapsed().as_secs_f64())
}

/// An iperf3 UDP stream h1 -> h2 of 256-byte datagrams for `secs`, at `offered` packets
/// per second (None: as fast as iperf3 can), with route churn alongside when
/// `churn_batch` is set. Returns (delivered pps, loss fraction, churn updates/s), as the
/// iperf3 receiver counted them.
fn forward_rate(
    lab: &Lab,
    secs: u32,
    offered: Option<f64>,
    churn_batch: Option<(u32, Option<f64>)>,
) -> (f64, f64, f64) {
    let mut server = lab.spawn(1, &["iperf3", "-s", "-1"]);
    std::thread::sleep(Duration::from_millis(300));
    let stop = Arc::new(AtomicBool::new(false));
    let churner = churn_batch.map(|(b, pace)| {
        let (s, sock) = (Arc::clone(&stop), lab.socket.clone());
        std::thread::spawn(move || churn(&sock, &s, b, pace))
    });
    let t = secs.to_string();
    let drops = |lab: &Lab| -> u64 {
        lab.counters()
            .iter()
            .filter(|(k, _)| k.starts_with("drop "))
            .map(|(_, v)| *v)
            .sum()
    };
    let tap = lab.hosts[0].tap.clone();
    let tap_dropped = |lab: &Lab| -> u64 {
        let f = format!("/sys/class/net/{tap}/statistics/tx_dropped");
        text(&lab.exec(0, &["cat", &f])).trim().parse().unwrap_or(0)
    };
    let (drops0, tap0) = (drops(lab), tap_dropped(lab));
    // iperf3's -b counts UDP payload bits.
    let bits = offered.map_or_else(
        || "0".to_string(),
        |pps| format!("{:.0}", pps * 256.0 * 8.0),
    );
    let o = lab.exec(
        0,
        &[
            "iperf3", "-c", "10.0.2.2", "-u", "-b", &bits, "-l", "256", "-t", &t, "-J",
        ],
    );
    stop.store(true, Ordering::Relaxed);
    let (router_drops, tap_drops) = (drops(lab) - drops0, tap_dropped(lab) - tap0);
    let updates = churner
        .map(|c| {
            let (n, s) = c.join().expect("churn thread");
            n as f64 / s
        })
        .unwrap_or(0.0);
    let _ = server.kill();
    let _ = server.wait();
    assert!(o.status.success(), "iperf3: {}", text(&o));
    let j: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("iperf3 JSON: {e}"));
    let sum = &j["end"]["sum"];
    let (packets, lost, seconds) = (
        sum["packets"].as_f64().unwrap_or(0.0),
        sum["lost_packets"].as_f64().unwrap_or(0.0),
        sum["seconds"].as_f64().unwrap_or(1.0),
    );
    let delivered = (packets - lost).max(0.0);
    let loss = if packets > 0.0 { lost / packets } else { 0.0 };
    // Where lost datagrams went: dropped by the router (any reason), or by h1's kernel
    // before the router read them (the tap's queue, when the router polls too slowly).
    eprintln!(
        "  offered {offered:?} pps, churn {churn_batch:?}: {delivered:.0} of {packets:.0} datagrams in {seconds:.2} s, \
         {updates:.0} updates/s; router drops {router_drops}, h1 tap tx_dropped {tap_drops}"
    );
    (delivered / seconds.max(1e-3), loss, updates)
}

fn main() {
    let mode = Mode::from_args();
    let mut report = Report::new(
        "route_load",
        "Route load and churn through the control API (ferroute vs Linux ip -batch)",
        mode,
    );
    let (routes, source) = table(mode);
    report.note(format!("table: {source}, next hop 10.0.2.2"));
    let dir = std::env::temp_dir();
    let id = std::process::id();
    let fr_file: PathBuf = dir.join(format!("frbench-{id}.routes"));
    let ip_file: PathBuf = dir.join(format!("frbench-{id}.ip"));
    write_table(&fr_file, &routes, |a, l| format!("{a}/{l}"));
    write_table(&ip_file, &routes, |a, l| {
        format!("route replace {a}/{l} via 10.0.2.2 proto static")
    });

    // 1. Full-table load, interleaved with Linux loading the same table.
    let mut lab = Lab::start("bench", "");
    let linux = LinuxPeer::new();
    let rounds = mode.pick(3, 1);
    // Every round loads into an empty table: the router restarts on its config, Linux's
    // routes are flushed (replacing identical routes would measure nothing).
    let config = std::fs::read_to_string(&lab.config).expect("lab config");
    let (mut fr, mut lx) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        if r > 0 {
            lab.restart_with(&config);
            linux.flush();
        }
        let s = ferroute_load(&lab, &fr_file);
        eprintln!("  ferroute route load: {s:.2} s");
        fr.push(s);
        let s = linux.batch(&ip_file);
        eprintln!("  Linux ip -batch: {s:.2} s");
        lx.push(s);
    }
    let n = routes.len() as f64;
    let (fr_s, lx_s) = (median(&mut fr), median(&mut lx));
    let prefixes = lab.counter("fib_prefixes");
    assert!(
        prefixes as usize >= routes.len(),
        "FIB has {prefixes} prefixes"
    );
    report.note(format!(
        "load: {rounds} interleaved round(s), each into an empty table; `ferroute route load` \
         (atomic batches of 2,000, 16 in flight) vs `ip -batch` of `route replace` lines"
    ));
    report.columns(&["measurement", "ferroute", "Linux", "ferroute/Linux"]);
    report.row(vec![
        format!("load {} routes (s, median)", routes.len()),
        format!("{fr_s:.2}"),
        format!("{lx_s:.2}"),
        format!("{:.2}", fr_s / lx_s),
    ]);
    report.row(vec![
        "load rate (routes/s)".into(),
        format!("{:.0}", n / fr_s),
        format!("{:.0}", n / lx_s),
        format!("{:.2}", lx_s / fr_s),
    ]);
    report.figure("load.ferroute.seconds", fr_s);
    report.figure("load.linux.seconds", lx_s);
    report.figure("load.ferroute.routes_per_s", n / fr_s);
    report.bar("full-table load", "routes/s", "ferroute", n / fr_s);
    report.bar("full-table load", "routes/s", "Linux ip -batch", n / lx_s);

    // 2 + 3. Forwarding with and without churn on top of the loaded table, interleaved.
    let secs = mode.pick(5, 1);
    let batch = 500;
    let rounds = mode.pick(3, 1);
    let pace = 5000.0;
    // The generator shares the 2 cores with the churn, so a stream as fast as it can go
    // would measure the generator's loss of CPU: measure capacity alone, then offer half
    // of it with and without churn and count what the router forwards.
    let mut cap: Vec<f64> = (0..rounds)
        .map(|_| forward_rate(&lab, secs, None, None).0)
        .collect();
    let capacity = median(&mut cap);
    let offered = (capacity / 2.0).max(1000.0);
    let mut updates = Vec::new();
    let mut paced_updates = Vec::new();
    let mut losses: [Vec<f64>; 3] = Default::default();
    let mut run = |churn: Option<(u32, Option<f64>)>, k: usize| {
        let (pps, loss, ups) = forward_rate(&lab, secs, Some(offered), churn);
        losses[k].push(loss);
        match churn {
            Some((_, None)) => updates.push(ups),
            Some((_, Some(_))) => paced_updates.push(ups),
            None => {}
        }
        pps
    };
    let mut order = 0usize;
    let mut next = || {
        let k = order % 3;
        order += 1;
        let churn = [None, Some((batch, None)), Some((100, Some(pace)))][k];
        run(churn, k)
    };
    let mut all = Vec::new();
    for _ in 0..rounds * 3 {
        all.push(next());
    }
    let pick = |k: usize| -> Vec<f64> { all.iter().skip(k).step_by(3).copied().collect() };
    let (mut b, mut c, mut p) = (pick(0), pick(1), pick(2));
    let (base_pps, churn_pps, paced_pps) = (median(&mut b), median(&mut c), median(&mut p));
    let [mut l0, mut l1, mut l2] = losses;
    let (base_loss, churn_loss, paced_loss) = (median(&mut l0), median(&mut l1), median(&mut l2));
    let ups = median(&mut updates);
    let paced_ups = median(&mut paced_updates);
    // Linux's update rate on the same table: the same adds and deletes via ip -batch.
    let mut churn_lines = String::new();
    let k = mode.pick(16_000, 2_000);
    for verb in ["add", "del"] {
        for i in 0..k {
            let (a, l) = churn_prefix(i);
            churn_lines.push_str(&format!("route {verb} {a}/{l} via 10.0.2.2\n"));
        }
    }
    let churn_file = dir.join(format!("frbench-{id}.churn"));
    std::fs::write(&churn_file, churn_lines).expect("churn file");
    let linux_ups = (2 * k) as f64 / linux.batch(&churn_file);
    report.note(format!(
        "churn: atomic batches of {batch} adds then {batch} deletes of 100.64.0.0/10 /24s on top of the table, \
         as fast as acked, and batches of 100 paced to {pace} updates/s, \
         during an iperf3 UDP stream (256-byte datagrams, {secs} s per round, {rounds} interleaved round(s)); \
         the machine's 2 cores are shared by the worker, iperf3 and the churn; \
         Linux's rate is {} adds+deletes by ip -batch on its table, without traffic",
        2 * k
    ));
    report.row(vec![
        "route updates/s while forwarding".into(),
        format!("{ups:.0}"),
        format!("{linux_ups:.0}"),
        format!("{:.2}", ups / linux_ups),
    ]);
    report.row(vec![
        "forwarding capacity, pps (median)".into(),
        format!("{capacity:.0}"),
        "-".into(),
        "-".into(),
    ]);
    report.row(vec![
        format!("UDP stream of {offered:.0} pps, no churn: delivered pps / loss"),
        format!("{base_pps:.0} / {:.2}%", 100.0 * base_loss),
        "-".into(),
        "-".into(),
    ]);
    report.row(vec![
        "same, during max-rate churn".into(),
        format!("{churn_pps:.0} / {:.2}%", 100.0 * churn_loss),
        "-".into(),
        format!("{:.1}% fewer", 100.0 * (1.0 - churn_pps / base_pps)),
    ]);
    report.row(vec![
        format!("same, during {paced_ups:.0} updates/s"),
        format!("{paced_pps:.0} / {:.2}%", 100.0 * paced_loss),
        "-".into(),
        format!("{:.1}% fewer", 100.0 * (1.0 - paced_pps / base_pps)),
    ]);
    report.figure("churn.ferroute.updates_per_s", ups);
    report.figure("churn.linux.updates_per_s", linux_ups);
    report.figure("forward.capacity_pps", capacity);
    report.figure("forward.offered_pps", offered);
    report.figure("forward.baseline_pps", base_pps);
    report.figure("forward.churn_pps", churn_pps);
    report.figure("forward.paced_churn_pps", paced_pps);
    report.figure("forward.baseline_loss", base_loss);
    report.figure("forward.churn_loss", churn_loss);
    report.figure("forward.paced_churn_loss", paced_loss);
    report.figure("churn.paced.updates_per_s", paced_ups);
    report.bar("route updates", "updates/s", "ferroute (forwarding)", ups);
    report.bar("route updates", "updates/s", "Linux ip -batch", linux_ups);
    report.bar("forwarding over net_tap", "pps", "no churn", base_pps);
    report.bar(
        "forwarding over net_tap",
        "pps",
        "max-rate churn",
        churn_pps,
    );
    report.bar("forwarding over net_tap", "pps", "5k updates/s", paced_pps);

    for f in [&fr_file, &ip_file, &churn_file] {
        let _ = std::fs::remove_file(f);
    }
    drop(lab);
    drop(linux);
    // The smoke run only asserts that everything ran and did work.
    assert!(
        base_pps > 0.0 && churn_pps > 0.0 && ups > 0.0,
        "no work done"
    );
    match report.finish() {
        Ok(p) => println!("results: {}", p.display()),
        Err(e) => {
            eprintln!("route_load: cannot write results: {e}");
            std::process::exit(1);
        }
    }
}
