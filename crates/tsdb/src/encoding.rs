//! Byte encoding helpers shared by the WAL and block formats: a growable encoder and a
//! bounds-checked decoder that reports the offset of the first thing it could not read.

/// Appends big-endian integers, varints and length-prefixed strings to a buffer.
#[derive(Debug, Default, Clone)]
pub(crate) struct Encbuf {
    pub(crate) b: Vec<u8>,
}

impl Encbuf {
    pub(crate) fn byte(&mut self, v: u8) {
        self.b.push(v);
    }
    pub(crate) fn be64(&mut self, v: u64) {
        self.b.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn be64f(&mut self, v: f64) {
        self.be64(v.to_bits());
    }
    pub(crate) fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.b.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.b.push(v as u8);
    }
    pub(crate) fn varint(&mut self, v: i64) {
        self.uvarint(((v << 1) ^ (v >> 63)) as u64);
    }
    pub(crate) fn uvarint_str(&mut self, s: &str) {
        self.uvarint(s.len() as u64);
        self.b.extend_from_slice(s.as_bytes());
    }
}

/// Why decoding a record or section stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset into the decoded slice.
    pub offset: usize,
    /// What could not be read.
    pub what: &'static str,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

/// Reads from a byte slice; every read checks bounds.
#[derive(Debug, Clone)]
pub(crate) struct Decbuf<'a> {
    b: &'a [u8],
    pos: usize,
}

type D<T> = Result<T, DecodeError>;

impl<'a> Decbuf<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Decbuf<'a> {
        Decbuf { b, pos: 0 }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    fn err<T>(&self, what: &'static str) -> D<T> {
        Err(DecodeError {
            offset: self.pos,
            what,
        })
    }
    pub(crate) fn bytes(&mut self, n: usize) -> D<&'a [u8]> {
        if self.remaining() < n {
            return self.err("unexpected end of data");
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// Bytes consumed so far.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }
    pub(crate) fn be32_raw(&mut self) -> D<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A big-endian 32-bit count of items that each take at least one byte.
    pub(crate) fn be32_count(&mut self) -> D<usize> {
        let n = self.be32_raw()? as usize;
        if n > self.remaining() {
            return self.err("count exceeds remaining data");
        }
        Ok(n)
    }
    pub(crate) fn byte(&mut self) -> D<u8> {
        Ok(self.bytes(1)?[0])
    }
    pub(crate) fn be64(&mut self) -> D<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    pub(crate) fn be64f(&mut self) -> D<f64> {
        self.be64().map(f64::from_bits)
    }
    pub(crate) fn uvarint(&mut self) -> D<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.b.get(self.pos) else {
                return self.err("unexpected end of data in varint");
            };
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(v);
            }
        }
        self.err("varint overflows 64 bits")
    }
    pub(crate) fn varint(&mut self) -> D<i64> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    pub(crate) fn uvarint_u32(&mut self) -> D<u32> {
        let v = self.uvarint()?;
        u32::try_from(v).or_else(|_| self.err("value overflows 32 bits"))
    }
    pub(crate) fn uvarint_len(&mut self) -> D<usize> {
        let n = self.uvarint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => self.err("length exceeds remaining data"),
        }
    }
    pub(crate) fn uvarint_bytes(&mut self) -> D<&'a [u8]> {
        let n = self.uvarint_len()?;
        self.bytes(n)
    }
    pub(crate) fn uvarint_str(&mut self) -> D<&'a str> {
        let b = self.uvarint_bytes()?;
        std::str::from_utf8(b).or_else(|_| self.err("string is not valid UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let mut e = Encbuf::default();
        e.byte(7);
        e.be64(u64::MAX - 1);
        e.uvarint(300);
        e.varint(-5);
        e.uvarint_str("héllo");
        e.be64f(1.5);
        let mut d = Decbuf::new(&e.b);
        assert_eq!(d.byte(), Ok(7));
        assert_eq!(d.be64(), Ok(u64::MAX - 1));
        assert_eq!(d.uvarint(), Ok(300));
        assert_eq!(d.varint(), Ok(-5));
        assert_eq!(d.uvarint_str(), Ok("héllo"));
        assert_eq!(d.be64f(), Ok(1.5));
        assert_eq!(d.remaining(), 0);
        assert!(d.byte().is_err());
        let mut d = Decbuf::new(&[0x05, b'a']);
        assert_eq!(
            d.uvarint_str().unwrap_err().what,
            "length exceeds remaining data"
        );
    }
}
