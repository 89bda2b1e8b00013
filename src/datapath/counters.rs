//! Per-lcore counters. The worker adds into a plain [`Tally`] while it processes a burst
//! and folds it into its [`SharedCounters`] once per burst; each counter has a single
//! writer, so the fold is a relaxed load and store (no atomic read-modify-write), and
//! readers (metrics, `ferroute counters`) sum every lcore's copy.

use super::Reason;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Ports a counter table has room for.
pub const MAX_PORTS: usize = 16;

macro_rules! kinds {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $ty { $($variant),* }
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];
            pub const COUNT: usize = $ty::ALL.len();
            pub fn name(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
        }
    };
}

kinds!(PortStat {
    RxPackets => "rx_packets",
    RxBytes => "rx_bytes",
    TxPackets => "tx_packets",
    TxBytes => "tx_bytes",
    Forwarded => "forwarded",
    Delivered => "delivered",
    Dropped => "dropped",
});

kinds!(QdiscStat {
    SentPackets => "sent_packets",
    SentBytes => "sent_bytes",
    Dropped => "dropped",
});

kinds!(IcmpOut {
    EchoReply => "echo_reply",
    NetUnreachable => "net_unreachable",
    HostUnreachable => "host_unreachable",
    ProtoUnreachable => "proto_unreachable",
    PortUnreachable => "port_unreachable",
    FragNeeded => "frag_needed",
    AdminProhibited => "admin_prohibited",
    TtlExceeded => "ttl_exceeded",
    ReasmTimeout => "reasm_timeout",
    ParamProblem => "param_problem",
});

kinds!(ReasmFail {
    Timeout => "timeout",
    Overlap => "overlap",
    Oversize => "oversize",
    Inconsistent => "inconsistent",
    Evicted => "evicted",
});

impl ReasmFail {
    /// The drop reason of each fragment of a datagram that failed this way.
    pub fn reason(self) -> Reason {
        match self {
            ReasmFail::Timeout => Reason::Ip4ReasmTimeout,
            ReasmFail::Overlap => Reason::Ip4ReasmOverlap,
            ReasmFail::Oversize => Reason::Ip4Oversize,
            ReasmFail::Inconsistent => Reason::Ip4ReasmInconsistent,
            ReasmFail::Evicted => Reason::Ip4ReasmEvicted,
        }
    }
}

impl IcmpOut {
    /// ICMP (type, code) on the wire.
    pub fn type_code(self) -> (u8, u8) {
        match self {
            IcmpOut::EchoReply => (0, 0),
            IcmpOut::NetUnreachable => (3, 0),
            IcmpOut::HostUnreachable => (3, 1),
            IcmpOut::ProtoUnreachable => (3, 2),
            IcmpOut::PortUnreachable => (3, 3),
            IcmpOut::FragNeeded => (3, 4),
            IcmpOut::AdminProhibited => (3, 13),
            IcmpOut::TtlExceeded => (11, 0),
            IcmpOut::ReasmTimeout => (11, 1),
            IcmpOut::ParamProblem => (12, 0),
        }
    }
}

/// Counters of one lcore, as plain integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub drops: [u64; Reason::COUNT],
    pub ports: [[u64; PortStat::COUNT]; MAX_PORTS],
    /// Egress qdisc counters by egress port (sent: left the qdisc for the TX queue).
    pub qdisc: [[u64; QdiscStat::COUNT]; MAX_PORTS],
    pub icmp_out: [u64; IcmpOut::COUNT],
    /// ICMP messages not sent because the global bucket (icmp.msgs_per_sec) was empty.
    pub icmp_ratelimited: u64,
    /// ... because their destination host's bucket (icmp.ratelimit_ms) was empty.
    pub icmp_ratelimited_host: u64,
    /// Hosts the per-host ICMP limiter forgot to make room for new ones.
    pub icmp_peers_evicted: u64,
    /// ICMP errors not sent because RFC 1812 §4.3.2.7 forbids them.
    pub icmp_suppressed: u64,
    /// Packets handed to the control thread (ARP, unresolved next hops, fragments).
    pub punted: u64,
    /// ARP requests the control thread sent (resolution and probes).
    pub arp_requests: u64,
    /// Datagrams sent as fragments (Linux FragOKs) and the fragments made (FragCreates).
    pub frag_packets: u64,
    pub frag_created: u64,
    /// Fragments received for reassembly (ReasmReqds), datagrams reassembled (ReasmOKs),
    /// and datagrams given up, by why (ReasmFails).
    pub reasm_fragments: u64,
    pub reasm_ok: u64,
    pub reasm_fail: [u64; ReasmFail::COUNT],
    pub busy_cycles: u64,
    pub idle_cycles: u64,
    pub bursts: u64,
    pub burst_packets: u64,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            drops: [0; Reason::COUNT],
            ports: [[0; PortStat::COUNT]; MAX_PORTS],
            qdisc: [[0; QdiscStat::COUNT]; MAX_PORTS],
            icmp_out: [0; IcmpOut::COUNT],
            icmp_ratelimited: 0,
            icmp_ratelimited_host: 0,
            icmp_peers_evicted: 0,
            icmp_suppressed: 0,
            punted: 0,
            arp_requests: 0,
            frag_packets: 0,
            frag_created: 0,
            reasm_fragments: 0,
            reasm_ok: 0,
            reasm_fail: [0; ReasmFail::COUNT],
            busy_cycles: 0,
            idle_cycles: 0,
            bursts: 0,
            burst_packets: 0,
        }
    }
}

impl Tally {
    #[inline]
    pub fn drop(&mut self, port: u16, reason: Reason) {
        self.drops[reason as usize] += 1;
        self.port(port, PortStat::Dropped, 1);
    }

    #[inline]
    pub fn port(&mut self, port: u16, stat: PortStat, n: u64) {
        if let Some(p) = self.ports.get_mut(port as usize) {
            p[stat as usize] += n;
        }
    }

    #[inline]
    pub fn qdisc(&mut self, port: u16, stat: QdiscStat, n: u64) {
        if let Some(p) = self.qdisc.get_mut(port as usize) {
            p[stat as usize] += n;
        }
    }

    pub fn qdisc_stat(&self, port: u16, stat: QdiscStat) -> u64 {
        self.qdisc
            .get(port as usize)
            .map_or(0, |p| p[stat as usize])
    }

    #[inline]
    pub fn icmp(&mut self, kind: IcmpOut) {
        self.icmp_out[kind as usize] += 1;
    }

    pub fn drops_of(&self, r: Reason) -> u64 {
        self.drops[r as usize]
    }

    pub fn port_stat(&self, port: u16, stat: PortStat) -> u64 {
        self.ports
            .get(port as usize)
            .map_or(0, |p| p[stat as usize])
    }

    fn fields(&self) -> impl Iterator<Item = &u64> {
        self.drops
            .iter()
            .chain(self.ports.iter().flatten())
            .chain(self.qdisc.iter().flatten())
            .chain(self.icmp_out.iter())
            .chain(self.reasm_fail.iter())
            .chain([
                &self.icmp_ratelimited,
                &self.icmp_ratelimited_host,
                &self.icmp_peers_evicted,
                &self.icmp_suppressed,
                &self.punted,
                &self.arp_requests,
                &self.frag_packets,
                &self.frag_created,
                &self.reasm_fragments,
                &self.reasm_ok,
                &self.busy_cycles,
                &self.idle_cycles,
                &self.bursts,
                &self.burst_packets,
            ])
    }

    fn fields_mut(&mut self) -> impl Iterator<Item = &mut u64> {
        self.drops
            .iter_mut()
            .chain(self.ports.iter_mut().flatten())
            .chain(self.qdisc.iter_mut().flatten())
            .chain(self.icmp_out.iter_mut())
            .chain(self.reasm_fail.iter_mut())
            .chain([
                &mut self.icmp_ratelimited,
                &mut self.icmp_ratelimited_host,
                &mut self.icmp_peers_evicted,
                &mut self.icmp_suppressed,
                &mut self.punted,
                &mut self.arp_requests,
                &mut self.frag_packets,
                &mut self.frag_created,
                &mut self.reasm_fragments,
                &mut self.reasm_ok,
                &mut self.busy_cycles,
                &mut self.idle_cycles,
                &mut self.bursts,
                &mut self.burst_packets,
            ])
    }

    /// Adds another tally into this one (summing lcores).
    pub fn add(&mut self, other: &Tally) {
        for (a, b) in self.fields_mut().zip(other.fields()) {
            *a += *b;
        }
    }
}

/// One lcore's counters, readable from other threads, and its gauges.
pub struct SharedCounters {
    cells: Vec<AtomicU64>,
    /// Bytes and packets waiting in this lcore's egress qdiscs, by port (gauges: stored,
    /// not added; the port's backlog is the sum over lcores).
    backlog: [[AtomicU64; 2]; MAX_PORTS],
}

impl Default for SharedCounters {
    fn default() -> Self {
        let n = Tally::default().fields().count();
        SharedCounters {
            cells: (0..n).map(|_| AtomicU64::new(0)).collect(),
            backlog: std::array::from_fn(|_| [AtomicU64::new(0), AtomicU64::new(0)]),
        }
    }
}

impl SharedCounters {
    /// Folds `t` in and clears it. Call only from the owning lcore (single writer).
    pub fn flush(&self, t: &mut Tally) {
        for (cell, v) in self.cells.iter().zip(t.fields_mut()) {
            if *v != 0 {
                cell.store(cell.load(Relaxed) + *v, Relaxed);
                *v = 0;
            }
        }
    }

    /// Publishes this lcore's qdisc backlog on `port` (owning lcore only).
    pub fn set_backlog(&self, port: u16, bytes: u64, packets: u64) {
        if let Some([b, p]) = self.backlog.get(port as usize) {
            b.store(bytes, Relaxed);
            p.store(packets, Relaxed);
        }
    }

    /// This lcore's qdisc backlog on `port`: (bytes, packets).
    pub fn backlog(&self, port: u16) -> (u64, u64) {
        self.backlog
            .get(port as usize)
            .map_or((0, 0), |[b, p]| (b.load(Relaxed), p.load(Relaxed)))
    }

    /// A copy of the current values.
    pub fn read(&self) -> Tally {
        let mut t = Tally::default();
        for (cell, v) in self.cells.iter().zip(t.fields_mut()) {
            *v = cell.load(Relaxed);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_moves_tally_into_shared_and_clears_it() {
        let shared = SharedCounters::default();
        let mut t = Tally::default();
        t.drop(1, Reason::Ip4BadChecksum);
        t.port(1, PortStat::RxPackets, 3);
        t.icmp(IcmpOut::TtlExceeded);
        t.burst_packets = 3;
        t.reasm_fail[ReasmFail::Overlap as usize] = 2;
        t.frag_created = 4;
        shared.flush(&mut t);
        assert_eq!(t, Tally::default());
        t.drop(1, Reason::Ip4BadChecksum);
        shared.flush(&mut t);
        let r = shared.read();
        assert_eq!(r.drops_of(Reason::Ip4BadChecksum), 2);
        assert_eq!(r.port_stat(1, PortStat::Dropped), 2);
        assert_eq!(r.port_stat(1, PortStat::RxPackets), 3);
        assert_eq!(r.icmp_out[IcmpOut::TtlExceeded as usize], 1);
        assert_eq!(r.burst_packets, 3);
        assert_eq!(r.reasm_fail[ReasmFail::Overlap as usize], 2);
        assert_eq!(r.frag_created, 4);
        // Out-of-range ports are ignored rather than panicking.
        t.port(200, PortStat::RxPackets, 1);
        let mut sum = Tally::default();
        sum.add(&r);
        sum.add(&r);
        assert_eq!(sum.drops_of(Reason::Ip4BadChecksum), 4);
    }
}
