//! The `pod` role: one target per container port (or per port-less container), and the
//! pod labels the `endpoints` and `endpointslice` roles attach to targets backed by a pod.

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod};
use promlite_model::LabelsBuilder;

use super::{META, Role, add_object_meta, join_host_port};
use crate::{ADDRESS_LABEL, TargetGroup};

/// The source of a pod's group.
pub fn pod_source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

/// Sets the labels Prometheus's `podLabels` gives every target of a pod: IP, readiness,
/// phase, node, host IP, UID, name, labels, annotations and the controller.
///
/// The deployment, job and cron job names need objects besides the pod; the watcher
/// adds them with [`attach_controller_metadata`](super::attach_controller_metadata).
pub(super) fn set_pod_labels(b: &mut LabelsBuilder, pod: &Pod) {
    let status = pod.status.as_ref();
    let spec = pod.spec.as_ref();
    b.set(
        &format!("{META}pod_ip"),
        status.and_then(|s| s.pod_ip.as_deref()).unwrap_or(""),
    );
    b.set(&format!("{META}pod_ready"), &pod_ready(pod));
    b.set(
        &format!("{META}pod_phase"),
        status.and_then(|s| s.phase.as_deref()).unwrap_or(""),
    );
    b.set(
        &format!("{META}pod_node_name"),
        spec.and_then(|s| s.node_name.as_deref()).unwrap_or(""),
    );
    b.set(
        &format!("{META}pod_host_ip"),
        status.and_then(|s| s.host_ip.as_deref()).unwrap_or(""),
    );
    b.set(
        &format!("{META}pod_uid"),
        pod.metadata.uid.as_deref().unwrap_or(""),
    );
    add_object_meta(b, &pod.metadata, Role::Pod);
    // Only the owner marked `controller: true` counts, as in apimachinery's
    // `GetControllerOf`; a pod may have other owners (e.g. garbage-collection ones).
    if let Some(owner) = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
    {
        b.set(&format!("{META}pod_controller_kind"), &owner.kind);
        b.set(&format!("{META}pod_controller_name"), &owner.name);
    }
}

/// `true`/`false` from the `Ready` condition, `unknown` without one.
fn pod_ready(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .map_or_else(|| "unknown".to_owned(), |c| c.status.to_lowercase())
}

/// The pod's containers followed by its init containers, each with whether it is one
/// of the latter: the order in which Prometheus lists targets.
pub(super) fn containers(pod: &Pod) -> impl Iterator<Item = (&Container, bool)> {
    let spec = pod.spec.as_ref();
    let main = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let init = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default();
    main.iter()
        .map(|c| (c, false))
        .chain(init.iter().map(|c| (c, true)))
}

/// Sets the per-container labels of a target.
pub(super) fn set_container_labels(b: &mut LabelsBuilder, c: &Container, is_init: bool) {
    b.set(&format!("{META}pod_container_name"), &c.name);
    b.set(
        &format!("{META}pod_container_image"),
        c.image.as_deref().unwrap_or(""),
    );
    b.set(
        &format!("{META}pod_container_init"),
        if is_init { "true" } else { "false" },
    );
}

/// The ID of the named container from the pod's statuses (init or regular).
fn container_id<'a>(statuses: Option<&'a Vec<ContainerStatus>>, name: &str) -> &'a str {
    statuses
        .into_iter()
        .flatten()
        .find(|s| s.name == name)
        .and_then(|s| s.container_id.as_deref())
        .unwrap_or("")
}

/// The group of a pod: one target per declared container port, addressed
/// `{podIP}:{port}`, and one per container without ports, addressed by the bare pod IP
/// (the user adds a port by relabeling). Init containers come after the others.
///
/// A pod without an IP (starting, or evicted) gives an empty group, which withdraws
/// any targets it had.
pub fn pod_group(pod: &Pod) -> TargetGroup {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("");
    let source = pod_source(namespace, name);
    let status = pod.status.as_ref();
    let ip = status.and_then(|s| s.pod_ip.as_deref()).unwrap_or("");
    if ip.is_empty() {
        return TargetGroup::empty(source);
    }
    let mut b = LabelsBuilder::new();
    set_pod_labels(&mut b, pod);
    b.set(&format!("{META}namespace"), namespace);
    let labels = b.build();

    let mut targets = Vec::new();
    for (c, is_init) in containers(pod) {
        let statuses = status.and_then(|s| {
            if is_init {
                s.init_container_statuses.as_ref()
            } else {
                s.container_statuses.as_ref()
            }
        });
        let id = container_id(statuses, &c.name);
        let ports = c.ports.as_deref().unwrap_or_default();
        let mut t = LabelsBuilder::new();
        if ports.is_empty() {
            t.set(ADDRESS_LABEL, ip);
            set_container_labels(&mut t, c, is_init);
            t.set(&format!("{META}pod_container_id"), id);
            targets.push(t.build());
            continue;
        }
        for port in ports {
            t.clear();
            t.set(ADDRESS_LABEL, &join_host_port(ip, port.container_port));
            set_container_labels(&mut t, c, is_init);
            t.set(&format!("{META}pod_container_id"), id);
            t.set(
                &format!("{META}pod_container_port_number"),
                &port.container_port.to_string(),
            );
            t.set(
                &format!("{META}pod_container_port_name"),
                port.name.as_deref().unwrap_or(""),
            );
            t.set(
                &format!("{META}pod_container_port_protocol"),
                port.protocol.as_deref().unwrap_or(""),
            );
            targets.push(t.build());
        }
    }
    TargetGroup {
        source,
        targets,
        labels,
    }
}
