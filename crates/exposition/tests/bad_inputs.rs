//! Inputs every parser must reject, each with the exact message and line:col. The cases
//! are modelled on Prometheus's `promparse_test.go` and `openmetricsparse_test.go` error
//! tables, plus promlite's stricter OpenMetrics structure rules. One table, one helper;
//! a failure prints the input, the expected and the actual error.

use promlite_exposition::{
    Entry, OpenMetricsOptions, OpenMetricsParser, ParseError, PromParser, TextParser,
};

/// `P`: Prometheus text; `O`: OpenMetrics. Then the input and `line:col: message`.
const CASES: &[(char, &str, &str)] = &[
    (
        'P',
        "a",
        "1:2: expected value after metric, got end of input",
    ),
    ('P', "a{b='c'} 1\n", "1:5: expected label value, got \"'\""),
    ('P', "a{b=\n", "1:5: expected label value, got \"\\n\""),
    (
        'P',
        "{\"a\", \"b = \"c\"}",
        "1:13: expected equal, got \"c\"",
    ),
    ('P', "a true\n", "1:3: invalid float \"true\""),
    (
        'P',
        "something_weird{problem=\"",
        "1:25: expected label value, got \"\\\"\"",
    ),
    (
        'P',
        "empty_label_name{=\"} 0",
        "1:18: expected label name, got \"=\"",
    ),
    ('P', "{A}0", "1:3: expected equal, got \"}\""),
    (
        'P',
        "foo 1_2\n",
        "1:5: unsupported character in float \"1_2\"",
    ),
    (
        'P',
        "foo 0x1p-3\n",
        "1:5: unsupported character in float \"0x1p-3\"",
    ),
    (
        'P',
        "foo 0x1P-3\n",
        "1:5: unsupported character in float \"0x1P-3\"",
    ),
    ('P', "foo 0 1_2\n", "1:7: invalid timestamp \"1_2\""),
    ('P', "{a=\"ok\"} 1", "1:1: metric name not set"),
    (
        'P',
        "# TYPE #\n",
        "1:8: expected metric name after TYPE, got \"#\"",
    ),
    (
        'P',
        "# HELP #\n",
        "1:8: expected metric name after HELP, got \"#\"",
    ),
    (
        'P',
        "a{b=\x00\"ssss\"} 1\n",
        "1:5: expected label value, got \"\\x00\"",
    ),
    (
        'P',
        "a{b\x00=\"hiih\"}\t1",
        "1:4: expected equal, got \"\\x00\"",
    ),
    (
        'P',
        "a\x00{b=\"ddd\"} 1",
        "1:2: expected value after metric, got \"\\x00\"",
    ),
    ('P', "a 0 1\x00", "1:5: invalid timestamp \"1\\0\""),
    ('P', "# TYPE a foo\n", "1:10: invalid metric type \"foo\""),
    ('P', "# TYPE a\n", "1:9: expected text in TYPE"),
    (
        'P',
        "# TYPE\n",
        "1:7: expected metric name after TYPE, got \"\\n\"",
    ),
    (
        'P',
        "a{b=\"c\",b=\"d\"} 1\n",
        "1:11: duplicate label name \"b\"",
    ),
    (
        'P',
        "a{,b=\"c\"} 1\n",
        "1:3: expected label name, got \",\"",
    ),
    (
        'P',
        "a{b=\"c\"d=\"e\"} 1\n",
        "1:8: expected comma or brace close, got \"d\"",
    ),
    (
        'P',
        "a{b=\"c\",,d=\"e\"} 1\n",
        "1:9: expected label name, got \",\"",
    ),
    ('P', "a 1 1.5\n", "1:5: invalid timestamp \"1.5\""),
    (
        'P',
        "a 1 2 3\n",
        "1:7: expected next entry after timestamp, got \"3\"",
    ),
    ('P', "9 1\n", "1:1: expected a valid start token, got \"9\""),
    ('P', "ok 1\nbad{ 1\n", "2:6: expected label name, got \"1\""),
    (
        'P',
        "a 1\n\n  x 1\n",
        "3:1: expected a valid start token, got \" \"",
    ),
    ('P', "{\"a\",\"b\"} 1\n", "1:6: metric name already set"),
    (
        'P',
        "{\"a\",\"\"=\"x\"} 1\n",
        "1:6: invalid label name \"\"",
    ),
    ('P', "{\"\"} 1\n", "1:2: invalid metric name \"\""),
    (
        'P',
        "a{b=\"c\\\"} 1\n",
        "1:5: expected label value, got \"\\\"\"",
    ),
    (
        'P',
        "a{b=\"x\ny\"} 1\n",
        "1:5: expected label value, got \"\\\"\"",
    ),
    (
        'P',
        "a 1 99999999999999999999\n",
        "1:5: invalid timestamp \"99999999999999999999\"",
    ),
    ('P', "a -\n", "1:3: invalid float \"-\""),
    (
        'P',
        "{\"é\",x=1} 1\n",
        "1:8: expected label value, got \"1\"",
    ),
    (
        'P',
        "a{b=\"c\"} \n",
        "1:10: expected value after metric, got \"\\n\"",
    ),
    ('O', "", "1:1: data does not end with # EOF"),
    ('O', "\n", "1:1: expected a valid start token, got \"\\n\""),
    (
        'O',
        "metric",
        "1:7: expected value after metric, got end of input",
    ),
    ('O', "metric 1", "1:9: data does not end with # EOF"),
    ('O', "metric 1\n", "2:1: data does not end with # EOF"),
    (
        'O',
        "a\n# EOF\n",
        "1:2: expected value after metric, got \"\\n\"",
    ),
    (
        'O',
        " a 1\n# EOF\n",
        "1:1: expected a valid start token, got \" \"",
    ),
    (
        'O',
        "9\n# EOF\n",
        "1:1: expected a valid start token, got \"9\"",
    ),
    (
        'O',
        "# TYPE u untyped\n# EOF\n",
        "1:10: invalid metric type \"untyped\"",
    ),
    (
        'O',
        "# TYPE c counter \n# EOF\n",
        "1:10: invalid metric type \"counter \"",
    ),
    (
        'O',
        "#  TYPE c counter\n# EOF\n",
        "1:1: expected a valid start token, got \"#  \"",
    ),
    (
        'O',
        "# TYPE \n# EOF\n",
        "1:8: expected metric name after TYPE, got \"\\n\"",
    ),
    ('O', "# TYPE m\n# EOF\n", "1:9: expected text in TYPE"),
    (
        'O',
        "# UNIT metric suffix\n# EOF\n",
        "1:15: unit \"suffix\" not a suffix of metric \"metric\"",
    ),
    (
        'O',
        "# UNIT metricsuffix suffix\n# EOF\n",
        "1:21: unit \"suffix\" not a suffix of metric \"metricsuffix\"",
    ),
    (
        'O',
        "# UNIT \n# EOF\n",
        "1:8: expected metric name after UNIT, got \"\\n\"",
    ),
    ('O', "# UNIT m\n# EOF\n", "1:9: expected text in UNIT"),
    (
        'O',
        "# HELP \n# EOF\n",
        "1:8: expected metric name after HELP, got \"\\n\"",
    ),
    ('O', "# HELP m\n# EOF\n", "1:9: expected text in HELP"),
    (
        'O',
        "a\t1\n# EOF\n",
        "1:2: expected value after metric, got \"\\t\"",
    ),
    ('O', "a 1\t2\n# EOF\n", "1:3: invalid float \"1\\t2\""),
    (
        'O',
        "a 1 2 \n# EOF\n",
        "1:6: expected next entry after timestamp, got \" \"",
    ),
    (
        'O',
        "a 1 2 #\n# EOF\n",
        "1:8: expected exemplar labels, got \"\\n\"",
    ),
    ('O', "a 1 1z\n# EOF\n", "1:5: invalid float \"1z\""),
    (
        'O',
        " # EOF\n",
        "1:1: expected a valid start token, got \" \"",
    ),
    ('O', "# EOF\na 1", "1:1: unexpected data after # EOF"),
    ('O', "# EOF\n\n", "1:1: unexpected data after # EOF"),
    ('O', "# EOFa 1", "1:1: unexpected data after # EOF"),
    (
        'O',
        "#\tTYPE c counter\n",
        "1:1: expected a valid start token, got \"#\\tT\"",
    ),
    (
        'O',
        "# TYPE c  counter\n",
        "1:10: invalid metric type \" counter\"",
    ),
    (
        'O',
        "a 1 1 1\n# EOF\n",
        "1:6: expected next entry after timestamp, got \" \"",
    ),
    (
        'O',
        "custom_metric_total 1 # {aa=bb}\n# EOF\n",
        "1:29: expected label value, got \"b\"",
    ),
    (
        'O',
        "custom_metric_total 1 # {aa=\"bb\"}\n# EOF\n",
        "1:34: expected value after exemplar labels, got \"\\n\"",
    ),
    (
        'O',
        "custom_metric_total 1 # {aa=\"bb\"}",
        "1:34: expected value after exemplar labels, got end of input",
    ),
    (
        'O',
        "custom_metric_total 1 # {bb}",
        "1:28: expected equal, got \"}\"",
    ),
    (
        'O',
        "custom_metric_total 1 # {bb, a=\"dd\"}",
        "1:28: expected equal, got \",\"",
    ),
    (
        'O',
        "custom_metric_total 1 # {aa=\"bb\",,cc=\"dd\"} 1",
        "1:34: expected label name, got \",\"",
    ),
    (
        'O',
        "custom_metric_total 1 # {aa=\"bb\"} 1_2",
        "1:35: unsupported character in float \"1_2\"",
    ),
    (
        'O',
        "custom_metric_total 1 # {aa=\"bb\"} true",
        "1:35: invalid float \"true\"",
    ),
    (
        'O',
        "custom_metric_total 1 # {aa=\"bb\",cc=}",
        "1:37: expected label value, got \"}\"",
    ),
    ('O', "{b=\"c\",} 1", "1:1: metric name not set"),
    ('O', "a 1 NaN", "1:5: invalid timestamp \"NaN\""),
    ('O', "a 1 -Inf", "1:5: invalid timestamp \"-Inf\""),
    ('O', "a 1 Inf", "1:5: invalid timestamp \"Inf\""),
    (
        'O',
        "# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 NaN",
        "2:39: invalid exemplar timestamp \"NaN\"",
    ),
    (
        'O',
        "# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 -Inf",
        "2:39: invalid exemplar timestamp \"-Inf\"",
    ),
    ('O', "#", "1:1: expected a valid start token, got \"#\""),
    ('O', "# H", "1:1: expected a valid start token, got \"# H\""),
    (
        'S',
        "# TYPE a gauge\n# TYPE a gauge\n# EOF\n",
        "2:1: duplicate TYPE for metric family \"a\"",
    ),
    (
        'S',
        "# HELP a x\n# HELP a y\n# EOF\n",
        "2:1: duplicate HELP for metric family \"a\"",
    ),
    (
        'S',
        "# TYPE a gauge\na 1\n# HELP a late\n# EOF\n",
        "3:1: HELP for metric family \"a\" after its samples",
    ),
    (
        'S',
        "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n# EOF\n",
        "5:1: metric family \"a\" is interleaved with another family",
    ),
    (
        'S',
        "a 1\nb 1\n# TYPE a gauge\n# EOF\n",
        "3:1: metric family \"a\" is interleaved with another family",
    ),
    (
        'O',
        "a{x=\"1\",x=\"2\"} 1\n# EOF\n",
        "1:11: duplicate label name \"x\"",
    ),
    (
        'O',
        "a_total 1 # {trace_id=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"} 1\n# EOF\n",
        "1:13: exemplar labels have 140 UTF-8 characters, more than 128",
    ),
    (
        'O',
        "# TYPE a gauge\na  1\n# EOF\n",
        "2:3: expected value after metric, got \" \"",
    ),
    (
        'O',
        "a 1 # {} 1 2 3\n# EOF\n",
        "1:13: expected next entry after timestamp, got \" \"",
    ),
    ('O', "a{\"b\"} 1\n# EOF\n", "1:3: metric name already set"),
];

/// OpenMetrics with the specification's structural rules on (`strict`).
fn first_error_strict_om(input: &str) -> Option<ParseError> {
    let options = OpenMetricsOptions {
        strict: true,
        ..OpenMetricsOptions::default()
    };
    let mut p = OpenMetricsParser::with_options(input, options);
    loop {
        match p.next() {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
}

fn first_error<const OM: bool>(input: &str) -> Option<ParseError> {
    let mut p = match TextParser::<OM>::from_bytes(input.as_bytes()) {
        Ok(p) => p,
        Err(e) => return Some(e),
    };
    loop {
        match p.next() {
            Ok(Some(
                Entry::Series(_)
                | Entry::Help { .. }
                | Entry::Type { .. }
                | Entry::Unit { .. }
                | Entry::Comment(_)
                | Entry::Histogram(_),
            )) => {}
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
}

#[test]
fn bad_inputs_are_rejected_with_position_and_message() {
    assert!(CASES.len() >= 60, "the table must keep at least 60 cases");
    let mut failures = Vec::new();
    for (i, &(format, input, want)) in CASES.iter().enumerate() {
        let got = match format {
            'P' => first_error::<false>(input),
            'O' => first_error::<true>(input),
            'S' => first_error_strict_om(input),
            f => panic!("case {i}: unknown format {f}"),
        };
        let got = got.map_or_else(|| "<no error>".to_owned(), |e| e.to_string());
        if got != want {
            failures.push(format!(
                "case {i} ({format}) input {input:?}\n  expected: {want}\n  actual:   {got}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn invalid_utf8_is_reported_where_it_starts() {
    let e = PromParser::from_bytes(b"a{b=\"\xff\"} 1\n").err().unwrap();
    assert_eq!(e.to_string(), "1:6: invalid UTF-8");
    let e = OpenMetricsParser::from_bytes(b"# EOF\n\xc3").err().unwrap();
    assert_eq!(e.to_string(), "2:1: invalid UTF-8");
}
