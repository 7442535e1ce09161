//! Prometheus remote write (1.0) and remote read for promlite, both directions.
//!
//! Remote write and read are how promlite scales past one machine without a cluster of its
//! own: samples are pushed to an existing engine (Prometheus, VictoriaMetrics, Mimir,
//! Thanos receive) and old data is read back from one. The wire formats are Prometheus's
//! `prompb` protobuf messages, snappy-compressed, so any of them interoperates.
//!
//! # How it fits
//!
//! Everything here speaks the storage traits, like every other producer and consumer:
//!
//! - **Receiver** — [`handle_write`] decodes a `WriteRequest` and appends it through any
//!   [`Appendable`](promlite_storage::Appendable) (the TSDB, a `MemStore`) in one
//!   transaction. It is a producer, like a scrape.
//! - **Read server** — [`handle_read`] answers a `ReadRequest` from any
//!   [`Queryable`](promlite_storage::Queryable), as SAMPLES or STREAMED_XOR_CHUNKS. It is
//!   a consumer, like PromQL.
//! - **Write client** — [`WriteStorage`] runs one [`QueueManager`] per `remote_write`
//!   entry of `prometheus.yml`; [`RemoteWriteAppendable`] wraps the local store so every
//!   committed append is also queued, or [`WalWatcher`] tails the TSDB's WAL into them.
//!   Queues relabel (`write_relabel_configs`), add
//!   external labels, shard by series, batch, retry and count.
//! - **Read client** — [`RemoteReadQueryable`] is a `Queryable` over a `remote_read`
//!   endpoint, to merge with local storage through
//!   [`MergeQueryable`](promlite_storage::MergeQueryable).
//!
//! The handlers are plain functions over bytes and an [`http::HeaderMap`], independent
//! of any web framework; [`RemoteError::status`] gives the HTTP status for each error,
//! so a route is a few lines:
//!
//! ```
//! use promlite_remote::{handle_write, handle_read, RemoteError};
//! use promlite_storage::MemStore;
//!
//! // POST /api/v1/write
//! fn write_route(store: &MemStore, headers: &http::HeaderMap, body: &[u8]) -> (u16, String) {
//!     match handle_write(body, headers, store) {
//!         Ok(_) => (204, String::new()),
//!         Err(e) => (e.status(), e.to_string()),
//!     }
//! }
//! // POST /api/v1/read: 200 with reply.content_type, reply.content_encoding, reply.body.
//! fn read_route(store: &MemStore, body: &[u8]) -> Result<promlite_remote::ReadReply, RemoteError> {
//!     handle_read(body, store)
//! }
//! # let s = MemStore::new();
//! # assert_eq!(write_route(&s, &http::HeaderMap::new(), b"junk").0, 400);
//! # assert!(read_route(&s, b"junk").is_err());
//! ```
//!
//! Both handlers append or read synchronously (a TSDB append writes its WAL), so an
//! async server calls them on its blocking pool (`tokio::task::spawn_blocking`).
//!
//! # Design decisions
//!
//! - **Messages by hand, no build script.** The `prompb` types ([`prompb`]) are written
//!   with prost's derive macros, field numbers exactly as Prometheus's `.proto` files, so
//!   no `protoc` is needed to build.
//! - **The receiver is all-or-nothing per request.** Every series' labels are checked
//!   first (non-empty, sorted, no duplicates, valid names, a metric name), so a bad series
//!   appends nothing and answers 400. A sample the store refuses as out of order, out of
//!   bounds, too old or duplicate rolls the transaction back and answers 400, as Prometheus
//!   does so that clients do not retry it; other storage errors answer 500 (retried).
//!   Exemplars the store refuses are counted and skipped, as in Prometheus.
//! - **One series, one shard.** A queue hashes the series' labels to a shard, so a
//!   series' samples are sent in order; resharding hands unsent batches to the new shards
//!   in order before anything newer. 5xx, 429 (when `retry_on_http_429`) and network
//!   errors are retried with exponential back-off from `min_backoff` to `max_backoff`,
//!   honouring `Retry-After`; other 4xx drop the batch and count it as failed.
//! - **Two feeds.** [`WalWatcher`] tails the TSDB's write-ahead log as Prometheus does:
//!   series records teach it labels, sample records go to every queue, and a full queue
//!   makes it wait rather than drop. With a `position_file` it also saves the position
//!   of the oldest record some queue has not had acknowledged (queues track the WAL
//!   position of every entry, in flight or buffered) and resumes there after a restart
//!   or crash, so nothing logged is lost; what was in flight at the last save may be
//!   sent twice, and a clean stop after the queues drained sends nothing twice (both
//!   tested). Without a position file it behaves like Prometheus: only samples newer
//!   than its start are sent.
//!   [`RemoteWriteAppendable`] is the feed for stores without a WAL (`MemStore`, an
//!   embedding): it queues committed appends only, and drops (and counts) what does not
//!   fit in `capacity * max_shards` entries. Use one feed per store, not both.
//! - **Remote read, both response types.** The server answers SAMPLES (floats and
//!   native histograms) and STREAMED_XOR_CHUNKS (tsdb's XOR encoder; a streamed request
//!   over histogram series is refused with a clear error, since tsdb does not expose its
//!   histogram chunk encoder). The client asks for SAMPLES like Prometheus's, or with
//!   [`RemoteReadQueryable::with_streamed_chunks`] also accepts streamed XOR, histogram
//!   and float-histogram chunks ([`decode_chunked_response`]).
//! - **Remote write 2.0** (`io.prometheus.write.v2.Request`: a symbol table, metadata
//!   and created timestamps per series) is spoken both ways: the receiver picks the
//!   version from `Content-Type` (and [`WriteStats::response_headers`] gives 2.0's
//!   written-counts headers), and a queue with `protobuf_message:
//!   io.prometheus.write.v2.Request` sends 2.0 with metadata inline. Tested against
//!   promlite's own receiver only: Prometheus 2.42 predates 2.0.
//!
//! # Example: a queue delivering to a receiver
//!
//! ```no_run
//! # async fn run() -> Result<(), promlite_remote::RemoteError> {
//! use std::sync::Arc;
//! use promlite_model::Labels;
//! use promlite_remote::{RemoteWriteAppendable, WriteStorage};
//! use promlite_storage::{Appendable, MemStore, SeriesRef};
//!
//! let cfg = promlite_config::Config::from_yaml(
//!     "remote_write:\n  - url: http://127.0.0.1:8428/api/v1/write\n",
//!     std::path::Path::new("prometheus.yml"),
//! ).expect("valid configuration");
//! let remote = Arc::new(WriteStorage::new());
//! remote.apply_config(&cfg.remote_write, &Labels::from_pairs([("replica", "a")])).await?;
//! let store = RemoteWriteAppendable::new(Arc::new(MemStore::new()), remote.clone());
//! let mut app = store.appender();
//! app.append(SeriesRef::NONE, &Labels::from_pairs([("__name__", "up")]), 1_000, 1.0).unwrap();
//! app.commit().unwrap();
//! remote.stop().await; // flushes what is queued
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod codec;
mod endpoint;
mod error;
pub mod fuzzing;
pub mod prompb;
mod queue;
mod read_client;
mod read_handler;
mod storage;
mod wal_watcher;
mod write_handler;

pub use endpoint::USER_AGENT_VALUE;
pub use error::RemoteError;
pub use queue::{QueueManager, QueueOptions, QueueStats};
pub use read_client::{LocalStartTime, RemoteReadQueryable, decode_chunked_response};
pub use read_handler::{
    CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_STREAMED, ReadOptions, ReadReply, encode_read_request,
    handle_read, handle_read_with,
};
pub use storage::{RemoteWriteAppendable, WriteStorage};
pub use wal_watcher::{WalWatcher, WalWatcherOptions, WalWatcherStats};
pub use write_handler::{
    PROTO_V1, PROTO_V2, REMOTE_WRITE_VERSION_HEADER, WriteOptions, WriteStats,
    decode_write_request, encode_write_request, handle_write, handle_write_with,
};
