use std::fmt;

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};
use units::{Amps, Percent, Volts, Watts};

use crate::Stamped;

/// A protection alarm raised by a battery management system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum BmsAlarm {
    /// A cell or the pack is below its minimum voltage.
    UnderVoltage = 0,
    /// A cell or the pack is above its maximum voltage.
    OverVoltage = 1,
    /// The current exceeds what the pack allows.
    OverCurrent = 2,
    /// Too hot to charge or discharge.
    OverTemperature = 3,
    /// Too cold to charge or discharge.
    UnderTemperature = 4,
    /// Cells drifted too far apart.
    CellImbalance = 5,
    /// The BMS lost contact with its cell monitors or has an internal error.
    Internal = 6,
    /// Insulation fault between the pack and chassis.
    Isolation = 7,
}

impl BmsAlarm {
    /// Every alarm, in bit order.
    pub const ALL: [Self; 8] = [
        Self::UnderVoltage,
        Self::OverVoltage,
        Self::OverCurrent,
        Self::OverTemperature,
        Self::UnderTemperature,
        Self::CellImbalance,
        Self::Internal,
        Self::Isolation,
    ];
}

/// A set of [`BmsAlarm`]s; serialized as the list of active alarm names.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct BmsAlarms(u8);

impl BmsAlarms {
    /// No alarm.
    pub const NONE: Self = Self(0);

    /// Adds an alarm.
    pub fn insert(&mut self, a: BmsAlarm) {
        self.0 |= 1 << a as u8;
    }

    /// True if `a` is active.
    pub fn contains(self, a: BmsAlarm) -> bool {
        self.0 & (1 << a as u8) != 0
    }

    /// True if any alarm is active.
    pub fn any(self) -> bool {
        self.0 != 0
    }

    /// The active alarms.
    pub fn iter(self) -> impl Iterator<Item = BmsAlarm> {
        BmsAlarm::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

impl FromIterator<BmsAlarm> for BmsAlarms {
    fn from_iter<I: IntoIterator<Item = BmsAlarm>>(iter: I) -> Self {
        let mut s = Self::NONE;
        for a in iter {
            s.insert(a);
        }
        s
    }
}

impl fmt::Debug for BmsAlarms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for BmsAlarms {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for a in self.iter() {
            seq.serialize_element(&a)?;
        }
        seq.end()
    }
}

/// What a battery management system reports.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct BmsState {
    /// State of charge.
    pub soc_pct: Percent,
    /// Pack voltage.
    pub voltage_v: Volts,
    /// Pack current, **positive = charging**.
    pub current_a: Amps,
    /// The charge current the BMS allows now (CCL), ≥ 0.
    pub max_charge_a: Amps,
    /// The discharge current the BMS allows now (DCL), ≥ 0.
    pub max_discharge_a: Amps,
    /// Active protection alarms.
    pub alarms: BmsAlarms,
    /// Lowest cell voltage, if reported.
    pub cell_min_v: Option<Volts>,
    /// Highest cell voltage, if reported.
    pub cell_max_v: Option<Volts>,
    /// Highest temperature in °C, if reported.
    pub temperature_c: Option<f64>,
}

impl BmsState {
    /// The charge power the BMS allows at the present pack voltage.
    pub fn charge_limit(&self) -> Watts {
        (self.voltage_v * self.max_charge_a).positive_part()
    }

    /// The discharge power the BMS allows at the present pack voltage.
    pub fn discharge_limit(&self) -> Watts {
        (self.voltage_v * self.max_discharge_a).positive_part()
    }
}

/// A battery management system: state of charge, limits and alarms of the home battery.
///
/// Contract: the backend returns the newest complete state, stamped with when it was received.
/// It does not invent values when the BMS goes silent: the controller zeroes both limits when
/// the state is older than its BMS timeout (default 2 s) and stops the converter on any alarm.
pub trait Bms: Send {
    /// The newest state.
    fn state(&self) -> Option<Stamped<BmsState>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_set_and_serialize_as_names() {
        let a: BmsAlarms = [BmsAlarm::OverVoltage, BmsAlarm::Isolation]
            .into_iter()
            .collect();
        assert!(a.any());
        assert!(a.contains(BmsAlarm::OverVoltage));
        assert!(!a.contains(BmsAlarm::UnderVoltage));
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"["over_voltage","isolation"]"#
        );
        assert!(!BmsAlarms::NONE.any());
    }

    #[test]
    fn limits_in_watts() {
        let s = BmsState {
            voltage_v: Volts(400.0),
            max_charge_a: Amps(10.0),
            max_discharge_a: Amps(-3.0),
            ..Default::default()
        };
        assert_eq!(s.charge_limit(), Watts(4000.0));
        assert_eq!(
            s.discharge_limit(),
            Watts::ZERO,
            "a negative limit is no limit"
        );
    }
}
