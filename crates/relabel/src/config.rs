//! Relabel rules: [`RelabelConfigSpec`], the YAML form, and [`RelabelConfig`], a rule
//! checked by Prometheus's validation and ready to run.

use std::sync::LazyLock;

use promlite_model::{ValidationScheme, is_valid_label_name};
use serde::{Deserialize, Deserializer, Serialize};

use crate::pattern::DEFAULT_REGEX;
use crate::{Action, Error, Regex};

/// The default `separator`.
pub const DEFAULT_SEPARATOR: &str = ";";
/// The default `replacement`.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// A relabel rule as written in YAML: one entry of `relabel_configs`,
/// `metric_relabel_configs`, `alert_relabel_configs` or `write_relabel_configs`.
///
/// Every field takes Prometheus's default when absent. A field that is present but null
/// takes Go's zero value, as Prometheus's YAML decoder gives it: `separator:` is the
/// empty separator, `regex:` the empty pattern (matching only the empty string). Two
/// fields are options because Prometheus tells "absent" from "given": `regex` (a
/// `keepequal` rule may not set it, not even to `(.*)`) and `source_labels` (a
/// `labeldrop` rule may not set it, not even to `[]`).
///
/// Serialising writes what Prometheus's marshaller writes: `separator` and
/// `replacement` always, the other fields only when set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfigSpec {
    /// Labels whose values are joined with `separator` to form the input.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub source_labels: Option<Vec<String>>,
    /// Placed between the source values.
    #[serde(default = "default_separator", deserialize_with = "null_as_default")]
    pub separator: String,
    /// Matched against the joined input; `None` is the default `(.*)`.
    #[serde(
        default,
        deserialize_with = "regex_or_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub regex: Option<Regex>,
    /// The modulus of `hashmod`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_zero"
    )]
    pub modulus: u64,
    /// The label written by `replace`, `hashmod`, `lowercase`, `uppercase`, or compared by
    /// `keepequal`/`dropequal`. For `replace` it may hold `$1`-style references.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub target_label: String,
    /// The template written by `replace` and the name template of `labelmap`.
    #[serde(default = "default_replacement", deserialize_with = "null_as_default")]
    pub replacement: String,
    /// What the rule does.
    #[serde(default, deserialize_with = "action_not_null")]
    pub action: Action,
}

impl Default for RelabelConfigSpec {
    /// Prometheus's `DefaultRelabelConfig`: `replace`, separator `;`, regex `(.*)`,
    /// replacement `$1`, and nothing else.
    fn default() -> Self {
        RelabelConfigSpec {
            source_labels: None,
            separator: default_separator(),
            regex: None,
            modulus: 0,
            target_label: String::new(),
            replacement: default_replacement(),
            action: Action::Replace,
        }
    }
}

impl RelabelConfigSpec {
    /// A rule of `action` with every other field at its default.
    pub fn new(action: Action) -> Self {
        RelabelConfigSpec {
            action,
            ..RelabelConfigSpec::default()
        }
    }

    /// Validates the rule under `scheme`; see [`RelabelConfig::new`].
    pub fn build(self, scheme: ValidationScheme) -> Result<RelabelConfig, Error> {
        RelabelConfig::new(self, scheme)
    }
}

fn default_separator() -> String {
    DEFAULT_SEPARATOR.to_owned()
}

fn default_replacement() -> String {
    DEFAULT_REPLACEMENT.to_owned()
}

#[allow(clippy::ref_option)] // serde's `skip_serializing_if` passes a reference to the field.
fn is_none_or_empty(v: &Option<Vec<String>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference.
fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// A present-but-null field takes the type's zero value, as Go's YAML decoder sets it.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `regex:` (null) is the empty pattern in Prometheus; an absent `regex` is `None`.
#[allow(clippy::unnecessary_wraps)] // serde's `deserialize_with` must return the field's type.
fn regex_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Regex>, D::Error> {
    match Option::<Regex>::deserialize(d)? {
        Some(re) => Ok(Some(re)),
        None => Regex::new("").map(Some).map_err(serde::de::Error::custom),
    }
}

/// `action:` (null) is Go's empty action, which validation rejects.
fn action_not_null<'de, D: Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
    Option::<Action>::deserialize(d)?.ok_or_else(|| serde::de::Error::custom(Error::EmptyAction))
}

/// Target labels with `$` references that the legacy scheme accepts: Prometheus's
/// `relabelTargetLegacy`, with Go's ASCII `\w` spelled out.
static LEGACY_TARGET: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$")
        .expect("the legacy target pattern compiles")
});

/// Whether `s`, which holds `$` references, can name a label once expanded.
fn is_valid_template_name(s: &str, scheme: ValidationScheme) -> bool {
    match scheme {
        ValidationScheme::Utf8 => is_valid_label_name(s, scheme),
        ValidationScheme::Legacy => LEGACY_TARGET.is_match(s),
    }
}

/// A validated relabel rule, ready for [`relabel`](crate::relabel).
///
/// Built from a [`RelabelConfigSpec`] and a name validation scheme by [`RelabelConfig::new`],
/// which applies Prometheus's `Config.Validate` check by check, in its order, with its
/// messages. The scheme also governs one run-time check: a `replace` whose expanded target
/// is not a valid label name under it writes nothing.
///
/// Deserialising a `RelabelConfig` directly validates under [`ValidationScheme::Utf8`],
/// Prometheus 3's default; a configuration that selects the legacy scheme re-checks with
/// [`RelabelConfig::with_validation_scheme`]. Every rule valid under the legacy scheme is
/// valid under UTF-8, so nothing that should load is refused by the first check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RelabelConfigSpec", into = "RelabelConfigSpec")]
pub struct RelabelConfig {
    spec: RelabelConfigSpec,
    scheme: ValidationScheme,
    target_has_ref: bool,
    replacement_has_ref: bool,
}

impl RelabelConfig {
    /// Validates `spec` under `scheme`.
    pub fn new(spec: RelabelConfigSpec, scheme: ValidationScheme) -> Result<RelabelConfig, Error> {
        validate(&spec, scheme)?;
        Ok(RelabelConfig {
            target_has_ref: spec.target_label.contains('$'),
            replacement_has_ref: spec.replacement.contains('$'),
            spec,
            scheme,
        })
    }

    /// The same rule validated again under `scheme`, which it keeps for its run-time
    /// checks.
    pub fn with_validation_scheme(self, scheme: ValidationScheme) -> Result<RelabelConfig, Error> {
        RelabelConfig::new(self.spec, scheme)
    }

    /// The rule as written.
    pub fn spec(&self) -> &RelabelConfigSpec {
        &self.spec
    }

    /// The rule as written, by value.
    pub fn into_spec(self) -> RelabelConfigSpec {
        self.spec
    }

    /// The name validation scheme the rule was checked under.
    pub fn validation_scheme(&self) -> ValidationScheme {
        self.scheme
    }

    /// The action.
    pub fn action(&self) -> Action {
        self.spec.action
    }

    /// The source labels (empty when not set).
    pub fn source_labels(&self) -> &[String] {
        self.spec.source_labels.as_deref().unwrap_or_default()
    }

    /// The separator.
    pub fn separator(&self) -> &str {
        &self.spec.separator
    }

    /// The regex in force: the one written, or the default `(.*)`.
    pub fn regex(&self) -> &Regex {
        self.spec.regex.as_ref().unwrap_or(&DEFAULT_REGEX)
    }

    /// The modulus (0 unless the action is `hashmod`).
    pub fn modulus(&self) -> u64 {
        self.spec.modulus
    }

    /// The target label, possibly with `$` references for `replace`.
    pub fn target_label(&self) -> &str {
        &self.spec.target_label
    }

    /// The replacement template.
    pub fn replacement(&self) -> &str {
        &self.spec.replacement
    }

    pub(crate) fn target_has_ref(&self) -> bool {
        self.target_has_ref
    }

    pub(crate) fn replacement_has_ref(&self) -> bool {
        self.replacement_has_ref
    }
}

impl TryFrom<RelabelConfigSpec> for RelabelConfig {
    type Error = Error;

    /// Validates under the UTF-8 scheme, Prometheus 3's default.
    fn try_from(spec: RelabelConfigSpec) -> Result<Self, Error> {
        RelabelConfig::new(spec, ValidationScheme::Utf8)
    }
}

impl From<RelabelConfig> for RelabelConfigSpec {
    fn from(c: RelabelConfig) -> Self {
        c.spec
    }
}

/// Prometheus's `Config.Validate`: the same checks in the same order, so the first
/// problem reported is the one Prometheus reports.
fn validate(c: &RelabelConfigSpec, scheme: ValidationScheme) -> Result<(), Error> {
    use Action::{
        DropEqual, HashMod, KeepEqual, LabelDrop, LabelKeep, LabelMap, Lowercase, Replace,
        Uppercase,
    };
    let action = c.action;
    let target = c.target_label.as_str();
    let invalid_target = || Error::InvalidTargetLabel {
        target_label: target.to_owned(),
        action,
    };
    let writes_simple_target = matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual);

    if action == HashMod && c.modulus == 0 {
        return Err(Error::ZeroModulus);
    }
    if (writes_simple_target || matches!(action, Replace | HashMod)) && target.is_empty() {
        return Err(Error::MissingTargetLabel { action });
    }
    if action == Replace {
        let ok = if target.contains('$') {
            is_valid_template_name(target, scheme)
        } else {
            is_valid_label_name(target, scheme)
        };
        if !ok {
            return Err(invalid_target());
        }
    }
    if writes_simple_target {
        if !is_valid_label_name(target, scheme) {
            return Err(invalid_target());
        }
        if c.replacement != DEFAULT_REPLACEMENT {
            return Err(Error::ReplacementNotAllowed { action });
        }
    }
    if action == LabelMap && !is_valid_template_name(&c.replacement, scheme) {
        return Err(Error::InvalidReplacement {
            replacement: c.replacement.clone(),
            action,
        });
    }
    if action == HashMod && !is_valid_label_name(target, scheme) {
        return Err(invalid_target());
    }
    // Prometheus compares the regex by identity with the default one, so any regex the
    // user wrote, `(.*)` included, counts as set.
    if matches!(action, KeepEqual | DropEqual)
        && (c.regex.is_some()
            || c.modulus != 0
            || c.separator != DEFAULT_SEPARATOR
            || c.replacement != DEFAULT_REPLACEMENT)
    {
        return Err(Error::OnlySourceAndTarget { action });
    }
    if matches!(action, LabelDrop | LabelKeep)
        && (c.source_labels.is_some()
            || !target.is_empty()
            || c.modulus != 0
            || c.separator != DEFAULT_SEPARATOR
            || c.replacement != DEFAULT_REPLACEMENT)
    {
        return Err(Error::OnlyRegex { action });
    }
    Ok(())
}
