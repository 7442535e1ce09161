//! The model crate's error type.

/// Errors raised when building model values from untrusted input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A regex matcher's pattern does not compile. `message` is the regex engine's
    /// explanation, which points into the pattern.
    #[error("error parsing regexp {pattern:?}: {message}")]
    InvalidRegex {
        /// The pattern as the user wrote it (without Prometheus's anchoring).
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A metric name that is not valid under the validation scheme in force.
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
    /// A label name that is not valid under the validation scheme in force.
    #[error("invalid label name {0:?}")]
    InvalidLabelName(String),
}
