//! `ferroute check` and the start-up's first step: the configuration applied, request by
//! request (`config::requests`), to API state, so that the API's handlers are the one
//! judge of addresses, routes and neighbours. `check` does it on a scratch state (no
//! EAL, no ports: a `Rtnl` over the configured ports and a table-only `Env`); `run` on
//! the state it serves.
use crate::config::requests::{config_requests, refusal};
use crate::config::{Config, ConfigError};
use crate::datapath::qdisc::Qdiscs;
use crate::datapath::worker::Shared;
use crate::datapath::Ports;
use crate::fib::Fib;
use crate::neigh::{NeighParams, NeighSnapshot, NeighTable};
use crate::rtnl::{Env, PortState, Rtnl, TableEnv};
use crate::wire::MacAddr;
use arc_swap::ArcSwap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Applies the configuration's requests through the API's handlers, stopping at the
/// first refusal, which is returned as `FILE: KEY: message`. Nothing is published.
pub fn apply_requests(
    cfg: &Config,
    port_ids: &[u16],
    rtnl: &mut Rtnl,
    env: &mut dyn Env,
) -> Result<(), ConfigError> {
    let reqs = config_requests(cfg, port_ids);
    let mut out = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        out.clear();
        rtnl.handle(&r.to_message(i as u32 + 1), env, &mut out);
        if let Some(e) = out.iter().find_map(|m| m.body.api_error()) {
            return Err(refusal(cfg, port_ids, &reqs, i, &e));
        }
    }
    Ok(())
}

/// Applies the configuration (see [`apply_requests`]) and publishes the first FIB
/// version.
pub fn apply_config(
    cfg: &Config,
    port_ids: &[u16],
    rtnl: &mut Rtnl,
    env: &mut dyn Env,
) -> Result<(), ConfigError> {
    apply_requests(cfg, port_ids, rtnl, env)?;
    rtnl.publish_fib();
    Ok(())
}

/// `ferroute check`: `cfg` applied to a scratch API state over its ports (DPDK port ids
/// 0, 1, ... in file order). The first refusal is the error.
pub fn check(cfg: &Config) -> Result<(), ConfigError> {
    let shared = Arc::new(Shared {
        fib: ArcSwap::from_pointee(Fib::default()),
        neigh: ArcSwap::from_pointee(NeighSnapshot::default()),
        ports: ArcSwap::from_pointee(Ports::default()),
        qdisc: Qdiscs::new(1_000_000_000, cfg.workers.len() as u32, cfg.datapath.mbufs),
        stop: AtomicBool::new(false),
        capture: Default::default(),
    });
    let ids: Vec<u16> = (0..cfg.ports.len() as u16).collect();
    let ports = (cfg.ports.iter().zip(&ids))
        .map(|(p, &id)| PortState {
            id,
            name: p.name.clone(),
            // The device's own MAC is not known without DPDK; nothing here reads it.
            mac: p.mac.unwrap_or(MacAddr([2, 0, 0, 0, 0, id as u8])),
            addrs: Vec::new(),
            mtu: p.mtu,
            up: true,
        })
        .collect();
    let mut rtnl = Rtnl::new(shared, ports);
    let mut table: NeighTable<()> = NeighTable::new(NeighParams::default());
    let mut actions = Vec::new();
    let mut env = TableEnv {
        table: &mut table,
        actions: &mut actions,
    };
    apply_requests(cfg, &ids, &mut rtnl, &mut env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(extra: &str) -> Result<(), ConfigError> {
        let text = format!("{}{extra}", crate::config::DEFAULT_CONFIG);
        check(&Config::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn the_default_checks_and_further_addresses_are_judged_by_the_api() {
        check(&Config::load(None).unwrap()).unwrap();
        check_text("[[address]]\nport = \"port1\"\naddress = \"10.0.3.1/24\"\n").unwrap();
        let e =
            check_text("[[address]]\nport = \"port1\"\naddress = \"10.0.1.9/24\"\n").unwrap_err();
        assert_eq!(e.key, "address[0].address", "{e}");
        assert!(e.message.contains("overlaps 10.0.1.0/24 of port0"), "{e}");
        let e =
            check_text("[[address]]\nport = \"port0\"\naddress = \"10.0.1.1/24\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.toml: address[0].address: address already assigned (EEXIST)"
        );
    }
}
