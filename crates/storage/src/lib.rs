//! The storage traits: the narrow waist where every producer of samples meets every
//! consumer.
//!
//! Producers — scrapes, rule evaluation, remote-write receivers, an application's own
//! instruments — write through [`Appendable`]/[`Appender`]. Consumers — PromQL, the HTTP
//! API, federation, remote read — read through [`Queryable`]/[`Querier`], which stream
//! [`Series`] whose samples come from a seekable [`SampleIterator`]. The TSDB implements
//! both sides; so does [`MemStore`], a small in-memory store for tests and tiny
//! embeddings; [`MergeQueryable`] joins several stores into one view.
//!
//! # Architecture invariant
//!
//! The traits speak only in model types ([`Labels`](promlite_model::Labels), `i64`
//! millisecond timestamps, `f64` and native histograms). Nothing here knows about chunk
//! encodings, files, PromQL or scraping, so each side can be replaced alone.
//!
//! # Design decisions
//!
//! - Appends are transactions: nothing is visible before `commit`, and a dropped
//!   appender rolls back. A scrape's samples therefore appear all at once or not at all.
//! - Appends return a [`SeriesRef`] that the caller passes back next time, so a scrape
//!   loop appending the same series every interval skips the label lookup.
//! - Iteration mirrors Prometheus's `chunkenc.Iterator` (`next`/`seek`/`at*`) rather than
//!   `std::iter::Iterator`: PromQL seeks to each step's window and reads floats without
//!   constructing an enum per sample.
//! - Start times (when a counter's count began, or a delta's interval) are optional
//!   extras: [`Appender::append_with_st`] and [`SampleIterator::at_st`] default to "none"
//!   (0), so a store or iterator that does not keep them needs no code. [`MemStore`]
//!   keeps them; PromQL reads them when its start-timestamp option is on.
//!
//! # Example
//!
//! ```
//! use promlite_model::{Labels, Matcher};
//! use promlite_storage::{Appendable, MemStore, Queryable, SeriesRef, ValueType};
//!
//! let store = MemStore::new();
//! let mut app = store.appender();
//! let series = Labels::from_pairs([("__name__", "temp")]);
//! let r = app.append(SeriesRef::NONE, &series, 1_000, 20.5).unwrap();
//! app.append(r, &series, 2_000, 21.0).unwrap();
//! app.commit().unwrap();
//!
//! let q = store.querier(1_500, 3_000).unwrap();
//! let s = q.select(false, None, &[Matcher::equal("__name__", "temp")]).next().unwrap().unwrap();
//! let mut it = s.samples();
//! assert_eq!(it.next(), ValueType::Float);
//! assert_eq!(it.at(), (2_000, 21.0));
//! ```
#![deny(missing_docs)]

mod error;
mod memory;
mod merge;
mod series;
mod traits;

pub use error::{Error, Result};
pub use memory::{MemStore, TAIL_LEN};
pub use merge::{ChainIterator, MergeQueryable, merge_queriers};
pub use series::{FPoint, ListSeriesSet, Sample, SampleSeries, SampleValue, collect_samples};
pub use traits::{
    Appendable, Appender, HistogramRef, LabelHints, LastSample, Querier, Queryable, SampleIterator,
    SelectHints, Series, SeriesRef, SeriesSet, ValueType, read_last,
};
