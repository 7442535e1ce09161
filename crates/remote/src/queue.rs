//! The remote-write client: a [`QueueManager`] per endpoint that relabels samples, buffers
//! them in shards (one series always in the same shard, so its samples stay in order),
//! batches them into `WriteRequest`s and sends them with retries, scaling the number of
//! shards with the backlog.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use promlite_config::RemoteWriteConfig;
use promlite_model::{Exemplar, FloatHistogram, Histogram, Labels, LabelsBuilder, Metadata};
use promlite_relabel::RelabelConfig;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::codec::{
    exemplar_to_proto, float_histogram_to_proto, histogram_to_proto, labels_to_proto,
    metadata_to_proto,
};
use crate::endpoint::{Endpoint, error_for_status};
use crate::write_handler::{PROTO_V1, PROTO_V2, REMOTE_WRITE_VERSION_HEADER, encode_write_request};
use crate::{RemoteError, prompb};

/// Relabeling results cached per input label set; the cache is cleared beyond this size.
const RELABEL_CACHE_LIMIT: usize = 100_000;

/// How the queue behaves, read from a `remote_write` entry's `queue_config` (Prometheus's
/// defaults) plus the few knobs Prometheus keeps internal.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueOptions {
    /// Entries buffered per shard; the queue holds at most `capacity * max_shards`
    /// entries and drops (and counts) what does not fit.
    pub capacity: usize,
    /// Shards to start with and never go below.
    pub min_shards: usize,
    /// Most shards.
    pub max_shards: usize,
    /// Entries per request.
    pub max_samples_per_send: usize,
    /// Longest a partial batch waits.
    pub batch_send_deadline: Duration,
    /// First retry delay.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Retry HTTP 429 (otherwise it is a permanent failure).
    pub retry_on_http_429: bool,
    /// Drop samples older than this when (re)sending; zero keeps all.
    pub sample_age_limit: Duration,
    /// Timeout of one request.
    pub remote_timeout: Duration,
    /// How often the shard count is reconsidered (Prometheus: 10s).
    pub reshard_interval: Duration,
    /// How long [`QueueManager::stop`] keeps trying to deliver what is buffered
    /// (Prometheus: 1m).
    pub flush_deadline: Duration,
    /// Send metadata.
    pub send_metadata: bool,
    /// How often metadata is sent.
    pub metadata_interval: Duration,
    /// Metadata entries per request.
    pub metadata_per_send: usize,
}

impl QueueOptions {
    /// The options a `remote_write` entry asks for.
    pub fn from_config(cfg: &RemoteWriteConfig) -> QueueOptions {
        let q = &cfg.queue_config;
        QueueOptions {
            capacity: q.capacity as usize,
            min_shards: (q.min_shards as usize).max(1),
            max_shards: (q.max_shards as usize).max(1),
            max_samples_per_send: (q.max_samples_per_send as usize).max(1),
            batch_send_deadline: q.batch_send_deadline.as_std(),
            min_backoff: q.min_backoff.as_std(),
            max_backoff: q.max_backoff.as_std(),
            retry_on_http_429: q.retry_on_http_429,
            sample_age_limit: q.sample_age_limit.as_std(),
            remote_timeout: cfg.remote_timeout.as_std(),
            reshard_interval: Duration::from_secs(10),
            flush_deadline: Duration::from_mins(1),
            send_metadata: cfg.metadata_config.send,
            metadata_interval: cfg.metadata_config.send_interval.as_std(),
            metadata_per_send: (cfg.metadata_config.max_samples_per_send as usize).max(1),
        }
    }
}

/// A snapshot of a queue's counters (Prometheus's `prometheus_remote_storage_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Float samples acknowledged by the endpoint.
    pub samples_sent: u64,
    /// Native-histogram samples acknowledged.
    pub histograms_sent: u64,
    /// Exemplars acknowledged.
    pub exemplars_sent: u64,
    /// Entries the endpoint refused for good (4xx other than 429).
    pub samples_failed: u64,
    /// Entry sends that were retried (counted once per retry).
    pub samples_retried: u64,
    /// Entries dropped: queue full, too old, or still unsent at the flush deadline.
    pub samples_dropped: u64,
    /// Entries dropped by `write_relabel_configs` (not an error).
    pub samples_relabel_dropped: u64,
    /// Metadata entries acknowledged.
    pub metadata_sent: u64,
    /// Metadata entries refused or given up on.
    pub metadata_failed: u64,
    /// Compressed request bytes acknowledged.
    pub bytes_sent: u64,
    /// Entries waiting in the shards.
    pub pending: u64,
    /// Current number of shards.
    pub shards: u64,
}

#[derive(Default)]
struct Counters {
    samples_sent: AtomicU64,
    histograms_sent: AtomicU64,
    exemplars_sent: AtomicU64,
    samples_failed: AtomicU64,
    samples_retried: AtomicU64,
    samples_dropped: AtomicU64,
    samples_relabel_dropped: AtomicU64,
    metadata_sent: AtomicU64,
    metadata_failed: AtomicU64,
    bytes_sent: AtomicU64,
}

fn add(c: &AtomicU64, n: usize) {
    c.fetch_add(n as u64, Ordering::Relaxed);
}

/// What a queued entry carries.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    Float(f64),
    Histogram(Arc<Histogram>),
    FloatHistogram(Arc<FloatHistogram>),
    Exemplar(Exemplar),
}

/// One queued sample, histogram or exemplar of a series.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) labels: Labels,
    pub(crate) t: i64,
    pub(crate) payload: Payload,
    /// Where the entry came from in the WAL ([`NO_POSITION`] when not from a WAL).
    pub(crate) pos: u64,
}

/// The WAL position of entries that did not come from a WAL.
pub(crate) const NO_POSITION: u64 = u64::MAX;

struct Shard {
    buf: Mutex<VecDeque<Entry>>,
    notify: Notify,
    /// Resharding: hand back everything unsent and exit.
    stop: AtomicBool,
    /// Shutdown: send what is buffered, then exit.
    closing: AtomicBool,
    /// Wakes a shard sleeping between retries when `stop` is set.
    stopped: Notify,
    /// The lowest WAL position in the batch being sent ([`NO_POSITION`] when none).
    inflight: AtomicU64,
}

impl Shard {
    fn signal_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.notify.notify_one();
        self.stopped.notify_one();
    }

    fn new() -> Arc<Shard> {
        Arc::new(Shard {
            buf: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            stop: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            stopped: Notify::new(),
            inflight: AtomicU64::new(NO_POSITION),
        })
    }
}

struct Inner {
    name: String,
    endpoint: Endpoint,
    opts: QueueOptions,
    relabel: Vec<RelabelConfig>,
    external_labels: Labels,
    send_exemplars: bool,
    send_histograms: bool,
    /// Send remote write 2.0 requests (metadata inline, per series).
    v2: bool,
    shards: RwLock<Vec<Arc<Shard>>>,
    tasks: Mutex<Vec<JoinHandle<Vec<Entry>>>>,
    background: Mutex<Vec<JoinHandle<()>>>,
    pending: AtomicUsize,
    counters: Counters,
    relabel_cache: Mutex<HashMap<Labels, Option<Labels>>>,
    metadata: Mutex<HashMap<String, Metadata>>,
    last_success: Mutex<Option<Instant>>,
    closed: AtomicBool,
    runtime: Mutex<Option<tokio::runtime::Handle>>,
    /// Held for the whole of a reshard, so `stop` never interrupts one half-way (which
    /// would leave entries in stopped shards).
    resharding: tokio::sync::Mutex<()>,
}

/// One remote-write endpoint's queue.
///
/// Build it from a `remote_write` entry with [`QueueManager::new`], call
/// [`start`](QueueManager::start) inside a tokio runtime, feed it with
/// [`append`](QueueManager::append) (or through [`crate::RemoteWriteAppendable`], which
/// tees committed appends into every queue), and [`stop`](QueueManager::stop) it to
/// flush.
#[derive(Clone)]
pub struct QueueManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for QueueManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueManager")
            .field("name", &self.inner.name)
            .field("url", &self.inner.endpoint.url)
            .finish_non_exhaustive()
    }
}

/// What became of an offered entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Queued.
    Accepted,
    /// Dropped by relabeling, or the queue is stopped.
    Dropped,
    /// The queue is at capacity: try again later.
    Full,
}

/// The outcome of sending one request.
enum Sent {
    /// Acknowledged.
    Ok,
    /// Refused for good or given up on.
    Failed,
    /// Interrupted by a reshard before it was acknowledged: send it again later.
    Interrupted,
}

impl QueueManager {
    /// A queue for `cfg` whose series get `external_labels` (series labels win on
    /// conflicts) before `write_relabel_configs` run.
    pub fn new(cfg: &RemoteWriteConfig, external_labels: &Labels) -> Result<Self, RemoteError> {
        Self::with_options(cfg, external_labels, QueueOptions::from_config(cfg))
    }

    /// [`new`](Self::new) with explicit queue options.
    pub fn with_options(
        cfg: &RemoteWriteConfig,
        external_labels: &Labels,
        opts: QueueOptions,
    ) -> Result<Self, RemoteError> {
        let v2 = match cfg.protobuf_message.as_str() {
            PROTO_V1 => false,
            PROTO_V2 => true,
            other => {
                return Err(RemoteError::Config(format!(
                    "unknown remote write protobuf message {other}, supported: {PROTO_V1}, {PROTO_V2}"
                )));
            }
        };
        if !cfg.cloud_auth.is_empty() {
            return Err(RemoteError::Config(
                "sigv4, azuread and google_iam are not supported yet".into(),
            ));
        }
        let endpoint = Endpoint::new(
            &cfg.url,
            opts.remote_timeout,
            &cfg.headers,
            &cfg.http_client_config,
        )?;
        let name = if cfg.name.is_empty() {
            cfg.url.clone()
        } else {
            cfg.name.clone()
        };
        Ok(QueueManager {
            inner: Arc::new(Inner {
                name,
                endpoint,
                relabel: cfg.write_relabel_configs.clone(),
                external_labels: external_labels.clone(),
                send_exemplars: cfg.send_exemplars,
                send_histograms: cfg.send_native_histograms,
                v2,
                shards: RwLock::new(Vec::new()),
                tasks: Mutex::new(Vec::new()),
                background: Mutex::new(Vec::new()),
                pending: AtomicUsize::new(0),
                counters: Counters::default(),
                relabel_cache: Mutex::new(HashMap::new()),
                metadata: Mutex::new(HashMap::new()),
                last_success: Mutex::new(None),
                closed: AtomicBool::new(false),
                runtime: Mutex::new(None),
                resharding: tokio::sync::Mutex::new(()),
                opts,
            }),
        })
    }

    /// Offers an entry read from WAL position `pos` without dropping it when the queue
    /// is full.
    pub(crate) fn offer(&self, labels: &Labels, t: i64, payload: Payload, pos: u64) -> Offer {
        match payload {
            Payload::Histogram(_) | Payload::FloatHistogram(_) if !self.inner.send_histograms => {
                Offer::Dropped
            }
            Payload::Exemplar(_) if !self.inner.send_exemplars => Offer::Dropped,
            p => self.inner.offer(labels, t, p, pos),
        }
    }

    /// The lowest WAL position of an entry not yet acknowledged (queued or being sent),
    /// or [`NO_POSITION`] when there is none. Shards are FIFO and the WAL is read in
    /// order, so each shard's oldest entry is at its front.
    pub(crate) fn low_watermark(&self) -> u64 {
        self.inner
            .shards
            .read()
            .iter()
            .map(|s| {
                let front = s.buf.lock().front().map_or(NO_POSITION, |e| e.pos);
                front.min(s.inflight.load(Ordering::SeqCst))
            })
            .min()
            .unwrap_or(NO_POSITION)
    }

    /// Whether both handles are the same queue.
    pub fn same(&self, other: &QueueManager) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The queue's name (the configured `name`, else the URL).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Starts `min_shards` shards, the resharding loop and the metadata loop on the
    /// current tokio runtime. Must be called from within a runtime.
    pub fn start(&self) {
        let rt = tokio::runtime::Handle::current();
        *self.inner.runtime.lock() = Some(rt.clone());
        self.inner
            .start_shards(self.inner.opts.min_shards, Vec::new());
        let me = self.inner.clone();
        let reshard = rt.spawn(async move { me.reshard_loop().await });
        let mut bg = self.inner.background.lock();
        bg.push(reshard);
        if self.inner.opts.send_metadata && !self.inner.v2 {
            let me = self.inner.clone();
            bg.push(rt.spawn(async move { me.metadata_loop().await }));
        }
    }

    /// Queues a float sample of `labels` (before external labels and relabeling).
    /// Returns false if relabeling dropped it or the queue was full.
    pub fn append(&self, labels: &Labels, t: i64, v: f64) -> bool {
        self.inner.enqueue(labels, t, Payload::Float(v))
    }

    /// Queues a native-histogram sample (ignored unless `send_native_histograms`).
    pub fn append_histogram(&self, labels: &Labels, t: i64, h: &Histogram) -> bool {
        self.inner.send_histograms
            && self
                .inner
                .enqueue(labels, t, Payload::Histogram(Arc::new(h.clone())))
    }

    /// Queues a float native-histogram sample (ignored unless `send_native_histograms`).
    pub fn append_float_histogram(&self, labels: &Labels, t: i64, h: &FloatHistogram) -> bool {
        self.inner.send_histograms
            && self
                .inner
                .enqueue(labels, t, Payload::FloatHistogram(Arc::new(h.clone())))
    }

    /// Queues an exemplar (ignored unless `send_exemplars`).
    pub fn append_exemplar(&self, labels: &Labels, e: &Exemplar) -> bool {
        self.inner.send_exemplars
            && self.inner.enqueue(
                labels,
                e.timestamp.unwrap_or(0),
                Payload::Exemplar(e.clone()),
            )
    }

    /// Records metadata for the family of series `labels`, sent every
    /// `metadata_config.send_interval`.
    pub fn update_metadata(&self, labels: &Labels, m: &Metadata) {
        if let Some(name) = labels.metric_name() {
            let family = family_name(name, m);
            self.inner
                .metadata
                .lock()
                .insert(family.to_owned(), m.clone());
        }
    }

    /// The queue's counters.
    pub fn stats(&self) -> QueueStats {
        let c = &self.inner.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        QueueStats {
            samples_sent: g(&c.samples_sent),
            histograms_sent: g(&c.histograms_sent),
            exemplars_sent: g(&c.exemplars_sent),
            samples_failed: g(&c.samples_failed),
            samples_retried: g(&c.samples_retried),
            samples_dropped: g(&c.samples_dropped),
            samples_relabel_dropped: g(&c.samples_relabel_dropped),
            metadata_sent: g(&c.metadata_sent),
            metadata_failed: g(&c.metadata_failed),
            bytes_sent: g(&c.bytes_sent),
            pending: self.inner.pending.load(Ordering::Relaxed) as u64,
            shards: self.inner.shards.read().len() as u64,
        }
    }

    /// Sets the shard count now (the resharding loop does this by itself; exposed for
    /// operators and tests).
    pub async fn reshard(&self, n: usize) {
        self.inner.reshard(n).await;
    }

    /// Stops accepting entries and delivers what is buffered, retrying for up to
    /// `flush_deadline`; whatever is still unsent then is counted as dropped.
    pub async fn stop(&self) {
        let inner = &self.inner;
        if inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let _no_reshard = inner.resharding.lock().await;
        for h in inner.background.lock().drain(..) {
            h.abort();
        }
        for s in inner.shards.read().iter() {
            s.closing.store(true, Ordering::SeqCst);
            s.notify.notify_one();
        }
        let tasks: Vec<_> = inner.tasks.lock().drain(..).collect();
        let deadline = tokio::time::Instant::now() + inner.opts.flush_deadline;
        let mut leftovers = 0;
        for mut t in tasks {
            let left = if let Ok(r) = tokio::time::timeout_at(deadline, &mut t).await {
                r.unwrap_or_default()
            } else {
                // Past the deadline: interrupt the shards and count what they hold.
                for s in inner.shards.read().iter() {
                    s.signal_stop();
                }
                t.await.unwrap_or_default()
            };
            leftovers += left.len();
        }
        for s in inner.shards.write().drain(..) {
            leftovers += s.buf.lock().drain(..).count();
        }
        inner.pending.store(0, Ordering::Relaxed);
        add(&inner.counters.samples_dropped, leftovers);
    }
}

/// The metric family a series belongs to, for metadata: histogram and summary series
/// carry `_bucket`, `_sum` and `_count` suffixes their family does not.
fn family_name<'a>(name: &'a str, m: &Metadata) -> &'a str {
    use promlite_model::MetricType as T;
    let suffixes: &[&str] = match m.metric_type {
        T::Histogram | T::GaugeHistogram => &["_bucket", "_sum", "_count", "_gsum", "_gcount"],
        T::Summary => &["_sum", "_count"],
        _ => &[],
    };
    suffixes
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

fn shard_of(labels: &Labels, n: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    labels.hash(&mut h);
    (h.finish() % n.max(1) as u64) as usize
}

impl Inner {
    /// External labels, then relabeling, cached per input set.
    fn process_labels(&self, labels: &Labels) -> Option<Labels> {
        if self.relabel.is_empty() && self.external_labels.is_empty() {
            return Some(labels.clone());
        }
        if let Some(hit) = self.relabel_cache.lock().get(labels) {
            return hit.clone();
        }
        let mut with_ext = labels.clone();
        if !self.external_labels.is_empty() {
            let mut b = labels.to_builder();
            for l in &self.external_labels {
                if !labels.has(l.name) {
                    b.set(l.name, l.value);
                }
            }
            with_ext = b.build();
        }
        let out = if self.relabel.is_empty() {
            Some(with_ext)
        } else {
            promlite_relabel::relabel(&with_ext, &self.relabel, &mut LabelsBuilder::new())
        };
        let mut cache = self.relabel_cache.lock();
        if cache.len() >= RELABEL_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(labels.clone(), out.clone());
        out
    }

    fn enqueue(&self, labels: &Labels, t: i64, payload: Payload) -> bool {
        match self.offer(labels, t, payload, NO_POSITION) {
            Offer::Accepted => true,
            Offer::Dropped => false,
            Offer::Full => {
                add(&self.counters.samples_dropped, 1);
                false
            }
        }
    }

    /// Queues an entry unless relabeling drops it or the queue is full (the caller
    /// decides whether to drop or wait).
    fn offer(&self, labels: &Labels, t: i64, payload: Payload, pos: u64) -> Offer {
        if self.closed.load(Ordering::Relaxed) {
            return Offer::Dropped;
        }
        let Some(labels) = self.process_labels(labels) else {
            add(&self.counters.samples_relabel_dropped, 1);
            return Offer::Dropped;
        };
        let limit = self.opts.capacity.saturating_mul(self.opts.max_shards);
        if self.pending.load(Ordering::Relaxed) >= limit {
            return Offer::Full;
        }
        let shards = self.shards.read();
        if shards.is_empty() {
            return Offer::Full;
        }
        let shard = &shards[shard_of(&labels, shards.len())];
        let len = {
            let mut buf = shard.buf.lock();
            buf.push_back(Entry {
                labels,
                t,
                payload,
                pos,
            });
            buf.len()
        };
        self.pending.fetch_add(1, Ordering::Relaxed);
        if len >= self.opts.max_samples_per_send {
            shard.notify.notify_one();
        }
        Offer::Accepted
    }

    /// Replaces the (stopped) shard set with `n` new shards, re-queueing `carry` (in
    /// order, so each series' entries keep their order) before anything newer.
    fn start_shards(self: &Arc<Self>, n: usize, carry: Vec<Vec<Entry>>) {
        let Some(rt) = self.runtime.lock().clone() else {
            return;
        };
        let mut shards = self.shards.write();
        let new: Vec<Arc<Shard>> = (0..n.max(1)).map(|_| Shard::new()).collect();
        let old = std::mem::take(&mut *shards);
        let mut moved = 0usize;
        let mut place = |e: Entry| {
            let i = shard_of(&e.labels, new.len());
            new[i].buf.lock().push_back(e);
            moved += 1;
        };
        for (i, batch) in carry.into_iter().enumerate() {
            for e in batch {
                place(e);
            }
            if let Some(s) = old.get(i) {
                for e in s.buf.lock().drain(..) {
                    place(e);
                }
            }
        }
        let _ = moved;
        let mut tasks = self.tasks.lock();
        for s in &new {
            let me = self.clone();
            let s2 = s.clone();
            tasks.push(rt.spawn(async move { me.run_shard(s2).await }));
        }
        *shards = new;
    }

    async fn reshard(self: &Arc<Self>, n: usize) {
        let n = n.clamp(self.opts.min_shards, self.opts.max_shards);
        let _guard = self.resharding.lock().await;
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        for s in self.shards.read().iter() {
            s.signal_stop();
        }
        let tasks: Vec<_> = self.tasks.lock().drain(..).collect();
        let mut carry = Vec::with_capacity(tasks.len());
        for t in tasks {
            carry.push(t.await.unwrap_or_default());
        }
        tracing::info!(queue = %self.name, shards = n, "remote write: resharding");
        self.start_shards(n, carry);
    }

    /// Every `reshard_interval`: grow to as many shards as full batches are waiting
    /// (while sends succeed, since more shards do not help an endpoint that is down),
    /// shrink by half when the backlog is gone.
    async fn reshard_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.opts.reshard_interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            let n = self.shards.read().len();
            let backlog = self.pending.load(Ordering::Relaxed);
            let desired = backlog
                .div_ceil(self.opts.max_samples_per_send)
                .clamp(self.opts.min_shards, self.opts.max_shards);
            let healthy = self
                .last_success
                .lock()
                .is_some_and(|t| t.elapsed() < self.opts.reshard_interval * 2);
            if desired > n && healthy {
                self.reshard(desired).await;
            } else if desired * 2 <= n && n > self.opts.min_shards {
                self.reshard((n / 2).max(desired)).await;
            }
        }
    }

    async fn run_shard(self: Arc<Self>, shard: Arc<Shard>) -> Vec<Entry> {
        let max = self.opts.max_samples_per_send;
        loop {
            let mut deadline = tokio::time::Instant::now() + self.opts.batch_send_deadline;
            loop {
                let notified = shard.notify.notified();
                let len = shard.buf.lock().len();
                if len >= max
                    || shard.stop.load(Ordering::SeqCst)
                    || shard.closing.load(Ordering::SeqCst)
                {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    if len > 0 {
                        break;
                    }
                    // Nothing to send yet: whatever arrives waits at most one more
                    // deadline.
                    deadline = tokio::time::Instant::now() + self.opts.batch_send_deadline;
                    continue;
                }
                tokio::select! {
                    () = notified => {}
                    () = tokio::time::sleep_until(deadline) => {}
                }
            }
            if shard.stop.load(Ordering::SeqCst) {
                return Vec::new();
            }
            let batch: Vec<Entry> = {
                let mut buf = shard.buf.lock();
                let n = buf.len().min(max);
                let batch: Vec<Entry> = buf.drain(..n).collect();
                // Under the lock, so the batch is never in neither place.
                let low = batch.iter().map(|e| e.pos).min().unwrap_or(NO_POSITION);
                shard.inflight.store(low, Ordering::SeqCst);
                batch
            };
            if batch.is_empty() {
                if shard.closing.load(Ordering::SeqCst) {
                    return Vec::new();
                }
                continue;
            }
            self.pending.fetch_sub(batch.len(), Ordering::Relaxed);
            if let Sent::Interrupted = self.send_batch(&shard, &batch).await {
                self.pending.fetch_add(batch.len(), Ordering::Relaxed);
                return batch;
            }
        }
    }

    fn build_request(&self, batch: &[Entry]) -> (prompb::WriteRequest, [usize; 3]) {
        let mut index: HashMap<&Labels, usize> = HashMap::new();
        let mut req = prompb::WriteRequest::default();
        let mut counts = [0usize; 3];
        let min_t = if self.opts.sample_age_limit.is_zero() {
            i64::MIN
        } else {
            now_ms() - self.opts.sample_age_limit.as_millis() as i64
        };
        let mut too_old = 0;
        for e in batch {
            if e.t < min_t && !matches!(e.payload, Payload::Exemplar(_)) {
                too_old += 1;
                continue;
            }
            let i = *index.entry(&e.labels).or_insert_with(|| {
                req.timeseries.push(prompb::TimeSeries {
                    labels: labels_to_proto(&e.labels),
                    ..Default::default()
                });
                req.timeseries.len() - 1
            });
            let ts = &mut req.timeseries[i];
            match &e.payload {
                Payload::Float(v) => {
                    ts.samples.push(prompb::Sample {
                        value: *v,
                        timestamp: e.t,
                    });
                    counts[0] += 1;
                }
                Payload::Histogram(h) => {
                    ts.histograms.push(histogram_to_proto(e.t, h));
                    counts[1] += 1;
                }
                Payload::FloatHistogram(h) => {
                    ts.histograms.push(float_histogram_to_proto(e.t, h));
                    counts[1] += 1;
                }
                Payload::Exemplar(x) => {
                    ts.exemplars.push(exemplar_to_proto(x));
                    counts[2] += 1;
                }
            }
        }
        add(&self.counters.samples_dropped, too_old);
        (req, counts)
    }

    /// The metadata recorded for the family of series `name` (2.0 sends it inline).
    fn metadata_for(&self, name: &str) -> Option<Metadata> {
        if !self.opts.send_metadata {
            return None;
        }
        let m = self.metadata.lock();
        m.get(name).cloned().or_else(|| {
            ["_bucket", "_sum", "_count", "_gsum", "_gcount"]
                .iter()
                .find_map(|s| m.get(name.strip_suffix(s)?).cloned())
        })
    }

    async fn send_batch(&self, shard: &Shard, batch: &[Entry]) -> Sent {
        let (req, counts) = self.build_request(batch);
        let n: usize = counts.iter().sum();
        if n == 0 {
            return Sent::Ok;
        }
        let body = if self.v2 {
            let meta = |name: &str| self.metadata_for(name);
            let v2 = crate::codec::write_request_to_v2(&req, meta);
            crate::codec::snappy_compress(&prost::Message::encode_to_vec(&v2))
        } else {
            encode_write_request(&req)
        };
        let stop = || shard.stop.load(Ordering::SeqCst);
        let sent = self.post_with_retry(&body, n, &stop, &shard.stopped).await;
        let c = &self.counters;
        if !matches!(sent, Sent::Interrupted) {
            // Settled before it is counted, so a caller that sees the count also sees
            // the batch gone from the low watermark.
            shard.inflight.store(NO_POSITION, Ordering::SeqCst);
        }
        match sent {
            Sent::Ok => {
                add(&c.samples_sent, counts[0]);
                add(&c.histograms_sent, counts[1]);
                add(&c.exemplars_sent, counts[2]);
            }
            Sent::Failed => add(&c.samples_failed, n),
            Sent::Interrupted => {}
        }
        sent
    }

    /// POSTs `body` until it is acknowledged, refused for good, or `stop()` says to give
    /// up (checked between attempts; `wake` interrupts a back-off sleep).
    async fn post_with_retry(
        &self,
        body: &[u8],
        n: usize,
        stop: &(dyn Fn() -> bool + Sync),
        wake: &Notify,
    ) -> Sent {
        let mut backoff = self.opts.min_backoff;
        loop {
            if stop() {
                return Sent::Interrupted;
            }
            let retry_after = match self.post_once(body).await {
                Ok(()) => {
                    add(&self.counters.bytes_sent, body.len());
                    *self.last_success.lock() = Some(Instant::now());
                    return Sent::Ok;
                }
                Err(PostError::Permanent(e)) => {
                    tracing::error!(queue = %self.name, error = %e, "remote write: non-recoverable error, dropping batch");
                    return Sent::Failed;
                }
                Err(PostError::Recoverable(e, retry_after)) => {
                    tracing::warn!(queue = %self.name, error = %e, "remote write: recoverable error, retrying");
                    retry_after
                }
            };
            add(&self.counters.samples_retried, n);
            let delay = retry_after.unwrap_or(backoff);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = wake.notified() => {}
            }
            backoff = (backoff * 2).min(self.opts.max_backoff);
        }
    }

    async fn post_once(&self, body: &[u8]) -> Result<(), PostError> {
        let req = self
            .endpoint
            .post()
            .map_err(PostError::Permanent)?
            .header(CONTENT_ENCODING, "snappy")
            .header(
                CONTENT_TYPE,
                if self.v2 {
                    "application/x-protobuf;proto=io.prometheus.write.v2.Request"
                } else {
                    "application/x-protobuf"
                },
            )
            .header(
                REMOTE_WRITE_VERSION_HEADER,
                if self.v2 { "2.0.0" } else { "0.1.0" },
            )
            .body(body.to_vec());
        let resp = req
            .send()
            .await
            .map_err(|e| PostError::Recoverable(e.into(), None))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match error_for_status(resp).await {
            Ok(_) => Ok(()),
            Err(e) if status >= 500 => Err(PostError::Recoverable(e, retry_after)),
            Err(e) if status == 429 && self.opts.retry_on_http_429 => {
                Err(PostError::Recoverable(e, retry_after))
            }
            Err(e) => Err(PostError::Permanent(e)),
        }
    }

    async fn metadata_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.opts.metadata_interval);
        tick.tick().await;
        let never = Notify::new();
        loop {
            tick.tick().await;
            let all: Vec<prompb::MetricMetadata> = {
                let m = self.metadata.lock();
                let mut v: Vec<_> = m.iter().map(|(f, m)| metadata_to_proto(f, m)).collect();
                v.sort_by(|a, b| a.metric_family_name.cmp(&b.metric_family_name));
                v
            };
            for chunk in all.chunks(self.opts.metadata_per_send) {
                let req = prompb::WriteRequest {
                    timeseries: Vec::new(),
                    metadata: chunk.to_vec(),
                };
                let body = encode_write_request(&req);
                let closed = || self.closed.load(Ordering::SeqCst);
                match self.post_with_retry(&body, 0, &closed, &never).await {
                    Sent::Ok => add(&self.counters.metadata_sent, chunk.len()),
                    Sent::Failed | Sent::Interrupted => {
                        add(&self.counters.metadata_failed, chunk.len());
                    }
                }
            }
        }
    }
}

enum PostError {
    Recoverable(RemoteError, Option<Duration>),
    Permanent(RemoteError),
}

/// The wall clock in milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
