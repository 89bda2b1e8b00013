//! The command line as an iproute2 user types it: exit codes (1 usage, 2 refused),
//! abbreviations, `route flush`, `monitor`, and client options that never start a
//! router.
mod common;

use common::{run, text, Lab, BIN};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn no_command_and_client_options_never_start_a_router() {
    let dir = std::env::temp_dir();
    let cfg = dir.join(format!("ferroute-cli-{}.toml", std::process::id()));
    let sock = dir.join(format!("ferroute-cli-{}.sock", std::process::id()));
    let toml = ferroute::config::DEFAULT_CONFIG.replace(
        "socket = \"/run/ferroute/ferroute.sock\"",
        &format!("socket = \"{}\"", sock.display()),
    );
    assert!(
        toml.contains(&sock.display().to_string()),
        "socket key not found"
    );
    std::fs::write(&cfg, toml).unwrap();
    let c = cfg.to_str().unwrap();
    let t = Instant::now();
    // `ferroute` alone: the usage on stderr, exit 1 (`ip` alone exits 255).
    let o = run(&[BIN]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("usage: ferroute run"), "{}", text(&o));
    // `ferroute -s link` is `ip -s link`: a client, here without a router to reach.
    for args in [
        vec!["-s", "link", "-c", c],
        vec!["-stats", "qdisc", "-c", c],
        vec!["-j", "ro", "sh", "-c", c],
    ] {
        let o = run(&[&[BIN][..], &args].concat());
        assert_eq!(code(&o), 1, "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains("cannot reach the router"),
            "{args:?}: {}",
            text(&o)
        );
        assert!(
            !text(&o).contains("EAL"),
            "{args:?} started a router: {}",
            text(&o)
        );
    }
    assert!(t.elapsed() < Duration::from_secs(10), "no EAL was started");
    // Unknown objects and options are usage errors, found before connecting.
    let o = run(&[BIN, "bogus", "-c", c]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        text(&o).trim(),
        "Object \"bogus\" is unknown, try \"ferroute help\"."
    );
    // iproute2's precedence: `m` is maddress (which ferroute lacks), not monitor.
    let o = run(&[BIN, "m", "-c", c]);
    assert_eq!(code(&o), 1);
    assert!(
        text(&o).contains("\"maddress\" is not supported"),
        "{}",
        text(&o)
    );
    let o = run(&[BIN, "-x", "route"]);
    assert_eq!(code(&o), 1);
    let o = run(&[BIN, "run", "extra"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let o = run(&[BIN, "help"]);
    assert_eq!(code(&o), 0);
    std::fs::remove_file(&cfg).unwrap();
}

/// A `ferroute monitor` running in the background, its lines on a channel.
struct Monitor {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Monitor {
    fn start(lab: &Lab, args: &[&str]) -> Monitor {
        let mut child = Command::new(BIN)
            .arg("monitor")
            .args(args)
            .arg("--socket")
            .arg(&lab.socket)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ferroute monitor");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        // Subscribed once it answers nothing for a moment (the ack comes first).
        std::thread::sleep(Duration::from_millis(300));
        Monitor {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits up to 5 s for a line equal to `want`.
    fn expect(&mut self, want: &str) {
        self.expect_match(|l| l == want)
    }

    /// Waits up to 5 s for a line for which `f` holds.
    fn expect_match(&mut self, f: impl Fn(&str) -> bool) {
        let end = Instant::now() + Duration::from_secs(5);
        while !self.seen.iter().any(|l| f(l)) {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!("monitor: line not seen; got:\n{}", self.seen.join("\n")),
            }
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn exit_codes_abbreviations_flush_and_monitor() {
    let lab = Lab::start("cli", "");
    let ok = |args: &[&str]| -> String {
        let o = lab.cli(args);
        assert!(o.status.success(), "ferroute {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let mut mon = Monitor::start(&lab, &[]);
    let mut routes = Monitor::start(&lab, &["ro"]);

    // Refused by the router: 2 and iproute2's "Error: ... (ERRNO)".
    ok(&["ro", "a", "10.9.0.0/16", "via", "10.0.2.2"]);
    let o = lab.cli(&["route", "add", "10.9.0.0/16", "via", "10.0.2.2"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert_eq!(text(&o).trim(), "Error: route already exists (EEXIST)");
    let o = lab.cli(&["neigh", "del", "10.0.2.99", "dev", "port1"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    // Usage errors: 1.
    let o = lab.cli(&["route", "bogus"]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        text(&o).trim(),
        "Command \"bogus\" is unknown, try \"ferroute route help\"."
    );
    let o = lab.cli(&["route", "add", "10.0.0.0/33", "via", "10.0.2.2"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let o = lab.cli(&["route", "flush"]);
    assert_eq!(code(&o), 1, "flush needs a selector: {}", text(&o));

    // Abbreviations, with iproute2's precedence.
    let show = ok(&["route", "show"]);
    assert!(show.contains("10.9.0.0/16 via 10.0.2.2 dev port1 proto static\n"));
    for args in [
        &["ro"][..],
        &["r"],
        &["ro", "sh"],
        &["r", "l"],
        &["ro", "lst"],
    ] {
        assert_eq!(ok(args), show, "{args:?}");
    }
    assert_eq!(ok(&["ne"]), ok(&["neighbour", "show"]));
    assert_eq!(ok(&["a"]), ok(&["address", "show"]));
    assert_eq!(ok(&["l", "sh"]), ok(&["link", "show"]));
    ok(&[
        "ne",
        "a",
        "10.0.2.9",
        "lladdr",
        "02:00:00:00:02:09",
        "dev",
        "port1",
    ]);
    ok(&["a", "a", "10.0.5.1/24", "dev", "port0"]);
    ok(&["l", "s", "port0", "mtu", "1400"]);
    ok(&[
        "q", "replace", "dev", "port1", "root", "tbf", "rate", "10mbit", "burst", "16kb",
        "latency", "20ms",
    ]);
    ok(&["ro", "del", "10.9.0.0/16"]);
    ok(&["ne", "d", "10.0.2.9", "dev", "port1"]);
    ok(&["a", "d", "10.0.5.1/24", "dev", "port0"]);

    // The monitor saw each change as `ip monitor` prints it.
    for m in [&mut mon, &mut routes] {
        m.expect("10.9.0.0/16 via 10.0.2.2 dev port1 proto static");
        m.expect("Deleted 10.9.0.0/16 via 10.0.2.2 dev port1 proto static");
        m.expect("10.0.5.0/24 dev port0 proto kernel scope link src 10.0.5.1");
        m.expect("local 10.0.5.1 dev port0 table local proto kernel scope host src 10.0.5.1");
        m.expect("Deleted broadcast 10.0.5.255 dev port0 table local proto kernel scope link src 10.0.5.1");
    }
    mon.expect("10.0.2.9 dev port1 lladdr 02:00:00:00:02:09 PERMANENT");
    mon.expect("Deleted 10.0.2.9 dev port1 lladdr 02:00:00:00:02:09 PERMANENT");
    mon.expect("1: port0    inet 10.0.5.1/24 brd 10.0.5.255 scope global port0");
    mon.expect("Deleted 1: port0    inet 10.0.5.1/24 brd 10.0.5.255 scope global port0");
    mon.expect_match(|l| l.starts_with("1: port0: <") && l.contains(" mtu 1400 "));
    mon.expect_match(|l| l.starts_with("qdisc tbf ") && l.contains(" dev port1 root rate 10Mbit"));
    // Nothing but routes reached the route monitor.
    assert!(
        routes
            .seen
            .iter()
            .all(|l| !l.contains("lladdr") && !l.contains("inet ")),
        "{:?}",
        routes.seen
    );

    // route flush: what `route show SELECTOR` lists goes, in one batch.
    for p in ["10.20.0.0/16", "10.21.0.0/16", "10.30.1.0/24"] {
        ok(&["route", "add", p, "via", "10.0.2.2"]);
    }
    ok(&["route", "flush", "root", "10.20.0.0/15", "proto", "static"]);
    let show = ok(&["route"]);
    assert!(
        !show.contains("10.20.0.0/16") && !show.contains("10.21.0.0/16"),
        "{show}"
    );
    assert!(show.contains("10.30.1.0/24"), "{show}");
    routes.expect("Deleted 10.21.0.0/16 via 10.0.2.2 dev port1 proto static");
    ok(&["ro", "f", "proto", "static"]);
    let show = ok(&["route"]);
    assert!(!show.contains("proto static"), "{show}");
    assert!(
        show.contains("10.0.1.0/24 dev port0 proto kernel"),
        "{show}"
    );

    // A monitor that goes away leaves the router answering.
    drop(mon);
    drop(routes);
    std::thread::sleep(Duration::from_millis(300));
    ok(&["route"]);
    ok(&["counters"]);
}

#[test]
fn man_page_and_completion_are_well_formed() {
    let root = env!("CARGO_MANIFEST_DIR");
    let man = format!("{root}/dist/man/ferroute.8");
    let o = run(&["groff", "-man", "-ww", "-z", &man]);
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "groff: {}",
        text(&o)
    );
    let page = std::fs::read_to_string(&man).unwrap();
    for word in [
        "route",
        "flush",
        "monitor",
        "neigh",
        "qdisc",
        "\\-\\-log\\-level",
        "78",
        "69",
    ] {
        assert!(page.contains(word), "man page lacks {word}");
    }
    let comp = format!("{root}/dist/bash-completion/ferroute");
    let o = run(&["bash", "-n", &comp]);
    assert!(o.status.success(), "completion: {}", text(&o));
    // The completion offers the top-level commands for `ferroute <TAB>`.
    let o = run(&[
        "bash",
        "-c",
        &format!(
            "source {comp}; COMP_WORDS=(ferroute ''); COMP_CWORD=1; _ferroute; echo \"${{COMPREPLY[@]}}\""
        ),
    ]);
    let offered = String::from_utf8_lossy(&o.stdout);
    for w in ["run", "route", "monitor", "qdisc"] {
        assert!(offered.split_whitespace().any(|x| x == w), "{offered}");
    }
}
