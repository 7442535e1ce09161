//! Invariant checks over arbitrary bytes for the fuzz targets in `fuzz/` (WAL records
//! and segments, index files, chunk files and chunk encodings) and for the fixed-budget
//! mutation runs and corpus replays in `cargo test`. Each function panics only when an
//! invariant is broken; malformed input must come back as an error, never a panic, an
//! endless loop or an allocation sized by the input.

use std::path::PathBuf;

use promlite_model::SortedLabelsBuilder;

use crate::block::chunks::Segment;
use crate::block::index::{ChunkMeta, IndexReader};
use crate::block::mmap::Bytes;
use crate::chunkenc::{HistogramIter, XorIter};
use crate::postings::Postings as _;
use crate::wal::log::read_segment;
use crate::wal::record::{self, Record};

/// Upper bound on the items a check walks, so a valid-looking header that claims a
/// billion entries costs no more than a short input.
const WALK: usize = 10_000;

/// Re-encodes a decoded record with the encoder the head uses for it.
fn encode(rec: &Record) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match rec {
        Record::Series(s) => record::encode_series(s, &mut out),
        Record::Samples(s) => record::encode_samples(s, &mut out),
        Record::Tombstones(s) => record::encode_tombstones(s, &mut out),
        Record::Exemplars(s) => record::encode_exemplars(s, &mut out),
        Record::Metadata(s) => record::encode_metadata(s, &mut out),
        Record::Histograms(hs) => {
            let custom = hs.first().is_some_and(|h| h.h.uses_custom_buckets());
            if hs.iter().any(|h| h.h.uses_custom_buckets() != custom) {
                return None;
            }
            record::encode_histograms(hs, custom, &mut out);
        }
        Record::FloatHistograms(hs) => {
            let custom = hs.first().is_some_and(|h| h.h.uses_custom_buckets());
            if hs.iter().any(|h| h.h.uses_custom_buckets() != custom) {
                return None;
            }
            record::encode_float_histograms(hs, custom, &mut out);
        }
        Record::Other(_) => return None,
    }
    Some(out)
}

/// One WAL record: decoding never panics, and a decoded record re-encodes to a canonical
/// form that decodes and re-encodes to itself (compared as bytes, so NaN values count).
pub fn check_wal_record(data: &[u8]) {
    let Ok(rec) = record::decode(data) else {
        return;
    };
    let Some(canon) = encode(&rec) else { return };
    let again = record::decode(&canon)
        .unwrap_or_else(|e| panic!("re-encoded record does not decode: {e}\n{rec:?}"));
    let canon2 = encode(&again).expect("a re-decoded record re-encodes");
    assert_eq!(canon, canon2, "record encoding is not stable: {rec:?}");
}

/// One WAL segment file: reading never panics; a reported corruption lies inside the
/// input; and the prefix before it — what a repair keeps — reads back cleanly with the
/// same records. Every record is run through [`check_wal_record`].
pub fn check_wal_segment(data: &[u8]) {
    let mut records = Vec::new();
    let result = read_segment(0, data, |r| records.push(r.to_vec()));
    for r in records.iter().take(WALK) {
        check_wal_record(r);
    }
    if let Err(c) = result {
        assert!(
            c.offset <= data.len(),
            "corruption offset {} past the input ({} bytes): {}",
            c.offset,
            data.len(),
            c.reason
        );
        let mut kept = Vec::new();
        let again = read_segment(0, &data[..c.offset], |r| kept.push(r.to_vec()));
        assert!(
            again.is_ok(),
            "the repaired prefix is damaged too: {:?} (first: {})",
            again,
            c.reason
        );
        assert_eq!(kept, records, "the repaired prefix reads other records");
    }
}

/// An index file: opening never panics, and every label, postings list, series and
/// chunk reference it claims to have can be asked for without a panic. The input is
/// tried as given and with its checksums recomputed, so mutations reach the decoders
/// behind them.
pub fn check_index(data: &[u8]) {
    walk_index(data.to_vec());
    if let Some(fixed) = fix_index_checksums(data) {
        walk_index(fixed);
    }
}

fn walk_index(data: Vec<u8>) {
    let Ok(r) = IndexReader::from_bytes(PathBuf::from("fuzz/index"), Bytes::Owned(data)) else {
        return;
    };
    let names: Vec<String> = r.label_names().into_iter().map(str::to_owned).collect();
    for n in names.iter().take(WALK) {
        for v in r.label_values(n).take(WALK) {
            let _ = r.list(n, v);
        }
    }
    let Ok(all) = r.all() else { return };
    let mut lb = SortedLabelsBuilder::new();
    let mut chunks: Vec<ChunkMeta> = Vec::new();
    for &id in all.iter().take(WALK) {
        chunks.clear();
        let _ = r.series(id, &mut lb, &mut chunks);
    }
}

/// Recomputes the CRC32C of the table of contents and of the symbol table and postings
/// offset table it points at (4-byte big-endian length, body, checksum).
fn fix_index_checksums(data: &[u8]) -> Option<Vec<u8>> {
    const TOC_LEN: usize = 6 * 8 + 4;
    let mut d = data.to_vec();
    let toc = d.len().checked_sub(TOC_LEN)?;
    let field = |d: &[u8], i: usize| -> Option<usize> {
        let b: [u8; 8] = d.get(toc + i * 8..toc + i * 8 + 8)?.try_into().ok()?;
        usize::try_from(u64::from_be_bytes(b)).ok()
    };
    for i in [0, 5] {
        let Some(at) = field(&d, i) else { continue };
        let Some(len) = d
            .get(at..at.saturating_add(4))
            .and_then(|b| b.try_into().ok())
            .map(|b: [u8; 4]| u32::from_be_bytes(b) as usize)
        else {
            continue;
        };
        let (start, end) = (at + 4, at + 4 + len);
        if end.checked_add(4).is_some_and(|e| e <= toc) {
            let crc = crc32c::crc32c(&d[start..end]).to_be_bytes();
            d[end..end + 4].copy_from_slice(&crc);
        }
    }
    let crc = crc32c::crc32c(&d[toc..toc + 48]).to_be_bytes();
    d[toc + 48..toc + 52].copy_from_slice(&crc);
    Some(d)
}

/// A chunk segment file: opening and walking its chunks never panics, and every chunk
/// body decodes without a panic. The input is also tried as one bare chunk body of each
/// encoding, where mutations meet the bit-level decoders directly.
pub fn check_chunks(data: &[u8]) {
    if let Ok(seg) = Segment::from_bytes(PathBuf::from("fuzz/chunks"), data.to_vec()) {
        for c in seg.chunks().take(WALK) {
            let Ok((_, enc, body)) = c else { break };
            check_chunk_body(enc as u8, body);
        }
    }
    for enc in 1..=3 {
        check_chunk_body(enc, data);
    }
}

/// Iterates a chunk body of encoding `enc` (1 XOR, 2 histogram, 3 float histogram):
/// never more samples than the chunk header announces, timestamps as decoded.
fn check_chunk_body(enc: u8, body: &[u8]) {
    match enc {
        1 => {
            let Ok(mut it) = XorIter::new(body) else {
                return;
            };
            let announced = it.len();
            let mut n = 0;
            while let Ok(true) = it.next_sample() {
                let _ = it.at();
                n += 1;
                assert!(
                    n <= announced,
                    "more XOR samples than the header's {announced}"
                );
            }
        }
        2 | 3 => {
            let Ok(mut it) = HistogramIter::new(body, enc == 3) else {
                return;
            };
            let mut n = 0;
            while let Ok(true) = it.next_sample() {
                let _ = it.t();
                n += 1;
                // Two header bytes hold the count: a longer walk means the iterator
                // does not stop.
                assert!(u16::try_from(n).is_ok(), "histogram chunk iterates forever");
            }
        }
        _ => {}
    }
}

/// Seed inputs for the fuzz targets, made by the same encoders the database writes
/// with: `(target, file name, bytes)`, targets `wal_record`, `wal_segment`, `index` and
/// `chunks`. Written to `fuzz/corpus/<target>/` by the seed test of the fuzz suite.
pub fn seeds() -> crate::Result<Vec<(&'static str, String, Vec<u8>)>> {
    use promlite_model::{Histogram, Labels, MetricType, Span};

    use crate::block::Compaction;
    use crate::block::writer::{BlockWriter, EncodedChunk};
    use crate::chunkenc::{Encoding, XorChunk};
    use crate::wal::log::{Wal, WalOptions, segment_path};
    use crate::wal::record::{
        RefExemplar, RefHistogram, RefMetadata, RefSample, RefSeries, RefTombstone,
    };

    let labels = |name: &str, job: &str| Labels::from_pairs([("__name__", name), ("job", job)]);
    let hist = |i: u64, custom: bool| Histogram {
        schema: if custom { -53 } else { 1 },
        zero_threshold: if custom { 0.0 } else { 0.001 },
        zero_count: if custom { 0 } else { i },
        count: 3 * i + 1,
        sum: 1.5 * i as f64,
        positive_spans: vec![
            Span {
                offset: 0,
                length: 2,
            },
            Span {
                offset: 1,
                length: 1,
            },
        ],
        positive_buckets: vec![i as i64, 1, -1],
        negative_spans: if custom {
            vec![]
        } else {
            vec![Span {
                offset: -2,
                length: 1,
            }]
        },
        negative_buckets: if custom { vec![] } else { vec![1] },
        custom_values: if custom { vec![0.5, 1.0, 5.0] } else { vec![] },
        ..Histogram::default()
    };
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();

    let mut recs: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut b = Vec::new();
    record::encode_series(
        &[
            RefSeries {
                r: 1,
                labels: labels("up", "a"),
            },
            RefSeries {
                r: 2,
                labels: labels("http_requests_total", "api-server"),
            },
        ],
        &mut b,
    );
    recs.push(("series", std::mem::take(&mut b)));
    let samples: Vec<RefSample> = (0..8)
        .map(|i| RefSample {
            r: 1 + i % 2,
            t: 1_700_000_000_000 + i as i64 * 15_000,
            v: [1.0, f64::NAN, -0.0, 1e300, 42.5, f64::INFINITY, 0.1, 7.0][i as usize],
        })
        .collect();
    record::encode_samples(&samples, &mut b);
    recs.push(("samples", std::mem::take(&mut b)));
    record::encode_tombstones(
        &[RefTombstone {
            r: 2,
            mint: 10,
            maxt: 20_000,
        }],
        &mut b,
    );
    recs.push(("tombstones", std::mem::take(&mut b)));
    record::encode_exemplars(
        &[RefExemplar {
            r: 2,
            t: 1_700_000_000_500,
            v: 0.25,
            labels: Labels::from_pairs([("trace_id", "abc123")]),
        }],
        &mut b,
    );
    recs.push(("exemplars", std::mem::take(&mut b)));
    record::encode_metadata(
        &[RefMetadata {
            r: 2,
            metric_type: MetricType::Counter,
            unit: "requests".into(),
            help: "Requests served.".into(),
        }],
        &mut b,
    );
    recs.push(("metadata", std::mem::take(&mut b)));
    for custom in [false, true] {
        let hs: Vec<RefHistogram<Histogram>> = (0..3)
            .map(|i| RefHistogram {
                r: 1,
                t: 1_700_000_000_000 + i as i64 * 1000,
                h: hist(i, custom),
            })
            .collect();
        record::encode_histograms(&hs, custom, &mut b);
        recs.push((
            if custom {
                "custom-histograms"
            } else {
                "histograms"
            },
            std::mem::take(&mut b),
        ));
        let fhs: Vec<RefHistogram<promlite_model::FloatHistogram>> = hs
            .iter()
            .map(|h| RefHistogram {
                r: h.r,
                t: h.t,
                h: h.h.to_float(),
            })
            .collect();
        record::encode_float_histograms(&fhs, custom, &mut b);
        recs.push((
            if custom {
                "custom-float-histograms"
            } else {
                "float-histograms"
            },
            std::mem::take(&mut b),
        ));
    }
    for (name, r) in &recs {
        out.push(("wal_record", (*name).to_string(), r.clone()));
    }

    // Segments as the WAL writes them: plain, snappy-compressed, and one whose record
    // spans pages.
    let tmp = std::env::temp_dir().join(format!("promlite-fuzz-seeds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for (name, compress, big) in [
        ("plain", false, false),
        ("snappy", true, false),
        ("page-spanning", false, true),
    ] {
        let dir = tmp.join(name);
        let mut w = Wal::open(
            &dir,
            WalOptions {
                compress,
                ..WalOptions::default()
            },
        )?;
        let refs: Vec<&[u8]> = recs.iter().map(|(_, r)| r.as_slice()).collect();
        w.log(&refs)?;
        if big {
            w.log(&[vec![7u8; crate::wal::log::PAGE_SIZE + 100].as_slice()])?;
            w.log(&[recs[1].1.as_slice()])?;
        }
        w.close()?;
        let p = segment_path(&dir, 0);
        out.push((
            "wal_segment",
            name.to_string(),
            std::fs::read(&p).map_err(crate::Error::io(&p))?,
        ));
    }

    // A small block: an index and its chunk file, with float and histogram chunks.
    let mut x = XorChunk::new();
    for i in 0..20 {
        x.append(1_700_000_000_000 + i * 15_000, (i * i) as f64 * 0.5);
    }
    let xor = EncodedChunk {
        mint: 1_700_000_000_000,
        maxt: 1_700_000_000_000 + 19 * 15_000,
        encoding: Encoding::Xor,
        data: x.bytes().to_vec(),
        samples: 20,
    };
    let hs: Vec<Histogram> = (0..5).map(|i| hist(i, false)).collect();
    let pairs: Vec<(i64, &Histogram)> = hs
        .iter()
        .enumerate()
        .map(|(i, h)| (1_700_000_000_000 + i as i64 * 15_000, h))
        .collect();
    let hchunks: Vec<EncodedChunk> = crate::chunkenc::encode_histograms(&pairs)
        .into_iter()
        .map(|c| EncodedChunk {
            mint: c.mint,
            maxt: c.maxt,
            encoding: Encoding::Histogram,
            data: c.bytes,
            samples: c.samples as u64,
        })
        .collect();
    let fhs: Vec<promlite_model::FloatHistogram> = hs.iter().map(Histogram::to_float).collect();
    let fpairs: Vec<(i64, &promlite_model::FloatHistogram)> = fhs
        .iter()
        .enumerate()
        .map(|(i, h)| (1_700_000_000_000 + i as i64 * 15_000, h))
        .collect();
    let fchunks: Vec<EncodedChunk> = crate::chunkenc::encode_float_histograms(&fpairs)
        .into_iter()
        .map(|c| EncodedChunk {
            mint: c.mint,
            maxt: c.maxt,
            encoding: Encoding::FloatHistogram,
            data: c.bytes,
            samples: c.samples as u64,
        })
        .collect();
    out.push(("chunks", "xor-body".into(), xor.data.clone()));
    if let Some(c) = hchunks.first() {
        out.push(("chunks", "histogram-body".into(), c.data.clone()));
    }
    if let Some(c) = fchunks.first() {
        out.push(("chunks", "float-histogram-body".into(), c.data.clone()));
    }
    let mut w = BlockWriter::new(
        &tmp,
        1_700_000_000_000,
        1_700_000_000_000 + 3_600_000,
        Compaction {
            level: 1,
            sources: Vec::new(),
        },
    )?;
    w.add_series(labels("a_histogram", "a"), &hchunks)?;
    w.add_series(labels("b_float_histogram", "b"), &fchunks)?;
    w.add_series(labels("up", "a"), &[xor])?;
    let block = w
        .finish()?
        .ok_or_else(|| crate::Error::corrupt(&tmp, 0, "the seed block came out empty"))?;
    for (target, name, file) in [
        ("index", "block", block.join("index")),
        ("chunks", "segment", block.join("chunks").join("000001")),
    ] {
        out.push((
            target,
            name.to_string(),
            std::fs::read(&file).map_err(crate::Error::io(&file))?,
        ));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(out)
}
