//! Rules for promlite: Prometheus's recording and alerting rule files, loaded and
//! validated as Prometheus's `model/rulefmt` does, evaluated as its `rules` package does,
//! with alerts sent to Alertmanager as its `notifier` does and rule unit tests run as
//! `promtool test rules` runs them.
//!
//! # Main types
//!
//! - Loading: [`RuleGroups`] (a file; [`RuleGroups::load`], [`RuleFileOptions`]),
//!   [`RuleGroup`], [`Rule`] = [`RecordingRule`] | [`AlertingRule`], [`duplicate_rules`].
//! - Templates: [`Template`] is Go's `text/template` with Prometheus's functions
//!   (`humanize`, `query`, `toTime`, …); [`expand_alert_text`] expands one alert label or
//!   annotation as an alerting rule does, a failure becoming `<error expanding
//!   template: …>`.
//! - Evaluation: [`Group`] evaluates its rules in order at one timestamp over
//!   [`EvalOptions`] (a shared `Arc<Engine>`, `Arc<dyn Queryable>`, `Arc<dyn
//!   Appendable>`, external labels and URL, Prometheus's `--rules.alert.*` flags).
//!   [`Manager`] owns the groups of the loaded files, runs them on tokio
//!   ([`Manager::start`] / [`Manager::stop`]), reloads them ([`Manager::update`],
//!   [`Manager::update_from_files`], which keeps the old rules when a file is bad) and
//!   reports [`GroupSnapshot`]s and [`Alert`]s for `/api/v1/rules` and `/api/v1/alerts`.
//! - Notification: [`Notifier`] queues alerts (bounded, oldest dropped), applies external
//!   labels and `alert_relabel_configs`, and posts batches of [`MAX_BATCH_SIZE`] to every
//!   Alertmanager's `/api/v2/alerts`. A group hands alerts to any [`AlertSender`].
//! - Unit tests: [`test_file`] (for `#[test]` functions: the error's `Display` is
//!   promtool's report with expected vs got), [`run_test_file`] /
//!   [`run_test_file_with`] ([`TestOptions`]: promtool's `--run` and
//!   `--ignore-unknown-fields`) and [`report_lines`] (for the CLI: promtool's lines and a
//!   last `N passed, M failed`).
//! - [`Error`]: one enum for the crate. Loading returns every problem of a file,
//!   `file:line:col: reason`, as Prometheus does.
//!
//! # Design decisions
//!
//! - **Prometheus's words and order.** Checks and messages follow `rulefmt.go`
//!   (`groupname: "x" is repeated in the same file`, `invalid field 'for' in recording
//!   rule`, …), the template parser gives Go's messages (`template: __alert_A:1:
//!   undefined variable "$x"`), evaluation errors are Prometheus's (`exceeded limit of 10
//!   with 12 series`, `vector contains metrics with the same labelset after applying
//!   alert labels`) and unit test failures are promtool's text, so users can search them.
//! - **Decode, then validate.** The YAML twins are all-optional; the public types are
//!   built only from valid input: a [`Rule`] is recording or alerting, never both, and
//!   always has a parsed expression. Positions come from an index of the block-style
//!   text (serde has no YAML nodes).
//! - **Templates are parsed the way they run.** Prometheus prepends the definitions of
//!   `$labels`, `$externalLabels`, `$externalURL` and `$value` to every alert template;
//!   so does [`Template::parse_alert`], which keeps line and column numbers in messages
//!   identical. Go's untyped constants keep their kinds (`gt $value 1` is Go's
//!   `incompatible types for comparison`; write `1.0`).
//! - **Evaluation is synchronous; scheduling is not.** [`Group::eval`] is plain code
//!   (testable at any timestamp, used by the unit-test runner); only [`Manager`] touches
//!   tokio, running each evaluation with `spawn_blocking` because PromQL is CPU work.
//!   Each rule's output is committed before the next rule runs, so later rules see it.
//! - **Groups are offset, not aligned.** [`Group::eval_timestamp`] shifts a group within
//!   its interval by a hash of its name and file, as Prometheus does, so groups with the
//!   same interval do not all query at once.
//! - **Peers are the oracle.** Template output and errors, rule evaluation over time
//!   (alert states, `ALERTS`, recorded series) and unit-test verdicts are compared with
//!   promtool, and notifications with a real Alertmanager, in `tests/*_peer.rs` and
//!   `tests/unittest_conformance.rs`.
//! - **Known differences.** Only the first unknown field of a rule file is reported;
//!   labels and annotations are checked in name order; multi-document files are not
//!   read. Unit-test input series use a local parser of the expanding notation (floats,
//!   `_`, `stale`, `a+bxN`, histogram literals with `xN` and `+{{…}}xN`) until
//!   `promlite_promql::promqltest` exposes its own.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use promlite_rules::{Rule, RuleGroups};
//!
//! let yaml = "
//! groups:
//!   - name: api
//!     interval: 30s
//!     rules:
//!       - record: job:errors:rate5m
//!         expr: sum by (job) (rate(errors_total[5m]))
//!       - alert: HighErrors
//!         expr: job:errors:rate5m > 1
//!         for: 10m
//!         annotations:
//!           summary: '{{ $labels.job }} fails'
//! ";
//! let rules = RuleGroups::from_yaml(yaml, Path::new("api.rules.yml")).unwrap();
//! assert_eq!(rules.rule_count(), 2);
//! let Rule::Alerting(a) = &rules.groups[0].rules[1] else { unreachable!() };
//! assert_eq!(a.for_duration.as_secs(), 600);
//!
//! let bad = "groups:\n  - name: api\n    rules:\n      - record: x\n        expr: 'up +'\n";
//! let errs = RuleGroups::from_yaml(bad, Path::new("bad.yml")).unwrap_err();
//! assert_eq!(
//!     errs[0].to_string(),
//!     r#"bad.yml:5:15: group "api", rule 1, "x": could not parse expression: 1:5: parse error: unexpected end of input"#
//! );
//! ```
//!
//! Evaluating a group over an in-memory store, at chosen timestamps:
//!
//! ```
//! use std::path::Path;
//! use std::sync::Arc;
//! use promlite_model::Labels;
//! use promlite_promql::{Engine, EngineOptions};
//! use promlite_rules::{AlertState, EvalOptions, Group, RuleGroups};
//! use promlite_storage::{Appendable, MemStore, SeriesRef};
//!
//! let store = Arc::new(MemStore::new());
//! let mut app = store.appender();
//! let up = Labels::from_pairs([("__name__", "up"), ("instance", "db1:9100")]);
//! app.append(SeriesRef::NONE, &up, 0, 0.0).unwrap();
//! app.commit().unwrap();
//!
//! let yaml = r#"
//! groups:
//!   - name: availability
//!     rules:
//!       - alert: InstanceDown
//!         expr: up == 0
//!         annotations:
//!           summary: "{{ $labels.instance }} is down"
//! "#;
//! let rules = RuleGroups::from_yaml(yaml, Path::new("a.yml")).unwrap();
//! let engine = Arc::new(Engine::new(EngineOptions::new()));
//! let opts = Arc::new(EvalOptions::new(engine, store.clone(), store));
//! let mut group = Group::new("a.yml", &rules.groups[0], opts);
//! group.eval(0);
//! let alerts = group.active_alerts();
//! assert_eq!(alerts[0].state, AlertState::Firing);
//! assert_eq!(alerts[0].annotations.get("summary"), Some("db1:9100 is down"));
//! ```
//!
//! Rule unit tests in a cargo test (the failure message is promtool's diff):
//!
//! ```no_run
//! #[test]
//! fn alerts() {
//!     promlite_rules::test_file("alerts_test.yml").unwrap();
//! }
//! ```
#![deny(missing_docs)]
// Errors are built only on failure paths; `Error::Rule` keeps its positions inline so
// callers can match on fields, which makes it larger than clippy's default threshold.
#![allow(clippy::result_large_err)]

mod alert;
mod error;
mod file;
mod group;
mod manager;
mod notifier;
mod position;
mod template;
mod unittest;

pub use alert::{Alert, AlertState};
pub use group::{
    AlertSender, AlertingSnapshot, EvalOptions, Group, GroupSnapshot, RuleHealth, RuleSnapshot,
};
pub use manager::Manager;
pub use notifier::{
    AlertmanagerStats, AlertmanagerTarget, Decorate, MAX_BATCH_SIZE, Notifier, NotifierAlert,
    NotifierOptions, NotifierStats,
};
pub use template::{QueryFn, QuerySample, Template, TemplateContext, expand_alert_text};
pub use unittest::{
    TestGroupReport, TestOptions, TestReport, report_lines, run_test_file, run_test_file_with,
    test_file,
};

pub use error::Error;
pub use file::{
    AlertingRule, RecordingRule, Rule, RuleFileOptions, RuleGroup, RuleGroups, duplicate_rules,
};
