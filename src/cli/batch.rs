//! `ferroute -batch FILE [-force]`: one command per line over one connection, as
//! `ip -batch`.
use super::{CliError, Session};
use crate::api::client::{ClientError, Conn};
use std::io::{BufRead, Write as _};
use std::path::Path;

/// Runs `ferroute -batch FILE`: one command per line over one connection; stops at the
/// first failure (reporting its line, like `ip -batch`) unless `force`.
pub fn batch(path: &Path, file: &str, force: bool, json: bool) -> Result<(), String> {
    let reader: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).map_err(|e| format!("cannot open {file}: {e}"))?,
        ))
    };
    let conn = Conn::connect(path).map_err(|e| e.to_string())?;
    let mut s = Session::new(conn, json);
    let mut failed = 0;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("{file}: {e}"))?;
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
                return Err(format!("{failed} command(s) failed"));
            }
        }
    }
    if failed > 0 {
        Err(format!("{failed} command(s) failed"))
    } else {
        Ok(())
    }
}
