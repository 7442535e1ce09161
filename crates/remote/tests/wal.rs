//! The WAL watcher against a real promlite TSDB: what the database logs reaches the
//! receiver, across segment boundaries, and a restarted watcher does not resend the past.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually, remote_write, start};
use promlite_model::{Labels, Matcher};
use promlite_remote::{QueueOptions, WalWatcher, WalWatcherOptions, WriteStorage};
use promlite_storage::{Appendable, Queryable, SeriesRef, collect_samples};
use promlite_tsdb::wal::WalOptions;
use promlite_tsdb::{Db, DbOptions};

fn count(store: &promlite_storage::MemStore, name: &str) -> usize {
    let q = store.querier(i64::MIN, i64::MAX).unwrap();
    q.select(false, None, &[Matcher::equal("__name__", name)])
        .map(|s| collect_samples(&*s.unwrap()).len())
        .sum()
}

fn append(db: &Db, name: &str, from: i64, to: i64) {
    let series: Vec<Labels> = (0..10)
        .map(|i| Labels::from_pairs([("__name__", name.to_string()), ("i", i.to_string())]))
        .collect();
    for t in from..to {
        let mut a = db.appender();
        for s in &series {
            a.append(SeriesRef::NONE, s, t * 1000, t as f64).unwrap();
        }
        a.commit().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_watcher_forwards_what_the_tsdb_logs() {
    let (rx, url, _srv) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        DbOptions {
            // Small segments, so the watcher crosses several boundaries.
            wal: WalOptions {
                segment_size: 64 * 1024,
                ..WalOptions::default()
            },
            ..DbOptions::default()
        },
    )
    .unwrap();
    let ws = Arc::new(WriteStorage::new());
    ws.set_options(|cfg| QueueOptions {
        batch_send_deadline: Duration::from_millis(20),
        ..QueueOptions::from_config(cfg)
    });
    ws.apply_config(
        &remote_write(&format!("remote_write:\n  - url: {url}/api/v1/write\n")),
        &Labels::empty(),
    )
    .await
    .unwrap();
    // Logged before the watcher starts: sent because start_time is 0.
    append(&db, "wal_a", 0, 500);
    let opts = WalWatcherOptions {
        poll_interval: Duration::from_millis(10),
        start_time: Some(0),
        ..WalWatcherOptions::default()
    };
    let w = WalWatcher::start(&dir.path().join("wal"), ws.clone(), opts);
    // Logged while it tails.
    append(&db, "wal_a", 500, 2000);
    eventually("every logged sample delivered", || {
        count(&rx.store, "wal_a") == 20_000
    })
    .await;
    assert!(w.stats().segment > 0, "{:?}", w.stats());
    assert_eq!(w.stats().errors, 0);
    w.stop();

    // A restarted watcher (default options: start now) sends only what is new.
    let w = WalWatcher::start(
        &dir.path().join("wal"),
        ws.clone(),
        WalWatcherOptions {
            poll_interval: Duration::from_millis(10),
            start_time: None,
            ..WalWatcherOptions::default()
        },
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    append(&db, "wal_b", now + 1, now + 11);
    eventually("new samples delivered", || count(&rx.store, "wal_b") == 100).await;
    w.stop();
    let q = ws.queues()[0].clone();
    ws.stop().await;
    assert_eq!(count(&rx.store, "wal_a"), 20_000);
    // A resend of old samples would be refused as out of order and counted here.
    assert_eq!(q.stats().samples_failed, 0, "{:?}", q.stats());
    assert_eq!(q.stats().samples_sent, 20_100);
}

/// Floats in every request the receiver decoded (duplicates included).
fn received(rx: &common::Receiver) -> usize {
    rx.decoded
        .lock()
        .iter()
        .flat_map(|r| &r.timeseries)
        .map(|ts| ts.samples.len())
        .sum()
}

async fn queues(url: &str, flush: Duration) -> Arc<WriteStorage> {
    let ws = Arc::new(WriteStorage::new());
    ws.set_options(move |cfg| QueueOptions {
        batch_send_deadline: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
        flush_deadline: flush,
        ..QueueOptions::from_config(cfg)
    });
    ws.apply_config(
        &remote_write(&format!("remote_write:\n  - url: {url}/api/v1/write\n")),
        &Labels::empty(),
    )
    .await
    .unwrap();
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_file_makes_restarts_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("data"), DbOptions::default()).unwrap();
    let wal = dir.path().join("data").join("wal");
    let marker = dir.path().join("remote.position");
    let opts = WalWatcherOptions {
        poll_interval: Duration::from_millis(10),
        start_time: Some(0),
        position_file: Some(marker.clone()),
    };
    // The receiver is down: the first process queues everything and "crashes" (its
    // queue gives up at once), having had nothing acknowledged.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let ws = queues(&url, Duration::from_millis(1)).await;
    let w = WalWatcher::start(&wal, ws.clone(), opts.clone());
    append(&db, "pos", 0, 300);
    eventually("all read", || w.stats().forwarded == 3000).await;
    w.stop();
    ws.stop().await;
    // More is logged while nothing runs.
    append(&db, "pos", 300, 400);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let rx = Arc::new(common::Receiver::default());
    let _srv = common::serve(listener, rx.clone());
    let ws = queues(&url, Duration::from_mins(1)).await;
    let w = WalWatcher::start(&wal, ws.clone(), opts.clone());
    eventually("everything after the crash", || {
        count(&rx.store, "pos") == 4000
    })
    .await;
    let q = ws.queues()[0].clone();
    // Acknowledged in full: the position the watcher saves on stopping is its read
    // position.
    eventually("all acknowledged", || q.stats().samples_sent == 4000).await;
    w.stop();
    ws.stop().await;
    assert_eq!(received(&rx), 4000, "nothing sent twice");

    // A clean restart sends exactly what is new.
    append(&db, "pos", 400, 450);
    let ws = queues(&url, Duration::from_mins(1)).await;
    let w = WalWatcher::start(&wal, ws.clone(), opts);
    eventually("the new samples", || count(&rx.store, "pos") == 4500).await;
    w.stop();
    ws.stop().await;
    assert_eq!(received(&rx), 4500, "nothing sent twice");
}
