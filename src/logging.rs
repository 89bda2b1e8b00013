//! The router's log sink for the `log` facade: levels (`--log-level`, `[log] level`),
//! one line per record on stderr, and nothing a broken or full stderr can do to the
//! router.
//!
//! Records are formatted where they are logged and handed to a writer thread through a
//! bounded queue; a full queue (stderr not drained: a stalled pipe or terminal) drops the
//! line and counts it, and a write error (a closed pipe: `ferroute run 2>&1 | head`)
//! drops it too. Neither panics nor blocks the thread that logs. The count of dropped
//! lines is written once the stream takes lines again.
//!
//! Under systemd (`JOURNAL_STREAM` names the stderr we hold) each line starts with
//! sd-daemon(3)'s `<N>` priority prefix, which journald turns into the entry's priority,
//! and the `ferroute: ` prefix is left out (journald records the program). Elsewhere
//! lines read `ferroute: message`, warnings and errors with their level.
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Lines waiting for the writer thread at most; beyond that they are dropped.
pub const QUEUE: usize = 1024;

/// How the lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `ferroute: message` (`ferroute: warning: message` for warnings and errors).
    Plain,
    /// `<N>message`, N the syslog priority (sd-daemon(3)).
    Journal,
}

impl Style {
    /// Journal style when stderr is the stream systemd set up for journald: the
    /// `JOURNAL_STREAM` `DEVICE:INODE` matches what fd 2 is (systemd.exec(5)).
    pub fn detect() -> Style {
        use std::os::unix::fs::MetadataExt;
        let Ok(v) = std::env::var("JOURNAL_STREAM") else {
            return Style::Plain;
        };
        let ours = std::fs::metadata("/proc/self/fd/2").map(|m| format!("{}:{}", m.dev(), m.ino()));
        match ours {
            Ok(ours) if ours == v => Style::Journal,
            // Cannot tell (no /proc): trust the variable.
            Err(_) => Style::Journal,
            Ok(_) => Style::Plain,
        }
    }
}

/// syslog priority of a level: err 3, warning 4, info 6, debug 7.
pub fn priority(l: Level) -> u8 {
    match l {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// One record as a line (with its newline).
pub fn format_line(style: Style, level: Level, msg: &std::fmt::Arguments) -> String {
    match (style, level) {
        (Style::Journal, l) => format!("<{}>{msg}\n", priority(l)),
        (Style::Plain, Level::Error) => format!("ferroute: error: {msg}\n"),
        (Style::Plain, Level::Warn) => format!("ferroute: warning: {msg}\n"),
        (Style::Plain, _) => format!("ferroute: {msg}\n"),
    }
}

/// A log level that is none of [`parse_level`]'s names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a log level (off, error, warn, info, debug, trace)")]
pub struct LevelError(pub String);

/// The config layer reports a refused value as its message text.
impl From<LevelError> for String {
    fn from(e: LevelError) -> String {
        e.to_string()
    }
}

/// Parses `error`, `warn`/`warning`, `info`, `debug`, `trace`, `off`.
pub fn parse_level(s: &str) -> Result<LevelFilter, LevelError> {
    match s.to_ascii_lowercase().as_str() {
        "warning" => Ok(LevelFilter::Warn),
        other => other.parse().map_err(|_| LevelError(s.to_string())),
    }
}

/// What the logger shares with its writer thread.
struct Shared {
    /// Lines queued and not yet written (or dropped by the writer).
    queued: AtomicUsize,
    /// Lines lost: queue full or write failed.
    dropped: AtomicU64,
}

/// The `log::Log` implementation; install it with [`init`].
pub struct Logger {
    style: Style,
    level: LevelFilter,
    tx: Mutex<Option<SyncSender<String>>>,
    shared: Arc<Shared>,
}

impl Logger {
    /// A logger writing to `out` from a thread of its own.
    pub fn new(style: Style, level: LevelFilter, out: Box<dyn Write + Send>) -> Logger {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        });
        let s = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name("ferroute-log".into())
            .spawn(move || writer(rx, out, &s, style));
        Logger {
            style,
            level,
            // No thread, no logging (and nothing to block on).
            tx: Mutex::new(spawned.ok().map(|_| tx)),
            shared,
        }
    }

    /// Lines lost so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Relaxed)
    }

    /// Queues a line; drops it (counted) if the queue is full.
    fn queue(&self, line: String) {
        let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = guard.as_ref() else {
            self.shared.dropped.fetch_add(1, Relaxed);
            return;
        };
        self.shared.queued.fetch_add(1, Relaxed);
        match tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.queued.fetch_sub(1, Relaxed);
                self.shared.dropped.fetch_add(1, Relaxed);
            }
        }
    }

    /// Waits up to `timeout` for the queued lines to be written (or dropped).
    pub fn drain(&self, timeout: Duration) {
        let end = Instant::now() + timeout;
        while self.shared.queued.load(Relaxed) > 0 && Instant::now() < end {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

fn writer(rx: Receiver<String>, mut out: Box<dyn Write + Send>, s: &Shared, style: Style) {
    let mut reported = 0;
    while let Ok(line) = rx.recv() {
        let dropped = s.dropped.load(Relaxed);
        if dropped > reported {
            let note = format_line(
                style,
                Level::Warn,
                &format_args!(
                    "{} log line(s) dropped (stderr full or failing)",
                    dropped - reported
                ),
            );
            if out.write_all(note.as_bytes()).is_ok() {
                reported = dropped;
            }
        }
        if out
            .write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            s.dropped.fetch_add(1, Relaxed);
        }
        s.queued.fetch_sub(1, Relaxed);
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            self.queue(format_line(self.style, r.level(), r.args()));
        }
    }

    fn flush(&self) {
        self.drain(Duration::from_secs(1));
    }
}

/// Installs the stderr logger at `level` (once; later calls only change the level).
pub fn init(level: LevelFilter) {
    let logger = Logger::new(
        Style::detect(),
        LevelFilter::Trace,
        Box::new(std::io::stderr()),
    );
    // A second init (tests, or a library user's own logger) keeps the first logger.
    let _ = log::set_boxed_logger(Box::new(logger));
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::atomic::AtomicBool;

    /// A writer whose reader has gone, as stderr into a closed pipe.
    struct BrokenPipe;
    impl Write for BrokenPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
    }

    /// A writer that blocks until released (a pipe nobody reads), then collects.
    struct Stalled {
        go: Arc<AtomicBool>,
        got: Arc<Mutex<Vec<u8>>>,
    }
    impl Write for Stalled {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            while !self.go.load(Relaxed) {
                thread::sleep(Duration::from_millis(1));
            }
            self.got.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn record(l: &Logger, level: Level, msg: &str) {
        l.log(
            &Record::builder()
                .level(level)
                .args(format_args!("{msg}"))
                .build(),
        );
    }

    #[test]
    fn a_broken_stderr_loses_lines_without_panicking() {
        let l = Logger::new(Style::Plain, LevelFilter::Info, Box::new(BrokenPipe));
        for i in 0..10 {
            record(&l, Level::Info, &format!("line {i}"));
        }
        l.drain(Duration::from_secs(5));
        assert_eq!(l.dropped(), 10);
    }

    #[test]
    fn a_full_stderr_drops_lines_and_never_blocks_then_says_how_many() {
        let go = Arc::new(AtomicBool::new(false));
        let got = Arc::new(Mutex::new(Vec::new()));
        let w = Stalled {
            go: Arc::clone(&go),
            got: Arc::clone(&got),
        };
        let l = Logger::new(Style::Plain, LevelFilter::Info, Box::new(w));
        let t = Instant::now();
        let n = QUEUE + 500;
        for i in 0..n {
            record(&l, Level::Info, &format!("line {i}"));
        }
        assert!(t.elapsed() < Duration::from_secs(2), "logging blocked");
        // The writer holds one line, the queue QUEUE more; the rest are dropped.
        let dropped = l.dropped() as usize;
        assert!((n - QUEUE - 1..=n - QUEUE).contains(&dropped), "{dropped}");
        go.store(true, Relaxed);
        l.drain(Duration::from_secs(5));
        record(&l, Level::Info, "after");
        l.drain(Duration::from_secs(5));
        assert_eq!(l.dropped() as usize, dropped, "nothing lost once drained");
        let text = String::from_utf8(got.lock().unwrap().clone()).unwrap();
        // The note comes before the next line written after the drops.
        assert!(text.contains("ferroute: line 0\n"), "{}", &text[..80]);
        // One note, or two if the writer took its first line while drops were going on.
        let noted: usize = text
            .lines()
            .filter_map(|l| l.strip_prefix("ferroute: warning: "))
            .filter_map(|l| l.strip_suffix(" log line(s) dropped (stderr full or failing)"))
            .map(|n| n.parse::<usize>().unwrap())
            .sum();
        assert_eq!(noted, dropped, "{}", &text[text.len() - 200..]);
        assert!(text.ends_with("ferroute: after\n"));
    }

    #[test]
    fn levels_filter_and_journal_prefixes() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let w = Stalled {
            go: Arc::new(AtomicBool::new(true)),
            got: Arc::clone(&got),
        };
        let l = Logger::new(Style::Journal, LevelFilter::Info, Box::new(w));
        record(&l, Level::Error, "bad");
        record(&l, Level::Warn, "odd");
        record(&l, Level::Info, "ready");
        record(&l, Level::Debug, "detail");
        l.drain(Duration::from_secs(5));
        let text = String::from_utf8(got.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "<3>bad\n<4>odd\n<6>ready\n");
        let plain = format_line(Style::Plain, Level::Info, &format_args!("port {} up", 0));
        assert_eq!(plain, "ferroute: port 0 up\n");
    }

    #[test]
    fn level_names() {
        assert_eq!(parse_level("debug"), Ok(LevelFilter::Debug));
        assert_eq!(parse_level("WARNING"), Ok(LevelFilter::Warn));
        assert_eq!(parse_level("off"), Ok(LevelFilter::Off));
        assert!(parse_level("loud").is_err());
    }
}
