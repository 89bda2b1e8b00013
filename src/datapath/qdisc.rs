//! Egress shaping: a token bucket filter per port with the semantics of Linux's `tbf`
//! qdisc (net/sched/sch_tbf.c; tc-tbf(8)), set up with tc's parameters and units.
//!
//! This file holds what the control side publishes and every worker shares: the port's
//! bucket ([`TbfBucket`], a lock-free GCRA over one atomic word) and the table of them
//! ([`Qdiscs`]). `units.rs` parses and prints tc's units, `params.rs` checks a tbf's
//! settings ([`TbfParams`]), `local.rs` is a worker's side ([`QdiscSet`]: its FIFO per
//! shaped port).
//!
//! What Linux does and so what this does, and the shape of the implementation:
//! `docs/design/qdisc.md`.

mod local;
mod params;
mod units;

pub use local::QdiscSet;
pub use params::{Limit, ParamError, TbfParams, MAX_BYTES, MAX_LATENCY_US, MAX_RATE, MIN_RATE};
pub use units::{
    fmt_rate, fmt_size, fmt_time_us, parse_rate, parse_size, parse_time_us, UnitError,
};

use super::counters::{QdiscStat, SharedCounters, MAX_PORTS};
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Smallest Ethernet frame without FCS (ETH_ZLEN): sizes the FIFO's ring, which thus
/// holds at least `limit` bytes of minimum-size frames.
const MIN_FRAME: u64 = 60;
/// Packets one worker moves out of one qdisc per poll round at most.
const MAX_DEQUEUE: usize = 64;
/// Fraction bits of the fixed-point cycle counts.
const FRAC: u32 = 32;

/// One port's token bucket, shared by all workers sending on it (design: `docs/design/qdisc.md`).
#[derive(Debug)]
pub struct TbfBucket {
    pub params: TbfParams,
    /// TSC cycles per byte at `rate`, 32.32 fixed point.
    cycles_per_byte: u64,
    /// The bucket's depth in cycles: `burst` bytes' worth, plus one cycle so that the
    /// carried fraction can never keep a `burst`-sized packet out.
    depth: u64,
    /// GCRA theoretical arrival time (TSC cycles): tokens are `depth - (tat - now)`
    /// cycles' worth while `tat > now`, a full bucket otherwise.
    tat: AtomicU64,
    /// Bytes each worker may hold (`limit` split over the workers).
    worker_limit: u64,
    /// Slots of each worker's FIFO ring.
    slots: usize,
    tsc_hz: u64,
}

impl TbfBucket {
    /// A full bucket for `params` with the TSC at `tsc_hz`, shared by `workers` workers
    /// whose FIFOs need not hold more than `max_pkts` packets (the mempool's size).
    pub fn new(params: TbfParams, tsc_hz: u64, workers: u32, max_pkts: u32) -> TbfBucket {
        let hz = tsc_hz.max(1);
        let cpb = ((u128::from(hz) * 8) << FRAC) / u128::from(params.rate.max(1));
        let cycles_per_byte = u64::try_from(cpb).unwrap_or(u64::MAX).max(1);
        let depth = ((u128::from(params.burst) * u128::from(cycles_per_byte)) >> FRAC) as u64 + 1;
        let workers = u64::from(workers.max(1));
        let limit = u64::from(params.limit);
        // Never below one burst (or the limit, if smaller), so that every packet that
        // can pass can also wait.
        let worker_limit = (limit / workers).max(limit.min(u64::from(params.burst)));
        let slots = worker_limit.div_ceil(MIN_FRAME).clamp(
            MAX_DEQUEUE as u64,
            u64::from(max_pkts.max(MAX_DEQUEUE as u32)),
        ) as usize;
        TbfBucket {
            params,
            cycles_per_byte,
            depth,
            tat: AtomicU64::new(0),
            worker_limit,
            slots,
            tsc_hz: hz,
        }
    }

    /// The cost of `len` bytes, in cycles << FRAC.
    #[inline]
    fn cost(&self, len: u32) -> u128 {
        u128::from(len) * u128::from(self.cycles_per_byte)
    }

    /// Bytes in the bucket at TSC time `now`.
    pub fn tokens(&self, now: u64) -> u64 {
        let debt = self.tat.load(Ordering::Relaxed).saturating_sub(now);
        let cycles = self.depth.saturating_sub(debt);
        let bytes = (u128::from(cycles) << FRAC) / u128::from(self.cycles_per_byte);
        (bytes as u64).min(u64::from(self.params.burst))
    }

    /// Bytes one worker may hold waiting.
    pub fn worker_limit(&self) -> u64 {
        self.worker_limit
    }

    pub fn tsc_hz(&self) -> u64 {
        self.tsc_hz
    }
}

/// Why a qdisc could not be set or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QdiscError {
    /// The port id is beyond the table of qdiscs (`MAX_PORTS` entries).
    #[error("port id {port} >= {MAX_PORTS}")]
    PortOutOfRange {
        /// The port id given.
        port: u16,
    },
}

/// The qdisc of every port, by DPDK port id.
pub type QdiscTable = [Option<Arc<TbfBucket>>; MAX_PORTS];

/// Per-port qdiscs as the control side publishes them and the workers read them.
pub struct Qdiscs {
    table: ArcSwap<QdiscTable>,
    /// Bumped after every change; a worker compares it with the version it applied.
    version: AtomicU64,
    tsc_hz: u64,
    workers: u32,
    max_pkts: u32,
}

impl Qdiscs {
    /// No qdisc anywhere; buckets will run on a TSC of `tsc_hz`, shared by `workers`,
    /// with FIFOs of at most `max_pkts` packets.
    pub fn new(tsc_hz: u64, workers: u32, max_pkts: u32) -> Qdiscs {
        Qdiscs {
            table: ArcSwap::from_pointee(std::array::from_fn(|_| None)),
            version: AtomicU64::new(0),
            tsc_hz,
            workers,
            max_pkts,
        }
    }

    /// Sets (`Some`, replacing any, with a full bucket as Linux's `tbf_change` does) or
    /// deletes (`None`) the qdisc of `port`. Workers pick it up at their next poll round:
    /// packets waiting in the old qdisc move to the new one (those over its limit are
    /// dropped as `qdisc_overlimit`) or, on delete, go out unshaped.
    pub fn set(&self, port: u16, params: Option<TbfParams>) -> Result<(), QdiscError> {
        let i = port as usize;
        if i >= MAX_PORTS {
            return Err(QdiscError::PortOutOfRange { port });
        }
        let bucket =
            params.map(|p| Arc::new(TbfBucket::new(p, self.tsc_hz, self.workers, self.max_pkts)));
        self.table.rcu(|t| {
            let mut t: QdiscTable = (**t).clone();
            t[i] = bucket.clone();
            t
        });
        self.version.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// The qdisc of `port`, if any.
    pub fn get(&self, port: u16) -> Option<Arc<TbfBucket>> {
        self.table.load().get(port as usize).cloned().flatten()
    }

    /// Ports with a qdisc, by id.
    pub fn all(&self) -> Vec<(u16, Arc<TbfBucket>)> {
        let t = self.table.load();
        (0..MAX_PORTS as u16)
            .zip(t.iter())
            .filter_map(|(p, b)| Some((p, Arc::clone(b.as_ref()?))))
            .collect()
    }

    /// Every qdisc with its counters and backlog summed over `counters` (every lcore's)
    /// and its tokens at TSC time `now`. Counters count since the router started, not
    /// since the qdisc was last replaced.
    pub fn status<'a>(
        &self,
        counters: impl IntoIterator<Item = &'a SharedCounters>,
        now: u64,
    ) -> Vec<QdiscStatus> {
        let all = self.all();
        if all.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<QdiscStatus> = all
            .into_iter()
            .map(|(port, b)| QdiscStatus {
                port,
                params: b.params,
                sent_bytes: 0,
                sent_packets: 0,
                dropped: 0,
                backlog_bytes: 0,
                backlog_packets: 0,
                tokens: b.tokens(now),
            })
            .collect();
        for c in counters {
            let t = c.read();
            for s in &mut out {
                s.sent_bytes += t.qdisc_stat(s.port, QdiscStat::SentBytes);
                s.sent_packets += t.qdisc_stat(s.port, QdiscStat::SentPackets);
                s.dropped += t.qdisc_stat(s.port, QdiscStat::Dropped);
                let (bytes, packets) = c.backlog(s.port);
                s.backlog_bytes += bytes;
                s.backlog_packets += packets;
            }
        }
        out
    }
}

/// One port's qdisc as `ferroute qdisc` and the metrics show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QdiscStatus {
    pub port: u16,
    pub params: TbfParams,
    pub sent_bytes: u64,
    pub sent_packets: u64,
    pub dropped: u64,
    pub backlog_bytes: u64,
    pub backlog_packets: u64,
    /// Bytes in the bucket now.
    pub tokens: u64,
}

impl QdiscStatus {
    /// `tc -s qdisc show`-like text, one qdisc, named `port_name`.
    pub fn render(&self, port_name: &str) -> String {
        format!(
            "qdisc tbf dev {port_name} {}\n Sent {} bytes {} pkt (dropped {})\n backlog {}b {}p tokens {}b\n",
            self.params,
            self.sent_bytes,
            self.sent_packets,
            self.dropped,
            self.backlog_bytes,
            self.backlog_packets,
            self.tokens
        )
    }
}

#[cfg(test)]
mod tests;
