//! Why a ServiceMonitor yields no target, in plain words: the checks a person makes by
//! hand when a monitor "does nothing", run over the monitor, the Prometheus resource's
//! selection and the Services of the cluster.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{
    MonitorSelection, OperatorOptions, ServiceMonitor, label_selector_matches,
    label_selector_string, namespaces,
};
use crate::Error;

/// What the lint knows of the cluster: the Prometheus resource that should pick the
/// monitor up, and the namespaces and Services there are.
#[derive(Debug, Clone, Default)]
pub struct Cluster<'a> {
    /// The Prometheus resource's monitor selection.
    pub selection: MonitorSelection,
    /// The Prometheus resource's namespace.
    pub prometheus_namespace: &'a str,
    /// Namespace labels by namespace name.
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Every Service (of the namespaces the monitor may look in).
    pub services: &'a [Service],
    /// The Prometheus resource's settings that shape jobs.
    pub options: OperatorOptions,
}

/// The reasons a ServiceMonitor gives no target, each a sentence; empty when the
/// checks find none (the targets may still be down, or dropped by the monitor's own
/// relabelings).
///
/// ```
/// use k8s_openapi::api::core::v1::Service;
/// use promlite_discovery::kubernetes::operator::{
///     Cluster, MonitorSelection, ServiceMonitor, explain_service_monitor,
/// };
///
/// let monitor: ServiceMonitor = serde_norway::from_str("
/// metadata: {name: sample-app, namespace: default, labels: {release: prometheus-stack}}
/// spec:
///   selector: {matchLabels: {app: sample-app}}
///   endpoints: [{port: '8000'}]
/// ").unwrap();
/// let services: Vec<Service> = vec![serde_norway::from_str("
/// metadata: {name: sample-app-service, namespace: default, labels: {app: sample-app}}
/// spec: {ports: [{name: sample-app, port: 5000}]}
/// ").unwrap()];
/// let selection: MonitorSelection = serde_norway::from_str(
///     "{selector: {matchLabels: {release: prometheus-stack}}, namespaceSelector: {}}",
/// ).unwrap();
/// let cluster = Cluster { selection, prometheus_namespace: "monitoring",
///                         services: &services, ..Cluster::default() };
/// assert_eq!(
///     explain_service_monitor(&monitor, &cluster),
///     ["endpoints[0]: port name `8000` matches no port of Service `sample-app-service`, \
///       whose ports are `sample-app:5000`"],
/// );
/// ```
pub fn explain_service_monitor(monitor: &ServiceMonitor, cluster: &Cluster<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let name = monitor.metadata.name.as_deref().unwrap_or("");
    let ns = monitor.metadata.namespace.as_deref().unwrap_or("");
    let empty = BTreeMap::new();
    let selection = &cluster.selection;
    match &selection.selector {
        None => out.push(
            "the Prometheus resource has no serviceMonitorSelector, which selects no \
             ServiceMonitor"
                .to_owned(),
        ),
        Some(sel)
            if !label_selector_matches(sel, monitor.metadata.labels.as_ref().unwrap_or(&empty)) =>
        {
            out.push(format!(
                "not selected by the Prometheus resource: its serviceMonitorSelector is `{}` \
                 and ServiceMonitor `{ns}/{name}` has labels `{}`",
                label_selector_string(sel),
                labels_text(monitor.metadata.labels.as_ref().unwrap_or(&empty)),
            ));
        }
        Some(_) => {}
    }
    match &selection.namespace_selector {
        None if ns != cluster.prometheus_namespace => out.push(format!(
            "not selected by the Prometheus resource: without a \
             serviceMonitorNamespaceSelector it only reads ServiceMonitors of its own \
             namespace `{}`, not `{ns}`",
            cluster.prometheus_namespace
        )),
        Some(sel)
            if !label_selector_matches(sel, cluster.namespace_labels.get(ns).unwrap_or(&empty)) =>
        {
            out.push(format!(
                "not selected by the Prometheus resource: namespace `{ns}` does not match \
                 its serviceMonitorNamespaceSelector `{}`",
                label_selector_string(sel)
            ));
        }
        _ => {}
    }

    let spec = &monitor.spec;
    if spec.endpoints.is_empty() {
        out.push("the ServiceMonitor lists no endpoints".to_owned());
    }
    let watched = namespaces(&spec.namespace_selector, ns, &cluster.options);
    let in_scope = |svc: &&Service| {
        watched.is_empty()
            || watched
                .iter()
                .any(|w| Some(w.as_str()) == svc.metadata.namespace.as_deref())
    };
    let candidates: Vec<&Service> = cluster.services.iter().filter(in_scope).collect();
    let matching: Vec<&Service> = candidates
        .iter()
        .copied()
        .filter(|s| {
            label_selector_matches(&spec.selector, s.metadata.labels.as_ref().unwrap_or(&empty))
        })
        .collect();
    if matching.is_empty() {
        out.push(no_service_matches(&spec.selector, &watched, &candidates));
        return out;
    }
    for (i, ep) in spec.endpoints.iter().enumerate() {
        for svc in &matching {
            // A `targetPort` names a container port, which Services do not show.
            if ep.port.is_empty() {
                continue;
            }
            if let Some(reason) = port_mismatch(&ep.port, svc) {
                out.push(format!("endpoints[{i}]: {reason}"));
            }
        }
    }
    out
}

/// Why no Service matched: the selector, where it looked, and what is there.
fn no_service_matches(
    selector: &LabelSelector,
    watched: &[String],
    candidates: &[&Service],
) -> String {
    let scope = if watched.is_empty() {
        "any namespace".to_owned()
    } else {
        format!("namespace `{}`", watched.join("`, `"))
    };
    let mut s = format!(
        "selector `{}` matches no Service in {scope}",
        label_selector_string(selector)
    );
    if candidates.is_empty() {
        s.push_str(", which holds no Service");
    } else {
        s.push_str("; there are ");
        for (i, svc) in candidates.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(
                s,
                "{sep}`{}` with labels `{}`",
                svc.metadata.name.as_deref().unwrap_or(""),
                labels_text(svc.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()))
            );
        }
    }
    s
}

/// Why an endpoint's port selects nothing of `svc`, if it does not.
fn port_mismatch(port: &str, svc: &Service) -> Option<String> {
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    let svc_name = svc.metadata.name.as_deref().unwrap_or("");
    let listing = || {
        ports
            .iter()
            .map(|p| format!("{}:{}", p.name.as_deref().unwrap_or(""), p.port))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if ports.iter().any(|p| p.name.as_deref() == Some(port)) {
        return None;
    }
    let hint = if ports.iter().any(|p| p.port.to_string() == port) {
        " (`port` takes the port's name, not its number)"
    } else {
        ""
    };
    Some(format!(
        "port name `{port}` matches no port of Service `{svc_name}`, whose ports are \
         `{}`{hint}",
        listing()
    ))
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "{}".to_owned();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads a ServiceMonitor from YAML, explaining the mistakes serde would only call a
/// type error: `endpoints` written as a map instead of a list.
pub fn parse_service_monitor(yaml: &str) -> Result<ServiceMonitor, Error> {
    let value: serde_norway::Value = serde_norway::from_str(yaml)?;
    let endpoints = value.get("spec").and_then(|s| s.get("endpoints"));
    if endpoints.is_some_and(serde_norway::Value::is_mapping) {
        let meta = |k: &str| {
            value
                .get("metadata")
                .and_then(|m| m.get(k))
                .and_then(serde_norway::Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        return Err(Error::InvalidMonitor {
            monitor: format!("serviceMonitor/{}/{}", meta("namespace"), meta("name")),
            reason: "`spec.endpoints` is a map; it must be a list, one `- port: …` entry \
                     per endpoint"
                .to_owned(),
            source: None,
        });
    }
    Ok(serde_norway::from_value(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> Service {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn reasons_table() {
        let services = vec![
            service(
                "metadata: {name: sample-app-service, namespace: default, labels: {app: sample-app}}\nspec: {ports: [{name: sample-app, port: 5000}]}",
            ),
            service(
                "metadata: {name: db, namespace: data, labels: {app: db}}\nspec: {ports: [{name: pg, port: 5432}]}",
            ),
        ];
        let stack: MonitorSelection = serde_norway::from_str(
            "{selector: {matchLabels: {release: prometheus-stack}}, namespaceSelector: {}}",
        )
        .unwrap();
        let own_ns: MonitorSelection = serde_norway::from_str("selector: {}").unwrap();
        let cases: &[(&str, &MonitorSelection, &[&str])] = &[
            (
                "metadata: {name: m, namespace: default, labels: {release: prometheus-stack}}\nspec: {selector: {matchLabels: {app: sample-app}}, endpoints: [{port: sample-app}]}",
                &stack,
                &[],
            ),
            (
                "metadata: {name: m, namespace: default}\nspec: {selector: {matchLabels: {app: sample-app}}, endpoints: [{port: sample-app}]}",
                &stack,
                &[
                    "not selected by the Prometheus resource: its serviceMonitorSelector is `release=prometheus-stack` and ServiceMonitor `default/m` has labels `{}`",
                ],
            ),
            (
                "metadata: {name: m, namespace: default}\nspec: {selector: {matchLabels: {app: sample-app}}, endpoints: [{port: sample-app}]}",
                &own_ns,
                &[
                    "not selected by the Prometheus resource: without a serviceMonitorNamespaceSelector it only reads ServiceMonitors of its own namespace `monitoring`, not `default`",
                ],
            ),
            (
                "metadata: {name: m, namespace: default, labels: {release: prometheus-stack}}\nspec: {selector: {matchLabels: {app: sample}}, endpoints: [{port: sample-app}]}",
                &stack,
                &[
                    "selector `app=sample` matches no Service in namespace `default`; there are `sample-app-service` with labels `app=sample-app`",
                ],
            ),
            (
                "metadata: {name: m, namespace: default, labels: {release: prometheus-stack}}\nspec: {selector: {matchLabels: {app: db}}, namespaceSelector: {matchNames: [data, x]}, endpoints: [{port: '5432'}]}",
                &stack,
                &[
                    "endpoints[0]: port name `5432` matches no port of Service `db`, whose ports are `pg:5432` (`port` takes the port's name, not its number)",
                ],
            ),
        ];
        for (yaml, selection, want) in cases {
            let m: ServiceMonitor = serde_norway::from_str(yaml).unwrap();
            let cluster = Cluster {
                selection: (*selection).clone(),
                prometheus_namespace: "monitoring",
                services: &services,
                ..Cluster::default()
            };
            assert_eq!(explain_service_monitor(&m, &cluster), *want, "{yaml}");
        }
    }

    #[test]
    fn endpoints_as_a_map_is_explained() {
        let err = parse_service_monitor(
            "metadata: {name: sample-app, namespace: web}\nspec:\n  selector: {matchLabels: {app: a}}\n  endpoints:\n    port: web\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "serviceMonitor/web/sample-app: `spec.endpoints` is a map; it must be a list, one `- port: …` entry per endpoint"
        );
        let ok =
            parse_service_monitor("metadata: {name: m}\nspec:\n  endpoints:\n    - port: web\n")
                .unwrap();
        assert_eq!(ok.spec.endpoints[0].port, "web");
    }
}
