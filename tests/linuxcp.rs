//! The exception path to the kernel twins and the kernel-table mirror (`[linux_cp]`),
//! against the real kernel: twins in a control-plane namespace, TCP from h1 to a
//! listener there, routes added with `ip route` in that namespace reaching the FIB.
mod common;

use common::{text, Lab, NetnsGuard};
use std::time::{Duration, Instant};

fn cp_config(ns: &NetnsGuard) -> String {
    format!("[linux_cp]\nenabled = true\nnetns = \"{}\"\n", ns.0)
}

fn link_json(ns: &NetnsGuard, dev: &str) -> String {
    text(&ns.exec(&["ip", "-j", "-d", "link", "show", "dev", dev]))
}

fn addrs(ns: &NetnsGuard, dev: &str) -> String {
    text(&ns.exec(&["ip", "-4", "-o", "addr", "show", "dev", dev]))
}

#[test]
fn each_port_has_a_kernel_twin_kept_in_step_with_the_api() {
    let ns = NetnsGuard::new("tw");
    let lab = Lab::start("cptwin", &cp_config(&ns));
    for (i, dev) in ["port0", "port1"].iter().enumerate() {
        let j = link_json(&ns, dev);
        let mac = lab.router_mac(i);
        assert!(
            j.contains(&format!("\"address\":\"{mac}\"")),
            "{dev} MAC {mac}: {j}"
        );
        assert!(j.contains("\"NOARP\""), "{dev} does no ARP: {j}");
        assert!(j.contains("\"UP\""), "{dev} is up: {j}");
        assert!(j.contains("\"mtu\":1500"), "{dev} MTU: {j}");
        assert!(addrs(&ns, dev).contains(&format!("10.0.{}.1/24", i + 1)));
    }
    assert!(link_json(&ns, "lo").contains("\"UP\""), "lo is up");
    let fwd = ns.exec(&["cat", "/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(text(&fwd).trim(), "0", "the kernel does not forward");

    // Changes through the API reach the twin.
    let o = lab.cli(&["addr", "add", "10.0.3.1/24", "dev", "port0"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = lab.cli(&["link", "set", "port1", "mtu", "1400"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        Lab::wait_for(Duration::from_secs(2), || addrs(&ns, "port0")
            .contains("10.0.3.1/24")
            && link_json(&ns, "port1").contains("\"mtu\":1400")),
        "twins follow: {} / {}",
        addrs(&ns, "port0"),
        link_json(&ns, "port1")
    );
    let o = lab.cli(&["addr", "del", "10.0.3.1/24", "dev", "port0"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = lab.cli(&["link", "set", "port1", "down"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        Lab::wait_for(Duration::from_secs(2), || !addrs(&ns, "port0")
            .contains("10.0.3.1")
            && !link_json(&ns, "port1").contains("\"UP\"")),
        "twins follow: {} / {}",
        addrs(&ns, "port0"),
        link_json(&ns, "port1")
    );
}

#[test]
fn tcp_and_udp_to_the_router_reach_the_kernel_and_echo_stays_in_the_datapath() {
    let ns = NetnsGuard::new("tcp");
    let lab = Lab::start("cptcp", &cp_config(&ns));
    let idle = lab.counter("mempool_in_use");
    // A TCP echo server in the control-plane namespace, on the router's address.
    let server = r#"
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.1.1", 7777)); s.listen(1); s.settimeout(20)
c, a = s.accept(); c.settimeout(20)
data = b""
while len(data) < 200000:
    d = c.recv(65536)
    if not d: break
    data += d
c.sendall(b"got %d from %s" % (len(data), a[0].encode())); c.close()
"#;
    let mut srv = ns.spawn(&["python3", "-c", server]);
    std::thread::sleep(Duration::from_millis(500));
    // 200 kB from h1: many full-size segments each way through the twin.
    let client = r#"
import socket
c = socket.create_connection(("10.0.1.1", 7777), timeout=20)
c.sendall(b"x" * 200000); c.shutdown(socket.SHUT_WR)
print(c.recv(100).decode())
"#;
    let t = Instant::now();
    let o = lab.exec(0, &["python3", "-c", client]);
    let took = t.elapsed();
    let _ = srv.wait();
    assert!(
        text(&o).contains("got 200000 from 10.0.1.2"),
        "TCP through the twin: {}\nlog:\n{}",
        text(&o),
        lab.log_text()
    );
    eprintln!("200 kB over TCP to the twin in {took:?}");
    // UDP, and the kernel's answer to a closed port comes back through ferroute.
    let udp = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.connect(("10.0.1.1", 9)); s.send(b"x")
try:
    s.recv(10); print("answer")
except ConnectionRefusedError:
    print("refused")
"#;
    let o = lab.exec(0, &["python3", "-c", udp]);
    assert!(
        text(&o).contains("refused"),
        "kernel's port unreachable: {}",
        text(&o)
    );
    // A UDP datagram in fragments is reassembled and handed to the kernel whole.
    let udp_srv = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10)
s.bind(("10.0.1.1", 7778))
d, a = s.recvfrom(65536); print("udp %d from %s" % (len(d), a[0]))
"#;
    let srv = ns.spawn(&["python3", "-c", udp_srv]);
    std::thread::sleep(Duration::from_millis(300));
    let send = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"y" * 4000, ("10.0.1.1", 7778))
"#;
    lab.exec(0, &["python3", "-c", send]);
    let got = srv.wait_with_output().expect("udp server");
    assert!(
        text(&got).contains("udp 4000 from 10.0.1.2"),
        "fragmented UDP to the twin: {}",
        text(&got)
    );
    // The kernel's own ping: its echo replies come back through the twin.
    let o = ns.exec(&["ping", "-c", "2", "-i", "0.2", "-W", "1", "10.0.1.2"]);
    assert_eq!(
        common::received(&text(&o)),
        2,
        "ping from the cp namespace: {}",
        text(&o)
    );
    // Echo is answered by the datapath: the twin never sees it.
    let before = lab.counter("linux_cp_to_kernel");
    let o = lab.exec(0, &["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.1.1"]);
    assert_eq!(common::received(&text(&o)), 3, "{}", text(&o));
    assert_eq!(
        lab.counter("linux_cp_to_kernel"),
        before,
        "echo stays in the datapath"
    );
    assert!(before > 100, "the TCP segments went to the twin: {before}");
    // What the kernel sends that is not IPv4 is dropped by reason (a raw frame of an
    // unknown EtherType written to the twin by a packet socket in the namespace).
    let raw = r#"
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("port0", 0))
for _ in range(3):
    s.send(b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x09" + b"\x88\xb5" + b"\x00" * 46)
"#;
    let o = ns.exec(&["python3", "-c", raw]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        Lab::wait_for(Duration::from_secs(2), || lab.counter("drop twin_not_ipv4")
            >= 3),
        "twin_not_ipv4: {}",
        lab.counter("drop twin_not_ipv4")
    );
    lab.assert_pool_back_to(idle);
}

#[test]
fn routes_in_the_kernel_table_are_mirrored_with_their_protocol() {
    let ns = NetnsGuard::new("mir");
    // One route exists before the router starts: the dump at start takes it.
    let lab = Lab::start("cpmirror", &cp_config(&ns));
    // h2 answers for 10.77.0.1, behind it.
    lab.exec(1, &["ip", "addr", "add", "10.77.0.1/32", "dev", "lo"]);
    let add = ns.exec(&[
        "ip",
        "route",
        "add",
        "10.77.0.0/16",
        "via",
        "10.0.2.2",
        "proto",
        "bird",
        "metric",
        "32",
    ]);
    assert!(add.status.success(), "{}", text(&add));
    let shown = |lab: &Lab| text(&lab.cli(&["route", "show", "10.77.0.0/16"]));
    assert!(
        Lab::wait_for(Duration::from_secs(1), || shown(&lab)
            .contains("10.77.0.0/16 via 10.0.2.2 dev port1 proto bird metric 32")),
        "mirrored: {:?}",
        shown(&lab)
    );
    let o = lab.exec(0, &["ping", "-c", "2", "-i", "0.2", "-W", "1", "10.77.0.1"]);
    assert_eq!(common::received(&text(&o)), 2, "{}", text(&o));
    // The twins' own connected routes (proto kernel) are not echoed back.
    let all = text(&lab.cli(&["-j", "route"]));
    assert_eq!(all.matches("\"10.0.2.0/24\"").count(), 1, "{all}");
    // Delete: gone within 1 s.
    let t = Instant::now();
    let del = ns.exec(&["ip", "route", "del", "10.77.0.0/16"]);
    assert!(del.status.success(), "{}", text(&del));
    assert!(
        Lab::wait_for(Duration::from_secs(1), || !shown(&lab).contains("10.77")),
        "withdrawn: {:?}",
        shown(&lab)
    );
    eprintln!("kernel route delete reached the FIB in {:?}", t.elapsed());
}
