//! [`StartError`]: why `ferroute run` could not start (exit code 69), one variant per
//! step of [`super::start`]. Each names what failed (the config file and key, the port
//! with its device, the lcore, the socket path) and keeps the cause as its source; the
//! texts are the ones the log and the tests have always shown.
use crate::config::ConfigError;
use crate::dpdk::{DpdkError, PciError};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A failed start-up step. `file` is the configuration's source (`cfg.source`).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// More ports than the datapath's tables hold.
    #[error("{file}: {count} ports configured, at most {max} supported")]
    TooManyPorts {
        file: String,
        count: usize,
        max: usize,
    },
    /// A PCI port's device is missing or not bound to a userspace I/O driver.
    #[error("{file}: port {port}: {source}")]
    PciDriver {
        file: String,
        port: String,
        source: PciError,
    },
    /// `rte_eal_init`.
    #[error(transparent)]
    Eal(DpdkError),
    /// The packet mempool.
    #[error(transparent)]
    Mempool(DpdkError),
    /// The EAL did not probe the port's device (`device` is its DPDK name).
    #[error("port {port}: {source}")]
    PortLookup {
        port: String,
        device: String,
        source: DpdkError,
    },
    /// The device's DPDK port id is beyond the datapath's tables.
    #[error("port {port}: DPDK port id {id} >= {max}")]
    PortId { port: String, id: u16, max: usize },
    /// The device's MTU range could not be read.
    #[error("port {port}: {source}")]
    MtuRange { port: String, source: DpdkError },
    /// The configured MTU is outside what the device supports.
    #[error(
        "{file}: port[{index}].mtu: {mtu} is {side} what port {port} ({device}, driver \
         {driver}) supports: {min}..={max}"
    )]
    Mtu {
        file: String,
        index: usize,
        mtu: u16,
        /// `below` or `above`.
        side: &'static str,
        port: String,
        device: String,
        driver: String,
        min: u16,
        max: u16,
    },
    /// Queue, MTU or MAC set-up, or the start of a port (`devargs` as configured).
    #[error("{file}: port[{index}] ({port}): {source}")]
    PortStart {
        file: String,
        index: usize,
        port: String,
        devargs: String,
        source: DpdkError,
    },
    /// The configuration refused by the API state (`ferroute check` passed it, so only
    /// if the ports differ from what the check assumed).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// SIGINT, SIGTERM or SIGHUP handlers.
    #[error("signal handler: {0}")]
    Signal(#[source] io::Error),
    /// The control socket.
    #[error("{file}: control.socket: cannot bind {}: {source}", path.display())]
    Socket {
        file: String,
        path: PathBuf,
        source: io::Error,
    },
    /// The metrics listener.
    #[error("{file}: metrics.listen: cannot listen on {addr}: {source}")]
    MetricsListen {
        file: String,
        addr: SocketAddr,
        source: io::Error,
    },
    /// The kernel twins of `[linux_cp]`.
    #[error("{file}: {source}")]
    LinuxCp {
        file: String,
        source: crate::linuxcp::Error,
    },
    /// A worker could not be launched on its lcore.
    #[error("{file}: worker[{worker}].lcore: {source}")]
    Worker {
        file: String,
        worker: usize,
        lcore: u32,
        source: DpdkError,
    },
    /// The control API's threads.
    #[error("control API threads: {0}")]
    ApiThreads(#[source] io::Error),
    /// The linux_cp follower thread.
    #[error("linux_cp follower thread: {0}")]
    Follower(#[source] io::Error),
    /// The Prometheus registry.
    #[error("metrics: {0}")]
    Metrics(#[source] prometheus::Error),
    /// The metrics thread.
    #[error("metrics thread: {0}")]
    MetricsThread(#[source] io::Error),
}

impl StartError {
    /// The errno behind the failure, where there is one (DPDK's or the OS's).
    pub fn errno(&self) -> Option<i32> {
        use StartError::*;
        match self {
            Eal(e) | Mempool(e) => Some(e.errno),
            PortLookup { source, .. }
            | MtuRange { source, .. }
            | PortStart { source, .. }
            | Worker { source, .. } => Some(source.errno),
            Signal(e) | ApiThreads(e) | Follower(e) | MetricsThread(e) => e.raw_os_error(),
            Socket { source, .. } | MetricsListen { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_name_file_key_port_and_cause_as_before() {
        let mtu = StartError::Mtu {
            file: "r.toml".into(),
            index: 1,
            mtu: 9000,
            side: "above",
            port: "port1".into(),
            device: "net_tap1".into(),
            driver: "net_tap".into(),
            min: 68,
            max: 1504,
        };
        assert_eq!(
            mtu.to_string(),
            "r.toml: port[1].mtu: 9000 is above what port port1 (net_tap1, driver net_tap) \
             supports: 68..=1504"
        );
        let taken = io::Error::from_raw_os_error(98);
        let e = StartError::Socket {
            file: "r.toml".into(),
            path: "/run/ferroute.sock".into(),
            source: taken,
        };
        assert!(e
            .to_string()
            .starts_with("r.toml: control.socket: cannot bind /run/ferroute.sock: "));
        assert_eq!(e.errno(), Some(98));
        let launch = DpdkError {
            what: "launch on lcore 3".into(),
            errno: 16,
            reason: "Device or resource busy".into(),
        };
        let e = StartError::Worker {
            file: "r.toml".into(),
            worker: 0,
            lcore: 3,
            source: launch,
        };
        assert_eq!(
            e.to_string(),
            "r.toml: worker[0].lcore: launch on lcore 3: Device or resource busy (errno 16)"
        );
        assert_eq!(e.errno(), Some(16));
    }
}
