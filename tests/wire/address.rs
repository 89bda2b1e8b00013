//! RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR (`ifaddrmsg` + IFA_*).
use super::*;

fn addr(ifindex: u32, a: &str, len: u8) -> Body {
    Body::Addr(AddrMsg {
        ifindex,
        prefix_len: len,
        local: Some(ip(a)),
        label: None,
    })
}

#[test]
fn address_add_with_ack() {
    Api::new().exchange(
        "address add 10.0.3.1/24 dev port0",
        (
            RTM_NEWADDR,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            1,
            addr(P0, "10.0.3.1", 24),
        ),
        "28000000 14000506 01000000 00000000 \
         02180000 01000000 08000200 0a000301 \
         08000100 0a000301",
        "24000000 02000000 01000000 00000000 \
         00000000 00000000 14000506 01000000 \
         00000000",
    );
}

#[test]
fn address_add_with_label() {
    let body = Body::Addr(AddrMsg {
        ifindex: P1,
        prefix_len: 32,
        local: Some(ip("10.0.4.1")),
        label: Some("port1".into()),
    });
    Api::new().exchange(
        "address add 10.0.4.1/32 dev port1 label port1",
        (RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, 2, body),
        "34000000 14000506 02000000 00000000 \
         02200000 02000000 08000200 0a000401 \
         08000100 0a000401 0a000300 706f7274 \
         31000000",
        "24000000 02000000 02000000 00000000 \
         00000000 00000000 14000506 02000000 \
         00000000",
    );
}

#[test]
fn address_add_existing_is_eexist() {
    Api::new().exchange(
        "address add 10.0.1.1/24 dev port0 (exists)",
        (
            RTM_NEWADDR,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            3,
            addr(P0, "10.0.1.1", 24),
        ),
        "28000000 14000506 03000000 00000000 \
         02180000 01000000 08000200 0a000101 \
         08000100 0a000101",
        "44000000 02000000 03000000 00000000 \
         efffffff 00000000 14000506 03000000 \
         00000000 1d000100 61646472 65737320 \
         616c7265 61647920 61737369 676e6564 \
         00000000",
    );
}

#[test]
fn address_on_missing_port_is_enodev() {
    Api::new().exchange(
        "address add 10.0.5.1/24 dev 9",
        (
            RTM_NEWADDR,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            4,
            addr(9, "10.0.5.1", 24),
        ),
        "28000000 14000506 04000000 00000000 \
         02180000 09000000 08000200 0a000501 \
         08000100 0a000501",
        "40000000 02000000 04000000 00000000 \
         edffffff 00000000 14000506 04000000 \
         00000000 19000100 6e6f2070 6f727420 \
         77697468 20696e64 65782039 00000000",
    );
}

#[test]
fn address_del_of_the_last_address_is_refused() {
    Api::new().exchange(
        "address del 10.0.2.1/24 dev port1",
        (RTM_DELADDR, NLM_F_ACK, 5, addr(P1, "10.0.2.1", 24)),
        "28000000 15000500 05000000 00000000 \
         02180000 02000000 08000200 0a000201 \
         08000100 0a000201",
        "74000000 02000000 05000000 00000000 \
         f0ffffff 00000000 15000500 05000000 \
         00000000 4e000100 706f7274 3120776f \
         756c6420 68617665 206e6f20 61646472 \
         65737320 6c656674 20286561 63682070 \
         6f727420 6b656570 73206f6e 653a2061 \
         64642061 6e6f7468 65722066 69727374 \
         29000000",
    );
}

#[test]
fn address_dump() {
    Api::new().exchange(
        "address show",
        (
            RTM_GETADDR,
            NLM_F_DUMP,
            6,
            Body::Addr(AddrMsg {
                ifindex: 0,
                prefix_len: 0,
                local: None,
                label: None,
            }),
        ),
        "18000000 16000103 06000000 00000000 \
         02000000 00000000",
        "34000000 14000200 06000000 00000000 \
         02180000 01000000 08000200 0a000101 \
         08000100 0a000101 0a000300 706f7274 \
         30000000 34000000 14000200 06000000 \
         00000000 02180000 02000000 08000200 \
         0a000201 08000100 0a000201 0a000300 \
         706f7274 31000000 10000000 03000200 \
         06000000 00000000",
    );
}
