//! IPv4 receive validation, in the order of Linux's `ip_rcv_core` and RFC 1812 §5.2.2,
//! then the martian checks of `ip_route_input_slow`.
use super::{Packet, Reason, RxCsum, ETH_HLEN};
use crate::wire::checksum;

/// The IPv4 header without options (RFC 791).
const MIN_HLEN: usize = 20;

/// Addresses of a packet that passed validation (host byte order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ip4Addrs {
    pub src: u32,
    pub dst: u32,
}

/// 0.0.0.0/8 ("this network", RFC 1122 §3.2.1.3).
#[inline]
pub fn is_zeronet(a: u32) -> bool {
    a >> 24 == 0
}
/// 127.0.0.0/8.
#[inline]
pub fn is_loopback(a: u32) -> bool {
    a >> 24 == 127
}
/// 224.0.0.0/4.
#[inline]
pub fn is_multicast(a: u32) -> bool {
    a >> 28 == 0xe
}
/// 224.0.0.0/24, the link-local groups (RFC 5771 §4: never forwarded).
#[inline]
pub fn is_link_local_group(a: u32) -> bool {
    a >> 8 == 0xe0_00_00
}
/// 255.255.255.255.
#[inline]
pub fn is_limited_broadcast(a: u32) -> bool {
    a == u32::MAX
}

/// Validates the IPv4 header of the frame and trims link-layer padding.
///
/// Per packet on the fast path: the fixed 20 octets are read once into a local array
/// and every check works on that, so there is one bounds check and no re-parsing.
#[inline]
pub fn ip4_input<P: Packet>(pkt: &mut P) -> Result<Ip4Addrs, Reason> {
    let data = pkt.data();
    let frame_len = data.len();
    let l3_len = frame_len.saturating_sub(ETH_HLEN);
    let Some(h) = data
        .get(ETH_HLEN..ETH_HLEN + MIN_HLEN)
        .and_then(|h| <&[u8; MIN_HLEN]>::try_from(h).ok())
    else {
        return Err(Reason::Ip4HdrTruncated);
    };
    // RFC 1812 §5.2.2: version 4, header length at least 5 words.
    if h[0] >> 4 != 4 {
        return Err(Reason::Ip4BadVersion);
    }
    let hlen = usize::from(h[0] & 0x0f) * 4;
    if hlen < MIN_HLEN || hlen > l3_len {
        return Err(Reason::Ip4BadIhl);
    }
    // Trust the port's verdict when it checked; otherwise verify (RFC 1071).
    let csum_ok = match pkt.rx_ip_csum() {
        RxCsum::Good => true,
        RxCsum::Bad => false,
        RxCsum::Unknown if hlen == MIN_HLEN => checksum::folded_sum(h) == 0xffff,
        RxCsum::Unknown => data
            .get(ETH_HLEN..ETH_HLEN + hlen)
            .is_some_and(|hdr| checksum::folded_sum(hdr) == 0xffff),
    };
    if !csum_ok {
        return Err(Reason::Ip4BadChecksum);
    }
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if total > l3_len {
        return Err(Reason::Ip4Truncated);
    }
    if total < hlen {
        return Err(Reason::Ip4BadTotalLength);
    }
    let addrs = Ip4Addrs {
        src: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
        dst: u32::from_be_bytes([h[16], h[17], h[18], h[19]]),
    };
    // Martians (Linux ip_route_input_slow; RFC 1812 §5.3.7).
    let s = addrs.src;
    if is_zeronet(s) || is_loopback(s) || is_multicast(s) {
        return Err(Reason::Ip4MartianSource);
    }
    // The limited broadcast has a reason of its own, shared with the subnet broadcasts
    // `ip4_source` checks (RFC 1812 §5.3.7).
    if is_limited_broadcast(s) {
        return Err(Reason::Ip4BroadcastSource);
    }
    if is_zeronet(addrs.dst) || is_loopback(addrs.dst) {
        return Err(Reason::Ip4MartianDestination);
    }
    // Ethernet pads short frames to 60 bytes: drop the padding (Linux pskb_trim_rcsum).
    if total < l3_len {
        pkt.set_len(ETH_HLEN + total);
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::testutil::*;
    use crate::datapath::TestPacket;
    use crate::wire::ipv4::Ipv4Packet;

    fn check(f: Vec<u8>) -> Result<Ip4Addrs, Reason> {
        ip4_input(&mut TestPacket::new(&f, 0))
    }

    fn good() -> Vec<u8> {
        echo_request([10, 0, 1, 2], [10, 0, 2, 2], 64, b"abcdefgh")
    }

    fn refill(f: &mut [u8]) {
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    }

    #[test]
    fn accepts_a_valid_packet() {
        assert_eq!(
            check(good()),
            Ok(Ip4Addrs {
                src: 0x0a000102,
                dst: 0x0a000202
            })
        );
    }

    #[test]
    fn each_header_error_has_its_reason() {
        let g = good();
        assert_eq!(check(g[..14 + 19].to_vec()), Err(Reason::Ip4HdrTruncated));
        assert_eq!(check(g[..10].to_vec()), Err(Reason::Ip4HdrTruncated));

        let mut f = g.clone();
        f[14] = 0x65; // version 6 in an IPv4 frame
        assert_eq!(check(f), Err(Reason::Ip4BadVersion));

        let mut f = g.clone();
        f[14] = 0x44; // IHL 4
        assert_eq!(check(f), Err(Reason::Ip4BadIhl));

        let mut f = g.clone();
        f[14] = 0x4f; // IHL 15 = 60 bytes > what the frame holds
        assert_eq!(check(f), Err(Reason::Ip4BadIhl));

        let mut f = g.clone();
        f[24] ^= 0xff; // checksum
        assert_eq!(check(f), Err(Reason::Ip4BadChecksum));

        let mut f = g.clone();
        f[16..18].copy_from_slice(&1000u16.to_be_bytes());
        refill(&mut f);
        assert_eq!(check(f), Err(Reason::Ip4Truncated));

        let mut f = g.clone();
        f[16..18].copy_from_slice(&19u16.to_be_bytes());
        refill(&mut f);
        assert_eq!(check(f), Err(Reason::Ip4BadTotalLength));
    }

    #[test]
    fn options_are_covered_by_the_checksum() {
        // IHL 6: a 4-octet option (NOP NOP NOP EOL) inside the checksummed header.
        let g = good();
        let mut f = g[..34].to_vec();
        f.extend_from_slice(&[1, 1, 1, 0]);
        f.extend_from_slice(&g[34..]);
        f[14] = 0x46;
        let total = (f.len() - 14) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        refill(&mut f);
        assert!(check(f.clone()).is_ok());
        f[36] ^= 0x80; // an option octet
        assert_eq!(check(f), Err(Reason::Ip4BadChecksum));
    }

    #[test]
    fn port_checksum_verdict_is_trusted() {
        let mut p = TestPacket::new(&good(), 0);
        p.csum = RxCsum::Bad;
        assert_eq!(ip4_input(&mut p), Err(Reason::Ip4BadChecksum));
        let mut f = good();
        f[24] ^= 0xff;
        let mut p = TestPacket::new(&f, 0);
        p.csum = RxCsum::Good;
        assert!(ip4_input(&mut p).is_ok());
    }

    #[test]
    fn martians_are_dropped() {
        for (src, dst, want) in [
            ([0, 1, 2, 3], [10, 0, 2, 2], Reason::Ip4MartianSource),
            ([127, 0, 0, 1], [10, 0, 2, 2], Reason::Ip4MartianSource),
            ([224, 0, 0, 5], [10, 0, 2, 2], Reason::Ip4MartianSource),
            (
                [255, 255, 255, 255],
                [10, 0, 2, 2],
                Reason::Ip4BroadcastSource,
            ),
            ([10, 0, 1, 2], [127, 0, 0, 1], Reason::Ip4MartianDestination),
            ([10, 0, 1, 2], [0, 0, 0, 9], Reason::Ip4MartianDestination),
        ] {
            assert_eq!(check(echo_request(src, dst, 64, b"x")), Err(want));
        }
    }

    #[test]
    fn ethernet_padding_is_trimmed() {
        let mut f = echo_request([10, 0, 1, 2], [10, 0, 2, 2], 64, b"");
        let len = f.len();
        f.resize(60, 0);
        let mut p = TestPacket::new(&f, 0);
        assert!(ip4_input(&mut p).is_ok());
        assert_eq!(p.buf.len(), len);
    }
}
