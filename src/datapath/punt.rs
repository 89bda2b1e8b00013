//! The hand-off from the workers to the control thread (VPP's punt, with its policers):
//! a bounded queue per kind of work, and a token bucket per ingress port and kind in
//! front of it. ARP the router needs (from a neighbour it knows or is resolving, see
//! [`NeighSnapshot::knows`](crate::neigh::NeighSnapshot::knows)) has a queue and buckets
//! of its own, so unsolicited ARP cannot crowd it out; malformed ARP and ARP for other
//! hosts are dropped here and never reach the control thread. A worker never waits:
//! what a bucket or a full queue refuses is dropped and counted by its reason.
//!
//! The buckets are per worker: a port polled by N workers (RSS) is allowed N times the
//! configured rate.
use super::arp_input::arp_for_us;
use super::egress::Egress;
use super::pipeline::{LocalFragment, Unresolved};
use super::token_bucket::TokenBucket;
use super::{PortCtx, Reason, MAX_PORTS};
use crate::dpdk::{rdtsc, Mbuf};
use crate::neigh::NeighCursor;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

/// The kinds of punted work, each with its own bucket per port and queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PuntKind {
    /// ARP from a neighbour the router knows or is resolving.
    ArpKnown = 0,
    /// Other ARP for one of the router's addresses.
    Arp = 1,
    /// A packet waiting for its next hop's MAC.
    Resolve = 2,
    /// A fragment for the router, to reassembly.
    Fragment = 3,
    /// Traffic for the router the datapath does not answer (TCP, UDP, OSPF...), to the
    /// port's kernel twin (issue 14's exception path, off unless `SlowPath::to_host`).
    Host = 4,
}

const KINDS: usize = 5;

impl PuntKind {
    fn policed(self) -> Reason {
        match self {
            PuntKind::ArpKnown => Reason::PuntArpKnownPoliced,
            PuntKind::Arp => Reason::PuntArpPoliced,
            PuntKind::Resolve => Reason::PuntResolvePoliced,
            PuntKind::Fragment => Reason::PuntFragPoliced,
            PuntKind::Host => Reason::PuntHostPoliced,
        }
    }
}

/// A rate (packets per second, 0 unlimited) and the burst saved up for a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub pps: u32,
    pub burst: u32,
}

/// The limits of every kind, per port and worker (the `[punt]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PuntLimits {
    pub arp_known: Limit,
    pub arp: Limit,
    pub resolve: Limit,
    pub frag: Limit,
}

impl Default for PuntLimits {
    /// Per port and worker. Unsolicited ARP is the one kind with a tight default: a
    /// host sends a handful a minute, and each one costs the control thread a table
    /// update. The others are well above what a link of hosts needs and well below what
    /// the control thread handles (see the README, "Floods").
    fn default() -> Self {
        PuntLimits {
            arp_known: Limit {
                pps: 10_000,
                burst: 1_000,
            },
            arp: Limit {
                pps: 1_000,
                burst: 100,
            },
            resolve: Limit {
                pps: 10_000,
                burst: 1_000,
            },
            frag: Limit {
                pps: 20_000,
                burst: 2_000,
            },
        }
    }
}

impl PuntLimits {
    fn of(&self, kind: PuntKind) -> Limit {
        match kind {
            PuntKind::ArpKnown => self.arp_known,
            PuntKind::Arp => self.arp,
            PuntKind::Resolve => self.resolve,
            PuntKind::Fragment => self.frag,
            // Never used: the limit comes from `SlowPath::to_host`, and nothing is
            // punted as Host while it is off (`SlowPath::host_on`).
            PuntKind::Host => Limit { pps: 0, burst: 0 },
        }
    }
}

/// Queue capacities, in packets.
const ARP_QUEUE: usize = 1024;
const RESOLVE_QUEUE: usize = 4096;
const FRAG_QUEUE: usize = 1024;
const HOST_QUEUE: usize = 4096;

/// The control thread's ends of the queues.
pub struct PuntRx {
    pub arp_known: Receiver<Mbuf>,
    pub arp: Receiver<Mbuf>,
    pub resolve: Receiver<Unresolved>,
    pub frags: Receiver<LocalFragment>,
    /// For the kernel twins; empty while the exception path is off.
    pub host: Receiver<Mbuf>,
}

/// The senders, shared by all workers.
#[derive(Clone)]
struct PuntTx {
    arp_known: SyncSender<Mbuf>,
    arp: SyncSender<Mbuf>,
    resolve: SyncSender<Unresolved>,
    frags: SyncSender<LocalFragment>,
    host: SyncSender<Mbuf>,
}

/// A worker's way to the control thread: the queues and its own buckets.
pub struct SlowPath {
    tx: PuntTx,
    limits: PuntLimits,
    /// The exception path's limit; `None` while it is off (then local delivery answers
    /// as a host with no sockets: TCP reset, port unreachable).
    host: Option<Limit>,
    hz: u64,
    /// By DPDK port id, then kind; created on a port's first punt.
    buckets: Vec<Option<[TokenBucket; KINDS]>>,
}

/// The queues: the first worker's [`SlowPath`] (others take [`SlowPath::for_worker`])
/// and the control thread's ends.
pub fn queues(limits: PuntLimits, tsc_hz: u64) -> (SlowPath, PuntRx) {
    let (arp_known, arp_known_rx) = sync_channel(ARP_QUEUE);
    let (arp, arp_rx) = sync_channel(ARP_QUEUE);
    let (resolve, resolve_rx) = sync_channel(RESOLVE_QUEUE);
    let (frags, frags_rx) = sync_channel(FRAG_QUEUE);
    let (host, host_rx) = sync_channel(HOST_QUEUE);
    let tx = PuntTx {
        arp_known,
        arp,
        resolve,
        frags,
        host,
    };
    let rx = PuntRx {
        arp_known: arp_known_rx,
        arp: arp_rx,
        resolve: resolve_rx,
        frags: frags_rx,
        host: host_rx,
    };
    (SlowPath::new(tx, limits, None, tsc_hz), rx)
}

/// Sends or drops; a full or closed queue drops, counted as `full`.
fn offer<T>(
    q: &SyncSender<T>,
    eg: &mut Egress,
    item: T,
    port: u16,
    full: Reason,
    pkt: fn(T) -> Mbuf,
) {
    match q.try_send(item) {
        Ok(()) => eg.tally.punted += 1,
        Err(TrySendError::Full(i) | TrySendError::Disconnected(i)) => {
            eg.drop_on(port, pkt(i), full)
        }
    }
}

impl SlowPath {
    fn new(tx: PuntTx, limits: PuntLimits, host: Option<Limit>, hz: u64) -> SlowPath {
        SlowPath {
            tx,
            limits,
            host,
            hz,
            buckets: (0..MAX_PORTS).map(|_| None).collect(),
        }
    }

    /// The same queues, with buckets of its own, for another worker.
    pub fn for_worker(&self) -> SlowPath {
        SlowPath::new(self.tx.clone(), self.limits, self.host, self.hz)
    }

    /// Turns the exception path on, policed at `limit` per port (call before
    /// [`SlowPath::for_worker`]: the other workers take the setting).
    pub fn to_host(&mut self, limit: Limit) {
        self.host = Some(limit);
        // Buckets already made used the "off" limit.
        self.buckets.iter_mut().for_each(|b| *b = None);
    }

    /// True if what the datapath does not answer goes to the kernel twins.
    #[inline]
    pub fn host_on(&self) -> bool {
        self.host.is_some()
    }

    /// Takes a token of `kind` for ingress `port`.
    fn allow(&mut self, port: u16, kind: PuntKind) -> bool {
        let Some(slot) = self.buckets.get_mut(usize::from(port)) else {
            return false;
        };
        let now = rdtsc();
        let (limits, host, hz) = (self.limits, self.host, self.hz);
        let buckets = slot.get_or_insert_with(|| {
            let b = |k| {
                let l = match (k, host) {
                    (PuntKind::Host, Some(l)) => l,
                    _ => limits.of(k),
                };
                TokenBucket::new(l.pps, l.burst, hz, now)
            };
            [
                b(PuntKind::ArpKnown),
                b(PuntKind::Arp),
                b(PuntKind::Resolve),
                b(PuntKind::Fragment),
                b(PuntKind::Host),
            ]
        });
        buckets[kind as usize].take(now)
    }

    /// An ARP frame received on `pc`: checked, classified, policed and queued.
    pub fn arp(&mut self, eg: &mut Egress, m: Mbuf, pc: &PortCtx, neigh: &NeighCursor) {
        let port = pc.id;
        let sender = match arp_for_us(m.data(), pc) {
            Ok(ip) => ip,
            Err(r) => return eg.drop_on(port, m, r),
        };
        let kind = if neigh.knows(port, sender) {
            PuntKind::ArpKnown
        } else {
            PuntKind::Arp
        };
        if !self.allow(port, kind) {
            return eg.drop_on(port, m, kind.policed());
        }
        let (q, full) = match kind {
            PuntKind::ArpKnown => (&self.tx.arp_known, Reason::PuntArpKnownQueueFull),
            _ => (&self.tx.arp, Reason::PuntArpQueueFull),
        };
        offer(q, eg, m, port, full, |m| m);
    }

    /// A packet whose next hop has no usable neighbour entry, policed on the port it
    /// came in on.
    pub fn resolve(&mut self, eg: &mut Egress, u: Option<Unresolved>) {
        let Some(u) = u else {
            return;
        };
        let port = u.pkt.in_port();
        if !self.allow(port, PuntKind::Resolve) {
            return eg.drop_on(port, u.pkt, Reason::PuntResolvePoliced);
        }
        offer(
            &self.tx.resolve,
            eg,
            u,
            port,
            Reason::PuntResolveQueueFull,
            |u| u.pkt,
        );
    }

    /// A fragment addressed to the router, for reassembly.
    pub fn fragment(&mut self, eg: &mut Egress, f: LocalFragment) {
        let port = f.pkt.in_port();
        if !self.allow(port, PuntKind::Fragment) {
            return eg.drop_on(port, f.pkt, Reason::PuntFragPoliced);
        }
        offer(&self.tx.frags, eg, f, port, Reason::ReasmQueueFull, |f| {
            f.pkt
        });
    }

    /// A packet for the router the datapath does not answer, with its L2 header, to the
    /// kernel twin of the port it came in on (the control thread writes it to the TAP).
    pub fn host(&mut self, eg: &mut Egress, m: Mbuf) {
        let port = m.in_port();
        if !self.allow(port, PuntKind::Host) {
            return eg.drop_on(port, m, Reason::PuntHostPoliced);
        }
        offer(&self.tx.host, eg, m, port, Reason::PuntHostQueueFull, |m| m);
    }
}
