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
use crate::wire::checksum;
use crate::wire::MacAddr;

/// Ethernet header + IPv4 header without options.
pub const HDR_LEN: usize = ETH_HLEN + 20;

/// The checks of `eth_input` and `ip4_input`, and the TTL and destination-class checks
/// of `ip4_forward` and `ip4_route`, for a frame received on a port with MAC `mac`:
/// the destination address if the packet may take the fast path. A source that may be
/// in `srcs` (the router's own addresses and subnet broadcasts, see `ip4_source`) is
/// declined, for the stages' exact source checks.
#[inline(always)]
pub fn accept(frame: &[u8], mac: MacAddr, csum: RxCsum, srcs: &SrcFilter) -> Option<u32> {
    let h: &[u8; HDR_LEN] = frame.get(..HDR_LEN)?.try_into().ok()?;
    // Octets 0..8 (little-endian): destination MAC in the low 48 bits. Octets 8..16:
    // EtherType at 12..14 and version/IHL at 14, i.e. bits 32..56.
    let w0 = u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    let w1 = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
    let m = mac.0;
    let mac48 = u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], 0, 0]);
    // Unicast to us (not broadcast), IPv4 (0x0800), version 4 with IHL 5 (no options).
    let l2_ok = (w0 & 0xffff_ffff_ffff) == mac48;
    let l3_ok = (w1 >> 32) & 0xff_ffff == 0x45_0008;
    let csum_ok = match csum {
        RxCsum::Good => true,
        RxCsum::Bad => false,
        RxCsum::Unknown => header_sum_ok(h),
    };
    // Total length exactly the frame (no padding to trim, not truncated).
    let total = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let ttl = h[22];
    let src = [h[26], h[27], h[28], h[29]];
    let dst = [h[30], h[31], h[32], h[33]];
    // Martian sources (0/8, 127/8, 224/4, 255.255.255.255) and destinations (0/8,
    // 127/8), and destinations that are never forwarded (224/4, 255.255.255.255): by
    // the first octet and an all-ones test, on the bytes as they are (no byte swap).
    // Bit operations rather than `||`, so that all of it is one branch.
    let bad = |a: [u8; 4]| MARTIAN_FIRST_OCTET[usize::from(a[0])] | (a == [0xff; 4]);
    let ok = l2_ok
        & l3_ok
        & csum_ok
        & (total + ETH_HLEN == frame.len())
        & (ttl > 1)
        & !bad(src)
        & !bad(dst)
        & !srcs.may_contain(src);
    let dst = u32::from_be_bytes(dst);
    ok.then_some(dst)
}

/// First octets that make an address unusable as a source or forwarded destination:
/// 0 (this network, RFC 1122), 127 (loopback), 224..=239 (multicast).
const MARTIAN_FIRST_OCTET: [bool; 256] = {
    let mut t = [false; 256];
    t[0] = true;
    t[127] = true;
    let mut o = 224;
    while o < 240 {
        t[o] = true;
        o += 1;
    }
    t
};

/// RFC 1071 over the 20-octet header, in native-endian 32-bit words: the folded sum of
/// a correct header is 0xffff in either byte order.
#[inline(always)]
fn header_sum_ok(h: &[u8; HDR_LEN]) -> bool {
    let w = |i: usize| u64::from(u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    let acc = w(14) + w(18) + w(22) + w(26) + w(30);
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    checksum::fold(acc as u32) == 0xffff
}

/// What `ip4_forward` and `ip4_output` write into an accepted packet leaving from
/// `src` towards `dst`: TTL decremented with the RFC 1624 checksum update, and the
/// Ethernet addresses (the EtherType stays IPv4).
#[inline(always)]
pub fn rewrite(frame: &mut [u8], src: MacAddr, dst: MacAddr) {
    let Some(h) = frame.get_mut(..HDR_LEN) else {
        return;
    };
    // TTL > 1 (accepted), so its octet just goes down by one.
    h[22] -= 1;
    let c = ttl_decremented(u16::from_be_bytes([h[24], h[25]]));
    h[24..26].copy_from_slice(&c.to_be_bytes());
    h[..6].copy_from_slice(&dst.0);
    h[6..12].copy_from_slice(&src.0);
}

/// The header checksum after the TTL (the high octet of its 16-bit word) went down by
/// one: RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), where ~m + m' is always 0xfeff for
/// m' = m - 0x0100; one end-around carry suffices (~HC + 0xfeff <= 0x1fefe).
#[inline(always)]
fn ttl_decremented(hc: u16) -> u16 {
    let s = u32::from(!hc) + 0xfeff;
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
    use std::net::Ipv4Addr;

    const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 9);
    const OUT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);

    /// What the stages decide for `frame` with a route via GW on port 1: Some(dst) when
    /// they forward it (given MTU 1500 and a neighbour for GW).
    fn stages(frame: &[u8], csum: RxCsum) -> Option<u32> {
        let mut p = TestPacket::new(frame, 0);
        p.csum = csum;
        let EthNext::Ip4 { l2_bcast } = eth_input(p.data(), ROUTER_MAC) else {
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
    fn ttl_checksum_shortcut_is_rfc1624() {
        for hc in 0..=u16::MAX {
            for ttl in [2u16, 64, 128, 255] {
                let old = ttl << 8 | 17;
                let want = checksum::update16(hc, old, old - 0x0100);
                assert_eq!(ttl_decremented(hc), want, "hc {hc:#x} ttl {ttl}");
            }
        }
    }

    fn none() -> SrcFilter {
        SrcFilter::default()
    }

    #[test]
    fn declines_sources_in_the_filter() {
        let f = good();
        let mut flt = SrcFilter::default();
        flt.insert([f[26], f[27], f[28], f[29]]);
        assert_eq!(accept(&f, ROUTER_MAC, RxCsum::Unknown, &flt), None);
        let mut all = SrcFilter::default();
        all.fill();
        assert_eq!(accept(&f, ROUTER_MAC, RxCsum::Unknown, &all), None);
    }

    #[test]
    fn accepts_a_plain_packet_and_rewrites_as_the_stages_do() {
        let f = good();
        assert_eq!(
            accept(&f, ROUTER_MAC, RxCsum::Unknown, &none()),
            Some(0xc000_0207)
        );
        let mut fast = f.clone();
        rewrite(&mut fast, ROUTER_MAC, OUT_MAC);
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
        ];
        for (what, mutate) in cases {
            let mut f = g.clone();
            mutate(&mut f);
            assert_eq!(
                accept(&f, ROUTER_MAC, RxCsum::Unknown, &none()),
                None,
                "{what}"
            );
        }
        assert_eq!(accept(&g, ROUTER_MAC, RxCsum::Bad, &none()), None);
        let mut f = g.clone();
        f[24] ^= 0x40;
        assert!(
            accept(&f, ROUTER_MAC, RxCsum::Good, &none()).is_some(),
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
            let fast = accept(&f, ROUTER_MAC, csum, &none());
            if let Some(dst) = fast {
                assert_eq!(stages(&f, csum), Some(dst), "{f:02x?} {csum:?}");
                let mut a = f.clone();
                rewrite(&mut a, ROUTER_MAC, OUT_MAC);
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
