//! Runs the case table in `parse_cases.txt` (format described at its top): valid queries
//! must print their canonical form and round-trip, invalid ones must fail with the exact
//! Prometheus error text.

use promlite_promql::{Parser, ParserOptions};

const CASES: &str = include_str!("parse_cases.txt");

/// Decodes a `<"..."` input: `\n`, `\t`, `\\`, `\"` and `\xNN` (raw bytes, so inputs
/// that are not UTF-8 can be written).
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 1;
            match b[i] {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'x' => {
                    let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                other => out.push(other),
            }
        } else {
            out.push(b[i]);
        }
        i += 1;
    }
    out
}

fn options(line: &str) -> ParserOptions {
    let mut o = ParserOptions::new();
    for word in line.split_whitespace() {
        o = match word {
            "default" => ParserOptions::new(),
            "all" => ParserOptions::all(),
            "experimental_functions" => o.experimental_functions(true),
            "duration_expressions" => o.duration_expressions(true),
            "extended_range_selectors" => o.extended_range_selectors(true),
            "binop_fill_modifiers" => o.binop_fill_modifiers(true),
            other => panic!("unknown option {other:?}"),
        };
    }
    o
}

#[test]
fn parse_case_table() {
    let mut parser = Parser::new(ParserOptions::new());
    let mut input: Option<(usize, Vec<u8>)> = None;
    let mut failures = Vec::new();
    let mut count = 0;
    for (n, line) in CASES.lines().enumerate() {
        let lineno = n + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("@options") {
            parser = Parser::new(options(rest));
            continue;
        }
        if let Some(q) = line.strip_prefix("<\"") {
            let q = q.strip_suffix('"').expect("quoted input ends with a quote");
            input = Some((lineno, unescape(q)));
            continue;
        }
        if let Some(q) = line.strip_prefix("< ") {
            input = Some((lineno, q.as_bytes().to_vec()));
            continue;
        }
        let (at, query) = input
            .take()
            .unwrap_or_else(|| panic!("line {lineno}: expectation without input"));
        let shown = String::from_utf8_lossy(&query).into_owned();
        count += 1;
        let result = parser.parse_bytes(&query);
        if let Some(want) = line.strip_prefix("> ") {
            let want = if want == "=" { shown.as_str() } else { want };
            match result {
                Ok(expr) => {
                    let printed = expr.to_string();
                    if printed != want {
                        failures.push(format!(
                            "line {at}: {shown}\n  expected: {want}\n  actual:   {printed}"
                        ));
                        continue;
                    }
                    match parser.parse(&printed) {
                        Ok(mut again) => {
                            let mut orig = expr;
                            orig.normalize();
                            again.normalize();
                            if orig != again {
                                failures.push(format!(
                                    "line {at}: {shown}\n  printed form parses to a different tree"
                                ));
                            }
                        }
                        Err(e) => failures.push(format!(
                            "line {at}: {shown}\n  printed form {printed} fails: {e}"
                        )),
                    }
                }
                Err(e) => failures.push(format!(
                    "line {at}: {shown}\n  expected: {want}\n  actual:   {e}"
                )),
            }
        } else if let Some(want) = line.strip_prefix("! ") {
            match result {
                Ok(expr) => failures.push(format!(
                    "line {at}: {shown}\n  expected: {want}\n  actual:   parsed as {expr}"
                )),
                Err(e) if e.to_string() == want => {}
                Err(e) => failures.push(format!(
                    "line {at}: {shown}\n  expected: {want}\n  actual:   {e}"
                )),
            }
        } else {
            panic!("line {lineno}: cannot read {line:?}");
        }
    }
    eprintln!("{count} parse cases");
    assert!(count >= 300, "only {count} cases");
    assert!(
        failures.is_empty(),
        "{} of {count} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
