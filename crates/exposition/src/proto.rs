//! The `io.prometheus.client` protobuf messages, written by hand with `prost` derives.
//!
//! Field numbers and types follow Prometheus's `metrics.proto`. Writing the structs by hand
//! keeps the build free of `protoc` and build scripts; the schema is small and frozen by
//! the wire contract, so there is nothing to keep in sync. Start timestamps are called
//! `created_timestamp` here, as in the OpenMetrics text they map to (Prometheus renamed the
//! proto field to `start_timestamp`; the field number is what matters on the wire).

/// A name/value pair.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct LabelPair {
    /// The label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// The metric type numbers of the protobuf format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// A counter.
    Counter = 0,
    /// A gauge.
    Gauge = 1,
    /// A summary.
    Summary = 2,
    /// No declared type.
    Untyped = 3,
    /// A histogram (classic, native or both).
    Histogram = 4,
    /// A gauge histogram.
    GaugeHistogram = 5,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// The timestamp in milliseconds (nanoseconds truncated, as Prometheus does).
    pub fn to_millis(self) -> i64 {
        self.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nanos) / 1_000_000)
    }

    /// A timestamp from milliseconds.
    pub fn from_millis(ms: i64) -> Timestamp {
        Timestamp {
            seconds: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
        }
    }
}

/// A gauge's value.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Gauge {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
}

/// A counter's value, exemplar and creation time.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Counter {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// An optional exemplar.
    #[prost(message, optional, tag = "2")]
    pub exemplar: Option<Exemplar>,
    /// When the counter started.
    #[prost(message, optional, tag = "3")]
    pub created_timestamp: Option<Timestamp>,
}

/// One summary quantile.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Quantile {
    /// The quantile, 0…1.
    #[prost(double, tag = "1")]
    pub quantile: f64,
    /// Its value.
    #[prost(double, tag = "2")]
    pub value: f64,
}

/// A summary.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// Number of observations.
    #[prost(uint64, tag = "1")]
    pub sample_count: u64,
    /// Sum of observations.
    #[prost(double, tag = "2")]
    pub sample_sum: f64,
    /// Quantiles.
    #[prost(message, repeated, tag = "3")]
    pub quantile: Vec<Quantile>,
    /// When the summary started.
    #[prost(message, optional, tag = "4")]
    pub created_timestamp: Option<Timestamp>,
}

/// An untyped value.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Untyped {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
}

/// A histogram: classic buckets, native (sparse) buckets, or both.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// Number of observations.
    #[prost(uint64, tag = "1")]
    pub sample_count: u64,
    /// Number of observations as a float; overrides `sample_count` when positive.
    #[prost(double, tag = "4")]
    pub sample_count_float: f64,
    /// Sum of observations.
    #[prost(double, tag = "2")]
    pub sample_sum: f64,
    /// Classic buckets, by increasing upper bound; the `+Inf` bucket is optional.
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
    /// When the histogram started.
    #[prost(message, optional, tag = "15")]
    pub created_timestamp: Option<Timestamp>,
    /// Native histogram schema.
    #[prost(sint32, tag = "5")]
    pub schema: i32,
    /// Width of the zero bucket.
    #[prost(double, tag = "6")]
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    #[prost(uint64, tag = "7")]
    pub zero_count: u64,
    /// Zero bucket count as a float; overrides `zero_count` when positive.
    #[prost(double, tag = "8")]
    pub zero_count_float: f64,
    /// Negative bucket spans.
    #[prost(message, repeated, tag = "9")]
    pub negative_span: Vec<BucketSpan>,
    /// Negative bucket counts as deltas.
    #[prost(sint64, repeated, tag = "10")]
    pub negative_delta: Vec<i64>,
    /// Negative bucket counts as absolute floats.
    #[prost(double, repeated, tag = "11")]
    pub negative_count: Vec<f64>,
    /// Positive bucket spans.
    #[prost(message, repeated, tag = "12")]
    pub positive_span: Vec<BucketSpan>,
    /// Positive bucket counts as deltas.
    #[prost(sint64, repeated, tag = "13")]
    pub positive_delta: Vec<i64>,
    /// Positive bucket counts as absolute floats.
    #[prost(double, repeated, tag = "14")]
    pub positive_count: Vec<f64>,
    /// Exemplars of the native histogram.
    #[prost(message, repeated, tag = "16")]
    pub exemplars: Vec<Exemplar>,
}

/// A classic histogram bucket.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Bucket {
    /// Observations at most `upper_bound`.
    #[prost(uint64, tag = "1")]
    pub cumulative_count: u64,
    /// The count as a float; overrides `cumulative_count` when positive.
    #[prost(double, tag = "4")]
    pub cumulative_count_float: f64,
    /// The inclusive upper bound.
    #[prost(double, tag = "2")]
    pub upper_bound: f64,
    /// An optional exemplar.
    #[prost(message, optional, tag = "3")]
    pub exemplar: Option<Exemplar>,
}

/// A run of native histogram buckets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct BucketSpan {
    /// Gap to the previous span (or the first index).
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Number of consecutive buckets.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// An exemplar.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Its labels.
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// Its value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// When it was observed.
    #[prost(message, optional, tag = "3")]
    pub timestamp: Option<Timestamp>,
}

/// One series of a family.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// Its labels (without the metric name).
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// Set for gauges.
    #[prost(message, optional, tag = "2")]
    pub gauge: Option<Gauge>,
    /// Set for counters.
    #[prost(message, optional, tag = "3")]
    pub counter: Option<Counter>,
    /// Set for summaries.
    #[prost(message, optional, tag = "4")]
    pub summary: Option<Summary>,
    /// Set for untyped metrics.
    #[prost(message, optional, tag = "5")]
    pub untyped: Option<Untyped>,
    /// Set for histograms and gauge histograms.
    #[prost(message, optional, tag = "7")]
    pub histogram: Option<Histogram>,
    /// Sample timestamp in milliseconds; 0 means none.
    #[prost(int64, tag = "6")]
    pub timestamp_ms: i64,
}

/// A metric family: the unit of the length-delimited protobuf exposition.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricFamily {
    /// The family name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The HELP text.
    #[prost(string, tag = "2")]
    pub help: String,
    /// The type, a [`MetricType`] number.
    #[prost(enumeration = "MetricType", tag = "3")]
    pub r#type: i32,
    /// The series.
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
    /// The unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}
