//! tc's units (tc(8) "UNITS"; iproute2 lib/utils_math.c get_rate64/get_size64,
//! tc/tc_util.c get_time): parsed into bits per second, bytes and microseconds, and
//! printed as tc prints them. Suffixes are case-insensitive, numbers may have decimals.

/// Rate suffixes and their bits per second; a bare number is bit/s. Note `kbps` is
/// kilo*bytes* per second in tc.
const RATE_UNITS: &[(&str, f64)] = &[
    ("bit", 1.0),
    ("kibit", 1024.0),
    ("kbit", 1e3),
    ("mibit", 1048576.0),
    ("mbit", 1e6),
    ("gibit", 1073741824.0),
    ("gbit", 1e9),
    ("tibit", 1099511627776.0),
    ("tbit", 1e12),
    ("bps", 8.0),
    ("kibps", 8.0 * 1024.0),
    ("kbps", 8e3),
    ("mibps", 8.0 * 1048576.0),
    ("mbps", 8e6),
    ("gibps", 8.0 * 1073741824.0),
    ("gbps", 8e9),
    ("tibps", 8.0 * 1099511627776.0),
    ("tbps", 8e12),
];

/// Size suffixes and their bytes; a bare number is bytes. tc's sizes are binary:
/// `kb` = 1024 bytes, `kbit` = 1024 bits.
const SIZE_UNITS: &[(&str, f64)] = &[
    ("b", 1.0),
    ("k", 1024.0),
    ("kb", 1024.0),
    ("m", 1048576.0),
    ("mb", 1048576.0),
    ("g", 1073741824.0),
    ("gb", 1073741824.0),
    ("kbit", 128.0),
    ("mbit", 131072.0),
    ("gbit", 134217728.0),
];

/// Time suffixes and their microseconds; a bare number is microseconds.
const TIME_UNITS: &[(&str, f64)] = &[
    ("s", 1e6),
    ("sec", 1e6),
    ("secs", 1e6),
    ("ms", 1e3),
    ("msec", 1e3),
    ("msecs", 1e3),
    ("us", 1.0),
    ("usec", 1.0),
    ("usecs", 1.0),
];

/// A value in tc's units that does not parse; the text names the value and shows the
/// form expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// No number where one was expected.
    #[error("{value:?} is not a {what} (e.g. {examples})")]
    NotANumber {
        value: String,
        what: &'static str,
        examples: &'static str,
    },
    /// A suffix that is none of the kind's units.
    #[error("{value:?}: unknown unit {suffix:?} (e.g. {examples})")]
    UnknownUnit {
        value: String,
        suffix: String,
        examples: &'static str,
    },
    /// More than a u64 holds.
    #[error("{value:?} is too large")]
    TooLarge { value: String },
}

/// The text, for callers whose errors carry text (config's key messages, the CLI's
/// usage line).
impl From<UnitError> for String {
    fn from(e: UnitError) -> String {
        e.to_string()
    }
}

fn parse_unit(
    s: &str,
    units: &[(&str, f64)],
    what: &'static str,
    examples: &'static str,
) -> Result<u64, UnitError> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| UnitError::NotANumber {
        value: s.to_string(),
        what,
        examples,
    })?;
    let scale = if suffix.is_empty() {
        1.0
    } else {
        units
            .iter()
            .find(|(u, _)| u.eq_ignore_ascii_case(suffix))
            .map(|(_, f)| *f)
            .ok_or_else(|| UnitError::UnknownUnit {
                value: s.to_string(),
                suffix: suffix.to_string(),
                examples,
            })?
    };
    let v = n * scale;
    if !v.is_finite() || v >= u64::MAX as f64 {
        return Err(UnitError::TooLarge {
            value: s.to_string(),
        });
    }
    Ok(v as u64)
}

/// A rate in tc's syntax (`20mbit`, `1.5gbit`, `100kbps`), in bits per second.
pub fn parse_rate(s: &str) -> Result<u64, UnitError> {
    parse_unit(s, RATE_UNITS, "rate", "\"20mbit\", \"1gbit\", \"512kbit\"")
}

/// A size in tc's syntax (`32kb`, `1mb`, `1514`), in bytes.
pub fn parse_size(s: &str) -> Result<u64, UnitError> {
    parse_unit(s, SIZE_UNITS, "size", "\"32kb\", \"1mb\", \"1514b\"")
}

/// A time in tc's syntax (`50ms`, `1s`, `400us`), in microseconds.
pub fn parse_time_us(s: &str) -> Result<u64, UnitError> {
    parse_unit(s, TIME_UNITS, "time", "\"50ms\", \"1s\", \"400us\"")
}

/// A rate as tc prints it (`20Mbit`).
pub fn fmt_rate(bps: u64) -> String {
    for (unit, div) in [("Tbit", 1e12), ("Gbit", 1e9), ("Mbit", 1e6), ("Kbit", 1e3)] {
        if bps as f64 >= div {
            return trim_float(bps as f64 / div, unit);
        }
    }
    format!("{bps}bit")
}

/// A size as tc prints it (`32Kb`, `1Mb`), in bytes when not a whole multiple (`1514b`).
pub fn fmt_size(bytes: u64) -> String {
    for (unit, div) in [("Gb", 1u64 << 30), ("Mb", 1 << 20), ("Kb", 1 << 10)] {
        if bytes >= div && bytes % div == 0 {
            return format!("{}{unit}", bytes / div);
        }
    }
    format!("{bytes}b")
}

/// A duration as tc prints it (`50ms`, `1.5s`, `400us`).
pub fn fmt_time_us(us: u64) -> String {
    if us >= 1_000_000 {
        trim_float(us as f64 / 1e6, "s")
    } else if us >= 1000 {
        trim_float(us as f64 / 1e3, "ms")
    } else {
        format!("{us}us")
    }
}

fn trim_float(v: f64, unit: &str) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}
