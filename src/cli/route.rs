//! `ferroute route add|del|replace|append|change|prepend [TYPE] PREFIX [via GW] [dev
//! PORT] [metric N] [nexthop ...]` fills one RTM_NEWROUTE or RTM_DELROUTE
//! (`api::RouteMsg`); the router's route handler judges it. `route show` and `route
//! flush` take ip-route(8)'s SELECTOR (`RouteFilter`); flush deletes in atomic batches.
//! `route get ADDR` asks for the route used. Routes print as `ip route` prints them
//! (`route_line`, also what `monitor` prints) or as JSON; `route load` is `load.rs`.
use super::parse::{parse_ip, parse_prefix};
use super::session::to_json;
use super::{change, json, usage, verb, CliError, Session, HELP};
use crate::api::*;
use crate::fib::Proto;
use json::route::{prefix_text, Table};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

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

impl Session {
    pub(super) fn route(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let supported = [
            "add", "change", "replace", "prepend", "append", "delete", "show", "get", "flush",
            "load", "help",
        ];
        let (verb, rest) = verb(args, ROUTE_VERBS, "route", &supported)?;
        let (kind, flags) = match verb {
            "show" => return self.route_show(rest, out),
            "get" => return self.route_get(rest, out),
            "load" => return self.route_load(rest, out),
            "flush" => return self.route_flush(rest, out),
            "help" => {
                let _ = writeln!(out, "{HELP}");
                return Ok(());
            }
            v => change(v, RTM_NEWROUTE, RTM_DELROUTE),
        };
        let r = self.parse_route(rest, kind == RTM_DELROUTE)?;
        Ok(self.conn.change(kind, flags, Body::Route(r))?)
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
    pub(super) fn route_line(&mut self, r: &RouteMsg, table: Table) -> String {
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
}
