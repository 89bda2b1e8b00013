//! Raw bindings to the system DPDK, generated at build time (see `build.rs`).
//!
//! DPDK's `static inline` functions (`rte_eth_rx_burst`, `rte_pktmbuf_alloc`, ...) are
//! exported under their own names through bindgen's `wrap_static_fns`. Nothing here is
//! safe to call directly; ferroute's `src/dpdk/` is the safe layer.
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code
)]
#![allow(clippy::all, improper_ctypes)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
