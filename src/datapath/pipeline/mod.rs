//! The one place the stages are wired: each stage returns its outcome as an enum, and
//! only this module maps an outcome to the next call (grout's `ip_input.c`/`ip_forward.c`
//! edges). The worker loop and `bench/pipeline` both call [`receive`], so the benchmark
//! measures the code that runs; the control thread calls [`output`], [`send_local`] and
//! the ICMP edges for what it originates.
//!
//! Here: a burst's way through the fast path and the per-burst caches; `routing.rs`:
//! the route's verdict, forwarding and output; `local.rs`: what the router sends itself
//! and its ICMP errors. The graph of edges, the burst caches and the measured cost are in
//! `docs/design/pipeline.md`.
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
use super::ip4_source::{self, SrcFilter};
use super::punt::SlowPath;
use super::{HeapPacket, IcmpOut, Packet, PortCtx, PortStat, Ports, Reason, ETH_HLEN};
use crate::dpdk::{Mbuf, MbufBurst, RxCsum, TxResult, BURST_MAX};
use crate::fib::{flow, Fib, NextHop};
use crate::neigh::{NeighCursor, NeighSnapshot};
use crate::wire::ipv4::Ipv4Packet;
use std::net::Ipv4Addr;

mod local;
mod routing;
pub use local::{icmp_answer, icmp_answer_heap, icmp_error, send_local, send_local_heap};
pub use routing::output;
use routing::route;

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
    /// The fast path's last resolved next hop.
    hop: FastHop,
}

impl<'a> View<'a> {
    pub fn new(fib: &'a Fib, neigh: &'a NeighSnapshot, ports: &'a Ports) -> View<'a> {
        View {
            fib,
            neigh: NeighCursor::new(neigh),
            ports,
            hop: FastHop::NONE,
        }
    }

    /// Starts from the next hop the last round's view resolved, if that was resolved from
    /// these same snapshots (the round before held them, so a new snapshot cannot have
    /// the address of the one it replaced).
    #[inline]
    pub fn resume(&mut self, carry: &HopCarry) {
        if carry.fib == self.fib as *const Fib as usize
            && carry.neigh == self.neigh.snapshot() as *const NeighSnapshot as usize
            && carry.ports == self.ports as *const Ports as usize
        {
            self.hop = carry.hop;
        }
    }

    /// Keeps the next hop for [`View::resume`] in the next round.
    #[inline]
    pub fn keep(&self, carry: &mut HopCarry) {
        carry.fib = self.fib as *const Fib as usize;
        carry.neigh = self.neigh.snapshot() as *const NeighSnapshot as usize;
        carry.ports = self.ports as *const Ports as usize;
        carry.hop = self.hop;
    }
}

/// The fast path's resolved next hop, kept by a worker from one poll round to the next
/// so that its first burst need not resolve it again (a FIB next-hop read, a port and a
/// neighbour lookup: about 200 instructions a burst), with the addresses of the
/// snapshots it was resolved from (compared one by one: as one array, the compare read
/// it back wider than it had just been written, and stalled on store forwarding).
#[derive(Default)]
pub struct HopCarry {
    fib: usize,
    neigh: usize,
    ports: usize,
    hop: FastHop,
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
///
/// Each of the two per-packet loops is a hot loop with no call on its common path (the
/// fast path accepting, the cached `FastHop` taking the packet); a packet off it goes
/// to an out-of-line function (`input_slow`, `route_slow`), so that the hot loop
/// keeps its state in registers (a profile of the loop with both paths inline showed
/// its masks, hop and run spilled to the stack on every packet).
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
    // Stage 1: Ethernet and IPv4 input. First the fast path over the whole burst (no
    // call, nothing taken out), then the packets it declined through the stages, where
    // what is not IPv4 leaves the burst (dropped or punted). Nothing is sent in this
    // stage, so the two passes need not keep the packets' order.
    let (fast, rx_bytes) = if rx.csum_flags() {
        accept_burst::<true>(rx, n, mac, srcs, &mut dst)
    } else {
        accept_burst::<false>(rx, n, mac, srcs, &mut dst)
    };
    // Those the stages passed (`ip4_input`), and which of them came as link-layer
    // broadcast; all still in `rx`, waiting for the FIB.
    let mut staged = Staged::default();
    let mut declined = !fast & (u32::MAX >> (BURST_MAX - n));
    while declined != 0 {
        let i = declined.trailing_zeros() as usize % BURST_MAX;
        declined &= declined - 1;
        if let Some(a) = input_slow(eg, slow, port, pc, rx, i, &mut staged, v) {
            dst[i] = a;
        }
    }
    eg.tally.port(port, PortStat::RxBytes, rx_bytes);
    let ip4 = fast | staged.ip4;
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
    let mut hop = v.hop;
    let mut run = FastRun {
        port: hop.port,
        ..FastRun::default()
    };
    let mut left = ip4;
    while left != 0 {
        // Hot: fast-path packets the cached hop takes, in order, until one it does not
        // (no call here, so the hop and the run stay in registers). Straight into the
        // port's TX buffer when nothing stands in the way (no qdisc, no capture, no
        // packet of this burst waiting in the run): one move per packet instead of two.
        if hop.via {
            let direct = if run.pkts.is_empty() {
                eg.direct_tx(hop.port)
            } else {
                None
            };
            if let Some(tx) = direct {
                let mut flushed = TxResult::default();
                let (n, bytes) = take_hop(rx, &mut left, fast, &ids, &hop, |rx, i| {
                    rx.move_to_tx(i, tx, &mut flushed)
                });
                eg.count_direct(hop.port, bytes, flushed);
                forwarded += n;
            } else {
                let (n, bytes) = take_hop(rx, &mut left, fast, &ids, &hop, |rx, i| {
                    rx.move_to(i, &mut run.pkts)
                });
                run.bytes += bytes;
                forwarded += n;
            }
        }
        if left == 0 {
            break;
        }
        // Cold: the next packet, whatever it needs.
        let i = left.trailing_zeros() as usize % BURST_MAX;
        left &= left - 1;
        let Some(m) = rx.take(i) else {
            continue;
        };
        let meta = Meta {
            in_port: port,
            l2_bcast: staged.l2_bcast >> i & 1 != 0,
            mtu: 0,
        };
        let fast_i = fast >> i & 1 != 0;
        forwarded += route_slow(
            eg, slow, m, meta, dst[i], ids[i], fast_i, &mut hop, &mut run, v,
        );
    }
    run.send(eg);
    v.hop = hop;
    eg.tally.port(port, PortStat::Forwarded, forwarded);
    rx.clear();
}

/// Stage 1's fast pass: the packets of the burst `fastpath::accept` takes (bit i for
/// slot i), with their destinations in `dst`, and the bytes of the whole burst. With
/// `CSUM_FLAGS` false the port does not check IPv4 checksums, so every packet's flags
/// say "unknown" and are not read.
#[inline(always)]
fn accept_burst<const CSUM_FLAGS: bool>(
    rx: &MbufBurst,
    n: usize,
    mac: u64,
    srcs: &SrcFilter,
    dst: &mut [u32; BURST_MAX],
) -> (u32, u64) {
    let (mut fast, mut bytes) = (0u32, 0u64);
    for i in 0..PREFETCH_AHEAD {
        rx.prefetch(i);
    }
    // By index: i also names the packet's slot in `rx` and its bit in the masks (and
    // `iter_mut().enumerate().take(n)` cost 16 instructions per packet).
    let mut i = 0;
    while i < n {
        rx.prefetch(i + PREFETCH_AHEAD);
        if let Some(m) = rx.get(i) {
            bytes += m.len() as u64;
            let csum = if CSUM_FLAGS {
                m.rx_ip_csum()
            } else {
                RxCsum::Unknown
            };
            if m.is_contiguous() {
                if let Some(a) = fastpath::accept(m.data(), mac, csum, srcs) {
                    dst[i % BURST_MAX] = a;
                    fast |= 1 << i;
                }
            }
        }
        i += 1;
    }
    (fast, bytes)
}

/// Stage 3's hot loop: the packets of `left`, in order, that the cached hop takes
/// (fast-path packets with its FIB id that fit its MTU), rewritten and handed to `put`,
/// their bits cleared from `left`, until one it does not take (or `put` refuses one).
/// Returns how many it took and their bytes.
#[inline(always)]
fn take_hop(
    rx: &mut MbufBurst,
    left: &mut u32,
    fast: u32,
    ids: &[u32; BURST_MAX],
    hop: &FastHop,
    mut put: impl FnMut(&mut MbufBurst, usize) -> bool,
) -> (u64, u64) {
    // The lanes with the hop's id, all at once (a loop the compiler vectorises), so
    // that the per-packet loop below tests nothing but the MTU.
    let mut same = 0u32;
    for (i, &id) in ids.iter().enumerate() {
        same |= u32::from(id == hop.id) << i;
    }
    // The run: the packets of `left` before the first one the hop does not take.
    let stop = *left & !(same & fast);
    let whole = *left & (stop & stop.wrapping_neg()).wrapping_sub(1);
    let mut run = whole;
    let (mut taken, mut bytes) = (0, 0);
    while run != 0 {
        let i = run.trailing_zeros() as usize % BURST_MAX;
        let Some(m) = rx.get_mut(i) else {
            break;
        };
        let len = m.len();
        if len > hop.max_frame {
            break;
        }
        fastpath::rewrite(m.data_mut(), hop.macs);
        m.clear_offload_flags();
        if !put(rx, i) {
            break; // a run is full: cannot happen, a run holds a whole burst
        }
        bytes += len as u64;
        taken += 1;
        run &= run - 1;
    }
    // What left the run (those still in it stay in `left`).
    *left &= !(whole & !run);
    (taken, bytes)
}

/// Packets of a burst the stages passed (bit i for slot i).
#[derive(Default)]
struct Staged {
    /// Passed `ip4_input`.
    ip4: u32,
    /// Of those, came as link-layer broadcast.
    l2_bcast: u32,
}

/// Stage 1 for a packet the fast path declined: `eth_input` and `ip4_input`. Returns
/// its destination if it passed (marked in `staged`, left in `rx`); otherwise it has
/// left the burst (dropped, or ARP to the slow path).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn input_slow(
    eg: &mut Egress,
    slow: &mut SlowPath,
    port: u16,
    pc: &PortCtx,
    rx: &mut MbufBurst,
    i: usize,
    staged: &mut Staged,
    v: &View,
) -> Option<u32> {
    let m = rx.get_mut(i)?;
    let verdict = if !m.is_contiguous() {
        Err(Reason::MultiSegment)
    } else {
        match eth_input(m.data(), pc.mac, slow.host_on()) {
            EthNext::Ip4 { l2_bcast } => ip4_input(m).map(|a| {
                staged.l2_bcast |= u32::from(l2_bcast) << i;
                a.dst
            }),
            EthNext::Arp => {
                if let Some(m) = rx.take(i) {
                    slow.arp(eg, m, pc, &v.neigh);
                }
                return None;
            }
            EthNext::Drop(r) => Err(r),
        }
    };
    match verdict {
        Ok(dst) => {
            staged.ip4 |= 1 << i;
            Some(dst)
        }
        Err(r) => {
            if let Some(m) = rx.take(i) {
                eg.drop_on(port, m, r);
            }
            None
        }
    }
}

/// Stage 3 for a packet the cached `FastHop` did not take: a fast-path packet whose FIB
/// answer changed (the hop is resolved anew, and the run sent if the port changed), or
/// that does not fit the hop; a multipath or connected route; or a packet from the
/// stages. Returns 1 if it was forwarded by the fast path, else 0.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn route_slow(
    eg: &mut Egress,
    slow: &mut SlowPath,
    mut m: Mbuf,
    meta: Meta,
    dst: u32,
    id: u32,
    fast: bool,
    hop: &mut FastHop,
    run: &mut FastRun,
    v: &mut View,
) -> u64 {
    if fast {
        if hop.id != id {
            *hop = FastHop::resolve(id, v);
            if hop.port != run.port {
                run.send(eg);
                run.port = hop.port;
            }
        }
        if hop.via && m.len() <= hop.max_frame {
            fastpath::rewrite(m.data_mut(), hop.macs);
            m.clear_offload_flags();
            let len = m.len() as u64;
            if run.pkts.is_empty() {
                if let Some(tx) = eg.direct_tx(hop.port) {
                    let flushed = tx.push(m).unwrap_or_default();
                    eg.count_direct(hop.port, len, flushed);
                    return 1;
                }
            }
            run.bytes += len;
            if let Err(m) = run.pkts.push(m) {
                eg.transmit(m, hop.port);
            }
            return 1;
        }
    }
    run.send(eg);
    let mut nh = v.fib.nexthop(id);
    // A multipath route: the member is chosen per packet by its flow hash (a group's id
    // is never a FastHop, whose cache is for one next hop).
    if let Some(NextHop::Group { group }) = nh {
        let ip = m.data().get(ETH_HLEN..).unwrap_or(&[]);
        nh = v.fib.member(group, flow::hash_ipv4(ip));
    }
    if fast {
        match fast_forward(eg, m, dst, nh, v) {
            Ok(()) => return 1,
            Err(back) => m = back,
        }
    }
    route(eg, slow, m, meta, dst, nh, v);
    0
}

/// A fast-path next hop resolved once for the packets that share its FIB id: a gateway
/// with a usable neighbour on an up port. Valid while the view's snapshots are.
#[derive(Clone, Copy)]
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

impl Default for FastHop {
    fn default() -> FastHop {
        FastHop::NONE
    }
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
