//! What the fuzz targets share: a router without DPDK (ports, a FIB, neighbours) and the
//! per-packet pipeline driven on heap packets.
//!
//! `datapath::pipeline::receive` runs on DPDK mbuf bursts and hands its output to
//! `Egress` (TX buffers, mempool). The stages it wires are plain functions over any
//! `Packet`, so [`Pipeline`] calls the same stages in the same order as `pipeline.rs`
//! (`receive`, `route`, `forward`, `output_on`, `send_local`, `icmp_answer`,
//! `Egress::fragment_to`, `SlowPath::arp`, and the control thread's ARP and reassembly) on
//! [`Pkt`]s sized like an mbuf, and records where every packet went instead of sending
//! it. Keep it in step with `pipeline.rs`.
use ferroute::datapath::arp_input::{arp_for_us, arp_input, ArpNext};
use ferroute::datapath::eth_input::{eth_input, EthNext};
use ferroute::datapath::fastpath;
use ferroute::datapath::fragment::fragment;
use ferroute::datapath::icmp_error::{build_icmp_error, may_send_error};
use ferroute::datapath::ip4_forward::{ip4_forward, FwdNext};
use ferroute::datapath::ip4_input::ip4_input;
use ferroute::datapath::ip4_local::{ip4_local, LocalNext};
use ferroute::datapath::ip4_output::{dont_frag, dst_of, ip4_output, route_output, write_eth};
use ferroute::datapath::ip4_output::{exceeds_mtu, OutNext};
use ferroute::datapath::ip4_reassembly::{ReasmParams, Reassembler, Verdict};
use ferroute::datapath::ip4_route::{ip4_route, RouteNext};
use ferroute::datapath::{
    HeapPacket, IcmpOut, Packet, PortCtx, Ports, Reason, RxCsum, Tally, VecPacket, ETH_HLEN,
};
use ferroute::fib::{Fib, NextHop, Proto, Rib, Route, RouteTarget};
use ferroute::neigh::{NeighCursor, NeighKey, NeighParams, NeighSnapshot, NeighTable};
use ferroute::wire::ipv4::Ipv4Packet;
use ferroute::wire::MacAddr;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;
use std::sync::OnceLock;

/// A packet buffer with an mbuf's data room (RTE_MBUF_DEFAULT_DATAROOM).
pub type Pkt = VecPacket<2048>;

pub const MAC0: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
pub const MAC1: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
pub const MAC2: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x03]);
pub const HOST0: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 0x02]);
pub const HOST1: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 0x02]);

/// MTUs port 1 can have (chosen by the input): the minimum, common ones and a jumbo
/// one larger than an mbuf.
pub const MTUS: [u16; 8] = [68, 296, 576, 1280, 1400, 1500, 4000, 9000];

fn net(s: &str) -> Ipv4Net {
    s.parse().expect("a valid prefix")
}

/// The routes: each port's local, broadcast and connected routes, a default route via
/// 10.0.2.2 on port 1, a gateway without a neighbour, one on a down port, one on a port
/// the ports view does not have, and the three refusing kinds.
fn rib() -> Rib {
    let mut rib = Rib::new();
    let mut add = |p: &str, target: RouteTarget, proto: Proto| {
        rib.insert(Route {
            prefix: net(p),
            target,
            metric: 0,
            proto,
        })
    };
    for (port, sub) in [
        (0u16, "10.0.1"),
        (1, "10.0.2"),
        (1, "10.0.3"),
        (2, "10.0.4"),
    ] {
        let k = Proto::Kernel;
        add(&format!("{sub}.1/32"), RouteTarget::Local { port }, k);
        add(&format!("{sub}.255/32"), RouteTarget::Broadcast { port }, k);
        add(&format!("{sub}.0/24"), RouteTarget::Connected { port }, k);
    }
    let s = Proto::Static;
    let gw = |a: [u8; 4], port: u16| RouteTarget::Gateway {
        gw: Ipv4Addr::from(a),
        port: Some(port),
    };
    add("0.0.0.0/0", gw([10, 0, 2, 2], 1), s);
    add("10.9.0.0/16", gw([10, 0, 1, 9], 0), s);
    add("172.16.0.0/12", gw([10, 0, 4, 2], 2), s);
    add("100.64.0.0/10", RouteTarget::Connected { port: 7 }, s);
    add("192.0.2.0/24", RouteTarget::Blackhole, s);
    add("198.51.100.0/24", RouteTarget::Unreachable, s);
    add("203.0.113.0/24", RouteTarget::Prohibit, s);
    rib
}

/// The FIB and neighbours, built once (a FIB build is far slower than one input).
pub struct Tables {
    pub fib: Fib,
    pub neigh: NeighSnapshot,
}

pub fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut table: NeighTable<()> = NeighTable::new(NeighParams::default());
        let mut out = Vec::new();
        for (port, ip, mac) in [
            (0, [10, 0, 1, 2], HOST0),
            (1, [10, 0, 2, 2], HOST1),
            (1, [10, 0, 3, 7], HOST1),
            (2, [10, 0, 4, 2], HOST1),
            (7, [100, 64, 0, 1], HOST1),
        ] {
            let key = NeighKey {
                port,
                ip: Ipv4Addr::from(ip),
            };
            table.add_static(key, mac, &mut out);
        }
        Tables {
            fib: rib().build_fib(1),
            neigh: table.snapshot(),
        }
    })
}

/// Ports 0 and 1 up, port 2 down; port 1's MTU is `mtu1`.
pub fn ports(mtu1: u16) -> Ports {
    let p = |id: u16, mac, addr: &str, mtu, up| PortCtx {
        id,
        name: format!("port{id}"),
        mac,
        addr: net(addr),
        secondary: Vec::new(),
        mtu,
        up,
    };
    let mut p1 = p(1, MAC1, "10.0.2.1/24", mtu1, true);
    p1.secondary.push(net("10.0.3.1/24"));
    Ports::new(vec![
        p(0, MAC0, "10.0.1.1/24", 1500, true),
        p1,
        p(2, MAC2, "10.0.4.1/24", 1500, false),
    ])
}

/// Where packets went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Sent: (egress port, frame, whether the router originated it).
    pub tx: Vec<(u16, Vec<u8>, bool)>,
    /// Dropped, by reason (with the port they count against).
    pub drops: Vec<(u16, Reason)>,
    /// Punted for neighbour resolution: (port, next hop, frame).
    pub resolve: Vec<(u16, Ipv4Addr, Vec<u8>)>,
    /// ICMP errors built, by kind.
    pub icmp: Vec<IcmpOut>,
    /// ICMP errors not sent (RFC 1812 §4.3.2.7 or no source address).
    pub suppressed: u32,
    /// Datagrams fragmented at output: (the datagram, its fragments' indices in `tx`).
    pub fragmented: Vec<(Vec<u8>, std::ops::Range<usize>)>,
    /// Datagrams the reassembler completed.
    pub reassembled: u32,
}

/// The pipeline over one router state.
pub struct Pipeline<'a> {
    pub fib: &'a Fib,
    pub neigh: NeighCursor<'a>,
    pub ports: &'a Ports,
    pub out: Outcome,
    /// The control thread's reassembly table (local fragments go there).
    pub reasm: Reassembler,
    pub tally: Tally,
    /// Whether `fastpath::accept` is tried first (off: the stages decide everything).
    pub fast: bool,
    ident: u16,
    now_ms: u64,
    /// Inside `send_local` (the router's own packets: echo replies, ICMP errors).
    local: bool,
}

impl<'a> Pipeline<'a> {
    pub fn new(t: &'a Tables, ports: &'a Ports, fast: bool) -> Pipeline<'a> {
        Pipeline {
            fib: &t.fib,
            neigh: NeighCursor::new(&t.neigh),
            ports,
            out: Outcome::default(),
            reasm: Reassembler::new(ReasmParams {
                timeout_ms: 1000,
                max_bytes: 256 << 10,
                max_datagrams: 64,
            }),
            tally: Tally::default(),
            fast,
            ident: 0,
            now_ms: 0,
            local: false,
        }
    }

    fn drop_on(&mut self, port: u16, r: Reason) {
        self.out.drops.push((port, r));
    }

    fn transmit(&mut self, m: Pkt, port: u16) {
        self.out.tx.push((port, m.buf, self.local));
    }

    /// `pipeline::receive` for a burst received on `port`.
    pub fn receive(&mut self, port: u16, burst: Vec<Pkt>) {
        let mac = match self.ports.get(port) {
            Some(pc) if pc.up => pc.mac,
            Some(_) => {
                for _ in &burst {
                    self.drop_on(port, Reason::PortDown);
                }
                return;
            }
            None => {
                for _ in &burst {
                    self.drop_on(port, Reason::EthOtherHost);
                }
                return;
            }
        };
        // Stage 1: Ethernet and IPv4 input.
        let mut ip4 = Vec::new();
        for mut m in burst {
            let accepted = if self.fast {
                fastpath::accept(
                    m.data(),
                    fastpath::mac_key(mac),
                    m.rx_ip_csum(),
                    self.ports.src_filter(),
                )
            } else {
                None
            };
            let verdict = match accepted {
                Some(dst) => Ok((dst, false, true)),
                None => match eth_input(m.data(), mac, false) {
                    EthNext::Ip4 { l2_bcast } => {
                        ip4_input(&mut m).map(|a| (a.dst, l2_bcast, false))
                    }
                    EthNext::Arp => {
                        // `SlowPath::arp` on the worker (the policers let everything
                        // through here), then the control thread.
                        match self.ports.get(port).map(|pc| arp_for_us(m.data(), pc)) {
                            Some(Ok(_)) => self.arp(m),
                            Some(Err(r)) => self.drop_on(port, r),
                            None => self.drop_on(port, Reason::EthOtherHost),
                        }
                        continue;
                    }
                    EthNext::Drop(r) => Err(r),
                },
            };
            match verdict {
                Ok((dst, l2_bcast, fast)) => ip4.push((m, dst, l2_bcast, fast)),
                Err(r) => self.drop_on(port, r),
            }
        }
        // Stage 2: the FIB for the whole burst.
        let dsts: Vec<u32> = ip4.iter().map(|p| p.1).collect();
        let mut ids = vec![0u32; dsts.len()];
        self.fib.lookup_ids_burst(&dsts, &mut ids);
        // Stage 3: route, forward or deliver.
        for ((m, dst, l2_bcast, fast), id) in ip4.into_iter().zip(ids) {
            let mut nh = self.fib.nexthop(id);
            assert_eq!(nh, self.fib.lookup(dst), "burst and single lookups agree");
            // A multipath route: the member by the flow hash, as pipeline.rs picks it.
            if let Some(NextHop::Group { group }) = nh {
                let ip = m.data().get(ETH_HLEN..).unwrap_or(&[]);
                nh = self.fib.member(group, ferroute::fib::flow::hash_ipv4(ip));
            }
            let m = if fast {
                match self.fast_forward(m, dst, nh) {
                    Ok(()) => continue,
                    Err(m) => m,
                }
            } else {
                m
            };
            let meta = Meta {
                in_port: port,
                l2_bcast,
                mtu: 0,
            };
            self.route(m, meta, dst, nh);
        }
    }

    fn fast_forward(&mut self, mut m: Pkt, dst: u32, nh: Option<NextHop>) -> Result<(), Pkt> {
        let (port, via) = match nh {
            Some(NextHop::Gateway { port, gw }) => (port, gw),
            Some(NextHop::Connected { port }) => (port, Ipv4Addr::from(dst)),
            _ => return Err(m),
        };
        let Some(pc) = self.ports.get(port) else {
            return Err(m);
        };
        if !pc.up || m.data().len().saturating_sub(ETH_HLEN) > usize::from(pc.mtu) {
            return Err(m);
        }
        let Some(mac) = self.neigh.lookup(port, via) else {
            return Err(m);
        };
        fastpath::rewrite(m.data_mut(), fastpath::EthAddrs::new(pc.mac, mac));
        self.transmit(m, port);
        Ok(())
    }

    fn route(&mut self, mut m: Pkt, meta: Meta, dst: u32, nh: Option<NextHop>) {
        let u = match ip4_route(dst, nh, meta.l2_bcast) {
            RouteNext::Forward { port, nh } => self.forward(m, meta, port, nh),
            RouteNext::Local => match ip4_local(&mut m) {
                LocalNext::Reply => self.send_local(m),
                LocalNext::Icmp(kind, r) => self.icmp_error(m, meta, kind, r),
                LocalNext::Reassemble => {
                    self.reassemble(m, meta.l2_bcast);
                    None
                }
                LocalNext::Drop(r) => {
                    self.drop_on(meta.in_port, r);
                    None
                }
            },
            RouteNext::Icmp(kind, r) => self.icmp_error(m, meta, kind, r),
            RouteNext::Drop(r) => {
                self.drop_on(meta.in_port, r);
                None
            }
        };
        self.resolve(u);
    }

    fn resolve(&mut self, u: Option<(Pkt, u16, Ipv4Addr)>) {
        if let Some((m, port, nh)) = u {
            self.out.resolve.push((port, nh, m.buf));
        }
    }

    fn forward(&mut self, mut m: Pkt, meta: Meta, port: u16, nh: Ipv4Addr) -> Unres {
        let pc = self.ports.get(port);
        match ip4_forward(&mut m, pc.map_or(u16::MAX, |p| p.mtu)) {
            FwdNext::Output => match pc {
                Some(pc) => self.output_on(m, meta, pc, nh),
                None => {
                    self.drop_on(meta.in_port, Reason::TxQueueFull);
                    None
                }
            },
            FwdNext::FragNeeded { mtu } => {
                let meta = Meta { mtu, ..meta };
                self.icmp_error(m, meta, IcmpOut::FragNeeded, Reason::Ip4FragNeeded)
            }
            FwdNext::TimeExceeded => {
                self.icmp_error(m, meta, IcmpOut::TtlExceeded, Reason::Ip4TtlExceeded)
            }
        }
    }

    fn output(&mut self, m: Pkt, port: u16, nh: Ipv4Addr) -> Unres {
        let meta = Meta {
            in_port: m.in_port(),
            l2_bcast: false,
            mtu: 0,
        };
        match self.ports.get(port) {
            Some(pc) => self.output_on(m, meta, pc, nh),
            None => {
                self.drop_on(meta.in_port, Reason::TxQueueFull);
                None
            }
        }
    }

    fn output_on(&mut self, mut m: Pkt, meta: Meta, pc: &PortCtx, nh: Ipv4Addr) -> Unres {
        if !pc.up {
            self.drop_on(meta.in_port, Reason::PortDown);
            return None;
        }
        match ip4_output(&mut m, pc, nh, &mut self.neigh) {
            OutNext::Tx { port } => {
                self.transmit(m, port);
                None
            }
            OutNext::Fragment { port: _, mac } => {
                self.fragment_to(m, pc, mac);
                None
            }
            OutNext::Resolve { port, nh } => Some((m, port, nh)),
            OutNext::FragNeeded { mtu } => {
                let meta = Meta {
                    mtu,
                    l2_bcast: false,
                    ..meta
                };
                self.icmp_error(m, meta, IcmpOut::FragNeeded, Reason::Ip4FragNeeded)
            }
        }
    }

    /// `Egress::fragment_to`.
    fn fragment_to(&mut self, m: Pkt, pc: &PortCtx, mac: MacAddr) {
        if dont_frag(&m) {
            self.drop_on(m.in_port(), Reason::Ip4FragNeeded);
            return;
        }
        let mut frags = Vec::new();
        let alloc = || Some(Pkt::from_vec(Vec::new(), 0));
        match fragment(m.data(), m.in_port(), pc.mtu, alloc, &mut frags) {
            Ok(()) => {
                let at = self.out.tx.len();
                for mut f in frags {
                    write_eth(&mut f, pc.mac, mac);
                    self.transmit(f, pc.id);
                }
                let end = self.out.tx.len();
                self.out.fragmented.push((m.buf, at..end));
            }
            Err(r) => self.drop_on(m.in_port(), r),
        }
    }

    fn send_local(&mut self, m: Pkt) -> Unres {
        let Some(dst) = dst_of(&m) else {
            self.drop_on(m.in_port(), Reason::Ip4HdrTruncated);
            return None;
        };
        match route_output(self.fib, dst) {
            Ok((port, nh)) => {
                let outer = std::mem::replace(&mut self.local, true);
                let u = self.output(m, port, nh);
                self.local = outer;
                u
            }
            Err(r) => {
                self.drop_on(m.in_port(), r);
                None
            }
        }
    }

    fn icmp_error(&mut self, m: Pkt, meta: Meta, kind: IcmpOut, r: Reason) -> Unres {
        self.drop_on(meta.in_port, r);
        self.icmp_answer(m, meta, kind)
    }

    fn icmp_answer(&mut self, mut m: Pkt, meta: Meta, kind: IcmpOut) -> Unres {
        if !may_send_error(&m, meta.l2_bcast) {
            self.out.suppressed += 1;
            return None;
        }
        let Some(src) = self.ports.get(meta.in_port).map(|p| p.ip()) else {
            self.out.suppressed += 1;
            return None;
        };
        // The rate limits (`Egress::icmp_allowed`) are not modelled: every error goes.
        let Some(Ok(_)) = m.data().get(ETH_HLEN..).map(Ipv4Packet::new_checked) else {
            self.out.suppressed += 1;
            return None;
        };
        self.ident = self.ident.wrapping_add(1);
        if !build_icmp_error(&mut m, kind, src, meta.mtu, self.ident) {
            self.out.suppressed += 1;
            return None;
        }
        self.out.icmp.push(kind);
        self.send_local(m)
    }

    /// The slow-path thread's ARP input (`slowpath::SlowPathThread`).
    fn arp(&mut self, mut m: Pkt) {
        let port = m.in_port();
        let Some(pc) = self.ports.get(port).filter(|p| p.up) else {
            self.drop_on(port, Reason::PortDown);
            return;
        };
        match arp_input(&mut m, pc) {
            ArpNext::Reply { .. } => self.transmit(m, port),
            ArpNext::Learn { .. } => {}
            ArpNext::Drop(r) => panic!("the worker punted an ARP frame arp_input drops ({r:?})"),
        }
    }

    /// The control thread's reassembly and delivery (`control` `fragment`, `deliver`,
    /// `pipeline::send_local_heap`, `pipeline::icmp_answer_heap`).
    fn reassemble(&mut self, m: Pkt, l2_bcast: bool) {
        self.now_ms += 1;
        let v = self.reasm.insert(
            m.data(),
            m.in_port(),
            l2_bcast,
            self.now_ms,
            &mut self.tally,
        );
        let Verdict::Complete { mut pkt, l2_bcast } = v else {
            return;
        };
        self.out.reassembled += 1;
        match ip4_local(&mut pkt) {
            LocalNext::Reply => self.send_local_heap(&pkt),
            LocalNext::Icmp(kind, r) => {
                self.drop_on(pkt.port, r);
                let u = self.icmp_answer_heap(&pkt, kind, l2_bcast);
                self.resolve(u);
            }
            LocalNext::Drop(r) => self.drop_on(pkt.port, r),
            LocalNext::Reassemble => panic!("a reassembled datagram is not a fragment"),
        }
    }

    fn send_local_heap(&mut self, p: &HeapPacket) {
        let Some(dst) = dst_of(p) else {
            self.drop_on(p.port, Reason::Ip4HdrTruncated);
            return;
        };
        let (port, nh) = match route_output(self.fib, dst) {
            Ok(r) => r,
            Err(r) => return self.drop_on(p.port, r),
        };
        let Some(pc) = self.ports.get(port) else {
            return self.drop_on(p.port, Reason::TxQueueFull);
        };
        if !pc.up {
            return self.drop_on(p.port, Reason::PortDown);
        }
        if exceeds_mtu(p, pc.mtu) && dont_frag(p) {
            return self.drop_on(p.port, Reason::Ip4FragNeeded);
        }
        let mut frags: Vec<Pkt> = Vec::new();
        let alloc = || Some(Pkt::from_vec(Vec::new(), 0));
        if let Err(r) = fragment(p.data(), p.port, pc.mtu, alloc, &mut frags) {
            return self.drop_on(p.port, r);
        }
        let outer = std::mem::replace(&mut self.local, true);
        for f in frags {
            let u = self.output(f, port, nh);
            self.resolve(u);
        }
        self.local = outer;
    }

    fn icmp_answer_heap(&mut self, p: &HeapPacket, kind: IcmpOut, l2_bcast: bool) -> Unres {
        let hlen = p
            .buf
            .get(ETH_HLEN..)
            .and_then(|b| Ipv4Packet::new_checked(b).ok())
            .map(|ip| ip.header_len())?;
        let quote = ferroute::datapath::icmp_error::QUOTE_DATA;
        let len = (ETH_HLEN + hlen + quote).min(p.buf.len());
        let mut m = Pkt::from_vec(Vec::new(), p.port);
        if !m.set_len(len) {
            return None;
        }
        m.data_mut().copy_from_slice(&p.buf[..len]);
        let meta = Meta {
            in_port: p.port,
            l2_bcast,
            mtu: 0,
        };
        self.icmp_answer(m, meta, kind)
    }
}

type Unres = Option<(Pkt, u16, Ipv4Addr)>;

#[derive(Debug, Clone, Copy)]
struct Meta {
    in_port: u16,
    l2_bcast: bool,
    mtu: u16,
}

/// A received frame on `port` with the RX checksum verdict `csum`.
pub fn rx(frame: &[u8], port: u16, csum: RxCsum) -> Pkt {
    let mut p = Pkt::new(frame, port);
    p.csum = csum;
    p
}

/// A little reader over fuzz input.
pub struct Input<'a>(pub &'a [u8]);

impl<'a> Input<'a> {
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A 16-bit big-endian length, then that many bytes (or what is left).
    pub fn chunk(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16()).min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}
