//! EXI 1.0 bit-stream runtime, as ISO 15118 / DIN 70121 use it.
//!
//! This crate holds everything of the EXI format that does not depend on a schema: the bit-packed
//! reader and writer, the EXI header, the built-in datatype representations (EXI 1.0 §7.1) and the
//! decode-side string table (§7.3). The schema-specific part, the grammars (§8.5), is generated
//! into the `v2g-messages` crate, whose code calls [`Decoder`] and [`Encoder`].
//!
//! V2G uses the default EXI options: bit-packed alignment, no compression, **strict = false**, no
//! fidelity options, no header options. Non-strict matters for the bit widths: every
//! schema-informed element grammar state reserves one extra first-level event code that escapes to
//! the second level (xsi:type, xsi:nil, undeclared content, §8.5.4.4.1). Conforming V2G messages
//! never use it; [`Decoder::read_event`] reports it as [`DecodeErrorKind::UnsupportedEvent`].
//!
//! Encoding writes every string as a literal (no string-table hits), as libcbv2g does; decoding
//! also accepts local and global value hits as other encoders (EXIficient) produce them.

mod bits;
mod decoder;
mod encoder;
mod error;
mod values;

pub use bits::{BitReader, BitWriter};
pub use decoder::{Decoder, QNameId};
pub use encoder::Encoder;
pub use error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
pub use values::{Bytes, HexError, Integer, MAX_INTEGER_BYTES, ParseIntegerError};

/// Number of bits of an n-bit unsigned integer that can hold `0..count` (EXI 1.0 §7.1.9:
/// ⌈log2 count⌉; 0 bits when there is at most one value).
#[must_use]
pub const fn bits_for(count: u64) -> u32 {
    if count <= 1 {
        0
    } else {
        64 - (count - 1).leading_zeros()
    }
}

/// Width of a first-level event code in a grammar state with `productions` first-level
/// productions, in the non-strict grammars V2G uses: one more code escapes to the second level.
#[must_use]
pub const fn event_code_bits(productions: usize) -> u32 {
    bits_for(productions as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_widths() {
        assert_eq!(bits_for(0), 0);
        assert_eq!(bits_for(1), 0);
        assert_eq!(bits_for(2), 1);
        assert_eq!(bits_for(3), 2);
        assert_eq!(bits_for(4), 2);
        assert_eq!(bits_for(5), 3);
        assert_eq!(bits_for(101), 7);
        assert_eq!(bits_for(256), 8);
        assert_eq!(event_code_bits(1), 1);
        assert_eq!(event_code_bits(3), 2);
        assert_eq!(event_code_bits(36), 6);
    }
}
