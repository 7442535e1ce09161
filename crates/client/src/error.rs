//! The crate's error type.

/// Why a registration, a label lookup or an exemplar was refused.
///
/// Nothing on the increment or observe path of an existing metric returns an error: only
/// creating things (metrics, families' children, exemplars) can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The metric name is empty, or not a valid name (see the Prometheus naming rules).
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
    /// A label name is empty, starts with the reserved `__`, or is reserved for the
    /// metric type (`le` for histograms, `quantile` for summaries).
    #[error("invalid label name {0:?}")]
    InvalidLabelName(String),
    /// The same label name appears twice in one label set.
    #[error("duplicate label name {0:?}")]
    DuplicateLabelName(String),
    /// A family was asked for a child with the wrong number of label values.
    #[error("expected {expected} label values, got {got}")]
    LabelCount {
        /// The family's number of label names.
        expected: usize,
        /// The number of values given.
        got: usize,
    },
    /// A family already holds its maximum number of children; the new label set was
    /// rejected (and counted, see `Family::rejected`).
    #[error("cardinality limit of {limit} children reached for {family:?}")]
    CardinalityLimit {
        /// The family's label names, joined with commas, to say which family refused.
        family: String,
        /// The configured limit.
        limit: usize,
    },
    /// A child was to be created inside `Family::with` on the same family, which holds
    /// the family's read lock.
    #[error("cannot create a child of a family inside `Family::with` on that family")]
    Reentrant,
    /// A metric family of this name is already registered.
    #[error("metric {0:?} is already registered")]
    AlreadyRegistered(String),
    /// Histogram bucket bounds must be finite or `+Inf`, strictly increasing and not NaN.
    #[error("invalid histogram buckets: {0}")]
    InvalidBuckets(&'static str),
    /// A native histogram schema must lie in −4…8.
    #[error("native histogram schema {0} is outside -4..=8")]
    InvalidSchema(i32),
    /// Summary quantiles must lie in [0, 1].
    #[error("invalid summary quantile {0}")]
    InvalidQuantile(String),
    /// An exemplar's label names and values together exceed the 128 characters
    /// OpenMetrics allows.
    #[error("exemplar labels are {0} characters long; at most 128 are allowed")]
    ExemplarTooLong(usize),
    /// A state set has no state of this name.
    #[error("unknown state {0:?}")]
    UnknownState(String),
    /// A state set holds at most 64 states, each named once.
    #[error("invalid state set: {0}")]
    InvalidStateSet(&'static str),
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
