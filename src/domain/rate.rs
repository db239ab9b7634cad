//! A token bucket: `rate` events per second on average, bursts up to twice that.

use jiff::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    last: Timestamp,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(rate: u32, now: Timestamp) -> Self {
        Self {
            tokens: Self::capacity(rate),
            last: now,
        }
    }

    fn capacity(rate: u32) -> f64 {
        f64::from(rate) * 2.0
    }

    /// Whether the bucket has refilled by `now`: it then says nothing a new bucket would not,
    /// so it can be dropped.
    pub fn is_full(&self, rate: u32, now: Timestamp) -> bool {
        let elapsed = now.duration_since(self.last).as_secs_f64().max(0.0);
        self.tokens + elapsed * f64::from(rate.max(1)) >= Self::capacity(rate.max(1))
    }

    /// Takes one token, or says in how many whole seconds one will be there.
    pub fn take(&mut self, rate: u32, now: Timestamp) -> Result<(), u64> {
        let rate_f = f64::from(rate.max(1));
        let elapsed = now.duration_since(self.last).as_secs_f64().max(0.0);
        self.tokens = (self.tokens + elapsed * rate_f).min(Self::capacity(rate.max(1)));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - self.tokens) / rate_f;
        Err((wait.ceil() as u64).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    #[test]
    fn a_burst_of_twice_the_rate_passes_then_the_rate_refills() {
        let t0: Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
        let mut bucket = TokenBucket::new(5, t0);
        for _ in 0..10 {
            assert!(bucket.take(5, t0).is_ok());
        }
        assert_eq!(bucket.take(5, t0), Err(1));
        let later = t0 + SignedDuration::from_millis(400);
        assert!(
            bucket.take(5, later).is_ok(),
            "two tokens came back in 0.4 s"
        );
        assert!(bucket.take(5, later).is_ok());
        assert!(bucket.take(5, later).is_err());
        assert!(!bucket.is_full(5, later));
        assert!(bucket.is_full(5, later + SignedDuration::from_secs(2)));
        assert!(TokenBucket::new(5, t0).is_full(5, t0));
    }
}
