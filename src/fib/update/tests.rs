use super::*;
use crate::fib::{Proto, Route, RouteTarget};
use crate::testutil::Rng;
use std::net::Ipv4Addr;

fn net(addr: u32, len: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::from(addr & mask(len)), len).unwrap()
}

fn route(prefix: Ipv4Net, target: RouteTarget, metric: u32) -> Route {
    Route {
        prefix,
        target,
        metric,
        proto: Proto::Static,
    }
}

/// A RIB with two connected subnets and a local address.
fn base_rib() -> Rib {
    let mut rib = Rib::new();
    for (a, port) in [(0x0a00_0100, 0), (0x0a00_0200, 1)] {
        rib.insert(Route {
            prefix: net(a, 24),
            target: RouteTarget::Connected { port },
            metric: 0,
            proto: Proto::Kernel,
        });
    }
    rib.insert(Route {
        prefix: net(0x0a00_0101, 32),
        target: RouteTarget::Local { port: 0 },
        metric: 0,
        proto: Proto::Kernel,
    });
    rib
}

/// A random target: mostly gateways without a port (resolved through the connected
/// subnets, some not resolvable), some with one, and the discard kinds.
fn target(rng: &mut Rng, gateways: u32) -> RouteTarget {
    match rng.below(20) {
        0 => RouteTarget::Blackhole,
        1 => RouteTarget::Unreachable,
        2 => RouteTarget::Prohibit,
        3 => RouteTarget::Gateway {
            gw: Ipv4Addr::from(0xac10_0001), // on no connected subnet
            port: None,
        },
        4 => RouteTarget::Gateway {
            gw: Ipv4Addr::from(0xc000_0201),
            port: Some(1),
        },
        _ => RouteTarget::Gateway {
            gw: Ipv4Addr::from(
                [0x0a00_0100, 0x0a00_0200][rng.below(2) as usize]
                    + 2
                    + rng.below(u64::from(gateways)) as u32,
            ),
            port: None,
        },
    }
}

/// A random prefix, nested under `near` half of the time (as BGP tables nest).
fn prefix(rng: &mut Rng, near: &[Ipv4Net]) -> Ipv4Net {
    let len = match rng.below(12) {
        0 => rng.below(19) as u8,
        1 => 25 + rng.below(8) as u8,
        _ => 19 + rng.below(6) as u8,
    };
    if !near.is_empty() && rng.below(2) == 0 {
        let p = near[rng.below(near.len() as u64) as usize];
        let len = len.max(p.prefix_len());
        let host = rng.next() as u32 & !mask(p.prefix_len());
        net(u32::from(p.network()) | host, len)
    } else {
        net(rng.next() as u32, len)
    }
}

/// Addresses that tell FIBs apart: the first, last and a random address of each
/// prefix, the addresses just outside it, and random ones.
fn probes(rng: &mut Rng, prefixes: &[Ipv4Net], random: usize) -> Vec<u32> {
    let mut v = vec![0, u32::MAX, 0x0a00_0101, 0x0a00_0105, 0x0a00_0205];
    for p in prefixes {
        let (a, l) = key(p);
        let last = a | !mask(l);
        v.extend([a, last, a | (rng.next() as u32 & !mask(l))]);
        v.extend([a.wrapping_sub(1), last.wrapping_add(1)]);
    }
    v.extend((0..random).map(|_| rng.next() as u32));
    v
}

fn assert_same(fib: &Fib, fresh: &Fib, addrs: &[u32], what: &str) {
    assert_eq!(fib.prefixes(), fresh.prefixes(), "{what}: prefix count");
    for &a in addrs {
        assert_eq!(
            fib.lookup(a),
            fresh.lookup(a),
            "{what}: {}",
            Ipv4Addr::from(a)
        );
    }
    let mut out = vec![None; addrs.len().min(64)];
    for chunk in addrs.chunks(64) {
        fib.lookup_burst(chunk, &mut out[..chunk.len()]);
        for (&a, &o) in chunk.iter().zip(&out) {
            assert_eq!(o, fresh.lookup(a), "{what}: burst {}", Ipv4Addr::from(a));
        }
    }
}

/// Random batches of inserts, replacements and removals (every length, the default
/// route, several metrics per prefix, unresolvable gateways) published incrementally:
/// every version looks up exactly like a fresh build of the same RIB.
fn churn(seed: u64, initial: usize, batches: usize, batch: usize, connected_every: usize) {
    let mut rng = Rng(seed);
    let mut rib = base_rib();
    let mut known: Vec<Ipv4Net> = Vec::new();
    for _ in 0..initial {
        let p = prefix(&mut rng, &known);
        rib.insert(route(p, target(&mut rng, 50), 0));
        known.push(p);
    }
    let (mut publisher, fib) = FibPublisher::new(&rib, 1);
    let swap = ArcSwap::new(fib);
    assert_same(
        &swap.load(),
        &rib.build_fib(1),
        &probes(&mut rng, &known, 1000),
        "initial",
    );
    let mut incremental = 0;
    for b in 0..batches {
        let mut changed = Vec::new();
        for _ in 0..batch {
            let p = match rng.below(4) {
                0 if !known.is_empty() => known[rng.below(known.len() as u64) as usize],
                1 => net(0, 0),
                _ => prefix(&mut rng, &known),
            };
            let metric = [0, 10, 20][rng.below(3) as usize];
            if rng.below(3) == 0 {
                rib.remove(&p, metric);
            } else {
                rib.insert(route(p, target(&mut rng, 50), metric));
                known.push(p);
            }
            changed.push(p);
        }
        if connected_every > 0 && b % connected_every == connected_every - 1 {
            // A new connected subnet (or its removal): gateways on it (un)resolve.
            let p = net(0x0a00_0180, 25);
            if rib.remove(&p, 0) {
            } else {
                rib.insert(Route {
                    prefix: p,
                    target: RouteTarget::Connected { port: 2 },
                    metric: 0,
                    proto: Proto::Kernel,
                });
            }
            changed.push(p);
        }
        let version = 2 + b as u64;
        let r = publisher.publish(&rib, &changed, version, &swap);
        assert_eq!(r.version, version);
        incremental += usize::from(r.rebuilt.is_none());
        let fib = swap.load();
        assert_eq!(fib.version, version);
        let mut addrs = probes(&mut rng, &changed, 2000);
        let sample: Vec<Ipv4Net> = (0..500)
            .map(|_| known[rng.below(known.len() as u64) as usize])
            .collect();
        addrs.extend(probes(&mut rng, &sample, 0));
        assert_same(&fib, &rib.build_fib(version), &addrs, &format!("batch {b}"));
    }
    assert!(incremental > batches / 2, "{incremental} of {batches}");
}

#[test]
fn incremental_versions_match_fresh_builds() {
    churn(1, 20_000, 30, 200, 0);
}

#[test]
fn small_tables_and_single_changes() {
    churn(2, 0, 200, 1, 0);
    churn(3, 50, 100, 5, 0);
}

#[test]
fn connected_subnet_changes_rebuild_and_stay_correct() {
    churn(4, 5_000, 12, 100, 3);
}

#[test]
fn next_hop_ids_are_stable_and_reused() {
    let mut rib = base_rib();
    let via = |last: u8| RouteTarget::Gateway {
        gw: Ipv4Addr::new(10, 0, 2, last),
        port: None,
    };
    let p1 = net(0xc633_6400, 24);
    let p2 = net(0xcb00_7100, 24);
    rib.insert(route(p1, via(2), 0));
    let (mut publisher, fib) = FibPublisher::new(&rib, 1);
    let swap = ArcSwap::new(fib);
    let id_of = |swap: &ArcSwap<Fib>, addr: u32| swap.load().lpm.lookup(addr);
    let id1 = id_of(&swap, 0xc633_6401);
    let before = publisher.nexthops();
    // A second prefix with the same next hop shares its id; the first keeps its id.
    rib.insert(route(p2, via(2), 0));
    publisher.publish(&rib, &[p2], 2, &swap);
    assert_eq!(id_of(&swap, 0xc633_6401), id1);
    assert_eq!(id_of(&swap, 0xcb00_7101), id1);
    assert_eq!(publisher.nexthops(), before);
    // Thousands of next hops coming and going: the table does not grow.
    for round in 0..50u32 {
        let target = via(3 + (round % 200) as u8);
        rib.insert(route(p2, target, 0));
        publisher.publish(&rib, &[p2], 3 + u64::from(round), &swap);
        assert_eq!(publisher.nexthops(), before + 1);
        assert!(swap.load().nexthops.len() <= before + 2);
        assert_eq!(id_of(&swap, 0xc633_6401), id1);
    }
}

#[test]
fn memory_stays_bounded_under_churn() {
    let mut rng = Rng(5);
    let mut rib = base_rib();
    let mut known = Vec::new();
    for _ in 0..30_000 {
        let p = prefix(&mut rng, &known);
        rib.insert(route(p, target(&mut rng, 20), 0));
        known.push(p);
    }
    let (mut publisher, fib) = FibPublisher::new(&rib, 1);
    let fresh = fib.memory_bytes();
    let swap = ArcSwap::new(fib);
    // The same 3000 prefixes (/16 and longer, as BGP churn mostly is; short ones
    // dirty many slots and are tested above) withdrawn and announced again, with new
    // next hops.
    let flapping: Vec<Ipv4Net> = (0..3000)
        .map(|_| prefix(&mut rng, &known))
        .filter(|p| p.prefix_len() >= 16)
        .collect();
    let mut peak = 0;
    for round in 0..60u64 {
        for p in &flapping {
            if round % 2 == 0 {
                rib.insert(route(*p, target(&mut rng, 20), 0));
            } else {
                rib.remove(p, 0);
            }
        }
        publisher.publish(&rib, &flapping, 2 + round, &swap);
        peak = peak.max(swap.load().memory_bytes());
    }
    assert!(peak < 2 * fresh, "peak {peak}, fresh build {fresh}");
    assert!(publisher.nexthops() < 50);
    let s = publisher.stats();
    assert!(s.rebuilds < 10 && s.copies < 10, "{s:?}");
    assert_same(
        &swap.load(),
        &rib.build_fib(99),
        &probes(&mut rng, &flapping, 1000),
        "after churn",
    );
}

#[test]
fn a_reader_holding_the_spare_makes_a_copy_and_sees_its_own_version() {
    let mut rib = base_rib();
    let p = net(0xc633_6400, 24);
    rib.insert(route(p, RouteTarget::Blackhole, 0));
    let (mut publisher, fib) = FibPublisher::new(&rib, 1);
    let swap = ArcSwap::new(fib);
    // Version 1 is held by a reader across two publications, so it cannot be reused
    // as the spare for version 3.
    let held = swap.load_full();
    rib.insert(route(p, RouteTarget::Unreachable, 0));
    let r2 = publisher.publish(&rib, &[p], 2, &swap);
    assert!(r2.copied); // the first publication always copies
    rib.insert(route(p, RouteTarget::Prohibit, 0));
    let r3 = publisher.publish(&rib, &[p], 3, &swap);
    assert!(r3.copied && r3.rebuilt.is_none(), "{r3:?}");
    assert_eq!(held.version, 1);
    assert_eq!(held.lookup(0xc633_6401), Some(NextHop::Blackhole));
    assert_eq!(swap.load().lookup(0xc633_6401), Some(NextHop::Prohibit));
    drop(held);
    // Version 2, swapped out by 3 and held by no one, is now the spare.
    rib.insert(route(p, RouteTarget::Blackhole, 0));
    let r4 = publisher.publish(&rib, &[p], 4, &swap);
    assert!(!r4.copied && r4.rebuilt.is_none(), "{r4:?}");
    assert_eq!(r4.slots, 1);
    assert_eq!(swap.load().lookup(0xc633_6401), Some(NextHop::Blackhole));
}

#[test]
fn a_foreign_version_in_the_swap_is_replaced_by_a_full_build() {
    let mut rib = base_rib();
    let (mut publisher, fib) = FibPublisher::new(&rib, 1);
    let swap = ArcSwap::new(fib);
    swap.store(Arc::new(rib.build_fib(7)));
    let p = net(0xc633_6400, 24);
    rib.insert(route(p, RouteTarget::Blackhole, 0));
    let r = publisher.publish(&rib, &[p], 8, &swap);
    assert_eq!(r.rebuilt, Some(Rebuild::Foreign));
    assert_eq!(swap.load().lookup(0xc633_6401), Some(NextHop::Blackhole));
    let r = publisher.publish(&rib, &[], 9, &swap);
    assert_eq!(r.rebuilt, None);
}

#[test]
fn readers_of_unaffected_prefixes_always_get_their_answer() {
    // Issue 5: packets to unaffected prefixes are never lost during an update. A reader
    // thread looks up stable prefixes while the publisher churns others.
    let mut rib = base_rib();
    let stable: Vec<(u32, NextHop)> = (0..64u32)
        .map(|i| {
            (
                0x6400_0000 + (i << 16),
                NextHop::Gateway {
                    port: 1,
                    gw: Ipv4Addr::new(10, 0, 2, 9),
                },
            )
        })
        .collect();
    for &(a, _) in &stable {
        rib.insert(route(
            net(a, 16),
            RouteTarget::Gateway {
                gw: Ipv4Addr::new(10, 0, 2, 9),
                port: None,
            },
            0,
        ));
    }
    let (mut publisher, fib) = FibPublisher::new(&rib, 1);
    let swap = Arc::new(ArcSwap::new(fib));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (swap, stop, started) = (Arc::clone(&swap), Arc::clone(&stop), Arc::clone(&started));
        let stable = stable.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let fib = swap.load();
                for &(a, nh) in &stable {
                    // Inside the /16, outside the churned /24s below.
                    assert_eq!(fib.lookup(a | 0xFF01), Some(nh));
                    n += 1;
                }
                started.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            n
        })
    };
    // The churn starts once the reader reads (on a loaded machine it may not have been
    // scheduled before all of it is done).
    while !started.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::yield_now();
    }
    let mut rng = Rng(6);
    for v in 2..200u64 {
        let changed: Vec<Ipv4Net> = (0..50)
            .map(|_| {
                let a = stable[rng.below(64) as usize].0 | ((rng.below(255) as u32) << 8);
                net(a, 24)
            })
            .collect();
        for p in &changed {
            if rng.below(2) == 0 {
                rib.insert(route(*p, RouteTarget::Blackhole, 0));
            } else {
                rib.remove(p, 0);
            }
        }
        publisher.publish(&rib, &changed, v, &swap);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}
