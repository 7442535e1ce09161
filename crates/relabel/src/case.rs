//! Letter-case mapping as Go's `strings.ToLower` and `strings.ToUpper` do it.
//!
//! Go maps each character on its own with Unicode's *simple* case mapping (one character
//! to one character). Rust's `to_lowercase`/`to_uppercase` use the *full* mapping, which
//! turns a few characters into several (`ß` → `SS`, `İ` → `i̇`) and treats a final sigma
//! specially. The `lowercase`/`uppercase` actions must produce Prometheus's values, so we
//! take Rust's per-character mapping where it is one character, and the simple mapping
//! from the table below where it is not.

/// Appends `s` in lower case to `out`.
pub(crate) fn push_lower(out: &mut String, s: &str) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        return;
    }
    for c in s.chars() {
        let mut m = c.to_lowercase();
        match (m.next(), m.next()) {
            (Some(l), None) => out.push(l),
            // Only U+0130 (capital I with dot above) lowercases to several characters;
            // its simple mapping is a plain `i`.
            _ => out.push(if c == '\u{130}' { 'i' } else { c }),
        }
    }
}

/// Appends `s` in upper case to `out`.
pub(crate) fn push_upper(out: &mut String, s: &str) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| char::from(b.to_ascii_uppercase())));
        return;
    }
    for c in s.chars() {
        let mut m = c.to_uppercase();
        match (m.next(), m.next()) {
            (Some(u), None) => out.push(u),
            _ => out.push(simple_upper(c)),
        }
    }
}

/// The simple uppercase of a character whose full uppercase is several characters.
/// Of those (`ß`, ligatures, Greek letters with breathing marks…) only the Greek letters
/// with iota subscript have a simple mapping: the titlecase form. The rest stay as they are.
fn simple_upper(c: char) -> char {
    let n = u32::from(c);
    let mapped = match n {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => n + 8,
        0x1FB3 => 0x1FBC,
        0x1FC3 => 0x1FCC,
        0x1FF3 => 0x1FFC,
        _ => n,
    };
    char::from_u32(mapped).unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lower(s: &str) -> String {
        let mut o = String::new();
        push_lower(&mut o, s);
        o
    }

    fn upper(s: &str) -> String {
        let mut o = String::new();
        push_upper(&mut o, s);
        o
    }

    #[test]
    fn matches_go_simple_mapping() {
        assert_eq!(lower("bAr123Foo"), "bar123foo");
        assert_eq!(upper("bAr123Foo"), "BAR123FOO");
        assert_eq!(upper("straße"), "STRAßE"); // Go keeps ß
        assert_eq!(lower("İstanbul"), "istanbul"); // Go: plain i, no combining dot
        assert_eq!(lower("ΟΔΟΣ"), "οδοσ"); // no final-sigma rule
        assert_eq!(upper("ﬁ"), "ﬁ"); // ligature has no simple uppercase
        assert_eq!(upper("ᾳ"), "ᾼ"); // iota subscript: titlecase form
        assert_eq!(upper("ᾀ"), "ᾈ");
        assert_eq!(upper("ᾈ"), "ᾈ");
        assert_eq!(lower("ǅ"), "ǆ");
        assert_eq!(upper("ǅ"), "Ǆ");
        assert_eq!(upper("ŉ"), "ŉ");
        assert_eq!(lower("K"), "k"); // Kelvin sign
    }
}
