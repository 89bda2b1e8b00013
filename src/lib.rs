//! ferroute: an IPv4 software router whose datapath runs on DPDK poll-mode drivers.
//!
//! `unsafe` is confined to [`dpdk`], the safe layer over `dpdk-sys`; everything else is
//! safe Rust and most of it (wire formats, pipeline stages, FIB, neighbour state machine)
//! is tested without DPDK.
#![deny(unsafe_code)]

pub mod capture;
pub mod config;
pub mod control;
pub mod datapath;
#[allow(unsafe_code)]
pub mod dpdk;
pub mod fib;
pub mod linuxcp;
pub mod logging;
pub mod metrics;
pub mod neigh;
pub mod router;
pub mod service;
pub mod stats;
#[cfg(test)]
mod testutil;
pub mod wire;
