//! Routes: `rtmsg` + RTA_* attributes, and RTA_MULTIPATH.
use super::attr::*;
use super::*;
use std::net::Ipv4Addr;

// Route types (RTN_*), protocols (RTPROT_*), scopes.
pub const RTN_UNSPEC: u8 = 0;
pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
pub const RTN_BROADCAST: u8 = 3;
pub const RTN_BLACKHOLE: u8 = 6;
pub const RTN_UNREACHABLE: u8 = 7;
pub const RTN_PROHIBIT: u8 = 8;
pub const RTPROT_UNSPEC: u8 = 0;
pub const RTPROT_KERNEL: u8 = 2;
pub const RTPROT_STATIC: u8 = 4;
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_HOST: u8 = 254;
pub const RT_TABLE_MAIN: u8 = 254;
pub const RTA_DST: u16 = 1;
pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
pub const RTA_PRIORITY: u16 = 6;
pub const RTA_PREFSRC: u16 = 7;
/// A sequence of [`RtNexthop`]s (`struct rtnexthop` + attributes): a multipath route.
pub const RTA_MULTIPATH: u16 = 9;

/// A route (`rtmsg` + RTA_* attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMsg {
    pub dst: Ipv4Addr,
    pub dst_len: u8,
    pub protocol: u8,
    pub scope: u8,
    /// RTN_*; RTN_UNSPEC in a delete matches any type.
    pub rtype: u8,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    pub metric: Option<u32>,
    pub prefsrc: Option<Ipv4Addr>,
    /// The next hops of a multipath route (RTA_MULTIPATH); empty for a single path, which
    /// `gateway` and `oif` describe.
    pub multipath: Vec<RtNexthop>,
}

/// One next hop of a multipath route: rtnetlink's `struct rtnexthop { u16 len; u8 flags;
/// u8 hops; i32 ifindex }` followed by its RTA_GATEWAY, with `hops` = weight - 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtNexthop {
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    /// 1..=256 (Linux's `weight`); the handlers refuse anything else.
    pub weight: u16,
}

impl RouteMsg {
    /// A unicast route to `dst/len` with nothing else set.
    pub fn new(dst: Ipv4Addr, dst_len: u8) -> RouteMsg {
        RouteMsg {
            dst,
            dst_len,
            protocol: RTPROT_STATIC,
            scope: RT_SCOPE_UNIVERSE,
            rtype: RTN_UNICAST,
            gateway: None,
            oif: None,
            metric: None,
            prefsrc: None,
            multipath: Vec::new(),
        }
    }
}

/// `rtmsg` field offsets (linux/rtnetlink.h), one byte each.
pub(super) mod rtm {
    pub const FAMILY: usize = 0;
    pub const DST_LEN: usize = 1;
    pub const SRC_LEN: usize = 2;
    pub const TABLE: usize = 4;
    pub const PROTOCOL: usize = 5;
    pub const SCOPE: usize = 6;
    pub const TYPE: usize = 7;
    /// Bytes of the fixed part (TOS at 3 is always 0).
    pub const LEN: usize = 8;
}

impl RouteMsg {
    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        let mut f = [0u8; rtm::LEN];
        f[rtm::FAMILY] = AF_INET;
        f[rtm::DST_LEN] = self.dst_len;
        f[rtm::TABLE] = RT_TABLE_MAIN;
        f[rtm::PROTOCOL] = self.protocol;
        f[rtm::SCOPE] = self.scope;
        f[rtm::TYPE] = self.rtype;
        out.extend_from_slice(&f);
        let mut a = Attrs(out);
        if self.dst_len > 0 || self.dst != Ipv4Addr::UNSPECIFIED {
            a.ip(RTA_DST, self.dst);
        }
        if let Some(g) = self.gateway {
            a.ip(RTA_GATEWAY, g);
        }
        if let Some(o) = self.oif {
            a.u32(RTA_OIF, o);
        }
        if let Some(m) = self.metric {
            a.u32(RTA_PRIORITY, m);
        }
        if let Some(s) = self.prefsrc {
            a.ip(RTA_PREFSRC, s);
        }
        if !self.multipath.is_empty() {
            a.put(RTA_MULTIPATH, &emit_multipath(&self.multipath));
        }
    }

    pub(super) fn parse(b: &[u8], h: &Header) -> Result<RouteMsg, ApiError> {
        let f: [u8; rtm::LEN] = fixed(b, "rtmsg")?;
        let dump = h.kind == RTM_GETROUTE && h.is_dump();
        family(f[rtm::FAMILY], dump)?;
        if f[rtm::SRC_LEN] != 0 {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                "source-specific routes are not supported",
            ));
        }
        let mut r = RouteMsg {
            dst: Ipv4Addr::UNSPECIFIED,
            dst_len: f[rtm::DST_LEN],
            protocol: f[rtm::PROTOCOL],
            scope: f[rtm::SCOPE],
            rtype: f[rtm::TYPE],
            gateway: None,
            oif: None,
            metric: None,
            prefsrc: None,
            multipath: Vec::new(),
        };
        if !matches!(
            r.rtype,
            RTN_UNSPEC
                | RTN_UNICAST
                | RTN_LOCAL
                | RTN_BROADCAST
                | RTN_BLACKHOLE
                | RTN_UNREACHABLE
                | RTN_PROHIBIT
        ) {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                format!("route type {} not supported", r.rtype),
            ));
        }
        for (k, v) in attrs(&b[8..])? {
            match k {
                RTA_DST => r.dst = a_ip(k, v)?,
                RTA_GATEWAY => r.gateway = Some(a_ip(k, v)?),
                RTA_OIF => r.oif = Some(a_u32(k, v)?),
                RTA_PRIORITY => r.metric = Some(a_u32(k, v)?),
                RTA_PREFSRC => r.prefsrc = Some(a_ip(k, v)?),
                RTA_MULTIPATH => r.multipath = parse_multipath(v)?,
                _ => return Err(unknown_attr("route", k)),
            }
        }
        check_prefix(r.dst, r.dst_len)?;
        Ok(r)
    }
}

/// `struct rtnexthop` (linux/rtnetlink.h): 8 bytes, then the next hop's attributes.
pub(super) mod rtnh {
    pub const LEN: usize = 8;
}

/// The value of RTA_MULTIPATH: each next hop as `rtnexthop` + RTA_GATEWAY, 4-aligned
/// (RTNH_ALIGN). The weight goes as `hops` = weight - 1 (a weight outside 1..=256, which
/// the handlers refuse, is sent truncated).
pub(super) fn emit_multipath(hops: &[RtNexthop]) -> Vec<u8> {
    let mut v = Vec::with_capacity(hops.len() * 16);
    for h in hops {
        let len = rtnh::LEN + if h.gateway.is_some() { 8 } else { 0 };
        v.extend_from_slice(&(len as u16).to_le_bytes());
        v.push(0); // flags
        v.push(h.weight.wrapping_sub(1) as u8);
        v.extend_from_slice(&h.oif.unwrap_or(0).to_le_bytes());
        if let Some(g) = h.gateway {
            Attrs(&mut v).ip(RTA_GATEWAY, g);
        }
    }
    v
}

/// Parses RTA_MULTIPATH strictly: whole `rtnexthop`s, no flags, only RTA_GATEWAY inside.
pub(super) fn parse_multipath(mut b: &[u8]) -> Result<Vec<RtNexthop>, ApiError> {
    if b.is_empty() {
        return Err(ApiError::inval("RTA_MULTIPATH holds no next hop"));
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let f: [u8; rtnh::LEN] = fixed(b, "rtnexthop")?;
        let len = usize::from(u16::from_le_bytes([f[0], f[1]]));
        if len < rtnh::LEN || len > b.len() {
            return Err(ApiError::inval(format!(
                "multipath next hop {}: length {len} does not fit RTA_MULTIPATH",
                out.len() + 1
            )));
        }
        if f[2] != 0 {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                format!(
                    "multipath next hop {}: flags {:#x} not supported",
                    out.len() + 1,
                    f[2]
                ),
            ));
        }
        let ifindex = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
        let mut hop = RtNexthop {
            gateway: None,
            oif: (ifindex != 0).then_some(ifindex),
            weight: u16::from(f[3]) + 1,
        };
        for (k, v) in attrs(&b[rtnh::LEN..len])? {
            match k {
                RTA_GATEWAY => hop.gateway = Some(a_ip(k, v)?),
                _ => return Err(unknown_attr("multipath next hop", k)),
            }
        }
        out.push(hop);
        b = b.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}
