//! `ferroute status`, `ferroute counters` and `ferroute config dump`: the router's
//! replies printed as they come.
use super::{CliError, Session};
use crate::api::*;

impl Session {
    /// `ferroute status`: one line per port, then the FIB version and readiness.
    pub(super) fn status(&mut self, out: &mut String) -> Result<(), CliError> {
        out.push_str(&self.conn.text(FR_GETSTATUS)?);
        Ok(())
    }

    /// `ferroute counters`: every counter of the running router.
    pub(super) fn counters(&mut self, out: &mut String) -> Result<(), CliError> {
        out.push_str(&self.conn.text(FR_GETCOUNTERS)?);
        Ok(())
    }

    /// `ferroute config dump`: the running configuration as a config file.
    pub(super) fn config_dump(&mut self, out: &mut String) -> Result<(), CliError> {
        out.push_str(&self.conn.text(FR_GETCONFIG)?);
        Ok(())
    }
}
