//! The safe layer over `dpdk-sys`: the only module of ferroute with `unsafe`.
//!
//! Ownership mirrors DPDK's rules: an [`Mbuf`] owns one packet and frees it on drop; an
//! [`RxQueue`]/[`TxQueue`] is a (port, queue) pair that DPDK allows one lcore at a time to
//! poll, so they are not `Clone` and each is moved into the one thread that uses it.

mod burst;
mod eal;
mod lpm;
mod mbuf;
mod mempool;
mod port;

pub use burst::{MbufBurst, BURST_MAX};
pub use eal::{
    check_pci_address, check_pci_driver, dpdk_version, eal_args, launch_on_lcore, lcore_id, rdtsc,
    thread_cpu_time, tsc_hz, wait_lcores, Eal, PciError, PortDevice, MAIN_LCORE_ANY,
    USERSPACE_DRIVERS,
};
pub use lpm::{heap_allocated_bytes, FibLookup, RteFib, RteLpm};
pub use mbuf::{Mbuf, RxCsum};
pub use mempool::Mempool;
pub use port::{
    link_up, mtu_range, port_by_name, port_count, set_mtu, setup_and_start, stats, stop_and_close,
    MtuRange, PortInfo, PortSetup, PortStats, RxQueue, TxBuffer, TxQueue, TxResult, TX_BUFFER_SIZE,
};

use std::ffi::CStr;

/// A DPDK call that failed: what was attempted and DPDK's errno.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: {reason} (errno {errno})")]
pub struct DpdkError {
    pub what: String,
    pub errno: i32,
    pub reason: String,
}

impl DpdkError {
    /// Builds the error from a DPDK return code (negative errno) or, when `ret` is not
    /// negative, from `rte_errno`.
    pub(crate) fn new(what: impl Into<String>, ret: i32) -> Self {
        let errno = if ret < 0 {
            -ret
        } else {
            // SAFETY: reads this thread's rte_errno through the shim; no preconditions.
            unsafe { dpdk_sys::ferroute_rte_errno() }
        };
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
        // string valid until the next call on this thread; it is copied at once.
        let reason = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(errno)) }
            .to_string_lossy()
            .into_owned();
        DpdkError {
            what: what.into(),
            errno,
            reason,
        }
    }
}
