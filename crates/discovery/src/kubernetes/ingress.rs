//! The `ingress` role: one target per host and path of an Ingress's rules.

use k8s_openapi::api::networking::v1::Ingress;
use promlite_model::LabelsBuilder;

use super::{META, Role, add_object_meta};
use crate::{ADDRESS_LABEL, TargetGroup};

/// The source of an Ingress's group.
pub fn ingress_source(namespace: &str, name: &str) -> String {
    format!("ingress/{namespace}/{name}")
}

/// The group of an Ingress: for each rule, one target per HTTP path (`/` for a rule
/// without HTTP paths, and for an empty path), addressed by the rule's host. The scheme
/// is `https` when a TLS entry's host, or wildcard pattern, covers the rule's host.
pub fn ingress_group(ingress: &Ingress) -> TargetGroup {
    let name = ingress.metadata.name.as_deref().unwrap_or("");
    let namespace = ingress.metadata.namespace.as_deref().unwrap_or("");
    let spec = ingress.spec.as_ref();
    let mut b = LabelsBuilder::new();
    b.set(&format!("{META}namespace"), namespace);
    if let Some(class) = spec.and_then(|s| s.ingress_class_name.as_deref()) {
        b.set(&format!("{META}ingress_class_name"), class);
    }
    add_object_meta(&mut b, &ingress.metadata, Role::Ingress);
    let labels = b.build();

    let tls_hosts: Vec<&str> = spec
        .and_then(|s| s.tls.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|t| t.hosts.iter().flatten())
        .map(String::as_str)
        .collect();
    let mut targets = Vec::new();
    let mut t = LabelsBuilder::new();
    for rule in spec.and_then(|s| s.rules.as_ref()).into_iter().flatten() {
        let host = rule.host.as_deref().unwrap_or("");
        let scheme = if tls_hosts.iter().any(|p| matches_host_pattern(p, host)) {
            "https"
        } else {
            "http"
        };
        // A rule with no `http` section stands for `/`; one with an empty path list
        // gives no target at all, as Prometheus tells nil from empty here.
        let paths: Vec<&str> = match &rule.http {
            None => vec!["/"],
            Some(http) => http
                .paths
                .iter()
                .map(|p| match p.path.as_deref() {
                    None | Some("") => "/",
                    Some(p) => p,
                })
                .collect(),
        };
        for path in paths {
            t.clear();
            t.set(ADDRESS_LABEL, host);
            t.set(&format!("{META}ingress_scheme"), scheme);
            t.set(&format!("{META}ingress_host"), host);
            t.set(&format!("{META}ingress_path"), path);
            targets.push(t.build());
        }
    }
    TargetGroup {
        source: ingress_source(namespace, name),
        targets,
        labels,
    }
}

/// Whether a TLS host entry covers `host`: equal, or a `*.` pattern whose other
/// dot-separated parts equal the host's (the wildcard stands for exactly one part).
fn matches_host_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    p[0] == "*" && p.len() == h.len() && p[1..] == h[1..]
}
