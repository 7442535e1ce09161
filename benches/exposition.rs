//! Exposition parsing throughput: promlite's parsers against `prometheus-parse` and
//! `openmetrics-parser` on the same inputs in the same run (figures in
//! `docs/benchmarks.md`).
//!
//! Inputs: Prometheus's own parser benchmark file (`alltypes.237mfs.prom.txt`), a real
//! node_exporter 1.5 scrape, a synthetic scrape of 2000 labelled gauges, and an
//! OpenMetrics file with exemplars and `_created` lines.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use promlite::exposition::{Entry, OpenMetricsParser, PromParser, TextParser};
use promlite::model::LabelsBuilder;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/conformance/exposition/"
);

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{CORPUS}{name}")).unwrap_or_else(|e| {
        panic!("{CORPUS}{name}: {e} (the shared conformance corpus must sit beside the repository)")
    })
}

fn synthetic_gauges(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let _ = write!(
            s,
            "# HELP app_gauge_{i} Synthetic gauge number {i}.\n# TYPE app_gauge_{i} gauge\n\
             app_gauge_{i}{{instance=\"host-{}:9100\",job=\"node\",zone=\"eu-west-1a\"}} {}.25\n",
            i % 7,
            i * 3
        );
    }
    s
}

/// Walks every entry, touching values and label pairs, allocating nothing.
fn promlite_entries<const OM: bool>(mut p: TextParser<'_, OM>) -> f64 {
    let mut acc = 0.0;
    while let Some(e) = p.next().unwrap() {
        if let Entry::Series(s) = e {
            acc += s.value + s.labels.len() as f64;
        }
    }
    acc
}

/// As a scraper without a series cache: builds every sample's `Labels`.
fn promlite_labels<const OM: bool>(mut p: TextParser<'_, OM>, b: &mut LabelsBuilder) -> usize {
    let mut n = 0;
    while let Some(e) = p.next().unwrap() {
        if let Entry::Series(s) = e {
            n += s.to_labels(b).encoded_len();
        }
    }
    n
}

fn prometheus_parse(body: &str) -> usize {
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    scrape.samples.len()
}

fn bench_text(c: &mut Criterion, name: &str, body: &str) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("promlite", |b| {
        b.iter(|| promlite_entries(PromParser::new(black_box(body))));
    });
    let mut lb = LabelsBuilder::new();
    g.bench_function("promlite+labels", |b| {
        b.iter(|| promlite_labels(PromParser::new(black_box(body)), &mut lb));
    });
    g.bench_function("prometheus-parse", |b| {
        b.iter(|| prometheus_parse(black_box(body)));
    });
    g.bench_function("openmetrics-parser", |b| {
        b.iter(|| openmetrics_parser::prometheus::parse_prometheus(black_box(body)).is_ok());
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_text(c, "alltypes.237mfs", &read("alltypes.237mfs.prom.txt"));
    bench_text(c, "node_exporter-1.5", &read("real/node_exporter-1.5.prom"));
    bench_text(c, "synthetic-2000-gauges", &synthetic_gauges(2000));

    let om = read("alltypes.5mfs.om.txt");
    let mut g = c.benchmark_group("openmetrics-alltypes.5mfs");
    g.throughput(Throughput::Bytes(om.len() as u64));
    g.bench_function("promlite", |b| {
        b.iter(|| promlite_entries(OpenMetricsParser::new(black_box(&om))));
    });
    g.bench_function("openmetrics-parser", |b| {
        b.iter(|| openmetrics_parser::openmetrics::parse_openmetrics(black_box(&om)).is_ok());
    });
    g.finish();
}

criterion_group!(exposition, benches);
criterion_main!(exposition);
