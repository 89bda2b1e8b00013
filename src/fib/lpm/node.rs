//! The table's layout: direct-table entry bits, the deeper trie nodes, and the leaf
//! encodings with their decoding (see `docs/design/lpm.md`).

use super::{Lpm, NhId};

/// Bits resolved per trie node.
pub(super) const STRIDE: u32 = 6;

/// Top bit of a direct-table entry: set for node references.
pub(super) const NODE_BIT: u32 = 0x8000_0000;
/// "No route" as stored in direct-table entries and decoded leaves. It has the top bit set,
/// so it cannot collide with a value (< 2^31), and it cannot collide with a node reference
/// because the pool offset in one is always below `OFFSET_MASK`.
pub(super) const NONE: u32 = u32::MAX;

/// Set in a direct-table node reference when the first-level node has internal children
/// (its `vector` and `base1` then precede it in the pool).
pub(super) const DEEP_BIT: u32 = 0x4000_0000;
/// The pool offset (in units of 4 bytes) in a direct-table node reference.
pub(super) const OFFSET_MASK: u32 = DEEP_BIT - 1;

/// A trie node below the first level (layout: `docs/design/lpm.md`).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(super) struct Node {
    /// Bit i set: child i is an internal node.
    pub(super) vector: u64,
    /// Bit i set: child i is a leaf that starts a new run of equal leaves.
    pub(super) leafvec: u64,
    /// Byte offset in `pool` of this node's first leaf.
    pub(super) base0: u32,
    /// Index into `nodes` of this node's first internal child.
    pub(super) base1: u32,
}

/// The 6-bit chunk of `addr` starting at bit offset `off` (counted from the most
/// significant bit). Bits past the end of the address read as zero.
#[inline(always)]
pub(super) fn chunk(addr: u32, off: u32) -> u32 {
    debug_assert!(off < 32);
    (addr << off) >> (32 - STRIDE)
}

/// Number of set bits of `bits` at positions `0..=v`.
#[inline(always)]
pub(super) fn rank(bits: u64, v: u32) -> u32 {
    (bits << (63 - v)).count_ones()
}

/// Mask of bits `0..=v`.
#[inline(always)]
pub(super) fn upto(v: u32) -> u64 {
    (2u64 << v).wrapping_sub(1)
}

#[inline(always)]
pub(super) fn to_opt(x: u32) -> Option<NhId> {
    if x == NONE {
        None
    } else {
        Some(x)
    }
}

/// True when a direct-table entry is a leaf (a value or `NONE`), false for a node reference.
#[inline(always)]
pub(super) fn dir_is_leaf(e: u32) -> bool {
    // e < NODE_BIT (a value) or e == NONE: in both cases e + 1 (wrapping) <= NODE_BIT.
    e.wrapping_add(1) <= NODE_BIT
}

#[inline(always)]
pub(super) fn rd64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// The `N` octets at `at`: one bounds check for several fields.
#[inline(always)]
pub(super) fn rd_array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut x = [0u8; N];
    x.copy_from_slice(&b[at..at + N]);
    x
}

#[inline(always)]
pub(super) fn rd32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

#[inline(always)]
fn rd16(b: &[u8], at: usize) -> u16 {
    let mut x = [0u8; 2];
    x.copy_from_slice(&b[at..at + 2]);
    u16::from_le_bytes(x)
}

/// How leaves are encoded in the pool; chosen per table from the set of values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// All values < 0xFFFF: a leaf is `value + 1` as a `u16`, 0 meaning "no route".
    Narrow,
    /// At most 65,536 distinct answers (counting "no route"): a `u16` index into `map`.
    Mapped,
    /// Anything else: the answer as a `u32`.
    Wide,
}

/// Leaf decoding for one [`Mode`], as a type so that burst loops are specialised.
pub(super) trait Codec {
    /// log2 of the bytes per leaf.
    fn shift(t: &Lpm) -> u32;
    /// The answer stored in the leaf at pool offset `at`.
    fn get(t: &Lpm, at: usize) -> u32;
}
pub(super) struct Narrow;
pub(super) struct Mapped;
pub(super) struct Wide;
/// Dispatches on the table's mode at run time (keeps single lookups small).
pub(super) struct Dyn;
impl Codec for Narrow {
    #[inline(always)]
    fn shift(_: &Lpm) -> u32 {
        1
    }
    #[inline(always)]
    fn get(t: &Lpm, at: usize) -> u32 {
        u32::from(rd16(&t.pool, at)).wrapping_sub(1)
    }
}
impl Codec for Mapped {
    #[inline(always)]
    fn shift(_: &Lpm) -> u32 {
        1
    }
    #[inline(always)]
    fn get(t: &Lpm, at: usize) -> u32 {
        t.map[usize::from(rd16(&t.pool, at))]
    }
}
impl Codec for Wide {
    #[inline(always)]
    fn shift(_: &Lpm) -> u32 {
        2
    }
    #[inline(always)]
    fn get(t: &Lpm, at: usize) -> u32 {
        rd32(&t.pool, at)
    }
}
impl Codec for Dyn {
    #[inline(always)]
    fn shift(t: &Lpm) -> u32 {
        t.leaf_shift()
    }
    #[inline(always)]
    fn get(t: &Lpm, at: usize) -> u32 {
        t.leaf(at)
    }
}
