//! `[[neighbor]]`: static neighbours.

use std::net::Ipv4Addr;

use serde::Deserialize;

use super::{parse_addr, parse_unicast_mac, AddressConfig, Builder, ConfigError, PortConfig};
use crate::wire::MacAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborConfig {
    pub address: Ipv4Addr,
    pub mac: MacAddr,
    /// Index into [`super::Config::ports`]; the port whose connected subnet holds `address`.
    pub port: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNeighbor {
    pub(super) address: Option<String>,
    pub(super) mac: Option<String>,
    pub(super) port: Option<String>,
}

impl Builder<'_> {
    pub(super) fn neighbors(
        &self,
        raw: Vec<RawNeighbor>,
        ports: &[PortConfig],
        extra: &[AddressConfig],
    ) -> Result<Vec<NeighborConfig>, ConfigError> {
        let addrs = Self::all_addresses(ports, extra);
        let mut neighbors: Vec<NeighborConfig> = Vec::with_capacity(raw.len());
        for (i, n) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("neighbor[{i}].{field}");
            let address_text = self.required(&key("address"), n.address)?;
            let address = parse_addr(&address_text).map_err(|m| self.err(key("address"), m))?;
            let mac_text = self.required(&key("mac"), n.mac)?;
            let mac = parse_unicast_mac(&mac_text).map_err(|m| self.err(key("mac"), m))?;
            let port = match &n.port {
                Some(name) => self.port_index(&key("port"), ports, name.trim())?,
                // As `ip neigh add` needs `dev`, the request names a port: the one whose
                // subnet holds the address (they do not overlap). Whether it may be a
                // neighbour there is the API's to judge (`config::requests`).
                None => (addrs.iter())
                    .filter(|(_, a)| a.contains(&address))
                    .max_by_key(|(_, a)| a.prefix_len())
                    .map(|&(p, _)| p)
                    .ok_or_else(|| {
                        self.err(
                            key("address"),
                            format!("{address} is not on a connected network"),
                        )
                    })?,
            };
            neighbors.push(NeighborConfig { address, mac, port });
        }
        Ok(neighbors)
    }
}
