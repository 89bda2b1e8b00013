//! Every flag and errno path of the handlers, against an in-memory RIB and neighbour
//! table (no DPDK): requests go in as messages, answers are checked as a client sees them.
use super::*;
use crate::config::Config;
use crate::datapath::qdisc::Qdiscs;
use crate::datapath::Ports;
use crate::fib::Fib;
use crate::neigh::{ArpKind, NeighParams, NeighSnapshot};
use arc_swap::ArcSwap;
use std::sync::atomic::AtomicBool;

struct T {
    rtnl: Rtnl,
    table: NeighTable<u32>,
    actions: Vec<NeighAction<u32>>,
    seq: u32,
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

const P0: u32 = 1; // ifindex of port 0
const P1: u32 = 2;
const ADD: u16 = NLM_F_CREATE | NLM_F_EXCL;

fn shared() -> Arc<Shared> {
    Arc::new(Shared {
        fib: ArcSwap::from_pointee(Fib::default()),
        neigh: ArcSwap::from_pointee(NeighSnapshot::default()),
        ports: ArcSwap::from_pointee(Ports::default()),
        qdisc: Qdiscs::new(1_000_000_000, 1, 8192),
        stop: AtomicBool::new(false),
        capture: Default::default(),
    })
}

fn port(id: u16) -> PortState {
    PortState {
        id,
        name: format!("port{id}"),
        mac: MacAddr([2, 0, 0, 0, 0, id as u8]),
        addrs: Vec::new(),
        mtu: 1500,
        up: true,
    }
}

impl T {
    /// Two ports, 10.0.1.1/24 and 10.0.2.1/24, added through the API.
    fn new() -> T {
        let mut t = T {
            rtnl: Rtnl::new(shared(), vec![port(0), port(1)]),
            table: NeighTable::new(NeighParams::default()),
            actions: Vec::new(),
            seq: 0,
        };
        t.ok(RTM_NEWADDR, ADD, addr(P0, "10.0.1.1", 24));
        t.ok(RTM_NEWADDR, ADD, addr(P1, "10.0.2.1", 24));
        t.rtnl.publish_fib();
        t
    }

    /// Sends one request with NLM_F_ACK; the data replies, or the error.
    fn req(&mut self, kind: u16, flags: u16, body: Body) -> Result<Vec<Message>, ApiError> {
        self.seq += 1;
        let m = Message::new(kind, flags | NLM_F_REQUEST | NLM_F_ACK, self.seq, body);
        let mut out = Vec::new();
        let mut env = TableEnv {
            table: &mut self.table,
            actions: &mut self.actions,
        };
        self.rtnl.handle(&m, &mut env, &mut out);
        let last = out.pop().expect("every request is answered");
        assert_eq!(last.seq, self.seq);
        match last.body {
            Body::Error { errno: 0, req, .. } => {
                assert_eq!(req.kind, kind);
                Ok(out)
            }
            Body::Error { errno, msg, .. } => {
                assert!(out.is_empty(), "no data before an error");
                assert!(!msg.is_empty(), "errors say why");
                Err(ApiError::new(errno, msg))
            }
            other => panic!("last reply is not an ack: {other:?}"),
        }
    }

    fn ok(&mut self, kind: u16, flags: u16, body: Body) -> Vec<Message> {
        self.req(kind, flags, body.clone())
            .unwrap_or_else(|e| panic!("{kind} {body:?}: {e}"))
    }

    fn errno(&mut self, kind: u16, flags: u16, body: Body) -> i32 {
        self.err(kind, flags, body).errno
    }

    fn err(&mut self, kind: u16, flags: u16, body: Body) -> ApiError {
        match self.req(kind, flags, body.clone()) {
            Ok(r) => panic!("{kind} {body:?} succeeded: {r:?}"),
            Err(e) => e,
        }
    }

    fn lookup(&mut self, dst: &str) -> Option<NextHop> {
        self.rtnl.publish_fib();
        self.rtnl.shared.fib.load().lookup(u32::from(ip(dst)))
    }

    fn routes(&mut self) -> Vec<RouteMsg> {
        let out = self.ok(
            RTM_GETROUTE,
            NLM_F_DUMP,
            Body::Route(RouteMsg::new(Ipv4Addr::UNSPECIFIED, 0)),
        );
        let (done, parts) = out.split_last().expect("DONE");
        assert_eq!(done.kind, NLMSG_DONE);
        parts
            .iter()
            .map(|m| {
                assert_eq!(m.flags & NLM_F_MULTI, NLM_F_MULTI);
                match &m.body {
                    Body::Route(r) => r.clone(),
                    b => panic!("{b:?}"),
                }
            })
            .collect()
    }

    fn version(&self) -> u64 {
        self.rtnl.shared.fib.load().version
    }
}

fn route(p: &str, via: Option<&str>, oif: Option<u32>, metric: Option<u32>) -> Body {
    let n = net(p);
    let mut r = RouteMsg::new(n.network(), n.prefix_len());
    r.gateway = via.map(ip);
    r.oif = oif;
    r.metric = metric;
    Body::Route(r)
}

fn typed(p: &str, rtype: u8) -> Body {
    let n = net(p);
    let mut r = RouteMsg::new(n.network(), n.prefix_len());
    r.rtype = rtype;
    Body::Route(r)
}

fn del(p: &str) -> Body {
    let n = net(p);
    let mut r = RouteMsg::new(n.network(), n.prefix_len());
    r.rtype = RTN_UNSPEC;
    r.protocol = RTPROT_UNSPEC;
    Body::Route(r)
}

fn addr(ifindex: u32, a: &str, len: u8) -> Body {
    Body::Addr(AddrMsg {
        ifindex,
        prefix_len: len,
        local: Some(ip(a)),
        label: None,
    })
}

fn neigh(ifindex: u32, a: &str, mac: Option<[u8; 6]>, state: u16) -> Body {
    Body::Neigh(NeighMsg {
        ifindex,
        state,
        dst: Some(ip(a)),
        lladdr: mac.map(MacAddr),
        probes: None,
    })
}

fn gw(port: u16, g: &str) -> Option<NextHop> {
    Some(NextHop::Gateway { port, gw: ip(g) })
}

#[test]
fn addresses_bring_their_routes() {
    let mut t = T::new();
    assert_eq!(t.lookup("10.0.1.1"), Some(NextHop::Local { port: 0 }));
    assert_eq!(t.lookup("10.0.2.9"), Some(NextHop::Connected { port: 1 }));
    assert_eq!(t.lookup("10.0.2.255"), Some(NextHop::Broadcast { port: 1 }));
    let shown: Vec<(u8, Ipv4Addr, u8)> = t
        .routes()
        .iter()
        .map(|r| (r.rtype, r.dst, r.dst_len))
        .collect();
    assert_eq!(
        shown,
        [
            (RTN_UNICAST, ip("10.0.1.0"), 24),
            (RTN_LOCAL, ip("10.0.1.1"), 32),
            (RTN_BROADCAST, ip("10.0.1.255"), 32),
            (RTN_UNICAST, ip("10.0.2.0"), 24),
            (RTN_LOCAL, ip("10.0.2.1"), 32),
            (RTN_BROADCAST, ip("10.0.2.255"), 32),
        ]
    );
    // The connected route names its source address, as `ip route` shows `src`.
    assert_eq!(t.routes()[0].prefsrc, Some(ip("10.0.1.1")));
    let ports = t.rtnl.shared.ports.load();
    assert_eq!(ports.get(1).map(|p| p.addr), Some(net("10.0.2.1/24")));
}

#[test]
fn route_add_exists_replace_append_prepend() {
    let mut t = T::new();
    let r = || route("10.9.0.0/16", Some("10.0.2.2"), None, None);
    t.ok(RTM_NEWROUTE, ADD, r());
    assert_eq!(t.lookup("10.9.1.1"), gw(1, "10.0.2.2"));
    // add (CREATE|EXCL) again: EEXIST.
    assert_eq!(t.errno(RTM_NEWROUTE, ADD, r()), errno::EEXIST);
    // An identical route without EXCL is EEXIST too (fib_table_insert).
    assert_eq!(t.errno(RTM_NEWROUTE, NLM_F_CREATE, r()), errno::EEXIST);
    // replace: the first route of that prefix and metric changes next hop.
    t.ok(
        RTM_NEWROUTE,
        NLM_F_CREATE | NLM_F_REPLACE,
        route("10.9.0.0/16", Some("10.0.1.2"), None, None),
    );
    assert_eq!(t.lookup("10.9.1.1"), gw(0, "10.0.1.2"));
    // append: a second route of the same metric goes after it and is not used.
    t.ok(
        RTM_NEWROUTE,
        NLM_F_CREATE | NLM_F_APPEND,
        route("10.9.0.0/16", Some("10.0.2.3"), None, None),
    );
    assert_eq!(t.lookup("10.9.1.1"), gw(0, "10.0.1.2"));
    // prepend (CREATE alone): goes first and is used.
    t.ok(
        RTM_NEWROUTE,
        NLM_F_CREATE,
        route("10.9.0.0/16", Some("10.0.2.4"), None, None),
    );
    assert_eq!(t.lookup("10.9.1.1"), gw(1, "10.0.2.4"));
    let gws: Vec<Option<Ipv4Addr>> = t
        .routes()
        .iter()
        .filter(|r| r.dst == ip("10.9.0.0"))
        .map(|r| r.gateway)
        .collect();
    assert_eq!(
        gws,
        [
            Some(ip("10.0.2.4")),
            Some(ip("10.0.1.2")),
            Some(ip("10.0.2.3"))
        ]
    );
    // change (REPLACE without CREATE) of a missing route: ENOENT.
    assert_eq!(
        t.errno(
            RTM_NEWROUTE,
            NLM_F_REPLACE,
            route("10.8.0.0/16", Some("10.0.2.2"), None, None)
        ),
        errno::ENOENT
    );
    // A lower metric wins over metric 0 only if it is lower: metric 5 stays behind.
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.9.0.0/16", Some("10.0.1.9"), None, Some(5)),
    );
    assert_eq!(t.lookup("10.9.1.1"), gw(1, "10.0.2.4"));
}

#[test]
fn route_delete_matches_given_fields_and_missing_is_esrch() {
    let mut t = T::new();
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.9.0.0/16", Some("10.0.2.2"), None, None),
    );
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.9.0.0/16", Some("10.0.1.2"), None, Some(10)),
    );
    assert_eq!(t.errno(RTM_DELROUTE, 0, del("10.8.0.0/16")), errno::ESRCH);
    // Gateway and metric must match when given.
    assert_eq!(
        t.errno(
            RTM_DELROUTE,
            0,
            route("10.9.0.0/16", Some("10.0.2.9"), None, None)
        ),
        errno::ESRCH
    );
    let mut d = del("10.9.0.0/16");
    if let Body::Route(r) = &mut d {
        r.metric = Some(10);
    }
    t.ok(RTM_DELROUTE, 0, d.clone());
    assert_eq!(t.errno(RTM_DELROUTE, 0, d), errno::ESRCH);
    assert_eq!(t.lookup("10.9.1.1"), gw(1, "10.0.2.2"));
    // Without metric, the first matching route goes; then the prefix has none.
    t.ok(RTM_DELROUTE, 0, del("10.9.0.0/16"));
    assert_eq!(t.lookup("10.9.1.1"), None);
    assert_eq!(t.errno(RTM_DELROUTE, 0, del("10.9.0.0/16")), errno::ESRCH);
    // A kernel route can be deleted like any other (Linux allows it).
    t.ok(RTM_DELROUTE, 0, del("10.0.2.0/24"));
    assert_eq!(t.lookup("10.0.2.9"), None);
}

#[test]
fn route_checks_like_fib_check_nh() {
    let mut t = T::new();
    let cases = [
        // Gateway on no connected network.
        (
            route("10.9.0.0/16", Some("10.7.0.1"), None, None),
            errno::ENETUNREACH,
        ),
        // Gateway not on the given port's network.
        (
            route("10.9.0.0/16", Some("10.0.2.2"), Some(P0), None),
            errno::ENETUNREACH,
        ),
        // Unknown port.
        (
            route("10.9.0.0/16", Some("10.0.2.2"), Some(9), None),
            errno::ENODEV,
        ),
        // Our own address as gateway.
        (
            route("10.9.0.0/16", Some("10.0.2.1"), None, None),
            errno::EINVAL,
        ),
        // Unicast with neither gateway nor port.
        (route("10.9.0.0/16", None, None, None), errno::EINVAL),
        // Local routes follow addresses.
        (typed("10.9.9.9/32", RTN_LOCAL), errno::EOPNOTSUPP),
    ];
    for (body, want) in cases {
        assert_eq!(t.errno(RTM_NEWROUTE, ADD, body.clone()), want, "{body:?}");
    }
    let mut b = typed("10.9.0.0/16", RTN_BLACKHOLE);
    if let Body::Route(r) = &mut b {
        r.gateway = Some(ip("10.0.2.2"));
    }
    assert_eq!(t.errno(RTM_NEWROUTE, ADD, b), errno::EINVAL);
    // Nothing was published for the failures.
    let v = t.version();
    t.rtnl.publish_fib();
    assert_eq!(t.version(), v);
}

#[test]
fn blackhole_unreachable_prohibit_and_device_routes() {
    let mut t = T::new();
    t.ok(RTM_NEWROUTE, ADD, typed("10.61.0.0/16", RTN_BLACKHOLE));
    t.ok(RTM_NEWROUTE, ADD, typed("10.62.0.0/16", RTN_UNREACHABLE));
    t.ok(RTM_NEWROUTE, ADD, typed("10.63.0.0/16", RTN_PROHIBIT));
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.64.0.0/16", None, Some(P1), None),
    );
    assert_eq!(t.lookup("10.61.0.1"), Some(NextHop::Blackhole));
    assert_eq!(t.lookup("10.62.0.1"), Some(NextHop::Unreachable));
    assert_eq!(t.lookup("10.63.0.1"), Some(NextHop::Prohibit));
    assert_eq!(t.lookup("10.64.0.1"), Some(NextHop::Connected { port: 1 }));
    // Delete by type: the wrong type does not match.
    let mut d = del("10.61.0.0/16");
    if let Body::Route(r) = &mut d {
        r.rtype = RTN_PROHIBIT;
    }
    assert_eq!(t.errno(RTM_DELROUTE, 0, d), errno::ESRCH);
}

#[test]
fn route_get_is_the_workers_longest_match() {
    let mut t = T::new();
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.9.0.0/16", Some("10.0.2.2"), None, None),
    );
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.9.1.0/24", Some("10.0.1.2"), None, None),
    );
    let get = |t: &mut T, a: &str| {
        let out = t.req(RTM_GETROUTE, 0, Body::Route(RouteMsg::new(ip(a), 32)))?;
        match &out[..] {
            [Message {
                body: Body::Route(r),
                ..
            }] => Ok::<RouteMsg, ApiError>(r.clone()),
            other => panic!("{other:?}"),
        }
    };
    let r = get(&mut t, "10.9.1.7").unwrap();
    assert_eq!(
        (r.gateway, r.oif, r.prefsrc),
        (Some(ip("10.0.1.2")), Some(P0), Some(ip("10.0.1.1")))
    );
    let r = get(&mut t, "10.9.2.7").unwrap();
    assert_eq!((r.gateway, r.oif), (Some(ip("10.0.2.2")), Some(P1)));
    let r = get(&mut t, "10.0.1.1").unwrap();
    assert_eq!(r.rtype, RTN_LOCAL);
    assert_eq!(
        get(&mut t, "172.16.0.1").unwrap_err().errno,
        errno::ENETUNREACH
    );
    assert_eq!(
        t.errno(
            RTM_GETROUTE,
            0,
            Body::Route(RouteMsg::new(ip("10.9.0.0"), 16))
        ),
        errno::EINVAL
    );
}

#[test]
fn dump_filtered_by_prefix() {
    let mut t = T::new();
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.9.0.0/16", Some("10.0.2.2"), None, None),
    );
    let out = t.ok(
        RTM_GETROUTE,
        NLM_F_DUMP,
        Body::Route(RouteMsg::new(ip("10.9.0.0"), 16)),
    );
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[1].kind, NLMSG_DONE);
}

#[test]
fn many_changes_one_version() {
    let mut t = T::new();
    let v = t.version();
    for i in 0..200u32 {
        let p = format!("10.{}.{}.0/24", 100 + i / 256, i % 256);
        t.ok(RTM_NEWROUTE, ADD, route(&p, Some("10.0.2.2"), None, None));
    }
    assert_eq!(t.rtnl.pending_changes(), 200);
    assert_eq!(t.version(), v, "nothing published before publish_fib");
    t.rtnl.publish_fib();
    assert_eq!(t.version(), v + 1);
    assert_eq!(t.rtnl.pending_changes(), 0);
    // Nothing changed: no new version.
    t.rtnl.publish_fib();
    assert_eq!(t.version(), v + 1);
}

fn batch(t: &mut T, msgs: Vec<(u16, u16, Body)>) -> Vec<Message> {
    let begin = Header {
        kind: FR_BATCH_BEGIN,
        flags: NLM_F_REQUEST,
        seq: 100,
        ..Header::default()
    };
    let end = Header {
        kind: FR_BATCH_END,
        flags: NLM_F_REQUEST | NLM_F_ACK,
        seq: 200,
        ..Header::default()
    };
    let msgs: Vec<Item> = msgs
        .into_iter()
        .enumerate()
        .map(|(i, (k, f, b))| Ok(Message::new(k, f | NLM_F_REQUEST, 101 + i as u32, b)))
        .collect();
    let mut out = Vec::new();
    let mut env = TableEnv {
        table: &mut t.table,
        actions: &mut t.actions,
    };
    t.rtnl.handle_batch(&begin, &msgs, &end, &mut env, &mut out);
    out
}

fn errnos(out: &[Message]) -> Vec<(u32, i32)> {
    out.iter()
        .map(|m| match m.body {
            Body::Error { errno, .. } => (m.seq, errno),
            _ => panic!("{m:?}"),
        })
        .collect()
}

#[test]
fn batch_is_all_or_nothing_and_one_version() {
    let mut t = T::new();
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.5.0.0/16", Some("10.0.2.2"), None, None),
    );
    t.rtnl.publish_fib();
    let v = t.version();
    // The third message fails (EEXIST): the first two and the delete are undone.
    let out = batch(
        &mut t,
        vec![
            (
                RTM_NEWROUTE,
                ADD,
                route("10.6.0.0/16", Some("10.0.2.2"), None, None),
            ),
            (RTM_DELROUTE, 0, del("10.5.0.0/16")),
            (
                RTM_NEWROUTE,
                ADD,
                route("10.0.1.0/24", Some("10.0.2.2"), None, None),
            ),
            (
                RTM_NEWROUTE,
                ADD,
                route("10.7.0.0/16", Some("10.0.2.2"), None, None),
            ),
        ],
    );
    assert_eq!(errnos(&out), [(103, errno::EEXIST), (200, errno::EEXIST)]);
    t.rtnl.publish_fib();
    assert_eq!(t.version(), v, "a failed batch publishes nothing");
    assert_eq!(t.lookup("10.6.0.1"), None);
    assert_eq!(t.lookup("10.5.0.1"), gw(1, "10.0.2.2"));
    // Only routes may be batched.
    let out = batch(&mut t, vec![(RTM_NEWADDR, ADD, addr(P0, "10.0.3.1", 24))]);
    assert_eq!(
        errnos(&out),
        [(101, errno::EOPNOTSUPP), (200, errno::EOPNOTSUPP)]
    );
    // A good batch: acked at END, one new version.
    let out = batch(
        &mut t,
        vec![
            (
                RTM_NEWROUTE,
                ADD,
                route("10.6.0.0/16", Some("10.0.2.2"), None, None),
            ),
            (RTM_DELROUTE, 0, del("10.5.0.0/16")),
        ],
    );
    assert_eq!(errnos(&out), [(200, 0)]);
    t.rtnl.publish_fib();
    assert_eq!(t.version(), v + 1);
    assert_eq!(t.lookup("10.6.0.1"), gw(1, "10.0.2.2"));
    assert_eq!(t.lookup("10.5.0.1"), None);
}

#[test]
fn address_add_and_delete_paths() {
    let mut t = T::new();
    assert_eq!(
        t.errno(RTM_NEWADDR, ADD, addr(P0, "10.0.1.1", 24)),
        errno::EEXIST
    );
    // replace of an existing address is fine; change of a missing one ENOENT.
    t.ok(
        RTM_NEWADDR,
        NLM_F_CREATE | NLM_F_REPLACE,
        addr(P0, "10.0.1.1", 24),
    );
    assert_eq!(
        t.errno(RTM_NEWADDR, NLM_F_REPLACE, addr(P0, "10.0.3.1", 24)),
        errno::ENOENT
    );
    assert_eq!(
        t.errno(RTM_NEWADDR, ADD, addr(P1, "10.0.1.7", 24)),
        errno::EINVAL,
        "overlap"
    );
    assert_eq!(
        t.errno(RTM_NEWADDR, ADD, addr(P1, "10.0.5.0", 24)),
        errno::EINVAL,
        "network address"
    );
    assert_eq!(
        t.errno(RTM_NEWADDR, ADD, addr(9, "10.0.5.1", 24)),
        errno::ENODEV
    );
    // A second subnet on port 0: routes, a route through it, a static neighbour on it.
    t.ok(RTM_NEWADDR, ADD, addr(P0, "10.0.3.1", 24));
    assert_eq!(t.lookup("10.0.3.1"), Some(NextHop::Local { port: 0 }));
    assert_eq!(t.lookup("10.0.3.7"), Some(NextHop::Connected { port: 0 }));
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.9.0.0/16", Some("10.0.3.2"), None, None),
    );
    assert_eq!(t.lookup("10.9.0.1"), gw(0, "10.0.3.2"));
    t.ok(
        RTM_NEWNEIGH,
        ADD,
        neigh(P0, "10.0.3.2", Some([2, 0, 0, 0, 3, 2]), NUD_PERMANENT),
    );
    let ports = t.rtnl.shared.ports.load();
    assert!(
        ports.get(0).is_some_and(|p| p.owns(ip("10.0.3.1"))),
        "ARP answers for it"
    );
    drop(ports);
    // Delete it: its routes, the route through it and the neighbour go.
    assert_eq!(
        t.errno(RTM_DELADDR, 0, addr(P0, "10.0.3.9", 24)),
        errno::EADDRNOTAVAIL
    );
    t.ok(RTM_DELADDR, 0, addr(P0, "10.0.3.1", 24));
    assert_eq!(t.lookup("10.0.3.7"), None);
    assert_eq!(t.lookup("10.9.0.1"), None);
    assert!(t.table.get(NeighKey::new(0, ip("10.0.3.2"))).is_none());
    // The last address of a port stays.
    assert_eq!(
        t.errno(RTM_DELADDR, 0, addr(P0, "10.0.1.1", 24)),
        errno::EBUSY
    );
    let out = t.ok(RTM_GETADDR, NLM_F_DUMP, addr(0, "0.0.0.0", 0));
    assert_eq!(out.len(), 3, "two addresses and DONE: {out:?}");
}

#[test]
fn neighbour_paths() {
    let mut t = T::new();
    let mac = Some([2, 0, 0, 0, 2, 7]);
    t.ok(RTM_NEWNEIGH, ADD, neigh(P1, "10.0.2.7", mac, NUD_PERMANENT));
    assert_eq!(
        t.table
            .get(NeighKey::new(1, ip("10.0.2.7")))
            .map(|n| n.state),
        Some(NeighState::Permanent)
    );
    assert_eq!(
        t.errno(RTM_NEWNEIGH, ADD, neigh(P1, "10.0.2.7", mac, NUD_PERMANENT)),
        errno::EEXIST
    );
    t.ok(
        RTM_NEWNEIGH,
        NLM_F_CREATE | NLM_F_REPLACE,
        neigh(P1, "10.0.2.7", Some([2, 0, 0, 0, 2, 8]), 0),
    );
    assert_eq!(
        t.errno(RTM_NEWNEIGH, NLM_F_REPLACE, neigh(P1, "10.0.2.8", mac, 0)),
        errno::ENOENT
    );
    // Without a port: the one whose subnet holds the address.
    t.ok(RTM_NEWNEIGH, ADD, neigh(0, "10.0.1.9", mac, NUD_PERMANENT));
    assert!(t.table.get(NeighKey::new(0, ip("10.0.1.9"))).is_some());
    for (body, want) in [
        (neigh(P1, "10.0.1.9", mac, 0), errno::EINVAL), // off the port's subnet
        (neigh(P1, "10.0.2.1", mac, 0), errno::EINVAL), // our address
        (neigh(P1, "10.0.2.9", None, 0), errno::EINVAL), // no MAC
        (
            neigh(P1, "10.0.2.9", Some([1, 0, 0, 0, 0, 1]), 0),
            errno::EINVAL,
        ), // multicast
        (neigh(P1, "10.0.2.9", mac, NUD_REACHABLE), errno::EOPNOTSUPP),
        (neigh(9, "10.0.2.9", mac, 0), errno::ENODEV),
    ] {
        assert_eq!(t.errno(RTM_NEWNEIGH, ADD, body.clone()), want, "{body:?}");
    }
    // A learned entry shows up in the dump with its state.
    let k = NeighKey::new(1, ip("10.0.2.2"));
    t.table.on_arp(
        0,
        k,
        MacAddr([2, 0, 0, 0, 2, 2]),
        ArpKind::Request,
        &mut t.actions,
    );
    let out = t.ok(RTM_GETNEIGH, NLM_F_DUMP, Body::Neigh(NeighMsg::default()));
    let states: Vec<(Option<Ipv4Addr>, u16)> = out
        .iter()
        .filter_map(|m| match &m.body {
            Body::Neigh(n) => Some((n.dst, n.state)),
            _ => None,
        })
        .collect();
    assert!(
        states.contains(&(Some(ip("10.0.2.2")), NUD_STALE)),
        "{states:?}"
    );
    assert!(
        states.contains(&(Some(ip("10.0.2.7")), NUD_PERMANENT)),
        "{states:?}"
    );
    t.ok(RTM_DELNEIGH, 0, neigh(P1, "10.0.2.7", None, 0));
    assert_eq!(
        t.errno(RTM_DELNEIGH, 0, neigh(P1, "10.0.2.7", None, 0)),
        errno::ENOENT
    );
    assert_eq!(
        t.errno(RTM_DELNEIGH, 0, Body::Neigh(NeighMsg::default())),
        errno::EINVAL,
        "no address"
    );
}

fn link(ifindex: u32, up: Option<bool>, mtu: Option<u32>) -> Body {
    Body::Link(LinkMsg {
        ifindex,
        flags: if up == Some(true) { IFF_UP } else { 0 },
        change: if up.is_some() { IFF_UP } else { 0 },
        mtu,
        ..LinkMsg::default()
    })
}

#[test]
fn link_mtu_and_admin_state() {
    let mut t = T::new();
    t.ok(RTM_NEWLINK, 0, link(P1, None, Some(1280)));
    assert_eq!(
        t.rtnl.shared.ports.load().get(1).map(|p| p.mtu),
        Some(1500),
        "published later"
    );
    t.rtnl.publish_fib();
    assert_eq!(t.rtnl.shared.ports.load().get(1).map(|p| p.mtu), Some(1280));
    assert_eq!(
        t.errno(RTM_NEWLINK, 0, link(P1, None, Some(67))),
        errno::EINVAL
    );
    assert_eq!(
        t.errno(RTM_NEWLINK, 0, link(9, None, Some(1280))),
        errno::ENODEV
    );
    let mut bad = LinkMsg {
        ifindex: P1,
        change: 0x100,
        ..LinkMsg::default()
    };
    assert_eq!(
        t.errno(RTM_NEWLINK, 0, Body::Link(bad.clone())),
        errno::EOPNOTSUPP
    );
    bad.change = 0;
    bad.ifindex = 0;
    bad.name = Some("port1".into());
    bad.mtu = Some(1400);
    t.ok(RTM_NEWLINK, 0, Body::Link(bad));
    // Down: the port's routes leave the FIB, static ones through it are deleted.
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.9.0.0/16", Some("10.0.2.2"), None, None),
    );
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.8.0.0/16", Some("10.0.1.2"), None, None),
    );
    t.ok(RTM_NEWLINK, 0, link(P1, Some(false), None));
    assert_eq!(t.lookup("10.0.2.9"), None);
    assert_eq!(t.lookup("10.9.0.1"), None);
    assert_eq!(t.lookup("10.8.0.1"), gw(0, "10.0.1.2"));
    assert_eq!(t.rtnl.shared.ports.load().get(1).map(|p| p.up), Some(false));
    // A route through a down port: ENETDOWN, or unreachable gateway without the port.
    assert_eq!(
        t.errno(
            RTM_NEWROUTE,
            ADD,
            route("10.9.0.0/16", Some("10.0.2.2"), Some(P1), None)
        ),
        errno::ENETDOWN
    );
    assert_eq!(
        t.errno(
            RTM_NEWROUTE,
            ADD,
            route("10.9.0.0/16", Some("10.0.2.2"), None, None)
        ),
        errno::ENETUNREACH
    );
    let out = t.ok(RTM_GETLINK, NLM_F_DUMP, Body::Link(LinkMsg::default()));
    let flags: Vec<u32> = out
        .iter()
        .filter_map(|m| match &m.body {
            Body::Link(l) => Some(l.flags & IFF_UP),
            _ => None,
        })
        .collect();
    assert_eq!(flags, [IFF_UP, 0]);
    // Up: the address routes come back, the deleted static route does not (Linux).
    t.ok(RTM_NEWLINK, 0, link(P1, Some(true), None));
    assert_eq!(t.lookup("10.0.2.9"), Some(NextHop::Connected { port: 1 }));
    assert_eq!(t.lookup("10.9.0.1"), None);
}

#[test]
fn qdiscs_are_installed_replaced_shown_and_deleted() {
    let mut t = T::new();
    let q = |kind: Option<&str>, tbf: Option<TbfSpec>| {
        Body::Qdisc(QdiscMsg {
            ifindex: P1,
            parent: TC_H_ROOT,
            kind: kind.map(String::from),
            tbf,
            ..QdiscMsg::default()
        })
    };
    // tc qdisc add dev port1 root tbf rate 20mbit burst 32kb latency 50ms
    let spec = TbfSpec {
        rate: 2_500_000,
        burst: 32768,
        latency_us: 50_000,
        limit: 0,
    };
    assert_eq!(
        t.errno(RTM_NEWQDISC, ADD, q(Some("htb"), Some(spec))),
        errno::EOPNOTSUPP
    );
    assert_eq!(
        t.errno(RTM_NEWQDISC, ADD, q(None, Some(spec))),
        errno::EINVAL
    );
    assert_eq!(
        t.errno(RTM_NEWQDISC, ADD, q(Some("tbf"), None)),
        errno::EINVAL
    );
    assert_eq!(
        t.errno(RTM_NEWQDISC, NLM_F_REPLACE, q(Some("tbf"), Some(spec))),
        errno::ENOENT
    );
    assert_eq!(t.errno(RTM_DELQDISC, 0, q(None, None)), errno::ENOENT);
    // Checked as the config file's [[qdisc]]: a burst below the largest frame (1514),
    // latency and limit both, a rate out of range.
    for bad in [
        TbfSpec {
            burst: 1500,
            ..spec
        },
        TbfSpec {
            limit: 100_000,
            ..spec
        },
        TbfSpec { rate: 100, ..spec },
    ] {
        let e = t.err(RTM_NEWQDISC, ADD, q(Some("tbf"), Some(bad)));
        assert_eq!(e.errno, errno::EINVAL, "{bad:?}: {e}");
    }
    let e = t.err(
        RTM_NEWQDISC,
        ADD,
        q(
            Some("tbf"),
            Some(TbfSpec {
                burst: 1500,
                ..spec
            }),
        ),
    );
    assert!(
        e.msg.contains("tbf burst: 1500 bytes is out of range"),
        "{e}"
    );
    assert!(t.rtnl.qdiscs().is_empty());

    t.ok(RTM_NEWQDISC, ADD, q(Some("tbf"), Some(spec)));
    assert_eq!(
        t.errno(RTM_NEWQDISC, ADD, q(Some("tbf"), Some(spec))),
        errno::EEXIST
    );
    // The workers' table has it, limit derived as tc does.
    let b = t.rtnl.shared.qdisc.get(1).expect("installed in Shared");
    assert_eq!(b.params.rate, 20_000_000);
    assert_eq!(b.params.limit, 157_768);
    // Shown with the limit in force and the latency it came from.
    let out = t.ok(RTM_GETQDISC, NLM_F_DUMP, Body::Qdisc(QdiscMsg::default()));
    assert_eq!(out.len(), 2, "one qdisc and DONE");
    let Body::Qdisc(shown) = &out[0].body else {
        panic!("{out:?}")
    };
    assert_eq!(shown.ifindex, P1);
    assert_eq!(
        shown.tbf,
        Some(TbfSpec {
            limit: 157_768,
            ..spec
        })
    );
    // change (REPLACE without CREATE) to a byte limit: a new bucket for the workers.
    let by_limit = TbfSpec {
        rate: 1_250_000,
        burst: 16384,
        latency_us: 0,
        limit: 64_000,
    };
    t.ok(RTM_NEWQDISC, NLM_F_REPLACE, q(Some("tbf"), Some(by_limit)));
    let b2 = t.rtnl.shared.qdisc.get(1).expect("replaced");
    assert!(!Arc::ptr_eq(&b, &b2));
    assert_eq!((b2.params.rate, b2.params.limit), (10_000_000, 64_000));
    let filtered = Body::Qdisc(QdiscMsg {
        ifindex: P0,
        ..QdiscMsg::default()
    });
    assert_eq!(
        t.ok(RTM_GETQDISC, NLM_F_DUMP, filtered).len(),
        1,
        "port0 has none"
    );
    // del: gone from the API and from the workers' table.
    t.ok(RTM_DELQDISC, 0, q(None, None));
    assert!(t.rtnl.shared.qdisc.get(1).is_none());
    let out = t.ok(RTM_GETQDISC, NLM_F_DUMP, Body::Qdisc(QdiscMsg::default()));
    assert_eq!(out.len(), 1, "only DONE");
}

#[test]
fn requests_that_are_not_requests() {
    let mut t = T::new();
    assert_eq!(t.errno(NLMSG_DONE, 0, Body::Empty), errno::EINVAL);
    assert_eq!(t.errno(FR_BATCH_END, 0, Body::Empty), errno::EINVAL);
    assert_eq!(
        t.errno(FR_GETCONFIG, 0, Body::Empty),
        errno::EOPNOTSUPP,
        "no base config"
    );
    let out = t.ok(FR_GETSTATUS, 0, Body::Empty);
    match &out[0].body {
        Body::Text(s) => assert!(
            s.contains("port port1 id 1 link up") && s.contains("ready yes"),
            "{s}"
        ),
        b => panic!("{b:?}"),
    }
    // Without NLM_F_ACK a successful change is silent; errors are always answered.
    let mut out = Vec::new();
    let m = Message::new(
        RTM_NEWROUTE,
        NLM_F_REQUEST | ADD,
        77,
        route("10.9.0.0/16", Some("10.0.2.2"), None, None),
    );
    let mut env = TableEnv {
        table: &mut t.table,
        actions: &mut t.actions,
    };
    t.rtnl.handle(&m, &mut env, &mut out);
    assert!(out.is_empty());
    t.rtnl.handle(&m, &mut env, &mut out);
    assert_eq!(errnos(&out), [(77, errno::EEXIST)]);
}

const BASE: &str = r#"
[control]
socket = "/tmp/ferroute-unit.sock"
[[port]]
name = "port0"
devargs = "net_tap0,iface=ftap0"
address = "10.0.1.1/24"
[[port]]
name = "port1"
devargs = "net_tap1,iface=ftap1"
address = "10.0.2.1/24"
mtu = 9000
[[worker]]
lcore = 1
rx = ["port0:0", "port1:0"]
[[address]]
port = "port1"
address = "10.0.4.1/24"
[[route]]
prefix = "10.9.0.0/16"
via = "10.0.2.2"
[[route]]
prefix = "10.9.0.0/16"
via = "10.0.4.2"
[[route]]
prefix = "0.0.0.0/0"
type = "blackhole"
metric = 100
[[neighbor]]
address = "10.0.2.2"
mac = "02:00:00:00:02:02"
[[qdisc]]
port = "port1"
kind = "tbf"
rate = "20mbit"
burst = "64kb"
latency = "50ms"
"#;

/// A router state as `router::run` builds it from config text, without DPDK.
fn from_config(text: &str) -> T {
    let cfg = Config::parse(text, "unit.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    let ports = cfg
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| PortState {
            mtu: p.mtu,
            ..port(i as u16)
        })
        .collect();
    let mut t = T {
        rtnl: Rtnl::new(shared(), ports),
        table: NeighTable::new(NeighParams::default()),
        actions: Vec::new(),
        seq: 0,
    };
    t.rtnl.base = Some(cfg.clone());
    let ids: Vec<u16> = (0..cfg.ports.len() as u16).collect();
    let mut env = TableEnv {
        table: &mut t.table,
        actions: &mut t.actions,
    };
    crate::router::apply_config(&cfg, &ids, &mut t.rtnl, &mut env).unwrap();
    t
}

fn dump_config(t: &mut T) -> String {
    match &t.ok(FR_GETCONFIG, 0, Body::Empty)[0].body {
        Body::Text(s) => s.clone(),
        b => panic!("{b:?}"),
    }
}

#[test]
fn config_is_applied_as_messages_in_one_version() {
    let mut t = from_config(BASE);
    assert_eq!(t.version(), 1, "the whole config is FIB version 1");
    assert_eq!(t.lookup("10.9.0.1"), gw(1, "10.0.2.2"));
    assert_eq!(t.lookup("10.0.4.9"), Some(NextHop::Connected { port: 1 }));
    assert_eq!(t.lookup("8.8.8.8"), Some(NextHop::Blackhole));
    assert_eq!(
        t.table
            .get(NeighKey::new(1, ip("10.0.2.2")))
            .map(|n| n.state),
        Some(NeighState::Permanent)
    );
    let b = t.rtnl.shared.qdisc.get(1).expect("[[qdisc]] installed");
    assert_eq!(
        (b.params.rate, b.params.burst, b.params.latency_us),
        (20_000_000, 65536, Some(50_000))
    );
    // A config error names the key.
    let cfg = Config::parse(
        &BASE.replace(
            "10.0.2.2\"\n[[route]]",
            "10.0.2.2\"\nport = \"port1\"\n[[route]]",
        ),
        "u.toml",
    )
    .unwrap();
    let mut t2 = T {
        rtnl: Rtnl::new(shared(), vec![port(0), port(1)]),
        table: NeighTable::new(NeighParams::default()),
        actions: Vec::new(),
        seq: 0,
    };
    let mut env = TableEnv {
        table: &mut t2.table,
        actions: &mut t2.actions,
    };
    // Port 1 down before the routes: the route through it is refused with the key.
    t2.rtnl.handle(
        &Message::new(RTM_NEWLINK, NLM_F_REQUEST, 1, link(P1, Some(false), None)),
        &mut env,
        &mut Vec::new(),
    );
    let e = crate::router::apply_config(&cfg, &[0, 1], &mut t2.rtnl, &mut env).unwrap_err();
    assert!(
        e.starts_with("u.toml: route[0]: nexthop device port1 is not up (ENETDOWN)"),
        "{e}"
    );
}

#[test]
fn config_dump_reloaded_reproduces_the_state() {
    let mut t = from_config(BASE);
    // Runtime changes on top of the file.
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.77.0.0/16", Some("10.0.1.2"), Some(P0), Some(7)),
    );
    t.ok(
        RTM_NEWROUTE,
        NLM_F_CREATE | NLM_F_APPEND,
        route("10.77.0.0/16", Some("10.0.1.3"), None, Some(7)),
    );
    t.ok(RTM_NEWROUTE, ADD, typed("10.78.0.0/16", RTN_PROHIBIT));
    t.ok(
        RTM_NEWROUTE,
        ADD,
        route("10.79.0.0/16", None, Some(P0), None),
    );
    let hops = [
        hop(Some("10.0.1.2"), None, 1),
        hop(Some("10.0.2.2"), None, 3),
        hop(None, Some(P1), 2),
    ];
    t.ok(RTM_NEWROUTE, ADD, multipath("10.80.0.0/16", &hops));
    t.ok(RTM_DELROUTE, 0, del("0.0.0.0/0"));
    t.ok(RTM_NEWADDR, ADD, addr(P0, "10.0.3.1", 24));
    t.ok(
        RTM_NEWNEIGH,
        ADD,
        neigh(P0, "10.0.3.5", Some([2, 0, 0, 0, 3, 5]), NUD_PERMANENT),
    );
    t.ok(RTM_NEWLINK, 0, link(P0, None, Some(1400)));
    t.ok(
        RTM_NEWQDISC,
        ADD,
        Body::Qdisc(QdiscMsg {
            ifindex: P0,
            parent: TC_H_ROOT,
            kind: Some("tbf".into()),
            tbf: Some(TbfSpec {
                rate: 125_000,
                burst: 3000,
                latency_us: 0,
                limit: 10_000,
            }),
            ..QdiscMsg::default()
        }),
    );
    let text = dump_config(&mut t);
    let mut u = from_config(&text);
    assert_eq!(u.rtnl.qdiscs(), t.rtnl.qdiscs(), "{text}");
    assert_eq!(t.rtnl.qdiscs().len(), 2);
    assert_eq!(u.routes(), t.routes(), "{text}");
    assert_eq!(u.rtnl.ports(), t.rtnl.ports(), "{text}");
    let statics = |t: &T| -> Vec<(NeighKey, Option<MacAddr>)> {
        t.table
            .dump()
            .into_iter()
            .filter(|n| n.state == NeighState::Permanent)
            .map(|n| (n.key, n.mac))
            .collect()
    };
    assert_eq!(statics(&u), statics(&t));
    // Dumping the reloaded state gives the same file (a fixed point).
    assert_eq!(dump_config(&mut u), text);
    // A port left down is dumped as such and restarts down.
    t.ok(RTM_NEWLINK, 0, link(P1, Some(false), None));
    let text = dump_config(&mut t);
    assert!(text.contains("up = false"), "{text}");
    let mut u = from_config(&text);
    assert_eq!(u.routes(), t.routes());
    assert_eq!(u.rtnl.ports(), t.rtnl.ports());
}

// --- multipath (RTA_MULTIPATH) ------------------------------------------------------

fn hop(via: Option<&str>, oif: Option<u32>, weight: u16) -> RtNexthop {
    RtNexthop {
        gateway: via.map(ip),
        oif,
        weight,
    }
}

fn multipath(p: &str, hops: &[RtNexthop]) -> Body {
    let n = net(p);
    let mut r = RouteMsg::new(n.network(), n.prefix_len());
    r.multipath = hops.to_vec();
    Body::Route(r)
}

impl T {
    /// The member each of 1000 UDP flows to `dst` takes (None: no route).
    fn paths(&mut self, dst: &str) -> Vec<Option<NextHop>> {
        self.rtnl.publish_fib();
        let fib = self.rtnl.shared.fib.load();
        let d = u32::from(ip(dst));
        (0..1000u16)
            .map(|sport| {
                let h = crate::fib::flow::hash_tuple(0x0a00_0102, d, 17, 10_000 + sport, 53);
                fib.pick(fib.lookup(d), h)
            })
            .collect()
    }
}

fn share(paths: &[Option<NextHop>], nh: Option<NextHop>) -> f64 {
    paths.iter().filter(|&&p| p == nh).count() as f64 / paths.len() as f64
}

#[test]
fn multipath_route_is_installed_dumped_and_split_by_weight() {
    let mut t = T::new();
    let hops = [
        hop(Some("10.0.1.2"), None, 1),
        hop(Some("10.0.2.2"), Some(P1), 2),
    ];
    t.ok(RTM_NEWROUTE, ADD, multipath("10.7.0.0/16", &hops));
    assert!(matches!(t.lookup("10.7.1.1"), Some(NextHop::Group { .. })));
    let paths = t.paths("10.7.1.1");
    let one = share(&paths, gw(0, "10.0.1.2"));
    assert!((one - 1.0 / 3.0).abs() < 0.05, "{one}");
    assert!((share(&paths, gw(1, "10.0.2.2")) - 2.0 / 3.0).abs() < 0.05);
    // The dump names every member with its port, and nothing as the route's own.
    let r = t
        .routes()
        .into_iter()
        .find(|r| r.dst == ip("10.7.0.0"))
        .unwrap();
    assert_eq!((r.gateway, r.oif), (None, None));
    assert_eq!(
        r.multipath,
        [
            hop(Some("10.0.1.2"), Some(P0), 1),
            hop(Some("10.0.2.2"), Some(P1), 2)
        ]
    );
    // The same again is EEXIST; one next hop is a plain route.
    assert_eq!(
        t.errno(RTM_NEWROUTE, ADD, multipath("10.7.0.0/16", &hops)),
        errno::EEXIST
    );
    t.ok(RTM_NEWROUTE, ADD, multipath("10.6.0.0/16", &hops[1..]));
    assert_eq!(t.lookup("10.6.0.1"), gw(1, "10.0.2.2"));
    // Deleted by prefix.
    t.ok(RTM_DELROUTE, 0, del("10.7.0.0/16"));
    assert_eq!(t.lookup("10.7.1.1"), None);
}

#[test]
fn bad_multipath_requests_are_einval_naming_the_next_hop() {
    let mut t = T::new();
    let a = hop(Some("10.0.1.2"), None, 1);
    let cases: &[(&[RtNexthop], i32, &str)] = &[
        (
            &[a, hop(Some("10.0.2.2"), None, 0)],
            errno::EINVAL,
            "nexthop 2: weight 0",
        ),
        (
            &[a, hop(Some("10.0.2.2"), None, 257)],
            errno::EINVAL,
            "1..=256",
        ),
        (
            &[a, hop(Some("10.0.1.2"), Some(P0), 3)],
            errno::EINVAL,
            "nexthop 2 duplicates nexthop 1",
        ),
        (
            &[a, hop(None, None, 1)],
            errno::EINVAL,
            "nexthop 2: needs a gateway",
        ),
        (
            &[a, hop(Some("10.0.1.1"), None, 1)],
            errno::EINVAL,
            "own address",
        ),
        (
            &[a, hop(Some("10.0.9.2"), None, 1)],
            errno::ENETUNREACH,
            "nexthop 2: gateway 10.0.9.2",
        ),
        (
            &[a, hop(Some("10.0.1.3"), Some(P1), 1)],
            errno::ENETUNREACH,
            "of port1",
        ),
        (
            &[a, hop(Some("10.0.2.2"), Some(9), 1)],
            errno::ENODEV,
            "index 9",
        ),
    ];
    for (hops, want, text) in cases {
        let e = t.err(RTM_NEWROUTE, ADD, multipath("10.7.0.0/16", hops));
        assert_eq!(e.errno, *want, "{hops:?}: {e}");
        assert!(e.msg.contains(text), "{hops:?}: {e} lacks {text:?}");
    }
    // RTA_GATEWAY/RTA_OIF beside RTA_MULTIPATH.
    let mut r = RouteMsg::new(ip("10.7.0.0"), 16);
    r.multipath = vec![a, hop(Some("10.0.2.2"), None, 1)];
    r.gateway = Some(ip("10.0.1.2"));
    let e = t.err(RTM_NEWROUTE, ADD, Body::Route(r));
    assert!(e.msg.contains("RTA_MULTIPATH"), "{e}");
    // A next hop without a gateway on a port with no connected network (a third port,
    // given no address).
    let mut t = T {
        rtnl: Rtnl::new(shared(), vec![port(0), port(1), port(2)]),
        table: NeighTable::new(NeighParams::default()),
        actions: Vec::new(),
        seq: 0,
    };
    t.ok(RTM_NEWADDR, ADD, addr(P0, "10.0.1.1", 24));
    let e = t.err(
        RTM_NEWROUTE,
        ADD,
        multipath("10.7.0.0/16", &[a, hop(None, Some(3), 1)]),
    );
    assert_eq!(e.errno, errno::EINVAL);
    assert!(e.msg.contains("port2 has no connected network"), "{e}");
    assert!(t.routes().iter().all(|r| r.dst != ip("10.7.0.0")));
}

#[test]
fn replacing_a_group_and_losing_a_port_move_only_the_flows_of_the_member() {
    let mut t = T::new();
    let (a, b) = (
        hop(Some("10.0.1.2"), None, 1),
        hop(Some("10.0.2.2"), None, 1),
    );
    let c = hop(Some("10.0.2.3"), None, 1);
    t.ok(RTM_NEWROUTE, ADD, multipath("10.7.0.0/16", &[a, b, c]));
    let three = t.paths("10.7.0.9");
    let (via_b, via_c) = (gw(1, "10.0.2.2"), gw(1, "10.0.2.3"));
    let replace = NLM_F_CREATE | NLM_F_REPLACE;
    // Replaced without c: only c's flows move.
    t.ok(RTM_NEWROUTE, replace, multipath("10.7.0.0/16", &[a, b]));
    let two = t.paths("10.7.0.9");
    for (x, y) in three.iter().zip(&two) {
        assert!(*x == via_c || x == y, "{x:?} moved to {y:?}");
    }
    // c back: it takes about its third, from both others.
    t.ok(RTM_NEWROUTE, replace, multipath("10.7.0.0/16", &[a, b, c]));
    let back = t.paths("10.7.0.9");
    let moved = two.iter().zip(&back).filter(|(x, y)| x != y).count();
    assert!(back.iter().zip(&two).all(|(y, x)| y == x || *y == via_c));
    assert!((280..=390).contains(&moved), "{moved} of 1000 flows moved");
    // port1 goes down: the route stays with a's buckets, b's and c's flows go to a;
    // back up, every flow is where it was.
    t.ok(RTM_NEWLINK, 0, link(P1, Some(false), None));
    assert!(t.paths("10.7.0.9").iter().all(|&p| p == gw(0, "10.0.1.2")));
    assert_eq!(
        t.routes()
            .iter()
            .filter(|r| r.dst == ip("10.7.0.0"))
            .count(),
        1
    );
    t.ok(RTM_NEWLINK, 0, link(P1, Some(true), None));
    assert_eq!(t.paths("10.7.0.9"), back);
    assert!(share(&back, via_b) > 0.25);
    // All members dead (both ports down): the route is flushed, as in Linux.
    t.ok(RTM_NEWLINK, 0, link(P0, Some(false), None));
    t.ok(RTM_NEWLINK, 0, link(P1, Some(false), None));
    assert!(t.routes().iter().all(|r| r.dst != ip("10.7.0.0")));
}

#[test]
fn a_daemons_protocol_is_kept_and_matched_by_delete() {
    let mut t = T::new();
    let mut bird = route("10.9.0.0/16", Some("10.0.2.2"), None, Some(32));
    if let Body::Route(r) = &mut bird {
        r.protocol = 12; // RTPROT_BIRD
    }
    t.ok(RTM_NEWROUTE, ADD, bird.clone());
    let listed = t.routes();
    let r = listed.iter().find(|r| r.dst_len == 16).expect("listed");
    assert_eq!(r.protocol, 12, "proto bird survives the RIB");
    // A delete naming another protocol does not take it.
    let mut other = del("10.9.0.0/16");
    if let Body::Route(r) = &mut other {
        r.protocol = 11;
    }
    assert_eq!(t.errno(RTM_DELROUTE, 0, other), errno::ESRCH);
    let mut same = del("10.9.0.0/16");
    if let Body::Route(r) = &mut same {
        r.protocol = 12;
    }
    t.ok(RTM_DELROUTE, 0, same);
    assert_eq!(t.lookup("10.9.1.1"), None);
}
