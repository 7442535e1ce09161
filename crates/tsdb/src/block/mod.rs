//! Persistent blocks in Prometheus's on-disk format: a directory named by a ULID holding
//! `meta.json`, `index`, `chunks/000001…` and `tombstones`. A block covers the half-open
//! time range `[minTime, maxTime)` and never changes once written.

pub mod chunks;
pub mod index;
pub(crate) mod mmap;
mod verified;
pub mod writer;

use std::path::{Path, PathBuf};

use promlite_model::{Labels, Matcher, SortedLabelsBuilder};
use promlite_storage::{
    Error as StorageError, LabelHints, LastSample, ListSeriesSet, Querier, Queryable,
    SampleIterator, SelectHints, Series, SeriesSet, read_last,
};
use serde::{Deserialize, Serialize};

use crate::chunk_iter::{ChunkRef, ChunksIter, Deleted, split_by_kind};
use crate::chunkenc::Encoding;
use crate::tombstones::Tombstones;
use crate::{Error, Result};
use chunks::{Segment, split_ref};
use index::{ChunkMeta, IndexReader};

/// `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// The block's ULID.
    pub ulid: String,
    /// Inclusive start of the time range, in milliseconds.
    pub min_time: i64,
    /// Exclusive end of the time range, in milliseconds.
    pub max_time: i64,
    /// Counts.
    #[serde(default)]
    pub stats: BlockStats,
    /// Compaction history.
    #[serde(default)]
    pub compaction: Compaction,
    /// Format version (1).
    pub version: u32,
}

/// Counts recorded in `meta.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    /// Samples.
    #[serde(default)]
    pub num_samples: u64,
    /// Series.
    #[serde(default)]
    pub num_series: u64,
    /// Chunks.
    #[serde(default)]
    pub num_chunks: u64,
    /// Tombstones.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// How a block came to be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    /// 1 for blocks cut from the head; higher for blocks merged from others.
    #[serde(default)]
    pub level: u32,
    /// ULIDs of the level-1 blocks this one contains.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// An open, immutable block.
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    segments: Vec<Segment>,
    tombstones: parking_lot::RwLock<Tombstones>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("dir", &self.dir)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl Block {
    /// Opens the block in `dir`.
    pub fn open(dir: &Path) -> Result<Block> {
        let meta_path = dir.join("meta.json");
        let meta_bytes = std::fs::read(&meta_path).map_err(Error::io(&meta_path))?;
        let meta: BlockMeta = serde_json::from_slice(&meta_bytes).map_err(|e| {
            Error::corrupt(
                &meta_path,
                e.column() as u64,
                format!("invalid meta.json: {e}"),
            )
        })?;
        let index = IndexReader::open(&dir.join("index"))?;
        let chunks_dir = dir.join("chunks");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&chunks_dir)
            .map_err(Error::io(&chunks_dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            })
            .collect();
        names.sort();
        let segments = names
            .iter()
            .map(|p| Segment::open(p))
            .collect::<Result<_>>()?;
        let tombstones = parking_lot::RwLock::new(Tombstones::read(&dir.join("tombstones"))?);
        Ok(Block {
            dir: dir.to_owned(),
            meta,
            index,
            segments,
            tombstones,
        })
    }

    /// The block's `meta.json`.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The deleted intervals of the block's series (by series id in the index).
    pub fn tombstones(&self) -> Tombstones {
        self.tombstones.read().clone()
    }

    /// Deletes `[mint, maxt]` of the series matching `matchers` by adding tombstones,
    /// rewriting the `tombstones` file atomically. Returns how many series were affected.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<usize> {
        let (lo, hi) = (
            mint.max(self.meta.min_time),
            maxt.min(self.meta.max_time - 1),
        );
        if lo > hi {
            return Ok(0);
        }
        let ids = self.index.postings_for_matchers(matchers)?;
        if ids.is_empty() {
            return Ok(0);
        }
        let mut t = self.tombstones.write();
        let mut next = t.clone();
        for id in &ids {
            next.add(u64::from(*id), lo, hi);
        }
        let tmp = self.dir.join("tombstones.tmp");
        std::fs::write(&tmp, next.encode()).map_err(Error::io(&tmp))?;
        let dst = self.dir.join("tombstones");
        std::fs::rename(&tmp, &dst).map_err(Error::io(&dst))?;
        writer::sync_dir(&self.dir)?;
        *t = next;
        Ok(ids.len())
    }

    /// The index.
    pub fn index(&self) -> &IndexReader {
        &self.index
    }

    /// The chunk a reference points at: its encoding and data.
    pub fn chunk(&self, r: u64) -> Result<(Encoding, &[u8])> {
        let (seg, off) = split_ref(r);
        let s = self.segments.get(seg as usize).ok_or_else(|| {
            Error::corrupt(
                &self.dir,
                r,
                format!("chunk reference to missing segment {seg}"),
            )
        })?;
        let (enc, data, _) = s.chunk(off as usize)?;
        Ok((enc, data))
    }
}

impl Queryable for Block {
    fn querier(
        &self,
        mint: i64,
        maxt: i64,
    ) -> std::result::Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(BlockQuerier {
            block: self,
            mint,
            maxt,
        }))
    }
}

/// A querier over a block held by reference or by `Arc`.
pub(crate) struct BlockQuerier<B: std::ops::Deref<Target = Block>> {
    pub(crate) block: B,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

fn storage_err(e: Error) -> StorageError {
    StorageError::Other(Box::new(e))
}

impl<B: std::ops::Deref<Target = Block>> BlockQuerier<B> {
    fn series(&self, matchers: &[Matcher]) -> Result<Vec<BlockSeries<'_>>> {
        let ids = self.block.index.postings_for_matchers(matchers)?;
        let tombstones = self.block.tombstones.read();
        let mut lb = SortedLabelsBuilder::new();
        let mut metas = Vec::new();
        let mut memo = index::SymbolMemo::default();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            metas.clear();
            let labels = self
                .block
                .index
                .series_memo(id, &mut lb, &mut metas, &mut memo)?;
            let wanted = |m: &&ChunkMeta| m.maxt >= self.mint && m.mint <= self.maxt;
            let chunk = |m: &ChunkMeta| {
                self.block.chunk(m.r).map(|(encoding, bytes)| ChunkRef {
                    mint: m.mint,
                    maxt: m.maxt,
                    encoding,
                    bytes,
                })
            };
            let chunks = match metas.iter().filter(wanted).count() {
                0 => continue,
                1 => match metas.iter().find(wanted) {
                    Some(m) => Chunks::One(chunk(m)?),
                    None => continue,
                },
                n => {
                    let mut v = Vec::with_capacity(n);
                    for m in metas.iter().filter(wanted) {
                        v.push(chunk(m)?);
                    }
                    Chunks::Many(v)
                }
            };
            out.push(BlockSeries {
                labels,
                chunks,
                mint: self.mint,
                maxt: self.maxt,
                deleted: tombstones.get(u64::from(id)).to_vec(),
            });
        }
        Ok(out)
    }

    /// Whether the query range overlaps the block at all.
    fn overlaps(&self) -> bool {
        self.mint < self.block.meta.max_time && self.maxt >= self.block.meta.min_time
    }
}

impl<B: std::ops::Deref<Target = Block>> Querier for BlockQuerier<B> {
    fn select<'q>(
        &'q self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'q> + 'q> {
        // Index order is label order, so the result is always sorted.
        if !self.overlaps() {
            return Box::new(ListSeriesSet::<BlockSeries<'_>>::new(Vec::new()));
        }
        match self.series(matchers) {
            Ok(s) => Box::new(ListSeriesSet::new(s)),
            Err(e) => Box::new(ErrSet(Some(storage_err(e)), std::marker::PhantomData)),
        }
    }

    fn label_values(
        &self,
        name: &str,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> std::result::Result<Vec<String>, StorageError> {
        let mut out: Vec<String> = if matchers.is_empty() {
            self.block
                .index
                .label_values(name)
                .map(str::to_owned)
                .collect()
        } else {
            let series = self.series(matchers).map_err(storage_err)?;
            let mut v: Vec<String> = series
                .iter()
                .filter_map(|s| s.labels.get(name).map(str::to_owned))
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        if let Some(h) = hints.filter(|h| h.limit > 0) {
            out.truncate(h.limit);
        }
        Ok(out)
    }

    fn label_names(
        &self,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> std::result::Result<Vec<String>, StorageError> {
        let mut out: Vec<String> = if matchers.is_empty() {
            self.block
                .index
                .label_names()
                .into_iter()
                .map(str::to_owned)
                .collect()
        } else {
            let series = self.series(matchers).map_err(storage_err)?;
            let mut v: Vec<String> = series
                .iter()
                .flat_map(|s| {
                    s.labels
                        .iter()
                        .map(|l| l.name.to_owned())
                        .collect::<Vec<_>>()
                })
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        if let Some(h) = hints.filter(|h| h.limit > 0) {
            out.truncate(h.limit);
        }
        Ok(out)
    }
}

/// A series set that only reports an error.
struct ErrSet<'q>(Option<StorageError>, std::marker::PhantomData<&'q ()>);

impl<'q> Iterator for ErrSet<'q> {
    type Item = std::result::Result<Box<dyn Series + 'q>, StorageError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.take().map(Err)
    }
}

impl<'q> SeriesSet<'q> for ErrSet<'q> {}

/// A block series' chunks that overlap the query range. An instant query's window
/// usually falls in one chunk, which is kept inline rather than in a `Vec` of its own
/// (an allocation per series).
enum Chunks<'a> {
    One(ChunkRef<'a>),
    Many(Vec<ChunkRef<'a>>),
}

impl<'a> Chunks<'a> {
    fn as_slice(&self) -> &[ChunkRef<'a>] {
        match self {
            Chunks::One(c) => std::slice::from_ref(c),
            Chunks::Many(v) => v,
        }
    }
}

/// A block series over the chunks that overlap the query range.
struct BlockSeries<'a> {
    labels: Labels,
    chunks: Chunks<'a>,
    mint: i64,
    maxt: i64,
    deleted: Vec<(i64, i64)>,
}

impl Series for BlockSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn samples(&self) -> Box<dyn SampleIterator + '_> {
        Deleted::wrap(
            split_by_kind(self.chunks.as_slice(), self.mint, self.maxt),
            &self.deleted,
        )
    }

    /// Reads chunks of one kind through an iterator on the stack, not a boxed one.
    fn last_in(&self, mint: i64, maxt: i64) -> promlite_storage::Result<Option<LastSample>> {
        let chunks = self.chunks.as_slice();
        let one_kind = chunks.iter().all(|c| c.encoding == Encoding::Xor)
            || chunks.iter().all(|c| c.encoding != Encoding::Xor);
        if one_kind && self.deleted.is_empty() {
            read_last(
                &mut ChunksIter::new(chunks, self.mint, self.maxt),
                mint,
                maxt,
            )
        } else {
            read_last(&mut *self.samples(), mint, maxt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunkenc::XorChunk;
    use promlite_storage::FPoint;

    /// `BlockSeries::last_in` (an iterator on the stack when it can) answers as the
    /// trait's default over `samples()` does: with one chunk, several, and deletions.
    #[test]
    fn last_in_matches_the_boxed_iterator() {
        let chunks: Vec<XorChunk> = (0..3)
            .map(|c| {
                let mut x = XorChunk::new();
                for i in 0..40 {
                    let t = c * 1000 + i * 20;
                    let v = if i == 39 {
                        promlite_model::STALE_NAN
                    } else {
                        t as f64
                    };
                    x.append(t, v);
                }
                x
            })
            .collect();
        let refs: Vec<ChunkRef<'_>> = chunks
            .iter()
            .enumerate()
            .map(|(c, x)| ChunkRef {
                mint: c as i64 * 1000,
                maxt: c as i64 * 1000 + 39 * 20,
                encoding: Encoding::Xor,
                bytes: x.bytes(),
            })
            .collect();
        let key = |l: Option<LastSample>| match l {
            Some(LastSample::Float(FPoint { t, f })) => Some((t, f.to_bits())),
            Some(LastSample::Histogram(..)) => panic!("no histograms here"),
            None => None,
        };
        for deleted in [vec![], vec![(500, 1100)]] {
            for (lo, hi) in [
                (0, 3000),
                (1000, 1780),
                (1000, 1779),
                (790, 999),
                (-50, -1),
                (2500, 2600),
            ] {
                for kept in [Chunks::One(refs[1]), Chunks::Many(refs.clone())] {
                    let s = BlockSeries {
                        labels: Labels::empty(),
                        chunks: kept,
                        mint: 100,
                        maxt: 2700,
                        deleted: deleted.clone(),
                    };
                    let want = read_last(&mut *s.samples(), lo, hi).map(key).ok();
                    let got = s.last_in(lo, hi).map(key).ok();
                    assert_eq!(got, want, "window {lo}..={hi}, deleted {deleted:?}");
                }
            }
        }
    }
}
