//! `wire::ethernet` and `wire::MacAddr`: every accessor of a checked frame, the setters
//! round-tripping, and the MAC address parser against its printer.
#![no_main]
use ferroute::wire::ethernet::{EthernetFrame, HEADER_LEN};
use ferroute::wire::MacAddr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match EthernetFrame::new_checked(data) {
        Ok(f) => {
            assert!(data.len() >= HEADER_LEN);
            let (dst, src, ty) = (f.dst(), f.src(), f.ethertype());
            assert_eq!(f.payload().len(), data.len() - HEADER_LEN);
            let mut copy = data.to_vec();
            let mut g = EthernetFrame::new_unchecked(&mut copy[..]);
            g.set_dst(src);
            g.set_src(dst);
            g.set_ethertype(!ty);
            assert_eq!((g.dst(), g.src(), g.ethertype()), (src, dst, !ty));
            assert_eq!(g.payload_mut().len(), data.len() - HEADER_LEN);
        }
        Err(_) => assert!(data.len() < HEADER_LEN),
    }
    // The MAC parser: whatever it accepts prints back to a string it parses the same.
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(m) = s.parse::<MacAddr>() {
            let printed = m.to_string();
            assert_eq!(printed.parse::<MacAddr>().ok(), Some(m), "{s:?}");
            assert_eq!(m.is_broadcast(), m == MacAddr::BROADCAST);
            if m.is_broadcast() {
                assert!(m.is_multicast());
            }
        }
    }
});
