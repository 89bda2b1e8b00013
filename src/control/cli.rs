//! The iproute2-style commands (`ferroute route add 10.9.0.0/16 via 10.0.2.2`, `ferroute
//! neigh`, `ferroute addr`, `ferroute link set port1 mtu 1280`, `ferroute qdisc ...`,
//! `ferroute config dump`): parsed into control API messages, answers printed as
//! `ip` prints them, or as JSON with `-j`. `-batch FILE` runs many over one connection.
use super::client::{ClientError, Conn};
use super::message::*;
use crate::datapath::qdisc;
use crate::wire::MacAddr;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::BufRead;
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
       ferroute route [show [PREFIX]] | get ADDR
       ferroute route add|del|replace|append|change|prepend [blackhole|unreachable|prohibit]
                      PREFIX [via GW] [dev PORT] [metric N]
       ferroute route load FILE|- [via GW] [dev PORT] [metric N] [batch N]
       ferroute neigh [show [dev PORT]] | add|replace|change|del ADDR [lladdr MAC] [dev PORT]
       ferroute addr [show [dev PORT]] | add|replace|del ADDR/LEN dev PORT
       ferroute link [show [PORT]] | set PORT [mtu N] [up|down]
       ferroute [-stats] qdisc [show [dev PORT]]
       ferroute qdisc add|replace|change|del dev PORT [root] tbf rate RATE burst SIZE
                      latency TIME|limit SIZE
       ferroute config dump
       ferroute -batch FILE [-force]      one command per line over one connection";

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
        match *obj {
            "route" | "r" | "ro" => self.route(rest, out),
            "neigh" | "neighbor" | "neighbour" | "n" => self.neigh(rest, out),
            "addr" | "address" | "a" => self.addr(rest, out),
            "link" | "l" => self.link(rest, out),
            "qdisc" | "q" => self.qdisc(rest, out),
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
            other => Err(usage(format!(
                "Object \"{other}\" is unknown, try \"ferroute help\"."
            ))),
        }
    }

    // --- route ------------------------------------------------------------------------

    fn route(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let (verb, rest) = args
            .split_first()
            .map_or(("show", &[][..]), |(v, r)| (*v, r));
        let flags = match verb {
            "show" | "list" | "ls" | "lst" => return self.route_show(rest, out),
            "get" => return self.route_get(rest, out),
            "load" => return self.route_load(rest, out),
            "add" | "a" => NLM_F_CREATE | NLM_F_EXCL,
            "replace" => NLM_F_CREATE | NLM_F_REPLACE,
            "append" => NLM_F_CREATE | NLM_F_APPEND,
            "prepend" => NLM_F_CREATE,
            "change" | "chg" => NLM_F_REPLACE,
            "del" | "delete" => {
                let r = self.parse_route(rest, true)?;
                return Ok(self.conn.change(RTM_DELROUTE, 0, Body::Route(r))?);
            }
            other => {
                return Err(usage(format!(
                    "Command \"{other}\" is unknown, try \"ferroute help\"."
                )))
            }
        };
        let r = self.parse_route(rest, false)?;
        Ok(self.conn.change(RTM_NEWROUTE, flags, Body::Route(r))?)
    }

    /// `[TYPE] PREFIX [via GW] [dev PORT] [metric N]`; for a delete, the type and metric
    /// only when given (a delete matches what is given).
    fn parse_route(&mut self, args: &[&str], del: bool) -> Result<RouteMsg, CliError> {
        let mut it = args.iter().copied().peekable();
        let rtype = match it.peek().copied() {
            Some("unicast") => Some(RTN_UNICAST),
            Some("blackhole") => Some(RTN_BLACKHOLE),
            Some("unreachable") => Some(RTN_UNREACHABLE),
            Some("prohibit") => Some(RTN_PROHIBIT),
            _ => None,
        };
        if rtype.is_some() {
            it.next();
        }
        let p = it.next().ok_or_else(|| usage("missing prefix"))?;
        let (dst, len) = parse_prefix(p)?;
        let mut r = RouteMsg::new(dst, len);
        r.rtype = rtype.unwrap_or(if del { RTN_UNSPEC } else { RTN_UNICAST });
        if del {
            r.protocol = RTPROT_UNSPEC;
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
                "proto" | "protocol" => {
                    let v = val()?;
                    r.protocol = match v {
                        "static" => RTPROT_STATIC,
                        "kernel" => RTPROT_KERNEL,
                        _ => return Err(usage(format!("invalid protocol \"{v}\""))),
                    };
                }
                other => return Err(usage(format!("unknown route argument \"{other}\""))),
            }
        }
        Ok(r)
    }

    fn route_show(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let mut filter = RouteMsg::new(Ipv4Addr::UNSPECIFIED, 0);
        let mut exact = None;
        match args {
            [] => {}
            [p] | ["match" | "exact" | "to", p] => {
                let (dst, len) = parse_prefix(p)?;
                filter = RouteMsg::new(dst, len);
                exact = Some((dst, len));
            }
            _ => return Err(usage("usage: ferroute route show [PREFIX]")),
        }
        let replies = self.conn.dump(RTM_GETROUTE, Body::Route(filter))?;
        let mut routes: Vec<RouteMsg> = replies
            .into_iter()
            .filter_map(|m| match m.body {
                Body::Route(r) => Some(r),
                _ => None,
            })
            .collect();
        if let Some((dst, len)) = exact {
            routes.retain(|r| r.dst == dst && r.dst_len == len);
        }
        if self.json {
            let v: Vec<Value> = routes.iter().map(|r| self.route_json(r)).collect();
            let _ = writeln!(out, "{}", Value::Array(v));
        } else {
            for r in &routes {
                let line = self.route_line(r);
                let _ = writeln!(out, "{line}");
            }
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
            let _ = writeln!(out, "{}", Value::Array(vec![self.route_json(&r)]));
        } else {
            let line = self.route_line(&r);
            let _ = writeln!(out, "{line}");
        }
        Ok(())
    }

    fn route_line(&mut self, r: &RouteMsg) -> String {
        let dst = prefix_text(r.dst, r.dst_len);
        let mut s = match r.rtype {
            RTN_LOCAL => format!("local {dst}"),
            RTN_BROADCAST => format!("broadcast {dst}"),
            RTN_BLACKHOLE => format!("blackhole {dst}"),
            RTN_UNREACHABLE => format!("unreachable {dst}"),
            RTN_PROHIBIT => format!("prohibit {dst}"),
            _ => dst,
        };
        if let Some(g) = r.gateway {
            let _ = write!(s, " via {g}");
        }
        if let Some(o) = r.oif {
            let _ = write!(s, " dev {}", self.name(o));
        }
        match r.protocol {
            RTPROT_KERNEL => s.push_str(" proto kernel"),
            RTPROT_STATIC => s.push_str(" proto static"),
            _ => {}
        }
        match r.scope {
            RT_SCOPE_LINK => s.push_str(" scope link"),
            RT_SCOPE_HOST => s.push_str(" scope host"),
            _ => {}
        }
        if let Some(src) = r.prefsrc {
            let _ = write!(s, " src {src}");
        }
        if let Some(m) = r.metric.filter(|m| *m != 0) {
            let _ = write!(s, " metric {m}");
        }
        s
    }

    fn route_json(&mut self, r: &RouteMsg) -> Value {
        let mut v = json!({
            "type": rtype_name(r.rtype),
            "dst": prefix_text(r.dst, r.dst_len),
        });
        if let Some(g) = r.gateway {
            v["gateway"] = json!(g.to_string());
        }
        if let Some(o) = r.oif {
            v["dev"] = json!(self.name(o));
        }
        match r.protocol {
            RTPROT_KERNEL => v["protocol"] = json!("kernel"),
            RTPROT_STATIC => v["protocol"] = json!("static"),
            _ => {}
        }
        v["scope"] = json!(match r.scope {
            RT_SCOPE_LINK => "link",
            RT_SCOPE_HOST => "host",
            _ => "global",
        });
        if let Some(src) = r.prefsrc {
            v["prefsrc"] = json!(src.to_string());
        }
        if let Some(m) = r.metric {
            v["metric"] = json!(m);
        }
        v
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
                        .filter(|n| (1..=super::server::MAX_BATCH).contains(n))
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
        let (verb, rest) = args
            .split_first()
            .map_or(("show", &[][..]), |(v, r)| (*v, r));
        let (kind, flags) = match verb {
            "show" | "list" | "ls" => return self.neigh_show(rest, out),
            "add" | "a" => (RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL),
            "replace" => (RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE),
            "change" | "chg" => (RTM_NEWNEIGH, NLM_F_REPLACE),
            "del" | "delete" => (RTM_DELNEIGH, 0),
            other => {
                return Err(usage(format!(
                    "Command \"{other}\" is unknown, try \"ferroute help\"."
                )))
            }
        };
        let mut it = rest.iter().copied();
        let ip = parse_ip(
            it.next()
                .ok_or_else(|| usage("missing neighbour address"))?,
        )?;
        let mut n = NeighMsg {
            dst: Some(ip),
            state: if kind == RTM_NEWNEIGH {
                NUD_PERMANENT
            } else {
                0
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
                    n.state = match v {
                        "permanent" => NUD_PERMANENT,
                        "noarp" => NUD_NOARP,
                        "reachable" => NUD_REACHABLE,
                        "stale" => NUD_STALE,
                        _ => return Err(usage(format!("invalid nud state \"{v}\""))),
                    }
                }
                other => return Err(usage(format!("unknown neigh argument \"{other}\""))),
            }
        }
        Ok(self.conn.change(kind, flags, Body::Neigh(n))?)
    }

    fn neigh_show(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let mut filter = NeighMsg::default();
        match args {
            [] => {}
            ["dev", d] => filter.ifindex = self.ifindex(d)?,
            _ => return Err(usage("usage: ferroute neigh show [dev PORT]")),
        }
        let msgs = self.conn.dump(RTM_GETNEIGH, Body::Neigh(filter))?;
        let mut json_rows = Vec::new();
        for m in msgs {
            let Body::Neigh(n) = m.body else { continue };
            let dev = self.name(n.ifindex);
            let ip = n.dst.map_or_else(String::new, |d| d.to_string());
            let state = nud_name(n.state);
            if self.json {
                let mut v = json!({"dst": ip, "dev": dev, "state": [state]});
                if let Some(mac) = n.lladdr {
                    v["lladdr"] = json!(mac.to_string());
                }
                if let Some(p) = n.probes {
                    v["probes"] = json!(p);
                }
                json_rows.push(v);
            } else {
                let _ = write!(out, "{ip} dev {dev}");
                if let Some(mac) = n.lladdr {
                    let _ = write!(out, " lladdr {mac}");
                }
                let _ = writeln!(out, " {state}");
            }
        }
        if self.json {
            let _ = writeln!(out, "{}", Value::Array(json_rows));
        }
        Ok(())
    }

    // --- addr / link ------------------------------------------------------------------

    fn addr(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let (verb, rest) = args
            .split_first()
            .map_or(("show", &[][..]), |(v, r)| (*v, r));
        let (kind, flags) = match verb {
            "show" | "list" | "ls" => return self.link_show(rest, true, out),
            "add" | "a" => (RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL),
            "replace" => (RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE),
            "change" => (RTM_NEWADDR, NLM_F_REPLACE),
            "del" | "delete" => (RTM_DELADDR, 0),
            other => {
                return Err(usage(format!(
                    "Command \"{other}\" is unknown, try \"ferroute help\"."
                )))
            }
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
        let (verb, rest) = args
            .split_first()
            .map_or(("show", &[][..]), |(v, r)| (*v, r));
        match verb {
            "show" | "list" | "ls" => self.link_show(rest, false, out),
            "set" => {
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
            other => Err(usage(format!(
                "Command \"{other}\" is unknown, try \"ferroute help\"."
            ))),
        }
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
        let mut rows = Vec::new();
        for l in links
            .iter()
            .filter(|l| only.map_or(true, |i| i == l.ifindex))
        {
            let name = l.name.clone().unwrap_or_default();
            let up = l.flags & IFF_UP != 0;
            let running = l.flags & IFF_LOWER_UP != 0;
            let mut fl = Vec::new();
            if up && !running {
                fl.push("NO-CARRIER");
            }
            fl.push("BROADCAST");
            if up {
                fl.push("UP");
            }
            if running {
                fl.push("LOWER_UP");
            }
            let state = if up && running { "UP" } else { "DOWN" };
            let mac = l.mac.map(|m| m.to_string()).unwrap_or_default();
            let mtu = l.mtu.unwrap_or(0);
            let mine: Vec<AddrMsg> = addr_msgs
                .iter()
                .filter_map(|m| match &m.body {
                    Body::Addr(a) if a.ifindex == l.ifindex => Some(a.clone()),
                    _ => None,
                })
                .collect();
            if self.json {
                let mut v = json!({
                    "ifindex": l.ifindex, "ifname": name, "flags": fl, "mtu": mtu,
                    "operstate": state, "link_type": "ether", "address": mac,
                    "broadcast": "ff:ff:ff:ff:ff:ff",
                });
                if addrs {
                    let infos: Vec<Value> = mine
                        .iter()
                        .filter_map(|a| {
                            let ip = a.local?;
                            let mut i = json!({"family": "inet", "local": ip.to_string(),
                                "prefixlen": a.prefix_len, "scope": "global", "label": name});
                            if let Some(b) = broadcast(ip, a.prefix_len) {
                                i["broadcast"] = json!(b.to_string());
                            }
                            Some(i)
                        })
                        .collect();
                    v["addr_info"] = Value::Array(infos);
                }
                rows.push(v);
            } else {
                let _ = writeln!(
                    out,
                    "{}: {name}: <{}> mtu {mtu} state {state}\n    link/ether {mac} brd ff:ff:ff:ff:ff:ff",
                    l.ifindex,
                    fl.join(",")
                );
                for a in &mine {
                    let Some(ip) = a.local else { continue };
                    let _ = write!(out, "    inet {ip}/{}", a.prefix_len);
                    if let Some(b) = broadcast(ip, a.prefix_len) {
                        let _ = write!(out, " brd {b}");
                    }
                    let _ = writeln!(out, " scope global {name}");
                }
            }
        }
        if self.json {
            let _ = writeln!(out, "{}", Value::Array(rows));
        }
        Ok(())
    }

    // --- qdisc ------------------------------------------------------------------------

    fn qdisc(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let (verb, rest) = args
            .split_first()
            .map_or(("show", &[][..]), |(v, r)| (*v, r));
        let (kind, flags) = match verb {
            "show" | "list" | "ls" => return self.qdisc_show(rest, out),
            "add" => (RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL),
            "replace" => (RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE),
            "change" => (RTM_NEWQDISC, NLM_F_REPLACE),
            "del" | "delete" => (RTM_DELQDISC, 0),
            other => {
                return Err(usage(format!(
                    "Command \"{other}\" is unknown, try \"ferroute help\"."
                )))
            }
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

    fn qdisc_show(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let mut filter = QdiscMsg::default();
        match args {
            [] => {}
            ["dev", d] => filter.ifindex = self.ifindex(d)?,
            _ => return Err(usage("usage: ferroute qdisc show [dev PORT]")),
        }
        let msgs = self.conn.dump(RTM_GETQDISC, Body::Qdisc(filter))?;
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
        let mut rows = Vec::new();
        for m in msgs {
            let Body::Qdisc(q) = m.body else { continue };
            let dev = self.name(q.ifindex);
            let kind = q.kind.clone().unwrap_or_default();
            let Some(t) = q.tbf else { continue };
            let keys = [
                "sent_bytes",
                "sent_packets",
                "dropped",
                "backlog_bytes",
                "backlog_packets",
                "tokens_bytes",
            ];
            let [sent, pkts, dropped, backlog, qlen, tokens] = keys.map(|k| stat(&dev, k));
            if self.json {
                let mut row = json!({"kind": kind, "handle": format!("{:x}:", q.handle >> 16),
                    "dev": dev, "root": true, "options": {"rate": t.rate, "burst": t.burst,
                    "limit": t.limit, "lat": t.latency_us}});
                if self.stats {
                    row["bytes"] = json!(sent);
                    row["packets"] = json!(pkts);
                    row["drops"] = json!(dropped);
                    row["backlog"] = json!(backlog);
                    row["qlen"] = json!(qlen);
                    row["tokens"] = json!(tokens);
                }
                rows.push(row);
            } else {
                let _ = write!(
                    out,
                    "qdisc {kind} {:x}: dev {dev} root rate {} burst {} limit {}",
                    q.handle >> 16,
                    rate_text(t.rate),
                    size_text(t.burst),
                    size_text(t.limit)
                );
                if t.latency_us != 0 {
                    let _ = write!(out, " lat {}", time_text(t.latency_us));
                }
                out.push('\n');
                if self.stats {
                    // tc -s qdisc's lines, plus the bucket's tokens.
                    let _ = writeln!(
                        out,
                        " Sent {sent} bytes {pkts} pkt (dropped {dropped})\n backlog {backlog}b {qlen}p tokens {tokens}b"
                    );
                }
            }
        }
        if self.json {
            let _ = writeln!(out, "{}", Value::Array(rows));
        }
        Ok(())
    }
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
        print!("{out}");
        if let Err(e) = r {
            eprintln!("Error: {e}");
            eprintln!("Command failed {file}:{}", n + 1);
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
            let len: u8 = l
                .parse()
                .map_err(|_| usage(format!("invalid prefix length in \"{s}\"")))?;
            Ok((parse_ip(a)?, len))
        }
        None => Ok((parse_ip(s)?, 32)),
    }
}

fn prefix_text(a: Ipv4Addr, len: u8) -> String {
    match len {
        0 if a.is_unspecified() => "default".into(),
        32 => a.to_string(),
        _ => format!("{a}/{len}"),
    }
}

fn broadcast(ip: Ipv4Addr, len: u8) -> Option<Ipv4Addr> {
    let net = ipnet::Ipv4Net::new(ip, len).ok()?;
    (len <= 30).then(|| net.broadcast())
}

fn rtype_name(t: u8) -> &'static str {
    match t {
        RTN_LOCAL => "local",
        RTN_BROADCAST => "broadcast",
        RTN_BLACKHOLE => "blackhole",
        RTN_UNREACHABLE => "unreachable",
        RTN_PROHIBIT => "prohibit",
        _ => "unicast",
    }
}

fn nud_name(s: u16) -> &'static str {
    match s {
        NUD_INCOMPLETE => "INCOMPLETE",
        NUD_REACHABLE => "REACHABLE",
        NUD_STALE => "STALE",
        NUD_DELAY => "DELAY",
        NUD_PROBE => "PROBE",
        NUD_FAILED => "FAILED",
        NUD_NOARP => "NOARP",
        NUD_PERMANENT => "PERMANENT",
        _ => "NONE",
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
        assert_eq!(prefix_text(Ipv4Addr::new(10, 9, 1, 1), 32), "10.9.1.1");
        assert_eq!(prefix_text(Ipv4Addr::UNSPECIFIED, 0), "default");
    }
}
