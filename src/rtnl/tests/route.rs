//! Route handlers: flags, errnos, checks, lookups, dumps, batches.
use super::*;

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
        (typed("10.9.9.9/32", RouteType::Local), errno::EOPNOTSUPP),
    ];
    for (body, want) in cases {
        assert_eq!(t.errno(RTM_NEWROUTE, ADD, body.clone()), want, "{body:?}");
    }
    let mut b = typed("10.9.0.0/16", RouteType::Blackhole);
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
    t.ok(
        RTM_NEWROUTE,
        ADD,
        typed("10.61.0.0/16", RouteType::Blackhole),
    );
    t.ok(
        RTM_NEWROUTE,
        ADD,
        typed("10.62.0.0/16", RouteType::Unreachable),
    );
    t.ok(
        RTM_NEWROUTE,
        ADD,
        typed("10.63.0.0/16", RouteType::Prohibit),
    );
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
        r.rtype = RouteType::Prohibit;
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
    assert_eq!(r.rtype, RouteType::Local);
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
