//! Multipath routes (RTA_MULTIPATH).
use super::*;

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
        r.protocol = Proto::from_num(12); // RTPROT_BIRD
    }
    t.ok(RTM_NEWROUTE, ADD, bird.clone());
    let listed = t.routes();
    let r = listed.iter().find(|r| r.dst_len == 16).expect("listed");
    assert_eq!(r.protocol.num(), 12, "proto bird survives the RIB");
    // A delete naming another protocol does not take it.
    let mut other = del("10.9.0.0/16");
    if let Body::Route(r) = &mut other {
        r.protocol = Proto::from_num(11);
    }
    assert_eq!(t.errno(RTM_DELROUTE, 0, other), errno::ESRCH);
    let mut same = del("10.9.0.0/16");
    if let Body::Route(r) = &mut same {
        r.protocol = Proto::from_num(12);
    }
    t.ok(RTM_DELROUTE, 0, same);
    assert_eq!(t.lookup("10.9.1.1"), None);
}
