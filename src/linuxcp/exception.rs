//! The control thread's side of the twins: frames punted by the workers are written to
//! the twin of the port they came in on, and frames the kernel sends out of a twin are
//! read back and classified for ferroute's output path.
use super::stats::LinuxCpStats;
use super::twin::Twin;
use crate::datapath::PortCtx;
use crate::datapath::ETH_HLEN;
use crate::wire::ethernet::ETHERTYPE_IPV4;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::MacAddr;
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tun_tap::Iface;

/// Frames read from one twin per control-loop round, so a chatty kernel cannot hold
/// up ARP and the API.
pub const FROM_KERNEL_BUDGET: usize = 256;

/// Where a frame from the kernel goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromKernel {
    /// Routed by ferroute's FIB, resolved by its neighbour table.
    Unicast,
    /// Out of the twin's own port to this MAC, as the kernel meant it: link-local
    /// multicast (OSPF's 224.0.0.5, RFC 1112 §6.4 mapping) and broadcast.
    Link(MacAddr),
    /// Not IPv4 (ferroute owns ARP; the twins have no IPv6), or not a valid header.
    Drop,
}

/// Classifies a frame the kernel sent out of the twin of port `pc`.
pub fn classify(frame: &[u8], pc: &PortCtx) -> FromKernel {
    let ethertype = match frame.get(12..14) {
        Some(t) => u16::from_be_bytes([t[0], t[1]]),
        None => return FromKernel::Drop,
    };
    if ethertype != ETHERTYPE_IPV4 {
        return FromKernel::Drop;
    }
    let Ok(ip) = Ipv4Packet::new_checked(&frame[ETH_HLEN..]) else {
        return FromKernel::Drop;
    };
    let dst = ip.dst_addr();
    if dst.is_multicast() {
        let o = dst.octets();
        return FromKernel::Link(MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]));
    }
    let subnet_bcast = std::iter::once(&pc.addr)
        .chain(&pc.secondary)
        .any(|a| a.prefix_len() < 31 && a.broadcast() == dst);
    if dst == Ipv4Addr::BROADCAST || subnet_bcast {
        return FromKernel::Link(MacAddr([0xff; 6]));
    }
    FromKernel::Unicast
}

/// The twins' TAPs by DPDK port id.
pub struct TwinPorts {
    by_port: Vec<Option<Iface>>,
    buf: Vec<u8>,
    pub stats: Arc<LinuxCpStats>,
}

impl TwinPorts {
    pub fn new(taps: Vec<(Twin, Iface)>, stats: Arc<LinuxCpStats>) -> TwinPorts {
        let n = taps
            .iter()
            .map(|(t, _)| t.port as usize + 1)
            .max()
            .unwrap_or(0);
        let mut by_port: Vec<Option<Iface>> = (0..n).map(|_| None).collect();
        for (t, tap) in taps {
            by_port[t.port as usize] = Some(tap);
        }
        TwinPorts {
            by_port,
            buf: vec![0; 1 << 16],
            stats,
        }
    }

    /// The ports with a twin.
    pub fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        (self.by_port.iter().enumerate())
            .filter(|(_, t)| t.is_some())
            .map(|(p, _)| p as u16)
    }

    /// Writes a frame that came in on `port` to its twin; false if the twin refused it
    /// (counted) or there is none.
    pub fn write(&mut self, port: u16, frame: &[u8]) -> bool {
        let Some(Some(tap)) = self.by_port.get(port as usize) else {
            return false;
        };
        match tap.send(frame) {
            Ok(_) => {
                self.stats.to_kernel.fetch_add(1, Relaxed);
                true
            }
            Err(_) => {
                self.stats.to_kernel_errors.fetch_add(1, Relaxed);
                false
            }
        }
    }

    /// The next frame the kernel sent out of `port`'s twin, if any.
    pub fn read(&mut self, port: u16) -> Option<&[u8]> {
        let tap = self.by_port.get(port as usize)?.as_ref()?;
        match tap.recv(&mut self.buf) {
            Ok(n) => {
                self.stats.from_kernel.fetch_add(1, Relaxed);
                Some(&self.buf[..n])
            }
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port() -> PortCtx {
        PortCtx {
            id: 0,
            name: "port0".into(),
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            addr: "10.0.1.1/24".parse().unwrap(),
            secondary: vec!["10.0.3.1/24".parse().unwrap()],
            mtu: 1500,
            up: true,
        }
    }

    fn frame(dst: [u8; 4], ethertype: u16) -> Vec<u8> {
        let mut f = vec![0u8; ETH_HLEN + 20];
        f[12..14].copy_from_slice(&ethertype.to_be_bytes());
        let ip = &mut f[ETH_HLEN..];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&20u16.to_be_bytes());
        ip[8] = 1;
        ip[9] = 89;
        ip[12..16].copy_from_slice(&[10, 0, 1, 1]);
        ip[16..20].copy_from_slice(&dst);
        f
    }

    #[test]
    fn ospf_multicast_keeps_its_group_mac() {
        assert_eq!(
            classify(&frame([224, 0, 0, 5], ETHERTYPE_IPV4), &port()),
            FromKernel::Link(MacAddr([1, 0, 0x5e, 0, 0, 5]))
        );
        // RFC 1112: only the low 23 bits of the group map.
        assert_eq!(
            classify(&frame([239, 129, 2, 3], ETHERTYPE_IPV4), &port()),
            FromKernel::Link(MacAddr([1, 0, 0x5e, 1, 2, 3]))
        );
    }

    #[test]
    fn broadcasts_stay_on_the_link_and_unicast_is_routed() {
        let bc = FromKernel::Link(MacAddr([0xff; 6]));
        assert_eq!(classify(&frame([255; 4], ETHERTYPE_IPV4), &port()), bc);
        assert_eq!(
            classify(&frame([10, 0, 3, 255], ETHERTYPE_IPV4), &port()),
            bc
        );
        assert_eq!(
            classify(&frame([10, 0, 1, 2], ETHERTYPE_IPV4), &port()),
            FromKernel::Unicast
        );
        assert_eq!(
            classify(&frame([198, 51, 100, 7], ETHERTYPE_IPV4), &port()),
            FromKernel::Unicast
        );
    }

    #[test]
    fn arp_ipv6_and_runts_are_dropped() {
        assert_eq!(
            classify(&frame([10, 0, 1, 2], 0x0806), &port()),
            FromKernel::Drop
        );
        assert_eq!(
            classify(&frame([10, 0, 1, 2], 0x86dd), &port()),
            FromKernel::Drop
        );
        assert_eq!(
            classify(&frame([10, 0, 1, 2], ETHERTYPE_IPV4)[..20], &port()),
            FromKernel::Drop
        );
        assert_eq!(classify(&[0u8; 6], &port()), FromKernel::Drop);
    }
}
