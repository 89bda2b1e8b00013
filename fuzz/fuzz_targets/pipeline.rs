//! The per-packet pipeline on crafted bursts: the stages in `pipeline.rs`'s order (see
//! `ferroute_fuzz::Pipeline`), with the fast path on and off, against a router with
//! three ports, refusing routes, gateways with and without neighbours, and local
//! reassembly. Nothing may panic, and:
//! - the fast path never decides differently from the stages (same output, bytes and
//!   drops alike);
//! - whatever is sent leaves an up port, from its MAC, within its MTU, with a correct
//!   IPv4 header checksum, a total length matching the frame and a TTL above 0; what
//!   the router built itself (echo replies, ICMP errors) has a correct ICMP checksum;
//! - the fragments of a datagram cut at output reassemble into that datagram.
//!
//! Input: one flags octet (RX checksum verdict, ingress port, port 1's MTU), then up
//! to 32 frames, each a 16-bit big-endian length and its bytes.
#![no_main]
use ferroute::datapath::ip4_reassembly::{ReasmParams, Reassembler, Verdict};
use ferroute::datapath::{Packet, RxCsum, Tally, ETH_HLEN, MAX_BURST};
use ferroute::wire::ethernet::{EthernetFrame, ETHERTYPE_ARP, ETHERTYPE_IPV4};
use ferroute::wire::icmpv4::Icmpv4Packet;
use ferroute::wire::ipv4::{Ipv4Packet, PROTO_ICMP};
use ferroute_fuzz::{ports, rx, tables, Input, Outcome, Pipeline, MTUS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let flags = input.u8();
    let csum = match flags & 3 {
        1 => RxCsum::Good,
        2 => RxCsum::Bad,
        _ => RxCsum::Unknown,
    };
    let in_port = u16::from(flags >> 2 & 3);
    let ports = ports(MTUS[usize::from(flags >> 4 & 7)]);
    let mut burst = Vec::new();
    while !input.is_empty() && burst.len() < MAX_BURST {
        let mut f = input.chunk().to_vec();
        if csum == RxCsum::Good {
            // A NIC says Good only of a header whose checksum is right.
            let ip4 = f.get(12..14) == Some(&[0x08u8, 0x00][..]);
            if let Some(b) = f.get_mut(ETH_HLEN..).filter(|b| ip4 && b.len() >= 20) {
                Ipv4Packet::new_unchecked(b).fill_checksum();
            }
        }
        burst.push(rx(&f, in_port, csum));
    }
    let t = tables();
    let run = |fast: bool| {
        let mut p = Pipeline::new(t, &ports, fast);
        p.receive(in_port, burst.clone());
        p.out
    };
    let out = run(true);
    assert_eq!(out, run(false), "the fast path and the stages disagree");
    check_sent(&out, &ports);
    check_fragments(&out);
});

fn check_sent(out: &Outcome, ports: &ferroute::datapath::Ports) {
    for (port, f, local) in &out.tx {
        let pc = ports.get(*port).expect("sent on a known port");
        assert!(pc.up, "sent on a down port");
        let eth = EthernetFrame::new_checked(&f[..]).expect("an Ethernet header");
        assert_eq!(eth.src(), pc.mac);
        match eth.ethertype() {
            ETHERTYPE_ARP => continue,
            ETHERTYPE_IPV4 => {}
            t => panic!("sent ethertype {t:#x}"),
        }
        assert!(f.len() - ETH_HLEN <= usize::from(pc.mtu), "over the MTU");
        let ip = Ipv4Packet::new_checked(&f[ETH_HLEN..]).expect("an IPv4 header");
        assert!(ip.verify_checksum(), "bad header checksum");
        assert_eq!(usize::from(ip.total_len()), f.len() - ETH_HLEN);
        assert!(ip.ttl() > 0);
        if *local && ip.protocol() == PROTO_ICMP && ip.frag_offset() == 0 && !ip.more_frags() {
            let icmp = Icmpv4Packet::new_checked(ip.payload()).expect("an ICMP header");
            assert!(icmp.verify_checksum(), "bad ICMP checksum");
        }
    }
}

fn check_fragments(out: &Outcome) {
    for (orig, range) in &out.fragmented {
        let o = Ipv4Packet::new_checked(&orig[ETH_HLEN..]).unwrap();
        let whole = !o.more_frags() && o.frag_offset() == 0;
        if !whole || range.len() < 2 {
            continue;
        }
        let mut r = Reassembler::new(ReasmParams::default());
        let mut t = Tally::default();
        let mut done = None;
        for (i, (_, f, _)) in out.tx[range.clone()].iter().enumerate() {
            match r.insert(f, 0, false, 0, &mut t) {
                Verdict::Held => assert!(i + 1 < range.len(), "the last fragment completes"),
                Verdict::Complete { pkt, .. } => done = Some(pkt),
                Verdict::Dropped => panic!("fragment {i} of {} refused", range.len()),
            }
        }
        let pkt = done.expect("reassembled");
        let a = Ipv4Packet::new_checked(&pkt.data()[ETH_HLEN..]).unwrap();
        assert_eq!(a.payload(), o.payload());
        assert_eq!(a.options(), o.options());
        assert_eq!(
            (a.src_addr(), a.dst_addr(), a.ident(), a.protocol()),
            (o.src_addr(), o.dst_addr(), o.ident(), o.protocol())
        );
    }
}
