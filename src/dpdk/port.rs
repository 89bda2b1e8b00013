//! Ethernet ports: setup, start/stop, link and stats, RX and TX queues.
use super::{DpdkError, Mbuf, MbufBurst, Mempool};
use crate::wire::MacAddr;
use std::ffi::CString;
use std::ptr::NonNull;

/// How to bring up one port.
#[derive(Debug, Clone)]
pub struct PortSetup {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    pub mtu: u16,
    pub mac: Option<MacAddr>,
}

/// What the port turned out to be after setup.
#[derive(Debug, Clone)]
pub struct PortInfo {
    pub id: u16,
    pub mac: MacAddr,
    pub driver: String,
    pub min_mtu: u16,
    pub max_mtu: u16,
    /// The port verifies IPv4 header checksums on receive and flags the mbuf.
    pub rx_ipv4_csum: bool,
    /// The RSS hash types (`RTE_ETH_RSS_*`) the port spreads received packets over its
    /// RX queues by; 0 when RSS is off (one RX queue, or a port that offers none).
    pub rss_hf: u64,
}

/// The PMD's counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

/// Port id of a probed device by its name (e.g. "net_tap0").
pub fn port_by_name(name: &str) -> Result<u16, DpdkError> {
    let c = CString::new(name).map_err(|_| DpdkError::new("port name", -22))?;
    let mut id = 0u16;
    // SAFETY: c is NUL-terminated and outlives the call; id is a valid out pointer.
    let ret = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
    if ret != 0 {
        return Err(DpdkError::new(format!("no DPDK port named {name}"), ret));
    }
    Ok(id)
}

/// Number of ports the EAL probed.
pub fn port_count() -> u16 {
    // SAFETY: no preconditions.
    unsafe { dpdk_sys::rte_eth_dev_count_avail() }
}

fn check(what: impl FnOnce() -> String, ret: i32) -> Result<(), DpdkError> {
    if ret < 0 {
        Err(DpdkError::new(what(), ret))
    } else {
        Ok(())
    }
}

/// The MTUs a port accepts and its driver's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtuRange {
    pub min: u16,
    pub max: u16,
    pub driver: String,
}

fn dev_info(id: u16) -> Result<(dpdk_sys::rte_eth_dev_info, String), DpdkError> {
    let mut dev_info = dpdk_sys::rte_eth_dev_info::default();
    // SAFETY: dev_info is a valid out pointer for the duration of the call.
    let ret = unsafe { dpdk_sys::rte_eth_dev_info_get(id, &mut dev_info) };
    check(|| format!("port {id}: rte_eth_dev_info_get"), ret)?;
    let driver = if dev_info.driver_name.is_null() {
        String::new()
    } else {
        // SAFETY: driver_name points at the PMD's static NUL-terminated name.
        unsafe { std::ffi::CStr::from_ptr(dev_info.driver_name) }
            .to_string_lossy()
            .into_owned()
    };
    Ok((dev_info, driver))
}

/// The largest MTU `rte_eth_dev_set_mtu` accepts: `max_mtu`, and no more than the
/// longest frame the port receives minus its L2 overhead (as ethdev's
/// `eth_dev_validate_mtu` computes it: 14 + 4 octets unless the PMD says otherwise).
fn max_mtu(info: &dpdk_sys::rte_eth_dev_info) -> u16 {
    let (max_mtu, max_frame) = (u32::from(info.max_mtu), info.max_rx_pktlen);
    let overhead = if max_mtu != u32::from(u16::MAX) && max_frame > max_mtu {
        max_frame - max_mtu
    } else {
        18
    };
    max_mtu.min(max_frame.saturating_sub(overhead)) as u16
}

/// The MTUs port `id` accepts, to check a configuration against before setup.
pub fn mtu_range(id: u16) -> Result<MtuRange, DpdkError> {
    let (info, driver) = dev_info(id)?;
    Ok(MtuRange {
        min: info.min_mtu,
        max: max_mtu(&info),
        driver,
    })
}

/// Configures queues, MTU and MAC, and starts the port.
pub fn setup_and_start(id: u16, s: &PortSetup, pool: &Mempool) -> Result<PortInfo, DpdkError> {
    let (dev_info, driver) = dev_info(id)?;
    if s.rx_queues > dev_info.max_rx_queues || s.tx_queues > dev_info.max_tx_queues {
        return Err(DpdkError {
            what: format!(
                "port {id} ({driver}): {} RX / {} TX queues requested, the port supports {} / {}",
                s.rx_queues, s.tx_queues, dev_info.max_rx_queues, dev_info.max_tx_queues
            ),
            errno: libc_einval(),
            reason: "Invalid argument".into(),
        });
    }
    if s.mtu < dev_info.min_mtu || s.mtu > max_mtu(&dev_info) {
        return Err(DpdkError {
            what: format!(
                "port {id} ({driver}): MTU {} outside the port's range {}..={}",
                s.mtu,
                dev_info.min_mtu,
                max_mtu(&dev_info)
            ),
            errno: libc_einval(),
            reason: "Invalid argument".into(),
        });
    }
    // SAFETY: shim accessor for a constant.
    let ipv4_cksum = unsafe { dpdk_sys::ferroute_rx_offload_ipv4_cksum() };
    let rx_ipv4_csum = dev_info.rx_offload_capa & ipv4_cksum != 0;

    // net_tap opens one file descriptor per queue pair: RX queue i and TX queue i are the
    // same descriptor, so it refuses different counts (with EPERM, which says nothing).
    if driver == "net_tap" && s.rx_queues != s.tx_queues {
        return Err(DpdkError {
            what: format!(
                "port {id} ({driver}): net_tap needs as many RX queues as TX queues, and \
                 there is one TX queue per worker: {} RX queue(s) polled, {} worker(s); \
                 give each worker one RX queue of this port",
                s.rx_queues, s.tx_queues
            ),
            errno: libc_einval(),
            reason: "Invalid argument".into(),
        });
    }

    let mut conf = dpdk_sys::rte_eth_conf::default();
    if rx_ipv4_csum {
        conf.rxmode.offloads |= ipv4_cksum;
    }
    // With several RX queues, RSS spreads flows over them by a hash of the IP addresses
    // and TCP/UDP ports: every packet of a flow lands in the same queue, so one worker
    // handles the flow and keeps its order. Only the hash types the port offers (ethdev
    // refuses others) and the PMD's default key (rss_key NULL). A port that offers none
    // (memif, ring) is left to its driver or peer. net_tap offers IP/UDP/TCP but applies
    // it only to rte_flow rules; its kernel side (tun) picks each packet's queue by a flow
    // hash of its own, which keeps flows on one queue just the same.
    // SAFETY: shim accessor for a constant.
    let rss_wanted = unsafe { dpdk_sys::ferroute_rss_ip_udp_tcp() };
    let rss_hf = if s.rx_queues > 1 {
        rss_wanted & dev_info.flow_type_rss_offloads
    } else {
        0
    };
    if rss_hf != 0 {
        conf.rxmode.mq_mode = dpdk_sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_key = std::ptr::null_mut();
        conf.rx_adv_conf.rss_conf.rss_key_len = 0;
        conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    }
    // SAFETY: conf is valid for the call; the port is stopped (not yet started).
    let ret = unsafe { dpdk_sys::rte_eth_dev_configure(id, s.rx_queues, s.tx_queues, &conf) };
    check(|| format!("port {id}: rte_eth_dev_configure"), ret)?;
    if rss_hf != 0 {
        log::info!(
            "port {id} ({driver}): RSS over {} RX queues, hash types {rss_hf:#x}",
            s.rx_queues
        );
    } else if s.rx_queues > 1 {
        log::warn!(
            "port {id} ({driver}): {} RX queues but no RSS for IP/UDP/TCP (the port offers \
             hash types {:#x}): the driver or its peer chooses each packet's queue",
            s.rx_queues,
            dev_info.flow_type_rss_offloads
        );
    }
    let (mut nb_rx, mut nb_tx) = (s.rx_desc, s.tx_desc);
    // SAFETY: valid out pointers; adjusts descriptor counts to the port's limits.
    let ret = unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nb_rx, &mut nb_tx) };
    check(|| format!("port {id}: adjust descriptors"), ret)?;
    // SAFETY: port configured and stopped; reads the port's socket.
    let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) } as u32;
    for q in 0..s.rx_queues {
        // SAFETY: queue index < configured RX queues; pool is a valid pktmbuf pool;
        // NULL rxconf selects the PMD's defaults.
        let ret = unsafe {
            dpdk_sys::rte_eth_rx_queue_setup(id, q, nb_rx, socket, std::ptr::null(), pool.as_ptr())
        };
        check(|| format!("port {id}: RX queue {q} setup"), ret)?;
    }
    for q in 0..s.tx_queues {
        // SAFETY: queue index < configured TX queues; NULL txconf selects defaults.
        let ret =
            unsafe { dpdk_sys::rte_eth_tx_queue_setup(id, q, nb_tx, socket, std::ptr::null()) };
        check(|| format!("port {id}: TX queue {q} setup"), ret)?;
    }
    let mut mtu = 0u16;
    // SAFETY: port configured; mtu is a valid out pointer.
    let ret = unsafe { dpdk_sys::rte_eth_dev_get_mtu(id, &mut mtu) };
    // Only when it changes: some PMDs (net_memif, net_ring) cannot set an MTU at all but
    // run at the default 1500 that ethdev gives them at configure time.
    if ret != 0 || mtu != s.mtu {
        // SAFETY: port configured.
        let ret = unsafe { dpdk_sys::rte_eth_dev_set_mtu(id, s.mtu) };
        check(|| format!("port {id}: set MTU {}", s.mtu), ret)?;
    }
    let mut current = dpdk_sys::rte_ether_addr::default();
    // SAFETY: current is a valid out pointer.
    let have = unsafe { dpdk_sys::rte_eth_macaddr_get(id, &mut current) } == 0;
    // Only when it changes: net_memif cannot set its MAC (it takes `mac=` in devargs).
    if let Some(mac) = s.mac.filter(|m| !have || current.addr_bytes != m.0) {
        let mut addr = dpdk_sys::rte_ether_addr { addr_bytes: mac.0 };
        // SAFETY: addr is valid for the call.
        let ret = unsafe { dpdk_sys::rte_eth_dev_default_mac_addr_set(id, &mut addr) };
        check(|| format!("port {id}: set MAC {mac}"), ret)?;
    }
    // SAFETY: queues are set up; starting is the documented next step.
    let ret = unsafe { dpdk_sys::rte_eth_dev_start(id) };
    check(|| format!("port {id}: start"), ret)?;
    let mut addr = dpdk_sys::rte_ether_addr::default();
    // SAFETY: addr is a valid out pointer.
    let ret = unsafe { dpdk_sys::rte_eth_macaddr_get(id, &mut addr) };
    check(|| format!("port {id}: read MAC"), ret)?;
    Ok(PortInfo {
        id,
        mac: MacAddr(addr.addr_bytes),
        driver,
        min_mtu: dev_info.min_mtu,
        max_mtu: max_mtu(&dev_info),
        rx_ipv4_csum,
        rss_hf,
    })
}

fn libc_einval() -> i32 {
    22
}

/// Stops and closes a port (at shutdown).
pub fn stop_and_close(id: u16) {
    // SAFETY: no lcore polls the port any more (workers have been joined).
    unsafe {
        dpdk_sys::rte_eth_dev_stop(id);
        dpdk_sys::rte_eth_dev_close(id);
    }
}

/// Changes a started port's MTU (`rte_eth_dev_set_mtu`: the L3 MTU, as in setup).
pub fn set_mtu(id: u16, mtu: u16) -> Result<(), DpdkError> {
    // SAFETY: plain call on a port id; DPDK checks the id and the MTU range itself.
    let ret = unsafe { dpdk_sys::rte_eth_dev_set_mtu(id, mtu) };
    check(|| format!("port {id}: set MTU {mtu}"), ret)
}

/// Link status without waiting.
pub fn link_up(id: u16) -> bool {
    let mut link = dpdk_sys::rte_eth_link::default();
    // SAFETY: link is a valid out pointer.
    let ret = unsafe { dpdk_sys::rte_eth_link_get_nowait(id, &mut link) };
    ret == 0 && link.link_status() == dpdk_sys::RTE_ETH_LINK_UP as u16
}

/// The PMD's counters.
pub fn stats(id: u16) -> PortStats {
    let mut st = dpdk_sys::rte_eth_stats::default();
    // SAFETY: st is a valid out pointer; the call is safe from any thread.
    let ret = unsafe { dpdk_sys::rte_eth_stats_get(id, &mut st) };
    if ret != 0 {
        return PortStats::default();
    }
    PortStats {
        ipackets: st.ipackets,
        opackets: st.opackets,
        ibytes: st.ibytes,
        obytes: st.obytes,
        imissed: st.imissed,
        ierrors: st.ierrors,
        oerrors: st.oerrors,
        rx_nombuf: st.rx_nombuf,
    }
}

/// One RX queue, polled by exactly one thread.
pub struct RxQueue {
    pub port: u16,
    pub queue: u16,
    /// The port checks IPv4 header checksums on receive (the offload is enabled), so its
    /// packets' checksum flags may say GOOD or BAD; without it they always say nothing.
    pub csum_flags: bool,
}

impl RxQueue {
    /// Only one RxQueue may exist per (port, queue); the caller (startup code) guarantees it.
    /// Called after the port is configured: it reads whether RX checksum offload is on
    /// (assumed on if the configuration cannot be read).
    pub fn new(port: u16, queue: u16) -> RxQueue {
        let mut conf = dpdk_sys::rte_eth_conf::default();
        // SAFETY: conf is a valid rte_eth_conf to write; an unknown port gives an error.
        let ret = unsafe { dpdk_sys::rte_eth_dev_conf_get(port, &mut conf) };
        // SAFETY: shim accessor for a constant.
        let ipv4_cksum = unsafe { dpdk_sys::ferroute_rx_offload_ipv4_cksum() };
        RxQueue {
            port,
            queue,
            csum_flags: ret != 0 || conf.rxmode.offloads & ipv4_cksum != 0,
        }
    }

    /// Receives up to `max` (<= 64) packets and hands each to `f`. Returns the count.
    #[inline]
    pub fn rx_burst(&mut self, max: usize, mut f: impl FnMut(Mbuf)) -> usize {
        let mut raw = [std::ptr::null_mut::<dpdk_sys::rte_mbuf>(); 64];
        let max = max.min(raw.len());
        // SAFETY: raw has room for `max` pointers; this thread is the queue's only poller
        // (RxQueue is not Clone and is moved into one worker).
        let n = unsafe {
            dpdk_sys::rte_eth_rx_burst(self.port, self.queue, raw.as_mut_ptr(), max as u16)
        } as usize;
        for &p in &raw[..n] {
            if let Some(p) = NonNull::new(p) {
                // SAFETY: the PMD hands us ownership of each received mbuf.
                f(unsafe { Mbuf::from_raw(p) });
            }
        }
        n
    }
}

/// One TX queue, used by exactly one thread.
pub struct TxQueue {
    pub port: u16,
    pub queue: u16,
}

impl TxQueue {
    /// Only one TxQueue may exist per (port, queue); the caller guarantees it.
    pub fn new(port: u16, queue: u16) -> TxQueue {
        TxQueue { port, queue }
    }
}

/// Per-lcore, per-port TX buffer (as DPDK's l2fwd/l3fwd): packets collect until the
/// buffer is full or the drain timer flushes it; what the PMD refuses is freed.
pub struct TxBuffer {
    txq: TxQueue,
    pkts: [*mut dpdk_sys::rte_mbuf; TX_BUFFER_SIZE],
    len: usize,
}

/// Packets a TX buffer holds before it flushes by itself.
pub const TX_BUFFER_SIZE: usize = 32;

// SAFETY: the buffer owns the mbufs it holds (moved in with Mbuf::into_raw) and its TX
// queue; it moves between threads only before the worker starts.
unsafe impl Send for TxBuffer {}

/// Result of a flush: packets the PMD took and packets it refused (freed).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TxResult {
    pub sent: u64,
    pub dropped: u64,
}

impl std::ops::AddAssign for TxResult {
    fn add_assign(&mut self, r: TxResult) {
        self.sent += r.sent;
        self.dropped += r.dropped;
    }
}

impl TxBuffer {
    pub fn new(txq: TxQueue) -> TxBuffer {
        TxBuffer {
            txq,
            pkts: [std::ptr::null_mut(); TX_BUFFER_SIZE],
            len: 0,
        }
    }

    pub fn port(&self) -> u16 {
        self.txq.port
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues one packet; when that fills the buffer, flushes it and says what the
    /// flush sent.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf) -> Option<TxResult> {
        // An Mbuf's pointer is never null: the `else` is never taken.
        let p = NonNull::new(m.into_raw())?;
        self.push_raw(p)
    }

    /// `push` for an mbuf whose ownership the caller hands over as a pointer.
    #[inline(always)]
    pub(super) fn push_raw(&mut self, p: NonNull<dpdk_sys::rte_mbuf>) -> Option<TxResult> {
        // The length in a local: stored through `self.pkts`, the pointer could alias
        // `self.len` for all the compiler knows, and it would load it again.
        let len = self.len;
        let Some(slot) = self.pkts.get_mut(len) else {
            // Never left full (the push that fills it flushes), but stay safe.
            let r = self.flush();
            self.pkts[0] = p.as_ptr();
            self.len = 1;
            return Some(r);
        };
        *slot = p.as_ptr();
        self.len = len + 1;
        (len + 1 == TX_BUFFER_SIZE).then(|| self.flush())
    }

    /// Queues every packet of `b`, in order, flushing each time the buffer fills; says
    /// what those flushes sent.
    #[inline]
    pub fn push_burst(&mut self, b: &mut MbufBurst) -> TxResult {
        let mut r = TxResult::default();
        b.drain_raw(|p| {
            if let Some(f) = self.push_raw(p) {
                r += f;
            }
        });
        r
    }

    /// Sends what is buffered; frees what the port refuses.
    pub fn flush(&mut self) -> TxResult {
        if self.len == 0 {
            return TxResult::default();
        }
        // SAFETY: pkts[..len] are owned mbufs; this thread is the queue's only user; the
        // PMD takes ownership of the first `sent` of them.
        let sent = unsafe {
            dpdk_sys::rte_eth_tx_burst(
                self.txq.port,
                self.txq.queue,
                self.pkts.as_mut_ptr(),
                self.len as u16,
            )
        } as usize;
        let dropped = self.len - sent;
        if dropped > 0 {
            // SAFETY: pkts[sent..len] are still ours; each is freed exactly once.
            unsafe {
                dpdk_sys::rte_pktmbuf_free_bulk(self.pkts.as_mut_ptr().add(sent), dropped as u32)
            };
        }
        self.len = 0;
        TxResult {
            sent: sent as u64,
            dropped: dropped as u64,
        }
    }
}

impl Drop for TxBuffer {
    fn drop(&mut self) {
        let len = self.len;
        if len > 0 {
            // SAFETY: the buffered mbufs are ours and freed exactly once.
            unsafe { dpdk_sys::rte_pktmbuf_free_bulk(self.pkts.as_mut_ptr(), len as u32) };
            self.len = 0;
        }
    }
}
