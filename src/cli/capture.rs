//! `ferroute capture PORT[,PORT...]|all [-c N] [-w FILE|-] [--drops] [--dir rx|tx|both]
//! [--proto P] [--host ADDR] [-s SNAPLEN]`: asks the router for a capture (FR_CAPTURE)
//! and writes what comes as pcapng (`-w`; `-` is stdout, for `| tcpdump -r -`) or as
//! one tcpdump-style line per frame. Ctrl-C, `-c N` or a closed output stop it: the
//! client sends FR_CAPTURE_STOP, writes what was still on its way, and prints on stderr
//! how many frames were captured and how many the router missed (tcpdump's "dropped by
//! kernel").
use super::{usage, CliError};
use crate::api::client::{ClientError, Conn};
use crate::api::*;
use crate::capture::{pcapng, summary, Point, Proto, SNAPLEN_MAX};
use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub const HELP: &str = "\
       ferroute capture PORT[,PORT...]|all [-c N] [-w FILE|-] [--drops] [--dir rx|tx|both]
                        [--proto any|arp|ip|icmp|tcp|udp] [--host ADDR] [-s SNAPLEN]";

/// The command line of a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opts {
    /// Port names, or empty for all.
    pub ports: Vec<String>,
    pub count: Option<u64>,
    /// `-w`: a file, or `-` for stdout.
    pub write: Option<String>,
    /// `Point::bit`s.
    pub points: u8,
    pub proto: Proto,
    pub host: Option<Ipv4Addr>,
    pub snaplen: u32,
}

/// Parses the arguments after `capture`.
pub fn parse(args: &[&str]) -> Result<Opts, CliError> {
    let bad = |s: String| usage(format!("{s}\nusage:{}", &HELP[6..]));
    let mut it = args.iter();
    let mut ports = None;
    let mut o = Opts {
        ports: Vec::new(),
        count: None,
        write: None,
        points: 0,
        proto: Proto::Any,
        host: None,
        snaplen: SNAPLEN_MAX,
    };
    let mut dir = None;
    let mut drops = false;
    while let Some(&a) = it.next() {
        let mut value = || {
            it.next()
                .copied()
                .ok_or_else(|| bad(format!("{a} needs a value")))
        };
        match a {
            "-c" => {
                let v = value()?;
                o.count = Some(
                    v.parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad(format!("-c: {v:?} is not a packet count")))?,
                );
            }
            "-w" => o.write = Some(value()?.to_string()),
            "-s" => {
                let v = value()?;
                o.snaplen = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=SNAPLEN_MAX).contains(n))
                    .ok_or_else(|| {
                        bad(format!("-s: {v:?} is not a snaplen in 1..={SNAPLEN_MAX}"))
                    })?;
            }
            "--drops" => drops = true,
            "--dir" => {
                let v = value()?;
                dir = Some(match v {
                    "rx" | "in" => Point::Rx.bit(),
                    "tx" | "out" => Point::Tx.bit(),
                    "both" | "inout" => Point::Rx.bit() | Point::Tx.bit(),
                    _ => return Err(bad(format!("--dir: {v:?} is not rx, tx or both"))),
                });
            }
            "--proto" => {
                let v = value()?;
                o.proto = Proto::parse(v).ok_or_else(|| bad(format!("--proto: unknown {v:?}")))?;
            }
            "--host" => {
                let v = value()?;
                o.host = Some(
                    v.parse()
                        .map_err(|_| bad(format!("--host: {v:?} is not an IPv4 address")))?,
                );
            }
            w if w.starts_with('-') => return Err(bad(format!("capture: unknown option {w}"))),
            w if ports.is_none() => ports = Some(w),
            w => return Err(bad(format!("capture: one port list only, not also {w:?}"))),
        }
    }
    let ports = ports.ok_or_else(|| bad("capture: which port?".into()))?;
    if ports != "all" && ports != "any" {
        o.ports = ports.split(',').map(String::from).collect();
    }
    // --drops alone captures only drops; --dir adds RX and/or TX to them.
    o.points = match (dir, drops) {
        (Some(d), drops) => d | if drops { Point::Drop.bit() } else { 0 },
        (None, true) => Point::Drop.bit(),
        (None, false) => Point::Rx.bit() | Point::Tx.bit(),
    };
    Ok(o)
}

/// Where the frames go.
enum Output {
    Pcapng(Box<dyn Write>),
    Text(Box<dyn Write>),
}

/// Frames written per captured port (interface ids are indices into it).
struct Port {
    ifindex: u32,
    name: String,
    written: u64,
}

fn ns_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Runs the capture `o` on `conn` until it ends; the counts go to stderr.
pub fn run(mut conn: Conn, o: &Opts) -> Result<(), CliError> {
    let links = super::session::dump_links(&mut conn)?;
    let mut ports: Vec<Port> = Vec::new();
    let name_of = |l: &LinkMsg| l.name.clone().unwrap_or_else(|| format!("if{}", l.ifindex));
    if o.ports.is_empty() {
        ports.extend(links.iter().map(|l| Port {
            ifindex: l.ifindex,
            name: name_of(l),
            written: 0,
        }));
    }
    for p in &o.ports {
        let l = links
            .iter()
            .find(|l| l.name.as_deref() == Some(p.as_str()))
            .ok_or_else(|| usage(format!("Cannot find device \"{p}\"")))?;
        if !ports.iter().any(|q| q.ifindex == l.ifindex) {
            ports.push(Port {
                ifindex: l.ifindex,
                name: name_of(l),
                written: 0,
            });
        }
    }
    let mask = ports
        .iter()
        .filter(|p| (1..=64).contains(&p.ifindex))
        .fold(0u64, |m, p| m | 1 << (p.ifindex - 1));
    let mut output = match o.write.as_deref() {
        Some("-") => Output::Pcapng(Box::new(std::io::stdout())),
        Some(f) => Output::Pcapng(Box::new(std::io::BufWriter::new(
            std::fs::File::create(f).map_err(|e| usage(format!("-w {f}: {e}")))?,
        ))),
        None => Output::Text(Box::new(std::io::stdout())),
    };
    // Ctrl-C (and SIGTERM, SIGHUP) asks the router to stop; a second one exits at once.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop));
        let _ = signal_hook::flag::register(sig, Arc::clone(&stop));
    }
    let req = CaptureReq {
        ports: mask,
        points: o.points,
        proto: o.proto as u8,
        snaplen: o.snaplen,
        host: o.host,
    };
    conn.change(FR_CAPTURE, 0, Body::CaptureReq(req))?;
    let start = ns_now();
    let mut writable = true;
    if let Output::Pcapng(w) = &mut output {
        let mut b = Vec::new();
        pcapng::section_header(
            &mut b,
            concat!("ferroute ", env!("CARGO_PKG_VERSION"), " capture"),
        );
        for p in &ports {
            pcapng::interface(&mut b, &p.name, o.snaplen);
        }
        writable = w.write_all(&b).and_then(|()| w.flush()).is_ok();
    }
    conn.set_read_timeout(Duration::from_millis(100))?;
    let mut written = 0u64;
    let mut stopping = false;
    let end = loop {
        let done = o.count.is_some_and(|c| written >= c);
        if !stopping && (stop.load(Relaxed) || done || !writable) {
            conn.send(FR_CAPTURE_STOP, 0, Body::Empty)?;
            stopping = true;
        }
        let m = match conn.recv() {
            Ok(m) => m,
            Err(ClientError::Io(e)) if e.contains("timed out") || e.contains("temporarily") => {
                continue
            }
            Err(e) => return Err(e.into()),
        };
        match m.body {
            Body::CapturePkt(p) if writable && !done => {
                let Some(i) = ports.iter().position(|q| q.ifindex == p.ifindex) else {
                    continue;
                };
                writable = write(&mut output, i, &ports[i].name, &p);
                if writable {
                    ports[i].written += 1;
                    written += 1;
                }
            }
            Body::CaptureEnd(e) => break e,
            Body::Error { errno, msg, .. } if errno != 0 => {
                return Err(ApiError::new(errno, msg).into())
            }
            _ => {}
        }
    };
    if let Output::Pcapng(w) = &mut output {
        let mut b = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            // The router counts missed frames for the whole capture: on the first port.
            let missed = if i == 0 { end.missed } else { 0 };
            pcapng::interface_stats(&mut b, i as u32, start, ns_now(), p.written, missed);
        }
        if writable {
            let _ = w.write_all(&b).and_then(|()| w.flush());
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "{written} packets captured\n{} packets dropped by ferroute (capture ring full or reader too slow)",
        end.missed
    );
    Ok(())
}

/// Writes one frame; false once the output fails (closed pipe, full disk).
fn write(out: &mut Output, ifid: usize, name: &str, p: &CapturePkt) -> bool {
    let point = Point::from_u8(p.point);
    match out {
        Output::Pcapng(w) => {
            let flags = match point {
                Some(Point::Tx) => pcapng::FLAG_OUTBOUND,
                // A drop is counted against the port it came in on.
                Some(Point::Rx | Point::Drop) => pcapng::FLAG_INBOUND,
                None => 0,
            };
            let mut b = Vec::with_capacity(p.data.len() + 64);
            pcapng::packet(
                &mut b,
                ifid as u32,
                p.ts_ns,
                p.orig_len,
                &p.data,
                flags,
                p.reason.as_deref(),
            );
            w.write_all(&b).and_then(|()| w.flush()).is_ok()
        }
        Output::Text(w) => {
            let what = match (point, &p.reason) {
                (Some(Point::Tx), _) => "Out ".to_string(),
                (Some(Point::Drop), Some(r)) => format!("Drop {r}: "),
                _ => "In  ".to_string(),
            };
            let line = format!(
                "{} {name} {what}{}\n",
                summary::clock(p.ts_ns),
                summary::frame(&p.data, p.orig_len)
            );
            w.write_all(line.as_bytes())
                .and_then(|()| w.flush())
                .is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Opts, CliError> {
        parse(&s.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn command_lines() {
        let o = p("port0 -c 5 -w x.pcapng").unwrap();
        assert_eq!(o.ports, ["port0"]);
        assert_eq!((o.count, o.write.as_deref()), (Some(5), Some("x.pcapng")));
        assert_eq!(o.points, Point::Rx.bit() | Point::Tx.bit());
        assert_eq!(p("port0 --drops").unwrap().points, Point::Drop.bit());
        assert_eq!(
            p("port0 --drops --dir rx").unwrap().points,
            Point::Drop.bit() | Point::Rx.bit()
        );
        assert_eq!(p("port0 --dir tx").unwrap().points, Point::Tx.bit());
        let o = p("port0,port1 --proto icmp --host 10.0.1.2 -s 128").unwrap();
        assert_eq!(o.ports, ["port0", "port1"]);
        assert_eq!((o.proto, o.snaplen), (Proto::Icmp, 128));
        assert_eq!(o.host, Some(Ipv4Addr::new(10, 0, 1, 2)));
        assert!(p("all").unwrap().ports.is_empty());
        for bad in [
            "",
            "port0 -c 0",
            "port0 -c",
            "port0 --dir up",
            "port0 --proto sctp",
            "port0 --host x",
            "port0 -s 0",
            "port0 port1",
            "port0 -x",
        ] {
            assert!(matches!(p(bad), Err(CliError::Usage(_))), "{bad:?}");
        }
    }
}
