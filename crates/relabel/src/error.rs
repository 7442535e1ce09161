//! The relabel crate's error type: every way a relabel configuration can be rejected.

use std::fmt;

use promlite_model::write_go_quoted;

use crate::Action;

/// Why a relabel configuration was rejected.
///
/// The messages are Prometheus's own, word for word (`Config.Validate` in
/// `model/relabel/relabel.go`), so `promlite check config` prints what `promtool check
/// config` prints for the same file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `regex` field does not compile. `message` is the regex parser's explanation.
    #[error("error parsing regexp {}: {message}", Quoted(pattern))]
    InvalidRegex {
        /// The pattern as written, without the `^(?s:…)$` anchoring.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// The `action` field names no relabel action.
    #[error("unknown relabel action {}", Quoted(.0))]
    UnknownAction(String),
    /// The `action` field is present but null.
    #[error("relabel action cannot be empty")]
    EmptyAction,
    /// A `hashmod` rule without a `modulus` (or with 0).
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    ZeroModulus,
    /// An action that writes a label was given no `target_label`.
    #[error("relabel configuration for {action} action requires 'target_label' value")]
    MissingTargetLabel {
        /// The action of the rejected rule.
        action: Action,
    },
    /// The `target_label` is not a valid label name under the validation scheme in force
    /// (for `replace`, `$1`-style references are allowed in it).
    #[error(
        "{} is invalid 'target_label' for {action} action",
        Quoted(target_label)
    )]
    InvalidTargetLabel {
        /// The target label as written.
        target_label: String,
        /// The action of the rejected rule.
        action: Action,
    },
    /// `replacement` was set for an action that does not use it.
    #[error("'replacement' can not be set for {action} action")]
    ReplacementNotAllowed {
        /// The action of the rejected rule.
        action: Action,
    },
    /// The `replacement` of a `labelmap` rule cannot produce a valid label name.
    #[error("{} is invalid 'replacement' for {action} action", Quoted(replacement))]
    InvalidReplacement {
        /// The replacement as written.
        replacement: String,
        /// The action of the rejected rule.
        action: Action,
    },
    /// `keepequal`/`dropequal` with a field other than `source_labels` and `target_label`.
    #[error(
        "{action} action requires only 'source_labels' and `target_label`, and no other fields"
    )]
    OnlySourceAndTarget {
        /// The action of the rejected rule.
        action: Action,
    },
    /// `labeldrop`/`labelkeep` with a field other than `regex`.
    #[error("{action} action requires only 'regex', and no other fields")]
    OnlyRegex {
        /// The action of the rejected rule.
        action: Action,
    },
}

/// Displays a string quoted as Go's `%q` does, as Prometheus's messages quote it.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_go_quoted(f, self.0)
    }
}
