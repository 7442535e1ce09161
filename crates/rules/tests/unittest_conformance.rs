//! promtool's own rule unit-test files (`../shared/conformance/rules`) run with
//! `promlite_rules::run_test_file`, each with the verdict promtool gives; with
//! `PROMLITE_PEERS=1` (or promtool on PATH) promtool runs the same file and the exit
//! statuses must agree.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/rules")
}

/// Files shaped like unit tests (a top-level `tests:` list).
fn unit_test_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(conformance_dir())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| {
        p.extension().is_some_and(|e| e == "yml")
            && std::fs::read_to_string(p).is_ok_and(|s| s.lines().any(|l| l.starts_with("tests:")))
    });
    v.sort();
    v
}

/// The verdict each file must get, from Prometheus's `cmd/promtool` tests: `true` for
/// files promtool passes. Files not listed here fail the test, so a new file is never
/// skipped silently.
const EXPECTED: &[(&str, bool)] = &[
    ("at-modifier-test.yml", true),
    ("bad-input-series.yml", false),
    ("bad-promql.yml", false),
    ("bad-rules-error-test.yml", false),
    ("bad-rules-syntax-test.yml", false),
    ("failing.yml", false),
    ("long-period.yml", true),
    ("negative-offset-test.yml", true),
    ("no-test-group-interval.yml", true),
    ("rules_run.yml", false),
    ("rules_run_extrafields.yml", false),
    // Its "wrong fuzzy match" group fails; the "correct" one alone passes (below).
    ("rules_run_fuzzy.yml", false),
    ("rules_run_no_fuzzy.yml", false),
    ("start-time-test.yml", true),
    ("unittest.yml", true),
];

/// Files where Debian's promtool 2.42 (the peer available here) cannot agree with a
/// current promtool, and why. For these the peer's verdict is not compared.
const PEER_TOO_OLD: &[(&str, &str)] = &[
    (
        "unittest.yml",
        "uses exp_samples `histogram`, added after 2.42",
    ),
    (
        "rules_run_fuzzy.yml",
        "uses `fuzzy_compare`, added after 2.42: 2.42 rejects the file for the unknown field, so its verdict says nothing about fuzzy comparison",
    ),
    (
        "start-time-test.yml",
        "uses `start_timestamp`, added after 2.42",
    ),
    (
        "no-test-group-interval.yml",
        "2.42 loads the series of a test group without `interval` with a zero step, so every sample lands at 0s (it reports got 0 at 1m); current promtool steps by evaluation_interval, and Prometheus's own tests expect this file to pass",
    ),
];

#[test]
fn promtool_conformance_files_get_promtools_verdicts() {
    let files = unit_test_files();
    assert!(
        !files.is_empty(),
        "no conformance files in {}",
        conformance_dir().display()
    );
    let mut problems = Vec::new();
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let report = promlite_rules::run_test_file(f);
        match EXPECTED.iter().find(|(n, _)| *n == name) {
            None => problems.push(format!("{name}: no expected verdict recorded")),
            Some((_, want)) if report.success() != *want => problems.push(format!(
                "{name}: want {}, got:\n{report}",
                if *want { "pass" } else { "fail" }
            )),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Prometheus's `TestRulesUnitTestRun`: `--run` selections and
/// `--ignore-unknown-fields`, which promtool 2.42 does not have.
#[test]
fn run_filters_and_unknown_fields() {
    let cases: &[(&str, &[&str], bool, bool)] = &[
        ("rules_run.yml", &[], false, false),
        ("rules_run.yml", &["correct", "wrong"], false, false),
        ("rules_run.yml", &["correct"], false, true),
        ("rules_run.yml", &["wrong"], false, false),
        ("rules_run_extrafields.yml", &[], true, true),
        ("rules_run_extrafields.yml", &[], false, false),
        ("rules_run_no_fuzzy.yml", &[], false, false),
        ("rules_run_fuzzy.yml", &["correct"], false, true),
        ("rules_run_fuzzy.yml", &["wrong"], false, false),
    ];
    for (file, run, ignore, want) in cases {
        let opts = promlite_rules::TestOptions {
            run: run.iter().map(|s| (*s).to_owned()).collect(),
            ignore_unknown_fields: *ignore,
        };
        let report = promlite_rules::run_test_file_with(&conformance_dir().join(file), &opts);
        assert_eq!(
            report.success(),
            *want,
            "{file} {run:?} ignore={ignore}:\n{report}"
        );
    }
}

#[test]
fn same_verdicts_as_promtool() {
    let Some(promtool) = common::peer("promtool") else {
        return;
    };
    let mut problems = Vec::new();
    for f in unit_test_files() {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if let Some((_, why)) = PEER_TOO_OLD.iter().find(|(n, _)| *n == name) {
            eprintln!("{name}: not compared with this promtool: {why}");
            continue;
        }
        let out = Command::new(&promtool)
            .args(["test", "rules"])
            .arg(&f)
            .current_dir(conformance_dir())
            .output()
            .expect("promtool runs");
        let report = promlite_rules::run_test_file(&f);
        if out.status.success() != report.success() {
            problems.push(format!(
                "{name}: promtool {}, promlite {}\n--- promtool\n{}{}--- promlite\n{report}",
                out.status,
                if report.success() { "passed" } else { "failed" },
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
