//! The `endpoints` and `endpointslice` roles: one target per address and port of a
//! service's endpoints, with the labels of the service and of the pod behind each
//! address, plus one target for every port of those pods that the service does not
//! expose.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Endpoints, ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{EndpointPort, EndpointSlice};
use promlite_model::{Labels, LabelsBuilder};

use super::pod::{containers, set_container_labels, set_pod_labels};
use super::{META, Role, add_object_meta, join_host_port, sanitize, service_labels};
use crate::{ADDRESS_LABEL, TargetGroup};

/// The objects a translation looks up besides the one it translates: the service an
/// Endpoints or EndpointSlice object belongs to, and the pods behind its addresses.
///
/// A watcher implements it over its informer caches; [`Objects`] is a plain in-memory
/// one. A missing object is not an error, as in Prometheus: its labels are left out.
pub trait ObjectStore {
    /// The pod `namespace/name`, if known.
    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod>;
    /// The service `namespace/name`, if known.
    fn service(&self, namespace: &str, name: &str) -> Option<&Service>;
}

/// An [`ObjectStore`] over maps keyed by `(namespace, name)`.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    /// Pods by namespace and name.
    pub pods: BTreeMap<(String, String), Pod>,
    /// Services by namespace and name.
    pub services: BTreeMap<(String, String), Service>,
}

impl Objects {
    /// Adds a pod under its namespace and name.
    pub fn add_pod(&mut self, pod: Pod) {
        self.pods.insert(key(&pod.metadata), pod);
    }

    /// Adds a service under its namespace and name.
    pub fn add_service(&mut self, svc: Service) {
        self.services.insert(key(&svc.metadata), svc);
    }
}

fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

impl ObjectStore for Objects {
    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pods.get(&(namespace.to_owned(), name.to_owned()))
    }

    fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.services.get(&(namespace.to_owned(), name.to_owned()))
    }
}

/// The pod a target reference points at, when it is a pod the store knows.
fn resolve_pod<'s>(store: &'s impl ObjectStore, r: Option<&ObjectReference>) -> Option<&'s Pod> {
    let r = r?;
    if r.kind.as_deref() != Some("Pod") {
        return None;
    }
    store.pod(
        r.namespace.as_deref().unwrap_or(""),
        r.name.as_deref().unwrap_or(""),
    )
}

/// The pods met while walking addresses, in the order first met, with the ports the
/// service exposes on each. Prometheus keeps them in a Go map and so lists the extra
/// targets in random order; first-met order makes ours reproducible.
#[derive(Default)]
struct SeenPods<'a> {
    pods: Vec<(&'a Pod, Vec<i32>)>,
}

impl<'a> SeenPods<'a> {
    fn record(&mut self, pod: &'a Pod, port: Option<i32>) {
        let i = if let Some(i) = self.pods.iter().position(|(p, _)| same_pod(p, pod)) {
            i
        } else {
            self.pods.push((pod, Vec::new()));
            self.pods.len() - 1
        };
        // A port-less EndpointSlice port still marks the pod as seen, but matches no
        // container port.
        self.pods[i].1.extend(port);
    }

    /// One target per container port of each seen pod that no endpoint port covers,
    /// addressed at the pod IP. These carry pod and container labels only.
    fn extra_targets(&self, targets: &mut Vec<Labels>) {
        let mut t = LabelsBuilder::new();
        for (pod, seen) in &self.pods {
            let ip = pod
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.as_deref())
                .unwrap_or("");
            if ip.is_empty() {
                continue;
            }
            for (c, is_init) in containers(pod) {
                for cport in c.ports.iter().flatten() {
                    if seen.contains(&cport.container_port) {
                        continue;
                    }
                    t.clear();
                    t.set(ADDRESS_LABEL, &join_host_port(ip, cport.container_port));
                    set_container_labels(&mut t, c, is_init);
                    set_container_port_labels(
                        &mut t,
                        cport.name.as_deref(),
                        cport.container_port,
                        cport.protocol.as_deref(),
                    );
                    set_pod_labels(&mut t, pod);
                    targets.push(t.build());
                }
            }
        }
    }
}

fn same_pod(a: &Pod, b: &Pod) -> bool {
    a.metadata.namespace == b.metadata.namespace && a.metadata.name == b.metadata.name
}

fn set_container_port_labels(
    b: &mut LabelsBuilder,
    name: Option<&str>,
    number: i32,
    protocol: Option<&str>,
) {
    b.set(
        &format!("{META}pod_container_port_name"),
        name.unwrap_or(""),
    );
    b.set(
        &format!("{META}pod_container_port_number"),
        &number.to_string(),
    );
    b.set(
        &format!("{META}pod_container_port_protocol"),
        protocol.unwrap_or(""),
    );
}

/// Where `pod_container_port_protocol` comes from on a target backed by a pod.
/// Prometheus takes the endpoint port's protocol for `endpoints` but the container
/// port's for `endpointslice`, and so do we.
#[derive(Clone, Copy)]
enum ProtocolFrom<'a> {
    EndpointPort(Option<&'a str>),
    ContainerPort,
}

/// Adds the pod's labels to a target addressed at `port` of it, and the container
/// labels of the first container declaring that port.
fn add_backing_pod(
    t: &mut LabelsBuilder,
    pod: &Pod,
    port: Option<i32>,
    protocol_from: ProtocolFrom<'_>,
) {
    set_pod_labels(t, pod);
    let Some(port) = port else { return };
    for (c, is_init) in containers(pod) {
        if let Some(cport) = c.ports.iter().flatten().find(|p| p.container_port == port) {
            set_container_labels(t, c, is_init);
            let protocol = match protocol_from {
                ProtocolFrom::EndpointPort(p) => p,
                ProtocolFrom::ContainerPort => cport.protocol.as_deref(),
            };
            set_container_port_labels(t, cport.name.as_deref(), port, protocol);
            return;
        }
    }
}

/// The source of an Endpoints object's group.
pub fn endpoints_source(namespace: &str, name: &str) -> String {
    format!("endpoints/{namespace}/{name}")
}

/// The group of an Endpoints object (role `endpoints`): a target per subset port and
/// address (ready ones, then not-ready ones, for each port), with the labels of the
/// service of the same name as group labels and those of the backing pod on each
/// target, then a target per pod container port the service does not expose.
#[allow(
    deprecated,
    reason = "core/v1 Endpoints is what the `endpoints` role reads"
)]
pub fn endpoints_group(eps: &Endpoints, store: &impl ObjectStore) -> TargetGroup {
    let name = eps.metadata.name.as_deref().unwrap_or("");
    let namespace = eps.metadata.namespace.as_deref().unwrap_or("");
    let mut b = LabelsBuilder::new();
    b.set(&format!("{META}namespace"), namespace);
    if let Some(svc) = store.service(namespace, name) {
        service_labels(&mut b, svc);
    }
    add_object_meta(&mut b, &eps.metadata, Role::Endpoints);
    let labels = b.build();

    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    let mut t = LabelsBuilder::new();
    for subset in eps.subsets.iter().flatten() {
        for port in subset.ports.iter().flatten() {
            let ready = subset.addresses.iter().flatten().map(|a| (a, "true"));
            let not_ready = subset
                .not_ready_addresses
                .iter()
                .flatten()
                .map(|a| (a, "false"));
            for (addr, ready) in ready.chain(not_ready) {
                t.clear();
                t.set(ADDRESS_LABEL, &join_host_port(&addr.ip, port.port));
                t.set(
                    &format!("{META}endpoint_port_name"),
                    port.name.as_deref().unwrap_or(""),
                );
                t.set(
                    &format!("{META}endpoint_port_protocol"),
                    port.protocol.as_deref().unwrap_or(""),
                );
                t.set(&format!("{META}endpoint_ready"), ready);
                if let Some(r) = &addr.target_ref {
                    t.set(
                        &format!("{META}endpoint_address_target_kind"),
                        r.kind.as_deref().unwrap_or(""),
                    );
                    t.set(
                        &format!("{META}endpoint_address_target_name"),
                        r.name.as_deref().unwrap_or(""),
                    );
                }
                if let Some(node) = &addr.node_name {
                    t.set(&format!("{META}endpoint_node_name"), node);
                }
                if let Some(host) = &addr.hostname {
                    t.set(&format!("{META}endpoint_hostname"), host);
                }
                if let Some(pod) = resolve_pod(store, addr.target_ref.as_ref()) {
                    add_backing_pod(
                        &mut t,
                        pod,
                        Some(port.port),
                        ProtocolFrom::EndpointPort(port.protocol.as_deref()),
                    );
                    seen.record(pod, Some(port.port));
                }
                targets.push(t.build());
            }
        }
    }
    seen.extra_targets(&mut targets);
    TargetGroup {
        source: endpoints_source(namespace, name),
        targets,
        labels,
    }
}

/// The source of an EndpointSlice's group.
pub fn endpoint_slice_source(namespace: &str, name: &str) -> String {
    format!("endpointslice/{namespace}/{name}")
}

/// The label naming the service an EndpointSlice belongs to.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The group of a `discovery.k8s.io/v1` EndpointSlice (role `endpointslice`): a target
/// per endpoint, port and address, with the service's labels (found through the
/// `kubernetes.io/service-name` label) as group labels and the backing pod's on each
/// target, then a target per pod container port the service does not expose.
///
/// A slice of a dual-stack service's secondary address family gives no targets, so
/// that each endpoint is scraped once (Prometheus's `nonPrimaryIPFamilySlice`).
pub fn endpoint_slice_group(eps: &EndpointSlice, store: &impl ObjectStore) -> TargetGroup {
    let name = eps.metadata.name.as_deref().unwrap_or("");
    let namespace = eps.metadata.namespace.as_deref().unwrap_or("");
    let mut b = LabelsBuilder::new();
    b.set(&format!("{META}namespace"), namespace);
    b.set(
        &format!("{META}endpointslice_address_type"),
        &eps.address_type,
    );
    add_object_meta(&mut b, &eps.metadata, Role::EndpointSlice);
    let svc = eps
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .and_then(|svc| store.service(namespace, svc));
    if let Some(svc) = svc {
        service_labels(&mut b, svc);
    }
    let labels = b.build();
    let source = endpoint_slice_source(namespace, name);
    if svc.is_some_and(|svc| non_primary_ip_family(svc, eps)) {
        return TargetGroup {
            source,
            targets: Vec::new(),
            labels,
        };
    }

    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    let mut t = LabelsBuilder::new();
    let ports = eps.ports.as_deref().unwrap_or_default();
    for ep in &eps.endpoints {
        for port in ports {
            for addr in &ep.addresses {
                t.clear();
                set_slice_target_labels(&mut t, addr, ep, port);
                if let Some(pod) = resolve_pod(store, ep.target_ref.as_ref()) {
                    add_backing_pod(&mut t, pod, port.port, ProtocolFrom::ContainerPort);
                    seen.record(pod, port.port);
                }
                targets.push(t.build());
            }
        }
    }
    seen.extra_targets(&mut targets);
    TargetGroup {
        source,
        targets,
        labels,
    }
}

fn set_slice_target_labels(
    t: &mut LabelsBuilder,
    addr: &str,
    ep: &k8s_openapi::api::discovery::v1::Endpoint,
    port: &EndpointPort,
) {
    let s = |name: &str| format!("{META}endpointslice_{name}");
    // Without a port number the target is the bare address, to be completed by
    // relabeling.
    match port.port {
        Some(p) => t.set(ADDRESS_LABEL, &join_host_port(addr, p)),
        None => t.set(ADDRESS_LABEL, addr),
    };
    if let Some(v) = &port.name {
        t.set(&s("port_name"), v);
    }
    if let Some(v) = &port.protocol {
        t.set(&s("port_protocol"), v);
    }
    if let Some(v) = port.port {
        t.set(&s("port"), &v.to_string());
    }
    if let Some(v) = &port.app_protocol {
        t.set(&s("port_app_protocol"), v);
    }
    let conditions = ep.conditions.as_ref();
    for (name, value) in [
        ("ready", conditions.and_then(|c| c.ready)),
        ("serving", conditions.and_then(|c| c.serving)),
        ("terminating", conditions.and_then(|c| c.terminating)),
    ] {
        if let Some(v) = value {
            t.set(
                &s(&format!("endpoint_conditions_{name}")),
                if v { "true" } else { "false" },
            );
        }
    }
    if let Some(v) = &ep.hostname {
        t.set(&s("endpoint_hostname"), v);
    }
    if let Some(r) = &ep.target_ref {
        t.set(&s("address_target_kind"), r.kind.as_deref().unwrap_or(""));
        t.set(&s("address_target_name"), r.name.as_deref().unwrap_or(""));
    }
    if let Some(v) = &ep.node_name {
        t.set(&s("endpoint_node_name"), v);
    }
    if let Some(v) = &ep.zone {
        t.set(&s("endpoint_zone"), v);
    }
    for (k, v) in ep.deprecated_topology.iter().flatten() {
        let ln = sanitize(k);
        t.set(&s(&format!("endpoint_topology_{ln}")), v);
        t.set(&s(&format!("endpoint_topology_present_{ln}")), "true");
    }
}

/// Whether the slice holds a dual-stack service's secondary address family.
fn non_primary_ip_family(svc: &Service, eps: &EndpointSlice) -> bool {
    let Some(spec) = &svc.spec else { return false };
    match spec.ip_family_policy.as_deref() {
        Some("PreferDualStack" | "RequireDualStack") => {}
        _ => return false,
    }
    spec.ip_families
        .as_ref()
        .and_then(|f| f.first())
        .is_some_and(|primary| *primary != eps.address_type)
}
