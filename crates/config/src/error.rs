//! The config crate's error type: why a configuration file was rejected, and where.

use std::fmt;
use std::path::PathBuf;

/// Why a configuration could not be loaded.
///
/// Every rejection of the file's content names the file and, when it can be told, the
/// line and column of the offending key, then the reason in Prometheus's words
/// (`prometheus.yml:12:5: scrape_configs[1]: found multiple scrape configs with job name "node"`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not valid YAML, does not fit the schema (unknown or mistyped fields),
    /// or fails Prometheus's validation.
    #[error("{}{}: {message}", path.display(), Pos(*position))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Line and column (1-based) of the offending node, when known.
        position: Option<(usize, usize)>,
        /// The reason, with the field path when the YAML decoder knew it.
        message: String,
    },
}

impl Error {
    /// The reason without the file and position.
    pub fn message(&self) -> String {
        match self {
            Error::Io { source, .. } => source.to_string(),
            Error::Invalid { message, .. } => message.clone(),
        }
    }

    /// Line and column (1-based) of the problem, when known.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            Error::Io { .. } => None,
            Error::Invalid { position, .. } => *position,
        }
    }
}

struct Pos(Option<(usize, usize)>);

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((l, c)) => write!(f, ":{l}:{c}"),
            None => Ok(()),
        }
    }
}
