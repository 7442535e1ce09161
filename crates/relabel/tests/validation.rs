//! Validation errors, table-driven from `data/validation.yaml`, with Prometheus's exact
//! messages; and the YAML round trip of rules.

use promlite_model::ValidationScheme;
use promlite_relabel::{Action, Error, RelabelConfig, RelabelConfigSpec};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    rule: serde_norway::Value,
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    parse_error: Option<String>,
}

#[test]
fn validation_table() {
    let cases: Vec<Case> = serde_norway::from_str(include_str!("data/validation.yaml"))
        .expect("validation.yaml parses");
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let yaml = serde_norway::to_string(&case.rule).unwrap();
        let scheme = match case.scheme.as_deref() {
            Some("legacy") => ValidationScheme::Legacy,
            _ => ValidationScheme::Utf8,
        };
        let parsed: Result<RelabelConfigSpec, _> = serde_norway::from_str(&yaml);
        let got = match (parsed, &case.parse_error) {
            (Err(e), Some(want)) if e.to_string().contains(want.as_str()) => continue,
            (Err(e), _) => format!("parse error: {e}"),
            (Ok(_), Some(want)) => format!("parsed, but expected parse error {want:?}"),
            (Ok(spec), None) => match spec.build(scheme) {
                Ok(_) if case.error.is_none() => continue,
                Ok(_) => "valid".to_owned(),
                Err(e) if Some(e.to_string()) == case.error => continue,
                Err(e) => e.to_string(),
            },
        };
        failures.push(format!(
            "rule {yaml}  scheme {scheme:?}\n  expected: {}\n  actual:   {got}",
            case.error
                .as_deref()
                .or(case.parse_error.as_deref())
                .unwrap_or("valid")
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_are_matchable_variants() {
    let spec = RelabelConfigSpec {
        target_label: "x.y".into(),
        ..RelabelConfigSpec::new(Action::Replace)
    };
    let err = spec.clone().build(ValidationScheme::Legacy).unwrap_err();
    assert_eq!(
        err,
        Error::InvalidTargetLabel {
            target_label: "x.y".into(),
            action: Action::Replace
        }
    );
    // The same rule is fine under UTF-8, and re-validating tightens it.
    let ok = spec.build(ValidationScheme::Utf8).unwrap();
    assert!(ok.with_validation_scheme(ValidationScheme::Legacy).is_err());
}

#[test]
fn deserializing_a_config_validates_under_utf8() {
    let err = serde_norway::from_str::<RelabelConfig>("source_labels: [a]\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("relabel configuration for replace action requires 'target_label' value"),
        "{err}"
    );
    let ok: RelabelConfig =
        serde_norway::from_str("source_labels: [a]\ntarget_label: utf-8.name\n").unwrap();
    assert_eq!(ok.validation_scheme(), ValidationScheme::Utf8);
    assert_eq!(ok.target_label(), "utf-8.name");
    assert_eq!(ok.separator(), ";");
    assert_eq!(ok.regex().as_str(), "(.*)");
    assert_eq!(ok.replacement(), "$1");
}

#[test]
fn defaults_match_prometheus() {
    let spec: RelabelConfigSpec = serde_norway::from_str("{}").unwrap();
    assert_eq!(spec, RelabelConfigSpec::default());
    assert_eq!(spec.separator, ";");
    assert_eq!(spec.replacement, "$1");
    assert_eq!(spec.action, Action::Replace);
    assert_eq!(spec.regex, None);
    // Go's YAML decoder reads a scalar of any type into a string field.
    let spec: RelabelConfigSpec =
        serde_norway::from_str("target_label: t\nreplacement: 1\n").unwrap();
    assert_eq!(spec.replacement, "1");
}

/// Prometheus's marshaller writes `separator` and `replacement` always, the rest only when
/// set, and tells an explicit regex (even `(.*)` or `""`) from the default. These
/// documents are Prometheus's own round-trip expectations, in its field order.
#[test]
fn yaml_round_trip_is_prometheus_shaped() {
    let docs = [
        "source_labels:\n- __meta_kubernetes_pod_annotation_prometheus_io_port\nseparator: ;\nregex: \\d+\ntarget_label: __meta_kubernetes_pod_container_port_number\nreplacement: $1\naction: replace\n",
        "source_labels:\n- __meta_kubernetes_pod_annotation_prometheus_io_port\nseparator: ;\ntarget_label: __meta_kubernetes_pod_container_port_number\nreplacement: $1\naction: keepequal\n",
        "source_labels:\n- __meta_kubernetes_pod_annotation_prometheus_io_port\nseparator: ;\nregex: (.*)\ntarget_label: __meta_kubernetes_pod_container_port_number\nreplacement: $1\naction: replace\n",
        "source_labels:\n- namespace\n- k8s_app\nseparator: ''\nregex: ''\ntarget_label: target_cluster\nreplacement: ''\naction: replace\n",
        "separator: ;\nregex: foo\nmodulus: 3\ntarget_label: t\nreplacement: $1\naction: hashmod\n",
    ];
    for doc in docs {
        let cfg: RelabelConfig = serde_norway::from_str(doc).unwrap();
        assert_eq!(serde_norway::to_string(&cfg).unwrap(), doc);
    }
}

#[test]
fn json_round_trip() {
    for doc in [
        r#"{"separator":"","regex":"","replacement":"","action":"keep"}"#,
        r#"{"source_labels":["a"],"separator":";","regex":".*foo.*","replacement":"$1","action":"drop"}"#,
    ] {
        let spec: RelabelConfigSpec = serde_json::from_str(doc).unwrap();
        assert_eq!(serde_json::to_string(&spec).unwrap(), doc);
    }
}

#[test]
fn prometheus_config_snippet_loads_unchanged() {
    let yaml = r#"
- source_labels: [job, __meta_dns_name]
  regex: "(.*)some-[regex]"
  target_label: job
  replacement: foo-${1}
  # action defaults to 'replace'
- source_labels: [abc]
  target_label: cde
- replacement: static
  target_label: abc
- regex:
  replacement: static
  target_label: abc
- source_labels: [foo]
  target_label: abc
  action: keepequal
- source_labels: [__address__]
  modulus: 8
  target_label: __tmp_hash
  action: hashmod
- regex: __meta_kubernetes_pod_label_(.+)
  action: labelmap
- regex: "__tmp.*"
  action: LabelDrop
"#;
    let rules: Vec<RelabelConfig> = serde_norway::from_str(yaml).unwrap();
    assert_eq!(rules.len(), 8);
    assert_eq!(rules[3].regex().as_str(), "");
    assert_eq!(rules[7].action(), Action::LabelDrop);
}
