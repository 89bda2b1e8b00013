//! FIB benchmark: ferroute's FIB against DPDK's `rte_fib` (DIR24_8, 4-byte next hops) and
//! `rte_lpm`, loaded with the same table and the same next-hop values, in one process, on
//! the same keys.
//!
//! `cargo bench --bench fib [-- --table PATH]` runs the full benchmark on the BGP table
//! (`../shared/data/bgp-ipv4-full-table.txt.gz` from the project root, or PATH, or
//! `$FERROUTE_BENCH_TABLE`); without the file it generates a synthetic table with the same
//! prefix-length distribution, nested inside aggregates, and says so. Without `--bench`
//! (as `cargo test` runs it) it is a smoke run on a small synthetic table.
//!
//! DPDK runs on 2 MiB hugepages when 512 are free and hugetlbfs is mounted (e.g. `echo 600
//! > /proc/sys/vm/nr_hugepages; mount -t hugetlbfs nodev /dev/hugepages`), else with
//! `--no-huge`, which costs its 64 MiB tables TLB misses; the report says which.
//!
//! Measured, contenders interleaved in rounds, medians reported (CPU time of the
//! benchmark thread, so that other work on a shared machine does not count):
//! * lookups: single (one address per call), burst (64 per call) and dependent (each
//!   address depends on the previous result: latency), on keys half inside table
//!   prefixes, half uniformly random;
//! * memory: ferroute's `Fib::memory_bytes`; for DPDK the documented table sizes and the
//!   growth of DPDK's malloc heap while creating and loading the structure;
//! * build time from the route list;
//! * updates/s: ferroute applying changes to its RIB and publishing a new FIB version per
//!   batch, DPDK's `rte_fib_add/delete` and `rte_lpm_add/delete` one by one.
#[path = "common/mod.rs"]
mod common;

use arc_swap::ArcSwap;
use common::table::{self, mask};
use common::{cpu_timed, fmt_num, interleave, load_average, median, Mode, Report, Rng};
use ferroute::dpdk::{self, Eal, FibLookup, RteFib, RteLpm};
use ferroute::fib::{Fib, FibPublisher, NextHop, Proto, Rib, Route, RouteTarget};
use ipnet::Ipv4Net;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::process::ExitCode;

/// Gateway `GW_BASE + v` stands for next-hop value `v` in ferroute's RIB.
const GW_BASE: u32 = 0x0a00_0000;
/// Distinct next-hop values, drawn at random per prefix (more than a real router has:
/// equal neighbouring answers compress ferroute's leaves, so this is its harder case).
const NEXTHOPS: u32 = 1024;
/// "No route", for all three.
const MISS: u32 = 0x00FF_FFFF;
/// Addresses per burst call, for all three.
const BURST: usize = 64;

struct Params {
    /// Prefixes of the synthetic table when it is used.
    synthetic: usize,
    keys: usize,
    rounds: usize,
    /// Passes over the keys per lookup sample.
    passes: usize,
    build_rounds: usize,
    /// Updates per contender turn, and ferroute's batch sizes.
    update_chunk: usize,
    batches: [usize; 2],
    update_rounds: usize,
}

fn main() -> ExitCode {
    let mode = Mode::from_args();
    match run(mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fib benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn gateway(v: u32) -> RouteTarget {
    RouteTarget::Gateway {
        gw: Ipv4Addr::from(GW_BASE + v),
        port: Some(0),
    }
}

fn prefix(a: u32, l: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::from(a), l).unwrap_or_default()
}

fn route(a: u32, l: u8, v: u32) -> Route {
    Route {
        prefix: prefix(a, l),
        target: gateway(v),
        metric: 0,
        proto: Proto::Static,
    }
}

/// ferroute's answer as the next-hop value the DPDK tables hold.
#[inline(always)]
fn code(nh: Option<NextHop>) -> u32 {
    match nh {
        Some(NextHop::Gateway { gw, .. }) => u32::from(gw).wrapping_sub(GW_BASE),
        _ => MISS,
    }
}

/// ferroute: the RIB, its publisher and the published FIB.
struct Ferroute {
    rib: Rib,
    publisher: FibPublisher,
    swap: ArcSwap<Fib>,
    version: u64,
}

fn build_ferroute(routes: &[(u32, u8, u32)]) -> Ferroute {
    let mut rib = Rib::new();
    for &(a, l, v) in routes {
        rib.insert(route(a, l, v));
    }
    let (publisher, fib) = FibPublisher::new(&rib, 1);
    Ferroute {
        rib,
        publisher,
        swap: ArcSwap::new(fib),
        version: 1,
    }
}

fn build_rte_fib(routes: &[(u32, u8, u32)], name: &str) -> Result<(RteFib, usize), String> {
    let before = dpdk::heap_allocated_bytes();
    let mut f = RteFib::new(name, routes.len() as u32 + 65536, tbl8_groups(routes), MISS)
        .map_err(|e| e.to_string())?;
    for &(a, l, v) in routes {
        f.add(a, l, v).map_err(|e| e.to_string())?;
    }
    Ok((f, dpdk::heap_allocated_bytes().saturating_sub(before)))
}

fn build_rte_lpm(routes: &[(u32, u8, u32)], name: &str) -> Result<(RteLpm, usize), String> {
    let before = dpdk::heap_allocated_bytes();
    let mut t = RteLpm::new(name, routes.len() as u32 + 65536, tbl8_groups(routes))
        .map_err(|e| e.to_string())?;
    for &(a, l, v) in routes {
        t.add(a, l, v).map_err(|e| e.to_string())?;
    }
    Ok((t, dpdk::heap_allocated_bytes().saturating_sub(before)))
}

/// tbl8 groups for DPDK: one per /24 holding longer prefixes, twice over for updates,
/// and at least 256.
fn tbl8_groups(routes: &[(u32, u8, u32)]) -> u32 {
    let mut s: Vec<u32> = routes
        .iter()
        .filter(|r| r.1 > 24)
        .map(|r| r.0 >> 8)
        .collect();
    s.sort_unstable();
    s.dedup();
    (s.len() as u32 * 2).max(256)
}

/// Half the keys inside random table prefixes, half uniformly random, shuffled.
fn make_keys(routes: &[(u32, u8, u32)], n: usize, rng: &mut Rng) -> Vec<u32> {
    let mut keys: Vec<u32> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                let (a, l, _) = routes[(rng.next_u64() % routes.len() as u64) as usize];
                a | (rng.next_u32() & !mask(l))
            } else {
                rng.next_u32()
            }
        })
        .collect();
    for i in (1..keys.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        keys.swap(i, j);
    }
    keys
}

/// One change: announce prefix `idx` with next hop `nh`, or withdraw it (None).
#[derive(Clone, Copy)]
struct Update {
    idx: usize,
    nh: Option<u32>,
}

/// Updates as churn looks: withdraw an installed prefix, announce a withdrawn one again,
/// or move one to a new next hop, on prefixes drawn uniformly from the table.
fn make_updates(routes: &[(u32, u8, u32)], n: usize, rng: &mut Rng) -> Vec<Update> {
    let mut installed = vec![true; routes.len()];
    (0..n)
        .map(|_| {
            let idx = (rng.next_u64() % routes.len() as u64) as usize;
            let nh = if installed[idx] && rng.next_u32() % 2 == 0 {
                None
            } else {
                Some(rng.next_u32() % NEXTHOPS)
            };
            installed[idx] = nh.is_some();
            Update { idx, nh }
        })
        .collect()
}

thread_local! {
    /// CPU and wall seconds of everything `measured`, for the report.
    static SPENT: std::cell::Cell<(f64, f64)> = const { std::cell::Cell::new((0.0, 0.0)) };
}

/// CPU seconds of this thread spent in `f` (see `common::cpu_timed`), and its result;
/// also adds up CPU and wall time for the report.
fn measured<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = std::time::Instant::now();
    let (cpu, r) = cpu_timed(f);
    let wall = t.elapsed().as_secs_f64();
    SPENT.with(|s| {
        let (c, w) = s.get();
        s.set((c + cpu, w + wall));
    });
    (cpu, r)
}

/// Runs `f` `passes` times over the keys; returns lookups per second.
fn rate(keys: usize, passes: usize, mut f: impl FnMut() -> u64) -> f64 {
    let (secs, sum) = measured(|| (0..passes).map(|_| f()).fold(0u64, u64::wrapping_add));
    black_box(sum);
    (keys * passes) as f64 / secs
}

fn run(mode: Mode) -> Result<(), String> {
    let p = mode.pick(
        Params {
            synthetic: 901_899,
            keys: 1 << 20,
            rounds: 9,
            passes: 8,
            build_rounds: 3,
            update_chunk: 20_000,
            batches: [10_000, 1_000],
            update_rounds: 5,
        },
        Params {
            synthetic: 5_000,
            keys: 4096,
            rounds: 1,
            passes: 1,
            build_rounds: 1,
            update_chunk: 1000,
            batches: [500, 100],
            update_rounds: 1,
        },
    );
    let mut rng = Rng::new(0x5eed_f1b0);
    let load_start = load_average();
    let mut report = Report::new(
        "fib",
        "FIB: ferroute vs DPDK rte_fib (DIR24_8) and rte_lpm",
        mode,
    );

    // The table.
    let table = table::for_mode(mode, p.synthetic)?;
    report.note(format!("table: {}", table.source));
    let prefixes: Vec<(u32, u8)> = table
        .prefixes
        .iter()
        .map(|n| (u32::from(n.network()), n.prefix_len()))
        .collect();
    let routes: Vec<(u32, u8, u32)> = prefixes
        .iter()
        .map(|&(a, l)| (a, l, rng.next_u32() % NEXTHOPS))
        .collect();
    report.note(format!(
        "next hops: {NEXTHOPS} distinct values, random per prefix, the same in all three"
    ));

    // DPDK.
    let huge = hugepages_available();
    let mut eal_args: Vec<String> = [
        "-l",
        "0",
        "--no-pci",
        "--no-telemetry",
        "--log-level",
        "lib.eal:error",
        "--force-max-simd-bitwidth=512",
        "-m",
        "1024",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if huge {
        eal_args.push("--in-memory".into());
    } else {
        // (--no-huge implies legacy memory mode, which --in-memory does not allow.)
        eal_args.extend(["--no-huge", "--no-shconf", "--file-prefix"].map(String::from));
        eal_args.push(format!("fib-bench-{}", std::process::id()));
    }
    let _eal = Eal::init(&eal_args).map_err(|e| e.to_string())?;
    report.note(format!(
        "{}; EAL {}",
        dpdk::dpdk_version(),
        if huge {
            "on 2 MiB hugepages"
        } else {
            "with --no-huge (4 KiB pages; DPDK's 64 MiB tbl24 then costs TLB misses)"
        }
    ));

    // Build, interleaved: ferroute from the route list (RIB inserts + first FIB version),
    // rte_fib and rte_lpm by adding every route.
    let mut fr: Option<Ferroute> = None;
    let mut rf: Option<(RteFib, usize)> = None;
    let mut rl: Option<(RteLpm, usize)> = None;
    let mut build = [Vec::new(), Vec::new(), Vec::new()];
    let mut fib_only = Vec::new();
    for round in 0..p.build_rounds {
        // Free the previous round's structures first (DPDK's heap is sized for one each).
        drop(fr.take());
        let (s, f) = measured(|| build_ferroute(&routes));
        build[0].push(s);
        // The FIB part alone: compiling the RIB into a FIB.
        let (t, fib) = measured(|| f.rib.build_fib(2));
        black_box(fib);
        fib_only.push(t);
        fr = Some(f);
        drop(rf.take());
        let (s, r) = measured(|| build_rte_fib(&routes, &format!("bench_fib{round}")));
        build[1].push(s);
        rf = Some(r?);
        // rte_lpm's add is linear in the rules of the same length (about 164 s for the
        // full table here), so it is built once.
        if round == 0 {
            let (s, r) = measured(|| build_rte_lpm(&routes, "bench_lpm"));
            build[2].push(s);
            rl = Some(r?);
        }
    }
    let (Some(mut fr), Some((mut rfib, rfib_heap)), Some((mut rlpm, rlpm_heap))) = (fr, rf, rl)
    else {
        return Err("no build rounds".into());
    };
    let build: Vec<f64> = build.iter_mut().map(|s| median(s)).collect();
    let fib_only = median(&mut fib_only);
    let avx512 = rfib.set_lookup(FibLookup::Avx512).is_ok();
    rfib.set_lookup(FibLookup::Scalar)
        .map_err(|e| e.to_string())?;
    let fib = fr.swap.load_full();
    let fr_mem = fib.memory_bytes();

    // Keys, and a check that all three agree on every one.
    let keys = make_keys(&routes, p.keys, &mut rng);
    let check = |fib: &Fib, rfib: &RteFib, rlpm: &RteLpm, what: &str| -> Result<(), String> {
        let mut a = vec![0u64; keys.len()];
        let mut b = vec![0u32; keys.len()];
        rfib.lookup_bulk(&keys, &mut a);
        rlpm.lookup_each(&keys, &mut b, MISS);
        let mut covered = 0;
        for (i, &k) in keys.iter().enumerate() {
            let f = code(fib.lookup(k));
            if u64::from(f) != a[i] || f != b[i] {
                return Err(format!(
                    "{what}: {} -> ferroute {f}, rte_fib {}, rte_lpm {}",
                    Ipv4Addr::from(k),
                    a[i],
                    b[i]
                ));
            }
            covered += usize::from(f != MISS);
        }
        if covered == 0 {
            return Err(format!("{what}: no key is covered by the table"));
        }
        Ok(())
    };
    check(&fib, &rfib, &rlpm, "after build")?;
    let covered = keys.iter().filter(|&&k| fib.lookup(k).is_some()).count();
    report.note(format!(
        "keys: {} ({} inside table prefixes by construction, {:.0} % with a route in all), \
         {} rounds, medians",
        keys.len(),
        keys.len() / 2,
        100.0 * covered as f64 / keys.len() as f64,
        p.rounds
    ));

    // Lookups.
    let (k, passes) = (keys.len(), p.passes);
    let chain_passes = passes.div_ceil(4);
    let zero = black_box(0u32);
    let mut outall = vec![0u32; k];
    let rf = &rfib;
    let lookups = interleave(
        p.rounds,
        &mut [
            // 0..3: single. All three return the next-hop value stored for the prefix
            // (ferroute: its next-hop id).
            &mut || {
                rate(k, passes, || {
                    keys.iter()
                        .map(|&a| u64::from(fib.lookup_id(a).unwrap_or(MISS)))
                        .sum()
                })
            },
            &mut || {
                rate(k, passes, || {
                    let mut o = [0u64; 1];
                    keys.iter()
                        .map(|a| {
                            rf.lookup_bulk(std::slice::from_ref(a), &mut o);
                            o[0]
                        })
                        .sum()
                })
            },
            &mut || {
                rate(k, passes, || {
                    rlpm.lookup_each(&keys, &mut outall, MISS);
                    outall.iter().map(|&x| u64::from(x)).sum()
                })
            },
            // 3..7: burst
            &mut || {
                rate(k, passes, || {
                    let mut s = 0;
                    let mut out32 = [0u32; BURST];
                    for c in keys.chunks(BURST) {
                        fib.lookup_ids_burst(c, &mut out32[..c.len()]);
                        s += out32[..c.len()].iter().map(|&x| u64::from(x)).sum::<u64>();
                    }
                    s
                })
            },
            &mut || {
                rate(k, passes, || {
                    let mut s = 0;
                    let mut out64 = [0u64; BURST];
                    for c in keys.chunks(BURST) {
                        rf.lookup_bulk(c, &mut out64[..c.len()]);
                        s += out64[..c.len()].iter().sum::<u64>();
                    }
                    s
                })
            },
            &mut || {
                rate(k, passes, || {
                    let mut s = 0;
                    let mut out32 = [0u32; BURST];
                    for c in keys.chunks(BURST) {
                        rlpm.lookup_bulk(c, &mut out32[..c.len()], MISS);
                        s += out32[..c.len()].iter().map(|&x| u64::from(x)).sum::<u64>();
                    }
                    s
                })
            },
            &mut || {
                rate(k, passes, || {
                    let mut s = 0;
                    let mut out32 = [0u32; BURST];
                    for c in keys.chunks(BURST) {
                        rlpm.lookupx4(c, &mut out32[..c.len()], MISS);
                        s += out32[..c.len()].iter().map(|&x| u64::from(x)).sum::<u64>();
                    }
                    s
                })
            },
            // 7: rte_fib's AVX-512 lookup (the lookup function is a property of the fib
            // object, switched for this contender only); NaN where it is not available.
            &mut || {
                if !avx512 || rf.set_lookup(FibLookup::Avx512).is_err() {
                    return f64::NAN;
                }
                let r = rate(k, passes, || {
                    let mut s = 0;
                    let mut out64 = [0u64; BURST];
                    for c in keys.chunks(BURST) {
                        rf.lookup_bulk(c, &mut out64[..c.len()]);
                        s += out64[..c.len()].iter().sum::<u64>();
                    }
                    s
                });
                match rf.set_lookup(FibLookup::Scalar) {
                    Ok(()) => r,
                    Err(_) => f64::NAN,
                }
            },
            // 8..11: dependent
            &mut || {
                rate(k, chain_passes, || {
                    let mut prev = 0u32;
                    for &a in &keys {
                        prev = fib.lookup_id(a ^ (prev & zero)).unwrap_or(MISS);
                    }
                    u64::from(prev)
                })
            },
            &mut || {
                rate(k, chain_passes, || {
                    let mut prev = 0u32;
                    let mut o = [0u64; 1];
                    for &a in &keys {
                        rf.lookup_bulk(&[a ^ (prev & zero)], &mut o);
                        prev = o[0] as u32;
                    }
                    u64::from(prev)
                })
            },
            &mut || {
                rate(k, chain_passes, || {
                    u64::from(rlpm.lookup_chain(&keys, zero, MISS))
                })
            },
            // 11: ferroute's burst as the datapath uses it (pipeline::receive): ids for
            // the burst, then each packet's next hop from the table.
            &mut || {
                rate(k, passes, || {
                    let mut s = 0;
                    let mut ids = [0u32; BURST];
                    for c in keys.chunks(BURST) {
                        fib.lookup_ids_burst(c, &mut ids[..c.len()]);
                        s += ids[..c.len()]
                            .iter()
                            .map(|&id| u64::from(code(fib.nexthop(id))))
                            .sum::<u64>();
                    }
                    s
                })
            },
        ],
    );
    let lk: Vec<f64> = lookups.into_iter().map(|mut s| median(&mut s)).collect();
    // rte_fib's scalar lookup must be back in place for the checks below.
    rfib.set_lookup(FibLookup::Scalar)
        .map_err(|e| e.to_string())?;
    let avx = lk[7];
    drop(fib);

    // Updates, interleaved: ferroute (RIB changes + one published version per batch) at
    // two batch sizes, each on its own chunk of the update sequence, then rte_fib and
    // rte_lpm applying both chunks one by one. All three end in the same state.
    let updates = make_updates(&routes, 2 * p.update_chunk * p.update_rounds, &mut rng);
    let chunk = p.update_chunk;
    let mut publish_secs = [0.0f64; 2];
    let mut upd = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for round in 0..p.update_rounds {
        let both = &updates[2 * round * chunk..2 * (round + 1) * chunk];
        for (which, ups) in both.chunks(chunk).enumerate() {
            let mut publish = 0.0;
            let (secs, ()) = measured(|| {
                for b in ups.chunks(p.batches[which]) {
                    let mut changed = Vec::with_capacity(b.len());
                    for u in b {
                        let (a, l, _) = routes[u.idx];
                        match u.nh {
                            Some(v) => fr.rib.insert(route(a, l, v)),
                            None => {
                                fr.rib.remove(&prefix(a, l), 0);
                            }
                        }
                        changed.push(prefix(a, l));
                    }
                    fr.version += 1;
                    let (t, _) = measured(|| {
                        fr.publisher
                            .publish(&fr.rib, &changed, fr.version, &fr.swap)
                    });
                    publish += t;
                }
            });
            publish_secs[which] += publish;
            upd[which].push(ups.len() as f64 / secs);
        }
        let (secs, r) = measured(|| -> Result<(), dpdk::DpdkError> {
            for u in both {
                let (a, l, _) = routes[u.idx];
                match u.nh {
                    Some(v) => rfib.add(a, l, v)?,
                    None => ignore_missing(rfib.delete(a, l))?,
                }
            }
            Ok(())
        });
        r.map_err(|e| e.to_string())?;
        upd[2].push(both.len() as f64 / secs);
        let (secs, r) = measured(|| -> Result<(), dpdk::DpdkError> {
            for u in both {
                let (a, l, _) = routes[u.idx];
                match u.nh {
                    Some(v) => rlpm.add(a, l, v)?,
                    None => ignore_missing(rlpm.delete(a, l))?,
                }
            }
            Ok(())
        });
        r.map_err(|e| e.to_string())?;
        upd[3].push(both.len() as f64 / secs);
    }
    let up: Vec<f64> = upd.iter_mut().map(|s| median(s)).collect();
    let fib = fr.swap.load_full();
    check(&fib, &rfib, &rlpm, "after updates")?;
    // And the incrementally updated FIB against a fresh build of the same RIB.
    let fresh = fr.rib.build_fib(0);
    if let Some(&bad) = keys.iter().find(|&&a| fib.lookup(a) != fresh.lookup(a)) {
        return Err(format!(
            "incremental FIB differs from a fresh build at {}",
            Ipv4Addr::from(bad)
        ));
    }
    let fr_mem_after = fib.memory_bytes();
    let stats = fr.publisher.stats();
    let publish_rate: Vec<f64> = (0..2)
        .map(|w| (p.update_chunk * p.update_rounds) as f64 / publish_secs[w])
        .collect();

    // The report.
    let rfib_tables = rfib.table_bytes();
    let rlpm_tables = rlpm.table_bytes();
    let best_fib_burst = if avx.is_nan() { lk[4] } else { lk[4].max(avx) };
    report.columns(&[
        "measure",
        "ferroute",
        "rte_fib",
        "rte_lpm",
        "ferroute/rte_fib",
        "ferroute/rte_lpm",
    ]);
    let ratio = |a: f64, b: f64| times(a / b);
    let mlps = |x: f64| fmt_num(x / 1e6);
    let ns = |x: f64| format!("{:.2}", 1e9 / x);
    // A row of the three figures and ferroute's ratio to each peer for the quantity shown
    // (above 1 is better for rates, below 1 for times and bytes). `inv`: the figures are
    // rates displayed as times, so the ratio of the times is the inverse.
    let row = |r: &mut Report,
               what: &str,
               f: f64,
               d: f64,
               l: f64,
               fmt: &dyn Fn(f64) -> String,
               inv: bool| {
        let (rf, rl) = if inv { (d / f, l / f) } else { (f / d, f / l) };
        r.row(vec![
            what.into(),
            fmt(f),
            fmt(d),
            fmt(l),
            times(rf),
            times(rl),
        ]);
    };
    row(
        &mut report,
        "single lookups (M/s)",
        lk[0],
        lk[1],
        lk[2],
        &mlps,
        false,
    );
    row(
        &mut report,
        "single: ns/lookup",
        lk[0],
        lk[1],
        lk[2],
        &ns,
        true,
    );
    row(
        &mut report,
        "burst of 64 (M/s)",
        lk[3],
        lk[4],
        lk[5],
        &mlps,
        false,
    );
    row(
        &mut report,
        "burst: ns/lookup",
        lk[3],
        lk[4],
        lk[5],
        &ns,
        true,
    );
    report.row(vec![
        "burst, rte_fib AVX-512 / rte_lpm x4 (M/s)".into(),
        mlps(lk[3]),
        if avx.is_nan() {
            "n/a".into()
        } else {
            mlps(avx)
        },
        mlps(lk[6]),
        if avx.is_nan() {
            "n/a".into()
        } else {
            ratio(lk[3], avx)
        },
        ratio(lk[3], lk[6]),
    ]);
    report.row(vec![
        "burst, ferroute ids + Fib::nexthop, as the datapath (M/s)".into(),
        mlps(lk[11]),
        mlps(lk[4]),
        mlps(lk[5]),
        ratio(lk[11], lk[4]),
        ratio(lk[11], lk[5]),
    ]);
    row(
        &mut report,
        "dependent: ns/lookup",
        lk[8],
        lk[9],
        lk[10],
        &ns,
        true,
    );
    let mib = |b: f64| format!("{:.1} MiB", b / (1 << 20) as f64);
    row(
        &mut report,
        "memory: lookup structure",
        fr_mem as f64,
        rfib_tables as f64,
        rlpm_tables as f64,
        &mib,
        false,
    );
    row(
        &mut report,
        "memory: DPDK heap growth",
        fr_mem as f64,
        rfib_heap as f64,
        rlpm_heap as f64,
        &mib,
        false,
    );
    let secs = |s: f64| {
        if s >= 1.0 {
            format!("{s:.2} s")
        } else {
            format!("{:.0} ms", s * 1e3)
        }
    };
    row(
        &mut report,
        "build from route list",
        build[0],
        build[1],
        build[2],
        &secs,
        false,
    );
    for (w, b) in p.batches.iter().enumerate() {
        row(
            &mut report,
            &format!("updates/s: RIB + publish, batches of {b}"),
            up[w],
            up[2],
            up[3],
            &mlps_or_k,
            false,
        );
    }
    for (w, b) in p.batches.iter().enumerate() {
        report.row(vec![
            format!("updates/s: publish alone, batches of {b}"),
            mlps_or_k(publish_rate[w]),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    let lookup_ratio = lk[3] / best_fib_burst;
    let mem_ratio = fr_mem as f64 / rfib_tables as f64;
    report.row(vec![
        "target: burst >= 1.5x best rte_fib".into(),
        format!("{lookup_ratio:.2}x"),
        String::new(),
        String::new(),
        met(lookup_ratio >= 1.5).into(),
        String::new(),
    ]);
    report.row(vec![
        "target: memory <= 1/8 rte_fib".into(),
        format!("1/{:.0}", 1.0 / mem_ratio),
        String::new(),
        String::new(),
        met(mem_ratio <= 0.125).into(),
        String::new(),
    ]);
    for (what, v) in [("RIB + publish", up[0]), ("publish alone", publish_rate[0])] {
        report.row(vec![
            format!("target: >= 1M updates/s, {what} ({})", p.batches[0]),
            mlps_or_k(v),
            String::new(),
            String::new(),
            met(v >= 1e6).into(),
            String::new(),
        ]);
    }
    report.note(format!(
        "build: medians of {} rounds (rte_lpm: 1, its add is linear in the rules of the \
         same length); ferroute's {} are the RIB inserts and the first FIB version, \
         compiling the RIB into a FIB alone takes {}",
        p.build_rounds,
        secs(build[0]),
        secs(fib_only)
    ));
    report.note(format!(
        "updates: {} per round, {} rounds, drawn uniformly from the table (withdraw, \
         re-announce, new next hop), half in each of ferroute's two batch sizes; ferroute applies them to its RIB and publishes one FIB \
         version per batch through ArcSwap, DPDK applies rte_*_add/delete one by one in \
         place; afterwards all three agree on every key and ferroute's FIB equals a fresh \
         build. ferroute: {} publications, {} full rebuilds, {} copies of the published \
         version; memory after the updates {}",
        2 * p.update_chunk,
        p.update_rounds,
        stats.publications,
        stats.rebuilds,
        stats.copies,
        mib(fr_mem_after as f64),
    ));
    let (cpu, wall) = SPENT.with(|s| s.get());
    report.note(format!(
        "times are CPU time of the benchmark thread (CLOCK_THREAD_CPUTIME_ID), so that \
         other work on the shared machine does not count; it had the CPU {:.0} % of the \
         wall-clock time measured (load average {} at the start, {} at the end)",
        100.0 * cpu / wall,
        load_start.map_or("?".into(), |l| format!("{l:.1}")),
        load_average().map_or("?".into(), |l| format!("{l:.1}")),
    ));
    report.figure("cpu_share", cpu / wall);
    report.note(format!(
        "DPDK memory: documented sizes (tbl24 2^24 x 4 B, {} tbl8 groups of 256 x 4 B, \
         rte_lpm rules 8 B each) and rte_malloc heap growth while creating and loading \
         (includes rte_fib's RIB). ferroute counts its published lookup structure; its \
         control side also keeps a spare copy and a mirror of the entries",
        tbl8_groups(&routes)
    ));
    report.note(
        "lookups return the next-hop value stored for the prefix (ferroute: its next-hop \
         id; the row 'as the datapath' adds the next-hop table access pipeline::receive makes). single: \
         Fib::lookup_id, rte_fib_lookup_bulk with n = 1 (rte_fib has no single lookup), \
         rte_lpm_lookup inlined in a C loop; burst: Fib::lookup_ids_burst, \
         rte_fib_lookup_bulk (scalar), rte_lpm_lookup_bulk; dependent: each address XORed \
         with the previous result masked to 0",
    );

    for (name, v) in [
        ("ferroute.single_mlps", 1e-6 * lk[0]),
        ("rte_fib.single_mlps", 1e-6 * lk[1]),
        ("rte_lpm.single_mlps", 1e-6 * lk[2]),
        ("ferroute.burst_mlps", 1e-6 * lk[3]),
        ("rte_fib.burst_mlps", 1e-6 * lk[4]),
        ("rte_lpm.burst_mlps", 1e-6 * lk[5]),
        ("rte_lpm.x4_mlps", 1e-6 * lk[6]),
        ("ferroute.burst_to_nexthop_mlps", 1e-6 * lk[11]),
        ("ferroute.dependent_ns", 1e9 / lk[8]),
        ("rte_fib.dependent_ns", 1e9 / lk[9]),
        ("rte_lpm.dependent_ns", 1e9 / lk[10]),
        ("ferroute.memory_bytes", fr_mem as f64),
        ("rte_fib.table_bytes", rfib_tables as f64),
        ("rte_lpm.table_bytes", rlpm_tables as f64),
        ("rte_fib.heap_bytes", rfib_heap as f64),
        ("rte_lpm.heap_bytes", rlpm_heap as f64),
        ("ferroute.build_s", build[0]),
        ("rte_fib.build_s", build[1]),
        ("rte_lpm.build_s", build[2]),
        ("ferroute.updates_per_s", up[0]),
        ("ferroute.updates_per_s_small_batches", up[1]),
        ("ferroute.publish_only_per_s", publish_rate[0]),
        ("ferroute.publish_only_per_s_small_batches", publish_rate[1]),
        ("rte_fib.updates_per_s", up[2]),
        ("rte_lpm.updates_per_s", up[3]),
        ("target.burst_vs_rte_fib", lookup_ratio),
        ("target.memory_vs_rte_fib", mem_ratio),
    ] {
        report.figure(name, v);
    }
    if !avx.is_nan() {
        report.figure("rte_fib.burst_avx512_mlps", avx / 1e6);
    }
    for (label, vals) in [
        ("single lookups", [lk[0], lk[1], lk[2]]),
        ("burst lookups", [lk[3], best_fib_burst, lk[5].max(lk[6])]),
    ] {
        for (who, v) in ["ferroute", "rte_fib", "rte_lpm"].iter().zip(vals) {
            report.bar(label, "M lookups/s", who, v / 1e6);
        }
    }
    for (who, v) in ["ferroute", "rte_fib", "rte_lpm"]
        .iter()
        .zip([lk[8], lk[9], lk[10]])
    {
        report.bar("dependent lookups", "ns per lookup", who, 1e9 / v);
    }
    for (who, v) in
        ["ferroute", "rte_fib", "rte_lpm"]
            .iter()
            .zip([fr_mem, rfib_tables, rlpm_tables])
    {
        report.bar("lookup structure", "MiB", who, v as f64 / (1 << 20) as f64);
    }
    for (who, v) in [
        format!("ferroute (batches of {})", p.batches[0]),
        format!("ferroute (batches of {})", p.batches[1]),
        "rte_fib".into(),
        "rte_lpm".into(),
    ]
    .iter()
    .zip(&up)
    {
        report.bar("route updates", "M routes/s", who, v / 1e6);
    }
    let json = report.finish().map_err(|e| e.to_string())?;
    // The smoke run's assertions: it did the work and wrote its results.
    // (lk[7], rte_fib's AVX-512 lookup, is NaN where the CPU lacks AVX-512.)
    let done: Vec<f64> = lk
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 7)
        .map(|(_, &x)| x)
        .collect();
    if done.iter().chain(&up).any(|&x| x.is_nan() || x <= 0.0) {
        return Err("a contender did no work".into());
    }
    if !json.exists() {
        return Err(format!("{} was not written", json.display()));
    }
    Ok(())
}

/// A ratio as "1.59x", or "1/18" when below 0.1.
fn times(r: f64) -> String {
    if r > 0.0 && r < 0.1 {
        format!("1/{:.0}", 1.0 / r)
    } else {
        format!("{r:.2}x")
    }
}

/// Withdrawing a prefix that is not installed (ENOENT) is not an error here.
fn ignore_missing(r: Result<(), dpdk::DpdkError>) -> Result<(), dpdk::DpdkError> {
    match r {
        Err(e) if e.errno == 2 => Ok(()),
        r => r,
    }
}

/// Routes per second as "1.23 M" or "456 k".
fn mlps_or_k(x: f64) -> String {
    if x >= 1e6 {
        format!("{} M", fmt_num(x / 1e6))
    } else {
        format!("{} k", fmt_num(x / 1e3))
    }
}

/// True when enough free 2 MiB hugepages (and a hugetlbfs mount) exist for DPDK.
fn hugepages_available() -> bool {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let free = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mounted = std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs"));
    mounted && free >= 512
}
