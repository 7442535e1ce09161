//! Selections spread over threads (`EngineOptions::parallelism`) answer exactly as the
//! serial evaluation: the same series in the same order, the same values (NaN and
//! staleness included), the same annotations and the same errors, the sample limit's
//! among them, for random stores, queries and limits.

use proptest::prelude::*;

use promlite_model::{Labels, STALE_NAN};
use promlite_promql::{Engine, EngineOptions};
use promlite_storage::{Appendable, MemStore, SeriesRef};

/// One series: its metric name (index into `NAMES`) and its samples as
/// (gap in seconds to the previous one, kind, value).
type SeriesSpec = (usize, Vec<(i64, u8, f64)>);

const NAMES: [&str; 3] = ["x_total", "gauge", "y_total"];

const QUERIES: &[&str] = &[
    "x_total",
    "gauge",
    "{__name__=~\".+\"}",
    "rate(x_total[1m])",
    "rate({__name__=~\".+\"}[2m])",
    "increase(gauge[3m])",
    "irate(x_total[1m])",
    "sum by (i) (rate(x_total[5m]))",
    "max_over_time(gauge[2m])",
    "last_over_time({__name__=~\".+\"}[1m])",
    "quantile_over_time(0.3, gauge[4m])",
    "count_over_time(x_total[1m] offset 1m)",
    "absent_over_time(gauge[1m])",
    "timestamp(gauge)",
    "deriv(y_total[3m])",
    "max_over_time(rate(x_total[1m])[5m:1m])",
    "x_total + on (i) gauge",
    "topk(2, gauge)",
];

fn store(specs: &[SeriesSpec]) -> MemStore {
    let store = MemStore::new();
    let mut app = store.appender();
    for (i, (name, samples)) in specs.iter().enumerate() {
        let l = Labels::from_pairs([("__name__", NAMES[*name]), ("i", &i.to_string())]);
        let mut r = SeriesRef::NONE;
        let mut t = 0;
        for &(gap, kind, v) in samples {
            t += gap * 1000;
            let v = match kind {
                0 => STALE_NAN,
                1 => f64::NAN,
                _ => v,
            };
            r = app.append(r, &l, t, v).expect("append");
        }
    }
    app.commit().expect("commit");
    store
}

fn series_spec() -> impl Strategy<Value = SeriesSpec> {
    (
        0..NAMES.len(),
        prop::collection::vec((1i64..40, 0u8..12, -5.0f64..100.0), 0..60),
    )
}

/// The answer of a query as text: `Debug` prints NaN, so two answers with NaN in the
/// same places compare equal.
fn answer(engine: &Engine, store: &MemStore, q: &str, range: bool) -> String {
    let r = if range {
        engine.range_query(store, q, 0, 1_500_000, 45_000)
    } else {
        engine.instant_query(store, q, 900_000)
    };
    match r {
        Ok(r) => format!("{:?} {:?}", r.value, r.annotations),
        Err(e) => format!("error: {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn parallel_answers_equal_serial(
        specs in prop::collection::vec(series_spec(), 0..12),
        query in 0..QUERIES.len(),
        range in any::<bool>(),
        threads in 2usize..5,
        min_samples in 0usize..40,
        max_samples in prop::option::of(1usize..400),
    ) {
        let store = store(&specs);
        let opts = EngineOptions::new().max_samples(max_samples.unwrap_or(50_000_000));
        let serial = Engine::new(opts.clone().parallelism(1));
        let parallel = Engine::new(opts.parallelism(threads).parallel_min_samples(min_samples));
        let q = QUERIES[query];
        prop_assert_eq!(answer(&parallel, &store, q, range), answer(&serial, &store, q, range));
    }
}

/// A selection large enough to be shared with helpers under the default threshold,
/// so that the default path is covered too (where the machine has more than one CPU).
#[test]
fn large_selection_matches_serial() {
    let specs: Vec<SeriesSpec> = (0..40)
        .map(|i| {
            let samples = (0..2500)
                .map(|j| (10, if j % 97 == 5 { 0 } else { 2 }, (j % (50 + i)) as f64))
                .collect();
            (i % NAMES.len(), samples)
        })
        .collect();
    let store = store(&specs);
    let serial = Engine::new(EngineOptions::new().parallelism(1));
    let parallel = Engine::new(EngineOptions::new().parallelism(2));
    for q in QUERIES {
        let r = |e: &Engine| {
            e.range_query(&store, q, 0, 25_000_000, 60_000)
                .map(|r| format!("{:?} {:?}", r.value, r.annotations))
                .map_err(|e| e.to_string())
        };
        assert_eq!(r(&parallel), r(&serial), "{q}");
    }
    // The sample limit stops both at the same point with the same error.
    for max in [1_000, 20_000, 30_000, 45_000] {
        let opts = EngineOptions::new().max_samples(max);
        let serial = Engine::new(opts.clone().parallelism(1));
        let parallel = Engine::new(opts.parallelism(2).parallel_min_samples(0));
        for q in ["rate(x_total[5m])", "gauge", "max_over_time(gauge[10m])"] {
            let r = |e: &Engine| {
                e.range_query(&store, q, 0, 25_000_000, 60_000)
                    .map(|r| format!("{:?}", r.value))
                    .map_err(|e| e.to_string())
            };
            assert_eq!(r(&parallel), r(&serial), "{q} with max_samples {max}");
        }
    }
}
