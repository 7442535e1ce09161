//! `attach_metadata`: the labels of the node a target runs on, of the namespace an
//! object lives in, and of the workload controlling a pod, added to groups the role
//! translations made.
//!
//! All work on finished groups, reading from their labels which node, namespace or
//! controller they belong to, so that the translations stay independent of what is
//! attached.

use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use promlite_model::{Labels, LabelsBuilder};

use super::{AttachMetadata, META, Role, add_labels_and_annotations, add_object_meta};
use crate::TargetGroup;

/// Adds `__meta_kubernetes_namespace_label_*`, `_labelpresent_*`, `_annotation_*` and
/// `_annotationpresent_*` of `namespace` to the group's labels (Prometheus's
/// `attach_metadata: {namespace: true}`, for every role but `node`). Its name is
/// already there as `__meta_kubernetes_namespace`.
pub fn attach_namespace_metadata(group: &mut TargetGroup, namespace: &Namespace) {
    let mut b = group.labels.to_builder();
    add_labels_and_annotations(&mut b, &namespace.metadata, "namespace");
    group.labels = b.build();
}

/// The namespace a group of a namespaced role belongs to, from its labels.
pub fn group_namespace(group: &TargetGroup) -> Option<&str> {
    group.labels.get(&format!("{META}namespace"))
}

/// Adds the labels of the node each target runs on — `__meta_kubernetes_node_name`,
/// `_node_label_*`, `_node_labelpresent_*`, `_node_annotation_*`,
/// `_node_annotationpresent_*` — as Prometheus's `attach_metadata: {node: true}` does:
/// to the group labels for a pod; for `endpoints` and `endpointslice`, to each target
/// whose endpoint names a node (its `nodeName`, or a target reference of kind `Node`).
/// Nodes `lookup` does not know add nothing.
pub fn attach_node_metadata<'n>(
    group: &mut TargetGroup,
    role: Role,
    lookup: impl Fn(&str) -> Option<&'n Node>,
) {
    let mut b = LabelsBuilder::new();
    let mut add = |labels: &Labels, node_name: Option<&str>| -> Option<Labels> {
        let node = lookup(node_name?)?;
        b.reset(labels);
        add_object_meta(&mut b, &node.metadata, Role::Node);
        Some(b.build())
    };
    match role {
        Role::Pod => {
            let name = group
                .labels
                .get(&format!("{META}pod_node_name"))
                .map(str::to_owned);
            if let Some(l) = add(&group.labels, name.as_deref()) {
                group.labels = l;
            }
        }
        Role::Endpoints | Role::EndpointSlice => {
            let prefix = if role == Role::Endpoints {
                format!("{META}endpoint_")
            } else {
                format!("{META}endpointslice_")
            };
            let node_label = if role == Role::Endpoints {
                format!("{prefix}node_name")
            } else {
                format!("{prefix}endpoint_node_name")
            };
            let kind_label = format!("{prefix}address_target_kind");
            let name_label = format!("{prefix}address_target_name");
            for t in &mut group.targets {
                let by_ref = (t.get(&kind_label) == Some("Node"))
                    .then(|| t.get(&name_label))
                    .flatten();
                // `endpoints` prefers the address's node name, `endpointslice` a
                // reference to a node; each falls back on the other.
                let name = if role == Role::Endpoints {
                    t.get(&node_label).or(by_ref)
                } else {
                    by_ref.or_else(|| t.get(&node_label))
                }
                .map(str::to_owned);
                if let Some(l) = add(t, name.as_deref()) {
                    *t = l;
                }
            }
        }
        Role::Node | Role::Service | Role::Ingress => {}
    }
}

/// The owner marked `controller: true`, as apimachinery's `GetControllerOf` finds it.
pub(super) fn controller_of(owners: Option<&Vec<OwnerReference>>) -> Option<&OwnerReference> {
    owners?.iter().find(|r| r.controller == Some(true))
}

/// Adds the names of the workloads controlling a pod, wherever the pod's labels are
/// (group labels for `pod`, targets for the endpoint roles), as Prometheus's
/// `attach_metadata` does: `__meta_kubernetes_pod_deployment_name` from the Deployment
/// owning the pod's ReplicaSet (`deployment`), `__meta_kubernetes_pod_job_name` from
/// the controlling Job (`job`), and `__meta_kubernetes_pod_cronjob_name` from the
/// CronJob owning that Job (`cronjob`).
///
/// `owner` looks up the controller of the ReplicaSet or Job `kind` named `name` in the
/// group's namespace; objects it does not know add nothing.
pub fn attach_controller_metadata<'o>(
    group: &mut TargetGroup,
    which: &AttachMetadata,
    owner: impl Fn(&str, &str, &str) -> Option<&'o OwnerReference>,
) {
    let namespace = group_namespace(group).unwrap_or("").to_owned();
    let kind_label = format!("{META}pod_controller_kind");
    let name_label = format!("{META}pod_controller_name");
    let mut b = LabelsBuilder::new();
    let mut add = |labels: &Labels| -> Option<Labels> {
        let kind = labels.get(&kind_label)?;
        let name = labels.get(&name_label)?;
        let mut extra: Vec<(String, &str)> = Vec::new();
        match kind {
            "ReplicaSet" if which.deployment => {
                if let Some(o) =
                    owner("ReplicaSet", &namespace, name).filter(|o| o.kind == "Deployment")
                {
                    extra.push((format!("{META}pod_deployment_name"), &o.name));
                }
            }
            "Job" => {
                if which.job {
                    extra.push((format!("{META}pod_job_name"), name));
                }
                if which.cronjob
                    && let Some(o) = owner("Job", &namespace, name).filter(|o| o.kind == "CronJob")
                {
                    extra.push((format!("{META}pod_cronjob_name"), &o.name));
                }
            }
            _ => {}
        }
        if extra.is_empty() {
            return None;
        }
        b.reset(labels);
        for (k, v) in extra {
            b.set(&k, v);
        }
        Some(b.build())
    };
    if let Some(l) = add(&group.labels) {
        group.labels = l;
    }
    for t in &mut group.targets {
        if let Some(l) = add(t) {
            *t = l;
        }
    }
}
