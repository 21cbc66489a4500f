//! BYD Battery-Box Premium HVS towards a hybrid inverter (ems-research.md §3c; the predecessor's
//! `bydcan.py`, derived from Battery-Emulator's BYD-CAN). CAN 2.0A, 500 kbit/s. The battery's
//! frames are **big-endian**; the inverter's 0x091/0x0D1/0x111 are little-endian.
//!
//! Battery → inverter:
//!
//! | id | period | bytes |
//! |---|---|---|
//! | 0x110 | 2 s | 0–1 max charge voltage, 2–3 min discharge voltage (u16 0.1 V), 4–5 max discharge current, 6–7 max charge current (u16 0.1 A) |
//! | 0x150 | 10 s | 0–1 SoC (0.01 %), 2–3 SoH (0.01 %), 4–5 max discharge current, 6–7 max charge current (0.1 A; the predecessor sends 0x2710 constants here) |
//! | 0x1D0 | 10 s | 0–1 voltage (u16 0.1 V), 2–3 current (s16 0.1 A), 4–5 temperature (s16 0.1 °C), 6–7 0x0308 |
//! | 0x210 | 10 s | 0–1 highest, 2–3 lowest temperature (s16 0.1 °C) |
//! | 0x190 | 60 s | alarms: 00 00 03 00 00 00 00 00 is "none" (the only value known) |
//! | 0x250 | on request | 0–1 firmware 03 16, 2–3 00 66, 4–5 capacity (u16 0.1 kWh), 6–7 02 09 |
//! | 0x290 | on request | 06 37 10 D9 00 00 00 00 |
//! | 0x2D0 | on request | 00 "BYD" 00 00 00 00 |
//! | 0x3D0 | on request | four frames: index 0–3, then 7 characters of "Battery-Box Premium HVS" |
//!
//! Inverter → battery: 0x151 (byte 0 bit 0 set: "identify yourself"; else bytes 1–7 are the
//! inverter's name), 0x091 (0–1 voltage, u16 LE 0.1 V), 0x0D1 (0–1 u16 LE, 0.1 %), 0x111 (0–3 u32
//! LE time stamp).

use units::{Amps, Percent, Volts};

use crate::frame::{CanFrame, Error, expect, in_range, std_frame};

/// 0x110: limits.
pub const ID_LIMITS: u16 = 0x110;
/// 0x150: SoC and SoH.
pub const ID_STATE: u16 = 0x150;
/// 0x190: alarms.
pub const ID_ALARMS: u16 = 0x190;
/// 0x1D0: voltage, current, temperature.
pub const ID_MEASUREMENTS: u16 = 0x1D0;
/// 0x210: temperature extremes.
pub const ID_TEMPERATURES: u16 = 0x210;
/// 0x250: firmware and capacity.
pub const ID_VERSION: u16 = 0x250;
/// 0x290: an identification constant.
pub const ID_IDENT_290: u16 = 0x290;
/// 0x2D0: the vendor.
pub const ID_VENDOR: u16 = 0x2D0;
/// 0x3D0: the model name, in four parts.
pub const ID_MODEL: u16 = 0x3D0;
/// 0x151: the inverter's identification request or name.
pub const ID_INVERTER_IDENT: u16 = 0x151;
/// 0x091: the inverter's voltage.
pub const ID_INVERTER_VOLTAGE: u16 = 0x091;
/// 0x0D1: the inverter's view of the SoC.
pub const ID_INVERTER_SOC: u16 = 0x0D1;
/// 0x111: the inverter's time stamp.
pub const ID_INVERTER_TIME: u16 = 0x111;

/// The model name the identification sends in 0x3D0.
pub const MODEL: &[u8; 23] = b"Battery-Box Premium HVS";
/// 0x190's "no alarm" content.
pub const NO_ALARMS: [u8; 8] = [0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00];
/// 0x290's constant content.
pub const IDENT_290: [u8; 8] = [0x06, 0x37, 0x10, 0xD9, 0x00, 0x00, 0x00, 0x00];

/// 0x110.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Highest charge voltage.
    pub max_voltage: Volts,
    /// Lowest discharge voltage.
    pub min_voltage: Volts,
    /// Discharge current limit.
    pub max_discharge: Amps,
    /// Charge current limit.
    pub max_charge: Amps,
}

/// 0x150.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct State {
    /// State of charge.
    pub soc: Percent,
    /// State of health.
    pub soh: Percent,
    /// Discharge current limit.
    pub max_discharge: Amps,
    /// Charge current limit.
    pub max_charge: Amps,
}

/// 0x1D0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurements {
    /// Pack voltage.
    pub voltage: Volts,
    /// Pack current, positive = charging.
    pub current: Amps,
    /// Mean temperature in °C.
    pub temperature_c: f64,
}

/// Any BYD HVS frame, from either side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Repr {
    /// 0x110.
    Limits(Limits),
    /// 0x150.
    State(State),
    /// 0x1D0.
    Measurements(Measurements),
    /// 0x210: highest and lowest temperature in °C.
    Temperatures {
        /// Highest.
        max_c: f64,
        /// Lowest.
        min_c: f64,
    },
    /// 0x190: the alarm bytes as sent.
    Alarms([u8; 8]),
    /// 0x250: firmware version bytes and capacity.
    Version {
        /// Firmware (03 16 = 3.16).
        firmware: [u8; 2],
        /// Capacity in Wh (sent in 0.1 kWh).
        capacity_wh: u32,
    },
    /// 0x290.
    Ident290([u8; 8]),
    /// 0x2D0: the vendor, 3 characters.
    Vendor([u8; 3]),
    /// 0x3D0: part `index` (0–3) of the model name, 7 characters.
    Model {
        /// Which part.
        index: u8,
        /// Its characters (NUL-padded).
        text: [u8; 7],
    },
    /// 0x151 with byte 0 bit 0 set: the inverter asks the battery to identify itself.
    IdentifyRequest,
    /// 0x151 otherwise: the inverter's name (NUL-padded).
    InverterName([u8; 7]),
    /// 0x091: the voltage the inverter measures.
    InverterVoltage(Volts),
    /// 0x0D1: the SoC as the inverter sees it.
    InverterSoc(Percent),
    /// 0x111: the inverter's time stamp.
    InverterTime(u32),
}

fn be(d: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([d[i], d[i + 1]])
}
fn sbe(d: &[u8], i: usize) -> i16 {
    i16::from_be_bytes([d[i], d[i + 1]])
}
fn le(d: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([d[i], d[i + 1]])
}

impl Repr {
    /// Decodes one frame.
    pub fn parse(frame: &CanFrame) -> Result<Self, Error> {
        let crate::CanId::Standard(id) = frame.id() else {
            return Err(Error::UnknownId(frame.id()));
        };
        let pct = |field, v: f64| in_range(id, field, v, 0.0..=100.0, "0–100 %").map(Percent);
        Ok(match id {
            ID_LIMITS => {
                let d = expect(frame, id, 8)?;
                Self::Limits(Limits {
                    max_voltage: Volts(f64::from(be(d, 0)) / 10.0),
                    min_voltage: Volts(f64::from(be(d, 2)) / 10.0),
                    max_discharge: Amps(f64::from(be(d, 4)) / 10.0),
                    max_charge: Amps(f64::from(be(d, 6)) / 10.0),
                })
            }
            ID_STATE => {
                let d = expect(frame, id, 8)?;
                Self::State(State {
                    soc: pct("SoC", f64::from(be(d, 0)) / 100.0)?,
                    soh: pct("SoH", f64::from(be(d, 2)) / 100.0)?,
                    max_discharge: Amps(f64::from(be(d, 4)) / 10.0),
                    max_charge: Amps(f64::from(be(d, 6)) / 10.0),
                })
            }
            ID_MEASUREMENTS => {
                let d = expect(frame, id, 6)?;
                Self::Measurements(Measurements {
                    voltage: Volts(f64::from(be(d, 0)) / 10.0),
                    current: Amps(f64::from(sbe(d, 2)) / 10.0),
                    temperature_c: f64::from(sbe(d, 4)) / 10.0,
                })
            }
            ID_TEMPERATURES => {
                let d = expect(frame, id, 4)?;
                let (max_c, min_c) = (f64::from(sbe(d, 0)) / 10.0, f64::from(sbe(d, 2)) / 10.0);
                in_range(
                    id,
                    "highest temperature",
                    max_c,
                    min_c..=f64::MAX,
                    "≥ the lowest",
                )?;
                Self::Temperatures { max_c, min_c }
            }
            ID_ALARMS => {
                let d = expect(frame, id, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(&d[..8]);
                Self::Alarms(a)
            }
            ID_VERSION => {
                let d = expect(frame, id, 8)?;
                Self::Version {
                    firmware: [d[0], d[1]],
                    capacity_wh: u32::from(be(d, 4)) * 100,
                }
            }
            ID_IDENT_290 => {
                let d = expect(frame, id, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(&d[..8]);
                Self::Ident290(a)
            }
            ID_VENDOR => {
                let d = expect(frame, id, 4)?;
                Self::Vendor([d[1], d[2], d[3]])
            }
            ID_MODEL => {
                let d = expect(frame, id, 8)?;
                let index = in_range(id, "part", f64::from(d[0]), 0.0..=3.0, "0–3")? as u8;
                let mut text = [0u8; 7];
                text.copy_from_slice(&d[1..8]);
                Self::Model { index, text }
            }
            ID_INVERTER_IDENT => {
                let d = expect(frame, id, 1)?;
                if d[0] & 1 != 0 {
                    Self::IdentifyRequest
                } else {
                    let mut name = [0u8; 7];
                    let rest = &d[1..];
                    name[..rest.len()].copy_from_slice(rest);
                    Self::InverterName(name)
                }
            }
            ID_INVERTER_VOLTAGE => {
                let d = expect(frame, id, 2)?;
                Self::InverterVoltage(Volts(f64::from(le(d, 0)) / 10.0))
            }
            ID_INVERTER_SOC => {
                let d = expect(frame, id, 2)?;
                Self::InverterSoc(pct("SoC", f64::from(le(d, 0)) / 10.0)?)
            }
            ID_INVERTER_TIME => {
                let d = expect(frame, id, 4)?;
                Self::InverterTime(u32::from_le_bytes([d[0], d[1], d[2], d[3]]))
            }
            _ => return Err(Error::UnknownId(frame.id())),
        })
    }

    /// Encodes the frame. Values are rounded to the field's resolution and clamped to its
    /// range (a negative limit is sent as 0 A).
    pub fn emit(&self) -> CanFrame {
        let u = |v: f64, f: f64| {
            let x = (v * f).round();
            if x.is_nan() {
                0
            } else {
                x.clamp(0.0, 65535.0) as u16
            }
        };
        let s = |v: f64, f: f64| {
            let x = (v * f).round();
            if x.is_nan() {
                0
            } else {
                x.clamp(-32768.0, 32767.0) as i16
            }
        };
        let pair = |a: [u8; 2], b: [u8; 2], c: [u8; 2], d: [u8; 2]| {
            [a[0], a[1], b[0], b[1], c[0], c[1], d[0], d[1]]
        };
        match self {
            Self::Limits(l) => std_frame(
                ID_LIMITS,
                &pair(
                    u(l.max_voltage.0, 10.0).to_be_bytes(),
                    u(l.min_voltage.0, 10.0).to_be_bytes(),
                    u(l.max_discharge.0, 10.0).to_be_bytes(),
                    u(l.max_charge.0, 10.0).to_be_bytes(),
                ),
            ),
            Self::State(st) => std_frame(
                ID_STATE,
                &pair(
                    u(st.soc.0.min(100.0), 100.0).to_be_bytes(),
                    u(st.soh.0.min(100.0), 100.0).to_be_bytes(),
                    u(st.max_discharge.0, 10.0).to_be_bytes(),
                    u(st.max_charge.0, 10.0).to_be_bytes(),
                ),
            ),
            Self::Measurements(m) => std_frame(
                ID_MEASUREMENTS,
                &pair(
                    u(m.voltage.0, 10.0).to_be_bytes(),
                    s(m.current.0, 10.0).to_be_bytes(),
                    s(m.temperature_c, 10.0).to_be_bytes(),
                    [0x03, 0x08],
                ),
            ),
            Self::Temperatures { max_c, min_c } => std_frame(
                ID_TEMPERATURES,
                &pair(
                    s(*max_c, 10.0).to_be_bytes(),
                    s(*min_c, 10.0).to_be_bytes(),
                    [0, 0],
                    [0, 0],
                ),
            ),
            Self::Alarms(a) => std_frame(ID_ALARMS, a),
            Self::Version {
                firmware,
                capacity_wh,
            } => {
                let c = ((*capacity_wh + 50) / 100).min(0xFFFF) as u16;
                std_frame(
                    ID_VERSION,
                    &pair(*firmware, [0x00, 0x66], c.to_be_bytes(), [0x02, 0x09]),
                )
            }
            Self::Ident290(a) => std_frame(ID_IDENT_290, a),
            Self::Vendor(v) => std_frame(ID_VENDOR, &[0, v[0], v[1], v[2], 0, 0, 0, 0]),
            Self::Model { index, text } => {
                let mut d = [0u8; 8];
                d[0] = *index;
                d[1..].copy_from_slice(text);
                std_frame(ID_MODEL, &d)
            }
            Self::IdentifyRequest => std_frame(ID_INVERTER_IDENT, &[1, 0, 0, 0, 0, 0, 0, 0]),
            Self::InverterName(n) => {
                let mut d = [0u8; 8];
                d[1..].copy_from_slice(n);
                std_frame(ID_INVERTER_IDENT, &d)
            }
            Self::InverterVoltage(v) => {
                let b = u(v.0, 10.0).to_le_bytes();
                std_frame(ID_INVERTER_VOLTAGE, &[b[0], b[1], 0, 0, 0, 0, 0, 0])
            }
            Self::InverterSoc(p) => {
                let b = u(p.0, 10.0).to_le_bytes();
                std_frame(ID_INVERTER_SOC, &[b[0], b[1], 0, 0, 0, 0, 0, 0])
            }
            Self::InverterTime(t) => {
                let b = t.to_le_bytes();
                std_frame(ID_INVERTER_TIME, &[b[0], b[1], b[2], b[3], 0, 0, 0, 0])
            }
        }
    }

    /// The identification the battery sends when asked: 0x250, 0x290, 0x2D0 and the four
    /// 0x3D0 parts of the model name.
    pub fn identification(capacity_wh: u32) -> [Self; 7] {
        let part = |i: usize| {
            let mut text = [0u8; 7];
            for (t, c) in text.iter_mut().zip(MODEL.iter().skip(i * 7)) {
                *t = *c;
            }
            Self::Model {
                index: i as u8,
                text,
            }
        };
        [
            Self::Version {
                firmware: [0x03, 0x16],
                capacity_wh,
            },
            Self::Ident290(IDENT_290),
            Self::Vendor(*b"BYD"),
            part(0),
            part(1),
            part(2),
            part(3),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: u16, d: &[u8]) -> CanFrame {
        CanFrame::standard(id, d).unwrap()
    }

    #[test]
    fn the_predecessors_frames_decode() {
        // bydcan.py's 0x110 with a 15.0 A charge limit: 400.0 V, 300.0 V, 20.0 A, 15.0 A.
        let r = Repr::parse(&f(0x110, &[0x0F, 0xA0, 0x0B, 0xB8, 0x00, 0xC8, 0x00, 150])).unwrap();
        assert_eq!(
            r,
            Repr::Limits(Limits {
                max_voltage: Volts(400.0),
                min_voltage: Volts(300.0),
                max_discharge: Amps(20.0),
                max_charge: Amps(15.0),
            })
        );
        assert_eq!(
            r.emit().data(),
            &[0x0F, 0xA0, 0x0B, 0xB8, 0x00, 0xC8, 0x00, 150]
        );
        // 0x1D0 with 360.0 V, 1.0 A, 20.0 °C.
        let m = Repr::parse(&f(0x1D0, &[0x0E, 0x10, 0x00, 0x0A, 0x00, 0xC8, 0x03, 0x08])).unwrap();
        assert_eq!(
            m,
            Repr::Measurements(Measurements {
                voltage: Volts(360.0),
                current: Amps(1.0),
                temperature_c: 20.0
            })
        );
        assert_eq!(
            m.emit().data(),
            &[0x0E, 0x10, 0x00, 0x0A, 0x00, 0xC8, 0x03, 0x08]
        );
        // 0x150: 50.00 %, 100.00 %.
        let s = Repr::parse(&f(0x150, &[0x13, 0x88, 0x27, 0x10, 0, 0xC8, 0, 0x96])).unwrap();
        assert!(matches!(
            s,
            Repr::State(State {
                soc: Percent(50.0),
                soh: Percent(100.0),
                ..
            })
        ));
    }

    #[test]
    fn identification_is_the_predecessors() {
        let frames: Vec<Vec<u8>> = Repr::identification(25_500)
            .iter()
            .map(|r| r.emit().data().to_vec())
            .collect();
        assert_eq!(frames[0], [0x03, 0x16, 0x00, 0x66, 0x00, 0xFF, 0x02, 0x09]);
        assert_eq!(frames[1], IDENT_290);
        assert_eq!(frames[2], [0x00, 0x42, 0x59, 0x44, 0x00, 0x00, 0x00, 0x00]);
        assert_eq!(frames[3], [0x00, 0x42, 0x61, 0x74, 0x74, 0x65, 0x72, 0x79]);
        assert_eq!(frames[4], [0x01, 0x2D, 0x42, 0x6F, 0x78, 0x20, 0x50, 0x72]);
        assert_eq!(frames[5], [0x02, 0x65, 0x6D, 0x69, 0x75, 0x6D, 0x20, 0x48]);
        assert_eq!(frames[6], [0x03, 0x56, 0x53, 0x00, 0x00, 0x00, 0x00, 0x00]);
        for r in Repr::identification(25_500) {
            assert_eq!(Repr::parse(&r.emit()).unwrap(), r);
        }
    }

    #[test]
    fn inverter_frames() {
        assert_eq!(
            Repr::parse(&f(0x151, &[0x01, 0, 0, 0, 0, 0, 0, 0])).unwrap(),
            Repr::IdentifyRequest
        );
        assert_eq!(
            Repr::parse(&f(0x151, b"\x00Sungrow")).unwrap(),
            Repr::InverterName(*b"Sungrow")
        );
        assert_eq!(
            Repr::parse(&f(0x091, &[0x10, 0x0E])).unwrap(),
            Repr::InverterVoltage(Volts(360.0))
        );
        assert_eq!(
            Repr::parse(&f(0x111, &[1, 0, 0, 0])).unwrap(),
            Repr::InverterTime(1)
        );
    }

    #[test]
    fn garbage_is_reported() {
        assert!(matches!(
            Repr::parse(&f(0x110, &[0; 7])),
            Err(Error::Truncated { need: 8, .. })
        ));
        assert!(matches!(
            Repr::parse(&f(0x151, &[])),
            Err(Error::Truncated { .. })
        ));
        // SoC 655.35 %.
        assert!(matches!(
            Repr::parse(&f(0x150, &[0xFF, 0xFF, 0, 0, 0, 0, 0, 0])),
            Err(Error::OutOfRange { field: "SoC", .. })
        ));
        assert!(matches!(
            Repr::parse(&f(0x3D0, &[9, 0, 0, 0, 0, 0, 0, 0])),
            Err(Error::OutOfRange { .. })
        ));
        assert!(matches!(
            Repr::parse(&f(0x7FF, &[])),
            Err(Error::UnknownId(_))
        ));
    }
}
