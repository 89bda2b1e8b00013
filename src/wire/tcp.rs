//! TCP segments (RFC 793 §3.1): a view of the header, enough for the datapath to check
//! a segment addressed to the router and answer it with a reset.
//!
//! [`TcpPacket::new_checked`] guarantees the 20-byte fixed header and that the data
//! offset lies within the buffer, so every accessor below is panic-free.

use super::checksum;
use super::ethernet::Truncated;
use std::net::Ipv4Addr;

/// Length of a header without options (data offset 5).
pub const MIN_HEADER_LEN: usize = 20;

pub const FLAG_FIN: u8 = 0x01;
pub const FLAG_SYN: u8 = 0x02;
pub const FLAG_RST: u8 = 0x04;
pub const FLAG_PSH: u8 = 0x08;
pub const FLAG_ACK: u8 = 0x10;
pub const FLAG_URG: u8 = 0x20;

mod field {
    pub type Field = core::ops::Range<usize>;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ: Field = 4..8;
    pub const ACK: Field = 8..12;
    /// Data offset in the high nibble.
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

const _: () = assert!(MIN_HEADER_LEN == field::URGENT.end);

/// A read/write view of a TCP segment (header and data, as the IP payload).
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without checking it; accessors may panic if it is shorter than
    /// [`MIN_HEADER_LEN`] or the data offset points past it.
    pub fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps `buffer`, which must hold the fixed header and a data offset of at least 5
    /// words that lies within it.
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let b = buffer.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(Truncated);
        }
        let hlen = usize::from(b[field::DATA_OFF] >> 4) * 4;
        if hlen < MIN_HEADER_LEN || hlen > b.len() {
            return Err(Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    fn u16_at(&self, f: field::Field) -> u16 {
        let b = &self.buffer.as_ref()[f];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn u32_at(&self, f: field::Field) -> u32 {
        let b = &self.buffer.as_ref()[f];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }

    pub fn seq_number(&self) -> u32 {
        self.u32_at(field::SEQ)
    }

    pub fn ack_number(&self) -> u32 {
        self.u32_at(field::ACK)
    }

    /// Header length in octets (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The flag octet (CWR ECE URG ACK PSH RST SYN FIN).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    pub fn syn(&self) -> bool {
        self.flags() & FLAG_SYN != 0
    }

    pub fn fin(&self) -> bool {
        self.flags() & FLAG_FIN != 0
    }

    pub fn rst(&self) -> bool {
        self.flags() & FLAG_RST != 0
    }

    pub fn ack(&self) -> bool {
        self.flags() & FLAG_ACK != 0
    }

    pub fn window(&self) -> u16 {
        self.u16_at(field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// The data after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// The segment length of RFC 793 §3.3: data octets, plus one each for SYN and FIN.
    pub fn segment_len(&self) -> u32 {
        self.payload().len() as u32 + u32::from(self.syn()) + u32::from(self.fin())
    }

    /// Checks the checksum over the pseudo-header of `src` → `dst` and the segment.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        checksum::fold(
            pseudo_sum(src, dst, self.buffer.as_ref().len()) + checksum::sum(self.buffer.as_ref()),
        ) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    fn set_u16(&mut self, f: field::Field, v: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&v.to_be_bytes());
    }

    fn set_u32(&mut self, f: field::Field, v: u32) {
        self.buffer.as_mut()[f].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_src_port(&mut self, v: u16) {
        self.set_u16(field::SRC_PORT, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        self.set_u16(field::DST_PORT, v);
    }

    pub fn set_seq_number(&mut self, v: u32) {
        self.set_u32(field::SEQ, v);
    }

    pub fn set_ack_number(&mut self, v: u32) {
        self.set_u32(field::ACK, v);
    }

    /// Sets the data offset from a header length in octets (a multiple of 4, 20..=60).
    pub fn set_header_len(&mut self, octets: usize) {
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (*b & 0x0f) | (((octets / 4) as u8) << 4);
    }

    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
    }

    pub fn set_window(&mut self, v: u16) {
        self.set_u16(field::WINDOW, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16(field::CHECKSUM, v);
    }

    pub fn set_urgent(&mut self, v: u16) {
        self.set_u16(field::URGENT, v);
    }

    /// Computes and writes the checksum for a segment from `src` to `dst` (RFC 793: over
    /// the pseudo-header, header and data; the whole buffer is the segment).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let c = !checksum::fold(pseudo_sum(src, dst, b.len()) + checksum::sum(b));
        self.set_checksum(c);
    }
}

/// The unfolded sum of the TCP pseudo-header (RFC 793 §3.1): addresses, protocol 6 and
/// the segment length.
fn pseudo_sum(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> u32 {
    let (s, d) = (src.octets(), dst.octets());
    let mut ph = [0u8; 12];
    ph[..4].copy_from_slice(&s);
    ph[4..8].copy_from_slice(&d);
    ph[9] = super::ipv4::PROTO_TCP;
    ph[10..12].copy_from_slice(&(len as u16).to_be_bytes());
    checksum::sum(&ph)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);

    /// A SYN from 10.0.1.2:40000 to 10.0.1.1:22, seq 1000, with a 4-octet MSS option.
    fn syn() -> Vec<u8> {
        let mut s = vec![
            0x9c, 0x40, 0x00, 0x16, // ports 40000 -> 22
            0x00, 0x00, 0x03, 0xe8, // seq 1000
            0x00, 0x00, 0x00, 0x00, // ack 0
            0x60, 0x02, 0x20, 0x00, // data offset 6, SYN, window 8192
            0x00, 0x00, 0x00, 0x00, // checksum, urgent
            0x02, 0x04, 0x05, 0xb4, // MSS 1460
        ];
        TcpPacket::new_unchecked(&mut s[..]).fill_checksum(SRC, DST);
        s
    }

    #[test]
    fn reads_fields() {
        let s = syn();
        let t = TcpPacket::new_checked(&s[..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port()), (40000, 22));
        assert_eq!((t.seq_number(), t.ack_number()), (1000, 0));
        assert_eq!(t.header_len(), 24);
        assert!(t.syn() && !t.ack() && !t.rst() && !t.fin());
        assert_eq!(t.window(), 8192);
        assert_eq!(t.payload(), b"");
        assert_eq!(t.segment_len(), 1);
        assert!(t.verify_checksum(SRC, DST));
        assert!(!t.verify_checksum(DST, Ipv4Addr::new(10, 0, 1, 3)));
    }

    #[test]
    fn checksum_matches_an_independent_sum() {
        // Pseudo-header + segment summed as one buffer must fold to 0xffff.
        let s = syn();
        let mut all = Vec::new();
        all.extend_from_slice(&SRC.octets());
        all.extend_from_slice(&DST.octets());
        all.extend_from_slice(&[0, 6, 0, s.len() as u8]);
        all.extend_from_slice(&s);
        assert_eq!(checksum::fold(checksum::sum(&all)), 0xffff);
    }

    #[test]
    fn segment_len_counts_data_syn_and_fin() {
        let mut s = syn();
        s.extend_from_slice(b"hello");
        let mut t = TcpPacket::new_checked(&mut s[..]).unwrap();
        t.set_flags(FLAG_SYN | FLAG_FIN | FLAG_ACK);
        assert_eq!(t.segment_len(), 7);
        t.set_flags(FLAG_ACK);
        assert_eq!(t.segment_len(), 5);
    }

    #[test]
    fn rejects_short_or_bad_offsets() {
        assert!(TcpPacket::new_checked(&[0u8; 19][..]).is_err());
        let mut s = syn();
        s[12] = 0x40; // data offset 4
        assert!(TcpPacket::new_checked(&s[..]).is_err());
        s[12] = 0x70; // 28 octets > 24
        assert!(TcpPacket::new_checked(&s[..]).is_err());
        s[12] = 0x50;
        assert!(TcpPacket::new_checked(&s[..]).is_ok());
    }

    #[test]
    fn setters_round_trip() {
        let mut s = [0u8; 20];
        let mut t = TcpPacket::new_unchecked(&mut s[..]);
        t.set_src_port(22);
        t.set_dst_port(40000);
        t.set_seq_number(0xdead_beef);
        t.set_ack_number(1001);
        t.set_header_len(20);
        t.set_flags(FLAG_RST | FLAG_ACK);
        t.set_window(0);
        t.set_urgent(0);
        t.fill_checksum(DST, SRC);
        let t = TcpPacket::new_checked(&s[..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port()), (22, 40000));
        assert_eq!((t.seq_number(), t.ack_number()), (0xdead_beef, 1001));
        assert!(t.rst() && t.ack());
        assert!(t.verify_checksum(DST, SRC));
    }
}
