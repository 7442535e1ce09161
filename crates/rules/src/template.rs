//! A syntax check of the Go templates in alerting rules' labels and annotations.
//!
//! Prometheus parses each label and annotation value of an alerting rule with Go's
//! `text/template`, after the definitions of `$labels`, `$externalLabels`,
//! `$externalURL` and `$value`, and rejects the rule when parsing fails. This module
//! checks what that parse checks in practice, with Go's messages: unclosed actions,
//! comments and strings; characters that cannot appear in an action (`unexpected "*" in
//! operand`); undefined variables; functions that Prometheus does not define; and
//! `{{if}}`/`{{range}}`/`{{with}}`/`{{define}}`/`{{block}}` balanced by `{{end}}`.
//!
//! Known gap: this is not a full Go template parser. Variable scopes end with the file,
//! not with the enclosing `{{end}}`; the shape of pipelines and arguments (`{{ if }}`
//! with no condition, a `range` over two pipelines) is not checked. Such templates are
//! accepted here and rejected by Prometheus.

use promlite_model::go_quote;

/// Functions a template may call: Go's built-ins and Prometheus's template functions.
const FUNCTIONS: &[&str] = &[
    // Go's text/template.
    "and",
    "call",
    "html",
    "index",
    "slice",
    "js",
    "len",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "ne",
    // Prometheus's template package.
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "args",
    "reReplaceAll",
    "safeHtml",
    "match",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "sortByLabel",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "toDuration",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "now",
    "urlQueryEscape",
    "stripPort",
    "stripDomain",
];

/// Words with a meaning of their own inside an action.
const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
    "nil", "true", "false",
];

/// Variables every alert template starts with.
const PREDEFINED: &[&str] = &["$", "$labels", "$externalLabels", "$externalURL", "$value"];

/// Checks `text` as Prometheus checks an alert template named `__alert_NAME`; the error
/// is Go's (`template: __alert_A:1: undefined variable "$label"`).
pub(crate) fn check(alert: &str, text: &str) -> Result<(), String> {
    check_inner(text).map_err(|(line, msg)| format!("template: __alert_{alert}:{line}: {msg}"))
}

fn check_inner(text: &str) -> Result<(), (usize, String)> {
    let mut vars: Vec<String> = PREDEFINED.iter().map(|s| (*s).to_owned()).collect();
    let mut open: Vec<usize> = Vec::new();
    let mut rest = text;
    let mut line = 1;
    while let Some(start) = rest.find("{{") {
        line += rest[..start].matches('\n').count();
        let action_line = line;
        let mut body = &rest[start + 2..];
        if let Some(b) = body.strip_prefix("- ") {
            body = b;
        }
        // A comment: `{{/* … */}}`, closed right after.
        if let Some(c) = body
            .trim_start_matches([' ', '\t', '\r', '\n'])
            .strip_prefix("/*")
        {
            let Some(end) = c.find("*/") else {
                return Err((action_line, "unclosed comment".into()));
            };
            let after = &c[end + 2..];
            let after = after.strip_prefix(" -").unwrap_or(after);
            let Some(after) = after.strip_prefix("}}") else {
                return Err((action_line, "comment ends before closing delimiter".into()));
            };
            line = action_line + text_lines(&rest[start..rest.len() - after.len()]);
            rest = after;
            continue;
        }
        let (tokens, after) = lex_action(body).map_err(|m| (action_line, m))?;
        line = action_line + text_lines(&rest[start..rest.len() - after.len()]);
        rest = after;
        check_action(&tokens, &mut vars, &mut open, action_line)?;
    }
    if !open.is_empty() {
        return Err((line + text_lines(rest), "unexpected EOF".into()));
    }
    Ok(())
}

fn text_lines(s: &str) -> usize {
    s.matches('\n').count()
}

#[derive(Debug, PartialEq)]
enum Tok<'a> {
    /// An identifier: a function or keyword.
    Ident(&'a str),
    /// `$name`, with any field chain dropped.
    Var(&'a str),
    /// `:=`.
    Declare,
    /// Anything else that is valid: fields, strings, numbers, `|`, `(`, `)`, `,`, `=`.
    Other,
}

/// Splits one action into tokens; returns them and the text after `}}`.
fn lex_action(body: &str) -> Result<(Vec<Tok<'_>>, &str), String> {
    let mut toks = Vec::new();
    let b = body.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    loop {
        let Some(&c) = b.get(i) else {
            return Err("unclosed action".into());
        };
        if body[i..].starts_with("}}") {
            return Ok((toks, &body[i + 2..]));
        }
        if body[i..].starts_with(" -}}") {
            return Ok((toks, &body[i + 4..]));
        }
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'"' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None | Some(b'\n') => return Err("unterminated quoted string".into()),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        _ => i += 1,
                    }
                }
                i += 1;
                toks.push(Tok::Other);
            }
            b'`' => {
                let Some(end) = body[i + 1..].find('`') else {
                    return Err("unterminated raw quoted string".into());
                };
                i += end + 2;
                toks.push(Tok::Other);
            }
            b'\'' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None | Some(b'\n') => {
                            return Err("unterminated character constant".into());
                        }
                        Some(b'\\') => i += 2,
                        Some(b'\'') => break,
                        _ => i += 1,
                    }
                }
                i += 1;
                toks.push(Tok::Other);
            }
            b':' => {
                if b.get(i + 1) != Some(&b'=') {
                    return Err("expected :=".into());
                }
                i += 2;
                toks.push(Tok::Declare);
            }
            b'=' | b'|' | b',' => {
                i += 1;
                toks.push(Tok::Other);
            }
            b'(' => {
                depth += 1;
                i += 1;
                toks.push(Tok::Other);
            }
            b')' => {
                if depth == 0 {
                    return Err("unexpected right paren".into());
                }
                depth -= 1;
                i += 1;
                toks.push(Tok::Other);
            }
            b'$' => {
                let end = word_end(body, i + 1);
                toks.push(Tok::Var(&body[i..end]));
                i = field_chain_end(body, end);
            }
            b'.' => {
                i = field_chain_end(body, i);
                toks.push(Tok::Other);
            }
            b'+' | b'-' | b'0'..=b'9' => {
                i += 1;
                while b.get(i).is_some_and(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'-')
                }) {
                    i += 1;
                }
                toks.push(Tok::Other);
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let end = word_end(body, i);
                let end = end.max(i + body[i..].chars().next().map_or(1, char::len_utf8));
                toks.push(Tok::Ident(&body[i..end]));
                i = field_chain_end(body, end);
            }
            _ => {
                let ch = body[i..].chars().next().unwrap_or('?');
                return Err(format!(
                    "unexpected {} in operand",
                    go_quote(ch.encode_utf8(&mut [0; 4]))
                ));
            }
        }
    }
}

fn word_end(s: &str, from: usize) -> usize {
    s[from..]
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(s.len(), |(j, _)| from + j)
}

/// Skips `.name.name…` after a term.
fn field_chain_end(s: &str, mut i: usize) -> usize {
    while s[i..].starts_with('.') {
        i = word_end(s, i + 1);
    }
    i
}

fn check_action(
    toks: &[Tok<'_>],
    vars: &mut Vec<String>,
    open: &mut Vec<usize>,
    line: usize,
) -> Result<(), (usize, String)> {
    let mut rest = toks;
    match toks.first() {
        Some(Tok::Ident("if" | "range" | "with" | "define" | "block")) => {
            open.push(line);
            rest = &toks[1..];
        }
        Some(Tok::Ident("end")) => {
            if open.pop().is_none() {
                return Err((line, "unexpected {{end}}".into()));
            }
            return Ok(());
        }
        Some(Tok::Ident("else")) => {
            if open.is_empty() {
                return Err((line, "unexpected {{else}}".into()));
            }
            rest = &toks[1..];
            if let Some(Tok::Ident("if" | "with")) = rest.first() {
                rest = &rest[1..];
            }
        }
        _ => {}
    }
    // Variables before `:=` are declared, not used.
    if let Some(d) = rest.iter().position(|t| *t == Tok::Declare) {
        for t in &rest[..d] {
            if let Tok::Var(v) = t {
                vars.push((*v).to_owned());
            }
        }
        rest = &rest[d + 1..];
    }
    for t in rest {
        match t {
            Tok::Var(v) if !vars.iter().any(|d| d == v) => {
                return Err((line, format!("undefined variable {}", go_quote(v))));
            }
            Tok::Ident(f) if !FUNCTIONS.contains(f) && !KEYWORDS.contains(f) => {
                return Err((line, format!("function {} not defined", go_quote(f))));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

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
            (
                "x\n{{ $label.foo }}",
                Some(r#"2: undefined variable "$label""#),
            ),
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
}
