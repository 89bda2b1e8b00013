//! ARP frames per second through the control thread (issue 12: at least 100k).
//!
//! The real slow path on a real mempool (EAL `--no-huge`, no ports): a worker-side
//! `SlowPath` (policers off) queues batches of 1024 ARP requests for the router's
//! address, built in mbufs, and `SlowPathThread::round` — the control thread's loop body —
//! handles them: `arp_input`, the reply written in place and handed to the inject
//! queue, and the neighbour table's update, with the snapshot republished when it
//! changed. Timed: the rounds that drain a batch (TSC), so the figure is the control
//! thread's own rate, without the worker's RX. Untimed, the injected replies are freed.
//!
//! Contenders, interleaved round by round:
//! - known: requests from 512 neighbours already in the table (a refresh each);
//! - new, table full: requests from senders never seen, into a table full of entries
//!   updated in the last 5 s (refused: the flood case);
//! - new, room: requests from senders never seen, each creating a STALE entry.
//!
//! `cargo bench --bench slowpath` is the full run; a plain run is a smoke run.
#[path = "common/mod.rs"]
mod common;

use arc_swap::ArcSwap;
use common::{interleave, median, Mode, Report};
use ferroute::config::IcmpConfig;
use ferroute::datapath::egress::{Egress, Sink};
use ferroute::datapath::icmp_ratelimit::IcmpLimiter;
use ferroute::datapath::ip4_reassembly::{ReasmGauges, ReasmParams, Reassembler};
use ferroute::datapath::punt::{self, Limit, PuntLimits, SlowPath};
use ferroute::datapath::qdisc::Qdiscs;
use ferroute::datapath::worker::Shared;
use ferroute::datapath::{PortCtx, Ports, SharedCounters};
use ferroute::dpdk::{self, rdtsc, Mempool};
use ferroute::fib::Fib;
use ferroute::metrics::NeighSummary;
use ferroute::neigh::{ArpKind, NeighKey, NeighParams, NeighTable};
use ferroute::slowpath::SlowPathThread;
use ferroute::wire::arp;
use ferroute::wire::ethernet::{EthernetFrame, ETHERTYPE_ARP};
use ferroute::wire::MacAddr;
use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

const PORT: u16 = 0;
const ROUTER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const ROUTER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Frames per batch: one punt queue's worth.
const BATCH: usize = 1024;
/// The target of issue 12.
const TARGET: f64 = 100_000.0;

fn main() -> ExitCode {
    let mode = Mode::from_args();
    let result = common::with_eal("slowpath", 256, &["-l", "0"], || run(mode));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slowpath benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// An ARP request for the router from `ip` (MAC derived from it).
fn request(ip: Ipv4Addr) -> [u8; 60] {
    let o = ip.octets();
    let mac = MacAddr([0x02, 0x42, o[0], o[1], o[2], o[3]]);
    let mut f = [0u8; 60];
    {
        let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
        eth.set_dst(MacAddr::BROADCAST);
        eth.set_src(mac);
        eth.set_ethertype(ETHERTYPE_ARP);
    }
    let _ = arp::emit(
        &mut f[14..],
        arp::OP_REQUEST,
        mac,
        ip,
        MacAddr::ZERO,
        ROUTER_IP,
    );
    f
}

/// One contender's state: a control thread of its own, and where its senders come from.
struct Bench {
    control: SlowPathThread,
    slow: SlowPath,
    worker: Egress,
    inject: std::sync::mpsc::Receiver<ferroute::datapath::egress::Injected>,
    pool: Mempool,
    /// Next sender address (new senders) or the cycle of known ones.
    next: u32,
    known: Option<u32>,
    _api: std::sync::mpsc::SyncSender<ferroute::rtnl::server::NeighCall>,
}

impl Bench {
    fn new(pool: Mempool, params: NeighParams, hz: u64) -> Result<Bench, String> {
        let ports = Ports::new(vec![PortCtx {
            id: PORT,
            name: "port0".into(),
            mac: ROUTER_MAC,
            addr: "10.0.0.1/8".parse().map_err(|e| format!("{e}"))?,
            secondary: Vec::new(),
            mtu: 1500,
            up: true,
        }]);
        let mut neigh = NeighTable::new(params);
        let shared = Arc::new(Shared {
            fib: ArcSwap::from_pointee(Fib::default()),
            neigh: ArcSwap::from_pointee(neigh.snapshot()),
            ports: ArcSwap::from_pointee(ports),
            qdisc: Qdiscs::new(hz, 1, pool.size()),
            stop: AtomicBool::new(false),
            capture: Default::default(),
        });
        let off = Limit { pps: 0, burst: 0 };
        let limits = PuntLimits {
            arp_known: off,
            arp: off,
            resolve: off,
            frag: off,
        };
        let (slow, punt_rx) = punt::queues(limits, hz);
        let (inject_tx, inject) = std::sync::mpsc::sync_channel(4 * BATCH);
        let (api_tx, api_rx) = std::sync::mpsc::sync_channel(1);
        let icmp = || IcmpLimiter::new(IcmpConfig::default().limits(), hz, rdtsc());
        let control = SlowPathThread {
            shared,
            pool,
            punt: punt_rx,
            neigh,
            egress: Egress::new(Sink::Inject(inject_tx), icmp(), pool),
            counters: Arc::new(SharedCounters::default()),
            all_counters: Vec::new(),
            api_rx,
            start: Instant::now(),
            signalled: Arc::new(AtomicBool::new(false)),
            actions: Vec::new(),
            neigh_summary: Arc::new(NeighSummary::default()),
            summary_ms: None,
            reasm: Reassembler::new(ReasmParams {
                timeout_ms: 30_000,
                max_bytes: 1 << 22,
                max_datagrams: 1024,
            }),
            reasm_gauges: Arc::new(ReasmGauges::default()),
            unresolved: Vec::new(),
            twins: None,
        };
        Ok(Bench {
            control,
            slow,
            worker: Egress::new(Sink::Tx(Vec::new()), icmp(), pool),
            inject,
            pool,
            next: 0x0a01_0000,
            known: None,
            _api: api_tx,
        })
    }

    fn sender(&mut self) -> Ipv4Addr {
        let ip = match self.known {
            Some(n) => 0x0a00_1000 + (self.next % n),
            None => self.next,
        };
        self.next = self.next.wrapping_add(1);
        Ipv4Addr::from(ip)
    }

    /// Queues a batch (untimed), then times the rounds that handle it: cycles.
    fn pass(&mut self) -> Result<u64, String> {
        let snap = self.control.shared.neigh.load_full();
        let ports = self.control.shared.ports.load_full();
        let pc = ports.get(PORT).ok_or("no port")?;
        for _ in 0..BATCH {
            let f = request(self.sender());
            let mut m = self.pool.alloc().ok_or("mempool empty")?;
            if !m.set_len(f.len()) {
                return Err("mbuf too small".into());
            }
            m.data_mut().copy_from_slice(&f);
            m.set_in_port(PORT);
            let cursor = ferroute::neigh::NeighCursor::new(&snap);
            self.slow.arp(&mut self.worker, m, pc, &cursor);
        }
        let t0 = rdtsc();
        let mut handled = 0;
        while handled < BATCH {
            let n = self.control.round();
            if n == 0 {
                return Err(format!(
                    "{handled} of {BATCH} frames reached the control thread"
                ));
            }
            handled += n;
        }
        let cycles = rdtsc() - t0;
        // The replies (a real worker would send them).
        while self.inject.try_recv().is_ok() {}
        Ok(cycles)
    }
}

fn run(mode: Mode) -> Result<(), String> {
    let rounds = mode.pick(30, 2);
    let hz = dpdk::tsc_hz();
    let pool = Mempool::create("slowpath", (8 * BATCH) as u32, 256).map_err(|e| e.to_string())?;
    let big = NeighParams {
        max_entries: 1 << 22,
        ..NeighParams::default()
    };
    // Known: 512 neighbours learned first (untimed).
    let mut known = Bench::new(pool, big.clone(), hz)?;
    known.known = Some(512);
    let mut actions = Vec::new();
    for i in 0..512u32 {
        let key = NeighKey::new(PORT, Ipv4Addr::from(0x0a00_1000 + i));
        let o = key.ip.octets();
        let mac = MacAddr([0x02, 0x42, o[0], o[1], o[2], o[3]]);
        known
            .control
            .neigh
            .on_arp(0, key, mac, ArpKind::Request, &mut actions);
    }
    // Full: 1024 entries just created, so none can be evicted for 5 s.
    let mut full = Bench::new(pool, NeighParams::default(), hz)?;
    for i in 0..1024u32 {
        let key = NeighKey::new(PORT, Ipv4Addr::from(0x0b00_0000 + i));
        let mac = MacAddr([0x02, 0x43, 0, 0, (i >> 8) as u8, i as u8]);
        let now = full.control.start.elapsed().as_millis() as u64;
        full.control
            .neigh
            .on_arp(now, key, mac, ArpKind::Request, &mut actions);
    }
    let mut room = Bench::new(pool, big, hz)?;
    for b in [&mut known, &mut full, &mut room] {
        b.pass()?;
    }

    let names = [
        "known neighbours",
        "new senders, table full",
        "new senders, room",
    ];
    let keys = ["known", "new_full", "new_room"];
    let benches = [RefCell::new(known), RefCell::new(full), RefCell::new(room)];
    let error: RefCell<Option<String>> = RefCell::new(None);
    let go = |c: usize| -> f64 {
        if error.borrow().is_some() {
            return f64::NAN;
        }
        match benches[c].borrow_mut().pass() {
            Ok(cyc) => BATCH as f64 * hz as f64 / cyc as f64,
            Err(e) => {
                *error.borrow_mut() = Some(e);
                f64::NAN
            }
        }
    };
    let (mut a, mut b, mut c) = (|| go(0), || go(1), || go(2));
    let totals = interleave(rounds, &mut [&mut a, &mut b, &mut c]);
    if let Some(e) = error.into_inner() {
        return Err(e);
    }
    let entries = benches[2].borrow().control.neigh.len();

    let mut report = Report::new(
        "slowpath",
        "ARP frames per second through the control thread (SlowPathThread::round)",
        mode,
    );
    report.note(format!(
        "{rounds} interleaved rounds of {BATCH} ARP requests per contender; TSC {:.3} GHz; \
         'new senders, room' ended with {entries} neighbour entries",
        hz as f64 / 1e9
    ));
    report.columns(&["contender", "median frames/s", "min frames/s", "target"]);
    for (i, t) in totals.iter().enumerate() {
        let mut v = t.clone();
        let m = median(&mut v);
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let verdict = if m >= TARGET { "met" } else { "NOT met" };
        report.row(vec![
            names[i].into(),
            format!("{m:.0}"),
            format!("{min:.0}"),
            format!(">= {TARGET:.0}: {verdict}"),
        ]);
        report.figure(&format!("{}.frames_per_second", keys[i]), m);
        report.figure(&format!("{}.min_frames_per_second", keys[i]), min);
        report.bar("ARP frames per second (median)", "frames/s", names[i], m);
    }
    report
        .finish()
        .map_err(|e| format!("writing results: {e}"))?;
    Ok(())
}
