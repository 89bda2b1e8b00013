//! Source and destination checks of the input route lookup, after Linux's
//! `ip_route_input_slow` and `fib_validate_source`: the router's own addresses and the
//! broadcast addresses as sources, optional reverse-path filtering (RFC 3704), and
//! whether a directed broadcast may be forwarded (RFC 2644, Linux `bc_forwarding`).
//!
//! The policy is global (all ports alike) for now, where Linux has per-interface sysctls.
//!
//! The fast path must not pay for these. [`SrcFilter`] is a 4096-bit set, built with
//! the ports view, of the sources that need a closer look (own addresses, subnet
//! broadcasts); `fastpath::accept` declines a packet whose source may be in it, at the
//! cost of one multiply, one load and one bit test. With `rp_filter` on, every source
//! needs a FIB lookup, so the filter is full and the fast path declines everything.
use super::{Ports, Reason};
use crate::fib::{Fib, NextHop};

/// Reverse-path filtering (Linux `rp_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RpFilter {
    /// 0: no source validation beyond the martian checks (Linux's default).
    #[default]
    Off,
    /// 1: strict; the route back to the source must leave through the arrival port.
    Strict,
    /// 2: loose; some route back to the source must exist.
    Loose,
}

/// The switches of the `[ip]` config section, as the datapath reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IpPolicy {
    /// Forward and deliver packets with LSRR/SSRR options (Linux `accept_source_route`).
    pub accept_source_route: bool,
    pub rp_filter: RpFilter,
    /// Forward directed broadcasts to connected subnets (Linux `bc_forwarding`).
    pub bc_forwarding: bool,
}

/// Bits of the filter: 4096, i.e. 512 octets, in cache as long as traffic flows.
const FILTER_BITS: usize = 4096;

/// A set of IPv4 addresses with false positives and no false negatives. Addresses are
/// hashed as the four octets read in native order, so that the fast path hashes the
/// bytes of the header as they are, without a byte swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrcFilter {
    bits: Box<[u64; FILTER_BITS / 64]>,
}

impl Default for SrcFilter {
    fn default() -> Self {
        SrcFilter {
            bits: Box::new([0; FILTER_BITS / 64]),
        }
    }
}

impl SrcFilter {
    #[inline(always)]
    fn slot(octets: [u8; 4]) -> usize {
        // Fibonacci hashing: the top 12 bits of the product.
        (u32::from_ne_bytes(octets).wrapping_mul(0x9e37_79b1) >> 20) as usize
    }

    pub fn insert(&mut self, octets: [u8; 4]) {
        let i = Self::slot(octets);
        self.bits[i / 64] |= 1 << (i % 64);
    }

    /// Every address matches: the fast path declines every packet.
    pub fn fill(&mut self) {
        self.bits.fill(u64::MAX);
    }

    /// False: `octets` is certainly not in the set.
    #[inline(always)]
    pub fn may_contain(&self, octets: [u8; 4]) -> bool {
        let i = Self::slot(octets);
        self.bits[(i / 64) % (FILTER_BITS / 64)] >> (i % 64) & 1 != 0
    }
}

/// True if `a` is the directed broadcast of one of the router's connected subnets
/// (RFC 919 / RFC 1812 §4.2.2.11 `{<Network-prefix>, -1}`); /31 and /32 have none
/// (RFC 3021).
pub fn is_subnet_broadcast(ports: &Ports, a: u32) -> bool {
    ports.iter().any(|p| {
        std::iter::once(&p.addr)
            .chain(&p.secondary)
            .any(|n| n.prefix_len() < 31 && u32::from(n.broadcast()) == a)
    })
}

/// True if `a` is one of the router's own addresses, on any port (Linux
/// `inet_lookup_ifaddr_rcu`, which looks in the whole namespace).
pub fn is_own_address(ports: &Ports, a: u32) -> bool {
    let a = std::net::Ipv4Addr::from(a);
    ports.iter().any(|p| p.owns(a))
}

/// The source checks for a packet from `src` that arrived on `in_port` (Linux
/// `ip_route_input_slow` → `fib_validate_source`), in Linux's order: own address
/// (martian source), broadcast (RFC 1812 §5.3.7), then the reverse path if enabled.
/// The FIB lookup of the source is only made with `rp_filter` on.
pub fn check_source(ports: &Ports, fib: &Fib, src: u32, in_port: u16) -> Result<(), Reason> {
    if is_own_address(ports, src) {
        return Err(Reason::Ip4LocalSource);
    }
    if super::ip4_input::is_limited_broadcast(src) || is_subnet_broadcast(ports, src) {
        return Err(Reason::Ip4BroadcastSource);
    }
    let mode = ports.policy().rp_filter;
    if mode == RpFilter::Off {
        return Ok(());
    }
    // RFC 3704 §2.2 (strict) and §2.4 (loose); Linux accepts only unicast routes
    // back (RTN_UNICAST), so blackhole, unreachable and prohibit routes fail.
    match fib.lookup(src) {
        Some(NextHop::Connected { port } | NextHop::Gateway { port, .. }) => {
            if mode == RpFilter::Strict && port != in_port {
                Err(Reason::Ip4RpFilter)
            } else {
                Ok(())
            }
        }
        // Multipath: strict mode accepts any member's port (Linux `fib_info_nh_uses_dev`).
        Some(NextHop::Group { group }) => {
            if mode == RpFilter::Strict && !fib.group_uses_port(group, in_port) {
                Err(Reason::Ip4RpFilter)
            } else {
                Ok(())
            }
        }
        _ => Err(Reason::Ip4RpFilter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::PortCtx;
    use crate::fib::{Proto, Rib, Route, RouteTarget};
    use crate::wire::MacAddr;
    use std::net::Ipv4Addr;

    fn port(id: u16, addr: &str) -> PortCtx {
        PortCtx {
            id,
            name: format!("port{id}"),
            mac: MacAddr([2, 0, 0, 0, 0, id as u8]),
            addr: addr.parse().unwrap(),
            secondary: vec![],
            mtu: 1500,
            up: true,
        }
    }

    fn ports(policy: IpPolicy) -> Ports {
        let mut p1 = port(1, "10.0.2.1/24");
        p1.secondary.push("192.0.2.1/31".parse().unwrap());
        Ports::new(vec![port(0, "10.0.1.1/24"), p1]).with_policy(policy)
    }

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    fn fib() -> Fib {
        let mut rib = Rib::new();
        for (p, port) in [("10.0.1.0/24", 0), ("10.0.2.0/24", 1)] {
            rib.insert(Route {
                prefix: p.parse().unwrap(),
                target: RouteTarget::Connected { port },
                metric: 0,
                proto: Proto::Kernel,
            });
        }
        rib.insert(Route {
            prefix: "10.9.0.0/16".parse().unwrap(),
            target: RouteTarget::Blackhole,
            metric: 0,
            proto: Proto::Static,
        });
        rib.build_fib(1)
    }

    #[test]
    fn own_and_broadcast_sources_are_refused() {
        let p = ports(IpPolicy::default());
        let f = fib();
        for (src, want) in [
            ("10.0.1.1", Err(Reason::Ip4LocalSource)),
            ("10.0.2.1", Err(Reason::Ip4LocalSource)),
            ("192.0.2.1", Err(Reason::Ip4LocalSource)),
            ("10.0.1.255", Err(Reason::Ip4BroadcastSource)),
            ("10.0.2.255", Err(Reason::Ip4BroadcastSource)),
            ("255.255.255.255", Err(Reason::Ip4BroadcastSource)),
            // A /31 has no broadcast (RFC 3021): its other address is a host.
            ("192.0.2.0", Ok(())),
            ("10.0.1.2", Ok(())),
            // rp_filter off: a source with no route back is accepted (Linux default).
            ("10.7.7.7", Ok(())),
        ] {
            assert_eq!(check_source(&p, &f, ip(src), 0), want, "{src}");
        }
    }

    #[test]
    fn reverse_path_strict_and_loose() {
        let f = fib();
        let strict = ports(IpPolicy {
            rp_filter: RpFilter::Strict,
            ..IpPolicy::default()
        });
        let loose = ports(IpPolicy {
            rp_filter: RpFilter::Loose,
            ..IpPolicy::default()
        });
        // From h1's subnet on port 0: fine both ways; on port 1: strict refuses.
        assert_eq!(check_source(&strict, &f, ip("10.0.1.2"), 0), Ok(()));
        assert_eq!(
            check_source(&strict, &f, ip("10.0.1.2"), 1),
            Err(Reason::Ip4RpFilter)
        );
        assert_eq!(check_source(&loose, &f, ip("10.0.1.2"), 1), Ok(()));
        // No route back, or only a blackhole: refused in both modes.
        for p in [&strict, &loose] {
            assert_eq!(
                check_source(p, &f, ip("10.7.7.7"), 0),
                Err(Reason::Ip4RpFilter)
            );
            assert_eq!(
                check_source(p, &f, ip("10.9.1.1"), 0),
                Err(Reason::Ip4RpFilter)
            );
        }
    }

    #[test]
    fn filter_has_no_false_negatives_and_few_positives() {
        let p = ports(IpPolicy::default());
        let flt = p.src_filter();
        for a in [
            "10.0.1.1",
            "10.0.2.1",
            "192.0.2.1",
            "10.0.1.255",
            "10.0.2.255",
        ] {
            let o = a.parse::<Ipv4Addr>().unwrap().octets();
            assert!(flt.may_contain(o), "{a}");
        }
        // The hosts of the connected subnets and a spread of others: almost all pass.
        let hits = (0u32..65536)
            .map(|i| (0x0a00_0000 | i << 4).to_be_bytes())
            .filter(|o| flt.may_contain(*o))
            .count();
        assert!(hits < 65536 / 100, "{hits} false positives");
        // rp_filter on: everything matches.
        let strict = ports(IpPolicy {
            rp_filter: RpFilter::Strict,
            ..IpPolicy::default()
        });
        assert!(strict.src_filter().may_contain([10, 0, 1, 2]));
    }
}
