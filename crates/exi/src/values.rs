//! Value types for schema datatypes that have no natural Rust primitive: binary data
//! (`xs:hexBinary`, `xs:base64Binary`) and unbounded integers (`xs:integer`).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::str::FromStr;

/// Binary data (`xs:hexBinary`, `xs:base64Binary`; EXI 1.0 §7.1.1). Serialized as a lowercase
/// hex string in JSON, whatever the schema type, so that logs read alike.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The bytes as a lowercase hex string.
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        let mut s = String::with_capacity(self.0.len() * 2);
        for b in &self.0 {
            // Writing to a String cannot fail.
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// Parses a hex string (either case, even length).
    ///
    /// # Errors
    /// If `s` has an odd length or a non-hex character.
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        let s = s.as_bytes();
        if !s.len().is_multiple_of(2) {
            return Err(HexError);
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(HexError),
        };
        s.chunks_exact(2)
            .map(|p| Ok(nibble(p[0])? << 4 | nibble(p[1])?))
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// A string that is not valid hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid hex string")]
pub struct HexError;

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({})", self.to_hex())
    }
}

impl Deref for Bytes {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for Bytes {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Self(v.to_vec())
    }
}

impl<const N: usize> From<[u8; N]> for Bytes {
    fn from(v: [u8; N]) -> Self {
        Self(v.to_vec())
    }
}

impl serde::Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// The largest `xs:integer` magnitude this codec accepts, in bytes. X.509 serial numbers, the
/// only V2G use besides `HMACOutputLength`, have at most 20 octets (RFC 5280 §4.1.2.2).
pub const MAX_INTEGER_BYTES: usize = 32;

/// An `xs:integer` (EXI 1.0 §7.1.5 Integer, unbounded), up to [`MAX_INTEGER_BYTES`] of
/// magnitude. Serialized as a decimal string in JSON so that large values survive tools that
/// read JSON numbers as doubles.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Integer {
    negative: bool,
    /// Big-endian magnitude without leading zero bytes; empty for zero.
    magnitude: Vec<u8>,
}

impl Integer {
    /// Builds an integer from a sign and a big-endian magnitude.
    ///
    /// # Errors
    /// If the magnitude (without leading zeros) exceeds [`MAX_INTEGER_BYTES`].
    pub fn from_sign_magnitude(
        negative: bool,
        magnitude: &[u8],
    ) -> Result<Self, ParseIntegerError> {
        let start = magnitude
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(magnitude.len());
        let magnitude = magnitude.get(start..).unwrap_or_default().to_vec();
        if magnitude.len() > MAX_INTEGER_BYTES {
            return Err(ParseIntegerError);
        }
        Ok(Self {
            negative: negative && !magnitude.is_empty(),
            magnitude,
        })
    }

    /// Whether the value is below zero.
    #[must_use]
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Big-endian absolute value, without leading zero bytes.
    #[must_use]
    pub fn magnitude(&self) -> &[u8] {
        &self.magnitude
    }

    /// The value as an `i64`, if it fits.
    #[must_use]
    pub fn to_i64(&self) -> Option<i64> {
        if self.magnitude.len() > 8 {
            return None;
        }
        let m = self
            .magnitude
            .iter()
            .fold(0u64, |a, &b| a << 8 | u64::from(b));
        if self.negative {
            0i64.checked_sub_unsigned(m)
        } else {
            i64::try_from(m).ok()
        }
    }
}

impl From<i64> for Integer {
    fn from(v: i64) -> Self {
        let m = v.unsigned_abs().to_be_bytes();
        let start = m.iter().position(|&b| b != 0).unwrap_or(m.len());
        Self {
            negative: v < 0,
            magnitude: m[start..].to_vec(),
        }
    }
}

impl fmt::Display for Integer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.magnitude.is_empty() {
            return f.write_str("0");
        }
        // Repeated division by 10 of the big-endian magnitude.
        let mut digits = Vec::new();
        let mut n = self.magnitude.clone();
        while !n.is_empty() {
            let mut rem = 0u16;
            for b in &mut n {
                let cur = rem << 8 | u16::from(*b);
                // `cur / 10 < 256` because `rem < 10`.
                #[allow(clippy::cast_possible_truncation)]
                {
                    *b = (cur / 10) as u8;
                }
                rem = cur % 10;
            }
            #[allow(clippy::cast_possible_truncation)]
            digits.push(b'0' + rem as u8);
            let start = n.iter().position(|&b| b != 0).unwrap_or(n.len());
            n.drain(..start);
        }
        if self.negative {
            f.write_str("-")?;
        }
        digits.reverse();
        f.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Integer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Integer({self})")
    }
}

/// A string that is not a decimal integer within [`MAX_INTEGER_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid or too large integer")]
pub struct ParseIntegerError;

impl FromStr for Integer {
    type Err = ParseIntegerError;

    fn from_str(s: &str) -> Result<Self, ParseIntegerError> {
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        if digits.is_empty() {
            return Err(ParseIntegerError);
        }
        // Little-endian magnitude, multiplied by ten per digit.
        let mut le: Vec<u8> = Vec::new();
        for c in digits.bytes() {
            if !c.is_ascii_digit() {
                return Err(ParseIntegerError);
            }
            let mut carry = u16::from(c - b'0');
            for b in &mut le {
                let cur = u16::from(*b) * 10 + carry;
                #[allow(clippy::cast_possible_truncation)]
                {
                    *b = cur as u8;
                }
                carry = cur >> 8;
            }
            if carry > 0 {
                #[allow(clippy::cast_possible_truncation)]
                le.push(carry as u8);
            }
            if le.len() > MAX_INTEGER_BYTES + 1 {
                return Err(ParseIntegerError);
            }
        }
        le.reverse();
        Self::from_sign_magnitude(negative, &le)
    }
}

impl serde::Serialize for Integer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Integer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_hex_roundtrip() {
        let b = Bytes::from(vec![0x00, 0x0c, 0xa8, 0xff]);
        assert_eq!(b.to_hex(), "000ca8ff");
        assert_eq!(Bytes::from_hex("000CA8ff").unwrap(), b);
        assert!(Bytes::from_hex("abc").is_err());
        assert!(Bytes::from_hex("zz").is_err());
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"000ca8ff\"");
        assert_eq!(serde_json::from_str::<Bytes>("\"000ca8ff\"").unwrap(), b);
    }

    #[test]
    fn integer_decimal_roundtrip() {
        for v in [
            0i64,
            1,
            -1,
            255,
            256,
            -256,
            i64::MAX,
            i64::MIN,
            1_000_000_007,
        ] {
            let i = Integer::from(v);
            assert_eq!(i.to_string(), v.to_string());
            assert_eq!(i.to_string().parse::<Integer>().unwrap(), i);
            assert_eq!(i.to_i64(), Some(v));
        }
        let big = "1461501637330902918203684832716283019655932542975"; // 2^160 - 1
        let i: Integer = big.parse().unwrap();
        assert_eq!(i.magnitude().len(), 20);
        assert_eq!(i.to_string(), big);
        assert_eq!(i.to_i64(), None);
        assert!("-0".parse::<Integer>().unwrap() == Integer::from(0));
        assert!("".parse::<Integer>().is_err());
        assert!("12a".parse::<Integer>().is_err());
        assert!("9".repeat(100).parse::<Integer>().is_err());
    }
}
