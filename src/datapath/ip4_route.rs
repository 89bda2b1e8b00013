//! The routing decision for a received packet, from its FIB next hop (Linux
//! `ip_route_input_slow`): deliver locally, forward, or refuse.
use super::ip4_input::{is_limited_broadcast, is_multicast};
use super::{IcmpOut, Reason};
use crate::fib::NextHop;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteNext {
    Local,
    Forward {
        port: u16,
        nh: Ipv4Addr,
    },
    /// Refused with an ICMP error (subject to RFC 1812 §4.3.2.7 and the rate limit).
    Icmp(IcmpOut, Reason),
    Drop(Reason),
}

pub fn ip4_route(dst: u32, nh: Option<NextHop>, l2_bcast: bool) -> RouteNext {
    if is_limited_broadcast(dst) {
        return RouteNext::Drop(Reason::Ip4Broadcast);
    }
    if is_multicast(dst) {
        return RouteNext::Drop(Reason::Ip4Multicast);
    }
    let forward = |port, nh| {
        // RFC 1812 §5.3.4: a unicast IP packet in a link-layer broadcast is not forwarded.
        if l2_bcast {
            RouteNext::Drop(Reason::Ip4NotHost)
        } else {
            RouteNext::Forward { port, nh }
        }
    };
    match nh {
        Some(NextHop::Local { .. }) => RouteNext::Local,
        Some(NextHop::Broadcast { .. }) => RouteNext::Drop(Reason::Ip4Broadcast),
        Some(NextHop::Connected { port }) => forward(port, Ipv4Addr::from(dst)),
        Some(NextHop::Gateway { port, gw }) => forward(port, gw),
        Some(NextHop::Blackhole) => RouteNext::Drop(Reason::RouteBlackhole),
        // Linux answers `unreachable` routes with host unreachable and `prohibit` with
        // communication administratively prohibited (RFC 1812 §5.2.7.1).
        Some(NextHop::Unreachable) => {
            RouteNext::Icmp(IcmpOut::HostUnreachable, Reason::RouteUnreachable)
        }
        Some(NextHop::Prohibit) => RouteNext::Icmp(IcmpOut::AdminProhibited, Reason::RouteProhibit),
        // The caller picks a group's member (`Fib::pick`); a group left unpicked, or a
        // pick that found no member, is no route.
        Some(NextHop::Group { .. }) | None if l2_bcast => RouteNext::Drop(Reason::Ip4NotHost),
        Some(NextHop::Group { .. }) | None => {
            RouteNext::Icmp(IcmpOut::NetUnreachable, Reason::Ip4NoRoute)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: u32 = 0x0a000202;

    #[test]
    fn decisions() {
        let gw = Ipv4Addr::new(10, 0, 2, 2);
        assert_eq!(
            ip4_route(D, Some(NextHop::Local { port: 0 }), true),
            RouteNext::Local
        );
        assert_eq!(
            ip4_route(D, Some(NextHop::Connected { port: 1 }), false),
            RouteNext::Forward {
                port: 1,
                nh: Ipv4Addr::from(D)
            }
        );
        assert_eq!(
            ip4_route(0xc0000201, Some(NextHop::Gateway { port: 1, gw }), false),
            RouteNext::Forward { port: 1, nh: gw }
        );
        assert_eq!(
            ip4_route(D, Some(NextHop::Connected { port: 1 }), true),
            RouteNext::Drop(Reason::Ip4NotHost)
        );
        assert_eq!(
            ip4_route(D, None, false),
            RouteNext::Icmp(IcmpOut::NetUnreachable, Reason::Ip4NoRoute)
        );
        assert_eq!(
            ip4_route(D, None, true),
            RouteNext::Drop(Reason::Ip4NotHost)
        );
        assert_eq!(
            ip4_route(D, Some(NextHop::Blackhole), false),
            RouteNext::Drop(Reason::RouteBlackhole)
        );
        assert_eq!(
            ip4_route(D, Some(NextHop::Unreachable), false),
            RouteNext::Icmp(IcmpOut::HostUnreachable, Reason::RouteUnreachable)
        );
        assert_eq!(
            ip4_route(D, Some(NextHop::Prohibit), false),
            RouteNext::Icmp(IcmpOut::AdminProhibited, Reason::RouteProhibit)
        );
        assert_eq!(
            ip4_route(0x0a0002ff, Some(NextHop::Broadcast { port: 1 }), false),
            RouteNext::Drop(Reason::Ip4Broadcast)
        );
        assert_eq!(
            ip4_route(u32::MAX, Some(NextHop::Local { port: 0 }), true),
            RouteNext::Drop(Reason::Ip4Broadcast)
        );
        assert_eq!(
            ip4_route(0xe0000005, None, false),
            RouteNext::Drop(Reason::Ip4Multicast)
        );
        // A group whose member the caller did not pick is no route.
        assert_eq!(
            ip4_route(D, Some(NextHop::Group { group: 0 }), false),
            RouteNext::Icmp(IcmpOut::NetUnreachable, Reason::Ip4NoRoute)
        );
    }
}
