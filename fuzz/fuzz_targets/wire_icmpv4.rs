//! `wire::icmpv4`: the accessors of a checked message on any bytes, and the checksum
//! filled by the setter verifying.
#![no_main]
use ferroute::wire::icmpv4::{self, Icmpv4Packet, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Icmpv4Packet::new_checked(data) else {
        assert!(data.len() < HEADER_LEN);
        return;
    };
    let (ty, code) = (p.msg_type(), p.code());
    let _ = (p.checksum(), p.echo_ident(), p.echo_seq(), p.next_hop_mtu());
    let rest = p.rest_of_header();
    assert_eq!(p.data().len(), data.len() - HEADER_LEN);
    let _ = p.verify_checksum();
    let _ = icmpv4::is_error(ty);
    let mut buf = data.to_vec();
    let mut q = Icmpv4Packet::new_unchecked(&mut buf[..]);
    q.set_msg_type(code);
    q.set_code(ty);
    q.set_rest_of_header(!rest);
    q.fill_checksum();
    assert!(q.verify_checksum());
    assert_eq!(
        (q.msg_type(), q.code(), q.rest_of_header()),
        (code, ty, !rest)
    );
    q.set_echo_ident(1);
    q.set_echo_seq(2);
    assert_eq!((q.echo_ident(), q.echo_seq(), q.next_hop_mtu()), (1, 2, 2));
    q.set_next_hop_mtu(1500);
    assert_eq!(q.next_hop_mtu(), 1500);
    assert_eq!(q.data_mut().len(), data.len() - HEADER_LEN);
});
