//! Cost per packet of the egress stage with and without a tbf qdisc: the real `Egress`
//! (qdisc sync, transmit, qdisc service, TX buffer, `rte_eth_tx_burst`) sending prebuilt
//! bursts of 60-byte frames to a DPDK `net_null` port, timed with the TSC.
//!
//! Contenders, interleaved round by round:
//! - unshaped: the port has no qdisc (the path every port took before qdiscs existed,
//!   plus the one bit test);
//! - tbf, passing: a 1tbit tbf that always has tokens, so every packet is queued,
//!   claimed from the shared bucket (one compare-and-swap per burst) and sent;
//! - tbf, over rate: a 100mbit tbf (burst 16kb, limit 32kb) offered far more, so most
//!   packets are dropped on arrival as over the limit and a few leave as tokens come.
//!
//! `cargo bench --bench qdisc` for the full run; without `--bench` a smoke run.
#[path = "common/mod.rs"]
mod common;

use common::{fmt_num, interleave, median, Mode, Report};
use ferroute::config::IcmpConfig;
use ferroute::datapath::egress::{Egress, Sink};
use ferroute::datapath::icmp_ratelimit::IcmpLimiter;
use ferroute::datapath::qdisc::{Limit, Qdiscs, TbfParams};
use ferroute::datapath::{PortStat, QdiscStat, MAX_BURST};
use ferroute::dpdk::{self, Mbuf, Mempool, PortSetup, TxBuffer, TxQueue};
use std::process::ExitCode;

const FRAME: usize = 60;

/// One contender: an `Egress` on the null port, with or without a qdisc.
struct Case {
    egress: Egress,
    qdiscs: Qdiscs,
    port: u16,
    /// Packets offered.
    offered: u64,
}

impl Case {
    fn new(port: u16, hz: u64, pool: &Mempool, tbf: Option<TbfParams>) -> Result<Case, String> {
        let mut bufs: Vec<Option<TxBuffer>> = (0..=port).map(|_| None).collect();
        bufs[port as usize] = Some(TxBuffer::new(TxQueue::new(port, 0)));
        let icmp = IcmpLimiter::new(
            IcmpConfig {
                msgs_per_sec: 0,
                ratelimit_ms: 0,
                ..IcmpConfig::default()
            }
            .limits(),
            hz,
            dpdk::rdtsc(),
        );
        let mut egress = Egress::new(Sink::Tx(bufs), icmp, *pool);
        let qdiscs = Qdiscs::new(hz, 1, pool.size());
        qdiscs.set(port, tbf).map_err(|e| e.to_string())?;
        egress.sync_qdiscs(&qdiscs);
        Ok(Case {
            egress,
            qdiscs,
            port,
            offered: 0,
        })
    }

    /// Sends `bursts` prebuilt bursts through the stage; returns TSC cycles per packet
    /// spent in it (building the bursts is not timed).
    fn run(&mut self, pool: &Mempool, bursts: usize) -> f64 {
        let mut cycles = 0u64;
        let mut burst: Vec<Mbuf> = Vec::with_capacity(MAX_BURST);
        for _ in 0..bursts {
            for _ in 0..MAX_BURST {
                let Some(mut m) = pool.alloc() else { break };
                if m.set_len(FRAME) {
                    m.data_mut().fill(0x5a);
                    burst.push(m);
                }
            }
            let n = burst.len() as u64;
            let t0 = dpdk::rdtsc();
            // What a worker round does on its egress side.
            self.egress.sync_qdiscs(&self.qdiscs);
            for m in burst.drain(..) {
                self.egress.transmit(m, self.port);
            }
            self.egress.service_qdiscs(dpdk::rdtsc());
            self.egress.flush();
            cycles += dpdk::rdtsc() - t0;
            self.offered += n;
        }
        cycles as f64 / (bursts * MAX_BURST) as f64
    }

    /// (sent by the PMD, dropped by the qdisc).
    fn account(&self) -> (u64, u64) {
        let t = &self.egress.tally;
        (
            t.port_stat(self.port, PortStat::TxPackets),
            t.qdisc_stat(self.port, QdiscStat::Dropped),
        )
    }
}

fn main() -> ExitCode {
    match run(Mode::from_args()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench qdisc: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(mode: Mode) -> Result<(), String> {
    common::with_eal("qdisc", 256, &["-l", "0", "--vdev=net_null0"], || {
        with_eal(mode)
    })
}

fn with_eal(mode: Mode) -> Result<(), String> {
    let pool = Mempool::create("bench_qdisc", 8191, 256).map_err(|e| e.to_string())?;
    let port = dpdk::port_by_name("net_null0").map_err(|e| e.to_string())?;
    let setup = PortSetup {
        rx_queues: 1,
        tx_queues: 1,
        rx_desc: 1024,
        tx_desc: 1024,
        mtu: 1500,
        mac: None,
    };
    dpdk::setup_and_start(port, &setup, &pool).map_err(|e| e.to_string())?;
    let result = measure(mode, port, &pool);
    dpdk::stop_and_close(port);
    result
}

fn measure(mode: Mode, port: u16, pool: &Mempool) -> Result<(), String> {
    let hz = dpdk::tsc_hz();
    let tbf = |rate: u64, burst: u64, limit: u64| {
        TbfParams::new(rate, burst, Limit::Bytes(limit), 1514).map_err(|e| e.to_string())
    };
    let mut unshaped = Case::new(port, hz, pool, None)?;
    let passing_tbf = tbf(1_000_000_000_000, 64 * 1024, 256 * 1024)?;
    let mut passing = Case::new(port, hz, pool, Some(passing_tbf))?;
    let over_tbf = tbf(100_000_000, 16 * 1024, 32 * 1024)?;
    let mut over = Case::new(port, hz, pool, Some(over_tbf))?;
    let rounds = mode.pick(31, 3);
    let bursts = mode.pick(20_000, 50);
    // Warm up caches and the mempool.
    for c in [&mut unshaped, &mut passing, &mut over] {
        c.run(pool, bursts / 10 + 1);
    }
    let mut samples = interleave(
        rounds,
        &mut [
            &mut || unshaped.run(pool, bursts),
            &mut || passing.run(pool, bursts),
            &mut || over.run(pool, bursts),
        ],
    );

    let ns_per_cycle = 1e9 / hz as f64;
    let base = median(&mut samples[0]);
    let mut report = Report::new(
        "qdisc",
        "Egress stage per packet: unshaped vs tbf qdisc",
        mode,
    );
    report.note(format!(
        "{rounds} interleaved rounds of {bursts} bursts x {MAX_BURST} frames of {FRAME} bytes \
         each; medians; TSC {:.3} GHz",
        hz as f64 / 1e9
    ));
    report.note(format!(
        "tbf passing: {passing_tbf}; tbf over rate: {over_tbf}"
    ));
    report.note(
        "stage = qdisc sync + transmit + qdisc service + TX buffer + rte_eth_tx_burst to \
         net_null (which frees the mbufs); building the bursts is not timed",
    );
    report.columns(&[
        "egress path",
        "cycles/pkt",
        "ns/pkt",
        "vs unshaped",
        "sent",
        "dropped",
    ]);
    let names = [
        ("unshaped", "no qdisc"),
        ("tbf_passing", "tbf 1tbit (always tokens)"),
        ("tbf_over_rate", "tbf 100mbit (offered more)"),
    ];
    for ((key, label), (s, case)) in names
        .iter()
        .zip(samples.iter_mut().zip([&unshaped, &passing, &over]))
    {
        let cyc = median(s);
        let (sent, dropped) = case.account();
        report.row(vec![
            label.to_string(),
            fmt_num(cyc),
            fmt_num(cyc * ns_per_cycle),
            format!("{:.2}x", cyc / base),
            sent.to_string(),
            dropped.to_string(),
        ]);
        report.figure(&format!("qdisc.{key}.cycles_per_pkt"), cyc);
        report.figure(&format!("qdisc.{key}.ns_per_pkt"), cyc * ns_per_cycle);
        report.figure(&format!("qdisc.{key}.ratio_to_unshaped"), cyc / base);
        report.bar("cost per packet", "ns", label, cyc * ns_per_cycle);
    }
    let path = report.finish().map_err(|e| format!("result file: {e}"))?;

    // It ran and did the work: every offered frame was sent, or (over rate) counted as
    // dropped or still waiting; nothing leaked.
    let (sent, dropped) = unshaped.account();
    if sent != unshaped.offered || dropped != 0 {
        return Err(format!("unshaped: {sent} sent of {}", unshaped.offered));
    }
    let (sent, dropped) = passing.account();
    if sent != passing.offered || dropped != 0 {
        return Err(format!(
            "tbf passing: {sent} sent, {dropped} dropped of {}",
            passing.offered
        ));
    }
    let (sent, dropped) = over.account();
    if dropped == 0 || sent == 0 || sent + dropped > over.offered {
        return Err(format!(
            "tbf over rate: {sent} sent, {dropped} dropped of {}",
            over.offered
        ));
    }
    drop((unshaped, passing, over));
    if pool.in_use() != 0 {
        return Err(format!("{} mbufs still in use", pool.in_use()));
    }
    if !path.exists() {
        return Err(format!("{} not written", path.display()));
    }
    Ok(())
}
