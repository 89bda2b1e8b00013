//! Neighbours: `ndmsg` + NDA_* attributes.
use super::attr::*;
use super::*;
use crate::wire::MacAddr;
use std::net::Ipv4Addr;

// Neighbour attributes.
pub const NDA_DST: u16 = 1;
pub const NDA_LLADDR: u16 = 2;
pub const NDA_PROBES: u16 = 4;

/// A neighbour (`ndmsg` + NDA_* attributes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NeighMsg {
    pub ifindex: u32,
    pub state: Nud,
    pub dst: Option<Ipv4Addr>,
    pub lladdr: Option<MacAddr>,
    pub probes: Option<u32>,
}

/// `ndmsg` fields (linux/neighbour.h).
pub(super) mod ndm {
    use super::Field;
    pub const FAMILY: usize = 0;
    pub const IFINDEX: Field = 4..8;
    pub const STATE: Field = 8..10;
    /// NTF_* flags at 10 are always 0.
    pub const TYPE: usize = 11;
    pub const LEN: usize = 12;
}

const _: () = assert!(ndm::TYPE < ndm::LEN);

impl NeighMsg {
    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        let mut f = Fixed::<{ ndm::LEN }>::zeroed();
        f.set_u8(ndm::FAMILY, Family::Inet.into());
        f.set_u32(ndm::IFINDEX, self.ifindex);
        f.set_u16(ndm::STATE, self.state.into());
        f.set_u8(ndm::TYPE, RouteType::Unicast.into());
        f.emit(out);
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
        let (f, rest) = Fixed::<{ ndm::LEN }>::read(b, "ndmsg")?;
        family(f.u8(ndm::FAMILY), h.kind == RTM_GETNEIGH)?;
        let mut n = NeighMsg {
            ifindex: f.u32(ndm::IFINDEX),
            state: f.u16(ndm::STATE).into(),
            ..NeighMsg::default()
        };
        for (k, v) in attrs(rest)? {
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
