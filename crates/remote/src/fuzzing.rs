//! Invariant checks over arbitrary bytes for the remote-write fuzz targets in `fuzz/`
//! and for the fixed-budget mutation runs and corpus replays in `cargo test`. They panic
//! only when an invariant is broken: hostile bodies must be refused with an error whose
//! status is a client error (or 413/415), never a panic or an allocation sized by what
//! the body claims.

use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use promlite_storage::MemStore;

use crate::codec::snappy_compress;
use crate::write_handler::{PROTO_V1, PROTO_V2, REMOTE_WRITE_VERSION_HEADER};
use crate::{WriteOptions, handle_write_with};

fn headers(proto: &str, version: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        CONTENT_TYPE,
        format!("application/x-protobuf;proto={proto}")
            .parse()
            .expect("static header"),
    );
    h.insert(CONTENT_ENCODING, "snappy".parse().expect("static header"));
    h.insert(
        REMOTE_WRITE_VERSION_HEADER,
        version.parse().expect("static header"),
    );
    h
}

/// A small limit, so that size checks are reached by short inputs too.
fn options() -> WriteOptions {
    WriteOptions {
        max_body_bytes: 1 << 20,
        ..WriteOptions::default()
    }
}

fn check(proto: &str, version: &str, data: &[u8]) {
    let h = headers(proto, version);
    let opts = options();
    // `data` is taken as the protobuf message (compressed here, so mutations reach the
    // protobuf decoder and the checks behind it) and as the snappy body itself.
    for body in [snappy_compress(data), data.to_vec()] {
        let store = MemStore::new();
        match handle_write_with(&opts, &body, &h, &store) {
            Ok(stats) => {
                assert!(
                    stats.samples + stats.histograms <= data.len(),
                    "more samples appended than the body could hold: {stats:?}"
                );
            }
            Err(e) => {
                let status = e.status();
                // The store is in memory and never fails: every refusal is the body's
                // fault, so it must be a 4xx (a 5xx would make clients retry forever).
                assert!(
                    (400..500).contains(&status),
                    "status {status} for a bad body: {e}"
                );
                assert!(!e.to_string().is_empty(), "empty error message");
            }
        }
    }
}

/// A remote write 1.0 request (`prometheus.WriteRequest`), as protobuf and as a snappy
/// body.
pub fn check_write_v1(data: &[u8]) {
    check(PROTO_V1, "0.1.0", data);
}

/// A remote write 2.0 request (`io.prometheus.write.v2.Request`), as protobuf and as a
/// snappy body.
pub fn check_write_v2(data: &[u8]) {
    check(PROTO_V2, "2.0.0", data);
}
