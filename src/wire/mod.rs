//! Zero-copy views over packet bytes, in the style of smoltcp: `Packet<T: AsRef<[u8]>>`
//! wrappers whose `new_checked` makes every later accessor panic-free.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod ipv4;
pub mod tcp;

use std::fmt;
use std::str::FromStr;

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }
    /// Group bit (I/G) set: multicast or broadcast.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?} (expected six hex octets separated by ':')")]
pub struct MacParseError(pub String);

impl FromStr for MacAddr {
    type Err = MacParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for b in out.iter_mut() {
            let p = parts.next().ok_or_else(|| MacParseError(s.into()))?;
            if p.is_empty() || p.len() > 2 {
                return Err(MacParseError(s.into()));
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| MacParseError(s.into()))?;
        }
        if parts.next().is_some() {
            return Err(MacParseError(s.into()));
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parse_and_print() {
        let m: MacAddr = "02:00:5e:10:00:01".parse().unwrap();
        assert_eq!(m.0, [2, 0, 0x5e, 0x10, 0, 1]);
        assert_eq!(m.to_string(), "02:00:5e:10:00:01");
        assert!("02:00:5e:10:00".parse::<MacAddr>().is_err());
        assert!("02:00:5e:10:00:01:02".parse::<MacAddr>().is_err());
        assert!("zz:00:5e:10:00:01".parse::<MacAddr>().is_err());
        assert!(MacAddr::BROADCAST.is_multicast() && MacAddr::BROADCAST.is_broadcast());
    }
}
