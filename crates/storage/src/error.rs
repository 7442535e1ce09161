//! The storage crate's error type, shared by every implementation of the traits.

/// Errors from appending to or querying a store.
///
/// The messages of the sample-rejection variants are Prometheus's own (`storage.Err*`),
/// because scrape reports and API responses show them to users.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sample is older than the newest sample of its series.
    #[error("out of order sample")]
    OutOfOrderSample,
    /// The sample falls outside the time range the store accepts.
    #[error("out of bounds")]
    OutOfBounds,
    /// The sample is older than the out-of-order window allows.
    #[error("too old sample")]
    TooOldSample,
    /// A different value was already stored for this series and timestamp.
    #[error("duplicate sample for timestamp")]
    DuplicateSampleForTimestamp,
    /// The label set is not acceptable (empty, duplicate names, invalid names).
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// The exemplar is older than the newest exemplar of its series.
    #[error("out of order exemplar")]
    OutOfOrderExemplar,
    /// The store has been closed.
    #[error("storage is closed")]
    Closed,
    /// A filesystem error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An error from another implementation, passed through.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// Shorthand for results with the storage [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
