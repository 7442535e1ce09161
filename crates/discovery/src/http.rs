//! `http_sd_configs`: target groups fetched as JSON from an HTTP endpoint every
//! `refresh_interval`.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::{Deserialize, Deserializer, Serialize};
use tokio::sync::mpsc;

use crate::discoverer::{BoxFuture, Refresh, run_refresh};
use crate::group::{Format, indexed_groups, indexed_source, parse_target_groups};
use crate::{
    Authorization, BasicAuth, Discoverer, Error, HttpClientConfig, PromDuration, TargetGroup,
    Update,
};

/// The label naming the URL a group came from.
pub const URL_LABEL: &str = "__meta_url";

/// The default `refresh_interval` of HTTP SD: one minute.
pub const DEFAULT_HTTP_REFRESH: PromDuration = PromDuration::from_secs(60);

/// The content types Prometheus accepts, after trimming spaces.
static JSON_CONTENT_TYPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^(?i:application/json(;\s*charset=("utf-8"|utf-8))?)$"#).expect("valid regex")
});

/// One entry of `http_sd_configs`.
///
/// Of Prometheus's inline HTTP client settings, `basic_auth`, `authorization` and
/// `follow_redirects` are supported (`enable_http2` is accepted and has no effect);
/// others, such as `tls_config` or `oauth2`, are rejected as unknown fields rather than
/// silently ignored.
///
/// ```
/// use promlite_discovery::HttpSdConfig;
///
/// let c: HttpSdConfig = serde_norway::from_str("url: http://sd.local/targets").unwrap();
/// assert_eq!(c.refresh_interval.to_string(), "1m");
/// let err = serde_norway::from_str::<HttpSdConfig>("url: ftp://sd.local/").unwrap_err();
/// assert!(err.to_string().contains("URL scheme must be 'http' or 'https'"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpSdConfig {
    /// The endpoint returning target groups.
    pub url: String,
    /// How often to fetch it; also the request timeout.
    pub refresh_interval: PromDuration,
    /// HTTP basic authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// An `Authorization` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// Whether to follow redirects (default true).
    pub follow_redirects: bool,
}

impl HttpSdConfig {
    /// A configuration for `url` with default settings, validated.
    pub fn new(url: impl Into<String>) -> Result<HttpSdConfig, Error> {
        let c = HttpSdConfig {
            url: url.into(),
            refresh_interval: DEFAULT_HTTP_REFRESH,
            basic_auth: None,
            authorization: None,
            follow_redirects: true,
        };
        c.validate()?;
        Ok(c)
    }

    /// The client settings of this configuration, shared with the other mechanisms.
    pub fn client_config(&self) -> HttpClientConfig {
        HttpClientConfig {
            basic_auth: self.basic_auth.clone(),
            authorization: self.authorization.clone(),
            follow_redirects: self.follow_redirects,
            ..HttpClientConfig::default()
        }
    }

    /// Joins relative credential file paths with `dir`, the configuration file's
    /// directory.
    pub fn set_directory(&mut self, dir: &std::path::Path) {
        let mut c = self.client_config();
        c.set_directory(dir);
        self.basic_auth = c.basic_auth;
        self.authorization = c.authorization;
    }

    /// Prometheus's checks of the URL and of the credentials.
    pub fn validate(&self) -> Result<(), Error> {
        if self.url.is_empty() {
            return Err(Error::MissingUrl);
        }
        let parsed = url::Url::parse(&self.url);
        if let Err(e) = &parsed
            && *e != url::ParseError::EmptyHost
        {
            return Err(Error::InvalidUrl {
                url: self.url.clone(),
                message: e.to_string(),
            });
        }
        let (scheme, rest) = self.url.split_once(':').unwrap_or(("", ""));
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(Error::UrlScheme);
        }
        // The host is checked on the text, as Go's parser sees it: the WHATWG parser
        // behind `Url` reads `http:///x` as host `x`, where Go finds no host.
        let authority = rest
            .strip_prefix("//")
            .map_or("", |a| a.split(['/', '?', '#']).next().unwrap_or(""));
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if host.is_empty() {
            return Err(Error::UrlMissingHost);
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for HttpSdConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            url: Option<String>,
            #[serde(default)]
            refresh_interval: Option<PromDuration>,
            #[serde(default)]
            basic_auth: Option<BasicAuth>,
            #[serde(default)]
            authorization: Option<Authorization>,
            #[serde(default)]
            follow_redirects: Option<bool>,
            #[serde(default)]
            #[allow(dead_code)] // Accepted for compatibility; HTTP/1.1 is always used.
            enable_http2: Option<bool>,
        }
        let raw = Raw::deserialize(d)?;
        let c = HttpSdConfig {
            url: raw.url.unwrap_or_default(),
            refresh_interval: raw.refresh_interval.unwrap_or(DEFAULT_HTTP_REFRESH),
            basic_auth: raw.basic_auth,
            authorization: raw.authorization,
            follow_redirects: raw.follow_redirects.unwrap_or(true),
        };
        c.validate().map_err(serde::de::Error::custom)?;
        c.client_config()
            .validate()
            .map_err(serde::de::Error::custom)?;
        Ok(c)
    }
}

/// Fetches `http_sd_configs` endpoints: Prometheus's HTTP discovery.
///
/// Each refresh sends `GET` with `Accept: application/json` and
/// `X-Prometheus-Refresh-Interval-Seconds`, and fails unless the answer is `200` with a
/// JSON content type. A failed refresh keeps the last groups; a successful one
/// withdraws the groups past the end of the new list.
#[derive(Debug)]
pub struct HttpDiscoverer {
    config: HttpSdConfig,
}

impl HttpDiscoverer {
    /// A discoverer for `config`.
    pub fn new(config: HttpSdConfig) -> HttpDiscoverer {
        HttpDiscoverer { config }
    }
}

impl Discoverer for HttpDiscoverer {
    fn run(self: Box<Self>, updates: mpsc::Sender<Update>) -> BoxFuture<()> {
        Box::pin(async move {
            let interval = self.config.refresh_interval.as_std();
            let http = self.config.client_config();
            let client = match http.client(Some(interval)) {
                Ok(c) => c,
                Err(e) => {
                    let _ = updates.send(Err(e)).await;
                    return;
                }
            };
            let refresher = HttpRefresh {
                config: self.config,
                http,
                client,
                last_len: 0,
            };
            run_refresh(refresher, interval, updates, "http").await;
        })
    }
}

struct HttpRefresh {
    config: HttpSdConfig,
    http: HttpClientConfig,
    client: reqwest::Client,
    last_len: usize,
}

impl HttpRefresh {
    async fn fetch(&self) -> Result<Vec<TargetGroup>, Error> {
        let c = &self.config;
        let req = self
            .http
            .authorize(self.client.get(&c.url))?
            .header(ACCEPT, "application/json")
            .header(
                "X-Prometheus-Refresh-Interval-Seconds",
                refresh_header(c.refresh_interval.as_std()),
            );
        let resp = req.send().await?;
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        check_response(resp.status().as_u16(), &content_type)?;
        let body = resp.bytes().await?;
        response_groups(&c.url, &body)
    }
}

impl Refresh for HttpRefresh {
    async fn refresh(&mut self) -> Vec<Update> {
        match self.fetch().await {
            Ok(mut groups) => {
                let len = groups.len();
                groups.extend(
                    (len..self.last_len)
                        .map(|i| TargetGroup::empty(indexed_source(&self.config.url, i))),
                );
                self.last_len = len;
                vec![Ok(groups)]
            }
            Err(e) => vec![Err(e)],
        }
    }
}

/// The refresh interval in seconds as Go's `FormatFloat(v, 'f', -1, 64)` prints it.
fn refresh_header(interval: Duration) -> String {
    interval.as_secs_f64().to_string()
}

/// Prometheus's acceptance of an HTTP SD answer: status 200 and a JSON content type
/// (`application/json`, optionally with a UTF-8 charset).
pub fn check_response(status: u16, content_type: &str) -> Result<(), Error> {
    if status != 200 {
        let text = reqwest::StatusCode::from_u16(status)
            .map_or_else(|_| status.to_string(), |s| s.to_string());
        return Err(Error::HttpStatus(text));
    }
    if !JSON_CONTENT_TYPE.is_match(content_type.trim()) {
        return Err(Error::UnsupportedContentType(content_type.to_owned()));
    }
    Ok(())
}

/// The groups of an HTTP SD response body from `url`: sourced `"{url}:{index}"` and
/// labelled `__meta_url`.
pub fn response_groups(url: &str, body: &[u8]) -> Result<Vec<TargetGroup>, Error> {
    let specs = parse_target_groups(body, Format::Json)?;
    Ok(indexed_groups(&specs, url, URL_LABEL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_check_table() {
        let cases: &[(u16, &str, Option<&str>)] = &[
            (200, "application/json", None),
            (200, "Application/JSON", None),
            (200, " application/json; charset=utf-8 ", None),
            (200, "application/json;charset=\"utf-8\"", None),
            (
                200,
                "application/json; charset=latin1",
                Some(r#"unsupported content type "application/json; charset=latin1""#),
            ),
            (
                200,
                "text/plain",
                Some(r#"unsupported content type "text/plain""#),
            ),
            (200, "", Some(r#"unsupported content type """#)),
            (
                404,
                "application/json",
                Some("server returned HTTP status 404 Not Found"),
            ),
            (
                500,
                "application/json",
                Some("server returned HTTP status 500 Internal Server Error"),
            ),
        ];
        for &(status, ct, want) in cases {
            let got = check_response(status, ct).err().map(|e| e.to_string());
            assert_eq!(got.as_deref(), want, "{status} {ct:?}");
        }
    }

    #[test]
    fn url_validation_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("http://a/b", None),
            ("https://a:8080/sd?x=1", None),
            ("", Some("URL is missing")),
            ("ftp://a/", Some("URL scheme must be 'http' or 'https'")),
            ("http:///path", Some("host is missing in URL")),
        ];
        for &(url, want) in cases {
            let got = HttpSdConfig::new(url).err().map(|e| e.to_string());
            assert_eq!(got.as_deref(), want, "{url}");
        }
    }

    #[test]
    fn refresh_header_is_go_shortest_float() {
        assert_eq!(refresh_header(Duration::from_mins(1)), "60");
        assert_eq!(refresh_header(Duration::from_millis(1500)), "1.5");
    }

    #[test]
    fn groups_carry_url() {
        let g = response_groups("http://sd/x", br#"[{"targets": ["a:1"]}]"#).unwrap();
        assert_eq!(g[0].source, "http://sd/x:0");
        assert_eq!(g[0].labels.get(URL_LABEL), Some("http://sd/x"));
    }
}
