//! IPv4 longest-prefix match: a Poptrie (Asai and Ohara, SIGCOMM 2015) with 18-bit direct
//! pointing, leaf pushing, and first-level nodes stored inline in 64-byte lines.
//!
//! This file holds the table [`Lpm`] and its lookups (`lookup`, `lookup_burst`);
//! `node.rs` the layout (entry bits, deeper nodes, leaf encodings); `build.rs` the
//! build from routes ([`Lpm::build`]); `slot.rs` the in-place replacement of one /18
//! slot's subtree ([`Lpm::set_slot`], [`Lpm::copy_slot`]), which `super::update` only
//! does to a copy no reader holds.
//!
//! The design and measured figures: `docs/design/lpm.md`.

mod build;
mod node;
mod slot;
#[cfg(test)]
mod tests;

use node::{
    chunk, dir_is_leaf, rank, rd64, rd_array, to_opt, upto, Codec, Dyn, Mapped, Mode, Narrow, Node,
    Wide, DEEP_BIT, NONE, OFFSET_MASK, STRIDE,
};
use slot::Space;

/// Value stored per prefix (a next-hop index). Values must be < 2^31.
pub type NhId = u32;

/// Bits resolved by the direct-pointing table.
pub const DIR_BITS: u32 = 18;
/// Entries of the direct-pointing table (slots, each a /18).
pub const DIR_SIZE: usize = 1 << DIR_BITS;

/// Addresses processed together by `lookup_burst` (32 measured best; at most 32, the
/// width of the lane mask).
const BURST: usize = 32;

/// Bit `i` of a lane mask, for lane `i` of a burst.
const LANE_BIT: [u32; BURST] = {
    let mut b = [0; BURST];
    let mut i = 0;
    while i < BURST {
        b[i] = 1 << i;
        i += 1;
    }
    b
};

/// IPv4 longest-prefix-match table. Lookups take `&self`; the owner can replace the
/// subtree of one direct-table slot in place ([`Lpm::set_slot`]), which readers must not
/// see half done: `super::update` only does it to a copy no reader holds. Cloning copies
/// the arrays (a few MiB for a full table).
pub struct Lpm {
    /// Direct-pointing table: a value, `NONE`, or `NODE_BIT | [DEEP_BIT] | (offset / 4)` of
    /// a first-level node's `leafvec` in `pool`.
    dir: Box<[u32; DIR_SIZE]>,
    /// First-level node records (packed in 64-byte lines) and the leaves of deeper nodes.
    pool: Vec<u8>,
    /// Nodes below the first level.
    nodes: Vec<Node>,
    /// Leaf code to answer, for [`Mode::Mapped`] (empty otherwise).
    map: Vec<u32>,
    mode: Mode,
    /// Number of first-level nodes (for `Debug`).
    l1_nodes: usize,
    len: usize,
    /// Free space in `pool` and `nodes` left by replaced subtrees.
    space: Space,
}

/// A first-level answer: the value, or the deeper node that decides.
#[derive(Clone, Copy)]
enum Level1<'a> {
    Leaf(u32),
    Deep(&'a Node),
}

/// A route value the table's leaf encoding cannot hold: the table must be rebuilt (which
/// chooses the encoding anew).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unencodable(pub NhId);

impl Clone for Lpm {
    fn clone(&self) -> Lpm {
        Lpm {
            // Through a Vec: `Box<[u32; N]>::clone` may build the 1 MiB array on the stack.
            dir: boxed_dir(self.dir.to_vec()),
            pool: self.pool.clone(),
            nodes: self.nodes.clone(),
            map: self.map.clone(),
            mode: self.mode,
            l1_nodes: self.l1_nodes,
            len: self.len,
            space: self.space.clone(),
        }
    }
}

fn boxed_dir(v: Vec<u32>) -> Box<[u32; DIR_SIZE]> {
    match v.into_boxed_slice().try_into() {
        Ok(d) => d,
        Err(_) => unreachable!("direct table has DIR_SIZE entries"),
    }
}

impl std::fmt::Debug for Lpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lpm")
            .field("prefixes", &self.len)
            .field("mode", &self.mode)
            .field("l1_nodes", &self.l1_nodes)
            .field("deep_nodes", &self.nodes.len())
            .field("pool_bytes", &self.pool.len())
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

impl Default for Lpm {
    fn default() -> Self {
        Lpm::build(std::iter::empty())
    }
}

impl Lpm {
    /// Bytes per leaf in the pool, as a shift.
    #[inline(always)]
    fn leaf_shift(&self) -> u32 {
        match self.mode {
            Mode::Narrow | Mode::Mapped => 1,
            Mode::Wide => 2,
        }
    }

    /// Decodes the leaf at pool offset `at`.
    #[inline(always)]
    fn leaf(&self, at: usize) -> u32 {
        match self.mode {
            Mode::Narrow => Narrow::get(self, at),
            Mode::Mapped => Mapped::get(self, at),
            Mode::Wide => Wide::get(self, at),
        }
    }

    /// Resolves `addr` in the first-level node referenced by direct-table entry `e`, whose
    /// `leafvec` (its first word) is already loaded.
    #[inline(always)]
    fn step1<C: Codec>(&self, e: u32, leafvec: u64, addr: u32) -> u32 {
        let rank = rank(leafvec, chunk(addr, DIR_BITS));
        self.answer::<C>(self.level1::<C>(e, rank, addr), addr)
    }

    /// The answer for `addr` from its first-level answer `l`.
    #[inline(always)]
    fn answer<C: Codec>(&self, l: Level1<'_>, addr: u32) -> u32 {
        match l {
            Level1::Leaf(x) => x,
            Level1::Deep(n) => self.level2::<C>(n, addr),
        }
    }

    /// What the first-level node referenced by direct-table entry `e` says of `addr`
    /// (`rank`: `rank(leafvec, chunk(addr, DIR_BITS))` of the node's leafvec): the
    /// answer, or the deeper node below it. The same
    /// for every address of `addr`'s /24.
    #[inline(always)]
    fn level1<C: Codec>(&self, e: u32, rank: u32, addr: u32) -> Level1<'_> {
        let p = (e & OFFSET_MASK) as usize * 4;
        if e & DEEP_BIT != 0 {
            let v = chunk(addr, DIR_BITS);
            // The record's `vector` and `base1`, the 12 octets before its leafvec, read
            // with one bounds check.
            let [a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3] = rd_array(&self.pool, p - 12);
            let vector = u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]);
            if vector & (1u64 << v) != 0 {
                let base1 = u32::from_le_bytes([b0, b1, b2, b3]);
                let idx = base1 + (vector & upto(v)).count_ones() - 1;
                return match self.nodes.get(idx as usize) {
                    Some(n) => Level1::Deep(n),
                    None => Level1::Leaf(NONE),
                };
            }
        }
        Level1::Leaf(C::get(
            self,
            p + 8 + ((rank as usize - 1) << C::shift(self)),
        ))
    }

    /// Resolves `addr` in deeper node `n`, which covers bits 24..30: inline, since that
    /// is where the common longer prefixes (/25 to /30) end; the rest of the walk (/31,
    /// /32) out of line. Behind a call, this level cost a 2-route table of /25s
    /// (bench/throughput) 9 cycles per packet of 155 (perf on the worker, memif).
    #[inline(always)]
    fn level2<C: Codec>(&self, n: &Node, addr: u32) -> u32 {
        let v = chunk(addr, DIR_BITS + STRIDE);
        if n.vector & (1u64 << v) != 0 {
            return self.walk(n.base1 + (n.vector & upto(v)).count_ones() - 1, addr);
        }
        let k = rank(n.leafvec, v) as usize - 1;
        C::get(self, n.base0 as usize + (k << C::shift(self)))
    }

    /// Walks the deeper nodes from node `idx`, which covers bits 30..32.
    #[inline(never)]
    fn walk(&self, mut idx: u32, addr: u32) -> u32 {
        let mut off = DIR_BITS + 2 * STRIDE;
        loop {
            let n = &self.nodes[idx as usize];
            let v = chunk(addr, off);
            let m = upto(v);
            if n.vector & (1u64 << v) != 0 {
                idx = n.base1 + (n.vector & m).count_ones() - 1;
                off += STRIDE;
            } else {
                let k = (n.leafvec & m).count_ones() as usize - 1;
                return self.leaf(n.base0 as usize + (k << self.leaf_shift()));
            }
        }
    }

    /// Longest-prefix match: the value of the longest prefix covering `addr`, or `None`
    /// when no prefix (including no default route) covers it.
    #[inline(always)]
    pub fn lookup(&self, addr: u32) -> Option<NhId> {
        let e = self.dir[(addr >> (32 - DIR_BITS)) as usize];
        if dir_is_leaf(e) {
            return to_opt(e);
        }
        let leafvec = rd64(&self.pool, (e & OFFSET_MASK) as usize * 4);
        to_opt(self.step1::<Dyn>(e, leafvec, addr))
    }

    /// Burst lookup: `out[i] = lookup(addrs[i])`, processed in groups of 32 addresses.
    /// Each group goes stage by stage (all direct-table reads, then all first-level node
    /// headers, then the leaves), so the memory reads of different addresses are
    /// independent and overlap instead of forming one long dependent chain per address.
    /// If the slices differ in length only the common prefix is processed (debug builds
    /// assert equal lengths).
    pub fn lookup_burst(&self, addrs: &[u32], out: &mut [Option<NhId>]) {
        debug_assert_eq!(addrs.len(), out.len());
        let mut res = [0u32; BURST];
        for (a, o) in addrs.chunks(BURST).zip(out.chunks_mut(BURST)) {
            self.lookup_burst_raw(a, &mut res[..a.len()]);
            for (o, &r) in o.iter_mut().zip(&res) {
                *o = to_opt(r);
            }
        }
    }

    /// As `lookup_burst`, with the answers as stored: `out[i]` is the value, or
    /// `u32::MAX` when no prefix covers `addrs[i]` (saves the conversion to `Option`
    /// for callers that index a table with the answer anyway).
    #[inline]
    pub fn lookup_burst_raw(&self, addrs: &[u32], out: &mut [u32]) {
        debug_assert_eq!(addrs.len(), out.len());
        for (a, o) in addrs.chunks(BURST).zip(out.chunks_mut(BURST)) {
            match self.mode {
                Mode::Narrow => self.burst::<Narrow>(a, o),
                Mode::Mapped => self.burst::<Mapped>(a, o),
                Mode::Wide => self.burst::<Wide>(a, o),
            }
        }
    }

    #[inline(always)]
    fn burst<C: Codec>(&self, addrs: &[u32], out: &mut [u32]) {
        let n = addrs.len().min(out.len()).min(BURST);
        let (addrs, out) = (&addrs[..n], &mut out[..n]);
        // Stage 1: direct-table entries, then the mask of the lanes that need a
        // first-level node. Without one (always, in a table without prefixes longer than
        // /18, such as a few static routes) the entries are the answers. The masks are
        // built in loops of their own, which the compiler vectorises (taking each lane's
        // bit from `LANE_BIT` costs fewer instructions than shifting by the lane number).
        let mut res = [0u32; BURST];
        for (r, &a) in res.iter_mut().zip(addrs) {
            *r = self.dir[(a >> (32 - DIR_BITS)) as usize];
        }
        let mut lanes = 0u32;
        for (&e, &bit) in res[..n].iter().zip(&LANE_BIT) {
            if !dir_is_leaf(e) {
                lanes |= bit;
            }
        }
        if lanes == 0 {
            out.copy_from_slice(&res[..n]);
            return;
        }
        // Consecutive addresses of one /24 share the first-level answer (a value, or the
        // deeper node to finish in), so only the first of each run (a "head") reads the
        // first-level record: a burst of one flow, or of a few hosts of one subnet, reads
        // it once. Same /24, same direct-table entry: a run's lanes all need a node or
        // none does.
        let mut same = 0u32;
        let mut prev = u32::MAX; // no /24 (addr >> 8) is that
        for (&a, &bit) in addrs.iter().zip(&LANE_BIT) {
            if a >> 8 == prev {
                same |= bit;
            }
            prev = a >> 8;
        }
        let heads = lanes & !same;
        if heads == lanes {
            // Every lane its own run (addresses all over the table): each reads its
            // first-level record and finishes, in one pass over the lanes. The lanes do
            // not depend on each other, so their reads still overlap.
            let mut left = lanes;
            while left != 0 {
                let i = left.trailing_zeros() as usize & (BURST - 1);
                left &= left - 1;
                let leafvec = rd64(&self.pool, (res[i] & OFFSET_MASK) as usize * 4);
                res[i] = self.step1::<C>(res[i], leafvec, addrs[i]);
            }
        } else {
            // Stage 2: the leafvec of each head's first-level node and the rank of its
            // leaf.
            let mut cnt = [0u32; BURST];
            let mut h = heads;
            while h != 0 {
                let i = h.trailing_zeros() as usize & (BURST - 1);
                h &= h - 1;
                let l = rd64(&self.pool, (res[i] & OFFSET_MASK) as usize * 4);
                cnt[i] = rank(l, chunk(addrs[i], DIR_BITS));
            }
            // Stage 3: the answers, lane by lane in order (a run's lanes after its head
            // take the head's first-level answer).
            let mut left = lanes;
            let mut level1 = Level1::Leaf(NONE);
            while left != 0 {
                let i = left.trailing_zeros() as usize & (BURST - 1);
                left &= left - 1;
                if heads >> i & 1 != 0 {
                    level1 = self.level1::<C>(res[i], cnt[i], addrs[i]);
                }
                res[i] = self.answer::<C>(level1, addrs[i]);
            }
        }
        out.copy_from_slice(&res[..n]);
    }

    /// Bytes of heap used by the lookup tables (allocated capacity, including space freed
    /// by updates and not yet reused).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<[u32; DIR_SIZE]>()
            + self.pool.capacity()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.map.capacity() * std::mem::size_of::<u32>()
    }

    /// Number of prefixes the table was built from (after removing duplicates).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the table was built from no prefixes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
