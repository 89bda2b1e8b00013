//! The kernel-table mirror: the routes a daemon (BIRD's `protocol kernel`, FRR's zebra)
//! installs in the control-plane namespace's kernel tables become ferroute routes, as
//! VPP's linux-cp mirrors netlink routes into its FIB. A dump at start, then the
//! RTM_NEWROUTE/RTM_DELROUTE events, applied through the control API like any client's
//! changes (so the API's handlers judge them), pipelined per batch of events. After lost
//! events (ENOBUFS) the kernel table is dumped again and the difference applied.
//!
//! The route keeps its protocol (`proto bird`), metric (the kernel's priority) and
//! type. Routes the kernel derives from the twins' own addresses (`proto kernel`, table
//! local) are not echoed back: ferroute has its own from the same addresses.
use super::config::MirrorConfig;
use super::stats::LinuxCpStats;
use crate::api::client::{ClientError, Conn};
use crate::api::{self, *};
use crate::fib::Proto;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering::Relaxed;

/// Requests in flight at once: a few FIB publications per full table, and about 100 kB
/// of requests and 40 kB of acks per window, well within the sockets' buffers.
const WINDOW: usize = 1024;

/// A route's identity in a kernel table (tos is always 0 here): prefix and priority.
type Key = (Ipv4Addr, u8, u32);

/// A kernel route as a ferroute request, if it is one the mirror takes. `ifmap` turns
/// the kernel's ifindex of a twin into ferroute's.
pub fn convert(
    m: &RouteMessage,
    cfg: &MirrorConfig,
    ifmap: &HashMap<u32, u32>,
) -> Option<RouteMsg> {
    let h: &RouteHeader = &m.header;
    if h.address_family != AddressFamily::Inet || h.tos != 0 || h.source_prefix_length != 0 {
        return None;
    }
    // RTA_TABLE, when present, overrides the 8-bit header field (ids above 255).
    let mut table = u32::from(h.table);
    let mut r = RouteMsg::new(Ipv4Addr::UNSPECIFIED, h.destination_prefix_length);
    r.protocol = Proto::from_num(u8::from(h.protocol));
    r.scope = Scope::from(u8::from(h.scope));
    r.rtype = match h.kind {
        RouteType::Unicast => api::RouteType::Unicast,
        RouteType::BlackHole => api::RouteType::Blackhole,
        RouteType::Unreachable => api::RouteType::Unreachable,
        RouteType::Prohibit => api::RouteType::Prohibit,
        // Local, broadcast, multicast, throw, nat...: not forwarding state.
        _ => return None,
    };
    r.metric = Some(0);
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => r.dst = *d,
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => r.gateway = Some(*g),
            RouteAttribute::Oif(i) => r.oif = Some(*ifmap.get(i)?),
            RouteAttribute::Priority(p) => r.metric = Some(*p),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::PrefSource(RouteAddress::Inet(s)) => r.prefsrc = Some(*s),
            RouteAttribute::MultiPath(hops) => {
                for nh in hops {
                    let gateway = nh.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(RouteAddress::Inet(g)) => Some(*g),
                        _ => None,
                    });
                    r.multipath.push(RtNexthop {
                        gateway,
                        // Every member must leave through a twin.
                        oif: Some(*ifmap.get(&nh.interface_index)?),
                        // rtnexthop.hops is the weight minus one.
                        weight: u16::from(nh.hops) + 1,
                    });
                }
            }
            _ => {}
        }
    }
    if !cfg.wants(table, r.protocol.num()) {
        return None;
    }
    // A unicast route must leave through a twin.
    if r.rtype == api::RouteType::Unicast && r.oif.is_none() && r.multipath.is_empty() {
        return None;
    }
    Some(r)
}

fn key(r: &RouteMsg) -> Key {
    (r.dst, r.dst_len, r.metric.unwrap_or(0))
}

/// The mirror's state: what it installed, and its way into the API.
pub struct Mirror {
    cfg: MirrorConfig,
    ifmap: HashMap<u32, u32>,
    installed: HashMap<Key, RouteMsg>,
    api: Conn,
    api_path: std::path::PathBuf,
    stats: std::sync::Arc<LinuxCpStats>,
}

/// One change for the API.
enum Change {
    Put(RouteMsg),
    Del(RouteMsg),
}

impl Mirror {
    /// A mirror that speaks to the control API at `api_path`.
    pub fn connect(
        cfg: MirrorConfig,
        ifmap: HashMap<u32, u32>,
        api_path: &std::path::Path,
        stats: std::sync::Arc<LinuxCpStats>,
    ) -> Result<Mirror, ClientError> {
        Ok(Mirror {
            cfg,
            ifmap,
            installed: HashMap::new(),
            api: Conn::connect(api_path)?,
            api_path: api_path.to_owned(),
            stats,
        })
    }

    /// A new connection to the API after the old one failed; what ferroute holds is
    /// then unknown, so the caller resyncs (re-sending every route, replaced in place).
    pub fn reconnect(&mut self) -> Result<(), ClientError> {
        self.api = Conn::connect(&self.api_path)?;
        self.installed.clear();
        Ok(())
    }

    /// Applies kernel events in order.
    pub fn events(&mut self, msgs: Vec<RouteNetlinkMessage>) -> Result<(), ClientError> {
        let mut changes = Vec::new();
        for m in msgs {
            let (del, rm) = match m {
                RouteNetlinkMessage::NewRoute(rm) => (false, rm),
                RouteNetlinkMessage::DelRoute(rm) => (true, rm),
                _ => continue,
            };
            let Some(r) = convert(&rm, &self.cfg, &self.ifmap) else {
                continue;
            };
            self.stats.mirror_events.fetch_add(1, Relaxed);
            let k = key(&r);
            if del {
                if let Some(old) = self.installed.remove(&k) {
                    changes.push(Change::Del(old));
                }
            } else if self.installed.get(&k) != Some(&r) {
                self.installed.insert(k, r.clone());
                changes.push(Change::Put(r));
            }
        }
        self.apply(changes)
    }

    /// Makes ferroute hold exactly the mirrored routes of a full kernel dump.
    pub fn resync(&mut self, dump: Vec<RouteNetlinkMessage>) -> Result<(), ClientError> {
        let mut want: HashMap<Key, RouteMsg> = HashMap::new();
        for m in dump {
            if let RouteNetlinkMessage::NewRoute(rm) = m {
                if let Some(r) = convert(&rm, &self.cfg, &self.ifmap) {
                    want.insert(key(&r), r);
                }
            }
        }
        let mut changes = Vec::new();
        for (k, old) in &self.installed {
            if !want.contains_key(k) {
                changes.push(Change::Del(old.clone()));
            }
        }
        for (k, r) in &want {
            if self.installed.get(k) != Some(r) {
                changes.push(Change::Put(r.clone()));
            }
        }
        self.installed = want;
        self.apply(changes)
    }

    /// Sends the changes pipelined, [`WINDOW`] at a time, reading each window's answers
    /// before the next (so neither side's socket buffer fills while the other waits); a
    /// refused route is counted and logged (the API says why) and dropped from
    /// `installed`.
    fn apply(&mut self, mut changes: Vec<Change>) -> Result<(), ClientError> {
        while !changes.is_empty() {
            let rest = changes.split_off(changes.len().min(WINDOW));
            self.apply_window(changes)?;
            changes = rest;
        }
        self.stats
            .mirror_routes
            .store(self.installed.len() as u64, Relaxed);
        Ok(())
    }

    fn apply_window(&mut self, changes: Vec<Change>) -> Result<(), ClientError> {
        let mut bytes = Vec::new();
        let mut sent = Vec::new();
        for c in changes {
            let (kind, flags, r) = match c {
                Change::Put(r) => (RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r),
                Change::Del(r) => (RTM_DELROUTE, 0, r),
            };
            let seq = self
                .api
                .queue(&mut bytes, kind, flags | NLM_F_ACK, Body::Route(r.clone()));
            sent.push((seq, kind, r));
        }
        self.api.write_raw(&bytes)?;
        for (seq, kind, r) in sent {
            match self.api.wait_ack(seq) {
                Ok(()) => {}
                Err(ClientError::Api(e)) => {
                    // A delete of what is already gone is no loss.
                    if kind == RTM_DELROUTE && e.errno == errno::ESRCH {
                        continue;
                    }
                    self.stats.mirror_rejected.fetch_add(1, Relaxed);
                    if kind == RTM_NEWROUTE {
                        self.installed.remove(&key(&r));
                    }
                    log::warn!(
                        "linux_cp mirror: {} {}/{} proto {}: {e}",
                        if kind == RTM_NEWROUTE {
                            "add"
                        } else {
                            "delete"
                        },
                        r.dst,
                        r.dst_len,
                        r.protocol.num()
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linuxcp::config::LinuxCpConfig;
    use netlink_packet_route::route::{RouteProtocol, RouteScope};

    fn kernel_route(dst: &str, len: u8, proto: u8, table: u8, oif: u32) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.destination_prefix_length = len;
        m.header.table = table;
        m.header.protocol = RouteProtocol::from(proto);
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(
                dst.parse().unwrap(),
            )));
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(
                "10.0.2.2".parse().unwrap(),
            )));
        m.attributes.push(RouteAttribute::Oif(oif));
        m.attributes.push(RouteAttribute::Priority(32));
        m
    }

    #[test]
    fn bird_routes_become_ferroute_routes_with_their_protocol() {
        let cfg = LinuxCpConfig::default().mirror;
        let ifmap = HashMap::from([(7, 2)]);
        let r = convert(&kernel_route("10.9.0.0", 16, 12, 254, 7), &cfg, &ifmap).unwrap();
        assert_eq!((r.dst, r.dst_len), ("10.9.0.0".parse().unwrap(), 16));
        assert_eq!(r.gateway, Some("10.0.2.2".parse().unwrap()));
        assert_eq!((r.oif, r.metric, r.protocol.num()), (Some(2), Some(32), 12));
    }

    #[test]
    fn a_multipath_route_keeps_its_members_and_weights() {
        use netlink_packet_route::route::RouteNextHop;
        let cfg = LinuxCpConfig::default().mirror;
        let ifmap = HashMap::from([(7, 2), (8, 1)]);
        let mut m = kernel_route("10.90.0.0", 16, 12, 254, 7);
        m.attributes
            .retain(|a| matches!(a, RouteAttribute::Destination(_)));
        let hop = |gw: &str, ifindex, hops| {
            let mut nh = RouteNextHop::default();
            nh.hops = hops;
            nh.interface_index = ifindex;
            let gw = RouteAddress::Inet(gw.parse().unwrap());
            nh.attributes = vec![RouteAttribute::Gateway(gw)];
            nh
        };
        m.attributes.push(RouteAttribute::MultiPath(vec![
            hop("10.0.2.2", 7, 0),
            hop("10.0.1.2", 8, 1),
        ]));
        let r = convert(&m, &cfg, &ifmap).unwrap();
        assert_eq!(r.gateway, None);
        assert_eq!(
            r.multipath,
            vec![
                RtNexthop {
                    gateway: Some("10.0.2.2".parse().unwrap()),
                    oif: Some(2),
                    weight: 1
                },
                RtNexthop {
                    gateway: Some("10.0.1.2".parse().unwrap()),
                    oif: Some(1),
                    weight: 2
                },
            ]
        );
        // A member through a device that is not a twin: the route is not ferroute's.
        m.attributes
            .push(RouteAttribute::MultiPath(vec![hop("10.0.3.2", 99, 0)]));
        assert!(convert(&m, &cfg, &ifmap).is_none());
    }

    #[test]
    fn the_twins_own_routes_and_foreign_devices_are_not_echoed() {
        let cfg = LinuxCpConfig::default().mirror;
        let ifmap = HashMap::from([(7, 2)]);
        // proto kernel (a twin's connected route), table local, a device not a twin.
        assert!(convert(&kernel_route("10.0.2.0", 24, 2, 254, 7), &cfg, &ifmap).is_none());
        assert!(convert(&kernel_route("10.9.0.0", 16, 12, 255, 7), &cfg, &ifmap).is_none());
        assert!(convert(&kernel_route("10.9.0.0", 16, 12, 254, 1), &cfg, &ifmap).is_none());
        let mut local = kernel_route("10.0.2.1", 32, 2, 255, 7);
        local.header.kind = RouteType::Local;
        assert!(convert(&local, &cfg, &ifmap).is_none());
        let mut bh = kernel_route("10.66.0.0", 16, 12, 254, 7);
        bh.header.kind = RouteType::BlackHole;
        bh.attributes
            .retain(|a| matches!(a, RouteAttribute::Destination(_)));
        assert_eq!(
            convert(&bh, &cfg, &ifmap).unwrap().rtype,
            api::RouteType::Blackhole
        );
    }
}
