//! An instant vector selector reads only the newest sample of each series' lookback
//! window; the same query over a range reads the whole window. Both must find the same
//! value at the same time, for random series of floats, NaN, staleness markers and
//! native histograms (stale ones too), mixed within a series.

use std::collections::BTreeMap;

use proptest::prelude::*;

use promlite_model::{FloatHistogram, Labels, STALE_NAN};
use promlite_promql::{Engine, EngineOptions, Value};
use promlite_storage::{Appendable, HistogramRef, MemStore, SeriesRef};

/// One series' samples as (gap in seconds to the previous one, kind, value).
type SeriesSpec = Vec<(i64, u8, f64)>;

fn store(specs: &[SeriesSpec]) -> MemStore {
    let store = MemStore::new();
    let mut app = store.appender();
    for (i, samples) in specs.iter().enumerate() {
        let l = Labels::from_pairs([("__name__", "x"), ("i", &i.to_string())]);
        let mut r = SeriesRef::NONE;
        let mut t = 0;
        for &(gap, kind, v) in samples {
            t += gap * 1000;
            r = match kind {
                0 => app.append(r, &l, t, STALE_NAN),
                1 => app.append(r, &l, t, f64::NAN),
                2 | 3 => {
                    let h = FloatHistogram {
                        count: v.abs(),
                        sum: if kind == 2 { STALE_NAN } else { v },
                        ..FloatHistogram::default()
                    };
                    app.append_histogram(r, &l, t, HistogramRef::Float(&h))
                }
                _ => app.append(r, &l, t, v),
            }
            .expect("append");
        }
    }
    app.commit().expect("commit");
    store
}

/// Each series' value at the evaluation time, as text (NaN compares equal to itself).
fn values(v: &Value, at: i64) -> BTreeMap<String, String> {
    match v {
        Value::Vector(samples) => samples
            .iter()
            .map(|s| {
                (
                    format!("{:?}", s.metric),
                    format!("{:?} {:?}", s.f.to_bits(), s.h),
                )
            })
            .collect(),
        Value::Matrix(series) => series
            .iter()
            .filter_map(|s| {
                let f = s.floats.iter().find(|p| p.t == at).map(|p| (p.f, None));
                let h = s
                    .histograms
                    .iter()
                    .find(|p| p.t == at)
                    .map(|p| (0.0, Some(p.h.clone())));
                let (f, h) = f.or(h)?;
                Some((
                    format!("{:?}", s.metric),
                    format!("{:?} {:?}", f.to_bits(), h),
                ))
            })
            .collect(),
        other => panic!("unexpected value {other:?}"),
    }
}

proptest! {
    #[test]
    fn instant_selector_matches_range_evaluation(
        specs in prop::collection::vec(
            prop::collection::vec((1i64..60, 0u8..12, -5.0f64..100.0), 0..40),
            1..6,
        ),
        at in 0i64..1_500,
    ) {
        let store = store(&specs);
        let engine = Engine::new(EngineOptions::default());
        let t = at * 1000;
        for (q, pinned) in [
            ("x", "x @ AT"),
            ("timestamp(x)", "timestamp(x @ AT)"),
            ("x offset 20s", "x @ AT offset 20s"),
            ("x{i=\"1\"}", "x{i=\"1\"} @ AT"),
        ] {
            let instant = engine.instant_query(&store, q, t).expect("instant query");
            let range = engine
                .range_query(&store, q, t - 45_000, t, 15_000)
                .expect("range query");
            prop_assert_eq!(values(&instant.value, t), values(&range.value, t), "{}", q);
            // The `@` modifier pins every step to one time, as an instant query does.
            let pinned = pinned.replace("AT", &at.to_string());
            let pinned = engine
                .range_query(&store, &pinned, t - 45_000, t, 15_000)
                .expect("pinned range query");
            prop_assert_eq!(values(&instant.value, t), values(&pinned.value, t), "{} @", q);
        }
    }
}
