//! The command socket: a Unix stream socket (mode 0600) that answers one text command
//! per connection (`status`, `counters`, `neigh`, `route`). The netlink-style API of a
//! later version replaces the protocol; the commands stay as CLI verbs.
use super::Control;
use crate::datapath::{IcmpOut, PortStat, ReasmFail, Reason};
use crate::dpdk;
use crate::fib::RouteTarget;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Server {
    listener: UnixListener,
    path: PathBuf,
}

impl Server {
    /// Binds `path` (replacing a stale socket file), owner-only permissions.
    pub fn bind(path: &Path) -> std::io::Result<Server> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
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

    /// Accepts waiting connections and reads each one's command line.
    pub fn accept_pending(&self) -> Vec<(UnixStream, String)> {
        let mut out = Vec::new();
        while let Ok((stream, _)) = self.listener.accept() {
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
            let Ok(reader) = stream.try_clone() else {
                continue;
            };
            // At most 4 KiB of command line: a client cannot make us buffer more.
            let mut line = String::new();
            let mut r = BufReader::new(std::io::Read::take(reader, 4096));
            if r.read_line(&mut line).is_ok() {
                out.push((stream, line.trim().to_string()));
            }
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn respond(mut stream: UnixStream, reply: &str) {
    let _ = stream.write_all(reply.as_bytes());
}

/// Answers one command.
pub fn handle(c: &Control, line: &str) -> String {
    let mut out = String::new();
    match line.split_whitespace().next().unwrap_or("") {
        "status" => status(c, &mut out),
        "counters" => counters(c, &mut out),
        "neigh" => neigh(c, &mut out),
        "route" => route(c, &mut out),
        other => {
            let _ = writeln!(
                out,
                "error: unknown command {other:?} (expected status, counters, neigh or route)"
            );
        }
    }
    out
}

fn port_name(c: &Control, id: u16) -> String {
    c.shared
        .ports
        .get(id)
        .map_or_else(|| format!("port#{id}"), |p| p.name.clone())
}

fn status(c: &Control, out: &mut String) {
    let mut ready = true;
    for p in c.shared.ports.iter() {
        let up = dpdk::link_up(p.id);
        ready &= up;
        let _ = writeln!(
            out,
            "port {} id {} link {} mac {} addr {} mtu {}",
            p.name,
            p.id,
            if up { "up" } else { "down" },
            p.mac,
            p.addr,
            p.mtu
        );
    }
    let _ = writeln!(out, "ready {}", if ready { "yes" } else { "no" });
}

fn counters(c: &Control, out: &mut String) {
    let t = c.totals();
    for r in Reason::ALL {
        let _ = writeln!(out, "drop {} {}", r.name(), t.drops_of(*r));
    }
    for p in c.shared.ports.iter() {
        for s in PortStat::ALL {
            let _ = writeln!(
                out,
                "port {} {} {}",
                p.name,
                s.name(),
                t.port_stat(p.id, *s)
            );
        }
        let st = dpdk::stats(p.id);
        for (k, v) in [
            ("ipackets", st.ipackets),
            ("opackets", st.opackets),
            ("ibytes", st.ibytes),
            ("obytes", st.obytes),
            ("imissed", st.imissed),
            ("ierrors", st.ierrors),
            ("oerrors", st.oerrors),
            ("rx_nombuf", st.rx_nombuf),
        ] {
            let _ = writeln!(out, "pmd {} {k} {v}", p.name);
        }
    }
    for k in IcmpOut::ALL {
        let _ = writeln!(out, "icmp_out {} {}", k.name(), t.icmp_out[*k as usize]);
    }
    for k in ReasmFail::ALL {
        let _ = writeln!(out, "reasm_fail {} {}", k.name(), t.reasm_fail[*k as usize]);
    }
    let fib = c.shared.fib.load();
    for (k, v) in [
        ("icmp_ratelimited", t.icmp_ratelimited),
        ("icmp_suppressed", t.icmp_suppressed),
        ("punted", t.punted),
        ("arp_requests", t.arp_requests),
        ("frag_packets", t.frag_packets),
        ("frag_created", t.frag_created),
        ("reasm_fragments", t.reasm_fragments),
        ("reasm_ok", t.reasm_ok),
        ("reasm_bytes", c.reasm.bytes() as u64),
        ("reasm_datagrams", c.reasm.datagrams() as u64),
        ("mempool_in_use", u64::from(c.pool.in_use())),
        ("mempool_size", u64::from(c.pool.size())),
        ("neigh_entries", c.neigh.len() as u64),
        ("neigh_held", c.neigh.held_packets() as u64),
        ("fib_version", fib.version),
        ("fib_prefixes", fib.prefixes() as u64),
        ("fib_memory_bytes", fib.memory_bytes() as u64),
    ] {
        let _ = writeln!(out, "{k} {v}");
    }
}

fn neigh(c: &Control, out: &mut String) {
    for n in c.neigh.dump() {
        let _ = write!(out, "{} dev {}", n.key.ip, port_name(c, n.key.port));
        if let Some(mac) = n.mac {
            let _ = write!(out, " lladdr {mac}");
        }
        let _ = writeln!(out, " {}", n.state.name());
    }
}

fn route(c: &Control, out: &mut String) {
    for r in c.rib.iter() {
        // iproute2 style, with port names instead of ids.
        let line = r.to_string();
        let line = match r.target {
            RouteTarget::Local { port }
            | RouteTarget::Broadcast { port }
            | RouteTarget::Connected { port }
            | RouteTarget::Gateway {
                port: Some(port), ..
            } => line.replace(
                &format!("dev {port}"),
                &format!("dev {}", port_name(c, port)),
            ),
            _ => line,
        };
        let _ = writeln!(out, "{line}");
    }
}

/// Client side: sends `cmd` to the socket at `path` and returns the reply.
pub fn request(path: &Path, cmd: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{cmd}\n").as_bytes())?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut s, &mut reply)?;
    Ok(reply)
}
