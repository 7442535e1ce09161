//! Go's RE2 syntax as Rust's `regex` crate reads it. The two agree on nearly everything
//! Prometheus users write; the differences that change what matches are rewritten here:
//!
//! - Perl classes `\d \w \s` (and `\D \W \S`) are ASCII-only in Go, Unicode-aware in
//!   Rust: they become explicit ASCII classes (`[0-9]`, `[0-9A-Za-z_]`, `[\t\n\f\r ]`).
//! - `\Q…\E` literal quoting exists in Go only: its text is escaped instead.
//!
//! Everything else passes through unchanged, so positions in error messages from the
//! regex crate still point into the user's pattern when nothing was rewritten.

use std::borrow::Cow;

fn class_body(c: char) -> Option<&'static str> {
    match c {
        'd' => Some("0-9"),
        'w' => Some("0-9A-Za-z_"),
        's' => Some("\\t\\n\\f\\r "),
        _ => None,
    }
}

/// Rewrites a Go (RE2) regular expression into one Rust's `regex` crate matches the same
/// strings with.
///
/// ```
/// use promlite_model::go_regex_to_rust;
/// assert_eq!(go_regex_to_rust(r"a\d+"), r"a[0-9]+");
/// assert_eq!(go_regex_to_rust(r"[\w.]"), r"[0-9A-Za-z_.]");
/// assert_eq!(go_regex_to_rust(r"\Qa.b\E"), r"a\.b");
/// assert_eq!(go_regex_to_rust("plain|text"), "plain|text");
/// ```
pub fn go_regex_to_rust(pattern: &str) -> Cow<'_, str> {
    if !pattern.contains('\\') {
        return Cow::Borrowed(pattern);
    }
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut changed = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let lower = n.to_ascii_lowercase();
                match (n, class_body(lower)) {
                    (_, Some(body)) => {
                        changed = true;
                        let negated = n.is_ascii_uppercase();
                        match (in_class, negated) {
                            (true, false) => out.push_str(body),
                            // A nested negated class: Rust's class syntax allows it.
                            (true, true) => {
                                out.push_str("[^");
                                out.push_str(body);
                                out.push(']');
                            }
                            (false, neg) => {
                                out.push_str(if neg { "[^" } else { "[" });
                                out.push_str(body);
                                out.push(']');
                            }
                        }
                    }
                    ('Q', None) => {
                        changed = true;
                        // Everything up to `\E` (or the end) is literal.
                        let mut lit = String::new();
                        loop {
                            match chars.next() {
                                None => break,
                                Some('\\') if chars.peek() == Some(&'E') => {
                                    chars.next();
                                    break;
                                }
                                Some(x) => lit.push(x),
                            }
                        }
                        out.push_str(&regex_syntax::escape(&lit));
                    }
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A `]` right after `[` or `[^` is a literal member, not the end.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                // A POSIX class `[:alpha:]` inside a class: copy it whole.
                out.push('[');
                for x in chars.by_ref() {
                    out.push(x);
                    if x == ']' {
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::go_regex_to_rust;

    fn matches(pattern: &str, s: &str) -> bool {
        regex::Regex::new(&format!("^(?s:{})$", go_regex_to_rust(pattern)))
            .unwrap()
            .is_match(s)
    }

    #[test]
    fn perl_classes_are_ascii_like_go() {
        assert!(matches(r"\d+", "123"));
        assert!(!matches(r"\d", "٣")); // Arabic-Indic digit: not a Go \d
        assert!(!matches(r"\w", "é"));
        assert!(matches(r"\W", "é"));
        assert!(matches(r"\s", "\t"));
        assert!(!matches(r"\s", "\u{a0}"));
        assert!(matches(r"[\d_]+", "1_2"));
        assert!(matches(r"[^\d]", "x"));
        assert!(matches(r"[\D]", "x"));
        assert!(!matches(r"[\D]", "1"));
        assert!(matches(r"[]a]", "]"));
        assert!(matches(r"[[:alpha:]\d]+", "a1"));
        assert!(matches(r"\\d", "\\d"));
        assert!(matches(r"\Q1+1\E=2", "1+1=2"));
        assert!(matches(r"\Qa.b", "a.b"));
        assert!(!matches(r"\Qa.b", "axb"));
    }
}
