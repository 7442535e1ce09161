//! Go's `text/template`, as Prometheus runs it for alert labels and annotations: a
//! parser with Go's messages, an executor, Go's built-in functions and Prometheus's
//! template functions. Text mode only: `html/template`'s contextual escaping (consoles)
//! is not implemented.
//!
//! Outputs and error messages are checked against Prometheus's own engine by
//! `tests/template_peer.rs`. Known difference: Go's `printf` verbs for floats in hex
//! (`%x` of a float) are not implemented and print as a bad verb.
//!
//! Prometheus expands an alert template named `__alert_NAME` after prepending
//! definitions of `$labels`, `$externalLabels`, `$externalURL` and `$value`; the same
//! prefix is prepended here, so line and column numbers in messages match Prometheus's.
//! Missing map keys read as the empty string (`missingkey=zero`).

mod exec;
mod funcs;
mod gofmt;
mod parse;
mod value;

use std::collections::BTreeMap;

pub use funcs::QueryFn;
pub use value::QuerySample;

pub(crate) use funcs::{format_rfc3339, go_duration, query_escape};
pub(crate) use gofmt::float_v;

use crate::Error;

/// The definitions Prometheus prepends to every alert template.
const ALERT_DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// A parsed template, ready to execute many times.
///
/// ```
/// use std::collections::BTreeMap;
/// use promlite_rules::{Template, TemplateContext};
///
/// let t = Template::parse_alert("HighLoad", "{{ $labels.instance }} is at {{ humanize $value }}").unwrap();
/// let labels = BTreeMap::from([("instance".to_owned(), "db1:9100".to_owned())]);
/// let out = t.execute_alert(&labels, 1234567.0, &TemplateContext::default()).unwrap();
/// assert_eq!(out, "db1:9100 is at 1.235M");
/// ```
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    src: String,
    tree: parse::Tree,
}

/// What a template can reach outside its data: the PromQL `query` function, external
/// labels and the external URL.
#[derive(Default, Clone, Copy)]
pub struct TemplateContext<'a> {
    /// Runs `query "…"` at the evaluation time; without it `query` fails.
    pub query: Option<&'a QueryFn<'a>>,
    /// `$externalLabels`.
    pub external_labels: Option<&'a BTreeMap<String, String>>,
    /// `$externalURL`, `externalURL`, `pathPrefix`.
    pub external_url: &'a str,
}

impl std::fmt::Debug for TemplateContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateContext")
            .field("query", &self.query.is_some())
            .field("external_labels", &self.external_labels)
            .field("external_url", &self.external_url)
            .finish()
    }
}

impl Template {
    /// Parses `text` as the template `name`, with no predefined variables except `$`.
    pub fn parse(name: &str, text: &str) -> Result<Template, Error> {
        Self::parse_raw(name, text.to_owned())
    }

    /// Parses an alert label or annotation value as Prometheus does: as `__alert_NAME`,
    /// with `$labels`, `$externalLabels`, `$externalURL` and `$value` defined.
    pub fn parse_alert(alert: &str, text: &str) -> Result<Template, Error> {
        Self::parse_raw(&format!("__alert_{alert}"), format!("{ALERT_DEFS}{text}"))
    }

    fn parse_raw(name: &str, src: String) -> Result<Template, Error> {
        match parse::parse(&src, &funcs::exists) {
            Ok(tree) => Ok(Template {
                name: name.to_owned(),
                src,
                tree,
            }),
            Err(e) => Err(Error::Template {
                message: format!(
                    "error parsing template {name}: template: {name}:{}: {}",
                    e.line, e.message
                ),
            }),
        }
    }

    /// Executes an alert template with `.Labels` = `labels` and `.Value` = `value`.
    pub fn execute_alert(
        &self,
        labels: &BTreeMap<String, String>,
        value: f64,
        ctx: &TemplateContext<'_>,
    ) -> Result<String, Error> {
        let empty = BTreeMap::new();
        let data = funcs::alert_data(
            labels,
            ctx.external_labels.unwrap_or(&empty),
            ctx.external_url,
            value,
        );
        self.run(&data, ctx)
    }

    /// Executes the template with `.` set to a map of strings.
    pub fn execute_with_map(
        &self,
        data: &BTreeMap<String, String>,
        ctx: &TemplateContext<'_>,
    ) -> Result<String, Error> {
        self.run(&value::Value::string_map(data), ctx)
    }

    fn run(&self, data: &value::Value, ctx: &TemplateContext<'_>) -> Result<String, Error> {
        let env = funcs::Env {
            query: ctx.query,
            external_url: ctx.external_url,
        };
        let mut ex = exec::Exec::new(&self.name, &self.src, &self.tree, &env);
        ex.run(data).map_err(|m| Error::Template {
            message: format!("error executing template {}: {m}", self.name),
        })?;
        Ok(ex.out)
    }
}

/// Expands one alert label or annotation the way Prometheus's alerting rule does: a
/// failure yields `<error expanding template: …>` as the value.
pub fn expand_alert_text(
    alert: &str,
    text: &str,
    labels: &BTreeMap<String, String>,
    value: f64,
    ctx: &TemplateContext<'_>,
) -> String {
    match Template::parse_alert(alert, text).and_then(|t| t.execute_alert(labels, value, ctx)) {
        Ok(s) => s,
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

/// Checks `text` as Prometheus checks an alert template named `__alert_NAME` when it
/// loads a rule file; the error is Go's (`template: __alert_A:1: undefined variable
/// "$label"`).
pub(crate) fn check(alert: &str, text: &str) -> Result<(), String> {
    let src = format!("{ALERT_DEFS}{text}");
    parse::parse(&src, &funcs::exists)
        .map(|_| ())
        .map_err(|e| format!("template: __alert_{alert}:{}: {}", e.line, e.message))
}

#[cfg(test)]
mod tests;
