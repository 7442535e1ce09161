//! The values a template computes with: the Go types Prometheus's templates see.

use std::collections::BTreeMap;
use std::rc::Rc;

/// One element of a `query` result: Prometheus's template `sample` (`.Labels`, `.Value`).
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    /// The series' labels, `__name__` included.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// A template value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// Go's `nil`.
    Nil,
    /// A missing value (Go prints `<no value>`).
    Invalid,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `safeHtml`'s result: a string of another type.
    Html(String),
    /// A map with string keys; `true` when its values are strings (a missing key then
    /// reads as `""`, Go's zero value under `missingkey=zero`).
    Map(Rc<BTreeMap<String, Value>>, bool),
    /// A query result.
    List(Rc<Vec<Value>>),
    /// A `*sample`.
    Sample(Rc<QuerySample>),
    /// A struct: its fields in order, and the type name for messages.
    Struct(Rc<Vec<(&'static str, Value)>>, &'static str),
    /// A `*time.Time`, in nanoseconds since the epoch.
    Time(i64),
}

impl Value {
    /// A map of strings.
    pub(crate) fn string_map(m: &BTreeMap<String, String>) -> Value {
        Value::Map(
            Rc::new(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
                    .collect(),
            ),
            true,
        )
    }

    /// Go's truth: non-zero, non-empty, non-nil.
    pub(crate) fn truth(&self) -> bool {
        match self {
            Value::Nil | Value::Invalid => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) | Value::Html(s) => !s.is_empty(),
            Value::Map(m, _) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Sample(_) | Value::Struct(..) | Value::Time(_) => true,
        }
    }
}
