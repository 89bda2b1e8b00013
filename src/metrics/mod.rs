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
//!
//! This file takes the snapshot and registers the collector; `families.rs` declares the
//! metric families and turns a snapshot into them; `http.rs` serves `/metrics`.

mod families;
pub mod http;

use families::all_specs;
pub use families::families;

use crate::datapath::ip4_reassembly::ReasmGauges;
use crate::datapath::qdisc::QdiscStatus;
use crate::datapath::worker::Shared;
use crate::datapath::{PortStat, SharedCounters, Tally};
use crate::dpdk::{self, Mempool, PortStats};
use crate::neigh::NeighState;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
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
