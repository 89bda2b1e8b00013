//! `[[route]]`: static routes.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Deserialize;

use super::{
    nexthops, parse_addr, parse_net, reserved_host, AddressConfig, Builder, ConfigError, Int,
    NexthopConfig, PortConfig,
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
    /// Checks that `via` can be a neighbour on `port` (or on some port when `None`),
    /// given every (port, address) pair; returns the port whose subnet holds it.
    pub(super) fn check_on_link(
        &self,
        key: &str,
        via: Ipv4Addr,
        ports: &[PortConfig],
        addrs: &[(usize, Ipv4Net)],
        port: Option<usize>,
    ) -> Result<usize, ConfigError> {
        let Some(&(p, net)) = addrs
            .iter()
            .filter(|(q, _)| port.map_or(true, |p| p == *q))
            .filter(|(_, a)| a.contains(&via))
            .max_by_key(|(_, a)| a.prefix_len())
        else {
            return Err(self.err(
                key,
                match port {
                    Some(p) => format!(
                        "{via} is not on the connected network {} of port {:?}",
                        ports[p].address.trunc(),
                        ports[p].name
                    ),
                    None => format!("{via} is not on a connected network"),
                },
            ));
        };
        let port = &ports[p];
        if addrs.iter().any(|(q, a)| *q == p && a.addr() == via) {
            return Err(self.err(
                key,
                format!("{via} is this router's own address on port {:?}", port.name),
            ));
        }
        if let Some(what) = reserved_host(via, &net) {
            return Err(self.err(
                key,
                format!(
                    "{via} is the {what} address of the connected network {} of port {:?}",
                    net.trunc(),
                    port.name
                ),
            ));
        }
        Ok(p)
    }

    pub(super) fn routes(
        &self,
        raw: Vec<RawRoute>,
        ports: &[PortConfig],
        extra: &[AddressConfig],
    ) -> Result<Vec<RouteConfig>, ConfigError> {
        let addrs = Self::all_addresses(ports, extra);
        let mut routes: Vec<RouteConfig> = Vec::with_capacity(raw.len());
        // (prefix, metric) -> index: a full table has ~10^6 routes, so no linear search.
        let mut seen: HashMap<(Ipv4Net, u32), Vec<usize>> = HashMap::with_capacity(raw.len());
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
                    self.nexthops(i, raw, ports, &addrs)?
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
            if let Some(via) = via {
                self.check_on_link(&key("via"), via, ports, &addrs, port)?;
            }

            let metric = self.int(&key("metric"), r.metric, 0, 0, u32::MAX.into())?;
            // Routes sharing a prefix and metric are kept in file order (as `ferroute
            // route append` makes them; the first is used); identical ones are an error.
            // Candidates by (prefix, metric): a full table has ~10^6 routes.
            let mut same = seen.get(&(prefix, metric)).into_iter().flatten().copied();
            if let Some(j) = same.find(|&j| {
                let q = &routes[j];
                q.route_type == route_type
                    && q.via == via
                    && q.port == port
                    && q.nexthops == nexthops
            }) {
                return Err(self.err(
                    key("prefix"),
                    format!("duplicate route {prefix} metric {metric} (same as route[{j}])"),
                ));
            }
            seen.entry((prefix, metric)).or_default().push(i);
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
