//! The worker-facing side: an immutable map of usable neighbours.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{NeighKey, PortId};
use crate::wire::MacAddr;

/// One usable neighbour as the workers see it. The slow-path thread keeps the same `Arc`
/// across snapshots while the MAC is unchanged, so the `used` flag a worker sets is read
/// back by the table (this replaces Linux's per-packet `neigh_event_send` on a STALE entry).
#[derive(Debug)]
pub struct NeighHot {
    mac: MacAddr,
    used: AtomicBool,
    /// The entry is in a state the router keeps up by itself (REACHABLE, DELAY, PROBE,
    /// PERMANENT): its ARP is traffic the router needs. STALE entries made by
    /// unsolicited requests are not, unless a worker uses them.
    needed: AtomicBool,
}

impl NeighHot {
    pub(super) fn new(mac: MacAddr) -> Self {
        NeighHot {
            mac,
            used: AtomicBool::new(false),
            needed: AtomicBool::new(false),
        }
    }

    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    /// Record that a packet was sent through this entry. Called per packet by workers:
    /// a Relaxed load, and a store only on the false -> true edge, so a busy entry's cache
    /// line stays shared instead of bouncing between cores.
    #[inline]
    pub fn mark_used(&self) {
        if !self.used.load(Ordering::Relaxed) {
            self.used.store(true, Ordering::Relaxed);
        }
    }

    /// Control thread: read and clear the flag. The swap (only when set) cannot lose a
    /// worker's concurrent `true` store.
    pub(super) fn take_used(&self) -> bool {
        self.used.load(Ordering::Relaxed) && self.used.swap(false, Ordering::Relaxed)
    }

    pub(super) fn set_needed(&self, needed: bool) {
        if self.needed.load(Ordering::Relaxed) != needed {
            self.needed.store(needed, Ordering::Relaxed);
        }
    }

    pub(super) fn clear_used(&self) {
        if self.used.load(Ordering::Relaxed) {
            self.used.store(false, Ordering::Relaxed);
        }
    }

    pub(super) fn is_used(&self) -> bool {
        self.used.load(Ordering::Relaxed)
    }
}

/// Immutable view of the usable neighbours (REACHABLE, STALE, DELAY, PROBE, PERMANENT),
/// built by [`super::NeighTable::snapshot`] and published to the workers.
#[derive(Clone, Default)]
pub struct NeighSnapshot {
    map: HashMap<NeighKey, Arc<NeighHot>, KeyHashBuilder>,
    /// INCOMPLETE neighbours: the router has asked for their MAC, so their ARP is the
    /// slow path's priority traffic (see `datapath::punt`).
    awaited: HashSet<NeighKey, KeyHashBuilder>,
}

impl NeighSnapshot {
    pub(super) fn with_capacity(n: usize, hasher: KeyHashBuilder) -> Self {
        NeighSnapshot {
            map: HashMap::with_capacity_and_hasher(n, hasher),
            awaited: HashSet::with_hasher(hasher),
        }
    }

    pub(super) fn await_reply(&mut self, key: NeighKey) {
        self.awaited.insert(key);
    }

    /// True when the router needs ARP from `ip` on `port`: it is resolving it, keeps
    /// its entry up (see `NeighHot::needed`), or a worker sends through it.
    #[inline]
    pub fn knows(&self, port: PortId, ip: Ipv4Addr) -> bool {
        let key = NeighKey { port, ip };
        match self.map.get(&key) {
            Some(h) => h.needed.load(Ordering::Relaxed) || h.used.load(Ordering::Relaxed),
            None => self.awaited.contains(&key),
        }
    }

    pub(super) fn insert(&mut self, key: NeighKey, hot: Arc<NeighHot>) {
        self.map.insert(key, hot);
    }

    #[inline]
    pub fn lookup(&self, port: PortId, ip: Ipv4Addr) -> Option<&NeighHot> {
        self.map.get(&NeighKey { port, ip }).map(|h| &**h)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All entries, in no particular order (for diagnostics).
    pub fn iter(&self) -> impl Iterator<Item = (NeighKey, &NeighHot)> + '_ {
        self.map.iter().map(|(k, h)| (*k, &**h))
    }

    #[cfg(test)]
    pub(super) fn hot_arc(&self, key: NeighKey) -> Option<&Arc<NeighHot>> {
        self.map.get(&key)
    }
}

/// A worker's way into a snapshot during one poll round: it remembers the last entry
/// found, so a run of packets towards one next hop (the common case behind a gateway)
/// hashes once and marks the entry used once.
pub struct NeighCursor<'a> {
    snap: &'a NeighSnapshot,
    last: Option<(NeighKey, MacAddr)>,
}

impl<'a> NeighCursor<'a> {
    pub fn new(snap: &'a NeighSnapshot) -> NeighCursor<'a> {
        NeighCursor { snap, last: None }
    }

    /// The snapshot it reads.
    #[inline]
    pub fn snapshot(&self) -> &'a NeighSnapshot {
        self.snap
    }

    /// See [`NeighSnapshot::knows`].
    #[inline]
    pub fn knows(&self, port: PortId, ip: Ipv4Addr) -> bool {
        self.snap.knows(port, ip)
    }

    /// The MAC of the usable neighbour `ip` on `port`; marks the entry used (STALE ->
    /// DELAY, see [`NeighHot::mark_used`]).
    #[inline]
    pub fn lookup(&mut self, port: PortId, ip: Ipv4Addr) -> Option<MacAddr> {
        let key = NeighKey { port, ip };
        if let Some((k, mac)) = self.last {
            if k == key {
                return Some(mac);
            }
        }
        let hot = self.snap.lookup(port, ip)?;
        hot.mark_used();
        self.last = Some((key, hot.mac));
        Some(hot.mac)
    }
}

impl std::fmt::Debug for NeighSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.map.iter().map(|(k, h)| (k, h.mac)))
            .finish()
    }
}

/// Keyed multiply-fold hasher for the small (port, ip) keys looked up per packet; much
/// cheaper than SipHash, and the random per-table seed keeps the bucket layout
/// unpredictable to hosts that choose their own addresses.
#[derive(Clone, Copy, Debug)]
pub(super) struct KeyHashBuilder {
    seed: u64,
}

impl Default for KeyHashBuilder {
    fn default() -> Self {
        KeyHashBuilder {
            seed: RandomState::new().build_hasher().finish(),
        }
    }
}

impl BuildHasher for KeyHashBuilder {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher { h: self.seed }
    }
}

pub(super) struct KeyHasher {
    h: u64,
}

const MULT: u64 = 0x9e37_79b9_7f4a_7c15;

impl KeyHasher {
    #[inline]
    fn mix(&mut self, x: u64) {
        let m = u128::from(self.h ^ x) * u128::from(MULT);
        self.h = (m as u64) ^ ((m >> 64) as u64);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    fn finish(&self) -> u64 {
        self.h
    }
}
