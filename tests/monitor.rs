//! The facade end to end: storage on disk and in memory, configuration from text, files
//! and code, in-process registries, rules, queries, reload, and sync and async use.

use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime};

use promlite::client::{Counter, Gauge, Registry};
use promlite::promql::Value;
use promlite::storage::SeriesRef;
use promlite::{Error, Monitor};

fn vector(v: Value) -> Vec<promlite::promql::Sample> {
    match v {
        Value::Vector(v) => v,
        other => panic!("not a vector: {other:?}"),
    }
}

fn registry_with_gauge(value: f64) -> (Registry, Gauge<f64>) {
    let registry = Registry::new();
    let g: Gauge<f64> = Gauge::new();
    registry
        .register("queue_depth", "Items waiting.", g.clone())
        .expect("register");
    g.set(value);
    (registry, g)
}

#[test]
fn data_dir_keeps_history_across_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (registry, _g) = registry_with_gauge(42.0);
    let m = Monitor::builder()
        .data_dir(dir.path())
        .register("worker", &registry)
        .build()
        .expect("build");
    assert_eq!(m.data_dir().as_deref(), Some(dir.path()));
    m.collect_now();
    let now = vector(
        m.query("queue_depth", SystemTime::now())
            .expect("query")
            .value,
    );
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].f, 42.0);
    m.shutdown_blocking();

    // The WAL brings it back; shutdown marked the series stale, so an instant query
    // finds nothing and a range function still sees the sample.
    let m = Monitor::builder()
        .data_dir(dir.path())
        .build()
        .expect("reopen");
    assert!(
        vector(m.query("queue_depth", SystemTime::now()).unwrap().value).is_empty(),
        "stale after shutdown"
    );
    let last = vector(
        m.query("last_over_time(queue_depth[1h])", SystemTime::now())
            .unwrap()
            .value,
    );
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].f, 42.0);
    assert_eq!(last[0].metric.get("job"), Some("worker"));
    assert_eq!(last[0].metric.get("instance"), Some("local"));
    m.shutdown_blocking();
}

#[test]
fn in_process_targets_report_up_and_series() {
    let (registry, g) = registry_with_gauge(1.0);
    let m = Monitor::builder()
        .register("app", &registry)
        .build()
        .expect("build");
    let start = SystemTime::now();
    m.collect_now();
    std::thread::sleep(Duration::from_millis(20));
    g.set(2.0);
    m.collect_now();
    let t = &m.targets()[0];
    assert_eq!(
        (t.job.as_str(), t.url.as_str(), t.health),
        ("app", "in-process", "up")
    );
    let up = vector(m.query("up", SystemTime::now()).unwrap().value);
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].f, 1.0);
    let series = m
        .series(
            &["queue_depth", "up{job=\"app\"}"],
            start,
            SystemTime::now(),
        )
        .expect("series");
    let names: Vec<_> = series.iter().filter_map(|l| l.metric_name()).collect();
    assert_eq!(names, ["queue_depth", "up"]);
    let r = m
        .query_range(
            "queue_depth",
            start,
            SystemTime::now(),
            // 1 ms: the last step must not fall before the second sample.
            Duration::from_millis(1),
        )
        .expect("range");
    let Value::Matrix(series) = r.value else {
        panic!("not a matrix")
    };
    let values: Vec<f64> = series[0].floats.iter().map(|p| p.f).collect();
    assert!(values.contains(&1.0) && values.contains(&2.0), "{values:?}");
    let err = m
        .series(&["up{"], start, SystemTime::now())
        .expect_err("bad selector");
    assert!(matches!(err, Error::Selector { .. }), "{err}");
    m.shutdown_blocking();
}

#[test]
fn configuration_from_text_and_code_combine() {
    let yaml = "global:\n  scrape_interval: 1h\nscrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['127.0.0.1:1']}]\n";
    let m = Monitor::builder()
        .config_yaml(yaml)
        .scrape_targets("b", ["127.0.0.1:2"], Duration::from_hours(1))
        .build()
        .expect("build");
    let deadline = Instant::now() + Duration::from_secs(10);
    let jobs = loop {
        let mut jobs: Vec<String> = m.targets().into_iter().map(|t| t.job).collect();
        jobs.sort();
        if jobs.len() == 2 || Instant::now() > deadline {
            break jobs;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(jobs, ["a", "b"]);
    m.shutdown_blocking();

    let err = Monitor::builder()
        .config_yaml(yaml)
        .scrape_targets("a", ["127.0.0.1:2"], Duration::from_mins(1))
        .build()
        .expect_err("duplicate job");
    assert!(
        err.to_string().contains("found multiple scrape configs"),
        "{err}"
    );

    let err = Monitor::builder()
        .config_yaml("scrape_configs: [{job_name: x, scrape_interval: nope}]")
        .build()
        .expect_err("bad config");
    assert!(matches!(err, Error::Config { .. }), "{err}");
}

#[test]
fn rule_errors_carry_their_position() {
    let err = Monitor::builder()
        .rules_yaml(
            "alerts.yml",
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(\n",
        )
        .build()
        .expect_err("invalid rule");
    let text = err.to_string();
    assert!(text.contains("alerts.yml:5"), "{text}");
}

#[test]
fn rules_from_code_record_and_alert() {
    let (registry, _g) = registry_with_gauge(7.0);
    let fired = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&fired);
    let m = Monitor::builder()
        .register("app", &registry)
        .collect_interval(Duration::from_millis(100))
        .rules_yaml(
            "rules.yml",
            "groups:\n  - name: g\n    interval: 100ms\n    rules:\n      - record: job:queue_depth:max\n        expr: max by (job) (queue_depth)\n      - alert: DeepQueue\n        expr: queue_depth > 5\n",
        )
        .on_alert(move |alerts| {
            let mut seen = seen.lock().unwrap();
            seen.extend(alerts.iter().map(|a| a.labels.get("alertname").unwrap_or_default().to_owned()));
        })
        .build()
        .expect("build");
    let deadline = Instant::now() + Duration::from_secs(15);
    while fired.lock().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        fired.lock().unwrap().first().map(String::as_str),
        Some("DeepQueue")
    );
    assert_eq!(m.alerts()[0].labels.get("alertname"), Some("DeepQueue"));
    let recorded = vector(
        m.query("last_over_time(job:queue_depth:max[1m])", SystemTime::now())
            .unwrap()
            .value,
    );
    assert_eq!(recorded[0].f, 7.0);
    assert_eq!(m.rule_groups()[0].rules.len(), 2);
    m.shutdown_blocking();
}

/// How many batches of alerts a monitor with an always-firing rule, evaluated every
/// 100 ms, has sent when `done` says so, given the count and the time since the first
/// send (or after ten seconds).
fn alert_sends(
    alerting: promlite::AlertingOptions,
    done: impl Fn(usize, Duration) -> bool,
) -> usize {
    let (registry, _g) = registry_with_gauge(7.0);
    let sends = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&sends);
    let m = Monitor::builder()
        .register("app", &registry)
        .collect_interval(Duration::from_millis(100))
        .rules_yaml(
            "rules.yml",
            "groups:\n  - name: g\n    interval: 100ms\n    rules:\n      - alert: DeepQueue\n        expr: queue_depth > 5\n",
        )
        .alerting(alerting)
        .on_alert(move |_| {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .build()
        .expect("build");
    let n = || sends.load(std::sync::atomic::Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut first = None;
    while Instant::now() < deadline {
        if n() > 0 {
            let since = first.get_or_insert_with(Instant::now).elapsed();
            if done(n(), since) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    m.shutdown_blocking();
    n()
}

#[test]
fn alerting_options_set_how_often_a_firing_alert_is_resent() {
    // Resent at an evaluation once 100 ms have passed since the last send.
    let quick = promlite::AlertingOptions {
        resend_delay: Duration::from_millis(100),
        ..promlite::AlertingOptions::default()
    };
    assert!(alert_sends(quick, |n, _| n >= 3) >= 3);
    // Prometheus's default, one minute: one send in the first second and a half.
    let default = promlite::AlertingOptions::default();
    assert_eq!(
        alert_sends(default, |_, since| since >= Duration::from_millis(1500)),
        1
    );
}

/// The blocks in `dir` after a monitor with `blocks` has compacted it for a while:
/// four adjacent two-hour blocks to start with, compaction every 50 ms; it returns once
/// `done` holds for the count, or after ten seconds.
fn blocks_after_compaction(blocks: promlite::BlockOptions, done: impl Fn(usize) -> bool) -> usize {
    use promlite::storage::Appendable as _;
    const H2: i64 = 2 * 3600 * 1000;
    let dir = tempfile::tempdir().expect("temp dir");
    let series = promlite::model::Labels::from_pairs([("__name__", "x")]);
    for b in 0..4 {
        let head = promlite::tsdb::Head::new(&promlite::tsdb::HeadOptions {
            chunk_range: H2,
            ..promlite::tsdb::HeadOptions::default()
        });
        let mut app = head.appender();
        for t in (b * H2..(b + 1) * H2).step_by(60_000) {
            app.append(SeriesRef::NONE, &series, t, 1.0).unwrap();
        }
        app.commit().unwrap();
        head.write_block(dir.path(), b * H2, (b + 1) * H2).unwrap();
    }
    let count = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().join("meta.json").exists())
            .count()
    };
    assert_eq!(count(), 4);
    let m = Monitor::builder()
        .data_dir(dir.path())
        .block_options(blocks)
        .compaction_interval(Duration::from_millis(50))
        .build()
        .expect("build");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(count()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    m.shutdown_blocking();
    count()
}

#[test]
fn block_options_can_turn_compaction_off() {
    // By default the three blocks of the first six hours are merged.
    assert!(blocks_after_compaction(promlite::BlockOptions::default(), |n| n < 4) < 4);
    // With both durations at two hours, as Thanos's sidecar asks, nothing is merged in
    // forty compactions.
    let two_hours = Duration::from_hours(2);
    let thanos = promlite::BlockOptions {
        min_block_duration: two_hours,
        max_block_duration: Some(two_hours),
        ..promlite::BlockOptions::default()
    };
    let started = Instant::now();
    let n = blocks_after_compaction(thanos, |_| started.elapsed() > Duration::from_secs(2));
    assert_eq!(n, 4);
}

#[test]
fn reload_reads_the_file_again_and_keeps_it_when_invalid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("prometheus.yml");
    let job = |name: &str| {
        format!(
            "scrape_configs:\n  - job_name: {name}\n    scrape_interval: 1h\n    static_configs: [{{targets: ['127.0.0.1:1']}}]\n"
        )
    };
    std::fs::write(&path, job("first")).unwrap();
    let m = Monitor::builder()
        .config_file(&path)
        .build()
        .expect("build");
    let wait_for = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let jobs: Vec<String> = m.targets().into_iter().map(|t| t.job).collect();
            if jobs == [want] || Instant::now() > deadline {
                return jobs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(wait_for("first"), ["first"]);
    std::fs::write(&path, job("second")).unwrap();
    m.reload_blocking().expect("reload");
    assert_eq!(wait_for("second"), ["second"]);
    std::fs::write(&path, "scrape_configs: [{job_name: }").unwrap();
    let err = m.reload_blocking().expect_err("invalid file");
    assert!(err.to_string().contains("prometheus.yml"), "{err}");
    assert_eq!(wait_for("second"), ["second"]);
    m.shutdown_blocking();
}

#[test]
fn memory_retention_drops_old_samples() {
    let m = Monitor::builder()
        .in_memory()
        .retention(Duration::from_mins(1))
        .compaction_interval(Duration::from_millis(50))
        .build()
        .expect("build");
    let now = promlite::model::value::now_ms();
    let labels = promlite::model::Labels::from_pairs([("__name__", "old_and_new")]);
    let store = m.appendable();
    let mut app = store.appender();
    app.append(SeriesRef::NONE, &labels, now - 3 * 3600 * 1000, 1.0)
        .unwrap();
    app.append(SeriesRef::NONE, &labels, now, 2.0).unwrap();
    app.commit().unwrap();
    let count = || {
        vector(
            m.query("count_over_time(old_and_new[4h])", SystemTime::now())
                .unwrap()
                .value,
        )[0]
        .f
    };
    assert_eq!(count(), 2.0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while count() != 1.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(count(), 1.0, "the 3h-old sample outlived a 60s retention");
    m.shutdown_blocking();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_programs_start_on_their_own_runtime() {
    // build() works here too (its runtime is its own), and dropping it is allowed.
    drop(Monitor::builder().build().expect("build inside a runtime"));
    let (registry, _g) = registry_with_gauge(3.0);
    let m = Monitor::builder()
        .register("app", &registry)
        .start()
        .await
        .expect("start");
    m.collect_now();
    let r = m.query("queue_depth", SystemTime::now()).expect("query");
    assert_eq!(vector(r.value)[0].f, 3.0);
    m.reload().await.expect("nothing to reload is fine");
    m.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_sync_monitor_shuts_down_from_async_code() {
    let m = tokio::task::spawn_blocking(|| Monitor::builder().build())
        .await
        .expect("join")
        .expect("build");
    let r = m.query("vector(1)", SystemTime::now()).expect("query");
    assert_eq!(vector(r.value).len(), 1);
    m.shutdown().await;
}

#[cfg(feature = "web")]
#[test]
fn serving_on_port_zero_reports_its_address() {
    let m = Monitor::builder()
        .serve("127.0.0.1:0")
        .build()
        .expect("build");
    let addr = m.local_addr().expect("serving");
    assert_ne!(addr.port(), 0);
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(s, "GET /-/ready HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"),
        "{reply}"
    );
    // Without a configuration the server scrapes itself at the address it got.
    let target = m.targets();
    assert!(target.is_empty() || target[0].url.contains(&addr.port().to_string()));
    m.shutdown_blocking();
}

/// A GET over HTTP/1.0 (the server closes the connection after the answer).
#[cfg(feature = "web")]
fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply
}

/// The API lists the program's registries as targets beside the scraped ones, with
/// their health and the metadata their collections reported.
#[cfg(feature = "web")]
#[test]
fn in_process_targets_are_listed_by_the_api() {
    let (registry, _g) = registry_with_gauge(1.0);
    let m = Monitor::builder()
        .register("app", &registry)
        .serve("127.0.0.1:0")
        .build()
        .expect("build");
    m.collect_now();
    let addr = m.local_addr().expect("serving");
    let reply = http_get(addr, "/api/v1/targets?state=active");
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(body).expect(&reply);
    let targets = json["data"]["activeTargets"].as_array().expect("targets");
    let app = targets
        .iter()
        .find(|t| t["labels"]["job"] == "app")
        .unwrap_or_else(|| panic!("no app target in {body}"));
    assert_eq!(app["labels"]["instance"], "local", "{app}");
    assert_eq!(app["scrapeUrl"], "in-process", "{app}");
    assert_eq!(app["health"], "up", "{app}");
    assert_eq!(app["scrapePool"], "app", "{app}");
    let reply = http_get(
        addr,
        "/api/v1/targets/metadata?match_target=%7Bjob%3D%22app%22%7D&metric=queue_depth",
    );
    assert!(
        reply.contains(r#""type":"gauge""#) && reply.contains("Items waiting."),
        "{reply}"
    );
    m.shutdown_blocking();
}

#[test]
fn counters_from_a_registry_round_trip_with_their_type() {
    let registry = Registry::new();
    let c: Counter = Counter::new();
    registry.register("handled", "Handled.", c.clone()).unwrap();
    c.inc_by(5);
    let m = Monitor::builder()
        .register("app", &registry)
        .build()
        .unwrap();
    m.collect_now();
    let v = vector(m.query("handled_total", SystemTime::now()).unwrap().value);
    assert_eq!(v[0].f, 5.0);
    m.shutdown_blocking();
}

#[test]
fn a_reload_changes_external_labels_and_alert_relabeling() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("prometheus.yml");
    // Each configuration brings its own rule file, so the alert after the reload is a new
    // one, sent at once (a firing alert that stays is re-sent only after the resend
    // delay, as in Prometheus).
    let config = |cluster: &str| {
        let rules = dir.path().join(format!("{cluster}.yml"));
        std::fs::write(
            &rules,
            format!("groups:\n  - name: {cluster}\n    interval: 50ms\n    rules:\n      - alert: Deep_{cluster}\n        expr: queue_depth > 5\n"),
        )
        .unwrap();
        format!(
            "global:\n  external_labels: {{cluster: {cluster}}}\nrule_files: ['{}']\nalerting:\n  alert_relabel_configs:\n    - {{target_label: via, replacement: relabel-{cluster}}}\n",
            rules.display()
        )
    };
    std::fs::write(&path, config("eu")).unwrap();
    let (registry, _g) = registry_with_gauge(9.0);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<promlite::model::Labels>::new()));
    let sink = std::sync::Arc::clone(&seen);
    let m = Monitor::builder()
        .config_file(&path)
        .register("app", &registry)
        .collect_interval(Duration::from_millis(50))
        .on_alert(move |alerts| {
            sink.lock()
                .unwrap()
                .extend(alerts.iter().map(|a| a.labels.clone()));
        })
        .build()
        .expect("build");
    let wait_for = |alertname: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = seen
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.get("alertname") == Some(alertname))
                .cloned();
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let eu = wait_for("Deep_eu").expect("the first alert");
    assert_eq!(eu.get("cluster"), Some("eu"));
    assert_eq!(eu.get("via"), Some("relabel-eu"));
    std::fs::write(&path, config("us")).unwrap();
    m.reload_blocking().expect("reload");
    let us = wait_for("Deep_us").expect("the alert after the reload");
    assert_eq!(us.get("cluster"), Some("us"));
    assert_eq!(us.get("via"), Some("relabel-us"));
    m.shutdown_blocking();
}
