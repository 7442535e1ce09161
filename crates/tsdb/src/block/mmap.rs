//! Read-only memory maps of block files.

use std::fs::File;
use std::ops::Deref;
use std::path::Path;

use crate::{Error, Result};

/// A whole file's bytes: memory-mapped, or owned when built in memory (tests) or when
/// the file is empty (which cannot be mapped).
pub(crate) enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    /// Maps `path` read-only.
    pub(crate) fn map(path: &Path) -> Result<Bytes> {
        let f = File::open(path).map_err(Error::io(path))?;
        let len = f.metadata().map_err(Error::io(path))?.len();
        if len == 0 {
            return Ok(Bytes::Owned(Vec::new()));
        }
        #[allow(unsafe_code)]
        // SAFETY: block files are immutable once written (a block is written under a
        // temporary name and renamed into place), and promlite never truncates a file it
        // has mapped; deleting a mapped file leaves the mapping valid on Unix.
        let m = unsafe { memmap2::Mmap::map(&f) }.map_err(Error::io(path))?;
        Ok(Bytes::Mapped(m))
    }
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}
