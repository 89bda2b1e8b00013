//! IPv4 longest-prefix match: a Poptrie with 18-bit direct pointing.
//!
//! The structure follows Poptrie (H. Asai and Y. Ohara, "Poptrie: A Compressed Trie with
//! Population Count for Fast and Scalable Software IP Routing Table Lookup", ACM SIGCOMM
//! 2015), implemented here from the paper's description, with a different layout of the
//! first trie level:
//!
//! * **Direct pointing** on the top 18 bits: a table of 2^18 `u32` entries (1 MiB). An
//!   entry is an answer (a value, or "no route") or a reference to the first-level node
//!   of that /18.
//! * **Multibit nodes** of stride 6 below it, for address bits 18..24, 24..30 and 30..32
//!   (the last level uses 2 of its 6 bits). A node has a 64-bit `leafvec` whose bit *i*
//!   is set where a run of equal leaves starts at child *i*, and, if it has internal
//!   children, a 64-bit `vector` marking them. The leaf for 6-bit chunk `v` is leaf number
//!   popcount(`leafvec` bits `0..=v`) - 1, the internal child likewise with `vector`, so
//!   empty slots and repeated leaves take no space.
//! * **Leaf pushing**: every slot resolves to the longest prefix covering its range, so a
//!   lookup stops at the first leaf and never backtracks. A subtree that resolves to one
//!   answer everywhere is collapsed into a leaf of its parent or of the direct table.
//! * **First-level nodes carry their leaves inline**: the record is `leafvec` followed by
//!   the leaves (preceded by `vector` and the child index when there are internal
//!   children, flagged in the direct-table entry), and records are packed into 64-byte
//!   lines so that one of up to 64 bytes never straddles two. For the /19../24 prefixes
//!   that make up 95 % of a BGP table a lookup is therefore one direct-table read and
//!   one cache line. Deeper nodes are classic Poptrie nodes (24 bytes, children
//!   contiguous) with their leaves in the same byte pool.
//! * Leaves are 16 bits when every value is < 0xFFFF (stored as value + 1), or 16-bit
//!   codes into a table of answers when there are at most 65,536 distinct answers, else 32
//!   bits.
//!
//! `lookup_burst` processes 32 addresses stage by stage (direct table for all, node
//! header for all, then leaves), so their cache misses overlap; per address it is 1.2-2x
//! faster than `lookup` in a loop.
//!
//! # Independent /18 subtrees, updated in place
//! Everything below a direct-table entry (one first-level record, plus the deeper nodes
//! built with it, which form one contiguous run of `nodes`, and their leaves, one
//! contiguous block of the pool) depends only on the routes inside that /18 and on the
//! single answer inherited from shorter prefixes (`Builder::slot`). So the owner of a
//! table can replace one slot's subtree ([`Lpm::set_slot`], or [`Lpm::copy_slot`] from
//! another table that is up to date) and leave the rest untouched: the old record, run
//! and block go to free lists by exact size (a record of the same size reuses the place,
//! so records still never straddle a line), new ones take a free place or fresh space at
//! the end. [`Lpm::wants_rebuild`] says when space freed and not reused passes a quarter,
//! and a value that does not fit the leaf encoding makes the update fail unchanged, both
//! cases for a full rebuild. Readers must not see a table while it is updated:
//! `super::update` only updates a copy that no reader holds.
//!
//! # Measured
//! `cargo bench --bench fib` (bench/fib.rs; README, Performance): the full BGP table
//! (901,899 prefixes, next hops random in 0..1024), 2-vCPU AMD EPYC VM, CPU time of the
//! benchmark thread, medians of interleaved rounds, 2^20 keys half inside table prefixes
//! and half uniformly random; run to run the figures vary by 10-20 % on this shared VM:
//!
//! * `memory_bytes` 3.6 MiB (1 MiB direct table, ~2.5 MiB first-level records, deeper
//!   nodes in the tens of KiB); 5.4 MiB with 32-bit leaves (every prefix its own value).
//!   Compiling the RIB into a FIB: 75-85 ms.
//! * `lookup` 112-123 M/s (8-9 ns); `lookup_burst` 192-206 M/s (5 ns); dependent
//!   lookups (each address from the previous answer) 43-56 ns.
//! * Same runs, DPDK 22.11 on 2 MiB hugepages: `rte_fib` DIR24_8 with 4-byte next hops
//!   `rte_fib_lookup_bulk` 112-130 M/s (scalar or AVX-512, within a few %), 65 MiB of
//!   tables; `rte_lpm` bulk 104-121 M/s, single lookups 95-106 M/s, 72 MiB; dependent
//!   lookups about 150-160 ns for both.
//! * Slot updates through `super::update`: 0.90-1.14 M changed routes/s published in
//!   batches of 10,000 (uniformly spread over the table, the worst case for caches).
//! * Measured earlier on separate key sets (wall clock, best of runs, without hardware
//!   `popcnt`): `lookup` / `lookup_burst` 165-180 / 220-245 M/s on uniformly random
//!   addresses, 90-98 / 190-200 M/s on addresses inside table prefixes.

/// Value stored per prefix (a next-hop index). Values must be < 2^31.
pub type NhId = u32;

/// Bits resolved by the direct-pointing table.
pub const DIR_BITS: u32 = 18;
/// Bits resolved per trie node.
const STRIDE: u32 = 6;
/// Entries of the direct-pointing table (slots, each a /18).
pub const DIR_SIZE: usize = 1 << DIR_BITS;

/// Top bit of a direct-table entry: set for node references.
const NODE_BIT: u32 = 0x8000_0000;
/// "No route" as stored in direct-table entries and decoded leaves. It has the top bit set,
/// so it cannot collide with a value (< 2^31), and it cannot collide with a node reference
/// because the pool offset in one is always below `OFFSET_MASK`.
const NONE: u32 = u32::MAX;

/// Addresses processed together by `lookup_burst` (32 measured best; at most 32, the
/// width of the lane mask).
const BURST: usize = 32;

/// Set in a direct-table node reference when the first-level node has internal children
/// (its `vector` and `base1` then precede it in the pool).
const DEEP_BIT: u32 = 0x4000_0000;
/// The pool offset (in units of 4 bytes) in a direct-table node reference.
const OFFSET_MASK: u32 = DEEP_BIT - 1;

/// A trie node below the first level (see the module documentation).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Node {
    /// Bit i set: child i is an internal node.
    vector: u64,
    /// Bit i set: child i is a leaf that starts a new run of equal leaves.
    leafvec: u64,
    /// Byte offset in `pool` of this node's first leaf.
    base0: u32,
    /// Index into `nodes` of this node's first internal child.
    base1: u32,
}

/// The 6-bit chunk of `addr` starting at bit offset `off` (counted from the most
/// significant bit). Bits past the end of the address read as zero.
#[inline(always)]
fn chunk(addr: u32, off: u32) -> u32 {
    debug_assert!(off < 32);
    (addr << off) >> (32 - STRIDE)
}

/// Number of set bits of `bits` at positions `0..=v`.
#[inline(always)]
fn rank(bits: u64, v: u32) -> u32 {
    (bits << (63 - v)).count_ones()
}

/// Mask of bits `0..=v`.
#[inline(always)]
fn upto(v: u32) -> u64 {
    (2u64 << v).wrapping_sub(1)
}

#[inline(always)]
fn to_opt(x: u32) -> Option<NhId> {
    if x == NONE {
        None
    } else {
        Some(x)
    }
}

/// True when a direct-table entry is a leaf (a value or `NONE`), false for a node reference.
#[inline(always)]
fn dir_is_leaf(e: u32) -> bool {
    // e < NODE_BIT (a value) or e == NONE: in both cases e + 1 (wrapping) <= NODE_BIT.
    e.wrapping_add(1) <= NODE_BIT
}

#[inline(always)]
fn rd64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[inline(always)]
fn rd32(b: &[u8], at: usize) -> u32 {
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
enum Mode {
    /// All values < 0xFFFF: a leaf is `value + 1` as a `u16`, 0 meaning "no route".
    Narrow,
    /// At most 65,536 distinct answers (counting "no route"): a `u16` index into `map`.
    Mapped,
    /// Anything else: the answer as a `u32`.
    Wide,
}

/// Leaf decoding for one [`Mode`], as a type so that burst loops are specialised.
trait Codec {
    /// log2 of the bytes per leaf.
    fn shift(t: &Lpm) -> u32;
    /// The answer stored in the leaf at pool offset `at`.
    fn get(t: &Lpm, at: usize) -> u32;
}
struct Narrow;
struct Mapped;
struct Wide;
/// Dispatches on the table's mode at run time (keeps single lookups small).
struct Dyn;
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

/// IPv4 longest-prefix-match table. Lookups take `&self`; the owner can replace the
/// subtree of one direct-table slot in place ([`Lpm::set_slot`]), which readers must not
/// see half done: [`super::update`] only does it to a copy no reader holds. Cloning copies
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

/// A route value the table's leaf encoding cannot hold: the table must be rebuilt (which
/// chooses the encoding anew).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unencodable(pub NhId);

/// Blocks freed in the pool are reused only by blocks of exactly the same size (in 4-byte
/// units, below this bound); larger ones are written off until the next rebuild.
const FREE_UNITS: usize = 64;

/// Bookkeeping for in-place updates: where new records go, and what was freed.
#[derive(Clone, Default)]
struct Space {
    lines: LineAlloc,
    /// Freed first-level records by size in 4-byte units (they never straddle a line, so
    /// a record of the same size placed there does not either).
    free_rec: Vec<Vec<u32>>,
    /// Freed runs of deeper-node leaves by size in 4-byte units.
    free_leaves: Vec<Vec<u32>>,
    /// Bytes on the free lists.
    free_bytes: usize,
    /// Pool bytes freed in blocks too large for the free lists.
    lost_bytes: usize,
    /// Freed runs of `nodes` by length (exact-size reuse, as for the pool).
    free_runs: Vec<Vec<u32>>,
    /// Entries of `nodes` on `free_runs`.
    free_nodes: usize,
    /// Entries of `nodes` freed in runs too long for `free_runs`.
    lost_nodes: usize,
    /// Scratch space of `set_slot` and `copy_slot` (kept to save allocations per slot).
    routes: Vec<Route>,
    rec: Vec<u8>,
    run: Vec<Node>,
}

/// Where one slot's subtree lies: its first-level record (pool bytes), and for a record
/// with internal children the run of `nodes` below it and the pool bytes of their leaves.
struct Extent {
    rec: std::ops::Range<usize>,
    nodes: std::ops::Range<usize>,
    leaves: std::ops::Range<usize>,
}

/// `n` rounded up to a multiple of 4.
fn round4(n: usize) -> usize {
    (n + 3) & !3
}

impl Space {
    /// Reserves `size` bytes (a multiple of 4) in `pool`: an exact-size freed block of
    /// this kind if there is one, else fresh space from the line allocator.
    fn alloc(&mut self, pool: &mut Vec<u8>, size: usize, record: bool) -> usize {
        let units = size / 4;
        let lists = if record {
            &mut self.free_rec
        } else {
            &mut self.free_leaves
        };
        if let Some(at) = lists.get_mut(units).and_then(Vec::pop) {
            self.free_bytes -= size;
            return at as usize;
        }
        self.lines.alloc(pool, size)
    }

    fn free(&mut self, at: usize, size: usize, record: bool) {
        let units = size / 4;
        if units >= FREE_UNITS || at % 4 != 0 || size % 4 != 0 {
            self.lost_bytes += size;
            return;
        }
        let lists = if record {
            &mut self.free_rec
        } else {
            &mut self.free_leaves
        };
        if lists.len() <= units {
            lists.resize(units + 1, Vec::new());
        }
        lists[units].push(at as u32);
        self.free_bytes += size;
    }

    /// Places a run of nodes (whose `base1` count from 0) in `nodes`; returns its start.
    fn alloc_nodes(&mut self, nodes: &mut Vec<Node>, run: &[Node], leaves_at: u32) -> u32 {
        let first = match self.free_runs.get_mut(run.len()).and_then(Vec::pop) {
            Some(at) => {
                self.free_nodes -= run.len();
                at
            }
            None => {
                if nodes.len() + run.len() > nodes.capacity() {
                    nodes.reserve_exact(run.len().max(nodes.len() / 8));
                }
                nodes.resize(nodes.len() + run.len(), Node::default());
                (nodes.len() - run.len()) as u32
            }
        };
        for (dst, n) in nodes[first as usize..].iter_mut().zip(run) {
            // (Wrapping: a node without leaves or children has a meaningless base.)
            *dst = Node {
                base0: n.base0.wrapping_add(leaves_at),
                base1: n.base1.wrapping_add(first),
                ..*n
            };
        }
        first
    }

    fn free_nodes(&mut self, nodes: &mut Vec<Node>, start: usize, len: usize) {
        if start + len == nodes.len() {
            nodes.truncate(start);
        } else if len < FREE_UNITS {
            if self.free_runs.len() <= len {
                self.free_runs.resize(len + 1, Vec::new());
            }
            self.free_runs[len].push(start as u32);
            self.free_nodes += len;
        } else {
            self.lost_nodes += len;
        }
    }
}

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

/// A validated, normalised route.
#[derive(Clone, Copy, Debug)]
struct Route {
    addr: u32,
    len: u8,
    val: u32,
}

/// A built node that has not been placed yet: its children are in `nodes` already,
/// its leaves (one per run) are still here.
struct Pending {
    vector: u64,
    leafvec: u64,
    base1: u32,
    leaves: [u32; 64],
    nleaves: usize,
}

/// Result of building one subtree. (`Pending` is large, but it only ever lives briefly
/// on the stack of the recursive build; boxing it would allocate once per node.)
#[allow(clippy::large_enum_variant)]
enum Built {
    /// The whole subtree resolves to one answer (a value or `NONE`).
    Leaf(u32),
    Node(Pending),
}

/// Places first-level node records in 64-byte lines so that no record of up to 64 bytes
/// straddles two lines, with little padding: a record goes to the line with the least
/// free space that holds it (best fit), or to a new line. Free space is always a line's
/// tail, tracked per size in 4-byte units.
#[derive(Default, Clone)]
struct LineAlloc {
    /// `free[u]`: lines whose last `4 * u` bytes are free (`u` in 1..16).
    free: [Vec<u32>; 16],
}

impl LineAlloc {
    /// Reserves `size` bytes (a multiple of 4) in `pool` and returns their offset.
    fn alloc(&mut self, pool: &mut Vec<u8>, size: usize) -> usize {
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
struct Builder<'a> {
    nodes: Vec<Node>,
    /// First-level node records, placed by `lines`.
    pool: Vec<u8>,
    lines: LineAlloc,
    /// Leaves of the deeper nodes; appended to `pool` at the end (and `base0` adjusted).
    deep: Vec<u8>,
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
fn encode_record(mode: Mode, map: &[u32], p: &Pending, rec: &mut Vec<u8>) -> bool {
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
fn node_entry(at: usize, deep: bool) -> u32 {
    let r = at + if deep { 12 } else { 0 };
    assert!(r / 4 < OFFSET_MASK as usize, "pool exceeds 4 GiB");
    NODE_BIT | if deep { DEEP_BIT } else { 0 } | (r / 4) as u32
}

impl Builder<'_> {
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
    fn node(&mut self, routes: &[Route], off: u32, inherited: u32) -> Built {
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
        let mut b = Builder {
            nodes: Vec::new(),
            pool: Vec::new(),
            lines: LineAlloc::default(),
            deep: Vec::new(),
            rec: Vec::new(),
            kids: Vec::new(),
            mode,
            map: &map,
            l1_nodes: 0,
        };
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
            space: Space {
                lines,
                ..Space::default()
            },
        }
    }

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
        self.step1_ranked::<C>(e, rank(leafvec, chunk(addr, DIR_BITS)), addr)
    }

    /// As `step1`, given `rank(leafvec, v)` instead of `leafvec`.
    #[inline(always)]
    fn step1_ranked<C: Codec>(&self, e: u32, rank: u32, addr: u32) -> u32 {
        let p = (e & OFFSET_MASK) as usize * 4;
        if e & DEEP_BIT != 0 {
            let v = chunk(addr, DIR_BITS);
            let vector = rd64(&self.pool, p - 12);
            if vector & (1u64 << v) != 0 {
                let base1 = rd32(&self.pool, p - 4);
                return self.walk(base1 + (vector & upto(v)).count_ones() - 1, addr);
            }
        }
        C::get(self, p + 8 + ((rank as usize - 1) << C::shift(self)))
    }

    /// Walks the deeper nodes from node `idx`, which covers bits 24..30.
    #[inline(never)]
    fn walk(&self, mut idx: u32, addr: u32) -> u32 {
        let mut off = DIR_BITS + STRIDE;
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
        // Stage 1: direct-table entries. When all of them are leaves (always, in a table
        // without prefixes longer than /18, such as a few static routes) that is the
        // answer.
        let mut res = [0u32; BURST];
        let mut any_node = false;
        for (r, &a) in res.iter_mut().zip(addrs) {
            *r = self.dir[(a >> (32 - DIR_BITS)) as usize];
            any_node |= !dir_is_leaf(*r);
        }
        if !any_node {
            out.copy_from_slice(&res[..n]);
            return;
        }
        // Stage 2: the leafvec of each first-level node (without branches: a lane that
        // needs no node reads offset 0, which always exists); `lanes` marks the lanes that
        // do.
        let mut lv = [0u64; BURST];
        let mut lanes = 0u32;
        for (i, (l, &e)) in lv.iter_mut().zip(&res[..n]).enumerate() {
            let node = !dir_is_leaf(e);
            let off = if node {
                (e & OFFSET_MASK) as usize * 4
            } else {
                0
            };
            *l = rd64(&self.pool, off);
            lanes |= u32::from(node) << i;
        }
        // Stage 3: leaf ranks for all lanes at once (a simple loop over arrays, which the
        // compiler vectorises), then the leaves. When most lanes need a leaf, a loop over
        // all lanes (whose branch is then well predicted) is cheapest; otherwise a loop
        // over the marked lanes.
        let mut cnt = [0u32; BURST];
        for ((c, &l), &a) in cnt.iter_mut().zip(&lv).zip(addrs) {
            *c = rank(l, chunk(a, DIR_BITS));
        }
        if lanes.count_ones() as usize * 4 >= n * 3 {
            for ((r, &c), &a) in res[..n].iter_mut().zip(&cnt).zip(addrs) {
                if !dir_is_leaf(*r) {
                    *r = self.step1_ranked::<C>(*r, c, a);
                }
            }
        } else {
            while lanes != 0 {
                let i = lanes.trailing_zeros() as usize & (BURST - 1);
                lanes &= lanes - 1;
                res[i] = self.step1_ranked::<C>(res[i], cnt[i], addrs[i]);
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

    /// Bytes of `pool` and `nodes` that updates freed: reusable free blocks plus space
    /// written off until the next rebuild.
    pub fn garbage_bytes(&self) -> usize {
        self.space.free_bytes
            + self.space.lost_bytes
            + (self.space.free_nodes + self.space.lost_nodes) * std::mem::size_of::<Node>()
    }

    /// True when updates have left so much unusable space that a rebuild (which packs
    /// everything afresh) is due: a quarter of the pool or of the deeper nodes.
    pub fn wants_rebuild(&self) -> bool {
        let sp = &self.space;
        sp.free_bytes + sp.lost_bytes > self.pool.len() / 4 + (64 << 10)
            || sp.free_nodes + sp.lost_nodes > self.nodes.len() / 4 + 4096
    }

    /// Sets the prefix count reported by `len` (the caller of `set_slot` keeps it).
    pub fn set_len(&mut self, len: usize) {
        self.len = len;
    }

    /// True when `v` (a value or `NONE`) fits the table's leaf encoding.
    fn encodable(&self, v: u32) -> bool {
        match self.mode {
            Mode::Narrow => v < 0xFFFF || v == NONE,
            Mode::Mapped => self.map.binary_search(&v).is_ok(),
            Mode::Wide => true,
        }
    }

    /// Replaces everything below direct-table slot `slot` (the /18 `slot << 14`): `routes`
    /// are `(addr, len, value)` of every route inside that /18 longer than /18, sorted by
    /// (addr, len) without duplicates; `inherited` is the answer of the longest route of
    /// length <= 18 covering the slot. The result is exactly what [`Lpm::build`] would make
    /// of the slot. The old subtree's space is freed for reuse by later updates.
    ///
    /// Fails, changing nothing, when a value does not fit the table's leaf encoding;
    /// the table must then be rebuilt. Routes outside the slot or not longer than /18 are
    /// a caller bug: they trip a `debug_assert` and are skipped in release builds.
    pub fn set_slot(
        &mut self,
        slot: usize,
        routes: &[(u32, u8, NhId)],
        inherited: Option<NhId>,
    ) -> Result<(), Unencodable> {
        let slot = slot & (DIR_SIZE - 1);
        let inherited = inherited.unwrap_or(NONE);
        if !self.encodable(inherited) {
            return Err(Unencodable(inherited));
        }
        let mut rs = std::mem::take(&mut self.space.routes);
        rs.clear();
        for &(addr, len, val) in routes {
            let ok = len > DIR_BITS as u8
                && len <= 32
                && (addr >> (32 - DIR_BITS)) as usize == slot
                && val < NODE_BIT;
            debug_assert!(ok, "route {addr:#010x}/{len} -> {val} for slot {slot}");
            if !ok {
                continue;
            }
            if !self.encodable(val) {
                self.space.routes = rs;
                return Err(Unencodable(val));
            }
            rs.push(Route {
                addr: addr & (u32::MAX << (32 - len)),
                len,
                val,
            });
        }
        debug_assert!(rs
            .windows(2)
            .all(|w| (w[0].addr, w[0].len) < (w[1].addr, w[1].len)));
        self.free_slot(slot);
        let mut b = Builder {
            nodes: Vec::new(),
            pool: Vec::new(),
            lines: LineAlloc::default(),
            deep: Vec::new(),
            rec: Vec::new(),
            kids: Vec::new(),
            mode: self.mode,
            map: &self.map,
            l1_nodes: 0,
        };
        let built = b.node(&rs, DIR_BITS, inherited);
        let Builder { nodes, deep, .. } = b;
        self.space.routes = rs;
        let mut p = match built {
            Built::Leaf(v) => {
                self.dir[slot] = v;
                return Ok(());
            }
            Built::Node(p) => p,
        };
        let mut rec = std::mem::take(&mut self.space.rec);
        // The deeper nodes go to the end of `nodes`, their leaves to a block of the pool.
        let leaves_at = if deep.is_empty() {
            0
        } else {
            let at = self.space.alloc(&mut self.pool, round4(deep.len()), false);
            self.pool[at..at + deep.len()].copy_from_slice(&deep);
            at as u32
        };
        if !nodes.is_empty() {
            p.base1 += self.space.alloc_nodes(&mut self.nodes, &nodes, leaves_at);
        }
        let is_deep = encode_record(self.mode, &self.map, &p, &mut rec);
        let at = self.space.alloc(&mut self.pool, rec.len(), true);
        self.pool[at..at + rec.len()].copy_from_slice(&rec);
        self.space.rec = rec;
        self.l1_nodes += 1;
        self.dir[slot] = node_entry(at, is_deep);
        Ok(())
    }

    /// Reads the direct-table entries of `slots` and the records they point to, and
    /// returns a value derived from them: touching what a batch of `set_slot` calls is
    /// about to read, in a loop of independent loads whose cache misses overlap, is
    /// cheaper than taking the misses one by one inside the rebuilds.
    pub fn touch_slots(&self, slots: &[u32]) -> u32 {
        let mut x = 0;
        for &s in slots {
            let e = self.dir[s as usize & (DIR_SIZE - 1)];
            x ^= e;
            if !dir_is_leaf(e) {
                x ^= rd32(&self.pool, (e & OFFSET_MASK) as usize * 4);
            }
        }
        x
    }

    /// Frees the first-level record of `slot` and the deeper nodes and leaves below it (the
    /// direct-table entry is left for the caller to overwrite).
    fn free_slot(&mut self, slot: usize) {
        let Some(x) = self.extent(self.dir[slot]) else {
            return;
        };
        self.space.free(x.rec.start, x.rec.len(), true);
        self.l1_nodes -= 1;
        if !x.nodes.is_empty() {
            self.space
                .free_nodes(&mut self.nodes, x.nodes.start, x.nodes.len());
        }
        if !x.leaves.is_empty() {
            self.space
                .free(x.leaves.start, round4(x.leaves.len()), false);
        }
    }

    /// Where the subtree under direct-table entry `e` lies (None for a leaf entry).
    fn extent(&self, e: u32) -> Option<Extent> {
        if dir_is_leaf(e) {
            return None;
        }
        let shift = self.leaf_shift();
        let p = (e & OFFSET_MASK) as usize * 4;
        let deep = e & DEEP_BIT != 0;
        let head = if deep { 12 } else { 0 };
        let nleaves = rd64(&self.pool, p).count_ones() as usize;
        let rec = p - head..p - head + round4(head + 8 + (nleaves << shift));
        if !deep {
            return Some(Extent {
                rec,
                nodes: 0..0,
                leaves: 0..0,
            });
        }
        // The nodes below one first-level node are one contiguous run of `nodes`, and
        // their leaves one contiguous block of the pool (see `Builder::slot`).
        let vector = rd64(&self.pool, p - 12);
        let base1 = rd32(&self.pool, p - 4) as usize;
        let (mut lo, mut hi) = (usize::MAX, 0);
        let (mut leaf_lo, mut leaf_hi) = (usize::MAX, 0);
        let mut stack = vec![(base1, vector.count_ones() as usize)];
        while let Some((start, count)) = stack.pop() {
            lo = lo.min(start);
            hi = hi.max(start + count);
            for n in &self.nodes[start..start + count] {
                let nl = n.leafvec.count_ones() as usize;
                if nl > 0 {
                    let b0 = n.base0 as usize;
                    leaf_lo = leaf_lo.min(b0);
                    leaf_hi = leaf_hi.max(b0 + (nl << shift));
                }
                if n.vector != 0 {
                    stack.push((n.base1 as usize, n.vector.count_ones() as usize));
                }
            }
        }
        Some(Extent {
            rec,
            nodes: lo..hi,
            leaves: if leaf_hi > leaf_lo {
                leaf_lo..leaf_hi
            } else {
                0..0
            },
        })
    }

    /// Makes direct-table slot `slot` answer exactly as the same slot of `other` does, by
    /// copying its subtree (cheaper than rebuilding it with `set_slot` when `other` is
    /// already up to date). Fails, changing nothing, unless both tables encode leaves
    /// the same way.
    pub fn copy_slot(&mut self, other: &Lpm, slot: usize) -> Result<(), Unencodable> {
        if self.mode != other.mode || (self.mode == Mode::Mapped && self.map != other.map) {
            return Err(Unencodable(NONE));
        }
        let slot = slot & (DIR_SIZE - 1);
        let e = other.dir[slot];
        self.free_slot(slot);
        let Some(x) = other.extent(e) else {
            self.dir[slot] = e;
            return Ok(());
        };
        let deep = e & DEEP_BIT != 0;
        let mut rec = std::mem::take(&mut self.space.rec);
        rec.clear();
        rec.extend_from_slice(&other.pool[x.rec.clone()]);
        if deep {
            let leaves_at = if x.leaves.is_empty() {
                0
            } else {
                let at = self
                    .space
                    .alloc(&mut self.pool, round4(x.leaves.len()), false);
                self.pool[at..at + x.leaves.len()].copy_from_slice(&other.pool[x.leaves.clone()]);
                at as u32
            };
            // Offsets relative to the run and the block, as `alloc_nodes` takes them.
            let (n0, l0) = (x.nodes.start as u32, x.leaves.start as u32);
            let mut run = std::mem::take(&mut self.space.run);
            run.clear();
            run.extend(other.nodes[x.nodes.clone()].iter().map(|n| Node {
                base0: n.base0.wrapping_sub(l0),
                base1: n.base1.wrapping_sub(n0),
                ..*n
            }));
            let first = self.space.alloc_nodes(&mut self.nodes, &run, leaves_at);
            self.space.run = run;
            let base1 = rd32(&rec, 8).wrapping_sub(n0).wrapping_add(first);
            rec[8..12].copy_from_slice(&base1.to_le_bytes());
        }
        let at = self.space.alloc(&mut self.pool, rec.len(), true);
        self.pool[at..at + rec.len()].copy_from_slice(&rec);
        self.space.rec = rec;
        self.l1_nodes += 1;
        self.dir[slot] = node_entry(at, deep);
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;
    use std::collections::{BTreeMap, HashMap};

    fn ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
        u32::from_be_bytes([a, b, c, d])
    }

    fn mask(len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - len)
        }
    }

    /// Naive reference: one map per prefix length, probed longest first.
    struct Reference(Vec<HashMap<u32, u32>>);
    impl Reference {
        fn new(routes: &[(u32, u8, u32)]) -> Reference {
            let mut maps = vec![HashMap::new(); 33];
            for &(a, l, v) in routes {
                maps[usize::from(l)].insert(a & mask(l), v);
            }
            Reference(maps)
        }
        fn lookup(&self, addr: u32) -> Option<u32> {
            (0..=32u8)
                .rev()
                .find_map(|l| self.0[usize::from(l)].get(&(addr & mask(l))).copied())
        }
        fn len(&self) -> usize {
            self.0.iter().map(HashMap::len).sum()
        }
    }

    /// Checks `t` against the reference on `addrs`, singly and in bursts of varied size.
    fn check(t: &Lpm, r: &Reference, addrs: &[u32]) {
        assert_eq!(t.len(), r.len());
        for &a in addrs {
            assert_eq!(t.lookup(a), r.lookup(a), "addr {a:#010x}");
        }
        let mut out = vec![Some(12345); addrs.len()];
        let mut start = 0;
        for size in [1usize, 7, 32, 64, 65, 200].iter().cycle() {
            if start >= addrs.len() {
                break;
            }
            let end = (start + size).min(addrs.len());
            t.lookup_burst(&addrs[start..end], &mut out[start..end]);
            start = end;
        }
        for (&a, &o) in addrs.iter().zip(&out) {
            assert_eq!(o, t.lookup(a), "burst, addr {a:#010x}");
        }
    }

    /// Addresses that exercise `routes`: the first, last and a random address of each
    /// prefix, the addresses just outside it, and uniformly random addresses.
    fn probes(rng: &mut Rng, routes: &[(u32, u8, u32)], random: usize) -> Vec<u32> {
        let mut v = Vec::new();
        for &(a, l, _) in routes {
            let a = a & mask(l);
            let last = a | !mask(l);
            v.extend([a, last, a | (rng.next() as u32 & !mask(l))]);
            v.extend([a.wrapping_sub(1), last.wrapping_add(1)]);
        }
        v.extend((0..random).map(|_| rng.next() as u32));
        v.extend([0, u32::MAX]);
        v
    }

    fn check_routes(routes: &[(u32, u8, u32)], seed: u64) -> Lpm {
        let t = Lpm::build(routes.iter().copied());
        let r = Reference::new(routes);
        let mut rng = Rng(seed);
        check(&t, &r, &probes(&mut rng, routes, 2000));
        t
    }

    #[test]
    fn empty_table() {
        let t = Lpm::build(std::iter::empty());
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        for a in [0, 1, ip(10, 0, 0, 1), u32::MAX] {
            assert_eq!(t.lookup(a), None);
        }
        let mut out = [Some(1); 3];
        t.lookup_burst(&[0, 5, u32::MAX], &mut out);
        assert_eq!(out, [None; 3]);
        assert!(t.memory_bytes() >= DIR_SIZE * 4);
        assert!(Lpm::default().is_empty());
    }

    #[test]
    fn default_route_only() {
        let t = Lpm::build([(0, 0, 7)]);
        assert_eq!(t.len(), 1);
        assert!(!t.is_empty());
        for a in [0, ip(10, 1, 2, 3), ip(192, 168, 255, 255), u32::MAX] {
            assert_eq!(t.lookup(a), Some(7));
        }
    }

    #[test]
    fn host_routes() {
        let hosts = [
            ip(10, 0, 0, 1),
            ip(10, 0, 0, 2),
            ip(10, 0, 0, 255),
            ip(255, 255, 255, 255),
            0,
        ];
        let routes: Vec<_> = hosts
            .iter()
            .enumerate()
            .map(|(i, &a)| (a, 32, i as u32))
            .collect();
        let t = Lpm::build(routes.iter().copied());
        for (i, &a) in hosts.iter().enumerate() {
            assert_eq!(t.lookup(a), Some(i as u32));
        }
        assert_eq!(t.lookup(ip(10, 0, 0, 0)), None);
        assert_eq!(t.lookup(ip(10, 0, 0, 3)), None);
        assert_eq!(t.lookup(ip(255, 255, 255, 254)), None);
        assert_eq!(t.lookup(1), None);
        check_routes(&routes, 1);
    }

    #[test]
    fn nested_0_8_16_24_32() {
        let routes = [
            (0, 0, 1),
            (ip(10, 0, 0, 0), 8, 2),
            (ip(10, 1, 0, 0), 16, 3),
            (ip(10, 1, 2, 0), 24, 4),
            (ip(10, 1, 2, 3), 32, 5),
        ];
        let t = Lpm::build(routes);
        assert_eq!(t.lookup(ip(11, 0, 0, 0)), Some(1));
        assert_eq!(t.lookup(ip(10, 0, 0, 0)), Some(2));
        assert_eq!(t.lookup(ip(10, 2, 0, 0)), Some(2));
        assert_eq!(t.lookup(ip(10, 1, 0, 0)), Some(3));
        assert_eq!(t.lookup(ip(10, 1, 3, 0)), Some(3));
        assert_eq!(t.lookup(ip(10, 1, 2, 0)), Some(4));
        assert_eq!(t.lookup(ip(10, 1, 2, 2)), Some(4));
        assert_eq!(t.lookup(ip(10, 1, 2, 3)), Some(5));
        assert_eq!(t.lookup(ip(10, 1, 2, 4)), Some(4));
        assert_eq!(t.lookup(ip(10, 1, 2, 255)), Some(4));
        assert_eq!(t.lookup(ip(10, 255, 255, 255)), Some(2));
        check_routes(&routes, 2);
        // The same without the default route: outside 10/8 there is no match.
        let t = check_routes(&routes[1..], 3);
        assert_eq!(t.lookup(ip(11, 0, 0, 0)), None);
        assert_eq!(t.lookup(ip(9, 255, 255, 255)), None);
    }

    #[test]
    fn stride_boundaries() {
        // Lengths on and around the direct-table (18) and node (24, 30) boundaries.
        let base = ip(172, 16, 0, 0);
        let mut routes = Vec::new();
        for (i, len) in [16u8, 17, 18, 19, 22, 23, 24, 25, 29, 30, 31, 32]
            .iter()
            .enumerate()
        {
            routes.push((base, *len, 100 + i as u32));
            // A sibling at the far end of the /16, and one in another /16.
            routes.push((base | (0xFFFF & mask(*len)), *len, 200 + i as u32));
            routes.push((
                (ip(192, 0, 2, 0) & mask(*len)) | (1 << (32 - len)),
                *len,
                300 + i as u32,
            ));
        }
        let t = check_routes(&routes, 4);
        assert_eq!(t.lookup(base), Some(111)); // the /32
        assert_eq!(t.lookup(base | 1), Some(110)); // the /31
        assert_eq!(t.lookup(base | 2), Some(109)); // the /30
        assert_eq!(t.lookup(base | 4), Some(108)); // the /29
        assert_eq!(t.lookup(base | 0x40), Some(107)); // the /25
        assert_eq!(t.lookup(ip(172, 16, 0, 128)), Some(106)); // the /24
        assert_eq!(t.lookup(ip(172, 16, 1, 0)), Some(105)); // the /23
        assert_eq!(t.lookup(ip(172, 16, 2, 0)), Some(104)); // the /22
        assert_eq!(t.lookup(ip(172, 16, 4, 0)), Some(103)); // the /19
        assert_eq!(t.lookup(ip(172, 16, 32, 0)), Some(102)); // the /18
        assert_eq!(t.lookup(ip(172, 16, 64, 0)), Some(101)); // the /17
        assert_eq!(t.lookup(ip(172, 16, 128, 0)), Some(201)); // the far /17
        assert_eq!(t.lookup(ip(172, 16, 127, 255)), Some(101)); // the /17
        assert_eq!(t.lookup(ip(172, 16, 255, 255)), Some(211)); // the far /32
        assert_eq!(t.lookup(ip(172, 16, 255, 254)), Some(210)); // the far /31
        assert_eq!(t.lookup(ip(172, 17, 0, 0)), None);
    }

    #[test]
    fn every_length_alone_and_nested() {
        let a = ip(203, 0, 113, 77);
        for len in 0..=32u8 {
            check_routes(&[(a & mask(len), len, u32::from(len))], 5 + u64::from(len));
        }
        let all: Vec<_> = (0..=32u8)
            .map(|l| (a & mask(l), l, u32::from(l) * 3))
            .collect();
        let t = check_routes(&all, 40);
        for l in 0..=32u8 {
            // The address that differs from `a` first in bit `l` matches the /l.
            let probe = if l == 32 { a } else { a ^ (1 << (31 - l)) };
            assert_eq!(t.lookup(probe), Some(u32::from(l) * 3), "len {l}");
        }
    }

    #[test]
    fn last_duplicate_wins() {
        let p = ip(10, 0, 0, 0);
        let routes = [
            (p, 8, 1),
            (ip(10, 1, 0, 0), 16, 2),
            (p, 8, 3),
            (p, 8, 4),
            (0, 0, 9),
            (0, 0, 8),
        ];
        let t = Lpm::build(routes);
        assert_eq!(t.len(), 3);
        assert_eq!(t.lookup(ip(10, 2, 0, 0)), Some(4));
        assert_eq!(t.lookup(ip(10, 1, 0, 0)), Some(2));
        assert_eq!(t.lookup(ip(11, 0, 0, 0)), Some(8));
        // Duplicates that differ only in host bits are duplicates too.
        let t = Lpm::build([(ip(10, 1, 2, 0), 24, 1), (ip(10, 1, 2, 99), 24, 2)]);
        assert_eq!(t.len(), 1);
        assert_eq!(t.lookup(ip(10, 1, 2, 5)), Some(2));
    }

    #[test]
    fn host_bits_are_ignored() {
        let t = Lpm::build([(ip(10, 1, 2, 3), 8, 1)]);
        assert_eq!(t.lookup(ip(10, 200, 0, 0)), Some(1));
        assert_eq!(t.lookup(ip(11, 0, 0, 0)), None);
    }

    #[test]
    fn equal_values_collapse() {
        // More-specifics with the aggregate's value need no nodes.
        let routes = [
            (ip(10, 0, 0, 0), 8, 1),
            (ip(10, 1, 2, 0), 24, 1),
            (ip(10, 1, 2, 3), 32, 1),
        ];
        let t = check_routes(&routes, 50);
        assert_eq!(t.l1_nodes, 0);
        assert!(t.nodes.is_empty());
        assert_eq!(t.lookup(ip(10, 1, 2, 3)), Some(1));
    }

    #[test]
    fn value_encodings() {
        // Narrow: all values < 0xFFFF.
        let t = check_routes(
            &[
                (0, 0, 0),
                (ip(1, 2, 3, 0), 24, 0xFFFE),
                (ip(1, 2, 3, 4), 32, 0),
            ],
            60,
        );
        assert_eq!(t.mode, Mode::Narrow);
        // Mapped: a large value, few distinct values.
        let max = NODE_BIT - 1;
        let routes = [
            (0, 0, 0xFFFF),
            (ip(1, 2, 3, 0), 24, max),
            (ip(1, 2, 3, 4), 32, 0),
        ];
        let t = check_routes(&routes, 61);
        assert_eq!(t.mode, Mode::Mapped);
        assert_eq!(t.lookup(ip(1, 2, 3, 5)), Some(max));
        // Wide: more than 65,535 distinct values.
        let routes: Vec<_> = (0..70_000u32)
            .map(|i| (i << 8, 24, i * 30_000 % NODE_BIT))
            .collect();
        let t = check_routes(&routes, 62);
        assert_eq!(t.mode, Mode::Wide);
    }

    /// A nested table like a BGP table: aggregates with more-specifics carved out of them
    /// (which often share the aggregate's value), at every depth down to /32.
    fn nested_table(
        rng: &mut Rng,
        aggregates: usize,
        values: u32,
        big: bool,
    ) -> Vec<(u32, u8, u32)> {
        let mut v = Vec::new();
        let val = |rng: &mut Rng| {
            let x = rng.below(u64::from(values)) as u32;
            if big {
                x.wrapping_mul(0x9E37_79B1) % NODE_BIT
            } else {
                x
            }
        };
        if rng.below(2) == 0 {
            v.push((0, 0, val(rng)));
        }
        for _ in 0..aggregates {
            let alen = 8 + rng.below(17) as u8; // /8 ../24
            let a = rng.next() as u32 & mask(alen);
            let aval = val(rng);
            v.push((a, alen, aval));
            for _ in 0..rng.below(12) {
                let len = (alen + 1 + rng.below(u64::from(32 - alen)) as u8).min(32);
                let p = (a | (rng.next() as u32 & !mask(alen))) & mask(len);
                let pval = if rng.below(4) == 0 { aval } else { val(rng) };
                v.push((p, len, pval));
                // Sometimes a further level inside that one.
                if len < 32 && rng.below(3) == 0 {
                    let l2 = len + 1 + rng.below(u64::from(32 - len)) as u8;
                    v.push((
                        (p | (rng.next() as u32 & !mask(len))) & mask(l2),
                        l2,
                        val(rng),
                    ));
                }
            }
        }
        // A few duplicates with new values (last wins).
        for _ in 0..aggregates / 20 {
            let (a, l, _) = v[rng.below(v.len() as u64) as usize];
            v.push((a, l, val(rng)));
        }
        v
    }

    #[test]
    fn random_nested_tables_match_reference() {
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        for (round, (aggs, values, big)) in [
            (3000, 16, false),
            (2000, 4000, false),
            (1500, 3, true),
            (2500, 1_000_000, true),
            (50, 5, false),
        ]
        .into_iter()
        .enumerate()
        {
            let routes = nested_table(&mut rng, aggs, values, big);
            let t = Lpm::build(routes.iter().copied());
            let r = Reference::new(&routes);
            let mut addrs = probes(&mut rng, &routes, 100_000);
            // Addresses concentrated inside one busy /16, so deep nodes get exercised.
            let hot = routes[rng.below(routes.len() as u64) as usize].0 & mask(16);
            addrs.extend((0..5000).map(|_| hot | (rng.next() as u32 & 0xFFFF)));
            check(&t, &r, &addrs);
            assert!(t.memory_bytes() > 0, "round {round}");
        }
    }

    #[test]
    fn dense_deep_subtrees() {
        // Every /32 of a /24 with alternating values, inside a /16, plus /31s and /30s: the
        // densest possible deep nodes.
        let mut routes = vec![(ip(100, 64, 0, 0), 16, 1)];
        for i in 0..256u32 {
            routes.push((ip(100, 64, 7, 0) | i, 32, 10 + (i % 3)));
            routes.push((ip(100, 64, 9, 0) | (i & !1), 31, 20 + (i % 5)));
            routes.push((ip(100, 64, 200, 0) | (i & !3), 30, 30 + (i % 2)));
        }
        check_routes(&routes, 70);
    }

    #[test]
    fn burst_paths() {
        // Lanes that all end in the direct table, lanes that all need a node (including
        // deep ones), and mixtures, in bursts of every length up to 70.
        let mut routes = vec![(ip(10, 0, 0, 0), 8, 1), (ip(20, 0, 0, 0), 8, 2)];
        for i in 0..64u32 {
            routes.push((ip(10, 0, 0, 0) | (i << 10), 22, 100 + i));
            routes.push((ip(10, 0, 0, 0) | (i << 10) | 0x55, 32, 200 + i));
        }
        let t = Lpm::build(routes.iter().copied());
        let r = Reference::new(&routes);
        let mut rng = Rng(99);
        let flat: Vec<u32> = (0..70)
            .map(|_| ip(20, 0, 0, 0) | (rng.next() as u32 & 0xFF_FFFF))
            .collect();
        let nodes: Vec<u32> = (0..70)
            .map(|i| ip(10, 0, 0, 0) | ((i % 64) << 10) | (0x55 * (i & 1)))
            .collect();
        let mixed: Vec<u32> = flat
            .iter()
            .zip(&nodes)
            .flat_map(|(&a, &b)| [a, b, b, b])
            .take(70)
            .collect();
        for addrs in [&flat, &nodes, &mixed] {
            for len in 0..=addrs.len() {
                let mut out = vec![Some(u32::MAX); len];
                t.lookup_burst(&addrs[..len], &mut out);
                for (&a, &o) in addrs[..len].iter().zip(&out) {
                    assert_eq!(o, r.lookup(a), "addr {a:#010x}");
                }
            }
        }
    }

    /// Brings the `slots` of `t` up to date with `routes`, as an updater does.
    fn update_slots(
        t: &mut Lpm,
        routes: &BTreeMap<(u32, u8), u32>,
        slots: impl IntoIterator<Item = usize>,
    ) {
        for s in slots {
            let base = (s as u32) << 14;
            let inside: Vec<_> = routes
                .range((base, 19)..=(base | 0x3FFF, 32))
                .map(|(&(a, l), &v)| (a, l, v))
                .collect();
            let inherited = (0..=18u8)
                .rev()
                .find_map(|l| routes.get(&(base & mask(l), l)).copied());
            t.set_slot(s, &inside, inherited).unwrap();
        }
        t.set_len(routes.len());
    }

    /// The direct-table slots a change of `addr/len` affects.
    fn slots_of(addr: u32, len: u8) -> std::ops::Range<usize> {
        let first = (addr >> 14) as usize;
        if len <= 18 {
            first..first + (1 << (18 - len))
        } else {
            first..first + 1
        }
    }

    fn as_vec(routes: &BTreeMap<(u32, u8), u32>) -> Vec<(u32, u8, u32)> {
        routes.iter().map(|(&(a, l), &v)| (a, l, v)).collect()
    }

    #[test]
    fn slot_updates_match_a_fresh_build() {
        let mut rng = Rng(0xFEED_F00D_1234_5678);
        for (aggs, values, changes) in [(2000, 40, 3000), (300, 5, 2000), (20, 3, 500)] {
            let table = nested_table(&mut rng, aggs, values, false);
            let mut routes: BTreeMap<(u32, u8), u32> = BTreeMap::new();
            for &(a, l, v) in &table {
                routes.insert((a & mask(l), l), v);
            }
            let mut t = Lpm::build(as_vec(&routes));
            for batch in 0..10 {
                let mut slots = Vec::new();
                for _ in 0..changes / 10 {
                    // Weighted towards long prefixes, as in BGP churn, but every length
                    // (and the default route) comes up.
                    let len = match rng.below(10) {
                        0 => rng.below(19) as u8,
                        1 => 25 + rng.below(8) as u8,
                        _ => 19 + rng.below(6) as u8,
                    };
                    let keys: Vec<_> = routes.keys().copied().collect();
                    let (a, l) = if rng.below(3) == 0 && !keys.is_empty() {
                        keys[rng.below(keys.len() as u64) as usize]
                    } else if rng.below(2) == 0 && !keys.is_empty() {
                        // Inside an existing prefix.
                        let (a, l) = keys[rng.below(keys.len() as u64) as usize];
                        let len = len.max(l);
                        ((a | (rng.next() as u32 & !mask(l))) & mask(len), len)
                    } else {
                        (rng.next() as u32 & mask(len), len)
                    };
                    if rng.below(3) == 0 {
                        routes.remove(&(a, l));
                    } else {
                        routes.insert((a, l), rng.below(u64::from(values)) as u32);
                    }
                    slots.extend(slots_of(a, l));
                }
                slots.sort_unstable();
                slots.dedup();
                update_slots(&mut t, &routes, slots);
                let all = as_vec(&routes);
                let fresh = Lpm::build(all.iter().copied());
                let r = Reference::new(&all);
                let mut addrs = probes(&mut rng, &all, 20_000);
                addrs.truncate(200_000);
                check(&t, &r, &addrs);
                for &a in addrs.iter().step_by(7) {
                    assert_eq!(t.lookup(a), fresh.lookup(a), "batch {batch} {a:#010x}");
                }
            }
        }
    }

    #[test]
    fn copied_slots_answer_like_their_source() {
        let mut rng = Rng(0xC0FFEE);
        for _ in 0..3 {
            let a = nested_table(&mut rng, 1500, 20, false);
            let b = nested_table(&mut rng, 1500, 20, false);
            let mut t = Lpm::build(a.iter().copied());
            let src = Lpm::build(b.iter().copied());
            // Every slot either table uses, several times over (copies replace copies).
            let mut slots: Vec<usize> = a
                .iter()
                .chain(&b)
                .flat_map(|&(x, l, _)| slots_of(x & mask(l), l))
                .collect();
            slots.sort_unstable();
            slots.dedup();
            for _ in 0..2 {
                for &s in &slots {
                    t.copy_slot(&src, s).unwrap();
                }
            }
            t.set_len(src.len());
            let r = Reference::new(&b);
            let mut addrs = probes(&mut rng, &b, 20_000);
            addrs.extend(probes(&mut rng, &a, 0));
            check(&t, &r, &addrs);
            assert!(t.garbage_bytes() > 0);
        }
        // Tables with different leaf encodings cannot exchange slots.
        let mut narrow = Lpm::build([(ip(10, 0, 0, 0), 24, 1)]);
        let wide = Lpm::build([(ip(10, 0, 0, 0), 24, NODE_BIT - 1)]);
        assert!(narrow
            .copy_slot(&wide, (ip(10, 0, 0, 0) >> 14) as usize)
            .is_err());
        assert_eq!(narrow.lookup(ip(10, 0, 0, 1)), Some(1));
    }

    #[test]
    fn churn_reuses_freed_space() {
        // Routes that come and go again and again: after the first rounds the pool and
        // the node array stop growing, because freed blocks are reused.
        let mut rng = Rng(7);
        let table = nested_table(&mut rng, 3000, 30, false);
        let mut routes: BTreeMap<(u32, u8), u32> = BTreeMap::new();
        for &(a, l, v) in &table {
            routes.insert((a & mask(l), l), v);
        }
        let mut t = Lpm::build(as_vec(&routes));
        let fresh_bytes = t.memory_bytes();
        let flapping: Vec<(u32, u8)> = (0..2000)
            .map(|_| {
                let l = 19 + rng.below(14) as u8;
                (rng.next() as u32 & mask(l), l)
            })
            .collect();
        let mut sizes = Vec::new();
        for round in 0..40u32 {
            for &(a, l) in &flapping {
                if round % 2 == 0 {
                    routes.insert((a, l), round % 7);
                } else {
                    routes.remove(&(a, l));
                }
            }
            update_slots(
                &mut t,
                &routes,
                flapping.iter().flat_map(|&(a, l)| slots_of(a, l)),
            );
            if t.wants_rebuild() {
                t = Lpm::build(as_vec(&routes));
            }
            sizes.push(t.memory_bytes());
        }
        let r = Reference::new(&as_vec(&routes));
        check(&t, &r, &probes(&mut rng, &as_vec(&routes), 10_000));
        // Bounded: never more than twice a fresh build of the same table, and flat over
        // the last rounds.
        assert!(sizes.iter().all(|&b| b < 2 * fresh_bytes), "{sizes:?}");
        let late = &sizes[30..];
        assert!(
            late.iter().max() == late.iter().min()
                || late.iter().max().unwrap() - late.iter().min().unwrap() < fresh_bytes / 10,
            "{sizes:?}"
        );
    }

    #[test]
    fn slot_update_that_does_not_fit_the_encoding_changes_nothing() {
        let mut t = Lpm::build([(ip(10, 0, 0, 0), 8, 1), (ip(10, 0, 0, 0), 24, 2)]);
        assert_eq!(t.mode, Mode::Narrow);
        let slot = (ip(10, 0, 0, 0) >> 14) as usize;
        assert_eq!(
            t.set_slot(slot, &[(ip(10, 0, 0, 0), 24, 0x1_0000)], Some(1)),
            Err(Unencodable(0x1_0000))
        );
        assert_eq!(t.lookup(ip(10, 0, 0, 1)), Some(2));
        assert_eq!(
            t.set_slot(slot, &[], Some(0xFFFF)),
            Err(Unencodable(0xFFFF))
        );
        t.set_slot(slot, &[], Some(5)).unwrap();
        assert_eq!(t.lookup(ip(10, 0, 0, 1)), Some(5));
        assert_eq!(t.l1_nodes, 0);
    }

    #[test]
    fn clone_send_sync() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Lpm>();
        let t = Lpm::build([(ip(10, 0, 0, 0), 8, 1)]);
        let u = t.clone();
        let h = std::thread::spawn(move || u.lookup(ip(10, 9, 9, 9)));
        assert_eq!(h.join().unwrap(), Some(1));
        assert_eq!(t.lookup(ip(10, 9, 9, 9)), Some(1));
    }
}
