//! The HTTP client settings that discoverers talking to an HTTP API share: credentials
//! (`basic_auth`, `authorization`, `bearer_token`, `bearer_token_file`), `tls_config`
//! and redirects, read as Prometheus's inline `HTTPClientConfig` reads them, and the
//! `reqwest` client built from them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, USER_AGENT};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The `User-Agent` of every request discovery sends.
const AGENT: &str = concat!("promlite/", env!("CARGO_PKG_VERSION"));

/// HTTP basic authentication credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    #[serde(default)]
    pub username: String,
    /// The password.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        serialize_with = "masked"
    )]
    pub password: String,
    /// A file holding the password, read for every request.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password_file: String,
}

/// An `Authorization: <type> <credentials>` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme, `Bearer` when absent.
    #[serde(rename = "type", default = "default_auth_type")]
    pub kind: String,
    /// The credentials.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        serialize_with = "masked"
    )]
    pub credentials: String,
    /// A file holding the credentials, read for every request.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credentials_file: String,
}

fn default_auth_type() -> String {
    "Bearer".to_owned()
}

/// Secrets print as `<secret>`, as Prometheus's `config.Secret` marshals them, so that
/// a configuration shown (on a status page, in a log) does not leak them.
#[allow(
    clippy::ptr_arg,
    reason = "serde's serialize_with passes the field as it is declared"
)]
fn masked<S: serde::Serializer>(_: &String, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("<secret>")
}

/// `tls_config`: how to check the server's certificate and which one to present.
///
/// Applying any of it needs the `https` feature (rustls); without it a discoverer given
/// TLS settings refuses to start rather than ignore them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM CA certificates, inline.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca: String,
    /// A file of PEM CA certificates.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_file: String,
    /// A PEM client certificate, inline, with `key` or `key_file`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert: String,
    /// A PEM client certificate file, with `key` or `key_file`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    /// The PEM private key of the client certificate, inline.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        serialize_with = "masked"
    )]
    pub key: String,
    /// The PEM private key of the client certificate, in a file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    /// Accept any server certificate.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl TlsConfig {
    fn is_empty(&self) -> bool {
        *self == TlsConfig::default()
    }

    /// Prometheus's checks: each of CA, certificate and key given once, inline or as a
    /// file, and a certificate only with a key.
    pub fn validate(&self) -> Result<(), Error> {
        let t = self;
        let (cert, key) = (
            !t.cert.is_empty() || !t.cert_file.is_empty(),
            !t.key.is_empty() || !t.key_file.is_empty(),
        );
        let reason = if !t.ca.is_empty() && !t.ca_file.is_empty() {
            "at most one of ca and ca_file must be configured"
        } else if !t.cert.is_empty() && !t.cert_file.is_empty() {
            "at most one of cert and cert_file must be configured"
        } else if !t.key.is_empty() && !t.key_file.is_empty() {
            "at most one of key and key_file must be configured"
        } else if cert && !key {
            "exactly one of key or key_file must be configured when a client certificate is configured"
        } else if key && !cert {
            "exactly one of cert or cert_file must be configured when a client key is configured"
        } else {
            return Ok(());
        };
        Err(Error::InvalidHttpClientConfig(reason))
    }

    /// Joins relative file paths with `dir`, the configuration file's directory.
    pub fn set_directory(&mut self, dir: &Path) {
        for p in [&mut self.ca_file, &mut self.cert_file, &mut self.key_file] {
            join_dir(p, dir);
        }
    }
}

fn join_dir(path: &mut String, dir: &Path) {
    if !path.is_empty() && Path::new(path.as_str()).is_relative() {
        *path = dir.join(path.as_str()).to_string_lossy().into_owned();
    }
}

/// The inline HTTP client settings of an SD configuration that talks to an API:
/// Prometheus's `HTTPClientConfig`, the parts promlite supports. OAuth2, proxies and
/// custom headers are rejected as unknown fields by the configurations embedding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientConfig {
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// An `Authorization` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// A bearer token (Prometheus's older spelling of `authorization`).
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        serialize_with = "masked"
    )]
    pub bearer_token: String,
    /// A file holding a bearer token, read again for every request so that rotated
    /// tokens (a Kubernetes service account's) are picked up.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bearer_token_file: String,
    /// TLS settings.
    #[serde(default, skip_serializing_if = "TlsConfig::is_empty")]
    pub tls_config: TlsConfig,
    /// Whether to follow redirects.
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    /// Accepted for compatibility; requests use HTTP/1.1.
    #[serde(default = "yes")]
    pub enable_http2: bool,
}

fn yes() -> bool {
    true
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            bearer_token: String::new(),
            bearer_token_file: String::new(),
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

impl HttpClientConfig {
    /// Whether anything differs from the defaults: Prometheus insists on an explicit
    /// API server for custom settings.
    pub fn is_default(&self) -> bool {
        *self == HttpClientConfig::default()
    }

    /// Prometheus's checks, with its messages: one kind of credentials at a time.
    pub fn validate(&self) -> Result<(), Error> {
        let bearer = !self.bearer_token.is_empty() || !self.bearer_token_file.is_empty();
        let reason = if !self.bearer_token.is_empty() && !self.bearer_token_file.is_empty() {
            "at most one of bearer_token & bearer_token_file must be configured"
        } else if self.basic_auth.is_some() && bearer {
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
        } else if self.authorization.is_some() && bearer {
            "authorization is not compatible with bearer_token & bearer_token_file"
        } else if self.authorization.is_some() && self.basic_auth.is_some() {
            "at most one of basic_auth, oauth2 & authorization must be configured"
        } else if self
            .authorization
            .as_ref()
            .is_some_and(|a| a.kind.trim().eq_ignore_ascii_case("basic"))
        {
            "authorization type cannot be set to \"basic\", use \"basic_auth\" instead"
        } else if self
            .authorization
            .as_ref()
            .is_some_and(|a| !a.credentials.is_empty() && !a.credentials_file.is_empty())
        {
            "at most one of authorization credentials & credentials_file must be configured"
        } else if self
            .basic_auth
            .as_ref()
            .is_some_and(|b| !b.password.is_empty() && !b.password_file.is_empty())
        {
            "at most one of basic_auth password & password_file must be configured"
        } else {
            return self.tls_config.validate();
        };
        Err(Error::InvalidHttpClientConfig(reason))
    }

    /// Joins relative file paths with `dir`, the configuration file's directory.
    pub fn set_directory(&mut self, dir: &Path) {
        join_dir(&mut self.bearer_token_file, dir);
        if let Some(b) = &mut self.basic_auth {
            join_dir(&mut b.password_file, dir);
        }
        if let Some(a) = &mut self.authorization {
            join_dir(&mut a.credentials_file, dir);
        }
        self.tls_config.set_directory(dir);
    }

    /// A client with these settings. `timeout` bounds whole requests; a client for
    /// long-lived streams passes `None` and relies on TCP keep-alive instead.
    pub(crate) fn client(&self, timeout: Option<Duration>) -> Result<reqwest::Client, Error> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .tcp_keepalive(Duration::from_secs(30))
            .redirect(if self.follow_redirects {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            });
        if let Some(t) = timeout {
            b = b.timeout(t.max(Duration::from_millis(1)));
        }
        b = apply_tls(b, &self.tls_config)?;
        Ok(b.build()?)
    }

    /// Adds the user agent and the credentials to a request. Credential files are
    /// read now, so a rotated token or password takes effect on the next request.
    pub(crate) fn authorize(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let mut req = req.header(USER_AGENT, AGENT);
        if let Some(b) = &self.basic_auth {
            let password = secret(&b.password, &b.password_file, "basic auth password file")?;
            req = req.basic_auth(&b.username, Some(password));
        }
        if let Some(a) = &self.authorization {
            let credentials = secret(
                &a.credentials,
                &a.credentials_file,
                "authorization credentials file",
            )?;
            req = req.header(AUTHORIZATION, format!("{} {credentials}", a.kind));
        }
        if !self.bearer_token.is_empty() || !self.bearer_token_file.is_empty() {
            let token = secret(
                &self.bearer_token,
                &self.bearer_token_file,
                "bearer token file",
            )?;
            req = req.bearer_auth(token);
        }
        Ok(req)
    }
}

/// A secret given inline or in a file; a file's content is trimmed of surrounding
/// whitespace, as Prometheus reads it.
fn secret(inline: &str, file: &str, what: &'static str) -> Result<String, Error> {
    if file.is_empty() {
        return Ok(inline.to_owned());
    }
    let bytes = read_file(what, Path::new(file))?;
    Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
}

/// Reads a credentials or certificate file, naming it in the error.
pub(crate) fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::ReadFile {
        what,
        path: PathBuf::from(path),
        source,
    })
}

#[cfg(feature = "https")]
fn apply_tls(
    mut b: reqwest::ClientBuilder,
    tls: &TlsConfig,
) -> Result<reqwest::ClientBuilder, Error> {
    let ca = inline_or_file(&tls.ca, &tls.ca_file, "CA file")?;
    if !ca.is_empty() {
        for cert in reqwest::Certificate::from_pem_bundle(&ca)? {
            b = b.add_root_certificate(cert);
        }
    }
    let cert = inline_or_file(&tls.cert, &tls.cert_file, "client certificate file")?;
    let key = inline_or_file(&tls.key, &tls.key_file, "client key file")?;
    if !cert.is_empty() || !key.is_empty() {
        let mut pem = cert;
        pem.push(b'\n');
        pem.extend(key);
        b = b.identity(reqwest::Identity::from_pem(&pem)?);
    }
    if tls.insecure_skip_verify {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    Ok(b)
}

/// PEM data given inline or in a file; empty when neither is.
#[cfg(feature = "https")]
fn inline_or_file(inline: &str, file: &str, what: &'static str) -> Result<Vec<u8>, Error> {
    if file.is_empty() {
        Ok(inline.as_bytes().to_vec())
    } else {
        read_file(what, Path::new(file))
    }
}

#[cfg(not(feature = "https"))]
fn apply_tls(b: reqwest::ClientBuilder, tls: &TlsConfig) -> Result<reqwest::ClientBuilder, Error> {
    if tls.is_empty() {
        Ok(b)
    } else {
        Err(Error::Unsupported("tls_config without the `https` feature"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("{}", None),
            ("bearer_token: x", None),
            (
                "{bearer_token: x, bearer_token_file: f}",
                Some("at most one of bearer_token & bearer_token_file must be configured"),
            ),
            (
                "{bearer_token: x, basic_auth: {username: u}}",
                Some(
                    "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
                ),
            ),
            (
                "{authorization: {credentials: c}, basic_auth: {username: u}}",
                Some("at most one of basic_auth, oauth2 & authorization must be configured"),
            ),
            (
                "{authorization: {credentials: c}, bearer_token_file: f}",
                Some("authorization is not compatible with bearer_token & bearer_token_file"),
            ),
            ("tls_config: {cert_file: c, key: k}", None),
            (
                "basic_auth: {username: u, password: p, password_file: f}",
                Some("at most one of basic_auth password & password_file must be configured"),
            ),
            (
                "tls_config: {ca: x, ca_file: f}",
                Some("at most one of ca and ca_file must be configured"),
            ),
            (
                "tls_config: {cert_file: c}",
                Some(
                    "exactly one of key or key_file must be configured when a client certificate is configured",
                ),
            ),
        ];
        for (yaml, want) in cases {
            let c: HttpClientConfig = serde_norway::from_str(yaml).unwrap();
            let got = c.validate().err().map(|e| e.to_string());
            assert_eq!(got.as_deref(), *want, "{yaml}");
        }
    }

    #[test]
    fn credentials_from_files_are_read_per_request() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "hunter2\n").unwrap();
        let mut c: HttpClientConfig =
            serde_norway::from_str("basic_auth: {username: u, password_file: pw}").unwrap();
        c.set_directory(dir.path());
        let client = c.client(None).unwrap();
        let header = |c: &HttpClientConfig| {
            let req = c.authorize(client.get("http://127.0.0.1:1/")).unwrap();
            let req = req.build().unwrap();
            req.headers()[AUTHORIZATION].to_str().unwrap().to_owned()
        };
        // "u:hunter2" in base64.
        assert_eq!(header(&c), "Basic dTpodW50ZXIy");
        std::fs::write(dir.path().join("pw"), "rotated").unwrap();
        assert_eq!(header(&c), "Basic dTpyb3RhdGVk");

        let c: HttpClientConfig =
            serde_norway::from_str("authorization: {type: Token, credentials: abc}").unwrap();
        assert_eq!(header(&c), "Token abc");
        let c: HttpClientConfig =
            serde_norway::from_str("bearer_token_file: /nonexistent/t").unwrap();
        let err = c.authorize(client.get("http://127.0.0.1:1/")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unable to read bearer token file /nonexistent/t: "),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_masked_when_printed() {
        let c: HttpClientConfig = serde_norway::from_str(
            "{basic_auth: {username: u, password: p}, tls_config: {cert: c, key: k}}",
        )
        .unwrap();
        let text = serde_norway::to_string(&c).unwrap();
        assert!(text.contains("password: <secret>"), "{text}");
        assert!(text.contains("key: <secret>"), "{text}");
        assert!(text.contains("username: u"), "{text}");
    }

    #[test]
    fn relative_paths_join_the_config_directory() {
        let mut c: HttpClientConfig =
            serde_norway::from_str("{bearer_token_file: t, tls_config: {ca_file: /abs/ca}}")
                .unwrap();
        c.set_directory(Path::new("/etc/p"));
        assert_eq!(c.bearer_token_file, "/etc/p/t");
        assert_eq!(c.tls_config.ca_file, "/abs/ca");
    }
}
