//! Value types and parsers the sections share: integers, tc units, prefixes, addresses, MACs.

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::wire::MacAddr;

/// An integer as TOML gives it (`i64`), range-checked later with a precise message.
#[derive(Debug, Clone, Copy)]
pub(super) struct Int(pub(super) i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IntVisitor;
        impl Visitor<'_> for IntVisitor {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format!("integer {v} is too large")))
            }
        }
        d.deserialize_i64(IntVisitor)
    }
}

/// A value with a tc unit (`"20mbit"`), or a bare number in tc's default unit.
#[derive(Debug, Clone)]
pub(super) struct UnitText(pub(super) String);

impl<'de> Deserialize<'de> for UnitText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct UnitVisitor;
        impl Visitor<'_> for UnitVisitor {
            type Value = UnitText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a string with a tc unit (e.g. \"20mbit\", \"32kb\", \"50ms\") or a number",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UnitText, E> {
                Ok(UnitText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<UnitText, E> {
                Ok(UnitText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<UnitText, E> {
                Ok(UnitText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<UnitText, E> {
                Ok(UnitText(v.to_string()))
            }
        }
        d.deserialize_any(UnitVisitor)
    }
}

/// Parses `a.b.c.d/len` with `len` in `min_len..=32`.
pub(super) fn parse_net(s: &str, min_len: u8) -> Result<Ipv4Net, String> {
    let Some((addr, len)) = s.trim().split_once('/') else {
        return Err(format!(
            "{s:?} is not of the form a.b.c.d/prefix-length (e.g. \"10.0.1.1/24\")"
        ));
    };
    let addr: Ipv4Addr = addr
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: {addr:?} is not an IPv4 address"))?;
    let len: u8 = len
        .trim()
        .parse()
        .ok()
        .filter(|l| (min_len..=32).contains(l))
        .ok_or_else(|| format!("{s:?}: prefix length must be {min_len}..=32"))?;
    Ipv4Net::new(addr, len).map_err(|e| format!("{s:?}: {e}"))
}

pub(super) fn parse_addr(s: &str) -> Result<Ipv4Addr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IPv4 address (a.b.c.d)"))
}

/// A unicast, non-zero MAC address.
pub(super) fn parse_unicast_mac(s: &str) -> Result<MacAddr, String> {
    let mac: MacAddr = s.trim().parse().map_err(|e| format!("{e}"))?;
    if mac.is_zero() {
        Err(format!("{mac} is the all-zero address"))
    } else if mac.is_multicast() {
        Err(format!(
            "{mac} is a multicast address (least significant bit of the first octet set)"
        ))
    } else {
        Ok(mac)
    }
}

/// Why `addr` cannot be a host on `net` (the network or broadcast address of a subnet of
/// 4 or more addresses), if so.
pub(super) fn reserved_host(addr: Ipv4Addr, net: &Ipv4Net) -> Option<&'static str> {
    if net.prefix_len() > 30 {
        None
    } else if addr == net.network() {
        Some("network")
    } else if addr == net.broadcast() {
        Some("broadcast")
    } else {
        None
    }
}
