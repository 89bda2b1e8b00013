//! Forwarding: TTL check, the egress MTU check for DF packets, and the TTL decrement
//! with an incremental checksum update, in the order of Linux `ip_forward` (RFC 1812
//! §5.3.1, RFC 1191, RFC 1624).
use super::{Packet, ETH_HLEN};
use crate::wire::ipv4::Ipv4Packet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FwdNext {
    /// TTL decremented; on to output.
    Output,
    /// TTL was 0 or 1: answer with ICMP time exceeded.
    TimeExceeded,
    /// Longer than the egress MTU with DF set: answer "fragmentation needed" with `mtu`.
    FragNeeded { mtu: u16 },
}

/// Call only on packets that passed `ip4_input`; `mtu` is the egress port's.
pub fn ip4_forward<P: Packet>(pkt: &mut P, mtu: u16) -> FwdNext {
    let Some(l3) = pkt.data_mut().get_mut(ETH_HLEN..) else {
        return FwdNext::TimeExceeded;
    };
    let too_big = l3.len() > usize::from(mtu);
    let Ok(mut ip) = Ipv4Packet::new_checked(l3) else {
        return FwdNext::TimeExceeded;
    };
    if ip.ttl() <= 1 {
        return FwdNext::TimeExceeded;
    }
    // Before the TTL is touched, so that the ICMP error quotes the header as it came
    // (Linux ip_forward's ip_exceeds_mtu). DF clear: output fragments it.
    if too_big && ip.dont_frag() {
        return FwdNext::FragNeeded { mtu };
    }
    ip.decrement_ttl();
    FwdNext::Output
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::testutil::*;
    use crate::datapath::TestPacket;

    #[test]
    fn decrements_ttl_and_keeps_checksum_valid() {
        let mut p = TestPacket::new(&echo_request([10, 0, 1, 2], [10, 0, 2, 2], 64, b"hi"), 0);
        assert_eq!(ip4_forward(&mut p, 1500), FwdNext::Output);
        let ip = Ipv4Packet::new_checked(&p.buf[14..]).unwrap();
        assert_eq!(ip.ttl(), 63);
        assert!(ip.verify_checksum());
    }

    #[test]
    fn ttl_zero_or_one_expires() {
        for ttl in [0, 1] {
            let mut p = TestPacket::new(&echo_request([10, 0, 1, 2], [10, 0, 2, 2], ttl, b""), 0);
            assert_eq!(ip4_forward(&mut p, 1500), FwdNext::TimeExceeded);
        }
        let mut p = TestPacket::new(&echo_request([10, 0, 1, 2], [10, 0, 2, 2], 2, b""), 0);
        assert_eq!(ip4_forward(&mut p, 1500), FwdNext::Output);
    }

    #[test]
    fn df_over_the_mtu_needs_fragmentation_and_keeps_its_ttl() {
        // 20 + 8 + 100 = 128 octets of IP.
        let f = echo_request([10, 0, 1, 2], [10, 0, 2, 2], 9, &[0; 100]);
        let mut p = TestPacket::new(&f, 0);
        assert_eq!(ip4_forward(&mut p, 127), FwdNext::FragNeeded { mtu: 127 });
        assert_eq!(p.buf, f, "quoted as received");
        assert_eq!(ip4_forward(&mut p, 128), FwdNext::Output);
        // DF clear: forwarded, output fragments it.
        let mut p = TestPacket::new(&f, 0);
        Ipv4Packet::new_unchecked(&mut p.buf[14..]).set_frag(false, false, 0);
        Ipv4Packet::new_unchecked(&mut p.buf[14..]).fill_checksum();
        assert_eq!(ip4_forward(&mut p, 127), FwdNext::Output);
        // TTL is checked first, as Linux does.
        let f = echo_request([10, 0, 1, 2], [10, 0, 2, 2], 1, &[0; 100]);
        let mut p = TestPacket::new(&f, 0);
        assert_eq!(ip4_forward(&mut p, 127), FwdNext::TimeExceeded);
    }
}
