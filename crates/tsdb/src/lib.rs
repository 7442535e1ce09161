//! promlite's time-series database (work in progress): the in-memory head, chunk
//! encodings and block chunk files, bit-compatible with Prometheus.
#![deny(missing_docs)]

pub mod block;
mod chunk_iter;
pub mod chunkenc;
mod db;
mod encoding;
mod error;
pub mod fuzzing;
mod head;
pub(crate) use head::HeadQuerier;
mod postings;
pub mod tombstones;
mod ulid;
pub mod wal;

pub use db::{DEFAULT_RETENTION, Db, DbOptions};
pub use encoding::DecodeError;
pub use error::{Error, Result};
pub use head::{
    CardinalityLists, DEFAULT_MAX_EXEMPLARS, Head, HeadOptions, HeadStats, WalReplayStatus,
};
