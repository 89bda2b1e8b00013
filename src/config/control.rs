//! `[control]`: the API socket.

use std::path::PathBuf;

use serde::Deserialize;

use super::{Builder, ConfigError, MAX_SOCKET_PATH};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlConfig {
    pub socket: PathBuf,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: PathBuf::from("/run/ferroute/ferroute.sock"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControl {
    pub(super) socket: Option<String>,
}

impl Builder<'_> {
    pub(super) fn control(&self, raw: RawControl) -> Result<ControlConfig, ConfigError> {
        let Some(socket) = raw.socket else {
            return Ok(ControlConfig::default());
        };
        if socket.is_empty() {
            return Err(self.err("control.socket", "must not be empty"));
        }
        if socket.len() > MAX_SOCKET_PATH {
            return Err(self.err(
                "control.socket",
                format!(
                    "path is {} bytes; Unix socket paths are limited to {MAX_SOCKET_PATH}",
                    socket.len()
                ),
            ));
        }
        Ok(ControlConfig {
            socket: PathBuf::from(socket),
        })
    }
}
