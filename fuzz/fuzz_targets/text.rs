//! Fuzzes the text parser: no panic, and the invariants of
//! `promlite_exposition::fuzzing::check_text` (errors point into the input; parsed samples
//! re-encode to text that parses back the same).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    promlite_exposition::fuzzing::check_text(data);
});
