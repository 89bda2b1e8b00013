//! Reassembly of datagrams addressed to the router (RFC 791 §3.2, "reassembly"; Linux
//! `ip_defrag` as called from `ip_local_deliver`, net/ipv4/ip_fragment.c). Forwarded
//! fragments are never reassembled.
//!
//! Where it runs: on the control thread. Workers punt fragments for the router's own
//! addresses (`Punt::Fragment`), so all fragments of a datagram meet in one table whichever
//! worker and RX queue received them, with any number of workers and any RSS hashing.
//! Local fragments are slow-path traffic (a timer per datagram, heap buffers up to 64 KiB),
//! like ARP; the workers keep their allocation-free loop.
//!
//! - Datagrams are keyed by (source, destination, identification, protocol) (RFC 791).
//! - Fragment data is copied out at once and the mbuf freed, so a fragment storm cannot
//!   pin packet buffers: the mbuf pool only ever sees the bounded punt queue.
//! - Pieces are kept by offset and never overlap. A fragment lying wholly inside one
//!   already received is a duplicate and ignored; any other overlap discards the whole
//!   datagram (RFC 5722 §4 for IPv6; Linux applies it to IPv4 since the FragmentSmack fix,
//!   CVE-2018-5391).
//! - Consistency as in Linux `ip_frag_queue`: data of a non-last fragment is cut to a
//!   multiple of 8; data past the last fragment's end, a second last fragment with another
//!   end, or a fragment without data discard the datagram. So does data past 65535 octets.
//! - Bounded: at most `max_datagrams` in progress and `max_bytes` of accounted memory:
//!   the data plus a fixed bookkeeping cost per piece and per datagram, so that tiny
//!   fragments cannot hide behind few bytes (the idea of Linux's truesize accounting).
//!   When a fragment would pass a bound, the oldest datagrams are evicted. (Linux refuses
//!   new fragments above `ipfrag_high_thresh` instead, which lets a storm lock legitimate
//!   datagrams out for a whole timeout; a legitimate datagram's fragments arrive close
//!   together, so evicting the oldest keeps it working under a storm.)
//! - A datagram times out `timeout_ms` after its first-arriving fragment (Linux
//!   `ipfrag_time`, 30 s). If its first fragment (offset 0) came, the caller gets that
//!   fragment's header and first 8 data octets to answer with ICMP time exceeded, code 1
//!   "fragment reassembly time exceeded" (RFC 792; Linux `ip_expire`).
use super::icmp_error::QUOTE_MAX;
use super::{HeapPacket, ReasmFail, Reason, Tally, ETH_HLEN};
use crate::wire::ipv4::{self, Ipv4Packet};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Largest IPv4 datagram: total length is 16 bits.
pub const MAX_DATAGRAM: usize = 65535;
/// Bookkeeping charged per piece and per datagram on top of the data.
pub const PIECE_COST: usize = 64;
pub const DATAGRAM_COST: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasmParams {
    pub timeout_ms: u64,
    pub max_bytes: usize,
    pub max_datagrams: usize,
}

impl Default for ReasmParams {
    /// Linux's `ipfrag_time` (30 s) and `ipfrag_high_thresh` (4 MiB).
    fn default() -> Self {
        ReasmParams {
            timeout_ms: 30_000,
            max_bytes: 4 << 20,
            max_datagrams: 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: u32,
    dst: u32,
    ident: u16,
    proto: u8,
}

struct Piece {
    data: Box<[u8]>,
    /// The port it arrived on (drops are counted there).
    port: u16,
}

/// The first fragment's headers and where it came from.
struct First {
    /// Ethernet header + IP header with all options.
    header: Box<[u8]>,
    port: u16,
    l2_bcast: bool,
}

struct Datagram {
    serial: u64,
    created_ms: u64,
    first: Option<First>,
    /// Data length, known once the last fragment (MF clear) came.
    total: Option<usize>,
    /// Largest end offset received.
    max_end: usize,
    /// Data octets received (pieces never overlap).
    received: usize,
    pieces: BTreeMap<usize, Piece>,
    /// Accounted memory.
    bytes: usize,
}

/// What became of a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Kept; its datagram is not complete yet.
    Held,
    /// It completed its datagram: here it is, as received with its first fragment's
    /// Ethernet and IP headers (flags and offset cleared, length and checksum set),
    /// counted against the first fragment's port.
    Complete { pkt: HeapPacket, l2_bcast: bool },
    /// Dropped, and counted, with whatever else of its datagram went with it.
    Dropped,
}

/// A datagram that timed out with its first fragment: the quote for ICMP time exceeded.
#[derive(Debug, PartialEq, Eq)]
pub struct Expired {
    /// Ethernet + IP header of the first fragment + its first 8 data octets.
    pub quote: HeapPacket,
    pub l2_bcast: bool,
}

enum Check {
    Duplicate,
    Fail(ReasmFail),
}

/// The reassembly table of the control thread.
pub struct Reassembler {
    params: ReasmParams,
    table: HashMap<Key, Datagram>,
    /// Datagrams by age (serial numbers grow): timeouts and evictions take the oldest.
    order: BTreeMap<u64, Key>,
    serial: u64,
    bytes: usize,
}

impl Reassembler {
    pub fn new(params: ReasmParams) -> Reassembler {
        Reassembler {
            params,
            table: HashMap::new(),
            order: BTreeMap::new(),
            serial: 0,
            bytes: 0,
        }
    }

    /// Accounted memory of the datagrams in progress (never above `max_bytes`).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Datagrams in progress (never above `max_datagrams`).
    pub fn datagrams(&self) -> usize {
        self.table.len()
    }

    /// Takes one fragment (Ethernet frame of a packet `ip4_input` accepted, MF set or
    /// offset not 0) that arrived on `in_port` at `now_ms`. Counts in `t`.
    pub fn insert(
        &mut self,
        frame: &[u8],
        in_port: u16,
        l2_bcast: bool,
        now_ms: u64,
        t: &mut Tally,
    ) -> Verdict {
        t.reasm_fragments += 1;
        let Some(Ok(ip)) = frame.get(ETH_HLEN..).map(Ipv4Packet::new_checked) else {
            t.drop(in_port, Reason::Ip4HdrTruncated);
            return Verdict::Dropped;
        };
        let hlen = ip.header_len();
        let total_len = usize::from(ip.total_len());
        if hlen < ipv4::MIN_HEADER_LEN || total_len < hlen || ETH_HLEN + total_len > frame.len() {
            t.drop(in_port, Reason::Ip4BadTotalLength);
            return Verdict::Dropped;
        }
        let key = Key {
            src: ip.src_u32(),
            dst: ip.dst_u32(),
            ident: ip.ident(),
            proto: ip.protocol(),
        };
        let off = usize::from(ip.frag_offset());
        let mf = ip.more_frags();
        let mut len = total_len - hlen;
        if mf {
            // RFC 791: fragments but the last carry a multiple of 8 octets; Linux cuts
            // the excess.
            len &= !7;
        }
        let end = off + len;
        if end + hlen > MAX_DATAGRAM {
            return self.fail(key, ReasmFail::Oversize, in_port, t);
        }
        match check(self.table.get(&key), off, end, mf) {
            Ok(()) => {}
            Err(Check::Duplicate) => {
                t.drop(in_port, Reason::Ip4ReasmDuplicate);
                return Verdict::Dropped;
            }
            Err(Check::Fail(kind)) => return self.fail(key, kind, in_port, t),
        }

        let new = !self.table.contains_key(&key);
        if new {
            while self.table.len() >= self.params.max_datagrams && self.evict_oldest(None, t) {}
        }
        let header_len = ETH_HLEN + hlen;
        let cost = len
            + PIECE_COST
            + if off == 0 { header_len } else { 0 }
            + if new { DATAGRAM_COST } else { 0 };
        while self.bytes + cost > self.params.max_bytes && self.evict_oldest(Some(key), t) {}
        if self.bytes + cost > self.params.max_bytes {
            // This datagram alone is over the bound.
            return self.fail(key, ReasmFail::Evicted, in_port, t);
        }
        if new {
            self.serial += 1;
            self.order.insert(self.serial, key);
            self.table.insert(
                key,
                Datagram {
                    serial: self.serial,
                    created_ms: now_ms,
                    first: None,
                    total: None,
                    max_end: 0,
                    received: 0,
                    pieces: BTreeMap::new(),
                    bytes: 0,
                },
            );
        }
        let Some(d) = self.table.get_mut(&key) else {
            t.drop(in_port, Reason::Ip4ReasmEvicted);
            return Verdict::Dropped;
        };
        let data = &frame[header_len..header_len + len];
        d.pieces.insert(
            off,
            Piece {
                data: data.into(),
                port: in_port,
            },
        );
        d.received += len;
        d.max_end = d.max_end.max(end);
        if !mf {
            d.total = Some(end);
        }
        if off == 0 {
            d.first = Some(First {
                header: frame[..header_len].into(),
                port: in_port,
                l2_bcast,
            });
        }
        d.bytes += cost;
        self.bytes += cost;
        if d.total != Some(d.received) {
            return Verdict::Held;
        }
        // No overlaps and every piece within the total: the data is all there, offset 0
        // (the first fragment) included.
        let Some(d) = self.remove(key) else {
            return Verdict::Held;
        };
        match assemble(&d) {
            Ok((pkt, l2_bcast)) => {
                t.reasm_ok += 1;
                Verdict::Complete { pkt, l2_bcast }
            }
            Err(kind) => {
                discard(d, kind, t);
                Verdict::Dropped
            }
        }
    }

    /// Discards the datagrams older than the timeout, counting their fragments; for each
    /// that had its first fragment, `on_timeout` gets the quote for ICMP time exceeded.
    pub fn expire(&mut self, now_ms: u64, t: &mut Tally, mut on_timeout: impl FnMut(Expired)) {
        while let Some((_, &key)) = self.order.first_key_value() {
            let expired = self.table.get(&key).map_or(true, |d| {
                now_ms.saturating_sub(d.created_ms) >= self.params.timeout_ms
            });
            if !expired {
                break;
            }
            let Some(d) = self.remove(key) else {
                // Cannot happen (table and order change together); do not spin on it.
                self.order.pop_first();
                continue;
            };
            let quote = d.first.as_ref().map(|f| {
                let mut buf = f.header.to_vec();
                if let Some(p) = d.pieces.get(&0) {
                    // As much as an ICMP error quotes (RFC 1812 §4.3.2.3).
                    let room = QUOTE_MAX.saturating_sub(f.header.len().saturating_sub(ETH_HLEN));
                    buf.extend_from_slice(&p.data[..p.data.len().min(room)]);
                }
                Expired {
                    quote: HeapPacket::from_vec(buf, f.port),
                    l2_bcast: f.l2_bcast,
                }
            });
            discard(d, ReasmFail::Timeout, t);
            if let Some(q) = quote {
                on_timeout(q);
            }
        }
    }

    fn remove(&mut self, key: Key) -> Option<Datagram> {
        let d = self.table.remove(&key)?;
        self.order.remove(&d.serial);
        self.bytes -= d.bytes;
        Some(d)
    }

    /// Gives up `key`'s datagram (if any) and the fragment in hand.
    fn fail(&mut self, key: Key, kind: ReasmFail, in_port: u16, t: &mut Tally) -> Verdict {
        match self.remove(key) {
            Some(d) => discard(d, kind, t),
            None => t.reasm_fail[kind as usize] += 1,
        }
        t.drop(in_port, kind.reason());
        Verdict::Dropped
    }

    /// Evicts the oldest datagram other than `except`; false if there is none.
    fn evict_oldest(&mut self, except: Option<Key>, t: &mut Tally) -> bool {
        let Some(key) = self.order.values().find(|k| Some(**k) != except).copied() else {
            return false;
        };
        match self.remove(key) {
            Some(d) => {
                discard(d, ReasmFail::Evicted, t);
                true
            }
            None => false,
        }
    }
}

/// Is the fragment `[off, end)` consistent with what `d` already holds?
fn check(d: Option<&Datagram>, off: usize, end: usize, mf: bool) -> Result<(), Check> {
    let inconsistent = Err(Check::Fail(ReasmFail::Inconsistent));
    let Some(d) = d else {
        return if end == off { inconsistent } else { Ok(()) };
    };
    if !mf {
        // The last fragment: nothing may lie beyond it, and there is only one end.
        if end < d.max_end || d.total.is_some_and(|t| t != end) {
            return inconsistent;
        }
    } else if d.total.is_some_and(|t| end > t) {
        return inconsistent;
    }
    if end == off {
        return inconsistent;
    }
    if let Some((&s, p)) = d.pieces.range(..=off).next_back() {
        let e = s + p.data.len();
        if e > off {
            return Err(if end <= e {
                Check::Duplicate
            } else {
                Check::Fail(ReasmFail::Overlap)
            });
        }
    }
    if let Some((&s, _)) = d.pieces.range(off + 1..).next() {
        if s < end {
            return Err(Check::Fail(ReasmFail::Overlap));
        }
    }
    Ok(())
}

/// Counts every fragment of a datagram given up, and the datagram.
fn discard(d: Datagram, kind: ReasmFail, t: &mut Tally) {
    t.reasm_fail[kind as usize] += 1;
    for p in d.pieces.values() {
        t.drop(p.port, kind.reason());
    }
}

/// The whole datagram: the first fragment's headers, then the data in order.
fn assemble(d: &Datagram) -> Result<(HeapPacket, bool), ReasmFail> {
    let (Some(first), Some(total)) = (&d.first, d.total) else {
        return Err(ReasmFail::Inconsistent);
    };
    let hlen = first.header.len() - ETH_HLEN;
    // The first fragment's header may be longer than the one the check used.
    if hlen + total > MAX_DATAGRAM {
        return Err(ReasmFail::Oversize);
    }
    let mut buf = Vec::with_capacity(first.header.len() + total);
    buf.extend_from_slice(&first.header);
    for p in d.pieces.values() {
        buf.extend_from_slice(&p.data);
    }
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[ETH_HLEN..]);
        let df = ip.dont_frag();
        ip.set_total_len((hlen + total) as u16);
        ip.set_frag(df, false, 0);
        ip.fill_checksum();
    }
    Ok((HeapPacket::from_vec(buf, first.port), first.l2_bcast))
}

/// The reassembly table's size for readers on other threads (metrics, counters).
#[derive(Debug, Default)]
pub struct ReasmGauges {
    bytes: AtomicU64,
    datagrams: AtomicU64,
}

impl ReasmGauges {
    /// The control thread only (single writer).
    pub fn publish(&self, r: &Reassembler) {
        self.bytes.store(r.bytes() as u64, Relaxed);
        self.datagrams.store(r.datagrams() as u64, Relaxed);
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }

    pub fn datagrams(&self) -> u64 {
        self.datagrams.load(Relaxed)
    }
}

#[cfg(test)]
mod tests;
