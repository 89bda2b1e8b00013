//! ferroute: an IPv4 software router whose datapath runs on DPDK poll-mode drivers.
//!
//! `unsafe` is confined to [`dpdk`], the safe layer over `dpdk-sys`; everything else is
//! safe Rust and most of it (wire formats, pipeline stages, FIB, neighbour state machine)
//! is tested without DPDK.
//!
//! # Layers
//!
//! Each module uses only modules of lower layers (or itself); `layers.rs` checks every
//! `crate::` path of every non-test source file against this table, the most specific
//! entry of a path deciding its layer:
//!
//! | layer | modules | what |
//! |---|---|---|
//! | 1 | `wire` | packet formats |
//! | 2 | `dpdk` | the safe layer over DPDK |
//! | 3 | `logging`, `service` | the log sink, systemd notifications |
//! | 4 | `fib`, `neigh` | routes and neighbours, as the datapath reads them |
//! | 5 | `datapath::reason` | the table of drop reasons |
//! | 6 | `capture` | packet capture rings and pcapng |
//! | 7 | `datapath` | the per-packet stages and the worker loop |
//! | 8 | `linuxcp::config` | the `[linux_cp]` settings |
//! | 9 | `api` | the control API: its wire format and a connection to it |
//! | 10 | `config` | the config file |
//! | 11 | `linuxcp` | kernel twins and the kernel-table mirror (an API client) |
//! | 12 | `metrics` | Prometheus |
//! | 13 | `rtnl` | the API's state and handlers, its socket server, the config dump |
//! | 14 | `cli` | the iproute2-style client, one file per object |
//! | 15 | `slowpath`, `daemon::check` | the main lcore's packet thread (ARP, reassembly, punts, linux_cp TAP I/O); the config applied to API state (`ferroute check`) |
//! | 16 | `stats`, `daemon` | `ferroute stats`; start-up and tear-down of everything (with a stop guard) |
#![deny(unsafe_code)]

pub mod api;
pub mod capture;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod datapath;
#[allow(unsafe_code)]
pub mod dpdk;
pub mod fib;
#[cfg(test)]
mod layers;
pub mod linuxcp;
pub mod logging;
pub mod metrics;
pub mod neigh;
pub mod rtnl;
pub mod service;
pub mod slowpath;
pub mod stats;
#[cfg(test)]
mod testutil;
pub mod wire;
