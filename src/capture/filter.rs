//! What a capture wants: ports, capture points, a protocol and a host, and how much of
//! each frame. Matched on the frame's bytes by the worker, so it is kept to a few
//! offset reads (Ethernet II, no VLAN tags: ferroute handles none).
use std::net::Ipv4Addr;

/// Where in the datapath a frame was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Point {
    /// As received, before any check.
    Rx = 0,
    /// As handed to the port's TX queue, after the qdisc.
    Tx = 1,
    /// Dropped, with its reason, counted against the port it came in on.
    Drop = 2,
}

impl Point {
    pub const ALL: [Point; 3] = [Point::Rx, Point::Tx, Point::Drop];

    pub fn bit(self) -> u8 {
        1 << self as u8
    }

    pub fn from_u8(v: u8) -> Option<Point> {
        Point::ALL.get(usize::from(v)).copied()
    }
}

/// `--proto`: which frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Any,
    Arp,
    /// Any IPv4.
    Ip,
    Icmp,
    Tcp,
    Udp,
}

impl Proto {
    const NAMES: [(Proto, &'static str); 6] = [
        (Proto::Any, "any"),
        (Proto::Arp, "arp"),
        (Proto::Ip, "ip"),
        (Proto::Icmp, "icmp"),
        (Proto::Tcp, "tcp"),
        (Proto::Udp, "udp"),
    ];

    pub fn name(self) -> &'static str {
        Proto::NAMES[self as usize].1
    }

    pub fn parse(s: &str) -> Option<Proto> {
        Proto::NAMES.iter().find(|(_, n)| *n == s).map(|(p, _)| *p)
    }

    pub fn from_u8(v: u8) -> Option<Proto> {
        Proto::NAMES.get(usize::from(v)).map(|(p, _)| *p)
    }
}

const ETH_HLEN: usize = 14;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    /// Bit i: DPDK port i.
    pub ports: u64,
    /// `Point::bit`s.
    pub points: u8,
    /// Octets copied of each frame at most.
    pub snaplen: u32,
    pub proto: Proto,
    /// Frames from or to this address only (IPv4 source or destination, ARP sender or
    /// target).
    pub host: Option<Ipv4Addr>,
}

impl Filter {
    #[inline]
    pub fn wants(&self, point: Point, port: u16) -> bool {
        self.points & point.bit() != 0 && port < 64 && self.ports >> port & 1 != 0
    }

    /// Does the frame match the protocol and host? Short frames match only `any`
    /// without a host (a capture of drops wants to see them).
    pub fn matches(&self, f: &[u8]) -> bool {
        if self.proto == Proto::Any && self.host.is_none() {
            return true;
        }
        let ethertype = f.get(12..14);
        let (is_ip, is_arp) = (
            ethertype == Some(&ETHERTYPE_IPV4),
            ethertype == Some(&ETHERTYPE_ARP),
        );
        let ip_proto = |n: u8| is_ip && f.get(ETH_HLEN + 9) == Some(&n);
        let proto = match self.proto {
            Proto::Any => true,
            Proto::Arp => is_arp,
            Proto::Ip => is_ip,
            Proto::Icmp => ip_proto(1),
            Proto::Tcp => ip_proto(6),
            Proto::Udp => ip_proto(17),
        };
        let Some(h) = self.host else {
            return proto;
        };
        let h = h.octets();
        let at = |off: usize| f.get(ETH_HLEN + off..ETH_HLEN + off + 4) == Some(&h[..]);
        proto
            && if is_ip {
                at(12) || at(16)
            } else if is_arp {
                at(14) || at(24)
            } else {
                false
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip_frame(proto: u8, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0u8; 34];
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4);
        f[14] = 0x45;
        f[23] = proto;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f
    }

    fn arp_frame(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0u8; 42];
        f[12..14].copy_from_slice(&ETHERTYPE_ARP);
        f[28..32].copy_from_slice(&sender);
        f[38..42].copy_from_slice(&target);
        f
    }

    fn filter(proto: Proto, host: Option<&str>) -> Filter {
        Filter {
            ports: 0b10,
            points: Point::Rx.bit() | Point::Drop.bit(),
            snaplen: 64,
            proto,
            host: host.map(|h| h.parse().unwrap()),
        }
    }

    #[test]
    fn ports_and_points() {
        let f = filter(Proto::Any, None);
        assert!(f.wants(Point::Rx, 1) && f.wants(Point::Drop, 1));
        assert!(!f.wants(Point::Tx, 1) && !f.wants(Point::Rx, 0) && !f.wants(Point::Rx, 64));
        assert!(f.matches(&[]), "a runt is seen by a capture of everything");
    }

    #[test]
    fn protocols_and_hosts() {
        let icmp = ip_frame(1, [10, 0, 1, 2], [10, 0, 2, 2]);
        let udp = ip_frame(17, [10, 0, 1, 2], [10, 0, 2, 2]);
        let arp = arp_frame([10, 0, 1, 2], [10, 0, 1, 1]);
        assert!(filter(Proto::Icmp, None).matches(&icmp));
        assert!(!filter(Proto::Icmp, None).matches(&udp));
        assert!(filter(Proto::Udp, None).matches(&udp));
        assert!(!filter(Proto::Tcp, None).matches(&udp));
        assert!(filter(Proto::Ip, None).matches(&udp) && !filter(Proto::Ip, None).matches(&arp));
        assert!(filter(Proto::Arp, None).matches(&arp) && !filter(Proto::Arp, None).matches(&icmp));
        assert!(filter(Proto::Any, Some("10.0.2.2")).matches(&icmp));
        assert!(filter(Proto::Icmp, Some("10.0.1.2")).matches(&icmp));
        assert!(!filter(Proto::Any, Some("10.0.9.9")).matches(&icmp));
        assert!(filter(Proto::Any, Some("10.0.1.1")).matches(&arp));
        assert!(!filter(Proto::Any, Some("10.0.1.1")).matches(&[0u8; 20]));
        // Truncated IPv4: no address to match, no panic.
        assert!(!filter(Proto::Icmp, Some("10.0.1.2")).matches(&icmp[..20]));
        for p in Proto::NAMES.map(|(p, _)| p) {
            assert_eq!(Proto::parse(p.name()), Some(p));
            assert_eq!(Proto::from_u8(p as u8), Some(p));
        }
    }
}
