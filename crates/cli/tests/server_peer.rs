//! The server side by side with real Prometheus (Debian's `prometheus`, when installed;
//! required under `PROMLITE_PEERS=1`): Prometheus scrapes promlite's `/metrics`, and both
//! answer the same data-independent API requests with the same status and bytes.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{enc, free_port, http, spawn, wait_for};

#[test]
fn prometheus_scrapes_promlite_and_answers_alike() {
    let Some(prometheus) = common::peer("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (free_port(), free_port());
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: promlite\n    static_configs:\n      - targets: ['127.0.0.1:{ours}']\n"
        ),
    )
    .unwrap();
    let _promlite = spawn(
        Path::new(env!("CARGO_BIN_EXE_promlite")),
        &[
            format!("--config.file={}", config.display()),
            format!("--web.listen-address=127.0.0.1:{ours}"),
            format!("--storage.tsdb.path={}", dir.path().join("ours").display()),
        ],
    );
    let _prometheus = spawn(
        &prometheus,
        &[
            format!("--config.file={}", config.display()),
            format!("--web.listen-address=127.0.0.1:{theirs}"),
            format!(
                "--storage.tsdb.path={}",
                dir.path().join("theirs").display()
            ),
        ],
    );
    for port in [ours, theirs] {
        wait_for(Duration::from_mins(1), || {
            http(port, "/-/ready").is_some_and(|(c, _)| c == 200)
        });
    }

    // Prometheus parses promlite's /metrics: its `up` for promlite turns 1.
    let up = format!("/api/v1/query?query={}", enc(r#"up{job="promlite"} == 1"#));
    wait_for(Duration::from_mins(1), || {
        http(theirs, &up).is_some_and(|(_, b)| b.contains(r#""value""#))
    });
    let (_, body) = http(
        theirs,
        &format!("/api/v1/query?query={}", enc("promlite_build_info")),
    )
    .unwrap();
    assert!(body.contains(r#""version":"#), "{body}");

    // Data-independent requests: same status, same bytes. Left out where Prometheus 3
    // (which promlite follows) differs from Debian's 2.42: vector values below 1e-6 or
    // from 1e21 (3.x writes 'e' forms) and "invalid time value" (2.42 capitalises it).
    let requests = [
        "/api/v1/query?query=1&time=1.5".to_string(),
        "/api/v1/query?query=1e-7&time=1.5".to_string(),
        format!("/api/v1/query?query={}&time=1.5", enc("vector(1e6)")),
        "/api/v1/query?query=0.1%2B0.2&time=100".to_string(),
        "/api/v1/query?query=1%2F0&time=100".to_string(),
        "/api/v1/query?query=-1%2F0&time=100".to_string(),
        "/api/v1/query?query=0%2F0&time=100".to_string(),
        "/api/v1/query?query=123456789.125&time=1435781451.781".to_string(),
        format!("/api/v1/query?query={}&time=100", enc(r#""a<b>""#)),
        format!("/api/v1/query?query={}&time=100", enc("vector(1)")),
        format!(
            "/api/v1/query?query={}&time=2015-07-01T20:10:51.781Z",
            enc("time()")
        ),
        format!(
            "/api/v1/query_range?query={}&start=0&end=60&step=15s",
            enc("vector(time())")
        ),
        format!(
            "/api/v1/query_range?query={}&start=0&end=60&step=7.5",
            enc(r#"label_replace(vector(2), "a", "<&>", "", "")"#)
        ),
        "/api/v1/query_range?query=1&start=0&end=11001&step=1".to_string(),
        "/api/v1/query_range?query=1&start=0&end=10&step=0".to_string(),
        "/api/v1/query_range?query=1&start=10&end=0&step=1".to_string(),
        "/api/v1/query_range?query=1&start=x&end=0&step=1".to_string(),
        "/api/v1/query?query=up%7B".to_string(),
        "/api/v1/series".to_string(),
        format!("/api/v1/series?match[]={}", enc(r#"{a=""}"#)),
        format!(
            "/api/v1/format_query?query={}",
            enc("sum by(job)(rate(x[5m]))")
        ),
        "/api/v1/label/nonexistent/values".to_string(),
    ];
    let mut diffs = Vec::new();
    for r in &requests {
        let a = http(ours, r).unwrap();
        let b = http(theirs, r).unwrap();
        if a != b {
            diffs.push(format!("{r}\n  promlite:   {a:?}\n  prometheus: {b:?}"));
        }
    }
    assert!(diffs.is_empty(), "answers differ:\n{}", diffs.join("\n"));

    // The targets page: the same fields, and the same values where they do not depend
    // on timing or on the host name (`globalUrl`).
    let target = |port| {
        let (_, body) = http(port, "/api/v1/targets").unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"]["activeTargets"][0].clone()
    };
    let mut a = target(ours);
    wait_for(Duration::from_secs(30), || {
        a = target(ours);
        a["health"] == "up"
    });
    let b = target(theirs);
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&a), keys(&b), "{a}\n{b}");
    for field in [
        "discoveredLabels",
        "labels",
        "scrapePool",
        "scrapeUrl",
        "lastError",
        "health",
        "scrapeInterval",
        "scrapeTimeout",
    ] {
        assert_eq!(a[field], b[field], "{field}");
    }
}
