//! The protobuf parser against families built with the encoder: every metric type,
//! classic and native histograms, exemplars, created timestamps, and malformed input.
// Test renderings favour readable `format!` over `write!` plumbing.
#![allow(
    clippy::format_push_string,
    clippy::many_single_char_names,
    clippy::unnecessary_wraps
)]

use promlite_exposition::proto::{self, MetricType as T};
use promlite_exposition::{
    Entry, ErrorKind, HistogramRef, ProtobufOptions, ProtobufParser, encode_delimited,
    write_go_float,
};
use promlite_model::{CounterResetHint, LabelsBuilder, Span};

fn lp(n: &str, v: &str) -> proto::LabelPair {
    proto::LabelPair {
        name: n.into(),
        value: v.into(),
    }
}

fn ts(ms: i64) -> Option<proto::Timestamp> {
    Some(proto::Timestamp::from_millis(ms))
}

fn family(name: &str, t: T, metric: Vec<proto::Metric>) -> proto::MetricFamily {
    proto::MetricFamily {
        name: name.into(),
        help: format!("{name} help"),
        r#type: t as i32,
        metric,
        unit: String::new(),
    }
}

fn body(families: &[proto::MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in families {
        encode_delimited(f, &mut out);
    }
    out
}

fn render(input: &[u8], options: ProtobufOptions) -> String {
    let mut p = ProtobufParser::with_options(input, options);
    let mut b = LabelsBuilder::new();
    let mut out = String::new();
    loop {
        let e = match p.next() {
            Ok(Some(e)) => e,
            Ok(None) => return out,
            Err(e) => return out + &format!("ERROR {e}\n"),
        };
        match e {
            Entry::Help { name, help } => out += &format!("HELP {name} {help}\n"),
            Entry::Type { name, metric_type } => out += &format!("TYPE {name} {metric_type}\n"),
            Entry::Unit { name, unit } => out += &format!("UNIT {name} {unit}\n"),
            Entry::Comment(_) => out += "COMMENT\n",
            Entry::Series(s) => {
                out += &s.to_labels(&mut b).to_string();
                out.push(' ');
                write_go_float(&mut out, s.value);
                if let Some(t) = s.timestamp {
                    out += &format!(" @{t}");
                }
                if let Some(x) = s.exemplar {
                    let x = x.to_exemplar(&mut b);
                    out += &format!(" # {} {} @{:?}", x.labels, x.value, x.timestamp);
                }
                if let Some(c) = s.created {
                    out += &format!(" ct={c}");
                }
                out.push('\n');
            }
            Entry::Histogram(h) => {
                let kind = match h.histogram {
                    HistogramRef::Int(i) => format!(
                        "int count={} buckets={:?} hint={:?}",
                        i.count, i.positive_buckets, i.counter_reset_hint
                    ),
                    HistogramRef::Float(f) => format!(
                        "float count={} buckets={:?} hint={:?}",
                        f.count, f.positive_buckets, f.counter_reset_hint
                    ),
                };
                out += &format!(
                    "HIST {} {kind} ex={} ct={:?}\n",
                    h.to_labels(&mut b),
                    h.exemplars.len(),
                    h.created
                );
            }
        }
    }
}

fn native(float: bool) -> proto::Histogram {
    proto::Histogram {
        sample_count: 5,
        sample_count_float: if float { 5.5 } else { 0.0 },
        sample_sum: 12.5,
        schema: 1,
        zero_threshold: 0.001,
        zero_count: 1,
        positive_span: vec![
            proto::BucketSpan {
                offset: 0,
                length: 2,
            },
            proto::BucketSpan {
                offset: 1,
                length: 1,
            },
        ],
        positive_delta: if float { vec![] } else { vec![1, 1, -1] },
        positive_count: if float { vec![1.0, 2.0, 1.5] } else { vec![] },
        bucket: vec![proto::Bucket {
            cumulative_count: 3,
            upper_bound: 1.0,
            ..Default::default()
        }],
        exemplars: vec![proto::Exemplar {
            label: vec![lp("trace_id", "x")],
            value: 1.5,
            timestamp: ts(1500),
        }],
        created_timestamp: ts(1000),
        ..Default::default()
    }
}

#[test]
fn every_type_in_prometheus_order() {
    let fams = vec![
        family(
            "requests_total",
            T::Counter,
            vec![proto::Metric {
                label: vec![lp("code", "200")],
                counter: Some(proto::Counter {
                    value: 3.0,
                    exemplar: Some(proto::Exemplar {
                        label: vec![lp("id", "a")],
                        value: 1.0,
                        timestamp: ts(2000),
                    }),
                    created_timestamp: ts(1000),
                }),
                ..Default::default()
            }],
        ),
        proto::MetricFamily {
            unit: "seconds".into(),
            ..family(
                "temp_seconds",
                T::Gauge,
                vec![proto::Metric {
                    gauge: Some(proto::Gauge { value: -1.5 }),
                    timestamp_ms: 1234,
                    ..Default::default()
                }],
            )
        },
        family("empty", T::Gauge, vec![]),
        family(
            "rpc",
            T::Summary,
            vec![proto::Metric {
                summary: Some(proto::Summary {
                    sample_count: 10,
                    sample_sum: 2.5,
                    quantile: vec![
                        proto::Quantile {
                            quantile: 0.5,
                            value: 0.1,
                        },
                        proto::Quantile {
                            quantile: 1.0,
                            value: 0.9,
                        },
                    ],
                    created_timestamp: None,
                }),
                ..Default::default()
            }],
        ),
        family(
            "lat",
            T::Histogram,
            vec![proto::Metric {
                histogram: Some(proto::Histogram {
                    sample_count: 4,
                    sample_sum: 3.0,
                    bucket: vec![
                        proto::Bucket {
                            cumulative_count: 1,
                            upper_bound: 0.5,
                            ..Default::default()
                        },
                        proto::Bucket {
                            cumulative_count: 3,
                            upper_bound: 1e6,
                            exemplar: Some(proto::Exemplar {
                                label: vec![lp("id", "b")],
                                value: 7.0,
                                timestamp: None,
                            }),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }),
                ..Default::default()
            }],
        ),
        family(
            "u",
            T::Untyped,
            vec![proto::Metric {
                untyped: Some(proto::Untyped { value: f64::NAN }),
                ..Default::default()
            }],
        ),
        family(
            "nh",
            T::Histogram,
            vec![proto::Metric {
                histogram: Some(native(false)),
                ..Default::default()
            }],
        ),
        family(
            "gnh",
            T::GaugeHistogram,
            vec![proto::Metric {
                label: vec![lp("a", "b")],
                histogram: Some(native(true)),
                ..Default::default()
            }],
        ),
    ];
    let got = render(&body(&fams), ProtobufOptions::default());
    let want = "\
HELP requests_total requests_total help
TYPE requests_total counter
{__name__=\"requests_total\", code=\"200\"} 3 # {id=\"a\"} 1 @Some(2000) ct=1000
HELP temp_seconds temp_seconds help
UNIT temp_seconds seconds
TYPE temp_seconds gauge
{__name__=\"temp_seconds\"} -1.5 @1234
HELP rpc rpc help
TYPE rpc summary
{__name__=\"rpc_count\"} 10
{__name__=\"rpc_sum\"} 2.5
{__name__=\"rpc\", quantile=\"0.5\"} 0.1
{__name__=\"rpc\", quantile=\"1.0\"} 0.9
HELP lat lat help
TYPE lat histogram
{__name__=\"lat_count\"} 4
{__name__=\"lat_sum\"} 3
{__name__=\"lat_bucket\", le=\"0.5\"} 1
{__name__=\"lat_bucket\", le=\"1e+06\"} 3 # {id=\"b\"} 7 @None
{__name__=\"lat_bucket\", le=\"+Inf\"} 4
HELP u u help
TYPE u unknown
{__name__=\"u\"} NaN
HELP nh nh help
TYPE nh histogram
HIST {__name__=\"nh\"} int count=5 buckets=[1, 1, -1] hint=Unknown ex=1 ct=Some(1000)
HELP gnh gnh help
TYPE gnh gaugehistogram
HIST {__name__=\"gnh\", a=\"b\"} float count=5.5 buckets=[1.0, 2.0, 1.5] hint=Gauge ex=1 ct=Some(1000)
";
    assert_eq!(got, want);
}

#[test]
fn classic_series_of_native_histograms_on_request() {
    let fams = [family(
        "nh",
        T::Histogram,
        vec![proto::Metric {
            histogram: Some(native(false)),
            ..Default::default()
        }],
    )];
    let keep = render(
        &body(&fams),
        ProtobufOptions {
            keep_classic_histograms: true,
            ..Default::default()
        },
    );
    assert!(keep.contains("HIST {__name__=\"nh\"}"));
    assert!(keep.contains("{__name__=\"nh_bucket\", le=\"1.0\"} 3 ct=1000\n{__name__=\"nh_bucket\", le=\"+Inf\"} 5 ct=1000\n"), "{keep}");
    let ignore = render(
        &body(&fams),
        ProtobufOptions {
            ignore_native_histograms: true,
            ..Default::default()
        },
    );
    assert!(!ignore.contains("HIST"));
    assert!(ignore.contains("{__name__=\"nh_count\"} 5"), "{ignore}");
}

#[test]
fn native_histogram_values_are_exact() {
    let fams = [family(
        "nh",
        T::Histogram,
        vec![proto::Metric {
            histogram: Some(native(false)),
            ..Default::default()
        }],
    )];
    let input = body(&fams);
    let mut p = ProtobufParser::new(&input);
    loop {
        match p.next().unwrap() {
            Some(Entry::Histogram(h)) => {
                let HistogramRef::Int(i) = h.histogram else {
                    panic!("float")
                };
                assert_eq!(i.schema, 1);
                assert_eq!(i.zero_threshold, 0.001);
                assert_eq!(i.zero_count, 1);
                assert_eq!(i.sum, 12.5);
                assert_eq!(
                    i.positive_spans,
                    vec![
                        Span {
                            offset: 0,
                            length: 2
                        },
                        Span {
                            offset: 1,
                            length: 1
                        }
                    ]
                );
                assert_eq!(h.histogram.to_float().positive_buckets, vec![1.0, 2.0, 1.0]);
                assert_eq!(i.counter_reset_hint, CounterResetHint::Unknown);
                assert_eq!(h.exemplars[0].timestamp, Some(1500));
                assert_eq!(h.exemplars[0].labels.get("trace_id"), Some("x"));
                return;
            }
            Some(_) => {}
            None => panic!("no histogram"),
        }
    }
}

#[test]
fn malformed_input_is_an_error_with_its_offset() {
    let good = body(&[family("a", T::Gauge, vec![proto::Metric::default()])]);
    // A second message claims more bytes than there are.
    let mut truncated = good.clone();
    truncated.extend_from_slice(&[0x20, 0x0a]);
    assert!(
        render(&truncated, ProtobufOptions::default()).ends_with(&format!(
            "ERROR byte {}: invalid protobuf: message length 32 exceeds the 1 bytes left\n",
            good.len()
        ))
    );

    let mut bad = native(false);
    bad.positive_delta.pop();
    let e = render(
        &body(&[family(
            "h",
            T::Histogram,
            vec![proto::Metric {
                histogram: Some(bad),
                ..Default::default()
            }],
        )]),
        ProtobufOptions::default(),
    );
    assert!(
        e.ends_with(
            "ERROR byte 0: histogram \"h\": positive side: spans require 3 buckets, have 2\n"
        ),
        "{e}"
    );

    let mut unknown = family("x", T::Gauge, vec![proto::Metric::default()]);
    unknown.r#type = 9;
    let e = render(&body(&[unknown]), ProtobufOptions::default());
    assert_eq!(e, "ERROR byte 0: unknown metric type 9 for metric \"x\"\n");

    let e = render(
        &body(&[family("", T::Gauge, vec![proto::Metric::default()])]),
        ProtobufOptions::default(),
    );
    assert_eq!(e, "ERROR byte 0: invalid metric name \"\"\n");

    // Garbage: a length then bytes that are not a MetricFamily.
    let mut p = ProtobufParser::new(&[0x03, 0xff, 0xff, 0xff]);
    let err = p.next().unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::Protobuf(_)), "{err}");
    assert!(
        p.next().unwrap().is_none(),
        "a parser is done after an error"
    );
}
