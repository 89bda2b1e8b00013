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

fn typed(p: &str, rtype: RouteType) -> Body {
    let n = net(p);
    let mut r = RouteMsg::new(n.network(), n.prefix_len());
    r.rtype = rtype;
    Body::Route(r)
}

fn del(p: &str) -> Body {
    let n = net(p);
    let mut r = RouteMsg::new(n.network(), n.prefix_len());
    r.rtype = RouteType::Unspec;
    r.protocol = Proto::Other(0);
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

fn neigh(ifindex: u32, a: &str, mac: Option<[u8; 6]>, state: Nud) -> Body {
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

fn link(ifindex: u32, up: Option<bool>, mtu: Option<u32>) -> Body {
    Body::Link(LinkMsg {
        ifindex,
        flags: if up == Some(true) { IFF_UP } else { 0 },
        change: if up.is_some() { IFF_UP } else { 0 },
        mtu,
        ..LinkMsg::default()
    })
}

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

mod addr;
mod config;
mod link;
mod multipath;
mod neigh;
mod qdisc;
mod route;
