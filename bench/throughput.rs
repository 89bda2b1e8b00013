//! Throughput, testpmd style: DPDK's own `dpdk-testpmd` generates and sinks the traffic
//! (`--forward-mode=flowgen`), the device under test (DUT) forwards it, and the packets
//! that come back are counted at the sink from testpmd's port statistics. The same harness
//! with `dpdk-testpmd --forward-mode=io` as the DUT gives the ceiling of the setup.
//!
//! `cargo bench --bench throughput` runs every DUT over net_memif and over net_tap,
//! interleaved for several rounds; a plain run (as `cargo test` does) is a short smoke
//! run: the router with two routes over memif and over tap, asserting that packets came
//! back and the router counted them forwarded.
//!
//! The traffic (testpmd 22.11 `app/test-pmd/flowgen.c`): 60-byte frames (64 with the FCS)
//! of IPv4/UDP from 10.254.0.0 to 10.253.0.0 + flow (256 flows here), TTL 64, Ethernet
//! source 00:01:02:03:04:00 and destination 00:01:02:03:04:01, both fixed in the source
//! (`--eth-peer` does not apply to flowgen). Flowgen sends on every forwarding port, and
//! per poll it reads at most one burst from a port for each burst it sends there: a port
//! that got back more than it sent would cap the count. So the router splits the flows:
//! 10.253.0.0/25 goes out of port B's side and 10.253.0.128/25 out of port A's side; each
//! generator port gets half of each port's traffic back, every packet forwarded once
//! (half of it back out of the port it came in on). testpmd io forwards A->B and B->A.
//! The figure is the DUT's forwarding rate: packets received on both generator ports per
//! second.
//!
//! Cores (the machine has two): the generator's forwarding lcore on CPU 0, the DUT's one
//! worker on CPU 1; both processes' main lcores (control threads that mostly sleep)
//! share CPU 0 (EAL `--lcores 0@0,1@0` and `0@0,1@1`).
#[path = "common/mod.rs"]
mod common;

use common::{interleave, median, table, Mode, Report};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const ROUTER: &str = env!("CARGO_BIN_EXE_ferroute");
const TESTPMD: &str = "dpdk-testpmd";
/// flowgen's fixed Ethernet addresses (testpmd 22.11 flowgen.c: cfg_ether_dst/src).
const FLOWGEN_DST_MAC: &str = "00:01:02:03:04:01";
const FLOWGEN_SRC_MAC: &str = "00:01:02:03:04:00";
/// Destinations 10.253.0.0 .. 10.253.0.255 (the router's two /25 routes split them).
const FLOWS: u32 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Memif,
    Tap,
}

impl Link {
    fn name(self) -> &'static str {
        match self {
            Link::Memif => "memif",
            Link::Tap => "tap",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dut {
    /// The router with the two bench routes.
    RouterSmall,
    /// The router with the full table as well.
    RouterFull,
    /// testpmd in io forwarding: the ceiling.
    TestpmdIo,
}

impl Dut {
    fn key(self) -> &'static str {
        match self {
            Dut::RouterSmall => "router_2routes",
            Dut::RouterFull => "router_full",
            Dut::TestpmdIo => "testpmd_io",
        }
    }
}

/// How long a trial runs, in testpmd stats periods of one second.
#[derive(Debug, Clone, Copy)]
struct Timing {
    warmup: usize,
    measure: usize,
}

/// One trial's outcome.
#[derive(Debug, Clone, Default)]
struct Trial {
    /// Packets per second received at the sink (both generator ports), mean over the
    /// measured periods.
    rx_pps: f64,
    /// Packets per second the generator managed to send.
    tx_pps: f64,
    /// Packets received at the sink since the generator started.
    rx_total: u64,
    /// Router: seconds from start to "ready".
    startup_s: Option<f64>,
    /// Share of a CPU the DUT and the generator got over the measured interval (other
    /// work on the machine takes the rest).
    dut_cpu: f64,
    gen_cpu: f64,
    /// Router: its `forwarded` counters summed over ports.
    forwarded: Option<u64>,
}

/// Unique names for this run's processes, sockets, interfaces and namespace.
struct Names {
    dir: PathBuf,
    id: u32,
}

impl Names {
    fn new() -> Result<Names, String> {
        let id = std::process::id();
        let dir = std::env::temp_dir().join(format!("ferroute-bench-{id}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Names { dir, id })
    }
    fn prefix(&self, who: &str) -> String {
        format!("frb{}-{who}", self.id)
    }
    fn sock(&self, port: usize) -> PathBuf {
        self.dir.join(format!("memif{port}.sock"))
    }
    fn tap(&self, port: usize) -> String {
        format!("frb{}t{port}", self.id % 100_000)
    }
    fn netns(&self) -> String {
        format!("frb{}", self.id)
    }
}

impl Drop for Names {
    /// Whatever happened: no namespace, socket, DPDK runtime directory or temp file left.
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns()])
            .stderr(Stdio::null())
            .status();
        for who in ["gen", "dut"] {
            let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(self.prefix(who)));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child process that is stopped (SIGINT, then SIGKILL) when dropped.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command, log: PathBuf, piped: bool) -> Result<Proc, String> {
        let f = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = f.try_clone().map_err(|e| e.to_string())?;
        cmd.stdin(Stdio::null()).stderr(err);
        if piped {
            cmd.stdout(Stdio::piped());
        } else {
            cmd.stdout(f);
        }
        let child = cmd.spawn().map_err(|e| format!("start {name}: {e}"))?;
        Ok(Proc {
            name: name.into(),
            child,
            log,
        })
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// SIGINT (testpmd prints its totals and exits; the router shuts down cleanly), then
    /// SIGKILL after `grace`.
    fn stop(&mut self, grace: Duration) {
        if !self.alive() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let t = Instant::now();
        while t.elapsed() < grace {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop in {grace:?}; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(20));
    }
}

/// `program` started through setsid(1), in a session of its own: with the kernel's
/// autogroup scheduling (on by default) every session gets a fair share of a CPU, so the
/// DUT and the generator do not split one share between them (and with the bench's
/// cargo), the way two separately started daemons would not. setsid execs, so the PID
/// is the program's.
fn own_session(program: &str) -> Command {
    let mut c = Command::new("setsid");
    c.arg(program);
    c
}

fn run(cmd: &[&str]) -> Result<String, String> {
    let o = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if o.status.success() {
        Ok(text)
    } else {
        Err(format!("{cmd:?} failed: {text}"))
    }
}

/// Waits until `p`'s log contains `pattern`; fails if `p` exits first or on timeout.
fn wait_for_log(p: &mut Proc, pattern: &str, timeout: Duration) -> Result<f64, String> {
    let t = Instant::now();
    loop {
        if std::fs::read_to_string(&p.log).is_ok_and(|s| s.contains(pattern)) {
            return Ok(t.elapsed().as_secs_f64());
        }
        if !p.alive() {
            return Err(format!(
                "{} exited before {pattern:?}:\n{}",
                p.name,
                p.log_tail()
            ));
        }
        if t.elapsed() > timeout {
            return Err(format!(
                "{} not at {pattern:?} after {timeout:?}:\n{}",
                p.name,
                p.log_tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CPU share above which a trial counts as run "at full CPU" (both DUT and generator).
const QUIET_CPU: f64 = 0.85;

/// Clock ticks per second of /proc/PID/stat's times (USER_HZ, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// CPU time (user + system, all threads) of a process so far, in clock ticks.
fn cpu_ticks(p: &Proc) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.child.id())).unwrap_or_default();
    // Fields after the command name: state is the 1st, utime the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// The EAL arguments every DPDK process here shares.
fn eal_common(prefix: &str) -> Vec<String> {
    [
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--file-prefix",
        prefix,
        "--log-level",
        "lib.eal:notice",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The router's configuration: two ports (generator side, sink side) with flowgen's
/// destination MAC, static neighbours for testpmd's side and the two bench routes (the
/// full table is loaded through the control API once the router runs).
fn router_config(n: &Names, link: Link) -> String {
    let eal: Vec<String> = ["--lcores", "0@0,1@1"]
        .iter()
        .map(|s| s.to_string())
        .chain(eal_common(&n.prefix("dut")))
        .map(|a| format!("{a:?}"))
        .collect();
    let port = |i: usize| match link {
        // net_memif cannot change its MAC after probe: it takes it in devargs.
        Link::Memif => format!(
            "devargs = \"net_memif{i},role=server,id=0,socket={},mac={FLOWGEN_DST_MAC}\"",
            n.sock(i).display()
        ),
        Link::Tap => format!(
            "devargs = \"net_tap{i},iface={}\"\nmac = \"{FLOWGEN_DST_MAC}\"",
            n.tap(i)
        ),
    };
    format!(
        r#"# written by bench/throughput.rs
[eal]
args = [{eal}]
[control]
socket = "{sock}"
[metrics]
listen = ""
[[port]]
name = "a"
{p0}
address = "198.18.0.1/24"
[[port]]
name = "b"
{p1}
address = "198.18.1.1/24"
[[worker]]
lcore = 1
rx = ["a:0", "b:0"]
# testpmd's side of each link (flowgen's source MAC).
[[neighbor]]
address = "198.18.0.2"
mac = "{FLOWGEN_SRC_MAC}"
[[neighbor]]
address = "198.18.1.2"
mac = "{FLOWGEN_SRC_MAC}"
# The two routes of the small table: half of flowgen's destinations to each side, so
# each generator port gets back as much as it sends.
[[route]]
prefix = "10.253.0.0/25"
via = "198.18.1.2"
port = "b"
[[route]]
prefix = "10.253.0.128/25"
via = "198.18.0.2"
port = "a"
"#,
        eal = eal.join(", "),
        sock = n.dir.join("router.sock").display(),
        p0 = port(0),
        p1 = port(1),
    )
}

/// The table as `ferroute route load` reads it, one prefix per line (without the two
/// bench routes, which the config has).
fn table_file(t: &table::Table) -> String {
    let mut s = String::with_capacity(t.prefixes.len() * 20);
    for p in &t.prefixes {
        let text = p.to_string();
        if text != "10.253.0.0/25" && text != "10.253.0.128/25" {
            let _ = writeln!(s, "{text}");
        }
    }
    s
}

/// testpmd's arguments after `--`.
fn testpmd_app_args(mode: &str) -> Vec<String> {
    [
        format!("--forward-mode={mode}"),
        "--stats-period=1".into(),
        "--nb-cores=1".into(),
        "--burst=32".into(),
        "--total-num-mbufs=32768".into(),
        format!("--flowgen-flows={FLOWS}"),
    ]
    .into_iter()
    .filter(|a| mode == "flowgen" || !a.starts_with("--flowgen"))
    .collect()
}

/// The `--vdev` arguments of the DUT (`dut`) or the generator: for memif the DUT's ports
/// are servers and the generator's clients; for tap the DUT makes the interfaces and the
/// generator opens them with net_af_packet.
fn vdevs(n: &Names, link: Link, dut: bool) -> Vec<String> {
    (0..2)
        .map(|i| match (link, dut) {
            (Link::Memif, dut) => format!(
                "--vdev=net_memif{i},role={},id=0,socket={}",
                if dut { "server" } else { "client" },
                n.sock(i).display()
            ),
            (Link::Tap, true) => format!("--vdev=net_tap{i},iface={}", n.tap(i)),
            // qdisc_bypass: through the tap's qdisc the generator managed ~100 packets/s
            // here (the queue stops when the tap's ring fills); bypassed, excess is dropped.
            (Link::Tap, false) => format!(
                "--vdev=net_af_packet{i},iface={},qdisc_bypass=1,framecnt=4096",
                n.tap(i)
            ),
        })
        .collect()
}

/// One block of testpmd's periodic port statistics, summed over ports.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    rx_packets: u64,
    rx_pps: u64,
    tx_pps: u64,
}

fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = line.split(key).nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Reads testpmd's stdout (also copied to `log`) and sends one `Stats` per period.
fn stats_reader(
    out: impl std::io::Read + Send + 'static,
    log: PathBuf,
    ports: usize,
) -> Receiver<Stats> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Write;
        let mut log = std::fs::OpenOptions::new().append(true).open(log).ok();
        let mut cur = Stats::default();
        let mut seen = 0;
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Some(f) = log.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            if line.contains("Port statistics ====") {
                cur = Stats::default();
                seen = 0;
            } else if let Some(v) = number_after(&line, "RX-packets:") {
                cur.rx_packets += v;
            } else if let Some(v) = number_after(&line, "Rx-pps:") {
                cur.rx_pps += v;
            } else if let Some(v) = number_after(&line, "Tx-pps:") {
                cur.tx_pps += v;
                seen += 1;
                if seen == ports && tx.send(cur).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

/// Everything one run needs: names, and the configs written once.
struct Bench {
    names: Names,
    timing: Timing,
    small_cfg: [PathBuf; 2],
    /// The full table for `ferroute route load`, when a contender needs it.
    table: Option<PathBuf>,
}

impl Bench {
    fn cfg(&self, link: Link) -> &Path {
        &self.small_cfg[(link == Link::Tap) as usize]
    }

    fn start_dut(&self, link: Link, dut: Dut) -> Result<(Proc, Option<f64>), String> {
        let n = &self.names;
        for i in 0..2 {
            let _ = std::fs::remove_file(n.sock(i));
        }
        let log = n.dir.join(format!("dut-{}-{}.log", link.name(), dut.key()));
        match dut {
            Dut::RouterSmall | Dut::RouterFull => {
                let mut p = Proc::spawn(
                    "ferroute",
                    own_session(ROUTER).arg("run").arg("-c").arg(self.cfg(link)),
                    log,
                    false,
                )?;
                let t = Instant::now();
                wait_for_log(&mut p, "ferroute: ready:", Duration::from_secs(120))?;
                if dut == Dut::RouterFull {
                    // The full table through the control API, every prefix via B's side.
                    let table = self.table.as_ref().ok_or("no table file")?;
                    run(&[
                        ROUTER,
                        "route",
                        "load",
                        &table.to_string_lossy(),
                        "via",
                        "198.18.1.2",
                        "dev",
                        "b",
                        "-s",
                        &n.dir.join("router.sock").to_string_lossy(),
                    ])
                    .map_err(|e| format!("route load: {e}\n{}", p.log_tail()))?;
                }
                Ok((p, Some(t.elapsed().as_secs_f64())))
            }
            Dut::TestpmdIo => {
                let mut args = vec!["--lcores".to_string(), "0@0,1@1".into()];
                args.extend(eal_common(&n.prefix("dut")));
                args.extend(vdevs(n, link, true));
                args.push("--".into());
                args.extend(testpmd_app_args("io"));
                let mut p = Proc::spawn(
                    "testpmd io (DUT)",
                    own_session(TESTPMD).args(&args),
                    log,
                    false,
                )?;
                wait_for_log(&mut p, "start packet forwarding", Duration::from_secs(60))?;
                Ok((p, None))
            }
        }
    }

    /// Moves the DUT's taps into a fresh namespace (no addresses, no IPv6, forwarding off:
    /// the kernel stays out of the way) where the generator runs.
    fn tap_netns(&self) -> Result<(), String> {
        let n = &self.names;
        let ns = n.netns();
        let _ = run(&["ip", "netns", "del", &ns]);
        run(&["ip", "netns", "add", &ns])?;
        run(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ])?;
        for i in 0..2 {
            let t = n.tap(i);
            run(&["ip", "link", "set", &t, "netns", &ns])?;
            run(&["ip", "-n", &ns, "link", "set", &t, "up"])?;
        }
        Ok(())
    }

    fn start_gen(&self, link: Link) -> Result<(Proc, Receiver<Stats>), String> {
        let n = &self.names;
        let mut args = vec!["--lcores".to_string(), "0@0,1@0".into()];
        args.extend(eal_common(&n.prefix("gen")));
        args.extend(vdevs(n, link, false));
        args.push("--".into());
        args.extend(testpmd_app_args("flowgen"));
        let mut cmd = match link {
            Link::Memif => own_session(TESTPMD),
            Link::Tap => {
                let mut c = own_session("ip");
                c.args(["netns", "exec", &n.netns(), TESTPMD]);
                c
            }
        };
        cmd.args(&args);
        let log = n.dir.join(format!("gen-{}.log", link.name()));
        let mut p = Proc::spawn("testpmd flowgen (generator)", &mut cmd, log.clone(), true)?;
        let out = p.child.stdout.take().ok_or("no generator stdout")?;
        Ok((p, stats_reader(out, log, 2)))
    }

    fn trial(&self, link: Link, dut: Dut) -> Result<Trial, String> {
        let (mut d, startup_s) = self.start_dut(link, dut)?;
        if link == Link::Tap {
            self.tap_netns()?;
        }
        let (mut g, stats) = self.start_gen(link)?;
        // The first statistics come after EAL and port setup, slow on a loaded machine.
        let mut period = Duration::from_secs(60);
        let mut samples = Vec::new();
        let mut last = Stats::default();
        let mut cpu_from = None;
        while samples.len() < self.timing.warmup + self.timing.measure {
            match stats.recv_timeout(period) {
                Ok(s) => {
                    period = Duration::from_secs(10);
                    samples.push(s);
                    last = s;
                    if samples.len() == self.timing.warmup {
                        cpu_from = Some((Instant::now(), cpu_ticks(&d), cpu_ticks(&g)));
                    }
                }
                Err(RecvTimeoutError::Timeout) if g.alive() && d.alive() => {
                    return Err(format!(
                        "no statistics from the generator for {period:?}:\n{}",
                        g.log_tail()
                    ));
                }
                Err(_) => {
                    let who = if d.alive() { &g } else { &d };
                    return Err(format!(
                        "{} exited during the trial:\n{}",
                        who.name,
                        who.log_tail()
                    ));
                }
            }
        }
        let (dut_cpu, gen_cpu) = match cpu_from {
            Some((t0, d0, g0)) => {
                let secs = t0.elapsed().as_secs_f64() * TICKS_PER_S;
                (
                    cpu_ticks(&d).saturating_sub(d0) as f64 / secs,
                    cpu_ticks(&g).saturating_sub(g0) as f64 / secs,
                )
            }
            None => (f64::NAN, f64::NAN),
        };
        let measured = &samples[self.timing.warmup..];
        let mean = |f: fn(&Stats) -> u64| {
            measured.iter().map(|s| f(s) as f64).sum::<f64>() / measured.len() as f64
        };
        let mut t = Trial {
            rx_pps: mean(|s| s.rx_pps),
            tx_pps: mean(|s| s.tx_pps),
            rx_total: last.rx_packets,
            startup_s,
            dut_cpu,
            gen_cpu,
            forwarded: None,
        };
        if dut != Dut::TestpmdIo {
            let out = run(&[
                ROUTER,
                "counters",
                "-s",
                &self.names.dir.join("router.sock").to_string_lossy(),
            ])?;
            t.forwarded = Some(
                out.lines()
                    .filter(|l| l.starts_with("port ") && l.contains(" forwarded "))
                    .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                    .sum(),
            );
        }
        g.stop(Duration::from_secs(20));
        d.stop(Duration::from_secs(60));
        if link == Link::Tap {
            let _ = run(&["ip", "netns", "del", &self.names.netns()]);
        }
        Ok(t)
    }
}

fn main() -> ExitCode {
    let mode = Mode::from_args();
    match bench(mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("throughput benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench(mode: Mode) -> Result<(), String> {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(TESTPMD).is_file()));
    if !on_path {
        return Err(format!(
            "{TESTPMD} not found on PATH (Debian's dpdk-dev has it: scripts/install-deps.sh)"
        ));
    }
    let names = Names::new()?;
    let mut timing = mode.pick(
        Timing {
            warmup: 3,
            measure: 5,
        },
        Timing {
            warmup: 1,
            measure: 1,
        },
    );
    let mut rounds = mode.pick(7, 1);
    let mut links = vec![Link::Memif, Link::Tap];
    let duts = mode.pick(
        vec![Dut::RouterSmall, Dut::RouterFull, Dut::TestpmdIo],
        vec![Dut::RouterSmall],
    );
    // Narrowing a full run: `-- --link memif|tap`, `--rounds N`, `--seconds N`.
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    if let Some(l) = opt("--link") {
        links.retain(|k| k.name() == l);
    }
    if let Some(r) = opt("--rounds").and_then(|r| r.parse().ok()) {
        rounds = r;
    }
    if let Some(m) = opt("--seconds").and_then(|r| r.parse().ok()) {
        timing.measure = m;
    }

    let mut report = Report::new(
        "throughput",
        "Forwarding rate, testpmd flowgen -> DUT -> testpmd (64-byte UDP)",
        mode,
    );
    let write_cfg = |name: &str, text: &str| -> Result<PathBuf, String> {
        let p = names.dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(p)
    };
    let small_cfg = [
        write_cfg(
            "router-memif-small.toml",
            &router_config(&names, Link::Memif),
        )?,
        write_cfg("router-tap-small.toml", &router_config(&names, Link::Tap))?,
    ];
    let table = if duts.contains(&Dut::RouterFull) {
        let t = table::full(table::LENGTHS.iter().map(|l| l.1 as usize).sum())?;
        report.note(format!(
            "full table: {}, loaded with `ferroute route load FILE via 198.18.1.2 dev b` once \
             the router is ready (startup s: launch to ready plus the load), plus the two routes",
            t.source
        ));
        Some(write_cfg("table.txt", &table_file(&t))?)
    } else {
        None
    };
    let b = Bench {
        names,
        timing,
        small_cfg,
        table,
    };

    report.note(format!(
        "generator and sink: dpdk-testpmd --forward-mode=flowgen --flowgen-flows={FLOWS} on two \
         ports, both sending and sinking; the router's 2 routes send 10.253.0.0/25 to B's side and 10.253.0.128/25 to A's; DUT worker on CPU 1, generator on CPU 0"
    ));
    report.note(
        "memif: DUT ports are memif servers, testpmd the clients; tap: DUT ports are net_tap, \
                 testpmd uses net_af_packet on those interfaces inside a namespace",
    );
    report.note(format!(
        "{rounds} interleaved rounds; each trial restarts both processes, warms up {} s, \
         measures {} s (testpmd's per-second Rx-pps summed over both ports, mean); medians",
        timing.warmup, timing.measure
    ));
    report.note(
        "DUT/gen CPU %: CPU time the DUT and the generator got during the measured seconds \
         (/proc/PID/stat, all threads); on a shared machine the rest went to other work. \
         Mpps at full CPU: median over the trials (n of them) where both got >= 85 %",
    );
    report.columns(&[
        "link",
        "DUT",
        "Mpps (median)",
        "min..max",
        "vs ceiling",
        "offered Mpps",
        "DUT CPU %",
        "gen CPU %",
        "Mpps at full CPU (n)",
        "startup s",
    ]);

    for &link in &links {
        let results: RefCell<Vec<(Dut, Trial)>> = RefCell::new(Vec::new());
        let error: RefCell<Option<String>> = RefCell::new(None);
        let mut closures: Vec<Box<dyn FnMut() -> f64 + '_>> = duts
            .iter()
            .map(|&dut| {
                let (b, results, error) = (&b, &results, &error);
                Box::new(move || {
                    if error.borrow().is_some() {
                        return f64::NAN;
                    }
                    match b.trial(link, dut) {
                        Ok(t) => {
                            eprintln!(
                                "{} {}: {:.3} Mpps at the sink (offered {:.3}), CPU DUT {:.0}% gen {:.0}%{}",
                                link.name(),
                                dut.key(),
                                t.rx_pps / 1e6,
                                t.tx_pps / 1e6,
                                t.dut_cpu * 100.0,
                                t.gen_cpu * 100.0,
                                t.startup_s
                                    .map(|s| format!(", startup {s:.1} s"))
                                    .unwrap_or_default()
                            );
                            let v = t.rx_pps / 1e6;
                            results.borrow_mut().push((dut, t));
                            v
                        }
                        Err(e) => {
                            *error.borrow_mut() =
                                Some(format!("{} {}: {e}", link.name(), dut.key()));
                            f64::NAN
                        }
                    }
                }) as Box<dyn FnMut() -> f64>
            })
            .collect();
        let mut refs: Vec<&mut dyn FnMut() -> f64> = closures
            .iter_mut()
            .map(|c| &mut **c as &mut dyn FnMut() -> f64)
            .collect();
        let samples = interleave(rounds, &mut refs);
        drop(refs);
        drop(closures);
        if let Some(e) = error.into_inner() {
            return Err(e);
        }
        let results = results.into_inner();
        let ceiling = duts
            .iter()
            .position(|&d| d == Dut::TestpmdIo)
            .map(|i| samples[i].clone());
        let mut quiet_mpps: Vec<(Dut, f64)> = Vec::new();
        for (i, &dut) in duts.iter().enumerate() {
            let mut s = samples[i].clone();
            let lo = s.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = s.iter().cloned().fold(0.0, f64::max);
            let med = median(&mut s);
            let of_dut = || results.iter().filter(|(d, _)| *d == dut).map(|(_, t)| t);
            let mut offered: Vec<f64> = of_dut().map(|t| t.tx_pps / 1e6).collect();
            let mut startup: Vec<f64> = of_dut().filter_map(|t| t.startup_s).collect();
            let mut dut_cpu: Vec<f64> = of_dut().map(|t| t.dut_cpu * 100.0).collect();
            let mut gen_cpu: Vec<f64> = of_dut().map(|t| t.gen_cpu * 100.0).collect();
            // Per-round ratios: each router trial against the ceiling of the same round.
            let ratio = ceiling.as_ref().filter(|_| dut != Dut::TestpmdIo).map(|c| {
                let mut r: Vec<f64> = samples[i].iter().zip(c).map(|(a, b)| a / b).collect();
                median(&mut r)
            });
            // Trials in which both processes had (nearly) a CPU each: the setup's own
            // figure, without the other work of a shared machine.
            let mut quiet: Vec<f64> = of_dut()
                .filter(|t| t.dut_cpu >= QUIET_CPU && t.gen_cpu >= QUIET_CPU)
                .map(|t| t.rx_pps / 1e6)
                .collect();
            let nquiet = quiet.len();
            let quiet_med = median(&mut quiet);
            quiet_mpps.push((dut, quiet_med));
            let key = format!("{}.{}", link.name(), dut.key());
            report.figure(&format!("{key}.mpps"), med);
            if nquiet > 0 {
                report.figure(&format!("{key}.mpps_full_cpu"), quiet_med);
            }
            if let Some(r) = ratio {
                report.figure(&format!("{key}.vs_ceiling"), r);
            }
            if !startup.is_empty() {
                report.figure(&format!("{key}.startup_s"), median(&mut startup));
            }
            report.bar(
                &format!("{}: forwarding rate", link.name()),
                "Mpps",
                dut.key(),
                med,
            );
            report.row(vec![
                link.name().into(),
                dut.key().into(),
                format!("{med:.3}"),
                format!("{lo:.3}..{hi:.3}"),
                ratio
                    .map(|r| format!("{r:.2}"))
                    .unwrap_or_else(|| "-".into()),
                format!("{:.3}", median(&mut offered)),
                format!("{:.0}", median(&mut dut_cpu)),
                format!("{:.0}", median(&mut gen_cpu)),
                if nquiet > 0 {
                    format!("{quiet_med:.3} ({nquiet})")
                } else {
                    "- (0)".into()
                },
                if startup.is_empty() {
                    "-".into()
                } else {
                    format!("{:.1}", median(&mut startup))
                },
            ]);
            // Smoke: the router forwarded, and the sink got packets back.
            for (_, t) in results.iter().filter(|(d, _)| *d == dut) {
                if t.rx_total == 0 {
                    return Err(format!("{key}: the sink received no packets"));
                }
                if t.forwarded == Some(0) {
                    return Err(format!("{key}: the router's forwarded counters are 0"));
                }
            }
        }
        // The target is judged on trials where neither process was starved: under
        // contention the ceiling's generator can get less CPU than the router's and the
        // raw ratio says more about the neighbours than about the router.
        let full_cpu = |d: Dut| {
            quiet_mpps
                .iter()
                .find(|q| q.0 == d)
                .map(|q| q.1)
                .filter(|v| v.is_finite())
        };
        let raw = report
            .figures()
            .iter()
            .find(|(k, _)| *k == format!("{}.router_full.vs_ceiling", link.name()))
            .map(|f| f.1);
        let verdict = match (full_cpu(Dut::RouterFull), full_cpu(Dut::TestpmdIo)) {
            (Some(r), Some(c)) => {
                report.figure(
                    &format!("{}.router_full.vs_ceiling_full_cpu", link.name()),
                    r / c,
                );
                format!(
                    "{} ({:.2} over the trials at full CPU)",
                    if r / c >= 0.6 { "met" } else { "NOT met" },
                    r / c
                )
            }
            _ => "not determined: no trials with both processes at full CPU for both the \
                  router and the ceiling"
                .into(),
        };
        if link == Link::Memif && duts.contains(&Dut::TestpmdIo) {
            report.note(format!(
                "target router (full table) / ceiling >= 0.6 on memif: {verdict}; median of \
                 the per-round ratios: {}",
                raw.map(|r| format!("{r:.2}")).unwrap_or_else(|| "-".into())
            ));
        }
    }
    report
        .finish()
        .map_err(|e| format!("writing results: {e}"))?;
    Ok(())
}
