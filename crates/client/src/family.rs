//! [`Family`]: one metric per combination of label values, with a cardinality limit.

use std::cell::Cell;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hashbrown::{DefaultHashBuilder, HashTable};
use parking_lot::RwLock;
use promlite_model::{Labels, MetricType};

use crate::collect::{Metric, MetricPoint, merge_labels};
use crate::error::{Error, Result};

/// The default cardinality limit of a family: enough for any sane label set, small
/// enough that a label fed with user input (an ID, a URL path) cannot eat the process.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 10_000;

/// The owned form a [`Family`] keeps its children's label values in.
///
/// Implemented for `Vec<String>`, `Box<[String]>` and `[String; N]`; implement it for a
/// type of your own (e.g. a struct of enums) to store keys more compactly. Look-ups never
/// build one: they hash and compare the borrowed values.
pub trait LabelValues: Send + Sync + 'static {
    /// The number of values.
    fn len(&self) -> usize;
    /// Whether there are no values.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Value `i` (`0 <= i < len()`).
    fn value(&self, i: usize) -> &str;
    /// The owned form of `values`, whose length the family has checked.
    fn from_values(values: &[&str]) -> Self;
}

impl LabelValues for Vec<String> {
    fn len(&self) -> usize {
        self.len()
    }
    fn value(&self, i: usize) -> &str {
        self.get(i).map_or("", String::as_str)
    }
    fn from_values(values: &[&str]) -> Self {
        values.iter().map(|v| (*v).to_owned()).collect()
    }
}

impl LabelValues for Box<[String]> {
    fn len(&self) -> usize {
        <[String]>::len(self)
    }
    fn value(&self, i: usize) -> &str {
        self.get(i).map_or("", String::as_str)
    }
    fn from_values(values: &[&str]) -> Self {
        values.iter().map(|v| (*v).to_owned()).collect()
    }
}

impl<const N: usize> LabelValues for [String; N] {
    fn len(&self) -> usize {
        N
    }
    fn value(&self, i: usize) -> &str {
        self.get(i).map_or("", String::as_str)
    }
    fn from_values(values: &[&str]) -> Self {
        std::array::from_fn(|i| values.get(i).map_or_else(String::new, |v| (*v).to_owned()))
    }
}

/// A metric family: a child metric `M` for each combination of values of fixed label
/// names, created on first use.
///
/// `get_or_create` with the values of an existing child hashes the borrowed values, finds
/// the child under a read lock and returns a clone of its handle (a reference-count
/// increment): no allocation. Creating a child allocates its key and label set under
/// the write lock, and fails with [`Error::CardinalityLimit`] once the family holds its
/// limit of children ([`DEFAULT_CARDINALITY_LIMIT`] unless set); refusals are counted in
/// [`Family::rejected`]. Children can be removed again.
///
/// Keep the returned handle where a hot loop can reuse it; looking it up each time is
/// fine too (tens of nanoseconds).
///
/// ```
/// use promlite_client::{Counter, Family, Registry};
///
/// let requests: Family<[String; 2], Counter> = Family::new(["method", "code"])?.with_limit(100);
/// Registry::new().register("http_requests", "HTTP requests.", requests.clone())?;
/// requests.get_or_create(&["GET", "200"])?.inc();
/// assert_eq!(requests.get(&["GET", "200"]).map(|c| c.get()), Some(1));
/// assert!(requests.remove(&["GET", "200"]));
/// # Ok::<(), promlite_client::Error>(())
/// ```
pub struct Family<L, M> {
    core: Arc<FamilyCore<L, M>>,
}

struct FamilyCore<L, M> {
    names: Vec<String>,
    limit: AtomicUsize,
    rejected: AtomicU64,
    metric_type: MetricType,
    constructor: Box<dyn Fn() -> M + Send + Sync>,
    /// A random per-family seed for [`hash_value`].
    seed: u64,
    children: RwLock<HashTable<Child<L, M>>>,
}

struct Child<L, M> {
    hash: u64,
    key: L,
    labels: Labels,
    metric: M,
}

impl<L, M> Clone for Family<L, M> {
    fn clone(&self) -> Self {
        Family {
            core: Arc::clone(&self.core),
        }
    }
}

impl<L, M> fmt::Debug for Family<L, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("names", &self.core.names)
            .field("children", &self.core.children.read_recursive().len())
            .field("limit", &self.core.limit.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Refuses empty, reserved (`__…`) and duplicate label names, and the label a metric
/// type writes itself (`le`, `quantile`).
pub(crate) fn check_label_names(names: &[String], metric_type: Option<MetricType>) -> Result<()> {
    for (i, n) in names.iter().enumerate() {
        let reserved = match metric_type {
            Some(MetricType::Histogram | MetricType::GaugeHistogram) => n == "le",
            Some(MetricType::Summary) => n == "quantile",
            _ => false,
        };
        if n.is_empty() || n.starts_with("__") || reserved {
            return Err(Error::InvalidLabelName(n.clone()));
        }
        if names[..i].contains(n) {
            return Err(Error::DuplicateLabelName(n.clone()));
        }
    }
    Ok(())
}

thread_local! {
    /// The family whose read lock this thread holds inside [`Family::with`] (its address,
    /// 0 for none), so that changing that family from inside the closure — which would
    /// wait for the lock the thread itself holds — is refused instead of deadlocking.
    static READING: Cell<usize> = const { Cell::new(0) };
}

/// Restores the previous [`READING`] value, on return or unwind.
struct ReadingGuard(usize);

impl Drop for ReadingGuard {
    fn drop(&mut self) {
        READING.with(|r| r.set(self.0));
    }
}

/// Folds one label value into a family hash. Values of up to 16 bytes — nearly all
/// label values — are read as two (overlapping) words with no loop; longer ones eight
/// bytes per multiply. A general-purpose hasher (foldhash, SipHash) spent a quarter of a
/// look-up's instructions on the few bytes of two label values. The hash is seeded per
/// family, and a family's size is bounded by its cardinality limit, which bounds what
/// crafted collisions could cost.
#[inline]
fn hash_value(h: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |h: u64, w: u64| (h ^ w).wrapping_mul(K).rotate_left(29);
    let len = (bytes.len() as u64) << 56;
    if bytes.len() <= 16 {
        let (lo, hi) = short_words(bytes);
        return mix(mix(h, lo), hi ^ len);
    }
    let mut h = h;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        h = mix(h, word8(c));
    }
    // The last eight bytes (overlapping the chunks when the length is not a multiple).
    let last = bytes
        .last_chunk::<8>()
        .map_or(0, |c| u64::from_le_bytes(*c));
    mix(h, last ^ len)
}

fn word8(c: &[u8]) -> u64 {
    c.first_chunk::<8>().map_or(0, |c| u64::from_le_bytes(*c))
}

/// A value of at most 16 bytes as two words that, with its length, determine it: the
/// first and last eight bytes, or four, or for up to three bytes the first, middle and
/// last one.
#[inline]
fn short_words(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    if n >= 8 {
        (
            word8(b),
            b.last_chunk::<8>().map_or(0, |c| u64::from_le_bytes(*c)),
        )
    } else if n >= 4 {
        let first = b.first_chunk::<4>().map_or(0, |c| u32::from_le_bytes(*c));
        let last = b.last_chunk::<4>().map_or(0, |c| u32::from_le_bytes(*c));
        (u64::from(first), u64::from(last))
    } else if n > 0 {
        let first = b.first().copied().unwrap_or(0);
        let middle = b.get(n / 2).copied().unwrap_or(0);
        let last = b.last().copied().unwrap_or(0);
        (
            (u64::from(first) << 16) | (u64::from(middle) << 8) | u64::from(last),
            0,
        )
    } else {
        (0, 0)
    }
}

/// Spreads the hash over all bits: the table uses the top seven for its tags and the
/// low ones for the bucket.
#[inline]
fn finish(mut h: u64) -> u64 {
    h ^= h >> 32;
    h = h.wrapping_mul(0xd6e8_feb8_6659_fd93);
    h ^ (h >> 32)
}

/// Whether a stored key holds exactly `values`.
#[inline]
fn same_values<L: LabelValues>(key: &L, values: &[&str]) -> bool {
    values
        .iter()
        .enumerate()
        .all(|(i, v)| same_str(key.value(i), v))
}

/// String equality without a call to `memcmp` for values of up to 16 bytes: label
/// values are mostly a few bytes, where the call cost more than the comparison (a third
/// of a family look-up in a profile).
#[inline]
fn same_str(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 16 {
        return a == b;
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

impl<L: LabelValues, M: Metric + Clone> Family<L, M> {
    /// A family with these label names whose children start as `M::default()`.
    pub fn new(names: impl IntoIterator<Item = impl Into<String>>) -> Result<Self>
    where
        M: Default,
    {
        Self::with_constructor(names, M::default)
    }

    /// A family whose children are made by `constructor` (e.g. histograms with
    /// particular buckets).
    pub fn with_constructor(
        names: impl IntoIterator<Item = impl Into<String>>,
        constructor: impl Fn() -> M + Send + Sync + 'static,
    ) -> Result<Self> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        let metric_type = constructor().metric_type();
        check_label_names(&names, Some(metric_type))?;
        // Any random bits will do; the std-compatible builder draws them per instance.
        let seed = DefaultHashBuilder::default().hash_one(names.len());
        Ok(Family {
            core: Arc::new(FamilyCore {
                names,
                limit: AtomicUsize::new(DEFAULT_CARDINALITY_LIMIT),
                rejected: AtomicU64::new(0),
                metric_type,
                constructor: Box::new(constructor),
                seed,
                children: RwLock::new(HashTable::new()),
            }),
        })
    }

    /// Sets the maximum number of children (existing children above it are kept; new
    /// ones are refused until removals bring the count below).
    pub fn with_limit(self, limit: usize) -> Self {
        self.core.limit.store(limit, Ordering::Relaxed);
        self
    }

    /// The label names.
    pub fn label_names(&self) -> &[String] {
        &self.core.names
    }

    #[inline]
    fn hash<'v>(&self, values: impl Iterator<Item = &'v str>) -> u64 {
        let mut h = self.core.seed;
        for v in values {
            h = hash_value(h, v.as_bytes());
        }
        finish(h)
    }

    fn check_len(&self, got: usize) -> Result<()> {
        let expected = self.core.names.len();
        if got == expected {
            Ok(())
        } else {
            Err(Error::LabelCount { expected, got })
        }
    }

    /// The child for these label values (in the order of the label names), created if
    /// it does not exist yet.
    #[inline]
    pub fn get_or_create(&self, values: &[&str]) -> Result<M> {
        self.check_len(values.len())?;
        let hash = self.hash(values.iter().copied());
        let eq = |c: &Child<L, M>| c.hash == hash && same_values(&c.key, values);
        if let Some(c) = self.core.children.read_recursive().find(hash, eq) {
            return Ok(c.metric.clone());
        }
        self.create(hash, values, eq)
    }

    /// Calls `f` with the child for these values (created if needed) and returns its
    /// result.
    ///
    /// Faster than [`Family::get_or_create`] when the handle is not kept: `f` runs under
    /// the family's read lock on a borrowed child, so no reference count is touched. Inside
    /// `f`, creating or removing children of this same family is refused
    /// ([`Error::Reentrant`], `false`, or nothing done) rather than deadlocking; other
    /// families are unaffected.
    ///
    /// ```
    /// use promlite_client::{Counter, Family};
    ///
    /// let f: Family<[String; 1], Counter> = Family::new(["code"])?;
    /// f.with(&["200"], |c| c.inc())?;
    /// assert_eq!(f.with(&["200"], |c| c.get())?, 1);
    /// # Ok::<(), promlite_client::Error>(())
    /// ```
    #[inline]
    pub fn with<R>(&self, values: &[&str], f: impl FnOnce(&M) -> R) -> Result<R> {
        self.check_len(values.len())?;
        let hash = self.hash(values.iter().copied());
        let eq = |c: &Child<L, M>| c.hash == hash && same_values(&c.key, values);
        {
            // A recursive read: `f` may look up other children of this family, and a
            // plain read would wait behind a writer queued meanwhile.
            let children = self.core.children.read_recursive();
            if let Some(c) = children.find(hash, eq) {
                let _restore = ReadingGuard(READING.with(|r| r.replace(self.address())));
                return Ok(f(&c.metric));
            }
        }
        let m = self.create(hash, values, eq)?;
        Ok(f(&m))
    }

    fn address(&self) -> usize {
        Arc::as_ptr(&self.core).addr()
    }

    /// Whether this thread is inside [`Family::with`] on this family.
    fn reentered(&self) -> bool {
        READING.with(Cell::get) == self.address()
    }

    /// The child for an owned key, created if needed.
    pub fn get_or_create_key(&self, key: &L) -> Result<M> {
        let values: Vec<&str> = (0..key.len()).map(|i| key.value(i)).collect();
        self.get_or_create(&values)
    }

    #[cold]
    fn create(&self, hash: u64, values: &[&str], eq: impl Fn(&Child<L, M>) -> bool) -> Result<M> {
        if self.reentered() {
            return Err(Error::Reentrant);
        }
        let mut children = self.core.children.write();
        if let Some(c) = children.find(hash, &eq) {
            return Ok(c.metric.clone());
        }
        let limit = self.core.limit.load(Ordering::Relaxed);
        if children.len() >= limit {
            self.core.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(Error::CardinalityLimit {
                family: self.core.names.join(","),
                limit,
            });
        }
        let metric = (self.core.constructor)();
        let labels = Labels::from_pairs(
            self.core
                .names
                .iter()
                .zip(values)
                .map(|(n, v)| (n.as_str(), *v)),
        );
        children.insert_unique(
            hash,
            Child {
                hash,
                key: L::from_values(values),
                labels,
                metric: metric.clone(),
            },
            |c| c.hash,
        );
        Ok(metric)
    }

    /// The child for these values, if it exists.
    pub fn get(&self, values: &[&str]) -> Option<M> {
        if values.len() != self.core.names.len() {
            return None;
        }
        let hash = self.hash(values.iter().copied());
        self.core
            .children
            .read_recursive()
            .find(hash, |c| c.hash == hash && same_values(&c.key, values))
            .map(|c| c.metric.clone())
    }

    /// Removes the child for these values; whether there was one. Handles to it keep
    /// working but are no longer exposed.
    pub fn remove(&self, values: &[&str]) -> bool {
        if values.len() != self.core.names.len() || self.reentered() {
            return false;
        }
        let hash = self.hash(values.iter().copied());
        let mut children = self.core.children.write();
        match children.find_entry(hash, |c| c.hash == hash && same_values(&c.key, values)) {
            Ok(e) => {
                e.remove();
                true
            }
            Err(_) => false,
        }
    }

    /// Keeps only the children for which `keep(labels)` is true (nothing is done inside
    /// [`Family::with`] on this family).
    pub fn retain(&self, mut keep: impl FnMut(&Labels) -> bool) {
        if self.reentered() {
            return;
        }
        self.core.children.write().retain(|c| keep(&c.labels));
    }

    /// Removes every child (nothing is done inside [`Family::with`] on this family).
    pub fn clear(&self) {
        if self.reentered() {
            return;
        }
        self.core.children.write().clear();
    }

    /// The number of children.
    pub fn len(&self) -> usize {
        self.core.children.read_recursive().len()
    }

    /// Whether the family has no children.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many new label sets were refused by the cardinality limit.
    pub fn rejected(&self) -> u64 {
        self.core.rejected.load(Ordering::Relaxed)
    }
}

impl<L: LabelValues, M: Metric + Clone> Metric for Family<L, M> {
    fn metric_type(&self) -> MetricType {
        self.core.metric_type
    }

    fn collect_points(&self, labels: &Labels, out: &mut Vec<MetricPoint>) {
        for c in self.core.children.read_recursive().iter() {
            c.metric
                .collect_points(&merge_labels(labels, &c.labels), out);
        }
    }

    fn label_names(&self) -> &[String] {
        &self.core.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Counter, Histogram};

    #[test]
    fn children_limit_and_removal() {
        let f: Family<Vec<String>, Counter> = Family::new(["a"]).unwrap().with_limit(2);
        f.get_or_create(&["x"]).unwrap().inc();
        f.get_or_create(&["x"]).unwrap().inc();
        f.get_or_create(&["y"]).unwrap();
        assert!(matches!(
            f.get_or_create(&["z"]),
            Err(Error::CardinalityLimit { limit: 2, .. })
        ));
        assert_eq!(f.rejected(), 1);
        assert_eq!(f.get(&["x"]).unwrap().get(), 2);
        assert!(f.remove(&["y"]));
        assert!(!f.remove(&["y"]));
        f.get_or_create(&["z"]).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(
            f.get_or_create(&["x", "y"]).err(),
            Some(Error::LabelCount {
                expected: 1,
                got: 2
            })
        );
        f.retain(|l| l.get("a") == Some("x"));
        assert_eq!(f.len(), 1);
        f.clear();
        assert!(f.is_empty());
    }

    #[test]
    fn with_refuses_to_change_its_own_family() {
        let f: Family<Vec<String>, Counter> = Family::new(["a"]).unwrap();
        let g: Family<Vec<String>, Counter> = Family::new(["a"]).unwrap();
        f.with(&["x"], Counter::<u64>::inc).unwrap();
        let inner = f
            .with(&["x"], |_| {
                assert!(!f.remove(&["x"]));
                f.clear();
                // Existing children and other families are fine.
                f.get_or_create(&["x"]).unwrap().inc();
                g.get_or_create(&["y"]).unwrap().inc();
                f.get_or_create(&["new"])
            })
            .unwrap();
        assert_eq!(inner.err(), Some(Error::Reentrant));
        assert_eq!(f.get(&["x"]).map(|c| c.get()), Some(2));
        // Outside the closure the family can change again.
        assert!(f.remove(&["x"]));
    }

    #[test]
    fn short_words_determine_short_values() {
        let values = [
            "",
            "a",
            "ab",
            "ba",
            "abc",
            "acb",
            "abcd",
            "abce",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "abcdefghijklmnop",
            "bbcdefghijklmnop",
            "abcdefghijklmnoq",
        ];
        for x in values {
            for y in values {
                assert_eq!(same_str(x, y), x == y, "{x:?} {y:?}");
            }
        }
        let long = "x".repeat(40);
        assert!(same_str(&long, &long.clone()));
        assert!(!same_str(&long, &format!("{}y", "x".repeat(39))));
        assert_ne!(hash_value(1, b"ab"), hash_value(1, b"ba"));
        assert_ne!(hash_value(1, long.as_bytes()), hash_value(1, b"x"));
    }

    #[test]
    fn values_do_not_run_together() {
        let f: Family<[String; 2], Counter> = Family::new(["a", "b"]).unwrap();
        f.get_or_create(&["ab", "c"]).unwrap().inc();
        assert_eq!(f.get(&["a", "bc"]).map(|c| c.get()), None);
        assert_eq!(
            f.get_or_create_key(&["ab".to_owned(), "c".to_owned()])
                .unwrap()
                .get(),
            1
        );
    }

    #[test]
    fn reserved_label_names_are_refused() {
        assert_eq!(
            Family::<Vec<String>, Histogram>::new(["le"]).err(),
            Some(Error::InvalidLabelName("le".into()))
        );
        assert!(Family::<Vec<String>, Counter>::new(["__name__"]).is_err());
        assert!(Family::<Vec<String>, Counter>::new(["a", "a"]).is_err());
    }
}
