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
