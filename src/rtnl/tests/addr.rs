//! Address handlers and the routes each address brings.
use super::*;

#[test]
fn addresses_bring_their_routes() {
    let mut t = T::new();
    assert_eq!(t.lookup("10.0.1.1"), Some(NextHop::Local { port: 0 }));
    assert_eq!(t.lookup("10.0.2.9"), Some(NextHop::Connected { port: 1 }));
    assert_eq!(t.lookup("10.0.2.255"), Some(NextHop::Broadcast { port: 1 }));
    let shown: Vec<(RouteType, Ipv4Addr, u8)> = t
        .routes()
        .iter()
        .map(|r| (r.rtype, r.dst, r.dst_len))
        .collect();
    assert_eq!(
        shown,
        [
            (RouteType::Unicast, ip("10.0.1.0"), 24),
            (RouteType::Local, ip("10.0.1.1"), 32),
            (RouteType::Broadcast, ip("10.0.1.255"), 32),
            (RouteType::Unicast, ip("10.0.2.0"), 24),
            (RouteType::Local, ip("10.0.2.1"), 32),
            (RouteType::Broadcast, ip("10.0.2.255"), 32),
        ]
    );
    // The connected route names its source address, as `ip route` shows `src`.
    assert_eq!(t.routes()[0].prefsrc, Some(ip("10.0.1.1")));
    let ports = t.rtnl.shared.ports.load();
    assert_eq!(ports.get(1).map(|p| p.addr), Some(net("10.0.2.1/24")));
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
        neigh(P0, "10.0.3.2", Some([2, 0, 0, 0, 3, 2]), Nud::Permanent),
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
