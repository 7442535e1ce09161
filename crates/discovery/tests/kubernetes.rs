//! Kubernetes SD translations and Prometheus Operator monitors, checked against the
//! fixtures in `tests/kubernetes/`: each role's target groups, each monitor's generated
//! scrape jobs, and the two together as Prometheus runs them.
#![cfg(feature = "kubernetes")]

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use promlite_discovery::kubernetes::operator::{
    OperatorOptions, PodMonitor, ScrapeJob, ServiceMonitor, pod_monitor_jobs, service_monitor_jobs,
};
use promlite_discovery::kubernetes::{
    KubernetesSdConfig, Objects, endpoint_slice_group, endpoints_group, ingress_group, pod_group,
};
use promlite_discovery::{PromDuration, TargetGroup};
use promlite_relabel::RelabelConfigSpec;
use serde::Deserialize;
use serde::de::DeserializeOwned;

#[path = "kubernetes/common.rs"]
mod common;

use common::{LabelMap, fixture, map, scrape_target};

#[derive(Deserialize)]
struct GroupCase<T> {
    name: String,
    #[serde(default)]
    services: Vec<Service>,
    #[serde(default)]
    pods: Vec<Pod>,
    object: T,
    want: WantGroup,
}

#[derive(Debug, PartialEq, Deserialize)]
struct WantGroup {
    source: String,
    labels: LabelMap,
    targets: Vec<LabelMap>,
}

fn objects(services: Vec<Service>, pods: Vec<Pod>) -> Objects {
    let mut o = Objects::default();
    for s in services {
        o.add_service(s);
    }
    for p in pods {
        o.add_pod(p);
    }
    o
}

/// Runs every case of a role's fixture file through its translation.
fn check_groups<T: DeserializeOwned>(file: &str, translate: impl Fn(&T, &Objects) -> TargetGroup) {
    let cases: Vec<GroupCase<T>> = serde_json::from_str(&fixture(file)).unwrap();
    for case in cases {
        let store = objects(case.services, case.pods);
        let g = translate(&case.object, &store);
        let got = WantGroup {
            source: g.source,
            labels: map(&g.labels),
            targets: g.targets.iter().map(map).collect(),
        };
        assert_eq!(got, case.want, "{file}: {}", case.name);
    }
}

#[test]
fn pod_role() {
    check_groups::<Pod>("pod.json", |p, _| pod_group(p));
}

#[test]
fn endpoints_role() {
    check_groups::<Endpoints>("endpoints.json", endpoints_group);
}

#[test]
fn endpointslice_role() {
    check_groups::<EndpointSlice>("endpointslice.json", endpoint_slice_group);
}

#[test]
fn ingress_role() {
    check_groups::<Ingress>("ingress.json", |i, _| ingress_group(i));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MonitorCase {
    name: String,
    service_monitor: Option<ServiceMonitor>,
    pod_monitor: Option<PodMonitor>,
    want: Vec<WantJob>,
}

/// The fields of a generated job, in `prometheus.yml` spelling.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct WantJob {
    job_name: String,
    #[serde(default)]
    honor_labels: bool,
    scrape_interval: Option<PromDuration>,
    scrape_timeout: Option<PromDuration>,
    metrics_path: Option<String>,
    scheme: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, Vec<String>>,
    sample_limit: Option<u64>,
    kubernetes_sd_config: KubernetesSdConfig,
    relabel_configs: Vec<RelabelConfigSpec>,
    #[serde(default)]
    metric_relabel_configs: Vec<RelabelConfigSpec>,
}

impl From<&ScrapeJob> for WantJob {
    fn from(j: &ScrapeJob) -> Self {
        WantJob {
            job_name: j.job_name.clone(),
            honor_labels: j.honor_labels,
            scrape_interval: j.scrape_interval,
            scrape_timeout: j.scrape_timeout,
            metrics_path: j.metrics_path.clone(),
            scheme: j.scheme.clone(),
            params: j.params.clone(),
            sample_limit: j.limits.sample_limit,
            kubernetes_sd_config: j.kubernetes_sd_config.clone(),
            relabel_configs: j.relabel_configs.iter().map(|r| r.spec().clone()).collect(),
            metric_relabel_configs: j
                .metric_relabel_configs
                .iter()
                .map(|r| r.spec().clone())
                .collect(),
        }
    }
}

fn jobs(sm: Option<&ServiceMonitor>, pm: Option<&PodMonitor>) -> Vec<ScrapeJob> {
    let opts = OperatorOptions::default();
    match (sm, pm) {
        (Some(m), None) => service_monitor_jobs(m, &opts).unwrap(),
        (None, Some(m)) => pod_monitor_jobs(m, &opts).unwrap(),
        _ => panic!("a case holds exactly one monitor"),
    }
}

#[test]
fn operator_generated_jobs() {
    let cases: Vec<MonitorCase> = serde_norway::from_str(&fixture("operator.yaml")).unwrap();
    for case in cases {
        let got: Vec<WantJob> = jobs(case.service_monitor.as_ref(), case.pod_monitor.as_ref())
            .iter()
            .map(WantJob::from)
            .collect();
        assert_eq!(got.len(), case.want.len(), "{}", case.name);
        for (g, w) in got.iter().zip(&case.want) {
            assert_eq!(
                g.kubernetes_sd_config, w.kubernetes_sd_config,
                "{}",
                case.name
            );
            for (i, (gr, wr)) in g.relabel_configs.iter().zip(&w.relabel_configs).enumerate() {
                assert_eq!(gr, wr, "{}: {} rule {i}", case.name, g.job_name);
            }
            assert_eq!(g, w, "{}", case.name);
        }
    }
}

/// An invalid user regex is the monitor's error, naming the job.
#[test]
fn operator_rejects_invalid_relabeling() {
    let m: ServiceMonitor = serde_norway::from_str(
        "metadata: {name: m, namespace: n}\nspec:\n  endpoints: [{port: web, relabelings: [{regex: '(', sourceLabels: [a]}]}]",
    )
    .unwrap();
    let err = service_monitor_jobs(&m, &OperatorOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("serviceMonitor/n/m/0: invalid relabeling"),
        "{err}"
    );
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndToEnd {
    service_monitor: ServiceMonitor,
    services: Vec<Service>,
    pods: Vec<Pod>,
    endpoints: Endpoints,
    want: BTreeMap<String, Vec<LabelMap>>,
}

#[test]
fn service_monitor_over_endpoints_end_to_end() {
    let case: EndToEnd = serde_norway::from_str(&fixture("e2e.yaml")).unwrap();
    let store = objects(case.services, case.pods);
    let group = endpoints_group(&case.endpoints, &store);
    let jobs = service_monitor_jobs(&case.service_monitor, &OperatorOptions::default()).unwrap();
    let got: BTreeMap<String, Vec<LabelMap>> = jobs
        .iter()
        .map(|job| {
            let targets = group
                .targets
                .iter()
                .filter_map(|t| scrape_target(job, &group.labels, t))
                .collect();
            (job.job_name.clone(), targets)
        })
        .collect();
    assert_eq!(got, case.want);
}

/// Prometheus's own `kubernetes_*` configuration test files: the good ones load, the
/// bad ones fail with the message Prometheus's `config_test.go` expects.
#[test]
fn prometheus_kubernetes_config_files() {
    #[derive(Deserialize)]
    struct File {
        scrape_configs: Vec<Job>,
    }
    #[derive(Deserialize)]
    struct Job {
        kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    }
    let expected: &[(&str, &str)] = &[
        (
            "kubernetes_http_config_without_api_server",
            "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
        ),
        (
            "kubernetes_kubeconfig_with_own_namespace",
            "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
        ),
        (
            "kubernetes_api_server_with_own_namespace",
            "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
        ),
        (
            "kubernetes_kubeconfig_with_apiserver",
            "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
        ),
        (
            "kubernetes_kubeconfig_with_http_config",
            "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
        ),
        (
            "kubernetes_bearertoken",
            "at most one of bearer_token & bearer_token_file must be configured",
        ),
        ("kubernetes_role", "role"),
        (
            "kubernetes_selectors_endpoints",
            "endpoints role supports only pod, service, endpoints selectors",
        ),
        (
            "kubernetes_selectors_ingress",
            "ingress role supports only ingress selectors",
        ),
        (
            "kubernetes_selectors_node",
            "node role supports only node selectors",
        ),
        (
            "kubernetes_selectors_pod",
            "pod role supports only pod, node selectors",
        ),
        (
            "kubernetes_selectors_service",
            "service role supports only service selectors",
        ),
        // Go names the unknown field; serde's message says the same in its words.
        ("kubernetes_namespace_discovery", "unknown field `foo`"),
        (
            "kubernetes_selectors_duplicated_role",
            "duplicated selector role: pod",
        ),
        (
            "kubernetes_selectors_incorrect_selector",
            "invalid selector: 'metadata.status-Running'; can't understand 'metadata.status-Running'",
        ),
        (
            "kubernetes_bearertoken_basicauth",
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ),
        (
            "kubernetes_authorization_basicauth",
            "at most one of basic_auth, oauth2 & authorization must be configured",
        ),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/config");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        assert!(std::env::var("CI").is_err(), "conformance corpus missing");
        eprintln!("skipping: no conformance corpus");
        return;
    };
    let mut checked = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("kubernetes_") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let got = serde_norway::from_str::<File>(&text).map(|f| {
            f.scrape_configs
                .iter()
                .map(|j| j.kubernetes_sd_configs.len())
                .sum::<usize>()
        });
        if let Some(stem) = name.strip_suffix(".good.yml") {
            assert!(matches!(got, Ok(n) if n > 0), "{stem}: {got:?}");
        } else if let Some(stem) = name.strip_suffix(".bad.yml") {
            let want = expected
                .iter()
                .find(|(f, _)| *f == stem)
                .unwrap_or_else(|| panic!("{stem}: no expected message"))
                .1;
            let err = got.expect_err(stem).to_string();
            assert!(err.contains(want), "{stem}: {err}");
        }
        checked += 1;
    }
    assert_eq!(checked, 24);
}
