//! Parses every expression of Prometheus's promqltest scripts (`eval` lines) and checks
//! that it parses (or fails exactly as the script expects), and that its canonical form
//! parses back to the same tree.

use std::path::Path;

use promlite_promql::{Parser, ParserOptions};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/promql"
);

/// One `eval` command: file, line, expression and (for failures) the expected message.
struct Eval {
    file: String,
    line: usize,
    expr: String,
    expected_parse_error: Option<String>,
}

/// Splits off the first whitespace-separated word.
fn word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

/// The expression of an `eval` line, following promqltest's two line patterns.
fn eval_expr(line: &str) -> Option<String> {
    let (cmd, rest) = word(line)?;
    if !cmd.starts_with("eval") {
        return None;
    }
    let (kind, mut rest) = word(rest)?;
    match kind {
        "instant" => {
            let (w, r) = word(rest)?;
            if w == "at" {
                let (_, r) = word(r)?;
                rest = r;
            }
        }
        "range" => {
            for keyword in ["from", "to", "step"] {
                let (w, r) = word(rest)?;
                assert_eq!(w, keyword, "malformed range eval: {line}");
                let (_, r) = word(r)?;
                rest = r;
            }
        }
        other => panic!("unknown eval kind {other:?} in {line}"),
    }
    Some(rest.trim().to_owned())
}

fn load() -> Vec<Eval> {
    let dir = Path::new(DIR);
    assert!(
        dir.is_dir(),
        "conformance data missing: {} (expected ../shared/conformance next to the repo)",
        dir.display()
    );
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(expr) = eval_expr(line) else {
                continue;
            };
            // A failure message that is a parse error means the script expects the
            // expression itself to be rejected.
            let mut expected_parse_error = None;
            for follow in lines[i + 1..].iter().take_while(|l| !l.trim().is_empty()) {
                let f = follow.trim();
                let msg = f
                    .strip_prefix("expected_fail_message")
                    .or_else(|| f.strip_prefix("expect fail msg:"));
                if let Some(msg) = msg
                    && msg.contains("parse error")
                {
                    expected_parse_error = Some(msg.trim().to_owned());
                }
            }
            out.push(Eval {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                line: i + 1,
                expr,
                expected_parse_error,
            });
        }
    }
    out
}

#[test]
fn every_conformance_expression_parses_and_round_trips() {
    let evals = load();
    // promqltest enables every experimental feature.
    let parser = Parser::new(ParserOptions::all());
    let mut failures = Vec::new();
    let mut parsed = 0;
    for ev in &evals {
        let result = parser.parse(&ev.expr);
        match (&ev.expected_parse_error, result) {
            (None, Ok(expr)) => {
                parsed += 1;
                let printed = expr.to_string();
                match parser.parse(&printed) {
                    Ok(mut again) => {
                        let mut orig = expr.clone();
                        orig.normalize();
                        again.normalize();
                        if orig != again {
                            failures.push(format!(
                                "{}:{}: round trip changed the tree\n  input:   {}\n  printed: {printed}",
                                ev.file, ev.line, ev.expr
                            ));
                        }
                    }
                    Err(e) => failures.push(format!(
                        "{}:{}: printed form does not parse\n  input:   {}\n  printed: {printed}\n  error:   {e}",
                        ev.file, ev.line, ev.expr
                    )),
                }
            }
            (None, Err(e)) => failures.push(format!(
                "{}:{}: does not parse\n  input:    {}\n  expected: success\n  actual:   {e}",
                ev.file, ev.line, ev.expr
            )),
            (Some(want), Err(e)) if e.to_string().ends_with(want.as_str()) => parsed += 1,
            (Some(want), other) => failures.push(format!(
                "{}:{}: wrong outcome\n  input:    {}\n  expected: {want}\n  actual:   {:?}",
                ev.file,
                ev.line,
                ev.expr,
                other.map(|e| e.to_string())
            )),
        }
    }
    eprintln!(
        "conformance: {parsed} of {} eval expressions behave as expected",
        evals.len()
    );
    assert!(evals.len() > 2000, "only {} eval lines found", evals.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn experimental_scripts_need_their_switches() {
    // With Prometheus's default options, expressions using experimental syntax fail with
    // a message naming the feature rather than a confusing syntax error.
    let default = Parser::new(ParserOptions::new());
    let mut rejected = 0;
    for ev in load().iter().filter(|e| e.expected_parse_error.is_none()) {
        if let Err(e) = default.parse(&ev.expr) {
            rejected += 1;
            let msg = e.message();
            assert!(
                msg.contains("experimental") || msg.contains("not enabled") || msg.contains("fill"),
                "{}:{}: {} fails by default with an unrelated error: {e}",
                ev.file,
                ev.line,
                ev.expr
            );
        }
    }
    assert!(rejected > 0);
}
