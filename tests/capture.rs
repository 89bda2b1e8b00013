//! `ferroute capture` against the real router: pings captured while they are forwarded,
//! read back with tcpdump and tshark (addresses, directions, TTL before and after the
//! router), pcapng through a pipe into `tcpdump -r -`, tcpdump-style text, malformed
//! frames and TTL-expired pings captured with their drop reason in the pcapng comment,
//! one capture at a time, a client killed mid-capture, and the pool back to idle.
mod common;

use common::{received, run, text, Lab, BIN};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ping(lab: &Lab, host: usize, dst: &str, count: u32, extra: &[&str]) -> String {
    let c = count.to_string();
    let mut args = vec!["ping", "-n", "-c", &c, "-i", "0.05", "-W", "2"];
    args.extend_from_slice(extra);
    args.push(dst);
    text(&lab.exec(host, &args))
}

/// `ferroute capture ARGS` against the lab's router, running.
fn capture(lab: &Lab, args: &[&str]) -> Child {
    Command::new(BIN)
        .arg("--socket")
        .arg(&lab.socket)
        .arg("capture")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferroute capture")
}

/// Waits for `child` to exit within `secs`; kills it and panics otherwise.
fn finish(mut child: Child, secs: u64) -> Output {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("capture output");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let o = child.wait_with_output().expect("capture output");
    panic!("capture did not end in {secs} s: {}", text(&o));
}

fn pcap(lab: &Lab, tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ferroute-{}-{tag}.pcapng", lab.name))
}

/// Waits until the client has written the file's header blocks: the capture runs.
fn wait_started(file: &Path) {
    assert!(
        Lab::wait_for(Duration::from_secs(10), || std::fs::metadata(file)
            .is_ok_and(|m| m.len() > 0)),
        "capture into {} did not start",
        file.display()
    );
}

/// `tcpdump -n -r FILE [ARGS]`, one line per packet.
fn tcpdump(file: &Path, args: &[&str]) -> Vec<String> {
    let f = file.to_str().unwrap();
    let mut cmd = vec!["tcpdump", "-n", "-r", f];
    cmd.extend_from_slice(args);
    let o = run(&cmd);
    assert!(o.status.success(), "tcpdump -r {f}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// `tshark -r FILE -T fields -e F...`, the fields of each packet.
fn tshark(file: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let f = file.to_str().unwrap();
    let mut cmd = vec!["tshark", "-r", f, "-T", "fields"];
    for x in fields {
        cmd.extend_from_slice(&["-e", x]);
    }
    let o = run(&cmd);
    assert!(o.status.success(), "tshark -r {f}: {}", text(&o));
    // Wireshark's reader says nothing about the file (tshark warns about root only).
    let err = String::from_utf8_lossy(&o.stderr);
    let complaints: Vec<&str> = err
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("Running as user"))
        .collect();
    assert!(complaints.is_empty(), "tshark -r {f}: {err}");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split('\t').map(String::from).collect())
        .collect()
}

fn count(lines: &[String], all: &[&str]) -> usize {
    lines
        .iter()
        .filter(|l| all.iter().all(|w| l.contains(w)))
        .count()
}

#[test]
fn pings_are_captured_as_they_are_forwarded_and_tcpdump_reads_them() {
    let lab = Lab::start("capp", "");
    let idle = lab.counter("mempool_in_use");
    // Resolve the neighbours first, so that only echo requests and replies pass.
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 1, &[])), 1);

    // Both directions of port0, 10 frames: 5 requests in, 5 replies out.
    let both = pcap(&lab, "both");
    let _ = std::fs::remove_file(&both);
    let c = capture(
        &lab,
        &[
            "port0",
            "-c",
            "10",
            "--proto",
            "icmp",
            "-w",
            both.to_str().unwrap(),
        ],
    );
    wait_started(&both);
    let out = ping(&lab, 0, "10.0.2.2", 5, &[]);
    assert_eq!(received(&out), 5, "{out}");
    let o = finish(c, 10);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("10 packets captured"), "{}", text(&o));
    let lines = tcpdump(&both, &[]);
    assert_eq!(lines.len(), 10, "{lines:#?}");
    let req = ["IP 10.0.1.2 > 10.0.2.2: ICMP echo request"];
    let rep = ["IP 10.0.2.2 > 10.0.1.2: ICMP echo reply"];
    assert_eq!(count(&lines, &req), 5, "{lines:#?}");
    assert_eq!(count(&lines, &rep), 5, "{lines:#?}");
    // Directions (epb_flags) and the interface (IDB if_name), as tshark reads them:
    // requests inbound (1), replies outbound (2), all on port0.
    let f = tshark(
        &both,
        &[
            "frame.interface_name",
            "frame.packet_flags_direction",
            "icmp.type",
        ],
    );
    let dirs: Vec<(&str, &str, &str)> = f
        .iter()
        .map(|v| (v[0].as_str(), v[1].as_str(), v[2].as_str()))
        .collect();
    assert_eq!(dirs.len(), 10);
    for d in &dirs {
        assert!(
            *d == ("port0", "0x00000001", "8") || *d == ("port0", "0x00000002", "0"),
            "{dirs:?}"
        );
    }

    // RX only on port0, TX only on port1 at once is two captures: one at a time, so
    // RX of port0 first. What comes in has TTL 64; what port1 sends, TTL 63.
    let rx = pcap(&lab, "rx");
    let _ = std::fs::remove_file(&rx);
    let c = capture(
        &lab,
        &[
            "port0",
            "-c",
            "3",
            "--dir",
            "rx",
            "--proto",
            "icmp",
            "-w",
            rx.to_str().unwrap(),
        ],
    );
    wait_started(&rx);
    // Only one capture at a time: a second is refused (exit 2, as a refused request).
    let busy = capture(&lab, &["port1", "-c", "1"]);
    let b = finish(busy, 10);
    assert_eq!(b.status.code(), Some(2), "{}", text(&b));
    assert!(text(&b).contains("EBUSY"), "{}", text(&b));
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 3, &[])), 3);
    assert!(finish(c, 10).status.success());
    let lines = tcpdump(&rx, &["-v"]);
    let reqs = lines.iter().filter(|l| l.contains("ttl 64")).count();
    assert_eq!(reqs, 3, "three requests, as received: {lines:#?}");
    assert_eq!(count(&lines, &["echo reply"]), 0, "{lines:#?}");
    let dirs = tshark(&rx, &["frame.packet_flags_direction"]);
    assert!(dirs.iter().all(|d| d[0] == "0x00000001"), "{dirs:?}");

    let tx = pcap(&lab, "tx");
    let _ = std::fs::remove_file(&tx);
    let c = capture(
        &lab,
        &[
            "port1",
            "-c",
            "3",
            "--dir",
            "tx",
            "--proto",
            "icmp",
            "-w",
            tx.to_str().unwrap(),
        ],
    );
    wait_started(&tx);
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 3, &[])), 3);
    assert!(finish(c, 10).status.success());
    let lines = tcpdump(&tx, &["-v"]);
    assert_eq!(
        lines.len(),
        6,
        "tcpdump -v prints two lines a packet: {lines:#?}"
    );
    assert_eq!(
        count(&lines, &["ttl 63"]),
        3,
        "forwarded, TTL 63: {lines:#?}"
    );
    let f = tshark(
        &tx,
        &["frame.interface_name", "frame.packet_flags_direction"],
    );
    assert!(
        f.iter().all(|v| v[0] == "port1" && v[1] == "0x00000002"),
        "{f:?}"
    );

    // pcapng on stdout, into tcpdump -r - (the ping outlasts the capture's start).
    let sh = format!(
        "'{BIN}' --socket '{}' capture port0 -c 4 --proto icmp -w - | tcpdump -n -r -",
        lab.socket.display()
    );
    let pipe = Command::new("sh")
        .args(["-c", &sh])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh");
    std::thread::sleep(Duration::from_millis(500));
    let _ = ping(&lab, 0, "10.0.2.2", 20, &[]);
    let o = finish(pipe, 10);
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 4, "{}", text(&o));
    assert_eq!(count(&lines, &["ICMP echo"]), 4, "{lines:#?}");

    // Without -w: a line per packet, as tcpdump prints them.
    let c = capture(
        &lab,
        &["port0", "-c", "2", "--dir", "rx", "--proto", "icmp"],
    );
    std::thread::sleep(Duration::from_millis(500));
    let _ = ping(&lab, 0, "10.0.2.2", 20, &[]);
    let o = finish(c, 10);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    for l in stdout.lines() {
        assert!(
            l.contains(" port0 In  IP 10.0.1.2 > 10.0.2.2: ICMP echo request, id ")
                && l.ends_with("length 64"),
            "{l}"
        );
    }
    for f in [&both, &rx, &tx] {
        let _ = std::fs::remove_file(f);
    }
    lab.assert_pool_back_to(idle);
}

#[test]
fn dropped_frames_are_captured_with_their_reason() {
    // A neighbour that never answers ARP, given up on quickly.
    let lab = Lab::start("capd", "[arp]\nretrans_ms = 200\nmcast_probes = 3\n");
    let idle = lab.counter("mempool_in_use");
    let mac = lab.router_mac(0);
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 1, &[])), 1);
    let file = pcap(&lab, "drops");
    let _ = std::fs::remove_file(&file);
    let c = capture(
        &lab,
        &[
            "port0",
            "--drops",
            "--proto",
            "ip",
            "-w",
            file.to_str().unwrap(),
        ],
    );
    wait_started(&file);
    lab.inject("bad_checksum", 3, &mac, "10.0.1.2", "10.0.2.2");
    lab.inject("ihl4", 2, &mac, "10.0.1.2", "10.0.2.2");
    // TTL 1: dropped and answered with time exceeded (the mbuf becomes the answer).
    let out = ping(&lab, 0, "10.0.2.2", 2, &["-t", "1"]);
    assert!(out.contains("Time to live exceeded"), "{out}");
    // A good ping is forwarded, not dropped: not in a capture of drops.
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 2, &[])), 2);
    // Held for ARP, dropped by the control thread when resolution fails.
    let out = ping(&lab, 0, "10.0.2.99", 1, &[]);
    assert!(out.contains("Destination Host Unreachable"), "{out}");
    assert!(Lab::wait_for(Duration::from_secs(5), || {
        let c = lab.counters();
        c["drop ip4_bad_ihl"] == 2 && c["drop neigh_failed"] == 1
    }));
    std::thread::sleep(Duration::from_millis(100));
    // Ctrl-C ends it cleanly, with the counts.
    let _ = run(&["kill", "-INT", &c.id().to_string()]);
    let o = finish(c, 10);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("8 packets captured"), "{}", text(&o));
    assert!(
        text(&o).contains("0 packets dropped by ferroute"),
        "{}",
        text(&o)
    );
    let f = tshark(&file, &["frame.comment", "frame.packet_flags_direction"]);
    let mut reasons: Vec<&str> = f.iter().map(|v| v[0].as_str()).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "ip4_bad_checksum",
            "ip4_bad_checksum",
            "ip4_bad_checksum",
            "ip4_bad_ihl",
            "ip4_bad_ihl",
            "ip4_ttl_exceeded",
            "ip4_ttl_exceeded",
            "neigh_failed"
        ],
        "{f:?}"
    );
    assert!(f.iter().all(|v| v[1] == "0x00000001"), "{f:?}");
    // tcpdump reads the same file: 8 frames, the expired pings among them.
    let lines = tcpdump(&file, &[]);
    assert_eq!(lines.len(), 8, "{lines:#?}");
    assert_eq!(
        count(&lines, &["10.0.1.2 > 10.0.2.99: ICMP echo request"]),
        1
    );
    assert_eq!(
        count(&lines, &["10.0.1.2 > 10.0.2.2: ICMP echo request"]),
        2
    );
    let _ = std::fs::remove_file(&file);
    lab.assert_pool_back_to(idle);
}

#[test]
fn a_client_that_dies_stops_the_capture() {
    let lab = Lab::start("capk", "");
    let idle = lab.counter("mempool_in_use");
    let file = pcap(&lab, "killed");
    let _ = std::fs::remove_file(&file);
    let mut c = capture(&lab, &["port0", "-w", file.to_str().unwrap()]);
    wait_started(&file);
    // A flood is copied while the client lives...
    let _ = lab.exec(0, &["ping", "-n", "-f", "-c", "500", "-W", "1", "10.0.2.2"]);
    c.kill().expect("kill -9 the client");
    let _ = c.wait();
    // ...and the router lets go of the capture: a new one may start at once.
    let again = pcap(&lab, "again");
    let _ = std::fs::remove_file(&again);
    let c2 = capture(
        &lab,
        &[
            "port0",
            "-c",
            "2",
            "--proto",
            "icmp",
            "-w",
            again.to_str().unwrap(),
        ],
    );
    wait_started(&again);
    assert_eq!(received(&ping(&lab, 0, "10.0.2.2", 1, &[])), 1);
    let o = finish(c2, 10);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(tcpdump(&again, &[]).len(), 2);
    // The flood went through: nothing the capture did held it up.
    assert!(lab.counter("port port0 forwarded") >= 500);
    for f in [&file, &again] {
        let _ = std::fs::remove_file(f);
    }
    lab.assert_pool_back_to(idle);
}
