//! The HTTP side of a scrape: one client per job, the request Prometheus sends (Accept,
//! compression, timeout header, credentials) and a size-limited, gzip-aware body read.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use promlite_exposition::{Format, accept_header, negotiate};
use reqwest::header::{
    ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT,
};

use crate::conn::{BodyAt, Exchanged, Route, Session};
use crate::{Error, HttpClientConfig, OAuth2, ScrapeConfig};

/// The `User-Agent` of scrapes.
const AGENT: &str = concat!("promlite/", env!("CARGO_PKG_VERSION"));

/// A job's HTTP client and the request settings its scrapes share.
#[derive(Debug, Clone)]
pub struct HttpScraper {
    client: reqwest::Client,
    accept: String,
    compression: bool,
    body_limit: u64,
    fallback: Option<Format>,
    config: ScrapeConfig,
    oauth2: Option<Arc<OAuth2Source>>,
}

/// A scraped body and how to read it.
#[derive(Debug)]
pub struct Response {
    /// The body, decompressed.
    pub body: Vec<u8>,
    /// The format to parse it in.
    pub format: Format,
}

impl HttpScraper {
    /// A client for `config` (a job with defaults applied).
    pub fn new(config: &ScrapeConfig) -> Result<HttpScraper, Error> {
        let http = &config.http_client_config;
        let oauth2 = http
            .oauth2
            .as_ref()
            .map(OAuth2Source::new)
            .transpose()?
            .map(Arc::new);
        let b = client_builder(http)?;
        let escaping = if config.metric_name_escaping_scheme.is_empty() {
            "allow-utf-8"
        } else {
            &config.metric_name_escaping_scheme
        };
        Ok(HttpScraper {
            client: b.build()?,
            accept: accept_header(config.protocols(), escaping),
            compression: config.enable_compression,
            body_limit: config.body_size_limit.0,
            fallback: config
                .fallback_scrape_protocol
                .map(promlite_exposition::ScrapeProtocol::format),
            config: config.clone(),
            oauth2,
        })
    }

    /// The request of a scrape of `url` within `timeout`, with its headers.
    async fn request(
        &self,
        url: &str,
        timeout: Duration,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let http = &self.config.http_client_config;
        let mut req = self
            .client
            .get(url)
            .timeout(timeout)
            .header(ACCEPT, &self.accept)
            .header(USER_AGENT, AGENT)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format_seconds(timeout),
            )
            .header(
                ACCEPT_ENCODING,
                if self.compression { "gzip" } else { "identity" },
            );
        req = with_credentials(req, http)?;
        if let Some(o) = &self.oauth2 {
            req = req.header(AUTHORIZATION, o.authorization(timeout).await?);
        }
        Ok(req)
    }

    /// How `url`'s scrapes go out: over a connection of their own for plain `http`
    /// without a proxy or credentials in the URL, else through the client. Sets the
    /// session's address to connect to.
    fn route(&self, s: &mut Session, url: &str) -> Route {
        let http = &self.config.http_client_config;
        if http.proxy_url.is_some() || http.proxy_from_environment {
            return Route::Client;
        }
        let Ok(u) = url::Url::parse(url) else {
            return Route::Client;
        };
        let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default()) else {
            return Route::Client;
        };
        if u.scheme() != "http" || !u.username().is_empty() || u.password().is_some() {
            return Route::Client;
        }
        s.authority = format!("{host}:{port}");
        // Credentials read from files (rotated secrets) or fetched by OAuth 2.0 may change
        // from one scrape to the next; the others are rendered once.
        let files = http
            .basic_auth
            .as_ref()
            .is_some_and(|b| b.username_file.is_some() || b.password_file.is_some())
            || http
                .authorization
                .as_ref()
                .is_some_and(|a| a.credentials_file.is_some())
            || http.http_headers.values().any(|h| !h.files.is_empty());
        if files || self.oauth2.is_some() {
            Route::DirectDynamic
        } else {
            Route::DirectStatic
        }
    }

    /// Renders the request head of a scrape of `url` into the session: the headers
    /// [`scrape`](Self::scrape) sends, in HTTP/1.1.
    async fn render_head(
        &self,
        s: &mut Session,
        url: &str,
        timeout: Duration,
    ) -> Result<(), Error> {
        let req = self.request(url, timeout).await?.build()?;
        let u = req.url();
        let h = &mut s.head;
        h.clear();
        h.extend_from_slice(b"GET ");
        h.extend_from_slice(u.path().as_bytes());
        if let Some(q) = u.query() {
            h.push(b'?');
            h.extend_from_slice(q.as_bytes());
        }
        h.extend_from_slice(b" HTTP/1.1\r\n");
        if !req.headers().contains_key(reqwest::header::HOST) {
            h.extend_from_slice(b"host: ");
            h.extend_from_slice(u.host_str().unwrap_or_default().as_bytes());
            if let Some(p) = u.port() {
                h.extend_from_slice(format!(":{p}").as_bytes());
            }
            h.extend_from_slice(b"\r\n");
        }
        for (name, value) in req.headers() {
            h.extend_from_slice(name.as_str().as_bytes());
            h.extend_from_slice(b": ");
            h.extend_from_slice(value.as_bytes());
            h.extend_from_slice(b"\r\n");
        }
        h.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Scrapes `url` within `timeout` for the target whose connection and buffers are
    /// `s`; the body is read from `s` with [`Session::body`].
    pub(crate) async fn scrape_with(
        &self,
        s: &mut Session,
        url: &str,
        timeout: Duration,
    ) -> Result<(BodyAt, Format), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        if s.route == Route::Unknown {
            s.route = self.route(s, url);
        }
        if s.route != Route::Client {
            if s.route == Route::DirectDynamic || s.head.is_empty() {
                tokio::time::timeout_at(deadline, self.render_head(s, url, timeout))
                    .await
                    .map_err(|_| Error::Timeout(timeout))??;
            }
            let limit = if self.body_limit == 0 {
                u64::MAX
            } else {
                self.body_limit
            };
            let follow = self.config.http_client_config.follow_redirects;
            match tokio::time::timeout_at(deadline, s.exchange(url, limit, follow)).await {
                Err(_) => {
                    s.disconnect();
                    return Err(Error::Timeout(timeout));
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Exchanged::Ok { body, content_type })) => {
                    let format = negotiate(s.text(&content_type), self.fallback)?.format;
                    return Ok((body, format));
                }
                // The client follows it, within what is left of the timeout.
                Ok(Ok(Exchanged::Redirect)) => {}
            }
        }
        let r = tokio::time::timeout_at(deadline, self.scrape(url, timeout))
            .await
            .map_err(|_| Error::Timeout(timeout))??;
        s.out = r.body;
        Ok((BodyAt::Out, r.format))
    }

    /// Scrapes `url` within `timeout`.
    pub async fn scrape(&self, url: &str, timeout: Duration) -> Result<Response, Error> {
        let req = self.request(url, timeout).await?;
        let to_err = |e: reqwest::Error| {
            if e.is_timeout() {
                Error::Timeout(timeout)
            } else {
                Error::Http(e)
            }
        };
        let mut resp = req.send().await.map_err(to_err)?;
        if resp.status() != reqwest::StatusCode::OK {
            let s = resp.status();
            return Err(Error::Status(format!(
                "{} {}",
                s.as_u16(),
                s.canonical_reason().unwrap_or_default()
            )));
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let gzip = resp
            .headers()
            .get(CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let limit = if self.body_limit == 0 {
            u64::MAX
        } else {
            self.body_limit
        };
        // Sized once from Content-Length (within the limit, and never more than 16 MiB on
        // a peer's word) rather than grown chunk by chunk.
        let expected = resp.content_length().unwrap_or(0).min(limit).min(16 << 20);
        let mut raw = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        while let Some(chunk) = resp.chunk().await.map_err(to_err)? {
            raw.extend_from_slice(&chunk);
            if !gzip && raw.len() as u64 > limit {
                return Err(Error::BodySizeLimit);
            }
        }
        let body = if gzip {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(raw.as_slice())
                .take(limit.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(Error::Gzip)?;
            if out.len() as u64 > limit {
                return Err(Error::BodySizeLimit);
            }
            out
        } else {
            raw
        };
        let format = negotiate(&content_type, self.fallback)?.format;
        Ok(Response { body, format })
    }
}

/// An OAuth 2.0 client-credentials token source, as Prometheus's `oauth2` settings make
/// one (Go's `clientcredentials.Config`): the token is fetched on the first scrape and
/// reused until 10 s before it expires; the secret file is read at each fetch.
#[derive(Debug)]
struct OAuth2Source {
    config: OAuth2,
    client: reqwest::Client,
    /// The `Authorization` value and when it stops being good.
    token: tokio::sync::Mutex<Option<(String, Option<Instant>)>>,
}

/// The token endpoint's answer (RFC 6749 section 5.1).
#[derive(Debug, serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: String,
    /// Seconds; some servers send it as a string.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

impl OAuth2Source {
    fn new(config: &OAuth2) -> Result<OAuth2Source, Error> {
        let mut b = apply_tls_config(reqwest::Client::builder(), &config.tls_config)?;
        b = match &config.proxy_url {
            Some(p) => b.proxy(reqwest::Proxy::all(p.as_str())?),
            None => b.no_proxy(),
        };
        Ok(OAuth2Source {
            config: config.clone(),
            client: b.build()?,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// The `Authorization` header value, fetching a token when there is none or it is
    /// about to expire.
    async fn authorization(&self, timeout: Duration) -> Result<String, Error> {
        let mut cached = self.token.lock().await;
        if let Some((value, expiry)) = &*cached
            && expiry.is_none_or(|e| Instant::now() + Duration::from_secs(10) < e)
        {
            return Ok(value.clone());
        }
        let c = &self.config;
        let secret = match &c.client_secret_file {
            Some(f) => read_secret(f)?,
            None => c.client_secret.clone(),
        };
        let form = {
            let mut f = url::form_urlencoded::Serializer::new(String::new());
            f.append_pair("grant_type", "client_credentials");
            if !c.scopes.is_empty() {
                f.append_pair("scope", &c.scopes.join(" "));
            }
            for (k, v) in &c.endpoint_params {
                f.append_pair(k, v);
            }
            f.finish()
        };
        // RFC 6749 section 2.3.1: the id and secret are form-encoded inside basic auth.
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let resp = self
            .client
            .post(&c.token_url)
            .timeout(timeout)
            .basic_auth(enc(&c.client_id), Some(enc(&secret)))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(USER_AGENT, AGENT)
            .body(form)
            .send()
            .await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            return Err(Error::OAuth2(format!(
                "cannot fetch token: {} {}\nResponse: {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or_default(),
                String::from_utf8_lossy(&body)
            )));
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| Error::OAuth2(format!("cannot parse token response: {e}")))?;
        if t.access_token.is_empty() {
            return Err(Error::OAuth2("server response missing access_token".into()));
        }
        let seconds = match &t.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let expiry = seconds
            .filter(|s| *s > 0)
            .map(|s| Instant::now() + Duration::from_secs(s));
        // Go's `Token.Type`: the type as sent, with the common spellings of Bearer fixed.
        let kind = if t.token_type.is_empty() || t.token_type.eq_ignore_ascii_case("bearer") {
            "Bearer"
        } else {
            t.token_type.as_str()
        };
        let value = format!("{kind} {}", t.access_token);
        *cached = Some((value.clone(), expiry));
        Ok(value)
    }
}

/// Seconds as Go's `strconv.FormatFloat(s, 'f', -1, 64)` prints them.
fn format_seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    format!("{s}")
}

/// PEM text given inline or in a file (`what` names it in errors, as Prometheus does).
#[cfg(feature = "https")]
fn pem(
    inline: Option<&String>,
    file: Option<&String>,
    what: &str,
) -> Result<Option<Vec<u8>>, Error> {
    if let Some(f) = file.filter(|f| !f.is_empty()) {
        return std::fs::read(f)
            .map(Some)
            .map_err(|e| Error::Config(format!("unable to load specified {what} {f}: {e}")));
    }
    Ok(inline
        .filter(|s| !s.is_empty())
        .map(|s| s.as_bytes().to_vec()))
}

/// A TLS version as Prometheus's configuration names it. rustls speaks TLS 1.2 and 1.3
/// only, so `TLS10` and `TLS11` as a minimum are met by 1.2, and as a maximum cannot be.
#[cfg(feature = "https")]
fn tls_version(v: &str, max: bool) -> Result<Option<reqwest::tls::Version>, Error> {
    match v {
        "" => Ok(None),
        "TLS13" => Ok(Some(reqwest::tls::Version::TLS_1_3)),
        "TLS12" => Ok(Some(reqwest::tls::Version::TLS_1_2)),
        "TLS10" | "TLS11" if !max => Ok(None),
        _ => Err(Error::Config(format!(
            "tls_config: promlite cannot use TLS version {v} (rustls speaks TLS12 and TLS13)"
        ))),
    }
}

/// An HTTP client builder for `http`: redirects, `tls_config` and the proxy settings.
/// Shared by everything that talks to configured endpoints (scrape targets, remote write
/// and read, Alertmanagers); credentials go on each request ([`with_credentials`]).
pub fn client_builder(http: &HttpClientConfig) -> Result<reqwest::ClientBuilder, Error> {
    let redirects = if http.follow_redirects {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    let mut b = apply_tls_config(
        reqwest::Client::builder().redirect(redirects),
        &http.tls_config,
    )?;
    if let Some(p) = &http.proxy_url {
        b = b.proxy(reqwest::Proxy::all(p.as_str()).map_err(Error::Http)?);
    } else if !http.proxy_from_environment {
        b = b.no_proxy();
    }
    Ok(b)
}

/// Adds `http`'s credentials (`basic_auth`, `authorization`) and `http_headers` to a
/// request. Files are read on every call, so rotated secrets take effect; OAuth 2.0,
/// which needs a token exchange, is the caller's.
pub fn with_credentials(
    mut req: reqwest::RequestBuilder,
    http: &HttpClientConfig,
) -> Result<reqwest::RequestBuilder, Error> {
    if let Some(b) = &http.basic_auth {
        let user = match &b.username_file {
            Some(f) => read_secret(f)?,
            None => b.username.clone(),
        };
        let pass = match &b.password_file {
            Some(f) => read_secret(f)?,
            None => b.password.clone(),
        };
        req = req.basic_auth(user, Some(pass));
    }
    if let Some(a) = &http.authorization {
        let cred = match &a.credentials_file {
            Some(f) => read_secret(f)?,
            None => a.credentials.clone(),
        };
        req = req.header(AUTHORIZATION, format!("{} {cred}", a.scheme()));
    }
    for (name, h) in &http.http_headers {
        for v in h.values.iter().chain(&h.secrets) {
            req = req.header(name.as_str(), v.as_str());
        }
        for f in &h.files {
            req = req.header(name.as_str(), read_secret(f)?);
        }
    }
    Ok(req)
}

/// Applies `tls_config` to an HTTP client: the CA that alone is trusted when given (as
/// Go's `RootCAs`), the client certificate, skipping verification and the version
/// bounds. Shared by everything that speaks to configured endpoints over HTTPS (scrape
/// targets, remote write and read).
#[cfg(feature = "https")]
pub fn apply_tls_config(
    mut b: reqwest::ClientBuilder,
    tls: &crate::TlsConfig,
) -> Result<reqwest::ClientBuilder, Error> {
    let bad =
        |what: &str, e: reqwest::Error| Error::Config(format!("tls_config: invalid {what}: {e}"));
    if tls.server_name.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(Error::Config(
            "tls_config: server_name is not supported by promlite yet".into(),
        ));
    }
    if let Some(ca) = pem(tls.ca.as_ref(), tls.ca_file.as_ref(), "CA cert")? {
        let certs =
            reqwest::Certificate::from_pem_bundle(&ca).map_err(|e| bad("CA certificate", e))?;
        b = b.tls_certs_only(certs);
    }
    let cert = pem(tls.cert.as_ref(), tls.cert_file.as_ref(), "client cert")?;
    let key = pem(tls.key.as_ref(), tls.key_file.as_ref(), "client key")?;
    if let (Some(mut cert), Some(key)) = (cert, key) {
        cert.push(b'\n');
        cert.extend(key);
        b = b.identity(
            reqwest::Identity::from_pem(&cert).map_err(|e| bad("client certificate or key", e))?,
        );
    }
    if tls.insecure_skip_verify {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    if let Some(v) = tls_version(tls.min_version.as_deref().unwrap_or_default(), false)? {
        b = b.tls_version_min(v);
    }
    if let Some(v) = tls_version(tls.max_version.as_deref().unwrap_or_default(), true)? {
        b = b.tls_version_max(v);
    }
    Ok(b)
}

/// Without the `https` feature there is no TLS to configure: scrapes of `https` URLs
/// fail, each with the client's error on the targets page, as before.
#[cfg(not(feature = "https"))]
#[allow(clippy::unnecessary_wraps)] // The same signature as with the feature.
pub fn apply_tls_config(
    b: reqwest::ClientBuilder,
    _tls: &crate::TlsConfig,
) -> Result<reqwest::ClientBuilder, Error> {
    Ok(b)
}

fn read_secret(path: &str) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| Error::Config(format!("unable to read file {path}: {e}")))
}
