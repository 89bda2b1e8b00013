//! Reassembly (`datapath::ip4_reassembly`) on sequences of fragments: mostly
//! well-formed fragments of a few datagrams at any offsets, lengths, header lengths
//! and flags (overlaps, duplicates, gaps, several last fragments, oversize), mixed
//! with raw frames and timer runs. Nothing may panic, and:
//! - memory and datagram counts stay within their bounds after every step, and drop
//!   to zero once everything has timed out;
//! - a completed datagram is well formed (total length, flags, checksum), carries its
//!   first fragment's headers and exactly the data sent at each offset;
//! - every fragment is counted, and drops never exceed the fragments taken.
//!
//! Input: four octets of parameters, then operations (see `op`).
#![no_main]
use ferroute::datapath::ip4_reassembly::{ReasmParams, Reassembler, Verdict, DATAGRAM_COST};
use ferroute::datapath::{Packet, Tally, ETH_HLEN};
use ferroute::wire::ethernet::{EthernetFrame, ETHERTYPE_IPV4};
use ferroute::wire::ipv4::Ipv4Packet;
use ferroute_fuzz::Input;
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// The data octet at datagram offset `i` of datagram `key`: any piece says where it
/// came from.
fn pattern(key: u8, i: usize) -> u8 {
    (i as u8).wrapping_mul(31) ^ (i >> 8) as u8 ^ key.wrapping_mul(97)
}

/// Datagram `key` (0..8) of one sender/receiver pair and its identification.
fn addrs(key: u8) -> (Ipv4Addr, Ipv4Addr, u16, u8) {
    (
        Ipv4Addr::new(10, 0, 1, 2 + (key & 1)),
        Ipv4Addr::new(10, 0, 1, 1),
        0x1000 + u16::from(key >> 1 & 1),
        if key & 4 != 0 { 17 } else { 1 },
    )
}

fn frame(key: u8, off: usize, len: usize, mf: bool, df: bool, ihl: u8, ttl: u8) -> Vec<u8> {
    let hlen = usize::from(ihl) * 4;
    let mut f = vec![0u8; ETH_HLEN + hlen + len];
    {
        let mut e = EthernetFrame::new_unchecked(&mut f[..]);
        e.set_ethertype(ETHERTYPE_IPV4);
    }
    let (src, dst, ident, proto) = addrs(key);
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut f[ETH_HLEN..]);
        ip.set_version_ihl(4, ihl);
        ip.set_total_len((hlen + len).min(65535) as u16);
        ip.set_ident(ident);
        ip.set_frag(df, mf, off as u16);
        ip.set_ttl(ttl);
        ip.set_protocol(proto);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
    }
    // Options: NOPs, then End of Option List.
    for b in &mut f[ETH_HLEN + 20..ETH_HLEN + hlen] {
        *b = 1;
    }
    for (i, b) in f[ETH_HLEN + hlen..].iter_mut().enumerate() {
        *b = pattern(key, off + i);
    }
    Ipv4Packet::new_unchecked(&mut f[ETH_HLEN..]).fill_checksum();
    f
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let params = ReasmParams {
        timeout_ms: 1 + u64::from(input.u8()) * 10,
        max_bytes: DATAGRAM_COST + usize::from(input.u16()) * 16,
        max_datagrams: 1 + usize::from(input.u8() & 15),
    };
    let mut r = Reassembler::new(params);
    let mut t = Tally::default();
    let mut now = 0u64;
    let mut taken = 0u64;
    // Datagrams a raw frame may have polluted: their data is not the pattern.
    let mut raw_keys = HashSet::new();
    // First-fragment header lengths sent per datagram.
    while !input.is_empty() {
        let op = input.u8();
        now += u64::from(op >> 6);
        let verdict = match op & 7 {
            // A raw frame, as it came.
            0 => {
                let f = input.chunk().to_vec();
                if let Some(ip) = f
                    .get(ETH_HLEN..)
                    .and_then(|b| Ipv4Packet::new_checked(b).ok())
                {
                    raw_keys.insert((ip.src_u32(), ip.dst_u32(), ip.ident(), ip.protocol()));
                }
                taken += 1;
                Some((r.insert(&f, 0, op & 8 != 0, now, &mut t), None))
            }
            // Time passes; datagrams expire.
            1 => {
                now += u64::from(input.u16());
                r.expire(now, &mut t, |e| {
                    let ip = Ipv4Packet::new_checked(&e.quote.data()[ETH_HLEN..]).unwrap();
                    assert_eq!(ip.frag_offset(), 0, "quotes come from first fragments");
                });
                None
            }
            // A well-formed fragment of datagram `key`.
            _ => {
                let key = input.u8() & 7;
                let off = usize::from(input.u16() & 0x1fff) * 8;
                let len = usize::from(input.u16()) % 3000;
                let fl = input.u8();
                let (mf, df) = (fl & 1 != 0, fl & 2 != 0);
                let ihl = 5 + (fl >> 4) % 11;
                let port = u16::from(fl >> 2 & 3);
                let f = frame(key, off, len, mf, df, ihl, op);
                if ETH_HLEN + usize::from(ihl) * 4 + len > 65535 + ETH_HLEN {
                    continue;
                }
                taken += 1;
                Some((r.insert(&f, port, fl & 8 != 0, now, &mut t), Some(key)))
            }
        };
        assert!(
            r.bytes() <= params.max_bytes,
            "{} > {}",
            r.bytes(),
            params.max_bytes
        );
        assert!(r.datagrams() <= params.max_datagrams);
        if let Some((Verdict::Complete { pkt, .. }, key)) = verdict {
            let b = pkt.data();
            let ip = Ipv4Packet::new_checked(&b[ETH_HLEN..]).expect("a header");
            assert!(ip.header_len() >= 20);
            assert_eq!(usize::from(ip.total_len()), b.len() - ETH_HLEN);
            assert!(!ip.more_frags() && ip.frag_offset() == 0);
            assert!(ip.verify_checksum());
            let k = (ip.src_u32(), ip.dst_u32(), ip.ident(), ip.protocol());
            if let Some(key) = key.filter(|_| !raw_keys.contains(&k)) {
                for (i, &x) in ip.payload().iter().enumerate() {
                    assert_eq!(x, pattern(key, i), "datagram {key}: wrong data at {i}");
                }
            }
        }
        let drops: u64 = t.drops.iter().sum();
        assert_eq!(t.reasm_fragments, taken);
        assert!(drops <= taken);
    }
    r.expire(now + params.timeout_ms, &mut t, |_| {});
    assert_eq!((r.datagrams(), r.bytes()), (0, 0), "everything timed out");
});
