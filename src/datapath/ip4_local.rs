//! Local delivery for the router's own addresses (Linux `ip_local_deliver` + `icmp_rcv`):
//! fragments go to reassembly first; ICMP echo requests are answered in place; TCP
//! segments are answered with a reset, as a host with no listener does (RFC 793 §3.4,
//! Linux `tcp_v4_send_reset`); UDP gets port unreachable, IGMP is ignored, and only
//! protocols with no handler at all get protocol unreachable (Linux `ip_protocol_deliver_rcu`).
use super::{IcmpOut, Packet, Reason, ETH_HLEN};
use crate::wire::checksum;
use crate::wire::icmpv4::{self, Icmpv4Packet};
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::tcp::{self, TcpPacket};
use std::net::Ipv4Addr;

/// Protocol number of IGMP (RFC 2236).
const PROTO_IGMP: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalNext {
    /// The packet is now an answer addressed to its sender, an ICMP echo reply or a TCP
    /// reset (tell them apart by the protocol); route it out.
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
        ipv4::PROTO_UDP => udp_input(pkt.data(), hlen, total),
        ipv4::PROTO_TCP => tcp_input(pkt, hlen, total),
        PROTO_IGMP => LocalNext::Drop(Reason::IgmpIgnored),
        _ => LocalNext::Icmp(IcmpOut::ProtoUnreachable, Reason::Ip4UnknownProtocol),
    }
}

/// With the exception path on (`[linux_cp]`): true if the kernel twin takes this
/// datagram rather than the datapath: everything but ICMP echo requests (TCP, UDP,
/// OSPF 89, IGMP, and the ICMP echo replies and errors that answer the kernel's own
/// sockets: `ping` and PMTU discovery in the namespace), as a whole datagram (fragments
/// go to reassembly first). Echo requests are answered in the datapath, as linux-cp
/// leaves them to VPP. The kernel checks the transport header itself.
pub fn for_host(data: &[u8]) -> bool {
    let Ok(ip) = Ipv4Packet::new_checked(data.get(ETH_HLEN..).unwrap_or_default()) else {
        return false;
    };
    if ip.more_frags() || ip.frag_offset() != 0 {
        return false;
    }
    if ip.protocol() != ipv4::PROTO_ICMP {
        return true;
    }
    // A truncated ICMP header stays here, to be dropped as malformed.
    let icmp_type = data.get(ETH_HLEN + ip.header_len());
    icmp_type.is_some_and(|t| *t != icmpv4::ECHO_REQUEST)
}

/// The addresses of a validated header.
fn addrs(data: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let ip = Ipv4Packet::new_checked(data.get(ETH_HLEN..)?).ok()?;
    Some((ip.src_addr(), ip.dst_addr()))
}

/// UDP (RFC 768) to the router, which listens on no port: port unreachable, unless the
/// datagram is malformed (Linux `__udp4_lib_rcv` drops a bad length or checksum
/// silently before it looks for a socket).
fn udp_input(data: &[u8], hlen: usize, total: usize) -> LocalNext {
    let Some(((src, dst), udp)) = addrs(data).zip(data.get(ETH_HLEN + hlen..ETH_HLEN + total))
    else {
        return LocalNext::Drop(Reason::UdpMalformed);
    };
    let Some(h) = udp.get(..8) else {
        return LocalNext::Drop(Reason::UdpMalformed);
    };
    let ulen = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if ulen < 8 || ulen > udp.len() {
        return LocalNext::Drop(Reason::UdpMalformed);
    }
    let csum = u16::from_be_bytes([h[6], h[7]]);
    if csum != 0 {
        let mut ph = [0u8; 12];
        ph[..4].copy_from_slice(&src.octets());
        ph[4..8].copy_from_slice(&dst.octets());
        ph[9] = ipv4::PROTO_UDP;
        ph[10..12].copy_from_slice(&(ulen as u16).to_be_bytes());
        let sum = checksum::sum(&ph) + checksum::sum(&udp[..ulen]);
        if checksum::fold(sum) != 0xffff {
            return LocalNext::Drop(Reason::UdpMalformed);
        }
    }
    LocalNext::Icmp(IcmpOut::PortUnreachable, Reason::UdpNoPort)
}

/// TCP to the router, which has no listener: RFC 793 §3.4 reset generation ("If the
/// connection does not exist (CLOSED) then a reset is sent in response to any
/// incoming segment except another reset"): if the segment has ACK, the reset takes
/// its sequence number from SEG.ACK; otherwise it has sequence 0 and acknowledges
/// SEG.SEQ + SEG.LEN. Built in place, as Linux `tcp_v4_send_reset` builds it: no
/// options, window 0, DF set and IP ID 0 (Linux's TCP control socket), TTL 64.
fn tcp_input<P: Packet>(pkt: &mut P, hlen: usize, total: usize) -> LocalNext {
    let Some((src, dst)) = addrs(pkt.data()) else {
        return LocalNext::Drop(Reason::TcpMalformed);
    };
    let l4 = ETH_HLEN + hlen..ETH_HLEN + total;
    let (sport, dport, seq, ack, has_ack, seg_len) = {
        let Some(Ok(t)) = pkt.data().get(l4).map(TcpPacket::new_checked) else {
            return LocalNext::Drop(Reason::TcpMalformed);
        };
        if !t.verify_checksum(src, dst) {
            return LocalNext::Drop(Reason::TcpMalformed);
        }
        if t.rst() {
            return LocalNext::Drop(Reason::TcpNoSocket);
        }
        (
            t.src_port(),
            t.dst_port(),
            t.seq_number(),
            t.ack_number(),
            t.ack(),
            t.segment_len(),
        )
    };
    const LEN: usize = ipv4::MIN_HEADER_LEN + tcp::MIN_HEADER_LEN;
    // The segment is at least 20 + 20 octets, so the reset fits where it was.
    if !pkt.set_len(ETH_HLEN + LEN) {
        return LocalNext::Drop(Reason::TcpMalformed);
    }
    let data = pkt.data_mut();
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut data[ETH_HLEN..]);
        ip.set_version_ihl(4, 5);
        ip.set_dscp_ecn(0);
        ip.set_total_len(LEN as u16);
        ip.set_ident(0);
        ip.set_frag(true, false, 0);
        ip.set_ttl(DEFAULT_TTL);
        ip.set_protocol(ipv4::PROTO_TCP);
        ip.set_src_addr(dst);
        ip.set_dst_addr(src);
        ip.fill_checksum();
    }
    let mut t = TcpPacket::new_unchecked(&mut data[ETH_HLEN + ipv4::MIN_HEADER_LEN..]);
    t.set_src_port(dport);
    t.set_dst_port(sport);
    if has_ack {
        t.set_seq_number(ack);
        t.set_ack_number(0);
        t.set_flags(tcp::FLAG_RST);
    } else {
        t.set_seq_number(0);
        t.set_ack_number(seq.wrapping_add(seg_len));
        t.set_flags(tcp::FLAG_RST | tcp::FLAG_ACK);
    }
    t.set_header_len(tcp::MIN_HEADER_LEN);
    t.set_window(0);
    t.set_urgent(0);
    t.fill_checksum(dst, src);
    LocalNext::Reply
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
        let f = ip_frame(
            [10, 0, 1, 2],
            [10, 0, 1, 1],
            17,
            64,
            &[0, 9, 0, 53, 0, 8, 0, 0],
        );
        assert_eq!(
            ip4_local(&mut TestPacket::new(&f, 0)),
            LocalNext::Icmp(IcmpOut::PortUnreachable, Reason::UdpNoPort)
        );
        let f = ip_frame(
            [10, 0, 1, 2],
            [10, 0, 1, 1],
            2,
            64,
            &[0x11, 0, 0xee, 0xff, 0, 0, 0, 0],
        );
        assert_eq!(
            ip4_local(&mut TestPacket::new(&f, 0)),
            LocalNext::Drop(Reason::IgmpIgnored)
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

    fn udp(payload: &[u8], csum: bool) -> Vec<u8> {
        let mut u = vec![0x9c, 0x40, 0, 53, 0, 0, 0, 0];
        u.extend_from_slice(payload);
        let n = u.len() as u16;
        u[4..6].copy_from_slice(&n.to_be_bytes());
        if csum {
            let mut ph = vec![10, 0, 1, 2, 10, 0, 1, 1, 0, 17];
            ph.extend_from_slice(&n.to_be_bytes());
            ph.extend_from_slice(&u);
            let c = checksum::checksum(&ph);
            u[6..8].copy_from_slice(&c.to_be_bytes());
        }
        ip_frame([10, 0, 1, 2], [10, 0, 1, 1], 17, 64, &u)
    }

    #[test]
    fn udp_with_a_bad_checksum_or_length_gets_no_answer() {
        let ok = |f: &Vec<u8>| ip4_local(&mut TestPacket::new(f, 0));
        let unreach = LocalNext::Icmp(IcmpOut::PortUnreachable, Reason::UdpNoPort);
        assert_eq!(ok(&udp(b"hello", true)), unreach);
        assert_eq!(ok(&udp(b"hello", false)), unreach, "checksum 0: none");
        let mut f = udp(b"hello", true);
        f[14 + 20 + 8] ^= 1;
        assert_eq!(ok(&f), LocalNext::Drop(Reason::UdpMalformed));
        let mut f = udp(b"hello", false);
        f[14 + 20 + 5] = 200; // UDP length past the datagram
        assert_eq!(ok(&f), LocalNext::Drop(Reason::UdpMalformed));
        let mut f = udp(b"hello", false);
        f[14 + 20 + 5] = 7;
        assert_eq!(ok(&f), LocalNext::Drop(Reason::UdpMalformed));
    }

    /// A TCP segment 10.0.1.2:40000 -> 10.0.1.1:22 with `flags`, seq 1000, ack 5000.
    fn tcp_seg(flags: u8, data: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        {
            let mut s = TcpPacket::new_unchecked(&mut t[..]);
            s.set_src_port(40000);
            s.set_dst_port(22);
            s.set_seq_number(1000);
            s.set_ack_number(5000);
            s.set_header_len(20);
            s.set_flags(flags);
            s.set_window(512);
        }
        t.extend_from_slice(data);
        TcpPacket::new_unchecked(&mut t[..])
            .fill_checksum(Ipv4Addr::new(10, 0, 1, 2), Ipv4Addr::new(10, 0, 1, 1));
        ip_frame([10, 0, 1, 2], [10, 0, 1, 1], 6, 64, &t)
    }

    fn reset_of(f: &[u8]) -> (LocalNext, Vec<u8>) {
        let mut p = TestPacket::new(f, 0);
        let n = ip4_local(&mut p);
        (n, p.buf)
    }

    #[test]
    fn tcp_syn_is_answered_with_rst_ack() {
        let (n, b) = reset_of(&tcp_seg(tcp::FLAG_SYN, b""));
        assert_eq!(n, LocalNext::Reply);
        assert_eq!(b.len(), 14 + 40);
        let ip = Ipv4Packet::new_checked(&b[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.src_addr(), Ipv4Addr::new(10, 0, 1, 1));
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(10, 0, 1, 2));
        assert!(ip.dont_frag());
        assert_eq!((ip.ttl(), ip.protocol(), ip.total_len()), (64, 6, 40));
        let t = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(t.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert_eq!((t.src_port(), t.dst_port()), (22, 40000));
        assert_eq!(t.flags(), tcp::FLAG_RST | tcp::FLAG_ACK);
        assert_eq!((t.seq_number(), t.ack_number()), (0, 1001));
        assert_eq!(t.window(), 0);
    }

    #[test]
    fn tcp_reset_rules_of_rfc_793() {
        // ACK set: the reset's sequence number is SEG.ACK, no ACK of its own.
        let (n, b) = reset_of(&tcp_seg(tcp::FLAG_ACK | tcp::FLAG_PSH, b"data"));
        assert_eq!(n, LocalNext::Reply);
        let t = TcpPacket::new_checked(&b[34..]).unwrap();
        assert_eq!(t.flags(), tcp::FLAG_RST);
        assert_eq!((t.seq_number(), t.ack_number()), (5000, 0));
        // No ACK: data and FIN count in the acknowledgment.
        let (_, b) = reset_of(&tcp_seg(tcp::FLAG_FIN, b"abc"));
        let t = TcpPacket::new_checked(&b[34..]).unwrap();
        assert_eq!((t.seq_number(), t.ack_number()), (0, 1004));
        // A reset is never answered.
        let (n, _) = reset_of(&tcp_seg(tcp::FLAG_RST, b""));
        assert_eq!(n, LocalNext::Drop(Reason::TcpNoSocket));
        // Bad checksum or data offset: dropped, no reset.
        let mut f = tcp_seg(tcp::FLAG_SYN, b"");
        f[14 + 20 + 16] ^= 1;
        assert_eq!(reset_of(&f).0, LocalNext::Drop(Reason::TcpMalformed));
        let mut f = tcp_seg(tcp::FLAG_SYN, b"");
        f[14 + 20 + 12] = 0x40;
        assert_eq!(reset_of(&f).0, LocalNext::Drop(Reason::TcpMalformed));
        let f = ip_frame([10, 0, 1, 2], [10, 0, 1, 1], 6, 64, &[0; 12]);
        assert_eq!(reset_of(&f).0, LocalNext::Drop(Reason::TcpMalformed));
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

    #[test]
    fn to_the_twin_goes_all_but_echo_requests_and_fragments() {
        let mut f = echo_request([10, 0, 1, 2], [10, 0, 1, 1], 3, b"ping!");
        assert!(!for_host(&f), "ICMP echo stays in the datapath");
        f[ETH_HLEN + 20] = icmpv4::ECHO_REPLY;
        assert!(for_host(&f), "replies to the kernel's ping");
        f[ETH_HLEN + 20] = 3;
        assert!(for_host(&f), "errors for the kernel's sockets");
        assert!(
            !for_host(&f[..ETH_HLEN + 20]),
            "truncated ICMP stays to be dropped"
        );
        for proto in [ipv4::PROTO_TCP, ipv4::PROTO_UDP, 89, PROTO_IGMP] {
            f[ETH_HLEN + 9] = proto;
            assert!(for_host(&f), "protocol {proto}");
        }
        f[ETH_HLEN + 6] = 0x20; // more fragments
        assert!(!for_host(&f), "fragments are reassembled first");
        assert!(!for_host(&f[..ETH_HLEN + 10]), "truncated header");
    }
}
