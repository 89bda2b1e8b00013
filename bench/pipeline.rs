//! Cycles per packet of the datapath pipeline alone, without I/O.
//!
//! Bursts of 32 prebuilt packets in mbufs from a real mempool (EAL `--no-huge`) go
//! through `pipeline::receive`, the function the worker loop calls on every RX burst:
//! Ethernet and IPv4 input (header checksum verified in software, as for a port without
//! RX checksum offload), the FIB burst lookup, routing, forwarding (TTL, RFC 1624
//! checksum update), output (neighbour, Ethernet rewrite) and `Egress::transmit` into a
//! per-port TX buffer that flushes with `rte_eth_tx_burst` into a `net_ring` port. The
//! TSC is read around each burst (the call and the final flush). Untimed, the packets
//! are taken back from the ring after a burst and their headers restored (TTL,
//! checksum, MACs) before the next pass, so the same packets are reused; the restore
//! leaves the headers in the cache, as a worker's RX would (the cost of cold packets
//! belongs to the I/O, measured by bench/throughput). Left out: RX from a NIC and the
//! per-round snapshot loads (a few cycles per round).
//!
//! Contenders, interleaved round by round: the full table with 64-byte frames, the full
//! table with a simple IMIX (7:4:1 of 64, 594, 1518-byte frames), and a 2-route table
//! (connected + default) with the same 64-byte packets. Destinations are random addresses
//! inside random prefixes of the full table (all routed to one next hop). A fourth
//! contender is bench/throughput's 2-route table, two /25s, with 64-byte packets to 256
//! addresses of 10.253.0.0/24: its lookups go through the LPM's deeper nodes.
//!
//! `cargo bench --bench pipeline` is the full run; a plain run is a smoke run with a small
//! table and a few bursts.
#[path = "common/mod.rs"]
mod common;

use common::{interleave, median, table, Mode, Report, Rng};
use ferroute::config::IcmpConfig;
use ferroute::datapath::egress::{Egress, Sink};
use ferroute::datapath::icmp_ratelimit::IcmpLimiter;
use ferroute::datapath::pipeline::{self, HopCarry, View};
use ferroute::datapath::punt::{self, PuntLimits, PuntRx, SlowPath};
use ferroute::datapath::{PortCtx, PortStat, Ports, Reason, MAX_BURST};
use ferroute::dpdk::{
    self, rdtsc, Mbuf, MbufBurst, Mempool, PortSetup, RxQueue, TxBuffer, TxQueue,
};
use ferroute::fib::{Fib, NextHop, Proto, Rib, Route, RouteTarget};
use ferroute::neigh::{NeighKey, NeighParams, NeighSnapshot, NeighTable};
use ferroute::wire::ethernet::{EthernetFrame, ETHERTYPE_IPV4};
use ferroute::wire::ipv4::Ipv4Packet;
use ferroute::wire::MacAddr;
use ipnet::Ipv4Net;
use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::process::ExitCode;

/// Bytes restored before each burst: Ethernet + IPv4 header (no options).
const HDR: usize = 14 + 20;
const ROUTER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const GW: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);
/// A second gateway, for the upper /25 of the deep table (two next hops, as
/// bench/throughput's two ports: with one, the LPM would merge the halves into a /24).
const GW2: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 3);
const PEER2_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x03]);

fn main() -> ExitCode {
    let mode = Mode::from_args();
    match bench(mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipeline benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A `len`-byte frame (without FCS) from 10.254.0.1 to `dst`: IPv4, UDP, TTL 64.
fn frame(len: usize, dst: u32) -> Vec<u8> {
    let mut f = vec![0u8; len];
    {
        let mut e = EthernetFrame::new_unchecked(&mut f[..]);
        e.set_dst(ROUTER_MAC);
        e.set_src(PEER_MAC);
        e.set_ethertype(ETHERTYPE_IPV4);
    }
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.set_version_ihl(4, 5);
        ip.set_total_len((len - 14) as u16);
        ip.set_ident(0);
        ip.set_frag(false, false, 0);
        ip.set_ttl(64);
        ip.set_protocol(17);
        ip.set_src_addr(Ipv4Addr::new(10, 254, 0, 1));
        ip.set_dst_addr(Ipv4Addr::from(dst));
        ip.fill_checksum();
    }
    let udp_len = (len - 34) as u16;
    f[34..36].copy_from_slice(&1000u16.to_be_bytes());
    f[36..38].copy_from_slice(&1001u16.to_be_bytes());
    f[38..40].copy_from_slice(&udp_len.to_be_bytes());
    f
}

/// A set of prebuilt bursts and the pristine headers to restore them from.
struct Packets {
    bursts: Vec<Vec<Mbuf>>,
    headers: Vec<Vec<[u8; HDR]>>,
    count: usize,
}

impl Packets {
    fn build(
        pool: &Mempool,
        port: u16,
        dsts: &[u32],
        sizes: &mut dyn FnMut() -> usize,
    ) -> Result<Packets, String> {
        let mut bursts = Vec::new();
        let mut headers = Vec::new();
        for chunk in dsts.chunks(MAX_BURST) {
            let mut b = Vec::with_capacity(MAX_BURST);
            let mut h = Vec::with_capacity(MAX_BURST);
            for &d in chunk {
                let f = frame(sizes(), d);
                let mut m = pool.alloc().ok_or("mempool exhausted")?;
                if !m.set_len(f.len()) {
                    return Err(format!("an mbuf cannot hold {} bytes", f.len()));
                }
                m.data_mut().copy_from_slice(&f);
                m.set_in_port(port);
                let mut hdr = [0u8; HDR];
                hdr.copy_from_slice(&f[..HDR]);
                b.push(m);
                h.push(hdr);
            }
            bursts.push(b);
            headers.push(h);
        }
        Ok(Packets {
            bursts,
            headers,
            count: dsts.len(),
        })
    }
}

/// What the pipeline reads: the FIB, neighbours, the one port (in and out), and the
/// slow-path queues (which must stay empty: every packet is forwarded).
struct Env {
    port: u16,
    ports: Ports,
    neigh: NeighSnapshot,
    rxq: RxQueue,
    carry: HopCarry,
    egress: Egress,
    slow: SlowPath,
    _slow_rx: PuntRx,
}

impl Env {
    /// Runs every burst through the pipeline once; returns the cycles it took.
    fn pass(&mut self, fib: &Fib, pk: &mut Packets, overhead: u64) -> Result<u64, String> {
        let mut cycles = 0u64;
        let port = self.port;
        let before = self.egress.tally.port_stat(port, PortStat::Forwarded);
        let mut burst = MbufBurst::new();
        for (pkts, hdrs) in pk.bursts.iter_mut().zip(&pk.headers) {
            let n = pkts.len();
            // Untimed: restore what the last pass changed. This also brings the headers
            // into the cache, as the RX of a real worker would have just done.
            for (mut m, h) in pkts.drain(..).zip(hdrs) {
                m.data_mut()[..HDR].copy_from_slice(h);
                m.set_in_port(port);
                burst.push(m).map_err(|_| "burst overflow")?;
            }
            // As the worker's burst from this port would say: net_ring checks no checksums.
            burst.set_csum_flags(self.rxq.csum_flags);
            let t0 = rdtsc();
            let mut v = View::new(fib, &self.neigh, &self.ports);
            // As the worker: the next hop carried from the last burst's round.
            v.resume(&self.carry);
            pipeline::receive(&mut self.egress, &mut self.slow, port, &mut burst, &mut v);
            v.keep(&mut self.carry);
            self.egress.flush();
            let t1 = rdtsc();
            cycles += t1.wrapping_sub(t0).saturating_sub(overhead);
            // Untimed: take the packets back from the ring (in order: it is a FIFO).
            self.rxq.rx_burst(MAX_BURST, |m| pkts.push(m));
            if pkts.len() != n {
                return Err(format!(
                    "{} of {n} packets came back from the ring",
                    pkts.len()
                ));
            }
        }
        let forwarded = self.egress.tally.port_stat(port, PortStat::Forwarded) - before;
        if forwarded != pk.count as u64 {
            let drops: Vec<String> = Reason::ALL
                .iter()
                .filter(|r| self.egress.tally.drops_of(**r) > 0)
                .map(|r| format!("{} {}", r.name(), self.egress.tally.drops_of(*r)))
                .collect();
            return Err(format!(
                "{forwarded} of {} packets forwarded; drops: {}",
                pk.count,
                drops.join(", ")
            ));
        }
        Ok(cycles)
    }
}

/// TSC cycles of an empty timed region (two back-to-back reads), median of many.
fn rdtsc_overhead() -> u64 {
    let mut v: Vec<f64> = (0..10_000)
        .map(|_| {
            let a = rdtsc();
            let b = rdtsc();
            b.wrapping_sub(a) as f64
        })
        .collect();
    median(&mut v) as u64
}

fn build_fib(port: u16, routes: &[(Ipv4Net, Ipv4Addr)], default_route: bool) -> Fib {
    let mut rib = Rib::new();
    for r in ferroute::fib::address_routes("198.18.1.1/24".parse().unwrap_or_default(), port) {
        rib.insert(r);
    }
    let via = |prefix, gw| Route {
        prefix,
        target: RouteTarget::Gateway {
            gw,
            port: Some(port),
        },
        metric: 0,
        proto: Proto::Static,
    };
    for &(p, gw) in routes {
        rib.insert(via(p, gw));
    }
    rib.insert(via("10.253.0.0/24".parse().unwrap_or_default(), GW));
    if default_route {
        rib.insert(via(Ipv4Net::default(), GW));
    }
    rib.build_fib(1)
}

fn bench(mode: Mode) -> Result<(), String> {
    // One lcore, free to run on either CPU (so the report still sees the machine's
    // CPUs; `-l 0` would pin the process to CPU 0).
    let extra = ["--lcores", "0@(0-1)", "--vdev=net_ring0"];
    common::with_eal("pipeline", 512, &extra, || run(mode))
}

fn run(mode: Mode) -> Result<(), String> {
    let bursts = mode.pick(512, 8);
    // PIPELINE_ROUNDS=N overrides the number of rounds (for `perf record`).
    let rounds = std::env::var("PIPELINE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(mode.pick(15, 2));
    let npkts = bursts * MAX_BURST;
    let pool =
        Mempool::create("pipeline", (3 * npkts + 2048) as u32, 256).map_err(|e| e.to_string())?;
    let port = dpdk::port_by_name("net_ring0").map_err(|e| e.to_string())?;
    let setup = PortSetup {
        rx_queues: 1,
        tx_queues: 1,
        rx_desc: 1024,
        tx_desc: 1024,
        mtu: 1500,
        mac: None,
    };
    dpdk::setup_and_start(port, &setup, &pool).map_err(|e| e.to_string())?;

    let mut rng = Rng::new(42);
    let table = match mode {
        Mode::Full => table::full(901_899)?,
        Mode::Smoke => table::Table {
            prefixes: table::synthetic(1000, &mut rng),
            source: "synthetic, 1000 prefixes (smoke run)".into(),
        },
    };
    let full_routes: Vec<(Ipv4Net, Ipv4Addr)> = table.prefixes.iter().map(|&p| (p, GW)).collect();
    let (t_build, full_fib) = common::timed(|| build_fib(port, &full_routes, false));
    let small_fib = build_fib(port, &[], true);
    // The 2-route table of bench/throughput: two /25s, reached through the deeper nodes
    // of the LPM (longer than its /18 direct table and its /24 first level).
    let halves: Vec<(Ipv4Net, Ipv4Addr)> = [("10.253.0.0/25", GW), ("10.253.0.128/25", GW2)]
        .iter()
        .filter_map(|&(p, gw)| Some((p.parse().ok()?, gw)))
        .collect();
    let deep_fib = build_fib(port, &halves, false);

    // Destinations: a random address inside a random table prefix, kept only if the
    // full table routes it to the gateway (not to the router itself or a broadcast).
    let mut dsts = Vec::with_capacity(npkts);
    while dsts.len() < npkts {
        let p = &table.prefixes[(rng.next_u64() % table.prefixes.len() as u64) as usize];
        let d = table::address_in(p, &mut rng);
        let martian = matches!(d >> 24, 0 | 127) || d >> 28 >= 0xe;
        let routed = matches!(full_fib.lookup(d), Some(NextHop::Gateway { .. }))
            && matches!(small_fib.lookup(d), Some(NextHop::Gateway { .. }));
        if !martian && routed {
            dsts.push(d);
        }
    }
    let mut p64 = Packets::build(&pool, port, &dsts, &mut || 60)?;
    // 256 flows over 10.253.0.0/24, as bench/throughput's generator sends them.
    let deep_dsts: Vec<u32> = (0..npkts as u32).map(|i| 0x0afd_0000 | (i % 256)).collect();
    let mut pdeep = Packets::build(&pool, port, &deep_dsts, &mut || 60)?;
    // Simple IMIX: 7 x 64, 4 x 594, 1 x 1518 bytes with FCS (60, 590, 1514 without).
    let mut imix_rng = Rng::new(9);
    let mut pimix = Packets::build(&pool, port, &dsts, &mut || match imix_rng.next_u32() % 12 {
        0..=6 => 60,
        7..=10 => 590,
        _ => 1514,
    })?;

    let mut neigh = NeighTable::<()>::new(NeighParams::default());
    let mut actions = Vec::new();
    neigh.add_static(NeighKey::new(port, GW), PEER_MAC, &mut actions);
    neigh.add_static(NeighKey::new(port, GW2), PEER2_MAC, &mut actions);
    let hz = dpdk::tsc_hz();
    let (slow, slow_rx) = punt::queues(PuntLimits::default(), hz);
    let mut env = Env {
        port,
        ports: Ports::new(vec![PortCtx {
            id: port,
            name: "ring".into(),
            mac: ROUTER_MAC,
            addr: "198.18.1.1/24".parse().map_err(|e| format!("{e}"))?,
            secondary: Vec::new(),
            mtu: 1500,
            up: true,
        }]),
        neigh: neigh.snapshot(),
        rxq: RxQueue::new(port, 0),
        carry: HopCarry::default(),
        egress: Egress::new(
            Sink::Tx(
                (0..port)
                    .map(|_| None)
                    .chain([Some(TxBuffer::new(TxQueue::new(port, 0)))])
                    .collect(),
            ),
            IcmpLimiter::new(IcmpConfig::default().limits(), hz, rdtsc()),
            pool,
        ),
        slow,
        _slow_rx: slow_rx,
    };
    let overhead = rdtsc_overhead();

    // Warm-up: every contender once, untimed.
    env.pass(&full_fib, &mut p64, overhead)?;
    env.pass(&full_fib, &mut pimix, overhead)?;
    env.pass(&small_fib, &mut p64, overhead)?;
    env.pass(&deep_fib, &mut pdeep, overhead)?;

    let names = [
        "full table, 64 B",
        "full table, IMIX",
        "2 routes, 64 B",
        "2 /25 routes, 64 B",
    ];
    let keys = ["full_64b", "full_imix", "small_64b", "deep25_64b"];
    // Targets of issue 11 (cycles per packet, 64-byte packets).
    let targets = [Some(100.0), None, Some(60.0), None];
    let error: RefCell<Option<String>> = RefCell::new(None);
    let cold_totals: RefCell<Vec<Vec<f64>>> = RefCell::new(vec![Vec::new(); names.len()]);
    let env = RefCell::new(env);
    let (p64, pimix, pdeep) = (RefCell::new(p64), RefCell::new(pimix), RefCell::new(pdeep));
    // PIPELINE_ONLY=KEY runs only that contender (the others report NaN), for `perf`.
    let only = std::env::var("PIPELINE_ONLY").ok();
    let go = |c: usize| -> f64 {
        if only.as_deref().is_some_and(|k| k != keys[c]) || error.borrow().is_some() {
            return f64::NAN;
        }
        let (fib, pk) = match c {
            0 => (&full_fib, &p64),
            1 => (&full_fib, &pimix),
            2 => (&small_fib, &p64),
            _ => (&deep_fib, &pdeep),
        };
        let mut pk = pk.borrow_mut();
        let mut env = env.borrow_mut();
        // Two passes: the first right after another contender's (whose table and packets
        // pushed this one's out of the caches), the second with this contender's own
        // working set warm, as in a router that forwards with one table. The target is
        // judged on the second; both are reported.
        let passes = env
            .pass(fib, &mut pk, overhead)
            .and_then(|cold| Ok((cold, env.pass(fib, &mut pk, overhead)?)));
        match passes {
            Ok((cold, warm)) => {
                cold_totals.borrow_mut()[c].push(cold as f64 / pk.count as f64);
                warm as f64 / pk.count as f64
            }
            Err(e) => {
                *error.borrow_mut() = Some(e);
                f64::NAN
            }
        }
    };
    let (mut a, mut b, mut c, mut d) = (|| go(0), || go(1), || go(2), || go(3));
    let totals = interleave(rounds, &mut [&mut a, &mut b, &mut c, &mut d]);
    if let Some(e) = error.into_inner() {
        return Err(e);
    }

    let mut report = Report::new(
        "pipeline",
        "Datapath pipeline cost per packet (pipeline::receive, no I/O)",
        mode,
    );
    report.note(format!(
        "table: {}; FIB build {t_build:.2} s, {} prefixes, {} bytes",
        table.source,
        full_fib.prefixes(),
        full_fib.memory_bytes()
    ));
    report.note(format!(
        "{bursts} bursts of {MAX_BURST} packets per pass, destinations spread over the table's \
         prefixes; {rounds} interleaved rounds, two passes per contender and round (the \
         first after another contender's, reported as \"after another contender\"; the \
         second, with its own tables warm, is the figure); TSC {:.3} GHz; rdtsc pair \
         overhead {overhead} cycles subtracted per burst",
        hz as f64 / 1e9
    ));
    report.note(
        "per burst: pipeline::receive (eth, ip4 input with software header checksum, FIB, \
         route, forward, output, TX enqueue) and the TX buffer's flush into a net_ring port",
    );
    let ns = |cyc: f64| cyc * 1e9 / hz as f64;
    let cold_totals = cold_totals.into_inner();
    report.columns(&[
        "contender",
        "median cycles/pkt",
        "min cycles/pkt",
        "median after another contender",
        "median ns/pkt",
        "Mpps on one core",
        "target",
    ]);
    for (c, t) in totals.iter().enumerate() {
        let mut v = t.clone();
        let m = median(&mut v);
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let target = match targets[c] {
            Some(x) if m <= x => format!("<= {x}: met"),
            Some(x) => format!("<= {x}: NOT met"),
            None => "-".into(),
        };
        let cold = median(&mut cold_totals[c].clone());
        report.row(vec![
            names[c].into(),
            format!("{m:.1}"),
            format!("{min:.1}"),
            format!("{cold:.1}"),
            format!("{:.2}", ns(m)),
            format!("{:.2}", hz as f64 / m / 1e6),
            target,
        ]);
        report.figure(&format!("{}.total.cycles_per_packet", keys[c]), m);
        report.figure(&format!("{}.total.min_cycles_per_packet", keys[c]), min);
        report.figure(&format!("{}.total.cold_cycles_per_packet", keys[c]), cold);
        report.figure(&format!("{}.total.ns_per_packet", keys[c]), ns(m));
        report.figure(&format!("{}.mpps_one_core", keys[c]), hz as f64 / m / 1e6);
        report.bar("cycles per packet (median)", "cycles", names[c], m);
    }
    report
        .finish()
        .map_err(|e| format!("writing results: {e}"))?;
    Ok(())
}
