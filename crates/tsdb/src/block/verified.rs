//! Which records of a block file have had their checksum verified.
//!
//! A block never changes once written, so a record (an index series entry, a postings
//! list, a chunk) whose CRC32C matched once matches for as long as the file is open.
//! Queries read the same records again and again (a dashboard refreshing, rules every
//! evaluation); checking a record's checksum only on its first read keeps every corrupt
//! record's clear error while taking the checksum off the repeated reads, where it was a
//! twentieth of a many-series range query.
//!
//! The marks are one bit per 4-byte granule of the file: every record this covers is at
//! least 6 bytes long, so no two records start in one granule. (A reference into the
//! first bytes of a verified record, which only a forged index holds, is taken as
//! verified too: its bytes are still read with every bound checked, as Prometheus reads
//! every chunk.) The bits live in leaves
//! of 4,096 granules (16 KiB of file) made on first use, so that a large file read in
//! a few places costs a few small allocations, not a bitmap of its whole size.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of file per bit: records start at least this far apart.
const GRANULE_SHIFT: u32 = 2;
/// Words of bits per leaf.
const LEAF_WORDS: usize = 64;
/// File bytes a leaf covers.
const LEAF_SPAN_SHIFT: u32 = GRANULE_SHIFT + 6 + LEAF_WORDS.trailing_zeros();

type Leaf = [AtomicU64; LEAF_WORDS];

/// The verified marks of one file of `len` bytes.
pub(crate) struct Verified {
    len: usize,
    leaves: OnceLock<Box<[OnceLock<Box<Leaf>>]>>,
}

impl Verified {
    /// No record of a file of `len` bytes verified yet.
    pub(crate) fn new(len: usize) -> Verified {
        Verified {
            len,
            leaves: OnceLock::new(),
        }
    }

    /// The word holding `offset`'s bit and the bit's mask, once its leaf exists.
    fn word(&self, offset: usize, make: bool) -> Option<(&AtomicU64, u64)> {
        if offset >= self.len {
            return None;
        }
        let leaves = if make {
            self.leaves.get_or_init(|| {
                let n = (self.len >> LEAF_SPAN_SHIFT) + 1;
                (0..n).map(|_| OnceLock::new()).collect()
            })
        } else {
            self.leaves.get()?
        };
        let slot = leaves.get(offset >> LEAF_SPAN_SHIFT)?;
        let leaf = if make {
            slot.get_or_init(|| Box::new(std::array::from_fn(|_| AtomicU64::new(0))))
        } else {
            slot.get()?
        };
        let granule = (offset >> GRANULE_SHIFT) & (LEAF_WORDS * 64 - 1);
        Some((&leaf[granule / 64], 1 << (granule % 64)))
    }

    /// Whether the record at `offset` was verified before.
    pub(crate) fn is_verified(&self, offset: usize) -> bool {
        self.word(offset, false)
            .is_some_and(|(w, bit)| w.load(Ordering::Relaxed) & bit != 0)
    }

    /// Marks the record at `offset` verified. Marks are only ever added, and a record
    /// two threads verify at once is merely checked twice, so no ordering is needed.
    pub(crate) fn mark(&self, offset: usize) {
        if let Some((w, bit)) = self.word(offset, true) {
            w.fetch_or(bit, Ordering::Relaxed);
        }
    }

    /// Runs `check` for the record at `offset` unless it passed before, and marks it
    /// when it passes now.
    #[inline]
    pub(crate) fn check<E>(
        &self,
        offset: usize,
        check: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        if self.is_verified(offset) {
            return Ok(());
        }
        check()?;
        self.mark(offset);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_per_record_and_lazy() {
        let v = Verified::new(1 << 20);
        assert!(v.leaves.get().is_none());
        assert!(!v.is_verified(8));
        assert!(v.leaves.get().is_none(), "a lookup allocates nothing");
        v.mark(8);
        assert!(v.is_verified(8));
        // Records start at least 6 bytes apart: the next one is its own.
        for other in [0, 4, 14, 16 << 10, (1 << 20) - 6] {
            assert!(!v.is_verified(other), "{other}");
        }
        let made = v
            .leaves
            .get()
            .unwrap()
            .iter()
            .filter(|l| l.get().is_some())
            .count();
        assert_eq!(made, 1);
        v.mark((1 << 20) - 6);
        assert!(v.is_verified((1 << 20) - 6));
        // Past the end: never verified, never marked.
        v.mark(1 << 20);
        assert!(!v.is_verified(1 << 20));
    }

    #[test]
    fn a_failed_check_leaves_no_mark() {
        let v = Verified::new(100);
        assert_eq!(v.check(10, || Err("bad")), Err("bad"));
        assert!(!v.is_verified(10));
        let mut calls = 0;
        for _ in 0..3 {
            v.check(10, || {
                calls += 1;
                Ok::<(), ()>(())
            })
            .unwrap();
        }
        assert_eq!(calls, 1);
    }
}
