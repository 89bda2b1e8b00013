//! Neighbour (ARP) resolution: the NUD state machine of Linux's neighbour subsystem
//! (net/core/neighbour.c, RFC 826, RFC 1122 §2.3.2), owned by the slow-path thread.
//!
//! Workers read an immutable [`NeighSnapshot`] (usable entries only) and never wait: on a
//! miss they pass the packet to the slow path, which calls [`NeighTable::resolve`].
//! The table never does I/O; it appends [`NeighAction`]s for the caller to execute, and
//! [`NeighTable::is_dirty`] says when the snapshot must be republished.
//!
//! The types are here; `nud.rs` holds the transitions of one entry (`Core`), `table.rs`
//! the table's operations (resolve, ARP input, timers, eviction, snapshot, dump).
//!
//! The states and transitions, and where they differ from Linux: `docs/design/neigh.md`.

mod nud;
mod snapshot;
mod table;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::wire::MacAddr;
use snapshot::KeyHashBuilder;
pub use snapshot::{NeighCursor, NeighHot, NeighSnapshot};

/// A DPDK port id.
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

/// A neighbour's state, as Linux's NUD_* states (`docs/design/neigh.md`).
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

/// Why the table dropped a packet it held.
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

/// The neighbour table, owned by the slow-path thread. `P` is the held packet type.
pub struct NeighTable<P> {
    entries: HashMap<NeighKey, Entry<P>>,
    core: Core,
    hasher: KeyHashBuilder,
    /// Scratch for `tick`, kept to avoid an allocation per call.
    due: Vec<NeighKey>,
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
