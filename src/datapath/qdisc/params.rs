//! A tbf's settings, checked against the port's largest frame and the accepted ranges.

use super::units::{fmt_rate, fmt_size, fmt_time_us};
use std::fmt;

/// Lowest rate accepted, bit/s (1kbit).
pub const MIN_RATE: u64 = 1_000;
/// Highest rate accepted, bit/s (1tbit).
pub const MAX_RATE: u64 = 1_000_000_000_000;
/// Largest burst or limit accepted, bytes (1 GiB; Linux keeps them in 32 bits).
pub const MAX_BYTES: u64 = 1 << 30;
/// Longest latency accepted, microseconds (10 s).
pub const MAX_LATENCY_US: u64 = 10_000_000;

/// How much may wait: `limit` bytes, or what `latency` at `rate` amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Bytes(u64),
    LatencyUs(u64),
}

/// A tbf's settings, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TbfParams {
    /// Bits per second.
    pub rate: u64,
    /// Bucket size in bytes: the longest burst at line speed, and the largest packet
    /// that can pass.
    pub burst: u32,
    /// Bytes that may wait for tokens (over all workers).
    pub limit: u32,
    /// The latency `limit` was derived from, if it was given that way.
    pub latency_us: Option<u64>,
}

/// A bad tbf setting: the parameter (`rate`, `burst`, `limit`, `latency`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ParamError {
    /// The parameter, as tc names it.
    pub key: &'static str,
    /// What is wrong with its value.
    pub message: String,
}

impl TbfParams {
    /// Checks tc-style settings for a port whose largest frame is `max_frame` bytes
    /// (MTU + Ethernet header). Unlike tc, a `burst` or `limit` smaller than the largest
    /// frame is refused: Linux would silently drop every such frame.
    pub fn new(rate: u64, burst: u64, limit: Limit, max_frame: u32) -> Result<Self, ParamError> {
        let err = |key, message: String| Err(ParamError { key, message });
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return err(
                "rate",
                format!(
                    "{} is out of range; must be {}..={}",
                    fmt_rate(rate),
                    fmt_rate(MIN_RATE),
                    fmt_rate(MAX_RATE)
                ),
            );
        }
        let max_frame = u64::from(max_frame);
        if burst < max_frame || burst > MAX_BYTES {
            return err(
                "burst",
                format!(
                    "{burst} bytes is out of range; must be from the port's largest frame \
                     ({max_frame} bytes: MTU + Ethernet header; larger packets could never \
                     collect enough tokens) to {}",
                    fmt_size(MAX_BYTES)
                ),
            );
        }
        let (limit, latency_us) = match limit {
            Limit::Bytes(b) => (b, None),
            Limit::LatencyUs(us) => {
                if us > MAX_LATENCY_US {
                    return err(
                        "latency",
                        format!(
                            "{} is out of range; must be at most {}",
                            fmt_time_us(us),
                            fmt_time_us(MAX_LATENCY_US)
                        ),
                    );
                }
                // tc/q_tbf.c: lim = rate (bytes/s) * latency + buffer.
                let lim = u128::from(rate / 8) * u128::from(us) / 1_000_000 + u128::from(burst);
                (u64::try_from(lim).unwrap_or(u64::MAX), Some(us))
            }
        };
        let key = if latency_us.is_some() {
            "latency"
        } else {
            "limit"
        };
        if limit < max_frame || limit > MAX_BYTES {
            return err(
                key,
                format!(
                    "limit {limit} bytes is out of range; must be from the port's largest frame \
                     ({max_frame} bytes; larger packets would all be dropped) to {}",
                    fmt_size(MAX_BYTES)
                ),
            );
        }
        Ok(TbfParams {
            rate,
            burst: burst as u32,
            limit: limit as u32,
            latency_us,
        })
    }

    /// The longest a packet can wait: `limit / rate`, in microseconds.
    pub fn max_delay_us(&self) -> u64 {
        (u128::from(self.limit) * 8 * 1_000_000 / u128::from(self.rate.max(1))) as u64
    }
}

impl fmt::Display for TbfParams {
    /// tc's words: `rate 20Mbit burst 32Kb limit 157768b` (plus `latency` if given so).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate {} burst {} limit {}b",
            fmt_rate(self.rate),
            fmt_size(u64::from(self.burst)),
            self.limit
        )?;
        if let Some(us) = self.latency_us {
            write!(f, " latency {}", fmt_time_us(us))?;
        }
        Ok(())
    }
}
