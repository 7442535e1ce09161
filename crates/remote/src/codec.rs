//! Conversions between the `prompb` messages and promlite's model types, snappy block
//! compression with size limits, and the length-prefixed, checksummed frames of streamed
//! remote read.

use promlite_model::{
    CounterResetHint, Exemplar, FloatHistogram, Histogram, LabelsBuilder, MatchType, Matcher,
    Metadata, MetricType, Span, ValidationScheme, is_valid_label_name,
};
use promlite_model::{Labels, METRIC_NAME};

use crate::RemoteError;
use crate::prompb;

/// Prometheus's limit on a decoded remote-write or remote-read body (32 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 << 20;

/// Compresses `data` in snappy's block format (not the framed stream format), as remote
/// write and read require.
pub fn snappy_compress(data: &[u8]) -> Vec<u8> {
    // Compression into a buffer of `max_compress_len` cannot fail.
    snap::raw::Encoder::new()
        .compress_vec(data)
        .unwrap_or_default()
}

/// Decompresses a snappy block, refusing before allocating when the announced decoded
/// length exceeds `limit`.
pub fn snappy_decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, RemoteError> {
    let len = snap::raw::decompress_len(data)?;
    if len > limit {
        return Err(RemoteError::BodyTooLarge {
            size: len as u64,
            limit: limit as u64,
        });
    }
    Ok(snap::raw::Decoder::new().decompress_vec(data)?)
}

/// Checks a series' labels as a receiver must: at least one label, names valid under
/// `scheme` and strictly ascending (sorted, no duplicates) and a metric name present.
/// Labels with empty values are dropped. Returns the labels in promlite's form.
pub fn labels_from_proto(
    labels: &[prompb::Label],
    scheme: ValidationScheme,
    b: &mut LabelsBuilder,
) -> Result<Labels, RemoteError> {
    // A label bomb must not come back as a megabyte error message: at most 20 labels
    // and 100 bytes of each name and value are shown.
    let describe = || {
        let short = |x: &str| -> String {
            let mut end = x.len().min(100);
            while !x.is_char_boundary(end) {
                end -= 1;
            }
            if end < x.len() {
                format!("{}…", &x[..end])
            } else {
                x.to_string()
            }
        };
        let mut s = String::from("{");
        for (i, l) in labels.iter().take(20).enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(&short(&l.name));
            s.push('=');
            s.push_str(&promlite_model::go_quote(&short(&l.value)));
        }
        if labels.len() > 20 {
            s.push_str(", … ");
            s.push_str(&(labels.len() - 20).to_string());
            s.push_str(" more");
        }
        s.push('}');
        s
    };
    if labels.is_empty() {
        return Err(RemoteError::InvalidLabels("series has no labels".into()));
    }
    b.clear();
    let mut prev: Option<&str> = None;
    for l in labels {
        if !is_valid_label_name(&l.name, scheme) {
            return Err(RemoteError::InvalidLabels(format!(
                "invalid label name {} in {}",
                promlite_model::go_quote(&l.name),
                describe()
            )));
        }
        if let Some(p) = prev {
            if p == l.name {
                return Err(RemoteError::InvalidLabels(format!(
                    "duplicate label name {} in {}",
                    promlite_model::go_quote(&l.name),
                    describe()
                )));
            }
            if p > l.name.as_str() {
                return Err(RemoteError::InvalidLabels(format!(
                    "labels not sorted by name in {}",
                    describe()
                )));
            }
        }
        prev = Some(&l.name);
        // An empty value means "no such label" in Prometheus; it is dropped, not stored.
        if !l.value.is_empty() {
            b.set(&l.name, &l.value);
        }
    }
    let ls = b.build();
    match ls.metric_name() {
        Some(n) if promlite_model::is_valid_metric_name(n, scheme) => Ok(ls),
        Some(n) => Err(RemoteError::InvalidLabels(format!(
            "invalid metric name {} in {}",
            promlite_model::go_quote(n),
            describe()
        ))),
        None => Err(RemoteError::InvalidLabels(format!(
            "missing metric name ({METRIC_NAME}) in {}",
            describe()
        ))),
    }
}

/// Exemplar labels: only sortedness and non-empty names are checked (an exemplar's
/// labels need no metric name).
pub fn exemplar_labels_from_proto(labels: &[prompb::Label], b: &mut LabelsBuilder) -> Labels {
    b.clear();
    for l in labels {
        if !l.name.is_empty() {
            b.set(&l.name, &l.value);
        }
    }
    b.build()
}

/// Labels in the wire form (already sorted, as [`Labels`] always is).
pub fn labels_to_proto(labels: &Labels) -> Vec<prompb::Label> {
    labels
        .iter()
        .map(|l| prompb::Label {
            name: l.name.to_owned(),
            value: l.value.to_owned(),
        })
        .collect()
}

fn spans_from_proto(spans: &[prompb::BucketSpan]) -> Vec<Span> {
    spans
        .iter()
        .map(|s| Span {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

fn spans_to_proto(spans: &[Span]) -> Vec<prompb::BucketSpan> {
    spans
        .iter()
        .map(|s| prompb::BucketSpan {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

fn hint_from_proto(h: i32) -> CounterResetHint {
    match prompb::histogram::ResetHint::try_from(h) {
        Ok(prompb::histogram::ResetHint::Yes) => CounterResetHint::CounterReset,
        Ok(prompb::histogram::ResetHint::No) => CounterResetHint::NotCounterReset,
        Ok(prompb::histogram::ResetHint::Gauge) => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

fn hint_to_proto(h: CounterResetHint) -> i32 {
    let h = match h {
        CounterResetHint::Unknown => prompb::histogram::ResetHint::Unknown,
        CounterResetHint::CounterReset => prompb::histogram::ResetHint::Yes,
        CounterResetHint::NotCounterReset => prompb::histogram::ResetHint::No,
        CounterResetHint::Gauge => prompb::histogram::ResetHint::Gauge,
    };
    h as i32
}

/// A decoded native-histogram sample: integer or float counts, as the message said.
#[derive(Debug, Clone, PartialEq)]
pub enum HistogramSample {
    /// Integer counts (the message set `count_int`).
    Int(Histogram),
    /// Float counts (the message set `count_float`).
    Float(FloatHistogram),
}

/// Reads a `prompb.Histogram`: `count_float` makes a float histogram, anything else an
/// integer one (Prometheus's `IsFloatHistogram`). Checks that each span list's lengths
/// add up to its bucket list, so a malformed message cannot reach the store.
pub fn histogram_from_proto(h: &prompb::Histogram) -> Result<HistogramSample, RemoteError> {
    let positive_spans = spans_from_proto(&h.positive_spans);
    let negative_spans = spans_from_proto(&h.negative_spans);
    let check = |spans: &[Span], n: usize, side: &str| {
        let total: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
        if total == n as u64 {
            Ok(())
        } else {
            Err(RemoteError::InvalidRequest(format!(
                "histogram {side} spans need {total} buckets, have {n}"
            )))
        }
    };
    if let Some(prompb::histogram::Count::CountFloat(count)) = h.count {
        check(&positive_spans, h.positive_counts.len(), "positive")?;
        check(&negative_spans, h.negative_counts.len(), "negative")?;
        let zero_count = match h.zero_count {
            Some(prompb::histogram::ZeroCount::ZeroCountFloat(z)) => z,
            Some(prompb::histogram::ZeroCount::ZeroCountInt(z)) => z as f64,
            None => 0.0,
        };
        Ok(HistogramSample::Float(FloatHistogram {
            counter_reset_hint: hint_from_proto(h.reset_hint),
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count,
            count,
            sum: h.sum,
            positive_spans,
            negative_spans,
            positive_buckets: h.positive_counts.clone(),
            negative_buckets: h.negative_counts.clone(),
            custom_values: h.custom_values.clone(),
        }))
    } else {
        check(&positive_spans, h.positive_deltas.len(), "positive")?;
        check(&negative_spans, h.negative_deltas.len(), "negative")?;
        let count = match h.count {
            Some(prompb::histogram::Count::CountInt(c)) => c,
            _ => 0,
        };
        let zero_count = match h.zero_count {
            Some(prompb::histogram::ZeroCount::ZeroCountInt(z)) => z,
            Some(prompb::histogram::ZeroCount::ZeroCountFloat(z)) => z as u64,
            None => 0,
        };
        Ok(HistogramSample::Int(Histogram {
            counter_reset_hint: hint_from_proto(h.reset_hint),
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count,
            count,
            sum: h.sum,
            positive_spans,
            negative_spans,
            positive_buckets: h.positive_deltas.clone(),
            negative_buckets: h.negative_deltas.clone(),
            custom_values: h.custom_values.clone(),
        }))
    }
}

/// An integer histogram in the wire form.
pub fn histogram_to_proto(t: i64, h: &Histogram) -> prompb::Histogram {
    prompb::Histogram {
        count: Some(prompb::histogram::Count::CountInt(h.count)),
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: Some(prompb::histogram::ZeroCount::ZeroCountInt(h.zero_count)),
        negative_spans: spans_to_proto(&h.negative_spans),
        negative_deltas: h.negative_buckets.clone(),
        negative_counts: Vec::new(),
        positive_spans: spans_to_proto(&h.positive_spans),
        positive_deltas: h.positive_buckets.clone(),
        positive_counts: Vec::new(),
        reset_hint: hint_to_proto(h.counter_reset_hint),
        timestamp: t,
        custom_values: h.custom_values.clone(),
    }
}

/// A float histogram in the wire form.
pub fn float_histogram_to_proto(t: i64, h: &FloatHistogram) -> prompb::Histogram {
    prompb::Histogram {
        count: Some(prompb::histogram::Count::CountFloat(h.count)),
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: Some(prompb::histogram::ZeroCount::ZeroCountFloat(h.zero_count)),
        negative_spans: spans_to_proto(&h.negative_spans),
        negative_deltas: Vec::new(),
        negative_counts: h.negative_buckets.clone(),
        positive_spans: spans_to_proto(&h.positive_spans),
        positive_deltas: Vec::new(),
        positive_counts: h.positive_buckets.clone(),
        reset_hint: hint_to_proto(h.counter_reset_hint),
        timestamp: t,
        custom_values: h.custom_values.clone(),
    }
}

/// An exemplar in the wire form (a missing timestamp is sent as 0, as Prometheus does).
pub fn exemplar_to_proto(e: &Exemplar) -> prompb::Exemplar {
    prompb::Exemplar {
        labels: labels_to_proto(&e.labels),
        value: e.value,
        timestamp: e.timestamp.unwrap_or(0),
    }
}

/// Metadata from the wire form (unknown type numbers read as unknown).
pub fn metadata_from_proto(m: &prompb::MetricMetadata) -> Metadata {
    use prompb::MetricType as P;
    let metric_type = match P::try_from(m.r#type) {
        Ok(P::Counter) => MetricType::Counter,
        Ok(P::Gauge) => MetricType::Gauge,
        Ok(P::Histogram) => MetricType::Histogram,
        Ok(P::Gaugehistogram) => MetricType::GaugeHistogram,
        Ok(P::Summary) => MetricType::Summary,
        Ok(P::Info) => MetricType::Info,
        Ok(P::Stateset) => MetricType::StateSet,
        Ok(P::Unknown) | Err(_) => MetricType::Unknown,
    };
    Metadata {
        metric_type,
        help: m.help.clone(),
        unit: m.unit.clone(),
    }
}

/// Metadata of family `family` in the wire form.
pub fn metadata_to_proto(family: &str, m: &Metadata) -> prompb::MetricMetadata {
    use prompb::MetricType as P;
    let t = match m.metric_type {
        MetricType::Counter => P::Counter,
        MetricType::Gauge => P::Gauge,
        MetricType::Histogram => P::Histogram,
        MetricType::GaugeHistogram => P::Gaugehistogram,
        MetricType::Summary => P::Summary,
        MetricType::Info => P::Info,
        MetricType::StateSet => P::Stateset,
        MetricType::Unknown => P::Unknown,
    };
    prompb::MetricMetadata {
        r#type: t as i32,
        metric_family_name: family.to_owned(),
        help: m.help.clone(),
        unit: m.unit.clone(),
    }
}

/// A label matcher from the wire form.
pub fn matcher_from_proto(m: &prompb::LabelMatcher) -> Result<Matcher, RemoteError> {
    let t = match prompb::MatcherType::try_from(m.r#type) {
        Ok(prompb::MatcherType::Eq) => MatchType::Equal,
        Ok(prompb::MatcherType::Neq) => MatchType::NotEqual,
        Ok(prompb::MatcherType::Re) => MatchType::Regexp,
        Ok(prompb::MatcherType::Nre) => MatchType::NotRegexp,
        Err(_) => {
            return Err(RemoteError::InvalidMatcher(format!(
                "invalid matcher type {}",
                m.r#type
            )));
        }
    };
    Matcher::new(t, m.name.clone(), m.value.clone())
        .map_err(|e| RemoteError::InvalidMatcher(e.to_string()))
}

/// A label matcher in the wire form.
pub fn matcher_to_proto(m: &Matcher) -> prompb::LabelMatcher {
    let t = match m.match_type() {
        MatchType::Equal => prompb::MatcherType::Eq,
        MatchType::NotEqual => prompb::MatcherType::Neq,
        MatchType::Regexp => prompb::MatcherType::Re,
        MatchType::NotRegexp => prompb::MatcherType::Nre,
    };
    prompb::LabelMatcher {
        r#type: t as i32,
        name: m.name().to_owned(),
        value: m.value().to_owned(),
    }
}

/// Interns strings into a remote write 2.0 symbol table (index 0 is the empty string).
#[derive(Debug, Default)]
pub struct SymbolTable {
    symbols: Vec<String>,
    index: std::collections::HashMap<String, u32>,
}

impl SymbolTable {
    /// A table holding only the empty string.
    pub fn new() -> SymbolTable {
        let mut t = SymbolTable::default();
        t.intern("");
        t
    }

    /// The reference of `s`, adding it when new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&r) = self.index.get(s) {
            return r;
        }
        let r = self.symbols.len() as u32;
        self.symbols.push(s.to_owned());
        self.index.insert(s.to_owned(), r);
        r
    }

    fn label_refs(&mut self, labels: &[prompb::Label]) -> Vec<u32> {
        labels
            .iter()
            .flat_map(|l| [self.intern(&l.name), self.intern(&l.value)])
            .collect()
    }

    /// The table, to send as `Request.symbols`.
    pub fn into_symbols(self) -> Vec<String> {
        self.symbols
    }
}

/// The same series in remote write 2.0 form: labels and exemplar labels become symbol
/// references, and `metadata(metric name)` supplies each series' metadata (2.0 carries
/// metadata per series rather than per family).
pub fn write_request_to_v2(
    req: &prompb::WriteRequest,
    metadata: impl Fn(&str) -> Option<Metadata>,
) -> prompb::v2::Request {
    let mut table = SymbolTable::new();
    let mut timeseries = Vec::with_capacity(req.timeseries.len());
    for ts in &req.timeseries {
        let name = ts
            .labels
            .iter()
            .find(|l| l.name == METRIC_NAME)
            .map_or("", |l| l.value.as_str());
        let meta = metadata(name).map(|m| {
            let p = metadata_to_proto("", &m);
            prompb::v2::Metadata {
                r#type: p.r#type,
                help_ref: table.intern(&m.help),
                unit_ref: table.intern(&m.unit),
            }
        });
        timeseries.push(prompb::v2::TimeSeries {
            labels_refs: table.label_refs(&ts.labels),
            samples: ts.samples.clone(),
            histograms: ts.histograms.clone(),
            exemplars: ts
                .exemplars
                .iter()
                .map(|e| prompb::v2::Exemplar {
                    labels_refs: table.label_refs(&e.labels),
                    value: e.value,
                    timestamp: e.timestamp,
                })
                .collect(),
            metadata: meta,
            created_timestamp: 0,
        });
    }
    prompb::v2::Request {
        symbols: table.into_symbols(),
        timeseries,
    }
}

/// Appends one frame of a streamed read response: the payload's length as a uvarint,
/// its CRC32-Castagnoli as four big-endian bytes, then the payload.
pub fn write_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let mut n = payload.len() as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Reads the frame at the start of `buf`: returns the payload and the bytes after it.
/// Fails on a truncated frame, a frame over `limit` bytes or a checksum mismatch.
pub fn read_frame(buf: &[u8], limit: usize) -> Result<(&[u8], &[u8]), RemoteError> {
    let mut len: u64 = 0;
    let mut shift = 0;
    let mut i = 0;
    loop {
        let Some(&b) = buf.get(i) else {
            return Err(RemoteError::InvalidRequest("truncated frame header".into()));
        };
        if shift >= 64 {
            return Err(RemoteError::InvalidRequest("frame length overflows".into()));
        }
        len |= u64::from(b & 0x7f) << shift;
        shift += 7;
        i += 1;
        if b < 0x80 {
            break;
        }
    }
    if len > limit as u64 {
        return Err(RemoteError::BodyTooLarge {
            size: len,
            limit: limit as u64,
        });
    }
    let rest = &buf[i..];
    let len = len as usize;
    if rest.len() < 4 + len {
        return Err(RemoteError::InvalidRequest("truncated frame".into()));
    }
    let crc = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let payload = &rest[4..4 + len];
    if crc32c::crc32c(payload) != crc {
        return Err(RemoteError::InvalidRequest(
            "frame checksum mismatch".into(),
        ));
    }
    Ok((payload, &rest[4 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn pl(pairs: &[(&str, &str)]) -> Vec<prompb::Label> {
        pairs
            .iter()
            .map(|(n, v)| prompb::Label {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect()
    }

    #[test]
    fn label_validation_messages() {
        let mut b = LabelsBuilder::new();
        let ok = labels_from_proto(
            &pl(&[("__name__", "up"), ("job", "a")]),
            ValidationScheme::Utf8,
            &mut b,
        )
        .unwrap();
        assert_eq!(ok.to_string(), r#"{__name__="up", job="a"}"#);
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "series has no labels"),
            (&[("job", "a"), ("__name__", "up")], "labels not sorted"),
            (
                &[("__name__", "up"), ("__name__", "up")],
                "duplicate label name",
            ),
            (&[("job", "a")], "missing metric name"),
            (&[("", "x"), ("__name__", "up")], "invalid label name"),
        ];
        for (labels, want) in cases {
            let err = labels_from_proto(&pl(labels), ValidationScheme::Utf8, &mut b).unwrap_err();
            assert!(err.to_string().contains(want), "{labels:?}: {err}");
            assert_eq!(err.status(), 400);
        }
        let err = labels_from_proto(
            &pl(&[("__name__", "a.b")]),
            ValidationScheme::Legacy,
            &mut b,
        )
        .unwrap_err();
        assert!(err.to_string().contains("invalid metric name"), "{err}");
    }

    #[test]
    fn histograms_round_trip_both_ways() {
        let h = Histogram {
            counter_reset_hint: CounterResetHint::NotCounterReset,
            schema: 1,
            zero_threshold: 0.001,
            zero_count: 2,
            count: 9,
            sum: 12.5,
            positive_spans: vec![Span {
                offset: -1,
                length: 2,
            }],
            negative_spans: vec![Span {
                offset: 3,
                length: 1,
            }],
            positive_buckets: vec![3, -1],
            negative_buckets: vec![2],
            custom_values: vec![],
        };
        let wire = histogram_to_proto(7, &h);
        let bytes = wire.encode_to_vec();
        let back = prompb::Histogram::decode(bytes.as_slice()).unwrap();
        assert_eq!(back.timestamp, 7);
        assert_eq!(
            histogram_from_proto(&back).unwrap(),
            HistogramSample::Int(h.clone())
        );
        let f = h.to_float();
        let back = histogram_from_proto(&float_histogram_to_proto(7, &f)).unwrap();
        assert_eq!(back, HistogramSample::Float(f));

        let mut bad = histogram_to_proto(7, &h);
        bad.positive_deltas.pop();
        assert!(histogram_from_proto(&bad).is_err());
    }

    #[test]
    fn frames_round_trip_and_detect_damage() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello");
        write_frame(&mut buf, &[7u8; 300]);
        let (a, rest) = read_frame(&buf, 1 << 20).unwrap();
        assert_eq!(a, b"hello");
        let (b, rest) = read_frame(rest, 1 << 20).unwrap();
        assert_eq!(b.len(), 300);
        assert!(rest.is_empty());
        let mut damaged = buf.clone();
        damaged[7] ^= 1;
        assert!(read_frame(&damaged, 1 << 20).is_err());
        assert!(read_frame(&buf[..4], 1 << 20).is_err());
        assert!(matches!(
            read_frame(&buf, 2),
            Err(RemoteError::BodyTooLarge { .. })
        ));
    }

    #[test]
    fn snappy_limit_is_checked_before_decoding() {
        let data = vec![0u8; 10_000];
        let c = snappy_compress(&data);
        assert_eq!(snappy_decompress(&c, 10_000).unwrap(), data);
        assert!(matches!(
            snappy_decompress(&c, 9_999),
            Err(RemoteError::BodyTooLarge { .. })
        ));
    }
}
