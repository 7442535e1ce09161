//! Native histograms in Prometheus's layout.
//!
//! Buckets are addressed by an integer index under a `schema`: for schemas −4…8 the
//! bucket boundaries grow exponentially by `2^(2^-schema)`; schema −53 means custom
//! bucket boundaries (NHCB) listed in `custom_values`. Populated buckets are described by
//! spans (runs of consecutive indexes, each starting `offset` after the previous run) and
//! their counts. [`Histogram`] stores integer counts as deltas, exactly as the protobuf
//! exposition and the TSDB chunk encoding do; [`FloatHistogram`] stores absolute float
//! counts, the form PromQL computes with.

/// The schema number marking custom bucket boundaries (NHCB).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// A run of consecutive populated buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Gap to the previous span's end (or, for the first span, the first bucket's index).
    pub offset: i32,
    /// Number of consecutive buckets.
    pub length: u32,
}

/// What is known about counter resets between this histogram and the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CounterResetHint {
    /// Nothing is known; a reader must compare with the previous histogram.
    #[default]
    Unknown,
    /// A counter reset happened.
    CounterReset,
    /// No counter reset happened.
    NotCounterReset,
    /// A gauge histogram: counter resets do not apply.
    Gauge,
}

/// A native histogram with integer counts (bucket counts stored as deltas).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Counter-reset knowledge.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution, −4…8, or [`CUSTOM_BUCKETS_SCHEMA`].
    pub schema: i32,
    /// Observations with absolute value at most this fall in the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Total number of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of populated positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of populated negative buckets.
    pub negative_spans: Vec<Span>,
    /// Positive bucket counts, each a delta to the previous bucket (the first to zero).
    pub positive_buckets: Vec<i64>,
    /// Negative bucket counts, as deltas.
    pub negative_buckets: Vec<i64>,
    /// Upper bounds of custom buckets (schema −53 only).
    pub custom_values: Vec<f64>,
}

/// A native histogram with float counts (absolute bucket counts).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    /// Counter-reset knowledge.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution, −4…8, or [`CUSTOM_BUCKETS_SCHEMA`].
    pub schema: i32,
    /// Observations with absolute value at most this fall in the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// Total number of observations.
    pub count: f64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of populated positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of populated negative buckets.
    pub negative_spans: Vec<Span>,
    /// Positive bucket counts (absolute).
    pub positive_buckets: Vec<f64>,
    /// Negative bucket counts (absolute).
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of custom buckets (schema −53 only).
    pub custom_values: Vec<f64>,
}

/// What both histogram representations share besides their counts: the reset hint, the
/// schema, the zero threshold, the bucket spans and custom bounds. Encoders that treat
/// both alike (WAL records, chunks) read it from either with `bucket_layout()`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketLayout<'a> {
    /// Counter-reset knowledge.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution, −4…8, or [`CUSTOM_BUCKETS_SCHEMA`].
    pub schema: i32,
    /// The zero bucket's threshold.
    pub zero_threshold: f64,
    /// Spans of populated positive buckets.
    pub positive_spans: &'a [Span],
    /// Spans of populated negative buckets.
    pub negative_spans: &'a [Span],
    /// Upper bounds of custom buckets (schema −53 only).
    pub custom_values: &'a [f64],
}

/// `bucket_layout()` for a histogram type with the common field names.
macro_rules! bucket_layout_fn {
    () => {
        /// The reset hint, schema, zero threshold, spans and custom bounds.
        pub fn bucket_layout(&self) -> BucketLayout<'_> {
            BucketLayout {
                counter_reset_hint: self.counter_reset_hint,
                schema: self.schema,
                zero_threshold: self.zero_threshold,
                positive_spans: &self.positive_spans,
                negative_spans: &self.negative_spans,
                custom_values: &self.custom_values,
            }
        }
    };
}

impl Histogram {
    bucket_layout_fn!();

    /// Whether this histogram uses custom bucket boundaries.
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// The same histogram with absolute float counts.
    ///
    /// ```
    /// use promlite_model::{Histogram, Span};
    /// let h = Histogram {
    ///     count: 5, sum: 10.0, schema: 0,
    ///     positive_spans: vec![Span { offset: 0, length: 2 }],
    ///     positive_buckets: vec![2, 1], // deltas: absolute counts 2 and 3
    ///     ..Default::default()
    /// };
    /// assert_eq!(h.to_float().positive_buckets, vec![2.0, 3.0]);
    /// ```
    pub fn to_float(&self) -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count as f64,
            count: self.count as f64,
            sum: self.sum,
            positive_spans: self.positive_spans.clone(),
            negative_spans: self.negative_spans.clone(),
            positive_buckets: absolute(&self.positive_buckets),
            negative_buckets: absolute(&self.negative_buckets),
            custom_values: self.custom_values.clone(),
        }
    }
}

fn absolute(deltas: &[i64]) -> Vec<f64> {
    let mut acc = 0i64;
    deltas
        .iter()
        .map(|d| {
            acc = acc.wrapping_add(*d);
            acc as f64
        })
        .collect()
}

impl FloatHistogram {
    bucket_layout_fn!();

    /// Whether this histogram uses custom bucket boundaries.
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Iterates `(bucket index, count)` for the positive buckets.
    pub fn positive_bucket_indexes(&self) -> impl Iterator<Item = (i32, f64)> + '_ {
        bucket_indexes(&self.positive_spans).zip(self.positive_buckets.iter().copied())
    }

    /// Iterates `(bucket index, count)` for the negative buckets.
    pub fn negative_bucket_indexes(&self) -> impl Iterator<Item = (i32, f64)> + '_ {
        bucket_indexes(&self.negative_spans).zip(self.negative_buckets.iter().copied())
    }
}

/// Expands spans into the bucket indexes they cover, in order.
pub fn bucket_indexes(spans: &[Span]) -> impl Iterator<Item = i32> + '_ {
    let mut next = 0i32;
    spans.iter().flat_map(move |s| {
        let start = next.wrapping_add(s.offset);
        next = start.wrapping_add(s.length as i32);
        (0..s.length as i32).map(move |i| start.wrapping_add(i))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_expand_to_indexes() {
        let spans = [
            Span {
                offset: -2,
                length: 2,
            },
            Span {
                offset: 3,
                length: 1,
            },
        ];
        let idx: Vec<i32> = bucket_indexes(&spans).collect();
        assert_eq!(idx, [-2, -1, 3]);
    }

    #[test]
    fn float_conversion_keeps_shape() {
        let h = Histogram {
            schema: 1,
            count: 6,
            zero_count: 1,
            sum: 3.5,
            positive_spans: vec![Span {
                offset: 1,
                length: 3,
            }],
            positive_buckets: vec![1, 1, -1],
            ..Default::default()
        };
        let f = h.to_float();
        let b: Vec<_> = f.positive_bucket_indexes().collect();
        assert_eq!(b, [(1, 1.0), (2, 2.0), (3, 1.0)]);
        assert_eq!(f.count, 6.0);
    }
}
