//! ICMP for IPv4 (RFC 792), with the Next-Hop MTU of RFC 1191.
//!
//! The view covers the whole ICMP message: the 8-byte header (type, code, checksum and
//! the 4-byte "rest of header") followed by the data. The checksum covers every byte of
//! the buffer, so wrap exactly the ICMP message (e.g. [`super::ipv4::Ipv4Packet::payload`]).

use super::checksum;
use super::ethernet::Truncated;

/// Length of the ICMP header, including the 4-byte rest of header.
pub const HEADER_LEN: usize = 8;

/// Echo Reply (RFC 792).
pub const ECHO_REPLY: u8 = 0;
/// Destination Unreachable (RFC 792).
pub const DEST_UNREACHABLE: u8 = 3;
/// Source Quench (RFC 792; deprecated by RFC 6633).
pub const SOURCE_QUENCH: u8 = 4;
/// Redirect (RFC 792).
pub const REDIRECT: u8 = 5;
/// Echo Request (RFC 792).
pub const ECHO_REQUEST: u8 = 8;
/// Router Advertisement (RFC 1256).
pub const ROUTER_ADVERT: u8 = 9;
/// Router Solicitation (RFC 1256).
pub const ROUTER_SOLICIT: u8 = 10;
/// Time Exceeded (RFC 792).
pub const TIME_EXCEEDED: u8 = 11;
/// Parameter Problem (RFC 792).
pub const PARAM_PROBLEM: u8 = 12;
/// Timestamp (RFC 792).
pub const TIMESTAMP: u8 = 13;
/// Timestamp Reply (RFC 792).
pub const TIMESTAMP_REPLY: u8 = 14;

/// Destination Unreachable code: net unreachable (RFC 792).
pub const NET_UNREACHABLE: u8 = 0;
/// Destination Unreachable code: host unreachable (RFC 792).
pub const HOST_UNREACHABLE: u8 = 1;
/// Destination Unreachable code: protocol unreachable (RFC 792).
pub const PROTO_UNREACHABLE: u8 = 2;
/// Destination Unreachable code: port unreachable (RFC 792).
pub const PORT_UNREACHABLE: u8 = 3;
/// Destination Unreachable code: fragmentation needed and DF set (RFC 792, RFC 1191).
pub const FRAG_NEEDED: u8 = 4;
/// Destination Unreachable code: destination network administratively prohibited
/// (RFC 1122 §3.2.2.1).
pub const NET_PROHIBITED: u8 = 9;
/// Destination Unreachable code: destination host administratively prohibited
/// (RFC 1122 §3.2.2.1).
pub const HOST_PROHIBITED: u8 = 10;
/// Destination Unreachable code: communication administratively prohibited
/// (RFC 1812 §5.2.7.1).
pub const ADMIN_PROHIBITED: u8 = 13;

/// Time Exceeded code: TTL exceeded in transit (RFC 792).
pub const TTL_EXCEEDED: u8 = 0;
/// Time Exceeded code: fragment reassembly time exceeded (RFC 792).
pub const REASSEMBLY_TIMEOUT: u8 = 1;

/// True for ICMP error messages (Destination Unreachable, Source Quench, Redirect, Time
/// Exceeded, Parameter Problem). A router must not send an ICMP error about one of
/// these (RFC 1812 §4.3.2.7, RFC 1122 §3.2.2). Queries and unknown types are not errors.
pub fn is_error(msg_type: u8) -> bool {
    matches!(
        msg_type,
        DEST_UNREACHABLE | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAM_PROBLEM
    )
}

mod field {
    pub type Field = core::ops::Range<usize>;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// The 4-byte type-specific "rest of header".
    pub const REST: Field = 4..8;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQ: Field = 6..8;
    /// Next-Hop MTU of a Fragmentation Needed message (RFC 1191 §4).
    pub const NEXT_HOP_MTU: Field = 6..8;
    pub const DATA: usize = super::HEADER_LEN;
}

/// A read/write view of an ICMPv4 message (RFC 792).
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Same as the module-level [`HEADER_LEN`].
    pub const HEADER_LEN: usize = self::HEADER_LEN;

    /// Wraps `buffer` without checking its length; accessors may panic if it is shorter
    /// than [`Self::HEADER_LEN`].
    pub fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wraps `buffer`, which must hold at least the 8-byte header.
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

    /// Type, e.g. [`ECHO_REQUEST`].
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Code, meaning depends on the type (e.g. [`FRAG_NEEDED`]).
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        self.be16(field::CHECKSUM)
    }

    /// Identifier of an Echo / Echo Reply (also Timestamp, Information) message.
    pub fn echo_ident(&self) -> u16 {
        self.be16(field::ECHO_IDENT)
    }

    /// Sequence Number of an Echo / Echo Reply (also Timestamp, Information) message.
    pub fn echo_seq(&self) -> u16 {
        self.be16(field::ECHO_SEQ)
    }

    /// Next-Hop MTU of a Destination Unreachable / Fragmentation Needed message
    /// (RFC 1191 §4); 0 from pre-RFC 1191 routers.
    pub fn next_hop_mtu(&self) -> u16 {
        self.be16(field::NEXT_HOP_MTU)
    }

    /// The whole 4-byte rest of header (bytes 4..8) as a host-order integer; zero
    /// ("unused") for Time Exceeded, the gateway address for Redirect, the pointer in
    /// the high byte for Parameter Problem.
    pub fn rest_of_header(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::REST];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Data after the 8-byte header (echo payload, or the invoking datagram's IP header
    /// plus leading data bytes in an error message).
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// True if the checksum over the whole buffer is correct (RFC 792, RFC 1071).
    pub fn verify_checksum(&self) -> bool {
        checksum::folded_sum(self.buffer.as_ref()) == 0xffff
    }

    fn be16(&self, f: field::Field) -> u16 {
        let b = &self.buffer.as_ref()[f];
        u16::from_be_bytes([b[0], b[1]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets Type.
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Sets Code.
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Stores `v` as the checksum.
    pub fn set_checksum(&mut self, v: u16) {
        self.set_be16(field::CHECKSUM, v);
    }

    /// Sets the Echo Identifier.
    pub fn set_echo_ident(&mut self, v: u16) {
        self.set_be16(field::ECHO_IDENT, v);
    }

    /// Sets the Echo Sequence Number.
    pub fn set_echo_seq(&mut self, v: u16) {
        self.set_be16(field::ECHO_SEQ, v);
    }

    /// Sets the Next-Hop MTU (bytes 6..8, RFC 1191). Bytes 4..6 are left as they are;
    /// RFC 1191 requires them to be zero, so clear them with
    /// [`Self::set_rest_of_header`] first when building from a dirty buffer.
    pub fn set_next_hop_mtu(&mut self, v: u16) {
        self.set_be16(field::NEXT_HOP_MTU, v);
    }

    /// Sets the whole 4-byte rest of header.
    pub fn set_rest_of_header(&mut self, v: u32) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&v.to_be_bytes());
    }

    /// Mutable data after the 8-byte header.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Computes and stores the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_be16(field::CHECKSUM, 0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_be16(field::CHECKSUM, c);
    }

    fn set_be16(&mut self, f: field::Field, v: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&v.to_be_bytes());
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Icmpv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::{Ipv4Packet, PROTO_ICMP, PROTO_UDP};

    /// Captured on `lo` (`ping -c1 127.0.0.1`, Linux iputils): ICMP echo request, id
    /// 0x20e3, seq 1, 8-byte timestamp then bytes 0x10..=0x37; checksum 0x864d.
    const ECHO_REQ: [u8; 64] = [
        0x08, 0x00, 0x86, 0x4d, 0x20, 0xe3, 0x00, 0x01, //
        0x64, 0x8b, 0x01, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x23, 0x05, 0x09, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
        0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c,
        0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    ];

    /// The kernel's reply to it, captured alongside: type 0, checksum 0x8e4d.
    const ECHO_REPLY_CAPTURED: [u8; 8] = [0x00, 0x00, 0x8e, 0x4d, 0x20, 0xe3, 0x00, 0x01];

    #[test]
    fn parse_captured_echo_request() {
        let p = Icmpv4Packet::new_checked(&ECHO_REQ[..]).unwrap();
        assert_eq!(p.msg_type(), ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.checksum(), 0x864d);
        assert_eq!(p.echo_ident(), 0x20e3);
        assert_eq!(p.echo_seq(), 1);
        assert_eq!(p.rest_of_header(), 0x20e3_0001);
        assert_eq!(p.data().len(), 56);
        assert_eq!(p.data()[16..], (0x10u8..=0x37).collect::<Vec<_>>()[..]);
        assert!(p.verify_checksum());
        assert!(!is_error(p.msg_type()));
    }

    #[test]
    fn echo_reply_in_place() {
        // What a router answering a ping does: flip the type, recompute, compare with the
        // reply the Linux kernel actually sent.
        let mut b = ECHO_REQ;
        let mut p = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_msg_type(ECHO_REPLY);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(&b[..8], &ECHO_REPLY_CAPTURED);
        assert_eq!(&b[8..], &ECHO_REQ[8..]);
    }

    #[test]
    fn bad_checksum_detected() {
        let mut b = ECHO_REQ;
        b[63] ^= 0x01;
        assert!(!Icmpv4Packet::new_checked(&b[..]).unwrap().verify_checksum());
        let mut b = ECHO_REQ;
        b[2] ^= 0x80;
        assert!(!Icmpv4Packet::new_checked(&b[..]).unwrap().verify_checksum());
    }

    #[test]
    fn odd_length_checksum() {
        let mut b = [0u8; 13];
        let mut p = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_msg_type(ECHO_REQUEST);
        p.set_echo_ident(0x1234);
        p.set_echo_seq(7);
        p.data_mut().copy_from_slice(b"hello");
        p.fill_checksum();
        assert!(p.verify_checksum());
    }

    #[test]
    fn truncated() {
        assert_eq!(
            Icmpv4Packet::new_checked(&ECHO_REQ[..7]).err(),
            Some(Truncated)
        );
        let p = Icmpv4Packet::new_checked(&ECHO_REQ[..8]).unwrap();
        assert!(p.data().is_empty());
        assert_eq!(p.echo_seq(), 1);
    }

    #[test]
    fn build_frag_needed() {
        // Destination Unreachable / Fragmentation Needed for a 1500-byte UDP datagram,
        // quoting its 20-byte header and first 8 data bytes (RFC 792, RFC 1812 §4.3.2.3).
        let mut inner = [0u8; 28];
        {
            let mut ip = Ipv4Packet::new_checked(&mut inner[..]).unwrap();
            ip.set_version_ihl(4, 5);
            ip.set_total_len(1500);
            ip.set_frag(true, false, 0);
            ip.set_ttl(63);
            ip.set_protocol(PROTO_UDP);
            ip.set_src_addr([198, 51, 100, 7].into());
            ip.set_dst_addr([203, 0, 113, 9].into());
            ip.fill_checksum();
        }
        inner[20..].copy_from_slice(&[0x9c, 0x40, 0x00, 0x35, 0x05, 0xc8, 0x00, 0x00]);

        let mut b = [0xffu8; 8 + 28];
        let mut p = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_msg_type(DEST_UNREACHABLE);
        p.set_code(FRAG_NEEDED);
        p.set_rest_of_header(0);
        p.set_next_hop_mtu(1400);
        p.data_mut().copy_from_slice(&inner);
        p.fill_checksum();

        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert!(is_error(p.msg_type()));
        assert_eq!(p.code(), FRAG_NEEDED);
        assert_eq!(p.next_hop_mtu(), 1400);
        assert_eq!(p.rest_of_header(), 1400);
        assert!(p.verify_checksum());
        let quoted = Ipv4Packet::new_checked(p.data()).unwrap();
        assert_eq!(quoted.total_len(), 1500);
        assert!(quoted.verify_checksum());
        assert_eq!(&b[..2], &[3, 4]);
        assert_eq!(&b[4..8], &[0, 0, 0x05, 0x78]);
    }

    #[test]
    fn time_exceeded_inside_ipv4() {
        // A full IPv4 + ICMP Time Exceeded quoting the captured echo request's header.
        let mut pkt = [0u8; 20 + 8 + 28];
        let mut ip = Ipv4Packet::new_checked(&mut pkt[..]).unwrap();
        ip.set_version_ihl(4, 5);
        ip.set_total_len(56);
        ip.set_ttl(64);
        ip.set_protocol(PROTO_ICMP);
        ip.set_src_addr([192, 0, 2, 1].into());
        ip.set_dst_addr([127, 0, 0, 1].into());
        ip.fill_checksum();
        let mut icmp = Icmpv4Packet::new_checked(ip.payload_mut()).unwrap();
        icmp.set_msg_type(TIME_EXCEEDED);
        icmp.set_code(TTL_EXCEEDED);
        icmp.set_rest_of_header(0);
        icmp.data_mut()[..20].copy_from_slice(&[
            0x45, 0x00, 0x00, 0x54, 0xa0, 0x27, 0x40, 0x00, 0x01, 0x01, 0xdb, 0x7f, 0x7f, 0x00,
            0x00, 0x01, 0x7f, 0x00, 0x00, 0x01,
        ]);
        icmp.data_mut()[20..].copy_from_slice(&ECHO_REQ[..8]);
        icmp.fill_checksum();

        let ip = Ipv4Packet::new_checked(&pkt[..]).unwrap();
        assert!(ip.verify_checksum());
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.msg_type(), TIME_EXCEEDED);
        assert_eq!(icmp.code(), TTL_EXCEEDED);
        let quoted = Ipv4Packet::new_checked(icmp.data()).unwrap();
        assert_eq!(quoted.ttl(), 1);
        assert!(quoted.verify_checksum());
        let quoted_icmp = Icmpv4Packet::new_checked(quoted.payload()).unwrap();
        assert_eq!(quoted_icmp.echo_ident(), 0x20e3);
    }

    #[test]
    fn error_types() {
        for t in 0..=255u8 {
            let expect = matches!(t, 3 | 4 | 5 | 11 | 12);
            assert_eq!(is_error(t), expect, "type {t}");
        }
        for t in [
            ECHO_REPLY,
            ECHO_REQUEST,
            ROUTER_ADVERT,
            ROUTER_SOLICIT,
            TIMESTAMP,
            TIMESTAMP_REPLY,
        ] {
            assert!(!is_error(t));
        }
        for t in [
            DEST_UNREACHABLE,
            SOURCE_QUENCH,
            REDIRECT,
            TIME_EXCEEDED,
            PARAM_PROBLEM,
        ] {
            assert!(is_error(t));
        }
    }

    #[test]
    fn setters_roundtrip() {
        let mut b = [0u8; 8];
        let mut p = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_rest_of_header(0xc000_0201);
        assert_eq!(p.rest_of_header(), 0xc000_0201);
        assert_eq!(p.echo_ident(), 0xc000);
        assert_eq!(p.echo_seq(), 0x0201);
        p.set_checksum(0xbeef);
        assert_eq!(p.checksum(), 0xbeef);
        p.set_echo_ident(0x0102);
        p.set_echo_seq(0x0304);
        assert_eq!(p.into_inner(), &[0, 0, 0xbe, 0xef, 1, 2, 3, 4]);
    }
}
