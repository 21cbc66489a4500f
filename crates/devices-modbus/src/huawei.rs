//! Huawei SUN2000 over Modbus TCP (SDongle port 502, or the inverter's own access point on
//! 6607), sans-IO. Holding registers as `wlcrs/huawei-solar-lib` documents them
//! (ems-research.md §3a). Commanded: 40125/40126 active power derating (% gain 10 / W), 47415
//! active power control mode with 47416 the maximum feed-grid power (mode 6, W), and for the LUNA
//! battery 47100 forcible charge/discharge (0 stop, 1 charge, 2 discharge) with 47247/47249 its
//! charge/discharge power (W). Read, as data (`models/huawei.toml`, one table per role): 32080
//! the inverter's AC active power (I32 W), 37113 the meter's active power (I32 W, **positive =
//! export**, negated), 37760 the LUNA's state of charge (U16, gain 10, %, 0..=100) and 37765 its
//! charge/discharge power (I32 W, positive = charging, as gridlet's converter sign).
//!
//! Quirk: the SDongle drops requests sent right after connecting; the driver keeps quiet for
//! `connect_delay` (1 s) first.

use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

use crate::device::{Block, DeviceField, DeviceValues, Protocol, Setpoints, Write};
use crate::model::{Model, Read, Table};

/// 40125: active power percentage derating (I16, %, gain 10); 40126: fixed-value derating (U32, W).
pub const DERATING: u16 = 40125;
/// 47415: active power control mode (U16); 47416: maximum feed-grid power (I32, W).
pub const CONTROL_MODE: u16 = 47415;
/// Mode 6 of 47415: feed-in limited to 47416 W.
pub const MODE_LIMITED_FEED_IN_W: u16 = 6;
/// 32080: the inverter's AC active power (I32, W, + = output); a row of `models/huawei.toml`.
pub const ACTIVE_POWER: u16 = 32080;
/// 37113: the meter's active power (I32, W, + = export); a row of `models/huawei.toml`.
pub const METER_POWER: u16 = 37113;
/// 37760: the LUNA's state of charge (U16, %, gain 10); a row of `models/huawei.toml`.
pub const BATTERY_SOC: u16 = 37760;
/// 37765: the LUNA's charge/discharge power (I32, W, + = charging); a row of `models/huawei.toml`.
pub const BATTERY_POWER: u16 = 37765;
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

/// The read tables of `models/huawei.toml`, one per role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tables {
    /// `[pv.NAME] type = "huawei-sun2000"`.
    pub pv: Model<DeviceField>,
    /// `[grid_meter] type = "huawei-sun2000"`.
    pub meter: Model<DeviceField>,
    /// `[converter] type = "huawei-luna"`.
    pub battery: Model<DeviceField>,
}

/// The built-in tables (`models/huawei.toml`).
pub fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        // The file is part of the crate and tested: an error is a bug of ours.
        #[allow(clippy::expect_used)]
        let t: Tables = toml::from_str(include_str!("../models/huawei.toml"))
            .expect("models/huawei.toml is valid");
        for m in [&t.pv, &t.meter, &t.battery] {
            #[allow(clippy::expect_used)]
            m.check().expect("models/huawei.toml is valid");
        }
        t
    })
}

/// A SUN2000 as a [`Protocol`].
#[derive(Debug)]
pub struct Huawei {
    role: HuaweiRole,
    quiet: Duration,
    table: &'static Model<DeviceField>,
    /// The table's reads, after the role's fixed blocks.
    table_reads: Vec<Read>,
}

impl Huawei {
    /// A SUN2000 used as `role`, left alone for `quiet` after each connect.
    pub fn new(role: HuaweiRole, quiet: Duration) -> Self {
        let t = tables();
        let table = match role {
            HuaweiRole::Pv { .. } => &t.pv,
            HuaweiRole::Meter => &t.meter,
            HuaweiRole::Battery => &t.battery,
        };
        Self {
            role,
            quiet,
            table,
            table_reads: table.reads(),
        }
    }

    /// The role's set-points read back, before the table's reads.
    fn fixed_reads(&self) -> Vec<Block> {
        let b = |addr, count| Block {
            table: Table::Holding,
            addr,
            count,
        };
        match self.role {
            HuaweiRole::Pv { .. } => vec![b(DERATING, 3), b(CONTROL_MODE, 3)],
            HuaweiRole::Meter => vec![],
            HuaweiRole::Battery => vec![b(FORCIBLE, 1)],
        }
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
        let mut reads = self.fixed_reads();
        reads.extend(self.table_reads.iter().map(|r| Block {
            table: self.table.table,
            addr: r.addr,
            count: r.count,
        }));
        reads
    }

    fn decode(&mut self, blocks: &[Vec<u16>]) -> Result<DeviceValues, String> {
        let block = |i: usize| blocks.get(i).ok_or_else(|| format!("no block {i}"));
        let fixed = self.fixed_reads().len();
        if blocks.len() < fixed + self.table_reads.len() {
            return Err(format!("no block {}", blocks.len()));
        }
        let rows = &blocks[fixed..];
        let mut v = self
            .table
            .decode(&self.table_reads, rows)
            .map_err(|e| e.to_string())?;
        match self.role {
            HuaweiRole::Pv { rated_w, .. } => {
                let derating_w = f64::from(u32_at(block(0)?, 1)?);
                v.limit_pct =
                    (rated_w > 0.0 && derating_w < rated_w).then(|| derating_w / rated_w * 100.0);
                v.running = Some(true);
            }
            HuaweiRole::Meter => {}
            HuaweiRole::Battery => {
                let cmd = block(0)?.first().copied().ok_or("short block at 47100")?;
                if cmd > 2 {
                    return Err(format!("47100 holds {cmd}, not 0, 1 or 2"));
                }
                // Following a forcible charge/discharge of ours (stop: the shutdown waits for it).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ValueType;

    fn words(ty: ValueType, v: f64) -> Vec<u16> {
        ty.encode(v)[..usize::from(ty.words())].to_vec()
    }

    /// The answers to `h.reads()`: zeros, with `set` (register, words) filled in.
    fn answers(h: &Huawei, set: &[(u16, Vec<u16>)]) -> Vec<Vec<u16>> {
        h.reads()
            .iter()
            .map(|b| {
                let mut w = vec![0; usize::from(b.count)];
                for (addr, x) in set {
                    if *addr >= b.addr && addr + x.len() as u16 <= b.addr + b.count {
                        let at = usize::from(addr - b.addr);
                        w[at..at + x.len()].copy_from_slice(x);
                    }
                }
                w
            })
            .collect()
    }

    #[test]
    fn the_tables_load_and_read_in_one_request_per_role() {
        let t = tables();
        assert_eq!(
            t.pv.reads(),
            [Read {
                addr: 32080,
                count: 2
            }]
        );
        assert_eq!(
            t.meter.reads(),
            [Read {
                addr: 37113,
                count: 2
            }]
        );
        assert_eq!(
            t.battery.reads(),
            [Read {
                addr: 37760,
                count: 7
            }]
        );
    }

    #[test]
    fn pv_reads_its_ac_power() {
        let mut h = Huawei::new(
            HuaweiRole::Pv {
                rated_w: 10_000.0,
                feed_in_limit_w: None,
            },
            Duration::ZERO,
        );
        let derating = (DERATING + 1, vec![0, 7000]);
        let v = h
            .decode(&answers(
                &h,
                &[
                    derating.clone(),
                    (ACTIVE_POWER, words(ValueType::I32, 4321.0)),
                ],
            ))
            .unwrap();
        assert_eq!(v.ac_power_w, Some(4321.0));
        assert_eq!(v.limit_pct, Some(70.0));
        // Drawing from the grid (a hybrid charging its battery): negative, passed on as read.
        let v = h
            .decode(&answers(
                &h,
                &[derating, (ACTIVE_POWER, words(ValueType::I32, -35.0))],
            ))
            .unwrap();
        assert_eq!(v.ac_power_w, Some(-35.0));
    }

    #[test]
    fn the_meter_is_turned_to_import_positive() {
        let mut h = Huawei::new(HuaweiRole::Meter, Duration::ZERO);
        let v = h
            .decode(&answers(
                &h,
                &[(METER_POWER, words(ValueType::I32, 1500.0))],
            ))
            .unwrap();
        let r = v.meter.unwrap().grid_reading().unwrap();
        assert_eq!(r.power_w.0, -1500.0, "37113 + = export");
    }

    #[test]
    fn the_luna_reads_soc_and_signed_power() {
        let mut h = Huawei::new(HuaweiRole::Battery, Duration::ZERO);
        let read = |h: &mut Huawei, cmd: u16, soc: u16, power: f64| {
            h.decode(&answers(
                h,
                &[
                    (FORCIBLE, vec![cmd]),
                    (BATTERY_SOC, vec![soc]),
                    (BATTERY_POWER, words(ValueType::I32, power)),
                ],
            ))
        };
        // 55.5 %, discharging 1800 W (Huawei: negative = discharging, as ours).
        let v = read(&mut h, 2, 555, -1800.0).unwrap();
        assert_eq!(
            (v.soc_pct, v.battery_power_w, v.running),
            (Some(55.5), Some(-1800.0), Some(true))
        );
        // Charging 2500 W at 100.0 %, not under forcible control.
        let v = read(&mut h, 0, 1000, 2500.0).unwrap();
        assert_eq!(
            (v.soc_pct, v.battery_power_w, v.running),
            (Some(100.0), Some(2500.0), Some(false))
        );
        // Garbage: 100.1 %, 0xFFFF, an unknown command, short or missing blocks.
        let e = read(&mut h, 0, 1001, 0.0).unwrap_err();
        assert_eq!(e, "register 37760 (Soc) reads 100.1 %, outside 0..=100");
        assert!(read(&mut h, 0, 0xFFFF, 0.0).unwrap_err().contains("37760"));
        assert!(
            read(&mut h, 3, 500, 0.0)
                .unwrap_err()
                .contains("47100 holds 3")
        );
        let mut blocks = answers(&h, &[]);
        blocks[1].truncate(6);
        assert_eq!(
            h.decode(&blocks).unwrap_err(),
            "asked for 7 registers at 37760, got 6"
        );
        blocks.pop();
        assert_eq!(h.decode(&blocks).unwrap_err(), "no block 1");
        assert_eq!(h.decode(&[]).unwrap_err(), "no block 0");
    }
}
