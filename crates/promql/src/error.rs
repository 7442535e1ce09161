//! The parse error type: a message in Prometheus's words plus the position it refers to.

use std::fmt;

use crate::ast::PosRange;

/// What stage of parsing rejected the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The lexer met a character, number, string or duration it cannot read.
    Lexical,
    /// The token stream does not follow the grammar.
    Syntax,
    /// The grammar is followed but a rule of the language is broken while building the
    /// tree: an unknown function, an offset set twice, a disabled experimental feature, …
    Semantic,
    /// The static type check failed (e.g. a range vector where an instant vector is needed).
    Type,
    /// The input exceeds a resource limit (nesting depth, length).
    Limit,
}

/// Where an error starts, as Prometheus prints it: 1-based line and byte column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// `line:column`, both 1-based; the column counts bytes like Prometheus does.
    At {
        /// 1-based line number.
        line: u32,
        /// 1-based byte column within the line.
        column: u32,
    },
    /// The query was empty (Prometheus prints `unknown position`).
    Unknown,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::At { line, column } => write!(f, "{line}:{column}"),
            Location::Unknown => f.write_str("unknown position"),
        }
    }
}

/// A PromQL parse error.
///
/// Its `Display` form is exactly Prometheus's (`1:14: parse error: unexpected "=" in label
/// matching, expected string`) because users paste these messages into search engines.
/// Like Prometheus, only the first error found is reported.
///
/// The details live behind one allocation so `Result<Expr, ParseError>` stays small on the
/// success path.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: parse error: {}", .0.location, .0.message)]
#[non_exhaustive]
pub struct ParseError(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    span: PosRange,
    location: Location,
    message: String,
}

impl ParseError {
    /// Builds an error for `span` of `input`, computing the line and column.
    pub(crate) fn new(kind: ErrorKind, span: PosRange, input: &[u8], message: String) -> Self {
        ParseError(Box::new(Inner {
            kind,
            span,
            location: locate(input, span.start),
            message,
        }))
    }

    /// Which stage rejected the input.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The byte range of the input the error refers to.
    pub fn span(&self) -> PosRange {
        self.0.span
    }

    /// The start of [`span`](Self::span) as line and column.
    pub fn location(&self) -> Location {
        self.0.location
    }

    /// The message without the position prefix, e.g. `unexpected end of input`.
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl fmt::Debug for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseError")
            .field("kind", &self.0.kind)
            .field("span", &self.0.span)
            .field("message", &self.0.message)
            .finish()
    }
}

/// Prometheus's `PositionRange.StartPosInput`: lines are counted by `\n`, columns in bytes.
fn locate(input: &[u8], pos: u32) -> Location {
    if input.is_empty() {
        return Location::Unknown;
    }
    let pos = (pos as usize).min(input.len());
    let before = &input[..pos];
    let line = before.split(|&b| b == b'\n').count();
    let last_break = before.iter().rposition(|&b| b == b'\n');
    let column = match last_break {
        Some(i) => pos - i,
        None => pos + 1,
    };
    Location::At {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_bytes() {
        let e = ParseError::new(
            ErrorKind::Syntax,
            PosRange::new(5, 6),
            b"ab\ncdef",
            "x".into(),
        );
        assert_eq!(e.to_string(), "2:3: parse error: x");
        let e = ParseError::new(ErrorKind::Syntax, PosRange::new(0, 0), b"", "y".into());
        assert_eq!(e.to_string(), "unknown position: parse error: y");
    }
}
