//! The same data in promlite and in real Prometheus 2.42 (Debian's, required under
//! `PROMLITE_PEERS=1`): one OpenMetrics file is backfilled into each by its own tool
//! (`promlite tsdb create-blocks-from openmetrics`, `promtool tsdb create-blocks-from
//! openmetrics`), both servers start on their blocks, and 50 queries (plus a few range
//! queries and metadata requests) must get byte-identical answers over HTTP.
//!
//! The data and times avoid the places where Prometheus 3 (which promlite follows)
//! deliberately differs from 2.42: no query time falls on a sample's timestamp (3.x
//! selects left-open ranges), values are integers or quarters (3.x sums with Kahan
//! compensation, so inexact sums could differ in the last digit), and histogram bucket
//! bounds are written in the form 3.x normalises them to.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{enc, free_port, http, spawn, wait_for};

/// The first sample's time (seconds), samples every 15 s for three hours.
const T0: i64 = 1_700_000_000;
const STEP: i64 = 15;
const SAMPLES: i64 = 720;

/// The OpenMetrics file: counters (one with a reset), gauges, a classic histogram and a
/// series that stops halfway.
fn data() -> String {
    let mut om = String::new();
    let times = || (0..SAMPLES).map(|i| (i, T0 + i * STEP));
    om.push_str("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n");
    for (i, t) in times() {
        for (k, (inst, method, code)) in [
            ("a:1", "get", "200"),
            ("a:1", "get", "500"),
            ("a:1", "post", "200"),
            ("a:1", "post", "500"),
            ("b:1", "get", "200"),
            ("b:1", "get", "500"),
            ("b:1", "post", "200"),
            ("b:1", "post", "500"),
        ]
        .into_iter()
        .enumerate()
        {
            let k = k as i64;
            // Grows by (k+1)·(1..7) per step; series 3 restarts from zero at step 300.
            let from = if k == 3 && i >= 300 { 300 } else { 0 };
            let v: i64 = (from..=i).map(|j| (k + 1) * (j % 7 + 1)).sum();
            writeln!(
                om,
                "http_requests_total{{job=\"api\",instance=\"{inst}\",method=\"{method}\",code=\"{code}\"}} {v} {t}"
            )
            .unwrap();
        }
    }
    om.push_str("# TYPE memory_bytes gauge\n");
    for (i, t) in times() {
        for (k, inst) in ["a:1", "b:1"].into_iter().enumerate() {
            let v = 1000 + (i * 37 + k as i64 * 101) % 500;
            writeln!(om, "memory_bytes{{instance=\"{inst}\"}} {v} {t}").unwrap();
        }
    }
    om.push_str("# TYPE temperature gauge\n");
    for (i, t) in times() {
        for (k, room) in ["hall", "lab", "roof"].into_iter().enumerate() {
            let v = ((i * 13 + k as i64 * 7) % 40) as f64 * 0.25;
            writeln!(om, "temperature{{room=\"{room}\"}} {v} {t}").unwrap();
        }
    }
    om.push_str("# TYPE rpc_duration_seconds histogram\n");
    let bounds = ["0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "+Inf"];
    for (i, t) in times() {
        for (k, service) in ["x", "y"].into_iter().enumerate() {
            let mut cumulative = 0;
            for (b, le) in bounds.iter().enumerate() {
                cumulative += (i + 1) * ((b as i64 + k as i64 * 3) % 5 + 1);
                writeln!(
                    om,
                    "rpc_duration_seconds_bucket{{service=\"{service}\",le=\"{le}\"}} {cumulative} {t}"
                )
                .unwrap();
            }
            let sum = cumulative as f64 * 0.25;
            writeln!(
                om,
                "rpc_duration_seconds_sum{{service=\"{service}\"}} {sum} {t}"
            )
            .unwrap();
            writeln!(
                om,
                "rpc_duration_seconds_count{{service=\"{service}\"}} {cumulative} {t}"
            )
            .unwrap();
        }
    }
    om.push_str("# TYPE batch_last_success gauge\n");
    for (i, t) in times().take(SAMPLES as usize / 2) {
        writeln!(om, "batch_last_success{{job=\"batch\"}} {} {t}", t - i % 4).unwrap();
    }
    om.push_str("# EOF\n");
    om
}

fn queries() -> Vec<String> {
    let at = T0 + 1807;
    let mut q: Vec<String> = [
        "http_requests_total",
        "rate(http_requests_total[5m])",
        "increase(http_requests_total[10m])",
        "sum by (code) (rate(http_requests_total[5m]))",
        "sum without (instance) (rate(http_requests_total[5m]))",
        "topk(3, rate(http_requests_total[5m]))",
        "bottomk(2, memory_bytes)",
        "irate(http_requests_total[1m])",
        "resets(http_requests_total[3h])",
        "changes(temperature[30m])",
        "delta(temperature[10m])",
        "idelta(temperature[5m])",
        "deriv(memory_bytes[15m])",
        "predict_linear(memory_bytes[30m], 3600)",
        "avg_over_time(temperature[10m])",
        "min_over_time(memory_bytes[1h])",
        "max_over_time(memory_bytes[1h])",
        "sum_over_time(temperature[5m])",
        "count_over_time(http_requests_total[5m])",
        "quantile_over_time(0.9, temperature[30m])",
        "last_over_time(batch_last_success[2h])",
        "histogram_quantile(0.9, sum by (le) (rate(rpc_duration_seconds_bucket[5m])))",
        "histogram_quantile(0.5, rate(rpc_duration_seconds_bucket[10m]))",
        "rate(rpc_duration_seconds_sum[5m]) / rate(rpc_duration_seconds_count[5m])",
        r#"sum(rate(http_requests_total{code="500"}[5m])) / sum(rate(http_requests_total[5m]))"#,
        "rate(http_requests_total[5m]) / on(instance) group_left memory_bytes",
        "memory_bytes > 1200",
        "memory_bytes > bool 1200",
        r#"http_requests_total and on(method) http_requests_total{method="get"}"#,
        r#"http_requests_total unless http_requests_total{code="500"}"#,
        "temperature or memory_bytes",
        r#"count_values("value", temperature)"#,
        "count by (method) (http_requests_total)",
        "avg by (instance) (memory_bytes)",
        "quantile(0.75, temperature)",
        "max(temperature) - min(temperature)",
        "sort_desc(sum by (instance) (http_requests_total))",
        r#"label_replace(memory_bytes, "host", "$1", "instance", "([^:]+):.*")"#,
        r#"label_join(temperature, "both", "-", "room", "__name__")"#,
        "absent(nonexistent_metric)",
        "absent_over_time(batch_last_success[10m])",
        "memory_bytes offset 1h",
        "max_over_time(rate(http_requests_total[5m])[30m:1m])",
        "timestamp(batch_last_success)",
        "clamp(temperature, 2, 8)",
        "round(rate(http_requests_total[5m]) * 100)",
        "vector(scalar(sum(memory_bytes)))",
        "group by (job) (http_requests_total)",
        r#"sum by (service) (rpc_duration_seconds_bucket{le="+Inf"}) - sum by (service) (rpc_duration_seconds_count)"#,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    q.push(format!("memory_bytes @ {at}"));
    q
}

/// Equal JSON, except that sample values (strings that parse as floats) may differ by a
/// relative 1e-12.
fn same_but_last_digits(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_but_last_digits(p, q))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| same_but_last_digits(p, q)))
        }
        (V::String(x), V::String(y)) if x != y => match (x.parse::<f64>(), y.parse::<f64>()) {
            (Ok(p), Ok(q)) => (p - q).abs() <= 1e-12 * p.abs().max(q.abs()),
            _ => false,
        },
        _ => a == b,
    }
}

fn promlite() -> Command {
    Command::new(env!("CARGO_BIN_EXE_promlite"))
}

fn backfill(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn serve(bin: &Path, config: &Path, data: &Path, port: u16) -> common::Proc {
    spawn(
        bin,
        &[
            format!("--config.file={}", config.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--storage.tsdb.path={}", data.display()),
            "--storage.tsdb.retention.time=36500d".to_string(),
        ],
    )
}

#[test]
fn backfilled_data_answers_fifty_queries_like_prometheus() {
    let (Some(promtool), Some(prometheus)) = (common::peer("promtool"), common::peer("prometheus"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.om");
    std::fs::write(&input, data()).unwrap();
    let (ours_dir, theirs_dir) = (dir.path().join("ours"), dir.path().join("theirs"));
    backfill(
        promlite()
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&ours_dir),
    );
    backfill(
        Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&theirs_dir),
    );
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
    let (ours, theirs) = (free_port(), free_port());
    let _promlite = serve(
        Path::new(env!("CARGO_BIN_EXE_promlite")),
        &config,
        &ours_dir,
        ours,
    );
    let _prometheus = serve(&prometheus, &config, &theirs_dir, theirs);
    for port in [ours, theirs] {
        wait_for(Duration::from_mins(1), || {
            http(port, "/-/ready").is_some_and(|(c, _)| c == 200)
        });
    }

    // Instant queries 2h30m into the data, 7 s after a sample; range queries over an
    // hour, steps off the sample grid too.
    let time = T0 + 9007;
    let mut requests: Vec<String> = queries()
        .iter()
        .map(|q| format!("/api/v1/query?query={}&time={time}", enc(q)))
        .collect();
    assert_eq!(requests.len(), 50);
    for q in [
        "rate(http_requests_total[5m])",
        "sum by (code) (increase(http_requests_total[10m]))",
        "histogram_quantile(0.9, sum by (le) (rate(rpc_duration_seconds_bucket[5m])))",
        "temperature",
        "batch_last_success",
    ] {
        requests.push(format!(
            "/api/v1/query_range?query={}&start={}&end={}&step=60",
            enc(q),
            T0 + 3607,
            T0 + 7207
        ));
    }
    requests.push(format!(
        "/api/v1/series?match[]={}&start={T0}&end={}",
        enc("http_requests_total"),
        T0 + SAMPLES * STEP
    ));
    requests.push(format!(
        "/api/v1/labels?start={T0}&end={}",
        T0 + SAMPLES * STEP
    ));
    requests.push(format!(
        "/api/v1/label/instance/values?start={T0}&end={}",
        T0 + SAMPLES * STEP
    ));

    let mut diffs = Vec::new();
    let mut last_digit = Vec::new();
    let mut empty = 0;
    for r in &requests {
        let a = http(ours, r).unwrap();
        let b = http(theirs, r).unwrap();
        assert_eq!(b.0, 200, "Prometheus rejected {r}: {}", b.1);
        if b.1.contains(r#""result":[]"#) {
            empty += 1;
        }
        if a == b {
            continue;
        }
        let (mut va, mut vb): (serde_json::Value, serde_json::Value) = (
            serde_json::from_str(&a.1).unwrap(),
            serde_json::from_str(&b.1).unwrap(),
        );
        // Without sort(), the order of a vector's samples is unspecified (2.42 builds
        // histogram_quantile's output from a Go map, in random order).
        if !r.contains("sort") {
            for v in [&mut va, &mut vb] {
                if let Some(list) = v["data"]["result"].as_array_mut() {
                    list.sort_by_key(|x| x["metric"].to_string());
                }
            }
        }
        if a.0 == b.0 && same_but_last_digits(&va, &vb) {
            last_digit.push(r.clone());
        } else {
            diffs.push(format!("{r}\n  promlite:   {a:?}\n  prometheus: {b:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {} answers differ:\n{}",
        diffs.len(),
        requests.len(),
        diffs.join("\n")
    );
    // Sums of inexact values (rates) differ in the last digits: Prometheus 3, like
    // promlite, sums and averages with Kahan compensation; 2.42 added naively. And an
    // unsorted vector may list its samples in another order.
    eprintln!(
        "{} of {} answers byte-identical; {} equal up to summation rounding or order: {last_digit:?}",
        requests.len() - last_digit.len(),
        requests.len(),
        last_digit.len()
    );
    assert!(last_digit.len() <= 6, "{last_digit:?}");
    // The queries are about data, not about nothing: only `absent` is empty on purpose
    // (absent_over_time finds the batch series missing, so it returns a sample).
    assert!(empty <= 1, "{empty} empty results");

    // `stats=1`: the same samples read. No window starts on a sample here, so 2.42's
    // windows (which include their start) hold what promlite's hold. `peakSamples` is
    // each engine's own bookkeeping of samples held (its `--query.max-samples`
    // accounting), which counts a few samples differently (reported, not compared).
    let mut stats_diffs = Vec::new();
    let mut peaks = Vec::new();
    for r in requests.iter().filter(|r| r.starts_with("/api/v1/query")) {
        let r = format!("{r}&stats=1");
        let [a, b] = [ours, theirs].map(|port| {
            let (code, body) = http(port, &r).unwrap();
            assert_eq!(code, 200, "{r}: {body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            v["data"]["stats"].clone()
        });
        let keys = |v: &serde_json::Value| {
            v["timings"]
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
        };
        assert_eq!(keys(&a), keys(&b), "{r}");
        let total = |v: &serde_json::Value| v["samples"]["totalQueryableSamples"].as_i64();
        if total(&a).is_none() || total(&a) != total(&b) {
            stats_diffs.push(format!(
                "{r}\n  promlite:   {}\n  prometheus: {}",
                a["samples"], b["samples"]
            ));
        }
        let peak = |v: &serde_json::Value| v["samples"]["peakSamples"].as_i64().unwrap_or(-1);
        peaks.push((peak(&a), peak(&b)));
    }
    eprintln!("peakSamples (promlite, Prometheus): {peaks:?}");
    assert!(
        stats_diffs.is_empty(),
        "{} statistics differ:\n{}",
        stats_diffs.len(),
        stats_diffs.join("\n")
    );
}
