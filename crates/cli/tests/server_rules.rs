//! The server with rule files: recording rules write series, an alerting rule fires with
//! its templated annotation, `/api/v1/rules`, `/api/v1/alerts` and
//! `/api/v1/alertmanagers` show it, and Debian's Alertmanager (required under
//! `PROMLITE_PEERS=1`) receives it, as `amtool alert query` shows.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{free_port, http, spawn, wait_for};
use serde_json::Value;

fn api(port: u16, path: &str) -> Value {
    let (code, body) = http(port, path).expect("server answers");
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn rules_evaluate_and_alerts_reach_alertmanager() {
    let am_bin = common::peer("prometheus-alertmanager");
    let amtool = common::peer("amtool");
    let dir = tempfile::tempdir().unwrap();
    let _alertmanager;
    let am_port = free_port();
    if let Some(bin) = &am_bin {
        let cfg = dir.path().join("alertmanager.yml");
        std::fs::write(
            &cfg,
            "route:\n  receiver: blackhole\n  group_wait: 0s\nreceivers:\n  - name: blackhole\n",
        )
        .unwrap();
        _alertmanager = spawn(
            bin,
            &[
                format!("--config.file={}", cfg.display()),
                format!("--storage.path={}", dir.path().join("am").display()),
                format!("--web.listen-address=127.0.0.1:{am_port}"),
                "--cluster.listen-address=".to_string(),
            ],
        );
        wait_for(Duration::from_mins(1), || {
            http(am_port, "/-/ready").is_some_and(|(c, _)| c == 200)
        });
    }

    let port = free_port();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: self\n    interval: 1s\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n      - alert: SelfScraped\n        expr: job:up:sum == 1\n        labels:\n          severity: info\n        annotations:\n          summary: '{{ $labels.job }} is up ({{ $value }})'\n",
    )
    .unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  external_labels:\n    site: test\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}', '127.0.0.1:1']\n      relabel_configs:\n        - source_labels: [__address__]\n          regex: '127.0.0.1:1'\n          action: drop\n        - source_labels: [__address__]\n          regex: '127.0.0.1:(.*)'\n          target_label: __address__\n          replacement: 'localhost:$1'\nscrape_configs:\n  - job_name: promlite\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: '([^:]+):.*'\n        target_label: host\n"
        ),
    )
    .unwrap();
    let _server = spawn(
        Path::new(env!("CARGO_BIN_EXE_promlite")),
        &[
            format!("--config.file={}", config.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        ],
    );
    wait_for(Duration::from_mins(1), || {
        http(port, "/-/ready").is_some_and(|(c, _)| c == 200)
    });

    // The recording rule's series appears, then the alert fires (no `for`).
    let firing = || {
        let v = api(port, "/api/v1/alerts");
        v["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["state"] == "firing")
    };
    wait_for(Duration::from_mins(1), firing);
    let v = api(port, "/api/v1/query?query=job%3Aup%3Asum");
    assert_eq!(v["data"]["result"][0]["metric"]["job"], "promlite", "{v}");
    let v = api(port, "/api/v1/alerts");
    let alert = &v["data"]["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "SelfScraped", "{v}");
    assert_eq!(alert["labels"]["severity"], "info");
    assert_eq!(alert["annotations"]["summary"], "promlite is up (1)", "{v}");
    assert_eq!(alert["value"], "1e+00");

    let v = api(port, "/api/v1/rules");
    let group = &v["data"]["groups"][0];
    assert_eq!(group["name"], "self", "{v}");
    assert_eq!(group["interval"], 1);
    assert!(group["file"].as_str().unwrap().ends_with("rules.yml"));
    let rules = group["rules"].as_array().unwrap();
    assert_eq!(rules[0]["type"], "recording");
    assert_eq!(rules[0]["health"], "ok", "{v}");
    assert_eq!(rules[1]["type"], "alerting");
    assert_eq!(rules[1]["state"], "firing");
    let v = api(port, "/api/v1/query?query=ALERTS");
    assert_eq!(
        v["data"]["result"][0]["metric"]["alertstate"], "firing",
        "{v}"
    );
    let v = api(port, "/api/v1/alertmanagers");
    assert_eq!(
        v["data"]["activeAlertmanagers"].as_array().unwrap().len(),
        1,
        "{v}"
    );
    assert_eq!(
        v["data"]["activeAlertmanagers"][0]["url"],
        format!("http://localhost:{am_port}/api/v2/alerts"),
        "discovered, relabeled (address rewritten, the second target dropped): {v}"
    );
    assert_eq!(
        v["data"]["droppedAlertmanagers"][0]["url"], "http://127.0.0.1:1/api/v2/alerts",
        "the dropped one is listed with its discovered address: {v}"
    );

    // The job's relabel trace, rule by rule, in Prometheus's JSON.
    let labels = common::enc(&format!(
        r#"{{"__address__":"127.0.0.1:{port}","job":"promlite"}}"#
    ));
    let v = api(
        port,
        &format!("/api/v1/targets/relabel_steps?scrapePool=promlite&labels={labels}"),
    );
    assert_eq!(
        v["data"].to_string(),
        format!(
            r#"{{"steps":[{{"keep":true,"output":{{"__address__":"127.0.0.1:{port}","host":"127.0.0.1","job":"promlite"}},"rule":{{"action":"replace","regex":"([^:]+):.*","replacement":"$1","separator":";","sourceLabels":["__address__"],"targetLabel":"host"}}}}]}}"#
        )
    );

    // The Alertmanager has it, with the external label and the expanded annotation.
    if let (Some(_), Some(amtool)) = (&am_bin, &amtool) {
        let url = format!("--alertmanager.url=http://127.0.0.1:{am_port}");
        let mut seen = String::new();
        wait_for(Duration::from_mins(1), || {
            let out = Command::new(amtool)
                .args(["alert", "query", "-o", "json", &url])
                .output()
                .unwrap();
            seen = String::from_utf8_lossy(&out.stdout).into_owned();
            seen.contains("SelfScraped")
        });
        let alerts: Value = serde_json::from_str(&seen).unwrap();
        let a = &alerts[0];
        assert_eq!(a["labels"]["site"], "test", "{seen}");
        assert_eq!(a["annotations"]["summary"], "promlite is up (1)", "{seen}");
        assert!(
            a["generatorURL"]
                .as_str()
                .unwrap()
                .starts_with(&format!("http://127.0.0.1:{port}/graph?g0.expr=")),
            "{seen}"
        );
    }
}

/// bcrypt (cost 10) of `s3cret`.
const HASH: &str = "$2b$10$hDyzu5baeMCzg9TSvdwtm.5pubclFZAPBSBTfUshPvZzcDJkNIcY.";

/// An Alertmanager behind TLS (a private CA) and basic auth, as Debian's Alertmanager
/// serves with `--web.config.file`: the `alertmanagers` entry's `scheme`, `tls_config`
/// and `basic_auth` get the alert there. curl (from Debian) asks the Alertmanager.
#[test]
fn alerts_reach_an_alertmanager_behind_tls_and_basic_auth() {
    let (Some(am_bin), Some(curl)) = (
        common::peer("prometheus-alertmanager"),
        common::peer("curl"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = common::tls_files(dir.path());
    let web = dir.path().join("am-web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {d}/server.crt\n  key_file: {d}/server.key\nbasic_auth_users:\n  alice: {HASH}\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let am_cfg = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_cfg,
        "route:\n  receiver: blackhole\n  group_wait: 0s\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let am_port = free_port();
    let _alertmanager = spawn(
        &am_bin,
        &[
            format!("--config.file={}", am_cfg.display()),
            format!("--web.config.file={}", web.display()),
            format!("--storage.path={}", dir.path().join("am").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".to_string(),
        ],
    );
    let ask = |path: &str| common::curl_https(&curl, &ca, Some("alice:s3cret"), am_port, path);
    wait_for(Duration::from_mins(1), || ask("/-/ready").is_some());

    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: BehindAuth\n        expr: vector(1)\n",
    )
    .unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1h\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - scheme: https\n      basic_auth: {{username: alice, password: s3cret}}\n      tls_config: {{ca_file: {ca}}}\n      static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n",
            ca = ca.display()
        ),
    )
    .unwrap();
    let (_server, port) = common::start_promlite(&config, &dir.path().join("data"), &[]);
    wait_for(Duration::from_mins(1), || {
        ask("/api/v2/alerts").is_some_and(|body| body.contains("BehindAuth"))
    });
    let v = api(port, "/api/v1/alertmanagers");
    assert_eq!(
        v["data"]["activeAlertmanagers"][0]["url"],
        format!("https://127.0.0.1:{am_port}/api/v2/alerts"),
        "{v}"
    );
}
