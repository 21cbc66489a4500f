//! The simulated car's traction battery: capacity, state of charge, a linear open-circuit
//! voltage between its minimum and maximum voltage, an internal resistance, and a charge
//! current that tapers towards full.

use std::time::Duration;

use serde::Serialize;
use units::{Amps, Percent, Volts, WattHours, Watts};

/// The battery's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BatteryConfig {
    /// Usable capacity.
    pub capacity: WattHours,
    /// State of charge at the start.
    pub soc: Percent,
    /// Open-circuit voltage at 0 % SoC.
    pub min_voltage: Volts,
    /// Open-circuit voltage at 100 % SoC, and the highest voltage the car accepts.
    pub max_voltage: Volts,
    /// Highest charge current.
    pub max_current: Amps,
    /// Highest charge power.
    pub max_power: Watts,
    /// Highest discharge current (bidirectional cars).
    pub max_discharge_current: Amps,
    /// Highest discharge power.
    pub max_discharge_power: Watts,
    /// Internal resistance in ohms.
    pub resistance: f64,
}

impl Default for BatteryConfig {
    /// A mid-size car: 60 kWh, 400 V class, at 30 %.
    fn default() -> Self {
        Self {
            capacity: WattHours::from_kwh(60.0),
            soc: Percent(30.0),
            min_voltage: Volts(330.0),
            max_voltage: Volts(420.0),
            max_current: Amps(125.0),
            max_power: Watts::from_kw(50.0),
            max_discharge_current: Amps(30.0),
            max_discharge_power: Watts::from_kw(11.0),
            resistance: 0.1,
        }
    }
}

/// SoC above which the charge current tapers linearly to zero at 100 % (a CC/CV profile).
const TAPER_FROM: f64 = 80.0;

/// The battery's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Battery {
    config: BatteryConfig,
    energy_wh: f64,
}

impl Battery {
    /// A battery at its configured starting SoC.
    pub fn new(config: BatteryConfig) -> Self {
        let soc = config.soc.0.clamp(0.0, 100.0);
        Self {
            energy_wh: config.capacity.0 * soc / 100.0,
            config,
        }
    }

    /// The parameters.
    pub fn config(&self) -> &BatteryConfig {
        &self.config
    }

    /// The state of charge.
    pub fn soc(&self) -> Percent {
        if self.config.capacity.0 > 0.0 {
            Percent((self.energy_wh / self.config.capacity.0 * 100.0).clamp(0.0, 100.0))
        } else {
            Percent(0.0)
        }
    }

    /// The SoC as the protocols send it: whole percent.
    pub fn soc_byte(&self) -> i8 {
        self.soc().0.round().clamp(0.0, 100.0) as i8
    }

    /// Sets the state of charge (clamped to 0–100 %; a non-number leaves it as it is).
    pub fn set_soc(&mut self, soc: Percent) {
        if soc.0.is_finite() {
            self.energy_wh = self.config.capacity.0 * soc.0.clamp(0.0, 100.0) / 100.0;
        }
    }

    /// The open-circuit voltage now.
    pub fn voltage(&self) -> Volts {
        let c = &self.config;
        Volts(c.min_voltage.0 + (c.max_voltage.0 - c.min_voltage.0) * self.soc().fraction())
    }

    /// The energy that would bring it to `target`.
    pub fn energy_to(&self, target: Percent) -> WattHours {
        WattHours((self.config.capacity.0 * target.0 / 100.0 - self.energy_wh).max(0.0))
    }

    /// The charge current the battery management asks for now to reach `target`: the maximum,
    /// tapering above 80 %, limited by the maximum power.
    pub fn charge_current(&self, target: Percent) -> Amps {
        let soc = self.soc().0;
        if soc >= target.0.min(100.0) {
            return Amps::ZERO;
        }
        let taper = if soc > TAPER_FROM {
            ((100.0 - soc) / (100.0 - TAPER_FROM)).clamp(0.05, 1.0)
        } else {
            1.0
        };
        let by_power = self.config.max_power.at(self.voltage());
        Amps((self.config.max_current.0 * taper).min(by_power.0))
    }

    /// The discharge current it offers now (positive), down to a floor SoC.
    pub fn discharge_current(&self, floor: Percent) -> Amps {
        if self.soc().0 <= floor.0 {
            return Amps::ZERO;
        }
        let by_power = self.config.max_discharge_power.at(self.voltage());
        self.config.max_discharge_current.min(by_power)
    }

    /// `current` (positive into the battery) at `voltage` for `dt`.
    pub fn transfer(&mut self, voltage: Volts, current: Amps, dt: Duration) -> WattHours {
        let energy = (voltage * current).over(dt);
        if energy.0.is_finite() {
            self.energy_wh = (self.energy_wh + energy.0).clamp(0.0, self.config.capacity.0);
            energy
        } else {
            WattHours::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soc_voltage_and_taper() {
        let mut b = Battery::new(BatteryConfig::default());
        assert_eq!(b.soc(), Percent(30.0));
        assert_eq!(b.soc_byte(), 30);
        assert!((b.voltage().0 - 357.0).abs() < 1e-9);
        assert_eq!(b.charge_current(Percent(80.0)), Amps(125.0));
        // 15 kWh at 400 V and 100 A is 150 min... one hour of 50 kW is 50 kWh.
        let e = b.transfer(Volts(400.0), Amps(125.0), Duration::from_secs(3600));
        assert_eq!(e, WattHours(50_000.0));
        assert_eq!(b.soc(), Percent(100.0));
        assert_eq!(b.charge_current(Percent(100.0)), Amps::ZERO);
        let mut b = Battery::new(BatteryConfig {
            soc: Percent(90.0),
            ..BatteryConfig::default()
        });
        let half = b.charge_current(Percent(100.0));
        assert!((half.0 - 62.5).abs() < 1e-9, "{half:?}");
        assert_eq!(b.charge_current(Percent(85.0)), Amps::ZERO);
        assert_eq!(b.discharge_current(Percent(20.0)), Amps(11_000.0 / 411.0));
        b.transfer(Volts(400.0), Amps(-100.0), Duration::from_secs(3600 * 2));
        assert_eq!(b.soc(), Percent(0.0));
        assert_eq!(b.discharge_current(Percent(20.0)), Amps::ZERO);
    }

    #[test]
    fn the_power_limit_caps_the_current() {
        let b = Battery::new(BatteryConfig {
            max_power: Watts(3570.0),
            ..BatteryConfig::default()
        });
        assert_eq!(b.charge_current(Percent(80.0)), Amps(10.0));
    }
}
