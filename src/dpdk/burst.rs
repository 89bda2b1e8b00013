//! A burst of received packets: up to [`BURST_MAX`] owned mbufs in a plain array of
//! pointers, as `rte_eth_rx_burst` fills it. The pipeline takes packets out of it one by
//! one (by index, so it can prefetch the ones ahead); what it does not take is freed when
//! the burst is dropped.
use super::{Mbuf, RxQueue, TxBuffer, TxResult};
use std::ptr::NonNull;

/// Packets a burst holds at most.
pub const BURST_MAX: usize = 32;

pub struct MbufBurst {
    /// Owned mbufs in `ptrs[..len]`; a slot whose packet was taken is null, and so is
    /// every slot from `len` on.
    ptrs: [*mut dpdk_sys::rte_mbuf; BURST_MAX],
    len: usize,
    /// Slots below `len` whose packet was taken (so `clear` can skip the scan when the
    /// pipeline took them all, as it does).
    taken: usize,
    /// The packets' RX checksum flags may say something (see [`RxQueue::csum_flags`]);
    /// true unless the burst came from a queue whose port does not check.
    csum_flags: bool,
}

// SAFETY: the burst owns the mbufs it holds (as `Mbuf` does), and DPDK lets any thread
// free or use an mbuf it owns.
unsafe impl Send for MbufBurst {}

impl Default for MbufBurst {
    fn default() -> Self {
        Self::new()
    }
}

impl MbufBurst {
    pub const fn new() -> MbufBurst {
        MbufBurst {
            ptrs: [std::ptr::null_mut(); BURST_MAX],
            len: 0,
            taken: 0,
            csum_flags: true,
        }
    }

    /// Slots filled by the last receive or push (taken ones included).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Frees what is left and receives up to `max` packets from `q` (at most
    /// [`BURST_MAX`]). Returns the count.
    #[inline]
    pub fn rx(&mut self, q: &mut RxQueue, max: usize) -> usize {
        self.clear();
        let max = max.min(BURST_MAX) as u16;
        // SAFETY: ptrs has room for BURST_MAX >= max pointers; this thread is the queue's
        // only poller (RxQueue is not Clone and is moved into one worker); the PMD hands
        // over ownership of the `n` mbufs it writes.
        let n = unsafe { dpdk_sys::rte_eth_rx_burst(q.port, q.queue, self.ptrs.as_mut_ptr(), max) };
        // The PMD writes no further than `max`; what it returns cannot be more.
        self.len = usize::from(n).min(usize::from(max));
        self.csum_flags = q.csum_flags;
        self.len
    }

    /// False when every packet's RX IPv4 checksum flags say "unknown" (the port does not
    /// check), so that the pipeline need not read them.
    #[inline]
    pub fn csum_flags(&self) -> bool {
        self.csum_flags
    }

    /// Says whether the packets' RX checksum flags may say something, for a burst filled
    /// by `push` (tests, benchmarks) as if received from a queue of that port; `clear`
    /// sets it back to true.
    pub fn set_csum_flags(&mut self, on: bool) {
        self.csum_flags = on;
    }

    /// Appends a packet; gives it back when the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        match self.ptrs.get_mut(self.len) {
            Some(slot) => {
                *slot = m.into_raw();
                self.len += 1;
                Ok(())
            }
            None => Err(m),
        }
    }

    /// Takes packet `i` out (None if taken already or past the end).
    #[inline]
    pub fn take(&mut self, i: usize) -> Option<Mbuf> {
        // Slots at or past `len` are null (see `clear`), so no check against it.
        let p = NonNull::new(std::mem::replace(
            self.ptrs.get_mut(i)?,
            std::ptr::null_mut(),
        ))?;
        self.taken += 1;
        // SAFETY: a non-null slot below `len` holds an mbuf this burst owns; the slot is
        // nulled, so ownership moves to the returned Mbuf exactly once.
        Some(unsafe { Mbuf::from_raw(p) })
    }

    /// Moves packet `i` to the end of `dst`, owner to owner, without handing it out (so
    /// no drop path, and no call, on the pipeline's hot loop). False, nothing moved, if
    /// slot `i` is empty or `dst` is full.
    #[inline]
    pub fn move_to(&mut self, i: usize, dst: &mut MbufBurst) -> bool {
        let (Some(slot), Some(to)) = (self.ptrs.get_mut(i), dst.ptrs.get_mut(dst.len)) else {
            return false;
        };
        if slot.is_null() {
            return false;
        }
        *to = std::mem::replace(slot, std::ptr::null_mut());
        dst.len += 1;
        self.taken += 1;
        true
    }

    /// Moves packet `i` into `tx`, owner to owner, as `move_to` does into a burst; when
    /// that fills the buffer it is flushed, and `flushed` gets what the flush did. False,
    /// nothing moved, if slot `i` is empty.
    #[inline]
    pub fn move_to_tx(&mut self, i: usize, tx: &mut TxBuffer, flushed: &mut TxResult) -> bool {
        let Some(slot) = self.ptrs.get_mut(i) else {
            return false;
        };
        let Some(p) = NonNull::new(std::mem::replace(slot, std::ptr::null_mut())) else {
            return false;
        };
        self.taken += 1;
        if let Some(r) = tx.push_raw(p) {
            *flushed += r;
        }
        true
    }

    /// Packet `i`, left in the burst.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&Mbuf> {
        let slot = self.ptrs.get(i)?;
        if slot.is_null() {
            return None;
        }
        // SAFETY: Mbuf is a transparent wrapper of a non-null mbuf pointer, and the slot
        // is a non-null pointer to an mbuf this burst owns; the borrow of self keeps the
        // slot from being taken or freed while the reference lives.
        Some(unsafe { &*(slot as *const *mut dpdk_sys::rte_mbuf as *const Mbuf) })
    }

    /// Packet `i`, left in the burst, writable.
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Mbuf> {
        let slot = self.ptrs.get_mut(i)?;
        if slot.is_null() {
            return None;
        }
        // SAFETY: as in `get`; the exclusive borrow of self makes the reference unique.
        Some(unsafe { &mut *(slot as *mut *mut dpdk_sys::rte_mbuf as *mut Mbuf) })
    }

    /// Asks the CPU to load the first cache line of packet `i`'s data (the Ethernet and
    /// IPv4 headers), so that it is there when the pipeline reaches the packet. Does
    /// nothing for a slot without a packet.
    #[inline]
    pub fn prefetch(&self, i: usize) {
        if let Some(m) = self.get(i) {
            m.prefetch_data();
        }
    }

    /// Takes every packet still in the burst, in order, and empties it.
    #[inline]
    pub fn drain(&mut self) -> impl Iterator<Item = Mbuf> + '_ {
        let len = std::mem::take(&mut self.len);
        self.taken = 0;
        self.ptrs[..len].iter_mut().filter_map(|p| {
            let p = NonNull::new(std::mem::replace(p, std::ptr::null_mut()))?;
            // SAFETY: a non-null slot holds an owned mbuf; nulled above, so ownership
            // moves to the returned Mbuf exactly once.
            Some(unsafe { Mbuf::from_raw(p) })
        })
    }

    /// Hands every packet still in the burst to `f` as a raw pointer, in order, and
    /// empties the burst; `f` takes over each mbuf's ownership.
    #[inline(always)]
    pub(super) fn drain_raw(&mut self, mut f: impl FnMut(NonNull<dpdk_sys::rte_mbuf>)) {
        let len = std::mem::take(&mut self.len);
        self.taken = 0;
        for p in &mut self.ptrs[..len] {
            if let Some(p) = NonNull::new(std::mem::replace(p, std::ptr::null_mut())) {
                f(p);
            }
        }
    }

    /// Frees every packet still in the burst and empties it.
    pub fn clear(&mut self) {
        self.csum_flags = true;
        let len = std::mem::take(&mut self.len);
        if std::mem::take(&mut self.taken) >= len {
            return; // every slot is null already
        }
        for p in &mut self.ptrs[..len] {
            let p = std::mem::replace(p, std::ptr::null_mut());
            if let Some(p) = NonNull::new(p) {
                // SAFETY: a non-null slot holds an owned mbuf; nulled above, so it is
                // freed exactly once (by the Mbuf's drop).
                drop(unsafe { Mbuf::from_raw(p) });
            }
        }
    }
}

impl Drop for MbufBurst {
    fn drop(&mut self) {
        self.clear();
    }
}
