//! `[[route]] nexthops`: the paths of a multipath route (ECMP), as an array of inline
//! tables: `nexthops = [{ via = "10.0.2.2", weight = 2 }, { via = "10.0.3.2", port = "b" }]`.
//! Each next hop has `via` and/or `port` (`dev` is taken for `port`, as ip-route(8) names
//! it) and an optional `weight` (1..=256, default 1).
use super::{parse_addr, Builder, ConfigError, Int, PortConfig};
use ipnet::Ipv4Net;
use serde::Deserialize;
use std::net::Ipv4Addr;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNexthop {
    via: Option<String>,
    #[serde(alias = "dev")]
    port: Option<String>,
    weight: Option<Int>,
}

/// One path of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NexthopConfig {
    /// On the connected subnet of `port` if given, else of some port.
    pub via: Option<Ipv4Addr>,
    /// Index into [`super::Config::ports`].
    pub port: Option<usize>,
    /// 1..=256.
    pub weight: u16,
}

impl Builder<'_> {
    /// The `nexthops` of `route[i]`, checked one by one (keys `route[i].nexthops[j].*`).
    pub(super) fn nexthops(
        &self,
        i: usize,
        raw: Vec<RawNexthop>,
        ports: &[PortConfig],
        addrs: &[(usize, Ipv4Net)],
    ) -> Result<Vec<NexthopConfig>, ConfigError> {
        if raw.is_empty() {
            return Err(self.err(
                format!("route[{i}].nexthops"),
                "a multipath route needs at least one next hop",
            ));
        }
        let mut out: Vec<NexthopConfig> = Vec::with_capacity(raw.len());
        // (gateway, the port it leaves by) of each next hop so far.
        let mut seen: Vec<(Option<Ipv4Addr>, usize)> = Vec::with_capacity(raw.len());
        for (j, n) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("route[{i}].nexthops[{j}].{field}");
            let port = match &n.port {
                Some(name) => Some(self.port_index(&key("port"), ports, name.trim())?),
                None => None,
            };
            let via = match &n.via {
                Some(v) => Some(parse_addr(v).map_err(|m| self.err(key("via"), m))?),
                None => None,
            };
            let leaves = match (via, port) {
                (Some(via), _) => self.check_on_link(&key("via"), via, ports, addrs, port)?,
                (None, Some(p)) => p,
                (None, None) => {
                    return Err(self.err(
                        format!("route[{i}].nexthops[{j}]"),
                        "a next hop needs `via` (gateway) or `port` (directly connected)",
                    ))
                }
            };
            let weight = self.int(&key("weight"), n.weight, 1u16, 1, 256)?;
            if let Some(k) = seen.iter().position(|&s| s == (via, leaves)) {
                return Err(self.err(
                    format!("route[{i}].nexthops[{j}]"),
                    format!("duplicate next hop (same as nexthops[{k}])"),
                ));
            }
            seen.push((via, leaves));
            out.push(NexthopConfig { via, port, weight });
        }
        Ok(out)
    }
}
