//! Link handlers: MTU and admin state.
use super::*;

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
