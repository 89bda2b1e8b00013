//! Updates in place: one direct-table slot's subtree replaced (rebuilt from its routes,
//! or copied from another table), its old space freed for reuse by later updates.

use super::build::{encode_record, node_entry, round4, Builder, Built, LineAlloc, Route};
use super::node::{dir_is_leaf, rd32, rd64, Mode, Node, DEEP_BIT, NODE_BIT, NONE, OFFSET_MASK};
use super::{Lpm, NhId, Unencodable, DIR_BITS, DIR_SIZE};

/// Blocks freed in the pool are reused only by blocks of exactly the same size (in 4-byte
/// units, below this bound); larger ones are written off until the next rebuild.
const FREE_UNITS: usize = 64;

/// Bookkeeping for in-place updates: where new records go, and what was freed.
#[derive(Clone, Default)]
pub(super) struct Space {
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

impl Space {
    /// No free space yet; new records go where `lines` (the build's allocator) says.
    pub(super) fn new(lines: LineAlloc) -> Space {
        Space {
            lines,
            ..Space::default()
        }
    }

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

impl Lpm {
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
        let mut b = Builder::new(self.mode, &self.map);
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
        let leaves_at = self.place_leaves(&deep);
        if !nodes.is_empty() {
            p.base1 += self.space.alloc_nodes(&mut self.nodes, &nodes, leaves_at);
        }
        let is_deep = encode_record(self.mode, &self.map, &p, &mut rec);
        self.place_record(slot, rec, is_deep);
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
            let leaves_at = self.place_leaves(&other.pool[x.leaves.clone()]);
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
        self.place_record(slot, rec, deep);
        Ok(())
    }

    /// Copies the leaves of one slot's deeper nodes to a block of the pool; returns its
    /// offset (0 when there are none).
    fn place_leaves(&mut self, leaves: &[u8]) -> u32 {
        if leaves.is_empty() {
            return 0;
        }
        let at = self
            .space
            .alloc(&mut self.pool, round4(leaves.len()), false);
        self.pool[at..at + leaves.len()].copy_from_slice(leaves);
        at as u32
    }

    /// Places first-level record `rec` (`deep`: with internal children) in the pool and
    /// points `slot` at it; `rec` goes back to the scratch space.
    fn place_record(&mut self, slot: usize, rec: Vec<u8>, deep: bool) {
        let at = self.space.alloc(&mut self.pool, rec.len(), true);
        self.pool[at..at + rec.len()].copy_from_slice(&rec);
        self.space.rec = rec;
        self.l1_nodes += 1;
        self.dir[slot] = node_entry(at, deep);
    }
}
