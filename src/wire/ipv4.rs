//! IPv4 packets (RFC 791).
//!
//! [`Ipv4Packet::new_checked`] only guarantees the 20-byte fixed header; IHL, total length
//! and checksum are left for the datapath to validate in its own order (RFC 1812 §5.2.2).
//! Accessors that depend on IHL or total length clamp to the buffer instead of panicking.

use super::checksum;
use super::ethernet::Truncated;
use std::net::Ipv4Addr;

/// Length of a header without options (IHL = 5).
pub const MIN_HEADER_LEN: usize = 20;

/// Protocol number of ICMP (RFC 792).
pub const PROTO_ICMP: u8 = 1;
/// Protocol number of TCP (RFC 793).
pub const PROTO_TCP: u8 = 6;
/// Protocol number of UDP (RFC 768).
pub const PROTO_UDP: u8 = 17;

mod field {
    pub type Field = core::ops::Range<usize>;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    /// TTL and protocol share this 16-bit word; used for the incremental update.
    pub const TTL_PROTO: Field = 8..10;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

const _: () = assert!(MIN_HEADER_LEN == field::DST_ADDR.end);

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 packet (RFC 791 §3.1).
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Same as the module-level [`MIN_HEADER_LEN`].
    pub const MIN_HEADER_LEN: usize = self::MIN_HEADER_LEN;

    /// Wraps `buffer` without checking its length; accessors may panic if it is shorter
    /// than [`Self::MIN_HEADER_LEN`].
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps `buffer`, which must hold at least the 20-byte fixed header. Version, IHL,
    /// total length and checksum are deliberately not checked here.
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        if buffer.as_ref().len() < Self::MIN_HEADER_LEN {
            return Err(Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// Gives back the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version field (4 for IPv4).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Internet Header Length in 32-bit words (5..=15 when valid).
    pub fn ihl(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] & 0x0f
    }

    /// Header length in bytes: `ihl() * 4`. Not checked against the buffer.
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }

    /// The former TOS byte: DSCP (high 6 bits) and ECN (low 2 bits), RFC 2474 / RFC 3168.
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Total Length: header plus data, in bytes. Not checked against the buffer.
    pub fn total_len(&self) -> u16 {
        self.be16(field::LENGTH)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        self.be16(field::IDENT)
    }

    /// DF flag: don't fragment.
    pub fn dont_frag(&self) -> bool {
        self.be16(field::FLG_OFF) & FLAG_DF != 0
    }

    /// MF flag: more fragments follow.
    pub fn more_frags(&self) -> bool {
        self.be16(field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the 13-bit field times 8).
    pub fn frag_offset(&self) -> u16 {
        (self.be16(field::FLG_OFF) & OFFSET_MASK) * 8
    }

    /// Time to Live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload, e.g. [`PROTO_ICMP`].
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header Checksum as stored.
    pub fn header_checksum(&self) -> u16 {
        self.be16(field::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src_u32())
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst_u32())
    }

    /// Source address as a host-order integer.
    pub fn src_u32(&self) -> u32 {
        self.be32(field::SRC_ADDR)
    }

    /// Destination address as a host-order integer.
    pub fn dst_u32(&self) -> u32 {
        self.be32(field::DST_ADDR)
    }

    /// True if the header checksum over `header_len()` bytes is correct (RFC 791, RFC 1071).
    /// False if the buffer is shorter than `header_len()` or IHL is below 5.
    pub fn verify_checksum(&self) -> bool {
        let buf = self.buffer.as_ref();
        let hl = self.header_len();
        if hl < Self::MIN_HEADER_LEN || buf.len() < hl {
            return false;
        }
        checksum::folded_sum(&buf[..hl]) == 0xffff
    }

    /// Options: bytes `20..header_len()`, clamped to the buffer (empty if IHL <= 5).
    pub fn options(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let end = self.header_len().clamp(Self::MIN_HEADER_LEN, buf.len());
        &buf[Self::MIN_HEADER_LEN..end]
    }

    /// Payload: bytes `header_len()..total_len()`, each end clamped to the buffer; empty
    /// if total length does not exceed the header. Link-layer padding past total length is
    /// excluded. The start is never below byte 20, even if IHL is.
    pub fn payload(&self) -> &[u8] {
        let (start, end) = self.payload_range();
        &self.buffer.as_ref()[start..end]
    }

    fn payload_range(&self) -> (usize, usize) {
        let len = self.buffer.as_ref().len();
        let start = self.header_len().clamp(Self::MIN_HEADER_LEN, len);
        let end = usize::from(self.total_len()).clamp(start, len);
        (start, end)
    }

    /// Bytes the header checksum covers: `header_len()` clamped to `20..=buffer len`.
    fn checksum_len(&self) -> usize {
        self.header_len()
            .clamp(Self::MIN_HEADER_LEN, self.buffer.as_ref().len())
    }

    fn be16(&self, f: field::Field) -> u16 {
        let b = &self.buffer.as_ref()[f];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn be32(&self, f: field::Field) -> u32 {
        let b = &self.buffer.as_ref()[f];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets version (high nibble) and IHL in 32-bit words (low nibble); both are masked
    /// to 4 bits.
    pub fn set_version_ihl(&mut self, version: u8, ihl: u8) {
        self.buffer.as_mut()[field::VER_IHL] = (version << 4) | (ihl & 0x0f);
    }

    /// Sets the DSCP/ECN byte.
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }

    /// Sets Total Length.
    pub fn set_total_len(&mut self, v: u16) {
        self.set_be16(field::LENGTH, v);
    }

    /// Sets Identification.
    pub fn set_ident(&mut self, v: u16) {
        self.set_be16(field::IDENT, v);
    }

    /// Sets the flags and fragment offset word. `offset_bytes` should be a multiple of 8;
    /// its low 3 bits are dropped. The reserved flag bit is cleared (RFC 791).
    pub fn set_frag(&mut self, df: bool, mf: bool, offset_bytes: u16) {
        let mut w = (offset_bytes / 8) & OFFSET_MASK;
        if df {
            w |= FLAG_DF;
        }
        if mf {
            w |= FLAG_MF;
        }
        self.set_be16(field::FLG_OFF, w);
    }

    /// Sets Time to Live (does not touch the checksum; see [`Self::decrement_ttl`]).
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    /// Sets Protocol.
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }

    /// Stores `v` as the Header Checksum.
    pub fn set_header_checksum(&mut self, v: u16) {
        self.set_be16(field::CHECKSUM, v);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// Computes and stores the header checksum over `header_len()` bytes, clamped to
    /// `20..=buffer len`. Set IHL first.
    pub fn fill_checksum(&mut self) {
        self.set_be16(field::CHECKSUM, 0);
        let n = self.checksum_len();
        let c = checksum::checksum(&self.buffer.as_ref()[..n]);
        self.set_be16(field::CHECKSUM, c);
    }

    /// Mutable payload; same range as [`Self::payload`].
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = self.payload_range();
        &mut self.buffer.as_mut()[start..end]
    }

    /// Decrements TTL by one and patches the header checksum incrementally (RFC 1624
    /// eqn. 3 via [`checksum::update16`] on the TTL/protocol word; RFC 1812 §5.3.1).
    /// Returns the new TTL. A TTL of 0 is left at 0 and the packet is unchanged; callers
    /// are expected to have dropped TTL <= 1 packets before forwarding.
    pub fn decrement_ttl(&mut self) -> u8 {
        let ttl = self.ttl();
        if ttl == 0 {
            return 0;
        }
        let old = self.be16(field::TTL_PROTO);
        let new = old - 0x0100;
        let c = checksum::update16(self.header_checksum(), old, new);
        self.set_be16(field::TTL_PROTO, new);
        self.set_be16(field::CHECKSUM, c);
        ttl - 1
    }

    fn set_be16(&mut self, f: field::Field, v: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&v.to_be_bytes());
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured on `lo` (`ping -c1 127.0.0.1`): IPv4 header + ICMP echo request,
    /// 84 bytes, DF set, TTL 64, checksum 0x9c7f.
    const ECHO_REQ: [u8; 84] = [
        0x45, 0x00, 0x00, 0x54, 0xa0, 0x27, 0x40, 0x00, 0x40, 0x01, 0x9c, 0x7f, //
        0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01, //
        0x08, 0x00, 0x86, 0x4d, 0x20, 0xe3, 0x00, 0x01, 0x64, 0x8b, 0x01, 0x6b, 0x00, 0x00, 0x00,
        0x00, 0x23, 0x05, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
        0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24,
        0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33,
        0x34, 0x35, 0x36, 0x37,
    ];

    /// The widely reproduced example header (UDP, 192.168.0.1 -> 192.168.0.199, checksum
    /// 0xb861).
    const UDP_HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn parse_captured_echo_request() {
        let p = Ipv4Packet::new_checked(&ECHO_REQ[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.ihl(), 5);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp_ecn(), 0);
        assert_eq!(p.total_len(), 84);
        assert_eq!(p.ident(), 0xa027);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), PROTO_ICMP);
        assert_eq!(p.header_checksum(), 0x9c7f);
        assert_eq!(p.src_addr(), Ipv4Addr::LOCALHOST);
        assert_eq!(p.dst_addr(), Ipv4Addr::LOCALHOST);
        assert_eq!(p.src_u32(), 0x7f00_0001);
        assert_eq!(p.dst_u32(), 0x7f00_0001);
        assert!(p.verify_checksum());
        assert!(p.options().is_empty());
        assert_eq!(p.payload(), &ECHO_REQ[20..]);
    }

    #[test]
    fn parse_udp_example() {
        let p = Ipv4Packet::new_checked(&UDP_HDR[..]).unwrap();
        assert_eq!(p.protocol(), PROTO_UDP);
        assert_eq!(p.total_len(), 115);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert!(p.verify_checksum());
        // Only the header is present: payload clamps to the (empty) rest of the buffer.
        assert!(p.payload().is_empty());
    }

    #[test]
    fn bad_checksum_detected() {
        let mut b = ECHO_REQ;
        b[11] ^= 1;
        assert!(!Ipv4Packet::new_checked(&b[..]).unwrap().verify_checksum());
        let mut b = ECHO_REQ;
        b[15] ^= 0x80;
        assert!(!Ipv4Packet::new_checked(&b[..]).unwrap().verify_checksum());
    }

    #[test]
    fn new_checked_only_needs_20_bytes() {
        assert_eq!(
            Ipv4Packet::new_checked(&ECHO_REQ[..19]).err(),
            Some(Truncated)
        );
        // Bad version, IHL and total length are all accepted here.
        let mut b = [0u8; 20];
        b[0] = 0x6f;
        b[2] = 0xff;
        b[3] = 0xff;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.ihl(), 15);
        assert_eq!(p.header_len(), 60);
        assert_eq!(p.total_len(), 0xffff);
    }

    #[test]
    fn accessors_never_panic_on_inconsistent_lengths() {
        // Exhaustive over IHL and a spread of total lengths, for buffers of 20..=64 bytes.
        for buf_len in 20..=64usize {
            for ihl in 0..16u8 {
                for total in [0u16, 1, 19, 20, 24, 40, 60, 63, 64, 65, 100, 0xffff] {
                    let mut b = vec![0u8; buf_len];
                    let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
                    p.set_version_ihl(4, ihl);
                    p.set_total_len(total);
                    let hl = usize::from(ihl) * 4;
                    let opts = p.options().len();
                    assert_eq!(opts, hl.clamp(20, buf_len) - 20);
                    let pl = p.payload().len();
                    let start = hl.clamp(20, buf_len);
                    assert_eq!(pl, usize::from(total).clamp(start, buf_len) - start);
                    assert_eq!(p.payload_mut().len(), pl);
                    let ok = p.verify_checksum();
                    assert!(!ok || (hl >= 20 && hl <= buf_len));
                    p.fill_checksum();
                    if (20..=buf_len).contains(&hl) {
                        assert!(p.verify_checksum());
                    } else {
                        assert!(!p.verify_checksum());
                    }
                    p.decrement_ttl();
                }
            }
        }
    }

    #[test]
    fn options_and_padding() {
        // IHL 6 with a 4-byte Router Alert option (RFC 2113), 4 bytes of data and
        // 6 bytes of trailing link-layer padding.
        let mut b = [0u8; 34];
        {
            let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
            p.set_version_ihl(4, 6);
            p.set_total_len(28);
            p.set_ttl(1);
            p.set_protocol(2);
            p.set_src_addr(Ipv4Addr::new(10, 0, 0, 1));
            p.set_dst_addr(Ipv4Addr::new(224, 0, 0, 22));
        }
        b[20..24].copy_from_slice(&[0x94, 0x04, 0x00, 0x00]);
        b[24..28].copy_from_slice(&[1, 2, 3, 4]);
        b[28..].copy_from_slice(&[0xee; 6]);
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        p.payload_mut()[0] = 9;
        // Payload edits do not affect the header checksum.
        assert!(p.verify_checksum());
        // The checksum covers the options.
        p.into_inner()[22] = 1;
        assert!(!Ipv4Packet::new_checked(&b[..]).unwrap().verify_checksum());
    }

    #[test]
    fn verify_needs_whole_header() {
        let mut b = UDP_HDR;
        b[0] = 0x46; // claims 24 bytes of header; only 20 present
        assert!(!Ipv4Packet::new_checked(&b[..]).unwrap().verify_checksum());
        b[0] = 0x44; // IHL below 5
        assert!(!Ipv4Packet::new_checked(&b[..]).unwrap().verify_checksum());
    }

    #[test]
    fn build_matches_captured() {
        let mut b = [0u8; 84];
        b[20..].copy_from_slice(&ECHO_REQ[20..]);
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_version_ihl(4, 5);
        p.set_dscp_ecn(0);
        p.set_total_len(84);
        p.set_ident(0xa027);
        p.set_frag(true, false, 0);
        p.set_ttl(64);
        p.set_protocol(PROTO_ICMP);
        p.set_src_addr(Ipv4Addr::LOCALHOST);
        p.set_dst_addr(Ipv4Addr::LOCALHOST);
        p.set_header_checksum(0xdead);
        p.fill_checksum();
        assert_eq!(p.header_checksum(), 0x9c7f);
        assert_eq!(b, ECHO_REQ);
    }

    #[test]
    fn frag_fields() {
        let mut b = UDP_HDR;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_frag(false, true, 1480);
        assert!(!p.dont_frag() && p.more_frags());
        assert_eq!(p.frag_offset(), 1480);
        assert_eq!(&p.as_ref()[6..8], &[0x20, 0xb9]);
        p.set_frag(true, true, 65528);
        assert!(p.dont_frag() && p.more_frags());
        assert_eq!(p.frag_offset(), 65528);
        assert_eq!(&p.as_ref()[6..8], &[0x7f, 0xff]);
        p.set_frag(false, false, 13); // low bits dropped
        assert_eq!(p.frag_offset(), 8);
        // The reserved bit is ignored by the accessors.
        b[6] = 0x80;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(!p.dont_frag() && !p.more_frags());
    }

    #[test]
    fn decrement_ttl_captured() {
        let mut b = ECHO_REQ;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.decrement_ttl(), 63);
        assert_eq!(p.ttl(), 63);
        assert_eq!(p.protocol(), PROTO_ICMP);
        assert_eq!(p.header_checksum(), 0x9d7f);
        assert!(p.verify_checksum());
    }

    #[test]
    fn decrement_ttl_to_zero_matches_recompute() {
        let mut b = UDP_HDR;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        for expect in (0..64u8).rev() {
            assert_eq!(p.decrement_ttl(), expect);
            let inc = p.header_checksum();
            p.fill_checksum();
            assert_eq!(inc, p.header_checksum(), "ttl {expect}");
        }
        // At zero it is a no-op.
        let before = b;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.decrement_ttl(), 0);
        assert_eq!(b, before);
    }

    #[test]
    fn decrement_ttl_to_zero_checksum() {
        // Choose the ident so the checksum after the decrement is exactly 0x0000.
        let mut b = UDP_HDR;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_ident(0);
        p.set_ttl(63);
        p.fill_checksum();
        // Checksum with ident 0 at TTL 63 is c; ident = c makes the sum 0xffff.
        let c = p.header_checksum();
        p.set_ident(c);
        p.set_ttl(64);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.decrement_ttl(), 63);
        assert_eq!(p.header_checksum(), 0x0000);
        assert!(p.verify_checksum());
        let inc = p.header_checksum();
        p.fill_checksum();
        assert_eq!(p.header_checksum(), inc);
    }
}
