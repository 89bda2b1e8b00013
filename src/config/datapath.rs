//! `[datapath]`, `[icmp]`, `[punt]`, `[arp]`, `[reassembly]`, `[ip]`: the datapath's own
//! settings. Each section but `[punt]` is declared once with [`settings!`]: key, doc,
//! type, default and range in one line each; the checks across keys follow.
//! `[punt]`'s settings are `datapath::punt`'s `PuntLimits`, read here by hand.

use serde::Deserialize;

use super::{Builder, ConfigError, Int};
use crate::datapath::icmp_ratelimit::IcmpLimits;
use crate::datapath::punt::{self, PuntLimits};

settings! {
    /// `[datapath]`: the workers' loop, the packet pool and the descriptor rings.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct DatapathConfig as RawDatapath in "datapath" by datapath then check_datapath {
        /// Packets per RX burst.
        burst: usize = 32, 1..=32;
        /// TX buffers are flushed at least this often.
        tx_drain_us: u64 = 100, 1..=10000;
        /// Sleep after 100 empty polls in a row; 0 = pure polling.
        idle_sleep_us: u64 = 0, 0..=1000;
        /// Mbufs in the packet pool.
        mbufs: u32 = 8191, 1024..=u32::MAX.into();
        /// Per-lcore mempool cache, also <= mbufs / 1.5.
        mbuf_cache: u32 = 256, 0..=512;
        /// RX descriptor ring size, also a power of two.
        rx_desc: u16 = 1024, 64..=4096;
        /// TX descriptor ring size, also a power of two.
        tx_desc: u16 = 1024, 64..=4096;
    }
}

settings! {
    /// ICMP rate limits, as Linux's `net.ipv4.icmp_*` sysctls (per worker lcore here).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct IcmpConfig as RawIcmp in "icmp" by icmp then check_icmp {
        /// Global bucket (`icmp_msgs_per_sec`): ICMP messages per second of the types in
        /// `ratemask`; 0 = unlimited.
        msgs_per_sec: u32 = 1000, 0..=u32::MAX.into();
        /// Its depth (`icmp_msgs_burst`); >= 1 unless `msgs_per_sec` is 0.
        msgs_burst: u32 = 50, 0..=u32::MAX.into();
        /// Per destination host (`icmp_ratelimit`): one message per this many ms, of the
        /// types in `ratemask`; 0 = no per-host limit. (Linux caps it at INT_MAX
        /// jiffies; an hour is plenty.)
        ratelimit_ms: u32 = 1000, 0..=3_600_000;
        /// The ICMP types limited, one bit per type (`icmp_ratemask`; Linux's default 6168
        /// is destination unreachable, source quench, time exceeded, parameter problem).
        /// Fragmentation needed is never limited (Linux does not limit PMTU discovery).
        ratemask: u32 = 6168, 0..=u32::MAX.into();
        /// Messages a host may get in a row before `ratelimit_ms` applies (Linux's
        /// XRLIM_BURST_FACTOR, 6).
        burst: u32 = 6, 1..=10_000;
        /// Hosts tracked per worker; the least recently limited one is forgotten (counted)
        /// when a new one comes.
        peers: u32 = 4096, 1..=1 << 20;
    }
}

impl IcmpConfig {
    /// The datapath's form of these settings.
    pub fn limits(&self) -> IcmpLimits {
        IcmpLimits {
            msgs_per_sec: self.msgs_per_sec,
            msgs_burst: self.msgs_burst,
            ratelimit_ms: self.ratelimit_ms,
            ratemask: self.ratemask,
            burst: self.burst,
            peers: self.peers,
        }
    }
}

settings! {
    /// `[arp]`: the neighbour state machine's timers and queues (Linux's `neigh` sysctls).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ArpConfig as RawArp in "arp" by arp {
        reachable_ms: u64 = 30000, 0..=i64::MAX;
        retrans_ms: u64 = 1000, 10..=i64::MAX;
        mcast_probes: u32 = 3, 1..=u32::MAX.into();
        ucast_probes: u32 = 3, 0..=u32::MAX.into();
        delay_probe_ms: u64 = 5000, 0..=i64::MAX;
        /// Packets held per unresolved neighbour.
        hold_queue: usize = 101, 1..=10000;
    }
}

settings! {
    /// Reassembly of fragments addressed to the router.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ReassemblyConfig as RawReassembly in "reassembly" by reassembly {
        /// A datagram not complete this long after its first-arriving fragment is
        /// dropped (Linux `ipfrag_time`: 30 s).
        timeout_ms: u64 = 30_000, 100..=600_000;
        /// Memory for datagrams in progress, data plus bookkeeping (Linux
        /// `ipfrag_high_thresh`: 4 MiB). At least 128 KiB: a 64 KiB datagram fits.
        max_bytes: usize = 4 << 20, (128 << 10)..=(1 << 30);
        /// Datagrams in progress.
        max_datagrams: usize = 1024, 1..=1_000_000;
    }
}

settings! {
    /// `[ip]`: IPv4 input policy, as Linux's `net.ipv4.conf.*` switches of the same names
    /// (global here: the same for every port).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct IpConfig as RawIp in "ip" by ip {
        /// Accept packets with LSRR/SSRR options (Linux `accept_source_route`); default
        /// false: dropped, counted as `ip4_source_route`.
        accept_source_route: bool = false;
        /// Reverse-path filter, 0 (off, the default), 1 (strict) or 2 (loose), as Linux's
        /// `rp_filter` (RFC 3704).
        rp_filter: u8 = 0, 0..=2;
        /// Forward directed broadcasts to connected subnets (Linux `bc_forwarding`);
        /// default false (RFC 2644).
        bc_forwarding: bool = false;
    }
}

impl IpConfig {
    /// The datapath's view of these switches.
    pub fn policy(&self) -> crate::datapath::ip4_source::IpPolicy {
        use crate::datapath::ip4_source::{IpPolicy, RpFilter};
        IpPolicy {
            accept_source_route: self.accept_source_route,
            rp_filter: match self.rp_filter {
                1 => RpFilter::Strict,
                2 => RpFilter::Loose,
                _ => RpFilter::Off,
            },
            bc_forwarding: self.bc_forwarding,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPunt {
    pub(super) arp_known_pps: Option<Int>,
    pub(super) arp_known_burst: Option<Int>,
    pub(super) arp_pps: Option<Int>,
    pub(super) arp_burst: Option<Int>,
    pub(super) resolve_pps: Option<Int>,
    pub(super) resolve_burst: Option<Int>,
    pub(super) frag_pps: Option<Int>,
    pub(super) frag_burst: Option<Int>,
}

impl Builder<'_> {
    fn check_datapath(&self, d: &DatapathConfig) -> Result<(), ConfigError> {
        // DPDK refuses a cache whose flush threshold (cache * 3 / 2) exceeds the pool.
        if u64::from(d.mbuf_cache) * 3 / 2 > u64::from(d.mbufs) {
            return Err(self.err(
                "datapath.mbuf_cache",
                format!(
                    "{} is too large for {} mbufs; must be <= mbufs / 1.5",
                    d.mbuf_cache, d.mbufs
                ),
            ));
        }
        for (key, n) in [
            ("datapath.rx_desc", d.rx_desc),
            ("datapath.tx_desc", d.tx_desc),
        ] {
            if !n.is_power_of_two() {
                return Err(self.err(key, format!("{n} is not a power of two (64..=4096)")));
            }
        }
        Ok(())
    }

    fn check_icmp(&self, c: &IcmpConfig) -> Result<(), ConfigError> {
        self.check_burst(
            ("icmp.msgs_per_sec", c.msgs_per_sec),
            ("icmp.msgs_burst", c.msgs_burst),
        )
    }

    /// A rate and its burst: the burst must be at least 1 unless the rate is 0
    /// (unlimited).
    fn check_burst(
        &self,
        (rate_key, rate): (&str, u32),
        (burst_key, burst): (&str, u32),
    ) -> Result<(), ConfigError> {
        if rate > 0 && burst == 0 {
            return Err(self.err(
                burst_key,
                format!("must be at least 1 when {rate_key} is not 0 (unlimited)"),
            ));
        }
        Ok(())
    }

    /// A rate and its burst, each 0..=u32::MAX, checked by [`Self::check_burst`].
    pub(super) fn rate_burst(
        &self,
        (rate_key, rate, rate_default): (&str, Option<Int>, u32),
        (burst_key, burst, burst_default): (&str, Option<Int>, u32),
    ) -> Result<(u32, u32), ConfigError> {
        let max = u32::MAX.into();
        let rate = self.int(rate_key, rate, rate_default, 0, max)?;
        let burst = self.int(burst_key, burst, burst_default, 0, max)?;
        self.check_burst((rate_key, rate), (burst_key, burst))?;
        Ok((rate, burst))
    }

    pub(super) fn punt(&self, raw: RawPunt) -> Result<PuntLimits, ConfigError> {
        let d = PuntLimits::default();
        let limit =
            |kind: &str, pps, burst, def: punt::Limit| -> Result<punt::Limit, ConfigError> {
                let (pps, burst) = self.rate_burst(
                    (&format!("punt.{kind}_pps"), pps, def.pps),
                    (&format!("punt.{kind}_burst"), burst, def.burst),
                )?;
                Ok(punt::Limit { pps, burst })
            };
        Ok(PuntLimits {
            arp_known: limit(
                "arp_known",
                raw.arp_known_pps,
                raw.arp_known_burst,
                d.arp_known,
            )?,
            arp: limit("arp", raw.arp_pps, raw.arp_burst, d.arp)?,
            resolve: limit("resolve", raw.resolve_pps, raw.resolve_burst, d.resolve)?,
            frag: limit("frag", raw.frag_pps, raw.frag_burst, d.frag)?,
        })
    }
}
