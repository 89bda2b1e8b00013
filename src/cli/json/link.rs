//! A link as `ip -j link` prints it, and the link part of `ip -j addr` (iproute2
//! `print_linkinfo`).
use super::addr::AddrInfo;
use crate::api::*;
use serde::Serialize;

/// `ip -s link`'s `stats64` (struct rtnl_link_stats64 as iproute2 prints it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats64 {
    pub rx: RxStats,
    pub tx: TxStats,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RxStats {
    pub bytes: u64,
    pub packets: u64,
    pub errors: u64,
    pub dropped: u64,
    pub over_errors: u64,
    pub multicast: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TxStats {
    pub bytes: u64,
    pub packets: u64,
    pub errors: u64,
    pub dropped: u64,
    pub carrier_errors: u64,
    pub collisions: u64,
}

impl Stats64 {
    /// From the counters of one port: the PMD's own counts (what the NIC saw, as the
    /// kernel's counters are the driver's); RX dropped = missed + no mbuf.
    pub fn from_counters(counters: &Counters, port: &str) -> Stats64 {
        let get = |key: &str| counters.pmd(port, key);
        Stats64 {
            rx: RxStats {
                bytes: get("ibytes"),
                packets: get("ipackets"),
                errors: get("ierrors"),
                dropped: get("imissed") + get("rx_nombuf"),
                ..RxStats::default()
            },
            tx: TxStats {
                bytes: get("obytes"),
                packets: get("opackets"),
                errors: get("oerrors"),
                ..TxStats::default()
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub ifindex: u32,
    pub ifname: String,
    pub flags: Vec<&'static str>,
    pub mtu: u32,
    /// The root qdisc's kind: `noqueue` without one, as a veth or tap.
    pub qdisc: String,
    pub operstate: &'static str,
    /// `ip link` only (`ip addr` leaves it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linkmode: Option<&'static str>,
    pub group: &'static str,
    pub link_type: &'static str,
    pub address: String,
    pub broadcast: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats64: Option<Stats64>,
    /// `ip addr` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr_info: Option<Vec<AddrInfo>>,
}

/// IFF_* names in iproute2's order (`print_link_flags`), NO-CARRIER first when the
/// link is up without carrier. ferroute's ports are broadcast Ethernet without
/// multicast.
pub fn flag_names(flags: u32) -> Vec<&'static str> {
    let up = flags & IFF_UP != 0;
    let running = flags & IFF_LOWER_UP != 0;
    let mut v = Vec::new();
    if up && !running {
        v.push("NO-CARRIER");
    }
    v.push("BROADCAST");
    if up {
        v.push("UP");
    }
    if running {
        v.push("LOWER_UP");
    }
    v
}

impl Link {
    /// `qdisc`: the root qdisc's kind if the port has one.
    pub fn new(l: &LinkMsg, qdisc: Option<&str>, for_addr: bool) -> Link {
        let up = l.flags & IFF_UP != 0;
        let running = l.flags & IFF_LOWER_UP != 0;
        Link {
            ifindex: l.ifindex,
            ifname: l.name.clone().unwrap_or_default(),
            flags: flag_names(l.flags),
            mtu: l.mtu.unwrap_or(0),
            qdisc: qdisc.unwrap_or("noqueue").to_string(),
            operstate: if up && running { "UP" } else { "DOWN" },
            linkmode: (!for_addr).then_some("DEFAULT"),
            group: "default",
            link_type: "ether",
            address: l.mac.map(|m| m.to_string()).unwrap_or_default(),
            broadcast: "ff:ff:ff:ff:ff:ff",
            stats64: None,
            addr_info: for_addr.then(Vec::new),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MacAddr;

    #[test]
    fn as_ip_prints_them() {
        let l = LinkMsg {
            ifindex: 2,
            flags: IFF_UP | IFF_LOWER_UP | IFF_BROADCAST,
            change: 0,
            name: Some("port1".into()),
            mtu: Some(1280),
            mac: Some(MacAddr([2, 0, 0, 0, 0, 2])),
        };
        assert_eq!(
            serde_json::to_string(&Link::new(&l, None, false)).unwrap(),
            r#"{"ifindex":2,"ifname":"port1","flags":["BROADCAST","UP","LOWER_UP"],"mtu":1280,"qdisc":"noqueue","operstate":"UP","linkmode":"DEFAULT","group":"default","link_type":"ether","address":"02:00:00:00:00:02","broadcast":"ff:ff:ff:ff:ff:ff"}"#
        );
        let down = LinkMsg { flags: IFF_UP, ..l };
        assert_eq!(flag_names(down.flags), ["NO-CARRIER", "BROADCAST", "UP"]);
        let pmd = |name: &str, list: &[(&str, u64)]| PortCounters {
            name: name.into(),
            datapath: Vec::new(),
            pmd: list.iter().map(|(k, v)| Counter::new(*k, *v)).collect(),
        };
        let c = Counters {
            ports: vec![
                pmd(
                    "port1",
                    &[
                        ("ipackets", 5),
                        ("ibytes", 300),
                        ("imissed", 2),
                        ("rx_nombuf", 1),
                    ],
                ),
                pmd("port0", &[("ipackets", 9)]),
            ],
            ..Counters::default()
        };
        let s = Stats64::from_counters(&c, "port1");
        assert_eq!((s.rx.packets, s.rx.bytes, s.rx.dropped), (5, 300, 3));
    }
}
