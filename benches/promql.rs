//! PromQL evaluation: the query shapes of Prometheus's `promql/bench_test.go` (selectors,
//! `rate`, `sum by`, `histogram_quantile` over 11 classic buckets, `topk`, one-to-one and
//! many-to-one joins, subqueries) over 1 and 100 series of 10-second samples in a
//! `MemStore`, as instant queries at the end of the data and as range queries of 1,000
//! steps. Figures are in `docs/benchmarks.md`.
//!
//! The data span `PROMQL_BENCH_HOURS` hours (default 48, Prometheus's two days).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use promlite_model::Labels;
use promlite_promql::{Engine, EngineOptions};
use promlite_storage::{Appendable, MemStore, SeriesRef};

const INTERVAL_MS: i64 = 10_000;

/// Series like Prometheus's benchmark: `a_X`, `b_X` and `h_X` (10 `le` buckets plus
/// `+Inf`) for X in one and hundred.
fn load() -> (MemStore, i64) {
    let hours: i64 = std::env::var("PROMQL_BENCH_HOURS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(48);
    let intervals = hours * 3600 * 1000 / INTERVAL_MS;
    let mut metrics = vec![
        Labels::from_pairs([("__name__", "a_one")]),
        Labels::from_pairs([("__name__", "b_one")]),
    ];
    let les: Vec<String> = (0..10)
        .map(|j| j.to_string())
        .chain(["+Inf".to_owned()])
        .collect();
    for le in &les {
        metrics.push(Labels::from_pairs([
            ("__name__", "h_one"),
            ("le", le.as_str()),
        ]));
    }
    for i in 0..100 {
        let l = i.to_string();
        metrics.push(Labels::from_pairs([
            ("__name__", "a_hundred"),
            ("l", l.as_str()),
        ]));
        metrics.push(Labels::from_pairs([
            ("__name__", "b_hundred"),
            ("l", l.as_str()),
        ]));
        for le in &les {
            metrics.push(Labels::from_pairs([
                ("__name__", "h_hundred"),
                ("l", l.as_str()),
                ("le", le.as_str()),
            ]));
        }
    }
    let store = MemStore::new();
    let n = metrics.len() as f64;
    let mut app = store.appender();
    let mut refs = vec![SeriesRef::NONE; metrics.len()];
    for s in 0..intervals {
        let t = s * INTERVAL_MS;
        for (i, m) in metrics.iter().enumerate() {
            refs[i] = app
                .append(refs[i], m, t, s as f64 + i as f64 / n)
                .expect("in-order append");
        }
    }
    app.commit().expect("commit");
    (store, (intervals - 1) * INTERVAL_MS)
}

fn bench(c: &mut Criterion) {
    let (store, end) = load();
    let engine = Engine::new(EngineOptions::new().max_samples(1_000_000_000));
    let queries = [
        "a_X",
        "rate(a_X[1m])",
        "sum(a_X)",
        "sum by (l) (rate(h_X[5m]))",
        "histogram_quantile(0.9, rate(h_X[5m]))",
        "topk(1, a_X)",
        "a_X + b_X",
        "a_X + on () group_left a_one",
        "max_over_time(rate(a_X[1m])[10m:1m])",
    ];
    let step = 60_000;
    let start = end - 999 * step;
    let mut group = c.benchmark_group("promql");
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(3));
    group.warm_up_time(std::time::Duration::from_millis(500));
    for q in queries {
        for x in ["one", "hundred"] {
            let query = q.replace('X', x);
            group.bench_function(format!("instant/{query}"), |b| {
                b.iter(|| {
                    black_box(
                        engine
                            .instant_query(&store, &query, end)
                            .expect("query runs"),
                    )
                });
            });
            group.bench_function(format!("range1000/{query}"), |b| {
                b.iter(|| {
                    black_box(
                        engine
                            .range_query(&store, &query, start, end, step)
                            .expect("query runs"),
                    )
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
