//! Fuzzes the chunk segment reader and the XOR and histogram chunk decoders: no panic, no more samples than announced
//! (`promlite_tsdb::fuzzing::check_chunks`). The same check runs over `fuzz/corpus/chunks` and a fixed budget of
//! mutations in `cargo test` (crates/cli/tests/reliability_fuzz.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    promlite_tsdb::fuzzing::check_chunks(data);
});
