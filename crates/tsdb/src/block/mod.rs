//! Persistent blocks in Prometheus's on-disk format.

pub mod chunks;
