//! Shared by every benchmark in `bench/`: run mode, interleaved sampling, medians, the
//! printed table, and the result files (JSON for machines, SVG bar chart for people).
//!
//! Each benchmark is a `harness = false` bench target. `cargo bench --bench NAME` passes
//! `--bench` and gets the full run, written to `bench/results/NAME.{json,svg}`; run any other
//! way (as `cargo test` does) it is a smoke run with tiny inputs, written to
//! `target/bench-smoke/`, so that CI keeps every benchmark compiling and working.
#![allow(dead_code)] // not every benchmark uses every helper

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

pub mod table;

/// One atomic control-API batch (FR_BATCH_BEGIN .. FR_BATCH_END) of `kind` route
/// messages, RTM_NEWROUTE (create or replace) or RTM_DELROUTE, for `prefixes` via `gw`:
/// the bytes to write, and the sequence number whose ack ends the batch.
pub fn route_batch(
    conn: &mut ferroute::api::client::Conn,
    kind: u16,
    gw: std::net::Ipv4Addr,
    prefixes: impl Iterator<Item = (std::net::Ipv4Addr, u8)>,
) -> (Vec<u8>, u32) {
    use ferroute::api::*;
    let mut buf = Vec::new();
    conn.queue(&mut buf, FR_BATCH_BEGIN, 0, Body::Empty);
    let flags = if kind == RTM_NEWROUTE {
        NLM_F_CREATE | NLM_F_REPLACE
    } else {
        0
    };
    for (dst, len) in prefixes {
        let mut r = RouteMsg::new(dst, len);
        r.gateway = Some(gw);
        conn.queue(&mut buf, kind, flags, Body::Route(r));
    }
    let seq = conn.queue(&mut buf, FR_BATCH_END, NLM_F_ACK, Body::Empty);
    (buf, seq)
}

/// Runs `f` inside a DPDK EAL of its own, as the in-process benchmarks need it: 4 KiB
/// pages (`--no-huge -m mem_mb`), no PCI, a file prefix unique to the process (its
/// runtime directory removed afterwards), EAL logs from notice up, and `extra`
/// arguments (lcores, vdevs). The EAL is torn down before this returns.
pub fn with_eal<T>(
    name: &str,
    mem_mb: u32,
    extra: &[&str],
    f: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    let prefix = format!("ferroute-bench-{name}-{}", std::process::id());
    let mem = mem_mb.to_string();
    let mut args: Vec<String> = [
        "--no-huge",
        "-m",
        &mem,
        "--no-pci",
        "--file-prefix",
        &prefix,
        "--log-level",
        "lib.eal:notice",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let result = ferroute::dpdk::Eal::init(&args)
        .map_err(|e| e.to_string())
        .and_then(|eal| {
            let r = f();
            drop(eal);
            r
        });
    let _ = std::fs::remove_dir_all(std::path::Path::new("/var/run/dpdk").join(&prefix));
    result
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Full,
    Smoke,
}

impl Mode {
    /// `--bench` on the command line (what `cargo bench` passes) means a full run.
    pub fn from_args() -> Mode {
        if std::env::args().any(|a| a == "--bench") {
            Mode::Full
        } else {
            Mode::Smoke
        }
    }

    /// `full` in a full run, `smoke` otherwise.
    pub fn pick<T>(self, full: T, smoke: T) -> T {
        match self {
            Mode::Full => full,
            Mode::Smoke => smoke,
        }
    }
}

/// Where result files go for this mode.
pub fn out_dir(mode: Mode) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match mode {
        Mode::Full => root.join("bench/results"),
        Mode::Smoke => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
            .join("bench-smoke"),
    }
}

/// Median of `xs` (NaN if empty). Sorts in place.
pub fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The `p`-th percentile (0..=100) of `xs`, linear between the closest ranks (NaN if
/// empty). Sorts in place.
pub fn percentile(xs: &mut [f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let rank = (p / 100.0).clamp(0.0, 1.0) * (xs.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    xs[lo] + (xs[hi] - xs[lo]) * (rank - lo as f64)
}

/// Runs every contender once per round, in the same order each round (A B C A B C ...),
/// so that slow phases of a shared machine hit all of them alike. Returns the samples per
/// contender, in contender order.
pub fn interleave(rounds: usize, contenders: &mut [&mut dyn FnMut() -> f64]) -> Vec<Vec<f64>> {
    let mut samples = vec![Vec::with_capacity(rounds); contenders.len()];
    for _ in 0..rounds {
        for (c, s) in contenders.iter_mut().zip(samples.iter_mut()) {
            s.push(c());
        }
    }
    samples
}

/// Seconds taken by `f`, and its result.
pub fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let r = f();
    (t.elapsed().as_secs_f64(), r)
}

/// CPU seconds this thread has run (`CLOCK_THREAD_CPUTIME_ID`), or None where that is
/// not available. (Not /proc/thread-self/schedstat: it advances in scheduler ticks,
/// 4 ms here, while the thread runs.)
pub fn thread_cpu_secs() -> Option<f64> {
    ferroute::dpdk::thread_cpu_time().map(|d| d.as_secs_f64())
}

/// CPU seconds this thread spent in `f` (wall seconds where CPU time is not available),
/// and its result. On a machine shared with other work, CPU time measures what a
/// dedicated core would do; wall time also counts the time others held the CPU.
pub fn cpu_timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let (c0, t0) = (thread_cpu_secs(), Instant::now());
    let r = f();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = thread_cpu_secs().zip(c0).map(|(c1, c0)| c1 - c0);
    (cpu.filter(|&c| c > 0.0).unwrap_or(wall), r)
}

/// The 1-minute load average (from /proc/loadavg), to report how busy the machine was.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A small deterministic PRNG (xorshift64*), so that every contender gets the same keys.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

/// A bar chart panel: (group label, unit, [(series label, value)]).
type Chart = (String, String, Vec<(String, f64)>);

/// One benchmark's results: a table of rows (printed, and saved as JSON) and bar-chart
/// series (saved as SVG).
pub struct Report {
    name: String,
    title: String,
    mode: Mode,
    notes: Vec<String>,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Chart groups: (group label, unit, [(series label, value)]).
    charts: Vec<Chart>,
    /// Named figures for machines (`"fib.ferroute.burst_mlps": 230.0`).
    figures: Vec<(String, f64)>,
    /// Named lists of raw samples, kept in the JSON only (`"memif.x.samples": [..]`).
    series: Vec<(String, Vec<f64>)>,
    /// Where the files go, when not `out_dir(mode)`.
    dir: Option<PathBuf>,
}

impl Report {
    pub fn new(name: &str, title: &str, mode: Mode) -> Report {
        Report {
            name: name.into(),
            title: title.into(),
            mode,
            notes: Vec::new(),
            columns: Vec::new(),
            rows: Vec::new(),
            charts: Vec::new(),
            figures: Vec::new(),
            series: Vec::new(),
            dir: None,
        }
    }

    /// Writes the files into `dir` instead of `out_dir(mode)` (a narrowed full run, so
    /// that it does not replace the full run's files).
    pub fn set_dir(&mut self, dir: PathBuf) {
        self.dir = Some(dir);
    }

    /// A line printed above the table and kept in the result file (inputs, caveats).
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn columns(&mut self, names: &[&str]) {
        self.columns = names.iter().map(|s| s.to_string()).collect();
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// A machine-readable figure; also the source of the chart when added with `bar`.
    pub fn figure(&mut self, key: &str, value: f64) {
        self.figures.push((key.into(), value));
    }

    /// Raw samples under `key`, for whoever wants to recompute the figures.
    pub fn series(&mut self, key: &str, values: &[f64]) {
        self.series.push((key.into(), values.to_vec()));
    }

    /// A bar in chart `group` (one panel per group; bars compared within a panel).
    pub fn bar(&mut self, group: &str, unit: &str, series: &str, value: f64) {
        match self.charts.iter_mut().find(|(g, _, _)| g == group) {
            Some((_, _, bars)) => bars.push((series.into(), value)),
            None => self
                .charts
                .push((group.into(), unit.into(), vec![(series.into(), value)])),
        }
    }

    pub fn figures(&self) -> &[(String, f64)] {
        &self.figures
    }

    /// The aligned table as text.
    pub fn table(&self) -> String {
        let ncol = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.columns.len()])
            .max()
            .unwrap_or(0);
        let mut width = vec![0; ncol];
        for r in std::iter::once(&self.columns).chain(&self.rows) {
            for (i, c) in r.iter().enumerate() {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let mut s = String::new();
        let line = |s: &mut String, r: &[String]| {
            for (i, c) in r.iter().enumerate() {
                // First column left-aligned (labels), the rest right-aligned (numbers).
                if i == 0 {
                    let _ = write!(s, "{c:<w$}", w = width[i]);
                } else {
                    let _ = write!(s, "  {c:>w$}", w = width[i]);
                }
            }
            s.push('\n');
        };
        line(&mut s, &self.columns);
        let total: usize = width.iter().sum::<usize>() + 2 * ncol.saturating_sub(1);
        s.push_str(&"-".repeat(total));
        s.push('\n');
        for r in &self.rows {
            line(&mut s, r);
        }
        s
    }

    /// Prints the report and writes `NAME.json` and `NAME.svg`; returns the JSON path.
    pub fn finish(&self) -> std::io::Result<PathBuf> {
        println!("\n{} ({:?} run)", self.title, self.mode);
        let machine = machine();
        println!("{machine}");
        for n in &self.notes {
            println!("  {n}");
        }
        println!("\n{}", self.table());
        let dir = self.dir.clone().unwrap_or_else(|| out_dir(self.mode));
        std::fs::create_dir_all(&dir)?;
        let json = dir.join(format!("{}.json", self.name));
        let mut value = serde_json::json!({
            "benchmark": self.name,
            "title": self.title,
            "mode": format!("{:?}", self.mode).to_lowercase(),
            "date_utc": utc_now(),
            "machine": machine,
            "git_rev": env!("FERROUTE_GIT_REV"),
            "notes": self.notes,
            "columns": self.columns,
            "rows": self.rows,
            "figures": self
                .figures
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                .collect::<serde_json::Map<_, _>>(),
        });
        if !self.series.is_empty() {
            value["series"] = self
                .series
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        std::fs::write(&json, serde_json::to_string_pretty(&value)? + "\n")?;
        let svg = dir.join(format!("{}.svg", self.name));
        std::fs::write(&svg, self.svg(&machine))?;
        println!("wrote {} and {}", json.display(), svg.display());
        Ok(json)
    }

    /// Horizontal bar chart, one panel per group, bars scaled within their panel.
    fn svg(&self, machine: &str) -> String {
        const W: f64 = 760.0;
        const LABEL: f64 = 230.0;
        const BAR_H: f64 = 18.0;
        const COLORS: [&str; 6] = [
            "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
        ];
        let mut body = String::new();
        let mut y = 56.0;
        for (group, unit, bars) in &self.charts {
            let _ = writeln!(
                body,
                r#"<text x="10" y="{y}" font-weight="bold">{} ({})</text>"#,
                esc(group),
                esc(unit)
            );
            y += 8.0;
            let max = bars.iter().map(|b| b.1).fold(0.0f64, f64::max);
            for (i, (series, v)) in bars.iter().enumerate() {
                let len = if max > 0.0 {
                    (W - LABEL - 110.0) * v / max
                } else {
                    0.0
                };
                let _ = writeln!(
                    body,
                    r#"<text x="{lx}" y="{ty}" text-anchor="end">{s}</text><rect x="{LABEL}" y="{y}" width="{len:.1}" height="{h}" fill="{c}"/><text x="{vx:.1}" y="{ty}">{v}</text>"#,
                    lx = LABEL - 6.0,
                    ty = y + BAR_H - 5.0,
                    s = esc(series),
                    h = BAR_H - 4.0,
                    c = COLORS[i % COLORS.len()],
                    vx = LABEL + len + 4.0,
                    v = fmt_num(*v),
                );
                y += BAR_H;
            }
            y += 22.0;
        }
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="15" font-weight="bold">{t}</text>
<text x="10" y="38" fill="#555">{m}</text>
{body}</svg>
"##,
            h = y + 10.0,
            t = esc(&self.title),
            m = esc(&format!(
                "{} · {} · {}",
                utc_now(),
                machine,
                env!("FERROUTE_GIT_REV")
            )),
        )
    }
}

/// Three significant figures, without exponent noise.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || v == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// "AMD EPYC 7B13, 2 CPUs, Linux 6.1.0-..." from /proc, for the result files.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown CPU")
        .to_string();
    // Counted from /proc/cpuinfo: the affinity that available_parallelism() reports is
    // narrowed by the EAL to the lcores of a benchmark that starts DPDK.
    let cpus = match cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
    {
        0 => std::thread::available_parallelism().map_or(0, |n| n.get()),
        n => n,
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cpus} CPUs, Linux {}", kernel.trim())
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, H. Hinnant's algorithm).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
