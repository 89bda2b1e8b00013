//! Packet capture (`ferroute capture`): the workers copy the frames a capture wants into
//! a bounded ring each, and a control API connection drains the rings and streams the
//! copies to the client, which writes pcapng (`pcapng`) or prints a line per packet
//! (`summary`).
//!
//! ```text
//!  worker: rx burst ─┐                                   control API connection thread
//!          tx (after qdisc) ─┼─ Tap: copy ≤ snaplen ─> ring ──> drain, FR_CAPTURE_PKT ─> client
//!          drop (reason) ────┘  (full ring: counted as missed)
//! ```
//!
//! Cost while no capture runs: one load of [`Hub`]'s generation per poll round (acquire,
//! so that a new generation shows the session stored before it; a plain load on x86)
//! and one test of a local `Option` per burst, per sent packet and per drop. A capture is
//! published by storing a [`Session`] and bumping the generation; each worker attaches
//! at its next round (it makes its own ring, whose consumer the session keeps) and lets
//! go when the generation moves again. Copies are made, never mbufs handed over: the
//! datapath keeps every packet and the pool never waits for a slow client.
pub mod filter;
pub mod pcapng;
pub mod summary;
mod tap;

pub use filter::{Filter, Point, Proto};
pub use tap::Tap;

use crate::datapath::reason::Reason;
use arc_swap::ArcSwapOption;
use rtrb::{Consumer, Producer, RingBuffer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Bytes of each worker's ring: about 2,800 full-size frames, 40,000 minimal ones.
pub const RING_BYTES: usize = 4 << 20;
/// The default (and largest) bytes copied of a frame, tcpdump's default snaplen.
pub const SNAPLEN_MAX: u32 = 262_144;

/// What the control side publishes to the workers: the running capture, if any.
#[derive(Default)]
pub struct Hub {
    /// Moves at every start and stop; the workers compare it once per poll round.
    generation: AtomicU64,
    current: ArcSwapOption<Session>,
    /// Serialises start and stop on the control side (the workers never take it).
    control: Mutex<()>,
}

/// A capture already runs (one at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl Hub {
    /// The generation the workers compare with the one they saw.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Starts a capture with `filter`; `tsc_hz` turns the workers' TSC stamps into time.
    pub fn start(&self, filter: Filter, tsc_hz: u64) -> Result<Arc<Session>, Busy> {
        let _g = self.control.lock().unwrap_or_else(|e| e.into_inner());
        if self.current.load().is_some() {
            return Err(Busy);
        }
        let s = Arc::new(Session::new(filter, tsc_hz));
        self.current.store(Some(Arc::clone(&s)));
        self.generation.fetch_add(1, Ordering::Release);
        Ok(s)
    }

    /// Stops `s` (if it is the running capture) and waits up to `wait` until no worker
    /// holds it any more, so that its rings are complete. Returns false on timeout.
    pub fn stop(&self, s: &Arc<Session>, wait: Duration) -> bool {
        {
            let _g = self.control.lock().unwrap_or_else(|e| e.into_inner());
            if self
                .current
                .load()
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, s))
            {
                self.current.store(None);
                self.generation.fetch_add(1, Ordering::Release);
            }
        }
        let end = Instant::now() + wait;
        while Arc::strong_count(s) > 1 {
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// The running capture (what a worker attaches to).
    fn current(&self) -> Option<Arc<Session>> {
        self.current.load_full()
    }
}

/// One running capture: what it wants, the workers' rings, and what was missed.
pub struct Session {
    pub filter: Filter,
    rings: Mutex<Vec<Consumer<u8>>>,
    /// Copies a worker could not make because its ring was full.
    missed: AtomicU64,
    tsc_hz: u64,
    /// The wall clock and TSC at start, to date the copies.
    wall0_ns: u64,
    tsc0: u64,
}

/// A copy taken out of a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub port: u16,
    pub point: Point,
    /// Why it was dropped (`Point::Drop` only).
    pub reason: Option<Reason>,
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The frame's length; the copy may be shorter (snaplen).
    pub orig_len: u32,
}

/// The record header in a ring: cap_len u32, orig_len u32, tsc u64, port u16,
/// point u8, reason u8, 4 octets of padding; then cap_len octets.
const REC_HDR: usize = 24;

impl Session {
    fn new(filter: Filter, tsc_hz: u64) -> Session {
        let wall0_ns = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Session {
            filter,
            rings: Mutex::new(Vec::new()),
            missed: AtomicU64::new(0),
            tsc_hz: tsc_hz.max(1),
            wall0_ns,
            tsc0: crate::dpdk::rdtsc(),
        }
    }

    /// A ring for one worker (the session keeps the reading end).
    fn attach(&self) -> Producer<u8> {
        let (p, c) = RingBuffer::new(RING_BYTES);
        self.rings.lock().unwrap_or_else(|e| e.into_inner()).push(c);
        p
    }

    fn count_missed(&self) {
        self.missed.fetch_add(1, Ordering::Relaxed);
    }

    /// Copies the workers could not make (their ring was full).
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }

    fn time_of(&self, tsc: u64) -> u64 {
        // Signed: a worker's TSC read just before tsc0 was taken.
        let d = i128::from(tsc) - i128::from(self.tsc0);
        let ns = d * 1_000_000_000 / i128::from(self.tsc_hz);
        u64::try_from(i128::from(self.wall0_ns) + ns).unwrap_or(0)
    }

    /// Takes every complete record out of the rings, up to `max`, and hands each to
    /// `f` with its bytes; returns how many. Records of different workers come ring
    /// by ring (each ring in order).
    pub fn drain(&self, max: usize, f: &mut dyn FnMut(&Copied, &[u8])) -> usize {
        // Out of the lock while they are read: a worker attaching meanwhile (at the
        // capture's start) does not wait for a drain.
        let mut rings = std::mem::take(&mut *self.rings.lock().unwrap_or_else(|e| e.into_inner()));
        let mut n = 0;
        let mut buf = Vec::new();
        for c in rings.iter_mut() {
            while n < max {
                let Some((rec, tsc)) = take(c, &mut buf) else {
                    break;
                };
                let rec = Copied {
                    ts_ns: self.time_of(tsc),
                    ..rec
                };
                f(&rec, &buf);
                n += 1;
            }
        }
        self.rings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .append(&mut rings);
        n
    }
}

/// Writes one record (header, then the copy) if the ring has room for all of it.
fn put(
    ring: &mut Producer<u8>,
    port: u16,
    point: Point,
    reason: Option<Reason>,
    data: &[u8],
    orig_len: u32,
) -> bool {
    if ring.slots() < REC_HDR + data.len() {
        return false;
    }
    let mut h = [0u8; REC_HDR];
    h[0..4].copy_from_slice(&(data.len() as u32).to_le_bytes());
    h[4..8].copy_from_slice(&orig_len.to_le_bytes());
    h[8..16].copy_from_slice(&crate::dpdk::rdtsc().to_le_bytes());
    h[16..18].copy_from_slice(&port.to_le_bytes());
    h[18] = point as u8;
    h[19] = reason.map_or(u8::MAX, |r| r as u8);
    // The room was checked and only this thread writes: both pushes succeed. The reader
    // takes a record only once all of it is there.
    ring.push_entire_slice(&h).is_ok() && ring.push_entire_slice(data).is_ok()
}

/// Takes the next complete record into `buf`: its header and TSC stamp.
fn take(c: &mut Consumer<u8>, buf: &mut Vec<u8>) -> Option<(Copied, u64)> {
    let mut h = [0u8; REC_HDR];
    {
        let chunk = c.read_chunk(REC_HDR).ok()?;
        let (a, b) = chunk.as_slices();
        h[..a.len()].copy_from_slice(a);
        h[a.len()..].copy_from_slice(b);
        // Not committed: the record stays until all of it can be taken.
    }
    let le32 = |r: std::ops::Range<usize>| u32::from_le_bytes(h[r].try_into().unwrap_or([0; 4]));
    let cap = le32(0..4) as usize;
    let chunk = c.read_chunk(REC_HDR + cap).ok()?;
    let (a, b) = chunk.as_slices();
    buf.clear();
    buf.extend_from_slice(a);
    buf.extend_from_slice(b);
    buf.drain(..REC_HDR);
    chunk.commit_all();
    let tsc = u64::from_le_bytes(h[8..16].try_into().unwrap_or([0; 8]));
    let rec = Copied {
        port: u16::from_le_bytes([h[16], h[17]]),
        point: Point::from_u8(h[18]).unwrap_or(Point::Rx),
        reason: Reason::ALL.get(usize::from(h[19])).copied(),
        ts_ns: 0,
        orig_len: le32(4..8),
    };
    Some((rec, tsc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> Filter {
        Filter {
            ports: 1,
            points: Point::Rx.bit() | Point::Drop.bit(),
            snaplen: 100,
            proto: Proto::Any,
            host: None,
        }
    }

    #[test]
    fn records_come_out_as_they_went_in_and_a_full_ring_refuses_whole_records() {
        let (mut p, mut c) = RingBuffer::new(REC_HDR * 2 + 10);
        assert!(put(
            &mut p,
            3,
            Point::Drop,
            Some(Reason::Ip4BadChecksum),
            b"abcde",
            60
        ));
        // Room for a header and 5 octets is left, not for 6.
        assert!(!put(&mut p, 1, Point::Tx, None, b"123456", 6));
        assert!(put(&mut p, 1, Point::Tx, None, b"12345", 5));
        let mut buf = Vec::new();
        let (r, _) = take(&mut c, &mut buf).unwrap();
        assert_eq!(
            (r.port, r.point, r.reason, r.orig_len),
            (3, Point::Drop, Some(Reason::Ip4BadChecksum), 60)
        );
        assert_eq!(buf, b"abcde");
        let (r, _) = take(&mut c, &mut buf).unwrap();
        assert_eq!((r.port, r.point, r.reason), (1, Point::Tx, None));
        assert_eq!(buf, b"12345");
        assert!(take(&mut c, &mut buf).is_none());
        // Wrapping around the end of the ring.
        for i in 0..10u8 {
            assert!(put(&mut p, 2, Point::Rx, None, &[i; 7], 7));
            take(&mut c, &mut buf).unwrap();
            assert_eq!(buf, [i; 7]);
        }
    }

    #[test]
    fn one_capture_at_a_time_and_stop_waits_for_the_workers() {
        let hub = Hub::default();
        let g0 = hub.generation();
        let s = hub.start(filter(), 1_000_000_000).unwrap();
        assert_ne!(hub.generation(), g0);
        assert_eq!(hub.start(filter(), 1).err(), Some(Busy));
        // A worker attaches and holds the session.
        let mut tap = Tap::default();
        tap.sync(&hub);
        assert!(tap.is_on());
        tap.record(Point::Rx, 0, b"frame", 5, None);
        tap.record(Point::Tx, 0, b"not wanted", 10, None);
        tap.record(Point::Rx, 1, b"other port", 10, None);
        assert!(
            !hub.stop(&s, Duration::from_millis(5)),
            "the tap still holds it"
        );
        tap.sync(&hub);
        assert!(!tap.is_on());
        assert!(hub.stop(&s, Duration::from_millis(5)));
        let mut got = Vec::new();
        s.drain(100, &mut |r, d| got.push((r.point, r.port, d.to_vec())));
        assert_eq!(got, [(Point::Rx, 0, b"frame".to_vec())]);
        // A new capture may start.
        let s2 = hub.start(filter(), 1).unwrap();
        assert!(hub.stop(&s2, Duration::from_millis(5)));
    }

    #[test]
    fn times_follow_the_tsc_from_the_start() {
        let s = Session::new(filter(), 1_000_000_000);
        assert_eq!(
            s.time_of(s.tsc0 + 1_500_000_000),
            s.wall0_ns + 1_500_000_000
        );
        assert_eq!(s.time_of(s.tsc0 - 1000), s.wall0_ns - 1000);
    }
}
