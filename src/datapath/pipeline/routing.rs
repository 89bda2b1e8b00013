//! Stage 3 off the fast path: the route's verdict (local, forward, refuse), the checks
//! Linux adds to it, forwarding and output. Wired only from `pipeline`.
use super::local::{is_tcp, reply_options};
use super::*;
/// After the FIB: the route decides (local, forward, refuse).
#[inline]
pub(super) fn route(
    eg: &mut Egress,
    slow: &mut SlowPath,
    m: Mbuf,
    meta: Meta,
    dst: u32,
    nh: Option<NextHop>,
    v: &mut View,
) {
    // Off the fast path only: source checks, directed broadcasts, IP options.
    let Some((mut m, reply_opts)) = checks(eg, slow, m, meta, dst, nh, v) else {
        return;
    };
    // The exception path: link-local multicast (OSPF, RIP) and broadcasts (of the
    // arrival subnet, or limited) go to the kernel twin, but for ICMP.
    let link = is_link_local_group(dst) || is_limited_broadcast(dst);
    let link = link || matches!(nh, Some(NextHop::Broadcast { .. }));
    if link && slow.host_on() && for_host(m.data()) {
        eg.tally.port(meta.in_port, PortStat::Delivered, 1);
        return slow.host(eg, m);
    }
    let u = match ip4_route(dst, nh, meta.l2_bcast) {
        RouteNext::Forward { port, nh } => forward(eg, m, meta, port, nh, v),
        // The exception path: what the datapath does not answer, to the twin.
        RouteNext::Local if slow.host_on() && for_host(m.data()) => {
            eg.tally.port(meta.in_port, PortStat::Delivered, 1);
            slow.host(eg, m);
            None
        }
        RouteNext::Local => {
            eg.tally.port(meta.in_port, PortStat::Delivered, 1);
            match ip4_local(&mut m) {
                LocalNext::Reply if is_tcp(&m) => {
                    eg.tally.drop(meta.in_port, Reason::TcpNoSocket);
                    reply_options(&mut m, reply_opts);
                    send_local(eg, m, v)
                }
                LocalNext::Reply => {
                    // Limited only when icmp.ratemask says so (bit 0; not by default).
                    // ip4_local made the reply in place: its destination is the asker.
                    let to = dst_of(&m).unwrap_or(Ipv4Addr::UNSPECIFIED);
                    if !eg.icmp_allowed(IcmpOut::EchoReply, to) {
                        return;
                    }
                    eg.tally.icmp(IcmpOut::EchoReply);
                    reply_options(&mut m, reply_opts);
                    send_local(eg, m, v)
                }
                LocalNext::Icmp(kind, r) => icmp_error(eg, m, meta, kind, r, v),
                LocalNext::Reassemble => {
                    let l2_bcast = meta.l2_bcast;
                    slow.fragment(eg, LocalFragment { pkt: m, l2_bcast });
                    None
                }
                LocalNext::Drop(r) => {
                    eg.drop_on(meta.in_port, m, r);
                    None
                }
            }
        }
        RouteNext::Icmp(kind, r) => icmp_error(eg, m, meta, kind, r, v),
        RouteNext::Drop(r) => {
            eg.drop_on(meta.in_port, m, r);
            None
        }
    };
    slow.resolve(eg, u);
}

/// Forwarding: TTL and the DF check against the egress MTU, then output.
#[inline]
fn forward(
    eg: &mut Egress,
    mut m: Mbuf,
    meta: Meta,
    port: u16,
    nh: Ipv4Addr,
    v: &mut View,
) -> Option<Unresolved> {
    let pc = v.ports.get(port);
    // A port the FIB names but the ports view lacks: no MTU limit; dropped at output.
    match ip4_forward(&mut m, pc.map_or(u16::MAX, |p| p.mtu)) {
        FwdNext::Output => {
            eg.tally.port(meta.in_port, PortStat::Forwarded, 1);
            match pc {
                Some(pc) => output_on(eg, m, meta, pc, nh, v),
                None => {
                    eg.drop_on(meta.in_port, m, Reason::TxQueueFull);
                    None
                }
            }
        }
        FwdNext::FragNeeded { mtu } => {
            let meta = Meta { mtu, ..meta };
            icmp_error(eg, m, meta, IcmpOut::FragNeeded, Reason::Ip4FragNeeded, v)
        }
        FwdNext::TimeExceeded => {
            icmp_error(eg, m, meta, IcmpOut::TtlExceeded, Reason::Ip4TtlExceeded, v)
        }
    }
}

/// Output towards `nh` on `port`: MTU check, neighbour lookup, Ethernet header, TX; or
/// back to the caller to resolve.
pub fn output(
    eg: &mut Egress,
    m: Mbuf,
    port: u16,
    nh: Ipv4Addr,
    v: &mut View,
) -> Option<Unresolved> {
    let meta = Meta::of(&m);
    match v.ports.get(port) {
        Some(pc) => output_on(eg, m, meta, pc, nh, v),
        None => {
            eg.drop_pkt(m, Reason::TxQueueFull);
            None
        }
    }
}

#[inline]
fn output_on(
    eg: &mut Egress,
    mut m: Mbuf,
    meta: Meta,
    pc: &PortCtx,
    nh: Ipv4Addr,
    v: &mut View,
) -> Option<Unresolved> {
    if !pc.up {
        eg.drop_on(meta.in_port, m, Reason::PortDown);
        return None;
    }
    match ip4_output(&mut m, pc, nh, &mut v.neigh) {
        OutNext::Tx { port } => {
            eg.transmit(m, port);
            None
        }
        OutNext::Fragment { port: _, mac } => {
            eg.fragment_to(m, pc, mac);
            None
        }
        OutNext::Resolve { port, nh } => Some(Unresolved { pkt: m, port, nh }),
        OutNext::FragNeeded { mtu } => {
            let meta = Meta {
                mtu,
                l2_bcast: false,
                ..meta
            };
            icmp_error(eg, m, meta, IcmpOut::FragNeeded, Reason::Ip4FragNeeded, v)
        }
    }
}

/// The checks of Linux `ip_route_input_slow` the stages add to the FIB's verdict, and
/// options (IHL > 5) on a path of their own. Gives the packet back with the options
/// an answer to it must carry, or consumes it (dropped, answered or forwarded).
#[inline]
fn checks(
    eg: &mut Egress,
    slow: &mut SlowPath,
    m: Mbuf,
    meta: Meta,
    dst: u32,
    nh: Option<NextHop>,
    v: &mut View,
) -> Option<(Mbuf, Option<ReplyOptions>)> {
    let (src, ihl) = match m.data().get(ETH_HLEN..ETH_HLEN + 20) {
        Some(h) => (
            u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
            h[0] & 0x0f,
        ),
        None => {
            eg.drop_on(meta.in_port, m, Reason::Ip4HdrTruncated);
            return None;
        }
    };
    if let Err(r) = ip4_source::check_source(v.ports, v.fib, src, meta.in_port) {
        eg.drop_on(meta.in_port, m, r);
        return None;
    }
    // A directed broadcast to another port's subnet (RFC 2644, Linux bc_forwarding);
    // the broadcast of the arrival subnet is local, for `ip4_route`.
    if let Some(NextHop::Broadcast { port }) = nh {
        if port != meta.in_port {
            directed_broadcast(eg, m, meta, port, v);
            return None;
        }
    }
    if ihl <= 5 {
        return Some((m, None));
    }
    options(eg, slow, m, meta, dst, nh, v)
}

/// Forwards a directed broadcast as link-layer broadcast when `ip.bc_forwarding` is on
/// (Linux `ip_route_input_slow`: RTN_BROADCAST with IN_DEV_BFORWARD goes to
/// make_route); otherwise it is dropped (RFC 2644 §3: off by default). No ICMP errors
/// about it: its destination is a broadcast (RFC 1812 §4.3.2.7).
#[cold]
#[inline(never)]
fn directed_broadcast(eg: &mut Egress, mut m: Mbuf, meta: Meta, port: u16, v: &mut View) {
    if !v.ports.policy().bc_forwarding || meta.l2_bcast {
        eg.drop_on(meta.in_port, m, Reason::Ip4DirectedBroadcast);
        return;
    }
    let Some(pc) = v.ports.get(port) else {
        eg.drop_on(meta.in_port, m, Reason::TxQueueFull);
        return;
    };
    if !pc.up {
        eg.drop_on(meta.in_port, m, Reason::PortDown);
        return;
    }
    match ip4_forward(&mut m, pc.mtu) {
        FwdNext::Output => {
            eg.tally.port(meta.in_port, PortStat::Forwarded, 1);
            eg.transmit_to(m, pc, crate::wire::MacAddr::BROADCAST);
        }
        FwdNext::FragNeeded { .. } => eg.drop_on(meta.in_port, m, Reason::Ip4FragNeeded),
        FwdNext::TimeExceeded => eg.drop_on(meta.in_port, m, Reason::Ip4TtlExceeded),
    }
}

/// A packet with options, delivered or forwarded (Linux `ip_rcv_options`): compiled
/// with the address it records (ours as its destination, or the egress port's),
/// source routes refused unless `ip.accept_source_route`, malformed options answered
/// with parameter problem. Other verdicts of `ip4_route` leave the options alone.
#[cold]
#[inline(never)]
fn options(
    eg: &mut Egress,
    slow: &mut SlowPath,
    mut m: Mbuf,
    meta: Meta,
    dst: u32,
    nh: Option<NextHop>,
    v: &mut View,
) -> Option<(Mbuf, Option<ReplyOptions>)> {
    let ports = v.ports;
    let decision = ip4_route(dst, nh, meta.l2_bcast);
    // RR records the egress address (Linux ip_forward_options), TS our address towards
    // the sender (Linux spec_dst); delivered locally, both are the destination.
    let (rr_addr, ts_addr, local) = match decision {
        RouteNext::Local => (Ipv4Addr::from(dst), Ipv4Addr::from(dst), true),
        RouteNext::Forward { port, nh } => match (ports.get(port), ports.get(meta.in_port)) {
            (Some(out), Some(inp)) => {
                let src = m
                    .data()
                    .get(ETH_HLEN + 12..ETH_HLEN + 16)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map_or(Ipv4Addr::UNSPECIFIED, Ipv4Addr::from);
                (out.source_for(nh), inp.source_for(src), false)
            }
            _ => return Some((m, None)),
        },
        _ => return Some((m, None)),
    };
    let hlen = usize::from(m.data()[ETH_HLEN] & 0x0f) * 4;
    let now = ip4_options::timestamp_now();
    // Linux inet_addr_type != RTN_UNICAST: one of ours, or a broadcast address.
    let ours = |a: Ipv4Addr| {
        let a = u32::from(a);
        ip4_source::is_own_address(ports, a) || ip4_source::is_subnet_broadcast(ports, a)
    };
    let compiled = match m.data_mut().get_mut(ETH_HLEN..ETH_HLEN + hlen) {
        Some(hdr) => ip4_options::compile(hdr, rr_addr, ts_addr, now, ours),
        None => Err(OptError::Problem(0)),
    };
    let c = match compiled {
        Ok(c) => c,
        Err(OptError::Problem(ptr)) => {
            let meta = Meta {
                mtu: u16::from(ptr),
                ..meta
            };
            let u = icmp_error(eg, m, meta, IcmpOut::ParamProblem, Reason::Ip4BadOptions, v);
            slow.resolve(eg, u);
            return None;
        }
    };
    // RFC 1812 §5.2.4.1 lets a router refuse source routes; Linux does by default
    // (accept_source_route=0). Accepted, they are forwarded by the destination address
    // as it is (the router does not act as a hop of the route).
    if c.srr.is_some() && !ports.policy().accept_source_route {
        eg.drop_on(meta.in_port, m, Reason::Ip4SourceRoute);
        return None;
    }
    if let Ok(mut ip) = Ipv4Packet::new_checked(&mut m.data_mut()[ETH_HLEN..]) {
        ip.fill_checksum();
    }
    let reply = if local {
        m.data()
            .get(ETH_HLEN..ETH_HLEN + hlen)
            .and_then(|hdr| ReplyOptions::new(hdr, &c))
    } else {
        None
    };
    Some((m, reply))
}
