//! A token bucket on the TSC, for the rate limits of the datapath (ICMP errors, punts).

/// A token bucket on the TSC: `rate` tokens per second, at most `burst` saved up.
/// Integer arithmetic: the bucket holds tokens scaled by the TSC frequency.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    cap: u64,
    hz: u64,
    level: u64,
    last: u64,
}

impl TokenBucket {
    /// `rate` 0 means unlimited.
    pub fn new(rate: u32, burst: u32, hz: u64, now: u64) -> TokenBucket {
        let cap = u64::from(burst.max(1)) * hz;
        TokenBucket {
            rate: u64::from(rate),
            cap,
            hz,
            level: cap,
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: u64) -> bool {
        if self.rate == 0 {
            return true;
        }
        let elapsed = now.saturating_sub(self.last);
        self.last = now;
        // Cap elapsed so the product cannot overflow: a full bucket is all it can add.
        let add = elapsed.min(self.cap / self.rate + 1) * self.rate;
        self.level = (self.level + add).min(self.cap);
        if self.level >= self.hz {
            self.level -= self.hz;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_limits_rate_and_burst() {
        let hz = 1_000_000;
        let mut b = TokenBucket::new(10, 5, hz, 0);
        let burst = (0..100).filter(|_| b.take(0)).count();
        assert_eq!(burst, 5);
        // One second later: 10 more tokens (capped at burst 5).
        let later = (0..100).filter(|_| b.take(hz)).count();
        assert_eq!(later, 5);
        // Over 10 s at one try per ms, about rate * 10 pass.
        let mut b = TokenBucket::new(10, 1, hz, 0);
        let passed = (1..=10_000u64).filter(|ms| b.take(ms * hz / 1000)).count();
        assert!((99..=101).contains(&passed), "{passed}");
        let mut unlimited = TokenBucket::new(0, 1, hz, 0);
        assert!((0..1000).all(|_| unlimited.take(0)));
        // A huge gap does not overflow.
        assert!(b.take(u64::MAX));
    }
}
