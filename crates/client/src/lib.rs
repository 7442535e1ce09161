//! Instrumentation for Rust programs: the metrics a program keeps about itself —
//! counters, gauges, histograms (classic and native), summaries, info metrics and state
//! sets, alone or in label families — gathered in a [`Registry`] that is exposed in the
//! Prometheus formats or collected in-process.
//!
//! This is promlite's client library, the counterpart of Prometheus's `client_golang`.
//! It sits above `promlite-model` (labels, exemplars, native histograms, metric types)
//! and `promlite-exposition`, whose encoders write every format, so there is one encoder
//! for what promlite serves and what it scrapes. The root `promlite` crate reads a
//! registry in-process ([`Registry::collect`], [`Registry::visit`]) and appends it to
//! its storage on the scrape interval, so an instrumented program can record and query
//! its own history with no HTTP in between.
//!
//! # Main types
//!
//! - [`Registry`]: registered metrics and [`Collector`]s, an optional name prefix and
//!   constant labels; `encode_text`, `encode_openmetrics`, `encode_protobuf`, `encode`
//!   (for a negotiated [`Format`](promlite_exposition::Format)), `collect` and `visit`.
//! - Metrics (cheap cloneable handles): [`Counter`] (`u64` or `f64`), [`Gauge`] (`f64` or
//!   `i64`), [`Histogram`] (configured by a [`HistogramConfig`]: classic bounds from
//!   [`linear_buckets`] or [`exponential_buckets`], native buckets with a schema and
//!   zero threshold, or both), [`Summary`] ([`SummaryConfig`]), [`Info`], [`StateSet`].
//! - [`Family`]: one child metric per label-value combination, with a cardinality limit
//!   and removal.
//! - [`ProcessCollector`]: `process_cpu_seconds_total` and friends from `/proc/self`.
//! - With the `metrics` feature, `PromliteRecorder`: a [`metrics`] facade recorder, so
//!   `metrics::counter!` and friends land in a registry.
//!
//! # Design decisions
//!
//! - **The hot path is one atomic operation.** Counters and gauges are a single atomic
//!   word (`fetch_add` for integers, a compare-and-swap loop for floats); a classic
//!   histogram observation is a binary search, one `fetch_add` and the float sum. No lock,
//!   no allocation. A histogram's count is derived from its buckets when collected, so a
//!   snapshot is always self-consistent (`+Inf` bucket = `_count`).
//! - **Families look children up by borrowed values.** `get_or_create(&["GET", "200"])`
//!   hashes the `&str`s and compares them with the stored key under a read lock; nothing
//!   is allocated for an existing child. New children are refused past a cardinality
//!   limit (counted, never unbounded growth).
//! - **Collection is a snapshot in model types.** [`Registry::collect`] returns owned
//!   [`MetricFamily`] values (labels as `Labels`, native histograms as
//!   `promlite_model::Histogram`, exemplars as `promlite_model::Exemplar`); the encoders
//!   and [`Registry::visit`] flatten them into the exposition crate's `Entry` stream, the
//!   same items a scrape parser yields, so an in-process scraper and a network scraper
//!   share their append path.
//! - **Names follow OpenMetrics, output follows each format.** A counter is registered
//!   under its family name (a trailing `_total` is accepted and dropped); the text format
//!   declares `name_total`, OpenMetrics declares `name` and writes `name_total` and
//!   `name_created`. Info metrics and state sets become gauges where the format has no
//!   such type, as Prometheus stores them.
//! - **Exemplars** (the latest per counter and per histogram bucket) are written in
//!   OpenMetrics and protobuf; recording one allocates its labels and checks the
//!   128-character limit.
//!
//! # Example
//!
//! ```
//! use promlite_client::{Counter, Family, Histogram, HistogramConfig, Registry};
//!
//! let registry = Registry::new();
//! let requests: Family<[String; 2], Counter> = Family::new(["method", "code"])?;
//! registry.register("http_requests", "HTTP requests served.", requests.clone())?;
//! let latency = Histogram::new(&HistogramConfig::classic([0.1, 0.5, 1.0])?);
//! registry.register_with_unit("http_request_duration", "Request latency.", "seconds", latency.clone())?;
//!
//! requests.get_or_create(&["GET", "200"])?.inc();
//! latency.observe(0.3);
//!
//! let mut text = String::new();
//! registry.encode_text(&mut text);
//! assert!(text.contains("# TYPE http_requests_total counter\n"));
//! assert!(text.contains("http_requests_total{code=\"200\",method=\"GET\"} 1\n"));
//! assert!(text.contains("http_request_duration_seconds_bucket{le=\"0.5\"} 1\n"));
//!
//! let mut om = String::new();
//! registry.encode_openmetrics(&mut om);
//! assert!(om.contains("# UNIT http_request_duration_seconds seconds\n"));
//! assert!(om.ends_with("# EOF\n"));
//! # Ok::<(), promlite_client::Error>(())
//! ```
#![deny(missing_docs)]

mod atomic;
mod collect;
mod counter;
mod encode;
mod error;
mod family;
mod gauge;
mod histogram;
mod info;
mod process;
#[cfg(feature = "metrics")]
mod recorder;
mod registry;
mod summary;

pub use atomic::Number;
pub use collect::{
    Bucket, Collector, HistogramValue, Metric, MetricFamily, MetricPoint, MetricValue, SummaryValue,
};
pub use counter::Counter;
pub use error::{Error, Result};
pub use family::{DEFAULT_CARDINALITY_LIMIT, Family, LabelValues};
pub use gauge::{Gauge, GaugeNumber};
pub use histogram::{
    DEFAULT_BUCKETS, DEFAULT_ZERO_THRESHOLD, Histogram, HistogramConfig, exponential_buckets,
    linear_buckets,
};
pub use info::{Info, StateSet};
pub use process::ProcessCollector;
#[cfg(feature = "metrics")]
pub use recorder::{PromliteRecorder, RecorderBuilder};
pub use registry::{Registry, RegistryBuilder};
pub use summary::{Summary, SummaryConfig};
