//! Template tests: parse-time messages (promtool 2.42's on the same input) and the
//! output of every construct and function.

use std::collections::BTreeMap;

use super::{QuerySample, Template, TemplateContext, check, expand_alert_text};

/// Verdicts and messages of promtool 2.42 on the same annotation values.
#[test]
fn go_template_errors() {
    let cases: &[(&str, Option<&str>)] = &[
        (
            "{{ $labels.quantile * 100 }}",
            Some(r#"1: unexpected "*" in operand"#),
        ),
        ("{{ $x }}", Some(r#"1: undefined variable "$x""#)),
        ("a {{ foo }}", Some(r#"1: function "foo" not defined"#)),
        ("a {{ .x", Some("1: unclosed action")),
        ("{{/* c", Some("1: unclosed comment")),
        (r#"{{ "abc }}"#, Some("1: unterminated quoted string")),
        ("{{ if 1 }}a", Some("1: unexpected EOF")),
        ("{{ end }}", Some("1: unexpected {{end}}")),
        ("{{ else }}", Some("1: unexpected {{else}}")),
        (
            "x\n{{ $label.foo }}",
            Some(r#"2: undefined variable "$label""#),
        ),
        ("{{ if }}{{ end }}", Some("1: missing value for if")),
        ("}} x", None),
        ("{{ $y := 1 }}{{ $y }}", None),
        (r#"{{ humanize $value }}{{ printf "%s" .Labels.x }}"#, None),
        ("{{- $labels.x -}}", None),
        (
            "{{/* note */}}{{ if gt $value 1.5 }}hi{{ else }}lo{{ end }}",
            None,
        ),
        (
            "{{ range $i, $e := query \"up\" }}{{ $e.Value }}{{ end }}",
            None,
        ),
    ];
    for (text, want) in cases {
        let got = check("A", text).err();
        let want = want.map(|w| format!("template: __alert_A:{w}"));
        assert_eq!(got, want, "template {text:?}");
    }
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("instance".to_owned(), "db-1.example.com:9100".to_owned()),
        ("job".to_owned(), "node".to_owned()),
    ])
}

fn query(q: &str) -> Result<Vec<QuerySample>, String> {
    let s = |name: &str, inst: &str, v: f64| QuerySample {
        labels: BTreeMap::from([
            ("__name__".to_owned(), name.to_owned()),
            ("instance".to_owned(), inst.to_owned()),
        ]),
        value: v,
    };
    match q {
        "up" => Ok(vec![s("up", "b", 1.0), s("up", "a", 0.0)]),
        "none" => Ok(vec![]),
        _ => Err(format!("bad query {q:?}")),
    }
}

fn run(text: &str, value: f64) -> String {
    let ext = BTreeMap::from([("cluster".to_owned(), "eu1".to_owned())]);
    let ctx = TemplateContext {
        query: Some(&query),
        external_labels: Some(&ext),
        external_url: "http://prom.example:9090/prom",
    };
    match Template::parse_alert("A", text).and_then(|t| t.execute_alert(&labels(), value, &ctx)) {
        Ok(s) => s,
        Err(e) => format!("ERR {e}"),
    }
}

/// Each construct of the language, with the output Go's text/template gives.
#[test]
fn constructs() {
    let cases: &[(&str, &str)] = &[
        ("plain", "plain"),
        ("{{ $value }}", "1.5"),
        ("{{ .Value }}", "1.5"),
        (
            "{{ $labels.job }}/{{ .Labels.instance }}",
            "node/db-1.example.com:9100",
        ),
        ("[{{ $labels.missing }}]", "[]"),
        (
            "{{ $externalLabels.cluster }} {{ $externalURL }}",
            "eu1 http://prom.example:9090/prom",
        ),
        ("a  {{- 1 -}}  b", "a1b"),
        ("a {{/* c */}} b", "a  b"),
        ("a {{- /* c */ -}} b", "ab"),
        ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"),
        ("{{ if gt $value 1.0 }}big{{ else }}small{{ end }}", "big"),
        (
            "{{ if lt $value 1.0 }}a{{ else if eq $value 1.5 }}b{{ else }}c{{ end }}",
            "b",
        ),
        ("{{ with $labels.job }}job={{ . }}{{ end }}", "job=node"),
        ("{{ with $labels.none }}x{{ else }}none{{ end }}", "none"),
        (
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            "instance=db-1.example.com:9100;job=node;",
        ),
        (
            "{{ range $labels }}{{ . }},{{ end }}",
            "db-1.example.com:9100,node,",
        ),
        (
            "{{ range query \"none\" }}x{{ else }}empty{{ end }}",
            "empty",
        ),
        (
            "{{ range $i, $s := query \"up\" }}{{ $i }}:{{ $s.Labels.instance }}={{ $s.Value }} {{ end }}",
            "0:b=1 1:a=0 ",
        ),
        (
            "{{ range query \"up\" }}{{ if eq .Value 1.0 }}{{ continue }}{{ end }}{{ .Labels.instance }}{{ end }}",
            "a",
        ),
        (
            "{{ range query \"up\" }}{{ .Labels.instance }}{{ break }}{{ end }}",
            "b",
        ),
        (
            "{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" $labels.job }}",
            "[node]",
        ),
        ("{{ block \"b\" $value }}<{{ . }}>{{ end }}", "<1.5>"),
        ("{{ $value | printf \"%.2f\" }}", "1.50"),
        (
            "{{ printf \"%s-%d-%v-%q\" \"a\" 3 true \"b\" }}",
            "a-3-true-\"b\"",
        ),
        ("{{ (printf \"%s\" \"x\") }}", "x"),
        ("{{ `raw \\n` }}", "raw \\n"),
        ("{{ \"esc\\tq\" }}", "esc\tq"),
        (
            "{{ 0x10 }} {{ 1e3 }} {{ 'a' }} {{ true }} {{ print nil }}",
            "16 1000 97 true <nil>",
        ),
        (
            "{{ and 1 0 2 }} {{ or 0 \"\" 3 }} {{ not false }}",
            "0 3 true",
        ),
        (
            "{{ len $labels }} {{ len \"abc\" }} {{ index $labels \"job\" }}",
            "2 3 node",
        ),
        (
            "{{ eq \"a\" \"b\" \"a\" }} {{ ne 1 2 }} {{ le 2 2 }} {{ ge \"a\" \"b\" }}",
            "true true true false",
        ),
        (
            "{{ print 1 2 \"x\" 3 }}|{{ println \"a\" 1 }}",
            "1 2x3|a 1\n",
        ),
        (
            "{{ html \"<a href='x'>&\" }}",
            "&lt;a href=&#39;x&#39;&gt;&amp;",
        ),
        ("{{ js \"a'b<c\" }}", "a\\'b\\u003Cc"),
        ("{{ urlquery \"a b/c\" }}", "a+b%2Fc"),
        ("{{ slice \"abcdef\" 1 3 }}", "bc"),
    ];
    for (text, want) in cases {
        assert_eq!(run(text, 1.5), *want, "template {text:?}");
    }
}

/// Prometheus's functions, with outputs from Prometheus's own template tests.
#[test]
fn prometheus_functions() {
    let cases: &[(&str, &str)] = &[
        ("{{ humanize 1_234_567.0 }}", "1.235M"),
        ("{{ humanize \"1234567\" }}", "1.235M"),
        ("{{ humanize 0.000012 }}", "12u"),
        ("{{ humanize1024 1_048_576.0 }}", "1Mi"),
        ("{{ humanizeDuration 3661 }}", "1h 1m 1s"),
        ("{{ humanizeDuration 0.1 }}", "100ms"),
        ("{{ humanizePercentage 0.1234 }}", "12.34%"),
        (
            "{{ humanizeTimestamp 1435065584.128 }}",
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        (
            "{{ toTime 1435065584.128 }}",
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        ("{{ (toTime 1435065584).Unix }}", "1435065584"),
        (
            "{{ toUpper \"ab\" }}{{ toLower \"CD\" }}{{ title \"ef gh\" }}",
            "ABcdEf Gh",
        ),
        (
            "{{ reReplaceAll \"(a+)b\" \"X$1\" \"aaab ab\" }}",
            "Xaaa Xa",
        ),
        ("{{ match \"^db-\" $labels.instance }}", "true"),
        ("{{ safeHtml \"<b>\" }}", "<b>"),
        ("{{ stripPort $labels.instance }}", "db-1.example.com"),
        ("{{ stripDomain $labels.instance }}", "db-1:9100"),
        ("{{ stripDomain \"10.0.0.1:80\" }}", "10.0.0.1:80"),
        ("{{ stripPort \"[::1]:80\" }}", "::1"),
        ("{{ parseDuration \"1h30m\" }}", "5400"),
        (
            "{{ graphLink \"up == 0\" }}",
            "/graph?g0.expr=up+%3D%3D+0&g0.tab=0",
        ),
        ("{{ tableLink \"up\" }}", "/graph?g0.expr=up&g0.tab=1"),
        (
            "{{ pathPrefix }} {{ externalURL }}",
            "/prom http://prom.example:9090/prom",
        ),
        (
            "{{ with query \"up\" }}{{ . | first | value }}{{ end }}",
            "1",
        ),
        ("{{ query \"up\" | first | label \"instance\" }}", "b"),
        (
            "{{ range sortByLabel \"instance\" (query \"up\") }}{{ .Labels.instance }}{{ end }}",
            "ab",
        ),
        ("{{ (args 1 \"x\").arg1 }}", "x"),
        ("{{ toDuration 90 }}", "1m30s"),
        (
            "{{ with query \"up\" }}{{ (first .).Labels.instance | toUpper }}{{ end }}",
            "B",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(run(text, 1.5), *want, "template {text:?}");
    }
}

/// Execution errors say where, as Go does; the alerting rule puts the error in the value.
#[test]
fn execution_errors() {
    let e = run("{{ humanize \"x\" }}", 1.0);
    assert_eq!(
        e,
        "ERR error executing template __alert_A: template: __alert_A:1:115: executing \
         \"__alert_A\" at <humanize \"x\">: error calling humanize: strconv.ParseFloat: parsing \
         \"x\": invalid syntax"
    );
    let e = run("{{ query \"none\" | first }}", 1.0);
    assert!(
        e.ends_with("error calling first: first() called on vector with no elements"),
        "{e}"
    );
    let e = run("{{ gt $value 1 }}", 1.0);
    assert!(
        e.ends_with("error calling gt: incompatible types for comparison"),
        "{e}"
    );
    let e = run("{{ nil }}", 1.0);
    assert!(e.ends_with("at <nil>: nil is not a command"), "{e}");
    let e = run("{{ .Nope }}", 1.0);
    assert!(
        e.contains("can't evaluate field Nope in type struct"),
        "{e}"
    );
    let e = run("{{ template \"zz\" }}", 1.0);
    assert!(
        e.ends_with("at <{{template \"zz\"}}>: template \"zz\" not defined"),
        "{e}"
    );
    let ctx = TemplateContext::default();
    let v = expand_alert_text("A", "{{ query \"up\" }}", &labels(), 1.0, &ctx);
    assert!(
        v.starts_with("<error expanding template: error executing template __alert_A"),
        "{v}"
    );
    let v = expand_alert_text("A", "{{ nosuch }}", &labels(), 1.0, &ctx);
    assert_eq!(
        v,
        "<error expanding template: error parsing template __alert_A: template: __alert_A:1: function \"nosuch\" not defined>"
    );
}

#[test]
fn value_prints_like_go() {
    assert_eq!(run("{{ $value }}", 1_234_567.0), "1.234567e+06");
    assert_eq!(run("{{ $value }}", f64::NAN), "NaN");
    assert_eq!(run("{{ $value }}", 0.1 + 0.2), "0.30000000000000004");
}

/// Every prefix of valid templates, and some odd input, parses or fails cleanly and
/// executes or fails cleanly: bad input never panics.
#[test]
fn truncated_and_odd_input_never_panics() {
    let texts = [
        r#"{{ range $i, $s := query "up" }}{{ $i }}é{{ $s.Labels.instance | toUpper }}{{ else }}ø{{ end }}"#,
        r"{{- if and (gt $value 1.0) (lt $value 2.0) -}} ünï {{- else if eq $value 3.0 }}x{{ end -}}",
        r#"{{ define "a" }}{{ printf "%5.1f|%-3s|%q" 1.5 "é" 'x' }}{{ end }}{{ template "a" . }}{{/* c */}}"#,
        "{{ `raw` }}{{ \"\\u00e9\\x41\\101\" }}{{ 0x1F }}{{ 1e3 }}{{ -2 }}{{ nil }}{{ $ }}",
        "{{ ( }}{{ ) }}{{ | }}{{ := }}{{ $x = 1 }}{{ .a.b.c }}{{ 1.a }}{{ \"x\".y }}{{ é }}",
        "{{ index }}{{ slice \"é\" 0 1 }}{{ len 1 }}{{ printf }}{{ first 1 }}{{ label 1 2 }}",
    ];
    for t in texts {
        for (i, _) in t.char_indices().chain([(t.len(), ' ')]) {
            let _ = run(&t[..i], 1.5);
        }
    }
}
