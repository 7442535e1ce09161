//! [`Regex`]: a relabel rule's pattern, anchored as Prometheus anchors it.

use std::fmt;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use promlite_model::{MatchType, Matcher};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// The pattern Prometheus uses when a rule has no `regex`.
pub(crate) const DEFAULT_PATTERN: &str = "(.*)";

/// The compiled default pattern, shared by every rule that does not set `regex`.
pub(crate) static DEFAULT_REGEX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(DEFAULT_PATTERN).expect("the default relabel regex compiles"));

/// Hands each compiled regex an identity, so per-thread capture buffers can be found again
/// without comparing patterns (clones share the identity: they have the same groups).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A relabel regex: must match the whole input, and `.` matches newlines.
///
/// Prometheus compiles a rule's `regex` as `^(?s:<regex>)$`; this type does the same and
/// remembers the pattern as written, which is what it serialises back to. Matching without
/// captures goes through [`promlite_model::Matcher`], which answers literal, alternation,
/// prefix and `.*` shapes without running the regex engine; captures use the full regex.
///
/// ```
/// use promlite_relabel::Regex;
///
/// let re = Regex::new("api|web").unwrap();
/// assert!(re.is_match("web"));
/// assert!(!re.is_match("webserver")); // anchored at both ends
/// assert!(Regex::new("a.b").unwrap().is_match("a\nb")); // `.` matches a newline
/// assert_eq!(re.as_str(), "api|web");
/// ```
#[derive(Clone)]
pub struct Regex {
    matcher: Matcher,
    re: regex::Regex,
    /// The pattern is `(.*)`: group 0 and group 1 are the whole input, so replacing needs
    /// no regex engine at all. Most `replace` rules use it.
    whole: bool,
    id: u64,
}

impl Regex {
    /// Compiles `pattern` anchored; the error names the pattern.
    pub fn new(pattern: &str) -> Result<Regex, Error> {
        let err = |message: String| Error::InvalidRegex {
            pattern: pattern.to_owned(),
            message,
        };
        let matcher = Matcher::new(MatchType::Regexp, "", pattern).map_err(|e| match e {
            promlite_model::Error::InvalidRegex { message, .. } => err(message),
            other => err(other.to_string()),
        })?;
        // Go's RE2 classes are ASCII-only; the same rewrite the matcher uses keeps
        // capture groups (for `$1`) matching what Prometheus's would.
        let translated = promlite_model::go_regex_to_rust(pattern);
        let re = regex::RegexBuilder::new(&format!("^(?s:{translated})$"))
            .size_limit(64 << 20)
            .build()
            .map_err(|e| err(e.to_string()))?;
        Ok(Regex {
            matcher,
            re,
            whole: pattern == DEFAULT_PATTERN,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// The pattern as written, without the anchoring.
    pub fn as_str(&self) -> &str {
        self.matcher.value()
    }

    /// Whether the pattern matches all of `s`.
    #[inline]
    pub fn is_match(&self, s: &str) -> bool {
        self.whole || self.matcher.matches(s)
    }

    /// The number of capture groups, counting group 0 (the whole match).
    pub fn captures_len(&self) -> usize {
        self.re.captures_len()
    }

    pub(crate) fn is_whole(&self) -> bool {
        self.whole
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn inner(&self) -> &regex::Regex {
        &self.re
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Regex {}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Regex").field(&self.as_str()).finish()
    }
}

impl fmt::Display for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Regex {
    type Err = Error;
    fn from_str(s: &str) -> Result<Regex, Error> {
        Regex::new(s)
    }
}

impl Serialize for Regex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Regex, D::Error> {
        let s = String::deserialize(d)?;
        Regex::new(&s).map_err(serde::de::Error::custom)
    }
}
