//! The router's status (`ferroute status`) as attributes: [`FR_GETSTATUS_ATTRS`] is
//! answered with one [`FR_STATUS`] message, a nest per port, the FIB version and whether
//! every link is up. [`FR_GETSTATUS`] still answers with the same lines as text (its
//! reply is pinned and older clients read it); both come from one [`Status`], whose
//! [`Status::text`] is those lines.
//!
//! ```text
//! FRA_STATUS_PORT { NAME "port0", ID u32, LINK u32, MAC 6 bytes, ADDR ip, PREFIXLEN u32,
//!                   MTU u32, ADMIN u32 } ...
//! FRA_STATUS_FIB_VERSION u64, FRA_STATUS_READY u32
//! ```
use super::attr::*;
use super::*;
use crate::wire::MacAddr;
use ipnet::Ipv4Net;
use std::fmt::Write as _;

/// Asks for the status as attributes (no body); answered with [`FR_STATUS`].
pub const FR_GETSTATUS_ATTRS: u16 = 0x108;
/// The reply to [`FR_GETSTATUS_ATTRS`]: a [`Status`].
pub const FR_STATUS: u16 = 0x109;

// Top-level attributes of FR_STATUS.
pub const FRA_STATUS_PORT: u16 = 1;
pub const FRA_STATUS_FIB_VERSION: u16 = 2;
pub const FRA_STATUS_READY: u16 = 3;
// Inside FRA_STATUS_PORT.
pub const FRA_PORT_NAME: u16 = 1;
pub const FRA_PORT_ID: u16 = 2;
pub const FRA_PORT_LINK: u16 = 3;
pub const FRA_PORT_MAC: u16 = 4;
pub const FRA_PORT_ADDR: u16 = 5;
pub const FRA_PORT_PREFIXLEN: u16 = 6;
pub const FRA_PORT_MTU: u16 = 7;
pub const FRA_PORT_ADMIN: u16 = 8;

/// One port as `ferroute status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStatus {
    pub name: String,
    /// The DPDK port id.
    pub id: u16,
    /// The PMD's link state.
    pub link_up: bool,
    pub mac: MacAddr,
    /// The primary address, if any.
    pub addr: Option<Ipv4Net>,
    pub mtu: u16,
    /// The administrative state (`link set PORT up|down`).
    pub admin_up: bool,
}

/// The router's status: its ports, the FIB version in use, and whether it is ready
/// (every link up).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    pub ports: Vec<PortStatus>,
    pub fib_version: u64,
    pub ready: bool,
}

fn up_down(b: bool) -> &'static str {
    if b {
        "up"
    } else {
        "down"
    }
}

impl Status {
    /// The `ferroute status` lines: one per port, then `fib_version N` and `ready
    /// yes|no`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for p in &self.ports {
            let addr = p.addr.map_or_else(|| "none".to_string(), |a| a.to_string());
            let _ = writeln!(
                out,
                "port {} id {} link {} mac {} addr {addr} mtu {} admin {}",
                p.name,
                p.id,
                up_down(p.link_up),
                p.mac,
                p.mtu,
                up_down(p.admin_up),
            );
        }
        let _ = writeln!(out, "fib_version {}", self.fib_version);
        let _ = writeln!(out, "ready {}", if self.ready { "yes" } else { "no" });
        out
    }

    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        let mut a = Attrs(out);
        for p in &self.ports {
            let mut nested = Vec::new();
            let mut n = Attrs(&mut nested);
            n.str(FRA_PORT_NAME, &p.name);
            n.u32(FRA_PORT_ID, u32::from(p.id));
            n.u32(FRA_PORT_LINK, u32::from(p.link_up));
            n.put(FRA_PORT_MAC, &p.mac.0);
            if let Some(net) = p.addr {
                n.ip(FRA_PORT_ADDR, net.addr());
                n.u32(FRA_PORT_PREFIXLEN, u32::from(net.prefix_len()));
            }
            n.u32(FRA_PORT_MTU, u32::from(p.mtu));
            n.u32(FRA_PORT_ADMIN, u32::from(p.admin_up));
            a.put(FRA_STATUS_PORT, &nested);
        }
        a.put(FRA_STATUS_FIB_VERSION, &self.fib_version.to_le_bytes());
        a.u32(FRA_STATUS_READY, u32::from(self.ready));
    }

    pub(super) fn parse(b: &[u8]) -> Result<Status, ApiError> {
        let mut s = Status::default();
        for (k, v) in attrs(b)? {
            match k {
                FRA_STATUS_PORT => s.ports.push(parse_port(v)?),
                FRA_STATUS_FIB_VERSION => s.fib_version = a_u64(k, v)?,
                FRA_STATUS_READY => s.ready = a_u32(k, v)? != 0,
                _ => return Err(unknown_attr("status", k)),
            }
        }
        Ok(s)
    }
}

fn parse_port(b: &[u8]) -> Result<PortStatus, ApiError> {
    let (mut name, mut id, mut mac, mut mtu) = (None, None, None, None);
    let (mut link_up, mut admin_up, mut addr, mut len) = (false, false, None, None);
    let small = |k: u16, v: &[u8]| {
        u16::try_from(a_u32(k, v)?)
            .map_err(|_| ApiError::inval(format!("port status attribute {k}: out of range")))
    };
    for (k, v) in attrs(b)? {
        match k {
            FRA_PORT_NAME => name = Some(a_str(k, v)?),
            FRA_PORT_ID => id = Some(small(k, v)?),
            FRA_PORT_LINK => link_up = a_u32(k, v)? != 0,
            FRA_PORT_MAC => mac = Some(a_mac(k, v)?),
            FRA_PORT_ADDR => addr = Some(a_ip(k, v)?),
            FRA_PORT_PREFIXLEN => len = Some(small(k, v)?),
            FRA_PORT_MTU => mtu = Some(small(k, v)?),
            FRA_PORT_ADMIN => admin_up = a_u32(k, v)? != 0,
            _ => return Err(unknown_attr("port status", k)),
        }
    }
    let addr = match (addr, len) {
        (None, None) => None,
        (Some(ip), Some(len)) => Some(
            u8::try_from(len)
                .ok()
                .and_then(|l| Ipv4Net::new(ip, l).ok())
                .ok_or_else(|| ApiError::inval(format!("invalid prefix length {len}")))?,
        ),
        _ => return Err(ApiError::inval("a port address needs its prefix length")),
    };
    match (name, id, mac, mtu) {
        (Some(name), Some(id), Some(mac), Some(mtu)) => Ok(PortStatus {
            name,
            id,
            link_up,
            mac,
            addr,
            mtu,
            admin_up,
        }),
        _ => Err(ApiError::inval(
            "a port status needs its name, id, mac and mtu",
        )),
    }
}
