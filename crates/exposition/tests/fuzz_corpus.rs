//! Replays the fuzz seed corpus (`fuzz/corpus/<target>/`) through the same invariant
//! checks the fuzz targets run, so `cargo test` guards them without a fuzzer. Files a
//! fuzzer finds worth keeping (crashes turned regressions) go in the same folders.

use std::path::PathBuf;

use promlite_exposition::fuzzing::{check_openmetrics, check_protobuf, check_text};

fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus")).join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fuzz corpus {} missing: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    for f in files {
        let data = std::fs::read(&f).unwrap();
        // Name the file if a check panics.
        let r = std::panic::catch_unwind(|| check(&data));
        assert!(r.is_ok(), "invariant broken on {}", f.display());
        // Every prefix too: truncated bodies are the commonest real-world damage.
        for n in (0..data.len()).step_by(data.len() / 64 + 1) {
            check(&data[..n]);
        }
    }
}

#[test]
fn text_corpus() {
    replay("text", check_text);
}

#[test]
fn openmetrics_corpus() {
    replay("openmetrics", check_openmetrics);
}

#[test]
fn protobuf_corpus() {
    replay("protobuf", check_protobuf);
}

#[test]
fn every_corpus_replays_through_every_parser() {
    // Feeding each parser the other formats' seeds exercises its error paths.
    for target in ["text", "openmetrics", "protobuf"] {
        replay(target, check_text);
        replay(target, check_openmetrics);
        replay(target, check_protobuf);
    }
}
