//! The control API's state and request handlers (Linux's rtnetlink handlers:
//! `inet_rtm_newroute`, `fib_table_insert/delete`, `inet_rtm_newaddr`, `neigh_add`,
//! `do_setlink`). [`Rtnl`] owns the RIB, the ports' addresses, MTUs and admin state and
//! the qdisc settings; it publishes the FIB and the ports view the workers read.
//! Neighbours live in the control thread's table and are reached through [`Env`], as are
//! the device and the counters, so that everything here runs in unit tests without DPDK.
//!
//! Flags follow Linux: NEW with EXCL on an existing object is EEXIST; NEW without CREATE
//! on a missing one is ENOENT; REPLACE replaces the first route of the same prefix and
//! metric; APPEND adds after it, no flag before it (`ip route prepend`), an identical
//! route is EEXIST; DEL of a missing route is ESRCH.
//!
//! Changes are applied to the RIB at once and collected; [`Rtnl::publish_fib`], the one
//! place that publishes a FIB, compiles them into a new version when the caller decides
//! (the server coalesces everything that arrived within a millisecond, or more while a
//! large table makes each build expensive).
use crate::api::*;
use crate::config::Config;
use crate::datapath::qdisc::{Limit, TbfParams};
use crate::datapath::worker::Shared;
use crate::datapath::{PortCtx, Ports, ETH_HLEN};
use crate::fib::{FibPublisher, NextHop, Proto, Rib, Route, RouteTarget};
use crate::neigh::{NeighAction, NeighInfo, NeighKey, NeighState, NeighTable};
use crate::wire::MacAddr;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// IP MTU range accepted for a port (as the config's `port[].mtu`).
pub const MTU_RANGE: std::ops::RangeInclusive<u32> = 68..=9600;

/// What the API knows about a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortState {
    pub id: u16,
    pub name: String,
    pub mac: MacAddr,
    /// Primary first.
    pub addrs: Vec<Ipv4Net>,
    pub mtu: u16,
    pub up: bool,
}

/// Interface index of a DPDK port (0 means "none" in netlink).
pub fn ifindex(port: u16) -> u32 {
    u32::from(port) + 1
}

/// A neighbour-table operation for the thread that owns the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeighReq {
    Get(NeighKey),
    AddStatic(NeighKey, MacAddr),
    Delete(NeighKey),
    Dump,
    /// Remove every entry of `port` inside `net` (an address was removed).
    FlushSubnet {
        port: u16,
        net: Ipv4Net,
    },
    /// Remove every non-permanent entry of `port` (the port went down).
    FlushPort(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeighResp {
    Entry(Option<NeighInfo>),
    Done(bool),
    Dump(Vec<NeighInfo>),
}

/// Carries out `req` on `t`; packets it releases or drops are appended to `out`.
pub fn neigh_request<P>(
    t: &mut NeighTable<P>,
    req: NeighReq,
    out: &mut Vec<NeighAction<P>>,
) -> NeighResp {
    match req {
        NeighReq::Get(k) => NeighResp::Entry(t.get(k)),
        NeighReq::AddStatic(k, mac) => {
            t.add_static(k, mac, out);
            NeighResp::Done(true)
        }
        NeighReq::Delete(k) => NeighResp::Done(t.delete(k, out)),
        NeighReq::Dump => NeighResp::Dump(t.dump()),
        NeighReq::FlushSubnet { port, net } => {
            let keys: Vec<NeighKey> = t
                .dump()
                .into_iter()
                .map(|n| n.key)
                .filter(|k| k.port == port && net.contains(&k.ip))
                .collect();
            for k in &keys {
                t.delete(*k, out);
            }
            NeighResp::Done(!keys.is_empty())
        }
        NeighReq::FlushPort(port) => NeighResp::Done(t.flush_port(port, out) > 0),
    }
}

/// What the handlers need from outside: the neighbour table, the device, the counters.
pub trait Env {
    fn neigh(&mut self, req: NeighReq) -> Result<NeighResp, ApiError>;
    /// Sets the device MTU (the datapath's own check uses the published ports view).
    fn set_mtu(&mut self, port: u16, mtu: u16) -> Result<(), ApiError>;
    /// The PMD's link state.
    fn link_running(&self, port: u16) -> bool;
    /// The `ferroute counters` text.
    fn counters(&self) -> String;
    /// Where packet captures start (`ferroute capture`); none without a datapath.
    fn capture_hub(&self) -> Option<std::sync::Arc<crate::capture::Hub>> {
        None
    }
}

/// An [`Env`] over a neighbour table the caller owns (startup before the control thread
/// runs, and tests); it has no device and no counters.
pub struct TableEnv<'a, P> {
    pub table: &'a mut NeighTable<P>,
    pub actions: &'a mut Vec<NeighAction<P>>,
}

impl<P> Env for TableEnv<'_, P> {
    fn neigh(&mut self, req: NeighReq) -> Result<NeighResp, ApiError> {
        Ok(neigh_request(self.table, req, self.actions))
    }
    fn set_mtu(&mut self, _port: u16, _mtu: u16) -> Result<(), ApiError> {
        Ok(())
    }
    fn link_running(&self, _port: u16) -> bool {
        true
    }
    fn counters(&self) -> String {
        String::new()
    }
}

/// The control API's state.
pub struct Rtnl {
    shared: Arc<Shared>,
    rib: Rib,
    ports: Vec<PortState>,
    /// Installed qdiscs by port id (the workers' copy is `Shared::qdisc`).
    qdiscs: BTreeMap<u16, TbfParams>,
    /// Prefixes changed since the last publication (for an incremental FIB update).
    changed: Vec<Ipv4Net>,
    fib_dirty: bool,
    ports_dirty: bool,
    version: u64,
    /// While a batch runs: the previous routes of every prefix it touched.
    undo: Option<Vec<(Ipv4Net, Vec<Route>)>>,
    /// The configuration the router started with (`config dump` starts from it).
    pub base: Option<Config>,
    /// How long the last FIB build took (the server spaces publications by it).
    pub last_build: Duration,
    /// Compiles the RIB into FIB versions: the first publication builds one, the
    /// following ones update only the slots of the changed prefixes.
    fib: Option<FibPublisher>,
    /// The FIB the first publication replaced (not one of the publisher's), freed at the
    /// next one: by then every worker has moved on (they reload once per poll round), so
    /// the last reference is dropped here and a worker never pays for freeing a table.
    /// The publisher keeps what it swaps out as its spare copy and frees the same way.
    retired: Option<Arc<crate::fib::Fib>>,
}

/// How a dump shows installed tbf parameters: the limit in force, and the latency it
/// was derived from if it was given that way.
pub fn tbf_spec(p: &TbfParams) -> TbfSpec {
    TbfSpec {
        rate: p.rate / 8,
        burst: p.burst,
        latency_us: p
            .latency_us
            .map_or(0, |us| u32::try_from(us).unwrap_or(u32::MAX)),
        limit: p.limit,
    }
}

/// The request that installs `p` as given: its latency, or its limit if given so.
pub fn tbf_request(p: &TbfParams) -> TbfSpec {
    let dump = tbf_spec(p);
    TbfSpec {
        limit: if dump.latency_us == 0 { p.limit } else { 0 },
        ..dump
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len)
    }
}

fn has(flags: u16, f: u16) -> bool {
    flags & f == f
}

impl Rtnl {
    /// An API state over `ports` (without addresses yet) publishing into `shared`.
    pub fn new(shared: Arc<Shared>, ports: Vec<PortState>) -> Rtnl {
        Rtnl {
            shared,
            rib: Rib::new(),
            ports,
            qdiscs: BTreeMap::new(),
            changed: Vec::new(),
            fib_dirty: true,
            ports_dirty: true,
            version: 0,
            undo: None,
            base: None,
            last_build: Duration::ZERO,
            fib: None,
            retired: None,
        }
    }

    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    pub fn ports(&self) -> &[PortState] {
        &self.ports
    }

    pub fn qdiscs(&self) -> &BTreeMap<u16, TbfParams> {
        &self.qdiscs
    }

    /// True when applied changes are not yet visible to the workers.
    pub fn dirty(&self) -> bool {
        self.fib_dirty || self.ports_dirty
    }

    /// Publishes the ports view and, if routes changed, a new FIB version: the one place
    /// a FIB is published. Workers pick both up at their next poll round.
    pub fn publish_fib(&mut self) {
        if self.ports_dirty {
            self.ports_dirty = false;
            let ctxs = self.ports.iter().map(port_ctx).collect();
            // The `[ip]` policy is set once at startup; carry it over.
            let policy = *self.shared.ports.load().policy();
            self.shared
                .ports
                .store(Arc::new(Ports::new(ctxs).with_policy(policy)));
        }
        if !self.fib_dirty {
            return;
        }
        self.fib_dirty = false;
        self.version += 1;
        let t = Instant::now();
        match &mut self.fib {
            Some(p) => {
                self.retired = None;
                p.publish(&self.rib, &self.changed, self.version, &self.shared.fib);
            }
            None => {
                let (p, fib) = FibPublisher::new(&self.rib, self.version);
                self.retired = Some(self.shared.fib.swap(fib));
                self.fib = Some(p);
            }
        }
        self.changed.clear();
        self.last_build = t.elapsed();
    }

    /// Number of prefixes changed since the last publication.
    pub fn pending_changes(&self) -> usize {
        self.changed.len()
    }

    /// Answers one request: data replies, then an ack (if asked for) or the error.
    pub fn handle(&mut self, m: &Message, env: &mut dyn Env, out: &mut Vec<Message>) {
        let h = m.header();
        let at = out.len();
        match self.dispatch(m, env, out) {
            Ok(()) if has(m.flags, NLM_F_ACK) => out.push(Message::error(&h, None)),
            Ok(()) => {}
            Err(e) => {
                out.truncate(at);
                out.push(Message::error(&h, Some(&e)));
            }
        }
    }

    /// Applies a batch (between FR_BATCH_BEGIN and FR_BATCH_END) all or nothing: route
    /// messages only. On the first failure everything it changed is undone, the failing
    /// message gets its error and END the same error; otherwise acks as asked for.
    pub fn handle_batch(
        &mut self,
        begin: &Header,
        msgs: &[Item],
        end: &Header,
        env: &mut dyn Env,
        out: &mut Vec<Message>,
    ) {
        self.undo = Some(Vec::new());
        let (dirty_before, changed_before) = (self.fib_dirty, self.changed.len());
        let mut acks = Vec::new();
        let mut failed = None;
        for m in msgs {
            let r = match m {
                Err((h, e)) => Err((*h, e.clone())),
                Ok(m) => match m.kind {
                    RTM_NEWROUTE | RTM_DELROUTE => {
                        let mut data = Vec::new();
                        self.dispatch(m, env, &mut data)
                            .map_err(|e| (m.header(), e))
                    }
                    k => Err((
                        m.header(),
                        ApiError::new(
                            errno::EOPNOTSUPP,
                            format!("message type {k} cannot be part of a batch (routes only)"),
                        ),
                    )),
                },
            };
            match (r, m) {
                (Ok(()), Ok(m)) if has(m.flags, NLM_F_ACK) => {
                    acks.push(Message::error(&m.header(), None))
                }
                (Ok(()), _) => {}
                (Err(e), _) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let undo = self.undo.take().unwrap_or_default();
        match failed {
            None => {
                if has(begin.flags, NLM_F_ACK) {
                    out.push(Message::error(begin, None));
                }
                out.extend(acks);
                if has(end.flags, NLM_F_ACK) {
                    out.push(Message::error(end, None));
                }
            }
            Some((h, e)) => {
                for (prefix, routes) in undo.into_iter().rev() {
                    self.rib.set(&prefix, routes);
                }
                // Nothing changed after all: no new FIB version for this batch.
                self.fib_dirty = dirty_before;
                self.changed.truncate(changed_before);
                out.push(Message::error(&h, Some(&e)));
                let whole = ApiError::new(
                    e.errno,
                    format!("batch aborted at seq {}, nothing applied: {}", h.seq, e.msg),
                );
                out.push(Message::error(end, Some(&whole)));
            }
        }
    }

    fn dispatch(
        &mut self,
        m: &Message,
        env: &mut dyn Env,
        out: &mut Vec<Message>,
    ) -> Result<(), ApiError> {
        let seq = m.seq;
        match Request::from_message(m)? {
            Request::Noop => Ok(()),
            Request::NewRoute(change, r) => self.route_new(change, &r),
            Request::DelRoute(r) => self.route_del(&r),
            Request::DumpRoutes(r) => {
                self.route_dump(&r, seq, out);
                Ok(())
            }
            Request::GetRoute(r) => self.route_get(&r, seq, out),
            Request::NewNeigh(change, n) => self.neigh_new(change, &n, env),
            Request::DelNeigh(n) => self.neigh_del(&n, env),
            Request::GetNeigh(n, dump) => self.neigh_dump(&n, seq, dump, env, out),
            Request::NewAddr(change, a) => self.addr_new(change, &a),
            Request::DelAddr(a) => self.addr_del(&a, env),
            Request::GetAddr(a) => {
                self.addr_dump(&a, seq, out);
                Ok(())
            }
            Request::SetLink(l) => self.link_set(&l, env),
            Request::GetLink(l, dump) => self.link_dump(&l, seq, dump, env, out),
            Request::NewQdisc(change, q) => self.qdisc_new(change, &q),
            Request::DelQdisc(q) => self.qdisc_del(&q),
            Request::GetQdisc(q) => {
                self.qdisc_dump(&q, seq, out);
                Ok(())
            }
            Request::GetStatus => {
                out.push(text(seq, self.status(env)));
                Ok(())
            }
            Request::GetCounters => {
                out.push(text(seq, env.counters()));
                Ok(())
            }
            Request::GetConfig => {
                let t = self.config_dump(env)?;
                out.push(text(seq, t));
                Ok(())
            }
            Request::BatchEnd => Err(ApiError::inval("batch end without a begin")),
            Request::BatchBegin => Err(ApiError::inval("batch begin inside a batch")),
            // The connection serves these (server.rs); one that reaches the handlers came
            // where it cannot be served (inside a batch, or a stop without a capture).
            Request::Monitor(_) | Request::Capture(_) | Request::CaptureStop => Err(
                ApiError::inval(format!("message type {} is not a request", m.kind)),
            ),
        }
    }

    // --- ports ----------------------------------------------------------------------

    fn port_index(&self, ifindex: u32) -> Result<usize, ApiError> {
        self.ports
            .iter()
            .position(|p| self::ifindex(p.id) == ifindex)
            .ok_or_else(|| ApiError::new(errno::ENODEV, format!("no port with index {ifindex}")))
    }

    fn port_name(&self, id: u16) -> String {
        self.ports
            .iter()
            .find(|p| p.id == id)
            .map_or_else(|| format!("port#{id}"), |p| p.name.clone())
    }

    fn port_state(&self, id: u16) -> Option<&PortState> {
        self.ports.iter().find(|p| p.id == id)
    }

    /// The up port whose subnet holds `ip`, longest prefix first.
    fn on_link_port(&self, ip: Ipv4Addr) -> Option<u16> {
        self.ports
            .iter()
            .filter(|p| p.up)
            .flat_map(|p| p.addrs.iter().map(move |a| (a, p.id)))
            .filter(|(a, _)| a.contains(&ip))
            .max_by_key(|(a, _)| a.prefix_len())
            .map(|(_, id)| id)
    }

    // --- routes ---------------------------------------------------------------------

    /// Applies `f` to the route list of `prefix`, recording what changed.
    fn edit<T>(
        &mut self,
        prefix: Ipv4Net,
        f: impl FnOnce(&mut Vec<Route>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let old = self.rib.get(&prefix);
        let mut list = old.to_vec();
        let r = f(&mut list)?;
        if list.as_slice() != old {
            if let Some(undo) = &mut self.undo {
                undo.push((prefix, old.to_vec()));
            }
            self.rib.set(&prefix, list);
            self.changed.push(prefix);
            self.fib_dirty = true;
        }
        Ok(r)
    }

    /// The RIB route a NEWROUTE message describes, checked like Linux's `fib_check_nh`.
    fn route_from_msg(&self, r: &RouteMsg) -> Result<Route, ApiError> {
        let prefix = Ipv4Net::new(r.dst, r.dst_len)
            .map_err(|_| ApiError::inval(format!("invalid prefix length {}", r.dst_len)))?;
        let out_port = match r.oif {
            Some(i) => {
                let p = &self.ports[self.port_index(i)?];
                if !p.up {
                    return Err(ApiError::new(
                        errno::ENETDOWN,
                        format!("nexthop device {} is not up", p.name),
                    ));
                }
                Some(p)
            }
            None => None,
        };
        let target = match r.rtype {
            RTN_UNICAST | RTN_UNSPEC if !r.multipath.is_empty() => {
                if r.gateway.is_some() || r.oif.is_some() {
                    return Err(ApiError::inval(
                        "a multipath route names its gateways and devices in its next hops \
                         (RTA_MULTIPATH), not in RTA_GATEWAY/RTA_OIF",
                    ));
                }
                self.multipath_target(&r.multipath)?
            }
            RTN_UNICAST | RTN_UNSPEC => {
                match (r.gateway, out_port) {
                    (Some(gw), Some(p)) => {
                        if !p.addrs.iter().any(|a| a.contains(&gw)) {
                            return Err(ApiError::new(
                            errno::ENETUNREACH,
                            format!(
                                "nexthop has invalid gateway: {gw} is not on a connected network of {}",
                                p.name
                            ),
                        ));
                        }
                        RouteTarget::Gateway {
                            gw,
                            port: Some(p.id),
                        }
                    }
                    (Some(gw), None) => {
                        let port = self.on_link_port(gw).ok_or_else(|| {
                        ApiError::new(
                            errno::ENETUNREACH,
                            format!("nexthop has invalid gateway: {gw} is not on a connected network"),
                        )
                    })?;
                        RouteTarget::Gateway {
                            gw,
                            port: Some(port),
                        }
                    }
                    (None, Some(p)) => RouteTarget::Connected { port: p.id },
                    (None, None) => {
                        return Err(ApiError::inval(
                            "a unicast route needs a gateway (via) or an output port (dev)",
                        ))
                    }
                }
            }
            RTN_BLACKHOLE | RTN_UNREACHABLE | RTN_PROHIBIT => {
                if r.gateway.is_some() || r.oif.is_some() || !r.multipath.is_empty() {
                    return Err(ApiError::inval(
                        "blackhole, unreachable and prohibit routes take no gateway or device",
                    ));
                }
                match r.rtype {
                    RTN_BLACKHOLE => RouteTarget::Blackhole,
                    RTN_UNREACHABLE => RouteTarget::Unreachable,
                    _ => RouteTarget::Prohibit,
                }
            }
            _ => {
                return Err(ApiError::new(
                    errno::EOPNOTSUPP,
                    "local and broadcast routes follow the ports' addresses (use addr add)",
                ))
            }
        };
        if let RouteTarget::Gateway { gw, .. } = target {
            if self
                .ports
                .iter()
                .any(|p| p.addrs.iter().any(|a| a.addr() == gw))
            {
                return Err(ApiError::inval(format!(
                    "nexthop has invalid gateway: {gw} is this router's own address"
                )));
            }
        }
        Ok(Route {
            prefix,
            target,
            metric: r.metric.unwrap_or(0),
            proto: match r.protocol {
                RTPROT_UNSPEC => Proto::Static,
                n => Proto::from_num(n),
            },
        })
    }

    fn route_new(&mut self, change: Change, r: &RouteMsg) -> Result<(), ApiError> {
        let route = self.route_from_msg(r)?;
        self.insert_route(change, route)
    }

    /// `fib_table_insert`'s flag logic on one prefix's list.
    fn insert_route(&mut self, change: Change, route: Route) -> Result<(), ApiError> {
        self.edit(route.prefix, |list| {
            let m = route.metric;
            let same: Vec<usize> = (0..list.len()).filter(|&i| list[i].metric == m).collect();
            if let (Some(&first), Some(&last)) = (same.first(), same.last()) {
                if change.if_exists == IfExists::Refuse {
                    return Err(ApiError::new(errno::EEXIST, "route already exists"));
                }
                if change.if_exists == IfExists::Replace {
                    let target = multipath::succeed(&list[first].target, route.target.clone());
                    list[first] = Route { target, ..route };
                    return Ok(());
                }
                if same.iter().any(|&i| list[i].target == route.target) {
                    return Err(ApiError::new(errno::EEXIST, "route already exists"));
                }
                if change.if_exists == IfExists::Append {
                    list.insert(last + 1, route);
                } else {
                    list.insert(first, route);
                }
                return Ok(());
            }
            if !change.create {
                return Err(ApiError::new(
                    errno::ENOENT,
                    "no such route to change (NLM_F_CREATE not set)",
                ));
            }
            let at = list.iter().position(|x| x.metric > m).unwrap_or(list.len());
            list.insert(at, route);
            Ok(())
        })
    }

    fn route_del(&mut self, r: &RouteMsg) -> Result<(), ApiError> {
        let prefix = Ipv4Net::new(r.dst, r.dst_len)
            .map_err(|_| ApiError::inval(format!("invalid prefix length {}", r.dst_len)))?;
        let port = match r.oif {
            Some(i) => Some(self.ports[self.port_index(i)?].id),
            None => None,
        };
        self.edit(prefix, |list| {
            let i = list
                .iter()
                .position(|x| {
                    let (t, gw, p) = route_parts(x);
                    r.metric.map_or(true, |m| m == x.metric)
                        && (r.rtype == RTN_UNSPEC || r.rtype == t)
                        && r.gateway.map_or(true, |g| gw == Some(g))
                        && port.map_or(true, |o| p == Some(o))
                        && (r.protocol == RTPROT_UNSPEC || r.protocol == x.proto.num())
                        && (r.multipath.is_empty()
                            || multipath::multipath_of(x)
                                .iter()
                                .map(|h| h.gateway)
                                .eq(r.multipath.iter().map(|h| h.gateway)))
                })
                .ok_or_else(|| ApiError::new(errno::ESRCH, "no such route"))?;
            list.remove(i);
            Ok(())
        })
    }

    fn route_msg(&self, r: &Route) -> RouteMsg {
        let (rtype, gateway, port) = route_parts(r);
        let scope = match r.target {
            RouteTarget::Local { .. } => RT_SCOPE_HOST,
            RouteTarget::Connected { .. } | RouteTarget::Broadcast { .. } => RT_SCOPE_LINK,
            _ => RT_SCOPE_UNIVERSE,
        };
        let prefsrc = match (r.proto, port) {
            (Proto::Kernel, Some(p)) => self.port_state(p).and_then(|ps| {
                ps.addrs
                    .iter()
                    .find(|a| a.contains(&r.prefix.network()))
                    .map(|a| a.addr())
            }),
            _ => None,
        };
        RouteMsg {
            dst: r.prefix.network(),
            dst_len: r.prefix.prefix_len(),
            protocol: r.proto.num(),
            scope,
            rtype,
            gateway,
            oif: port.map(ifindex),
            metric: Some(r.metric),
            prefsrc,
            multipath: multipath::multipath_of(r),
        }
    }

    /// Every route, or those of exactly the prefix asked for when one is given.
    fn route_dump(&self, filter: &RouteMsg, seq: u32, out: &mut Vec<Message>) {
        let part =
            |r: &RouteMsg| Message::new(RTM_NEWROUTE, NLM_F_MULTI, seq, Body::Route(r.clone()));
        if filter.dst_len > 0 || filter.dst != Ipv4Addr::UNSPECIFIED {
            if let Ok(p) = Ipv4Net::new(filter.dst, filter.dst_len) {
                for r in self.rib.get(&p) {
                    out.push(part(&self.route_msg(r)));
                }
            }
        } else {
            out.reserve(self.rib.len() + 1);
            for r in self.rib.iter() {
                out.push(part(&self.route_msg(r)));
            }
        }
        out.push(Message::done(seq));
    }

    /// `ip route get`: what the workers' FIB does with `dst` (published first, so that a
    /// change made just before is seen).
    fn route_get(
        &mut self,
        r: &RouteMsg,
        seq: u32,
        out: &mut Vec<Message>,
    ) -> Result<(), ApiError> {
        if r.dst_len != 32 {
            return Err(ApiError::inval("route get needs a host address (/32)"));
        }
        if self.dirty() {
            self.publish_fib();
        }
        let fib = self.shared.fib.load();
        // A multipath route answers with the member a flow to `dst` from nowhere takes.
        let d = u32::from(r.dst);
        let hash = crate::fib::flow::hash_tuple(0, d, 0, 0, 0);
        let nh = fib
            .pick(fib.lookup(d), hash)
            .ok_or_else(|| ApiError::new(errno::ENETUNREACH, "network is unreachable"))?;
        let (rtype, gateway, port) = match nh {
            NextHop::Local { port } => (RTN_LOCAL, None, Some(port)),
            NextHop::Broadcast { port } => (RTN_BROADCAST, None, Some(port)),
            NextHop::Connected { port } => (RTN_UNICAST, None, Some(port)),
            NextHop::Gateway { port, gw } => (RTN_UNICAST, Some(gw), Some(port)),
            NextHop::Blackhole => (RTN_BLACKHOLE, None, None),
            NextHop::Unreachable => (RTN_UNREACHABLE, None, None),
            NextHop::Prohibit => (RTN_PROHIBIT, None, None),
            NextHop::Group { .. } => {
                return Err(ApiError::new(errno::ENETUNREACH, "network is unreachable"))
            }
        };
        let prefsrc = port.and_then(|p| self.port_state(p)).and_then(|ps| {
            let towards = gateway.unwrap_or(r.dst);
            ps.addrs
                .iter()
                .find(|a| a.contains(&towards))
                .or(ps.addrs.first())
                .map(|a| a.addr())
        });
        let reply = RouteMsg {
            dst: r.dst,
            dst_len: 32,
            protocol: RTPROT_UNSPEC,
            scope: RT_SCOPE_UNIVERSE,
            rtype,
            gateway,
            oif: port.map(ifindex),
            metric: None,
            prefsrc,
            multipath: Vec::new(),
        };
        out.push(Message::new(RTM_NEWROUTE, 0, seq, Body::Route(reply)));
        Ok(())
    }

    // --- addresses ------------------------------------------------------------------

    /// Local, connected and broadcast routes of `addr` on `port` (as Linux's
    /// `fib_add_ifaddr`); already present ones are left alone.
    fn add_address_routes(&mut self, addr: Ipv4Net, port: u16) -> Result<(), ApiError> {
        for r in crate::fib::address_routes(addr, port) {
            self.edit(r.prefix, |list| {
                if !list.contains(&r) {
                    let at = list.iter().position(|x| x.metric > 0).unwrap_or(list.len());
                    list.insert(at, r);
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Removes the routes of `addr` on `port`; the subnet's routes only if no other
    /// address of the port is in it. Returns whether the subnet went away.
    fn remove_address_routes(&mut self, addr: Ipv4Net, port: u16, others: &[Ipv4Net]) -> bool {
        let subnet_gone = !others.iter().any(|o| o.trunc() == addr.trunc());
        for r in crate::fib::address_routes(addr, port) {
            let keep = match r.target {
                RouteTarget::Local { .. } => others.iter().any(|o| o.addr() == addr.addr()),
                _ => !subnet_gone,
            };
            if !keep {
                let _ = self.edit(r.prefix, |list| {
                    list.retain(|x| x != &r);
                    Ok(())
                });
            }
        }
        subnet_gone
    }

    /// Deletes the routes not derived from addresses (static, a daemon's) through `port`
    /// whose gateway is in `net` (all of them when `net` is None): Linux flushes routes
    /// whose nexthop died.
    fn flush_routes_via(&mut self, port: u16, net: Option<Ipv4Net>) {
        let dead_via = |gw: Option<Ipv4Addr>, p: u16| match gw {
            Some(gw) => p == port && net.map_or(true, |n| n.contains(&gw)),
            None => p == port && net.is_none(),
        };
        // A multipath route goes when all its members are dead (through this port or
        // a port that is down); until then the dead ones are skipped in the FIB (they
        // resolve through no connected subnet), and come back with their subnet (Linux
        // RTNH_F_DEAD, fib_sync_up).
        let down: Vec<u16> = self.ports.iter().filter(|p| !p.up).map(|p| p.id).collect();
        let dead = |r: &Route| match &r.target {
            RouteTarget::Gateway { gw, port: Some(p) } => dead_via(Some(*gw), *p),
            RouteTarget::Connected { port: p } => dead_via(None, *p),
            RouteTarget::Multipath(mp) => mp
                .members()
                .iter()
                .all(|m| dead_via(m.gw, m.port) || down.contains(&m.port)),
            _ => false,
        };
        let prefixes: Vec<Ipv4Net> = self
            .rib
            .iter()
            .filter(|r| r.proto != Proto::Kernel && dead(r))
            .map(|r| r.prefix)
            .collect();
        for p in prefixes {
            let _ = self.edit(p, |list| {
                list.retain(|r| !(r.proto != Proto::Kernel && dead(r)));
                Ok(())
            });
        }
    }

    fn addr_new(&mut self, change: Change, a: &AddrMsg) -> Result<(), ApiError> {
        let i = self.port_index(a.ifindex)?;
        let ip = a
            .local
            .ok_or_else(|| ApiError::inval("missing address (IFA_LOCAL)"))?;
        if a.prefix_len == 0 {
            return Err(ApiError::inval("prefix length must be 1..=32"));
        }
        let net = Ipv4Net::new(ip, a.prefix_len)
            .map_err(|_| ApiError::inval(format!("invalid prefix length {}", a.prefix_len)))?;
        if net.prefix_len() <= 30 && (ip == net.network() || ip == net.broadcast()) {
            return Err(ApiError::inval(format!(
                "{net} is the network or broadcast address of its subnet"
            )));
        }
        let port = &self.ports[i];
        if port.addrs.iter().any(|x| x.addr() == ip) {
            if change.if_exists != IfExists::Replace {
                return Err(ApiError::new(errno::EEXIST, "address already assigned"));
            }
            return Ok(());
        }
        if !change.create {
            return Err(ApiError::new(errno::ENOENT, "no such address"));
        }
        for other in self.ports.iter().filter(|p| p.id != port.id) {
            for o in &other.addrs {
                if o.contains(&net.network()) || net.contains(&o.network()) {
                    return Err(ApiError::inval(format!(
                        "subnet {} overlaps {} of {}",
                        net.trunc(),
                        o.trunc(),
                        other.name
                    )));
                }
            }
        }
        let (id, up) = (port.id, port.up);
        self.ports[i].addrs.push(net);
        self.ports_dirty = true;
        if up {
            self.add_address_routes(net, id)?;
        }
        Ok(())
    }

    fn addr_del(&mut self, a: &AddrMsg, env: &mut dyn Env) -> Result<(), ApiError> {
        let i = self.port_index(a.ifindex)?;
        let ip = a
            .local
            .ok_or_else(|| ApiError::inval("missing address (IFA_LOCAL)"))?;
        let port = &self.ports[i];
        let k = port
            .addrs
            .iter()
            .position(|x| x.addr() == ip && (a.prefix_len == 0 || x.prefix_len() == a.prefix_len))
            .ok_or_else(|| ApiError::new(errno::EADDRNOTAVAIL, "address not found"))?;
        if port.addrs.len() == 1 {
            return Err(ApiError::new(
                errno::EBUSY,
                format!(
                    "{} would have no address left (each port keeps one: add another first)",
                    port.name
                ),
            ));
        }
        let id = port.id;
        let net = self.ports[i].addrs.remove(k);
        self.ports_dirty = true;
        let others = self.ports[i].addrs.clone();
        if self.remove_address_routes(net, id, &others) {
            self.flush_routes_via(id, Some(net.trunc()));
            env.neigh(NeighReq::FlushSubnet {
                port: id,
                net: net.trunc(),
            })?;
        }
        Ok(())
    }

    fn addr_dump(&self, filter: &AddrMsg, seq: u32, out: &mut Vec<Message>) {
        for p in &self.ports {
            if filter.ifindex != 0 && filter.ifindex != ifindex(p.id) {
                continue;
            }
            for a in &p.addrs {
                out.push(Message::new(
                    RTM_NEWADDR,
                    NLM_F_MULTI,
                    seq,
                    Body::Addr(AddrMsg {
                        ifindex: ifindex(p.id),
                        prefix_len: a.prefix_len(),
                        local: Some(a.addr()),
                        label: Some(p.name.clone()),
                    }),
                ));
            }
        }
        out.push(Message::done(seq));
    }

    // --- neighbours -----------------------------------------------------------------

    fn neigh_key(&self, n: &NeighMsg) -> Result<(NeighKey, &PortState), ApiError> {
        let ip = n
            .dst
            .ok_or_else(|| ApiError::inval("missing neighbour address (NDA_DST)"))?;
        let port = if n.ifindex == 0 {
            let id = self.on_link_port(ip).ok_or_else(|| {
                ApiError::inval(format!("{ip} is not on a connected network of any port"))
            })?;
            self.port_state(id)
                .ok_or_else(|| ApiError::new(errno::ENODEV, "no such port"))?
        } else {
            &self.ports[self.port_index(n.ifindex)?]
        };
        Ok((NeighKey::new(port.id, ip), port))
    }

    fn neigh_new(
        &mut self,
        change: Change,
        n: &NeighMsg,
        env: &mut dyn Env,
    ) -> Result<(), ApiError> {
        let (key, port) = self.neigh_key(n)?;
        if !port.addrs.iter().any(|a| a.contains(&key.ip)) {
            return Err(ApiError::inval(format!(
                "{} is not on a connected network of {}",
                key.ip, port.name
            )));
        }
        if port.addrs.iter().any(|a| a.addr() == key.ip) {
            return Err(ApiError::inval(format!(
                "{} is this router's own address",
                key.ip
            )));
        }
        if !matches!(n.state, 0 | NUD_PERMANENT | NUD_NOARP) {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                "only permanent (static) neighbours can be added",
            ));
        }
        let mac = n
            .lladdr
            .ok_or_else(|| ApiError::inval("missing link-layer address (lladdr)"))?;
        if mac.is_zero() || mac.is_multicast() {
            return Err(ApiError::inval(format!(
                "{mac} is not a unicast MAC address"
            )));
        }
        let exists = matches!(env.neigh(NeighReq::Get(key))?, NeighResp::Entry(Some(_)));
        if exists && change.if_exists == IfExists::Refuse {
            return Err(ApiError::new(errno::EEXIST, "neighbour entry exists"));
        }
        if !exists && !change.create {
            return Err(ApiError::new(errno::ENOENT, "no such neighbour entry"));
        }
        env.neigh(NeighReq::AddStatic(key, mac))?;
        Ok(())
    }

    fn neigh_del(&mut self, n: &NeighMsg, env: &mut dyn Env) -> Result<(), ApiError> {
        let (key, _) = self.neigh_key(n)?;
        match env.neigh(NeighReq::Delete(key))? {
            NeighResp::Done(true) => Ok(()),
            _ => Err(ApiError::new(errno::ENOENT, "no such neighbour entry")),
        }
    }

    fn neigh_dump(
        &mut self,
        filter: &NeighMsg,
        seq: u32,
        dump: bool,
        env: &mut dyn Env,
        out: &mut Vec<Message>,
    ) -> Result<(), ApiError> {
        let entries = if dump {
            match env.neigh(NeighReq::Dump)? {
                NeighResp::Dump(v) => v,
                _ => Vec::new(),
            }
        } else {
            let (key, _) = self.neigh_key(filter)?;
            match env.neigh(NeighReq::Get(key))? {
                NeighResp::Entry(Some(e)) => vec![e],
                _ => return Err(ApiError::new(errno::ENOENT, "no such neighbour entry")),
            }
        };
        for e in entries {
            if filter.ifindex != 0 && ifindex(e.key.port) != filter.ifindex {
                continue;
            }
            let body = Body::Neigh(NeighMsg {
                ifindex: ifindex(e.key.port),
                state: nud(e.state),
                dst: Some(e.key.ip),
                lladdr: e.mac,
                probes: Some(e.probes),
            });
            out.push(Message::new(
                RTM_NEWNEIGH,
                if dump { NLM_F_MULTI } else { 0 },
                seq,
                body,
            ));
        }
        if dump {
            out.push(Message::done(seq));
        }
        Ok(())
    }

    // --- links ----------------------------------------------------------------------

    fn link_index(&self, l: &LinkMsg) -> Result<usize, ApiError> {
        match (l.ifindex, &l.name) {
            (0, Some(name)) => self
                .ports
                .iter()
                .position(|p| &p.name == name)
                .ok_or_else(|| ApiError::new(errno::ENODEV, format!("no port named {name:?}"))),
            (0, None) => Err(ApiError::new(errno::ENODEV, "no port given")),
            (i, name) => {
                let k = self.port_index(i)?;
                if name.as_ref().is_some_and(|n| n != &self.ports[k].name) {
                    return Err(ApiError::new(
                        errno::EOPNOTSUPP,
                        "renaming a port is not supported",
                    ));
                }
                Ok(k)
            }
        }
    }

    fn link_set(&mut self, l: &LinkMsg, env: &mut dyn Env) -> Result<(), ApiError> {
        let i = self.link_index(l)?;
        if l.mac.is_some() {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                "changing a port's MAC address is not supported",
            ));
        }
        if l.change & !IFF_UP != 0 {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                format!(
                    "only the up flag can be changed (change mask {:#x})",
                    l.change
                ),
            ));
        }
        let id = self.ports[i].id;
        if let Some(mtu) = l.mtu {
            if !MTU_RANGE.contains(&mtu) {
                return Err(ApiError::inval(format!(
                    "mtu {mtu} is out of range {}..={}",
                    MTU_RANGE.start(),
                    MTU_RANGE.end()
                )));
            }
            let mtu = mtu as u16;
            if mtu != self.ports[i].mtu {
                env.set_mtu(id, mtu)?;
                self.ports[i].mtu = mtu;
                self.ports_dirty = true;
            }
        }
        if l.change & IFF_UP != 0 {
            let up = l.flags & IFF_UP != 0;
            if up != self.ports[i].up {
                self.ports[i].up = up;
                self.ports_dirty = true;
                let addrs = self.ports[i].addrs.clone();
                if up {
                    // Linux re-adds the address routes (NETDEV_UP -> fib_add_ifaddr);
                    // static routes deleted on down stay deleted.
                    for a in addrs {
                        self.add_address_routes(a, id)?;
                    }
                } else {
                    // NETDEV_DOWN -> fib_disable_ip: every route through the port goes,
                    // and the neighbours learned on it (arp_ifdown).
                    for a in &addrs {
                        self.remove_address_routes(*a, id, &[]);
                    }
                    self.flush_routes_via(id, None);
                    env.neigh(NeighReq::FlushPort(id))?;
                }
            }
        }
        Ok(())
    }

    fn link_msg(&self, p: &PortState, env: &dyn Env) -> LinkMsg {
        let mut flags = IFF_BROADCAST;
        if p.up {
            flags |= IFF_UP;
            if env.link_running(p.id) {
                flags |= IFF_RUNNING | IFF_LOWER_UP;
            }
        }
        LinkMsg {
            ifindex: ifindex(p.id),
            flags,
            change: 0,
            name: Some(p.name.clone()),
            mtu: Some(u32::from(p.mtu)),
            mac: Some(p.mac),
        }
    }

    fn link_dump(
        &self,
        l: &LinkMsg,
        seq: u32,
        dump: bool,
        env: &dyn Env,
        out: &mut Vec<Message>,
    ) -> Result<(), ApiError> {
        if !dump {
            let p = &self.ports[self.link_index(l)?];
            out.push(Message::new(
                RTM_NEWLINK,
                0,
                seq,
                Body::Link(self.link_msg(p, env)),
            ));
            return Ok(());
        }
        for p in &self.ports {
            out.push(Message::new(
                RTM_NEWLINK,
                NLM_F_MULTI,
                seq,
                Body::Link(self.link_msg(p, env)),
            ));
        }
        out.push(Message::done(seq));
        Ok(())
    }

    // --- qdiscs ---------------------------------------------------------------------

    /// `tc qdisc add|replace|change dev PORT root tbf ...`: checks the parameters as the
    /// config file's `[[qdisc]]` (datapath::qdisc::TbfParams), then publishes them to the
    /// workers, which carry the packets waiting over to the new bucket at their next poll
    /// round (a replaced tbf starts with a full bucket, as Linux's `tbf_change`).
    fn qdisc_new(&mut self, change: Change, q: &QdiscMsg) -> Result<(), ApiError> {
        let i = self.port_index(q.ifindex)?;
        match q.kind.as_deref() {
            Some("tbf") => {}
            Some(k) => {
                return Err(ApiError::new(
                    errno::EOPNOTSUPP,
                    format!("qdisc kind {k:?} is not supported (tbf only)"),
                ))
            }
            None => return Err(ApiError::inval("missing qdisc kind (TCA_KIND)")),
        }
        let tbf = q
            .tbf
            .ok_or_else(|| ApiError::inval("tbf needs rate, burst, and latency or limit"))?;
        let limit = match (tbf.latency_us, tbf.limit) {
            (0, 0) => return Err(ApiError::inval("tbf needs latency or limit")),
            (us, 0) => Limit::LatencyUs(u64::from(us)),
            (0, bytes) => Limit::Bytes(u64::from(bytes)),
            _ => {
                return Err(ApiError::inval(
                    "tbf takes latency or limit, not both (as tc)",
                ))
            }
        };
        let port = &self.ports[i];
        let max_frame = u32::from(port.mtu) + ETH_HLEN as u32;
        let params = TbfParams::new(
            tbf.rate.saturating_mul(8),
            u64::from(tbf.burst),
            limit,
            max_frame,
        )
        .map_err(|e| ApiError::inval(format!("tbf {e}")))?;
        let id = port.id;
        let exists = self.qdiscs.contains_key(&id);
        if exists && change.if_exists == IfExists::Refuse {
            return Err(ApiError::new(errno::EEXIST, "a qdisc is already installed"));
        }
        if !exists && !change.create {
            return Err(ApiError::new(errno::ENOENT, "no qdisc to change"));
        }
        self.shared
            .set_qdisc(id, Some(params))
            .map_err(|e| ApiError::new(errno::EINVAL, e))?;
        self.qdiscs.insert(id, params);
        Ok(())
    }

    /// `tc qdisc del dev PORT root`: the packets waiting go out unshaped.
    fn qdisc_del(&mut self, q: &QdiscMsg) -> Result<(), ApiError> {
        let i = self.port_index(q.ifindex)?;
        let id = self.ports[i].id;
        if !self.qdiscs.contains_key(&id) {
            return Err(ApiError::new(errno::ENOENT, "no qdisc installed"));
        }
        self.shared
            .set_qdisc(id, None)
            .map_err(|e| ApiError::new(errno::EINVAL, e))?;
        self.qdiscs.remove(&id);
        Ok(())
    }

    fn qdisc_dump(&self, filter: &QdiscMsg, seq: u32, out: &mut Vec<Message>) {
        for (&id, p) in &self.qdiscs {
            if filter.ifindex != 0 && filter.ifindex != ifindex(id) {
                continue;
            }
            out.push(Message::new(
                RTM_NEWQDISC,
                NLM_F_MULTI,
                seq,
                Body::Qdisc(QdiscMsg {
                    ifindex: ifindex(id),
                    handle: 0x8001_0000,
                    parent: TC_H_ROOT,
                    kind: Some("tbf".into()),
                    tbf: Some(tbf_spec(p)),
                }),
            ));
        }
        out.push(Message::done(seq));
    }

    // --- text -----------------------------------------------------------------------

    /// `ferroute status`: one line per port, then whether every link is up.
    fn status(&self, env: &dyn Env) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let mut ready = true;
        for p in &self.ports {
            let up = env.link_running(p.id);
            ready &= up;
            let addr = p
                .addrs
                .first()
                .map_or_else(|| "none".to_string(), |a| a.to_string());
            let _ = writeln!(
                out,
                "port {} id {} link {} mac {} addr {addr} mtu {} admin {}",
                p.name,
                p.id,
                if up { "up" } else { "down" },
                p.mac,
                p.mtu,
                if p.up { "up" } else { "down" },
            );
        }
        let _ = writeln!(out, "fib_version {}", self.version);
        let _ = writeln!(out, "ready {}", if ready { "yes" } else { "no" });
        out
    }

    /// The running configuration as a config file (see [`dump`]).
    fn config_dump(&self, env: &mut dyn Env) -> Result<String, ApiError> {
        let base = self
            .base
            .as_ref()
            .ok_or_else(|| ApiError::new(errno::EOPNOTSUPP, "no base configuration"))?;
        let neighbours = match env.neigh(NeighReq::Dump)? {
            NeighResp::Dump(v) => v,
            _ => Vec::new(),
        };
        Ok(dump::render(base, self, &neighbours))
    }

    /// A port's name by DPDK id, for rendering.
    pub fn name_of(&self, id: u16) -> String {
        self.port_name(id)
    }
}

fn text(seq: u32, t: String) -> Message {
    Message::new(FR_TEXT, 0, seq, Body::Text(t))
}

fn port_ctx(p: &PortState) -> PortCtx {
    PortCtx {
        id: p.id,
        name: p.name.clone(),
        mac: p.mac,
        addr: p.addrs.first().copied().unwrap_or_default(),
        secondary: p.addrs.iter().skip(1).copied().collect(),
        mtu: p.mtu,
        up: p.up,
    }
}

/// (RTN type, gateway, port) of a route.
fn route_parts(r: &Route) -> (u8, Option<Ipv4Addr>, Option<u16>) {
    match r.target {
        RouteTarget::Local { port } => (RTN_LOCAL, None, Some(port)),
        RouteTarget::Broadcast { port } => (RTN_BROADCAST, None, Some(port)),
        RouteTarget::Connected { port } => (RTN_UNICAST, None, Some(port)),
        RouteTarget::Gateway { gw, port } => (RTN_UNICAST, Some(gw), port),
        RouteTarget::Blackhole => (RTN_BLACKHOLE, None, None),
        RouteTarget::Unreachable => (RTN_UNREACHABLE, None, None),
        RouteTarget::Prohibit => (RTN_PROHIBIT, None, None),
        RouteTarget::Multipath(_) => (RTN_UNICAST, None, None),
    }
}

/// NUD_* of a neighbour state.
pub fn nud(s: NeighState) -> u16 {
    match s {
        NeighState::Incomplete => NUD_INCOMPLETE,
        NeighState::Reachable => NUD_REACHABLE,
        NeighState::Stale => NUD_STALE,
        NeighState::Delay => NUD_DELAY,
        NeighState::Probe => NUD_PROBE,
        NeighState::Failed => NUD_FAILED,
        NeighState::Permanent => NUD_PERMANENT,
    }
}

/// The prefix `a/len` with host bits cleared.
pub fn prefix_of(a: Ipv4Addr, len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(a) & mask(len))
}

pub mod dump;
mod multipath;
pub mod server;
#[cfg(test)]
mod tests;
