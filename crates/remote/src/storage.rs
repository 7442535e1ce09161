//! The set of remote-write queues from `prometheus.yml`, and the [`Appendable`] that tees
//! every committed append into them.

use std::sync::Arc;

use parking_lot::RwLock;
use promlite_config::RemoteWriteConfig;
use promlite_model::{Exemplar, Labels, Metadata};
use promlite_storage::{Appendable, Appender, HistogramRef, Result, SeriesRef};

use crate::queue::{Offer, Payload, QueueManager};
use crate::{QueueOptions, RemoteError};

/// All remote-write queues of a configuration.
///
/// ```no_run
/// # async fn run(cfg: promlite_config::Config, db: std::sync::Arc<dyn promlite_storage::Appendable>) -> Result<(), promlite_remote::RemoteError> {
/// use std::sync::Arc;
/// use promlite_remote::{RemoteWriteAppendable, WriteStorage};
///
/// let remote = Arc::new(WriteStorage::new());
/// remote.apply_config(&cfg.remote_write, &promlite_model::Labels::empty()).await?;
/// // Scrapes and rules append here: the store first, then every queue on commit.
/// let appendable = RemoteWriteAppendable::new(db, remote.clone());
/// # let _ = appendable;
/// // … on shutdown:
/// remote.stop().await;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct WriteStorage {
    queues: RwLock<Vec<(RemoteWriteConfig, Labels, QueueManager)>>,
    options: RwLock<Option<OptionsFn>>,
}

/// Derives a queue's options from its configuration entry.
type OptionsFn = Arc<dyn Fn(&RemoteWriteConfig) -> QueueOptions + Send + Sync>;

impl std::fmt::Debug for WriteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.queues.read().iter().map(|q| &q.2))
            .finish()
    }
}

impl WriteStorage {
    /// No queues yet.
    pub fn new() -> WriteStorage {
        WriteStorage::default()
    }

    /// Overrides how queue options are derived from a configuration entry (tests use it
    /// for short intervals; the default is [`QueueOptions::from_config`]).
    pub fn set_options(
        &self,
        f: impl Fn(&RemoteWriteConfig) -> QueueOptions + Send + Sync + 'static,
    ) {
        *self.options.write() = Some(Arc::new(f));
    }

    /// Makes the running queues match `configs`: unchanged entries keep their queue (and
    /// its buffer), changed and removed ones are flushed and stopped, new ones started.
    /// Nothing changes if any entry is unusable. Must run inside a tokio runtime.
    pub async fn apply_config(
        &self,
        configs: &[RemoteWriteConfig],
        external_labels: &Labels,
    ) -> Result<(), RemoteError> {
        let opts = self.options.read().clone();
        let mut keep = Vec::new();
        let mut fresh = Vec::new();
        {
            let current = self.queues.read();
            for cfg in configs {
                if let Some(q) = current
                    .iter()
                    .find(|(c, l, _)| c == cfg && l == external_labels)
                {
                    keep.push(q.clone());
                    continue;
                }
                let o = opts
                    .as_ref()
                    .map_or_else(|| QueueOptions::from_config(cfg), |f| f(cfg));
                let q = QueueManager::with_options(cfg, external_labels, o)?;
                fresh.push((cfg.clone(), external_labels.clone(), q));
            }
        }
        for (_, _, q) in &fresh {
            q.start();
        }
        keep.extend(fresh);
        let old = std::mem::replace(&mut *self.queues.write(), keep);
        let running = self.queues.read().clone();
        for (_, _, q) in old {
            if !running.iter().any(|(_, _, r)| r.same(&q)) {
                q.stop().await;
            }
        }
        Ok(())
    }

    /// The running queues.
    pub fn queues(&self) -> Vec<QueueManager> {
        self.queues.read().iter().map(|q| q.2.clone()).collect()
    }

    /// Flushes and stops every queue.
    pub async fn stop(&self) {
        let all = std::mem::take(&mut *self.queues.write());
        for (_, _, q) in all {
            q.stop().await;
        }
    }

    /// Offers an entry to every queue, waiting (on this thread) while a queue is full
    /// rather than dropping, until `stop` is set. For sources that can be re-read, like
    /// the WAL.
    pub(crate) fn offer_wait(
        &self,
        labels: &Labels,
        t: i64,
        payload: &Payload,
        pos: u64,
        stop: &std::sync::atomic::AtomicBool,
    ) {
        for q in self.queues() {
            while q.offer(labels, t, payload.clone(), pos) == Offer::Full {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }

    /// The lowest WAL position any queue has not had acknowledged
    /// ([`NO_POSITION`](crate::queue::NO_POSITION) when none).
    pub(crate) fn low_watermark(&self) -> u64 {
        self.queues()
            .iter()
            .map(QueueManager::low_watermark)
            .min()
            .unwrap_or(crate::queue::NO_POSITION)
    }

    /// Records metadata in every queue.
    pub(crate) fn update_metadata(&self, labels: &Labels, m: &Metadata) {
        self.each(|q| q.update_metadata(labels, m));
    }

    fn each(&self, mut f: impl FnMut(&QueueManager)) {
        for (_, _, q) in self.queues.read().iter() {
            f(q);
        }
    }
}

/// An [`Appendable`] that writes to a store and, once a transaction commits there, hands
/// the same samples to every remote-write queue. What the store refused or rolled back
/// is never sent.
#[derive(Clone)]
pub struct RemoteWriteAppendable {
    inner: Arc<dyn Appendable>,
    remote: Arc<WriteStorage>,
}

impl RemoteWriteAppendable {
    /// Tees appends to `inner` into `remote`'s queues.
    pub fn new(inner: Arc<dyn Appendable>, remote: Arc<WriteStorage>) -> RemoteWriteAppendable {
        RemoteWriteAppendable { inner, remote }
    }
}

impl Appendable for RemoteWriteAppendable {
    fn appender(&self) -> Box<dyn Appender + '_> {
        if self.remote.queues.read().is_empty() {
            return self.inner.appender();
        }
        Box::new(TeeAppender {
            inner: self.inner.appender(),
            remote: &self.remote,
            pending: Vec::new(),
            metadata: Vec::new(),
        })
    }
}

struct TeeAppender<'a> {
    inner: Box<dyn Appender + 'a>,
    remote: &'a WriteStorage,
    pending: Vec<(Labels, i64, Payload)>,
    metadata: Vec<(Labels, Metadata)>,
}

impl Appender for TeeAppender<'_> {
    fn prefetch(&mut self, r: SeriesRef) {
        self.inner.prefetch(r);
    }

    fn append(&mut self, r: SeriesRef, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef> {
        let r = self.inner.append(r, labels, t, v)?;
        self.pending.push((labels.clone(), t, Payload::Float(v)));
        Ok(r)
    }

    fn append_histogram(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        h: HistogramRef<'_>,
    ) -> Result<SeriesRef> {
        let r = self.inner.append_histogram(r, labels, t, h)?;
        let p = match h {
            HistogramRef::Int(h) => Payload::Histogram(Arc::new(h.clone())),
            HistogramRef::Float(h) => Payload::FloatHistogram(Arc::new(h.clone())),
        };
        self.pending.push((labels.clone(), t, p));
        Ok(r)
    }

    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef> {
        let r = self.inner.append_exemplar(r, labels, e)?;
        self.pending.push((
            labels.clone(),
            e.timestamp.unwrap_or(0),
            Payload::Exemplar(e.clone()),
        ));
        Ok(r)
    }

    fn update_metadata(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        m: &Metadata,
    ) -> Result<SeriesRef> {
        let r = self.inner.update_metadata(r, labels, m)?;
        self.metadata.push((labels.clone(), m.clone()));
        Ok(r)
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let TeeAppender {
            inner,
            remote,
            pending,
            metadata,
        } = *self;
        inner.commit()?;
        remote.each(|q| {
            for (labels, t, p) in &pending {
                match p {
                    Payload::Float(v) => {
                        q.append(labels, *t, *v);
                    }
                    Payload::Histogram(h) => {
                        q.append_histogram(labels, *t, h);
                    }
                    Payload::FloatHistogram(h) => {
                        q.append_float_histogram(labels, *t, h);
                    }
                    Payload::Exemplar(e) => {
                        q.append_exemplar(labels, e);
                    }
                }
            }
            for (labels, m) in &metadata {
                q.update_metadata(labels, m);
            }
        });
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<()> {
        self.inner.rollback()
    }
}
