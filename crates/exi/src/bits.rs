//! Bit-packed stream access (EXI 1.0 §7.1, alignment `bit-packed`): most significant bit first.

/// Reads bits from a byte slice, most significant bit first.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader positioned at the first bit of `data`.
    #[must_use]
    pub const fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Current position in bits.
    #[must_use]
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// Bits left before the end of the input.
    #[must_use]
    pub const fn remaining(&self) -> usize {
        self.data.len() * 8 - self.pos
    }

    /// Reads `n` bits (`n <= 32`) as an unsigned number; `None` at the end of the input.
    #[inline]
    pub fn read(&mut self, n: u32) -> Option<u32> {
        debug_assert!(n <= 32);
        if n == 0 {
            return Some(0);
        }
        let end = self.pos + n as usize;
        if end > self.data.len() * 8 {
            return None;
        }
        let first = self.pos / 8;
        let last = end.div_ceil(8);
        let mut acc: u64 = 0;
        for &b in self.data.get(first..last)? {
            acc = (acc << 8) | u64::from(b);
        }
        acc >>= last * 8 - end;
        self.pos = end;
        // Truncation is intended: `acc` holds exactly `n <= 32` significant bits.
        #[allow(clippy::cast_possible_truncation)]
        Some((acc & ((1u64 << n) - 1)) as u32)
    }

    /// Reads one byte-sized group (8 bits).
    #[inline]
    pub fn read_u8(&mut self) -> Option<u8> {
        // `read(8)` yields at most 255.
        self.read(8).and_then(|v| u8::try_from(v).ok())
    }
}

/// Writes bits into a growing byte vector, most significant bit first.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    buf: Vec<u8>,
    /// Bits pending in `acc` (fewer than 8).
    pending: u32,
    acc: u8,
}

impl BitWriter {
    /// An empty writer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `bytes` bytes.
    #[must_use]
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            pending: 0,
            acc: 0,
        }
    }

    /// Number of bits written so far.
    #[must_use]
    pub fn len_bits(&self) -> usize {
        self.buf.len() * 8 + self.pending as usize
    }

    /// Writes the `n` (`<= 32`) least significant bits of `value`.
    #[inline]
    pub fn write(&mut self, value: u32, n: u32) {
        debug_assert!(n <= 32);
        let mut left = n;
        while left > 0 {
            let room = 8 - self.pending;
            let take = room.min(left);
            let shift = left - take;
            // Masked to `take <= 8` bits, so the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation)]
            let bits = ((value >> shift) & ((1u32 << take) - 1)) as u8;
            // `take == 8` only when the accumulator is empty, where the shift would overflow.
            self.acc = if take == 8 {
                bits
            } else {
                (self.acc << take) | bits
            };
            self.pending += take;
            left -= take;
            if self.pending == 8 {
                self.buf.push(self.acc);
                self.acc = 0;
                self.pending = 0;
            }
        }
    }

    /// Writes a whole byte.
    #[inline]
    pub fn write_u8(&mut self, b: u8) {
        if self.pending == 0 {
            self.buf.push(b);
        } else {
            self.write(u32::from(b), 8);
        }
    }

    /// Pads the last byte with zero bits and returns the bytes.
    #[must_use]
    pub fn finish(mut self) -> Vec<u8> {
        if self.pending > 0 {
            self.buf.push(self.acc << (8 - self.pending));
        }
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read() {
        let mut w = BitWriter::new();
        w.write(0b10, 2);
        w.write(0, 6);
        w.write(0b1001101, 7);
        w.write(0xABCD_1234, 32);
        w.write_u8(0x5A);
        w.write(1, 1);
        assert_eq!(w.len_bits(), 2 + 6 + 7 + 32 + 8 + 1);
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.read(2), Some(0b10));
        assert_eq!(r.read(6), Some(0));
        assert_eq!(r.read(7), Some(0b1001101));
        assert_eq!(r.read(32), Some(0xABCD_1234));
        assert_eq!(r.read_u8(), Some(0x5A));
        assert_eq!(r.read(1), Some(1));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.read(8), None);
    }

    #[test]
    fn msb_first() {
        let data = [0x80, 0x9a, 0x02];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read(8), Some(0x80));
        assert_eq!(r.read(7), Some(77));
        assert_eq!(r.read(1), Some(0));
        assert_eq!(r.read(0), Some(0));
        assert_eq!(r.position(), 16);
    }
}
