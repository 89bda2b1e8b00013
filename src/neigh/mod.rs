//! Neighbour (ARP) resolution: the NUD state machine of Linux's neighbour subsystem
//! (net/core/neighbour.c, RFC 826, RFC 1122 §2.3.2), owned by the slow-path thread.
//!
//! Workers read an immutable [`NeighSnapshot`] (usable entries only) and never wait: on a
//! miss they pass the packet to the slow path, which calls [`NeighTable::resolve`].
//! The table never does I/O; it appends [`NeighAction`]s for the caller to execute, and
//! [`NeighTable::is_dirty`] says when the snapshot must be republished.
//!
//! The states and transitions, and where they differ from Linux: `docs/design/neigh.md`.

mod snapshot;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::wire::MacAddr;
use snapshot::KeyHashBuilder;
pub use snapshot::{NeighCursor, NeighHot, NeighSnapshot};

pub type PortId = u16;

/// A neighbour is an IPv4 address on one port (Linux keys by (device, address) too).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct NeighKey {
    pub port: PortId,
    pub ip: Ipv4Addr,
}

impl NeighKey {
    pub fn new(port: PortId, ip: Ipv4Addr) -> Self {
        NeighKey { port, ip }
    }
}

impl fmt::Display for NeighKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} port {}", self.ip, self.port)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NeighState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Failed,
    Permanent,
}

impl NeighState {
    pub const ALL: [NeighState; 7] = [
        NeighState::Incomplete,
        NeighState::Reachable,
        NeighState::Stale,
        NeighState::Delay,
        NeighState::Probe,
        NeighState::Failed,
        NeighState::Permanent,
    ];

    /// Index into [`NeighState::ALL`].
    pub fn index(&self) -> usize {
        *self as usize
    }

    /// The name `ip neigh` prints.
    pub fn name(&self) -> &'static str {
        match self {
            NeighState::Incomplete => "INCOMPLETE",
            NeighState::Reachable => "REACHABLE",
            NeighState::Stale => "STALE",
            NeighState::Delay => "DELAY",
            NeighState::Probe => "PROBE",
            NeighState::Failed => "FAILED",
            NeighState::Permanent => "PERMANENT",
        }
    }

    /// Has a MAC packets may be sent to (Linux NUD_VALID): these are in the snapshot.
    pub fn is_usable(&self) -> bool {
        !matches!(self, NeighState::Incomplete | NeighState::Failed)
    }
}

impl fmt::Display for NeighState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Tunables; defaults are Linux's (`/proc/sys/net/ipv4/neigh/default/*`) where it has one.
#[derive(Clone, Debug)]
pub struct NeighParams {
    /// base_reachable_time: a confirmation is trusted this long (REACHABLE -> STALE).
    pub reachable_ms: u64,
    /// retrans_time: interval between ARP requests while INCOMPLETE or PROBE.
    pub retrans_ms: u64,
    /// Broadcast requests sent while INCOMPLETE before giving up.
    pub mcast_probes: u32,
    /// Unicast requests sent in PROBE before giving up.
    pub ucast_probes: u32,
    /// delay_first_probe_time: DELAY waits this long for a confirmation before probing.
    pub delay_probe_ms: u64,
    /// unres_qlen: packets held per unresolved neighbour; the oldest is dropped when full.
    pub hold_queue: usize,
    /// How long a FAILED entry lingers (answering nothing) before removal.
    pub failed_gc_ms: u64,
    /// gc_stale_time: a STALE entry unused this long is removed.
    pub gc_stale_ms: u64,
    /// How often the workers' `used` flag of STALE entries is polled (no Linux equivalent).
    pub stale_poll_ms: u64,
    /// gc_thresh3: most non-permanent entries. When full, the oldest FAILED then STALE
    /// entry is evicted; if there is none, new neighbours are refused.
    pub max_entries: usize,
    /// Packets held across all neighbours (no Linux equivalent: keeps unresolved traffic
    /// from draining the mbuf pool). Size it well below the pool.
    pub hold_total: usize,
}

impl Default for NeighParams {
    fn default() -> Self {
        NeighParams {
            reachable_ms: 30_000,
            retrans_ms: 1_000,
            mcast_probes: 3,
            ucast_probes: 3,
            delay_probe_ms: 5_000,
            hold_queue: 101,
            failed_gc_ms: 30_000,
            gc_stale_ms: 60_000,
            stale_poll_ms: 100,
            max_entries: 1024,
            hold_total: 4096,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum DropReason {
    /// The hold queue (per neighbour, or `hold_total`) was full; the oldest packet goes.
    HoldQueueFull,
    /// The entry was deleted (or its port flushed) while packets were held.
    Deleted,
    /// The table is at `max_entries` with nothing evictable (Linux: "neighbour table overflow").
    TableFull,
}

impl DropReason {
    pub fn name(&self) -> &'static str {
        match self {
            DropReason::HoldQueueFull => "hold_queue_full",
            DropReason::Deleted => "deleted",
            DropReason::TableFull => "table_full",
        }
    }
}

/// Work for the caller, in the order it should be done.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum NeighAction<P> {
    /// Send an ARP request for `target` out of `port`; `dst` None = broadcast (resolution),
    /// Some(mac) = unicast probe (PROBE state, RFC 1122 2.3.2.1).
    SendRequest {
        port: PortId,
        target: Ipv4Addr,
        dst: Option<MacAddr>,
    },
    /// Neighbour resolved: send this held packet to `mac` out of `port`.
    Transmit { port: PortId, mac: MacAddr, pkt: P },
    /// Resolution failed: answer this held packet with ICMP host unreachable, then free it.
    Unreachable { pkt: P },
    /// Packet dropped without an answer (caller frees and counts by reason).
    Dropped { pkt: P, reason: DropReason },
}

/// What kind of ARP packet [`NeighTable::on_arp`] is told about.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ArpKind {
    /// A reply addressed to us: proves two-way reachability.
    Reply,
    /// A request whose target is one of our addresses, or a gratuitous ARP: proves only
    /// the sender's MAC.
    Request,
}

/// One row of [`NeighTable::dump`], like a line of `ip neigh`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NeighInfo {
    pub key: NeighKey,
    /// Only for usable states, as `ip neigh` shows lladdr only for NUD_VALID.
    pub mac: Option<MacAddr>,
    pub state: NeighState,
    pub queued: usize,
    pub probes: u32,
    /// Since the last confirmation or state/MAC change.
    pub age_ms: u64,
}

struct Entry<P> {
    state: NeighState,
    /// Some exactly when `state.is_usable()`; replaced (new Arc) when the MAC changes.
    hot: Option<Arc<NeighHot>>,
    /// Held packets; non-empty only while INCOMPLETE.
    queue: VecDeque<P>,
    /// Requests sent in the current INCOMPLETE or PROBE episode.
    probes: u32,
    confirmed_ms: u64,
    updated_ms: u64,
    /// The entry's one timer; mirrored in `Core::timers`.
    deadline: Option<u64>,
}

impl<P> Entry<P> {
    fn new(now_ms: u64) -> Self {
        Entry {
            state: NeighState::Incomplete,
            hot: None,
            queue: VecDeque::new(),
            probes: 0,
            confirmed_ms: now_ms,
            updated_ms: now_ms,
            deadline: None,
        }
    }

    fn mac(&self) -> Option<MacAddr> {
        self.hot.as_ref().map(|h| h.mac())
    }

    /// A worker sent through it since the `used` flag was last polled.
    fn in_use(&self) -> bool {
        self.hot.as_ref().is_some_and(|h| h.is_used())
    }
}

/// Everything but the entry map, so transitions can borrow an entry and this at once.
struct Core {
    params: NeighParams,
    now_ms: u64,
    timers: BTreeSet<(u64, NeighKey)>,
    dirty: bool,
    held: usize,
    permanent: usize,
    /// `make_room` found no victim and none can appear before this (an entry turning
    /// FAILED resets it).
    no_victim_until_ms: u64,
}

/// Linux's `neigh_forced_gc` spares entries updated in the last 5 s.
pub const GC_PROTECT_MS: u64 = 5_000;

impl Core {
    /// `now + d`, at least 1 ms ahead so a tick never re-fires what it just scheduled.
    fn after(&self, d: u64) -> u64 {
        self.now_ms.saturating_add(d.max(1))
    }

    fn set_timer<P>(&mut self, key: NeighKey, e: &mut Entry<P>, at: Option<u64>) {
        if let Some(old) = e.deadline.take() {
            self.timers.remove(&(old, key));
        }
        if let Some(at) = at {
            self.timers.insert((at, key));
            e.deadline = Some(at);
        }
    }

    /// Give the entry `mac`; a different MAC means a new `NeighHot` and a new snapshot.
    fn set_mac<P>(&mut self, e: &mut Entry<P>, mac: MacAddr) {
        if e.mac() != Some(mac) {
            e.hot = Some(Arc::new(NeighHot::new(mac)));
            self.dirty = true;
        }
    }

    fn stale_deadline<P>(&self, e: &Entry<P>) -> u64 {
        let gc = e.updated_ms.saturating_add(self.params.gc_stale_ms.max(1));
        self.after(self.params.stale_poll_ms).min(gc)
    }

    /// Enter `state` now and arm its timer. Callers give usable states a MAC first.
    fn goto<P>(&mut self, key: NeighKey, e: &mut Entry<P>, state: NeighState) {
        use NeighState::*;
        if e.state == Permanent && state != Permanent {
            self.permanent -= 1;
        } else if e.state != Permanent && state == Permanent {
            self.permanent += 1;
        }
        if !state.is_usable() && e.hot.take().is_some() {
            self.dirty = true;
        }
        if state == Failed {
            self.no_victim_until_ms = 0;
        }
        if let Some(h) = &e.hot {
            h.set_needed(matches!(state, Reachable | Delay | Probe | Permanent));
        }
        // The snapshot's awaited set (INCOMPLETE keys) changes too.
        if (e.state == Incomplete) != (state == Incomplete) {
            self.dirty = true;
        }
        e.state = state;
        e.updated_ms = self.now_ms;
        let p = &self.params;
        let at = match state {
            Incomplete | Probe => Some(self.after(p.retrans_ms)),
            Reachable => Some(e.confirmed_ms.saturating_add(p.reachable_ms.max(1))),
            Stale => Some(self.stale_deadline(e)),
            Delay => Some(self.after(p.delay_probe_ms)),
            Failed => Some(self.after(p.failed_gc_ms)),
            Permanent => None,
        };
        self.set_timer(key, e, at);
    }

    /// Hold `pkt`, dropping the oldest held packet(s) when a limit is reached
    /// (Linux's arp_queue drops from the head).
    fn enqueue<P>(&mut self, e: &mut Entry<P>, pkt: P, out: &mut Vec<NeighAction<P>>) {
        let (per, total) = (self.params.hold_queue, self.params.hold_total);
        if per == 0 || (e.queue.is_empty() && self.held >= total) {
            out.push(NeighAction::Dropped {
                pkt,
                reason: DropReason::HoldQueueFull,
            });
            return;
        }
        while e.queue.len() >= per || (self.held >= total && !e.queue.is_empty()) {
            let Some(old) = e.queue.pop_front() else {
                break;
            };
            self.held -= 1;
            out.push(NeighAction::Dropped {
                pkt: old,
                reason: DropReason::HoldQueueFull,
            });
        }
        e.queue.push_back(pkt);
        self.held += 1;
    }

    /// Transmit the held packets in arrival order; returns how many.
    fn flush<P>(
        &mut self,
        key: NeighKey,
        e: &mut Entry<P>,
        out: &mut Vec<NeighAction<P>>,
    ) -> usize {
        let Some(mac) = e.mac() else {
            return 0;
        };
        let n = e.queue.len();
        self.held -= n;
        out.extend(e.queue.drain(..).map(|pkt| NeighAction::Transmit {
            port: key.port,
            mac,
            pkt,
        }));
        n
    }

    /// Resolution failed: held packets get ICMP host unreachable (Linux neigh_invalidate
    /// -> arp_error_report), the entry leaves the snapshot.
    fn fail<P>(&mut self, key: NeighKey, e: &mut Entry<P>, out: &mut Vec<NeighAction<P>>) {
        self.held -= e.queue.len();
        out.extend(
            e.queue
                .drain(..)
                .map(|pkt| NeighAction::Unreachable { pkt }),
        );
        self.goto(key, e, NeighState::Failed);
    }

    /// Enter INCOMPLETE and send the first broadcast request at once (Linux sends the
    /// first probe immediately); with no probes allowed, fail at once.
    fn start_resolution<P>(
        &mut self,
        key: NeighKey,
        e: &mut Entry<P>,
        out: &mut Vec<NeighAction<P>>,
    ) {
        if self.params.mcast_probes == 0 {
            self.fail(key, e, out);
            return;
        }
        e.probes = 1;
        out.push(NeighAction::SendRequest {
            port: key.port,
            target: key.ip,
            dst: None,
        });
        self.goto(key, e, NeighState::Incomplete);
    }

    /// Next unicast probe to the cached MAC (RFC 1122 2.3.2.1), or FAILED when spent.
    fn probe<P>(&mut self, key: NeighKey, e: &mut Entry<P>, out: &mut Vec<NeighAction<P>>) {
        match e.mac() {
            Some(mac) if e.probes < self.params.ucast_probes => {
                e.probes += 1;
                out.push(NeighAction::SendRequest {
                    port: key.port,
                    target: key.ip,
                    dst: Some(mac),
                });
                let at = self.after(self.params.retrans_ms);
                self.set_timer(key, e, Some(at));
            }
            _ => self.fail(key, e, out),
        }
    }
}

/// The neighbour table, owned by the control thread. `P` is the held packet type.
pub struct NeighTable<P> {
    entries: HashMap<NeighKey, Entry<P>>,
    core: Core,
    hasher: KeyHashBuilder,
    /// Scratch for `tick`, kept to avoid an allocation per call.
    due: Vec<NeighKey>,
}

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

impl<P> fmt::Debug for NeighTable<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NeighTable")
            .field("entries", &self.dump())
            .field("held", &self.core.held)
            .field("dirty", &self.core.dirty)
            .finish()
    }
}
