//! The block index (`index` file), Prometheus's format versions 1 and 2.
//!
//! Layout: magic `0xBAAAD700`, a version byte, then the symbol table, the series (each
//! aligned to 16 bytes in v2, whose id is its offset / 16; in v1 the id is the offset),
//! label indices, postings lists, the label offset table, the postings offset table and a
//! fixed-size table of contents at the very end. Symbols are referred to by their
//! position in the table (v2) or by their file offset (v1). Every section carries a
//! CRC32C over its content.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use hashbrown::HashMap;
use promlite_model::{Labels, LabelsBuilder, Matcher, SortedLabelsBuilder};

use super::mmap::Bytes;
use super::verified::Verified;
use crate::encoding::{Decbuf, DecodeError};
use crate::postings::{Postings, for_matchers};
use crate::{Error, Result};

/// The magic number at the start of an index file.
pub const MAGIC_INDEX: u32 = 0xBAAA_D700;
const TOC_LEN: usize = 6 * 8 + 4;

/// Where a series' chunk lives and which time range it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// First sample's timestamp.
    pub mint: i64,
    /// Last sample's timestamp.
    pub maxt: i64,
    /// Reference into the chunk segments (segment position << 32 | offset).
    pub r: u64,
}

/// The table of contents: section offsets.
#[derive(Debug, Clone, Copy, Default)]
struct Toc {
    symbols: u64,
    series: u64,
    postings_table: u64,
}

/// A read-only view of an index file.
pub struct IndexReader {
    path: PathBuf,
    data: Bytes,
    version: u8,
    /// v2: file offset of each symbol, by position.
    symbol_offsets: Vec<u32>,
    /// Label name → (value, postings list offset), values ascending.
    postings: HashMap<String, Vec<(String, u64)>>,
    /// The series entries and postings lists whose checksum matched: each is checked
    /// on its first read only.
    verified: Verified,
}

impl std::fmt::Debug for IndexReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexReader")
            .field("path", &self.path)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl IndexReader {
    /// Opens and validates an index file.
    pub fn open(path: &Path) -> Result<IndexReader> {
        IndexReader::from_bytes(path.to_owned(), Bytes::map(path)?)
    }

    fn corrupt(&self, offset: u64, what: impl Into<String>) -> Error {
        Error::corrupt(&self.path, offset, what)
    }

    pub(crate) fn from_bytes(path: PathBuf, data: Bytes) -> Result<IndexReader> {
        let bad = |offset: usize, what: &str| Error::corrupt(&path, offset as u64, what);
        if data.len() < 5 + TOC_LEN {
            return Err(bad(
                0,
                "index shorter than its header and table of contents",
            ));
        }
        let magic = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        if magic != MAGIC_INDEX {
            return Err(bad(0, &format!("invalid magic number {magic:#010x}")));
        }
        let version = data[4];
        if version != 1 && version != 2 {
            return Err(bad(4, &format!("unsupported index version {version}")));
        }
        let toc_at = data.len() - TOC_LEN;
        let toc_bytes = &data[toc_at..];
        let crc = u32::from_be_bytes([toc_bytes[48], toc_bytes[49], toc_bytes[50], toc_bytes[51]]);
        if crc32c::crc32c(&toc_bytes[..48]) != crc {
            return Err(bad(toc_at, "table of contents checksum mismatch"));
        }
        let field = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&toc_bytes[i * 8..i * 8 + 8]);
            u64::from_be_bytes(a)
        };
        let toc = Toc {
            symbols: field(0),
            series: field(1),
            postings_table: field(5),
        };
        let mut r = IndexReader {
            path,
            verified: Verified::new(data.len()),
            data,
            version,
            symbol_offsets: Vec::new(),
            postings: HashMap::new(),
        };
        r.read_symbols(toc.symbols)?;
        r.read_postings_table(toc.postings_table)?;
        let _ = toc.series;
        Ok(r)
    }

    /// A section with a 4-byte length prefix and a trailing CRC32C: its content, checksum
    /// verified.
    fn section(&self, at: u64) -> Result<&[u8]> {
        let (at, body, crc) = self.section_parts(at)?;
        self.check_crc(at, body, crc, "section")?;
        Ok(body)
    }

    /// [`Self::section`] for a section read again and again (a postings list): its
    /// checksum is verified on its first read only.
    fn section_once(&self, at: u64) -> Result<&[u8]> {
        let (at, body, crc) = self.section_parts(at)?;
        self.verified
            .check(at, || self.check_crc(at, body, crc, "section"))?;
        Ok(body)
    }

    /// Checks the CRC32C of the `what` (a section, a series entry) at `at`.
    fn check_crc(&self, at: usize, body: &[u8], crc: u32, what: &str) -> Result<()> {
        if crc32c::crc32c(body) == crc {
            return Ok(());
        }
        Err(self.corrupt(at as u64, format!("{what} checksum mismatch")))
    }

    /// A section's offset, content and stored checksum.
    fn section_parts(&self, at: u64) -> Result<(usize, &[u8], u32)> {
        let at = usize::try_from(at)
            .ok()
            // Within the file, `at` plus a 32-bit length cannot overflow below.
            .filter(|&a| a <= self.data.len())
            .ok_or_else(|| self.corrupt(at, "section offset past end of file"))?;
        let len_bytes = self
            .data
            .get(at..at + 4)
            .ok_or_else(|| self.corrupt(at as u64, "section offset past end of file"))?;
        let len =
            u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        let body = self
            .data
            .get(at + 4..at + 4 + len)
            .ok_or_else(|| self.corrupt(at as u64, "section runs past end of file"))?;
        let crc = self
            .data
            .get(at + 4 + len..at + 8 + len)
            .ok_or_else(|| self.corrupt(at as u64, "section checksum missing"))?;
        Ok((
            at,
            body,
            u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]),
        ))
    }

    fn dec_err(&self, base: usize, e: &DecodeError) -> Error {
        self.corrupt((base + e.offset) as u64, e.what)
    }

    fn read_symbols(&mut self, at: u64) -> Result<()> {
        if at == 0 {
            return Ok(());
        }
        let body = self.section(at)?;
        let base = at as usize + 4;
        let mut d = Decbuf::new(body);
        let n = d.be32_count().map_err(|e| self.dec_err(base, &e))?;
        let mut offsets = Vec::with_capacity(n.min(body.len()));
        for _ in 0..n {
            offsets.push((base + d.offset()) as u32);
            d.uvarint_str().map_err(|e| self.dec_err(base, &e))?;
        }
        self.symbol_offsets = offsets;
        Ok(())
    }

    fn read_postings_table(&mut self, at: u64) -> Result<()> {
        if at == 0 {
            return Ok(());
        }
        let body = self.section(at)?;
        let base = at as usize + 4;
        let mut d = Decbuf::new(body);
        let n = d.be32_count().map_err(|e| self.dec_err(base, &e))?;
        let mut table: HashMap<String, Vec<(String, u64)>> = HashMap::new();
        for _ in 0..n {
            let entry = (|| -> std::result::Result<(String, String, u64), DecodeError> {
                let keys = d.byte()?;
                if keys != 2 {
                    return Err(DecodeError {
                        offset: d.offset(),
                        what: "postings offset entry without two keys",
                    });
                }
                let name = d.uvarint_str()?.to_owned();
                let value = d.uvarint_str()?.to_owned();
                Ok((name, value, d.uvarint()?))
            })()
            .map_err(|e| self.dec_err(base, &e))?;
            table.entry(entry.0).or_default().push((entry.1, entry.2));
        }
        for values in table.values_mut() {
            values.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        self.postings = table;
        Ok(())
    }

    /// The symbol referred to by `r`.
    fn symbol(&self, r: u32) -> Result<&str> {
        let at = if self.version == 2 {
            *self
                .symbol_offsets
                .get(r as usize)
                .ok_or_else(|| self.corrupt(0, format!("symbol reference {r} out of range")))?
                as usize
        } else {
            r as usize
        };
        let bytes = self
            .data
            .get(at..)
            .ok_or_else(|| self.corrupt(at as u64, "symbol offset past end"))?;
        Decbuf::new(bytes)
            .uvarint_str()
            .map_err(|e| self.dec_err(at, &e))
    }

    /// The labels of series `id` and its chunks (appended to `chunks`).
    pub fn series(
        &self,
        id: u32,
        lb: &mut SortedLabelsBuilder,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<Labels> {
        self.series_memo(id, lb, chunks, &mut SymbolMemo::default())
    }

    /// [`Self::series`] for one of many series read in a row: `memo` keeps the symbols
    /// looked up lately, which the next series mostly shares.
    pub fn series_memo<'a>(
        &'a self,
        id: u32,
        lb: &mut SortedLabelsBuilder,
        chunks: &mut Vec<ChunkMeta>,
        memo: &mut SymbolMemo<'a>,
    ) -> Result<Labels> {
        let at = if self.version == 2 {
            id as usize * 16
        } else {
            id as usize
        };
        let bytes = self
            .data
            .get(at..)
            .ok_or_else(|| self.corrupt(at as u64, "series offset past end"))?;
        let mut d = Decbuf::new(bytes);
        let len = d.uvarint_len().map_err(|e| self.dec_err(at, &e))?;
        let start = d.offset();
        let body = d.bytes(len).map_err(|e| self.dec_err(at, &e))?;
        let crc = d.be32_raw().map_err(|e| self.dec_err(at, &e))?;
        self.verified
            .check(at, || self.check_crc(at, body, crc, "series"))?;
        let base = at + start;
        let mut d = Decbuf::new(body);
        let n = d.uvarint().map_err(|e| self.dec_err(base, &e))?;
        // The index stores a series' labels sorted by name, so they are encoded as they
        // are read; from a pair out of order on (not written by Prometheus), the rest go
        // through a builder over those read so far.
        lb.clear();
        let mut unsorted: Option<LabelsBuilder> = None;
        for _ in 0..n {
            let name = d.uvarint_u32().map_err(|e| self.dec_err(base, &e))?;
            let value = d.uvarint_u32().map_err(|e| self.dec_err(base, &e))?;
            let (name, value) = (memo.get(self, name)?, memo.get(self, value)?);
            match &mut unsorted {
                Some(b) => {
                    b.set(name, value);
                }
                None if !lb.push(name, value) => {
                    let mut b = lb.build().to_builder();
                    b.set(name, value);
                    unsorted = Some(b);
                }
                None => {}
            }
        }
        let labels = match unsorted {
            Some(mut b) => b.build(),
            None => lb.build(),
        };
        let k = d.uvarint().map_err(|e| self.dec_err(base, &e))?;
        let mut prev_maxt = 0i64;
        let mut prev_ref = 0i64;
        for i in 0..k {
            let c = (|| -> std::result::Result<ChunkMeta, DecodeError> {
                let (mint, r) = if i == 0 {
                    let mint = d.varint()?;
                    (mint, 0)
                } else {
                    (prev_maxt.wrapping_add(d.uvarint()? as i64), prev_ref)
                };
                let maxt = mint.wrapping_add(d.uvarint()? as i64);
                let r = if i == 0 {
                    d.uvarint()? as i64
                } else {
                    r.wrapping_add(d.varint()?)
                };
                Ok(ChunkMeta {
                    mint,
                    maxt,
                    r: r as u64,
                })
            })()
            .map_err(|e| self.dec_err(base, &e))?;
            prev_maxt = c.maxt;
            prev_ref = c.r as i64;
            chunks.push(c);
        }
        Ok(labels)
    }

    fn read_list(&self, at: u64) -> Result<Vec<u32>> {
        let body = self.section_once(at)?;
        let mut d = Decbuf::new(body);
        let n = d
            .be32_count()
            .map_err(|e| self.dec_err(at as usize + 4, &e))?;
        (0..n)
            .map(|_| d.be32_raw().map_err(|e| self.dec_err(at as usize + 4, &e)))
            .collect()
    }

    /// Label names, ascending (the all-series key excluded).
    pub fn label_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .postings
            .keys()
            .map(String::as_str)
            .filter(|n| !n.is_empty())
            .collect();
        v.sort_unstable();
        v
    }

    /// Values of label `name`, ascending.
    pub fn label_values(&self, name: &str) -> impl Iterator<Item = &str> {
        self.postings
            .get(name)
            .into_iter()
            .flatten()
            .map(|(v, _)| v.as_str())
    }

    /// Ids of series matching every matcher, ascending (that is, in label order).
    pub fn postings_for_matchers(&self, matchers: &[Matcher]) -> Result<Vec<u32>> {
        for_matchers(self, matchers)
    }
}

impl Postings for IndexReader {
    type Error = Error;

    fn all(&self) -> Result<Cow<'_, [u32]>> {
        // The all-series list is stored under the empty label pair.
        self.list("", "")
    }

    fn list(&self, name: &str, value: &str) -> Result<Cow<'_, [u32]>> {
        let Some(values) = self.postings.get(name) else {
            return Ok(Cow::Borrowed(&[]));
        };
        match values.binary_search_by(|(v, _)| v.as_str().cmp(value)) {
            Ok(i) => Ok(Cow::Owned(self.read_list(values[i].1)?)),
            Err(_) => Ok(Cow::Borrowed(&[])),
        }
    }

    fn lists_where(
        &self,
        name: &str,
        keep: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Vec<Cow<'_, [u32]>>> {
        let mut out = Vec::new();
        for (v, at) in self.postings.get(name).into_iter().flatten() {
            if keep(v) {
                out.push(Cow::Owned(self.read_list(*at)?));
            }
        }
        Ok(out)
    }
}

/// Symbols of one [`IndexReader`] looked up lately, by reference (direct-mapped on the
/// reference's low bits): the series of a selection share label names and often
/// values, and a lookup (offset, length, UTF-8 check) costs more than the comparison.
#[derive(Debug, Default)]
pub struct SymbolMemo<'a> {
    slots: [Option<(u32, &'a str)>; 16],
}

impl<'a> SymbolMemo<'a> {
    /// The symbol `r` of `index`, from the memo when it holds it.
    fn get(&mut self, index: &'a IndexReader, r: u32) -> Result<&'a str> {
        let slot = &mut self.slots[r as usize % 16];
        match *slot {
            Some((k, s)) if k == r => Ok(s),
            _ => {
                let s = index.symbol(r)?;
                *slot = Some((r, s));
                Ok(s)
            }
        }
    }
}

#[cfg(test)]
mod memo_tests {
    use super::*;
    use crate::block::mmap::Bytes;

    /// Series read in a row through one [`SymbolMemo`] get the labels and chunks a fresh
    /// read gives, with more symbols than memo slots (so slots are reused by others).
    #[test]
    fn memo_reads_equal_fresh_reads() {
        let series: Vec<(Labels, Vec<ChunkMeta>)> = {
            let mut v: Vec<_> = (0..200)
                .map(|i: i64| {
                    let l = Labels::from_pairs([
                        ("__name__", format!("m{}", i % 7)),
                        ("a", format!("v{}", i % 37)),
                        ("b", format!("w{i}")),
                    ]);
                    let c = vec![ChunkMeta {
                        mint: i,
                        maxt: i + 10,
                        r: 8 + i as u64 * 16,
                    }];
                    (l, c)
                })
                .collect();
            v.sort_by(|x, y| x.0.cmp(&y.0));
            v
        };
        let data = crate::block::writer::encode_index(&series);
        let ix = IndexReader::from_bytes("index".into(), Bytes::Owned(data)).unwrap();
        let all = Matcher::new(promlite_model::MatchType::Regexp, "__name__", ".+").unwrap();
        let ids = ix.postings_for_matchers(&[all]).unwrap();
        assert_eq!(ids.len(), series.len());
        let mut memo = SymbolMemo::default();
        let (mut lb, mut lb2) = (SortedLabelsBuilder::new(), SortedLabelsBuilder::new());
        for (n, id) in ids.iter().enumerate() {
            let (mut c1, mut c2) = (Vec::new(), Vec::new());
            let fresh = ix.series(*id, &mut lb, &mut c1).unwrap();
            let memoed = ix.series_memo(*id, &mut lb2, &mut c2, &mut memo).unwrap();
            assert_eq!(fresh, memoed);
            assert_eq!(fresh, series[n].0);
            assert_eq!(c1, c2);
        }
    }
}
