//! Change notifications (`ferroute monitor`, as rtnetlink's multicast groups): the rtnl
//! thread keeps the connections that sent FR_MONITOR with their groups, and after every
//! request that can change something a group covers it compares the objects before and
//! after (routes of the prefixes touched, or all routes when an address or link
//! changed; addresses; links; qdiscs) and sends each subscriber RTM_NEW*/RTM_DEL* with
//! seq 0. Neighbours change on the control thread (ARP), so while someone watches them
//! the table is read every [`NEIGH_POLL`] and after neighbour requests, and compared.
//!
//! Nothing is computed while nobody subscribes. A subscriber that does not read its
//! socket gets at most [`MAX_PENDING`] notifications queued; further ones are dropped
//! and it receives one ENOBUFS error (seq 0) when it catches up, as a netlink listener
//! whose receive buffer overran.
use super::Out;
use crate::api::*;
use crate::rtnl::{Env, Rtnl};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Notifications queued for one subscriber at most.
pub const MAX_PENDING: usize = 16_384;
/// How often the neighbour table is compared while someone watches it.
pub const NEIGH_POLL: Duration = Duration::from_millis(100);

struct Subscriber {
    groups: u32,
    tx: Sender<Out>,
    pending: Arc<AtomicUsize>,
    overrun: bool,
    gone: bool,
}

impl Subscriber {
    fn send(&mut self, m: &Message) {
        if self.pending.load(Relaxed) >= MAX_PENDING {
            self.overrun = true;
            return;
        }
        let mut bytes = Vec::new();
        if self.overrun {
            let e = ApiError::new(
                errno::ENOBUFS,
                "notifications lost: the monitor fell behind",
            );
            Message::error(&Header::default(), Some(&e)).encode(&mut bytes);
            self.overrun = false;
        }
        m.encode(&mut bytes);
        self.pending.fetch_add(1, Relaxed);
        if self
            .tx
            .send(Out::Event(bytes, Arc::clone(&self.pending)))
            .is_err()
        {
            self.gone = true;
        }
    }
}

/// The objects of the groups a request may change, as they were before it.
#[derive(Default)]
pub struct Before {
    /// Routes of these prefixes only; `None` with `all_routes` for every route.
    prefixes: BTreeSet<(std::net::Ipv4Addr, u8)>,
    all_routes: bool,
    routes: Option<Vec<RouteMsg>>,
    addrs: Option<Vec<AddrMsg>>,
    links: Option<Vec<LinkMsg>>,
    qdiscs: Option<Vec<QdiscMsg>>,
    neigh: bool,
}

#[derive(Default)]
pub struct Monitor {
    subs: Vec<Subscriber>,
    neigh: Option<Vec<NeighMsg>>,
    last_poll: Option<Instant>,
}

/// Runs a dump through the handlers and returns the bodies.
fn dump(rtnl: &mut Rtnl, env: &mut dyn Env, kind: u16, body: Body) -> Vec<Body> {
    let m = Message::new(kind, NLM_F_REQUEST | NLM_F_DUMP, 0, body);
    let mut out = Vec::new();
    rtnl.handle(&m, env, &mut out);
    out.into_iter()
        .filter(|m| m.kind != NLMSG_DONE && m.kind != NLMSG_ERROR)
        .map(|m| m.body)
        .collect()
}

fn routes(rtnl: &mut Rtnl, env: &mut dyn Env, filter: RouteMsg) -> Vec<RouteMsg> {
    dump(rtnl, env, RTM_GETROUTE, Body::Route(filter))
        .into_iter()
        .filter_map(|b| match b {
            Body::Route(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn addrs(rtnl: &mut Rtnl, env: &mut dyn Env) -> Vec<AddrMsg> {
    let all = AddrMsg {
        ifindex: 0,
        prefix_len: 0,
        local: None,
        label: None,
    };
    dump(rtnl, env, RTM_GETADDR, Body::Addr(all))
        .into_iter()
        .filter_map(|b| match b {
            Body::Addr(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn links(rtnl: &mut Rtnl, env: &mut dyn Env) -> Vec<LinkMsg> {
    dump(rtnl, env, RTM_GETLINK, Body::Link(LinkMsg::default()))
        .into_iter()
        .filter_map(|b| match b {
            Body::Link(l) => Some(l),
            _ => None,
        })
        .collect()
}

fn qdiscs(rtnl: &mut Rtnl, env: &mut dyn Env) -> Vec<QdiscMsg> {
    dump(rtnl, env, RTM_GETQDISC, Body::Qdisc(QdiscMsg::default()))
        .into_iter()
        .filter_map(|b| match b {
            Body::Qdisc(q) => Some(q),
            _ => None,
        })
        .collect()
}

fn neighs(rtnl: &mut Rtnl, env: &mut dyn Env) -> Vec<NeighMsg> {
    dump(rtnl, env, RTM_GETNEIGH, Body::Neigh(NeighMsg::default()))
        .into_iter()
        .filter_map(|b| match b {
            Body::Neigh(mut n) => {
                // Probe counts change without the entry changing.
                n.probes = None;
                Some(n)
            }
            _ => None,
        })
        .collect()
}

impl Monitor {
    /// Adds a subscriber (FR_MONITOR); `groups` 0 unsubscribes nothing and is refused
    /// by the caller.
    pub fn subscribe(&mut self, groups: u32, tx: Sender<Out>) {
        self.subs.push(Subscriber {
            groups,
            tx,
            pending: Arc::new(AtomicUsize::new(0)),
            overrun: false,
            gone: false,
        });
        if groups & RTMGRP_NEIGH != 0 {
            // The next poll takes the table as it is: no events for what already exists.
            self.neigh = None;
            self.last_poll = None;
        }
    }

    fn wants(&self, group: u32) -> bool {
        self.subs.iter().any(|s| s.groups & group != 0)
    }

    /// Takes what `msgs` may change, before they are applied.
    pub fn before<'a>(
        &self,
        rtnl: &mut Rtnl,
        env: &mut dyn Env,
        msgs: impl Iterator<Item = &'a Message>,
    ) -> Option<Before> {
        if self.subs.is_empty() {
            return None;
        }
        let mut b = Before::default();
        let (mut addr, mut link, mut qdisc) = (false, false, false);
        for m in msgs {
            match (m.kind, &m.body) {
                (RTM_NEWROUTE | RTM_DELROUTE, Body::Route(r)) => {
                    b.prefixes.insert((r.dst, r.dst_len));
                }
                (RTM_NEWADDR | RTM_DELADDR, _) => {
                    addr = true;
                    b.all_routes = true;
                    b.neigh = true;
                }
                (RTM_NEWLINK, _) => {
                    link = true;
                    b.all_routes = true;
                    b.neigh = true;
                }
                (RTM_NEWQDISC | RTM_DELQDISC, _) => qdisc = true,
                (RTM_NEWNEIGH | RTM_DELNEIGH, _) => b.neigh = true,
                _ => {}
            }
        }
        if self.wants(RTMGRP_IPV4_ROUTE) {
            if b.all_routes {
                b.routes = Some(routes(rtnl, env, RouteMsg::new([0; 4].into(), 0)));
            } else if !b.prefixes.is_empty() {
                let mut v = Vec::new();
                for &(dst, len) in &b.prefixes {
                    v.extend(routes(rtnl, env, RouteMsg::new(dst, len)));
                }
                b.routes = Some(v);
            }
        }
        if addr && self.wants(RTMGRP_IPV4_IFADDR) {
            b.addrs = Some(addrs(rtnl, env));
        }
        if link && self.wants(RTMGRP_LINK) {
            b.links = Some(links(rtnl, env));
        }
        if qdisc && self.wants(RTMGRP_TC) {
            b.qdiscs = Some(qdiscs(rtnl, env));
        }
        Some(b)
    }

    /// Compares with `before` and notifies the subscribers of what changed.
    pub fn after(&mut self, rtnl: &mut Rtnl, env: &mut dyn Env, before: Option<Before>) {
        let Some(b) = before else { return };
        let mut events = Vec::new();
        if let Some(old) = b.routes {
            let new = if b.all_routes {
                routes(rtnl, env, RouteMsg::new([0; 4].into(), 0))
            } else {
                let mut v = Vec::new();
                for &(dst, len) in &b.prefixes {
                    v.extend(routes(rtnl, env, RouteMsg::new(dst, len)));
                }
                v
            };
            let same_key = |a: &RouteMsg, b: &RouteMsg| {
                a.dst == b.dst && a.dst_len == b.dst_len && a.metric == b.metric
            };
            for r in old.iter().filter(|r| !new.contains(r)) {
                // A replaced route is announced as its new self only (as Linux does).
                let replaced = new.iter().any(|n| same_key(n, r) && !old.contains(n));
                if !replaced {
                    events.push((RTMGRP_IPV4_ROUTE, RTM_DELROUTE, Body::Route(r.clone())));
                }
            }
            for r in new.iter().filter(|r| !old.contains(r)) {
                events.push((RTMGRP_IPV4_ROUTE, RTM_NEWROUTE, Body::Route(r.clone())));
            }
        }
        if let Some(old) = b.addrs {
            let new = addrs(rtnl, env);
            for a in old.iter().filter(|a| !new.contains(a)) {
                events.push((RTMGRP_IPV4_IFADDR, RTM_DELADDR, Body::Addr(a.clone())));
            }
            for a in new.iter().filter(|a| !old.contains(a)) {
                events.push((RTMGRP_IPV4_IFADDR, RTM_NEWADDR, Body::Addr(a.clone())));
            }
        }
        if let Some(old) = b.links {
            for l in links(rtnl, env).into_iter().filter(|l| !old.contains(l)) {
                events.push((RTMGRP_LINK, RTM_NEWLINK, Body::Link(l)));
            }
        }
        if let Some(old) = b.qdiscs {
            let new = qdiscs(rtnl, env);
            for q in old
                .iter()
                .filter(|q| !new.iter().any(|n| n.ifindex == q.ifindex))
            {
                events.push((RTMGRP_TC, RTM_DELQDISC, Body::Qdisc(q.clone())));
            }
            for q in new.iter().filter(|q| !old.contains(q)) {
                events.push((RTMGRP_TC, RTM_NEWQDISC, Body::Qdisc(q.clone())));
            }
        }
        self.send(events);
        if b.neigh {
            self.poll_neigh(rtnl, env, true);
        }
    }

    /// Compares the neighbour table with the last reading (every [`NEIGH_POLL`], or now
    /// with `force`) while someone watches neighbours.
    pub fn poll_neigh(&mut self, rtnl: &mut Rtnl, env: &mut dyn Env, force: bool) {
        if !self.wants(RTMGRP_NEIGH) {
            return;
        }
        if !force && self.last_poll.is_some_and(|t| t.elapsed() < NEIGH_POLL) {
            return;
        }
        self.last_poll = Some(Instant::now());
        let new = neighs(rtnl, env);
        let Some(old) = self.neigh.replace(new.clone()) else {
            return;
        };
        let key = |n: &NeighMsg| (n.ifindex, n.dst);
        let mut events = Vec::new();
        for n in new.iter().filter(|n| !old.contains(n)) {
            events.push((RTMGRP_NEIGH, RTM_NEWNEIGH, Body::Neigh(n.clone())));
        }
        for n in old.iter().filter(|o| !new.iter().any(|n| key(n) == key(o))) {
            events.push((RTMGRP_NEIGH, RTM_DELNEIGH, Body::Neigh(n.clone())));
        }
        self.send(events);
    }

    fn send(&mut self, events: Vec<(u32, u16, Body)>) {
        for (group, kind, body) in events {
            let m = Message::new(kind, 0, 0, body);
            for s in self.subs.iter_mut().filter(|s| s.groups & group != 0) {
                s.send(&m);
            }
        }
        self.subs.retain(|s| !s.gone);
    }

    /// Drops subscribers whose connection has closed (checked when nothing else
    /// happens, so that a closed monitor stops the polling).
    pub fn prune(&mut self) {
        for s in &mut self.subs {
            if s.tx.send(Out::Ping).is_err() {
                s.gone = true;
            }
        }
        self.subs.retain(|s| !s.gone);
    }
}
