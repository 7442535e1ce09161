//! The remote-write queue and the remote-read client against a loopback server that runs
//! promlite's own receiver and read handler over a `MemStore`.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Fail, eventually, remote_read, remote_write, start};
use promlite_model::{Labels, Matcher, Metadata, MetricType};
use promlite_remote::{
    QueueOptions, RemoteReadQueryable, RemoteWriteAppendable, USER_AGENT_VALUE, WriteStorage,
};
use promlite_storage::{
    Appendable, MemStore, MergeQueryable, Queryable, SampleValue, SeriesRef, collect_samples,
};

fn fast(cfg: &promlite_config::RemoteWriteConfig) -> QueueOptions {
    QueueOptions {
        batch_send_deadline: Duration::from_millis(20),
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        reshard_interval: Duration::from_millis(50),
        metadata_interval: Duration::from_millis(50),
        ..QueueOptions::from_config(cfg)
    }
}

/// Every sample of series `name` in `store`, as (labels, t, v).
fn floats(store: &MemStore, name: &str) -> Vec<(Labels, i64, f64)> {
    let q = store.querier(i64::MIN, i64::MAX).unwrap();
    let mut out = Vec::new();
    for s in q.select(true, None, &[Matcher::equal("__name__", name)]) {
        let s = s.unwrap();
        for x in collect_samples(&*s) {
            if let SampleValue::Float(v) = x.value {
                out.push((s.labels().clone(), x.t, v));
            }
        }
    }
    out
}

async fn storage(yaml: &str, ext: &Labels) -> Arc<WriteStorage> {
    let ws = Arc::new(WriteStorage::new());
    ws.set_options(fast);
    ws.apply_config(&remote_write(yaml), ext).await.unwrap();
    ws
}

/// Appends `n` samples to each of `series` through `app`, in transactions of 100.
fn append(app: &dyn Appendable, series: &[Labels], n: i64) {
    for chunk in 0..(n + 99) / 100 {
        let mut a = app.appender();
        for i in chunk * 100..((chunk + 1) * 100).min(n) {
            for s in series {
                a.append(SeriesRef::NONE, s, i * 1000, i as f64).unwrap();
            }
        }
        a.commit().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_everything_with_external_labels_relabeling_and_headers() {
    let (rx, url, _srv) = start().await;
    let ws = storage(
        &format!(
            r"
remote_write:
  - url: {url}/api/v1/write
    write_relabel_configs:
      - source_labels: [job]
        regex: drop_me
        action: drop
    metadata_config:
      send_interval: 1s
    queue_config:
      max_samples_per_send: 500
"
        ),
        &Labels::from_pairs([("region", "eu")]),
    )
    .await;
    let local = Arc::new(MemStore::new());
    let app = RemoteWriteAppendable::new(local.clone(), ws.clone());
    let series = [
        Labels::from_pairs([("__name__", "m"), ("job", "a")]),
        Labels::from_pairs([("__name__", "m"), ("job", "b")]),
        Labels::from_pairs([("__name__", "m"), ("job", "drop_me")]),
    ];
    let meta = Metadata {
        metric_type: MetricType::Gauge,
        help: "A gauge.".into(),
        unit: String::new(),
    };
    {
        let mut a = app.appender();
        a.update_metadata(SeriesRef::NONE, &series[0], &meta)
            .unwrap();
        a.commit().unwrap();
    }
    append(&app, &series, 3000);
    let q = ws.queues()[0].clone();
    eventually("metadata sent", || q.stats().metadata_sent > 0).await;
    ws.stop().await;

    let stats = q.stats();
    assert_eq!(stats.samples_sent, 6000, "{stats:?}");
    assert_eq!(stats.samples_relabel_dropped, 3000);
    assert_eq!(stats.samples_failed + stats.samples_dropped, 0, "{stats:?}");
    let got = floats(&rx.store, "m");
    assert_eq!(got.len(), 6000);
    for (ls, t, v) in &got {
        assert_eq!(ls.get("region"), Some("eu"));
        assert_ne!(ls.get("job"), Some("drop_me"));
        assert_eq!(*v, (*t / 1000) as f64);
    }
    // The local store has every sample, dropped-by-relabeling ones included.
    assert_eq!(floats(&local, "m").len(), 9000);
    let h = rx.headers.lock()[0].clone();
    assert_eq!(h["content-encoding"], "snappy");
    assert_eq!(h["content-type"], "application/x-protobuf");
    assert_eq!(h["x-prometheus-remote-write-version"], "0.1.0");
    assert_eq!(h["user-agent"], USER_AGENT_VALUE);
    let metadata: Vec<_> = rx
        .decoded
        .lock()
        .iter()
        .flat_map(|r| r.metadata.clone())
        .collect();
    assert!(
        metadata
            .iter()
            .any(|m| m.metric_family_name == "m" && m.help == "A gauge.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_5xx_and_429_but_not_400() {
    let (rx, url, _srv) = start().await;
    rx.failures
        .lock()
        .extend([Fail::Status500, Fail::Status429, Fail::Status500]);
    let ws = storage(
        &format!("remote_write:\n  - url: {url}/api/v1/write\n"),
        &Labels::empty(),
    )
    .await;
    let app = RemoteWriteAppendable::new(Arc::new(MemStore::new()), ws.clone());
    let s = [Labels::from_pairs([("__name__", "r")])];
    append(&app, &s, 10);
    let q = ws.queues()[0].clone();
    eventually("retried batch delivered", || q.stats().samples_sent == 10).await;
    assert!(q.stats().samples_retried >= 30, "{:?}", q.stats());
    assert_eq!(floats(&rx.store, "r").len(), 10);

    rx.failures.lock().push(Fail::Status400);
    let before = rx.requests.load(Ordering::SeqCst);
    append(&app, &[Labels::from_pairs([("__name__", "r2")])], 5);
    eventually("batch refused", || q.stats().samples_failed == 5).await;
    ws.stop().await;
    assert_eq!(
        rx.requests.load(Ordering::SeqCst),
        before + 1,
        "a 400 is not retried"
    );
    assert!(floats(&rx.store, "r2").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resharding_keeps_every_series_in_order() {
    let (rx, url, _srv) = start().await;
    let ws = storage(
        &format!(
            "remote_write:\n  - url: {url}/api/v1/write\n    queue_config:\n      max_samples_per_send: 50\n      max_shards: 8\n"
        ),
        &Labels::empty(),
    )
    .await;
    let app = RemoteWriteAppendable::new(Arc::new(MemStore::new()), ws.clone());
    let series: Vec<Labels> = (0..20)
        .map(|i| Labels::from_pairs([("__name__", "o".to_string()), ("i", i.to_string())]))
        .collect();
    let q = ws.queues()[0].clone();
    append(&app, &series, 200);
    q.reshard(5).await;
    let more: Vec<Labels> = series.clone();
    let app2 = app.clone();
    let h = std::thread::spawn(move || {
        // Later samples of the same series, appended while shards change again.
        let mut a = app2.appender();
        for s in &more {
            for i in 200..400 {
                a.append(SeriesRef::NONE, s, i * 1000, i as f64).unwrap();
            }
        }
        a.commit().unwrap();
    });
    q.reshard(3).await;
    h.join().unwrap();
    ws.stop().await;
    let st = q.stats();
    // The receiver refuses out-of-order samples with 400, so any reordering would show
    // up as failed samples.
    assert_eq!(st.samples_failed, 0, "{st:?}");
    assert_eq!(st.samples_sent, 20 * 400, "{st:?}");
    assert_eq!(floats(&rx.store, "o").len(), 20 * 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_grow_with_backlog() {
    let (_rx, url, _srv) = start().await;
    let ws = storage(
        &format!(
            "remote_write:\n  - url: {url}/api/v1/write\n    queue_config:\n      max_samples_per_send: 10\n      max_shards: 4\n      capacity: 100000\n"
        ),
        &Labels::empty(),
    )
    .await;
    let app = RemoteWriteAppendable::new(Arc::new(MemStore::new()), ws.clone());
    let series: Vec<Labels> = (0..50)
        .map(|i| Labels::from_pairs([("__name__", "g".to_string()), ("i", i.to_string())]))
        .collect();
    let q = ws.queues()[0].clone();
    // Keep a backlog of many batches while sends succeed, so the loop scales up.
    let mut t = 0;
    eventually("more than one shard", || {
        let mut a = app.appender();
        for s in &series {
            for k in 0..20 {
                a.append(SeriesRef::NONE, s, (t + k) * 1000, 1.0).unwrap();
            }
        }
        a.commit().unwrap();
        t += 20;
        q.stats().shards > 1
    })
    .await;
    ws.stop().await;
    assert_eq!(q.stats().samples_failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_starts_late_gets_everything() {
    // Reserve a port, then close it: the receiver is down while samples are queued.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ws = storage(
        &format!("remote_write:\n  - url: http://127.0.0.1:{port}/api/v1/write\n"),
        &Labels::empty(),
    )
    .await;
    let app = RemoteWriteAppendable::new(Arc::new(MemStore::new()), ws.clone());
    append(&app, &[Labels::from_pairs([("__name__", "late")])], 500);
    let q = ws.queues()[0].clone();
    eventually("sends failing", || q.stats().samples_retried > 0).await;
    assert_eq!(q.stats().samples_sent, 0);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let rx = Arc::new(common::Receiver::default());
    let _srv = common::serve(listener, rx.clone());
    eventually("all delivered", || q.stats().samples_sent == 500).await;
    ws.stop().await;
    assert_eq!(floats(&rx.store, "late").len(), 500);
    assert_eq!(q.stats().samples_dropped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_read_client_merges_with_local_storage() {
    let (rx, url, _srv) = start().await;
    {
        let mut a = rx.store.appender();
        let ls = Labels::from_pairs([("__name__", "old"), ("env", "prod"), ("region", "eu")]);
        for i in 0..10 {
            a.append(SeriesRef::NONE, &ls, i * 1000, i as f64).unwrap();
        }
        a.commit().unwrap();
    }
    let local = Arc::new(MemStore::new());
    {
        let mut a = local.appender();
        let ls = Labels::from_pairs([("__name__", "old"), ("env", "prod")]);
        a.append(SeriesRef::NONE, &ls, 20_000, 20.0).unwrap();
        a.commit().unwrap();
    }
    let cfgs = remote_read(&format!(
        "remote_read:\n  - url: {url}/api/v1/read\n    read_recent: true\n    required_matchers:\n      env: prod\n"
    ));
    for streamed in [false, true] {
        let remote = RemoteReadQueryable::new(&cfgs[0], tokio::runtime::Handle::current())
            .unwrap()
            .with_external_labels(Labels::from_pairs([("region", "eu")]))
            .with_streamed_chunks(streamed);
        let merged = MergeQueryable::new(local.clone(), vec![Arc::new(remote)]);
        let got = tokio::task::spawn_blocking(move || {
            let q = merged.querier(0, 100_000).unwrap();
            let with_required: Vec<_> = q
                .select(
                    true,
                    None,
                    &[
                        Matcher::equal("__name__", "old"),
                        Matcher::equal("env", "prod"),
                    ],
                )
                .map(|s| {
                    let s = s.unwrap();
                    (s.labels().clone(), collect_samples(&*s).len())
                })
                .collect();
            let without: usize = q
                .select(true, None, &[Matcher::equal("__name__", "old")])
                .map(|s| collect_samples(&*s.unwrap()).len())
                .sum();
            (with_required, without)
        })
        .await
        .unwrap();
        check_merged(&got);
    }
}

fn check_merged(got: &(Vec<(Labels, usize)>, usize)) {
    // The external label is matched remotely and stripped, so remote and local series
    // are one series with 10 remote samples and 1 local one.
    assert_eq!(got.0.len(), 1, "{:?}", got.0);
    assert_eq!(got.0[0].0.to_string(), r#"{__name__="old", env="prod"}"#);
    assert_eq!(got.0[0].1, 11);
    // Without the required matcher the remote store is not asked.
    assert_eq!(got.1, 1);
}

/// Regression: a shard that had found its buffer empty at a deadline waited for a full
/// batch, so a trickle smaller than `max_samples_per_send` was never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickle_after_an_idle_period_is_sent() {
    let (rx, url, _srv) = start().await;
    let ws = storage(
        &format!("remote_write:\n  - url: {url}/api/v1/write\n"),
        &Labels::empty(),
    )
    .await;
    let app = RemoteWriteAppendable::new(Arc::new(MemStore::new()), ws.clone());
    // Let several batch deadlines pass with nothing queued.
    tokio::time::sleep(Duration::from_millis(200)).await;
    append(&app, &[Labels::from_pairs([("__name__", "trickle")])], 3);
    eventually("trickle delivered", || {
        floats(&rx.store, "trickle").len() == 3
    })
    .await;
    ws.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_2_round_trips_with_metadata_exemplars_and_histograms() {
    let (rx, url, _srv) = start().await;
    let ws = storage(
        &format!(
            "remote_write:\n  - url: {url}/api/v1/write\n    protobuf_message: io.prometheus.write.v2.Request\n    send_exemplars: true\n    send_native_histograms: true\n"
        ),
        &Labels::empty(),
    )
    .await;
    let app = RemoteWriteAppendable::new(Arc::new(MemStore::new()), ws.clone());
    let c = Labels::from_pairs([("__name__", "v2_requests_total"), ("code", "200")]);
    let h = Labels::from_pairs([("__name__", "v2_latency_seconds")]);
    let hist = promlite_model::Histogram {
        count: 2,
        sum: 0.5,
        positive_spans: vec![promlite_model::Span {
            offset: 0,
            length: 1,
        }],
        positive_buckets: vec![2],
        ..Default::default()
    };
    {
        let mut a = app.appender();
        let meta = Metadata {
            metric_type: MetricType::Counter,
            help: "Requests by code.".into(),
            unit: String::new(),
        };
        a.update_metadata(SeriesRef::NONE, &c, &meta).unwrap();
        a.commit().unwrap();
    }
    let mut a = app.appender();
    for i in 0..10 {
        a.append(SeriesRef::NONE, &c, i * 1000, i as f64).unwrap();
        a.append_histogram(
            SeriesRef::NONE,
            &h,
            i * 1000,
            promlite_storage::HistogramRef::Int(&hist),
        )
        .unwrap();
    }
    let ex = promlite_model::Exemplar {
        labels: Labels::from_pairs([("trace_id", "abc")]),
        value: 9.0,
        timestamp: Some(9_000),
    };
    a.append_exemplar(SeriesRef::NONE, &c, &ex).unwrap();
    a.commit().unwrap();
    let q = ws.queues()[0].clone();
    eventually("all sent", || {
        q.stats().samples_sent == 10 && q.stats().histograms_sent == 10
    })
    .await;
    ws.stop().await;
    assert_eq!(floats(&rx.store, "v2_requests_total").len(), 10);
    assert_eq!(rx.store.exemplars(&c), vec![ex]);
    assert_eq!(
        rx.store.metadata("v2_requests_total").map(|m| m.help),
        Some("Requests by code.".to_string())
    );
    let hs = {
        let q = rx.store.querier(i64::MIN, i64::MAX).unwrap();
        q.select(
            true,
            None,
            &[Matcher::equal("__name__", "v2_latency_seconds")],
        )
        .map(|s| collect_samples(&*s.unwrap()).len())
        .sum::<usize>()
    };
    assert_eq!(hs, 10);
    let hd = rx.headers.lock()[0].clone();
    assert_eq!(
        hd["content-type"],
        "application/x-protobuf;proto=io.prometheus.write.v2.Request"
    );
    assert_eq!(hd["x-prometheus-remote-write-version"], "2.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_keeps_unchanged_queues_and_replaces_changed_ones() {
    let (_rx, url, _srv) = start().await;
    let one = format!("remote_write:\n  - url: {url}/api/v1/write\n    name: a\n");
    let two = format!("{one}  - url: {url}/api/v1/write\n    name: b\n");
    let ws = storage(&two, &Labels::empty()).await;
    let before = ws.queues();
    assert_eq!(before.len(), 2);
    // Same entries: the same queues keep running.
    ws.apply_config(&remote_write(&two), &Labels::empty())
        .await
        .unwrap();
    let same = ws.queues();
    assert!(same[0].same(&before[0]) && same[1].same(&before[1]));
    // One entry left: it keeps its queue; the other is stopped.
    ws.apply_config(&remote_write(&one), &Labels::empty())
        .await
        .unwrap();
    let after = ws.queues();
    assert_eq!(after.len(), 1);
    assert!(after[0].same(&before[0]));
    // New external labels change every queue.
    ws.apply_config(&remote_write(&one), &Labels::from_pairs([("r", "1")]))
        .await
        .unwrap();
    assert!(!ws.queues()[0].same(&before[0]));
    // An unusable entry changes nothing.
    let bad = format!(
        "{one}  - url: https://127.0.0.1:1/x\n    oauth2: {{client_id: x, token_url: http://127.0.0.1:1/t}}\n"
    );
    assert!(
        ws.apply_config(&remote_write(&bad), &Labels::empty())
            .await
            .is_err()
    );
    assert_eq!(ws.queues().len(), 1);
    ws.stop().await;
}
