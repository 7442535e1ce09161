//! [`KubernetesDiscoverer`]: lists and watches an API server and turns what it sees
//! into target groups through the role translations.
//!
//! One *reflector* task per kind of object and namespace LISTs, then WATCHes from the
//! list's `resourceVersion` (with bookmarks), and feeds events to one loop that owns
//! the caches. That loop applies them, works out which of the role's objects are
//! affected (the object itself; everything in a namespace when a service, pod or
//! namespace there changed; everything when a node changed) and sends the groups that
//! differ from what it sent last.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use reqwest::header::ACCEPT;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::metadata::{
    attach_controller_metadata, attach_namespace_metadata, attach_node_metadata, controller_of,
};
use super::{
    KubernetesSdConfig, Objects, Role, endpoint_slice_group, endpoints_group, ingress_group,
    join_host_port, node_group, node_source, pod_group, pod_source, service_group,
};
use crate::discoverer::BoxFuture;
use crate::{Discoverer, Error, HttpClientConfig, TargetGroup, Update};

/// Where a pod finds its service account: token, CA bundle and namespace.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How a [`KubernetesDiscoverer`] paces its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// How often each kind is listed afresh even when its watch is healthy, replacing
    /// the cache wholesale: a guard against events lost in transit.
    pub resync: Duration,
    /// The `timeoutSeconds` of watch requests: the API server ends the stream after
    /// this long and the watch resumes from the last resource version seen.
    pub watch_timeout: Duration,
    /// The first wait after a failed request; doubled on each further failure.
    pub min_backoff: Duration,
    /// The longest wait between failed requests.
    pub max_backoff: Duration,
    /// The service-account directory read for in-cluster configuration.
    pub service_account_dir: PathBuf,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            resync: Duration::from_mins(10),
            watch_timeout: Duration::from_mins(5),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            service_account_dir: PathBuf::from(SERVICE_ACCOUNT_DIR),
        }
    }
}

/// Discovers targets by watching a Kubernetes API server: Prometheus's Kubernetes
/// discovery, for one `kubernetes_sd_configs` entry.
///
/// Groups are held back until every kind watched has been listed once, so the first
/// update carries complete groups (a pod's endpoints with their service's labels), as
/// Prometheus waits for its informers to sync. A failed request is reported on the
/// update channel and retried with exponential backoff; the targets stay. A watch the
/// server expired (`410 Gone`) is resumed by listing again, and objects gone from the
/// new list withdraw their groups.
///
/// ```
/// use promlite_discovery::kubernetes::{KubernetesDiscoverer, KubernetesSdConfig};
/// use promlite_discovery::UpdateStream;
///
/// let config: KubernetesSdConfig = serde_norway::from_str("
/// role: endpoints
/// api_server: https://kubernetes.example:6443
/// bearer_token_file: /var/run/secrets/kubernetes.io/serviceaccount/token
/// namespaces: {names: [default]}
/// attach_metadata: {node: true}
/// ").unwrap();
/// let discoverer = KubernetesDiscoverer::new(config).unwrap();
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // Runs until the stream is dropped; its updates are the target groups.
/// let stream = UpdateStream::spawn(Box::new(discoverer));
/// # drop(stream);
/// # });
/// ```
#[derive(Debug)]
pub struct KubernetesDiscoverer {
    config: KubernetesSdConfig,
    options: WatchOptions,
    api: ApiClient,
    own_namespace: Option<String>,
}

impl KubernetesDiscoverer {
    /// A discoverer for `config` with the default [`WatchOptions`].
    ///
    /// Fails when the API server cannot be determined: an invalid `api_server`, an
    /// unreadable or unusable `kubeconfig_file`, or neither of them outside a cluster.
    pub fn new(config: KubernetesSdConfig) -> Result<KubernetesDiscoverer, Error> {
        KubernetesDiscoverer::with_options(config, WatchOptions::default())
    }

    /// A discoverer for `config` paced by `options`.
    pub fn with_options(
        config: KubernetesSdConfig,
        options: WatchOptions,
    ) -> Result<KubernetesDiscoverer, Error> {
        let (base, http, own_namespace) = match &config.api_server {
            Some(url) => (url.clone(), config.http.clone(), None),
            None if !config.kubeconfig_file.is_empty() => {
                let (base, http) = super::kubeconfig::load(Path::new(&config.kubeconfig_file))?;
                (base, http, None)
            }
            None => in_cluster(
                &|k| std::env::var(k).ok(),
                &options.service_account_dir,
                config.namespaces.own_namespace,
            )?,
        };
        let api = ApiClient::new(&base, http)?;
        Ok(KubernetesDiscoverer {
            config,
            options,
            api,
            own_namespace,
        })
    }
}

/// Prometheus's in-cluster configuration (client-go's `InClusterConfig`): the API
/// server from `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`, the service
/// account's token and CA bundle, and, when asked for, its namespace.
fn in_cluster(
    env: &dyn Fn(&str) -> Option<String>,
    dir: &Path,
    own_namespace: bool,
) -> Result<(String, HttpClientConfig, Option<String>), Error> {
    let (Some(host), Some(port)) = (
        env("KUBERNETES_SERVICE_HOST").filter(|h| !h.is_empty()),
        env("KUBERNETES_SERVICE_PORT").filter(|p| !p.is_empty()),
    ) else {
        return Err(Error::InvalidKubernetesConfig(
            "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and \
             KUBERNETES_SERVICE_PORT must be defined"
                .to_owned(),
        ));
    };
    let port: i32 = port.parse().map_err(|_| {
        Error::InvalidKubernetesConfig(format!("invalid KUBERNETES_SERVICE_PORT {port:?}"))
    })?;
    let mut http = HttpClientConfig {
        bearer_token_file: dir.join("token").to_string_lossy().into_owned(),
        ..HttpClientConfig::default()
    };
    http.tls_config.ca_file = dir.join("ca.crt").to_string_lossy().into_owned();
    let namespace = if own_namespace {
        let path = dir.join("namespace");
        let ns = crate::client::read_file("namespace file", &path)?;
        let ns = String::from_utf8_lossy(&ns).trim().to_owned();
        if ns.is_empty() {
            return Err(Error::InvalidKubernetesConfig(
                "could not read own namespace name (empty file)".to_owned(),
            ));
        }
        Some(ns)
    } else {
        None
    };
    Ok((
        format!("https://{}", join_host_port(&host, port)),
        http,
        namespace,
    ))
}

impl Discoverer for KubernetesDiscoverer {
    fn run(self: Box<Self>, updates: mpsc::Sender<Update>) -> BoxFuture<()> {
        Box::pin(async move {
            let watches = watches(&self.config, self.own_namespace.as_deref());
            let (tx, rx) = mpsc::channel(64);
            let mut tasks = JoinSet::new();
            for (i, w) in watches.iter().enumerate() {
                let reflector = Reflector {
                    api: self.api.clone(),
                    index: i,
                    watch: w.clone(),
                    options: self.options.clone(),
                    events: tx.clone(),
                };
                tasks.spawn(reflector.run());
            }
            drop(tx);
            let state = State {
                config: self.config,
                watches,
                caches: Caches::default(),
                sent: HashMap::new(),
            };
            state.run(rx, updates).await;
            // Dropping the set aborts the reflectors.
            drop(tasks);
        })
    }
}

/// The kinds of object a discoverer watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Node,
    Namespace,
    Pod,
    Service,
    Endpoints,
    EndpointSlice,
    Ingress,
    ReplicaSet,
    Job,
}

impl Kind {
    /// The API group path, the resource name, and whether it is namespaced.
    fn resource(self) -> (&'static str, &'static str, bool) {
        match self {
            Kind::Node => ("/api/v1", "nodes", false),
            Kind::Namespace => ("/api/v1", "namespaces", false),
            Kind::Pod => ("/api/v1", "pods", true),
            Kind::Service => ("/api/v1", "services", true),
            Kind::Endpoints => ("/api/v1", "endpoints", true),
            Kind::EndpointSlice => ("/apis/discovery.k8s.io/v1", "endpointslices", true),
            Kind::Ingress => ("/apis/networking.k8s.io/v1", "ingresses", true),
            Kind::ReplicaSet => ("/apis/apps/v1", "replicasets", true),
            Kind::Job => ("/apis/batch/v1", "jobs", true),
        }
    }

    /// The collection's path: `/api/v1/pods` cluster-wide, or
    /// `/api/v1/namespaces/{ns}/pods`.
    fn path(self, namespace: Option<&str>) -> String {
        let (prefix, resource, namespaced) = self.resource();
        match namespace {
            Some(ns) if namespaced => format!("{prefix}/namespaces/{ns}/{resource}"),
            _ => format!("{prefix}/{resource}"),
        }
    }

    fn is_namespaced(self) -> bool {
        self.resource().2
    }

    /// The role whose `selectors` entry applies to this kind.
    fn selector_role(self) -> Option<Role> {
        Some(match self {
            Kind::Node => Role::Node,
            Kind::Namespace | Kind::ReplicaSet | Kind::Job => return None,
            Kind::Pod => Role::Pod,
            Kind::Service => Role::Service,
            Kind::Endpoints => Role::Endpoints,
            Kind::EndpointSlice => Role::EndpointSlice,
            Kind::Ingress => Role::Ingress,
        })
    }

    /// The kind a role's targets come from.
    fn of_role(role: Role) -> Kind {
        match role {
            Role::Node => Kind::Node,
            Role::Pod => Kind::Pod,
            Role::Service => Kind::Service,
            Role::Endpoints => Kind::Endpoints,
            Role::EndpointSlice => Kind::EndpointSlice,
            Role::Ingress => Kind::Ingress,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Node => "Node",
            Kind::Namespace => "Namespace",
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::Endpoints => "Endpoints",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Ingress => "Ingress",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Job => "Job",
        }
    }

    fn decode(self, v: serde_json::Value) -> Result<Object, serde_json::Error> {
        fn de<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, serde_json::Error> {
            serde_json::from_value(v)
        }
        Ok(match self {
            Kind::Node => Object::Node(de(v)?),
            Kind::Namespace => Object::Namespace(de(v)?),
            Kind::Pod => Object::Pod(de(v)?),
            Kind::Service => Object::Service(de(v)?),
            Kind::Endpoints => Object::Endpoints(de(v)?),
            Kind::EndpointSlice => Object::EndpointSlice(de(v)?),
            Kind::Ingress => Object::Ingress(de(v)?),
            Kind::ReplicaSet => Object::ReplicaSet(de(v)?),
            Kind::Job => Object::Job(de(v)?),
        })
    }
}

/// One decoded object of any kind watched.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "objects are moved once, from the decoder into the cache"
)]
enum Object {
    Node(Node),
    Namespace(Namespace),
    Pod(Pod),
    Service(Service),
    Endpoints(Endpoints),
    EndpointSlice(EndpointSlice),
    Ingress(Ingress),
    ReplicaSet(ReplicaSet),
    Job(Job),
}

impl Object {
    fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Node(o) => &o.metadata,
            Object::Namespace(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Endpoints(o) => &o.metadata,
            Object::EndpointSlice(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::ReplicaSet(o) => &o.metadata,
            Object::Job(o) => &o.metadata,
        }
    }

    fn key(&self) -> Key {
        key(self.metadata())
    }
}

/// Objects are cached by namespace and name; cluster-scoped ones under namespace `""`.
type Key = (String, String);

fn key(meta: &ObjectMeta) -> Key {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// What one reflector lists and watches.
#[derive(Debug, Clone)]
struct Watch {
    kind: Kind,
    namespace: Option<String>,
    label_selector: String,
    field_selector: String,
}

/// The kinds a configuration watches, in each namespace it names (or cluster-wide),
/// with their selectors: the role's own kind; services and pods for the endpoint
/// roles; nodes, namespaces, ReplicaSets and Jobs for `attach_metadata`.
fn watches(config: &KubernetesSdConfig, own_namespace: Option<&str>) -> Vec<Watch> {
    let role = config.role;
    let mut kinds = vec![Kind::of_role(role)];
    if matches!(role, Role::Endpoints | Role::EndpointSlice) {
        kinds.extend([Kind::Service, Kind::Pod]);
    }
    let attach = &config.attach_metadata;
    if attach.node && matches!(role, Role::Pod | Role::Endpoints | Role::EndpointSlice) {
        kinds.push(Kind::Node);
    }
    if attach.namespace && role != Role::Node {
        kinds.push(Kind::Namespace);
    }
    if matches!(role, Role::Pod | Role::Endpoints | Role::EndpointSlice) {
        if attach.deployment {
            kinds.push(Kind::ReplicaSet);
        }
        if attach.cronjob {
            kinds.push(Kind::Job);
        }
    }
    let mut namespaces: Vec<Option<String>> = config
        .namespaces
        .names
        .iter()
        .map(|n| Some(n.clone()))
        .collect();
    if let Some(own) = own_namespace.filter(|_| config.namespaces.own_namespace) {
        namespaces.push(Some(own.to_owned()));
    }
    if namespaces.is_empty() {
        namespaces.push(None);
    }
    let mut out = Vec::new();
    for kind in kinds {
        let selector = kind.selector_role().and_then(|r| config.selector(r));
        let scopes: &[Option<String>] = if kind.is_namespaced() {
            &namespaces
        } else {
            &[None]
        };
        for ns in scopes {
            out.push(Watch {
                kind,
                namespace: ns.clone(),
                label_selector: selector.map(|s| s.label.clone()).unwrap_or_default(),
                field_selector: selector.map(|s| s.field.clone()).unwrap_or_default(),
            });
        }
    }
    out
}

/// The HTTP side: requests to the API server with the configured credentials.
#[derive(Debug, Clone)]
struct ApiClient {
    base: url::Url,
    http: HttpClientConfig,
    client: reqwest::Client,
}

/// The `Status` object the API server answers errors with.
#[derive(Debug, Default, Deserialize)]
struct Status {
    #[serde(default)]
    message: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    code: Option<i64>,
}

/// A list response: the items are decoded one by one so that a bad one is skipped.
#[derive(Deserialize)]
struct RawList {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default)]
    items: Option<Vec<serde_json::Value>>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListMeta {
    #[serde(default)]
    resource_version: String,
}

/// One line of a watch stream.
#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: serde_json::Value,
}

#[derive(Default, Deserialize)]
struct Bookmark {
    #[serde(default)]
    metadata: BookmarkMeta,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BookmarkMeta {
    #[serde(default)]
    resource_version: String,
}

impl ApiClient {
    fn new(base: &str, http: HttpClientConfig) -> Result<ApiClient, Error> {
        let invalid = |why: &str| {
            Error::InvalidKubernetesConfig(format!("invalid api_server {base:?}: {why}"))
        };
        let url = url::Url::parse(base).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("scheme must be http or https"));
        }
        #[cfg(not(feature = "https"))]
        if url.scheme() == "https" {
            return Err(Error::Unsupported(
                "an https api_server without the `https` feature",
            ));
        }
        let client = http.client(None)?;
        Ok(ApiClient {
            base: url,
            http,
            client,
        })
    }

    /// The URL of a list (`watch_from` absent) or watch request.
    fn url(&self, w: &Watch, watch_from: Option<(&str, Duration)>) -> url::Url {
        let mut url = self.base.clone();
        let path = format!(
            "{}{}",
            url.path().trim_end_matches('/'),
            w.kind.path(w.namespace.as_deref())
        );
        url.set_path(&path);
        url.set_query(None);
        {
            let mut q = url.query_pairs_mut();
            if !w.label_selector.is_empty() {
                q.append_pair("labelSelector", &w.label_selector);
            }
            if !w.field_selector.is_empty() {
                q.append_pair("fieldSelector", &w.field_selector);
            }
            if let Some((rv, timeout)) = watch_from {
                q.append_pair("watch", "1");
                q.append_pair("resourceVersion", rv);
                q.append_pair("allowWatchBookmarks", "true");
                q.append_pair("timeoutSeconds", &timeout.as_secs().max(1).to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    /// Sends a GET and checks the status, turning an error answer into
    /// [`Error::KubernetesApi`] with the server's `Status` message.
    async fn get(&self, url: url::Url) -> Result<reqwest::Response, Error> {
        let path = request_path(&url);
        let req = self
            .http
            .authorize(self.client.get(url))?
            .header(ACCEPT, "application/json");
        let resp = req.send().await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.bytes().await.unwrap_or_default();
        let s: Status = serde_json::from_slice(&body).unwrap_or_default();
        let message = if s.message.is_empty() {
            String::from_utf8_lossy(&body).trim().to_owned()
        } else {
            s.message
        };
        Err(Error::KubernetesApi {
            path,
            status: status.as_u16(),
            reason: s.reason,
            message,
        })
    }

    /// Lists a collection: its objects, the list's resource version, and the errors of
    /// items that did not decode.
    async fn list(&self, w: &Watch) -> Result<(Vec<Object>, String, Vec<Error>), Error> {
        let url = self.url(w, None);
        let path = request_path(&url);
        let body = self.get(url).await?.bytes().await?;
        let list: RawList =
            serde_json::from_slice(&body).map_err(|source| Error::KubernetesDecode {
                path: path.clone(),
                what: "list".to_owned(),
                source,
            })?;
        let mut objects = Vec::new();
        let mut errors = Vec::new();
        for item in list.items.unwrap_or_default() {
            match w.kind.decode(item) {
                Ok(o) => objects.push(o),
                Err(source) => errors.push(Error::KubernetesDecode {
                    path: path.clone(),
                    what: w.kind.name().to_owned(),
                    source,
                }),
            }
        }
        Ok((objects, list.metadata.resource_version, errors))
    }
}

/// The path and query of a request, for error messages.
fn request_path(url: &url::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// What a reflector tells the loop.
#[derive(Debug)]
enum Event {
    /// A fresh list of everything in the reflector's scope.
    Listed(Vec<Object>),
    /// An object added or modified.
    Applied(Object),
    /// An object deleted.
    Deleted(Object),
    /// A failure, already being retried.
    Failed(Error),
}

/// How a watch stream ended.
enum StreamEnd {
    /// The server closed it (its `timeoutSeconds` passed): watch again.
    Closed,
    /// The resource version is too old (`410 Gone`/`Expired`): list again.
    Gone,
    /// The resync period is over: list again.
    Resync,
    /// Reading or decoding failed: report, back off, watch again.
    Failed(Error),
    /// The loop is gone: stop.
    Stopped,
}

/// Doubling waits between `min` and `max`.
struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            next: min,
            min,
            max: max.max(min),
        }
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(self.max);
    }

    fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Lists and watches one kind in one scope, for ever.
struct Reflector {
    api: ApiClient,
    index: usize,
    watch: Watch,
    options: WatchOptions,
    events: mpsc::Sender<(usize, Event)>,
}

impl Reflector {
    async fn send(&self, e: Event) -> bool {
        self.events.send((self.index, e)).await.is_ok()
    }

    async fn run(self) {
        let mut backoff = Backoff::new(self.options.min_backoff, self.options.max_backoff);
        'list: loop {
            let (objects, mut rv, errors) = match self.api.list(&self.watch).await {
                Ok(l) => l,
                Err(e) => {
                    if !self.send(Event::Failed(e)).await {
                        return;
                    }
                    backoff.wait().await;
                    continue;
                }
            };
            for e in errors {
                if !self.send(Event::Failed(e)).await {
                    return;
                }
            }
            if !self.send(Event::Listed(objects)).await {
                return;
            }
            backoff.reset();
            let relist_at = Instant::now() + self.options.resync;
            loop {
                let left = relist_at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    continue 'list;
                }
                let url = self.api.url(
                    &self.watch,
                    Some((&rv, self.options.watch_timeout.min(left))),
                );
                let resp = match self.api.get(url).await {
                    Ok(r) => r,
                    Err(Error::KubernetesApi { status: 410, .. }) => continue 'list,
                    Err(e) => {
                        if !self.send(Event::Failed(e)).await {
                            return;
                        }
                        backoff.wait().await;
                        continue;
                    }
                };
                let (end, events) = self.stream(resp, &mut rv, relist_at).await;
                match end {
                    StreamEnd::Stopped => return,
                    StreamEnd::Resync => continue 'list,
                    StreamEnd::Gone => {
                        tracing::debug!(
                            kind = self.watch.kind.name(),
                            "watch expired, listing again"
                        );
                        continue 'list;
                    }
                    StreamEnd::Closed => {
                        // A server that keeps closing streams at once is not hammered.
                        if events == 0 {
                            backoff.wait().await;
                        } else {
                            backoff.reset();
                        }
                    }
                    StreamEnd::Failed(e) => {
                        if !self.send(Event::Failed(e)).await {
                            return;
                        }
                        backoff.wait().await;
                    }
                }
            }
        }
    }

    /// Reads a watch stream line by line until it ends, forwarding its events and
    /// keeping `rv` at the last resource version seen. Returns how it ended and how
    /// many events it carried.
    async fn stream(
        &self,
        mut resp: reqwest::Response,
        rv: &mut String,
        relist_at: Instant,
    ) -> (StreamEnd, usize) {
        let path = request_path(resp.url());
        let mut buf: Vec<u8> = Vec::new();
        let mut count = 0;
        loop {
            // The server ends the stream after `timeoutSeconds`; silence well past
            // that means a connection lost without a word (a dead peer behind NAT).
            let idle = self.options.watch_timeout + Duration::from_mins(1);
            let read = tokio::select! {
                r = tokio::time::timeout(idle, resp.chunk()) => r,
                () = tokio::time::sleep_until(relist_at) => return (StreamEnd::Resync, count),
            };
            let chunk = match read {
                Ok(Ok(Some(c))) => c,
                Ok(Ok(None)) => return (StreamEnd::Closed, count),
                Ok(Err(e)) => return (StreamEnd::Failed(e.into()), count),
                Err(_) => {
                    let e = Error::KubernetesApi {
                        path,
                        status: 0,
                        reason: "Timeout".to_owned(),
                        message: format!("no data on the watch stream for {}s", idle.as_secs()),
                    };
                    return (StreamEnd::Failed(e), count);
                }
            };
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                count += 1;
                match self.event(&path, &line, rv) {
                    Ok(Some(e)) => {
                        if !self.send(e).await {
                            return (StreamEnd::Stopped, count);
                        }
                    }
                    Ok(None) => {}
                    Err(end) => return (end, count),
                }
            }
        }
    }

    /// Decodes one watch line. A bad object is reported and skipped; an `ERROR` event
    /// ends the stream.
    fn event(&self, path: &str, line: &[u8], rv: &mut String) -> Result<Option<Event>, StreamEnd> {
        let decode_error = |what: &str, source| {
            Event::Failed(Error::KubernetesDecode {
                path: path.to_owned(),
                what: what.to_owned(),
                source,
            })
        };
        let raw: RawEvent = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => return Ok(Some(decode_error("watch event", e))),
        };
        let object = match raw.kind.as_str() {
            "ADDED" | "MODIFIED" | "DELETED" => match self.watch.kind.decode(raw.object) {
                Ok(o) => o,
                Err(e) => return Ok(Some(decode_error(self.watch.kind.name(), e))),
            },
            "BOOKMARK" => {
                let b: Bookmark = serde_json::from_value(raw.object).unwrap_or_default();
                if !b.metadata.resource_version.is_empty() {
                    *rv = b.metadata.resource_version;
                }
                return Ok(None);
            }
            "ERROR" => {
                let s: Status = serde_json::from_value(raw.object).unwrap_or_default();
                let code = s.code.unwrap_or(0);
                if code == 410 || s.reason == "Expired" || s.reason == "Gone" {
                    return Err(StreamEnd::Gone);
                }
                return Err(StreamEnd::Failed(Error::KubernetesApi {
                    path: path.to_owned(),
                    status: u16::try_from(code).unwrap_or(0),
                    reason: s.reason,
                    message: s.message,
                }));
            }
            other => {
                return Err(StreamEnd::Failed(Error::KubernetesApi {
                    path: path.to_owned(),
                    status: 0,
                    reason: String::new(),
                    message: format!("unknown watch event type {other:?}"),
                }));
            }
        };
        if let Some(v) = object
            .metadata()
            .resource_version
            .as_ref()
            .filter(|v| !v.is_empty())
        {
            v.clone_into(rv);
        }
        Ok(Some(if raw.kind == "DELETED" {
            Event::Deleted(object)
        } else {
            Event::Applied(object)
        }))
    }
}

/// The objects seen, by kind. Pods and services sit in an [`Objects`], the store the
/// endpoint translations read.
#[derive(Debug, Default)]
struct Caches {
    objects: Objects,
    nodes: BTreeMap<Key, Node>,
    namespaces: BTreeMap<Key, Namespace>,
    endpoints: BTreeMap<Key, Endpoints>,
    slices: BTreeMap<Key, EndpointSlice>,
    ingresses: BTreeMap<Key, Ingress>,
    replica_sets: BTreeMap<Key, ReplicaSet>,
    jobs: BTreeMap<Key, Job>,
}

impl Caches {
    fn insert(&mut self, o: Object) {
        let k = o.key();
        match o {
            Object::Node(o) => drop(self.nodes.insert(k, o)),
            Object::Namespace(o) => drop(self.namespaces.insert(k, o)),
            Object::Pod(o) => drop(self.objects.pods.insert(k, o)),
            Object::Service(o) => drop(self.objects.services.insert(k, o)),
            Object::Endpoints(o) => drop(self.endpoints.insert(k, o)),
            Object::EndpointSlice(o) => drop(self.slices.insert(k, o)),
            Object::Ingress(o) => drop(self.ingresses.insert(k, o)),
            Object::ReplicaSet(o) => drop(self.replica_sets.insert(k, o)),
            Object::Job(o) => drop(self.jobs.insert(k, o)),
        }
    }

    fn remove(&mut self, kind: Kind, k: &Key) {
        match kind {
            Kind::Node => drop(self.nodes.remove(k)),
            Kind::Namespace => drop(self.namespaces.remove(k)),
            Kind::Pod => drop(self.objects.pods.remove(k)),
            Kind::Service => drop(self.objects.services.remove(k)),
            Kind::Endpoints => drop(self.endpoints.remove(k)),
            Kind::EndpointSlice => drop(self.slices.remove(k)),
            Kind::Ingress => drop(self.ingresses.remove(k)),
            Kind::ReplicaSet => drop(self.replica_sets.remove(k)),
            Kind::Job => drop(self.jobs.remove(k)),
        }
    }

    /// The keys of a kind's cached objects in `namespace` (all when `None`).
    fn keys(&self, kind: Kind, namespace: Option<&str>) -> Vec<Key> {
        fn of<T>(m: &BTreeMap<Key, T>, ns: Option<&str>) -> Vec<Key> {
            m.keys()
                .filter(|k| ns.is_none_or(|ns| k.0 == ns))
                .cloned()
                .collect()
        }
        match kind {
            Kind::Node => of(&self.nodes, namespace),
            Kind::Namespace => of(&self.namespaces, namespace),
            Kind::Pod => of(&self.objects.pods, namespace),
            Kind::Service => of(&self.objects.services, namespace),
            Kind::Endpoints => of(&self.endpoints, namespace),
            Kind::EndpointSlice => of(&self.slices, namespace),
            Kind::Ingress => of(&self.ingresses, namespace),
            Kind::ReplicaSet => of(&self.replica_sets, namespace),
            Kind::Job => of(&self.jobs, namespace),
        }
    }

    fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.get(&(String::new(), name.to_owned()))
    }

    /// The controller of the ReplicaSet or Job `kind` named `namespace/name`.
    fn owner(&self, kind: &str, namespace: &str, name: &str) -> Option<&OwnerReference> {
        let k = (namespace.to_owned(), name.to_owned());
        match kind {
            "ReplicaSet" => controller_of(
                self.replica_sets
                    .get(&k)?
                    .metadata
                    .owner_references
                    .as_ref(),
            ),
            "Job" => controller_of(self.jobs.get(&k)?.metadata.owner_references.as_ref()),
            _ => None,
        }
    }
}

/// Which of the role's objects need their groups worked out again.
#[derive(Debug, Default)]
struct Dirty {
    all: bool,
    namespaces: BTreeSet<String>,
    keys: BTreeSet<Key>,
}

/// The loop's state: caches, and the groups sent last by object.
struct State {
    config: KubernetesSdConfig,
    watches: Vec<Watch>,
    caches: Caches,
    sent: HashMap<Key, TargetGroup>,
}

impl State {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<(usize, Event)>,
        updates: mpsc::Sender<Update>,
    ) {
        let mut listed = vec![false; self.watches.len()];
        let mut synced = false;
        loop {
            let first = tokio::select! {
                e = events.recv() => e,
                () = updates.closed() => return,
            };
            let Some(first) = first else { return };
            let mut dirty = Dirty::default();
            let mut errors = Vec::new();
            let mut next = Some(first);
            // Everything already waiting is applied before groups are worked out, so a
            // burst of events gives one update.
            while let Some((i, e)) = next {
                match e {
                    Event::Failed(e) => errors.push(e),
                    e => {
                        listed[i] |= matches!(e, Event::Listed(_));
                        self.apply(i, e, &mut dirty);
                    }
                }
                next = events.try_recv().ok();
            }
            for e in errors {
                tracing::error!(err = %e, "Kubernetes discovery");
                if updates.send(Err(e)).await.is_err() {
                    return;
                }
            }
            if !listed.iter().all(|l| *l) {
                continue;
            }
            let first_sync = !synced;
            if first_sync {
                synced = true;
                dirty.all = true;
            }
            let groups = self.regroup(&dirty);
            if (first_sync || !groups.is_empty()) && updates.send(Ok(groups)).await.is_err() {
                return;
            }
        }
    }

    /// Applies an event to the caches and notes what it affects.
    fn apply(&mut self, index: usize, event: Event, dirty: &mut Dirty) {
        let primary = Kind::of_role(self.config.role);
        let kind = self.watches[index].kind;
        let touched = |dirty: &mut Dirty, k: &Key| {
            if kind == primary {
                dirty.keys.insert(k.clone());
            } else if kind == Kind::Node {
                dirty.all = true;
            } else if kind == Kind::Namespace {
                dirty.namespaces.insert(k.1.clone());
            } else {
                dirty.namespaces.insert(k.0.clone());
            }
        };
        match event {
            Event::Listed(objects) => {
                let scope = self.watches[index].namespace.clone();
                for k in self.caches.keys(kind, scope.as_deref()) {
                    self.caches.remove(kind, &k);
                    touched(dirty, &k);
                }
                for o in objects {
                    touched(dirty, &o.key());
                    self.caches.insert(o);
                }
            }
            Event::Applied(o) => {
                touched(dirty, &o.key());
                self.caches.insert(o);
            }
            Event::Deleted(o) => {
                let k = o.key();
                touched(dirty, &k);
                self.caches.remove(kind, &k);
            }
            Event::Failed(_) => {}
        }
    }

    /// The groups of the dirty objects that differ from those sent last; an empty
    /// group for each object gone since.
    fn regroup(&mut self, dirty: &Dirty) -> Vec<TargetGroup> {
        let primary = Kind::of_role(self.config.role);
        let mut keys: BTreeSet<Key> = dirty.keys.clone();
        let add_scope = |keys: &mut BTreeSet<Key>, ns: Option<&str>| {
            keys.extend(self.caches.keys(primary, ns));
            keys.extend(
                self.sent
                    .keys()
                    .filter(|k| ns.is_none_or(|ns| k.0 == ns))
                    .cloned(),
            );
        };
        if dirty.all {
            add_scope(&mut keys, None);
        } else {
            for ns in &dirty.namespaces {
                add_scope(&mut keys, Some(ns));
            }
        }
        let mut out = Vec::new();
        for k in keys {
            match self.group(&k) {
                Some(g) => {
                    if self.sent.get(&k) != Some(&g) {
                        self.sent.insert(k, g.clone());
                        out.push(g);
                    }
                }
                None => {
                    if let Some(old) = self.sent.remove(&k) {
                        out.push(TargetGroup::empty(old.source));
                    }
                }
            }
        }
        out
    }

    /// The group of the role's object `k`, with the metadata asked for attached;
    /// `None` when the object is gone.
    fn group(&self, k: &Key) -> Option<TargetGroup> {
        let c = &self.caches;
        let (ns, name) = (k.0.as_str(), k.1.as_str());
        let role = self.config.role;
        let mut g = match role {
            Role::Node => {
                let node = c.nodes.get(k)?;
                // A node without an address has no target; its group is withdrawn.
                node_group(node).unwrap_or_else(|| TargetGroup::empty(node_source(name)))
            }
            Role::Pod => {
                let pod = c.objects.pods.get(k)?;
                let g = pod_group(pod);
                // With node metadata, Prometheus leaves out pods on nodes the node
                // selector filtered away (not in the node cache).
                let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
                if g.targets.is_empty()
                    || (self.config.attach_metadata.node && node.and_then(|n| c.node(n)).is_none())
                {
                    return Some(TargetGroup::empty(pod_source(ns, name)));
                }
                g
            }
            Role::Service => service_group(c.objects.services.get(k)?),
            Role::Endpoints => endpoints_group(c.endpoints.get(k)?, &c.objects),
            Role::EndpointSlice => endpoint_slice_group(c.slices.get(k)?, &c.objects),
            Role::Ingress => ingress_group(c.ingresses.get(k)?),
        };
        let attach = &self.config.attach_metadata;
        if attach.node {
            attach_node_metadata(&mut g, role, |n| c.node(n));
        }
        if attach.deployment || attach.job || attach.cronjob {
            attach_controller_metadata(&mut g, attach, |kind, ns, name| c.owner(kind, ns, name));
        }
        if self.config.attach_metadata.namespace
            && role != Role::Node
            && let Some(n) = c.namespaces.get(&(String::new(), ns.to_owned()))
        {
            attach_namespace_metadata(&mut g, n);
        }
        Some(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> KubernetesSdConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn watched_paths_per_role() {
        let cases: &[(&str, &[&str])] = &[
            ("role: node", &["/api/v1/nodes"]),
            ("role: pod", &["/api/v1/pods"]),
            (
                "role: endpoints\nnamespaces: {names: [a, b]}",
                &[
                    "/api/v1/namespaces/a/endpoints",
                    "/api/v1/namespaces/b/endpoints",
                    "/api/v1/namespaces/a/services",
                    "/api/v1/namespaces/b/services",
                    "/api/v1/namespaces/a/pods",
                    "/api/v1/namespaces/b/pods",
                ],
            ),
            (
                "role: endpointslice\nattach_metadata: {node: true, namespace: true}",
                &[
                    "/apis/discovery.k8s.io/v1/endpointslices",
                    "/api/v1/services",
                    "/api/v1/pods",
                    "/api/v1/nodes",
                    "/api/v1/namespaces",
                ],
            ),
            (
                "role: ingress\nnamespaces: {names: [web]}",
                &["/apis/networking.k8s.io/v1/namespaces/web/ingresses"],
            ),
            (
                "role: service\nattach_metadata: {node: true}",
                &["/api/v1/services"],
            ),
            (
                "role: pod\nattach_metadata: {deployment: true, job: true, cronjob: true}",
                &[
                    "/api/v1/pods",
                    "/apis/apps/v1/replicasets",
                    "/apis/batch/v1/jobs",
                ],
            ),
        ];
        for (yaml, want) in cases {
            let got: Vec<String> = watches(&config(yaml), None)
                .iter()
                .map(|w| w.kind.path(w.namespace.as_deref()))
                .collect();
            assert_eq!(got, *want, "{yaml}");
        }
    }

    #[test]
    fn own_namespace_joins_the_names() {
        let mut c = config("role: pod\nnamespaces: {names: [a]}");
        c.namespaces.own_namespace = true;
        let got: Vec<String> = watches(&c, Some("mine"))
            .iter()
            .map(|w| w.kind.path(w.namespace.as_deref()))
            .collect();
        assert_eq!(
            got,
            ["/api/v1/namespaces/a/pods", "/api/v1/namespaces/mine/pods"]
        );
    }

    #[test]
    fn urls_carry_selectors_and_watch_parameters() {
        let api =
            ApiClient::new("http://127.0.0.1:1/prefix/", HttpClientConfig::default()).unwrap();
        let w = Watch {
            kind: Kind::Pod,
            namespace: Some("default".to_owned()),
            label_selector: "app in (a,b)".to_owned(),
            field_selector: "spec.nodeName=n1".to_owned(),
        };
        assert_eq!(
            api.url(&w, None).as_str(),
            "http://127.0.0.1:1/prefix/api/v1/namespaces/default/pods?labelSelector=app+in+%28a%2Cb%29&fieldSelector=spec.nodeName%3Dn1"
        );
        let w = Watch {
            kind: Kind::Node,
            namespace: None,
            label_selector: String::new(),
            field_selector: String::new(),
        };
        assert_eq!(
            api.url(&w, Some(("42", Duration::from_mins(5)))).as_str(),
            "http://127.0.0.1:1/prefix/api/v1/nodes?watch=1&resourceVersion=42&allowWatchBookmarks=true&timeoutSeconds=300"
        );
        assert_eq!(
            api.url(&w, None).as_str(),
            "http://127.0.0.1:1/prefix/api/v1/nodes"
        );
    }

    #[test]
    fn in_cluster_configuration() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("namespace"), "monitoring\n").unwrap();
        let env = |k: &str| match k {
            "KUBERNETES_SERVICE_HOST" => Some("10.96.0.1".to_owned()),
            "KUBERNETES_SERVICE_PORT" => Some("443".to_owned()),
            _ => None,
        };
        let (base, http, ns) = in_cluster(&env, dir.path(), true).unwrap();
        assert_eq!(base, "https://10.96.0.1:443");
        assert!(http.bearer_token_file.ends_with("/token"));
        assert!(http.tls_config.ca_file.ends_with("/ca.crt"));
        assert_eq!(ns.as_deref(), Some("monitoring"));

        let err = in_cluster(&|_| None, dir.path(), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined"
        );
    }
}
