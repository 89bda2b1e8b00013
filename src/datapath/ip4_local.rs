//! Local delivery for the router's own addresses (Linux `ip_local_deliver` + `icmp_rcv`):
//! fragments go to reassembly first; ICMP echo requests are answered in place; other
//! protocols get ICMP errors.
use super::{IcmpOut, Packet, Reason, ETH_HLEN};
use crate::wire::checksum;
use crate::wire::icmpv4::{self, Icmpv4Packet};
use crate::wire::ipv4::{self, Ipv4Packet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalNext {
    /// The packet is now an echo reply addressed to the requester; route it out.
    Reply,
    /// Answer with this ICMP error (the packet is dropped for `Reason`).
    Icmp(IcmpOut, Reason),
    /// A fragment: to reassembly (Linux `ip_defrag`), which hands the whole datagram
    /// back here.
    Reassemble,
    Drop(Reason),
}

/// TTL of packets the router originates (Linux's default `ip_default_ttl`).
pub const DEFAULT_TTL: u8 = 64;

/// Call only on packets that passed `ip4_input` and routed to a local address.
pub fn ip4_local<P: Packet>(pkt: &mut P) -> LocalNext {
    let (hlen, total, proto, is_frag) = {
        let Ok(ip) = Ipv4Packet::new_checked(&pkt.data()[ETH_HLEN..]) else {
            return LocalNext::Drop(Reason::Ip4HdrTruncated);
        };
        (
            ip.header_len(),
            ip.total_len() as usize,
            ip.protocol(),
            ip.more_frags() || ip.frag_offset() != 0,
        )
    };
    if is_frag {
        return LocalNext::Reassemble;
    }
    match proto {
        ipv4::PROTO_ICMP => icmp_input(pkt, hlen, total),
        ipv4::PROTO_UDP => LocalNext::Icmp(IcmpOut::PortUnreachable, Reason::UdpNoPort),
        _ => LocalNext::Icmp(IcmpOut::ProtoUnreachable, Reason::Ip4UnknownProtocol),
    }
}

fn icmp_input<P: Packet>(pkt: &mut P, hlen: usize, total: usize) -> LocalNext {
    let l4 = ETH_HLEN + hlen..ETH_HLEN + total;
    {
        let Some(Ok(icmp)) = pkt.data().get(l4.clone()).map(Icmpv4Packet::new_checked) else {
            return LocalNext::Drop(Reason::IcmpMalformed);
        };
        if !icmp.verify_checksum() {
            return LocalNext::Drop(Reason::IcmpMalformed);
        }
        if icmp.msg_type() != icmpv4::ECHO_REQUEST || icmp.code() != 0 {
            return LocalNext::Drop(Reason::IcmpUnhandled);
        }
    }
    // RFC 792 echo reply: same data, addresses swapped. Options are not echoed: drop
    // them by moving the ICMP message up behind a 20-byte header. The identification
    // stays the request's: as unique towards the peer as the peer made it towards us,
    // which is what the peer's reassembly needs when a long reply leaves in fragments.
    let icmp_len = total - hlen;
    let data = pkt.data_mut();
    if hlen > ipv4::MIN_HEADER_LEN {
        data.copy_within(l4.clone(), ETH_HLEN + ipv4::MIN_HEADER_LEN);
    }
    let new_total = ipv4::MIN_HEADER_LEN + icmp_len;
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut data[ETH_HLEN..]);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        ip.set_version_ihl(4, 5);
        ip.set_total_len(new_total as u16);
        ip.set_frag(false, false, 0);
        ip.set_ttl(DEFAULT_TTL);
        ip.set_src_addr(dst);
        ip.set_dst_addr(src);
        ip.fill_checksum();
    }
    let mut icmp = Icmpv4Packet::new_unchecked(&mut data[ETH_HLEN + 20..ETH_HLEN + new_total]);
    let old = icmp.checksum();
    icmp.set_msg_type(icmpv4::ECHO_REPLY);
    // Only the type byte changed (8 -> 0): RFC 1624 incremental update.
    icmp.set_checksum(checksum::update16(
        old,
        u16::from(icmpv4::ECHO_REQUEST) << 8,
        u16::from(icmpv4::ECHO_REPLY) << 8,
    ));
    pkt.set_len(ETH_HLEN + new_total);
    LocalNext::Reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::testutil::*;
    use crate::datapath::TestPacket;
    use std::net::Ipv4Addr;

    #[test]
    fn echo_request_becomes_reply() {
        let mut p = TestPacket::new(&echo_request([10, 0, 1, 2], [10, 0, 1, 1], 3, b"ping!"), 0);
        assert_eq!(ip4_local(&mut p), LocalNext::Reply);
        let ip = Ipv4Packet::new_checked(&p.buf[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.src_addr(), Ipv4Addr::new(10, 0, 1, 1));
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(10, 0, 1, 2));
        assert_eq!(ip.ttl(), DEFAULT_TTL);
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(icmp.msg_type(), icmpv4::ECHO_REPLY);
        assert!(icmp.verify_checksum());
        assert_eq!((icmp.echo_ident(), icmp.echo_seq()), (7, 1));
        assert_eq!(icmp.data(), b"ping!");
    }

    #[test]
    fn echo_request_with_options_is_answered_without_them() {
        let f = echo_request([10, 0, 1, 2], [10, 0, 1, 1], 64, b"data");
        // Insert 4 bytes of options (NOP NOP NOP EOL) after the fixed header.
        let mut g = f[..34].to_vec();
        g.extend_from_slice(&[1, 1, 1, 0]);
        g.extend_from_slice(&f[34..]);
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut g[14..]);
            ip.set_version_ihl(4, 6);
            ip.set_total_len((f.len() - 14 + 4) as u16);
            ip.fill_checksum();
        }
        let mut p = TestPacket::new(&g, 0);
        assert_eq!(ip4_local(&mut p), LocalNext::Reply);
        assert_eq!(p.buf.len(), f.len());
        let ip = Ipv4Packet::new_checked(&p.buf[14..]).unwrap();
        assert_eq!(ip.header_len(), 20);
        assert!(ip.verify_checksum());
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.data(), b"data");
    }

    #[test]
    fn other_input_is_refused_by_reason() {
        let mut f = echo_request([10, 0, 1, 2], [10, 0, 1, 1], 64, b"x");
        f[36] ^= 1; // ICMP checksum
        assert_eq!(
            ip4_local(&mut TestPacket::new(&f, 0)),
            LocalNext::Drop(Reason::IcmpMalformed)
        );
        let mut reply = vec![0u8, 0, 0, 0, 0, 1, 0, 1];
        let c = checksum::checksum(&reply);
        reply[2..4].copy_from_slice(&c.to_be_bytes());
        let f = ip_frame([10, 0, 1, 2], [10, 0, 1, 1], 1, 64, &reply);
        assert_eq!(
            ip4_local(&mut TestPacket::new(&f, 0)),
            LocalNext::Drop(Reason::IcmpUnhandled)
        );
        let f = ip_frame([10, 0, 1, 2], [10, 0, 1, 1], 1, 64, &[8, 0, 0]);
        assert_eq!(
            ip4_local(&mut TestPacket::new(&f, 0)),
            LocalNext::Drop(Reason::IcmpMalformed)
        );
        let f = ip_frame([10, 0, 1, 2], [10, 0, 1, 1], 17, 64, &[0; 8]);
        assert_eq!(
            ip4_local(&mut TestPacket::new(&f, 0)),
            LocalNext::Icmp(IcmpOut::PortUnreachable, Reason::UdpNoPort)
        );
        let f = ip_frame([10, 0, 1, 2], [10, 0, 1, 1], 47, 64, &[0; 8]);
        assert_eq!(
            ip4_local(&mut TestPacket::new(&f, 0)),
            LocalNext::Icmp(IcmpOut::ProtoUnreachable, Reason::Ip4UnknownProtocol)
        );
        let mut f = echo_request([10, 0, 1, 2], [10, 0, 1, 1], 64, b"x");
        f[20] = 0x20; // MF
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        assert_eq!(
            ip4_local(&mut TestPacket::new(&f, 0)),
            LocalNext::Reassemble
        );
        let mut f = echo_request([10, 0, 1, 2], [10, 0, 1, 1], 64, b"x");
        Ipv4Packet::new_unchecked(&mut f[14..]).set_frag(false, false, 1480);
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        assert_eq!(
            ip4_local(&mut TestPacket::new(&f, 0)),
            LocalNext::Reassemble
        );
    }

    #[test]
    fn reassembled_echo_request_larger_than_an_mbuf_is_answered() {
        let data: Vec<u8> = (0..4000).map(|i| i as u8).collect();
        let f = echo_request([10, 0, 1, 2], [10, 0, 1, 1], 64, &data);
        let mut p = crate::datapath::HeapPacket::from_vec(f, 0);
        assert_eq!(ip4_local(&mut p), LocalNext::Reply);
        let ip = Ipv4Packet::new_checked(&p.buf[14..]).unwrap();
        assert_eq!(ip.total_len(), 4028);
        assert!(!ip.dont_frag(), "the reply may be fragmented");
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.data(), &data[..]);
    }
}
