//! `[metrics]`: the Prometheus endpoint.

use std::net::SocketAddr;

use super::{Builder, ConfigError};

/// Default `[metrics] listen`: loopback only, the port is ferroute's own choice.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9417";

settings! {
    /// The Prometheus endpoint.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct MetricsConfig as RawMetrics in "metrics" by metrics {
        /// Where `/metrics` is served; `None` (`listen = ""`) disables the endpoint.
        listen: Option<SocketAddr> = DEFAULT_METRICS_LISTEN.parse().ok()
            => listen_addr(String);
    }
}

impl Builder<'_> {
    fn listen_addr(&self, key: &str, listen: String) -> Result<Option<SocketAddr>, ConfigError> {
        let text = listen.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let addr: SocketAddr = text.parse().map_err(|_| {
            self.err(
                key,
                format!(
                    "{listen:?} is not a socket address (e.g. \"{DEFAULT_METRICS_LISTEN}\", \
                     \"[::1]:9417\"; \"\" disables the endpoint)"
                ),
            )
        })?;
        if addr.port() == 0 {
            return Err(self.err(
                key,
                format!("{listen:?}: port 0 would pick a random port Prometheus cannot know"),
            ));
        }
        Ok(Some(addr))
    }
}
