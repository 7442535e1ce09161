//! Parse errors: what went wrong ([`ErrorKind`]) and where ([`Position`]).

use std::fmt;

/// Where in the input an error was found.
///
/// Text formats report a 1-based line and column (the column counts characters, not
/// bytes, so it matches what an editor shows). The protobuf format has no lines; its
/// errors carry only the byte offset of the length-delimited message at fault, and
/// `line` and `col` are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// Byte offset into the input.
    pub offset: usize,
    /// 1-based line, or 0 for binary input.
    pub line: u32,
    /// 1-based column in characters, or 0 for binary input.
    pub col: u32,
}

impl Position {
    /// The position of byte `offset` in a text `input`.
    ///
    /// Computed only when an error is raised, so the parsers never count lines on the hot
    /// path.
    pub fn in_text(input: &[u8], offset: usize) -> Position {
        let offset = offset.min(input.len());
        let before = &input[..offset];
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
        let line = memchr::memchr_iter(b'\n', before).count() + 1;
        // Count characters, not bytes: continuation bytes (0b10xx_xxxx) do not start one.
        let col = before[line_start..]
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count()
            + 1;
        Position {
            offset,
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
        }
    }

    /// The position of byte `offset` in binary input.
    pub fn in_binary(offset: usize) -> Position {
        Position {
            offset,
            line: 0,
            col: 0,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "byte {}", self.offset)
        } else {
            write!(f, "{}:{}", self.line, self.col)
        }
    }
}

/// An error in exposition input: a kind and a position.
///
/// The kind is boxed so that `Result<Entry, ParseError>` stays small on the hot path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{pos}: {kind}")]
pub struct ParseError {
    /// Where the problem is.
    pub pos: Position,
    /// What the problem is.
    pub kind: Box<ErrorKind>,
}

impl ParseError {
    /// An error of `kind` at `pos`.
    pub fn new(pos: Position, kind: ErrorKind) -> ParseError {
        ParseError {
            pos,
            kind: Box::new(kind),
        }
    }

    /// The 1-based line (0 for binary input).
    pub fn line(&self) -> u32 {
        self.pos.line
    }

    /// The 1-based column in characters (0 for binary input).
    pub fn col(&self) -> u32 {
        self.pos.col
    }
}

/// What is wrong with the input. The messages follow Prometheus's `textparse` wording so
/// that operators see familiar text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A token of one kind was required and something else was found. `found` is the
    /// offending text (empty at the end of the input).
    #[error("expected {expected}, got {}", Found(found))]
    Expected {
        /// What the grammar required here, e.g. `value after metric`.
        expected: &'static str,
        /// What the input held instead.
        found: String,
    },
    /// `# TYPE` named a type the format does not know.
    #[error("invalid metric type {0:?}")]
    InvalidMetricType(String),
    /// A sample or exemplar value is not a float.
    #[error("invalid float {0:?}")]
    InvalidFloat(String),
    /// A float uses a character Prometheus rejects on purpose (`_`, or a hex float's `p`).
    #[error("unsupported character in float {0:?}")]
    UnsupportedFloatChar(String),
    /// A sample timestamp is not valid for the format (not an integer in the text format;
    /// NaN or infinite in OpenMetrics).
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    /// An exemplar timestamp is not a finite float.
    #[error("invalid exemplar timestamp {0:?}")]
    InvalidExemplarTimestamp(String),
    /// A series has labels but no metric name.
    #[error("metric name not set")]
    MetricNameNotSet,
    /// A series names its metric twice (outside and inside the braces, or twice inside).
    #[error("metric name already set")]
    MetricNameSetTwice,
    /// A label name appears twice in one label set.
    #[error("duplicate label name {0:?}")]
    DuplicateLabelName(String),
    /// A name is empty or otherwise not valid under the validation scheme.
    #[error("invalid label name {0:?}")]
    InvalidLabelName(String),
    /// A metric name is empty or otherwise invalid.
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
    /// A metadata line has its name but no text (OpenMetrics requires it).
    #[error("expected text in {0}")]
    ExpectedText(&'static str),
    /// OpenMetrics input did not end with `# EOF`.
    #[error("data does not end with # EOF")]
    MissingEof,
    /// OpenMetrics input continues after `# EOF`.
    #[error("unexpected data after # EOF")]
    DataAfterEof,
    /// An OpenMetrics `# UNIT` is not the suffix of its metric family's name.
    #[error("unit {unit:?} not a suffix of metric {metric:?}")]
    UnitNotSuffix {
        /// The declared unit.
        unit: String,
        /// The metric family's name.
        metric: String,
    },
    /// A metric family declares the same metadata twice (OpenMetrics).
    #[error("duplicate {what} for metric family {name:?}")]
    DuplicateMetadata {
        /// `HELP`, `TYPE` or `UNIT`.
        what: &'static str,
        /// The metric family.
        name: String,
    },
    /// Metadata for a family follows that family's samples (OpenMetrics).
    #[error("{what} for metric family {name:?} after its samples")]
    MetadataAfterSamples {
        /// `HELP`, `TYPE` or `UNIT`.
        what: &'static str,
        /// The metric family.
        name: String,
    },
    /// A metric family appears again after another family started (OpenMetrics forbids
    /// interleaving).
    #[error("metric family {0:?} is interleaved with another family")]
    InterleavedFamily(String),
    /// Exemplar labels are longer than OpenMetrics's limit of 128 UTF-8 characters.
    #[error("exemplar labels have {0} UTF-8 characters, more than 128")]
    ExemplarTooLong(usize),
    /// A backslash escape other than `\\`, `\"` and `\n` (`\"` is not allowed in HELP
    /// either); only strict mode rejects them, the scrape parser keeps them verbatim. Holds
    /// the escaped character.
    #[error("invalid escape sequence '\\{0}'")]
    InvalidEscape(String),
    /// A HELP or TYPE line whose metric name is not a valid legacy name, or is not
    /// followed by a blank (strict mode).
    #[error("invalid metric name in comment")]
    InvalidMetricNameInComment,
    /// A label named `__name__` (strict mode: expfmt reserves it for the metric name).
    #[error("label name {0:?} is reserved")]
    ReservedLabelName(String),
    /// A summary's `quantile` or a histogram's `le` label value is not a float (strict
    /// mode).
    #[error("expected float as value for '{label}' label, got {value:?}")]
    InvalidBound {
        /// `quantile` or `le`.
        label: &'static str,
        /// The value found.
        value: String,
    },
    /// The input ends inside a line: strict mode, like expfmt, requires every line to
    /// end with a line feed.
    #[error("unexpected end of input stream: the last line has no line feed")]
    MissingLineFeed,
    /// The input is not valid UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// A protobuf message could not be decoded.
    #[error("invalid protobuf: {0}")]
    Protobuf(String),
    /// A metric family in protobuf has a type number the format does not define.
    #[error("unknown metric type {number} for metric {name:?}")]
    UnknownProtobufType {
        /// The metric family.
        name: String,
        /// The type number found.
        number: i32,
    },
    /// A native histogram's spans and buckets disagree.
    #[error("histogram {name:?}: {side} side: spans require {want} buckets, have {have}")]
    InconsistentHistogram {
        /// The metric family.
        name: String,
        /// `positive` or `negative`.
        side: &'static str,
        /// Buckets the spans describe.
        want: u64,
        /// Buckets present.
        have: usize,
    },
}

/// Displays found text Go-quoted, or `end of input` when there is none.
struct Found<'a>(&'a str);

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("end of input")
        } else {
            promlite_model::write_go_quoted(f, self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let input = "ab\nçd\nx".as_bytes();
        assert_eq!(Position::in_text(input, 0).to_string(), "1:1");
        assert_eq!(Position::in_text(input, 3).to_string(), "2:1");
        // `ç` is two bytes but one column.
        assert_eq!(Position::in_text(input, 5).to_string(), "2:2");
        assert_eq!(Position::in_text(input, 99).to_string(), "3:2");
        assert_eq!(Position::in_binary(7).to_string(), "byte 7");
    }

    #[test]
    fn result_stays_small() {
        assert!(std::mem::size_of::<ParseError>() <= 40);
    }
}
