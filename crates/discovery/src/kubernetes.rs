//! `kubernetes_sd_configs` (feature `kubernetes`): the configuration, the
//! [`KubernetesDiscoverer`] that watches an API server, and the pure translation of
//! Kubernetes objects into target groups with Prometheus's `__meta_kubernetes_*`
//! labels.
//!
//! [`KubernetesDiscoverer`] LISTs and then WATCHes (`?watch=1&resourceVersion=…&
//! allowWatchBookmarks=true`) the kinds a role needs — the role's own objects;
//! services and pods for `endpoints` and `endpointslice`; nodes, namespaces,
//! ReplicaSets and Jobs for `attach_metadata` — in each namespace of `namespaces`
//! (cluster-wide when none), with the `selectors` of each kind. It connects to `api_server` with the configured
//! credentials and `tls_config`, through the current context of `kubeconfig_file`
//! (server, CA, client certificate, token or basic auth; not credential plugins), or,
//! with neither, as a pod does in-cluster (the service account's token and CA,
//! `KUBERNETES_SERVICE_HOST`/`_PORT`).
//!
//! Each object goes through its role's translation: [`node_group`],
//! [`service_group`], [`pod_group`], [`endpoints_group`], [`endpoint_slice_group`] and
//! [`ingress_group`]. The two endpoint roles look the service and the pods behind an
//! object up in an [`ObjectStore`] (the watcher's caches; [`Objects`] in tests).
//! [`attach_node_metadata`], [`attach_namespace_metadata`] and
//! [`attach_controller_metadata`] add what `attach_metadata` asks for.
//!
//! [`operator`] translates the Prometheus Operator's ServiceMonitor and PodMonitor
//! objects into the scrape jobs the Operator would configure.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use promlite_model::LabelsBuilder;
use serde::{Deserialize, Deserializer, Serialize};

use crate::{ADDRESS_LABEL, Error, HttpClientConfig, TargetGroup};

mod endpoints;
mod ingress;
mod kubeconfig;
mod metadata;
pub mod operator;
mod pod;
mod watch;

pub use endpoints::{
    ObjectStore, Objects, endpoint_slice_group, endpoint_slice_source, endpoints_group,
    endpoints_source,
};
pub use ingress::{ingress_group, ingress_source};
pub use metadata::{
    attach_controller_metadata, attach_namespace_metadata, attach_node_metadata, group_namespace,
};
pub use pod::{pod_group, pod_source};
pub use watch::{KubernetesDiscoverer, SERVICE_ACCOUNT_DIR, WatchOptions};

const META: &str = "__meta_kubernetes_";
const INSTANCE_LABEL: &str = "instance";

/// The kind of object a Kubernetes SD configuration discovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// One target per node, at its kubelet.
    Node,
    /// One target per pod container port.
    Pod,
    /// One target per service port.
    Service,
    /// One target per endpoint address and port.
    Endpoints,
    /// One target per endpoint of an EndpointSlice.
    #[serde(rename = "endpointslice")]
    EndpointSlice,
    /// One target per ingress path.
    Ingress,
}

impl Role {
    /// The role's name as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Pod => "pod",
            Role::Service => "service",
            Role::Endpoints => "endpoints",
            Role::EndpointSlice => "endpointslice",
            Role::Ingress => "ingress",
        }
    }

    /// The roles whose selectors a configuration of this role may hold: the kinds of
    /// objects it watches (Prometheus's table; a pod role watches nodes for
    /// `attach_metadata`).
    pub fn selector_roles(self) -> &'static [Role] {
        match self {
            Role::Pod => &[Role::Pod, Role::Node],
            Role::Service => &[Role::Service],
            Role::EndpointSlice => &[Role::Pod, Role::Service, Role::EndpointSlice],
            Role::Endpoints => &[Role::Pod, Role::Service, Role::Endpoints],
            Role::Node => &[Role::Node],
            Role::Ingress => &[Role::Ingress],
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Result<Role, Error> {
        Ok(match s {
            "node" => Role::Node,
            "pod" => Role::Pod,
            "service" => Role::Service,
            "endpoints" => Role::Endpoints,
            "endpointslice" => Role::EndpointSlice,
            "ingress" => Role::Ingress,
            _ => return Err(Error::InvalidKubernetesRole(s.to_owned())),
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Role::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Which namespaces to watch; all when empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceDiscovery {
    /// Whether to include the namespace Prometheus runs in.
    #[serde(default)]
    pub own_namespace: bool,
    /// Namespace names.
    #[serde(default)]
    pub names: Vec<String>,
}

/// A label or field selector for one role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectorConfig {
    /// The role the selector applies to.
    pub role: Role,
    /// A label selector.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// A field selector.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

/// Which related objects' metadata to attach.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one flag per key of Prometheus's `attach_metadata`, each independent"
)]
pub struct AttachMetadata {
    /// Attach node labels to pod and endpoint targets.
    #[serde(default)]
    pub node: bool,
    /// Attach namespace labels.
    #[serde(default)]
    pub namespace: bool,
    /// Attach `__meta_kubernetes_pod_deployment_name` to pods a Deployment's
    /// ReplicaSet controls (watching ReplicaSets).
    #[serde(default)]
    pub deployment: bool,
    /// Attach `__meta_kubernetes_pod_job_name` to pods a Job controls.
    #[serde(default)]
    pub job: bool,
    /// Attach `__meta_kubernetes_pod_cronjob_name` to pods of a CronJob's Jobs
    /// (watching Jobs).
    #[serde(default)]
    pub cronjob: bool,
}

/// One entry of `kubernetes_sd_configs`.
///
/// Of Prometheus's inline HTTP client settings, those of [`HttpClientConfig`] are
/// supported (credentials, `tls_config`, redirects); others, such as `oauth2` or
/// `proxy_url`, are rejected as unknown fields rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubernetesSdConfig {
    /// The API server's URL; in-cluster configuration when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_server: Option<String>,
    /// What to discover.
    pub role: Role,
    /// A kubeconfig file to read instead of `api_server`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kubeconfig_file: String,
    /// Namespaces to watch.
    pub namespaces: NamespaceDiscovery,
    /// Selectors limiting the objects watched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selectors: Vec<SelectorConfig>,
    /// Related metadata to attach.
    pub attach_metadata: AttachMetadata,
    /// How to reach and authenticate to `api_server`.
    #[serde(flatten)]
    pub http: HttpClientConfig,
}

impl<'de> Deserialize<'de> for KubernetesSdConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            api_server: Option<String>,
            #[serde(default)]
            role: Option<Role>,
            #[serde(default)]
            kubeconfig_file: String,
            #[serde(default)]
            namespaces: NamespaceDiscovery,
            #[serde(default)]
            selectors: Vec<SelectorConfig>,
            #[serde(default)]
            attach_metadata: AttachMetadata,
            #[serde(default)]
            basic_auth: Option<crate::BasicAuth>,
            #[serde(default)]
            authorization: Option<crate::Authorization>,
            #[serde(default)]
            bearer_token: String,
            #[serde(default)]
            bearer_token_file: String,
            #[serde(default)]
            tls_config: crate::TlsConfig,
            #[serde(default)]
            follow_redirects: Option<bool>,
            #[serde(default)]
            enable_http2: Option<bool>,
        }
        let raw = Raw::deserialize(d)?;
        let Some(role) = raw.role else {
            return Err(D::Error::custom(
                "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)",
            ));
        };
        let http = HttpClientConfig {
            basic_auth: raw.basic_auth,
            authorization: raw.authorization,
            bearer_token: raw.bearer_token,
            bearer_token_file: raw.bearer_token_file,
            tls_config: raw.tls_config,
            follow_redirects: raw.follow_redirects.unwrap_or(true),
            enable_http2: raw.enable_http2.unwrap_or(true),
        };
        http.validate().map_err(D::Error::custom)?;
        if raw.api_server.is_some() && !raw.kubeconfig_file.is_empty() {
            return Err(D::Error::custom(
                "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
            ));
        }
        if !raw.kubeconfig_file.is_empty() && !http.is_default() {
            return Err(D::Error::custom(
                "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
            ));
        }
        if raw.api_server.is_none() && !http.is_default() {
            return Err(D::Error::custom(
                "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
            ));
        }
        if raw.api_server.is_some() && raw.namespaces.own_namespace {
            return Err(D::Error::custom(
                "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
            ));
        }
        if !raw.kubeconfig_file.is_empty() && raw.namespaces.own_namespace {
            return Err(D::Error::custom(
                "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
            ));
        }
        let mut seen = Vec::new();
        for s in &raw.selectors {
            if seen.contains(&s.role) {
                return Err(D::Error::custom(format!(
                    "duplicated selector role: {}",
                    s.role
                )));
            }
            seen.push(s.role);
            let allowed = role.selector_roles();
            if !allowed.contains(&s.role) {
                let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
                return Err(D::Error::custom(format!(
                    "{role} role supports only {} selectors",
                    names.join(", ")
                )));
            }
            check_field_selector(&s.field).map_err(D::Error::custom)?;
        }
        Ok(KubernetesSdConfig {
            api_server: raw.api_server,
            role,
            kubeconfig_file: raw.kubeconfig_file,
            namespaces: raw.namespaces,
            selectors: raw.selectors,
            attach_metadata: raw.attach_metadata,
            http,
        })
    }
}

impl KubernetesSdConfig {
    /// A configuration of `role` against `api_server`, with every other setting at its
    /// default.
    pub fn new(role: Role, api_server: Option<String>) -> KubernetesSdConfig {
        KubernetesSdConfig {
            api_server,
            role,
            kubeconfig_file: String::new(),
            namespaces: NamespaceDiscovery::default(),
            selectors: Vec::new(),
            attach_metadata: AttachMetadata::default(),
            http: HttpClientConfig::default(),
        }
    }

    /// The selector configured for objects of `role`, if any.
    pub fn selector(&self, role: Role) -> Option<&SelectorConfig> {
        self.selectors.iter().find(|s| s.role == role)
    }

    /// Joins relative file paths (`kubeconfig_file`, token and certificate files) with
    /// `dir`, the directory of the configuration file, as Prometheus does on load.
    pub fn set_directory(&mut self, dir: &std::path::Path) {
        if !self.kubeconfig_file.is_empty()
            && std::path::Path::new(&self.kubeconfig_file).is_relative()
        {
            self.kubeconfig_file = dir
                .join(&self.kubeconfig_file)
                .to_string_lossy()
                .into_owned();
        }
        self.http.set_directory(dir);
    }
}

/// Checks a field selector as apimachinery's `fields.ParseSelector` does: every
/// comma-separated term is `key=value`, `key==value` or `key!=value`.
fn check_field_selector(selector: &str) -> Result<(), String> {
    if selector.trim().is_empty() {
        return Ok(());
    }
    for term in split_unescaped(selector, ',') {
        let ok = ["!=", "==", "="]
            .iter()
            .any(|op| term.split_once(op).is_some());
        if !ok {
            return Err(format!(
                "invalid selector: '{selector}'; can't understand '{term}'"
            ));
        }
    }
    Ok(())
}

/// Splits at `sep` except where a backslash escapes it, as field selectors allow.
fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

/// Prometheus's `strutil.SanitizeLabelName`: every character outside `[a-zA-Z0-9_]`
/// becomes `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The `_label_`, `_labelpresent_`, `_annotation_` and `_annotationpresent_` labels of
/// an object's metadata, under `__meta_kubernetes_{resource}`.
fn add_labels_and_annotations(b: &mut LabelsBuilder, meta: &ObjectMeta, resource: &str) {
    let empty = BTreeMap::new();
    for (kind, map) in [
        ("label", meta.labels.as_ref().unwrap_or(&empty)),
        ("annotation", meta.annotations.as_ref().unwrap_or(&empty)),
    ] {
        for (k, v) in map {
            let ln = sanitize(k);
            b.set(&format!("{META}{resource}_{kind}_{ln}"), v);
            b.set(&format!("{META}{resource}_{kind}present_{ln}"), "true");
        }
    }
}

/// `__meta_kubernetes_{role}_name` and the object's labels and annotations.
fn add_object_meta(b: &mut LabelsBuilder, meta: &ObjectMeta, role: Role) {
    b.set(
        &format!("{META}{role}_name"),
        meta.name.as_deref().unwrap_or(""),
    );
    add_labels_and_annotations(b, meta, role.as_str());
}

/// Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The source of a node's group.
pub fn node_source(name: &str) -> String {
    format!("node/{name}")
}

/// The group of a node: one target at its kubelet, addressed by the first address of
/// the first present type among InternalIP, InternalDNS, ExternalIP, ExternalDNS,
/// LegacyHostIP and Hostname. `None` when the node has no usable address, where
/// Prometheus logs "No node address found" and sends nothing.
pub fn node_group(node: &Node) -> Option<TargetGroup> {
    let name = node.metadata.name.as_deref().unwrap_or("");
    let mut b = LabelsBuilder::new();
    b.set(
        &format!("{META}node_provider_id"),
        node.spec
            .as_ref()
            .and_then(|s| s.provider_id.as_deref())
            .unwrap_or(""),
    );
    let status = node.status.as_ref();
    for c in status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
    {
        b.set(
            &format!("{META}node_condition_{}", sanitize(&c.type_.to_lowercase())),
            &c.status.to_lowercase(),
        );
    }
    add_object_meta(&mut b, &node.metadata, Role::Node);
    let labels = b.build();

    // The first address of each type, in the order the node lists them.
    let mut by_type: Vec<(&str, &str)> = Vec::new();
    for a in status
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
    {
        if !by_type.iter().any(|(t, _)| *t == a.type_) {
            by_type.push((&a.type_, &a.address));
        }
    }
    let host = [
        "InternalIP",
        "InternalDNS",
        "ExternalIP",
        "ExternalDNS",
        "LegacyHostIP",
        "Hostname",
    ]
    .iter()
    .find_map(|want| by_type.iter().find(|(t, _)| t == want).map(|(_, a)| *a))?;
    let port = status
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map_or(0, |e| e.port);

    let mut t = LabelsBuilder::new();
    t.set(ADDRESS_LABEL, &join_host_port(host, port));
    t.set(INSTANCE_LABEL, name);
    for (ty, addr) in &by_type {
        t.set(&sanitize(&format!("{META}node_address_{ty}")), addr);
    }
    Some(TargetGroup {
        source: node_source(name),
        targets: vec![t.build()],
        labels,
    })
}

/// The source of a service's group.
pub fn service_source(namespace: &str, name: &str) -> String {
    format!("svc/{namespace}/{name}")
}

/// The group of a service: one target per port, addressed
/// `{name}.{namespace}.svc:{port}`.
pub fn service_group(svc: &Service) -> TargetGroup {
    let name = svc.metadata.name.as_deref().unwrap_or("");
    let namespace = svc.metadata.namespace.as_deref().unwrap_or("");
    let mut b = LabelsBuilder::new();
    service_labels(&mut b, svc);
    let labels = b.build();

    let spec = svc.spec.as_ref();
    let kind = spec.and_then(|s| s.type_.as_deref()).unwrap_or("");
    let mut targets = Vec::new();
    for port in spec.and_then(|s| s.ports.as_ref()).into_iter().flatten() {
        let mut t = LabelsBuilder::new();
        t.set(
            ADDRESS_LABEL,
            &join_host_port(&format!("{name}.{namespace}.svc"), port.port),
        );
        t.set(
            &format!("{META}service_port_name"),
            port.name.as_deref().unwrap_or(""),
        );
        t.set(
            &format!("{META}service_port_number"),
            &port.port.to_string(),
        );
        t.set(
            &format!("{META}service_port_protocol"),
            port.protocol.as_deref().unwrap_or(""),
        );
        t.set(&format!("{META}service_type"), kind);
        if kind == "ExternalName" {
            t.set(
                &format!("{META}service_external_name"),
                spec.and_then(|s| s.external_name.as_deref()).unwrap_or(""),
            );
        } else {
            t.set(
                &format!("{META}service_cluster_ip"),
                spec.and_then(|s| s.cluster_ip.as_deref()).unwrap_or(""),
            );
        }
        if kind == "LoadBalancer" {
            t.set(
                &format!("{META}service_loadbalancer_ip"),
                &load_balancer_ips(svc),
            );
        }
        targets.push(t.build());
    }
    TargetGroup {
        source: service_source(namespace, name),
        targets,
        labels,
    }
}

/// The group labels of a service, which the endpoint roles attach too: its namespace,
/// name, labels and annotations.
fn service_labels(b: &mut LabelsBuilder, svc: &Service) {
    b.set(
        &format!("{META}namespace"),
        svc.metadata.namespace.as_deref().unwrap_or(""),
    );
    add_object_meta(b, &svc.metadata, Role::Service);
}

/// The load balancer's ingress IPs joined with commas, or the deprecated
/// `spec.loadBalancerIP` when there are none.
fn load_balancer_ips(svc: &Service) -> String {
    let ips: Vec<&str> = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref())
        .filter(|ip| !ip.is_empty())
        .collect();
    if ips.is_empty() {
        svc.spec
            .as_ref()
            .and_then(|s| s.load_balancer_ip.clone())
            .unwrap_or_default()
    } else {
        ips.join(",")
    }
}

#[cfg(test)]
mod tests {
    use promlite_model::Labels;

    use super::*;

    /// Labels as `name=value` lines, for readable fixture comparisons.
    fn lines(l: &Labels) -> Vec<String> {
        l.iter()
            .map(|l| format!("{}={}", l.name, l.value))
            .collect()
    }

    #[test]
    fn node_fixture() {
        let node: Node = serde_json::from_str(
            r#"{
              "metadata": {"name": "worker-1", "labels": {"kubernetes.io/os": "linux", "empty": ""},
                           "annotations": {"a.b/c": "d"}},
              "spec": {"providerID": "aws:///eu-west-1a/i-1"},
              "status": {
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}],
                "addresses": [{"type": "Hostname", "address": "worker-1"},
                              {"type": "ExternalIP", "address": "203.0.113.5"},
                              {"type": "InternalIP", "address": "10.0.0.5"},
                              {"type": "InternalIP", "address": "10.0.0.6"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
              }
            }"#,
        )
        .unwrap();
        let g = node_group(&node).unwrap();
        assert_eq!(g.source, "node/worker-1");
        assert_eq!(
            lines(&g.labels),
            [
                "__meta_kubernetes_node_annotation_a_b_c=d",
                "__meta_kubernetes_node_annotationpresent_a_b_c=true",
                "__meta_kubernetes_node_condition_memorypressure=false",
                "__meta_kubernetes_node_condition_ready=true",
                "__meta_kubernetes_node_label_kubernetes_io_os=linux",
                "__meta_kubernetes_node_labelpresent_empty=true",
                "__meta_kubernetes_node_labelpresent_kubernetes_io_os=true",
                "__meta_kubernetes_node_name=worker-1",
                "__meta_kubernetes_node_provider_id=aws:///eu-west-1a/i-1",
            ]
        );
        assert_eq!(
            lines(&g.targets[0]),
            [
                "__address__=10.0.0.5:10250",
                "__meta_kubernetes_node_address_ExternalIP=203.0.113.5",
                "__meta_kubernetes_node_address_Hostname=worker-1",
                "__meta_kubernetes_node_address_InternalIP=10.0.0.5",
                "instance=worker-1",
            ]
        );
    }

    #[test]
    fn node_without_address_gives_nothing() {
        let node: Node =
            serde_json::from_str(r#"{"metadata": {"name": "n"}, "status": {}}"#).unwrap();
        assert_eq!(node_group(&node), None);
    }

    #[test]
    fn service_fixtures() {
        // (service JSON, expected target label lines per port)
        let cases: &[(&str, &[&[&str]])] = &[
            (
                r#"{"metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
                    "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10",
                             "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 9090, "protocol": "TCP"}]}}"#,
                &[
                    &[
                        "__address__=web.prod.svc:80",
                        "__meta_kubernetes_service_cluster_ip=10.96.0.10",
                        "__meta_kubernetes_service_port_name=http",
                        "__meta_kubernetes_service_port_number=80",
                        "__meta_kubernetes_service_port_protocol=TCP",
                        "__meta_kubernetes_service_type=ClusterIP",
                    ],
                    &[
                        "__address__=web.prod.svc:9090",
                        "__meta_kubernetes_service_cluster_ip=10.96.0.10",
                        "__meta_kubernetes_service_port_number=9090",
                        "__meta_kubernetes_service_port_protocol=TCP",
                        "__meta_kubernetes_service_type=ClusterIP",
                    ],
                ],
            ),
            (
                r#"{"metadata": {"name": "ext", "namespace": "x"},
                    "spec": {"type": "ExternalName", "externalName": "db.example.org", "ports": [{"port": 5432}]}}"#,
                &[&[
                    "__address__=ext.x.svc:5432",
                    "__meta_kubernetes_service_external_name=db.example.org",
                    "__meta_kubernetes_service_port_number=5432",
                    "__meta_kubernetes_service_type=ExternalName",
                ]],
            ),
            (
                r#"{"metadata": {"name": "lb", "namespace": "x"},
                    "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.1", "ports": [{"port": 443, "protocol": "TCP"}]},
                    "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}, {"hostname": "h"}, {"ip": "198.51.100.2"}]}}}"#,
                &[&[
                    "__address__=lb.x.svc:443",
                    "__meta_kubernetes_service_cluster_ip=10.0.0.1",
                    "__meta_kubernetes_service_loadbalancer_ip=198.51.100.1,198.51.100.2",
                    "__meta_kubernetes_service_port_number=443",
                    "__meta_kubernetes_service_port_protocol=TCP",
                    "__meta_kubernetes_service_type=LoadBalancer",
                ]],
            ),
        ];
        for (json, want) in cases {
            let svc: Service = serde_json::from_str(json).unwrap();
            let g = service_group(&svc);
            let got: Vec<Vec<String>> = g.targets.iter().map(lines).collect();
            assert_eq!(got, *want, "{json}");
        }
        let svc: Service = serde_json::from_str(cases[0].0).unwrap();
        let g = service_group(&svc);
        assert_eq!(g.source, "svc/prod/web");
        assert_eq!(
            lines(&g.labels),
            [
                "__meta_kubernetes_namespace=prod",
                "__meta_kubernetes_service_label_app=web",
                "__meta_kubernetes_service_labelpresent_app=true",
                "__meta_kubernetes_service_name=web",
            ]
        );
    }

    #[test]
    fn config_table() {
        let cases: &[(&str, Result<Role, &str>)] = &[
            ("role: node", Ok(Role::Node)),
            (
                "role: endpointslice\nnamespaces: {names: [a]}",
                Ok(Role::EndpointSlice),
            ),
            (
                "{}",
                Err("role missing (one of: pod, service, endpoints, endpointslice, node, ingress)"),
            ),
            ("role: nodes", Err("unknown Kubernetes SD role \"nodes\"")),
            (
                "role: pod\napi_server: https://k\nkubeconfig_file: /k",
                Err("cannot use 'kubeconfig_file' and 'api_server' simultaneously"),
            ),
            (
                "role: pod\nselectors: [{role: pod, label: a=b}, {role: pod, field: x=y}]",
                Err("duplicated selector role: pod"),
            ),
        ];
        for (yaml, want) in cases {
            let got = serde_norway::from_str::<KubernetesSdConfig>(yaml)
                .map(|c| c.role)
                .map_err(|e| e.to_string());
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, *w, "{yaml}"),
                (Err(g), Err(w)) => assert!(g.starts_with(w), "{yaml}: {g}"),
                (g, w) => panic!("{yaml}: got {g:?}, want {w:?}"),
            }
        }
    }
}
