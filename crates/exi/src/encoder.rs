//! Encoding side of the runtime. Always writes the canonical form libcbv2g writes: the 8-bit
//! header `0x80`, minimal integer groups, strings as literals, zero padding at the end.

use crate::bits::BitWriter;
use crate::error::{EncodeError, EncodeErrorKind};
use crate::values::{Bytes, Integer};
use crate::{bits_for, event_code_bits};

/// Encodes one EXI document.
#[derive(Debug)]
pub struct Encoder {
    w: BitWriter,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// Starts a document with the EXI header `10`, no options, final version 1 (`0x80`).
    #[must_use]
    pub fn new() -> Self {
        Self::with_buffer(Vec::with_capacity(64))
    }

    /// Starts a document (as [`Self::new`]) in `buf`, cleared first, keeping its allocation.
    #[must_use]
    pub fn with_buffer(buf: Vec<u8>) -> Self {
        let mut w = BitWriter::with_buffer(buf);
        w.write_u8(0x80);
        Self { w }
    }

    /// Pads to a byte boundary with zeros and returns the document.
    #[must_use]
    pub fn finish(self) -> Vec<u8> {
        self.w.finish()
    }

    /// Bits written so far, header included.
    #[must_use]
    pub fn len_bits(&self) -> usize {
        self.w.len_bits()
    }

    /// Writes an `n`-bit unsigned integer.
    #[inline]
    pub fn write_nbit(&mut self, value: u32, n: u32) {
        self.w.write(value, n);
    }

    /// Writes the event code of terminal `t` in a grammar state whose productions lead to
    /// `terms` (see [`crate::Decoder::read_event`]).
    ///
    /// # Errors
    /// If `t` is not a production of the state.
    #[inline]
    pub fn write_event(&mut self, terms: &[u8], t: u8) -> Result<(), EncodeError> {
        match terms.iter().position(|&x| x == t) {
            Some(code) => {
                // Grammar states have far fewer than 2^32 productions.
                #[allow(clippy::cast_possible_truncation)]
                self.w.write(code as u32, event_code_bits(terms.len()));
                Ok(())
            }
            None => Err(EncodeError::new(EncodeErrorKind::Grammar)),
        }
    }

    /// Writes the characters event that starts the content of an element of simple type.
    #[inline]
    pub fn write_ch(&mut self) {
        self.w.write(0, 1);
    }

    /// Writes the end-element event of an element of simple type.
    #[inline]
    pub fn write_ee(&mut self) {
        self.w.write(0, 1);
    }

    /// Encodes the content of an element of simple type named `name`: CH, the value written by
    /// `value`, EE. Errors are attributed to the element.
    ///
    /// # Errors
    /// Whatever `value` returns.
    #[inline]
    pub fn simple(
        &mut self,
        name: &'static str,
        value: impl FnOnce(&mut Self) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.write_ch();
        value(self).map_err(|e| e.within(name))?;
        self.write_ee();
        Ok(())
    }

    /// Encodes the content of an element of complex type named `name` with `content` (the
    /// type's generated encoder, which writes up to and including EE).
    ///
    /// # Errors
    /// Whatever `content` returns, attributed to the element.
    #[inline]
    pub fn element(
        &mut self,
        name: &'static str,
        content: impl FnOnce(&mut Self) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        content(self).map_err(|e| e.within(name))
    }

    /// Writes a Boolean.
    #[inline]
    pub fn write_bool(&mut self, v: bool) {
        self.w.write(u32::from(v), 1);
    }

    /// Writes an Unsigned Integer (7-bit groups, least significant first).
    #[inline]
    pub fn write_unsigned(&mut self, mut v: u64) {
        loop {
            // Masked to 7 bits.
            #[allow(clippy::cast_possible_truncation)]
            let group = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.w.write_u8(group);
                return;
            }
            self.w.write_u8(group | 0x80);
        }
    }

    /// Writes an Integer: sign bit, then the magnitude (minus one if negative).
    #[inline]
    pub fn write_int(&mut self, v: i64) {
        if v < 0 {
            self.write_bool(true);
            // -(v + 1) cannot overflow for negative v.
            self.write_unsigned((-(v + 1)).unsigned_abs());
        } else {
            self.write_bool(false);
            self.write_unsigned(v.unsigned_abs());
        }
    }

    /// Writes a bounded integer as the n-bit offset from `min`.
    ///
    /// # Errors
    /// If `v` is outside `min..=max`.
    #[inline]
    pub fn write_ranged(&mut self, v: i64, min: i64, max: i64) -> Result<(), EncodeError> {
        if v < min || v > max {
            return Err(EncodeError::new(EncodeErrorKind::OutOfRange {
                value: v.into(),
                min: min.into(),
                max: max.into(),
            }));
        }
        let span = u64::try_from(max - min).unwrap_or(0) + 1;
        // The offset is below the span, at most 4096.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        self.w.write((v - min) as u32, bits_for(span));
        Ok(())
    }

    /// Checks a value of a numeric type against schema bounds wider than its Rust type.
    ///
    /// # Errors
    /// If `v` is outside `min..=max`.
    #[inline]
    pub fn check_range(v: i128, min: i128, max: i128) -> Result<(), EncodeError> {
        if v < min || v > max {
            return Err(EncodeError::new(EncodeErrorKind::OutOfRange {
                value: v,
                min,
                max,
            }));
        }
        Ok(())
    }

    /// Writes an enumeration index of an enumeration with `count` values.
    #[inline]
    pub fn write_enum(&mut self, index: u32, count: u32) {
        self.w.write(index, bits_for(u64::from(count)));
    }

    /// Writes a Binary value of at most `max` bytes.
    ///
    /// # Errors
    /// If `v` is longer than `max`.
    pub fn write_bytes(&mut self, v: &Bytes, max: u64) -> Result<(), EncodeError> {
        if v.len() as u64 > max {
            return Err(EncodeError::new(EncodeErrorKind::TooLong {
                len: v.len(),
                max,
            }));
        }
        self.write_unsigned(v.len() as u64);
        self.w.write_bytes(v);
        Ok(())
    }

    /// Writes a String value as a literal (length + 2, then the code points) of at most `max`
    /// characters. No string-table hits are written, as libcbv2g does.
    ///
    /// # Errors
    /// If `v` has more than `max` characters.
    pub fn write_string(&mut self, v: &str, max: u64) -> Result<(), EncodeError> {
        let len = v.chars().count();
        if len as u64 > max {
            return Err(EncodeError::new(EncodeErrorKind::TooLong { len, max }));
        }
        self.write_unsigned(len as u64 + 2);
        for c in v.chars() {
            self.write_unsigned(u64::from(u32::from(c)));
        }
        Ok(())
    }

    /// Writes an unbounded Integer (`xs:integer`).
    pub fn write_integer(&mut self, v: &Integer) {
        self.write_bool(v.is_negative());
        // Little-endian magnitude, minus one when negative.
        let mut le: Vec<u8> = v.magnitude().iter().rev().copied().collect();
        if v.is_negative() {
            for b in &mut le {
                let (x, borrow) = b.overflowing_sub(1);
                *b = x;
                if !borrow {
                    break;
                }
            }
        }
        while le.last() == Some(&0) {
            le.pop();
        }
        let total_bits = le.len() * 8;
        let mut bitpos = 0;
        loop {
            let lo = u16::from(le.get(bitpos / 8).copied().unwrap_or(0));
            let hi = u16::from(le.get(bitpos / 8 + 1).copied().unwrap_or(0));
            // Masked to 7 bits.
            #[allow(clippy::cast_possible_truncation)]
            let group = (((hi << 8 | lo) >> (bitpos % 8)) & 0x7f) as u8;
            bitpos += 7;
            if bitpos >= total_bits {
                self.w.write_u8(group);
                return;
            }
            self.w.write_u8(group | 0x80);
        }
    }
}
