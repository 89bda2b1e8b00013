use super::node::NODE_BIT;
use super::*;
use crate::testutil::Rng;
use std::collections::{BTreeMap, HashMap};

fn ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len)
    }
}

/// Naive reference: one map per prefix length, probed longest first.
struct Reference(Vec<HashMap<u32, u32>>);
impl Reference {
    fn new(routes: &[(u32, u8, u32)]) -> Reference {
        let mut maps = vec![HashMap::new(); 33];
        for &(a, l, v) in routes {
            maps[usize::from(l)].insert(a & mask(l), v);
        }
        Reference(maps)
    }
    fn lookup(&self, addr: u32) -> Option<u32> {
        (0..=32u8)
            .rev()
            .find_map(|l| self.0[usize::from(l)].get(&(addr & mask(l))).copied())
    }
    fn len(&self) -> usize {
        self.0.iter().map(HashMap::len).sum()
    }
}

/// Checks `t` against the reference on `addrs`, singly and in bursts of varied size.
fn check(t: &Lpm, r: &Reference, addrs: &[u32]) {
    assert_eq!(t.len(), r.len());
    for &a in addrs {
        assert_eq!(t.lookup(a), r.lookup(a), "addr {a:#010x}");
    }
    let mut out = vec![Some(12345); addrs.len()];
    let mut start = 0;
    for size in [1usize, 7, 32, 64, 65, 200].iter().cycle() {
        if start >= addrs.len() {
            break;
        }
        let end = (start + size).min(addrs.len());
        t.lookup_burst(&addrs[start..end], &mut out[start..end]);
        start = end;
    }
    for (&a, &o) in addrs.iter().zip(&out) {
        assert_eq!(o, t.lookup(a), "burst, addr {a:#010x}");
    }
}

/// Addresses that exercise `routes`: the first, last and a random address of each
/// prefix, the addresses just outside it, and uniformly random addresses.
fn probes(rng: &mut Rng, routes: &[(u32, u8, u32)], random: usize) -> Vec<u32> {
    let mut v = Vec::new();
    for &(a, l, _) in routes {
        let a = a & mask(l);
        let last = a | !mask(l);
        v.extend([a, last, a | (rng.next() as u32 & !mask(l))]);
        v.extend([a.wrapping_sub(1), last.wrapping_add(1)]);
    }
    v.extend((0..random).map(|_| rng.next() as u32));
    v.extend([0, u32::MAX]);
    v
}

fn check_routes(routes: &[(u32, u8, u32)], seed: u64) -> Lpm {
    let t = Lpm::build(routes.iter().copied());
    let r = Reference::new(routes);
    let mut rng = Rng(seed);
    check(&t, &r, &probes(&mut rng, routes, 2000));
    t
}

#[test]
fn empty_table() {
    let t = Lpm::build(std::iter::empty());
    assert!(t.is_empty());
    assert_eq!(t.len(), 0);
    for a in [0, 1, ip(10, 0, 0, 1), u32::MAX] {
        assert_eq!(t.lookup(a), None);
    }
    let mut out = [Some(1); 3];
    t.lookup_burst(&[0, 5, u32::MAX], &mut out);
    assert_eq!(out, [None; 3]);
    assert!(t.memory_bytes() >= DIR_SIZE * 4);
    assert!(Lpm::default().is_empty());
}

#[test]
fn default_route_only() {
    let t = Lpm::build([(0, 0, 7)]);
    assert_eq!(t.len(), 1);
    assert!(!t.is_empty());
    for a in [0, ip(10, 1, 2, 3), ip(192, 168, 255, 255), u32::MAX] {
        assert_eq!(t.lookup(a), Some(7));
    }
}

#[test]
fn host_routes() {
    let hosts = [
        ip(10, 0, 0, 1),
        ip(10, 0, 0, 2),
        ip(10, 0, 0, 255),
        ip(255, 255, 255, 255),
        0,
    ];
    let routes: Vec<_> = hosts
        .iter()
        .enumerate()
        .map(|(i, &a)| (a, 32, i as u32))
        .collect();
    let t = Lpm::build(routes.iter().copied());
    for (i, &a) in hosts.iter().enumerate() {
        assert_eq!(t.lookup(a), Some(i as u32));
    }
    assert_eq!(t.lookup(ip(10, 0, 0, 0)), None);
    assert_eq!(t.lookup(ip(10, 0, 0, 3)), None);
    assert_eq!(t.lookup(ip(255, 255, 255, 254)), None);
    assert_eq!(t.lookup(1), None);
    check_routes(&routes, 1);
}

#[test]
fn nested_0_8_16_24_32() {
    let routes = [
        (0, 0, 1),
        (ip(10, 0, 0, 0), 8, 2),
        (ip(10, 1, 0, 0), 16, 3),
        (ip(10, 1, 2, 0), 24, 4),
        (ip(10, 1, 2, 3), 32, 5),
    ];
    let t = Lpm::build(routes);
    assert_eq!(t.lookup(ip(11, 0, 0, 0)), Some(1));
    assert_eq!(t.lookup(ip(10, 0, 0, 0)), Some(2));
    assert_eq!(t.lookup(ip(10, 2, 0, 0)), Some(2));
    assert_eq!(t.lookup(ip(10, 1, 0, 0)), Some(3));
    assert_eq!(t.lookup(ip(10, 1, 3, 0)), Some(3));
    assert_eq!(t.lookup(ip(10, 1, 2, 0)), Some(4));
    assert_eq!(t.lookup(ip(10, 1, 2, 2)), Some(4));
    assert_eq!(t.lookup(ip(10, 1, 2, 3)), Some(5));
    assert_eq!(t.lookup(ip(10, 1, 2, 4)), Some(4));
    assert_eq!(t.lookup(ip(10, 1, 2, 255)), Some(4));
    assert_eq!(t.lookup(ip(10, 255, 255, 255)), Some(2));
    check_routes(&routes, 2);
    // The same without the default route: outside 10/8 there is no match.
    let t = check_routes(&routes[1..], 3);
    assert_eq!(t.lookup(ip(11, 0, 0, 0)), None);
    assert_eq!(t.lookup(ip(9, 255, 255, 255)), None);
}

#[test]
fn stride_boundaries() {
    // Lengths on and around the direct-table (18) and node (24, 30) boundaries.
    let base = ip(172, 16, 0, 0);
    let mut routes = Vec::new();
    for (i, len) in [16u8, 17, 18, 19, 22, 23, 24, 25, 29, 30, 31, 32]
        .iter()
        .enumerate()
    {
        routes.push((base, *len, 100 + i as u32));
        // A sibling at the far end of the /16, and one in another /16.
        routes.push((base | (0xFFFF & mask(*len)), *len, 200 + i as u32));
        routes.push((
            (ip(192, 0, 2, 0) & mask(*len)) | (1 << (32 - len)),
            *len,
            300 + i as u32,
        ));
    }
    let t = check_routes(&routes, 4);
    assert_eq!(t.lookup(base), Some(111)); // the /32
    assert_eq!(t.lookup(base | 1), Some(110)); // the /31
    assert_eq!(t.lookup(base | 2), Some(109)); // the /30
    assert_eq!(t.lookup(base | 4), Some(108)); // the /29
    assert_eq!(t.lookup(base | 0x40), Some(107)); // the /25
    assert_eq!(t.lookup(ip(172, 16, 0, 128)), Some(106)); // the /24
    assert_eq!(t.lookup(ip(172, 16, 1, 0)), Some(105)); // the /23
    assert_eq!(t.lookup(ip(172, 16, 2, 0)), Some(104)); // the /22
    assert_eq!(t.lookup(ip(172, 16, 4, 0)), Some(103)); // the /19
    assert_eq!(t.lookup(ip(172, 16, 32, 0)), Some(102)); // the /18
    assert_eq!(t.lookup(ip(172, 16, 64, 0)), Some(101)); // the /17
    assert_eq!(t.lookup(ip(172, 16, 128, 0)), Some(201)); // the far /17
    assert_eq!(t.lookup(ip(172, 16, 127, 255)), Some(101)); // the /17
    assert_eq!(t.lookup(ip(172, 16, 255, 255)), Some(211)); // the far /32
    assert_eq!(t.lookup(ip(172, 16, 255, 254)), Some(210)); // the far /31
    assert_eq!(t.lookup(ip(172, 17, 0, 0)), None);
}

#[test]
fn every_length_alone_and_nested() {
    let a = ip(203, 0, 113, 77);
    for len in 0..=32u8 {
        check_routes(&[(a & mask(len), len, u32::from(len))], 5 + u64::from(len));
    }
    let all: Vec<_> = (0..=32u8)
        .map(|l| (a & mask(l), l, u32::from(l) * 3))
        .collect();
    let t = check_routes(&all, 40);
    for l in 0..=32u8 {
        // The address that differs from `a` first in bit `l` matches the /l.
        let probe = if l == 32 { a } else { a ^ (1 << (31 - l)) };
        assert_eq!(t.lookup(probe), Some(u32::from(l) * 3), "len {l}");
    }
}

#[test]
fn last_duplicate_wins() {
    let p = ip(10, 0, 0, 0);
    let routes = [
        (p, 8, 1),
        (ip(10, 1, 0, 0), 16, 2),
        (p, 8, 3),
        (p, 8, 4),
        (0, 0, 9),
        (0, 0, 8),
    ];
    let t = Lpm::build(routes);
    assert_eq!(t.len(), 3);
    assert_eq!(t.lookup(ip(10, 2, 0, 0)), Some(4));
    assert_eq!(t.lookup(ip(10, 1, 0, 0)), Some(2));
    assert_eq!(t.lookup(ip(11, 0, 0, 0)), Some(8));
    // Duplicates that differ only in host bits are duplicates too.
    let t = Lpm::build([(ip(10, 1, 2, 0), 24, 1), (ip(10, 1, 2, 99), 24, 2)]);
    assert_eq!(t.len(), 1);
    assert_eq!(t.lookup(ip(10, 1, 2, 5)), Some(2));
}

#[test]
fn host_bits_are_ignored() {
    let t = Lpm::build([(ip(10, 1, 2, 3), 8, 1)]);
    assert_eq!(t.lookup(ip(10, 200, 0, 0)), Some(1));
    assert_eq!(t.lookup(ip(11, 0, 0, 0)), None);
}

#[test]
fn equal_values_collapse() {
    // More-specifics with the aggregate's value need no nodes.
    let routes = [
        (ip(10, 0, 0, 0), 8, 1),
        (ip(10, 1, 2, 0), 24, 1),
        (ip(10, 1, 2, 3), 32, 1),
    ];
    let t = check_routes(&routes, 50);
    assert_eq!(t.l1_nodes, 0);
    assert!(t.nodes.is_empty());
    assert_eq!(t.lookup(ip(10, 1, 2, 3)), Some(1));
}

#[test]
fn value_encodings() {
    // Narrow: all values < 0xFFFF.
    let t = check_routes(
        &[
            (0, 0, 0),
            (ip(1, 2, 3, 0), 24, 0xFFFE),
            (ip(1, 2, 3, 4), 32, 0),
        ],
        60,
    );
    assert_eq!(t.mode, Mode::Narrow);
    // Mapped: a large value, few distinct values.
    let max = NODE_BIT - 1;
    let routes = [
        (0, 0, 0xFFFF),
        (ip(1, 2, 3, 0), 24, max),
        (ip(1, 2, 3, 4), 32, 0),
    ];
    let t = check_routes(&routes, 61);
    assert_eq!(t.mode, Mode::Mapped);
    assert_eq!(t.lookup(ip(1, 2, 3, 5)), Some(max));
    // Wide: more than 65,535 distinct values.
    let routes: Vec<_> = (0..70_000u32)
        .map(|i| (i << 8, 24, i * 30_000 % NODE_BIT))
        .collect();
    let t = check_routes(&routes, 62);
    assert_eq!(t.mode, Mode::Wide);
}

/// A nested table like a BGP table: aggregates with more-specifics carved out of them
/// (which often share the aggregate's value), at every depth down to /32.
fn nested_table(rng: &mut Rng, aggregates: usize, values: u32, big: bool) -> Vec<(u32, u8, u32)> {
    let mut v = Vec::new();
    let val = |rng: &mut Rng| {
        let x = rng.below(u64::from(values)) as u32;
        if big {
            x.wrapping_mul(0x9E37_79B1) % NODE_BIT
        } else {
            x
        }
    };
    if rng.below(2) == 0 {
        v.push((0, 0, val(rng)));
    }
    for _ in 0..aggregates {
        let alen = 8 + rng.below(17) as u8; // /8 ../24
        let a = rng.next() as u32 & mask(alen);
        let aval = val(rng);
        v.push((a, alen, aval));
        for _ in 0..rng.below(12) {
            let len = (alen + 1 + rng.below(u64::from(32 - alen)) as u8).min(32);
            let p = (a | (rng.next() as u32 & !mask(alen))) & mask(len);
            let pval = if rng.below(4) == 0 { aval } else { val(rng) };
            v.push((p, len, pval));
            // Sometimes a further level inside that one.
            if len < 32 && rng.below(3) == 0 {
                let l2 = len + 1 + rng.below(u64::from(32 - len)) as u8;
                v.push((
                    (p | (rng.next() as u32 & !mask(len))) & mask(l2),
                    l2,
                    val(rng),
                ));
            }
        }
    }
    // A few duplicates with new values (last wins).
    for _ in 0..aggregates / 20 {
        let (a, l, _) = v[rng.below(v.len() as u64) as usize];
        v.push((a, l, val(rng)));
    }
    v
}

#[test]
fn random_nested_tables_match_reference() {
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    for (round, (aggs, values, big)) in [
        (3000, 16, false),
        (2000, 4000, false),
        (1500, 3, true),
        (2500, 1_000_000, true),
        (50, 5, false),
    ]
    .into_iter()
    .enumerate()
    {
        let routes = nested_table(&mut rng, aggs, values, big);
        let t = Lpm::build(routes.iter().copied());
        let r = Reference::new(&routes);
        let mut addrs = probes(&mut rng, &routes, 100_000);
        // Addresses concentrated inside one busy /16, so deep nodes get exercised.
        let hot = routes[rng.below(routes.len() as u64) as usize].0 & mask(16);
        addrs.extend((0..5000).map(|_| hot | (rng.next() as u32 & 0xFFFF)));
        check(&t, &r, &addrs);
        assert!(t.memory_bytes() > 0, "round {round}");
    }
}

#[test]
fn dense_deep_subtrees() {
    // Every /32 of a /24 with alternating values, inside a /16, plus /31s and /30s: the
    // densest possible deep nodes.
    let mut routes = vec![(ip(100, 64, 0, 0), 16, 1)];
    for i in 0..256u32 {
        routes.push((ip(100, 64, 7, 0) | i, 32, 10 + (i % 3)));
        routes.push((ip(100, 64, 9, 0) | (i & !1), 31, 20 + (i % 5)));
        routes.push((ip(100, 64, 200, 0) | (i & !3), 30, 30 + (i % 2)));
    }
    check_routes(&routes, 70);
}

#[test]
fn burst_paths() {
    // Lanes that all end in the direct table, lanes that all need a node (including
    // deep ones), and mixtures, in bursts of every length up to 70.
    let mut routes = vec![(ip(10, 0, 0, 0), 8, 1), (ip(20, 0, 0, 0), 8, 2)];
    for i in 0..64u32 {
        routes.push((ip(10, 0, 0, 0) | (i << 10), 22, 100 + i));
        routes.push((ip(10, 0, 0, 0) | (i << 10) | 0x55, 32, 200 + i));
    }
    let t = Lpm::build(routes.iter().copied());
    let r = Reference::new(&routes);
    let mut rng = Rng(99);
    let flat: Vec<u32> = (0..70)
        .map(|_| ip(20, 0, 0, 0) | (rng.next() as u32 & 0xFF_FFFF))
        .collect();
    let nodes: Vec<u32> = (0..70)
        .map(|i| ip(10, 0, 0, 0) | ((i % 64) << 10) | (0x55 * (i & 1)))
        .collect();
    let mixed: Vec<u32> = flat
        .iter()
        .zip(&nodes)
        .flat_map(|(&a, &b)| [a, b, b, b])
        .take(70)
        .collect();
    for addrs in [&flat, &nodes, &mixed] {
        for len in 0..=addrs.len() {
            let mut out = vec![Some(u32::MAX); len];
            t.lookup_burst(&addrs[..len], &mut out);
            for (&a, &o) in addrs[..len].iter().zip(&out) {
                assert_eq!(o, r.lookup(a), "addr {a:#010x}");
            }
        }
    }
}

#[test]
fn burst_runs_within_one_slash24() {
    // Bursts look up the first level once per run of addresses of one /24 (the memo in
    // `burst`): runs through /24s with deeper prefixes (/25, /26, /30, /31, /32), /24s
    // that end at the first level, and switches between them at every position.
    let mut routes = vec![(ip(10, 0, 0, 0), 8, 1)];
    for c in 0..8u32 {
        let net = ip(10, 1, 0, 0) | (c << 8);
        if c % 2 == 0 {
            routes.push((net, 25, 10 + c));
            routes.push((net | 0x80, 26, 20 + c));
            routes.push((net | 0xC4, 30, 30 + c));
            routes.push((net | 0xF0, 31, 40 + c));
            routes.push((net | 0xFF, 32, 50 + c));
        } else {
            routes.push((net, 24, 60 + c));
        }
    }
    let t = Lpm::build(routes.iter().copied());
    let r = Reference::new(&routes);
    let mut rng = Rng(7);
    for _ in 0..2000 {
        let len = 1 + rng.below(40) as usize;
        let mut c = rng.below(9) as u32;
        let addrs: Vec<u32> = (0..len)
            .map(|_| {
                if rng.below(6) == 0 {
                    c = rng.below(9) as u32; // another /24 (8: none of them, 10/8 only)
                }
                ip(10, 1, 0, 0) | (c << 8) | rng.below(256) as u32
            })
            .collect();
        let mut out = vec![Some(u32::MAX); len];
        t.lookup_burst(&addrs, &mut out);
        for (&a, &o) in addrs.iter().zip(&out) {
            assert_eq!(o, r.lookup(a), "addr {a:#010x}");
        }
    }
}

/// Brings the `slots` of `t` up to date with `routes`, as an updater does.
fn update_slots(
    t: &mut Lpm,
    routes: &BTreeMap<(u32, u8), u32>,
    slots: impl IntoIterator<Item = usize>,
) {
    for s in slots {
        let base = (s as u32) << 14;
        let inside: Vec<_> = routes
            .range((base, 19)..=(base | 0x3FFF, 32))
            .map(|(&(a, l), &v)| (a, l, v))
            .collect();
        let inherited = (0..=18u8)
            .rev()
            .find_map(|l| routes.get(&(base & mask(l), l)).copied());
        t.set_slot(s, &inside, inherited).unwrap();
    }
    t.set_len(routes.len());
}

/// The direct-table slots a change of `addr/len` affects.
fn slots_of(addr: u32, len: u8) -> std::ops::Range<usize> {
    let first = (addr >> 14) as usize;
    if len <= 18 {
        first..first + (1 << (18 - len))
    } else {
        first..first + 1
    }
}

fn as_vec(routes: &BTreeMap<(u32, u8), u32>) -> Vec<(u32, u8, u32)> {
    routes.iter().map(|(&(a, l), &v)| (a, l, v)).collect()
}

#[test]
fn slot_updates_match_a_fresh_build() {
    let mut rng = Rng(0xFEED_F00D_1234_5678);
    for (aggs, values, changes) in [(2000, 40, 3000), (300, 5, 2000), (20, 3, 500)] {
        let table = nested_table(&mut rng, aggs, values, false);
        let mut routes: BTreeMap<(u32, u8), u32> = BTreeMap::new();
        for &(a, l, v) in &table {
            routes.insert((a & mask(l), l), v);
        }
        let mut t = Lpm::build(as_vec(&routes));
        for batch in 0..10 {
            let mut slots = Vec::new();
            for _ in 0..changes / 10 {
                // Weighted towards long prefixes, as in BGP churn, but every length
                // (and the default route) comes up.
                let len = match rng.below(10) {
                    0 => rng.below(19) as u8,
                    1 => 25 + rng.below(8) as u8,
                    _ => 19 + rng.below(6) as u8,
                };
                let keys: Vec<_> = routes.keys().copied().collect();
                let (a, l) = if rng.below(3) == 0 && !keys.is_empty() {
                    keys[rng.below(keys.len() as u64) as usize]
                } else if rng.below(2) == 0 && !keys.is_empty() {
                    // Inside an existing prefix.
                    let (a, l) = keys[rng.below(keys.len() as u64) as usize];
                    let len = len.max(l);
                    ((a | (rng.next() as u32 & !mask(l))) & mask(len), len)
                } else {
                    (rng.next() as u32 & mask(len), len)
                };
                if rng.below(3) == 0 {
                    routes.remove(&(a, l));
                } else {
                    routes.insert((a, l), rng.below(u64::from(values)) as u32);
                }
                slots.extend(slots_of(a, l));
            }
            slots.sort_unstable();
            slots.dedup();
            update_slots(&mut t, &routes, slots);
            let all = as_vec(&routes);
            let fresh = Lpm::build(all.iter().copied());
            let r = Reference::new(&all);
            let mut addrs = probes(&mut rng, &all, 20_000);
            addrs.truncate(200_000);
            check(&t, &r, &addrs);
            for &a in addrs.iter().step_by(7) {
                assert_eq!(t.lookup(a), fresh.lookup(a), "batch {batch} {a:#010x}");
            }
        }
    }
}

#[test]
fn copied_slots_answer_like_their_source() {
    let mut rng = Rng(0xC0FFEE);
    for _ in 0..3 {
        let a = nested_table(&mut rng, 1500, 20, false);
        let b = nested_table(&mut rng, 1500, 20, false);
        let mut t = Lpm::build(a.iter().copied());
        let src = Lpm::build(b.iter().copied());
        // Every slot either table uses, several times over (copies replace copies).
        let mut slots: Vec<usize> = a
            .iter()
            .chain(&b)
            .flat_map(|&(x, l, _)| slots_of(x & mask(l), l))
            .collect();
        slots.sort_unstable();
        slots.dedup();
        for _ in 0..2 {
            for &s in &slots {
                t.copy_slot(&src, s).unwrap();
            }
        }
        t.set_len(src.len());
        let r = Reference::new(&b);
        let mut addrs = probes(&mut rng, &b, 20_000);
        addrs.extend(probes(&mut rng, &a, 0));
        check(&t, &r, &addrs);
        assert!(t.garbage_bytes() > 0);
    }
    // Tables with different leaf encodings cannot exchange slots.
    let mut narrow = Lpm::build([(ip(10, 0, 0, 0), 24, 1)]);
    let wide = Lpm::build([(ip(10, 0, 0, 0), 24, NODE_BIT - 1)]);
    assert!(narrow
        .copy_slot(&wide, (ip(10, 0, 0, 0) >> 14) as usize)
        .is_err());
    assert_eq!(narrow.lookup(ip(10, 0, 0, 1)), Some(1));
}

#[test]
fn churn_reuses_freed_space() {
    // Routes that come and go again and again: after the first rounds the pool and
    // the node array stop growing, because freed blocks are reused.
    let mut rng = Rng(7);
    let table = nested_table(&mut rng, 3000, 30, false);
    let mut routes: BTreeMap<(u32, u8), u32> = BTreeMap::new();
    for &(a, l, v) in &table {
        routes.insert((a & mask(l), l), v);
    }
    let mut t = Lpm::build(as_vec(&routes));
    let fresh_bytes = t.memory_bytes();
    let flapping: Vec<(u32, u8)> = (0..2000)
        .map(|_| {
            let l = 19 + rng.below(14) as u8;
            (rng.next() as u32 & mask(l), l)
        })
        .collect();
    let mut sizes = Vec::new();
    for round in 0..40u32 {
        for &(a, l) in &flapping {
            if round % 2 == 0 {
                routes.insert((a, l), round % 7);
            } else {
                routes.remove(&(a, l));
            }
        }
        update_slots(
            &mut t,
            &routes,
            flapping.iter().flat_map(|&(a, l)| slots_of(a, l)),
        );
        if t.wants_rebuild() {
            t = Lpm::build(as_vec(&routes));
        }
        sizes.push(t.memory_bytes());
    }
    let r = Reference::new(&as_vec(&routes));
    check(&t, &r, &probes(&mut rng, &as_vec(&routes), 10_000));
    // Bounded: never more than twice a fresh build of the same table, and flat over
    // the last rounds.
    assert!(sizes.iter().all(|&b| b < 2 * fresh_bytes), "{sizes:?}");
    let late = &sizes[30..];
    assert!(
        late.iter().max() == late.iter().min()
            || late.iter().max().unwrap() - late.iter().min().unwrap() < fresh_bytes / 10,
        "{sizes:?}"
    );
}

#[test]
fn slot_update_that_does_not_fit_the_encoding_changes_nothing() {
    let mut t = Lpm::build([(ip(10, 0, 0, 0), 8, 1), (ip(10, 0, 0, 0), 24, 2)]);
    assert_eq!(t.mode, Mode::Narrow);
    let slot = (ip(10, 0, 0, 0) >> 14) as usize;
    assert_eq!(
        t.set_slot(slot, &[(ip(10, 0, 0, 0), 24, 0x1_0000)], Some(1)),
        Err(Unencodable(0x1_0000))
    );
    assert_eq!(t.lookup(ip(10, 0, 0, 1)), Some(2));
    assert_eq!(
        t.set_slot(slot, &[], Some(0xFFFF)),
        Err(Unencodable(0xFFFF))
    );
    t.set_slot(slot, &[], Some(5)).unwrap();
    assert_eq!(t.lookup(ip(10, 0, 0, 1)), Some(5));
    assert_eq!(t.l1_nodes, 0);
}

#[test]
fn clone_send_sync() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Lpm>();
    let t = Lpm::build([(ip(10, 0, 0, 0), 8, 1)]);
    let u = t.clone();
    let h = std::thread::spawn(move || u.lookup(ip(10, 9, 9, 9)));
    assert_eq!(h.join().unwrap(), Some(1));
    assert_eq!(t.lookup(ip(10, 9, 9, 9)), Some(1));
}
