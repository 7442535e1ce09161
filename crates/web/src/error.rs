//! Errors: [`Error`] for running the server, and the API's error responses, where every
//! failure kind is mapped to Prometheus's `errorType` and HTTP status — once, here.

use axum::http::StatusCode;
use promlite_model::go_quote;
use promlite_promql::EvalError;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listen address could not be bound.
    #[error("listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The server failed while serving.
    #[error("serve HTTP: {0}")]
    Serve(#[source] std::io::Error),
    /// The web configuration file (`--web.config.file`) is invalid: `path: reason`.
    #[error("{0}")]
    WebConfig(String),
}

/// Prometheus's API error types (`errorType` in responses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorType {
    /// Bad input: 400.
    BadData,
    /// The query failed while running: 422.
    Execution,
    /// The client went away: 499, Prometheus's "client closed connection".
    Canceled,
    /// The query ran out of time: 503.
    Timeout,
    /// Something failed inside: 500.
    Internal,
    /// A disabled API: 500, as Prometheus answers for `errorUnavailable`.
    Unavailable,
}

impl ErrorType {
    fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Canceled => "canceled",
            ErrorType::Timeout => "timeout",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
        }
    }

    /// Prometheus's `getDefaultErrorCode`.
    fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            // 499 is nginx's and Prometheus's code for a request the client abandoned.
            ErrorType::Canceled => {
                StatusCode::from_u16(499).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
            ErrorType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Internal | ErrorType::Unavailable => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An API error response: a type and Prometheus's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) typ: ErrorType,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(typ: ErrorType, message: impl Into<String>) -> ApiError {
        ApiError {
            typ,
            message: message.into(),
        }
    }

    pub(crate) fn bad_data(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::BadData, message)
    }

    /// Prometheus's `invalidParamError`: `invalid parameter "name": reason`.
    pub(crate) fn invalid_param(reason: impl std::fmt::Display, param: &str) -> ApiError {
        ApiError::bad_data(format!("invalid parameter {}: {reason}", go_quote(param)))
    }

    /// Prometheus's `returnAPIError` for a failed evaluation; parse errors are bad data
    /// about the `query` parameter, as they come from `NewInstantQuery`.
    pub(crate) fn from_eval(e: &EvalError) -> ApiError {
        match e {
            // Both come from preparing the query, which Prometheus reports as bad input.
            EvalError::Parse(_) | EvalError::InvalidRangeQueryType(_) => {
                ApiError::invalid_param(e, "query")
            }
            EvalError::Timeout(_) => ApiError::new(ErrorType::Timeout, e.to_string()),
            EvalError::Canceled(_) => ApiError::new(ErrorType::Canceled, e.to_string()),
            EvalError::Storage(_) => ApiError::new(ErrorType::Internal, e.to_string()),
            EvalError::InvalidStep | EvalError::EndBeforeStart | EvalError::TooManyPoints => {
                ApiError::bad_data(e.to_string())
            }
            _ => ApiError::new(ErrorType::Execution, e.to_string()),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.typ.status()
    }

    pub(crate) fn type_str(&self) -> &'static str {
        self.typ.as_str()
    }
}
