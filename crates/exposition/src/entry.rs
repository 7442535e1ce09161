//! What the parsers yield: [`Entry`] and the borrowed views inside it, plus the [`Parser`]
//! trait every format implements.

use std::fmt;

use promlite_model::{
    Exemplar, FloatHistogram, Histogram, Label, Labels, LabelsBuilder, METRIC_NAME, MetricType,
};

use crate::error::ParseError;
use crate::negotiate::Format;
use crate::proto;

/// A pull parser over one exposition body.
///
/// `next` lends its entry: the strings inside borrow the input or a scratch buffer the
/// parser reuses for unescaped text, so the entry is valid until the next call. This is
/// the shape of Prometheus's `textparse.Parser`, and it is what lets the hot path run
/// without allocating. Copy out what must outlive the call (e.g. with
/// [`Sample::to_labels`]).
pub trait Parser {
    /// The next entry, `Ok(None)` at the end of a valid input, or the first error. After
    /// an error the parser is done: further calls return `Ok(None)`.
    fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError>;

    /// The format this parser reads.
    fn format(&self) -> Format;
}

/// One item of an exposition: metadata, a comment, or a sample.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'e> {
    /// `# HELP name text`, with the text unescaped.
    Help {
        /// The metric family.
        name: &'e str,
        /// The help text, unescaped.
        help: &'e str,
    },
    /// `# TYPE name type`.
    Type {
        /// The metric family.
        name: &'e str,
        /// The declared type (`untyped` reads as [`MetricType::Unknown`]).
        metric_type: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics and protobuf).
    Unit {
        /// The metric family.
        name: &'e str,
        /// The unit.
        unit: &'e str,
    },
    /// Any other comment line of the text format, without the leading `#` and blanks.
    Comment(&'e str),
    /// A float sample.
    Series(Sample<'e>),
    /// A native histogram sample (protobuf only).
    Histogram(HistogramSample<'e>),
}

/// A float sample, borrowed from the parser.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'e> {
    /// The text that identifies the series in this body: the raw `name{labels}` of the
    /// text formats, a canonical rendering for protobuf. Scrapers key their series cache by
    /// it to skip building [`Labels`] for series they have seen before, as Prometheus does.
    /// Empty for samples built by hand.
    pub series: &'e str,
    /// The metric name, unescaped.
    pub name: &'e str,
    /// The labels other than the metric name, in input order.
    pub labels: LabelPairs<'e>,
    /// The value.
    pub value: f64,
    /// The timestamp in milliseconds, if the input gave one.
    pub timestamp: Option<i64>,
    /// The exemplar, if any (OpenMetrics and protobuf).
    pub exemplar: Option<ExemplarRef<'e>>,
    /// The series' created (start) timestamp in milliseconds, if known: from protobuf, or
    /// from an OpenMetrics `_created` line when the parser is configured to read them.
    pub created: Option<i64>,
}

impl<'e> Sample<'e> {
    /// A sample with no timestamp, exemplar or created time.
    pub fn new(name: &'e str, labels: LabelPairs<'e>, value: f64) -> Sample<'e> {
        Sample {
            series: "",
            name,
            labels,
            value,
            timestamp: None,
            exemplar: None,
            created: None,
        }
    }

    /// The full label set, metric name included, built through a reusable builder so that
    /// the only allocation is the returned [`Labels`].
    pub fn to_labels(&self, b: &mut LabelsBuilder) -> Labels {
        build_labels(b, self.name, self.labels)
    }
}

fn build_labels(b: &mut LabelsBuilder, name: &str, labels: LabelPairs<'_>) -> Labels {
    b.clear();
    b.set(METRIC_NAME, name);
    for l in labels {
        b.set(l.name, l.value);
    }
    b.build()
}

/// A native histogram sample, borrowed from the parser.
#[derive(Debug, Clone, Copy)]
pub struct HistogramSample<'e> {
    /// The series identity, as in [`Sample::series`].
    pub series: &'e str,
    /// The metric name.
    pub name: &'e str,
    /// The labels other than the metric name.
    pub labels: LabelPairs<'e>,
    /// The histogram.
    pub histogram: HistogramRef<'e>,
    /// The timestamp in milliseconds, if given.
    pub timestamp: Option<i64>,
    /// The created (start) timestamp in milliseconds, if given.
    pub created: Option<i64>,
    /// Exemplars attached to the histogram.
    pub exemplars: &'e [Exemplar],
}

impl HistogramSample<'_> {
    /// The full label set, metric name included.
    pub fn to_labels(&self, b: &mut LabelsBuilder) -> Labels {
        build_labels(b, self.name, self.labels)
    }
}

/// A native histogram with integer or float counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HistogramRef<'e> {
    /// Integer counts.
    Int(&'e Histogram),
    /// Float counts.
    Float(&'e FloatHistogram),
}

impl HistogramRef<'_> {
    /// The histogram with float counts (a conversion for [`HistogramRef::Int`]).
    pub fn to_float(&self) -> FloatHistogram {
        match self {
            HistogramRef::Int(h) => h.to_float(),
            HistogramRef::Float(h) => (*h).clone(),
        }
    }
}

/// An exemplar, borrowed from the parser.
#[derive(Debug, Clone, Copy)]
pub struct ExemplarRef<'e> {
    /// The exemplar's labels.
    pub labels: LabelPairs<'e>,
    /// Its value.
    pub value: f64,
    /// Its timestamp in milliseconds, if given.
    pub timestamp: Option<i64>,
}

impl ExemplarRef<'_> {
    /// An owned [`Exemplar`].
    pub fn to_exemplar(&self, b: &mut LabelsBuilder) -> Exemplar {
        b.clear();
        for l in self.labels {
            b.set(l.name, l.value);
        }
        Exemplar {
            labels: b.build(),
            value: self.value,
            timestamp: self.timestamp,
        }
    }
}

/// The labels of a sample or exemplar, as a cheap borrowed view.
///
/// The pairs come in input order and are already validated (unique names, escapes
/// resolved). Iterating costs no allocation.
#[derive(Clone, Copy)]
pub struct LabelPairs<'e> {
    repr: Repr<'e>,
}

#[derive(Clone, Copy)]
enum Repr<'e> {
    Spans {
        input: &'e str,
        scratch: &'e str,
        spans: &'e [PairSpan],
    },
    Slice(&'e [Label<'e>]),
    Proto {
        pairs: &'e [proto::LabelPair],
        extra: Option<Label<'e>>,
    },
}

/// Where a string lives: in the input or in the parser's scratch buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StrSpan {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) scratch: bool,
}

impl StrSpan {
    #[inline]
    pub(crate) fn resolve<'s>(self, input: &'s str, scratch: &'s str) -> &'s str {
        let src = if self.scratch { scratch } else { input };
        // Spans are made by the lexer at character boundaries it found itself, so `get`
        // never fails; it is used instead of indexing to keep this path panic-free.
        src.get(self.start..self.end).unwrap_or("")
    }

    /// The bytes of the span: no character-boundary checks, for comparisons on the hot
    /// path.
    #[inline]
    pub(crate) fn bytes<'s>(self, input: &'s str, scratch: &'s str) -> &'s [u8] {
        let src = if self.scratch { scratch } else { input };
        src.as_bytes().get(self.start..self.end).unwrap_or(&[])
    }

    #[inline]
    pub(crate) fn len(self) -> usize {
        self.end - self.start
    }
}

/// A label pair as two [`StrSpan`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PairSpan {
    pub(crate) name: StrSpan,
    pub(crate) value: StrSpan,
}

impl<'e> LabelPairs<'e> {
    /// No labels.
    pub const EMPTY: LabelPairs<'static> = LabelPairs {
        repr: Repr::Slice(&[]),
    };

    /// A view over pairs held by the caller (for encoding samples built by hand).
    pub fn from_slice(pairs: &'e [Label<'e>]) -> LabelPairs<'e> {
        LabelPairs {
            repr: Repr::Slice(pairs),
        }
    }

    pub(crate) fn spans(input: &'e str, scratch: &'e str, spans: &'e [PairSpan]) -> Self {
        LabelPairs {
            repr: Repr::Spans {
                input,
                scratch,
                spans,
            },
        }
    }

    pub(crate) fn proto(pairs: &'e [proto::LabelPair], extra: Option<Label<'e>>) -> Self {
        LabelPairs {
            repr: Repr::Proto { pairs, extra },
        }
    }

    /// Iterates the pairs.
    pub fn iter(&self) -> LabelPairsIter<'e> {
        LabelPairsIter { pairs: *self, i: 0 }
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        match self.repr {
            Repr::Spans { spans, .. } => spans.len(),
            Repr::Slice(s) => s.len(),
            Repr::Proto { pairs, extra } => pairs.len() + usize::from(extra.is_some()),
        }
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&'e str> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }

    fn at(&self, i: usize) -> Option<Label<'e>> {
        match self.repr {
            Repr::Spans {
                input,
                scratch,
                spans,
            } => spans.get(i).map(|p| Label {
                name: p.name.resolve(input, scratch),
                value: p.value.resolve(input, scratch),
            }),
            Repr::Slice(s) => s.get(i).copied(),
            Repr::Proto { pairs, extra } => match pairs.get(i) {
                Some(p) => Some(Label {
                    name: &p.name,
                    value: &p.value,
                }),
                None if i == pairs.len() => extra,
                None => None,
            },
        }
    }
}

impl fmt::Debug for LabelPairs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|l| (l.name, l.value)))
            .finish()
    }
}

impl<'e> IntoIterator for LabelPairs<'e> {
    type Item = Label<'e>;
    type IntoIter = LabelPairsIter<'e>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'e> IntoIterator for &LabelPairs<'e> {
    type Item = Label<'e>;
    type IntoIter = LabelPairsIter<'e>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over [`LabelPairs`].
#[derive(Clone)]
pub struct LabelPairsIter<'e> {
    pairs: LabelPairs<'e>,
    i: usize,
}

impl<'e> Iterator for LabelPairsIter<'e> {
    type Item = Label<'e>;

    #[inline]
    fn next(&mut self) -> Option<Label<'e>> {
        let l = self.pairs.at(self.i)?;
        self.i += 1;
        Some(l)
    }
}
