//! The TSDB's error type.

use std::path::PathBuf;

/// Errors from the TSDB: corrupt or unreadable files, and rejected samples (passed
/// through as [`promlite_storage::Error`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file's content does not follow its format. `offset` is a byte offset into it.
    #[error("{file}: corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// Where the problem was found.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A chunk's checksum does not match its content.
    #[error(
        "{file}: checksum mismatch for chunk at byte {offset}: expected {expected:#010x}, got {actual:#010x}"
    )]
    Checksum {
        /// The file.
        file: PathBuf,
        /// The chunk's offset.
        offset: u64,
        /// The stored checksum.
        expected: u32,
        /// The computed checksum.
        actual: u32,
    },
    /// A filesystem error, with the path it concerned.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another process holds the data directory's lock.
    #[error(
        "{0}: data directory is locked by another process (is another promlite or Prometheus running on it?)"
    )]
    Locked(PathBuf),
    /// A storage-level rejection (out of order, duplicate …).
    #[error(transparent)]
    Storage(#[from] promlite_storage::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn corrupt(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Error {
        Error::Corrupt {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }
}

/// Shorthand for results with the TSDB [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
