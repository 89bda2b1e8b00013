//! `[[route]] nexthops`: the paths of a multipath route (ECMP), as an array of inline
//! tables: `nexthops = [{ via = "10.0.2.2", weight = 2 }, { via = "10.0.3.2", port = "b" }]`.
//! Each next hop has `via` and/or `port` (`dev` is taken for `port`, as ip-route(8) names
//! it) and an optional `weight` (1..=256, default 1).
use super::{parse_addr, Builder, ConfigError, Int, PortConfig};
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
    /// The `nexthops` of `route[i]`, each one's form checked (keys `route[i].nexthops[j].*`);
    /// gateways on link and duplicates are the API's to judge.
    pub(super) fn nexthops(
        &self,
        i: usize,
        raw: Vec<RawNexthop>,
        ports: &[PortConfig],
    ) -> Result<Vec<NexthopConfig>, ConfigError> {
        if raw.is_empty() {
            return Err(self.err(
                format!("route[{i}].nexthops"),
                "a multipath route needs at least one next hop",
            ));
        }
        let mut out: Vec<NexthopConfig> = Vec::with_capacity(raw.len());
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
            if via.is_none() && port.is_none() {
                return Err(self.err(
                    format!("route[{i}].nexthops[{j}]"),
                    "a next hop needs `via` (gateway) or `port` (directly connected)",
                ));
            }
            let weight = self.int(&key("weight"), n.weight, 1u16, 1, 256)?;
            out.push(NexthopConfig { via, port, weight });
        }
        Ok(out)
    }
}
