use super::*;

#[test]
fn protocols_keep_their_number_and_iproute2_name() {
    assert_eq!(Proto::from_num(2), Proto::Kernel);
    assert_eq!(Proto::from_num(4), Proto::Static);
    assert_eq!(Proto::from_num(12), Proto::Other(12));
    for n in 0..=255u8 {
        assert_eq!(Proto::from_num(n).num(), n);
    }
    assert_eq!(Proto::name_of(12), Some("bird"));
    assert_eq!(Proto::name_of(11), Some("zebra"));
    assert_eq!(Proto::name_of(77), None);
    assert_eq!(Proto::parse_num("bird"), Some(12));
    assert_eq!(Proto::parse_num("186"), Some(186));
    assert_eq!(Proto::parse_num("birdd"), None);
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn rib() -> Rib {
    let mut rib = Rib::new();
    for (p, port) in [("10.0.1.0/24", 0), ("10.0.2.0/24", 1)] {
        rib.insert(Route {
            prefix: net(p),
            target: RouteTarget::Connected { port },
            metric: 0,
            proto: Proto::Kernel,
        });
    }
    rib.insert(Route {
        prefix: net("10.0.1.1/32"),
        target: RouteTarget::Local { port: 0 },
        metric: 0,
        proto: Proto::Kernel,
    });
    rib
}

#[test]
fn gateway_without_port_resolves_through_connected_subnet() {
    let mut rib = rib();
    rib.insert(Route {
        prefix: net("192.0.2.0/24"),
        target: RouteTarget::Gateway {
            gw: "10.0.2.2".parse().unwrap(),
            port: None,
        },
        metric: 0,
        proto: Proto::Static,
    });
    let fib = rib.build_fib(1);
    assert_eq!(
        fib.lookup(u32::from(Ipv4Addr::new(192, 0, 2, 7))),
        Some(NextHop::Gateway {
            port: 1,
            gw: "10.0.2.2".parse().unwrap()
        })
    );
    assert_eq!(
        fib.lookup(u32::from(Ipv4Addr::new(10, 0, 1, 1))),
        Some(NextHop::Local { port: 0 })
    );
    assert_eq!(
        fib.lookup(u32::from(Ipv4Addr::new(10, 0, 1, 9))),
        Some(NextHop::Connected { port: 0 })
    );
    assert_eq!(fib.lookup(u32::from(Ipv4Addr::new(8, 8, 8, 8))), None);
}

#[test]
fn unresolvable_gateway_is_not_installed_and_lower_metric_wins() {
    let mut rib = rib();
    let p = net("0.0.0.0/0");
    rib.insert(Route {
        prefix: p,
        target: RouteTarget::Gateway {
            gw: "172.16.0.1".parse().unwrap(),
            port: None,
        },
        metric: 10,
        proto: Proto::Static,
    });
    assert_eq!(rib.build_fib(1).lookup(0x08080808), None);
    rib.insert(Route {
        prefix: p,
        target: RouteTarget::Blackhole,
        metric: 20,
        proto: Proto::Static,
    });
    // Metric 10 cannot resolve, so metric 20 is used.
    assert_eq!(
        rib.build_fib(2).lookup(0x08080808),
        Some(NextHop::Blackhole)
    );
    assert!(rib.remove(&p, 20));
    assert!(!rib.remove(&p, 20));
    assert_eq!(rib.lookup("8.8.8.8".parse().unwrap()).unwrap().metric, 10);
}

#[test]
fn gateway_resolution_uses_longest_best_connected_route() {
    let gw = |s: &str| RouteTarget::Gateway {
        gw: s.parse().unwrap(),
        port: None,
    };
    let mut rib = rib();
    for (p, target, metric) in [
        ("10.0.0.0/16", RouteTarget::Connected { port: 7 }, 0),
        ("198.51.100.0/24", gw("10.0.2.2"), 0),
        ("203.0.113.0/24", gw("10.0.9.9"), 0),
    ] {
        rib.insert(Route {
            prefix: net(p),
            target,
            metric,
            proto: Proto::Static,
        });
    }
    let fib = rib.build_fib(1);
    // 10.0.2.2 is in both 10.0.0.0/16 (port 7) and 10.0.2.0/24 (port 1): the /24 wins.
    assert_eq!(
        fib.lookup(0xc633_6401),
        Some(NextHop::Gateway {
            port: 1,
            gw: "10.0.2.2".parse().unwrap()
        })
    );
    assert_eq!(
        fib.lookup(0xcb00_7101),
        Some(NextHop::Gateway {
            port: 7,
            gw: "10.0.9.9".parse().unwrap()
        })
    );
    // A better (lower-metric) route of another kind on the /24 hides the subnet.
    rib.insert(Route {
        prefix: net("10.0.2.0/24"),
        target: RouteTarget::Blackhole,
        metric: 0,
        proto: Proto::Static,
    });
    assert!(!rib.connected().contains_key(&(0x0a00_0200, 24)));
    assert_eq!(
        rib.build_fib(2).lookup(0xc633_6401),
        Some(NextHop::Gateway {
            port: 7,
            gw: "10.0.2.2".parse().unwrap()
        })
    );
    // Without any covering connected route the gateway does not resolve.
    assert!(rib.remove(&net("10.0.0.0/16"), 0));
    assert_eq!(rib.build_fib(3).lookup(0xcb00_7101), None);
    assert_eq!(rib.connected().len(), 1); // 10.0.1.0/24
}

#[test]
fn rib_keeps_routes_per_prefix_and_counts_them() {
    let mut rib = Rib::new();
    let p = net("198.51.100.0/24");
    let r = |target, metric| Route {
        prefix: p,
        target,
        metric,
        proto: Proto::Static,
    };
    rib.insert(r(RouteTarget::Blackhole, 20));
    rib.insert(r(RouteTarget::Unreachable, 10));
    rib.insert(r(RouteTarget::Prohibit, 30));
    assert_eq!(rib.len(), 3);
    let metrics: Vec<u32> = rib.get(&p).iter().map(|r| r.metric).collect();
    assert_eq!(metrics, [10, 20, 30]);
    // Same metric: replaced, not added.
    rib.insert(r(RouteTarget::Blackhole, 10));
    assert_eq!(rib.len(), 3);
    assert_eq!(rib.get(&p)[0].target, RouteTarget::Blackhole);
    // `set` may hold several routes of one metric (APPEND); insert replaces them all.
    rib.set(
        &p,
        vec![
            r(RouteTarget::Connected { port: 3 }, 5),
            r(RouteTarget::Blackhole, 5),
        ],
    );
    assert_eq!(rib.len(), 2);
    assert_eq!(rib.connected().get(&(0xc633_6400, 24)), Some(&3));
    rib.insert(r(RouteTarget::Unreachable, 5));
    assert_eq!(rib.len(), 1);
    assert!(rib.connected().is_empty());
    assert!(rib.remove(&p, 5));
    assert!(!rib.remove(&p, 5));
    assert!(rib.is_empty() && rib.get(&p).is_empty());
    assert_eq!(rib.len(), 0);
    // Dumps come in prefix order.
    for s in ["10.0.0.0/8", "9.0.0.0/8", "10.0.0.0/16", "0.0.0.0/0"] {
        rib.insert(Route {
            prefix: net(s),
            ..r(RouteTarget::Blackhole, 0)
        });
    }
    let order: Vec<String> = rib.iter().map(|r| r.prefix.to_string()).collect();
    assert_eq!(
        order,
        ["0.0.0.0/0", "9.0.0.0/8", "10.0.0.0/8", "10.0.0.0/16"]
    );
}

#[test]
fn full_table_of_gateways_without_ports_builds_in_linear_time() {
    // Resolution used to scan every route per gateway: 100k routes took ~10^10 steps.
    let mut rib = rib();
    for i in 0..100_000u32 {
        rib.insert(Route {
            prefix: Ipv4Net::new(Ipv4Addr::from(0x2000_0000 + (i << 8)), 24).unwrap(),
            target: RouteTarget::Gateway {
                gw: Ipv4Addr::new(10, 0, 2, 2 + (i % 3) as u8),
                port: None,
            },
            metric: 0,
            proto: Proto::Static,
        });
    }
    let t = std::time::Instant::now();
    let fib = rib.build_fib(1);
    // Generous bound for a loaded machine and an unoptimised build; it takes well
    // under a second, the quadratic scan minutes.
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(fib.prefixes(), 100_003);
    assert_eq!(
        fib.lookup(0x2000_0105),
        Some(NextHop::Gateway {
            port: 1,
            gw: "10.0.2.3".parse().unwrap()
        })
    );
}

#[test]
fn burst_lookup_matches_single() {
    let fib = rib().build_fib(1);
    let dsts = [0x0a000101, 0x0a000105, 0x0a000205, 0x08080808];
    let mut out = [None; 4];
    fib.lookup_burst(&dsts, &mut out);
    let mut ids = [0; 4];
    fib.lookup_ids_burst(&dsts, &mut ids);
    for ((d, o), id) in dsts.iter().zip(out).zip(ids) {
        assert_eq!(fib.lookup(*d), o);
        assert_eq!(fib.lookup_id(*d), (id != u32::MAX).then_some(id));
        assert_eq!(fib.nexthop(id), o);
    }
    assert_eq!(ids[3], u32::MAX);
}

fn multipath(members: &[(&str, u16, u16)]) -> RouteTarget {
    let members = members
        .iter()
        .map(|&(gw, port, weight)| Member {
            gw: Some(gw.parse().unwrap()),
            port,
            weight,
        })
        .collect();
    RouteTarget::Multipath(Arc::new(Multipath::new(members)))
}

/// The member each of 128 flows to 192.0.2.0/24 takes.
fn paths(fib: &Fib) -> Vec<Option<NextHop>> {
    (0..128u16)
        .map(|sport| {
            let hash = flow::hash_tuple(0x0a00_0102, 0xc000_0207, 17, 1000 + sport, 53);
            fib.pick(fib.lookup(0xc000_0207), hash)
        })
        .collect()
}

#[test]
fn multipath_member_dies_with_its_subnet_and_comes_back() {
    let mut rib = rib();
    rib.insert(Route {
        prefix: net("10.0.3.0/24"),
        target: RouteTarget::Connected { port: 2 },
        metric: 0,
        proto: Proto::Kernel,
    });
    rib.insert(Route {
        prefix: net("192.0.2.0/24"),
        target: multipath(&[("10.0.2.2", 1, 1), ("10.0.3.2", 2, 1)]),
        metric: 0,
        proto: Proto::Static,
    });
    let (mut publisher, fib) = FibPublisher::new(&rib, 1);
    let swap = arc_swap::ArcSwap::new(fib);
    let both = paths(&swap.load());
    let via3 = NextHop::Gateway {
        port: 2,
        gw: "10.0.3.2".parse().unwrap(),
    };
    let on3 = both.iter().filter(|&&p| p == Some(via3)).count();
    assert!((40..=88).contains(&on3), "{on3} of 128 flows on 10.0.3.2");
    assert!(matches!(
        swap.load()
            .nexthop(swap.load().lookup_id(0xc000_0207).unwrap()),
        Some(NextHop::Group { .. })
    ));
    // Port 2's subnet goes (the port went down): only its flows move.
    assert!(rib.remove(&net("10.0.3.0/24"), 0));
    publisher.publish(&rib, &[net("10.0.3.0/24")], 2, &swap);
    let one = paths(&swap.load());
    for (a, b) in both.iter().zip(&one) {
        if *a != Some(via3) {
            assert_eq!(a, b, "a flow on the live member moved");
        } else {
            assert_ne!(b, &Some(via3));
        }
    }
    // It comes back: every flow is where it was.
    rib.insert(Route {
        prefix: net("10.0.3.0/24"),
        target: RouteTarget::Connected { port: 2 },
        metric: 0,
        proto: Proto::Kernel,
    });
    publisher.publish(&rib, &[net("10.0.3.0/24")], 3, &swap);
    assert_eq!(paths(&swap.load()), both);
    assert_eq!(paths(&rib.build_fib(4)), both);
    // Both dead: the route does not resolve; the blackhole behind it is used.
    rib.insert(Route {
        prefix: net("192.0.2.0/24"),
        target: RouteTarget::Blackhole,
        metric: 9,
        proto: Proto::Static,
    });
    for p in ["10.0.2.0/24", "10.0.3.0/24"] {
        assert!(rib.remove(&net(p), 0));
    }
    publisher.publish(&rib, &[net("192.0.2.0/24")], 5, &swap);
    assert_eq!(swap.load().lookup(0xc000_0207), Some(NextHop::Blackhole));
}

#[test]
fn route_display_is_iproute2_like() {
    let r = Route {
        prefix: net("10.9.0.0/16"),
        target: RouteTarget::Gateway {
            gw: "10.0.2.2".parse().unwrap(),
            port: Some(1),
        },
        metric: 5,
        proto: Proto::Static,
    };
    assert_eq!(
        r.to_string(),
        "10.9.0.0/16 via 10.0.2.2 dev 1 proto static metric 5"
    );
}
