//! Go's `strconv.Quote`, which Prometheus uses wherever it prints a string: label sets,
//! matchers and PromQL string literals. Matching it byte for byte keeps our output equal
//! to Prometheus's in error messages, `format_query` and test expectations.

use std::fmt::{self, Write};

/// Writes `s` as a double-quoted Go string literal.
pub fn write_go_quoted<W: Write + ?Sized>(w: &mut W, s: &str) -> fmt::Result {
    w.write_char('"')?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\u{7}' => Some("\\a"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{b}' => Some("\\v"),
            _ => None,
        };
        if esc.is_none() && is_go_printable(c) {
            continue;
        }
        w.write_str(&s[start..i])?;
        start = i + c.len_utf8();
        if let Some(e) = esc {
            w.write_str(e)?;
        } else {
            let n = u32::from(c);
            if n < 0x80 {
                write!(w, "\\x{n:02x}")?;
            } else if n < 0x1_0000 {
                write!(w, "\\u{n:04x}")?;
            } else {
                write!(w, "\\U{n:08x}")?;
            }
        }
    }
    w.write_str(&s[start..])?;
    w.write_char('"')
}

/// `s` as a double-quoted Go string literal.
///
/// ```
/// assert_eq!(promlite_model::go_quote("a\"b\n\u{1}"), r#""a\"b\n\x01""#);
/// ```
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    // Writing into a String cannot fail.
    let _ = write_go_quoted(&mut out, s);
    out
}

/// An approximation of Go's `unicode.IsPrint`: graphic characters and the ASCII space.
fn is_go_printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
        || ('\u{e000}'..='\u{f8ff}').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::go_quote;

    #[test]
    fn matches_go_strconv_quote() {
        let cases = [
            ("", r#""""#),
            ("plain", r#""plain""#),
            ("tab\there", r#""tab\there""#),
            ("\u{7f}", r#""\x7f""#),
            ("\u{0}", r#""\x00""#),
            ("\u{85}", r#""\u0085""#),
            ("日本", r#""日本""#),
            ("\u{a0}", r#""\u00a0""#),
            ("\u{feff}", r#""\ufeff""#),
            ("\\", r#""\\""#),
        ];
        for (input, want) in cases {
            assert_eq!(go_quote(input), want, "input {input:?}");
        }
    }
}
