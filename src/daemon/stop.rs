//! Tear-down in one place: [`StopGuard`] holds what start-up has started so far, and
//! stops it in reverse order, either through [`StopGuard::stop`] once the control thread
//! returns or through `Drop` on any error path. The order matters: the linux_cp follower
//! is an API client (joined before the API stops); the metrics thread and the workers read
//! the ports (stopped before the ports close); the EAL is cleaned up last.
use crate::datapath::worker::Shared;
use crate::dpdk::{self, Eal};
use crate::metrics::http::Serving;
use crate::rtnl::server;
use crate::slowpath::SlowPathThread;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;

/// What is running; dropping it (or [`StopGuard::stop`]) stops workers, joins threads,
/// stops and closes ports and cleans up the EAL. The API thread's socket file goes with
/// the API's server.
pub struct StopGuard {
    /// Set once the shared state exists: its `stop` flag ends workers and follower.
    shared: Option<Arc<Shared>>,
    /// Whether any worker was launched on its lcore.
    workers: bool,
    follower: Option<JoinHandle<()>>,
    api: Option<server::Running>,
    metrics: Option<Serving>,
    /// DPDK ids of the ports started, closed after the workers stop.
    ports: Vec<u16>,
    /// Dropped last (`rte_eal_cleanup`), after `Drop::drop` has run.
    _eal: Eal,
}

impl StopGuard {
    /// A guard over a freshly initialised EAL; nothing else runs yet.
    pub fn new(eal: Eal) -> StopGuard {
        StopGuard {
            shared: None,
            workers: false,
            follower: None,
            api: None,
            metrics: None,
            ports: Vec::new(),
            _eal: eal,
        }
    }

    /// Port `id` has started.
    pub fn port_started(&mut self, id: u16) {
        self.ports.push(id);
    }

    /// The state whose `stop` flag the workers and the follower watch.
    pub fn shared(&mut self, shared: &Arc<Shared>) {
        self.shared = Some(Arc::clone(shared));
    }

    /// Called before a worker's launch (a launch that fails leaves nothing to wait for;
    /// waiting on no lcore returns at once).
    pub fn worker_launching(&mut self) {
        self.workers = true;
    }

    /// The control API runs.
    pub fn api(&mut self, api: server::Running) {
        self.api = Some(api);
    }

    /// The linux_cp follower runs.
    pub fn follower(&mut self, h: JoinHandle<()>) {
        self.follower = Some(h);
    }

    /// The metrics thread serves.
    pub fn metrics(&mut self, s: Serving) {
        self.metrics = Some(s);
    }

    /// The normal stop, after the control thread has returned (it has set the stop
    /// flag): as `Drop`, with the log lines of a shutdown. What the control thread owns
    /// (held packets, the twins' TAPs) goes once the other threads have stopped and
    /// before the ports close.
    pub fn stop(mut self, control: SlowPathThread) {
        self.halt_threads(true);
        drop(control);
        self.close_ports();
    }

    /// Sets the stop flag and joins, in order: follower, API, metrics, workers.
    fn halt_threads(&mut self, log: bool) {
        if let Some(s) = &self.shared {
            s.stop.store(true, Relaxed);
        }
        // Before the API stops: the mirror is one of its clients.
        if let Some(h) = self.follower.take() {
            let _ = h.join();
        }
        if let Some(api) = self.api.take() {
            api.stop();
        }
        // Before the ports close: the metrics thread reads their stats.
        if let Some(s) = self.metrics.take() {
            s.stop();
        }
        if log {
            log::info!("stopping: waiting for workers");
        }
        if std::mem::take(&mut self.workers) {
            dpdk::wait_lcores();
        }
        if log {
            log::info!("stopped");
        }
    }

    fn close_ports(&mut self) {
        for id in self.ports.drain(..) {
            dpdk::stop_and_close(id);
        }
    }
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.halt_threads(false);
        self.close_ports();
    }
}
