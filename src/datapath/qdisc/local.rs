//! A worker's side of the qdiscs: its FIFO per shaped port over the shared buckets,
//! dequeued as the bucket's tokens allow.

use super::{Qdiscs, TbfBucket, FRAC, MAX_DEQUEUE};
use crate::datapath::counters::MAX_PORTS;
use crate::datapath::Reason;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Compare-and-swap attempts per round before leaving the tokens to the other workers.
const CAS_TRIES: usize = 4;

/// A bounded FIFO ring of packets and their lengths, allocated once.
struct Fifo<P> {
    pkts: Box<[Option<P>]>,
    lens: Box<[u32]>,
    head: usize,
    len: usize,
}

impl<P> Fifo<P> {
    fn new(slots: usize) -> Fifo<P> {
        let slots = slots.max(1);
        Fifo {
            pkts: (0..slots).map(|_| None).collect(),
            lens: vec![0; slots].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    #[inline]
    fn slot(&self, i: usize) -> usize {
        let s = self.head + i;
        if s >= self.pkts.len() {
            s - self.pkts.len()
        } else {
            s
        }
    }

    #[inline]
    fn push(&mut self, p: P, len: u32) -> Result<(), P> {
        if self.len >= self.pkts.len() {
            return Err(p);
        }
        let s = self.slot(self.len);
        match (self.pkts.get_mut(s), self.lens.get_mut(s)) {
            (Some(slot), Some(l)) => {
                *slot = Some(p);
                *l = len;
                self.len += 1;
                Ok(())
            }
            _ => Err(p),
        }
    }

    /// Length of the `i`-th packet from the head.
    #[inline]
    fn len_at(&self, i: usize) -> u32 {
        self.lens.get(self.slot(i)).copied().unwrap_or(0)
    }

    #[inline]
    fn pop(&mut self) -> Option<(P, u32)> {
        if self.len == 0 {
            return None;
        }
        let s = self.head;
        let p = self.pkts.get_mut(s)?.take()?;
        let len = self.lens.get(s).copied().unwrap_or(0);
        self.head = self.slot(1);
        self.len -= 1;
        Some((p, len))
    }
}

/// One worker's view of one shaped port.
struct LocalTbf<P> {
    bucket: Arc<TbfBucket>,
    fifo: Fifo<P>,
    /// Bytes waiting in `fifo`.
    backlog: u64,
    /// Fraction of a cycle (<< FRAC) owed from the last claim.
    carry: u128,
}

/// What a dequeue attempt found.
enum Dequeued {
    /// The FIFO is empty.
    Empty,
    /// The head may leave at this TSC time (or the next round, under contention).
    Wait(u64),
}

impl<P> LocalTbf<P> {
    fn new(bucket: Arc<TbfBucket>) -> LocalTbf<P> {
        let fifo = Fifo::new(bucket.slots);
        LocalTbf {
            bucket,
            fifo,
            backlog: 0,
            carry: 0,
        }
    }

    /// Linux `tbf_enqueue` + `bfifo_enqueue`: too big for the bucket, or over the limit,
    /// is dropped; anything else waits.
    #[inline]
    fn enqueue(&mut self, p: P, len: u32) -> Result<(), (P, Reason)> {
        if len > self.bucket.params.burst {
            return Err((p, Reason::QdiscExceedsBurst));
        }
        if self.backlog + u64::from(len) > self.bucket.worker_limit {
            return Err((p, Reason::QdiscOverlimit));
        }
        match self.fifo.push(p, len) {
            Ok(()) => {
                self.backlog += u64::from(len);
                Ok(())
            }
            Err(p) => Err((p, Reason::QdiscOverlimit)),
        }
    }

    /// Linux `tbf_dequeue`, for as many head packets as the shared bucket allows, with
    /// one compare-and-swap: hands each to `out` and says when to come back.
    fn dequeue(&mut self, now: u64, out: &mut impl FnMut(P, u32)) -> Dequeued {
        let LocalTbf {
            bucket,
            fifo,
            backlog,
            carry,
        } = self;
        let b: &TbfBucket = bucket;
        let mut sent = 0;
        for _ in 0..CAS_TRIES {
            if fifo.len == 0 {
                return Dequeued::Empty;
            }
            if sent >= MAX_DEQUEUE {
                // More next round; the tokens are not lost unless the bucket fills.
                return Dequeued::Wait(now);
            }
            let tat = b.tat.load(Ordering::Relaxed);
            let base = tat.max(now);
            // Cycles' worth of tokens in the bucket: depth - (base - now).
            let budget = now.saturating_add(b.depth).saturating_sub(base);
            let mut fine = *carry;
            let mut n = 0;
            while n < fifo.len && sent + n < MAX_DEQUEUE {
                let f = fine + b.cost(fifo.len_at(n));
                if (f >> FRAC) as u64 > budget {
                    break;
                }
                fine = f;
                n += 1;
            }
            if n == 0 {
                // The head fits once depth - (tat - t) >= need, i.e. at t = tat + need - depth.
                let need = ((fine + b.cost(fifo.len_at(0))) >> FRAC) as u64;
                let due = tat.saturating_add(need).saturating_sub(b.depth);
                return Dequeued::Wait(due.max(now));
            }
            let charge = (fine >> FRAC) as u64;
            if b.tat
                .compare_exchange_weak(tat, base + charge, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                // Another worker took tokens meanwhile: look again.
                continue;
            }
            *carry = fine & ((1u128 << FRAC) - 1);
            for _ in 0..n {
                if let Some((p, len)) = fifo.pop() {
                    *backlog -= u64::from(len);
                    out(p, len);
                }
            }
            sent += n;
        }
        if fifo.len == 0 {
            Dequeued::Empty
        } else {
            Dequeued::Wait(now)
        }
    }
}

/// One worker's qdiscs: a FIFO per shaped port over the shared buckets. A port without
/// a qdisc costs the caller one bit test ([`QdiscSet::is_shaped`]).
pub struct QdiscSet<P> {
    ports: [Option<LocalTbf<P>>; MAX_PORTS],
    /// Bit `p` set: port `p` has a qdisc.
    shaped: u32,
    /// Bit `p` set: port `p` has packets waiting.
    backlogged: u32,
    /// The [`Qdiscs`] version applied.
    version: u64,
}

impl<P> Default for QdiscSet<P> {
    fn default() -> Self {
        QdiscSet {
            ports: std::array::from_fn(|_| None),
            shaped: 0,
            backlogged: 0,
            version: 0,
        }
    }
}

impl<P> QdiscSet<P> {
    /// Does `port` have a qdisc? The only cost the unshaped path pays.
    #[inline(always)]
    pub fn is_shaped(&self, port: u16) -> bool {
        self.shaped.checked_shr(u32::from(port)).unwrap_or(0) & 1 != 0
    }

    /// Are packets waiting anywhere?
    #[inline]
    pub fn has_backlog(&self) -> bool {
        self.backlogged != 0
    }

    /// Queues `p` (`len` bytes on the wire) on `port`'s qdisc, or hands it back with the
    /// reason it must be dropped. Only for ports where `is_shaped` holds.
    #[inline]
    pub fn enqueue(&mut self, port: u16, p: P, len: u32) -> Result<(), (P, Reason)> {
        match self.ports.get_mut(port as usize) {
            Some(Some(q)) => {
                q.enqueue(p, len)?;
                self.backlogged |= 1 << port;
                Ok(())
            }
            // Not shaped after all: nothing to queue on; the caller sends it.
            _ => Err((p, Reason::QdiscOverlimit)),
        }
    }

    /// Sends what the buckets allow from every backlogged port through `out(port, pkt,
    /// len)`. Returns the earliest TSC time a waiting packet may leave (`None`: nothing
    /// waits).
    pub fn service(&mut self, now: u64, out: &mut impl FnMut(u16, P, u32)) -> Option<u64> {
        let mut next: Option<u64> = None;
        let mut pending = self.backlogged;
        while pending != 0 {
            let port = pending.trailing_zeros() as u16;
            pending &= pending - 1;
            let Some(Some(q)) = self.ports.get_mut(port as usize) else {
                self.backlogged &= !(1 << port);
                continue;
            };
            match q.dequeue(now, &mut |p, len| out(port, p, len)) {
                Dequeued::Empty => self.backlogged &= !(1 << port),
                Dequeued::Wait(t) => next = Some(next.map_or(t, |n| n.min(t))),
            }
        }
        next
    }

    /// Applies the published qdiscs if they changed since the last call (one atomic load
    /// otherwise). A replaced qdisc's waiting packets move to the new one in order, those
    /// over its limit going to `out` as `Err(reason)` (to be dropped); a deleted qdisc's
    /// go to `out` as `Ok(len)`, to be sent unshaped. Returns true if anything changed.
    pub fn sync(
        &mut self,
        qdiscs: &Qdiscs,
        out: &mut impl FnMut(u16, P, Result<u32, Reason>),
    ) -> bool {
        let v = qdiscs.version.load(Ordering::Acquire);
        if v == self.version {
            return false;
        }
        self.version = v;
        let table = qdiscs.table.load_full();
        for (i, (slot, new)) in self.ports.iter_mut().zip(table.iter()).enumerate() {
            let same = match (&*slot, new) {
                (Some(old), Some(new)) => Arc::ptr_eq(&old.bucket, new),
                (None, None) => true,
                _ => false,
            };
            if same {
                continue;
            }
            let port = i as u16;
            let mut fresh = new.as_ref().map(|b| LocalTbf::new(Arc::clone(b)));
            if let Some(mut old) = slot.take() {
                while let Some((p, len)) = old.fifo.pop() {
                    match &mut fresh {
                        Some(f) => {
                            if let Err((p, r)) = f.enqueue(p, len) {
                                out(port, p, Err(r));
                            }
                        }
                        None => out(port, p, Ok(len)),
                    }
                }
            }
            let bit = 1u32 << i;
            self.shaped &= !bit;
            self.backlogged &= !bit;
            if let Some(f) = &fresh {
                self.shaped |= bit;
                if f.fifo.len > 0 {
                    self.backlogged |= bit;
                }
            }
            *slot = fresh;
        }
        true
    }

    /// Bytes and packets waiting on `port` in this worker.
    pub fn backlog(&self, port: u16) -> (u64, u64) {
        match self.ports.get(port as usize) {
            Some(Some(q)) => (q.backlog, q.fifo.len as u64),
            _ => (0, 0),
        }
    }

    /// Ports with a qdisc, as a bit mask.
    pub fn shaped_mask(&self) -> u32 {
        self.shaped
    }
}
