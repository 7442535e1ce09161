//! [`Summary`]: quantiles over a sliding time window, plus an all-time count and sum.
//!
//! # Algorithm and error bounds
//!
//! The window (`max_age`, 10 minutes by default) is a ring of `age_buckets` (5) slots,
//! each covering `max_age / age_buckets` of time. An observation goes into the current
//! slot; when a slot's time is up the ring turns and the oldest slot is emptied. A
//! quantile is computed at collection over every slot, so it covers the last
//! `max_age − max_age/age_buckets` to `max_age` of observations.
//!
//! Each slot keeps up to `samples_per_bucket` (1024) observations exactly. Past that it
//! keeps a uniform random sample of that size (reservoir sampling), each kept value then
//! standing for `seen / kept` observations. So:
//!
//! - while no slot has seen more than `samples_per_bucket` observations, the quantiles
//!   are exact: the `q`-quantile is the smallest observation `v` with at least `q × n` of
//!   the `n` observations at or below `v` (the minimum for `q = 0`);
//! - beyond that they are estimates whose rank error has a standard deviation of about
//!   `sqrt(q × (1 − q) / k)`, `k` being the number of values kept (e.g. ±0.3 % of rank
//!   for the median with 5 full slots of 1024).
//!
//! Observations take a short mutex (there is no lock-free reservoir) and allocate only
//! while a slot's buffer first grows to its capacity; the buffers are reused after that.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use promlite_model::{Labels, MetricType};

use crate::atomic::{add_f64, load_f64, now_ms};
use crate::collect::{Metric, MetricPoint, MetricValue, SummaryValue};
use crate::error::{Error, Result};

/// How a [`Summary`] computes its quantiles. See the [module docs](self) for the
/// error bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryConfig {
    quantiles: Arc<[f64]>,
    max_age: Duration,
    age_buckets: usize,
    samples_per_bucket: usize,
}

impl Default for SummaryConfig {
    /// The median, 90th and 99th percentiles over 10 minutes in 5 slots of 1024 samples.
    fn default() -> Self {
        SummaryConfig {
            quantiles: Arc::from(&[0.5, 0.9, 0.99][..]),
            max_age: Duration::from_mins(10),
            age_buckets: 5,
            samples_per_bucket: 1024,
        }
    }
}

impl SummaryConfig {
    /// The default window with these quantiles (each in [0, 1]; an empty list gives a
    /// summary of only `_count` and `_sum`).
    pub fn new(quantiles: impl IntoIterator<Item = f64>) -> Result<Self> {
        let mut q: Vec<f64> = quantiles.into_iter().collect();
        if let Some(bad) = q.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(Error::InvalidQuantile(bad.to_string()));
        }
        q.sort_by(f64::total_cmp);
        q.dedup();
        Ok(SummaryConfig {
            quantiles: q.into(),
            ..SummaryConfig::default()
        })
    }

    /// The window length and its number of slots (at least one; a zero window is taken
    /// as one second).
    pub fn window(mut self, max_age: Duration, age_buckets: usize) -> Self {
        self.max_age = max_age.max(Duration::from_secs(1));
        self.age_buckets = age_buckets.max(1);
        self
    }

    /// How many observations each slot keeps exactly (at least 1).
    pub fn samples_per_bucket(mut self, n: usize) -> Self {
        self.samples_per_bucket = n.max(1);
        self
    }
}

/// A summary: `_count`, `_sum` and quantiles over a sliding window.
///
/// ```
/// use promlite_client::{Summary, SummaryConfig};
///
/// let s = Summary::new(&SummaryConfig::new([0.5, 0.9])?);
/// for v in 1..=100 {
///     s.observe(f64::from(v));
/// }
/// let snap = s.snapshot();
/// assert_eq!(snap.count, 100);
/// assert_eq!(snap.quantiles, [(0.5, 50.0), (0.9, 90.0)]);
/// # Ok::<(), promlite_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Summary {
    core: Arc<SummaryCore>,
}

#[derive(Debug)]
struct SummaryCore {
    config: SummaryConfig,
    slot_len: Duration,
    count: AtomicU64,
    sum: AtomicU64,
    window: Mutex<Window>,
    created: i64,
}

#[derive(Debug)]
struct Window {
    slots: Vec<Slot>,
    head: usize,
    head_ends: Instant,
    rng: u64,
}

#[derive(Debug, Default)]
struct Slot {
    samples: Vec<f64>,
    seen: u64,
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new(&SummaryConfig::default())
    }
}

impl Summary {
    /// A summary computing `config`'s quantiles.
    pub fn new(config: &SummaryConfig) -> Self {
        let slot_len = config.max_age / config.age_buckets as u32;
        let created = now_ms();
        Summary {
            core: Arc::new(SummaryCore {
                config: config.clone(),
                slot_len,
                count: AtomicU64::new(0),
                sum: AtomicU64::new(0),
                window: Mutex::new(Window {
                    slots: (0..config.age_buckets).map(|_| Slot::default()).collect(),
                    head: 0,
                    head_ends: Instant::now() + slot_len,
                    rng: (created as u64) | 1,
                }),
                created,
            }),
        }
    }

    /// Records one observation. NaN counts and makes the sum NaN but is kept out of the
    /// quantiles, which have no place to rank it.
    pub fn observe(&self, v: f64) {
        let c = &*self.core;
        c.count.fetch_add(1, Ordering::Relaxed);
        add_f64(&c.sum, v);
        if v.is_nan() || c.config.quantiles.is_empty() {
            return;
        }
        let mut w = c.window.lock();
        w.rotate(Instant::now(), c.slot_len);
        let cap = c.config.samples_per_bucket;
        let head = w.head;
        let r = w.next_random();
        if let Some(slot) = w.slots.get_mut(head) {
            slot.seen += 1;
            if slot.samples.len() < cap {
                slot.samples.push(v);
            } else {
                // Reservoir sampling (algorithm R): keep the new value with probability
                // cap / seen, in place of a uniformly chosen kept one.
                let j = (r % slot.seen) as usize;
                if let Some(s) = slot.samples.get_mut(j) {
                    *s = v;
                }
            }
        }
    }

    /// A snapshot: count, sum and the quantiles of the current window.
    pub fn snapshot(&self) -> SummaryValue {
        let c = &*self.core;
        let mut weighted: Vec<(f64, f64)> = Vec::new();
        {
            let mut w = c.window.lock();
            w.rotate(Instant::now(), c.slot_len);
            for s in &w.slots {
                if s.samples.is_empty() {
                    continue;
                }
                let weight = s.seen as f64 / s.samples.len() as f64;
                weighted.extend(s.samples.iter().map(|v| (*v, weight)));
            }
        }
        weighted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: f64 = weighted.iter().map(|w| w.1).sum();
        let quantiles = c
            .config
            .quantiles
            .iter()
            .map(|q| (*q, weighted_quantile(&weighted, total, *q)))
            .collect();
        SummaryValue {
            count: c.count.load(Ordering::Relaxed),
            sum: load_f64(&c.sum),
            quantiles,
            created: Some(c.created),
        }
    }
}

/// The smallest value whose cumulative weight reaches `q × total` (NaN when empty).
fn weighted_quantile(sorted: &[(f64, f64)], total: f64, q: f64) -> f64 {
    let Some(first) = sorted.first() else {
        return f64::NAN;
    };
    if q <= 0.0 {
        return first.0;
    }
    let target = q * total;
    let mut acc = 0.0;
    for (v, w) in sorted {
        acc += w;
        // A small tolerance keeps rounding in the weights from skipping the exact rank.
        if acc >= target * (1.0 - 1e-12) {
            return *v;
        }
    }
    sorted.last().map_or(f64::NAN, |l| l.0)
}

impl Window {
    fn rotate(&mut self, now: Instant, slot_len: Duration) {
        let n = self.slots.len();
        let mut turns = 0;
        while now >= self.head_ends {
            self.head = (self.head + 1) % n;
            if let Some(s) = self.slots.get_mut(self.head) {
                s.samples.clear();
                s.seen = 0;
            }
            self.head_ends += slot_len;
            turns += 1;
            if turns >= n {
                // Idle for a whole window: everything is cleared; restart the clock.
                for s in &mut self.slots {
                    s.samples.clear();
                    s.seen = 0;
                }
                self.head_ends = now + slot_len;
                break;
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: plenty for choosing reservoir slots.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Metric for Summary {
    fn metric_type(&self) -> MetricType {
        MetricType::Summary
    }

    fn collect_points(&self, labels: &Labels, out: &mut Vec<MetricPoint>) {
        out.push(MetricPoint {
            labels: labels.clone(),
            value: MetricValue::Summary(self.snapshot()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_below_capacity() {
        let s = Summary::new(&SummaryConfig::new([0.0, 0.25, 0.5, 1.0]).unwrap());
        for v in [5.0, 1.0, 4.0, 2.0, 3.0, f64::NAN] {
            s.observe(v);
        }
        let snap = s.snapshot();
        assert_eq!(snap.count, 6);
        assert_eq!(
            snap.quantiles,
            [(0.0, 1.0), (0.25, 2.0), (0.5, 3.0), (1.0, 5.0)]
        );
    }

    #[test]
    fn reservoir_estimate_is_close() {
        let s = Summary::new(
            &SummaryConfig::new([0.5, 0.9])
                .unwrap()
                .samples_per_bucket(2000),
        );
        for i in 0..100_000 {
            s.observe(f64::from(i % 1000));
        }
        let q = s.snapshot().quantiles;
        // Rank error about sqrt(0.25 / 2000) ≈ 1.1 %: allow five times that.
        assert!((q[0].1 - 500.0).abs() < 60.0, "{q:?}");
        assert!((q[1].1 - 900.0).abs() < 60.0, "{q:?}");
    }

    #[test]
    fn empty_window_gives_nan() {
        let s = Summary::default();
        assert!(s.snapshot().quantiles.iter().all(|q| q.1.is_nan()));
        assert!(SummaryConfig::new([1.5]).is_err());
    }
}
