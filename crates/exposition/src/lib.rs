//! Streaming, zero-copy parsers and encoders for the Prometheus exposition formats:
//! the text format 0.0.4 (with Prometheus 3's quoted UTF-8 names), OpenMetrics 1.0 and the
//! length-delimited protobuf format with native histograms.
//!
//! A scrape body goes in; a stream of [`Entry`] values comes out: metadata (`HELP`,
//! `TYPE`, `UNIT`), comments, float samples ([`Sample`]) and native histograms
//! ([`HistogramSample`]). All three parsers produce the same entries, so a scraper handles
//! one type whatever the target speaks.
//!
//! # Main types
//!
//! - [`PromParser`], [`OpenMetricsParser`] and [`ProtobufParser`]: pull parsers, like
//!   Prometheus's `textparse.Parser`. Each has an inherent `next()` and implements the
//!   [`Parser`] trait, so [`parser_for`] can hand out a `Box<dyn Parser>`.
//! - [`negotiate`] picks the [`Format`] from a `Content-Type` header, with Prometheus's
//!   fallback rules; [`accept_header`] builds the `Accept` header Prometheus 3 sends for a
//!   list of [`ScrapeProtocol`]s.
//! - [`PromEncoder`], [`OpenMetricsEncoder`] and [`encode_delimited`] write the formats;
//!   [`proto`] holds the protobuf messages.
//! - [`ParseError`]: a [`Position`] (line:col, 1-based) and an [`ErrorKind`] whose message
//!   follows Prometheus's wording, e.g. `2:9: expected value after metric, got "}"`.
//!
//! # Design decisions
//!
//! - **A hand-written byte lexer, not `nom`.** The grammar is line-based and tiny; what
//!   costs time is touching every byte. A lexer over `&[u8]` does the least work per byte
//!   and never backtracks: names and label values are scanned eight bytes per step (SWAR
//!   on a `u64`, safe code; `memchr`'s set-up costs more than a short token), HELP text is
//!   scanned once for its line end and escapes together (`memchr2`), and values are parsed
//!   while they are scanned. A combinator parser would re-check the same bytes through its
//!   alternatives and return `IResult`s through every layer; the benchmark in
//!   `benches/exposition.rs` and instruction counts from callgrind (figures in
//!   `docs/benchmarks.md`) are the measurements behind these choices.
//! - **Values: an exact fast path, then the general parser.** Decimals of up to 19 digits
//!   whose integer fits 2^53, with a power-of-ten exponent up to 22, are converted with one
//!   exact multiplication or division (Clinger's fast path), which is correctly rounded
//!   and so bit-identical to `str::parse::<f64>` and Go's `strconv.ParseFloat` (a property
//!   test checks it). Everything else (`NaN`, `+Inf`, long mantissas) goes to the standard
//!   parser, with Go's exceptions applied: `_` and hex floats are rejected, and a finite
//!   literal that overflows (`1e400`) is an error, not infinity.
//! - **Lending entries.** `next()` returns an entry that borrows the parser: its strings
//!   are slices of the input, or of a scratch buffer reused for text that needed
//!   unescaping (a label value with `\"`, a HELP with `\n`). Nothing is allocated per
//!   sample; [`Sample::to_labels`] builds [`Labels`](promlite_model::Labels) through a
//!   reusable [`LabelsBuilder`](promlite_model::LabelsBuilder), so the only allocation
//!   is the label set a caller decides to keep. A scraper can skip even that for series
//!   it has seen, keyed by [`Sample::series`], the raw series text, as Prometheus does.
//! - **UTF-8 is checked once, up front** (`from_bytes`), so the lexer slices `&str`
//!   freely at the ASCII delimiters it finds; an invalid byte is one error with its
//!   position.
//! - **Errors carry a position, not a copy of the line.** Lines and columns are counted
//!   only when an error is raised, so the hot path tracks a byte offset alone. The kind is
//!   boxed to keep `Result` small.
//! - **As lenient as Prometheus by default, strict on request.** The OpenMetrics parser
//!   always enforces `# EOF` (required, nothing after it), single-space separators,
//!   unique label names and the 128-character exemplar limit, as Prometheus's does. The
//!   specification's structural rules — unique metadata per family, metadata before
//!   samples, no interleaving of families — are checked only with
//!   [`OpenMetricsOptions::strict`], because Prometheus scrapes and backfills input that
//!   breaks them (real exporters do). Sample names belong to the open family when they
//!   are its name or its name plus a standard suffix (`_total`, `_bucket`, …). The text
//!   parser is as lenient as Prometheus's, except that it too rejects duplicate label
//!   names; `PromOptions::strict` gives promtool's (expfmt's) stricter reading.
//! - **Created timestamps.** The protobuf format carries them; in OpenMetrics the
//!   `_created` lines are ordinary samples unless
//!   [`OpenMetricsOptions::created_timestamps`] is set, in which case they are consumed
//!   and their value lands in [`Sample::created`] of the series they belong to (found by
//!   looking ahead in the family, once per series).
//! - **OpenMetrics timestamps are converted exactly.** Plain decimal seconds become
//!   milliseconds with integer arithmetic, so `1.001` is 1001 ms and encoded timestamps
//!   read back unchanged; exponent forms go through floats, truncating like Prometheus.
//! - **Never panics.** Indexing on input-dependent paths uses `get`; the fuzz targets in
//!   `fuzz/` and the replayed corpus check this along with encode→parse round trips.
//!
//! # Example
//!
//! ```
//! use promlite_exposition::{negotiate, parser_for, Entry};
//! use promlite_model::LabelsBuilder;
//!
//! let body = concat!(
//!     "# HELP http_requests_total Requests.\n",
//!     "# TYPE http_requests_total counter\n",
//!     "http_requests_total{code=\"200\"} 1027 # {trace_id=\"abc\"} 1 1700000000.5\n",
//!     "{\"http.latency\",le=\"+Inf\"} 3\n",
//!     "# EOF\n",
//! ).as_bytes();
//! let format = negotiate("application/openmetrics-text; version=1.0.0", None).unwrap().format;
//! let mut parser = parser_for(format, body).unwrap();
//! let mut builder = LabelsBuilder::new();
//! let mut series = Vec::new();
//! while let Some(entry) = parser.next().unwrap() {
//!     if let Entry::Series(s) = entry {
//!         // Entries borrow the parser: copy out what outlives this iteration.
//!         let ex = s.exemplar.map(|e| (e.labels.get("trace_id").map(str::to_owned), e.timestamp));
//!         series.push((s.to_labels(&mut builder).to_string(), s.value, ex));
//!     }
//! }
//! assert_eq!(series[0], (r#"{__name__="http_requests_total", code="200"}"#.to_string(), 1027.0, Some((Some("abc".into()), Some(1_700_000_000_500)))));
//! assert_eq!(series[1].0, r#"{__name__="http.latency", le="+Inf"}"#);
//! ```
#![deny(missing_docs)]

mod encode;
mod entry;
mod error;
mod float;
mod negotiate;
pub mod proto;
mod protobuf;
mod text;

#[doc(hidden)]
pub mod fuzzing;

pub use encode::{EncodeError, OpenMetricsEncoder, PromEncoder, TextEncoder};
pub use entry::{
    Entry, ExemplarRef, HistogramRef, HistogramSample, LabelPairs, LabelPairsIter, Parser, Sample,
};
pub use error::{ErrorKind, ParseError, Position};
pub use float::{write_go_float, write_openmetrics_float};
pub use negotiate::{
    ContentTypeError, DEFAULT_SCRAPE_PROTOCOLS, Format, Negotiated, ScrapeProtocol, accept_header,
    negotiate, parser_for,
};
pub use protobuf::{ProtobufOptions, ProtobufParser, encode_delimited};
pub use text::{OpenMetricsOptions, OpenMetricsParser, PromOptions, PromParser, TextParser};
