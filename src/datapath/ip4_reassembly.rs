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
mod tests {
    use super::*;
    use crate::datapath::testutil::*;
    use crate::datapath::PortStat;

    const ID: u16 = 0x1234;

    /// A fragment of datagram `ID` from 10.0.1.2 to the router: `data` at `off`.
    fn frag(off: u16, mf: bool, data: &[u8]) -> Vec<u8> {
        frag_of(ID, off, mf, data)
    }

    fn frag_of(id: u16, off: u16, mf: bool, data: &[u8]) -> Vec<u8> {
        let mut f = ip_frame([10, 0, 1, 2], [10, 0, 1, 1], 1, 64, data);
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.set_ident(id);
        ip.set_frag(false, mf, off);
        ip.fill_checksum();
        f
    }

    /// `n` octets of recognisable data starting at datagram offset `at`.
    fn data(at: usize, n: usize) -> Vec<u8> {
        (at..at + n).map(|i| (i % 251) as u8).collect()
    }

    struct T {
        r: Reassembler,
        t: Tally,
        now: u64,
    }

    impl T {
        fn new() -> T {
            T::with(ReasmParams::default())
        }
        fn with(p: ReasmParams) -> T {
            T {
                r: Reassembler::new(p),
                t: Tally::default(),
                now: 0,
            }
        }
        fn put(&mut self, f: &[u8]) -> Verdict {
            let v = self.r.insert(f, 1, false, self.now, &mut self.t);
            assert!(self.r.bytes() <= self.r.params.max_bytes);
            assert!(self.r.datagrams() <= self.r.params.max_datagrams);
            v
        }
        fn drops(&self, r: Reason) -> u64 {
            self.t.drops_of(r)
        }
        fn failed(&self, k: ReasmFail) -> u64 {
            self.t.reasm_fail[k as usize]
        }
        fn empty(&self) -> bool {
            self.r.datagrams() == 0 && self.r.bytes() == 0 && self.r.order.is_empty()
        }
    }

    /// Checks a reassembled datagram: headers, and data 0..n as `data()` makes it.
    fn assert_whole(v: Verdict, n: usize) -> HeapPacket {
        let Verdict::Complete { pkt, l2_bcast } = v else {
            panic!("not complete: {v:?}");
        };
        assert!(!l2_bcast);
        let ip = Ipv4Packet::new_checked(&pkt.buf[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.total_len() as usize, 20 + n);
        assert_eq!(pkt.buf.len(), 14 + 20 + n);
        assert!(!ip.more_frags() && ip.frag_offset() == 0);
        assert_eq!(ip.ident(), ID);
        assert_eq!(ip.payload(), data(0, n));
        pkt
    }

    /// Fragments of a datagram of `n` octets cut every `step` (a multiple of 8).
    fn cut(n: usize, step: usize) -> Vec<Vec<u8>> {
        (0..n)
            .step_by(step)
            .map(|o| {
                let len = step.min(n - o);
                frag(o as u16, o + len < n, &data(o, len))
            })
            .collect()
    }

    #[test]
    fn in_order() {
        let mut t = T::new();
        let fs = cut(4008, 1480);
        assert_eq!(fs.len(), 3);
        assert_eq!(t.put(&fs[0]), Verdict::Held);
        assert_eq!(t.put(&fs[1]), Verdict::Held);
        assert_eq!((t.r.datagrams(), t.r.bytes() > 2960), (1, true));
        let pkt = assert_whole(t.put(&fs[2]), 4008);
        assert_eq!(pkt.port, 1);
        assert_eq!(
            &pkt.buf[..14],
            &fs[0][..14],
            "first fragment's Ethernet header"
        );
        assert!(t.empty());
        assert_eq!((t.t.reasm_ok, t.t.reasm_fragments), (1, 3));
        assert_eq!(t.t.port_stat(1, PortStat::Dropped), 0);
    }

    #[test]
    fn out_of_order() {
        for order in [[2, 1, 0], [1, 2, 0], [2, 0, 1], [0, 2, 1]] {
            let mut t = T::new();
            let fs = cut(1000, 400);
            assert_eq!(t.put(&fs[order[0]]), Verdict::Held);
            assert_eq!(t.put(&fs[order[1]]), Verdict::Held);
            assert_whole(t.put(&fs[order[2]]), 1000);
            assert!(t.empty());
        }
    }

    #[test]
    fn first_fragment_options_and_df_are_kept() {
        let mut t = T::new();
        let mut f0 = frag(0, true, &data(0, 16));
        // Insert a 4-octet option (NOP x3, EOL) into the first fragment only.
        f0.splice(34..34, [1, 1, 1, 0]);
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut f0[14..]);
            ip.set_version_ihl(4, 6);
            ip.set_total_len(24 + 16);
            ip.set_frag(true, true, 0);
            ip.fill_checksum();
        }
        assert_eq!(t.put(&f0), Verdict::Held);
        let Verdict::Complete { pkt, .. } = t.put(&frag(16, false, &data(16, 5))) else {
            panic!("not complete");
        };
        let ip = Ipv4Packet::new_checked(&pkt.buf[14..]).unwrap();
        assert_eq!(ip.header_len(), 24);
        assert_eq!(ip.options(), [1, 1, 1, 0]);
        assert!(ip.dont_frag() && !ip.more_frags());
        assert!(ip.verify_checksum());
        assert_eq!(ip.payload(), data(0, 21));
    }

    #[test]
    fn duplicates_are_dropped_and_the_datagram_kept() {
        let mut t = T::new();
        let fs = cut(1000, 400);
        assert_eq!(t.put(&fs[0]), Verdict::Held);
        assert_eq!(t.put(&fs[0]), Verdict::Dropped);
        // Wholly inside a received piece is a duplicate too.
        assert_eq!(t.put(&frag(8, true, &data(8, 16))), Verdict::Dropped);
        assert_eq!(t.put(&fs[2]), Verdict::Held);
        assert_eq!(t.put(&fs[2]), Verdict::Dropped);
        assert_whole(t.put(&fs[1]), 1000);
        assert_eq!(t.drops(Reason::Ip4ReasmDuplicate), 3);
        assert_eq!(t.t.reasm_fail.iter().sum::<u64>(), 0);
        assert!(t.empty());
    }

    #[test]
    fn overlaps_discard_the_whole_datagram() {
        // Partly over the end of a piece, over its start, and across two pieces.
        for second in [
            frag(8, true, &data(8, 16)),
            frag(0, true, &data(0, 24)),
            frag(16, true, &data(16, 32)),
        ] {
            let mut t = T::new();
            assert_eq!(t.put(&frag(0, true, &data(0, 16))), Verdict::Held);
            assert_eq!(t.put(&frag(24, true, &data(24, 16))), Verdict::Held);
            assert_eq!(t.put(&second), Verdict::Dropped);
            assert_eq!(
                t.drops(Reason::Ip4ReasmOverlap),
                3,
                "both held and the new one"
            );
            assert_eq!(t.t.port_stat(1, PortStat::Dropped), 3);
            assert_eq!(t.failed(ReasmFail::Overlap), 1);
            assert!(t.empty());
            // What comes after starts a new datagram.
            assert_eq!(t.put(&frag(40, false, &data(40, 8))), Verdict::Held);
        }
    }

    #[test]
    fn missing_pieces_wait_then_time_out_with_icmp_quote() {
        let mut t = T::new();
        let fs = cut(1000, 400);
        assert_eq!(t.put(&fs[0]), Verdict::Held);
        assert_eq!(t.put(&fs[2]), Verdict::Held);
        let mut expired = Vec::new();
        t.r.expire(29_999, &mut t.t, |e| expired.push(e));
        assert!(expired.is_empty());
        assert_eq!(t.r.datagrams(), 1);
        t.r.expire(30_000, &mut t.t, |e| expired.push(e));
        assert_eq!(expired.len(), 1);
        assert!(t.empty());
        assert_eq!(t.drops(Reason::Ip4ReasmTimeout), 2);
        assert_eq!(t.failed(ReasmFail::Timeout), 1);
        // The quote: the first fragment, as much as an ICMP error quotes (400 < 548).
        let q = &expired[0].quote;
        assert_eq!(q.buf.len(), 14 + 20 + 400);
        assert_eq!(&q.buf[..], &fs[0][..14 + 20 + 400]);
        assert_eq!(q.port, 1);
    }

    #[test]
    fn timeout_without_first_fragment_sends_nothing() {
        let mut t = T::new();
        t.now = 100;
        assert_eq!(t.put(&frag(400, true, &data(400, 400))), Verdict::Held);
        t.now = 20_000;
        assert_eq!(t.put(&frag_of(7, 400, true, &data(400, 8))), Verdict::Held);
        let mut expired = Vec::new();
        t.r.expire(30_100, &mut t.t, |e| expired.push(e));
        assert!(expired.is_empty());
        assert_eq!(t.r.datagrams(), 1, "the younger one stays");
        assert_eq!(t.drops(Reason::Ip4ReasmTimeout), 1);
        t.r.expire(50_000, &mut t.t, |e| expired.push(e));
        assert!(t.empty() && expired.is_empty());
    }

    #[test]
    fn inconsistent_fragments_discard_the_datagram() {
        // Fragments (offset, MF, length): all but the last are held, the last is refused.
        type Case = (&'static [(u16, bool, usize)], &'static str);
        let cases: [Case; 4] = [
            // Data past the last fragment's end.
            (&[(0, true, 16), (24, false, 8), (32, true, 8)], "past end"),
            // A last fragment that ends before data already received.
            (
                &[(0, true, 16), (32, true, 8), (16, false, 8)],
                "end before data",
            ),
            // Two different ends.
            (&[(16, false, 8), (24, false, 8)], "two ends"),
            // No data.
            (&[(0, true, 16), (16, true, 0)], "empty"),
        ];
        for (frags, what) in cases {
            let mut t = T::new();
            let n = frags.len();
            for (i, &(off, mf, len)) in frags.iter().enumerate() {
                let v = t.put(&frag(off, mf, &data(off as usize, len)));
                let want = if i + 1 < n {
                    Verdict::Held
                } else {
                    Verdict::Dropped
                };
                assert_eq!(v, want, "{what}: fragment {i}");
            }
            assert_eq!(t.drops(Reason::Ip4ReasmInconsistent), n as u64, "{what}");
            assert_eq!(t.failed(ReasmFail::Inconsistent), 1, "{what}");
            assert!(t.empty(), "{what}");
        }
    }

    #[test]
    fn non_last_fragments_are_cut_to_8_octets() {
        let mut t = T::new();
        // 13 octets with MF: 8 are kept (Linux does the same).
        assert_eq!(t.put(&frag(0, true, &data(0, 13))), Verdict::Held);
        assert_whole(t.put(&frag(8, false, &data(8, 4))), 12);
    }

    #[test]
    fn datagrams_over_65535_octets_are_dropped() {
        let mut t = T::new();
        assert_eq!(t.put(&frag(0, true, &data(0, 64))), Verdict::Held);
        // Offset 65528 + 16 octets + 20 of header: the "ping of death".
        let pod = frag(65528, false, &data(0, 16));
        assert_eq!(t.put(&pod), Verdict::Dropped);
        assert_eq!(t.drops(Reason::Ip4Oversize), 2);
        assert_eq!(t.failed(ReasmFail::Oversize), 1);
        assert!(t.empty());
        // Alone, it fails too (nothing held).
        assert_eq!(t.put(&pod), Verdict::Dropped);
        assert_eq!(t.failed(ReasmFail::Oversize), 2);
        // Exactly 65535 is fine: 20 + 65515 octets of data.
        let fs = cut(65515, 21840);
        assert_eq!(fs.len(), 3);
        assert!(t.put(&fs[0]) == Verdict::Held);
        assert!(t.put(&fs[1]) == Verdict::Held);
        let Verdict::Complete { pkt, .. } = t.put(&fs[2]) else {
            panic!("65535 octets not reassembled");
        };
        assert_eq!(pkt.buf.len(), 14 + 65535);
        // Each fragment fits, but the first one's 40 octets of options push the whole
        // past 65535.
        let mut f0 = frag(0, true, &data(0, 32760));
        f0.splice(34..34, [1u8; 40]);
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut f0[14..]);
            ip.set_version_ihl(4, 15);
            ip.set_total_len(60 + 32760);
            ip.fill_checksum();
        }
        assert!(t.put(&f0) == Verdict::Held);
        assert!(t.put(&frag(32760, false, &data(32760, 32752))) == Verdict::Dropped);
        assert_eq!(t.failed(ReasmFail::Oversize), 3);
        assert!(t.empty());
    }

    #[test]
    fn datagram_limit_evicts_the_oldest() {
        let mut t = T::with(ReasmParams {
            max_datagrams: 2,
            ..ReasmParams::default()
        });
        for id in 1..=3 {
            assert_eq!(t.put(&frag_of(id, 0, true, &data(0, 8))), Verdict::Held);
        }
        assert_eq!(t.r.datagrams(), 2);
        assert_eq!(t.drops(Reason::Ip4ReasmEvicted), 1);
        assert_eq!(t.failed(ReasmFail::Evicted), 1);
        // Datagram 1 is gone: its last fragment starts a new one; 3 is intact.
        assert!(t.put(&frag_of(3, 8, false, &data(8, 8))).is_complete());
        assert_eq!(t.put(&frag_of(1, 8, false, &data(8, 8))), Verdict::Held);
        assert_eq!(t.drops(Reason::Ip4ReasmEvicted), 1);
        // A fourth makes room by evicting the oldest (2), not the newer 1.
        assert_eq!(t.put(&frag_of(4, 0, true, &data(0, 8))), Verdict::Held);
        assert_eq!(t.drops(Reason::Ip4ReasmEvicted), 2);
        assert!(t.put(&frag_of(1, 0, true, &data(0, 8))).is_complete());
        assert_eq!(t.r.datagrams(), 1);
    }

    #[test]
    fn memory_limit_evicts_the_oldest_and_bounds_bytes() {
        let per = 1000 + PIECE_COST + 14 + 20 + DATAGRAM_COST;
        let mut t = T::with(ReasmParams {
            max_bytes: 3 * per,
            ..ReasmParams::default()
        });
        for id in 1..=10 {
            assert_eq!(t.put(&frag_of(id, 0, true, &data(0, 1000))), Verdict::Held);
            assert!(t.r.bytes() <= 3 * per);
        }
        assert_eq!(t.r.datagrams(), 3);
        assert_eq!(t.r.bytes(), 3 * per);
        assert_eq!(t.failed(ReasmFail::Evicted), 7);
        // The newest are the ones kept.
        assert!(t
            .put(&frag_of(10, 1000, false, &data(1000, 8)))
            .is_complete());
        // A datagram larger than the whole bound fails by itself.
        let mut t = T::with(ReasmParams {
            max_bytes: 3000,
            ..ReasmParams::default()
        });
        assert_eq!(t.put(&frag(0, true, &data(0, 2000))), Verdict::Held);
        assert_eq!(
            t.put(&frag(2000, true, &data(2000, 2000))),
            Verdict::Dropped
        );
        assert_eq!(t.drops(Reason::Ip4ReasmEvicted), 2);
        assert!(t.empty());
    }

    #[test]
    fn many_tiny_fragments_are_charged_bookkeeping() {
        let mut t = T::with(ReasmParams {
            max_bytes: 100 * (8 + PIECE_COST) + 14 + 20 + DATAGRAM_COST,
            ..ReasmParams::default()
        });
        for i in 0..100u16 {
            assert_eq!(t.put(&frag(i * 8, true, &data(0, 8))), Verdict::Held);
        }
        assert_eq!(t.put(&frag(800, true, &data(0, 8))), Verdict::Dropped);
        assert_eq!(t.drops(Reason::Ip4ReasmEvicted), 101);
    }

    #[test]
    fn keys_keep_datagrams_apart() {
        let mut t = T::new();
        let a = frag(0, true, &data(0, 8));
        let mut b = a.clone();
        b[14 + 9] = 17; // another protocol
        Ipv4Packet::new_unchecked(&mut b[14..]).fill_checksum();
        let mut c = a.clone();
        c[14 + 15] = 3; // another source
        Ipv4Packet::new_unchecked(&mut c[14..]).fill_checksum();
        for f in [&a, &b, &c] {
            assert_eq!(t.put(f), Verdict::Held);
        }
        assert_eq!(t.r.datagrams(), 3);
        assert_eq!(t.drops(Reason::Ip4ReasmDuplicate), 0);
    }

    impl Verdict {
        fn is_complete(&self) -> bool {
            matches!(self, Verdict::Complete { .. })
        }
    }
}
