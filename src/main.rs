//! `ferroute`: run the router, or talk to a running one.
use ferroute::config::Config;
use ferroute::control::cli;
use ferroute::control::client::{self, Conn};
use ferroute::control::message::FR_GETSTATUS;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE_HEAD: &str = "\
usage: ferroute [run] [-c FILE]          run the router (default: embedded conf/router.toml)
       ferroute check [-c FILE]          validate a configuration and exit
       ferroute status [--wait SECS]     ports of the running router; exit 0 once it is ready
       ferroute counters                 every counter of the running router
       ferroute stats [--once]           per-port packet/byte rates and drops, every second";

const USAGE_TAIL: &str = "\
options: -c, --config FILE   configuration (also tells the client commands the socket)
         -s, --socket PATH   control socket of a running router
         -j, -json           JSON output for show commands
         -stats              counters with the objects shown (qdisc: like tc -s)
         -V, --version";

fn usage() -> String {
    format!("{USAGE_HEAD}\n{}\n{USAGE_TAIL}", cli::HELP)
}

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
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        words: Vec::new(),
        config: None,
        socket: None,
        wait: None,
        once: false,
        json: false,
        stats: false,
        batch: None,
        force: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-c" | "--config" => a.config = Some(value(&arg)?.into()),
            "-s" | "--socket" => a.socket = Some(value(&arg)?.into()),
            "--wait" => {
                let v = value(&arg)?;
                a.wait = Some(
                    v.parse()
                        .map_err(|_| format!("--wait: {v:?} is not a number of seconds"))?,
                );
            }
            "--once" => a.once = true,
            "-j" | "-json" | "--json" => a.json = true,
            // `-s` is the socket here; iproute2's long forms mean tc's `-s`.
            "-stats" | "-statistics" | "--stats" => a.stats = true,
            "-b" | "-batch" | "--batch" => a.batch = Some(value(&arg)?),
            "-force" | "--force" => a.force = true,
            "-h" | "--help" => a.words = vec!["help".into()],
            "-V" | "--version" => a.words = vec!["version".into()],
            w if w == "-" || !w.starts_with('-') => a.words.push(w.into()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if a.words.is_empty() && a.batch.is_none() {
        a.words.push("run".into());
    }
    Ok(a)
}

fn socket_path(a: &Args) -> Result<PathBuf, String> {
    if let Some(s) = &a.socket {
        return Ok(s.clone());
    }
    Ok(Config::load(a.config.as_deref())
        .map_err(|e| e.to_string())?
        .control
        .socket)
}

/// `ferroute status [--wait SECS]`: prints the ports; exit 0 once every link is up.
fn status(a: &Args) -> Result<(), String> {
    let path = socket_path(a)?;
    let deadline = a.wait.map(|s| Instant::now() + Duration::from_secs_f64(s));
    loop {
        let reply = Conn::connect(&path).and_then(|mut c| c.text(FR_GETSTATUS));
        match reply {
            Ok(text) if text.contains("\nready yes") || text.starts_with("ready yes") => {
                print!("{text}");
                return Ok(());
            }
            Ok(text) if deadline.is_none() => {
                print!("{text}");
                return Err("router not ready".into());
            }
            Err(e) if deadline.is_none() => return Err(e.to_string()),
            _ => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(format!(
                "router at {} not ready after {}s",
                path.display(),
                a.wait.unwrap_or(0.0)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One iproute2-style command over a fresh connection.
fn command(a: &Args) -> Result<(), String> {
    let path = socket_path(a)?;
    let conn = Conn::connect(&path).map_err(|e| e.to_string())?;
    let mut s = cli::Session::new(conn, a.json);
    s.stats = a.stats;
    let words: Vec<&str> = a.words.iter().map(String::as_str).collect();
    let mut out = String::new();
    let r = s.run(&words, &mut out);
    print!("{out}");
    r.map_err(|e| format!("Error: {e}"))
}

/// `ferroute stats`: readings of `counters` a second apart; `--once` prints one view.
fn stats(a: &Args) -> Result<(), String> {
    use std::io::{IsTerminal, Write};
    let path = socket_path(a)?;
    let read = || {
        client::counters(&path)
            .map(|t| (Instant::now(), ferroute::stats::Sample::parse(&t)))
            .map_err(|e| e.to_string())
    };
    let clear = std::io::stdout().is_terminal() && !a.once;
    let mut prev = read()?;
    loop {
        let next = prev.0 + Duration::from_secs(1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let cur = read()?;
        let view = ferroute::stats::render(&prev.1, &cur.1, cur.0 - prev.0);
        let mut out = std::io::stdout().lock();
        let written = if a.once {
            write!(out, "{view}")
        } else {
            let head = if clear { "\x1b[2J\x1b[H" } else { "\n" };
            write!(
                out,
                "{head}ferroute stats ({}): rates over the last second; Ctrl-C quits\n\n{view}",
                path.display()
            )
        };
        // Stdout closed (e.g. piped into head): stop quietly.
        if written.and_then(|()| out.flush()).is_err() || a.once {
            return Ok(());
        }
        prev = cur;
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ferroute: {e}\n{}", usage());
            return ExitCode::from(2);
        }
    };
    if let Some(file) = &args.batch {
        let r = socket_path(&args).and_then(|p| cli::batch(&p, file, args.force, args.json));
        return match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ferroute: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let result = match args.words[0].as_str() {
        "help" => {
            println!("{}", usage());
            Ok(())
        }
        "version" => {
            println!(
                "ferroute {} ({})",
                env!("CARGO_PKG_VERSION"),
                env!("FERROUTE_GIT_REV")
            );
            Ok(())
        }
        "run" => Config::load(args.config.as_deref())
            .map_err(|e| e.to_string())
            .and_then(ferroute::router::run),
        "check" => Config::load(args.config.as_deref())
            .map(|c| {
                println!(
                    "{}: OK ({} ports, {} workers, {} routes)",
                    c.source,
                    c.ports.len(),
                    c.workers.len(),
                    c.routes.len()
                );
            })
            .map_err(|e| e.to_string()),
        "status" => status(&args),
        "stats" => stats(&args),
        _ => {
            // iproute2-style errors go out as they are ("Error: ... (EEXIST)").
            return match command(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferroute: {e}");
            ExitCode::FAILURE
        }
    }
}
