//! A worker's side of a capture: attached to the running [`Session`] (if any), it copies
//! the frames the filter wants into the worker's ring.
use super::{put, Filter, Hub, Point, Session};
use crate::datapath::reason::Reason;
use rtrb::Producer;
use std::sync::Arc;

/// One per `Egress`; off (and nothing but a test of `on`) until a capture starts.
#[derive(Default)]
pub struct Tap {
    /// The hub's generation last seen.
    seen: u64,
    on: Option<Attached>,
}

struct Attached {
    filter: Filter,
    ring: Producer<u8>,
    /// Held while attached: `Hub::stop` waits until every worker let go.
    session: Arc<Session>,
}

impl Tap {
    /// Follows the hub: attaches to a capture that started, lets go of one that stopped.
    /// One atomic load when nothing changed (once per poll round).
    #[inline]
    pub fn sync(&mut self, hub: &Hub) {
        let g = hub.generation();
        if g != self.seen {
            self.resync(hub, g);
        }
    }

    #[cold]
    #[inline(never)]
    fn resync(&mut self, hub: &Hub, g: u64) {
        self.seen = g;
        self.on = hub.current().map(|session| Attached {
            filter: session.filter,
            ring: session.attach(),
            session,
        });
    }

    /// Is a capture running (the one test the datapath pays when none is)?
    #[inline(always)]
    pub fn is_on(&self) -> bool {
        self.on.is_some()
    }

    /// Does the capture want `point` on `port` at all (before looking at the bytes)?
    #[inline]
    pub fn wants(&self, point: Point, port: u16) -> bool {
        self.on
            .as_ref()
            .is_some_and(|a| a.filter.wants(point, port))
    }

    /// Copies `data` (the first segment of a frame of `orig_len` octets) if the capture
    /// wants it; a full ring counts it as missed.
    #[inline(never)]
    pub fn record(
        &mut self,
        point: Point,
        port: u16,
        data: &[u8],
        orig_len: u32,
        reason: Option<Reason>,
    ) {
        let Some(a) = &mut self.on else {
            return;
        };
        if !a.filter.wants(point, port) || !a.filter.matches(data) {
            return;
        }
        let cap = &data[..data.len().min(a.filter.snaplen as usize)];
        if !put(&mut a.ring, port, point, reason, cap, orig_len) {
            a.session.count_missed();
        }
    }
}
