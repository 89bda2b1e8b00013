//! Neighbours: `ndmsg` + NDA_* attributes.
use super::attr::*;
use super::*;
use crate::wire::MacAddr;
use std::net::Ipv4Addr;

// Neighbour states (NUD_*) and attributes.
pub const NUD_INCOMPLETE: u16 = 0x01;
pub const NUD_REACHABLE: u16 = 0x02;
pub const NUD_STALE: u16 = 0x04;
pub const NUD_DELAY: u16 = 0x08;
pub const NUD_PROBE: u16 = 0x10;
pub const NUD_FAILED: u16 = 0x20;
pub const NUD_NOARP: u16 = 0x40;
pub const NUD_PERMANENT: u16 = 0x80;
pub const NDA_DST: u16 = 1;
pub const NDA_LLADDR: u16 = 2;
pub const NDA_PROBES: u16 = 4;

/// A neighbour (`ndmsg` + NDA_* attributes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NeighMsg {
    pub ifindex: u32,
    /// NUD_*.
    pub state: u16,
    pub dst: Option<Ipv4Addr>,
    pub lladdr: Option<MacAddr>,
    pub probes: Option<u32>,
}

impl NeighMsg {
    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[AF_INET, 0, 0, 0]);
        out.extend_from_slice(&self.ifindex.to_le_bytes());
        out.extend_from_slice(&self.state.to_le_bytes());
        out.extend_from_slice(&[0, 1]); // flags, type (RTN_UNICAST)
        let mut a = Attrs(out);
        if let Some(d) = self.dst {
            a.ip(NDA_DST, d);
        }
        if let Some(m) = self.lladdr {
            a.put(NDA_LLADDR, &m.0);
        }
        if let Some(p) = self.probes {
            a.u32(NDA_PROBES, p);
        }
    }

    pub(super) fn parse(b: &[u8], h: &Header) -> Result<NeighMsg, ApiError> {
        let f: [u8; 12] = fixed(b, "ndmsg")?;
        family(f[0], h.kind == RTM_GETNEIGH)?;
        let mut n = NeighMsg {
            ifindex: u32::from_le_bytes([f[4], f[5], f[6], f[7]]),
            state: u16::from_le_bytes([f[8], f[9]]),
            ..NeighMsg::default()
        };
        for (k, v) in attrs(&b[12..])? {
            match k {
                NDA_DST => n.dst = Some(a_ip(k, v)?),
                NDA_LLADDR => n.lladdr = Some(a_mac(k, v)?),
                NDA_PROBES => n.probes = Some(a_u32(k, v)?),
                _ => return Err(unknown_attr("neighbour", k)),
            }
        }
        Ok(n)
    }
}
