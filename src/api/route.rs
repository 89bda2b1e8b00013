//! Routes: `rtmsg` + RTA_* attributes, and RTA_MULTIPATH.
use super::attr::*;
use super::*;
use crate::fib::Proto;
use std::net::Ipv4Addr;

// Route attributes.
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
    /// `Other(0)` (RTPROT_UNSPEC) in a delete matches any protocol, in an add means
    /// `Static`.
    pub protocol: Proto,
    pub scope: Scope,
    /// `Unspec` in a delete matches any type.
    pub rtype: RouteType,
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
            protocol: Proto::Static,
            scope: Scope::Universe,
            rtype: RouteType::Unicast,
            gateway: None,
            oif: None,
            metric: None,
            prefsrc: None,
            multipath: Vec::new(),
        }
    }
}

/// `rtmsg` fields (linux/rtnetlink.h), one byte each.
pub(super) mod rtm {
    pub const FAMILY: usize = 0;
    pub const DST_LEN: usize = 1;
    pub const SRC_LEN: usize = 2;
    /// TOS at 3 is always 0.
    pub const TABLE: usize = 4;
    pub const PROTOCOL: usize = 5;
    pub const SCOPE: usize = 6;
    pub const TYPE: usize = 7;
    pub const LEN: usize = 8;
}

const _: () = assert!(rtm::TYPE < rtm::LEN);

impl RouteMsg {
    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        let mut f = Fixed::<{ rtm::LEN }>::zeroed();
        f.set_u8(rtm::FAMILY, Family::Inet.into());
        f.set_u8(rtm::DST_LEN, self.dst_len);
        f.set_u8(rtm::TABLE, Table::Main.into());
        f.set_u8(rtm::PROTOCOL, self.protocol.num());
        f.set_u8(rtm::SCOPE, self.scope.into());
        f.set_u8(rtm::TYPE, self.rtype.into());
        f.emit(out);
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
        let (f, rest) = Fixed::<{ rtm::LEN }>::read(b, "rtmsg")?;
        let dump = h.kind == RTM_GETROUTE && h.is_dump();
        family(f.u8(rtm::FAMILY), dump)?;
        if f.u8(rtm::SRC_LEN) != 0 {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                "source-specific routes are not supported",
            ));
        }
        let mut r = RouteMsg {
            dst: Ipv4Addr::UNSPECIFIED,
            dst_len: f.u8(rtm::DST_LEN),
            protocol: Proto::from_num(f.u8(rtm::PROTOCOL)),
            scope: f.u8(rtm::SCOPE).into(),
            rtype: f.u8(rtm::TYPE).into(),
            gateway: None,
            oif: None,
            metric: None,
            prefsrc: None,
            multipath: Vec::new(),
        };
        if let RouteType::Other(n) = r.rtype {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                format!("route type {n} not supported"),
            ));
        }
        for (k, v) in attrs(rest)? {
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

/// `struct rtnexthop` fields (linux/rtnetlink.h), then the next hop's attributes.
pub(super) mod rtnh {
    use super::Field;
    pub const LEN_FIELD: Field = 0..2;
    pub const FLAGS: usize = 2;
    /// Weight - 1.
    pub const HOPS: usize = 3;
    pub const IFINDEX: Field = 4..8;
    pub const LEN: usize = 8;
}

const _: () = assert!(rtnh::IFINDEX.end == rtnh::LEN);

/// The value of RTA_MULTIPATH: each next hop as `rtnexthop` + RTA_GATEWAY, 4-aligned
/// (RTNH_ALIGN). The weight goes as `hops` = weight - 1 (a weight outside 1..=256, which
/// the handlers refuse, is sent truncated).
pub(super) fn emit_multipath(hops: &[RtNexthop]) -> Vec<u8> {
    let mut v = Vec::with_capacity(hops.len() * 16);
    for h in hops {
        let len = rtnh::LEN + if h.gateway.is_some() { 8 } else { 0 };
        let mut f = Fixed::<{ rtnh::LEN }>::zeroed();
        f.set_u16(rtnh::LEN_FIELD, len as u16);
        f.set_u8(rtnh::HOPS, h.weight.wrapping_sub(1) as u8);
        f.set_u32(rtnh::IFINDEX, h.oif.unwrap_or(0));
        f.emit(&mut v);
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
        let (f, _) = Fixed::<{ rtnh::LEN }>::read(b, "rtnexthop")?;
        let len = usize::from(f.u16(rtnh::LEN_FIELD));
        let Some(hop_attrs) = b.get(rtnh::LEN..len) else {
            return Err(ApiError::inval(format!(
                "multipath next hop {}: length {len} does not fit RTA_MULTIPATH",
                out.len() + 1
            )));
        };
        if f.u8(rtnh::FLAGS) != 0 {
            return Err(ApiError::new(
                errno::EOPNOTSUPP,
                format!(
                    "multipath next hop {}: flags {:#x} not supported",
                    out.len() + 1,
                    f.u8(rtnh::FLAGS)
                ),
            ));
        }
        let ifindex = f.u32(rtnh::IFINDEX);
        let mut hop = RtNexthop {
            gateway: None,
            oif: (ifindex != 0).then_some(ifindex),
            weight: u16::from(f.u8(rtnh::HOPS)) + 1,
        };
        for (k, v) in attrs(hop_attrs)? {
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
