//! The `[linux_cp]` section: the exception path to the kernel twins and the mirror of
//! the control-plane namespace's routing table (see the `linuxcp` module).
use crate::datapath::punt::Limit;
use crate::fib::Proto;

/// The namespace the twins live in unless `linux_cp.netns` says otherwise.
pub const DEFAULT_NETNS: &str = "ferroute-cp";
/// Linux's main routing table (RT_TABLE_MAIN), where BIRD and zebra install by default.
pub const RT_TABLE_MAIN: u32 = 254;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxCpConfig {
    /// Off: no twins, and local delivery answers as a host with no sockets.
    pub enabled: bool,
    /// The control-plane network namespace (`ip netns` name), created if missing.
    pub netns: String,
    /// Policer of the traffic to the twins, per ingress port and worker.
    pub punt: Limit,
    pub mirror: MirrorConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorConfig {
    pub enabled: bool,
    /// Kernel table ids whose routes are mirrored.
    pub tables: Vec<u32>,
    /// RTPROT_* numbers mirrored; empty: every protocol but `kernel` (the routes the
    /// kernel derives from the twins' own addresses).
    pub protocols: Vec<u8>,
}

impl MirrorConfig {
    /// True if routes of protocol `p` from table `t` are mirrored.
    pub fn wants(&self, table: u32, p: u8) -> bool {
        self.tables.contains(&table)
            && if self.protocols.is_empty() {
                p != Proto::KERNEL
            } else {
                self.protocols.contains(&p)
            }
    }
}

impl Default for LinuxCpConfig {
    /// Off when the section is absent; the embedded config turns it on.
    fn default() -> Self {
        LinuxCpConfig {
            enabled: false,
            netns: DEFAULT_NETNS.into(),
            punt: Limit {
                pps: 10_000,
                burst: 1_000,
            },
            mirror: MirrorConfig {
                enabled: true,
                tables: vec![RT_TABLE_MAIN],
                protocols: Vec::new(),
            },
        }
    }
}

/// An `ip netns` name: what iproute2 accepts as a file name under /run/netns.
pub fn valid_netns_name(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > 64 {
        return Err("must be 1..=64 characters");
    }
    if s == "." || s == ".." || s.contains('/') || s.contains('\0') {
        return Err("must be a file name (no '/', not '.' or '..')");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_skips_kernel_routes_unless_told_which_protocols() {
        let mut m = LinuxCpConfig::default().mirror;
        assert!(m.wants(254, 12), "bird in main");
        assert!(
            !m.wants(254, Proto::KERNEL),
            "connected routes of the twins"
        );
        assert!(!m.wants(255, 12), "table local");
        m.protocols = vec![11];
        assert!(m.wants(254, 11) && !m.wants(254, 12));
    }

    #[test]
    fn netns_names_are_file_names() {
        assert!(valid_netns_name("ferroute-cp").is_ok());
        for bad in ["", ".", "..", "a/b", &"x".repeat(65)] {
            assert!(valid_netns_name(bad).is_err(), "{bad:?}");
        }
    }
}
