//! promlite: Prometheus re-built as a family of reusable Rust crates.
//!
//! This root package is the facade for programs that embed promlite. It re-exports the
//! component crates under short names; the embedding API (`Monitor`) grows here as the
//! components land.
//!
//! Rule unit tests in promtool's format run from `cargo test`:
//!
//! ```no_run
//! #[test]
//! fn alerts() {
//!     promlite::rules::test_file("alerts_test.yml").unwrap();
//! }
//! ```
//!
//! ```
//! use promlite::model::Labels;
//! let l = Labels::from_pairs([("__name__", "up")]);
//! assert_eq!(l.metric_name(), Some("up"));
//! ```
#![deny(missing_docs)]

pub use promlite_exposition as exposition;
pub use promlite_model as model;
pub use promlite_promql as promql;
pub use promlite_rules as rules;
pub use promlite_storage as storage;
pub use promlite_tsdb as tsdb;
