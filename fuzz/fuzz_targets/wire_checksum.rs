//! `wire::checksum`: the 32-bit folded sum against the 16-bit reference sum on any
//! bytes and split, the stored checksum verifying, and the RFC 1624 update against a
//! full recomputation.
#![no_main]
use ferroute::wire::checksum::{checksum, fold, folded_sum, sum, update16};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reference = fold(sum(data));
    // One's-complement sums agree once folded, except that 0x0000 and 0xffff are both
    // zero: a nonzero sum is never folded to 0, and 0 comes only from all-zero input.
    let fast = folded_sum(data);
    assert_eq!(fast, reference, "{data:?}");
    if data.iter().any(|&b| b != 0) {
        assert_ne!(fast, 0);
    }
    // Splitting at an even offset: partial sums add.
    let mid = (data.len() / 2) & !1;
    let (a, b) = data.split_at(mid);
    assert_eq!(fold(fold(sum(a)) as u32 + fold(sum(b)) as u32), reference);
    assert_eq!(checksum(data), !reference);
    // With the checksum stored in the first word, the buffer sums to 0xffff.
    if data.len() >= 4 && data.len().is_multiple_of(2) {
        let mut buf = data.to_vec();
        buf[0] = 0;
        buf[1] = 0;
        let c = checksum(&buf);
        buf[..2].copy_from_slice(&c.to_be_bytes());
        assert_eq!(folded_sum(&buf), 0xffff);
        // RFC 1624 eqn. 3: change the second word, update incrementally.
        let old = u16::from_be_bytes([buf[2], buf[3]]);
        let new = old.rotate_left(3) ^ 0x5a5a;
        let inc = update16(c, old, new);
        buf[2..4].copy_from_slice(&new.to_be_bytes());
        buf[..2].copy_from_slice(&[0, 0]);
        let full = checksum(&buf);
        // Equal but for the all-zero data case (RFC 1624 §3: ~0 vs 0).
        if buf.iter().any(|&b| b != 0) {
            assert_eq!(inc, full, "old {old:#x} new {new:#x}");
        }
    }
});
