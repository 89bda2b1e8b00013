//! ARP (RFC 826) for Ethernet hardware addresses and IPv4 protocol addresses only.
//!
//! Field offsets past byte 8 assume hlen = 6 and plen = 4; check
//! [`ArpPacket::is_ethernet_ipv4`] before trusting the address accessors.

use super::ethernet::{Truncated, ETHERTYPE_IPV4};
use super::MacAddr;
use std::net::Ipv4Addr;

/// Length of an Ethernet/IPv4 ARP packet.
pub const LEN: usize = 28;

/// `ar$op` of a request (RFC 826).
pub const OP_REQUEST: u16 = 1;
/// `ar$op` of a reply (RFC 826).
pub const OP_REPLY: u16 = 2;
/// `ar$hrd` for Ethernet (RFC 826; IANA ARP hardware type 1).
pub const HTYPE_ETHERNET: u16 = 1;

mod field {
    pub type Field = core::ops::Range<usize>;

    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
}

const _: () = assert!(LEN == field::TPA.end);

/// A read/write view of an Ethernet/IPv4 ARP packet (RFC 826).
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Same as the module-level [`LEN`].
    pub const LEN: usize = self::LEN;

    /// Wraps `buffer` without checking its length; accessors may panic if it is shorter
    /// than [`Self::LEN`].
    pub fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps `buffer`, which must hold at least 28 bytes (trailing padding is ignored).
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        if buffer.as_ref().len() < Self::LEN {
            return Err(Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// Gives back the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `ar$hrd`: hardware address space (1 = Ethernet).
    pub fn hardware_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::HTYPE)
    }

    /// `ar$pro`: protocol address space, an EtherType (0x0800 = IPv4).
    pub fn protocol_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PTYPE)
    }

    /// `ar$hln`: hardware address length in bytes.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// `ar$pln`: protocol address length in bytes.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// `ar$op`: [`OP_REQUEST`] or [`OP_REPLY`].
    pub fn operation(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OPER)
    }

    /// `ar$sha`: sender hardware address.
    pub fn sender_mac(&self) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::SHA]);
        MacAddr(m)
    }

    /// `ar$spa`: sender protocol address.
    pub fn sender_ip(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::SPA)
    }

    /// `ar$tha`: target hardware address (usually zero in a request).
    pub fn target_mac(&self) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::THA]);
        MacAddr(m)
    }

    /// `ar$tpa`: target protocol address.
    pub fn target_ip(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::TPA)
    }

    /// True when htype = 1, ptype = 0x0800, hlen = 6 and plen = 4: the only layout the
    /// address accessors understand.
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == HTYPE_ETHERNET
            && self.protocol_type() == ETHERTYPE_IPV4
            && self.hardware_len() == 6
            && self.protocol_len() == 4
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets `ar$hrd`.
    pub fn set_hardware_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::HTYPE].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets `ar$pro`.
    pub fn set_protocol_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::PTYPE].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets `ar$hln`.
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }

    /// Sets `ar$pln`.
    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }

    /// Sets `ar$op`.
    pub fn set_operation(&mut self, v: u16) {
        self.buffer.as_mut()[field::OPER].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets `ar$sha`.
    pub fn set_sender_mac(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&mac.0);
    }

    /// Sets `ar$spa`.
    pub fn set_sender_ip(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&ip.octets());
    }

    /// Sets `ar$tha`.
    pub fn set_target_mac(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&mac.0);
    }

    /// Sets `ar$tpa`.
    pub fn set_target_ip(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&ip.octets());
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for ArpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Writes a complete 28-byte Ethernet/IPv4 ARP packet into `buf[..28]` (RFC 826).
/// Bytes past 28 are left untouched. Fails if `buf` is shorter than 28 bytes.
pub fn emit(
    buf: &mut [u8],
    op: u16,
    sender_mac: MacAddr,
    sender_ip: Ipv4Addr,
    target_mac: MacAddr,
    target_ip: Ipv4Addr,
) -> Result<(), Truncated> {
    let mut p = ArpPacket::new_checked(buf)?;
    p.set_hardware_type(HTYPE_ETHERNET);
    p.set_protocol_type(ETHERTYPE_IPV4);
    p.set_hardware_len(6);
    p.set_protocol_len(4);
    p.set_operation(op);
    p.set_sender_mac(sender_mac);
    p.set_sender_ip(sender_ip);
    p.set_target_mac(target_mac);
    p.set_target_ip(target_ip);
    Ok(())
}

fn be16(buf: &[u8], f: field::Field) -> u16 {
    let b = &buf[f];
    u16::from_be_bytes([b[0], b[1]])
}

fn ipv4_at(buf: &[u8], f: field::Field) -> Ipv4Addr {
    let b = &buf[f];
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ARP request "who-has 192.0.2.1 tell 192.0.2.2" as a Linux host sends it
    /// (hand-assembled), with the 18 bytes of zero padding that follow it in a
    /// minimum-size Ethernet frame.
    const REQUEST: [u8; 46] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, //
        0x02, 0xfc, 0x00, 0x00, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x02, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x01, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00,
    ];

    /// The matching reply "192.0.2.1 is-at 02:fc:00:00:00:05".
    const REPLY: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, //
        0x02, 0xfc, 0x00, 0x00, 0x00, 0x05, 0xc0, 0x00, 0x02, 0x01, //
        0x02, 0xfc, 0x00, 0x00, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x02,
    ];

    const HOST_MAC: MacAddr = MacAddr([0x02, 0xfc, 0, 0, 0, 0x01]);
    const GW_MAC: MacAddr = MacAddr([0x02, 0xfc, 0, 0, 0, 0x05]);
    const HOST_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    const GW_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    #[test]
    fn parse_request() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert!(p.is_ethernet_ipv4());
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.protocol_type(), 0x0800);
        assert_eq!(p.hardware_len(), 6);
        assert_eq!(p.protocol_len(), 4);
        assert_eq!(p.operation(), OP_REQUEST);
        assert_eq!(p.sender_mac(), HOST_MAC);
        assert_eq!(p.sender_ip(), HOST_IP);
        assert!(p.target_mac().is_zero());
        assert_eq!(p.target_ip(), GW_IP);
    }

    #[test]
    fn parse_reply() {
        let p = ArpPacket::new_checked(&REPLY[..]).unwrap();
        assert!(p.is_ethernet_ipv4());
        assert_eq!(p.operation(), OP_REPLY);
        assert_eq!(p.sender_mac(), GW_MAC);
        assert_eq!(p.sender_ip(), GW_IP);
        assert_eq!(p.target_mac(), HOST_MAC);
        assert_eq!(p.target_ip(), HOST_IP);
    }

    #[test]
    fn truncated() {
        assert_eq!(ArpPacket::new_checked(&REPLY[..27]).err(), Some(Truncated));
        assert!(ArpPacket::new_checked(&REPLY[..]).is_ok());
        let mut short = [0u8; 27];
        assert_eq!(
            emit(&mut short, OP_REPLY, GW_MAC, GW_IP, HOST_MAC, HOST_IP),
            Err(Truncated)
        );
        assert_eq!(short, [0u8; 27]);
    }

    #[test]
    fn emit_matches_wire() {
        let mut buf = [0xaau8; 28];
        emit(&mut buf, OP_REPLY, GW_MAC, GW_IP, HOST_MAC, HOST_IP).unwrap();
        assert_eq!(buf, REPLY);

        let mut buf = [0u8; 46];
        emit(
            &mut buf,
            OP_REQUEST,
            HOST_MAC,
            HOST_IP,
            MacAddr::ZERO,
            GW_IP,
        )
        .unwrap();
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn emit_leaves_tail() {
        let mut buf = [0x55u8; 30];
        emit(
            &mut buf,
            OP_REQUEST,
            HOST_MAC,
            HOST_IP,
            MacAddr::ZERO,
            GW_IP,
        )
        .unwrap();
        assert_eq!(&buf[28..], &[0x55, 0x55]);
    }

    #[test]
    fn not_ethernet_ipv4() {
        for (i, v) in [(1usize, 0x06u8), (2, 0x86), (4, 8), (5, 16)] {
            let mut b = REPLY;
            b[i] = v;
            assert!(!ArpPacket::new_checked(&b[..]).unwrap().is_ethernet_ipv4());
        }
    }

    #[test]
    fn setters_roundtrip() {
        let mut buf = [0u8; 28];
        let mut p = ArpPacket::new_checked(&mut buf[..]).unwrap();
        p.set_hardware_type(6);
        p.set_protocol_type(0x86dd);
        p.set_hardware_len(8);
        p.set_protocol_len(16);
        p.set_operation(0x1234);
        p.set_sender_mac(GW_MAC);
        p.set_sender_ip(GW_IP);
        p.set_target_mac(MacAddr::BROADCAST);
        p.set_target_ip(Ipv4Addr::BROADCAST);
        assert_eq!(p.hardware_type(), 6);
        assert_eq!(p.protocol_type(), 0x86dd);
        assert_eq!(p.hardware_len(), 8);
        assert_eq!(p.protocol_len(), 16);
        assert_eq!(p.operation(), 0x1234);
        assert_eq!(p.sender_mac(), GW_MAC);
        assert_eq!(p.sender_ip(), GW_IP);
        assert_eq!(p.target_mac(), MacAddr::BROADCAST);
        assert_eq!(p.target_ip(), Ipv4Addr::BROADCAST);
        assert!(!p.is_ethernet_ipv4());
        assert_eq!(&buf[..8], &[0, 6, 0x86, 0xdd, 8, 16, 0x12, 0x34]);
    }
}
