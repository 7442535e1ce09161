//! Loading, error positions and reloads.

use std::path::Path;

use promlite_config::{Config, Reloader};

fn err(yaml: &str) -> String {
    Config::from_yaml(yaml, Path::new("p.yml"))
        .unwrap_err()
        .to_string()
}

#[test]
fn defaults_are_prometheus_defaults() {
    let c = Config::from_yaml("", Path::new("/etc/p.yml")).unwrap();
    assert_eq!(c.global.scrape_interval.to_string(), "1m");
    assert_eq!(c.global.scrape_timeout.to_string(), "10s");
    assert_eq!(c.global.evaluation_interval.to_string(), "1m");

    let c = Config::from_yaml(
        "global: {scrape_interval: 5s, sample_limit: 10, external_labels: {dc: eu}}
rule_files: [rules/*.yml]
scrape_configs:
  - job_name: a
    bearer_token_file: token
    file_sd_configs: [{files: [sd/*.json]}]
  - job_name: b
    scrape_interval: 1m
    sample_limit: 20
",
        Path::new("/etc/prom/p.yml"),
    )
    .unwrap();
    let [a, b] = &c.scrape_configs[..] else {
        panic!()
    };
    assert_eq!(
        (a.interval().to_string(), a.timeout().to_string()),
        ("5s".into(), "5s".into())
    );
    assert_eq!(
        (b.interval().to_string(), b.timeout().to_string()),
        ("1m".into(), "5s".into())
    );
    // As in Prometheus: the global timeout became min(10s, 5s) and jobs inherit it.
    assert_eq!((a.sample_limit, b.sample_limit), (10, 20));
    assert_eq!(c.rule_files, ["/etc/prom/rules/*.yml"]);
    assert_eq!(
        a.http_client_config
            .authorization
            .as_ref()
            .unwrap()
            .credentials_file
            .as_deref(),
        Some("/etc/prom/token")
    );
    assert_eq!(
        a.service_discovery_configs.file_sd_configs[0].files,
        ["/etc/prom/sd/*.json"]
    );
    assert_eq!(c.global.external_labels.get("dc"), Some("eu"));
    assert_eq!(c.discovery_configs().len(), 2);
}

#[test]
fn native_histograms_ask_for_protobuf_first() {
    use promlite_exposition::ScrapeProtocol::{PrometheusProto, PrometheusText0_0_4};
    let c = Config::from_yaml(
        "global: {scrape_native_histograms: true}\nscrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_protocols: [PrometheusText0.0.4]\n",
        Path::new("p.yml"),
    )
    .unwrap();
    assert_eq!(c.scrape_configs[0].protocols()[0], PrometheusProto);
    assert_eq!(c.scrape_configs[1].protocols(), [PrometheusText0_0_4]);
    let c = Config::from_yaml("scrape_configs:\n  - job_name: a\n", Path::new("p.yml")).unwrap();
    assert_eq!(
        c.scrape_configs[0].protocols(),
        promlite_exposition::DEFAULT_SCRAPE_PROTOCOLS
    );
}

#[test]
fn errors_name_file_line_column_and_reason() {
    let cases = [
        (
            "scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n",
            "p.yml:3:5: scrape_configs: field scrape_intervall not found in type config.ScrapeConfig",
        ),
        (
            "global:\n  foo: 1\n",
            "p.yml:2:3: global: unknown field `foo`",
        ),
        (
            "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: a\n",
            "p.yml:4:5: found multiple scrape configs with job name \"a\"",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n",
            "p.yml:4:5: scrape timeout greater than scrape interval for scrape config with job name \"a\"",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    consul_sd_configs: [{server: 'x:1'}]\n",
            "p.yml:3:5: scrape_configs: promlite does not support consul_sd_configs",
        ),
        (
            "global:\n  scrape_interval: 5x\n",
            "p.yml:2:20: global: unknown unit \"x\" in duration \"5x\"",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    bearer_token: x\n    bearer_token_file: y\n",
            "p.yml:2:3: scrape_configs: at most one of bearer_token & bearer_token_file must be configured",
        ),
    ];
    for (yaml, want) in cases {
        assert_eq!(err(yaml), want, "{yaml}");
    }
}

#[test]
fn a_bad_reload_keeps_the_running_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prometheus.yml");
    std::fs::write(&path, "scrape_configs:\n  - job_name: a\n").unwrap();
    let r = Reloader::new(&path).unwrap();
    assert_eq!(r.current().scrape_configs[0].job_name, "a");

    let same = r.reload().unwrap();
    assert!(!same.changed);

    std::fs::write(&path, "scrape_configs:\n  - job_name: a\n  - job_name: a\n").unwrap();
    let e = r.reload().unwrap_err();
    assert!(
        e.to_string()
            .ends_with("found multiple scrape configs with job name \"a\""),
        "{e}"
    );
    assert_eq!(r.current().scrape_configs.len(), 1, "the old config stays");
    assert!(!r.status().last_successful);

    std::fs::write(&path, "scrape_configs:\n  - job_name: b\n").unwrap();
    let ok = r.reload().unwrap();
    assert!(ok.changed);
    assert_eq!(r.current().scrape_configs[0].job_name, "b");
    assert!(r.status().last_successful && r.status().last_error.is_none());
}

#[test]
fn scrape_config_files_are_read_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("jobs")).unwrap();
    std::fs::write(
        dir.path().join("jobs/x.yml"),
        "scrape_configs:\n  - job_name: x\n    scrape_interval: 2s\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("jobs/y.yml"),
        "scrape_configs:\n  - job_name: main\n",
    )
    .unwrap();
    let path = dir.path().join("prometheus.yml");
    std::fs::write(
        &path,
        "global: {scrape_timeout: 1s}\nscrape_config_files: [jobs/x.yml]\nscrape_configs:\n  - job_name: main\n",
    )
    .unwrap();
    let c = Config::load(&path).unwrap();
    let jobs: Vec<_> = c
        .scrape_configs
        .iter()
        .map(|j| (j.job_name.as_str(), j.timeout().to_string()))
        .collect();
    assert_eq!(jobs, [("main", "1s".to_string()), ("x", "1s".to_string())]);

    std::fs::write(
        &path,
        "scrape_config_files: ['jobs/*.yml']\nscrape_configs:\n  - job_name: main\n",
    )
    .unwrap();
    let e = Config::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("jobs/y.yml:2:5: found multiple scrape configs with job name \"main\""),
        "{e}"
    );
}
