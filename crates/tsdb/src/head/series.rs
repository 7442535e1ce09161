//! One in-memory series: its closed chunks, the open head chunk, and Prometheus's
//! chunk-cutting rules.

use std::sync::Arc;

use parking_lot::Mutex;
use promlite_model::{Labels, Metadata};
use promlite_storage::{SampleIterator, SampleSeries, SampleValue, Series};

use crate::block::writer::EncodedChunk;
use crate::chunk_iter::{ChunkRef, ChunksIter, Deleted};
use crate::chunkenc::{Encoding, XorChunk, XorIter};

/// A full chunk: immutable bytes shared with any querier reading them.
#[derive(Debug, Clone)]
pub(crate) struct ClosedChunk {
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
    pub(crate) bytes: Arc<[u8]>,
}

/// The mutable part of a series, behind its lock.
///
/// `repr(C)` keeps the fields every append reads and writes (`last`, `next_at`, the head
/// chunk's state) first, next to the lock and the series' id and labels, so that an
/// append touches the first three cache lines of the series and no more; the fields
/// scrapes rarely touch come last.
#[repr(C)]
pub(crate) struct SeriesData {
    /// Timestamp and value of the newest sample, whatever its kind.
    pub(crate) last: Option<(i64, SampleValue)>,
    /// When the head chunk must be cut at the latest (Prometheus's `nextAt`).
    next_at: i64,
    pub(crate) head: Option<(XorChunk, i64)>,
    pub(crate) closed: Vec<ClosedChunk>,
    /// Native-histogram samples, kept uncompressed until histogram chunks are encoded.
    pub(crate) histograms: Vec<(i64, SampleValue)>,
    /// Float samples accepted out of order (inside the out-of-order window), sorted by
    /// time. Queries merge them with the chunks; persisting the head folds them in.
    pub(crate) ooo: Vec<(i64, f64)>,
    pub(crate) metadata: Option<Metadata>,
}

/// A series in the head. `repr(C)`: see [`SeriesData`].
#[repr(C)]
pub(crate) struct MemSeries {
    pub(crate) id: u32,
    /// Whether the WAL holds this series' record yet (set under the WAL lock).
    pub(crate) logged: std::sync::atomic::AtomicBool,
    pub(crate) labels: Labels,
    pub(crate) data: Mutex<SeriesData>,
}

/// A hint to start loading the cache line holding `p`: it never faults, whatever the
/// address, and changes nothing but timing.
#[inline]
fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: `prefetcht0` reads nothing architecturally and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// How chunks are cut.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CutRules {
    /// Chunks never span a multiple of this (the block range, 2h by default).
    pub(crate) chunk_range: i64,
    /// The sample count a chunk aims for (Prometheus: 120).
    pub(crate) samples_per_chunk: usize,
}

/// Prometheus caps XOR chunks at this many bytes.
const MAX_BYTES_PER_XOR_CHUNK: usize = 1024;

impl MemSeries {
    /// Starts loading the cache lines an append reads and writes: the reference count,
    /// id, labels, lock and the hot fields of [`SeriesData`], from `Arc`'s counts (16
    /// bytes before `s`'s data) to the end of the head chunk's state.
    pub(crate) fn prefetch(s: &Arc<MemSeries>) {
        let start = Arc::as_ptr(s).cast::<u8>().wrapping_sub(16);
        let data = s.data.data_ptr().cast::<u8>().cast_const();
        let end = data.wrapping_add(std::mem::offset_of!(SeriesData, closed));
        let mut line = start.wrapping_sub(start as usize % 64);
        while line < end {
            prefetch_line(line);
            line = line.wrapping_add(64);
        }
        // The lock word precedes the data as `parking_lot` lays its mutex out today, so
        // the lines above hold it; should it ever follow the data, load its line too.
        let lock = std::ptr::from_ref(&s.data).cast::<u8>();
        if lock == data {
            prefetch_line(lock.wrapping_add(std::mem::size_of_val(&s.data) - 1));
        }
    }

    pub(crate) fn new(id: u32, labels: Labels) -> MemSeries {
        MemSeries {
            id,
            labels,
            logged: std::sync::atomic::AtomicBool::new(false),
            data: Mutex::new(SeriesData {
                closed: Vec::new(),
                head: None,
                next_at: i64::MIN,
                histograms: Vec::new(),
                last: None,
                ooo: Vec::new(),
                metadata: None,
            }),
        }
    }
}

impl SeriesData {
    /// Starts loading the head chunk's bytes that the next float append writes: the
    /// sample count at its start and its last byte.
    pub(crate) fn prefetch_head_chunk(&self) {
        if let Some((c, _)) = &self.head {
            let b = c.bytes();
            prefetch_line(b.as_ptr());
            prefetch_line(b.as_ptr().wrapping_add(b.len().saturating_sub(1)));
        }
    }

    pub(crate) fn mint(&self) -> Option<i64> {
        let f = self
            .closed
            .first()
            .map(|c| c.mint)
            .or(self.head.as_ref().map(|h| h.1));
        [
            f,
            self.histograms.first().map(|h| h.0),
            self.ooo.first().map(|o| o.0),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(crate) fn maxt(&self) -> Option<i64> {
        self.last.as_ref().map(|l| l.0)
    }

    /// Appends a sample the caller has validated as newer than `last`.
    pub(crate) fn append(&mut self, t: i64, value: SampleValue, rules: CutRules) {
        match &value {
            SampleValue::Float(v) => self.append_float(t, *v, rules),
            SampleValue::Histogram(_) | SampleValue::FloatHistogram(_) => {
                self.histograms.push((t, value.clone()));
            }
        }
        self.last = Some((t, value));
    }

    /// Adds a float sample older than the newest one (the caller checked the window).
    /// A sample at a timestamp already held out of order is ignored, as in Prometheus.
    pub(crate) fn insert_ooo(&mut self, t: i64, v: f64) {
        if let Err(i) = self.ooo.binary_search_by_key(&t, |o| o.0) {
            self.ooo.insert(i, (t, v));
        }
    }

    fn append_float(&mut self, t: i64, v: f64, rules: CutRules) {
        let cut = match &self.head {
            None => true,
            Some((c, mint)) => {
                let n = c.num_samples();
                // At a quarter of the target, predict when the chunk should end so the
                // rest of the chunk range divides into evenly filled chunks.
                if n == rules.samples_per_chunk / 4 {
                    self.next_at = chunk_end_time(*mint, c.last_t(), self.next_at);
                }
                t >= self.next_at
                    || n >= rules.samples_per_chunk * 2
                    || c.bytes().len() > MAX_BYTES_PER_XOR_CHUNK
                    || n >= usize::from(u16::MAX)
            }
        };
        if cut {
            if let Some((c, mint)) = self.head.take() {
                self.closed.push(ClosedChunk {
                    mint,
                    maxt: c.last_t(),
                    bytes: c.bytes().into(),
                });
            }
            self.head = Some((XorChunk::new(), t));
            self.next_at = range_end(t, rules.chunk_range);
        }
        if let Some((c, _)) = &mut self.head {
            c.append(t, v);
        }
    }

    /// Drops everything older than `t` (persisted in a block by now); returns whether the
    /// series is now empty (and may be garbage-collected).
    pub(crate) fn truncate_before(&mut self, t: i64) -> bool {
        self.closed.retain(|c| c.maxt >= t);
        self.histograms.retain(|(ht, _)| *ht >= t);
        self.ooo.retain(|o| o.0 >= t);
        if self.head.as_ref().is_some_and(|h| h.0.last_t() < t) {
            self.head = None;
        }
        self.closed.is_empty()
            && self.head.is_none()
            && self.histograms.is_empty()
            && self.ooo.is_empty()
    }

    /// The float chunks holding samples in `[mint, maxt)`, ready for a block: chunks wholly
    /// inside are copied as they are (head chunks never cross a chunk-range boundary, so
    /// with block range = chunk range this is every chunk); others are re-encoded with
    /// only their samples in range.
    pub(crate) fn chunks_in(
        &self,
        mint: i64,
        maxt: i64,
        deleted: &[(i64, i64)],
    ) -> Vec<EncodedChunk> {
        let mut out = self.float_chunks_in(mint, maxt, deleted);
        out.extend(self.histogram_chunks_in(mint, maxt, deleted));
        out.sort_by_key(|c| c.mint);
        out
    }

    /// The native-histogram samples in `[mint, maxt)` as histogram chunks.
    fn histogram_chunks_in(
        &self,
        mint: i64,
        maxt: i64,
        deleted: &[(i64, i64)],
    ) -> Vec<EncodedChunk> {
        let in_range: Vec<&(i64, SampleValue)> = self
            .histograms
            .iter()
            .filter(|(t, _)| *t >= mint && *t < maxt && !crate::tombstones::deleted(deleted, *t))
            .collect();
        crate::block::writer::encode_histogram_samples(&in_range)
    }

    /// The float chunks of [`SeriesData::chunks_in`].
    fn float_chunks_in(&self, mint: i64, maxt: i64, deleted: &[(i64, i64)]) -> Vec<EncodedChunk> {
        if self.ooo.iter().any(|o| o.0 >= mint && o.0 < maxt) {
            return self.merged_chunks_in(mint, maxt, deleted);
        }
        let head = self
            .head
            .as_ref()
            .map(|(c, cmint)| (*cmint, c.last_t(), c.bytes()));
        let all = self
            .closed
            .iter()
            .map(|c| (c.mint, c.maxt, &c.bytes[..]))
            .chain(head);
        let mut out = Vec::new();
        for (cmint, cmaxt, bytes) in all {
            if cmaxt < mint || cmint >= maxt {
                continue;
            }
            let hit = deleted.iter().any(|&(a, b)| a <= cmaxt && b >= cmint);
            if cmint >= mint && cmaxt < maxt && !hit {
                let samples = bytes
                    .get(..2)
                    .map_or(0, |h| u64::from(u16::from_be_bytes([h[0], h[1]])));
                out.push(EncodedChunk {
                    mint: cmint,
                    maxt: cmaxt,
                    encoding: Encoding::Xor,
                    data: bytes.to_vec(),
                    samples,
                });
                continue;
            }
            let Ok(mut it) = XorIter::new(bytes) else {
                continue;
            };
            let mut c = XorChunk::new();
            let (mut first, mut last) = (i64::MAX, i64::MIN);
            while let Ok(true) = it.next_sample() {
                let (t, v) = it.at();
                if t >= mint && t < maxt && !crate::tombstones::deleted(deleted, t) {
                    c.append(t, v);
                    first = first.min(t);
                    last = last.max(t);
                }
            }
            if c.num_samples() > 0 {
                out.push(EncodedChunk {
                    mint: first,
                    maxt: last,
                    encoding: Encoding::Xor,
                    samples: c.num_samples() as u64,
                    data: c.bytes().to_vec(),
                });
            }
        }
        out
    }

    /// [`SeriesData::chunks_in`] when out-of-order samples fall in the range: every
    /// float sample in `[mint, maxt)`, in-order and out-of-order merged (the in-order one
    /// wins a timestamp tie, as in queries), re-encoded.
    fn merged_chunks_in(&self, mint: i64, maxt: i64, deleted: &[(i64, i64)]) -> Vec<EncodedChunk> {
        let mut samples: Vec<(i64, f64)> = Vec::new();
        let head = self.head.as_ref().map(|(c, _)| c.bytes());
        for bytes in self
            .closed
            .iter()
            .filter(|c| c.maxt >= mint && c.mint < maxt)
            .map(|c| &c.bytes[..])
            .chain(head)
        {
            let Ok(mut it) = XorIter::new(bytes) else {
                continue;
            };
            while let Ok(true) = it.next_sample() {
                let (t, v) = it.at();
                if t >= mint && t < maxt {
                    samples.push((t, v));
                }
            }
        }
        samples.extend(self.ooo.iter().filter(|o| o.0 >= mint && o.0 < maxt));
        // Stable: for equal timestamps the in-order sample, pushed first, stays first.
        samples.sort_by_key(|s| s.0);
        samples.dedup_by_key(|s| s.0);
        let mut out = Vec::new();
        let mut c = XorChunk::new();
        let mut first = 0;
        for (t, v) in samples
            .into_iter()
            .filter(|s| !crate::tombstones::deleted(deleted, s.0))
        {
            if c.num_samples() == 0 {
                first = t;
            }
            c.append(t, v);
            if c.num_samples() >= usize::from(u16::MAX) {
                out.push(EncodedChunk {
                    mint: first,
                    maxt: c.last_t(),
                    encoding: Encoding::Xor,
                    samples: c.num_samples() as u64,
                    data: c.bytes().to_vec(),
                });
                c = XorChunk::new();
            }
        }
        if c.num_samples() > 0 {
            out.push(EncodedChunk {
                mint: first,
                maxt: c.last_t(),
                encoding: Encoding::Xor,
                samples: c.num_samples() as u64,
                data: c.bytes().to_vec(),
            });
        }
        out
    }

    /// Every sample at or after `t`, in order: floats from the chunks, then histograms
    /// (for checkpoints, which only need per-kind order).
    pub(crate) fn samples_from(
        &self,
        t: i64,
        deleted: &[(i64, i64)],
        out: &mut Vec<(i64, SampleValue)>,
    ) {
        let head = self.head.as_ref().map(|(c, _)| c.bytes());
        for bytes in self
            .closed
            .iter()
            .filter(|c| c.maxt >= t)
            .map(|c| &c.bytes[..])
            .chain(head)
        {
            let Ok(mut it) = XorIter::new(bytes) else {
                continue;
            };
            while let Ok(true) = it.next_sample() {
                let (st, v) = it.at();
                if st >= t && !crate::tombstones::deleted(deleted, st) {
                    out.push((st, SampleValue::Float(v)));
                }
            }
        }
        out.extend(
            self.histograms
                .iter()
                .filter(|(ht, _)| *ht >= t && !crate::tombstones::deleted(deleted, *ht))
                .cloned(),
        );
        out.extend(
            self.ooo
                .iter()
                .filter(|(ot, _)| *ot >= t && !crate::tombstones::deleted(deleted, *ot))
                .map(|&(ot, v)| (ot, SampleValue::Float(v))),
        );
    }

    /// A snapshot of the samples in `[mint, maxt]` that no later append can change.
    pub(crate) fn snapshot(
        &self,
        labels: &Labels,
        mint: i64,
        maxt: i64,
        deleted: &[(i64, i64)],
    ) -> HeadSeries {
        let mut chunks: Vec<ClosedChunk> = self
            .closed
            .iter()
            .filter(|c| c.maxt >= mint && c.mint <= maxt)
            .cloned()
            .collect();
        if let Some((c, cmint)) = &self.head
            && c.last_t() >= mint
            && *cmint <= maxt
        {
            chunks.push(ClosedChunk {
                mint: *cmint,
                maxt: c.last_t(),
                bytes: c.bytes().into(),
            });
        }
        // Histograms and out-of-order floats, each sorted, merged into one sorted list
        // that queries chain with the chunks.
        let mut histograms: Vec<promlite_storage::Sample> = self
            .histograms
            .iter()
            .filter(|(t, _)| *t >= mint && *t <= maxt)
            .map(|(t, v)| promlite_storage::Sample::new(*t, v.clone()))
            .collect();
        if !self.ooo.is_empty() {
            histograms.extend(
                self.ooo
                    .iter()
                    .filter(|o| o.0 >= mint && o.0 <= maxt)
                    .map(|&(t, v)| promlite_storage::Sample::float(t, v)),
            );
            histograms.sort_by_key(|s| s.t);
        }
        HeadSeries {
            labels: labels.clone(),
            chunks,
            histograms: (!histograms.is_empty())
                .then(|| SampleSeries::new(labels.clone(), histograms)),
            mint,
            maxt,
            deleted: deleted.to_vec(),
        }
    }
}

/// The end of the chunk range `t` falls in (Prometheus's `rangeForTimestamp`).
fn range_end(t: i64, range: i64) -> i64 {
    t.div_euclid(range) * range + range
}

/// Prometheus's `computeChunkEndTime(start, cur, max, 4)`: the end time that would
/// split `[start, max)` into chunks holding as many samples as a full one, judged from
/// the quarter chunk written so far.
fn chunk_end_time(start: i64, cur: i64, max: i64) -> i64 {
    let n = (max - start) as f64 / ((cur - start + 1) as f64 * 4.0);
    if n <= 1.0 {
        return max;
    }
    (start as f64 + (max - start) as f64 / n.floor()) as i64
}

/// A read-only view of a head series over a time range.
pub(crate) struct HeadSeries {
    labels: Labels,
    chunks: Vec<ClosedChunk>,
    histograms: Option<SampleSeries>,
    mint: i64,
    maxt: i64,
    deleted: Vec<(i64, i64)>,
}

impl Series for HeadSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn samples(&self) -> Box<dyn SampleIterator + '_> {
        let chunks: Vec<_> = self
            .chunks
            .iter()
            .map(|c| ChunkRef {
                mint: c.mint,
                maxt: c.maxt,
                encoding: Encoding::Xor,
                bytes: &c.bytes,
            })
            .collect();
        let floats = Box::new(ChunksIter::new(chunks, self.mint, self.maxt));
        let all: Box<dyn SampleIterator + '_> = match &self.histograms {
            None => floats,
            Some(h) => Box::new(promlite_storage::ChainIterator::new(vec![
                floats,
                h.samples(),
            ])),
        };
        Deleted::wrap(all, &self.deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: CutRules = CutRules {
        chunk_range: 2 * 3600 * 1000,
        samples_per_chunk: 120,
    };

    #[test]
    fn scrape_every_15s_cuts_120_sample_chunks_at_range_boundaries() {
        let mut d = MemSeries::new(0, Labels::empty()).data.into_inner();
        // Four hours of 15 s scrapes starting on a range boundary: 480 samples per 2h.
        for i in 0..960 {
            d.append(i * 15_000, SampleValue::Float(i as f64), RULES);
        }
        let sizes: Vec<usize> = d
            .closed
            .iter()
            .map(|c| XorIter::new(&c.bytes).unwrap().len())
            .chain(d.head.iter().map(|h| h.0.num_samples()))
            .collect();
        assert_eq!(sizes, [120; 8]);
        // No chunk crosses the 2h boundary.
        assert!(
            d.closed
                .iter()
                .all(|c| c.mint / RULES.chunk_range == c.maxt / RULES.chunk_range)
        );
    }

    #[test]
    fn fast_series_respect_the_size_cap() {
        let mut d = MemSeries::new(0, Labels::empty()).data.into_inner();
        for i in 0..2000 {
            // Random-looking values compress badly, so chunks fill by bytes first.
            let v = f64::from_bits(
                0x4000_0000_0000_0000 ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 12,
            );
            d.append(i, SampleValue::Float(v), RULES);
        }
        assert!(
            d.closed
                .iter()
                .all(|c| c.bytes.len() <= MAX_BYTES_PER_XOR_CHUNK + 32)
        );
        assert!(d.closed.len() > 10);
    }
}
