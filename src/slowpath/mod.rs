//! The slow path (the EAL main lcore's packet thread): what the workers punt to (ARP,
//! neighbour resolution with its hold queues and timers, reassembly of fragments
//! addressed to the router, linux_cp TAP I/O) and neighbour snapshots; it carries out the
//! control API's neighbour requests. Its packets go out through worker 0 (see
//! `Sink::Inject`).
//!
//! The control API itself (`rtnl::server`) runs on threads of its own: connection
//! threads decode requests and one thread owns the RIB (`rtnl::Rtnl`) and
//! publishes the FIB, so neither a slow client nor a FIB build holds up this loop.

use crate::datapath::arp_input::{arp_input, arp_request, ArpNext};
use crate::datapath::egress::Egress;
use crate::datapath::ip4_local::{for_host, ip4_local, LocalNext};
use crate::datapath::ip4_output::{dst_of, write_eth};
use crate::datapath::ip4_reassembly::{ReasmGauges, Reassembler, Verdict};
use crate::datapath::pipeline::{self, Meta, Unresolved, View};
use crate::datapath::punt::PuntRx;
use crate::datapath::worker::Shared;
use crate::datapath::{HeapPacket, IcmpOut, Packet, Reason, SharedCounters, Tally};
use crate::dpdk::{Mbuf, Mempool};
use crate::linuxcp::exception::{classify, FromKernel, TwinPorts, FROM_KERNEL_BUDGET};
use crate::metrics::NeighSummary;
use crate::neigh::{ArpKind, DropReason, NeighAction, NeighKey, NeighTable};
use crate::rtnl::{self, server};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Punted packets handled per queue and loop round, so timers, the other queues and the
/// API are not starved.
const PUNT_BUDGET: usize = 1024;

/// Takes up to [`PUNT_BUDGET`] items from a punt queue, handing each to `handle`; how
/// many.
macro_rules! drain {
    ($self:ident, $queue:ident, |$item:ident| $handle:expr) => {{
        let mut n = 0;
        while n < PUNT_BUDGET {
            let Ok($item) = $self.punt.$queue.try_recv() else {
                break;
            };
            $handle;
            n += 1;
        }
        n
    }};
}

/// How often the neighbour summary for the metrics thread is refreshed (it walks the
/// table, so not every 1 ms loop round).
const SUMMARY_INTERVAL_MS: u64 = 100;

/// The slow-path thread's state; [`SlowPathThread::round`] is one turn of its loop.
pub struct SlowPathThread {
    pub shared: Arc<Shared>,
    pub pool: Mempool,
    /// The queues from the workers (`datapath::punt`).
    pub punt: PuntRx,
    pub neigh: NeighTable<Mbuf>,
    pub egress: Egress,
    pub counters: Arc<SharedCounters>,
    /// Every lcore's counters (workers and this thread), for readers.
    pub all_counters: Vec<(u32, Arc<SharedCounters>)>,
    /// Neighbour requests from the control API.
    pub api_rx: Receiver<server::NeighCall>,
    pub start: Instant,
    /// Set by SIGINT/SIGTERM.
    pub signalled: Arc<std::sync::atomic::AtomicBool>,
    pub actions: Vec<NeighAction<Mbuf>>,
    /// Neighbour counts by state for the metrics thread.
    pub neigh_summary: Arc<NeighSummary>,
    /// When `neigh_summary` was last refreshed.
    pub summary_ms: Option<u64>,
    /// Fragments addressed to the router, waiting for the rest of their datagram.
    pub reasm: Reassembler,
    /// Its size, for the metrics thread.
    pub reasm_gauges: Arc<ReasmGauges>,
    /// Packets of a reassembled datagram's answer waiting for ARP (reused buffer).
    pub unresolved: Vec<Unresolved>,
    /// The ports' kernel twins (`[linux_cp]`), if on.
    pub twins: Option<TwinPorts>,
}

impl SlowPathThread {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Runs until a signal arrives, then tells the workers to stop.
    pub fn run(&mut self) {
        while !self.signalled.load(Relaxed) {
            if self.round() == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.shared.stop.store(true, Relaxed);
    }

    /// One loop round: ARP the router needs first, unsolicited ARP after resolution,
    /// the API between the queues (a neighbour query never waits behind a backlog),
    /// then timers and publication. How many items it handled.
    pub fn round(&mut self) -> usize {
        // Drops made here (held packets, ARP) reach a capture of drops too.
        self.egress.sync_capture(&self.shared.capture);
        let mut work = self.serve_api();
        work += drain!(self, arp_known, |m| self.arp(m));
        work += drain!(self, resolve, |u| self.resolve(u));
        work += self.serve_api();
        work += drain!(self, arp, |m| self.arp(m));
        work += drain!(self, frags, |f| self.fragment(f.pkt, f.l2_bcast));
        work += drain!(self, host, |m| self.punt_to_kernel(m));
        work += self.read_twins();
        let now = self.now_ms();
        self.expire_reassembly(now);
        self.neigh.tick(now, &mut self.actions);
        self.run_actions();
        self.publish_neigh();
        self.publish_summary(now);
        self.egress.flush();
        self.counters.flush(&mut self.egress.tally);
        work
    }

    fn publish_neigh(&mut self) {
        if self.neigh.is_dirty() {
            self.shared.neigh.store(Arc::new(self.neigh.snapshot()));
        }
    }

    fn publish_summary(&mut self, now: u64) {
        if self
            .summary_ms
            .is_some_and(|t| now.saturating_sub(t) < SUMMARY_INTERVAL_MS)
        {
            return;
        }
        self.summary_ms = Some(now);
        self.neigh_summary
            .publish(&self.neigh.count_by_state(), self.neigh.held_packets());
    }

    /// A fragment for the router: into reassembly (its data is copied and the mbuf
    /// freed); a completed datagram is delivered.
    fn fragment(&mut self, m: Mbuf, l2_bcast: bool) {
        let now = self.now_ms();
        let tally = &mut self.egress.tally;
        let verdict = self
            .reasm
            .insert(m.data(), m.in_port(), l2_bcast, now, tally);
        drop(m);
        if let Verdict::Complete { pkt, l2_bcast } = verdict {
            self.deliver(pkt, l2_bcast);
        }
        self.reasm_gauges.publish(&self.reasm);
    }

    /// Local delivery of a reassembled datagram, as a worker delivers a whole packet;
    /// the answer leaves in fragments when it is longer than the MTU.
    fn deliver(&mut self, mut p: HeapPacket, l2_bcast: bool) {
        // With the exception path on, a whole datagram for the kernel goes to the twin
        // as the workers send unfragmented ones (the kernel takes it above the MTU).
        if let Some(t) = self.twins.as_mut().filter(|_| for_host(p.data())) {
            if !t.write(p.port, p.data()) {
                self.egress.tally.drop(p.port, Reason::TwinRefused);
            }
            return;
        }
        let shared = Arc::clone(&self.shared);
        let fib = shared.fib.load();
        let neigh = shared.neigh.load();
        let ports = shared.ports.load();
        let mut v = View::new(&fib, &neigh, &ports);
        let mut unresolved = std::mem::take(&mut self.unresolved);
        match ip4_local(&mut p) {
            LocalNext::Reply => {
                // ip4_local made the reply in place: its destination is the asker.
                let to = dst_of(&p).unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
                if !self.egress.icmp_allowed(IcmpOut::EchoReply, to) {
                    return;
                }
                self.egress.tally.icmp(IcmpOut::EchoReply);
                pipeline::send_local_heap(&mut self.egress, &p, &mut v, &mut unresolved);
            }
            LocalNext::Icmp(kind, r) => {
                self.egress.tally.drop(p.port, r);
                unresolved.extend(pipeline::icmp_answer_heap(
                    &mut self.egress,
                    &p,
                    kind,
                    l2_bcast,
                    &mut v,
                ));
            }
            LocalNext::Drop(r) => self.egress.tally.drop(p.port, r),
            // Reassembly clears MF and the offset: cannot happen.
            LocalNext::Reassemble => self.egress.tally.drop(p.port, Reason::Ip4ReasmInconsistent),
        }
        for u in unresolved.drain(..) {
            self.resolve(u);
        }
        self.unresolved = unresolved;
    }

    /// Drops datagrams whose reassembly timed out; answers those whose first fragment
    /// came with ICMP time exceeded, "fragment reassembly time exceeded" (RFC 792).
    fn expire_reassembly(&mut self, now: u64) {
        let mut expired = Vec::new();
        self.reasm
            .expire(now, &mut self.egress.tally, |e| expired.push(e));
        // Also when nothing is answered (expired datagrams without a first fragment):
        // `ferroute counters` reads these gauges, not the reassembler.
        if self.reasm_gauges.datagrams() != self.reasm.datagrams() as u64
            || self.reasm_gauges.bytes() != self.reasm.bytes() as u64
        {
            self.reasm_gauges.publish(&self.reasm);
        }
        if expired.is_empty() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let fib = shared.fib.load();
        let neigh = shared.neigh.load();
        let ports = shared.ports.load();
        let mut v = View::new(&fib, &neigh, &ports);
        for e in expired {
            let u = pipeline::icmp_answer_heap(
                &mut self.egress,
                &e.quote,
                IcmpOut::ReasmTimeout,
                e.l2_bcast,
                &mut v,
            );
            if let Some(u) = u {
                self.resolve(u);
            }
        }
    }

    /// A punted frame, to the twin of the port it came in on (`linux_cp`).
    fn punt_to_kernel(&mut self, m: Mbuf) {
        let port = m.in_port();
        let taken = (self.twins.as_mut()).is_some_and(|t| t.write(port, m.data()));
        if taken {
            drop(m);
        } else {
            self.egress.drop_on(port, m, Reason::TwinRefused);
        }
    }

    /// What the kernel sent out of the twins, through the output path: unicast is
    /// routed by the FIB and resolved by the neighbour table; link-local multicast and
    /// broadcast leave the twin's own port. Up to [`FROM_KERNEL_BUDGET`] per twin.
    fn read_twins(&mut self) -> usize {
        let Some(mut twins) = self.twins.take() else {
            return 0;
        };
        let ports: Vec<u16> = twins.ports().collect();
        let mut n = 0;
        for port in ports {
            for _ in 0..FROM_KERNEL_BUDGET {
                let Some(frame) = twins.read(port) else {
                    break;
                };
                n += 1;
                self.inject(port, frame);
            }
        }
        self.twins = Some(twins);
        n
    }

    fn inject(&mut self, port: u16, frame: &[u8]) {
        let shared = Arc::clone(&self.shared);
        let ports = shared.ports.load();
        let Some(pc) = ports.get(port) else {
            return;
        };
        let how = classify(frame, pc);
        if how == FromKernel::Drop {
            self.egress.tally.drop(port, Reason::TwinNotIpv4);
            return;
        }
        let Some(mut m) = self.pool.alloc().filter(|m| m.capacity() >= frame.len()) else {
            self.egress.tally.drop(port, Reason::TwinNoMbuf);
            return;
        };
        if !m.set_len(frame.len()) {
            self.egress.drop_pkt(m, Reason::TwinNoMbuf);
            return;
        }
        m.data_mut().copy_from_slice(frame);
        m.set_in_port(port);
        match how {
            FromKernel::Link(mac) => {
                if !pc.up {
                    return self.egress.drop_pkt(m, Reason::PortDown);
                }
                write_eth(&mut m, pc.mac, mac);
                self.egress.transmit(m, port);
            }
            _ => {
                let fib = shared.fib.load();
                let neigh = shared.neigh.load();
                let mut v = View::new(&fib, &neigh, &ports);
                if let Some(u) = pipeline::send_local(&mut self.egress, m, &mut v) {
                    self.resolve(u);
                }
            }
        }
    }

    fn resolve(&mut self, u: Unresolved) {
        let now = self.now_ms();
        let key = NeighKey::new(u.port, u.nh);
        self.neigh.resolve(now, key, u.pkt, &mut self.actions);
        self.run_actions();
    }

    fn arp(&mut self, mut m: Mbuf) {
        let port = m.in_port();
        let ports = self.shared.ports.load();
        let Some(pc) = ports.get(port).filter(|p| p.up) else {
            self.egress.drop_pkt(m, Reason::PortDown);
            return;
        };
        let now = self.now_ms();
        match arp_input(&mut m, pc) {
            ArpNext::Reply { learn } => {
                self.egress.transmit(m, port);
                if let Some((ip, mac)) = learn {
                    let key = NeighKey::new(port, ip);
                    self.neigh
                        .on_arp(now, key, mac, ArpKind::Request, &mut self.actions);
                }
            }
            ArpNext::Learn { ip, mac } => {
                drop(m);
                let key = NeighKey::new(port, ip);
                self.neigh
                    .on_arp(now, key, mac, ArpKind::Reply, &mut self.actions);
            }
            ArpNext::Drop(r) => self.egress.drop_pkt(m, r),
        }
        self.run_actions();
    }

    /// Carries out what the neighbour table asked for. Sending an ICMP error about a
    /// held packet may itself need resolution, which queues more actions; the loop runs
    /// until none are left.
    fn run_actions(&mut self) {
        while !self.actions.is_empty() {
            let batch = std::mem::take(&mut self.actions);
            // The snapshot must show what the table just learned before packets are
            // routed against it.
            self.publish_neigh();
            let fib = self.shared.fib.load();
            let neigh = self.shared.neigh.load();
            let ports = self.shared.ports.load();
            let mut v = View::new(&fib, &neigh, &ports);
            for a in batch {
                let unresolved = match a {
                    NeighAction::SendRequest { port, target, dst } => {
                        self.send_arp_request(port, target, dst);
                        None
                    }
                    NeighAction::Transmit { port, mac, pkt } => {
                        // Fragmented now if it is longer than the port's MTU.
                        match v.ports.get(port) {
                            Some(pc) => self.egress.transmit_to(pkt, pc, mac),
                            None => self.egress.transmit(pkt, port),
                        }
                        None
                    }
                    NeighAction::Unreachable { pkt } => {
                        let meta = Meta::of(&pkt);
                        pipeline::icmp_error(
                            &mut self.egress,
                            pkt,
                            meta,
                            IcmpOut::HostUnreachable,
                            Reason::NeighFailed,
                            &mut v,
                        )
                    }
                    NeighAction::Dropped { pkt, reason } => {
                        let r = match reason {
                            DropReason::HoldQueueFull => Reason::NeighQueueFull,
                            DropReason::Deleted => Reason::NeighDeleted,
                            DropReason::TableFull => Reason::NeighTableFull,
                        };
                        self.egress.drop_pkt(pkt, r);
                        None
                    }
                };
                if let Some(u) = unresolved {
                    let now = self.now_ms();
                    let key = NeighKey::new(u.port, u.nh);
                    self.neigh.resolve(now, key, u.pkt, &mut self.actions);
                }
            }
        }
    }

    fn send_arp_request(
        &mut self,
        port: u16,
        target: std::net::Ipv4Addr,
        dst: Option<crate::wire::MacAddr>,
    ) {
        let ports = self.shared.ports.load();
        let Some(pc) = ports.get(port).filter(|p| p.up) else {
            return;
        };
        let frame = arp_request(pc, target, dst);
        let Some(mut m) = self.pool.alloc() else {
            return;
        };
        if !m.set_len(frame.len()) {
            return;
        }
        m.data_mut().copy_from_slice(&frame);
        m.set_in_port(port);
        self.egress.tally.arp_requests += 1;
        self.egress.transmit(m, port);
    }

    /// Sum of every lcore's counters.
    pub fn totals(&self) -> Tally {
        let mut t = Tally::default();
        for (_, c) in &self.all_counters {
            t.add(&c.read());
        }
        t
    }

    /// Carries out the control API's neighbour requests.
    fn serve_api(&mut self) -> usize {
        let mut n = 0;
        while let Ok(call) = self.api_rx.try_recv() {
            let now = self.now_ms();
            // Advance the table's clock (ages in dumps) without running timers early.
            self.neigh.tick(now, &mut self.actions);
            let resp = rtnl::neigh_request(&mut self.neigh, call.req, &mut self.actions);
            self.run_actions();
            self.publish_neigh();
            let _ = call.reply.send(resp);
            n += 1;
        }
        n
    }
}
