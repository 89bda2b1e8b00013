//! `ferroute neigh add|replace|change|del ADDR [lladdr MAC] [dev PORT] [nud STATE]`
//! fills one RTM_NEWNEIGH or RTM_DELNEIGH (`api::NeighMsg`; static entries are
//! PERMANENT unless `nud` says otherwise). `neigh show [dev PORT]` prints the
//! RTM_GETNEIGH dump as `ip neigh` prints it, or as JSON (`json/neigh.rs`).
//! `neigh_line` is also what `monitor` prints.
use super::parse::parse_ip;
use super::session::to_json;
use super::{change, json, usage, verb, CliError, Session, HELP};
use crate::api::*;
use crate::wire::MacAddr;
use std::fmt::Write as _;

/// ip neigh's verbs (ipneigh.c `do_ipneigh`).
const NEIGH_VERBS: &[(&str, &str, bool)] = &[
    ("add", "add", false),
    ("change", "change", false),
    ("chg", "change", true),
    ("replace", "replace", false),
    ("delete", "delete", false),
    ("get", "get", false),
    ("list", "show", false),
    ("show", "show", false),
    ("lst", "show", false),
    ("flush", "flush", false),
    ("help", "help", false),
];

impl Session {
    pub(super) fn neigh(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let supported = ["add", "change", "replace", "delete", "show", "help"];
        let (verb, rest) = verb(args, NEIGH_VERBS, "neigh", &supported)?;
        let (kind, flags) = match verb {
            "show" => return self.neigh_show(rest, out),
            "help" => {
                let _ = writeln!(out, "{HELP}");
                return Ok(());
            }
            v => change(v, RTM_NEWNEIGH, RTM_DELNEIGH),
        };
        let mut it = rest.iter().copied();
        let ip = parse_ip(
            it.next()
                .ok_or_else(|| usage("missing neighbour address"))?,
        )?;
        let mut n = NeighMsg {
            dst: Some(ip),
            state: if kind == RTM_NEWNEIGH {
                Nud::Permanent
            } else {
                Nud::None
            },
            ..NeighMsg::default()
        };
        while let Some(w) = it.next() {
            let v = it
                .next()
                .ok_or_else(|| usage(format!("\"{w}\" needs a value")))?;
            match w {
                "lladdr" => {
                    n.lladdr = Some(
                        v.parse::<MacAddr>()
                            .map_err(|e| usage(format!("invalid lladdr \"{v}\": {e}")))?,
                    )
                }
                "dev" => n.ifindex = self.ifindex(v)?,
                "nud" => {
                    // The states a static entry may be given (ip-neighbour(8)).
                    n.state = Nud::from_name(v)
                        .filter(|s| {
                            matches!(s, Nud::Permanent | Nud::Noarp | Nud::Reachable | Nud::Stale)
                        })
                        .ok_or_else(|| usage(format!("invalid nud state \"{v}\"")))?;
                }
                other => return Err(usage(format!("unknown neigh argument \"{other}\""))),
            }
        }
        Ok(self.conn.change(kind, flags, Body::Neigh(n))?)
    }

    /// A neighbour as `ip neigh` prints it.
    pub(super) fn neigh_line(&mut self, n: &NeighMsg) -> String {
        let dev = self.name(n.ifindex);
        let ip = n.dst.map_or_else(String::new, |d| d.to_string());
        let mut s = format!("{ip} dev {dev}");
        if let Some(mac) = n.lladdr {
            let _ = write!(s, " lladdr {mac}");
        }
        let _ = write!(s, " {}", json::neigh::nud_names(n.state).join(" "));
        s
    }

    fn neigh_show(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let mut filter = NeighMsg::default();
        match args {
            [] => {}
            ["dev", d] => filter.ifindex = self.ifindex(d)?,
            _ => return Err(usage("usage: ferroute neigh show [dev PORT]")),
        }
        let msgs = self.conn.dump(RTM_GETNEIGH, Body::Neigh(filter))?;
        let mut rows = Vec::new();
        for m in msgs {
            let Body::Neigh(n) = m.body else { continue };
            if self.json {
                let dev = self.name(n.ifindex);
                rows.push(json::neigh::Neigh::new(&n, dev, self.stats));
            } else {
                let line = self.neigh_line(&n);
                let _ = writeln!(out, "{line}");
            }
        }
        if self.json {
            let _ = writeln!(out, "{}", to_json(&rows));
        }
        Ok(())
    }
}
