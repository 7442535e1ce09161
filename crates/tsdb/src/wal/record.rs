//! WAL records in Prometheus's encoding (`tsdb/record`): series, samples, tombstones,
//! exemplars, metadata and native-histogram samples.
//!
//! Series are referred to by a numeric reference that the series record introduces.
//! Sample-like records store the first reference and timestamp as big-endian 64-bit
//! integers and every entry as signed varint deltas to them.

use promlite_model::{
    BucketLayout, CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Histogram, Labels,
    LabelsBuilder, MetricType, Span,
};

use crate::encoding::{Decbuf, DecodeError, Encbuf};

/// Record type bytes.
mod kind {
    pub(super) const SERIES: u8 = 1;
    pub(super) const SAMPLES: u8 = 2;
    pub(super) const TOMBSTONES: u8 = 3;
    pub(super) const EXEMPLARS: u8 = 4;
    pub(super) const MMAP_MARKERS: u8 = 5;
    pub(super) const METADATA: u8 = 6;
    pub(super) const HISTOGRAMS: u8 = 7;
    pub(super) const FLOAT_HISTOGRAMS: u8 = 8;
    pub(super) const CUSTOM_HISTOGRAMS: u8 = 9;
    pub(super) const CUSTOM_FLOAT_HISTOGRAMS: u8 = 10;
    pub(super) const SAMPLES_V2: u8 = 11;
}

/// A series and the reference later records use for it.
#[derive(Debug, Clone, PartialEq)]
pub struct RefSeries {
    /// The reference.
    pub r: u64,
    /// The series' labels.
    pub labels: Labels,
}

/// A float sample of a referenced series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    /// Series reference.
    pub r: u64,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// A deleted interval of a referenced series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefTombstone {
    /// Series reference.
    pub r: u64,
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}

/// An exemplar of a referenced series.
#[derive(Debug, Clone, PartialEq)]
pub struct RefExemplar {
    /// Series reference.
    pub r: u64,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// Value.
    pub v: f64,
    /// The exemplar's labels.
    pub labels: Labels,
}

/// Metadata of a referenced series.
#[derive(Debug, Clone, PartialEq)]
pub struct RefMetadata {
    /// Series reference.
    pub r: u64,
    /// Metric type.
    pub metric_type: MetricType,
    /// Unit.
    pub unit: String,
    /// Help text.
    pub help: String,
}

/// A native-histogram sample of a referenced series.
#[derive(Debug, Clone, PartialEq)]
pub struct RefHistogram<H> {
    /// Series reference.
    pub r: u64,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// The histogram.
    pub h: H,
}

/// A decoded WAL record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// New series.
    Series(Vec<RefSeries>),
    /// Float samples.
    Samples(Vec<RefSample>),
    /// Deletions.
    Tombstones(Vec<RefTombstone>),
    /// Exemplars.
    Exemplars(Vec<RefExemplar>),
    /// Metadata updates.
    Metadata(Vec<RefMetadata>),
    /// Integer native-histogram samples.
    Histograms(Vec<RefHistogram<Histogram>>),
    /// Float native-histogram samples.
    FloatHistograms(Vec<RefHistogram<FloatHistogram>>),
    /// A record type this version does not use (e.g. out-of-order mmap markers), kept by
    /// type byte so replay can skip it knowingly.
    Other(u8),
}

fn metric_type_byte(t: MetricType) -> u8 {
    match t {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::StateSet => 7,
    }
}

fn metric_type_from_byte(b: u8) -> MetricType {
    match b {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        _ => MetricType::Unknown,
    }
}

fn hint_byte(h: CounterResetHint) -> u8 {
    match h {
        CounterResetHint::Unknown => 0,
        CounterResetHint::CounterReset => 1,
        CounterResetHint::NotCounterReset => 2,
        CounterResetHint::Gauge => 3,
    }
}

fn hint_from_byte(b: u8) -> CounterResetHint {
    match b {
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

fn put_labels(e: &mut Encbuf, l: &Labels) {
    e.uvarint(l.len() as u64);
    for p in l {
        e.uvarint_str(p.name);
        e.uvarint_str(p.value);
    }
}

fn get_labels(d: &mut Decbuf<'_>, b: &mut LabelsBuilder) -> Result<Labels, DecodeError> {
    b.clear();
    let n = d.uvarint()?;
    for _ in 0..n {
        let name = d.uvarint_str()?;
        let value = d.uvarint_str()?;
        b.set(name, value);
    }
    Ok(b.build())
}

/// Encodes a series record.
pub fn encode_series(series: &[RefSeries], out: &mut Vec<u8>) {
    let mut e = Encbuf {
        b: std::mem::take(out),
    };
    e.byte(kind::SERIES);
    for s in series {
        e.be64(s.r);
        put_labels(&mut e, &s.labels);
    }
    *out = e.b;
}

/// Encodes a samples record (the V1 layout every Prometheus version reads).
pub fn encode_samples(samples: &[RefSample], out: &mut Vec<u8>) {
    let mut e = Encbuf {
        b: std::mem::take(out),
    };
    e.byte(kind::SAMPLES);
    if let Some(first) = samples.first() {
        e.be64(first.r);
        e.be64(first.t as u64);
        for s in samples {
            e.varint(s.r.wrapping_sub(first.r) as i64);
            e.varint(s.t.wrapping_sub(first.t));
            e.be64f(s.v);
        }
    }
    *out = e.b;
}

/// Encodes a tombstones record.
pub fn encode_tombstones(stones: &[RefTombstone], out: &mut Vec<u8>) {
    let mut e = Encbuf {
        b: std::mem::take(out),
    };
    e.byte(kind::TOMBSTONES);
    for s in stones {
        e.be64(s.r);
        e.varint(s.mint);
        e.varint(s.maxt);
    }
    *out = e.b;
}

/// Encodes an exemplars record.
pub fn encode_exemplars(exemplars: &[RefExemplar], out: &mut Vec<u8>) {
    let mut e = Encbuf {
        b: std::mem::take(out),
    };
    e.byte(kind::EXEMPLARS);
    if let Some(first) = exemplars.first() {
        e.be64(first.r);
        e.be64(first.t as u64);
        for x in exemplars {
            e.varint(x.r.wrapping_sub(first.r) as i64);
            e.varint(x.t.wrapping_sub(first.t));
            e.be64f(x.v);
            put_labels(&mut e, &x.labels);
        }
    }
    *out = e.b;
}

/// Encodes a metadata record.
pub fn encode_metadata(meta: &[RefMetadata], out: &mut Vec<u8>) {
    let mut e = Encbuf {
        b: std::mem::take(out),
    };
    e.byte(kind::METADATA);
    for m in meta {
        e.uvarint(m.r);
        e.byte(metric_type_byte(m.metric_type));
        e.uvarint(2);
        e.uvarint_str("UNIT");
        e.uvarint_str(&m.unit);
        e.uvarint_str("HELP");
        e.uvarint_str(&m.help);
    }
    *out = e.b;
}

fn put_spans(e: &mut Encbuf, spans: &[Span]) {
    e.uvarint(spans.len() as u64);
    for s in spans {
        e.varint(i64::from(s.offset));
        e.uvarint(u64::from(s.length));
    }
}

fn get_spans(d: &mut Decbuf<'_>) -> Result<Vec<Span>, DecodeError> {
    let n = d.uvarint_len()?;
    (0..n)
        .map(|_| {
            Ok(Span {
                offset: d.varint()? as i32,
                length: d.uvarint_u32()?,
            })
        })
        .collect()
}

/// The two native-histogram representations as the WAL stores them: the layout fields
/// are shared; counts and buckets are unsigned/signed varints for integer histograms and
/// raw floats for float histograms.
trait WalHistogram: Sized {
    /// Record type bytes: exponential, custom buckets.
    const KINDS: (u8, u8);
    fn layout(&self) -> BucketLayout<'_>;
    fn put_counts(&self, e: &mut Encbuf);
    fn put_buckets(&self, e: &mut Encbuf);
    fn get_rest(d: &mut Decbuf<'_>, layout: Layout) -> Result<Self, DecodeError>;
}

/// The fields read before the representation-specific ones.
struct Layout {
    hint: CounterResetHint,
    schema: i32,
    zero_threshold: f64,
}

impl WalHistogram for Histogram {
    const KINDS: (u8, u8) = (kind::HISTOGRAMS, kind::CUSTOM_HISTOGRAMS);
    fn layout(&self) -> BucketLayout<'_> {
        self.bucket_layout()
    }
    fn put_counts(&self, e: &mut Encbuf) {
        e.uvarint(self.zero_count);
        e.uvarint(self.count);
        e.be64f(self.sum);
    }
    fn put_buckets(&self, e: &mut Encbuf) {
        for b in [&self.positive_buckets, &self.negative_buckets] {
            e.uvarint(b.len() as u64);
            for v in b {
                e.varint(*v);
            }
        }
    }
    fn get_rest(d: &mut Decbuf<'_>, l: Layout) -> Result<Self, DecodeError> {
        let zero_count = d.uvarint()?;
        let count = d.uvarint()?;
        let sum = d.be64f()?;
        let positive_spans = get_spans(d)?;
        let negative_spans = get_spans(d)?;
        let mut buckets = || -> Result<Vec<i64>, DecodeError> {
            let n = d.uvarint_len()?;
            (0..n).map(|_| d.varint()).collect()
        };
        let positive_buckets = buckets()?;
        let negative_buckets = buckets()?;
        Ok(Histogram {
            counter_reset_hint: l.hint,
            schema: l.schema,
            zero_threshold: l.zero_threshold,
            zero_count,
            count,
            sum,
            positive_spans,
            negative_spans,
            positive_buckets,
            negative_buckets,
            custom_values: get_custom_values(d, l.schema)?,
        })
    }
}

impl WalHistogram for FloatHistogram {
    const KINDS: (u8, u8) = (kind::FLOAT_HISTOGRAMS, kind::CUSTOM_FLOAT_HISTOGRAMS);
    fn layout(&self) -> BucketLayout<'_> {
        self.bucket_layout()
    }
    fn put_counts(&self, e: &mut Encbuf) {
        e.be64f(self.zero_count);
        e.be64f(self.count);
        e.be64f(self.sum);
    }
    fn put_buckets(&self, e: &mut Encbuf) {
        for b in [&self.positive_buckets, &self.negative_buckets] {
            e.uvarint(b.len() as u64);
            for v in b {
                e.be64f(*v);
            }
        }
    }
    fn get_rest(d: &mut Decbuf<'_>, l: Layout) -> Result<Self, DecodeError> {
        let zero_count = d.be64f()?;
        let count = d.be64f()?;
        let sum = d.be64f()?;
        let positive_spans = get_spans(d)?;
        let negative_spans = get_spans(d)?;
        let mut buckets = || -> Result<Vec<f64>, DecodeError> {
            let n = d.uvarint_len()?;
            (0..n).map(|_| d.be64f()).collect()
        };
        let positive_buckets = buckets()?;
        let negative_buckets = buckets()?;
        Ok(FloatHistogram {
            counter_reset_hint: l.hint,
            schema: l.schema,
            zero_threshold: l.zero_threshold,
            zero_count,
            count,
            sum,
            positive_spans,
            negative_spans,
            positive_buckets,
            negative_buckets,
            custom_values: get_custom_values(d, l.schema)?,
        })
    }
}

fn get_custom_values(d: &mut Decbuf<'_>, schema: i32) -> Result<Vec<f64>, DecodeError> {
    if schema != CUSTOM_BUCKETS_SCHEMA {
        return Ok(Vec::new());
    }
    let n = d.uvarint_len()?;
    (0..n).map(|_| d.be64f()).collect()
}

/// Encodes native-histogram samples of either representation. Custom-bucket histograms
/// go in records of their own type, as in Prometheus, so older readers skip rather than
/// misread them.
fn encode_any_histograms<H: WalHistogram>(hs: &[RefHistogram<H>], custom: bool, out: &mut Vec<u8>) {
    let mut e = Encbuf {
        b: std::mem::take(out),
    };
    e.byte(if custom { H::KINDS.1 } else { H::KINDS.0 });
    if let Some(first) = hs.first() {
        e.be64(first.r);
        e.be64(first.t as u64);
        for x in hs {
            e.varint(x.r.wrapping_sub(first.r) as i64);
            e.varint(x.t.wrapping_sub(first.t));
            let l = x.h.layout();
            e.byte(hint_byte(l.counter_reset_hint));
            e.varint(i64::from(l.schema));
            e.be64f(l.zero_threshold);
            x.h.put_counts(&mut e);
            put_spans(&mut e, l.positive_spans);
            put_spans(&mut e, l.negative_spans);
            x.h.put_buckets(&mut e);
            if l.schema == CUSTOM_BUCKETS_SCHEMA {
                e.uvarint(l.custom_values.len() as u64);
                for v in l.custom_values {
                    e.be64f(*v);
                }
            }
        }
    }
    *out = e.b;
}

/// Encodes integer native-histogram samples (custom-bucket ones with `custom`).
pub fn encode_histograms(hs: &[RefHistogram<Histogram>], custom: bool, out: &mut Vec<u8>) {
    encode_any_histograms(hs, custom, out);
}

/// Encodes float native-histogram samples (custom-bucket ones with `custom`).
pub fn encode_float_histograms(
    hs: &[RefHistogram<FloatHistogram>],
    custom: bool,
    out: &mut Vec<u8>,
) {
    encode_any_histograms(hs, custom, out);
}

/// Reads entries of a delta-encoded record: base reference and time, then `entry` per item.
fn deltas<T>(
    d: &mut Decbuf<'_>,
    mut entry: impl FnMut(&mut Decbuf<'_>, u64, i64) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::new();
    each_delta(d, |d, r, t| {
        out.push(entry(d, r, t)?);
        Ok(())
    })?;
    Ok(out)
}

/// The streaming form of [`deltas`]: `entry` reads each item's rest.
fn each_delta(
    d: &mut Decbuf<'_>,
    mut entry: impl FnMut(&mut Decbuf<'_>, u64, i64) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    if d.remaining() == 0 {
        return Ok(());
    }
    let base_r = d.be64()?;
    let base_t = d.be64()? as i64;
    while d.remaining() > 0 {
        let r = base_r.wrapping_add(d.varint()? as u64);
        let t = base_t.wrapping_add(d.varint()?);
        entry(d, r, t)?;
    }
    Ok(())
}

fn get_any_histogram<H: WalHistogram>(d: &mut Decbuf<'_>) -> Result<H, DecodeError> {
    let hint = hint_from_byte(d.byte()?);
    let schema = d.varint()? as i32;
    let zero_threshold = d.be64f()?;
    H::get_rest(
        d,
        Layout {
            hint,
            schema,
            zero_threshold,
        },
    )
}

fn get_histogram(d: &mut Decbuf<'_>) -> Result<Histogram, DecodeError> {
    get_any_histogram(d)
}

fn get_float_histogram(d: &mut Decbuf<'_>) -> Result<FloatHistogram, DecodeError> {
    get_any_histogram(d)
}

/// Decodes one record; the error's offset points into `rec`.
pub fn decode(rec: &[u8]) -> Result<Record, DecodeError> {
    let mut d = Decbuf::new(rec);
    let typ = d.byte()?;
    let mut lb = LabelsBuilder::new();
    let rec = match typ {
        kind::SERIES => {
            let mut out = Vec::new();
            while d.remaining() > 0 {
                let r = d.be64()?;
                out.push(RefSeries {
                    r,
                    labels: get_labels(&mut d, &mut lb)?,
                });
            }
            Record::Series(out)
        }
        kind::SAMPLES | kind::SAMPLES_V2 => {
            let mut out = Vec::new();
            samples(typ, &mut d, |s| out.push(s))?;
            Record::Samples(out)
        }
        kind::TOMBSTONES => {
            let mut out = Vec::new();
            while d.remaining() > 0 {
                out.push(RefTombstone {
                    r: d.be64()?,
                    mint: d.varint()?,
                    maxt: d.varint()?,
                });
            }
            Record::Tombstones(out)
        }
        kind::EXEMPLARS => Record::Exemplars(deltas(&mut d, |d, r, t| {
            let v = d.be64f()?;
            Ok(RefExemplar {
                r,
                t,
                v,
                labels: get_labels(d, &mut lb)?,
            })
        })?),
        kind::METADATA => {
            let mut out = Vec::new();
            while d.remaining() > 0 {
                let r = d.uvarint()?;
                let metric_type = metric_type_from_byte(d.byte()?);
                let fields = d.uvarint()?;
                let (mut unit, mut help) = (String::new(), String::new());
                for _ in 0..fields {
                    let name = d.uvarint_str()?;
                    let value = d.uvarint_str()?;
                    match name {
                        "UNIT" => value.clone_into(&mut unit),
                        "HELP" => value.clone_into(&mut help),
                        _ => {}
                    }
                }
                out.push(RefMetadata {
                    r,
                    metric_type,
                    unit,
                    help,
                });
            }
            Record::Metadata(out)
        }
        kind::HISTOGRAMS | kind::CUSTOM_HISTOGRAMS => {
            Record::Histograms(deltas(&mut d, |d, r, t| {
                Ok(RefHistogram {
                    r,
                    t,
                    h: get_histogram(d)?,
                })
            })?)
        }
        kind::FLOAT_HISTOGRAMS | kind::CUSTOM_FLOAT_HISTOGRAMS => {
            Record::FloatHistograms(deltas(&mut d, |d, r, t| {
                Ok(RefHistogram {
                    r,
                    t,
                    h: get_float_histogram(d)?,
                })
            })?)
        }
        kind::MMAP_MARKERS => Record::Other(typ),
        _ => {
            return Err(DecodeError {
                offset: 0,
                what: "unknown record type",
            });
        }
    };
    Ok(rec)
}

/// Prometheus 3's optional samples layout with start timestamps (which we drop).
/// Calls `f` for each sample of a float-samples record without collecting them: the
/// WAL replay's hot path. Returns `Ok(false)`, having read nothing, for a record of any
/// other kind (for [`decode`]).
pub fn for_each_sample(rec: &[u8], f: impl FnMut(RefSample)) -> Result<bool, DecodeError> {
    let mut d = Decbuf::new(rec);
    let typ = d.byte()?;
    if typ != kind::SAMPLES && typ != kind::SAMPLES_V2 {
        return Ok(false);
    }
    samples(typ, &mut d, f)?;
    Ok(true)
}

/// Reads the body of a samples record of kind `typ` (version 1 or 2).
fn samples(typ: u8, d: &mut Decbuf<'_>, mut f: impl FnMut(RefSample)) -> Result<(), DecodeError> {
    if typ == kind::SAMPLES {
        return each_delta(d, |d, r, t| {
            f(RefSample {
                r,
                t,
                v: d.be64f()?,
            });
            Ok(())
        });
    }
    let (mut first_t, mut prev_st, mut first_st) = (0i64, 0i64, 0i64);
    let mut prev_r: Option<u64> = None;
    while d.remaining() > 0 {
        let (r, t) = if let Some(prev) = prev_r {
            let r = (prev as i64).wrapping_add(d.varint()?) as u64;
            let t = first_t.wrapping_add(d.varint()?);
            prev_st = match d.byte()? {
                0 => 0,
                1 => prev_st,
                _ => first_st.wrapping_add(d.varint()?),
            };
            (r, t)
        } else {
            let r = d.varint()? as u64;
            first_t = d.varint()?;
            first_st = d.varint()?;
            prev_st = first_st;
            (r, first_t)
        };
        prev_r = Some(r);
        f(RefSample {
            r,
            t,
            v: d.be64f()?,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        let mut buf = Vec::new();
        let series = vec![
            RefSeries {
                r: 5,
                labels: l.clone(),
            },
            RefSeries {
                r: 1,
                labels: Labels::from_pairs([("a", "b")]),
            },
        ];
        encode_series(&series, &mut buf);
        assert_eq!(decode(&buf), Ok(Record::Series(series)));

        let samples = vec![
            RefSample {
                r: 10,
                t: 1000,
                v: 1.0,
            },
            RefSample {
                r: 3,
                t: 900,
                v: f64::INFINITY,
            },
            RefSample {
                r: 12,
                t: 2000,
                v: -0.5,
            },
        ];
        buf.clear();
        encode_samples(&samples, &mut buf);
        assert_eq!(decode(&buf), Ok(Record::Samples(samples)));

        let stones = vec![RefTombstone {
            r: 1,
            mint: -5,
            maxt: 10,
        }];
        buf.clear();
        encode_tombstones(&stones, &mut buf);
        assert_eq!(decode(&buf), Ok(Record::Tombstones(stones)));

        let ex = vec![RefExemplar {
            r: 2,
            t: 5,
            v: 0.25,
            labels: Labels::from_pairs([("trace_id", "abc")]),
        }];
        buf.clear();
        encode_exemplars(&ex, &mut buf);
        assert_eq!(decode(&buf), Ok(Record::Exemplars(ex)));

        let meta = vec![RefMetadata {
            r: 2,
            metric_type: MetricType::Summary,
            unit: "seconds".into(),
            help: "h\nelp".into(),
        }];
        buf.clear();
        encode_metadata(&meta, &mut buf);
        assert_eq!(decode(&buf), Ok(Record::Metadata(meta)));

        let h = Histogram {
            schema: 3,
            count: 10,
            zero_count: 1,
            sum: 12.5,
            zero_threshold: 1e-128,
            positive_spans: vec![Span {
                offset: -1,
                length: 2,
            }],
            positive_buckets: vec![4, -1],
            negative_spans: vec![Span {
                offset: 2,
                length: 1,
            }],
            negative_buckets: vec![3],
            counter_reset_hint: CounterResetHint::NotCounterReset,
            ..Default::default()
        };
        let hs = vec![RefHistogram {
            r: 1,
            t: 7,
            h: h.clone(),
        }];
        buf.clear();
        encode_histograms(&hs, false, &mut buf);
        assert_eq!(decode(&buf), Ok(Record::Histograms(hs)));

        let mut f = h.to_float();
        f.schema = CUSTOM_BUCKETS_SCHEMA;
        f.custom_values = vec![0.1, 1.0];
        let fs = vec![RefHistogram { r: 1, t: 8, h: f }];
        buf.clear();
        encode_float_histograms(&fs, true, &mut buf);
        assert_eq!(buf[0], 10);
        assert_eq!(decode(&buf), Ok(Record::FloatHistograms(fs)));
    }

    #[test]
    fn truncated_records_are_errors() {
        let mut buf = Vec::new();
        encode_samples(&[RefSample { r: 1, t: 2, v: 3.0 }], &mut buf);
        for cut in 1..buf.len() {
            if cut == 1 || cut == 17 {
                // A bare type byte, or type and base values, is a valid empty record.
                assert_eq!(decode(&buf[..cut]), Ok(Record::Samples(vec![])));
                continue;
            }
            assert!(decode(&buf[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(&[200]).is_err());
        assert!(decode(&[]).is_err());
    }
}
