//! Merging several stores into one view: a [`MergeQueryable`] over a primary and any
//! number of secondary [`Queryable`]s.
//!
//! Series with equal labels from different stores become one series whose samples are
//! merged by timestamp; when two stores hold a sample at the same timestamp, the one from
//! the store listed first wins. As in Prometheus's fanout storage, a failing primary fails
//! the query while a failing secondary (say, a remote-read endpoint that is down) only
//! adds a warning.

use std::borrow::Cow;
use std::sync::Arc;

use promlite_model::{FloatHistogram, Histogram, Labels, Matcher};

use crate::Result;
use crate::series::FPoint;
use crate::traits::{
    LabelHints, LastSample, Querier, Queryable, SampleIterator, SelectHints, Series, SeriesSet,
    ValueType,
};

/// A [`Queryable`] answering from a primary and several secondary stores.
#[derive(Clone)]
pub struct MergeQueryable {
    primary: Arc<dyn Queryable>,
    secondaries: Vec<Arc<dyn Queryable>>,
}

impl MergeQueryable {
    /// A merged view whose errors from `primary` are errors and from `secondaries` warnings.
    pub fn new(primary: Arc<dyn Queryable>, secondaries: Vec<Arc<dyn Queryable>>) -> Self {
        MergeQueryable {
            primary,
            secondaries,
        }
    }
}

impl Queryable for MergeQueryable {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>> {
        let primary = self.primary.querier(mint, maxt)?;
        let mut secondaries = Vec::with_capacity(self.secondaries.len());
        let mut warnings = Vec::new();
        for s in &self.secondaries {
            match s.querier(mint, maxt) {
                Ok(q) => secondaries.push(q),
                Err(e) => warnings.push(e.to_string()),
            }
        }
        Ok(Box::new(MergeQuerier {
            primaries: vec![primary],
            secondaries,
            warnings,
        }))
    }
}

/// One querier over several, all primary: an error from any of them is an error. This is
/// how a store made of parts (a TSDB's head and blocks) presents one view; series with
/// equal labels are merged, the earlier querier winning timestamp ties.
pub fn merge_queriers<'a>(queriers: Vec<Box<dyn Querier + 'a>>) -> Box<dyn Querier + 'a> {
    Box::new(MergeQuerier {
        primaries: queriers,
        secondaries: Vec::new(),
        warnings: Vec::new(),
    })
}

/// A querier over the queriers of a [`MergeQueryable`].
struct MergeQuerier<'a> {
    primaries: Vec<Box<dyn Querier + 'a>>,
    secondaries: Vec<Box<dyn Querier + 'a>>,
    warnings: Vec<String>,
}

impl Querier for MergeQuerier<'_> {
    fn select<'q>(
        &'q self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'q> + 'q> {
        if self.primaries.len() == 1 && self.secondaries.is_empty() && self.warnings.is_empty() {
            return self.primaries[0].select(sorted, hints, matchers);
        }
        // Merging needs every input sorted; the output is then sorted too.
        let mut inputs: Vec<Input<'q>> = self
            .primaries
            .iter()
            .map(|p| Input {
                set: p.select(true, hints, matchers),
                primary: true,
                head: None,
            })
            .collect();
        for s in &self.secondaries {
            inputs.push(Input {
                set: s.select(true, hints, matchers),
                primary: false,
                head: None,
            });
        }
        Box::new(MergeSeriesSet {
            inputs,
            started: false,
            failed: false,
            warnings: self.warnings.clone(),
        })
    }

    fn label_values(
        &self,
        name: &str,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> Result<Vec<String>> {
        self.union(hints, |q| q.label_values(name, hints, matchers))
    }

    fn label_names(&self, hints: Option<&LabelHints>, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.union(hints, |q| q.label_names(hints, matchers))
    }
}

impl MergeQuerier<'_> {
    /// The sorted union of a string query over every querier. A secondary that fails is
    /// left out; the failure shows as a warning on selections, which is where Prometheus's
    /// API reports it too.
    fn union(
        &self,
        hints: Option<&LabelHints>,
        query: impl Fn(&dyn Querier) -> Result<Vec<String>>,
    ) -> Result<Vec<String>> {
        let mut all = Vec::new();
        for p in &self.primaries {
            all.extend(query(&**p)?);
        }
        for s in &self.secondaries {
            if let Ok(more) = query(&**s) {
                all.extend(more);
            }
        }
        all.sort_unstable();
        all.dedup();
        if let Some(h) = hints.filter(|h| h.limit > 0) {
            all.truncate(h.limit);
        }
        Ok(all)
    }
}

struct Input<'q> {
    set: Box<dyn SeriesSet<'q> + 'q>,
    primary: bool,
    head: Option<Box<dyn Series + 'q>>,
}

/// Merges sorted series sets by labels.
struct MergeSeriesSet<'q> {
    inputs: Vec<Input<'q>>,
    started: bool,
    failed: bool,
    warnings: Vec<String>,
}

impl MergeSeriesSet<'_> {
    /// Pulls the next series of input `i` into its head; a secondary's error becomes a
    /// warning and retires that input.
    fn advance(&mut self, i: usize) -> Result<()> {
        let input = &mut self.inputs[i];
        match input.set.next() {
            None => {
                input.head = None;
                self.warnings.extend(input.set.warnings());
            }
            Some(Ok(s)) => input.head = Some(s),
            Some(Err(e)) if input.primary => return Err(e),
            Some(Err(e)) => {
                input.head = None;
                self.warnings.push(e.to_string());
            }
        }
        Ok(())
    }
}

impl<'q> Iterator for MergeSeriesSet<'q> {
    type Item = Result<Box<dyn Series + 'q>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if !self.started {
            self.started = true;
            for i in 0..self.inputs.len() {
                if let Err(e) = self.advance(i) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        let min = self
            .inputs
            .iter()
            .filter_map(|i| i.head.as_ref().map(|s| s.labels()))
            .min()?
            .clone();
        // A series usually comes from one input alone: passed on without a `Vec`.
        let mut first = None;
        let mut more = Vec::new();
        for i in 0..self.inputs.len() {
            if self.inputs[i]
                .head
                .as_ref()
                .is_some_and(|s| *s.labels() == min)
            {
                let s = self.inputs[i].head.take();
                if first.is_none() {
                    first = s;
                } else {
                    more.extend(s);
                }
                if let Err(e) = self.advance(i) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        let first = first?;
        if more.is_empty() {
            return Some(Ok(first));
        }
        more.insert(0, first);
        Some(Ok(Box::new(MergedSeries {
            labels: min,
            parts: more,
        })))
    }
}

impl<'q> SeriesSet<'q> for MergeSeriesSet<'q> {
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

/// Series with the same labels from several stores, seen as one.
struct MergedSeries<'q> {
    labels: Labels,
    parts: Vec<Box<dyn Series + 'q>>,
}

impl Series for MergedSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn samples(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(ChainIterator::new(
            self.parts.iter().map(|p| p.samples()).collect(),
        ))
    }
}

/// Merges sample iterators by timestamp; at equal timestamps the earliest iterator wins
/// and the others' samples are skipped.
///
/// Each input's current timestamp is cached, so choosing the next sample compares
/// integers instead of calling every input (a query over many blocks chains one
/// iterator per block for each series).
pub struct ChainIterator<'a> {
    its: Vec<Box<dyn SampleIterator + 'a>>,
    heads: Vec<ValueType>,
    /// The current timestamp of each input whose head is not `None`.
    ts: Vec<i64>,
    cur: Option<usize>,
    started: bool,
}

impl<'a> ChainIterator<'a> {
    /// Merges `its`, which are listed in order of precedence.
    pub fn new(its: Vec<Box<dyn SampleIterator + 'a>>) -> Self {
        let heads = vec![ValueType::None; its.len()];
        let ts = vec![i64::MAX; its.len()];
        ChainIterator {
            its,
            heads,
            ts,
            cur: None,
            started: false,
        }
    }

    /// Records input `i`'s new head.
    fn set_head(&mut self, i: usize, vt: ValueType) {
        self.heads[i] = vt;
        if vt != ValueType::None {
            self.ts[i] = self.its[i].at_t();
        }
    }

    fn choose(&mut self) -> ValueType {
        self.cur = None;
        let mut best = i64::MAX;
        for (i, h) in self.heads.iter().enumerate() {
            if *h != ValueType::None && (self.cur.is_none() || self.ts[i] < best) {
                best = self.ts[i];
                self.cur = Some(i);
            }
        }
        self.cur.map_or(ValueType::None, |i| self.heads[i])
    }

    fn current(&self) -> &dyn SampleIterator {
        let i = self
            .cur
            .expect("SampleIterator accessor called without a current sample");
        &*self.its[i]
    }
}

impl SampleIterator for ChainIterator<'_> {
    fn next(&mut self) -> ValueType {
        if self.started {
            let Some(c) = self.cur else {
                return ValueType::None;
            };
            let t = self.ts[c];
            for i in 0..self.its.len() {
                if self.heads[i] != ValueType::None && self.ts[i] == t {
                    let vt = self.its[i].next();
                    self.set_head(i, vt);
                }
            }
        } else {
            self.started = true;
            for i in 0..self.its.len() {
                let vt = self.its[i].next();
                self.set_head(i, vt);
            }
        }
        self.choose()
    }

    fn seek(&mut self, t: i64) -> ValueType {
        if self.started {
            match self.cur {
                None => return ValueType::None,
                Some(c) if self.ts[c] >= t => return self.heads[c],
                Some(_) => {}
            }
            for i in 0..self.its.len() {
                if self.heads[i] != ValueType::None && self.ts[i] < t {
                    let vt = self.its[i].seek(t);
                    self.set_head(i, vt);
                }
            }
        } else {
            self.started = true;
            for i in 0..self.its.len() {
                let vt = self.its[i].seek(t);
                self.set_head(i, vt);
            }
        }
        self.choose()
    }

    fn read_floats(&mut self, maxt: i64, out: &mut Vec<FPoint>) -> ValueType {
        while let Some(c) = self.cur {
            if self.heads[c] != ValueType::Float || self.ts[c] > maxt {
                return self.heads[c];
            }
            // Until the next sample of another input, the current input alone is the
            // merged stream, so it can read its run itself.
            let mut limit = maxt;
            for (i, h) in self.heads.iter().enumerate() {
                if i != c && *h != ValueType::None {
                    limit = limit.min(self.ts[i].saturating_sub(1));
                }
            }
            if limit >= self.ts[c] {
                let vt = self.its[c].read_floats(limit, out);
                self.set_head(c, vt);
                self.choose();
            } else {
                // Another input has a sample at the same time: take this one, skip both.
                let (t, f) = self.its[c].at();
                out.push(FPoint { t, f });
                self.next();
            }
        }
        ValueType::None
    }

    /// Each input's own last sample in the window; the newest wins, and of equal
    /// timestamps the input listed first (as in [`SampleIterator::next`]).
    fn last_in(&mut self, mint: i64, maxt: i64) -> Option<LastSample> {
        let mut best: Option<LastSample> = None;
        for i in 0..self.its.len() {
            if self.started && self.heads[i] == ValueType::None {
                continue;
            }
            if let Some(l) = self.its[i].last_in(mint, maxt)
                && best.as_ref().is_none_or(|b| l.t() > b.t())
            {
                best = Some(l);
            }
        }
        // Spent: the inputs are past the window.
        self.started = true;
        self.cur = None;
        self.heads.fill(ValueType::None);
        best
    }

    fn at(&self) -> (i64, f64) {
        self.current().at()
    }

    fn at_histogram(&self) -> (i64, &Histogram) {
        self.current().at_histogram()
    }

    fn at_float_histogram(&self) -> (i64, Cow<'_, FloatHistogram>) {
        self.current().at_float_histogram()
    }

    fn at_t(&self) -> i64 {
        let i = self
            .cur
            .expect("SampleIterator accessor called without a current sample");
        self.ts[i]
    }

    fn at_st(&self) -> i64 {
        self.current().at_st()
    }

    fn err(&self) -> Option<&crate::Error> {
        self.its.iter().find_map(|i| i.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::{ListSeriesSet, Sample, SampleSeries, collect_samples};
    use crate::traits::{Appendable, SeriesRef};
    use crate::{Error, MemStore};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn store(data: &BTreeMap<(u8, i64), f64>) -> Arc<MemStore> {
        let s = MemStore::new();
        let mut app = s.appender();
        for (&(series, t), &v) in data {
            let l = Labels::from_pairs([("__name__", "m"), ("s", &series.to_string())]);
            app.append(SeriesRef::NONE, &l, t, v).unwrap();
        }
        app.commit().unwrap();
        Arc::new(s)
    }

    type Read = Vec<(Labels, Vec<(i64, f64)>)>;

    fn read(q: &dyn Queryable) -> (Read, Vec<String>) {
        let q = q.querier(i64::MIN, i64::MAX).unwrap();
        let mut set = q.select(true, None, &[Matcher::equal("__name__", "m")]);
        let mut out = Vec::new();
        for s in set.by_ref() {
            let s = s.unwrap();
            let samples = collect_samples(&*s)
                .into_iter()
                .map(|x| match x.value {
                    crate::SampleValue::Float(v) => (x.t, v),
                    _ => unreachable!(),
                })
                .collect();
            out.push((s.labels().clone(), samples));
        }
        (out, set.warnings())
    }

    proptest! {
        /// Merging stores equals one store holding the union, earlier stores winning ties.
        #[test]
        fn merge_equals_union(
            a in proptest::collection::btree_map((0u8..4, 0i64..40), 0.0f64..10.0, 0..60),
            b in proptest::collection::btree_map((0u8..4, 0i64..40), 10.0f64..20.0, 0..60),
        ) {
            let mut union = b.clone();
            union.extend(a.iter().map(|(k, v)| (*k, *v)));
            let merged = MergeQueryable::new(store(&a), vec![store(&b)]);
            prop_assert_eq!(read(&merged).0, read(&*store(&union)).0);
        }
    }

    /// Reads a whole stream, in bulk where positioned at a float, with `maxt` cutting each
    /// bulk read at most `cut` past the current sample; histograms are read one by one.
    fn read_bulk(it: &mut dyn SampleIterator, cut: i64) -> Vec<(i64, Option<f64>)> {
        let mut out = Vec::new();
        let mut vt = it.next();
        loop {
            match vt {
                ValueType::None => return out,
                ValueType::Float => {
                    let mut run = Vec::new();
                    vt = it.read_floats(it.at_t() + cut, &mut run);
                    assert!(!run.is_empty(), "a bulk read takes the current sample");
                    out.extend(run.iter().map(|p| (p.t, Some(p.f))));
                }
                _ => {
                    out.push((it.at_t(), None));
                    vt = it.next();
                }
            }
        }
    }

    fn read_one_by_one(it: &mut dyn SampleIterator) -> Vec<(i64, Option<f64>)> {
        let mut out = Vec::new();
        loop {
            match it.next() {
                ValueType::None => return out,
                ValueType::Float => out.push((it.at().0, Some(it.at().1))),
                _ => out.push((it.at_t(), None)),
            }
        }
    }

    fn mixed_series(ts: &[(i64, bool)]) -> SampleSeries {
        series_of(ts, |t| t as f64)
    }

    /// Series `b` of [`mixed_series`] with negated float values, to tell its samples
    /// from `a`'s at equal timestamps.
    fn negated(ts: &[(i64, bool)]) -> SampleSeries {
        series_of(ts, |t| -(t as f64) - 0.5)
    }

    /// Floats valued `value(t)` where `ts` says float, empty float histograms elsewhere.
    fn series_of(ts: &[(i64, bool)], value: impl Fn(i64) -> f64) -> SampleSeries {
        let samples = ts
            .iter()
            .map(|&(t, hist)| {
                if hist {
                    Sample::new(
                        t,
                        crate::SampleValue::FloatHistogram(Arc::new(FloatHistogram::default())),
                    )
                } else {
                    Sample::float(t, value(t))
                }
            })
            .collect();
        SampleSeries::new(Labels::empty(), samples)
    }

    proptest! {
        /// A merge's `last_in` is the last sample of the merged stream in the window
        /// (the first input winning ties), also after an earlier seek.
        #[test]
        fn last_in_is_the_merged_streams_last(
            a in proptest::collection::btree_map(0i64..60, proptest::bool::weighted(0.2), 0..40),
            b in proptest::collection::btree_map(0i64..60, proptest::bool::weighted(0.2), 0..40),
            mint in -5i64..65,
            width in 0i64..40,
            before in proptest::option::of(0i64..10),
        ) {
            let a: Vec<_> = a.into_iter().collect();
            let b: Vec<_> = b.into_iter().collect();
            let (sa, sb) = (mixed_series(&a), negated(&b));
            let chain = || ChainIterator::new(vec![sa.samples(), sb.samples()]);
            let maxt = mint + width;
            let mut all = Vec::new();
            let mut it = chain();
            loop {
                match it.next() {
                    ValueType::None => break,
                    ValueType::Float => {
                        let (t, f) = it.at();
                        all.push(LastSample::Float(FPoint { t, f }));
                    }
                    _ => {
                        let (t, h) = it.at_float_histogram();
                        all.push(LastSample::Histogram(t, Arc::new(h.into_owned())));
                    }
                }
            }
            let want = all.into_iter().rfind(|s| s.t() >= mint && s.t() <= maxt);
            let mut it = chain();
            if let Some(k) = before {
                it.seek(mint - k);
            }
            prop_assert_eq!(it.last_in(mint, maxt), want);
        }

        /// Bulk float reads of a merge (and of its slice-backed inputs) yield the same
        /// samples as reading one by one.
        #[test]
        fn bulk_reads_equal_single_reads(
            a in proptest::collection::btree_map(0i64..60, proptest::bool::weighted(0.1), 0..40),
            b in proptest::collection::btree_map(0i64..60, proptest::bool::weighted(0.1), 0..40),
            cut in 0i64..20,
        ) {
            let a: Vec<_> = a.into_iter().collect();
            let b: Vec<_> = b.into_iter().collect();
            let (sa, sb) = (mixed_series(&a), mixed_series(&b));
            let chain = || ChainIterator::new(vec![sa.samples(), sb.samples()]);
            prop_assert_eq!(read_bulk(&mut chain(), cut), read_one_by_one(&mut chain()));
            prop_assert_eq!(
                read_bulk(&mut *sa.samples(), cut),
                read_one_by_one(&mut *sa.samples())
            );
        }
    }

    struct Failing;
    struct FailingQuerier;

    impl Queryable for Failing {
        fn querier(&self, _: i64, _: i64) -> Result<Box<dyn Querier + '_>> {
            Ok(Box::new(FailingQuerier))
        }
    }

    impl Querier for FailingQuerier {
        fn select<'q>(
            &'q self,
            _: bool,
            _: Option<&SelectHints>,
            _: &[Matcher],
        ) -> Box<dyn SeriesSet<'q> + 'q> {
            let ok = SampleSeries::new(
                Labels::from_pairs([("__name__", "m"), ("s", "9")]),
                vec![Sample::float(1, 1.0)],
            );
            Box::new(Chain(ListSeriesSet::new(vec![ok]), Some(Error::Closed)))
        }
        fn label_values(
            &self,
            _: &str,
            _: Option<&LabelHints>,
            _: &[Matcher],
        ) -> Result<Vec<String>> {
            Err(Error::Closed)
        }
        fn label_names(&self, _: Option<&LabelHints>, _: &[Matcher]) -> Result<Vec<String>> {
            Err(Error::Closed)
        }
    }

    /// Yields a list, then an error.
    struct Chain<'q>(ListSeriesSet<'q, SampleSeries>, Option<Error>);

    impl<'q> Iterator for Chain<'q> {
        type Item = Result<Box<dyn Series + 'q>>;
        fn next(&mut self) -> Option<Self::Item> {
            self.0.next().or_else(|| self.1.take().map(Err))
        }
    }

    impl<'q> SeriesSet<'q> for Chain<'q> {}

    #[test]
    fn failing_secondary_is_a_warning() {
        let mut data = BTreeMap::new();
        data.insert((1, 5), 1.0);
        let merged = MergeQueryable::new(store(&data), vec![Arc::new(Failing)]);
        let (series, warnings) = read(&merged);
        assert_eq!(series.len(), 2);
        assert_eq!(warnings, ["storage is closed"]);
        let q = merged.querier(0, 10).unwrap();
        assert_eq!(q.label_values("s", None, &[]).unwrap(), ["1"]);
    }

    #[test]
    fn failing_primary_is_an_error() {
        let merged = MergeQueryable::new(Arc::new(Failing), vec![store(&BTreeMap::new())]);
        let q = merged.querier(0, 10).unwrap();
        let items: Vec<_> = q.select(true, None, &[]).collect();
        assert!(items.last().unwrap().is_err());
        assert!(q.label_names(None, &[]).is_err());
    }

    #[test]
    fn chain_iterator_seeks() {
        let a = SampleSeries::new(
            Labels::empty(),
            vec![Sample::float(1, 1.0), Sample::float(5, 5.0)],
        );
        let b = SampleSeries::new(
            Labels::empty(),
            vec![
                Sample::float(3, 30.0),
                Sample::float(5, 50.0),
                Sample::float(7, 70.0),
            ],
        );
        let mut it = ChainIterator::new(vec![a.samples(), b.samples()]);
        assert_eq!(it.seek(2), ValueType::Float);
        assert_eq!(it.at(), (3, 30.0));
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at(), (5, 5.0));
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at(), (7, 70.0));
        assert_eq!(it.next(), ValueType::None);
    }
}
