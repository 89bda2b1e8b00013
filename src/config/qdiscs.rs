//! `[[qdisc]]`: tbf shapers on ports' egress.

use serde::Deserialize;

use super::{Builder, ConfigError, PortConfig, UnitText};
use crate::datapath::qdisc::{self, Limit, TbfParams};

/// A `[[qdisc]]`: a tbf shaper on a port's egress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QdiscConfig {
    /// Index into [`super::Config::ports`].
    pub port: usize,
    pub tbf: TbfParams,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQdisc {
    pub(super) port: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) rate: Option<UnitText>,
    pub(super) burst: Option<UnitText>,
    pub(super) limit: Option<UnitText>,
    pub(super) latency: Option<UnitText>,
    // tc's peak-rate bucket: known, so that the error can say it is not supported.
    pub(super) peakrate: Option<UnitText>,
    pub(super) mtu: Option<UnitText>,
}

impl Builder<'_> {
    /// `[[qdisc]]` sections: tc's tbf parameters and units (see `datapath::qdisc`).
    pub(super) fn qdiscs(
        &self,
        raw: Vec<RawQdisc>,
        ports: &[PortConfig],
    ) -> Result<Vec<QdiscConfig>, ConfigError> {
        let mut out: Vec<QdiscConfig> = Vec::with_capacity(raw.len());
        for (i, q) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("qdisc[{i}].{field}");
            let name = self.required(&key("port"), q.port)?;
            let port = self.port_index(&key("port"), ports, name.trim())?;
            if let Some(j) = out.iter().position(|o| o.port == port) {
                return Err(self.err(
                    key("port"),
                    format!("port {name:?} already has a qdisc (qdisc[{j}])"),
                ));
            }
            let kind = self.required(&key("kind"), q.kind)?;
            if kind.trim() != "tbf" {
                return Err(self.err(
                    key("kind"),
                    format!("unknown qdisc kind {kind:?}; expected \"tbf\""),
                ));
            }
            for (field, given) in [("peakrate", q.peakrate.is_some()), ("mtu", q.mtu.is_some())] {
                if given {
                    return Err(self.err(
                        key(field),
                        "not supported: ferroute's tbf has no peak-rate bucket (peakrate/mtu)",
                    ));
                }
            }
            let rate = self.required(
                &key("rate"),
                unit_value(self, key("rate"), q.rate, qdisc::parse_rate)?,
            )?;
            let burst = self.required(
                &key("burst"),
                unit_value(self, key("burst"), q.burst, qdisc::parse_size)?,
            )?;
            let limit = unit_value(self, key("limit"), q.limit, qdisc::parse_size)?;
            let latency = unit_value(self, key("latency"), q.latency, qdisc::parse_time_us)?;
            let limit = match (limit, latency) {
                (Some(b), None) => Limit::Bytes(b),
                (None, Some(us)) => Limit::LatencyUs(us),
                (Some(_), Some(_)) => {
                    return Err(self.err(
                        key("latency"),
                        "give `limit` or `latency`, not both (as tc)",
                    ))
                }
                (None, None) => {
                    return Err(self.err(
                        format!("qdisc[{i}]"),
                        "`limit` (bytes that may wait) or `latency` (longest wait) is required",
                    ))
                }
            };
            let max_frame = u32::from(ports[port].mtu) + crate::datapath::ETH_HLEN as u32;
            let tbf = TbfParams::new(rate, burst, limit, max_frame)
                .map_err(|e| self.err(key(e.key), e.message))?;
            out.push(QdiscConfig { port, tbf });
        }
        Ok(out)
    }
}

/// `v` through one of tc's unit parsers (`datapath::qdisc`); its refusal becomes the
/// message of `key`.
fn unit_value<E: Into<String>>(
    b: &Builder<'_>,
    key: String,
    v: Option<UnitText>,
    parse: fn(&str) -> Result<u64, E>,
) -> Result<Option<u64>, ConfigError> {
    v.map(|UnitText(t)| parse(&t).map_err(|m| b.err(key, m)))
        .transpose()
}
