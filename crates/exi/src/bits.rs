//! Bit-packed stream access (EXI 1.0 §7.1, alignment `bit-packed`): most significant bit first.

/// Reads bits from a byte slice, most significant bit first.
///
/// The bits ahead of the position are kept in a 64-bit window (`window`, most significant bit
/// first), refilled with one big-endian 8-byte load while at least 8 bytes of input are left, so
/// that a read is a shift and a mask instead of a loop over the bytes it spans with a bounds
/// check per byte. Only the last bytes of the input are loaded one at a time.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// The first byte of `data` not yet loaded into `window`.
    next: usize,
    /// The next `avail` bits of the input in its most significant bits; every bit below them is
    /// zero.
    window: u64,
    avail: u32,
}

impl<'a> BitReader<'a> {
    /// A reader positioned at the first bit of `data`.
    #[must_use]
    pub const fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            next: 0,
            window: 0,
            avail: 0,
        }
    }

    /// Current position in bits.
    #[must_use]
    pub const fn position(&self) -> usize {
        self.next * 8 - self.avail as usize
    }

    /// Bits left before the end of the input.
    #[must_use]
    pub const fn remaining(&self) -> usize {
        (self.data.len() - self.next) * 8 + self.avail as usize
    }

    /// Loads whole bytes into the window until it holds at least 56 bits or the input ends.
    /// Not inlined: it runs once every few reads, and the reads are inlined into every grammar
    /// state of the generated code.
    #[inline(never)]
    fn refill(&mut self) {
        if let Some(chunk) = self.data.get(self.next..self.next + 8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            // Take as many whole bytes as fit below the `avail` bits already there (at least 7
            // when the window is nearly empty), and keep the bits below them zero.
            let take = (63 - self.avail) / 8;
            let filled = self.avail + take * 8;
            let bits = (u64::from_be_bytes(b) >> self.avail) & !(u64::MAX >> filled);
            self.window |= bits;
            self.avail = filled;
            self.next += take as usize;
        } else {
            self.refill_tail();
        }
    }

    /// [`Self::refill`] for the last bytes of the input, one byte at a time.
    #[cold]
    fn refill_tail(&mut self) {
        while self.avail <= 56 {
            let Some(&b) = self.data.get(self.next) else {
                return;
            };
            self.window |= u64::from(b) << (56 - self.avail);
            self.avail += 8;
            self.next += 1;
        }
    }

    /// Reads `n` bits (`n <= 32`) as an unsigned number; `None` at the end of the input (the
    /// position is then unchanged).
    #[inline(always)]
    pub fn read(&mut self, n: u32) -> Option<u32> {
        debug_assert!(n <= 32);
        if n > self.avail {
            self.refill();
            if n > self.avail {
                return None;
            }
        }
        // The top 32 bits, shifted down to the top `n` (a shift by 32 when `n == 0` is 0).
        // Truncation is intended: at most 32 significant bits remain.
        #[allow(clippy::cast_possible_truncation)]
        let v = ((self.window >> 32) >> (32 - n)) as u32;
        self.window <<= n;
        self.avail -= n;
        Some(v)
    }

    /// Reads one byte-sized group (8 bits).
    #[inline(always)]
    pub fn read_u8(&mut self) -> Option<u8> {
        if self.avail < 8 {
            self.refill();
            if self.avail < 8 {
                return None;
            }
        }
        // The top byte of the window.
        #[allow(clippy::cast_possible_truncation)]
        let v = (self.window >> 56) as u8;
        self.window <<= 8;
        self.avail -= 8;
        Some(v)
    }

    /// Reads `out.len()` bytes (8 bits each, at any bit alignment) into `out`; `false`, with
    /// nothing consumed, if the input holds fewer.
    pub fn read_bytes_into(&mut self, out: &mut [u8]) -> bool {
        if out.len() * 8 > self.remaining() {
            return false;
        }
        if self.avail.is_multiple_of(8) {
            // Byte-aligned: drain the window, then copy the rest in bulk.
            let mut i = 0;
            while self.avail > 0 {
                let Some(slot) = out.get_mut(i) else {
                    return true;
                };
                #[allow(clippy::cast_possible_truncation)]
                {
                    *slot = (self.window >> 56) as u8;
                }
                self.window <<= 8;
                self.avail -= 8;
                i += 1;
            }
            let rest = out.len() - i;
            if let (Some(dst), Some(src)) =
                (out.get_mut(i..), self.data.get(self.next..self.next + rest))
            {
                dst.copy_from_slice(src);
                self.next += rest;
                return true;
            }
            return false;
        }
        // Not byte-aligned: four bytes per read.
        for chunk in out.chunks_mut(4) {
            // `chunk.len() <= 4`: at most 32 bits.
            #[allow(clippy::cast_possible_truncation)]
            let bits = chunk.len() as u32 * 8;
            let Some(v) = self.read(bits) else {
                return false;
            };
            // Left-align the `bits` bits read (8 to 32) to take them as big-endian bytes.
            let be = (v << (32 - bits)).to_be_bytes();
            for (dst, src) in chunk.iter_mut().zip(be) {
                *dst = src;
            }
        }
        true
    }
}

/// Writes bits into a growing byte vector, most significant bit first.
///
/// Bits collect in a 64-bit accumulator and go to the vector four bytes at a time, so a write is
/// a shift and an or, whatever its width.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    buf: Vec<u8>,
    /// The last `pending` bits written (fewer than 32), in the low bits; the bits above them are
    /// left over from earlier writes and ignored.
    acc: u64,
    pending: u32,
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
        Self::with_buffer(Vec::with_capacity(bytes))
    }

    /// An empty writer that writes into `buf` (cleared first), keeping its allocation.
    #[must_use]
    pub fn with_buffer(mut buf: Vec<u8>) -> Self {
        buf.clear();
        Self {
            buf,
            acc: 0,
            pending: 0,
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
        let mask = (1u64 << n) - 1;
        // `pending < 32` and `n <= 32`: the accumulator holds them all.
        self.acc = (self.acc << n) | (u64::from(value) & mask);
        self.pending += n;
        if self.pending >= 32 {
            self.pending -= 32;
            // The 32 oldest pending bits; truncation drops the stale bits above them.
            #[allow(clippy::cast_possible_truncation)]
            let word = (self.acc >> self.pending) as u32;
            self.buf.extend_from_slice(&word.to_be_bytes());
        }
    }

    /// Writes a whole byte.
    #[inline]
    pub fn write_u8(&mut self, b: u8) {
        self.write(u32::from(b), 8);
    }

    /// Writes whole bytes (at any bit alignment).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        while self.pending >= 8 {
            self.pending -= 8;
            #[allow(clippy::cast_possible_truncation)]
            self.buf.push((self.acc >> self.pending) as u8);
        }
        if self.pending == 0 {
            self.buf.extend_from_slice(bytes);
        } else {
            for &b in bytes {
                self.write_u8(b);
            }
        }
    }

    /// Pads the last byte with zero bits and returns the bytes.
    #[must_use]
    pub fn finish(mut self) -> Vec<u8> {
        while self.pending >= 8 {
            self.pending -= 8;
            #[allow(clippy::cast_possible_truncation)]
            self.buf.push((self.acc >> self.pending) as u8);
        }
        if self.pending > 0 {
            #[allow(clippy::cast_possible_truncation)]
            self.buf.push((self.acc << (8 - self.pending)) as u8);
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
    fn bytes_at_any_alignment() {
        let data: Vec<u8> = (0u8..40).map(|i| i.wrapping_mul(37)).collect();
        for skip in 0..16 {
            for len in 0..=(data.len() - 2) {
                let mut r = BitReader::new(&data);
                let mut expect = BitReader::new(&data);
                r.read(skip);
                expect.read(skip);
                let mut out = vec![0; len];
                if len * 8 + skip as usize > data.len() * 8 {
                    assert!(!r.read_bytes_into(&mut out));
                    continue;
                }
                assert!(r.read_bytes_into(&mut out), "skip {skip} len {len}");
                for (i, &b) in out.iter().enumerate() {
                    assert_eq!(Some(b), expect.read_u8(), "skip {skip} len {len} byte {i}");
                }
                assert_eq!(r.position(), expect.position());
                assert_eq!(r.read(7), expect.read(7));
            }
        }
    }

    #[test]
    fn reads_up_to_the_last_bit() {
        let data = [0xA5u8; 19];
        for n in 1..=32 {
            let mut r = BitReader::new(&data);
            let mut bits = 0;
            while let Some(v) = r.read(n) {
                assert_eq!(u64::from(v) >> n, 0);
                bits += n as usize;
            }
            assert_eq!(bits, data.len() * 8 / n as usize * n as usize);
            assert_eq!(r.remaining(), data.len() * 8 - bits);
        }
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
