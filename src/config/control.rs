//! `[control]`: the API socket.

use std::path::PathBuf;

use super::{Builder, ConfigError, MAX_SOCKET_PATH};

settings! {
    /// `[control]`: the API socket.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ControlConfig as RawControl in "control" by control {
        /// Path of the Unix socket, at most [`MAX_SOCKET_PATH`] bytes.
        socket: PathBuf = PathBuf::from("/run/ferroute/ferroute.sock")
            => socket_path(String);
    }
}

impl Builder<'_> {
    fn socket_path(&self, key: &str, socket: String) -> Result<PathBuf, ConfigError> {
        if socket.is_empty() {
            return Err(self.err(key, "must not be empty"));
        }
        if socket.len() > MAX_SOCKET_PATH {
            return Err(self.err(
                key,
                format!(
                    "path is {} bytes; Unix socket paths are limited to {MAX_SOCKET_PATH}",
                    socket.len()
                ),
            ));
        }
        Ok(PathBuf::from(socket))
    }
}
