//! Fuzzes the remote write 1.0 receiver (snappy + protobuf): no panic, every refusal a 4xx with a message
//! (`promlite_remote::fuzzing::check_write_v1`). The same check runs over `fuzz/corpus/remote_write_v1` and a fixed budget of
//! mutations in `cargo test` (crates/cli/tests/reliability_fuzz.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    promlite_remote::fuzzing::check_write_v1(data);
});
