//! Egress shaping: a token bucket filter per port with the semantics of Linux's `tbf`
//! qdisc (net/sched/sch_tbf.c; tc-tbf(8)), set up with tc's parameters and units.
//!
//! What Linux does, and so what this does:
//! - A packet longer than `burst` can never collect enough tokens and is dropped on
//!   arrival (`tbf_enqueue`: `qdisc_pkt_len(skb) > q->max_size`).
//! - Otherwise it joins a byte-limited FIFO (tbf's default child is a `bfifo` of `limit`
//!   bytes): if the bytes already waiting plus its own exceed `limit`, it is dropped.
//! - The head of the FIFO leaves when the bucket holds at least its length in tokens;
//!   tokens refill at `rate` and the bucket holds at most `burst` bytes (`tbf_dequeue`).
//!   So an idle port lets `burst` bytes through at line speed, then `rate`.
//! - Lengths are what Linux's `qdisc_pkt_len` is for an Ethernet device: the frame from
//!   the destination MAC to the end of the payload, without FCS, preamble or gap (our
//!   mbuf's length). A 1500-byte IP packet costs 1514 bytes of tokens.
//! - `limit` may be given as `latency` instead: tc derives `limit = rate * latency +
//!   burst` (iproute2 tc/q_tbf.c). The longest a packet waits is `limit / rate`, i.e.
//!   `latency + burst / rate` (the queue can be full while the bucket is empty).
//! - `peakrate`/`mtu` (a second, smaller bucket at a higher rate) are not implemented:
//!   the shared bucket below is one atomic word, and a second bucket could not be
//!   updated in the same compare-and-swap.
//!
//! Shape of the implementation:
//! - The control side publishes per-port [`TbfParams`] in [`Qdiscs`] (in the workers'
//!   `Shared`): a table of `Arc<TbfBucket>` behind an `ArcSwap`, plus a version counter
//!   that workers compare once per poll round (one relaxed load when nothing changed).
//! - The bucket is shared by every worker sending on the port, without locks: a GCRA
//!   ("virtual scheduling", ITU-T I.371) over one `AtomicU64`, the theoretical arrival
//!   time `tat` in TSC cycles. The bucket holds `burst - (tat - now) * rate` bytes, full
//!   when `tat <= now`. A worker takes tokens for as many head-of-line packets as fit
//!   with one compare-and-swap per poll round (not per packet), so the combined rate of
//!   all workers is `rate`, however flows are spread over them. A per-worker split of
//!   the rate (`rate / N` each) would be simpler but gives a single flow, which RSS
//!   keeps on one worker, only `rate / N`.
//! - Each worker keeps its own FIFO (it owns its TX queues): a ring allocated when the
//!   qdisc is set, never on the fast path. With N workers each may hold `limit / N`
//!   bytes, so the port's total backlog, and with it the delay bound, stays `limit`.
//! - Costs are computed in 32.32 fixed-point cycles per byte; each worker carries its
//!   fraction of a cycle from one claim to the next, so rounding never accumulates.
use super::counters::{QdiscStat, SharedCounters, MAX_PORTS};
use super::Reason;
use arc_swap::ArcSwap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Lowest rate accepted, bit/s (1kbit).
pub const MIN_RATE: u64 = 1_000;
/// Highest rate accepted, bit/s (1tbit).
pub const MAX_RATE: u64 = 1_000_000_000_000;
/// Largest burst or limit accepted, bytes (1 GiB; Linux keeps them in 32 bits).
pub const MAX_BYTES: u64 = 1 << 30;
/// Longest latency accepted, microseconds (10 s).
pub const MAX_LATENCY_US: u64 = 10_000_000;
/// Smallest Ethernet frame without FCS (ETH_ZLEN): sizes the FIFO's ring, which thus
/// holds at least `limit` bytes of minimum-size frames.
const MIN_FRAME: u64 = 60;
/// Packets one worker moves out of one qdisc per poll round at most.
const MAX_DEQUEUE: usize = 64;
/// Compare-and-swap attempts per round before leaving the tokens to the other workers.
const CAS_TRIES: usize = 4;
/// Fraction bits of the fixed-point cycle counts.
const FRAC: u32 = 32;

// ---------------------------------------------------------------------------------------
// tc's units (tc(8) "UNITS"; iproute2 lib/utils_math.c get_rate64/get_size64,
// tc/tc_util.c get_time). Suffixes are case-insensitive, numbers may have decimals.

/// Rate suffixes and their bits per second; a bare number is bit/s. Note `kbps` is
/// kilo*bytes* per second in tc.
const RATE_UNITS: &[(&str, f64)] = &[
    ("bit", 1.0),
    ("kibit", 1024.0),
    ("kbit", 1e3),
    ("mibit", 1048576.0),
    ("mbit", 1e6),
    ("gibit", 1073741824.0),
    ("gbit", 1e9),
    ("tibit", 1099511627776.0),
    ("tbit", 1e12),
    ("bps", 8.0),
    ("kibps", 8.0 * 1024.0),
    ("kbps", 8e3),
    ("mibps", 8.0 * 1048576.0),
    ("mbps", 8e6),
    ("gibps", 8.0 * 1073741824.0),
    ("gbps", 8e9),
    ("tibps", 8.0 * 1099511627776.0),
    ("tbps", 8e12),
];

/// Size suffixes and their bytes; a bare number is bytes. tc's sizes are binary:
/// `kb` = 1024 bytes, `kbit` = 1024 bits.
const SIZE_UNITS: &[(&str, f64)] = &[
    ("b", 1.0),
    ("k", 1024.0),
    ("kb", 1024.0),
    ("m", 1048576.0),
    ("mb", 1048576.0),
    ("g", 1073741824.0),
    ("gb", 1073741824.0),
    ("kbit", 128.0),
    ("mbit", 131072.0),
    ("gbit", 134217728.0),
];

/// Time suffixes and their microseconds; a bare number is microseconds.
const TIME_UNITS: &[(&str, f64)] = &[
    ("s", 1e6),
    ("sec", 1e6),
    ("secs", 1e6),
    ("ms", 1e3),
    ("msec", 1e3),
    ("msecs", 1e3),
    ("us", 1.0),
    ("usec", 1.0),
    ("usecs", 1.0),
];

fn parse_unit(s: &str, units: &[(&str, f64)], what: &str, examples: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let bad = || format!("{s:?} is not a {what} (e.g. {examples})");
    let n: f64 = num.parse().map_err(|_| bad())?;
    let scale = if suffix.is_empty() {
        1.0
    } else {
        units
            .iter()
            .find(|(u, _)| u.eq_ignore_ascii_case(suffix))
            .map(|(_, f)| *f)
            .ok_or_else(|| format!("{s:?}: unknown unit {suffix:?} (e.g. {examples})"))?
    };
    let v = n * scale;
    if !v.is_finite() || v >= u64::MAX as f64 {
        return Err(format!("{s:?} is too large"));
    }
    Ok(v as u64)
}

/// A rate in tc's syntax (`20mbit`, `1.5gbit`, `100kbps`), in bits per second.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    parse_unit(s, RATE_UNITS, "rate", "\"20mbit\", \"1gbit\", \"512kbit\"")
}

/// A size in tc's syntax (`32kb`, `1mb`, `1514`), in bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    parse_unit(s, SIZE_UNITS, "size", "\"32kb\", \"1mb\", \"1514b\"")
}

/// A time in tc's syntax (`50ms`, `1s`, `400us`), in microseconds.
pub fn parse_time_us(s: &str) -> Result<u64, String> {
    parse_unit(s, TIME_UNITS, "time", "\"50ms\", \"1s\", \"400us\"")
}

/// A rate as tc prints it (`20Mbit`).
pub fn fmt_rate(bps: u64) -> String {
    for (unit, div) in [("Tbit", 1e12), ("Gbit", 1e9), ("Mbit", 1e6), ("Kbit", 1e3)] {
        if bps as f64 >= div {
            return trim_float(bps as f64 / div, unit);
        }
    }
    format!("{bps}bit")
}

/// A size as tc prints it (`32Kb`, `1Mb`), in bytes when not a whole multiple (`1514b`).
pub fn fmt_size(bytes: u64) -> String {
    for (unit, div) in [("Gb", 1u64 << 30), ("Mb", 1 << 20), ("Kb", 1 << 10)] {
        if bytes >= div && bytes % div == 0 {
            return format!("{}{unit}", bytes / div);
        }
    }
    format!("{bytes}b")
}

/// A duration as tc prints it (`50ms`, `1.5s`, `400us`).
pub fn fmt_time_us(us: u64) -> String {
    if us >= 1_000_000 {
        trim_float(us as f64 / 1e6, "s")
    } else if us >= 1000 {
        trim_float(us as f64 / 1e3, "ms")
    } else {
        format!("{us}us")
    }
}

fn trim_float(v: f64, unit: &str) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}

// ---------------------------------------------------------------------------------------
// Parameters.

/// How much may wait: `limit` bytes, or what `latency` at `rate` amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Bytes(u64),
    LatencyUs(u64),
}

/// A tbf's settings, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TbfParams {
    /// Bits per second.
    pub rate: u64,
    /// Bucket size in bytes: the longest burst at line speed, and the largest packet
    /// that can pass.
    pub burst: u32,
    /// Bytes that may wait for tokens (over all workers).
    pub limit: u32,
    /// The latency `limit` was derived from, if it was given that way.
    pub latency_us: Option<u64>,
}

/// A bad tbf setting: the parameter (`rate`, `burst`, `limit`, `latency`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub key: &'static str,
    pub message: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl TbfParams {
    /// Checks tc-style settings for a port whose largest frame is `max_frame` bytes
    /// (MTU + Ethernet header). Unlike tc, a `burst` or `limit` smaller than the largest
    /// frame is refused: Linux would silently drop every such frame.
    pub fn new(rate: u64, burst: u64, limit: Limit, max_frame: u32) -> Result<Self, ParamError> {
        let err = |key, message: String| Err(ParamError { key, message });
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return err(
                "rate",
                format!(
                    "{} is out of range; must be {}..={}",
                    fmt_rate(rate),
                    fmt_rate(MIN_RATE),
                    fmt_rate(MAX_RATE)
                ),
            );
        }
        let max_frame = u64::from(max_frame);
        if burst < max_frame || burst > MAX_BYTES {
            return err(
                "burst",
                format!(
                    "{burst} bytes is out of range; must be from the port's largest frame \
                     ({max_frame} bytes: MTU + Ethernet header; larger packets could never \
                     collect enough tokens) to {}",
                    fmt_size(MAX_BYTES)
                ),
            );
        }
        let (limit, latency_us) = match limit {
            Limit::Bytes(b) => (b, None),
            Limit::LatencyUs(us) => {
                if us > MAX_LATENCY_US {
                    return err(
                        "latency",
                        format!(
                            "{} is out of range; must be at most {}",
                            fmt_time_us(us),
                            fmt_time_us(MAX_LATENCY_US)
                        ),
                    );
                }
                // tc/q_tbf.c: lim = rate (bytes/s) * latency + buffer.
                let lim = u128::from(rate / 8) * u128::from(us) / 1_000_000 + u128::from(burst);
                (u64::try_from(lim).unwrap_or(u64::MAX), Some(us))
            }
        };
        let key = if latency_us.is_some() {
            "latency"
        } else {
            "limit"
        };
        if limit < max_frame || limit > MAX_BYTES {
            return err(
                key,
                format!(
                    "limit {limit} bytes is out of range; must be from the port's largest frame \
                     ({max_frame} bytes; larger packets would all be dropped) to {}",
                    fmt_size(MAX_BYTES)
                ),
            );
        }
        Ok(TbfParams {
            rate,
            burst: burst as u32,
            limit: limit as u32,
            latency_us,
        })
    }

    /// The longest a packet can wait: `limit / rate`, in microseconds.
    pub fn max_delay_us(&self) -> u64 {
        (u128::from(self.limit) * 8 * 1_000_000 / u128::from(self.rate.max(1))) as u64
    }
}

impl fmt::Display for TbfParams {
    /// tc's words: `rate 20Mbit burst 32Kb limit 157768b` (plus `latency` if given so).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate {} burst {} limit {}b",
            fmt_rate(self.rate),
            fmt_size(u64::from(self.burst)),
            self.limit
        )?;
        if let Some(us) = self.latency_us {
            write!(f, " latency {}", fmt_time_us(us))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The shared bucket.

/// One port's token bucket, shared by all workers sending on it (see the module notes).
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
    pub fn set(&self, port: u16, params: Option<TbfParams>) -> Result<(), String> {
        let i = port as usize;
        if i >= MAX_PORTS {
            return Err(format!("port id {port} >= {MAX_PORTS}"));
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

// ---------------------------------------------------------------------------------------
// A worker's side: its FIFO per shaped port.

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
