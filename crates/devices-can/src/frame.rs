//! A classic CAN 2.0 data frame (up to 8 data bytes) and the errors every decoder reports.
//!
//! The codecs in this crate parse from and emit into this type, never into a socket's: the
//! SocketCAN backend converts at its edge, so the codecs and cores stay free of I/O.

use std::fmt;

/// An 11-bit (CAN 2.0A) or 29-bit (CAN 2.0B) identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CanId {
    /// 11 bits, 0..=0x7FF.
    Standard(u16),
    /// 29 bits, 0..=0x1FFF_FFFF.
    Extended(u32),
}

impl CanId {
    /// The largest standard identifier.
    pub const MAX_STANDARD: u16 = 0x7FF;
    /// The largest extended identifier.
    pub const MAX_EXTENDED: u32 = 0x1FFF_FFFF;

    /// A standard identifier, checked.
    pub fn standard(id: u16) -> Result<Self, Error> {
        if id > Self::MAX_STANDARD {
            return Err(Error::BadId(u32::from(id)));
        }
        Ok(Self::Standard(id))
    }

    /// An extended identifier, checked.
    pub fn extended(id: u32) -> Result<Self, Error> {
        if id > Self::MAX_EXTENDED {
            return Err(Error::BadId(id));
        }
        Ok(Self::Extended(id))
    }

    /// The numeric identifier.
    pub fn raw(self) -> u32 {
        match self {
            Self::Standard(id) => u32::from(id),
            Self::Extended(id) => id,
        }
    }
}

impl fmt::Debug for CanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for CanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Standard(id) => write!(f, "0x{id:03X}"),
            Self::Extended(id) => write!(f, "0x{id:08X}x"),
        }
    }
}

/// A classic CAN data frame.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CanFrame {
    id: CanId,
    len: u8,
    data: [u8; 8],
}

impl CanFrame {
    /// A frame with `data` (at most 8 bytes).
    pub fn new(id: CanId, data: &[u8]) -> Result<Self, Error> {
        let mut buf = [0u8; 8];
        buf.get_mut(..data.len())
            .ok_or(Error::TooLong(data.len()))?
            .copy_from_slice(data);
        Ok(Self {
            id,
            // At most 8, checked above.
            len: data.len() as u8,
            data: buf,
        })
    }

    /// A frame with an 11-bit identifier.
    pub fn standard(id: u16, data: &[u8]) -> Result<Self, Error> {
        Self::new(CanId::standard(id)?, data)
    }

    /// The identifier.
    pub fn id(&self) -> CanId {
        self.id
    }

    /// The data bytes (DLC of them).
    pub fn data(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }

    /// The data length code.
    pub fn dlc(&self) -> usize {
        usize::from(self.len)
    }
}

impl fmt::Debug for CanFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#", self.id)?;
        for b in self.data() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// Why a frame could not be decoded or built. Every variant blames the frame's sender (or, for
/// [`Error::TooLong`] and [`Error::BadId`], the caller building one).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// More than 8 data bytes for a classic CAN frame.
    #[error("{0} data bytes: a classic CAN frame carries at most 8")]
    TooLong(usize),
    /// An identifier out of the 11- or 29-bit range.
    #[error("identifier 0x{0:X} is out of range")]
    BadId(u32),
    /// The frame is shorter than its layout.
    #[error("{id}: {len} data bytes, the layout needs {need}")]
    Truncated {
        /// The frame's identifier.
        id: CanId,
        /// Its data length.
        len: usize,
        /// What the layout needs.
        need: usize,
    },
    /// The identifier is not one this decoder knows.
    #[error("{0}: not a frame of this protocol")]
    UnknownId(CanId),
    /// A field holds a value its layout does not allow.
    #[error("{id}: {field} = {value} is out of range ({allowed})")]
    OutOfRange {
        /// The frame's identifier.
        id: CanId,
        /// The field.
        field: &'static str,
        /// The value read (in the field's unit).
        value: f64,
        /// The allowed range, for the message.
        allowed: &'static str,
    },
}

/// Checks that `frame` has identifier `id` and at least `need` data bytes.
pub(crate) fn expect(frame: &CanFrame, id: u16, need: usize) -> Result<&[u8], Error> {
    if frame.id != CanId::Standard(id) {
        return Err(Error::UnknownId(frame.id));
    }
    if frame.dlc() < need {
        return Err(Error::Truncated {
            id: frame.id,
            len: frame.dlc(),
            need,
        });
    }
    Ok(frame.data())
}

/// Checks that `value` lies in `range`, for field `field` of frame `id`.
pub(crate) fn in_range(
    id: u16,
    field: &'static str,
    value: f64,
    range: std::ops::RangeInclusive<f64>,
    allowed: &'static str,
) -> Result<f64, Error> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(Error::OutOfRange {
            id: CanId::Standard(id),
            field,
            value,
            allowed,
        })
    }
}

/// A standard frame the encoders build: the id is a constant below 0x800 and the data at most
/// 8 bytes, so this cannot fail.
pub(crate) fn std_frame(id: u16, data: &[u8]) -> CanFrame {
    let mut buf = [0u8; 8];
    let len = data.len().min(8);
    buf[..len].copy_from_slice(&data[..len]);
    CanFrame {
        id: CanId::Standard(id & CanId::MAX_STANDARD),
        len: len as u8,
        data: buf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_check_their_limits() {
        assert_eq!(
            CanFrame::standard(0x800, &[]).unwrap_err(),
            Error::BadId(0x800)
        );
        assert_eq!(
            CanFrame::standard(0x100, &[0; 9]).unwrap_err(),
            Error::TooLong(9)
        );
        assert!(CanId::extended(0x2000_0000).is_err());
        let f = CanFrame::standard(0x1F4, &[1, 2, 3]).unwrap();
        assert_eq!(f.data(), &[1, 2, 3]);
        assert_eq!(format!("{f:?}"), "0x1F4#010203");
        assert_eq!(CanId::extended(0x4200).unwrap().to_string(), "0x00004200x");
    }
}
