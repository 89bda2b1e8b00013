//! Ethernet input: accept frames for the port's MAC or broadcast, and sort them by
//! EtherType (Linux `eth_type_trans` + `__netif_receive_skb`).
use super::Reason;
use crate::wire::ethernet::{EthernetFrame, ETHERTYPE_ARP, ETHERTYPE_IPV4};
use crate::wire::MacAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EthNext {
    /// IPv4; `l2_bcast` when the frame was link-layer broadcast.
    Ip4 {
        l2_bcast: bool,
    },
    Arp,
    Drop(Reason),
}

/// With `link_mcast` (the exception path on), frames to the MACs of the link-local
/// groups 224.0.0.0/24 (01:00:5e:00:00:xx, RFC 1112 §6.4: OSPF, RIP, VRRP...) are taken
/// too, as link-layer broadcast: they are for the kernel twin, never forwarded.
pub fn eth_input(frame: &[u8], port_mac: MacAddr, link_mcast: bool) -> EthNext {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return EthNext::Drop(Reason::EthTruncated);
    };
    let dst = eth.dst();
    let link_group = link_mcast && dst.0[..5] == [0x01, 0x00, 0x5e, 0x00, 0x00];
    let l2_bcast = dst.is_broadcast() || link_group;
    if dst != port_mac && !l2_bcast {
        // Other unicast hosts and multicast groups we never joined.
        return EthNext::Drop(Reason::EthOtherHost);
    }
    match eth.ethertype() {
        ETHERTYPE_IPV4 => EthNext::Ip4 { l2_bcast },
        ETHERTYPE_ARP => EthNext::Arp,
        _ => EthNext::Drop(Reason::EthUnhandledType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::testutil::*;

    #[test]
    fn sorts_by_destination_and_ethertype() {
        let mut f = ip_frame([10, 0, 1, 2], [10, 0, 2, 2], 1, 64, &[0; 8]);
        assert_eq!(
            eth_input(&f, ROUTER_MAC, false),
            EthNext::Ip4 { l2_bcast: false }
        );
        f[..6].copy_from_slice(&[0xff; 6]);
        assert_eq!(
            eth_input(&f, ROUTER_MAC, false),
            EthNext::Ip4 { l2_bcast: true }
        );
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(eth_input(&f, ROUTER_MAC, false), EthNext::Arp);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(
            eth_input(&f, ROUTER_MAC, false),
            EthNext::Drop(Reason::EthUnhandledType)
        );
        f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
        assert_eq!(
            eth_input(&f, ROUTER_MAC, false),
            EthNext::Drop(Reason::EthOtherHost)
        );
        f[..6].copy_from_slice(&[0x01, 0, 0x5e, 0, 0, 1]);
        assert_eq!(
            eth_input(&f, ROUTER_MAC, false),
            EthNext::Drop(Reason::EthOtherHost)
        );
        // The exception path takes the link-local groups only.
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[5] = 5;
        assert_eq!(
            eth_input(&f, ROUTER_MAC, true),
            EthNext::Ip4 { l2_bcast: true }
        );
        f[3] = 1;
        assert_eq!(
            eth_input(&f, ROUTER_MAC, true),
            EthNext::Drop(Reason::EthOtherHost)
        );
        assert_eq!(
            eth_input(&f[..13], ROUTER_MAC, false),
            EthNext::Drop(Reason::EthTruncated)
        );
    }
}
