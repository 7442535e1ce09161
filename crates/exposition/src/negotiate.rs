//! Content-type negotiation: which parser reads a scrape body, and the `Accept` header a
//! scraper sends.

use std::fmt;

use crate::entry::Parser;
use crate::error::ParseError;
use crate::protobuf::ProtobufParser;
use crate::text::{OpenMetricsParser, PromParser};

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The Prometheus text format (`text/plain; version=0.0.4`, and `1.0.0` with quoted
    /// UTF-8 names).
    PrometheusText,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
    /// Length-delimited `io.prometheus.client.MetricFamily` messages.
    Protobuf,
}

impl Format {
    /// The `Content-Type` an exposer of this format sends.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            }
        }
    }

    /// The format of a bare media type (no parameters), as Prometheus maps them.
    pub fn from_media_type(media_type: &str) -> Option<Format> {
        match media_type {
            "text/plain" => Some(Format::PrometheusText),
            "application/openmetrics-text" => Some(Format::OpenMetrics),
            "application/vnd.google.protobuf" => Some(Format::Protobuf),
            _ => None,
        }
    }
}

/// Why a `Content-Type` header did not name a format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentTypeError {
    /// The header was empty or absent.
    #[error("non-compliant scrape target sending blank Content-Type")]
    Blank,
    /// The header is not a valid media type.
    #[error("cannot parse Content-Type {0:?}")]
    Unparsable(String),
    /// The media type is valid but not an exposition format.
    #[error("received unsupported Content-Type {0:?}")]
    Unsupported(String),
}

/// The outcome of [`negotiate`]: the format to parse with, and, when the fallback was
/// used, why (Prometheus logs this as a warning and scrapes anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The format to parse the body with.
    pub format: Format,
    /// Set when the header did not name a format and the fallback was taken.
    pub fallback_reason: Option<ContentTypeError>,
}

/// Picks the format for a scrape response from its `Content-Type`, as Prometheus 3 does:
/// parameters (`version`, `charset`, `escaping`, …) do not matter, only the media type;
/// a blank, unparsable or unknown header falls back to `fallback` (the scrape config's
/// `fallback_scrape_protocol`) when one is configured, and is an error otherwise.
///
/// ```
/// use promlite_exposition::{negotiate, Format};
///
/// let n = negotiate("application/openmetrics-text; version=1.0.0; charset=utf-8", None).unwrap();
/// assert_eq!(n.format, Format::OpenMetrics);
/// let n = negotiate("", Some(Format::PrometheusText)).unwrap();
/// assert_eq!(n.format, Format::PrometheusText);
/// assert!(n.fallback_reason.is_some());
/// assert!(negotiate("application/json", None).is_err());
/// ```
pub fn negotiate(
    content_type: &str,
    fallback: Option<Format>,
) -> Result<Negotiated, ContentTypeError> {
    let problem = if content_type.trim().is_empty() {
        ContentTypeError::Blank
    } else {
        match media_type(content_type) {
            None => ContentTypeError::Unparsable(content_type.to_owned()),
            Some(mt) => match Format::from_media_type(&mt) {
                Some(format) => {
                    return Ok(Negotiated {
                        format,
                        fallback_reason: None,
                    });
                }
                None => ContentTypeError::Unsupported(content_type.to_owned()),
            },
        }
    };
    match fallback {
        Some(format) => Ok(Negotiated {
            format,
            fallback_reason: Some(problem),
        }),
        None => Err(problem),
    }
}

/// The lower-cased `type/subtype` of a header value, if it is well formed (RFC 9110
/// tokens on both sides of the slash).
fn media_type(header: &str) -> Option<String> {
    let mt = header.split(';').next()?.trim();
    let (t, s) = mt.split_once('/')?;
    let token = |x: &str| {
        !x.is_empty()
            && x.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
    };
    if !token(t) || !token(s) {
        return None;
    }
    Some(mt.to_ascii_lowercase())
}

/// A parser for `input` in `format`, behind the [`Parser`] trait.
///
/// Fails only when a text format's input is not UTF-8.
pub fn parser_for<'a>(format: Format, input: &'a [u8]) -> Result<Box<dyn Parser + 'a>, ParseError> {
    Ok(match format {
        Format::PrometheusText => Box::new(PromParser::from_bytes(input)?),
        Format::OpenMetrics => Box::new(OpenMetricsParser::from_bytes(input)?),
        Format::Protobuf => Box::new(ProtobufParser::new(input)),
    })
}

/// A scrape protocol a scraper can offer, as named in Prometheus's `scrape_protocols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrapeProtocol {
    /// `PrometheusProto`.
    PrometheusProto,
    /// `PrometheusText0.0.4`.
    PrometheusText0_0_4,
    /// `PrometheusText1.0.0` (UTF-8 names).
    PrometheusText1_0_0,
    /// `OpenMetricsText0.0.1`.
    OpenMetricsText0_0_1,
    /// `OpenMetricsText1.0.0`.
    OpenMetricsText1_0_0,
}

/// Prometheus 3's default `scrape_protocols`, most preferred first.
pub const DEFAULT_SCRAPE_PROTOCOLS: [ScrapeProtocol; 4] = [
    ScrapeProtocol::OpenMetricsText1_0_0,
    ScrapeProtocol::OpenMetricsText0_0_1,
    ScrapeProtocol::PrometheusText1_0_0,
    ScrapeProtocol::PrometheusText0_0_4,
];

impl ScrapeProtocol {
    /// The media type with the parameters Prometheus sends for this protocol.
    pub fn header(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            }
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "text/plain;version=1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "application/openmetrics-text;version=1.0.0",
        }
    }

    /// The configuration name, e.g. `OpenMetricsText1.0.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "PrometheusProto",
            ScrapeProtocol::PrometheusText0_0_4 => "PrometheusText0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "PrometheusText1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "OpenMetricsText0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "OpenMetricsText1.0.0",
        }
    }

    /// The format a response in this protocol is parsed with.
    pub fn format(self) -> Format {
        match self {
            ScrapeProtocol::PrometheusProto => Format::Protobuf,
            ScrapeProtocol::PrometheusText0_0_4 | ScrapeProtocol::PrometheusText1_0_0 => {
                Format::PrometheusText
            }
            ScrapeProtocol::OpenMetricsText0_0_1 | ScrapeProtocol::OpenMetricsText1_0_0 => {
                Format::OpenMetrics
            }
        }
    }
}

impl fmt::Display for ScrapeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `Accept` header Prometheus 3 sends for `protocols` (most preferred first): each
/// protocol with a descending `q` weight, the `escaping` scheme on the two versions that
/// understand it (Prometheus 3 sends `allow-utf-8`), then `*/*` last.
///
/// ```
/// use promlite_exposition::{accept_header, DEFAULT_SCRAPE_PROTOCOLS};
///
/// assert_eq!(
///     accept_header(&DEFAULT_SCRAPE_PROTOCOLS, "allow-utf-8"),
///     "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
///      application/openmetrics-text;version=0.0.1;q=0.5,\
///      text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
///      text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
/// );
/// ```
pub fn accept_header(protocols: &[ScrapeProtocol], escaping: &str) -> String {
    use fmt::Write;
    // Prometheus starts the weights at one more than the number of protocols it knows.
    let mut weight = 6usize;
    let mut out = String::new();
    for p in protocols {
        out.push_str(p.header());
        if matches!(
            p,
            ScrapeProtocol::PrometheusText1_0_0 | ScrapeProtocol::OpenMetricsText1_0_0
        ) {
            out.push_str(";escaping=");
            out.push_str(escaping);
        }
        let _ = write!(out, ";q=0.{weight},");
        weight = weight.saturating_sub(1);
    }
    let _ = write!(out, "*/*;q=0.{weight}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_as_prometheus_reads_them() {
        let cases = [
            ("text/plain; version=0.0.4", Some(Format::PrometheusText)),
            (
                "text/plain;version=1.0.0;escaping=allow-utf-8",
                Some(Format::PrometheusText),
            ),
            ("TEXT/PLAIN", Some(Format::PrometheusText)),
            (
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                Some(Format::OpenMetrics),
            ),
            (Format::Protobuf.content_type(), Some(Format::Protobuf)),
            ("application/json", None),
            ("garbage", None),
            ("", None),
        ];
        for (ct, want) in cases {
            assert_eq!(negotiate(ct, None).ok().map(|n| n.format), want, "{ct:?}");
        }
        assert_eq!(
            negotiate("garbage", None),
            Err(ContentTypeError::Unparsable("garbage".into()))
        );
        assert_eq!(
            negotiate("application/json", Some(Format::OpenMetrics))
                .unwrap()
                .fallback_reason,
            Some(ContentTypeError::Unsupported("application/json".into()))
        );
    }

    #[test]
    fn accept_header_for_proto_first() {
        let h = accept_header(
            &[
                ScrapeProtocol::PrometheusProto,
                ScrapeProtocol::PrometheusText0_0_4,
            ],
            "underscores",
        );
        assert_eq!(
            h,
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.4"
        );
    }
}
