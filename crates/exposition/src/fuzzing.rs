//! Invariant checks shared by the fuzz targets (`fuzz/`) and the corpus replay test, so
//! both run one code path. Each function panics when an invariant breaks; that is how a
//! fuzzer learns of it. Not part of the stable API.

use promlite_model::{Label, LabelsBuilder};

use crate::encode::TextEncoder;
use crate::entry::{Entry, HistogramRef, LabelPairs, Sample};
use crate::protobuf::ProtobufParser;
use crate::text::{OpenMetricsOptions, TextParser};

/// Checks the Prometheus text parser on `data`: no panic, errors point into the input,
/// and every sample re-encodes to text that parses back to the same sample.
pub fn check_text(data: &[u8]) {
    check_text_format::<false>(data);
}

/// Checks the OpenMetrics parser on `data`, as [`check_text`] does.
pub fn check_openmetrics(data: &[u8]) {
    check_text_format::<true>(data);
}

fn check_text_format<const OM: bool>(data: &[u8]) {
    let mut p = match TextParser::<OM>::from_bytes(data) {
        Ok(p) => p,
        Err(e) => {
            check_error_position(&e, data);
            return;
        }
    };
    let mut b = LabelsBuilder::new();
    loop {
        match p.next() {
            Ok(None) => break,
            Err(e) => {
                check_error_position(&e, data);
                break;
            }
            Ok(Some(Entry::Series(s))) => {
                let _ = s.to_labels(&mut b);
                check_reencode::<OM>(&s);
            }
            Ok(Some(_)) => {}
        }
    }
    // After the end or an error, a parser stays finished.
    assert!(matches!(p.next(), Ok(None)));
}

fn check_error_position(e: &crate::ParseError, data: &[u8]) {
    assert!(e.pos.line >= 1 && e.pos.col >= 1, "{e}");
    assert!(e.pos.offset <= data.len(), "{e}");
    let _ = e.to_string();
}

/// Labels, value bits and timestamp of an exemplar.
type OwnedExemplar = (Vec<(String, String)>, u64, Option<i64>);

/// Owned copy of a sample, for comparing across two parsers' lifetimes.
#[derive(Debug, PartialEq)]
struct Owned {
    name: String,
    labels: Vec<(String, String)>,
    value: u64,
    timestamp: Option<i64>,
    exemplar: Option<OwnedExemplar>,
}

fn bits(v: f64) -> u64 {
    // All NaNs compare equal: the text formats carry no NaN payload.
    if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

fn pairs(l: LabelPairs<'_>) -> Vec<(String, String)> {
    l.iter()
        .map(|l| (l.name.to_owned(), l.value.to_owned()))
        .collect()
}

fn owned(s: &Sample<'_>, with_exemplar: bool) -> Owned {
    Owned {
        name: s.name.to_owned(),
        labels: pairs(s.labels),
        value: bits(s.value),
        timestamp: s.timestamp,
        exemplar: if with_exemplar {
            s.exemplar
                .map(|e| (pairs(e.labels), bits(e.value), e.timestamp))
        } else {
            None
        },
    }
}

/// Encodes `s` alone and parses it back; the result must equal `s`.
fn check_reencode<const OM: bool>(s: &Sample<'_>) {
    let mut out = String::new();
    let mut e = TextEncoder::<OM>::new(&mut out);
    e.sample(s);
    e.eof();
    let mut q = TextParser::<OM>::make(&out, OpenMetricsOptions::default());
    let got = match q.next() {
        Ok(Some(Entry::Series(t))) => owned(&t, OM),
        other => panic!("re-encoded sample {out:?} did not parse back: {other:?}"),
    };
    assert_eq!(got, owned(s, OM), "re-encoded as {out:?}");
    assert!(matches!(q.next(), Ok(None)), "trailing entries in {out:?}");
}

/// Checks the protobuf parser on `data`: no panic, native histograms are consistent, and
/// float samples with well-formed names survive a trip through the text format.
#[allow(clippy::many_single_char_names)]
pub fn check_protobuf(data: &[u8]) {
    let mut p = ProtobufParser::new(data);
    let mut b = LabelsBuilder::new();
    loop {
        match p.next() {
            Ok(None) => break,
            Err(e) => {
                assert!(e.pos.offset <= data.len(), "{e}");
                let _ = e.to_string();
                break;
            }
            Ok(Some(Entry::Series(s))) => {
                let _ = s.to_labels(&mut b);
                let names: Vec<&str> = s.labels.iter().map(|l: Label<'_>| l.name).collect();
                let unique = names
                    .iter()
                    .enumerate()
                    .all(|(i, n)| !n.is_empty() && !names[..i].contains(n));
                if unique {
                    let mut t = s;
                    t.exemplar = None;
                    t.created = None;
                    check_reencode::<false>(&t);
                }
            }
            Ok(Some(Entry::Histogram(h))) => {
                let _ = h.to_labels(&mut b);
                match h.histogram {
                    HistogramRef::Int(i) => {
                        let span_len = |s: &[promlite_model::Span]| {
                            s.iter().map(|s| u64::from(s.length)).sum::<u64>()
                        };
                        assert_eq!(span_len(&i.positive_spans), i.positive_buckets.len() as u64);
                        assert_eq!(span_len(&i.negative_spans), i.negative_buckets.len() as u64);
                        let _ = i.to_float();
                    }
                    HistogramRef::Float(f) => {
                        let n: u64 = f.positive_spans.iter().map(|s| u64::from(s.length)).sum();
                        assert_eq!(n, f.positive_buckets.len() as u64);
                    }
                }
            }
            Ok(Some(_)) => {}
        }
    }
}
