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

/// The rule files a configuration names are counted and checked, with promtool's output.
#[test]
fn rule_files_are_checked_like_promtool() {
    let dir = std::env::temp_dir().join(format!(
        "promlite-check-config-rules-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("r.yml"),
        "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("bad.yml"),
        "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: up +\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("p.yml"),
        "rule_files: ['r.yml', 'bad.yml']\nscrape_configs: []\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_promlite"))
        .current_dir(&dir)
        .args(["check", "config", "p.yml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("  SUCCESS: 2 rule files found\n SUCCESS: p.yml is valid"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Checking r.yml\n  SUCCESS: 1 rules found"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not parse expression"));
    std::fs::remove_dir_all(&dir).unwrap();
}
