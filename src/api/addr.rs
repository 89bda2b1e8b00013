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

impl AddrMsg {
    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[AF_INET, self.prefix_len, 0, RT_SCOPE_UNIVERSE]);
        out.extend_from_slice(&self.ifindex.to_le_bytes());
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
        let f: [u8; 8] = fixed(b, "ifaddrmsg")?;
        family(f[0], h.kind == RTM_GETADDR)?;
        let mut m = AddrMsg {
            prefix_len: f[1],
            ifindex: u32::from_le_bytes([f[4], f[5], f[6], f[7]]),
            local: None,
            label: None,
        };
        if m.prefix_len > 32 {
            return Err(ApiError::inval(format!(
                "invalid prefix length {}",
                m.prefix_len
            )));
        }
        for (k, v) in attrs(&b[8..])? {
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
