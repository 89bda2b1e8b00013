//! The sending half of the pipeline, shared by workers and the control thread: route
//! locally originated packets, build ICMP errors, check MTU and neighbour, and buffer
//! for TX. Each worker owns its own `Egress` with its own TX queue on every port; the
//! control thread's `Egress` injects into a worker instead (some PMDs, net_tap among
//! them, need as many RX as TX queues, so it cannot own TX queues of its own).
use super::icmp_error::{build_icmp_error, may_send_error, TokenBucket};
use super::ip4_output::{dst_of, ip4_output, route_output, OutNext};
use super::{IcmpOut, PortStat, Ports, Reason, Tally};
use crate::dpdk::{Mbuf, TxBuffer, TxResult};
use crate::fib::Fib;
use crate::neigh::NeighSnapshot;
use std::net::Ipv4Addr;
use std::sync::mpsc::{SyncSender, TrySendError};

/// What the pipeline reads for one burst: the FIB, the neighbour snapshot and the ports.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub fib: &'a Fib,
    pub neigh: &'a NeighSnapshot,
    pub ports: &'a Ports,
}

/// A packet whose next hop has no usable ARP entry.
pub struct Unresolved {
    pub pkt: Mbuf,
    pub port: u16,
    pub nh: Ipv4Addr,
}

/// Where an `Egress` sends finished packets.
pub enum Sink {
    /// TX buffers by DPDK port id (a worker).
    Tx(Vec<Option<TxBuffer>>),
    /// A worker's inject queue (the control thread); the worker transmits.
    Inject(SyncSender<Injected>),
}

/// A packet the control thread hands to a worker to send on `port`.
pub struct Injected {
    pub pkt: Mbuf,
    pub port: u16,
}

pub struct Egress {
    sink: Sink,
    pub tally: Tally,
    icmp_bucket: TokenBucket,
    ident: u16,
}

impl Egress {
    pub fn new(sink: Sink, icmp_bucket: TokenBucket) -> Egress {
        Egress {
            sink,
            tally: Tally::default(),
            icmp_bucket,
            ident: 0,
        }
    }

    /// Drops a packet, counting it against the port it came in on.
    #[inline]
    pub fn drop_pkt(&mut self, m: Mbuf, reason: Reason) {
        self.tally.drop(m.in_port(), reason);
    }

    /// Buffers a packet whose Ethernet header is written.
    #[inline]
    pub fn transmit(&mut self, mut m: Mbuf, port: u16) {
        m.clear_offload_flags();
        let len = m.len() as u64;
        let r = match &mut self.sink {
            Sink::Tx(bufs) => match bufs.get_mut(port as usize) {
                Some(Some(buf)) => buf.push(m),
                _ => {
                    self.drop_pkt(m, Reason::TxQueueFull);
                    return;
                }
            },
            Sink::Inject(q) => match q.try_send(Injected { pkt: m, port }) {
                // The worker counts it when it sends it.
                Ok(()) => return,
                Err(TrySendError::Full(i) | TrySendError::Disconnected(i)) => {
                    self.drop_pkt(i.pkt, Reason::TxQueueFull);
                    return;
                }
            },
        };
        self.tally.port(port, PortStat::TxBytes, len);
        count_tx(&mut self.tally, port, r);
    }

    /// Sends every buffered packet (the drain timer and shutdown call this).
    pub fn flush(&mut self) {
        let Sink::Tx(bufs) = &mut self.sink else {
            return;
        };
        for buf in bufs.iter_mut().flatten() {
            if !buf.is_empty() {
                count_tx(&mut self.tally, buf.port(), buf.flush());
            }
        }
    }

    /// MTU check, neighbour lookup, Ethernet header, TX; or back to the caller to resolve.
    pub fn output(&mut self, mut m: Mbuf, port: u16, nh: Ipv4Addr, v: View) -> Option<Unresolved> {
        let Some(pc) = v.ports.get(port) else {
            self.drop_pkt(m, Reason::TxQueueFull);
            return None;
        };
        match ip4_output(&mut m, pc, nh, v.neigh) {
            OutNext::Tx { port } => {
                self.transmit(m, port);
                None
            }
            OutNext::Resolve { port, nh } => Some(Unresolved { pkt: m, port, nh }),
            OutNext::FragNeeded { mtu } => {
                self.icmp_error(m, IcmpOut::FragNeeded, Reason::Ip4FragNeeded, false, mtu, v)
            }
            OutNext::Drop(r) => {
                self.drop_pkt(m, r);
                None
            }
        }
    }

    /// Routes and sends a packet the router originates (echo reply, ICMP error).
    pub fn send_local(&mut self, m: Mbuf, v: View) -> Option<Unresolved> {
        let Some(dst) = dst_of(&m) else {
            self.drop_pkt(m, Reason::Ip4HdrTruncated);
            return None;
        };
        match route_output(v.fib, dst) {
            Ok((port, nh)) => self.output(m, port, nh, v),
            Err(r) => {
                self.drop_pkt(m, r);
                None
            }
        }
    }

    /// Drops `m` for `reason` and answers it with ICMP `kind`, from the address of the
    /// port it arrived on, unless RFC 1812 §4.3.2.7 or the rate limit says no.
    pub fn icmp_error(
        &mut self,
        mut m: Mbuf,
        kind: IcmpOut,
        reason: Reason,
        l2_bcast: bool,
        mtu: u16,
        v: View,
    ) -> Option<Unresolved> {
        let in_port = m.in_port();
        self.tally.drop(in_port, reason);
        if !may_send_error(&m, l2_bcast) {
            self.tally.icmp_suppressed += 1;
            return None;
        }
        let Some(src) = v.ports.get(in_port).map(|p| p.ip()) else {
            self.tally.icmp_suppressed += 1;
            return None;
        };
        if !self.icmp_bucket.take(crate::dpdk::rdtsc()) {
            self.tally.icmp_ratelimited += 1;
            return None;
        }
        self.ident = self.ident.wrapping_add(1);
        if !build_icmp_error(&mut m, kind, src, mtu, self.ident) {
            self.tally.icmp_suppressed += 1;
            return None;
        }
        self.tally.icmp(kind);
        self.send_local(m, v)
    }
}

/// Counts what a TX flush sent and what the port refused.
fn count_tx(tally: &mut Tally, port: u16, r: TxResult) {
    tally.port(port, PortStat::TxPackets, r.sent);
    if r.dropped > 0 {
        tally.drops[Reason::TxQueueFull as usize] += r.dropped;
        tally.port(port, PortStat::Dropped, r.dropped);
    }
}
