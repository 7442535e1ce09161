//! Runs one query a fixed number of times over the data of `benches/promql.rs`, for
//! instruction counts that repeat from run to run (criterion's wall-clock figures do not
//! on a shared machine):
//!
//! ```text
//! cargo build --profile bench -p promlite-promql --example eval_profile
//! valgrind --tool=callgrind --toggle-collect='*eval_profile*run_queries*' \
//!     target/release/examples/eval_profile range 'rate(a_hundred[1m])' 3
//! ```
//!
//! Arguments: `instant` or `range` (1,000 steps of 1 minute), the query, the number of
//! runs (default 1). `PROMQL_BENCH_HOURS` sets the data span as in the bench (default 24
//! here, enough for the range queries and quicker to load under valgrind).

use std::hint::black_box;

use promlite_model::Labels;
use promlite_promql::{Engine, EngineOptions};
use promlite_storage::{Appendable, MemStore, SeriesRef};

const INTERVAL_MS: i64 = 10_000;

/// The series of Prometheus's `promql/bench_test.go`, as `benches/promql.rs` loads them.
fn load(hours: i64) -> (MemStore, i64) {
    let intervals = hours * 3600 * 1000 / INTERVAL_MS;
    let les: Vec<String> = (0..10)
        .map(|j| j.to_string())
        .chain(["+Inf".to_owned()])
        .collect();
    let mut metrics = Vec::new();
    for (x, n) in [("one", 1), ("hundred", 100)] {
        for i in 0..n {
            let l = i.to_string();
            let with_l = |name: String, extra: Option<&str>| {
                let mut pairs = vec![("__name__".to_owned(), name)];
                if n > 1 {
                    pairs.push(("l".to_owned(), l.clone()));
                }
                if let Some(le) = extra {
                    pairs.push(("le".to_owned(), le.to_owned()));
                }
                Labels::from_pairs(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())))
            };
            metrics.push(with_l(format!("a_{x}"), None));
            metrics.push(with_l(format!("b_{x}"), None));
            for le in &les {
                metrics.push(with_l(format!("h_{x}"), Some(le)));
            }
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

#[inline(never)]
fn run_queries(engine: &Engine, store: &MemStore, range: bool, query: &str, end: i64, n: usize) {
    let step = 60_000;
    for _ in 0..n {
        let r = if range {
            engine.range_query(store, query, end - 999 * step, end, step)
        } else {
            engine.instant_query(store, query, end)
        };
        black_box(r.expect("query runs"));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(query)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: eval_profile instant|range QUERY [RUNS]");
        std::process::exit(2);
    };
    let runs = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(1);
    let hours = std::env::var("PROMQL_BENCH_HOURS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(24);
    let (store, end) = load(hours);
    let engine = Engine::new(EngineOptions::new().max_samples(1_000_000_000));
    let started = std::time::Instant::now();
    run_queries(&engine, &store, kind == "range", query, end, runs);
    eprintln!("{runs} run(s) in {:?}", started.elapsed());
}
