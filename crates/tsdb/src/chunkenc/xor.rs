//! The XOR ("Gorilla") float chunk, bit-compatible with Prometheus's `EncXOR`.
//!
//! Layout: a big-endian `u16` sample count, then the first sample as a signed varint
//! timestamp and 64 raw value bits, the second as an unsigned varint time delta and an
//! XOR-encoded value, and every later one as a delta-of-delta timestamp in one of five
//! bit widths (0, 14, 17, 20 or 64 bits, tagged `0`, `10`, `110`, `1110`, `1111`) and an
//! XOR-encoded value (a `0` bit for "unchanged", else the meaningful bits of the XOR
//! with the previous value, reusing the previous leading/trailing zero counts when they
//! fit).

use promlite_storage::FPoint;

use super::bstream::{BitWriter, Eof};
use crate::encoding::Decbuf;

/// Bytes reserved for the sample count.
const HEADER: usize = 2;

/// An XOR chunk under construction (or complete), with the state needed to append.
#[derive(Debug, Clone)]
pub struct XorChunk {
    stream: BitWriter,
    num: u16,
    t: i64,
    v: f64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorChunk {
    fn default() -> Self {
        XorChunk::new()
    }
}

impl XorChunk {
    /// An empty chunk.
    pub fn new() -> XorChunk {
        XorChunk {
            stream: BitWriter::with_header(HEADER, 128),
            num: 0,
            t: 0,
            v: 0.0,
            t_delta: 0,
            leading: 0xff,
            trailing: 0,
        }
    }

    /// Reopens the chunk `bytes` for appending, replaying it to recover the appender's
    /// state (as Prometheus does when a head chunk is loaded back).
    pub fn from_bytes(bytes: &[u8]) -> Result<XorChunk, Eof> {
        let mut it = XorIter::new(bytes)?;
        while it.next_sample()? {}
        // Re-encode rather than copy: the writer must know how many bits of the last byte
        // are free, which only a replay of the encoding reveals.
        let mut c = XorChunk::new();
        let mut it = XorIter::new(bytes)?;
        while it.next_sample()? {
            let (t, v) = it.at();
            c.append(t, v);
        }
        Ok(c)
    }

    /// The encoded chunk, header included. Stable while no sample is appended.
    pub fn bytes(&self) -> &[u8] {
        &self.stream.bytes
    }

    /// Number of samples.
    pub fn num_samples(&self) -> usize {
        usize::from(self.num)
    }

    /// Timestamp of the newest sample (meaningless when empty).
    pub fn last_t(&self) -> i64 {
        self.t
    }

    /// Value of the newest sample (meaningless when empty).
    pub fn last_v(&self) -> f64 {
        self.v
    }

    /// Appends a sample. The caller ensures `t` is newer than the last sample and that
    /// the chunk holds fewer than `u16::MAX` samples.
    pub fn append(&mut self, t: i64, v: f64) {
        let mut t_delta = 0u64;
        match self.num {
            0 => {
                self.stream.write_varint(t);
                self.stream.write_bits(v.to_bits(), 64);
            }
            1 => {
                t_delta = t.wrapping_sub(self.t) as u64;
                self.stream.write_uvarint(t_delta);
                self.write_value(v);
            }
            _ => {
                t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                let s = &mut self.stream;
                if dod == 0 {
                    s.write_bit(false);
                } else if fits(dod, 14) {
                    s.write_bits(0b10, 2);
                    s.write_bits(dod as u64, 14);
                } else if fits(dod, 17) {
                    s.write_bits(0b110, 3);
                    s.write_bits(dod as u64, 17);
                } else if fits(dod, 20) {
                    s.write_bits(0b1110, 4);
                    s.write_bits(dod as u64, 20);
                } else {
                    s.write_bits(0b1111, 4);
                    s.write_bits(dod as u64, 64);
                }
                self.write_value(v);
            }
        }
        self.t = t;
        self.v = v;
        self.t_delta = t_delta;
        self.num += 1;
        self.stream.bytes[..HEADER].copy_from_slice(&self.num.to_be_bytes());
    }

    fn write_value(&mut self, v: f64) {
        let delta = v.to_bits() ^ self.v.to_bits();
        let s = &mut self.stream;
        if delta == 0 {
            s.write_bit(false);
            return;
        }
        s.write_bit(true);
        // Five bits hold the leading-zero count, so it is capped at 31.
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            s.write_bit(false);
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            s.write_bits(delta >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            s.write_bit(true);
            s.write_bits(u64::from(leading), 5);
            // 64 significant bits do not fit in six; they are written as 0 and read back
            // as 64 (0 significant bits cannot occur: that is the `delta == 0` case).
            let sig = 64 - u32::from(leading) - u32::from(trailing);
            s.write_bits(u64::from(sig), 6);
            s.write_bits(delta >> trailing, sig);
        }
    }

    /// An iterator over the samples.
    pub fn samples(&self) -> XorIter<'_> {
        // Our own bytes always carry a header.
        XorIter::new(self.bytes()).unwrap_or_else(|_| XorIter::empty())
    }
}

/// Whether `x` fits the `n`-bit delta-of-delta encoding (Prometheus's `bitRange`).
fn fits(x: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= x && x <= half
}

/// Sixty-four bits of `data` from bit `pos` on, most significant first, of which at
/// least the top 57 are exact: one unaligned 8-byte load and a shift. Bits past the end
/// of `data` read as 0 (callers check the position against the length afterwards).
// `inline(always)` here and on the decoder steps below: with plain `#[inline]` the
// decode loops were not fully inlined and ran ~10 % slower (benches/tsdb.rs select).
#[allow(clippy::inline_always)]
#[inline(always)]
fn window(data: &[u8], pos: usize) -> u64 {
    let start = pos >> 3;
    let mut w = [0u8; 8];
    if let Some(b) = data.get(start..start + 8) {
        w.copy_from_slice(b);
    } else if let Some(tail) = data.get(start..) {
        w[..tail.len()].copy_from_slice(tail);
    }
    u64::from_be_bytes(w) << (pos & 7)
}

/// `n` (1 to 64) bits of `data` from bit `pos` on, as the low bits of the result.
#[allow(clippy::inline_always)]
#[inline(always)]
fn bits(data: &[u8], pos: usize, n: u32) -> u64 {
    if n <= 57 {
        window(data, pos) >> (64 - n)
    } else {
        // Two loads: the top 32 bits, then the other `n - 32` (26 to 32).
        let hi = window(data, pos) >> 32;
        let lo = window(data, pos + 32) >> (96 - n);
        (hi << (n - 32)) | lo
    }
}

/// `bits` as an `n`-bit delta-of-delta: values above half the range are negative
/// (the inverse of [`fits`]).
#[allow(clippy::inline_always)]
#[inline(always)]
fn signed(bits: u64, n: u32) -> i64 {
    if bits > 1 << (n - 1) {
        bits as i64 - (1i64 << n)
    } else {
        bits as i64
    }
}

/// The decoder's state after a sample: where the next one starts and what it is
/// relative to.
#[derive(Debug, Clone, Copy)]
struct State {
    /// Bit position in the data after the header.
    pos: usize,
    t: i64,
    /// The value's bits.
    v: u64,
    t_delta: u64,
    /// The count of meaningful bits of the XOR window in use (64 less the leading
    /// and trailing zeros): kept rather than the leading zeros, which the decoder
    /// needs only to compute it.
    sig: u8,
    trailing: u8,
}

impl State {
    /// Before the first sample.
    const START: State = State {
        pos: 0,
        t: i64::MIN,
        v: 0,
        t_delta: 0,
        sig: 64,
        trailing: 0,
    };

    /// Decodes one sample after the second (delta-of-delta timestamp, XOR value).
    ///
    /// Reads through [`window`] loads rather than a bit reader, and checks the position
    /// against the end once, after the sample: bits past the end read as 0, and any read
    /// that ran past it leaves `pos` past it too. The commonest sample of a regular scrape
    /// of an unchanged value, `0` `0`, is tested for first, with one load.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn step(&mut self, data: &[u8]) -> Result<(), Eof> {
        let w = window(data, self.pos);
        // Tests on the leading bits in order of likelihood rather than a `match` on
        // their count: the match compiled to a jump table whose indirect branch was the
        // loop's hottest instruction (perf annotate).
        if w >> 63 == 0 {
            // Delta-of-delta 0: a regular scrape.
            self.t = self.t.wrapping_add(self.t_delta as i64);
            if w >> 62 == 0 {
                // And the value unchanged.
                self.pos += 2;
            } else {
                self.pos += 1;
                self.read_xor(data, w << 1)?;
            }
        } else {
            // The tag is 10, 110, 1110 or 1111, followed by 14, 17, 20 or 64 bits.
            let dod = if w >> 62 == 0b10 {
                self.pos += 2 + 14;
                signed((w << 2) >> (64 - 14), 14)
            } else if w >> 61 == 0b110 {
                self.pos += 3 + 17;
                signed((w << 3) >> (64 - 17), 17)
            } else if w >> 60 == 0b1110 {
                self.pos += 4 + 20;
                signed((w << 4) >> (64 - 20), 20)
            } else {
                let d = bits(data, self.pos + 4, 64) as i64;
                self.pos += 4 + 64;
                d
            };
            self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
            self.t = self.t.wrapping_add(self.t_delta as i64);
            self.read_value(data)?;
        }
        if self.pos > data.len() * 8 {
            return Err(Eof);
        }
        Ok(())
    }

    /// Decodes the commonest kinds of sample, those of a regular scrape (delta-of-delta
    /// 0), from the 16 bytes `b` of the data that start at the sample's byte, and returns
    /// `true`; returns `false`, with the state untouched, for any other sample (and for
    /// a corrupt window), which [`State::step`] then decodes.
    ///
    /// The longest sample decoded here ends 7 + 1 + 2 + 5 + 6 + 64 = 85 bits into `b`,
    /// so no read here goes past the end of `b`. A sample that would end past `end`
    /// (the data's length in bits) is left to [`State::step`] to report: `b` may be a
    /// zero-padded copy of the data's last bytes.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn fast_step(&mut self, b: &[u8; 16], end: usize) -> bool {
        // The 64 bits of `b` from `bit` (at most 21 here) on, of which at least the top
        // 57 are exact (`load`) or all are (`exact`, one byte more). The masks show the
        // compiler that the indexes are in bounds.
        let load = |bit: usize| {
            let k = (bit >> 3) & 7;
            let w: [u8; 8] = b[k..k + 8].try_into().unwrap_or_default();
            u64::from_be_bytes(w) << (bit & 7)
        };
        let exact = |bit: usize| {
            let k = (bit >> 3) & 7;
            load(bit) | (u64::from(b[k + 8]) >> (8 - (bit & 7)))
        };
        let value = |bit: usize, sig: u32| {
            if sig <= 57 {
                load(bit) >> (64 - sig)
            } else {
                exact(bit) >> (64 - sig)
            }
        };
        let off = self.pos & 7;
        let top = load(off);
        if top >> 63 != 0 {
            return false;
        }
        if top >> 62 & 1 == 0 {
            // The value unchanged.
            if self.pos + 2 > end {
                return false;
            }
            self.pos += 2;
        } else if top >> 61 & 1 == 0 {
            // `10`: the previous window of meaningful bits, right after these 3 bits.
            let sig = u32::from(self.sig);
            let pos = self.pos + 3 + sig as usize;
            if pos > end {
                return false;
            }
            // Within the bits already loaded when they end by the 57th exact one (values
            // that change in their low bits, as counters do), else loaded again.
            let bits = if sig <= 54 {
                (top << 3) >> (64 - sig)
            } else {
                value(off + 3, sig)
            };
            self.v ^= bits << self.trailing;
            self.pos = pos;
        } else {
            // `11`: 5 bits of leading zeros and 6 of significant bits, then those bits.
            let leading = ((top >> 56) & 31) as u32;
            let sig = match ((top >> 50) & 63) as u32 {
                0 => 64,
                n => n,
            };
            let Some(trailing) = 64u32.checked_sub(leading + sig) else {
                return false;
            };
            let pos = self.pos + 14 + sig as usize;
            if pos > end {
                return false;
            }
            self.v ^= value(off + 14, sig) << trailing;
            self.sig = sig as u8;
            self.trailing = trailing as u8;
            self.pos = pos;
        }
        self.t = self.t.wrapping_add(self.t_delta as i64);
        true
    }

    /// [`State::step`] out of line, for the samples [`State::fast_step`] leaves: kept out
    /// of the batch loop so its many live values do not push the loop's state out of
    /// registers. By value, so that the loop's state need not live in memory.
    #[inline(never)]
    fn slow_step(mut self, data: &[u8]) -> (State, Result<(), Eof>) {
        let r = self.step(data);
        (self, r)
    }

    /// Decodes an XOR-coded value. The caller checks the position afterwards.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn read_value(&mut self, data: &[u8]) -> Result<(), Eof> {
        let w = window(data, self.pos);
        if w >> 63 == 0 {
            // Control bit 0: the value is unchanged.
            self.pos += 1;
            return Ok(());
        }
        self.read_xor(data, w)
    }

    /// Decodes a changed value at `pos`, whose control bits start the window `w` (which
    /// holds at least 56 exact bits): `10` (the previous window of meaningful bits) or
    /// `11` (a new window: 5 bits of leading zeros, 6 of significant bits, 0 meaning
    /// 64). The caller checks the position afterwards.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn read_xor(&mut self, data: &[u8], w: u64) -> Result<(), Eof> {
        if (w >> 62) & 1 == 1 {
            let leading = ((w >> 57) & 31) as u8;
            let sig = match ((w >> 51) & 63) as u8 {
                0 => 64,
                n => n,
            };
            // A corrupt chunk could claim more bits than a u64 has.
            self.trailing = 64u8.checked_sub(leading + sig).ok_or(Eof)?;
            self.sig = sig;
            self.pos += 2 + 5 + 6;
        } else {
            self.pos += 2;
        }
        let sig = u32::from(self.sig);
        self.v ^= bits(data, self.pos, sig) << self.trailing;
        self.pos += sig as usize;
        Ok(())
    }
}

/// Decodes an XOR chunk's samples in order.
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    /// The data after the header.
    data: &'a [u8],
    total: u16,
    read: u16,
    s: State,
}

impl<'a> XorIter<'a> {
    /// An iterator over an encoded chunk (header included).
    pub fn new(bytes: &'a [u8]) -> Result<XorIter<'a>, Eof> {
        let header: [u8; 2] = bytes
            .get(..HEADER)
            .ok_or(Eof)?
            .try_into()
            .map_err(|_| Eof)?;
        Ok(XorIter {
            data: &bytes[HEADER..],
            total: u16::from_be_bytes(header),
            read: 0,
            s: State::START,
        })
    }

    fn empty() -> XorIter<'static> {
        XorIter {
            data: &[],
            total: 0,
            read: 0,
            s: State::START,
        }
    }

    /// The samples still to decode, as the header counts them, but never more than the
    /// data could hold (every sample takes at least two bits): what to reserve room for,
    /// which a corrupt count cannot make large.
    pub fn left(&self) -> usize {
        usize::from(self.total.saturating_sub(self.read)).min(self.data.len() * 4)
    }

    /// The number of samples the header announces.
    pub fn len(&self) -> usize {
        usize::from(self.total)
    }

    /// Whether the chunk announces no samples.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The current sample.
    #[inline]
    pub fn at(&self) -> (i64, f64) {
        (self.s.t, f64::from_bits(self.s.v))
    }

    /// Advances; `Ok(false)` at the end, `Err` if the chunk is corrupt.
    #[inline]
    pub fn next_sample(&mut self) -> Result<bool, Eof> {
        if self.read == self.total {
            return Ok(false);
        }
        if self.read < 2 {
            self.first_two()?;
        } else {
            self.s.step(self.data)?;
        }
        self.read += 1;
        Ok(true)
    }

    /// The first sample (varint timestamp, raw value) or the second (uvarint time
    /// delta, XOR value). Both start on a byte (the first sample is whole bytes), so
    /// their varints and the raw value are read as bytes rather than bit by bit: every
    /// chunk a query reads starts here.
    #[cold]
    fn first_two(&mut self) -> Result<(), Eof> {
        let start = self.s.pos >> 3;
        let mut d = Decbuf::new(self.data.get(start..).ok_or(Eof)?);
        if self.read == 0 {
            self.s.t = d.varint().map_err(|_| Eof)?;
            self.s.v = d.be64().map_err(|_| Eof)?;
            self.s.pos = (start + d.offset()) * 8;
        } else {
            self.s.t_delta = d.uvarint().map_err(|_| Eof)?;
            self.s.t = self.s.t.wrapping_add(self.s.t_delta as i64);
            self.s.pos = (start + d.offset()) * 8;
            self.s.read_value(self.data)?;
            if self.s.pos > self.data.len() * 8 {
                return Err(Eof);
            }
        }
        Ok(())
    }

    /// Decodes the samples after the current one into `out` for as long as their
    /// timestamps are at most `limit`, with the decoder's state in locals: regular-scrape
    /// samples through [`State::fast_step`] (one bounds check per sample), the rest
    /// through [`State::step`]; the chunk's last 16 bytes from a zero-padded copy, so the
    /// fast path serves them too. `Ok(true)` when it stopped at a sample past `limit`, which is then
    /// current (and not in `out`); `Ok(false)` at the chunk's end; `Err` if the chunk is
    /// corrupt (the samples before the damage are in `out`).
    pub fn read_until(&mut self, limit: i64, out: &mut Vec<FPoint>) -> Result<bool, Eof> {
        out.reserve(self.left());
        self.decode_until(limit, |p| out.push(p))
    }

    /// Decodes past the samples after the current one whose timestamps are at most
    /// `limit`, keeping none: how a seek reaches a time inside a chunk (an instant
    /// query's window starts inside the newest chunk of each series). The same results
    /// as [`Self::read_until`] without the output.
    pub fn skip_until(&mut self, limit: i64) -> Result<bool, Eof> {
        self.decode_until(limit, |_| {})
    }

    /// Decodes past the samples after the current one whose timestamps are at most
    /// `limit`, as [`Self::skip_until`], keeping only the last of them: how an instant
    /// selector finds the newest sample of its lookback window. `None` when no sample
    /// after the current one is at most `limit`; the flag is [`Self::skip_until`]'s.
    pub fn last_until(&mut self, limit: i64) -> Result<(bool, Option<FPoint>), Eof> {
        let mut last = None;
        let stopped = self.decode_until(limit, |p| last = Some(p))?;
        Ok((stopped, last))
    }

    /// [`Self::read_until`] with `keep` given each sample at most `limit`.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn decode_until(&mut self, limit: i64, mut keep: impl FnMut(FPoint)) -> Result<bool, Eof> {
        while self.read < 2 {
            if !self.next_sample()? {
                return Ok(false);
            }
            let (t, f) = self.at();
            if t > limit {
                return Ok(true);
            }
            keep(FPoint { t, f });
        }
        let data = self.data;
        let total = self.total;
        let mut s = self.s;
        // Samples still to decode.
        let mut todo = total - self.read;
        let end = data.len() * 8;
        // Counts the sample just decoded and appends it, or says to stop at it.
        let mut emit = |s: &State, todo: &mut u16| {
            *todo -= 1;
            if s.t > limit {
                return false;
            }
            keep(FPoint {
                t: s.t,
                f: f64::from_bits(s.v),
            });
            true
        };
        let res = 'done: {
            // The bulk: samples that start at least 16 bytes before the end, decoded
            // straight from the data.
            while todo > 0 {
                let start = s.pos >> 3;
                let Some(Ok(b)) = data.get(start..start + 16).map(<&[u8; 16]>::try_from) else {
                    break;
                };
                if !s.fast_step(b, usize::MAX) {
                    let r;
                    (s, r) = s.slow_step(data);
                    if let Err(e) = r {
                        break 'done Err(e);
                    }
                }
                if !emit(&s, &mut todo) {
                    break 'done Ok(true);
                }
            }
            // The last bytes, from a zero-padded copy (as bits past the end read as 0).
            let base = s.pos >> 3;
            let mut pad = [0u8; 32];
            if let Some(tail) = data.get(base..) {
                let n = tail.len().min(pad.len());
                pad[..n].copy_from_slice(&tail[..n]);
            }
            // The same step as the bulk loop's, written out again on purpose: sharing it
            // as a closure over `&mut State` moved the state out of registers and made
            // decoding twice as slow (tsdb_xor_read_until).
            while todo > 0 {
                let b = pad
                    .get((s.pos >> 3).wrapping_sub(base)..)
                    .and_then(<[u8]>::first_chunk::<16>);
                if !b.is_some_and(|b| s.fast_step(b, end)) {
                    let r;
                    (s, r) = s.slow_step(data);
                    if let Err(e) = r {
                        break 'done Err(e);
                    }
                }
                if !emit(&s, &mut todo) {
                    break 'done Ok(true);
                }
            }
            Ok(false)
        };
        let read = total - todo;
        self.s = s;
        self.read = read;
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(bytes: &[u8]) -> Vec<(i64, u64)> {
        let mut it = XorIter::new(bytes).unwrap();
        let mut out = Vec::new();
        while it.next_sample().unwrap() {
            let (t, v) = it.at();
            out.push((t, v.to_bits()));
        }
        out
    }

    /// Samples as (timestamp, value bits), 1 to `max` of them: timestamps mostly 10 s
    /// apart with some jitter and some large irregular gaps; values repeated, stepped,
    /// arbitrary, NaN or Prometheus's stale marker.
    fn samples(max: usize) -> impl Strategy<Value = Vec<(i64, u64)>> {
        let step = prop_oneof![
            6 => Just(10_000i64),
            2 => 9_990i64..10_010,
            1 => 0i64..100_000,
            1 => 0i64..(1 << 40),
        ];
        let value = prop_oneof![
            4 => Just(None),
            3 => (0u32..100).prop_map(|d| Some(Err(f64::from(d)))),
            2 => any::<f64>().prop_map(|v| Some(Ok(v.to_bits()))),
            1 => Just(Some(Ok(f64::NAN.to_bits()))),
            1 => Just(Some(Ok(STALE_NAN))),
        ];
        (
            any::<i32>(),
            proptest::collection::vec((step, value), 1..=max),
        )
            .prop_map(|(start, steps)| {
                let mut t = i64::from(start);
                let mut v = 0f64.to_bits();
                steps
                    .into_iter()
                    .map(|(d, next)| {
                        t += d + 1;
                        match next {
                            None => {}
                            Some(Ok(bits)) => v = bits,
                            // A counter's increase.
                            Some(Err(d)) => v = (f64::from_bits(v) + d).to_bits(),
                        }
                        (t, v)
                    })
                    .collect()
            })
    }

    /// Prometheus's stale marker.
    const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

    fn bits_of(ps: &[FPoint]) -> Vec<(i64, u64)> {
        ps.iter().map(|p| (p.t, p.f.to_bits())).collect()
    }

    /// A chunk Prometheus 2.42 wrote (`chunkenc.NewXORChunk` appending (1000,1), (2000,2),
    /// (3000,2), (4500,3.5)) would decode to these samples; we check our own round trip
    /// here and byte equality with Prometheus's files in the block interop tests.
    #[test]
    fn round_trip_small() {
        let mut c = XorChunk::new();
        let samples = [
            (1000, 1.0),
            (2000, 2.0),
            (3000, 2.0),
            (4500, 3.5),
            (4501, f64::NAN),
        ];
        for (t, v) in samples {
            c.append(t, v);
        }
        let got = decode(c.bytes());
        let want: Vec<_> = samples
            .iter()
            .map(|&(t, v): &(i64, f64)| (t, v.to_bits()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(c.num_samples(), 5);
    }

    #[test]
    fn reopened_chunk_appends_identically() {
        let mut a = XorChunk::new();
        for i in 0..50 {
            a.append(i * 15_000 + (i % 3), (i * i) as f64 / 7.0);
        }
        let mut b = XorChunk::from_bytes(a.bytes()).unwrap();
        assert_eq!(a.bytes(), b.bytes());
        a.append(1_000_000, 1.5);
        b.append(1_000_000, 1.5);
        assert_eq!(a.bytes(), b.bytes());
    }

    #[test]
    fn truncated_chunk_is_an_error_not_a_panic() {
        let mut c = XorChunk::new();
        for i in 0..20 {
            c.append(i * 1000, i as f64 * 1.1);
        }
        let bytes = c.bytes();
        for cut in 0..bytes.len() - 1 {
            let Ok(mut it) = XorIter::new(&bytes[..cut]) else {
                continue;
            };
            let mut n = 0;
            while let Ok(true) = it.next_sample() {
                n += 1;
            }
            assert!(n <= 20);
        }
    }

    /// `read_until` against the sample-at-a-time decoder on `bytes`: the same samples,
    /// and an error exactly where the slow decoder fails.
    fn check_batch_matches_slow(bytes: &[u8]) {
        let Ok(mut it) = XorIter::new(bytes) else {
            return;
        };
        let mut out = Vec::new();
        let res = it.read_until(i64::MAX, &mut out);
        let mut slow = XorIter::new(bytes).unwrap();
        let mut want = Vec::new();
        let slow_res = loop {
            match slow.next_sample() {
                Ok(true) => {
                    let (t, f) = slow.at();
                    want.push(FPoint { t, f });
                }
                Ok(false) => break Ok(false),
                Err(e) => break Err(e),
            }
        };
        assert_eq!(bits_of(&out), bits_of(&want), "{bytes:?}");
        assert_eq!(res, slow_res, "{bytes:?}");
    }

    /// Chunks whose last sample ends at every bit position of their last bytes, in each
    /// kind of sample the batch decoder's fast path reads (value unchanged, previous
    /// window, new window, up to 64 meaningful bits) and the kinds it leaves to the
    /// general decoder, decode alike in bulk and one at a time; so do their truncations
    /// and the same bytes announcing one sample more than they hold (a read past the end).
    #[test]
    fn batch_decode_of_every_chunk_end() {
        let values: [&dyn Fn(i64) -> f64; 5] = [
            &|i| (i / 3) as f64,
            &|i| i as f64,
            &|i| i as f64 + 1.0 / 1313.0,
            &|i| f64::from_bits(0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(i as u64 + 1)),
            &|i| if i % 2 == 0 { 1.0 } else { -1e300 },
        ];
        let gaps: [&dyn Fn(i64) -> i64; 3] = [
            &|_| 10_000,
            &|i| if i % 7 == 3 { 10_003 } else { 10_000 },
            &|i| if i % 5 == 0 { 1 << 40 } else { 10_000 },
        ];
        for value in values {
            for gap in gaps {
                let mut c = XorChunk::new();
                let mut t = 1_700_000_000_000;
                for i in 0..40 {
                    c.append(t, value(i));
                    t += gap(i);
                    let bytes = c.bytes();
                    check_batch_matches_slow(bytes);
                    let mut more = bytes.to_vec();
                    more[..HEADER].copy_from_slice(&(c.num_samples() as u16 + 1).to_be_bytes());
                    check_batch_matches_slow(&more);
                    for cut in bytes.len().saturating_sub(24)..bytes.len() {
                        check_batch_matches_slow(&bytes[..cut]);
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_samples_round_trip(
            start in any::<i32>(),
            deltas in proptest::collection::vec(prop_oneof![0i64..2, 0i64..100_000, 0i64..(1 << 40)], 0..200),
            values in proptest::collection::vec(any::<f64>(), 200),
        ) {
            let mut c = XorChunk::new();
            let mut t = i64::from(start);
            let mut want = Vec::new();
            for (i, d) in deltas.iter().enumerate() {
                t += d + 1;
                let v = values[i];
                c.append(t, v);
                want.push((t, v.to_bits()));
            }
            prop_assert_eq!(decode(c.bytes()), want);
        }

        /// The batch decoder reads what the encoder wrote, from any starting point and up
        /// to any limit, for scrape-like and irregular timestamps and NaN, stale-marker,
        /// repeated and arbitrary values; skipping to the limit stops at the same sample.
        #[test]
        fn batch_decode_round_trips(
            samples in samples(480),
            skip in 0usize..480,
            limit_at in 0usize..481,
            jitter in -2i64..3,
        ) {
            let mut c = XorChunk::new();
            for &(t, v) in &samples {
                c.append(t, f64::from_bits(v));
            }
            prop_assert_eq!(decode(c.bytes()), samples.clone());
            let skip = skip % (samples.len() + 1);
            let limit = samples
                .get(limit_at % samples.len())
                .map_or(i64::MAX, |s| s.0.saturating_add(jitter));
            let mut it = XorIter::new(c.bytes()).unwrap();
            let mut skipped = XorIter::new(c.bytes()).unwrap();
            let mut got = Vec::new();
            for _ in 0..skip {
                prop_assert!(it.next_sample().unwrap());
                prop_assert!(skipped.next_sample().unwrap());
                let (t, f) = it.at();
                got.push(FPoint { t, f });
            }
            let mut out = Vec::new();
            let stopped = it.read_until(limit, &mut out).unwrap();
            prop_assert_eq!(skipped.skip_until(limit).unwrap(), stopped);
            got.extend(out);
            let want: Vec<FPoint> = samples
                .iter()
                .enumerate()
                .filter(|&(i, s)| i < skip || s.0 <= limit)
                .map(|(_, &(t, v))| FPoint { t, f: f64::from_bits(v) })
                .collect();
            prop_assert_eq!(bits_of(&got), bits_of(&want));
            let first_past = samples.iter().skip(skip).find(|s| s.0 > limit);
            prop_assert_eq!(stopped, first_past.is_some());
            if let Some(&(t, v)) = first_past {
                prop_assert_eq!(it.at().0, t);
                prop_assert_eq!(it.at().1.to_bits(), v);
                prop_assert_eq!(skipped.at().0, t);
                prop_assert_eq!(skipped.at().1.to_bits(), v);
                // Reading on from the stop gives the rest, after a skip too.
                let (mut rest, mut rest_skipped) = (Vec::new(), Vec::new());
                prop_assert!(!it.read_until(i64::MAX, &mut rest).unwrap());
                prop_assert!(!skipped.read_until(i64::MAX, &mut rest_skipped).unwrap());
                let n = samples.iter().filter(|s| s.0 > t).count();
                prop_assert_eq!(rest.len(), n);
                prop_assert_eq!(bits_of(&rest_skipped), bits_of(&rest));
            }
        }

        #[test]
        fn batch_decode_of_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(mut it) = XorIter::new(&bytes) {
                let mut out = Vec::new();
                let _ = it.read_until(i64::MAX, &mut out);
                let mut slow = XorIter::new(&bytes).unwrap();
                let mut n = 0;
                while let Ok(true) = slow.next_sample() {
                    n += 1;
                }
                // Both stop at the same damage.
                prop_assert_eq!(out.len(), n);
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(mut it) = XorIter::new(&bytes) {
                while let Ok(true) = it.next_sample() {}
            }
        }
    }
}
