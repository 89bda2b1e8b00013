//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Words are big-endian on the wire; every function here takes and returns host values.
//! A checksum returned by [`checksum`] or [`update16`] is written to its field with
//! `to_be_bytes`.

/// One's-complement partial sum of `data` as big-endian 16-bit words (RFC 1071 §4.1).
///
/// An odd trailing byte is padded with a zero byte on the right. The result is not
/// folded, so partial sums of several buffers (e.g. a pseudo-header and a payload) can be
/// added together before calling [`fold`]. It is exact for inputs up to 128 KiB; past that
/// carries are folded back in, which keeps the one's-complement value unchanged.
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    // End-around carry down to 32 bits; a no-op for any realistic packet.
    while acc > u64::from(u32::MAX) {
        acc = (acc & 0xffff_ffff) + (acc >> 32);
    }
    acc as u32
}

/// `fold(sum(data))`, computed 32 bits at a time: the one's-complement sum is the same
/// in any word size once folded (RFC 1071 §2(B), "parallel summation"), and this takes
/// half the additions. What the datapath uses to verify and fill header checksums.
#[inline]
pub fn folded_sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    // 0..=3 trailing bytes: a 16-bit word and/or an odd byte padded on the right.
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc += u64::from(u32::from_be_bytes(tail));
    // 64 -> 32 -> 16 bits with end-around carries; each step keeps the value mod 0xffff
    // and never turns a nonzero sum into zero.
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    fold(acc as u32)
}

/// Folds the carries of a partial sum into 16 bits (end-around carry, RFC 1071 §4.1).
#[inline]
pub fn fold(sum: u32) -> u16 {
    // Two end-around carries bring any u32 down to 16 bits: the first leaves at most
    // 0xffff + 0xffff = 0x1fffe, the second at most 0xffff.
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// The value to store in a checksum field: `!fold(sum(data))` (RFC 1071).
///
/// Compute it with the checksum field zeroed. Over a buffer that already contains a
/// correct checksum, `fold(sum(data))` is `0xffff` (and `checksum(data)` is `0`).
pub fn checksum(data: &[u8]) -> u16 {
    !folded_sum(data)
}

/// Incrementally updates checksum `csum` after one 16-bit word of the covered data changed
/// from `old` to `new`: RFC 1624 eqn. 3, `HC' = ~(~HC + ~m + m')`.
///
/// Unlike RFC 1141's `HC' = HC + m - m'`, this gives the same result as a full
/// recomputation, including when the new checksum is `0x0000` (RFC 1624 §3), for any data
/// that is not all zeros.
#[inline]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    let s = u32::from(!csum) + u32::from(!old) + u32::from(new);
    !fold(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    fn word(buf: &[u8], i: usize) -> u16 {
        u16::from_be_bytes([buf[2 * i], buf[2 * i + 1]])
    }

    fn set_word(buf: &mut [u8], i: usize, v: u16) {
        buf[2 * i..2 * i + 2].copy_from_slice(&v.to_be_bytes());
    }

    /// A random 20-byte IPv4-like header with a correct checksum in word 5 (bytes 10..12).
    fn random_header(rng: &mut Rng) -> [u8; 20] {
        let mut h = [0u8; 20];
        rng.fill(&mut h);
        set_word(&mut h, 5, 0);
        let c = checksum(&h);
        set_word(&mut h, 5, c);
        h
    }

    fn recompute(h: &[u8; 20]) -> u16 {
        let mut z = *h;
        set_word(&mut z, 5, 0);
        checksum(&z)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 worked example: 0001 + f203 + f4f5 + f6f7 = 2ddf0, folded ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0x0002_ddf0);
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn folded_sum_is_the_16_bit_fold() {
        let mut rng = Rng(0x5eed_0fc5_u64);
        for len in 0..80 {
            for _ in 0..50 {
                let mut d = vec![0u8; len];
                rng.fill(&mut d);
                assert_eq!(folded_sum(&d), fold(sum(&d)), "len {len}");
            }
            // All ones and all zeros: the two representations of zero stay apart.
            let ones = vec![0xffu8; len];
            assert_eq!(folded_sum(&ones), fold(sum(&ones)), "ones, len {len}");
            assert_eq!(folded_sum(&vec![0u8; len]), 0);
        }
        let big = vec![0xffu8; 400_001];
        assert_eq!(folded_sum(&big), fold(sum(&big)));
    }

    #[test]
    fn odd_length_pads_right() {
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0x12, 0x34, 0xab]), 0x1234 + 0xab00);
        assert_eq!(sum(&[]), 0);
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn fold_carries() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(0x1_fffe), 0xffff);
        assert_eq!(fold(0xffff_ffff), 0xffff);
    }

    #[test]
    fn long_input_keeps_value() {
        // 200 000 words of 0xffff overflow a u32 accumulator; the folded value must still
        // be 0xffff (one's-complement negative zero).
        let data = vec![0xffu8; 400_000];
        assert_eq!(fold(sum(&data)), 0xffff);
        let data = vec![0x01u8; 400_001];
        let words = 200_000u64 * 0x0101 + 0x0100;
        assert_eq!(u64::from(fold(sum(&data))), words % 0xffff);
    }

    #[test]
    fn real_ipv4_header() {
        // Captured: ICMP echo request 127.0.0.1 -> 127.0.0.1, checksum 0x9c7f.
        let mut h = [
            0x45, 0x00, 0x00, 0x54, 0xa0, 0x27, 0x40, 0x00, 0x40, 0x01, 0x9c, 0x7f, 0x7f, 0x00,
            0x00, 0x01, 0x7f, 0x00, 0x00, 0x01,
        ];
        assert_eq!(fold(sum(&h)), 0xffff);
        assert_eq!(checksum(&h), 0);
        assert_eq!(recompute(&h), 0x9c7f);
        // The same TTL decrement a router does: 0x4001 -> 0x3f01.
        let c = update16(0x9c7f, 0x4001, 0x3f01);
        h[8] = 0x3f;
        assert_eq!(c, recompute(&h));
        assert_eq!(c, 0x9d7f);
    }

    #[test]
    fn rfc1624_example() {
        // RFC 1624 §4: eqn. 3 yields 0x0000 where RFC 1141's eqn. 2 yields 0xFFFF.
        assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn update16_matches_recompute_random() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..100_000 {
            let mut h = random_header(&mut rng);
            let csum = word(&h, 5);
            let i = [0, 1, 2, 3, 4, 6, 7, 8, 9][(rng.next() % 9) as usize];
            let old = word(&h, i);
            let new = rng.next() as u16;
            set_word(&mut h, i, new);
            let inc = update16(csum, old, new);
            assert_eq!(inc, recompute(&h), "word {i} {old:#06x}->{new:#06x}");
            set_word(&mut h, 5, inc);
            assert_eq!(fold(sum(&h)), 0xffff);
        }
    }

    #[test]
    fn update16_ttl_decrement_random() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        for _ in 0..100_000 {
            let mut h = random_header(&mut rng);
            // Word 4 is TTL (high byte) and protocol (low byte).
            let mut csum = word(&h, 5);
            while h[8] > 0 {
                let old = word(&h, 4);
                h[8] -= 1;
                let new = word(&h, 4);
                csum = update16(csum, old, new);
                if rng.next() & 15 == 0 || h[8] == 0 {
                    assert_eq!(csum, recompute(&h));
                }
                // Stop early most of the time to keep the test fast.
                if rng.next() & 7 == 0 {
                    break;
                }
            }
            assert_eq!(csum, recompute(&h));
        }
    }

    /// Forces a header's checksum to `target` by choosing word 2 (the IPv4 ident), so the
    /// 0x0000 / 0xffff corner cases are hit deterministically.
    fn header_with_checksum(rng: &mut Rng, target: u16) -> [u8; 20] {
        loop {
            let mut h = random_header(rng);
            set_word(&mut h, 2, 0);
            set_word(&mut h, 5, 0);
            // Want !fold(rest + x) == target, i.e. fold(rest + x) == !target.
            let rest = fold(sum(&h));
            let want = !target;
            // x = want - rest in one's complement: want + !rest.
            let x = fold(u32::from(want) + u32::from(!rest));
            set_word(&mut h, 2, x);
            let c = checksum(&h);
            if c == target {
                set_word(&mut h, 5, c);
                return h;
            }
        }
    }

    #[test]
    fn update16_corner_cases() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for _ in 0..10_000 {
            // Starting checksum 0x0000 (the sum of the rest is 0xffff).
            let mut h = header_with_checksum(&mut rng, 0x0000);
            assert_eq!(word(&h, 5), 0x0000);
            if h[8] > 0 {
                let old = word(&h, 4);
                h[8] -= 1;
                let c = update16(0x0000, old, word(&h, 4));
                assert_eq!(c, recompute(&h));
            }

            // A change that lands the checksum exactly on 0x0000.
            let mut h = header_with_checksum(&mut rng, 0x0001);
            let old = word(&h, 3);
            let new = fold(u32::from(old) + 1);
            set_word(&mut h, 3, new);
            let c = update16(0x0001, old, new);
            assert_eq!(c, recompute(&h));
            assert_eq!(c, 0x0000);

            // Words going to and from 0xffff and 0x0000.
            let mut h = random_header(&mut rng);
            for (old_v, new_v) in [(0x0000, 0xffff), (0xffff, 0x0000), (0xffff, 0xffff)] {
                set_word(&mut h, 3, old_v);
                let fixed = recompute(&h);
                set_word(&mut h, 5, fixed);
                set_word(&mut h, 3, new_v);
                assert_eq!(update16(fixed, old_v, new_v), recompute(&h));
            }
        }
    }

    #[test]
    fn update16_identity() {
        for c in [0x0000, 0x0001, 0x7fff, 0xfffe] {
            for m in [0x0000, 0x1234, 0xffff] {
                assert_eq!(update16(c, m, m), c);
            }
        }
    }
}
