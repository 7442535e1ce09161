//! [`Labels`]: an immutable, sorted, packed set of label pairs, and its builder.
//!
//! The pairs are packed into one shared byte buffer as `varint(len) bytes` for each name
//! and value, in name order. This is the layout of Prometheus's `stringlabels` build: one
//! allocation per label set instead of two per pair, a clone that only bumps a reference
//! count, and equality/hashing straight over the bytes. Lookups are linear scans, which
//! beat any index for the ten-or-so labels real series carry.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;

use crate::names::is_valid_legacy_label_name;
use crate::quote::write_go_quoted;

/// The name of the label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label pair, borrowed from a [`Labels`] or from input being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label<'a> {
    /// The label name.
    pub name: &'a str,
    /// The label value; never empty inside a [`Labels`].
    pub value: &'a str,
}

/// An immutable, sorted set of label pairs identifying a series.
///
/// Invariants, kept by every constructor: names are unique and sorted by byte order, and no
/// value is empty (Prometheus treats an empty value as an absent label, so a set never
/// stores one). Because the packed form is canonical, two `Labels` are equal exactly when
/// their bytes are, and the `Hash` of a set is a hash of those bytes.
///
/// ```
/// use promlite_model::Labels;
///
/// let a = Labels::from_pairs([("job", "api"), ("__name__", "up"), ("zone", "")]);
/// assert_eq!(a.len(), 2); // the empty `zone` is not stored
/// assert_eq!(a.get("job"), Some("api"));
/// let b = a.clone(); // a reference-count increment
/// assert_eq!(a, b);
/// ```
#[derive(Clone)]
pub struct Labels {
    data: Arc<[u8]>,
}

impl Labels {
    /// The empty label set. All of them share one allocation: evaluation makes one for
    /// every series it builds before the labels are known.
    pub fn empty() -> Labels {
        static EMPTY: std::sync::LazyLock<Labels> = std::sync::LazyLock::new(|| Labels {
            data: Arc::from(&[][..]),
        });
        EMPTY.clone()
    }

    /// Builds a set from pairs in any order. A later pair replaces an earlier one with the
    /// same name; pairs with empty values are dropped.
    pub fn from_pairs<N, V, I>(pairs: I) -> Labels
    where
        N: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (N, V)>,
    {
        let mut b = LabelsBuilder::new();
        for (n, v) in pairs {
            b.set(n.as_ref(), v.as_ref());
        }
        b.build()
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the set has no pairs.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Iterates the pairs in name order.
    pub fn iter(&self) -> LabelsIter<'_> {
        LabelsIter {
            data: &self.data,
            pos: 0,
        }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        for l in self {
            match l.name.cmp(name) {
                Ordering::Less => {}
                Ordering::Equal => return Some(l.value),
                Ordering::Greater => return None,
            }
        }
        None
    }

    /// Whether label `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// A copy without the metric name.
    pub fn without_metric_name(&self) -> Labels {
        if self.has(METRIC_NAME) {
            self.retain(|l| l.name != METRIC_NAME)
        } else {
            self.clone()
        }
    }

    /// A copy holding only the pairs for which `keep` returns true.
    pub fn retain(&self, mut keep: impl FnMut(Label<'_>) -> bool) -> Labels {
        // Kept pairs are copied as they are encoded, a run of neighbours at a time. The
        // common cases allocate once or not at all: nothing dropped shares this set,
        // and one kept run (`__name__` dropped from the front) is copied straight into
        // the new set.
        let data = &self.data[..];
        // The first kept run, and all of them once there is more than one.
        let mut single: Option<std::ops::Range<usize>> = None;
        let mut joined: Option<Vec<u8>> = None;
        let mut add = |r: std::ops::Range<usize>| match (&mut joined, single.take()) {
            (Some(v), _) => v.extend_from_slice(&data[r]),
            (None, Some(first)) => {
                let mut v = Vec::with_capacity(data.len());
                v.extend_from_slice(&data[first]);
                v.extend_from_slice(&data[r]);
                joined = Some(v);
            }
            (None, None) => single = Some(r),
        };
        let mut it = self.iter();
        let mut run_start = 0;
        loop {
            let start = it.pos;
            let Some(l) = it.next() else { break };
            if !keep(l) {
                if run_start < start {
                    add(run_start..start);
                }
                run_start = it.pos;
            }
        }
        if run_start == 0 {
            return self.clone();
        }
        if run_start < data.len() {
            add(run_start..data.len());
        }
        match (joined, single) {
            (Some(v), _) => Labels { data: v.into() },
            (None, Some(r)) => Labels {
                data: Arc::from(&data[r]),
            },
            (None, None) => Labels::empty(),
        }
    }

    /// A builder starting from this set.
    pub fn to_builder(&self) -> LabelsBuilder {
        let mut b = LabelsBuilder::new();
        b.reset(self);
        b
    }

    /// The size of the packed representation in bytes (excluding the shared header).
    pub fn encoded_len(&self) -> usize {
        self.data.len()
    }

    /// Whether the two sets hold the same value for every name in `names` (absent counts as
    /// empty). This is how PromQL's `on(...)` matching compares series.
    pub fn equal_on(&self, other: &Labels, names: &[impl AsRef<str>]) -> bool {
        names
            .iter()
            .all(|n| self.get(n.as_ref()) == other.get(n.as_ref()))
    }
}

impl Default for Labels {
    fn default() -> Self {
        Labels::empty()
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        // Clones share their bytes: a store comparing the labels a caller cached with
        // the ones it keeps (cloned from the same set) needs no byte comparison.
        Arc::ptr_eq(&self.data, &other.data) || self.data == other.data
    }
}

impl Eq for Labels {}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(&self.data);
    }
}

impl Ord for Labels {
    /// Prometheus's `labels.Compare`: pair by pair, names first then values; a set that is
    /// a prefix of another sorts first.
    fn cmp(&self, other: &Self) -> Ordering {
        let mut mine = self.iter();
        let mut theirs = other.iter();
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => {
                    let c = x.name.cmp(y.name).then_with(|| x.value.cmp(y.value));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
            }
        }
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Labels {
    /// Prometheus's `Labels.String()`: `{__name__="up", job="api"}`, names quoted only
    /// when they are not legacy-valid, values always Go-quoted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if is_valid_legacy_label_name(l.name) {
                f.write_str(l.name)?;
            } else {
                write_go_quoted(f, l.name)?;
            }
            f.write_str("=")?;
            write_go_quoted(f, l.value)?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Labels::from_pairs(iter)
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = Label<'a>;
    type IntoIter = LabelsIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over the pairs of a [`Labels`], in name order.
#[derive(Clone)]
pub struct LabelsIter<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> LabelsIter<'a> {
    fn read_str(&mut self) -> &'a str {
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let b = self.data[self.pos];
            self.pos += 1;
            len |= usize::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
        }
        let bytes = &self.data[self.pos..self.pos + len];
        self.pos += len;
        as_str(bytes)
    }
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = Label<'a>;

    #[inline]
    fn next(&mut self) -> Option<Label<'a>> {
        if self.pos >= self.data.len() {
            return None;
        }
        let name = self.read_str();
        let value = self.read_str();
        Some(Label { name, value })
    }
}

#[allow(unsafe_code)]
fn as_str(bytes: &[u8]) -> &str {
    // SAFETY: the packed buffer is only ever written by `encode_pair`, which copies whole
    // `&str`s after their varint length; `read_str` slices exactly those copies back out,
    // so every slice handed here is the complete UTF-8 encoding of a string.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

fn encode_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn encode_pair(out: &mut Vec<u8>, name: &str, value: &str) {
    encode_varint(out, name.len());
    out.extend_from_slice(name.as_bytes());
    encode_varint(out, value.len());
    out.extend_from_slice(value.as_bytes());
}

/// Builds [`Labels`], reusable across many builds without reallocating.
///
/// Strings are copied into one internal buffer, so `set`, `del` and `build` allocate
/// nothing once the buffers have grown to the working size (scrapes reuse one builder for
/// every sample). Setting an empty value deletes the label, as in Prometheus.
///
/// ```
/// use promlite_model::{Labels, LabelsBuilder};
///
/// let base = Labels::from_pairs([("job", "api"), ("instance", "a:1")]);
/// let mut b = base.to_builder();
/// b.set("env", "prod").del("instance");
/// assert_eq!(b.build().to_string(), r#"{env="prod", job="api"}"#);
/// ```
#[derive(Debug, Default, Clone)]
pub struct LabelsBuilder {
    buf: String,
    pairs: Vec<(Range<usize>, Range<usize>)>,
    scratch: Vec<u8>,
}

impl LabelsBuilder {
    /// An empty builder.
    pub fn new() -> LabelsBuilder {
        LabelsBuilder::default()
    }

    /// Clears the builder and loads the pairs of `base`.
    pub fn reset(&mut self, base: &Labels) -> &mut Self {
        self.clear();
        for l in base {
            self.push(l.name, l.value);
        }
        self
    }

    /// Removes every pair.
    pub fn clear(&mut self) -> &mut Self {
        self.buf.clear();
        self.pairs.clear();
        self
    }

    fn push(&mut self, name: &str, value: &str) {
        let n = self.buf.len()..self.buf.len() + name.len();
        self.buf.push_str(name);
        let v = self.buf.len()..self.buf.len() + value.len();
        self.buf.push_str(value);
        self.pairs.push((n, v));
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.pairs
            .iter()
            .position(|(n, _)| &self.buf[n.clone()] == name)
    }

    /// Sets `name` to `value`, replacing any earlier value; an empty value deletes.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        if value.is_empty() {
            return self.del(name);
        }
        match self.find(name) {
            Some(i) => {
                let v = self.buf.len()..self.buf.len() + value.len();
                self.buf.push_str(value);
                self.pairs[i].1 = v;
            }
            None => self.push(name, value),
        }
        self
    }

    /// Removes `name` if present.
    pub fn del(&mut self, name: &str) -> &mut Self {
        if let Some(i) = self.find(name) {
            self.pairs.swap_remove(i);
        }
        self
    }

    /// The current value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).map(|i| &self.buf[self.pairs[i].1.clone()])
    }

    /// Keeps only the labels whose names are in `names`.
    pub fn keep(&mut self, names: &[impl AsRef<str>]) -> &mut Self {
        let buf = &self.buf;
        self.pairs
            .retain(|(n, _)| names.iter().any(|k| k.as_ref() == &buf[n.clone()]));
        self
    }

    /// Iterates the current pairs in insertion order (not sorted).
    pub fn iter(&self) -> impl Iterator<Item = Label<'_>> {
        self.pairs.iter().map(|(n, v)| Label {
            name: &self.buf[n.clone()],
            value: &self.buf[v.clone()],
        })
    }

    /// Builds the sorted, packed set. The builder keeps its pairs and can be built again.
    pub fn build(&mut self) -> Labels {
        let buf = &self.buf;
        self.pairs
            .sort_unstable_by(|a, b| buf[a.0.clone()].cmp(&buf[b.0.clone()]));
        self.scratch.clear();
        for (n, v) in &self.pairs {
            if !v.is_empty() {
                encode_pair(&mut self.scratch, &buf[n.clone()], &buf[v.clone()]);
            }
        }
        Labels {
            data: Arc::from(&self.scratch[..]),
        }
    }
}

/// Builds [`Labels`] from pairs that arrive in increasing name order, as a TSDB index
/// stores a series' labels: each pair is encoded as it arrives, with no search for an
/// earlier pair of the same name and no sort, which is most of [`LabelsBuilder`]'s work
/// when a query loads many series. A pair out of order is refused, and the caller falls
/// back to a [`LabelsBuilder`].
///
/// ```
/// use promlite_model::{Labels, SortedLabelsBuilder};
///
/// let mut b = SortedLabelsBuilder::new();
/// assert!(b.push("__name__", "up") && b.push("job", "api"));
/// assert_eq!(b.build(), Labels::from_pairs([("job", "api"), ("__name__", "up")]));
/// b.clear();
/// assert!(b.push("job", "api"));
/// assert!(!b.push("instance", "a:1")); // sorts before `job`
/// ```
#[derive(Debug, Default, Clone)]
pub struct SortedLabelsBuilder {
    scratch: Vec<u8>,
    /// Where the last pair's name lies in `scratch`.
    last: Range<usize>,
}

impl SortedLabelsBuilder {
    /// An empty builder.
    pub fn new() -> SortedLabelsBuilder {
        SortedLabelsBuilder::default()
    }

    /// Removes every pair.
    pub fn clear(&mut self) {
        self.scratch.clear();
        self.last = 0..0;
    }

    /// Appends `name=value` if `name` sorts after every name appended since the last
    /// [`Self::clear`]; `false` (and nothing appended) otherwise. An empty value is
    /// skipped, as [`LabelsBuilder::set`] deletes on it.
    pub fn push(&mut self, name: &str, value: &str) -> bool {
        if !self.last.is_empty() && name.as_bytes() <= &self.scratch[self.last.clone()] {
            return false;
        }
        if value.is_empty() {
            return true;
        }
        encode_varint(&mut self.scratch, name.len());
        let start = self.scratch.len();
        self.scratch.extend_from_slice(name.as_bytes());
        self.last = start..self.scratch.len();
        encode_varint(&mut self.scratch, value.len());
        self.scratch.extend_from_slice(value.as_bytes());
        true
    }

    /// The set of the pairs appended. The builder keeps them and can be built again.
    pub fn build(&self) -> Labels {
        Labels {
            data: Arc::from(&self.scratch[..]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `retain` keeps exactly the chosen pairs, whichever runs of them are dropped.
        #[test]
        fn retain_keeps_the_chosen_pairs(
            pairs in proptest::collection::btree_map("[a-z_]{1,4}", "[a-zé]{1,200}", 0..8),
            mask in any::<u8>(),
        ) {
            let l = Labels::from_pairs(pairs.iter());
            let keep = |i: usize| mask & (1 << (i % 8)) != 0;
            let want = Labels::from_pairs(
                pairs.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, p)| p),
            );
            let mut i = 0;
            let got = l.retain(|_| {
                i += 1;
                keep(i - 1)
            });
            prop_assert_eq!(got.to_string(), want.to_string());
            prop_assert_eq!(got, want);
        }
    }

    proptest! {
        /// Pairs pushed in order build what `from_pairs` builds; the first pair out of
        /// order is refused and leaves the builder as it was.
        #[test]
        fn sorted_builder_matches_from_pairs(
            pairs in proptest::collection::vec(("[a-c_]{1,3}", "[a-zé]{0,5}"), 0..8),
        ) {
            let mut b = SortedLabelsBuilder::new();
            let mut taken: Vec<(String, String)> = Vec::new();
            let mut last: Option<&str> = None;
            for (n, v) in &pairs {
                let in_order = last.is_none_or(|l| n.as_str() > l);
                let before = b.build();
                prop_assert_eq!(b.push(n, v), in_order);
                if in_order {
                    if !v.is_empty() {
                        last = Some(n);
                    }
                    taken.push((n.clone(), v.clone()));
                } else {
                    prop_assert_eq!(b.build(), before);
                }
            }
            prop_assert_eq!(b.build(), Labels::from_pairs(taken));
        }
    }

    #[test]
    fn sorted_unique_no_empty_values() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        let pairs: Vec<_> = l.iter().map(|l| (l.name, l.value)).collect();
        assert_eq!(pairs, [("a", "1"), ("b", "3")]);
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn display_quotes_like_prometheus() {
        let l = Labels::from_pairs([("__name__", "up"), ("a.b", "x\"y\n"), ("job", "é")]);
        assert_eq!(l.to_string(), r#"{__name__="up", "a.b"="x\"y\n", job="é"}"#);
        assert_eq!(Labels::empty().to_string(), "{}");
    }

    #[test]
    fn order_is_pairwise() {
        let a = Labels::from_pairs([("a", "1")]);
        let ab = Labels::from_pairs([("a", "1"), ("b", "1")]);
        let a2 = Labels::from_pairs([("a", "2")]);
        assert!(a < ab);
        assert!(ab < a2);
        assert!(Labels::empty() < a);
    }

    #[test]
    fn long_strings_use_multibyte_lengths() {
        let long = "x".repeat(70_000);
        let l = Labels::from_pairs([("k", long.as_str()), ("z", "1")]);
        assert_eq!(l.get("k").map(str::len), Some(70_000));
        assert_eq!(l.get("z"), Some("1"));
    }

    #[test]
    fn builder_reuse_and_edit() {
        let mut b = LabelsBuilder::new();
        b.set("x", "1").set("y", "2").set("x", "3");
        assert_eq!(b.build().to_string(), r#"{x="3", y="2"}"#);
        b.set("y", "");
        assert_eq!(b.build().to_string(), r#"{x="3"}"#);
        b.clear().set("q", "1");
        assert_eq!(b.build().to_string(), r#"{q="1"}"#);
        let l = Labels::from_pairs([("a", "1"), ("b", "2"), ("c", "3")]);
        assert_eq!(
            l.to_builder().keep(&["a", "c"]).build().to_string(),
            r#"{a="1", c="3"}"#
        );
        assert_eq!(l.without_metric_name(), l);
    }

    proptest! {
        #[test]
        fn packed_round_trip(pairs in proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{1,12}", 0..12)) {
            let l = Labels::from_pairs(pairs.iter());
            let back: Vec<(String, String)> = l.iter().map(|l| (l.name.to_owned(), l.value.to_owned())).collect();
            let want: Vec<(String, String)> = pairs.into_iter().collect();
            prop_assert_eq!(back, want);
        }

        #[test]
        fn order_matches_pairwise_vec_order(
            a in proptest::collection::btree_map("[a-c]", "[x-z]{1,2}", 0..4),
            b in proptest::collection::btree_map("[a-c]", "[x-z]{1,2}", 0..4),
        ) {
            let la = Labels::from_pairs(a.iter());
            let lb = Labels::from_pairs(b.iter());
            let va: Vec<_> = a.iter().collect();
            let vb: Vec<_> = b.iter().collect();
            prop_assert_eq!(la.cmp(&lb), va.cmp(&vb));
            prop_assert_eq!(la == lb, va == vb);
        }
    }
}
