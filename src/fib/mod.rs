//! Routing: the control side's RIB (every route, with metrics) and the workers' FIB (the
//! best route per prefix compiled into [`lpm::Lpm`] plus a table of next hops).
//!
//! The FIB is immutable: the control side builds a new one and publishes it through
//! `ArcSwap<Fib>`; workers load it once per burst.
//!
//! Multipath routes ([`multipath`]) resolve to a group of buckets; the FIB's answer for
//! them is [`NextHop::Group`], and the datapath picks the member with [`Fib::member`] by
//! the packet's [`flow`] hash.

mod address;
pub mod flow;
pub mod lpm;
pub mod multipath;
mod rib;
mod update;

pub use address::address_routes;
pub use multipath::{Buckets, Member, Multipath};
pub use rib::Rib;
pub use update::{FibPublisher, Published, PublisherStats, Rebuild};

use ipnet::Ipv4Net;
use lpm::{Lpm, NhId};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Where a route sends packets, as the datapath needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// One of the router's own addresses (Linux's `local` table), received on `port`'s subnet.
    Local { port: u16 },
    /// A subnet broadcast address of `port` (RFC 1812 §5.3.5: not forwarded).
    Broadcast { port: u16 },
    /// Directly connected: the destination itself is the neighbour.
    Connected { port: u16 },
    /// Through a gateway on `port`.
    Gateway { port: u16, gw: Ipv4Addr },
    /// Silently discarded.
    Blackhole,
    /// Discarded with ICMP host unreachable (as Linux's `unreachable` route).
    Unreachable,
    /// Discarded with ICMP communication administratively prohibited.
    Prohibit,
    /// A multipath route: `group` indexes the FIB's groups, whose bucket for the packet's
    /// flow hash is one of the above (see [`Fib::member`]).
    Group { group: u32 },
}

/// What a route resolves to before the FIB gives it an id: one next hop, or the buckets
/// of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resolved {
    One(NextHop),
    Group(Arc<Buckets>),
}

/// Who put a route in the RIB: rtnetlink's `rtm_protocol`, kept as given so that a
/// routing daemon's routes show as `proto bird` or `proto zebra`, as in `ip route`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// Derived from a port address (local, broadcast and connected routes).
    Kernel,
    /// From the config file or the control API, unless the request names another.
    Static,
    /// Any other RTPROT_* number (a routing daemon's, `boot`, ...); never 2 or 4.
    Other(u8),
}

/// The protocol numbers with names (linux/rtnetlink.h, iproute2's `rt_protos`).
const PROTO_NAMES: [(u8, &str); 22] = [
    (1, "redirect"),
    (2, "kernel"),
    (3, "boot"),
    (4, "static"),
    (8, "gated"),
    (9, "ra"),
    (10, "mrt"),
    (11, "zebra"),
    (12, "bird"),
    (13, "dnrouted"),
    (14, "xorp"),
    (15, "ntk"),
    (16, "dhcp"),
    (17, "mrouted"),
    (18, "keepalived"),
    (42, "babel"),
    (99, "openr"),
    (186, "bgp"),
    (187, "isis"),
    (188, "ospf"),
    (189, "rip"),
    (192, "eigrp"),
];

impl Proto {
    pub const KERNEL: u8 = 2;
    pub const STATIC: u8 = 4;

    /// The protocol of an RTPROT_* number.
    pub fn from_num(n: u8) -> Proto {
        match n {
            Proto::KERNEL => Proto::Kernel,
            Proto::STATIC => Proto::Static,
            n => Proto::Other(n),
        }
    }

    /// Its RTPROT_* number.
    pub fn num(self) -> u8 {
        match self {
            Proto::Kernel => Proto::KERNEL,
            Proto::Static => Proto::STATIC,
            Proto::Other(n) => n,
        }
    }

    /// The name `ip route` prints for an RTPROT_* number, if it has one.
    pub fn name_of(n: u8) -> Option<&'static str> {
        PROTO_NAMES.iter().find(|p| p.0 == n).map(|p| p.1)
    }

    /// The number of a protocol name or of a number written out (as iproute2 takes them).
    pub fn parse_num(s: &str) -> Option<u8> {
        match PROTO_NAMES.iter().find(|p| p.1 == s) {
            Some(p) => Some(p.0),
            None => s.parse().ok(),
        }
    }
}

/// What a route points at before resolution (a gateway may omit its port).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteTarget {
    Local {
        port: u16,
    },
    Broadcast {
        port: u16,
    },
    Connected {
        port: u16,
    },
    Gateway {
        gw: Ipv4Addr,
        port: Option<u16>,
    },
    Blackhole,
    Unreachable,
    Prohibit,
    /// Several paths, with their bucket assignment (kept across replacements).
    Multipath(Arc<Multipath>),
}

impl RouteTarget {
    /// The port of a connected route.
    fn connected_port(&self) -> Option<u16> {
        match self {
            RouteTarget::Connected { port } => Some(*port),
            _ => None,
        }
    }
}

/// A route as the RIB holds it: its prefix, where it sends packets, its metric (the lowest
/// wins) and who added it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub prefix: Ipv4Net,
    pub target: RouteTarget,
    pub metric: u32,
    pub proto: Proto,
}

/// A FIB version as the workers see it.
pub struct Fib {
    lpm: Lpm,
    nexthops: Vec<NextHop>,
    /// The buckets of each [`NextHop::Group`] (None: an id not in use).
    groups: Vec<Option<Arc<Buckets>>>,
    pub version: u64,
}

fn key(p: &Ipv4Net) -> (u32, u8) {
    (u32::from(p.network()), p.prefix_len())
}

/// The network mask of a prefix length (0..=32).
fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len)
    }
}

impl Fib {
    /// Longest-prefix match for a destination.
    #[inline]
    pub fn lookup(&self, dst: u32) -> Option<NextHop> {
        self.lpm
            .lookup(dst)
            .and_then(|id| self.nexthops.get(id as usize).copied())
    }

    /// Burst lookup: `out[i]` for `dsts[i]` (at most 64 addresses per call; the common
    /// length of the slices).
    #[inline]
    pub fn lookup_burst(&self, dsts: &[u32], out: &mut [Option<NextHop>]) {
        let mut ids = [0u32; 64];
        let n = dsts.len().min(out.len()).min(ids.len());
        self.lpm.lookup_burst_raw(&dsts[..n], &mut ids[..n]);
        // "No route" is u32::MAX, past the end of the table.
        for (o, &id) in out[..n].iter_mut().zip(&ids[..n]) {
            *o = self.nexthops.get(id as usize).copied();
        }
    }

    /// The id of the next hop for a destination, as the lookup structure stores it (see
    /// [`Fib::nexthop`]): the longest-prefix match without the table access of `lookup`.
    #[inline]
    pub fn lookup_id(&self, dst: u32) -> Option<NhId> {
        self.lpm.lookup(dst)
    }

    /// Burst of `lookup_id`: `out[i]` is the next-hop id for `dsts[i]`, or `u32::MAX` when
    /// no route covers it (any number of addresses; the common length of the slices).
    #[inline]
    pub fn lookup_ids_burst(&self, dsts: &[u32], out: &mut [u32]) {
        self.lpm.lookup_burst_raw(dsts, out);
    }

    /// The next hop with id `id` (a [`NextHop::Group`] for a multipath route).
    #[inline]
    pub fn nexthop(&self, id: NhId) -> Option<NextHop> {
        self.nexthops.get(id as usize).copied()
    }

    /// The member of group `group` that the flow with hash `hash` (see [`flow`]) takes:
    /// the bucket named by the hash's top bits.
    #[inline]
    pub fn member(&self, group: u32, hash: u32) -> Option<NextHop> {
        let buckets = self.groups.get(group as usize)?.as_deref()?;
        buckets
            .get((hash >> (32 - multipath::BUCKET_BITS)) as usize)
            .copied()
    }

    /// The member for `hash` if `nh` is a group, else `nh`.
    #[inline]
    pub fn pick(&self, nh: Option<NextHop>, hash: u32) -> Option<NextHop> {
        match nh {
            Some(NextHop::Group { group }) => self.member(group, hash),
            nh => nh,
        }
    }

    /// True if a member of group `group` leaves through `port` (reverse-path checks).
    pub fn group_uses_port(&self, group: u32, port: u16) -> bool {
        let Some(Some(buckets)) = self.groups.get(group as usize) else {
            return false;
        };
        buckets.iter().any(|nh| match *nh {
            NextHop::Connected { port: p } | NextHop::Gateway { port: p, .. } => p == port,
            _ => false,
        })
    }

    pub fn prefixes(&self) -> usize {
        self.lpm.len()
    }

    pub fn memory_bytes(&self) -> usize {
        self.lpm.memory_bytes()
            + self.nexthops.capacity() * std::mem::size_of::<NextHop>()
            + self.groups.iter().flatten().count() * std::mem::size_of::<Buckets>()
    }
}

impl Default for Fib {
    fn default() -> Fib {
        Rib::new().build_fib(0)
    }
}

impl fmt::Display for Route {
    /// iproute2 style: `10.9.0.0/16 via 10.0.2.2 dev port1 metric 0 proto static`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target {
            RouteTarget::Blackhole => write!(f, "blackhole {}", self.prefix)?,
            RouteTarget::Unreachable => write!(f, "unreachable {}", self.prefix)?,
            RouteTarget::Prohibit => write!(f, "prohibit {}", self.prefix)?,
            RouteTarget::Local { port } => write!(f, "local {} dev {port}", self.prefix.addr())?,
            RouteTarget::Broadcast { port } => {
                write!(f, "broadcast {} dev {port}", self.prefix.addr())?
            }
            RouteTarget::Connected { port } => write!(f, "{} dev {port} scope link", self.prefix)?,
            RouteTarget::Gateway { gw, port } => {
                write!(f, "{} via {gw}", self.prefix)?;
                if let Some(p) = port {
                    write!(f, " dev {p}")?;
                }
            }
            RouteTarget::Multipath(ref mp) => {
                write!(f, "{}", self.prefix)?;
                for m in mp.members() {
                    write!(f, " nexthop")?;
                    if let Some(gw) = m.gw {
                        write!(f, " via {gw}")?;
                    }
                    write!(f, " dev {} weight {}", m.port, m.weight)?;
                }
            }
        }
        match Proto::name_of(self.proto.num()) {
            Some(name) => write!(f, " proto {name}")?,
            None => write!(f, " proto {}", self.proto.num())?,
        }
        write!(f, " metric {}", self.metric)
    }
}

#[cfg(test)]
mod tests;
