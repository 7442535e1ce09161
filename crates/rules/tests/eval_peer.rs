//! Rule evaluation compared with promtool's: a unit test file whose expectations are
//! all empty makes both tools print everything they got (firing alerts with labels and
//! annotations, `ALERTS`, `ALERTS_FOR_STATE` and recorded series) at every minute, and
//! the two reports must be identical.
//!
//! Skipped with a message when promtool is not on PATH, unless `PROMLITE_PEERS=1`.

mod common;

use std::fmt::Write as _;
use std::process::Command;

const RULES: &str = r#"
groups:
  - name: g
    rules:
      - record: job:x:sum
        expr: sum by (job) (x)
      - record: job:x:max
        expr: max by (job) (x) > 2
        labels: {kind: recorded}
      - alert: Pending2m
        expr: x > 1
        for: 2m
        labels:
          sev: '{{ if gt $value 5.0 }}high{{ else }}low{{ end }}'
        annotations:
          v: '{{ $value }} {{ $labels.instance }} {{ humanize $value }}'
      - alert: Keep
        expr: x > 3
        keep_firing_for: 3m
      - alert: FromRecorded
        expr: job:x:sum > 10
        for: 1m
        annotations:
          q: '{{ with query "job:x:max" }}{{ . | first | value }}{{ end }}'
"#;

/// Input samples are 50s apart while rules run every minute, and no series ends
/// exactly five minutes before an evaluation: Prometheus 3's lookback window excludes
/// its start and 2.42's includes it, an engine difference this test is not about.
const SERIES: &[(&str, &str)] = &[
    (r#"x{job="a",instance="1"}"#, "0 2 4 6 8 _ _ 1 1 1 1 1"),
    (r#"x{job="a",instance="2"}"#, "5 5 stale 5 5 5"),
    (r#"x{job="b",instance="3"}"#, "1+1x13"),
];

fn test_file() -> String {
    let mut t = String::from(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 50s\n    input_series:\n",
    );
    for (s, v) in SERIES {
        let _ = writeln!(t, "      - series: '{s}'\n        values: '{v}'");
    }
    t.push_str("    alert_rule_test:\n");
    for m in 0..14 {
        for a in ["Pending2m", "Keep", "FromRecorded"] {
            let _ = writeln!(
                t,
                "      - eval_time: {m}m\n        alertname: {a}\n        exp_alerts: []"
            );
        }
    }
    t.push_str("    promql_expr_test:\n");
    for m in 0..14 {
        for e in ["ALERTS", "ALERTS_FOR_STATE", "job:x:sum", "job:x:max"] {
            let _ = writeln!(
                t,
                "      - expr: {e}\n        eval_time: {m}m\n        exp_samples: []"
            );
        }
    }
    t
}

/// The report from `FAILED:` on, trailing blank lines dropped.
fn failures(report: &str) -> String {
    let from = report.find("  FAILED:").unwrap_or(0);
    report[from..].trim_end().to_owned()
}

#[test]
fn evaluation_reports_match_promtool() {
    let Some(promtool) = common::peer("promtool") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let test = dir.path().join("t.yml");
    std::fs::write(&test, test_file()).unwrap();
    let out = Command::new(&promtool)
        .args(["test", "rules", "t.yml"])
        .current_dir(dir.path())
        .output()
        .expect("promtool runs");
    // promtool prints `FAILED:` and the errors on stderr and the blank lines between
    // them on stdout, so only the non-blank lines are compared.
    let theirs = String::from_utf8_lossy(&out.stderr).into_owned();
    let ours = promlite_rules::run_test_file(&test).to_string();
    let (theirs, ours) = (failures(&theirs), failures(&ours));
    let t: Vec<&str> = theirs.lines().filter(|l| !l.is_empty()).collect();
    let o: Vec<&str> = ours.lines().filter(|l| !l.is_empty()).collect();
    assert!(t.len() > 400, "promtool reported too little:\n{theirs}");
    if t != o {
        let first = t
            .iter()
            .zip(&o)
            .position(|(a, b)| a != b)
            .unwrap_or(t.len().min(o.len()));
        let ctx = |v: &[&str]| v[first.saturating_sub(8)..(first + 4).min(v.len())].join("\n");
        panic!(
            "reports differ at line {first} (promtool {} lines, promlite {})\n--- promtool\n{}\n--- promlite\n{}",
            t.len(),
            o.len(),
            ctx(&t),
            ctx(&o)
        );
    }
}
