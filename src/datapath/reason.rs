//! Why a packet was dropped. Every drop in the datapath has exactly one reason and one
//! counter; names follow Linux's SNMP counters and `skb_drop_reason`s where one exists.

macro_rules! reasons {
    ($($variant:ident => $name:literal, $help:literal;)*) => {
        /// A drop reason; `name()` is the metric label, `help()` says what it means.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Reason { $($variant),* }

        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),*];
            pub const COUNT: usize = Reason::ALL.len();

            pub fn name(self) -> &'static str {
                match self { $(Reason::$variant => $name),* }
            }

            pub fn help(self) -> &'static str {
                match self { $(Reason::$variant => $help),* }
            }
        }
    };
}

reasons! {
    EthTruncated => "eth_truncated", "Frame shorter than an Ethernet header.";
    EthOtherHost => "eth_other_host", "Destination MAC neither the port's nor broadcast (Linux OTHERHOST).";
    EthUnhandledType => "eth_unhandled_ethertype", "EtherType other than IPv4 or ARP (Linux UNHANDLED_PROTO).";
    MultiSegment => "multi_segment", "Chained (multi-segment) mbuf; the pipeline handles single segments only.";
    ArpMalformed => "arp_malformed", "ARP packet too short or not Ethernet/IPv4.";
    ArpOtherTarget => "arp_other_target", "ARP request or reply not addressed to one of our addresses.";
    PuntArpKnownPoliced => "punt_arp_known_policed", "ARP from a neighbour the router knows or is resolving, over punt.arp_known_pps/arp_known_burst for its port.";
    PuntArpPoliced => "punt_arp_policed", "Other ARP for the router, over punt.arp_pps/arp_burst for its port (an unsolicited ARP flood).";
    PuntResolvePoliced => "punt_resolve_policed", "Packet for a neighbour without an ARP entry, over punt.resolve_pps/resolve_burst for the port it came in on.";
    PuntFragPoliced => "punt_frag_policed", "Fragment for the router, over punt.frag_pps/frag_burst for the port it came in on.";
    PuntHostPoliced => "punt_host_policed", "Packet for the router's kernel twin (TCP, UDP, OSPF...), over linux_cp.punt_pps/punt_burst for the port it came in on.";
    PuntArpKnownQueueFull => "punt_arp_known_queue_full", "The control thread's queue of ARP from known neighbours was full.";
    PuntArpQueueFull => "punt_arp_queue_full", "The control thread's queue of other ARP was full.";
    PuntResolveQueueFull => "punt_resolve_queue_full", "The control thread's queue of packets waiting for neighbour resolution was full.";
    PuntHostQueueFull => "punt_host_queue_full", "The control thread's queue of packets for the kernel twins was full.";
    TwinRefused => "twin_refused", "A kernel twin did not take a punted frame (its queue was full, or it is gone).";
    TwinNotIpv4 => "twin_not_ipv4", "A frame the kernel sent out of a twin that is not IPv4 or has no valid header (ferroute owns ARP; twins have no IPv6).";
    TwinNoMbuf => "twin_no_mbuf", "A frame the kernel sent out of a twin found no free mbuf, or was longer than one.";
    ReasmQueueFull => "reasm_queue_full", "The queue of fragments from the workers to reassembly (on the control thread) was full: a fragment storm; ARP has a queue of its own.";
    Ip4HdrTruncated => "ip4_hdr_truncated", "Frame too short for an IPv4 header (Linux PKT_TOO_SMALL, InHdrErrors).";
    Ip4BadVersion => "ip4_bad_version", "IP version field not 4 in an IPv4 frame (InHdrErrors).";
    Ip4BadIhl => "ip4_bad_ihl", "IPv4 header length below 5 words or beyond the frame (InHdrErrors).";
    Ip4BadChecksum => "ip4_bad_checksum", "IPv4 header checksum wrong (Linux IP_CSUM, InCsumErrors).";
    Ip4BadTotalLength => "ip4_bad_total_length", "IPv4 total length smaller than its header (InHdrErrors).";
    Ip4Truncated => "ip4_truncated", "IPv4 total length beyond the received frame (InTruncatedPkts).";
    Ip4MartianSource => "ip4_martian_source", "Source address 0/8, 127/8 or multicast (Linux IP_INVALID_SOURCE; the broadcasts have ip4_broadcast_source).";
    Ip4MartianDestination => "ip4_martian_destination", "Destination address 0/8 or 127/8 (Linux IP_INVALID_DEST).";
    Ip4Multicast => "ip4_multicast", "Multicast destination; ferroute does not route multicast.";
    Ip4Broadcast => "ip4_broadcast", "Broadcast destination; not forwarded, broadcast echo ignored (RFC 1812 §5.3.5, Linux icmp_echo_ignore_broadcasts).";
    Ip4NotHost => "ip4_not_host", "Unicast IP packet in a link-layer broadcast frame is not forwarded (RFC 1812 §5.3.4).";
    Ip4NoRoute => "ip4_no_route", "No route to the destination (Linux IP_INNOROUTES, InNoRoutes).";
    RouteBlackhole => "route_blackhole", "Destination matched a blackhole route.";
    RouteUnreachable => "route_unreachable", "Destination matched an unreachable route.";
    RouteProhibit => "route_prohibit", "Destination matched a prohibit route.";
    Ip4TtlExceeded => "ip4_ttl_exceeded", "TTL would reach zero on forwarding (RFC 1812 §5.3.1).";
    Ip4FragNeeded => "ip4_frag_needed", "Larger than the egress MTU with DF set (RFC 1191; Linux PKT_TOO_BIG).";
    Ip4FragNoMem => "ip4_frag_nomem", "No packet buffer for a fragment: the whole datagram is dropped (Linux FragFails).";
    Ip4Oversize => "ip4_oversize", "Fragment whose offset plus length passes 65535 octets (the \"ping of death\"), on reassembly or when it would be fragmented again; the whole datagram is discarded.";
    Ip4ReasmTimeout => "ip4_reasm_timeout", "Fragment of a datagram not completed within reassembly.timeout_ms (RFC 791; Linux ReasmTimeout); ICMP time exceeded sent if the first fragment came.";
    Ip4ReasmOverlap => "ip4_reasm_overlap", "Fragment overlapping another of its datagram: the whole datagram is discarded (RFC 5722 applied to IPv4 as Linux does, IPFRAG_OVERLAP).";
    Ip4ReasmDuplicate => "ip4_reasm_duplicate", "Fragment whose data was already received (Linux DUP_FRAG); the datagram is kept.";
    Ip4ReasmInconsistent => "ip4_reasm_inconsistent", "Fragment inconsistent with its datagram (data past the last fragment's end, a second different end, no data): the whole datagram is discarded (Linux ip_frag_queue).";
    Ip4ReasmEvicted => "ip4_reasm_evicted", "Fragment of a datagram evicted, oldest first, to stay within reassembly.max_bytes or max_datagrams.";
    Ip4UnknownProtocol => "ip4_unknown_protocol", "Protocol the router does not serve (Linux IP_NOPROTO); answered with protocol unreachable.";
    UdpNoPort => "udp_no_port", "UDP to the router, which listens on no port; answered with port unreachable.";
    IcmpMalformed => "icmp_malformed", "ICMP message to the router too short or with a bad checksum (Linux ICMP_CSUM).";
    IcmpUnhandled => "icmp_unhandled_type", "ICMP message to the router that is not an echo request.";
    NeighFailed => "neigh_failed", "Next hop did not answer ARP (Linux NEIGH_FAILED); ICMP host unreachable sent.";
    NeighQueueFull => "neigh_queue_full", "Too many packets held for an unresolved neighbour (Linux NEIGH_QUEUEFULL).";
    NeighDeleted => "neigh_deleted", "Held packet dropped because its neighbour entry was deleted (Linux NEIGH_DEAD).";
    NeighTableFull => "neigh_table_full", "Neighbour table full with nothing to evict (Linux \"neighbour table overflow\").";
    TxQueueFull => "tx_queue_full", "The port's TX queue refused the packet.";
    PortDown => "port_down", "Received on, or routed out of, a port that is administratively down (ferroute link set PORT down).";
    QdiscOverlimit => "qdisc_overlimit", "Egress tbf qdisc full: the bytes waiting plus this packet would exceed its limit (Linux tbf/bfifo drop).";
    QdiscExceedsBurst => "qdisc_exceeds_burst", "Packet longer than the egress tbf qdisc's burst: it could never collect enough tokens (Linux tbf max_size drop).";
    // Source and destination checks, IP options and local TCP/UDP (issue 16).
    Ip4LocalSource => "ip4_local_source", "Source address is one of the router's own: a spoofed packet (Linux ip_route_input_slow martian source via fib_validate_source).";
    Ip4BroadcastSource => "ip4_broadcast_source", "Source address is the limited broadcast or the directed broadcast of a connected subnet (RFC 1812 §5.3.7, §4.2.2.11).";
    Ip4RpFilter => "ip4_rp_filter", "Reverse-path filter (ip.rp_filter 1 strict, 2 loose): no route back to the source through the arrival port, or none at all (Linux fib_validate_source, RFC 3704).";
    Ip4DirectedBroadcast => "ip4_directed_broadcast", "Directed broadcast to a connected subnet not forwarded (RFC 2644; ip.bc_forwarding off, as Linux bc_forwarding=0).";
    Ip4SourceRoute => "ip4_source_route", "Packet with a loose or strict source route option (LSRR/SSRR) dropped (ip.accept_source_route off, as Linux accept_source_route=0).";
    Ip4BadOptions => "ip4_bad_options", "Malformed IP option; answered with ICMP parameter problem pointing at the bad octet (Linux ip_options_compile, InHdrErrors).";
    TcpNoSocket => "tcp_no_socket", "TCP segment to the router, which listens on no port; answered with a reset (RFC 793 §3.4, Linux NO_SOCKET).";
    TcpMalformed => "tcp_malformed", "TCP segment to the router too short, with a bad data offset or checksum (Linux TCP_CSUM, PKT_TOO_SMALL); no reset.";
    UdpMalformed => "udp_malformed", "UDP datagram to the router with a bad length or checksum (Linux UDP_CSUM, PKT_TOO_SMALL); no port unreachable.";
    IgmpIgnored => "igmp_ignored", "IGMP message to the router, which is no multicast router: ignored, as Linux's igmp_rcv ignores what it does not track (no protocol unreachable).";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_prometheus_labels_with_help() {
        let mut seen = HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.name()), "duplicate {}", r.name());
            assert!(r
                .name()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert!(r.help().ends_with('.'));
            assert_eq!(Reason::ALL[*r as usize], *r);
        }
    }
}
