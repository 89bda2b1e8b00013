//! The pcapng file format (draft-ietf-opsawg-pcapng, "PCAP Now Generic"), the blocks
//! `ferroute capture -w` writes: a Section Header Block, one Interface Description
//! Block per captured port, an Enhanced Packet Block per frame (direction in
//! `epb_flags`, the drop reason in `opt_comment`), and an Interface Statistics Block
//! per port at the end (frames missed in `isb_ifdrop`). Little-endian, as the byte-order
//! magic says; every block and option is padded to 32 bits (§3.1, §3.5).

/// Block types (§4, §11.1).
const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const ISB: u32 = 5;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u16 = 1;

// Option codes (§4.2, §4.3, §4.6, §4.3.1).
const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;
const ISB_STARTTIME: u16 = 2;
const ISB_ENDTIME: u16 = 3;
const ISB_IFRECV: u16 = 4;
const ISB_IFDROP: u16 = 5;

/// `epb_flags` bits 0-1, the direction (§4.3.1).
pub const FLAG_INBOUND: u32 = 1;
pub const FLAG_OUTBOUND: u32 = 2;

/// Timestamps are in nanoseconds (`if_tsresol` 9: 10^-9 s).
const TSRESOL_NS: u8 = 9;

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// Builds one block: type, length, body, options, length again.
struct Block {
    buf: Vec<u8>,
    has_opts: bool,
}

impl Block {
    fn new(kind: u32) -> Block {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&kind.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        Block {
            buf,
            has_opts: false,
        }
    }

    fn u16(&mut self, v: u16) -> &mut Block {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn u32(&mut self, v: u32) -> &mut Block {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A timestamp as the high and low 32 bits (§4.3).
    fn ts(&mut self, ns: u64) -> &mut Block {
        self.u32((ns >> 32) as u32).u32(ns as u32)
    }

    /// Bytes padded to 32 bits.
    fn bytes(&mut self, b: &[u8]) -> &mut Block {
        self.buf.extend_from_slice(b);
        self.buf.resize(pad4(self.buf.len()), 0);
        self
    }

    fn opt(&mut self, code: u16, value: &[u8]) -> &mut Block {
        // Option values are at most 65535 octets; longer comments are cut.
        let value = &value[..value.len().min(usize::from(u16::MAX))];
        self.has_opts = true;
        self.u16(code).u16(value.len() as u16).bytes(value)
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.has_opts {
            self.u16(OPT_ENDOFOPT).u16(0);
        }
        let len = (self.buf.len() + 4) as u32;
        self.u32(len);
        self.buf[4..8].copy_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.buf);
    }
}

/// The Section Header Block that starts the file (§4.1); `app` goes in shb_userappl.
pub fn section_header(out: &mut Vec<u8>, app: &str) {
    Block::new(SHB)
        .u32(BYTE_ORDER_MAGIC)
        .u16(1)
        .u16(0)
        // Section length not known: -1.
        .u32(u32::MAX)
        .u32(u32::MAX)
        .opt(SHB_USERAPPL, app.as_bytes())
        .finish(out);
}

/// An Interface Description Block (§4.2): Ethernet, `snaplen`, `name`, nanoseconds.
/// Interfaces are numbered from 0 in the order their blocks come.
pub fn interface(out: &mut Vec<u8>, name: &str, snaplen: u32) {
    Block::new(IDB)
        .u16(LINKTYPE_ETHERNET)
        .u16(0)
        .u32(snaplen)
        .opt(IF_NAME, name.as_bytes())
        .opt(IF_TSRESOL, &[TSRESOL_NS])
        .finish(out);
}

/// An Enhanced Packet Block (§4.3): frame `data` (maybe cut from `orig_len` octets) seen
/// on interface `ifid` at `ts_ns`, with `epb_flags` `flags` (0: none) and a comment.
pub fn packet(
    out: &mut Vec<u8>,
    ifid: u32,
    ts_ns: u64,
    orig_len: u32,
    data: &[u8],
    flags: u32,
    comment: Option<&str>,
) {
    let mut b = Block::new(EPB);
    b.u32(ifid)
        .ts(ts_ns)
        .u32(data.len() as u32)
        .u32(orig_len)
        .bytes(data);
    if flags != 0 {
        b.opt(EPB_FLAGS, &flags.to_le_bytes());
    }
    if let Some(c) = comment {
        b.opt(OPT_COMMENT, c.as_bytes());
    }
    b.finish(out);
}

/// An Interface Statistics Block (§4.6) for interface `ifid` at `end_ns`: frames
/// received (captured) and dropped (missed) since `start_ns`.
pub fn interface_stats(
    out: &mut Vec<u8>,
    ifid: u32,
    start_ns: u64,
    end_ns: u64,
    recv: u64,
    drop: u64,
) {
    let ts = |ns: u64| {
        let mut v = [0u8; 8];
        v[..4].copy_from_slice(&((ns >> 32) as u32).to_le_bytes());
        v[4..].copy_from_slice(&(ns as u32).to_le_bytes());
        v
    };
    Block::new(ISB)
        .u32(ifid)
        .ts(end_ns)
        .opt(ISB_STARTTIME, &ts(start_ns))
        .opt(ISB_ENDTIME, &ts(end_ns))
        .opt(ISB_IFRECV, &recv.to_le_bytes())
        .opt(ISB_IFDROP, &drop.to_le_bytes())
        .finish(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a file into (type, body) blocks, checking both lengths and the padding.
    fn blocks(mut f: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let mut v = Vec::new();
        while !f.is_empty() {
            let kind = u32::from_le_bytes(f[0..4].try_into().unwrap());
            let len = u32::from_le_bytes(f[4..8].try_into().unwrap()) as usize;
            assert_eq!(len % 4, 0, "block {kind:#x} is padded");
            let tail = u32::from_le_bytes(f[len - 4..len].try_into().unwrap()) as usize;
            assert_eq!(tail, len);
            v.push((kind, f[8..len - 4].to_vec()));
            f = &f[len..];
        }
        v
    }

    /// (code, value) of the options in `b`, which must end with opt_endofopt.
    fn options(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut v = Vec::new();
        loop {
            let code = u16::from_le_bytes([b[0], b[1]]);
            let len = u16::from_le_bytes([b[2], b[3]]) as usize;
            if code == OPT_ENDOFOPT {
                assert_eq!((len, b.len()), (0, 4), "end of options closes the block");
                return v;
            }
            v.push((code, b[4..4 + len].to_vec()));
            b = &b[4 + pad4(len)..];
        }
    }

    #[test]
    fn blocks_as_the_draft_lays_them_out() {
        let mut f = Vec::new();
        section_header(&mut f, "ferroute");
        interface(&mut f, "port0", 262_144);
        let frame = [0xabu8; 61];
        let ts = 1_700_000_000_123_456_789u64;
        packet(
            &mut f,
            0,
            ts,
            98,
            &frame,
            FLAG_INBOUND,
            Some("ip4_bad_checksum"),
        );
        packet(&mut f, 0, ts + 1, 61, &frame, 0, None);
        interface_stats(&mut f, 0, ts - 5, ts + 5, 2, 7);
        let b = blocks(&f);
        assert_eq!(
            b.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            [SHB, IDB, EPB, EPB, ISB]
        );
        let shb = &b[0].1;
        assert_eq!(&shb[0..4], &[0x4d, 0x3c, 0x2b, 0x1a]);
        assert_eq!(&shb[4..8], &[1, 0, 0, 0]);
        assert_eq!(&shb[8..16], &[0xff; 8]);
        assert_eq!(options(&shb[16..]), [(SHB_USERAPPL, b"ferroute".to_vec())]);
        let idb = &b[1].1;
        assert_eq!(&idb[0..8], &[1, 0, 0, 0, 0, 0, 4, 0]);
        assert_eq!(
            options(&idb[8..]),
            [(IF_NAME, b"port0".to_vec()), (IF_TSRESOL, vec![9])]
        );
        let epb = &b[2].1;
        assert_eq!(u32::from_le_bytes(epb[0..4].try_into().unwrap()), 0);
        let hi = u32::from_le_bytes(epb[4..8].try_into().unwrap()) as u64;
        let lo = u32::from_le_bytes(epb[8..12].try_into().unwrap()) as u64;
        assert_eq!(hi << 32 | lo, ts);
        assert_eq!(&epb[12..20], &[61, 0, 0, 0, 98, 0, 0, 0]);
        assert_eq!(&epb[20..81], &frame);
        assert_eq!(&epb[81..84], &[0, 0, 0], "data padded");
        assert_eq!(
            options(&epb[84..]),
            [
                (EPB_FLAGS, vec![1, 0, 0, 0]),
                (OPT_COMMENT, b"ip4_bad_checksum".to_vec())
            ]
        );
        // No options, no end-of-options either.
        assert_eq!(b[3].1.len(), 20 + 64);
        let isb = &b[4].1;
        let opts = options(&isb[12..]);
        assert_eq!(opts[2], (ISB_IFRECV, 2u64.to_le_bytes().to_vec()));
        assert_eq!(opts[3], (ISB_IFDROP, 7u64.to_le_bytes().to_vec()));
    }
}
