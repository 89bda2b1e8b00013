//! The NUD transitions of one entry: timers, state changes, the held-packet queue,
//! resolution and probes (`docs/design/neigh.md` has the diagram).

use super::{Core, DropReason, Entry, NeighAction, NeighHot, NeighKey, NeighState};
use crate::wire::MacAddr;
use std::sync::Arc;

impl Core {
    /// `now + d`, at least 1 ms ahead so a tick never re-fires what it just scheduled.
    pub(super) fn after(&self, d: u64) -> u64 {
        self.now_ms.saturating_add(d.max(1))
    }

    pub(super) fn set_timer<P>(&mut self, key: NeighKey, e: &mut Entry<P>, at: Option<u64>) {
        if let Some(old) = e.deadline.take() {
            self.timers.remove(&(old, key));
        }
        if let Some(at) = at {
            self.timers.insert((at, key));
            e.deadline = Some(at);
        }
    }

    /// Give the entry `mac`; a different MAC means a new `NeighHot` and a new snapshot.
    pub(super) fn set_mac<P>(&mut self, e: &mut Entry<P>, mac: MacAddr) {
        if e.mac() != Some(mac) {
            e.hot = Some(Arc::new(NeighHot::new(mac)));
            self.dirty = true;
        }
    }

    pub(super) fn stale_deadline<P>(&self, e: &Entry<P>) -> u64 {
        let gc = e.updated_ms.saturating_add(self.params.gc_stale_ms.max(1));
        self.after(self.params.stale_poll_ms).min(gc)
    }

    /// Enter `state` now and arm its timer. Callers give usable states a MAC first.
    pub(super) fn goto<P>(&mut self, key: NeighKey, e: &mut Entry<P>, state: NeighState) {
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
    pub(super) fn enqueue<P>(&mut self, e: &mut Entry<P>, pkt: P, out: &mut Vec<NeighAction<P>>) {
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
    pub(super) fn flush<P>(
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
    pub(super) fn fail<P>(
        &mut self,
        key: NeighKey,
        e: &mut Entry<P>,
        out: &mut Vec<NeighAction<P>>,
    ) {
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
    pub(super) fn start_resolution<P>(
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
    pub(super) fn probe<P>(
        &mut self,
        key: NeighKey,
        e: &mut Entry<P>,
        out: &mut Vec<NeighAction<P>>,
    ) {
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
