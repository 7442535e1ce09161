//! The protobuf exposition format: a parser over length-delimited
//! `io.prometheus.client.MetricFamily` messages and the matching encoder.
//!
//! The parser decodes one family at a time into a message it reuses, and turns it into
//! the same [`Entry`] sequence as the text parsers, in Prometheus's order: HELP, UNIT (when
//! set), TYPE, then the series. Summaries and classic histograms are spread into their
//! `_count`, `_sum`, quantile and `_bucket` series; native histograms become one
//! [`Entry::Histogram`].

use promlite_model::{
    CounterResetHint, Exemplar, FloatHistogram, Histogram, Label, LabelsBuilder, MetricType, Span,
};
use prost::Message;

use crate::entry::{Entry, ExemplarRef, HistogramRef, HistogramSample, LabelPairs, Parser, Sample};
use crate::error::{ErrorKind, ParseError, Position};
use crate::float::write_openmetrics_float;
use crate::negotiate::Format;
use crate::proto;

/// Options of the protobuf parser, after Prometheus's scrape options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtobufOptions {
    /// Also return the classic `_bucket`/`_sum`/`_count` series of histograms that are
    /// native too (`always_scrape_classic_histograms`).
    pub keep_classic_histograms: bool,
    /// Read only the classic form of histograms, ignoring native buckets
    /// (native histograms disabled).
    pub ignore_native_histograms: bool,
}

/// A pull parser over length-delimited `MetricFamily` messages.
///
/// ```
/// use promlite_exposition::{encode_delimited, proto, Entry, ProtobufParser};
///
/// let family = proto::MetricFamily {
///     name: "up".into(),
///     r#type: proto::MetricType::Gauge as i32,
///     metric: vec![proto::Metric { gauge: Some(proto::Gauge { value: 1.0 }), ..Default::default() }],
///     ..Default::default()
/// };
/// let mut body = Vec::new();
/// encode_delimited(&family, &mut body);
/// let mut p = ProtobufParser::new(&body);
/// assert!(matches!(p.next().unwrap(), Some(Entry::Help { name: "up", .. })));
/// assert!(matches!(p.next().unwrap(), Some(Entry::Type { name: "up", .. })));
/// let Some(Entry::Series(s)) = p.next().unwrap() else { panic!() };
/// assert_eq!((s.name, s.value), ("up", 1.0));
/// assert!(p.next().unwrap().is_none());
/// ```
pub struct ProtobufParser<'a> {
    input: &'a [u8],
    pos: usize,
    done: bool,
    family: proto::MetricFamily,
    family_offset: usize,
    mtype: proto::MetricType,
    step: Step,
    options: ProtobufOptions,
    /// The current sample's name and extra label value.
    scratch: String,
    /// The current sample's series key.
    series: String,
    hist: Histogram,
    fhist: FloatHistogram,
    exemplars: Vec<Exemplar>,
    builder: LabelsBuilder,
}

#[derive(Clone, Copy)]
enum Step {
    Family,
    Help,
    Unit,
    Type,
    /// Series `field` of metric `idx`: −3 the native histogram or the single value, −2 the
    /// `_count`, −1 the `_sum`, 0… quantiles or buckets.
    Metric {
        idx: usize,
        field: isize,
    },
}

enum Tok {
    Help,
    Unit,
    Type,
    Sample {
        idx: usize,
        name_end: usize,
        extra: Option<(&'static str, usize)>,
        value: f64,
        exemplar: ExSrc,
        created: Option<i64>,
    },
    Histogram {
        idx: usize,
        float: bool,
    },
}

#[derive(Clone, Copy)]
enum ExSrc {
    None,
    Counter,
    Bucket(usize),
}

fn is_native(h: &proto::Histogram) -> bool {
    !h.positive_span.is_empty()
        || !h.negative_span.is_empty()
        || h.zero_threshold > 0.0
        || h.zero_count > 0
}

fn ts_ms(t: Option<&proto::Timestamp>) -> Option<i64> {
    t.map(|t| t.to_millis())
}

fn spans(s: &[proto::BucketSpan]) -> impl Iterator<Item = Span> + '_ {
    s.iter().map(|s| Span {
        offset: s.offset,
        length: s.length,
    })
}

impl<'a> ProtobufParser<'a> {
    /// A parser over `input` with default options.
    pub fn new(input: &'a [u8]) -> Self {
        Self::with_options(input, ProtobufOptions::default())
    }

    /// A parser with `options`.
    pub fn with_options(input: &'a [u8], options: ProtobufOptions) -> Self {
        ProtobufParser {
            input,
            pos: 0,
            done: false,
            family: proto::MetricFamily::default(),
            family_offset: 0,
            mtype: proto::MetricType::Untyped,
            step: Step::Family,
            options,
            scratch: String::new(),
            series: String::new(),
            hist: Histogram::default(),
            fhist: FloatHistogram::default(),
            exemplars: Vec::new(),
            builder: LabelsBuilder::new(),
        }
    }

    /// The next entry; see [`Parser::next`].
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError> {
        if self.done {
            return Ok(None);
        }
        match self.advance() {
            Ok(Some(t)) => Ok(Some(self.resolve(t))),
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    fn err(&self, kind: ErrorKind) -> ParseError {
        ParseError::new(Position::in_binary(self.family_offset), kind)
    }

    /// Decodes the next non-empty family; false at the end of the input.
    fn decode_family(&mut self) -> Result<bool, ParseError> {
        loop {
            if self.pos >= self.input.len() {
                return Ok(false);
            }
            self.family_offset = self.pos;
            let mut rest = self.input.get(self.pos..).unwrap_or(&[]);
            let before = rest.len();
            let len = prost::encoding::decode_varint(&mut rest)
                .map_err(|e| self.err(ErrorKind::Protobuf(e.to_string())))?;
            let header = before - rest.len();
            let Some(msg) = usize::try_from(len).ok().and_then(|l| rest.get(..l)) else {
                return Err(self.err(ErrorKind::Protobuf(format!(
                    "message length {len} exceeds the {} bytes left",
                    rest.len()
                ))));
            };
            self.family.clear();
            self.family
                .merge(msg)
                .map_err(|e| self.err(ErrorKind::Protobuf(e.to_string())))?;
            self.pos += header + msg.len();
            if self.family.metric.is_empty() {
                continue;
            }
            if self.family.name.is_empty() {
                return Err(self.err(ErrorKind::InvalidMetricName(String::new())));
            }
            self.mtype = proto::MetricType::try_from(self.family.r#type).map_err(|_| {
                self.err(ErrorKind::UnknownProtobufType {
                    name: self.family.name.clone(),
                    number: self.family.r#type,
                })
            })?;
            return Ok(true);
        }
    }

    // The short names (`m`, `h`, `s`, `f`, `b`) follow the proto's own terse vocabulary.
    #[allow(clippy::many_single_char_names)]
    fn advance(&mut self) -> Result<Option<Tok>, ParseError> {
        use proto::MetricType as T;
        loop {
            match self.step {
                Step::Family => {
                    if !self.decode_family()? {
                        return Ok(None);
                    }
                    self.step = Step::Help;
                }
                Step::Help => {
                    self.step = if self.family.unit.is_empty() {
                        Step::Type
                    } else {
                        Step::Unit
                    };
                    return Ok(Some(Tok::Help));
                }
                Step::Unit => {
                    self.step = Step::Type;
                    return Ok(Some(Tok::Unit));
                }
                Step::Type => {
                    self.step = Step::Metric { idx: 0, field: -3 };
                    return Ok(Some(Tok::Type));
                }
                Step::Metric { idx, field } => {
                    let Some(m) = self.family.metric.get(idx) else {
                        self.step = Step::Family;
                        continue;
                    };
                    let next_metric = Step::Metric {
                        idx: idx + 1,
                        field: -3,
                    };
                    let next_field = Step::Metric {
                        idx,
                        field: field + 1,
                    };
                    match self.mtype {
                        T::Counter | T::Gauge | T::Untyped => {
                            self.step = next_metric;
                            let (value, exemplar, created) = match self.mtype {
                                T::Counter => {
                                    let c = m.counter.as_ref();
                                    (
                                        c.map_or(0.0, |c| c.value),
                                        if c.is_some_and(|c| c.exemplar.is_some()) {
                                            ExSrc::Counter
                                        } else {
                                            ExSrc::None
                                        },
                                        ts_ms(c.and_then(|c| c.created_timestamp.as_ref())),
                                    )
                                }
                                T::Gauge => (m.gauge.map_or(0.0, |g| g.value), ExSrc::None, None),
                                _ => (m.untyped.map_or(0.0, |u| u.value), ExSrc::None, None),
                            };
                            return Ok(Some(self.sample(idx, "", None, value, exemplar, created)));
                        }
                        T::Summary => {
                            let empty = proto::Summary::default();
                            let s = m.summary.as_ref().unwrap_or(&empty);
                            let created = ts_ms(s.created_timestamp.as_ref());
                            let tok = match field {
                                -3 | -2 => {
                                    self.step = Step::Metric { idx, field: -1 };
                                    let count = s.sample_count as f64;
                                    self.sample(idx, "_count", None, count, ExSrc::None, created)
                                }
                                -1 => {
                                    self.step = next_field;
                                    let sum = s.sample_sum;
                                    self.sample(idx, "_sum", None, sum, ExSrc::None, created)
                                }
                                f => {
                                    let Some(q) = s.quantile.get(f as usize).copied() else {
                                        self.step = next_metric;
                                        continue;
                                    };
                                    self.step = next_field;
                                    self.sample(
                                        idx,
                                        "",
                                        Some(("quantile", q.quantile)),
                                        q.value,
                                        ExSrc::None,
                                        created,
                                    )
                                }
                            };
                            return Ok(Some(tok));
                        }
                        T::Histogram | T::GaugeHistogram => {
                            let empty = proto::Histogram::default();
                            let h = m.histogram.as_ref().unwrap_or(&empty);
                            let native = !self.options.ignore_native_histograms && is_native(h);
                            let created = ts_ms(h.created_timestamp.as_ref());
                            let count = if h.sample_count_float > 0.0 {
                                h.sample_count_float
                            } else {
                                h.sample_count as f64
                            };
                            let tok = match field {
                                -3 if native => {
                                    let classic = self.options.keep_classic_histograms
                                        && !h.bucket.is_empty();
                                    self.step = if classic {
                                        Step::Metric { idx, field: -2 }
                                    } else {
                                        next_metric
                                    };
                                    self.native(idx)?
                                }
                                -3 | -2 => {
                                    self.step = Step::Metric { idx, field: -1 };
                                    self.sample(idx, "_count", None, count, ExSrc::None, created)
                                }
                                -1 => {
                                    self.step = next_field;
                                    let sum = h.sample_sum;
                                    self.sample(idx, "_sum", None, sum, ExSrc::None, created)
                                }
                                f => {
                                    let f = f as usize;
                                    if let Some(b) = h.bucket.get(f) {
                                        {
                                            // The +Inf bucket is optional in the message; it is
                                            // added when the last bucket is finite.
                                            let inf = b.upper_bound == f64::INFINITY;
                                            self.step = if inf { next_metric } else { next_field };
                                            let v = if b.cumulative_count_float > 0.0 {
                                                b.cumulative_count_float
                                            } else {
                                                b.cumulative_count as f64
                                            };
                                            let ex = if b.exemplar.is_some() {
                                                ExSrc::Bucket(f)
                                            } else {
                                                ExSrc::None
                                            };
                                            let ub = b.upper_bound;
                                            self.sample(
                                                idx,
                                                "_bucket",
                                                Some(("le", ub)),
                                                v,
                                                ex,
                                                created,
                                            )
                                        }
                                    } else {
                                        {
                                            self.step = next_metric;
                                            self.sample(
                                                idx,
                                                "_bucket",
                                                Some(("le", f64::INFINITY)),
                                                count,
                                                ExSrc::None,
                                                created,
                                            )
                                        }
                                    }
                                }
                            };
                            return Ok(Some(tok));
                        }
                    }
                }
            }
        }
    }

    /// Builds a float sample's name, extra label and series key in the scratch buffer.
    fn sample(
        &mut self,
        idx: usize,
        suffix: &str,
        extra: Option<(&'static str, f64)>,
        value: f64,
        exemplar: ExSrc,
        created: Option<i64>,
    ) -> Tok {
        self.scratch.clear();
        self.scratch.push_str(&self.family.name);
        self.scratch.push_str(suffix);
        let name_end = self.scratch.len();
        let extra = extra.map(|(n, v)| {
            write_openmetrics_float(&mut self.scratch, v);
            (n, name_end)
        });
        Tok::Sample {
            idx,
            name_end,
            extra,
            value,
            exemplar,
            created,
        }
    }

    /// Converts metric `idx`'s native histogram into `self.hist` or `self.fhist`.
    fn native(&mut self, idx: usize) -> Result<Tok, ParseError> {
        let Some(h) = self
            .family
            .metric
            .get(idx)
            .and_then(|m| m.histogram.as_ref())
        else {
            return Err(self.err(ErrorKind::Protobuf("histogram missing".into())));
        };
        let float = h.sample_count_float > 0.0 || h.zero_count_float > 0.0;
        let (np, nn) = if float {
            (h.positive_count.len(), h.negative_count.len())
        } else {
            (h.positive_delta.len(), h.negative_delta.len())
        };
        for (side, sp, have) in [
            ("positive", &h.positive_span, np),
            ("negative", &h.negative_span, nn),
        ] {
            let want: u64 = sp.iter().map(|s| u64::from(s.length)).sum();
            if want != have as u64 {
                return Err(self.err(ErrorKind::InconsistentHistogram {
                    name: self.family.name.clone(),
                    side,
                    want,
                    have,
                }));
            }
        }
        let hint = if self.mtype == proto::MetricType::GaugeHistogram {
            CounterResetHint::Gauge
        } else {
            CounterResetHint::Unknown
        };
        if float {
            let f = &mut self.fhist;
            f.counter_reset_hint = hint;
            f.schema = h.schema;
            f.zero_threshold = h.zero_threshold;
            f.zero_count = if h.zero_count_float > 0.0 {
                h.zero_count_float
            } else {
                h.zero_count as f64
            };
            f.count = h.sample_count_float;
            f.sum = h.sample_sum;
            f.positive_spans.clear();
            f.positive_spans.extend(spans(&h.positive_span));
            f.negative_spans.clear();
            f.negative_spans.extend(spans(&h.negative_span));
            f.positive_buckets.clone_from(&h.positive_count);
            f.negative_buckets.clone_from(&h.negative_count);
            f.custom_values.clear();
        } else {
            let i = &mut self.hist;
            i.counter_reset_hint = hint;
            i.schema = h.schema;
            i.zero_threshold = h.zero_threshold;
            i.zero_count = h.zero_count;
            i.count = h.sample_count;
            i.sum = h.sample_sum;
            i.positive_spans.clear();
            i.positive_spans.extend(spans(&h.positive_span));
            i.negative_spans.clear();
            i.negative_spans.extend(spans(&h.negative_span));
            i.positive_buckets.clone_from(&h.positive_delta);
            i.negative_buckets.clone_from(&h.negative_delta);
            i.custom_values.clear();
        }
        // Exemplars: the histogram's own, or else those of its classic buckets, as
        // Prometheus reads them.
        self.exemplars.clear();
        let own: Vec<&proto::Exemplar> = if h.exemplars.is_empty() {
            h.bucket
                .iter()
                .filter_map(|b| b.exemplar.as_ref())
                .collect()
        } else {
            h.exemplars.iter().collect()
        };
        for e in own {
            let r = ExemplarRef {
                labels: LabelPairs::proto(&e.label, None),
                value: e.value,
                timestamp: ts_ms(e.timestamp.as_ref()),
            };
            self.exemplars.push(r.to_exemplar(&mut self.builder));
        }
        self.scratch.clear();
        Ok(Tok::Histogram { idx, float })
    }

    #[allow(clippy::needless_pass_by_value)] // `Tok` is a small token consumed by intent.
    fn resolve(&mut self, tok: Tok) -> Entry<'_> {
        // The series key: name, then each label pair, NUL-separated. Input order is kept;
        // it is stable for one target, which is all a scrape cache needs.
        if let Tok::Sample { idx, .. } | Tok::Histogram { idx, .. } = tok {
            self.series.clear();
            match &tok {
                Tok::Sample { name_end, .. } => self
                    .series
                    .push_str(self.scratch.get(..*name_end).unwrap_or("")),
                _ => self.series.push_str(&self.family.name),
            }
            if let Some(m) = self.family.metric.get(idx) {
                for l in &m.label {
                    self.series.push('\u{0}');
                    self.series.push_str(&l.name);
                    self.series.push('\u{0}');
                    self.series.push_str(&l.value);
                }
            }
            if let Tok::Sample {
                extra: Some((n, start)),
                ..
            } = &tok
            {
                self.series.push('\u{0}');
                self.series.push_str(n);
                self.series.push('\u{0}');
                self.series
                    .push_str(self.scratch.get(*start..).unwrap_or(""));
            }
        }
        let fam = &self.family;
        match tok {
            Tok::Help => Entry::Help {
                name: &fam.name,
                help: &fam.help,
            },
            Tok::Unit => Entry::Unit {
                name: &fam.name,
                unit: &fam.unit,
            },
            Tok::Type => Entry::Type {
                name: &fam.name,
                metric_type: match self.mtype {
                    proto::MetricType::Counter => MetricType::Counter,
                    proto::MetricType::Gauge => MetricType::Gauge,
                    proto::MetricType::Summary => MetricType::Summary,
                    proto::MetricType::Untyped => MetricType::Unknown,
                    proto::MetricType::Histogram => MetricType::Histogram,
                    proto::MetricType::GaugeHistogram => MetricType::GaugeHistogram,
                },
            },
            Tok::Sample {
                idx,
                name_end,
                extra,
                value,
                exemplar,
                created,
            } => {
                let m = &fam.metric[idx.min(fam.metric.len().saturating_sub(1))];
                let s = self.scratch.as_str();
                let series = self.series.as_str();
                let extra = extra.map(|(n, start)| Label {
                    name: n,
                    value: s.get(start..).unwrap_or(""),
                });
                let ex = match exemplar {
                    ExSrc::None => None,
                    ExSrc::Counter => m.counter.as_ref().and_then(|c| c.exemplar.as_ref()),
                    ExSrc::Bucket(i) => m
                        .histogram
                        .as_ref()
                        .and_then(|h| h.bucket.get(i))
                        .and_then(|b| b.exemplar.as_ref()),
                };
                Entry::Series(Sample {
                    series,
                    name: s.get(..name_end).unwrap_or(""),
                    labels: LabelPairs::proto(&m.label, extra),
                    value,
                    timestamp: (m.timestamp_ms != 0).then_some(m.timestamp_ms),
                    exemplar: ex.map(|e| ExemplarRef {
                        labels: LabelPairs::proto(&e.label, None),
                        value: e.value,
                        timestamp: ts_ms(e.timestamp.as_ref()),
                    }),
                    created,
                })
            }
            Tok::Histogram { idx, float } => {
                let m = &fam.metric[idx.min(fam.metric.len().saturating_sub(1))];
                let created = m
                    .histogram
                    .as_ref()
                    .and_then(|h| ts_ms(h.created_timestamp.as_ref()));
                Entry::Histogram(HistogramSample {
                    series: &self.series,
                    name: &fam.name,
                    labels: LabelPairs::proto(&m.label, None),
                    histogram: if float {
                        HistogramRef::Float(&self.fhist)
                    } else {
                        HistogramRef::Int(&self.hist)
                    },
                    timestamp: (m.timestamp_ms != 0).then_some(m.timestamp_ms),
                    created,
                    exemplars: &self.exemplars,
                })
            }
        }
    }
}

impl Parser for ProtobufParser<'_> {
    fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError> {
        ProtobufParser::next(self)
    }

    fn format(&self) -> Format {
        Format::Protobuf
    }
}

/// Appends `family` to `out` as one length-delimited message, the unit of the protobuf
/// exposition format.
pub fn encode_delimited(family: &proto::MetricFamily, out: &mut Vec<u8>) {
    prost::encoding::encode_varint(family.encoded_len() as u64, out);
    family.encode_raw(out);
}
