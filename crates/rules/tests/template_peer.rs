//! Template outputs compared with Prometheus's own engine: the same annotations are
//! expanded by `promtool test rules` (whose failure report prints the annotations it
//! got) and by promlite's unit-test runner, and the two `Annotations:{…}` lines must be
//! identical, errors included.
//!
//! Skipped with a message when promtool is not on PATH, unless `PROMLITE_PEERS=1`.

mod common;

use std::process::Command;

/// Templates and functions that Debian's promtool 2.42 knows (it predates `toDuration`,
/// `urlQueryEscape` and `now`, which the unit tests of the template module cover).
/// `pathPrefix` and `externalURL` are left out too: promtool 2.42's unit-test runner
/// gives templates no external URL, so both fail there with a nil pointer dereference.
const TEMPLATES: &[&str] = &[
    "plain",
    "{{ $value }}",
    "{{ .Value }} {{ $labels.job }}/{{ .Labels.instance }} [{{ $labels.missing }}]",
    "{{ $externalLabels.cluster }} {{ $externalURL }}",
    "a  {{- 1 -}}  b {{/* c */}} d",
    "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}",
    "{{ if gt $value 1.0 }}big{{ else }}small{{ end }}",
    "{{ if lt $value 1.0 }}a{{ else if eq $value 1.5 }}b{{ else }}c{{ end }}",
    "{{ with $labels.job }}job={{ . }}{{ end }}{{ with $labels.none }}x{{ else }}none{{ end }}",
    "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
    "{{ range query \"nothing\" }}x{{ else }}empty{{ end }}",
    "{{ range $i, $s := query \"x\" }}{{ $i }}:{{ $s.Labels.instance }}={{ $s.Value }} {{ end }}",
    "{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" $labels.job }}",
    "{{ $value | printf \"%.2f\" }} {{ printf \"%s-%d-%v-%q-%5.1f|%-4s|%x|%e\" \"a\" 3 true \"b\" 2.25 \"z\" 255 1234.5 }}",
    "{{ 0x10 }} {{ 1e3 }} {{ 'a' }} {{ true }} {{ nil }} {{ 1.0 }} {{ 100000000.0 }} {{ 0.00001 }}",
    "{{ and 1 0 2 }} {{ or 0 \"\" 3 }} {{ not false }} {{ len $labels }} {{ index $labels \"job\" }}",
    "{{ eq \"a\" \"b\" \"a\" }} {{ ne 1 2 }} {{ le 2 2 }} {{ ge \"a\" \"b\" }}",
    "{{ print 1 2 \"x\" 3 }}|{{ println \"a\" 1 }}|",
    "{{ html \"<a href='x'>&\" }} {{ js \"a'b<c=d\" }} {{ urlquery \"a b/c\" }}",
    "{{ humanize 1234567.0 }} {{ humanize 0.000012 }} {{ humanize 0 }} {{ humanize -1500.0 }}",
    "{{ humanize1024 1048576.0 }} {{ humanize1024 0.5 }} {{ humanizePercentage 0.1234 }}",
    "{{ humanizeDuration 3661 }} {{ humanizeDuration 0.1 }} {{ humanizeDuration 90061 }} {{ humanizeDuration 1.5 }}",
    "{{ humanizeTimestamp 1435065584.128 }} | {{ toTime 1435065584 }}",
    "{{ toUpper \"ab\" }}{{ toLower \"CD\" }}{{ title \"ef gh\" }}",
    "{{ reReplaceAll \"(a+)b\" \"X$1\" \"aaab ab\" }} {{ match \"^db-\" $labels.instance }}",
    "{{ stripPort $labels.instance }} {{ stripDomain $labels.instance }} {{ stripPort \"[::1]:80\" }}",
    "{{ parseDuration \"1h30m\" }} {{ graphLink \"up == 0\" }} {{ tableLink \"up\" }}",
    "{{ with query \"x\" }}{{ . | first | value }} {{ (first .).Labels.job }}{{ end }}",
    "{{ query \"x\" | first | label \"instance\" }} {{ (args 1 \"x\").arg1 }}",
    "{{ range sortByLabel \"instance\" (query \"x\") }}{{ .Labels.instance }}{{ end }}",
    "{{ humanize \"x\" }}",
    "{{ query \"nothing\" | first }}",
    "{{ gt $value 1 }}",
    "{{ .Nope }}",
    "{{ template \"zz\" }}",
    "{{ . }}",
    "{{ $labels }} {{ printf \"%v|%s\" $labels $externalLabels }}",
    "{{ len (query \"x\") }} {{ index $labels \"nope\" }}|{{ slice \"abc\" 1 }}",
    "{{ humanize 999999.9 }} {{ humanize 1e30 }} {{ humanize -0.0001 }} {{ humanize1024 -2048.0 }}",
    "{{ humanizeDuration -0.5 }} {{ humanizeDuration 59.99 }} {{ humanizeTimestamp 0 }} {{ humanizeTimestamp -1.5 }}",
    "{{ printf \"%d|%s|%v %v\" 1.5 1 2.0 \"x\" }}",
    "{{ printf \"%08.3f|%+d|% d|%X|%o|%b|%c|%5.2e|%-8.3g|%G\" 3.14159 5 5 255 8 5 65 12345.678 0.000123456 1e-10 }}",
    "{{ printf \"%q %x %10s|%-10s|%.3s\" \"é\\n\" \"é\" \"ab\" \"cd\" \"abcdef\" }}",
    "{{ printf \"%t %v %s\" false nil true }}",
    "{{ eq 1 1.0 }}",
    "{{ len 3 }}",
    "{{ index 1 2 }}",
    "{{ title \"hello wORLD foo-bar_baz\" }} {{ js \"\\n\\t<>&='\\\"\" }}",
    "{{ reReplaceAll \"[0-9]+\" \"<$0>\" \"a1b22\" }} {{ match \"(\" \"x\" }}",
    "{{ match \"a)\" \"x\" }}",
    "{{ match \"x[a-\" \"x\" }}",
    "{{ match \"*a\" \"x\" }}",
    "{{ first 1 }}",
    "{{ label \"x\" 1 }}",
    "{{ humanize }}",
    "{{ $value | humanize | printf \"%s!\" }} {{ 3 | printf \"%d-%d\" 2 }}",
    "{{ with $x := 5 }}{{ $x }}{{ end }} {{ range $i := query \"x\" }}{{ $i.Value }}{{ end }}",
    "{{ block \"b\" $value }}<{{ . }}>{{ end }}",
    "{{ range $i, $e := $labels }}{{ if eq $i \"job\" }}{{ break }}{{ end }}{{ $i }}{{ end }}",
    "{{ print 1.0 2 3.5 \"a\" \"b\" 4 true false }}",
    "{{ 1.5e300 }} {{ -0.0 }} {{ 123456789.0 }} {{ 0.1 }} {{ 1e21 }} {{ 1e20 }}",
    "{{ toTime \"1435065584.5\" }} {{ humanize \"1e3\" }} {{ humanize \"Inf\" }}",
];

/// The `Annotations:{…}` line of a unit-test failure report.
fn annotations_line(report: &str) -> Option<String> {
    report
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Annotations:{") && l.len() > "Annotations:{}".len())
        .map(str::to_owned)
}

#[test]
fn templates_expand_as_prometheus_expands_them() {
    let Some(promtool) = common::peer("promtool") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut mismatches = Vec::new();
    for (i, t) in TEMPLATES.iter().enumerate() {
        let quoted = serde_json::to_string(t).unwrap();
        std::fs::write(
            dir.path().join("rules.yml"),
            format!(
                "groups:\n  - name: t\n    rules:\n      - alert: T\n        expr: x\n        annotations:\n          a: {quoted}\n"
            ),
        )
        .unwrap();
        let test = dir.path().join("t.yml");
        std::fs::write(
            &test,
            r#"rule_files: [rules.yml]
tests:
  - input_series:
      - series: 'x{instance="db-1.example.com:9100", job="node"}'
        values: '1.5'
    external_url: "http://prom.example:9090/prom"
    external_labels: {cluster: eu1}
    alert_rule_test:
      - eval_time: 0
        alertname: T
"#,
        )
        .unwrap();
        let out = Command::new(&promtool)
            .args(["test", "rules", "t.yml"])
            .current_dir(dir.path())
            .output()
            .expect("promtool runs");
        let theirs = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = promlite_rules::run_test_file(&test).to_string();
        // Prometheus 3 declares `.Value` as `interface {}` (it may hold a histogram);
        // 2.42 declared it `float64`, which shows in one message.
        let theirs = theirs.replace("Value float64 }", "Value interface {} }");
        let (a, b) = (annotations_line(&theirs), annotations_line(&ours));
        if a.is_none() || a != b {
            mismatches.push(format!(
                "#{i} {t}\n  promtool: {}\n  promlite: {}",
                a.unwrap_or_else(|| theirs.clone()),
                b.unwrap_or_else(|| ours.clone())
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
