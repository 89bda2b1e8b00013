//! What the router itself sends: packets it originates (routed by `send_local`) and
//! the ICMP errors it answers with. Wired only from `pipeline`.
use super::*;
/// Routes and sends a packet the router originates (echo reply, ICMP error).
pub fn send_local(eg: &mut Egress, m: Mbuf, v: &mut View) -> Option<Unresolved> {
    let Some(dst) = dst_of(&m) else {
        eg.drop_pkt(m, Reason::Ip4HdrTruncated);
        return None;
    };
    match route_output(v.fib, dst) {
        Ok((port, nh)) => output(eg, m, port, nh, v),
        Err(r) => {
            eg.drop_pkt(m, r);
            None
        }
    }
}

/// Routes and sends a datagram the router built in heap memory (the answer to a
/// reassembled request, possibly longer than any mbuf): cut into mbufs at the egress
/// MTU, one if it fits, each then output like any packet. Those waiting for ARP are
/// added to `unresolved`.
pub fn send_local_heap(
    eg: &mut Egress,
    p: &HeapPacket,
    v: &mut View,
    unresolved: &mut Vec<Unresolved>,
) {
    let Some(dst) = dst_of(p) else {
        eg.tally.drop(p.port, Reason::Ip4HdrTruncated);
        return;
    };
    let (port, nh) = match route_output(v.fib, dst) {
        Ok(r) => r,
        Err(r) => {
            eg.tally.drop(p.port, r);
            return;
        }
    };
    let Some(pc) = v.ports.get(port) else {
        eg.tally.drop(p.port, Reason::TxQueueFull);
        return;
    };
    if !pc.up {
        eg.tally.drop(p.port, Reason::PortDown);
        return;
    }
    // The router's own datagrams leave DF clear; one with DF is not cut up.
    if exceeds_mtu(p, pc.mtu) && dont_frag(p) {
        eg.tally.drop(p.port, Reason::Ip4FragNeeded);
        return;
    }
    let mut frags = match eg.fragment_heap(p, pc.mtu) {
        Ok(f) => f,
        Err(r) => {
            eg.tally.drop(p.port, r);
            return;
        }
    };
    for f in frags.drain(..) {
        unresolved.extend(output(eg, f, port, nh, v));
    }
    eg.recycle_frags(frags);
}

/// Drops `m` for `reason` and answers it with ICMP `kind`, from the address of the
/// port it arrived on, unless RFC 1812 §4.3.2.7 or the rate limit says no.
pub fn icmp_error(
    eg: &mut Egress,
    m: Mbuf,
    meta: Meta,
    kind: IcmpOut,
    reason: Reason,
    v: &mut View,
) -> Option<Unresolved> {
    eg.count_drop(meta.in_port, &m, reason);
    icmp_answer(eg, m, meta, kind, v)
}

/// Answers a datagram held in heap memory (reassembled, or the quote of one that
/// timed out) with ICMP `kind`: as `icmp_answer` on a copy of as much of it as an
/// ICMP error quotes (`QUOTE_MAX`). The caller counts the drop.
pub fn icmp_answer_heap(
    eg: &mut Egress,
    p: &HeapPacket,
    kind: IcmpOut,
    l2_bcast: bool,
    v: &mut View,
) -> Option<Unresolved> {
    p.buf
        .get(ETH_HLEN..)
        .and_then(|b| Ipv4Packet::new_checked(b).ok())?;
    let len = (ETH_HLEN + QUOTE_MAX).min(p.buf.len());
    // Without an mbuf there is no answer; the datagram itself is already counted.
    let mut m = eg.alloc()?;
    if !m.set_len(len) {
        return None;
    }
    m.data_mut().copy_from_slice(&p.buf[..len]);
    m.set_in_port(p.port);
    let meta = Meta {
        in_port: p.port,
        l2_bcast,
        mtu: 0,
    };
    icmp_answer(eg, m, meta, kind, v)
}

/// Turns `m` into the ICMP error `kind` about itself and sends it, unless RFC 1812
/// §4.3.2.7 or the rate limit says no. Counts no drop: see `icmp_error`.
pub fn icmp_answer(
    eg: &mut Egress,
    mut m: Mbuf,
    meta: Meta,
    kind: IcmpOut,
    v: &mut View,
) -> Option<Unresolved> {
    if !may_send_error(&m, meta.l2_bcast) {
        eg.tally.icmp_suppressed += 1;
        return None;
    }
    let Some(src) = v.ports.get(meta.in_port).map(|p| p.ip()) else {
        eg.tally.icmp_suppressed += 1;
        return None;
    };
    let Some(dst) = m
        .data()
        .get(ETH_HLEN..)
        .and_then(|b| Ipv4Packet::new_checked(b).ok())
        .map(|ip| ip.src_addr())
    else {
        eg.tally.icmp_suppressed += 1;
        return None;
    };
    if !eg.icmp_allowed(kind, dst) {
        return None;
    }
    let ident = eg.icmp_ident();
    if !build_icmp_error(&mut m, kind, src, meta.mtu, ident) {
        eg.tally.icmp_suppressed += 1;
        return None;
    }
    eg.tally.icmp(kind);
    send_local(eg, m, v)
}

// ---------------------------------------------------------------------------------------
// Source checks, directed broadcasts and IP options (issue 16): what `route` does first
// for every packet the fast path did not take.

/// True if the packet's protocol is TCP (a reset `ip4_local` built).
#[inline]
pub(super) fn is_tcp(m: &Mbuf) -> bool {
    m.data().get(ETH_HLEN + 9) == Some(&crate::wire::ipv4::PROTO_TCP)
}

/// Puts the options an answer echoes (Linux `ip_options_echo`) into the answer `m`.
#[inline]
pub(super) fn reply_options(m: &mut Mbuf, r: Option<ReplyOptions>) {
    if let Some(r) = r {
        r.insert(m, ip4_options::timestamp_now());
    }
}
