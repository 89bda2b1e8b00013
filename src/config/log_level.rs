//! `[log]`: the log level.

use super::{Builder, ConfigError};

settings! {
    /// `[log]`: what the router writes to stderr (the journal under systemd).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct LogConfig as RawLog in "log" by log {
        /// Records above this level are not written; `--log-level` overrides it.
        level: log::LevelFilter = log::LevelFilter::Info => log_level(String);
    }
}

impl Builder<'_> {
    fn log_level(&self, key: &str, level: String) -> Result<log::LevelFilter, ConfigError> {
        crate::logging::parse_level(&level).map_err(|e| self.err(key, e))
    }
}
