//! Fuzzes the remote write 2.0 receiver (snappy + protobuf, symbol table): no panic, every refusal a 4xx with a message
//! (`promlite_remote::fuzzing::check_write_v2`). The same check runs over `fuzz/corpus/remote_write_v2` and a fixed budget of
//! mutations in `cargo test` (crates/cli/tests/reliability_fuzz.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    promlite_remote::fuzzing::check_write_v2(data);
});
