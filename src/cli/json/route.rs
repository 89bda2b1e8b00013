//! A route as `ip -j route` prints it (iproute2 `print_route`).
use crate::api::*;
use crate::fib::Proto;
use serde::Serialize;
use std::net::Ipv4Addr;

/// Which table a listing shows (`ip route show table main|local|all`). ferroute keeps
/// one RIB; as in Linux, local and broadcast routes are the local table's, all others
/// the main table's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Main,
    Local,
    All,
}

impl Table {
    pub fn parse(s: &str) -> Option<Table> {
        match s {
            "main" | "254" => Some(Table::Main),
            "local" | "255" => Some(Table::Local),
            "all" | "0" => Some(Table::All),
            _ => None,
        }
    }

    /// The table a route is in.
    pub fn of(r: &RouteMsg) -> Table {
        match r.rtype {
            RouteType::Local | RouteType::Broadcast => Table::Local,
            _ => Table::Main,
        }
    }

    /// Whether a listing of this table shows `r`.
    pub fn shows(self, r: &RouteMsg) -> bool {
        self == Table::All || self == Table::of(r)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Omitted for unicast.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub rtype: Option<&'static str>,
    pub dst: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// Only in `table all` listings, and never `main`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<&'static str>,
    /// Omitted for `boot` and unspecified (as ip omits `proto boot`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Omitted for global (universe).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefsrc: Option<String>,
    /// Omitted when 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    /// RTNH_F_* names (`onlink`, `linkdown`, ...): none apply to ferroute's routes.
    pub flags: Vec<&'static str>,
    /// A multipath route's next hops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nexthops: Option<Vec<Nexthop>>,
    /// `route get` only: the uid asking, as `ip route get` reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// `route get` only: the route cache flags (`local` for a local destination).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<Vec<&'static str>>,
}

/// One next hop of a multipath route, as ip prints it in `nexthops`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nexthop {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    pub weight: u16,
    /// RTNH_F_* names; ferroute reports none (dead members are not marked).
    pub flags: Vec<&'static str>,
}

impl Nexthop {
    pub fn of(h: &RtNexthop, dev: Option<String>) -> Nexthop {
        Nexthop {
            gateway: h.gateway.map(|g| g.to_string()),
            dev,
            weight: h.weight,
            flags: Vec::new(),
        }
    }
}

/// The type as ip prints it; an unspecified or unknown one shows as unicast.
pub fn rtype_name(t: RouteType) -> &'static str {
    match t {
        RouteType::Unspec | RouteType::Other(_) => "unicast",
        t => t.name().unwrap_or("unicast"),
    }
}

/// The protocol as `ip route` prints it: its name, else its number; nothing for `boot`
/// (3) and unspec (0), which iproute2 leaves out.
pub fn proto_name(p: Proto) -> Option<String> {
    match p.num() {
        0 | 3 => None,
        p => Some(Proto::name_of(p).map_or_else(|| p.to_string(), str::to_string)),
    }
}

/// The scope as ip prints it: nothing for global, `site` for a number without a name.
pub fn scope_name(s: Scope) -> Option<&'static str> {
    match s {
        Scope::Universe => None,
        Scope::Other(_) => Some("site"),
        s => s.name(),
    }
}

/// `default`, `a.b.c.d` for a /32, else `a.b.c.d/len` (ip's format).
pub fn prefix_text(a: Ipv4Addr, len: u8) -> String {
    match len {
        0 if a.is_unspecified() => "default".into(),
        32 => a.to_string(),
        _ => format!("{a}/{len}"),
    }
}

impl Route {
    /// A route of a listing of `table`; `dev` names the oif.
    pub fn listed(r: &RouteMsg, table: Table, dev: Option<String>) -> Route {
        Route {
            rtype: (r.rtype != RouteType::Unicast).then(|| rtype_name(r.rtype)),
            dst: prefix_text(r.dst, r.dst_len),
            gateway: r.gateway.map(|g| g.to_string()),
            dev,
            table: (table == Table::All && Table::of(r) == Table::Local).then_some("local"),
            protocol: proto_name(r.protocol),
            scope: scope_name(r.scope),
            prefsrc: r.prefsrc.map(|s| s.to_string()),
            metric: r.metric.filter(|m| *m != 0),
            flags: Vec::new(),
            nexthops: None,
            uid: None,
            cache: None,
        }
    }

    /// The answer of `route get` (ip prints no protocol, scope or table for it).
    pub fn got(r: &RouteMsg, dev: Option<String>, uid: u32) -> Route {
        Route {
            rtype: (r.rtype != RouteType::Unicast).then(|| rtype_name(r.rtype)),
            dst: prefix_text(r.dst, r.dst_len),
            gateway: r.gateway.map(|g| g.to_string()),
            dev,
            table: None,
            protocol: None,
            scope: None,
            prefsrc: r.prefsrc.map(|s| s.to_string()),
            metric: None,
            flags: Vec::new(),
            nexthops: None,
            uid: Some(uid),
            cache: Some(match r.rtype {
                RouteType::Local => vec!["local"],
                RouteType::Broadcast => vec!["brd"],
                _ => Vec::new(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_ip_prints_them() {
        let mut r = RouteMsg::new(Ipv4Addr::new(10, 9, 0, 0), 16);
        r.gateway = Some(Ipv4Addr::new(10, 0, 2, 2));
        r.metric = Some(0);
        let j = serde_json::to_string(&Route::listed(&r, Table::Main, Some("port1".into())));
        assert_eq!(
            j.unwrap(),
            r#"{"dst":"10.9.0.0/16","gateway":"10.0.2.2","dev":"port1","protocol":"static","flags":[]}"#
        );
        let mut l = RouteMsg::new(Ipv4Addr::new(10, 0, 1, 1), 32);
        l.rtype = RouteType::Local;
        l.protocol = Proto::Kernel;
        l.scope = Scope::Host;
        l.metric = Some(7);
        assert!(Table::Local.shows(&l) && !Table::Main.shows(&l) && Table::All.shows(&l));
        let j = serde_json::to_string(&Route::listed(&l, Table::All, None)).unwrap();
        assert_eq!(
            j,
            r#"{"type":"local","dst":"10.0.1.1","table":"local","protocol":"kernel","scope":"host","metric":7,"flags":[]}"#
        );
        // As `ip -j route` prints `10.7.0.0/16 nexthop via 10.0.1.2 dev va weight 1
        // nexthop dev vc weight 2` (iproute2 6.1).
        let m = RouteMsg::new(Ipv4Addr::new(10, 7, 0, 0), 16);
        let mut j = Route::listed(&m, Table::Main, None);
        j.protocol = None;
        let hop = |gw: Option<Ipv4Addr>, dev: &str, weight| {
            let h = RtNexthop {
                gateway: gw,
                oif: None,
                weight,
            };
            Nexthop::of(&h, Some(dev.into()))
        };
        j.nexthops = Some(vec![
            hop(Some(Ipv4Addr::new(10, 0, 1, 2)), "va", 1),
            hop(None, "vc", 2),
        ]);
        assert_eq!(
            serde_json::to_string(&j).unwrap(),
            r#"{"dst":"10.7.0.0/16","flags":[],"nexthops":[{"gateway":"10.0.1.2","dev":"va","weight":1,"flags":[]},{"dev":"vc","weight":2,"flags":[]}]}"#
        );
    }
}
