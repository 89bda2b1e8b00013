//! The table's operations: packets to resolve, ARP input, timers, static entries,
//! deletion and eviction, and the snapshot and dumps it publishes.

use super::*;

impl<P> NeighTable<P> {
    pub fn new(params: NeighParams) -> Self {
        NeighTable {
            entries: HashMap::new(),
            core: Core {
                params,
                now_ms: 0,
                timers: BTreeSet::new(),
                dirty: false,
                held: 0,
                permanent: 0,
                no_victim_until_ms: 0,
            },
            hasher: KeyHashBuilder::default(),
            due: Vec::new(),
        }
    }

    pub fn params(&self) -> &NeighParams {
        &self.core.params
    }

    /// A worker could not send `pkt` to `key` (no usable snapshot entry). Queue it and
    /// start/continue resolution.
    pub fn resolve(&mut self, now_ms: u64, key: NeighKey, pkt: P, out: &mut Vec<NeighAction<P>>) {
        self.core.now_ms = now_ms;
        let Some(e) = self.entries.get_mut(&key) else {
            if !self.make_room(out) {
                out.push(NeighAction::Dropped {
                    pkt,
                    reason: DropReason::TableFull,
                });
                return;
            }
            let mut e = Entry::new(now_ms);
            self.core.enqueue(&mut e, pkt, out);
            self.core.start_resolution(key, &mut e, out);
            self.entries.insert(key, e);
            // A new INCOMPLETE key: the workers let its ARP reply through (awaited).
            self.core.dirty = true;
            return;
        };
        let core = &mut self.core;
        match (e.state, e.mac()) {
            (NeighState::Incomplete, _) => core.enqueue(e, pkt, out),
            // Linux __neigh_event_send: a FAILED entry starts over on new traffic.
            (NeighState::Failed, _) | (_, None) => {
                core.enqueue(e, pkt, out);
                core.start_resolution(key, e, out);
            }
            // The worker's snapshot was older than the table: send now. Sending through a
            // STALE entry is a use: STALE -> DELAY (RFC 1122 2.3.2.1, Linux NUD_DELAY).
            (state, Some(mac)) => {
                out.push(NeighAction::Transmit {
                    port: key.port,
                    mac,
                    pkt,
                });
                if state == NeighState::Stale {
                    if let Some(h) = &e.hot {
                        h.clear_used();
                    }
                    core.goto(key, e, NeighState::Delay);
                }
            }
        }
    }

    /// An ARP packet from `key.ip` with sender `mac` arrived on `key.port`.
    pub fn on_arp(
        &mut self,
        now_ms: u64,
        key: NeighKey,
        mac: MacAddr,
        kind: ArpKind,
        out: &mut Vec<NeighAction<P>>,
    ) {
        self.core.now_ms = now_ms;
        // Never learn a group or zero MAC, nor an address that cannot be a neighbour
        // (0.0.0.0 is an RFC 5227 probe, not a claim).
        let ip = key.ip;
        if mac.is_multicast()
            || mac.is_zero()
            || ip.is_unspecified()
            || ip.is_broadcast()
            || ip.is_multicast()
            || ip.is_loopback()
        {
            return;
        }
        let Some(e) = self.entries.get_mut(&key) else {
            // Linux (arp_accept=0): unsolicited replies create nothing; a request to us
            // creates a STALE entry (neigh_event_ns), since we will likely answer it.
            if kind == ArpKind::Request && self.make_room(out) {
                let mut e = Entry::new(now_ms);
                self.core.set_mac(&mut e, mac);
                self.core.goto(key, &mut e, NeighState::Stale);
                self.entries.insert(key, e);
            }
            return;
        };
        let core = &mut self.core;
        match e.state {
            NeighState::Permanent => {}
            NeighState::Incomplete | NeighState::Failed => {
                core.set_mac(e, mac);
                e.probes = 0;
                if kind == ArpKind::Reply {
                    e.confirmed_ms = now_ms;
                    core.goto(key, e, NeighState::Reachable);
                    core.flush(key, e, out);
                } else {
                    // A request proves the MAC, not reachability: STALE. Sending the held
                    // packets through it is a use, so it moves on to DELAY (Linux).
                    core.goto(key, e, NeighState::Stale);
                    if core.flush(key, e, out) > 0 {
                        if let Some(h) = &e.hot {
                            h.mark_used();
                        }
                    }
                }
            }
            NeighState::Reachable | NeighState::Stale | NeighState::Delay | NeighState::Probe => {
                match kind {
                    ArpKind::Reply => {
                        core.set_mac(e, mac);
                        e.probes = 0;
                        e.confirmed_ms = now_ms;
                        core.goto(key, e, NeighState::Reachable);
                    }
                    ArpKind::Request if e.mac() != Some(mac) => {
                        core.set_mac(e, mac);
                        e.probes = 0;
                        core.goto(key, e, NeighState::Stale);
                    }
                    // Same MAC: a request confirms nothing new (Linux keeps the state).
                    ArpKind::Request => {}
                }
            }
        }
    }

    /// Timers: retransmissions, REACHABLE->STALE, STALE used->DELAY->PROBE, PROBE->FAILED,
    /// GC. Call every few ms (or at [`Self::next_deadline`]). Each due timer fires once
    /// per call; what it re-arms fires on a later call.
    pub fn tick(&mut self, now_ms: u64, out: &mut Vec<NeighAction<P>>) {
        self.core.now_ms = now_ms;
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        due.extend(
            self.core
                .timers
                .iter()
                .take_while(|(at, _)| *at <= now_ms)
                .map(|(_, k)| *k),
        );
        for &key in &due {
            self.fire(key, out);
        }
        self.due = due;
    }

    fn fire(&mut self, key: NeighKey, out: &mut Vec<NeighAction<P>>) {
        let now = self.core.now_ms;
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        if !e.deadline.is_some_and(|at| at <= now) {
            return;
        }
        let core = &mut self.core;
        core.set_timer(key, e, None);
        match e.state {
            NeighState::Incomplete => {
                if e.probes >= core.params.mcast_probes {
                    core.fail(key, e, out);
                } else {
                    e.probes += 1;
                    out.push(NeighAction::SendRequest {
                        port: key.port,
                        target: key.ip,
                        dst: None,
                    });
                    let at = core.after(core.params.retrans_ms);
                    core.set_timer(key, e, Some(at));
                }
            }
            NeighState::Reachable => {
                // Only use after this point counts towards DELAY.
                if let Some(h) = &e.hot {
                    h.clear_used();
                }
                core.goto(key, e, NeighState::Stale);
            }
            NeighState::Stale => {
                if e.hot.as_ref().is_some_and(|h| h.take_used()) {
                    core.goto(key, e, NeighState::Delay);
                } else if now >= e.updated_ms.saturating_add(core.params.gc_stale_ms) {
                    self.remove(key, out);
                } else {
                    let at = core.stale_deadline(e);
                    core.set_timer(key, e, Some(at));
                }
            }
            // No confirmation arrived during DELAY (a reply would have made it REACHABLE):
            // start unicast probing.
            NeighState::Delay => {
                e.probes = 0;
                core.goto(key, e, NeighState::Probe);
                core.probe(key, e, out);
            }
            NeighState::Probe => core.probe(key, e, out),
            NeighState::Failed => {
                self.remove(key, out);
            }
            NeighState::Permanent => {}
        }
    }

    /// Add or replace a PERMANENT entry (`ip neigh replace ... nud permanent`); held packets
    /// are transmitted.
    pub fn add_static(&mut self, key: NeighKey, mac: MacAddr, out: &mut Vec<NeighAction<P>>) {
        let now = self.core.now_ms;
        let e = self.entries.entry(key).or_insert_with(|| Entry::new(now));
        self.core.set_mac(e, mac);
        e.probes = 0;
        e.confirmed_ms = now;
        self.core.goto(key, e, NeighState::Permanent);
        self.core.flush(key, e, out);
    }

    /// Remove an entry of any state; held packets are dropped. False if there was none.
    pub fn delete(&mut self, key: NeighKey, out: &mut Vec<NeighAction<P>>) -> bool {
        self.remove(key, out)
    }

    /// Remove every non-permanent entry of `port` (Linux does this on carrier loss or
    /// address change). Returns how many were removed.
    pub fn flush_port(&mut self, port: PortId, out: &mut Vec<NeighAction<P>>) -> usize {
        let mut keys: Vec<NeighKey> = self
            .entries
            .iter()
            .filter(|(k, e)| k.port == port && e.state != NeighState::Permanent)
            .map(|(k, _)| *k)
            .collect();
        keys.sort_unstable();
        for &k in &keys {
            self.remove(k, out);
        }
        keys.len()
    }

    fn remove(&mut self, key: NeighKey, out: &mut Vec<NeighAction<P>>) -> bool {
        let Some(mut e) = self.entries.remove(&key) else {
            return false;
        };
        let core = &mut self.core;
        core.set_timer(key, &mut e, None);
        if e.state == NeighState::Permanent {
            core.permanent -= 1;
        }
        if e.hot.is_some() || e.state == NeighState::Incomplete {
            core.dirty = true;
        }
        core.held -= e.queue.len();
        out.extend(e.queue.drain(..).map(|pkt| NeighAction::Dropped {
            pkt,
            reason: DropReason::Deleted,
        }));
        true
    }

    /// Make space for one more non-permanent entry: evict the oldest FAILED entry, else
    /// the oldest STALE one not used or updated in the last [`GC_PROTECT_MS`] (Linux's
    /// `neigh_forced_gc`); false if there is none, and the new neighbour is refused. A
    /// scan that finds nothing is not repeated before the first STALE entry can become
    /// a victim or an entry fails, so a flood of new senders into a full table costs
    /// one comparison each.
    fn make_room(&mut self, out: &mut Vec<NeighAction<P>>) -> bool {
        let dynamic = self.entries.len() - self.core.permanent;
        if dynamic < self.core.params.max_entries {
            return true;
        }
        let now = self.core.now_ms;
        if now < self.core.no_victim_until_ms {
            return false;
        }
        let recent = now.saturating_sub(GC_PROTECT_MS);
        let mut next_victim = u64::MAX;
        let victim = self
            .entries
            .iter()
            .filter_map(|(k, e)| match e.state {
                NeighState::Failed => Some(((0u8, e.updated_ms, *k), *k)),
                NeighState::Stale if e.updated_ms < recent && !e.in_use() => {
                    Some(((1u8, e.updated_ms, *k), *k))
                }
                NeighState::Stale => {
                    next_victim = next_victim.min(e.updated_ms.saturating_add(GC_PROTECT_MS));
                    None
                }
                _ => None,
            })
            .min_by_key(|(rank, _)| *rank)
            .map(|(_, k)| k);
        match victim {
            Some(k) => self.remove(k, out),
            None => {
                // Entries turning STALE later are updated then, so protected as long.
                self.core.no_victim_until_ms = next_victim.min(now.saturating_add(GC_PROTECT_MS));
                false
            }
        }
    }

    /// True when the usable set (keys, MACs) changed since the last `snapshot()`.
    pub fn is_dirty(&self) -> bool {
        self.core.dirty
    }

    /// The usable entries, sharing each entry's `Arc<NeighHot>` so the workers' `used`
    /// flags reach the table. Clears the dirty flag.
    pub fn snapshot(&mut self) -> NeighSnapshot {
        self.core.dirty = false;
        let usable = self.entries.values().filter(|e| e.hot.is_some()).count();
        let mut snap = NeighSnapshot::with_capacity(usable, self.hasher);
        for (k, e) in &self.entries {
            if let Some(h) = &e.hot {
                snap.insert(*k, Arc::clone(h));
            } else if e.state == NeighState::Incomplete {
                snap.await_reply(*k);
            }
        }
        snap
    }

    fn info(&self, key: NeighKey, e: &Entry<P>) -> NeighInfo {
        NeighInfo {
            key,
            mac: e.mac(),
            state: e.state,
            queued: e.queue.len(),
            probes: e.probes,
            age_ms: self
                .core
                .now_ms
                .saturating_sub(e.confirmed_ms.max(e.updated_ms)),
        }
    }

    /// All entries sorted by key; ages are relative to the latest `now_ms` the table saw.
    pub fn dump(&self) -> Vec<NeighInfo> {
        let mut v: Vec<NeighInfo> = self.entries.iter().map(|(k, e)| self.info(*k, e)).collect();
        v.sort_unstable_by_key(|i| i.key);
        v
    }

    pub fn get(&self, key: NeighKey) -> Option<NeighInfo> {
        self.entries.get(&key).map(|e| self.info(key, e))
    }

    /// Earliest armed timer, so the control loop can sleep until then (it should still
    /// wake for ARP packets and resolve requests).
    pub fn next_deadline(&self) -> Option<u64> {
        self.core.timers.first().map(|(at, _)| *at)
    }

    /// Entries per state, indexed like [`NeighState::ALL`]; no allocation.
    pub fn count_by_state(&self) -> [usize; NeighState::ALL.len()] {
        let mut n = [0; NeighState::ALL.len()];
        for e in self.entries.values() {
            n[e.state.index()] += 1;
        }
        n
    }

    /// Packets held across all entries.
    pub fn held_packets(&self) -> usize {
        self.core.held
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
