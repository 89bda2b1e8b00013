//! Links: `ifinfomsg` + IFLA_* attributes.
use super::attr::*;
use super::*;
use crate::wire::MacAddr;

// Link flags and attributes.
pub const IFF_UP: u32 = 0x1;
pub const IFF_BROADCAST: u32 = 0x2;
pub const IFF_RUNNING: u32 = 0x40;
pub const IFF_LOWER_UP: u32 = 0x1_0000;
pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_MTU: u16 = 4;

/// A link (`ifinfomsg` + IFLA_* attributes). In a request, `change` says which bits of
/// `flags` to set (Linux semantics: only IFF_UP is changeable here).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkMsg {
    pub ifindex: u32,
    pub flags: u32,
    pub change: u32,
    pub name: Option<String>,
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
}

impl LinkMsg {
    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[AF_UNSPEC, 0]);
        out.extend_from_slice(&1u16.to_le_bytes()); // ARPHRD_ETHER
        out.extend_from_slice(&self.ifindex.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.change.to_le_bytes());
        let mut a = Attrs(out);
        if let Some(n) = &self.name {
            a.str(IFLA_IFNAME, n);
        }
        if let Some(m) = self.mtu {
            a.u32(IFLA_MTU, m);
        }
        if let Some(m) = self.mac {
            a.put(IFLA_ADDRESS, &m.0);
        }
    }

    pub(super) fn parse(b: &[u8]) -> Result<LinkMsg, ApiError> {
        let f: [u8; 16] = fixed(b, "ifinfomsg")?;
        let u = |i: usize| u32::from_le_bytes([f[i], f[i + 1], f[i + 2], f[i + 3]]);
        let mut m = LinkMsg {
            ifindex: u(4),
            flags: u(8),
            change: u(12),
            ..LinkMsg::default()
        };
        for (k, v) in attrs(&b[16..])? {
            match k {
                IFLA_IFNAME => m.name = Some(a_str(k, v)?),
                IFLA_MTU => m.mtu = Some(a_u32(k, v)?),
                IFLA_ADDRESS => m.mac = Some(a_mac(k, v)?),
                _ => return Err(unknown_attr("link", k)),
            }
        }
        Ok(m)
    }
}
