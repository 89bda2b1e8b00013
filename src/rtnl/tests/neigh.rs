//! Neighbour handlers.
use super::*;

#[test]
fn neighbour_paths() {
    let mut t = T::new();
    let mac = Some([2, 0, 0, 0, 2, 7]);
    t.ok(
        RTM_NEWNEIGH,
        ADD,
        neigh(P1, "10.0.2.7", mac, Nud::Permanent),
    );
    assert_eq!(
        t.table
            .get(NeighKey::new(1, ip("10.0.2.7")))
            .map(|n| n.state),
        Some(NeighState::Permanent)
    );
    assert_eq!(
        t.errno(
            RTM_NEWNEIGH,
            ADD,
            neigh(P1, "10.0.2.7", mac, Nud::Permanent)
        ),
        errno::EEXIST
    );
    t.ok(
        RTM_NEWNEIGH,
        NLM_F_CREATE | NLM_F_REPLACE,
        neigh(P1, "10.0.2.7", Some([2, 0, 0, 0, 2, 8]), Nud::None),
    );
    assert_eq!(
        t.errno(
            RTM_NEWNEIGH,
            NLM_F_REPLACE,
            neigh(P1, "10.0.2.8", mac, Nud::None)
        ),
        errno::ENOENT
    );
    // Without a port: the one whose subnet holds the address.
    t.ok(RTM_NEWNEIGH, ADD, neigh(0, "10.0.1.9", mac, Nud::Permanent));
    assert!(t.table.get(NeighKey::new(0, ip("10.0.1.9"))).is_some());
    for (body, want) in [
        (neigh(P1, "10.0.1.9", mac, Nud::None), errno::EINVAL), // off the port's subnet
        (neigh(P1, "10.0.2.1", mac, Nud::None), errno::EINVAL), // our address
        (neigh(P1, "10.0.2.9", None, Nud::None), errno::EINVAL), // no MAC
        (
            neigh(P1, "10.0.2.9", Some([1, 0, 0, 0, 0, 1]), Nud::None),
            errno::EINVAL,
        ), // multicast
        (
            neigh(P1, "10.0.2.9", mac, Nud::Reachable),
            errno::EOPNOTSUPP,
        ),
        (neigh(9, "10.0.2.9", mac, Nud::None), errno::ENODEV),
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
    let states: Vec<(Option<Ipv4Addr>, Nud)> = out
        .iter()
        .filter_map(|m| match &m.body {
            Body::Neigh(n) => Some((n.dst, n.state)),
            _ => None,
        })
        .collect();
    assert!(
        states.contains(&(Some(ip("10.0.2.2")), Nud::Stale)),
        "{states:?}"
    );
    assert!(
        states.contains(&(Some(ip("10.0.2.7")), Nud::Permanent)),
        "{states:?}"
    );
    t.ok(RTM_DELNEIGH, 0, neigh(P1, "10.0.2.7", None, Nud::None));
    assert_eq!(
        t.errno(RTM_DELNEIGH, 0, neigh(P1, "10.0.2.7", None, Nud::None)),
        errno::ENOENT
    );
    assert_eq!(
        t.errno(RTM_DELNEIGH, 0, Body::Neigh(NeighMsg::default())),
        errno::EINVAL,
        "no address"
    );
}
