//! Prometheus's own rule files: `model/rulefmt/testdata` (every `*.good.yaml` and plain
//! `*.yaml` loads, every `*.bad.yaml` fails, with `rulefmt_test.go`'s message where it
//! names one) and the rule files among promtool's test data.

use std::path::{Path, PathBuf};

use promlite_model::ValidationScheme;
use promlite_promql::ParserOptions;
use promlite_rules::{Error, RuleFileOptions, RuleGroups};

const CONFORMANCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/conformance/");

/// What a case expects: the rule count, or failure with (part of) the first message.
type Want<'a> = Result<usize, Option<&'a str>>;

/// The one helper every case goes through: loads `path` with `opts`, and checks the
/// verdict and, when given, that the first error contains `want`.
fn run(path: &Path, opts: RuleFileOptions, want: Want<'_>) {
    let got = opts.load(path);
    let show = |r: &Result<RuleGroups, Vec<Error>>| match r {
        Ok(g) => format!("Ok({} rules)", g.rule_count()),
        Err(e) => format!(
            "Err:\n{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    };
    let ok = match (&got, want) {
        (Ok(g), Ok(n)) => g.rule_count() == n,
        (Err(e), Err(msg)) => msg.is_none_or(|m| e[0].to_string().contains(m)),
        _ => false,
    };
    assert!(
        ok,
        "{}\n--- input\n{}\n--- expected {want:?}\n--- got {}",
        path.display(),
        std::fs::read_to_string(path).unwrap_or_default(),
        show(&got)
    );
}

/// The messages `rulefmt_test.go`'s `TestParseFileFailure` expects in the first error.
fn expected_message(file: &str) -> Option<&'static str> {
    Some(match file {
        "duplicate_grp.bad.yaml" => "groupname: \"yolo\" is repeated in the same file",
        "bad_expr.bad.yaml" => "parse error",
        "record_and_alert.bad.yaml" => "only one of 'record' and 'alert' must be set",
        "no_rec_alert.bad.yaml" => "one of 'record' or 'alert' must be set",
        "noexpr.bad.yaml" => "field 'expr' must be set in rule",
        "invalid_record_name.bad.yaml" => {
            "braces present in the recording rule name; should it be in expr?: strawberry{flavor=\"sweet\"}"
        }
        "bad_field.bad.yaml" => "field annotation not found",
        "invalid_label_name.bad.yaml" => "invalid label name",
        "record_and_for.bad.yaml" => "invalid field 'for' in recording rule",
        "record_and_keep_firing_for.bad.yaml" => {
            "invalid field 'keep_firing_for' in recording rule"
        }
        "legacy_validation_annotation.bad.yaml" => "invalid annotation name: ins-tance",
        _ => return None,
    })
}

fn rule_count(path: &Path) -> usize {
    // Good files are checked for loading; their sizes are pinned where known.
    match path.file_name().and_then(|n| n.to_str()) {
        Some("test.yaml") => 6,
        Some("test_aliases.yaml") => 8,
        _ => 1,
    }
}

#[test]
fn rulefmt_testdata() {
    let dir = PathBuf::from(CONFORMANCE).join("rulefmt");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 15,
        "conformance data missing in {}",
        dir.display()
    );
    for path in files {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        // Prometheus runs the legacy_validation_* files with the legacy name scheme.
        let opts = if name.starts_with("legacy_validation") {
            RuleFileOptions::new().validation_scheme(ValidationScheme::Legacy)
        } else {
            RuleFileOptions::new()
        };
        let want = if name.ends_with(".bad.yaml") {
            Err(expected_message(&name))
        } else {
            Ok(rule_count(&path))
        };
        run(&path, opts, want);
    }
}

#[test]
fn promtool_rule_files() {
    let dir = PathBuf::from(CONFORMANCE).join("rules");
    let all = RuleFileOptions::new().parser_options(ParserOptions::all());
    let cases: &[(&str, RuleFileOptions, Want<'_>)] = &[
        ("rules.yml", RuleFileOptions::new(), Ok(5)),
        ("at-modifier.yml", RuleFileOptions::new(), Ok(1)),
        ("negative-offset.yml", RuleFileOptions::new(), Ok(1)),
        ("bad-rules-error.yml", RuleFileOptions::new(), Ok(1)),
        (
            "prometheus-config.rules.good.yml",
            RuleFileOptions::new(),
            Ok(0),
        ),
        ("prometheus-rules.lint.yml", RuleFileOptions::new(), Ok(2)),
        ("rules_duplicates.yml", RuleFileOptions::new(), Ok(5)),
        // Experimental PromQL needs its feature flags, as in promtool's own test.
        ("features.yml", all, Ok(4)),
        (
            "features.yml",
            RuleFileOptions::new(),
            Err(Some("function \"sort_by_label\" is not enabled")),
        ),
        (
            "bad-rules-syntax.yml",
            RuleFileOptions::new(),
            Err(Some(
                "bad-rules-syntax.yml:7:15: group \"bad-syntax\", rule 1, \"x\": could not parse expression: 1:7: parse error: unexpected end of input",
            )),
        ),
        (
            "rules-bad.yml",
            RuleFileOptions::new(),
            Err(Some(
                "group \"alerts\", rule 1, \"InstanceDown\": annotation \"summary\": template: __alert_InstanceDown:1: undefined variable \"$label\"",
            )),
        ),
        (
            "rules_extrafields.yml",
            RuleFileOptions::new(),
            Err(Some(
                "rules_extrafields.yml:7:5: field namespace not found in type rulefmt.RuleGroup",
            )),
        ),
        (
            "rules_extrafields.yml",
            RuleFileOptions::new().ignore_unknown_fields(true),
            Ok(5),
        ),
    ];
    for (file, opts, want) in cases {
        run(&dir.join(file), *opts, *want);
    }
}

/// `rulefmt_test.go`'s `TestTemplateParsing`, `TestUniqueErrorNodes` and positions that
/// promtool 2.42 prints for the same files.
#[test]
fn inline_cases() {
    let cases: &[(&str, Want<'_>)] = &[
        (
            "groups:\n- name: example\n  rules:\n  - alert: InstanceDown\n    expr: up == 0\n    for: 5m\n    labels:\n      severity: \"page\"\n    annotations:\n      summary: \"Instance {{ $labels.instance }} down\"\n",
            Ok(1),
        ),
        (
            "groups:\n- name: example\n  labels:\n    team: myteam\n  rules:\n  - alert: InstanceDown\n    expr: up == 0\n    for: 5m\n    labels:\n      severity: \"page\"\n",
            Ok(1),
        ),
        (
            "groups:\n- name: example\n  rules:\n  - alert: InstanceDown\n    expr: up == 0\n    annotations:\n      summary: \"Instance {{ $label.instance }} down\"\n",
            Err(Some("undefined variable \"$label\"")),
        ),
        (
            "groups:\n- name: example\n  rules:\n  - alert: InstanceDown\n    expr: up == 0\n    labels:\n      severity: \"{{$this_is_wrong}}\"\n",
            Err(Some(
                "label \"severity\": template: __alert_InstanceDown:1: undefined variable \"$this_is_wrong\"",
            )),
        ),
        (
            "groups:\n- name: example\n  rules:\n  - alert: InstanceDown\n    expr: up == 0\n    annotations:\n      description: \"{{$labels.quantile * 100}}\"\n",
            Err(Some("unexpected \"*\" in operand")),
        ),
        (
            "groups:\n  - name: yolo\n    rules:\n      - record: Hi\n        alert: Hello\n        expr: 1\n",
            Err(Some(
                "r.yml:4:17: 5:16: group \"yolo\", rule 1, \"Hello\": only one of 'record' and 'alert' must be set",
            )),
        ),
        (
            "groups:\n  - name: yolo\n  - name: yolo\n",
            Err(Some(
                "r.yml:3:5: groupname: \"yolo\" is repeated in the same file",
            )),
        ),
        (
            "groups:\n  - name: ''\n",
            Err(Some("r.yml:2:5: Groupname must not be empty")),
        ),
        (
            "groups:\n  - name: g\n    labels:\n      __name__: x\n    rules: []\n",
            Err(Some("r.yml: invalid label name: __name__")),
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n        annotations:\n          a: b\n",
            Err(Some(
                "r.yml:4:17: group \"g\", rule 1, \"r\": invalid field 'annotations' in recording rule",
            )),
        ),
        (
            "groups:\n  - name: g\n    interval: 1x\n",
            Err(Some("not a valid duration string: \"1x\"")),
        ),
        ("groups:\n  - name: g\n    rules: [\n", Err(None)),
        ("", Ok(0)),
        ("# only a comment\n", Ok(0)),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: 1\n        for: 0\n        labels: {severity: 2}\n",
            Ok(1),
        ),
    ];
    let dir = tempdir();
    for (i, (yaml, want)) in cases.iter().enumerate() {
        let path = dir.join(format!("{i}")).join("r.yml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, yaml).unwrap();
        let want = want.map_err(|m| m.map(|m| m.replacen("r.yml", &path.display().to_string(), 1)));
        run(
            &path,
            RuleFileOptions::new(),
            want.as_ref().copied().map_err(|m| m.as_deref()),
        );
    }
}

/// Regression guard for `TestUniqueErrorNodes`: two broken rules give two errors at two
/// different positions.
#[test]
fn each_rule_error_has_its_own_position() {
    let yaml = "groups:\n- name: example\n  rules:\n  - alert: InstanceDown\n    expr: up ===== 0\n  - alert: InstanceUp\n    expr: up ===== 1\n";
    let errs = RuleGroups::from_yaml(yaml, Path::new("r.yml")).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].position(), Some((5, 11)));
    assert_eq!(errs[1].position(), Some((7, 11)));
}

/// `TestParseFileSuccessWithAliases`: anchors, aliases and merge keys resolve as in Go.
#[test]
fn aliases_and_merge_keys() {
    let path = PathBuf::from(CONFORMANCE).join("rulefmt/test_aliases.yaml");
    let rgs = RuleGroups::load(&path).unwrap();
    let expr = "sum without(instance) (rate(errors_total[5m]))\n/\nsum without(instance) (rate(requests_total[5m]))\n";
    for g in &rgs.groups {
        let names: Vec<_> = g.rules.iter().map(promlite_rules::Rule::name).collect();
        assert_eq!(
            names,
            ["HighAlert", "new_metric", "HighAlert", "HighAlert2"]
        );
        for (i, r) in g.rules.iter().enumerate() {
            assert_eq!(r.expr(), expr);
            if i != 1 {
                assert_eq!(r.labels()["severity"], "critical");
            }
        }
    }
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("promlite-rules-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
