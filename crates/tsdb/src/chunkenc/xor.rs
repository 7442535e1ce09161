//! The XOR ("Gorilla") float chunk, bit-compatible with Prometheus's `EncXOR`.
//!
//! Layout: a big-endian `u16` sample count, then the first sample as a signed varint
//! timestamp and 64 raw value bits, the second as an unsigned varint time delta and an
//! XOR-encoded value, and every later one as a delta-of-delta timestamp in one of five
//! bit widths (0, 14, 17, 20 or 64 bits, tagged `0`, `10`, `110`, `1110`, `1111`) and an
//! XOR-encoded value (a `0` bit for "unchanged", else the meaningful bits of the XOR
//! with the previous value, reusing the previous leading/trailing zero counts when they
//! fit).

use super::bstream::{BitReader, BitWriter, Eof};

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

/// Decodes an XOR chunk's samples in order.
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    br: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    v: f64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
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
            br: BitReader::new(&bytes[HEADER..]),
            total: u16::from_be_bytes(header),
            read: 0,
            t: i64::MIN,
            v: 0.0,
            t_delta: 0,
            leading: 0,
            trailing: 0,
        })
    }

    fn empty() -> XorIter<'static> {
        XorIter {
            br: BitReader::new(&[]),
            total: 0,
            read: 0,
            t: i64::MIN,
            v: 0.0,
            t_delta: 0,
            leading: 0,
            trailing: 0,
        }
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
    pub fn at(&self) -> (i64, f64) {
        (self.t, self.v)
    }

    /// Advances; `Ok(false)` at the end, `Err` if the chunk is corrupt.
    #[inline]
    pub fn next_sample(&mut self) -> Result<bool, Eof> {
        if self.read == self.total {
            return Ok(false);
        }
        match self.read {
            0 => {
                self.t = self.br.read_varint()?;
                self.v = f64::from_bits(self.br.read_bits(64)?);
            }
            1 => {
                self.t_delta = self.br.read_uvarint()?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
            _ => {
                // The delta-of-delta tag is 0, 10, 110, 1110 or 1111: its leading ones,
                // read with one peek instead of up to four single-bit reads.
                let ones = ((self.br.peek_bits(4) as u8) << 4).leading_ones().min(4);
                self.br.skip((ones + 1).min(4))?;
                let dod = match ones {
                    0 => 0,
                    1 => self.read_signed(14)?,
                    2 => self.read_signed(17)?,
                    3 => self.read_signed(20)?,
                    _ => self.br.read_bits(64)? as i64,
                };
                self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
        }
        self.read += 1;
        Ok(true)
    }

    fn read_signed(&mut self, n: u32) -> Result<i64, Eof> {
        let bits = self.br.read_bits(n)?;
        // Values above half the range are negative in two's complement over `n` bits.
        Ok(if bits > 1 << (n - 1) {
            bits as i64 - (1i64 << n)
        } else {
            bits as i64
        })
    }

    fn read_value(&mut self) -> Result<(), Eof> {
        // Control bits: 0 (same value), 10 (same window), 11 (new window).
        let control = self.br.peek_bits(2);
        if control & 0b10 == 0 {
            return self.br.skip(1);
        }
        self.br.skip(2)?;
        if control & 1 == 1 {
            self.leading = self.br.read_bits(5)? as u8;
            let mut sig = self.br.read_bits(6)? as u8;
            if sig == 0 {
                sig = 64;
            }
            // A corrupt chunk could claim more bits than a u64 has.
            self.trailing = 64u8.checked_sub(self.leading + sig).ok_or(Eof)?;
        }
        let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
        let bits = self.br.read_bits(sig)?;
        self.v = f64::from_bits(self.v.to_bits() ^ (bits << self.trailing));
        Ok(())
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

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(mut it) = XorIter::new(&bytes) {
                while let Ok(true) = it.next_sample() {}
            }
        }
    }
}
