//! The RIB: every route per prefix, best (lowest metric) first, the connected subnets
//! that gateway resolution searches, and the compilation of the best routes into a [`Fib`].

use super::lpm::{Lpm, NhId};
use super::{key, mask, Fib, Member, NextHop, Resolved, Route, RouteTarget};
use ipnet::Ipv4Net;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

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
    pub(super) fn best(&self, k: (u32, u8)) -> Option<Resolved> {
        self.best_of(self.routes.get(&k)?)
    }

    /// The lowest-metric route of `list` that resolves, as the datapath sees it.
    fn best_of(&self, list: &Routes) -> Option<Resolved> {
        list.as_slice().iter().find_map(|r| self.resolve(r))
    }

    /// Every prefix whose best route resolves, with that route as the datapath sees it
    /// (in the map's order).
    pub(super) fn resolved(&self) -> impl Iterator<Item = ((u32, u8), Resolved)> + '_ {
        self.routes
            .iter()
            .filter_map(|(&k, list)| Some((k, self.best_of(list)?)))
    }

    /// Compiles the best route of every prefix into a FIB.
    pub fn build_fib(&self, version: u64) -> Fib {
        let mut nexthops: Vec<NextHop> = Vec::new();
        let mut groups = Vec::new();
        let mut ids: HashMap<Resolved, NhId> = HashMap::new();
        let mut entries = Vec::with_capacity(self.routes.len());
        for ((addr, len), nh) in self.resolved() {
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
