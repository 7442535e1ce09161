//! Bit-compatibility with Prometheus: every XOR chunk promtool 2.42 wrote into the
//! conformance blocks decodes, and re-encoding its samples reproduces the same bytes.

use std::path::PathBuf;

use promlite_tsdb::block::chunks::Segment;
use promlite_tsdb::chunkenc::{Encoding, XorChunk, XorIter};

fn conformance() -> PathBuf {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/tsdb"
    ));
    assert!(p.is_dir(), "conformance data missing at {}", p.display());
    p
}

#[test]
fn promtool_chunks_decode_and_reencode_identically() {
    let data = conformance().join("promtool-2.42/data");
    let mut total_samples = 0;
    let mut total_chunks = 0;
    for block in std::fs::read_dir(&data).unwrap() {
        let seg = Segment::open(&block.unwrap().path().join("chunks/000001")).unwrap();
        for c in seg.chunks() {
            let (offset, enc, bytes) = c.unwrap();
            assert_eq!(enc, Encoding::Xor);
            let mut it = XorIter::new(bytes).unwrap();
            let mut again = XorChunk::new();
            while it.next_sample().unwrap() {
                let (t, v) = it.at();
                again.append(t, v);
            }
            assert_eq!(
                again.bytes(),
                bytes,
                "chunk at byte {offset} differs after re-encoding"
            );
            total_samples += again.num_samples();
            total_chunks += 1;
        }
    }
    // meta.json of the two blocks: 2562 + 318 samples in 18 + 6 chunks.
    assert_eq!(total_samples, 2562 + 318);
    assert_eq!(total_chunks, 18 + 6);
}

#[test]
fn index_v1_block_chunks_decode() {
    let seg = Segment::open(&conformance().join("index_format_v1/chunks/000001")).unwrap();
    let mut samples = 0;
    for c in seg.chunks() {
        let (_, _, bytes) = c.unwrap();
        let mut it = XorIter::new(bytes).unwrap();
        while it.next_sample().unwrap() {
            samples += 1;
        }
    }
    assert_eq!(samples, 102);
}
