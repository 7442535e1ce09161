//! Golden outputs of a registry holding every metric kind, checked to parse back with
//! the exposition crate's parsers (strictly, as `promlite check metrics` reads), to be
//! promlint-clean, and — for protobuf — to carry exactly what in-process collection
//! yields.

mod common;

use promlite_client::{Counter, Family, Histogram, HistogramConfig, ProcessCollector, Registry};
use promlite_exposition::{
    Entry, HistogramRef, OpenMetricsOptions, OpenMetricsParser, PromOptions, PromParser,
    ProtobufOptions, ProtobufParser,
};
use promlite_model::{FloatHistogram, LabelsBuilder, MetricType};

const TEXT: &str = r#"# HELP build_info Build information.
# TYPE build_info gauge
build_info{service="shop",version="1.2.3"} 1
# HELP http_request_duration_seconds Request latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{route="/cart",service="shop",le="0.1"} 1
http_request_duration_seconds_bucket{route="/cart",service="shop",le="0.5"} 3
http_request_duration_seconds_bucket{route="/cart",service="shop",le="1"} 3
http_request_duration_seconds_bucket{route="/cart",service="shop",le="+Inf"} 4
http_request_duration_seconds_sum{route="/cart",service="shop"} 2.65
http_request_duration_seconds_count{route="/cart",service="shop"} 4
# HELP http_requests_total HTTP requests served.
# TYPE http_requests_total counter
http_requests_total{code="200",method="GET",service="shop"} 7
http_requests_total{code="500",method="POST",service="shop"} 1
# HELP mode Serving mode.
# TYPE mode gauge
mode{service="shop",mode="serving"} 1
mode{service="shop",mode="draining"} 0
# HELP queue_length Jobs waiting.
# TYPE queue_length gauge
queue_length{service="shop"} 3
# HELP response_size_bytes Response sizes.
# TYPE response_size_bytes histogram
response_size_bytes_bucket{service="shop",le="+Inf"} 5
response_size_bytes_sum{service="shop"} 107.5
response_size_bytes_count{service="shop"} 5
# HELP rpc_duration_seconds RPC latency.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{service="shop",quantile="0.5"} 0.5
rpc_duration_seconds{service="shop",quantile="0.9"} 0.9
rpc_duration_seconds_sum{service="shop"} 5.5
rpc_duration_seconds_count{service="shop"} 10
# HELP worker_cpu_seconds_total CPU time of the workers.
# TYPE worker_cpu_seconds_total counter
worker_cpu_seconds_total{service="shop"} 1.25
"#;

const OPENMETRICS: &str = r#"# HELP build Build information.
# TYPE build info
build_info{service="shop",version="1.2.3"} 1
# HELP http_request_duration_seconds Request latency.
# UNIT http_request_duration_seconds seconds
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{route="/cart",service="shop",le="0.1"} 1
http_request_duration_seconds_bucket{route="/cart",service="shop",le="0.5"} 3
http_request_duration_seconds_bucket{route="/cart",service="shop",le="1.0"} 3
http_request_duration_seconds_bucket{route="/cart",service="shop",le="+Inf"} 4
http_request_duration_seconds_count{route="/cart",service="shop"} 4
http_request_duration_seconds_sum{route="/cart",service="shop"} 2.65
http_request_duration_seconds_created{route="/cart",service="shop"} <created>
# HELP http_requests HTTP requests served.
# TYPE http_requests counter
http_requests_total{code="200",method="GET",service="shop"} 7
http_requests_created{code="200",method="GET",service="shop"} <created>
http_requests_total{code="500",method="POST",service="shop"} 1
http_requests_created{code="500",method="POST",service="shop"} <created>
# HELP mode Serving mode.
# TYPE mode stateset
mode{service="shop",mode="serving"} 1
mode{service="shop",mode="draining"} 0
# HELP queue_length Jobs waiting.
# TYPE queue_length gauge
queue_length{service="shop"} 3
# HELP response_size_bytes Response sizes.
# UNIT response_size_bytes bytes
# TYPE response_size_bytes histogram
response_size_bytes_bucket{service="shop",le="+Inf"} 5
response_size_bytes_count{service="shop"} 5
response_size_bytes_sum{service="shop"} 107.5
response_size_bytes_created{service="shop"} <created>
# HELP rpc_duration_seconds RPC latency.
# UNIT rpc_duration_seconds seconds
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{service="shop",quantile="0.5"} 0.5
rpc_duration_seconds{service="shop",quantile="0.9"} 0.9
rpc_duration_seconds_count{service="shop"} 10
rpc_duration_seconds_sum{service="shop"} 5.5
rpc_duration_seconds_created{service="shop"} <created>
# HELP worker_cpu_seconds CPU time of the workers.
# UNIT worker_cpu_seconds seconds
# TYPE worker_cpu_seconds counter
worker_cpu_seconds_total{service="shop"} 1.25
worker_cpu_seconds_created{service="shop"} <created>
# EOF
"#;

#[test]
fn text_golden() {
    let mut out = String::new();
    common::fixture().encode_text(&mut out);
    assert_eq!(out, TEXT, "actual:\n{out}");
}

#[test]
fn openmetrics_golden() {
    let mut out = String::new();
    common::fixture().encode_openmetrics(&mut out);
    let out = common::normalise_created(&out);
    assert_eq!(out, OPENMETRICS, "actual:\n{out}");
}

/// An entry copied out of a parser or visitor, comparable across sources.
#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Help(String, String),
    Unit(String, String),
    Type(String, MetricType),
    Series {
        labels: String,
        value: u64,
        created: Option<i64>,
        exemplar: Option<(String, u64)>,
    },
    Histogram {
        labels: String,
        histogram: FloatHistogram,
        created: Option<i64>,
        exemplars: usize,
    },
}

fn own(e: &Entry<'_>, b: &mut LabelsBuilder) -> Option<Owned> {
    Some(match e {
        Entry::Help { name, help } => Owned::Help((*name).into(), (*help).into()),
        Entry::Unit { name, unit } => Owned::Unit((*name).into(), (*unit).into()),
        Entry::Type { name, metric_type } => Owned::Type((*name).into(), *metric_type),
        Entry::Comment(_) => return None,
        Entry::Series(s) => Owned::Series {
            labels: s.to_labels(b).to_string(),
            value: s.value.to_bits(),
            created: s.created,
            exemplar: s
                .exemplar
                .map(|e| (e.to_exemplar(b).labels.to_string(), e.value.to_bits())),
        },
        Entry::Histogram(h) => Owned::Histogram {
            labels: h.to_labels(b).to_string(),
            histogram: match h.histogram {
                HistogramRef::Int(i) => i.to_float(),
                HistogramRef::Float(f) => f.clone(),
            },
            created: h.created,
            exemplars: h.exemplars.len(),
        },
    })
}

fn sorted(mut v: Vec<Owned>) -> Vec<Owned> {
    v.sort_by_key(|o| format!("{o:?}"));
    v
}

fn in_process(r: &Registry) -> Vec<Owned> {
    let mut b = LabelsBuilder::new();
    let mut v = Vec::new();
    r.visit(&mut |e| v.extend(own(&e, &mut b)));
    v
}

fn from_protobuf(r: &Registry, options: ProtobufOptions) -> Vec<Owned> {
    let mut body = Vec::new();
    r.encode_protobuf(&mut body);
    let mut p = ProtobufParser::with_options(&body, options);
    let mut b = LabelsBuilder::new();
    let mut v = Vec::new();
    while let Some(e) = p.next().expect("protobuf parses") {
        v.extend(own(&e, &mut b));
    }
    v
}

#[test]
fn protobuf_carries_what_in_process_collection_yields() {
    let r = common::fixture();
    let counter: Counter = Counter::new();
    r.register("jobs", "Jobs.", counter.clone()).unwrap();
    counter
        .inc_by_with_exemplar(2, &[("trace_id", "abc")])
        .unwrap();
    let visited = in_process(&r);
    let parsed = from_protobuf(&r, ProtobufOptions::default());
    assert_eq!(sorted(parsed), sorted(visited.clone()));
    // The native histogram came as one histogram entry with its buckets.
    let native = visited
        .iter()
        .find_map(|o| match o {
            Owned::Histogram { histogram, .. } => Some(histogram.clone()),
            _ => None,
        })
        .expect("a native histogram");
    assert_eq!(
        (native.count, native.zero_count, native.sum),
        (5.0, 1.0, 107.5)
    );
    let buckets: Vec<(i32, f64)> = native.positive_bucket_indexes().collect();
    assert_eq!(buckets, [(0, 1.0), (2, 2.0), (7, 1.0)]);
}

#[test]
fn protobuf_keeps_classic_and_native_buckets_together() {
    let r = Registry::new();
    let h = Histogram::new(
        &HistogramConfig::classic([1.0, 10.0])
            .unwrap()
            .with_native(3, 0.0)
            .unwrap(),
    );
    r.register("both", "Both layouts.", h.clone()).unwrap();
    h.observe(0.5);
    h.observe(5.0);
    h.observe_with_exemplar(50.0, &[("trace_id", "t1")])
        .unwrap();
    let parsed = from_protobuf(
        &r,
        ProtobufOptions {
            keep_classic_histograms: true,
            ..ProtobufOptions::default()
        },
    );
    let native = parsed.iter().find_map(|o| match o {
        Owned::Histogram {
            histogram,
            exemplars,
            ..
        } => Some((histogram.count, *exemplars)),
        _ => None,
    });
    assert_eq!(native, Some((3.0, 1)));
    let buckets: Vec<_> = parsed
        .iter()
        .filter_map(|o| match o {
            Owned::Series { labels, value, .. } if labels.contains("le=") => {
                Some((labels.clone(), f64::from_bits(*value)))
            }
            _ => None,
        })
        .collect();
    assert_eq!(buckets.len(), 3, "{buckets:?}");
    assert!(buckets.contains(&(r#"{__name__="both_bucket", le="+Inf"}"#.into(), 3.0)));
    let mut text = String::new();
    r.encode_text(&mut text);
    assert!(text.contains("both_bucket{le=\"10\"} 2\n"), "{text}");
}

#[test]
fn text_parses_back_strictly() {
    let mut text = String::new();
    common::fixture().encode_text(&mut text);
    let mut p = PromParser::with_options(&text, PromOptions { strict: true });
    let mut samples = 0;
    while let Some(e) = p.next().expect("strict text parse") {
        if matches!(e, Entry::Series(_)) {
            samples += 1;
        }
    }
    assert_eq!(
        samples,
        TEXT.lines().filter(|l| !l.starts_with('#')).count()
    );
}

#[test]
fn openmetrics_parses_back_strictly_with_created_and_exemplars() {
    let r = common::fixture();
    let jobs: Counter = Counter::new();
    r.register("jobs", "Jobs.", jobs.clone()).unwrap();
    jobs.inc_by_with_exemplar(2, &[("trace_id", "abc")])
        .unwrap();
    let lat = Histogram::with_buckets([1.0]).unwrap();
    r.register("lat", "Latency.", lat.clone()).unwrap();
    lat.observe_with_exemplar(0.5, &[("trace_id", "def"), ("span_id", "1")])
        .unwrap();
    let mut text = String::new();
    r.encode_openmetrics(&mut text);
    let options = OpenMetricsOptions {
        strict: true,
        created_timestamps: true,
    };
    let mut p = OpenMetricsParser::with_options(&text, options);
    let mut b = LabelsBuilder::new();
    let mut seen = Vec::new();
    while let Some(e) = p.next().expect("strict OpenMetrics parse") {
        if let Entry::Series(s) = e {
            if s.name == "jobs_total" {
                assert_eq!(s.created, Some(jobs.created()));
            }
            if let Some(ex) = s.exemplar {
                seen.push((
                    s.name.to_owned(),
                    ex.to_exemplar(&mut b).labels.to_string(),
                    ex.value,
                ));
            }
        }
    }
    assert_eq!(
        seen,
        [
            (
                "jobs_total".to_owned(),
                r#"{trace_id="abc"}"#.to_owned(),
                2.0
            ),
            (
                "lat_bucket".to_owned(),
                r#"{span_id="1", trace_id="def"}"#.to_owned(),
                0.5
            ),
        ]
    );
}

/// promlint's rules (as `promlite check metrics` applies them) over the text format.
fn lint(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut p = PromParser::with_options(text, PromOptions { strict: true });
    let mut family: Option<(String, MetricType)> = None;
    let mut has_help = false;
    while let Some(e) = p.next().expect("strict text parse") {
        match e {
            Entry::Help { .. } => has_help = true,
            Entry::Type { name, metric_type } => {
                if !has_help {
                    problems.push(format!("{name}: no help text"));
                }
                has_help = false;
                let counter = metric_type == MetricType::Counter;
                if counter != name.ends_with("_total") {
                    problems.push(format!("{name}: _total suffix on a {metric_type}"));
                }
                let histo = metric_type == MetricType::Histogram;
                let summary = metric_type == MetricType::Summary;
                for (suffix, ok) in [
                    ("_bucket", histo),
                    ("_count", histo || summary),
                    ("_sum", histo || summary),
                ] {
                    if !ok && name.ends_with(suffix) {
                        problems.push(format!("{name}: {suffix} suffix on a {metric_type}"));
                    }
                }
                if name.contains(':') || name.bytes().any(|c| c.is_ascii_uppercase()) {
                    problems.push(format!("{name}: not snake_case"));
                }
                for abbr in ["_ms", "_us", "_ns", "_sec", "_kb", "_mb", "_s"] {
                    if name.ends_with(abbr) || name.contains(&format!("{abbr}_")) {
                        problems.push(format!("{name}: abbreviated unit"));
                    }
                }
                family = Some((name.to_owned(), metric_type));
            }
            Entry::Series(s) => {
                let Some((_, t)) = &family else {
                    problems.push(format!("{}: no TYPE", s.name));
                    continue;
                };
                for l in s.labels {
                    if (l.name == "le" && *t != MetricType::Histogram)
                        || (l.name == "quantile" && *t != MetricType::Summary)
                    {
                        problems.push(format!("{}: reserved label {}", s.name, l.name));
                    }
                }
            }
            _ => {}
        }
    }
    problems
}

#[test]
fn output_is_promlint_clean() {
    let r = common::fixture();
    r.register_collector(ProcessCollector::new());
    let mut text = String::new();
    r.encode_text(&mut text);
    assert_eq!(lint(&text), Vec::<String>::new(), "{text}");
    // The checker itself catches what it should.
    assert_eq!(
        lint("# TYPE requests counter\nrequests 1\n"),
        [
            "requests: no help text",
            "requests: _total suffix on a counter"
        ]
    );
}

#[test]
fn process_metrics_have_prometheus_names() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let r = Registry::new();
    r.register_collector(ProcessCollector::new());
    let mut text = String::new();
    r.encode_text(&mut text);
    for name in [
        "# TYPE process_cpu_seconds_total counter",
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_virtual_memory_bytes gauge",
        "# TYPE process_open_fds gauge",
        "# TYPE process_max_fds gauge",
        "# TYPE process_start_time_seconds gauge",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
}

#[test]
fn label_values_are_escaped() {
    let r = Registry::new();
    let f: Family<Vec<String>, Counter> = Family::new(["path"]).unwrap();
    r.register("hits", "Hits.", f.clone()).unwrap();
    f.get_or_create(&["a\"b\\c\nd"]).unwrap().inc();
    let mut text = String::new();
    r.encode_text(&mut text);
    assert!(
        text.contains(r#"hits_total{path="a\"b\\c\nd"} 1"#),
        "{text}"
    );
}
