//! `ferroute addr add|replace|change|del ADDR/LEN dev PORT`: fills one RTM_NEWADDR or
//! RTM_DELADDR (`api::AddrMsg`); the router's address handler (`rtnl/addr.rs`) judges it
//! and adds the address's routes. `addr show` is `link show` with the addresses
//! (`link.rs`). `addr_line` is an address as `ip monitor` prints it.
//! Sits under `mod.rs`, which hands it the words after `addr`.
use super::parse::parse_ip;
use super::{change, json, usage, verb, CliError, Session, HELP};
use crate::api::*;
use std::fmt::Write as _;

/// ip addr's verbs (ipaddress.c `do_ipaddr`).
const ADDR_VERBS: &[(&str, &str, bool)] = &[
    ("add", "add", false),
    ("change", "change", false),
    ("chg", "change", true),
    ("replace", "replace", false),
    ("delete", "delete", false),
    ("list", "show", false),
    ("show", "show", false),
    ("lst", "show", false),
    ("flush", "flush", false),
    ("save", "save", false),
    ("showdump", "showdump", false),
    ("restore", "restore", false),
    ("help", "help", false),
];

impl Session {
    pub(super) fn addr(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let supported = ["add", "change", "replace", "delete", "show", "help"];
        let (verb, rest) = verb(args, ADDR_VERBS, "address", &supported)?;
        let (kind, flags) = match verb {
            "show" => return self.link_show(rest, true, out),
            "help" => {
                let _ = writeln!(out, "{HELP}");
                return Ok(());
            }
            v => change(v, RTM_NEWADDR, RTM_DELADDR),
        };
        let (a, dev) = match rest {
            [a, "dev", d] | ["dev", d, a] => (*a, *d),
            _ => return Err(usage("usage: ferroute addr add|del ADDR/LEN dev PORT")),
        };
        let (ip, len) = match a.split_once('/') {
            Some((ip, len)) => (
                parse_ip(ip)?,
                len.parse::<u8>()
                    .map_err(|_| usage(format!("invalid prefix length in \"{a}\"")))?,
            ),
            None if kind == RTM_DELADDR => (parse_ip(a)?, 0),
            None => (parse_ip(a)?, 32),
        };
        let body = Body::Addr(AddrMsg {
            ifindex: self.ifindex(dev)?,
            prefix_len: len,
            local: Some(ip),
            label: None,
        });
        Ok(self.conn.change(kind, flags, body)?)
    }

    /// An address as `ip monitor` prints it (none without a local address).
    pub(super) fn addr_line(&mut self, a: &AddrMsg) -> Option<String> {
        let ip = a.local?;
        let dev = self.name(a.ifindex);
        let mut l = format!("{}: {dev}    inet {ip}/{}", a.ifindex, a.prefix_len);
        if let Some(b) = json::addr::broadcast(ip, a.prefix_len) {
            let _ = write!(l, " brd {b}");
        }
        let _ = write!(
            l,
            " scope global {dev}\n       valid_lft forever preferred_lft forever"
        );
        Some(l)
    }
}
