//! Ethernet II frames (IEEE 802.3 with an EtherType, RFC 894). The FCS is not included:
//! NICs strip it on receive and append it on transmit.

use super::MacAddr;
use std::fmt;

/// A buffer was too short for the header of the format being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl fmt::Display for Truncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("buffer too short for header")
    }
}

impl std::error::Error for Truncated {}

/// Length of the Ethernet II header: destination, source, EtherType.
pub const HEADER_LEN: usize = 14;

/// EtherType of IPv4 (RFC 894).
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP (RFC 826).
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType (TPID) of an IEEE 802.1Q VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// EtherType of IPv6 (RFC 2464).
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

mod field {
    pub type Field = core::ops::Range<usize>;

    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: usize = super::HEADER_LEN;
}

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Same as the module-level [`HEADER_LEN`].
    pub const HEADER_LEN: usize = self::HEADER_LEN;

    /// Wraps `buffer` without checking its length; accessors may panic if it is shorter
    /// than [`Self::HEADER_LEN`].
    pub fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps `buffer`, which must hold at least the 14-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        if buffer.as_ref().len() < Self::HEADER_LEN {
            return Err(Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// Gives back the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC address.
    pub fn dst(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::DST)
    }

    /// Source MAC address.
    pub fn src(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::SRC)
    }

    /// EtherType (or 802.1Q TPID when the frame is VLAN-tagged).
    pub fn ethertype(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Everything after the 14-byte header, including any padding to the 60-byte minimum.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC address.
    pub fn set_dst(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&mac.0);
    }

    /// Sets the source MAC address.
    pub fn set_src(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&mac.0);
    }

    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, ethertype: u16) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&ethertype.to_be_bytes());
    }

    /// Mutable view of everything after the 14-byte header.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for EthernetFrame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

fn mac_at(buf: &[u8], f: field::Field) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&buf[f]);
    MacAddr(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ARP request "who-has 192.0.2.1 tell 192.0.2.2" as a Linux host sends it
    /// (hand-assembled, not captured), zero-padded to the 60-byte minimum frame.
    const ARP_FRAME: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0xfc, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, //
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, //
        0x02, 0xfc, 0x00, 0x00, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x02, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x01, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00,
    ];

    /// Captured on `lo`: the first 34 bytes (Ethernet + IPv4 header) of an ICMP echo
    /// request 127.0.0.1 -> 127.0.0.1 (loopback uses all-zero MACs).
    const LO_FRAME_HEAD: [u8; 34] = [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, //
        0x45, 0x00, 0x00, 0x54, 0xa0, 0x27, 0x40, 0x00, 0x40, 0x01, 0x9c, 0x7f, 0x7f, 0x00, 0x00,
        0x01, 0x7f, 0x00, 0x00, 0x01,
    ];

    #[test]
    fn parse_arp_frame() {
        let f = EthernetFrame::new_checked(&ARP_FRAME[..]).unwrap();
        assert!(f.dst().is_broadcast());
        assert_eq!(f.src(), MacAddr([0x02, 0xfc, 0, 0, 0, 0x01]));
        assert_eq!(f.ethertype(), ETHERTYPE_ARP);
        assert_eq!(f.payload().len(), 46);
        assert_eq!(&f.payload()[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
    }

    #[test]
    fn parse_loopback_ipv4_frame() {
        let f = EthernetFrame::new_checked(&LO_FRAME_HEAD[..]).unwrap();
        assert!(f.dst().is_zero() && f.src().is_zero());
        assert_eq!(f.ethertype(), ETHERTYPE_IPV4);
        assert_eq!(f.payload()[0], 0x45);
        assert_eq!(f.payload().len(), 20);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            EthernetFrame::new_checked(&ARP_FRAME[..13]).err(),
            Some(Truncated)
        );
        assert!(EthernetFrame::new_checked(&[][..]).is_err());
        // Exactly a header: empty payload, accessors fine.
        let f = EthernetFrame::new_checked(&ARP_FRAME[..14]).unwrap();
        assert_eq!(f.ethertype(), ETHERTYPE_ARP);
        assert!(f.payload().is_empty());
    }

    #[test]
    fn build_frame() {
        let mut buf = [0u8; 18];
        let mut f = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        f.set_dst(MacAddr([1, 2, 3, 4, 5, 6]));
        f.set_src(MacAddr([0xa, 0xb, 0xc, 0xd, 0xe, 0xf]));
        f.set_ethertype(ETHERTYPE_IPV6);
        f.payload_mut().copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(f.dst(), MacAddr([1, 2, 3, 4, 5, 6]));
        assert_eq!(f.ethertype(), ETHERTYPE_IPV6);
        assert_eq!(
            buf,
            [1, 2, 3, 4, 5, 6, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x86, 0xdd, 0xde, 0xad, 0xbe, 0xef]
        );
    }

    #[test]
    fn rewrite_in_place() {
        let mut v = ARP_FRAME.to_vec();
        let mut f = EthernetFrame::new_checked(&mut v).unwrap();
        f.set_ethertype(ETHERTYPE_VLAN);
        f.set_dst(MacAddr([0x02, 0xfc, 0, 0, 0, 0x05]));
        let v = f.into_inner();
        assert_eq!(&v[..6], &[0x02, 0xfc, 0, 0, 0, 0x05]);
        assert_eq!(&v[12..14], &[0x81, 0x00]);
        assert_eq!(&v[14..], &ARP_FRAME[14..]);
    }

    #[test]
    fn truncated_is_error() {
        let e: Box<dyn std::error::Error> = Box::new(Truncated);
        assert_eq!(e.to_string(), "buffer too short for header");
    }
}
