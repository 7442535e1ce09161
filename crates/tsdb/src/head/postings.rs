//! The head's inverted index: label pair → sorted list of series ids.

use std::borrow::Cow;
use std::convert::Infallible;

use hashbrown::HashMap;
use promlite_model::{Labels, Matcher};

use super::CardinalityLists;

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
    /// Cardinality statistics over the index, each list cut to its `limit` largest
    /// (ties by name), as Prometheus computes them for `/api/v1/status/tsdb`: series per
    /// metric name, values per label name, value bytes times series per label name, and
    /// series per label pair. The last element is the number of distinct label pairs.
    pub(crate) fn stats(&self, limit: usize) -> (CardinalityLists, usize) {
        let mut lists = CardinalityLists::default();
        let mut pairs = 0;
        for (name, values) in &self.by_name {
            pairs += values.len();
            lists
                .label_value_count_by_label_name
                .push((name.to_string(), values.len() as u64));
            let mut bytes = 0u64;
            for (value, ids) in values {
                let n = ids.len() as u64;
                if &**name == "__name__" {
                    lists
                        .series_count_by_metric_name
                        .push((value.to_string(), n));
                }
                lists
                    .series_count_by_label_value_pair
                    .push((format!("{name}={value}"), n));
                bytes += value.len() as u64 * n;
            }
            lists
                .memory_in_bytes_by_label_name
                .push((name.to_string(), bytes));
        }
        for list in [
            &mut lists.series_count_by_metric_name,
            &mut lists.label_value_count_by_label_name,
            &mut lists.memory_in_bytes_by_label_name,
            &mut lists.series_count_by_label_value_pair,
        ] {
            list.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            list.truncate(limit);
        }
        (lists, pairs)
    }

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

    /// Ids of series matching every matcher.
    pub(crate) fn for_matchers(&self, matchers: &[Matcher]) -> Vec<u32> {
        match crate::postings::for_matchers(self, matchers) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }
}

impl crate::postings::Postings for MemPostings {
    type Error = Infallible;

    fn all(&self) -> Result<Cow<'_, [u32]>, Infallible> {
        Ok(Cow::Borrowed(&self.all))
    }

    fn list(&self, name: &str, value: &str) -> Result<Cow<'_, [u32]>, Infallible> {
        Ok(Cow::Borrowed(self.get(name, value)))
    }

    fn lists_where(
        &self,
        name: &str,
        keep: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Vec<Cow<'_, [u32]>>, Infallible> {
        Ok(self
            .label_values(name)
            .filter(|(v, _)| keep(v))
            .map(|(_, l)| Cow::Borrowed(l))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promlite_model::MatchType;
    use std::collections::BTreeSet;

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
