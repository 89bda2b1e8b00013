//! Round trips and strict decoding of every message.
use super::*;
use crate::fib::Proto;
use crate::wire::MacAddr;
use std::net::Ipv4Addr;

fn round_trip(m: Message) {
    let bytes = m.to_bytes();
    assert_eq!(bytes.len() % 4, 0, "{m:?} is padded");
    match Message::decode(&bytes) {
        Decoded::Msg(d, n) => {
            assert_eq!(n, bytes.len());
            assert_eq!(d, m);
        }
        other => panic!("{m:?} decoded as {other:?}"),
    }
    // Every strict prefix is incomplete, never an error or a panic.
    for cut in 0..bytes.len() {
        assert_eq!(
            Message::decode(&bytes[..cut]),
            Decoded::Incomplete,
            "{m:?} cut at {cut}"
        );
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn every_message() -> Vec<Message> {
    let route = RouteMsg {
        dst: ip("10.9.0.0"),
        dst_len: 16,
        protocol: Proto::Static,
        scope: Scope::Universe,
        rtype: RouteType::Unicast,
        gateway: Some(ip("10.0.2.2")),
        oif: Some(2),
        metric: Some(7),
        prefsrc: Some(ip("10.0.2.1")),
        multipath: Vec::new(),
    };
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    let req = Header {
        len: 40,
        kind: RTM_NEWROUTE,
        flags,
        seq: 9,
        pid: 0,
    };
    vec![
        Message::new(RTM_NEWROUTE, flags, 1, Body::Route(route.clone())),
        Message::new(
            RTM_DELROUTE,
            NLM_F_REQUEST,
            2,
            Body::Route(RouteMsg {
                rtype: RouteType::Blackhole,
                gateway: None,
                oif: None,
                prefsrc: None,
                ..route.clone()
            }),
        ),
        Message::new(
            RTM_NEWROUTE,
            flags,
            10,
            Body::Route(RouteMsg {
                gateway: None,
                oif: None,
                multipath: vec![
                    RtNexthop {
                        gateway: Some(ip("10.0.2.2")),
                        oif: Some(2),
                        weight: 1,
                    },
                    RtNexthop {
                        gateway: None,
                        oif: Some(1),
                        weight: 256,
                    },
                ],
                ..route.clone()
            }),
        ),
        Message::new(
            RTM_GETROUTE,
            NLM_F_REQUEST | NLM_F_DUMP,
            3,
            Body::Route(RouteMsg::new(ip("0.0.0.0"), 0)),
        ),
        Message::new(
            RTM_NEWNEIGH,
            flags,
            4,
            Body::Neigh(NeighMsg {
                ifindex: 2,
                state: Nud::Permanent,
                dst: Some(ip("10.0.2.7")),
                lladdr: Some(MacAddr([2, 0, 0, 0, 2, 7])),
                probes: Some(3),
            }),
        ),
        Message::new(
            RTM_DELNEIGH,
            NLM_F_REQUEST,
            5,
            Body::Neigh(NeighMsg::default()),
        ),
        Message::new(
            RTM_NEWADDR,
            flags,
            6,
            Body::Addr(AddrMsg {
                ifindex: 1,
                prefix_len: 24,
                local: Some(ip("10.0.3.1")),
                label: Some("port0".into()),
            }),
        ),
        Message::new(
            RTM_DELADDR,
            NLM_F_REQUEST,
            7,
            Body::Addr(AddrMsg {
                ifindex: 1,
                prefix_len: 24,
                local: None,
                label: None,
            }),
        ),
        Message::new(
            RTM_NEWLINK,
            NLM_F_REQUEST | NLM_F_ACK,
            8,
            Body::Link(LinkMsg {
                ifindex: 2,
                flags: IFF_UP,
                change: IFF_UP,
                name: Some("port1".into()),
                mtu: Some(1280),
                mac: Some(MacAddr([2, 0, 0, 0, 0, 1])),
            }),
        ),
        Message::new(
            RTM_NEWQDISC,
            flags | NLM_F_REPLACE,
            9,
            Body::Qdisc(QdiscMsg {
                ifindex: 2,
                handle: 0x8001_0000,
                parent: TC_H_ROOT,
                kind: Some("tbf".into()),
                tbf: Some(TbfSpec {
                    rate: 2_500_000,
                    burst: 32768,
                    latency_us: 50_000,
                    limit: 0,
                }),
            }),
        ),
        Message::new(
            RTM_NEWQDISC,
            flags | NLM_F_CREATE,
            9,
            Body::Qdisc(QdiscMsg {
                ifindex: 1,
                handle: 0x8001_0000,
                parent: TC_H_ROOT,
                kind: Some("tbf".into()),
                tbf: Some(TbfSpec {
                    rate: 125_000_000,
                    burst: 65536,
                    latency_us: 0,
                    limit: 1 << 20,
                }),
            }),
        ),
        Message::new(
            RTM_DELQDISC,
            NLM_F_REQUEST,
            10,
            Body::Qdisc(QdiscMsg::default()),
        ),
        Message::new(FR_GETSTATUS, NLM_F_REQUEST, 11, Body::Empty),
        Message::new(FR_TEXT, 0, 11, Body::Text("ready yes\n".into())),
        Message::new(
            FR_COUNTERS,
            0,
            11,
            Body::Counters(Counters {
                drops: vec![Counter::new("ip4_no_route", 2)],
                ports: vec![PortCounters {
                    name: "port0".into(),
                    datapath: vec![Counter::new("forwarded", 10)],
                    pmd: vec![Counter::new("ipackets", u64::MAX)],
                }],
                qdiscs: vec![QdiscCounters {
                    port: "port1".into(),
                    counters: vec![Counter::new("sent_bytes", 5)],
                }],
                router: vec![Counter::new("fib_version", 3)],
                ..Counters::default()
            }),
        ),
        Message::new(FR_GETSTATUS_ATTRS, NLM_F_REQUEST, 11, Body::Empty),
        Message::new(
            FR_STATUS,
            0,
            11,
            Body::Status(Status {
                ports: vec![PortStatus {
                    name: "port0".into(),
                    id: 0,
                    link_up: true,
                    mac: crate::wire::MacAddr([2, 0, 0, 0, 0, 1]),
                    addr: Some("10.0.1.1/24".parse().unwrap()),
                    mtu: 1500,
                    admin_up: false,
                }],
                fib_version: 7,
                ready: false,
            }),
        ),
        Message::new(FR_BATCH_BEGIN, NLM_F_REQUEST, 12, Body::Empty),
        Message::new(FR_BATCH_END, NLM_F_REQUEST | NLM_F_ACK, 13, Body::Empty),
        Message::new(
            FR_MONITOR,
            NLM_F_REQUEST | NLM_F_ACK,
            15,
            Body::Groups(RTMGRP_IPV4_ROUTE | RTMGRP_NEIGH),
        ),
        Message::done(14),
        Message::error(&req, None),
        Message::error(
            &req,
            Some(&ApiError::new(errno::EEXIST, "route already exists")),
        ),
        Message::error(
            &Header {
                flags: flags | FR_F_EXT_ACK,
                ..req
            },
            Some(
                &ApiError::inval("nexthop 3 duplicates nexthop 1").at(ReqField::Nexthop {
                    n: 2,
                    same_as: Some(0),
                }),
            ),
        ),
    ]
}

#[test]
fn the_field_at_fault_is_answered_only_when_asked_and_survives_the_wire() {
    let req = |flags| Header {
        len: 40,
        kind: RTM_NEWNEIGH,
        flags,
        seq: 3,
        pid: 0,
    };
    let fields = [
        ReqField::Dst,
        ReqField::Gateway,
        ReqField::Ifindex,
        ReqField::Lladdr,
        ReqField::Nexthop {
            n: 0,
            same_as: None,
        },
        ReqField::Nexthop {
            n: 7,
            same_as: Some(6),
        },
        ReqField::NexthopGateway(1),
        ReqField::NexthopIfindex(2),
        ReqField::NexthopWeight(3),
    ];
    for f in fields {
        let e = ApiError::inval("bad").at(f);
        let plain = Message::error(&req(NLM_F_REQUEST), Some(&e));
        assert!(matches!(plain.body, Body::Error { field: None, .. }));
        assert_eq!(
            plain.to_bytes(),
            Message::error(&req(NLM_F_REQUEST), Some(&ApiError::inval("bad"))).to_bytes()
        );
        let asked = Message::error(&req(NLM_F_REQUEST | FR_F_EXT_ACK), Some(&e));
        assert!(matches!(asked.body, Body::Error { field: Some(g), .. } if g == f));
        round_trip(asked);
    }
    // An unknown field is dropped, not refused; a field of the wrong size is refused.
    assert_eq!(ReqField::from_wire(9, 0, 0), None);
    assert_eq!(ReqField::from_wire(1, 1, 0), None);
    let mut b = Message::error(&req(NLM_F_REQUEST), Some(&ApiError::inval("bad"))).to_bytes();
    b.extend_from_slice(&[8, 0, 0, 1, 1, 0, 0, 0]);
    b[0] += 8;
    assert!(matches!(Message::decode(&b), Decoded::Bad(..)), "{b:?}");
}

#[test]
fn every_message_round_trips() {
    for m in every_message() {
        round_trip(m);
    }
}

#[test]
fn text_longer_than_an_attribute_survives_the_wire() {
    // An attribute's length is 16 bits: a 200 KB text (a `config dump` of a few thousand
    // routes) goes in several FRA_TEXT attributes, split between characters (the "é"s
    // are two octets each), and reads back whole. An empty text stays empty.
    let long: String = (0..20_000).map(|i| format!("route é{i}\n")).collect();
    assert!(long.len() > 3 * u16::MAX as usize);
    for t in [long, String::new()] {
        let m = Message::new(FR_TEXT, 0, 7, Body::Text(t));
        let bytes = m.to_bytes();
        match Message::decode(&bytes) {
            Decoded::Msg(d, n) => {
                assert_eq!(n, bytes.len());
                assert_eq!(d, m);
            }
            other => panic!("decoded as {other:?}"),
        }
    }
    let parts: Vec<&str> = split_text("aé€b", 4).collect();
    assert_eq!(parts, ["aé", "€b"]);
}

#[test]
fn an_error_quoting_a_long_request_still_encodes() {
    // An error message may quote the request (`no port named "..."` with a 64 KB name):
    // it is cut to what one attribute holds, and the reply decodes.
    let req = Message::new(RTM_GETLINK, NLM_F_REQUEST, 3, Body::Empty).header();
    let e = ApiError::new(
        errno::ENODEV,
        format!("no port named {:?}", "\u{1}".repeat(30_000)),
    );
    let bytes = Message::error(&req, Some(&e)).to_bytes();
    match Message::decode(&bytes) {
        Decoded::Msg(m, _) => {
            let got = m.body.api_error().expect("an error");
            assert_eq!(got.errno, errno::ENODEV);
            assert!(
                e.msg.starts_with(&got.msg) && got.msg.len() > 60_000,
                "{}",
                got.msg.len()
            );
        }
        other => panic!("decoded as {other:?}"),
    }
}

#[test]
fn a_stream_of_messages_decodes_one_by_one() {
    let msgs = every_message();
    let mut buf = Vec::new();
    for m in &msgs {
        m.encode(&mut buf);
    }
    let mut at = 0;
    for m in &msgs {
        match Message::decode(&buf[at..]) {
            Decoded::Msg(d, n) => {
                assert_eq!(&d, m);
                at += n;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(at, buf.len());
}

fn errno_of(bytes: &[u8]) -> (i32, bool) {
    match Message::decode(bytes) {
        Decoded::Bad(_, e, n) => {
            assert!(n <= bytes.len());
            (e.errno, false)
        }
        Decoded::Fatal(_, e) => (e.errno, true),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn route_bytes(dst: [u8; 4], len: u8) -> Vec<u8> {
    let mut r = RouteMsg::new(Ipv4Addr::from(dst), 0);
    r.dst_len = len;
    let mut b = Message::new(RTM_NEWROUTE, NLM_F_REQUEST, 1, Body::Route(r)).to_bytes();
    // encode() does not validate; patch the prefix length in place.
    b[HDR_LEN + 1] = len;
    b
}

#[test]
fn malformed_messages_get_linux_errnos() {
    // Bad prefix length and host bits.
    assert_eq!(
        errno_of(&route_bytes([10, 9, 0, 0], 33)),
        (errno::EINVAL, false)
    );
    assert_eq!(
        errno_of(&route_bytes([10, 9, 0, 1], 16)),
        (errno::EINVAL, false)
    );
    // Unknown message type: the stream goes on after it.
    let mut b = Message::new(FR_GETSTATUS, NLM_F_REQUEST, 1, Body::Empty).to_bytes();
    b[4] = 0x77;
    assert_eq!(errno_of(&b), (errno::EOPNOTSUPP, false));
    // Huge length field: fatal, the connection closes.
    let mut b = Message::new(FR_GETSTATUS, NLM_F_REQUEST, 1, Body::Empty).to_bytes();
    b[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(errno_of(&b), (errno::EMSGSIZE, true));
    // Length below the header: fatal.
    b[0..4].copy_from_slice(&3u32.to_le_bytes());
    assert_eq!(errno_of(&b), (errno::EINVAL, true));
    // Truncated body (length says 20 bytes of a 24-byte rtmsg message).
    let mut b = route_bytes([10, 0, 0, 0], 8);
    b.truncate(HDR_LEN + 4);
    b[0..4].copy_from_slice(&((HDR_LEN + 4) as u32).to_le_bytes());
    assert_eq!(errno_of(&b), (errno::EINVAL, false));
    // Attribute longer than the message.
    let mut b = route_bytes([10, 0, 0, 0], 8);
    let at = HDR_LEN + 8;
    b[at..at + 2].copy_from_slice(&200u16.to_le_bytes());
    assert_eq!(errno_of(&b), (errno::EINVAL, false));
    // Attribute of the wrong size and unknown attribute.
    let mut b = route_bytes([10, 0, 0, 0], 8);
    b[at..at + 2].copy_from_slice(&6u16.to_le_bytes());
    assert_eq!(errno_of(&b), (errno::EINVAL, false));
    let mut b = route_bytes([10, 0, 0, 0], 8);
    b[at + 2..at + 4].copy_from_slice(&99u16.to_le_bytes());
    assert_eq!(errno_of(&b), (errno::EINVAL, false));
    // Wrong family, unknown route type.
    let mut b = route_bytes([10, 0, 0, 0], 8);
    b[HDR_LEN] = 10;
    assert_eq!(errno_of(&b), (errno::EAFNOSUPPORT, false));
    let mut b = route_bytes([10, 0, 0, 0], 8);
    b[HDR_LEN + 7] = 42;
    assert_eq!(errno_of(&b), (errno::EOPNOTSUPP, false));
    // A body on a message that takes none.
    let mut b = Message::new(FR_GETSTATUS, NLM_F_REQUEST, 1, Body::Empty).to_bytes();
    b.extend_from_slice(&[0; 4]);
    b[0..4].copy_from_slice(&20u32.to_le_bytes());
    assert_eq!(errno_of(&b), (errno::EINVAL, false));
}

#[test]
fn garbage_never_panics() {
    // A deterministic pseudo-random walk over bodies of every type.
    let mut x: u32 = 0x1234_5678;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let kinds = [
        NLMSG_ERROR,
        FR_TEXT,
        FR_COUNTERS,
        FR_STATUS,
        RTM_NEWROUTE,
        RTM_NEWNEIGH,
        RTM_NEWADDR,
        RTM_NEWLINK,
        RTM_NEWQDISC,
    ];
    for i in 0..20_000 {
        let len = (next() % 64) as usize;
        let mut b = vec![0u8; HDR_LEN + len];
        for byte in b.iter_mut() {
            *byte = next() as u8;
        }
        b[0..4].copy_from_slice(&((HDR_LEN + len) as u32).to_le_bytes());
        b[4..6].copy_from_slice(&kinds[i % kinds.len()].to_le_bytes());
        let _ = Message::decode(&b);
    }
}

#[test]
fn error_display_names_the_errno() {
    let e = ApiError::new(errno::EEXIST, "route already exists");
    assert_eq!(e.to_string(), "route already exists (EEXIST)");
    assert_eq!(errno::name(4242), "errno 4242");
}

#[test]
fn capture_messages_round_trip_and_bad_ones_are_refused() {
    round_trip(Message::new(
        FR_CAPTURE,
        NLM_F_REQUEST | NLM_F_ACK,
        1,
        Body::CaptureReq(CaptureReq {
            ports: 0b101,
            points: 1 << CAPTURE_RX | 1 << CAPTURE_DROP,
            proto: 3,
            snaplen: 262_144,
            host: Some(ip("10.0.1.2")),
        }),
    ));
    round_trip(Message::new(FR_CAPTURE_STOP, NLM_F_REQUEST, 2, Body::Empty));
    for (data, reason) in [(vec![1u8; 61], Some("ip4_bad_checksum")), (vec![], None)] {
        round_trip(Message::new(
            FR_CAPTURE_PKT,
            0,
            0,
            Body::CapturePkt(CapturePkt {
                ifindex: 1,
                point: CAPTURE_DROP,
                ts_ns: 1_700_000_000_000_000_001,
                orig_len: 98,
                data,
                reason: reason.map(String::from),
            }),
        ));
    }
    round_trip(Message::new(
        FR_CAPTURE_END,
        0,
        2,
        Body::CaptureEnd(CaptureEnd {
            captured: 5,
            missed: 1,
        }),
    ));
    // A packet whose cap_len passes the message's end.
    let mut b = Message::new(
        FR_CAPTURE_PKT,
        0,
        0,
        Body::CapturePkt(CapturePkt {
            ifindex: 1,
            point: 0,
            ts_ns: 0,
            orig_len: 4,
            data: vec![0; 4],
            reason: None,
        }),
    )
    .to_bytes();
    b[HDR_LEN + 20] = 200;
    assert!(matches!(Message::decode(&b), Decoded::Bad(_, e, _) if e.errno == errno::EINVAL));
}
