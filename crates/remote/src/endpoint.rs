//! One remote endpoint's HTTP client: URL, timeout, credentials and extra headers from
//! the `remote_write`/`remote_read` configuration, shared by the write queue and the
//! read client.

use std::collections::BTreeMap;
use std::time::Duration;

use promlite_scrape::HttpClientConfig;
use reqwest::header::USER_AGENT;

use crate::RemoteError;

/// The `User-Agent` promlite sends to remote endpoints.
pub const USER_AGENT_VALUE: &str = concat!("promlite/", env!("CARGO_PKG_VERSION"));

/// A configured endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    client: reqwest::Client,
    pub(crate) url: String,
    timeout: Duration,
    headers: BTreeMap<String, String>,
    http: HttpClientConfig,
}

impl Endpoint {
    /// A client for `url` with the endpoint's settings, `tls_config` included. OAuth 2.0
    /// is refused rather than silently ignored.
    pub(crate) fn new(
        url: &str,
        timeout: Duration,
        headers: &BTreeMap<String, String>,
        http: &HttpClientConfig,
    ) -> Result<Endpoint, RemoteError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| RemoteError::Config(format!("invalid URL {url:?}: {e}")))?;
        if parsed.scheme() == "https" && !cfg!(feature = "https") {
            return Err(RemoteError::Config(format!(
                "{url}: https endpoints need promlite-remote's `https` feature"
            )));
        }
        if http.oauth2.is_some() {
            return Err(RemoteError::Config(
                "oauth2 is not supported for remote endpoints yet".into(),
            ));
        }
        let b = promlite_scrape::client_builder(http)
            .map_err(|e| RemoteError::Config(e.to_string()))?;
        Ok(Endpoint {
            client: b.build()?,
            url: url.to_owned(),
            timeout,
            headers: headers.clone(),
            http: http.clone(),
        })
    }

    /// A POST to the endpoint with credentials, headers, `User-Agent` and timeout set.
    /// Credential files are read on every request, so rotated secrets take effect.
    pub(crate) fn post(&self) -> Result<reqwest::RequestBuilder, RemoteError> {
        let mut req = self
            .client
            .post(&self.url)
            .timeout(self.timeout)
            .header(USER_AGENT, USER_AGENT_VALUE);
        req = promlite_scrape::with_credentials(req, &self.http)
            .map_err(|e| RemoteError::Config(e.to_string()))?;
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        Ok(req)
    }
}

/// Reads a response's status and, for errors, the start of its body.
pub(crate) async fn error_for_status(
    resp: reqwest::Response,
) -> Result<reqwest::Response, RemoteError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(512).collect();
    Err(RemoteError::HttpStatus {
        status: status.as_u16(),
        body: body.trim_end().to_owned(),
    })
}
