//! Interoperability with real receivers and readers: promlite's remote-write client
//! writes to Debian's VictoriaMetrics and Prometheus 2.42 (which starts only after the
//! samples were queued, so the client must retry until it is up), their query APIs must
//! return exactly the series and values sent; and Prometheus configured with
//! `remote_read` pointing at promlite's read handler answers queries over promlite's data.
//!
//! A missing peer binary skips a test with a printed reason, unless `PROMLITE_PEERS=1`,
//! which makes it a failure.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use common::{eventually, remote_write};
use promlite_model::{Histogram, Labels, Matcher, Span};
use promlite_remote::{QueueOptions, RemoteReadQueryable, RemoteWriteAppendable, WriteStorage};
use promlite_storage::{
    Appendable, HistogramRef, MemStore, Queryable, SampleValue, SeriesRef, collect_samples,
};

const VICTORIA: &str = "/usr/bin/victoria-metrics";
const PROMETHEUS: &str = "/usr/bin/prometheus";

/// The peer binary, or `None` (with the reason printed) when it is absent and
/// `PROMLITE_PEERS` does not demand it.
fn peer(path: &str) -> Option<PathBuf> {
    if Path::new(path).exists() {
        return Some(PathBuf::from(path));
    }
    assert!(
        std::env::var("PROMLITE_PEERS").as_deref() != Ok("1"),
        "PROMLITE_PEERS=1 but {path} is missing"
    );
    eprintln!("skipping: {path} is not installed (set PROMLITE_PEERS=1 to make this a failure)");
    None
}

/// A child process killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(bin: &Path, args: &[String], log: &Path) -> Proc {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    Proc(
        Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display())),
    )
}

/// Starts Prometheus on `port` with `config` as its prometheus.yml, data and log in `dir`.
fn prometheus(bin: &Path, dir: &Path, port: u16, config: &str, extra: &[&str]) -> (Proc, PathBuf) {
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let log = dir.join("prom.log");
    let mut args = vec![
        format!("--config.file={}", cfg.display()),
        format!("--storage.tsdb.path={}", dir.join("prom").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    (spawn(bin, &args, &log), log)
}

async fn get(url: &str, params: &[(&str, String)]) -> Option<(u16, String)> {
    let url = reqwest::Url::parse_with_params(url, params).ok()?;
    let resp = reqwest::Client::new().get(url).send().await.ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().await.ok()?))
}

/// Waits until `url` answers 200.
async fn ready(url: &str, log: &Path) {
    for _ in 0..3000 {
        if let Some((200, _)) = get(url, &[]).await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!(
        "{url} never became ready; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Runs an instant query and returns its `data.result` array.
async fn query(base: &str, q: &str, time_ms: i64) -> Vec<serde_json::Value> {
    let time = format!("{:.3}", time_ms as f64 / 1000.0);
    let Some((status, body)) = get(
        &format!("{base}/api/v1/query"),
        &[("query", q.to_owned()), ("time", time)],
    )
    .await
    else {
        return Vec::new();
    };
    assert_eq!(status, 200, "{q}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// `(labels as a sorted map, [(t_ms, value)])` for each series of a matrix result.
fn matrix(result: &[serde_json::Value]) -> BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> {
    result
        .iter()
        .map(|s| {
            let labels = s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let values = s["values"]
                .as_array()
                .map(|vs| {
                    vs.iter()
                        .map(|p| {
                            let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                            (t, p[1].as_str().unwrap().parse::<f64>().unwrap())
                        })
                        .collect()
                })
                .unwrap_or_default();
            (labels, values)
        })
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The known data: three float series of 20 samples, 15s apart, ending a minute ago
/// (VictoriaMetrics hides the newest 30s from queries by default).
fn expected(end: i64) -> BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> {
    let mut out = BTreeMap::new();
    for (job, scale) in [("api", 1.0), ("db", 2.5), ("web", -0.125)] {
        let labels: BTreeMap<String, String> = [
            ("__name__".to_owned(), "interop_total".to_owned()),
            ("job".to_owned(), job.to_owned()),
            ("site".to_owned(), "lab".to_owned()),
        ]
        .into();
        let samples = (0..20)
            .map(|i| (end - (19 - i) * 15_000, scale * i as f64 + 0.5))
            .collect();
        out.insert(labels, samples);
    }
    out
}

fn histogram(i: u64) -> Histogram {
    Histogram {
        count: 3 * i + 3,
        sum: 1.5 * i as f64,
        schema: 0,
        zero_count: i,
        zero_threshold: 1e-128,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![i as i64 + 1, 1],
        ..Histogram::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_and_a_late_prometheus_receive_exactly_what_was_written() {
    let (Some(vm_bin), Some(prom_bin)) = (peer(VICTORIA), peer(PROMETHEUS)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vm_port = free_port();
    let prom_port = free_port();
    let vm_log = dir.path().join("vm.log");
    let _vm = spawn(
        &vm_bin,
        &[
            format!("-httpListenAddr=127.0.0.1:{vm_port}"),
            format!("-storageDataPath={}", dir.path().join("vm").display()),
        ],
        &vm_log,
    );
    let vm = format!("http://127.0.0.1:{vm_port}");
    ready(&format!("{vm}/health"), &vm_log).await;

    let ws = Arc::new(WriteStorage::new());
    ws.set_options(|cfg| QueueOptions {
        batch_send_deadline: std::time::Duration::from_millis(100),
        max_backoff: std::time::Duration::from_millis(500),
        ..QueueOptions::from_config(cfg)
    });
    ws.apply_config(
        &remote_write(&format!(
            r"
remote_write:
  - url: {vm}/api/v1/write
    name: vm
  - url: http://127.0.0.1:{prom_port}/api/v1/write
    name: prometheus
    send_native_histograms: true
"
        )),
        &Labels::from_pairs([("site", "lab")]),
    )
    .await
    .unwrap();
    let app = RemoteWriteAppendable::new(Arc::new(MemStore::new()), ws.clone());
    let end = (now_ms() - 60_000) / 1000 * 1000;
    let want = expected(end);
    for i in 0..20 {
        let mut a = app.appender();
        for (labels, samples) in &want {
            let ls = Labels::from_pairs(
                labels
                    .iter()
                    .filter(|(k, _)| *k != "site")
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            );
            let (t, v) = samples[i];
            a.append(SeriesRef::NONE, &ls, t, v).unwrap();
        }
        let h = histogram(i as u64);
        let hl = Labels::from_pairs([("__name__", "interop_seconds")]);
        a.append_histogram(
            SeriesRef::NONE,
            &hl,
            end - (19 - i as i64) * 15_000,
            HistogramRef::Int(&h),
        )
        .unwrap();
        a.commit().unwrap();
    }
    let queues = ws.queues();
    let prom_q = queues
        .iter()
        .find(|q| q.name() == "prometheus")
        .unwrap()
        .clone();
    // Prometheus is not running yet: its queue must be failing and retrying.
    eventually("prometheus queue retrying", || {
        prom_q.stats().samples_retried > 0
    })
    .await;

    let (_prom, prom_log) = prometheus(
        &prom_bin,
        dir.path(),
        prom_port,
        "",
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=native-histograms",
        ],
    );
    let prom = format!("http://127.0.0.1:{prom_port}");
    ready(&format!("{prom}/-/ready"), &prom_log).await;
    eventually("everything acknowledged", || {
        ws.queues()
            .iter()
            .all(|q| q.stats().pending == 0 && q.stats().samples_sent == 60)
    })
    .await;
    for q in ws.queues() {
        let st = q.stats();
        assert_eq!(
            st.samples_failed + st.samples_dropped,
            0,
            "{}: {st:?}",
            q.name()
        );
    }
    assert_eq!(prom_q.stats().histograms_sent, 20);

    for base in [&vm, &prom] {
        let mut got = BTreeMap::new();
        for _ in 0..500 {
            got = matrix(&query(base, "interop_total[10m]", end).await);
            if got == want {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(got, want, "{base} returned different series or values");
    }

    // Prometheus also holds the native histograms, counts and sums intact.
    let r = query(&prom, "interop_seconds", end).await;
    assert_eq!(r.len(), 1, "{r:?}");
    let h = &r[0]["histogram"][1];
    assert_eq!(h["count"], "60", "{h}");
    assert_eq!(h["sum"], "28.5", "{h}");
    ws.stop().await;

    // Read it all back from Prometheus's /api/v1/read with promlite's client, as raw
    // samples and as streamed chunks (XOR and histogram chunks).
    let cfgs = common::remote_read(&format!(
        "remote_read:\n  - url: {prom}/api/v1/read\n    read_recent: true\n"
    ));
    for streamed in [false, true] {
        let remote = RemoteReadQueryable::new(&cfgs[0], tokio::runtime::Handle::current())
            .unwrap()
            .with_streamed_chunks(streamed);
        let (floats, hists) = tokio::task::spawn_blocking(move || {
            let q = remote.querier(end - 600_000, end).unwrap();
            let floats: BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> = q
                .select(true, None, &[Matcher::equal("__name__", "interop_total")])
                .map(|s| {
                    let s = s.unwrap();
                    let labels = s
                        .labels()
                        .iter()
                        .map(|l| (l.name.to_owned(), l.value.to_owned()))
                        .collect();
                    let values = collect_samples(&*s)
                        .into_iter()
                        .map(|x| match x.value {
                            SampleValue::Float(v) => (x.t, v),
                            other => panic!("unexpected {other:?}"),
                        })
                        .collect();
                    (labels, values)
                })
                .collect();
            let hists: Vec<(i64, u64, f64)> = q
                .select(true, None, &[Matcher::equal("__name__", "interop_seconds")])
                .flat_map(|s| collect_samples(&*s.unwrap()))
                .map(|x| match x.value {
                    SampleValue::Histogram(h) => (x.t, h.count, h.sum),
                    SampleValue::FloatHistogram(h) => (x.t, h.count as u64, h.sum),
                    SampleValue::Float(v) => panic!("unexpected float {v}"),
                })
                .collect();
            (floats, hists)
        })
        .await
        .unwrap();
        assert_eq!(floats, want, "remote read (streamed: {streamed})");
        let want_h: Vec<(i64, u64, f64)> = (0..20u64)
            .map(|i| {
                let h = histogram(i);
                (end - (19 - i as i64) * 15_000, h.count, h.sum)
            })
            .collect();
        if streamed || !hists.is_empty() {
            assert_eq!(
                hists, want_h,
                "remote read histograms (streamed: {streamed})"
            );
        } else {
            // Prometheus 2.42 leaves native histograms out of SAMPLES responses.
            eprintln!("note: Prometheus sent no histograms in a SAMPLES response");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_read_answers_from_promlite() {
    let Some(prom_bin) = peer(PROMETHEUS) else {
        return;
    };
    let (rx, url, _srv) = common::start().await;
    let end = (now_ms() - 60_000) / 1000 * 1000;
    let want = expected(end);
    {
        let mut a = rx.store.appender();
        for (labels, samples) in &want {
            let ls = Labels::from_pairs(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            for &(t, v) in samples {
                a.append(SeriesRef::NONE, &ls, t, v).unwrap();
            }
        }
        a.commit().unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (_prom, log) = prometheus(
        &prom_bin,
        dir.path(),
        port,
        &format!("remote_read:\n  - url: {url}/api/v1/read\n    read_recent: true\n"),
        &[],
    );
    let prom = format!("http://127.0.0.1:{port}");
    ready(&format!("{prom}/-/ready"), &log).await;
    let got = matrix(&query(&prom, "interop_total[10m]", end).await);
    assert_eq!(got, want);
    let sum = query(&prom, "sum(interop_total)", end).await;
    let v: f64 = sum[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert_eq!(v, want.values().map(|s| s[19].1).sum::<f64>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_writes_into_promlites_receiver() {
    // Prometheus as the client: it scrapes itself and remote-writes to promlite's
    // receiver; what arrives must be valid, ordered and accepted.
    let Some(prom_bin) = peer(PROMETHEUS) else {
        return;
    };
    let (rx, url, _srv) = common::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\nremote_write:\n  - url: {url}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n    metadata_config:\n      send_interval: 1s\n"
    );
    let (_prom, _log) = prometheus(&prom_bin, dir.path(), port, &config, &[]);
    eventually("up arrives through remote write", || {
        use promlite_storage::Queryable;
        let q = rx.store.querier(i64::MIN, i64::MAX).unwrap();
        q.select(
            false,
            None,
            &[promlite_model::Matcher::equal("__name__", "up")],
        )
        .next()
        .is_some()
    })
    .await;
    eventually("metadata arrives", || {
        rx.decoded.lock().iter().any(|r| !r.metadata.is_empty())
    })
    .await;
}
