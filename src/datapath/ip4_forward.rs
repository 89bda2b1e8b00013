//! Forwarding: TTL check and decrement with an incremental checksum update (Linux
//! `ip_forward`; RFC 1812 §5.3.1, RFC 1624).
use super::{Packet, ETH_HLEN};
use crate::wire::ipv4::Ipv4Packet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FwdNext {
    /// TTL decremented; on to output.
    Output,
    /// TTL was 0 or 1: answer with ICMP time exceeded.
    TimeExceeded,
}

/// Call only on packets that passed `ip4_input`.
pub fn ip4_forward<P: Packet>(pkt: &mut P) -> FwdNext {
    let Some(l3) = pkt.data_mut().get_mut(ETH_HLEN..) else {
        return FwdNext::TimeExceeded;
    };
    let Ok(mut ip) = Ipv4Packet::new_checked(l3) else {
        return FwdNext::TimeExceeded;
    };
    if ip.ttl() <= 1 {
        return FwdNext::TimeExceeded;
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
        assert_eq!(ip4_forward(&mut p), FwdNext::Output);
        let ip = Ipv4Packet::new_checked(&p.buf[14..]).unwrap();
        assert_eq!(ip.ttl(), 63);
        assert!(ip.verify_checksum());
    }

    #[test]
    fn ttl_zero_or_one_expires() {
        for ttl in [0, 1] {
            let mut p = TestPacket::new(&echo_request([10, 0, 1, 2], [10, 0, 2, 2], ttl, b""), 0);
            assert_eq!(ip4_forward(&mut p), FwdNext::TimeExceeded);
        }
        let mut p = TestPacket::new(&echo_request([10, 0, 1, 2], [10, 0, 2, 2], 2, b""), 0);
        assert_eq!(ip4_forward(&mut p), FwdNext::Output);
    }
}
