//! The exception path to the kernel and the kernel-table mirror, in the style of VPP's
//! linux-cp: what lets BIRD or FRR run on the router.
//!
//! - Each port has a kernel twin ([`twin`]): a TAP with the port's name, MAC, MTU and
//!   addresses in the control-plane namespace (`[linux_cp] netns`, `ferroute-cp`).
//! - Traffic for the router that the datapath does not answer (TCP, UDP, OSPF,
//!   multicast to 224.0.0.0/24...) is punted, policed, to the control thread, which
//!   writes it to the twin of its ingress port ([`exception`]); what the kernel sends
//!   out of a twin is read back and leaves through ferroute's output path (FIB,
//!   neighbour resolution, qdisc, fragmentation). ICMP echo stays in the datapath.
//! - A follower thread keeps the twins in step with the ports (addresses, MTU, up) and
//!   mirrors the namespace's routing table into ferroute through the control API
//!   ([`mirror`]).
//!
//! The namespace has `ip_forward=0`: the kernel there is a host, ferroute forwards.
pub mod config;
pub mod exception;
pub mod mirror;
mod netlink;
pub mod netns;
pub mod stats;
pub mod twin;

use crate::api::client::ClientError;
use crate::datapath::worker::Shared;
use crate::datapath::PortCtx;
use config::LinuxCpConfig;
use exception::TwinPorts;
use netlink::{Netlink, RTNLGRP_IPV4_ROUTE};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;
use stats::LinuxCpStats;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use twin::{Applied, Twin};

/// How long the follower waits for route events before it looks at the ports again.
const POLL: Duration = Duration::from_millis(50);
/// Route events applied as one set of API changes at most.
const EVENT_BATCH: usize = 16_384;
/// Receive buffer of the route-event socket: a full table's worth of events in a burst
/// (about 100 bytes each) before ENOBUFS forces a resync.
const EVENT_RCVBUF: usize = 32 << 20;

/// What start-up made: the twins, and the namespace's sockets for the follower.
pub struct LinuxCp {
    pub netns: String,
    twins: Vec<Twin>,
    applied: Vec<Applied>,
    /// Changes to the twins.
    link_nl: Netlink,
    /// Route events (subscribed before the first dump, so nothing is missed).
    events_nl: Netlink,
    /// Dumps of the routing table.
    dump_nl: Netlink,
    pub stats: Arc<LinuxCpStats>,
}

/// What failed in linux_cp: at start-up (namespace, twins, sockets) or in the follower.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The network namespace could not be opened or created.
    #[error("linux_cp: network namespace {netns}: {source}")]
    Netns { netns: String, source: io::Error },
    /// Inside the namespace: a sysctl, a twin, a netlink socket.
    #[error("linux_cp: namespace {netns}: {source}")]
    InNetns { netns: String, source: io::Error },
    /// The dump of the namespace's routing table.
    #[error("RTM_GETROUTE dump: {0}")]
    Dump(#[source] io::Error),
    /// Reading route events.
    #[error(transparent)]
    Events(io::Error),
    /// The mirror's API requests.
    #[error("{0}")]
    Api(ClientError),
    /// The API connection broke (`broke`, the client's text) and a new one could not be
    /// made.
    #[error("{broke}; reconnect: {reconnect}")]
    Reconnect {
        broke: String,
        reconnect: ClientError,
    },
}

/// Opens (or creates) the namespace and makes a twin for each port; their MTU is at
/// most `max_mtu` (what one mbuf holds, since their frames are copied into one).
pub fn start(
    cfg: &LinuxCpConfig,
    ports: &[PortCtx],
    max_mtu: u16,
) -> Result<(LinuxCp, TwinPorts), Error> {
    let (ns, created) = netns::open_or_create(&cfg.netns).map_err(|source| Error::Netns {
        netns: cfg.netns.clone(),
        source,
    })?;
    let made = netns::run_in(&ns, || -> io::Result<_> {
        netns::sysctl("net.ipv4.ip_forward", "0")?;
        let mut link_nl = Netlink::open()?;
        twin::loopback_up(&mut link_nl)?;
        let mut twins = Vec::new();
        let mut taps = Vec::new();
        let mut applied = Vec::new();
        for p in ports {
            let mut p = p.clone();
            p.mtu = p.mtu.min(max_mtu);
            let (t, tap, a) = twin::create(&mut link_nl, &p)?;
            twins.push(t.clone());
            taps.push((t, tap));
            applied.push(a);
        }
        let events_nl = Netlink::open()?;
        events_nl.socket().add_membership(RTNLGRP_IPV4_ROUTE)?;
        let _ = setsockopt(events_nl.socket(), sockopt::RcvBufForce, &EVENT_RCVBUF);
        setsockopt(
            events_nl.socket(),
            sockopt::ReceiveTimeout,
            &TimeVal::new(0, POLL.as_micros() as i64),
        )
        .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        let dump_nl = Netlink::open()?;
        Ok((link_nl, twins, taps, applied, events_nl, dump_nl))
    })
    .and_then(|r| r)
    .map_err(|source| Error::InNetns {
        netns: cfg.netns.clone(),
        source,
    })?;
    let (link_nl, twins, taps, applied, events_nl, dump_nl) = made;
    let stats = Arc::new(LinuxCpStats::default());
    log::info!(
        "linux_cp: {} namespace {}: twins {} (ip_forward=0)",
        if created { "created" } else { "using" },
        cfg.netns,
        twins
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let cp = LinuxCp {
        netns: cfg.netns.clone(),
        twins,
        applied,
        link_nl,
        events_nl,
        dump_nl,
        stats: Arc::clone(&stats),
    };
    Ok((cp, TwinPorts::new(taps, stats)))
}

impl LinuxCp {
    /// Starts the follower: twins in step with `shared.ports`, and (with the mirror on)
    /// the kernel's routes into the API at `api`. Ends when `shared.stop` is set.
    pub fn spawn(
        self,
        cfg: &LinuxCpConfig,
        shared: Arc<Shared>,
        api: PathBuf,
        max_mtu: u16,
    ) -> io::Result<JoinHandle<()>> {
        let mirror_cfg = cfg.mirror.clone();
        std::thread::Builder::new()
            .name("linuxcp".into())
            .spawn(move || self.follow(mirror_cfg, shared, api, max_mtu))
    }

    fn follow(
        mut self,
        cfg: config::MirrorConfig,
        shared: Arc<Shared>,
        api: PathBuf,
        max_mtu: u16,
    ) {
        let mut mirror = None;
        if cfg.enabled {
            // Kernel ifindex of each twin -> ferroute's (DPDK port id + 1).
            let ifmap: HashMap<u32, u32> = (self.twins.iter())
                .map(|t| (t.ifindex, u32::from(t.port) + 1))
                .collect();
            match mirror::Mirror::connect(cfg, ifmap, &api, Arc::clone(&self.stats)) {
                Ok(m) => mirror = Some(m),
                Err(e) => log::error!("linux_cp mirror: {e}; routes are not mirrored"),
            }
        }
        let mut resync = mirror.is_some();
        let mut last_ports = None;
        while !shared.stop.load(Relaxed) {
            let ports = shared.ports.load_full();
            if last_ports
                .as_ref()
                .map_or(true, |l| !Arc::ptr_eq(l, &ports))
            {
                self.sync_twins(&ports, max_mtu);
                last_ports = Some(ports);
            }
            let Some(m) = mirror.as_mut() else {
                std::thread::sleep(POLL);
                continue;
            };
            if resync {
                match self.resync(m) {
                    Ok(()) => resync = false,
                    Err(e) => {
                        if shared.stop.load(Relaxed) {
                            break;
                        }
                        log::warn!("linux_cp mirror: resync: {e}");
                        let _ = m.reconnect();
                        std::thread::sleep(POLL);
                    }
                }
                continue;
            }
            let result = match self.events_nl.events(EVENT_BATCH) {
                Ok(ev) => match m.events(ev) {
                    Ok(()) => Ok(()),
                    Err(ClientError::Io(e)) => {
                        // The API connection broke: a new one, and a full resync.
                        resync = true;
                        m.reconnect().map_err(|reconnect| Error::Reconnect {
                            broke: e,
                            reconnect,
                        })
                    }
                    Err(e) => Err(Error::Api(e)),
                },
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                    log::warn!("linux_cp mirror: route events lost (ENOBUFS): resyncing");
                    resync = true;
                    Ok(())
                }
                Err(e) => Err(Error::Events(e)),
            };
            if let Err(e) = result {
                if shared.stop.load(Relaxed) {
                    break;
                }
                log::warn!("linux_cp mirror: {e}");
                std::thread::sleep(POLL);
            }
        }
    }

    fn resync(&mut self, m: &mut mirror::Mirror) -> Result<(), Error> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let dump = (self.dump_nl)
            .dump(RouteNetlinkMessage::GetRoute(req))
            .map_err(Error::Dump)?;
        m.resync(dump).map_err(Error::Api)?;
        self.stats.mirror_resyncs.fetch_add(1, Relaxed);
        Ok(())
    }

    fn sync_twins(&mut self, ports: &crate::datapath::Ports, max_mtu: u16) {
        for (t, a) in self.twins.iter().zip(self.applied.iter_mut()) {
            let Some(p) = ports.get(t.port) else { continue };
            let mut p = p.clone();
            p.mtu = p.mtu.min(max_mtu);
            if let Err(e) = twin::sync(&mut self.link_nl, t, a, &p) {
                log::warn!("linux_cp: {e}");
            }
        }
    }
}
