//! Prometheus primitives shared by the HTTP layer and the engine: a histogram with fixed buckets
//! that any thread observes without a lock, and its rendering in the text exposition format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds, in seconds, for latencies from a fraction of a millisecond to ten seconds.
pub const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds, in seconds, for waits that escalation can stretch to an hour (alert to page).
pub const WAITS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// Upper bounds for counts of things handled together (events in one ingest batch).
pub const SIZES: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// Observations counted into buckets with fixed upper bounds (`le`), plus their sum.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound and a last one for `+Inf`; not cumulative (render adds them up).
    counts: Box<[AtomicU64]>,
    /// The sum's `f64` bits, updated by compare-and-swap.
    sum: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds ascend");
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub fn observe(&self, value: f64) {
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    /// Writes the `_bucket`, `_sum` and `_count` series of `name`; `labels` is either empty or
    /// a comma-separated list such as `method="GET",route="/healthz"`.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum());
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// Counts kept per label set, such as deliveries per channel and outcome. For label sets
/// that are few and known only at run time (a `BTreeMap` keeps the exposition in order).
#[derive(Debug, Default)]
pub struct Counters<K: Ord> {
    counts: std::sync::Mutex<std::collections::BTreeMap<K, u64>>,
}

impl<K: Ord + Clone> Counters<K> {
    pub fn add(&self, key: K) {
        let mut counts = self.counts.lock().expect("counters lock is never poisoned");
        *counts.entry(key).or_default() += 1;
    }

    /// Every label set counted so far and its count.
    pub fn snapshot(&self) -> Vec<(K, u64)> {
        let counts = self.counts.lock().expect("counters lock is never poisoned");
        counts.iter().map(|(k, n)| (k.clone(), *n)).collect()
    }
}

/// Writes the `# HELP` and `# TYPE` lines that open a metric family.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive() {
        let h = Histogram::new(&[1.0, 5.0]);
        for v in [0.5, 1.0, 3.0, 7.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert_eq!(
            out,
            "x_bucket{a=\"b\",le=\"1\"} 2\nx_bucket{a=\"b\",le=\"5\"} 3\nx_bucket{a=\"b\",le=\"+Inf\"} 4\n\
             x_sum{a=\"b\"} 11.5\nx_count{a=\"b\"} 4\n"
        );
        assert_eq!((h.count(), h.sum()), (4, 11.5));
    }

    #[test]
    fn no_labels_means_no_braces_on_sum_and_count() {
        let h = Histogram::new(SIZES);
        h.observe(3.0);
        let mut out = String::new();
        h.render(&mut out, "y", "");
        assert!(out.contains("y_bucket{le=\"5\"} 1\n"), "{out}");
        assert!(out.contains("y_bucket{le=\"2\"} 0\n"), "{out}");
        assert!(out.ends_with("y_sum 3\ny_count 1\n"), "{out}");
    }
}
