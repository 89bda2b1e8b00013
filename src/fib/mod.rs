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
mod update;

pub use address::address_routes;
pub use multipath::{Buckets, Member, Multipath};
pub use update::{FibPublisher, Published, PublisherStats, Rebuild};

use ipnet::Ipv4Net;
use lpm::{Lpm, NhId};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub prefix: Ipv4Net,
    pub target: RouteTarget,
    pub metric: u32,
    pub proto: Proto,
}

/// All routes, keyed by prefix; per prefix the lowest metric wins.
#[derive(Debug, Clone, Default)]
pub struct Rib {
    /// Routes per prefix (network, length). A hash map rather than a B-tree: route churn
    /// is point updates and lookups by prefix, and in a full table a B-tree costs several
    /// cache misses per access (about 3x slower here); prefix order is made on demand.
    routes: HashMap<(u32, u8), Routes>,
    /// Number of routes (all prefixes, all metrics).
    len: usize,
    /// The prefixes whose best route is connected, and its port: what gateway resolution
    /// searches, kept apart so that resolving a gateway does not scan every route.
    connected: BTreeMap<(u32, u8), u16>,
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

/// The routes of one prefix, best (lowest metric) first. One route, by far the most
/// common case, is held inline (no allocation per prefix).
#[derive(Debug, Clone)]
enum Routes {
    One(Route),
    Many(Vec<Route>),
}

impl Routes {
    fn as_slice(&self) -> &[Route] {
        match self {
            Routes::One(r) => std::slice::from_ref(r),
            Routes::Many(v) => v,
        }
    }

    fn first(&self) -> &Route {
        match self {
            Routes::One(r) => r,
            Routes::Many(v) => &v[0],
        }
    }

    /// Adds `route` after removing the routes with its metric (there may be several,
    /// added with [`Rib::set`]); returns how many it replaced.
    fn insert(&mut self, route: Route) -> usize {
        match self {
            Routes::One(r) if r.metric == route.metric => {
                *r = route;
                1
            }
            Routes::One(r) => {
                let mut v = vec![r.clone(), route];
                v.sort_by_key(|r| r.metric);
                *self = Routes::Many(v);
                0
            }
            Routes::Many(v) => {
                let before = v.len();
                v.retain(|r| r.metric != route.metric);
                let replaced = before - v.len();
                let at = v.partition_point(|r| r.metric < route.metric);
                v.insert(at, route);
                self.shrink();
                replaced
            }
        }
    }

    /// Removes the routes with `metric`: how many there were, and whether none is left.
    fn remove(&mut self, metric: u32) -> (usize, bool) {
        match self {
            Routes::One(r) => {
                let hit = r.metric == metric;
                (usize::from(hit), hit)
            }
            Routes::Many(v) => {
                let before = v.len();
                v.retain(|r| r.metric != metric);
                let removed = before - v.len();
                let empty = v.is_empty();
                self.shrink();
                (removed, empty)
            }
        }
    }

    /// One route is kept inline.
    fn shrink(&mut self) {
        if let Routes::Many(v) = self {
            if v.len() == 1 {
                *self = Routes::One(v[0].clone());
            }
        }
    }
}

impl Rib {
    pub fn new() -> Rib {
        Rib::default()
    }

    /// Adds a route; a route with the same prefix and metric is replaced.
    pub fn insert(&mut self, route: Route) {
        let k = key(&route.prefix);
        let best = match self.routes.entry(k) {
            Entry::Occupied(mut e) => {
                let replaced = e.get_mut().insert(route);
                self.len = self.len + 1 - replaced;
                e.get().first().target.connected_port()
            }
            Entry::Vacant(e) => {
                self.len += 1;
                e.insert(Routes::One(route)).first().target.connected_port()
            }
        };
        self.update_connected(k, best);
    }

    /// Removes the route with this prefix and metric; true if there was one.
    pub fn remove(&mut self, prefix: &Ipv4Net, metric: u32) -> bool {
        let k = key(prefix);
        let Some(list) = self.routes.get_mut(&k) else {
            return false;
        };
        let (removed, empty) = list.remove(metric);
        if removed == 0 {
            return false;
        }
        let best = if empty {
            self.routes.remove(&k);
            None
        } else {
            list.first().target.connected_port()
        };
        self.len -= removed;
        self.update_connected(k, best);
        true
    }

    /// Keeps `connected` in step after the best route of prefix `k` became connected to
    /// port `best`, or not connected (None).
    fn update_connected(&mut self, k: (u32, u8), best: Option<u16>) {
        match best {
            Some(port) => {
                self.connected.insert(k, port);
            }
            None => {
                if !self.connected.is_empty() {
                    self.connected.remove(&k);
                }
            }
        }
    }

    /// The connected subnets (prefix -> port) that gateway resolution uses.
    pub fn connected(&self) -> &BTreeMap<(u32, u8), u16> {
        &self.connected
    }

    /// Every route in prefix order (sorts the prefixes: O(n log n)).
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        let mut keys: Vec<&(u32, u8)> = self.routes.keys().collect();
        keys.sort_unstable();
        keys.into_iter()
            .filter_map(|k| self.routes.get(k))
            .flat_map(Routes::as_slice)
    }

    /// Number of routes (all prefixes, all metrics).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The port of the connected subnet that holds `gw` (longest match among connected
    /// routes), resolving a gateway given without a port.
    /// O(log of the number of connected subnets) per prefix length.
    fn connected_port(&self, gw: Ipv4Addr) -> Option<u16> {
        let a = u32::from(gw);
        (0..=32u8)
            .rev()
            .find_map(|len| self.connected.get(&(a & mask(len), len)).copied())
    }

    /// The datapath's view of a route, or None if its gateway is on no connected subnet
    /// (for a multipath route: if none of its members resolves).
    pub fn resolve(&self, r: &Route) -> Option<Resolved> {
        if let RouteTarget::Multipath(mp) = &r.target {
            return mp
                .resolve(|m| self.resolve_member(m))
                .map(|b| Resolved::Group(Arc::new(b)));
        }
        Some(Resolved::One(match r.target {
            RouteTarget::Local { port } => NextHop::Local { port },
            RouteTarget::Broadcast { port } => NextHop::Broadcast { port },
            RouteTarget::Connected { port } => NextHop::Connected { port },
            RouteTarget::Gateway { gw, port } => NextHop::Gateway {
                gw,
                port: match port {
                    Some(p) => p,
                    None => self.connected_port(gw)?,
                },
            },
            RouteTarget::Blackhole => NextHop::Blackhole,
            RouteTarget::Unreachable => NextHop::Unreachable,
            RouteTarget::Prohibit => NextHop::Prohibit,
            RouteTarget::Multipath(_) => return None,
        }))
    }

    /// A multipath member as the datapath uses it, or None while it is dead: its gateway
    /// on no connected subnet of its port, or (without a gateway) its port without any
    /// connected subnet, as after the port went down (Linux RTNH_F_DEAD).
    fn resolve_member(&self, m: &Member) -> Option<NextHop> {
        match m.gw {
            Some(gw) => (self.connected_port(gw) == Some(m.port))
                .then_some(NextHop::Gateway { port: m.port, gw }),
            None => self
                .connected
                .values()
                .any(|&p| p == m.port)
                .then_some(NextHop::Connected { port: m.port }),
        }
    }

    /// The datapath's view of the best route of prefix `k` that resolves.
    fn best(&self, k: (u32, u8)) -> Option<Resolved> {
        self.routes
            .get(&k)?
            .as_slice()
            .iter()
            .find_map(|r| self.resolve(r))
    }

    /// Compiles the best route of every prefix into a FIB.
    pub fn build_fib(&self, version: u64) -> Fib {
        let mut nexthops: Vec<NextHop> = Vec::new();
        let mut groups = Vec::new();
        let mut ids: HashMap<Resolved, NhId> = HashMap::new();
        let mut entries = Vec::with_capacity(self.routes.len());
        for (&(addr, len), list) in &self.routes {
            // The lowest-metric route that resolves wins.
            let Some(nh) = list.as_slice().iter().find_map(|r| self.resolve(r)) else {
                continue;
            };
            let id = *ids.entry(nh).or_insert_with_key(|nh| {
                nexthops.push(match nh {
                    Resolved::One(nh) => *nh,
                    Resolved::Group(b) => {
                        groups.push(Some(b.clone()));
                        NextHop::Group {
                            group: (groups.len() - 1) as u32,
                        }
                    }
                });
                (nexthops.len() - 1) as NhId
            });
            entries.push((addr, len, id));
        }
        Fib {
            lpm: Lpm::build(entries),
            nexthops,
            groups,
            version,
        }
    }

    /// The routes of one prefix, best (lowest metric, first added) first.
    pub fn get(&self, prefix: &Ipv4Net) -> &[Route] {
        self.routes.get(&key(prefix)).map_or(&[], Routes::as_slice)
    }

    /// Replaces the routes of one prefix with `routes`, kept in the order given (the
    /// caller keeps them sorted by metric); an empty list removes the prefix.
    pub fn set(&mut self, prefix: &Ipv4Net, mut routes: Vec<Route>) {
        let k = key(prefix);
        let best = routes.first().and_then(|r| r.target.connected_port());
        let added = routes.len();
        let old = match routes.len() {
            0 => self.routes.remove(&k),
            1 => self.routes.insert(k, Routes::One(routes.remove(0))),
            _ => self.routes.insert(k, Routes::Many(routes)),
        };
        self.len = self.len + added - old.map_or(0, |o| o.as_slice().len());
        self.update_connected(k, best);
    }

    /// The best route for `addr` (as `ip route get`).
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<&Route> {
        let a = u32::from(addr);
        (0..=32u8)
            .rev()
            .find_map(|len| self.routes.get(&(a & mask(len), len)).map(Routes::first))
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
mod tests {
    use super::*;

    #[test]
    fn protocols_keep_their_number_and_iproute2_name() {
        assert_eq!(Proto::from_num(2), Proto::Kernel);
        assert_eq!(Proto::from_num(4), Proto::Static);
        assert_eq!(Proto::from_num(12), Proto::Other(12));
        for n in 0..=255u8 {
            assert_eq!(Proto::from_num(n).num(), n);
        }
        assert_eq!(Proto::name_of(12), Some("bird"));
        assert_eq!(Proto::name_of(11), Some("zebra"));
        assert_eq!(Proto::name_of(77), None);
        assert_eq!(Proto::parse_num("bird"), Some(12));
        assert_eq!(Proto::parse_num("186"), Some(186));
        assert_eq!(Proto::parse_num("birdd"), None);
    }

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn rib() -> Rib {
        let mut rib = Rib::new();
        for (p, port) in [("10.0.1.0/24", 0), ("10.0.2.0/24", 1)] {
            rib.insert(Route {
                prefix: net(p),
                target: RouteTarget::Connected { port },
                metric: 0,
                proto: Proto::Kernel,
            });
        }
        rib.insert(Route {
            prefix: net("10.0.1.1/32"),
            target: RouteTarget::Local { port: 0 },
            metric: 0,
            proto: Proto::Kernel,
        });
        rib
    }

    #[test]
    fn gateway_without_port_resolves_through_connected_subnet() {
        let mut rib = rib();
        rib.insert(Route {
            prefix: net("192.0.2.0/24"),
            target: RouteTarget::Gateway {
                gw: "10.0.2.2".parse().unwrap(),
                port: None,
            },
            metric: 0,
            proto: Proto::Static,
        });
        let fib = rib.build_fib(1);
        assert_eq!(
            fib.lookup(u32::from(Ipv4Addr::new(192, 0, 2, 7))),
            Some(NextHop::Gateway {
                port: 1,
                gw: "10.0.2.2".parse().unwrap()
            })
        );
        assert_eq!(
            fib.lookup(u32::from(Ipv4Addr::new(10, 0, 1, 1))),
            Some(NextHop::Local { port: 0 })
        );
        assert_eq!(
            fib.lookup(u32::from(Ipv4Addr::new(10, 0, 1, 9))),
            Some(NextHop::Connected { port: 0 })
        );
        assert_eq!(fib.lookup(u32::from(Ipv4Addr::new(8, 8, 8, 8))), None);
    }

    #[test]
    fn unresolvable_gateway_is_not_installed_and_lower_metric_wins() {
        let mut rib = rib();
        let p = net("0.0.0.0/0");
        rib.insert(Route {
            prefix: p,
            target: RouteTarget::Gateway {
                gw: "172.16.0.1".parse().unwrap(),
                port: None,
            },
            metric: 10,
            proto: Proto::Static,
        });
        assert_eq!(rib.build_fib(1).lookup(0x08080808), None);
        rib.insert(Route {
            prefix: p,
            target: RouteTarget::Blackhole,
            metric: 20,
            proto: Proto::Static,
        });
        // Metric 10 cannot resolve, so metric 20 is used.
        assert_eq!(
            rib.build_fib(2).lookup(0x08080808),
            Some(NextHop::Blackhole)
        );
        assert!(rib.remove(&p, 20));
        assert!(!rib.remove(&p, 20));
        assert_eq!(rib.lookup("8.8.8.8".parse().unwrap()).unwrap().metric, 10);
    }

    #[test]
    fn gateway_resolution_uses_longest_best_connected_route() {
        let gw = |s: &str| RouteTarget::Gateway {
            gw: s.parse().unwrap(),
            port: None,
        };
        let mut rib = rib();
        for (p, target, metric) in [
            ("10.0.0.0/16", RouteTarget::Connected { port: 7 }, 0),
            ("198.51.100.0/24", gw("10.0.2.2"), 0),
            ("203.0.113.0/24", gw("10.0.9.9"), 0),
        ] {
            rib.insert(Route {
                prefix: net(p),
                target,
                metric,
                proto: Proto::Static,
            });
        }
        let fib = rib.build_fib(1);
        // 10.0.2.2 is in both 10.0.0.0/16 (port 7) and 10.0.2.0/24 (port 1): the /24 wins.
        assert_eq!(
            fib.lookup(0xc633_6401),
            Some(NextHop::Gateway {
                port: 1,
                gw: "10.0.2.2".parse().unwrap()
            })
        );
        assert_eq!(
            fib.lookup(0xcb00_7101),
            Some(NextHop::Gateway {
                port: 7,
                gw: "10.0.9.9".parse().unwrap()
            })
        );
        // A better (lower-metric) route of another kind on the /24 hides the subnet.
        rib.insert(Route {
            prefix: net("10.0.2.0/24"),
            target: RouteTarget::Blackhole,
            metric: 0,
            proto: Proto::Static,
        });
        assert!(!rib.connected().contains_key(&(0x0a00_0200, 24)));
        assert_eq!(
            rib.build_fib(2).lookup(0xc633_6401),
            Some(NextHop::Gateway {
                port: 7,
                gw: "10.0.2.2".parse().unwrap()
            })
        );
        // Without any covering connected route the gateway does not resolve.
        assert!(rib.remove(&net("10.0.0.0/16"), 0));
        assert_eq!(rib.build_fib(3).lookup(0xcb00_7101), None);
        assert_eq!(rib.connected().len(), 1); // 10.0.1.0/24
    }

    #[test]
    fn rib_keeps_routes_per_prefix_and_counts_them() {
        let mut rib = Rib::new();
        let p = net("198.51.100.0/24");
        let r = |target, metric| Route {
            prefix: p,
            target,
            metric,
            proto: Proto::Static,
        };
        rib.insert(r(RouteTarget::Blackhole, 20));
        rib.insert(r(RouteTarget::Unreachable, 10));
        rib.insert(r(RouteTarget::Prohibit, 30));
        assert_eq!(rib.len(), 3);
        let metrics: Vec<u32> = rib.get(&p).iter().map(|r| r.metric).collect();
        assert_eq!(metrics, [10, 20, 30]);
        // Same metric: replaced, not added.
        rib.insert(r(RouteTarget::Blackhole, 10));
        assert_eq!(rib.len(), 3);
        assert_eq!(rib.get(&p)[0].target, RouteTarget::Blackhole);
        // `set` may hold several routes of one metric (APPEND); insert replaces them all.
        rib.set(
            &p,
            vec![
                r(RouteTarget::Connected { port: 3 }, 5),
                r(RouteTarget::Blackhole, 5),
            ],
        );
        assert_eq!(rib.len(), 2);
        assert_eq!(rib.connected().get(&(0xc633_6400, 24)), Some(&3));
        rib.insert(r(RouteTarget::Unreachable, 5));
        assert_eq!(rib.len(), 1);
        assert!(rib.connected().is_empty());
        assert!(rib.remove(&p, 5));
        assert!(!rib.remove(&p, 5));
        assert!(rib.is_empty() && rib.get(&p).is_empty());
        assert_eq!(rib.len(), 0);
        // Dumps come in prefix order.
        for s in ["10.0.0.0/8", "9.0.0.0/8", "10.0.0.0/16", "0.0.0.0/0"] {
            rib.insert(Route {
                prefix: net(s),
                ..r(RouteTarget::Blackhole, 0)
            });
        }
        let order: Vec<String> = rib.iter().map(|r| r.prefix.to_string()).collect();
        assert_eq!(
            order,
            ["0.0.0.0/0", "9.0.0.0/8", "10.0.0.0/8", "10.0.0.0/16"]
        );
    }

    #[test]
    fn full_table_of_gateways_without_ports_builds_in_linear_time() {
        // Resolution used to scan every route per gateway: 100k routes took ~10^10 steps.
        let mut rib = rib();
        for i in 0..100_000u32 {
            rib.insert(Route {
                prefix: Ipv4Net::new(Ipv4Addr::from(0x2000_0000 + (i << 8)), 24).unwrap(),
                target: RouteTarget::Gateway {
                    gw: Ipv4Addr::new(10, 0, 2, 2 + (i % 3) as u8),
                    port: None,
                },
                metric: 0,
                proto: Proto::Static,
            });
        }
        let t = std::time::Instant::now();
        let fib = rib.build_fib(1);
        // Generous bound for a loaded machine and an unoptimised build; it takes well
        // under a second, the quadratic scan minutes.
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(fib.prefixes(), 100_003);
        assert_eq!(
            fib.lookup(0x2000_0105),
            Some(NextHop::Gateway {
                port: 1,
                gw: "10.0.2.3".parse().unwrap()
            })
        );
    }

    #[test]
    fn burst_lookup_matches_single() {
        let fib = rib().build_fib(1);
        let dsts = [0x0a000101, 0x0a000105, 0x0a000205, 0x08080808];
        let mut out = [None; 4];
        fib.lookup_burst(&dsts, &mut out);
        let mut ids = [0; 4];
        fib.lookup_ids_burst(&dsts, &mut ids);
        for ((d, o), id) in dsts.iter().zip(out).zip(ids) {
            assert_eq!(fib.lookup(*d), o);
            assert_eq!(fib.lookup_id(*d), (id != u32::MAX).then_some(id));
            assert_eq!(fib.nexthop(id), o);
        }
        assert_eq!(ids[3], u32::MAX);
    }

    fn multipath(members: &[(&str, u16, u16)]) -> RouteTarget {
        let members = members
            .iter()
            .map(|&(gw, port, weight)| Member {
                gw: Some(gw.parse().unwrap()),
                port,
                weight,
            })
            .collect();
        RouteTarget::Multipath(Arc::new(Multipath::new(members)))
    }

    /// The member each of 128 flows to 192.0.2.0/24 takes.
    fn paths(fib: &Fib) -> Vec<Option<NextHop>> {
        (0..128u16)
            .map(|sport| {
                let hash = flow::hash_tuple(0x0a00_0102, 0xc000_0207, 17, 1000 + sport, 53);
                fib.pick(fib.lookup(0xc000_0207), hash)
            })
            .collect()
    }

    #[test]
    fn multipath_member_dies_with_its_subnet_and_comes_back() {
        let mut rib = rib();
        rib.insert(Route {
            prefix: net("10.0.3.0/24"),
            target: RouteTarget::Connected { port: 2 },
            metric: 0,
            proto: Proto::Kernel,
        });
        rib.insert(Route {
            prefix: net("192.0.2.0/24"),
            target: multipath(&[("10.0.2.2", 1, 1), ("10.0.3.2", 2, 1)]),
            metric: 0,
            proto: Proto::Static,
        });
        let (mut publisher, fib) = FibPublisher::new(&rib, 1);
        let swap = arc_swap::ArcSwap::new(fib);
        let both = paths(&swap.load());
        let via3 = NextHop::Gateway {
            port: 2,
            gw: "10.0.3.2".parse().unwrap(),
        };
        let on3 = both.iter().filter(|&&p| p == Some(via3)).count();
        assert!((40..=88).contains(&on3), "{on3} of 128 flows on 10.0.3.2");
        assert!(matches!(
            swap.load()
                .nexthop(swap.load().lookup_id(0xc000_0207).unwrap()),
            Some(NextHop::Group { .. })
        ));
        // Port 2's subnet goes (the port went down): only its flows move.
        assert!(rib.remove(&net("10.0.3.0/24"), 0));
        publisher.publish(&rib, &[net("10.0.3.0/24")], 2, &swap);
        let one = paths(&swap.load());
        for (a, b) in both.iter().zip(&one) {
            if *a != Some(via3) {
                assert_eq!(a, b, "a flow on the live member moved");
            } else {
                assert_ne!(b, &Some(via3));
            }
        }
        // It comes back: every flow is where it was.
        rib.insert(Route {
            prefix: net("10.0.3.0/24"),
            target: RouteTarget::Connected { port: 2 },
            metric: 0,
            proto: Proto::Kernel,
        });
        publisher.publish(&rib, &[net("10.0.3.0/24")], 3, &swap);
        assert_eq!(paths(&swap.load()), both);
        assert_eq!(paths(&rib.build_fib(4)), both);
        // Both dead: the route does not resolve; the blackhole behind it is used.
        rib.insert(Route {
            prefix: net("192.0.2.0/24"),
            target: RouteTarget::Blackhole,
            metric: 9,
            proto: Proto::Static,
        });
        for p in ["10.0.2.0/24", "10.0.3.0/24"] {
            assert!(rib.remove(&net(p), 0));
        }
        publisher.publish(&rib, &[net("192.0.2.0/24")], 5, &swap);
        assert_eq!(swap.load().lookup(0xc000_0207), Some(NextHop::Blackhole));
    }

    #[test]
    fn route_display_is_iproute2_like() {
        let r = Route {
            prefix: net("10.9.0.0/16"),
            target: RouteTarget::Gateway {
                gw: "10.0.2.2".parse().unwrap(),
                port: Some(1),
            },
            metric: 5,
            proto: Proto::Static,
        };
        assert_eq!(
            r.to_string(),
            "10.9.0.0/16 via 10.0.2.2 dev 1 proto static metric 5"
        );
    }
}
