//! End-to-end scrapes against small HTTP servers on 127.0.0.1 and the real
//! `prometheus-node-exporter`, `prometheus` and `prometheus-alertmanager` (their own
//! `/metrics`), appending to a `MemStore`. Without those binaries their tests pass with a
//! note, unless `PROMLITE_PEERS=1` says the peers must be there.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use promlite_discovery::{TargetGroup, TargetSets};
use promlite_exposition::proto;
use promlite_model::{Labels, Matcher, is_stale_nan};
use promlite_scrape::{
    Health, ManagerOptions, ScrapeConfig, ScrapeDefaults, ScrapeManager, Target,
};
use promlite_storage::{MemStore, Queryable, ValueType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a test server answers.
#[derive(Clone, Default)]
struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
    gzip: bool,
    delay: Duration,
}

type Handler = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

/// A one-request-per-connection HTTP/1.1 server; remembers the last request's headers,
/// and every request's.
struct TestServer {
    addr: String,
    last_request: Arc<parking_lot::Mutex<String>>,
    requests: Arc<parking_lot::Mutex<Vec<String>>>,
}

impl TestServer {
    async fn start(handler: Handler) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let last_request = Arc::new(parking_lot::Mutex::new(String::new()));
        let seen = Arc::clone(&last_request);
        let requests = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let handler = Arc::clone(&handler);
                let seen = Arc::clone(&seen);
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let req = String::from_utf8_lossy(&buf).into_owned();
                    let path = req.split(' ').nth(1).unwrap_or("/").to_owned();
                    log.lock().push(req.clone());
                    *seen.lock() = req;
                    let r = handler(&path);
                    tokio::time::sleep(r.delay).await;
                    let body = if r.gzip {
                        let mut enc = flate2::write::GzEncoder::new(
                            Vec::new(),
                            flate2::Compression::default(),
                        );
                        enc.write_all(&r.body).unwrap();
                        enc.finish().unwrap()
                    } else {
                        r.body
                    };
                    let mut head = format!(
                        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                        r.status,
                        body.len()
                    );
                    if !r.content_type.is_empty() {
                        head.push_str("Content-Type: ");
                        head.push_str(&r.content_type);
                        head.push_str("\r\n");
                    }
                    if r.gzip {
                        head.push_str("Content-Encoding: gzip\r\n");
                    }
                    head.push_str("\r\n");
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&body).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        TestServer {
            addr,
            last_request,
            requests,
        }
    }
}

fn text(body: &str) -> Reply {
    Reply {
        status: 200,
        content_type: "text/plain; version=0.0.4".into(),
        body: body.as_bytes().to_vec(),
        ..Reply::default()
    }
}

fn job(yaml: &str) -> ScrapeConfig {
    let mut c: ScrapeConfig = serde_norway::from_str(yaml).unwrap();
    c.apply_defaults(&ScrapeDefaults::default()).unwrap();
    c
}

fn sets(job: &str, addrs: &[&str]) -> TargetSets {
    let g = TargetGroup {
        source: "0".into(),
        targets: addrs
            .iter()
            .map(|a| Labels::from_pairs([("__address__", *a)]))
            .collect(),
        labels: Labels::empty(),
    };
    HashMap::from([(job.to_string(), vec![g])])
}

/// Float samples of every series named `name`, as (labels, t, v).
fn samples(store: &MemStore, name: &str) -> Vec<(String, i64, f64)> {
    let q = store.querier(i64::MIN, i64::MAX).unwrap();
    let mut out = Vec::new();
    for s in q.select(true, None, &[Matcher::equal("__name__", name)]) {
        let s = s.unwrap();
        let mut it = s.samples();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            out.push((s.labels().to_string(), t, v));
        }
    }
    out
}

/// Waits (at most 10 s) until `cond` holds, checking every 20 ms.
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn only_target(m: &ScrapeManager, job: &str) -> Arc<Target> {
    let all = m.active_targets();
    assert_eq!(all[job].len(), 1, "{all:?}");
    Arc::clone(&all[job][0])
}

/// Starts a manager for one job against `addr` and waits for `scrapes` scrapes of it.
async fn scrape_once(yaml: &str, addr: &str) -> (Arc<MemStore>, ScrapeManager, Arc<Target>) {
    let store = Arc::new(MemStore::new());
    let m = ScrapeManager::new(
        store.clone(),
        ManagerOptions {
            no_offsets: true,
            ..ManagerOptions::default()
        },
    );
    let c = job(yaml);
    m.apply_config(std::slice::from_ref(&c)).unwrap();
    m.sync(&sets(&c.job_name, &[addr]));
    let t = only_target(&m, &c.job_name);
    wait_for("first scrape", || t.state().last_scrape.is_some()).await;
    (store, m, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_scrape_lands_with_report_series_and_headers() {
    let srv = TestServer::start(Arc::new(|_| {
        text("# TYPE a counter\na_total{job=\"x\"} 3\nb 1.5\n")
    }))
    .await;
    let (store, m, t) = scrape_once(
        "job_name: text\nscrape_interval: 1m\nscrape_timeout: 2s\nauthorization: {credentials: secret}\nstatic_configs: [{targets: [x]}]",
        &srv.addr,
    )
    .await;
    let st = t.state();
    assert_eq!(st.health, Health::Up, "{st:?}");
    assert_eq!(st.last_samples, 2);
    let a = samples(&store, "a_total");
    let inst = &srv.addr;
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].0,
        format!(r#"{{__name__="a_total", exported_job="x", instance="{inst}", job="text"}}"#)
    );
    assert_eq!(a[0].2, 3.0);
    let meta = store
        .metadata("a_total")
        .expect("metadata recorded for a new series");
    assert_eq!(meta.metric_type, promlite_model::MetricType::Counter);
    for (name, v) in [
        ("up", 1.0),
        ("scrape_samples_scraped", 2.0),
        ("scrape_samples_post_metric_relabeling", 2.0),
        ("scrape_series_added", 2.0),
    ] {
        let s = samples(&store, name);
        assert_eq!(s.len(), 1, "{name}");
        assert_eq!(
            s[0].0,
            format!(r#"{{__name__="{name}", instance="{inst}", job="text"}}"#)
        );
        assert_eq!(s[0].2, v, "{name}");
    }
    assert!(samples(&store, "scrape_duration_seconds")[0].2 > 0.0);
    let req = srv.last_request.lock().to_ascii_lowercase();
    assert!(
        req.contains("x-prometheus-scrape-timeout-seconds: 2\r\n"),
        "{req}"
    );
    assert!(
        req.contains("accept: application/openmetrics-text;version=1.0.0"),
        "{req}"
    );
    assert!(req.contains("authorization: bearer secret"), "{req}");
    assert!(req.contains("accept-encoding: gzip"), "{req}");
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_protobuf_and_gzip_bodies() {
    let om = TestServer::start(Arc::new(|_| Reply {
        status: 200,
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8".into(),
        body: b"# TYPE om_seconds gauge\n# HELP om_seconds Om.\n# UNIT om_seconds seconds\nom_seconds{k=\"v\"} 7 1700000000.5\n# EOF\n"
            .to_vec(),
        ..Reply::default()
    }))
    .await;
    let (store, m, t) = scrape_once("job_name: om\nstatic_configs: []", &om.addr).await;
    assert_eq!(t.state().health, Health::Up, "{:?}", t.state());
    let s = samples(&store, "om_seconds");
    assert_eq!(
        (s[0].1, s[0].2),
        (1_700_000_000_500, 7.0),
        "honors the exposed timestamp"
    );
    let meta = promlite_model::Metadata {
        metric_type: promlite_model::MetricType::Gauge,
        help: "Om.".into(),
        unit: "seconds".into(),
    };
    assert_eq!(t.metadata(), vec![("om_seconds".to_owned(), meta.clone())]);
    assert_eq!(t.metadata_for("om_seconds"), Some(meta));
    assert_eq!(t.metadata_for("other"), None);
    m.stop().await;

    let mut pb = Vec::new();
    promlite_exposition::encode_delimited(
        &proto::MetricFamily {
            name: "pb_requests".into(),
            r#type: proto::MetricType::Counter as i32,
            metric: vec![proto::Metric {
                label: vec![proto::LabelPair {
                    name: "code".into(),
                    value: "200".into(),
                }],
                counter: Some(proto::Counter {
                    value: 11.0,
                    ..proto::Counter::default()
                }),
                ..proto::Metric::default()
            }],
            ..proto::MetricFamily::default()
        },
        &mut pb,
    );
    let pbs = TestServer::start(Arc::new(move |_| Reply {
        status: 200,
        content_type: promlite_exposition::Format::Protobuf.content_type().into(),
        body: pb.clone(),
        ..Reply::default()
    }))
    .await;
    let (store, m, t) = scrape_once(
        "job_name: pb\nscrape_protocols: [PrometheusProto, PrometheusText0.0.4]",
        &pbs.addr,
    )
    .await;
    assert_eq!(t.state().health, Health::Up, "{:?}", t.state());
    let s = samples(&store, "pb_requests");
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].2, 11.0);
    assert_eq!(
        t.metadata_for("pb_requests").map(|m| m.metric_type),
        Some(promlite_model::MetricType::Counter)
    );
    let req = pbs.last_request.lock().to_ascii_lowercase();
    assert!(req.contains("accept: application/vnd.google.protobuf;proto=io.prometheus.client.metricfamily;encoding=delimited;q=0.6"), "{req}");
    m.stop().await;

    let gz = TestServer::start(Arc::new(|_| Reply {
        gzip: true,
        ..text("gz_metric 5\n")
    }))
    .await;
    let (store, m, t) = scrape_once("job_name: gz", &gz.addr).await;
    assert_eq!(t.state().health, Health::Up, "{:?}", t.state());
    assert_eq!(samples(&store, "gz_metric")[0].2, 5.0);
    m.stop().await;

    let (_, m, t) = scrape_once("job_name: gzl\nbody_size_limit: 5B", &gz.addr).await;
    assert_eq!(
        t.state().last_error.as_deref(),
        Some("body size limit exceeded")
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_timeouts_and_errors_report_down() {
    let slow = TestServer::start(Arc::new(|_| Reply {
        delay: Duration::from_secs(2),
        ..text("s 1\n")
    }))
    .await;
    let (store, m, t) = scrape_once("job_name: slow\nscrape_timeout: 200ms", &slow.addr).await;
    let st = t.state();
    assert_eq!(st.health, Health::Down);
    assert!(
        st.last_error
            .as_deref()
            .unwrap()
            .starts_with("context deadline exceeded"),
        "{st:?}"
    );
    assert_eq!(samples(&store, "up")[0].2, 0.0);
    assert!(st.last_duration < Duration::from_secs(1));
    m.stop().await;

    let err = TestServer::start(Arc::new(|_| Reply {
        status: 500,
        ..text("")
    }))
    .await;
    let (store, m, t) = scrape_once("job_name: e500", &err.addr).await;
    assert_eq!(
        t.state().last_error.as_deref(),
        Some("server returned HTTP status 500 Internal Server Error")
    );
    assert_eq!(samples(&store, "up")[0].2, 0.0);
    m.stop().await;

    let bad = TestServer::start(Arc::new(|_| text("ok 1\nbroken{ 2\n"))).await;
    let (store, m, t) = scrape_once("job_name: parse", &bad.addr).await;
    assert_eq!(t.state().health, Health::Down);
    assert!(
        samples(&store, "ok").is_empty(),
        "a failed parse appends nothing"
    );
    m.stop().await;

    let many = TestServer::start(Arc::new(|_| text("a 1\nb 2\nc 3\n"))).await;
    let (store, m, t) = scrape_once("job_name: lim\nsample_limit: 2", &many.addr).await;
    assert_eq!(
        t.state().last_error.as_deref(),
        Some("sample limit exceeded")
    );
    assert!(samples(&store, "a").is_empty());
    assert_eq!(samples(&store, "scrape_samples_scraped")[0].2, 0.0);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staleness_on_disappearing_series_and_targets() {
    let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n2 = Arc::clone(&n);
    let srv = TestServer::start(Arc::new(move |_| {
        if n2.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            text("keep 1\ngoes 1\n")
        } else {
            text("keep 2\n")
        }
    }))
    .await;
    let store = Arc::new(MemStore::new());
    let m = ScrapeManager::new(
        store.clone(),
        ManagerOptions {
            no_offsets: true,
            ..ManagerOptions::default()
        },
    );
    let c = job("job_name: st\nscrape_interval: 100ms\nscrape_timeout: 100ms");
    m.apply_config(std::slice::from_ref(&c)).unwrap();
    m.sync(&sets("st", &[&srv.addr]));
    wait_for("two scrapes", || samples(&store, "keep").len() >= 2).await;
    let goes = samples(&store, "goes");
    assert!(goes.len() == 2 && is_stale_nan(goes[1].2), "{goes:?}");

    // The target goes away: its series and report series are marked stale.
    m.sync(&sets("st", &[]));
    wait_for("stale markers", || {
        samples(&store, "keep")
            .last()
            .is_some_and(|s| is_stale_nan(s.2))
    })
    .await;
    wait_for("stale up", || {
        samples(&store, "up")
            .last()
            .is_some_and(|s| is_stale_nan(s.2))
    })
    .await;
    assert!(m.active_targets()["st"].is_empty());
    m.stop().await;
}

/// A target that goes away and comes back at once (service discovery flapping) is not
/// marked stale: as in Prometheus, the markers wait for two intervals, by which time the
/// new loop's scrapes are newer and the markers are refused as out of order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_comes_back_is_not_marked_stale() {
    let srv = TestServer::start(Arc::new(|_| text("flap 1\n"))).await;
    let store = Arc::new(MemStore::new());
    let m = ScrapeManager::new(
        store.clone(),
        ManagerOptions {
            no_offsets: true,
            ..ManagerOptions::default()
        },
    );
    let c = job("job_name: fl\nscrape_interval: 100ms\nscrape_timeout: 100ms");
    m.apply_config(std::slice::from_ref(&c)).unwrap();
    m.sync(&sets("fl", &[&srv.addr]));
    wait_for("a scrape", || !samples(&store, "flap").is_empty()).await;
    m.sync(&sets("fl", &[]));
    m.sync(&sets("fl", &[&srv.addr]));
    let before = samples(&store, "flap").len();
    // Well past the two intervals and a tenth the old loop waits.
    wait_for("more scrapes", || {
        samples(&store, "flap").len() >= before + 5
    })
    .await;
    let flap = samples(&store, "flap");
    assert!(
        flap.iter().all(|s| !is_stale_nan(s.2)),
        "no stale marker between the scrapes: {flap:?}"
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relabeling_drops_targets_and_series() {
    let srv = TestServer::start(Arc::new(|_| text("keep_me 1\ndrop_me 2\n"))).await;
    let store = Arc::new(MemStore::new());
    let m = ScrapeManager::new(
        store.clone(),
        ManagerOptions {
            no_offsets: true,
            ..ManagerOptions::default()
        },
    );
    let c = job("job_name: rl
relabel_configs:
  - {source_labels: [__address__], regex: 'dropped:.*', action: drop}
  - {target_label: team, replacement: infra}
metric_relabel_configs:
  - {source_labels: [__name__], regex: drop_me, action: drop}");
    m.apply_config(std::slice::from_ref(&c)).unwrap();
    m.sync(&sets("rl", &[&srv.addr, "dropped:1"]));
    let t = only_target(&m, "rl");
    wait_for("first scrape", || t.state().last_scrape.is_some()).await;
    let dropped = m.dropped_targets();
    assert_eq!(dropped.len(), 1);
    assert_eq!(
        dropped[0].discovered_labels.get("__address__"),
        Some("dropped:1")
    );
    assert_eq!(dropped[0].dropped_by, Some(0));
    let steps = m
        .relabel_steps("rl", &dropped[0].discovered_labels)
        .unwrap();
    assert_eq!(steps.len(), 2);
    assert!(!steps[0].keep && !steps[1].keep && steps[0].output.is_empty());
    let steps = m.relabel_steps("rl", t.discovered_labels()).unwrap();
    assert!(steps.iter().all(|s| s.keep));
    assert_eq!(steps[1].output.get("team"), Some("infra"));
    assert_eq!(
        m.relabel_steps("nope", &Labels::empty())
            .unwrap_err()
            .to_string(),
        r#"scrape pool "nope" not found"#
    );
    assert_eq!(
        samples(&store, "keep_me")[0].0,
        format!(
            r#"{{__name__="keep_me", instance="{}", job="rl", team="infra"}}"#,
            srv.addr
        )
    );
    assert!(samples(&store, "drop_me").is_empty());
    assert_eq!(samples(&store, "scrape_samples_scraped")[0].2, 2.0);
    assert_eq!(
        samples(&store, "scrape_samples_post_metric_relabeling")[0].2,
        1.0
    );
    m.stop().await;
}

/// A real Prometheus-ecosystem program on a free loopback port, killed on drop, with a
/// scratch directory for its data and configuration.
struct Peer {
    addr: String,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Peer {
    /// Starts `bin` with the arguments `args` makes of its address and scratch directory,
    /// after writing `files` (name, contents) there, and waits until it listens. `None`
    /// (with a note) when the binary is missing, unless `PROMLITE_PEERS=1` says the peers
    /// must be there, which makes it a failure.
    async fn start(
        bin: &str,
        files: &[(&str, &str)],
        args: impl FnOnce(&str, &std::path::Path) -> Vec<String>,
    ) -> Option<Peer> {
        if !std::path::Path::new(bin).exists() {
            assert!(
                std::env::var("PROMLITE_PEERS").as_deref() != Ok("1"),
                "{bin} is missing"
            );
            eprintln!("skipping: {bin} is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).unwrap();
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = format!("127.0.0.1:{port}");
        let child = tokio::process::Command::new(bin)
            .args(args(&addr, dir.path()))
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(&addr).await.is_err() {
            assert!(Instant::now() < deadline, "{bin} did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(Peer {
            addr,
            _child: child,
            _dir: dir,
        })
    }
}

/// Scrapes a peer's `/metrics` as job `job` until three scrapes succeeded, and checks
/// that `families` are stored with the job's `job` and `instance` labels, together with
/// the report series. Returns the store and the running manager.
async fn scrape_peer(
    peer: &Peer,
    job: &str,
    families: &[&str],
) -> (Arc<MemStore>, ScrapeManager, Arc<Target>) {
    let (store, m, t) = scrape_once(
        &format!("job_name: {job}\nscrape_interval: 500ms\nscrape_timeout: 500ms"),
        &peer.addr,
    )
    .await;
    wait_for("three successful scrapes", || {
        t.state().health == Health::Up
            && samples(&store, "up").iter().filter(|s| s.2 == 1.0).count() >= 3
    })
    .await;
    assert!(t.state().last_samples > 10, "{:?}", t.state());
    let target = format!(r#"instance="{}", job="{job}""#, peer.addr);
    for name in families
        .iter()
        .chain(&["up", "scrape_duration_seconds", "scrape_samples_scraped"])
        .chain(&[
            "scrape_samples_post_metric_relabeling",
            "scrape_series_added",
        ])
    {
        let s = samples(&store, name);
        assert!(!s.is_empty(), "{name} is not stored");
        assert!(s.iter().all(|(l, _, _)| l.contains(&target)), "{s:?}");
    }
    assert!(
        !t.metadata().is_empty(),
        "{job} reports metadata for its families"
    );
    (store, m, t)
}

/// Scrapes the real node exporter; once it is gone, `up` is 0 and its series are stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter() {
    let Some(peer) = Peer::start("/usr/bin/prometheus-node-exporter", &[], |addr, _| {
        [
            format!("--web.listen-address={addr}"),
            "--collector.disable-defaults".into(),
            "--collector.cpu".into(),
            "--collector.meminfo".into(),
            "--collector.loadavg".into(),
        ]
        .into()
    })
    .await
    else {
        return;
    };
    let (store, m, t) = scrape_peer(
        &peer,
        "node",
        &["node_load1", "node_memory_MemTotal_bytes", "go_goroutines"],
    )
    .await;
    drop(peer);
    wait_for("a failed scrape", || t.state().health == Health::Down).await;
    assert_eq!(samples(&store, "up").last().map(|s| s.2), Some(0.0));
    let load = samples(&store, "node_load1");
    assert!(load.last().is_some_and(|s| is_stale_nan(s.2)), "{load:?}");
    m.stop().await;
}

/// Starts a server that takes Prometheus's flags (`--config.file`, a storage path flag,
/// `--web.listen-address`) with `config`, and scrapes its own `/metrics` as `job`.
async fn scrape_server_itself(
    bin: &str,
    config: &str,
    storage_flag: &str,
    extra_args: &[&str],
    job: &str,
    families: &[&str],
) {
    let Some(peer) = Peer::start(bin, &[("config.yml", config)], |addr, dir| {
        let mut args = vec![
            format!("--config.file={}", dir.join("config.yml").display()),
            format!("--{storage_flag}={}", dir.join("data").display()),
            format!("--web.listen-address={addr}"),
        ];
        args.extend(extra_args.iter().map(|a| (*a).to_owned()));
        args
    })
    .await
    else {
        return;
    };
    let (_, m, _) = scrape_peer(&peer, job, families).await;
    m.stop().await;
}

/// Scrapes real Prometheus's own `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_self_metrics() {
    scrape_server_itself(
        "/usr/bin/prometheus",
        "global: {scrape_interval: 1m}\nscrape_configs: []\n",
        "storage.tsdb.path",
        &[],
        "prometheus",
        &[
            "prometheus_build_info",
            "go_goroutines",
            "prometheus_tsdb_head_series",
        ],
    )
    .await;
}

/// Scrapes real Alertmanager's own `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_self_metrics() {
    scrape_server_itself(
        "/usr/bin/prometheus-alertmanager",
        "route: {receiver: none}\nreceivers: [{name: none}]\n",
        "storage.path",
        &["--cluster.listen-address="],
        "alertmanager",
        &["alertmanager_build_info", "go_goroutines"],
    )
    .await;
}

/// The whole chain: a job's `static_configs` through the discovery manager into the
/// scrape manager, which follows its target sets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_manager_feeds_the_scrape_manager() {
    let srv = TestServer::start(Arc::new(|_| text("from_sd 1\n"))).await;
    let c = job(&format!(
        "job_name: sd\nstatic_configs: [{{targets: ['{}'], labels: {{env: test}}}}]",
        srv.addr
    ));
    let mut sd = promlite_discovery::Manager::new(promlite_discovery::ManagerOptions {
        initial_delay: Duration::from_millis(1),
        ..promlite_discovery::ManagerOptions::default()
    });
    let sets = sd.subscribe();
    sd.apply_config(HashMap::from([(
        c.job_name.clone(),
        c.service_discovery_configs.to_sd_configs(),
    )]))
    .unwrap();
    let store = Arc::new(MemStore::new());
    let m = Arc::new(ScrapeManager::new(
        store.clone(),
        ManagerOptions {
            no_offsets: true,
            ..ManagerOptions::default()
        },
    ));
    m.apply_config(std::slice::from_ref(&c)).unwrap();
    let runner = tokio::spawn({
        let m = Arc::clone(&m);
        async move { m.run(sets).await }
    });
    wait_for("a scrape of the discovered target", || {
        !samples(&store, "from_sd").is_empty()
    })
    .await;
    assert_eq!(
        samples(&store, "from_sd")[0].0,
        format!(
            r#"{{__name__="from_sd", env="test", instance="{}", job="sd"}}"#,
            srv.addr
        )
    );
    runner.abort();
    m.stop().await;
    drop(sd);
}

/// Credentials from the configuration reach the target: basic auth with the password in
/// a file, and a bearer token from a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_the_config() {
    let srv = TestServer::start(Arc::new(|_| text("authed 1\n"))).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "pa55\n").unwrap();
    let secret = secret.display();
    let (_, m, t) = scrape_once(
        &format!("job_name: basic\nbasic_auth: {{username: user, password_file: {secret}}}"),
        &srv.addr,
    )
    .await;
    assert_eq!(t.state().health, Health::Up, "{:?}", t.state());
    // "user:pa55" in base64: the file's trailing newline is not part of the password.
    let req = srv.last_request.lock().to_ascii_lowercase();
    assert!(req.contains("authorization: basic dxnlcjpwytu1"), "{req}");
    m.stop().await;

    let (_, m, _) = scrape_once(
        &format!("job_name: bearer\nbearer_token_file: {secret}"),
        &srv.addr,
    )
    .await;
    let req = srv.last_request.lock().to_ascii_lowercase();
    assert!(req.contains("authorization: bearer pa55\r\n"), "{req}");
    m.stop().await;
}

/// A server keeping connections alive: bodies chunked, gzip-compressed or plain in turn;
/// after each gzip one it closes the connection without saying so, as an idle keep-alive
/// connection is closed; `/old` redirects to `/metrics`. Counts connections and bodies.
async fn keep_alive_server() -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let conns = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let (c, s) = (Arc::clone(&conns), Arc::clone(&served));
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            c.fetch_add(1, SeqCst);
            let served = Arc::clone(&s);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 1024];
                    let end = loop {
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let req = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end);
                    if req.starts_with("GET /old ") {
                        let r = b"HTTP/1.1 302 Found\r\nLocation: /metrics\r\nContent-Length: 0\r\n\r\n";
                        let _ = sock.write_all(r).await;
                        continue;
                    }
                    let n = served.fetch_add(1, SeqCst);
                    let body = format!("# TYPE ka gauge\nka {n}\n");
                    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n";
                    match n % 3 {
                        0 => {
                            let (a, b) = body.split_at(5);
                            let r = format!(
                                "{head}Transfer-Encoding: chunked\r\n\r\n{:x};ext=1\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\nX-Trailer: t\r\n\r\n",
                                a.len(),
                                b.len()
                            );
                            let _ = sock.write_all(r.as_bytes()).await;
                        }
                        1 => {
                            let mut enc = flate2::write::GzEncoder::new(
                                Vec::new(),
                                flate2::Compression::default(),
                            );
                            enc.write_all(body.as_bytes()).unwrap();
                            let gz = enc.finish().unwrap();
                            let r = format!(
                                "{head}Content-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                                gz.len()
                            );
                            let _ = sock.write_all(r.as_bytes()).await;
                            let _ = sock.write_all(&gz).await;
                            let _ = sock.shutdown().await;
                            return;
                        }
                        _ => {
                            let r = format!("{head}Content-Length: {}\r\n\r\n{body}", body.len());
                            let _ = sock.write_all(r.as_bytes()).await;
                        }
                    }
                }
            });
        }
    });
    (addr, conns, served)
}

/// Scrapes reuse their connection; chunked and gzip bodies read over it; a connection
/// the target closed while idle is replaced without failing a scrape; redirects are
/// followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_chunked_gzip_and_redirects() {
    let (addr, conns, served) = keep_alive_server().await;
    let (store, m, t) = scrape_once(
        "job_name: ka\nscrape_interval: 50ms\nscrape_timeout: 50ms",
        &addr,
    )
    .await;
    wait_for("seven scrapes", || samples(&store, "ka").len() >= 7).await;
    m.stop().await;
    assert_eq!(t.state().health, Health::Up, "{:?}", t.state());
    let up: Vec<f64> = samples(&store, "up").iter().map(|s| s.2).collect();
    assert!(up.iter().all(|&v| v == 1.0), "{up:?}");
    let ka: Vec<f64> = samples(&store, "ka").iter().map(|s| s.2).collect();
    assert_eq!(ka[..7], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let (c, n) = (conns.load(SeqCst), served.load(SeqCst));
    assert!(c <= n / 3 + 2, "{c} connections for {n} scrapes");

    let (store, m, t) = scrape_once("job_name: moved\nmetrics_path: /old", &addr).await;
    assert_eq!(t.state().health, Health::Up, "{:?}", t.state());
    assert_eq!(samples(&store, "ka").len(), 1);
    m.stop().await;

    let (_, m, t) = scrape_once(
        "job_name: stay\nmetrics_path: /old\nfollow_redirects: false",
        &addr,
    )
    .await;
    assert_eq!(
        t.state().last_error.as_deref(),
        Some("server returned HTTP status 302 Found")
    );
    m.stop().await;
}

/// `oauth2`: a client-credentials token fetched once from the token endpoint, with the
/// client's id and secret in basic auth, then sent with every scrape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_client_credentials() {
    let srv = TestServer::start(Arc::new(|path| match path {
        "/token" => Reply {
            status: 200,
            content_type: "application/json".into(),
            body: br#"{"access_token":"tok3n","token_type":"bearer","expires_in":3600}"#.to_vec(),
            ..Reply::default()
        },
        _ => text("oauthed 1\n"),
    }))
    .await;
    let yaml = format!(
        "job_name: oauth\nscrape_interval: 100ms\nscrape_timeout: 100ms\noauth2: {{client_id: id, client_secret: s3cret, scopes: [a, b], token_url: 'http://{}/token'}}",
        srv.addr
    );
    let (store, m, _) = scrape_once(&yaml, &srv.addr).await;
    wait_for("three scrapes", || samples(&store, "oauthed").len() >= 3).await;
    m.stop().await;
    let reqs = srv.requests.lock().clone();
    let tokens: Vec<&String> = reqs
        .iter()
        .filter(|r| r.starts_with("POST /token"))
        .collect();
    assert_eq!(tokens.len(), 1, "the token is reused: {reqs:?}");
    // "id:s3cret" in base64.
    assert!(
        tokens[0].contains("authorization: Basic aWQ6czNjcmV0"),
        "{}",
        tokens[0]
    );
    for r in reqs.iter().filter(|r| r.starts_with("GET /metrics")) {
        assert!(r.contains("authorization: Bearer tok3n\r\n"), "{r}");
    }

    // A token endpoint that refuses: the scrape fails with the endpoint's answer.
    let deny = TestServer::start(Arc::new(|path| match path {
        "/token" => Reply {
            status: 401,
            body: b"no".to_vec(),
            ..Reply::default()
        },
        _ => text("never 1\n"),
    }))
    .await;
    let yaml = format!(
        "job_name: denied\noauth2: {{client_id: id, client_secret: x, token_url: 'http://{}/token'}}",
        deny.addr
    );
    let (_, m, t) = scrape_once(&yaml, &deny.addr).await;
    let st = t.state();
    assert_eq!(st.health, Health::Down);
    assert_eq!(
        st.last_error.as_deref(),
        Some("oauth2: cannot fetch token: 401 Unauthorized\nResponse: no")
    );
    m.stop().await;
}

/// `tls_config` against an HTTPS exporter (`openssl s_server`) whose certificate our
/// test CA signed (`tests/data`, see its README).
#[cfg(feature = "https")]
mod tls {
    use super::*;

    fn data(file: &str) -> String {
        format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"))
    }

    /// An HTTPS server answering `/metrics`; with `client_ca`, it demands a client
    /// certificate signed by it.
    async fn https_exporter(client_ca: bool) -> Option<Peer> {
        Peer::start(
            "/usr/bin/openssl",
            &[("metrics", "tls_metric 1\n")],
            |addr, _| {
                let mut args = vec![
                    "s_server".to_owned(),
                    "-accept".into(),
                    addr.into(),
                    "-cert".into(),
                    data("server.pem"),
                    "-key".into(),
                    data("server-key.pem"),
                    "-WWW".into(),
                    "-quiet".into(),
                ];
                if client_ca {
                    args.extend([
                        "-Verify".into(),
                        "1".into(),
                        "-CAfile".into(),
                        data("ca.pem"),
                    ]);
                }
                args
            },
        )
        .await
    }

    async fn health(yaml: &str, addr: &str) -> (Health, Option<String>) {
        let (store, m, t) = scrape_once(&format!("scheme: https\n{yaml}"), addr).await;
        let st = t.state();
        if st.health == Health::Up {
            assert_eq!(samples(&store, "tls_metric")[0].2, 1.0);
        }
        m.stop().await;
        (st.health, st.last_error)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn server_certificate_checks() {
        let Some(srv) = https_exporter(false).await else {
            return;
        };
        let ca = data("ca.pem");
        let (h, err) = health(
            &format!("job_name: ca\ntls_config: {{ca_file: {ca}}}"),
            &srv.addr,
        )
        .await;
        assert_eq!(h, Health::Up, "{err:?}");
        // The CA inline, as PEM text.
        let pem = std::fs::read_to_string(&ca).unwrap();
        // A YAML double-quoted string, as Rust's Debug writes it.
        let (h, err) = health(
            &format!("job_name: inline\ntls_config: {{ca: {pem:?}}}"),
            &srv.addr,
        )
        .await;
        assert_eq!(h, Health::Up, "{err:?}");

        // Not signed by a CA the system trusts: refused, unless verification is off.
        let (h, err) = health("job_name: system", &srv.addr).await;
        assert_eq!(h, Health::Down);
        assert!(err.is_some());
        let (h, err) = health(
            "job_name: insecure\ntls_config: {insecure_skip_verify: true}",
            &srv.addr,
        )
        .await;
        assert_eq!(h, Health::Up, "{err:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn client_certificate() {
        let Some(srv) = https_exporter(true).await else {
            return;
        };
        let (ca, cert, key) = (data("ca.pem"), data("client.pem"), data("client-key.pem"));
        let (h, err) = health(
            &format!(
                "job_name: mtls\ntls_config: {{ca_file: {ca}, cert_file: {cert}, key_file: {key}}}"
            ),
            &srv.addr,
        )
        .await;
        assert_eq!(h, Health::Up, "{err:?}");
        let (h, _) = health(
            &format!("job_name: nocert\ntls_config: {{ca_file: {ca}}}"),
            &srv.addr,
        )
        .await;
        assert_eq!(h, Health::Down, "the server demands a client certificate");
    }

    #[test]
    fn unusable_tls_settings_are_refused() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let _guard = rt.enter();
        let m = ScrapeManager::new(Arc::new(MemStore::new()), ManagerOptions::default());
        for (yaml, want) in [
            (
                "tls_config: {ca_file: /nonexistent/ca.pem}",
                "unable to load specified CA cert /nonexistent/ca.pem",
            ),
            ("tls_config: {max_version: TLS11}", "TLS version TLS11"),
        ] {
            let err = m
                .apply_config(&[job(&format!("job_name: bad\n{yaml}"))])
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{yaml}: {err}");
        }
    }
}
