//! Query results: [`Value`] (scalar, string, instant vector, range vector), the sample and
//! series types the evaluator passes between nodes, and [`Annotations`] (warnings and
//! infos attached to a result, as Prometheus's `annotations` package renders them).

use std::fmt;
use std::sync::Arc;

use promlite_model::{FloatHistogram, Labels};

use crate::ast::PosRange;

/// A float point of a series: the storage crate's type, so selectors read samples into
/// point arrays in bulk ([`promlite_storage::SampleIterator::read_floats`]).
pub use promlite_storage::FPoint;

/// A native-histogram point of a series. Histograms are shared: the same value often
/// repeats across steps (lookback), and cloning an `Arc` is cheaper than the buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct HPoint {
    /// Milliseconds since the epoch.
    pub t: i64,
    /// The value.
    pub h: Arc<FloatHistogram>,
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels.
    pub metric: Labels,
    /// The evaluation timestamp (or, for `timestamp()`, the sample's own).
    pub t: i64,
    /// The float value (ignored when `h` is set).
    pub f: f64,
    /// The native-histogram value, if this is a histogram sample.
    pub h: Option<Arc<FloatHistogram>>,
    /// Delayed name removal: `__name__` is to be dropped when the query finishes.
    pub drop_name: bool,
}

impl Sample {
    /// A float sample.
    pub fn float(metric: Labels, t: i64, f: f64) -> Sample {
        Sample {
            metric,
            t,
            f,
            h: None,
            drop_name: false,
        }
    }
}

/// One series of a range vector: its points in time order. A series may hold floats and
/// histograms at different timestamps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The series' labels.
    pub metric: Labels,
    /// Float points.
    pub floats: Vec<FPoint>,
    /// Histogram points.
    pub histograms: Vec<HPoint>,
    /// Delayed name removal: `__name__` is to be dropped when the query finishes.
    pub drop_name: bool,
}

impl Series {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.floats.len() + self.histograms.len()
    }

    /// Whether the series has no points.
    pub fn is_empty(&self) -> bool {
        self.floats.is_empty() && self.histograms.is_empty()
    }
}

/// An instant vector.
pub type Vector = Vec<Sample>;

/// A range vector.
pub type Matrix = Vec<Series>;

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar at a timestamp.
    Scalar {
        /// Evaluation time.
        t: i64,
        /// Value.
        v: f64,
    },
    /// A string at a timestamp.
    String {
        /// Evaluation time.
        t: i64,
        /// Value.
        s: String,
    },
    /// An instant vector, in evaluation order (Prometheus does not sort instant results;
    /// `sort()` and friends decide the order).
    Vector(Vector),
    /// A range vector, sorted by labels.
    Matrix(Matrix),
}

/// The kind of an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnnotationKind {
    /// "PromQL warning: …": the result may be wrong or incomplete.
    Warning,
    /// "PromQL info: …": the result is right but the query may not mean what it says.
    Info,
    /// A problem the storage reported without failing the query (a remote-read endpoint
    /// that is down): shown as a warning, its message alone, as Prometheus shows it.
    Storage,
}

/// One annotation: a message and the position of the expression it is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Annotation {
    /// Warning or info.
    pub kind: AnnotationKind,
    /// The message without the "PromQL warning: " prefix and without the position.
    pub message: String,
    /// The expression the annotation is about.
    pub pos: PosRange,
}

impl Annotation {
    /// The text Prometheus's API shows, e.g. `PromQL info: metric might not be a counter,
    /// name does not end in _total/_sum/_count/_bucket: "foo" (1:6)`; the position is the
    /// line and column (1-based) of the expression in `query`.
    pub fn render(&self, query: &str) -> String {
        if self.kind == AnnotationKind::Storage {
            return self.message.clone();
        }
        format!(
            "{} ({})",
            self.without_position(),
            position(query, self.pos.start)
        )
    }

    /// The message with its prefix and without the position.
    pub fn without_position(&self) -> String {
        let prefix = match self.kind {
            AnnotationKind::Warning => "PromQL warning",
            AnnotationKind::Info => "PromQL info",
            AnnotationKind::Storage => return self.message.clone(),
        };
        format!("{prefix}: {}", self.message)
    }
}

/// Prometheus's `PositionRange.StartPosInput`: "line:column" of byte `pos`.
fn position(query: &str, pos: u32) -> String {
    let pos = pos as usize;
    if query.is_empty() {
        return "unknown position".to_owned();
    }
    if pos > query.len() {
        return "invalid position".to_owned();
    }
    let mut line = 1;
    let mut last_break: isize = -1;
    for (i, c) in query.as_bytes()[..pos].iter().enumerate() {
        if *c == b'\n' {
            last_break = i as isize;
            line += 1;
        }
    }
    format!("{line}:{}", pos as isize - last_break)
}

/// The annotations of one query. Like Prometheus's map keyed by message, an annotation
/// repeated at every step or for every series is kept once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    items: Vec<Annotation>,
}

impl Annotations {
    /// Adds an annotation unless one with the same text is present.
    pub fn add(&mut self, a: Annotation) {
        if let Some(prev) = self
            .items
            .iter_mut()
            .find(|p| p.kind == a.kind && p.message == a.message)
        {
            // Prometheus's map keeps the last annotation added under a key.
            *prev = a;
        } else {
            self.items.push(a);
        }
    }

    /// Adds a warning.
    pub fn warn(&mut self, message: impl Into<String>, pos: PosRange) {
        self.add(Annotation {
            kind: AnnotationKind::Warning,
            message: message.into(),
            pos,
        });
    }

    /// Adds a storage warning (see [`AnnotationKind::Storage`]).
    pub fn storage(&mut self, message: impl Into<String>) {
        self.add(Annotation {
            kind: AnnotationKind::Storage,
            message: message.into(),
            pos: PosRange::default(),
        });
    }

    /// Adds an info.
    pub fn info(&mut self, message: impl Into<String>, pos: PosRange) {
        self.add(Annotation {
            kind: AnnotationKind::Info,
            message: message.into(),
            pos,
        });
    }

    /// Whether an annotation of `kind` at `pos` reading `prefix` then `name` in double
    /// quotes is held already: adding it again would change nothing, so a caller that
    /// would add it once per series can skip formatting it.
    pub(crate) fn holds_quoted(
        &self,
        kind: AnnotationKind,
        pos: PosRange,
        prefix: &str,
        name: &str,
    ) -> bool {
        self.items.iter().any(|a| {
            a.kind == kind
                && a.pos == pos
                && a.message
                    .strip_prefix(prefix)
                    .and_then(|r| r.strip_prefix('"'))
                    .and_then(|r| r.strip_suffix('"'))
                    == Some(name)
        })
    }

    /// Adds all of `other`.
    pub fn merge(&mut self, other: Annotations) {
        for a in other.items {
            self.add(a);
        }
    }

    /// All annotations in the order first added.
    pub fn iter(&self) -> impl Iterator<Item = &Annotation> {
        self.items.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Rendered warnings and infos for `query` (see [`Annotation::render`]).
    pub fn as_strings(&self, query: &str) -> (Vec<String>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut infos = Vec::new();
        for a in &self.items {
            match a.kind {
                AnnotationKind::Warning | AnnotationKind::Storage => {
                    warnings.push(a.render(query));
                }
                AnnotationKind::Info => infos.push(a.render(query)),
            }
        }
        (warnings, infos)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar { t, v } => write!(f, "scalar: {v} @[{t}]"),
            Value::String { t, s } => write!(f, "string: {s} @[{t}]"),
            Value::Vector(v) => {
                for s in v {
                    match &s.h {
                        Some(h) => writeln!(f, "{} => {h:?} @[{}]", s.metric, s.t)?,
                        None => writeln!(f, "{} => {} @[{}]", s.metric, s.f, s.t)?,
                    }
                }
                Ok(())
            }
            Value::Matrix(m) => {
                for s in m {
                    write!(f, "{} =>", s.metric)?;
                    for p in &s.floats {
                        write!(f, " {} @[{}]", p.f, p.t)?;
                    }
                    for p in &s.histograms {
                        write!(f, " {:?} @[{}]", p.h, p.t)?;
                    }
                    writeln!(f)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `holds_quoted` finds an annotation added with a Go-quoted name exactly when
        /// kind, position and name agree: names of printable ASCII other than `"` and
        /// `\` quote as themselves in double quotes (what the rate annotation relies on).
        #[test]
        fn holds_quoted_finds_the_quoted_name(
            name in "[ !#-\\[\\]-~]{0,12}",
            other in "[a-z]{0,3}",
            start in 0u32..3,
        ) {
            prop_assert_eq!(promlite_model::go_quote(&name), format!("\"{name}\""));
            let pos = PosRange { start, end: start + 4 };
            let mut a = Annotations::default();
            a.info(format!("p: {}", promlite_model::go_quote(&name)), pos);
            prop_assert!(a.holds_quoted(AnnotationKind::Info, pos, "p: ", &name));
            prop_assert!(!a.holds_quoted(AnnotationKind::Warning, pos, "p: ", &name));
            let moved = PosRange { start: start + 1, end: start + 4 };
            prop_assert!(!a.holds_quoted(AnnotationKind::Info, moved, "p: ", &name));
            let different = format!("{name}{other}");
            prop_assert_eq!(
                a.holds_quoted(AnnotationKind::Info, pos, "p: ", &different),
                other.is_empty()
            );
        }
    }
}
