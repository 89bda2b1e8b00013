//! Bringing the router up and down: EAL, mempool, ports, RIB/FIB, neighbour table,
//! workers on their lcores, and the control loop on the main lcore.
use crate::api::*;
use crate::config::{Config, RouteType};
use crate::datapath::egress::{Egress, Injected, Sink};
use crate::datapath::icmp_ratelimit::IcmpLimiter;
use crate::datapath::ip4_reassembly::{ReasmGauges, ReasmParams, Reassembler};
use crate::datapath::punt;
use crate::datapath::qdisc::{fmt_time_us, Qdiscs};
use crate::datapath::worker::{LoopParams, Shared, Worker};
use crate::datapath::{PortCtx, Ports, SharedCounters, ETH_HLEN, MAX_PORTS};
use crate::dpdk::{self, Eal, Mempool, PortSetup, RxQueue, TxBuffer, TxQueue};
use crate::fib::Fib;
use crate::linuxcp;
use crate::metrics::{self, http::Endpoint, BuildInfo, Exporter, NeighSummary};
use crate::neigh::{NeighParams, NeighTable};
use crate::rtnl::server::{self, RouterEnv, Server};
use crate::rtnl::{ifindex, tbf_request, Env, PortState, Rtnl, TableEnv};
use crate::slowpath::SlowPathThread;
use arc_swap::ArcSwap;
use ipnet::Ipv4Net;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Depth of the control thread -> worker 0 queue of packets to send (ARP, released
/// held packets).
const INJECT_QUEUE: usize = 4096;

/// The configuration's addresses, routes and neighbours as control API requests, each
/// with the config key it comes from: the router applies its config through the same
/// code as `ferroute addr/route/neigh add`. Routes are appended (NLM_F_APPEND), so that
/// routes sharing a prefix and metric keep their file order, as `config dump` writes them.
pub fn config_messages(cfg: &Config, port_ids: &[u16]) -> Vec<(String, Message)> {
    let create = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    let mut out = Vec::new();
    let mut seq = 0;
    let mut push = |key: String, kind: u16, flags: u16, body: Body| {
        seq += 1;
        out.push((key, Message::new(kind, flags, seq, body)));
    };
    let addr = |id: u16, a: Ipv4Net| {
        Body::Addr(AddrMsg {
            ifindex: ifindex(id),
            prefix_len: a.prefix_len(),
            local: Some(a.addr()),
            label: None,
        })
    };
    for (i, (p, &id)) in cfg.ports.iter().zip(port_ids).enumerate() {
        push(
            format!("port[{i}].address"),
            RTM_NEWADDR,
            create,
            addr(id, p.address),
        );
    }
    for (i, a) in cfg.addresses.iter().enumerate() {
        push(
            format!("address[{i}]"),
            RTM_NEWADDR,
            create,
            addr(port_ids[a.port], a.address),
        );
    }
    for (i, r) in cfg.routes.iter().enumerate() {
        let mut m = RouteMsg::new(r.prefix.network(), r.prefix.prefix_len());
        m.rtype = match r.route_type {
            RouteType::Unicast => crate::api::RouteType::Unicast,
            RouteType::Blackhole => crate::api::RouteType::Blackhole,
            RouteType::Unreachable => crate::api::RouteType::Unreachable,
            RouteType::Prohibit => crate::api::RouteType::Prohibit,
        };
        m.gateway = r.via;
        m.oif = r.port.map(|p| ifindex(port_ids[p]));
        m.metric = Some(r.metric);
        m.multipath = r
            .nexthops
            .iter()
            .map(|n| RtNexthop {
                gateway: n.via,
                oif: n.port.map(|p| ifindex(port_ids[p])),
                weight: n.weight,
            })
            .collect();
        push(
            format!("route[{i}]"),
            RTM_NEWROUTE,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND,
            Body::Route(m),
        );
    }
    for (i, n) in cfg.neighbors.iter().enumerate() {
        push(
            format!("neighbor[{i}]"),
            RTM_NEWNEIGH,
            create,
            Body::Neigh(NeighMsg {
                ifindex: ifindex(port_ids[n.port]),
                state: Nud::Permanent,
                dst: Some(n.address),
                lladdr: Some(n.mac),
                probes: None,
            }),
        );
    }
    for (i, qd) in cfg.qdiscs.iter().enumerate() {
        push(
            format!("qdisc[{i}]"),
            RTM_NEWQDISC,
            create,
            Body::Qdisc(QdiscMsg {
                ifindex: ifindex(port_ids[qd.port]),
                parent: TC_H_ROOT,
                kind: Some("tbf".into()),
                tbf: Some(tbf_request(&qd.tbf)),
                ..QdiscMsg::default()
            }),
        );
    }
    for (i, (p, &id)) in cfg.ports.iter().zip(port_ids).enumerate() {
        if !p.up {
            push(
                format!("port[{i}].up"),
                RTM_NEWLINK,
                NLM_F_REQUEST,
                Body::Link(LinkMsg {
                    ifindex: ifindex(id),
                    flags: 0,
                    change: IFF_UP,
                    ..LinkMsg::default()
                }),
            );
        }
    }
    out
}

/// Applies the configuration through the control API (see [`config_messages`]) and
/// publishes the first FIB version. Errors name the config key at fault.
pub fn apply_config(
    cfg: &Config,
    port_ids: &[u16],
    rtnl: &mut Rtnl,
    env: &mut dyn Env,
) -> Result<(), String> {
    for (key, m) in config_messages(cfg, port_ids) {
        let mut out = Vec::new();
        rtnl.handle(&m, env, &mut out);
        for r in out {
            if let Body::Error { errno, msg, .. } = r.body {
                if errno != 0 {
                    return Err(format!(
                        "{}: {key}: {}",
                        cfg.source,
                        ApiError::new(errno, msg)
                    ));
                }
            }
        }
    }
    rtnl.publish_fib();
    Ok(())
}

/// Runs the router until SIGINT/SIGTERM. Errors name what failed.
pub fn run(cfg: Config) -> Result<(), String> {
    if cfg.ports.len() > MAX_PORTS {
        return Err(format!(
            "{}: {} ports configured, at most {MAX_PORTS} supported",
            cfg.source,
            cfg.ports.len()
        ));
    }
    // Physical NICs (`pci = ...`) must be bound to a userspace I/O driver.
    for p in &cfg.ports {
        if let Some(addr) = &p.pci {
            dpdk::check_pci_driver(std::path::Path::new("/sys"), addr)
                .map_err(|e| format!("{}: port {}: {e}", cfg.source, p.name))?;
        }
    }
    let devices: Vec<dpdk::PortDevice> = (cfg.ports.iter())
        .map(|p| match &p.pci {
            Some(a) => dpdk::PortDevice::Pci(a),
            None => dpdk::PortDevice::Vdev(&p.devargs),
        })
        .collect();
    let eal_args = dpdk::eal_args(&cfg.eal_args, &devices);
    log::info!("starting EAL: {}", eal_args.join(" "));
    crate::service::status("starting EAL and ports");
    let eal = Eal::init(&eal_args).map_err(|e| e.to_string())?;
    log::info!("{}", dpdk::dpdk_version());
    let result = run_with_eal(&cfg);
    drop(eal);
    result
}

fn run_with_eal(cfg: &Config) -> Result<(), String> {
    let d = &cfg.datapath;
    let pool =
        Mempool::create("ferroute_pkts", d.mbufs, d.mbuf_cache).map_err(|e| e.to_string())?;
    let tx_queues = cfg.workers.len() as u16;
    // Every port's id and MTU first, so that a refused MTU starts no port.
    let mut ids = Vec::new();
    for (i, p) in cfg.ports.iter().enumerate() {
        let id = dpdk::port_by_name(p.dev_name()).map_err(|e| format!("port {}: {e}", p.name))?;
        if id as usize >= MAX_PORTS {
            return Err(format!("port {}: DPDK port id {id} >= {MAX_PORTS}", p.name));
        }
        // The config allows 68..=9600; the port may allow less (net_tap: 1504).
        let range = dpdk::mtu_range(id).map_err(|e| format!("port {}: {e}", p.name))?;
        if p.mtu < range.min || p.mtu > range.max {
            let side = if p.mtu < range.min { "below" } else { "above" };
            return Err(format!(
                "{}: port[{i}].mtu: {} is {side} what port {} ({}, driver {}) supports: {}..={}",
                cfg.source,
                p.mtu,
                p.name,
                p.dev_name(),
                range.driver,
                range.min,
                range.max
            ));
        }
        ids.push(id);
    }
    let mut port_ids = Vec::new();
    let mut ctxs = Vec::new();
    for ((i, p), id) in cfg.ports.iter().enumerate().zip(ids) {
        let setup = PortSetup {
            rx_queues: cfg.rx_queues(i),
            tx_queues,
            rx_desc: d.rx_desc,
            tx_desc: d.tx_desc,
            mtu: p.mtu,
            mac: p.mac,
        };
        let info = dpdk::setup_and_start(id, &setup, &pool)
            .map_err(|e| format!("{}: port[{i}] ({}): {e}", cfg.source, p.name))?;
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
        port_ids.push(id);
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
    let result = run_ports(cfg, pool, &port_ids, ctxs);
    for &id in &port_ids {
        dpdk::stop_and_close(id);
    }
    result
}

fn run_ports(
    cfg: &Config,
    pool: Mempool,
    port_ids: &[u16],
    ctxs: Vec<PortCtx>,
) -> Result<(), String> {
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
    let dev_mtu: Vec<(u16, u16)> = ctxs.iter().map(|c| (c.id, c.mtu)).collect();
    let port_states = ctxs
        .iter()
        .map(|c| PortState {
            id: c.id,
            name: c.name.clone(),
            mac: c.mac,
            addrs: Vec::new(),
            mtu: c.mtu,
            up: true,
        })
        .collect();
    let hz = dpdk::tsc_hz();
    let shared = Arc::new(Shared {
        fib: ArcSwap::from_pointee(Fib::default()),
        neigh: ArcSwap::from_pointee(neigh.snapshot()),
        ports: ArcSwap::from_pointee(Ports::new(ctxs).with_policy(cfg.ip.policy())),
        qdisc: Qdiscs::new(hz, cfg.workers.len() as u32, pool.size()),
        stop: AtomicBool::new(false),
        capture: Default::default(),
    });
    let mut rtnl = Rtnl::new(Arc::clone(&shared), port_states);
    rtnl.base = Some(cfg.clone());
    apply_config(
        cfg,
        port_ids,
        &mut rtnl,
        &mut TableEnv {
            table: &mut neigh,
            actions: &mut actions,
        },
    )?;
    shared.neigh.store(Arc::new(neigh.snapshot()));
    for (port, t) in rtnl.qdiscs() {
        log::info!(
            "port {}: qdisc tbf {t} (a packet waits at most {})",
            rtnl.name_of(*port),
            fmt_time_us(t.max_delay_us())
        );
    }
    log::info!(
        "FIB version {}: {} prefixes",
        shared.fib.load().version,
        shared.fib.load().prefixes()
    );
    let signalled = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&signalled))
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    // SIGHUP (a closed terminal, or a habit of `kill -HUP` for reload) must not kill a
    // router: it is taken and ignored. There is no reload; the API changes state live.
    signal_hook::flag::register(
        signal_hook::consts::SIGHUP,
        Arc::new(AtomicBool::new(false)),
    )
    .map_err(|e| format!("signal handler: {e}"))?;
    let server = Server::bind(&cfg.control.socket).map_err(|e| {
        format!(
            "{}: control.socket: cannot bind {}: {e}",
            cfg.source,
            cfg.control.socket.display()
        )
    })?;

    // Bound now so that a taken address fails startup; served once everything runs.
    let endpoint = match cfg.metrics.listen {
        Some(addr) => Some(Endpoint::bind(addr).map_err(|e| {
            format!(
                "{}: metrics.listen: cannot listen on {addr}: {e}",
                cfg.source
            )
        })?),
        None => None,
    };

    let bucket = || IcmpLimiter::new(cfg.icmp.limits(), hz, dpdk::rdtsc());
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
    let (mut slow, punt_rx) = punt::queues(cfg.punt, hz);
    // The kernel twins exist before any worker punts to them.
    let twin_mtu = pool
        .alloc()
        .map_or(0, |m| m.capacity().saturating_sub(ETH_HLEN)) as u16;
    let linux_cp = if cfg.linux_cp.enabled {
        let ports: Vec<PortCtx> = shared.ports.load().iter().cloned().collect();
        let (cp, twins) = linuxcp::start(&cfg.linux_cp, &ports, twin_mtu)
            .map_err(|e| format!("{}: {e}", cfg.source))?;
        slow.to_host(cfg.linux_cp.punt);
        Some((cp, twins))
    } else {
        None
    };
    let (linux_cp, twins) = match linux_cp {
        Some((cp, t)) => (Some(cp), Some(t)),
        None => (None, None),
    };
    // The control thread transmits through worker 0.
    let (inject_tx, inject_rx) = std::sync::mpsc::sync_channel::<Injected>(INJECT_QUEUE);
    let mut inject_rx = Some(inject_rx);
    let mut all_counters = Vec::new();
    let params = LoopParams {
        burst: cfg.datapath.burst,
        drain_cycles: hz * cfg.datapath.tx_drain_us / 1_000_000,
        idle_sleep: (cfg.datapath.idle_sleep_us > 0)
            .then(|| Duration::from_micros(cfg.datapath.idle_sleep_us)),
        tsc_hz: hz,
    };
    for (w, wc) in cfg.workers.iter().enumerate() {
        let counters = Arc::new(SharedCounters::default());
        all_counters.push((wc.lcore, Arc::clone(&counters)));
        let worker = Worker {
            lcore: wc.lcore,
            rxqs: wc
                .rx
                .iter()
                .map(|q| RxQueue::new(port_ids[q.port], q.queue))
                .collect(),
            egress: Egress::new(Sink::Tx(tx_buffers(w as u16)), bucket(), pool),
            shared: Arc::clone(&shared),
            counters,
            slow: slow.for_worker(),
            inject: inject_rx.take(),
            params: params.clone(),
        };
        let rx: Vec<String> = wc
            .rx
            .iter()
            .map(|q| format!("{}:{}", cfg.ports[q.port].name, q.queue))
            .collect();
        dpdk::launch_on_lcore(wc.lcore, move || worker.run()).map_err(|e| {
            shared
                .stop
                .store(true, std::sync::atomic::Ordering::Relaxed);
            format!("{}: worker[{w}].lcore: {e}", cfg.source)
        })?;
        log::info!("worker {w} on lcore {} polls {}", wc.lcore, rx.join(", "));
    }
    drop(slow);
    let counters = Arc::new(SharedCounters::default());
    all_counters.push((dpdk::lcore_id(), Arc::clone(&counters)));
    let neigh_summary = Arc::new(NeighSummary::default());
    let reasm_gauges = Arc::new(ReasmGauges::default());
    let metrics_sources = metrics::Sources {
        shared: Arc::clone(&shared),
        counters: all_counters.clone(),
        workers: cfg.workers.iter().map(|w| w.lcore).collect(),
        pool,
        neigh: Arc::clone(&neigh_summary),
        reasm: Arc::clone(&reasm_gauges),
        linux_cp: linux_cp.as_ref().map(|cp| Arc::clone(&cp.stats)),
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
        linux_cp: linux_cp.as_ref().map(|cp| Arc::clone(&cp.stats)),
    };
    let api = server::spawn(server, rtnl, env).map_err(|e| {
        shared
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        format!("control API threads: {e}")
    });
    let api = match api {
        Ok(a) => a,
        Err(e) => {
            dpdk::wait_lcores();
            return Err(e);
        }
    };
    let mut control = SlowPathThread {
        shared: Arc::clone(&shared),
        pool,
        punt: punt_rx,
        neigh,
        egress: Egress::new(Sink::Inject(inject_tx), bucket(), pool),
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
    let follower = match linux_cp {
        Some(cp) => {
            let spawned = cp.spawn(
                &cfg.linux_cp,
                Arc::clone(&shared),
                cfg.control.socket.clone(),
                twin_mtu,
            );
            match spawned {
                Ok(h) => Some(h),
                Err(e) => {
                    shared
                        .stop
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    api.stop();
                    dpdk::wait_lcores();
                    return Err(format!("linux_cp follower thread: {e}"));
                }
            }
        }
        None => None,
    };
    let metrics_url = match &endpoint {
        Some(ep) => ep
            .local_addr()
            .map(|a| format!("http://{a}{}", metrics::http::PATH))
            .unwrap_or_else(|e| format!("? ({e})")),
        None => "disabled".into(),
    };
    let serving = match endpoint {
        Some(ep) => {
            let exporter = Exporter::new(move || metrics_sources.snapshot())
                .map_err(|e| format!("metrics: {e}"));
            let spawned = exporter.and_then(|x| {
                ep.spawn(move || x.render().map_err(|e| e.to_string()))
                    .map_err(|e| format!("metrics thread: {e}"))
            });
            match spawned {
                Ok(s) => Some(s),
                Err(e) => {
                    shared
                        .stop
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    dpdk::wait_lcores();
                    return Err(e);
                }
            }
        }
        None => None,
    };
    let ready = format!(
        "ready: {} port(s) up; control socket {}; metrics {metrics_url}",
        port_ids.len(),
        cfg.control.socket.display()
    );
    log::info!("{ready}");
    crate::service::ready(&ready);
    control.run();
    crate::service::stopping();
    // Before the API stops: the mirror is one of its clients.
    if let Some(h) = follower {
        let _ = h.join();
    }
    api.stop();
    // Before the ports close: the metrics thread reads their stats.
    if let Some(s) = serving {
        s.stop();
    }
    log::info!("stopping: waiting for workers");
    dpdk::wait_lcores();
    log::info!("stopped");
    Ok(())
}
