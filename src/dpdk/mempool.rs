//! Packet mbuf pool.
use super::{DpdkError, Mbuf};
use std::ffi::CString;
use std::ptr::NonNull;

/// A `rte_pktmbuf` pool. It lives until EAL cleanup: mbufs may still point into it when
/// the last handle goes away, so it is never freed explicitly.
#[derive(Clone, Copy)]
pub struct Mempool {
    ptr: NonNull<dpdk_sys::rte_mempool>,
}

// SAFETY: a DPDK mempool is designed for concurrent use from all lcores (lock-free ring
// plus per-lcore caches); the handle is just a pointer to it.
unsafe impl Send for Mempool {}
// SAFETY: as above, every operation we expose is thread-safe in DPDK.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// `rte_pktmbuf_pool_create` with the default data room (2048 + headroom).
    pub fn create(name: &str, n: u32, cache: u32) -> Result<Mempool, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError::new("mempool name", -22))?;
        // SAFETY: cname outlives the call; the returned pointer is checked for NULL.
        let ptr = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                n,
                cache,
                0,
                dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
                dpdk_sys::rte_socket_id() as i32,
            )
        };
        NonNull::new(ptr)
            .map(|ptr| Mempool { ptr })
            .ok_or_else(|| DpdkError::new(format!("create mempool {name} ({n} mbufs)"), 0))
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.ptr.as_ptr()
    }

    /// A fresh empty mbuf, or None if the pool is exhausted.
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool pointer is valid for the life of the EAL.
        let m = unsafe { dpdk_sys::rte_pktmbuf_alloc(self.ptr.as_ptr()) };
        // SAFETY: a non-NULL result is a freshly allocated mbuf we now own.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Mbufs currently allocated (held by rings, caches excluded, or by the application).
    pub fn in_use(&self) -> u32 {
        // SAFETY: read-only walk of the pool's counters.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }

    /// Mbufs available (common pool plus per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: read-only walk of the pool's counters.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Total mbufs in the pool.
    pub fn size(&self) -> u32 {
        // SAFETY: reads a field of a live pool.
        unsafe { (*self.ptr.as_ptr()).size }
    }
}
