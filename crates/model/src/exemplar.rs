//! Exemplars: a sample of a traced event attached to a series.

use crate::Labels;

/// An exemplar: labels (typically a trace ID), a value and an optional timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The exemplar's own labels, e.g. `{trace_id="…"}`.
    pub labels: Labels,
    /// The observed value.
    pub value: f64,
    /// When it was observed, in milliseconds, if the exposition said.
    pub timestamp: Option<i64>,
}
