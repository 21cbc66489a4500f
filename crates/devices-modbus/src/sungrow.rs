//! Sungrow SH hybrid inverters in EMS mode over Modbus TCP (port 502, unit 1), sans-IO: the
//! predecessor's set-point mapping (`jsphuebner/esp-egycounter` battery-control/
//! sungrow-modbus.yaml, ems-research.md §3d). Its table lists registers 1-based; the protocol
//! address is one less. Input: 13000 system state (0x40 Run, 0x800 Forced Run), 5147 bus voltage
//! (0.1 V). Holding: 13050 EMS mode (2 = compulsory), 13051 charge/discharge command (0xAA
//! charge, 0xBB discharge, 0xCC stop), 13052 charge/discharge power (W).
//!
//! The battery registers 13020–13025 are listed there without scales, so they are not used; the
//! converter's power is the set-point the inverter holds (13051/13052 read back).

use crate::device::{Block, DeviceValues, Protocol, Setpoints, Write};
use crate::model::Table;

/// Register 13000 (system state), protocol address.
pub const STATE: u16 = 13000 - 1;
/// Register 5147 (bus voltage, 0.1 V), protocol address.
pub const BUS_VOLTAGE: u16 = 5147 - 1;
/// Registers 13050–13052 (EMS mode, command, power), protocol address of the first.
pub const EMS: u16 = 13050 - 1;
/// 13050: compulsory mode (commands from 13051/13052).
pub const MODE_COMPULSORY: u16 = 2;
/// 13051 values.
pub const CHARGE: u16 = 0xAA;
/// 13051: discharge.
pub const DISCHARGE: u16 = 0xBB;
/// 13051: stop.
pub const STOP: u16 = 0xCC;
/// 13000 bits: Run, Forced Run.
const RUNNING: u16 = 0x40 | 0x800;

/// An SH hybrid's battery port as a [`Protocol`].
#[derive(Debug, Default)]
pub struct Sungrow;

impl Protocol for Sungrow {
    fn reads(&self) -> Vec<Block> {
        vec![
            Block {
                table: Table::Input,
                addr: STATE,
                count: 1,
            },
            Block {
                table: Table::Input,
                addr: BUS_VOLTAGE,
                count: 1,
            },
            Block {
                table: Table::Holding,
                addr: EMS,
                count: 3,
            },
        ]
    }

    fn decode(&mut self, blocks: &[Vec<u16>]) -> Result<DeviceValues, String> {
        let word = |b: usize, i: usize| {
            blocks
                .get(b)
                .and_then(|w| w.get(i))
                .copied()
                .ok_or_else(|| format!("short block {b}"))
        };
        let state = word(0, 0)?;
        let mut v = DeviceValues {
            // Running means following a set-point other than stop (see below); not under our
            // command, the inverter's own state says.
            running: Some(state & RUNNING != 0),
            dc_voltage_v: Some(f64::from(word(1, 0)?) / 10.0),
            ..DeviceValues::default()
        };
        let (mode, cmd, power) = (word(2, 0)?, word(2, 1)?, f64::from(word(2, 2)?));
        v.battery_power_w = Some(match (mode, cmd) {
            (MODE_COMPULSORY, CHARGE) => power,
            (MODE_COMPULSORY, DISCHARGE) => -power,
            (MODE_COMPULSORY, STOP) => 0.0,
            (MODE_COMPULSORY, other) => {
                return Err(format!("13051 holds {other:#x}, not 0xAA, 0xBB or 0xCC"));
            }
            // Not under our command (self-consumption or external EMS): its power is unknown.
            _ => return Ok(v),
        });
        v.running = Some(state & RUNNING != 0 && cmd != STOP);
        Ok(v)
    }

    fn writes(&self, set: &Setpoints) -> Result<Vec<Write>, String> {
        let p = if set.battery.enabled {
            set.battery.power_w.0
        } else {
            0.0
        };
        let watts = p.abs().round().min(65_535.0) as u16;
        let cmd = if p > 0.0 {
            CHARGE
        } else if p < 0.0 {
            DISCHARGE
        } else {
            STOP
        };
        Ok(vec![Write {
            addr: EMS,
            words: vec![MODE_COMPULSORY, cmd, if cmd == STOP { 0 } else { watts }],
        }])
    }
}
