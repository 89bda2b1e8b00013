//! `ferroute`: run the router, or talk to a running one.
use ferroute::config::Config;
use ferroute::control::socket;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: ferroute [run] [-c FILE]          run the router (default: embedded conf/router.toml)
       ferroute check [-c FILE]          validate a configuration and exit
       ferroute status [--wait SECS]     ports of the running router; exit 0 once it is ready
       ferroute counters | neigh | route show counters, ARP table or routes
       ferroute stats [--once]           per-port packet/byte rates and drops, every second
options: -c, --config FILE   configuration (also tells the client commands the socket)
         -s, --socket PATH   control socket of a running router
         -V, --version";

struct Args {
    cmd: String,
    config: Option<PathBuf>,
    socket: Option<PathBuf>,
    wait: Option<f64>,
    once: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        cmd: "run".into(),
        config: None,
        socket: None,
        wait: None,
        once: false,
    };
    let mut it = std::env::args().skip(1);
    let mut cmd_set = false;
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
            "-h" | "--help" => a.cmd = "help".into(),
            "-V" | "--version" => a.cmd = "version".into(),
            c if !cmd_set && !c.starts_with('-') => {
                a.cmd = c.into();
                cmd_set = true;
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
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

fn client(a: &Args) -> Result<(), String> {
    let path = socket_path(a)?;
    let deadline = a.wait.map(|s| Instant::now() + Duration::from_secs_f64(s));
    loop {
        let reply = socket::request(&path, &a.cmd);
        match reply {
            Ok(text)
                if a.cmd != "status"
                    || text.contains("\nready yes")
                    || text.starts_with("ready yes") =>
            {
                print!("{text}");
                return Ok(());
            }
            Ok(text) if deadline.is_none() => {
                print!("{text}");
                return Err("router not ready".into());
            }
            Err(e) if deadline.is_none() => {
                return Err(format!(
                    "cannot reach the router at {}: {e}",
                    path.display()
                ));
            }
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

/// `ferroute stats`: readings of `counters` a second apart; `--once` prints one view.
fn stats(a: &Args) -> Result<(), String> {
    use std::io::{IsTerminal, Write};
    let path = socket_path(a)?;
    let read = || {
        socket::request(&path, "counters")
            .map(|t| (Instant::now(), ferroute::stats::Sample::parse(&t)))
            .map_err(|e| format!("cannot reach the router at {}: {e}", path.display()))
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
            eprintln!("ferroute: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.cmd.as_str() {
        "help" => {
            println!("{USAGE}");
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
        "status" | "counters" | "neigh" | "route" => client(&args),
        "stats" => stats(&args),
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferroute: {e}");
            ExitCode::FAILURE
        }
    }
}
