//! `ferroute monitor [all|route|neigh|link|addr|qdisc]...`: subscribes the connection to
//! the router's change groups (FR_MONITOR, `RTMGRP_*`) and prints every notification as
//! `ip monitor` does, with each object's own line (`route_line`, `neigh_line`,
//! `addr_line`, `link_text`, `qdisc_line`), `Deleted` before a removal. Runs until
//! stdout closes or the router goes away; not allowed in a batch.
use super::{json, pick, usage, CliError, Session, OBJECTS};
use crate::api::client::ClientError;
use crate::api::*;
use json::route::Table;
use std::io::Write as _;

/// The groups of `ferroute monitor [all|OBJECT...]`.
fn monitor_groups(args: &[&str]) -> Result<u32, CliError> {
    if args.is_empty() {
        return Ok(RTMGRP_ALL);
    }
    let mut g = 0;
    for a in args {
        g |= match *a {
            "all" => RTMGRP_ALL,
            w => match pick(w, OBJECTS) {
                Some("route") => RTMGRP_IPV4_ROUTE,
                Some("neighbour") => RTMGRP_NEIGH,
                Some("link") => RTMGRP_LINK,
                Some("address") => RTMGRP_IPV4_IFADDR,
                Some("qdisc") => RTMGRP_TC,
                _ => {
                    return Err(usage(format!(
                        "usage: ferroute monitor [all|route|neigh|link|addr|qdisc]..., not \"{w}\""
                    )))
                }
            },
        };
    }
    Ok(g)
}

impl Session {
    /// `ferroute monitor [OBJECT...]`: subscribes and prints each change as `ip monitor`
    /// does, until `emit` returns false (stdout gone) or the router goes away.
    pub fn monitor(
        &mut self,
        args: &[&str],
        emit: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), CliError> {
        let groups = monitor_groups(args)?;
        // Port names first: once subscribed, notifications (seq 0) would mix with a dump.
        self.links()?;
        self.conn.change(FR_MONITOR, 0, Body::Groups(groups))?;
        loop {
            let m = match self.conn.recv() {
                Ok(m) => m,
                Err(ClientError::Io(e)) if e.contains("timed out") || e.contains("temporarily") => {
                    continue
                }
                Err(e) => return Err(e.into()),
            };
            let text = match (&m.body, m.kind) {
                (Body::Error { errno, msg, .. }, _) if *errno != 0 => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "ferroute monitor: {msg} ({})",
                        errno::name(*errno)
                    );
                    continue;
                }
                (Body::Route(r), k) => {
                    let line = self.route_line(r, Table::All);
                    deleted(k == RTM_DELROUTE, line)
                }
                (Body::Neigh(n), k) => deleted(k == RTM_DELNEIGH, self.neigh_line(n)),
                (Body::Addr(a), k) => {
                    let Some(line) = self.addr_line(a) else {
                        continue;
                    };
                    deleted(k == RTM_DELADDR, line)
                }
                (Body::Link(l), _) => self.link_text(l, None),
                (Body::Qdisc(q), k) => {
                    let line = self.qdisc_line(q);
                    if k == RTM_DELQDISC {
                        format!("deleted {line}")
                    } else {
                        line
                    }
                }
                _ => continue,
            };
            if !emit(&format!("{text}\n")) {
                return Ok(());
            }
        }
    }
}

/// `Deleted ` before what `ip monitor` reports removed.
pub(super) fn deleted(del: bool, line: String) -> String {
    if del {
        format!("Deleted {line}")
    } else {
        line
    }
}
