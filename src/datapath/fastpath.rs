//! The forwarding fast path: the common case of `eth_input`, `ip4_input`, `ip4_route`,
//! `ip4_forward` and `ip4_output` done in one pass over the first 34 octets of the
//! frame, read once (VPP's and grout's quad loops play the same trick).
//!
//! It only ever *accepts* a packet whose fate the stages would decide as "forward": a
//! unicast IPv4 frame for the port, without options or padding, with a good header
//! checksum, a TTL above 1 and no martian address, whose next hop is a gateway or
//! connected host with a usable neighbour on an up port whose MTU it fits. Everything
//! else (and a packet accepted here that fails later, e.g. no neighbour) goes through
//! the stages one by one in `pipeline`, which check it from the start. Tests compare
//! the two on random and mutated headers, so the fast path cannot decide differently.
use super::ip4_source::SrcFilter;
use super::ETH_HLEN;
use crate::dpdk::RxCsum;
use crate::wire::MacAddr;

/// Ethernet header + IPv4 header without options.
pub const HDR_LEN: usize = ETH_HLEN + 20;

/// The checks of `eth_input` and `ip4_input`, and the TTL and destination-class checks
/// of `ip4_forward` and `ip4_route`, for a frame received on a port whose MAC address
/// is `mac` (as [`mac_key`] gives it): the destination address if the packet may take
/// the fast path. A source that may be in `srcs` (the router's own addresses and subnet
/// broadcasts, see `ip4_source`) is declined, for the stages' exact source checks.
#[inline(always)]
pub fn accept(frame: &[u8], mac: u64, csum: RxCsum, srcs: &SrcFilter) -> Option<u32> {
    let h: &[u8; HDR_LEN] = frame.get(..HDR_LEN)?.try_into().ok()?;
    // Octets 0..8 (little-endian): destination MAC in the low 48 bits. Octets 8..16:
    // EtherType at 12..14 and version/IHL at 14, i.e. bits 32..56.
    let w0 = u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    let w1 = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
    // Unicast to us (not broadcast), IPv4 (0x0800), version 4 with IHL 5 (no options):
    // the differences from what is expected, in the bits that matter, are all zero.
    let l23_ok = ((w0 ^ mac) << 16) | ((w1 ^ 0x0045_0008_0000_0000) & 0x00ff_ffff_0000_0000) == 0;
    // Summed whatever the port said (cheaper than a branch), used only if it said
    // nothing.
    let sum_ok = header_sum_ok(h);
    let csum_ok = (csum == RxCsum::Good) | ((csum == RxCsum::Unknown) & sum_ok);
    // Total length exactly the frame (no padding to trim, not truncated).
    let total = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let ttl = h[22];
    let src = [h[26], h[27], h[28], h[29]];
    let dst = [h[30], h[31], h[32], h[33]];
    // Martian sources (0/8, 127/8, 224/4, 255.255.255.255) and destinations (0/8,
    // 127/8), and destinations that are never forwarded (224/4, 255.255.255.255): by
    // the first octet alone, which declines the rest of 240/4 too (reserved, RFC 1112
    // §4; the stages forward it as Linux does).
    let bad = MARTIAN_FIRST_OCTET[usize::from(src[0])] | MARTIAN_FIRST_OCTET[usize::from(dst[0])];
    let ok = l23_ok
        & csum_ok
        & (total + ETH_HLEN == frame.len())
        & (ttl > 1)
        & !bad
        & !srcs.may_contain(src);
    let dst = u32::from_be_bytes(dst);
    ok.then_some(dst)
}

/// First octets the fast path declines as a source or destination: 0 (this network,
/// RFC 1122), 127 (loopback), 224..=239 (multicast), and 240..=255, which holds the
/// limited broadcast (and otherwise reserved addresses, left to the stages).
const MARTIAN_FIRST_OCTET: [bool; 256] = {
    let mut t = [false; 256];
    t[0] = true;
    t[127] = true;
    let mut o = 224;
    while o < 256 {
        t[o] = true;
        o += 1;
    }
    t
};

/// The key [`accept`] compares a frame's destination MAC with: the address in the low
/// 48 bits of a little-endian word.
#[inline]
pub fn mac_key(mac: MacAddr) -> u64 {
    let m = mac.0;
    u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], 0, 0])
}

/// RFC 1071 over the 20-octet header. Its one's complement sum is 0xffff exactly when
/// the plain sum of its words is a non-zero multiple of 0xffff (the end-around carry
/// keeps the value modulo 2^16 - 1). That holds for 32-bit words too (2^16 = 1 modulo
/// 2^16 - 1), read in either byte order (swapping the octets of every 16-bit word
/// multiplies the sum by 2^8, which is invertible modulo 2^16 - 1). So: five 32-bit
/// loads, four adds and one remainder by a constant, instead of folding.
#[inline(always)]
fn header_sum_ok(h: &[u8; HDR_LEN]) -> bool {
    let w = |i: usize| u64::from(u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    let acc = w(14) + w(18) + w(22) + w(26) + w(30);
    (acc % 0xffff == 0) & (acc != 0)
}

/// The Ethernet addresses of a frame from `src` to `dst`, as [`rewrite`] writes them:
/// octets 0..8 and 8..12 as two words (an array of 12 octets is kept, and stored, octet
/// by octet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthAddrs {
    head: u64,
    tail: u32,
}

impl EthAddrs {
    pub const ZERO: EthAddrs = EthAddrs { head: 0, tail: 0 };

    #[inline(always)]
    pub fn new(src: MacAddr, dst: MacAddr) -> EthAddrs {
        let (d, s) = (dst.0, src.0);
        EthAddrs {
            head: u64::from_ne_bytes([d[0], d[1], d[2], d[3], d[4], d[5], s[0], s[1]]),
            tail: u32::from_ne_bytes([s[2], s[3], s[4], s[5]]),
        }
    }
}

/// What `ip4_forward` and `ip4_output` write into an accepted packet: TTL decremented
/// with the RFC 1624 checksum update, and the Ethernet addresses (the EtherType stays
/// IPv4).
#[inline(always)]
pub fn rewrite(frame: &mut [u8], macs: EthAddrs) {
    let Some(h) = frame.get_mut(..HDR_LEN) else {
        return;
    };
    // TTL > 1 (accepted), so its octet just goes down by one. The checksum is updated
    // as read, in the machine's order: one's complement sums do not depend on it
    // (RFC 1071 §2(B)), and no byte swap is needed either way.
    h[22] -= 1;
    let c = ttl_decremented_ne(u16::from_ne_bytes([h[24], h[25]]));
    h[24..26].copy_from_slice(&c.to_ne_bytes());
    h[..8].copy_from_slice(&macs.head.to_ne_bytes());
    h[8..12].copy_from_slice(&macs.tail.to_ne_bytes());
}

/// The header checksum after the TTL (the high octet of its 16-bit word) went down by
/// one: RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), where ~m + m' is always 0xfeff for
/// m' = m - 0x0100; one end-around carry suffices (~HC + 0xfeff <= 0x1fefe).
/// (The reference form; [`rewrite`] uses [`ttl_decremented_ne`].)
#[cfg(test)]
fn ttl_decremented(hc: u16) -> u16 {
    let s = u32::from(!hc) + 0xfeff;
    !(((s & 0xffff) + (s >> 16)) as u16)
}

/// [`ttl_decremented`] on the checksum as its two octets read in the machine's order:
/// the same sum with the constant's octets in that order too.
#[inline(always)]
fn ttl_decremented_ne(hc: u16) -> u16 {
    let m = u32::from(u16::from_ne_bytes(0xfeffu16.to_be_bytes()));
    let s = u32::from(!hc) + m;
    !(((s & 0xffff) + (s >> 16)) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::eth_input::{eth_input, EthNext};
    use crate::datapath::ip4_forward::{ip4_forward, FwdNext};
    use crate::datapath::ip4_input::ip4_input;
    use crate::datapath::ip4_output::write_eth;
    use crate::datapath::ip4_route::{ip4_route, RouteNext};
    use crate::datapath::testutil::*;
    use crate::datapath::{Packet, TestPacket};
    use crate::fib::NextHop;
    use crate::testutil::Rng;
    use crate::wire::checksum;
    use std::net::Ipv4Addr;

    const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 9);
    const OUT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);

    /// What the stages decide for `frame` with a route via GW on port 1: Some(dst) when
    /// they forward it (given MTU 1500 and a neighbour for GW).
    fn stages(frame: &[u8], csum: RxCsum) -> Option<u32> {
        let mut p = TestPacket::new(frame, 0);
        p.csum = csum;
        let EthNext::Ip4 { l2_bcast } = eth_input(p.data(), ROUTER_MAC, false) else {
            return None;
        };
        let len_before = p.data().len();
        let a = ip4_input(&mut p).ok()?;
        if p.data().len() != len_before {
            return None; // padding trimmed: the fast path leaves that to the stages
        }
        let nh = Some(NextHop::Gateway { port: 1, gw: GW });
        match ip4_route(a.dst, nh, l2_bcast) {
            RouteNext::Forward { .. } => {}
            _ => return None,
        }
        match ip4_forward(&mut p, 1500) {
            FwdNext::Output => Some(a.dst),
            _ => None,
        }
    }

    /// The bytes `ip4_forward` and `ip4_output` leave in a forwarded `frame`.
    fn stages_rewrite(frame: &[u8]) -> Vec<u8> {
        let mut p = TestPacket::new(frame, 0);
        assert_eq!(ip4_forward(&mut p, 1500), FwdNext::Output);
        write_eth(&mut p, ROUTER_MAC, OUT_MAC);
        p.buf
    }

    fn good() -> Vec<u8> {
        let mut f = ip_frame([10, 0, 1, 2], [192, 0, 2, 7], 17, 64, &[0u8; 26]);
        f[..6].copy_from_slice(&ROUTER_MAC.0);
        f
    }

    #[test]
    fn ttl_checksum_in_machine_order_is_the_same() {
        for hc in 0..=u16::MAX {
            let ne = u16::from_ne_bytes(hc.to_be_bytes());
            let got = ttl_decremented_ne(ne);
            assert_eq!(
                got.to_ne_bytes(),
                ttl_decremented(hc).to_be_bytes(),
                "{hc:#x}"
            );
        }
    }

    #[test]
    fn ttl_checksum_shortcut_is_rfc1624() {
        for hc in 0..=u16::MAX {
            for ttl in [2u16, 64, 128, 255] {
                let old = ttl << 8 | 17;
                let want = checksum::update16(hc, old, old - 0x0100);
                assert_eq!(ttl_decremented(hc), want, "hc {hc:#x} ttl {ttl}");
            }
        }
    }

    /// The remainder test gives the folded sum's verdict on random headers, on headers
    /// fixed up to be correct, and on the all-zero and all-ones ones.
    #[test]
    fn header_sum_by_remainder_is_rfc1071() {
        let mut rng = Rng(0x00c5_0bad_f00d_0001);
        let mut h = [0u8; HDR_LEN];
        let check = |h: &[u8; HDR_LEN]| {
            let want = checksum::folded_sum(&h[ETH_HLEN..]) == 0xffff;
            assert_eq!(header_sum_ok(h), want, "{h:02x?}");
            want
        };
        let mut good = 0;
        for n in 0..200_000u32 {
            for b in h[ETH_HLEN..].iter_mut() {
                *b = match n % 3 {
                    0 => rng.next() as u8,
                    1 => [0, 0xff][rng.below(2) as usize],
                    _ => [0, 0xff, 0xfe, 0x01][rng.below(4) as usize],
                };
            }
            if n % 2 == 0 {
                h[24] = 0;
                h[25] = 0;
                let sum = !checksum::folded_sum(&h[ETH_HLEN..]);
                h[24..26].copy_from_slice(&sum.to_be_bytes());
            }
            good += u32::from(check(&h));
        }
        assert!(good > 50_000, "{good}");
        check(&[0; HDR_LEN]);
        check(&[0xff; HDR_LEN]);
    }

    fn none() -> SrcFilter {
        SrcFilter::default()
    }

    #[test]
    fn declines_sources_in_the_filter() {
        let f = good();
        let mut flt = SrcFilter::default();
        flt.insert([f[26], f[27], f[28], f[29]]);
        assert_eq!(accept(&f, mac_key(ROUTER_MAC), RxCsum::Unknown, &flt), None);
        let mut all = SrcFilter::default();
        all.fill();
        assert_eq!(accept(&f, mac_key(ROUTER_MAC), RxCsum::Unknown, &all), None);
    }

    #[test]
    fn accepts_a_plain_packet_and_rewrites_as_the_stages_do() {
        let f = good();
        assert_eq!(
            accept(&f, mac_key(ROUTER_MAC), RxCsum::Unknown, &none()),
            Some(0xc000_0207)
        );
        let mut fast = f.clone();
        rewrite(&mut fast, EthAddrs::new(ROUTER_MAC, OUT_MAC));
        assert_eq!(fast, stages_rewrite(&f));
    }

    #[test]
    fn declines_what_the_stages_would_not_forward() {
        let g = good();
        type Mutation = Box<dyn Fn(&mut Vec<u8>)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("broadcast", Box::new(|f| f[..6].fill(0xff))),
            ("other host", Box::new(|f| f[5] ^= 1)),
            ("ARP", Box::new(|f| f[13] = 0x06)),
            ("options", Box::new(|f| f[14] = 0x46)),
            ("version 6", Box::new(|f| f[14] = 0x65)),
            ("checksum", Box::new(|f| f[24] ^= 0x40)),
            ("TTL 1", Box::new(|f| f[22] = 1)),
            ("padding", Box::new(|f| f.push(0))),
            ("truncated", Box::new(|f| f.truncate(40))),
            ("multicast dst", Box::new(|f| f[30] = 224)),
            ("loopback src", Box::new(|f| f[26] = 127)),
            ("limited broadcast src", Box::new(|f| f[26..30].fill(0xff))),
            ("limited broadcast dst", Box::new(|f| f[30..34].fill(0xff))),
            (
                "class E dst (left to the stages)",
                Box::new(|f| f[30] = 240),
            ),
        ];
        for (what, mutate) in cases {
            let mut f = g.clone();
            mutate(&mut f);
            if what != "checksum" {
                // Declined for what the case changed, not for a stale checksum.
                let mut ip = crate::wire::ipv4::Ipv4Packet::new_unchecked(&mut f[14..]);
                ip.fill_checksum();
            }
            assert_eq!(
                accept(&f, mac_key(ROUTER_MAC), RxCsum::Unknown, &none()),
                None,
                "{what}"
            );
        }
        assert_eq!(accept(&g, mac_key(ROUTER_MAC), RxCsum::Bad, &none()), None);
        let mut f = g.clone();
        f[24] ^= 0x40;
        assert!(
            accept(&f, mac_key(ROUTER_MAC), RxCsum::Good, &none()).is_some(),
            "port verdict"
        );
    }

    /// Differential test: on random mutations of a good header, whatever the fast path
    /// accepts the stages forward to the same destination, and its rewrite gives the
    /// stages' bytes.
    #[test]
    fn agrees_with_the_stages_on_mutated_headers() {
        let mut rng = Rng(0x0fa5_7a7e_55ed_0001);
        let (mut accepted, mut declined) = (0, 0);
        for _ in 0..200_000 {
            let mut f = good();
            // A few random octets of the 34, sometimes with the checksum fixed up.
            for _ in 0..=rng.below(3) {
                let i = rng.below(HDR_LEN as u64) as usize;
                f[i] = rng.next() as u8;
            }
            if rng.below(2) == 0 {
                let mut ip = crate::wire::ipv4::Ipv4Packet::new_unchecked(&mut f[14..]);
                ip.fill_checksum();
            }
            let csum = match rng.below(8) {
                0 => RxCsum::Good,
                1 => RxCsum::Bad,
                _ => RxCsum::Unknown,
            };
            let fast = accept(&f, mac_key(ROUTER_MAC), csum, &none());
            if let Some(dst) = fast {
                assert_eq!(stages(&f, csum), Some(dst), "{f:02x?} {csum:?}");
                let mut a = f.clone();
                rewrite(&mut a, EthAddrs::new(ROUTER_MAC, OUT_MAC));
                assert_eq!(a, stages_rewrite(&f));
                accepted += 1;
            } else {
                declined += 1;
            }
        }
        // Both sides of the decision were exercised.
        assert!(
            accepted > 10_000 && declined > 10_000,
            "{accepted} / {declined}"
        );
    }
}
