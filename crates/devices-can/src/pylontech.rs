//! The Pylontech / SMA Sunny Island / Victron CAN-bus BMS low-voltage protocol (ems-research.md
//! §3c): CAN 2.0A, 500 kbit/s, little-endian fields, sent by the battery every 1 s (Pylontech)
//! or about 100 ms (REC/SMA); the inverter answers with the all-zero keep-alive 0x305.
//!
//! | id | bytes | field |
//! |---|---|---|
//! | 0x351 | 0–1 | charge voltage limit CVL, u16 0.1 V |
//! | | 2–3 | charge current limit CCL, s16 0.1 A |
//! | | 4–5 | discharge current limit DCL, s16 0.1 A |
//! | | 6–7 | discharge voltage DVL, u16 0.1 V (SMA; Pylontech often sends 6 bytes) |
//! | 0x355 | 0–1, 2–3 | SoC %, SoH % (u16, 1 %); 4–5 SoC 0.01 % (SMA) |
//! | 0x356 | 0–1 | pack voltage, s16 0.01 V |
//! | | 2–3 | current, s16 0.1 A, + = charge |
//! | | 4–5 | temperature, s16 0.1 °C |
//! | 0x359 | 0 | protection: b1 over-V, b2 under-V, b3 over-T, b4 under-T, b7 discharge over-I (Pylontech) |
//! | | 1 | b0 charge over-I, b3 system error |
//! | | 2, 3 | warnings, same bits |
//! | | 4 | pack count; 5–6 "PN" |
//! | 0x35A | 0–3 / 4–7 | alarms / warnings as 2-bit fields, `10` = active (SMA/Victron) |
//! | 0x35C | 0 | b7 charge enable, b6 discharge enable, b5 force charge I, b4 force charge II, b3 full charge |
//! | 0x35E | 0–7 | manufacturer, ASCII |
//!
//! Battery-Emulator's SMA-LV encoder packs 0x351/0x355/0x356 big-endian, against the REC and
//! Victron documents; this codec follows the documents (little-endian).

use devices::{BmsAlarm, BmsAlarms};
use units::{Amps, Percent, Volts};

use crate::frame::{CanFrame, Error, expect, in_range, std_frame};

/// 0x351: charge and discharge limits.
pub const ID_LIMITS: u16 = 0x351;
/// 0x355: state of charge and health.
pub const ID_SOC: u16 = 0x355;
/// 0x356: pack voltage, current, temperature.
pub const ID_MEASUREMENTS: u16 = 0x356;
/// 0x359: Pylontech protection and warning flags.
pub const ID_PROTECTION: u16 = 0x359;
/// 0x35A: SMA/Victron alarms and warnings.
pub const ID_ALARMS: u16 = 0x35A;
/// 0x35C: charge and discharge requests.
pub const ID_REQUEST: u16 = 0x35C;
/// 0x35E: manufacturer name.
pub const ID_MANUFACTURER: u16 = 0x35E;
/// 0x305: the inverter's keep-alive.
pub const ID_KEEPALIVE: u16 = 0x305;

/// 0x351.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Charge voltage limit.
    pub charge_voltage: Volts,
    /// Charge current limit, ≥ 0.
    pub charge_current: Amps,
    /// Discharge current limit, ≥ 0.
    pub discharge_current: Amps,
    /// Discharge voltage limit, when sent (8-byte form).
    pub discharge_voltage: Option<Volts>,
}

/// 0x355.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Soc {
    /// State of charge.
    pub soc: Percent,
    /// State of health.
    pub soh: Percent,
    /// High-resolution state of charge, when sent (SMA).
    pub soc_fine: Option<Percent>,
}

/// 0x356.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurements {
    /// Pack voltage.
    pub voltage: Volts,
    /// Pack current, positive = charging.
    pub current: Amps,
    /// Temperature in °C.
    pub temperature_c: f64,
}

/// 0x359: the four flag bytes and the pack count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Protection {
    /// Bytes 0–1: protection (alarm) flags.
    pub protection: [u8; 2],
    /// Bytes 2–3: warning flags.
    pub warning: [u8; 2],
    /// Number of packs.
    pub packs: u8,
}

impl Protection {
    /// The active protection flags as alarms.
    pub fn alarms(&self) -> BmsAlarms {
        let [p0, p1] = self.protection;
        let bits = [
            (p0 & 0x02, BmsAlarm::OverVoltage),
            (p0 & 0x04, BmsAlarm::UnderVoltage),
            (p0 & 0x08, BmsAlarm::OverTemperature),
            (p0 & 0x10, BmsAlarm::UnderTemperature),
            (p0 & 0x80, BmsAlarm::OverCurrent),
            (p1 & 0x01, BmsAlarm::OverCurrent),
            (p1 & 0x08, BmsAlarm::Internal),
        ];
        bits.into_iter()
            .filter(|(b, _)| *b != 0)
            .map(|(_, a)| a)
            .collect()
    }

    /// Protection flags for `alarms` (no warnings, one pack).
    pub fn from_alarms(alarms: BmsAlarms) -> Self {
        let mut p = [0u8; 2];
        for a in alarms.iter() {
            match a {
                BmsAlarm::OverVoltage => p[0] |= 0x02,
                BmsAlarm::UnderVoltage => p[0] |= 0x04,
                BmsAlarm::OverTemperature => p[0] |= 0x08,
                BmsAlarm::UnderTemperature => p[0] |= 0x10,
                BmsAlarm::OverCurrent => p[0] |= 0x80,
                // No own bit: the system error.
                BmsAlarm::CellImbalance | BmsAlarm::Internal | BmsAlarm::Isolation => {
                    p[1] |= 0x08;
                }
            }
        }
        Self {
            protection: p,
            warning: [0; 2],
            packs: 1,
        }
    }
}

/// 0x35A: alarm and warning bytes (2-bit fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Alarms {
    /// Bytes 0–3.
    pub alarm: [u8; 4],
    /// Bytes 4–7.
    pub warning: [u8; 4],
}

impl Alarms {
    /// The fields set to `10` (active) as alarms. Field order (byte, bit): general (0,0),
    /// high voltage (0,2), low voltage (0,4), high temperature (0,6), low temperature (1,0),
    /// high charge temperature (1,2), low charge temperature (1,4), high discharge current
    /// (1,6), high charge current (2,0), contactor (2,2), short circuit (2,4), BMS internal
    /// (2,6), cell imbalance (3,0).
    pub fn alarms(&self) -> BmsAlarms {
        use BmsAlarm::*;
        let map = [
            (0, 2, OverVoltage),
            (0, 4, UnderVoltage),
            (0, 6, OverTemperature),
            (1, 0, UnderTemperature),
            (1, 2, OverTemperature),
            (1, 4, UnderTemperature),
            (1, 6, OverCurrent),
            (2, 0, OverCurrent),
            (2, 2, Internal),
            (2, 4, OverCurrent),
            (2, 6, Internal),
            (3, 0, CellImbalance),
        ];
        let mut out: BmsAlarms = map
            .into_iter()
            .filter(|(byte, bit, _)| (self.alarm[*byte] >> bit) & 3 == 0b10)
            .map(|(_, _, a)| a)
            .collect();
        // A general alarm without a specific one is still an alarm.
        if self.alarm[0] & 3 == 0b10 && !out.any() {
            out.insert(Internal);
        }
        out
    }
}

/// 0x35C: what the battery asks of the inverter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Request(pub u8);

impl Request {
    /// Charging allowed.
    pub const CHARGE_ENABLE: u8 = 0x80;
    /// Discharging allowed.
    pub const DISCHARGE_ENABLE: u8 = 0x40;
    /// Force charge I.
    pub const FORCE_CHARGE_1: u8 = 0x20;
    /// Force charge II.
    pub const FORCE_CHARGE_2: u8 = 0x10;
    /// Full charge request.
    pub const FULL_CHARGE: u8 = 0x08;

    /// Charging allowed.
    pub fn charge_enabled(self) -> bool {
        self.0 & Self::CHARGE_ENABLE != 0
    }
    /// Discharging allowed.
    pub fn discharge_enabled(self) -> bool {
        self.0 & Self::DISCHARGE_ENABLE != 0
    }
}

/// Any frame of the protocol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Repr {
    /// 0x351.
    Limits(Limits),
    /// 0x355.
    Soc(Soc),
    /// 0x356.
    Measurements(Measurements),
    /// 0x359.
    Protection(Protection),
    /// 0x35A.
    Alarms(Alarms),
    /// 0x35C.
    Request(Request),
    /// 0x35E: up to 8 ASCII bytes (the frame's DLC of them).
    Manufacturer([u8; 8], u8),
    /// 0x305: the inverter's keep-alive (its content is not used).
    KeepAlive,
}

fn u16le(d: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([d[i], d[i + 1]])
}
fn i16le(d: &[u8], i: usize) -> i16 {
    i16::from_le_bytes([d[i], d[i + 1]])
}

impl Repr {
    /// Decodes one frame; unknown identifiers, short frames and impossible values are errors.
    pub fn parse(frame: &CanFrame) -> Result<Self, Error> {
        let crate::CanId::Standard(id) = frame.id() else {
            return Err(Error::UnknownId(frame.id()));
        };
        Ok(match id {
            ID_LIMITS => {
                let d = expect(frame, id, 6)?;
                let ccl = f64::from(i16le(d, 2)) / 10.0;
                let dcl = f64::from(i16le(d, 4)) / 10.0;
                in_range(id, "charge current limit", ccl, 0.0..=f64::MAX, "≥ 0")?;
                in_range(id, "discharge current limit", dcl, 0.0..=f64::MAX, "≥ 0")?;
                Self::Limits(Limits {
                    charge_voltage: Volts(f64::from(u16le(d, 0)) / 10.0),
                    charge_current: Amps(ccl),
                    discharge_current: Amps(dcl),
                    discharge_voltage: (d.len() >= 8).then(|| Volts(f64::from(u16le(d, 6)) / 10.0)),
                })
            }
            ID_SOC => {
                let d = expect(frame, id, 4)?;
                let soc = in_range(id, "SoC", f64::from(u16le(d, 0)), 0.0..=100.0, "0–100 %")?;
                let soh = in_range(id, "SoH", f64::from(u16le(d, 2)), 0.0..=100.0, "0–100 %")?;
                let fine = if d.len() >= 6 {
                    let f = f64::from(u16le(d, 4)) / 100.0;
                    Some(Percent(in_range(id, "SoC", f, 0.0..=100.0, "0–100 %")?))
                } else {
                    None
                };
                Self::Soc(Soc {
                    soc: Percent(soc),
                    soh: Percent(soh),
                    soc_fine: fine,
                })
            }
            ID_MEASUREMENTS => {
                let d = expect(frame, id, 6)?;
                let v = f64::from(i16le(d, 0)) / 100.0;
                in_range(id, "pack voltage", v, 0.0..=f64::MAX, "≥ 0")?;
                Self::Measurements(Measurements {
                    voltage: Volts(v),
                    current: Amps(f64::from(i16le(d, 2)) / 10.0),
                    temperature_c: f64::from(i16le(d, 4)) / 10.0,
                })
            }
            ID_PROTECTION => {
                let d = expect(frame, id, 4)?;
                Self::Protection(Protection {
                    protection: [d[0], d[1]],
                    warning: [d[2], d[3]],
                    packs: d.get(4).copied().unwrap_or(1),
                })
            }
            ID_ALARMS => {
                let d = expect(frame, id, 8)?;
                Self::Alarms(Alarms {
                    alarm: [d[0], d[1], d[2], d[3]],
                    warning: [d[4], d[5], d[6], d[7]],
                })
            }
            ID_REQUEST => Self::Request(Request(expect(frame, id, 1)?[0])),
            ID_MANUFACTURER => {
                let mut name = [0u8; 8];
                let d = frame.data();
                name[..d.len()].copy_from_slice(d);
                Self::Manufacturer(name, d.len() as u8)
            }
            ID_KEEPALIVE => Self::KeepAlive,
            _ => return Err(Error::UnknownId(frame.id())),
        })
    }

    /// Encodes the frame as a battery (or, for [`Repr::KeepAlive`], an inverter) sends it.
    /// Values are rounded to the field's resolution and clamped to its range.
    pub fn emit(&self) -> CanFrame {
        let u = |v: f64, f: f64| (v * f).round().clamp(0.0, 65535.0) as u16;
        let s = |v: f64, f: f64| (v * f).round().clamp(-32768.0, 32767.0) as i16;
        match self {
            Self::Limits(l) => {
                let mut d = [0u8; 8];
                d[0..2].copy_from_slice(&u(l.charge_voltage.0, 10.0).to_le_bytes());
                d[2..4].copy_from_slice(&s(l.charge_current.0.max(0.0), 10.0).to_le_bytes());
                d[4..6].copy_from_slice(&s(l.discharge_current.0.max(0.0), 10.0).to_le_bytes());
                match l.discharge_voltage {
                    Some(v) => {
                        d[6..8].copy_from_slice(&u(v.0, 10.0).to_le_bytes());
                        std_frame(ID_LIMITS, &d)
                    }
                    None => std_frame(ID_LIMITS, &d[..6]),
                }
            }
            Self::Soc(x) => {
                let mut d = [0u8; 6];
                d[0..2].copy_from_slice(&u(x.soc.0.min(100.0), 1.0).to_le_bytes());
                d[2..4].copy_from_slice(&u(x.soh.0.min(100.0), 1.0).to_le_bytes());
                match x.soc_fine {
                    Some(f) => {
                        d[4..6].copy_from_slice(&u(f.0.min(100.0), 100.0).to_le_bytes());
                        std_frame(ID_SOC, &d)
                    }
                    None => std_frame(ID_SOC, &d[..4]),
                }
            }
            Self::Measurements(m) => {
                let mut d = [0u8; 6];
                d[0..2].copy_from_slice(&s(m.voltage.0.max(0.0), 100.0).to_le_bytes());
                d[2..4].copy_from_slice(&s(m.current.0, 10.0).to_le_bytes());
                d[4..6].copy_from_slice(&s(m.temperature_c, 10.0).to_le_bytes());
                std_frame(ID_MEASUREMENTS, &d)
            }
            Self::Protection(p) => std_frame(
                ID_PROTECTION,
                &[
                    p.protection[0],
                    p.protection[1],
                    p.warning[0],
                    p.warning[1],
                    p.packs,
                    b'P',
                    b'N',
                ],
            ),
            Self::Alarms(a) => {
                let mut d = [0u8; 8];
                d[..4].copy_from_slice(&a.alarm);
                d[4..].copy_from_slice(&a.warning);
                std_frame(ID_ALARMS, &d)
            }
            Self::Request(r) => std_frame(ID_REQUEST, &[r.0, 0]),
            Self::Manufacturer(name, len) => {
                std_frame(ID_MANUFACTURER, &name[..usize::from(*len).min(8)])
            }
            Self::KeepAlive => std_frame(ID_KEEPALIVE, &[0; 8]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: u16, d: &[u8]) -> CanFrame {
        CanFrame::standard(id, d).unwrap()
    }

    #[test]
    fn frames_from_the_documented_layout() {
        // CVL 56.8 V (568 = 0x0238), CCL 25.0 A (250), DCL 50.0 A (500), DVL 46.0 V (460).
        let r = Repr::parse(&f(0x351, &[0x38, 0x02, 0xFA, 0x00, 0xF4, 0x01, 0xCC, 0x01])).unwrap();
        assert_eq!(
            r,
            Repr::Limits(Limits {
                charge_voltage: Volts(56.8),
                charge_current: Amps(25.0),
                discharge_current: Amps(50.0),
                discharge_voltage: Some(Volts(46.0)),
            })
        );
        // The Pylontech 6-byte form.
        let r6 = Repr::parse(&f(0x351, &[0x38, 0x02, 0xFA, 0x00, 0xF4, 0x01])).unwrap();
        assert!(matches!(
            r6,
            Repr::Limits(Limits {
                discharge_voltage: None,
                ..
            })
        ));
        assert_eq!(r6.emit().data().len(), 6);
        // SoC 87 %, SoH 99 %.
        assert_eq!(
            Repr::parse(&f(0x355, &[87, 0, 99, 0])).unwrap(),
            Repr::Soc(Soc {
                soc: Percent(87.0),
                soh: Percent(99.0),
                soc_fine: None
            })
        );
        // 52.10 V (5210 = 0x145A), −12.5 A (−125 = 0xFF83), 23.4 °C (234).
        let m = Repr::parse(&f(0x356, &[0x5A, 0x14, 0x83, 0xFF, 0xEA, 0x00])).unwrap();
        assert_eq!(
            m,
            Repr::Measurements(Measurements {
                voltage: Volts(52.1),
                current: Amps(-12.5),
                temperature_c: 23.4
            })
        );
        // Over-temperature and a system error.
        let Repr::Protection(p) =
            Repr::parse(&f(0x359, &[0x08, 0x08, 0, 0, 1, b'P', b'N'])).unwrap()
        else {
            panic!()
        };
        assert!(p.alarms().contains(BmsAlarm::OverTemperature));
        assert!(p.alarms().contains(BmsAlarm::Internal));
        assert!(!p.alarms().contains(BmsAlarm::OverVoltage));
        // 0x35A: high voltage alarm active (10 at bits 2-3), low voltage OK (01).
        let Repr::Alarms(a) = Repr::parse(&f(0x35A, &[0b0001_1000, 0, 0, 0, 0, 0, 0, 0])).unwrap()
        else {
            panic!()
        };
        assert_eq!(a.alarms(), [BmsAlarm::OverVoltage].into_iter().collect());
        let Repr::Request(q) = Repr::parse(&f(0x35C, &[0xC0, 0])).unwrap() else {
            panic!()
        };
        assert!(q.charge_enabled() && q.discharge_enabled());
        assert_eq!(
            Repr::parse(&f(0x35E, b"PYLON   ")).unwrap(),
            Repr::Manufacturer(*b"PYLON   ", 8)
        );
        for r in [r, m, Repr::Protection(p), Repr::Alarms(a), Repr::Request(q)] {
            assert_eq!(Repr::parse(&r.emit()).unwrap(), r);
        }
    }

    #[test]
    fn alarms_round_trip_through_protection_flags() {
        let alarms: BmsAlarms = [BmsAlarm::UnderVoltage, BmsAlarm::OverCurrent]
            .into_iter()
            .collect();
        assert_eq!(Protection::from_alarms(alarms).alarms(), alarms);
    }

    #[test]
    fn garbage_is_reported() {
        assert!(matches!(
            Repr::parse(&f(0x351, &[0; 5])),
            Err(Error::Truncated { need: 6, .. })
        ));
        assert!(matches!(
            Repr::parse(&f(0x355, &[101, 0, 100, 0])),
            Err(Error::OutOfRange { field: "SoC", .. })
        ));
        // A negative charge current limit.
        assert!(matches!(
            Repr::parse(&f(0x351, &[0, 0, 0xFF, 0xFF, 0, 0])),
            Err(Error::OutOfRange { .. })
        ));
        assert!(matches!(
            Repr::parse(&f(0x123, &[])),
            Err(Error::UnknownId(_))
        ));
        let ext = CanFrame::new(crate::CanId::extended(0x351).unwrap(), &[0; 8]).unwrap();
        assert!(Repr::parse(&ext).is_err());
    }
}
