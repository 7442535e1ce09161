//! `promlite check metrics` as a user runs it: the binary on a real node_exporter scrape
//! and on broken input, checking output and exit codes (promtool's: 0, 1, 3).

use std::io::Write;
use std::process::{Command, Stdio};

const NODE_EXPORTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/exposition/real/node_exporter-1.5.prom"
);

fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_promlite"));
    cmd.args(["check", "metrics"]).args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run promlite");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn real_node_exporter_output_parses_and_lints() {
    assert!(
        std::path::Path::new(NODE_EXPORTER).is_file(),
        "missing {NODE_EXPORTER}"
    );
    let (code, stdout, stderr) = run(&[NODE_EXPORTER], None);
    assert!(!stderr.contains("error while linting"), "{stderr}");
    assert!(stdout.is_empty());
    // node_exporter's output parses; promlint flags its well-known names (the kernel's
    // CamelCase counters, `_bits` units), so the exit code is promtool's 3.
    assert_eq!(code, 3, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 68, "{stderr}");
    assert_eq!(
        lines[0],
        "node_entropy_available_bits use base unit \"bytes\" instead of \"bits\""
    );
    assert!(lines.contains(
        &"node_memory_MemTotal_bytes metric names should be written in 'snake_case' not 'camelCase'"
    ));
    assert!(lines.is_sorted(), "promtool sorts problems");
}

#[test]
fn clean_input_on_stdin_exits_zero_silently() {
    let (code, stdout, stderr) = run(
        &[],
        Some("# HELP up Up.\n# TYPE up gauge\nup{job=\"a\"} 1\n"),
    );
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
}

#[test]
fn broken_input_prints_line_and_column() {
    let dir = std::env::temp_dir().join(format!("promlite-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("broken.prom");
    std::fs::write(&file, "# HELP up Up.\n# TYPE up gauge\nup{job=\"a\" 1\n").unwrap();
    let (code, _, stderr) = run(&[file.to_str().unwrap()], None);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "error while linting: 3:12: expected comma or brace close, got \"1\"\n"
    );
}

#[test]
fn lint_problems_exit_three() {
    let (code, _, stderr) = run(&[], Some("# TYPE requests counter\nrequests 1\n"));
    assert_eq!(code, 3);
    assert_eq!(
        stderr,
        "requests counter metrics should have \"_total\" suffix\nrequests no help text\n"
    );
}

#[test]
fn openmetrics_input_is_recognised() {
    let (code, _, stderr) = run(
        &[],
        Some("# HELP a A.\n# TYPE a counter\na_total 1 # {id=\"x\"} 1\n# EOF\n"),
    );
    assert_eq!((code, stderr.as_str()), (0, ""));
    let (code, _, stderr) = run(&[], Some("# TYPE a gauge\na 1\n# TYPE a gauge\n# EOF\n"));
    assert_eq!(
        (code, stderr.as_str()),
        (
            1,
            "error while linting: 3:1: duplicate TYPE for metric family \"a\"\n"
        )
    );
}

#[test]
fn missing_file_is_an_error() {
    let (code, _, stderr) = run(&["/nonexistent/metrics.prom"], None);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error: /nonexistent/metrics.prom"),
        "{stderr}"
    );
}
