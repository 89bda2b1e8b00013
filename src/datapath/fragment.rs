//! Fragmentation (RFC 791 §2.3 and §3.2 "An Example Fragmentation Procedure", RFC 1812
//! §5.2.6; Linux `ip_do_fragment`): a datagram longer than the egress MTU whose DF flag is
//! clear leaves as fragments, each a new packet from the caller's allocator.
//!
//! - Every fragment but the last carries a multiple of 8 data octets; offsets count from
//!   the original datagram, so an input that is itself a fragment keeps its offset, and
//!   its MF flag survives on the last piece.
//! - The first fragment carries all the options; the others only those whose copy flag
//!   (bit 7 of the option type) is set, padded with End of Option List to a multiple of 4
//!   octets (RFC 791 §3.1 "Options").
//! - Each header's total length and checksum are recomputed; everything else (TOS,
//!   identification, TTL, protocol, addresses) is copied.
//!
//! All fragments are built before any is handed on: if the allocator runs dry midway the
//! ones built so far are dropped (freed) and the caller drops the datagram.
use super::{Packet, Reason, ETH_HLEN};
use crate::wire::ipv4::{self, Ipv4Packet};

/// Option types with a length octet follow; these two are single octets (RFC 791).
const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
/// The copy flag of an option type: copy into all fragments.
const OPT_COPIED: u8 = 0x80;
/// Largest IPv4 header (IHL 15).
const MAX_HEADER_LEN: usize = 60;
/// Largest offset + length of a datagram's data: total length is 16 bits.
const MAX_DATAGRAM: usize = 65535;

/// The options of a header that go into every fragment but the first, padded to a
/// multiple of 4 octets: (bytes, length).
fn copied_options(opts: &[u8]) -> ([u8; MAX_HEADER_LEN - ipv4::MIN_HEADER_LEN], usize) {
    let mut out = [OPT_EOL; MAX_HEADER_LEN - ipv4::MIN_HEADER_LEN];
    let mut n = 0;
    let mut i = 0;
    while i < opts.len() {
        let t = opts[i];
        if t == OPT_EOL {
            break;
        }
        if t == OPT_NOP {
            i += 1;
            continue;
        }
        // A malformed length ends the parse: what follows cannot be told apart, and only
        // the first fragment carries it (a router does not judge options it passes on).
        let Some(&len) = opts.get(i + 1) else {
            break;
        };
        let len = usize::from(len);
        if len < 2 || i + len > opts.len() {
            break;
        }
        if t & OPT_COPIED != 0 {
            out[n..n + len].copy_from_slice(&opts[i..i + len]);
            n += len;
        }
        i += len;
    }
    (out, n.next_multiple_of(4))
}

/// Splits the IPv4 datagram in `frame` (Ethernet header first; the header is copied and
/// rewritten later by output) into fragments of at most `mtu` IP octets, appended to
/// `out` in order. Does not look at DF: the caller decides. A datagram that fits comes
/// out as one unchanged copy. On error `out` is left empty.
pub fn fragment<Q: Packet>(
    frame: &[u8],
    in_port: u16,
    mtu: u16,
    mut alloc: impl FnMut() -> Option<Q>,
    out: &mut Vec<Q>,
) -> Result<(), Reason> {
    out.clear();
    let r = build(frame, in_port, mtu, &mut alloc, out);
    if r.is_err() {
        // Frees what was built: nothing of the datagram leaves.
        out.clear();
    }
    r
}

fn build<Q: Packet>(
    frame: &[u8],
    in_port: u16,
    mtu: u16,
    alloc: &mut impl FnMut() -> Option<Q>,
    out: &mut Vec<Q>,
) -> Result<(), Reason> {
    let Some(Ok(ip)) = frame.get(ETH_HLEN..).map(Ipv4Packet::new_checked) else {
        return Err(Reason::Ip4HdrTruncated);
    };
    let hlen = ip.header_len();
    let total = usize::from(ip.total_len());
    if hlen < ipv4::MIN_HEADER_LEN || total < hlen {
        return Err(Reason::Ip4BadTotalLength);
    }
    if ETH_HLEN + total > frame.len() {
        return Err(Reason::Ip4Truncated);
    }
    let (df, orig_mf, orig_off) = (ip.dont_frag(), ip.more_frags(), ip.frag_offset());
    let orig_off = usize::from(orig_off);
    let payload = &frame[ETH_HLEN + hlen..ETH_HLEN + total];
    // Offsets must stay expressible (the "ping of death" shape cannot be cut further).
    if orig_off + payload.len() > MAX_DATAGRAM {
        return Err(Reason::Ip4Oversize);
    }
    let (opts, opts_len) = copied_options(ip.options());
    let rest_hlen = ipv4::MIN_HEADER_LEN + opts_len;

    let mut off = 0;
    loop {
        let Some(mut q) = alloc() else {
            return Err(Reason::Ip4FragNoMem);
        };
        let first = off == 0;
        let h = if first { hlen } else { rest_hlen };
        // The buffer may be smaller than the MTU (jumbo MTU, single-segment mbufs).
        let limit = usize::from(mtu).min(q.capacity().saturating_sub(ETH_HLEN));
        let room = limit.saturating_sub(h) & !7;
        if room == 0 {
            // Cannot happen for MTU >= 68 (RFC 791: 60 octets of header + 8 of data).
            return Err(Reason::Ip4FragNoMem);
        }
        let len = (payload.len() - off).min(room);
        let last = off + len == payload.len();
        if !q.set_len(ETH_HLEN + h + len) {
            return Err(Reason::Ip4FragNoMem);
        }
        let d = q.data_mut();
        d[..ETH_HLEN].copy_from_slice(&frame[..ETH_HLEN]);
        if first {
            d[ETH_HLEN..ETH_HLEN + hlen].copy_from_slice(&frame[ETH_HLEN..ETH_HLEN + hlen]);
        } else {
            d[ETH_HLEN..ETH_HLEN + ipv4::MIN_HEADER_LEN]
                .copy_from_slice(&frame[ETH_HLEN..ETH_HLEN + ipv4::MIN_HEADER_LEN]);
            d[ETH_HLEN + ipv4::MIN_HEADER_LEN..ETH_HLEN + h].copy_from_slice(&opts[..opts_len]);
        }
        d[ETH_HLEN + h..].copy_from_slice(&payload[off..off + len]);
        {
            let mut f = Ipv4Packet::new_unchecked(&mut d[ETH_HLEN..]);
            f.set_version_ihl(4, (h / 4) as u8);
            f.set_total_len((h + len) as u16);
            // MF on all but the last; the last keeps the input's own MF (RFC 791 §3.2).
            f.set_frag(df, !last || orig_mf, (orig_off + off) as u16);
            f.fill_checksum();
        }
        q.set_in_port(in_port);
        out.push(q);
        off += len;
        if last {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::testutil::*;
    use crate::datapath::TestPacket;

    fn alloc() -> Option<TestPacket> {
        Some(TestPacket::new(&[], 9))
    }

    fn frags(frame: &[u8], mtu: u16) -> Vec<TestPacket> {
        let mut out = Vec::new();
        fragment(frame, 3, mtu, alloc, &mut out).unwrap();
        out
    }

    /// A UDP-like datagram with `n` bytes of counting payload.
    fn datagram(n: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
        let mut f = ip_frame([10, 0, 1, 2], [10, 0, 2, 2], 17, 64, &payload);
        Ipv4Packet::new_unchecked(&mut f[14..]).set_frag(false, false, 0);
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        f
    }

    /// Inserts `opts` (a multiple of 4 bytes) after the fixed header.
    fn with_options(f: &[u8], opts: &[u8]) -> Vec<u8> {
        let mut g = f[..34].to_vec();
        g.extend_from_slice(opts);
        g.extend_from_slice(&f[34..]);
        let mut ip = Ipv4Packet::new_unchecked(&mut g[14..]);
        ip.set_version_ihl(4, ((20 + opts.len()) / 4) as u8);
        ip.set_total_len((f.len() - 14 + opts.len()) as u16);
        ip.fill_checksum();
        g
    }

    struct Piece {
        hlen: usize,
        off: usize,
        mf: bool,
        df: bool,
        opts: Vec<u8>,
        data: Vec<u8>,
    }

    /// Checks every fragment's header and returns what each carries.
    fn parse(fs: &[TestPacket], orig: &[u8]) -> Vec<Piece> {
        let o = Ipv4Packet::new_checked(&orig[14..]).unwrap();
        fs.iter()
            .map(|p| {
                let ip = Ipv4Packet::new_checked(&p.buf[14..]).unwrap();
                assert!(ip.verify_checksum());
                assert_eq!(ip.total_len() as usize, p.buf.len() - 14);
                assert_eq!(p.port, 3, "fragments count against the input port");
                assert_eq!(&p.buf[..14], &orig[..14]);
                assert_eq!(
                    (ip.ident(), ip.ttl(), ip.protocol(), ip.dscp_ecn()),
                    (o.ident(), o.ttl(), o.protocol(), o.dscp_ecn())
                );
                assert_eq!((ip.src_addr(), ip.dst_addr()), (o.src_addr(), o.dst_addr()));
                Piece {
                    hlen: ip.header_len(),
                    off: ip.frag_offset() as usize,
                    mf: ip.more_frags(),
                    df: ip.dont_frag(),
                    opts: ip.options().to_vec(),
                    data: ip.payload().to_vec(),
                }
            })
            .collect()
    }

    /// The fragments' data, put back by offset, is the original payload (starting at
    /// the original's own offset).
    fn rejoin(ps: &[Piece], base: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for p in ps {
            assert_eq!(p.off - base, v.len(), "contiguous, in order");
            v.extend_from_slice(&p.data);
        }
        v
    }

    #[test]
    fn splits_on_8_byte_boundaries_with_mf_on_all_but_last() {
        let f = datagram(1000);
        let ps = parse(&frags(&f, 300), &f);
        // 300 - 20 = 280, a multiple of 8: 280 + 280 + 280 + 160.
        let lens: Vec<usize> = ps.iter().map(|p| p.data.len()).collect();
        assert_eq!(lens, [280, 280, 280, 160]);
        let mfs: Vec<bool> = ps.iter().map(|p| p.mf).collect();
        assert_eq!(mfs, [true, true, true, false]);
        assert!(ps.iter().all(|p| !p.df && p.hlen == 20));
        assert!(ps.iter().all(|p| p.off % 8 == 0));
        assert_eq!(rejoin(&ps, 0), &f[34..]);
    }

    #[test]
    fn odd_sizes_round_fragment_data_down_to_8() {
        // MTU 577: 557 octets of room, 552 of them usable (69 * 8).
        let f = datagram(1001);
        let ps = parse(&frags(&f, 577), &f);
        let lens: Vec<usize> = ps.iter().map(|p| p.data.len()).collect();
        assert_eq!(lens, [552, 449]);
        assert_eq!(ps[1].off, 552);
        assert_eq!(rejoin(&ps, 0), &f[34..]);
        // A 1-byte tail gets its own fragment.
        let f = datagram(553);
        let lens: Vec<usize> = parse(&frags(&f, 577), &f)
            .iter()
            .map(|p| p.data.len())
            .collect();
        assert_eq!(lens, [552, 1]);
    }

    #[test]
    fn mtu_boundaries() {
        // Exactly the MTU: one unchanged copy.
        let f = datagram(1480);
        let fs = frags(&f, 1500);
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].buf, f);
        // One octet over: two fragments, the second carrying that octet.
        let f = datagram(1481);
        let ps = parse(&frags(&f, 1500), &f);
        let lens: Vec<usize> = ps.iter().map(|p| p.data.len()).collect();
        assert_eq!(lens, [1480, 1]);
        // Payload exactly two fragments' worth: the second is the last (MF clear).
        let f = datagram(2 * 1256);
        let ps = parse(&frags(&f, 1280), &f);
        assert_eq!(ps.len(), 2);
        assert_eq!((ps[0].mf, ps[1].mf), (true, false));
        assert_eq!(ps[1].off, 1256);
        // The smallest MTU (68) with the longest header: 8 octets per fragment.
        let f = with_options(&datagram(20), &[1; 40]);
        let ps = parse(&frags(&f, 68), &f);
        assert_eq!(ps[0].hlen, 60);
        assert_eq!(ps[0].data.len(), 8);
        // NOPs are not copied: the others have a bare header (room for 48 octets).
        assert_eq!((ps[1].hlen, ps[1].data.len()), (20, 12));
    }

    #[test]
    fn options_go_to_the_first_fragment_unless_copied() {
        // Record route (7, not copied, len 7) + router alert (0x94, copied, len 4) +
        // timestamp (0x44, not copied, len 8) + a copied unknown option (0x99, len 3),
        // NOP padding to 24 octets.
        let opts = [
            7, 7, 4, 0, 0, 0, 0, // RR
            0x94, 4, 0, 0, // router alert
            0x44, 8, 5, 0, 0, 0, 0, 0, // timestamp
            0x99, 3, 0xab, // copied
            1, 1, // NOP NOP
        ];
        assert_eq!(opts.len(), 24);
        let f = with_options(&datagram(600), &opts);
        let ps = parse(&frags(&f, 300), &f);
        assert_eq!(ps[0].hlen, 44);
        assert_eq!(ps[0].opts, opts, "the first fragment has every option");
        for p in &ps[1..] {
            // 4 + 3 copied octets, padded with EOL to 8.
            assert_eq!(p.hlen, 28);
            assert_eq!(p.opts, [0x94, 4, 0, 0, 0x99, 3, 0xab, 0]);
        }
        // Room: 300 - 44 = 256 in the first, 300 - 28 = 272 in the others.
        let lens: Vec<usize> = ps.iter().map(|p| p.data.len()).collect();
        assert_eq!(lens, [256, 272, 72]);
        assert_eq!(rejoin(&ps, 0), &f[14 + 44..]);
        // Without copied options the later headers shrink to 20 octets.
        let f = with_options(&datagram(600), &[7, 7, 4, 0, 0, 0, 0, 0]);
        let ps = parse(&frags(&f, 300), &f);
        assert_eq!((ps[0].hlen, ps[1].hlen), (28, 20));
        assert!(ps[1].opts.is_empty());
    }

    #[test]
    fn malformed_options_stay_in_the_first_fragment_only() {
        // Router alert (copied) then an option whose length runs past the header.
        let f = with_options(&datagram(600), &[0x94, 4, 0, 0, 0x83, 40, 0, 0]);
        let ps = parse(&frags(&f, 300), &f);
        assert_eq!(ps[0].hlen, 28);
        assert_eq!(ps[1].opts, [0x94, 4, 0, 0]);
        assert_eq!(rejoin(&ps, 0), &f[14 + 28..]);
    }

    #[test]
    fn already_fragmented_input_keeps_offset_and_mf() {
        // A middle fragment (offset 800, MF set): every piece has MF.
        let mut f = datagram(1000);
        Ipv4Packet::new_unchecked(&mut f[14..]).set_frag(false, true, 800);
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        let ps = parse(&frags(&f, 300), &f);
        assert!(ps.iter().all(|p| p.mf));
        let offs: Vec<usize> = ps.iter().map(|p| p.off).collect();
        assert_eq!(offs, [800, 1080, 1360, 1640]);
        assert_eq!(rejoin(&ps, 800), &f[34..]);
        // The last fragment of its datagram (MF clear): only the last piece clears MF.
        Ipv4Packet::new_unchecked(&mut f[14..]).set_frag(false, false, 800);
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        let mfs: Vec<bool> = parse(&frags(&f, 300), &f).iter().map(|p| p.mf).collect();
        assert_eq!(mfs, [true, true, true, false]);
    }

    #[test]
    fn offsets_past_65535_are_refused() {
        let mut f = datagram(1000);
        Ipv4Packet::new_unchecked(&mut f[14..]).set_frag(false, false, 65000);
        let mut out = Vec::new();
        assert_eq!(
            fragment(&f, 0, 300, alloc, &mut out),
            Err(Reason::Ip4Oversize)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn allocation_failure_drops_every_fragment() {
        let f = datagram(1000);
        let mut left = 2;
        let mut out = Vec::new();
        let r = fragment(
            &f,
            0,
            300,
            || {
                if left == 0 {
                    return None;
                }
                left -= 1;
                alloc()
            },
            &mut out,
        );
        assert_eq!(r, Err(Reason::Ip4FragNoMem));
        assert!(out.is_empty(), "the two built fragments are released");
    }

    #[test]
    fn fragments_fit_the_buffer_when_the_mtu_does_not() {
        // MTU 9000 but 2048-byte test buffers: fragments of at most 2034 IP octets.
        let f = datagram(3000);
        let mut out = Vec::new();
        fragment(&f, 3, 9000, alloc, &mut out).unwrap();
        let ps = parse(&out, &f);
        assert!(out.iter().all(|p| p.buf.len() <= TestPacket::CAPACITY));
        assert_eq!(ps[0].data.len(), (2048 - 14 - 20) & !7);
        assert_eq!(rejoin(&ps, 0), &f[34..]);
    }

    #[test]
    fn truncated_input_is_refused() {
        let f = datagram(100);
        let mut out = Vec::new();
        assert_eq!(
            fragment(&f[..60], 0, 68, alloc, &mut out),
            Err(Reason::Ip4Truncated)
        );
        assert_eq!(
            fragment(&f[..20], 0, 68, alloc, &mut out),
            Err(Reason::Ip4HdrTruncated)
        );
    }
}
