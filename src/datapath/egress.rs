//! The sending mechanics shared by workers and the control thread: fragmentation, the
//! ports' qdiscs, TX buffers, and the counters of what was sent or dropped (which stage
//! leads here is decided in `pipeline`). Each worker owns its own `Egress` with its own
//! TX queue on every port; the control thread's `Egress` injects into a worker instead
//! (some PMDs, net_tap among them, need as many RX as TX queues, so it cannot own TX
//! queues of its own).
use super::fragment::fragment;
use super::icmp_ratelimit::{IcmpLimiter, Limited};
use super::ip4_output::{dont_frag, exceeds_mtu, write_eth};
use super::qdisc::{QdiscSet, Qdiscs};
use super::IcmpOut;
use super::{HeapPacket, Packet, PortCtx, PortStat, QdiscStat, Reason, SharedCounters, Tally};
use crate::capture::{Hub, Point, Tap};
use crate::dpdk::{Mbuf, MbufBurst, Mempool, TxBuffer, TxResult};
use crate::wire::MacAddr;
use std::net::Ipv4Addr;
use std::sync::mpsc::{SyncSender, TrySendError};

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
    icmp: IcmpLimiter,
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
    /// Packet capture (`ferroute capture`): off until [`Egress::sync_capture`] sees one.
    tap: Tap,
}

impl Egress {
    pub fn new(sink: Sink, icmp: IcmpLimiter, pool: Mempool) -> Egress {
        Egress {
            sink,
            tally: Tally::default(),
            icmp,
            ident: 0,
            pool,
            frags: Vec::with_capacity(FRAGS_RESERVED),
            qdisc: QdiscSet::default(),
            gauged: 0,
            tap: Tap::default(),
        }
    }

    /// Drops a packet, counting it against the port it came in on.
    #[inline]
    pub fn drop_pkt(&mut self, m: Mbuf, reason: Reason) {
        self.drop_on(m.in_port(), m, reason);
    }

    /// Drops a packet that arrived on `port`, counting it there. Every mbuf the
    /// datapath drops (rather than turns into an ICMP error) ends here or in
    /// [`Egress::count_drop`], where a capture of drops copies it.
    #[inline]
    pub fn drop_on(&mut self, port: u16, m: Mbuf, reason: Reason) {
        self.count_drop(port, &m, reason);
        drop(m);
    }

    /// Counts a drop of `m` (the caller frees it or reuses its buffer, as an ICMP error
    /// does) and shows it to a capture of drops.
    #[inline]
    pub fn count_drop(&mut self, port: u16, m: &Mbuf, reason: Reason) {
        self.tally.drop(port, reason);
        if self.tap.is_on() {
            self.tap
                .record(Point::Drop, port, m.data(), m.pkt_len(), Some(reason));
        }
    }

    /// Follows the captures the control side starts and stops (one atomic load per
    /// poll round when nothing changed).
    #[inline]
    pub fn sync_capture(&mut self, hub: &Hub) {
        self.tap.sync(hub);
    }

    /// Shows a received burst to a capture of `port`'s RX (one test when none runs).
    #[inline]
    pub fn capture_rx(&mut self, port: u16, b: &MbufBurst) {
        if self.tap.is_on() {
            capture_burst(&mut self.tap, Point::Rx, port, b);
        }
    }

    /// May an ICMP message `kind` go to `dst` (the rate limits, see `icmp_ratelimit`)?
    /// Counts the refusal by limit, and hosts the limiter forgot.
    pub fn icmp_allowed(&mut self, kind: IcmpOut, dst: Ipv4Addr) -> bool {
        let (t, c) = kind.type_code();
        let verdict = self.icmp.allow(t, c, dst, crate::dpdk::rdtsc());
        self.tally.icmp_peers_evicted += self.icmp.take_evicted();
        match verdict {
            Ok(()) => true,
            Err(Limited::Host) => {
                self.tally.icmp_ratelimited_host += 1;
                false
            }
            Err(Limited::Global) => {
                self.tally.icmp_ratelimited += 1;
                false
            }
        }
    }

    /// The IP identification of the next ICMP error.
    pub fn icmp_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// An mbuf from the packet pool (for answers built from heap data).
    pub fn alloc(&self) -> Option<Mbuf> {
        self.pool.alloc()
    }

    /// Sends a packet whose Ethernet header is written: through the port's qdisc if it
    /// has one, else straight to the TX buffer. An unshaped port pays one bit test.
    #[inline(always)]
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
        to_sink(&mut self.sink, &mut self.tally, &mut self.tap, m, port);
    }

    /// The TX buffer of `port` when the fast path may put packets in it directly: a
    /// worker's, on a port without a qdisc, while no capture runs (those want each
    /// packet seen). What goes in is counted with [`Egress::count_direct`].
    #[inline]
    pub fn direct_tx(&mut self, port: u16) -> Option<&mut TxBuffer> {
        if self.qdisc.is_shaped(port) || self.tap.is_on() {
            return None;
        }
        match &mut self.sink {
            Sink::Tx(bufs) => bufs.get_mut(usize::from(port))?.as_mut(),
            Sink::Inject(_) => None,
        }
    }

    /// Counts packets of `bytes` octets in all put in `port`'s buffer by way of
    /// [`Egress::direct_tx`], and what the flushes that caused did.
    #[inline]
    pub fn count_direct(&mut self, port: u16, bytes: u64, flushed: TxResult) {
        self.tally.port(port, PortStat::TxBytes, bytes);
        if flushed.sent + flushed.dropped > 0 {
            count_tx(&mut self.tally, port, flushed);
        }
    }

    /// Sends a run of packets to `port` whose Ethernet headers are written and whose
    /// offload flags are cleared, `bytes` octets in all: once-per-run checks and
    /// counters for the fast path, else packet by packet as [`Egress::transmit`].
    #[inline]
    pub fn transmit_burst(&mut self, port: u16, b: &mut MbufBurst, bytes: u64) {
        if b.is_empty() {
            return;
        }
        if !self.qdisc.is_shaped(port) {
            if let Sink::Tx(bufs) = &mut self.sink {
                if let Some(Some(buf)) = bufs.get_mut(port as usize) {
                    if self.tap.is_on() {
                        capture_burst(&mut self.tap, Point::Tx, port, b);
                    }
                    self.tally.port(port, PortStat::TxBytes, bytes);
                    let r = buf.push_burst(b);
                    count_tx(&mut self.tally, port, r);
                    return;
                }
            }
        }
        for m in b.drain() {
            self.transmit(m, port);
        }
    }

    /// Applies qdisc changes the control side published (one atomic load when there
    /// are none). Waiting packets are never lost: they move to the new qdisc (dropped
    /// and counted if over its limit) or, when the qdisc is deleted, go out unshaped.
    #[inline]
    pub fn sync_qdiscs(&mut self, qdiscs: &Qdiscs) {
        let Egress {
            qdisc,
            sink,
            tally,
            tap,
            ..
        } = self;
        qdisc.sync(qdiscs, &mut |port, m, fate| match fate {
            Ok(len) => {
                tally.qdisc(port, QdiscStat::SentPackets, 1);
                tally.qdisc(port, QdiscStat::SentBytes, u64::from(len));
                to_sink(sink, tally, tap, m, port);
            }
            Err(r) => {
                tally.qdisc(port, QdiscStat::Dropped, 1);
                drop_seen(tally, tap, m, r);
            }
        });
    }

    /// Moves what the ports' token buckets allow from their qdiscs to the TX buffers.
    /// Returns the packets moved and the TSC time the next waiting packet may leave
    /// (`None`: nothing waits).
    #[inline(always)]
    pub fn service_qdiscs(&mut self, now: u64) -> (usize, Option<u64>) {
        // The check inline, the work out of line: as one call every poll round, its
        // prologue and returned pair cost a saturated worker 1.4 % (perf, memif).
        if !self.qdisc.has_backlog() {
            return (0, None);
        }
        self.service_backlog(now)
    }

    #[inline(never)]
    fn service_backlog(&mut self, now: u64) -> (usize, Option<u64>) {
        let Egress {
            qdisc,
            sink,
            tally,
            tap,
            ..
        } = self;
        let mut n = 0;
        let next = qdisc.service(now, &mut |port, m, len| {
            tally.qdisc(port, QdiscStat::SentPackets, 1);
            tally.qdisc(port, QdiscStat::SentBytes, u64::from(len));
            to_sink(sink, tally, tap, m, port);
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
    pub(super) fn fragment_to(&mut self, m: Mbuf, pc: &PortCtx, mac: MacAddr) {
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

    /// Cuts a datagram held in heap memory into mbufs at `mtu` (one if it fits), for
    /// `pipeline::send_local_heap`. The vector is the reused scratch one: hand it back
    /// with [`Egress::recycle_frags`].
    pub(super) fn fragment_heap(&mut self, p: &HeapPacket, mtu: u16) -> Result<Vec<Mbuf>, Reason> {
        let mut frags = std::mem::take(&mut self.frags);
        let pool = self.pool;
        match fragment(p.data(), p.port, mtu, || pool.alloc(), &mut frags) {
            Ok(()) => {
                if frags.len() > 1 {
                    self.tally.frag_packets += 1;
                    self.tally.frag_created += frags.len() as u64;
                }
                Ok(frags)
            }
            Err(r) => {
                self.frags = frags;
                Err(r)
            }
        }
    }

    /// Takes back the (emptied) scratch vector of [`Egress::fragment_heap`].
    pub(super) fn recycle_frags(&mut self, mut frags: Vec<Mbuf>) {
        frags.clear();
        self.frags = frags;
    }
}

/// Hands a finished packet to the TX buffer (worker) or the inject queue (control).
/// What goes to a TX buffer is what a capture of the port's TX sees.
#[inline(always)]
fn to_sink(sink: &mut Sink, tally: &mut Tally, tap: &mut Tap, m: Mbuf, port: u16) {
    match sink {
        Sink::Tx(bufs) => match bufs.get_mut(port as usize) {
            Some(Some(buf)) => {
                if tap.is_on() {
                    tap.record(Point::Tx, port, m.data(), m.pkt_len(), None);
                }
                tally.port(port, PortStat::TxBytes, m.len() as u64);
                if let Some(r) = buf.push(m) {
                    count_tx(tally, port, r);
                }
            }
            _ => drop_seen(tally, tap, m, Reason::TxQueueFull),
        },
        Sink::Inject(q) => {
            // The worker counts it when it sends it.
            if let Err(TrySendError::Full(i) | TrySendError::Disconnected(i)) =
                q.try_send(Injected { pkt: m, port })
            {
                drop_seen(tally, tap, i.pkt, Reason::TxQueueFull);
            }
        }
    }
}

/// [`Egress::drop_pkt`] for the helpers that hold the tally and tap apart.
fn drop_seen(tally: &mut Tally, tap: &mut Tap, m: Mbuf, reason: Reason) {
    let port = m.in_port();
    tally.drop(port, reason);
    if tap.is_on() {
        tap.record(Point::Drop, port, m.data(), m.pkt_len(), Some(reason));
    }
}

/// Copies every packet of `b` for a capture of `point` on `port`.
#[cold]
#[inline(never)]
fn capture_burst(tap: &mut Tap, point: Point, port: u16, b: &MbufBurst) {
    if !tap.wants(point, port) {
        return;
    }
    for i in 0..b.len() {
        if let Some(m) = b.get(i) {
            tap.record(point, port, m.data(), m.pkt_len(), None);
        }
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
