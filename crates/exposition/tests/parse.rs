//! Valid inputs and the entries they must produce, for both text formats. Each case is
//! an input and the expected entries rendered one per line by a single helper, so a
//! failure shows input, expected and actual side by side.
// Test renderings favour readable `format!` over `write!` plumbing.
#![allow(clippy::format_push_string)]

use promlite_exposition::{Entry, OpenMetricsOptions, TextParser, write_go_float};
use promlite_model::{LabelsBuilder, go_quote};

fn render<const OM: bool>(mut p: TextParser<'_, OM>) -> String {
    let mut out = String::new();
    let mut b = LabelsBuilder::new();
    loop {
        let e = match p.next() {
            Ok(Some(e)) => e,
            Ok(None) => return out,
            Err(e) => {
                out.push_str(&format!("ERROR {e}\n"));
                return out;
            }
        };
        match e {
            Entry::Help { name, help } => {
                out.push_str(&format!("HELP {name} {}\n", go_quote(help)));
            }
            Entry::Type { name, metric_type } => {
                out.push_str(&format!("TYPE {name} {metric_type}\n"));
            }
            Entry::Unit { name, unit } => out.push_str(&format!("UNIT {name} {unit}\n")),
            Entry::Comment(c) => out.push_str(&format!("COMMENT {}\n", go_quote(c))),
            Entry::Histogram(_) => out.push_str("HISTOGRAM\n"),
            Entry::Series(s) => {
                out.push_str(&s.to_labels(&mut b).to_string());
                out.push(' ');
                write_go_float(&mut out, s.value);
                if let Some(t) = s.timestamp {
                    out.push_str(&format!(" @{t}"));
                }
                if let Some(x) = s.exemplar {
                    let ex = x.to_exemplar(&mut b);
                    out.push_str(&format!(" # {} ", ex.labels));
                    write_go_float(&mut out, ex.value);
                    if let Some(t) = ex.timestamp {
                        out.push_str(&format!(" @{t}"));
                    }
                }
                if let Some(c) = s.created {
                    out.push_str(&format!(" ct={c}"));
                }
                out.push('\n');
            }
        }
    }
}

fn check(cases: &[(&str, &str)], om: bool, created: bool) {
    let mut failures = Vec::new();
    for (input, want) in cases {
        let got = if om {
            render(TextParser::<true>::with_options(
                input,
                OpenMetricsOptions {
                    created_timestamps: created,
                    ..OpenMetricsOptions::default()
                },
            ))
        } else {
            render(TextParser::<false>::new(input))
        };
        if got.trim_end() != want.trim_end() {
            failures.push(format!(
                "input:\n{input}\nexpected:\n{want}\nactual:\n{got}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

#[test]
fn prometheus_text() {
    check(
        &[
            (
                "# HELP go_gc_duration_seconds A summary of the GC invocation durations.\n\
                 # \tTYPE go_gc_duration_seconds summary\n\
                 go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05\n\
                 go_gc_duration_seconds{quantile=\"0.25\",} 7.424100000000001e-05\n\
                 go_gc_duration_seconds_count 99\n\
                 # Hello, comment\n\
                 \n\
                 some:aggregate:rate5m{a_b=\"c\"}\t1\n\
                 testmetric{label=\"\\\"bar\\\"\"} 1\n\
                 testmetric{_label=\"ab\\\\c\\nd\"} 2 1234567\n\
                 null_byte_metric{a=\"abc\u{0}\"} 1\n\
                 nan NaN\n\
                 inf{a=\"b\"} +Inf -5\n",
                "HELP go_gc_duration_seconds \"A summary of the GC invocation durations.\"\n\
                 TYPE go_gc_duration_seconds summary\n\
                 {__name__=\"go_gc_duration_seconds\", quantile=\"0\"} 4.9351e-05\n\
                 {__name__=\"go_gc_duration_seconds\", quantile=\"0.25\"} 7.424100000000001e-05\n\
                 {__name__=\"go_gc_duration_seconds_count\"} 99\n\
                 COMMENT \"Hello, comment\"\n\
                 {__name__=\"some:aggregate:rate5m\", a_b=\"c\"} 1\n\
                 {__name__=\"testmetric\", label=\"\\\"bar\\\"\"} 1\n\
                 {__name__=\"testmetric\", _label=\"ab\\\\c\\nd\"} 2 @1234567\n\
                 {__name__=\"null_byte_metric\", a=\"abc\\x00\"} 1\n\
                 {__name__=\"nan\"} NaN\n\
                 {__name__=\"inf\", a=\"b\"} +Inf @-5",
            ),
            // HELP escapes in the text format: only `\\` and `\n`; `\"` stays.
            (
                "# HELP m a\\\\b\\nc\\\"d\n",
                "HELP m \"a\\\\b\\nc\\\\\\\"d\"",
            ),
            // An empty HELP and blank-padded TYPE.
            (
                "# HELP m\n# TYPE m   counter  \n",
                "HELP m \"\"\nTYPE m counter",
            ),
            ("# TYPE m untyped\n", "TYPE m unknown"),
            // Prometheus 3 quoted UTF-8 names, with free blanks inside the braces.
            (
                "{\"go.gc_duration_seconds\",quantile=\"0.5\",a=\"b\"} 8.3835e-05\n\
                 { \"go.gc_duration_seconds\", quantile = \"1.0\", a = \"b\" } 8\n\
                 {\"Heiz\u{f6}l \\\"x\\\" {y\\nz}\",\"strange\u{a9}\\n'quoted'\"=\"6\"} 10.0\n\
                 # HELP \"my.metric\" some help\n\
                 # TYPE \"my.metric\" gauge\n\
                 {\"my.metric\",\"label.name\"=\"v\"} 1\n\
                 name{\"quoted label\"=\"v\"} 1\n",
                "{__name__=\"go.gc_duration_seconds\", a=\"b\", quantile=\"0.5\"} 8.3835e-05\n\
                 {__name__=\"go.gc_duration_seconds\", a=\"b\", quantile=\"1.0\"} 8\n\
                 {__name__=\"Heiz\u{f6}l \\\"x\\\" {y\\nz}\", \"strange\u{a9}\\n'quoted'\"=\"6\"} 10\n\
                 HELP my.metric \"some help\"\n\
                 TYPE my.metric gauge\n\
                 {__name__=\"my.metric\", \"label.name\"=\"v\"} 1\n\
                 {__name__=\"name\", \"quoted label\"=\"v\"} 1",
            ),
            // No trailing newline; CR is part of the comment.
            ("a 1", "{__name__=\"a\"} 1"),
            ("# x\r\n", "COMMENT \"x\\r\""),
            // Empty label values are dropped from Labels, as in Prometheus.
            ("a{b=\"\"} 1\n", "{__name__=\"a\"} 1"),
            // `# EOF` is just a comment in the text format.
            ("a 1\n# EOF\n", "{__name__=\"a\"} 1\nCOMMENT \"EOF\""),
        ],
        false,
        false,
    );
}

#[test]
fn openmetrics() {
    check(
        &[
            (
                "# HELP go_gc_duration_seconds A summary of the GC invocation durations.\n\
                 # TYPE go_gc_duration_seconds summary\n\
                 # UNIT go_gc_duration_seconds seconds\n\
                 go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05\n\
                 go_gc_duration_seconds_sum 0.004304266\n\
                 go_gc_duration_seconds_count 99\n\
                 # HELP nohelp1 \n\
                 # HELP help2 escape \\ \\n \\\\ \\\" \\x chars\n\
                 # TYPE foo counter\n\
                 foo_total 17.0 1520879607.789 # {id=\"counter-test\"} 5\n\
                 # TYPE bar histogram\n\
                 bar_bucket{le=\"0.1\"} 8 # {id=\"a\"} 0.05 123.321\n\
                 bar_bucket{le=\"+Inf\"} 17\n\
                 bar_count 17\n\
                 bar_sum 324789.3\n\
                 # TYPE gh gaugehistogram\n\
                 gh_bucket{le=\"+Inf\"} 3\n\
                 gh_gcount 3\n\
                 gh_gsum 2\n\
                 # TYPE ii info\n\
                 ii_info{foo=\"bar\"} 1\n\
                 # TYPE ss stateset\n\
                 ss{ss=\"a\"} 1\n\
                 ss{ss=\"b\"} 0\n\
                 # TYPE un unknown\n\
                 un -Inf\n\
                 {\"a.b\",c=\"d\"} 1 -1.5\n\
                 # EOF\n",
                "HELP go_gc_duration_seconds \"A summary of the GC invocation durations.\"\n\
                 TYPE go_gc_duration_seconds summary\n\
                 UNIT go_gc_duration_seconds seconds\n\
                 {__name__=\"go_gc_duration_seconds\", quantile=\"0\"} 4.9351e-05\n\
                 {__name__=\"go_gc_duration_seconds_sum\"} 0.004304266\n\
                 {__name__=\"go_gc_duration_seconds_count\"} 99\n\
                 HELP nohelp1 \"\"\n\
                 HELP help2 \"escape \\\\ \\n \\\\ \\\" \\\\x chars\"\n\
                 TYPE foo counter\n\
                 {__name__=\"foo_total\"} 17 @1520879607789 # {id=\"counter-test\"} 5\n\
                 TYPE bar histogram\n\
                 {__name__=\"bar_bucket\", le=\"0.1\"} 8 # {id=\"a\"} 0.05 @123321\n\
                 {__name__=\"bar_bucket\", le=\"+Inf\"} 17\n\
                 {__name__=\"bar_count\"} 17\n\
                 {__name__=\"bar_sum\"} 324789.3\n\
                 TYPE gh gaugehistogram\n\
                 {__name__=\"gh_bucket\", le=\"+Inf\"} 3\n\
                 {__name__=\"gh_gcount\"} 3\n\
                 {__name__=\"gh_gsum\"} 2\n\
                 TYPE ii info\n\
                 {__name__=\"ii_info\", foo=\"bar\"} 1\n\
                 TYPE ss stateset\n\
                 {__name__=\"ss\", ss=\"a\"} 1\n\
                 {__name__=\"ss\", ss=\"b\"} 0\n\
                 TYPE un unknown\n\
                 {__name__=\"un\"} -Inf\n\
                 {__name__=\"a.b\", c=\"d\"} 1 @-1500",
            ),
            // `# EOF` without a final newline; an exemplar with no labels.
            ("a_total 1 # {} 2\n# EOF", "{__name__=\"a_total\"} 1 # {} 2"),
            // A gauge `foo` and a separate family `foo_total` are not interleaved.
            (
                "# TYPE foo gauge\nfoo 1\n# TYPE foo_total counter\nfoo_total 2\n# EOF\n",
                "TYPE foo gauge\n{__name__=\"foo\"} 1\nTYPE foo_total counter\n{__name__=\"foo_total\"} 2",
            ),
        ],
        true,
        false,
    );
}

#[test]
fn openmetrics_created_timestamps() {
    let input = "# TYPE c counter\n\
                 c_total{a=\"1\"} 1\n\
                 c_created{a=\"1\"} 1000.5\n\
                 c_total{a=\"2\"} 2\n\
                 c_created{a=\"2\"} 2000\n\
                 # TYPE h histogram\n\
                 h_bucket{le=\"1\"} 1\n\
                 h_bucket{le=\"+Inf\"} 2\n\
                 h_count 2\n\
                 h_sum 3\n\
                 h_created 7\n\
                 # TYPE g gauge\n\
                 g 1\n\
                 # EOF\n";
    check(
        &[(
            input,
            "TYPE c counter\n\
             {__name__=\"c_total\", a=\"1\"} 1 ct=1000500\n\
             {__name__=\"c_total\", a=\"2\"} 2 ct=2000000\n\
             TYPE h histogram\n\
             {__name__=\"h_bucket\", le=\"1\"} 1 ct=7000\n\
             {__name__=\"h_bucket\", le=\"+Inf\"} 2 ct=7000\n\
             {__name__=\"h_count\"} 2 ct=7000\n\
             {__name__=\"h_sum\"} 3 ct=7000\n\
             TYPE g gauge\n\
             {__name__=\"g\"} 1",
        )],
        true,
        true,
    );
    // Without the option, `_created` lines are plain samples.
    let plain = render(TextParser::<true>::new(input));
    assert_eq!(plain.matches("_created").count(), 3);
    assert!(!plain.contains("ct="));
}
