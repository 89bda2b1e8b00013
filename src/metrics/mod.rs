//! Prometheus metrics. Nothing is kept between scrapes: each scrape takes a
//! [`Snapshot`] (relaxed loads of every lcore's [`SharedCounters`], the PMD's counters,
//! the current FIB, the neighbour summary the control thread publishes, the mempool's
//! counts) and a [`SnapshotCollector`] turns it into metric families, which the
//! `prometheus` crate's registry sorts and its text encoder writes out. The workers'
//! fast path is never touched: their counters are single-writer atomics read here with
//! relaxed loads, so every `_total` only goes up as long as the router runs.
//!
//! Drop reasons: a metric family has one HELP line, so `ferroute_drops_total` has a
//! general one and each reason's meaning is exposed as the `description` label of
//! `ferroute_drop_reason_info{reason, description} 1` (join on `reason` in PromQL).

pub mod http;

use crate::datapath::ip4_reassembly::ReasmGauges;
use crate::datapath::qdisc::QdiscStatus;
use crate::datapath::worker::Shared;
use crate::datapath::{IcmpOut, PortStat, ReasmFail, Reason, SharedCounters, Tally};
use crate::dpdk::{self, Mempool, PortStats};
use crate::neigh::NeighState;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, Registry, TextEncoder};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Content type of the text exposition format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Neighbour table summary the control thread publishes (the table itself is not
/// `Sync` and lives on the control thread).
#[derive(Debug, Default)]
pub struct NeighSummary {
    by_state: [AtomicU64; NeighState::ALL.len()],
    held: AtomicU64,
}

impl NeighSummary {
    /// Called by the control thread only (single writer).
    pub fn publish(&self, by_state: &[usize; NeighState::ALL.len()], held: usize) {
        for (cell, n) in self.by_state.iter().zip(by_state) {
            cell.store(*n as u64, Relaxed);
        }
        self.held.store(held as u64, Relaxed);
    }

    pub fn read(&self) -> NeighSample {
        let mut by_state = [0; NeighState::ALL.len()];
        for (v, cell) in by_state.iter_mut().zip(&self.by_state) {
            *v = cell.load(Relaxed);
        }
        NeighSample {
            by_state,
            held: self.held.load(Relaxed),
        }
    }
}

/// Neighbour entries per state (indexed like [`NeighState::ALL`]) and held packets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeighSample {
    pub by_state: [u64; NeighState::ALL.len()],
    pub held: u64,
}

/// One port at scrape time.
#[derive(Debug, Clone)]
pub struct PortSample {
    pub name: String,
    /// The datapath's counters for this port, summed over lcores.
    pub sw: [u64; PortStat::COUNT],
    /// The PMD's counters.
    pub pmd: PortStats,
    pub link_up: bool,
}

/// Build identity for `ferroute_build_info`.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: String,
    pub git_rev: String,
    pub dpdk: String,
}

impl BuildInfo {
    /// This binary's version and git revision with the given DPDK version string.
    pub fn this_build(dpdk: String) -> BuildInfo {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            git_rev: env!("FERROUTE_GIT_REV").into(),
            dpdk,
        }
    }
}

/// Everything one scrape shows, as plain values (rendering needs no DPDK).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Sum of every lcore's counters (workers and the control thread).
    pub totals: Tally,
    /// Each worker lcore's own counters, by lcore id.
    pub workers: Vec<(u32, Tally)>,
    pub ports: Vec<PortSample>,
    /// Ports with an egress qdisc: (port name, its state).
    pub qdiscs: Vec<(String, QdiscStatus)>,
    pub fib_routes: u64,
    pub fib_version: u64,
    pub fib_memory_bytes: u64,
    pub neigh: NeighSample,
    /// Reassembly table: accounted bytes and datagrams in progress.
    pub reasm_bytes: u64,
    pub reasm_datagrams: u64,
    pub mbufs_in_use: u64,
    pub mbufs_free: u64,
    /// The exception path's and the mirror's counters (`[linux_cp]` on).
    pub linux_cp: Option<[(&'static str, u64); 7]>,
    pub tsc_hz: u64,
    pub build: BuildInfo,
}

/// What the metrics thread reads; all of it is `Send + Sync` and safe to read while the
/// router runs.
pub struct Sources {
    pub shared: Arc<Shared>,
    /// Every lcore's counters; `workers` are the lcores whose loop cycles are reported.
    pub counters: Vec<(u32, Arc<SharedCounters>)>,
    pub workers: Vec<u32>,
    pub pool: Mempool,
    pub neigh: Arc<NeighSummary>,
    pub reasm: Arc<ReasmGauges>,
    pub linux_cp: Option<Arc<crate::linuxcp::stats::LinuxCpStats>>,
    pub tsc_hz: u64,
    pub build: BuildInfo,
}

impl Sources {
    /// Reads everything now (relaxed loads, `rte_eth_stats_get`, mempool counts).
    pub fn snapshot(&self) -> Snapshot {
        let mut totals = Tally::default();
        let mut workers = Vec::with_capacity(self.workers.len());
        for (lcore, c) in &self.counters {
            let t = c.read();
            totals.add(&t);
            if self.workers.contains(lcore) {
                workers.push((*lcore, t));
            }
        }
        let ports = self
            .shared
            .ports
            .load()
            .iter()
            .map(|p| {
                let mut sw = [0; PortStat::COUNT];
                for s in PortStat::ALL {
                    sw[*s as usize] = totals.port_stat(p.id, *s);
                }
                PortSample {
                    name: p.name.clone(),
                    sw,
                    pmd: dpdk::stats(p.id),
                    link_up: dpdk::link_up(p.id),
                }
            })
            .collect();
        let port_view = self.shared.ports.load();
        let qdiscs = self
            .shared
            .qdisc_status(&self.counters, dpdk::rdtsc())
            .into_iter()
            .map(|q| {
                let name = port_view
                    .get(q.port)
                    .map_or_else(|| format!("port#{}", q.port), |p| p.name.clone());
                (name, q)
            })
            .collect();
        let fib = self.shared.fib.load();
        Snapshot {
            totals,
            workers,
            ports,
            qdiscs,
            fib_routes: fib.prefixes() as u64,
            fib_version: fib.version,
            fib_memory_bytes: fib.memory_bytes() as u64,
            neigh: self.neigh.read(),
            reasm_bytes: self.reasm.bytes(),
            reasm_datagrams: self.reasm.datagrams(),
            mbufs_in_use: u64::from(self.pool.in_use()),
            mbufs_free: u64::from(self.pool.available()),
            linux_cp: self.linux_cp.as_ref().map(|l| l.pairs()),
            tsc_hz: self.tsc_hz,
            build: self.build.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The metric families.

/// A metric family: name, HELP, type and label names. `FAMILIES` lists them all, so the
/// collector's descriptors and what it collects cannot disagree.
struct Spec {
    name: &'static str,
    help: &'static str,
    counter: bool,
    labels: &'static [&'static str],
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
fn all_specs() -> Vec<&'static Spec> {
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

/// A `prometheus` collector whose families come fresh from `source` at every collect.
pub struct SnapshotCollector<F> {
    descs: Vec<Desc>,
    source: F,
}

impl<F: Fn() -> Snapshot + Send + Sync> SnapshotCollector<F> {
    pub fn new(source: F) -> Result<Self, prometheus::Error> {
        let descs = all_specs()
            .into_iter()
            .map(|s| {
                Desc::new(
                    s.name.into(),
                    s.help.into(),
                    s.labels.iter().map(|l| l.to_string()).collect(),
                    HashMap::new(),
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(SnapshotCollector { descs, source })
    }
}

impl<F: Fn() -> Snapshot + Send + Sync> Collector for SnapshotCollector<F> {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        families(&(self.source)())
    }
}

/// A registry holding one [`SnapshotCollector`]; `render` gathers and encodes it.
pub struct Exporter {
    registry: Registry,
}

impl Exporter {
    pub fn new<F: Fn() -> Snapshot + Send + Sync + 'static>(
        source: F,
    ) -> Result<Exporter, prometheus::Error> {
        let registry = Registry::new();
        registry.register(Box::new(SnapshotCollector::new(source)?))?;
        Ok(Exporter { registry })
    }

    /// The text exposition of a fresh snapshot.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Renders one snapshot (tests, tools).
pub fn render(s: &Snapshot) -> Result<String, prometheus::Error> {
    let s = s.clone();
    Exporter::new(move || s.clone())?.render()
}

/// Parses the text format back into `series -> value`, the series written as in the
/// exposition (`name{label="value",...}`, labels in the order given). Comments and
/// malformed lines are skipped. For tests and `ferroute stats`-like tools.
pub fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests;
