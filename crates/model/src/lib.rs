//! The data model every promlite crate speaks: labels, matchers, samples, native
//! histograms, exemplars and metric metadata.
//!
//! This crate sits at the bottom of the workspace and depends on no other promlite crate.
//! Everything above it — the exposition parsers, the storage traits, PromQL, the TSDB —
//! exchanges these types, so they are kept small, immutable where shared, and cheap to
//! clone.
//!
//! # Main types
//!
//! - [`Labels`]: an immutable, sorted set of label pairs. It is packed into one shared
//!   allocation (the idea of Prometheus's `stringlabels` build), so a clone is a reference
//!   count increment and equality and hashing work on the packed bytes.
//! - [`Matcher`]: one of `=`, `!=`, `=~`, `!~`. Regexes are anchored exactly as Prometheus
//!   anchors them (`^(?s:…)$`) and common shapes (literals, `a|b|c` sets, prefixes,
//!   suffixes, `.*`, `.+`) are answered without running a regex engine.
//! - [`Histogram`] and [`FloatHistogram`]: native (sparse, exponential) histograms with
//!   Prometheus's span/delta layout, including custom-bucket (NHCB) histograms.
//! - [`Exemplar`], [`MetricType`] and [`Metadata`].
//!
//! Timestamps are `i64` milliseconds since the Unix epoch throughout promlite; the
//! staleness marker is the special NaN [`STALE_NAN`] (see [`value`]).
//!
//! # Example
//!
//! ```
//! use promlite_model::{Labels, Matcher, MatchType};
//!
//! let series = Labels::from_pairs([("__name__", "http_requests_total"), ("code", "200")]);
//! assert_eq!(series.metric_name(), Some("http_requests_total"));
//! assert_eq!(series.to_string(), r#"{__name__="http_requests_total", code="200"}"#);
//!
//! let m = Matcher::new(MatchType::Regexp, "code", "2..").unwrap();
//! assert!(m.matches(series.get("code").unwrap_or("")));
//! ```
#![deny(missing_docs)]

mod error;
mod exemplar;
mod gofloat;
mod histogram;
mod labels;
mod matcher;
mod metadata;
mod names;
mod quote;
mod re2;
pub mod time;
pub mod value;

pub use error::Error;
pub use exemplar::Exemplar;
pub use gofloat::{write_go_e, write_go_f, write_go_g};
pub use histogram::{
    BucketLayout, CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Histogram, Span,
    bucket_indexes,
};
pub use labels::{Label, Labels, LabelsBuilder, LabelsIter, METRIC_NAME, SortedLabelsBuilder};
pub use matcher::{MatchType, Matcher};
pub use metadata::{Metadata, MetricType};
pub use names::{
    ValidationScheme, is_valid_label_name, is_valid_legacy_label_name, is_valid_legacy_metric_name,
    is_valid_metric_name,
};
pub use quote::{go_quote, write_go_quoted};
pub use re2::go_regex_to_rust;
pub use value::{STALE_NAN, is_stale_nan};
