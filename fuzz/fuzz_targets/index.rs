//! Fuzzes the block index reader: no panic opening or walking labels, postings and series (also with checksums recomputed)
//! (`promlite_tsdb::fuzzing::check_index`). The same check runs over `fuzz/corpus/index` and a fixed budget of
//! mutations in `cargo test` (crates/cli/tests/reliability_fuzz.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    promlite_tsdb::fuzzing::check_index(data);
});
