//! A qdisc as `tc -j qdisc` prints it (tc `print_qdisc`, q_tbf.c `tbf_print_opt`).
use crate::api::*;
use serde::Serialize;

/// tbf's options as tc prints them: the rate in bytes/s, the burst in bytes and the
/// latency in µs (tc prints `lat` whether the qdisc was set with latency or limit; from
/// a limit it is `limit / rate - burst / rate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TbfOptions {
    pub rate: u64,
    pub burst: u32,
    pub lat: u64,
}

/// `options` is `{}` for noqueue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Options {
    Tbf(TbfOptions),
    None {},
}

/// `tc -s`'s counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QdiscStats {
    pub bytes: u64,
    pub packets: u64,
    pub drops: u64,
    /// Linux counts a tbf overlimit each time a dequeue finds too few tokens; ferroute's
    /// workers claim tokens per poll round and do not count these waits: always 0.
    pub overlimits: u64,
    pub requeues: u64,
    pub backlog: u64,
    pub qlen: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Qdisc {
    pub kind: String,
    pub handle: String,
    /// Left out by `tc qdisc show dev X`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    pub root: bool,
    /// References to the qdisc, a kernel count (the device's and its TX queues'): tc
    /// shows 2 for a single-queue device's noqueue, 3 for a tbf on a veth. ferroute has
    /// no such count and reports 2.
    pub refcnt: u32,
    pub options: Options,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub stats: Option<QdiscStats>,
}

/// tc's latency for a tbf given by its limit (µs, as tc computes it from the kernel's
/// limit and buffer: the whole µs of `limit / rate` less those of `burst / rate`).
pub fn latency_of_limit(rate: u64, burst: u32, limit: u32) -> u64 {
    if rate == 0 {
        return 0;
    }
    let limit_us = u64::from(limit) * 1_000_000 / rate;
    let burst_us = u64::from(burst) * 1_000_000 / rate;
    limit_us.saturating_sub(burst_us)
}

impl Qdisc {
    /// The port's tbf, or its noqueue when `q` is None.
    pub fn new(q: Option<&QdiscMsg>, dev: Option<String>) -> Qdisc {
        let tbf = q.and_then(|q| q.tbf);
        match (q, tbf) {
            (Some(q), Some(t)) => Qdisc {
                kind: q.kind.clone().unwrap_or_else(|| "tbf".into()),
                handle: format!("{:x}:", q.handle >> 16),
                dev,
                root: true,
                refcnt: 2,
                options: Options::Tbf(TbfOptions {
                    rate: t.rate,
                    burst: t.burst,
                    lat: if t.latency_us != 0 {
                        u64::from(t.latency_us)
                    } else {
                        latency_of_limit(t.rate, t.burst, t.limit)
                    },
                }),
                stats: None,
            },
            _ => Qdisc {
                kind: "noqueue".into(),
                handle: "0:".into(),
                dev,
                root: true,
                refcnt: 2,
                options: Options::None {},
                stats: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_tc_prints_them() {
        let q = QdiscMsg {
            ifindex: 2,
            handle: 0x8001_0000,
            parent: TC_H_ROOT,
            kind: Some("tbf".into()),
            tbf: Some(TbfSpec {
                rate: 2_500_000,
                burst: 32768,
                latency_us: 50_000,
                limit: 157_768,
            }),
        };
        assert_eq!(
            serde_json::to_string(&Qdisc::new(Some(&q), Some("port1".into()))).unwrap(),
            r#"{"kind":"tbf","handle":"8001:","dev":"port1","root":true,"refcnt":2,"options":{"rate":2500000,"burst":32768,"lat":50000}}"#
        );
        let mut n = Qdisc::new(None, None);
        n.stats = Some(QdiscStats::default());
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            r#"{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{},"bytes":0,"packets":0,"drops":0,"overlimits":0,"requeues":0,"backlog":0,"qlen":0}"#
        );
        // tc 6.1 shows lat 52429 for `rate 20mbit burst 32kb limit 160kb`.
        assert_eq!(latency_of_limit(2_500_000, 32768, 163_840), 52429);
    }
}
