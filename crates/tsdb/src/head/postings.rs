//! The head's inverted index: label pair → sorted list of series ids, and the set
//! algebra PromQL selections need (intersection with galloping search, union,
//! difference).

use hashbrown::HashMap;
use promlite_model::{Labels, Matcher};

/// Label pair → ascending series ids.
#[derive(Default)]
pub(crate) struct MemPostings {
    by_name: HashMap<Box<str>, HashMap<Box<str>, Vec<u32>>>,
    all: Vec<u32>,
}

/// Inserts `id` keeping `list` ascending. Ids are handed out in increasing order, so this
/// is a push unless concurrent creators raced, when it moves a few places back.
fn insert_sorted(list: &mut Vec<u32>, id: u32) {
    let at = list.iter().rev().take_while(|&&x| x > id).count();
    list.insert(list.len() - at, id);
}

impl MemPostings {
    pub(crate) fn add(&mut self, id: u32, labels: &Labels) {
        insert_sorted(&mut self.all, id);
        for l in labels {
            let values = match self.by_name.get_mut(l.name) {
                Some(v) => v,
                None => self.by_name.entry(l.name.into()).or_default(),
            };
            match values.get_mut(l.value) {
                Some(list) => insert_sorted(list, id),
                None => {
                    values.insert(l.value.into(), vec![id]);
                }
            }
        }
    }

    /// Removes the given ids (sorted) from every list, dropping lists that become empty.
    pub(crate) fn delete(&mut self, ids: &[u32]) {
        let gone = |id: &u32| ids.binary_search(id).is_ok();
        self.all.retain(|id| !gone(id));
        self.by_name.retain(|_, values| {
            values.retain(|_, list| {
                list.retain(|id| !gone(id));
                !list.is_empty()
            });
            !values.is_empty()
        });
    }

    pub(crate) fn label_names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(|k| &**k)
    }

    pub(crate) fn label_values(&self, name: &str) -> impl Iterator<Item = (&str, &[u32])> {
        self.by_name
            .get(name)
            .into_iter()
            .flat_map(|v| v.iter().map(|(k, l)| (&**k, l.as_slice())))
    }

    fn get(&self, name: &str, value: &str) -> &[u32] {
        self.by_name
            .get(name)
            .and_then(|v| v.get(value))
            .map_or(&[], Vec::as_slice)
    }

    /// The union of the lists of values of `m.name()` for which `want == m.matches(value)`.
    fn matching(&self, m: &Matcher, want: bool) -> Vec<u32> {
        if want && let Some(set) = m.set_matches() {
            let lists: Vec<&[u32]> = set.iter().map(|v| self.get(m.name(), v)).collect();
            return union(&lists);
        }
        let lists: Vec<&[u32]> = self
            .label_values(m.name())
            .filter(|(v, _)| m.matches(v) == want)
            .map(|(_, l)| l)
            .collect();
        union(&lists)
    }

    /// Ids of series matching every matcher (Prometheus's `PostingsForMatchers`).
    ///
    /// A matcher that matches the empty string also selects series without the label, so
    /// it cannot be answered by the label's postings; instead the series whose value does
    /// *not* match are subtracted from the result.
    pub(crate) fn for_matchers(&self, matchers: &[Matcher]) -> Vec<u32> {
        let mut include: Vec<Vec<u32>> = Vec::new();
        let mut exclude: Vec<Vec<u32>> = Vec::new();
        for m in matchers {
            if m.matches_empty() {
                exclude.push(self.matching(m, false));
            } else {
                let list = self.matching(m, true);
                if list.is_empty() {
                    return Vec::new();
                }
                include.push(list);
            }
        }
        include.sort_by_key(Vec::len);
        let mut result = match include.split_first() {
            Some((first, rest)) => rest.iter().fold(first.clone(), |acc, l| intersect(&acc, l)),
            None => self.all.clone(),
        };
        let exclude: Vec<&[u32]> = exclude.iter().map(Vec::as_slice).collect();
        let exclude = union(&exclude);
        if !exclude.is_empty() {
            result = difference(&result, &exclude);
        }
        result
    }
}

/// Intersection of two ascending lists, galloping through the longer one.
pub(crate) fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (small, mut large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    for &x in small {
        // Gallop: double the step until past x, then binary search that window.
        let mut step = 1;
        while step < large.len() && large[step] < x {
            step *= 2;
        }
        let window = &large[..large.len().min(step + 1)];
        let i = window.partition_point(|&y| y < x);
        large = &large[i..];
        if large.first() == Some(&x) {
            out.push(x);
            large = &large[1..];
        }
        if large.is_empty() {
            break;
        }
    }
    out
}

/// Union of ascending lists.
pub(crate) fn union(lists: &[&[u32]]) -> Vec<u32> {
    match lists {
        [] => Vec::new(),
        [one] => one.to_vec(),
        _ => {
            let mut out: Vec<u32> = Vec::with_capacity(lists.iter().map(|l| l.len()).sum());
            for l in lists {
                out.extend_from_slice(l);
            }
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

/// Elements of ascending `a` not in ascending `b`.
pub(crate) fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if b.get(j) != Some(&x) {
            out.push(x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use promlite_model::MatchType;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn set_algebra(a in proptest::collection::btree_set(0u32..300, 0..100),
                       b in proptest::collection::btree_set(0u32..300, 0..100)) {
            let va: Vec<u32> = a.iter().copied().collect();
            let vb: Vec<u32> = b.iter().copied().collect();
            prop_assert_eq!(intersect(&va, &vb), a.intersection(&b).copied().collect::<Vec<_>>());
            prop_assert_eq!(union(&[&va, &vb]), a.union(&b).copied().collect::<Vec<_>>());
            prop_assert_eq!(difference(&va, &vb), a.difference(&b).copied().collect::<Vec<_>>());
        }
    }

    #[test]
    fn matchers_follow_prometheus_semantics() {
        let mut p = MemPostings::default();
        let series = [
            Labels::from_pairs([("__name__", "up"), ("job", "a")]),
            Labels::from_pairs([("__name__", "up"), ("job", "b"), ("env", "prod")]),
            Labels::from_pairs([("__name__", "up"), ("env", "dev")]),
            Labels::from_pairs([("__name__", "down"), ("job", "a")]),
        ];
        for (i, l) in series.iter().enumerate() {
            p.add(i as u32, l);
        }
        let m = |t, n: &str, v: &str| Matcher::new(t, n, v).unwrap();
        let q = |p: &MemPostings, ms: &[Matcher]| -> BTreeSet<u32> {
            p.for_matchers(ms).into_iter().collect()
        };
        assert_eq!(
            q(&p, &[m(MatchType::Equal, "__name__", "up")]),
            [0, 1, 2].into()
        );
        assert_eq!(
            q(
                &p,
                &[
                    m(MatchType::Equal, "__name__", "up"),
                    m(MatchType::Equal, "env", "")
                ]
            ),
            [0].into()
        );
        assert_eq!(
            q(
                &p,
                &[
                    m(MatchType::Equal, "__name__", "up"),
                    m(MatchType::NotEqual, "env", "prod")
                ]
            ),
            [0, 2].into()
        );
        assert_eq!(
            q(&p, &[m(MatchType::Regexp, "job", "a|b")]),
            [0, 1, 3].into()
        );
        assert_eq!(
            q(&p, &[m(MatchType::Regexp, "job", ".*")]),
            [0, 1, 2, 3].into()
        );
        assert_eq!(
            q(&p, &[m(MatchType::Regexp, "job", ".+")]),
            [0, 1, 3].into()
        );
        assert_eq!(
            q(
                &p,
                &[
                    m(MatchType::NotRegexp, "job", "a"),
                    m(MatchType::Equal, "__name__", "up")
                ]
            ),
            [1, 2].into()
        );
        assert_eq!(q(&p, &[m(MatchType::Equal, "nope", "x")]), BTreeSet::new());
        p.delete(&[1]);
        assert_eq!(
            q(&p, &[m(MatchType::Equal, "__name__", "up")]),
            [0, 2].into()
        );
        assert_eq!(p.label_values("env").count(), 1);
    }
}
