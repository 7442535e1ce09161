//! The crate's error type and its mapping to HTTP status codes.

/// Everything that can go wrong in remote write and read, on either side.
///
/// [`RemoteError::status`] gives the HTTP status a receiver or read handler answers with,
/// so a web layer maps errors in one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The request body is larger than the configured limit (before or after snappy).
    #[error("request body too large: {size} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The size seen (or announced by the snappy header).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The body is not valid snappy block data.
    #[error("snappy decode error: {0}")]
    Snappy(#[from] snap::Error),
    /// The body is not a valid protobuf message of the expected type.
    #[error("protobuf decode error: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// The request's `Content-Type`, `Content-Encoding` or version header is not one this
    /// endpoint speaks.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A series' label set is not acceptable (empty, unsorted, duplicate or invalid names).
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// A histogram or metadata entry in the request is malformed.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A read query's matcher could not be built (e.g. a bad regex).
    #[error("invalid matcher: {0}")]
    InvalidMatcher(String),
    /// A read would return more samples than allowed.
    #[error("exceeded sample limit ({0})")]
    SampleLimit(usize),
    /// The store refused an append or a query.
    #[error(transparent)]
    Storage(#[from] promlite_storage::Error),
    /// A remote endpoint answered with a non-2xx status.
    #[error("server returned HTTP status {status}: {body}")]
    HttpStatus {
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The HTTP request failed (connection, timeout, …).
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// A remote endpoint's configuration cannot be used.
    #[error("remote configuration: {0}")]
    Config(String),
}

impl RemoteError {
    /// The HTTP status a server answers with for this error: 400 for bad input and for
    /// samples the store rejects as out of order, out of bounds, too old or duplicate (so
    /// a Prometheus client does not retry them), 413 for oversized bodies, 415 for
    /// unsupported encodings, 500 for everything else (which clients retry).
    pub fn status(&self) -> u16 {
        use promlite_storage::Error as S;
        match self {
            RemoteError::BodyTooLarge { .. } => 413,
            RemoteError::UnsupportedMediaType(_) => 415,
            RemoteError::Snappy(_)
            | RemoteError::Protobuf(_)
            | RemoteError::InvalidLabels(_)
            | RemoteError::InvalidRequest(_)
            | RemoteError::InvalidMatcher(_)
            | RemoteError::SampleLimit(_)
            | RemoteError::Storage(
                S::OutOfOrderSample
                | S::OutOfBounds
                | S::TooOldSample
                | S::DuplicateSampleForTimestamp
                | S::InvalidLabels(_),
            ) => 400,
            _ => 500,
        }
    }
}
