//! Writing blocks in Prometheus's format: chunk segments, the v2 index, `meta.json` and
//! an empty `tombstones` file, assembled in a temporary directory and renamed into place
//! so a block is either complete or absent.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use hashbrown::HashMap;
use promlite_model::Labels;

use super::chunks::{DEFAULT_SEGMENT_SIZE, chunk_ref, segment_header, write_chunk};
use super::index::{ChunkMeta, MAGIC_INDEX};
use super::{BlockMeta, BlockStats, Compaction};
use crate::chunkenc::Encoding;
use crate::encoding::Encbuf;
use crate::{Error, Result};

/// An encoded chunk ready to be written.
#[derive(Debug, Clone)]
pub struct EncodedChunk {
    /// First sample's timestamp.
    pub mint: i64,
    /// Last sample's timestamp.
    pub maxt: i64,
    /// Encoding.
    pub encoding: Encoding,
    /// Encoded bytes (header included).
    pub data: Vec<u8>,
    /// Number of samples.
    pub samples: u64,
}

/// Samples per chunk in blocks promlite writes. Prometheus cuts at 120 for its head; in
/// a block, fewer, longer chunks spend fewer bytes on per-chunk headers (first timestamp
/// and value, length, checksum, index entry), and Prometheus reads chunks of any length.
pub const BLOCK_CHUNK_SAMPLES: usize = 480;

/// Re-encodes consecutive XOR chunks into chunks of up to [`BLOCK_CHUNK_SAMPLES`]
/// samples. Other encodings pass through unchanged.
pub fn merge_chunks(chunks: Vec<EncodedChunk>) -> Vec<EncodedChunk> {
    use crate::chunkenc::{XorChunk, XorIter};
    let mut out: Vec<EncodedChunk> = Vec::with_capacity(chunks.len());
    let mut cur = XorChunk::new();
    let mut first = 0;
    let flush = |cur: &mut XorChunk, first: i64, out: &mut Vec<EncodedChunk>| {
        if cur.num_samples() > 0 {
            out.push(EncodedChunk {
                mint: first,
                maxt: cur.last_t(),
                encoding: Encoding::Xor,
                samples: cur.num_samples() as u64,
                data: cur.bytes().to_vec(),
            });
            *cur = XorChunk::new();
        }
    };
    for c in chunks {
        let Ok(mut it) = (if c.encoding == Encoding::Xor {
            XorIter::new(&c.data)
        } else {
            Err(crate::chunkenc::Eof)
        }) else {
            flush(&mut cur, first, &mut out);
            out.push(c);
            continue;
        };
        while let Ok(true) = it.next_sample() {
            let (t, v) = it.at();
            if cur.num_samples() == 0 {
                first = t;
            }
            cur.append(t, v);
            if cur.num_samples() >= BLOCK_CHUNK_SAMPLES {
                flush(&mut cur, first, &mut out);
            }
        }
    }
    flush(&mut cur, first, &mut out);
    out
}

/// Encodes time-ordered native-histogram samples into histogram chunks, one run of
/// integer or float histograms at a time (floats in the list are skipped).
pub(crate) fn encode_histogram_samples(
    samples: &[&(i64, promlite_storage::SampleValue)],
) -> Vec<EncodedChunk> {
    use crate::chunkenc::{encode_float_histograms, encode_histograms};
    use promlite_storage::SampleValue;
    let mut out = Vec::new();
    let mut i = 0;
    while i < samples.len() {
        let (t, v) = samples[i];
        match v {
            SampleValue::Float(_) => i += 1,
            SampleValue::Histogram(_) => {
                let mut run = Vec::new();
                while let Some((t, SampleValue::Histogram(h))) = samples.get(i).map(|s| (s.0, &s.1))
                {
                    run.push((t, &**h));
                    i += 1;
                }
                out.extend(encode_histograms(&run).into_iter().map(|c| EncodedChunk {
                    mint: c.mint,
                    maxt: c.maxt,
                    encoding: Encoding::Histogram,
                    samples: c.samples as u64,
                    data: c.bytes,
                }));
            }
            SampleValue::FloatHistogram(_) => {
                let mut run = Vec::new();
                while let Some((t, SampleValue::FloatHistogram(h))) =
                    samples.get(i).map(|s| (s.0, &s.1))
                {
                    run.push((t, &**h));
                    i += 1;
                }
                out.extend(
                    encode_float_histograms(&run)
                        .into_iter()
                        .map(|c| EncodedChunk {
                            mint: c.mint,
                            maxt: c.maxt,
                            encoding: Encoding::FloatHistogram,
                            samples: c.samples as u64,
                            data: c.bytes,
                        }),
                );
            }
        }
        let _ = t;
    }
    out
}

/// Builds one block. Series must be added in [`Labels`] order.
pub struct BlockWriter {
    parent: PathBuf,
    tmp: PathBuf,
    meta: BlockMeta,
    segment: BufWriter<File>,
    segment_index: u32,
    segment_len: u64,
    series: Vec<(Labels, Vec<ChunkMeta>)>,
    last: Option<Labels>,
    /// Set once the block is renamed into place (or found empty and removed).
    done: bool,
}

impl Drop for BlockWriter {
    /// A block that failed half-way (a full disk, an I/O error) is removed at once: its
    /// files would otherwise hold space until the next start cleans them up.
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

impl BlockWriter {
    /// Starts a block covering `[min_time, max_time)` under `parent` (the data directory).
    pub fn new(
        parent: &Path,
        min_time: i64,
        max_time: i64,
        compaction: Compaction,
    ) -> Result<BlockWriter> {
        let ulid = crate::ulid::new_ulid();
        let tmp = parent.join(format!("{ulid}.tmp-for-creation"));
        std::fs::create_dir_all(tmp.join("chunks")).map_err(Error::io(&tmp))?;
        let mut compaction = compaction;
        if compaction.sources.is_empty() {
            compaction.sources.push(ulid.clone());
        }
        let (segment, segment_len) = match open_segment(&tmp, 0) {
            Ok(s) => s,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        Ok(BlockWriter {
            parent: parent.to_owned(),
            tmp,
            meta: BlockMeta {
                ulid,
                min_time,
                max_time,
                stats: BlockStats::default(),
                compaction,
                version: 1,
            },
            segment,
            segment_index: 0,
            segment_len,
            series: Vec::new(),
            last: None,
            done: false,
        })
    }

    /// Adds a series with its chunks (time-ordered). Series without chunks are skipped.
    pub fn add_series(&mut self, labels: Labels, chunks: &[EncodedChunk]) -> Result<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        if self.last.as_ref().is_some_and(|l| *l >= labels) {
            return Err(Error::corrupt(
                &self.tmp,
                0,
                format!("series {labels} added out of order"),
            ));
        }
        let mut metas = Vec::with_capacity(chunks.len());
        for c in chunks {
            let record_len = 10 + 1 + c.data.len() as u64 + 4;
            if self.segment_len + record_len > DEFAULT_SEGMENT_SIZE
                && self.segment_len > super::chunks::SEGMENT_HEADER_LEN as u64
            {
                self.segment.flush().map_err(Error::io(&self.tmp))?;
                self.segment_index += 1;
                let (seg, len) = open_segment(&self.tmp, self.segment_index)?;
                self.segment = seg;
                self.segment_len = len;
            }
            let offset = u32::try_from(self.segment_len).map_err(|_| {
                Error::corrupt(&self.tmp, self.segment_len, "chunk segment too large")
            })?;
            let mut rec = Vec::with_capacity(c.data.len() + 16);
            write_chunk(&mut rec, c.encoding, &c.data);
            self.segment.write_all(&rec).map_err(Error::io(&self.tmp))?;
            self.segment_len += rec.len() as u64;
            metas.push(ChunkMeta {
                mint: c.mint,
                maxt: c.maxt,
                r: chunk_ref(self.segment_index, offset),
            });
            self.meta.stats.num_chunks += 1;
            self.meta.stats.num_samples += c.samples;
        }
        self.meta.stats.num_series += 1;
        self.last = Some(labels.clone());
        self.series.push((labels, metas));
        Ok(())
    }

    /// Writes the index, meta and tombstones, syncs everything and renames the block into
    /// place. Returns its directory, or `None` if no series was added (no block is made).
    pub fn finish(mut self) -> Result<Option<PathBuf>> {
        self.segment.flush().map_err(Error::io(&self.tmp))?;
        self.segment
            .get_ref()
            .sync_all()
            .map_err(Error::io(&self.tmp))?;
        if self.series.is_empty() {
            self.done = true;
            std::fs::remove_dir_all(&self.tmp).map_err(Error::io(&self.tmp))?;
            return Ok(None);
        }
        let index = encode_index(&self.series);
        write_synced(&self.tmp.join("index"), &index)?;
        write_synced(
            &self.tmp.join("tombstones"),
            &crate::tombstones::Tombstones::new().encode(),
        )?;
        write_synced(&self.tmp.join("meta.json"), &meta_json(&self.meta))?;
        let dst = self.parent.join(&self.meta.ulid);
        std::fs::rename(&self.tmp, &dst).map_err(Error::io(&dst))?;
        self.done = true;
        sync_dir(&self.parent)?;
        Ok(Some(dst))
    }

    /// The metadata written so far.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }
}

/// `meta.json` as Prometheus writes it: tab-indented.
pub(crate) fn meta_json(meta: &BlockMeta) -> Vec<u8> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Serializing plain structs into a Vec cannot fail.
    let _ = serde::Serialize::serialize(meta, &mut ser);
    out
}

fn open_segment(dir: &Path, index: u32) -> Result<(BufWriter<File>, u64)> {
    let p = dir.join("chunks").join(format!("{:06}", index + 1));
    let f = File::create(&p).map_err(Error::io(&p))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    w.write_all(&segment_header()).map_err(Error::io(&p))?;
    Ok((w, segment_header().len() as u64))
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(Error::io(path))?;
    f.write_all(data).map_err(Error::io(path))?;
    f.sync_all().map_err(Error::io(path))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))
}

/// Appends a section: a 4-byte length, the content, a CRC32C of the content.
fn section(out: &mut Vec<u8>, content: &[u8]) {
    out.extend_from_slice(&(content.len() as u32).to_be_bytes());
    out.extend_from_slice(content);
    out.extend_from_slice(&crc32c::crc32c(content).to_be_bytes());
}

fn pad_to(out: &mut Vec<u8>, align: usize) {
    while !out.len().is_multiple_of(align) {
        out.push(0);
    }
}

/// Encodes a v2 index for series given in label order.
pub(crate) fn encode_index(series: &[(Labels, Vec<ChunkMeta>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC_INDEX.to_be_bytes());
    out.push(2);

    // Symbols: every name and value, sorted; referred to by position.
    let mut symbols: Vec<&str> = series
        .iter()
        .flat_map(|(l, _)| l.iter().flat_map(|p| [p.name, p.value]))
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
    let sym_ref: HashMap<&str, u32> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i as u32))
        .collect();
    let toc_symbols = out.len() as u64;
    let mut e = Encbuf::default();
    e.b.extend_from_slice(&(symbols.len() as u32).to_be_bytes());
    for s in &symbols {
        e.uvarint_str(s);
    }
    section(&mut out, &e.b);

    // Series, each 16-byte aligned; the id is offset / 16.
    pad_to(&mut out, 16);
    let toc_series = out.len() as u64;
    let mut ids = Vec::with_capacity(series.len());
    for (labels, chunks) in series {
        pad_to(&mut out, 16);
        ids.push((out.len() / 16) as u32);
        let mut e = Encbuf::default();
        e.uvarint(labels.len() as u64);
        for p in labels {
            e.uvarint(u64::from(sym_ref[p.name]));
            e.uvarint(u64::from(sym_ref[p.value]));
        }
        e.uvarint(chunks.len() as u64);
        let mut prev: Option<&ChunkMeta> = None;
        for c in chunks {
            match prev {
                None => {
                    e.varint(c.mint);
                    e.uvarint(c.maxt.wrapping_sub(c.mint) as u64);
                    e.uvarint(c.r);
                }
                Some(p) => {
                    e.uvarint(c.mint.wrapping_sub(p.maxt) as u64);
                    e.uvarint(c.maxt.wrapping_sub(c.mint) as u64);
                    e.varint(c.r.wrapping_sub(p.r) as i64);
                }
            }
            prev = Some(c);
        }
        let mut head = Encbuf::default();
        head.uvarint(e.b.len() as u64);
        out.extend_from_slice(&head.b);
        out.extend_from_slice(&e.b);
        out.extend_from_slice(&crc32c::crc32c(&e.b).to_be_bytes());
    }

    // Postings by label pair (values sorted within each name), ids ascending.
    let mut by_name: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, Vec<u32>>> =
        std::collections::BTreeMap::new();
    for ((labels, _), id) in series.iter().zip(&ids) {
        for p in labels {
            by_name
                .entry(p.name)
                .or_default()
                .entry(p.value)
                .or_default()
                .push(*id);
        }
    }

    // Label indices (unused by readers of v2, written for older tools), 4-byte aligned.
    pad_to(&mut out, 4);
    let toc_label_indices = out.len() as u64;
    let mut label_offsets = Vec::new();
    for (name, values) in &by_name {
        pad_to(&mut out, 4);
        label_offsets.push((*name, out.len() as u64));
        let mut c = Vec::with_capacity(8 + 4 * values.len());
        c.extend_from_slice(&1u32.to_be_bytes());
        c.extend_from_slice(&(values.len() as u32).to_be_bytes());
        for v in values.keys() {
            c.extend_from_slice(&sym_ref[v].to_be_bytes());
        }
        section(&mut out, &c);
    }

    // Postings lists: the all-series list under ("", "") first.
    pad_to(&mut out, 4);
    let toc_postings = out.len() as u64;
    let mut postings_offsets: Vec<(&str, &str, u64)> = Vec::new();
    let write_list = |out: &mut Vec<u8>, list: &[u32]| {
        pad_to(out, 4);
        let at = out.len() as u64;
        let mut c = Vec::with_capacity(4 + 4 * list.len());
        c.extend_from_slice(&(list.len() as u32).to_be_bytes());
        for id in list {
            c.extend_from_slice(&id.to_be_bytes());
        }
        section(out, &c);
        at
    };
    let at = write_list(&mut out, &ids);
    postings_offsets.push(("", "", at));
    for (name, values) in &by_name {
        for (value, list) in values {
            let at = write_list(&mut out, list);
            postings_offsets.push((name, value, at));
        }
    }

    // Label offset table.
    let toc_label_table = out.len() as u64;
    let mut e = Encbuf::default();
    e.b.extend_from_slice(&(label_offsets.len() as u32).to_be_bytes());
    for (name, at) in &label_offsets {
        e.byte(1);
        e.uvarint_str(name);
        e.uvarint(*at);
    }
    section(&mut out, &e.b);

    // Postings offset table.
    let toc_postings_table = out.len() as u64;
    let mut e = Encbuf::default();
    e.b.extend_from_slice(&(postings_offsets.len() as u32).to_be_bytes());
    for (name, value, at) in &postings_offsets {
        e.byte(2);
        e.uvarint_str(name);
        e.uvarint_str(value);
        e.uvarint(*at);
    }
    section(&mut out, &e.b);

    // Table of contents.
    let toc_start = out.len();
    for v in [
        toc_symbols,
        toc_series,
        toc_label_indices,
        toc_label_table,
        toc_postings,
        toc_postings_table,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    let crc = crc32c::crc32c(&out[toc_start..]);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}
