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
    /// Every counter (`ferroute counters`).
    fn counters(&self) -> Counters;
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
    fn counters(&self) -> Counters {
        Counters::default()
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
                text(seq, self.status(env).text(), out);
                Ok(())
            }
            Request::GetStatusAttrs => {
                let s = self.status(env);
                out.push(Message::new(FR_STATUS, 0, seq, Body::Status(s)));
                Ok(())
            }
            Request::GetCounters => {
                out.push(counters(seq, env.counters()));
                Ok(())
            }
            Request::GetConfig => {
                text(seq, self.config_dump(env)?, out);
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
            .ok_or_else(|| {
                ApiError::new(errno::ENODEV, format!("no port with index {ifindex}"))
                    .at(ReqField::Ifindex)
            })
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

/// The prefix `a/len` with host bits cleared.
pub fn prefix_of(a: Ipv4Addr, len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(a) & mask(len))
}

mod addr;
pub mod dump;
mod link;
mod multipath;
mod neigh;
mod qdisc;
mod route;
pub mod server;
mod status;

pub use neigh::nud;
pub use qdisc::{tbf_request, tbf_spec};
use status::{counters, text};
#[cfg(test)]
mod tests;
