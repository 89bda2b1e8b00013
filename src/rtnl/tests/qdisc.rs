//! Qdisc handlers.
use super::*;

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
