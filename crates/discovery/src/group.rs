//! [`TargetGroup`], what every discoverer emits, and [`TargetGroupSpec`], its YAML and
//! JSON form (one entry of `static_configs`, of a `file_sd_configs` file or of an HTTP SD
//! response).

use std::collections::BTreeMap;

use promlite_model::{Labels, LabelsBuilder, ValidationScheme, is_valid_label_name};
use serde::{Deserialize, Deserializer, Serialize};

use crate::Error;

/// The label that holds a target's address.
pub const ADDRESS_LABEL: &str = "__address__";

/// A set of targets sharing labels, identified by its source: Prometheus's
/// `targetgroup.Group`.
///
/// A discoverer names each group it emits with a `source` unique within that
/// discoverer (`"0"`, `"/etc/sd/db.json:2"`, `"_http._tcp.example.com"`). A later group
/// with the same source replaces the earlier one; a group with no targets withdraws it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetGroup {
    /// Identifies the group within its discoverer.
    pub source: String,
    /// One label set per target; each holds at least [`ADDRESS_LABEL`] in practice.
    pub targets: Vec<Labels>,
    /// Labels common to all targets. A target's own label of the same name wins.
    pub labels: Labels,
}

impl TargetGroup {
    /// An empty group: sent under a source to withdraw what it held.
    pub fn empty(source: impl Into<String>) -> TargetGroup {
        TargetGroup {
            source: source.into(),
            ..TargetGroup::default()
        }
    }
}

/// A target group as written in configuration and in SD documents: a list of addresses
/// and labels for all of them.
///
/// ```yaml
/// - targets: ["db1:9100", "db2:9100"]
///   labels: {env: prod}
/// ```
///
/// Unknown fields are rejected and label names are checked, as Prometheus's strict
/// decoders do.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupSpec {
    /// Target addresses, each becoming a target with only [`ADDRESS_LABEL`].
    #[serde(default, deserialize_with = "null_as_default")]
    pub targets: Vec<String>,
    /// Labels common to all targets.
    #[serde(
        default,
        deserialize_with = "label_set",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
}

impl TargetGroupSpec {
    /// The group this spec describes, under `source`.
    pub fn to_group(&self, source: impl Into<String>) -> TargetGroup {
        let mut b = LabelsBuilder::new();
        let targets = self
            .targets
            .iter()
            .map(|t| {
                b.reset(&Labels::empty());
                b.set(ADDRESS_LABEL, t);
                b.build()
            })
            .collect();
        TargetGroup {
            source: source.into(),
            targets,
            labels: Labels::from_pairs(&self.labels),
        }
    }
}

/// A present-but-null field takes its zero value, as Go's decoders set it.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Prometheus's `model.LabelSet` decoding: any non-empty UTF-8 name (Prometheus 3's
/// default validation scheme), any value.
fn label_set<'de, D>(d: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    let map: BTreeMap<String, String> = null_as_default(d)?;
    if let Some(bad) = map
        .keys()
        .find(|k| !is_valid_label_name(k, ValidationScheme::Utf8))
    {
        return Err(serde::de::Error::custom(Error::InvalidLabelName(
            bad.clone(),
        )));
    }
    Ok(map)
}

/// The two document formats of SD files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of target groups.
    Json,
    /// A YAML sequence of target groups.
    Yaml,
}

/// Parses a document holding a list of target groups, as Prometheus's file and HTTP SD
/// read them: strictly (unknown fields fail), a `null` entry fails, and a `null` or
/// empty document is an empty list.
pub fn parse_target_groups(content: &[u8], format: Format) -> Result<Vec<TargetGroupSpec>, Error> {
    let list: Option<Vec<Option<TargetGroupSpec>>> = match format {
        Format::Json => serde_json::from_slice(content)?,
        Format::Yaml => {
            // An empty YAML document decodes to nothing in Go; serde's YAML reader
            // calls it an error for a sequence, so it is answered here.
            if content.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                serde_norway::from_slice(content)?
            }
        }
    };
    list.unwrap_or_default()
        .into_iter()
        .map(|g| g.ok_or(Error::NilTargetGroup))
        .collect()
}

/// Turns parsed specs into groups sourced `"{prefix}:{index}"`, each labelled with
/// `meta_label = prefix` (`__meta_filepath` for files, `__meta_url` for HTTP SD).
pub(crate) fn indexed_groups(
    specs: &[TargetGroupSpec],
    prefix: &str,
    meta_label: &str,
) -> Vec<TargetGroup> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let mut g = spec.to_group(indexed_source(prefix, i));
            let mut b = g.labels.to_builder();
            b.set(meta_label, prefix);
            g.labels = b.build();
            g
        })
        .collect()
}

/// The source of the `i`-th group of a file or URL.
pub(crate) fn indexed_source(prefix: &str, i: usize) -> String {
    format!("{prefix}:{i}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::type_complexity)] // A table of cases reads best inline.
    fn parse_table() {
        // (format, document, Ok(groups as "targets|labels") or Err(message))
        let cases: &[(Format, &str, Result<&[&str], &str>)] = &[
            (Format::Json, "[]", Ok(&[])),
            (Format::Json, "null", Ok(&[])),
            (
                Format::Json,
                r#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}]"#,
                Ok(&[r#"[{__address__="a:1"}, {__address__="b:2"}]|{env="prod"}"#]),
            ),
            (
                Format::Json,
                r#"[{"targets": null, "labels": null}]"#,
                Ok(&["[]|{}"]),
            ),
            (Format::Json, "[null]", Err("nil target group item found")),
            (
                Format::Json,
                r#"[{"targets": [], "extra": 1}]"#,
                Err("unknown field `extra`, expected `targets` or `labels` at line 1 column 24"),
            ),
            (
                Format::Json,
                r#"[{"targets": [], "labels": {"": "x"}}]"#,
                Err("\"\" is not a valid label name at line 1 column 37"),
            ),
            (Format::Yaml, "", Ok(&[])),
            (Format::Yaml, "\n  \n", Ok(&[])),
            (
                Format::Yaml,
                "- targets: ['h:9']\n  labels:\n    a: b\n- targets: []\n",
                Ok(&[r#"[{__address__="h:9"}]|{a="b"}"#, "[]|{}"]),
            ),
            (Format::Yaml, "- null\n", Err("nil target group item found")),
        ];
        for (format, doc, want) in cases {
            let got = parse_target_groups(doc.as_bytes(), *format).map(|specs| {
                specs
                    .iter()
                    .map(|s| {
                        let g = s.to_group("x");
                        let targets: Vec<String> =
                            g.targets.iter().map(ToString::to_string).collect();
                        format!("[{}]|{}", targets.join(", "), g.labels)
                    })
                    .collect::<Vec<_>>()
            });
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, *w, "{doc}"),
                (Err(e), Err(w)) => assert_eq!(e.to_string(), *w, "{doc}"),
                (got, want) => panic!("{doc}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn indexed_groups_carry_source_and_meta_label() {
        let specs = parse_target_groups(
            br#"[{"targets": ["a:1"]}, {"targets": ["b:1"]}]"#,
            Format::Json,
        )
        .unwrap();
        let groups = indexed_groups(&specs, "/sd/x.json", "__meta_filepath");
        assert_eq!(groups[1].source, "/sd/x.json:1");
        assert_eq!(groups[1].labels.get("__meta_filepath"), Some("/sd/x.json"));
    }
}
