//! A token bucket: `rate` events per second on average, bursts up to twice that (monitoring
//! events), or any other `Limit` (failed sign-ins per minute).

use std::collections::HashMap;
use std::hash::Hash;

use jiff::Timestamp;

/// How many events a bucket lets through at once (`burst`) and how fast it refills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub burst: f64,
    pub per_second: f64,
}

impl Limit {
    /// `rate` a second on average, bursts of twice that (monitoring events).
    pub fn per_second(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            burst: rate * 2.0,
            per_second: rate,
        }
    }

    /// `count` at once, then one more every `60 / count` seconds (failed sign-ins): no more
    /// than twice `count` in any minute, and `count` a minute when kept up.
    pub fn per_minute(count: u32) -> Self {
        let count = f64::from(count.max(1));
        Self {
            burst: count,
            per_second: count / 60.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    last: Timestamp,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(rate: u32, now: Timestamp) -> Self {
        Self::full(Limit::per_second(rate), now)
    }

    /// A full bucket for `limit` at `now`.
    pub fn full(limit: Limit, now: Timestamp) -> Self {
        Self {
            tokens: limit.burst,
            last: now,
        }
    }

    /// Whether the bucket has refilled by `now`: it then says nothing a new bucket would not,
    /// so it can be dropped.
    pub fn is_full(&self, rate: u32, now: Timestamp) -> bool {
        self.is_full_for(Limit::per_second(rate), now)
    }

    pub fn is_full_for(&self, limit: Limit, now: Timestamp) -> bool {
        self.refilled(limit, now) >= limit.burst
    }

    /// Takes one token, or says in how many whole seconds one will be there.
    pub fn take(&mut self, rate: u32, now: Timestamp) -> Result<(), u64> {
        self.take_for(Limit::per_second(rate), now)
    }

    pub fn take_for(&mut self, limit: Limit, now: Timestamp) -> Result<(), u64> {
        self.tokens = self.refilled(limit, now);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err(self.wait(limit))
    }

    /// Whether a token is there at `now`, taking none (to refuse before costly work, and
    /// count only what then failed).
    pub fn check(&self, limit: Limit, now: Timestamp) -> Result<(), u64> {
        let mut peek = *self;
        peek.tokens = self.refilled(limit, now);
        if peek.tokens >= 1.0 {
            Ok(())
        } else {
            Err(peek.wait(limit))
        }
    }

    fn refilled(&self, limit: Limit, now: Timestamp) -> f64 {
        let elapsed = now.duration_since(self.last).as_secs_f64().max(0.0);
        (self.tokens + elapsed * limit.per_second).min(limit.burst)
    }

    fn wait(&self, limit: Limit) -> u64 {
        let wait = (1.0 - self.tokens) / limit.per_second;
        (wait.ceil() as u64).max(1)
    }
}

/// A bucket per key (an account, a client address) under one limit. Past `max_kept` keys the
/// refilled buckets are forgotten, so a flood of made-up keys holds no more than that.
#[derive(Debug, Clone)]
pub struct Buckets<K> {
    limit: Limit,
    max_kept: usize,
    by_key: HashMap<K, TokenBucket>,
}

impl<K: Hash + Eq> Buckets<K> {
    pub fn new(limit: Limit, max_kept: usize) -> Self {
        Self {
            limit,
            max_kept,
            by_key: HashMap::new(),
        }
    }

    /// Whether `key` has a token left at `now`, taking none.
    pub fn check(&self, key: &K, now: Timestamp) -> Result<(), u64> {
        self.by_key
            .get(key)
            .map_or(Ok(()), |b| b.check(self.limit, now))
    }

    /// Takes one of `key`'s tokens, or says in how many whole seconds one will be there.
    pub fn take(&mut self, key: K, now: Timestamp) -> Result<(), u64> {
        let limit = self.limit;
        if self.by_key.len() >= self.max_kept && !self.by_key.contains_key(&key) {
            self.by_key.retain(|_, b| !b.is_full_for(limit, now));
        }
        self.by_key
            .entry(key)
            .or_insert_with(|| TokenBucket::full(limit, now))
            .take_for(limit, now)
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

    #[test]
    fn five_a_minute_lets_five_through_then_one_every_twelve_seconds() {
        let t0: Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
        let limit = Limit::per_minute(5);
        let mut bucket = TokenBucket::full(limit, t0);
        for _ in 0..5 {
            assert!(bucket.check(limit, t0).is_ok());
            assert!(bucket.take_for(limit, t0).is_ok());
        }
        assert_eq!(bucket.check(limit, t0), Err(12));
        assert_eq!(bucket.take_for(limit, t0), Err(12));
        let later = t0 + SignedDuration::from_secs(12);
        assert!(bucket.check(limit, later).is_ok(), "checking takes nothing");
        assert!(bucket.take_for(limit, later).is_ok());
        assert!(bucket.take_for(limit, later).is_err());
        assert!(bucket.is_full_for(limit, later + SignedDuration::from_secs(60)));
    }

    #[test]
    fn keys_have_their_own_buckets_and_refilled_ones_are_forgotten_past_the_bound() {
        let t0: Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
        let mut buckets = Buckets::new(Limit::per_minute(2), 2);
        assert!(buckets.take("a", t0).is_ok());
        assert!(buckets.take("a", t0).is_ok());
        assert_eq!(buckets.check(&"a", t0), Err(30));
        assert_eq!(buckets.take("a", t0), Err(30));
        assert!(buckets.take("b", t0).is_ok(), "b is counted apart");
        // A minute on, both have refilled: a third key sweeps them rather than growing.
        let later = t0 + SignedDuration::from_secs(60);
        assert!(buckets.take("c", later).is_ok());
        assert_eq!(buckets.by_key.len(), 1);
        assert!(buckets.check(&"a", later).is_ok());
    }
}
