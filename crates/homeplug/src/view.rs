//! The machinery shared by the typed views: fixed-size field codecs and the `view!` macro.

use crate::{MacAddr, Nid, Nmk, RunId, StationId};

/// A fixed-size field as it sits in an MME. Multi-byte integers are little-endian, as everywhere
/// in HomePlug MMEs.
pub trait WireField: Sized {
    /// Bytes on the wire.
    const LEN: usize;
    /// Reads from a slice of exactly [`Self::LEN`] bytes.
    fn read(bytes: &[u8]) -> Self;
    /// Writes into a slice of exactly [`Self::LEN`] bytes.
    fn write(&self, bytes: &mut [u8]);
}

/// Copies a slice into an array. The views only call it with ranges of length `N` that
/// `check_len` has proven in bounds, so the lengths always agree.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = bytes.len().min(N);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

fn put(bytes: &mut [u8], value: &[u8]) {
    let n = bytes.len().min(value.len());
    bytes[..n].copy_from_slice(&value[..n]);
}

impl WireField for u8 {
    const LEN: usize = 1;
    fn read(bytes: &[u8]) -> Self {
        bytes.first().copied().unwrap_or(0)
    }
    fn write(&self, bytes: &mut [u8]) {
        put(bytes, &[*self]);
    }
}

impl WireField for u16 {
    const LEN: usize = 2;
    fn read(bytes: &[u8]) -> Self {
        Self::from_le_bytes(array(bytes))
    }
    fn write(&self, bytes: &mut [u8]) {
        put(bytes, &self.to_le_bytes());
    }
}

impl WireField for u32 {
    const LEN: usize = 4;
    fn read(bytes: &[u8]) -> Self {
        Self::from_le_bytes(array(bytes))
    }
    fn write(&self, bytes: &mut [u8]) {
        put(bytes, &self.to_le_bytes());
    }
}

macro_rules! array_field {
    ($($ty:ty => $len:literal, $wrap:expr, $unwrap:expr;)*) => {$(
        impl WireField for $ty {
            const LEN: usize = $len;
            fn read(bytes: &[u8]) -> Self {
                $wrap(array::<$len>(bytes))
            }
            fn write(&self, bytes: &mut [u8]) {
                put(bytes, &$unwrap(self));
            }
        }
    )*};
}

array_field! {
    [u8; 3] => 3, |a| a, |s: &[u8; 3]| *s;
    [u8; 8] => 8, |a| a, |s: &[u8; 8]| *s;
    [u8; 16] => 16, |a| a, |s: &[u8; 16]| *s;
    MacAddr => 6, MacAddr, |s: &MacAddr| s.0;
    RunId => 8, RunId, |s: &RunId| s.0;
    StationId => 17, StationId, |s: &StationId| s.0;
    Nid => 7, Nid, |s: &Nid| s.0;
    Nmk => 16, Nmk, |s: &Nmk| s.0;
}

/// Declares a typed view over an MME payload: the struct, `new_unchecked` / `new_checked` /
/// `check_len` / `into_inner`, one getter per field and, where the buffer is writable, one setter.
/// `min_len` is the length `check_len` demands; fields beyond it need a hand-written check.
macro_rules! view {
    (
        $(#[$doc:meta])*
        pub struct $name:ident, min_len = $min:expr;
        $( $(#[$fdoc:meta])* $get:ident / $set:ident : $ty:ty = $range:expr; )*
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps a buffer without checking its length; accessors may panic on a short one.
            pub const fn new_unchecked(buffer: T) -> Self {
                Self { buffer }
            }

            /// Wraps a buffer, checking that every field fits.
            pub fn new_checked(buffer: T) -> $crate::Result<Self> {
                let view = Self::new_unchecked(buffer);
                view.check_len()?;
                Ok(view)
            }

            /// Ensures that no accessor will panic.
            pub fn check_len(&self) -> $crate::Result<()> {
                $crate::error::need(self.buffer.as_ref().len(), $min)
            }

            /// The underlying buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }

            $(
                $(#[$fdoc])*
                pub fn $get(&self) -> $ty {
                    <$ty as $crate::WireField>::read(&self.buffer.as_ref()[$range])
                }
            )*
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            $(
                #[doc = concat!("Sets the field read by [`Self::", stringify!($get), "`].")]
                pub fn $set(&mut self, value: $ty) {
                    $crate::WireField::write(&value, &mut self.buffer.as_mut()[$range]);
                }
            )*
        }
    };
}

pub(crate) use view;
