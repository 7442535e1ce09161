//! The facade's error: every way building, running or asking a [`Monitor`](crate::Monitor)
//! can fail, each carrying the component's own error (and so its positions and texts).

use std::path::PathBuf;

/// What went wrong in a [`Monitor`](crate::Monitor) or its builder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration (a `prometheus.yml` file or text) is invalid.
    #[error("error loading config from {path}: {source}")]
    Config {
        /// The file, or `<inline>` for configuration given as text.
        path: PathBuf,
        /// What is wrong, with its position.
        source: std::sync::Arc<promlite_config::Error>,
    },
    /// A scrape job given to the builder is invalid or clashes with another.
    #[error("scrape job {job:?}: {message}")]
    ScrapeJob {
        /// The job's name.
        job: String,
        /// What is wrong.
        message: String,
    },
    /// Rule files or rule groups are invalid; every problem is listed.
    #[error("loading rules: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rules(Vec<promlite_rules::Error>),
    /// The storage could not be opened or written.
    #[error("storage {path}: {source}")]
    Storage {
        /// The data directory (empty for in-memory storage).
        path: PathBuf,
        /// The TSDB's error.
        source: promlite_tsdb::Error,
    },
    /// A query could not be parsed or evaluated.
    #[error(transparent)]
    Query(#[from] promlite_promql::EvalError),
    /// Reading series failed.
    #[error(transparent)]
    Read(#[from] promlite_storage::Error),
    /// A series selector of [`Monitor::series`](crate::Monitor::series) is invalid.
    #[error("invalid series selector {selector:?}: {source}")]
    Selector {
        /// The selector as given.
        selector: String,
        /// The parser's error, with its position.
        source: promlite_promql::ParseError,
    },
    /// A component could not be set up (discovery, scrape manager, notifier, remote
    /// endpoints, web configuration), or an async runtime was missing or misused.
    #[error("{0}")]
    Setup(String),
    /// Binding the HTTP listener or another I/O operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// The facade's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
