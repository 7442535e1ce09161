//! Query limits: the sample limit, the points-per-series limit, range-query argument
//! checks and cancellation, each with Prometheus's error text.

use promlite_model::Labels;
use promlite_promql::{CancelToken, Engine, EngineOptions, EvalError};
use promlite_storage::{Appendable, MemStore, SeriesRef};

fn store() -> MemStore {
    let store = MemStore::new();
    let mut app = store.appender();
    for i in 0..10 {
        let l = Labels::from_pairs([("__name__", "m"), ("i", i.to_string().as_str())]);
        let mut r = SeriesRef::NONE;
        for t in 0..100 {
            r = app.append(r, &l, t * 10_000, t as f64).unwrap();
        }
    }
    app.commit().unwrap();
    store
}

#[test]
fn too_many_samples_is_prometheus_error() {
    let engine = Engine::new(EngineOptions::new().max_samples(50));
    let err = engine
        .range_query(&store(), "m", 0, 990_000, 10_000)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    // The same query fits a larger limit.
    let engine = Engine::new(EngineOptions::new().max_samples(10_000));
    assert!(
        engine
            .range_query(&store(), "m", 0, 990_000, 10_000)
            .is_ok()
    );
}

#[test]
fn resolution_limit_and_range_arguments() {
    let engine = Engine::new(EngineOptions::new());
    let err = engine
        .range_query(&store(), "m", 0, 11_000_000, 1)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
    assert!(matches!(
        engine.range_query(&store(), "m", 0, 10, 0),
        Err(EvalError::InvalidStep)
    ));
    assert_eq!(
        engine
            .range_query(&store(), "m[5m]", 0, 10, 1)
            .unwrap_err()
            .to_string(),
        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
    );
}

#[test]
fn cancelled_query_stops() {
    let engine = Engine::new(EngineOptions::new());
    let token = CancelToken::new();
    token.cancel();
    let err = engine
        .with_cancel(token)
        .instant_query(&store(), "sum(m)", 100_000)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "query was canceled in expression evaluation"
    );
}

#[test]
fn duplicate_series_in_one_to_one_match_is_prometheus_error() {
    let engine = Engine::new(EngineOptions::new());
    let err = engine
        .instant_query(&store(), "m + on() m", 100_000)
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "found duplicate series for the match group {} on the right hand-side of the operation"
        ),
        "{err}"
    );
}
