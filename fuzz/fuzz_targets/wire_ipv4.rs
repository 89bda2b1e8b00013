//! `wire::ipv4`: every accessor of a checked packet on any bytes (IHL and total length
//! lie freely), the documented clamping of options and payload, checksum fill/verify,
//! and the RFC 1624 TTL decrement against a full recomputation.
#![no_main]
use ferroute::wire::checksum;
use ferroute::wire::ipv4::{Ipv4Packet, MIN_HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Ipv4Packet::new_checked(data) else {
        assert!(data.len() < MIN_HEADER_LEN);
        return;
    };
    let _ = (p.version(), p.dscp_ecn(), p.ident(), p.protocol());
    let _ = (p.dont_frag(), p.more_frags(), p.frag_offset(), p.ttl());
    let _ = (p.src_addr(), p.dst_addr(), p.header_checksum());
    let hl = p.header_len();
    let opts = p.options();
    assert!(opts.len() <= hl.saturating_sub(MIN_HEADER_LEN));
    let payload = p.payload();
    assert!(payload.len() <= usize::from(p.total_len()).saturating_sub(MIN_HEADER_LEN));
    assert!(payload.len() + MIN_HEADER_LEN <= data.len());
    let ok = p.verify_checksum();
    if ok {
        assert!(hl >= MIN_HEADER_LEN && hl <= data.len());
    }

    let mut buf = data.to_vec();
    let mut q = Ipv4Packet::new_unchecked(&mut buf[..]);
    q.fill_checksum();
    // A filled checksum verifies whenever the header fits the buffer.
    if hl >= MIN_HEADER_LEN && hl <= data.len() {
        assert!(q.verify_checksum());
        // RFC 1624: the incremental TTL update equals a full recomputation (RFC 1624 §3
        // keeps them equal but for an all-zero header, where -0 and +0 differ).
        if q.ttl() > 0 {
            let ttl = q.ttl();
            assert_eq!(q.decrement_ttl(), ttl - 1);
            assert!(q.verify_checksum());
            let inc = q.header_checksum();
            let all_zero = buf[..hl]
                .iter()
                .enumerate()
                .all(|(i, &b)| b == 0 || i == 10 || i == 11);
            let mut q = Ipv4Packet::new_unchecked(&mut buf[..]);
            q.fill_checksum();
            if !all_zero {
                assert_eq!(inc, q.header_checksum());
            }
        }
    } else {
        let _ = q.decrement_ttl();
    }
    let mut q = Ipv4Packet::new_unchecked(&mut buf[..]);
    let n = q.payload_mut().len();
    assert_eq!(n, payload.len());
    q.set_frag(true, true, 8);
    assert!(q.dont_frag() && q.more_frags() && q.frag_offset() == 8);
    let _ = checksum::folded_sum(q.options());
});
