//! The iproute2-style commands (`ferroute route add 10.9.0.0/16 via 10.0.2.2`, `ferroute
//! neigh`, `ferroute addr`, `ferroute link set port1 mtu 1280`, `ferroute qdisc ...`,
//! `ferroute config dump`): parsed into control API messages, answers printed as
//! `ip` prints them, or as JSON with `-j`. `-batch FILE` runs many over one connection.
pub mod capture;
pub mod json;

use crate::api::client::{ClientError, Conn};
use crate::api::*;
use crate::datapath::qdisc;
use crate::fib::Proto;
use crate::wire::MacAddr;
use json::route::{prefix_text, Table};
use std::fmt::Write as _;
use std::io::{BufRead, Write as _};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Instant;

/// A failed command: bad arguments, or the router's (or the connection's) error.
#[derive(Debug)]
pub enum CliError {
    Usage(String),
    Client(ClientError),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(s) => f.write_str(s),
            CliError::Client(e) => write!(f, "{e}"),
        }
    }
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

/// ip route's verbs in iproute2's order (iproute.c `do_iproute`), plus `load`.
const ROUTE_VERBS: &[(&str, &str, bool)] = &[
    ("add", "add", false),
    ("change", "change", false),
    ("chg", "change", true),
    ("replace", "replace", false),
    ("prepend", "prepend", false),
    ("append", "append", false),
    ("test", "test", false),
    ("delete", "delete", false),
    ("list", "show", false),
    ("show", "show", false),
    ("lst", "show", false),
    ("get", "get", false),
    ("flush", "flush", false),
    ("restore", "restore", false),
    ("showdump", "showdump", false),
    ("save", "save", false),
    ("help", "help", false),
    ("load", "load", true),
];

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

/// ip link's verbs (iplink.c `do_iplink`): `set` is `change`.
const LINK_VERBS: &[(&str, &str, bool)] = &[
    ("add", "add", false),
    ("change", "set", false),
    ("set", "set", false),
    ("replace", "replace", false),
    ("delete", "delete", false),
    ("show", "show", false),
    ("lst", "show", false),
    ("list", "show", false),
    ("xstats", "xstats", false),
    ("afstats", "afstats", false),
    ("property", "property", false),
    ("help", "help", false),
];

/// tc qdisc's verbs (tc_qdisc.c `do_qdisc`): `replace` and `link` whole words only.
const QDISC_VERBS: &[(&str, &str, bool)] = &[
    ("add", "add", false),
    ("change", "change", false),
    ("replace", "replace", true),
    ("link", "link", true),
    ("delete", "delete", false),
    ("list", "show", false),
    ("show", "show", false),
    ("lst", "show", false),
    ("help", "help", false),
];

/// The verb of `args` (default `show`) and the rest; an unknown or unsupported verb is
/// a usage error naming the object.
fn verb<'a, 'b>(
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

/// Which routes a `route show` or `route flush` selects (ip-route(8) SELECTOR).
#[derive(Debug, Clone, Default)]
struct RouteFilter {
    table: Option<Table>,
    /// (kind, prefix): exact (`PREFIX`, `exact P`), root (subnets of P), match (P's
    /// supernets).
    prefix: Option<(&'static str, ipnet::Ipv4Net)>,
    proto: Option<Proto>,
    oif: Option<u32>,
    via: Option<Ipv4Addr>,
    rtype: Option<RouteType>,
    scope: Option<Scope>,
}

impl RouteFilter {
    fn is_empty(&self) -> bool {
        self.prefix.is_none()
            && self.proto.is_none()
            && self.oif.is_none()
            && self.via.is_none()
            && self.rtype.is_none()
            && self.scope.is_none()
            && self.table.is_none()
    }

    fn table(&self) -> Table {
        self.table.unwrap_or(Table::Main)
    }

    fn selects(&self, r: &RouteMsg) -> bool {
        let net = ipnet::Ipv4Net::new(r.dst, r.dst_len).ok();
        let prefix_ok = match (self.prefix, net) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(("root", p)), Some(n)) => p.contains(&n),
            (Some(("match", p)), Some(n)) => n.contains(&p),
            (Some((_, p)), Some(n)) => p == n,
        };
        prefix_ok
            && self.table().shows(r)
            && self.proto.map_or(true, |p| p == r.protocol)
            && self.oif.map_or(true, |o| {
                r.oif == Some(o) || r.multipath.iter().any(|h| h.oif == Some(o))
            })
            && self.via.map_or(true, |g| {
                r.gateway == Some(g) || r.multipath.iter().any(|h| h.gateway == Some(g))
            })
            && self.rtype.map_or(true, |t| t == r.rtype)
            && self.scope.map_or(true, |s| s == r.scope)
    }
}

fn proto_num(v: &str) -> Result<Proto, CliError> {
    Proto::parse_num(v)
        .map(Proto::from_num)
        .ok_or_else(|| usage(format!("invalid protocol \"{v}\"")))
}

/// A route type by name (`unspec` is no type to ask for).
fn rtype_num(v: &str) -> Option<RouteType> {
    RouteType::from_name(v).filter(|t| *t != RouteType::Unspec)
}

/// uid of this process, as `ip route get` reports the asker's.
fn own_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
}

/// A connection plus what commands need to look up (port names).
pub struct Session {
    pub conn: Conn,
    links: Option<Vec<LinkMsg>>,
    pub json: bool,
    /// `-stats` (`tc -s`): show counters with the objects (qdiscs).
    pub stats: bool,
}

impl Session {
    pub fn new(conn: Conn, json: bool) -> Session {
        Session {
            conn,
            links: None,
            json,
            stats: false,
        }
    }

    fn links(&mut self) -> Result<&[LinkMsg], CliError> {
        if self.links.is_none() {
            let v = self
                .conn
                .dump(RTM_GETLINK, Body::Link(LinkMsg::default()))?
                .into_iter()
                .filter_map(|m| match m.body {
                    Body::Link(l) => Some(l),
                    _ => None,
                })
                .collect();
            self.links = Some(v);
        }
        Ok(self.links.as_deref().unwrap_or(&[]))
    }

    fn ifindex(&mut self, name: &str) -> Result<u32, CliError> {
        self.links()?
            .iter()
            .find(|l| l.name.as_deref() == Some(name))
            .map(|l| l.ifindex)
            .ok_or_else(|| usage(format!("Cannot find device \"{name}\"")))
    }

    fn name(&mut self, ifindex: u32) -> String {
        self.links()
            .ok()
            .and_then(|ls| ls.iter().find(|l| l.ifindex == ifindex))
            .and_then(|l| l.name.clone())
            .unwrap_or_else(|| format!("if{ifindex}"))
    }

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
                ["dump"] => {
                    out.push_str(&self.conn.text(FR_GETCONFIG)?);
                    Ok(())
                }
                _ => Err(usage("usage: ferroute config dump")),
            },
            "status" => {
                out.push_str(&self.conn.text(FR_GETSTATUS)?);
                Ok(())
            }
            "counters" => {
                out.push_str(&self.conn.text(FR_GETCOUNTERS)?);
                Ok(())
            }
            "help" => {
                let _ = writeln!(out, "{HELP}");
                Ok(())
            }
            "monitor" => Err(usage("monitor runs on its own, not in a batch")),
            other => Err(usage(format!("Object \"{other}\" is not supported"))),
        }
    }

    // --- monitor ----------------------------------------------------------------------

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
                    let Some(ip) = a.local else { continue };
                    let dev = self.name(a.ifindex);
                    let mut l = format!("{}: {dev}    inet {ip}/{}", a.ifindex, a.prefix_len);
                    if let Some(b) = json::addr::broadcast(ip, a.prefix_len) {
                        let _ = write!(l, " brd {b}");
                    }
                    let _ = write!(
                        l,
                        " scope global {dev}\n       valid_lft forever preferred_lft forever"
                    );
                    deleted(k == RTM_DELADDR, l)
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

    // --- route ------------------------------------------------------------------------

    fn route(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let supported = [
            "add", "change", "replace", "prepend", "append", "delete", "show", "get", "flush",
            "load", "help",
        ];
        let (verb, rest) = verb(args, ROUTE_VERBS, "route", &supported)?;
        let flags = match verb {
            "show" => return self.route_show(rest, out),
            "get" => return self.route_get(rest, out),
            "load" => return self.route_load(rest, out),
            "flush" => return self.route_flush(rest, out),
            "help" => {
                let _ = writeln!(out, "{HELP}");
                return Ok(());
            }
            "add" => NLM_F_CREATE | NLM_F_EXCL,
            "replace" => NLM_F_CREATE | NLM_F_REPLACE,
            "append" => NLM_F_CREATE | NLM_F_APPEND,
            "prepend" => NLM_F_CREATE,
            "change" => NLM_F_REPLACE,
            _ => {
                let r = self.parse_route(rest, true)?;
                return Ok(self.conn.change(RTM_DELROUTE, 0, Body::Route(r))?);
            }
        };
        let r = self.parse_route(rest, false)?;
        Ok(self.conn.change(RTM_NEWROUTE, flags, Body::Route(r))?)
    }

    /// `[TYPE] PREFIX [via GW] [dev PORT] [metric N] [nexthop NH]...`; for a delete, the
    /// type and metric only when given (a delete matches what is given). As in ip-route(8),
    /// `nexthop` starts the multipath next hops (`via GW [dev PORT] [weight W]` each), which
    /// take the rest of the line.
    fn parse_route(&mut self, args: &[&str], del: bool) -> Result<RouteMsg, CliError> {
        let mut it = args.iter().copied().peekable();
        let rtype = match it.peek().copied() {
            Some("unicast") => Some(RouteType::Unicast),
            Some("blackhole") => Some(RouteType::Blackhole),
            Some("unreachable") => Some(RouteType::Unreachable),
            Some("prohibit") => Some(RouteType::Prohibit),
            _ => None,
        };
        if rtype.is_some() {
            it.next();
        }
        let p = it.next().ok_or_else(|| usage("missing prefix"))?;
        let (dst, len) = parse_prefix(p)?;
        let mut r = RouteMsg::new(dst, len);
        r.rtype = rtype.unwrap_or(if del {
            RouteType::Unspec
        } else {
            RouteType::Unicast
        });
        if del {
            r.protocol = Proto::Other(0);
        }
        while let Some(w) = it.next() {
            let mut val = || {
                it.next()
                    .ok_or_else(|| usage(format!("\"{w}\" needs a value")))
            };
            match w {
                "via" => r.gateway = Some(parse_ip(val()?)?),
                "dev" | "oif" => {
                    let name = val()?;
                    r.oif = Some(self.ifindex(name)?);
                }
                "metric" | "priority" | "preference" => {
                    let v = val()?;
                    r.metric = Some(
                        v.parse()
                            .map_err(|_| usage(format!("invalid metric \"{v}\"")))?,
                    );
                }
                "proto" | "protocol" => r.protocol = proto_num(val()?)?,
                "nexthop" => {
                    let rest: Vec<&str> = it.by_ref().collect();
                    r.multipath = self.parse_nexthops(&rest)?;
                }
                other => return Err(usage(format!("unknown route argument \"{other}\""))),
            }
        }
        Ok(r)
    }

    /// The words after the first `nexthop`: `via GW [dev PORT] [weight W]` per next hop,
    /// separated by `nexthop`.
    fn parse_nexthops(&mut self, args: &[&str]) -> Result<Vec<RtNexthop>, CliError> {
        let mut hops = Vec::new();
        for words in args.split(|w| *w == "nexthop") {
            let mut h = RtNexthop {
                gateway: None,
                oif: None,
                weight: 1,
            };
            let mut it = words.iter().copied();
            while let Some(w) = it.next() {
                let v = it
                    .next()
                    .ok_or_else(|| usage(format!("nexthop: \"{w}\" needs a value")))?;
                match w {
                    "via" => h.gateway = Some(parse_ip(v)?),
                    "dev" | "oif" => h.oif = Some(self.ifindex(v)?),
                    "weight" => {
                        h.weight = v
                            .parse()
                            .ok()
                            .filter(|w| (1..=256).contains(w))
                            .ok_or_else(|| {
                                usage(format!("invalid weight \"{v}\": expected 1..=256"))
                            })?
                    }
                    other => return Err(usage(format!("unknown nexthop argument \"{other}\""))),
                }
            }
            if h.gateway.is_none() && h.oif.is_none() {
                return Err(usage("nexthop needs \"via GW\" or \"dev PORT\""));
            }
            hops.push(h);
        }
        Ok(hops)
    }

    /// ip-route(8)'s SELECTOR words.
    fn parse_filter(&mut self, args: &[&str]) -> Result<RouteFilter, CliError> {
        let mut f = RouteFilter::default();
        let mut it = args.iter().copied();
        while let Some(w) = it.next() {
            let mut val = || {
                it.next()
                    .ok_or_else(|| usage(format!("\"{w}\" needs a value")))
            };
            let mut prefix = |kind: &'static str, p: &str| -> Result<(), CliError> {
                let (dst, len) = parse_prefix(p)?;
                let net = ipnet::Ipv4Net::new(dst, len)
                    .map_err(|_| usage(format!("invalid prefix \"{p}\"")))?;
                f.prefix = Some((kind, net));
                Ok(())
            };
            match w {
                "table" | "tab" => {
                    let v = val()?;
                    f.table = Some(
                        Table::parse(v)
                            .ok_or_else(|| usage(format!("table \"{v}\": main, local or all")))?,
                    );
                }
                "proto" | "protocol" => f.proto = Some(proto_num(val()?)?),
                "dev" | "oif" => {
                    let d = val()?;
                    f.oif = Some(self.ifindex(d)?);
                }
                "via" => f.via = Some(parse_ip(val()?)?),
                "type" => {
                    let v = val()?;
                    f.rtype =
                        Some(rtype_num(v).ok_or_else(|| usage(format!("invalid type \"{v}\"")))?);
                }
                "scope" => {
                    let v = val()?;
                    f.scope = Some(match v {
                        "universe" => Scope::Universe,
                        v => Scope::from_name(v)
                            .ok_or_else(|| usage(format!("invalid scope \"{v}\"")))?,
                    });
                }
                "root" => prefix("root", val()?)?,
                "match" => prefix("match", val()?)?,
                "exact" | "to" => prefix("exact", val()?)?,
                p => {
                    if let Some(t) = rtype_num(p) {
                        f.rtype = Some(t);
                    } else {
                        prefix("exact", p)?
                    }
                }
            }
        }
        Ok(f)
    }

    /// The routes `f` selects, in the router's order.
    fn routes(&mut self, f: &RouteFilter) -> Result<Vec<RouteMsg>, CliError> {
        // One prefix exactly: only its routes come over the socket.
        let dump_filter = match f.prefix {
            Some(("exact", p)) => RouteMsg::new(p.network(), p.prefix_len()),
            _ => RouteMsg::new(Ipv4Addr::UNSPECIFIED, 0),
        };
        let mut routes: Vec<RouteMsg> = self
            .conn
            .dump(RTM_GETROUTE, Body::Route(dump_filter))?
            .into_iter()
            .filter_map(|m| match m.body {
                Body::Route(r) => Some(r),
                _ => None,
            })
            .collect();
        routes.retain(|r| f.selects(r));
        Ok(routes)
    }

    fn route_show(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let f = self.parse_filter(args)?;
        let routes = self.routes(&f)?;
        let table = f.table();
        if self.json {
            let v: Vec<json::route::Route> = routes
                .iter()
                .map(|r| {
                    let dev = r.oif.map(|o| self.name(o));
                    let mut j = json::route::Route::listed(r, table, dev);
                    if !r.multipath.is_empty() {
                        let hops = r.multipath.iter().map(|h| {
                            let dev = h.oif.map(|o| self.name(o));
                            json::route::Nexthop::of(h, dev)
                        });
                        j.nexthops = Some(hops.collect());
                    }
                    j
                })
                .collect();
            let _ = writeln!(out, "{}", to_json(&v));
        } else {
            for r in &routes {
                let line = self.route_line(r, table);
                let _ = writeln!(out, "{line}");
            }
        }
        Ok(())
    }

    /// `route flush SELECTOR`: deletes what `route show SELECTOR` lists, in atomic
    /// batches (one FIB version each). As ip, a selector is required.
    fn route_flush(&mut self, args: &[&str], _out: &mut String) -> Result<(), CliError> {
        let f = self.parse_filter(args)?;
        if f.is_empty() {
            return Err(usage("\"ip route flush\" requires arguments."));
        }
        let routes = self.routes(&f)?;
        for chunk in routes.chunks(10_000) {
            let mut buf = Vec::new();
            self.conn.queue(&mut buf, FR_BATCH_BEGIN, 0, Body::Empty);
            for r in chunk {
                let mut d = r.clone();
                d.prefsrc = None;
                self.conn.queue(&mut buf, RTM_DELROUTE, 0, Body::Route(d));
            }
            let seq = self
                .conn
                .queue(&mut buf, FR_BATCH_END, NLM_F_ACK, Body::Empty);
            self.conn.write_raw(&buf)?;
            self.conn.wait_ack(seq)?;
        }
        Ok(())
    }

    fn route_get(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let [a] = args else {
            return Err(usage("usage: ferroute route get ADDR"));
        };
        let ip = parse_ip(a.trim_end_matches("/32"))?;
        let m = self
            .conn
            .get(RTM_GETROUTE, Body::Route(RouteMsg::new(ip, 32)))?;
        let Body::Route(r) = m.body else {
            return Err(usage("unexpected reply"));
        };
        if self.json {
            let dev = r.oif.map(|o| self.name(o));
            let j = json::route::Route::got(&r, dev, own_uid());
            let _ = writeln!(out, "{}", to_json(&[j]));
        } else {
            let line = self.route_line(&r, Table::Main);
            let _ = writeln!(out, "{line}");
        }
        Ok(())
    }

    /// A route as `ip route` prints it; `table local` when a listing of all tables
    /// shows a local-table route.
    fn route_line(&mut self, r: &RouteMsg, table: Table) -> String {
        let dst = prefix_text(r.dst, r.dst_len);
        let mut s = match r.rtype {
            RouteType::Local => format!("local {dst}"),
            RouteType::Broadcast => format!("broadcast {dst}"),
            RouteType::Blackhole => format!("blackhole {dst}"),
            RouteType::Unreachable => format!("unreachable {dst}"),
            RouteType::Prohibit => format!("prohibit {dst}"),
            _ => dst,
        };
        if let Some(g) = r.gateway {
            let _ = write!(s, " via {g}");
        }
        if let Some(o) = r.oif {
            let _ = write!(s, " dev {}", self.name(o));
        }
        if table == Table::All && Table::of(r) == Table::Local {
            s.push_str(" table local");
        }
        if let Some(name) = json::route::proto_name(r.protocol) {
            let _ = write!(s, " proto {name}");
        }
        match r.scope {
            Scope::Link => s.push_str(" scope link"),
            Scope::Host => s.push_str(" scope host"),
            _ => {}
        }
        if let Some(src) = r.prefsrc {
            let _ = write!(s, " src {src}");
        }
        if let Some(m) = r.metric.filter(|m| *m != 0) {
            let _ = write!(s, " metric {m}");
        }
        // Multipath: one indented line per next hop, as ip prints them.
        for h in &r.multipath {
            s.push_str("\n\tnexthop");
            if let Some(g) = h.gateway {
                let _ = write!(s, " via {g}");
            }
            if let Some(o) = h.oif {
                let _ = write!(s, " dev {}", self.name(o));
            }
            let _ = write!(s, " weight {}", h.weight);
        }
        s
    }

    /// Streams a table file (`PREFIX [NEXTHOP]` per line; blank lines and `#` comments
    /// skipped) through the API in atomic batches, several in flight.
    fn route_load(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let (file, rest) = args.split_first().ok_or_else(|| {
            usage("usage: ferroute route load FILE|- [via GW] [dev PORT] [metric N] [batch N]")
        })?;
        let mut via = None;
        let mut oif = None;
        let mut metric = None;
        let mut batch = 2000usize;
        let mut it = rest.iter().copied();
        while let Some(w) = it.next() {
            let v = it
                .next()
                .ok_or_else(|| usage(format!("\"{w}\" needs a value")))?;
            match w {
                "via" => via = Some(parse_ip(v)?),
                "dev" => oif = Some(self.ifindex(v)?),
                "metric" => {
                    metric = Some(
                        v.parse()
                            .map_err(|_| usage(format!("invalid metric \"{v}\"")))?,
                    )
                }
                "batch" => {
                    batch = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=crate::rtnl::server::MAX_BATCH).contains(n))
                        .ok_or_else(|| usage(format!("invalid batch size \"{v}\"")))?
                }
                other => return Err(usage(format!("unknown argument \"{other}\""))),
            }
        }
        let reader: Box<dyn BufRead> = if *file == "-" {
            Box::new(std::io::BufReader::new(std::io::stdin()))
        } else {
            Box::new(std::io::BufReader::new(
                std::fs::File::open(file).map_err(|e| usage(format!("cannot open {file}: {e}")))?,
            ))
        };
        let stats = load(&mut self.conn, reader, file, via, oif, metric, batch)?;
        let secs = stats.1.max(1e-9);
        let _ = writeln!(
            out,
            "loaded {} routes in {:.2} s ({:.0} routes/s)",
            stats.0,
            secs,
            stats.0 as f64 / secs
        );
        Ok(())
    }

    // --- neigh ------------------------------------------------------------------------

    fn neigh(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let supported = ["add", "change", "replace", "delete", "show", "help"];
        let (verb, rest) = verb(args, NEIGH_VERBS, "neigh", &supported)?;
        let (kind, flags) = match verb {
            "show" => return self.neigh_show(rest, out),
            "help" => {
                let _ = writeln!(out, "{HELP}");
                return Ok(());
            }
            "add" => (RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL),
            "replace" => (RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE),
            "change" => (RTM_NEWNEIGH, NLM_F_REPLACE),
            _ => (RTM_DELNEIGH, 0),
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
    fn neigh_line(&mut self, n: &NeighMsg) -> String {
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

    // --- addr / link ------------------------------------------------------------------

    fn addr(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let supported = ["add", "change", "replace", "delete", "show", "help"];
        let (verb, rest) = verb(args, ADDR_VERBS, "address", &supported)?;
        let (kind, flags) = match verb {
            "show" => return self.link_show(rest, true, out),
            "help" => {
                let _ = writeln!(out, "{HELP}");
                return Ok(());
            }
            "add" => (RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL),
            "replace" => (RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE),
            "change" => (RTM_NEWADDR, NLM_F_REPLACE),
            _ => (RTM_DELADDR, 0),
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

    fn link(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let (verb, rest) = verb(args, LINK_VERBS, "link", &["set", "show", "help"])?;
        match verb {
            "show" => self.link_show(rest, false, out),
            "help" => {
                let _ = writeln!(out, "{HELP}");
                Ok(())
            }
            _ => {
                let rest = rest.strip_prefix(&["dev"]).unwrap_or(rest);
                let (name, opts) = rest
                    .split_first()
                    .ok_or_else(|| usage("usage: ferroute link set PORT [mtu N] [up|down]"))?;
                let mut l = LinkMsg {
                    ifindex: self.ifindex(name)?,
                    ..LinkMsg::default()
                };
                let mut it = opts.iter().copied();
                while let Some(w) = it.next() {
                    match w {
                        "up" => {
                            l.flags |= IFF_UP;
                            l.change |= IFF_UP;
                        }
                        "down" => {
                            l.flags &= !IFF_UP;
                            l.change |= IFF_UP;
                        }
                        "mtu" => {
                            let v = it.next().ok_or_else(|| usage("\"mtu\" needs a value"))?;
                            l.mtu = Some(
                                v.parse()
                                    .map_err(|_| usage(format!("invalid mtu \"{v}\"")))?,
                            );
                        }
                        other => return Err(usage(format!("unknown link argument \"{other}\""))),
                    }
                }
                if l.change == 0 && l.mtu.is_none() {
                    return Err(usage("nothing to set: give mtu N, up or down"));
                }
                self.conn.change(RTM_NEWLINK, 0, Body::Link(l))?;
                self.links = None;
                Ok(())
            }
        }
    }

    /// A link's lines as `ip link` prints them (today's text: index, name, flags, mtu,
    /// state, link/ether), with `-s` the RX and TX counters.
    fn link_text(&mut self, l: &LinkMsg, stats: Option<&json::link::Stats64>) -> String {
        let j = json::link::Link::new(l, None, false);
        let mut s = format!(
            "{}: {}: <{}> mtu {} state {}\n    link/ether {} brd ff:ff:ff:ff:ff:ff",
            j.ifindex,
            j.ifname,
            j.flags.join(","),
            j.mtu,
            j.operstate,
            j.address
        );
        if let Some(st) = stats {
            let (r, t) = (&st.rx, &st.tx);
            let _ = write!(
                s,
                "\n    RX:  bytes packets errors dropped  missed   mcast\n {:>13} {:>7} {:>6} {:>7} {:>7} {:>7}\n    TX:  bytes packets errors dropped carrier collsns\n {:>13} {:>7} {:>6} {:>7} {:>7} {:>7}",
                r.bytes, r.packets, r.errors, r.dropped, r.over_errors, r.multicast,
                t.bytes, t.packets, t.errors, t.dropped, t.carrier_errors, t.collisions
            );
        }
        s
    }

    fn link_show(&mut self, args: &[&str], addrs: bool, out: &mut String) -> Result<(), CliError> {
        let only = match args {
            [] => None,
            [d] | ["dev", d] => Some(self.ifindex(d)?),
            _ => return Err(usage("usage: ferroute link|addr show [dev PORT]")),
        };
        self.links = None;
        let links: Vec<LinkMsg> = self.links()?.to_vec();
        let addr_msgs = if addrs {
            self.conn.dump(
                RTM_GETADDR,
                Body::Addr(AddrMsg {
                    ifindex: 0,
                    prefix_len: 0,
                    local: None,
                    label: None,
                }),
            )?
        } else {
            Vec::new()
        };
        // The root qdisc of each port (`qdisc noqueue` without one, as Linux shows).
        let qdiscs: Vec<QdiscMsg> = if self.json {
            self.conn
                .dump(RTM_GETQDISC, Body::Qdisc(QdiscMsg::default()))?
                .into_iter()
                .filter_map(|m| match m.body {
                    Body::Qdisc(q) => Some(q),
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        let counters = if self.stats {
            self.conn.text(FR_GETCOUNTERS)?
        } else {
            String::new()
        };
        let mut rows = Vec::new();
        for l in links
            .iter()
            .filter(|l| only.map_or(true, |i| i == l.ifindex))
        {
            let name = l.name.clone().unwrap_or_default();
            let stats = self
                .stats
                .then(|| json::link::Stats64::from_counters(&counters, &name));
            let mine: Vec<&AddrMsg> = addr_msgs
                .iter()
                .filter_map(|m| match &m.body {
                    Body::Addr(a) if a.ifindex == l.ifindex => Some(a),
                    _ => None,
                })
                .collect();
            if self.json {
                let kind = qdiscs
                    .iter()
                    .find(|q| q.ifindex == l.ifindex)
                    .and_then(|q| q.kind.as_deref());
                let mut j = json::link::Link::new(l, kind, addrs);
                j.stats64 = stats;
                if addrs {
                    j.addr_info = Some(json::addr::AddrInfo::of_port(&mine, &name));
                }
                rows.push(j);
            } else {
                let text = self.link_text(l, stats.as_ref());
                let _ = writeln!(out, "{text}");
                for i in json::addr::AddrInfo::of_port(&mine, &name) {
                    let _ = write!(out, "    inet {}/{}", i.local, i.prefixlen);
                    if let Some(b) = &i.broadcast {
                        let _ = write!(out, " brd {b}");
                    }
                    let sec = if i.secondary { " secondary" } else { "" };
                    let _ = writeln!(out, " scope global{sec} {}", i.label);
                }
            }
        }
        if self.json {
            let _ = writeln!(out, "{}", to_json(&rows));
        }
        Ok(())
    }

    // --- qdisc ------------------------------------------------------------------------

    fn qdisc(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let supported = ["add", "change", "replace", "delete", "show", "help"];
        let (verb, rest) = verb(args, QDISC_VERBS, "qdisc", &supported)?;
        let (kind, flags) = match verb {
            "show" => return self.qdisc_show(rest, out),
            "help" => {
                let _ = writeln!(out, "{HELP}");
                return Ok(());
            }
            "add" => (RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL),
            "replace" => (RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE),
            "change" => (RTM_NEWQDISC, NLM_F_REPLACE),
            _ => (RTM_DELQDISC, 0),
        };
        let mut q = QdiscMsg {
            parent: TC_H_ROOT,
            ..QdiscMsg::default()
        };
        let (mut rate, mut burst, mut latency, mut limit) = (None, None, None, None);
        let mut it = rest.iter().copied();
        while let Some(w) = it.next() {
            let mut val = || {
                it.next()
                    .ok_or_else(|| usage(format!("\"{w}\" needs a value")))
            };
            match w {
                "dev" => q.ifindex = self.ifindex(val()?)?,
                "root" => {}
                "tbf" => q.kind = Some("tbf".into()),
                "rate" => rate = Some(parse_rate(val()?)?),
                "burst" | "buffer" | "maxburst" => burst = Some(parse_size(val()?)?),
                "latency" | "lat" => latency = Some(parse_time_us(val()?)?),
                "limit" => limit = Some(parse_size(val()?)?),
                other => return Err(usage(format!("unknown qdisc argument \"{other}\""))),
            }
        }
        if q.ifindex == 0 {
            return Err(usage("qdisc needs dev PORT"));
        }
        if kind == RTM_NEWQDISC {
            match (rate, burst, latency, limit) {
                (Some(rate), Some(burst), Some(latency_us), None) => {
                    q.tbf = Some(TbfSpec {
                        rate,
                        burst,
                        latency_us,
                        limit: 0,
                    })
                }
                (Some(rate), Some(burst), None, Some(limit)) => {
                    q.tbf = Some(TbfSpec {
                        rate,
                        burst,
                        latency_us: 0,
                        limit,
                    })
                }
                (_, _, Some(_), Some(_)) => {
                    return Err(usage("tbf takes latency or limit, not both (as tc)"))
                }
                _ if q.kind.is_none() => return Err(usage(
                    "usage: ferroute qdisc add dev PORT root tbf rate RATE burst SIZE latency TIME",
                )),
                _ => return Err(usage("tbf needs rate, burst, and latency or limit")),
            }
        }
        Ok(self.conn.change(kind, flags, Body::Qdisc(q))?)
    }

    /// A tbf qdisc as `tc qdisc` prints it (today's text).
    fn qdisc_line(&mut self, q: &QdiscMsg) -> String {
        let dev = self.name(q.ifindex);
        let kind = q.kind.clone().unwrap_or_default();
        let Some(t) = q.tbf else {
            return format!("qdisc {kind} {:x}: dev {dev} root", q.handle >> 16);
        };
        let mut s = format!(
            "qdisc {kind} {:x}: dev {dev} root rate {} burst {} limit {}",
            q.handle >> 16,
            rate_text(t.rate),
            size_text(t.burst),
            size_text(t.limit)
        );
        if t.latency_us != 0 {
            let _ = write!(s, " lat {}", time_text(t.latency_us));
        }
        s
    }

    fn qdisc_show(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let mut filter = QdiscMsg::default();
        match args {
            [] => {}
            ["dev", d] => filter.ifindex = self.ifindex(d)?,
            _ => return Err(usage("usage: ferroute qdisc show [dev PORT]")),
        }
        let one_dev = filter.ifindex != 0;
        let msgs = self.conn.dump(RTM_GETQDISC, Body::Qdisc(filter.clone()))?;
        let qdiscs: Vec<QdiscMsg> = msgs
            .into_iter()
            .filter_map(|m| match m.body {
                Body::Qdisc(q) => Some(q),
                _ => None,
            })
            .collect();
        // `-stats`: the qdisc lines of the counters text ("qdisc port1 sent_bytes 5").
        let stats = if self.stats {
            self.conn.text(FR_GETCOUNTERS)?
        } else {
            String::new()
        };
        let stat = |dev: &str, key: &str| -> u64 {
            stats
                .lines()
                .find_map(|l| {
                    let mut w = l.split_whitespace();
                    (w.next() == Some("qdisc") && w.next() == Some(dev) && w.next() == Some(key))
                        .then(|| w.next().and_then(|v| v.parse().ok()))
                        .flatten()
                })
                .unwrap_or(0)
        };
        if self.json {
            // Every port, as tc lists every device: its tbf, or noqueue.
            let links: Vec<LinkMsg> = self.links()?.to_vec();
            let mut rows = Vec::new();
            for l in links
                .iter()
                .filter(|l| !one_dev || l.ifindex == filter.ifindex)
            {
                let dev = l.name.clone().unwrap_or_default();
                let q = qdiscs.iter().find(|q| q.ifindex == l.ifindex);
                let mut j = json::qdisc::Qdisc::new(q, (!one_dev).then(|| dev.clone()));
                if self.stats {
                    j.stats = Some(json::qdisc::QdiscStats {
                        bytes: stat(&dev, "sent_bytes"),
                        packets: stat(&dev, "sent_packets"),
                        drops: stat(&dev, "dropped"),
                        overlimits: 0,
                        requeues: 0,
                        backlog: stat(&dev, "backlog_bytes"),
                        qlen: stat(&dev, "backlog_packets"),
                    });
                }
                rows.push(j);
            }
            let _ = writeln!(out, "{}", to_json(&rows));
            return Ok(());
        }
        for q in &qdiscs {
            if q.tbf.is_none() {
                continue;
            }
            let dev = self.name(q.ifindex);
            let line = self.qdisc_line(q);
            let _ = writeln!(out, "{line}");
            if self.stats {
                let keys = [
                    "sent_bytes",
                    "sent_packets",
                    "dropped",
                    "backlog_bytes",
                    "backlog_packets",
                    "tokens_bytes",
                ];
                let [sent, pkts, dropped, backlog, qlen, tokens] = keys.map(|k| stat(&dev, k));
                // tc -s qdisc's lines, plus the bucket's tokens.
                let _ = writeln!(
                    out,
                    " Sent {sent} bytes {pkts} pkt (dropped {dropped})\n backlog {backlog}b {qlen}p tokens {tokens}b"
                );
            }
        }
        Ok(())
    }
}

/// `Deleted ` before what `ip monitor` reports removed.
fn deleted(del: bool, line: String) -> String {
    if del {
        format!("Deleted {line}")
    } else {
        line
    }
}

/// A list of objects as one line of JSON (serializing these structs cannot fail).
fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// Sends routes from `reader` in atomic batches of `batch`, keeping a few batches in
/// flight; returns (routes, seconds).
fn load(
    conn: &mut Conn,
    reader: Box<dyn BufRead>,
    file: &str,
    via: Option<Ipv4Addr>,
    oif: Option<u32>,
    metric: Option<u32>,
    batch: usize,
) -> Result<(usize, f64), CliError> {
    const IN_FLIGHT: usize = 16;
    let t = Instant::now();
    let mut total = 0usize;
    let mut in_batch = 0usize;
    let mut buf = Vec::new();
    let mut ends: std::collections::VecDeque<(u32, usize)> = Default::default();
    let flags = NLM_F_CREATE | NLM_F_REPLACE;
    let mut begin_line = 1;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| usage(format!("{file}: {e}")))?;
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let bad = |what: &str| usage(format!("{file}:{}: {what}: {line:?}", n + 1));
        let (dst, len) = parse_prefix(words.next().unwrap_or("")).map_err(|_| bad("bad prefix"))?;
        let gw = match words.next() {
            Some("via") => {
                Some(parse_ip(words.next().unwrap_or("")).map_err(|_| bad("bad next hop"))?)
            }
            Some(g) => Some(parse_ip(g).map_err(|_| bad("bad next hop"))?),
            None => via,
        };
        if gw.is_none() && oif.is_none() {
            return Err(bad(
                "no next hop (give one per line, or `via GW` / `dev PORT`)",
            ));
        }
        if in_batch == 0 {
            conn.queue(&mut buf, FR_BATCH_BEGIN, 0, Body::Empty);
            begin_line = n + 1;
        }
        let mut r = RouteMsg::new(dst, len);
        r.gateway = gw;
        r.oif = oif;
        r.metric = metric;
        conn.queue(&mut buf, RTM_NEWROUTE, flags, Body::Route(r));
        in_batch += 1;
        total += 1;
        if in_batch == batch {
            let seq = conn.queue(&mut buf, FR_BATCH_END, NLM_F_ACK, Body::Empty);
            conn.write_raw(&buf)?;
            buf.clear();
            ends.push_back((seq, begin_line));
            in_batch = 0;
            if ends.len() >= IN_FLIGHT {
                if let Some((seq, line)) = ends.pop_front() {
                    wait_batch(conn, seq, file, line)?;
                }
            }
        }
    }
    if in_batch > 0 {
        let seq = conn.queue(&mut buf, FR_BATCH_END, NLM_F_ACK, Body::Empty);
        conn.write_raw(&buf)?;
        ends.push_back((seq, begin_line));
    }
    while let Some((seq, line)) = ends.pop_front() {
        wait_batch(conn, seq, file, line)?;
    }
    Ok((total, t.elapsed().as_secs_f64()))
}

fn wait_batch(conn: &mut Conn, seq: u32, file: &str, line: usize) -> Result<(), CliError> {
    conn.wait_ack(seq).map_err(|e| match e {
        ClientError::Api(a) => CliError::Client(ClientError::Api(ApiError::new(
            a.errno,
            format!("{} (batch starting at {file}:{line})", a.msg),
        ))),
        e => CliError::Client(e),
    })
}

/// Runs `ferroute -batch FILE`: one command per line over one connection; stops at the
/// first failure (reporting its line, like `ip -batch`) unless `force`.
pub fn batch(path: &Path, file: &str, force: bool, json: bool) -> Result<(), String> {
    let reader: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).map_err(|e| format!("cannot open {file}: {e}"))?,
        ))
    };
    let conn = Conn::connect(path).map_err(|e| e.to_string())?;
    let mut s = Session::new(conn, json);
    let mut failed = 0;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("{file}: {e}"))?;
        let words: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if words.is_empty() {
            continue;
        }
        let mut out = String::new();
        let r = s.run(&words, &mut out);
        let _ = std::io::stdout().write_all(out.as_bytes());
        if let Err(e) = r {
            let _ = writeln!(
                std::io::stderr(),
                "Error: {e}\nCommand failed {file}:{}",
                n + 1
            );
            failed += 1;
            if matches!(e, CliError::Client(ClientError::Io(_))) || !force {
                return Err(format!("{failed} command(s) failed"));
            }
        }
    }
    if failed > 0 {
        Err(format!("{failed} command(s) failed"))
    } else {
        Ok(())
    }
}

// --- parsing and formatting helpers -----------------------------------------------------

fn parse_ip(s: &str) -> Result<Ipv4Addr, CliError> {
    s.parse()
        .map_err(|_| usage(format!("\"{s}\" is not an IPv4 address")))
}

/// `default`, `a.b.c.d/len` or `a.b.c.d` (a /32). Host bits are sent as given: the
/// router refuses them (EINVAL), as Linux does.
pub fn parse_prefix(s: &str) -> Result<(Ipv4Addr, u8), CliError> {
    if s == "default" || s == "all" {
        return Ok((Ipv4Addr::UNSPECIFIED, 0));
    }
    match s.split_once('/') {
        Some((a, l)) => {
            // As ip: a length the address family cannot have is a usage error.
            let len: u8 = l.parse().ok().filter(|l| *l <= 32).ok_or_else(|| {
                usage(format!(
                    "Error: any valid prefix is expected rather than \"{s}\"."
                ))
            })?;
            Ok((parse_ip(a)?, len))
        }
        None => Ok((parse_ip(s)?, 32)),
    }
}

/// tc's rate syntax in bytes per second: `20mbit`, `100kbit`, `1gbit`, `500bps`,
/// `10kbps` (bytes), plain number = bits per second.
/// tc's rate syntax (datapath::qdisc::parse_rate, tc(8) UNITS), in bytes per second as
/// the API carries it.
pub fn parse_rate(s: &str) -> Result<u64, CliError> {
    let bits = qdisc::parse_rate(s).map_err(usage)?;
    if !(8..=8 * 10u64.pow(13)).contains(&bits) {
        return Err(usage(format!("rate \"{s}\" out of range")));
    }
    Ok(bits / 8)
}

/// tc's size syntax in bytes: `32kb`/`32k` (KiB), `1mb`/`1m`, `1500b`, plain bytes.
pub fn parse_size(s: &str) -> Result<u32, CliError> {
    let v = qdisc::parse_size(s).map_err(usage)?;
    match u32::try_from(v) {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(usage(format!("size \"{s}\" out of range"))),
    }
}

/// tc's time syntax in microseconds: `50ms`, `1s`, `200us`, plain = microseconds.
pub fn parse_time_us(s: &str) -> Result<u32, CliError> {
    let v = qdisc::parse_time_us(s).map_err(usage)?;
    match u32::try_from(v) {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(usage(format!("time \"{s}\" out of range"))),
    }
}

fn rate_text(bytes_per_s: u64) -> String {
    qdisc::fmt_rate(bytes_per_s.saturating_mul(8))
}

fn size_text(b: u32) -> String {
    qdisc::fmt_size(u64::from(b))
}

fn time_text(us: u32) -> String {
    qdisc::fmt_time_us(u64::from(us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tc_units() {
        assert_eq!(parse_rate("20mbit").unwrap(), 2_500_000);
        assert_eq!(parse_rate("8kbps").unwrap(), 8000);
        assert_eq!(parse_rate("1000").unwrap(), 125);
        assert_eq!(parse_size("32kb").unwrap(), 32768);
        assert_eq!(parse_size("1500").unwrap(), 1500);
        assert_eq!(parse_time_us("50ms").unwrap(), 50_000);
        assert_eq!(parse_time_us("1s").unwrap(), 1_000_000);
        assert!(parse_rate("fast").is_err());
        assert!(parse_size("0").is_err());
        assert_eq!(rate_text(2_500_000), "20Mbit");
        assert_eq!(size_text(32768), "32Kb");
        assert_eq!(time_text(50_000), "50ms");
    }

    #[test]
    fn prefixes() {
        assert_eq!(parse_prefix("default").unwrap(), (Ipv4Addr::UNSPECIFIED, 0));
        assert_eq!(
            parse_prefix("10.9.0.0/16").unwrap(),
            (Ipv4Addr::new(10, 9, 0, 0), 16)
        );
        assert_eq!(
            parse_prefix("10.9.1.1").unwrap(),
            (Ipv4Addr::new(10, 9, 1, 1), 32)
        );
        assert!(parse_prefix("10.9.0.0/x").is_err());
        assert!(parse_prefix("10.9.0.0/33").is_err());
        assert_eq!(prefix_text(Ipv4Addr::new(10, 9, 1, 1), 32), "10.9.1.1");
        assert_eq!(prefix_text(Ipv4Addr::UNSPECIFIED, 0), "default");
    }
}
