//! The control API end to end: the real router between two namespaces, configured at
//! runtime with `ferroute route/addr/neigh/link ...` while traffic flows, and spoken to
//! with raw (also malformed) messages on its socket.
mod common;

use common::{received, run, text, Lab};
use ferroute::api::client::Conn;
use ferroute::api::*;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ping(lab: &Lab, host: usize, dst: &str, count: u32, extra: &[&str]) -> String {
    let c = count.to_string();
    let mut args = vec!["ping", "-n", "-c", &c, "-i", "0.05", "-W", "2"];
    args.extend_from_slice(extra);
    args.push(dst);
    text(&lab.exec(host, &args))
}

/// `ferroute ARGS` must succeed; its stdout.
fn ok(lab: &Lab, args: &[&str]) -> String {
    let o = lab.cli(args);
    assert!(o.status.success(), "ferroute {args:?} failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// `ferroute ARGS` must fail; its stderr.
fn fails(lab: &Lab, args: &[&str]) -> String {
    let o = lab.cli(args);
    assert!(
        !o.status.success(),
        "ferroute {args:?} succeeded: {}",
        text(&o)
    );
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// h2 also answers for 10.9.1.1 (on its loopback), behind the router's 10.9.0.0/16.
fn far_address_on_h2(lab: &Lab) {
    let o = lab.exec(1, &["ip", "addr", "add", "10.9.1.1/32", "dev", "lo"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn runtime_route_carries_traffic_and_its_delete_gives_net_unreachable() {
    let lab = Lab::start("art", "");
    let idle = lab.counter("mempool_in_use");
    far_address_on_h2(&lab);
    let out = ping(&lab, 0, "10.9.1.1", 2, &[]);
    assert!(out.contains("Destination Net Unreachable"), "{out}");

    ok(&lab, &["route", "add", "10.9.0.0/16", "via", "10.0.2.2"]);
    let out = ping(&lab, 0, "10.9.1.1", 5, &[]);
    assert_eq!(received(&out), 5, "{out}");
    let show = ok(&lab, &["route", "show"]);
    assert!(
        show.contains("10.9.0.0/16 via 10.0.2.2 dev port1 proto static\n"),
        "{show}"
    );
    assert!(
        show.contains("10.0.1.0/24 dev port0 proto kernel scope link src 10.0.1.1\n"),
        "{show}"
    );
    assert_eq!(
        ok(&lab, &["route", "get", "10.9.1.1"]),
        "10.9.1.1 via 10.0.2.2 dev port1 src 10.0.2.1\n"
    );
    assert_eq!(
        ok(&lab, &["route", "show", "10.9.0.0/16"]),
        "10.9.0.0/16 via 10.0.2.2 dev port1 proto static\n"
    );
    // JSON, as `ip -j route`.
    let j: serde_json::Value =
        serde_json::from_str(&ok(&lab, &["-j", "route", "show", "10.9.0.0/16"])).unwrap();
    assert_eq!(j[0]["dst"], "10.9.0.0/16");
    assert_eq!(j[0]["gateway"], "10.0.2.2");
    assert_eq!(j[0]["dev"], "port1");

    // Linux's errors, in iproute2's words.
    let e = fails(&lab, &["route", "add", "10.9.0.0/16", "via", "10.0.2.2"]);
    assert_eq!(e.trim(), "Error: route already exists (EEXIST)");
    let e = fails(&lab, &["route", "add", "10.8.0.0/16", "via", "172.16.0.1"]);
    assert!(e.contains("(ENETUNREACH)"), "{e}");
    let e = fails(&lab, &["route", "add", "10.8.0.1/16", "via", "10.0.2.2"]);
    assert!(e.contains("host bits set (EINVAL)"), "{e}");
    let e = fails(&lab, &["route", "change", "10.7.0.0/16", "via", "10.0.2.2"]);
    assert!(e.contains("(ENOENT)"), "{e}");
    let e = fails(
        &lab,
        &[
            "route",
            "add",
            "10.8.0.0/16",
            "via",
            "10.0.2.2",
            "dev",
            "nope",
        ],
    );
    assert!(e.contains("Cannot find device \"nope\""), "{e}");

    ok(&lab, &["route", "del", "10.9.0.0/16"]);
    let out = ping(&lab, 0, "10.9.1.1", 2, &[]);
    assert!(
        out.contains("From 10.0.1.1") && out.contains("Destination Net Unreachable"),
        "{out}"
    );
    let e = fails(&lab, &["route", "del", "10.9.0.0/16"]);
    assert_eq!(e.trim(), "Error: no such route (ESRCH)");
    // Blackhole and prohibit routes, as Linux answers them.
    ok(&lab, &["route", "add", "prohibit", "10.9.0.0/16"]);
    let out = ping(&lab, 0, "10.9.1.1", 1, &[]);
    assert!(out.contains("Packet filtered"), "{out}");
    ok(&lab, &["route", "replace", "blackhole", "10.9.0.0/16"]);
    let before = lab.counter("drop route_blackhole");
    let out = ping(&lab, 0, "10.9.1.1", 2, &[]);
    assert_eq!(received(&out), 0, "{out}");
    assert_eq!(lab.counter("drop route_blackhole"), before + 2);
    lab.assert_pool_back_to(idle);
}

/// Packets the interface `dev` in host `i` received (`ip -s link`).
fn rx_packets(lab: &Lab, i: usize, dev: &str) -> u64 {
    let o = lab.exec(
        i,
        &[
            "cat",
            &format!("/sys/class/net/{dev}/statistics/rx_packets"),
        ],
    );
    text(&o)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("rx_packets of {dev}: {}", text(&o)))
}

#[test]
fn replace_moves_a_running_iperf3_to_the_new_next_hop() {
    let lab = Lab::start("arp", "");
    far_address_on_h2(&lab);
    // A second next hop on h2 with a MAC of its own: a macvlan on h2's tap answering
    // ARP only for its own address (arp_ignore=1), so its counters tell which next hop
    // the router sends to.
    let tap = lab.hosts[1].tap.clone();
    for cmd in [
        vec![
            "ip", "link", "add", "mv0", "link", &tap, "type", "macvlan", "mode", "bridge",
        ],
        vec!["ip", "addr", "add", "10.0.2.3/24", "dev", "mv0"],
        vec!["ip", "link", "set", "mv0", "up"],
        vec!["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"],
        vec!["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"],
        vec!["sysctl", "-qw", "net.ipv4.conf.mv0.rp_filter=0"],
        vec!["sysctl", "-qw", &format!("net.ipv4.conf.{tap}.rp_filter=0")],
    ] {
        let o = lab.exec(1, &cmd);
        assert!(o.status.success(), "{cmd:?}: {}", text(&o));
    }
    ok(&lab, &["route", "add", "10.9.0.0/16", "via", "10.0.2.2"]);
    let mut server = lab.spawn(1, &["iperf3", "-s", "-1", "-B", "10.9.1.1"]);
    std::thread::sleep(Duration::from_millis(500));
    let client = lab.spawn(0, &["iperf3", "-c", "10.9.1.1", "-t", "6", "-J"]);
    std::thread::sleep(Duration::from_secs(2));
    let mv_before = rx_packets(&lab, 1, "mv0");
    ok(
        &lab,
        &["route", "replace", "10.9.0.0/16", "via", "10.0.2.3"],
    );
    let out = client.wait_with_output().expect("iperf3 client");
    let _ = server.kill();
    let _ = server.wait();
    let json = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "iperf3 failed across the replace: {json}"
    );
    let mv_after = rx_packets(&lab, 1, "mv0");
    assert!(
        mv_after - mv_before > 1000,
        "the new next hop received {} packets",
        mv_after - mv_before
    );
    let neigh = ok(&lab, &["neigh"]);
    assert!(neigh.contains("10.0.2.3 dev port1 lladdr"), "{neigh}");
    assert!(ok(&lab, &["route", "get", "10.9.1.1"]).contains("via 10.0.2.3"));
}

fn prefix(i: u32) -> (Ipv4Addr, u8) {
    // 100.64.0.0/10 carved into /24s: unrelated to the flow under test.
    (Ipv4Addr::from(0x6440_0000 + (i << 8)), 24)
}

/// Adds and deletes `per_batch` prefixes per atomic batch, and single routes in
/// between, until `stop`; returns (updates, seconds).
fn churn(socket: &std::path::Path, stop: &AtomicBool, per_batch: u32) -> (u64, f64) {
    let mut conn = Conn::connect(socket).expect("connect");
    let t = Instant::now();
    let mut n = 0u64;
    let mut round = 0u32;
    let route = |i: u32| {
        let (dst, len) = prefix(i);
        let mut r = RouteMsg::new(dst, len);
        r.gateway = Some(Ipv4Addr::new(10, 0, 2, 2));
        Body::Route(r)
    };
    while !stop.load(Ordering::Relaxed) {
        let base = (round % 8) * per_batch;
        for kind in [RTM_NEWROUTE, RTM_DELROUTE] {
            let mut buf = Vec::new();
            conn.queue(&mut buf, FR_BATCH_BEGIN, 0, Body::Empty);
            for i in base..base + per_batch {
                let flags = if kind == RTM_NEWROUTE {
                    NLM_F_CREATE | NLM_F_EXCL
                } else {
                    0
                };
                conn.queue(&mut buf, kind, flags, route(i));
            }
            let seq = conn.queue(&mut buf, FR_BATCH_END, NLM_F_ACK, Body::Empty);
            conn.write_raw(&buf).expect("send batch");
            conn.wait_ack(seq)
                .unwrap_or_else(|e| panic!("batch {kind}: {e}"));
            n += u64::from(per_batch);
        }
        // And one route at a time, as a CLI user does.
        let single = 8 * per_batch + round % 100;
        conn.change(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, route(single))
            .expect("single add");
        conn.change(RTM_DELROUTE, 0, route(single))
            .expect("single del");
        n += 2;
        round += 1;
    }
    (n, t.elapsed().as_secs_f64())
}

#[test]
fn churn_of_unrelated_prefixes_loses_no_packet_of_a_flood_ping() {
    let lab = Lab::start("ach", "");
    let idle = lab.counter("mempool_in_use");
    // Warm ARP so the flood starts resolved.
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 2, &[])), 2);
    let v0 = lab.counter("fib_version");
    let stop = Arc::new(AtomicBool::new(false));
    let (s, sock) = (Arc::clone(&stop), lab.socket.clone());
    let churner = std::thread::spawn(move || churn(&sock, &s, 250));
    std::thread::sleep(Duration::from_millis(300));
    let out = text(&lab.exec(
        0,
        &["ping", "-n", "-f", "-c", "3000", "-W", "1", "10.0.2.2"],
    ));
    stop.store(true, Ordering::Relaxed);
    let (updates, secs) = churner.join().expect("churn thread");
    let rate = updates as f64 / secs;
    eprintln!("churn: {updates} route updates in {secs:.2} s = {rate:.0}/s during the flood ping");
    assert_eq!(received(&out), 3000, "the flood ping lost packets: {out}");
    assert!(rate >= 1000.0, "only {rate:.0} updates/s");
    let v1 = lab.counter("fib_version");
    assert!(v1 > v0 + 10, "FIB versions {v0} -> {v1}");
    // Nothing of the churn is left, and nothing leaked.
    assert!(!ok(&lab, &["route", "show"]).contains("100.64."));
    lab.assert_pool_back_to(idle);
    // Still serving (status exits nonzero here: net_tap reports moved taps down).
    assert!(text(&lab.cli(&["status"])).contains("\nready "));
}

fn raw(lab: &Lab, bytes: &[u8], shutdown: bool) -> (Vec<Message>, bool) {
    let mut s = UnixStream::connect(&lab.socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).expect("write");
    if shutdown {
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut msgs = Vec::new();
    let mut closed = false;
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        match s.read(&mut chunk) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
        while let Decoded::Msg(m, n) = Message::decode(&buf) {
            buf.drain(..n);
            msgs.push(m);
        }
        if !shutdown && !msgs.is_empty() {
            // Give a closing server a moment to close.
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
        }
    }
    (msgs, closed)
}

fn errno_of(m: &Message) -> i32 {
    match &m.body {
        Body::Error { errno, .. } => *errno,
        b => panic!("not an error: {b:?}"),
    }
}

#[test]
fn malformed_messages_get_errors_and_forwarding_goes_on() {
    let lab = Lab::start("amf", "");
    let idle = lab.counter("mempool_in_use");
    // Root only, by default.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&lab.socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");
    let pinger = lab.spawn(
        0,
        &[
            "ping", "-n", "-c", "100", "-i", "0.05", "-W", "2", "10.0.2.2",
        ],
    );
    let status = Message::new(FR_GETSTATUS, NLM_F_REQUEST, 7, Body::Empty).to_bytes();

    // Truncated: half a header, then the client closes its side.
    let (m, _) = raw(&lab, &status[..5], true);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(errno_of(&m[0]), errno::EINVAL);

    // Unknown type: EOPNOTSUPP, and the same connection goes on serving.
    let mut b = status.clone();
    b[4..6].copy_from_slice(&0x7777u16.to_le_bytes());
    b.extend_from_slice(&status);
    let (m, _) = raw(&lab, &b, true);
    assert_eq!(errno_of(&m[0]), errno::EOPNOTSUPP);
    assert!(
        matches!(&m[1].body, Body::Text(t) if t.contains("ready")),
        "{m:?}"
    );

    // Bad prefix length: EINVAL; nothing installed.
    let mut r = RouteMsg::new(Ipv4Addr::new(10, 9, 0, 0), 16);
    r.gateway = Some(Ipv4Addr::new(10, 0, 2, 2));
    let mut b = Message::new(
        RTM_NEWROUTE,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
        8,
        Body::Route(r),
    )
    .to_bytes();
    b[HDR_LEN + 1] = 40;
    let (m, _) = raw(&lab, &b, true);
    assert_eq!(errno_of(&m[0]), errno::EINVAL);

    // A huge length field: EMSGSIZE, and the connection is closed.
    let mut b = status.clone();
    b[0..4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let (m, closed) = raw(&lab, &b, false);
    assert_eq!(errno_of(&m[0]), errno::EMSGSIZE);
    assert!(closed, "connection closed after an unusable header");

    // Length below the header: EINVAL, closed.
    let mut b = status.clone();
    b[0..4].copy_from_slice(&4u32.to_le_bytes());
    let (m, closed) = raw(&lab, &b, false);
    assert_eq!(errno_of(&m[0]), errno::EINVAL);
    assert!(closed);

    // Garbage.
    let (m, _) = raw(&lab, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true);
    assert!(!m.is_empty() && errno_of(&m[0]) != 0, "{m:?}");

    // A client that sends half a message and stalls holds up nobody else.
    let mut stalled = UnixStream::connect(&lab.socket).unwrap();
    stalled.write_all(&status[..10]).unwrap();
    let t = Instant::now();
    ok(&lab, &["route", "show"]);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "route show took {:?}",
        t.elapsed()
    );

    let out = pinger.wait_with_output().expect("ping");
    let out = text(&out);
    assert_eq!(received(&out), 100, "{out}");
    assert!(!ok(&lab, &["route", "show"]).contains("10.9.0.0"));
    drop(stalled);
    lab.assert_pool_back_to(idle);
}

#[test]
fn config_dump_restarted_reproduces_route_show() {
    let mut lab = Lab::start(
        "acd",
        "[[route]]\nprefix = \"192.0.2.0/24\"\nvia = \"10.0.2.2\"\n",
    );
    for cmd in [
        vec![
            "route",
            "add",
            "10.9.0.0/16",
            "via",
            "10.0.2.2",
            "metric",
            "5",
        ],
        vec![
            "route",
            "append",
            "10.9.0.0/16",
            "via",
            "10.0.1.2",
            "metric",
            "5",
        ],
        vec!["route", "add", "unreachable", "10.66.0.0/16"],
        vec!["route", "add", "10.67.0.0/16", "dev", "port0"],
        vec!["route", "del", "192.0.2.0/24"],
        vec!["addr", "add", "10.0.3.1/24", "dev", "port0"],
        vec!["route", "add", "10.68.0.0/16", "via", "10.0.3.2"],
        vec![
            "neigh",
            "add",
            "10.0.3.2",
            "lladdr",
            "02:00:00:00:03:02",
            "dev",
            "port0",
        ],
        vec!["link", "set", "port1", "mtu", "1400"],
    ] {
        ok(&lab, &cmd);
    }
    let routes = ok(&lab, &["route", "show"]);
    // net_tap picks new MACs at each start: compare everything else.
    let addrs = |lab: &Lab| -> String {
        ok(lab, &["addr", "show"])
            .lines()
            .filter(|l| !l.contains("link/ether"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let addrs_before = addrs(&lab);
    let statics = |lab: &Lab| -> Vec<String> {
        ok(lab, &["neigh", "show"])
            .lines()
            .filter(|l| l.ends_with("PERMANENT"))
            .map(String::from)
            .collect()
    };
    let neigh = statics(&lab);
    assert_eq!(
        neigh,
        ["10.0.3.2 dev port0 lladdr 02:00:00:00:03:02 PERMANENT"]
    );
    let dump = ok(&lab, &["config", "dump"]);
    lab.restart_with(&dump);
    assert_eq!(ok(&lab, &["route", "show"]), routes, "config:\n{dump}");
    assert_eq!(addrs(&lab), addrs_before);
    assert_eq!(statics(&lab), neigh);
    assert_eq!(lab.counter("fib_version"), 1);
    // And the restarted router forwards by it.
    far_address_on_h2(&lab);
    let out = ping(&lab, 0, "10.9.1.1", 3, &[]);
    assert_eq!(received(&out), 3, "{out}");
}

#[test]
fn addresses_links_and_mtu_at_runtime() {
    let lab = Lab::start("aal", "");
    let idle = lab.counter("mempool_in_use");
    // A second address on port0: the router answers ARP and ping for it.
    ok(&lab, &["addr", "add", "10.0.3.1/24", "dev", "port0"]);
    let o = lab.exec(
        0,
        &["ip", "addr", "add", "10.0.3.2/24", "dev", &lab.hosts[0].tap],
    );
    assert!(o.status.success());
    assert_eq!(received(&ping(&lab, 0, "10.0.3.1", 3, &[])), 3);
    let show = ok(&lab, &["addr", "show", "dev", "port0"]);
    assert!(
        show.contains("inet 10.0.3.1/24 brd 10.0.3.255 scope global port0"),
        "{show}"
    );
    let e = fails(&lab, &["addr", "add", "10.0.3.1/24", "dev", "port0"]);
    assert!(e.contains("(EEXIST)"), "{e}");
    ok(&lab, &["addr", "del", "10.0.3.1/24", "dev", "port0"]);
    assert_eq!(received(&ping(&lab, 0, "10.0.3.1", 2, &[])), 0);
    let e = fails(&lab, &["addr", "del", "10.0.3.1/24", "dev", "port0"]);
    assert!(e.contains("(EADDRNOTAVAIL)"), "{e}");

    // MTU: a DF packet larger than the new MTU gets "fragmentation needed" with it.
    // (ARP resolved on both sides first, so that no first packet waits on it.)
    assert!(received(&ping(&lab, 0, "10.0.2.2", 3, &[])) >= 1);
    assert_eq!(
        received(&ping(&lab, 0, "10.0.2.2", 2, &["-s", "1300", "-M", "do"])),
        2
    );
    ok(&lab, &["link", "set", "port1", "mtu", "1280"]);
    let out = ping(&lab, 0, "10.0.2.2", 2, &["-s", "1300", "-M", "do"]);
    assert!(
        out.contains("mtu = 1280") || out.contains("mtu=1280"),
        "{out}"
    );
    assert!(ok(&lab, &["link", "show", "port1"]).contains("mtu 1280"));
    let e = fails(&lab, &["link", "set", "port1", "mtu", "20"]);
    assert!(e.contains("(EINVAL)"), "{e}");

    // Down: its routes leave the FIB (net unreachable), frames it receives are dropped.
    ok(&lab, &["link", "set", "port1", "down"]);
    let out = ping(&lab, 0, "10.0.2.2", 2, &[]);
    assert!(out.contains("Destination Net Unreachable"), "{out}");
    assert!(!ok(&lab, &["route", "show"]).contains("10.0.2.0/24"));
    let _ = ping(&lab, 1, "10.0.2.1", 2, &[]);
    assert!(lab.counter("drop port_down") >= 2);
    assert!(ok(&lab, &["link", "show", "port1"]).contains("state DOWN"));
    ok(&lab, &["link", "set", "port1", "up"]);
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 3, &[])), 3);
    lab.assert_pool_back_to(idle);
}

#[test]
fn batch_file_and_route_load() {
    let lab = Lab::start("abt", "");
    let dir = std::env::temp_dir();
    let file = dir.join(format!("ferroute-batch-{}.txt", std::process::id()));
    std::fs::write(
        &file,
        "# comment\nroute add 10.70.0.0/16 via 10.0.2.2\n\nroute add 10.70.0.0/16 via 10.0.2.2\nroute add 10.71.0.0/16 via 10.0.2.2\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let o = lab.cli(&["-batch", f]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Error: route already exists (EEXIST)"),
        "{err}"
    );
    assert!(err.contains(&format!("Command failed {f}:4")), "{err}");
    let show = ok(&lab, &["route", "show"]);
    assert!(
        show.contains("10.70.0.0/16") && !show.contains("10.71.0.0/16"),
        "{show}"
    );
    // -force goes on past errors (still exiting nonzero).
    let o = lab.cli(&["-batch", f, "-force"]);
    assert!(!o.status.success());
    assert!(ok(&lab, &["route", "show"]).contains("10.71.0.0/16"));

    // route load: thousands of `prefix nexthop` lines in atomic batches.
    let mut table = String::new();
    for i in 0..16_000u32 {
        let (p, _) = prefix(i);
        table.push_str(&format!("{p}/24 10.0.2.2\n"));
    }
    std::fs::write(&file, table).unwrap();
    let before = lab.counter("fib_prefixes");
    let out = ok(&lab, &["route", "load", f, "batch", "1000"]);
    assert!(out.starts_with("loaded 16000 routes in"), "{out}");
    assert_eq!(lab.counter("fib_prefixes"), before + 16_000);
    assert!(ok(&lab, &["route", "get", "100.64.7.9"]).contains("via 10.0.2.2 dev port1"));
    // config dump holds every one of them: its text (about 1.1 MB) is longer than one
    // attribute (64 KiB), one part of a reply (256 KiB) and one message (1 MiB).
    let dump = ok(&lab, &["config", "dump"]);
    let loaded = dump
        .lines()
        .filter(|l| l.starts_with("prefix = \"100."))
        .count();
    assert_eq!(loaded, 16_000, "{} octets of dump", dump.len());
    assert!(dump.len() > 1 << 20 && dump.ends_with('\n'));
    // A bad line stops the load with its line number.
    std::fs::write(&file, "100.99.0.0/16 10.0.2.2\nnot-a-prefix 10.0.2.2\n").unwrap();
    let e = fails(&lab, &["route", "load", f]);
    assert!(e.contains(":2: bad prefix"), "{e}");
    let _ = std::fs::remove_file(&file);
    let _ = run(&["true"]);
}
