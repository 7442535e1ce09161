//! Rule files for promlite: Prometheus's recording and alerting rule format, decoded and
//! validated exactly as Prometheus's `model/rulefmt` validates it.
//!
//! # Main types
//!
//! - [`RuleGroups`]: a whole rule file. [`RuleGroups::load`] reads and validates one with
//!   Prometheus 3's defaults; [`RuleFileOptions`] sets the name validation scheme, the
//!   PromQL parser's experimental features and whether unknown fields are accepted.
//! - [`RuleGroup`]: `name`, `interval`, `query_offset`, `limit`, `labels` and its rules.
//! - [`Rule`]: a [`RecordingRule`] (`record`, `expr`, `labels`) or an [`AlertingRule`]
//!   (`alert`, `expr`, `for`, `keep_firing_for`, `labels`, `annotations`), each with its
//!   expression parsed by `promlite_promql`.
//! - [`Error`]: one problem, `file:line:col: reason`. Loading returns every problem of a
//!   file, as Prometheus does, not just the first.
//! - [`duplicate_rules`]: promtool's lint for rules with the same name and labels.
//!
//! # Design decisions
//!
//! - **Prometheus's words and order.** Checks and messages follow `rulefmt.go`
//!   (`groupname: "x" is repeated in the same file`, `group "g", rule 1, "x": could not
//!   parse expression: 1:7: parse error: unexpected end of input`, `invalid field 'for' in
//!   recording rule`, `field annotation not found in type rulefmt.Rule`, …) so that
//!   `promlite check rules` and `promtool check rules` say the same things. Prometheus
//!   prints `file: 7:15: …`; we print `file:7:15: …`, as the config crate does.
//! - **Decode, then validate.** Prometheus decodes into plain structs and then checks
//!   them, so a missing `expr` or a recording rule with `for` is a validation error naming
//!   the group and rule. The YAML twins here are therefore all-optional, and the public
//!   types are built only from valid input: a [`Rule`] is either recording or alerting,
//!   never both, and always has a parsed expression.
//! - **Positions from the text.** serde has no YAML nodes, so positions of groups and of
//!   `record`, `alert` and `expr` values come from an index of the block-style text
//!   (the config crate's approach); syntax and type errors carry serde_norway's own
//!   positions. Where Prometheus prints `0:0:` for a missing node we print the rule's
//!   position; parts written in flow style get no position, never a wrong message.
//! - **Templates.** Prometheus parses alert labels and annotations as Go templates. We
//!   check what that parse catches in practice (unclosed actions, bad characters,
//!   undefined variables and functions, unbalanced `{{end}}`) with Go's messages; a
//!   full Go template parser is not included, so some malformed pipelines pass here.
//! - **Known differences.** Only the first unknown field is reported (Prometheus lists
//!   them all); labels and annotations are checked in name order (Go's map order is
//!   random); multi-document files are not read.
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
pub mod unittest;

pub use alert::{Alert, AlertState};
pub use group::{
    AlertSender, AlertingSnapshot, EvalOptions, Group, GroupSnapshot, RuleHealth, RuleSnapshot,
};
pub use manager::Manager;
pub use notifier::{
    AlertmanagerStats, MAX_BATCH_SIZE, Notifier, NotifierAlert, NotifierOptions, NotifierStats,
};
pub use template::{QueryFn, QuerySample, Template, TemplateContext, expand_alert_text};
pub use unittest::{TestReport, report_lines, run_test_file, test_file};

pub use error::Error;
pub use file::{
    AlertingRule, RecordingRule, Rule, RuleFileOptions, RuleGroup, RuleGroups, duplicate_rules,
};
