//! The configuration as control API requests, each with the config key it comes from:
//! the router applies its file through the same handlers as `ferroute addr/route/neigh
//! add`, so that the API is the one validator of addresses, routes and neighbours (grout
//! has no routes in its config for the same reason). [`refusal`] turns a handler's
//! refusal back into a [`ConfigError`] that names the file, the key and, where the file
//! knows more than the API (which earlier entry a duplicate repeats), says so.
//!
//! Applying the requests needs the API's state (`Rtnl`, a higher layer): see
//! `daemon::check`.

use crate::api::*;
use crate::datapath::qdisc::TbfParams;

use super::{Config, ConfigError};

/// One request of the configuration and the key of the file it comes from
/// (`port[0].address`, `route[3]`, `neighbor[1]` ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRequest {
    pub key: String,
    pub request: Request,
}

impl ConfigRequest {
    /// The request as a message with sequence number `seq`, asking a refusal to name the
    /// field at fault ([`FR_F_EXT_ACK`]), which [`refusal`] turns into the key.
    pub fn to_message(&self, seq: u32) -> Message {
        self.request.to_message(FR_F_EXT_ACK, seq)
    }
}

/// Interface index of DPDK port `id` in the API (id + 1; 0 means "none", see `api`).
fn ifindex(id: u16) -> u32 {
    u32::from(id) + 1
}

/// The tbf options that install `p` as the file gave it: its latency, or its limit.
fn tbf_spec(p: &TbfParams) -> TbfSpec {
    TbfSpec {
        rate: p.rate / 8,
        burst: p.burst,
        latency_us: p
            .latency_us
            .map_or(0, |us| u32::try_from(us).unwrap_or(u32::MAX)),
        limit: if p.latency_us.is_some() { 0 } else { p.limit },
    }
}

/// The configuration's addresses, routes, neighbours, qdiscs and link states as API
/// requests, in the order they must be applied; `port_ids[i]` is the DPDK port of
/// `cfg.ports[i]`. Routes are appended (NLM_F_APPEND), so that routes sharing a prefix
/// and metric keep their file order, as `config dump` writes them.
pub fn config_requests(cfg: &Config, port_ids: &[u16]) -> Vec<ConfigRequest> {
    let mut out = Vec::new();
    let mut push = |key: String, request: Request| out.push(ConfigRequest { key, request });
    let index = |port: usize| ifindex(port_ids[port]);
    let addr = |port: usize, a: ipnet::Ipv4Net| {
        Request::NewAddr(
            Change::ADD,
            AddrMsg {
                ifindex: index(port),
                prefix_len: a.prefix_len(),
                local: Some(a.addr()),
                label: None,
            },
        )
    };
    for (i, p) in cfg.ports.iter().enumerate() {
        push(format!("port[{i}].address"), addr(i, p.address));
    }
    for (i, a) in cfg.addresses.iter().enumerate() {
        push(format!("address[{i}].address"), addr(a.port, a.address));
    }
    let append = Change {
        if_exists: IfExists::Append,
        create: true,
    };
    for (i, r) in cfg.routes.iter().enumerate() {
        let mut m = RouteMsg::new(r.prefix.network(), r.prefix.prefix_len());
        m.rtype = r.route_type;
        m.gateway = r.via;
        m.oif = r.port.map(index);
        m.metric = Some(r.metric);
        m.multipath = (r.nexthops.iter())
            .map(|n| RtNexthop {
                gateway: n.via,
                oif: n.port.map(index),
                weight: n.weight,
            })
            .collect();
        push(format!("route[{i}]"), Request::NewRoute(append, m));
    }
    for (i, n) in cfg.neighbors.iter().enumerate() {
        let m = NeighMsg {
            ifindex: index(n.port),
            state: crate::api::Nud::Permanent,
            dst: Some(n.address),
            lladdr: Some(n.mac),
            probes: None,
        };
        push(format!("neighbor[{i}]"), Request::NewNeigh(Change::ADD, m));
    }
    for (i, qd) in cfg.qdiscs.iter().enumerate() {
        let m = QdiscMsg {
            ifindex: index(qd.port),
            parent: TC_H_ROOT,
            kind: Some("tbf".into()),
            tbf: Some(tbf_spec(&qd.tbf)),
            ..QdiscMsg::default()
        };
        push(format!("qdisc[{i}]"), Request::NewQdisc(Change::ADD, m));
    }
    for (i, _) in cfg.ports.iter().enumerate().filter(|(_, p)| !p.up) {
        let m = LinkMsg {
            ifindex: index(i),
            flags: 0,
            change: IFF_UP,
            ..LinkMsg::default()
        };
        push(format!("port[{i}].up"), Request::SetLink(m));
    }
    out
}

/// The [`ConfigError`] for the API's refusal `e` of `reqs[at]`: the key of the field at
/// fault where the refusal names one ([`ApiError::field`]: a gateway is `.via`, next hop
/// N is `.nexthops[N]`, a prefix `.prefix`, a MAC `.mac`; a refused device, the entry),
/// and for a duplicate the earlier entry it repeats. The API's message and errno are
/// kept as they are. `port_ids` are those [`config_requests`] was given; the requests
/// must have been sent as [`ConfigRequest::to_message`] makes them.
pub fn refusal(
    cfg: &Config,
    port_ids: &[u16],
    reqs: &[ConfigRequest],
    at: usize,
    e: &ApiError,
) -> ConfigError {
    let ConfigRequest { key, request } = &reqs[at];
    let earlier = &reqs[..at];
    let (key, context) = match request {
        Request::NewRoute(_, r) => route_refusal(key, r, earlier, e),
        Request::NewNeigh(_, n) => {
            let port = (port_ids.iter().position(|&id| ifindex(id) == n.ifindex))
                .map_or("?", |i| cfg.ports[i].name.as_str());
            neigh_refusal(port, key, n, earlier, e)
        }
        _ => (key.clone(), None),
    };
    ConfigError {
        file: cfg.source.clone(),
        key,
        message: match context {
            Some(c) => format!("{c}: {e}"),
            None => e.to_string(),
        },
    }
}

fn route_refusal(
    key: &str,
    r: &RouteMsg,
    earlier: &[ConfigRequest],
    e: &ApiError,
) -> (String, Option<String>) {
    let hop = |n: u16| format!("{key}.nexthops[{n}]");
    match e.field {
        Some(ReqField::Dst) => {
            let context = (e.errno == errno::EEXIST)
                .then(|| same_route(r, earlier))
                .flatten()
                .map(|same| {
                    format!(
                        "duplicate route {}/{} metric {} (same as {same})",
                        r.dst,
                        r.dst_len,
                        r.metric.unwrap_or(0),
                    )
                });
            (format!("{key}.prefix"), context)
        }
        Some(ReqField::Gateway) => (format!("{key}.via"), None),
        Some(ReqField::Nexthop { n, same_as }) => (
            hop(n),
            same_as.map(|m| format!("duplicate next hop (same as nexthops[{m}])")),
        ),
        Some(ReqField::NexthopGateway(n)) => (format!("{}.via", hop(n)), None),
        Some(ReqField::NexthopWeight(n)) => (format!("{}.weight", hop(n)), None),
        // A device is refused for its state (down, no address), which is the port's,
        // not a value of this entry: the entry (or the next hop) is named.
        Some(ReqField::NexthopIfindex(n)) => (hop(n), None),
        Some(ReqField::Ifindex | ReqField::Lladdr) | None => (key.to_string(), None),
    }
}

/// The key of the earlier route `r` repeats: the identical one, else the first with its
/// prefix and metric (the API may find two spellings the same route: `via` with or
/// without the `port` it is on).
fn same_route<'a>(r: &RouteMsg, earlier: &'a [ConfigRequest]) -> Option<&'a str> {
    let routes = || {
        earlier.iter().filter_map(|c| match &c.request {
            Request::NewRoute(_, q) => Some((c.key.as_str(), q)),
            _ => None,
        })
    };
    let same_prefix = |q: &RouteMsg| {
        (q.dst, q.dst_len, q.metric.unwrap_or(0)) == (r.dst, r.dst_len, r.metric.unwrap_or(0))
    };
    (routes().find(|(_, q)| *q == r))
        .or_else(|| routes().find(|(_, q)| same_prefix(q)))
        .map(|(key, _)| key)
}

fn neigh_refusal(
    port: &str,
    key: &str,
    n: &NeighMsg,
    earlier: &[ConfigRequest],
    e: &ApiError,
) -> (String, Option<String>) {
    let ip = n.dst.map_or_else(String::new, |d| d.to_string());
    match e.field {
        Some(ReqField::Lladdr) => (format!("{key}.mac"), None),
        // The address is not on the port the entry names (the file's `port`, or the one
        // whose subnet holds it). The API names the port as the wire pins it (`of
        // port0`); the file's reader gets the port's config name quoted.
        Some(ReqField::Ifindex) if e.errno == errno::EINVAL => {
            let context = format!("{ip} is not on a connected network of port {port:?}");
            (format!("{key}.address"), Some(context))
        }
        _ => {
            let context = (e.errno == errno::EEXIST)
                .then(|| {
                    earlier.iter().find(|c| {
                        matches!(&c.request, Request::NewNeigh(_, q)
                            if (q.ifindex, q.dst) == (n.ifindex, n.dst))
                    })
                })
                .flatten()
                .map(|c| {
                    format!(
                        "duplicate static neighbour {ip} on port {port:?} (same as {})",
                        c.key
                    )
                });
            (format!("{key}.address"), context)
        }
    }
}
