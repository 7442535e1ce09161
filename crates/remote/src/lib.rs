//! Prometheus remote write and remote read for promlite.
#![deny(missing_docs)]

pub mod codec;
mod endpoint;
mod error;
pub mod prompb;
mod queue;
mod read_client;
mod read_handler;
mod storage;
mod write_handler;

pub use endpoint::USER_AGENT_VALUE;
pub use queue::{QueueManager, QueueOptions, QueueStats};
pub use read_client::{LocalStartTime, RemoteReadQueryable};
pub use storage::{RemoteWriteAppendable, WriteStorage};

pub use error::RemoteError;
pub use read_handler::{
    CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_STREAMED, ReadOptions, ReadReply, encode_read_request,
    handle_read, handle_read_with,
};
pub use write_handler::{
    REMOTE_WRITE_VERSION_HEADER, WriteOptions, WriteStats, decode_write_request,
    encode_write_request, handle_write, handle_write_with,
};
