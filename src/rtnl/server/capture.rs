//! A packet capture on one API connection (`ferroute capture`): the connection's own
//! thread starts the capture ([`Hub::start`]), then every [`TICK`] drains the workers'
//! rings into FR_CAPTURE_PKT messages for the connection's writer, and watches the
//! socket for FR_CAPTURE_STOP. It stops the capture when the client asks, closes the
//! connection or dies, or when the writer cannot write (the client stalled past the
//! write timeout): the workers let go at their next poll round either way.
//!
//! A client that reads slower than packets come gets at most [`MAX_QUEUED`] ticks'
//! worth queued; what comes meanwhile is counted as missed, as a full worker ring is,
//! and both are reported in FR_CAPTURE_END.
use super::{Out, READ_TIMEOUT};
use crate::api::*;
use crate::capture::{Copied, Filter, Hub, Point, Proto, Session, SNAPLEN_MAX};
use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

/// How often the rings are drained (and the socket looked at).
pub const TICK: Duration = Duration::from_millis(10);
/// Messages queued for the writer at most; beyond it packets are missed.
pub const MAX_QUEUED: usize = 256;
/// Packets taken out of the rings per tick at most (the rest waits in the rings).
const PER_TICK: usize = 8192;
/// How long a stop waits for the workers to let go of the capture's rings.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Checks a request and turns it into the workers' filter.
pub fn filter(c: &CaptureReq) -> Result<Filter, ApiError> {
    if c.ports == 0 {
        return Err(ApiError::inval("capture: no port given"));
    }
    let all = Point::ALL.iter().fold(0, |m, p| m | p.bit());
    if c.points == 0 || c.points & !all != 0 {
        return Err(ApiError::inval(format!(
            "capture: points {:#x} must be a nonzero subset of {all:#x}",
            c.points
        )));
    }
    let proto = Proto::from_u8(c.proto)
        .ok_or_else(|| ApiError::inval(format!("capture: unknown protocol {}", c.proto)))?;
    if c.snaplen > SNAPLEN_MAX {
        return Err(ApiError::inval(format!(
            "capture: snaplen {} above {SNAPLEN_MAX}",
            c.snaplen
        )));
    }
    Ok(Filter {
        ports: c.ports,
        points: c.points,
        snaplen: if c.snaplen == 0 {
            SNAPLEN_MAX
        } else {
            c.snaplen
        },
        proto,
        host: c.host,
    })
}

/// What the writer has been handed.
struct Sink<'a> {
    out: &'a Sender<Out>,
    queued: Arc<AtomicUsize>,
    captured: u64,
    /// Packets not sent because the writer was too far behind.
    slow: u64,
}

impl Sink<'_> {
    /// Hands `bytes` to the writer; false if it is gone.
    fn send(&mut self, bytes: Vec<u8>) -> bool {
        self.queued.fetch_add(1, Relaxed);
        self.out
            .send(Out::Event(bytes, Arc::clone(&self.queued)))
            .is_ok()
    }

    /// Drains the rings (up to `max` packets) into one write, in time order (the
    /// rings are read one after the other); false if the writer is gone.
    fn drain(&mut self, s: &Session, max: usize) -> bool {
        let behind = self.queued.load(Relaxed) >= MAX_QUEUED;
        let mut pkts = Vec::new();
        let mut n = 0u64;
        s.drain(max, &mut |r: &Copied, data: &[u8]| {
            n += 1;
            if behind {
                return;
            }
            pkts.push(CapturePkt {
                ifindex: u32::from(r.port) + 1,
                point: r.point as u8,
                ts_ns: r.ts_ns,
                orig_len: r.orig_len,
                data: data.to_vec(),
                reason: r.reason.map(|r| r.name().to_string()),
            });
        });
        if behind {
            self.slow += n;
            return true;
        }
        self.captured += n;
        if pkts.is_empty() {
            return true;
        }
        // Stable: a worker's copies keep their order when their stamps are equal.
        pkts.sort_by_key(|p| p.ts_ns);
        let mut bytes = Vec::new();
        for p in pkts {
            Message::new(FR_CAPTURE_PKT, 0, 0, Body::CapturePkt(p)).encode(&mut bytes);
        }
        self.send(bytes)
    }
}

/// Serves the capture `req` asked for on this connection, until it ends. `buf` holds
/// what was read after the request. Returns false when the connection is over (the
/// client closed it or the writer failed), true when the client stopped the capture
/// and may send more requests.
pub fn serve(
    stream: &mut UnixStream,
    buf: &mut Vec<u8>,
    hub: Option<&Arc<Hub>>,
    req: &Message,
    out: &Sender<Out>,
) -> bool {
    let h = req.header();
    let mut sink = Sink {
        out,
        queued: Arc::new(AtomicUsize::new(0)),
        captured: 0,
        slow: 0,
    };
    let Some(hub) = hub else {
        let e = ApiError::new(errno::EOPNOTSUPP, "capture: this router has no datapath");
        return sink.send(Message::error(&h, Some(&e)).to_bytes());
    };
    let started = match &req.body {
        Body::CaptureReq(c) => filter(c).and_then(|f| {
            hub.start(f, crate::dpdk::tsc_hz())
                .map_err(|_| ApiError::new(errno::EBUSY, "capture: another capture is running"))
        }),
        _ => Err(ApiError::inval("capture: no capture request")),
    };
    let session = match started {
        Ok(s) => s,
        Err(e) => return sink.send(Message::error(&h, Some(&e)).to_bytes()),
    };
    if !sink.send(Message::error(&h, None).to_bytes()) {
        hub.stop(&session, STOP_WAIT);
        return false;
    }
    let (alive, stop_seq) = watch(stream, buf, &session, &mut sink);
    hub.stop(&session, STOP_WAIT);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    if !alive {
        return false;
    }
    // The workers have let go: what is in the rings is all there is.
    if !sink.drain(&session, usize::MAX) {
        return false;
    }
    let end = CaptureEnd {
        captured: sink.captured,
        missed: session.missed() + sink.slow,
    };
    sink.send(Message::new(FR_CAPTURE_END, 0, stop_seq, Body::CaptureEnd(end)).to_bytes())
}

/// Drains the rings every tick until the client sends FR_CAPTURE_STOP (returns true
/// and its seq) or the connection ends (false).
fn watch(
    stream: &mut UnixStream,
    buf: &mut Vec<u8>,
    session: &Session,
    sink: &mut Sink,
) -> (bool, u32) {
    if stream.set_read_timeout(Some(TICK)).is_err() {
        return (false, 0);
    }
    let mut chunk = [0u8; 4096];
    loop {
        // Requests already read come first.
        loop {
            match Message::decode(buf) {
                Decoded::Msg(m, used) => {
                    buf.drain(..used);
                    if m.kind == FR_CAPTURE_STOP {
                        return (true, m.seq);
                    }
                    let e = ApiError::new(
                        errno::EBUSY,
                        "a capture is running on this connection: only FR_CAPTURE_STOP",
                    );
                    if !sink.send(Message::error(&m.header(), Some(&e)).to_bytes()) {
                        return (false, 0);
                    }
                }
                Decoded::Bad(h, e, used) => {
                    buf.drain(..used);
                    if !sink.send(Message::error(&h, Some(&e)).to_bytes()) {
                        return (false, 0);
                    }
                }
                Decoded::Fatal(..) => return (false, 0),
                Decoded::Incomplete => break,
            }
        }
        if !sink.drain(session, PER_TICK) {
            return (false, 0);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return (false, 0),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return (false, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> CaptureReq {
        CaptureReq {
            ports: 1,
            points: Point::Rx.bit(),
            proto: 0,
            snaplen: 0,
            host: None,
        }
    }

    #[test]
    fn requests_are_checked() {
        let f = filter(&req()).unwrap();
        assert_eq!(f.snaplen, SNAPLEN_MAX);
        assert_eq!(f.proto, Proto::Any);
        for bad in [
            CaptureReq { ports: 0, ..req() },
            CaptureReq { points: 0, ..req() },
            CaptureReq {
                points: 0x10,
                ..req()
            },
            CaptureReq { proto: 99, ..req() },
            CaptureReq {
                snaplen: SNAPLEN_MAX + 1,
                ..req()
            },
        ] {
            assert_eq!(filter(&bad).unwrap_err().errno, errno::EINVAL, "{bad:?}");
        }
    }

    #[test]
    fn copies_of_two_workers_go_out_in_time_order_and_a_lagging_writer_loses_them_counted() {
        let hub = Hub::default();
        let session = hub.start(filter(&req()).unwrap(), 1_000_000_000).unwrap();
        let (mut a, mut b) = (
            crate::capture::Tap::default(),
            crate::capture::Tap::default(),
        );
        a.sync(&hub);
        b.sync(&hub);
        // Interleaved in time, but read ring after ring.
        a.record(Point::Rx, 0, b"a1", 2, None);
        b.record(Point::Rx, 0, b"b1", 2, None);
        a.record(Point::Rx, 0, b"a2", 2, None);
        b.record(Point::Rx, 0, b"b2", 2, None);
        let (tx, rx) = std::sync::mpsc::channel();
        let mut sink = Sink {
            out: &tx,
            queued: Arc::new(AtomicUsize::new(0)),
            captured: 0,
            slow: 0,
        };
        assert!(sink.drain(&session, usize::MAX));
        let Ok(Out::Event(bytes, _)) = rx.try_recv() else {
            panic!("one write expected");
        };
        let mut got = Vec::new();
        let mut at = 0;
        while let Decoded::Msg(m, n) = Message::decode(&bytes[at..]) {
            at += n;
            if let Body::CapturePkt(p) = m.body {
                got.push((p.ts_ns, p.data));
            }
        }
        let frames: Vec<&[u8]> = got.iter().map(|(_, d)| d.as_slice()).collect();
        assert_eq!(frames, [b"a1", b"b1", b"a2", b"b2"]);
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(sink.captured, 4);
        // A writer MAX_QUEUED writes behind: the copies are taken and counted as missed.
        sink.queued.store(MAX_QUEUED, Relaxed);
        a.record(Point::Rx, 0, b"a3", 2, None);
        assert!(sink.drain(&session, usize::MAX));
        assert!(rx.try_recv().is_err());
        assert_eq!((sink.captured, sink.slow), (4, 1));
        // The workers let go at their next round; then the stop completes.
        assert!(!hub.stop(&session, Duration::ZERO));
        a.sync(&hub);
        b.sync(&hub);
        assert!(hub.stop(&session, STOP_WAIT));
    }
}
