//! `[log]`: the log level.

use serde::Deserialize;

use super::{Builder, ConfigError};

/// `[log]`: what the router writes to stderr (the journal under systemd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Records above this level are not written; `--log-level` overrides it.
    pub level: log::LevelFilter,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: log::LevelFilter::Info,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) level: Option<String>,
}

impl Builder<'_> {
    pub(super) fn log(&self, raw: RawLog) -> Result<LogConfig, ConfigError> {
        let Some(level) = raw.level else {
            return Ok(LogConfig::default());
        };
        let level = crate::logging::parse_level(&level).map_err(|e| self.err("log.level", e))?;
        Ok(LogConfig { level })
    }
}
