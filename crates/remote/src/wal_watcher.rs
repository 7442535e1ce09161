//! Feeding the remote-write queues by tailing the TSDB's write-ahead log, as Prometheus's
//! WAL watcher does: series records teach it the labels of each reference, sample,
//! histogram, exemplar and metadata records are offered to every queue, and a full queue
//! makes the watcher wait instead of dropping anything.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use promlite_model::Labels;
use promlite_tsdb::wal::Record;
use promlite_tsdb::wal::{checkpoint, log, record};

use crate::WriteStorage;
use crate::queue::{Payload, now_ms};

/// How a [`WalWatcher`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalWatcherOptions {
    /// How often the live segment is re-read for new records.
    pub poll_interval: Duration,
    /// Samples older than this (milliseconds) are not sent. `None` means "when the
    /// watcher starts", Prometheus's choice: on a restart the WAL's older samples, which
    /// were sent before, are not sent again.
    pub start_time: Option<i64>,
    /// Where to keep the position of the oldest WAL record some queue has not had
    /// acknowledged. When the file exists at start, reading resumes there (every record
    /// from it on is sent again, whatever its age), so a restart — even after a crash —
    /// loses nothing that was logged; what was in flight when the marker was last
    /// written may be sent twice. `None` keeps no position (Prometheus's behaviour).
    pub position_file: Option<PathBuf>,
}

impl Default for WalWatcherOptions {
    fn default() -> Self {
        WalWatcherOptions {
            poll_interval: Duration::from_millis(250),
            start_time: None,
            position_file: None,
        }
    }
}

/// A snapshot of a watcher's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalWatcherStats {
    /// Records decoded.
    pub records: u64,
    /// Samples, histograms and exemplars offered to the queues.
    pub forwarded: u64,
    /// The segment being read.
    pub segment: u64,
    /// Records that could not be decoded, and references with no known series.
    pub errors: u64,
}

#[derive(Default)]
struct Counters {
    records: AtomicU64,
    forwarded: AtomicU64,
    segment: AtomicU64,
    errors: AtomicU64,
}

/// Tails a WAL directory (a TSDB's `wal/`) on its own thread and offers what is
/// appended to every queue of a [`WriteStorage`]. Use it instead of
/// [`RemoteWriteAppendable`](crate::RemoteWriteAppendable), not with it, or samples are
/// sent twice.
///
/// ```no_run
/// # fn run(db_dir: &std::path::Path, remote: std::sync::Arc<promlite_remote::WriteStorage>) {
/// use promlite_remote::{WalWatcher, WalWatcherOptions};
/// let watcher = WalWatcher::start(&db_dir.join("wal"), remote, WalWatcherOptions::default());
/// // … on shutdown, before stopping the queues:
/// watcher.stop();
/// # }
/// ```
pub struct WalWatcher {
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for WalWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalWatcher")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl WalWatcher {
    /// Starts tailing `wal_dir`.
    pub fn start(wal_dir: &Path, remote: Arc<WriteStorage>, opts: WalWatcherOptions) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let resume = opts.position_file.as_deref().and_then(read_position);
        let mut state = Tail {
            dir: wal_dir.to_owned(),
            remote,
            // Resuming from a marker sends everything after it, however old.
            start_time: if resume.is_some() {
                i64::MIN
            } else {
                opts.start_time.unwrap_or_else(now_ms)
            },
            series: HashMap::new(),
            stop: stop.clone(),
            counters: counters.clone(),
            resume,
            position_file: opts.position_file,
            written: None,
        };
        let s2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("remote-wal-watcher".into())
            .spawn(move || state.run(opts.poll_interval, &s2))
            .ok();
        WalWatcher {
            stop,
            counters,
            thread,
        }
    }

    /// The watcher's progress.
    pub fn stats(&self) -> WalWatcherStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WalWatcherStats {
            records: g(&self.counters.records),
            forwarded: g(&self.counters.forwarded),
            segment: g(&self.counters.segment),
            errors: g(&self.counters.errors),
        }
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WalWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

struct Tail {
    dir: PathBuf,
    remote: Arc<WriteStorage>,
    start_time: i64,
    series: HashMap<u64, Labels>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    /// Records before this position are read for their series only.
    resume: Option<u64>,
    position_file: Option<PathBuf>,
    /// The position last written to `position_file`.
    written: Option<u64>,
}

/// A WAL position as one number: segment in the high half, record index in the low.
fn position(segment: u32, record: usize) -> u64 {
    (u64::from(segment) << 32) | (record as u64 & 0xffff_ffff)
}

fn read_position(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut it = text.split_whitespace();
    let seg: u32 = it.next()?.parse().ok()?;
    let rec: usize = it.next()?.parse().ok()?;
    Some(position(seg, rec))
}

impl Tail {
    /// Writes the oldest unacknowledged position (the read position when everything
    /// read was acknowledged) to the position file, atomically, when it changed.
    fn persist(&mut self, read: u64) {
        let Some(path) = &self.position_file else {
            return;
        };
        let low = self.remote.low_watermark().min(read);
        if self.written == Some(low) {
            return;
        }
        let text = format!("{} {}\n", low >> 32, low & 0xffff_ffff);
        let tmp = path.with_extension("tmp");
        let ok = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
        match ok {
            Ok(()) => self.written = Some(low),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "remote write: saving the WAL position failed");
            }
        }
    }

    fn run(&mut self, poll: Duration, stop: &AtomicBool) {
        // (segment, records of it already handled)
        let mut pos: Option<(u32, usize)> = None;
        while !stop.load(Ordering::SeqCst) {
            let segs = match log::list_segments(&self.dir) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(dir = %self.dir.display(), error = %e, "remote write: listing WAL segments failed");
                    Vec::new()
                }
            };
            let Some(&first) = segs.first() else {
                std::thread::sleep(poll);
                continue;
            };
            // At the start, or when truncation removed the segment being read, the
            // newest checkpoint holds the series of everything before the first segment.
            let (seg, done) = match pos {
                Some((s, d)) if s >= first => (s, d),
                _ => {
                    let after = self.read_checkpoint();
                    let s = segs
                        .iter()
                        .copied()
                        .find(|&s| after.is_none_or(|c| s > c))
                        .unwrap_or(first);
                    (s, 0)
                }
            };
            self.counters
                .segment
                .store(u64::from(seg), Ordering::Relaxed);
            let is_last = segs.last() == Some(&seg);
            let data = std::fs::read(log::segment_path(&self.dir, seg)).unwrap_or_default();
            let mut i = 0usize;
            let res = log::read_segment(seg, &data, |rec| {
                if i >= done {
                    let here = position(seg, i);
                    let series_only = self.resume.is_some_and(|r| here < r);
                    self.handle(rec, here, series_only);
                }
                i += 1;
            });
            let done = done.max(i);
            if is_last {
                // The live segment: a cut-off record at its end is still being written.
                pos = Some((seg, done));
                self.persist(position(seg, done));
                std::thread::sleep(poll);
                continue;
            }
            if let Err(c) = res {
                tracing::warn!(segment = seg, reason = %c.reason, "remote write: damaged WAL segment, skipping its tail");
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
            }
            // A later segment exists, so this one is complete: move on.
            let next = segs.iter().copied().find(|&s| s > seg).unwrap_or(seg);
            pos = Some((next, 0));
            self.persist(position(next, 0));
        }
        if let Some((seg, done)) = pos {
            self.persist(position(seg, done));
        }
    }

    /// Loads series (and only series) from the newest checkpoint; returns its number.
    fn read_checkpoint(&mut self) -> Option<u32> {
        let (n, path) = checkpoint::latest(&self.dir).ok().flatten()?;
        for s in log::list_segments(&path).unwrap_or_default() {
            let data = std::fs::read(log::segment_path(&path, s)).unwrap_or_default();
            let _ = log::read_segment(s, &data, |rec| {
                if let Ok(Record::Series(series)) = record::decode(rec) {
                    for s in series {
                        self.series.insert(s.r, s.labels);
                    }
                }
            });
        }
        Some(n)
    }

    fn forward(&self, r: u64, t: i64, p: &Payload, pos: u64) {
        if t < self.start_time && !matches!(p, Payload::Exemplar(_)) {
            return;
        }
        let Some(labels) = self.series.get(&r) else {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.remote.offer_wait(labels, t, p, pos, &self.stop);
        self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
    }

    fn handle(&mut self, rec: &[u8], pos: u64, series_only: bool) {
        self.counters.records.fetch_add(1, Ordering::Relaxed);
        let rec = match record::decode(rec) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "remote write: undecodable WAL record");
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        match rec {
            Record::Series(series) => {
                for s in series {
                    self.series.insert(s.r, s.labels);
                }
            }
            _ if series_only => {}
            Record::Samples(samples) => {
                for s in samples {
                    self.forward(s.r, s.t, &Payload::Float(s.v), pos);
                }
            }
            Record::Histograms(hs) => {
                for h in hs {
                    self.forward(h.r, h.t, &Payload::Histogram(Arc::new(h.h)), pos);
                }
            }
            Record::FloatHistograms(hs) => {
                for h in hs {
                    self.forward(h.r, h.t, &Payload::FloatHistogram(Arc::new(h.h)), pos);
                }
            }
            Record::Exemplars(es) => {
                for e in es {
                    let x = promlite_model::Exemplar {
                        labels: e.labels,
                        value: e.v,
                        timestamp: Some(e.t),
                    };
                    self.forward(e.r, e.t, &Payload::Exemplar(x), pos);
                }
            }
            Record::Metadata(ms) => {
                for m in ms {
                    if let Some(labels) = self.series.get(&m.r) {
                        let meta = promlite_model::Metadata {
                            metric_type: m.metric_type,
                            help: m.help,
                            unit: m.unit,
                        };
                        self.remote.update_metadata(labels, &meta);
                    }
                }
            }
            Record::Tombstones(_) | Record::Other(_) => {}
        }
    }
}
