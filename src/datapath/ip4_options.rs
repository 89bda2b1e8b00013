//! IP options of received packets (RFC 791 §3.1), processed as Linux's
//! `__ip_options_compile`, `ip_forward_options` and `ip_options_echo` do. Only packets
//! with IHL > 5 come here, on a slow path of their own: the fast path declines them.
//!
//! - Record route (RR) and timestamp (TS) are filled in place when there is room; a
//!   full TS counts in its overflow nibble, and an overflow of 15 is an error.
//! - Malformed options are answered with ICMP parameter problem, whose pointer names
//!   the octet at fault (counted from the start of the IP header, as Linux counts).
//! - Loose and strict source routes are refused unless `ip.accept_source_route`.
//! - Router alert (RFC 2113) and unknown options pass untouched.
//!
//! Linux records, at input, its own address towards the sender (`spec_dst`), and for a
//! forwarded packet overwrites the RR slot with the outgoing interface's address in
//! `ip_forward_options` (RFC 791: "its own internet address as known in the
//! environment into which this datagram is being forwarded"); a TS address stays the
//! one towards the sender, as observed on Linux 6.x by the conformance suite. Here the
//! addresses are known before the options are compiled, so each slot is written once.
use std::net::Ipv4Addr;

pub const OPT_END: u8 = 0;
pub const OPT_NOOP: u8 = 1;
pub const OPT_RR: u8 = 7;
pub const OPT_TS: u8 = 68;
pub const OPT_LSRR: u8 = 131;
pub const OPT_SSRR: u8 = 137;
pub const OPT_RA: u8 = 148;

/// TS flags (RFC 791): timestamps only, address and timestamp, prespecified addresses.
const TS_ONLY: u8 = 0;
const TS_ADDR: u8 = 1;
const TS_PRESPEC: u8 = 3;

/// Fixed IPv4 header length; option offsets below count from the header's start.
const FIXED: usize = 20;

/// What compiling the options found (offsets from the start of the IP header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compiled {
    pub rr: Option<usize>,
    pub ts: Option<usize>,
    /// The TS option took a timestamp here (Linux `ts_needtime`).
    pub ts_needtime: bool,
    /// LSRR or SSRR present.
    pub srr: Option<usize>,
    pub router_alert: Option<usize>,
}

/// Why the options refuse a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptError {
    /// ICMP parameter problem with this pointer.
    Problem(u8),
}

/// Milliseconds since midnight UT, the RFC 791 timestamp (Linux
/// `inet_current_timestamp`), in network byte order when written.
pub fn timestamp_now() -> u32 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    (ms % 86_400_000) as u32
}

/// Compiles the options of `hdr` (the IP header, options included: `hdr.len()` is
/// IHL × 4) and fills RR with `rr_addr`, TS with `ts_addr` and `now`. `is_local(a)` says whether a
/// prespecified TS address is one of the router's (Linux: `inet_addr_type` is not
/// unicast). After EOL the rest is set to EOL, as Linux does. The caller refreshes the
/// header checksum when it keeps the packet.
pub fn compile(
    hdr: &mut [u8],
    rr_addr: Ipv4Addr,
    ts_addr: Ipv4Addr,
    now: u32,
    is_local: impl Fn(Ipv4Addr) -> bool,
) -> Result<Compiled, OptError> {
    let mut c = Compiled::default();
    let mut i = FIXED;
    let end = hdr.len();
    // The pointer of a parameter problem: the offset from the header's start.
    let err = |at: usize| Err(OptError::Problem(at.min(255) as u8));
    while i < end {
        match hdr[i] {
            OPT_END => {
                for b in &mut hdr[i + 1..end] {
                    *b = OPT_END;
                }
                break;
            }
            OPT_NOOP => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let left = end - i;
        if left < 2 {
            return err(i);
        }
        let len = usize::from(hdr[i + 1]);
        if len < 2 || len > left {
            return err(i);
        }
        let opt = &mut hdr[i..i + len];
        match opt[0] {
            OPT_LSRR | OPT_SSRR => {
                if len < 3 {
                    return err(i + 1);
                }
                if opt[2] < 4 {
                    return err(i + 2);
                }
                // RFC 1812 §5.2.4.1: at most one source route.
                if c.srr.is_some() {
                    return err(i);
                }
                c.srr = Some(i);
            }
            OPT_RR => {
                if c.rr.is_some() {
                    return err(i);
                }
                if len < 3 {
                    return err(i + 1);
                }
                let ptr = usize::from(opt[2]);
                if ptr < 4 {
                    return err(i + 2);
                }
                if ptr <= len {
                    if ptr + 3 > len {
                        return err(i + 2);
                    }
                    opt[ptr - 1..ptr + 3].copy_from_slice(&rr_addr.octets());
                    opt[2] += 4;
                }
                c.rr = Some(i);
            }
            OPT_TS => {
                if c.ts.is_some() {
                    return err(i);
                }
                if len < 4 {
                    return err(i + 1);
                }
                let ptr = usize::from(opt[2]);
                if ptr < 5 {
                    return err(i + 2);
                }
                let flag = opt[3] & 0x0f;
                if ptr <= len {
                    if ptr + 3 > len {
                        return err(i + 2);
                    }
                    let mut time_at = None;
                    match flag {
                        TS_ONLY => {
                            time_at = Some(ptr - 1);
                            c.ts_needtime = true;
                            opt[2] += 4;
                        }
                        TS_ADDR => {
                            if ptr + 7 > len {
                                return err(i + 2);
                            }
                            opt[ptr - 1..ptr + 3].copy_from_slice(&ts_addr.octets());
                            time_at = Some(ptr + 3);
                            c.ts_needtime = true;
                            opt[2] += 8;
                        }
                        TS_PRESPEC => {
                            if ptr + 7 > len {
                                return err(i + 2);
                            }
                            let a = [opt[ptr - 1], opt[ptr], opt[ptr + 1], opt[ptr + 2]];
                            if is_local(Ipv4Addr::from(a)) {
                                time_at = Some(ptr + 3);
                                c.ts_needtime = true;
                                opt[2] += 8;
                            }
                        }
                        // Unknown flags: accepted and left alone, as Linux does on
                        // input.
                        _ => {}
                    }
                    if let Some(t) = time_at {
                        opt[t..t + 4].copy_from_slice(&now.to_be_bytes());
                    }
                } else if flag != TS_PRESPEC {
                    // Full: count the hop in the overflow nibble (RFC 791).
                    let overflow = opt[3] >> 4;
                    if overflow == 15 {
                        return err(i + 3);
                    }
                    opt[3] = (opt[3] & 0x0f) | ((overflow + 1) << 4);
                }
                c.ts = Some(i);
            }
            OPT_RA => {
                if len < 4 {
                    return err(i + 1);
                }
                if opt[2] == 0 && opt[3] == 0 {
                    c.router_alert = Some(i);
                }
            }
            // Security, stream id, CIPSO and the rest: passed as they are.
            _ => {}
        }
        i += len;
    }
    Ok(c)
}

/// The options of an echo reply to a request whose options compiled to `c`, as Linux's
/// `ip_options_echo` builds them: RR then TS copied from the request's `hdr` (as
/// compiled), each taking one more entry of the reply's source when it has room
/// (filled by [`fill_reply`]); padded with EOL to a multiple of 4. Source routes are
/// not echoed (they are refused before). Returns the options and their length, or
/// `None` if an option cannot be echoed (Linux then sends no reply).
pub fn echo_options(hdr: &[u8], c: &Compiled) -> Option<([u8; 40], usize)> {
    let mut out = [0u8; 40];
    let mut n = 0;
    for (at, is_ts) in [(c.rr, false), (c.ts, true)] {
        let Some(at) = at else { continue };
        let len = usize::from(*hdr.get(at + 1)?);
        let src = hdr.get(at..at + len)?;
        let dst = out.get_mut(n..n + len)?;
        dst.copy_from_slice(src);
        let mut ptr = usize::from(dst[2]);
        if ptr <= len {
            if !is_ts {
                if ptr + 3 > len {
                    return None;
                }
                ptr += 4;
            } else {
                let flag = dst[3] & 0x0f;
                if flag == TS_ADDR {
                    if ptr + 3 > len {
                        return None;
                    }
                    ptr += 4;
                }
                if c.ts_needtime {
                    if ptr + 3 > len {
                        return None;
                    }
                    if flag != TS_PRESPEC {
                        ptr += 4;
                    }
                    // A prespecified next address is ours only if it is the requester's
                    // reply source, which `fill_reply` cannot know here: left as is.
                }
            }
            dst[2] = ptr as u8;
        }
        n += len;
    }
    while n % 4 != 0 {
        out[n] = OPT_END;
        n += 1;
    }
    Some((out, n))
}

/// Fills the entries [`echo_options`] reserved in the reply header `hdr` (options
/// in place after 20 octets): the reply's source `src` for RR and TS-with-address, and
/// `now` for TS (Linux `ip_options_build`, which writes 4 and 8 octets before the
/// pointer). `req_rr_ptr`/`req_ts_ptr` are the pointers the request had (as compiled):
/// an entry was reserved where the reply's pointer moved past them.
pub fn fill_reply(hdr: &mut [u8], src: Ipv4Addr, now: u32, req: (Option<u8>, Option<u8>)) {
    let mut i = FIXED;
    let end = hdr.len();
    while i + 1 < end {
        let t = hdr[i];
        if t == OPT_END {
            break;
        }
        if t == OPT_NOOP {
            i += 1;
            continue;
        }
        let len = usize::from(hdr[i + 1]).max(2);
        if i + len > end {
            break;
        }
        let opt = &mut hdr[i..i + len];
        let ptr = usize::from(opt[2]);
        match (t, req) {
            (OPT_RR, (Some(old), _)) if ptr > usize::from(old) && ptr >= 8 => {
                opt[ptr - 5..ptr - 1].copy_from_slice(&src.octets());
            }
            (OPT_TS, (_, Some(old))) if ptr > usize::from(old) && ptr >= 9 => {
                if opt[3] & 0x0f == TS_ADDR {
                    opt[ptr - 9..ptr - 5].copy_from_slice(&src.octets());
                }
                opt[ptr - 5..ptr - 1].copy_from_slice(&now.to_be_bytes());
            }
            _ => {}
        }
        i += len;
    }
}

/// The options an answer to a locally delivered packet carries: [`echo_options`] of
/// the request, and the pointers the request had, for [`fill_reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyOptions {
    opts: [u8; 40],
    len: usize,
    rr_ptr: Option<u8>,
    ts_ptr: Option<u8>,
}

impl ReplyOptions {
    /// From the request's compiled header; `None` when there is nothing to echo.
    pub fn new(hdr: &[u8], c: &Compiled) -> Option<ReplyOptions> {
        let (opts, len) = echo_options(hdr, c)?;
        (len > 0).then_some(ReplyOptions {
            opts,
            len,
            rr_ptr: pointer_at(hdr, c.rr),
            ts_ptr: pointer_at(hdr, c.ts),
        })
    }

    /// Inserts the options behind the 20-octet header of the answer `pkt` (an echo
    /// reply or reset the router built, IHL 5), filling the entries it reserved with
    /// the answer's source and `now`. False (unchanged) if the buffer has no room.
    pub fn insert<P: super::Packet>(&self, pkt: &mut P, now: u32) -> bool {
        use super::ETH_HLEN;
        use crate::wire::ipv4::Ipv4Packet;
        let old = pkt.data().len();
        let at = ETH_HLEN + FIXED;
        if old < at || pkt.data().get(ETH_HLEN).map(|b| b & 0x0f) != Some(5) {
            return false;
        }
        if !pkt.set_len(old + self.len) {
            return false;
        }
        let data = pkt.data_mut();
        data.copy_within(at..old, at + self.len);
        data[at..at + self.len].copy_from_slice(&self.opts[..self.len]);
        let src = {
            let mut ip = Ipv4Packet::new_unchecked(&mut data[ETH_HLEN..]);
            ip.set_version_ihl(4, ((FIXED + self.len) / 4) as u8);
            ip.set_total_len((old - ETH_HLEN + self.len) as u16);
            ip.src_addr()
        };
        fill_reply(
            &mut data[ETH_HLEN..at + self.len],
            src,
            now,
            (self.rr_ptr, self.ts_ptr),
        );
        Ipv4Packet::new_unchecked(&mut data[ETH_HLEN..]).fill_checksum();
        true
    }
}

/// The pointer octet of the option at `at` in `hdr`, if any.
pub fn pointer_at(hdr: &[u8], at: Option<usize>) -> Option<u8> {
    at.and_then(|a| hdr.get(a + 2).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
    const NOW: u32 = 0x0102_0304;

    /// A 20-octet header (contents irrelevant here) followed by `opts`.
    fn hdr(opts: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[0] = 0x40 | ((20 + opts.len()) / 4) as u8;
        h.extend_from_slice(opts);
        h
    }

    fn none(_: Ipv4Addr) -> bool {
        false
    }

    #[test]
    fn record_route_takes_our_address_when_there_is_room() {
        // RR with room for 2, one slot used: NOP, RR len 11 ptr 8.
        let mut h = hdr(&[1, 7, 11, 8, 10, 0, 1, 2, 0, 0, 0, 0]);
        let c = compile(&mut h, ME, ME, NOW, none).unwrap();
        assert_eq!(c.rr, Some(21));
        assert_eq!(&h[21..32], &[7, 11, 12, 10, 0, 1, 2, 10, 0, 2, 1]);
        // Full now: unchanged, and no error (RFC 791: the datagram is forwarded).
        let before = h.clone();
        compile(&mut h, ME, ME, NOW, none).unwrap();
        assert_eq!(h, before);
    }

    #[test]
    fn malformed_options_name_the_octet_at_fault() {
        for (opts, ptr, what) in [
            (vec![7, 3, 3, 0], 22, "RR pointer below 4"),
            (
                vec![7, 10, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                22,
                "RR pointer not on a slot",
            ),
            (vec![7, 2, 0, 0], 21, "RR shorter than 3"),
            (vec![1, 7, 9, 0], 21, "length past the header"),
            (vec![1, 1, 1, 7], 23, "only one octet left"),
            (vec![68, 3, 5, 0], 21, "TS shorter than 4"),
            (vec![68, 8, 4, 0, 0, 0, 0, 0], 22, "TS pointer below 5"),
            (vec![68, 8, 9, 0xf0, 0, 0, 0, 0], 23, "TS overflow at 15"),
            (
                vec![68, 8, 5, 1, 0, 0, 0, 0],
                22,
                "TS address+time in 4 octets",
            ),
            (vec![148, 2, 0, 0], 21, "router alert of length 2"),
            (
                vec![7, 7, 4, 0, 0, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0, 0],
                27,
                "second RR",
            ),
            (
                vec![131, 7, 4, 0, 0, 0, 0, 137, 7, 4, 0, 0, 0, 0, 0, 0],
                27,
                "second SRR",
            ),
            (vec![131, 7, 3, 0, 0, 0, 0, 0], 22, "LSRR pointer below 4"),
            (vec![9, 0, 0, 0], 20, "length 0"),
        ] {
            let mut h = hdr(&opts);
            assert_eq!(
                compile(&mut h, ME, ME, NOW, none),
                Err(OptError::Problem(ptr)),
                "{what}"
            );
        }
    }

    #[test]
    fn timestamps_by_flag() {
        // Timestamps only, room for 2.
        let mut h = hdr(&[68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let c = compile(&mut h, ME, ME, NOW, none).unwrap();
        assert!(c.ts_needtime);
        assert_eq!(&h[20..32], &[68, 12, 9, 0, 1, 2, 3, 4, 0, 0, 0, 0]);
        // Address and timestamp.
        let mut h = hdr(&[68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        compile(&mut h, ME, ME, NOW, none).unwrap();
        assert_eq!(&h[20..32], &[68, 12, 13, 1, 10, 0, 2, 1, 1, 2, 3, 4]);
        // Prespecified: only our own address takes a timestamp.
        let mut h = hdr(&[68, 12, 5, 3, 10, 0, 2, 1, 0, 0, 0, 0]);
        compile(&mut h, ME, ME, NOW, |a| a == ME).unwrap();
        assert_eq!(&h[20..32], &[68, 12, 13, 3, 10, 0, 2, 1, 1, 2, 3, 4]);
        let mut h = hdr(&[68, 12, 5, 3, 10, 9, 9, 9, 0, 0, 0, 0]);
        let before = h.clone();
        let c = compile(&mut h, ME, ME, NOW, |a| a == ME).unwrap();
        assert!(!c.ts_needtime);
        assert_eq!(h, before);
        // Full: overflow counts up.
        let mut h = hdr(&[68, 8, 9, 0x20, 0, 0, 0, 0]);
        compile(&mut h, ME, ME, NOW, none).unwrap();
        assert_eq!(h[23], 0x30);
    }

    #[test]
    fn source_route_router_alert_and_eol_padding() {
        let mut h = hdr(&[131, 7, 4, 10, 0, 2, 2, 0]);
        let c = compile(&mut h, ME, ME, NOW, none).unwrap();
        assert_eq!(c.srr, Some(20));
        let mut h = hdr(&[148, 4, 0, 0]);
        let c = compile(&mut h, ME, ME, NOW, none).unwrap();
        assert_eq!(c.router_alert, Some(20));
        // After EOL, junk becomes EOL.
        let mut h = hdr(&[1, 0, 7, 9]);
        compile(&mut h, ME, ME, NOW, none).unwrap();
        assert_eq!(&h[20..], &[1, 0, 0, 0]);
    }

    #[test]
    fn echo_reply_reserves_and_fills_one_more_entry() {
        // The request's RR after compile on a local delivery: our address in slot 1.
        let mut h = hdr(&[7, 15, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let me = Ipv4Addr::new(10, 0, 1, 1);
        let c = compile(&mut h, me, me, NOW, none).unwrap();
        let old_rr = pointer_at(&h, c.rr);
        let (opts, n) = echo_options(&h, &c).unwrap();
        assert_eq!(n, 16);
        let mut r = hdr(&opts[..n]);
        fill_reply(&mut r, me, NOW, (old_rr, None));
        assert_eq!(
            &r[20..36],
            &[7, 15, 12, 10, 0, 1, 1, 10, 0, 1, 1, 0, 0, 0, 0, 0]
        );
    }
}
