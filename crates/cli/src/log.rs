//! The server's log lines in Prometheus's two formats (`--log.format`), so that what
//! reads Prometheus's logs (a Loki pipeline, a grep in a runbook) reads promlite's:
//!
//! - `logfmt`: `ts=2026-11-26T14:02:40.620Z caller=server.rs:383 level=info
//!   msg="Starting promlite" version=0.1.0`, go-kit's logfmt, values quoted when they
//!   hold a space, `=`, `"` or a control character;
//! - `json`: one object per line with the same keys, sorted, as go-kit's JSON logger
//!   writes them: `{"caller":"server.rs:383","level":"info","msg":"Starting
//!   promlite","ts":"2026-11-26T14:02:40.620Z","version":"0.1.0"}`.
//!
//! The caller is the source file's name and line; spans are not used by promlite and
//! are not written.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// A log line's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// go-kit's logfmt, Prometheus's default.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// A `tracing` event formatter writing [`Format`] lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GoKit(pub(crate) Format);

/// One key and value of a line; `text` values are quoted in JSON, numbers and booleans
/// are not.
struct Pair {
    key: String,
    value: String,
    text: bool,
}

/// An event's fields, the message apart.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    pairs: Vec<Pair>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: String, text: bool) {
        if field.name() == "message" {
            self.message = Some(value);
        } else {
            self.pairs.push(Pair {
                key: field.name().to_owned(),
                value,
                text,
            });
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format!("{value:?}"), true);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_owned(), true);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value.to_string(), false);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, value.to_string(), false);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value.to_string(), false);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinities: those stay text.
        self.push(field, value.to_string(), !value.is_finite());
    }
}

impl<S, N> FormatEvent<S, N> for GoKit
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let file = meta
            .file()
            .map_or(meta.target(), |f| f.rsplit(['/', '\\']).next().unwrap_or(f));
        let mut line = vec![
            Pair {
                key: "ts".into(),
                value: timestamp(SystemTime::now()),
                text: true,
            },
            Pair {
                key: "caller".into(),
                value: format!("{file}:{}", meta.line().unwrap_or(0)),
                text: true,
            },
            Pair {
                key: "level".into(),
                value: level(*meta.level()).into(),
                text: true,
            },
        ];
        if let Some(msg) = fields.message {
            line.push(Pair {
                key: "msg".into(),
                value: msg,
                text: true,
            });
        }
        line.extend(fields.pairs);
        let mut out = String::new();
        match self.0 {
            Format::Logfmt => write_logfmt(&mut out, &line),
            Format::Json => write_json(&mut out, &mut line),
        }
        w.write_str(&out)?;
        w.write_char('\n')
    }
}

/// go-kit's level names; `tracing`'s trace level, which Prometheus does not have, is
/// written as debug.
fn level(l: Level) -> &'static str {
    match l {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG | Level::TRACE => "debug",
    }
}

/// `t` as Prometheus's log timestamps: UTC, always three digits of milliseconds.
fn timestamp(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let secs = ms.div_euclid(1000);
    let (y, m, d) = promlite_model::time::civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
}

fn write_logfmt(out: &mut String, line: &[Pair]) {
    for (i, p) in line.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&p.key);
        out.push('=');
        let quote = p
            .value
            .chars()
            .any(|c| c <= ' ' || c == '=' || c == '"' || c == char::REPLACEMENT_CHARACTER);
        if quote {
            write_quoted(out, &p.value, false);
        } else {
            out.push_str(&p.value);
        }
    }
}

/// Keys sorted, the last of equal keys kept, as Go's encoding of a map writes them.
fn write_json(out: &mut String, line: &mut Vec<Pair>) {
    line.reverse();
    line.sort_by(|a, b| a.key.cmp(&b.key));
    line.dedup_by(|later, first| later.key == first.key);
    out.push('{');
    for (i, p) in line.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_quoted(out, &p.key, true);
        out.push(':');
        if p.text {
            write_quoted(out, &p.value, true);
        } else {
            out.push_str(&p.value);
        }
    }
    out.push('}');
}

/// `s` in double quotes, with `"`, `\` and control characters escaped (`\n`, `\r`,
/// `\t`, else `\u00XX`); JSON also escapes U+2028 and U+2029, as Go's encoder does.
fn write_quoted(out: &mut String, s: &str, json: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' || (json && matches!(c, '\u{2028}' | '\u{2029}')) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The lines `f` logs in `format`, with the timestamp replaced by `TS`.
    fn logged(format: Format, f: impl FnOnce()) -> Vec<String> {
        let buf = Buf::default();
        let w = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || w.clone())
            .event_format(GoKit(format))
            .with_max_level(Level::DEBUG)
            .finish();
        tracing::subscriber::with_default(sub, f);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| {
                let at = l
                    .find("ts=")
                    .map(|i| i + 3)
                    .or_else(|| l.find(r#""ts":""#).map(|i| i + 6));
                let at = at.expect("a timestamp");
                format!("{}TS{}", &l[..at], &l[at + 24..])
            })
            .collect()
    }

    #[test]
    fn logfmt_lines_are_go_kits() {
        let lines = logged(Format::Logfmt, || {
            tracing::info!(version = "0.1.0", "Starting promlite");
            tracing::warn!(flag = %"--web.console.templates", value = "a b", n = 3, "Flag accepted");
            tracing::error!(err = %"bad \"thing\"\nhere", "promlite stopped");
            tracing::debug!(empty = "", eq = "a=b", "x");
        });
        let line = |i: usize| {
            lines[i]
                .split_once(" caller=")
                .map(|(a, b)| (a.to_owned(), b.split_once(' ').unwrap().1.to_owned()))
                .unwrap()
        };
        assert_eq!(
            line(0),
            (
                "ts=TS".into(),
                "level=info msg=\"Starting promlite\" version=0.1.0".into()
            )
        );
        assert_eq!(
            line(1).1,
            "level=warn msg=\"Flag accepted\" flag=--web.console.templates value=\"a b\" n=3"
        );
        assert_eq!(
            line(2).1,
            r#"level=error msg="promlite stopped" err="bad \"thing\"\nhere""#
        );
        assert_eq!(line(3).1, r#"level=debug msg=x empty= eq="a=b""#);
        assert!(lines[0].contains(" caller=log.rs:"), "{}", lines[0]);
    }

    #[test]
    fn json_lines_have_sorted_keys_and_typed_values() {
        let lines = logged(Format::Json, || {
            tracing::info!(version = "0.1.0", n = 3, ok = true, "Starting promlite");
        });
        let v: serde_json::Value =
            serde_json::from_str(&lines[0].replace("TS", "2026-01-01T00:00:00.000Z")).unwrap();
        assert_eq!(v["level"], "info");
        assert_eq!(v["msg"], "Starting promlite");
        assert_eq!(v["n"], 3);
        assert_eq!(v["ok"], true);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["caller", "level", "msg", "n", "ok", "ts", "version"]);
        assert!(
            lines[0].starts_with(r#"{"caller":"log.rs:"#),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn timestamps_have_three_digits_of_milliseconds() {
        let t = |ms: u64| timestamp(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(t(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(t(1_764_165_760_620), "2025-11-26T14:02:40.620Z");
        assert_eq!(t(951_782_400_007), "2000-02-29T00:00:00.007Z");
    }
}
