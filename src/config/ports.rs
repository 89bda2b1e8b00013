//! `[[port]]`: the DPDK ports.

use serde::Deserialize;

use super::{parse_net, parse_unicast_mac, reserved_host, Builder, ConfigError, Int};
use crate::wire::MacAddr;
use ipnet::Ipv4Net;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Unique, non-empty, no ':' or whitespace.
    pub name: String,
    /// DPDK `--vdev` argument, e.g. `net_tap0,iface=ftap0`.
    pub devargs: String,
    /// The router's address with the connected subnet's prefix length (host bits kept:
    /// `10.0.1.1/24`).
    pub address: Ipv4Net,
    /// IP MTU, 68..=9600.
    pub mtu: u16,
    /// Unicast MAC to set; `None` keeps the PMD's address.
    pub mac: Option<MacAddr>,
    /// Administratively up (default); `false` starts it as `ferroute link set PORT down`.
    pub up: bool,
    /// `pci = "0000:03:00.0"`: a physical NIC (bound to vfio-pci/uio) instead of a vdev;
    /// `devargs` then holds the same address (the DPDK port's name).
    pub pci: Option<String>,
}

impl PortConfig {
    /// The device name: `devargs` up to the first ',' (`"net_tap0"`).
    pub fn dev_name(&self) -> &str {
        dev_name(&self.devargs)
    }
}

pub(super) fn dev_name(devargs: &str) -> &str {
    match devargs.find(',') {
        Some(i) => &devargs[..i],
        None => devargs,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPort {
    pub(super) name: Option<String>,
    pub(super) devargs: Option<String>,
    pub(super) address: Option<String>,
    pub(super) mtu: Option<Int>,
    pub(super) mac: Option<String>,
    pub(super) up: Option<bool>,
    pub(super) pci: Option<String>,
}

impl Builder<'_> {
    pub(super) fn ports(&self, raw: Vec<RawPort>) -> Result<Vec<PortConfig>, ConfigError> {
        if raw.is_empty() {
            return Err(self.err("port", "at least one [[port]] is required"));
        }
        let mut ports: Vec<PortConfig> = Vec::with_capacity(raw.len());
        for (i, p) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("port[{i}].{field}");

            let name = self.required(&key("name"), p.name)?;
            if name.is_empty() {
                return Err(self.err(key("name"), "must not be empty"));
            }
            if name.contains(|c: char| c == ':' || c.is_whitespace() || c.is_control()) {
                return Err(self.err(
                    key("name"),
                    format!("{name:?} must not contain ':', whitespace or control characters"),
                ));
            }
            if ports.iter().any(|q| q.name == name) {
                return Err(self.err(key("name"), format!("duplicate port name {name:?}")));
            }

            let devargs = match (&p.pci, p.devargs) {
                (Some(_), Some(_)) => {
                    return Err(self.err(key("pci"), "set either pci or devargs, not both"))
                }
                (Some(a), None) => crate::dpdk::check_pci_address(a)
                    .map_err(|m| self.err(key("pci"), m))?
                    .to_string(),
                (None, d) => self.required(&key("devargs"), d)?,
            };
            let dev = dev_name(&devargs).trim();
            if dev.is_empty() {
                return Err(self.err(
                    key("devargs"),
                    format!("{devargs:?} has no device name (e.g. \"net_tap0,iface=ftap0\")"),
                ));
            }
            if let Some((j, _)) = ports.iter().enumerate().find(|(_, q)| q.dev_name() == dev) {
                return Err(self.err(
                    key("devargs"),
                    format!("duplicate device name {dev:?} (also used by port[{j}])"),
                ));
            }

            let address_text = self.required(&key("address"), p.address)?;
            let address = parse_net(&address_text, 1).map_err(|m| self.err(key("address"), m))?;
            if let Some(what) = reserved_host(address.addr(), &address) {
                return Err(self.err(
                    key("address"),
                    format!("{address} is the {what} address of its subnet"),
                ));
            }
            let subnet = address.trunc();
            for (j, q) in ports.iter().enumerate() {
                let other = q.address.trunc();
                if subnet.contains(&other.network()) || other.contains(&subnet.network()) {
                    return Err(self.err(
                        key("address"),
                        format!(
                            "subnet {subnet} overlaps {other} of port[{j}] ({:?})",
                            q.name
                        ),
                    ));
                }
            }

            let mtu = self.int(&key("mtu"), p.mtu, 1500, 68, 9600)?;
            let mac = match p.mac {
                Some(m) => Some(parse_unicast_mac(&m).map_err(|e| self.err(key("mac"), e))?),
                None => None,
            };
            ports.push(PortConfig {
                name,
                devargs,
                address,
                mtu,
                mac,
                up: p.up.unwrap_or(true),
                pci: p.pci,
            });
        }
        Ok(ports)
    }

    pub(super) fn port_index(
        &self,
        key: &str,
        ports: &[PortConfig],
        name: &str,
    ) -> Result<usize, ConfigError> {
        ports
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| self.err(key, format!("unknown port {name:?}")))
    }
}
