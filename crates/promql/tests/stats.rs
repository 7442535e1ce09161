//! Query statistics (`QueryStats`): samples read per step as Prometheus counts them,
//! the peak of samples held, per-step counts only when both the engine and the query
//! ask, and the same figures whether a selection is spread over threads or not.
//!
//! The data are those the Prometheus 2.42 binary was asked about: `m{s="a"}` and
//! `m{s="b"}`, a sample every 10 s from 0 to 3590 s. Where 2.42 counts a range
//! selector's window with both ends, these figures count it as Prometheus 3 does (and
//! promlite evaluates): the start excluded, so a 1m window holds 6 samples, not 7.

use promlite_model::Labels;
use promlite_promql::{Engine, EngineOptions, QueryStats};
use promlite_storage::{Appendable, MemStore, SeriesRef};

fn store() -> MemStore {
    let store = MemStore::new();
    let mut app = store.appender();
    for s in ["a", "b"] {
        let l = Labels::from_pairs([("__name__", "m"), ("s", s)]);
        let mut r = SeriesRef::NONE;
        for t in 0..360 {
            r = app.append(r, &l, t * 10_000, (t * 10) as f64).unwrap();
        }
    }
    app.commit().unwrap();
    store
}

fn engine() -> Engine {
    Engine::new(EngineOptions::new().per_step_stats(true))
}

/// Instant query at `t` seconds, asking for per-step counts.
fn instant(q: &str, t: i64) -> QueryStats {
    let token = promlite_promql::CancelToken::new();
    engine()
        .with_cancel(token)
        .per_step_stats(true)
        .instant_query(&store(), q, t * 1000)
        .unwrap()
        .stats
}

/// Range query over seconds, asking for per-step counts.
fn range(q: &str, start: i64, end: i64, step: i64) -> QueryStats {
    let token = promlite_promql::CancelToken::new();
    engine()
        .with_cancel(token)
        .per_step_stats(true)
        .range_query(&store(), q, start * 1000, end * 1000, step * 1000)
        .unwrap()
        .stats
}

fn steps(s: &QueryStats) -> Vec<(i64, i64)> {
    s.per_step.clone().unwrap_or_default()
}

#[test]
fn instant_selectors_count_a_sample_per_series_and_step() {
    let s = instant("m", 100);
    assert_eq!(steps(&s), [(100_000, 2)]);
    assert_eq!((s.total_queryable_samples, s.peak_samples), (2, 2));
    let s = range("m", 0, 60, 15);
    assert_eq!(
        steps(&s),
        [(0, 2), (15_000, 2), (30_000, 2), (45_000, 2), (60_000, 2)]
    );
    assert_eq!((s.total_queryable_samples, s.peak_samples), (10, 10));
}

#[test]
fn range_selectors_count_their_windows() {
    let s = instant("m[1m]", 100);
    assert_eq!(
        (steps(&s), s.total_queryable_samples),
        (vec![(100_000, 12)], 12)
    );
    let s = instant("rate(m[1m])", 100);
    assert_eq!(s.total_queryable_samples, 12);
    let s = range("rate(m[1m])", 60, 120, 30);
    assert_eq!(steps(&s), [(60_000, 12), (90_000, 12), (120_000, 12)]);
    assert_eq!(s.total_queryable_samples, 36);
    // A fixed `@` time reads the same window at every step.
    let s = range("rate(m[1m] @ 100)", 60, 120, 30);
    assert_eq!(steps(&s), [(60_000, 12), (90_000, 12), (120_000, 12)]);
}

#[test]
fn operators_and_literals_read_nothing() {
    let s = range("sum(m) + sum(m)", 60, 120, 30);
    assert_eq!(steps(&s), [(60_000, 4), (90_000, 4), (120_000, 4)]);
    let s = range("vector(1)", 0, 60, 15);
    assert_eq!(s.total_queryable_samples, 0);
    assert_eq!(steps(&s).len(), 5);
    assert_eq!(instant("1", 30).total_queryable_samples, 0);
}

#[test]
fn subqueries_count_what_the_function_over_them_sees() {
    // A bare subquery: all it read, at the query's step (three subquery steps in
    // (40 s, 100 s], two series).
    let s = instant("m[1m:20s]", 100);
    assert_eq!(
        (steps(&s), s.total_queryable_samples),
        (vec![(100_000, 6)], 6)
    );
    // Under a function: the subquery's output points in each step's window, not what
    // the subquery itself read.
    let s = instant("max_over_time(m[1m:20s])", 100);
    assert_eq!(s.total_queryable_samples, 6);
    let s = range("max_over_time(m[1m:20s])", 60, 120, 30);
    assert_eq!(s.total_queryable_samples, 18);
}

#[test]
fn per_step_counts_need_the_engine_and_the_query_to_ask() {
    let store = store();
    let token = promlite_promql::CancelToken::new;
    let asked_not_allowed = Engine::new(EngineOptions::new())
        .with_cancel(token())
        .per_step_stats(true)
        .range_query(&store, "m", 0, 60, 15)
        .unwrap()
        .stats;
    assert_eq!(asked_not_allowed.per_step, None);
    assert_eq!(asked_not_allowed.total_queryable_samples, 10);
    let allowed_not_asked = engine().range_query(&store, "m", 0, 60, 15).unwrap().stats;
    assert_eq!(allowed_not_asked.per_step, None);
}

#[test]
fn threads_do_not_change_the_figures() {
    let store = MemStore::new();
    let mut app = store.appender();
    for i in 0..40 {
        let l = Labels::from_pairs([("__name__", "c"), ("i", i.to_string().as_str())]);
        let mut r = SeriesRef::NONE;
        for t in 0..2000 {
            r = app.append(r, &l, t * 15_000, t as f64).unwrap();
        }
    }
    app.commit().unwrap();
    for q in [
        "c",
        "rate(c[5m])",
        "sum(rate(c[2m]))",
        "max_over_time(c[10m:1m])",
    ] {
        let run = |threads: usize| {
            Engine::new(
                EngineOptions::new()
                    .per_step_stats(true)
                    .parallelism(threads)
                    .parallel_min_samples(0),
            )
            .with_cancel(promlite_promql::CancelToken::new())
            .per_step_stats(true)
            .range_query(&store, q, 0, 29_000_000, 60_000)
            .unwrap()
            .stats
        };
        let (serial, parallel) = (run(1), run(3));
        assert_eq!(
            serial.total_queryable_samples, parallel.total_queryable_samples,
            "{q}"
        );
        assert_eq!(serial.per_step, parallel.per_step, "{q}");
        assert_eq!(serial.peak_samples, parallel.peak_samples, "{q}");
        assert!(serial.total_queryable_samples > 0, "{q}");
    }
}
