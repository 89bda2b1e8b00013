//! BGP and OSPF with the real BIRD 2 (Debian's bird2) in the control-plane namespace:
//! sessions run over the kernel twins through ferroute's ports, BIRD's `protocol
//! kernel` installs what it learns in the namespace's table, and the mirror brings it
//! into ferroute's FIB. The namespace has ip_forward=0: ferroute forwards, not the kernel.
mod common;

use common::{run, text, Lab, NetnsGuard};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A BIRD daemon in a namespace, with its own config, control socket and log; killed
/// when dropped.
struct Bird {
    ns: String,
    conf: PathBuf,
    sock: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Bird {
    fn start(ns: &str, tag: &str, conf: &str) -> Bird {
        let dir = std::env::temp_dir();
        let id = format!("{tag}{}", std::process::id());
        let b = Bird {
            ns: ns.into(),
            conf: dir.join(format!("fr-bird-{id}.conf")),
            sock: dir.join(format!("fr-bird-{id}.ctl")),
            log: dir.join(format!("fr-bird-{id}.log")),
            child: None,
        };
        let conf = format!("log \"{}\" all;\n{conf}", b.log.display());
        std::fs::write(&b.conf, conf).expect("write bird.conf");
        b.spawn()
    }

    fn spawn(mut self) -> Bird {
        let _ = std::fs::remove_file(&self.log);
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "bird", "-f", "-c"])
            .arg(&self.conf)
            .arg("-s")
            .arg(&self.sock)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bird");
        self.child = Some(child);
        let running = Lab::wait_for(Duration::from_secs(5), || {
            self.birdc(&["show", "status"]).contains("Daemon is up")
        });
        if !running {
            let err = match self.child.take().map(|c| c.wait_with_output()) {
                Some(Ok(o)) => text(&o),
                _ => String::new(),
            };
            panic!("bird did not start: {err}\n{}", self.log_text());
        }
        self
    }

    fn birdc(&self, cmd: &[&str]) -> String {
        let sock = self.sock.display().to_string();
        let mut v = vec!["birdc", "-s", &sock];
        v.extend_from_slice(cmd);
        text(&run(&v))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until protocol `name` is Established (BGP) or Running with a Full
    /// neighbour (OSPF); how long it took.
    fn wait_up(&self, name: &str, timeout: Duration) -> Duration {
        let t = Instant::now();
        let up = Lab::wait_for(timeout, || {
            let s = self.birdc(&["show", "protocols", name]);
            s.contains("Established") || (s.contains("Running") && !s.contains("bgp"))
        });
        assert!(
            up,
            "{name} not up: {}\n{}",
            self.birdc(&["show", "protocols", "all", name]),
            self.log_text()
        );
        t.elapsed()
    }

    /// Stops it gracefully (`birdc down`: its kernel routes are removed).
    fn down(&mut self) {
        let _ = self.birdc(&["down"]);
        if let Some(mut c) = self.child.take() {
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.conf);
        let _ = std::fs::remove_file(&self.sock);
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

fn cp_config(ns: &NetnsGuard) -> String {
    format!("[linux_cp]\nenabled = true\nnetns = \"{}\"\n", ns.0)
}

/// Fast timers, so sessions come up and recover in about a second.
const BGP_TIMERS: &str =
    "hold time 6; keepalive time 2; connect retry time 1; error wait time 1, 2;";

/// The router's BIRD: BGP to h2 (10.0.2.2) and whatever `more` adds; everything
/// learnt goes to the kernel table (the mirror takes it from there).
fn cp_bird(ns: &str, more: &str) -> Bird {
    let conf = format!(
        r#"
router id 10.0.2.1;
protocol device {{ scan time 1; }}
protocol kernel {{ ipv4 {{ import none; export all; }}; merge paths on; }}
protocol bgp h2 {{
    local 10.0.2.1 as 65001; neighbor 10.0.2.2 as 65002; {BGP_TIMERS}
    ipv4 {{ import all; export none; }};
}}
{more}
"#
    );
    Bird::start(ns, "cp", &conf)
}

/// h2's BIRD: announces the static routes in `routes` (BIRD syntax) to the router.
fn h2_bird(ns: &str, routes: &str) -> Bird {
    let conf = format!(
        r#"
router id 10.0.2.2;
protocol device {{ scan time 1; }}
protocol static st {{ ipv4; {routes} }}
protocol bgp uplink {{
    local 10.0.2.2 as 65002; neighbor 10.0.2.1 as 65001; {BGP_TIMERS}
    ipv4 {{ import none; export all; }};
}}
"#
    );
    Bird::start(ns, "h2", &conf)
}

fn bird_routes(lab: &Lab) -> usize {
    text(&lab.cli(&["route", "show", "proto", "bird"]))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

#[test]
fn bgp_routes_from_a_peer_reach_the_fib_and_leave_on_withdraw() {
    let ns = NetnsGuard::new("bgp");
    let lab = Lab::start("birdbgp", &cp_config(&ns));
    let idle = lab.counter("mempool_in_use");
    lab.exec(1, &["ip", "addr", "add", "10.88.0.1/32", "dev", "lo"]);
    let fwd = text(&ns.exec(&["cat", "/proc/sys/net/ipv4/ip_forward"]));
    assert_eq!(
        fwd.trim(),
        "0",
        "the kernel in the cp namespace does not forward"
    );

    let mut cp = cp_bird(&ns.0, "");
    let h2 = h2_bird(
        &lab.hosts[1].ns,
        "route 10.88.0.0/16 blackhole; route 10.89.0.0/24 blackhole;",
    );
    let up = cp.wait_up("h2", Duration::from_secs(20));
    eprintln!("BGP session up in {up:?}");
    let shown = |lab: &Lab| text(&lab.cli(&["route", "show", "proto", "bird"]));
    assert!(
        Lab::wait_for(Duration::from_secs(5), || shown(&lab)
            .contains("10.88.0.0/16 via 10.0.2.2 dev port1 proto bird metric 32")),
        "BGP route in ferroute: {:?}\nkernel: {}\nbird: {}",
        shown(&lab),
        text(&ns.exec(&["ip", "route"])),
        cp.birdc(&["show", "route"])
    );
    // h1 reaches the announced prefix through ferroute.
    let o = lab.exec(0, &["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.88.0.1"]);
    assert_eq!(common::received(&text(&o)), 3, "{}", text(&o));

    // A withdraw removes the route within 1 s.
    let t = Instant::now();
    h2.birdc(&["disable", "st"]);
    assert!(
        Lab::wait_for(Duration::from_secs(1), || !shown(&lab)
            .contains("10.88.0.0/16")),
        "withdrawn within 1 s: {:?}",
        shown(&lab)
    );
    eprintln!("withdraw reached the FIB in {:?}", t.elapsed());
    h2.birdc(&["enable", "st"]);
    assert!(Lab::wait_for(Duration::from_secs(5), || bird_routes(&lab) == 2));

    // Restarting BIRD leaves no stale routes, and brings them back.
    cp.down();
    assert!(
        Lab::wait_for(Duration::from_secs(2), || bird_routes(&lab) == 0),
        "stale after BIRD stopped: {:?}",
        shown(&lab)
    );
    let cp = cp.spawn();
    let t = Instant::now();
    cp.wait_up("h2", Duration::from_secs(20));
    assert!(Lab::wait_for(Duration::from_secs(5), || bird_routes(&lab) == 2));
    eprintln!("BIRD restart: routes back in {:?}", t.elapsed());
    drop(h2);
    drop(cp);
    lab.assert_pool_back_to(idle);
}

#[test]
fn ospf_adjacency_over_port0_installs_routes() {
    let ns = NetnsGuard::new("ospf");
    let lab = Lab::start("birdospf", &cp_config(&ns));
    let idle = lab.counter("mempool_in_use");
    lab.exec(0, &["ip", "addr", "add", "10.99.0.1/32", "dev", "lo"]);
    let ospf = |iface: &str| {
        format!(
            r#"protocol ospf v2 o {{
    ipv4 {{ import all; export none; }};
    area 0 {{
        interface "{iface}" {{ type ptp; hello 1; dead 4; }};
        interface "lo" {{ stub yes; }};
    }};
}}"#
        )
    };
    let cp = cp_bird(&ns.0, &ospf("port0"));
    let h1_conf = format!(
        "router id 10.0.1.2;\nprotocol device {{ scan time 1; }}\n{}\n",
        ospf(&lab.hosts[0].tap)
    );
    let h1 = Bird::start(&lab.hosts[0].ns, "h1", &h1_conf);
    let t = Instant::now();
    let full = Lab::wait_for(Duration::from_secs(30), || {
        cp.birdc(&["show", "ospf", "neighbors"]).contains("Full")
    });
    assert!(
        full,
        "OSPF adjacency: {}\ncp log: {}\nh1 log: {}",
        cp.birdc(&["show", "ospf", "neighbors"]),
        cp.log_text(),
        h1.log_text()
    );
    eprintln!("OSPF adjacency Full in {:?}", t.elapsed());
    let shown = |lab: &Lab| text(&lab.cli(&["route", "show", "proto", "bird"]));
    assert!(
        Lab::wait_for(Duration::from_secs(10), || shown(&lab)
            .contains("10.99.0.1 via 10.0.1.2 dev port0 proto bird")),
        "OSPF route in ferroute: {:?}\nbird: {}",
        shown(&lab),
        cp.birdc(&["show", "route"])
    );
    eprintln!("OSPF route in the FIB {:?} after start", t.elapsed());
    let o = lab.exec(1, &["ping", "-c", "2", "-i", "0.2", "-W", "1", "10.99.0.1"]);
    assert_eq!(common::received(&text(&o)), 2, "{}", text(&o));
    drop(h1);
    drop(cp);
    lab.assert_pool_back_to(idle);
}

#[test]
fn a_100k_route_feed_reaches_the_fib_and_comes_back_after_a_router_restart() {
    const N: usize = 100_000;
    let ns = NetnsGuard::new("full");
    let mut lab = Lab::start("birdfull", &cp_config(&ns));
    let mut routes = String::new();
    for i in 0..N {
        // 30.0.0.0/24 .. 31.134.159.0/24: only ever inside the test's namespaces.
        let (a, b, c) = (30 + i / 65536, i / 256 % 256, i % 256);
        routes.push_str(&format!("route {a}.{b}.{c}.0/24 blackhole;\n"));
    }
    let base = lab.counter("fib_prefixes") as usize;
    let cp = cp_bird(&ns.0, "");
    let t = Instant::now();
    let h2 = h2_bird(&lab.hosts[1].ns, &routes);
    cp.wait_up("h2", Duration::from_secs(30));
    let all = Lab::wait_for(Duration::from_secs(120), || {
        lab.counter("fib_prefixes") as usize >= base + N
    });
    assert!(
        all,
        "{} of {N} routes in the FIB; mirror: {:?}",
        lab.counter("fib_prefixes") as usize - base,
        text(&lab.cli(&["counters"]))
            .lines()
            .filter(|l| l.starts_with("linux_cp"))
            .collect::<Vec<_>>()
    );
    eprintln!(
        "{N} BGP routes from BIRD start to ferroute's FIB in {:?} (resyncs {})",
        t.elapsed(),
        lab.counter("linux_cp_mirror_resyncs")
    );
    // A router restart: its twins go and come back, BIRD re-exports, the mirror's dump
    // and events rebuild the table.
    let t = Instant::now();
    lab.restart();
    let idle = lab.counter("mempool_in_use");
    let back = Lab::wait_for(Duration::from_secs(120), || {
        lab.counter("fib_prefixes") as usize >= base + N
    });
    assert!(back, "{} routes after restart", lab.counter("fib_prefixes"));
    eprintln!(
        "after a router restart, {N} routes back in {:?}",
        t.elapsed()
    );
    drop(h2);
    drop(cp);
    lab.assert_pool_back_to(idle);
}

#[test]
fn an_ecmp_route_from_two_bgp_peers_is_installed_as_multipath() {
    let ns = NetnsGuard::new("ecmp");
    let lab = Lab::start("birdecmp", &cp_config(&ns));
    let idle = lab.counter("mempool_in_use");
    // A second peer on h2's link: 10.0.2.3, its own BIRD bound to that address.
    let h2 = &lab.hosts[1];
    let o = lab.exec(1, &["ip", "addr", "add", "10.0.2.3/24", "dev", &h2.tap]);
    assert!(o.status.success(), "{}", text(&o));
    lab.exec(1, &["ip", "addr", "add", "10.90.0.1/32", "dev", "lo"]);
    let peer = |me: &str| {
        format!(
            r#"
router id {me};
protocol device {{ scan time 1; }}
protocol static st {{ ipv4; route 10.90.0.0/16 blackhole; }}
protocol bgp uplink {{
    local {me} as 65002; neighbor 10.0.2.1 as 65001; strict bind yes; {BGP_TIMERS}
    ipv4 {{ import none; export all; }};
}}
"#
        )
    };
    let p2 = Bird::start(&h2.ns, "h2a", &peer("10.0.2.2"));
    let p3 = Bird::start(&h2.ns, "h2b", &peer("10.0.2.3"));
    let second = format!(
        r#"protocol bgp h3 {{
    local 10.0.2.1 as 65001; neighbor 10.0.2.3 as 65002; {BGP_TIMERS}
    ipv4 {{ import all; export none; }};
}}"#
    );
    let cp = cp_bird(&ns.0, &second);
    cp.wait_up("h2", Duration::from_secs(20));
    cp.wait_up("h3", Duration::from_secs(20));
    let shown = |lab: &Lab| text(&lab.cli(&["route", "show", "10.90.0.0/16"]));
    assert!(
        Lab::wait_for(Duration::from_secs(5), || {
            let s = shown(&lab);
            s.contains("nexthop via 10.0.2.2 dev port1")
                && s.contains("nexthop via 10.0.2.3 dev port1")
        }),
        "multipath in ferroute: {:?}\nkernel: {}\nbird: {}",
        shown(&lab),
        text(&ns.exec(&["ip", "route", "show", "10.90.0.0/16"])),
        cp.birdc(&["show", "route", "all"])
    );
    let o = lab.exec(0, &["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.90.0.1"]);
    assert_eq!(common::received(&text(&o)), 3, "{}", text(&o));
    // One peer goes: the route keeps the other path only.
    drop(p3);
    assert!(
        Lab::wait_for(Duration::from_secs(10), || {
            let s = shown(&lab);
            !s.contains("10.0.2.3") && s.contains("10.0.2.2")
        }),
        "one path left: {:?}",
        shown(&lab)
    );
    drop(p2);
    drop(cp);
    lab.assert_pool_back_to(idle);
}
