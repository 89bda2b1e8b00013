//! The worker pipeline, one file per stage. Stages are plain functions over a [`Packet`]
//! that return the packet's next step as an enum, so every decision is unit-tested on
//! crafted bytes without DPDK; [`pipeline`] is the one place that strings them together
//! on real mbuf bursts, and [`worker`] is the lcore loop around it.
//!
//! Receive: [`eth_input`] -> [`ip4_input`] -> FIB lookup -> [`ip4_route`] decides
//! -> [`ip4_local`] (ICMP echo) or [`ip4_forward`] (TTL) -> [`ip4_output`] (MTU, neighbour,
//! Ethernet header) -> [`fragment`] when over the MTU -> [`qdisc`] (the port's tbf
//! shaper, if it has one) -> per-port TX buffer. ICMP errors are built in place by
//! [`icmp_error`]. Fragments addressed to the router go to the control thread, whose
//! [`ip4_reassembly`] hands complete datagrams back to [`ip4_local`].

pub mod arp_input;
pub mod counters;
pub mod egress;
pub mod eth_input;
pub mod fastpath;
pub mod fragment;
pub mod icmp_error;
pub mod icmp_ratelimit;
pub mod ip4_forward;
pub mod ip4_input;
pub mod ip4_local;
pub mod ip4_options;
pub mod ip4_output;
pub mod ip4_reassembly;
pub mod ip4_route;
pub mod ip4_source;
pub mod pipeline;
pub mod punt;
pub mod qdisc;
pub mod reason;
pub mod token_bucket;
pub mod worker;

pub use crate::dpdk::RxCsum;
pub use counters::{IcmpOut, PortStat, QdiscStat, ReasmFail, SharedCounters, Tally, MAX_PORTS};
pub use reason::Reason;

use crate::dpdk::Mbuf;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// Packets at most per RX burst (what an `MbufBurst` holds).
pub const MAX_BURST: usize = crate::dpdk::BURST_MAX;

/// Length of the Ethernet header the pipeline writes and expects (no VLAN tags).
pub const ETH_HLEN: usize = crate::wire::ethernet::HEADER_LEN;

/// What a stage needs of a packet buffer: the frame's bytes (Ethernet header first), a
/// way to shrink or grow it in place, and the receive metadata.
pub trait Packet {
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
    /// Shrinks or grows the frame; false (unchanged) if the buffer cannot hold `len`.
    fn set_len(&mut self, len: usize) -> bool;
    /// The longest frame the buffer can hold.
    fn capacity(&self) -> usize;
    fn in_port(&self) -> u16;
    /// Sets the port a packet counts against (fragments and reassembled datagrams take
    /// the port of the packet they came from).
    fn set_in_port(&mut self, port: u16);
    fn rx_ip_csum(&self) -> RxCsum;
}

impl Packet for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        Mbuf::data(self)
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        Mbuf::data_mut(self)
    }
    #[inline]
    fn set_len(&mut self, len: usize) -> bool {
        Mbuf::set_len(self, len)
    }
    #[inline]
    fn capacity(&self) -> usize {
        Mbuf::capacity(self)
    }
    #[inline]
    fn in_port(&self) -> u16 {
        Mbuf::in_port(self)
    }
    #[inline]
    fn set_in_port(&mut self, port: u16) {
        Mbuf::set_in_port(self, port)
    }
    #[inline]
    fn rx_ip_csum(&self) -> RxCsum {
        Mbuf::rx_ip_csum(self)
    }
}

/// A packet in heap memory with room for `CAP` bytes of frame (Ethernet header first, like
/// an mbuf's): [`HeapPacket`] for datagrams the control thread reassembled, which may be
/// longer than any mbuf, and in tests `TestPacket`, sized like an mbuf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecPacket<const CAP: usize> {
    pub buf: Vec<u8>,
    pub port: u16,
    pub csum: RxCsum,
}

/// Ethernet header + the largest IPv4 datagram.
pub type HeapPacket = VecPacket<{ ETH_HLEN + 65535 }>;

/// A test packet: room to grow like an mbuf, an input port and a checksum verdict.
#[cfg(test)]
pub type TestPacket = VecPacket<2048>;

impl<const CAP: usize> VecPacket<CAP> {
    pub const CAPACITY: usize = CAP;

    /// A copy of `frame` received on `port`, checksum not verified.
    pub fn new(frame: &[u8], port: u16) -> Self {
        Self::from_vec(frame.to_vec(), port)
    }

    pub fn from_vec(buf: Vec<u8>, port: u16) -> Self {
        VecPacket {
            buf,
            port,
            csum: RxCsum::Unknown,
        }
    }
}

impl<const CAP: usize> Packet for VecPacket<CAP> {
    fn data(&self) -> &[u8] {
        &self.buf
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
    fn set_len(&mut self, len: usize) -> bool {
        if len > CAP {
            return false;
        }
        self.buf.resize(len, 0);
        true
    }
    fn capacity(&self) -> usize {
        CAP
    }
    fn in_port(&self) -> u16 {
        self.port
    }
    fn set_in_port(&mut self, port: u16) {
        self.port = port;
    }
    fn rx_ip_csum(&self) -> RxCsum {
        self.csum
    }
}

/// What the pipeline knows about one port.
#[derive(Debug, Clone)]
pub struct PortCtx {
    pub id: u16,
    pub name: String,
    pub mac: crate::wire::MacAddr,
    /// The router's primary address and the connected subnet (e.g. 10.0.1.1/24): the
    /// source of ICMP errors and ARP requests.
    pub addr: Ipv4Net,
    /// Further addresses (`ferroute addr add`), each with its connected subnet.
    pub secondary: Vec<Ipv4Net>,
    /// IP MTU: larger packets are not sent as they are.
    pub mtu: u16,
    /// Administratively up (`ferroute link set PORT up|down`); a down port receives and
    /// sends nothing (drop reason `port_down`).
    pub up: bool,
}

impl PortCtx {
    pub fn ip(&self) -> Ipv4Addr {
        self.addr.addr()
    }

    /// True if `ip` is one of this port's addresses (ARP answers for it).
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        self.addr.addr() == ip || self.secondary.iter().any(|a| a.addr() == ip)
    }

    /// The address to speak from towards `dst`: the one whose subnet holds it, else the
    /// primary (as Linux picks the source of ARP requests).
    pub fn source_for(&self, dst: Ipv4Addr) -> Ipv4Addr {
        std::iter::once(&self.addr)
            .chain(&self.secondary)
            .find(|a| a.contains(&dst))
            .map_or(self.ip(), |a| a.addr())
    }
}

/// Ports by DPDK port id (ids without a configured port are `None`), with the `[ip]`
/// policy and the source filter derived from their addresses (see `ip4_source`).
#[derive(Debug, Clone, Default)]
pub struct Ports {
    by_id: Vec<Option<PortCtx>>,
    policy: ip4_source::IpPolicy,
    src_filter: ip4_source::SrcFilter,
}

impl Ports {
    /// Ports with the default `[ip]` policy; see [`Ports::with_policy`].
    pub fn new(ports: Vec<PortCtx>) -> Ports {
        let len = ports.iter().map(|p| p.id as usize + 1).max().unwrap_or(0);
        let mut by_id = vec![None; len];
        for p in ports {
            let i = p.id as usize;
            by_id[i] = Some(p);
        }
        Ports {
            by_id,
            policy: ip4_source::IpPolicy::default(),
            src_filter: ip4_source::SrcFilter::default(),
        }
        .with_policy(ip4_source::IpPolicy::default())
    }

    /// The same ports under `policy`, with the source filter rebuilt: the ports' own
    /// addresses and subnet broadcasts, or everything when `rp_filter` is on.
    pub fn with_policy(mut self, policy: ip4_source::IpPolicy) -> Ports {
        let mut f = ip4_source::SrcFilter::default();
        if policy.rp_filter != ip4_source::RpFilter::Off {
            f.fill();
        }
        for p in self.by_id.iter().flatten() {
            for n in std::iter::once(&p.addr).chain(&p.secondary) {
                f.insert(n.addr().octets());
                if n.prefix_len() < 31 {
                    f.insert(n.broadcast().octets());
                }
            }
        }
        self.policy = policy;
        self.src_filter = f;
        self
    }

    #[inline]
    pub fn policy(&self) -> &ip4_source::IpPolicy {
        &self.policy
    }

    /// The sources `fastpath::accept` leaves to the stages.
    #[inline]
    pub fn src_filter(&self) -> &ip4_source::SrcFilter {
        &self.src_filter
    }

    #[inline]
    pub fn get(&self, id: u16) -> Option<&PortCtx> {
        self.by_id.get(id as usize).and_then(Option::as_ref)
    }

    pub fn iter(&self) -> impl Iterator<Item = &PortCtx> {
        self.by_id.iter().flatten()
    }

    pub fn max_id(&self) -> usize {
        self.by_id.len()
    }
}

/// Frame builders shared by the stages' tests.
#[cfg(test)]
pub mod testutil {
    use crate::wire::ethernet::{EthernetFrame, ETHERTYPE_IPV4};
    use crate::wire::ipv4::Ipv4Packet;
    use crate::wire::MacAddr;
    use std::net::Ipv4Addr;

    pub const ROUTER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    pub const HOST_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

    /// Ethernet + IPv4 (no options) + `payload`, checksum filled.
    pub fn ip_frame(src: [u8; 4], dst: [u8; 4], proto: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + payload.len()];
        {
            let mut e = EthernetFrame::new_unchecked(&mut f[..]);
            e.set_dst(ROUTER_MAC);
            e.set_src(HOST_MAC);
            e.set_ethertype(ETHERTYPE_IPV4);
        }
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
            ip.set_version_ihl(4, 5);
            ip.set_total_len((20 + payload.len()) as u16);
            ip.set_ident(0x1234);
            ip.set_frag(true, false, 0);
            ip.set_ttl(ttl);
            ip.set_protocol(proto);
            ip.set_src_addr(Ipv4Addr::from(src));
            ip.set_dst_addr(Ipv4Addr::from(dst));
            ip.fill_checksum();
        }
        f[34..].copy_from_slice(payload);
        f
    }

    /// An ICMP echo request (id 7, seq 1) with `data`.
    pub fn echo_request(src: [u8; 4], dst: [u8; 4], ttl: u8, data: &[u8]) -> Vec<u8> {
        let mut icmp = vec![8u8, 0, 0, 0, 0, 7, 0, 1];
        icmp.extend_from_slice(data);
        let c = crate::wire::checksum::checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        ip_frame(src, dst, 1, ttl, &icmp)
    }
}
