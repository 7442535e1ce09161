//! The traits at the waist: appending samples and querying series.

use std::borrow::Cow;
use std::sync::Arc;

use promlite_model::{Exemplar, FloatHistogram, Histogram, Labels, Matcher, Metadata};

use crate::Result;
use crate::series::FPoint;

/// A store's handle for a series, returned by appends so the next append to the same
/// series can skip the label lookup. `SeriesRef::NONE` means "unknown, look it up".
///
/// A reference is only meaningful to the store that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct SeriesRef(pub u64);

impl SeriesRef {
    /// The unknown reference.
    pub const NONE: SeriesRef = SeriesRef(0);
}

/// A native-histogram sample to append, in either count representation.
#[derive(Debug, Clone, Copy)]
pub enum HistogramRef<'a> {
    /// Integer counts.
    Int(&'a Histogram),
    /// Float counts.
    Float(&'a FloatHistogram),
}

/// Something samples can be appended to.
pub trait Appendable: Send + Sync {
    /// A new transaction. Nothing it appends is visible to queries before
    /// [`Appender::commit`].
    fn appender(&self) -> Box<dyn Appender + '_>;
}

/// One append transaction. Dropping it without committing rolls it back.
pub trait Appender {
    /// Appends a float sample (which may be the staleness marker) at `t` milliseconds.
    ///
    /// `r` is a reference from an earlier append to the same series, or
    /// [`SeriesRef::NONE`]; `labels` must describe the series either way, since a store may
    /// have dropped the series since the reference was issued.
    fn append(&mut self, r: SeriesRef, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef>;

    /// Appends a float sample with its start time `st` (milliseconds; 0 means unknown): the
    /// time the cumulative count began, or the start of a delta's interval, as OpenTelemetry
    /// and Prometheus's `AppenderV2` carry it. A store that does not keep start times
    /// stores the sample without it (the default).
    fn append_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        st: i64,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef> {
        let _ = st;
        self.append(r, labels, t, v)
    }

    /// Appends a native-histogram sample.
    fn append_histogram(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        t: i64,
        h: HistogramRef<'_>,
    ) -> Result<SeriesRef>;

    /// Appends a native-histogram sample with its start time (see
    /// [`Appender::append_with_st`]).
    fn append_histogram_with_st(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        st: i64,
        t: i64,
        h: HistogramRef<'_>,
    ) -> Result<SeriesRef> {
        let _ = st;
        self.append_histogram(r, labels, t, h)
    }

    /// Attaches an exemplar to a series.
    fn append_exemplar(&mut self, r: SeriesRef, labels: &Labels, e: &Exemplar)
    -> Result<SeriesRef>;

    /// Records the metadata (type, help, unit) of a series' metric family.
    fn update_metadata(&mut self, r: SeriesRef, labels: &Labels, m: &Metadata)
    -> Result<SeriesRef>;

    /// A hint that the next sample is likely for `r`, a reference this store returned
    /// earlier (a scraper knows the order in which a target exposes its series). A store
    /// may start loading what that append will touch, so that the memory latency
    /// overlaps the caller's work; nothing stored changes. The default ignores it.
    fn prefetch(&mut self, r: SeriesRef) {
        let _ = r;
    }

    /// Makes everything appended visible, durably where the store is durable.
    fn commit(self: Box<Self>) -> Result<()>;

    /// Discards everything appended.
    fn rollback(self: Box<Self>) -> Result<()>;
}

/// Something that can be queried over a time range.
pub trait Queryable: Send + Sync {
    /// A querier over samples with timestamps in `[mint, maxt]` (milliseconds, inclusive).
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>>;
}

/// What the caller of [`Querier::select`] will do with the data, so a store can prune.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelectHints {
    /// Start of the range the caller will read, in milliseconds.
    pub start: i64,
    /// End of the range the caller will read, in milliseconds.
    pub end: i64,
    /// Query step in milliseconds (0 for instant queries).
    pub step: i64,
    /// The PromQL function applied to the selection, if any (`"rate"`, `"series"` for
    /// metadata-only selections …).
    pub func: Option<String>,
    /// Range of a range selector in milliseconds (0 for instant selectors).
    pub range: i64,
}

/// Limits for label name and value queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LabelHints {
    /// At most this many results (0: no limit).
    pub limit: usize,
}

/// Reads series from one snapshot of a store.
pub trait Querier {
    /// The series matching all `matchers` (at least one must not match the empty string;
    /// callers check that). With `sorted`, series come in [`Labels`] order.
    fn select<'q>(
        &'q self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'q> + 'q>;

    /// The sorted, distinct values of label `name` among series matching `matchers`
    /// (all series when empty).
    fn label_values(
        &self,
        name: &str,
        hints: Option<&LabelHints>,
        matchers: &[Matcher],
    ) -> Result<Vec<String>>;

    /// The sorted, distinct label names among series matching `matchers`.
    fn label_names(&self, hints: Option<&LabelHints>, matchers: &[Matcher]) -> Result<Vec<String>>;
}

/// A stream of series. Errors end the stream; warnings do not.
pub trait SeriesSet<'q>: Iterator<Item = Result<Box<dyn Series + 'q>>> {
    /// Problems that did not stop the selection (e.g. a secondary store failing).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// One series: its labels and its samples.
pub trait Series {
    /// The series' labels.
    fn labels(&self) -> &Labels;

    /// A fresh iterator over the samples, in timestamp order.
    fn samples(&self) -> Box<dyn SampleIterator + '_>;

    /// The last sample with a timestamp in `[mint, maxt]` ([`SampleIterator::last_in`]
    /// on a fresh iterator), or the error that stopped the read. Stores may override it
    /// to read without a boxed iterator, as an instant query does for every series.
    fn last_in(&self, mint: i64, maxt: i64) -> Result<Option<LastSample>> {
        read_last(&mut *self.samples(), mint, maxt)
    }
}

/// [`SampleIterator::last_in`] on `it`, with its error, if any, as the result. The
/// error is passed on as its message (iterators keep theirs).
pub fn read_last(it: &mut dyn SampleIterator, mint: i64, maxt: i64) -> Result<Option<LastSample>> {
    let last = it.last_in(mint, maxt);
    match it.err() {
        Some(e) => Err(crate::Error::Other(e.to_string().into())),
        None => Ok(last),
    }
}

/// The kind of sample an iterator is positioned at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// Exhausted (or failed: see [`SampleIterator::err`]).
    None,
    /// A float sample: read it with [`SampleIterator::at`].
    Float,
    /// An integer-count native histogram: [`SampleIterator::at_histogram`].
    Histogram,
    /// A float-count native histogram: [`SampleIterator::at_float_histogram`].
    FloatHistogram,
}

/// One sample copied out of a [`SampleIterator`] (see [`SampleIterator::last_in`]).
#[derive(Debug, Clone, PartialEq)]
pub enum LastSample {
    /// A float sample.
    Float(FPoint),
    /// A native histogram at a timestamp, as float counts.
    Histogram(i64, Arc<FloatHistogram>),
}

impl LastSample {
    /// The sample's timestamp.
    pub fn t(&self) -> i64 {
        match self {
            LastSample::Float(p) => p.t,
            LastSample::Histogram(t, _) => *t,
        }
    }
}

/// A cursor over a series' samples in timestamp order (Prometheus's `chunkenc.Iterator`).
///
/// The `at*` accessors may only be called after `next` or `seek` returned the matching
/// [`ValueType`].
pub trait SampleIterator {
    /// Advances to the next sample.
    fn next(&mut self) -> ValueType;

    /// Advances to the first sample with timestamp `>= t`. If the current sample already
    /// qualifies, stays; never moves backwards.
    fn seek(&mut self, t: i64) -> ValueType;

    /// Reads floats in bulk: appends the current sample and the ones after it to `out`
    /// while they are floats with timestamps `<= maxt`, and returns the type of the
    /// sample it stopped on ([`ValueType::Float`] when stopped by `maxt`,
    /// [`ValueType::None`] when exhausted). Call it only when positioned at a float
    /// sample. Start times are not read.
    ///
    /// The default calls [`SampleIterator::at`] and [`SampleIterator::next`] per sample;
    /// stores override it to decode a run of samples without a dynamic call for each,
    /// which is most of the cost of reading a long range through `dyn SampleIterator`.
    fn read_floats(&mut self, maxt: i64, out: &mut Vec<FPoint>) -> ValueType {
        loop {
            let (t, f) = self.at();
            if t > maxt {
                return ValueType::Float;
            }
            out.push(FPoint { t, f });
            match self.next() {
                ValueType::Float => {}
                vt => return vt,
            }
        }
    }

    /// The last sample with a timestamp in `[mint, maxt]`, copied out, or `None` when
    /// there is none: what an instant vector selector needs of a series' lookback window
    /// (Prometheus keeps only the newest sample of the window). Call it on a fresh
    /// iterator or one not yet past `mint` (it seeks there, never backwards); afterwards
    /// the iterator's position is unspecified, and only [`SampleIterator::err`] may be
    /// called. Start times are not read.
    ///
    /// The default seeks to `mint` and steps through the window, copying each sample;
    /// stores override it to decode the window without stopping at every sample and to
    /// skip the chunks before the one that holds the answer.
    fn last_in(&mut self, mint: i64, maxt: i64) -> Option<LastSample> {
        let mut last = None;
        let mut vt = self.seek(mint);
        loop {
            match vt {
                ValueType::None => break,
                ValueType::Float => {
                    let (t, f) = self.at();
                    if t > maxt {
                        break;
                    }
                    last = Some(LastSample::Float(FPoint { t, f }));
                }
                ValueType::Histogram | ValueType::FloatHistogram => {
                    let (t, h) = self.at_float_histogram();
                    if t > maxt {
                        break;
                    }
                    last = Some(LastSample::Histogram(t, Arc::new(h.into_owned())));
                }
            }
            vt = self.next();
        }
        last
    }

    /// The current float sample.
    fn at(&self) -> (i64, f64);

    /// The current integer histogram sample.
    fn at_histogram(&self) -> (i64, &Histogram);

    /// The current histogram as float counts (converted when stored as integers).
    fn at_float_histogram(&self) -> (i64, Cow<'_, FloatHistogram>);

    /// The current timestamp, whatever the sample kind.
    fn at_t(&self) -> i64;

    /// The current sample's start time in milliseconds, or 0 when it is unknown (as
    /// Prometheus's `AtST`). Stores that do not keep start times return 0.
    fn at_st(&self) -> i64 {
        0
    }

    /// The error that ended iteration, if any.
    fn err(&self) -> Option<&crate::Error> {
        None
    }
}
