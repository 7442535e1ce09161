//! The write-ahead log: Prometheus's segment/page/fragment format ([`log`]) and record
//! encodings ([`record`]).

pub mod checkpoint;
pub mod log;
pub mod record;

pub use log::{Corruption, SyncPolicy, Wal, WalOptions};
pub use record::Record;
