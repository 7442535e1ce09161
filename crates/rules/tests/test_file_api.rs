//! `test_file` as a user calls it from `#[test]`: `Ok` for passing files, and an error
//! whose `Display` is promtool's report with the expected-vs-got diff.

use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const RULES: &str = r#"
groups:
  - name: g
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 2m
        labels: {severity: page}
        annotations:
          summary: "{{ $labels.instance }} down"
      - record: job:up:sum
        expr: sum by (job) (up)
"#;

#[test]
fn passing_and_failing_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "rules.yml", RULES);
    let good = write(
        dir.path(),
        "good_test.yml",
        r#"
rule_files: [rules.yml]
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="node", instance="a"}'
        values: '1 0 0 0'
    alert_rule_test:
      - eval_time: 1m
        alertname: InstanceDown
        exp_alerts: []
      - eval_time: 3m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: page, job: node, instance: a}
            exp_annotations: {summary: a down}
    promql_expr_test:
      - expr: job:up:sum
        eval_time: 3m
        exp_samples:
          - labels: 'job:up:sum{job="node"}'
            value: 0
"#,
    );
    let report = promlite_rules::test_file(&good).unwrap();
    assert_eq!((report.passed(), report.failed()), (1, 0));

    let bad = write(
        dir.path(),
        "bad_test.yml",
        r#"
rule_files: [rules.yml]
tests:
  - name: wrong expectations
    input_series:
      - series: 'up{job="node", instance="a"}'
        values: '0x5'
    alert_rule_test:
      - eval_time: 2m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: ticket, job: node, instance: a}
            exp_annotations: {summary: a down}
"#,
    );
    let err = promlite_rules::test_file(&bad).unwrap_err().to_string();
    let want = r#"  FAILED:
    name: wrong expectations,
    alertname: InstanceDown, time: 2m, 
        exp:[
            0:
              Labels:{alertname="InstanceDown", instance="a", job="node", severity="ticket"}
              Annotations:{summary="a down"}
            ], 
        got:[
            0:
              Labels:{alertname="InstanceDown", instance="a", job="node", severity="page"}
              Annotations:{summary="a down"}
            ]
"#;
    assert!(err.contains(want), "{err}");

    let reports = [
        promlite_rules::run_test_file(&good),
        promlite_rules::run_test_file(&bad),
    ];
    let lines = promlite_rules::report_lines(&reports);
    assert_eq!(lines.last().map(String::as_str), Some("1 passed, 1 failed"));
    assert!(lines[1] == "  SUCCESS", "{lines:?}");
}
