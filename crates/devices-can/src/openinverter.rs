//! The openinverter BMS (FlyingAdcBms, the 16-cell "OI BMS"): its two periodic libopeninv PDOs
//! at the configured `pdobase` (default 500 = 0x1F4), as the predecessor's `oi_bms.py` reads them
//! (ems-research.md §2.2; all fields little-endian bit order):
//!
//! | id | bits | field |
//! |---|---|---|
//! | 0x1F4 | 0–7 | CCL, 0.1 A (bits 8–10 are not read: the predecessor reads byte 0 only) |
//! | | 11–21 | DCL, 0.1 A |
//! | | 22–31 | SoC, 0.1 % |
//! | | 32–47 | pack current, int16, 0.1 A |
//! | | 48–57 | pack voltage, 1 V |
//! | | 62–63 | 2-bit counter |
//! | 0x1F5 | 0–15 | lowest cell, mV |
//! | | 16–29 | highest cell, mV |
//! | | 30–31 | 2-bit counter |
//!
//! The counters advance with every transmission; a BMS whose counter stands still is as stale
//! as a silent one (its CAN controller may be repeating a buffer its firmware no longer fills).
//! The sign of the current is not documented: positive is taken as charging.

use units::{Amps, Percent, Volts};

use crate::frame::{CanFrame, Error, expect, in_range, std_frame};

/// The default PDO base (`pdobase` = 500).
pub const PDO_BASE: u16 = 0x1F4;
/// Data length of the first PDO.
pub const PDO1_LEN: usize = 8;
/// Data length of the second PDO.
pub const PDO2_LEN: usize = 4;

/// A view of the first PDO's data (limits, SoC, current, voltage).
#[derive(Debug, Clone, Copy)]
pub struct Pdo1<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Pdo1<T> {
    /// Wraps `buffer`, checking its length.
    pub fn new_checked(buffer: T) -> Result<Self, usize> {
        let len = buffer.as_ref().len();
        if len < PDO1_LEN {
            return Err(len);
        }
        Ok(Self { buffer })
    }

    fn word(&self) -> u64 {
        let b = self.buffer.as_ref();
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[..8]);
        u64::from_le_bytes(w)
    }

    /// CCL in 0.1 A.
    pub fn ccl_raw(&self) -> u16 {
        (self.word() & 0xFF) as u16
    }
    /// DCL in 0.1 A.
    pub fn dcl_raw(&self) -> u16 {
        ((self.word() >> 11) & 0x7FF) as u16
    }
    /// SoC in 0.1 %.
    pub fn soc_raw(&self) -> u16 {
        ((self.word() >> 22) & 0x3FF) as u16
    }
    /// Pack current in 0.1 A.
    pub fn current_raw(&self) -> i16 {
        ((self.word() >> 32) & 0xFFFF) as u16 as i16
    }
    /// Pack voltage in V.
    pub fn voltage_raw(&self) -> u16 {
        ((self.word() >> 48) & 0x3FF) as u16
    }
    /// The 2-bit counter.
    pub fn counter(&self) -> u8 {
        (self.word() >> 62) as u8
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Pdo1<T> {
    /// Writes every field (each masked to its width).
    pub fn set_all(&mut self, ccl: u16, dcl: u16, soc: u16, current: i16, voltage: u16, ctr: u8) {
        let w = u64::from(ccl & 0xFF)
            | u64::from(dcl & 0x7FF) << 11
            | u64::from(soc & 0x3FF) << 22
            | u64::from(current as u16) << 32
            | u64::from(voltage & 0x3FF) << 48
            | u64::from(ctr & 3) << 62;
        self.buffer.as_mut()[..8].copy_from_slice(&w.to_le_bytes());
    }
}

/// A view of the second PDO's data (cell voltage extremes).
#[derive(Debug, Clone, Copy)]
pub struct Pdo2<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Pdo2<T> {
    /// Wraps `buffer`, checking its length.
    pub fn new_checked(buffer: T) -> Result<Self, usize> {
        let len = buffer.as_ref().len();
        if len < PDO2_LEN {
            return Err(len);
        }
        Ok(Self { buffer })
    }
    fn word(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    /// Lowest cell in mV.
    pub fn umin_mv(&self) -> u16 {
        (self.word() & 0xFFFF) as u16
    }
    /// Highest cell in mV.
    pub fn umax_mv(&self) -> u16 {
        ((self.word() >> 16) & 0x3FFF) as u16
    }
    /// The 2-bit counter.
    pub fn counter(&self) -> u8 {
        (self.word() >> 30) as u8
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Pdo2<T> {
    /// Writes every field (each masked to its width).
    pub fn set_all(&mut self, umin_mv: u16, umax_mv: u16, ctr: u8) {
        let w = u32::from(umin_mv) | u32::from(umax_mv & 0x3FFF) << 16 | u32::from(ctr & 3) << 30;
        self.buffer.as_mut()[..4].copy_from_slice(&w.to_le_bytes());
    }
}

/// The first PDO, decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Charge current limit.
    pub ccl: Amps,
    /// Discharge current limit.
    pub dcl: Amps,
    /// State of charge.
    pub soc: Percent,
    /// Pack current, positive = charging.
    pub current: Amps,
    /// Pack voltage.
    pub voltage: Volts,
    /// The 2-bit counter.
    pub counter: u8,
}

/// The second PDO, decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cells {
    /// Lowest cell.
    pub min: Volts,
    /// Highest cell.
    pub max: Volts,
    /// The 2-bit counter.
    pub counter: u8,
}

/// Either PDO.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Repr {
    /// The first PDO (`base`).
    Limits(Limits),
    /// The second PDO (`base + 1`).
    Cells(Cells),
}

impl Repr {
    /// Decodes a frame of the BMS at PDO base `base`.
    pub fn parse(frame: &CanFrame, base: u16) -> Result<Self, Error> {
        if frame.id() == crate::CanId::Standard(base.wrapping_add(1)) {
            let data = expect(frame, base.wrapping_add(1), PDO2_LEN)?;
            let v = Pdo2::new_checked(data).map_err(|_| truncated(frame, PDO2_LEN))?;
            let min = f64::from(v.umin_mv()) / 1000.0;
            let max = f64::from(v.umax_mv()) / 1000.0;
            in_range(
                base + 1,
                "highest cell",
                max,
                min..=f64::MAX,
                "≥ the lowest cell",
            )?;
            return Ok(Self::Cells(Cells {
                min: Volts(min),
                max: Volts(max),
                counter: v.counter(),
            }));
        }
        let data = expect(frame, base, PDO1_LEN)?;
        let v = Pdo1::new_checked(data).map_err(|_| truncated(frame, PDO1_LEN))?;
        let soc = f64::from(v.soc_raw()) / 10.0;
        in_range(base, "SoC", soc, 0.0..=100.0, "0–100 %")?;
        Ok(Self::Limits(Limits {
            ccl: Amps(f64::from(v.ccl_raw()) / 10.0),
            dcl: Amps(f64::from(v.dcl_raw()) / 10.0),
            soc: Percent(soc),
            current: Amps(f64::from(v.current_raw()) / 10.0),
            voltage: Volts(f64::from(v.voltage_raw())),
            counter: v.counter(),
        }))
    }

    /// Encodes as the BMS at PDO base `base` sends it. Values are rounded to the field's
    /// resolution and clamped to its width.
    pub fn emit(&self, base: u16) -> CanFrame {
        match self {
            Self::Limits(l) => {
                let mut buf = [0u8; PDO1_LEN];
                let mut v = Pdo1 {
                    buffer: &mut buf[..],
                };
                v.set_all(
                    scale(l.ccl.0, 10.0, 0xFF) as u16,
                    scale(l.dcl.0, 10.0, 0x7FF) as u16,
                    scale(l.soc.0, 10.0, 1000) as u16,
                    (l.current.0 * 10.0).round().clamp(-32768.0, 32767.0) as i16,
                    scale(l.voltage.0, 1.0, 0x3FF) as u16,
                    l.counter,
                );
                std_frame(base, &buf)
            }
            Self::Cells(c) => {
                let mut buf = [0u8; PDO2_LEN];
                let mut v = Pdo2 {
                    buffer: &mut buf[..],
                };
                v.set_all(
                    scale(c.min.0, 1000.0, 0xFFFF) as u16,
                    scale(c.max.0, 1000.0, 0x3FFF) as u16,
                    c.counter,
                );
                std_frame(base.wrapping_add(1), &buf)
            }
        }
    }
}

fn truncated(frame: &CanFrame, need: usize) -> Error {
    Error::Truncated {
        id: frame.id(),
        len: frame.dlc(),
        need,
    }
}

/// `v × factor`, rounded, within `0..=max` (NaN → 0).
pub(crate) fn scale(v: f64, factor: f64, max: u32) -> u32 {
    let x = (v * factor).round();
    if x.is_nan() {
        0
    } else {
        x.clamp(0.0, f64::from(max)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 0x1F4 frame built by hand from the documented layout: CCL 12.5 A (125), DCL 100.0 A
    /// (1000), SoC 55.5 % (555), current −20.3 A (−203), 360 V, counter 2.
    fn pdo1_by_hand() -> CanFrame {
        let (ccl, dcl, soc, cur, u, ctr) = (125u8, 1000u16, 555u16, -203i16, 360u16, 2u8);
        let c = cur.to_le_bytes();
        let data = [
            ccl,
            ((dcl << 3) & 0xF8) as u8,
            ((dcl >> 5) as u8 & 0x3F) | ((soc as u8 & 3) << 6),
            (soc >> 2) as u8,
            c[0],
            c[1],
            (u & 0xFF) as u8,
            ((u >> 8) as u8 & 3) | (ctr << 6),
        ];
        CanFrame::standard(0x1F4, &data).unwrap()
    }

    #[test]
    fn pdo1_decodes_the_documented_layout() {
        let Repr::Limits(l) = Repr::parse(&pdo1_by_hand(), PDO_BASE).unwrap() else {
            panic!("not the limits PDO")
        };
        assert_eq!(l.ccl, Amps(12.5));
        assert_eq!(l.dcl, Amps(100.0));
        assert_eq!(l.soc, Percent(55.5));
        assert_eq!(l.current, Amps(-20.3));
        assert_eq!(l.voltage, Volts(360.0));
        assert_eq!(l.counter, 2);
        assert_eq!(Repr::Limits(l).emit(PDO_BASE), pdo1_by_hand());
    }

    #[test]
    fn pdo2_decodes_the_documented_layout() {
        // umin 3312 mV, umax 3350 mV (0x0D16), counter 3.
        let data = [0xF0, 0x0C, 0x16, 0x0D | 0xC0];
        let f = CanFrame::standard(0x1F5, &data).unwrap();
        let r = Repr::parse(&f, PDO_BASE).unwrap();
        assert_eq!(
            r,
            Repr::Cells(Cells {
                min: Volts(3.312),
                max: Volts(3.35),
                counter: 3
            })
        );
        assert_eq!(r.emit(PDO_BASE), f);
    }

    #[test]
    fn garbage_is_reported() {
        let short = CanFrame::standard(0x1F4, &[0; 7]).unwrap();
        assert!(matches!(
            Repr::parse(&short, PDO_BASE),
            Err(Error::Truncated {
                need: 8,
                len: 7,
                ..
            })
        ));
        let other = CanFrame::standard(0x351, &[0; 8]).unwrap();
        assert!(matches!(
            Repr::parse(&other, PDO_BASE),
            Err(Error::UnknownId(_))
        ));
        // SoC 102.3 %.
        let mut data = [0u8; 8];
        data[2] = 0xC0;
        data[3] = 0xFF;
        let f = CanFrame::standard(0x1F4, &data).unwrap();
        assert!(matches!(
            Repr::parse(&f, PDO_BASE),
            Err(Error::OutOfRange { field: "SoC", .. })
        ));
        // Highest cell below the lowest.
        let f = CanFrame::standard(0x1F5, &[0xFF, 0x0F, 0x00, 0x01]).unwrap();
        assert!(Repr::parse(&f, PDO_BASE).is_err());
    }

    #[test]
    fn another_pdo_base() {
        let f = Repr::Cells(Cells {
            min: Volts(3.0),
            max: Volts(3.1),
            counter: 1,
        })
        .emit(0x300);
        assert_eq!(f.id(), crate::CanId::Standard(0x301));
        assert!(Repr::parse(&f, 0x300).is_ok());
        assert!(Repr::parse(&f, PDO_BASE).is_err());
    }
}
