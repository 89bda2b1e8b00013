//! `[[route]]`: static routes.

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Deserialize;

use super::{
    nexthops, parse_addr, parse_net, Builder, ConfigError, Int, NexthopConfig, PortConfig,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RouteType {
    /// Forward via `via` and/or out of `port`.
    #[default]
    Unicast,
    /// Drop silently.
    Blackhole,
    /// Drop with ICMP destination unreachable (host unreachable).
    Unreachable,
    /// Drop with ICMP destination unreachable (administratively prohibited).
    Prohibit,
}

impl RouteType {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteType::Unicast => "unicast",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
        }
    }
}

impl fmt::Display for RouteType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// Network address (host bits zero).
    pub prefix: Ipv4Net,
    /// Next hop; on the connected subnet of `port` if given, else of some port.
    pub via: Option<Ipv4Addr>,
    /// Egress port (index into [`super::Config::ports`]) if given in the file.
    pub port: Option<usize>,
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

            let route_type = match r.route_type.as_deref().map(str::trim) {
                None | Some("unicast") => RouteType::Unicast,
                Some("blackhole") => RouteType::Blackhole,
                Some("unreachable") => RouteType::Unreachable,
                Some("prohibit") => RouteType::Prohibit,
                Some(other) => {
                    return Err(self.err(
                        key("type"),
                        format!(
                            "unknown route type {other:?}; expected \"unicast\", \"blackhole\", \
                             \"unreachable\" or \"prohibit\""
                        ),
                    ))
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
