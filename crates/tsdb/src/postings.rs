//! Postings algebra shared by the head and blocks: sorted series-id lists, their
//! intersection (galloping through the longer list), union and difference, and
//! Prometheus's `PostingsForMatchers` evaluated over any index.

use std::borrow::Cow;

use promlite_model::Matcher;

/// An index that maps label pairs to ascending series-id lists.
pub(crate) trait Postings {
    /// Why reading a list failed (never, for in-memory indexes).
    type Error;

    /// Every series id.
    fn all(&self) -> Result<Cow<'_, [u32]>, Self::Error>;

    /// The ids of series with `name="value"`.
    fn list(&self, name: &str, value: &str) -> Result<Cow<'_, [u32]>, Self::Error>;

    /// The lists of every value of `name` for which `keep` returns true.
    fn lists_where(
        &self,
        name: &str,
        keep: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Vec<Cow<'_, [u32]>>, Self::Error>;
}

/// Ids of series matching every matcher (Prometheus's `PostingsForMatchers`).
///
/// A matcher that matches the empty string also selects series without the label, so it
/// cannot be answered from the label's lists; instead the series whose value does *not*
/// match are subtracted from the result.
pub(crate) fn for_matchers<P: Postings + ?Sized>(
    p: &P,
    matchers: &[Matcher],
) -> Result<Vec<u32>, P::Error> {
    let mut include: Vec<Vec<u32>> = Vec::new();
    let mut exclude: Vec<Vec<u32>> = Vec::new();
    for m in matchers {
        if m.matches_empty() {
            let lists = p.lists_where(m.name(), &mut |v| !m.matches(v))?;
            exclude.push(union_cow(lists));
        } else {
            let lists = match m.set_matches() {
                Some(set) => set
                    .iter()
                    .map(|v| p.list(m.name(), v))
                    .collect::<Result<Vec<_>, _>>()?,
                None => p.lists_where(m.name(), &mut |v| m.matches(v))?,
            };
            let list = union_cow(lists);
            if list.is_empty() {
                return Ok(Vec::new());
            }
            include.push(list);
        }
    }
    include.sort_by_key(Vec::len);
    let mut include = include.into_iter();
    let mut result = match include.next() {
        Some(first) => include.fold(first, |acc, l| intersect(&acc, &l)),
        None => p.all()?.into_owned(),
    };
    if !exclude.is_empty() {
        let exclude: Vec<&[u32]> = exclude.iter().map(Vec::as_slice).collect();
        let exclude = union(&exclude);
        if !exclude.is_empty() {
            result = difference(&result, &exclude);
        }
    }
    Ok(result)
}

/// The union of `lists`; a lone list is taken as it is (the commonest case, a matcher
/// on one value) rather than merged into a copy.
fn union_cow(mut lists: Vec<Cow<'_, [u32]>>) -> Vec<u32> {
    if lists.len() == 1
        && let Some(list) = lists.pop()
    {
        return list.into_owned();
    }
    let refs: Vec<&[u32]> = lists.iter().map(AsRef::as_ref).collect();
    union(&refs)
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
    use proptest::prelude::*;

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
}
