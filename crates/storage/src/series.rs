//! In-memory samples and series: the value types stores hand around, a series backed by
//! shared sample slices, its iterator, and a series set over a list.

use std::borrow::Cow;
use std::sync::Arc;

use promlite_model::{FloatHistogram, Histogram, Labels};

use crate::Result;
use crate::traits::{SampleIterator, Series, SeriesSet, ValueType};

/// A sample's value: a float or a native histogram.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    /// A float (possibly the staleness marker).
    Float(f64),
    /// An integer-count native histogram.
    Histogram(Arc<Histogram>),
    /// A float-count native histogram.
    FloatHistogram(Arc<FloatHistogram>),
}

impl SampleValue {
    /// The [`ValueType`] this value reports through an iterator.
    pub fn value_type(&self) -> ValueType {
        match self {
            SampleValue::Float(_) => ValueType::Float,
            SampleValue::Histogram(_) => ValueType::Histogram,
            SampleValue::FloatHistogram(_) => ValueType::FloatHistogram,
        }
    }

    /// Whether two values are the same sample (floats compared by bits, so NaNs and the
    /// staleness marker compare as Prometheus's duplicate check does).
    pub fn same_as(&self, other: &SampleValue) -> bool {
        match (self, other) {
            (SampleValue::Float(a), SampleValue::Float(b)) => a.to_bits() == b.to_bits(),
            _ => self == other,
        }
    }
}

/// A float sample without start time: what [`SampleIterator::read_floats`] reads in bulk
/// (and PromQL's float point).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FPoint {
    /// Milliseconds since the epoch.
    pub t: i64,
    /// The value.
    pub f: f64,
}

/// One timestamped sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Milliseconds since the epoch.
    pub t: i64,
    /// The start time in milliseconds (when the counted interval began), 0 if unknown.
    pub st: i64,
    /// The value.
    pub value: SampleValue,
}

impl Sample {
    /// A sample without a start time.
    pub fn new(t: i64, value: SampleValue) -> Sample {
        Sample { t, st: 0, value }
    }

    /// A float sample.
    pub fn float(t: i64, v: f64) -> Sample {
        Sample::new(t, SampleValue::Float(v))
    }
}

/// A series whose samples live in memory as a list of shared, time-ordered slices,
/// clipped to `[mint, maxt]`.
///
/// Cloning a slice is a reference-count increment, which lets a store hand out a snapshot
/// of a series without copying its samples or holding a lock while the caller reads.
///
/// ```
/// use promlite_model::Labels;
/// use promlite_storage::{Sample, SampleSeries, Series, ValueType};
///
/// let s = SampleSeries::new(Labels::from_pairs([("__name__", "x")]),
///     vec![Sample::float(1, 1.0), Sample::float(2, 2.0), Sample::float(5, 5.0)]);
/// let mut it = s.samples();
/// assert_eq!(it.seek(3), ValueType::Float);
/// assert_eq!(it.at(), (5, 5.0));
/// ```
#[derive(Debug, Clone)]
pub struct SampleSeries {
    labels: Labels,
    parts: Vec<Arc<[Sample]>>,
    mint: i64,
    maxt: i64,
}

impl SampleSeries {
    /// A series over one list of samples (which must be in timestamp order).
    pub fn new(labels: Labels, samples: Vec<Sample>) -> SampleSeries {
        SampleSeries::from_parts(labels, vec![samples.into()], i64::MIN, i64::MAX)
    }

    /// A series over several time-ordered slices, each later than the one before, of which
    /// only samples in `[mint, maxt]` are visible.
    pub fn from_parts(
        labels: Labels,
        parts: Vec<Arc<[Sample]>>,
        mint: i64,
        maxt: i64,
    ) -> SampleSeries {
        SampleSeries {
            labels,
            parts,
            mint,
            maxt,
        }
    }
}

impl Series for SampleSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn samples(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(SliceIter {
            parts: &self.parts,
            part: 0,
            idx: 0,
            started: false,
            cur: None,
            mint: self.mint,
            maxt: self.maxt,
        })
    }
}

/// Iterator over [`SampleSeries`] parts.
struct SliceIter<'a> {
    parts: &'a [Arc<[Sample]>],
    part: usize,
    idx: usize,
    started: bool,
    cur: Option<&'a Sample>,
    mint: i64,
    maxt: i64,
}

impl<'a> SliceIter<'a> {
    /// Positions on `(part, idx)` or the next existing sample after it, applying `maxt`.
    fn settle(&mut self) -> ValueType {
        while self.part < self.parts.len() && self.idx >= self.parts[self.part].len() {
            self.part += 1;
            self.idx = 0;
        }
        self.cur = self
            .parts
            .get(self.part)
            .and_then(|p| p.get(self.idx))
            .filter(|s| s.t <= self.maxt);
        self.cur.map_or(ValueType::None, |s| s.value.value_type())
    }

    fn current(&self) -> &'a Sample {
        self.cur
            .expect("SampleIterator accessor called without a current sample")
    }
}

impl SampleIterator for SliceIter<'_> {
    fn next(&mut self) -> ValueType {
        if self.started {
            if self.cur.is_none() {
                return ValueType::None;
            }
            self.idx += 1;
            self.settle()
        } else {
            self.seek(self.mint)
        }
    }

    fn seek(&mut self, t: i64) -> ValueType {
        if self.started {
            match self.cur {
                None => return ValueType::None,
                Some(s) if s.t >= t => return s.value.value_type(),
                Some(_) => {}
            }
        }
        self.started = true;
        let t = t.max(self.mint);
        while let Some(p) = self.parts.get(self.part) {
            if p.last().is_some_and(|s| s.t >= t) {
                let from = self.idx;
                self.idx = from + p[from..].partition_point(|s| s.t < t);
                break;
            }
            self.part += 1;
            self.idx = 0;
        }
        self.settle()
    }

    fn read_floats(&mut self, maxt: i64, out: &mut Vec<FPoint>) -> ValueType {
        if self.cur.is_none() {
            return ValueType::None;
        }
        let maxt = maxt.min(self.maxt);
        while let Some(p) = self.parts.get(self.part) {
            let rest = &p[self.idx.min(p.len())..];
            let mut run = 0;
            for s in rest {
                match s.value {
                    SampleValue::Float(f) if s.t <= maxt => out.push(FPoint { t: s.t, f }),
                    _ => break,
                }
                run += 1;
            }
            self.idx += run;
            if run < rest.len() {
                break;
            }
            self.part += 1;
            self.idx = 0;
        }
        self.settle()
    }

    fn at(&self) -> (i64, f64) {
        let s = self.current();
        match s.value {
            SampleValue::Float(v) => (s.t, v),
            _ => panic!("at() called on a histogram sample"),
        }
    }

    fn at_histogram(&self) -> (i64, &Histogram) {
        let s = self.current();
        match &s.value {
            SampleValue::Histogram(h) => (s.t, h),
            _ => panic!("at_histogram() called on a sample that is not an integer histogram"),
        }
    }

    fn at_float_histogram(&self) -> (i64, Cow<'_, FloatHistogram>) {
        let s = self.current();
        match &s.value {
            SampleValue::Histogram(h) => (s.t, Cow::Owned(h.to_float())),
            SampleValue::FloatHistogram(h) => (s.t, Cow::Borrowed(&**h)),
            SampleValue::Float(_) => panic!("at_float_histogram() called on a float sample"),
        }
    }

    fn at_t(&self) -> i64 {
        self.current().t
    }

    fn at_st(&self) -> i64 {
        self.current().st
    }
}

/// A series set over series already in memory.
pub struct ListSeriesSet<'q, S: Series + 'q> {
    items: std::vec::IntoIter<S>,
    warnings: Vec<String>,
    _q: std::marker::PhantomData<&'q ()>,
}

impl<'q, S: Series + 'q> ListSeriesSet<'q, S> {
    /// A set yielding `series` in the order given.
    pub fn new(series: Vec<S>) -> Self {
        ListSeriesSet {
            items: series.into_iter(),
            warnings: Vec::new(),
            _q: std::marker::PhantomData,
        }
    }

    /// The same set, reporting `warnings`.
    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }
}

impl<'q, S: Series + 'q> Iterator for ListSeriesSet<'q, S> {
    type Item = Result<Box<dyn Series + 'q>>;
    fn next(&mut self) -> Option<Self::Item> {
        self.items
            .next()
            .map(|s| Ok(Box::new(s) as Box<dyn Series + 'q>))
    }
}

impl<'q, S: Series + 'q> SeriesSet<'q> for ListSeriesSet<'q, S> {
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

/// Reads every sample of `series` into a vector (for tests and small tools).
pub fn collect_samples(series: &dyn Series) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut it = series.samples();
    loop {
        let value = match it.next() {
            ValueType::None => break,
            ValueType::Float => {
                let (t, v) = it.at();
                out.push(Sample {
                    st: it.at_st(),
                    ..Sample::float(t, v)
                });
                continue;
            }
            ValueType::Histogram => {
                let (t, h) = it.at_histogram();
                (t, SampleValue::Histogram(Arc::new(h.clone())))
            }
            ValueType::FloatHistogram => {
                let (t, h) = it.at_float_histogram();
                (t, SampleValue::FloatHistogram(Arc::new(h.into_owned())))
            }
        };
        out.push(Sample {
            t: value.0,
            st: it.at_st(),
            value: value.1,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(parts: &[&[i64]], mint: i64, maxt: i64) -> SampleSeries {
        let parts = parts
            .iter()
            .map(|p| {
                p.iter()
                    .map(|&t| Sample::float(t, t as f64))
                    .collect::<Vec<_>>()
                    .into()
            })
            .collect();
        SampleSeries::from_parts(Labels::empty(), parts, mint, maxt)
    }

    fn times(s: &SampleSeries) -> Vec<i64> {
        collect_samples(s).iter().map(|s| s.t).collect()
    }

    #[test]
    fn iterates_across_parts_within_bounds() {
        let s = series(&[&[1, 2, 3], &[], &[4, 5], &[6]], 2, 5);
        assert_eq!(times(&s), [2, 3, 4, 5]);
        assert_eq!(times(&series(&[], i64::MIN, i64::MAX)), Vec::<i64>::new());
    }

    #[test]
    fn seek_semantics() {
        let s = series(&[&[1, 2, 3], &[10, 20]], i64::MIN, i64::MAX);
        let mut it = s.samples();
        assert_eq!(it.seek(4), ValueType::Float);
        assert_eq!(it.at_t(), 10);
        // Seeking backwards stays put.
        assert_eq!(it.seek(1), ValueType::Float);
        assert_eq!(it.at_t(), 10);
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at_t(), 20);
        assert_eq!(it.seek(21), ValueType::None);
        assert_eq!(it.next(), ValueType::None);
    }
}
