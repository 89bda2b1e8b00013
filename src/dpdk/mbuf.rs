//! An owning handle on one single-segment packet mbuf.
use std::ptr::NonNull;

/// What the port said about the IPv4 header checksum on receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxCsum {
    Unknown,
    Good,
    Bad,
}

/// Owns one `rte_mbuf` and frees it when dropped. Packet bytes are reached through
/// `data()`/`data_mut()`, which cover the first segment only; multi-segment packets are
/// detected with `is_contiguous()` and dropped by the caller. Transparent over the
/// pointer, so a burst of pointers can lend its packets as `&Mbuf` (see `MbufBurst`).
#[repr(transparent)]
pub struct Mbuf {
    ptr: NonNull<dpdk_sys::rte_mbuf>,
}

// SAFETY: an Mbuf is the unique owner of its rte_mbuf (refcnt 1, never aliased), and DPDK
// lets any thread free an mbuf; moving it across threads moves the ownership.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// # Safety
    /// `ptr` must be a valid mbuf that the caller owns exclusively.
    pub(crate) unsafe fn from_raw(ptr: NonNull<dpdk_sys::rte_mbuf>) -> Mbuf {
        Mbuf { ptr }
    }

    /// Gives up ownership (to a TX ring).
    pub(crate) fn into_raw(self) -> *mut dpdk_sys::rte_mbuf {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    fn raw(&self) -> &dpdk_sys::rte_mbuf {
        // SAFETY: we own a valid mbuf for our whole lifetime.
        unsafe { self.ptr.as_ref() }
    }

    fn raw_mut(&mut self) -> &mut dpdk_sys::rte_mbuf {
        // SAFETY: we own a valid mbuf exclusively (&mut self).
        unsafe { self.ptr.as_mut() }
    }

    /// The first segment's bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's buffer (DPDK
        // invariant) and we hold the only reference to the packet.
        unsafe {
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// The first segment's bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.raw_mut();
        // SAFETY: as in data(), and &mut self guarantees exclusive access.
        unsafe {
            std::slice::from_raw_parts_mut(
                (m.buf_addr as *mut u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// Length of the first segment.
    #[inline]
    pub fn len(&self) -> usize {
        self.raw().data_len as usize
    }

    /// Length of the whole packet (all segments): what Linux's `skb->len` is for the
    /// frame, without FCS.
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        self.raw().pkt_len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the first segment can grow to without moving its start.
    #[inline]
    pub fn capacity(&self) -> usize {
        let m = self.raw();
        (m.buf_len - m.data_off) as usize
    }

    /// True for a single-segment packet.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.raw().nb_segs == 1
    }

    /// Sets the packet length (shrinks or grows the single segment). New bytes are not
    /// zeroed. Returns false, changing nothing, beyond the buffer or on a chained mbuf.
    #[inline]
    pub fn set_len(&mut self, len: usize) -> bool {
        if len > self.capacity() || !self.is_contiguous() {
            return false;
        }
        let m = self.raw_mut();
        m.data_len = len as u16;
        m.pkt_len = len as u32;
        true
    }

    /// Port the packet arrived on.
    #[inline]
    pub fn in_port(&self) -> u16 {
        self.raw().port
    }

    #[inline]
    pub fn set_in_port(&mut self, port: u16) {
        self.raw_mut().port = port;
    }

    /// The RX IPv4 header checksum verdict from the port's offload flags.
    #[inline]
    pub fn rx_ip_csum(&self) -> RxCsum {
        // Two flag bits, GOOD and BAD; both set means NONE (not checked, as unknown). A
        // table by the two bits rather than a chain of compares: a few instructions on
        // every received packet.
        const BY_BITS: [RxCsum; 4] = [RxCsum::Unknown, RxCsum::Bad, RxCsum::Good, RxCsum::Unknown];
        let f = self.raw().ol_flags;
        let bad = (f & dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_BAD as u64 != 0) as usize;
        let good = (f & dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_GOOD as u64 != 0) as usize;
        BY_BITS[good << 1 | bad]
    }

    /// Prefetches the first cache line of the packet data into all cache levels.
    #[inline]
    pub fn prefetch_data(&self) {
        let m = self.raw();
        let p = (m.buf_addr as *const u8).wrapping_add(m.data_off as usize);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint with no architectural effect; it never faults,
        // whatever the address (Intel SDM, PREFETCHh).
        unsafe {
            std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }

    /// Clears offload flags before the packet is sent again (no TX offloads requested).
    #[inline]
    pub fn clear_offload_flags(&mut self) {
        self.raw_mut().ol_flags = 0;
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; it is returned to its pool exactly once.
        unsafe { dpdk_sys::rte_pktmbuf_free(self.ptr.as_ptr()) }
    }
}
