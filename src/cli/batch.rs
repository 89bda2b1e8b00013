//! `ferroute -batch FILE [-force]`, as `ip -batch`: one command per line (blank lines and
//! `#` comments skipped) over one connection and one [`Session`], each run through
//! `Session::run` as if typed. A failure prints `Command failed FILE:LINE` and stops the
//! batch, unless `-force` (a lost connection always stops it); the result counts the
//! failures (`CliError::Failed`).
use super::parse::open_input;
use super::{usage, CliError, Session};
use crate::api::client::{ClientError, Conn};
use std::io::{BufRead as _, Write as _};
use std::path::Path;

/// Runs `ferroute -batch FILE`: one command per line over one connection; stops at the
/// first failure (reporting its line, like `ip -batch`) unless `force`.
pub fn batch(path: &Path, file: &str, force: bool, json: bool) -> Result<(), CliError> {
    let reader = open_input(file)?;
    let conn = Conn::connect(path)?;
    let mut s = Session::new(conn, json);
    let mut failed = 0;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| usage(format!("{file}: {e}")))?;
        let words: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if words.is_empty() {
            continue;
        }
        let mut out = String::new();
        let r = s.run(&words, &mut out);
        let _ = std::io::stdout().write_all(out.as_bytes());
        if let Err(e) = r {
            let _ = writeln!(
                std::io::stderr(),
                "Error: {e}\nCommand failed {file}:{}",
                n + 1
            );
            failed += 1;
            if matches!(e, CliError::Client(ClientError::Io(_))) || !force {
                return Err(CliError::Failed(failed));
            }
        }
    }
    if failed > 0 {
        Err(CliError::Failed(failed))
    } else {
        Ok(())
    }
}
