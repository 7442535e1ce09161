//! The Kubernetes discoverer against a fake API server on 127.0.0.1 that lists and
//! streams watch events shaped as a real one does (fixtures in `tests/kubernetes/`):
//! every role's first groups, updates and withdrawals; relisting after `410 Gone`;
//! selectors and namespaces in the requests; credentials; `attach_metadata`; and a
//! ServiceMonitor's generated job run end to end over the watched objects.
#![cfg(feature = "kubernetes")]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use promlite_discovery::kubernetes::operator::{
    MonitorSelection, OperatorOptions, ServiceMonitor, service_monitor_jobs,
};
use promlite_discovery::kubernetes::{KubernetesDiscoverer, KubernetesSdConfig, WatchOptions};
use promlite_discovery::{
    Error, Manager, ManagerOptions, SdConfig, ServiceDiscoveryConfigs, TargetGroup, TargetSets,
    UpdateStream,
};
use serde::Deserialize;
use serde_json::json;

#[path = "kubernetes/common.rs"]
mod common;
#[path = "kubernetes/fake_api.rs"]
mod fake_api;

use common::{LabelMap, fixture, map, scrape_target};
use fake_api::{FakeApi, LIMIT};

/// Options that make retries immediate; no resync during a test.
fn fast() -> WatchOptions {
    WatchOptions {
        resync: Duration::from_hours(1),
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..WatchOptions::default()
    }
}

fn start(mut config: KubernetesSdConfig, api: &FakeApi) -> UpdateStream {
    config.api_server = Some(api.url.clone());
    let d = KubernetesDiscoverer::with_options(config, fast()).unwrap();
    UpdateStream::spawn(Box::new(d))
}

/// The groups received so far, by source.
#[derive(Default)]
struct Seen {
    groups: BTreeMap<String, TargetGroup>,
    errors: Vec<String>,
    ok_updates: usize,
}

impl Seen {
    fn addresses(&self, source: &str) -> Option<Vec<String>> {
        self.groups.get(source).map(|g| {
            g.targets
                .iter()
                .filter_map(|t| t.get("__address__").map(str::to_owned))
                .collect()
        })
    }

    fn all_addresses(&self) -> BTreeMap<String, Vec<String>> {
        self.groups
            .keys()
            .map(|s| (s.clone(), self.addresses(s).unwrap_or_default()))
            .collect()
    }

    /// Receives one update.
    async fn recv(&mut self, stream: &mut UpdateStream) {
        let update = tokio::time::timeout(LIMIT, stream.recv())
            .await
            .unwrap_or_else(|_| panic!("no update in time; seen {:#?}", self.all_addresses()))
            .expect("discoverer ended");
        match update {
            Ok(groups) => {
                self.ok_updates += 1;
                for g in groups {
                    self.groups.insert(g.source.clone(), g);
                }
            }
            Err(e) => self.errors.push(e.to_string()),
        }
    }

    /// Receives updates until `done` holds.
    async fn until(&mut self, stream: &mut UpdateStream, done: impl Fn(&Seen) -> bool) {
        while !done(self) {
            self.recv(stream).await;
        }
    }

    /// Receives updates until the first groups, failing on errors.
    async fn first(&mut self, stream: &mut UpdateStream) {
        let update = tokio::time::timeout(LIMIT, stream.recv())
            .await
            .expect("no first update in time")
            .expect("discoverer ended");
        let groups = update.unwrap_or_else(|e| panic!("unexpected error: {e}"));
        for g in groups {
            self.groups.insert(g.source.clone(), g);
        }
    }

    fn matches(&self, want: &BTreeMap<String, Vec<String>>) -> bool {
        want.iter()
            .all(|(s, addrs)| self.addresses(s).unwrap_or_default() == *addrs)
    }

    fn labels_match(&self, want: &BTreeMap<String, LabelMap>) -> bool {
        want.iter().all(|(s, labels)| {
            self.groups.get(s).is_some_and(|g| {
                labels
                    .iter()
                    .all(|(k, v)| g.labels.get(k) == Some(v.as_str()))
            })
        })
    }
}

#[derive(Deserialize)]
struct RoleCase {
    name: String,
    config: KubernetesSdConfig,
    lists: BTreeMap<String, serde_json::Value>,
    initial: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    after_initial_labels: BTreeMap<String, LabelMap>,
    watch: BTreeMap<String, Vec<serde_json::Value>>,
    after: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    after_labels: BTreeMap<String, LabelMap>,
    resume: String,
}

fn role_cases() -> Vec<RoleCase> {
    serde_norway::from_str(&fixture("watch.yaml")).unwrap()
}

/// The collection path a role's own objects are watched on, in a case.
fn primary_path(case: &RoleCase) -> &str {
    let resource = match case.config.role.as_str() {
        "node" => "/nodes",
        "pod" => "/pods",
        "service" => "/services",
        "endpoints" => "/endpoints",
        "endpointslice" => "/endpointslices",
        _ => "/ingresses",
    };
    case.lists
        .keys()
        .find(|p| p.ends_with(resource))
        .expect("the case lists the role's objects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_lists_then_follows_watch_events() {
    for case in role_cases() {
        let api = FakeApi::start().await;
        for (path, list) in &case.lists {
            api.set_list(path, list);
        }
        let mut stream = start(case.config.clone(), &api);
        let mut seen = Seen::default();
        seen.first(&mut stream).await;
        assert_eq!(
            seen.all_addresses(),
            case.initial,
            "{}: first groups",
            case.name
        );
        assert!(
            seen.labels_match(&case.after_initial_labels),
            "{}: first labels {:#?}",
            case.name,
            seen.groups
        );

        // Every list's resourceVersion starts its watch; events stream in per path.
        let mut streams = Vec::new();
        for (path, events) in &case.watch {
            let w = api.watch(path).await;
            let listed_rv = case.lists[path]["metadata"]["resourceVersion"].as_str();
            assert_eq!(
                w.request.param("resourceVersion"),
                listed_rv,
                "{}",
                case.name
            );
            assert_eq!(w.request.param("allowWatchBookmarks"), Some("true"));
            for e in events {
                w.send(e);
            }
            streams.push(w);
        }
        seen.until(&mut stream, |s| {
            s.matches(&case.after) && s.labels_match(&case.after_labels)
        })
        .await;
        assert!(seen.errors.is_empty(), "{}: {:?}", case.name, seen.errors);

        // The server ends the stream (its timeout): the watch resumes from the last
        // version seen, a bookmark's included, without listing again.
        let primary = primary_path(&case).to_owned();
        let lists_before = list_count(&api, &primary);
        let w = streams
            .into_iter()
            .find(|w| w.request.path == primary)
            .unwrap_or_else(|| panic!("{}: no events on {primary}", case.name));
        drop(w);
        let again = api.watch(&primary).await;
        assert_eq!(
            again.request.param("resourceVersion"),
            Some(case.resume.as_str()),
            "{}",
            case.name
        );
        assert_eq!(list_count(&api, &primary), lists_before, "{}", case.name);
    }
}

/// A core (`v1`) list as the API server answers it.
fn core_list(kind: &str, resource_version: &str, items: &serde_json::Value) -> serde_json::Value {
    json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": resource_version}, "items": items})
}

fn list_count(api: &FakeApi, path: &str) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.path == path && !r.is_watch())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_watch_lists_again_and_withdraws_what_is_gone() {
    let case = role_cases().into_iter().find(|c| c.name == "pod").unwrap();
    let path = "/api/v1/namespaces/default/pods";
    let api = FakeApi::start().await;
    api.set_list(path, &case.lists[path]);
    let mut stream = start(case.config.clone(), &api);
    let mut seen = Seen::default();
    seen.first(&mut stream).await;
    assert_eq!(seen.all_addresses(), case.initial);

    // While the watcher was away, web-1 and web-3 went and web-4 came.
    let mut list = case.lists[path].clone();
    list["metadata"]["resourceVersion"] = json!("900");
    list["items"] = json!([{
        "metadata": {"name": "web-4", "namespace": "default", "resourceVersion": "880"},
        "spec": {"containers": [{"name": "web", "ports": [{"containerPort": 8080}]}]},
        "status": {"phase": "Running", "podIP": "10.244.0.14"}
    }, case.lists[path]["items"][1].clone()]);
    api.set_list(path, &list);
    let w = api.watch(path).await;
    w.send(&json!({"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "too old resource version: 200 (850)", "reason": "Expired", "code": 410
    }}));
    let want: BTreeMap<String, Vec<String>> = [
        ("pod/default/web-1", vec![]),
        ("pod/default/web-2", vec!["10.244.0.12:8080"]),
        ("pod/default/web-3", vec![]),
        ("pod/default/web-4", vec!["10.244.0.14:8080"]),
    ]
    .into_iter()
    .map(|(s, a)| (s.to_owned(), a.into_iter().map(str::to_owned).collect()))
    .collect();
    seen.until(&mut stream, |s| s.matches(&want)).await;
    assert_eq!(seen.all_addresses(), want);
    assert_eq!(list_count(&api, path), 2);
    // An expired watch is routine, not an error.
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    let again = api.watch(path).await;
    assert_eq!(again.request.param("resourceVersion"), Some("900"));
}

/// A watch ERROR other than `410` is reported, and the watch resumes from the same
/// version without listing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_errors_are_reported_and_the_watch_resumes() {
    let api = FakeApi::start().await;
    let path = "/api/v1/services";
    api.set_list(path, &core_list("ServiceList", "70", &json!([])));
    let config = KubernetesSdConfig::new(promlite_discovery::kubernetes::Role::Service, None);
    let mut stream = start(config, &api);
    let mut seen = Seen::default();
    seen.first(&mut stream).await;
    let w = api.watch(path).await;
    w.send(&json!({"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "etcdserver: request timed out", "reason": "InternalError", "code": 500
    }}));
    seen.until(&mut stream, |s| !s.errors.is_empty()).await;
    assert_eq!(
        seen.errors[0],
        "kubernetes API request /api/v1/services?watch=1&resourceVersion=70&allowWatchBookmarks=true&timeoutSeconds=300 failed: 500: etcdserver: request timed out"
    );
    let again = api.watch(path).await;
    assert_eq!(again.request.param("resourceVersion"), Some("70"));
    assert_eq!(list_count(&api, path), 1);
}

/// With a resync period, lists come again without any watch event, and what they no
/// longer hold is withdrawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_resync_lists_again() {
    let api = FakeApi::start().await;
    let path = "/api/v1/services";
    let svc = |name: &str| json!({"metadata": {"name": name, "namespace": "default"}, "spec": {"ports": [{"port": 80}]}});
    api.set_list(
        path,
        &core_list("ServiceList", "1", &json!([svc("a"), svc("b")])),
    );
    let mut config = KubernetesSdConfig::new(promlite_discovery::kubernetes::Role::Service, None);
    config.api_server = Some(api.url.clone());
    let options = WatchOptions {
        resync: Duration::from_millis(1),
        ..fast()
    };
    let d = KubernetesDiscoverer::with_options(config, options).unwrap();
    let mut stream = UpdateStream::spawn(Box::new(d));
    let mut seen = Seen::default();
    seen.first(&mut stream).await;
    assert_eq!(seen.groups.len(), 2);
    api.set_list(path, &core_list("ServiceList", "2", &json!([svc("a")])));
    seen.until(&mut stream, |s| {
        s.addresses("svc/default/b") == Some(vec![])
    })
    .await;
    assert_eq!(
        seen.addresses("svc/default/a"),
        Some(vec!["a.default.svc:80".to_owned()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_and_namespaces_shape_the_requests() {
    let config: KubernetesSdConfig = serde_norway::from_str(
        "
role: endpoints
namespaces: {names: [prod, staging]}
selectors:
  - {role: endpoints, label: 'app in (web,api)'}
  - {role: service, field: metadata.name!=kubernetes}
  - {role: pod, label: tier=front, field: status.phase=Running}
",
    )
    .unwrap();
    let api = FakeApi::start().await;
    let empty = |kind: &str| core_list(kind, "1", &json!([]));
    for ns in ["prod", "staging"] {
        api.set_list(
            &format!("/api/v1/namespaces/{ns}/endpoints"),
            &empty("EndpointsList"),
        );
        api.set_list(
            &format!("/api/v1/namespaces/{ns}/services"),
            &empty("ServiceList"),
        );
        api.set_list(&format!("/api/v1/namespaces/{ns}/pods"), &empty("PodList"));
    }
    let mut stream = start(config, &api);
    let mut seen = Seen::default();
    seen.first(&mut stream).await;
    assert!(seen.groups.is_empty());
    api.wait_requests("six watches", |r| {
        r.iter().filter(|r| r.is_watch()).count() == 6
    })
    .await;

    let mut got: Vec<(String, bool, Option<String>, Option<String>)> = api
        .requests()
        .iter()
        .map(|r| {
            (
                r.path.clone(),
                r.is_watch(),
                r.param("labelSelector").map(str::to_owned),
                r.param("fieldSelector").map(str::to_owned),
            )
        })
        .collect();
    got.sort();
    let mut want = Vec::new();
    for ns in ["prod", "staging"] {
        for watch in [false, true] {
            want.push((
                format!("/api/v1/namespaces/{ns}/endpoints"),
                watch,
                Some("app in (web,api)".to_owned()),
                None,
            ));
            want.push((
                format!("/api/v1/namespaces/{ns}/pods"),
                watch,
                Some("tier=front".to_owned()),
                Some("status.phase=Running".to_owned()),
            ));
            want.push((
                format!("/api/v1/namespaces/{ns}/services"),
                watch,
                None,
                Some("metadata.name!=kubernetes".to_owned()),
            ));
        }
    }
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_sent_and_api_errors_reported_then_retried() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cr3t\n").unwrap();
    let mut config = KubernetesSdConfig::new(promlite_discovery::kubernetes::Role::Node, None);
    config.http.bearer_token_file = token.to_string_lossy().into_owned();
    let api = FakeApi::start().await;
    api.set_answer(
        "/api/v1/nodes",
        403,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "nodes is forbidden: User \"system:serviceaccount:monitoring:prometheus\" cannot list resource \"nodes\" in API group \"\" at the cluster scope",
               "reason": "Forbidden", "code": 403})
        .to_string(),
    );
    let mut stream = start(config, &api);
    let err = tokio::time::timeout(LIMIT, stream.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, Error::KubernetesApi { status: 403, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "kubernetes API request /api/v1/nodes failed: 403: nodes is forbidden: User \"system:serviceaccount:monitoring:prometheus\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
    );
    // Once permitted, the retry lists and watches with the token.
    api.set_list("/api/v1/nodes", &core_list("NodeList", "5", &json!([])));
    let mut seen = Seen::default();
    seen.until(&mut stream, |s| s.ok_updates > 0).await;
    let w = api.watch("/api/v1/nodes").await;
    assert_eq!(w.request.authorization.as_deref(), Some("Bearer s3cr3t"));
    assert!(
        api.requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer s3cr3t"))
    );
}

/// A kubeconfig's current context decides server and credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_file_names_server_and_credentials() {
    let api = FakeApi::start().await;
    api.set_list(
        "/api/v1/services",
        &core_list("ServiceList", "3", &json!([])),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "from-file").unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: dev\n\
             contexts: [{{name: dev, context: {{cluster: local, user: dev}}}}]\n\
             clusters: [{{name: local, cluster: {{server: '{}'}}}}]\n\
             users: [{{name: dev, user: {{tokenFile: token}}}}]\n",
            api.url
        ),
    )
    .unwrap();
    let mut config = KubernetesSdConfig::new(promlite_discovery::kubernetes::Role::Service, None);
    config.kubeconfig_file = kubeconfig.to_string_lossy().into_owned();
    let d = KubernetesDiscoverer::with_options(config, fast()).unwrap();
    let mut stream = UpdateStream::spawn(Box::new(d));
    let mut seen = Seen::default();
    seen.first(&mut stream).await;
    let w = api.watch("/api/v1/services").await;
    assert_eq!(w.request.authorization.as_deref(), Some("Bearer from-file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_metadata_adds_node_and_namespace_labels() {
    let api = FakeApi::start().await;
    api.set_list(
        "/api/v1/nodes",
        &core_list("NodeList", "10", &json!([
            {"metadata": {"name": "worker-1", "labels": {"topology.kubernetes.io/zone": "eu-1a"},
                          "annotations": {"node.alpha.kubernetes.io/ttl": "0"}}}
        ])),
    );
    api.set_list(
        "/api/v1/namespaces",
        &core_list("NamespaceList", "10", &json!([
            {"metadata": {"name": "default", "labels": {"team": "web", "kubernetes.io/metadata.name": "default"}}}
        ])),
    );
    let pods = core_list(
        "PodList",
        "10",
        &json!([
            {"metadata": {"name": "web-1", "namespace": "default"},
             "spec": {"nodeName": "worker-1", "containers": [{"name": "web", "ports": [{"containerPort": 8080}]}]},
             "status": {"phase": "Running", "podIP": "10.244.0.11"}},
            // On a node the node watch does not know (filtered by a node selector).
            {"metadata": {"name": "web-2", "namespace": "default"},
             "spec": {"nodeName": "worker-9", "containers": [{"name": "web", "ports": [{"containerPort": 8080}]}]},
             "status": {"phase": "Running", "podIP": "10.244.0.12"}}
        ]),
    );
    api.set_list("/api/v1/pods", &pods);
    let config: KubernetesSdConfig =
        serde_norway::from_str("role: pod\nattach_metadata: {node: true, namespace: true}")
            .unwrap();
    let mut stream = start(config, &api);
    let mut seen = Seen::default();
    seen.first(&mut stream).await;
    let g = &seen.groups["pod/default/web-1"];
    let labels = map(&g.labels);
    for (k, v) in [
        ("__meta_kubernetes_node_name", "worker-1"),
        (
            "__meta_kubernetes_node_label_topology_kubernetes_io_zone",
            "eu-1a",
        ),
        (
            "__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone",
            "true",
        ),
        (
            "__meta_kubernetes_node_annotation_node_alpha_kubernetes_io_ttl",
            "0",
        ),
        (
            "__meta_kubernetes_node_annotationpresent_node_alpha_kubernetes_io_ttl",
            "true",
        ),
        ("__meta_kubernetes_namespace", "default"),
        ("__meta_kubernetes_namespace_label_team", "web"),
        ("__meta_kubernetes_namespace_labelpresent_team", "true"),
        (
            "__meta_kubernetes_namespace_label_kubernetes_io_metadata_name",
            "default",
        ),
    ] {
        assert_eq!(
            labels.get(k).map(String::as_str),
            Some(v),
            "{k} in {labels:#?}"
        );
    }
    assert_eq!(seen.addresses("pod/default/web-2"), Some(vec![]));

    // A node's new label reaches the pods on it; a namespace's, the objects in it.
    let nodes = api.watch("/api/v1/nodes").await;
    nodes.send(&json!({"type": "MODIFIED", "object": {"kind": "Node", "apiVersion": "v1",
        "metadata": {"name": "worker-1", "resourceVersion": "11", "labels": {"topology.kubernetes.io/zone": "eu-1b"}}}}));
    nodes.send(
        &json!({"type": "ADDED", "object": {"kind": "Node", "apiVersion": "v1",
        "metadata": {"name": "worker-9", "resourceVersion": "12"}}}),
    );
    let namespaces = api.watch("/api/v1/namespaces").await;
    namespaces.send(
        &json!({"type": "MODIFIED", "object": {"kind": "Namespace", "apiVersion": "v1",
        "metadata": {"name": "default", "resourceVersion": "13", "labels": {"team": "platform"}}}}),
    );
    seen.until(&mut stream, |s| {
        let l = &s.groups["pod/default/web-1"].labels;
        l.get("__meta_kubernetes_node_label_topology_kubernetes_io_zone") == Some("eu-1b")
            && l.get("__meta_kubernetes_namespace_label_team") == Some("platform")
            && s.addresses("pod/default/web-2") == Some(vec!["10.244.0.12:8080".to_owned()])
    })
    .await;
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_metadata_names_deployments_jobs_and_cronjobs() {
    let api = FakeApi::start().await;
    let owned = |name: &str, kind: &str, owner: &str| {
        json!({"name": name, "namespace": "default",
               "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": owner, "uid": "u", "controller": true}]})
    };
    let pod = |meta: serde_json::Value, ip: &str| {
        json!({"metadata": meta, "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
               "status": {"phase": "Running", "podIP": ip}})
    };
    api.set_list(
        "/api/v1/namespaces/default/pods",
        &core_list(
            "PodList",
            "1",
            &json!([
                pod(
                    owned("web-5d9f-abcde", "ReplicaSet", "web-5d9f"),
                    "10.0.0.1"
                ),
                pod(owned("backup-29000-xyz", "Job", "backup-29000"), "10.0.0.2"),
                pod(json!({"name": "bare", "namespace": "default"}), "10.0.0.3")
            ]),
        ),
    );
    api.set_list(
        "/apis/apps/v1/namespaces/default/replicasets",
        &json!({"kind": "ReplicaSetList", "apiVersion": "apps/v1", "metadata": {"resourceVersion": "1"},
                "items": [{"metadata": owned("web-5d9f", "Deployment", "web")}]}),
    );
    api.set_list(
        "/apis/batch/v1/namespaces/default/jobs",
        &json!({"kind": "JobList", "apiVersion": "batch/v1", "metadata": {"resourceVersion": "1"},
                "items": [{"metadata": owned("backup-29000", "CronJob", "backup")}]}),
    );
    let config: KubernetesSdConfig = serde_norway::from_str(
        "role: pod\nnamespaces: {names: [default]}\nattach_metadata: {deployment: true, job: true, cronjob: true}",
    )
    .unwrap();
    let mut stream = start(config, &api);
    let mut seen = Seen::default();
    seen.first(&mut stream).await;
    let label = |source: &str, name: &str| {
        seen.groups[source]
            .labels
            .get(&format!("__meta_kubernetes_pod_{name}"))
            .map(str::to_owned)
    };
    assert_eq!(
        label("pod/default/web-5d9f-abcde", "deployment_name").as_deref(),
        Some("web")
    );
    assert_eq!(
        label("pod/default/backup-29000-xyz", "job_name").as_deref(),
        Some("backup-29000")
    );
    assert_eq!(
        label("pod/default/backup-29000-xyz", "cronjob_name").as_deref(),
        Some("backup")
    );
    for name in ["deployment_name", "job_name", "cronjob_name"] {
        assert_eq!(label("pod/default/bare", name), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_node_metadata_on_endpoint_targets() {
    let api = FakeApi::start().await;
    api.set_list(
        "/api/v1/nodes",
        &core_list(
            "NodeList",
            "1",
            &json!([
                {"metadata": {"name": "worker-1", "labels": {"zone": "a"}}},
                {"metadata": {"name": "worker-2", "labels": {"zone": "b"}}}
            ]),
        ),
    );
    api.set_list(
        "/api/v1/endpoints",
        &core_list(
            "EndpointsList",
            "1",
            &json!([
                {"metadata": {"name": "kubelet", "namespace": "kube-system"},
                 "subsets": [{"addresses": [
                    {"ip": "10.0.0.1", "nodeName": "worker-1"},
                    {"ip": "10.0.0.2", "targetRef": {"kind": "Node", "name": "worker-2"}},
                    {"ip": "10.0.0.3"}
                 ], "ports": [{"name": "https-metrics", "port": 10250, "protocol": "TCP"}]}]}
            ]),
        ),
    );
    api.set_list(
        "/api/v1/services",
        &core_list("ServiceList", "1", &json!([])),
    );
    api.set_list("/api/v1/pods", &core_list("PodList", "1", &json!([])));
    let config: KubernetesSdConfig =
        serde_norway::from_str("role: endpoints\nattach_metadata: {node: true}").unwrap();
    let mut stream = start(config, &api);
    let mut seen = Seen::default();
    seen.first(&mut stream).await;
    let zones: Vec<Option<String>> = seen.groups["endpoints/kube-system/kubelet"]
        .targets
        .iter()
        .map(|t| {
            t.get("__meta_kubernetes_node_label_zone")
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(zones, [Some("a".to_owned()), Some("b".to_owned()), None]);
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndToEnd {
    prometheus: PrometheusResource,
    service_monitor: ServiceMonitor,
    lists: BTreeMap<String, serde_json::Value>,
    want: Vec<LabelMap>,
}

/// The fields of a `Prometheus` resource that choose ServiceMonitors.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrometheusResource {
    namespace: String,
    service_monitor_selector: Option<LabelSelector>,
    service_monitor_namespace_selector: Option<LabelSelector>,
}

/// The tutorial's ServiceMonitor, selected by the stack's Prometheus for its
/// `release` label and translated as the Operator does, run through the
/// configuration path (`SdConfig::discoverer`) against the API server's objects, with
/// the generated relabel rules applied: the targets carry the labels Prometheus shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_monitor_end_to_end_over_a_watched_cluster() {
    let case: EndToEnd = serde_norway::from_str(&fixture("e2e_watch.yaml")).unwrap();
    let selection = MonitorSelection {
        selector: case.prometheus.service_monitor_selector.clone(),
        namespace_selector: case.prometheus.service_monitor_namespace_selector.clone(),
    };
    let selected =
        |m: &ServiceMonitor| selection.selects(&m.metadata, &case.prometheus.namespace, |_| None);
    assert!(selected(&case.service_monitor));
    // The same monitor without the release label is not picked up: no job, no target.
    let mut unlabeled = case.service_monitor.clone();
    unlabeled.metadata.labels = None;
    assert!(!selected(&unlabeled));
    for role in ["Endpoints", "EndpointSlice"] {
        let api = FakeApi::start().await;
        for (path, list) in &case.lists {
            api.set_list(path, list);
        }
        let mut monitor = case.service_monitor.clone();
        monitor.spec.service_discovery_role = Some(role.to_owned());
        let jobs = service_monitor_jobs(&monitor, &OperatorOptions::default()).unwrap();
        assert_eq!(jobs.len(), 1);
        let job = &jobs[0];
        assert_eq!(job.job_name, "serviceMonitor/default/sample-app-monitor/0");
        assert_eq!(job.kubernetes_sd_config.namespaces.names, ["default"]);

        let mut sd = job.kubernetes_sd_config.clone();
        sd.api_server = Some(api.url.clone());
        let mut stream = UpdateStream::spawn(SdConfig::Kubernetes(sd).discoverer().unwrap());
        let mut seen = Seen::default();
        seen.first(&mut stream).await;
        let mut got: Vec<LabelMap> = seen
            .groups
            .values()
            .flat_map(|g| {
                g.targets
                    .iter()
                    .filter_map(|t| scrape_target(job, &g.labels, t))
            })
            .collect();
        got.sort();
        assert_eq!(got, case.want, "{role}");
        // Both services' objects were discovered; the monitor's rules kept one.
        assert_eq!(seen.groups.len(), 2, "{role}");
    }
}

/// `kubernetes_sd_configs` as a scrape job writes them, run by the manager: the job's
/// target set follows the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_runs_kubernetes_sd_configs_from_yaml() {
    let api = FakeApi::start().await;
    let path = "/api/v1/namespaces/default/services";
    let svc = json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "5"},
                     "spec": {"ports": [{"name": "http", "port": 80}]}});
    api.set_list(path, &core_list("ServiceList", "5", &json!([svc])));
    let job: ServiceDiscoveryConfigs = serde_norway::from_str(&format!(
        "kubernetes_sd_configs:\n  - role: service\n    api_server: {}\n    namespaces: {{names: [default]}}\n",
        api.url
    ))
    .unwrap();
    let mut manager = Manager::new(ManagerOptions {
        update_interval: Duration::from_millis(50),
        initial_delay: Duration::from_millis(5),
        dns_nameservers: None,
    });
    let mut sets = manager.subscribe();
    manager
        .apply_config(HashMap::from([("k8s".to_owned(), job.to_sd_configs())]))
        .unwrap();
    wait_addresses(&mut sets, "k8s", &["web.default.svc:80"]).await;
    let w = api.watch(path).await;
    w.send(
        &json!({"type": "DELETED", "object": {"kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "6"}}}),
    );
    wait_addresses(&mut sets, "k8s", &[]).await;
}

/// Waits until the manager publishes exactly these addresses for `job`.
async fn wait_addresses(
    sets: &mut tokio::sync::watch::Receiver<std::sync::Arc<TargetSets>>,
    job: &str,
    want: &[&str],
) {
    let addresses = |sets: &TargetSets| -> Vec<String> {
        sets.get(job)
            .into_iter()
            .flatten()
            .flat_map(|g| g.targets.iter())
            .filter_map(|t| t.get("__address__").map(str::to_owned))
            .collect()
    };
    tokio::time::timeout(LIMIT, async {
        loop {
            if addresses(&sets.borrow_and_update()) == want {
                return;
            }
            sets.changed().await.unwrap();
        }
    })
    .await
    .expect("target sets did not follow the cluster");
}
