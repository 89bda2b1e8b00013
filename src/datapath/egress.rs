//! The sending half of the pipeline, shared by workers and the control thread: route
//! locally originated packets, build ICMP errors, check MTU and neighbour, fragment, and
//! buffer for TX. Each worker owns its own `Egress` with its own TX queue on every port; the
//! control thread's `Egress` injects into a worker instead (some PMDs, net_tap among
//! them, need as many RX as TX queues, so it cannot own TX queues of its own).
use super::fragment::fragment;
use super::icmp_error::{build_icmp_error, may_send_error, TokenBucket, QUOTE_DATA};
use super::ip4_output::{
    dont_frag, dst_of, exceeds_mtu, ip4_output, route_output, write_eth, OutNext,
};
use super::qdisc::{QdiscSet, Qdiscs};
use super::{
    HeapPacket, IcmpOut, Packet, PortCtx, PortStat, Ports, QdiscStat, Reason, SharedCounters,
    Tally, ETH_HLEN,
};
use crate::dpdk::{Mbuf, Mempool, TxBuffer, TxResult};
use crate::fib::Fib;
use crate::neigh::NeighSnapshot;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::MacAddr;
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

/// Fragments per datagram the scratch vector holds without growing: a 65535-octet
/// datagram (a reassembled ping's answer) makes 44 at MTU 1500 and 52 at 1280; smaller
/// MTUs grow the vector once.
const FRAGS_RESERVED: usize = 64;

pub struct Egress {
    sink: Sink,
    pub tally: Tally,
    icmp_bucket: TokenBucket,
    ident: u16,
    /// Where fragments come from.
    pool: Mempool,
    /// The fragments of one datagram while they are built (reused).
    frags: Vec<Mbuf>,
    /// This worker's side of the ports' qdiscs (the control thread's stays empty: what
    /// it injects is shaped by the worker that sends it).
    qdisc: QdiscSet<Mbuf>,
    /// Ports whose backlog gauge was last published (to publish a 0 after a delete).
    gauged: u32,
}

impl Egress {
    pub fn new(sink: Sink, icmp_bucket: TokenBucket, pool: Mempool) -> Egress {
        Egress {
            sink,
            tally: Tally::default(),
            icmp_bucket,
            ident: 0,
            pool,
            frags: Vec::with_capacity(FRAGS_RESERVED),
            qdisc: QdiscSet::default(),
            gauged: 0,
        }
    }

    /// Drops a packet, counting it against the port it came in on.
    #[inline]
    pub fn drop_pkt(&mut self, m: Mbuf, reason: Reason) {
        self.tally.drop(m.in_port(), reason);
    }

    /// Sends a packet whose Ethernet header is written: through the port's qdisc if it
    /// has one, else straight to the TX buffer. An unshaped port pays one bit test.
    #[inline]
    pub fn transmit(&mut self, mut m: Mbuf, port: u16) {
        m.clear_offload_flags();
        if self.qdisc.is_shaped(port) {
            // Linux's qdisc_pkt_len: the frame without FCS.
            let len = m.pkt_len();
            if let Err((m, r)) = self.qdisc.enqueue(port, m, len) {
                self.tally.qdisc(port, QdiscStat::Dropped, 1);
                self.drop_pkt(m, r);
            }
            return;
        }
        to_sink(&mut self.sink, &mut self.tally, m, port);
    }

    /// Applies qdisc changes the control side published (one atomic load when there
    /// are none). Waiting packets are never lost: they move to the new qdisc (dropped
    /// and counted if over its limit) or, when the qdisc is deleted, go out unshaped.
    #[inline]
    pub fn sync_qdiscs(&mut self, qdiscs: &Qdiscs) {
        let Egress {
            qdisc, sink, tally, ..
        } = self;
        qdisc.sync(qdiscs, &mut |port, m, fate| match fate {
            Ok(len) => {
                tally.qdisc(port, QdiscStat::SentPackets, 1);
                tally.qdisc(port, QdiscStat::SentBytes, u64::from(len));
                to_sink(sink, tally, m, port);
            }
            Err(r) => {
                tally.qdisc(port, QdiscStat::Dropped, 1);
                tally.drop(m.in_port(), r);
            }
        });
    }

    /// Moves what the ports' token buckets allow from their qdiscs to the TX buffers.
    /// Returns the packets moved and the TSC time the next waiting packet may leave
    /// (`None`: nothing waits).
    #[inline]
    pub fn service_qdiscs(&mut self, now: u64) -> (usize, Option<u64>) {
        if !self.qdisc.has_backlog() {
            return (0, None);
        }
        let Egress {
            qdisc, sink, tally, ..
        } = self;
        let mut n = 0;
        let next = qdisc.service(now, &mut |port, m, len| {
            tally.qdisc(port, QdiscStat::SentPackets, 1);
            tally.qdisc(port, QdiscStat::SentBytes, u64::from(len));
            to_sink(sink, tally, m, port);
            n += 1;
        });
        (n, next)
    }

    /// Publishes this lcore's qdisc backlogs (gauges) into `counters`.
    pub fn publish_qdisc_gauges(&mut self, counters: &SharedCounters) {
        let shaped = self.qdisc.shaped_mask();
        let mut ports = shaped | self.gauged;
        while ports != 0 {
            let port = ports.trailing_zeros() as u16;
            ports &= ports - 1;
            let (bytes, packets) = self.qdisc.backlog(port);
            counters.set_backlog(port, bytes, packets);
        }
        self.gauged = shaped;
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
        if !pc.up {
            self.drop_pkt(m, Reason::PortDown);
            return None;
        }
        match ip4_output(&mut m, pc, nh, v.neigh) {
            OutNext::Tx { port } => {
                self.transmit(m, port);
                None
            }
            OutNext::Fragment { port: _, mac } => {
                self.fragment_to(m, pc, mac);
                None
            }
            OutNext::Resolve { port, nh } => Some(Unresolved { pkt: m, port, nh }),
            OutNext::FragNeeded { mtu } => {
                self.icmp_error(m, IcmpOut::FragNeeded, Reason::Ip4FragNeeded, false, mtu, v)
            }
        }
    }

    /// Sends a packet to a resolved next hop at `mac` out of `pc`, in fragments if it
    /// is longer than the MTU (how the control thread releases held packets).
    pub fn transmit_to(&mut self, mut m: Mbuf, pc: &PortCtx, mac: MacAddr) {
        if exceeds_mtu(&m, pc.mtu) {
            self.fragment_to(m, pc, mac);
        } else {
            write_eth(&mut m, pc.mac, mac);
            self.transmit(m, pc.id);
        }
    }

    /// Fragments `m` for `pc`'s MTU (RFC 791) and transmits the fragments to `mac`; if a
    /// fragment cannot be had, none is sent and the datagram is dropped.
    fn fragment_to(&mut self, m: Mbuf, pc: &PortCtx, mac: MacAddr) {
        // Checked before a packet is held for ARP, but the MTU may change meanwhile.
        if dont_frag(&m) {
            self.drop_pkt(m, Reason::Ip4FragNeeded);
            return;
        }
        let mut frags = std::mem::take(&mut self.frags);
        let pool = self.pool;
        match fragment(m.data(), m.in_port(), pc.mtu, || pool.alloc(), &mut frags) {
            Ok(()) => {
                drop(m);
                self.tally.frag_packets += 1;
                self.tally.frag_created += frags.len() as u64;
                for mut f in frags.drain(..) {
                    write_eth(&mut f, pc.mac, mac);
                    self.transmit(f, pc.id);
                }
            }
            Err(r) => self.drop_pkt(m, r),
        }
        self.frags = frags;
    }

    /// Routes and sends a datagram the router built in heap memory (the answer to a
    /// reassembled request, possibly longer than any mbuf): cut into mbufs at the egress
    /// MTU, one if it fits, each then output like any packet. Those waiting for ARP are
    /// added to `unresolved`.
    pub fn send_local_heap(&mut self, p: &HeapPacket, v: View, unresolved: &mut Vec<Unresolved>) {
        let Some(dst) = dst_of(p) else {
            self.tally.drop(p.port, Reason::Ip4HdrTruncated);
            return;
        };
        let (port, nh) = match route_output(v.fib, dst) {
            Ok(r) => r,
            Err(r) => {
                self.tally.drop(p.port, r);
                return;
            }
        };
        let Some(pc) = v.ports.get(port) else {
            self.tally.drop(p.port, Reason::TxQueueFull);
            return;
        };
        if !pc.up {
            self.tally.drop(p.port, Reason::PortDown);
            return;
        }
        // The router's own datagrams leave DF clear; one with DF is not cut up.
        if exceeds_mtu(p, pc.mtu) && dont_frag(p) {
            self.tally.drop(p.port, Reason::Ip4FragNeeded);
            return;
        }
        let mut frags = std::mem::take(&mut self.frags);
        let pool = self.pool;
        match fragment(p.data(), p.port, pc.mtu, || pool.alloc(), &mut frags) {
            Ok(()) => {
                if frags.len() > 1 {
                    self.tally.frag_packets += 1;
                    self.tally.frag_created += frags.len() as u64;
                }
                for f in frags.drain(..) {
                    unresolved.extend(self.output(f, port, nh, v));
                }
            }
            Err(r) => self.tally.drop(p.port, r),
        }
        self.frags = frags;
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
        m: Mbuf,
        kind: IcmpOut,
        reason: Reason,
        l2_bcast: bool,
        mtu: u16,
        v: View,
    ) -> Option<Unresolved> {
        self.tally.drop(m.in_port(), reason);
        self.icmp_answer(m, kind, l2_bcast, mtu, v)
    }

    /// Answers a datagram held in heap memory (reassembled, or the quote of one that
    /// timed out) with ICMP `kind`: as `icmp_answer` on a copy of its headers and first
    /// 8 data octets, all an ICMP error quotes. The caller counts the drop.
    pub fn icmp_answer_heap(
        &mut self,
        p: &HeapPacket,
        kind: IcmpOut,
        l2_bcast: bool,
        v: View,
    ) -> Option<Unresolved> {
        let hlen = p
            .buf
            .get(ETH_HLEN..)
            .and_then(|b| Ipv4Packet::new_checked(b).ok())
            .map(|ip| ip.header_len())?;
        let len = (ETH_HLEN + hlen + QUOTE_DATA).min(p.buf.len());
        // Without an mbuf there is no answer; the datagram itself is already counted.
        let mut m = self.pool.alloc()?;
        if !m.set_len(len) {
            return None;
        }
        m.data_mut().copy_from_slice(&p.buf[..len]);
        m.set_in_port(p.port);
        self.icmp_answer(m, kind, l2_bcast, 0, v)
    }

    /// Turns `m` into the ICMP error `kind` about itself and sends it, unless RFC 1812
    /// §4.3.2.7 or the rate limit says no. Counts no drop: see `icmp_error`.
    pub fn icmp_answer(
        &mut self,
        mut m: Mbuf,
        kind: IcmpOut,
        l2_bcast: bool,
        mtu: u16,
        v: View,
    ) -> Option<Unresolved> {
        let in_port = m.in_port();
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

/// Hands a finished packet to the TX buffer (worker) or the inject queue (control).
#[inline]
fn to_sink(sink: &mut Sink, tally: &mut Tally, m: Mbuf, port: u16) {
    let len = m.len() as u64;
    let r = match sink {
        Sink::Tx(bufs) => match bufs.get_mut(port as usize) {
            Some(Some(buf)) => buf.push(m),
            _ => {
                tally.drop(m.in_port(), Reason::TxQueueFull);
                return;
            }
        },
        Sink::Inject(q) => match q.try_send(Injected { pkt: m, port }) {
            // The worker counts it when it sends it.
            Ok(()) => return,
            Err(TrySendError::Full(i) | TrySendError::Disconnected(i)) => {
                tally.drop(i.pkt.in_port(), Reason::TxQueueFull);
                return;
            }
        },
    };
    tally.port(port, PortStat::TxBytes, len);
    count_tx(tally, port, r);
}

/// Counts what a TX flush sent and what the port refused.
fn count_tx(tally: &mut Tally, port: u16, r: TxResult) {
    tally.port(port, PortStat::TxPackets, r.sent);
    if r.dropped > 0 {
        tally.drops[Reason::TxQueueFull as usize] += r.dropped;
        tally.port(port, PortStat::Dropped, r.dropped);
    }
}
