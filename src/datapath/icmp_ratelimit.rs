//! ICMP rate limits as Linux's `icmp_send` applies them (net/ipv4/icmp.c), per worker:
//! only for the types in `ratemask` (never fragmentation needed, PMTU discovery), a
//! token bucket per destination host (`inet_peer_xrlim_allow`: one message per
//! `ratelimit_ms`, `burst` in a row) and then the global bucket (`icmp_msgs_per_sec`,
//! `icmp_msgs_burst`), consumed only when the host's allows, as Linux does since 6.x.
//!
//! The hosts live in a fixed table (4-way set associative, sized once): no allocation
//! per packet, and a flood of sources evicts the least recently limited host of a set
//! (counted) instead of growing memory. An evicted host comes back with a full bucket,
//! as a new `inet_peer` does.
use super::token_bucket::TokenBucket;
use std::net::Ipv4Addr;

/// Why an ICMP message was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// The destination host's bucket was empty.
    Host,
    /// The global bucket was empty.
    Global,
}

/// The `[icmp]` settings, in TSC cycles where it matters.
#[derive(Debug, Clone, Copy)]
pub struct IcmpLimits {
    pub msgs_per_sec: u32,
    pub msgs_burst: u32,
    pub ratelimit_ms: u32,
    pub ratemask: u32,
    pub burst: u32,
    pub peers: u32,
}

const WAYS: usize = 4;
/// Linux's `ICMP_DEST_UNREACH` / `ICMP_FRAG_NEEDED`.
const DEST_UNREACH: u8 = 3;
const FRAG_NEEDED: u8 = 4;

#[derive(Debug, Clone, Copy, Default)]
struct Peer {
    /// The host's address, 0 for a free slot (0.0.0.0 never gets an ICMP error: it is
    /// a martian source).
    addr: u32,
    /// Linux's `rate_tokens`, in TSC cycles.
    tokens: u64,
    /// `rate_last`: when the bucket was last filled.
    last: u64,
}

pub struct IcmpLimiter {
    ratemask: u32,
    global: TokenBucket,
    /// One message's worth of tokens (ratelimit_ms in cycles), 0 for no per-host limit.
    cost: u64,
    /// The most a host saves up: `burst` messages.
    cap: u64,
    peers: Vec<[Peer; WAYS]>,
    /// Hosts forgotten to make room for new ones, since the last [`Self::take_evicted`].
    evicted: u64,
}

impl IcmpLimiter {
    pub fn new(l: IcmpLimits, hz: u64, now: u64) -> IcmpLimiter {
        let cost = u64::from(l.ratelimit_ms) * hz / 1000;
        let sets = (l.peers as usize).div_ceil(WAYS).next_power_of_two().max(1);
        IcmpLimiter {
            ratemask: l.ratemask,
            global: TokenBucket::new(l.msgs_per_sec, l.msgs_burst, hz, now),
            cost,
            cap: cost.saturating_mul(u64::from(l.burst.max(1))),
            peers: if cost == 0 {
                Vec::new()
            } else {
                vec![[Peer::default(); WAYS]; sets]
            },
            evicted: 0,
        }
    }

    /// Linux's `icmpv4_mask_allow` negated: whether messages of this type are limited.
    #[inline]
    pub fn limits(&self, msg_type: u8, code: u8) -> bool {
        if msg_type == DEST_UNREACH && code == FRAG_NEEDED {
            return false;
        }
        msg_type < 32 && self.ratemask >> msg_type & 1 != 0
    }

    /// May an ICMP message (type, code) go to `dst` at TSC time `now`? Takes the tokens
    /// if so.
    pub fn allow(
        &mut self,
        msg_type: u8,
        code: u8,
        dst: Ipv4Addr,
        now: u64,
    ) -> Result<(), Limited> {
        if !self.limits(msg_type, code) {
            return Ok(());
        }
        if self.cost > 0 && !self.host_allows(u32::from(dst), now) {
            return Err(Limited::Host);
        }
        if !self.global.take(now) {
            return Err(Limited::Global);
        }
        Ok(())
    }

    /// `inet_peer_xrlim_allow` on the host's slot, found or made.
    fn host_allows(&mut self, addr: u32, now: u64) -> bool {
        let (cost, cap) = (self.cost, self.cap);
        // Fibonacci hashing: neighbouring addresses spread over the sets.
        let h = (u64::from(addr).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize;
        let mask = self.peers.len().wrapping_sub(1);
        let Some(set) = self.peers.get_mut(h & mask) else {
            return true;
        };
        let i = match set.iter().position(|p| p.addr == addr && addr != 0) {
            Some(i) => i,
            None => {
                // A free slot, else the one limited longest ago.
                let (i, old) = set
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, p)| (p.addr != 0, p.last))
                    .map(|(i, p)| (i, p.addr))
                    .unwrap_or((0, 0));
                if old != 0 {
                    self.evicted += 1;
                }
                set[i] = Peer {
                    addr,
                    tokens: cap,
                    last: now,
                };
                i
            }
        };
        let p = &mut set[i];
        p.tokens = p.tokens.saturating_add(now.saturating_sub(p.last)).min(cap);
        p.last = now;
        if p.tokens >= cost {
            p.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Hosts evicted since the last call (for the counters).
    pub fn take_evicted(&mut self) -> u64 {
        std::mem::take(&mut self.evicted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ: u64 = 1_000_000_000;
    const MS: u64 = HZ / 1000;
    const TIME_EXCEEDED: u8 = 11;

    fn linux_defaults() -> IcmpLimits {
        IcmpLimits {
            msgs_per_sec: 1000,
            msgs_burst: 50,
            ratelimit_ms: 1000,
            ratemask: 6168,
            burst: 6,
            peers: 4096,
        }
    }

    fn host(i: u32) -> Ipv4Addr {
        Ipv4Addr::from(0x0a00_0000 + i)
    }

    #[test]
    fn linux_ratemask_6168_limits_unreachable_quench_time_exceeded_param_problem() {
        let l = IcmpLimiter::new(linux_defaults(), HZ, 0);
        let limited: Vec<u8> = (0..32).filter(|&t| l.limits(t, 0)).collect();
        assert_eq!(limited, vec![3, 4, 11, 12]);
        assert!(!l.limits(0, 0), "echo reply is not limited by default");
        assert!(!l.limits(3, 4), "fragmentation needed never is");
        assert!(l.limits(3, 1));
    }

    #[test]
    fn a_host_gets_its_burst_then_one_per_ratelimit_ms() {
        let mut l = IcmpLimiter::new(linux_defaults(), HZ, 0);
        let a = host(1);
        let sent = (0..400)
            .filter(|_| l.allow(TIME_EXCEEDED, 0, a, 0).is_ok())
            .count();
        assert_eq!(sent, 6, "400 in a burst from one host: Linux's 6");
        assert_eq!(l.allow(TIME_EXCEEDED, 0, a, 0), Err(Limited::Host));
        // Another host is not affected.
        assert!(l.allow(TIME_EXCEEDED, 0, host(2), 0).is_ok());
        // One more per second.
        assert_eq!(l.allow(TIME_EXCEEDED, 0, a, 999 * MS), Err(Limited::Host));
        assert!(l.allow(TIME_EXCEEDED, 0, a, 1000 * MS).is_ok());
        assert_eq!(l.allow(TIME_EXCEEDED, 0, a, 1000 * MS), Err(Limited::Host));
        // Unlimited types pass whatever the buckets hold.
        assert!(l.allow(0, 0, a, 1000 * MS).is_ok());
        assert!(l.allow(3, 4, a, 1000 * MS).is_ok());
    }

    #[test]
    fn the_global_bucket_caps_many_hosts() {
        let mut l = IcmpLimiter::new(linux_defaults(), HZ, 0);
        let sent = (0..1000)
            .filter(|&i| l.allow(TIME_EXCEEDED, 0, host(i), 0).is_ok())
            .count();
        assert_eq!(sent, 50, "icmp_msgs_burst");
        assert_eq!(
            l.allow(TIME_EXCEEDED, 0, host(5000), 0),
            Err(Limited::Global)
        );
    }

    #[test]
    fn the_table_is_bounded_and_counts_evictions() {
        let limits = IcmpLimits {
            peers: 8,
            msgs_per_sec: 0,
            ..linux_defaults()
        };
        let mut l = IcmpLimiter::new(limits, HZ, 0);
        assert_eq!(l.peers.len(), 2, "8 hosts: 2 sets of 4");
        for i in 1..=1000 {
            let _ = l.allow(TIME_EXCEEDED, 0, host(i), i.into());
        }
        assert_eq!(l.take_evicted(), 1000 - 8);
        assert_eq!(l.take_evicted(), 0);
        // A host just seen is still limited; one evicted long ago starts afresh.
        let last = host(1000);
        while l.allow(TIME_EXCEEDED, 0, last, 1000).is_ok() {}
        assert_eq!(l.allow(TIME_EXCEEDED, 0, last, 1000), Err(Limited::Host));
        assert!(l.allow(TIME_EXCEEDED, 0, host(1), 1000).is_ok());
    }

    #[test]
    fn ratelimit_ms_zero_leaves_only_the_global_bucket() {
        let limits = IcmpLimits {
            ratelimit_ms: 0,
            ..linux_defaults()
        };
        let mut l = IcmpLimiter::new(limits, HZ, 0);
        let sent = (0..400)
            .filter(|_| l.allow(TIME_EXCEEDED, 0, host(1), 0).is_ok())
            .count();
        assert_eq!(sent, 50);
    }
}
