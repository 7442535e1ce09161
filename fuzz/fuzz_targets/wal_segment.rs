//! Fuzzes the WAL segment reader: no panic, corruption reported inside the input, and the prefix a repair keeps reads back cleanly with the same records
//! (`promlite_tsdb::fuzzing::check_wal_segment`). The same check runs over `fuzz/corpus/wal_segment` and a fixed budget of
//! mutations in `cargo test` (crates/cli/tests/reliability_fuzz.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    promlite_tsdb::fuzzing::check_wal_segment(data);
});
