//! [`MemStore`]: a small, complete in-memory store for tests and tiny embeddings.
//!
//! Samples of each series are kept as a list of frozen, shared slices plus an open tail.
//! A querier snapshots the slices it needs (reference-count increments, and one copy of
//! each tail of at most [`TAIL_LEN`] samples), so no lock is held while a query reads and
//! writers never wait for readers. There is no index beyond the metric name: selections
//! scan the series of the named metric, or all series.

use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::RwLock;
use promlite_model::{Exemplar, Labels, METRIC_NAME, Matcher, Metadata};

use crate::series::{ListSeriesSet, Sample, SampleSeries, SampleValue};
use crate::traits::{
    Appendable, Appender, HistogramRef, LabelHints, Querier, Queryable, SelectHints, SeriesRef,
    SeriesSet,
};
use crate::{Error, Result};

/// Samples are frozen into a shared slice every this many.
pub const TAIL_LEN: usize = 256;

/// Exemplars kept per series (the oldest are dropped first).
const EXEMPLARS_PER_SERIES: usize = 16;

/// An in-memory [`Appendable`] + [`Queryable`].
///
/// It enforces the same per-series ordering rules as Prometheus's head: a sample older
/// than the series' newest is rejected as out of order, and a different value at the same
/// timestamp as a duplicate (the same value again is accepted and ignored).
///
/// ```
/// use promlite_model::{Labels, Matcher};
/// use promlite_storage::{Appendable, MemStore, Queryable, SeriesRef};
///
/// let store = MemStore::new();
/// let up = Labels::from_pairs([("__name__", "up"), ("job", "api")]);
/// let mut app = store.appender();
/// app.append(SeriesRef::NONE, &up, 1000, 1.0).unwrap();
/// app.commit().unwrap();
///
/// let q = store.querier(0, 2000).unwrap();
/// let found: Vec<_> = q.select(true, None, &[Matcher::equal("__name__", "up")])
///     .map(|s| s.unwrap().labels().clone())
///     .collect();
/// assert_eq!(found, [up]);
/// ```
#[derive(Default)]
pub struct MemStore {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    series: Vec<MemSeries>,
    by_labels: HashMap<Labels, u32>,
    by_name: HashMap<String, Vec<u32>>,
    metadata: HashMap<String, Metadata>,
}

struct MemSeries {
    labels: Labels,
    frozen: Vec<Arc<[Sample]>>,
    tail: Vec<Sample>,
    exemplars: Vec<Exemplar>,
}

impl MemSeries {
    fn last(&self) -> Option<&Sample> {
        self.tail
            .last()
            .or_else(|| self.frozen.last().and_then(|p| p.last()))
    }

    fn first_t(&self) -> Option<i64> {
        self.frozen
            .first()
            .and_then(|p| p.first())
            .or_else(|| self.tail.first())
            .map(|s| s.t)
    }

    fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        match (self.first_t(), self.last()) {
            (Some(first), Some(last)) => first <= maxt && last.t >= mint,
            _ => false,
        }
    }

    fn push(&mut self, s: Sample) {
        self.tail.push(s);
        if self.tail.len() >= TAIL_LEN {
            let full = std::mem::take(&mut self.tail);
            self.frozen.push(full.into());
        }
    }

    fn snapshot(&self, mint: i64, maxt: i64) -> SampleSeries {
        let mut parts: Vec<Arc<[Sample]>> = self
            .frozen
            .iter()
            .filter(|p| match (p.first(), p.last()) {
                (Some(f), Some(l)) => f.t <= maxt && l.t >= mint,
                _ => false,
            })
            .cloned()
            .collect();
        if !self.tail.is_empty() {
            parts.push(self.tail.as_slice().into());
        }
        SampleSeries::from_parts(self.labels.clone(), parts, mint, maxt)
    }
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// The number of series.
    pub fn num_series(&self) -> usize {
        self.inner.read().series.len()
    }

    /// The metadata last recorded for a metric family.
    pub fn metadata(&self, metric: &str) -> Option<Metadata> {
        self.inner.read().metadata.get(metric).cloned()
    }

    /// The exemplars kept for a series, oldest first.
    pub fn exemplars(&self, labels: &Labels) -> Vec<Exemplar> {
        let inner = self.inner.read();
        inner
            .by_labels
            .get(labels)
            .map(|&i| inner.series[i as usize].exemplars.clone())
            .unwrap_or_default()
    }

    /// Removes every series and sample.
    pub fn clear(&self) {
        *self.inner.write() = Inner::default();
    }

    /// The index of the series `labels`, created if new. `hint` is a reference from an
    /// earlier append, trusted only if it still names the same labels.
    fn resolve(&self, hint: SeriesRef, labels: &Labels) -> Result<u32> {
        {
            let inner = self.inner.read();
            if let Some(s) = hint
                .0
                .checked_sub(1)
                .and_then(|i| inner.series.get(usize::try_from(i).ok()?))
                && s.labels == *labels
            {
                return Ok((hint.0 - 1) as u32);
            }
            if let Some(&i) = inner.by_labels.get(labels) {
                return Ok(i);
            }
        }
        if labels.is_empty() {
            return Err(Error::InvalidLabels("empty label set".into()));
        }
        let mut inner = self.inner.write();
        if let Some(&i) = inner.by_labels.get(labels) {
            return Ok(i);
        }
        let i = u32::try_from(inner.series.len())
            .map_err(|_| Error::InvalidLabels("too many series".into()))?;
        inner.series.push(MemSeries {
            labels: labels.clone(),
            frozen: Vec::new(),
            tail: Vec::new(),
            exemplars: Vec::new(),
        });
        inner.by_labels.insert(labels.clone(), i);
        inner
            .by_name
            .entry(labels.metric_name().unwrap_or_default().to_owned())
            .or_default()
            .push(i);
        Ok(i)
    }
}

impl Appendable for MemStore {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemAppender {
            store: self,
            samples: Vec::new(),
            last: HashMap::new(),
            exemplars: Vec::new(),
            metadata: Vec::new(),
        })
    }
}

struct MemAppender<'a> {
    store: &'a MemStore,
    samples: Vec<(u32, Sample)>,
    /// Index into `samples` of each series' newest pending sample.
    last: HashMap<u32, usize>,
    exemplars: Vec<(u32, Exemplar)>,
    metadata: Vec<(String, Metadata)>,
}

impl MemAppender<'_> {
    fn add(&mut self, r: SeriesRef, labels: &Labels, sample: Sample) -> Result<SeriesRef> {
        let i = self.store.resolve(r, labels)?;
        let last = match self.last.get(&i) {
            Some(&p) => Some(self.samples[p].1.clone()),
            None => self.store.inner.read().series[i as usize].last().cloned(),
        };
        if let Some(last) = last {
            if sample.t < last.t {
                return Err(Error::OutOfOrderSample);
            }
            if sample.t == last.t {
                if last.value.same_as(&sample.value) {
                    return Ok(SeriesRef(u64::from(i) + 1));
                }
                return Err(Error::DuplicateSampleForTimestamp);
            }
        }
        self.last.insert(i, self.samples.len());
        self.samples.push((i, sample));
        Ok(SeriesRef(u64::from(i) + 1))
    }
}

impl Appender for MemAppender<'_> {
    fn append(&mut self, r: SeriesRef, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef> {
        self.add(r, labels, Sample::float(t, v))
    }

    fn append_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        st: i64,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef> {
        self.add(
            r,
            labels,
            Sample {
                st,
                ..Sample::float(t, v)
            },
        )
    }

    fn append_histogram(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        h: HistogramRef<'_>,
    ) -> Result<SeriesRef> {
        self.append_histogram_with_st(r, labels, 0, t, h)
    }

    fn append_histogram_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        st: i64,
        t: i64,
        h: HistogramRef<'_>,
    ) -> Result<SeriesRef> {
        let value = match h {
            HistogramRef::Int(h) => SampleValue::Histogram(Arc::new(h.clone())),
            HistogramRef::Float(h) => SampleValue::FloatHistogram(Arc::new(h.clone())),
        };
        self.add(r, labels, Sample { t, st, value })
    }

    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef> {
        let i = self.store.resolve(r, labels)?;
        self.exemplars.push((i, e.clone()));
        Ok(SeriesRef(u64::from(i) + 1))
    }

    fn update_metadata(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        m: &Metadata,
    ) -> Result<SeriesRef> {
        let i = self.store.resolve(r, labels)?;
        let name = labels.metric_name().unwrap_or_default().to_owned();
        self.metadata.push((name, m.clone()));
        Ok(SeriesRef(u64::from(i) + 1))
    }

    /// Applies the transaction. A sample that another transaction has made out of order
    /// since it was appended is dropped, as Prometheus's head drops it on commit.
    fn commit(self: Box<Self>) -> Result<()> {
        let this = *self;
        let mut inner = this.store.inner.write();
        for (i, s) in this.samples {
            let series = &mut inner.series[i as usize];
            if series.last().is_none_or(|l| l.t < s.t) {
                series.push(s);
            }
        }
        for (i, e) in this.exemplars {
            let ex = &mut inner.series[i as usize].exemplars;
            if ex.last().is_some_and(|l| l == &e) {
                continue;
            }
            if ex.len() == EXEMPLARS_PER_SERIES {
                ex.remove(0);
            }
            ex.push(e);
        }
        for (name, m) in this.metadata {
            inner.metadata.insert(name, m);
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

impl Queryable for MemStore {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>> {
        Ok(Box::new(MemQuerier {
            store: self,
            mint,
            maxt,
        }))
    }
}

struct MemQuerier<'a> {
    store: &'a MemStore,
    mint: i64,
    maxt: i64,
}

impl MemQuerier<'_> {
    /// Indexes of series matching every matcher with samples in range, unordered.
    fn matching(&self, inner: &Inner, matchers: &[Matcher]) -> Vec<u32> {
        let ok = |i: u32| {
            let s = &inner.series[i as usize];
            s.overlaps(self.mint, self.maxt)
                && matchers
                    .iter()
                    .all(|m| m.matches(s.labels.get(m.name()).unwrap_or("")))
        };
        let names = matchers
            .iter()
            .find(|m| m.name() == METRIC_NAME)
            .and_then(Matcher::set_matches);
        match names {
            Some(names) => names
                .iter()
                .filter_map(|n| inner.by_name.get(n.as_str()))
                .flatten()
                .copied()
                .filter(|&i| ok(i))
                .collect(),
            None => (0..inner.series.len() as u32).filter(|&i| ok(i)).collect(),
        }
    }
}

impl Querier for MemQuerier<'_> {
    fn select<'q>(
        &'q self,
        sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'q> + 'q> {
        let inner = self.store.inner.read();
        let mut out: Vec<SampleSeries> = self
            .matching(&inner, matchers)
            .into_iter()
            .map(|i| inner.series[i as usize].snapshot(self.mint, self.maxt))
            .collect();
        drop(inner);
        if sorted {
            out.sort_unstable_by(|a, b| crate::Series::labels(a).cmp(crate::Series::labels(b)));
        }
        Box::new(ListSeriesSet::new(out))
    }

    fn label_values(
        &self,
        name: &str,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> Result<Vec<String>> {
        let inner = self.store.inner.read();
        let mut out: Vec<String> = self
            .matching(&inner, matchers)
            .into_iter()
            .filter_map(|i| inner.series[i as usize].labels.get(name).map(str::to_owned))
            .collect();
        Ok(finish(&mut out, hints))
    }

    fn label_names(&self, hints: Option<&LabelHints>, matchers: &[Matcher]) -> Result<Vec<String>> {
        let inner = self.store.inner.read();
        let mut out: Vec<String> = self
            .matching(&inner, matchers)
            .into_iter()
            .flat_map(|i| {
                inner.series[i as usize]
                    .labels
                    .iter()
                    .map(|l| l.name.to_owned())
            })
            .collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::collect_samples;
    use crate::traits::SampleIterator;
    use promlite_model::MatchType;

    fn labels(name: &str, job: &str) -> Labels {
        Labels::from_pairs([("__name__", name), ("job", job)])
    }

    fn select(store: &MemStore, mint: i64, maxt: i64, ms: &[Matcher]) -> Vec<(Labels, Vec<i64>)> {
        let q = store.querier(mint, maxt).unwrap();
        q.select(true, None, ms)
            .map(|s| {
                let s = s.unwrap();
                let ts = collect_samples(&*s).iter().map(|s| s.t).collect();
                (s.labels().clone(), ts)
            })
            .collect()
    }

    #[test]
    fn start_times_are_kept_and_read_back() {
        let store = MemStore::new();
        let l = labels("c", "a");
        let h = promlite_model::FloatHistogram::default();
        let mut app = store.appender();
        app.append(SeriesRef::NONE, &l, 1000, 1.0).unwrap();
        app.append_with_st(SeriesRef::NONE, &l, 1500, 2000, 2.0)
            .unwrap();
        app.append_histogram_with_st(SeriesRef::NONE, &l, 2500, 3000, HistogramRef::Float(&h))
            .unwrap();
        app.commit().unwrap();
        let q = store.querier(0, 5000).unwrap();
        let s = q
            .select(true, None, &[Matcher::equal("__name__", "c")])
            .next()
            .unwrap()
            .unwrap();
        let sts: Vec<_> = collect_samples(&*s).iter().map(|x| (x.t, x.st)).collect();
        assert_eq!(sts, [(1000, 0), (2000, 1500), (3000, 2500)]);
        // Through a merge, too.
        let merged = crate::merge::ChainIterator::new(vec![s.samples()]);
        let mut it = merged;
        it.seek(2000);
        assert_eq!(it.at_st(), 1500);
    }

    #[test]
    fn ordering_rules_match_prometheus_head() {
        let store = MemStore::new();
        let l = labels("a", "x");
        let mut app = store.appender();
        let r = app.append(SeriesRef::NONE, &l, 10, 1.0).unwrap();
        assert!(matches!(
            app.append(r, &l, 5, 1.0),
            Err(Error::OutOfOrderSample)
        ));
        assert!(matches!(
            app.append(r, &l, 10, 2.0),
            Err(Error::DuplicateSampleForTimestamp)
        ));
        app.append(r, &l, 10, 1.0).unwrap();
        app.commit().unwrap();
        let mut app = store.appender();
        assert!(matches!(
            app.append(r, &l, 9, 1.0),
            Err(Error::OutOfOrderSample)
        ));
        app.rollback().unwrap();
        assert_eq!(
            select(&store, 0, 100, &[Matcher::equal("job", "x")])[0].1,
            [10]
        );
    }

    #[test]
    fn uncommitted_and_rolled_back_samples_are_invisible() {
        let store = MemStore::new();
        let mut app = store.appender();
        app.append(SeriesRef::NONE, &labels("a", "x"), 1, 1.0)
            .unwrap();
        assert!(select(&store, 0, 10, &[Matcher::equal("__name__", "a")]).is_empty());
        drop(app);
        assert!(select(&store, 0, 10, &[Matcher::equal("__name__", "a")]).is_empty());
    }

    #[test]
    fn select_filters_sorts_and_clips() {
        let store = MemStore::new();
        let mut app = store.appender();
        for t in 0..1000 {
            app.append(SeriesRef::NONE, &labels("a", "z"), t, 1.0)
                .unwrap();
            app.append(SeriesRef::NONE, &labels("a", "y"), t, 1.0)
                .unwrap();
            app.append(SeriesRef::NONE, &labels("b", "y"), t, 1.0)
                .unwrap();
        }
        app.commit().unwrap();
        let got = select(
            &store,
            500,
            520,
            &[Matcher::new(MatchType::Regexp, "__name__", "a").unwrap()],
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, labels("a", "y"));
        assert_eq!(got[0].1, (500..=520).collect::<Vec<_>>());
        assert!(select(&store, 2000, 3000, &[Matcher::equal("job", "y")]).is_empty());
        let q = store.querier(0, 2000).unwrap();
        assert_eq!(q.label_values("job", None, &[]).unwrap(), ["y", "z"]);
        assert_eq!(
            q.label_values("__name__", None, &[Matcher::equal("job", "y")])
                .unwrap(),
            ["a", "b"]
        );
        assert_eq!(q.label_names(None, &[]).unwrap(), ["__name__", "job"]);
        assert_eq!(
            q.label_names(Some(&LabelHints { limit: 1 }), &[]).unwrap(),
            ["__name__"]
        );
    }

    #[test]
    fn snapshot_is_isolated_from_later_appends() {
        let store = MemStore::new();
        let l = labels("a", "x");
        let mut app = store.appender();
        app.append(SeriesRef::NONE, &l, 1, 1.0).unwrap();
        app.commit().unwrap();
        let q = store.querier(0, 100).unwrap();
        let set: Vec<_> = q
            .select(false, None, &[Matcher::equal("job", "x")])
            .collect();
        let mut app = store.appender();
        app.append(SeriesRef::NONE, &l, 2, 1.0).unwrap();
        app.commit().unwrap(); // no deadlock while the querier and its series live
        let s = set.into_iter().next().unwrap().unwrap();
        assert_eq!(collect_samples(&*s).len(), 1);
    }

    #[test]
    fn metadata_and_exemplars_are_kept() {
        let store = MemStore::new();
        let l = labels("a", "x");
        let mut app = store.appender();
        let m = Metadata {
            help: "h".into(),
            ..Metadata::default()
        };
        app.update_metadata(SeriesRef::NONE, &l, &m).unwrap();
        let e = Exemplar {
            labels: Labels::from_pairs([("trace_id", "1")]),
            value: 1.0,
            timestamp: Some(1),
        };
        app.append_exemplar(SeriesRef::NONE, &l, &e).unwrap();
        app.commit().unwrap();
        assert_eq!(store.metadata("a"), Some(m));
        assert_eq!(store.exemplars(&l), [e]);
    }
}
