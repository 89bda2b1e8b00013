//! `ferroute route load FILE|- [via GW] [dev PORT] [metric N] [batch N]`: streams a
//! table file (`PREFIX [NEXTHOP]` per line, `#` comments) through the API as RTM_NEWROUTE
//! replaces in atomic batches (FR_BATCH_BEGIN .. FR_BATCH_END, one FIB version each),
//! up to 16 batches in flight. A refused batch is reported with the file line it started
//! at. Prints the count and the rate.
use super::parse::{open_input, parse_ip, parse_prefix};
use super::{usage, CliError, Session};
use crate::api::client::{ClientError, Conn};
use crate::api::*;
use std::fmt::Write as _;
use std::io::BufRead;
use std::net::Ipv4Addr;
use std::time::Instant;

impl Session {
    /// Streams a table file (`PREFIX [NEXTHOP]` per line; blank lines and `#` comments
    /// skipped) through the API in atomic batches, several in flight.
    pub(super) fn route_load(&mut self, args: &[&str], out: &mut String) -> Result<(), CliError> {
        let (file, rest) = args.split_first().ok_or_else(|| {
            usage("usage: ferroute route load FILE|- [via GW] [dev PORT] [metric N] [batch N]")
        })?;
        let mut via = None;
        let mut oif = None;
        let mut metric = None;
        let mut batch = 2000usize;
        let mut it = rest.iter().copied();
        while let Some(w) = it.next() {
            let v = it
                .next()
                .ok_or_else(|| usage(format!("\"{w}\" needs a value")))?;
            match w {
                "via" => via = Some(parse_ip(v)?),
                "dev" => oif = Some(self.ifindex(v)?),
                "metric" => {
                    metric = Some(
                        v.parse()
                            .map_err(|_| usage(format!("invalid metric \"{v}\"")))?,
                    )
                }
                "batch" => {
                    batch = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=crate::rtnl::server::MAX_BATCH).contains(n))
                        .ok_or_else(|| usage(format!("invalid batch size \"{v}\"")))?
                }
                other => return Err(usage(format!("unknown argument \"{other}\""))),
            }
        }
        let reader = open_input(file)?;
        let stats = load(&mut self.conn, reader, file, via, oif, metric, batch)?;
        let secs = stats.1.max(1e-9);
        let _ = writeln!(
            out,
            "loaded {} routes in {:.2} s ({:.0} routes/s)",
            stats.0,
            secs,
            stats.0 as f64 / secs
        );
        Ok(())
    }
}

/// Sends routes from `reader` in atomic batches of `batch`, keeping a few batches in
/// flight; returns (routes, seconds).
fn load(
    conn: &mut Conn,
    reader: Box<dyn BufRead>,
    file: &str,
    via: Option<Ipv4Addr>,
    oif: Option<u32>,
    metric: Option<u32>,
    batch: usize,
) -> Result<(usize, f64), CliError> {
    const IN_FLIGHT: usize = 16;
    let t = Instant::now();
    let mut total = 0usize;
    let mut in_batch = 0usize;
    let mut buf = Vec::new();
    let mut ends: std::collections::VecDeque<(u32, usize)> = Default::default();
    let flags = NLM_F_CREATE | NLM_F_REPLACE;
    let mut begin_line = 1;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| usage(format!("{file}: {e}")))?;
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let bad = |what: &str| usage(format!("{file}:{}: {what}: {line:?}", n + 1));
        let (dst, len) = parse_prefix(words.next().unwrap_or("")).map_err(|_| bad("bad prefix"))?;
        let gw = match words.next() {
            Some("via") => {
                Some(parse_ip(words.next().unwrap_or("")).map_err(|_| bad("bad next hop"))?)
            }
            Some(g) => Some(parse_ip(g).map_err(|_| bad("bad next hop"))?),
            None => via,
        };
        if gw.is_none() && oif.is_none() {
            return Err(bad(
                "no next hop (give one per line, or `via GW` / `dev PORT`)",
            ));
        }
        if in_batch == 0 {
            conn.queue(&mut buf, FR_BATCH_BEGIN, 0, Body::Empty);
            begin_line = n + 1;
        }
        let mut r = RouteMsg::new(dst, len);
        r.gateway = gw;
        r.oif = oif;
        r.metric = metric;
        conn.queue(&mut buf, RTM_NEWROUTE, flags, Body::Route(r));
        in_batch += 1;
        total += 1;
        if in_batch == batch {
            let seq = conn.queue(&mut buf, FR_BATCH_END, NLM_F_ACK, Body::Empty);
            conn.write_raw(&buf)?;
            buf.clear();
            ends.push_back((seq, begin_line));
            in_batch = 0;
            if ends.len() >= IN_FLIGHT {
                if let Some((seq, line)) = ends.pop_front() {
                    wait_batch(conn, seq, file, line)?;
                }
            }
        }
    }
    if in_batch > 0 {
        let seq = conn.queue(&mut buf, FR_BATCH_END, NLM_F_ACK, Body::Empty);
        conn.write_raw(&buf)?;
        ends.push_back((seq, begin_line));
    }
    while let Some((seq, line)) = ends.pop_front() {
        wait_batch(conn, seq, file, line)?;
    }
    Ok((total, t.elapsed().as_secs_f64()))
}

fn wait_batch(conn: &mut Conn, seq: u32, file: &str, line: usize) -> Result<(), CliError> {
    conn.wait_ack(seq).map_err(|e| match e {
        ClientError::Api(a) => CliError::Client(ClientError::Api(ApiError::new(
            a.errno,
            format!("{} (batch starting at {file}:{line})", a.msg),
        ))),
        e => CliError::Client(e),
    })
}
