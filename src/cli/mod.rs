//! The iproute2-style client (`ferroute route add 10.9.0.0/16 via 10.0.2.2`, `ferroute
//! neigh`, `ferroute addr`, `ferroute link set port1 mtu 1280`, `ferroute qdisc ...`,
//! `ferroute config dump`), one file per object: each fills the API's request for its
//! object and prints the replies as `ip` and `tc` print them, or as JSON with `-j`
//! (`json/`). This file only reads the object and verb of a command line and hands it
//! to its object's file. `-batch FILE` (`batch.rs`) runs many commands over one
//! connection; `capture` and `monitor` stream instead of answering once.
mod addr;
mod batch;
pub mod capture;
pub mod json;
mod link;
mod load;
mod monitor;
mod neigh;
mod parse;
mod qdisc;
mod route;
mod session;
mod status;

use crate::api::client::ClientError;
use crate::api::{ApiError, Change, IfExists};
use std::fmt::Write as _;

pub use batch::batch;
pub use parse::{parse_prefix, parse_rate, parse_size, parse_time_us};
pub use session::Session;
pub use status::counters_text;

/// A failed command: bad arguments, or the router's (or the connection's) error.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments (or an input file that cannot be read): the text to print.
    #[error("{0}")]
    Usage(String),
    /// The connection failed or the router refused the request.
    #[error("{0}")]
    Client(ClientError),
    /// `-batch`: how many of its commands failed (each reported as it failed).
    #[error("{0} command(s) failed")]
    Failed(usize),
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        CliError::Client(e)
    }
}

impl From<ApiError> for CliError {
    fn from(e: ApiError) -> Self {
        CliError::Client(ClientError::Api(e))
    }
}

fn usage(s: impl Into<String>) -> CliError {
    CliError::Usage(s.into())
}

pub const HELP: &str = "\
       ferroute route [show] [table main|local|all] [SELECTOR] | get ADDR
       ferroute route add|del|replace|append|change|prepend [blackhole|unreachable|prohibit]
                      PREFIX [via GW] [dev PORT] [metric N]
                      [nexthop [via GW] [dev PORT] [weight W]]...   (multipath, W 1..256)
       ferroute route flush SELECTOR     SELECTOR: [PREFIX|root P|match P|exact P] [proto P]
                                         [dev PORT] [via GW] [type T] [table T]
       ferroute route load FILE|- [via GW] [dev PORT] [metric N] [batch N]
       ferroute neigh [show [dev PORT]] | add|replace|change|del ADDR [lladdr MAC] [dev PORT]
       ferroute addr [show [dev PORT]] | add|replace|del ADDR/LEN dev PORT
       ferroute link [show [PORT]] | set PORT [mtu N] [up|down]
       ferroute [-stats] qdisc [show [dev PORT]]
       ferroute qdisc add|replace|change|del dev PORT [root] tbf rate RATE burst SIZE
                      latency TIME|limit SIZE
       ferroute config dump
       ferroute -batch FILE [-force]      one command per line over one connection
       ferroute capture PORT[,PORT...]|all [-c N] [-w FILE|-] [--drops] [--dir rx|tx|both]
                        [--proto any|arp|ip|icmp|tcp|udp] [--host ADDR] [-s SNAPLEN]";

/// iproute2's `matches()`: `word` is a nonempty prefix of `full`.
fn matches(word: &str, full: &str) -> bool {
    !word.is_empty() && full.starts_with(word)
}

/// The canonical name of the first entry `word` abbreviates, in the table's order
/// (iproute2 tries its commands in a fixed order, so `a` is `add` and `s` is `show`);
/// entries marked exact (`chg`, tc's `replace`) match only in full.
fn pick(word: &str, table: &[(&str, &'static str, bool)]) -> Option<&'static str> {
    table
        .iter()
        .find(|(pat, _, exact)| {
            if *exact {
                word == *pat
            } else {
                matches(word, pat)
            }
        })
        .map(|(_, canon, _)| *canon)
}

/// `ip`'s objects in `ip`'s order (ip.c `cmds`), then tc's `qdisc` and ferroute's own
/// (whole words only). Objects ferroute lacks resolve to their name, so that `ferroute
/// m` is `maddress` (unsupported) as `ip m` is, not `monitor`.
const OBJECTS: &[(&str, &str, bool)] = &[
    ("config", "config", true),
    ("counters", "counters", true),
    ("status", "status", true),
    ("address", "address", false),
    ("addrlabel", "addrlabel", false),
    ("maddress", "maddress", false),
    ("route", "route", false),
    ("rule", "rule", false),
    ("neighbor", "neighbour", false),
    ("neighbour", "neighbour", false),
    ("ntable", "ntable", false),
    ("ntbl", "ntable", false),
    ("link", "link", false),
    ("l2tp", "l2tp", false),
    ("fou", "fou", false),
    ("ila", "ila", false),
    ("macsec", "macsec", false),
    ("tunnel", "tunnel", false),
    ("tuntap", "tuntap", false),
    ("tap", "tuntap", false),
    ("token", "token", false),
    ("tcpmetrics", "tcpmetrics", false),
    ("tcp_metrics", "tcpmetrics", false),
    ("monitor", "monitor", false),
    ("xfrm", "xfrm", false),
    ("mroute", "mroute", false),
    ("mrule", "mrule", false),
    ("netns", "netns", false),
    ("netconf", "netconf", false),
    ("vrf", "vrf", false),
    ("sr", "sr", false),
    ("nexthop", "nexthop", false),
    ("mptcp", "mptcp", false),
    ("ioam", "ioam", false),
    ("help", "help", false),
    ("qdisc", "qdisc", false),
];

const SUPPORTED: &[&str] = &[
    "address",
    "route",
    "neighbour",
    "link",
    "monitor",
    "qdisc",
    "config",
    "counters",
    "status",
    "help",
];

/// The object a command names (`ro` -> `route`), or the usage error.
pub fn object(word: &str) -> Result<&'static str, CliError> {
    match pick(word, OBJECTS) {
        Some(o) if SUPPORTED.contains(&o) => Ok(o),
        Some(o) => Err(usage(format!(
            "Object \"{o}\" is not supported by ferroute, try \"ferroute help\"."
        ))),
        None => Err(usage(format!(
            "Object \"{word}\" is unknown, try \"ferroute help\"."
        ))),
    }
}

/// Checks the object of a command line before anything is sent.
pub fn check_words(words: &[&str]) -> Result<(), CliError> {
    let w = words.first().ok_or_else(|| usage("no command given"))?;
    object(w).map(|_| ())
}

/// Whether the command is `monitor` (which streams instead of answering once).
pub fn is_monitor(words: &[&str]) -> bool {
    words
        .first()
        .is_some_and(|w| matches!(object(w), Ok("monitor")))
}

/// The message type and flags of a change verb as ip sends them (`api::Change`):
/// `new` for add, replace, append, prepend and change, else `del` (delete).
pub(super) fn change(verb: &str, new: u16, del: u16) -> (u16, u16) {
    let (if_exists, create) = match verb {
        "add" => (IfExists::Refuse, true),
        "replace" => (IfExists::Replace, true),
        "append" => (IfExists::Append, true),
        "prepend" => (IfExists::Prepend, true),
        "change" => (IfExists::Replace, false),
        _ => return (del, 0),
    };
    (new, Change { if_exists, create }.flags())
}

/// The verb of `args` (default `show`) and the rest; an unknown or unsupported verb is
/// a usage error naming the object.
pub(super) fn verb<'a, 'b>(
    args: &'b [&'a str],
    table: &[(&str, &'static str, bool)],
    obj: &str,
    supported: &[&str],
) -> Result<(&'static str, &'b [&'a str]), CliError> {
    let Some((w, rest)) = args.split_first() else {
        return Ok(("show", args));
    };
    match pick(w, table) {
        Some(v) if supported.contains(&v) => Ok((v, rest)),
        Some(v) => Err(usage(format!(
            "\"ferroute {obj} {v}\" is not supported, try \"ferroute help\"."
        ))),
        None => Err(usage(format!(
            "Command \"{w}\" is unknown, try \"ferroute {obj} help\"."
        ))),
    }
}

impl Session {
    /// Runs one command (`words` without the program name); output is appended to `out`.
    pub fn run(&mut self, words: &[&str], out: &mut String) -> Result<(), CliError> {
        let (obj, rest) = words
            .split_first()
            .ok_or_else(|| usage("no command given"))?;
        match object(obj)? {
            "route" => self.route(rest, out),
            "neighbour" => self.neigh(rest, out),
            "address" => self.addr(rest, out),
            "link" => self.link(rest, out),
            "qdisc" => self.qdisc(rest, out),
            "config" => match rest {
                ["dump"] => self.config_dump(out),
                _ => Err(usage("usage: ferroute config dump")),
            },
            "status" => self.status(out),
            "counters" => self.counters(out),
            "help" => {
                let _ = writeln!(out, "{HELP}");
                Ok(())
            }
            "monitor" => Err(usage("monitor runs on its own, not in a batch")),
            other => Err(usage(format!("Object \"{other}\" is not supported"))),
        }
    }
}

#[cfg(test)]
mod tests;
