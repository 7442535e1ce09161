//! Bit streams for the chunk encodings: a writer that produces exactly the bytes
//! Prometheus's `bstream` produces, and a bounds-checked reader.
//!
//! The writer mirrors Prometheus byte for byte, including its habit of leaving a fully
//! free trailing byte after a whole-byte write, so chunks we write are identical to the
//! ones Prometheus writes for the same samples (which the interop tests compare).

/// Reading ran past the end of the stream: the chunk is truncated or corrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eof;

/// An append-only stream of bits, most significant bit first.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    pub(crate) bytes: Vec<u8>,
    /// Free bits in the last byte.
    free: u8,
}

impl BitWriter {
    /// A stream that starts with `header` whole bytes (e.g. a chunk's sample count).
    pub(crate) fn with_header(header: usize, capacity: usize) -> BitWriter {
        let mut bytes = Vec::with_capacity(capacity.max(header));
        bytes.resize(header, 0);
        BitWriter { bytes, free: 0 }
    }

    /// Free bits in the last byte (8 for an empty trailing byte).
    #[cfg(test)]
    pub(crate) fn free_bits(&self) -> u8 {
        self.free
    }

    #[inline]
    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    #[inline]
    pub(crate) fn write_byte(&mut self, byte: u8) {
        self.write_bits(u64::from(byte), 8);
    }

    /// Writes the low `n` bits of `v`, most significant first.
    ///
    /// Prometheus writes bit by bit and byte by byte; this writes whole bytes at once but
    /// ends in exactly the state Prometheus's sequence would, including its one quirk: a
    /// write of a multiple of 8 bits that starts byte-aligned leaves an empty trailing
    /// byte behind (Prometheus's `writeByte` appends the next byte up front). The test
    /// `fast_writer_matches_prometheus_sequence` checks this against a literal port of the
    /// bit-by-bit algorithm.
    #[inline]
    pub(crate) fn write_bits(&mut self, v: u64, n: u32) {
        if n == 0 {
            return;
        }
        let start_free = self.free;
        let mut v = v << (64 - n);
        let mut rem = n;
        if self.free > 0 {
            let take = u32::from(self.free).min(rem);
            let last = self.bytes.len() - 1;
            // The top `take` bits of `v` go just below the bits already in the byte.
            self.bytes[last] |= ((v >> (64 - take)) << (u32::from(self.free) - take)) as u8;
            self.free -= take as u8;
            v = v.checked_shl(take).unwrap_or(0);
            rem -= take;
        }
        if rem > 0 {
            let keep = self.bytes.len() + rem.div_ceil(8) as usize;
            if self.bytes.capacity() - self.bytes.len() >= 8 {
                // Store all eight bytes of `v` at once and keep the ones holding its `rem`
                // bits: one store instead of a push per byte.
                self.bytes.extend_from_slice(&v.to_be_bytes());
                self.bytes.truncate(keep);
            } else {
                // Near the end of the allocation, push only what is needed, so a chunk
                // does not grow its buffer for bytes it never keeps.
                while self.bytes.len() < keep {
                    self.bytes.push((v >> 56) as u8);
                    v <<= 8;
                }
            }
            self.free = ((8 - rem % 8) % 8) as u8;
        }
        if n.is_multiple_of(8) && (start_free == 0 || start_free == 8) {
            self.bytes.push(0);
            self.free = 8;
        }
    }

    pub(crate) fn write_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.write_byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.write_byte(v as u8);
    }

    pub(crate) fn write_varint(&mut self, v: i64) {
        self.write_uvarint(((v << 1) ^ (v >> 63)) as u64);
    }
}

/// Reads bits from a byte slice, most significant first.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader { data, pos: 0 }
    }

    #[inline]
    pub(crate) fn read_bit(&mut self) -> Result<bool, Eof> {
        let byte = *self.data.get(self.pos >> 3).ok_or(Eof)?;
        let bit = (byte >> (7 - (self.pos & 7))) & 1 == 1;
        self.pos += 1;
        Ok(bit)
    }

    /// The next `n` (1 to 57) bits as the low bits of the result, without consuming
    /// them; bits past the end of the stream read as 0.
    #[inline]
    pub(crate) fn peek_bits(&self, n: u32) -> u64 {
        debug_assert!((1..=57).contains(&n));
        let start = self.pos >> 3;
        let shift = (self.pos & 7) as u32;
        let mut window = [0u8; 8];
        if let Some(bytes) = self.data.get(start..start + 8) {
            // The common case: one unaligned 8-byte load holds at least 57 bits from pos.
            window.copy_from_slice(bytes);
        } else if let Some(tail) = self.data.get(start..) {
            window[..tail.len()].copy_from_slice(tail);
        }
        (u64::from_be_bytes(window) << shift) >> (64 - n)
    }

    /// Reads `n` (≤ 64) bits as the low bits of the result.
    #[inline]
    pub(crate) fn read_bits(&mut self, n: u32) -> Result<u64, Eof> {
        if n == 0 {
            return Ok(0);
        }
        if self.pos + n as usize > self.data.len() * 8 {
            return Err(Eof);
        }
        if n <= 57 {
            let v = self.peek_bits(n);
            self.pos += n as usize;
            return Ok(v);
        }
        let start = self.pos >> 3;
        let shift = (self.pos & 7) as u32;
        let mut window = [0u8; 16];
        let avail = (self.data.len() - start).min(16);
        window[..avail].copy_from_slice(&self.data[start..start + avail]);
        let w = u128::from_be_bytes(window);
        self.pos += n as usize;
        Ok(((w << shift) >> (128 - n)) as u64)
    }

    pub(crate) fn read_byte(&mut self) -> Result<u8, Eof> {
        self.read_bits(8).map(|b| b as u8)
    }

    /// Reads a varint written at any bit (the chunk decoders read theirs as bytes).
    #[cfg(test)]
    pub(crate) fn read_uvarint(&mut self) -> Result<u64, Eof> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.read_byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Eof)
    }

    #[cfg(test)]
    pub(crate) fn read_varint(&mut self) -> Result<i64, Eof> {
        let u = self.read_uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A literal port of Prometheus's `bstream` writes, bit by bit and byte by byte.
    #[derive(Default)]
    struct Reference {
        bytes: Vec<u8>,
        free: u8,
    }

    impl Reference {
        fn bit(&mut self, bit: bool) {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            if bit {
                let last = self.bytes.len() - 1;
                self.bytes[last] |= 1 << (self.free - 1);
            }
            self.free -= 1;
        }
        fn byte(&mut self, byte: u8) {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            let last = self.bytes.len() - 1;
            self.bytes[last] |= byte.checked_shr(u32::from(8 - self.free)).unwrap_or(0);
            self.bytes
                .push(byte.checked_shl(u32::from(self.free)).unwrap_or(0));
        }
        fn bits(&mut self, v: u64, n: u32) {
            if n == 0 {
                return;
            }
            let mut v = v << (64 - n);
            let mut n = n;
            while n >= 8 {
                self.byte((v >> 56) as u8);
                v <<= 8;
                n -= 8;
            }
            while n > 0 {
                self.bit(v >> 63 == 1);
                v <<= 1;
                n -= 1;
            }
        }
    }

    proptest! {
        #[test]
        fn fast_writer_matches_prometheus_sequence(
            ops in proptest::collection::vec((any::<u64>(), 0u32..=64, 0u8..3), 0..60)
        ) {
            let mut fast = BitWriter::default();
            let mut slow = Reference::default();
            for (v, n, kind) in ops {
                match kind {
                    0 => { fast.write_bit(v & 1 == 1); slow.bit(v & 1 == 1); }
                    1 => { fast.write_byte(v as u8); slow.byte(v as u8); }
                    _ => { fast.write_bits(v, n); slow.bits(v, n); }
                }
                prop_assert_eq!(&fast.bytes, &slow.bytes);
                prop_assert_eq!(fast.free, slow.free);
            }
        }
    }

    proptest! {
        #[test]
        fn bits_round_trip(items in proptest::collection::vec((any::<u64>(), 0u32..=64), 0..50)) {
            let mut w = BitWriter::default();
            for &(v, n) in &items {
                w.write_bits(v, n);
            }
            let mut r = BitReader::new(&w.bytes);
            for &(v, n) in &items {
                let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
                prop_assert_eq!(r.read_bits(n).unwrap(), v & mask);
            }
        }

        #[test]
        fn varints_round_trip(vs in proptest::collection::vec(any::<i64>(), 0..20), pad in 0u32..8) {
            let mut w = BitWriter::default();
            w.write_bits(0, pad);
            for &v in &vs { w.write_varint(v); }
            let mut r = BitReader::new(&w.bytes);
            r.read_bits(pad).unwrap();
            for &v in &vs { prop_assert_eq!(r.read_varint().unwrap(), v); }
        }
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read_bits(4), Ok(0xf));
        assert_eq!(r.read_bits(5), Err(Eof));
        assert_eq!(r.read_bits(4), Ok(0xf));
        assert_eq!(r.read_bit(), Err(Eof));
    }
}
