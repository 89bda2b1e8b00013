//! `[[route]]`: static routes.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Deserialize;

use super::{
    nexthops, parse_addr, parse_net, Builder, ConfigError, Int, NexthopConfig, PortConfig,
};
use crate::api::RouteType;

/// The route types a `[[route]]` may give (`type`, default unicast); local and
/// broadcast routes follow the ports' addresses.
const FILE_TYPES: [RouteType; 4] = [
    RouteType::Unicast,
    RouteType::Blackhole,
    RouteType::Unreachable,
    RouteType::Prohibit,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// Network address (host bits zero).
    pub prefix: Ipv4Net,
    /// Next hop; on the connected subnet of `port` if given, else of some port.
    pub via: Option<Ipv4Addr>,
    /// Egress port (index into [`super::Config::ports`]) if given in the file.
    pub port: Option<usize>,
    /// Unicast, blackhole, unreachable or prohibit: the types a file may give.
    pub route_type: RouteType,
    pub metric: u32,
    /// The paths of a multipath route (`nexthops`); empty for a single path.
    pub nexthops: Vec<NexthopConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(super) prefix: Option<String>,
    pub(super) via: Option<String>,
    pub(super) port: Option<String>,
    #[serde(rename = "type")]
    pub(super) route_type: Option<String>,
    pub(super) metric: Option<Int>,
    pub(super) nexthops: Option<Vec<nexthops::RawNexthop>>,
}

impl Builder<'_> {
    /// `[[route]]`: each entry's own form (prefix, type, which keys go together); whether
    /// its gateways are on link and whether it repeats another route is the API's to
    /// judge (`config::requests`).
    pub(super) fn routes(
        &self,
        raw: Vec<RawRoute>,
        ports: &[PortConfig],
    ) -> Result<Vec<RouteConfig>, ConfigError> {
        let mut routes: Vec<RouteConfig> = Vec::with_capacity(raw.len());
        for (i, r) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("route[{i}].{field}");

            let prefix_text = self.required(&key("prefix"), r.prefix)?;
            let prefix = parse_net(&prefix_text, 0).map_err(|m| self.err(key("prefix"), m))?;
            if prefix.trunc() != prefix {
                return Err(self.err(
                    key("prefix"),
                    format!(
                        "{prefix} has host bits set; did you mean {}?",
                        prefix.trunc()
                    ),
                ));
            }

            let given = r.route_type.as_deref().map(str::trim);
            let route_type = match given.map(RouteType::from_name) {
                None => RouteType::Unicast,
                Some(Some(t)) if FILE_TYPES.contains(&t) => t,
                Some(_) => {
                    let other = given.unwrap_or_default();
                    return Err(self.err(
                        key("type"),
                        format!(
                            "unknown route type {other:?}; expected \"unicast\", \"blackhole\", \
                             \"unreachable\" or \"prohibit\""
                        ),
                    ));
                }
            };

            let port = match &r.port {
                Some(name) => Some(self.port_index(&key("port"), ports, name.trim())?),
                None => None,
            };
            let via = match &r.via {
                Some(v) => Some(parse_addr(v).map_err(|m| self.err(key("via"), m))?),
                None => None,
            };
            let nexthops = match r.nexthops {
                Some(raw) => {
                    for (field, given) in [("via", via.is_some()), ("port", port.is_some())] {
                        if given {
                            return Err(self.err(
                                key(field),
                                "a route with `nexthops` gives `via` and `port` in each next hop",
                            ));
                        }
                    }
                    if route_type != RouteType::Unicast {
                        return Err(self.err(
                            key("nexthops"),
                            format!("a {route_type} route must not have `nexthops`"),
                        ));
                    }
                    self.nexthops(i, raw, ports)?
                }
                None => Vec::new(),
            };
            if route_type == RouteType::Unicast && nexthops.is_empty() {
                if via.is_none() && port.is_none() {
                    return Err(self.err(
                        format!("route[{i}]"),
                        "a unicast route needs `via` (next hop) or `port` (directly connected)",
                    ));
                }
            } else {
                for (field, given) in [("via", via.is_some()), ("port", port.is_some())] {
                    if given {
                        return Err(self.err(
                            key(field),
                            format!("a {route_type} route must not have `{field}`"),
                        ));
                    }
                }
            }
            let metric = self.int(&key("metric"), r.metric, 0, 0, u32::MAX.into())?;
            routes.push(RouteConfig {
                prefix,
                via,
                port,
                route_type,
                metric,
                nexthops,
            });
        }
        Ok(routes)
    }
}
