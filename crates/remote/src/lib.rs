//! Prometheus remote write and remote read for promlite.
#![deny(missing_docs)]

pub mod codec;
mod error;
pub mod prompb;
mod read_handler;
mod write_handler;

pub use error::RemoteError;
pub use read_handler::{
    CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_STREAMED, ReadOptions, ReadReply, encode_read_request,
    handle_read, handle_read_with,
};
pub use write_handler::{
    REMOTE_WRITE_VERSION_HEADER, WriteOptions, WriteStats, decode_write_request,
    encode_write_request, handle_write, handle_write_with,
};
