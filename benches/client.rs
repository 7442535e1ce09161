//! Instrumentation hot paths: promlite-client against `prometheus-client` (client_rust),
//! `prometheus` (rust-prometheus) and the `metrics` facade (with
//! `metrics-exporter-prometheus`'s recorder and with promlite's), in the same run.
//! Figures in `docs/benchmarks.md`.
//!
//! - `counter_inc_2_labels`: look up the child for `method="GET", code="200"` of a
//!   labelled counter that already exists, and add one — what a request handler does.
//!   Every peer gets its label values prepared outside the loop, in the form its API
//!   takes (`&[&str]`, a prebuilt label-set struct, static macro labels), so no peer
//!   pays for building them. `*_handle` rows increment a handle kept from an earlier
//!   look-up, for reference.
//! - `histogram_observe`: observe into an unlabelled histogram with Prometheus's default
//!   buckets, cycling through 1024 values spread over the buckets; `*_native` rows
//!   observe into a native histogram of schema 3 instead.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use promlite_client::{
    Counter, DEFAULT_BUCKETS, Family, Histogram, HistogramConfig, PromliteRecorder, Registry,
};

fn values() -> Vec<f64> {
    // A fixed pseudo-random spread over 1 ms … 20 s, so bucket search is not predictable.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            0.001 * 20_000f64.powf((x >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

fn counter(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_inc_2_labels");

    let promlite: Family<[String; 2], Counter> = Family::new(["method", "code"]).unwrap();
    Registry::new()
        .register("requests", "Requests.", promlite.clone())
        .unwrap();
    promlite.get_or_create(&["GET", "200"]).unwrap();
    g.bench_function("promlite", |b| {
        b.iter(|| {
            if let Ok(c) = promlite.get_or_create(black_box(&["GET", "200"])) {
                c.inc();
            }
        });
    });

    g.bench_function("promlite_with", |b| {
        b.iter(|| {
            let _ = promlite.with(black_box(&["GET", "200"]), Counter::<u64>::inc);
        });
    });

    let pc: prometheus_client::metrics::family::Family<
        Vec<(String, String)>,
        prometheus_client::metrics::counter::Counter,
    > = prometheus_client::metrics::family::Family::default();
    let mut pc_registry = prometheus_client::registry::Registry::default();
    pc_registry.register("requests", "Requests.", pc.clone());
    let pc_labels = vec![
        ("method".to_owned(), "GET".to_owned()),
        ("code".to_owned(), "200".to_owned()),
    ];
    pc.get_or_create(&pc_labels).inc();
    g.bench_function("prometheus-client", |b| {
        b.iter(|| {
            pc.get_or_create(black_box(&pc_labels)).inc();
        });
    });

    let rp = prometheus::IntCounterVec::new(
        prometheus::Opts::new("requests_total", "Requests."),
        &["method", "code"],
    )
    .unwrap();
    let rp_registry = prometheus::Registry::new();
    rp_registry.register(Box::new(rp.clone())).unwrap();
    rp.with_label_values(&["GET", "200"]).inc();
    g.bench_function("prometheus", |b| {
        b.iter(|| {
            rp.with_label_values(black_box(&["GET", "200"])).inc();
        });
    });

    let exporter = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&exporter, || {
        metrics::counter!("requests_total", "method" => "GET", "code" => "200").increment(1);
        g.bench_function("metrics+exporter-prometheus", |b| {
            b.iter(|| {
                metrics::counter!("requests_total", "method" => "GET", "code" => "200")
                    .increment(black_box(1));
            });
        });
    });

    let registry = Registry::new();
    let recorder = PromliteRecorder::new(&registry);
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("requests_total", "method" => "GET", "code" => "200").increment(1);
        g.bench_function("metrics+promlite", |b| {
            b.iter(|| {
                metrics::counter!("requests_total", "method" => "GET", "code" => "200")
                    .increment(black_box(1));
            });
        });
    });

    let handle = promlite.get_or_create(&["GET", "200"]).unwrap();
    g.bench_function("promlite_handle", |b| b.iter(|| black_box(&handle).inc()));
    let rp_handle = rp.with_label_values(&["GET", "200"]);
    g.bench_function("prometheus_handle", |b| {
        b.iter(|| black_box(&rp_handle).inc());
    });
    g.finish();
}

fn histogram(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_observe");
    let vs = values();

    let promlite = Histogram::new(&HistogramConfig::default());
    let mut i = 0usize;
    g.bench_function("promlite", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            promlite.observe(black_box(vs[i]));
        });
    });

    let native = Histogram::new(&HistogramConfig::native(3, 0.0).unwrap());
    g.bench_function("promlite_native", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            native.observe(black_box(vs[i]));
        });
    });

    let pc = prometheus_client::metrics::histogram::Histogram::new(DEFAULT_BUCKETS);
    g.bench_function("prometheus-client", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            pc.observe(black_box(vs[i]));
        });
    });

    let pc_native = prometheus_client::metrics::histogram::Histogram::new_native(
        prometheus_client::metrics::histogram::NativeHistogramConfig::with_schema(3),
    );
    g.bench_function("prometheus-client_native", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            pc_native.observe(black_box(vs[i]));
        });
    });

    let rp = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("latency_seconds", "Latency.")
            .buckets(DEFAULT_BUCKETS.to_vec()),
    )
    .unwrap();
    g.bench_function("prometheus", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            rp.observe(black_box(vs[i]));
        });
    });

    let exporter = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&DEFAULT_BUCKETS)
        .unwrap()
        .build_recorder();
    metrics::with_local_recorder(&exporter, || {
        g.bench_function("metrics+exporter-prometheus", |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                metrics::histogram!("latency_seconds").record(black_box(vs[i]));
            });
        });
    });
    // The exporter appends raw observations to a buffer that is drained only when it
    // renders; render now and then so the buffer does not grow through the run.
    let _ = exporter.handle().render();

    let registry = Registry::new();
    let recorder = PromliteRecorder::new(&registry);
    metrics::with_local_recorder(&recorder, || {
        g.bench_function("metrics+promlite", |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                metrics::histogram!("latency_seconds").record(black_box(vs[i]));
            });
        });
    });
    g.finish();
}

criterion_group!(benches, counter, histogram);
criterion_main!(benches);
