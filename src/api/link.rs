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

/// `ifinfomsg` fields (linux/rtnetlink.h).
pub(super) mod ifi {
    use super::Field;
    pub const FAMILY: usize = 0;
    pub const TYPE: Field = 2..4;
    pub const INDEX: Field = 4..8;
    pub const FLAGS: Field = 8..12;
    pub const CHANGE: Field = 12..16;
    pub const LEN: usize = 16;
}

const _: () = assert!(ifi::CHANGE.end == ifi::LEN);

/// `ifi_type` of every port (linux/if_arp.h ARPHRD_ETHER).
const ARPHRD_ETHER: u16 = 1;

impl LinkMsg {
    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        let mut f = Fixed::<{ ifi::LEN }>::zeroed();
        f.set_u8(ifi::FAMILY, Family::Unspec.into());
        f.set_u16(ifi::TYPE, ARPHRD_ETHER);
        f.set_u32(ifi::INDEX, self.ifindex);
        f.set_u32(ifi::FLAGS, self.flags);
        f.set_u32(ifi::CHANGE, self.change);
        f.emit(out);
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
        let (f, rest) = Fixed::<{ ifi::LEN }>::read(b, "ifinfomsg")?;
        let mut m = LinkMsg {
            ifindex: f.u32(ifi::INDEX),
            flags: f.u32(ifi::FLAGS),
            change: f.u32(ifi::CHANGE),
            ..LinkMsg::default()
        };
        for (k, v) in attrs(rest)? {
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
