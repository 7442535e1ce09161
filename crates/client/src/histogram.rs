//! [`Histogram`]: observations counted in classic buckets, in native (exponential)
//! buckets, or both; and the bucket layout helpers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashMap;
use parking_lot::RwLock;
use promlite_model::{Histogram as NativeHistogram, Labels, MetricType, Span};

use crate::atomic::{add_f64, load_f64, now_ms};
use crate::collect::{
    Bucket, ExemplarCell, HistogramValue, Metric, MetricPoint, MetricValue, exemplar,
};
use crate::error::{Error, Result};

/// Prometheus's default buckets, for latencies in seconds: 5 ms to 10 s.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The zero threshold Prometheus's clients use by default for native histograms: 2⁻¹²⁸.
pub const DEFAULT_ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// `count` bucket bounds starting at `start`, `width` apart.
///
/// ```
/// assert_eq!(promlite_client::linear_buckets(1.0, 2.0, 3).unwrap(), [1.0, 3.0, 5.0]);
/// ```
pub fn linear_buckets(start: f64, width: f64, count: usize) -> Result<Vec<f64>> {
    if count == 0 {
        return Err(Error::InvalidBuckets(
            "linear buckets need a count of at least 1",
        ));
    }
    if !start.is_finite() || !width.is_finite() || width <= 0.0 {
        return Err(Error::InvalidBuckets(
            "linear buckets need a finite start and a positive width",
        ));
    }
    Ok((0..count).map(|i| start + width * i as f64).collect())
}

/// `count` bucket bounds starting at `start`, each `factor` times the previous.
///
/// ```
/// assert_eq!(promlite_client::exponential_buckets(1.0, 10.0, 3).unwrap(), [1.0, 10.0, 100.0]);
/// ```
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Result<Vec<f64>> {
    if count == 0 {
        return Err(Error::InvalidBuckets(
            "exponential buckets need a count of at least 1",
        ));
    }
    if !start.is_finite() || !factor.is_finite() || start <= 0.0 || factor <= 1.0 {
        return Err(Error::InvalidBuckets(
            "exponential buckets need a positive start and a factor above 1",
        ));
    }
    let mut v = Vec::with_capacity(count);
    let mut b = start;
    for _ in 0..count {
        v.push(b);
        b *= factor;
    }
    Ok(v)
}

/// How a [`Histogram`] buckets its observations: classic bounds, a native layout, or
/// both. Validated once; cheap to clone into a [`Family`](crate::Family) constructor.
///
/// ```
/// use promlite_client::{HistogramConfig, exponential_buckets};
///
/// let classic = HistogramConfig::classic(exponential_buckets(0.001, 2.0, 12)?)?;
/// let both = classic.with_native(3, 0.0)?;
/// let native_only = HistogramConfig::native(3, promlite_client::DEFAULT_ZERO_THRESHOLD)?;
/// # Ok::<(), promlite_client::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramConfig {
    bounds: Arc<[f64]>,
    native: Option<NativeConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct NativeConfig {
    schema: i32,
    zero_threshold: f64,
}

impl Default for HistogramConfig {
    fn default() -> Self {
        HistogramConfig {
            bounds: Arc::from(&DEFAULT_BUCKETS[..]),
            native: None,
        }
    }
}

impl HistogramConfig {
    /// Classic buckets with these upper bounds (strictly increasing, no NaN; a trailing
    /// `+Inf` is implied and may be given).
    pub fn classic(bounds: impl IntoIterator<Item = f64>) -> Result<Self> {
        let mut v: Vec<f64> = bounds.into_iter().collect();
        if v.last() == Some(&f64::INFINITY) {
            v.pop();
        }
        if v.iter().any(|b| b.is_nan() || *b == f64::INFINITY) {
            return Err(Error::InvalidBuckets(
                "bounds must not be NaN or +Inf but last",
            ));
        }
        if v.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::InvalidBuckets("bounds must be strictly increasing"));
        }
        Ok(HistogramConfig {
            bounds: v.into(),
            native: None,
        })
    }

    /// Native buckets only: bucket boundaries are powers of `2^(2^-schema)` (schema −4…8;
    /// 3 gives about 9 % wide buckets), and observations with an absolute value at most
    /// `zero_threshold` land in the zero bucket. The text formats show such a histogram
    /// as its `_count`, `_sum` and the `+Inf` bucket, as Prometheus's clients do.
    pub fn native(schema: i32, zero_threshold: f64) -> Result<Self> {
        HistogramConfig {
            bounds: Arc::from(&[][..]),
            native: None,
        }
        .with_native(schema, zero_threshold)
    }

    /// These classic buckets plus native ones (exposed together in protobuf, the classic
    /// ones alone in the text formats).
    pub fn with_native(mut self, schema: i32, zero_threshold: f64) -> Result<Self> {
        if !(-4..=8).contains(&schema) {
            return Err(Error::InvalidSchema(schema));
        }
        if !zero_threshold.is_finite() || zero_threshold < 0.0 {
            return Err(Error::InvalidBuckets(
                "the zero threshold must be finite and not negative",
            ));
        }
        self.native = Some(NativeConfig {
            schema,
            zero_threshold,
        });
        Ok(self)
    }

    /// The classic upper bounds (without `+Inf`).
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }
}

/// A histogram: counts observations in buckets and keeps their sum.
///
/// A handle: clones share the state. `observe` is a binary search over the classic
/// bounds, one `fetch_add` and a compare-and-swap loop for the sum; a native bucket adds a
/// read-locked map look-up (a write lock only the first time a bucket is used). Nothing
/// allocates on that path except a native bucket's first use.
///
/// The count is derived from the buckets when collected, so a snapshot's `+Inf` bucket
/// always equals its `_count`.
///
/// ```
/// use promlite_client::{Histogram, HistogramConfig, linear_buckets};
///
/// let h = Histogram::new(&HistogramConfig::classic(linear_buckets(0.1, 0.1, 5)?)?);
/// h.observe(0.25);
/// h.observe_with_exemplar(0.42, &[("trace_id", "4bf92f35")])?;
/// # Ok::<(), promlite_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Histogram {
    pub(crate) core: Arc<HistogramCore>,
}

#[derive(Debug)]
pub(crate) struct HistogramCore {
    bounds: Arc<[f64]>,
    /// Non-cumulative counts, one per bound plus `+Inf`.
    counts: Box<[AtomicU64]>,
    exemplars: Box<[ExemplarCell]>,
    sum: AtomicU64,
    native: Option<NativeBuckets>,
    created: i64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(&HistogramConfig::default())
    }
}

impl Histogram {
    /// A histogram with `config`'s buckets.
    pub fn new(config: &HistogramConfig) -> Self {
        let n = config.bounds.len() + 1;
        Histogram {
            core: Arc::new(HistogramCore {
                bounds: Arc::clone(&config.bounds),
                counts: (0..n).map(|_| AtomicU64::new(0)).collect(),
                exemplars: (0..n).map(|_| ExemplarCell::default()).collect(),
                sum: AtomicU64::new(0),
                native: config.native.map(NativeBuckets::new),
                created: now_ms(),
            }),
        }
    }

    /// A classic histogram with these bounds (see [`HistogramConfig::classic`]).
    pub fn with_buckets(bounds: impl IntoIterator<Item = f64>) -> Result<Self> {
        Ok(Histogram::new(&HistogramConfig::classic(bounds)?))
    }

    /// Records one observation. NaN counts in `_count` and the `+Inf` bucket and makes
    /// the sum NaN, as in Prometheus's clients.
    #[inline]
    pub fn observe(&self, v: f64) {
        self.core.observe(v);
    }

    /// Records an observation with an exemplar (e.g. `[("trace_id", id)]`), kept as the
    /// latest exemplar of the bucket it fell into. This path allocates the exemplar.
    pub fn observe_with_exemplar(&self, v: f64, labels: &[(&str, &str)]) -> Result<()> {
        let e = exemplar(labels, v)?;
        let i = self.core.observe(v);
        if let Some(cell) = self.core.exemplars.get(i) {
            cell.set(e);
        }
        Ok(())
    }

    /// A snapshot of the histogram.
    pub fn snapshot(&self) -> HistogramValue {
        self.core.snapshot()
    }
}

impl HistogramCore {
    /// Records `v`, returning its classic bucket's index.
    #[inline]
    pub(crate) fn observe(&self, v: f64) -> usize {
        let i = if v.is_nan() {
            self.bounds.len()
        } else {
            self.bounds.partition_point(|b| *b < v)
        };
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        add_f64(&self.sum, v);
        if let Some(n) = &self.native {
            n.observe(v);
        }
        i
    }

    fn snapshot(&self) -> HistogramValue {
        // Native buckets first: an observation they show has its classic count too, so
        // the count taken from the classic buckets afterwards is never below theirs.
        let native = self.native.as_ref().map(NativeBuckets::snapshot);
        let mut buckets = Vec::with_capacity(self.counts.len());
        let mut cumulative = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            buckets.push(Bucket {
                upper_bound: self.bounds.get(i).copied().unwrap_or(f64::INFINITY),
                cumulative_count: cumulative,
                exemplar: self.exemplars.get(i).and_then(ExemplarCell::get),
            });
        }
        let sum = load_f64(&self.sum);
        let native = native.map(|(mut h, total)| {
            // Relaxed atomics give no order between the two sets of counters, so take the
            // larger count: a histogram's count must cover its buckets.
            h.count = cumulative.max(total);
            h.sum = sum;
            h
        });
        HistogramValue {
            count: native.as_ref().map_or(cumulative, |h| h.count),
            sum,
            buckets,
            native,
            created: Some(self.created),
        }
    }
}

impl Metric for Histogram {
    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }

    fn collect_points(&self, labels: &Labels, out: &mut Vec<MetricPoint>) {
        out.push(MetricPoint {
            labels: labels.clone(),
            value: MetricValue::Histogram(self.snapshot()),
        });
    }
}

/// Sparse native buckets: counts by bucket index, per sign.
#[derive(Debug)]
struct NativeBuckets {
    config: NativeConfig,
    table: Box<[f64]>,
    zero: AtomicU64,
    nan: AtomicU64,
    positive: RwLock<HashMap<i32, AtomicU64>>,
    negative: RwLock<HashMap<i32, AtomicU64>>,
}

impl NativeBuckets {
    fn new(config: NativeConfig) -> Self {
        NativeBuckets {
            config,
            table: mantissa_bounds(config.schema),
            zero: AtomicU64::new(0),
            nan: AtomicU64::new(0),
            positive: RwLock::new(HashMap::new()),
            negative: RwLock::new(HashMap::new()),
        }
    }

    fn observe(&self, v: f64) {
        if v.is_nan() {
            self.nan.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let a = v.abs();
        if a <= self.config.zero_threshold {
            self.zero.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let key = bucket_index(a, self.config.schema, &self.table);
        let map = if v > 0.0 {
            &self.positive
        } else {
            &self.negative
        };
        if let Some(c) = map.read().get(&key) {
            c.fetch_add(1, Ordering::Relaxed);
            return;
        }
        map.write()
            .entry(key)
            .or_insert_with(|| AtomicU64::new(0))
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The histogram (count and sum filled in by the caller) and the number of
    /// observations it holds.
    fn snapshot(&self) -> (NativeHistogram, u64) {
        let (positive_spans, positive_buckets, p) = spans_and_deltas(&self.positive.read());
        let (negative_spans, negative_buckets, n) = spans_and_deltas(&self.negative.read());
        let zero_count = self.zero.load(Ordering::Relaxed);
        let nan = self.nan.load(Ordering::Relaxed);
        let h = NativeHistogram {
            schema: self.config.schema,
            zero_threshold: self.config.zero_threshold,
            zero_count,
            positive_spans,
            negative_spans,
            positive_buckets,
            negative_buckets,
            ..NativeHistogram::default()
        };
        (h, p + n + zero_count + nan)
    }
}

/// Sorted buckets as Prometheus's spans and delta-encoded counts, plus their total.
fn spans_and_deltas(map: &HashMap<i32, AtomicU64>) -> (Vec<Span>, Vec<i64>, u64) {
    let mut buckets: Vec<(i32, u64)> = map
        .iter()
        .map(|(k, c)| (*k, c.load(Ordering::Relaxed)))
        .collect();
    buckets.sort_unstable_by_key(|b| b.0);
    let mut spans: Vec<Span> = Vec::new();
    let mut deltas = Vec::with_capacity(buckets.len());
    let mut total = 0u64;
    let mut prev_count = 0i64;
    let mut next_index: Option<i32> = None;
    for (k, c) in buckets {
        total += c;
        match (next_index, spans.last_mut()) {
            (Some(n), Some(last)) if n == k => last.length += 1,
            (Some(n), _) => spans.push(Span {
                offset: k - n,
                length: 1,
            }),
            (None, _) => spans.push(Span {
                offset: k,
                length: 1,
            }),
        }
        next_index = Some(k + 1);
        deltas.push(c as i64 - prev_count);
        prev_count = c as i64;
    }
    (spans, deltas, total)
}

/// `v = frac × 2^exp` with `frac` in [0.5, 1), for a positive finite `v`.
fn frexp(v: f64) -> (f64, i32) {
    let (v, adjust) = if v < f64::MIN_POSITIVE {
        (v * 2f64.powi(54), -54)
    } else {
        (v, 0)
    };
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp + adjust)
}

/// For a positive schema `s` with `n = 2^s`: the upper bounds `2^((k − n)/n)` of the
/// mantissa range [0.5, 1] for `k = 0..=n` (empty for schemas ≤ 0). Computed once per
/// histogram, so an observation pays a binary search instead of a logarithm.
pub(crate) fn mantissa_bounds(schema: i32) -> Box<[f64]> {
    if schema <= 0 {
        return Box::new([]);
    }
    let n = 1i32 << schema;
    (0..=n)
        .map(|k| (f64::from(k - n) / f64::from(n)).exp2())
        .collect()
}

/// The native bucket of a positive value under `schema`: the smallest index `i` with
/// `v <= 2^(i × 2^-schema)`, as Prometheus defines buckets (upper bounds inclusive).
/// `table` is [`mantissa_bounds`]`(schema)`.
///
/// For schemas ≤ 0 the index follows exactly from the binary exponent. For positive
/// schemas it is the exponent's bucket plus the position of the mantissa among the
/// bounds `2^(j/2^schema)`, which are `exp2` values, within an ulp of Prometheus's table.
pub(crate) fn bucket_index(v: f64, schema: i32, table: &[f64]) -> i32 {
    if v == f64::INFINITY {
        return bucket_index(f64::MAX, schema, table) + 1;
    }
    let (frac, exp) = frexp(v);
    if schema <= 0 {
        let key = if frac == 0.5 { exp - 1 } else { exp };
        let shift = -schema;
        return (key + (1 << shift) - 1) >> shift;
    }
    let n = 1i32 << schema;
    // The smallest k with frac <= 2^((k − n)/n); frac < 1 = table[n], so k <= n.
    let k = table.partition_point(|b| *b < frac) as i32;
    exp * n + (k - n)
}

/// Upper bound of native bucket `i` under `schema`.
#[cfg(test)]
fn bucket_upper(i: i32, schema: i32) -> f64 {
    (f64::from(i) * 2f64.powi(-schema)).exp2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_helpers_refuse_nonsense() {
        assert!(linear_buckets(0.0, 0.0, 3).is_err());
        assert!(linear_buckets(0.0, 1.0, 0).is_err());
        assert!(exponential_buckets(0.0, 2.0, 3).is_err());
        assert!(exponential_buckets(1.0, 1.0, 3).is_err());
        assert!(HistogramConfig::classic([1.0, 1.0]).is_err());
        assert!(HistogramConfig::classic([f64::NAN]).is_err());
        assert_eq!(
            HistogramConfig::classic([1.0, f64::INFINITY])
                .unwrap()
                .bounds(),
            [1.0]
        );
        assert_eq!(
            HistogramConfig::native(9, 0.0),
            Err(Error::InvalidSchema(9))
        );
    }

    #[test]
    fn classic_buckets_are_inclusive_and_cumulative() {
        let h = Histogram::with_buckets([1.0, 2.0]).unwrap();
        for v in [0.5, 1.0, 1.5, 2.0, 3.0, f64::NAN] {
            h.observe(v);
        }
        let s = h.snapshot();
        let counts: Vec<_> = s.buckets.iter().map(|b| b.cumulative_count).collect();
        assert_eq!(counts, [2, 4, 6]);
        assert_eq!(s.count, 6);
        assert!(s.sum.is_nan());
    }

    #[test]
    fn native_indexes_match_prometheus_boundaries() {
        let bucket_index = |v: f64, s: i32| bucket_index(v, s, &mantissa_bounds(s));
        // Schema 0: bucket i is (2^(i-1), 2^i].
        assert_eq!(bucket_index(1.0, 0), 0);
        assert_eq!(bucket_index(1.5, 0), 1);
        assert_eq!(bucket_index(2.0, 0), 1);
        assert_eq!(bucket_index(0.5, 0), -1);
        // Schema −1: bucket i is (4^(i-1), 4^i].
        assert_eq!(bucket_index(4.0, -1), 1);
        assert_eq!(bucket_index(5.0, -1), 2);
        assert_eq!(bucket_index(0.3, -1), 0);
        // Schema 1: bounds are powers of √2.
        assert_eq!(bucket_index(2f64.sqrt(), 1), 1);
        assert_eq!(bucket_index(1.5, 1), 2);
        assert_eq!(bucket_index(2.0, 1), 2);
        for schema in -4..=8 {
            for v in [1e-300, 1e-9, 0.001, 0.7, 1.0, 3.0, 1e9, 1e300, f64::MAX] {
                let i = bucket_index(v, schema);
                assert!(v <= bucket_upper(i, schema) * (1.0 + 1e-12), "{v} {schema}");
                assert!(
                    v > bucket_upper(i - 1, schema) * (1.0 - 1e-12),
                    "{v} {schema}"
                );
            }
        }
        assert!(bucket_index(f64::INFINITY, 3) > bucket_index(f64::MAX, 3));
    }

    #[test]
    fn native_snapshot_spans() {
        let h = Histogram::new(&HistogramConfig::native(0, 0.5).unwrap());
        for v in [0.1, 1.0, 2.0, 2.0, 16.0, -3.0, -0.2] {
            h.observe(v);
        }
        let s = h.snapshot();
        let n = s.native.unwrap();
        assert_eq!(n.zero_count, 2);
        assert_eq!(
            n.positive_spans,
            [
                Span {
                    offset: 0,
                    length: 2
                },
                Span {
                    offset: 2,
                    length: 1
                }
            ]
        );
        assert_eq!(n.positive_buckets, [1, 1, -1]);
        assert_eq!(
            n.negative_spans,
            [Span {
                offset: 2,
                length: 1
            }]
        );
        assert_eq!(n.count, 7);
        assert_eq!(s.count, 7);
        assert_eq!(s.buckets.len(), 1);
        assert_eq!(s.buckets[0].cumulative_count, 7);
    }
}
