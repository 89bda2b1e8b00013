//! `[[worker]]`: lcores and the RX queues each polls.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::eal_cores::EalCores;
use super::{Builder, ConfigError, DatapathConfig, Int, PortConfig, MAX_RX_QUEUES};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    pub lcore: u32,
    /// At least one; each (port, queue) is polled by exactly one worker.
    pub rx: Vec<RxQueueRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RxQueueRef {
    /// Index into [`super::Config::ports`].
    pub port: usize,
    pub queue: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorker {
    pub(super) lcore: Option<Int>,
    pub(super) rx: Option<Vec<String>>,
}

impl Builder<'_> {
    pub(super) fn workers(
        &self,
        raw: Vec<RawWorker>,
        ports: &[PortConfig],
        cores: Option<&EalCores>,
    ) -> Result<Vec<WorkerConfig>, ConfigError> {
        if raw.is_empty() {
            return Err(self.err("worker", "at least one [[worker]] is required"));
        }
        let mut workers: Vec<WorkerConfig> = Vec::with_capacity(raw.len());
        // (port, queue) -> polling worker
        let mut polled: BTreeMap<RxQueueRef, usize> = BTreeMap::new();
        for (i, w) in raw.into_iter().enumerate() {
            let lcore_key = format!("worker[{i}].lcore");
            let lcore: u32 = self.int(
                &lcore_key,
                Some(self.required(&lcore_key, w.lcore)?),
                0,
                0,
                u32::MAX.into(),
            )?;
            if let Some(j) = workers.iter().position(|w| w.lcore == lcore) {
                return Err(self.err(
                    lcore_key,
                    format!("lcore {lcore} is already used by worker[{j}]"),
                ));
            }
            if let Some(c) = cores {
                if lcore == c.main {
                    return Err(self.err(
                        lcore_key,
                        format!(
                            "lcore {lcore} is the EAL main lcore (eal.args \"{}\"); \
                             workers must run on the other lcores",
                            c.option_text
                        ),
                    ));
                }
                if !c.cores.contains(&lcore) {
                    return Err(self.err(
                        lcore_key,
                        format!(
                            "lcore {lcore} is not in the EAL core list (eal.args \"{}\")",
                            c.option_text
                        ),
                    ));
                }
            }

            let rx_key = format!("worker[{i}].rx");
            let rx_text = self.required(&rx_key, w.rx)?;
            if rx_text.is_empty() {
                return Err(self.err(rx_key, "must list at least one \"port:queue\""));
            }
            let mut rx = Vec::with_capacity(rx_text.len());
            for (k, entry) in rx_text.iter().enumerate() {
                let key = format!("{rx_key}[{k}]");
                let Some((name, queue)) = entry.rsplit_once(':') else {
                    return Err(self.err(
                        key,
                        format!("{entry:?} is not of the form port-name:queue (e.g. \"port0:0\")"),
                    ));
                };
                let port = self.port_index(&key, ports, name.trim())?;
                let queue: u16 = queue
                    .trim()
                    .parse()
                    .ok()
                    .filter(|q| *q < MAX_RX_QUEUES)
                    .ok_or_else(|| {
                        self.err(
                            &key,
                            format!(
                                "{entry:?}: queue {queue:?} must be a number 0..={}",
                                MAX_RX_QUEUES - 1
                            ),
                        )
                    })?;
                let r = RxQueueRef { port, queue };
                if let Some(&j) = polled.get(&r) {
                    let by = if j == i {
                        "this worker".to_string()
                    } else {
                        format!("worker[{j}]")
                    };
                    return Err(self.err(
                        key,
                        format!("{}:{queue} is already polled by {by}", ports[port].name),
                    ));
                }
                polled.insert(r, i);
                rx.push(r);
            }
            workers.push(WorkerConfig { lcore, rx });
        }

        for (p, port) in ports.iter().enumerate() {
            let queues: Vec<u16> = polled
                .keys()
                .filter(|r| r.port == p)
                .map(|r| r.queue)
                .collect();
            if queues.is_empty() {
                return Err(self.err(
                    format!("port[{p}]"),
                    "no worker polls this port's RX queues",
                ));
            }
            // `queues` is sorted (BTreeMap order); contiguous from 0 iff queues[n] == n.
            if let Some(missing) = (0u16..)
                .zip(&queues)
                .find(|(n, q)| *n != **q)
                .map(|(n, _)| n)
            {
                return Err(self.err(
                    format!("port[{p}]"),
                    format!(
                        "RX queue {missing} of {:?} is polled by no worker although queue {} is; \
                         a port's queues must be numbered contiguously from 0",
                        port.name,
                        queues[queues.len() - 1]
                    ),
                ));
            }
        }
        Ok(workers)
    }

    /// Every RX queue's ring is filled with mbufs when its port starts (net_tap: one per
    /// descriptor, up to 1023), so more workers mean more of the pool held by the rings.
    /// Refuses a pool the rings would take (nearly) whole: it must leave at least one
    /// burst per RX queue for packets on their way through.
    pub(super) fn check_rx_rings(
        &self,
        d: &DatapathConfig,
        workers: &[WorkerConfig],
    ) -> Result<(), ConfigError> {
        let queues: u64 = workers.iter().map(|w| w.rx.len() as u64).sum();
        let rings = queues * u64::from(d.rx_desc);
        let need = rings + queues * d.burst as u64;
        if u64::from(d.mbufs) < need {
            return Err(self.err(
                "datapath.mbufs",
                format!(
                    "{} mbufs are too few for {queues} RX queues of {} descriptors \
                     (datapath.rx_desc), which take {rings} mbufs when the ports start, \
                     plus a burst of {} per queue: at least {need}; raise mbufs or \
                     lower rx_desc",
                    d.mbufs, d.rx_desc, d.burst
                ),
            ));
        }
        Ok(())
    }
}
