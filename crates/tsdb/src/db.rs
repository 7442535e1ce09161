//! [`Db`]: a data directory in Prometheus's layout — blocks, `wal/` and a `lock` file —
//! with the head taking appends, head compaction into 2h blocks, leveled compaction of
//! blocks, and retention by time and size.
//!
//! Queries see the head and every block through one merged querier; where a block and
//! the head briefly hold the same samples (between writing a block and truncating the
//! head), the merge counts each sample once.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use promlite_model::{LabelsBuilder, MatchType, Matcher};
use promlite_storage::{
    Appendable, Appender, Error as StorageError, Querier, Queryable, SampleIterator, ValueType,
    merge_queriers,
};

use crate::block::writer::{BlockWriter, EncodedChunk};
use crate::block::{Block, BlockQuerier, Compaction};
use crate::chunkenc::{Encoding, XorChunk};
use crate::wal::WalOptions;
use crate::{Error, Head, HeadOptions, HeadQuerier, Result};

/// Prometheus's default retention: 15 days.
pub const DEFAULT_RETENTION: i64 = 15 * 24 * 3600 * 1000;

/// Options for a [`Db`].
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Head options; `chunk_range` is also the level-1 block range (2h by default).
    pub head: HeadOptions,
    /// WAL options.
    pub wal: WalOptions,
    /// Delete blocks whose end is this far behind the newest block's end (ms); `None`
    /// keeps them forever.
    pub retention_time: Option<i64>,
    /// Delete the oldest blocks while blocks and WAL together exceed this many bytes.
    pub retention_size: Option<u64>,
    /// The longest block compaction produces (ms). Prometheus: 31 days or a tenth of the
    /// retention, whichever is smaller.
    pub max_block_duration: i64,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            head: HeadOptions::default(),
            wal: WalOptions::default(),
            retention_time: Some(DEFAULT_RETENTION),
            retention_size: None,
            max_block_duration: DEFAULT_RETENTION / 10,
        }
    }
}

/// A TSDB data directory.
///
/// ```
/// use promlite_model::{Labels, Matcher};
/// use promlite_storage::{Appendable, Queryable, SeriesRef};
/// use promlite_tsdb::{Db, DbOptions};
///
/// let dir = std::env::temp_dir().join(format!("promlite-doc-db-{}", std::process::id()));
/// let db = Db::open(&dir, DbOptions::default()).unwrap();
/// let mut app = db.appender();
/// app.append(SeriesRef::NONE, &Labels::from_pairs([("__name__", "up")]), 1_000, 1.0).unwrap();
/// app.commit().unwrap();
/// let q = db.querier(0, 2_000).unwrap();
/// assert_eq!(q.select(true, None, &[Matcher::equal("__name__", "up")]).count(), 1);
/// # drop(q); drop(db); std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct Db {
    dir: PathBuf,
    opts: DbOptions,
    head: Arc<Head>,
    blocks: RwLock<Vec<Arc<Block>>>,
    compact_lock: Mutex<()>,
    _lock: Option<File>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn is_ulid(name: &str) -> bool {
    name.len() == 26 && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Db {
    /// Opens (or creates) the data directory: takes its lock, removes unfinished blocks,
    /// opens the blocks, and replays the WAL into the head.
    pub fn open(dir: &Path, opts: DbOptions) -> Result<Db> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let lock_path = dir.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(Error::io(&lock_path))?;
        lock.try_lock().map_err(|_| Error::Locked(dir.to_owned()))?;
        let mut blocks = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(Error::io(dir))? {
            let entry = entry.map_err(Error::io(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".tmp-for-creation") || name.ends_with(".tmp-for-deletion") {
                let p = entry.path();
                std::fs::remove_dir_all(&p).map_err(Error::io(p))?;
            } else if is_ulid(name) && entry.path().join("meta.json").exists() {
                blocks.push(Arc::new(Block::open(&entry.path())?));
            }
        }
        blocks.sort_by_key(|b| b.meta().min_time);
        let mut head_opts = opts.head.clone();
        if let Some(last) = blocks.iter().map(|b| b.meta().max_time).max() {
            head_opts.min_valid_time = head_opts.min_valid_time.max(last);
        }
        let head = Arc::new(Head::open(&head_opts, &dir.join("wal"), opts.wal.clone())?);
        Ok(Db {
            dir: dir.to_owned(),
            opts,
            head,
            blocks: RwLock::new(blocks),
            compact_lock: Mutex::new(()),
            _lock: Some(lock),
        })
    }

    /// Opens a data directory for reading only — blocks and the WAL's contents — without
    /// taking its lock or changing anything, so tools can inspect the directory of a
    /// running server (as `promtool tsdb dump` does).
    pub fn open_read_only(dir: &Path, opts: DbOptions) -> Result<Db> {
        let mut blocks = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(Error::io(dir))? {
            let entry = entry.map_err(Error::io(dir))?;
            let name = entry.file_name();
            if name.to_str().is_some_and(is_ulid) && entry.path().join("meta.json").exists() {
                blocks.push(Arc::new(Block::open(&entry.path())?));
            }
        }
        blocks.sort_by_key(|b| b.meta().min_time);
        let mut head_opts = opts.head.clone();
        if let Some(last) = blocks.iter().map(|b| b.meta().max_time).max() {
            head_opts.min_valid_time = head_opts.min_valid_time.max(last);
        }
        let head = Arc::new(Head::open_read_only(&head_opts, &dir.join("wal"))?);
        Ok(Db {
            dir: dir.to_owned(),
            opts,
            head,
            blocks: RwLock::new(blocks),
            compact_lock: Mutex::new(()),
            _lock: None,
        })
    }

    /// The head.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The blocks, oldest first.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks.read().clone()
    }

    /// The WAL segments replayed when the database opened.
    pub fn wal_replay(&self) -> crate::WalReplayStatus {
        self.head.wal_replay()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Persists the head into blocks while it spans more than 1.5 block ranges, compacts
    /// blocks into larger ones, and applies retention. Call periodically (Prometheus does
    /// every minute); it does nothing when there is nothing to do.
    pub fn compact(&self) -> Result<()> {
        let _guard = self.compact_lock.lock();
        let range = self.opts.head.chunk_range;
        let mut done_until = i64::MIN;
        while let Some((mint, maxt)) = self.head.time_range() {
            // The head keeps samples it cannot persist yet (native histograms), so its
            // start may not move: never persist the same range twice.
            let start = mint.div_euclid(range).saturating_mul(range).max(done_until);
            if maxt - start <= range / 2 * 3 {
                break;
            }
            self.persist_head_range(start, start + range)?;
            done_until = start + range;
        }
        while self.compact_blocks_once()? {}
        self.apply_retention()?;
        Ok(())
    }

    /// Writes the head's `[mint, maxt)` into a block, then drops that time from the head
    /// and the WAL.
    fn persist_head_range(&self, mint: i64, maxt: i64) -> Result<()> {
        if let Some(dir) = self.head.write_block(&self.dir, mint, maxt)? {
            let block = Arc::new(Block::open(&dir)?);
            tracing::info!(ulid = %block.meta().ulid, mint, maxt, "head block persisted");
            let mut blocks = self.blocks.write();
            blocks.push(block);
            blocks.sort_by_key(|b| b.meta().min_time);
        }
        self.head.set_min_valid_time(maxt);
        self.head.truncate_before(maxt);
        self.head.checkpoint_wal(maxt)
    }

    /// Block ranges of the compaction levels: the head range times 3, 9, 27 … up to the
    /// maximum block duration.
    fn ranges(&self) -> Vec<i64> {
        let mut out = Vec::new();
        let mut r = self.opts.head.chunk_range.saturating_mul(3);
        while r <= self.opts.max_block_duration {
            out.push(r);
            r = r.saturating_mul(3);
        }
        out
    }

    /// Finds one set of blocks to merge and merges it; returns whether it did.
    fn compact_blocks_once(&self) -> Result<bool> {
        let blocks = self.blocks();
        // Overlapping blocks first (vertical compaction).
        for i in 0..blocks.len() {
            let group: Vec<Arc<Block>> = blocks
                .iter()
                .filter(|b| {
                    let (a, m) = (blocks[i].meta(), b.meta());
                    m.min_time < a.max_time && a.min_time < m.max_time
                })
                .cloned()
                .collect();
            if group.len() > 1 {
                self.merge_blocks(&group)?;
                return Ok(true);
            }
        }
        // Then leveled: blocks filling an aligned range of the next level, or an older
        // range that will receive no more blocks.
        let newest = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .max()
            .unwrap_or(i64::MIN);
        for r in self.ranges() {
            let mut groups: std::collections::BTreeMap<i64, Vec<Arc<Block>>> =
                std::collections::BTreeMap::default();
            for b in &blocks {
                let start = b.meta().min_time.div_euclid(r) * r;
                if b.meta().max_time <= start + r {
                    groups.entry(start).or_default().push(b.clone());
                }
            }
            for (start, group) in groups {
                let end = group
                    .iter()
                    .map(|b| b.meta().max_time)
                    .max()
                    .unwrap_or(start);
                if group.len() > 1 && (end == start + r || newest > start + r) {
                    self.merge_blocks(&group)?;
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Merges `group` into one block (samples at equal timestamps once) and deletes the
    /// originals.
    fn merge_blocks(&self, group: &[Arc<Block>]) -> Result<()> {
        let mint = group.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
        let maxt = group.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
        let mut sources: Vec<String> = group
            .iter()
            .flat_map(|b| b.meta().compaction.sources.clone())
            .collect();
        sources.sort();
        sources.dedup();
        let level = group
            .iter()
            .map(|b| b.meta().compaction.level)
            .max()
            .unwrap_or(1)
            + 1;
        let mut w = BlockWriter::new(&self.dir, mint, maxt, Compaction { level, sources })?;
        let queriers: Vec<Box<dyn Querier + '_>> = group
            .iter()
            .map(|b| {
                Box::new(BlockQuerier {
                    block: b.clone(),
                    mint,
                    maxt: maxt - 1,
                }) as Box<dyn Querier>
            })
            .collect();
        let q = merge_queriers(queriers);
        let all = Matcher::new(MatchType::Regexp, "__name__", ".*")
            .map_err(|e| Error::corrupt(&self.dir, 0, e.to_string()))?;
        let mut lb = LabelsBuilder::new();
        for s in q.select(true, None, &[all]) {
            let s = s.map_err(Error::Storage)?;
            let chunks =
                encode_floats(&mut *s.samples()).map_err(|e| Error::corrupt(&self.dir, 0, e))?;
            lb.reset(s.labels());
            w.add_series(lb.build(), &chunks)?;
        }
        drop(q);
        let new = w.finish()?;
        let mut blocks = self.blocks.write();
        if let Some(dir) = new {
            blocks.push(Arc::new(Block::open(&dir)?));
        }
        for b in group {
            blocks.retain(|x| !Arc::ptr_eq(x, b));
            delete_block(b.dir())?;
        }
        blocks.sort_by_key(|b| b.meta().min_time);
        tracing::info!(merged = group.len(), mint, maxt, level, "blocks compacted");
        Ok(())
    }

    /// Deletes `[mint, maxt]` of the series matching `matchers` in the head and in every
    /// block (as tombstones, which queries honour at once and compaction applies).
    /// Returns how many series were affected, counted per block and head.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<usize> {
        let mut n = self.head.delete(mint, maxt, matchers)?;
        for b in self.blocks() {
            n += b.delete(mint, maxt, matchers)?;
        }
        Ok(n)
    }

    /// Rewrites every block that has tombstones without the deleted samples (Prometheus's
    /// `clean_tombstones`).
    pub fn clean_tombstones(&self) -> Result<()> {
        let _guard = self.compact_lock.lock();
        for b in self.blocks() {
            if !b.tombstones().is_empty() {
                self.merge_blocks(std::slice::from_ref(&b))?;
            }
        }
        Ok(())
    }

    /// Writes a snapshot into `dst`: every block, hard-linked (no copy), and with
    /// `with_head` the head as one more block. Returns the snapshot's block directories.
    pub fn snapshot(&self, dst: &Path, with_head: bool) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dst).map_err(Error::io(dst))?;
        let mut out = Vec::new();
        for b in self.blocks() {
            let to = dst.join(&b.meta().ulid);
            link_dir(b.dir(), &to)?;
            out.push(to);
        }
        if with_head && let Some((mint, maxt)) = self.head.time_range() {
            let min_valid = self
                .blocks()
                .iter()
                .map(|b| b.meta().max_time)
                .max()
                .unwrap_or(i64::MIN);
            if let Some(dir) = self.head.write_block(dst, mint.max(min_valid), maxt + 1)? {
                out.push(dir);
            }
        }
        Ok(out)
    }

    /// Deletes blocks beyond the time and size retention.
    fn apply_retention(&self) -> Result<()> {
        let mut blocks = self.blocks.write();
        let newest = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .max()
            .unwrap_or(i64::MIN);
        let mut doomed: Vec<Arc<Block>> = Vec::new();
        if let Some(ret) = self.opts.retention_time {
            doomed.extend(
                blocks
                    .iter()
                    .filter(|b| newest - b.meta().max_time >= ret)
                    .cloned(),
            );
        }
        if let Some(limit) = self.opts.retention_size {
            let mut total = dir_size(&self.dir.join("wal"));
            let sizes: Vec<u64> = blocks.iter().map(|b| dir_size(b.dir())).collect();
            total += sizes.iter().sum::<u64>();
            // Newest first: keep blocks while they fit.
            for (b, size) in blocks.iter().zip(&sizes) {
                if total <= limit {
                    break;
                }
                if !doomed.iter().any(|d| Arc::ptr_eq(d, b)) {
                    doomed.push(b.clone());
                }
                total -= size;
            }
        }
        for b in &doomed {
            blocks.retain(|x| !Arc::ptr_eq(x, b));
            delete_block(b.dir())?;
            tracing::info!(ulid = %b.meta().ulid, "block deleted by retention");
        }
        Ok(())
    }
}

/// Renames a block out of the way, then removes it, so a crash never leaves half a block
/// that looks whole.
fn delete_block(dir: &Path) -> Result<()> {
    let mut tmp = dir.as_os_str().to_owned();
    tmp.push(".tmp-for-deletion");
    std::fs::rename(dir, &tmp).map_err(Error::io(dir))?;
    std::fs::remove_dir_all(&tmp).map_err(Error::io(dir))
}

/// Recreates `from` at `to` with hard links to its files.
fn link_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(Error::io(to))?;
    for e in std::fs::read_dir(from).map_err(Error::io(from))? {
        let e = e.map_err(Error::io(from))?;
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            link_dir(&e.path(), &dst)?;
        } else {
            std::fs::hard_link(e.path(), &dst).map_err(Error::io(&dst))?;
        }
    }
    Ok(())
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(std::result::Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Re-encodes a series' samples: floats into XOR chunks of up to
/// `BLOCK_CHUNK_SAMPLES`, native histograms into histogram chunks; chunks in time order.
fn encode_floats(it: &mut dyn SampleIterator) -> std::result::Result<Vec<EncodedChunk>, String> {
    let mut out = Vec::new();
    let mut cur = XorChunk::new();
    let mut first = 0;
    let mut hists: Vec<(i64, promlite_storage::SampleValue)> = Vec::new();
    let flush = |cur: &mut XorChunk, first: i64, out: &mut Vec<EncodedChunk>| {
        if cur.num_samples() > 0 {
            out.push(EncodedChunk {
                mint: first,
                maxt: cur.last_t(),
                encoding: Encoding::Xor,
                samples: cur.num_samples() as u64,
                data: cur.bytes().to_vec(),
            });
            *cur = XorChunk::new();
        }
    };
    loop {
        match it.next() {
            ValueType::None => break,
            ValueType::Float => {
                let (t, v) = it.at();
                if cur.num_samples() == 0 {
                    first = t;
                }
                cur.append(t, v);
                if cur.num_samples() >= crate::block::writer::BLOCK_CHUNK_SAMPLES {
                    flush(&mut cur, first, &mut out);
                }
            }
            ValueType::Histogram => {
                let (t, h) = it.at_histogram();
                hists.push((
                    t,
                    promlite_storage::SampleValue::Histogram(Arc::new(h.clone())),
                ));
            }
            ValueType::FloatHistogram => {
                let (t, h) = it.at_float_histogram();
                hists.push((
                    t,
                    promlite_storage::SampleValue::FloatHistogram(Arc::new(h.into_owned())),
                ));
            }
        }
    }
    if let Some(e) = it.err() {
        return Err(e.to_string());
    }
    flush(&mut cur, first, &mut out);
    let refs: Vec<&(i64, promlite_storage::SampleValue)> = hists.iter().collect();
    out.extend(crate::block::writer::encode_histogram_samples(&refs));
    out.sort_by_key(|c| c.mint);
    Ok(out)
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender + '_> {
        self.head.appender()
    }
}

impl Queryable for Db {
    fn querier(
        &self,
        mint: i64,
        maxt: i64,
    ) -> std::result::Result<Box<dyn Querier + '_>, StorageError> {
        let mut qs: Vec<Box<dyn Querier + '_>> = Vec::with_capacity(2);
        // The head only when it holds samples in the range: a query over blocks alone
        // then reads one block without merging (the head's range grows before its
        // samples are visible, see `Appender::commit`).
        if self
            .head
            .time_range()
            .is_some_and(|(lo, hi)| lo <= maxt && hi >= mint)
        {
            qs.push(Box::new(HeadQuerier {
                head: self.head.clone(),
                mint,
                maxt,
            }));
        }
        for b in self.blocks.read().iter() {
            if b.meta().max_time > mint && b.meta().min_time <= maxt {
                qs.push(Box::new(BlockQuerier {
                    block: b.clone(),
                    mint,
                    maxt,
                }));
            }
        }
        Ok(merge_queriers(qs))
    }
}
