//! `ferroute`: run the router (`ferroute run`), or talk to a running one as `ip`/`tc`
//! would (`ferroute route`, `ferroute -s link`, ...). A client command never starts a
//! router: without a command it prints the usage.
//!
//! Exit codes (see `service`): 0 success; 1 usage error or router unreachable; 2 the
//! router refused the request (`Error: ... (EEXIST)`); 78 bad configuration; 69 the
//! router could not start.
use ferroute::api::client::{self, ClientError, Conn};
use ferroute::cli::{self, CliError};
use ferroute::config::{Config, ConfigError};
use ferroute::logging::LevelError;
use ferroute::service::{EXIT_CONFIG, EXIT_REFUSED, EXIT_START, EXIT_USAGE};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE_HEAD: &str = "\
usage: ferroute run [-c FILE] [--log-level L]   run the router (default: embedded conf/router.toml)
       ferroute check [-c FILE]          validate a configuration and exit
       ferroute status [--wait SECS]     ports of the running router; exit 0 once it is ready
       ferroute counters                 every counter of the running router
       ferroute stats [--once]           per-port packet/byte rates and drops, every second
       ferroute monitor [all|route|neigh|link|addr|qdisc]   changes as they happen (ip monitor)";

const USAGE_TAIL: &str = "\
options: -c, --config FILE   configuration (also tells the client commands the socket)
         --socket PATH       control socket of a running router
         -j, -json           JSON output for show commands (as ip -j / tc -j)
         -s, -stats          statistics with the objects shown (as ip -s / tc -s)
         --log-level L       run: off, error, warn, info, debug, trace ([log] level)
         -V, --version
Objects and verbs take iproute2's abbreviations (ro sh, ne, a, l, del ...).
exit: 0 ok, 1 usage or router unreachable, 2 refused by the router,
      78 bad configuration, 69 the router could not start";

/// Why an option or a command of this binary (not the CLI's object commands) failed:
/// printed as `ferroute: TEXT` (options as they are), exit code 1.
#[derive(Debug, thiserror::Error)]
enum CmdError {
    /// An option without its value.
    #[error("{0} needs a value")]
    NeedsValue(String),
    /// `--wait` with a value that is no number.
    #[error("--wait: {0:?} is not a number of seconds")]
    Wait(String),
    /// `--log-level` with a value that is no level.
    #[error(transparent)]
    LogLevel(#[from] LevelError),
    /// An option nobody knows.
    #[error("Option \"{0}\" is unknown, try \"ferroute -help\".")]
    UnknownOption(String),
    /// The configuration that names the socket.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The router could not be reached or refused (`ClientError` is not a std Error).
    #[error("{0}")]
    Client(ClientError),
    /// `status` without `--wait` and a router that is not ready.
    #[error("router not ready")]
    NotReady,
    /// `status --wait SECS` and a router still not ready.
    #[error("router at {} not ready after {secs}s", path.display())]
    NotReadyAfter { path: PathBuf, secs: f64 },
    /// `-batch`: what the CLI said.
    #[error(transparent)]
    Batch(CliError),
}

fn usage() -> String {
    format!("{USAGE_HEAD}\n{}\n{USAGE_TAIL}", cli::HELP)
}

#[derive(Default)]
struct Args {
    /// The command and its arguments (`route add 10.9.0.0/16 via 10.0.2.2`).
    words: Vec<String>,
    config: Option<PathBuf>,
    socket: Option<PathBuf>,
    wait: Option<f64>,
    once: bool,
    json: bool,
    stats: bool,
    batch: Option<String>,
    force: bool,
    log_level: Option<log::LevelFilter>,
}

/// True if `arg` is `-` + a prefix (at least `min` letters) of `long` (iproute2's
/// `matches()`: `-s`, `-st`, `-stat` are all `-statistics`).
fn opt_matches(arg: &str, long: &str, min: usize) -> bool {
    let (Some(a), Some(l)) = (arg.strip_prefix('-'), long.strip_prefix('-')) else {
        return false;
    };
    let a = a.strip_prefix('-').unwrap_or(a);
    a.len() >= min && l.starts_with(a)
}

fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Args, CmdError> {
    let mut a = Args::default();
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        // `capture` has tcpdump's options (`-c N` is a count, `-w` a file): they are its
        // own, but for --socket and --config.
        if a.words.first().is_some_and(|w| w == "capture")
            && !matches!(arg.as_str(), "--socket" | "--config")
        {
            a.words.push(arg);
            continue;
        }
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| CmdError::NeedsValue(name.to_string()))
        };
        match arg.as_str() {
            "-c" | "--config" => a.config = Some(value(&arg)?.into()),
            "--socket" => a.socket = Some(value(&arg)?.into()),
            "--wait" => {
                let v = value(&arg)?;
                a.wait = Some(v.parse().map_err(|_| CmdError::Wait(v))?);
            }
            "--once" => a.once = true,
            "--log-level" => {
                a.log_level = Some(ferroute::logging::parse_level(&value(&arg)?)?);
            }
            "-force" | "--force" => a.force = true,
            w if w == "-" || !w.starts_with('-') => a.words.push(w.into()),
            // iproute2's options by prefix, in its order of precedence.
            w if opt_matches(w, "-stats", 1) || opt_matches(w, "-statistics", 1) => a.stats = true,
            w if opt_matches(w, "-json", 1) => a.json = true,
            w if opt_matches(w, "-batch", 1) => a.batch = Some(value(&arg)?),
            w if opt_matches(w, "-help", 1) => a.words = vec!["help".into()],
            w if opt_matches(w, "-Version", 1) || w == "--version" => {
                a.words = vec!["version".into()]
            }
            other => return Err(CmdError::UnknownOption(other.to_string())),
        }
    }
    Ok(a)
}

fn socket_path(a: &Args) -> Result<PathBuf, CmdError> {
    if let Some(s) = &a.socket {
        return Ok(s.clone());
    }
    Ok(Config::load(a.config.as_deref())?.control.socket)
}

/// Writes to stderr; a closed or failing stderr loses the text (never a panic).
fn err_line(s: &str) {
    let _ = writeln!(std::io::stderr(), "{s}");
}

/// Writes to stdout; false if stdout is gone (e.g. piped into head).
fn out(s: &str) -> bool {
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes()).and_then(|()| o.flush()).is_ok()
}

/// `ferroute status [--wait SECS]`: prints the ports; exit 0 once every link is up.
fn status(a: &Args) -> Result<(), CmdError> {
    let path = socket_path(a)?;
    let deadline = a.wait.map(|s| Instant::now() + Duration::from_secs_f64(s));
    loop {
        let reply = Conn::connect(&path).and_then(|mut c| c.status());
        match reply {
            Ok(st) if st.ready => {
                out(&st.text());
                return Ok(());
            }
            Ok(st) if deadline.is_none() => {
                out(&st.text());
                return Err(CmdError::NotReady);
            }
            Err(e) if deadline.is_none() => return Err(CmdError::Client(e)),
            _ => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(CmdError::NotReadyAfter {
                path,
                secs: a.wait.unwrap_or(0.0),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The exit code of a failed client command: 2 when the router refused it (it has an
/// errno), 1 for bad arguments or a router that cannot be reached.
fn cli_exit(e: &CliError) -> u8 {
    match e {
        CliError::Client(ClientError::Api(_)) => EXIT_REFUSED,
        _ => EXIT_USAGE,
    }
}

/// One iproute2-style command over a fresh connection.
fn command(a: &Args) -> Result<(), (String, u8)> {
    let path = socket_path(a).map_err(|e| (format!("ferroute: {e}"), EXIT_USAGE))?;
    let words: Vec<&str> = a.words.iter().map(String::as_str).collect();
    // Arguments are checked before connecting where that is possible.
    cli::check_words(&words).map_err(|e| (format!("{e}"), cli_exit(&e)))?;
    let conn = Conn::connect(&path).map_err(|e| (format!("ferroute: {e}"), EXIT_USAGE))?;
    let mut s = cli::Session::new(conn, a.json);
    s.stats = a.stats;
    if cli::is_monitor(&words) {
        return s
            .monitor(&words[1..], &mut |t| out(t))
            .map_err(|e| (format!("Error: {e}"), cli_exit(&e)));
    }
    let mut text = String::new();
    let r = s.run(&words, &mut text);
    out(&text);
    r.map_err(|e| {
        let code = cli_exit(&e);
        match e {
            CliError::Usage(u) => (u, code),
            e => (format!("Error: {e}"), code),
        }
    })
}

/// `ferroute capture PORT ...` (see `cli::capture`).
fn capture(a: &Args) -> ExitCode {
    let r = socket_path(a)
        .map_err(|e| CliError::Usage(format!("ferroute: {e}")))
        .and_then(|path| {
            let words: Vec<&str> = a.words[1..].iter().map(String::as_str).collect();
            let opts = cli::capture::parse(&words)?;
            let conn = Conn::connect(&path)?;
            cli::capture::run(conn, &opts)
        });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = cli_exit(&e);
            match e {
                CliError::Usage(u) => err_line(&u),
                e => err_line(&format!("Error: {e}")),
            }
            ExitCode::from(code)
        }
    }
}

/// `ferroute stats`: readings of `counters` a second apart; `--once` prints one view.
fn stats(a: &Args) -> Result<(), CmdError> {
    use std::io::IsTerminal;
    let path = socket_path(a)?;
    let read = || {
        client::counters(&path)
            .map(|c| (Instant::now(), ferroute::stats::Sample::of(&c)))
            .map_err(CmdError::Client)
    };
    let clear = std::io::stdout().is_terminal() && !a.once;
    let mut prev = read()?;
    loop {
        let next = prev.0 + Duration::from_secs(1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let cur = read()?;
        let view = ferroute::stats::render(&prev.1, &cur.1, cur.0 - prev.0);
        let written = if a.once {
            out(&view)
        } else {
            let head = if clear { "\x1b[2J\x1b[H" } else { "\n" };
            out(&format!(
                "{head}ferroute stats ({}): rates over the last second; Ctrl-C quits\n\n{view}",
                path.display()
            ))
        };
        // Stdout closed (e.g. piped into head): stop quietly.
        if !written || a.once {
            return Ok(());
        }
        prev = cur;
    }
}

/// `ferroute run`: 78 for a bad configuration, 69 if the router could not start.
fn run_router(a: &Args) -> u8 {
    // The whole check first: a refused route is a bad configuration (78), found before
    // the EAL and the ports start.
    let cfg = match Config::load(a.config.as_deref())
        .and_then(|c| ferroute::daemon::check::check(&c).map(|()| c))
    {
        Ok(c) => c,
        Err(e) => {
            err_line(&format!("ferroute: {e}"));
            return EXIT_CONFIG;
        }
    };
    ferroute::logging::init(a.log_level.unwrap_or(cfg.log.level));
    let r = ferroute::daemon::run(cfg);
    let code = match r {
        Ok(()) => 0,
        Err(e) => {
            log::error!("{e}");
            EXIT_START
        }
    };
    log::logger().flush();
    code
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            err_line(&e.to_string());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Some(file) = &args.batch {
        let r = socket_path(&args)
            .and_then(|p| cli::batch(&p, file, args.force, args.json).map_err(CmdError::Batch));
        return match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                err_line(&format!("ferroute: {e}"));
                ExitCode::from(EXIT_USAGE)
            }
        };
    }
    let Some(cmd) = args.words.first() else {
        // As `ip` alone (which exits 255): the usage, and no router is started.
        err_line(&usage());
        return ExitCode::from(EXIT_USAGE);
    };
    let result = match cmd.as_str() {
        "help" => {
            out(&format!("{}\n", usage()));
            Ok(())
        }
        "version" => {
            out(&format!(
                "ferroute {} ({})\n",
                env!("CARGO_PKG_VERSION"),
                env!("FERROUTE_GIT_REV")
            ));
            Ok(())
        }
        "run" => {
            if args.words.len() > 1 {
                err_line(&format!(
                    "ferroute: run takes no arguments, got {:?}",
                    &args.words[1..]
                ));
                return ExitCode::from(EXIT_USAGE);
            }
            return ExitCode::from(run_router(&args));
        }
        "check" => match Config::load(args.config.as_deref())
            .and_then(|c| ferroute::daemon::check::check(&c).map(|()| c))
        {
            Ok(c) => {
                out(&format!(
                    "{}: OK ({} ports, {} workers, {} routes)\n",
                    c.source,
                    c.ports.len(),
                    c.workers.len(),
                    c.routes.len()
                ));
                Ok(())
            }
            Err(e) => {
                err_line(&format!("ferroute: {e}"));
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        "status" => status(&args),
        "stats" => stats(&args),
        "capture" => return capture(&args),
        _ => {
            return match command(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err((e, code)) => {
                    err_line(&e);
                    ExitCode::from(code)
                }
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            err_line(&format!("ferroute: {e}"));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Args {
        parse_args(s.split_whitespace().map(String::from)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn iproute2_options_by_prefix() {
        let a = args("-s link");
        assert!(a.stats && a.words == ["link"] && a.socket.is_none());
        assert!(args("-stat qdisc").stats);
        assert!(args("-statistics qdisc").stats);
        assert!(args("-j ro sh").json);
        assert!(args("-json route").json);
        assert_eq!(args("-b FILE").batch.as_deref(), Some("FILE"));
        assert_eq!(args("-batch FILE -force").batch.as_deref(), Some("FILE"));
        assert_eq!(
            args("--socket /x.sock route").socket,
            Some(PathBuf::from("/x.sock"))
        );
        assert_eq!(args("-V").words, ["version"]);
        assert!(parse_args(["-x".to_string()]).is_err());
        assert!(parse_args(["--log-level".to_string(), "loud".into()]).is_err());
        assert_eq!(
            args("run --log-level debug").log_level,
            Some(log::LevelFilter::Debug)
        );
    }

    #[test]
    fn no_command_is_no_router() {
        // `ferroute` alone and `ferroute -s link` never mean `run`.
        assert!(args("").words.is_empty());
        assert_eq!(args("-s link").words, ["link"]);
    }
}
