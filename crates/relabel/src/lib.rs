//! Prometheus relabeling: rewriting and filtering label sets with a chain of rules.
//!
//! Relabeling is how Prometheus turns discovered targets into scrape targets
//! (`relabel_configs`), trims scraped series (`metric_relabel_configs`), and shapes what
//! goes to Alertmanager and remote storage. This crate is the rule engine alone: it knows
//! nothing of scraping or discovery, takes a [`Labels`](promlite_model::Labels) and a
//! chain of rules, and returns the rewritten set or `None` for "dropped".
//!
//! # Main types
//!
//! - [`RelabelConfigSpec`]: one rule as written in YAML, with Prometheus's field names
//!   and defaults (`separator: ";"`, `regex: "(.*)"`, `replacement: "$1"`,
//!   `action: replace`). It derives serde's traits, so Prometheus configuration files
//!   load unchanged through any serde YAML crate.
//! - [`RelabelConfig`]: a rule that passed Prometheus's validation, ready to run. It
//!   deserialises from the same YAML (validating as it goes) and serialises back.
//! - [`Regex`]: a rule's pattern, compiled anchored as `^(?s:…)$`.
//! - [`Action`]: the eleven actions — `replace`, `keep`, `drop`, `keepequal`,
//!   `dropequal`, `hashmod`, `labelmap`, `labeldrop`, `labelkeep`, `lowercase`,
//!   `uppercase`.
//! - [`relabel`] runs a chain; [`trace`] runs it and records each [`TraceStep`], the
//!   basis of a "why is my target missing?" explainer.
//! - [`Error`]: every rejection, with Prometheus's message.
//!
//! # Design decisions
//!
//! - **Prometheus's behaviour is the specification**, quirks included, each marked where
//!   it is matched: `$1x` names the group `1x`; a `replace` whose expanded target is not a
//!   valid label name writes nothing; `labelmap` writes names without checking them and
//!   visits labels in Prometheus's builder order; `hashmod` uses the last eight bytes of
//!   the MD5 sum; `lowercase`/`uppercase` use Go's one-to-one case mapping; a
//!   `keepequal` rule may not set `regex`, even to `(.*)`.
//! - **Validation happens when a rule is built**, never while it runs. A [`RelabelConfig`]
//!   can only be obtained through the checks, so running a chain cannot fail, and the
//!   checks' order and messages are Prometheus's, so the first error reported is the one
//!   `promtool` reports. The YAML form ([`RelabelConfigSpec`]) stays a separate, plain
//!   type so it can hold what the user wrote, including invalid rules to report on.
//! - **Both name validation schemes.** Prometheus 3 accepts any UTF-8 label name; the
//!   legacy scheme allows `[a-zA-Z_][a-zA-Z0-9_]*`. The scheme is chosen per rule
//!   ([`promlite_model::ValidationScheme`]) and governs the checks of `target_label` and
//!   of `labelmap`'s `replacement`, and the run-time check of expanded targets.
//! - **No allocation on the hot path.** Rules run against a working state that mirrors
//!   Prometheus's `labels.Builder`, kept in reused per-thread buffers; the caller's
//!   [`LabelsBuilder`](promlite_model::LabelsBuilder) builds the result. A warm call
//!   allocates only the returned set, and nothing when no rule changed anything. The
//!   default regex `(.*)` never runs a regex engine, and match-only actions use
//!   [`promlite_model::Matcher`]'s literal and prefix fast paths.
//! - **Only serde in the library.** No YAML crate is a dependency; callers bring their
//!   own (the tests use `serde_norway`).
//!
//! # Example
//!
//! ```
//! use promlite_model::{Labels, LabelsBuilder};
//! use promlite_relabel::{RelabelConfig, relabel};
//!
//! // Prometheus YAML, here as JSON (any serde format works the same way).
//! let rules: Vec<RelabelConfig> = serde_json::from_str(r#"[
//!     {"source_labels": ["__address__"], "regex": "(.*):\\d+", "target_label": "host"},
//!     {"source_labels": ["job"], "regex": "node", "action": "keep"},
//!     {"regex": "__.*", "action": "labeldrop"}
//! ]"#).unwrap();
//!
//! let target = Labels::from_pairs([("__address__", "db1:9100"), ("job", "node")]);
//! let mut builder = LabelsBuilder::new();
//! let out = relabel(&target, &rules, &mut builder).unwrap();
//! assert_eq!(out.to_string(), r#"{host="db1", job="node"}"#);
//!
//! let other = Labels::from_pairs([("__address__", "db1:9187"), ("job", "postgres")]);
//! assert_eq!(relabel(&other, &rules, &mut builder), None);
//! ```
#![deny(missing_docs)]

mod action;
mod case;
mod config;
mod error;
mod expand;
mod pattern;
mod process;

pub use action::Action;
pub use config::{DEFAULT_REPLACEMENT, DEFAULT_SEPARATOR, RelabelConfig, RelabelConfigSpec};
pub use error::Error;
pub use pattern::Regex;
pub use process::{TraceStep, relabel, trace};
