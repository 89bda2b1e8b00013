//! `[datapath]`, `[icmp]`, `[punt]`, `[arp]`, `[reassembly]`, `[ip]`: the datapath's own settings.

use serde::Deserialize;

use super::{Builder, ConfigError, Int};
use crate::datapath::icmp_ratelimit::IcmpLimits;
use crate::datapath::punt::{self, PuntLimits};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatapathConfig {
    /// Packets per RX burst, 1..=32.
    pub burst: usize,
    /// TX buffers are flushed at least this often, 1..=10000.
    pub tx_drain_us: u64,
    /// Sleep after 100 empty polls in a row; 0 = pure polling. 0..=1000.
    pub idle_sleep_us: u64,
    /// Mbufs in the packet pool, >= 1024.
    pub mbufs: u32,
    /// Per-lcore mempool cache, <= 512 and <= mbufs / 1.5.
    pub mbuf_cache: u32,
    /// RX descriptor ring size, a power of two in 64..=4096.
    pub rx_desc: u16,
    /// TX descriptor ring size, a power of two in 64..=4096.
    pub tx_desc: u16,
}

impl Default for DatapathConfig {
    fn default() -> Self {
        DatapathConfig {
            burst: 32,
            tx_drain_us: 100,
            idle_sleep_us: 0,
            mbufs: 8191,
            mbuf_cache: 256,
            rx_desc: 1024,
            tx_desc: 1024,
        }
    }
}

/// ICMP rate limits, as Linux's `net.ipv4.icmp_*` sysctls (per worker lcore here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpConfig {
    /// Global bucket (`icmp_msgs_per_sec`): ICMP messages per second of the types in
    /// `ratemask`; 0 = unlimited.
    pub msgs_per_sec: u32,
    /// Its depth (`icmp_msgs_burst`); >= 1 unless `msgs_per_sec` is 0.
    pub msgs_burst: u32,
    /// Per destination host (`icmp_ratelimit`): one message per this many ms, of the
    /// types in `ratemask`; 0 = no per-host limit.
    pub ratelimit_ms: u32,
    /// The ICMP types limited, one bit per type (`icmp_ratemask`; Linux's default 6168
    /// is destination unreachable, source quench, time exceeded, parameter problem).
    /// Fragmentation needed is never limited (Linux does not limit PMTU discovery).
    pub ratemask: u32,
    /// Messages a host may get in a row before `ratelimit_ms` applies (Linux's
    /// XRLIM_BURST_FACTOR, 6).
    pub burst: u32,
    /// Hosts tracked per worker; the least recently limited one is forgotten (counted)
    /// when a new one comes.
    pub peers: u32,
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

impl Default for IcmpConfig {
    fn default() -> Self {
        IcmpConfig {
            msgs_per_sec: 1000,
            msgs_burst: 50,
            ratelimit_ms: 1000,
            ratemask: 6168,
            burst: 6,
            peers: 4096,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpConfig {
    pub reachable_ms: u64,
    /// >= 10.
    pub retrans_ms: u64,
    /// >= 1.
    pub mcast_probes: u32,
    pub ucast_probes: u32,
    pub delay_probe_ms: u64,
    /// Packets held per unresolved neighbour, 1..=10000.
    pub hold_queue: usize,
}

impl Default for ArpConfig {
    fn default() -> Self {
        ArpConfig {
            reachable_ms: 30000,
            retrans_ms: 1000,
            mcast_probes: 3,
            ucast_probes: 3,
            delay_probe_ms: 5000,
            hold_queue: 101,
        }
    }
}

/// Reassembly of fragments addressed to the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// A datagram not complete this long after its first-arriving fragment is dropped,
    /// 100..=600000 (Linux `ipfrag_time`: 30 s).
    pub timeout_ms: u64,
    /// Memory for datagrams in progress, data plus bookkeeping, 131072..=1073741824
    /// (Linux `ipfrag_high_thresh`: 4 MiB). At least 128 KiB: a 64 KiB datagram fits.
    pub max_bytes: usize,
    /// Datagrams in progress, 1..=1000000.
    pub max_datagrams: usize,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            timeout_ms: 30_000,
            max_bytes: 4 << 20,
            max_datagrams: 1024,
        }
    }
}

/// `[ip]`: IPv4 input policy, as Linux's `net.ipv4.conf.*` switches of the same names
/// (global here: the same for every port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IpConfig {
    /// Accept packets with LSRR/SSRR options (Linux `accept_source_route`); default
    /// false: dropped, counted as `ip4_source_route`.
    pub accept_source_route: bool,
    /// Reverse-path filter, 0 (off, the default), 1 (strict) or 2 (loose), as Linux's
    /// `rp_filter` (RFC 3704).
    pub rp_filter: u8,
    /// Forward directed broadcasts to connected subnets (Linux `bc_forwarding`);
    /// default false (RFC 2644).
    pub bc_forwarding: bool,
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
pub(super) struct RawDatapath {
    pub(super) burst: Option<Int>,
    pub(super) tx_drain_us: Option<Int>,
    pub(super) idle_sleep_us: Option<Int>,
    pub(super) mbufs: Option<Int>,
    pub(super) mbuf_cache: Option<Int>,
    pub(super) rx_desc: Option<Int>,
    pub(super) tx_desc: Option<Int>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIcmp {
    pub(super) msgs_per_sec: Option<Int>,
    pub(super) msgs_burst: Option<Int>,
    pub(super) ratelimit_ms: Option<Int>,
    pub(super) ratemask: Option<Int>,
    pub(super) burst: Option<Int>,
    pub(super) peers: Option<Int>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArp {
    pub(super) reachable_ms: Option<Int>,
    pub(super) retrans_ms: Option<Int>,
    pub(super) mcast_probes: Option<Int>,
    pub(super) ucast_probes: Option<Int>,
    pub(super) delay_probe_ms: Option<Int>,
    pub(super) hold_queue: Option<Int>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReassembly {
    pub(super) timeout_ms: Option<Int>,
    pub(super) max_bytes: Option<Int>,
    pub(super) max_datagrams: Option<Int>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIp {
    pub(super) accept_source_route: Option<bool>,
    pub(super) rp_filter: Option<Int>,
    pub(super) bc_forwarding: Option<bool>,
}

impl Builder<'_> {
    pub(super) fn datapath(&self, raw: RawDatapath) -> Result<DatapathConfig, ConfigError> {
        let d = DatapathConfig::default();
        let mbufs = self.int("datapath.mbufs", raw.mbufs, d.mbufs, 1024, u32::MAX.into())?;
        let mbuf_cache = self.int("datapath.mbuf_cache", raw.mbuf_cache, d.mbuf_cache, 0, 512)?;
        // DPDK refuses a cache whose flush threshold (cache * 3 / 2) exceeds the pool.
        if u64::from(mbuf_cache) * 3 / 2 > u64::from(mbufs) {
            return Err(self.err(
                "datapath.mbuf_cache",
                format!("{mbuf_cache} is too large for {mbufs} mbufs; must be <= mbufs / 1.5"),
            ));
        }
        let desc = |key: &str, v: Option<Int>, default: u16| -> Result<u16, ConfigError> {
            let n: u16 = self.int(key, v, default, 64, 4096)?;
            if n.is_power_of_two() {
                Ok(n)
            } else {
                Err(self.err(key, format!("{n} is not a power of two (64..=4096)")))
            }
        };
        Ok(DatapathConfig {
            burst: self.int("datapath.burst", raw.burst, d.burst, 1, 32)?,
            tx_drain_us: self.int(
                "datapath.tx_drain_us",
                raw.tx_drain_us,
                d.tx_drain_us,
                1,
                10000,
            )?,
            idle_sleep_us: self.int(
                "datapath.idle_sleep_us",
                raw.idle_sleep_us,
                d.idle_sleep_us,
                0,
                1000,
            )?,
            mbufs,
            mbuf_cache,
            rx_desc: desc("datapath.rx_desc", raw.rx_desc, d.rx_desc)?,
            tx_desc: desc("datapath.tx_desc", raw.tx_desc, d.tx_desc)?,
        })
    }

    /// A rate and its burst: the burst must be at least 1 unless the rate is 0
    /// (unlimited).
    pub(super) fn rate_burst(
        &self,
        (rate_key, rate, rate_default): (&str, Option<Int>, u32),
        (burst_key, burst, burst_default): (&str, Option<Int>, u32),
    ) -> Result<(u32, u32), ConfigError> {
        let max = u32::MAX.into();
        let rate = self.int(rate_key, rate, rate_default, 0, max)?;
        let burst = self.int(burst_key, burst, burst_default, 0, max)?;
        if rate > 0 && burst == 0 {
            return Err(self.err(
                burst_key,
                format!("must be at least 1 when {rate_key} is not 0 (unlimited)"),
            ));
        }
        Ok((rate, burst))
    }

    pub(super) fn icmp(&self, raw: RawIcmp) -> Result<IcmpConfig, ConfigError> {
        let d = IcmpConfig::default();
        let (msgs_per_sec, msgs_burst) = self.rate_burst(
            ("icmp.msgs_per_sec", raw.msgs_per_sec, d.msgs_per_sec),
            ("icmp.msgs_burst", raw.msgs_burst, d.msgs_burst),
        )?;
        Ok(IcmpConfig {
            msgs_per_sec,
            msgs_burst,
            // Linux caps icmp_ratelimit at INT_MAX jiffies; an hour is plenty.
            ratelimit_ms: self.int(
                "icmp.ratelimit_ms",
                raw.ratelimit_ms,
                d.ratelimit_ms,
                0,
                3_600_000,
            )?,
            ratemask: self.int(
                "icmp.ratemask",
                raw.ratemask,
                d.ratemask,
                0,
                u32::MAX.into(),
            )?,
            burst: self.int("icmp.burst", raw.burst, d.burst, 1, 10_000)?,
            peers: self.int("icmp.peers", raw.peers, d.peers, 1, 1 << 20)?,
        })
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

    pub(super) fn arp(&self, raw: RawArp) -> Result<ArpConfig, ConfigError> {
        let d = ArpConfig::default();
        let (u32_max, i64_max) = (u32::MAX.into(), i64::MAX);
        Ok(ArpConfig {
            reachable_ms: self.int(
                "arp.reachable_ms",
                raw.reachable_ms,
                d.reachable_ms,
                0,
                i64_max,
            )?,
            retrans_ms: self.int("arp.retrans_ms", raw.retrans_ms, d.retrans_ms, 10, i64_max)?,
            mcast_probes: self.int(
                "arp.mcast_probes",
                raw.mcast_probes,
                d.mcast_probes,
                1,
                u32_max,
            )?,
            ucast_probes: self.int(
                "arp.ucast_probes",
                raw.ucast_probes,
                d.ucast_probes,
                0,
                u32_max,
            )?,
            delay_probe_ms: self.int(
                "arp.delay_probe_ms",
                raw.delay_probe_ms,
                d.delay_probe_ms,
                0,
                i64_max,
            )?,
            hold_queue: self.int("arp.hold_queue", raw.hold_queue, d.hold_queue, 1, 10000)?,
        })
    }

    pub(super) fn reassembly(&self, raw: RawReassembly) -> Result<ReassemblyConfig, ConfigError> {
        let d = ReassemblyConfig::default();
        Ok(ReassemblyConfig {
            timeout_ms: self.int(
                "reassembly.timeout_ms",
                raw.timeout_ms,
                d.timeout_ms,
                100,
                600_000,
            )?,
            max_bytes: self.int(
                "reassembly.max_bytes",
                raw.max_bytes,
                d.max_bytes,
                128 << 10,
                1 << 30,
            )?,
            max_datagrams: self.int(
                "reassembly.max_datagrams",
                raw.max_datagrams,
                d.max_datagrams,
                1,
                1_000_000,
            )?,
        })
    }

    pub(super) fn ip(&self, raw: RawIp) -> Result<IpConfig, ConfigError> {
        let d = IpConfig::default();
        Ok(IpConfig {
            accept_source_route: raw.accept_source_route.unwrap_or(d.accept_source_route),
            rp_filter: self.int("ip.rp_filter", raw.rp_filter, d.rp_filter, 0, 2)?,
            bc_forwarding: raw.bc_forwarding.unwrap_or(d.bc_forwarding),
        })
    }
}
