//! Building the table from routes: leaf pushing into 6-bit nodes, first-level records
//! packed into 64-byte lines, deeper nodes and their leaves after them.

use super::node::{chunk, Mode, Node, DEEP_BIT, NODE_BIT, NONE, OFFSET_MASK, STRIDE};
use super::slot::Space;
use super::{boxed_dir, Lpm, NhId, DIR_BITS, DIR_SIZE};

/// A validated, normalised route.
#[derive(Clone, Copy, Debug)]
pub(super) struct Route {
    pub(super) addr: u32,
    pub(super) len: u8,
    pub(super) val: u32,
}

/// A built node that has not been placed yet: its children are in `nodes` already,
/// its leaves (one per run) are still here.
pub(super) struct Pending {
    pub(super) vector: u64,
    pub(super) leafvec: u64,
    pub(super) base1: u32,
    pub(super) leaves: [u32; 64],
    pub(super) nleaves: usize,
}

/// Result of building one subtree. (`Pending` is large, but it only ever lives briefly
/// on the stack of the recursive build; boxing it would allocate once per node.)
#[allow(clippy::large_enum_variant)]
pub(super) enum Built {
    /// The whole subtree resolves to one answer (a value or `NONE`).
    Leaf(u32),
    Node(Pending),
}

/// Places first-level node records in 64-byte lines so that no record of up to 64 bytes
/// straddles two lines, with little padding: a record goes to the line with the least
/// free space that holds it (best fit), or to a new line. Free space is always a line's
/// tail, tracked per size in 4-byte units.
#[derive(Default, Clone)]
pub(super) struct LineAlloc {
    /// `free[u]`: lines whose last `4 * u` bytes are free (`u` in 1..16).
    free: [Vec<u32>; 16],
}

impl LineAlloc {
    /// Reserves `size` bytes (a multiple of 4) in `pool` and returns their offset.
    pub(super) fn alloc(&mut self, pool: &mut Vec<u8>, size: usize) -> usize {
        debug_assert!(size % 4 == 0 && pool.len() % 64 == 0);
        // Grow by an eighth at a time rather than doubling: after a full build the pool
        // grows only through updates, and slowly.
        let need = pool.len() + size.div_ceil(64) * 64;
        if need > pool.capacity() {
            pool.reserve_exact((need - pool.len()).max(pool.len() / 8));
        }
        let units = size / 4;
        if units < 16 {
            for u in units..16 {
                if let Some(line) = self.free[u].pop() {
                    let at = line as usize * 64 + 64 - 4 * u;
                    if u > units {
                        self.free[u - units].push(line);
                    }
                    return at;
                }
            }
        }
        let at = pool.len();
        let lines = size.div_ceil(64);
        pool.resize(at + lines * 64, 0);
        let tail = lines * 16 - units;
        if tail > 0 {
            self.free[tail].push((pool.len() / 64 - 1) as u32);
        }
        at
    }
}

/// Accumulates the arrays. Subtrees are emitted bottom-up: a node's internal children are
/// appended to `nodes` as one contiguous block once their own subtrees are complete.
pub(super) struct Builder<'a> {
    pub(super) nodes: Vec<Node>,
    /// First-level node records, placed by `lines`.
    pool: Vec<u8>,
    lines: LineAlloc,
    /// Leaves of the deeper nodes; appended to `pool` at the end (and `base0` adjusted).
    pub(super) deep: Vec<u8>,
    /// Scratch space for one record.
    rec: Vec<u8>,
    /// Scratch stack of internal children under construction (see `node`).
    kids: Vec<Node>,
    mode: Mode,
    /// Sorted distinct answers, for `Mode::Mapped`.
    map: &'a [u32],
    l1_nodes: usize,
}

/// Appends the encoding of leaf `v` to `out`.
fn push_leaf(mode: Mode, map: &[u32], out: &mut Vec<u8>, v: u32) {
    match mode {
        Mode::Narrow => out.extend_from_slice(&(v.wrapping_add(1) as u16).to_le_bytes()),
        Mode::Mapped => {
            let code = map.binary_search(&v).unwrap_or(0) as u16;
            out.extend_from_slice(&code.to_le_bytes());
        }
        Mode::Wide => out.extend_from_slice(&v.to_le_bytes()),
    }
}

/// Encodes a first-level node into `rec`: `[vector: u64, base1: u32]` (only when it has
/// internal children), then `leafvec: u64` (where the direct-table entry points), then
/// the leaves, padded to 4 bytes. Returns true when the node has internal children.
pub(super) fn encode_record(mode: Mode, map: &[u32], p: &Pending, rec: &mut Vec<u8>) -> bool {
    let deep = p.vector != 0;
    rec.clear();
    if deep {
        rec.extend_from_slice(&p.vector.to_le_bytes());
        rec.extend_from_slice(&p.base1.to_le_bytes());
    }
    rec.extend_from_slice(&p.leafvec.to_le_bytes());
    for &v in &p.leaves[..p.nleaves] {
        push_leaf(mode, map, rec, v);
    }
    rec.resize(round4(rec.len()), 0);
    deep
}

/// The direct-table entry for a first-level record placed at byte `at` of the pool.
pub(super) fn node_entry(at: usize, deep: bool) -> u32 {
    let r = at + if deep { 12 } else { 0 };
    assert!(r / 4 < OFFSET_MASK as usize, "pool exceeds 4 GiB");
    NODE_BIT | if deep { DEEP_BIT } else { 0 } | (r / 4) as u32
}

/// `n` rounded up to a multiple of 4.
pub(super) fn round4(n: usize) -> usize {
    (n + 3) & !3
}

impl<'a> Builder<'a> {
    /// An empty builder for leaves encoded by `mode` (and `map`, for `Mode::Mapped`).
    pub(super) fn new(mode: Mode, map: &'a [u32]) -> Builder<'a> {
        Builder {
            nodes: Vec::new(),
            pool: Vec::new(),
            lines: LineAlloc::default(),
            deep: Vec::new(),
            rec: Vec::new(),
            kids: Vec::new(),
            mode,
            map,
            l1_nodes: 0,
        }
    }

    /// Builds the subtree for one direct-table slot. `routes` are the routes strictly
    /// inside the slot's /18 (length > 18), sorted by (addr, len); `inherited` is the answer
    /// for the slot from shorter prefixes. Returns the direct-table entry.
    fn slot(&mut self, routes: &[Route], inherited: u32) -> u32 {
        let p = match self.node(routes, DIR_BITS, inherited) {
            Built::Leaf(v) => return v,
            Built::Node(p) => p,
        };
        // Each slot's deeper leaves start 4-byte aligned, so that an update can free them
        // as one block (`Lpm::free_slot`).
        self.deep.resize(round4(self.deep.len()), 0);
        let deep = encode_record(self.mode, self.map, &p, &mut self.rec);
        let at = self.lines.alloc(&mut self.pool, self.rec.len());
        self.pool[at..at + self.rec.len()].copy_from_slice(&self.rec);
        self.l1_nodes += 1;
        node_entry(at, deep)
    }

    /// Builds a node covering address bits `off..off + 6`. `routes` lie inside the node's
    /// block and are sorted by (addr, len); those with len <= `off` are already accounted
    /// for in `inherited` and are ignored.
    pub(super) fn node(&mut self, routes: &[Route], off: u32, inherited: u32) -> Built {
        let lim = off + STRIDE;
        // Leaf-push the routes that end within this node. Sorted (addr, len) order puts a
        // covering prefix before everything it covers, so later writes are more specific.
        let mut slots = [inherited; 64];
        for r in routes {
            let len = u32::from(r.len);
            if len > off && len <= lim {
                let start = chunk(r.addr, off) as usize;
                let count = 1usize << (lim - len);
                slots[start..start + count].fill(r.val);
            }
        }
        // Recurse into the slots that contain longer routes. Those routes are contiguous
        // per slot; a shorter route starting in the same slot sorts before all of them.
        // This node's internal children go on `kids` (above what enclosing calls put
        // there); each recursive call has removed its own by the time it returns.
        let first_kid = self.kids.len();
        let mut vector = 0u64;
        let mut i = 0;
        while i < routes.len() {
            if u32::from(routes[i].len) <= lim {
                i += 1;
                continue;
            }
            let c = chunk(routes[i].addr, off);
            let mut j = i + 1;
            while j < routes.len() && chunk(routes[j].addr, off) == c {
                j += 1;
            }
            match self.node(&routes[i..j], lim, slots[c as usize]) {
                Built::Leaf(v) => slots[c as usize] = v,
                Built::Node(p) => {
                    let base0 = self.deep.len() as u32;
                    for &v in &p.leaves[..p.nleaves] {
                        push_leaf(self.mode, self.map, &mut self.deep, v);
                    }
                    vector |= 1u64 << c;
                    self.kids.push(Node {
                        vector: p.vector,
                        leafvec: p.leafvec,
                        base0,
                        base1: p.base1,
                    });
                }
            }
            i = j;
        }
        // One leaf per run of equal leaf slots (internal slots don't break runs).
        let mut leaves = [0u32; 64];
        let mut nleaves = 0;
        let mut leafvec = 0u64;
        if vector == 0 {
            // The common case (no route longer than the node's stride): runs start where
            // a slot differs from its left neighbour, found without branches.
            leafvec = 1;
            for (c, w) in slots.windows(2).enumerate() {
                leafvec |= u64::from(w[0] != w[1]) << (c + 1);
            }
            let mut bits = leafvec;
            while bits != 0 {
                leaves[nleaves] = slots[bits.trailing_zeros() as usize];
                nleaves += 1;
                bits &= bits - 1;
            }
        } else {
            for (c, &v) in slots.iter().enumerate() {
                if vector & (1u64 << c) == 0 && (nleaves == 0 || leaves[nleaves - 1] != v) {
                    leafvec |= 1u64 << c;
                    leaves[nleaves] = v;
                    nleaves += 1;
                }
            }
        }
        if vector == 0 && nleaves == 1 {
            // Every slot resolves to the same answer: no node needed.
            return Built::Leaf(leaves[0]);
        }
        let base1 = self.nodes.len() as u32;
        self.nodes.extend_from_slice(&self.kids[first_kid..]);
        self.kids.truncate(first_kid);
        Built::Node(Pending {
            vector,
            leafvec,
            base1,
            leaves,
            nleaves,
        })
    }
}

impl Lpm {
    /// Builds the table from `(network address in host byte order, prefix length 0..=32,
    /// value)`. Duplicate `(addr, len)` entries: the last one wins. Host bits set in the
    /// address are ignored. A length > 32 or a value >= 2^31 is a caller bug: it trips a
    /// `debug_assert` and is skipped in release builds.
    pub fn build<I: IntoIterator<Item = (u32, u8, NhId)>>(routes: I) -> Lpm {
        let mut rs: Vec<Route> = Vec::new();
        for (addr, len, val) in routes {
            let ok = len <= 32 && val < NODE_BIT;
            debug_assert!(ok, "invalid route {addr:#010x}/{len} -> {val}");
            if !ok {
                continue;
            }
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            rs.push(Route {
                addr: addr & mask,
                len,
                val,
            });
        }
        // Stable sort keeps input order among duplicates, so keeping the last of each
        // group implements "last wins". Input that is already sorted costs O(n).
        rs.sort_by_key(|r| (u64::from(r.addr) << 8) | u64::from(r.len));
        let mut w = 0;
        for i in 0..rs.len() {
            if w > 0 && rs[w - 1].addr == rs[i].addr && rs[w - 1].len == rs[i].len {
                rs[w - 1].val = rs[i].val;
            } else {
                rs[w] = rs[i];
                w += 1;
            }
        }
        rs.truncate(w);
        Self::build_sorted(&rs)
    }

    /// Builds from routes sorted by (addr, len), deduplicated and normalised.
    fn build_sorted(rs: &[Route]) -> Lpm {
        // Choose the leaf encoding from the set of answers.
        let (mode, map) = if rs.iter().all(|r| r.val < 0xFFFF) {
            (Mode::Narrow, Vec::new())
        } else {
            let mut map: Vec<u32> = rs.iter().map(|r| r.val).collect();
            map.push(NONE);
            map.sort_unstable();
            map.dedup();
            if map.len() <= 1 << 16 {
                (Mode::Mapped, map)
            } else {
                (Mode::Wide, Vec::new())
            }
        };
        let mut dir = vec![NONE; DIR_SIZE];
        // Short routes fill the direct table (covering routes first, as in `node`).
        for r in rs {
            if u32::from(r.len) <= DIR_BITS {
                let start = (r.addr >> (32 - DIR_BITS)) as usize;
                let count = 1usize << (DIR_BITS - u32::from(r.len));
                dir[start..start + count].fill(r.val);
            }
        }
        let mut b = Builder::new(mode, &map);
        let mut i = 0;
        while i < rs.len() {
            if u32::from(rs[i].len) <= DIR_BITS {
                i += 1;
                continue;
            }
            let s = (rs[i].addr >> (32 - DIR_BITS)) as usize;
            let mut j = i + 1;
            while j < rs.len() && (rs[j].addr >> (32 - DIR_BITS)) as usize == s {
                j += 1;
            }
            dir[s] = b.slot(&rs[i..j], dir[s]);
            i = j;
        }
        let l1_nodes = b.l1_nodes;
        // Append the deeper nodes' leaves after the first-level records (as one block of
        // whole lines, which keeps the line allocator's view of the pool valid).
        let mut lines = b.lines;
        let mut pool = b.pool;
        let mut shift = 0;
        if !b.deep.is_empty() {
            shift = lines.alloc(&mut pool, round4(b.deep.len()));
            pool[shift..shift + b.deep.len()].copy_from_slice(&b.deep);
        }
        // `burst` reads 8 bytes at offset 0 for lanes that need no node.
        if pool.is_empty() {
            lines.alloc(&mut pool, 8);
        }
        pool.shrink_to_fit();
        for n in &mut b.nodes {
            n.base0 += shift as u32;
        }
        b.nodes.shrink_to_fit();
        Lpm {
            dir: boxed_dir(dir),
            pool,
            nodes: b.nodes,
            map,
            mode,
            l1_nodes,
            len: rs.len(),
            space: Space::new(lines),
        }
    }
}
