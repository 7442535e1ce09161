//! The evaluation error type, worded as Prometheus words each error (people search for
//! these messages, and the promqltest scripts match them exactly).

use crate::error::ParseError;

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The query text did not parse or type-check.
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// The query would hold more samples in memory than allowed.
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// The query ran past its timeout.
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The query was cancelled.
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
    /// A range query would return more points per series than allowed.
    #[error(
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    )]
    TooManyPoints,
    /// A range query's step is not positive.
    #[error(
        "zero or negative query resolution step widths are not accepted. Try a positive integer"
    )]
    InvalidStep,
    /// A range query's end is before its start.
    #[error("end timestamp must not be before start time")]
    EndBeforeStart,
    /// A range query over an expression that is neither a scalar nor an instant vector.
    #[error("invalid expression type \"{0}\" for range query, must be Scalar or instant Vector")]
    InvalidRangeQueryType(&'static str),
    /// The storage failed.
    #[error("expanding series: {0}")]
    Storage(String),
    /// Any other evaluation error (duplicate series, invalid arguments …), with
    /// Prometheus's text.
    #[error("{0}")]
    Eval(String),
}

impl EvalError {
    /// An [`EvalError::Eval`] with `msg`.
    pub(crate) fn msg(msg: impl Into<String>) -> EvalError {
        EvalError::Eval(msg.into())
    }

    /// Prometheus's duplicate-output error.
    pub(crate) fn same_labelset() -> EvalError {
        EvalError::msg("vector cannot contain metrics with the same labelset")
    }
}
