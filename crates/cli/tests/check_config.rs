//! `promlite check config` as a user runs it, on Prometheus's own good and bad files.

use std::process::Command;

const CONFIGS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/config/"
);

fn check(file: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_promlite"))
        .args(["check", "config", &format!("{CONFIGS}{file}")])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn good_file_succeeds_like_promtool() {
    let (code, out, _) = check("global_timeout.good.yml");
    assert_eq!(code, 0);
    assert!(
        out.contains(" SUCCESS: ") && out.contains("is valid prometheus config file syntax"),
        "{out}"
    );
}

#[test]
fn bad_file_fails_with_the_reason_and_position() {
    let (code, _, err) = check("jobname_dup.bad.yml");
    assert_eq!(code, 1);
    assert!(err.starts_with("  FAILED: "), "{err}");
    assert!(
        err.contains("jobname_dup.bad.yml:"),
        "position missing: {err}"
    );
    assert!(
        err.contains(r#"found multiple scrape configs with job name "prometheus""#),
        "{err}"
    );
}
