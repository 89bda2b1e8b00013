//! Multipath routes in the API (RTA_MULTIPATH): the members a NEWROUTE message names,
//! checked as Linux's `fib_get_nhs`/`fib_check_nh` check them, and their form in dumps.
use super::{ifindex, Rtnl};
use crate::api::{errno, ApiError, ReqField, RtNexthop};
use crate::fib::multipath::{MAX_MEMBERS, WEIGHT_MAX};
use crate::fib::{Member, Multipath, Route, RouteTarget};
use std::sync::Arc;

impl Rtnl {
    /// The target of a route with `hops` (at least one): a plain gateway or connected
    /// route for one next hop (as Linux shows a one-hop RTA_MULTIPATH), else a group.
    pub(super) fn multipath_target(&self, hops: &[RtNexthop]) -> Result<RouteTarget, ApiError> {
        if hops.len() > MAX_MEMBERS {
            return Err(ApiError::inval(format!(
                "{} next hops: a multipath route has at most {MAX_MEMBERS}",
                hops.len()
            )));
        }
        let mut members: Vec<Member> = Vec::with_capacity(hops.len());
        for (i, h) in hops.iter().enumerate() {
            let n = i + 1;
            let m = self.member(n, h)?;
            if let Some(j) = members
                .iter()
                .position(|o| o.gw == m.gw && o.port == m.port)
            {
                return Err(ApiError::inval(format!(
                    "nexthop {n} duplicates nexthop {} ({})",
                    j + 1,
                    self.member_text(&m)
                ))
                .at(ReqField::Nexthop {
                    n: hop(i),
                    same_as: Some(hop(j)),
                }));
            }
            members.push(m);
        }
        Ok(match members.as_slice() {
            [] => {
                return Err(ApiError::inval(
                    "a multipath route needs at least one next hop",
                ))
            }
            [one] => match one.gw {
                Some(gw) => RouteTarget::Gateway {
                    gw,
                    port: Some(one.port),
                },
                None => RouteTarget::Connected { port: one.port },
            },
            _ => RouteTarget::Multipath(Arc::new(Multipath::new(members))),
        })
    }

    /// Next hop number `n` of a request, checked.
    fn member(&self, n: usize, h: &RtNexthop) -> Result<Member, ApiError> {
        let at = hop(n - 1);
        if h.weight == 0 || h.weight > WEIGHT_MAX {
            return Err(ApiError::inval(format!(
                "nexthop {n}: weight {} is out of range 1..={WEIGHT_MAX}",
                h.weight
            ))
            .at(ReqField::NexthopWeight(at)));
        }
        let port = match h.oif {
            Some(i) => {
                let index = self.port_index(i);
                let p = &self.ports[index.map_err(|e| e.at(ReqField::NexthopIfindex(at)))?];
                if !p.up {
                    return Err(ApiError::new(
                        errno::ENETDOWN,
                        format!("nexthop {n}: device {} is not up", p.name),
                    )
                    .at(ReqField::NexthopIfindex(at)));
                }
                Some(p)
            }
            None => None,
        };
        let port = match (h.gateway, port) {
            (Some(gw), _)
                if self
                    .ports
                    .iter()
                    .any(|p| p.addrs.iter().any(|a| a.addr() == gw)) =>
            {
                return Err(ApiError::inval(format!(
                    "nexthop {n}: gateway {gw} is this router's own address"
                ))
                .at(ReqField::NexthopGateway(at)))
            }
            (Some(gw), Some(p)) if !p.addrs.iter().any(|a| a.contains(&gw)) => {
                return Err(ApiError::new(
                    errno::ENETUNREACH,
                    format!(
                        "nexthop {n}: gateway {gw} is not on a connected network of {}",
                        p.name
                    ),
                )
                .at(ReqField::NexthopGateway(at)))
            }
            (Some(_), Some(p)) => p.id,
            (Some(gw), None) => self.on_link_port(gw).ok_or_else(|| {
                ApiError::new(
                    errno::ENETUNREACH,
                    format!("nexthop {n}: gateway {gw} is not on a connected network"),
                )
                .at(ReqField::NexthopGateway(at))
            })?,
            (None, Some(p)) if p.addrs.is_empty() => {
                return Err(ApiError::inval(format!(
                    "nexthop {n}: no gateway, and device {} has no connected network",
                    p.name
                ))
                .at(ReqField::NexthopIfindex(at)))
            }
            (None, Some(p)) => p.id,
            (None, None) => {
                return Err(ApiError::inval(format!(
                    "nexthop {n}: needs a gateway (via) or a device (dev)"
                ))
                .at(ReqField::Nexthop {
                    n: at,
                    same_as: None,
                }))
            }
        };
        if let Some(gw) = h.gateway {
            (self.check_gateway_host(gw, port)).map_err(|e| {
                ApiError::inval(format!("nexthop {n}: {}", e.msg)).at(ReqField::NexthopGateway(at))
            })?;
        }
        Ok(Member {
            gw: h.gateway,
            port,
            weight: h.weight,
        })
    }

    fn member_text(&self, m: &Member) -> String {
        match m.gw {
            Some(gw) => format!("via {gw} dev {}", self.port_name(m.port)),
            None => format!("dev {}", self.port_name(m.port)),
        }
    }
}

/// The RTA_MULTIPATH of a route (empty for a single path).
pub(super) fn multipath_of(r: &Route) -> Vec<RtNexthop> {
    match &r.target {
        RouteTarget::Multipath(mp) => mp
            .members()
            .iter()
            .map(|m| RtNexthop {
                gateway: m.gw,
                oif: Some(ifindex(m.port)),
                weight: m.weight,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `target` replacing `old` (same prefix and metric): a group keeps the bucket
/// assignment of the group it replaces, so that flows on members that stay do not move.
pub(super) fn succeed(old: &RouteTarget, target: RouteTarget) -> RouteTarget {
    match (old, target) {
        (RouteTarget::Multipath(prev), RouteTarget::Multipath(new)) => {
            RouteTarget::Multipath(Arc::new(Multipath::succeed(prev, new.members().to_vec())))
        }
        (_, t) => t,
    }
}

/// Next hop `i` (from 0) of a request as [`ReqField`] counts it (at most
/// [`MAX_MEMBERS`] are judged).
fn hop(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}
