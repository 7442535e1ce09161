//! Cross-origin requests to the HTTP API, as Prometheus's `--web.cors.origin` allows them.
//!
//! A request to `/api/v1/...` that names its `Origin` gets Prometheus's CORS headers
//! on its answer (errors included): the headers and methods a script may use, `Date`
//! exposed, `Vary: Origin`, and `Access-Control-Allow-Origin` — `*` under the default
//! pattern `.*`, else the origin itself when the pattern matches all of it, and nothing
//! when it does not. A preflight (`OPTIONS`) gets `204 No Content` with the same
//! headers. Requests without `Origin` get none of them, and the federation, remote
//! read and UI answers never do, as in Prometheus 2.42.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use regex::Regex;

use crate::Web;

const ALLOW_HEADERS: HeaderValue =
    HeaderValue::from_static("Accept, Authorization, Content-Type, Origin");
const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("GET, POST, OPTIONS");
const EXPOSE_HEADERS: HeaderValue = HeaderValue::from_static("Date");
const ORIGIN: HeaderValue = HeaderValue::from_static("Origin");
const ANY: HeaderValue = HeaderValue::from_static("*");

/// Compiles a `--web.cors.origin` pattern as Prometheus does: anchored at both ends.
/// The default pattern `.*`, which allows every origin, is `None`.
///
/// ```
/// let re = promlite_web::cors_origin(r"https?://(foo|bar)\.example").unwrap().unwrap();
/// assert!(re.is_match("https://foo.example"));
/// assert!(!re.is_match("https://foo.example.evil"));
/// assert!(promlite_web::cors_origin(".*").unwrap().is_none());
/// assert!(promlite_web::cors_origin("(").is_err());
/// ```
pub fn cors_origin(pattern: &str) -> Result<Option<Regex>, regex::Error> {
    if pattern == ".*" {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{pattern})$")).map(Some)
}

/// Adds the CORS headers for a request whose `Origin` is `origin` to `out`, under the
/// allowed origins `allowed` (`None`: any).
pub(crate) fn add_headers(allowed: Option<&Regex>, origin: &HeaderValue, out: &mut HeaderMap) {
    out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
    out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
    out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS);
    out.insert(header::VARY, ORIGIN);
    match allowed {
        None => {
            out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY);
        }
        Some(re) => {
            if origin.to_str().is_ok_and(|o| re.is_match(o)) {
                out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            }
        }
    }
}

/// Adds the CORS headers to `resp` when the request's `headers` name an origin.
pub(crate) fn apply(web: &Web, headers: &HeaderMap, resp: &mut Response) {
    if let Some(origin) = headers.get(header::ORIGIN) {
        apply_origin(web, origin, resp);
    }
}

/// [`apply`] for a request whose `Origin` is `origin`.
pub(crate) fn apply_origin(web: &Web, origin: &HeaderValue, resp: &mut Response) {
    add_headers(
        web.inner.options.cors_origin.as_ref(),
        origin,
        resp.headers_mut(),
    );
}

/// A preflight request to the API: `204 No Content`, with the CORS headers when the
/// request names an origin.
pub(crate) async fn preflight(State(web): State<Web>, headers: HeaderMap) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    apply(&web, &headers, &mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_for(allowed: Option<&Regex>, origin: &'static str) -> HeaderMap {
        let mut out = HeaderMap::new();
        add_headers(allowed, &HeaderValue::from_static(origin), &mut out);
        out
    }

    #[test]
    fn the_default_pattern_allows_any_origin() {
        let h = headers_for(None, "http://x.example");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "Accept, Authorization, Content-Type, Origin"
        );
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_METHODS],
            "GET, POST, OPTIONS"
        );
        assert_eq!(h[header::ACCESS_CONTROL_EXPOSE_HEADERS], "Date");
        assert_eq!(h[header::VARY], "Origin");
    }

    #[test]
    fn a_pattern_must_match_the_whole_origin() {
        let re = cors_origin(r"https?://(foo|bar)\.example").unwrap();
        let h = headers_for(re.as_ref(), "https://foo.example");
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://foo.example"
        );
        for other in [
            "https://baz.example",
            "https://foo.example.evil",
            "xhttps://foo.example",
        ] {
            let h = headers_for(re.as_ref(), other);
            assert!(
                h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
                "{other}"
            );
            // The rest are sent all the same, as Prometheus does.
            assert_eq!(h[header::VARY], "Origin");
        }
    }
}
