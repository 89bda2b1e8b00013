//! ARP input (RFC 826; Linux `arp_process`), run by the control thread on frames the
//! workers punt: answer requests for the port's address in place, and report what the
//! neighbour table should learn.
use super::{Packet, PortCtx, Reason, ETH_HLEN};
use crate::wire::arp::{self, ArpPacket};
use crate::wire::ethernet::{EthernetFrame, ETHERTYPE_ARP};
use crate::wire::MacAddr;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpNext {
    /// A request for our address: `pkt` now holds the reply, ready to send. The sender
    /// is worth learning unless it is an address probe from 0.0.0.0 (RFC 5227).
    Reply {
        learn: Option<(Ipv4Addr, MacAddr)>,
    },
    /// A reply addressed to us.
    Learn {
        ip: Ipv4Addr,
        mac: MacAddr,
    },
    Drop(Reason),
}

/// The checks the worker makes before punting an ARP frame (the first half of
/// [`arp_input`]): well-formed Ethernet/IPv4 ARP from a unicast sender, for one of the
/// port's addresses, with a request or reply op. Its sender's address, or why not.
pub fn arp_for_us(frame: &[u8], port: &PortCtx) -> Result<Ipv4Addr, Reason> {
    let Some(Ok(a)) = frame.get(ETH_HLEN..).map(ArpPacket::new_checked) else {
        return Err(Reason::ArpMalformed);
    };
    if !a.is_ethernet_ipv4() {
        return Err(Reason::ArpMalformed);
    }
    let sha = a.sender_mac();
    if sha.is_multicast() || sha.is_zero() {
        return Err(Reason::ArpMalformed);
    }
    if !port.owns(a.target_ip()) {
        return Err(Reason::ArpOtherTarget);
    }
    let spa = a.sender_ip();
    match a.operation() {
        arp::OP_REQUEST => Ok(spa),
        arp::OP_REPLY if !spa.is_unspecified() => Ok(spa),
        _ => Err(Reason::ArpMalformed),
    }
}

pub fn arp_input<P: Packet>(pkt: &mut P, port: &PortCtx) -> ArpNext {
    if let Err(r) = arp_for_us(pkt.data(), port) {
        return ArpNext::Drop(r);
    }
    let Some(Ok(a)) = pkt.data().get(ETH_HLEN..).map(ArpPacket::new_checked) else {
        return ArpNext::Drop(Reason::ArpMalformed);
    };
    let (op, sha, spa, tpa) = (a.operation(), a.sender_mac(), a.sender_ip(), a.target_ip());
    match op {
        arp::OP_REQUEST => {
            let learn = (!spa.is_unspecified()).then_some((spa, sha));
            let data = pkt.data_mut();
            let _ = arp::emit(
                &mut data[ETH_HLEN..],
                arp::OP_REPLY,
                port.mac,
                tpa,
                sha,
                spa,
            );
            let mut eth = EthernetFrame::new_unchecked(&mut data[..]);
            eth.set_dst(sha);
            eth.set_src(port.mac);
            eth.set_ethertype(ETHERTYPE_ARP);
            ArpNext::Reply { learn }
        }
        // arp_for_us let only these through.
        _ => ArpNext::Learn { ip: spa, mac: sha },
    }
}

/// A broadcast (or, with `dst`, unicast) ARP request from `port` for `target`, padded to
/// the 60-byte Ethernet minimum.
pub fn arp_request(port: &PortCtx, target: Ipv4Addr, dst: Option<MacAddr>) -> [u8; 60] {
    let mut f = [0u8; 60];
    {
        let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
        eth.set_dst(dst.unwrap_or(MacAddr::BROADCAST));
        eth.set_src(port.mac);
        eth.set_ethertype(ETHERTYPE_ARP);
    }
    // RFC 826: target hardware address is unknown (zero) in a request.
    let _ = arp::emit(
        &mut f[ETH_HLEN..],
        arp::OP_REQUEST,
        port.mac,
        port.source_for(target),
        MacAddr::ZERO,
        target,
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::testutil::*;
    use crate::datapath::TestPacket;

    fn port() -> PortCtx {
        PortCtx {
            id: 0,
            name: "port0".into(),
            mac: ROUTER_MAC,
            addr: "10.0.1.1/24".parse().unwrap(),
            mtu: 1500,
            secondary: Vec::new(),
            up: true,
        }
    }

    fn frame(op: u16, spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0u8; 42];
        f[..6].fill(0xff);
        f[6..12].copy_from_slice(&HOST_MAC.0);
        f[12..14].copy_from_slice(&[8, 6]);
        arp::emit(
            &mut f[14..],
            op,
            HOST_MAC,
            spa.into(),
            MacAddr::ZERO,
            tpa.into(),
        )
        .unwrap();
        f
    }

    #[test]
    fn request_for_us_is_answered_in_place() {
        let mut p = TestPacket::new(&frame(1, [10, 0, 1, 2], [10, 0, 1, 1]), 0);
        assert_eq!(
            arp_input(&mut p, &port()),
            ArpNext::Reply {
                learn: Some((Ipv4Addr::new(10, 0, 1, 2), HOST_MAC))
            }
        );
        let eth = EthernetFrame::new_checked(&p.buf[..]).unwrap();
        assert_eq!((eth.dst(), eth.src()), (HOST_MAC, ROUTER_MAC));
        let a = ArpPacket::new_checked(&p.buf[14..]).unwrap();
        assert_eq!(a.operation(), arp::OP_REPLY);
        assert_eq!(
            (a.sender_mac(), a.sender_ip()),
            (ROUTER_MAC, Ipv4Addr::new(10, 0, 1, 1))
        );
        assert_eq!(
            (a.target_mac(), a.target_ip()),
            (HOST_MAC, Ipv4Addr::new(10, 0, 1, 2))
        );
    }

    #[test]
    fn probe_is_answered_without_learning() {
        let mut p = TestPacket::new(&frame(1, [0, 0, 0, 0], [10, 0, 1, 1]), 0);
        assert_eq!(arp_input(&mut p, &port()), ArpNext::Reply { learn: None });
    }

    #[test]
    fn reply_is_learned_and_others_dropped() {
        let mut p = TestPacket::new(&frame(2, [10, 0, 1, 2], [10, 0, 1, 1]), 0);
        assert_eq!(
            arp_input(&mut p, &port()),
            ArpNext::Learn {
                ip: Ipv4Addr::new(10, 0, 1, 2),
                mac: HOST_MAC
            }
        );
        let mut p = TestPacket::new(&frame(1, [10, 0, 1, 2], [10, 0, 1, 7]), 0);
        assert_eq!(
            arp_input(&mut p, &port()),
            ArpNext::Drop(Reason::ArpOtherTarget)
        );
        let mut p = TestPacket::new(&frame(1, [10, 0, 1, 2], [10, 0, 1, 1])[..30], 0);
        assert_eq!(
            arp_input(&mut p, &port()),
            ArpNext::Drop(Reason::ArpMalformed)
        );
        let mut f = frame(1, [10, 0, 1, 2], [10, 0, 1, 1]);
        f[14 + 5] = 16; // protocol length
        assert_eq!(
            arp_input(&mut TestPacket::new(&f, 0), &port()),
            ArpNext::Drop(Reason::ArpMalformed)
        );
    }

    #[test]
    fn request_frame_is_well_formed() {
        let f = arp_request(&port(), Ipv4Addr::new(10, 0, 1, 2), None);
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        assert!(eth.dst().is_broadcast());
        let a = ArpPacket::new_checked(&f[14..]).unwrap();
        assert!(a.is_ethernet_ipv4());
        assert_eq!(a.operation(), arp::OP_REQUEST);
        assert_eq!(a.target_ip(), Ipv4Addr::new(10, 0, 1, 2));
        let f = arp_request(&port(), Ipv4Addr::new(10, 0, 1, 2), Some(HOST_MAC));
        assert_eq!(EthernetFrame::new_checked(&f[..]).unwrap().dst(), HOST_MAC);
    }
}
