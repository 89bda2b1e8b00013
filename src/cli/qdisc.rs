//! `ferroute qdisc add|replace|change|del dev PORT [root] tbf rate R burst S latency
//! T|limit S` fills one RTM_NEWQDISC or RTM_DELQDISC (`api::QdiscMsg` with a `TbfSpec`).
//! `qdisc show [dev PORT]` prints the RTM_GETQDISC dump as `tc qdisc` prints it, or as
//! JSON (`json/qdisc.rs`, every port, `noqueue` without a shaper); with `-stats`, the
//! shaper's counters from the typed counters (`api::Counters`, qdisc group).
use super::parse::{parse_rate, parse_size, parse_time_us, rate_text, size_text, time_text};
use super::session::{dump_qdiscs, to_json};
use super::{change, json, usage, verb, CliError, Session, HELP};
use crate::api::*;
use std::fmt::Write as _;

/// tc qdisc's verbs (tc_qdisc.c `do_qdisc`): `replace` and `link` whole words only.
const QDISC_VERBS: &[(&str, &str, bool)] = &[
    ("add", "add", false),
    ("change", "change", false),
    ("replace", "replace", true),
    ("link", "link", true),
    ("delete", "delete", false),
    ("list", "show", false),
    ("show", "show", false),
    ("lst", "show", false),
    ("help", "help", false),
];

impl Session {
    pub(super) fn qdisc(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let supported = ["add", "change", "replace", "delete", "show", "help"];
        let (verb, rest) = verb(args, QDISC_VERBS, "qdisc", &supported)?;
        let (kind, flags) = match verb {
            "show" => return self.qdisc_show(rest, out),
            "help" => {
                let _ = writeln!(out, "{HELP}");
                return Ok(());
            }
            v => change(v, RTM_NEWQDISC, RTM_DELQDISC),
        };
        let mut q = QdiscMsg {
            parent: TC_H_ROOT,
            ..QdiscMsg::default()
        };
        let (mut rate, mut burst, mut latency, mut limit) = (None, None, None, None);
        let mut it = rest.iter().copied();
        while let Some(w) = it.next() {
            let mut val = || {
                it.next()
                    .ok_or_else(|| usage(format!("\"{w}\" needs a value")))
            };
            match w {
                "dev" => q.ifindex = self.ifindex(val()?)?,
                "root" => {}
                "tbf" => q.kind = Some("tbf".into()),
                "rate" => rate = Some(parse_rate(val()?)?),
                "burst" | "buffer" | "maxburst" => burst = Some(parse_size(val()?)?),
                "latency" | "lat" => latency = Some(parse_time_us(val()?)?),
                "limit" => limit = Some(parse_size(val()?)?),
                other => return Err(usage(format!("unknown qdisc argument \"{other}\""))),
            }
        }
        if q.ifindex == 0 {
            return Err(usage("qdisc needs dev PORT"));
        }
        if kind == RTM_NEWQDISC {
            match (rate, burst, latency, limit) {
                (Some(rate), Some(burst), Some(latency_us), None) => {
                    q.tbf = Some(TbfSpec {
                        rate,
                        burst,
                        latency_us,
                        limit: 0,
                    })
                }
                (Some(rate), Some(burst), None, Some(limit)) => {
                    q.tbf = Some(TbfSpec {
                        rate,
                        burst,
                        latency_us: 0,
                        limit,
                    })
                }
                (_, _, Some(_), Some(_)) => {
                    return Err(usage("tbf takes latency or limit, not both (as tc)"))
                }
                _ if q.kind.is_none() => return Err(usage(
                    "usage: ferroute qdisc add dev PORT root tbf rate RATE burst SIZE latency TIME",
                )),
                _ => return Err(usage("tbf needs rate, burst, and latency or limit")),
            }
        }
        Ok(self.conn.change(kind, flags, Body::Qdisc(q))?)
    }

    /// A tbf qdisc as `tc qdisc` prints it (today's text).
    pub(super) fn qdisc_line(&mut self, q: &QdiscMsg) -> String {
        let dev = self.name(q.ifindex);
        let kind = q.kind.clone().unwrap_or_default();
        let Some(t) = q.tbf else {
            return format!("qdisc {kind} {:x}: dev {dev} root", q.handle >> 16);
        };
        let mut s = format!(
            "qdisc {kind} {:x}: dev {dev} root rate {} burst {} limit {}",
            q.handle >> 16,
            rate_text(t.rate),
            size_text(t.burst),
            size_text(t.limit)
        );
        if t.latency_us != 0 {
            let _ = write!(s, " lat {}", time_text(t.latency_us));
        }
        s
    }

    fn qdisc_show(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let mut filter = QdiscMsg::default();
        match args {
            [] => {}
            ["dev", d] => filter.ifindex = self.ifindex(d)?,
            _ => return Err(usage("usage: ferroute qdisc show [dev PORT]")),
        }
        let one_dev = filter.ifindex != 0;
        let qdiscs = dump_qdiscs(&mut self.conn, filter.clone())?;
        // `-stats`: the port's shaper counters.
        let stats = self.counters_for_stats()?;
        let stat = |dev: &str, key: &str| stats.qdisc(dev, key);
        if self.json {
            // Every port, as tc lists every device: its tbf, or noqueue.
            let links: Vec<LinkMsg> = self.links()?.to_vec();
            let mut rows = Vec::new();
            for l in links
                .iter()
                .filter(|l| !one_dev || l.ifindex == filter.ifindex)
            {
                let dev = l.name.clone().unwrap_or_default();
                let q = qdiscs.iter().find(|q| q.ifindex == l.ifindex);
                let mut j = json::qdisc::Qdisc::new(q, (!one_dev).then(|| dev.clone()));
                if self.stats {
                    j.stats = Some(json::qdisc::QdiscStats {
                        bytes: stat(&dev, "sent_bytes"),
                        packets: stat(&dev, "sent_packets"),
                        drops: stat(&dev, "dropped"),
                        overlimits: 0,
                        requeues: 0,
                        backlog: stat(&dev, "backlog_bytes"),
                        qlen: stat(&dev, "backlog_packets"),
                    });
                }
                rows.push(j);
            }
            let _ = writeln!(out, "{}", to_json(&rows));
            return Ok(());
        }
        for q in &qdiscs {
            if q.tbf.is_none() {
                continue;
            }
            let dev = self.name(q.ifindex);
            let line = self.qdisc_line(q);
            let _ = writeln!(out, "{line}");
            if self.stats {
                let keys = [
                    "sent_bytes",
                    "sent_packets",
                    "dropped",
                    "backlog_bytes",
                    "backlog_packets",
                    "tokens_bytes",
                ];
                let [sent, pkts, dropped, backlog, qlen, tokens] = keys.map(|k| stat(&dev, k));
                // tc -s qdisc's lines, plus the bucket's tokens.
                let _ = writeln!(
                    out,
                    " Sent {sent} bytes {pkts} pkt (dropped {dropped})\n backlog {backlog}b {qlen}p tokens {tokens}b"
                );
            }
        }
        Ok(())
    }
}
