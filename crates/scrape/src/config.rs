//! [`ScrapeConfig`], one `scrape_configs` entry of `prometheus.yml`, and the HTTP client
//! settings ([`HttpClientConfig`]) that scrape jobs, Alertmanagers and remote endpoints
//! share.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::Path;
use std::str::FromStr;

use promlite_discovery::{PromDuration, ServiceDiscoveryConfigs};
use promlite_exposition::{DEFAULT_SCRAPE_PROTOCOLS, ScrapeProtocol};
use promlite_model::go_quote;
use promlite_relabel::RelabelConfig;
use serde::de::{Deserializer, Error as _, IgnoredAny};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Service discovery mechanisms Prometheus 3 offers that promlite does not. Naming them
/// lets a configuration that uses one fail with "promlite does not support …" rather than
/// with an unknown-field error that reads like a typo.
pub const UNSUPPORTED_SD_CONFIGS: &[&str] = &[
    "azure_sd_configs",
    "consul_sd_configs",
    "digitalocean_sd_configs",
    "docker_sd_configs",
    "dockerswarm_sd_configs",
    "ec2_sd_configs",
    "eureka_sd_configs",
    "gce_sd_configs",
    "hetzner_sd_configs",
    "ionos_sd_configs",
    "kuma_sd_configs",
    "lightsail_sd_configs",
    "linode_sd_configs",
    "marathon_sd_configs",
    "nerve_sd_configs",
    "nomad_sd_configs",
    "oci_sd_configs",
    "openstack_sd_configs",
    "outscale_sd_configs",
    "ovhcloud_sd_configs",
    "puppetdb_sd_configs",
    "scaleway_sd_configs",
    "serverset_sd_configs",
    "stackit_sd_configs",
    "triton_sd_configs",
    "uyuni_sd_configs",
    "vultr_sd_configs",
    #[cfg(not(feature = "kubernetes"))]
    "kubernetes_sd_configs",
];

/// A size in bytes written as Prometheus's `units.Base2Bytes`: a number and a unit
/// (`B`, `KB`, `MB`, `GB`, `TB`, `PB`, `EB` — powers of 1024 — or `KiB`, `MiB`, …), or
/// `0`. A bare number other than 0 is an error, as in Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "0" {
            return Ok(ByteSize(0));
        }
        let mut total: u64 = 0;
        let mut rest = s;
        if rest.is_empty() {
            return Err("units: invalid string \"\"".into());
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!("units: invalid string {}", go_quote(s)));
            }
            let n: u64 = rest[..digits]
                .parse()
                .map_err(|_| format!("units: overflow in {s}"))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let shift = match unit {
                "B" => 0,
                "KB" | "KiB" => 10,
                "MB" | "MiB" => 20,
                "GB" | "GiB" => 30,
                "TB" | "TiB" => 40,
                "PB" | "PiB" => 50,
                "EB" | "EiB" => 60,
                _ => return Err(format!("units: unknown unit {unit} in {s}")),
            };
            total = n
                .checked_mul(1 << shift)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("units: overflow in {s}"))?;
        }
        Ok(ByteSize(total))
    }
}

impl ByteSize {
    /// The size as Go's `units.Base2Bytes` prints it, which is how Prometheus shows
    /// `--storage.tsdb.retention.size` in its flags and runtime information: each
    /// power-of-1024 unit that divides into it, largest first (`1GiB512MiB`), `0B` for
    /// zero.
    ///
    /// ```
    /// use promlite_scrape::ByteSize;
    /// assert_eq!(ByteSize(1 << 30).go_base2(), "1GiB");
    /// assert_eq!(ByteSize(1536 << 20).go_base2(), "1GiB512MiB");
    /// assert_eq!(ByteSize(1030).go_base2(), "1KiB6B");
    /// assert_eq!(ByteSize(0).go_base2(), "0B");
    /// ```
    #[must_use]
    pub fn go_base2(&self) -> String {
        const UNITS: [&str; 7] = ["EiB", "PiB", "TiB", "GiB", "MiB", "KiB", "B"];
        let mut n = self.0;
        let mut out = String::new();
        for (i, unit) in UNITS.iter().enumerate() {
            let scale = 1u64 << (10 * (UNITS.len() - 1 - i));
            if n >= scale {
                let _ = write!(out, "{}{unit}", n / scale);
                n %= scale;
            }
        }
        if out.is_empty() {
            out.push_str("0B");
        }
        out
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = ["B", "KB", "MB", "GB", "TB", "PB", "EB"];
        let mut v = self.0;
        let mut i = 0;
        while v != 0 && v.is_multiple_of(1024) && i + 1 < units.len() {
            v /= 1024;
            i += 1;
        }
        if self.0 == 0 {
            return f.write_str("0");
        }
        write!(f, "{v}{}", units[i])
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Scalar::deserialize(d)?.0;
        s.parse().map_err(D::Error::custom)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A YAML scalar read as text whatever its YAML type, as Go's decoder reads a scalar
/// into a string-typed field (`body_size_limit: 100` is the string `"100"`).
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string field that, as in Go's decoder, also takes a YAML number or boolean as its
/// text (`bearer_token: 1234`).
fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?
        .map(|s| s.0)
        .unwrap_or_default())
}

/// [`scalar_string`] for optional fields.
#[allow(clippy::unnecessary_wraps)] // serde's `deserialize_with` must return the field's type.
fn opt_scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?.map(|s| s.0))
}

/// Parses a scrape protocol by its configuration name (`PrometheusProto`,
/// `OpenMetricsText1.0.0`, …).
pub fn parse_scrape_protocol(s: &str) -> Result<ScrapeProtocol, Error> {
    const ALL: [ScrapeProtocol; 5] = [
        ScrapeProtocol::PrometheusProto,
        ScrapeProtocol::PrometheusText0_0_4,
        ScrapeProtocol::PrometheusText1_0_0,
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::OpenMetricsText1_0_0,
    ];
    ALL.into_iter()
        .find(|p| p.as_str() == s)
        .ok_or_else(|| Error::Config(format!(
            "unknown scrape protocol {s}, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]"
        )))
}

/// Prometheus's `ScrapeProtocolsValidate`: known names, no duplicates.
pub fn validate_scrape_protocols(names: &[String]) -> Result<Vec<ScrapeProtocol>, Error> {
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let p = parse_scrape_protocol(n)?;
        if out.contains(&p) {
            return Err(Error::Config(format!(
                "duplicated protocol in scrape_protocols, got [{}]",
                names.join(" ")
            )));
        }
        out.push(p);
    }
    Ok(out)
}

/// HTTP basic authentication.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    #[serde(default, deserialize_with = "scalar_string")]
    pub username: String,
    /// A file holding the user name.
    #[serde(
        default,
        deserialize_with = "opt_scalar_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub username_file: Option<String>,
    /// The password (never serialised in clear by Prometheus; kept here as read).
    #[serde(default, deserialize_with = "scalar_string")]
    pub password: String,
    /// A file holding the password.
    #[serde(
        default,
        deserialize_with = "opt_scalar_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub password_file: Option<String>,
}

/// An `Authorization: <type> <credentials>` header.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme; `Bearer` when empty.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The credentials.
    #[serde(default, deserialize_with = "scalar_string")]
    pub credentials: String,
    /// A file holding the credentials.
    #[serde(
        default,
        deserialize_with = "opt_scalar_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub credentials_file: Option<String>,
}

impl Authorization {
    /// The scheme in force (`Bearer` unless set).
    pub fn scheme(&self) -> &str {
        if self.kind.is_empty() {
            "Bearer"
        } else {
            &self.kind
        }
    }
}

/// OAuth 2.0 client credentials: scrapes carry a token fetched from `token_url` with the
/// client-credentials grant, as Prometheus's do.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// The client id.
    #[serde(default)]
    pub client_id: String,
    /// The client secret.
    #[serde(default)]
    pub client_secret: String,
    /// A file holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<String>,
    /// Scopes to request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The token endpoint.
    #[serde(default)]
    pub token_url: String,
    /// Extra parameters of the token request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_params: BTreeMap<String, String>,
    /// TLS settings for the token endpoint.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// A proxy for the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
}

/// TLS settings of an HTTP client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA certificate (PEM text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// CA certificate file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Client certificate (PEM text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// Client certificate file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// Client key (PEM text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Client key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// Server name for SNI and verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Skip server certificate verification.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Minimum TLS version (`TLS12`, `TLS13`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// Maximum TLS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
}

impl TlsConfig {
    /// Prometheus's checks: at most one of each inline/file pair, and a certificate and
    /// key together.
    pub fn validate(&self) -> Result<(), Error> {
        let pairs = [
            (&self.ca, &self.ca_file, "ca", "ca_file"),
            (&self.cert, &self.cert_file, "cert", "cert_file"),
            (&self.key, &self.key_file, "key", "key_file"),
        ];
        for (a, b, an, bn) in pairs {
            if a.as_deref().is_some_and(|s| !s.is_empty())
                && b.as_deref().is_some_and(|s| !s.is_empty())
            {
                return Err(Error::Config(format!(
                    "at most one of {an} and {bn} must be configured"
                )));
            }
        }
        let has_cert = self.cert.is_some() || self.cert_file.is_some();
        let has_key = self.key.is_some() || self.key_file.is_some();
        if has_cert && !has_key {
            return Err(Error::Config(
                "exactly one of key or key_file must be configured when a client certificate is configured".into(),
            ));
        }
        if has_key && !has_cert {
            return Err(Error::Config(
                "exactly one of cert or cert_file must be configured when a client key is configured".into(),
            ));
        }
        Ok(())
    }
}

/// A header of `http_headers`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpHeader {
    /// Values sent in clear.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Secret values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Files holding values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

fn yes() -> bool {
    true
}

/// Prometheus's `HTTPClientConfig`, inlined into scrape jobs, Alertmanager and remote
/// endpoint configurations (flatten it with `#[serde(flatten)]`).
///
/// The deprecated `bearer_token` and `bearer_token_file` are accepted and turned into
/// [`authorization`](Self::authorization) by [`validate`](Self::validate), as Prometheus
/// does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpClientConfig {
    /// Basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// An `Authorization` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// OAuth 2.0 client credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    /// Deprecated: a bearer token.
    #[serde(
        default,
        deserialize_with = "opt_scalar_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub bearer_token: Option<String>,
    /// Deprecated: a file holding a bearer token.
    #[serde(
        default,
        deserialize_with = "opt_scalar_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub bearer_token_file: Option<String>,
    /// TLS settings.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// An HTTP proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// Hosts not to proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    /// Take the proxy from the environment.
    #[serde(default)]
    pub proxy_from_environment: bool,
    /// Headers for proxy CONNECT requests.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
    /// Follow redirects (default true).
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    /// Allow HTTP/2 (default true; promlite speaks HTTP/1.1 to targets either way).
    #[serde(default = "yes")]
    pub enable_http2: bool,
    /// Extra headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub http_headers: BTreeMap<String, HttpHeader>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: None,
            bearer_token_file: None,
            tls_config: TlsConfig::default(),
            proxy_url: None,
            no_proxy: None,
            proxy_from_environment: false,
            proxy_connect_header: BTreeMap::new(),
            follow_redirects: true,
            enable_http2: true,
            http_headers: BTreeMap::new(),
        }
    }
}

impl HttpClientConfig {
    /// Prometheus's `HTTPClientConfig.Validate`, with its messages and in its order; moves
    /// the deprecated bearer token fields into `authorization`.
    pub fn validate(&mut self) -> Result<(), Error> {
        let err = |m: &str| Err(Error::Config(m.to_owned()));
        let bearer = self.bearer_token.as_deref().is_some_and(|s| !s.is_empty());
        let bearer_file = self
            .bearer_token_file
            .as_deref()
            .is_some_and(|s| !s.is_empty());
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && (bearer || bearer_file) {
            return err(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            );
        }
        if let Some(b) = &self.basic_auth {
            if !b.username.is_empty() && b.username_file.is_some() {
                return err(
                    "at most one of basic_auth username & username_file must be configured",
                );
            }
            if !b.password.is_empty() && b.password_file.is_some() {
                return err(
                    "at most one of basic_auth password & password_file must be configured",
                );
            }
        }
        if let Some(a) = &mut self.authorization {
            if bearer || bearer_file {
                return err(
                    "authorization is not compatible with bearer_token & bearer_token_file",
                );
            }
            if !a.credentials.is_empty() && a.credentials_file.is_some() {
                return err(
                    "at most one of authorization credentials & credentials_file must be configured",
                );
            }
            a.kind = a.kind.trim().to_owned();
            if a.kind.is_empty() {
                a.kind = "Bearer".into();
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                return err(
                    r#"authorization type cannot be set to "basic", use "basic_auth" instead"#,
                );
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                return err("at most one of basic_auth, oauth2 & authorization must be configured");
            }
        } else if bearer && bearer_file {
            return err("at most one of bearer_token & bearer_token_file must be configured");
        } else if bearer || bearer_file {
            self.authorization = Some(Authorization {
                kind: "Bearer".into(),
                credentials: self.bearer_token.take().unwrap_or_default(),
                credentials_file: self.bearer_token_file.take(),
            });
        }
        if let Some(o) = &self.oauth2 {
            if self.basic_auth.is_some() {
                return err(
                    "at most one of oauth2 client_secret & client_secret_file must be configured",
                );
            }
            if o.client_id.is_empty() {
                return err("oauth2 client_id must be configured");
            }
            if !o.client_secret.is_empty() && o.client_secret_file.is_some() {
                return err(
                    "at most one of oauth2 client_secret & client_secret_file must be configured",
                );
            }
            if o.token_url.is_empty() {
                return err("oauth2 token_url must be configured");
            }
        }
        if self.proxy_from_environment && (self.proxy_url.is_some() || self.no_proxy.is_some()) {
            return err(
                "if proxy_from_environment is configured, proxy_url must not be configured",
            );
        }
        if self.no_proxy.is_some() && self.proxy_url.is_none() {
            return err("if no_proxy is configured, proxy_url must also be configured");
        }
        if let Some(p) = &self.proxy_url {
            url::Url::parse(p).map_err(|e| Error::Config(format!("parse {}: {e}", go_quote(p))))?;
        }
        for name in self.http_headers.keys() {
            if RESERVED_HEADERS
                .iter()
                .any(|r| r.eq_ignore_ascii_case(name))
            {
                return Err(Error::Config(format!(
                    "setting header {} is not allowed",
                    go_quote(name)
                )));
            }
        }
        self.tls_config.validate()
    }

    /// Resolves relative file names against `dir`, the configuration file's directory.
    pub fn set_directory(&mut self, dir: &Path) {
        let join = |f: &mut Option<String>| {
            if let Some(p) = f
                && !p.is_empty()
                && Path::new(p.as_str()).is_relative()
            {
                *p = dir.join(p.as_str()).to_string_lossy().into_owned();
            }
        };
        if let Some(b) = &mut self.basic_auth {
            join(&mut b.username_file);
            join(&mut b.password_file);
        }
        if let Some(a) = &mut self.authorization {
            join(&mut a.credentials_file);
        }
        join(&mut self.bearer_token_file);
        for t in [&mut self.tls_config]
            .into_iter()
            .chain(self.oauth2.as_mut().map(|o| &mut o.tls_config))
        {
            join(&mut t.ca_file);
            join(&mut t.cert_file);
            join(&mut t.key_file);
        }
    }
}

/// Headers Prometheus reserves for itself (`http_headers` may not set them).
const RESERVED_HEADERS: &[&str] = &[
    "Authorization",
    "Host",
    "Content-Encoding",
    "Content-Length",
    "Content-Type",
    "User-Agent",
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Www-Authenticate",
    "Accept-Encoding",
    "X-Prometheus-Remote-Write-Version",
    "X-Prometheus-Remote-Read-Version",
    "X-Prometheus-Scrape-Timeout-Seconds",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
];

/// Prometheus's `DefaultProtoFirstScrapeProtocols`, for jobs ingesting native
/// histograms.
pub const PROTO_FIRST_SCRAPE_PROTOCOLS: [ScrapeProtocol; 5] = [
    ScrapeProtocol::PrometheusProto,
    ScrapeProtocol::OpenMetricsText1_0_0,
    ScrapeProtocol::OpenMetricsText0_0_1,
    ScrapeProtocol::PrometheusText1_0_0,
    ScrapeProtocol::PrometheusText0_0_4,
];

/// The settings a scrape job inherits from `global` when it does not set them.
// Prometheus's switches, each a plain flag in its configuration.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeDefaults {
    /// `scrape_interval`.
    pub scrape_interval: PromDuration,
    /// `scrape_timeout`.
    pub scrape_timeout: PromDuration,
    /// `scrape_protocols`.
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// Whether `global` set `scrape_protocols` (when it did not, jobs that ingest native
    /// histograms ask for protobuf first).
    pub scrape_protocols_set: bool,
    /// `body_size_limit`.
    pub body_size_limit: ByteSize,
    /// `sample_limit`.
    pub sample_limit: u64,
    /// `target_limit`.
    pub target_limit: u64,
    /// `label_limit`.
    pub label_limit: u64,
    /// `label_name_length_limit`.
    pub label_name_length_limit: u64,
    /// `label_value_length_limit`.
    pub label_value_length_limit: u64,
    /// `keep_dropped_targets`.
    pub keep_dropped_targets: u64,
    /// `scrape_failure_log_file`.
    pub scrape_failure_log_file: String,
    /// `metric_name_validation_scheme`.
    pub metric_name_validation_scheme: String,
    /// `metric_name_escaping_scheme`.
    pub metric_name_escaping_scheme: String,
    /// `always_scrape_classic_histograms`.
    pub always_scrape_classic_histograms: bool,
    /// `convert_classic_histograms_to_nhcb`.
    pub convert_classic_histograms_to_nhcb: bool,
    /// `scrape_native_histograms`.
    pub scrape_native_histograms: bool,
    /// `extra_scrape_metrics`.
    pub extra_scrape_metrics: bool,
}

impl Default for ScrapeDefaults {
    /// Prometheus's `DefaultGlobalConfig`: every minute, 10s timeout, no limits.
    fn default() -> Self {
        ScrapeDefaults {
            scrape_interval: PromDuration::from_secs(60),
            scrape_timeout: PromDuration::from_secs(10),
            scrape_protocols: DEFAULT_SCRAPE_PROTOCOLS.to_vec(),
            scrape_protocols_set: false,
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            keep_dropped_targets: 0,
            scrape_failure_log_file: String::new(),
            metric_name_validation_scheme: "utf8".into(),
            metric_name_escaping_scheme: String::new(),
            always_scrape_classic_histograms: false,
            convert_classic_histograms_to_nhcb: false,
            scrape_native_histograms: false,
            extra_scrape_metrics: false,
        }
    }
}

/// One `scrape_configs` entry: a scrape job.
///
/// Deserialising applies Prometheus's `ScrapeConfig.UnmarshalYAML` checks (job name,
/// HTTP client settings, null relabel rules, target addresses, service discovery kinds
/// promlite lacks). Settings inherited from `global` stay `None`/0 until
/// [`ScrapeConfig::apply_defaults`] fills them, as Prometheus's `Validate` does.
// Prometheus's switches, each a plain flag in its configuration.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    /// The job name: the `job` label of its targets.
    pub job_name: String,
    /// Keep the target's labels on conflict instead of renaming them `exported_*`.
    pub honor_labels: bool,
    /// Use the timestamps the target exposes (default true).
    pub honor_timestamps: bool,
    /// Write staleness markers for series with explicit timestamps too.
    pub track_timestamps_staleness: bool,
    /// URL parameters of each scrape.
    pub params: BTreeMap<String, Vec<String>>,
    /// How often to scrape (`None`: global).
    pub scrape_interval: Option<PromDuration>,
    /// Timeout of a scrape (`None`: global, capped by the interval).
    pub scrape_timeout: Option<PromDuration>,
    /// Formats to ask for, in order of preference (`None`: global).
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    /// Format to assume when a response's content type is missing or unknown.
    pub fallback_scrape_protocol: Option<ScrapeProtocol>,
    /// Log file of failed scrapes.
    pub scrape_failure_log_file: Option<String>,
    /// Ingest classic histograms alongside native ones.
    pub always_scrape_classic_histograms: Option<bool>,
    /// Convert classic histograms to native histograms with custom buckets.
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    /// Ingest native histograms.
    pub scrape_native_histograms: Option<bool>,
    /// Extra report series (`scrape_timeout_seconds`, `scrape_sample_limit`, …).
    pub extra_scrape_metrics: Option<bool>,
    /// Ask for gzip-compressed responses (default true).
    pub enable_compression: bool,
    /// The path scraped (default `/metrics`).
    pub metrics_path: String,
    /// `http` (default) or `https`.
    pub scheme: String,
    /// Largest accepted body, uncompressed (0: global / no limit).
    pub body_size_limit: ByteSize,
    /// Most samples a scrape may return after metric relabeling (0: no limit).
    pub sample_limit: u64,
    /// Most targets after relabeling (0: no limit).
    pub target_limit: u64,
    /// Most labels per series (0: no limit).
    pub label_limit: u64,
    /// Longest label name (0: no limit).
    pub label_name_length_limit: u64,
    /// Longest label value (0: no limit).
    pub label_value_length_limit: u64,
    /// Bucket limit of native histograms (0: no limit).
    pub native_histogram_bucket_limit: u64,
    /// Lowest growth factor of native histogram buckets.
    pub native_histogram_min_bucket_factor: f64,
    /// Most dropped targets kept for the UI (0: all).
    pub keep_dropped_targets: u64,
    /// `utf8` or `legacy`.
    pub metric_name_validation_scheme: String,
    /// `allow-utf-8`, `underscores`, `dots` or `values`.
    pub metric_name_escaping_scheme: String,
    /// Target relabeling.
    pub relabel_configs: Vec<RelabelConfig>,
    /// Relabeling of scraped series.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// The HTTP client.
    pub http_client_config: HttpClientConfig,
    /// Where the targets come from.
    pub service_discovery_configs: ServiceDiscoveryConfigs,
}

impl Default for ScrapeConfig {
    /// Prometheus's `DefaultScrapeConfig`.
    fn default() -> Self {
        ScrapeConfig {
            job_name: String::new(),
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            params: BTreeMap::new(),
            scrape_interval: None,
            scrape_timeout: None,
            scrape_protocols: None,
            fallback_scrape_protocol: None,
            scrape_failure_log_file: None,
            always_scrape_classic_histograms: None,
            convert_classic_histograms_to_nhcb: None,
            scrape_native_histograms: None,
            extra_scrape_metrics: None,
            enable_compression: true,
            metrics_path: "/metrics".into(),
            scheme: "http".into(),
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            native_histogram_bucket_limit: 0,
            native_histogram_min_bucket_factor: 0.0,
            keep_dropped_targets: 0,
            metric_name_validation_scheme: String::new(),
            metric_name_escaping_scheme: String::new(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            http_client_config: HttpClientConfig::default(),
            service_discovery_configs: ServiceDiscoveryConfigs::default(),
        }
    }
}

impl ScrapeConfig {
    /// A job with Prometheus's defaults and the given name.
    pub fn new(job_name: impl Into<String>) -> ScrapeConfig {
        ScrapeConfig {
            job_name: job_name.into(),
            ..ScrapeConfig::default()
        }
    }

    /// The scrape interval in force (the global default when not resolved).
    pub fn interval(&self) -> PromDuration {
        self.scrape_interval
            .unwrap_or(ScrapeDefaults::default().scrape_interval)
    }

    /// The scrape timeout in force.
    pub fn timeout(&self) -> PromDuration {
        self.scrape_timeout.unwrap_or_else(|| {
            std::cmp::min(ScrapeDefaults::default().scrape_timeout, self.interval())
        })
    }

    /// The protocols in force.
    pub fn protocols(&self) -> &[ScrapeProtocol] {
        self.scrape_protocols
            .as_deref()
            .unwrap_or(&DEFAULT_SCRAPE_PROTOCOLS)
    }

    /// Prometheus's `ScrapeConfig.Validate`: inherits what the job leaves unset from
    /// `global` and checks the timeout against the interval.
    pub fn apply_defaults(&mut self, g: &ScrapeDefaults) -> Result<(), Error> {
        let interval = *self.scrape_interval.get_or_insert(g.scrape_interval);
        if let Some(t) = self.scrape_timeout
            && t > interval
        {
            return Err(Error::Config(format!(
                "scrape timeout greater than scrape interval for scrape config with job name {}",
                go_quote(&self.job_name)
            )));
        }
        if self.scrape_timeout.is_none() {
            self.scrape_timeout = Some(std::cmp::min(g.scrape_timeout, interval));
        }
        if self.body_size_limit.0 == 0 {
            self.body_size_limit = g.body_size_limit;
        }
        for (mine, global) in [
            (&mut self.sample_limit, g.sample_limit),
            (&mut self.target_limit, g.target_limit),
            (&mut self.label_limit, g.label_limit),
            (&mut self.label_name_length_limit, g.label_name_length_limit),
            (
                &mut self.label_value_length_limit,
                g.label_value_length_limit,
            ),
            (&mut self.keep_dropped_targets, g.keep_dropped_targets),
        ] {
            if *mine == 0 {
                *mine = global;
            }
        }
        let native = self
            .scrape_native_histograms
            .unwrap_or(g.scrape_native_histograms);
        if self.scrape_protocols.is_none() {
            // Native histograms travel only in the protobuf format, so a job that
            // ingests them asks for it first unless protocols were chosen explicitly.
            self.scrape_protocols = Some(if native && !g.scrape_protocols_set {
                PROTO_FIRST_SCRAPE_PROTOCOLS.to_vec()
            } else {
                g.scrape_protocols.clone()
            });
        }
        if self.scrape_failure_log_file.is_none() && !g.scrape_failure_log_file.is_empty() {
            self.scrape_failure_log_file = Some(g.scrape_failure_log_file.clone());
        }
        for (mine, global) in [
            (
                &mut self.always_scrape_classic_histograms,
                g.always_scrape_classic_histograms,
            ),
            (
                &mut self.convert_classic_histograms_to_nhcb,
                g.convert_classic_histograms_to_nhcb,
            ),
            (
                &mut self.scrape_native_histograms,
                g.scrape_native_histograms,
            ),
            (&mut self.extra_scrape_metrics, g.extra_scrape_metrics),
        ] {
            mine.get_or_insert(global);
        }
        match self.metric_name_validation_scheme.as_str() {
            "" => self
                .metric_name_validation_scheme
                .clone_from(&g.metric_name_validation_scheme),
            "utf8" | "legacy" => {}
            other => {
                return Err(Error::Config(format!(
                    "unknown global name validation method specified, must be either '', 'legacy' or 'utf8', got {}",
                    go_quote(other)
                )));
            }
        }
        if self.metric_name_escaping_scheme.is_empty() {
            self.metric_name_escaping_scheme
                .clone_from(&g.metric_name_escaping_scheme);
        }
        if self.metric_name_escaping_scheme.is_empty() {
            self.metric_name_escaping_scheme = if self.metric_name_validation_scheme == "legacy" {
                "underscores".into()
            } else {
                "allow-utf-8".into()
            };
        }
        validate_escaping(
            &self.metric_name_validation_scheme,
            &self.metric_name_escaping_scheme,
        )?;
        if self.metric_name_validation_scheme == "legacy" {
            let scheme = promlite_model::ValidationScheme::Legacy;
            for rules in [&mut self.relabel_configs, &mut self.metric_relabel_configs] {
                for r in rules.iter_mut() {
                    *r = r.clone().with_validation_scheme(scheme)?;
                }
            }
        }
        Ok(())
    }

    /// Resolves relative file names against the configuration file's directory.
    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
        self.service_discovery_configs.set_directory(dir);
        if let Some(f) = &mut self.scrape_failure_log_file
            && !f.is_empty()
            && Path::new(f.as_str()).is_relative()
        {
            *f = dir.join(f.as_str()).to_string_lossy().into_owned();
        }
    }
}

/// Checks a validation scheme against an escaping scheme, with Prometheus's messages.
pub fn validate_escaping(validation: &str, escaping: &str) -> Result<(), Error> {
    match escaping {
        "allow-utf-8" if validation == "legacy" => Err(Error::Config(
            "metric_name_escaping_scheme \"allow-utf-8\" cannot be used with metric_name_validation_scheme \"legacy\"".into(),
        )),
        "" | "allow-utf-8" | "underscores" | "dots" | "values" => Ok(()),
        other => Err(Error::Config(format!(
            "unknown global name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {}",
            go_quote(other)
        ))),
    }
}

/// The YAML form of a scrape job, field for field.
// The last flattened map collects leftover keys; its values are never looked at.
#[allow(clippy::zero_sized_map_values, clippy::struct_excessive_bools)]
#[derive(Deserialize)]
struct ScrapeConfigYaml {
    #[serde(default)]
    job_name: Option<String>,
    #[serde(default)]
    honor_labels: Option<bool>,
    #[serde(default)]
    honor_timestamps: Option<bool>,
    #[serde(default)]
    track_timestamps_staleness: Option<bool>,
    #[serde(default)]
    params: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    scrape_interval: Option<PromDuration>,
    #[serde(default)]
    scrape_timeout: Option<PromDuration>,
    #[serde(default)]
    scrape_protocols: Option<Vec<String>>,
    #[serde(default)]
    fallback_scrape_protocol: Option<String>,
    #[serde(default)]
    scrape_failure_log_file: Option<String>,
    #[serde(default)]
    always_scrape_classic_histograms: Option<bool>,
    #[serde(default)]
    convert_classic_histograms_to_nhcb: Option<bool>,
    #[serde(default)]
    scrape_native_histograms: Option<bool>,
    #[serde(default)]
    extra_scrape_metrics: Option<bool>,
    #[serde(default)]
    enable_compression: Option<bool>,
    #[serde(default)]
    metrics_path: Option<String>,
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    body_size_limit: Option<ByteSize>,
    #[serde(default)]
    sample_limit: Option<u64>,
    #[serde(default)]
    target_limit: Option<u64>,
    #[serde(default)]
    label_limit: Option<u64>,
    #[serde(default)]
    label_name_length_limit: Option<u64>,
    #[serde(default)]
    label_value_length_limit: Option<u64>,
    #[serde(default)]
    native_histogram_bucket_limit: Option<u64>,
    #[serde(default)]
    native_histogram_min_bucket_factor: Option<f64>,
    #[serde(default)]
    keep_dropped_targets: Option<u64>,
    #[serde(default)]
    metric_name_validation_scheme: Option<String>,
    #[serde(default)]
    metric_name_escaping_scheme: Option<String>,
    #[serde(default)]
    relabel_configs: Option<Vec<Option<RelabelConfig>>>,
    #[serde(default)]
    metric_relabel_configs: Option<Vec<Option<RelabelConfig>>>,
    #[serde(flatten)]
    http: HttpClientConfig,
    #[serde(flatten)]
    sd: ServiceDiscoveryConfigs,
    // Declared last so that it receives only the keys nothing above took.
    #[serde(flatten)]
    unknown: BTreeMap<String, IgnoredAny>,
}

impl<'de> Deserialize<'de> for ScrapeConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let y = ScrapeConfigYaml::deserialize(d)?;
        ScrapeConfig::from_yaml(y).map_err(D::Error::custom)
    }
}

// serde's flatten needs a map to collect leftover keys; the values are never looked at.
#[allow(clippy::zero_sized_map_values)]
/// Rejects the keys a flattened struct left over: service discovery kinds promlite lacks
/// by name, anything else as an unknown field.
pub fn check_unknown_fields(
    unknown: &BTreeMap<String, IgnoredAny>,
    type_name: &str,
) -> Result<(), Error> {
    let Some(key) = unknown.keys().next() else {
        return Ok(());
    };
    if UNSUPPORTED_SD_CONFIGS.contains(&key.as_str()) {
        return Err(Error::UnsupportedDiscovery(key.clone()));
    }
    Err(Error::Config(format!(
        "field {key} not found in type {type_name}"
    )))
}

/// Prometheus's `CheckTargetAddress` for static targets.
pub fn check_static_targets(sd: &ServiceDiscoveryConfigs) -> Result<(), Error> {
    for g in &sd.static_configs {
        for t in &g.targets {
            if t.contains('/') {
                return Err(Error::Config(format!(
                    "{} is not a valid hostname",
                    go_quote(t)
                )));
            }
        }
    }
    Ok(())
}

/// Rejects `null` entries of a relabel list with `message`.
pub fn non_null_rules(
    rules: Option<Vec<Option<RelabelConfig>>>,
    message: &str,
) -> Result<Vec<RelabelConfig>, Error> {
    rules
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.ok_or_else(|| Error::Config(message.to_owned())))
        .collect()
}

impl ScrapeConfig {
    fn from_yaml(y: ScrapeConfigYaml) -> Result<ScrapeConfig, Error> {
        check_unknown_fields(&y.unknown, "config.ScrapeConfig")?;
        let job_name = y.job_name.unwrap_or_default();
        if job_name.is_empty() {
            return Err(Error::Config("job_name is empty".into()));
        }
        let mut http = y.http;
        http.validate()?;
        let scrape_protocols = match y.scrape_protocols {
            None => None,
            Some(names) => Some(validate_scrape_protocols(&names).map_err(|e| {
                Error::Config(format!(
                    "{e} for scrape config with job name {}",
                    go_quote(&job_name)
                ))
            })?),
        };
        let fallback_scrape_protocol = match y.fallback_scrape_protocol.as_deref() {
            None | Some("") => None,
            Some(n) => Some(parse_scrape_protocol(n).map_err(|e| {
                Error::Config(format!(
                    "invalid fallback_scrape_protocol for scrape config with job name {}: {e}",
                    go_quote(&job_name)
                ))
            })?),
        };
        let relabel_configs = non_null_rules(
            y.relabel_configs,
            "empty or null target relabeling rule in scrape config",
        )?;
        let metric_relabel_configs = non_null_rules(
            y.metric_relabel_configs,
            "empty or null metric relabeling rule in scrape config",
        )?;
        check_static_targets(&y.sd)?;
        let scheme = y.scheme.unwrap_or_else(|| "http".into());
        if scheme != "http" && scheme != "https" {
            return Err(Error::Config(format!(
                "unknown scrape scheme {}, must be 'http' or 'https'",
                go_quote(&scheme)
            )));
        }
        let d = ScrapeConfig::default();
        Ok(ScrapeConfig {
            job_name,
            honor_labels: y.honor_labels.unwrap_or(d.honor_labels),
            honor_timestamps: y.honor_timestamps.unwrap_or(d.honor_timestamps),
            track_timestamps_staleness: y.track_timestamps_staleness.unwrap_or(false),
            params: y.params.unwrap_or_default(),
            scrape_interval: y.scrape_interval.filter(|d| !d.as_std().is_zero()),
            scrape_timeout: y.scrape_timeout.filter(|d| !d.as_std().is_zero()),
            scrape_protocols,
            fallback_scrape_protocol,
            scrape_failure_log_file: y.scrape_failure_log_file,
            always_scrape_classic_histograms: y.always_scrape_classic_histograms,
            convert_classic_histograms_to_nhcb: y.convert_classic_histograms_to_nhcb,
            scrape_native_histograms: y.scrape_native_histograms,
            extra_scrape_metrics: y.extra_scrape_metrics,
            enable_compression: y.enable_compression.unwrap_or(true),
            metrics_path: y.metrics_path.unwrap_or(d.metrics_path),
            scheme,
            body_size_limit: y.body_size_limit.unwrap_or_default(),
            sample_limit: y.sample_limit.unwrap_or(0),
            target_limit: y.target_limit.unwrap_or(0),
            label_limit: y.label_limit.unwrap_or(0),
            label_name_length_limit: y.label_name_length_limit.unwrap_or(0),
            label_value_length_limit: y.label_value_length_limit.unwrap_or(0),
            native_histogram_bucket_limit: y.native_histogram_bucket_limit.unwrap_or(0),
            native_histogram_min_bucket_factor: y.native_histogram_min_bucket_factor.unwrap_or(0.0),
            keep_dropped_targets: y.keep_dropped_targets.unwrap_or(0),
            metric_name_validation_scheme: y.metric_name_validation_scheme.unwrap_or_default(),
            metric_name_escaping_scheme: y.metric_name_escaping_scheme.unwrap_or_default(),
            relabel_configs,
            metric_relabel_configs,
            http_client_config: http,
            service_discovery_configs: y.sd,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_as_prometheus_parses_them() {
        assert_eq!("15MB".parse::<ByteSize>().unwrap().0, 15 << 20);
        assert_eq!("1KiB".parse::<ByteSize>().unwrap().0, 1024);
        assert_eq!("0".parse::<ByteSize>().unwrap().0, 0);
        assert_eq!(
            "100".parse::<ByteSize>().unwrap_err(),
            "units: unknown unit  in 100"
        );
        assert_eq!(ByteSize(15 << 20).to_string(), "15MB");
    }

    #[test]
    fn scrape_config_defaults_and_checks() {
        let c: ScrapeConfig = serde_norway::from_str(
            "job_name: node\nbearer_token: abc\nstatic_configs: [{targets: ['a:1']}]\n",
        )
        .unwrap();
        assert_eq!(c.metrics_path, "/metrics");
        assert!(c.honor_timestamps);
        let auth = c.http_client_config.authorization.as_ref().unwrap();
        assert_eq!(
            (auth.scheme(), auth.credentials.as_str()),
            ("Bearer", "abc")
        );

        let err = serde_norway::from_str::<ScrapeConfig>("job_name: x\nec2_sd_configs: [{}]\n")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("promlite does not support ec2_sd_configs"),
            "{err}"
        );
        let err = serde_norway::from_str::<ScrapeConfig>("job_name: x\nbogus: 1\n").unwrap_err();
        assert!(err.to_string().contains("field bogus not found"), "{err}");

        let mut c: ScrapeConfig =
            serde_norway::from_str("job_name: p\nscrape_interval: 5s\nscrape_timeout: 6s\n")
                .unwrap();
        let err = c.apply_defaults(&ScrapeDefaults::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "scrape timeout greater than scrape interval for scrape config with job name \"p\""
        );
        let mut c: ScrapeConfig =
            serde_norway::from_str("job_name: p\nscrape_interval: 5s\n").unwrap();
        c.apply_defaults(&ScrapeDefaults::default()).unwrap();
        assert_eq!(c.timeout().to_string(), "5s");
    }
}
