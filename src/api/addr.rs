//! Addresses: `ifaddrmsg` + IFA_* attributes.
use super::attr::*;
use super::*;
use std::net::Ipv4Addr;

// Address attributes.
pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;
pub const IFA_LABEL: u16 = 3;

/// An address (`ifaddrmsg` + IFA_LOCAL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrMsg {
    pub ifindex: u32,
    pub prefix_len: u8,
    pub local: Option<Ipv4Addr>,
    pub label: Option<String>,
}

/// `ifaddrmsg` fields (linux/if_addr.h).
pub(super) mod ifa {
    use super::Field;
    pub const FAMILY: usize = 0;
    pub const PREFIXLEN: usize = 1;
    /// IFA_F_* flags at 2 are always 0.
    pub const SCOPE: usize = 3;
    pub const INDEX: Field = 4..8;
    pub const LEN: usize = 8;
}

const _: () = assert!(ifa::INDEX.end == ifa::LEN);

impl AddrMsg {
    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        let mut f = Fixed::<{ ifa::LEN }>::zeroed();
        f.set_u8(ifa::FAMILY, Family::Inet.into());
        f.set_u8(ifa::PREFIXLEN, self.prefix_len);
        f.set_u8(ifa::SCOPE, Scope::Universe.into());
        f.set_u32(ifa::INDEX, self.ifindex);
        f.emit(out);
        let mut a = Attrs(out);
        if let Some(l) = self.local {
            a.ip(IFA_LOCAL, l);
            a.ip(IFA_ADDRESS, l);
        }
        if let Some(s) = &self.label {
            a.str(IFA_LABEL, s);
        }
    }

    pub(super) fn parse(b: &[u8], h: &Header) -> Result<AddrMsg, ApiError> {
        let (f, rest) = Fixed::<{ ifa::LEN }>::read(b, "ifaddrmsg")?;
        family(f.u8(ifa::FAMILY), h.kind == RTM_GETADDR)?;
        let mut m = AddrMsg {
            prefix_len: f.u8(ifa::PREFIXLEN),
            ifindex: f.u32(ifa::INDEX),
            local: None,
            label: None,
        };
        if m.prefix_len > 32 {
            return Err(ApiError::inval(format!(
                "invalid prefix length {}",
                m.prefix_len
            )));
        }
        for (k, v) in attrs(rest)? {
            match k {
                // IFA_LOCAL is the address on point-to-point links; here both are one.
                IFA_LOCAL | IFA_ADDRESS => m.local = Some(a_ip(k, v)?),
                IFA_LABEL => m.label = Some(a_str(k, v)?),
                _ => return Err(unknown_attr("address", k)),
            }
        }
        Ok(m)
    }
}
