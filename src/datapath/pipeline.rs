//! The one place the stages are wired: each stage returns its outcome as an enum, and
//! only this file maps an outcome to the next call (grout's `ip_input.c`/`ip_forward.c`
//! edges). The worker loop and `bench/pipeline` both call [`receive`], so the benchmark
//! measures the code that runs; the control thread calls [`output`], [`send_local`] and
//! the ICMP edges for what it originates.
//!
//! ```text
//! receive ─ fastpath::accept ─ FIB (whole burst) ─┬ FastHop (gateway) ─> run ─> Egress::transmit_burst
//!                                                 └ fast_forward (connected) ─> Egress::transmit
//!   (declined by accept: eth_input below; declined by either: ip4_route below)
//! receive ─ eth_input ─┬ Arp ─────────────────────────────────────────> slow path
//!                      └ Ip4 ─ ip4_input ─ FIB (whole burst) ─ ip4_route
//!   ip4_route ─┬ Local ── ip4_local ─┬ Reply ─> send_local ─> output
//!              │                     ├ Icmp ──> icmp_error
//!              │                     └ Reassemble ───────────────> slow path
//!              ├ Forward ─ ip4_forward ─┬ Output ─> output
//!              │                        └ FragNeeded/TimeExceeded ─> icmp_error
//!              └ Icmp ─> icmp_error ─> send_local
//!   output ─ ip4_output ─┬ Tx ─> Egress::transmit (qdisc, TX buffer)
//!                        ├ Fragment ─> Egress::fragment_to
//!                        ├ Resolve ─> slow path (neighbour resolution)
//!                        └ FragNeeded ─> icmp_error
//! ```
//!
//! A burst comes from one (port, queue), so everything about the ingress port is looked
//! up once per burst; the FIB is searched once for the whole burst; the next hop of
//! consecutive fast-path packets with the same FIB answer is resolved once (`FastHop`:
//! port, MACs, MTU) and they leave together, counted once (`FastRun`); and the neighbour
//! of consecutive packets to the same next hop is found once ([`NeighCursor`]). A
//! multipath route's answer is a group: its packets pick their member one by one by the
//! flow hash (`fib::flow`) and take `fast_forward` or the stages.
use super::egress::Egress;
use super::eth_input::{eth_input, EthNext};
use super::fastpath::{self, EthAddrs};
use super::icmp_error::{build_icmp_error, may_send_error, QUOTE_MAX};
use super::ip4_forward::{ip4_forward, FwdNext};
use super::ip4_input::{ip4_input, is_limited_broadcast, is_link_local_group};
use super::ip4_local::{for_host, ip4_local, LocalNext};
use super::ip4_options::{self, OptError, ReplyOptions};
use super::ip4_output::{dont_frag, dst_of, exceeds_mtu, ip4_output, route_output, OutNext};
use super::ip4_route::{ip4_route, RouteNext};
use super::ip4_source;
use super::punt::SlowPath;
use super::{HeapPacket, IcmpOut, Packet, PortCtx, PortStat, Ports, Reason, ETH_HLEN};
use crate::dpdk::{Mbuf, MbufBurst, BURST_MAX};
use crate::fib::{flow, Fib, NextHop};
use crate::neigh::{NeighCursor, NeighSnapshot};
use crate::wire::ipv4::Ipv4Packet;
use std::net::Ipv4Addr;

/// What travels with a packet from stage to stage besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// The port it arrived on (its counters, and the source of ICMP errors about it).
    pub in_port: u16,
    /// Link-layer broadcast: never forwarded, never answered with an ICMP error
    /// (RFC 1812 §5.3.4, §4.3.2.7).
    pub l2_bcast: bool,
    /// The next-hop MTU a "fragmentation needed" error carries (RFC 1191); for a
    /// parameter problem, its pointer (RFC 792); 0 otherwise.
    pub mtu: u16,
}

impl Meta {
    /// A packet the router built or holds, about which nothing else is known.
    pub fn of<P: Packet>(p: &P) -> Meta {
        Meta {
            in_port: p.in_port(),
            l2_bcast: false,
            mtu: 0,
        }
    }
}

/// What the stages read during one poll round: the published FIB and ports, and the
/// neighbour snapshot through a cursor that remembers the last entry it found.
pub struct View<'a> {
    pub fib: &'a Fib,
    pub neigh: NeighCursor<'a>,
    pub ports: &'a Ports,
}

impl<'a> View<'a> {
    pub fn new(fib: &'a Fib, neigh: &'a NeighSnapshot, ports: &'a Ports) -> View<'a> {
        View {
            fib,
            neigh: NeighCursor::new(neigh),
            ports,
        }
    }
}

/// A packet whose next hop has no usable ARP entry.
pub struct Unresolved {
    pub pkt: Mbuf,
    pub port: u16,
    pub nh: Ipv4Addr,
}

/// A fragment addressed to the router, handed to reassembly on the control thread (see
/// `ip4_reassembly`). Fragments have a queue of their own, so that a fragment storm
/// cannot crowd ARP and neighbour resolution out of theirs.
pub struct LocalFragment {
    pub pkt: Mbuf,
    pub l2_bcast: bool,
}

/// Packets ahead of the current one whose headers are prefetched.
const PREFETCH_AHEAD: usize = 4;

/// Runs a burst received on DPDK port `port` through the pipeline, to TX buffers,
/// qdiscs, the slow path or a counted drop. Every packet leaves the burst.
pub fn receive(eg: &mut Egress, slow: &mut SlowPath, port: u16, rx: &mut MbufBurst, v: &mut View) {
    let n = rx.len().min(BURST_MAX);
    if n == 0 {
        return;
    }
    eg.tally.bursts += 1;
    eg.tally.burst_packets += n as u64;
    eg.tally.port(port, PortStat::RxPackets, n as u64);
    // The ingress port, once per burst: unknown ports count as frames for another host.
    let ports: &Ports = v.ports;
    let pc = match ports.get(port) {
        Some(pc) if pc.up => pc,
        Some(_) => return drop_burst(eg, port, rx, Reason::PortDown),
        None => return drop_burst(eg, port, rx, Reason::EthOtherHost),
    };
    // Sources the fast path leaves to the stages (ip4_source), once per burst.
    let srcs = v.ports.src_filter();
    let mac = fastpath::mac_key(pc.mac);
    // Per packet index i: its destination address, and bit i of each mask.
    let mut dst = [0u32; BURST_MAX];
    // IPv4 packets that passed input validation (still in `rx`, waiting for the FIB).
    let mut ip4 = 0u32;
    // Those that passed `fastpath::accept`.
    let mut fast = 0u32;
    // Those that came as link-layer broadcast.
    let mut l2_bcast = 0u32;
    let mut rx_bytes = 0u64;
    for i in 0..PREFETCH_AHEAD {
        rx.prefetch(i);
    }
    // Stage 1: Ethernet and IPv4 input, packet by packet. What is not IPv4 leaves the
    // burst here (dropped or punted).
    // By index: i also names the packet's slot in `rx` and its bit in the masks (and
    // `iter_mut().enumerate().take(n)` cost 16 instructions per packet).
    #[allow(clippy::needless_range_loop)]
    for i in 0..n {
        rx.prefetch(i + PREFETCH_AHEAD);
        let Some(m) = rx.get_mut(i) else {
            continue;
        };
        rx_bytes += m.len() as u64;
        let verdict = if !m.is_contiguous() {
            Err(Reason::MultiSegment)
        } else {
            match fastpath::accept(m.data(), mac, m.rx_ip_csum(), srcs) {
                Some(a) => {
                    dst[i] = a;
                    fast |= 1 << i;
                    Ok(())
                }
                None => match eth_input(m.data(), pc.mac, slow.host_on()) {
                    EthNext::Ip4 { l2_bcast: b } => ip4_input(m).map(|a| {
                        dst[i] = a.dst;
                        l2_bcast |= u32::from(b) << i;
                    }),
                    EthNext::Arp => {
                        if let Some(m) = rx.take(i) {
                            slow.arp(eg, m, pc, &v.neigh);
                        }
                        continue;
                    }
                    EthNext::Drop(r) => Err(r),
                },
            }
        };
        match verdict {
            Ok(()) => ip4 |= 1 << i,
            Err(r) => {
                if let Some(m) = rx.take(i) {
                    eg.drop_on(port, m, r);
                }
            }
        }
    }
    eg.tally.port(port, PortStat::RxBytes, rx_bytes);
    if ip4 == 0 {
        rx.clear();
        return;
    }
    // Stage 2: one FIB lookup for the whole burst (lanes without a packet look up 0).
    let mut ids = [0u32; BURST_MAX];
    v.fib.lookup_ids_burst(&dst[..n], &mut ids[..n]);
    // Stage 3: route, then forward or deliver, packet by packet. Fast-path packets
    // towards one gateway (the common case) share one resolution of their next hop, and
    // collect in `run` to leave together; whatever else is sent meanwhile waits until
    // `run` has left, so that no packet overtakes another on a port.
    let mut forwarded = 0;
    let mut hop = FastHop::NONE;
    let mut run = FastRun::default();
    let mut left = ip4;
    while left != 0 {
        let i = left.trailing_zeros() as usize % BURST_MAX;
        left &= left - 1;
        let Some(mut m) = rx.take(i) else {
            continue;
        };
        let id = ids[i];
        let fast_i = fast >> i & 1 != 0;
        if fast_i {
            if hop.id != id {
                hop = FastHop::resolve(id, v);
                if hop.port != run.port {
                    run.send(eg);
                    run.port = hop.port;
                }
            }
            if hop.via && m.len() <= hop.max_frame {
                fastpath::rewrite(m.data_mut(), hop.macs);
                m.clear_offload_flags();
                run.bytes += m.len() as u64;
                forwarded += 1;
                if let Err(m) = run.pkts.push(m) {
                    eg.transmit(m, hop.port);
                }
                continue;
            }
        }
        run.send(eg);
        let mut nh = v.fib.nexthop(id);
        // A multipath route: the member is chosen per packet by its flow hash (a group's
        // id is never a FastHop, whose cache is for one next hop).
        if let Some(NextHop::Group { group }) = nh {
            let ip = m.data().get(ETH_HLEN..).unwrap_or(&[]);
            nh = v.fib.member(group, flow::hash_ipv4(ip));
        }
        let m = if fast_i {
            match fast_forward(eg, m, dst[i], nh, v) {
                Ok(()) => {
                    forwarded += 1;
                    continue;
                }
                Err(m) => m,
            }
        } else {
            m
        };
        let meta = Meta {
            in_port: port,
            l2_bcast: l2_bcast >> i & 1 != 0,
            mtu: 0,
        };
        route(eg, slow, m, meta, dst[i], nh, v);
    }
    run.send(eg);
    eg.tally.port(port, PortStat::Forwarded, forwarded);
    rx.clear();
}

/// A fast-path next hop resolved once for the packets of a burst that share its FIB
/// id: a gateway with a usable neighbour on an up port.
struct FastHop {
    id: u32,
    /// The id names such a gateway; if not, its packets take `fast_forward` one by one
    /// (a connected destination is its own neighbour) or the stages.
    via: bool,
    port: u16,
    macs: EthAddrs,
    /// The longest frame the port's MTU lets through.
    max_frame: usize,
}

impl FastHop {
    /// No id yet (FIB ids are indices into its next-hop table, far below u32::MAX).
    const NONE: FastHop = FastHop {
        id: u32::MAX,
        via: false,
        port: u16::MAX,
        macs: EthAddrs::ZERO,
        max_frame: 0,
    };

    #[inline]
    fn resolve(id: u32, v: &mut View) -> FastHop {
        let not_via = FastHop {
            id,
            ..FastHop::NONE
        };
        let Some(NextHop::Gateway { port, gw }) = v.fib.nexthop(id) else {
            return not_via;
        };
        let Some(pc) = v.ports.get(port).filter(|pc| pc.up) else {
            return not_via;
        };
        let Some(dst) = v.neigh.lookup(port, gw) else {
            return not_via;
        };
        FastHop {
            id,
            via: true,
            port,
            macs: EthAddrs::new(pc.mac, dst),
            max_frame: usize::from(pc.mtu) + ETH_HLEN,
        }
    }
}

/// Fast-path packets on their way to one port, in order.
struct FastRun {
    port: u16,
    pkts: MbufBurst,
    bytes: u64,
}

impl Default for FastRun {
    fn default() -> FastRun {
        FastRun {
            port: u16::MAX,
            pkts: MbufBurst::new(),
            bytes: 0,
        }
    }
}

impl FastRun {
    #[inline]
    fn send(&mut self, eg: &mut Egress) {
        if !self.pkts.is_empty() {
            eg.transmit_burst(self.port, &mut self.pkts, std::mem::take(&mut self.bytes));
        }
    }
}

/// A burst from a port that is down or unknown: every packet dropped for `reason`.
#[cold]
#[inline(never)]
fn drop_burst(eg: &mut Egress, port: u16, rx: &mut MbufBurst, reason: Reason) {
    let mut bytes = 0;
    for i in 0..rx.len() {
        if let Some(m) = rx.take(i) {
            bytes += m.len() as u64;
            eg.drop_on(port, m, reason);
        }
    }
    eg.tally.port(port, PortStat::RxBytes, bytes);
    rx.clear();
}

/// The rest of the fast path for a packet `fastpath::accept` took: a gateway or
/// connected next hop, on an up port whose MTU it fits, with a usable neighbour. Gives
/// the packet back, untouched, for the stages to decide otherwise.
#[inline(always)]
fn fast_forward(
    eg: &mut Egress,
    mut m: Mbuf,
    dst: u32,
    nh: Option<NextHop>,
    v: &mut View,
) -> Result<(), Mbuf> {
    let (port, via) = match nh {
        Some(NextHop::Gateway { port, gw }) => (port, gw),
        Some(NextHop::Connected { port }) => (port, Ipv4Addr::from(dst)),
        _ => return Err(m),
    };
    let Some(pc) = v.ports.get(port) else {
        return Err(m);
    };
    if !pc.up || m.len().saturating_sub(ETH_HLEN) > usize::from(pc.mtu) {
        return Err(m);
    }
    let Some(mac) = v.neigh.lookup(port, via) else {
        return Err(m);
    };
    fastpath::rewrite(m.data_mut(), EthAddrs::new(pc.mac, mac));
    eg.transmit(m, port);
    Ok(())
}

/// After the FIB: the route decides (local, forward, refuse).
#[inline]
fn route(
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

/// True if the packet's protocol is TCP (a reset `ip4_local` built).
#[inline]
fn is_tcp(m: &Mbuf) -> bool {
    m.data().get(ETH_HLEN + 9) == Some(&crate::wire::ipv4::PROTO_TCP)
}

/// Puts the options an answer echoes (Linux `ip_options_echo`) into the answer `m`.
#[inline]
fn reply_options(m: &mut Mbuf, r: Option<ReplyOptions>) {
    if let Some(r) = r {
        r.insert(m, ip4_options::timestamp_now());
    }
}
