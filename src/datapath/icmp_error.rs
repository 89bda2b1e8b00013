//! ICMP error messages, built in place over the offending packet (RFC 792), with the
//! RFC 1812 §4.3.2.7 rules on when not to send one, and a token-bucket rate limit
//! (RFC 1812 §4.3.2.8; Linux `icmp_ratelimit`).
use super::ip4_input::{is_limited_broadcast, is_loopback, is_multicast, is_zeronet};
use super::{IcmpOut, Packet, ETH_HLEN};
use crate::wire::icmpv4::{self, Icmpv4Packet};
use crate::wire::ipv4::{self, Ipv4Packet};
use std::net::Ipv4Addr;

/// Bytes of the offending datagram quoted after its header at least (RFC 792: "64 bits").
pub const QUOTE_DATA: usize = 8;
/// Octets of the offending datagram quoted at most: as much as fits in a 576-octet
/// error (RFC 1812 §4.3.2.3, "as much of the original datagram as possible without
/// the length of the ICMP datagram exceeding 576 bytes"), as Linux's `icmp_send` does.
pub const QUOTE_MAX: usize = 576 - ipv4::MIN_HEADER_LEN - icmpv4::HEADER_LEN;
/// Linux and RFC 1812 §4.3.2.5: ICMP errors are sent with precedence "internetwork
/// control" (TOS 0xc0).
pub const ICMP_ERROR_TOS: u8 = 0xc0;

/// May an ICMP error be sent about this (validated) packet? RFC 1812 §4.3.2.7: not about
/// an ICMP error, a datagram sent to a broadcast or multicast address or as link-layer
/// broadcast, a non-first fragment, or one whose source is not a unique host.
pub fn may_send_error<P: Packet>(pkt: &P, l2_bcast: bool) -> bool {
    if l2_bcast {
        return false;
    }
    let Some(Ok(ip)) = pkt.data().get(ETH_HLEN..).map(Ipv4Packet::new_checked) else {
        return false;
    };
    if ip.frag_offset() != 0 {
        return false;
    }
    let (src, dst) = (ip.src_u32(), ip.dst_u32());
    if is_limited_broadcast(dst) || is_multicast(dst) {
        return false;
    }
    if is_zeronet(src) || is_loopback(src) || is_multicast(src) || src >> 28 == 0xf {
        return false;
    }
    if ip.protocol() == ipv4::PROTO_ICMP {
        // An ICMP message whose type we cannot read is treated as an error (no answer).
        match ip.payload().first() {
            Some(&t) if !icmpv4::is_error(t) => {}
            _ => return false,
        }
    }
    true
}

/// Rewrites `pkt` into the ICMP error `kind` about itself, from `src`, addressed to its
/// original source; the Ethernet header is left for output to fill. `mtu` is the
/// next-hop MTU for "fragmentation needed" (RFC 1191), ignored otherwise. Returns false
/// (packet unchanged) if the buffer cannot hold the message.
pub fn build_icmp_error<P: Packet>(
    pkt: &mut P,
    kind: IcmpOut,
    src: Ipv4Addr,
    mtu: u16,
    ident: u16,
) -> bool {
    let (orig_src, quote) = {
        let Some(Ok(ip)) = pkt.data().get(ETH_HLEN..).map(Ipv4Packet::new_checked) else {
            return false;
        };
        let avail = (ip.total_len() as usize).min(pkt.data().len() - ETH_HLEN);
        (ip.src_addr(), avail.min(QUOTE_MAX))
    };
    const HDRS: usize = ipv4::MIN_HEADER_LEN + icmpv4::HEADER_LEN;
    let new_len = ETH_HLEN + HDRS + quote;
    let old_len = pkt.data().len();
    if new_len > old_len && !pkt.set_len(new_len) {
        return false;
    }
    let data = pkt.data_mut();
    data.copy_within(ETH_HLEN..ETH_HLEN + quote, ETH_HLEN + HDRS);
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut data[ETH_HLEN..]);
        ip.set_version_ihl(4, 5);
        ip.set_dscp_ecn(ICMP_ERROR_TOS);
        ip.set_total_len((HDRS + quote) as u16);
        ip.set_ident(ident);
        ip.set_frag(false, false, 0);
        ip.set_ttl(super::ip4_local::DEFAULT_TTL);
        ip.set_protocol(ipv4::PROTO_ICMP);
        ip.set_src_addr(src);
        ip.set_dst_addr(orig_src);
        ip.fill_checksum();
    }
    {
        let (t, c) = kind.type_code();
        let mut icmp =
            Icmpv4Packet::new_unchecked(&mut data[ETH_HLEN + ipv4::MIN_HEADER_LEN..new_len]);
        icmp.set_msg_type(t);
        icmp.set_code(c);
        icmp.set_rest_of_header(0);
        if kind == IcmpOut::FragNeeded {
            icmp.set_next_hop_mtu(mtu);
        }
        // RFC 792 parameter problem: the pointer to the octet at fault, first octet of
        // the rest of the header (carried in `mtu`'s place, see `Meta::mtu`).
        if kind == IcmpOut::ParamProblem {
            icmp.set_rest_of_header(u32::from(mtu as u8) << 24);
        }
        icmp.fill_checksum();
    }
    if new_len < old_len {
        pkt.set_len(new_len);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::testutil::*;
    use crate::datapath::TestPacket;

    fn icmp_of(p: &TestPacket) -> (Ipv4Packet<&[u8]>, Vec<u8>) {
        let ip = Ipv4Packet::new_checked(&p.buf[14..]).unwrap();
        let payload = ip.payload().to_vec();
        (ip, payload)
    }

    #[test]
    fn time_exceeded_quotes_up_to_576_octets() {
        let long = ip_frame([10, 0, 1, 2], [10, 0, 2, 2], 17, 1, &[7u8; 1000]);
        let mut p = TestPacket::new(&long, 0);
        assert!(build_icmp_error(
            &mut p,
            IcmpOut::TtlExceeded,
            Ipv4Addr::new(10, 0, 1, 1),
            0,
            9
        ));
        let (ip, payload) = icmp_of(&p);
        assert_eq!(ip.total_len(), 576);
        assert_eq!(p.buf.len(), 14 + 576);
        let icmp = Icmpv4Packet::new_checked(&payload[..]).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.data(), &long[14..14 + QUOTE_MAX]);
    }

    #[test]
    fn time_exceeded_quotes_a_short_datagram_whole() {
        let orig = echo_request([10, 0, 1, 2], [10, 0, 2, 2], 1, b"0123456789abcdef");
        let mut p = TestPacket::new(&orig, 0);
        assert!(may_send_error(&p, false));
        assert!(build_icmp_error(
            &mut p,
            IcmpOut::TtlExceeded,
            Ipv4Addr::new(10, 0, 1, 1),
            0,
            9
        ));
        let (ip, payload) = icmp_of(&p);
        assert!(ip.verify_checksum());
        assert_eq!(ip.src_addr(), Ipv4Addr::new(10, 0, 1, 1));
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(10, 0, 1, 2));
        assert_eq!(ip.protocol(), 1);
        assert_eq!(ip.total_len() as usize, 20 + 8 + 44);
        assert_eq!(p.buf.len(), 14 + 20 + 8 + 44);
        let icmp = Icmpv4Packet::new_checked(&payload[..]).unwrap();
        assert_eq!((icmp.msg_type(), icmp.code()), (11, 0));
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.data(), &orig[14..]);
    }

    #[test]
    fn frag_needed_carries_mtu_and_short_packets_grow() {
        let orig = ip_frame([10, 0, 1, 2], [10, 0, 2, 2], 17, 64, &[1, 2, 3]);
        let mut p = TestPacket::new(&orig, 0);
        assert!(build_icmp_error(
            &mut p,
            IcmpOut::FragNeeded,
            Ipv4Addr::new(10, 0, 1, 1),
            1280,
            1
        ));
        let (_, payload) = icmp_of(&p);
        let icmp = Icmpv4Packet::new_checked(&payload[..]).unwrap();
        assert_eq!(
            (icmp.msg_type(), icmp.code(), icmp.next_hop_mtu()),
            (3, 4, 1280)
        );
        assert_eq!(icmp.data(), &orig[14..]);
        assert!(icmp.verify_checksum());
    }

    #[test]
    fn rfc1812_suppression_rules() {
        let ok = echo_request([10, 0, 1, 2], [10, 0, 2, 2], 64, b"");
        assert!(
            !may_send_error(&TestPacket::new(&ok, 0), true),
            "link-layer broadcast"
        );
        for (src, dst) in [
            ([10, 0, 1, 2], [255, 255, 255, 255]),
            ([10, 0, 1, 2], [239, 1, 1, 1]),
            ([0, 0, 0, 0], [10, 0, 2, 2]),
            ([240, 0, 0, 1], [10, 0, 2, 2]),
        ] {
            let f = ip_frame(src, dst, 17, 64, &[0; 8]);
            assert!(
                !may_send_error(&TestPacket::new(&f, 0), false),
                "{src:?} -> {dst:?}"
            );
        }
        // About an ICMP error: no; about an echo request: yes.
        let err = ip_frame(
            [10, 0, 1, 2],
            [10, 0, 2, 2],
            1,
            64,
            &[3, 1, 0, 0, 0, 0, 0, 0],
        );
        assert!(!may_send_error(&TestPacket::new(&err, 0), false));
        assert!(may_send_error(&TestPacket::new(&ok, 0), false));
        // Non-first fragment: no.
        let mut frag = ip_frame([10, 0, 1, 2], [10, 0, 2, 2], 17, 64, &[0; 8]);
        Ipv4Packet::new_unchecked(&mut frag[14..]).set_frag(false, false, 8);
        assert!(!may_send_error(&TestPacket::new(&frag, 0), false));
    }
}
