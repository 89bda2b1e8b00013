//! The argument syntax the commands share, parsed and printed: IPv4 addresses, prefixes
//! (`default`, `a.b.c.d/len`, a bare address is a /32), and tc's units for rates, sizes
//! and times (`datapath::qdisc` holds the unit tables; here they are bounded to what the
//! API carries). Also `open_input`: a file to read, `-` for stdin. Usage errors name
//! the word that was wrong.
use super::{usage, CliError};
use crate::datapath::qdisc;
use std::io::BufRead;
use std::net::Ipv4Addr;

/// A file to read commands or routes from; `-` is stdin.
pub(super) fn open_input(file: &str) -> Result<Box<dyn BufRead>, CliError> {
    Ok(if file == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(file).map_err(|e| usage(format!("cannot open {file}: {e}")))?;
        Box::new(std::io::BufReader::new(f))
    })
}

pub(super) fn parse_ip(s: &str) -> Result<Ipv4Addr, CliError> {
    s.parse()
        .map_err(|_| usage(format!("\"{s}\" is not an IPv4 address")))
}

/// `default`, `a.b.c.d/len` or `a.b.c.d` (a /32). Host bits are sent as given: the
/// router refuses them (EINVAL), as Linux does.
pub fn parse_prefix(s: &str) -> Result<(Ipv4Addr, u8), CliError> {
    if s == "default" || s == "all" {
        return Ok((Ipv4Addr::UNSPECIFIED, 0));
    }
    match s.split_once('/') {
        Some((a, l)) => {
            // As ip: a length the address family cannot have is a usage error.
            let len: u8 = l.parse().ok().filter(|l| *l <= 32).ok_or_else(|| {
                usage(format!(
                    "Error: any valid prefix is expected rather than \"{s}\"."
                ))
            })?;
            Ok((parse_ip(a)?, len))
        }
        None => Ok((parse_ip(s)?, 32)),
    }
}

/// tc's rate syntax in bytes per second: `20mbit`, `100kbit`, `1gbit`, `500bps`,
/// `10kbps` (bytes), plain number = bits per second.
/// tc's rate syntax (datapath::qdisc::parse_rate, tc(8) UNITS), in bytes per second as
/// the API carries it.
pub fn parse_rate(s: &str) -> Result<u64, CliError> {
    let bits = qdisc::parse_rate(s).map_err(usage)?;
    if !(8..=8 * 10u64.pow(13)).contains(&bits) {
        return Err(usage(format!("rate \"{s}\" out of range")));
    }
    Ok(bits / 8)
}

/// tc's size syntax in bytes: `32kb`/`32k` (KiB), `1mb`/`1m`, `1500b`, plain bytes.
pub fn parse_size(s: &str) -> Result<u32, CliError> {
    let v = qdisc::parse_size(s).map_err(usage)?;
    match u32::try_from(v) {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(usage(format!("size \"{s}\" out of range"))),
    }
}

/// tc's time syntax in microseconds: `50ms`, `1s`, `200us`, plain = microseconds.
pub fn parse_time_us(s: &str) -> Result<u32, CliError> {
    let v = qdisc::parse_time_us(s).map_err(usage)?;
    match u32::try_from(v) {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(usage(format!("time \"{s}\" out of range"))),
    }
}

pub(super) fn rate_text(bytes_per_s: u64) -> String {
    qdisc::fmt_rate(bytes_per_s.saturating_mul(8))
}

pub(super) fn size_text(b: u32) -> String {
    qdisc::fmt_size(u64::from(b))
}

pub(super) fn time_text(us: u32) -> String {
    qdisc::fmt_time_us(u64::from(us))
}
