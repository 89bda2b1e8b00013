//! The control API's socket: a Unix stream socket (owner-only, 0600, by default) whose
//! connections each get a thread that reads and decodes messages; one more thread owns
//! the API state ([`Rtnl`]) and applies what the connections hand it.
//!
//! ```text
//!  client ─ conn thread ─┐  decoded units   ┌ rtnl thread: apply, then publish_fib()
//!  client ─ conn thread ─┼────────────────> │ once per ~1 ms of requests, then reply
//!  client ─ conn thread ─┘  <── encoded ─── └─ neighbour ops ──> control thread (1 ms)
//! ```
//!
//! A slow or stuck client holds only its own thread (reads and writes time out); the
//! rtnl thread coalesces the changes of everything that arrived within [`COALESCE`]
//! (longer while a large FIB makes each build expensive: publications are spaced by at
//! least the last build time) into one FIB version, and acks them once it is published,
//! so an ack means the workers use the change.
mod capture;
mod monitor;

use super::{Env, NeighReq, NeighResp, Rtnl};
use crate::api::*;
use crate::capture::Hub;
use crate::datapath::ip4_reassembly::ReasmGauges;
use crate::datapath::worker::Shared;
use crate::datapath::{IcmpOut, PortStat, ReasmFail, Reason, SharedCounters, Tally};
use crate::dpdk::{self, Mempool};
use crate::metrics::NeighSummary;
pub use monitor::Monitor;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Changes arriving within this long of each other become one FIB version.
pub const COALESCE: Duration = Duration::from_millis(1);
/// Connections served at once; more are answered EBUSY and closed.
const MAX_CONNECTIONS: usize = 64;
/// A client that sends half a message and stalls is dropped after this long.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A client that does not read its replies is dropped after this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Jobs (reads' worth of requests) of one connection applied but not yet answered.
const MAX_JOBS_IN_FLIGHT: usize = 64;
/// Messages in one atomic batch at most.
pub const MAX_BATCH: usize = 100_000;

/// A neighbour request for the control thread and where to answer.
pub struct NeighCall {
    pub req: NeighReq,
    pub reply: SyncSender<NeighResp>,
}

/// What a connection hands the rtnl thread, in the order it arrived.
pub enum Unit {
    One(Message),
    /// A message that failed to decode: answered with its error.
    Bad(Header, ApiError),
    Batch {
        begin: Header,
        msgs: Vec<Item>,
        end: Header,
    },
}

/// A batch whose END has not arrived yet: BEGIN's header and the messages so far.
type OpenBatch = Option<(Header, Vec<Item>)>;

pub struct Job {
    pub units: Vec<Unit>,
    pub reply: Sender<Out>,
}

/// What a connection's writer thread sends back.
pub enum Out {
    /// The answers to one job (one token of the connection's jobs in flight).
    Reply(Vec<u8>),
    /// Notifications for a monitor; the count of the subscriber's queued ones.
    Event(Vec<u8>, Arc<AtomicUsize>),
    /// Nothing to send: lets the rtnl thread find connections that have closed.
    Ping,
    /// The reader is done: stop writing.
    Close,
}

/// The production [`Env`]: the control thread's neighbour table through a channel,
/// DPDK for the device, the shared counters.
pub struct RouterEnv {
    pub shared: Arc<Shared>,
    pub neigh: SyncSender<NeighCall>,
    pub counters: Vec<(u32, Arc<SharedCounters>)>,
    pub pool: Mempool,
    pub neigh_summary: Arc<NeighSummary>,
    /// Reassembly buffer sizes, published by the control thread.
    pub reasm: Arc<ReasmGauges>,
    /// Device MTU set at start, per port id: lowering below it needs no device change.
    pub dev_mtu: Vec<(u16, u16)>,
    /// The exception path's and the mirror's counters, when `[linux_cp]` is on.
    pub linux_cp: Option<Arc<crate::linuxcp::stats::LinuxCpStats>>,
}

impl Env for RouterEnv {
    fn neigh(&mut self, req: NeighReq) -> Result<NeighResp, ApiError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.neigh
            .send(NeighCall { req, reply: tx })
            .map_err(|_| ApiError::new(errno::EIO, "control thread stopped"))?;
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| ApiError::new(errno::EIO, "control thread did not answer"))
    }

    fn set_mtu(&mut self, port: u16, mtu: u16) -> Result<(), ApiError> {
        let dev = self
            .dev_mtu
            .iter()
            .find(|(p, _)| *p == port)
            .map_or(0, |(_, m)| *m);
        if mtu <= dev {
            // The device already takes frames this large; the datapath's egress check
            // uses the published MTU.
            return Ok(());
        }
        dpdk::set_mtu(port, mtu).map_err(|e| {
            ApiError::new(
                e.errno,
                format!("the device refused MTU {mtu}: {}", e.reason),
            )
        })?;
        for (p, m) in &mut self.dev_mtu {
            if *p == port {
                *m = mtu;
            }
        }
        Ok(())
    }

    fn link_running(&self, port: u16) -> bool {
        dpdk::link_up(port)
    }

    fn counters(&self) -> Counters {
        counters_of(self)
    }

    fn capture_hub(&self) -> Option<Arc<crate::capture::Hub>> {
        Some(Arc::clone(&self.shared.capture))
    }
}

/// Every counter of the running router, as `ferroute counters` lists them.
fn counters_of(e: &RouterEnv) -> Counters {
    let mut t = Tally::default();
    for (_, c) in &e.counters {
        t.add(&c.read());
    }
    let mut out = Counters {
        drops: Reason::ALL
            .iter()
            .map(|r| Counter::new(r.name(), t.drops_of(*r)))
            .collect(),
        ..Counters::default()
    };
    let ports = e.shared.ports.load();
    for p in ports.iter() {
        let st = dpdk::stats(p.id);
        let pmd = [
            ("ipackets", st.ipackets),
            ("opackets", st.opackets),
            ("ibytes", st.ibytes),
            ("obytes", st.obytes),
            ("imissed", st.imissed),
            ("ierrors", st.ierrors),
            ("oerrors", st.oerrors),
            ("rx_nombuf", st.rx_nombuf),
        ];
        out.ports.push(PortCounters {
            name: p.name.clone(),
            datapath: PortStat::ALL
                .iter()
                .map(|s| Counter::new(s.name(), t.port_stat(p.id, *s)))
                .collect(),
            pmd: pmd.iter().map(|(k, v)| Counter::new(*k, *v)).collect(),
        });
    }
    for q in e.shared.qdisc_status(&e.counters, dpdk::rdtsc()) {
        let name = ports
            .get(q.port)
            .map_or_else(|| format!("port#{}", q.port), |p| p.name.clone());
        let list = [
            ("sent_bytes", q.sent_bytes),
            ("sent_packets", q.sent_packets),
            ("dropped", q.dropped),
            ("backlog_bytes", q.backlog_bytes),
            ("backlog_packets", q.backlog_packets),
            ("tokens_bytes", q.tokens),
            ("rate_bps", q.params.rate),
            ("burst_bytes", u64::from(q.params.burst)),
            ("limit_bytes", u64::from(q.params.limit)),
        ];
        out.qdiscs.push(QdiscCounters {
            port: name,
            counters: list.iter().map(|(k, v)| Counter::new(*k, *v)).collect(),
        });
    }
    out.icmp_out = IcmpOut::ALL
        .iter()
        .map(|k| Counter::new(k.name(), t.icmp_out[*k as usize]))
        .collect();
    out.reasm_fail = ReasmFail::ALL
        .iter()
        .map(|k| Counter::new(k.name(), t.reasm_fail[*k as usize]))
        .collect();
    let fib = e.shared.fib.load();
    let n = e.neigh_summary.read();
    let router = [
        ("icmp_ratelimited", t.icmp_ratelimited),
        ("icmp_ratelimited_host", t.icmp_ratelimited_host),
        ("icmp_peers_evicted", t.icmp_peers_evicted),
        ("icmp_suppressed", t.icmp_suppressed),
        ("punted", t.punted),
        ("arp_requests", t.arp_requests),
        ("frag_packets", t.frag_packets),
        ("frag_created", t.frag_created),
        ("reasm_fragments", t.reasm_fragments),
        ("reasm_ok", t.reasm_ok),
        ("reasm_bytes", e.reasm.bytes()),
        ("reasm_datagrams", e.reasm.datagrams()),
        ("mempool_in_use", u64::from(e.pool.in_use())),
        ("mempool_size", u64::from(e.pool.size())),
        ("neigh_entries", n.by_state.iter().sum::<u64>()),
        ("neigh_held", n.held),
        ("fib_version", fib.version),
        ("fib_prefixes", fib.prefixes() as u64),
        ("fib_memory_bytes", fib.memory_bytes() as u64),
    ];
    out.router = router.iter().map(|(k, v)| Counter::new(*k, *v)).collect();
    out.linux_cp = e
        .linux_cp
        .iter()
        .flat_map(|s| s.pairs())
        .map(|(k, v)| Counter::new(k, v))
        .collect();
    out
}

/// The listening socket; removes its file when dropped.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
}

impl Server {
    /// Binds `path` (replacing a stale socket file) with owner-only permissions.
    pub fn bind(path: &Path) -> std::io::Result<Server> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            path: path.to_owned(),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The running API: stop it by setting `stop` and joining.
pub struct Running {
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Running {
    pub fn stop(self) {
        self.stop.store(true, Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Starts the accept thread and the rtnl thread.
pub fn spawn<E: Env + Send + 'static>(
    server: Server,
    mut rtnl: Rtnl,
    mut env: E,
) -> std::io::Result<Running> {
    let stop = Arc::new(AtomicBool::new(false));
    let hub = env.capture_hub();
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let s = Arc::clone(&stop);
    let rtnl_thread = std::thread::Builder::new()
        .name("ferroute-rtnl".into())
        .spawn(move || rtnl_loop(&mut rtnl, &mut env, &job_rx, &s))?;
    let s = Arc::clone(&stop);
    let accept_thread = std::thread::Builder::new()
        .name("ferroute-api".into())
        .spawn(move || accept_loop(&server, &job_tx, hub.as_ref(), &s))?;
    Ok(Running {
        threads: vec![rtnl_thread, accept_thread],
        stop,
    })
}

fn accept_loop(server: &Server, jobs: &Sender<Job>, hub: Option<&Arc<Hub>>, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Relaxed) {
        match server.listener.accept() {
            Ok((stream, _)) => {
                if active.load(Relaxed) >= MAX_CONNECTIONS {
                    refuse(stream);
                    continue;
                }
                active.fetch_add(1, Relaxed);
                let jobs = jobs.clone();
                let a = Arc::clone(&active);
                let hub = hub.cloned();
                let spawned = std::thread::Builder::new()
                    .name("ferroute-conn".into())
                    .spawn(move || {
                        connection(stream, &jobs, hub.as_ref());
                        a.fetch_sub(1, Relaxed);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Relaxed);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn refuse(mut stream: UnixStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let e = ApiError::new(errno::EBUSY, "too many control connections");
    let _ = stream.write_all(&Message::error(&Header::default(), Some(&e)).to_bytes());
}

/// Reads, decodes and groups one connection's messages and hands them to the rtnl
/// thread without waiting for its answers (a client may pipeline: a table load keeps
/// several batches in flight, which the rtnl thread then publishes together); a writer
/// thread of the connection sends the answers back in order.
fn connection(stream: UnixStream, jobs: &Sender<Job>, hub: Option<&Arc<Hub>>) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(READ_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let (reply_tx, reply_rx) = mpsc::channel::<Out>();
    // One token per job in flight: a client that sends without reading its answers is
    // held here, not queued without bound.
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(MAX_JOBS_IN_FLIGHT);
    let writer = std::thread::Builder::new()
        .name("ferroute-conn-w".into())
        .spawn(move || {
            while let Ok(o) = reply_rx.recv() {
                let bytes = match o {
                    Out::Reply(b) => {
                        let _ = token_rx.recv();
                        b
                    }
                    Out::Event(b, pending) => {
                        pending.fetch_sub(1, Relaxed);
                        b
                    }
                    Out::Ping => continue,
                    // The reader is done: write the answers still owed (one token each),
                    // then stop. A monitor's subscription (a Sender the rtnl thread
                    // keeps) ends when this thread's receiver goes.
                    Out::Close => {
                        let mut owed = 0;
                        while token_rx.try_recv().is_ok() {
                            owed += 1;
                        }
                        while owed > 0 {
                            match reply_rx.recv() {
                                Ok(Out::Reply(b)) => {
                                    owed -= 1;
                                    if out.write_all(&b).is_err() {
                                        break;
                                    }
                                }
                                Ok(_) => {}
                                Err(_) => break,
                            }
                        }
                        let _ = out.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                };
                if out.write_all(&bytes).is_err() {
                    // Unblocks the reader too.
                    let _ = out.shutdown(std::net::Shutdown::Both);
                    return;
                }
            }
        });
    let Ok(writer) = writer else {
        return;
    };
    read_loop(stream, jobs, hub, &reply_tx, &token_tx);
    let _ = reply_tx.send(Out::Close);
    drop(reply_tx);
    let _ = writer.join();
}

fn read_loop(
    mut stream: UnixStream,
    jobs: &Sender<Job>,
    hub: Option<&Arc<Hub>>,
    reply_tx: &Sender<Out>,
    tokens: &SyncSender<()>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut batch: OpenBatch = None;
    // A monitor waits for notifications and may send nothing for hours: its read
    // timeout only drops it in the middle of a message.
    let mut monitoring = false;
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e)
                if monitoring
                    && buf.is_empty()
                    && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                continue
            }
            Err(_) => return,
        };
        let eof = n == 0;
        buf.extend_from_slice(&chunk[..n]);
        let mut units = Vec::new();
        let mut at = 0;
        let mut fatal = None;
        // A capture request streams until it is stopped; the requests before it are
        // handed on first.
        let mut capture = None;
        while capture.is_none() {
            let (item, used) = match Message::decode(&buf[at..]) {
                Decoded::Incomplete => break,
                Decoded::Msg(m, used) => (Ok(m), used),
                Decoded::Bad(h, e, used) => (Err((h, e)), used),
                Decoded::Fatal(h, e) => {
                    fatal = Some((h, e));
                    break;
                }
            };
            at += used;
            monitoring |= matches!(&item, Ok(m) if m.kind == FR_MONITOR);
            match item {
                Ok(m) if m.kind == FR_CAPTURE && batch.is_none() => capture = Some(m),
                item => group(item, &mut batch, &mut units),
            }
        }
        buf.drain(..at);
        if eof && fatal.is_none() && !buf.is_empty() {
            let h = Header::parse(&buf).unwrap_or_default();
            fatal = Some((
                h,
                ApiError::inval(format!(
                    "truncated message ({} bytes at end of stream)",
                    buf.len()
                )),
            ));
        }
        if (eof || fatal.is_some()) && batch.is_some() {
            if let Some((begin, _)) = batch.take() {
                units.push(Unit::Bad(begin, ApiError::inval("batch not terminated")));
            }
        }
        // After an unusable header the next message cannot be found: answer and close.
        let closing = eof || fatal.is_some();
        if let Some((h, e)) = fatal {
            units.push(Unit::Bad(h, e));
        }
        if !units.is_empty() {
            if tokens.send(()).is_err() {
                return;
            }
            let job = Job {
                units,
                reply: reply_tx.clone(),
            };
            if jobs.send(job).is_err() {
                return;
            }
        }
        if closing {
            return;
        }
        if let Some(req) = capture {
            if !capture::serve(&mut stream, &mut buf, hub, &req, reply_tx) {
                return;
            }
        }
    }
}

/// Puts a decoded item into the current batch or the unit list.
fn group(item: Item, batch: &mut OpenBatch, units: &mut Vec<Unit>) {
    match (item, batch.as_mut()) {
        (Ok(m), None) if m.kind == FR_BATCH_BEGIN => *batch = Some((m.header(), Vec::new())),
        (Ok(m), Some(_)) if m.kind == FR_BATCH_END => {
            if let Some((begin, msgs)) = batch.take() {
                units.push(Unit::Batch {
                    begin,
                    msgs,
                    end: m.header(),
                });
            }
        }
        (item, Some((_, msgs))) => {
            if msgs.len() >= MAX_BATCH {
                if let Some((begin, _)) = batch.take() {
                    units.push(Unit::Bad(
                        begin,
                        ApiError::new(
                            errno::EMSGSIZE,
                            format!("batch longer than {MAX_BATCH} messages"),
                        ),
                    ));
                }
            } else {
                msgs.push(item);
            }
        }
        (Ok(m), None) => units.push(Unit::One(m)),
        (Err((h, e)), None) => units.push(Unit::Bad(h, e)),
    }
}

fn apply(
    rtnl: &mut Rtnl,
    env: &mut dyn Env,
    job: Job,
    pending: &mut Vec<(Sender<Out>, Vec<u8>)>,
    mon: &mut Monitor,
) {
    let mut out = Vec::new();
    for u in job.units {
        match u {
            Unit::One(m) if m.kind == FR_MONITOR => {
                let h = m.header();
                match m.body {
                    Body::Groups(g) if g != 0 && g & !RTMGRP_ALL == 0 => {
                        mon.subscribe(g, job.reply.clone());
                        if m.flags & NLM_F_ACK != 0 {
                            out.push(Message::error(&h, None));
                        }
                    }
                    _ => out.push(Message::error(
                        &h,
                        Some(&ApiError::inval(format!(
                            "monitor groups must be a nonzero subset of {RTMGRP_ALL:#x}"
                        ))),
                    )),
                }
            }
            Unit::One(m) => {
                let before = mon.before(rtnl, env, std::iter::once(&m));
                rtnl.handle(&m, env, &mut out);
                mon.after(rtnl, env, before);
            }
            Unit::Bad(h, e) => out.push(Message::error(&h, Some(&e))),
            Unit::Batch { begin, msgs, end } => {
                let before = mon.before(rtnl, env, msgs.iter().filter_map(|m| m.as_ref().ok()));
                rtnl.handle_batch(&begin, &msgs, &end, env, &mut out);
                mon.after(rtnl, env, before);
            }
        }
    }
    let mut bytes = Vec::new();
    for m in &out {
        m.encode(&mut bytes);
    }
    pending.push((job.reply, bytes));
}

/// Applies jobs as they come, publishes once per coalescing window, then answers.
pub fn rtnl_loop(rtnl: &mut Rtnl, env: &mut dyn Env, jobs: &Receiver<Job>, stop: &AtomicBool) {
    let mut last_publish = Instant::now();
    let mut pending = Vec::new();
    let mut mon = Monitor::default();
    while !stop.load(Relaxed) {
        mon.poll_neigh(rtnl, env, false);
        let job = match jobs.recv_timeout(monitor::NEIGH_POLL) {
            Ok(j) => j,
            Err(RecvTimeoutError::Timeout) => {
                mon.prune();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        apply(rtnl, env, job, &mut pending, &mut mon);
        if rtnl.dirty() {
            // Gather what else arrives within the window; while a large FIB makes builds
            // expensive, wait at least as long as the last build took.
            let end = (Instant::now() + COALESCE).max(last_publish + rtnl.last_build);
            loop {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match jobs.recv_timeout(left) {
                    Ok(j) => apply(rtnl, env, j, &mut pending, &mut mon),
                    Err(_) => break,
                }
            }
            rtnl.publish_fib();
            last_publish = Instant::now();
        }
        for (reply, bytes) in pending.drain(..) {
            let _ = reply.send(Out::Reply(bytes));
        }
    }
}

#[cfg(test)]
mod tests;
