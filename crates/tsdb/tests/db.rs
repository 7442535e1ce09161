//! The data directory end to end: head compaction into blocks, leveled compaction,
//! retention, restart (blocks + WAL checkpoint + segments), locking — always checked
//! against `MemStore` holding the same samples.

use std::path::PathBuf;

use promlite_model::{Labels, MatchType, Matcher};
use promlite_storage::{Appendable, MemStore, Queryable, Sample, SeriesRef, collect_samples};
use promlite_tsdb::{Db, DbOptions, Error, HeadOptions};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("promlite-db-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn read(q: &dyn Queryable) -> Vec<(Labels, Vec<Sample>)> {
    let q = q.querier(i64::MIN, i64::MAX).unwrap();
    let all = Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap();
    q.select(true, None, &[all])
        .map(|s| {
            let s = s.unwrap();
            (s.labels().clone(), collect_samples(&*s))
        })
        .collect()
}

fn small_opts() -> DbOptions {
    DbOptions {
        head: HeadOptions {
            chunk_range: 1_000,
            samples_per_chunk: 8,
            ..Default::default()
        },
        retention_time: None,
        max_block_duration: 9_000,
        ..Default::default()
    }
}

/// Appends `series` × timestamps `from..to` (step `step`) to both stores.
fn fill(db: &Db, mem: &MemStore, series: usize, from: i64, to: i64, step: i64) {
    let mut a = db.appender();
    let mut m = mem.appender();
    for t in (from..to).step_by(step as usize) {
        for s in 0..series {
            let l = Labels::from_pairs([("__name__", "m"), ("s", &s.to_string())]);
            let v = (t as f64 * 0.37 + s as f64).sin();
            a.append(SeriesRef::NONE, &l, t, v).unwrap();
            m.append(SeriesRef::NONE, &l, t, v).unwrap();
        }
    }
    a.commit().unwrap();
    m.commit().unwrap();
}

#[test]
fn compaction_and_restart_keep_every_sample() {
    let dir = tmp("compact");
    let mem = MemStore::new();
    {
        let db = Db::open(&dir, small_opts()).unwrap();
        fill(&db, &mem, 5, 0, 20_000, 50);
        db.compact().unwrap();
        let blocks = db.blocks();
        assert!(!blocks.is_empty(), "the head should have been persisted");
        assert!(
            blocks.iter().any(|b| b.meta().compaction.level > 1),
            "leveled compaction should have merged blocks"
        );
        for w in blocks.windows(2) {
            assert!(
                w[0].meta().max_time <= w[1].meta().min_time,
                "blocks overlap after compaction"
            );
        }
        assert_eq!(read(&db), read(&mem));
        // Time already in blocks is closed for appends.
        let mut a = db.appender();
        let err = a
            .append(
                SeriesRef::NONE,
                &Labels::from_pairs([("__name__", "m"), ("s", "0")]),
                10,
                1.0,
            )
            .unwrap_err();
        assert!(matches!(err, promlite_storage::Error::OutOfBounds), "{err}");
        // More data after compaction, then a restart without closing.
        fill(&db, &mem, 5, 20_000, 21_000, 50);
    }
    let db = Db::open(&dir, small_opts()).unwrap();
    assert_eq!(read(&db), read(&mem));
    // The WAL was checkpointed: old segments are gone.
    let wal: Vec<String> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(wal.iter().any(|n| n.starts_with("checkpoint.")), "{wal:?}");
    assert!(
        wal.iter()
            .filter(|n| !n.starts_with("checkpoint."))
            .all(|n| n.as_str() > "00000000"),
        "{wal:?}"
    );
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn retention_deletes_old_blocks() {
    let dir = tmp("retention");
    let mem = MemStore::new();
    let db = Db::open(
        &dir,
        DbOptions {
            retention_time: Some(5_000),
            max_block_duration: 1_000,
            ..small_opts()
        },
    )
    .unwrap();
    fill(&db, &mem, 2, 0, 20_000, 100);
    db.compact().unwrap();
    let blocks = db.blocks();
    let newest = blocks.iter().map(|b| b.meta().max_time).max().unwrap();
    assert!(blocks.iter().all(|b| newest - b.meta().max_time < 5_000));
    assert!(
        blocks.first().unwrap().meta().min_time > 0,
        "the oldest blocks are gone"
    );
    let dirs = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(dirs, blocks.len() + 2, "only blocks, wal and lock remain");
    drop(db);

    let db = Db::open(
        &dir,
        DbOptions {
            retention_time: None,
            retention_size: Some(1),
            max_block_duration: 1_000,
            ..small_opts()
        },
    )
    .unwrap();
    db.compact().unwrap();
    assert!(
        db.blocks().is_empty(),
        "size retention removes every block when nothing fits"
    );
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_locked_directory_cannot_be_opened_twice() {
    let dir = tmp("lock");
    let db = Db::open(&dir, DbOptions::default()).unwrap();
    assert!(matches!(
        Db::open(&dir, DbOptions::default()),
        Err(Error::Locked(_))
    ));
    drop(db);
    Db::open(&dir, DbOptions::default()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn deletion_survives_restart_clean_tombstones_and_snapshots() {
    let dir = tmp("delete");
    let mem = MemStore::new();
    let deleted = |l: &Labels, t: i64| {
        (l.get("s") == Some("1") && (3_000..=6_000).contains(&t))
            || (l.get("s") == Some("2") && (18_000..=19_000).contains(&t))
    };
    let want = |mem: &MemStore| -> Vec<(Labels, Vec<Sample>)> {
        read(mem)
            .into_iter()
            .map(|(l, s)| {
                let kept = s.into_iter().filter(|x| !deleted(&l, x.t)).collect();
                (l, kept)
            })
            .collect()
    };
    {
        let db = Db::open(&dir, small_opts()).unwrap();
        fill(&db, &mem, 4, 0, 20_000, 50);
        db.compact().unwrap();
        assert!(
            db.delete(3_000, 6_000, &[Matcher::equal("s", "1")])
                .unwrap()
                > 0
        );
        assert!(
            db.delete(18_000, 19_000, &[Matcher::equal("s", "2")])
                .unwrap()
                > 0
        );
        assert_eq!(read(&db), want(&mem));
    }
    // Block tombstone files and the WAL's tombstone records bring it back.
    let db = Db::open(&dir, small_opts()).unwrap();
    assert_eq!(read(&db), want(&mem));
    assert!(db.blocks().iter().any(|b| !b.tombstones().is_empty()));
    db.clean_tombstones().unwrap();
    assert!(db.blocks().iter().all(|b| b.tombstones().is_empty()));
    assert_eq!(read(&db), want(&mem));
    // A snapshot with the head opens as a data directory of its own.
    let snap = dir.join("snapshots").join("s1");
    let blocks = db.snapshot(&snap, true).unwrap();
    assert!(blocks.len() > db.blocks().len());
    let copy = Db::open_read_only(&snap, small_opts()).unwrap();
    assert_eq!(read(&copy), want(&mem));
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn native_histograms_are_persisted_in_blocks_and_compacted() {
    use promlite_model::{FloatHistogram, Histogram, Span};
    use promlite_storage::HistogramRef;
    let dir = tmp("hist");
    let mem = MemStore::new();
    let hl = Labels::from_pairs([("__name__", "h"), ("kind", "int")]);
    let fl = Labels::from_pairs([("__name__", "h"), ("kind", "float")]);
    {
        let db = Db::open(&dir, small_opts()).unwrap();
        let mut a = db.appender();
        let mut m = mem.appender();
        for i in 0..400i64 {
            let t = i * 50;
            // Counts grow, with a reset half-way and a new bucket appearing later.
            let c = if i < 200 { i as u64 } else { (i - 200) as u64 };
            let len = if i < 300 { 2 } else { 3 };
            let h = Histogram {
                schema: 1,
                count: c * 3,
                zero_count: c,
                sum: c as f64 * 1.5,
                zero_threshold: 2f64.powi(-128),
                positive_spans: vec![Span {
                    offset: 0,
                    length: len,
                }],
                positive_buckets: (0..len)
                    .map(|k| if k == 0 { c as i64 } else { 0 })
                    .collect(),
                ..Default::default()
            };
            let f = FloatHistogram {
                schema: promlite_model::CUSTOM_BUCKETS_SCHEMA,
                count: i as f64,
                sum: (i as f64).sqrt(),
                positive_spans: vec![Span {
                    offset: 0,
                    length: 2,
                }],
                positive_buckets: vec![i as f64 / 2.0, i as f64],
                custom_values: vec![0.5, 2.5],
                ..Default::default()
            };
            a.append_histogram(SeriesRef::NONE, &hl, t, HistogramRef::Int(&h))
                .unwrap();
            a.append_histogram(SeriesRef::NONE, &fl, t, HistogramRef::Float(&f))
                .unwrap();
            m.append_histogram(SeriesRef::NONE, &hl, t, HistogramRef::Int(&h))
                .unwrap();
            m.append_histogram(SeriesRef::NONE, &fl, t, HistogramRef::Float(&f))
                .unwrap();
        }
        a.commit().unwrap();
        m.commit().unwrap();
        db.compact().unwrap();
        assert!(!db.blocks().is_empty());
        assert!(
            db.head().time_range().unwrap().0 > 0,
            "persisted histograms leave the head"
        );
        let strip = |v: Vec<(Labels, Vec<Sample>)>| -> Vec<(Labels, Vec<(i64, FloatHistogram)>)> {
            v.into_iter()
                .map(|(l, s)| {
                    let h = s
                        .into_iter()
                        .map(|x| match x.value {
                            promlite_storage::SampleValue::Histogram(h) => {
                                let mut f = h.to_float();
                                f.counter_reset_hint = promlite_model::CounterResetHint::Unknown;
                                (x.t, f)
                            }
                            promlite_storage::SampleValue::FloatHistogram(h) => {
                                let mut f = (*h).clone();
                                f.counter_reset_hint = promlite_model::CounterResetHint::Unknown;
                                (x.t, f)
                            }
                            promlite_storage::SampleValue::Float(_) => unreachable!(),
                        })
                        .collect();
                    (l, h)
                })
                .collect()
        };
        assert_eq!(strip(read(&db)), strip(read(&mem)));
        drop(db);
        let db = Db::open(&dir, small_opts()).unwrap();
        assert_eq!(strip(read(&db)), strip(read(&mem)));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A querier reads the head only when the head holds samples in its range: ranges over
/// blocks alone, the head alone, both, and an empty head all read what `MemStore`
/// holds, and a sample committed after the querier's range was checked is seen by the
/// next querier.
#[test]
fn queriers_over_blocks_head_or_both_read_the_same_samples() {
    let dir = tmp("ranges");
    let mem = MemStore::new();
    let db = Db::open(&dir, small_opts()).unwrap();
    let in_range = |q: &dyn Queryable, mint: i64, maxt: i64| -> Vec<(Labels, Vec<Sample>)> {
        let q = q.querier(mint, maxt).unwrap();
        let all = Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap();
        q.select(true, None, &[all])
            .map(|s| {
                let s = s.unwrap();
                let samples = collect_samples(&*s)
                    .into_iter()
                    .filter(|x| (mint..=maxt).contains(&x.t))
                    .collect();
                (s.labels().clone(), samples)
            })
            .filter(|(_, samples): &(Labels, Vec<Sample>)| !samples.is_empty())
            .collect()
    };
    // Nothing anywhere yet.
    assert!(in_range(&db, i64::MIN, i64::MAX).is_empty());
    fill(&db, &mem, 3, 0, 20_000, 50);
    db.compact().unwrap();
    fill(&db, &mem, 3, 20_000, 22_000, 50);
    let head_from = db.blocks().last().unwrap().meta().max_time;
    for (mint, maxt) in [
        (0, 5_000),
        (head_from - 100, head_from + 100),
        (head_from + 10, 21_999),
        (21_000, 30_000),
        (25_000, 30_000),
        (i64::MIN, i64::MAX),
    ] {
        assert_eq!(
            in_range(&db, mint, maxt),
            in_range(&mem, mint, maxt),
            "{mint}..={maxt}"
        );
    }
    // A sample past the head's newest is found by the next querier over its time.
    let l = Labels::from_pairs([("__name__", "late")]);
    let mut a = db.appender();
    a.append(SeriesRef::NONE, &l, 40_000, 1.0).unwrap();
    a.commit().unwrap();
    assert_eq!(in_range(&db, 39_000, 41_000).len(), 1);
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
}
