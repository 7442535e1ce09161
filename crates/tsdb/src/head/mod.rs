//! The head: the in-memory part of the TSDB that takes every append.
//!
//! Series live in a sharded map keyed by their labels (striped locks, so appenders of
//! different series rarely contend) and in an id-indexed table; an inverted index maps
//! label pairs to sorted series ids. Each series keeps its samples in XOR chunks cut by
//! Prometheus's rules (aiming at 120 samples, never crossing a chunk-range boundary,
//! at most 1 KiB), so the head holds data as compactly as the blocks it becomes.
//!
//! Appends are transactions: samples are validated against the series' newest sample on
//! `append` and applied under each series' lock on `commit`. Queriers take a snapshot of
//! the chunks they need (closed chunks are shared, the open one is copied), so a reader
//! never blocks a writer.

mod postings;
mod series;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use hashbrown::HashMap;
use parking_lot::{Mutex, RwLock};
use promlite_model::{Exemplar, Labels, Matcher, Metadata};
use promlite_storage::{
    Appendable, Appender, Error as StorageError, HistogramRef, LabelHints, ListSeriesSet, Querier,
    Queryable, SampleValue, SelectHints, SeriesRef, SeriesSet,
};

use crate::block::writer::BlockWriter;
use crate::tombstones::Tombstones;
use crate::wal::checkpoint;
use crate::wal::log::{Wal, WalOptions, repair, replay};
use crate::wal::record::{
    self, Record, RefExemplar, RefHistogram, RefMetadata, RefSample, RefSeries, RefTombstone,
};
use postings::MemPostings;
use series::{CutRules, HeadSeries, MemSeries};

const STRIPES: usize = 64;

/// One shard of the labels → series map.
type Stripe = RwLock<HashMap<Labels, Arc<MemSeries>>>;

/// Exemplars kept in the head's ring buffer by default (Prometheus's
/// `--storage.tsdb.max-exemplars` default is 100,000).
pub const DEFAULT_MAX_EXEMPLARS: usize = 100_000;

/// Options for a [`Head`].
#[derive(Debug, Clone)]
pub struct HeadOptions {
    /// Chunks never span a multiple of this many milliseconds (the block range).
    pub chunk_range: i64,
    /// The number of samples a chunk aims for.
    pub samples_per_chunk: usize,
    /// Size of the exemplar ring buffer (0 disables exemplars).
    pub max_exemplars: usize,
    /// Samples older than this are rejected on append and skipped on WAL replay (the
    /// time already persisted in blocks).
    pub min_valid_time: i64,
    /// Prometheus's `out_of_order_time_window` in milliseconds: a float sample older than
    /// its series' newest is accepted when it is at most this much older than the
    /// head's newest sample (0: out-of-order samples are rejected).
    pub out_of_order_time_window: i64,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            chunk_range: 2 * 60 * 60 * 1000,
            samples_per_chunk: 120,
            max_exemplars: DEFAULT_MAX_EXEMPLARS,
            min_valid_time: i64::MIN,
            out_of_order_time_window: 0,
        }
    }
}

/// The in-memory head of the TSDB; an [`Appendable`] and [`Queryable`] on its own.
///
/// ```
/// use promlite_model::{Labels, Matcher};
/// use promlite_storage::{Appendable, Queryable, SeriesRef, ValueType};
/// use promlite_tsdb::Head;
///
/// let head = Head::new(&Default::default());
/// let l = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
/// let mut app = head.appender();
/// let r = app.append(SeriesRef::NONE, &l, 15_000, 1.0).unwrap();
/// app.append(r, &l, 30_000, 1.0).unwrap();
/// app.commit().unwrap();
///
/// let q = head.querier(0, 60_000).unwrap();
/// let s = q.select(true, None, &[Matcher::equal("job", "node")]).next().unwrap().unwrap();
/// let mut it = s.samples();
/// assert_eq!(it.seek(20_000), ValueType::Float);
/// assert_eq!(it.at(), (30_000, 1.0));
/// ```
pub struct Head {
    stripes: Box<[Stripe]>,
    by_id: RwLock<Vec<Option<Arc<MemSeries>>>>,
    postings: RwLock<MemPostings>,
    next_id: AtomicU32,
    mint: AtomicI64,
    maxt: AtomicI64,
    /// Samples older than this are rejected as out of bounds: they belong to time that
    /// has been persisted in blocks.
    min_valid_time: AtomicI64,
    rules: CutRules,
    /// The out-of-order window in milliseconds (0: off).
    ooo_window: i64,
    exemplars: Mutex<ExemplarRing>,
    /// Deleted intervals by series id.
    tombstones: RwLock<Tombstones>,
    wal: Option<Mutex<Wal>>,
    /// What the WAL replay at open read.
    wal_replay: WalReplayStatus,
    /// Buffers of finished transactions for the next ones to reuse: a scrape's appender
    /// would otherwise regrow them from empty on every scrape.
    spare: Mutex<Vec<AppendBuffers>>,
}

/// The growable parts of a [`HeadAppender`], kept between transactions.
#[derive(Default)]
struct AppendBuffers {
    samples: Vec<(Arc<MemSeries>, i64, SampleValue)>,
    pending: HashMap<u32, usize>,
}

/// Most spare buffer sets a head keeps (one per concurrent appender is plenty).
const MAX_SPARE_BUFFERS: usize = 64;
/// Buffers that grew past this many samples are not kept: one huge transaction should
/// not pin its memory forever.
const MAX_SPARE_SAMPLES: usize = 1 << 16;

/// The WAL segments replayed when the head opened, as Prometheus's
/// `/api/v1/status/walreplay` reports them: the first and last segment and the one being
/// read (the last, once the replay is done; the head opens only after it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalReplayStatus {
    /// The first segment read after the checkpoint.
    pub min: u32,
    /// The last segment.
    pub max: u32,
    /// The segment being read.
    pub current: u32,
}

struct ExemplarRing {
    cap: usize,
    items: std::collections::VecDeque<(Labels, Exemplar)>,
}

impl Head {
    /// An empty head.
    pub fn new(opts: &HeadOptions) -> Head {
        Head {
            stripes: (0..STRIPES).map(|_| RwLock::new(HashMap::new())).collect(),
            by_id: RwLock::new(Vec::new()),
            postings: RwLock::new(MemPostings::default()),
            next_id: AtomicU32::new(0),
            mint: AtomicI64::new(i64::MAX),
            maxt: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(opts.min_valid_time),
            ooo_window: opts.out_of_order_time_window.max(0),
            rules: CutRules {
                chunk_range: opts.chunk_range,
                samples_per_chunk: opts.samples_per_chunk.max(4),
            },
            exemplars: Mutex::new(ExemplarRing {
                cap: opts.max_exemplars,
                items: std::collections::VecDeque::new(),
            }),
            wal: None,
            tombstones: RwLock::new(Tombstones::new()),
            wal_replay: WalReplayStatus::default(),
            spare: Mutex::new(Vec::new()),
        }
    }

    /// A head backed by the write-ahead log in `wal_dir`: the log is replayed first
    /// (a damaged tail is cut off at the last whole record and reported), then every
    /// commit is logged before it becomes visible.
    pub fn open(opts: &HeadOptions, wal_dir: &Path, wal_opts: WalOptions) -> crate::Result<Head> {
        let mut head = Head::new(opts);
        let stats = head.replay_wal(wal_dir, true)?;
        head.wal_replay = stats.segments;
        tracing::info!(
            dir = %wal_dir.display(),
            series = stats.series,
            samples = stats.samples,
            "WAL replay completed"
        );
        head.wal = Some(Mutex::new(Wal::open(wal_dir, wal_opts)?));
        Ok(head)
    }

    /// A head holding what the WAL in `wal_dir` holds, for reading only: nothing in the
    /// directory is changed (a damaged tail is reported and skipped, not repaired), and
    /// appends are not logged. For tools that inspect a data directory another process
    /// may own.
    pub fn open_read_only(opts: &HeadOptions, wal_dir: &Path) -> crate::Result<Head> {
        let head = Head::new(opts);
        if wal_dir.exists() {
            head.replay_wal(wal_dir, false)?;
        }
        Ok(head)
    }

    /// Replays the checkpoint and WAL segments.
    ///
    /// This thread decodes the log and sorts each sample into a [`ReplayRound`] by its
    /// series' partition (a run of [`REPLAY_PARTITION`] consecutive series ids). Full
    /// rounds go to worker threads, each applying the partitions it owns in log order.
    /// Within one partition the series' chunks stay in cache, so a round costs about one
    /// cache miss per series instead of one per sample (samples arrive one per series per
    /// scrape); no sort is needed, and every series receives its samples in log order
    /// because a partition always goes to the same worker and rounds are applied in turn.
    fn replay_wal(&self, dir: &Path, repair_tail: bool) -> crate::Result<ReplayStats> {
        let workers = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, 8);
        std::thread::scope(|scope| {
            let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
            let mut senders = Vec::with_capacity(workers);
            let mut handles = Vec::with_capacity(workers);
            for w in 0..workers {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Arc<ReplayRound>>(REPLAY_ROUNDS);
                senders.push(tx);
                let done = done_tx.clone();
                handles.push(scope.spawn(move || {
                    let mut acc = ReplayAcc::default();
                    for round in rx {
                        self.apply_round(&round, w, workers, &mut acc);
                        // Released before saying so: the decoder reuses a round once
                        // every worker has let go of it.
                        drop(round);
                        let _ = done.send(());
                    }
                    acc
                }));
            }
            let mut r = Replayer {
                head: self,
                refs: ReplayRefs::default(),
                stats: ReplayStats::default(),
                round: ReplayRound::default(),
                in_flight: std::collections::VecDeque::new(),
                done: done_rx,
                senders,
                min_valid: self.min_valid_time.load(Ordering::Acquire),
            };
            let result = r.run(dir, repair_tail);
            let mut stats = r.finish();
            for h in handles {
                // A worker only panics on a bug; surface it rather than lose samples quietly.
                let acc = h.join().expect("WAL replay worker panicked");
                stats.samples += acc.n;
                if acc.mint <= acc.maxt {
                    self.mint.fetch_min(acc.mint, Ordering::AcqRel);
                    self.maxt.fetch_max(acc.maxt, Ordering::AcqRel);
                }
            }
            result.map(|()| stats)
        })
    }

    /// Applies the partitions of `round` that worker `w` of `workers` owns.
    fn apply_round(&self, round: &ReplayRound, w: usize, workers: usize, acc: &mut ReplayAcc) {
        for part in round.parts.iter().skip(w).step_by(workers) {
            if part.is_empty() {
                continue;
            }
            // Held per partition, not per round, so the decoder can add series meanwhile.
            let by_id = self.by_id.read();
            for work in part {
                let Some(Some(s)) = by_id.get(work.id as usize) else {
                    continue;
                };
                let t = work.t;
                let v = round.value(work);
                let mut d = s.data.lock();
                if d.last.as_ref().is_none_or(|l| l.0 < t) {
                    d.append(t, v, self.rules);
                } else if let (SampleValue::Float(f), true) = (&v, self.ooo_window > 0)
                    && d.last.as_ref().is_some_and(|l| t >= l.0 - self.ooo_window)
                {
                    // Accepted out of order when logged: relative to the series' newest
                    // sample, replay is at least as lenient as the head-wide check at
                    // append time was.
                    d.insert_ooo(t, *f);
                } else {
                    continue;
                }
                acc.mint = acc.mint.min(t);
                acc.maxt = acc.maxt.max(t);
                acc.n += 1;
            }
        }
    }

    /// Recreates a series under its WAL reference. Prometheus may log one label set
    /// under two references (across checkpoints); both then resolve to one series.
    /// The series with this id, if it exists.
    fn series_by_id(&self, id: u32) -> Option<Arc<MemSeries>> {
        self.by_id.read().get(id as usize).cloned().flatten()
    }

    fn create_with_ref(&self, r: u64, labels: &Labels) -> Arc<MemSeries> {
        if let Some(s) = self.lookup(labels) {
            return s;
        }
        let id = u32::try_from(r.saturating_sub(1)).unwrap_or(u32::MAX - 1);
        self.next_id.fetch_max(id + 1, Ordering::AcqRel);
        self.insert_series(id, labels)
    }

    /// The WAL segments replayed when the head opened.
    pub fn wal_replay(&self) -> WalReplayStatus {
        self.wal_replay
    }

    /// The number of series.
    pub fn num_series(&self) -> usize {
        self.by_id.read().iter().filter(|s| s.is_some()).count()
    }

    /// The oldest and newest sample timestamps, if any sample was appended.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let (mint, maxt) = (
            self.mint.load(Ordering::Acquire),
            self.maxt.load(Ordering::Acquire),
        );
        (mint <= maxt).then_some((mint, maxt))
    }

    /// What `/api/v1/status/tsdb` reports: the head's size and its largest cardinalities,
    /// each list cut to `limit` entries (Prometheus shows 10).
    ///
    /// ```
    /// use promlite_tsdb::{Head, HeadOptions};
    /// let head = Head::new(&HeadOptions::default());
    /// let stats = head.stats(10);
    /// assert_eq!(stats.num_series, 0);
    /// ```
    pub fn stats(&self, limit: usize) -> HeadStats {
        let (lists, num_label_pairs) = self.postings.read().stats(limit);
        let mut num_series = 0;
        let mut chunk_count = 0;
        for s in self.by_id.read().iter().flatten() {
            num_series += 1;
            let d = s.data.lock();
            chunk_count += d.closed.len()
                + usize::from(d.head.is_some())
                + usize::from(!d.histograms.is_empty());
        }
        let (min_time, max_time) = self.time_range().unwrap_or((i64::MAX, i64::MIN));
        HeadStats {
            num_series,
            num_label_pairs,
            chunk_count,
            min_time,
            max_time,
            lists,
        }
    }

    /// The metadata recorded per metric name, each distinct (type, help, unit) once,
    /// sorted by name (what Prometheus's `/api/v1/metadata` lists).
    pub fn metadata_by_metric(&self) -> Vec<(String, Metadata)> {
        let mut out: Vec<(String, Metadata)> = self
            .by_id
            .read()
            .iter()
            .flatten()
            .filter_map(|s| {
                let m = s.data.lock().metadata.clone()?;
                Some((s.labels.metric_name().unwrap_or_default().to_owned(), m))
            })
            .collect();
        out.sort_by(|a, b| {
            (
                a.0.as_str(),
                a.1.metric_type.as_str(),
                a.1.help.as_str(),
                a.1.unit.as_str(),
            )
                .cmp(&(
                    b.0.as_str(),
                    b.1.metric_type.as_str(),
                    b.1.help.as_str(),
                    b.1.unit.as_str(),
                ))
        });
        out.dedup();
        out
    }

    /// The metadata last recorded for a series.
    pub fn metadata(&self, labels: &Labels) -> Option<Metadata> {
        self.lookup(labels)
            .and_then(|s| s.data.lock().metadata.clone())
    }

    /// Exemplars of series matching `matchers` with timestamps in `[mint, maxt]`.
    pub fn exemplars(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Vec<(Labels, Exemplar)> {
        let ring = self.exemplars.lock();
        ring.items
            .iter()
            .filter(|(l, e)| {
                e.timestamp.is_none_or(|t| t >= mint && t <= maxt)
                    && matchers
                        .iter()
                        .all(|m| m.matches(l.get(m.name()).unwrap_or("")))
            })
            .cloned()
            .collect()
    }

    /// Deletes `[mint, maxt]` of the series matching `matchers`: the interval is recorded
    /// as a tombstone (logged to the WAL) and hidden from queries; the samples disappear
    /// for good when the head is persisted. Returns how many series were affected.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> crate::Result<usize> {
        let series = self.series_for(matchers);
        if series.is_empty() || mint > maxt {
            return Ok(0);
        }
        let stones: Vec<RefTombstone> = series
            .iter()
            .map(|s| RefTombstone {
                r: u64::from(s.id) + 1,
                mint,
                maxt,
            })
            .collect();
        let _wal = match &self.wal {
            Some(wal) => {
                let mut wal = wal.lock();
                let mut rec = Vec::new();
                // The series must be in the log before a record refers to them.
                let mut new = Vec::new();
                let mut marked = Vec::new();
                for s in &series {
                    if !s.logged.swap(true, Ordering::AcqRel) {
                        new.push(RefSeries {
                            r: u64::from(s.id) + 1,
                            labels: s.labels.clone(),
                        });
                        marked.push(s);
                    }
                }
                let mut recs = Vec::new();
                if !new.is_empty() {
                    record::encode_series(&new, &mut rec);
                    recs.push(std::mem::take(&mut rec));
                }
                record::encode_tombstones(&stones, &mut rec);
                recs.push(rec);
                let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
                if let Err(e) = wal.log(&refs) {
                    for s in marked {
                        s.logged.store(false, Ordering::Release);
                    }
                    return Err(e);
                }
                Some(wal)
            }
            None => None,
        };
        let mut t = self.tombstones.write();
        for s in &series {
            t.add(u64::from(s.id), mint, maxt);
        }
        Ok(series.len())
    }

    /// Rejects appends older than `t` from now on (time already persisted in blocks).
    pub fn set_min_valid_time(&self, t: i64) {
        self.min_valid_time.fetch_max(t, Ordering::AcqRel);
    }

    /// Writes the head's float data in `[mint, maxt)` as a level-1 block under `parent`.
    /// Returns the block's directory, or `None` when the range holds no sample.
    pub fn write_block(
        &self,
        parent: &Path,
        mint: i64,
        maxt: i64,
    ) -> crate::Result<Option<std::path::PathBuf>> {
        let mut series: Vec<Arc<MemSeries>> = self.by_id.read().iter().flatten().cloned().collect();
        series.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        let tombstones = self.tombstones.read().clone();
        let mut w = BlockWriter::new(
            parent,
            mint,
            maxt,
            crate::block::Compaction {
                level: 1,
                sources: Vec::new(),
            },
        )?;
        for s in series {
            let chunks = crate::block::writer::merge_chunks(s.data.lock().chunks_in(
                mint,
                maxt,
                tombstones.get(u64::from(s.id)),
            ));
            w.add_series(s.labels.clone(), &chunks)?;
        }
        w.finish()
    }

    /// Starts a new WAL segment, writes a checkpoint of everything the head holds at or
    /// after `t` covering all older segments, and deletes those segments. Call after
    /// [`Head::truncate_before`]`(t)`.
    pub fn checkpoint_wal(&self, t: i64) -> crate::Result<()> {
        let Some(wal) = &self.wal else { return Ok(()) };
        let (dir, last) = {
            let mut w = wal.lock();
            let new = w.next_segment()?;
            (w.dir().to_owned(), new - 1)
        };
        let series: Vec<Arc<MemSeries>> = self.by_id.read().iter().flatten().cloned().collect();
        // A copy, so no tombstone lock is taken while a series lock is held.
        let tombstones = self.tombstones.read().clone();
        let mut records = Vec::new();
        let mut buf = Vec::new();
        for batch in series.chunks(1000) {
            let refs: Vec<RefSeries> = batch
                .iter()
                .map(|s| RefSeries {
                    r: u64::from(s.id) + 1,
                    labels: s.labels.clone(),
                })
                .collect();
            record::encode_series(&refs, &mut buf);
            records.push(std::mem::take(&mut buf));
            let mut floats = Vec::new();
            let mut hists = Vec::new();
            let mut fhists = Vec::new();
            let mut meta = Vec::new();
            let mut samples = Vec::new();
            for s in batch {
                let r = u64::from(s.id) + 1;
                samples.clear();
                let d = s.data.lock();
                d.samples_from(t, tombstones.get(u64::from(s.id)), &mut samples);
                if let Some(m) = &d.metadata {
                    meta.push(RefMetadata {
                        r,
                        metric_type: m.metric_type,
                        unit: m.unit.clone(),
                        help: m.help.clone(),
                    });
                }
                drop(d);
                for (st, v) in samples.drain(..) {
                    match v {
                        SampleValue::Float(v) => floats.push(RefSample { r, t: st, v }),
                        SampleValue::Histogram(h) => hists.push((
                            h.uses_custom_buckets(),
                            RefHistogram {
                                r,
                                t: st,
                                h: (*h).clone(),
                            },
                        )),
                        SampleValue::FloatHistogram(h) => fhists.push((
                            h.uses_custom_buckets(),
                            RefHistogram {
                                r,
                                t: st,
                                h: (*h).clone(),
                            },
                        )),
                    }
                }
            }
            for f in floats.chunks(10_000) {
                record::encode_samples(f, &mut buf);
                records.push(std::mem::take(&mut buf));
            }
            for custom in [false, true] {
                let hs: Vec<_> = hists
                    .iter()
                    .filter(|h| h.0 == custom)
                    .map(|h| h.1.clone())
                    .collect();
                if !hs.is_empty() {
                    record::encode_histograms(&hs, custom, &mut buf);
                    records.push(std::mem::take(&mut buf));
                }
                let fs: Vec<_> = fhists
                    .iter()
                    .filter(|h| h.0 == custom)
                    .map(|h| h.1.clone())
                    .collect();
                if !fs.is_empty() {
                    record::encode_float_histograms(&fs, custom, &mut buf);
                    records.push(std::mem::take(&mut buf));
                }
            }
            if !meta.is_empty() {
                record::encode_metadata(&meta, &mut buf);
                records.push(std::mem::take(&mut buf));
            }
        }
        checkpoint::write(&dir, last, &records)?;
        wal.lock().truncate_before(last + 1)?;
        Ok(())
    }

    /// Drops all data older than `t` (after it has been persisted in a block) and removes
    /// series left with no samples. Returns the number of series removed.
    pub fn truncate_before(&self, t: i64) -> usize {
        self.tombstones.write().truncate_before(t);
        let mut gone: Vec<u32> = Vec::new();
        {
            let by_id = self.by_id.read();
            for s in by_id.iter().flatten() {
                if s.data.lock().truncate_before(t) {
                    gone.push(s.id);
                }
            }
        }
        if !gone.is_empty() {
            // Index first, so no new query finds a series that is about to go.
            self.postings.write().delete(&gone);
        }
        let mut by_id = self.by_id.write();
        for &id in &gone {
            if let Some(s) = by_id.get_mut(id as usize).and_then(Option::take) {
                self.stripe(&s.labels).write().remove(&s.labels);
            }
        }
        let mint = by_id
            .iter()
            .flatten()
            .filter_map(|s| s.data.lock().mint())
            .min()
            .unwrap_or(i64::MAX);
        self.mint.store(mint, Ordering::Release);
        gone.len()
    }

    fn stripe(&self, labels: &Labels) -> &Stripe {
        use std::hash::BuildHasher;
        let h = self.stripes[0].read().hasher().hash_one(labels);
        &self.stripes[(h as usize) % STRIPES]
    }

    fn lookup(&self, labels: &Labels) -> Option<Arc<MemSeries>> {
        self.stripe(labels).read().get(labels).cloned()
    }

    /// The series for `labels`, created if new; `hint` is trusted if it still names them.
    /// The series of `next` (a reference, or [`SeriesRef::NONE`]) starts loading into
    /// the cache: see [`Appender::prefetch`].
    fn get_or_create(
        &self,
        hint: SeriesRef,
        labels: &Labels,
        next: SeriesRef,
    ) -> Result<Arc<MemSeries>, StorageError> {
        if hint != SeriesRef::NONE {
            let by_id = self.by_id.read();
            let slot = |r: SeriesRef| {
                let i = usize::try_from(r.0.checked_sub(1)?).ok()?;
                by_id.get(i)?.as_ref()
            };
            if let Some(n) = slot(next) {
                MemSeries::prefetch(n);
            }
            if let Some(s) = slot(hint)
                && s.labels == *labels
            {
                return Ok(s.clone());
            }
        }
        if let Some(s) = self.lookup(labels) {
            return Ok(s);
        }
        validate_labels(labels)?;
        let stripe = self.stripe(labels).write();
        if let Some(s) = stripe.get(labels) {
            return Ok(s.clone());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        drop(stripe);
        Ok(self.insert_series(id, labels))
    }

    fn insert_series(&self, id: u32, labels: &Labels) -> Arc<MemSeries> {
        let mut stripe = self.stripe(labels).write();
        if let Some(s) = stripe.get(labels) {
            return s.clone();
        }
        let s = Arc::new(MemSeries::new(id, labels.clone()));
        stripe.insert(labels.clone(), s.clone());
        {
            let mut by_id = self.by_id.write();
            let i = id as usize;
            if by_id.len() <= i {
                by_id.resize(i + 1, None);
            }
            by_id[i] = Some(s.clone());
        }
        self.postings.write().add(id, labels);
        s
    }

    fn series_for(&self, matchers: &[Matcher]) -> Vec<Arc<MemSeries>> {
        let ids = self.postings.read().for_matchers(matchers);
        let by_id = self.by_id.read();
        ids.iter()
            .filter_map(|&i| by_id.get(i as usize).cloned().flatten())
            .collect()
    }
}

/// A sample on its way to a replay worker: series id, timestamp and value — a float's
/// bits, or (for the rare native histogram) an index into its round's `histograms`.
/// 24 bytes, so a round of millions stays compact.
struct ReplayWork {
    id: u32,
    histogram: bool,
    t: i64,
    bits: u64,
}

/// Consecutive series ids per replay partition: a partition's series (their heads and
/// open chunks, a few hundred bytes each) fit in a core's private cache. Unit tests use
/// tiny partitions and rounds so that small logs take every path.
const REPLAY_PARTITION: u32 = if cfg!(test) { 4 } else { 128 };

/// Rounds handed to the workers and not yet released, at most.
const REPLAY_ROUNDS: usize = 2;

/// Samples a round collects per series known so far (within the bounds below): enough
/// that each series' first, cache-missing touch in a round is shared by many samples.
const REPLAY_SAMPLES_PER_SERIES: usize = 16;
const REPLAY_ROUND_MIN: usize = if cfg!(test) { 16 } else { 1 << 20 };
const REPLAY_ROUND_MAX: usize = if cfg!(test) { 64 } else { 1 << 23 };

/// Samples being replayed, sorted by partition, each partition in log order.
#[derive(Default)]
struct ReplayRound {
    parts: Vec<Vec<ReplayWork>>,
    histograms: Vec<SampleValue>,
    len: usize,
}

impl ReplayRound {
    fn push(&mut self, id: u32, t: i64, v: SampleValue) {
        let p = (id / REPLAY_PARTITION) as usize;
        if self.parts.len() <= p {
            self.parts.resize_with(p + 1, Vec::new);
        }
        let (histogram, bits) = match v {
            SampleValue::Float(f) => (false, f.to_bits()),
            v => {
                self.histograms.push(v);
                (true, (self.histograms.len() - 1) as u64)
            }
        };
        self.parts[p].push(ReplayWork {
            id,
            histogram,
            t,
            bits,
        });
        self.len += 1;
    }

    fn value(&self, w: &ReplayWork) -> SampleValue {
        if w.histogram {
            self.histograms[w.bits as usize].clone()
        } else {
            SampleValue::Float(f64::from_bits(w.bits))
        }
    }

    fn clear(&mut self) {
        self.parts.iter_mut().for_each(Vec::clear);
        self.histograms.clear();
        self.len = 0;
    }
}

/// What a replay worker applied: the time range and the number of samples.
struct ReplayAcc {
    mint: i64,
    maxt: i64,
    n: usize,
}

impl Default for ReplayAcc {
    fn default() -> Self {
        ReplayAcc {
            mint: i64::MAX,
            maxt: i64::MIN,
            n: 0,
        }
    }
}

/// The decoding side of a WAL replay.
struct Replayer<'h> {
    head: &'h Head,
    refs: ReplayRefs,
    stats: ReplayStats,
    /// The round being filled.
    round: ReplayRound,
    /// Rounds sent to the workers, oldest first.
    in_flight: std::collections::VecDeque<Arc<ReplayRound>>,
    /// One message each time a worker lets go of a round.
    done: std::sync::mpsc::Receiver<()>,
    senders: Vec<std::sync::mpsc::SyncSender<Arc<ReplayRound>>>,
    min_valid: i64,
}

impl Replayer<'_> {
    /// Reads the newest checkpoint, then the segments after it, repairing a damaged tail.
    fn run(&mut self, dir: &Path, repair_tail: bool) -> crate::Result<()> {
        let mut failure: Option<crate::Error> = None;
        let mut from = 0;
        if let Some((index, path)) = checkpoint::latest(dir)? {
            let damaged = replay(&path, 0, |rec| match self.raw(rec) {
                Ok(()) => {}
                Err(e) => {
                    failure.get_or_insert(crate::Error::corrupt(&path, e.offset as u64, e.what));
                }
            })?;
            if let Some(c) = damaged {
                return Err(crate::Error::corrupt(
                    path,
                    c.offset as u64,
                    format!("checkpoint damaged: {}", c.reason),
                ));
            }
            from = index + 1;
        }
        if let Some(&last) = crate::wal::log::list_segments(dir)?.last() {
            self.stats.segments = WalReplayStatus {
                min: from.min(last),
                max: last,
                current: last,
            };
        }
        let corruption = replay(dir, from, |rec| {
            if failure.is_some() {
                return;
            }
            match self.raw(rec) {
                Ok(()) => {}
                Err(e) => {
                    failure = Some(crate::Error::corrupt(
                        dir,
                        e.offset as u64,
                        format!("undecodable WAL record: {}", e.what),
                    ));
                }
            }
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        if let Some(c) = corruption.as_ref().filter(|_| !repair_tail) {
            tracing::warn!(segment = c.segment, offset = c.offset, reason = %c.reason, "WAL is damaged; reading up to the last complete record");
        } else if let Some(c) = corruption {
            tracing::warn!(
                segment = c.segment,
                offset = c.offset,
                reason = %c.reason,
                "WAL is damaged; truncating it at the last complete record"
            );
            repair(dir, &c)?;
            self.stats.repaired = true;
        }
        Ok(())
    }

    /// Sends the last round and closes the workers' channels.
    fn finish(mut self) -> ReplayStats {
        self.flush();
        self.senders.clear();
        self.stats
    }

    /// Hands the current round to the workers and starts a new one, reusing the oldest
    /// round in flight (once every worker has let go of it) when enough are out.
    fn flush(&mut self) {
        if self.round.len == 0 {
            return;
        }
        let mut next = ReplayRound::default();
        if self.in_flight.len() >= REPLAY_ROUNDS
            && let Some(mut oldest) = self.in_flight.pop_front()
        {
            next = loop {
                match Arc::try_unwrap(oldest) {
                    Ok(mut r) => {
                        r.clear();
                        break r;
                    }
                    Err(still_held) => {
                        oldest = still_held;
                        // Woken by any worker letting go of any round; if every worker
                        // has gone (only by panicking), start afresh.
                        if self.done.recv().is_err() {
                            break ReplayRound::default();
                        }
                    }
                }
            };
        }
        let round = Arc::new(std::mem::replace(&mut self.round, next));
        for tx in &self.senders {
            // A worker only goes away by panicking, which `replay_wal` reports on join.
            let _ = tx.send(Arc::clone(&round));
        }
        self.in_flight.push_back(round);
    }

    fn sample(&mut self, r: u64, t: i64, v: SampleValue) {
        if t < self.min_valid {
            return;
        }
        let Some(id) = self.refs.get(r) else {
            self.stats.unknown_refs += 1;
            return;
        };
        self.round.push(id, t, v);
        if self.round.len >= self.round_limit() {
            self.flush();
        }
    }

    /// Samples per round: [`REPLAY_SAMPLES_PER_SERIES`] for each series known so far.
    fn round_limit(&self) -> usize {
        (self.stats.series * REPLAY_SAMPLES_PER_SERIES).clamp(REPLAY_ROUND_MIN, REPLAY_ROUND_MAX)
    }

    /// Replays one encoded record. Float samples, nearly all of a log, are read straight
    /// from the bytes into the round; other records are decoded whole.
    fn raw(&mut self, rec: &[u8]) -> Result<(), crate::encoding::DecodeError> {
        if record::for_each_sample(rec, |s| self.sample(s.r, s.t, SampleValue::Float(s.v)))? {
            return Ok(());
        }
        record::decode(rec).map(|r| self.record(r))
    }

    fn record(&mut self, r: Record) {
        match r {
            Record::Series(series) => {
                for s in series {
                    let series = self.head.create_with_ref(s.r, &s.labels);
                    series.logged.store(true, Ordering::Release);
                    self.refs.insert(s.r, series.id);
                    self.stats.series += 1;
                }
            }
            Record::Samples(samples) => {
                for s in samples {
                    self.sample(s.r, s.t, SampleValue::Float(s.v));
                }
            }
            Record::Histograms(hs) => {
                for h in hs {
                    self.sample(h.r, h.t, SampleValue::Histogram(Arc::new(h.h)));
                }
            }
            Record::FloatHistograms(hs) => {
                for h in hs {
                    self.sample(h.r, h.t, SampleValue::FloatHistogram(Arc::new(h.h)));
                }
            }
            Record::Metadata(ms) => {
                for m in ms {
                    if let Some(s) = self.refs.get(m.r).and_then(|id| self.head.series_by_id(id)) {
                        s.data.lock().metadata = Some(Metadata {
                            metric_type: m.metric_type,
                            help: m.help,
                            unit: m.unit,
                        });
                    }
                }
            }
            Record::Exemplars(es) => {
                let mut ring = self.head.exemplars.lock();
                for e in es {
                    if let Some(s) = self.refs.get(e.r).and_then(|id| self.head.series_by_id(id))
                        && ring.cap > 0
                    {
                        if ring.items.len() == ring.cap {
                            ring.items.pop_front();
                        }
                        ring.items.push_back((
                            s.labels.clone(),
                            Exemplar {
                                labels: e.labels,
                                value: e.v,
                                timestamp: Some(e.t),
                            },
                        ));
                    }
                }
            }
            // Deletions arrive with tombstone support; out-of-order markers and other
            // record types carry nothing the head keeps.
            Record::Tombstones(stones) => {
                let mut t = self.head.tombstones.write();
                for s in stones {
                    if let Some(id) = self.refs.get(s.r) {
                        t.add(u64::from(id), s.mint, s.maxt);
                    }
                }
            }
            Record::Other(_) => {}
        }
    }
}

/// WAL series references seen during a replay. References are dense small integers
/// (Prometheus and promlite both count up from 1), so a vector indexes them; a map takes
/// the rare outliers.
///
/// It maps a reference to the series' id only: the decoding thread routes each sample by
/// id without touching the series itself, which at 100K series was a cache miss per
/// sample (a fifth of a replay).
#[derive(Default)]
struct ReplayRefs {
    dense: Vec<u32>,
    sparse: HashMap<u64, u32>,
}

impl ReplayRefs {
    const DENSE_LIMIT: u64 = 1 << 26;
    /// A dense slot with no series.
    const NONE: u32 = u32::MAX;

    fn insert(&mut self, r: u64, id: u32) {
        if r < Self::DENSE_LIMIT {
            let i = r as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, Self::NONE);
            }
            self.dense[i] = id;
        } else {
            self.sparse.insert(r, id);
        }
    }

    #[inline]
    fn get(&self, r: u64) -> Option<u32> {
        if r < Self::DENSE_LIMIT {
            self.dense
                .get(r as usize)
                .copied()
                .filter(|&id| id != Self::NONE)
        } else {
            self.sparse.get(&r).copied()
        }
    }
}

/// What a WAL replay found.
#[derive(Debug, Default, Clone, Copy)]
struct ReplayStats {
    segments: WalReplayStatus,
    series: usize,
    samples: usize,
    unknown_refs: usize,
    repaired: bool,
}

/// Rejects label sets Prometheus's head rejects.
fn validate_labels(labels: &Labels) -> Result<(), StorageError> {
    if labels.is_empty() {
        return Err(StorageError::InvalidLabels("empty label set".into()));
    }
    Ok(())
}

impl Appendable for Head {
    fn appender(&self) -> Box<dyn Appender + '_> {
        let bufs = self.spare.lock().pop().unwrap_or_default();
        Box::new(HeadAppender {
            head: self,
            samples: bufs.samples,
            pending: bufs.pending,
            exemplars: Vec::new(),
            metadata: Vec::new(),
            next: SeriesRef::NONE,
        })
    }
}

impl Drop for HeadAppender<'_> {
    /// Hands the emptied buffers back to the head for the next transaction.
    fn drop(&mut self) {
        if self.samples.capacity() > MAX_SPARE_SAMPLES {
            return;
        }
        let mut bufs = AppendBuffers {
            samples: std::mem::take(&mut self.samples),
            pending: std::mem::take(&mut self.pending),
        };
        bufs.samples.clear();
        bufs.pending.clear();
        let mut spare = self.head.spare.lock();
        if spare.len() < MAX_SPARE_BUFFERS {
            spare.push(bufs);
        }
    }
}

struct HeadAppender<'a> {
    head: &'a Head,
    samples: Vec<(Arc<MemSeries>, i64, SampleValue)>,
    /// Index in `samples` of each series' newest pending sample.
    pending: HashMap<u32, usize>,
    exemplars: Vec<(Arc<MemSeries>, (Labels, Exemplar))>,
    metadata: Vec<(Arc<MemSeries>, Metadata)>,
    /// The reference given to [`Appender::prefetch`], for the next append to load.
    next: SeriesRef,
}

impl HeadAppender<'_> {
    /// The WAL records of this transaction: first the series the WAL has not seen, then
    /// samples, histograms, exemplars and metadata. Must run under the WAL lock, which
    /// makes "not yet logged" exact. Also returns the series it marked as logged, to be
    /// unmarked if the records do not reach the log.
    fn encode(&self) -> (Vec<Vec<u8>>, Vec<Arc<MemSeries>>) {
        let wal_ref = |s: &MemSeries| u64::from(s.id) + 1;
        let mut new_series = Vec::new();
        let mut marked = Vec::new();
        let mut mark = |s: &Arc<MemSeries>| {
            // A plain load first: nearly every series is logged already, and a swap per
            // sample would be a locked write to a line other cores read.
            if !s.logged.load(Ordering::Acquire) && !s.logged.swap(true, Ordering::AcqRel) {
                new_series.push(RefSeries {
                    r: wal_ref(s),
                    labels: s.labels.clone(),
                });
                marked.push(Arc::clone(s));
            }
        };
        let mut floats = Vec::new();
        let mut hists = Vec::new();
        let mut custom_hists = Vec::new();
        let mut fhists = Vec::new();
        let mut custom_fhists = Vec::new();
        for (s, t, v) in &self.samples {
            mark(s);
            let (r, t) = (wal_ref(s), *t);
            match v {
                SampleValue::Float(v) => floats.push(RefSample { r, t, v: *v }),
                SampleValue::Histogram(h) if h.uses_custom_buckets() => {
                    custom_hists.push(RefHistogram {
                        r,
                        t,
                        h: (**h).clone(),
                    });
                }
                SampleValue::Histogram(h) => hists.push(RefHistogram {
                    r,
                    t,
                    h: (**h).clone(),
                }),
                SampleValue::FloatHistogram(h) if h.uses_custom_buckets() => {
                    custom_fhists.push(RefHistogram {
                        r,
                        t,
                        h: (**h).clone(),
                    });
                }
                SampleValue::FloatHistogram(h) => fhists.push(RefHistogram {
                    r,
                    t,
                    h: (**h).clone(),
                }),
            }
        }
        let mut exemplars = Vec::new();
        for (s, (_, e)) in &self.exemplars {
            mark(s);
            exemplars.push(RefExemplar {
                r: wal_ref(s),
                t: e.timestamp.unwrap_or(0),
                v: e.value,
                labels: e.labels.clone(),
            });
        }
        let mut metadata = Vec::new();
        for (s, m) in &self.metadata {
            mark(s);
            metadata.push(RefMetadata {
                r: wal_ref(s),
                metric_type: m.metric_type,
                unit: m.unit.clone(),
                help: m.help.clone(),
            });
        }
        let mut out = Vec::new();
        let mut push = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = Vec::new();
            f(&mut b);
            out.push(b);
        };
        if !new_series.is_empty() {
            push(&|b| record::encode_series(&new_series, b));
        }
        if !floats.is_empty() {
            push(&|b| record::encode_samples(&floats, b));
        }
        if !hists.is_empty() {
            push(&|b| record::encode_histograms(&hists, false, b));
        }
        if !custom_hists.is_empty() {
            push(&|b| record::encode_histograms(&custom_hists, true, b));
        }
        if !fhists.is_empty() {
            push(&|b| record::encode_float_histograms(&fhists, false, b));
        }
        if !custom_fhists.is_empty() {
            push(&|b| record::encode_float_histograms(&custom_fhists, true, b));
        }
        if !exemplars.is_empty() {
            push(&|b| record::encode_exemplars(&exemplars, b));
        }
        if !metadata.is_empty() {
            push(&|b| record::encode_metadata(&metadata, b));
        }
        (out, marked)
    }

    fn add(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        value: SampleValue,
    ) -> Result<SeriesRef, StorageError> {
        if t < self.head.min_valid_time.load(Ordering::Acquire) {
            return Err(StorageError::OutOfBounds);
        }
        let s = self
            .head
            .get_or_create(r, labels, std::mem::take(&mut self.next))?;
        let sref = SeriesRef(u64::from(s.id) + 1);
        let last = if let Some(&i) = self.pending.get(&s.id) {
            Some((self.samples[i].1, self.samples[i].2.clone()))
        } else {
            let d = s.data.lock();
            // The commit appends to the head chunk: start loading it now, so that it
            // arrives while the rest of the transaction is parsed.
            d.prefetch_head_chunk();
            d.last.clone()
        };
        if let Some((lt, lv)) = last {
            if t < lt {
                return self.out_of_order(s, sref, t, value);
            }
            if t == lt {
                return if lv.same_as(&value) {
                    Ok(sref)
                } else {
                    Err(StorageError::DuplicateSampleForTimestamp)
                };
            }
        }
        self.pending.insert(s.id, self.samples.len());
        self.samples.push((s, t, value));
        Ok(sref)
    }
}

impl HeadAppender<'_> {
    /// A sample older than its series' newest: accepted into the out-of-order store when
    /// the window allows (floats only, as in Prometheus 2.x), else rejected with
    /// Prometheus's reason — "too old" when a window is set, "out of order" when not.
    fn out_of_order(
        &mut self,
        s: Arc<MemSeries>,
        sref: SeriesRef,
        t: i64,
        value: SampleValue,
    ) -> Result<SeriesRef, StorageError> {
        let window = self.head.ooo_window;
        if window == 0 || !matches!(value, SampleValue::Float(_)) {
            return Err(StorageError::OutOfOrderSample);
        }
        let head_max = self.head.maxt.load(Ordering::Acquire);
        if t < head_max.saturating_sub(window) {
            return Err(StorageError::TooOldSample);
        }
        // Not recorded as the series' newest pending sample: it is older than that.
        self.samples.push((s, t, value));
        Ok(sref)
    }
}

impl Appender for HeadAppender<'_> {
    fn prefetch(&mut self, r: SeriesRef) {
        self.next = r;
    }

    fn append(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        self.add(r, labels, t, SampleValue::Float(v))
    }

    fn append_histogram(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        h: HistogramRef<'_>,
    ) -> Result<SeriesRef, StorageError> {
        let value = match h {
            HistogramRef::Int(h) => SampleValue::Histogram(Arc::new(h.clone())),
            HistogramRef::Float(h) => SampleValue::FloatHistogram(Arc::new(h.clone())),
        };
        self.add(r, labels, t, value)
    }

    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef, StorageError> {
        let s = self.head.get_or_create(r, labels, SeriesRef::NONE)?;
        let sref = SeriesRef(u64::from(s.id) + 1);
        self.exemplars.push((s, (labels.clone(), e.clone())));
        Ok(sref)
    }

    fn update_metadata(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        m: &Metadata,
    ) -> Result<SeriesRef, StorageError> {
        let s = self.head.get_or_create(r, labels, SeriesRef::NONE)?;
        let sref = SeriesRef(u64::from(s.id) + 1);
        self.metadata.push((s, m.clone()));
        Ok(sref)
    }

    /// Logs the transaction to the WAL (when there is one), then applies it. A sample
    /// that another transaction made out of order since it was validated is dropped, as
    /// Prometheus's head drops it at commit.
    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let mut this = *self;
        let head = this.head;
        // Holding the WAL lock while applying keeps memory in the order of the log, so a
        // replay rebuilds exactly what queries saw.
        let _wal_guard = match &head.wal {
            Some(wal) => {
                let mut wal = wal.lock();
                let (records, marked) = this.encode();
                let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
                if let Err(e) = wal.log(&refs) {
                    // The series records did not reach the log either: the next commit
                    // that uses these series must write them, or a replay would find
                    // samples of unknown series and drop them.
                    for s in marked {
                        s.logged.store(false, Ordering::Release);
                    }
                    return Err(StorageError::Other(Box::new(e)));
                }
                Some(wal)
            }
            None => None,
        };
        // The head's time range grows before the samples land, so that a query, which
        // leaves the head out when its range misses the query's, never misses a sample
        // it could see (a sample refused below only widens the range a little).
        let (mint, maxt) = this
            .samples
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), (_, t, _)| {
                (lo.min(*t), hi.max(*t))
            });
        if mint <= maxt {
            head.mint.fetch_min(mint, Ordering::AcqRel);
            head.maxt.fetch_max(maxt, Ordering::AcqRel);
        }
        for (s, t, v) in this.samples.drain(..) {
            let mut d = s.data.lock();
            if d.last.as_ref().is_none_or(|l| l.0 < t) {
                d.append(t, v, head.rules);
            } else if let (SampleValue::Float(f), true) = (&v, head.ooo_window > 0) {
                d.insert_ooo(t, *f);
            }
        }
        for (s, m) in this.metadata.drain(..) {
            s.data.lock().metadata = Some(m);
        }
        if !this.exemplars.is_empty() {
            let mut ring = head.exemplars.lock();
            for (_, e) in this.exemplars.drain(..) {
                if ring.cap == 0 {
                    break;
                }
                // Scrapes re-expose the same exemplar until a new one is observed.
                if ring.items.iter().rev().take(64).any(|x| *x == e) {
                    continue;
                }
                if ring.items.len() == ring.cap {
                    ring.items.pop_front();
                }
                ring.items.push_back(e);
            }
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}

impl Queryable for Head {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(HeadQuerier {
            head: self,
            mint,
            maxt,
        }))
    }
}

/// A querier over a head held by reference or by `Arc`.
pub(crate) struct HeadQuerier<H: std::ops::Deref<Target = Head>> {
    pub(crate) head: H,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

impl<H: std::ops::Deref<Target = Head>> HeadQuerier<H> {
    /// Series matching `matchers` with samples in range (by their time bounds).
    fn matching(&self, matchers: &[Matcher]) -> Vec<Arc<MemSeries>> {
        let mut v = self.head.series_for(matchers);
        v.retain(|s| {
            let d = s.data.lock();
            matches!((d.mint(), d.maxt()), (Some(a), Some(b)) if a <= self.maxt && b >= self.mint)
        });
        v
    }
}

impl<H: std::ops::Deref<Target = Head>> Querier for HeadQuerier<H> {
    fn select<'q>(
        &'q self,
        sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'q> + 'q> {
        let mut series = self.matching(matchers);
        if sorted {
            series.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        }
        let tombstones = self.head.tombstones.read();
        let out: Vec<HeadSeries> = series
            .iter()
            .map(|s| {
                s.data.lock().snapshot(
                    &s.labels,
                    self.mint,
                    self.maxt,
                    tombstones.get(u64::from(s.id)),
                )
            })
            .collect();
        Box::new(ListSeriesSet::new(out))
    }

    fn label_values(
        &self,
        name: &str,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let mut out: Vec<String> = if matchers.is_empty() {
            self.head
                .postings
                .read()
                .label_values(name)
                .map(|(v, _)| v.to_owned())
                .collect()
        } else {
            self.matching(matchers)
                .iter()
                .filter_map(|s| s.labels.get(name).map(str::to_owned))
                .collect()
        };
        Ok(finish(&mut out, hints))
    }

    fn label_names(
        &self,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let mut out: Vec<String> = if matchers.is_empty() {
            self.head
                .postings
                .read()
                .label_names()
                .map(str::to_owned)
                .collect()
        } else {
            self.matching(matchers)
                .iter()
                .flat_map(|s| {
                    s.labels
                        .iter()
                        .map(|l| l.name.to_owned())
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        Ok(finish(&mut out, hints))
    }
}

fn finish(out: &mut Vec<String>, hints: Option<&LabelHints>) -> Vec<String> {
    out.sort_unstable();
    out.dedup();
    if let Some(h) = hints.filter(|h| h.limit > 0) {
        out.truncate(h.limit);
    }
    std::mem::take(out)
}

/// The head's size and cardinalities; see [`Head::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadStats {
    /// Series in the head.
    pub num_series: usize,
    /// Distinct label name/value pairs.
    pub num_label_pairs: usize,
    /// Chunks in the head, open and closed.
    pub chunk_count: usize,
    /// The oldest sample's timestamp; `i64::MAX` when the head is empty.
    pub min_time: i64,
    /// The newest sample's timestamp; `i64::MIN` when the head is empty.
    pub max_time: i64,
    /// The largest cardinalities.
    pub lists: CardinalityLists,
}

/// Name/count lists, largest first, ties by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardinalityLists {
    /// Series per metric name.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Distinct values per label name.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Bytes of label values per label name, each value counted once per series.
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    /// Series per `name=value` pair.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

#[cfg(test)]
mod tests;
