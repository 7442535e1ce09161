//! Turning collected families into exposition entries and bytes, through the exposition
//! crate's encoders: one flattening of families into series ([`write_family`]) serves
//! the two text formats and in-process collection; protobuf messages are built from the
//! same families.

use std::borrow::Cow;

use promlite_exposition::{
    Entry, ExemplarRef, Format, HistogramRef, HistogramSample, LabelPairs, OpenMetricsEncoder,
    PromEncoder, Sample, encode_delimited, proto, write_go_float, write_openmetrics_float,
};
use promlite_model::{Exemplar, Label, MetricType};

use crate::collect::{HistogramValue, MetricFamily, MetricPoint, MetricValue};

/// Which output the flattening serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Prometheus text 0.0.4: counters' and info metrics' families carry their sample
    /// names, info and state sets are gauges, no exemplars or `_created`.
    Text,
    /// OpenMetrics 1.0: family names without suffixes, exemplars, `_created` series.
    OpenMetrics,
    /// In-process collection: names as in protobuf, exemplars and created timestamps as
    /// fields of the samples, native histograms as histogram entries.
    InProcess,
}

/// The name a family is declared under in `style`.
fn declared_name(f: &MetricFamily, style: Style) -> Cow<'_, str> {
    match (f.metric_type, style) {
        (_, Style::OpenMetrics) => Cow::Borrowed(&f.name),
        (MetricType::Counter, _) => Cow::Owned(format!("{}_total", f.name)),
        (MetricType::Info, _) => Cow::Owned(format!("{}_info", f.name)),
        _ => Cow::Borrowed(&f.name),
    }
}

/// The type a family is declared as in `style`: formats without info and state sets
/// get gauges, which is how Prometheus stores them.
fn declared_type(t: MetricType, style: Style) -> MetricType {
    match (t, style) {
        (MetricType::Info | MetricType::StateSet, Style::Text | Style::InProcess) => {
            MetricType::Gauge
        }
        (t, _) => t,
    }
}

fn float_label(v: f64, style: Style) -> String {
    let mut s = String::new();
    if style == Style::Text {
        write_go_float(&mut s, v);
    } else {
        write_openmetrics_float(&mut s, v);
    }
    s
}

/// An exemplar's labels as pairs for an [`ExemplarRef`].
fn exemplar_pairs(e: &Exemplar) -> Vec<Label<'_>> {
    e.labels.iter().collect()
}

/// Streams one family as entries: metadata, then every series.
pub(crate) fn write_family(f: &MetricFamily, style: Style, out: &mut dyn FnMut(Entry<'_>)) {
    let declared = declared_name(f, style);
    if !f.help.is_empty() {
        out(Entry::Help {
            name: &declared,
            help: &f.help,
        });
    }
    if !f.unit.is_empty() && style != Style::Text {
        out(Entry::Unit {
            name: &declared,
            unit: &f.unit,
        });
    }
    out(Entry::Type {
        name: &declared,
        metric_type: declared_type(f.metric_type, style),
    });
    let names = SeriesNames::new(&f.name);
    for p in &f.points {
        write_point(f, p, &names, style, out);
    }
}

/// The suffixed series names of a family, built once per family.
struct SeriesNames {
    plain: String,
    total: String,
    created: String,
    bucket: String,
    sum: String,
    count: String,
    info: String,
}

impl SeriesNames {
    fn new(name: &str) -> Self {
        SeriesNames {
            plain: name.to_owned(),
            total: format!("{name}_total"),
            created: format!("{name}_created"),
            bucket: format!("{name}_bucket"),
            sum: format!("{name}_sum"),
            count: format!("{name}_count"),
            info: format!("{name}_info"),
        }
    }
}

fn write_point(
    f: &MetricFamily,
    p: &MetricPoint,
    n: &SeriesNames,
    style: Style,
    out: &mut dyn FnMut(Entry<'_>),
) {
    let base: Vec<Label<'_>> = p.labels.iter().collect();
    let labels = LabelPairs::from_slice(&base);
    let in_process = style == Style::InProcess;
    let sample = |name, value| Sample::new(name, labels, value);
    match &p.value {
        MetricValue::Counter {
            value,
            created,
            exemplar,
        } => {
            let pairs = exemplar.as_ref().map(exemplar_pairs);
            let mut s = sample(&n.total, *value);
            if style != Style::Text
                && let (Some(e), Some(pairs)) = (exemplar, &pairs)
            {
                s.exemplar = Some(ExemplarRef {
                    labels: LabelPairs::from_slice(pairs),
                    value: e.value,
                    timestamp: e.timestamp,
                });
            }
            if in_process {
                s.created = *created;
            }
            out(Entry::Series(s));
            if let (Style::OpenMetrics, Some(c)) = (style, created) {
                out(Entry::Series(Sample::new(
                    &n.created,
                    labels,
                    *c as f64 / 1000.0,
                )));
            }
        }
        MetricValue::Gauge(v) | MetricValue::Unknown(v) => out(Entry::Series(sample(&n.plain, *v))),
        MetricValue::Info => out(Entry::Series(sample(&n.info, 1.0))),
        MetricValue::StateSet(states) => {
            let mut pairs = base.clone();
            pairs.push(Label {
                name: &f.name,
                value: "",
            });
            for (state, on) in states {
                if let Some(last) = pairs.last_mut() {
                    last.value = state;
                }
                out(Entry::Series(Sample::new(
                    &n.plain,
                    LabelPairs::from_slice(&pairs),
                    if *on { 1.0 } else { 0.0 },
                )));
            }
        }
        MetricValue::Summary(s) => {
            let qs: Vec<String> = s
                .quantiles
                .iter()
                .map(|q| float_label(q.0, style))
                .collect();
            let mut pairs = base.clone();
            pairs.push(Label {
                name: "quantile",
                value: "",
            });
            for (q, (_, v)) in qs.iter().zip(&s.quantiles) {
                if let Some(last) = pairs.last_mut() {
                    last.value = q;
                }
                let mut smp = Sample::new(&n.plain, LabelPairs::from_slice(&pairs), *v);
                if in_process {
                    smp.created = s.created;
                }
                out(Entry::Series(smp));
            }
            sum_count(out, n, labels, style, s.sum, s.count, s.created);
        }
        MetricValue::Histogram(h) => {
            if in_process && let Some(native) = &h.native {
                let exemplars = native_exemplars(h);
                out(Entry::Histogram(HistogramSample {
                    series: "",
                    name: &n.plain,
                    labels,
                    histogram: HistogramRef::Int(native),
                    timestamp: None,
                    created: h.created,
                    exemplars: &exemplars,
                }));
                return;
            }
            let les: Vec<String> = h
                .buckets
                .iter()
                .map(|b| float_label(b.upper_bound, style))
                .collect();
            let ex_pairs: Vec<Option<Vec<Label<'_>>>> = h
                .buckets
                .iter()
                .map(|b| b.exemplar.as_ref().map(exemplar_pairs))
                .collect();
            let mut pairs = base.clone();
            pairs.push(Label {
                name: "le",
                value: "",
            });
            for ((b, le), ex) in h.buckets.iter().zip(&les).zip(&ex_pairs) {
                if let Some(last) = pairs.last_mut() {
                    last.value = le;
                }
                let mut s = Sample::new(
                    &n.bucket,
                    LabelPairs::from_slice(&pairs),
                    b.cumulative_count as f64,
                );
                if style != Style::Text
                    && let (Some(e), Some(ex)) = (&b.exemplar, ex)
                {
                    s.exemplar = Some(ExemplarRef {
                        labels: LabelPairs::from_slice(ex),
                        value: e.value,
                        timestamp: e.timestamp,
                    });
                }
                if in_process {
                    s.created = h.created;
                }
                out(Entry::Series(s));
            }
            sum_count(out, n, labels, style, h.sum, h.count, h.created);
        }
    }
}

/// The `_sum` and `_count` series of a summary or histogram (OpenMetrics puts the count
/// first, the text format the sum, as their reference clients do), and `_created`.
fn sum_count(
    out: &mut dyn FnMut(Entry<'_>),
    n: &SeriesNames,
    labels: LabelPairs<'_>,
    style: Style,
    sum: f64,
    count: u64,
    created: Option<i64>,
) {
    let mut sum = Sample::new(&n.sum, labels, sum);
    let mut count = Sample::new(&n.count, labels, count as f64);
    if style == Style::InProcess {
        sum.created = created;
        count.created = created;
    }
    if style == Style::OpenMetrics {
        out(Entry::Series(count));
        out(Entry::Series(sum));
        if let Some(c) = created {
            out(Entry::Series(Sample::new(
                &n.created,
                labels,
                c as f64 / 1000.0,
            )));
        }
    } else {
        out(Entry::Series(sum));
        out(Entry::Series(count));
    }
}

/// A native histogram's exemplars: the latest of each classic bucket, by value.
fn native_exemplars(h: &HistogramValue) -> Vec<Exemplar> {
    let mut v: Vec<Exemplar> = h
        .buckets
        .iter()
        .filter_map(|b| b.exemplar.clone())
        .collect();
    v.sort_by(|a, b| a.value.total_cmp(&b.value));
    v
}

/// The Prometheus text format 0.0.4.
pub(crate) fn text(families: &[MetricFamily], out: &mut String) {
    let mut e = PromEncoder::new(out);
    for f in families {
        // Text has no native histograms; `write_family` gives their classic form here.
        write_family(f, Style::Text, &mut |entry| {
            let _ = e.entry(&entry);
        });
    }
}

/// OpenMetrics 1.0 text.
pub(crate) fn openmetrics(families: &[MetricFamily], out: &mut String) {
    let mut e = OpenMetricsEncoder::new(out);
    for f in families {
        write_family(f, Style::OpenMetrics, &mut |entry| {
            let _ = e.entry(&entry);
        });
    }
    e.eof();
}

/// Length-delimited protobuf `MetricFamily` messages.
pub(crate) fn protobuf(families: &[MetricFamily], out: &mut Vec<u8>) {
    for f in families {
        encode_delimited(&to_proto(f), out);
    }
}

/// Encodes in `format`, returning the content type.
pub(crate) fn encode(families: &[MetricFamily], format: Format, out: &mut Vec<u8>) -> &'static str {
    match format {
        Format::Protobuf => protobuf(families, out),
        Format::OpenMetrics | Format::PrometheusText => {
            let mut s = String::new();
            if format == Format::OpenMetrics {
                openmetrics(families, &mut s);
            } else {
                text(families, &mut s);
            }
            out.extend_from_slice(s.as_bytes());
        }
    }
    format.content_type()
}

fn label_pairs<'a>(labels: impl IntoIterator<Item = Label<'a>>) -> Vec<proto::LabelPair> {
    labels
        .into_iter()
        .map(|l| proto::LabelPair {
            name: l.name.to_owned(),
            value: l.value.to_owned(),
        })
        .collect()
}

fn proto_exemplar(e: &Exemplar) -> proto::Exemplar {
    proto::Exemplar {
        label: label_pairs(&e.labels),
        value: e.value,
        timestamp: e.timestamp.map(proto::Timestamp::from_millis),
    }
}

fn proto_spans(s: &[promlite_model::Span]) -> Vec<proto::BucketSpan> {
    s.iter()
        .map(|s| proto::BucketSpan {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

fn proto_histogram(h: &HistogramValue) -> proto::Histogram {
    let mut out = proto::Histogram {
        sample_count: h.count,
        sample_sum: h.sum,
        created_timestamp: h.created.map(proto::Timestamp::from_millis),
        ..proto::Histogram::default()
    };
    for b in &h.buckets {
        // The +Inf bucket is implied by the count; it is written only to carry an
        // exemplar.
        if b.upper_bound == f64::INFINITY && b.exemplar.is_none() {
            continue;
        }
        out.bucket.push(proto::Bucket {
            cumulative_count: b.cumulative_count,
            upper_bound: b.upper_bound,
            exemplar: b.exemplar.as_ref().map(proto_exemplar),
            ..proto::Bucket::default()
        });
    }
    if let Some(n) = &h.native {
        if h.buckets.len() <= 1 {
            // A native-only histogram: its one classic bucket is the implied +Inf.
            out.bucket.clear();
        }
        out.schema = n.schema;
        out.zero_threshold = n.zero_threshold;
        out.zero_count = n.zero_count;
        out.positive_span = proto_spans(&n.positive_spans);
        out.positive_delta.clone_from(&n.positive_buckets);
        out.negative_span = proto_spans(&n.negative_spans);
        out.negative_delta.clone_from(&n.negative_buckets);
        out.exemplars = native_exemplars(h).iter().map(proto_exemplar).collect();
        if out.positive_span.is_empty()
            && out.negative_span.is_empty()
            && out.zero_threshold == 0.0
            && out.zero_count == 0
        {
            // An empty native histogram with no zero bucket would read as a classic one;
            // an empty span marks it native, as Prometheus's clients do.
            out.positive_span.push(proto::BucketSpan {
                offset: 0,
                length: 0,
            });
        }
    }
    out
}

/// A family as a protobuf message, named as in the text format.
pub(crate) fn to_proto(f: &MetricFamily) -> proto::MetricFamily {
    let t = match declared_type(f.metric_type, Style::InProcess) {
        MetricType::Counter => proto::MetricType::Counter,
        MetricType::Gauge => proto::MetricType::Gauge,
        MetricType::Histogram => proto::MetricType::Histogram,
        MetricType::GaugeHistogram => proto::MetricType::GaugeHistogram,
        MetricType::Summary => proto::MetricType::Summary,
        _ => proto::MetricType::Untyped,
    };
    let mut metric = Vec::with_capacity(f.points.len());
    for p in &f.points {
        let mut m = proto::Metric {
            label: label_pairs(&p.labels),
            ..proto::Metric::default()
        };
        match &p.value {
            MetricValue::Counter {
                value,
                created,
                exemplar,
            } => {
                m.counter = Some(proto::Counter {
                    value: *value,
                    exemplar: exemplar.as_ref().map(proto_exemplar),
                    created_timestamp: created.map(proto::Timestamp::from_millis),
                });
            }
            MetricValue::Gauge(v) => m.gauge = Some(proto::Gauge { value: *v }),
            MetricValue::Unknown(v) => m.untyped = Some(proto::Untyped { value: *v }),
            MetricValue::Info => m.gauge = Some(proto::Gauge { value: 1.0 }),
            MetricValue::StateSet(states) => {
                for (state, on) in states {
                    let mut m = m.clone();
                    m.label.push(proto::LabelPair {
                        name: f.name.clone(),
                        value: state.clone(),
                    });
                    m.gauge = Some(proto::Gauge {
                        value: if *on { 1.0 } else { 0.0 },
                    });
                    metric.push(m);
                }
                continue;
            }
            MetricValue::Summary(s) => {
                m.summary = Some(proto::Summary {
                    sample_count: s.count,
                    sample_sum: s.sum,
                    quantile: s
                        .quantiles
                        .iter()
                        .map(|(q, v)| proto::Quantile {
                            quantile: *q,
                            value: *v,
                        })
                        .collect(),
                    created_timestamp: s.created.map(proto::Timestamp::from_millis),
                });
            }
            MetricValue::Histogram(h) => m.histogram = Some(proto_histogram(h)),
        }
        metric.push(m);
    }
    proto::MetricFamily {
        name: declared_name(f, Style::InProcess).into_owned(),
        help: f.help.clone(),
        r#type: t as i32,
        metric,
        unit: f.unit.clone(),
    }
}
