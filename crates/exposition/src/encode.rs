//! Encoders for the text formats: Prometheus text 0.0.4 and OpenMetrics 1.0.
//!
//! Both write into a `String` the caller owns and reuses, so encoding a scrape allocates
//! nothing once the buffer has grown. Names that are not legacy-valid are quoted the
//! Prometheus 3 way (`{"http.requests", job="x"}`), so any UTF-8 name survives a
//! round trip.

use promlite_model::{Label, MetricType, is_valid_legacy_label_name, is_valid_legacy_metric_name};

use crate::entry::{Entry, ExemplarRef, LabelPairs, Sample};
use crate::float::{write_go_float, write_seconds};

/// A [`TextEncoder`] for the Prometheus text format.
pub type PromEncoder<'o> = TextEncoder<'o, false>;

/// A [`TextEncoder`] for OpenMetrics.
pub type OpenMetricsEncoder<'o> = TextEncoder<'o, true>;

/// Why an entry cannot be written in a text format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Native histograms exist only in the protobuf format.
    #[error("native histograms cannot be written in a text format")]
    NativeHistogram,
}

/// Writes the text formats (`OM = false`: Prometheus text; `OM = true`: OpenMetrics).
///
/// ```
/// use promlite_exposition::{LabelPairs, OpenMetricsEncoder, Sample};
/// use promlite_model::{Label, MetricType};
///
/// let mut out = String::new();
/// let mut e = OpenMetricsEncoder::new(&mut out);
/// e.metric_type("http.requests", MetricType::Counter);
/// let labels = [Label { name: "code", value: "200" }];
/// e.sample(&Sample::new("http.requests_total", LabelPairs::from_slice(&labels), 3.0));
/// e.eof();
/// assert_eq!(out, "# TYPE \"http.requests\" counter\n{\"http.requests_total\",code=\"200\"} 3\n# EOF\n");
/// ```
pub struct TextEncoder<'o, const OM: bool> {
    out: &'o mut String,
}

impl<'o, const OM: bool> TextEncoder<'o, OM> {
    /// An encoder appending to `out`.
    pub fn new(out: &'o mut String) -> Self {
        TextEncoder { out }
    }

    fn meta_name(&mut self, name: &str) {
        if is_valid_legacy_metric_name(name) {
            self.out.push_str(name);
        } else {
            write_quoted(self.out, name);
        }
    }

    /// Writes `# HELP name text`, escaping the text for the format.
    pub fn help(&mut self, name: &str, help: &str) {
        self.out.push_str("# HELP ");
        self.meta_name(name);
        self.out.push(' ');
        for c in help.chars() {
            match c {
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '"' if OM => self.out.push_str("\\\""),
                c => self.out.push(c),
            }
        }
        self.out.push('\n');
    }

    /// Writes `# TYPE name type`. The text format has no `gaugehistogram`, `info` or
    /// `stateset`; they are written as `untyped` there, as Prometheus's text encoder does.
    pub fn metric_type(&mut self, name: &str, t: MetricType) {
        self.out.push_str("# TYPE ");
        self.meta_name(name);
        self.out.push(' ');
        let t = match t {
            MetricType::Unknown
            | MetricType::GaugeHistogram
            | MetricType::Info
            | MetricType::StateSet
                if !OM =>
            {
                "untyped"
            }
            t => t.as_str(),
        };
        self.out.push_str(t);
        self.out.push('\n');
    }

    /// Writes `# UNIT name unit` (OpenMetrics only; the text format has no units, so
    /// nothing is written there).
    pub fn unit(&mut self, name: &str, unit: &str) {
        if OM {
            self.out.push_str("# UNIT ");
            self.meta_name(name);
            self.out.push(' ');
            self.out.push_str(unit);
            self.out.push('\n');
        }
    }

    /// Writes a comment line (text format only: OpenMetrics has no comments).
    pub fn comment(&mut self, text: &str) {
        if !OM {
            self.out.push_str("# ");
            for c in text.chars() {
                self.out.push(if c == '\n' { ' ' } else { c });
            }
            self.out.push('\n');
        }
    }

    /// Writes a sample line. The exemplar is written in OpenMetrics only; the created
    /// timestamp is not written (emit a `_created` sample for it).
    pub fn sample(&mut self, s: &Sample<'_>) {
        write_series(self.out, s.name, s.labels);
        self.out.push(' ');
        write_go_float(self.out, s.value);
        if let Some(ts) = s.timestamp {
            self.out.push(' ');
            if OM {
                write_seconds(self.out, ts);
            } else {
                self.out.push_str(itoa(ts).as_str());
            }
        }
        if OM && let Some(e) = &s.exemplar {
            self.exemplar(e);
        }
        self.out.push('\n');
    }

    fn exemplar(&mut self, e: &ExemplarRef<'_>) {
        self.out.push_str(" # {");
        write_pairs(self.out, e.labels.iter(), false);
        self.out.push_str("} ");
        write_go_float(self.out, e.value);
        if let Some(ts) = e.timestamp {
            self.out.push(' ');
            write_seconds(self.out, ts);
        }
    }

    /// Writes any entry; native histograms are refused.
    pub fn entry(&mut self, e: &Entry<'_>) -> Result<(), EncodeError> {
        match e {
            Entry::Help { name, help } => self.help(name, help),
            Entry::Type { name, metric_type } => self.metric_type(name, *metric_type),
            Entry::Unit { name, unit } => self.unit(name, unit),
            Entry::Comment(c) => self.comment(c),
            Entry::Series(s) => self.sample(s),
            Entry::Histogram(_) => return Err(EncodeError::NativeHistogram),
        }
        Ok(())
    }

    /// Writes `# EOF`, the end OpenMetrics requires (nothing in the text format).
    pub fn eof(&mut self) {
        if OM {
            self.out.push_str("# EOF\n");
        }
    }
}

fn itoa(n: i64) -> String {
    n.to_string()
}

/// Writes `name{labels}`, or `{"name",labels}` when the name needs quoting.
fn write_series(out: &mut String, name: &str, labels: LabelPairs<'_>) {
    if is_valid_legacy_metric_name(name) {
        out.push_str(name);
        if !labels.is_empty() {
            out.push('{');
            write_pairs(out, labels.iter(), false);
            out.push('}');
        }
    } else {
        out.push('{');
        write_quoted(out, name);
        write_pairs(out, labels.iter(), true);
        out.push('}');
    }
}

fn write_pairs<'l>(out: &mut String, pairs: impl Iterator<Item = Label<'l>>, mut comma: bool) {
    for l in pairs {
        if comma {
            out.push(',');
        }
        comma = true;
        if is_valid_legacy_label_name(l.name) {
            out.push_str(l.name);
        } else {
            write_quoted(out, l.name);
        }
        out.push('=');
        write_quoted(out, l.value);
    }
}

/// Writes `s` double-quoted with the exposition escapes (`\\`, `\"`, `\n`).
fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}
