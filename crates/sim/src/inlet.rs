//! The CCS inlet behind the changeover relay: its DC voltage (the precharge supply raises it,
//! the car's battery holds it once its contactors are closed, the bleed resistor drains it) and
//! the control pilot as the car's resistors and diode load it (IEC 61851-1 Annex A).

use std::time::Duration;

use devices::{PilotReading, PilotSignal};
use serde::{Deserialize, Serialize};
use units::{Volts, duration_str};

/// The inlet's parameters. The defaults are the FoccciCape's precharge supply: 10 µF behind
/// 1 MΩ, 0–400 V in about 6 s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InletParams {
    /// The voltage the precharge supply charges towards.
    pub precharge_source_v: Volts,
    /// Its time constant: 400 V of a 500 V source in 6 s.
    #[serde(with = "duration_str")]
    pub precharge_tau: Duration,
    /// How fast the inlet drains with nothing connected (10 µF × 1 MΩ).
    #[serde(with = "duration_str")]
    pub bleed_tau: Duration,
}

impl Default for InletParams {
    fn default() -> Self {
        Self {
            precharge_source_v: Volts(500.0),
            // 500 V × (1 − e^(−6/τ)) = 400 V.
            precharge_tau: Duration::from_millis(3728),
            bleed_tau: Duration::from_secs(10),
        }
    }
}

/// What the car does to the control pilot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PilotLoad {
    /// No car: the pilot sees the charger's open-circuit 12 V.
    #[default]
    None,
    /// A car with S2 open (2.74 kΩ behind its diode): 9 V, state B.
    Connected,
    /// A car with S2 closed (882 Ω in all): 6 V, state C: it accepts energy.
    Ready,
}

#[derive(Debug, Clone)]
pub(crate) struct Inlet {
    params: InletParams,
    voltage: f64,
    /// The car's battery voltage while its contactors are closed.
    battery: Option<f64>,
    pub(crate) precharge: bool,
    pub(crate) signal: PilotSignal,
    pub(crate) load: PilotLoad,
}

impl Inlet {
    pub(crate) fn new(params: InletParams) -> Self {
        Self {
            params,
            voltage: 0.0,
            battery: None,
            precharge: false,
            signal: PilotSignal::Unavailable,
            load: PilotLoad::None,
        }
    }

    pub(crate) fn voltage(&self) -> Volts {
        Volts(self.voltage)
    }

    /// The car's contactors: closed on `battery` (its voltage now), or open.
    pub(crate) fn set_battery(&mut self, battery: Option<f64>) {
        self.battery = battery;
    }

    /// Whether the car's battery is on the inlet.
    pub(crate) fn battery_connected(&self) -> bool {
        self.battery.is_some()
    }

    /// The inlet over `dt` seconds.
    pub(crate) fn advance(&mut self, dt: f64) {
        let approach = |v: f64, to: f64, tau: Duration| {
            v + (to - v) * (1.0 - (-dt / tau.as_secs_f64().max(1e-3)).exp())
        };
        self.voltage = match self.battery {
            Some(b) => b,
            None if self.precharge => approach(
                self.voltage,
                self.params.precharge_source_v.0,
                self.params.precharge_tau,
            ),
            None => approach(self.voltage, 0.0, self.params.bleed_tau),
        };
        if !self.voltage.is_finite() {
            self.voltage = 0.0;
        }
    }

    /// What the charger's pilot measurement sees now.
    pub(crate) fn pilot_reading(&self) -> PilotReading {
        let high = match (self.signal, self.load) {
            (PilotSignal::Unavailable, _) => -12.0,
            (_, PilotLoad::None) => 12.0,
            (_, PilotLoad::Connected) => 9.0,
            (_, PilotLoad::Ready) => 6.0,
        };
        let low = match self.signal {
            // The car's diode blocks the negative half-wave: the source's −12 V shows.
            PilotSignal::Pwm { .. } | PilotSignal::Unavailable => Some(Volts(-12.0)),
            PilotSignal::Static => None,
        };
        PilotReading {
            high: Volts(high),
            low,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_precharge_supply_reaches_400v_in_about_6s_and_the_bleed_drains_it() {
        let mut inlet = Inlet::new(InletParams::default());
        inlet.precharge = true;
        for _ in 0..60 {
            inlet.advance(0.1);
        }
        assert!(
            (inlet.voltage().0 - 400.0).abs() < 2.0,
            "{:?}",
            inlet.voltage()
        );
        inlet.precharge = false;
        for _ in 0..100 {
            inlet.advance(0.1);
        }
        // One bleed time constant: 1/e.
        assert!((inlet.voltage().0 - 400.0 / std::f64::consts::E).abs() < 2.0);
        // The car's battery holds it.
        inlet.set_battery(Some(380.0));
        inlet.advance(1.0);
        assert_eq!(inlet.voltage(), Volts(380.0));
    }

    #[test]
    fn the_pilot_shows_the_cars_state() {
        let mut inlet = Inlet::new(InletParams::default());
        inlet.signal = PilotSignal::Static;
        assert_eq!(inlet.pilot_reading().high, Volts(12.0));
        inlet.load = PilotLoad::Connected;
        inlet.signal = PilotSignal::DIGITAL;
        let r = inlet.pilot_reading();
        assert_eq!((r.high, r.low), (Volts(9.0), Some(Volts(-12.0))));
        inlet.load = PilotLoad::Ready;
        assert_eq!(inlet.pilot_reading().high, Volts(6.0));
        inlet.signal = PilotSignal::Unavailable;
        assert_eq!(inlet.pilot_reading().high, Volts(-12.0));
    }
}
