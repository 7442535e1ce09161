//! The rules crate's error type: why a rule file was rejected, and where.

use std::fmt;
use std::path::PathBuf;

use promlite_model::go_quote;

/// One reason a rule file was rejected.
///
/// A file can have many problems; loading returns all of them, in Prometheus's order.
/// Each prints as `FILE:LINE:COL: reason` when the position is known, with the reason in
/// Prometheus's words (`rules.yml:7:15: group "g", rule 1, "x": could not parse
/// expression: 1:7: parse error: unexpected end of input`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not YAML or does not fit the schema: a syntax error, a value of the
    /// wrong type, or a field Prometheus does not know (`field annotation not found in
    /// type rulefmt.Rule`).
    #[error("{}{}: {message}", path.display(), Pos(*position))]
    Yaml {
        /// The file.
        path: PathBuf,
        /// Line and column (1-based), when known.
        position: Option<(usize, usize)>,
        /// The reason.
        message: String,
    },
    /// A group is invalid: its name is empty or repeated, or one of its labels is.
    #[error("{}{}: {message}", path.display(), Pos(*position))]
    Group {
        /// The file.
        path: PathBuf,
        /// Line and column (1-based) of the group, when known.
        position: Option<(usize, usize)>,
        /// The group's name.
        group: String,
        /// The reason (`groupname: "x" is repeated in the same file`).
        message: String,
    },
    /// A rule is invalid.
    #[error(
        "{}{}{}: group {}, rule {rule}, {}: {message}",
        path.display(), Pos(*position), Alt(*alt_position), go_quote(group), go_quote(name)
    )]
    Rule {
        /// The file.
        path: PathBuf,
        /// Line and column (1-based) of the offending value, when known.
        position: Option<(usize, usize)>,
        /// A second position, when Prometheus names two (`record` and `alert` both set).
        alt_position: Option<(usize, usize)>,
        /// The group's name.
        group: String,
        /// The rule's number in its group, from 1.
        rule: usize,
        /// The rule's `alert` or `record` name.
        name: String,
        /// The reason (`could not parse expression: …`, `invalid field 'for' in
        /// recording rule`, …).
        message: String,
    },
    /// A template could not be parsed or executed; the message is Prometheus's
    /// (`error executing template __alert_A: template: __alert_A:1:120: executing
    /// "__alert_A" at <humanize>: error calling humanize: …`).
    #[error("{message}")]
    Template {
        /// The whole message.
        message: String,
    },
    /// A rule's evaluation failed: its query, a limit (`exceeded limit of 10 with 12
    /// series`), duplicate output series, or storing the result.
    #[error("{message}")]
    Eval {
        /// Prometheus's message.
        message: String,
    },
    /// Sending alerts to an Alertmanager failed.
    #[error("{url}: {message}")]
    Notify {
        /// The Alertmanager's alerts endpoint.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A rule unit test file could not be run, or some of its tests failed; the message
    /// is promtool's report (with the expected-vs-got diff of each failure).
    #[error("{message}")]
    UnitTest {
        /// The test file.
        path: PathBuf,
        /// The report.
        message: String,
    },
}

impl Error {
    /// Line and column (1-based) of the problem, when known.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            Error::Yaml { position, .. }
            | Error::Group { position, .. }
            | Error::Rule { position, .. } => *position,
            _ => None,
        }
    }
}

struct Pos(Option<(usize, usize)>);

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((l, c)) => write!(f, ":{l}:{c}"),
            None => Ok(()),
        }
    }
}

/// Prometheus prints a second position after the first, as `4:17: 5:16:`.
struct Alt(Option<(usize, usize)>);

impl fmt::Display for Alt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((l, c)) => write!(f, ": {l}:{c}"),
            None => Ok(()),
        }
    }
}
