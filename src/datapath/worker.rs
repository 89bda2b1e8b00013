//! The worker lcore: poll its RX queues, run each burst through [`pipeline::receive`],
//! buffer TX, flush on the drain timer. Run to completion; no locks, syscalls or
//! allocation per packet. The FIB, neighbour and ports snapshots are taken once per poll
//! round through arc-swap caches (one atomic load each when nothing changed; the round
//! is the worker's quiescent point). Egress qdiscs are serviced every round, with or
//! without RX, and an idle worker never sleeps past the time a waiting packet may leave.
//! Counters are folded into the shared copy every few drain ticks, not per round.
use super::egress::{Egress, Injected};
use super::pipeline::{self, HopCarry, View};
use super::punt::SlowPath;
use super::qdisc::{QdiscError, QdiscStatus, Qdiscs, TbfParams};
use super::{Ports, SharedCounters, MAX_BURST};
use crate::capture::Hub;
use crate::dpdk::{rdtsc, MbufBurst, RxQueue};
use crate::fib::Fib;
use crate::neigh::NeighSnapshot;
use arc_swap::{ArcSwap, Cache};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

/// State the control side publishes and the workers read.
pub struct Shared {
    pub fib: ArcSwap<Fib>,
    pub neigh: ArcSwap<NeighSnapshot>,
    /// Ports' addresses, MTU and admin state, republished by the control API.
    pub ports: ArcSwap<Ports>,
    /// Egress qdiscs by port; workers apply changes at their next poll round.
    pub qdisc: Qdiscs,
    pub stop: AtomicBool,
    /// The running packet capture, if any (`ferroute capture`).
    pub capture: Arc<Hub>,
}

impl Shared {
    /// Sets (replaces) or, with `None`, deletes the egress qdisc of DPDK port `port`:
    /// what `ferroute qdisc add|replace|del` does (rtnl). Safe to call while the
    /// workers run; waiting packets are carried over or sent, never leaked.
    /// The caller (the control API) checks that the port exists: at startup the config
    /// is applied before the first ports view is published.
    pub fn set_qdisc(&self, port: u16, params: Option<TbfParams>) -> Result<(), QdiscError> {
        self.qdisc.set(port, params)
    }

    /// Every port's qdisc with its counters and gauges, `counters` being every lcore's
    /// (`now` in TSC cycles, for the tokens).
    pub fn qdisc_status(
        &self,
        counters: &[(u32, Arc<SharedCounters>)],
        now: u64,
    ) -> Vec<QdiscStatus> {
        self.qdisc.status(counters.iter().map(|(_, c)| &**c), now)
    }
}

/// Timing knobs of the loop, in TSC cycles where it matters.
#[derive(Debug, Clone)]
pub struct LoopParams {
    pub burst: usize,
    pub drain_cycles: u64,
    pub idle_sleep: Option<Duration>,
    /// TSC frequency, to turn a qdisc's next departure time into a sleep bound.
    pub tsc_hz: u64,
}

/// Empty poll rounds before an idle worker sleeps (when idle_sleep is set).
const IDLE_ROUNDS_BEFORE_SLEEP: u32 = 100;

/// Drain-timer ticks between two folds of the tally into the shared counters: readers
/// see counters at most this many drain intervals (1 ms at the default 100 us) old,
/// and folding ~220 fields costs the fast path nothing measurable.
const COUNTER_FOLD_TICKS: u32 = 10;

pub struct Worker {
    pub lcore: u32,
    pub rxqs: Vec<RxQueue>,
    pub egress: Egress,
    pub shared: Arc<Shared>,
    pub counters: Arc<SharedCounters>,
    /// Queues to the control thread (ARP, resolution, fragments for reassembly).
    pub slow: SlowPath,
    /// Packets the control thread asks this worker to send (ARP, held packets).
    pub inject: Option<Receiver<Injected>>,
    pub params: LoopParams,
}

/// How long an idle worker may sleep: `idle` at most, and not past `next_due`, the TSC
/// time a packet waiting in a qdisc may leave.
fn sleep_bound(idle: Duration, now: u64, next_due: Option<u64>, tsc_hz: u64) -> Duration {
    let Some(due) = next_due else {
        return idle;
    };
    let cycles = due.saturating_sub(now);
    let ns = u128::from(cycles) * 1_000_000_000 / u128::from(tsc_hz.max(1));
    idle.min(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
}

impl Worker {
    /// The lcore loop; returns when `shared.stop` is set.
    pub fn run(mut self) -> i32 {
        // A handle of our own, so the caches and views can borrow it while `self` is
        // mutated.
        let shared = Arc::clone(&self.shared);
        let mut fib: Cache<&ArcSwap<Fib>, Arc<Fib>> = Cache::new(&shared.fib);
        let mut neigh: Cache<&ArcSwap<NeighSnapshot>, Arc<NeighSnapshot>> =
            Cache::new(&shared.neigh);
        let mut ports: Cache<&ArcSwap<Ports>, Arc<Ports>> = Cache::new(&shared.ports);
        let mut rx = MbufBurst::new();
        let burst = self.params.burst;
        let mut last_drain = rdtsc();
        let mut round_start = last_drain;
        let mut idle_rounds = 0u32;
        let mut ticks = 0u32;
        let mut carry = HopCarry::default();
        while !shared.stop.load(Relaxed) {
            let mut v = View::new(fib.load(), neigh.load(), ports.load());
            v.resume(&carry);
            self.egress.sync_qdiscs(&shared.qdisc);
            self.egress.sync_capture(&shared.capture);
            let mut received = 0;
            let mut saturated = false;
            for q in &mut self.rxqs {
                if rx.rx(q, burst) > 0 {
                    received += rx.len();
                    saturated |= rx.len() >= burst;
                    self.egress.capture_rx(q.port, &rx);
                    pipeline::receive(&mut self.egress, &mut self.slow, q.port, &mut rx, &mut v);
                }
            }
            v.keep(&mut carry);
            let now = rdtsc();
            let drain_due = now.wrapping_sub(last_drain) >= self.params.drain_cycles;
            // The control thread's packets: every round in which no RX queue gave a full
            // burst, and at each drain tick, so a flood delays them one drain interval at
            // most (polling their channel every round took 2.6 % of a saturated worker).
            let mut work = received;
            if !saturated || drain_due {
                work += self.send_injected();
            }
            // Backlogged qdiscs are serviced every round, also when nothing arrived.
            let (dequeued, next_due) = self.egress.service_qdiscs(now);
            work += dequeued;
            let round = now.wrapping_sub(round_start);
            round_start = now;
            if drain_due {
                self.egress.flush();
                last_drain = now;
                ticks += 1;
                if ticks >= COUNTER_FOLD_TICKS {
                    ticks = 0;
                    self.flush_counters();
                }
            } else if received > 0 && received < burst {
                // Light load: send now rather than at the drain timer (latency); under
                // load the TX buffers fill and go out by themselves in full bursts.
                self.egress.flush();
            }
            if work > 0 {
                self.egress.tally.busy_cycles += round;
                idle_rounds = 0;
            } else {
                self.egress.tally.idle_cycles += round;
                idle_rounds += 1;
                if let Some(d) = self.params.idle_sleep {
                    if idle_rounds >= IDLE_ROUNDS_BEFORE_SLEEP {
                        let d = sleep_bound(d, now, next_due, self.params.tsc_hz);
                        self.egress.flush();
                        self.flush_counters();
                        if !d.is_zero() {
                            std::thread::sleep(d);
                        }
                    }
                }
            }
        }
        self.egress.flush();
        self.flush_counters();
        0
    }

    /// Folds the tally into the shared counters and publishes the qdisc gauges.
    fn flush_counters(&mut self) {
        self.counters.flush(&mut self.egress.tally);
        self.egress.publish_qdisc_gauges(&self.counters);
    }

    /// Sends what the control thread queued for this worker (at most one burst).
    fn send_injected(&mut self) -> usize {
        let Some(q) = &self.inject else {
            return 0;
        };
        let mut n = 0;
        while n < MAX_BURST {
            let Ok(i) = q.try_recv() else {
                break;
            };
            self.egress.transmit(i.pkt, i.port);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_sleep_never_passes_the_next_departure() {
        let hz = 2_000_000_000;
        let idle = Duration::from_micros(20);
        assert_eq!(sleep_bound(idle, 1000, None, hz), idle);
        // A packet may leave in 5 us (10,000 cycles at 2 GHz): sleep 5 us at most.
        assert_eq!(
            sleep_bound(idle, 1000, Some(11_000), hz),
            Duration::from_micros(5)
        );
        assert_eq!(sleep_bound(idle, 1000, Some(10_000_000), hz), idle);
        // Due now or overdue: no sleep at all.
        assert_eq!(sleep_bound(idle, 1000, Some(1000), hz), Duration::ZERO);
        assert_eq!(sleep_bound(idle, 1000, Some(3), hz), Duration::ZERO);
    }
}
