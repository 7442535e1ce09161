//! Chunk encodings, bit-compatible with Prometheus's `tsdb/chunkenc`.

mod bstream;
mod histogram;
mod varbit;
mod xor;

pub use bstream::Eof;
pub use histogram::{HistogramChunk, HistogramIter};
pub(crate) use histogram::{encode_float_histograms, encode_histograms};
pub use xor::{XorChunk, XorIter};

/// The encoding byte stored before each chunk in block and head chunk files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    /// Floats, XOR-compressed.
    Xor = 1,
    /// Integer-count native histograms.
    Histogram = 2,
    /// Float-count native histograms.
    FloatHistogram = 3,
}
