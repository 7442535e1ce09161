//! A secondary store that fails (a remote-read endpoint that is down) leaves a warning
//! on the query, shown as Prometheus shows storage warnings (the message alone), while
//! the primary's data still answers.

use std::sync::Arc;

use promlite_model::{Labels, Matcher};
use promlite_promql::{Engine, EngineOptions};
use promlite_storage::{
    Appendable, Error, LabelHints, MemStore, MergeQueryable, Querier, Queryable, Result,
    SelectHints, SeriesRef, SeriesSet,
};

/// A store whose every selection fails.
struct Down;

struct DownQuerier;

struct DownSet<'q>(bool, std::marker::PhantomData<&'q ()>);

impl<'q> Iterator for DownSet<'q> {
    type Item = Result<Box<dyn promlite_storage::Series + 'q>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.0 {
            return None;
        }
        self.0 = true;
        Some(Err(Error::Other(
            "remote_read http://down/: connection refused".into(),
        )))
    }
}

impl<'q> SeriesSet<'q> for DownSet<'q> {}

impl Querier for DownQuerier {
    fn select<'q>(
        &'q self,
        _: bool,
        _: Option<&SelectHints>,
        _: &[Matcher],
    ) -> Box<dyn SeriesSet<'q> + 'q> {
        Box::new(DownSet(false, std::marker::PhantomData))
    }

    fn label_values(&self, _: &str, _: Option<&LabelHints>, _: &[Matcher]) -> Result<Vec<String>> {
        Err(Error::Other("down".into()))
    }

    fn label_names(&self, _: Option<&LabelHints>, _: &[Matcher]) -> Result<Vec<String>> {
        Err(Error::Other("down".into()))
    }
}

impl Queryable for Down {
    fn querier(&self, _: i64, _: i64) -> Result<Box<dyn Querier + '_>> {
        Ok(Box::new(DownQuerier))
    }
}

#[test]
fn a_failing_secondary_is_a_warning_not_an_error() {
    let local = MemStore::new();
    let mut app = local.appender();
    app.append(
        SeriesRef::NONE,
        &Labels::from_pairs([("__name__", "up")]),
        1_000,
        1.0,
    )
    .unwrap();
    app.commit().unwrap();
    let merged = MergeQueryable::new(Arc::new(local), vec![Arc::new(Down)]);
    let r = Engine::new(EngineOptions::new())
        .instant_query(&merged, "up", 2_000)
        .unwrap();
    assert_eq!(r.value.to_string().lines().count(), 1, "{}", r.value);
    let (warnings, infos) = r.annotations.as_strings("up");
    assert_eq!(warnings, ["remote_read http://down/: connection refused"]);
    assert!(infos.is_empty());
}
