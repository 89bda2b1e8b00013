//! A neighbour as `ip -j neigh` prints it (iproute2 `print_neigh`).
use crate::api::*;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Neigh {
    pub dst: String,
    pub dev: String,
    /// Absent while unresolved (INCOMPLETE, FAILED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lladdr: Option<String>,
    /// `-s` only (`ip -s neigh`); ferroute keeps no used/confirmed/updated times.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<u32>,
    /// The NUD state bits by name, as a list.
    pub state: Vec<String>,
}

/// The state's bits by name in capitals, in bit order (ip prints every bit set).
pub fn nud_names(s: Nud) -> Vec<String> {
    let bits = u16::from(s);
    let v: Vec<String> = (0..16)
        .map(|b| 1u16 << b)
        .filter(|bit| bits & bit != 0)
        .filter_map(|bit| Nud::from(bit).name())
        .map(str::to_uppercase)
        .collect();
    if v.is_empty() {
        vec!["NONE".into()]
    } else {
        v
    }
}

impl Neigh {
    pub fn new(n: &NeighMsg, dev: String, stats: bool) -> Neigh {
        Neigh {
            dst: n.dst.map_or_else(String::new, |d| d.to_string()),
            dev,
            lladdr: n.lladdr.map(|m| m.to_string()),
            probes: if stats { n.probes.or(Some(0)) } else { None },
            state: nud_names(n.state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MacAddr;
    use std::net::Ipv4Addr;

    #[test]
    fn as_ip_prints_them() {
        let n = NeighMsg {
            ifindex: 2,
            state: Nud::Permanent,
            dst: Some(Ipv4Addr::new(10, 0, 2, 7)),
            lladdr: Some(MacAddr([2, 0, 0, 0, 2, 7])),
            probes: Some(0),
        };
        assert_eq!(
            serde_json::to_string(&Neigh::new(&n, "port1".into(), false)).unwrap(),
            r#"{"dst":"10.0.2.7","dev":"port1","lladdr":"02:00:00:00:02:07","state":["PERMANENT"]}"#
        );
        let inc = NeighMsg {
            state: Nud::Incomplete,
            lladdr: None,
            ..n
        };
        assert_eq!(
            serde_json::to_string(&Neigh::new(&inc, "port1".into(), true)).unwrap(),
            r#"{"dst":"10.0.2.7","dev":"port1","probes":0,"state":["INCOMPLETE"]}"#
        );
    }
}
