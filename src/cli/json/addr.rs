//! An address as `ip -j addr` prints it in `addr_info` (iproute2 `print_addrinfo`).
use crate::api::*;
use serde::Serialize;
use std::net::Ipv4Addr;

/// Lifetimes of a permanent address (INFINITY_LIFE_TIME).
pub const FOREVER: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddrInfo {
    pub family: &'static str,
    pub local: String,
    pub prefixlen: u8,
    /// The subnet's broadcast address, for prefixes up to /30 (ferroute always sets
    /// it, as `ip addr add ... brd +`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<String>,
    pub scope: &'static str,
    /// A further address in a subnet the port already has an address in.
    #[serde(skip_serializing_if = "super::is_false")]
    pub secondary: bool,
    pub label: String,
    pub valid_life_time: u32,
    pub preferred_life_time: u32,
}

pub fn broadcast(ip: Ipv4Addr, len: u8) -> Option<Ipv4Addr> {
    let net = ipnet::Ipv4Net::new(ip, len).ok()?;
    (len <= 30).then(|| net.broadcast())
}

impl AddrInfo {
    /// The addresses of one port, primaries first and then secondaries, each in its
    /// order: an address in the subnet of an earlier one is `secondary`, and listed
    /// after the primaries, as Linux keeps them.
    pub fn of_port(addrs: &[&AddrMsg], label: &str) -> Vec<AddrInfo> {
        let mut seen: Vec<ipnet::Ipv4Net> = Vec::new();
        let mut out = Vec::new();
        for a in addrs {
            let Some(ip) = a.local else { continue };
            let net = ipnet::Ipv4Net::new(ip, a.prefix_len)
                .map(|n| n.trunc())
                .ok();
            let secondary = net.is_some_and(|n| seen.contains(&n));
            if let Some(n) = net {
                seen.push(n);
            }
            out.push(AddrInfo {
                family: "inet",
                local: ip.to_string(),
                prefixlen: a.prefix_len,
                broadcast: broadcast(ip, a.prefix_len).map(|b| b.to_string()),
                scope: "global",
                secondary,
                label: a.label.clone().unwrap_or_else(|| label.to_string()),
                valid_life_time: FOREVER,
                preferred_life_time: FOREVER,
            });
        }
        out.sort_by_key(|a| a.secondary);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(ip: [u8; 4], len: u8) -> AddrMsg {
        AddrMsg {
            ifindex: 1,
            prefix_len: len,
            local: Some(Ipv4Addr::from(ip)),
            label: None,
        }
    }

    #[test]
    fn as_ip_prints_them() {
        let (p, s, h) = (
            a([10, 0, 1, 1], 24),
            a([10, 0, 1, 5], 24),
            a([10, 0, 3, 1], 32),
        );
        let v = AddrInfo::of_port(&[&p, &s, &h], "port0");
        assert_eq!(v[1].local, "10.0.3.1", "secondaries after the primaries");
        let v = [v[0].clone(), v[2].clone(), v[1].clone()];
        assert_eq!(
            serde_json::to_string(&v[0]).unwrap(),
            r#"{"family":"inet","local":"10.0.1.1","prefixlen":24,"broadcast":"10.0.1.255","scope":"global","label":"port0","valid_life_time":4294967295,"preferred_life_time":4294967295}"#
        );
        assert!(v[1].secondary && !v[2].secondary);
        assert_eq!(v[2].broadcast, None);
    }
}
