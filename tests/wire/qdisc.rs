//! RTM_NEWQDISC / RTM_DELQDISC / RTM_GETQDISC (`tcmsg` + TCA_KIND, TCA_OPTIONS/TBF_*).
use super::*;

fn tbf(ifindex: u32, latency_us: u32, limit: u32) -> Body {
    Body::Qdisc(QdiscMsg {
        ifindex,
        handle: 0,
        parent: TC_H_ROOT,
        kind: Some("tbf".into()),
        tbf: Some(TbfSpec {
            rate: 1_250_000,
            burst: 32_768,
            latency_us,
            limit,
        }),
    })
}

#[test]
fn qdisc_add_latency_then_dump_and_delete() {
    let mut api = Api::new();
    api.exchange(
        "qdisc add dev port0 root tbf rate 10mbit burst 32kb latency 50ms",
        (
            RTM_NEWQDISC,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            1,
            tbf(P0, 50_000, 0),
        ),
        "4c000000 24000506 01000000 00000000 \
         00000000 01000000 00000000 ffffffff \
         00000000 08000100 74626600 20000200 \
         0c000100 d0121300 00000000 08000200 \
         00800000 08000300 50c30000",
        "24000000 02000000 01000000 00000000 \
         00000000 00000000 24000506 01000000 \
         00000000",
    );
    api.exchange(
        "qdisc show",
        (
            RTM_GETQDISC,
            NLM_F_DUMP,
            2,
            Body::Qdisc(QdiscMsg::default()),
        ),
        "24000000 26000103 02000000 00000000 \
         00000000 00000000 00000000 00000000 \
         00000000",
        "54000000 24000200 02000000 00000000 \
         00000000 01000000 00000180 ffffffff \
         00000000 08000100 74626600 28000200 \
         0c000100 d0121300 00000000 08000200 \
         00800000 08000300 50c30000 08000400 \
         24740100 10000000 03000200 02000000 \
         00000000",
    );
    let del = Body::Qdisc(QdiscMsg {
        ifindex: P0,
        parent: TC_H_ROOT,
        ..QdiscMsg::default()
    });
    api.exchange(
        "qdisc del dev port0 root",
        (RTM_DELQDISC, NLM_F_ACK, 3, del),
        "24000000 25000500 03000000 00000000 \
         00000000 01000000 00000000 ffffffff \
         00000000",
        "24000000 02000000 03000000 00000000 \
         00000000 00000000 25000500 03000000 \
         00000000",
    );
}

#[test]
fn qdisc_add_limit() {
    Api::new().exchange(
        "qdisc add dev port1 root tbf rate 10mbit burst 32kb limit 64kb",
        (
            RTM_NEWQDISC,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            4,
            tbf(P1, 0, 65_536),
        ),
        "4c000000 24000506 04000000 00000000 \
         00000000 02000000 00000000 ffffffff \
         00000000 08000100 74626600 20000200 \
         0c000100 d0121300 00000000 08000200 \
         00800000 08000400 00000100",
        "24000000 02000000 04000000 00000000 \
         00000000 00000000 24000506 04000000 \
         00000000",
    );
}

#[test]
fn qdisc_unknown_kind_is_refused() {
    let b = Body::Qdisc(QdiscMsg {
        ifindex: P0,
        parent: TC_H_ROOT,
        kind: Some("fq_codel".into()),
        ..QdiscMsg::default()
    });
    Api::new().exchange(
        "qdisc add dev port0 root fq_codel",
        (RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, 5, b),
        "34000000 24000506 05000000 00000000 \
         00000000 01000000 00000000 ffffffff \
         00000000 0d000100 66715f63 6f64656c \
         00000000",
        "5c000000 02000000 05000000 00000000 \
         a1ffffff 00000000 24000506 05000000 \
         00000000 36000100 71646973 63206b69 \
         6e642022 66715f63 6f64656c 22206973 \
         206e6f74 20737570 706f7274 65642028 \
         74626620 6f6e6c79 29000000",
    );
}
