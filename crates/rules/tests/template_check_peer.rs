//! Template syntax errors compared with promtool's: each template is put in a rule
//! file's annotation, `promtool check rules` and promlite's loader report it, and the
//! messages after `annotation "a": ` must be the same (`None` when both accept it).
//!
//! Skipped with a message when promtool is not on PATH, unless `PROMLITE_PEERS=1`.

mod common;

use std::path::Path;
use std::process::Command;

/// Not listed: `{{else with}}`, which Go accepts since 1.23 (and promlite with it) but
/// promtool 2.42's Go rejects; hexadecimal floats (`0x1p-2`), which promlite rejects.
const TEMPLATES: &[&str] = &[
    "{{ if }}{{ end }}",
    "{{ range }}{{ end }}",
    "{{ with }}{{ end }}",
    "{{ $x }}",
    "{{ foo }}",
    "{{ .a",
    "{{ 1 | 2 }}",
    "{{ (1 }}",
    "{{ 1) }}",
    "{{ else }}",
    "{{ end }}",
    "{{ if 1 }}",
    "{{ if 1 }}{{ else }}{{ else }}{{ end }}",
    "{{ define \"a\" }}{{ end }}",
    "{{ template }}",
    "{{ template 1 }}",
    "{{ with $x := 1 }}{{ end }}{{ $x }}",
    "{{ range $i, $j, $k := . }}{{ end }}",
    "{{ $a, $b := 1 }}",
    "{{ break }}",
    "{{ range . }}{{ continue 1 }}{{ end }}",
    "{{ 'ab' }}",
    "{{ 0x }}",
    "{{ \"\\q\" }}",
    "{{ . . }}",
    "{{ nil }}",
    "{{ 1.a }}",
    "{{ `x }}",
    "{{/* x */ 1 }}",
    "{{ |x }}",
    "{{ if 1 }}{{ else if }}{{ end }}",
    "{{ $x := }}",
    "{{ .Labels.x.y }} {{ printf }}",
    "{{ $labels.x | }}",
    "{{ :x }}",
    "{{ # }}",
    "{{ $x = 1 }}",
    "{{ range $i, $v := $labels }}{{ $v }}{{ break }}{{ end }}",
    "{{ block \"b\" . }}x{{ end }}",
    "{{ else if 1 }}",
    "x\n{{ if 1 }}\n{{ end }}\n{{ end }}",
    "{{ \"a\" \"b\" }}",
    "{{ humanize 1 2 }}",
    "{{- /* c */ -}}",
    "{{ printf \"%d\" (len $labels) | printf \"%s\" }}",
    "{{ - 1 }}",
    "{{ + }}",
    "{{ 1_000 }} {{ 0b101 }} {{ 0o17 }} {{ 017 }} {{ 1e+3 }} {{ .5 }}",
    "{{ 1e }}",
    "{{ 08 }}",
    "{{ '\\n' }} {{ '\\'' }}",
    "{{ (1).a }}",
    "{{ $labels.a.b.c }}",
    "{{ \"x\" | printf }}",
    "{{ range $i := . }}{{ end }} {{ range $i, $v := . }}{{ end }}",
    "{{ 99999999999999999999 }}",
];

/// The message after `annotation "a": ` in a report, if any.
fn message(report: &str) -> Option<String> {
    report.lines().find_map(|l| {
        l.split_once("annotation \"a\": ")
            .map(|(_, m)| m.to_owned())
    })
}

#[test]
fn template_syntax_errors_match_promtool() {
    let Some(promtool) = common::peer("promtool") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yml");
    let mut mismatches = Vec::new();
    for t in TEMPLATES {
        let quoted = serde_json::to_string(t).unwrap();
        let yaml = format!(
            "groups:\n  - name: t\n    rules:\n      - alert: T\n        expr: up\n        annotations:\n          a: {quoted}\n"
        );
        std::fs::write(&path, &yaml).unwrap();
        let out = Command::new(&promtool)
            .args(["check", "rules", "rules.yml"])
            .current_dir(dir.path())
            .output()
            .expect("promtool runs");
        let theirs = message(&String::from_utf8_lossy(&out.stderr));
        let ours = match promlite_rules::RuleGroups::from_yaml(&yaml, Path::new("rules.yml")) {
            Ok(_) => None,
            Err(errs) => message(
                &errs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        };
        if theirs != ours {
            mismatches.push(format!(
                "{t:?}\n  promtool: {theirs:?}\n  promlite: {ours:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
