//! Fuzzes the WAL record decoder: no panic, and a decoded record re-encodes to a stable canonical form
//! (`promlite_tsdb::fuzzing::check_wal_record`). The same check runs over `fuzz/corpus/wal_record` and a fixed budget of
//! mutations in `cargo test` (crates/cli/tests/reliability_fuzz.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    promlite_tsdb::fuzzing::check_wal_record(data);
});
