//! Reads Prometheus Operator objects — a Prometheus resource's monitor selection,
//! Services, ServiceMonitors and PodMonitors, as `kubectl get -o yaml` prints them — and
//! prints the `scrape_configs` the Operator would generate for the monitors it selects,
//! and, for a ServiceMonitor that yields no target, the reasons in plain words.
//!
//! ```text
//! cargo run --example operator [CLUSTER_YAML]   # default: examples/data/cluster.yaml
//! ```

use std::error::Error;

use k8s_openapi::api::core::v1::Service;
use promlite::discovery::kubernetes::operator::{
    Cluster, MonitorSelection, OperatorOptions, PodMonitor, explain_service_monitor,
    parse_service_monitor, pod_monitor_jobs, service_monitor_jobs,
};
use serde_norway::Value;

const BUNDLED: &str = include_str!("data/cluster.yaml");

fn main() -> Result<(), Box<dyn Error>> {
    let text = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?,
        None => BUNDLED.to_owned(),
    };

    // Sort the documents by kind.
    let (mut selection, mut prom_ns) = (MonitorSelection::default(), String::new());
    let (mut pod_selection, mut services) = (MonitorSelection::default(), Vec::<Service>::new());
    let (mut service_monitors, mut pod_monitors) = (Vec::new(), Vec::new());
    for doc in serde_norway::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(doc)?;
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        match kind {
            "Prometheus" => {
                let spec = value.get("spec").cloned().unwrap_or(Value::Null);
                let pick = |sel: &str, ns: &str| -> Result<MonitorSelection, serde_norway::Error> {
                    let mut m = serde_norway::Mapping::new();
                    for (from, to) in [(sel, "selector"), (ns, "namespaceSelector")] {
                        if let Some(v) = spec.get(from) {
                            m.insert(to.into(), v.clone());
                        }
                    }
                    serde_norway::from_value(Value::Mapping(m))
                };
                selection = pick("serviceMonitorSelector", "serviceMonitorNamespaceSelector")?;
                pod_selection = pick("podMonitorSelector", "podMonitorNamespaceSelector")?;
                value
                    .get("metadata")
                    .and_then(|m| m.get("namespace"))
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .clone_into(&mut prom_ns);
            }
            "Service" => services.push(serde_norway::from_value(value)?),
            "ServiceMonitor" => {
                service_monitors.push(parse_service_monitor(&serde_norway::to_string(&value)?)?);
            }
            "PodMonitor" => pod_monitors.push(serde_norway::from_value::<PodMonitor>(value)?),
            other => eprintln!("skipping a document of kind {other:?}"),
        }
    }

    let opts = OperatorOptions::default();
    let no_namespace_labels = |_: &str| None;
    println!("scrape_configs:");
    for m in &service_monitors {
        if selection.selects(&m.metadata, &prom_ns, no_namespace_labels) {
            for job in service_monitor_jobs(m, &opts)? {
                print_job(&job.to_yaml());
            }
        }
    }
    for m in &pod_monitors {
        if pod_selection.selects(&m.metadata, &prom_ns, no_namespace_labels) {
            for job in pod_monitor_jobs(m, &opts)? {
                print_job(&job.to_yaml());
            }
        }
    }

    let cluster = Cluster {
        selection,
        prometheus_namespace: &prom_ns,
        services: &services,
        options: opts.clone(),
        ..Cluster::default()
    };
    for m in &service_monitors {
        let reasons = explain_service_monitor(m, &cluster);
        if !reasons.is_empty() {
            let name = m.metadata.name.as_deref().unwrap_or("");
            let ns = m.metadata.namespace.as_deref().unwrap_or("");
            println!("\n# ServiceMonitor {ns}/{name} gives no target:");
            for r in reasons {
                println!("#   - {r}");
            }
        }
    }
    Ok(())
}

/// Prints one job as an entry of the `scrape_configs` list.
fn print_job(yaml: &str) {
    for (i, line) in yaml.lines().enumerate() {
        println!("{}{line}", if i == 0 { "- " } else { "  " });
    }
}
