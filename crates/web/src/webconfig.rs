//! `--web.config.file`: TLS, basic authentication and response headers for the HTTP
//! server, in the format of Prometheus's exporter-toolkit (`tls_server_config`,
//! `http_server_config`, `basic_auth_users`).
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt        # relative paths are relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: ca.crt
//! basic_auth_users:
//!   alice: $2y$10$...            # bcrypt hash (`htpasswd -nBC 10 alice`)
//! http_server_config:
//!   headers:
//!     X-Frame-Options: deny
//! ```
//!
//! Certificates are read when the file is loaded; restart or reload the server to pick
//! up new ones (Prometheus re-reads them on every handshake).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

use crate::Error;

/// The YAML, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    cert_file: String,
    #[serde(default)]
    key_file: String,
    #[serde(default)]
    cert: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    client_auth_type: String,
    #[serde(default)]
    client_ca_file: String,
    #[serde(default)]
    client_ca: String,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
    #[serde(default)]
    cipher_suites: Vec<String>,
    #[serde(default)]
    curve_preferences: Vec<String>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default)]
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// A loaded and validated web configuration.
pub struct WebConfig {
    tls: Option<Arc<ServerConfig>>,
    users: BTreeMap<String, String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// `(user, password)` pairs already checked against their hash, as Prometheus caches
    /// them: bcrypt is deliberately slow.
    verified: Mutex<HashSet<(String, String)>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::WebConfig(format!("{}: {msg}", path.display()))
}

/// The headers exporter-toolkit lets a web config set, and the values it allows.
fn check_header(name: &str, value: &str) -> Result<(), String> {
    match name {
        "Strict-Transport-Security" | "X-XSS-Protection" | "Content-Security-Policy" => Ok(()),
        "X-Content-Type-Options" if value == "nosniff" => Ok(()),
        "X-Content-Type-Options" => Err(format!(
            "invalid value for {name}. Expected one of: [\"nosniff\"], but got: {value:?}"
        )),
        "X-Frame-Options"
            if matches!(value.to_ascii_lowercase().as_str(), "deny" | "sameorigin") =>
        {
            Ok(())
        }
        "X-Frame-Options" => Err(format!(
            "invalid value for {name}. Expected one of: [\"deny\" \"sameorigin\"], but got: {value:?}"
        )),
        _ => Err(format!("HTTP header {name:?} can not be configured")),
    }
}

/// A TLS version name of the web config, as a number (`TLS12` → 12).
fn tls_version(v: &str) -> Option<u8> {
    match v {
        "TLS12" => Some(12),
        "TLS13" => Some(13),
        _ => None,
    }
}

impl WebConfig {
    /// Reads and validates `path`: unknown fields, bcrypt hashes, headers, and the TLS
    /// certificate, key and client CA (which must load).
    pub fn load(path: &Path) -> Result<WebConfig, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| bad(path, e))?;
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_norway::from_str(&text).map_err(|e| bad(path, e))?
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        for (user, hash) in &raw.basic_auth_users {
            hash.parse::<bcrypt::HashParts>()
                .map_err(|e| bad(path, format!("invalid bcrypt hash for user {user:?}: {e}")))?;
        }
        let mut headers = Vec::new();
        if let Some(http) = &raw.http_server_config {
            // `http2` is accepted and has no effect: the server speaks HTTP/1.1.
            let _ = http.http2;
            for (name, value) in &http.headers {
                check_header(name, value).map_err(|e| bad(path, e))?;
                let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(path, e))?;
                let v = HeaderValue::from_str(value).map_err(|e| bad(path, e))?;
                headers.push((n, v));
            }
        }
        let tls = match &raw.tls_server_config {
            Some(t) if Self::tls_enabled(t) => Some(Arc::new(Self::tls(path, dir, t)?)),
            _ => None,
        };
        Ok(WebConfig {
            tls,
            users: raw.basic_auth_users,
            headers,
            verified: Mutex::new(HashSet::new()),
        })
    }

    fn tls_enabled(t: &RawTls) -> bool {
        [
            &t.cert_file,
            &t.key_file,
            &t.cert,
            &t.key,
            &t.client_ca_file,
            &t.client_ca,
        ]
        .iter()
        .any(|s| !s.is_empty())
            || !t.client_auth_type.is_empty()
    }

    fn tls(path: &Path, dir: &Path, t: &RawTls) -> Result<ServerConfig, Error> {
        let join = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_owned()
            } else {
                dir.join(p)
            }
        };
        if t.cert_file.is_empty() && t.cert.is_empty() {
            return Err(bad(path, "missing one of cert or cert_file"));
        }
        if t.key_file.is_empty() && t.key.is_empty() {
            return Err(bad(path, "missing one of key or key_file"));
        }
        let read = |file: &str, inline: &str, what: &str| -> Result<Vec<u8>, Error> {
            if file.is_empty() {
                Ok(inline.as_bytes().to_vec())
            } else {
                let p = join(file);
                std::fs::read(&p).map_err(|e| {
                    bad(
                        path,
                        format!("failed to read {what} ({}): {e}", p.display()),
                    )
                })
            }
        };
        let cert_pem = read(&t.cert_file, &t.cert, "cert_file")?;
        let key_pem = read(&t.key_file, &t.key, "key_file")?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| bad(path, format!("failed to load X509KeyPair: {e}")))?;
        if certs.is_empty() {
            return Err(bad(
                path,
                "failed to load X509KeyPair: no certificate in the certificate PEM",
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| bad(path, format!("failed to load X509KeyPair: {e}")))?;

        let versions: Vec<&'static rustls::SupportedProtocolVersion> = {
            let parse = |v: &Option<String>, default: &'static str| -> Result<u8, Error> {
                let v = v.as_deref().unwrap_or(default);
                tls_version(v).ok_or_else(|| bad(path, format!("unknown TLS version: {v}")))
            };
            let (min, max) = (
                parse(&t.min_version, "TLS12")?,
                parse(&t.max_version, "TLS13")?,
            );
            [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
                .into_iter()
                .filter(|(n, _)| *n >= min && *n <= max)
                .map(|(_, v)| v)
                .collect()
        };
        if versions.is_empty() {
            return Err(bad(path, "min_version is above max_version"));
        }
        if !t.cipher_suites.is_empty() || !t.curve_preferences.is_empty() {
            tracing::warn!(
                "web config: cipher_suites and curve_preferences are not applied; rustls's safe defaults are used"
            );
        }
        let _ = t.prefer_server_cipher_suites;

        let ca_pem = if t.client_ca_file.is_empty() {
            t.client_ca.as_bytes().to_vec()
        } else {
            let p = join(&t.client_ca_file);
            std::fs::read(&p).map_err(|e| bad(path, format!("{}: {e}", p.display())))?
        };
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&ca_pem) {
            let c = c.map_err(|e| bad(path, format!("client CA: {e}")))?;
            roots
                .add(c)
                .map_err(|e| bad(path, format!("client CA: {e}")))?;
        }
        let has_ca = !roots.is_empty();
        let builder = ServerConfig::builder_with_protocol_versions(&versions);
        let verify =
            |optional: bool| -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, Error> {
                if !has_ca {
                    return Err(bad(
                        path,
                        "client_auth_type needs a client_ca_file to verify against",
                    ));
                }
                let b = WebPkiClientVerifier::builder(Arc::new(roots.clone()));
                let b = if optional {
                    b.allow_unauthenticated()
                } else {
                    b
                };
                b.build().map_err(|e| bad(path, e))
            };
        let builder = match t.client_auth_type.as_str() {
            "" | "NoClientCert" => {
                if has_ca {
                    return Err(bad(
                        path,
                        "client CA's have been configured without a Client Auth Policy",
                    ));
                }
                builder.with_no_client_auth()
            }
            "RequireAndVerifyClientCert" => builder.with_client_cert_verifier(verify(false)?),
            "VerifyClientCertIfGiven" => builder.with_client_cert_verifier(verify(true)?),
            "RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert" => {
                return Err(bad(
                    path,
                    format!(
                        "client_auth_type {} (accepting unverified client certificates) is not supported; use RequireAndVerifyClientCert or VerifyClientCertIfGiven",
                        t.client_auth_type
                    ),
                ));
            }
            other => return Err(bad(path, format!("invalid ClientAuth: {other}"))),
        };
        let mut cfg = builder
            .with_single_cert(certs, key)
            .map_err(|e| bad(path, format!("failed to load X509KeyPair: {e}")))?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(cfg)
    }

    /// Whether connections are served over TLS.
    pub fn tls_enabled_for_serving(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether `user`/`password` are allowed (always, when no users are configured).
    fn allowed(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            // Spend the same time on unknown users, as Prometheus does, so that
            // timing does not reveal which users exist: check against some hash.
            if let Some(any) = self.users.values().next() {
                let _ = bcrypt::verify(password, any);
            }
            return false;
        };
        let key = (user.to_owned(), password.to_owned());
        if self
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&key)
        {
            return true;
        }
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            let mut v = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
            if v.len() > 1000 {
                v.clear();
            }
            v.insert(key);
        }
        ok
    }

    /// `router` with basic authentication and the configured headers.
    pub(crate) fn wrap(self: &Arc<Self>, router: Router) -> Router {
        let cfg = Arc::clone(self);
        router.layer(axum::middleware::from_fn(
            move |req: Request<Body>, next: Next| {
                let cfg = Arc::clone(&cfg);
                async move { cfg.handle(req, next).await }
            },
        ))
    }

    async fn handle(self: Arc<Self>, req: Request<Body>, next: Next) -> Response {
        if !self.users.is_empty() {
            let creds = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_basic);
            let ok = match creds {
                Some((user, password)) => {
                    let cfg = Arc::clone(&self);
                    tokio::task::spawn_blocking(move || cfg.allowed(&user, &password))
                        .await
                        .unwrap_or(false)
                }
                None => false,
            };
            if !ok {
                let mut r = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
                self.add_headers(&mut r);
                return r;
            }
        }
        let mut r = next.run(req).await;
        self.add_headers(&mut r);
        r
    }

    fn add_headers(&self, r: &mut Response) {
        for (n, v) in &self.headers {
            r.headers_mut().insert(n.clone(), v.clone());
        }
    }
}

/// `Basic base64(user:password)`.
fn parse_basic(v: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let b64 = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// A listener that completes TLS handshakes in the background (one slow client does not
/// hold up the others) and hands out finished connections.
pub(crate) struct TlsListener {
    rx: mpsc::Receiver<(TlsConn, SocketAddr)>,
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsListener {
    pub(crate) fn new(
        listener: TcpListener,
        cfg: Arc<ServerConfig>,
        slots: crate::conn::Slots,
    ) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(cfg);
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            loop {
                // A slot is taken before the handshake, as Prometheus limits TCP
                // connections, and given back when the connection closes.
                let (tcp, addr) = slots.accept(&listener).await;
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%addr, err = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local, task })
    }
}

/// A TLS connection over a counted TCP connection.
pub(crate) type TlsConn = tokio_rustls::server::TlsStream<crate::conn::Counted<TcpStream>>;

impl axum::serve::Listener for TlsListener {
    type Io = TlsConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

impl WebConfig {
    pub(crate) fn server_config(&self) -> Option<Arc<ServerConfig>> {
        self.tls.clone()
    }
}
