//! ferroute's own messages (0x100 up): status (FR_GETSTATUS answered with FR_TEXT, as
//! before; FR_GETSTATUS_ATTRS with FR_STATUS attributes), the monitor subscription, the
//! batch markers; and the NLMSG_ERROR of a request that does not
//! decode.
use super::*;

#[test]
fn status() {
    Api::new().exchange(
        "status",
        (FR_GETSTATUS, 0, 1, Body::Empty),
        "10000000 02010100 01000000 00000000",
        "d0000000 05010000 01000000 00000000 \
         bf000100 706f7274 20706f72 74302069 \
         64203020 6c696e6b 20757020 6d616320 \
         30323a30 303a3030 3a30303a 30303a30 \
         30206164 64722031 302e302e 312e312f \
         3234206d 74752031 35303020 61646d69 \
         6e207570 0a706f72 7420706f 72743120 \
         69642031 206c696e 6b207570 206d6163 \
         2030323a 30303a30 303a3030 3a30303a \
         30312061 64647220 31302e30 2e322e31 \
         2f323420 6d747520 31353030 2061646d \
         696e2075 700a6669 625f7665 7273696f \
         6e20320a 72656164 79207965 730a0000",
    );
}

#[test]
fn status_as_attributes() {
    Api::new().exchange(
        "status attrs",
        (FR_GETSTATUS_ATTRS, 0, 1, Body::Empty),
        "10000000 08010100 01000000 00000000",
        "bc000000 09010000 01000000 00000000 \
         4c000100 0a000100 706f7274 30000000 \
         08000200 00000000 08000300 01000000 \
         0a000400 02000000 00000000 08000500 \
         0a000101 08000600 18000000 08000700 \
         dc050000 08000800 01000000 4c000100 \
         0a000100 706f7274 31000000 08000200 \
         01000000 08000300 01000000 0a000400 \
         02000000 00010000 08000500 0a000201 \
         08000600 18000000 08000700 dc050000 \
         08000800 01000000 0c000200 02000000 \
         00000000 08000300 01000000",
    );
}

/// The typed status prints as the text reply reads (`ferroute status` output unchanged).
#[test]
fn status_attributes_print_as_the_text() {
    let mut api = Api::new();
    let Body::Status(st) = api.reply(FR_GETSTATUS_ATTRS).body else {
        panic!("no status");
    };
    assert!(st.ready && st.ports.len() == 2 && st.ports[0].addr.is_some());
    assert_eq!(Body::Text(st.text()), api.reply(FR_GETSTATUS).body);
}

#[test]
fn monitor_request() {
    let m = Message::new(
        FR_MONITOR,
        NLM_F_REQUEST | NLM_F_ACK,
        3,
        Body::Groups(RTMGRP_ALL),
    );
    let b = pin(
        "monitor.request",
        &m.to_bytes(),
        "14000000 06010500 03000000 00000000 \
         5d000000",
    );
    assert_eq!(reencode(&b), b);
}

#[test]
fn batch_markers() {
    for (name, kind, seq, want) in [
        (
            "batch begin",
            FR_BATCH_BEGIN,
            4,
            "10000000 00010500 04000000 00000000",
        ),
        (
            "batch end",
            FR_BATCH_END,
            9,
            "10000000 01010500 09000000 00000000",
        ),
    ] {
        let m = Message::new(kind, NLM_F_REQUEST | NLM_F_ACK, seq, Body::Empty);
        let b = pin(&format!("{name}.request"), &m.to_bytes(), want);
        assert_eq!(reencode(&b), b);
    }
}

#[test]
fn batch_end_alone_is_einval() {
    Api::new().exchange(
        "batch end alone",
        (FR_BATCH_END, NLM_F_ACK, 5, Body::Empty),
        "10000000 01010500 05000000 00000000",
        "44000000 02000000 05000000 00000000 \
         eaffffff 00000000 01010500 05000000 \
         00000000 1e000100 62617463 6820656e \
         64207769 74686f75 74206120 62656769 \
         6e000000",
    );
}

#[test]
fn unknown_type_is_answered_with_an_error() {
    // A well-framed message of a type nobody knows: 16-byte header only.
    let req = unhex("10000000 7f000500 06000000 00000000");
    let reply = Api::new().raw(&req);
    pin(
        "unknown type.reply",
        &reply,
        "44000000 02000000 06000000 00000000 \
         a1ffffff 10000000 7f000500 06000000 \
         00000000 1d000100 756e6b6e 6f776e20 \
         6d657373 61676520 74797065 20313237 \
         00000000",
    );
}
