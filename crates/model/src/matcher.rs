//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus's regex anchoring and fast paths.
//!
//! Prometheus wraps every matcher regex as `^(?s:<re>)$`: it must match the whole value
//! and `.` matches newlines. Most regexes users write are literal in disguise (`api`,
//! `a|b|c`, `prefix.*`, `.*suffix`, `.*`, `.+`), so the pattern's syntax tree is inspected
//! once at construction and those shapes are answered with string operations; only the
//! rest run the regex engine. The rewriting is exact: each fast path matches the same
//! strings as the anchored regex.

use std::fmt;

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::Error;
use crate::names::is_valid_legacy_label_name;
use crate::quote::write_go_quoted;

/// The four matching operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regexp,
    /// `!~`
    NotRegexp,
}

impl MatchType {
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a regex matcher decides, chosen once from the pattern's shape.
#[derive(Clone, Debug)]
enum Fast {
    /// `.*`
    Any,
    /// `.+`
    NonEmpty,
    /// A fixed string (also the empty pattern).
    Literal(String),
    /// An alternation of fixed strings, sorted for binary search.
    Set(Vec<String>),
    /// `lit.*`
    Prefix(String),
    /// `.*lit`
    Suffix(String),
    /// `.*lit.*`
    Contains(String),
    /// Anything else: the anchored regex.
    Regex(regex::Regex),
}

/// A label matcher: a label name, an operator and a value or pattern.
///
/// A series without the label is matched as if its value were the empty string, as in
/// Prometheus: `{env=""}` selects series that have no `env`.
///
/// ```
/// use promlite_model::{MatchType, Matcher};
///
/// let m = Matcher::new(MatchType::Regexp, "job", "api|web").unwrap();
/// assert!(m.matches("web"));
/// assert!(!m.matches("webserver")); // anchored
/// assert_eq!(m.to_string(), r#"job=~"api|web""#);
/// assert_eq!(m.set_matches(), Some(&["api".to_string(), "web".to_string()][..]));
/// ```
#[derive(Clone)]
pub struct Matcher {
    name: String,
    match_type: MatchType,
    value: String,
    fast: Option<Fast>,
}

impl Matcher {
    /// Builds a matcher; regex operators compile `value` anchored as Prometheus does.
    pub fn new(
        match_type: MatchType,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, Error> {
        let value = value.into();
        let fast = match match_type {
            MatchType::Regexp | MatchType::NotRegexp => Some(compile(&value)?),
            MatchType::Equal | MatchType::NotEqual => None,
        };
        Ok(Matcher {
            name: name.into(),
            match_type,
            value,
            fast,
        })
    }

    /// `name="value"`; cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            name: name.into(),
            match_type: MatchType::Equal,
            value: value.into(),
            fast: None,
        }
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn match_type(&self) -> MatchType {
        self.match_type
    }

    /// The value or pattern as written.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value (empty when the label is absent) matches.
    #[inline]
    pub fn matches(&self, v: &str) -> bool {
        match self.match_type {
            MatchType::Equal => v == self.value,
            MatchType::NotEqual => v != self.value,
            MatchType::Regexp => self.regex_matches(v),
            MatchType::NotRegexp => !self.regex_matches(v),
        }
    }

    fn regex_matches(&self, v: &str) -> bool {
        match &self.fast {
            Some(Fast::Any) => true,
            Some(Fast::NonEmpty) => !v.is_empty(),
            Some(Fast::Literal(s)) => v == s,
            Some(Fast::Set(set)) => {
                if set.len() <= 8 {
                    set.iter().any(|s| s == v)
                } else {
                    set.binary_search_by(|s| s.as_str().cmp(v)).is_ok()
                }
            }
            Some(Fast::Prefix(p)) => v.starts_with(p.as_str()),
            Some(Fast::Suffix(s)) => v.ends_with(s.as_str()),
            Some(Fast::Contains(s)) => v.contains(s.as_str()),
            Some(Fast::Regex(re)) => re.is_match(v),
            None => false,
        }
    }

    /// Whether the empty string (an absent label) matches.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For `=` and for `=~` patterns that are a finite set of strings, that set. Storage
    /// uses it to look values up in an index instead of scanning every value.
    pub fn set_matches(&self) -> Option<&[String]> {
        match (self.match_type, &self.fast) {
            (MatchType::Equal, _) => Some(std::slice::from_ref(&self.value)),
            (MatchType::Regexp, Some(Fast::Literal(s))) => Some(std::slice::from_ref(s)),
            (MatchType::Regexp, Some(Fast::Set(s))) => Some(s),
            _ => None,
        }
    }

    /// For `=~` patterns with a literal prefix (`lit.*`), that prefix.
    pub fn prefix(&self) -> Option<&str> {
        match (self.match_type, &self.fast) {
            (MatchType::Regexp, Some(Fast::Prefix(p))) => Some(p),
            _ => None,
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.match_type == other.match_type && self.value == other.value
    }
}

impl Eq for Matcher {}

impl std::hash::Hash for Matcher {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.match_type.hash(state);
        self.value.hash(state);
    }
}

impl fmt::Display for Matcher {
    /// Prometheus's `Matcher.String()`: `name=~"value"`, the name quoted when it is not a
    /// legacy-valid label name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_valid_legacy_label_name(&self.name) {
            f.write_str(&self.name)?;
        } else {
            write_go_quoted(f, &self.name)?;
        }
        f.write_str(self.match_type.as_str())?;
        write_go_quoted(f, &self.value)
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The largest character class expanded into a set of single-character strings.
const MAX_CLASS_SET: usize = 16;

fn compile(pattern: &str) -> Result<Fast, Error> {
    let original = pattern;
    let pattern: &str = &crate::re2::go_regex_to_rust(original);
    let anchored = format!("^(?s:{pattern})$");
    let err = |message: String| Error::InvalidRegex {
        pattern: original.to_owned(),
        message,
    };
    // Parse the unanchored pattern with the same flags the anchored one gets, so the shape
    // read from this tree is exactly what the full regex would match.
    let hir = regex_syntax::ParserBuilder::new()
        .dot_matches_new_line(true)
        .build()
        .parse(pattern)
        .map_err(|e| err(e.to_string()))?;
    if let Some(fast) = shape(&hir) {
        return Ok(fast);
    }
    let re = regex::RegexBuilder::new(&anchored)
        .size_limit(64 << 20)
        .build()
        .map_err(|e| err(e.to_string()))?;
    Ok(Fast::Regex(re))
}

/// Recognises the fast-path shapes; `None` means "use the regex engine".
fn shape(hir: &Hir) -> Option<Fast> {
    let hir = strip_captures(hir);
    if let Some(f) = any_or_nonempty(hir) {
        return Some(f);
    }
    if let Some(set) = literal_set(hir) {
        return Some(match <[String; 1]>::try_from(set) {
            Ok([one]) => Fast::Literal(one),
            Err(mut set) => {
                set.sort_unstable();
                set.dedup();
                Fast::Set(set)
            }
        });
    }
    if let HirKind::Concat(parts) = hir.kind() {
        let parts: Vec<&Hir> = parts.iter().map(strip_captures).collect();
        let is_any = |h: &Hir| matches!(any_or_nonempty(h), Some(Fast::Any));
        match parts.as_slice() {
            [lit, any] if is_any(any) => return literal(lit).map(Fast::Prefix),
            [any, lit] if is_any(any) => return literal(lit).map(Fast::Suffix),
            [a, lit, b] if is_any(a) && is_any(b) => return literal(lit).map(Fast::Contains),
            _ => {}
        }
    }
    None
}

fn strip_captures(mut hir: &Hir) -> &Hir {
    while let HirKind::Capture(c) = hir.kind() {
        hir = &c.sub;
    }
    hir
}

/// `.*` or `.+` where `.` matches every character.
fn any_or_nonempty(hir: &Hir) -> Option<Fast> {
    let HirKind::Repetition(rep) = hir.kind() else {
        return None;
    };
    if rep.max.is_some() || rep.min > 1 || !matches_any_char(&rep.sub) {
        return None;
    }
    Some(if rep.min == 0 {
        Fast::Any
    } else {
        Fast::NonEmpty
    })
}

fn matches_any_char(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => {
            let r = c.ranges();
            r.len() == 1 && r[0].start() == '\0' && r[0].end() == char::MAX
        }
        _ => false,
    }
}

fn literal(hir: &Hir) -> Option<String> {
    match strip_captures(hir).kind() {
        HirKind::Empty => Some(String::new()),
        HirKind::Literal(l) => String::from_utf8(l.0.to_vec()).ok(),
        _ => None,
    }
}

/// A literal, an alternation of literals, or a small character class, as its strings.
fn literal_set(hir: &Hir) -> Option<Vec<String>> {
    if let Some(s) = literal(hir) {
        return Some(vec![s]);
    }
    match hir.kind() {
        HirKind::Alternation(alts) => {
            let mut out = Vec::with_capacity(alts.len());
            for a in alts {
                out.extend(literal_set(strip_captures(a))?);
            }
            Some(out)
        }
        HirKind::Class(Class::Unicode(c)) => {
            let mut out = Vec::new();
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    if out.len() == MAX_CLASS_SET {
                        return None;
                    }
                    out.push(ch.to_string());
                }
            }
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn re(p: &str) -> Matcher {
        Matcher::new(MatchType::Regexp, "l", p).unwrap()
    }

    fn kind(p: &str) -> &'static str {
        match re(p).fast {
            Some(Fast::Any) => "any",
            Some(Fast::NonEmpty) => "nonempty",
            Some(Fast::Literal(_)) => "literal",
            Some(Fast::Set(_)) => "set",
            Some(Fast::Prefix(_)) => "prefix",
            Some(Fast::Suffix(_)) => "suffix",
            Some(Fast::Contains(_)) => "contains",
            Some(Fast::Regex(_)) => "regex",
            None => "none",
        }
    }

    #[test]
    fn shapes_are_recognised() {
        let cases = [
            (".*", "any"),
            ("(.*)", "any"),
            (".+", "nonempty"),
            ("api", "literal"),
            ("", "literal"),
            ("foo\\.bar", "literal"),
            ("a|bb|ccc", "set"),
            ("(a|b)", "set"),
            ("[abc]", "set"),
            ("api.*", "prefix"),
            (".*api", "suffix"),
            (".*api.*", "contains"),
            ("(?i)api", "regex"),
            ("a.c", "regex"),
            ("[a-z]+", "regex"),
            ("a?", "regex"),
        ];
        for (p, want) in cases {
            assert_eq!(kind(p), want, "pattern {p:?}");
        }
    }

    #[test]
    fn anchoring_and_dotall() {
        assert!(!re("a").matches("ab"));
        assert!(!re("b").matches("ab"));
        assert!(re("a.b").matches("a\nb"));
        assert!(re(".*").matches("x\ny"));
        assert!(re("a|b").matches("b"));
        assert!(!re("a|b").matches("ab"));
        assert!(re("").matches(""));
        assert!(!re("").matches("x"));
        assert!(re("(?i)API").matches("api"));
    }

    #[test]
    fn operators() {
        let ne = Matcher::new(MatchType::NotEqual, "l", "x").unwrap();
        assert!(ne.matches(""));
        assert!(!ne.matches("x"));
        let nre = Matcher::new(MatchType::NotRegexp, "l", "x.*").unwrap();
        assert!(!nre.matches("xy"));
        assert!(nre.matches("yx"));
        assert!(nre.matches_empty());
        assert_eq!(nre.to_string(), r#"l!~"x.*""#);
        let utf8 = Matcher::equal("http.method", "GET");
        assert_eq!(utf8.to_string(), r#""http.method"="GET""#);
    }

    #[test]
    fn bad_regex_is_an_error() {
        let e = Matcher::new(MatchType::Regexp, "l", "(foo").unwrap_err();
        assert!(matches!(e, Error::InvalidRegex { .. }));
        assert!(e.to_string().contains("(foo"));
    }

    proptest! {
        /// Every fast path agrees with the anchored regex it replaces.
        #[test]
        fn fast_paths_agree_with_regex(
            pattern in prop::sample::select(vec![
                ".*", ".+", "ab", "", "a|b|cd", "[xyz]", "ab.*", ".*ab", ".*ab.*", "(a|b).*",
                "a\\.b", "(ab)", ".*\n.*",
            ]),
            value in "[abxyz.\n]{0,5}",
        ) {
            let m = re(pattern);
            let full = regex::Regex::new(&format!("^(?s:{pattern})$")).unwrap();
            prop_assert_eq!(m.matches(&value), full.is_match(&value));
        }
    }
}
