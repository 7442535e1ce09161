//! Chunk segment files (`chunks/000001` …) in Prometheus's block format.
//!
//! A segment starts with the magic `0x85BD40DD`, a version byte (1) and three bytes of
//! padding. Chunks follow back to back, each as `uvarint(len) encoding(1 byte) data
//! crc32c(encoding ‖ data)`. The index refers to a chunk by a 64-bit reference whose high
//! 32 bits are the segment's position among the block's segment files and whose low 32
//! bits are the byte offset in that file.

use std::path::{Path, PathBuf};

use super::mmap::Bytes;
use super::verified::Verified;
use crate::chunkenc::Encoding;
use crate::{Error, Result};

/// The magic number opening every chunk segment file.
pub const MAGIC_CHUNKS: u32 = 0x85BD_40DD;
/// Segment header length: magic, version, padding.
pub const SEGMENT_HEADER_LEN: usize = 8;
/// Prometheus's default maximum segment size.
pub const DEFAULT_SEGMENT_SIZE: u64 = 512 << 20;

/// A chunk reference as stored in the index.
pub fn chunk_ref(segment: u32, offset: u32) -> u64 {
    (u64::from(segment) << 32) | u64::from(offset)
}

/// Splits a chunk reference into segment position and offset.
pub fn split_ref(r: u64) -> (u32, u32) {
    ((r >> 32) as u32, r as u32)
}

/// One segment file's bytes, validated on open.
pub struct Segment {
    path: PathBuf,
    data: Bytes,
    /// The chunks whose checksum matched: each is checked on its first read only.
    verified: Verified,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Segment {
    /// Maps and validates a segment file.
    pub fn open(path: &Path) -> Result<Segment> {
        Segment::validate(path.to_owned(), Bytes::map(path)?)
    }

    /// Validates segment bytes read by other means (`path` names them in errors).
    pub fn from_bytes(path: PathBuf, data: Vec<u8>) -> Result<Segment> {
        Segment::validate(path, Bytes::Owned(data))
    }

    fn validate(path: PathBuf, data: Bytes) -> Result<Segment> {
        if data.len() < SEGMENT_HEADER_LEN {
            return Err(Error::corrupt(path, 0, "segment shorter than its header"));
        }
        let magic = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        if magic != MAGIC_CHUNKS {
            return Err(Error::corrupt(
                path,
                0,
                format!("invalid magic number {magic:#010x}"),
            ));
        }
        if data[4] != 1 {
            return Err(Error::corrupt(
                path,
                4,
                format!("unsupported chunk format version {}", data[4]),
            ));
        }
        Ok(Segment {
            path,
            verified: Verified::new(data.len()),
            data,
        })
    }

    /// The chunk at `offset`: its encoding and data, checksum verified (on its first
    /// read: the file does not change).
    pub fn chunk(&self, offset: usize) -> Result<(Encoding, &[u8], usize)> {
        let bad = |reason: &str| Error::corrupt(&self.path, offset as u64, reason);
        let (len, n) = read_uvarint(
            self.data
                .get(offset..)
                .ok_or_else(|| bad("offset past end of segment"))?,
        )
        .ok_or_else(|| bad("invalid chunk length"))?;
        let start = offset + n;
        let len = usize::try_from(len).map_err(|_| bad("chunk length overflows"))?;
        // `len` is read from the file: an absurd one must not overflow the sum.
        let end = len
            .checked_add(1 + 4)
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| bad("chunk runs past end of segment"))?;
        let enc = match self.data[start] {
            1 => Encoding::Xor,
            2 => Encoding::Histogram,
            3 => Encoding::FloatHistogram,
            e => return Err(bad(&format!("unknown chunk encoding {e}"))),
        };
        let body = &self.data[start..start + 1 + len];
        self.verified.check(offset, || {
            let stored = u32::from_be_bytes(
                self.data[end - 4..end]
                    .try_into()
                    .map_err(|_| bad("short checksum"))?,
            );
            let actual = crc32c::crc32c(body);
            if stored == actual {
                return Ok(());
            }
            Err(Error::Checksum {
                file: self.path.clone(),
                offset: offset as u64,
                expected: stored,
                actual,
            })
        })?;
        Ok((enc, &body[1..], end))
    }

    /// Every chunk in file order, with its offset.
    pub fn chunks(&self) -> impl Iterator<Item = Result<(usize, Encoding, &[u8])>> + '_ {
        let mut pos = SEGMENT_HEADER_LEN;
        let mut failed = false;
        std::iter::from_fn(move || {
            // Segments may be padded with zeros at the end (Prometheus preallocates).
            if failed || pos >= self.data.len() || self.data[pos] == 0 {
                return None;
            }
            match self.chunk(pos) {
                Ok((enc, data, next)) => {
                    let at = pos;
                    pos = next;
                    Some(Ok((at, enc, data)))
                }
                Err(e) => {
                    failed = true;
                    Some(Err(e))
                }
            }
        })
    }
}

/// Appends a chunk record to `out`.
pub fn write_chunk(out: &mut Vec<u8>, enc: Encoding, data: &[u8]) {
    let mut len = data.len() as u64;
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    let start = out.len();
    out.push(enc as u8);
    out.extend_from_slice(data);
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// The header of a new segment file.
pub fn segment_header() -> [u8; SEGMENT_HEADER_LEN] {
    let m = MAGIC_CHUNKS.to_be_bytes();
    [m[0], m[1], m[2], m[3], 1, 0, 0, 0]
}

pub(crate) fn read_uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read() {
        let mut file = segment_header().to_vec();
        write_chunk(&mut file, Encoding::Xor, b"\x00\x00abc");
        write_chunk(&mut file, Encoding::Histogram, &[7; 300]);
        let seg = Segment::from_bytes("mem".into(), file.clone()).unwrap();
        let all: Vec<_> = seg
            .chunks()
            .map(Result::unwrap)
            .map(|(o, e, d)| (o, e, d.len()))
            .collect();
        assert_eq!(all, [(8, Encoding::Xor, 5), (19, Encoding::Histogram, 300)]);
        let mut broken = file;
        broken[12] ^= 1;
        let seg = Segment::from_bytes("mem".into(), broken).unwrap();
        // A chunk that failed its check fails it on every read; its good neighbour
        // passes on every read.
        for _ in 0..2 {
            let err = seg.chunk(8).unwrap_err();
            assert!(matches!(err, Error::Checksum { offset: 8, .. }), "{err}");
            assert_eq!(seg.chunk(19).unwrap().1.len(), 300);
        }
    }

    #[test]
    fn bad_headers() {
        assert!(Segment::from_bytes("x".into(), vec![1, 2]).is_err());
        assert!(
            Segment::from_bytes("x".into(), vec![0; 8])
                .unwrap_err()
                .to_string()
                .contains("magic")
        );
    }
}
