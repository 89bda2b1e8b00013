//! The server's units: batching, monitor subscriptions, neighbour calls.
use super::*;
use crate::datapath::Ports;
use crate::fib::Fib;
use crate::neigh::{NeighParams, NeighSnapshot, NeighTable};
use crate::rtnl::{PortState, TableEnv};
use crate::wire::MacAddr;
use arc_swap::ArcSwap;
use std::net::Ipv4Addr;

fn msg(kind: u16, flags: u16, seq: u32, body: Body) -> Message {
    Message::new(kind, flags | NLM_F_REQUEST, seq, body)
}

fn route(i: u32) -> Body {
    let mut r = RouteMsg::new(Ipv4Addr::from(0x6440_0000 + (i << 8)), 24);
    r.gateway = Some(Ipv4Addr::new(10, 0, 1, 2));
    Body::Route(r)
}

#[test]
fn batches_are_grouped_and_strays_answered() {
    let mut batch = None;
    let mut units = Vec::new();
    for item in [
        Ok(msg(FR_GETSTATUS, 0, 1, Body::Empty)),
        Ok(msg(FR_BATCH_BEGIN, 0, 2, Body::Empty)),
        Ok(msg(RTM_NEWROUTE, 0, 3, route(1))),
        Err((Header::default(), ApiError::inval("bad"))),
        Ok(msg(FR_BATCH_END, 0, 5, Body::Empty)),
        Ok(msg(FR_BATCH_END, 0, 6, Body::Empty)),
    ] {
        group(item, &mut batch, &mut units);
    }
    assert!(batch.is_none());
    assert!(matches!(&units[0], Unit::One(m) if m.seq == 1));
    assert!(matches!(&units[1], Unit::Batch { begin, msgs, end }
        if begin.seq == 2 && msgs.len() == 2 && end.seq == 5));
    // A stray END is a request like any other (the handler answers EINVAL).
    assert!(matches!(&units[2], Unit::One(m) if m.seq == 6));
}

#[test]
fn requests_arriving_together_are_one_fib_version_acked_after_it() {
    let shared = Arc::new(Shared {
        fib: ArcSwap::from_pointee(Fib::default()),
        neigh: ArcSwap::from_pointee(NeighSnapshot::default()),
        ports: ArcSwap::from_pointee(Ports::default()),
        qdisc: crate::datapath::qdisc::Qdiscs::new(1_000_000_000, 1, 8192),
        stop: AtomicBool::new(false),
        capture: Default::default(),
    });
    let port = PortState {
        id: 0,
        name: "port0".into(),
        mac: MacAddr([2, 0, 0, 0, 0, 1]),
        addrs: Vec::new(),
        mtu: 1500,
        up: true,
    };
    let mut rtnl = Rtnl::new(Arc::clone(&shared), vec![port]);
    let mut table: NeighTable<u32> = NeighTable::new(NeighParams::default());
    let mut actions = Vec::new();
    let (tx, rx) = mpsc::channel();
    let (reply_tx, reply_rx) = mpsc::channel();
    let addr = Body::Addr(AddrMsg {
        ifindex: 1,
        prefix_len: 24,
        local: Some(Ipv4Addr::new(10, 0, 1, 1)),
        label: None,
    });
    let create = NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
    let mut jobs = vec![Job {
        units: vec![Unit::One(msg(RTM_NEWADDR, create, 1, addr))],
        reply: reply_tx.clone(),
    }];
    for i in 0..50 {
        jobs.push(Job {
            units: vec![Unit::One(msg(RTM_NEWROUTE, create, 100 + i, route(i)))],
            reply: reply_tx.clone(),
        });
    }
    for j in jobs {
        tx.send(j).unwrap();
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (rtnl, stop) = (&mut rtnl, &stop);
        let h = s.spawn(move || {
            let mut env = TableEnv {
                table: &mut table,
                actions: &mut actions,
            };
            rtnl_loop(rtnl, &mut env, &rx, stop);
        });
        for _ in 0..51 {
            let Out::Reply(bytes) = reply_rx
                .recv_timeout(Duration::from_secs(5))
                .expect("reply")
            else {
                panic!("not a reply");
            };
            match Message::decode(&bytes) {
                Decoded::Msg(m, _) => {
                    assert!(matches!(m.body, Body::Error { errno: 0, .. }), "{m:?}");
                    // Acked only once published: the workers see it.
                    assert!(shared.fib.load().version >= 1);
                }
                other => panic!("{other:?}"),
            }
        }
        stop.store(true, Relaxed);
        h.join().unwrap();
    });
    assert_eq!(shared.fib.load().version, 1, "51 requests, one FIB version");
    assert_eq!(shared.fib.load().prefixes(), 53);
}

/// The notifications queued for a subscriber, decoded.
fn events(rx: &Receiver<Out>) -> Vec<Message> {
    let mut v = Vec::new();
    while let Ok(o) = rx.try_recv() {
        if let Out::Event(bytes, pending) = o {
            pending.fetch_sub(1, Relaxed);
            let mut at = 0;
            while let Decoded::Msg(m, n) = Message::decode(&bytes[at..]) {
                at += n;
                v.push(m);
            }
        }
    }
    v
}

#[test]
fn subscribers_get_what_changed_in_their_groups() {
    let shared = Arc::new(Shared {
        fib: ArcSwap::from_pointee(Fib::default()),
        neigh: ArcSwap::from_pointee(NeighSnapshot::default()),
        ports: ArcSwap::from_pointee(Ports::default()),
        qdisc: crate::datapath::qdisc::Qdiscs::new(1_000_000_000, 1, 8192),
        stop: AtomicBool::new(false),
        capture: Default::default(),
    });
    let port = PortState {
        id: 0,
        name: "port0".into(),
        mac: MacAddr([2, 0, 0, 0, 0, 1]),
        addrs: Vec::new(),
        mtu: 1500,
        up: true,
    };
    let mut rtnl = Rtnl::new(Arc::clone(&shared), vec![port]);
    let mut table: NeighTable<u32> = NeighTable::new(NeighParams::default());
    let mut actions = Vec::new();
    let mut env = TableEnv {
        table: &mut table,
        actions: &mut actions,
    };
    let mut mon = Monitor::default();
    let mut pending = Vec::new();
    let (client, _answers) = mpsc::channel();
    let mut run = |units: Vec<Unit>, reply: &Sender<Out>, mon: &mut Monitor| {
        let job = Job {
            units,
            reply: reply.clone(),
        };
        apply(&mut rtnl, &mut env, job, &mut pending, mon);
    };
    let (routes_tx, routes) = mpsc::channel();
    let (addrs_tx, addrs) = mpsc::channel();
    let sub = |g| Unit::One(msg(FR_MONITOR, NLM_F_ACK, 1, Body::Groups(g)));
    run(vec![sub(RTMGRP_IPV4_ROUTE)], &routes_tx, &mut mon);
    run(vec![sub(RTMGRP_IPV4_IFADDR)], &addrs_tx, &mut mon);
    let create = NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
    let addr = Body::Addr(AddrMsg {
        ifindex: 1,
        prefix_len: 24,
        local: Some(Ipv4Addr::new(10, 0, 1, 1)),
        label: None,
    });
    run(
        vec![Unit::One(msg(RTM_NEWADDR, create, 2, addr))],
        &client,
        &mut mon,
    );
    // The address, and its connected, local and broadcast routes.
    let a = events(&addrs);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].kind, RTM_NEWADDR);
    assert_eq!(a[0].seq, 0);
    let r = events(&routes);
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(r.iter().all(|m| m.kind == RTM_NEWROUTE));
    // A route, then its replacement: announced as the new route only; a failed
    // add (EEXIST) announces nothing.
    run(
        vec![Unit::One(msg(RTM_NEWROUTE, create, 3, route(1)))],
        &client,
        &mut mon,
    );
    run(
        vec![Unit::One(msg(RTM_NEWROUTE, create, 4, route(1)))],
        &client,
        &mut mon,
    );
    let mut other = RouteMsg::new(Ipv4Addr::from(0x6440_0100), 24);
    other.oif = Some(1);
    let replace = NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
    run(
        vec![Unit::One(msg(RTM_NEWROUTE, replace, 5, Body::Route(other)))],
        &client,
        &mut mon,
    );
    run(
        vec![Unit::One(msg(RTM_DELROUTE, NLM_F_ACK, 6, route(1)))],
        &client,
        &mut mon,
    );
    let r = events(&routes);
    let kinds: Vec<u16> = r.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, [RTM_NEWROUTE, RTM_NEWROUTE], "{r:?}");
    assert!(matches!(&r[1].body, Body::Route(x) if x.gateway.is_none() && x.oif == Some(1)));
    assert!(
        events(&addrs).is_empty(),
        "routes only for the route monitor"
    );
    // A subscriber that does not read: capped, then one ENOBUFS when it catches up.
    let (slow_tx, slow) = mpsc::channel();
    run(vec![sub(RTMGRP_IPV4_ROUTE)], &slow_tx, &mut mon);
    for i in 0..(monitor::MAX_PENDING as u32 + 10) {
        let r = route(10_000 + i);
        run(
            vec![Unit::One(msg(RTM_NEWROUTE, create, 7, r))],
            &client,
            &mut mon,
        );
    }
    let got = events(&slow);
    assert_eq!(got.len(), monitor::MAX_PENDING);
    run(
        vec![Unit::One(msg(RTM_NEWROUTE, create, 8, route(2)))],
        &client,
        &mut mon,
    );
    let got = events(&slow);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(matches!(
        got[0].body,
        Body::Error {
            errno: errno::ENOBUFS,
            ..
        }
    ));
    assert_eq!(got[1].kind, RTM_NEWROUTE);
}
