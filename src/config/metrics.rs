//! `[metrics]`: the Prometheus endpoint.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{Builder, ConfigError};

/// The Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Where `/metrics` is served; `None` (`listen = ""`) disables the endpoint.
    pub listen: Option<SocketAddr>,
}

/// Default `[metrics] listen`: loopback only, the port is ferroute's own choice.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9417";

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: DEFAULT_METRICS_LISTEN.parse().ok(),
        }
    }
}
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: Option<String>,
}

impl Builder<'_> {
    pub(super) fn metrics(&self, raw: RawMetrics) -> Result<MetricsConfig, ConfigError> {
        let Some(listen) = raw.listen else {
            return Ok(MetricsConfig::default());
        };
        let text = listen.trim();
        if text.is_empty() {
            return Ok(MetricsConfig { listen: None });
        }
        let addr: SocketAddr = text.parse().map_err(|_| {
            self.err(
                "metrics.listen",
                format!(
                    "{listen:?} is not a socket address (e.g. \"{DEFAULT_METRICS_LISTEN}\", \
                     \"[::1]:9417\"; \"\" disables the endpoint)"
                ),
            )
        })?;
        if addr.port() == 0 {
            return Err(self.err(
                "metrics.listen",
                format!("{listen:?}: port 0 would pick a random port Prometheus cannot know"),
            ));
        }
        Ok(MetricsConfig { listen: Some(addr) })
    }
}
