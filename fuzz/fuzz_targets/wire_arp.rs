//! `wire::arp`: the accessors of a checked packet on any bytes, and `emit` giving back
//! what it was told to write.
#![no_main]
use ferroute::wire::arp::{self, ArpPacket, LEN};
use ferroute::wire::MacAddr;
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = ArpPacket::new_checked(data) else {
        assert!(data.len() < LEN);
        return;
    };
    let (op, sha, spa, tha, tpa) = (
        p.operation(),
        p.sender_mac(),
        p.sender_ip(),
        p.target_mac(),
        p.target_ip(),
    );
    let _ = (
        p.hardware_type(),
        p.protocol_type(),
        p.hardware_len(),
        p.protocol_len(),
    );
    let eth_ip = p.is_ethernet_ipv4();
    // Emit the reply with the addresses swapped into a copy: only the first 28 bytes
    // change, and they read back as written.
    let mut buf = data.to_vec();
    arp::emit(&mut buf, op ^ 3, tha, tpa, sha, spa).expect("28 bytes are enough");
    let q = ArpPacket::new_checked(&buf[..]).unwrap();
    assert!(q.is_ethernet_ipv4());
    assert_eq!(q.operation(), op ^ 3);
    assert_eq!((q.sender_mac(), q.sender_ip()), (tha, tpa));
    assert_eq!((q.target_mac(), q.target_ip()), (sha, spa));
    assert_eq!(buf[LEN..], data[LEN..]);
    if eth_ip {
        // An Ethernet/IPv4 packet keeps its type and length octets.
        assert_eq!(buf[..6], data[..6]);
    }
    let mut short = [0u8; LEN - 1];
    let zero = Ipv4Addr::UNSPECIFIED;
    assert!(arp::emit(&mut short, 1, MacAddr::ZERO, zero, MacAddr::ZERO, zero).is_err());
});
