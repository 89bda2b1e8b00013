//! DPDK's longest-prefix-match libraries, `rte_fib` (DIR24_8) and `rte_lpm`, for the FIB
//! benchmark's side-by-side comparison. Lookups take `&self`, changes `&mut self`: neither
//! library allows lookups concurrent with changes without an RCU scheme of its own.
use super::DpdkError;
use std::ffi::{c_int, CString};
use std::ptr::NonNull;

/// Any NUMA socket (`SOCKET_ID_ANY`, a macro bindgen does not see).
const SOCKET_ID_ANY: c_int = -1;

fn c_name(name: &str) -> Result<CString, DpdkError> {
    CString::new(name).map_err(|_| DpdkError::new(format!("name {name:?} contains NUL"), -22))
}

/// Which of rte_fib's DIR24_8 lookup functions `lookup_bulk` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FibLookup {
    /// `RTE_FIB_LOOKUP_DIR24_8_SCALAR_MACRO`.
    Scalar,
    /// `RTE_FIB_LOOKUP_DIR24_8_VECTOR_AVX512` (needs AVX-512 and an EAL max SIMD bitwidth
    /// of 512, e.g. `--force-max-simd-bitwidth=512`).
    Avx512,
}

/// An `rte_fib` of type DIR24_8 with 4-byte next hops (31-bit values).
pub struct RteFib {
    fib: NonNull<dpdk_sys::rte_fib>,
    tbl8: u32,
}

impl RteFib {
    /// `rte_fib_create` with room for `max_routes` routes and `num_tbl8` tbl8 groups;
    /// lookups of addresses no route covers return `default_nh`.
    pub fn new(
        name: &str,
        max_routes: u32,
        num_tbl8: u32,
        default_nh: u32,
    ) -> Result<RteFib, DpdkError> {
        let cname = c_name(name)?;
        let mut conf = dpdk_sys::rte_fib_conf {
            type_: dpdk_sys::rte_fib_type_RTE_FIB_DIR24_8,
            default_nh: u64::from(default_nh),
            max_routes: max_routes.min(i32::MAX as u32) as c_int,
            ..Default::default()
        };
        conf.__bindgen_anon_1.dir24_8 = dpdk_sys::rte_fib_conf__bindgen_ty_1__bindgen_ty_1 {
            nh_sz: dpdk_sys::rte_fib_dir24_8_nh_sz_RTE_FIB_DIR24_8_4B,
            num_tbl8,
        };
        // SAFETY: `cname` and `conf` are valid for the call; DPDK copies what it keeps.
        let fib = unsafe { dpdk_sys::rte_fib_create(cname.as_ptr(), SOCKET_ID_ANY, &mut conf) };
        match NonNull::new(fib) {
            Some(fib) => Ok(RteFib {
                fib,
                tbl8: num_tbl8,
            }),
            None => Err(DpdkError::new(format!("rte_fib_create {name}"), 0)),
        }
    }

    /// Adds (or replaces) `ip/depth -> nh`.
    pub fn add(&mut self, ip: u32, depth: u8, nh: u32) -> Result<(), DpdkError> {
        // SAFETY: `self.fib` is a live rte_fib; `&mut self` excludes concurrent lookups.
        let ret = unsafe { dpdk_sys::rte_fib_add(self.fib.as_ptr(), ip, depth, u64::from(nh)) };
        if ret < 0 {
            return Err(DpdkError::new("rte_fib_add", ret));
        }
        Ok(())
    }

    /// Removes `ip/depth`.
    pub fn delete(&mut self, ip: u32, depth: u8) -> Result<(), DpdkError> {
        // SAFETY: as in `add`.
        let ret = unsafe { dpdk_sys::rte_fib_delete(self.fib.as_ptr(), ip, depth) };
        if ret < 0 {
            return Err(DpdkError::new("rte_fib_delete", ret));
        }
        Ok(())
    }

    /// Chooses the lookup function `lookup_bulk` uses. (`&self`: an `RteFib` is neither
    /// `Send` nor `Sync`, so no lookup can run while this one thread changes it.)
    pub fn set_lookup(&self, kind: FibLookup) -> Result<(), DpdkError> {
        let t = match kind {
            FibLookup::Scalar => dpdk_sys::rte_fib_lookup_type_RTE_FIB_LOOKUP_DIR24_8_SCALAR_MACRO,
            FibLookup::Avx512 => dpdk_sys::rte_fib_lookup_type_RTE_FIB_LOOKUP_DIR24_8_VECTOR_AVX512,
        };
        // SAFETY: `self.fib` is live; the type is !Sync and !Send (raw pointer), so no
        // other thread can be in a lookup, and this thread is not in one during the call.
        let ret = unsafe { dpdk_sys::rte_fib_select_lookup(self.fib.as_ptr(), t) };
        if ret < 0 {
            return Err(DpdkError::new(
                format!("rte_fib_select_lookup {kind:?}"),
                ret,
            ));
        }
        Ok(())
    }

    /// `rte_fib_lookup_bulk`: `out[i]` is the next hop of `ips[i]` (the default when no
    /// route covers it). Processes the common length of the slices.
    #[inline]
    pub fn lookup_bulk(&self, ips: &[u32], out: &mut [u64]) {
        let n = ips.len().min(out.len()).min(i32::MAX as usize);
        if n == 0 {
            return;
        }
        // SAFETY: `ips` and `out` hold at least `n` elements; DPDK's lookup functions only
        // read `ips` (the API's pointer is not const, the dir24_8 functions' is) and write
        // `n` next hops. Lookups do not modify the fib, and `&self` excludes changes.
        unsafe {
            dpdk_sys::rte_fib_lookup_bulk(
                self.fib.as_ptr(),
                ips.as_ptr() as *mut u32,
                out.as_mut_ptr(),
                n as c_int,
            );
        }
    }

    /// Bytes of the lookup tables by their documented sizes: tbl24 (2^24 entries) and the
    /// configured tbl8 groups (256 entries each, plus one), 4 bytes per entry.
    pub fn table_bytes(&self) -> usize {
        ((1usize << 24) + (self.tbl8 as usize + 1) * 256) * 4
    }
}

impl Drop for RteFib {
    fn drop(&mut self) {
        // SAFETY: the fib was created by rte_fib_create and is freed exactly once.
        unsafe { dpdk_sys::rte_fib_free(self.fib.as_ptr()) }
    }
}

/// An `rte_lpm` (next hops of 24 bits).
pub struct RteLpm {
    lpm: NonNull<dpdk_sys::rte_lpm>,
    rules: u32,
    tbl8: u32,
}

impl RteLpm {
    /// `rte_lpm_create` with room for `max_rules` rules and `number_tbl8s` tbl8 groups.
    pub fn new(name: &str, max_rules: u32, number_tbl8s: u32) -> Result<RteLpm, DpdkError> {
        let cname = c_name(name)?;
        let conf = dpdk_sys::rte_lpm_config {
            max_rules,
            number_tbl8s,
            flags: 0,
        };
        // SAFETY: `cname` and `conf` are valid for the call; DPDK copies what it keeps.
        let lpm = unsafe { dpdk_sys::rte_lpm_create(cname.as_ptr(), SOCKET_ID_ANY, &conf) };
        match NonNull::new(lpm) {
            Some(lpm) => Ok(RteLpm {
                lpm,
                rules: max_rules,
                tbl8: number_tbl8s,
            }),
            None => Err(DpdkError::new(format!("rte_lpm_create {name}"), 0)),
        }
    }

    /// Adds (or replaces) `ip/depth -> nh` (`nh` < 2^24).
    pub fn add(&mut self, ip: u32, depth: u8, nh: u32) -> Result<(), DpdkError> {
        // SAFETY: `self.lpm` is a live rte_lpm; `&mut self` excludes concurrent lookups.
        let ret = unsafe { dpdk_sys::rte_lpm_add(self.lpm.as_ptr(), ip, depth, nh) };
        if ret < 0 {
            return Err(DpdkError::new("rte_lpm_add", ret));
        }
        Ok(())
    }

    /// Removes `ip/depth`.
    pub fn delete(&mut self, ip: u32, depth: u8) -> Result<(), DpdkError> {
        // SAFETY: as in `add`.
        let ret = unsafe { dpdk_sys::rte_lpm_delete(self.lpm.as_ptr(), ip, depth) };
        if ret < 0 {
            return Err(DpdkError::new("rte_lpm_delete", ret));
        }
        Ok(())
    }

    /// `rte_lpm_lookup` of each address (inlined in a C loop): `out[i]` is the next hop of
    /// `ips[i]`, or `miss`.
    pub fn lookup_each(&self, ips: &[u32], out: &mut [u32], miss: u32) {
        let n = ips.len().min(out.len()).min(u32::MAX as usize);
        // SAFETY: both slices hold at least `n` elements; lookups only read the table.
        unsafe {
            dpdk_sys::ferroute_lpm_lookup_each(
                self.lpm.as_ptr(),
                ips.as_ptr(),
                n as u32,
                out.as_mut_ptr(),
                miss,
            )
        }
    }

    /// Dependent `rte_lpm_lookup`s: address i is `ips[i] ^ (previous result & mask)`.
    /// Returns the last result (`miss` when not found).
    pub fn lookup_chain(&self, ips: &[u32], mask: u32, miss: u32) -> u32 {
        let n = ips.len().min(u32::MAX as usize);
        // SAFETY: `ips` holds `n` elements; lookups only read the table.
        unsafe {
            dpdk_sys::ferroute_lpm_lookup_chain(
                self.lpm.as_ptr(),
                ips.as_ptr(),
                n as u32,
                mask,
                miss,
            )
        }
    }

    /// `rte_lpm_lookup_bulk`: `out[i]` is the next hop of `ips[i]`, or `miss`.
    #[inline]
    pub fn lookup_bulk(&self, ips: &[u32], out: &mut [u32], miss: u32) {
        let n = ips.len().min(out.len()).min(u32::MAX as usize);
        // SAFETY: both slices hold at least `n` elements; lookups only read the table.
        unsafe {
            dpdk_sys::rte_lpm_lookup_bulk_func(
                self.lpm.as_ptr(),
                ips.as_ptr(),
                out.as_mut_ptr(),
                n as u32,
            );
        }
        for o in &mut out[..n] {
            *o = if *o & dpdk_sys::RTE_LPM_LOOKUP_SUCCESS != 0 {
                *o & 0x00FF_FFFF
            } else {
                miss
            };
        }
    }

    /// `rte_lpm_lookupx4` over groups of 4 addresses (a trailing partial group is looked
    /// up one by one): `out[i]` is the next hop of `ips[i]`, or `miss`.
    pub fn lookupx4(&self, ips: &[u32], out: &mut [u32], miss: u32) {
        let n = ips.len().min(out.len()).min(u32::MAX as usize);
        let whole = n & !3;
        // SAFETY: both slices hold at least `whole` elements; lookups only read the table.
        unsafe {
            dpdk_sys::ferroute_lpm_lookupx4_each(
                self.lpm.as_ptr(),
                ips.as_ptr(),
                whole as u32,
                out.as_mut_ptr(),
                miss,
            )
        }
        self.lookup_each(&ips[whole..n], &mut out[whole..n], miss);
    }

    /// Bytes of the lookup tables and rule table by their documented sizes: tbl24 (2^24
    /// entries of 4 bytes), the tbl8 groups (256 entries of 4 bytes) and the rules
    /// (8 bytes each).
    pub fn table_bytes(&self) -> usize {
        (1usize << 24) * 4 + self.tbl8 as usize * 256 * 4 + self.rules as usize * 8
    }
}

impl Drop for RteLpm {
    fn drop(&mut self) {
        // SAFETY: the lpm was created by rte_lpm_create and is freed exactly once.
        unsafe { dpdk_sys::rte_lpm_free(self.lpm.as_ptr()) }
    }
}

/// Bytes allocated from DPDK's malloc heaps (all sockets), per `rte_malloc_get_socket_stats`.
pub fn heap_allocated_bytes() -> usize {
    let mut total = 0;
    // SAFETY: reads the number of sockets the EAL detected.
    let sockets = unsafe { dpdk_sys::rte_socket_count() };
    for i in 0..sockets {
        // SAFETY: `i` < rte_socket_count().
        let id = unsafe { dpdk_sys::rte_socket_id_by_idx(i) };
        let mut st = dpdk_sys::rte_malloc_socket_stats::default();
        // SAFETY: `st` is a valid out-parameter for the call.
        if unsafe { dpdk_sys::rte_malloc_get_socket_stats(id, &mut st) } == 0 {
            total += st.heap_allocsz_bytes;
        }
    }
    total
}
