//! Template expansion with exactly the rules of Go's `regexp.Expand`.
//!
//! The `regex` crate's `Captures::expand` is close but not the same, and a relabel rule
//! must produce Prometheus's label names byte for byte:
//!
//! - a name after `$` is the longest run of Unicode letters (general category L), decimal
//!   digits (Nd) and `_`; `regex` stops at ASCII-only word characters;
//! - inside `${…}` the same characters are required (`${a-b}` is not a reference, so the
//!   `$` stays literal); `regex` accepts anything up to the brace;
//! - a number with a leading zero (`$01`) or of 1e8 or more is a *name*, which no group
//!   has, so it expands to nothing; `regex` reads `$01` as group 1;
//! - `$$` is a literal `$`, and a `$` that starts no reference is kept as it is.
//!
//! As in Go, `$1x` is the group named `1x` (empty), not group 1 followed by `x`: write
//! `${1}x`. A group that did not take part in the match expands to nothing.

use std::sync::LazyLock;

use regex::CaptureLocations;

/// Non-ASCII characters allowed in a reference name: Go's `unicode.IsLetter` and
/// `unicode.IsDigit`.
static NAME_CHAR: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[\p{L}\p{Nd}]$").expect("the name-character class compiles")
});

fn is_name_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_'
    } else {
        NAME_CHAR.is_match(c.encode_utf8(&mut [0; 4]))
    }
}

/// The groups of one match, as spans into the matched string.
pub(crate) enum Groups<'a> {
    /// The default regex `(.*)` matched a string of this length: groups 0 and 1 are all
    /// of it, and there are no named groups.
    Whole(usize),
    /// A regex engine's match.
    Located {
        locs: &'a CaptureLocations,
        re: &'a regex::Regex,
    },
}

impl Groups<'_> {
    fn number(&self, i: usize) -> Option<(usize, usize)> {
        match self {
            Groups::Whole(len) => (i <= 1).then_some((0, *len)),
            Groups::Located { locs, .. } => locs.get(i),
        }
    }

    fn name(&self, name: &str) -> Option<(usize, usize)> {
        match self {
            Groups::Whole(_) => None,
            // Go takes the first group of that name that took part in the match.
            Groups::Located { locs, re } => re
                .capture_names()
                .enumerate()
                .filter(|(_, n)| *n == Some(name))
                .find_map(|(i, _)| locs.get(i)),
        }
    }
}

/// A parsed reference: a group number or a group name.
enum Ref<'t> {
    Number(usize),
    Name(&'t str),
}

/// Parses the reference after a `$`: `name` or `{name}`. Returns it and the rest of the
/// template, or `None` when the text starts no valid reference.
fn extract(s: &str) -> Option<(Ref<'_>, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let len = body
        .char_indices()
        .find(|&(_, c)| !is_name_char(c))
        .map_or(body.len(), |(i, _)| i);
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let rest = if braced {
        body[len..].strip_prefix('}')?
    } else {
        &body[len..]
    };
    // Go's loop: stop (and treat as a name) at a non-digit or once the value so far
    // reaches 1e8, so no number overflows; a leading zero also makes it a name.
    let mut num = Some(0usize);
    for b in name.bytes() {
        match num {
            Some(n) if b.is_ascii_digit() && n < 100_000_000 => {
                num = Some(n * 10 + usize::from(b - b'0'));
            }
            _ => {
                num = None;
                break;
            }
        }
    }
    if name.len() > 1 && name.starts_with('0') {
        num = None;
    }
    let r = match num {
        Some(n) => Ref::Number(n),
        None => Ref::Name(name),
    };
    Some((r, rest))
}

/// Appends `template` to `dst` with every `$` reference replaced by its group in `src`.
pub(crate) fn expand(template: &str, src: &str, groups: &Groups<'_>, dst: &mut String) {
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        dst.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            dst.push('$');
            rest = after;
            continue;
        }
        let Some((r, after)) = extract(rest) else {
            dst.push('$');
            continue;
        };
        rest = after;
        let span = match r {
            Ref::Number(n) => groups.number(n),
            Ref::Name(name) => groups.name(name),
        };
        if let Some((start, end)) = span {
            dst.push_str(&src[start..end]);
        }
    }
    dst.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expands `template` against `re` matched (anchored) on `src`.
    fn run(re: &str, src: &str, template: &str) -> String {
        let re = regex::Regex::new(&format!("^(?s:{re})$")).unwrap();
        let mut locs = re.capture_locations();
        assert!(
            re.captures_read(&mut locs, src).is_some(),
            "{re} on {src:?}"
        );
        let mut out = String::new();
        expand(
            template,
            src,
            &Groups::Located {
                locs: &locs,
                re: &re,
            },
            &mut out,
        );
        out
    }

    #[test]
    fn go_expand_rules() {
        let cases: &[(&str, &str, &str, &str)] = &[
            // (regex, input, template, expected)
            ("(a)(b)", "ab", "$1-$2", "a-b"),
            ("(a)(b)", "ab", "${1}x", "ax"),
            ("(a)(b)", "ab", "$1x", ""), // the group named `1x`
            ("(a)(b)", "ab", "$0", "ab"),
            ("(a)(b)", "ab", "$3", ""),           // no such group
            ("(a)(b)", "ab", "$01", ""),          // leading zero: a name
            ("(a)(b)", "ab", "${01}", ""),        // likewise in braces
            ("(a)(b)", "ab", "$$1", "$1"),        // `$$` is a dollar
            ("(a)(b)", "ab", "x$", "x$"),         // trailing dollar kept
            ("(a)(b)", "ab", "$-", "$-"),         // no name: dollar kept
            ("(a)(b)", "ab", "${1", "${1"),       // unclosed brace
            ("(a)(b)", "ab", "${}", "${}"),       // empty name
            ("(a)(b)", "ab", "${a-b}", "${a-b}"), // `-` is not a name character
            ("(a)(b)", "ab", "$1.$2", "a.b"),
            ("(?P<x>a)(b)", "ab", "$x|${x}|$2", "a|a|b"),
            ("(?P<x>a)(b)", "ab", "$xy", ""),     // the name is `xy`
            ("(?P<名>a)(b)", "ab", "$名-", "a-"), // Unicode letters form names
            ("(?P<x>a)(b)", "ab", "$x\u{e9}", ""), // `é` extends the name
            ("(a)|(b)", "b", "[$1][$2]", "[][b]"), // non-participating group is empty
            ("(a)(b)", "ab", "$100000000", ""),   // too large: a name
            ("(a)(b)", "ab", "$١", ""), // an Arabic-Indic digit is a name character, not a number
        ];
        for &(re, src, template, want) in cases {
            assert_eq!(
                run(re, src, template),
                want,
                "{re} on {src:?} with {template:?}"
            );
        }
    }

    #[test]
    fn whole_groups() {
        let mut out = String::new();
        expand("<$0|$1|$2|${1}>", "val", &Groups::Whole(3), &mut out);
        assert_eq!(out, "<val|val||val>");
    }
}
