//! Decoding side of the runtime: header, event codes, datatypes and the string table.

use crate::bits::BitReader;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::values::{Bytes, Integer, MAX_INTEGER_BYTES};
use crate::{bits_for, event_code_bits};

/// Identifies the qualified name of an element or attribute whose values are strings: the key of
/// its local value partition in the string table (EXI 1.0 §7.3.3). Generated code numbers them.
pub type QNameId = u16;

/// Decodes one EXI document: wraps the bit reader and the string table of the document.
#[derive(Debug)]
pub struct Decoder<'a> {
    r: BitReader<'a>,
    strings: StringTable,
}

/// The value partitions of the string table (EXI 1.0 §7.3.3). Most V2G documents carry no string
/// or a few, so nothing is allocated before the first literal, and then only in proportion to
/// the strings seen: one buffer for the text of all of them and a small map of local partitions
/// (a [`QNameId`] can be in the hundreds; a table indexed by it would cost kilobytes per
/// document).
#[derive(Debug, Default)]
struct StringTable {
    /// The global value partition's strings, concatenated in order.
    text: String,
    /// For each global entry, its end offset in `text` (it starts at the previous one's end).
    ends: Vec<usize>,
    /// Local value partitions of the qualified names seen so far: indices into `ends`.
    local: Vec<(QNameId, Vec<u32>)>,
}

impl StringTable {
    fn global(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)?;
        let start = match index.checked_sub(1) {
            Some(prev) => *self.ends.get(prev)?,
            None => 0,
        };
        self.text.get(start..end)
    }

    fn local(&self, qname: QNameId) -> &[u32] {
        self.local
            .iter()
            .find(|(q, _)| *q == qname)
            .map_or(&[], |(_, p)| p.as_slice())
    }

    /// Adds a literal to the global partition and to `qname`'s local one.
    fn add(&mut self, qname: QNameId, s: &str) -> Option<()> {
        let g = u32::try_from(self.ends.len()).ok()?;
        self.text.push_str(s);
        self.ends.push(self.text.len());
        match self.local.iter_mut().find(|(q, _)| *q == qname) {
            Some((_, p)) => p.push(g),
            None => self.local.push((qname, vec![g])),
        }
        Some(())
    }
}

impl<'a> Decoder<'a> {
    /// Starts decoding `input`: reads and checks the EXI header (EXI 1.0 §5). An optional
    /// `$EXI` cookie is accepted; header options are not (V2G never sends them).
    ///
    /// # Errors
    /// If the header is missing, malformed, carries options or names another EXI version.
    #[inline]
    pub fn new(input: &'a [u8]) -> Result<Self, DecodeError> {
        let input = input.strip_prefix(b"$EXI").unwrap_or(input);
        let mut d = Self {
            r: BitReader::new(input),
            strings: StringTable::default(),
        };
        // The whole header is one byte: distinguishing bits 10, options presence 0, preview 0,
        // version 1 (0000); the common case is checked at once.
        if input.first() == Some(&0x80) {
            let _header = d.r.read_u8();
            return Ok(d);
        }
        if d.read_nbit(2)? != 0b10 {
            return Err(d.err(DecodeErrorKind::InvalidHeader(
                "distinguishing bits are not 10",
            )));
        }
        if d.read_nbit(1)? != 0 {
            return Err(d.err(DecodeErrorKind::InvalidHeader(
                "header options are not supported",
            )));
        }
        if d.read_nbit(1)? != 0 {
            return Err(d.err(DecodeErrorKind::InvalidHeader(
                "preview versions are not supported",
            )));
        }
        if d.read_nbit(4)? != 0 {
            return Err(d.err(DecodeErrorKind::InvalidHeader(
                "only EXI version 1 is supported",
            )));
        }
        Ok(d)
    }

    /// An error of `kind` at the current position.
    #[cold]
    #[must_use]
    pub fn err(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.r.position())
    }

    /// Current position in bits (from the start of the EXI stream, after any cookie).
    #[must_use]
    pub fn position(&self) -> usize {
        self.r.position()
    }

    /// Reads an `n`-bit unsigned integer (EXI 1.0 §7.1.9), `n <= 32`.
    ///
    /// # Errors
    /// At the end of the input.
    #[inline(always)]
    pub fn read_nbit(&mut self, n: u32) -> Result<u32, DecodeError> {
        match self.r.read(n) {
            Some(v) => Ok(v),
            None => Err(self.err(DecodeErrorKind::UnexpectedEnd)),
        }
    }

    /// Reads the event code of a grammar state whose first-level productions lead to the
    /// terminals `terms` (code `i` is `terms[i]`), and returns the terminal. The code after the
    /// last production escapes to the second level (non-strict grammars, EXI 1.0 §8.5.4.4.1).
    ///
    /// # Errors
    /// At the end of the input, for the escape code and for codes beyond it.
    // Always inlined, as the functions below: the generated code calls them for every event
    // and value, and a call costs more than their few instructions.
    #[inline(always)]
    pub fn read_event(&mut self, terms: &[u8]) -> Result<u8, DecodeError> {
        let code = self.read_nbit(event_code_bits(terms.len()))?;
        match terms.get(code as usize) {
            Some(&t) => Ok(t),
            None if code as usize == terms.len() => {
                Err(self.err(DecodeErrorKind::UnsupportedEvent))
            }
            None => Err(self.err(DecodeErrorKind::InvalidEventCode {
                code,
                productions: terms.len(),
            })),
        }
    }

    /// Reads the characters event that starts the content of an element of simple type: the
    /// only first-level production of that state, so a single bit (0) with the escape.
    ///
    /// # Errors
    /// At the end of the input or on the escape.
    #[inline(always)]
    pub fn read_ch(&mut self) -> Result<(), DecodeError> {
        self.read_single()
    }

    /// Reads the end-element event of an element of simple type (a single bit, like
    /// [`Self::read_ch`]).
    ///
    /// # Errors
    /// At the end of the input or on the escape.
    #[inline(always)]
    pub fn read_ee(&mut self) -> Result<(), DecodeError> {
        self.read_single()
    }

    /// Decodes the content of an element of simple type named `name`: CH, the value read by
    /// `value`, EE. Errors are attributed to the element.
    ///
    /// # Errors
    /// Whatever `value` returns, or an unexpected event.
    #[inline]
    pub fn simple<T>(
        &mut self,
        name: &'static str,
        value: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let r = self
            .read_ch()
            .and_then(|()| value(self))
            .and_then(|v| self.read_ee().map(|()| v));
        r.map_err(|e| e.within(name))
    }

    /// Decodes the content of an element of complex type named `name` with `content` (the
    /// type's generated decoder, which reads up to and including EE).
    ///
    /// # Errors
    /// Whatever `content` returns, attributed to the element.
    #[inline]
    pub fn element<T>(
        &mut self,
        name: &'static str,
        content: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        content(self).map_err(|e| e.within(name))
    }

    #[inline(always)]
    fn read_single(&mut self) -> Result<(), DecodeError> {
        if self.read_nbit(1)? == 0 {
            Ok(())
        } else {
            Err(self.err(DecodeErrorKind::UnsupportedEvent))
        }
    }

    /// Reads a Boolean (EXI 1.0 §7.1.2, no pattern facet: one bit).
    ///
    /// # Errors
    /// At the end of the input.
    #[inline(always)]
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.read_nbit(1)? == 1)
    }

    /// Reads an Unsigned Integer (EXI 1.0 §7.1.6): 7-bit groups, least significant first, the
    /// high bit of each octet saying whether another follows.
    ///
    /// # Errors
    /// At the end of the input, or if the value exceeds 64 bits.
    #[inline(always)]
    pub fn read_unsigned(&mut self) -> Result<u64, DecodeError> {
        // Most values in V2G messages are below 128: one octet, inline; longer ones loop.
        match self.r.read_u8() {
            Some(b) if b & 0x80 == 0 => Ok(u64::from(b)),
            Some(b) => self.read_unsigned_rest(b),
            None => Err(self.err(DecodeErrorKind::UnexpectedEnd)),
        }
    }

    /// [`Self::read_unsigned`] after a first octet `first` that says more follow.
    #[inline(never)]
    fn read_unsigned_rest(&mut self, first: u8) -> Result<u64, DecodeError> {
        let mut value = u64::from(first & 0x7f);
        let mut shift = 7u32;
        loop {
            let Some(b) = self.r.read_u8() else {
                return Err(self.err(DecodeErrorKind::UnexpectedEnd));
            };
            let group = u64::from(b & 0x7f);
            if shift == 63 && group > 1 || shift > 63 {
                return Err(self.err(DecodeErrorKind::OutOfRange("unsigned integer (64 bits)")));
            }
            value |= group << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// Reads an Unsigned Integer into `T`, named `what` in errors.
    ///
    /// # Errors
    /// At the end of the input, or if the value does not fit `T`.
    #[inline(always)]
    pub fn read_uint<T: TryFrom<u64>>(&mut self, what: &'static str) -> Result<T, DecodeError> {
        let v = self.read_unsigned()?;
        T::try_from(v).map_err(|_| self.err(DecodeErrorKind::OutOfRange(what)))
    }

    /// Reads an Integer (EXI 1.0 §7.1.5: sign bit, then the magnitude, minus one if negative)
    /// into `T`, named `what` in errors.
    ///
    /// # Errors
    /// At the end of the input, or if the value does not fit `T`.
    #[inline(always)]
    pub fn read_int<T: TryFrom<i64>>(&mut self, what: &'static str) -> Result<T, DecodeError> {
        let negative = self.read_bool()?;
        let m = self.read_unsigned()?;
        // A magnitude above i64::MAX fits no signed Rust type (the stream holds -1 - v for
        // negative v, so i64::MIN is m = i64::MAX).
        let v = match i64::try_from(m) {
            Ok(m) if negative => -1 - m,
            Ok(m) => m,
            Err(_) => return Err(self.err(DecodeErrorKind::OutOfRange(what))),
        };
        T::try_from(v).map_err(|_| self.err(DecodeErrorKind::OutOfRange(what)))
    }

    /// Reads a bounded integer (range of at most 4096 values, EXI 1.0 §7.1.5): an n-bit offset
    /// from `min`. Offsets beyond `max` are rejected.
    ///
    /// # Errors
    /// At the end of the input, or if the value exceeds `max`.
    #[inline(always)]
    pub fn read_ranged<T: TryFrom<i64>>(
        &mut self,
        min: i64,
        max: i64,
        what: &'static str,
    ) -> Result<T, DecodeError> {
        let span = u64::try_from(max - min).unwrap_or(0) + 1;
        let v = min + i64::from(self.read_nbit(bits_for(span))?);
        if v > max {
            return Err(self.err(DecodeErrorKind::OutOfRange(what)));
        }
        T::try_from(v).map_err(|_| self.err(DecodeErrorKind::OutOfRange(what)))
    }

    /// Reads an enumeration index (EXI 1.0 §7.2) of an enumeration with `count` values.
    ///
    /// # Errors
    /// At the end of the input, or if the index is not below `count`.
    #[inline(always)]
    pub fn read_enum(&mut self, count: u32) -> Result<u32, DecodeError> {
        let index = self.read_nbit(bits_for(u64::from(count)))?;
        if index < count {
            Ok(index)
        } else {
            Err(self.err(DecodeErrorKind::InvalidEnumeration { index, count }))
        }
    }

    /// Checks that a value announced as `len` units of at least `unit_bits` each fits both the
    /// schema limit and the rest of the input, before anything is allocated for it.
    fn check_len(&self, len: u64, max: u64, unit_bits: u64) -> Result<usize, DecodeError> {
        if len > max {
            return Err(self.err(DecodeErrorKind::TooLong { len, max }));
        }
        if len.saturating_mul(unit_bits) > self.r.remaining() as u64 {
            return Err(self.err(DecodeErrorKind::UnexpectedEnd));
        }
        usize::try_from(len).map_err(|_| self.err(DecodeErrorKind::TooLong { len, max }))
    }

    /// Reads a Binary value (EXI 1.0 §7.1.1: length, then the octets) of at most `max` bytes.
    ///
    /// # Errors
    /// At the end of the input, or if the length exceeds `max`.
    pub fn read_bytes(&mut self, max: u64) -> Result<Bytes, DecodeError> {
        let mut v = Bytes::default();
        self.read_bytes_into(max, &mut v)?;
        Ok(v)
    }

    /// [`Self::read_bytes`] into `out`, replacing its content but keeping its allocation (a
    /// message decoded into again allocates nothing for binary values that fit).
    ///
    /// # Errors
    /// At the end of the input, or if the length exceeds `max`.
    pub fn read_bytes_into(&mut self, max: u64, out: &mut Bytes) -> Result<(), DecodeError> {
        let len = self.read_unsigned()?;
        let len = self.check_len(len, max, 8)?;
        out.clear();
        out.resize(len, 0);
        if !self.r.read_bytes_into(out) {
            return Err(self.err(DecodeErrorKind::UnexpectedEnd));
        }
        Ok(())
    }

    /// Reads a String value (EXI 1.0 §7.1.10 with the string table of §7.3.3) of at most `max`
    /// characters, for the element or attribute `qname`. Literals are added to the global and
    /// the local value partition; hits are looked up there.
    ///
    /// # Errors
    /// At the end of the input, on an invalid character or hit, or if the string exceeds `max`.
    pub fn read_string(&mut self, max: u64, qname: QNameId) -> Result<String, DecodeError> {
        let mut s = String::new();
        self.read_string_into(max, qname, &mut s)?;
        Ok(s)
    }

    /// [`Self::read_string`] into `out`, replacing its content but keeping its allocation.
    ///
    /// # Errors
    /// At the end of the input, on an invalid character or hit, or if the string exceeds `max`.
    pub fn read_string_into(
        &mut self,
        max: u64,
        qname: QNameId,
        out: &mut String,
    ) -> Result<(), DecodeError> {
        out.clear();
        let (partition, size, index, hit) = match self.read_unsigned()? {
            0 => {
                let size = self.strings.local(qname).len();
                let index = self.read_nbit(bits_for(size as u64))?;
                let hit = self.strings.local(qname).get(index as usize);
                let hit = hit.and_then(|&g| self.strings.global(g as usize));
                ("local", size, index, hit)
            }
            1 => {
                let size = self.strings.ends.len();
                let index = self.read_nbit(bits_for(size as u64))?;
                ("global", size, index, self.strings.global(index as usize))
            }
            n => {
                let len = self.check_len(n - 2, max, 8)?;
                out.reserve(len);
                for _ in 0..len {
                    let c = self.read_unsigned()?;
                    let ch = u32::try_from(c).ok().and_then(char::from_u32);
                    match ch {
                        Some(ch) => out.push(ch),
                        None => return Err(self.err(DecodeErrorKind::InvalidChar(c))),
                    }
                }
                // Empty strings are never added (EXI 1.0 §7.3.3); valueMaxLength and
                // valuePartitionCapacity are unbounded by default.
                if len > 0 && self.strings.add(qname, out).is_none() {
                    return Err(self.err(DecodeErrorKind::TooLong { len: n, max }));
                }
                return Ok(());
            }
        };
        let Some(hit) = hit else {
            return Err(self.err(DecodeErrorKind::InvalidStringHit {
                partition,
                index,
                size,
            }));
        };
        let len = hit.chars().count() as u64;
        if len > max {
            return Err(self.err(DecodeErrorKind::TooLong { len, max }));
        }
        out.push_str(hit);
        Ok(())
    }

    /// Reads an unbounded Integer (`xs:integer`, EXI 1.0 §7.1.5) of at most
    /// [`MAX_INTEGER_BYTES`] bytes of magnitude.
    ///
    /// # Errors
    /// At the end of the input, or if the magnitude is too large.
    pub fn read_integer(&mut self) -> Result<Integer, DecodeError> {
        let negative = self.read_bool()?;
        // Collect the 7-bit groups into a little-endian byte magnitude.
        let max_groups = (MAX_INTEGER_BYTES * 8).div_ceil(7) + 1;
        let mut le: Vec<u8> = Vec::new();
        let mut bitpos = 0usize;
        for i in 0.. {
            if i >= max_groups {
                return Err(self.err(DecodeErrorKind::OutOfRange("integer")));
            }
            let Some(b) = self.r.read_u8() else {
                return Err(self.err(DecodeErrorKind::UnexpectedEnd));
            };
            let group = u16::from(b & 0x7f) << (bitpos % 8);
            let at = bitpos / 8;
            if le.len() < at + 2 {
                le.resize(at + 2, 0);
            }
            for (k, byte) in group.to_le_bytes().into_iter().enumerate() {
                if let Some(slot) = le.get_mut(at + k) {
                    *slot |= byte;
                }
            }
            bitpos += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        if negative {
            // The stream holds magnitude - 1 for negative values.
            for b in &mut le {
                let (v, carry) = b.overflowing_add(1);
                *b = v;
                if !carry {
                    break;
                }
            }
            if le.iter().all(|&b| b == 0) {
                le.push(1);
            }
        }
        le.reverse();
        Integer::from_sign_magnitude(negative, &le)
            .map_err(|_| self.err(DecodeErrorKind::OutOfRange("integer")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Encoder;

    #[test]
    fn header() {
        assert!(Decoder::new(&[0x80]).is_ok());
        assert!(Decoder::new(b"$EXI\x80").is_ok());
        assert!(Decoder::new(&[0x00]).is_err());
        assert!(Decoder::new(&[0xa0]).is_err(), "options present");
        assert!(Decoder::new(&[]).is_err());
    }

    #[test]
    fn unsigned_examples() {
        // EXI 1.0 §7.1.6: 0x7F, 0x80 0x01, ...
        let cases: &[(&[u8], u64)] = &[
            (&[0x00], 0),
            (&[0x7f], 127),
            (&[0x80, 0x01], 128),
            (&[0xa0, 0x8d, 0x06], 100_000),
        ];
        for &(bytes, v) in cases {
            let mut input = vec![0x80];
            input.extend_from_slice(bytes);
            let mut d = Decoder::new(&input).unwrap();
            assert_eq!(d.read_unsigned().unwrap(), v);
        }
        let mut input = vec![0x80];
        input.extend_from_slice(&[0xff; 10]);
        input.push(0x01);
        assert!(
            Decoder::new(&input).unwrap().read_unsigned().is_err(),
            "more than 64 bits"
        );
    }

    #[test]
    fn event_codes_reserve_escape() {
        // One production: 1 bit, code 1 is the escape.
        let mut d = Decoder::new(&[0x80, 0b0100_0000]).unwrap();
        assert_eq!(d.read_event(&[7]).unwrap(), 7);
        assert_eq!(
            d.read_event(&[7]).unwrap_err().kind(),
            &DecodeErrorKind::UnsupportedEvent
        );
        // Three productions: 2 bits, code 3 is the escape.
        let mut d = Decoder::new(&[0x80, 0b1011_0000]).unwrap();
        assert_eq!(d.read_event(&[4, 5, 6]).unwrap(), 6);
        assert_eq!(
            d.read_event(&[4, 5, 6]).unwrap_err().kind(),
            &DecodeErrorKind::UnsupportedEvent
        );
        // Two productions in two bits: code 3 is invalid.
        let mut d = Decoder::new(&[0x80, 0b1100_0000]).unwrap();
        assert!(matches!(
            d.read_event(&[1, 2]).unwrap_err().kind(),
            DecodeErrorKind::InvalidEventCode { code: 3, .. }
        ));
    }

    #[test]
    fn string_table_hits() {
        // Literal "ab" for qname 0, then a local hit (0, 0 bits) and a global hit (1, 0 bits)
        // for qname 1, then a literal "c" for qname 1 and a global hit 1 (1 bit).
        let mut e = Encoder::new();
        e.write_string("ab", 10).unwrap();
        let mut bytes = e.finish();
        // Append by hand: unsigned 0 (local hit) for qname 0 with 0-bit id, 1 (global, 0 bits).
        bytes.extend_from_slice(&[0x00, 0x01]);
        let mut d = Decoder::new(&bytes).unwrap();
        assert_eq!(d.read_string(10, 0).unwrap(), "ab");
        assert_eq!(d.read_string(10, 0).unwrap(), "ab");
        assert_eq!(d.read_string(10, 1).unwrap(), "ab");
        // A local hit in an empty partition is an error.
        let mut d = Decoder::new(&[0x80, 0x00]).unwrap();
        assert!(d.read_string(10, 3).is_err());
        // Too long for the field.
        let mut e = Encoder::new();
        e.write_string("abcd", 10).unwrap();
        let bytes = e.finish();
        assert!(matches!(
            Decoder::new(&bytes)
                .unwrap()
                .read_string(3, 0)
                .unwrap_err()
                .kind(),
            DecodeErrorKind::TooLong { len: 4, max: 3 }
        ));
    }

    #[test]
    fn huge_lengths_do_not_allocate() {
        // Binary announcing u64::MAX / 2 bytes.
        let mut e = Encoder::new();
        e.write_unsigned(u64::MAX / 2);
        let bytes = e.finish();
        assert!(Decoder::new(&bytes).unwrap().read_bytes(u64::MAX).is_err());
        assert!(
            Decoder::new(&bytes)
                .unwrap()
                .read_string(u64::MAX, 0)
                .is_err()
        );
    }

    #[test]
    fn integers_roundtrip() {
        let mut e = Encoder::new();
        for v in [0i64, 1, -1, 63, -64, 1000, -1000, i64::MAX, i64::MIN] {
            e.write_int(v);
            e.write_integer(&Integer::from(v));
        }
        let big: Integer = "-1461501637330902918203684832716283019655932542976"
            .parse()
            .unwrap();
        e.write_integer(&big);
        let bytes = e.finish();
        let mut d = Decoder::new(&bytes).unwrap();
        for v in [0i64, 1, -1, 63, -64, 1000, -1000, i64::MAX, i64::MIN] {
            assert_eq!(d.read_int::<i64>("long").unwrap(), v);
            assert_eq!(d.read_integer().unwrap(), Integer::from(v));
        }
        assert_eq!(d.read_integer().unwrap(), big);
    }
}
