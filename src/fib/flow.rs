//! The flow hash that picks a multipath route's bucket: Linux's
//! `fib_multipath_hash_policy=1` (net/ipv4/route.c `fib_multipath_hash`), computed in
//! software from the packet (no NIC RSS hash, whose key and fields differ per NIC).
//!
//! The fields are the 5-tuple: source, destination, protocol, and for TCP, UDP and SCTP
//! the ports, unless the packet is a fragment (MF set or offset non-zero): fragments
//! after the first carry no ports, so all fragments of a datagram use the 3-tuple and
//! stay together. The mix is splitmix64's finaliser (Steele et al., "Fast splittable
//! pseudorandom number generators", OOPSLA 2014): a few multiplications, every input bit
//! reaching the top bits the bucket is taken from.

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_SCTP: u8 = 132;

#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The hash of a 5-tuple (ports 0 for the 3-tuple).
#[inline]
pub fn hash_tuple(src: u32, dst: u32, proto: u8, sport: u16, dport: u16) -> u32 {
    let l4 = u64::from(proto) << 32 | u64::from(sport) << 16 | u64::from(dport);
    (mix((u64::from(src) << 32 | u64::from(dst)) ^ mix(l4)) >> 32) as u32
}

/// The hash of the IPv4 packet starting at `ip` (header, then payload). A header too
/// short for the addresses hashes as zeros; ports missing from a truncated packet are
/// taken as 0. Never panics.
#[inline]
pub fn hash_ipv4(ip: &[u8]) -> u32 {
    let Some(h) = ip.get(..20) else {
        return 0;
    };
    let src = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
    let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
    let proto = h[9];
    // MF (0x2000) or a fragment offset (low 13 bits).
    let fragment = u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0;
    let (mut sport, mut dport) = (0, 0);
    if !fragment && matches!(proto, PROTO_TCP | PROTO_UDP | PROTO_SCTP) {
        let ihl = usize::from(h[0] & 0x0f) * 4;
        if let Some(p) = ip.get(ihl..ihl + 4) {
            sport = u16::from_be_bytes([p[0], p[1]]);
            dport = u16::from_be_bytes([p[2], p[3]]);
        }
    }
    hash_tuple(src, dst, proto, sport, dport)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UDP packet 10.0.1.2:sport -> 192.0.2.9:53 with flags/offset word `frag`.
    fn udp(sport: u16, frag: u16) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[6..8].copy_from_slice(&frag.to_be_bytes());
        p[8] = 64;
        p[9] = PROTO_UDP;
        p[12..16].copy_from_slice(&[10, 0, 1, 2]);
        p[16..20].copy_from_slice(&[192, 0, 2, 9]);
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&53u16.to_be_bytes());
        p
    }

    #[test]
    fn same_flow_same_hash_other_ports_other_hash() {
        assert_eq!(hash_ipv4(&udp(1000, 0)), hash_ipv4(&udp(1000, 0)));
        // DF (0x4000) is not a fragment.
        assert_eq!(hash_ipv4(&udp(1000, 0x4000)), hash_ipv4(&udp(1000, 0)));
        assert_ne!(hash_ipv4(&udp(1000, 0)), hash_ipv4(&udp(1001, 0)));
        assert_eq!(
            hash_ipv4(&udp(1000, 0)),
            hash_tuple(0x0a00_0102, 0xc000_0209, PROTO_UDP, 1000, 53)
        );
        // The payload beyond the ports does not count.
        let mut a = udp(1000, 0);
        a.extend_from_slice(b"payload");
        assert_eq!(hash_ipv4(&a), hash_ipv4(&udp(1000, 0)));
    }

    #[test]
    fn fragments_use_the_three_tuple() {
        let three = hash_tuple(0x0a00_0102, 0xc000_0209, PROTO_UDP, 0, 0);
        // First fragment (MF, offset 0) and a later one (offset 185*8): no ports.
        assert_eq!(hash_ipv4(&udp(1000, 0x2000)), three);
        assert_eq!(hash_ipv4(&udp(4242, 185)), three);
        assert_eq!(hash_ipv4(&udp(4242, 0x2000 | 185)), three);
        // ICMP has no ports either.
        let mut icmp = udp(1000, 0);
        icmp[9] = 1;
        assert_eq!(
            hash_ipv4(&icmp),
            hash_tuple(0x0a00_0102, 0xc000_0209, 1, 0, 0)
        );
    }

    #[test]
    fn short_or_odd_headers_do_not_panic() {
        for n in 0..28 {
            let _ = hash_ipv4(&udp(1000, 0)[..n]);
        }
        let mut p = udp(1000, 0);
        p[0] = 0x4f; // IHL 60 bytes, past the end: ports taken as 0
        assert_eq!(
            hash_ipv4(&p),
            hash_tuple(0x0a00_0102, 0xc000_0209, PROTO_UDP, 0, 0)
        );
    }

    #[test]
    fn top_bits_are_uniform_over_source_ports() {
        // Flows differing only in the source port (as the integration test sends them)
        // spread evenly over the top bits, which pick the bucket.
        let mut top = [0u32; 8];
        for sport in 0..8000u16 {
            let h = hash_tuple(0x0a00_0102, 0x0a07_0001, PROTO_UDP, 20000 + sport, 9);
            top[(h >> 29) as usize] += 1;
        }
        for t in top {
            assert!((900..1100).contains(&t), "{top:?}");
        }
    }
}
