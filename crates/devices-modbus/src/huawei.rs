//! Huawei SUN2000 over Modbus TCP (SDongle port 502, or the inverter's own access point on
//! 6607), sans-IO. Holding registers as `wlcrs/huawei-solar-lib` documents them
//! (ems-research.md §3a): 40125/40126 active power derating (% gain 10 / W), 47415 active power
//! control mode with 47416 the maximum feed-grid power (mode 6, W), 37113 the meter's active power
//! (I32 W, **positive = export**), and for the LUNA battery 47100 forcible charge/discharge
//! (0 stop, 1 charge, 2 discharge) with 47247/47249 its charge/discharge power (W).
//!
//! Quirk: the SDongle drops requests sent right after connecting; the driver keeps quiet for
//! `connect_delay` (1 s) first. ems-research.md documents no register for the inverter's own AC
//! output, so its [`PvInverter`](devices::PvInverter) status is absent and the controller's
//! curtailment starts from the grid reading alone.

use std::time::Duration;

use crate::device::{Block, DeviceValues, Protocol, Setpoints, Write};
use crate::model::{Field, MeterValues, Table};

/// 40125: active power percentage derating (I16, %, gain 10); 40126: fixed-value derating (U32, W).
pub const DERATING: u16 = 40125;
/// 47415: active power control mode (U16); 47416: maximum feed-grid power (I32, W).
pub const CONTROL_MODE: u16 = 47415;
/// Mode 6 of 47415: feed-in limited to 47416 W.
pub const MODE_LIMITED_FEED_IN_W: u16 = 6;
/// 37113: the meter's active power (I32, W, + = export).
pub const METER_POWER: u16 = 37113;
/// 47100: forcible charge/discharge (U16: 0 stop, 1 charge, 2 discharge).
pub const FORCIBLE: u16 = 47100;
/// 47247: forcible charge power (U32, W); 47249: forcible discharge power (U32, W).
pub const FORCIBLE_POWER: u16 = 47247;

/// What a SUN2000 is used as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HuaweiRole {
    /// PV inverter: output limit by 40126, optional feed-in limit by 47415/47416.
    Pv {
        /// Nameplate AC power: "no limit" is written as this.
        rated_w: f64,
        /// The feed-in limit the inverter enforces with its meter.
        feed_in_limit_w: Option<f64>,
    },
    /// The grid meter, read back through the inverter (37113).
    Meter,
    /// The LUNA battery: forcible charge/discharge.
    Battery,
}

/// A SUN2000 as a [`Protocol`].
#[derive(Debug)]
pub struct Huawei {
    role: HuaweiRole,
    quiet: Duration,
}

impl Huawei {
    /// A SUN2000 used as `role`, left alone for `quiet` after each connect.
    pub fn new(role: HuaweiRole, quiet: Duration) -> Self {
        Self { role, quiet }
    }
}

fn u32_at(w: &[u16], i: usize) -> Result<u32, String> {
    match w.get(i..i + 2) {
        Some(&[hi, lo]) => Ok((u32::from(hi) << 16) | u32::from(lo)),
        _ => Err(format!("short block: no register {i}")),
    }
}

fn split(v: u32) -> [u16; 2] {
    [(v >> 16) as u16, v as u16]
}

impl Protocol for Huawei {
    fn reads(&self) -> Vec<Block> {
        let b = |addr, count| Block {
            table: Table::Holding,
            addr,
            count,
        };
        match self.role {
            HuaweiRole::Pv { .. } => vec![b(DERATING, 3), b(CONTROL_MODE, 3)],
            HuaweiRole::Meter => vec![b(METER_POWER, 2)],
            HuaweiRole::Battery => vec![b(FORCIBLE, 1), b(FORCIBLE_POWER, 4)],
        }
    }

    fn decode(&mut self, blocks: &[Vec<u16>]) -> Result<DeviceValues, String> {
        let block = |i: usize| blocks.get(i).ok_or_else(|| format!("no block {i}"));
        let mut v = DeviceValues::default();
        match self.role {
            HuaweiRole::Pv { rated_w, .. } => {
                let derating_w = f64::from(u32_at(block(0)?, 1)?);
                v.limit_pct =
                    (rated_w > 0.0 && derating_w < rated_w).then(|| derating_w / rated_w * 100.0);
                v.running = Some(true);
            }
            HuaweiRole::Meter => {
                let export = u32_at(block(0)?, 0)?.cast_signed();
                let mut m = MeterValues::default();
                m.set(Field::Power, -f64::from(export));
                v.meter = Some(m);
            }
            HuaweiRole::Battery => {
                let cmd = block(0)?.first().copied().ok_or("short block at 47100")?;
                let p = block(1)?;
                v.battery_power_w = Some(match cmd {
                    0 => 0.0,
                    1 => f64::from(u32_at(p, 0)?),
                    2 => -f64::from(u32_at(p, 2)?),
                    other => return Err(format!("47100 holds {other}, not 0, 1 or 2")),
                });
                v.running = Some(cmd != 0);
            }
        }
        Ok(v)
    }

    fn writes(&self, set: &Setpoints) -> Result<Vec<Write>, String> {
        Ok(match self.role {
            HuaweiRole::Pv {
                rated_w,
                feed_in_limit_w,
            } => {
                let limit = set.limit_w.unwrap_or(rated_w).clamp(0.0, rated_w);
                let mut w = vec![Write {
                    addr: DERATING + 1,
                    words: split(limit.round() as u32).to_vec(),
                }];
                if let Some(f) = feed_in_limit_w {
                    let [hi, lo] = split((f.round() as i32).cast_unsigned());
                    w.push(Write {
                        addr: CONTROL_MODE,
                        words: vec![MODE_LIMITED_FEED_IN_W, hi, lo],
                    });
                }
                w
            }
            HuaweiRole::Meter => vec![],
            HuaweiRole::Battery => {
                let p = if set.battery.enabled {
                    set.battery.power_w.0
                } else {
                    0.0
                };
                let watts = |x: f64| split(x.abs().round().min(f64::from(u32::MAX)) as u32);
                if p > 0.0 {
                    vec![
                        Write {
                            addr: FORCIBLE_POWER,
                            words: watts(p).to_vec(),
                        },
                        Write {
                            addr: FORCIBLE,
                            words: vec![1],
                        },
                    ]
                } else if p < 0.0 {
                    vec![
                        Write {
                            addr: FORCIBLE_POWER + 2,
                            words: watts(p).to_vec(),
                        },
                        Write {
                            addr: FORCIBLE,
                            words: vec![2],
                        },
                    ]
                } else {
                    vec![Write {
                        addr: FORCIBLE,
                        words: vec![0],
                    }]
                }
            }
        })
    }

    fn quiet_after_connect(&self) -> Duration {
        self.quiet
    }

    fn refresh(&self) -> Duration {
        // Settings registers: written on change, re-asserted rarely (the inverter may keep
        // them in flash; it does not revert them by itself either).
        Duration::from_secs(300)
    }
}
