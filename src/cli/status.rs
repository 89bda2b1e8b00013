//! `ferroute status`, `ferroute counters` and `ferroute config dump`. The config dump
//! comes as text and prints as it comes; status and counters come as attributes
//! (`api::Status`, `api::Counters`) and print as lines users (and scripts) read: the
//! status as `Status::text`, the counters one `GROUP [PORT] NAME VALUE` line each.
use super::{CliError, Session};
use crate::api::*;
use std::fmt::Write as _;

impl Session {
    /// `ferroute status`: one line per port, then the FIB version and readiness.
    pub(super) fn status(&mut self, out: &mut String) -> Result<(), CliError> {
        out.push_str(&self.conn.status()?.text());
        Ok(())
    }

    /// `ferroute counters`: every counter of the running router.
    pub(super) fn counters(&mut self, out: &mut String) -> Result<(), CliError> {
        let c = self.conn.counters()?;
        out.push_str(&counters_text(&c));
        Ok(())
    }

    /// The counters when `-stats` asks for them (none otherwise: no request sent).
    pub(super) fn counters_for_stats(&mut self) -> Result<Counters, CliError> {
        if self.stats {
            Ok(self.conn.counters()?)
        } else {
            Ok(Counters::default())
        }
    }

    /// `ferroute config dump`: the running configuration as a config file.
    pub(super) fn config_dump(&mut self, out: &mut String) -> Result<(), CliError> {
        out.push_str(&self.conn.text(FR_GETCONFIG)?);
        Ok(())
    }
}

/// The `ferroute counters` lines: `drop REASON N`, `port PORT NAME N` and `pmd PORT NAME
/// N` per port, `qdisc PORT NAME N`, `icmp_out KIND N`, `reasm_fail CAUSE N`, the
/// router's `NAME N`, and `linux_cp_NAME N`.
pub fn counters_text(c: &Counters) -> String {
    let mut out = String::new();
    let mut lines = |prefix: &str, list: &[Counter]| {
        for k in list {
            let _ = writeln!(out, "{prefix}{} {}", k.name, k.value);
        }
    };
    lines("drop ", &c.drops);
    for p in &c.ports {
        lines(&format!("port {} ", p.name), &p.datapath);
        lines(&format!("pmd {} ", p.name), &p.pmd);
    }
    for q in &c.qdiscs {
        lines(&format!("qdisc {} ", q.port), &q.counters);
    }
    lines("icmp_out ", &c.icmp_out);
    lines("reasm_fail ", &c.reasm_fail);
    lines("", &c.router);
    lines("linux_cp_", &c.linux_cp);
    out
}
