//! Fuzzes the PromQL parser: no panic, no stack overflow, and the invariants of
//! `promlite_promql::fuzzing::fuzz_check` (a parsed query prints to a canonical form that
//! parses back to the same tree).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    promlite_promql::fuzzing::fuzz_check(data);
});
