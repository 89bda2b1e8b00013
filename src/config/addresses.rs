//! `[[address]]`: further addresses of ports. Whether an address may be added (reserved
//! host, already assigned, overlapping another port's subnet) is the API's to judge
//! (`config::requests`).

use ipnet::Ipv4Net;
use serde::Deserialize;

use super::{parse_net, Builder, ConfigError, PortConfig};

/// A further address of a port (`[[address]]`), with its connected subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressConfig {
    /// Index into [`super::Config::ports`].
    pub port: usize,
    /// Host bits kept (`10.0.3.1/24`).
    pub address: Ipv4Net,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAddress {
    pub(super) port: Option<String>,
    pub(super) address: Option<String>,
}

impl Builder<'_> {
    /// `[[address]]`: further addresses of ports.
    pub(super) fn addresses(
        &self,
        raw: Vec<RawAddress>,
        ports: &[PortConfig],
    ) -> Result<Vec<AddressConfig>, ConfigError> {
        let mut out: Vec<AddressConfig> = Vec::with_capacity(raw.len());
        for (i, a) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("address[{i}].{field}");
            let name = self.required(&key("port"), a.port)?;
            let port = self.port_index(&key("port"), ports, name.trim())?;
            let text = self.required(&key("address"), a.address)?;
            let address = parse_net(&text, 1).map_err(|m| self.err(key("address"), m))?;
            out.push(AddressConfig { port, address });
        }
        Ok(out)
    }

    /// Every (port index, address) pair: the ports' own and `[[address]]`.
    pub(super) fn all_addresses(
        ports: &[PortConfig],
        extra: &[AddressConfig],
    ) -> Vec<(usize, Ipv4Net)> {
        ports
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.address))
            .chain(extra.iter().map(|a| (a.port, a.address)))
            .collect()
    }
}
