//! Throughput, testpmd style: DPDK's own `dpdk-testpmd` generates and sinks the traffic
//! (`--forward-mode=flowgen`), the device under test (DUT) forwards it, and the packets
//! that come back are counted at the sink from testpmd's port statistics. The DUTs:
//! `dpdk-testpmd --forward-mode=io` (the ceiling of the setup), DPDK's own `l3fwd`
//! (built at run time by `bench/l3fwd/build.sh` from Debian's dpdk source package) with
//! `--lookup=lpm` and the two bench routes and with `--lookup=fib` and the full table,
//! and the router with the same two tables.
//!
//! `cargo bench --bench throughput` runs every DUT over net_memif and over net_tap,
//! interleaved for several rounds; `-- --huge` runs every process on 2 MiB hugepages
//! (when they can be had). A plain run (as `cargo test` does) is a short smoke run: the
//! router with two routes over memif and over tap, and l3fwd lpm over memif, asserting
//! that packets came back and the router counted them forwarded.
//!
//! The VM these run on is bimodal: every DUT, testpmd io included, runs at full speed for
//! a while and then at about a third of it for seconds, sometimes for a whole trial. So
//! the report gives, per DUT, the median of the trials' means, and the 90th percentile
//! and the peak of all 1-s samples (what the DUT can do when the VM lets it), and the
//! ratios router/l3fwd and router/testpmd io of each.
//!
//! The traffic (testpmd 22.11 `app/test-pmd/flowgen.c`): 60-byte frames (64 with the FCS)
//! of IPv4/UDP from 10.254.0.0 to 10.253.0.0 + flow (256 flows here), TTL 64, Ethernet
//! source 00:01:02:03:04:00 and destination 00:01:02:03:04:01, both fixed in the source
//! (`--eth-peer` does not apply to flowgen). Flowgen sends on every forwarding port, and
//! per poll it reads at most one burst from a port for each burst it sends there: a port
//! that got back more than it sent would cap the count. So the routes split the flows:
//! 10.253.0.0/25 goes out of port B's side and 10.253.0.128/25 out of port A's side; each
//! generator port gets half of each port's traffic back, every packet forwarded once
//! (half of it back out of the port it came in on). testpmd io forwards A->B and B->A.
//! The figure is the DUT's forwarding rate: packets received on both generator ports per
//! second.
//!
//! Cores (the machine has two): the generator's forwarding lcore on CPU 0, the DUT's one
//! worker on CPU 1; both processes' main lcores (control threads that mostly sleep)
//! share CPU 0 (EAL `--lcores 0@0,1@0` and `0@0,1@1`). l3fwd runs on its main lcore
//! alone (`--lcores 1@1`; EAL's control threads then go to CPU 0): it opens one TX queue
//! per lcore, and memif drops what goes to a queue the peer did not open.
#[path = "common/mod.rs"]
mod common;

use common::{interleave, median, percentile, table, Mode, Report};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const ROUTER: &str = env!("CARGO_BIN_EXE_ferroute");
const TESTPMD: &str = "dpdk-testpmd";
/// Builds l3fwd (and prints its path on its last line); see the script for what it changes.
const L3FWD_BUILD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/l3fwd/build.sh");
/// flowgen's fixed Ethernet addresses (testpmd 22.11 flowgen.c: cfg_ether_dst/src).
const FLOWGEN_DST_MAC: &str = "00:01:02:03:04:01";
const FLOWGEN_SRC_MAC: &str = "00:01:02:03:04:00";
/// Destinations 10.253.0.0 .. 10.253.0.255 (the two /25 routes split them).
const FLOWS: u32 = 256;
/// The two bench routes: (prefix, port index: 0 = A, 1 = B).
const BENCH_ROUTES: [(&str, usize); 2] = [("10.253.0.0/25", 1), ("10.253.0.128/25", 0)];

/// EAL memory (-m, MiB) of each process. l3fwd needs more: its IPv4 FIB sized for the
/// full table (tbl24, tbl8s and a RIB of 2^20 nodes) plus the IPv6 one did not fit in 512.
const GEN_MB: u32 = 512;
const DUT_MB: u32 = 512;
const L3FWD_MB: u32 = 1024;

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
    /// testpmd in io forwarding: the ceiling.
    TestpmdIo,
    /// l3fwd `--lookup=lpm` with the two bench routes.
    L3fwdLpm,
    /// The router with the two bench routes.
    RouterSmall,
    /// l3fwd `--lookup=fib` with the full table and the two bench routes.
    L3fwdFib,
    /// The router with the full table as well.
    RouterFull,
}

impl Dut {
    /// Every DUT in the order of a round: each router next to its l3fwd peer, so that a
    /// slow phase of the VM tends to hit both.
    const ALL: [Dut; 5] = [
        Dut::TestpmdIo,
        Dut::L3fwdLpm,
        Dut::RouterSmall,
        Dut::L3fwdFib,
        Dut::RouterFull,
    ];

    fn key(self) -> &'static str {
        match self {
            Dut::TestpmdIo => "testpmd_io",
            Dut::L3fwdLpm => "l3fwd_lpm_2routes",
            Dut::RouterSmall => "router_2routes",
            Dut::L3fwdFib => "l3fwd_fib_full",
            Dut::RouterFull => "router_full",
        }
    }

    fn is_router(self) -> bool {
        matches!(self, Dut::RouterSmall | Dut::RouterFull)
    }

    fn is_l3fwd(self) -> bool {
        matches!(self, Dut::L3fwdLpm | Dut::L3fwdFib)
    }

    /// The l3fwd run with the same table as this router.
    fn l3fwd_peer(self) -> Option<Dut> {
        match self {
            Dut::RouterSmall => Some(Dut::L3fwdLpm),
            Dut::RouterFull => Some(Dut::L3fwdFib),
            _ => None,
        }
    }

    fn full_table(self) -> bool {
        matches!(self, Dut::RouterFull | Dut::L3fwdFib)
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
    /// The measured periods' packets per second at the sink, one per second.
    samples: Vec<f64>,
    /// Packets per second the generator managed to send.
    tx_pps: f64,
    /// Packets received at the sink since the generator started.
    rx_total: u64,
    /// Router and l3fwd: seconds from start to ready to forward.
    startup_s: Option<f64>,
    /// Share of a CPU the DUT and the generator got over the measured interval (other
    /// work on the machine takes the rest).
    dut_cpu: f64,
    gen_cpu: f64,
    /// Router: its `forwarded` counters summed over ports.
    forwarded: Option<u64>,
    /// Router: its worker's load over the measured seconds.
    load: Option<WorkerLoad>,
}

/// A router worker's load over an interval, from its Prometheus lcore counters: whether
/// the router or its peers set the rate. A worker busy in (nearly) every round, in full
/// bursts, is the bottleneck; one with idle rounds or short bursts waits for packets.
#[derive(Debug, Clone, Copy)]
struct WorkerLoad {
    /// Share of the TSC cycles spent in rounds that received or sent something.
    busy: f64,
    /// Mean packets per non-empty RX burst.
    burst: f64,
    /// TSC cycles of busy rounds per packet received.
    cycles_per_packet: f64,
}

/// The worker counters `WorkerLoad` is computed from (sums over lcores).
#[derive(Debug, Clone, Copy, Default)]
struct LcoreCounters {
    busy: f64,
    idle: f64,
    bursts: f64,
    packets: f64,
}

impl LcoreCounters {
    /// Reads them from the router's `/metrics` at `addr`.
    fn scrape(addr: &str) -> Result<LcoreCounters, String> {
        use std::io::Write as _;
        let mut s = std::net::TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
        let mut body = String::new();
        s.read_to_string(&mut body)
            .map_err(|e| format!("{addr}: {e}"))?;
        let mut c = LcoreCounters::default();
        for l in body.lines().filter(|l| !l.starts_with('#')) {
            let (Some(name), Some(v)) = (
                l.split('{').next(),
                l.split_whitespace()
                    .last()
                    .and_then(|v| v.parse::<f64>().ok()),
            ) else {
                continue;
            };
            match name {
                "ferroute_lcore_busy_cycles_total" => c.busy += v,
                "ferroute_lcore_idle_cycles_total" => c.idle += v,
                "ferroute_lcore_bursts_total" => c.bursts += v,
                "ferroute_lcore_burst_packets_total" => c.packets += v,
                _ => {}
            }
        }
        if c.busy + c.idle == 0.0 {
            return Err(format!("{addr}: no ferroute_lcore_* counters in /metrics"));
        }
        Ok(c)
    }

    /// The load between `self` (earlier) and `later`.
    fn load_until(self, later: LcoreCounters) -> WorkerLoad {
        let (busy, idle) = (later.busy - self.busy, later.idle - self.idle);
        let (bursts, packets) = (later.bursts - self.bursts, later.packets - self.packets);
        WorkerLoad {
            busy: busy / (busy + idle).max(1.0),
            burst: packets / bursts.max(1.0),
            cycles_per_packet: busy / packets.max(1.0),
        }
    }
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
    /// The router's `/metrics` address (loopback; a port of this run's own).
    fn metrics(&self) -> String {
        format!("127.0.0.1:{}", 20_000 + self.id % 20_000)
    }
}

impl Drop for Names {
    /// Whatever happened: no namespace, socket, DPDK runtime directory, hugepage file or
    /// temp file left.
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns()])
            .stderr(Stdio::null())
            .status();
        for who in ["gen", "dut"] {
            let prefix = self.prefix(who);
            let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(&prefix));
            // --huge-unlink leaves none, but a process killed during EAL init might.
            for dir in hugetlbfs_mounts() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().starts_with(&prefix) {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
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

    /// The last lines of the log (read from its last 64 KiB: l3fwd's log with the full
    /// table has a line per route, about 47 MB).
    fn log_tail(&self) -> String {
        let mut text = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let len = f.metadata().map_or(0, |m| m.len());
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
            let _ = f.read_to_end(&mut text);
        }
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// SIGINT (testpmd prints its totals and exits; the router and l3fwd shut down
    /// cleanly), then SIGKILL after `grace`.
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
fn own_session(program: impl AsRef<std::ffi::OsStr>) -> Command {
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
/// Reads only what was appended since the last look (l3fwd's log grows to tens of MB).
fn wait_for_log(p: &mut Proc, pattern: &str, timeout: Duration) -> Result<f64, String> {
    let t = Instant::now();
    let needle = pattern.as_bytes();
    let mut pos = 0u64;
    // The end of what was read, so that a pattern split across two reads is found.
    let mut window: Vec<u8> = Vec::new();
    loop {
        if let Ok(mut f) = std::fs::File::open(&p.log) {
            if f.seek(SeekFrom::Start(pos)).is_ok() {
                let mut new = Vec::new();
                if let Ok(n) = f.read_to_end(&mut new) {
                    pos += n as u64;
                    window.extend_from_slice(&new);
                    if window.windows(needle.len()).any(|w| w == needle) {
                        return Ok(t.elapsed().as_secs_f64());
                    }
                    let keep = window.len().saturating_sub(needle.len());
                    window.drain(..keep);
                }
            }
        }
        if interrupted() {
            return Err("interrupted".into());
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

/// Set by SIGINT/SIGTERM: the DUT and the generator run in sessions of their own (see
/// `own_session`), so a Ctrl-C does not reach them; the bench stops at its next check and
/// its Drops stop them and remove what it made.
static INTERRUPTED: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> =
    std::sync::OnceLock::new();

fn interrupted() -> bool {
    INTERRUPTED
        .get()
        .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
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

/// The mount points of hugetlbfs file systems.
fn hugetlbfs_mounts() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"hugetlbfs")).then(|| PathBuf::from(f[1]))
        })
        .collect()
}

const HUGE_2M: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB";

fn read_sys(name: &str) -> Result<u64, String> {
    let p = format!("{HUGE_2M}/{name}");
    std::fs::read_to_string(&p)
        .map_err(|e| format!("{p}: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("{p}: {e}"))
}

/// 2 MiB hugepages set up for the run (`--huge`), and put back as found when dropped:
/// the pool size, if nobody changed it since, and the hugetlbfs mount, if this run made it.
struct Hugepages {
    /// (nr_hugepages before, the value this run wrote).
    resized: Option<(u64, u64)>,
    mounted: Option<PathBuf>,
}

impl Hugepages {
    /// At least `pages` free 2 MiB pages on a mounted hugetlbfs, or why not.
    fn get(pages: u64) -> Result<Hugepages, String> {
        let mut h = Hugepages {
            resized: None,
            mounted: None,
        };
        // Mounted with the default page size (2 MiB on x86) unless it says otherwise.
        let two_mb = std::fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .lines()
            .any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.get(2) == Some(&"hugetlbfs")
                    && f.get(3)
                        .is_some_and(|o| !o.contains("pagesize=") || o.contains("pagesize=2M"))
            });
        if !two_mb {
            let dir = "/dev/hugepages";
            std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
            run(&[
                "mount",
                "-t",
                "hugetlbfs",
                "-o",
                "pagesize=2M",
                "nodev",
                dir,
            ])?;
            h.mounted = Some(dir.into());
        }
        let free = read_sys("free_hugepages")?;
        if free < pages {
            let nr = read_sys("nr_hugepages")?;
            let want = nr + (pages - free);
            let p = format!("{HUGE_2M}/nr_hugepages");
            std::fs::write(&p, want.to_string()).map_err(|e| format!("{p}: {e}"))?;
            h.resized = Some((nr, want));
            // The kernel gives what it can find contiguous; it may be fewer.
            let free = read_sys("free_hugepages")?;
            if free < pages {
                return Err(format!(
                    "asked for {pages} free 2 MiB hugepages, the kernel gave {free}"
                ));
            }
        }
        Ok(h)
    }
}

impl Drop for Hugepages {
    fn drop(&mut self) {
        if let Some((before, ours)) = self.resized {
            if read_sys("nr_hugepages").ok() == Some(ours) {
                let _ = std::fs::write(format!("{HUGE_2M}/nr_hugepages"), before.to_string());
            }
        }
        if let Some(dir) = &self.mounted {
            // Busy if another program uses it meanwhile: then it stays.
            let _ = Command::new("umount")
                .arg(dir)
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The EAL arguments every DPDK process here shares: `mb` MiB of memory, on 2 MiB
/// hugepages (their files unlinked once mapped, so none outlive the process) or on
/// ordinary pages.
fn eal_common(prefix: &str, mb: u32, huge: bool) -> Vec<String> {
    let mem: &[&str] = if huge {
        &["--huge-unlink", "-m"]
    } else {
        &["--no-huge", "-m"]
    };
    mem.iter()
        .map(|s| s.to_string())
        .chain([mb.to_string()])
        .chain(
            [
                "--no-pci",
                "--file-prefix",
                prefix,
                "--log-level",
                "lib.eal:notice",
            ]
            .iter()
            .map(|s| s.to_string()),
        )
        .collect()
}
/// The router's configuration: two ports (generator side, sink side) with flowgen's
/// destination MAC, static neighbours for testpmd's side and the two bench routes (the
/// full table is loaded through the control API once the router runs).
fn router_config(n: &Names, link: Link, huge: bool) -> String {
    let eal: Vec<String> = ["--lcores", "0@0,1@1"]
        .iter()
        .map(|s| s.to_string())
        .chain(eal_common(&n.prefix("dut"), DUT_MB, huge))
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
listen = "{metrics}"
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
{routes}"#,
        eal = eal.join(", "),
        sock = n.dir.join("router.sock").display(),
        metrics = n.metrics(),
        p0 = port(0),
        p1 = port(1),
        routes = BENCH_ROUTES
            .iter()
            .map(|(prefix, i)| format!(
                "[[route]]\nprefix = \"{prefix}\"\nvia = \"198.18.{i}.2\"\nport = \"{}\"\n",
                ["a", "b"][*i]
            ))
            .collect::<String>(),
    )
}

/// The table's prefixes but the two bench routes (which both DUTs get on their own).
fn table_prefixes(t: &table::Table) -> impl Iterator<Item = String> + '_ {
    t.prefixes
        .iter()
        .map(|p| p.to_string())
        .filter(|p| BENCH_ROUTES.iter().all(|(r, _)| r != p))
}

/// The table as `ferroute route load` reads it, one prefix per line (without the two
/// bench routes, which the config has).
fn table_file(t: &table::Table) -> String {
    let mut s = String::with_capacity(t.prefixes.len() * 20);
    for p in table_prefixes(t) {
        let _ = writeln!(s, "{p}");
    }
    s
}

/// l3fwd's `--rule_ipv4` file (`R<prefix>/<len> <port>` a line, l3fwd 22.11
/// lpm_route_parse.c): the two bench routes, and with `full` the table via port B.
fn l3fwd_rules(full: Option<&table::Table>) -> String {
    let mut s = String::new();
    if let Some(t) = full {
        s.reserve(t.prefixes.len() * 20);
        for p in table_prefixes(t) {
            let _ = writeln!(s, "R{p} 1");
        }
    }
    for (p, port) in BENCH_ROUTES {
        let _ = writeln!(s, "R{p} {port}");
    }
    s
}

/// l3fwd's `--rule_ipv6` file: l3fwd reads its rule files only when given both (else it
/// loads its built-in routes) and refuses an empty one, so one documentation prefix.
const L3FWD_RULES_V6: &str = "R2001:db8::/32 0\n";

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
/// generator opens them with net_af_packet. `mac`: the DUT's ports take flowgen's
/// destination MAC in devargs (l3fwd, which has no other way to set it).
fn vdevs(n: &Names, link: Link, dut: bool, mac: bool) -> Vec<String> {
    let mac = if mac {
        format!(",mac={FLOWGEN_DST_MAC}")
    } else {
        String::new()
    };
    (0..2)
        .map(|i| match (link, dut) {
            (Link::Memif, true) => format!(
                "--vdev=net_memif{i},role=server,id=0,socket={}{mac}",
                n.sock(i).display()
            ),
            (Link::Memif, false) => format!(
                "--vdev=net_memif{i},role=client,id=0,socket={}",
                n.sock(i).display()
            ),
            (Link::Tap, true) => format!("--vdev=net_tap{i},iface={}{mac}", n.tap(i)),
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

/// Everything one run needs: names, and the configs and rule files written once.
struct Bench {
    names: Names,
    timing: Timing,
    /// EAL on 2 MiB hugepages.
    huge: bool,
    small_cfg: [PathBuf; 2],
    /// The full table for `ferroute route load`, when a contender needs it.
    table: Option<PathBuf>,
    /// The l3fwd binary, when a contender needs it.
    l3fwd: Option<PathBuf>,
    /// l3fwd's rule files: IPv4 with the two routes, IPv4 with the full table, IPv6.
    l3fwd_small: PathBuf,
    l3fwd_full: Option<PathBuf>,
    l3fwd_v6: PathBuf,
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
                        "--socket",
                        &n.dir.join("router.sock").to_string_lossy(),
                    ])
                    .map_err(|e| format!("route load: {e}\n{}", p.log_tail()))?;
                }
                Ok((p, Some(t.elapsed().as_secs_f64())))
            }
            Dut::L3fwdLpm | Dut::L3fwdFib => {
                let bin = self.l3fwd.as_ref().ok_or("l3fwd was not built")?;
                let rules = if dut == Dut::L3fwdFib {
                    self.l3fwd_full
                        .as_ref()
                        .ok_or("no l3fwd full-table rules")?
                } else {
                    &self.l3fwd_small
                };
                // One lcore, the main one, on CPU 1: both ports' queue 0 on lcore 1.
                let mut args = vec!["--lcores".to_string(), "1@1".into()];
                args.extend(eal_common(&n.prefix("dut"), L3FWD_MB, self.huge));
                args.extend(vdevs(n, link, true, true));
                args.push("--".into());
                args.extend(
                    [
                        "-p",
                        "0x3",
                        "--config=(0,0,1),(1,0,1)",
                        if dut == Dut::L3fwdFib {
                            "--lookup=fib"
                        } else {
                            "--lookup=lpm"
                        },
                        // memif and net_tap report no packet types; l3fwd then parses them.
                        "--parse-ptype",
                    ]
                    .map(String::from),
                );
                args.push(format!("--rule_ipv4={}", rules.display()));
                args.push(format!("--rule_ipv6={}", self.l3fwd_v6.display()));
                // Back to testpmd's side: flowgen's source MAC on both ports.
                for port in 0..2 {
                    args.push(format!("--eth-dest={port},{FLOWGEN_SRC_MAC}"));
                }
                let mut p = Proc::spawn("l3fwd", own_session(bin).args(&args), log, false)?;
                // The routes are in and the ports started when it checks the links; a
                // memif link comes up only once the generator connects (l3fwd waits up to
                // 9 s for it, then forwards anyway); a tap's is up at once.
                let ready = match link {
                    Link::Memif => "Checking link status",
                    Link::Tap => "entering main loop",
                };
                let s = wait_for_log(&mut p, ready, Duration::from_secs(120))?;
                Ok((p, Some(s)))
            }
            Dut::TestpmdIo => {
                let mut args = vec!["--lcores".to_string(), "0@0,1@1".into()];
                args.extend(eal_common(&n.prefix("dut"), DUT_MB, self.huge));
                args.extend(vdevs(n, link, true, false));
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
        args.extend(eal_common(&n.prefix("gen"), GEN_MB, self.huge));
        args.extend(vdevs(n, link, false, false));
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
        let mut lcore_from = None;
        let mut waited = Duration::ZERO;
        let tick = Duration::from_secs(1);
        while samples.len() < self.timing.warmup + self.timing.measure {
            if interrupted() {
                return Err("interrupted".into());
            }
            match stats.recv_timeout(tick) {
                Ok(s) => {
                    period = Duration::from_secs(10);
                    waited = Duration::ZERO;
                    samples.push(s);
                    last = s;
                    if samples.len() == self.timing.warmup {
                        cpu_from = Some((Instant::now(), cpu_ticks(&d), cpu_ticks(&g)));
                        if dut.is_router() {
                            lcore_from = Some(LcoreCounters::scrape(&self.names.metrics())?);
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) if g.alive() && d.alive() => {
                    waited += tick;
                    if waited >= period {
                        return Err(format!(
                            "no statistics from the generator for {period:?}:\n{}",
                            g.log_tail()
                        ));
                    }
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
            samples: measured.iter().map(|s| s.rx_pps as f64).collect(),
            tx_pps: mean(|s| s.tx_pps),
            rx_total: last.rx_packets,
            startup_s,
            dut_cpu,
            gen_cpu,
            forwarded: None,
            load: None,
        };
        if let Some(from) = lcore_from {
            t.load = Some(from.load_until(LcoreCounters::scrape(&self.names.metrics())?));
        }
        if dut.is_router() {
            let out = run(&[
                ROUTER,
                "counters",
                "--socket",
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

/// Builds l3fwd into `$CARGO_TARGET_DIR/l3fwd-build` (or `target/`), or reuses that
/// build; returns the binary.
fn build_l3fwd() -> Result<PathBuf, String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let cache = target.join("l3fwd-build");
    eprintln!("l3fwd: building (or reusing) in {}", cache.display());
    let o = Command::new("bash")
        .arg(L3FWD_BUILD)
        .arg(&cache)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("bash {L3FWD_BUILD}: {e}"))?;
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() {
        return Err(format!(
            "building DPDK's l3fwd failed ({L3FWD_BUILD} {}):\n{out}{err}",
            cache.display()
        ));
    }
    let bin = out.lines().last().map(PathBuf::from).unwrap_or_default();
    if !bin.is_file() {
        return Err(format!("{L3FWD_BUILD} printed no binary:\n{out}{err}"));
    }
    Ok(bin)
}

fn main() -> ExitCode {
    let flag = INTERRUPTED.get_or_init(Default::default);
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, flag.clone()) {
            eprintln!("throughput benchmark: cannot catch signal {sig}: {e}");
        }
    }
    let mode = Mode::from_args();
    match bench(mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("throughput benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Per DUT, in Mpps: the median over trials of each trial's mean, and the 90th
/// percentile and the peak of all its 1-s samples. Ratios of two DUTs are taken
/// statistic by statistic.
#[derive(Debug, Clone, Copy)]
struct Summary {
    median: f64,
    p90: f64,
    peak: f64,
}

impl Summary {
    fn of<'a>(trials: impl Iterator<Item = &'a Trial> + Clone) -> Summary {
        let mut means: Vec<f64> = trials.clone().map(|t| t.rx_pps / 1e6).collect();
        let mut all: Vec<f64> = trials.flat_map(|t| &t.samples).map(|s| s / 1e6).collect();
        Summary {
            median: median(&mut means),
            p90: percentile(&mut all, 90.0),
            peak: all.iter().cloned().fold(f64::NAN, f64::max),
        }
    }

    fn ratio(self, to: Summary) -> Summary {
        Summary {
            median: self.median / to.median,
            p90: self.p90 / to.p90,
            peak: self.peak / to.peak,
        }
    }

    fn parts(self) -> [(&'static str, f64); 3] {
        [
            ("median", self.median),
            ("p90", self.p90),
            ("peak", self.peak),
        ]
    }

    /// "0.55 / 0.60 / 0.72" (median / p90 / peak).
    fn ratio_cell(self) -> String {
        format!("{:.2} / {:.2} / {:.2}", self.median, self.p90, self.peak)
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
    let mut timing = mode.pick(
        Timing {
            warmup: 3,
            measure: 8,
        },
        Timing {
            warmup: 1,
            measure: 1,
        },
    );
    // 7 rounds: the VM's slow periods (every DUT at about 5 Mpps) can last minutes, and
    // in one 5-round run they took all five trials of one DUT.
    let mut rounds = mode.pick(7, 1);
    let mut links = vec![Link::Memif, Link::Tap];
    // Narrowing a run: `-- --link memif|tap`, `--rounds N`, `--warmup N`, `--seconds N`
    // (measured), `--dut KEY,KEY` (see Dut::key); `--huge` for 2 MiB hugepages.
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let num = |name: &str| -> Result<Option<usize>, String> {
        opt(name)
            .map(|v| {
                v.parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("{name} {v:?}: a whole number > 0"))
            })
            .transpose()
    };
    if let Some(l) = opt("--link") {
        links.retain(|k| k.name() == l);
        if links.is_empty() {
            return Err(format!("--link {l:?}: memif or tap"));
        }
    }
    rounds = num("--rounds")?.unwrap_or(rounds);
    timing.warmup = num("--warmup")?.unwrap_or(timing.warmup);
    timing.measure = num("--seconds")?.unwrap_or(timing.measure);
    let only: Option<Vec<Dut>> = match opt("--dut") {
        Some(list) => Some(
            list.split(',')
                .map(|k| {
                    Dut::ALL.into_iter().find(|d| d.key() == k).ok_or(format!(
                        "--dut {k:?}: one of {}",
                        Dut::ALL.map(Dut::key).join(", ")
                    ))
                })
                .collect::<Result<_, _>>()?,
        ),
        None => None,
    };
    // The contenders of each link: all in a full run; in a smoke run the router and, so
    // that its build and setup do not rot, l3fwd over memif.
    let duts_of = |link: Link| -> Vec<Dut> {
        let set: Vec<Dut> = match (mode, link) {
            (Mode::Full, _) => Dut::ALL.to_vec(),
            (Mode::Smoke, Link::Memif) => vec![Dut::L3fwdLpm, Dut::RouterSmall],
            (Mode::Smoke, Link::Tap) => vec![Dut::RouterSmall],
        };
        match &only {
            Some(o) => Dut::ALL.into_iter().filter(|d| o.contains(d)).collect(),
            None => set,
        }
    };
    let every: Vec<Dut> = links.iter().flat_map(|&l| duts_of(l)).collect();

    // Hugepages first (the guard puts them back after everything else is gone).
    let mut huge_note = None;
    let _hugepages = if args.iter().any(|a| a == "--huge") {
        let dut_mb = if every.iter().any(|d| d.is_l3fwd()) {
            L3FWD_MB
        } else {
            DUT_MB
        };
        // Generator and DUT at once, and a few pages of slack for EAL's own.
        let pages = u64::from((GEN_MB + dut_mb) / 2 + 16);
        match Hugepages::get(pages) {
            Ok(h) => Some(h),
            Err(e) => {
                let msg = format!(
                    "--huge: could not have {pages} 2 MiB hugepages ({e}); running with \
                     --no-huge instead"
                );
                eprintln!("{msg}");
                huge_note = Some(msg);
                None
            }
        }
    } else {
        None
    };
    let huge = _hugepages.is_some();

    let l3fwd = if every.iter().any(|d| d.is_l3fwd()) {
        Some(build_l3fwd()?)
    } else {
        None
    };

    let names = Names::new()?;
    let mut report = Report::new(
        if huge {
            "throughput-huge"
        } else {
            "throughput"
        },
        if huge {
            "Forwarding rate, testpmd flowgen -> DUT -> testpmd (64-byte UDP), 2 MiB hugepages"
        } else {
            "Forwarding rate, testpmd flowgen -> DUT -> testpmd (64-byte UDP)"
        },
        mode,
    );
    if let Some(n) = huge_note {
        report.note(n);
    }
    // A narrowed full run (a quick look while developing) leaves bench/results alone.
    let narrowed = ["--link", "--rounds", "--warmup", "--seconds", "--dut"]
        .iter()
        .any(|o| opt(o).is_some());
    if mode == Mode::Full && narrowed {
        let dir = common::out_dir(Mode::Smoke).with_file_name("bench-reduced");
        report.note(format!(
            "reduced run (narrowed by options), written to {}",
            dir.display()
        ));
        report.set_dir(dir);
    }
    let write_file = |name: &str, text: &str| -> Result<PathBuf, String> {
        let p = names.dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(p)
    };
    let small_cfg = [
        write_file(
            "router-memif-small.toml",
            &router_config(&names, Link::Memif, huge),
        )?,
        write_file(
            "router-tap-small.toml",
            &router_config(&names, Link::Tap, huge),
        )?,
    ];
    let (table, l3fwd_full) = if every.iter().any(|d| d.full_table()) {
        let t = table::full(table::LENGTHS.iter().map(|l| l.1 as usize).sum())?;
        report.note(format!(
            "full table: {}, all via B's side, plus the two routes; the router loads it with \
             `ferroute route load FILE via 198.18.1.2 dev b` once ready (startup s: launch to \
             ready plus the load), l3fwd from its --rule_ipv4 file (startup s: launch to its \
             link check, the routes in)",
            t.source
        ));
        (
            Some(write_file("table.txt", &table_file(&t))?),
            Some(write_file("l3fwd-full.rules", &l3fwd_rules(Some(&t)))?),
        )
    } else {
        (None, None)
    };
    let b = Bench {
        timing,
        huge,
        small_cfg,
        table,
        l3fwd,
        l3fwd_small: write_file("l3fwd-2routes.rules", &l3fwd_rules(None))?,
        l3fwd_full,
        l3fwd_v6: write_file("l3fwd-v6.rules", L3FWD_RULES_V6)?,
        names,
    };

    report.note(format!(
        "generator and sink: dpdk-testpmd --forward-mode=flowgen --flowgen-flows={FLOWS} on two \
         ports, both sending and sinking; the 2-route table sends 10.253.0.0/25 to B's side and \
         10.253.0.128/25 to A's; DUT worker on CPU 1, generator on CPU 0"
    ));
    report.note(
        "memif: DUT ports are memif servers, testpmd the clients; tap: DUT ports are net_tap, \
         testpmd uses net_af_packet on those interfaces inside a namespace",
    );
    report.note(
        "l3fwd: DPDK's examples/l3fwd from Debian's dpdk source package, built by \
         bench/l3fwd/build.sh against the installed libdpdk with only the RX checksum offload \
         request off and LPM/FIB sized for the full table; one lcore (its main, on CPU 1), \
         --parse-ptype, -p 0x3, --config=(0,0,1),(1,0,1); it checks no IPv4 header checksum \
         in software (it leaves that to the NIC, and memif offers none), the router does",
    );
    report.note(format!(
        "EAL memory: {}; -m {GEN_MB} generator, {DUT_MB} router and testpmd io, {L3FWD_MB} l3fwd",
        if huge {
            "2 MiB hugepages (--huge-unlink)"
        } else {
            "--no-huge (4 KiB pages)"
        }
    ));
    report.note(format!(
        "{rounds} interleaved round(s); each trial restarts both processes, warms up {} s, \
         measures {} s (testpmd's per-second Rx-pps summed over both ports). Mpps median: \
         the median over trials of each trial's mean; p90 and peak: of all the DUT's 1-s \
         samples (the VM is bimodal: every DUT drops to about a third of its rate for seconds \
         at a time, and those seconds say nothing about the DUT)",
        timing.warmup, timing.measure
    ));
    report.note(
        "vs l3fwd: router 2 routes / l3fwd lpm 2 routes, router full / l3fwd fib full; vs \
         testpmd io: router / testpmd io; each as median / p90 / peak ratios",
    );
    report.note(
        "worker busy %, RX burst, busy cycles/pkt (router only, median over trials): from its \
         ferroute_lcore_* counters over the measured seconds: the share of TSC cycles in poll \
         rounds that did work, packets per non-empty RX burst, and busy cycles per packet \
         received. Busy near 100 % in bursts of 32 means the router set the rate; less means \
         it waited for packets (the generator or the links set it)",
    );
    report.note(
        "DUT/gen CPU %: CPU time the DUT and the generator got during the measured seconds \
         (/proc/PID/stat, all threads, median over trials); on a shared machine the rest went \
         to other work. Mpps at full CPU: median over the trials (n of them) where both got \
         >= 85 %",
    );
    report.columns(&[
        "link",
        "DUT",
        "Mpps median",
        "p90 1-s",
        "peak 1-s",
        "trials min..max",
        "vs l3fwd med/p90/peak",
        "vs testpmd io med/p90/peak",
        "offered Mpps",
        "DUT CPU %",
        "gen CPU %",
        "Mpps at full CPU (n)",
        "startup s",
        "worker busy %",
        "RX burst",
        "busy cycles/pkt",
    ]);

    for &link in &links {
        let duts = duts_of(link);
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
                            let lo = t.samples.iter().cloned().fold(f64::INFINITY, f64::min);
                            let hi = t.samples.iter().cloned().fold(0.0, f64::max);
                            eprintln!(
                                "{} {}: {:.3} Mpps at the sink (1-s {:.3}..{:.3}, offered {:.3}), CPU DUT {:.0}% gen {:.0}%{}{}",
                                link.name(),
                                dut.key(),
                                t.rx_pps / 1e6,
                                lo / 1e6,
                                hi / 1e6,
                                t.tx_pps / 1e6,
                                t.dut_cpu * 100.0,
                                t.gen_cpu * 100.0,
                                t.startup_s
                                    .map(|s| format!(", startup {s:.1} s"))
                                    .unwrap_or_default(),
                                t.load
                                    .map(|l| format!(
                                        ", worker busy {:.0}%, burst {:.1}, {:.0} cycles/pkt",
                                        l.busy * 100.0,
                                        l.burst,
                                        l.cycles_per_packet
                                    ))
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
        let of = |dut: Dut| {
            results
                .iter()
                .filter(move |(d, _)| *d == dut)
                .map(|(_, t)| t)
        };
        let summary = |dut: Dut| duts.contains(&dut).then(|| Summary::of(of(dut)));
        let mut peaks: Vec<(Dut, Summary)> = Vec::new();
        for (i, &dut) in duts.iter().enumerate() {
            let s = Summary::of(of(dut));
            peaks.push((dut, s));
            let lo = samples[i].iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = samples[i].iter().cloned().fold(0.0, f64::max);
            let mut offered: Vec<f64> = of(dut).map(|t| t.tx_pps / 1e6).collect();
            let mut startup: Vec<f64> = of(dut).filter_map(|t| t.startup_s).collect();
            let mut dut_cpu: Vec<f64> = of(dut).map(|t| t.dut_cpu * 100.0).collect();
            // The router worker's load, median over trials (empty for other DUTs).
            let loads: Vec<WorkerLoad> = of(dut).filter_map(|t| t.load).collect();
            let load_med = |f: fn(&WorkerLoad) -> f64| {
                let mut v: Vec<f64> = loads.iter().map(f).collect();
                (!v.is_empty()).then(|| median(&mut v))
            };
            let load = [
                ("worker_busy_pct", load_med(|l| l.busy * 100.0)),
                ("rx_burst", load_med(|l| l.burst)),
                ("busy_cycles_per_packet", load_med(|l| l.cycles_per_packet)),
            ];
            let mut gen_cpu: Vec<f64> = of(dut).map(|t| t.gen_cpu * 100.0).collect();
            let vs_l3fwd = dut.l3fwd_peer().and_then(summary).map(|peer| s.ratio(peer));
            let vs_io = summary(Dut::TestpmdIo)
                .filter(|_| dut.is_router())
                .map(|io| s.ratio(io));
            // Trials in which both processes had (nearly) a CPU each: the setup's own
            // figure, without the other work of a shared machine.
            let mut quiet: Vec<f64> = of(dut)
                .filter(|t| t.dut_cpu >= QUIET_CPU && t.gen_cpu >= QUIET_CPU)
                .map(|t| t.rx_pps / 1e6)
                .collect();
            let nquiet = quiet.len();
            let quiet_med = median(&mut quiet);
            let key = format!("{}.{}", link.name(), dut.key());
            for (stat, v) in s.parts() {
                report.figure(&format!("{key}.mpps_{stat}"), v);
            }
            for (what, r) in [("vs_l3fwd", vs_l3fwd), ("vs_testpmd_io", vs_io)] {
                for (stat, v) in r.iter().flat_map(|r| r.parts()) {
                    report.figure(&format!("{key}.{what}.{stat}"), v);
                }
            }
            if nquiet > 0 {
                report.figure(&format!("{key}.mpps_full_cpu"), quiet_med);
            }
            report.figure(&format!("{key}.dut_cpu_pct"), median(&mut dut_cpu.clone()));
            report.figure(&format!("{key}.gen_cpu_pct"), median(&mut gen_cpu.clone()));
            if !startup.is_empty() {
                report.figure(&format!("{key}.startup_s"), median(&mut startup.clone()));
            }
            for (what, v) in load {
                if let Some(v) = v {
                    report.figure(&format!("{key}.{what}"), v);
                }
            }
            report.series(&format!("{key}.trial_mean_mpps"), &samples[i]);
            let all: Vec<f64> = of(dut).flat_map(|t| &t.samples).map(|v| v / 1e6).collect();
            report.series(&format!("{key}.samples_1s_mpps"), &all);
            for (stat, v) in [
                ("peak 1-s", s.peak),
                ("p90 1-s", s.p90),
                ("median of trials", s.median),
            ] {
                report.bar(&format!("{}: {stat}", link.name()), "Mpps", dut.key(), v);
            }
            report.row(vec![
                link.name().into(),
                dut.key().into(),
                format!("{:.3}", s.median),
                format!("{:.3}", s.p90),
                format!("{:.3}", s.peak),
                format!("{lo:.3}..{hi:.3}"),
                vs_l3fwd.map_or_else(|| "-".into(), Summary::ratio_cell),
                vs_io.map_or_else(|| "-".into(), Summary::ratio_cell),
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
                load[0].1.map_or_else(|| "-".into(), |v| format!("{v:.0}")),
                load[1].1.map_or_else(|| "-".into(), |v| format!("{v:.1}")),
                load[2].1.map_or_else(|| "-".into(), |v| format!("{v:.0}")),
            ]);
            // Smoke (and every run): the sink got packets back, the router forwarded.
            for t in of(dut) {
                if t.rx_total == 0 {
                    return Err(format!("{key}: the sink received no packets"));
                }
                if t.forwarded == Some(0) {
                    return Err(format!("{key}: the router's forwarded counters are 0"));
                }
            }
        }
        // Issue 11's targets, judged on the peak 1-s figures of this run.
        let peak = |d: Dut| peaks.iter().find(|p| p.0 == d).map(|p| p.1.peak);
        let mut verdicts = Vec::new();
        for (router, against, target) in [
            (Dut::RouterSmall, Dut::L3fwdLpm, 1.0),
            (Dut::RouterFull, Dut::L3fwdFib, 1.0),
            (Dut::RouterSmall, Dut::TestpmdIo, 0.8),
            (Dut::RouterFull, Dut::TestpmdIo, 0.8),
        ] {
            if let (Some(r), Some(a)) = (peak(router), peak(against)) {
                verdicts.push(format!(
                    "{} / {} = {:.2} (>= {target}: {})",
                    router.key(),
                    against.key(),
                    r / a,
                    if r / a >= target { "met" } else { "NOT met" }
                ));
            }
        }
        // On memif only (tap is kernel-bound), and not in a smoke run (there the router
        // is the test profile's build).
        if mode == Mode::Full && link == Link::Memif && !verdicts.is_empty() {
            report.note(format!(
                "{}: targets by the peak 1-s figures: {}",
                link.name(),
                verdicts.join("; ")
            ));
        }
    }
    report
        .finish()
        .map_err(|e| format!("writing results: {e}"))?;
    Ok(())
}
