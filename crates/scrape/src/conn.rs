//! A target's own keep-alive HTTP/1.1 connection, for plain-`http` scrapes without a
//! proxy: the request head is rendered once (unless credentials are read from files or
//! fetched by OAuth 2.0, which may change between scrapes) and written in one call, and
//! the response is read into buffers the target keeps from scrape to scrape.
//!
//! Through the shared `reqwest` client, each scrape built a request (header map, URL,
//! timeout timer), crossed from the scrape task to the pool's connection task and back
//! by channels, and collected the body chunk by chunk into a fresh buffer. Here the
//! scrape task does the whole exchange itself. Anything this path does not handle (a
//! redirect to follow, `https`, proxies, credentials in the URL) goes through `reqwest`
//! as before.

use std::io::{ErrorKind, Read};
use std::ops::Range;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Error;

/// Response heads larger than this are refused (Go's `DefaultMaxHeaderBytes`-sized).
const MAX_HEAD: usize = 1 << 20;

/// How a target's scrapes go out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Not decided yet: the first scrape renders the request head and decides.
    #[default]
    Unknown,
    /// Over the target's own connection, with a head rendered once.
    DirectStatic,
    /// Over the target's own connection, with a head rendered for every scrape.
    DirectDynamic,
    /// Through the job's `reqwest` client.
    Client,
}

/// A target's connection and the buffers its scrapes reuse.
#[derive(Debug, Default)]
pub(crate) struct Session {
    pub(crate) route: Route,
    stream: Option<TcpStream>,
    /// `host:port` to connect to.
    pub(crate) authority: String,
    /// The rendered request head.
    pub(crate) head: Vec<u8>,
    /// The raw response: head, then body.
    buf: Vec<u8>,
    /// The decoded body, when it is not a range of `buf` (chunked or gzip), or the body
    /// `reqwest` read.
    pub(crate) out: Vec<u8>,
}

/// Where a scraped body lies in the session.
#[derive(Debug, Clone)]
pub(crate) enum BodyAt {
    /// A range of the raw response.
    Raw(Range<usize>),
    /// The whole of `out`.
    Out,
}

/// The parts of a response head a scrape needs.
#[derive(Debug, Default)]
struct Head {
    len: usize,
    status: u16,
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
    gzip: bool,
    content_type: Range<usize>,
}

/// What [`Session::exchange`] got.
#[derive(Debug)]
pub(crate) enum Exchanged {
    /// A 200 response: its body and `Content-Type`.
    Ok {
        body: BodyAt,
        content_type: Range<usize>,
    },
    /// A redirect, to be followed by the client.
    Redirect,
}

/// The failure of an exchange, before or after the connection was found to work.
fn transport(url: &str, e: &std::io::Error) -> Error {
    Error::Transport(format!("Get {url:?}: {e}"))
}

fn malformed(url: &str, what: &str) -> Error {
    Error::Transport(format!("Get {url:?}: malformed HTTP response: {what}"))
}

impl Session {
    /// The body of the last exchange.
    pub(crate) fn body(&self, at: &BodyAt) -> &[u8] {
        match at {
            BodyAt::Raw(r) => &self.buf[r.clone()],
            BodyAt::Out => &self.out,
        }
    }

    /// The `Content-Type` of the last exchange.
    pub(crate) fn text(&self, r: &Range<usize>) -> &str {
        std::str::from_utf8(&self.buf[r.clone()]).unwrap_or_default()
    }

    /// Forgets the connection (after a failure or a timeout, when its state is unknown).
    pub(crate) fn disconnect(&mut self) {
        self.stream = None;
    }

    /// Sends the rendered head and reads the response; `limit` bounds the body (before
    /// decompression only when it is gzip-encoded, as after it the caller checks).
    /// A kept-alive connection the target closed meanwhile is replaced once, as Go's
    /// transport retries an idempotent request on a reused connection.
    pub(crate) async fn exchange(
        &mut self,
        url: &str,
        limit: u64,
        follow_redirects: bool,
    ) -> Result<Exchanged, Error> {
        let reused = self.stream.is_some();
        let result = match self.attempt(url, limit, follow_redirects).await {
            Err(Retry::Stale) if reused => {
                self.stream = None;
                self.attempt(url, limit, follow_redirects).await
            }
            Err(Retry::Fail(e)) => {
                self.stream = None;
                return Err(e);
            }
            first => first,
        };
        result.map_err(|r| match r {
            Retry::Stale => transport(url, &ErrorKind::UnexpectedEof.into()),
            Retry::Fail(e) => e,
        })
    }

    async fn attempt(
        &mut self,
        url: &str,
        limit: u64,
        follow_redirects: bool,
    ) -> Result<Exchanged, Retry> {
        let fresh = self.stream.is_none();
        if fresh {
            let s = TcpStream::connect(self.authority.as_str())
                .await
                .map_err(|e| {
                    Retry::Fail(Error::Transport(format!(
                        "Get {url:?}: dial tcp {}: {e}",
                        self.authority
                    )))
                })?;
            let _ = s.set_nodelay(true);
            self.stream = Some(s);
        }
        let Session {
            stream, head, buf, ..
        } = self;
        let stream = stream.as_mut().expect("connected above");
        // A write to a connection the peer closed may fail (reset) or succeed and be
        // answered by end-of-file: both are a stale connection when it was reused.
        let stale = |e: std::io::Error| {
            if fresh {
                Retry::Fail(transport(url, &e))
            } else {
                Retry::Stale
            }
        };
        stream.write_all(head).await.map_err(stale)?;
        buf.clear();
        if buf.capacity() < 16 << 10 {
            buf.reserve(16 << 10);
        }
        let h = loop {
            if buf.len() == buf.capacity() {
                buf.reserve(buf.len());
            }
            let n = stream.read_buf(buf).await;
            match n {
                Ok(0) if buf.is_empty() => {
                    return Err(stale(ErrorKind::UnexpectedEof.into()));
                }
                Ok(0) => return Err(Retry::Fail(malformed(url, "unexpected EOF in head"))),
                Ok(_) => {}
                Err(e) if buf.is_empty() => return Err(stale(e)),
                Err(e) => return Err(Retry::Fail(transport(url, &e))),
            }
            if let Some(h) = parse_head(buf).map_err(|w| Retry::Fail(malformed(url, w)))? {
                if (100..200).contains(&h.status) && h.status != 101 {
                    // An interim response: drop it and read on.
                    buf.drain(..h.len);
                    if let Some(h) = parse_head(buf).map_err(|w| Retry::Fail(malformed(url, w)))?
                        && !(100..200).contains(&h.status)
                    {
                        break h;
                    }
                    continue;
                }
                break h;
            }
            if buf.len() > MAX_HEAD {
                return Err(Retry::Fail(malformed(url, "head too large")));
            }
        };
        self.finish(url, h, limit, follow_redirects)
            .await
            .map_err(Retry::Fail)
    }

    /// Reads the body announced by `h`.
    async fn finish(
        &mut self,
        url: &str,
        h: Head,
        limit: u64,
        follow_redirects: bool,
    ) -> Result<Exchanged, Error> {
        if h.status != 200 {
            // The body is not read; the connection goes rather than being drained.
            self.stream = None;
            if follow_redirects && matches!(h.status, 301 | 302 | 303 | 307 | 308) {
                return Ok(Exchanged::Redirect);
            }
            let reason = reqwest::StatusCode::from_u16(h.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or_default();
            return Err(Error::Status(format!("{} {reason}", h.status)));
        }
        let Session {
            stream, buf, out, ..
        } = self;
        let stream = stream.as_mut().expect("connected");
        let io = |e: std::io::Error| transport(url, &e);
        // The raw body is bounded by the limit unless it is compressed (then the
        // decompressed size is checked by the caller).
        let raw_limit = if h.gzip { u64::MAX } else { limit };
        let over = |n: usize| n as u64 > raw_limit;
        let start = h.len;
        let content_type = h.content_type.clone();
        let body = if h.chunked {
            out.clear();
            let mut pos = start;
            loop {
                if dechunk(buf, &mut pos, out).map_err(|w| malformed(url, w))? {
                    break;
                }
                if over(out.len()) {
                    self.stream = None;
                    return Err(Error::BodySizeLimit);
                }
                if buf.len() == buf.capacity() {
                    buf.reserve(buf.len());
                }
                if stream.read_buf(buf).await.map_err(io)? == 0 {
                    self.stream = None;
                    return Err(malformed(url, "unexpected EOF in chunked body"));
                }
            }
            if over(out.len()) {
                self.stream = None;
                return Err(Error::BodySizeLimit);
            }
            if pos != buf.len() {
                self.stream = None;
            }
            BodyAt::Out
        } else if let Some(n) = h.content_length {
            if over(usize::try_from(n).unwrap_or(usize::MAX)) {
                self.stream = None;
                return Err(Error::BodySizeLimit);
            }
            let end = start + usize::try_from(n).map_err(|_| Error::BodySizeLimit)?;
            if buf.capacity() < end {
                buf.reserve(end - buf.len());
            }
            while buf.len() < end {
                if stream.read_buf(buf).await.map_err(io)? == 0 {
                    self.stream = None;
                    return Err(transport(url, &ErrorKind::UnexpectedEof.into()));
                }
            }
            if buf.len() > end {
                // More than announced: the connection cannot be trusted for the next one.
                self.stream = None;
            }
            BodyAt::Raw(start..end)
        } else {
            // No length: the body runs to the end of the connection.
            loop {
                if over(buf.len() - start) {
                    self.stream = None;
                    return Err(Error::BodySizeLimit);
                }
                if buf.len() == buf.capacity() {
                    buf.reserve(buf.len());
                }
                if stream.read_buf(buf).await.map_err(io)? == 0 {
                    break;
                }
            }
            self.stream = None;
            BodyAt::Raw(start..buf.len())
        };
        if h.close {
            self.stream = None;
        }
        let body = if h.gzip {
            // A plain body's buffer is reused for the decompressed one; a chunked one's
            // is the input.
            let mut decoded = std::mem::take(&mut self.out);
            let chunked = match body {
                BodyAt::Out => std::mem::take(&mut decoded),
                BodyAt::Raw(_) => Vec::new(),
            };
            decoded.clear();
            let raw = match &body {
                BodyAt::Raw(r) => &self.buf[r.clone()],
                BodyAt::Out => &chunked[..],
            };
            flate2::read::GzDecoder::new(raw)
                .take(limit.saturating_add(1))
                .read_to_end(&mut decoded)
                .map_err(Error::Gzip)?;
            if decoded.len() as u64 > limit {
                return Err(Error::BodySizeLimit);
            }
            self.out = decoded;
            BodyAt::Out
        } else {
            body
        };
        Ok(Exchanged::Ok { body, content_type })
    }
}

/// Why an attempt failed: on a reused connection that turned out closed (retry once on
/// a new one), or for good.
enum Retry {
    Stale,
    Fail(Error),
}

/// Most header fields a response head may have (Go sets no count, only a size; a scrape
/// target sending more than this is not one to trust).
const MAX_HEADERS: usize = 128;

/// What `httparse` found wrong, in words.
fn parse_error(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header field name",
        httparse::Error::HeaderValue => "invalid header field value",
        httparse::Error::NewLine => "invalid line end",
        httparse::Error::Status => "bad status line",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many header fields",
        httparse::Error::Version => "no HTTP/1.x status line",
    }
}

/// Parses a response head at the start of `buf` (with `httparse`, hyper's own parser);
/// `None` while it is incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut headers);
    let len = match r.parse(buf).map_err(parse_error)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let mut h = Head {
        len,
        status: r.code.unwrap_or_default(),
        ..Head::default()
    };
    let mut keep_alive = false;
    for f in r.headers.iter() {
        let value = f.value.trim_ascii();
        let name = f.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n: u64 = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or("bad Content-Length")?;
            if h.content_length.is_some_and(|m| m != n) {
                return Err("conflicting Content-Length");
            }
            h.content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            h.chunked = value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for t in value.split(|&b| b == b',') {
                let t = t.trim_ascii();
                h.close |= t.eq_ignore_ascii_case(b"close");
                keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"content-type") {
            // The value is a slice of `buf`: keep where it lies, not a copy.
            let start = value.as_ptr() as usize - buf.as_ptr() as usize;
            h.content_type = start..start + value.len();
        } else if name.eq_ignore_ascii_case(b"content-encoding") {
            h.gzip = value.eq_ignore_ascii_case(b"gzip");
        }
    }
    h.close |= r.version == Some(0) && !keep_alive;
    Ok(Some(h))
}

/// Decodes the chunks of `raw[*pos..]` into `out`, advancing `pos` past each whole one;
/// `true` once the last chunk and its trailers are read. Chunk-size lines and trailers
/// are read by `httparse`.
fn dechunk(raw: &[u8], pos: &mut usize, out: &mut Vec<u8>) -> Result<bool, &'static str> {
    loop {
        let rest = &raw[*pos..];
        let (data, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(c)) => c,
            Ok(httparse::Status::Partial) => return Ok(false),
            Err(_) => return Err("bad chunk size"),
        };
        if size == 0 {
            let mut trailers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            return match httparse::parse_headers(&rest[data..], &mut trailers) {
                Ok(httparse::Status::Complete((n, _))) => {
                    *pos += data + n;
                    Ok(true)
                }
                Ok(httparse::Status::Partial) => Ok(false),
                Err(e) => Err(parse_error(e)),
            };
        }
        let Some(end) = usize::try_from(size).ok().and_then(|n| data.checked_add(n)) else {
            return Err("bad chunk size");
        };
        let after = match rest.get(end..) {
            Some(a) if a.starts_with(b"\r\n") => 2,
            Some(a) if a.starts_with(b"\n") => 1,
            Some(a) if a.is_empty() || a == b"\r" => return Ok(false),
            Some(_) => return Err("chunk not followed by a line end"),
            None => return Ok(false),
        };
        out.extend_from_slice(&rest[data..end]);
        *pos += end + after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type:  text/plain; version=0.0.4 \r\nContent-Length: 5\r\n\r\nhello";
        let h = parse_head(raw).unwrap().unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.content_length, Some(5));
        assert_eq!(&raw[h.content_type.clone()], b"text/plain; version=0.0.4");
        assert_eq!(&raw[h.len..], b"hello");
        assert!(!h.close && !h.chunked && !h.gzip);
        assert!(parse_head(&raw[..20]).unwrap().is_none());

        let h = parse_head(
            b"HTTP/1.0 404 Not Found\nTransfer-Encoding: gzip, chunked\nContent-Encoding: GZIP\n\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.status, 404);
        assert!(h.close && h.chunked && h.gzip);
        let h = parse_head(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.close);
        let h = parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.close);
        assert!(parse_head(b"SPDY 200\r\n\r\n").is_err());
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .is_err()
        );
    }

    #[test]
    fn chunks() {
        let raw = b"5;x=y\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: t\r\n\r\nNEXT";
        for cut in 0..raw.len() - 4 {
            let (mut pos, mut out) = (0, Vec::new());
            assert!(!dechunk(&raw[..cut], &mut pos, &mut out).unwrap(), "{cut}");
            assert!(dechunk(raw, &mut pos, &mut out).unwrap(), "{cut}");
            assert_eq!(out, b"hello world");
            assert_eq!(&raw[pos..], b"NEXT");
        }
        let (mut pos, mut out) = (0, Vec::new());
        assert!(dechunk(b"zz\r\n", &mut pos, &mut out).is_err());
        assert!(dechunk(b"2\r\nabc\r\n", &mut pos, &mut out).is_err());
    }
}
