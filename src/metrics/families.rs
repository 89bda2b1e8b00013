//! The metric families: each one's name, HELP, type and labels (one `Spec` per family,
//! listed by `all_specs` for the collector's descriptors), and a snapshot turned into
//! their samples ([`families`]).

use super::Snapshot;
use crate::datapath::qdisc::QdiscStatus;
use crate::datapath::{IcmpOut, PortStat, ReasmFail, Reason, Tally};
use crate::dpdk::PortStats;
use crate::neigh::NeighState;
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

/// A metric family: name, HELP, type and label names. `FAMILIES` lists them all, so the
/// collector's descriptors and what it collects cannot disagree.
pub(super) struct Spec {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    counter: bool,
    pub(super) labels: &'static [&'static str],
}

const fn counter(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Spec {
    Spec {
        name,
        help,
        counter: true,
        labels,
    }
}

const fn gauge(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Spec {
    Spec {
        name,
        help,
        counter: false,
        labels,
    }
}

const PORT: &[&str] = &["port"];
const LCORE: &[&str] = &["lcore"];

/// The software per-port counters, in [`PortStat`] order.
const PORT_SW: [Spec; PortStat::COUNT] = [
    counter(
        "ferroute_port_rx_packets_total",
        PORT,
        "Packets the datapath received on the port.",
    ),
    counter(
        "ferroute_port_rx_bytes_total",
        PORT,
        "Bytes (Ethernet frames without FCS) the datapath received on the port.",
    ),
    counter(
        "ferroute_port_tx_packets_total",
        PORT,
        "Packets the PMD accepted for transmission on the port.",
    ),
    counter(
        "ferroute_port_tx_bytes_total",
        PORT,
        "Bytes (Ethernet frames without FCS) queued for transmission on the port.",
    ),
    counter(
        "ferroute_port_forwarded_packets_total",
        PORT,
        "Packets received on the port and forwarded (counted on the ingress port).",
    ),
    counter(
        "ferroute_port_delivered_packets_total",
        PORT,
        "Packets received on the port and addressed to the router itself.",
    ),
    counter(
        "ferroute_port_dropped_packets_total",
        PORT,
        "Packets received on the port and dropped, for any reason (see ferroute_drops_total).",
    ),
];

const PMD_RX_PACKETS: Spec = counter(
    "ferroute_port_pmd_rx_packets_total",
    PORT,
    "Packets received, as the PMD counts them (rte_eth_stats.ipackets).",
);
const PMD_TX_PACKETS: Spec = counter(
    "ferroute_port_pmd_tx_packets_total",
    PORT,
    "Packets transmitted, as the PMD counts them (rte_eth_stats.opackets).",
);
const PMD_RX_BYTES: Spec = counter(
    "ferroute_port_pmd_rx_bytes_total",
    PORT,
    "Bytes received, as the PMD counts them (rte_eth_stats.ibytes).",
);
const PMD_TX_BYTES: Spec = counter(
    "ferroute_port_pmd_tx_bytes_total",
    PORT,
    "Bytes transmitted, as the PMD counts them (rte_eth_stats.obytes).",
);
const PMD_RX_MISSED: Spec = counter(
    "ferroute_port_pmd_rx_missed_total",
    PORT,
    "Packets the NIC dropped because the RX queue was full (rte_eth_stats.imissed).",
);
const PMD_RX_ERRORS: Spec = counter(
    "ferroute_port_pmd_rx_errors_total",
    PORT,
    "Erroneous packets received (rte_eth_stats.ierrors).",
);
const PMD_TX_ERRORS: Spec = counter(
    "ferroute_port_pmd_tx_errors_total",
    PORT,
    "Packets that failed transmission (rte_eth_stats.oerrors).",
);
const PMD_RX_NOMBUF: Spec = counter(
    "ferroute_port_pmd_rx_nombuf_total",
    PORT,
    "RX mbuf allocation failures (rte_eth_stats.rx_nombuf).",
);
const PORT_LINK_UP: Spec = gauge(
    "ferroute_port_link_up",
    PORT,
    "1 if the port's link is up, else 0.",
);
/// The egress qdisc (tbf) families, present for ports that have one.
type QdiscField = fn(&QdiscStatus) -> u64;
const QDISC: [(Spec, QdiscField); 9] = [
    (
        counter(
            "ferroute_qdisc_sent_bytes_total",
            PORT,
            "Bytes (Ethernet frames without FCS, as Linux's qdisc_pkt_len) that left the port's \
             egress qdisc for the TX queue.",
        ),
        |q| q.sent_bytes,
    ),
    (
        counter(
            "ferroute_qdisc_sent_packets_total",
            PORT,
            "Packets that left the port's egress qdisc for the TX queue.",
        ),
        |q| q.sent_packets,
    ),
    (
        counter(
            "ferroute_qdisc_dropped_packets_total",
            PORT,
            "Packets the port's egress qdisc dropped (over its limit, or longer than its burst).",
        ),
        |q| q.dropped,
    ),
    (
        gauge(
            "ferroute_qdisc_backlog_bytes",
            PORT,
            "Bytes waiting in the port's egress qdisc for tokens.",
        ),
        |q| q.backlog_bytes,
    ),
    (
        gauge(
            "ferroute_qdisc_backlog_packets",
            PORT,
            "Packets waiting in the port's egress qdisc for tokens.",
        ),
        |q| q.backlog_packets,
    ),
    (
        gauge(
            "ferroute_qdisc_tokens_bytes",
            PORT,
            "Bytes' worth of tokens in the port's tbf bucket at scrape time (at most burst).",
        ),
        |q| q.tokens,
    ),
    (
        gauge(
            "ferroute_qdisc_rate_bytes_per_second",
            PORT,
            "The tbf's configured rate (tc's rate in bit/s divided by 8).",
        ),
        |q| q.params.rate / 8,
    ),
    (
        gauge(
            "ferroute_qdisc_burst_bytes",
            PORT,
            "The tbf's configured burst (bucket size).",
        ),
        |q| u64::from(q.params.burst),
    ),
    (
        gauge(
            "ferroute_qdisc_limit_bytes",
            PORT,
            "The tbf's limit: bytes that may wait (given, or derived from latency as tc does).",
        ),
        |q| u64::from(q.params.limit),
    ),
];

const DROPS: Spec = counter(
    "ferroute_drops_total",
    &["reason"],
    "Packets dropped, by reason; every reason is present. What a reason means: the \
     description label of ferroute_drop_reason_info.",
);
const DROP_REASON_INFO: Spec = gauge(
    "ferroute_drop_reason_info",
    &["reason", "description"],
    "What each drop reason of ferroute_drops_total means; always 1.",
);
const ICMP_SENT: Spec = counter(
    "ferroute_icmp_sent_total",
    &["type", "code"],
    "ICMP messages the router sent (echo replies and errors), by ICMP type and code.",
);
const ICMP_RATELIMITED: Spec = counter(
    "ferroute_icmp_ratelimited_total",
    &[],
    "ICMP messages not sent because the global token bucket (icmp.msgs_per_sec, Linux \
     icmp_msgs_per_sec) was empty.",
);
const ICMP_RATELIMITED_HOST: Spec = counter(
    "ferroute_icmp_ratelimited_host_total",
    &[],
    "ICMP messages not sent because their destination host's token bucket \
     (icmp.ratelimit_ms, Linux icmp_ratelimit) was empty.",
);
const ICMP_PEERS_EVICTED: Spec = counter(
    "ferroute_icmp_peers_evicted_total",
    &[],
    "Hosts the per-host ICMP rate limiter forgot to make room for new ones (icmp.peers).",
);
const ICMP_SUPPRESSED: Spec = counter(
    "ferroute_icmp_suppressed_total",
    &[],
    "ICMP errors not sent because RFC 1812 4.3.2.7 forbids them (about ICMP errors, \
     fragments, broadcasts, martians).",
);
const PUNTED: Spec = counter(
    "ferroute_punted_packets_total",
    &[],
    "Packets the workers handed to the control thread (ARP, unresolved next hops, \
     fragments for reassembly).",
);
const ARP_REQUESTS: Spec = counter(
    "ferroute_arp_requests_sent_total",
    &[],
    "ARP requests the control thread sent (resolution and probes).",
);
const FRAG_PACKETS: Spec = counter(
    "ferroute_packets_fragmented_total",
    &[],
    "Datagrams longer than the egress MTU sent as fragments (Linux FragOKs); \
     fragmentation needed sent: ferroute_icmp_sent_total{type=\"3\",code=\"4\"}.",
);
const FRAG_CREATED: Spec = counter(
    "ferroute_fragments_created_total",
    &[],
    "Fragments made by fragmenting datagrams (Linux FragCreates).",
);
const REASM_FRAGMENTS: Spec = counter(
    "ferroute_reassembly_fragments_total",
    &[],
    "Fragments addressed to the router taken into reassembly (Linux ReasmReqds).",
);
const REASM_OK: Spec = counter(
    "ferroute_reassembled_datagrams_total",
    &[],
    "Datagrams reassembled and delivered (Linux ReasmOKs).",
);
const REASM_FAILS: Spec = counter(
    "ferroute_reassembly_failures_total",
    &["reason"],
    "Datagrams given up by reassembly, by reason (timeout, overlap, oversize, \
     inconsistent, evicted); their fragments count in ferroute_drops_total.",
);
const REASM_BYTES: Spec = gauge(
    "ferroute_reassembly_bytes",
    &[],
    "Memory held by datagrams in reassembly: data plus bookkeeping, at most \
     reassembly.max_bytes.",
);
const REASM_DATAGRAMS: Spec = gauge(
    "ferroute_reassembly_datagrams",
    &[],
    "Datagrams in reassembly, at most reassembly.max_datagrams.",
);
const LINUX_CP: Spec = counter(
    "ferroute_linux_cp_total",
    &["event"],
    "The exception path and the kernel-table mirror ([linux_cp]): frames to_kernel \
     (written to a twin), from_kernel (sent by the kernel through ferroute), \
     to_kernel_errors (a twin refused one), route mirror_events, mirror_resyncs (the \
     dump at start and after lost events), mirror_rejected (routes the API refused).",
);
const LINUX_CP_ROUTES: Spec = gauge(
    "ferroute_linux_cp_mirror_routes",
    &[],
    "Routes the kernel-table mirror holds in ferroute's RIB.",
);
const FIB_ROUTES: Spec = gauge(
    "ferroute_fib_routes",
    &[],
    "Prefixes in the FIB the workers use.",
);
const FIB_VERSION: Spec = gauge(
    "ferroute_fib_version",
    &[],
    "Version of the FIB the workers use; grows with every rebuild.",
);
const FIB_MEMORY: Spec = gauge(
    "ferroute_fib_memory_bytes",
    &[],
    "Memory of the FIB's lookup structure and next-hop table.",
);
const NEIGHBOURS: Spec = gauge(
    "ferroute_neighbours",
    &["state"],
    "Neighbour (ARP) table entries by state, as ip neigh names them.",
);
const NEIGH_HELD: Spec = gauge(
    "ferroute_neighbour_held_packets",
    &[],
    "Packets held waiting for a neighbour to be resolved.",
);
const MBUFS_IN_USE: Spec = gauge(
    "ferroute_mempool_mbufs_in_use",
    &[],
    "Packet mbufs allocated (in rings, queues or being processed).",
);
const MBUFS_FREE: Spec = gauge(
    "ferroute_mempool_mbufs_free",
    &[],
    "Packet mbufs available (pool and per-lcore caches).",
);
const LCORE_BUSY: Spec = counter(
    "ferroute_lcore_busy_cycles_total",
    LCORE,
    "TSC cycles a worker spent in poll rounds that received packets.",
);
const LCORE_IDLE: Spec = counter(
    "ferroute_lcore_idle_cycles_total",
    LCORE,
    "TSC cycles a worker spent in poll rounds that received nothing.",
);
const LCORE_BURSTS: Spec = counter(
    "ferroute_lcore_bursts_total",
    LCORE,
    "Non-empty RX bursts a worker received; burst_packets_total / bursts_total is the \
     mean burst size.",
);
const LCORE_BURST_PACKETS: Spec = counter(
    "ferroute_lcore_burst_packets_total",
    LCORE,
    "Packets in a worker's RX bursts.",
);
const TSC_HZ: Spec = gauge(
    "ferroute_tsc_hertz",
    &[],
    "TSC frequency: divide the cycle counters by it for seconds.",
);
const BUILD_INFO: Spec = gauge(
    "ferroute_build_info",
    &["version", "git_rev", "dpdk"],
    "ferroute's version and git revision and the DPDK it runs on; always 1.",
);

/// Every family, for the collector's descriptors.
pub(super) fn all_specs() -> Vec<&'static Spec> {
    let mut v: Vec<&'static Spec> = PORT_SW.iter().collect();
    v.extend(QDISC.iter().map(|(spec, _)| spec));
    v.extend([
        &PMD_RX_PACKETS,
        &PMD_TX_PACKETS,
        &PMD_RX_BYTES,
        &PMD_TX_BYTES,
        &PMD_RX_MISSED,
        &PMD_RX_ERRORS,
        &PMD_TX_ERRORS,
        &PMD_RX_NOMBUF,
        &PORT_LINK_UP,
        &DROPS,
        &DROP_REASON_INFO,
        &ICMP_SENT,
        &ICMP_RATELIMITED,
        &ICMP_RATELIMITED_HOST,
        &ICMP_PEERS_EVICTED,
        &ICMP_SUPPRESSED,
        &PUNTED,
        &ARP_REQUESTS,
        &FRAG_PACKETS,
        &FRAG_CREATED,
        &REASM_FRAGMENTS,
        &REASM_OK,
        &REASM_FAILS,
        &REASM_BYTES,
        &REASM_DATAGRAMS,
        &LINUX_CP,
        &LINUX_CP_ROUTES,
        &FIB_ROUTES,
        &FIB_VERSION,
        &FIB_MEMORY,
        &NEIGHBOURS,
        &NEIGH_HELD,
        &MBUFS_IN_USE,
        &MBUFS_FREE,
        &LCORE_BUSY,
        &LCORE_IDLE,
        &LCORE_BURSTS,
        &LCORE_BURST_PACKETS,
        &TSC_HZ,
        &BUILD_INFO,
    ]);
    v
}

/// Builds one family's samples.
struct Family {
    spec: &'static Spec,
    mf: MetricFamily,
}

impl Family {
    fn new(spec: &'static Spec) -> Family {
        let mut mf = MetricFamily::default();
        mf.set_name(spec.name.into());
        mf.set_help(spec.help.into());
        mf.set_field_type(if spec.counter {
            MetricType::COUNTER
        } else {
            MetricType::GAUGE
        });
        Family { spec, mf }
    }

    /// Adds a sample; `values` are the label values in the spec's order.
    fn sample(&mut self, values: &[&str], v: u64) -> &mut Family {
        debug_assert_eq!(values.len(), self.spec.labels.len(), "{}", self.spec.name);
        let mut m = Metric::default();
        m.set_label(
            self.spec
                .labels
                .iter()
                .zip(values)
                .map(|(name, value)| {
                    let mut l = LabelPair::default();
                    l.set_name((*name).into());
                    l.set_value((*value).into());
                    l
                })
                .collect(),
        );
        // Prometheus values are doubles: exact up to 2^53.
        let v = v as f64;
        if self.spec.counter {
            let mut c = Counter::default();
            c.set_value(v);
            m.set_counter(c);
        } else {
            let mut g = Gauge::default();
            g.set_value(v);
            m.set_gauge(g);
        }
        self.mf.mut_metric().push(m);
        self
    }
}

/// The metric families of a snapshot (unsorted; the registry sorts).
pub fn families(s: &Snapshot) -> Vec<MetricFamily> {
    let mut out: Vec<Family> = Vec::new();
    let one = |spec: &'static Spec, v: u64| {
        let mut f = Family::new(spec);
        f.sample(&[], v);
        f
    };
    out.extend([
        one(&ICMP_RATELIMITED, s.totals.icmp_ratelimited),
        one(&ICMP_RATELIMITED_HOST, s.totals.icmp_ratelimited_host),
        one(&ICMP_PEERS_EVICTED, s.totals.icmp_peers_evicted),
        one(&ICMP_SUPPRESSED, s.totals.icmp_suppressed),
        one(&PUNTED, s.totals.punted),
        one(&ARP_REQUESTS, s.totals.arp_requests),
        one(&FRAG_PACKETS, s.totals.frag_packets),
        one(&FRAG_CREATED, s.totals.frag_created),
        one(&REASM_FRAGMENTS, s.totals.reasm_fragments),
        one(&REASM_OK, s.totals.reasm_ok),
        one(&REASM_BYTES, s.reasm_bytes),
        one(&REASM_DATAGRAMS, s.reasm_datagrams),
        one(&FIB_ROUTES, s.fib_routes),
        one(&FIB_VERSION, s.fib_version),
        one(&FIB_MEMORY, s.fib_memory_bytes),
        one(&NEIGH_HELD, s.neigh.held),
        one(&MBUFS_IN_USE, s.mbufs_in_use),
        one(&MBUFS_FREE, s.mbufs_free),
        one(&TSC_HZ, s.tsc_hz),
    ]);

    for (i, spec) in PORT_SW.iter().enumerate() {
        let mut f = Family::new(spec);
        for p in &s.ports {
            f.sample(&[&p.name], p.sw[i]);
        }
        out.push(f);
    }
    type PmdField = fn(&PortStats) -> u64;
    let pmd: [(&'static Spec, PmdField); 8] = [
        (&PMD_RX_PACKETS, |st| st.ipackets),
        (&PMD_TX_PACKETS, |st| st.opackets),
        (&PMD_RX_BYTES, |st| st.ibytes),
        (&PMD_TX_BYTES, |st| st.obytes),
        (&PMD_RX_MISSED, |st| st.imissed),
        (&PMD_RX_ERRORS, |st| st.ierrors),
        (&PMD_TX_ERRORS, |st| st.oerrors),
        (&PMD_RX_NOMBUF, |st| st.rx_nombuf),
    ];
    for (spec, field) in pmd {
        let mut f = Family::new(spec);
        for p in &s.ports {
            f.sample(&[&p.name], field(&p.pmd));
        }
        out.push(f);
    }
    for (spec, field) in &QDISC {
        let mut f = Family::new(spec);
        for (name, q) in &s.qdiscs {
            f.sample(&[name], field(q));
        }
        out.push(f);
    }
    let mut f = Family::new(&PORT_LINK_UP);
    for p in &s.ports {
        f.sample(&[&p.name], u64::from(p.link_up));
    }
    out.push(f);

    let mut drops = Family::new(&DROPS);
    let mut info = Family::new(&DROP_REASON_INFO);
    for r in Reason::ALL {
        drops.sample(&[r.name()], s.totals.drops_of(*r));
        info.sample(&[r.name(), r.help()], 1);
    }
    out.extend([drops, info]);

    let mut f = Family::new(&ICMP_SENT);
    for k in IcmpOut::ALL {
        let (t, c) = k.type_code();
        f.sample(
            &[&t.to_string(), &c.to_string()],
            s.totals.icmp_out[*k as usize],
        );
    }
    out.push(f);

    let mut f = Family::new(&REASM_FAILS);
    for k in ReasmFail::ALL {
        f.sample(&[k.name()], s.totals.reasm_fail[*k as usize]);
    }
    out.push(f);

    let mut f = Family::new(&NEIGHBOURS);
    for (state, n) in NeighState::ALL.iter().zip(&s.neigh.by_state) {
        f.sample(&[state.name()], *n);
    }
    out.push(f);

    type LcoreField = fn(&Tally) -> u64;
    let lcore: [(&'static Spec, LcoreField); 4] = [
        (&LCORE_BUSY, |t| t.busy_cycles),
        (&LCORE_IDLE, |t| t.idle_cycles),
        (&LCORE_BURSTS, |t| t.bursts),
        (&LCORE_BURST_PACKETS, |t| t.burst_packets),
    ];
    for (spec, field) in lcore {
        let mut f = Family::new(spec);
        for (id, t) in &s.workers {
            f.sample(&[&id.to_string()], field(t));
        }
        out.push(f);
    }

    let mut f = Family::new(&BUILD_INFO);
    let b = &s.build;
    f.sample(&[&b.version, &b.git_rev, &b.dpdk], 1);
    out.push(f);

    if let Some(pairs) = &s.linux_cp {
        let mut f = Family::new(&LINUX_CP);
        for (k, v) in pairs.iter().filter(|(k, _)| *k != "mirror_routes") {
            f.sample(&[k], *v);
        }
        out.push(f);
        let routes = pairs.iter().find(|(k, _)| *k == "mirror_routes");
        out.push(one(&LINUX_CP_ROUTES, routes.map_or(0, |(_, v)| *v)));
    }

    out.into_iter().map(|f| f.mf).collect()
}
