//! RTM_NEWNEIGH / RTM_DELNEIGH / RTM_GETNEIGH (`ndmsg` + NDA_*).
use super::*;

fn neigh(ifindex: u32, dst: &str, mac: Option<[u8; 6]>, state: Nud) -> Body {
    Body::Neigh(NeighMsg {
        ifindex,
        state,
        dst: Some(ip(dst)),
        lladdr: mac.map(MacAddr),
        probes: None,
    })
}

const MAC: [u8; 6] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02];

#[test]
fn neighbour_add_permanent() {
    Api::new().exchange(
        "neighbour add 10.0.1.2 lladdr 02:42:ac:11:00:02 dev port0",
        (
            RTM_NEWNEIGH,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            1,
            neigh(P0, "10.0.1.2", Some(MAC), Nud::Permanent),
        ),
        "30000000 1c000506 01000000 00000000 \
         02000000 01000000 80000001 08000100 \
         0a000102 0a000200 0242ac11 00020000",
        "24000000 02000000 01000000 00000000 \
         00000000 00000000 1c000506 01000000 \
         00000000",
    );
}

#[test]
fn neighbour_off_link_is_refused() {
    Api::new().exchange(
        "neighbour add 10.7.0.2 lladdr ... dev port0 (not on the port's subnets)",
        (
            RTM_NEWNEIGH,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            2,
            neigh(P0, "10.7.0.2", Some(MAC), Nud::Permanent),
        ),
        "30000000 1c000506 02000000 00000000 \
         02000000 01000000 80000001 08000100 \
         0a070002 0a000200 0242ac11 00020000",
        "58000000 02000000 02000000 00000000 \
         eaffffff 00000000 1c000506 02000000 \
         00000000 34000100 31302e37 2e302e32 \
         20697320 6e6f7420 6f6e2061 20636f6e \
         6e656374 6564206e 6574776f 726b206f \
         6620706f 72743000",
    );
}

#[test]
fn neighbour_get_and_dump() {
    let mut api = Api::new();
    let add = neigh(P1, "10.0.2.5", Some(MAC), Nud::Permanent);
    let m = Message::new(
        RTM_NEWNEIGH,
        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
        1,
        add,
    );
    api.raw(&m.to_bytes());
    api.exchange(
        "neighbour get 10.0.2.5 dev port1",
        (RTM_GETNEIGH, 0, 2, neigh(P1, "10.0.2.5", None, Nud::None)),
        "24000000 1e000100 02000000 00000000 \
         02000000 02000000 00000001 08000100 \
         0a000205",
        "38000000 1c000000 02000000 00000000 \
         02000000 02000000 80000001 08000100 \
         0a000205 0a000200 0242ac11 00020000 \
         08000400 00000000",
    );
    api.exchange(
        "neighbour show",
        (
            RTM_GETNEIGH,
            NLM_F_DUMP,
            3,
            Body::Neigh(NeighMsg::default()),
        ),
        "1c000000 1e000103 03000000 00000000 \
         02000000 00000000 00000001",
        "38000000 1c000200 03000000 00000000 \
         02000000 02000000 80000001 08000100 \
         0a000205 0a000200 0242ac11 00020000 \
         08000400 00000000 10000000 03000200 \
         03000000 00000000",
    );
    api.exchange(
        "neighbour del 10.0.2.5 dev port1",
        (
            RTM_DELNEIGH,
            NLM_F_ACK,
            4,
            neigh(P1, "10.0.2.5", None, Nud::None),
        ),
        "24000000 1d000500 04000000 00000000 \
         02000000 02000000 00000001 08000100 \
         0a000205",
        "24000000 02000000 04000000 00000000 \
         00000000 00000000 1d000500 04000000 \
         00000000",
    );
}

/// As `neighbour_off_link_is_refused`, asked with FR_F_EXT_ACK: the answer adds
/// NLMSGERR_ATTR_FIELD (0x100): code 3 (the device, `ndm_ifindex`), no next hop.
#[test]
fn neighbour_off_link_names_the_field_when_asked() {
    Api::new().exchange(
        "neighbour add 10.7.0.2 lladdr ... dev port0, FR_F_EXT_ACK",
        (
            RTM_NEWNEIGH,
            NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK | FR_F_EXT_ACK,
            2,
            neigh(P0, "10.7.0.2", Some(MAC), Nud::Permanent),
        ),
        "30000000 1c000516 02000000 00000000 \
         02000000 01000000 80000001 08000100 \
         0a070002 0a000200 0242ac11 00020000",
        "64000000 02000000 02000000 00000000 \
         eaffffff 00000000 1c000516 02000000 \
         00000000 34000100 31302e37 2e302e32 \
         20697320 6e6f7420 6f6e2061 20636f6e \
         6e656374 6564206e 6574776f 726b206f \
         6620706f 72743000 0c000001 03000000 \
         00000000",
    );
}
