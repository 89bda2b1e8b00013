//! Parsing of `[linux_cp]`, a child of `config` so that it shares its key-naming
//! errors ([`Builder`]).
use super::{Builder, ConfigError, Int};
use crate::datapath::punt::Limit;
use crate::fib::Proto;
use crate::linuxcp::config::{valid_netns_name, LinuxCpConfig, MirrorConfig};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLinuxCp {
    enabled: Option<bool>,
    netns: Option<String>,
    punt_pps: Option<Int>,
    punt_burst: Option<Int>,
    mirror: Option<bool>,
    mirror_tables: Option<Vec<Int>>,
    mirror_protocols: Option<Vec<String>>,
}

impl Builder<'_> {
    pub(super) fn linux_cp(&self, raw: RawLinuxCp) -> Result<LinuxCpConfig, ConfigError> {
        let d = LinuxCpConfig::default();
        let netns = raw.netns.unwrap_or(d.netns);
        valid_netns_name(&netns)
            .map_err(|m| self.err("linux_cp.netns", format!("\"{netns}\": {m}")))?;
        let (pps, burst) = self.rate_burst(
            ("linux_cp.punt_pps", raw.punt_pps, d.punt.pps),
            ("linux_cp.punt_burst", raw.punt_burst, d.punt.burst),
        )?;
        let tables = match raw.mirror_tables {
            None => d.mirror.tables,
            Some(ts) => {
                let mut out = Vec::new();
                for (i, t) in ts.into_iter().enumerate() {
                    let key = format!("linux_cp.mirror_tables[{i}]");
                    out.push(self.int(&key, Some(t), 0u32, 1, u32::MAX.into())?);
                }
                out
            }
        };
        let mut protocols = Vec::new();
        for (i, p) in raw.mirror_protocols.unwrap_or_default().iter().enumerate() {
            let n = Proto::parse_num(p).ok_or_else(|| {
                self.err(
                    format!("linux_cp.mirror_protocols[{i}]"),
                    format!("\"{p}\" is not a route protocol (a name as in `ip route`, e.g. bird, zebra, or 0..=255)"),
                )
            })?;
            protocols.push(n);
        }
        Ok(LinuxCpConfig {
            enabled: raw.enabled.unwrap_or(d.enabled),
            netns,
            punt: Limit { pps, burst },
            mirror: MirrorConfig {
                enabled: raw.mirror.unwrap_or(d.mirror.enabled),
                tables,
                protocols,
            },
        })
    }
}
