//! `promlite check rules` as a user runs it, on Prometheus's own rule files, and compared
//! with `promtool check rules` (Debian's 2.42) when it is installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const CONFORMANCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/conformance/");

/// Exit code, standard output and standard error of `program check rules ARGS…`.
fn run(program: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(program)
        .args(["check", "rules"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn promlite(args: &[&str]) -> (i32, String, String) {
    run(Path::new(env!("CARGO_BIN_EXE_promlite")), args)
}

/// The rule files of the conformance data: Prometheus's `rulefmt` test data and the rule
/// files (not the unit-test files that point at them) among promtool's.
fn rule_files() -> Vec<PathBuf> {
    let rulefmt = PathBuf::from(CONFORMANCE).join("rulefmt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&rulefmt)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let rules = PathBuf::from(CONFORMANCE).join("rules");
    files.extend(
        [
            "at-modifier.yml",
            "bad-rules-error.yml",
            "bad-rules-syntax.yml",
            "features.yml",
            "negative-offset.yml",
            "prometheus-config.rules.good.yml",
            "prometheus-rules.lint.yml",
            "rules-bad.yml",
            "rules.yml",
            "rules_duplicates.yml",
            "rules_extrafields.yml",
        ]
        .iter()
        .map(|f| rules.join(f)),
    );
    files.sort();
    files
}

/// The `N` of `SUCCESS: N rules found`.
fn rule_count(stdout: &str) -> Option<usize> {
    stdout.lines().find_map(|l| {
        l.trim()
            .strip_prefix("SUCCESS: ")?
            .strip_suffix(" rules found")?
            .parse()
            .ok()
    })
}

#[test]
fn good_file_prints_its_rule_count() {
    let f = format!("{CONFORMANCE}rules/rules.yml");
    let (code, out, err) = promlite(&[&f]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("Checking {f}\n  SUCCESS: 5 rules found\n\n"));
    assert_eq!(err, "");
}

#[test]
fn bad_file_fails_with_every_problem_and_its_position() {
    let f = format!("{CONFORMANCE}rules/bad-rules-syntax.yml");
    let (code, out, err) = promlite(&[&f]);
    assert_eq!(code, 1);
    assert_eq!(out, format!("Checking {f}\n\n"));
    assert_eq!(
        err,
        format!(
            "  FAILED:\n{f}:7:15: group \"bad-syntax\", rule 1, \"x\": could not parse expression: 1:7: parse error: unexpected end of input\n"
        )
    );
}

#[test]
fn one_bad_file_among_good_ones_fails_the_run() {
    let good = format!("{CONFORMANCE}rules/rules.yml");
    let bad = format!("{CONFORMANCE}rulefmt/duplicate_grp.bad.yaml");
    let (code, out, err) = promlite(&[&good, &bad, &good]);
    assert_eq!(code, 1);
    assert_eq!(out.matches("SUCCESS: 5 rules found").count(), 2, "{out}");
    assert!(
        err.contains("3:5: groupname: \"yolo\" is repeated in the same file"),
        "{err}"
    );
}

#[test]
fn duplicate_rules_are_a_lint_that_fails_only_when_fatal() {
    let f = format!("{CONFORMANCE}rules/rules_duplicates.yml");
    let (code, out, err) = promlite(&[&f]);
    assert_eq!(code, 0);
    assert!(!out.contains("SUCCESS"), "{out}");
    assert_eq!(
        err,
        "  FAILED:\nlint error 1 duplicate rule(s) found.\nMetric: job:test:count_over_time1m\nLabel(s):\nMight cause inconsistency while recording expressions\n"
    );
    assert_eq!(promlite(&["--lint-fatal", &f]).0, 3);
    let (code, out, _) = promlite(&["--lint=none", &f]);
    assert_eq!((code, rule_count(&out)), (0, Some(5)));
}

#[test]
fn unknown_fields_can_be_ignored() {
    let f = format!("{CONFORMANCE}rules/rules_extrafields.yml");
    assert_eq!(promlite(&[&f]).0, 1);
    let (code, out, _) = promlite(&["--ignore-unknown-fields", &f]);
    assert_eq!((code, rule_count(&out)), (0, Some(5)));
}

/// Files where promtool 2.42 and promlite disagree on purpose, with the reason.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    // Prometheus 3 accepts UTF-8 label and annotation names; 2.42 knows only the legacy
    // character set. (Prometheus 3's own test runs this one with the legacy scheme.)
    ("utf-8_annotation.good.yaml", "UTF-8 names"),
    ("utf-8_lname.good.yaml", "UTF-8 names"),
    ("legacy_validation_annotation.bad.yaml", "UTF-8 names"),
];

#[test]
fn same_verdicts_and_counts_as_promtool() {
    let Some(promtool) = common::peer("promtool") else {
        return;
    };
    let mut mismatches = Vec::new();
    for f in rule_files() {
        let name = f.file_name().unwrap().to_str().unwrap();
        if KNOWN_DIFFERENCES.iter().any(|(k, _)| *k == name) {
            continue;
        }
        let path = f.to_str().unwrap();
        let (want_code, want_out, want_err) = run(&promtool, &[path]);
        let (code, out, err) = promlite(&[path]);
        if (code, rule_count(&out)) != (want_code, rule_count(&want_out)) {
            mismatches.push(format!(
                "{path}\n--- promtool: exit {want_code}\n{want_out}{want_err}--- promlite: exit {code}\n{out}{err}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
