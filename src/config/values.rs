//! Value types and parsers the sections share: integers, tc units, prefixes, addresses, MACs.

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::wire::{MacAddr, MacParseError};

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

/// A prefix, address or MAC that does not parse or is not allowed where it is given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ValueError {
    /// No `/` in a prefix.
    #[error("{0:?} is not of the form a.b.c.d/prefix-length (e.g. \"10.0.1.1/24\")")]
    NotAPrefix(String),
    /// The address part of a prefix.
    #[error("{text:?}: {addr:?} is not an IPv4 address")]
    PrefixAddress { text: String, addr: String },
    /// The length part of a prefix.
    #[error("{text:?}: prefix length must be {min_len}..=32")]
    PrefixLength { text: String, min_len: u8 },
    /// ipnet's own refusal of a prefix.
    #[error("{text:?}: {source}")]
    Prefix {
        text: String,
        source: ipnet::PrefixLenError,
    },
    /// An address.
    #[error("{0:?} is not an IPv4 address (a.b.c.d)")]
    Address(String),
    /// A MAC that does not parse.
    #[error(transparent)]
    Mac(#[from] MacParseError),
    /// The all-zero MAC.
    #[error("{0} is the all-zero address")]
    ZeroMac(MacAddr),
    /// A multicast MAC where a unicast one is needed.
    #[error("{0} is a multicast address (least significant bit of the first octet set)")]
    MulticastMac(MacAddr),
}

/// The sections put a refused value into [`super::ConfigError`] as its message text.
impl From<ValueError> for String {
    fn from(e: ValueError) -> String {
        e.to_string()
    }
}

/// Parses `a.b.c.d/len` with `len` in `min_len..=32`.
pub(super) fn parse_net(s: &str, min_len: u8) -> Result<Ipv4Net, ValueError> {
    let Some((addr, len)) = s.trim().split_once('/') else {
        return Err(ValueError::NotAPrefix(s.to_string()));
    };
    let Ok(ip) = addr.trim().parse::<Ipv4Addr>() else {
        return Err(ValueError::PrefixAddress {
            text: s.to_string(),
            addr: addr.to_string(),
        });
    };
    let len: u8 = len
        .trim()
        .parse()
        .ok()
        .filter(|l| (min_len..=32).contains(l))
        .ok_or_else(|| ValueError::PrefixLength {
            text: s.to_string(),
            min_len,
        })?;
    Ipv4Net::new(ip, len).map_err(|source| ValueError::Prefix {
        text: s.to_string(),
        source,
    })
}

pub(super) fn parse_addr(s: &str) -> Result<Ipv4Addr, ValueError> {
    s.trim()
        .parse()
        .map_err(|_| ValueError::Address(s.to_string()))
}

/// A unicast, non-zero MAC address.
pub(super) fn parse_unicast_mac(s: &str) -> Result<MacAddr, ValueError> {
    let mac: MacAddr = s.trim().parse()?;
    if mac.is_zero() {
        Err(ValueError::ZeroMac(mac))
    } else if mac.is_multicast() {
        Err(ValueError::MulticastMac(mac))
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
