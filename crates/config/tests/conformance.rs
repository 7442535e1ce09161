//! Prometheus's own configuration test files (`../shared/conformance/config`): every
//! `*.good.yml` that uses only what promlite supports loads, every `*.bad.yml` is
//! rejected. Files using unsupported mechanisms are listed with the reason.

use std::path::{Path, PathBuf};

use promlite_config::Config;

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/config");
    dir.is_dir().then_some(dir)
}

/// Why a good file may fail to load under promlite: a mechanism it does not provide.
fn unsupported(message: &str) -> bool {
    message.contains("promlite does not support")
}

#[test]
fn prometheus_config_corpus() {
    let Some(dir) = corpus() else {
        assert!(std::env::var("CI").is_err(), "conformance corpus missing");
        eprintln!("skipping: no conformance corpus");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (mut good_ok, mut good_skip, mut bad_ok, mut bad_unsupported) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let result = Config::load(f);
        if name.ends_with(".good.yml") {
            match result {
                Ok(_) => good_ok += 1,
                Err(e) if unsupported(&e.message()) => {
                    good_skip += 1;
                    println!("SKIP good {name}: {}", e.message());
                }
                Err(e) => failures.push(format!("{name}: should load, got: {e}")),
            }
        } else if name.ends_with(".bad.yml") {
            match result {
                Ok(_) => failures.push(format!("{name}: should be rejected, but loaded")),
                Err(e) if unsupported(&e.message()) => {
                    bad_unsupported += 1;
                    println!("UNSUPPORTED bad {name}: {}", e.message());
                }
                Err(e) => {
                    bad_ok += 1;
                    println!("REJECTED bad {name}: {e}");
                }
            }
        }
    }
    println!(
        "good: {good_ok} loaded, {good_skip} skipped (unsupported); bad: {bad_ok} rejected for their reason, {bad_unsupported} rejected as unsupported"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Compares rejections with `promtool check config` (2.42 on this machine). Where
/// promtool fails while parsing for a reason both versions share, promlite must give
/// the same reason; files that 2.42 cannot read (fields added in 3.x, reported as
/// "field … not found") or that use unsupported mechanisms are listed, not compared.
#[test]
fn bad_files_agree_with_promtool() {
    let Some(dir) = corpus() else { return };
    let promtool = Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        assert!(
            std::env::var("PROMLITE_PEERS").as_deref() != Ok("1"),
            "promtool is missing"
        );
        eprintln!("skipping: promtool is not installed");
        return;
    }
    // Where Prometheus 3 words a reason differently from 2.42, or promlite's reason is
    // its own (documented in docs/compatibility.md).
    let known_differences = [
        "labelmap.bad.yml",               // !!binary: same reason, prefixed differently
        "labelname.bad.yml", // !!binary: Go decodes to bytes; promlite names the bad UTF-8
        "labelvalue.bad.yml", // idem
        "regex.bad.yml",     // regex error texts come from Rust's regex crate
        "scrape_body_size_limit.bad.yml", // same text; Go prints an empty unit name twice
        "http_url_no_scheme.bad.yml",
        "http_url_bad_scheme.bad.yml",
        "http_url_no_host.bad.yml",
        "empty_static_config.bad.yml",
        // 3.x names the newer credentials (azuread, google_iam) in this message.
        "remote_write_authorization_header.bad.yml",
    ];
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bad.yml"))
        .collect();
    files.sort();
    let (mut same, mut listed) = (0, 0);
    let mut mismatches = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let out = std::process::Command::new(promtool)
            .args(["check", "config", "--syntax-only"])
            .arg(f)
            .current_dir(&dir)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let Some(reason) = text.lines().find_map(|l| {
            l.split_once(&format!("parsing YAML file {}: ", f.display()))
                .map(|(_, r)| r.to_owned())
        }) else {
            listed += 1;
            continue;
        };
        // 2.42 lists fields it does not know on the following lines: not comparable.
        if reason == "yaml: unmarshal errors:" {
            listed += 1;
            continue;
        }
        let ours = Config::load(f).map_or_else(|e| e.message(), |_| String::from("<loaded>"));
        if unsupported(&ours) || known_differences.contains(&name.as_str()) {
            listed += 1;
        } else if ours.ends_with(&reason) {
            same += 1;
        } else {
            mismatches.push(format!("{name}\n  promtool: {reason}\n  promlite: {ours}"));
        }
    }
    println!("same reason as promtool: {same}; not compared: {listed}");
    assert!(
        mismatches.is_empty(),
        "{} differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
