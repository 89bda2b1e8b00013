//! Incremental FIB updates, published through `ArcSwap<Fib>` without disturbing readers.
//!
//! [`FibPublisher`] keeps two copies of the lookup structure, left-right style: the one
//! the workers read and a spare, brought up to date in place (only the direct-table
//! slots that changed) and swapped in once no reader holds it. Next-hop ids are stable
//! across publications (reference counts, freed ids reused).
//!
//! Why a spare rather than copy-on-write, why it is safe for the readers, what is
//! rebuilt and when a full build is chosen: `docs/design/fib.md`.

use super::lpm::{Lpm, NhId, DIR_BITS, DIR_SIZE};
use super::{key, mask, Buckets, Fib, NextHop, Resolved, Rib};
use arc_swap::ArcSwap;
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// "No route" in `inherited`.
const NONE: u32 = u32::MAX;

/// How long `publish` waits for readers to let go of the spare copy before copying the
/// published one instead. Readers hold a FIB for one burst (microseconds).
const SPARE_WAIT: Duration = Duration::from_micros(500);

/// A batch dirtying more slots than this rebuilds the copy instead (a full build of the
/// BGP table touches about 90k populated slots in ~25 ms; past this point slot-by-slot
/// updates stop being cheaper).
const MAX_DIRTY_SLOTS: usize = DIR_SIZE / 8;

/// Slots (or changes) whose data is touched together before they are processed.
const TOUCH_AHEAD: usize = 16;

/// Why a publication rebuilt the whole structure instead of updating slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebuild {
    /// The connected subnets changed, so any gateway may resolve differently.
    Connected,
    /// A next-hop id did not fit the table's leaf encoding.
    Encoding,
    /// Freed space exceeded a quarter of the copy.
    Compaction,
    /// The batch dirtied more than `MAX_DIRTY_SLOTS` slots.
    ManySlots,
    /// The published FIB was not one this publisher made (or there was none to copy).
    Foreign,
    /// Requested with [`FibPublisher::republish_all`].
    Requested,
}

/// What one publication did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub version: u64,
    /// Prefixes whose installed next hop changed (added, removed or changed).
    pub changed_prefixes: usize,
    /// Direct-table slots rebuilt in the copy that was published (0 after a rebuild).
    pub slots: usize,
    /// Set when the whole copy was rebuilt, and why.
    pub rebuilt: Option<Rebuild>,
    /// True when the spare was still in use by a reader and the published copy was cloned.
    pub copied: bool,
}

/// Distinct next hops (and multipath groups, each with its buckets) with stable ids and
/// reference counts.
#[derive(Default)]
struct NextHopTable {
    list: Vec<NextHop>,
    /// What each id was acquired for (the key of `ids`).
    keys: Vec<Resolved>,
    refs: Vec<u32>,
    ids: HashMap<Resolved, NhId>,
    free: Vec<NhId>,
    /// The buckets of each `NextHop::Group` in `list`, by group id.
    groups: Vec<Option<Arc<Buckets>>>,
    free_groups: Vec<u32>,
}

impl NextHopTable {
    /// The id of `nh`, counting one more user.
    fn acquire(&mut self, nh: &Resolved) -> NhId {
        if let Some(&id) = self.ids.get(nh) {
            self.refs[id as usize] += 1;
            return id;
        }
        let hop = match nh {
            Resolved::One(hop) => *hop,
            Resolved::Group(b) => {
                let group = match self.free_groups.pop() {
                    Some(g) => {
                        self.groups[g as usize] = Some(b.clone());
                        g
                    }
                    None => {
                        self.groups.push(Some(b.clone()));
                        (self.groups.len() - 1) as u32
                    }
                };
                NextHop::Group { group }
            }
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.list[id as usize] = hop;
                self.keys[id as usize] = nh.clone();
                self.refs[id as usize] = 1;
                id
            }
            None => {
                self.list.push(hop);
                self.keys.push(nh.clone());
                self.refs.push(1);
                (self.list.len() - 1) as NhId
            }
        };
        self.ids.insert(nh.clone(), id);
        id
    }

    /// One user fewer of `id`; the id is freed when none is left.
    fn release(&mut self, id: NhId) {
        let r = &mut self.refs[id as usize];
        *r -= 1;
        if *r == 0 {
            self.ids.remove(&self.keys[id as usize]);
            // Readers of older versions never see the reuse: every copy that still refers
            // to `id` has its referring slots rebuilt before its next publication, and
            // each version has its own copy of the group table.
            self.free.push(id);
            if let NextHop::Group { group } = self.list[id as usize] {
                self.groups[group as usize] = None;
                self.free_groups.push(group);
            }
            // Nothing keeps a freed group's buckets alive.
            self.keys[id as usize] = Resolved::One(NextHop::Blackhole);
        }
    }

    fn in_use(&self) -> usize {
        self.ids.len()
    }
}

/// Counters over the publisher's life, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublisherStats {
    pub publications: u64,
    pub rebuilds: u64,
    pub copies: u64,
    pub slots_rebuilt: u64,
}

/// Builds FIB versions from a [`Rib`] and publishes them; see the module documentation.
pub struct FibPublisher {
    /// Installed prefixes of length <= 18, keyed (network, length).
    short: BTreeMap<(u32, u8), NhId>,
    /// Installed prefixes longer than /18, per direct-table slot, sorted by (addr, len).
    long: Box<[Vec<(u32, u8, NhId)>]>,
    /// Number of installed prefixes.
    count: usize,
    /// Per slot, the answer of the longest installed prefix of length <= 18 covering it.
    inherited: Box<[u32]>,
    nh: NextHopTable,
    /// The RIB's connected subnets when the entries were resolved.
    connected: BTreeMap<(u32, u8), u16>,
    /// The previous version, once it has been swapped out.
    spare: Option<Arc<Fib>>,
    /// The slots the spare lacks (sorted, unique).
    lag: Vec<u32>,
    /// The version last published, to recognise it when it is swapped out.
    published: Option<Weak<Fib>>,
    /// Versions given up (not reusable as the spare), freed at the next publication: by
    /// then the workers have moved on, so a worker never pays for freeing a table.
    retired: Vec<Arc<Fib>>,
    stats: PublisherStats,
    /// Scratch for inherited answers.
    fill: Vec<u32>,
}

impl FibPublisher {
    /// Builds version `version` from `rib`. Publish the returned FIB (`ArcSwap::new`, or
    /// `store`) and pass the same `ArcSwap` to [`FibPublisher::publish`] from then on.
    pub fn new(rib: &Rib, version: u64) -> (FibPublisher, Arc<Fib>) {
        let mut p = FibPublisher {
            short: BTreeMap::new(),
            long: vec![Vec::new(); DIR_SIZE].into_boxed_slice(),
            count: 0,
            inherited: vec![NONE; DIR_SIZE].into_boxed_slice(),
            nh: NextHopTable::default(),
            connected: BTreeMap::new(),
            spare: None,
            lag: Vec::new(),
            published: None,
            retired: Vec::new(),
            stats: PublisherStats::default(),
            fill: Vec::new(),
        };
        p.resync(rib);
        let fib = Arc::new(p.build(version));
        p.published = Some(Arc::downgrade(&fib));
        (p, fib)
    }

    /// Publishes version `version` of the FIB into `target` after the routes of the
    /// prefixes in `changed` changed in `rib` (added, removed, replaced; listing a prefix
    /// that did not change, or twice, is harmless). Every change to `rib` since the last
    /// publication must be listed, or the FIB misses it.
    pub fn publish(
        &mut self,
        rib: &Rib,
        changed: &[Ipv4Net],
        version: u64,
        target: &ArcSwap<Fib>,
    ) -> Published {
        let mut dirty = Vec::new();
        let mut rebuilt = None;
        let changed_prefixes;
        if *rib.connected() != self.connected {
            changed_prefixes = self.resync(rib);
            rebuilt = Some(Rebuild::Connected);
        } else {
            // In prefix order: neighbouring prefixes share the RIB's tree nodes and the
            // mirror's slots, so the walk hits the cache far more often than in the order
            // given (several times faster for 10k random changes on the full table).
            let mut keys: Vec<(u32, u8)> = changed.iter().map(key).collect();
            keys.sort_unstable();
            keys.dedup();
            let mut n = 0;
            for group in keys.chunks(TOUCH_AHEAD) {
                // Touch the group's mirror slots first, as in `update`.
                let mut x = 0;
                for &(addr, _) in group {
                    x ^= self.long[(addr >> (32 - DIR_BITS)) as usize]
                        .first()
                        .map_or(0, |e| e.0);
                }
                std::hint::black_box(x);
                n += group
                    .iter()
                    .filter(|&&k| self.change(rib, k, &mut dirty))
                    .count();
            }
            changed_prefixes = n;
            dirty.sort_unstable();
            dirty.dedup();
            if dirty.len() > MAX_DIRTY_SLOTS {
                rebuilt = Some(Rebuild::ManySlots);
            }
        }
        self.publish_with(dirty, rebuilt, changed_prefixes, version, target)
    }

    /// Re-derives everything from `rib` and publishes a freshly built version (for when
    /// the changes were not tracked).
    pub fn republish_all(&mut self, rib: &Rib, version: u64, target: &ArcSwap<Fib>) -> Published {
        let n = self.resync(rib);
        self.publish_with(Vec::new(), Some(Rebuild::Requested), n, version, target)
    }

    pub fn stats(&self) -> PublisherStats {
        self.stats
    }

    /// Distinct next hops in use.
    pub fn nexthops(&self) -> usize {
        self.nh.in_use()
    }

    /// Installed prefixes.
    pub fn prefixes(&self) -> usize {
        self.count
    }

    fn publish_with(
        &mut self,
        dirty: Vec<u32>,
        mut rebuilt: Option<Rebuild>,
        changed_prefixes: usize,
        version: u64,
        target: &ArcSwap<Fib>,
    ) -> Published {
        self.retired.clear();
        let mut copied = false;
        let mut slots = 0;
        let mut updated = None;
        if rebuilt.is_none() {
            match self.writable_copy(target) {
                None => rebuilt = Some(Rebuild::Foreign),
                Some((mut fib, lag, was_copied)) => {
                    copied = was_copied;
                    // The slots only the spare lacks are up to date in the published
                    // version: copy them from there; rebuild this batch's.
                    let published = Some(target.load_full()).filter(|f| self.is_ours(f));
                    let (rebuild, copy) = match &published {
                        Some(_) => (dirty.clone(), difference(&lag, &dirty)),
                        None => (merge(&lag, &dirty), Vec::new()),
                    };
                    slots = rebuild.len() + copy.len();
                    if slots > MAX_DIRTY_SLOTS {
                        rebuilt = Some(Rebuild::ManySlots);
                    } else if self
                        .update(&mut fib, &rebuild, &copy, published.as_deref())
                        .is_err()
                    {
                        rebuilt = Some(Rebuild::Encoding);
                    } else if fib.lpm.wants_rebuild() {
                        rebuilt = Some(Rebuild::Compaction);
                    } else {
                        updated = Some(fib);
                    }
                }
            }
        }
        let mut fib = match updated {
            Some(fib) => fib,
            None => {
                slots = 0;
                self.stats.rebuilds += 1;
                self.build(version)
            }
        };
        fib.version = version;
        let next = Arc::new(fib);
        // Publish, and keep the version swapped out as the next spare if it is ours and
        // lacks only this batch's slots (not a wholesale change, after which copying the
        // new version is cheaper than rebuilding the old one).
        let prev = self.published.replace(Arc::downgrade(&next));
        let old = target.swap(next);
        let ours = prev.is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&old)));
        let wholesale = matches!(
            rebuilt,
            Some(Rebuild::Connected | Rebuild::ManySlots | Rebuild::Encoding | Rebuild::Requested)
        );
        // (A spare still held here was not used: it lacks this batch too.)
        self.retired.extend(self.spare.take());
        if ours && !wholesale {
            self.spare = Some(old);
        } else {
            self.retired.push(old);
        }
        self.lag = dirty;
        self.stats.publications += 1;
        self.stats.copies += u64::from(copied);
        self.stats.slots_rebuilt += slots as u64;
        Published {
            version,
            changed_prefixes,
            slots,
            rebuilt,
            copied,
        }
    }

    /// A FIB no reader holds, to update in place, with the slots it lacks besides this
    /// batch's: the spare (lagging by the last batch), or else a clone of the published
    /// version (lagging by nothing else; true in the third field). None if the published
    /// version is not ours.
    fn writable_copy(&mut self, target: &ArcSwap<Fib>) -> Option<(Fib, Vec<u32>, bool)> {
        if let Some(spare) = self.spare.take() {
            match take_when_unused(spare) {
                Ok(fib) => return Some((fib, std::mem::take(&mut self.lag), false)),
                // A reader still has it: it is freed after the next publication.
                Err(spare) => self.retired.push(spare),
            }
        }
        let current = target.load_full();
        if !self.is_ours(&current) {
            return None;
        }
        let fib = Fib {
            lpm: current.lpm.clone(),
            nexthops: current.nexthops.clone(),
            groups: current.groups.clone(),
            version: current.version,
        };
        Some((fib, Vec::new(), true))
    }

    fn is_ours(&self, fib: &Arc<Fib>) -> bool {
        self.published
            .as_ref()
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(fib)))
    }

    /// Brings the installed entry of prefix `p` up to date with `rib`; pushes the slots
    /// whose content changed onto `dirty`. True when the installed next hop changed.
    fn change(&mut self, rib: &Rib, k: (u32, u8), dirty: &mut Vec<u32>) -> bool {
        let (addr, len) = k;
        let best = rib.best(k);
        let best = best.as_ref();
        // Often (a re-announcement with other attributes) the next hop is unchanged.
        if let Some(nh) = best {
            if self
                .installed(k)
                .is_some_and(|id| self.nh.keys[id as usize] == *nh)
            {
                return false;
            }
        }
        // Acquire before releasing, so that an unchanged next hop keeps its id.
        let new = best.map(|nh| self.nh.acquire(nh));
        let old = if u32::from(len) <= DIR_BITS {
            match new {
                Some(id) => self.short.insert(k, id),
                None => self.short.remove(&k),
            }
        } else {
            let list = &mut self.long[(addr >> (32 - DIR_BITS)) as usize];
            match (list.binary_search_by_key(&(addr, len), |e| (e.0, e.1)), new) {
                (Ok(i), Some(id)) => Some(std::mem::replace(&mut list[i].2, id)),
                (Ok(i), None) => Some(list.remove(i).2),
                (Err(i), Some(id)) => {
                    list.insert(i, (addr, len, id));
                    None
                }
                (Err(_), None) => None,
            }
        };
        if let Some(o) = old {
            self.nh.release(o);
        }
        if old == new {
            return false;
        }
        match (old, new) {
            (None, Some(_)) => self.count += 1,
            (Some(_), None) => self.count -= 1,
            _ => {}
        }
        if u32::from(len) <= DIR_BITS {
            self.refill_inherited(addr, len, dirty);
        } else {
            dirty.push(addr >> (32 - DIR_BITS));
        }
        true
    }

    /// The next-hop id installed for prefix `k`.
    fn installed(&self, k: (u32, u8)) -> Option<NhId> {
        let (addr, len) = k;
        if u32::from(len) <= DIR_BITS {
            return self.short.get(&k).copied();
        }
        let list = &self.long[(addr >> (32 - DIR_BITS)) as usize];
        let i = list.binary_search_by_key(&k, |e| (e.0, e.1)).ok()?;
        Some(list[i].2)
    }

    /// Recomputes the inherited answer of the slots under the short prefix `addr/len`;
    /// pushes those whose answer changed onto `dirty`.
    fn refill_inherited(&mut self, addr: u32, len: u8, dirty: &mut Vec<u32>) {
        let first = (addr >> (32 - DIR_BITS)) as usize;
        let n = 1usize << (DIR_BITS - u32::from(len));
        // The longest prefix of length <= len covering the range, then everything shorter
        // than /19 inside it, covering prefixes before covered ones (sorted order).
        let base = (0..=len)
            .rev()
            .find_map(|l| self.short.get(&(addr & mask(l), l)).copied())
            .unwrap_or(NONE);
        self.fill.clear();
        self.fill.resize(n, base);
        if u32::from(len) < DIR_BITS {
            let last = addr | !mask(len);
            for (&(a, l), &v) in self.short.range((addr, len + 1)..=(last, DIR_BITS as u8)) {
                let start = (a >> (32 - DIR_BITS)) as usize - first;
                self.fill[start..start + (1 << (DIR_BITS - u32::from(l)))].fill(v);
            }
        }
        for (i, (cur, &new)) in self.inherited[first..first + n]
            .iter_mut()
            .zip(&self.fill)
            .enumerate()
        {
            if *cur != new {
                *cur = new;
                dirty.push((first + i) as u32);
            }
        }
    }

    /// Re-derives every installed entry from `rib` (ids of unchanged next hops are kept).
    /// Returns the number of prefixes whose next hop changed.
    fn resync(&mut self, rib: &Rib) -> usize {
        let old_short = std::mem::take(&mut self.short);
        let old_long = std::mem::replace(
            &mut self.long,
            vec![Vec::new(); DIR_SIZE].into_boxed_slice(),
        );
        self.count = 0;
        for (k, nh) in rib.resolved() {
            let id = self.nh.acquire(&nh);
            self.count += 1;
            let (addr, len) = k;
            if u32::from(len) <= DIR_BITS {
                self.short.insert(k, id);
            } else {
                self.long[(addr >> (32 - DIR_BITS)) as usize].push((addr, len, id));
            }
        }
        for list in self.long.iter_mut() {
            list.sort_unstable_by_key(|e| (e.0, e.1));
        }
        let mut same = 0;
        let mut old_count = 0;
        for (k, &id) in &old_short {
            same += usize::from(self.short.get(k) == Some(&id));
            old_count += 1;
            self.nh.release(id);
        }
        for (slot, list) in old_long.iter().enumerate() {
            for &(a, l, id) in list {
                let new = &self.long[slot];
                let is_same = new
                    .binary_search_by_key(&(a, l), |e| (e.0, e.1))
                    .is_ok_and(|i| new[i].2 == id);
                same += usize::from(is_same);
                old_count += 1;
                self.nh.release(id);
            }
        }
        self.inherited.fill(NONE);
        for (&(a, l), &v) in &self.short {
            let start = (a >> (32 - DIR_BITS)) as usize;
            self.inherited[start..start + (1 << (DIR_BITS - u32::from(l)))].fill(v);
        }
        self.connected = rib.connected().clone();
        self.count + old_count - 2 * same
    }

    /// A freshly built FIB of the current entries.
    fn build(&self, version: u64) -> Fib {
        let short = self.short.iter().map(|(&(a, l), &v)| (a, l, v));
        let long = self.long.iter().flatten().copied();
        Fib {
            lpm: Lpm::build(short.chain(long)),
            nexthops: self.nh.list.clone(),
            groups: self.nh.groups.clone(),
            version,
        }
    }

    /// Brings `fib` up to date: copies slots `copy` from `from` (the published version),
    /// rebuilds slots `rebuild` from the current entries.
    fn update(
        &self,
        fib: &mut Fib,
        rebuild: &[u32],
        copy: &[u32],
        from: Option<&Fib>,
    ) -> Result<(), super::lpm::Unencodable> {
        if let Some(src) = from {
            for group in copy.chunks(TOUCH_AHEAD) {
                std::hint::black_box(fib.lpm.touch_slots(group) ^ src.lpm.touch_slots(group));
                for &s in group {
                    if fib.lpm.copy_slot(&src.lpm, s as usize).is_err() {
                        self.rebuild_slot(fib, s as usize)?;
                    }
                }
            }
        }
        for group in rebuild.chunks(TOUCH_AHEAD) {
            // Touch the group's data first (see `Lpm::touch_slots`).
            let mut x = fib.lpm.touch_slots(group);
            for &s in group {
                x ^= self.long[s as usize].first().map_or(0, |e| e.0);
            }
            std::hint::black_box(x);
            for &s in group {
                self.rebuild_slot(fib, s as usize)?;
            }
        }
        fib.lpm.set_len(self.count);
        fib.nexthops.clone_from(&self.nh.list);
        fib.groups.clone_from(&self.nh.groups);
        Ok(())
    }

    fn rebuild_slot(&self, fib: &mut Fib, s: usize) -> Result<(), super::lpm::Unencodable> {
        let inherited = Some(self.inherited[s]).filter(|&v| v != NONE);
        fib.lpm.set_slot(s, &self.long[s], inherited)
    }
}

/// The FIB inside `arc` once no reader holds it, waiting at most [`SPARE_WAIT`]; else
/// `arc` back.
fn take_when_unused(mut arc: Arc<Fib>) -> Result<Fib, Arc<Fib>> {
    let deadline = Instant::now() + SPARE_WAIT;
    loop {
        match Arc::try_unwrap(arc) {
            Ok(f) => return Ok(f),
            Err(a) if Instant::now() < deadline => {
                arc = a;
                std::thread::yield_now();
            }
            Err(a) => return Err(a),
        }
    }
}

/// The elements of sorted list `a` that are not in sorted list `b`.
fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// The union of two sorted, deduplicated lists.
fn merge(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

#[cfg(test)]
mod tests;
