//! `ferroute stats`: a live per-port rate view in the manner of testpmd's port
//! statistics, from two readings of the control API's counters (`api::Counters`) a
//! second apart.
//! Rates are PMD counters (what the NIC moved); forwarded and dropped are the
//! datapath's own counts; below them, every drop reason that is not zero.
use crate::api::Counters;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// One reading of `counters`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Port names in the order the router lists them.
    pub ports: Vec<String>,
    /// ("port0", "ipackets") -> n for PMD counters, ("port0", "forwarded") -> n for the
    /// datapath's.
    pub port: BTreeMap<(String, String), u64>,
    /// Drop reason -> count.
    pub drops: BTreeMap<String, u64>,
}

impl Sample {
    /// The sample of one reading: PMD and datapath counters per port, and the drops.
    pub fn of(c: &Counters) -> Sample {
        let mut s = Sample::default();
        for p in &c.ports {
            s.ports.push(p.name.clone());
            for k in p.datapath.iter().chain(&p.pmd) {
                s.port.insert((p.name.clone(), k.name.clone()), k.value);
            }
        }
        s.drops = c.drops.iter().map(|k| (k.name.clone(), k.value)).collect();
        s
    }

    fn get(&self, port: &str, key: &str) -> u64 {
        self.port
            .get(&(port.to_string(), key.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

/// Per-second rate of a counter between two readings (0 if it went backwards, as
/// after a router restart).
fn rate(before: u64, after: u64, dt: Duration) -> u64 {
    let secs = dt.as_secs_f64();
    if secs <= 0.0 {
        return 0;
    }
    (after.saturating_sub(before) as f64 / secs).round() as u64
}

/// The view for readings `a` then `b`, `dt` apart.
pub fn render(a: &Sample, b: &Sample, dt: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:>10} {:>10} {:>12} {:>12} {:>10} {:>10} {:>14} {:>14} {:>10} {:>10}",
        "port",
        "Rx-pps",
        "Tx-pps",
        "Rx-bytes/s",
        "Tx-bytes/s",
        "Fwd-pps",
        "Drop-pps",
        "Rx-packets",
        "Tx-packets",
        "Rx-missed",
        "Rx-nombuf"
    );
    for p in &b.ports {
        let r = |k: &str| rate(a.get(p, k), b.get(p, k), dt);
        let _ = writeln!(
            out,
            "{:<12} {:>10} {:>10} {:>12} {:>12} {:>10} {:>10} {:>14} {:>14} {:>10} {:>10}",
            p,
            r("ipackets"),
            r("opackets"),
            r("ibytes"),
            r("obytes"),
            r("forwarded"),
            r("dropped"),
            b.get(p, "ipackets"),
            b.get(p, "opackets"),
            b.get(p, "imissed"),
            b.get(p, "rx_nombuf"),
        );
    }
    let nonzero: Vec<(&String, &u64)> = b.drops.iter().filter(|(_, v)| **v > 0).collect();
    out.push('\n');
    if nonzero.is_empty() {
        out.push_str("drops: none\n");
    } else {
        let _ = writeln!(out, "{:<28} {:>14} {:>10}", "drop reason", "total", "per s");
        for (reason, v) in nonzero {
            let before = a.drops.get(reason).copied().unwrap_or(0);
            let _ = writeln!(out, "{:<28} {:>14} {:>10}", reason, v, rate(before, *v, dt));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::api::{Counter, PortCounters};

    fn list(l: &[(&str, u64)]) -> Vec<Counter> {
        l.iter().map(|(k, v)| Counter::new(*k, *v)).collect()
    }

    /// One reading: the drops, then port0's datapath and PMD counters, and wan1's one.
    fn reading(drops: [u64; 3], fwd: u64, dropped: u64, pmd: [u64; 6]) -> Counters {
        let [ip, op, ib, ob, missed, nombuf] = pmd;
        Counters {
            drops: list(&[
                ("ip4_no_route", drops[0]),
                ("ip4_bad_checksum", drops[1]),
                ("tx_queue_full", drops[2]),
            ]),
            ports: vec![
                PortCounters {
                    name: "port0".into(),
                    datapath: list(&[("forwarded", fwd), ("dropped", dropped)]),
                    pmd: list(&[
                        ("ipackets", ip),
                        ("opackets", op),
                        ("ibytes", ib),
                        ("obytes", ob),
                        ("imissed", missed),
                        ("rx_nombuf", nombuf),
                    ]),
                },
                PortCounters {
                    name: "wan1".into(),
                    datapath: Vec::new(),
                    pmd: list(&[("ipackets", 7)]),
                },
            ],
            icmp_out: list(&[("echo_reply", 3)]),
            router: list(&[("mempool_in_use", 12)]),
            ..Counters::default()
        }
    }

    fn first() -> Counters {
        reading([2, 0, 0], 10, 2, [100, 50, 10000, 5000, 0, 0])
    }

    fn second() -> Counters {
        reading([6, 1, 0], 510, 6, [1100, 550, 110000, 55000, 3, 0])
    }

    #[test]
    fn parses_the_counters_reply() {
        let s = Sample::of(&first());
        assert_eq!(s.ports, ["port0", "wan1"]);
        assert_eq!(s.get("port0", "ipackets"), 100);
        assert_eq!(s.get("port0", "forwarded"), 10);
        assert_eq!(s.get("wan1", "opackets"), 0);
        assert_eq!(s.drops["ip4_no_route"], 2);
        assert_eq!(s.drops.len(), 3);
    }

    #[test]
    fn rates_over_the_interval_and_nonzero_drops() {
        let (a, b) = (Sample::of(&first()), Sample::of(&second()));
        let out = render(&a, &b, Duration::from_millis(500));
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("port") && lines[0].contains("Rx-pps"));
        let p0: Vec<&str> = lines[1].split_whitespace().collect();
        // Rx-pps, Tx-pps, Rx-B/s, Tx-B/s, Fwd-pps, Drop-pps, totals...
        assert_eq!(
            p0,
            ["port0", "2000", "1000", "200000", "100000", "1000", "8", "1100", "550", "3", "0"]
        );
        assert!(lines[2].starts_with("wan1 ") && lines[2].contains(" 0 "));
        assert!(out.contains("ip4_no_route"), "{out}");
        let bad: Vec<&str> = out
            .lines()
            .find(|l| l.starts_with("ip4_bad_checksum"))
            .expect("nonzero reason shown")
            .split_whitespace()
            .collect();
        assert_eq!(bad, ["ip4_bad_checksum", "1", "2"]);
        assert!(!out.contains("tx_queue_full"), "zero reasons hidden");
        // A restarted router (counters back to 0) shows 0, not a huge rate.
        assert!(render(&b, &a, Duration::from_secs(1))
            .lines()
            .nth(1)
            .unwrap()
            .contains(" 0 "));
        assert!(render(&a, &a, Duration::from_secs(1)).contains("drop reason"));
        assert!(
            render(&Sample::default(), &Sample::default(), Duration::ZERO).contains("drops: none")
        );
    }
}
