//! Output (Linux `ip_finish_output` + `ip_finish_output2` + `neigh_output`): check the
//! egress MTU, find the next hop's MAC and write the Ethernet header, or say that the
//! packet needs fragmenting (DF clear) or a "fragmentation needed" answer (DF set).
use super::{Packet, PortCtx, Reason, ETH_HLEN};
use crate::fib::{Fib, NextHop};
use crate::neigh::NeighCursor;
use crate::wire::ethernet::{EthernetFrame, ETHERTYPE_IPV4};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::MacAddr;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutNext {
    /// Ethernet header written; send on this port.
    Tx { port: u16 },
    /// Larger than the port's MTU with DF clear, next hop at `mac`: fragment, then send
    /// each fragment there (RFC 791, RFC 1812 §5.2.6).
    Fragment { port: u16, mac: MacAddr },
    /// No usable ARP entry for `nh`: hand to the control thread to resolve. The packet
    /// is held whole and fragmented, if it must be, when the neighbour answers.
    Resolve { port: u16, nh: Ipv4Addr },
    /// Larger than the MTU with DF set: answer "fragmentation needed" with `mtu`
    /// (RFC 1191).
    FragNeeded { mtu: u16 },
}

/// Routes a packet the router originates (echo reply, ICMP error) to its destination:
/// the egress port and next-hop address.
pub fn route_output(fib: &Fib, dst: Ipv4Addr) -> Result<(u16, Ipv4Addr), Reason> {
    let d = u32::from(dst);
    // A multipath route: the member for the destination (the router's own packets have
    // no flow of their own to keep).
    let hash = crate::fib::flow::hash_tuple(0, d, 0, 0, 0);
    match fib.pick(fib.lookup(d), hash) {
        Some(NextHop::Connected { port }) => Ok((port, dst)),
        Some(NextHop::Gateway { port, gw }) => Ok((port, gw)),
        Some(NextHop::Blackhole) => Err(Reason::RouteBlackhole),
        Some(NextHop::Unreachable) => Err(Reason::RouteUnreachable),
        Some(NextHop::Prohibit) => Err(Reason::RouteProhibit),
        // To ourselves or a broadcast address: nothing to send.
        Some(NextHop::Local { .. }) | Some(NextHop::Broadcast { .. }) => Err(Reason::Ip4Broadcast),
        Some(NextHop::Group { .. }) | None => Err(Reason::Ip4NoRoute),
    }
}

/// The destination address of the IPv4 packet in `pkt`.
pub fn dst_of<P: Packet>(pkt: &P) -> Option<Ipv4Addr> {
    let ip = Ipv4Packet::new_checked(pkt.data().get(ETH_HLEN..)?).ok()?;
    Some(ip.dst_addr())
}

/// Writes the Ethernet header for a packet leaving `port` towards `dst_mac`.
pub fn write_eth<P: Packet>(pkt: &mut P, src: MacAddr, dst: MacAddr) {
    if let Ok(mut eth) = EthernetFrame::new_checked(pkt.data_mut()) {
        eth.set_dst(dst);
        eth.set_src(src);
        eth.set_ethertype(ETHERTYPE_IPV4);
    }
}

/// True if the IP packet in `pkt` is longer than `mtu`.
#[inline]
pub fn exceeds_mtu<P: Packet>(pkt: &P, mtu: u16) -> bool {
    pkt.data().len().saturating_sub(ETH_HLEN) > usize::from(mtu)
}

/// The DF flag of the IPv4 packet in `pkt` (false if there is no header).
pub fn dont_frag<P: Packet>(pkt: &P) -> bool {
    pkt.data()
        .get(ETH_HLEN..)
        .and_then(|b| Ipv4Packet::new_checked(b).ok())
        .is_some_and(|ip| ip.dont_frag())
}

/// MTU check and neighbour lookup for a packet leaving on `port` towards `nh`.
pub fn ip4_output<P: Packet>(
    pkt: &mut P,
    port: &PortCtx,
    nh: Ipv4Addr,
    neigh: &mut NeighCursor,
) -> OutNext {
    let too_big = exceeds_mtu(pkt, port.mtu);
    // RFC 1191: DF set and too big is answered before anything else (Linux
    // ip_forward's ip_exceeds_mtu check).
    if too_big && dont_frag(pkt) {
        return OutNext::FragNeeded { mtu: port.mtu };
    }
    // The lookup tells the neighbour state machine the entry is in use (STALE -> DELAY).
    match neigh.lookup(port.id, nh) {
        Some(mac) => {
            if too_big {
                return OutNext::Fragment { port: port.id, mac };
            }
            write_eth(pkt, port.mac, mac);
            OutNext::Tx { port: port.id }
        }
        None => OutNext::Resolve { port: port.id, nh },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::testutil::*;
    use crate::datapath::TestPacket;
    use crate::fib::{Proto, Rib, Route, RouteTarget};
    use crate::neigh::{NeighKey, NeighParams, NeighTable};

    fn port() -> PortCtx {
        PortCtx {
            id: 1,
            name: "port1".into(),
            mac: ROUTER_MAC,
            addr: "10.0.2.1/24".parse().unwrap(),
            mtu: 1500,
            secondary: Vec::new(),
            up: true,
        }
    }

    #[test]
    fn resolved_neighbour_gets_ethernet_header() {
        let nh = Ipv4Addr::new(10, 0, 2, 2);
        let mut table: NeighTable<u32> = NeighTable::new(NeighParams::default());
        let mut out = Vec::new();
        table.add_static(NeighKey { port: 1, ip: nh }, HOST_MAC, &mut out);
        let snap = table.snapshot();
        let mut snap = NeighCursor::new(&snap);
        let mut p = TestPacket::new(&echo_request([10, 0, 1, 2], [10, 0, 2, 2], 64, b""), 0);
        p.buf[..12].fill(0);
        assert_eq!(
            ip4_output(&mut p, &port(), nh, &mut snap),
            OutNext::Tx { port: 1 }
        );
        let eth = EthernetFrame::new_checked(&p.buf[..]).unwrap();
        assert_eq!((eth.dst(), eth.src()), (HOST_MAC, ROUTER_MAC));
        let other = Ipv4Addr::new(10, 0, 2, 3);
        assert_eq!(
            ip4_output(&mut p, &port(), other, &mut snap),
            OutNext::Resolve { port: 1, nh: other }
        );
    }

    #[test]
    fn oversize_packets_by_df_bit() {
        let nh = Ipv4Addr::new(10, 0, 2, 2);
        let mut table: NeighTable<u32> = NeighTable::new(NeighParams::default());
        let mut out = Vec::new();
        table.add_static(NeighKey { port: 1, ip: nh }, HOST_MAC, &mut out);
        let snap = table.snapshot();
        let mut snap = NeighCursor::new(&snap);
        let mut small = port();
        // 20 + 8 + 200 = 228 octets of IP.
        small.mtu = 227;
        let frame = echo_request([10, 0, 1, 2], [10, 0, 2, 2], 64, &[0; 200]);
        let mut p = TestPacket::new(&frame, 0);
        // DF set: answered with the MTU, whether the neighbour is known or not.
        assert_eq!(
            ip4_output(&mut p, &small, nh, &mut snap),
            OutNext::FragNeeded { mtu: 227 }
        );
        assert_eq!(
            ip4_output(&mut p, &small, Ipv4Addr::new(10, 0, 2, 9), &mut snap),
            OutNext::FragNeeded { mtu: 227 }
        );
        // DF clear: fragmented towards the neighbour, or held whole until it resolves.
        Ipv4Packet::new_unchecked(&mut p.buf[14..]).set_frag(false, false, 0);
        assert_eq!(
            ip4_output(&mut p, &small, nh, &mut snap),
            OutNext::Fragment {
                port: 1,
                mac: HOST_MAC
            }
        );
        assert_eq!(
            ip4_output(&mut p, &small, Ipv4Addr::new(10, 0, 2, 9), &mut snap),
            OutNext::Resolve {
                port: 1,
                nh: Ipv4Addr::new(10, 0, 2, 9)
            }
        );
        // Exactly the MTU goes as it is, DF or not.
        small.mtu = 228;
        let mut p = TestPacket::new(&frame, 0);
        assert_eq!(
            ip4_output(&mut p, &small, nh, &mut snap),
            OutNext::Tx { port: 1 }
        );
    }

    #[test]
    fn local_output_routing() {
        let mut rib = Rib::new();
        rib.insert(Route {
            prefix: "10.0.2.0/24".parse().unwrap(),
            target: RouteTarget::Connected { port: 1 },
            metric: 0,
            proto: Proto::Kernel,
        });
        rib.insert(Route {
            prefix: "0.0.0.0/0".parse().unwrap(),
            target: RouteTarget::Gateway {
                gw: Ipv4Addr::new(10, 0, 2, 254),
                port: None,
            },
            metric: 0,
            proto: Proto::Static,
        });
        let fib = rib.build_fib(1);
        assert_eq!(
            route_output(&fib, Ipv4Addr::new(10, 0, 2, 7)),
            Ok((1, Ipv4Addr::new(10, 0, 2, 7)))
        );
        assert_eq!(
            route_output(&fib, Ipv4Addr::new(8, 8, 8, 8)),
            Ok((1, Ipv4Addr::new(10, 0, 2, 254)))
        );
        assert_eq!(
            route_output(&Fib::default(), Ipv4Addr::new(8, 8, 8, 8)),
            Err(Reason::Ip4NoRoute)
        );
    }
}
