//! Bring-up, in order: checks that need no DPDK, the EAL, the mempool, the ports (every
//! MTU checked before any port starts), the API state with the configuration applied,
//! signal handlers, the control socket and the metrics listener (bound early so that a
//! taken address fails start-up), the linux_cp twins, the workers on their lcores, the
//! API, follower and metrics threads, and last the control thread on the main lcore.
//! Everything started is registered with the [`StopGuard`] at once, so an error at any
//! later step stops it again.

// A `StartError` names the port, device and file it is about, so it is large; it is
// made at most once per process, on the way out.
#![allow(clippy::result_large_err)]

use super::check::apply_config;
use super::stop::StopGuard;
use super::StartError;
use crate::config::Config;
use crate::datapath::egress::{Egress, Injected, Sink};
use crate::datapath::icmp_ratelimit::IcmpLimiter;
use crate::datapath::ip4_reassembly::{ReasmGauges, ReasmParams, Reassembler};
use crate::datapath::punt::{self, SlowPath};
use crate::datapath::qdisc::{fmt_time_us, Qdiscs};
use crate::datapath::worker::{LoopParams, Shared, Worker};
use crate::datapath::{PortCtx, Ports, SharedCounters, ETH_HLEN, MAX_PORTS};
use crate::dpdk::{self, Eal, Mbuf, Mempool, PortSetup, RxQueue, TxBuffer, TxQueue};
use crate::fib::Fib;
use crate::linuxcp;
use crate::metrics::{self, http::Endpoint, BuildInfo, Exporter, NeighSummary};
use crate::neigh::{NeighAction, NeighParams, NeighTable};
use crate::rtnl::server::{self, RouterEnv, Server};
use crate::rtnl::{PortState, Rtnl, TableEnv};
use crate::slowpath::SlowPathThread;
use arc_swap::ArcSwap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Depth of the control thread -> worker 0 queue of packets to send (ARP, released
/// held packets).
const INJECT_QUEUE: usize = 4096;

/// Runs the router until SIGINT/SIGTERM, then stops it. Errors name what failed; what
/// had started by then is stopped again.
pub fn run(cfg: Config) -> Result<(), StartError> {
    let eal_args = preflight(&cfg)?;
    log::info!("starting EAL: {}", eal_args.join(" "));
    crate::service::status("starting EAL and ports");
    let eal = Eal::init(&eal_args).map_err(StartError::Eal)?;
    log::info!("{}", dpdk::dpdk_version());
    let mut guard = StopGuard::new(eal);
    let d = &cfg.datapath;
    let pool =
        Mempool::create("ferroute_pkts", d.mbufs, d.mbuf_cache).map_err(StartError::Mempool)?;
    let ctxs = start_ports(&cfg, &pool, &mut guard)?;
    let mut control = start_threads(&cfg, pool, ctxs, &mut guard)?;
    control.run();
    crate::service::stopping();
    guard.stop(control);
    Ok(())
}

/// What can be checked before the EAL: the number of ports and the PCI devices'
/// drivers. Returns the EAL's arguments.
fn preflight(cfg: &Config) -> Result<Vec<String>, StartError> {
    if cfg.ports.len() > MAX_PORTS {
        return Err(StartError::TooManyPorts {
            file: cfg.source.clone(),
            count: cfg.ports.len(),
            max: MAX_PORTS,
        });
    }
    // Physical NICs (`pci = ...`) must be bound to a userspace I/O driver.
    for p in &cfg.ports {
        if let Some(addr) = &p.pci {
            dpdk::check_pci_driver(std::path::Path::new("/sys"), addr).map_err(|source| {
                StartError::PciDriver {
                    file: cfg.source.clone(),
                    port: p.name.clone(),
                    source,
                }
            })?;
        }
    }
    let devices: Vec<dpdk::PortDevice> = (cfg.ports.iter())
        .map(|p| match &p.pci {
            Some(a) => dpdk::PortDevice::Pci(a),
            None => dpdk::PortDevice::Vdev(&p.devargs),
        })
        .collect();
    Ok(dpdk::eal_args(&cfg.eal_args, &devices))
}

/// Every port's id and MTU first, so that a refused MTU starts no port; then each port
/// set up and started, and registered with `guard`.
fn start_ports(
    cfg: &Config,
    pool: &Mempool,
    guard: &mut StopGuard,
) -> Result<Vec<PortCtx>, StartError> {
    let mut ids = Vec::new();
    for (i, p) in cfg.ports.iter().enumerate() {
        let id = dpdk::port_by_name(p.dev_name()).map_err(|source| StartError::PortLookup {
            port: p.name.clone(),
            device: p.dev_name().to_string(),
            source,
        })?;
        if id as usize >= MAX_PORTS {
            return Err(StartError::PortId {
                port: p.name.clone(),
                id,
                max: MAX_PORTS,
            });
        }
        // The config allows 68..=9600; the port may allow less (net_tap: 1504).
        let range = dpdk::mtu_range(id).map_err(|source| StartError::MtuRange {
            port: p.name.clone(),
            source,
        })?;
        if p.mtu < range.min || p.mtu > range.max {
            return Err(StartError::Mtu {
                file: cfg.source.clone(),
                index: i,
                mtu: p.mtu,
                side: if p.mtu < range.min { "below" } else { "above" },
                port: p.name.clone(),
                device: p.dev_name().to_string(),
                driver: range.driver,
                min: range.min,
                max: range.max,
            });
        }
        ids.push(id);
    }
    let d = &cfg.datapath;
    let mut ctxs = Vec::new();
    for ((i, p), id) in cfg.ports.iter().enumerate().zip(ids) {
        let setup = PortSetup {
            rx_queues: cfg.rx_queues(i),
            tx_queues: cfg.workers.len() as u16,
            rx_desc: d.rx_desc,
            tx_desc: d.tx_desc,
            mtu: p.mtu,
            mac: p.mac,
        };
        let info =
            dpdk::setup_and_start(id, &setup, pool).map_err(|source| StartError::PortStart {
                file: cfg.source.clone(),
                index: i,
                port: p.name.clone(),
                devargs: p.devargs.clone(),
                source,
            })?;
        guard.port_started(id);
        log::info!(
            "port {} (DPDK port {id}, {}) started: mac {} addr {} mtu {}, {} RX queue(s), RX IPv4 checksum offload {}",
            p.name,
            info.driver,
            info.mac,
            p.address,
            p.mtu,
            setup.rx_queues,
            if info.rx_ipv4_csum { "on" } else { "off" }
        );
        ctxs.push(PortCtx {
            id,
            name: p.name.clone(),
            mac: info.mac,
            addr: p.address,
            mtu: p.mtu,
            secondary: Vec::new(),
            up: true,
        });
    }
    Ok(ctxs)
}

/// The API state over the started ports with the configuration applied and the first
/// FIB and neighbour snapshot published.
struct State {
    shared: Arc<Shared>,
    rtnl: Rtnl,
    neigh: NeighTable<Mbuf>,
    actions: Vec<NeighAction<Mbuf>>,
}

fn state(cfg: &Config, pool: Mempool, ctxs: Vec<PortCtx>) -> Result<State, StartError> {
    let a = &cfg.arp;
    let mut neigh = NeighTable::new(NeighParams {
        reachable_ms: a.reachable_ms,
        retrans_ms: a.retrans_ms,
        mcast_probes: a.mcast_probes,
        ucast_probes: a.ucast_probes,
        delay_probe_ms: a.delay_probe_ms,
        hold_queue: a.hold_queue,
        ..NeighParams::default()
    });
    let mut actions = Vec::new();
    let port_ids: Vec<u16> = ctxs.iter().map(|c| c.id).collect();
    let port_states = (ctxs.iter())
        .map(|c| PortState {
            id: c.id,
            name: c.name.clone(),
            mac: c.mac,
            addrs: Vec::new(),
            mtu: c.mtu,
            up: true,
        })
        .collect();
    let shared = Arc::new(Shared {
        fib: ArcSwap::from_pointee(Fib::default()),
        neigh: ArcSwap::from_pointee(neigh.snapshot()),
        ports: ArcSwap::from_pointee(Ports::new(ctxs).with_policy(cfg.ip.policy())),
        qdisc: Qdiscs::new(dpdk::tsc_hz(), cfg.workers.len() as u32, pool.size()),
        stop: AtomicBool::new(false),
        capture: Default::default(),
    });
    let mut rtnl = Rtnl::new(Arc::clone(&shared), port_states);
    rtnl.base = Some(cfg.clone());
    let mut env = TableEnv {
        table: &mut neigh,
        actions: &mut actions,
    };
    apply_config(cfg, &port_ids, &mut rtnl, &mut env)?;
    shared.neigh.store(Arc::new(neigh.snapshot()));
    for (port, t) in rtnl.qdiscs() {
        log::info!(
            "port {}: qdisc tbf {t} (a packet waits at most {})",
            rtnl.name_of(*port),
            fmt_time_us(t.max_delay_us())
        );
    }
    let fib = shared.fib.load();
    log::info!("FIB version {}: {} prefixes", fib.version, fib.prefixes());
    Ok(State {
        shared,
        rtnl,
        neigh,
        actions,
    })
}

/// SIGINT and SIGTERM set the returned flag. SIGHUP (a closed terminal, or a habit of
/// `kill -HUP` for reload) must not kill a router: it is taken and ignored. There is no
/// reload; the API changes state live.
fn signals() -> Result<Arc<AtomicBool>, StartError> {
    let signalled = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&signalled)).map_err(StartError::Signal)?;
    }
    let ignored = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, ignored)
        .map_err(StartError::Signal)?;
    Ok(signalled)
}

/// Everything after the ports, up to the control thread, which is returned ready to run.
fn start_threads(
    cfg: &Config,
    pool: Mempool,
    ctxs: Vec<PortCtx>,
    guard: &mut StopGuard,
) -> Result<SlowPathThread, StartError> {
    let port_ids: Vec<u16> = ctxs.iter().map(|c| c.id).collect();
    let dev_mtu: Vec<(u16, u16)> = ctxs.iter().map(|c| (c.id, c.mtu)).collect();
    let State {
        shared,
        rtnl,
        neigh,
        actions,
    } = state(cfg, pool, ctxs)?;
    guard.shared(&shared);
    let signalled = signals()?;
    let server = Server::bind(&cfg.control.socket).map_err(|source| StartError::Socket {
        file: cfg.source.clone(),
        path: cfg.control.socket.clone(),
        source,
    })?;
    // Bound now so that a taken address fails startup; served once everything runs.
    let endpoint = match cfg.metrics.listen {
        Some(addr) => Some(
            Endpoint::bind(addr).map_err(|source| StartError::MetricsListen {
                file: cfg.source.clone(),
                addr,
                source,
            })?,
        ),
        None => None,
    };
    let hz = dpdk::tsc_hz();
    let (mut slow, punt_rx) = punt::queues(cfg.punt, hz);
    // The kernel twins exist before any worker punts to them.
    let twin_mtu = pool
        .alloc()
        .map_or(0, |m| m.capacity().saturating_sub(ETH_HLEN)) as u16;
    let (linux_cp, twins) = if cfg.linux_cp.enabled {
        let ports: Vec<PortCtx> = shared.ports.load().iter().cloned().collect();
        let (cp, twins) = linuxcp::start(&cfg.linux_cp, &ports, twin_mtu).map_err(|source| {
            StartError::LinuxCp {
                file: cfg.source.clone(),
                source,
            }
        })?;
        slow.to_host(cfg.linux_cp.punt);
        (Some(cp), Some(twins))
    } else {
        (None, None)
    };
    // The control thread transmits through worker 0.
    let (inject_tx, inject_rx) = std::sync::mpsc::sync_channel::<Injected>(INJECT_QUEUE);
    let mut all_counters = launch_workers(cfg, pool, &port_ids, &shared, slow, inject_rx, guard)?;
    let counters = Arc::new(SharedCounters::default());
    all_counters.push((dpdk::lcore_id(), Arc::clone(&counters)));
    let neigh_summary = Arc::new(NeighSummary::default());
    let reasm_gauges = Arc::new(ReasmGauges::default());
    let cp_stats = linux_cp.as_ref().map(|cp| Arc::clone(&cp.stats));
    let metrics_sources = metrics::Sources {
        shared: Arc::clone(&shared),
        counters: all_counters.clone(),
        workers: cfg.workers.iter().map(|w| w.lcore).collect(),
        pool,
        neigh: Arc::clone(&neigh_summary),
        reasm: Arc::clone(&reasm_gauges),
        linux_cp: cp_stats.clone(),
        tsc_hz: hz,
        build: BuildInfo::this_build(dpdk::dpdk_version()),
    };
    let (api_tx, api_rx) = std::sync::mpsc::sync_channel(64);
    let env = RouterEnv {
        shared: Arc::clone(&shared),
        neigh: api_tx,
        counters: all_counters.clone(),
        pool,
        neigh_summary: Arc::clone(&neigh_summary),
        reasm: Arc::clone(&reasm_gauges),
        dev_mtu,
        linux_cp: cp_stats,
    };
    guard.api(server::spawn(server, rtnl, env).map_err(StartError::ApiThreads)?);
    if let Some(cp) = linux_cp {
        let socket = cfg.control.socket.clone();
        let h = (cp.spawn(&cfg.linux_cp, Arc::clone(&shared), socket, twin_mtu))
            .map_err(StartError::Follower)?;
        guard.follower(h);
    }
    let metrics_url = match endpoint {
        Some(ep) => {
            let url = ep
                .local_addr()
                .map(|a| format!("http://{a}{}", metrics::http::PATH))
                .unwrap_or_else(|e| format!("? ({e})"));
            let exporter =
                Exporter::new(move || metrics_sources.snapshot()).map_err(StartError::Metrics)?;
            let serving = ep
                .spawn(move || exporter.render())
                .map_err(StartError::MetricsThread)?;
            guard.metrics(serving);
            url
        }
        None => "disabled".into(),
    };
    let bucket = IcmpLimiter::new(cfg.icmp.limits(), hz, dpdk::rdtsc());
    let control = SlowPathThread {
        shared,
        pool,
        punt: punt_rx,
        neigh,
        egress: Egress::new(Sink::Inject(inject_tx), bucket, pool),
        counters,
        all_counters,
        api_rx,
        start: Instant::now(),
        signalled,
        actions,
        neigh_summary,
        summary_ms: None,
        reasm: Reassembler::new(ReasmParams {
            timeout_ms: cfg.reassembly.timeout_ms,
            max_bytes: cfg.reassembly.max_bytes,
            max_datagrams: cfg.reassembly.max_datagrams,
        }),
        reasm_gauges,
        unresolved: Vec::new(),
        twins,
    };
    let ready = format!(
        "ready: {} port(s) up; control socket {}; metrics {metrics_url}",
        port_ids.len(),
        cfg.control.socket.display()
    );
    log::info!("{ready}");
    crate::service::ready(&ready);
    Ok(control)
}

/// One worker per `[[worker]]` on its lcore, each with its RX queues, a TX queue on
/// every port and its share of the punt queues; worker 0 also takes the control
/// thread's packets (`inject`). Returns every worker's (lcore, counters).
fn launch_workers(
    cfg: &Config,
    pool: Mempool,
    port_ids: &[u16],
    shared: &Arc<Shared>,
    slow: SlowPath,
    inject: std::sync::mpsc::Receiver<Injected>,
    guard: &mut StopGuard,
) -> Result<Vec<(u32, Arc<SharedCounters>)>, StartError> {
    let hz = dpdk::tsc_hz();
    let tx_buffers = |queue: u16| -> Vec<Option<TxBuffer>> {
        let n = port_ids
            .iter()
            .map(|&id| id as usize + 1)
            .max()
            .unwrap_or(0);
        let mut v: Vec<Option<TxBuffer>> = (0..n).map(|_| None).collect();
        for &id in port_ids {
            v[id as usize] = Some(TxBuffer::new(TxQueue::new(id, queue)));
        }
        v
    };
    let params = LoopParams {
        burst: cfg.datapath.burst,
        drain_cycles: hz * cfg.datapath.tx_drain_us / 1_000_000,
        idle_sleep: (cfg.datapath.idle_sleep_us > 0)
            .then(|| Duration::from_micros(cfg.datapath.idle_sleep_us)),
        tsc_hz: hz,
    };
    let mut inject = Some(inject);
    let mut all_counters = Vec::new();
    for (w, wc) in cfg.workers.iter().enumerate() {
        let counters = Arc::new(SharedCounters::default());
        all_counters.push((wc.lcore, Arc::clone(&counters)));
        let bucket = IcmpLimiter::new(cfg.icmp.limits(), hz, dpdk::rdtsc());
        let worker = Worker {
            lcore: wc.lcore,
            rxqs: (wc.rx.iter())
                .map(|q| RxQueue::new(port_ids[q.port], q.queue))
                .collect(),
            egress: Egress::new(Sink::Tx(tx_buffers(w as u16)), bucket, pool),
            shared: Arc::clone(shared),
            counters,
            slow: slow.for_worker(),
            inject: inject.take(),
            params: params.clone(),
        };
        let rx: Vec<String> = (wc.rx.iter())
            .map(|q| format!("{}:{}", cfg.ports[q.port].name, q.queue))
            .collect();
        guard.worker_launching();
        dpdk::launch_on_lcore(wc.lcore, move || worker.run()).map_err(|source| {
            StartError::Worker {
                file: cfg.source.clone(),
                worker: w,
                lcore: wc.lcore,
                source,
            }
        })?;
        log::info!("worker {w} on lcore {} polls {}", wc.lcore, rx.join(", "));
    }
    Ok(all_counters)
}
