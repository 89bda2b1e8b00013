//! The worker lcore: poll its RX queues, run each burst through the pipeline, buffer TX,
//! flush on the drain timer. Run to completion; no locks, syscalls or allocation per
//! packet. The FIB and neighbour snapshot are loaded once per poll round (the worker's
//! quiescent point for arc-swap). Egress qdiscs are serviced every round, with or
//! without RX, and an idle worker never sleeps past the time a waiting packet may leave.
use super::egress::{Egress, Injected, Unresolved, View};
use super::eth_input::{eth_input, EthNext};
use super::ip4_forward::{ip4_forward, FwdNext};
use super::ip4_input::ip4_input;
use super::ip4_local::{ip4_local, LocalNext};
use super::ip4_route::{ip4_route, RouteNext};
use super::qdisc::{QdiscStatus, Qdiscs, TbfParams};
use super::{IcmpOut, PortStat, Ports, Reason, SharedCounters, MAX_BURST};
use crate::dpdk::{rdtsc, Mbuf, RxQueue};
use crate::fib::{Fib, NextHop};
use crate::neigh::NeighSnapshot;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// State the control side publishes and the workers read.
pub struct Shared {
    pub fib: ArcSwap<Fib>,
    pub neigh: ArcSwap<NeighSnapshot>,
    /// Ports' addresses, MTU and admin state, republished by the control API.
    pub ports: ArcSwap<Ports>,
    /// Egress qdiscs by port; workers apply changes at their next poll round.
    pub qdisc: Qdiscs,
    pub stop: AtomicBool,
}

impl Shared {
    /// Sets (replaces) or, with `None`, deletes the egress qdisc of DPDK port `port`:
    /// what `ferroute qdisc add|replace|del` does (control::rtnl). Safe to call while the
    /// workers run; waiting packets are carried over or sent, never leaked.
    /// The caller (the control API) checks that the port exists: at startup the config
    /// is applied before the first ports view is published.
    pub fn set_qdisc(&self, port: u16, params: Option<TbfParams>) -> Result<(), String> {
        self.qdisc.set(port, params)
    }

    /// Every port's qdisc with its counters and gauges, `counters` being every lcore's
    /// (`now` in TSC cycles, for the tokens).
    pub fn qdisc_status(
        &self,
        counters: &[(u32, Arc<SharedCounters>)],
        now: u64,
    ) -> Vec<QdiscStatus> {
        self.qdisc.status(counters.iter().map(|(_, c)| &**c), now)
    }
}

/// Work handed from a worker to the control thread.
pub enum Punt {
    /// An ARP frame received on `pkt.in_port()`.
    Arp(Mbuf),
    /// A packet waiting for the next hop `nh` on `port` to be resolved.
    Resolve(Unresolved),
}

/// A fragment addressed to the router, handed to reassembly on the control thread (see
/// `ip4_reassembly`). Fragments have a queue of their own, so that a fragment storm
/// cannot crowd ARP and neighbour resolution out of theirs.
pub struct LocalFragment {
    pub pkt: Mbuf,
    pub l2_bcast: bool,
}

/// Timing knobs of the loop, in TSC cycles where it matters.
#[derive(Debug, Clone)]
pub struct LoopParams {
    pub burst: usize,
    pub drain_cycles: u64,
    pub idle_sleep: Option<Duration>,
    /// TSC frequency, to turn a qdisc's next departure time into a sleep bound.
    pub tsc_hz: u64,
}

/// Empty poll rounds before an idle worker sleeps (when idle_sleep is set).
const IDLE_ROUNDS_BEFORE_SLEEP: u32 = 100;

pub struct Worker {
    pub lcore: u32,
    pub rxqs: Vec<RxQueue>,
    pub egress: Egress,
    pub shared: Arc<Shared>,
    pub counters: Arc<SharedCounters>,
    pub punt: SyncSender<Punt>,
    /// Fragments for reassembly.
    pub frags: SyncSender<LocalFragment>,
    /// Packets the control thread asks this worker to send (ARP, held packets).
    pub inject: Option<Receiver<Injected>>,
    pub params: LoopParams,
}

/// How long an idle worker may sleep: `idle` at most, and not past `next_due`, the TSC
/// time a packet waiting in a qdisc may leave.
fn sleep_bound(idle: Duration, now: u64, next_due: Option<u64>, tsc_hz: u64) -> Duration {
    let Some(due) = next_due else {
        return idle;
    };
    let cycles = due.saturating_sub(now);
    let ns = u128::from(cycles) * 1_000_000_000 / u128::from(tsc_hz.max(1));
    idle.min(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
}

/// A fixed-size stack vector for one burst (no allocation per burst).
struct Burst<T> {
    slots: [Option<T>; MAX_BURST],
    len: usize,
}

impl<T> Burst<T> {
    fn new() -> Self {
        Burst {
            slots: std::array::from_fn(|_| None),
            len: 0,
        }
    }
    fn push(&mut self, t: T) {
        if let Some(slot) = self.slots.get_mut(self.len) {
            *slot = Some(t);
            self.len += 1;
        }
    }
    fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        let len = std::mem::take(&mut self.len);
        self.slots[..len].iter_mut().filter_map(Option::take)
    }
}

/// The MTU of port `port` (no limit for a port the FIB should not name).
#[inline]
fn egress_mtu(v: View, port: u16) -> u16 {
    v.ports.get(port).map_or(u16::MAX, |p| p.mtu)
}

/// A validated IPv4 packet waiting for its FIB lookup.
struct Ip4Pending {
    pkt: Mbuf,
    dst: u32,
    l2_bcast: bool,
}

impl Worker {
    /// The lcore loop; returns when `shared.stop` is set.
    pub fn run(mut self) -> i32 {
        let mut last_drain = rdtsc();
        let mut idle_rounds = 0u32;
        // A handle of our own, so the view can borrow it while `self` is mutated.
        let shared = Arc::clone(&self.shared);
        while !shared.stop.load(Relaxed) {
            let start = rdtsc();
            let fib = shared.fib.load();
            let neigh = shared.neigh.load();
            let ports = shared.ports.load();
            let view = View {
                fib: &fib,
                neigh: &neigh,
                ports: &ports,
            };
            self.egress.sync_qdiscs(&shared.qdisc);
            let mut work = 0;
            for q in 0..self.rxqs.len() {
                let mut rx = Burst::new();
                let n = self.rxqs[q].rx_burst(self.params.burst, |m| rx.push(m));
                if n > 0 {
                    work += n;
                    self.egress.tally.bursts += 1;
                    self.egress.tally.burst_packets += n as u64;
                    self.process(&mut rx, view);
                }
            }
            work += self.send_injected();
            let now = rdtsc();
            // Backlogged qdiscs are serviced every round, also when nothing arrived.
            let (dequeued, next_due) = self.egress.service_qdiscs(now);
            work += dequeued;
            if now.wrapping_sub(last_drain) >= self.params.drain_cycles {
                self.egress.flush();
                last_drain = now;
                self.flush_counters();
            }
            if work > 0 {
                self.egress.tally.busy_cycles += now.wrapping_sub(start);
                self.flush_counters();
                idle_rounds = 0;
            } else {
                self.egress.tally.idle_cycles += now.wrapping_sub(start);
                idle_rounds += 1;
                if let Some(d) = self.params.idle_sleep {
                    if idle_rounds >= IDLE_ROUNDS_BEFORE_SLEEP {
                        let d = sleep_bound(d, now, next_due, self.params.tsc_hz);
                        self.egress.flush();
                        self.flush_counters();
                        if !d.is_zero() {
                            std::thread::sleep(d);
                        }
                    }
                }
            }
        }
        self.egress.flush();
        self.flush_counters();
        0
    }

    /// Folds the tally into the shared counters and publishes the qdisc gauges.
    fn flush_counters(&mut self) {
        self.counters.flush(&mut self.egress.tally);
        self.egress.publish_qdisc_gauges(&self.counters);
    }

    /// Sends what the control thread queued for this worker (at most one burst).
    fn send_injected(&mut self) -> usize {
        let Some(q) = &self.inject else {
            return 0;
        };
        let mut n = 0;
        while n < MAX_BURST {
            let Ok(i) = q.try_recv() else {
                break;
            };
            self.egress.transmit(i.pkt, i.port);
            n += 1;
        }
        n
    }

    fn punt(&mut self, p: Punt) {
        match self.punt.try_send(p) {
            Ok(()) => self.egress.tally.punted += 1,
            Err(TrySendError::Full(p) | TrySendError::Disconnected(p)) => {
                let m = match p {
                    Punt::Arp(m) => m,
                    Punt::Resolve(u) => u.pkt,
                };
                self.egress.drop_pkt(m, Reason::PuntQueueFull);
            }
        }
    }

    fn punt_fragment(&mut self, f: LocalFragment) {
        match self.frags.try_send(f) {
            Ok(()) => self.egress.tally.punted += 1,
            Err(TrySendError::Full(f) | TrySendError::Disconnected(f)) => {
                self.egress.drop_pkt(f.pkt, Reason::ReasmQueueFull);
            }
        }
    }

    fn resolve(&mut self, u: Option<Unresolved>) {
        if let Some(u) = u {
            self.punt(Punt::Resolve(u));
        }
    }

    /// Ethernet and IPv4 input, then one FIB burst lookup, then per-packet routing.
    fn process(&mut self, rx: &mut Burst<Mbuf>, v: View) {
        let mut ip4: Burst<Ip4Pending> = Burst::new();
        for mut m in rx.drain() {
            let port = m.in_port();
            let t = &mut self.egress.tally;
            t.port(port, PortStat::RxPackets, 1);
            t.port(port, PortStat::RxBytes, m.len() as u64);
            if !m.is_contiguous() {
                self.egress.drop_pkt(m, Reason::MultiSegment);
                continue;
            }
            let Some(pc) = v.ports.get(port) else {
                self.egress.drop_pkt(m, Reason::EthOtherHost);
                continue;
            };
            if !pc.up {
                self.egress.drop_pkt(m, Reason::PortDown);
                continue;
            }
            match eth_input(m.data(), pc.mac) {
                EthNext::Arp => self.punt(Punt::Arp(m)),
                EthNext::Drop(r) => self.egress.drop_pkt(m, r),
                EthNext::Ip4 { l2_bcast } => match ip4_input(&mut m) {
                    Ok(a) => ip4.push(Ip4Pending {
                        pkt: m,
                        dst: a.dst,
                        l2_bcast,
                    }),
                    Err(r) => self.egress.drop_pkt(m, r),
                },
            }
        }
        if ip4.len == 0 {
            return;
        }
        let mut dsts = [0u32; MAX_BURST];
        let n = ip4.len;
        for (d, p) in dsts.iter_mut().zip(ip4.slots[..n].iter().flatten()) {
            *d = p.dst;
        }
        let mut nhs: [Option<NextHop>; MAX_BURST] = [None; MAX_BURST];
        v.fib.lookup_burst(&dsts[..n], &mut nhs[..n]);
        for (p, nh) in ip4.drain().zip(nhs) {
            self.route(p, nh, v);
        }
    }

    fn route(&mut self, p: Ip4Pending, nh: Option<NextHop>, v: View) {
        let Ip4Pending {
            pkt: mut m,
            dst,
            l2_bcast,
        } = p;
        let in_port = m.in_port();
        let u = match ip4_route(dst, nh, l2_bcast) {
            RouteNext::Local => {
                self.egress.tally.port(in_port, PortStat::Delivered, 1);
                match ip4_local(&mut m) {
                    LocalNext::Reply => {
                        self.egress.tally.icmp(IcmpOut::EchoReply);
                        self.egress.send_local(m, v)
                    }
                    LocalNext::Icmp(k, r) => self.egress.icmp_error(m, k, r, l2_bcast, 0, v),
                    LocalNext::Reassemble => {
                        self.punt_fragment(LocalFragment { pkt: m, l2_bcast });
                        None
                    }
                    LocalNext::Drop(r) => {
                        self.egress.drop_pkt(m, r);
                        None
                    }
                }
            }
            RouteNext::Forward { port, nh } => match ip4_forward(&mut m, egress_mtu(v, port)) {
                FwdNext::Output => {
                    self.egress.tally.port(in_port, PortStat::Forwarded, 1);
                    self.egress.output(m, port, nh, v)
                }
                FwdNext::FragNeeded { mtu } => self.egress.icmp_error(
                    m,
                    IcmpOut::FragNeeded,
                    Reason::Ip4FragNeeded,
                    l2_bcast,
                    mtu,
                    v,
                ),
                FwdNext::TimeExceeded => self.egress.icmp_error(
                    m,
                    IcmpOut::TtlExceeded,
                    Reason::Ip4TtlExceeded,
                    l2_bcast,
                    0,
                    v,
                ),
            },
            RouteNext::Icmp(k, r) => self.egress.icmp_error(m, k, r, l2_bcast, 0, v),
            RouteNext::Drop(r) => {
                self.egress.drop_pkt(m, r);
                None
            }
        };
        self.resolve(u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_sleep_never_passes_the_next_departure() {
        let hz = 2_000_000_000;
        let idle = Duration::from_micros(20);
        assert_eq!(sleep_bound(idle, 1000, None, hz), idle);
        // A packet may leave in 5 us (10,000 cycles at 2 GHz): sleep 5 us at most.
        assert_eq!(
            sleep_bound(idle, 1000, Some(11_000), hz),
            Duration::from_micros(5)
        );
        assert_eq!(sleep_bound(idle, 1000, Some(10_000_000), hz), idle);
        // Due now or overdue: no sleep at all.
        assert_eq!(sleep_bound(idle, 1000, Some(1000), hz), Duration::ZERO);
        assert_eq!(sleep_bound(idle, 1000, Some(3), hz), Duration::ZERO);
    }
}
