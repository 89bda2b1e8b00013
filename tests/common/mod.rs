//! A lab for integration tests: the real `ferroute` binary on net_tap ports, each tap
//! moved into its own network namespace whose Linux stack is the host behind that port.
//! Names (taps, namespaces, EAL file prefix, socket) are unique per lab, and `Drop`
//! stops the router and deletes the namespaces, also when a test fails. Labs run one
//! at a time (a process-wide lock): each router busy-polls a core and the machine has two.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

pub const BIN: &str = env!("CARGO_BIN_EXE_ferroute");

/// Where the router's threads run: the EAL arguments that select lcores (TOML strings,
/// comma separated) and the `[[worker]]` tables.
pub struct Layout {
    pub lcores: String,
    pub workers: String,
}

impl Default for Layout {
    /// The main lcore on CPU 0 and one worker on CPU 1 polling queue 0 of both ports.
    fn default() -> Layout {
        Layout {
            lcores: r#""-l", "0,1""#.into(),
            workers: "[[worker]]\nlcore = 1\nrx = [\"port0:0\", \"port1:0\"]\n".into(),
        }
    }
}

/// One host behind a router port.
pub struct Host {
    pub ns: String,
    pub tap: String,
    pub addr: String,
    pub router_addr: String,
}

pub struct Lab {
    pub name: String,
    pub router: Option<Child>,
    pub socket: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    pub hosts: Vec<Host>,
    /// The router's Prometheus endpoint (`[metrics] listen`), a free loopback port.
    pub metrics: SocketAddr,
    _serial: MutexGuard<'static, ()>,
}

/// Runs a command, returning its output; panics only if it cannot be started.
pub fn run(cmd: &[&str]) -> Output {
    Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// A loopback address with a port nobody listens on right now.
pub fn free_local_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
}

/// A plain HTTP/1.1 GET: (status code, head, body). Panics on connection errors.
pub fn http_get(addr: SocketAddr, target: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("read from {addr}: {e}"));
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head from {addr}: {raw}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line from {addr}: {head}"));
    (status, head.to_string(), body.to_string())
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Replies counted in ping's summary line ("5 packets transmitted, 5 received, ...").
pub fn received(ping_out: &str) -> u32 {
    ping_out
        .split(',')
        .find_map(|p| {
            p.trim()
                .strip_suffix(" received")
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no 'received' in ping output: {ping_out}"))
}

impl Lab {
    /// Starts a router with two ports (10.0.1.1/24 towards h1 = 10.0.1.2, 10.0.2.1/24
    /// towards h2 = 10.0.2.2) plus `extra` TOML appended to the config, its metrics
    /// endpoint on a free loopback port, and waits until it is ready with the hosts set up.
    pub fn start(name: &str, extra: &str) -> Lab {
        Lab::start_ports(name, ["", ""], extra)
    }

    /// As `start`, with `ports[i]` (TOML lines, e.g. `"mtu = 1280"`) added to port i's
    /// `[[port]]` table. The hosts keep an MTU of 1500 whatever the router's port has.
    pub fn start_ports(name: &str, ports: [&str; 2], extra: &str) -> Lab {
        let lab = Lab::launch_ports(name, ports, extra, Some(free_local_addr()));
        lab.wait_ready();
        lab.setup_hosts();
        lab
    }

    /// Writes the config and starts the router process, nothing more; `metrics: None`
    /// disables the endpoint (`listen = ""`; then `Lab::metrics` is 127.0.0.1:0).
    pub fn launch(name: &str, extra: &str, metrics: Option<SocketAddr>) -> Lab {
        Lab::launch_ports(name, ["", ""], extra, metrics)
    }

    /// `launch` with per-port TOML lines (see `start_ports`).
    pub fn launch_ports(
        name: &str,
        ports: [&str; 2],
        extra: &str,
        metrics: Option<SocketAddr>,
    ) -> Lab {
        Lab::launch_layout(name, ports, &Layout::default(), extra, metrics)
    }

    /// As `start`, with the lcores and workers of `layout`.
    pub fn start_layout(name: &str, layout: &Layout, extra: &str) -> Lab {
        let lab = Lab::launch_layout(name, ["", ""], layout, extra, Some(free_local_addr()));
        lab.wait_ready();
        lab.setup_hosts();
        lab
    }

    /// `launch_ports` with the lcores and workers of `layout`.
    pub fn launch_layout(
        name: &str,
        ports: [&str; 2],
        layout: &Layout,
        extra: &str,
        metrics: Option<SocketAddr>,
    ) -> Lab {
        Lab::launch_env(name, ports, layout, extra, metrics, &[])
    }

    /// `launch_layout` with environment variables for the router; a value `{log}` is
    /// replaced by the `DEVICE:INODE` of the router's stderr (the log file), as systemd
    /// sets `JOURNAL_STREAM`.
    pub fn launch_env(
        name: &str,
        ports: [&str; 2],
        layout: &Layout,
        extra: &str,
        metrics: Option<SocketAddr>,
        env: &[(&str, &str)],
    ) -> Lab {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let id = format!("{}{}", name, std::process::id() % 10000);
        let dir = std::env::temp_dir();
        let socket = dir.join(format!("ferroute-{id}.sock"));
        let config = dir.join(format!("ferroute-{id}.toml"));
        let log = dir.join(format!("ferroute-{id}.log"));
        let listen = metrics.map(|a| a.to_string()).unwrap_or_default();
        let metrics = metrics.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let hosts: Vec<Host> = (1..=2)
            .map(|i| Host {
                ns: format!("fr-{id}-h{i}"),
                tap: format!("fr{}t{i}", std::process::id() % 100000),
                addr: format!("10.0.{i}.2"),
                router_addr: format!("10.0.{i}.1"),
            })
            .collect();
        for h in &hosts {
            let _ = run(&["ip", "netns", "del", &h.ns]);
        }
        let toml = format!(
            r#"
[eal]
args = [{lcores}, "--no-huge", "-m", "512", "--no-pci", "--file-prefix", "fr-{id}", "--log-level", "lib.eal:notice"]
[control]
socket = "{socket}"
[metrics]
listen = "{listen}"
[datapath]
idle_sleep_us = 20
[[port]]
name = "port0"
devargs = "net_tap{n0},iface={t0}"
address = "10.0.1.1/24"
{p0}
[[port]]
name = "port1"
devargs = "net_tap{n1},iface={t1}"
address = "10.0.2.1/24"
{p1}
{workers}
{extra}
"#,
            lcores = layout.lcores,
            workers = layout.workers,
            socket = socket.display(),
            n0 = 0,
            n1 = 1,
            t0 = hosts[0].tap,
            t1 = hosts[1].tap,
            p0 = ports[0],
            p1 = ports[1],
        );
        std::fs::write(&config, toml).expect("write config");
        let logf = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(BIN);
        for (k, v) in env {
            let v = if *v == "{log}" {
                use std::os::unix::fs::MetadataExt;
                let m = logf.metadata().expect("log file metadata");
                format!("{}:{}", m.dev(), m.ino())
            } else {
                v.to_string()
            };
            cmd.env(k, v);
        }
        let child = cmd
            .args(["run", "-c"])
            .arg(&config)
            .stdout(logf.try_clone().expect("dup log"))
            .stderr(logf)
            .stdin(Stdio::null())
            .spawn()
            .expect("start ferroute");
        Lab {
            name: id,
            router: Some(child),
            socket,
            config,
            log,
            hosts,
            metrics,
            _serial: serial,
        }
    }

    /// Stops the router and starts it again on `config` (a whole config file, e.g. a
    /// `ferroute config dump` of this lab), then sets the hosts up again.
    pub fn restart_with(&mut self, config: &str) {
        self.stop();
        for h in &self.hosts {
            let _ = run(&["ip", "netns", "del", &h.ns]);
        }
        std::fs::write(&self.config, config).expect("write config");
        self.respawn();
    }

    /// Stops the router and starts it again on the same config; the hosts' namespaces
    /// (and what runs in them) stay, their taps are moved back in and set up again.
    pub fn restart(&mut self) {
        self.stop();
        self.respawn();
    }

    /// Starts the router on `self.config` (log truncated), waits until it is ready and
    /// sets the hosts up.
    fn respawn(&mut self) {
        let logf = std::fs::File::create(&self.log).expect("log file");
        let child = Command::new(BIN)
            .args(["run", "-c"])
            .arg(&self.config)
            .stdout(logf.try_clone().expect("dup log"))
            .stderr(logf)
            .stdin(Stdio::null())
            .spawn()
            .expect("start ferroute");
        self.router = Some(child);
        self.wait_ready();
        self.setup_hosts();
    }

    /// Waits for `ferroute status` to say ready.
    pub fn wait_ready(&self) {
        let lab = self;
        let st = lab.cli(&["status", "--wait", "30"]);
        assert!(
            st.status.success(),
            "router not ready: {}\nlog:\n{}",
            text(&st),
            lab.log_text()
        );
    }

    /// Moves each tap into its host's namespace and configures the host. Only after
    /// the router is ready: starting the DPDK port re-creates the interface in the
    /// router's namespace.
    pub fn setup_hosts(&self) {
        let lab = self;
        for h in &lab.hosts {
            let _ = run(&["ip", "netns", "add", &h.ns]);
            for cmd in [
                vec!["ip", "link", "set", &h.tap, "netns", &h.ns],
                vec!["ip", "-n", &h.ns, "link", "set", "lo", "up"],
                vec![
                    "ip",
                    "-n",
                    &h.ns,
                    "addr",
                    "add",
                    &format!("{}/24", h.addr),
                    "dev",
                    &h.tap,
                ],
                // net_tap gives the kernel interface the port's MTU: hosts keep 1500.
                vec!["ip", "-n", &h.ns, "link", "set", &h.tap, "mtu", "1500"],
                vec!["ip", "-n", &h.ns, "link", "set", &h.tap, "up"],
                vec![
                    "ip",
                    "-n",
                    &h.ns,
                    "route",
                    "add",
                    "default",
                    "via",
                    &h.router_addr,
                ],
            ] {
                let o = run(&cmd);
                assert!(o.status.success(), "{cmd:?}: {}", text(&o));
            }
        }
    }

    /// `ferroute CMD` against this lab's socket.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .arg("--socket")
            .arg(&self.socket)
            .output()
            .expect("run ferroute cli")
    }

    /// Runs a command inside host `i`'s namespace (0 = h1, 1 = h2).
    pub fn exec(&self, i: usize, cmd: &[&str]) -> Output {
        let mut v = vec!["ip", "netns", "exec", &self.hosts[i].ns];
        v.extend_from_slice(cmd);
        run(&v)
    }

    /// Spawns a command inside host `i`'s namespace.
    pub fn spawn(&self, i: usize, cmd: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.hosts[i].ns])
            .args(cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn in namespace")
    }

    /// `ferroute counters` as a map: "drop ip4_bad_checksum" -> 3, "mempool_in_use" -> ..
    pub fn counters(&self) -> HashMap<String, u64> {
        let mut o = self.cli(&["counters"]);
        // On a loaded machine the control thread can be starved past the client's 5 s
        // timeout: ask again (twice) before giving up.
        for _ in 0..2 {
            if o.status.success() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
            o = self.cli(&["counters"]);
        }
        assert!(o.status.success(), "counters: {}", text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect()
    }

    /// The endpoint's `/metrics` as `series -> value` (series as exposed, e.g.
    /// `ferroute_drops_total{reason="ip4_no_route"}`).
    pub fn scrape(&self) -> HashMap<String, f64> {
        let (status, _, body) = http_get(self.metrics, "/metrics");
        assert_eq!(status, 200, "GET /metrics: {body}");
        ferroute::metrics::parse(&body)
    }

    /// One series from `/metrics`; panics if it is not there.
    pub fn metric(&self, series: &str) -> f64 {
        *self
            .scrape()
            .get(series)
            .unwrap_or_else(|| panic!("no series {series} in /metrics"))
    }

    pub fn counter(&self, key: &str) -> u64 {
        *self
            .counters()
            .get(key)
            .unwrap_or_else(|| panic!("no counter {key:?}"))
    }

    /// The router's MAC on port `i`, from `ferroute status`.
    pub fn router_mac(&self, i: usize) -> String {
        let o = self.cli(&["status"]);
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("port port{i} ")))
            .unwrap_or_else(|| panic!("no port{i} in status: {out}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let pos = words.iter().position(|w| *w == "mac").expect("mac field");
        words[pos + 1].to_string()
    }

    /// Sends `count` crafted frames of `kind` (see tests/tools/inject.py) from h1 to
    /// `dst_mac` with the given addresses.
    pub fn inject(&self, kind: &str, count: u32, dst_mac: &str, src: &str, dst: &str) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/inject.py");
        let n = count.to_string();
        let tap = &self.hosts[0].tap;
        let o = self.exec(0, &["python3", script, tap, dst_mac, src, dst, kind, &n]);
        assert!(o.status.success(), "inject {kind}: {}", text(&o));
    }

    /// Asserts the mbuf pool returns to `idle` in-use mbufs within 5 s (no leak).
    pub fn assert_pool_back_to(&self, idle: u64) {
        assert!(
            Lab::wait_for(Duration::from_secs(5), || self.counter("mempool_in_use")
                == idle),
            "mempool in use {} vs idle {idle}",
            self.counter("mempool_in_use")
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `f` holds or `timeout` passes; returns whether it held.
    pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if f() {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGTERM and waits for the router to exit; returns its exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.router.take()?;
        let _ = run(&["kill", "-TERM", &child.id().to_string()]);
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait().ok();
        None
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop();
        for h in &self.hosts {
            let _ = run(&["ip", "netns", "del", &h.ns]);
        }
        let _ = std::fs::remove_file(&self.config);
        let _ = std::fs::remove_file(&self.socket);
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A number in iperf3's `-J` output: the first `"field":` after `"section"` (e.g.
/// `iperf_num(&json, "sum_received", "bytes")`).
pub fn iperf_num(json: &str, section: &str, field: &str) -> f64 {
    let s = json
        .find(&format!("\"{section}\""))
        .unwrap_or_else(|| panic!("no {section} in iperf3 output: {json}"));
    let rest = &json[s..];
    let f = rest
        .find(&format!("\"{field}\":"))
        .unwrap_or_else(|| panic!("no {section}.{field}: {json}"))
        + field.len()
        + 3;
    rest[f..]
        .trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-' || c == '+'))
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{section}.{field} is not a number: {json}"))
}

/// A network namespace a test makes the router create (`[linux_cp] netns`), deleted
/// when dropped, also when the test fails.
pub struct NetnsGuard(pub String);

impl NetnsGuard {
    /// A name unique to this test process and `tag`; any leftover of it is deleted.
    pub fn new(tag: &str) -> NetnsGuard {
        let name = format!("frcp-{tag}{}", std::process::id() % 100000);
        let _ = run(&["ip", "netns", "del", &name]);
        NetnsGuard(name)
    }

    /// Runs a command inside it.
    pub fn exec(&self, cmd: &[&str]) -> Output {
        let mut v = vec!["ip", "netns", "exec", &self.0];
        v.extend_from_slice(cmd);
        run(&v)
    }

    /// Spawns a command inside it.
    pub fn spawn(&self, cmd: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn in namespace")
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.0]);
    }
}
