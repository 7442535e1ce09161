//! `promlite test promql` and `promlite query format` as a user runs them.

use std::process::Command;

fn promlite(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_promlite"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PROMQL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/promql/"
);

#[test]
fn passing_scripts_exit_zero_with_the_total_last() {
    let files = [
        format!("{PROMQL}selectors.test"),
        format!("{PROMQL}trig_functions.test"),
    ];
    let (code, out, _) = promlite(&["test", "promql", &files[0], &files[1]]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.lines().last(), Some("50 passed, 0 failed"));
    assert_eq!(out.lines().filter(|l| l.starts_with("ok ")).count(), 2);
}

#[test]
fn a_failing_eval_is_reported_with_file_and_line() {
    let dir = std::env::temp_dir().join(format!("promlite-cli-promqltest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("wrong.test");
    std::fs::write(
        &script,
        "load 1m\n  up{job=\"a\"} 1 2 3\n\neval instant at 2m up\n  up{job=\"a\"} 3\n\neval instant at 2m up\n  up{job=\"a\"} 4\n",
    )
    .unwrap();
    let (code, out, _) = promlite(&["test", "promql", script.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("wrong.test:7: up:"), "{out}");
    assert_eq!(out.lines().last(), Some("1 passed, 1 failed"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn query_format_prints_the_canonical_form_or_the_error() {
    let (code, out, _) = promlite(&[
        "query",
        "format",
        "sum by(job)(rate(x[5m]))/on()group_left vector(1)",
    ]);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "sum by (job) (rate(x[5m])) / on () group_left () vector(1)\n"
        )
    );
    let (code, _, err) = promlite(&["query", "format", "foo{a=}"]);
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "1:7: parse error: unexpected \"}\" in label matching, expected string\n"
        )
    );
}
