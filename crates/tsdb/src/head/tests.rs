//! Head tests: the storage contract, checked against `MemStore` as the oracle.

use super::*;
use promlite_model::MatchType;
use promlite_storage::{MemStore, Sample, SampleValue, collect_samples};
use proptest::prelude::*;

fn read(q: &dyn Queryable, mint: i64, maxt: i64, ms: &[Matcher]) -> Vec<(Labels, Vec<Sample>)> {
    let q = q.querier(mint, maxt).unwrap();
    q.select(true, None, ms)
        .map(|s| {
            let s = s.unwrap();
            (s.labels().clone(), collect_samples(&*s))
        })
        .collect()
}

proptest! {
    /// For any appends, transactions and query windows, the head answers exactly as the
    /// simple in-memory store does, whether appends come with cached references or not
    /// and whatever references (valid, stale or bogus) are handed to `prefetch`.
    #[test]
    fn head_agrees_with_memstore(
        ops in proptest::collection::vec((0u8..5, 0i64..3_000, -5.0f64..5.0, any::<bool>(), 0u64..8), 1..400),
        window in (0i64..3_000, 0i64..3_000),
        job in prop::sample::select(vec!["a", "b", ""]),
    ) {
        let head = Head::new(&HeadOptions { samples_per_chunk: 8, chunk_range: 500, ..Default::default() });
        let mem = MemStore::new();
        let mut ha = head.appender();
        let mut ma = mem.appender();
        let mut refs = [SeriesRef::NONE; 5];
        for (s, t, v, commit, hint) in ops {
            let l = Labels::from_pairs([("__name__", "m"), ("job", ["a", "b"][usize::from(s % 2)]), ("i", &s.to_string())]);
            ha.prefetch(SeriesRef(if hint == 7 { u64::MAX } else { hint }));
            let h = ha.append(refs[usize::from(s)], &l, t, v);
            if let Ok(r) = h {
                refs[usize::from(s)] = r;
            }
            let m = ma.append(SeriesRef::NONE, &l, t, v).map(|_| ());
            prop_assert_eq!(h.is_ok(), m.is_ok());
            if commit {
                ha.commit().unwrap();
                ma.commit().unwrap();
                ha = head.appender();
                ma = mem.appender();
            }
        }
        ha.commit().unwrap();
        ma.commit().unwrap();
        let (a, b) = (window.0.min(window.1), window.0.max(window.1));
        let ms = [Matcher::new(MatchType::Regexp, "__name__", "m").unwrap(), Matcher::equal("job", job)];
        prop_assert_eq!(read(&head, a, b, &ms), read(&mem, a, b, &ms));
        let ms = [Matcher::equal("__name__", "m")];
        prop_assert_eq!(read(&head, a, b, &ms), read(&mem, a, b, &ms));
    }
}

#[test]
fn seek_across_chunks() {
    let head = Head::new(&HeadOptions {
        samples_per_chunk: 4,
        chunk_range: 100,
        ..Default::default()
    });
    let l = Labels::from_pairs([("__name__", "x")]);
    let mut app = head.appender();
    for t in 0..1000 {
        app.append(SeriesRef::NONE, &l, t * 10, t as f64).unwrap();
    }
    app.commit().unwrap();
    let q = head.querier(0, 10_000).unwrap();
    let s = q
        .select(false, None, &[Matcher::equal("__name__", "x")])
        .next()
        .unwrap()
        .unwrap();
    let mut it = s.samples();
    for target in [0, 5, 995, 4000, 4001, 9990] {
        assert_eq!(it.seek(target), promlite_storage::ValueType::Float);
        let want = (target + 9) / 10 * 10;
        assert_eq!(it.at_t(), want, "seek({target})");
    }
    assert_eq!(it.seek(9991), promlite_storage::ValueType::None);
}

#[test]
fn histograms_and_floats_share_a_series() {
    let head = Head::new(&HeadOptions::default());
    let l = Labels::from_pairs([("__name__", "h")]);
    let mut app = head.appender();
    let h = promlite_model::Histogram {
        count: 3,
        sum: 1.5,
        ..Default::default()
    };
    app.append(SeriesRef::NONE, &l, 1, 1.0).unwrap();
    app.append_histogram(SeriesRef::NONE, &l, 2, HistogramRef::Int(&h))
        .unwrap();
    app.append(SeriesRef::NONE, &l, 3, 3.0).unwrap();
    app.commit().unwrap();
    let got = read(&head, 0, 10, &[Matcher::equal("__name__", "h")]);
    let kinds: Vec<_> = got[0]
        .1
        .iter()
        .map(|s| (s.t, matches!(s.value, SampleValue::Float(_))))
        .collect();
    assert_eq!(kinds, [(1, true), (2, false), (3, true)]);
}

#[test]
fn label_queries_and_metadata() {
    let head = Head::new(&HeadOptions::default());
    let mut app = head.appender();
    for (job, inst) in [("a", "1"), ("a", "2"), ("b", "1")] {
        let l = Labels::from_pairs([("__name__", "up"), ("job", job), ("instance", inst)]);
        app.append(SeriesRef::NONE, &l, 10, 1.0).unwrap();
        app.update_metadata(
            SeriesRef::NONE,
            &l,
            &Metadata {
                help: "up?".into(),
                ..Default::default()
            },
        )
        .unwrap();
    }
    let l = Labels::from_pairs([("__name__", "up"), ("job", "a"), ("instance", "1")]);
    let e = Exemplar {
        labels: Labels::from_pairs([("trace_id", "t")]),
        value: 1.0,
        timestamp: Some(10),
    };
    app.append_exemplar(SeriesRef::NONE, &l, &e).unwrap();
    app.commit().unwrap();
    let q = head.querier(0, 100).unwrap();
    assert_eq!(q.label_values("job", None, &[]).unwrap(), ["a", "b"]);
    assert_eq!(
        q.label_values("instance", None, &[Matcher::equal("job", "b")])
            .unwrap(),
        ["1"]
    );
    assert_eq!(
        q.label_names(None, &[]).unwrap(),
        ["__name__", "instance", "job"]
    );
    assert_eq!(head.metadata(&l).unwrap().help, "up?");
    assert_eq!(
        head.exemplars(0, 100, &[Matcher::equal("job", "a")]),
        [(l, e)]
    );
    assert_eq!(head.num_series(), 3);
    assert_eq!(head.time_range(), Some((10, 10)));
}

#[test]
fn truncation_drops_old_chunks_and_empty_series() {
    let head = Head::new(&HeadOptions {
        samples_per_chunk: 4,
        chunk_range: 100,
        ..Default::default()
    });
    let old = Labels::from_pairs([("__name__", "old")]);
    let live = Labels::from_pairs([("__name__", "live")]);
    let mut app = head.appender();
    for t in 0..50 {
        app.append(SeriesRef::NONE, &old, t, 1.0).unwrap();
        app.append(SeriesRef::NONE, &live, t * 10, 1.0).unwrap();
    }
    app.commit().unwrap();
    assert_eq!(head.truncate_before(200), 1);
    assert_eq!(head.num_series(), 1);
    let got = read(
        &head,
        0,
        1000,
        &[Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap()],
    );
    assert_eq!(got.len(), 1);
    assert!(
        got[0].1.first().unwrap().t >= 100,
        "chunks wholly before 200 are gone"
    );
    assert_eq!(got[0].1.last().unwrap().t, 490);
    // The removed series can come back as a new one.
    let mut app = head.appender();
    app.append(SeriesRef::NONE, &old, 1000, 2.0).unwrap();
    app.commit().unwrap();
    assert_eq!(head.num_series(), 2);
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("promlite-head-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn wal_replay_restores_everything_committed() {
    let dir = tmpdir("replay");
    let opts = HeadOptions {
        samples_per_chunk: 8,
        chunk_range: 1000,
        ..Default::default()
    };
    let all = [Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap()];
    let h = promlite_model::Histogram {
        count: 2,
        sum: 3.0,
        schema: 1,
        ..Default::default()
    };
    let ex = Exemplar {
        labels: Labels::from_pairs([("trace_id", "x")]),
        value: 2.0,
        timestamp: Some(5),
    };
    let want = {
        let head = Head::open(&opts, &dir, crate::wal::WalOptions::default()).unwrap();
        for round in 0..20 {
            let mut app = head.appender();
            for s in 0..30 {
                let l = Labels::from_pairs([("__name__", "m"), ("s", &s.to_string())]);
                app.append(
                    SeriesRef::NONE,
                    &l,
                    round * 100 + s,
                    f64::from(s as i32) + 0.5,
                )
                .unwrap();
            }
            if round == 3 {
                let l = Labels::from_pairs([("__name__", "h")]);
                app.append_histogram(SeriesRef::NONE, &l, 1, HistogramRef::Int(&h))
                    .unwrap();
                app.append_exemplar(SeriesRef::NONE, &l, &ex).unwrap();
                app.update_metadata(
                    SeriesRef::NONE,
                    &l,
                    &Metadata {
                        help: "hist".into(),
                        ..Default::default()
                    },
                )
                .unwrap();
            }
            if round == 7 {
                // Rolled back: must not come back after replay.
                let mut app2 = head.appender();
                app2.append(
                    SeriesRef::NONE,
                    &Labels::from_pairs([("__name__", "ghost")]),
                    1,
                    1.0,
                )
                .unwrap();
                app2.rollback().unwrap();
            }
            app.commit().unwrap();
        }
        read(&head, i64::MIN, i64::MAX, &all)
    };
    let head = Head::open(
        &opts,
        &dir,
        crate::wal::WalOptions {
            compress: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(read(&head, i64::MIN, i64::MAX, &all), want);
    let hl = Labels::from_pairs([("__name__", "h")]);
    assert_eq!(head.metadata(&hl).unwrap().help, "hist");
    assert_eq!(head.exemplars(0, 10, &[]).len(), 1);
    // New series after a restart get fresh references and survive another restart.
    let mut app = head.appender();
    app.append(
        SeriesRef::NONE,
        &Labels::from_pairs([("__name__", "new")]),
        10_000,
        1.0,
    )
    .unwrap();
    app.commit().unwrap();
    drop(head);
    let head = Head::open(&opts, &dir, crate::wal::WalOptions::default()).unwrap();
    assert_eq!(read(&head, i64::MIN, i64::MAX, &all).len(), want.len() + 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    /// With an out-of-order window, the head accepts, rejects and answers exactly as a
    /// simple model of Prometheus's rules does — in queries, after a WAL replay, and in
    /// the block it persists.
    #[test]
    fn out_of_order_window_follows_the_model(
        ops in proptest::collection::vec((0u8..3, 0i64..400, 0u8..4), 1..200),
        window in prop::sample::select(vec![0i64, 50, 1000]),
    ) {
        use std::collections::BTreeMap;
        let dir = tmpdir(&format!("ooo-{window}-{}", ops.len()));
        let opts = HeadOptions { samples_per_chunk: 8, chunk_range: 100, out_of_order_time_window: window, ..Default::default() };
        let head = Head::open(&opts, &dir, crate::wal::WalOptions::default()).unwrap();
        let mut model: Vec<BTreeMap<i64, f64>> = vec![BTreeMap::new(); 3];
        let mut last: Vec<Option<i64>> = vec![None; 3];
        let mut head_max = i64::MIN;
        for (s, t, v) in ops {
            let (s, v) = (usize::from(s), f64::from(v));
            let l = Labels::from_pairs([("__name__", "m"), ("s", &s.to_string())]);
            let mut app = head.appender();
            let got = app.append(SeriesRef::NONE, &l, t, v);
            app.commit().unwrap();
                        let want: Result<(), &str> = match last[s] {
                None => Ok(()),
                Some(lt) if t > lt || (t < lt && window > 0 && t >= head_max.saturating_sub(window)) => Ok(()),
                Some(lt) if t == lt => if model[s][&t].to_bits() == v.to_bits() { Err("noop") } else { Err("duplicate") },
                Some(_) if window == 0 => Err("out of order"),
                                Some(_) => Err("too old"),
            };
            match (want, got) {
                (Ok(()), Ok(_)) => {
                    model[s].entry(t).or_insert(v);
                    if last[s].is_none_or(|lt| t > lt) { last[s] = Some(t); }
                    head_max = head_max.max(t);
                }
                                (Err("noop"), Ok(_))
                | (Err("duplicate"), Err(StorageError::DuplicateSampleForTimestamp))
                | (Err("out of order"), Err(StorageError::OutOfOrderSample))
                | (Err("too old"), Err(StorageError::TooOldSample)) => {}
                (w, g) => prop_assert!(false, "sample s={s} t={t}: want {w:?}, got {g:?}"),
            }
        }
        let expect: Vec<(Labels, Vec<i64>)> = model.iter().enumerate().filter(|(_, m)| !m.is_empty())
            .map(|(s, m)| (Labels::from_pairs([("__name__", "m"), ("s", &s.to_string())]), m.keys().copied().collect()))
            .collect();
        let times = |q: &dyn Queryable| -> Vec<(Labels, Vec<i64>)> {
            read(q, i64::MIN, i64::MAX, &[Matcher::equal("__name__", "m")]).into_iter().map(|(l, s)| (l, s.iter().map(|x| x.t).collect())).collect()
        };
        prop_assert_eq!(times(&head), expect.clone());
        let block_dir = dir.join("blocks");
        std::fs::create_dir_all(&block_dir).unwrap();
        if let Some(b) = head.write_block(&block_dir, i64::MIN / 2, i64::MAX / 2).unwrap() {
            let b = crate::block::Block::open(&b).unwrap();
            prop_assert_eq!(times(&b), expect.clone());
        }
        drop(head);
        let head = Head::open(&opts, &dir, crate::wal::WalOptions::default()).unwrap();
        prop_assert_eq!(times(&head), expect);
        drop(head);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn stats_count_series_pairs_and_chunks() {
    let head = Head::new(&HeadOptions::default());
    let mut app = head.appender();
    let series = [
        [("__name__", "up"), ("job", "node")],
        [("__name__", "up"), ("job", "prometheus")],
        [("__name__", "scrape_duration_seconds"), ("job", "node")],
    ];
    for pairs in &series {
        let l = Labels::from_pairs(pairs.iter().copied());
        for t in 0..10 {
            app.append(SeriesRef::NONE, &l, t * 1000, 1.0).unwrap();
        }
    }
    app.commit().unwrap();
    let s = head.stats(2);
    assert_eq!(s.num_series, 3);
    // __name__=up, __name__=scrape_duration_seconds, job=node, job=prometheus.
    assert_eq!(s.num_label_pairs, 4);
    // Ten samples fit one open chunk per series.
    assert_eq!(s.chunk_count, 3);
    assert_eq!((s.min_time, s.max_time), (0, 9000));
    let own = |v: &[(&str, u64)]| {
        v.iter()
            .map(|(n, c)| (n.to_string(), *c))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        s.lists.series_count_by_metric_name,
        own(&[("up", 2), ("scrape_duration_seconds", 1)])
    );
    assert_eq!(
        s.lists.label_value_count_by_label_name,
        own(&[("__name__", 2), ("job", 2)])
    );
    // __name__: 2×"up" + 23 bytes; job: 2×"node" + "prometheus".
    assert_eq!(
        s.lists.memory_in_bytes_by_label_name,
        own(&[("__name__", 27), ("job", 18)])
    );
    // Top two of four pairs, ties broken by name.
    assert_eq!(
        s.lists.series_count_by_label_value_pair,
        own(&[("__name__=up", 2), ("job=node", 2)])
    );
    let empty = Head::new(&HeadOptions::default()).stats(10);
    assert_eq!(
        (empty.num_series, empty.min_time, empty.max_time),
        (0, i64::MAX, i64::MIN)
    );
}
