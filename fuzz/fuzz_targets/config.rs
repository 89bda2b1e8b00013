//! The config parser on any text, and what it accepts applied through the control API
//! to in-memory state as `daemon::check` applies it (`config::requests::config_requests`,
//! each handled by `Rtnl`), except that no FIB is published (a first publication costs
//! milliseconds; `fib_publish` covers it). Nothing may panic; a config that applies
//! dumps (`ferroute config dump`) to text that parses.
#![no_main]
use arc_swap::ArcSwap;
use ferroute::api::{Body, Message, FR_GETCONFIG, NLM_F_REQUEST};
use ferroute::config::Config;
use ferroute::datapath::qdisc::Qdiscs;
use ferroute::datapath::worker::Shared;
use ferroute::datapath::Ports;
use ferroute::fib::Fib;
use ferroute::neigh::{NeighAction, NeighParams, NeighSnapshot, NeighTable};
use ferroute::rtnl::{PortState, Rtnl, TableEnv};
use ferroute::wire::MacAddr;
use libfuzzer_sys::fuzz_target;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

fn empty_fib() -> Arc<Fib> {
    static F: OnceLock<Arc<Fib>> = OnceLock::new();
    Arc::clone(F.get_or_init(|| Arc::new(Fib::default())))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = Config::parse(text, "fuzz.toml") else {
        return;
    };
    let shared = Arc::new(Shared {
        fib: ArcSwap::new(empty_fib()),
        neigh: ArcSwap::from_pointee(NeighSnapshot::default()),
        ports: ArcSwap::from_pointee(Ports::default()),
        qdisc: Qdiscs::new(1_000_000_000, 1, 8192),
        stop: AtomicBool::new(false),
        capture: Default::default(),
    });
    let ports = (0..cfg.ports.len())
        .map(|i| PortState {
            id: i as u16,
            name: cfg.ports[i].name.clone(),
            mac: MacAddr([2, 0, 0, 0, 0, i as u8]),
            addrs: Vec::new(),
            mtu: cfg.ports[i].mtu,
            up: true,
        })
        .collect();
    let mut rtnl = Rtnl::new(shared, ports);
    rtnl.base = Some(cfg.clone());
    let mut table: NeighTable<u32> = NeighTable::new(NeighParams::default());
    let mut actions: Vec<NeighAction<u32>> = Vec::new();
    let mut env = TableEnv {
        table: &mut table,
        actions: &mut actions,
    };
    let ids: Vec<u16> = (0..cfg.ports.len() as u16).collect();
    for (seq, r) in ferroute::config::requests::config_requests(&cfg, &ids)
        .iter()
        .enumerate()
    {
        let mut out = Vec::new();
        rtnl.handle(&r.request.to_message(0, seq as u32 + 1), &mut env, &mut out);
        if out
            .iter()
            .any(|r| matches!(r.body, Body::Error { errno, .. } if errno != 0))
        {
            return;
        }
    }
    let mut out = Vec::new();
    let req = Message::new(FR_GETCONFIG, NLM_F_REQUEST, 1, Body::Empty);
    rtnl.handle(&req, &mut env, &mut out);
    let Some(Body::Text(dump)) = out.first().map(|m| &m.body) else {
        panic!("config dump answered {out:?}");
    };
    if let Err(e) = Config::parse(dump, "dump.toml") {
        panic!("the dump of an applied config does not parse: {e}\n--- input\n{text}\n--- dump\n{dump}");
    }
});
