//! RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE (`rtmsg` + RTA_*).
use super::*;

fn via(dst: &str, len: u8, gw: &str) -> Body {
    let mut r = RouteMsg::new(ip(dst), len);
    r.gateway = Some(ip(gw));
    Body::Route(r)
}

#[test]
fn route_add_with_ack() {
    Api::new().exchange(
        "route add 10.9.0.0/16 via 10.0.1.2",
        (
            RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            1,
            via("10.9.0.0", 16, "10.0.1.2"),
        ),
        "28000000 18000506 01000000 00000000 \
         02100000 fe040001 08000100 0a090000 \
         08000500 0a000102",
        "24000000 02000000 01000000 00000000 \
         00000000 00000000 18000506 01000000 \
         00000000",
    );
}

#[test]
fn route_add_every_attribute() {
    let mut r = RouteMsg::new(ip("10.8.0.0"), 24);
    r.gateway = Some(ip("10.0.2.9"));
    r.oif = Some(P1);
    r.metric = Some(50);
    r.prefsrc = Some(ip("10.0.2.1"));
    Api::new().exchange(
        "route add 10.8.0.0/24 via 10.0.2.9 dev port1 metric 50 src 10.0.2.1",
        (
            RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            2,
            Body::Route(r),
        ),
        "40000000 18000506 02000000 00000000 \
         02180000 fe040001 08000100 0a080000 \
         08000500 0a000209 08000400 02000000 \
         08000600 32000000 08000700 0a000201",
        "24000000 02000000 02000000 00000000 \
         00000000 00000000 18000506 02000000 \
         00000000",
    );
}

#[test]
fn route_add_blackhole() {
    let mut r = RouteMsg::new(ip("192.0.2.0"), 24);
    r.rtype = RouteType::Blackhole;
    Api::new().exchange(
        "route add blackhole 192.0.2.0/24",
        (
            RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            3,
            Body::Route(r),
        ),
        "20000000 18000506 03000000 00000000 \
         02180000 fe040006 08000100 c0000200",
        "24000000 02000000 03000000 00000000 \
         00000000 00000000 18000506 03000000 \
         00000000",
    );
}

#[test]
fn route_add_existing_is_eexist_with_message() {
    let mut api = Api::new();
    let add = (
        RTM_NEWROUTE,
        NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
        4,
        via("10.9.0.0", 16, "10.0.1.2"),
    );
    api.raw(&Message::new(add.0, add.1 | NLM_F_REQUEST, add.2, add.3.clone()).to_bytes());
    api.exchange(
        "route add twice",
        add,
        "28000000 18000506 04000000 00000000 \
         02100000 fe040001 08000100 0a090000 \
         08000500 0a000102",
        "40000000 02000000 04000000 00000000 \
         efffffff 00000000 18000506 04000000 \
         00000000 19000100 726f7574 6520616c \
         72656164 79206578 69737473 00000000",
    );
}

#[test]
fn route_del_missing_is_esrch() {
    Api::new().exchange(
        "route del 10.9.0.0/16",
        (
            RTM_DELROUTE,
            NLM_F_ACK,
            5,
            Body::Route(RouteMsg::new(ip("10.9.0.0"), 16)),
        ),
        "20000000 19000500 05000000 00000000 \
         02100000 fe040001 08000100 0a090000",
        "38000000 02000000 05000000 00000000 \
         fdffffff 00000000 19000500 05000000 \
         00000000 12000100 6e6f2073 75636820 \
         726f7574 65000000",
    );
}

#[test]
fn route_get_answers_the_route_used() {
    Api::new().exchange(
        "route get 10.0.2.77",
        (
            RTM_GETROUTE,
            0,
            6,
            Body::Route(RouteMsg::new(ip("10.0.2.77"), 32)),
        ),
        "20000000 1a000100 06000000 00000000 \
         02200000 fe040001 08000100 0a00024d",
        "30000000 18000000 06000000 00000000 \
         02200000 fe000001 08000100 0a00024d \
         08000400 02000000 08000700 0a000201",
    );
}

#[test]
fn route_dump() {
    let mut api = Api::new();
    let m = Message::new(
        RTM_NEWROUTE,
        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
        1,
        via("10.9.0.0", 16, "10.0.1.2"),
    );
    api.raw(&m.to_bytes());
    api.exchange(
        "route show",
        (
            RTM_GETROUTE,
            NLM_F_DUMP,
            7,
            Body::Route(RouteMsg::new(Ipv4Addr::UNSPECIFIED, 0)),
        ),
        "18000000 1a000103 07000000 00000000 \
         02000000 fe040001",
        "38000000 18000200 07000000 00000000 \
         02180000 fe02fd01 08000100 0a000100 \
         08000400 01000000 08000600 00000000 \
         08000700 0a000101 38000000 18000200 \
         07000000 00000000 02200000 fe02fe02 \
         08000100 0a000101 08000400 01000000 \
         08000600 00000000 08000700 0a000101 \
         38000000 18000200 07000000 00000000 \
         02200000 fe02fd03 08000100 0a0001ff \
         08000400 01000000 08000600 00000000 \
         08000700 0a000101 38000000 18000200 \
         07000000 00000000 02180000 fe02fd01 \
         08000100 0a000200 08000400 02000000 \
         08000600 00000000 08000700 0a000201 \
         38000000 18000200 07000000 00000000 \
         02200000 fe02fe02 08000100 0a000201 \
         08000400 02000000 08000600 00000000 \
         08000700 0a000201 38000000 18000200 \
         07000000 00000000 02200000 fe02fd03 \
         08000100 0a0002ff 08000400 02000000 \
         08000600 00000000 08000700 0a000201 \
         38000000 18000200 07000000 00000000 \
         02100000 fe040001 08000100 0a090000 \
         08000500 0a000102 08000400 01000000 \
         08000600 00000000 10000000 03000200 \
         07000000 00000000",
    );
}

/// `route add 10.7.0.0/16 nexthop via 10.0.1.2 nexthop via 10.0.2.2 dev port1 weight 2`:
/// RTA_MULTIPATH holds one `rtnexthop` (len, flags, hops = weight - 1, ifindex) and its
/// RTA_GATEWAY per next hop, as rtnetlink has it (in the API's byte order).
fn multipath_add() -> (u16, u16, u32, Body) {
    let mut r = RouteMsg::new(ip("10.7.0.0"), 16);
    r.multipath = vec![
        RtNexthop {
            gateway: Some(ip("10.0.1.2")),
            oif: None,
            weight: 1,
        },
        RtNexthop {
            gateway: Some(ip("10.0.2.2")),
            oif: Some(P1),
            weight: 2,
        },
    ];
    (
        RTM_NEWROUTE,
        NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
        8,
        Body::Route(r),
    )
}

const MULTIPATH_ADD: &str = "44000000 18000506 08000000 00000000 \
     02100000 fe040001 08000100 0a070000 \
     24000900 10000000 00000000 08000500 \
     0a000102 10000001 02000000 08000500 \
     0a000202";

#[test]
fn route_add_multipath_and_dump_it() {
    let mut api = Api::new();
    api.exchange(
        "route add multipath",
        multipath_add(),
        MULTIPATH_ADD,
        "24000000 02000000 08000000 00000000 \
         00000000 00000000 18000506 08000000 \
         00000000",
    );
    // The dump gives each member its port (ifindex 1 for 10.0.1.2, found by its subnet).
    api.exchange(
        "route show 10.7.0.0/16",
        (
            RTM_GETROUTE,
            NLM_F_DUMP,
            9,
            Body::Route(RouteMsg::new(ip("10.7.0.0"), 16)),
        ),
        "20000000 1a000103 09000000 00000000 \
         02100000 fe040001 08000100 0a070000",
        "4c000000 18000200 09000000 00000000 \
         02100000 fe040001 08000100 0a070000 \
         08000600 00000000 24000900 10000000 \
         01000000 08000500 0a000102 10000001 \
         02000000 08000500 0a000202 10000000 \
         03000200 09000000 00000000",
    );
}

/// A multipath route whose second next hop repeats the first (`via 10.0.1.2` and `via
/// 10.0.1.2 dev port0`), asked with FR_F_EXT_ACK: NLMSGERR_ATTR_FIELD (0x100) says next
/// hop 1 as a whole (code 0, next hop + 1 = 2) duplicates next hop 0 (+ 1 = 1).
#[test]
fn multipath_duplicate_names_the_next_hops_when_asked() {
    let mut r = RouteMsg::new(ip("10.7.0.0"), 16);
    let hop = |oif| RtNexthop {
        gateway: Some(ip("10.0.1.2")),
        oif,
        weight: 1,
    };
    r.multipath = vec![hop(None), hop(Some(P0))];
    Api::new().exchange(
        "route add 10.7.0.0/16 nexthop via 10.0.1.2 nexthop via 10.0.1.2 dev port0, FR_F_EXT_ACK",
        (
            RTM_NEWROUTE,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK | FR_F_EXT_ACK,
            9,
            Body::Route(r),
        ),
        "44000000 18000516 09000000 00000000 \
         02100000 fe040001 08000100 0a070000 \
         24000900 10000000 00000000 08000500 \
         0a000102 10000000 01000000 08000500 \
         0a000102",
        "6c000000 02000000 09000000 00000000 \
         eaffffff 00000000 18000516 09000000 \
         00000000 3c000100 6e657874 686f7020 \
         32206475 706c6963 61746573 206e6578 \
         74686f70 20312028 76696120 31302e30 \
         2e312e32 20646576 20706f72 74302900 \
         0c000001 00000200 01000000",
    );
}
