//! promlite's time-series database (work in progress): chunk encodings and block chunk
//! files, bit-compatible with Prometheus.
#![deny(missing_docs)]

pub mod block;
pub mod chunkenc;
mod error;

pub use error::{Error, Result};
