//! Range queries over the TSDB (blocks, the head, and series spread over both) answer
//! exactly as over `MemStore` holding the same samples: the TSDB's readers decode
//! chunks in batches, seek inside them and merge a series' blocks, where `MemStore`
//! hands over plain samples; the answers must not differ for any data (staleness
//! markers and NaN among it), step, offset or function around the selector.

use proptest::prelude::*;

use promlite::model::{Labels, STALE_NAN};
use promlite::promql::{Engine, EngineOptions};
use promlite::storage::{Appendable, MemStore, Queryable, SeriesRef};
use promlite::tsdb::{Db, DbOptions, HeadOptions};

/// One series' samples as (gap in seconds to the previous one, kind, value).
type SeriesSpec = Vec<(i64, u8, f64)>;

const QUERIES: &[&str] = &[
    "m",
    "m offset 17s",
    "sum(m)",
    "m + on (i) group_left m",
    "timestamp(m)",
    "m @ 300",
    "rate(m[1m])",
];

/// Writes the samples of the series with timestamps in `from..to` into `app`.
fn write(
    mut app: Box<dyn promlite::storage::Appender + '_>,
    specs: &[SeriesSpec],
    from: i64,
    to: i64,
) {
    for (i, samples) in specs.iter().enumerate() {
        let l = Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]);
        let mut t = 0;
        for &(gap, kind, v) in samples {
            t += gap * 1000;
            if !(from..to).contains(&t) {
                continue;
            }
            let v = match kind {
                0 => STALE_NAN,
                1 => f64::NAN,
                _ => v,
            };
            app.append(SeriesRef::NONE, &l, t, v).expect("append");
        }
    }
    app.commit().expect("commit");
}

fn answer(
    engine: &Engine,
    store: &dyn Queryable,
    q: &str,
    start: i64,
    end: i64,
    step: i64,
) -> String {
    match engine.range_query(store, q, start, end, step) {
        Ok(r) => format!("{:?} {:?}", r.value, r.annotations),
        Err(e) => format!("error: {e}"),
    }
}

fn series_spec() -> impl Strategy<Value = SeriesSpec> {
    prop::collection::vec(
        (
            prop_oneof![4 => Just(10i64), 1 => 1i64..40, 1 => 60i64..400],
            0u8..14,
            -5.0f64..100.0,
        ),
        0..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn tsdb_range_queries_answer_as_memstore(
        specs in prop::collection::vec(series_spec(), 1..4),
        split in 0i64..3_000_000,
        start in 0i64..600,
        steps in 1i64..400,
        step in prop_oneof![Just(60i64), 1i64..30, 30i64..700],
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let opts = DbOptions {
            head: HeadOptions {
                chunk_range: 200_000,
                samples_per_chunk: 17,
                ..Default::default()
            },
            retention_time: None,
            max_block_duration: 600_000,
            ..Default::default()
        };
        let db = Db::open(dir.path(), opts).expect("open");
        let mem = MemStore::new();
        write(mem.appender(), &specs, i64::MIN, i64::MAX);
        write(db.appender(), &specs, i64::MIN, split);
        db.compact().expect("compact");
        write(db.appender(), &specs, split, i64::MAX);
        let engine = Engine::new(EngineOptions::default());
        let (start, step) = (start * 1000, step * 1000);
        let end = start + steps * step;
        for q in QUERIES {
            let want = answer(&engine, &mem, q, start, end, step);
            let got = answer(&engine, &db, q, start, end, step);
            prop_assert_eq!(got, want, "{} from {} step {}", q, start, step);
        }
    }
}
