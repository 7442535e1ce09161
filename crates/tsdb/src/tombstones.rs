//! Tombstones: deleted time intervals per series, in memory and in a block's
//! `tombstones` file (Prometheus's format: magic `0x0130BA30`, version 1, then
//! `uvarint(series ref) varint(mint) varint(maxt)` per interval, then a CRC32C of them).

use std::path::Path;

use hashbrown::HashMap;

use crate::encoding::{Decbuf, Encbuf};
use crate::{Error, Result};

/// The magic number of a `tombstones` file.
pub const MAGIC_TOMBSTONES: u32 = 0x0130_BA30;

/// Deleted intervals `[mint, maxt]` (inclusive) by series reference, kept sorted and
/// merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    map: HashMap<u64, Vec<(i64, i64)>>,
}

impl Tombstones {
    /// No deletions.
    pub fn new() -> Tombstones {
        Tombstones::default()
    }

    /// Whether nothing is deleted.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The number of intervals.
    pub fn len(&self) -> usize {
        self.map.values().map(Vec::len).sum()
    }

    /// Marks `[mint, maxt]` of series `r` deleted, merging with overlapping or adjacent
    /// intervals.
    pub fn add(&mut self, r: u64, mint: i64, maxt: i64) {
        if mint > maxt {
            return;
        }
        let v = self.map.entry(r).or_default();
        v.push((mint, maxt));
        v.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(v.len());
        for &(a, b) in v.iter() {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        *v = merged;
    }

    /// The deleted intervals of series `r`, sorted.
    pub fn get(&self, r: u64) -> &[(i64, i64)] {
        self.map.get(&r).map_or(&[], Vec::as_slice)
    }

    /// Drops intervals that end before `t`.
    pub fn truncate_before(&mut self, t: i64) {
        self.map.retain(|_, v| {
            v.retain(|iv| iv.1 >= t);
            !v.is_empty()
        });
    }

    /// Every (series, mint, maxt), in series order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, i64, i64)> + '_ {
        let mut refs: Vec<&u64> = self.map.keys().collect();
        refs.sort_unstable();
        refs.into_iter()
            .flat_map(move |r| self.map[r].iter().map(move |&(a, b)| (*r, a, b)))
    }

    /// Encodes the `tombstones` file.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encbuf::default();
        for (r, a, b) in self.iter() {
            e.uvarint(r);
            e.varint(a);
            e.varint(b);
        }
        let mut out = MAGIC_TOMBSTONES.to_be_bytes().to_vec();
        out.push(1);
        out.extend_from_slice(&e.b);
        out.extend_from_slice(&crc32c::crc32c(&e.b).to_be_bytes());
        out
    }

    /// Decodes a `tombstones` file; `path` names it in errors.
    pub fn decode(path: &Path, data: &[u8]) -> Result<Tombstones> {
        let bad = |offset: usize, why: &str| Error::corrupt(path, offset as u64, why);
        if data.len() < 9 {
            return Err(bad(
                0,
                "tombstones file shorter than its header and checksum",
            ));
        }
        if data[..4] != MAGIC_TOMBSTONES.to_be_bytes() {
            return Err(bad(0, "invalid tombstones magic number"));
        }
        if data[4] != 1 {
            return Err(bad(4, "unsupported tombstones format version"));
        }
        let body = &data[5..data.len() - 4];
        let crc = &data[data.len() - 4..];
        if crc32c::crc32c(body).to_be_bytes() != crc {
            return Err(bad(data.len() - 4, "tombstones checksum mismatch"));
        }
        let mut d = Decbuf::new(body);
        let mut t = Tombstones::new();
        while d.remaining() > 0 {
            let (r, a, b) =
                (|| Ok::<_, crate::DecodeError>((d.uvarint()?, d.varint()?, d.varint()?)))()
                    .map_err(|e| bad(5 + e.offset, e.what))?;
            t.add(r, a, b);
        }
        Ok(t)
    }

    /// Reads a block's `tombstones` file; a missing file means no deletions.
    pub fn read(path: &Path) -> Result<Tombstones> {
        match std::fs::read(path) {
            Ok(data) => Tombstones::decode(path, &data),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tombstones::new()),
            Err(e) => Err(Error::io(path)(e)),
        }
    }
}

/// Whether `t` falls in one of the sorted `intervals`.
pub(crate) fn deleted(intervals: &[(i64, i64)], t: i64) -> bool {
    let i = intervals.partition_point(|iv| iv.1 < t);
    intervals.get(i).is_some_and(|iv| iv.0 <= t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_merge_and_round_trip() {
        let mut t = Tombstones::new();
        t.add(5, 10, 20);
        t.add(5, 21, 30);
        t.add(5, 100, 200);
        t.add(5, 150, 160);
        t.add(1, -5, 5);
        assert_eq!(t.get(5), [(10, 30), (100, 200)]);
        assert_eq!(t.len(), 3);
        let bytes = t.encode();
        assert_eq!(Tombstones::decode(Path::new("x"), &bytes).unwrap(), t);
        assert!(
            deleted(t.get(5), 10)
                && deleted(t.get(5), 30)
                && !deleted(t.get(5), 31)
                && deleted(t.get(5), 150)
        );
        t.truncate_before(50);
        assert_eq!(t.get(5), [(100, 200)]);
        assert!(t.get(1).is_empty());
    }

    #[test]
    fn empty_file_as_prometheus_writes_it() {
        // What promtool 2.42 writes for a block without deletions.
        let data = [0x01, 0x30, 0xba, 0x30, 0x01, 0, 0, 0, 0];
        assert!(
            Tombstones::decode(Path::new("x"), &data)
                .unwrap()
                .is_empty()
        );
        assert_eq!(Tombstones::new().encode(), data);
        let mut bad = data;
        bad[8] = 1;
        assert!(Tombstones::decode(Path::new("x"), &bad).is_err());
    }
}
