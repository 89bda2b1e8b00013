//! Multipath routes as resilient next-hop groups (Linux `ip nexthop add ... group ...
//! type resilient`, net/ipv4/nexthop.c): a group's members (gateway, port, weight) are
//! compiled into a table of [`BUCKETS`] buckets, each naming one member, with each
//! member's share of the buckets following its weight. The datapath picks the bucket by
//! the flow hash ([`super::flow`]), so a flow keeps its path.
//!
//! Resilience: the assignment is kept with the route in the RIB and changed as little as
//! possible. When a member goes away (the route is replaced without it, or it stops
//! resolving: its port went down, its gateway is on no connected subnet) only its buckets
//! are handed to the others; one added back takes from the others only as many buckets
//! as its share needs. Unlike Linux there are no idle timers: buckets move at once.
use super::NextHop;
use std::net::Ipv4Addr;

/// log2 of the number of buckets per group.
pub const BUCKET_BITS: u32 = 7;
/// Buckets per group: 128, Linux's default for resilient groups (ip-nexthop(8),
/// `buckets`). A power of two, so the bucket is the top bits of the hash; enough for a
/// share to follow weights within 1/128.
pub const BUCKETS: usize = 1 << BUCKET_BITS;
/// Most members a group may have (one bucket each at least).
pub const MAX_MEMBERS: usize = BUCKETS;
/// Linux's weight range (`rtnh_hops` + 1).
pub const WEIGHT_MAX: u16 = 256;

/// The resolved buckets of a group, as the FIB holds them.
pub type Buckets = [NextHop; BUCKETS];

/// One path of a multipath route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Member {
    /// None: the destination is on the port's link (`nexthop dev D`).
    pub gw: Option<Ipv4Addr>,
    pub port: u16,
    /// 1..=[`WEIGHT_MAX`].
    pub weight: u16,
}

/// A multipath route's members and its bucket assignment (bucket -> member index).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Multipath {
    members: Vec<Member>,
    buckets: [u8; BUCKETS],
}

/// A bucket no member holds yet.
const FREE: u8 = u8::MAX;

impl Multipath {
    /// A group of `members` (1..=[`MAX_MEMBERS`], checked by the caller) with a fresh
    /// assignment.
    pub fn new(members: Vec<Member>) -> Multipath {
        let weights: Vec<u32> = members.iter().map(|m| u32::from(m.weight)).collect();
        let buckets = rebalance(&[FREE; BUCKETS], &weights);
        Multipath { members, buckets }
    }

    /// `members` replacing the group `prev`: members that stay keep their buckets
    /// (as many as their new share allows), removed members' buckets go to the others,
    /// new members take from those above their share.
    pub fn succeed(prev: &Multipath, members: Vec<Member>) -> Multipath {
        let same = |a: &Member, b: &Member| a.gw == b.gw && a.port == b.port;
        let mut from = [FREE; BUCKETS];
        for (f, &b) in from.iter_mut().zip(&prev.buckets) {
            if let Some(old) = prev.members.get(usize::from(b)) {
                if let Some(i) = members.iter().position(|m| same(m, old)) {
                    *f = i as u8;
                }
            }
        }
        let weights: Vec<u32> = members.iter().map(|m| u32::from(m.weight)).collect();
        Multipath {
            buckets: rebalance(&from, &weights),
            members,
        }
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The member each bucket names.
    pub fn assignment(&self) -> &[u8; BUCKETS] {
        &self.buckets
    }

    /// The buckets as the datapath uses them, given each member's resolution (None: the
    /// member is dead). Dead members' buckets go to the live ones; None if all are dead.
    pub fn resolve(&self, mut member: impl FnMut(&Member) -> Option<NextHop>) -> Option<Buckets> {
        let hops: Vec<Option<NextHop>> = self.members.iter().map(&mut member).collect();
        let mut out = [NextHop::Blackhole; BUCKETS];
        if hops.iter().all(Option::is_some) {
            for (o, &b) in out.iter_mut().zip(&self.buckets) {
                *o = hops.get(usize::from(b)).copied().flatten()?;
            }
            return Some(out);
        }
        let weights: Vec<u32> = self
            .members
            .iter()
            .zip(&hops)
            .map(|(m, h)| if h.is_some() { u32::from(m.weight) } else { 0 })
            .collect();
        if weights.iter().all(|&w| w == 0) {
            return None;
        }
        let live = rebalance(&self.buckets, &weights);
        for (o, &b) in out.iter_mut().zip(&live) {
            *o = hops.get(usize::from(b)).copied().flatten()?;
        }
        Some(out)
    }
}

/// Each member's number of buckets for `weights`: one for each member of non-zero weight
/// (at most [`MAX_MEMBERS`] of them), the rest by weight, largest remainder first (ties
/// to the earlier member); all zero if every weight is.
fn shares(weights: &[u32]) -> Vec<usize> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let live = weights.iter().filter(|&&w| w > 0).count();
    if total == 0 || live > BUCKETS {
        return vec![0; weights.len()];
    }
    let n = (BUCKETS - live) as u64;
    let mut want: Vec<usize> = weights
        .iter()
        .map(|&w| (n * u64::from(w) / total) as usize + usize::from(w > 0))
        .collect();
    let mut left = BUCKETS - want.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(n * u64::from(weights[i]) % total));
    for i in order {
        if left == 0 {
            break;
        }
        if weights[i] > 0 {
            want[i] += 1;
            left -= 1;
        }
    }
    want
}

/// The assignment nearest to `prev` that gives each member its share for `weights`: a
/// member keeps its first buckets (in bucket order) up to its share, and the buckets so
/// freed (and those of members now weighing 0 or gone) go one by one to the member
/// furthest below its share.
fn rebalance(prev: &[u8; BUCKETS], weights: &[u32]) -> [u8; BUCKETS] {
    let want = shares(weights);
    let mut have = vec![0usize; want.len()];
    let mut out = *prev;
    let mut free = Vec::new();
    for (b, &m) in prev.iter().enumerate() {
        let i = usize::from(m);
        match (want.get(i), have.get_mut(i)) {
            (Some(&w), Some(h)) if *h < w => *h += 1,
            _ => free.push(b),
        }
    }
    for b in free {
        let best = (0..want.len())
            .filter(|&i| have[i] < want[i])
            .max_by_key(|&i| (want[i] - have[i], std::cmp::Reverse(i)));
        match best {
            Some(i) => {
                have[i] += 1;
                out[b] = i as u8;
            }
            None => out[b] = FREE,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::flow;
    use crate::testutil::Rng;

    fn gw(i: u8, weight: u16) -> Member {
        Member {
            gw: Some(Ipv4Addr::new(10, 0, 2, i)),
            port: 1,
            weight,
        }
    }

    fn hop(m: &Member) -> Option<NextHop> {
        Some(NextHop::Gateway {
            port: m.port,
            gw: m.gw?,
        })
    }

    fn count(a: &[u8; BUCKETS], i: u8) -> usize {
        a.iter().filter(|&&b| b == i).count()
    }

    /// Random 5-tuples (UDP and TCP, random addresses and ports), hashed.
    fn flows(n: usize, seed: u64) -> Vec<u32> {
        let mut rng = Rng(seed);
        (0..n)
            .map(|_| {
                let proto = if rng.below(2) == 0 { 6 } else { 17 };
                flow::hash_tuple(
                    rng.next() as u32,
                    rng.next() as u32,
                    proto,
                    rng.next() as u16,
                    rng.next() as u16,
                )
            })
            .collect()
    }

    fn bucket(h: u32) -> usize {
        (h >> (32 - BUCKET_BITS)) as usize
    }

    #[test]
    fn shares_follow_weights() {
        let g = Multipath::new(vec![gw(2, 1), gw(3, 1)]);
        assert_eq!((count(&g.buckets, 0), count(&g.buckets, 1)), (64, 64));
        let g = Multipath::new(vec![gw(2, 1), gw(3, 2)]);
        assert_eq!((count(&g.buckets, 0), count(&g.buckets, 1)), (43, 85));
        let g = Multipath::new(vec![gw(2, 1), gw(3, 256)]);
        assert_eq!((count(&g.buckets, 0), count(&g.buckets, 1)), (1, 127));
        let g = Multipath::new((0..MAX_MEMBERS as u8).map(|i| gw(i, 1)).collect());
        assert!((0..MAX_MEMBERS as u8).all(|i| count(&g.buckets, i) == 1));
    }

    #[test]
    fn random_flows_split_by_the_weights() {
        let hashes = flows(100_000, 7);
        for weights in [[1u16, 1], [1, 2]] {
            let g = Multipath::new(vec![gw(2, weights[0]), gw(3, weights[1])]);
            let on0 = hashes
                .iter()
                .filter(|&&h| g.buckets[bucket(h)] == 0)
                .count();
            let share = on0 as f64 / hashes.len() as f64;
            let want = f64::from(weights[0]) / f64::from(weights[0] + weights[1]);
            assert!(
                (share - want).abs() < 0.02,
                "weights {weights:?}: first member has {share:.3} of the flows, want {want:.3}"
            );
        }
    }

    #[test]
    fn a_dead_member_moves_only_its_flows_and_gets_them_back() {
        let g = Multipath::new(vec![gw(2, 1), gw(3, 1), gw(4, 2)]);
        let all = g.resolve(hop).unwrap();
        // 10.0.2.3 stops resolving (its port went down, say).
        let dead = Ipv4Addr::new(10, 0, 2, 3);
        let without = g
            .resolve(|m| hop(m).filter(|_| m.gw != Some(dead)))
            .unwrap();
        let hashes = flows(50_000, 11);
        let (mut moved, mut on_dead) = (0, 0);
        for &h in &hashes {
            let (a, b) = (all[bucket(h)], without[bucket(h)]);
            let was_dead = a == hop(&gw(3, 1)).unwrap();
            on_dead += usize::from(was_dead);
            assert!(!matches!(b, NextHop::Gateway { gw, .. } if gw == dead));
            if a != b {
                assert!(was_dead, "a flow on a live member moved");
                moved += 1;
            }
        }
        assert_eq!(moved, on_dead);
        // Its share (1/4) went to the others by their weights: 1/3 and 2/3 of it.
        let to0 = without
            .iter()
            .filter(|&&b| b == hop(&gw(2, 1)).unwrap())
            .count();
        assert_eq!(to0, 43);
        // Back: exactly the assignment before.
        assert_eq!(g.resolve(hop).unwrap(), all);
        assert_eq!(g.resolve(|_| None), None);
    }

    #[test]
    fn replacing_the_members_moves_only_what_must_move() {
        let g = Multipath::new(vec![gw(2, 1), gw(3, 1), gw(4, 1)]);
        // One member fewer: only its buckets change hands.
        let two = Multipath::succeed(&g, vec![gw(2, 1), gw(4, 1)]);
        for (b, (&old, &new)) in g.buckets.iter().zip(&two.buckets).enumerate() {
            let (o, n) = (g.members[old as usize], two.members[new as usize]);
            if o.gw != Some(Ipv4Addr::new(10, 0, 2, 3)) {
                assert_eq!(o, n, "bucket {b} moved from a member that stayed");
            }
        }
        assert_eq!((count(&two.buckets, 0), count(&two.buckets, 1)), (64, 64));
        // Added back (at the end): it takes about its share (a third), the others keep
        // the rest of theirs.
        let three = Multipath::succeed(&two, vec![gw(2, 1), gw(4, 1), gw(3, 1)]);
        let moved = two
            .buckets
            .iter()
            .zip(&three.buckets)
            .filter(|(&a, &b)| two.members[a as usize] != three.members[b as usize])
            .count();
        assert_eq!(moved, count(&three.buckets, 2));
        assert!((42..=43).contains(&moved), "{moved} buckets moved");
        // A weight change moves only the difference.
        let heavier = Multipath::succeed(&three, vec![gw(2, 2), gw(4, 1), gw(3, 1)]);
        let moved = three
            .buckets
            .iter()
            .zip(&heavier.buckets)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(moved, count(&heavier.buckets, 0) - count(&three.buckets, 0));
    }

    #[test]
    fn rebalance_is_minimal_for_random_changes() {
        let mut rng = Rng(3);
        for _ in 0..200 {
            let n = 1 + rng.below(8) as usize;
            let weights: Vec<u32> = (0..n).map(|_| rng.below(5) as u32).collect();
            let mut prev = [FREE; BUCKETS];
            for p in prev.iter_mut() {
                *p = rng.below(n as u64 + 1) as u8; // n: a gone member
            }
            let out = rebalance(&prev, &weights);
            let want = shares(&weights);
            for (i, &w) in want.iter().enumerate() {
                assert_eq!(count(&out, i as u8), w);
            }
            // A bucket moves only if its member was above its share or is gone.
            for (b, (&p, &o)) in prev.iter().zip(&out).enumerate() {
                if p != o && (p as usize) < n {
                    assert!(count(&prev, p) > want[p as usize], "bucket {b}");
                }
            }
        }
    }
}
