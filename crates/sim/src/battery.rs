//! The home battery and its BMS: open-circuit voltage over SoC, internal resistance, charge and
//! discharge efficiency, current limits that taper near full and empty, and protection that
//! opens the contactor (with an alarm) when it is abused.

use std::time::Duration;

use devices::{BmsAlarm, BmsAlarms, BmsState};
use serde::{Deserialize, Serialize};
use units::{Amps, Percent, Timestamp, Volts, WattHours, Watts};

/// The home battery's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatteryParams {
    /// Usable capacity.
    pub capacity_wh: WattHours,
    /// State of charge at the start of the simulation.
    pub initial_soc_pct: Percent,
    /// Nominal pack voltage.
    pub nominal_v: Volts,
    /// Charge current limit (CCL) away from full.
    pub max_charge_a: Amps,
    /// Discharge current limit (DCL) away from empty.
    pub max_discharge_a: Amps,
    /// One-way DC efficiency (charge and discharge each).
    pub efficiency: f64,
    /// Pack internal resistance, ohm.
    pub resistance_ohm: f64,
}

impl Default for BatteryParams {
    fn default() -> Self {
        Self {
            capacity_wh: WattHours(10_000.0),
            initial_soc_pct: Percent(50.0),
            nominal_v: Volts(400.0),
            max_charge_a: Amps(12.5),
            max_discharge_a: Amps(12.5),
            efficiency: 0.97,
            resistance_ohm: 0.08,
        }
    }
}

/// How long the BMS tolerates a current above its own limit before it trips.
const OVER_CURRENT_TRIP: Duration = Duration::from_secs(5);
/// How long a tripped BMS keeps its contactor open.
const ALARM_HOLD: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub(crate) struct Battery {
    pub(crate) params: BatteryParams,
    /// 0.0–1.0.
    soc: f64,
    current: Amps,
    tripped: Option<(BmsAlarm, Timestamp)>,
    over_current_since: Option<Timestamp>,
    /// Injected alarm (tests, demos), with its end.
    injected: Option<(BmsAlarm, Timestamp)>,
}

impl Battery {
    pub(crate) fn new(params: BatteryParams) -> Self {
        Self {
            soc: params.initial_soc_pct.fraction().clamp(0.0, 1.0),
            params,
            current: Amps::ZERO,
            tripped: None,
            over_current_since: None,
            injected: None,
        }
    }

    pub(crate) fn soc(&self) -> Percent {
        Percent::from_fraction(self.soc)
    }

    pub(crate) fn stored(&self) -> WattHours {
        self.params.capacity_wh * self.soc
    }

    /// Open-circuit voltage: flat in the middle, steep at both ends, like a lithium pack.
    fn ocv(&self) -> Volts {
        let s = self.soc;
        self.params.nominal_v
            * (0.93 + 0.12 * s - 0.08 * (-s / 0.04).exp() + 0.05 * (-(1.0 - s) / 0.03).exp())
    }

    fn voltage(&self) -> Volts {
        self.ocv() + Volts(self.current.0 * self.params.resistance_ohm)
    }

    fn ccl(&self) -> Amps {
        let taper = if self.soc >= 0.995 {
            0.0
        } else if self.soc > 0.9 {
            (0.995 - self.soc) / 0.095
        } else {
            1.0
        };
        self.params.max_charge_a * taper
    }

    fn dcl(&self) -> Amps {
        let taper = if self.soc <= 0.005 {
            0.0
        } else if self.soc < 0.08 {
            (self.soc - 0.005) / 0.075
        } else {
            1.0
        };
        self.params.max_discharge_a * taper
    }

    pub(crate) fn inject_alarm(&mut self, alarm: BmsAlarm, until: Timestamp) {
        self.injected = Some((alarm, until));
    }

    fn alarms(&self, now: Timestamp) -> BmsAlarms {
        let mut a = BmsAlarms::NONE;
        if let Some((alarm, _)) = self.tripped {
            a.insert(alarm);
        }
        if let Some((alarm, until)) = self.injected
            && now < until
        {
            a.insert(alarm);
        }
        a
    }

    /// The contactor is open while the BMS is tripped.
    fn contactor_closed(&self) -> bool {
        self.tripped.is_none()
    }

    /// Offers `requested` DC power (+ = charge) for `dt`; returns what flowed.
    pub(crate) fn exchange(&mut self, now: Timestamp, requested: Watts, dt: f64) -> Watts {
        if let Some((_, since)) = self.tripped
            && now.saturating_duration_since(since) >= ALARM_HOLD
        {
            self.tripped = None;
        }
        if self.injected.is_some_and(|(_, until)| now >= until) {
            self.injected = None;
        }
        if !self.contactor_closed() {
            self.current = Amps::ZERO;
            return Watts::ZERO;
        }
        // Protection trips first, as a real BMS does, instead of letting the cells go out of
        // their window.
        if requested > Watts::ZERO && self.soc >= 0.999 {
            self.tripped = Some((BmsAlarm::OverVoltage, now));
            self.current = Amps::ZERO;
            return Watts::ZERO;
        }
        if requested < Watts::ZERO && self.soc <= 0.001 {
            self.tripped = Some((BmsAlarm::UnderVoltage, now));
            self.current = Amps::ZERO;
            return Watts::ZERO;
        }
        let current = requested.at(self.ocv());
        let limit = if current.0 >= 0.0 {
            self.ccl()
        } else {
            self.dcl()
        };
        if current.abs().0 > limit.0 * 1.1 + 0.5 {
            let since = *self.over_current_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= OVER_CURRENT_TRIP {
                self.tripped = Some((BmsAlarm::OverCurrent, now));
                self.over_current_since = None;
                self.current = Amps::ZERO;
                return Watts::ZERO;
            }
        } else {
            self.over_current_since = None;
        }
        self.current = current;
        let cap = self.params.capacity_wh.0;
        let eta = self.params.efficiency;
        let stored_delta = if requested.0 >= 0.0 {
            requested.0 * eta
        } else {
            requested.0 / eta
        } * dt
            / 3600.0;
        self.soc = (self.soc + stored_delta / cap).clamp(0.0, 1.0);
        requested
    }

    pub(crate) fn bms_state(&self, now: Timestamp) -> BmsState {
        BmsState {
            soc_pct: self.soc(),
            voltage_v: self.voltage(),
            current_a: self.current,
            max_charge_a: self.ccl(),
            max_discharge_a: self.dcl(),
            alarms: self.alarms(now),
            cell_min_v: None,
            cell_max_v: None,
            temperature_c: Some(25.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_unix_secs(s)
    }

    #[test]
    fn charging_stores_energy_minus_losses() {
        let mut b = Battery::new(BatteryParams::default());
        let before = b.stored();
        for s in 0..3600 {
            assert_eq!(b.exchange(t(s), Watts(4000.0), 1.0), Watts(4000.0));
        }
        let gained = b.stored() - before;
        assert!((gained.0 - 4000.0 * 0.97).abs() < 1.0, "{gained:?}");
        let st = b.bms_state(t(3600));
        assert!(st.current_a > Amps(9.0) && st.voltage_v > Volts(400.0));
    }

    #[test]
    fn limits_taper_and_protection_trips() {
        let mut b = Battery::new(BatteryParams {
            initial_soc_pct: Percent(95.0),
            ..Default::default()
        });
        assert!(b.bms_state(t(0)).max_charge_a < Amps(12.5));
        // Ignoring the CCL for 5 s trips the BMS and opens the contactor.
        let mut tripped_at = None;
        for s in 0..10 {
            if b.exchange(t(s), Watts(5000.0), 1.0) == Watts::ZERO {
                tripped_at = Some(s);
                break;
            }
        }
        assert_eq!(tripped_at, Some(5));
        assert!(b.bms_state(t(6)).alarms.contains(BmsAlarm::OverCurrent));
        assert_eq!(b.exchange(t(30), Watts(-1000.0), 1.0), Watts::ZERO, "open");
        assert_eq!(
            b.exchange(t(66), Watts(-1000.0), 1.0),
            Watts(-1000.0),
            "recloses after the hold time"
        );
        assert!(!b.bms_state(t(66)).alarms.any());
    }

    #[test]
    fn full_battery_refuses_charge_with_over_voltage() {
        let mut b = Battery::new(BatteryParams {
            initial_soc_pct: Percent(100.0),
            ..Default::default()
        });
        assert_eq!(b.bms_state(t(0)).max_charge_a, Amps::ZERO);
        assert_eq!(b.exchange(t(0), Watts(100.0), 1.0), Watts::ZERO);
        assert!(b.bms_state(t(0)).alarms.contains(BmsAlarm::OverVoltage));
    }
}
