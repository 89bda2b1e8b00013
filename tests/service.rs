//! Service life: systemd's notify protocol (READY=1 once the ports are up, STOPPING=1
//! at shutdown), journald priority prefixes, log levels, exit codes, and a stderr that
//! breaks. Under systemd as PID 1 the router runs as a `systemd-run` transient
//! `Type=notify` unit; otherwise (containers, these VMs) the test is systemd: it binds
//! a NOTIFY_SOCKET of its own and reads the datagrams.
mod common;

use common::{free_local_addr, run, text, Lab, Layout, BIN};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn systemd_is_pid1() -> bool {
    std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd")
}

/// Datagrams on `sock` until one contains `want` (or 30 s pass).
fn wait_for(sock: &UnixDatagram, want: &str, got: &mut Vec<String>) -> bool {
    let end = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        if got.iter().any(|m| m.lines().any(|l| l == want)) {
            return true;
        }
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).to_string());
        }
    }
    false
}

#[test]
fn notify_ready_once_ports_are_up_then_stopping_with_journal_prefixes() {
    if systemd_is_pid1() {
        return under_systemd_run();
    }
    let path = std::env::temp_dir().join(format!("ferroute-notify-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).expect("bind NOTIFY_SOCKET");
    sock.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let notify = path.to_str().unwrap();
    let mut lab = Lab::launch_env(
        "notify",
        ["", ""],
        &Layout::default(),
        "",
        Some(free_local_addr()),
        &[("NOTIFY_SOCKET", notify), ("JOURNAL_STREAM", "{log}")],
    );
    let mut got = Vec::new();
    assert!(
        wait_for(&sock, "READY=1", &mut got),
        "no READY=1: {got:?}\n{}",
        lab.log_text()
    );
    // READY=1 comes once the ports are up and the socket serves: status answers at once.
    let st = lab.cli(&["status"]);
    assert!(st.status.success(), "ready but status says {}", text(&st));
    let ready = got.iter().find(|m| m.contains("READY=1")).unwrap();
    assert!(ready.contains("STATUS=ready: 2 port(s) up"), "{ready}");
    assert!(
        got.iter().position(|m| m.contains("STATUS=starting"))
            < got.iter().position(|m| m.contains("READY=1")),
        "{got:?}"
    );
    let status = lab.stop().expect("stopped within 10 s");
    assert!(status.success(), "{status:?}");
    assert!(
        wait_for(&sock, "STOPPING=1", &mut got),
        "no STOPPING=1: {got:?}"
    );
    // stderr is the JOURNAL_STREAM: journald's <N> prefixes, no program name.
    let log = lab.log_text();
    assert!(log.contains("<6>ready: 2 port(s) up"), "{log}");
    assert!(log.contains("<6>stopped"), "{log}");
    assert!(!log.contains("ferroute: ready"), "{log}");
    let _ = std::fs::remove_file(&path);
}

/// `systemd-run --wait -p Type=notify`: active only after READY=1, stopped cleanly.
fn under_systemd_run() {
    let lab = Lab::launch("sdrun", "", None);
    let mut lab = lab;
    lab.stop();
    let unit = format!("ferroute-test-{}", std::process::id());
    let o = run(&[
        "systemd-run",
        "--unit",
        &unit,
        "-p",
        "Type=notify",
        "-p",
        "TimeoutStartSec=60",
        "--collect",
        BIN,
        "run",
        "-c",
        lab.config.to_str().unwrap(),
    ]);
    // systemd-run without --no-block returns once the unit is started, i.e. READY=1.
    assert!(o.status.success(), "systemd-run: {}", text(&o));
    let st = lab.cli(&["status"]);
    let active = run(&["systemctl", "is-active", &unit]);
    let _ = run(&["systemctl", "stop", &unit]);
    assert!(st.status.success(), "active before ready: {}", text(&st));
    assert_eq!(String::from_utf8_lossy(&active.stdout).trim(), "active");
}

#[test]
fn log_level_from_the_config_and_a_start_up_failure_exits_69() {
    // warn: the info lines (ports, ready) are not written.
    let mut lab = Lab::start("loglvl", "[log]\nlevel = \"warn\"\n");
    assert!(lab.cli(&["route"]).status.success());
    assert!(lab.stop().is_some_and(|s| s.success()));
    let log = lab.log_text();
    assert!(!log.contains("ferroute: ready"), "{log}");
    drop(lab);

    // The metrics address taken: the config is fine, the start is not.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut lab = Lab::launch("busy", "", Some(taken.local_addr().unwrap()));
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(Ok(Some(st))) = lab.router.as_mut().map(|c| c.try_wait()) {
            break st;
        }
        assert!(
            Instant::now() < end,
            "router did not exit: {}",
            lab.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    lab.router = None;
    assert_eq!(status.code(), Some(69), "{}", lab.log_text());
    assert!(
        lab.log_text().contains("ferroute: error: ") && lab.log_text().contains("metrics.listen"),
        "{}",
        lab.log_text()
    );
}

#[test]
fn a_broken_stderr_does_not_stop_the_router() {
    // The lab's router is replaced by one whose stderr is a pipe closed after 10 bytes
    // (as `ferroute run 2>&1 | head -c 10`).
    let mut lab = Lab::launch("pipe", "", None);
    lab.wait_ready();
    lab.stop();
    let script = format!(
        "exec 2> >(head -c 10 > /dev/null); exec {BIN} run -c {}",
        lab.config.display()
    );
    let child = Command::new("bash")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("bash");
    lab.router = Some(child);
    lab.wait_ready();
    for _ in 0..20 {
        let o = lab.cli(&["route", "add", "10.99.0.0/16", "via", "10.0.2.2"]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(lab.cli(&["route", "del", "10.99.0.0/16"]).status.success());
    }
    let st = lab.stop().expect("stopped within 10 s");
    assert!(st.success(), "exit {st:?} with a broken stderr");
}
