//! The narrow interface between a charging session and the rest of the charger.
//!
//! A session ([`crate::secc::Secc`]) reads one [`ChargerStatus`] per request (the power stage's
//! present voltage and current, the isolation monitor, the limits the site grants, whether the
//! car is authorized) and says what it needs through [`Demand`], a level, not an edge: the
//! application applies [`Secc::demand`](crate::secc::Secc::demand) to its power stage and
//! isolation monitor after every call into the session. A finished, failed or timed-out
//! session demands [`PowerDemand::Off`], so the safe state needs no event to be delivered.
//!
//! Everything else the session reports (state, the car's SoC and limits, targets, errors) comes
//! out as [`crate::secc::SeccEvent`]s.
//!
//! The hardware behind it is the `devices` roles' ([`PowerDemand`] is the DC power stage's
//! command, [`Isolation`] the isolation monitor's verdict): the daemon's charge point drives
//! them. [`SimPowerStage`] (also a `devices::DcPowerStage`) and [`SimIsolationMonitor`] are
//! deterministic simulations on injected time for tests and for `gridlet evse` without
//! hardware.

use std::time::Duration;

use serde::Serialize;
use units::{Amps, Timestamp, Volts, Watts};

/// What the power stage measures at the inlet. Current is positive into the car.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Measurements {
    /// Output voltage.
    pub voltage: Volts,
    /// Output current, negative when discharging the car.
    pub current: Amps,
}

/// The isolation monitor's verdict on the DC cable: the `devices` role's type.
pub use devices::Isolation;

/// A fault of the charger's hardware that stops every session: the DC power stage role's.
pub type Fault = devices::StageFault;

/// The charger's limits now: its rating, reduced by what the site grants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Limits {
    /// Highest output voltage.
    pub max_voltage: Volts,
    /// Lowest output voltage it can regulate.
    pub min_voltage: Volts,
    /// Highest charge current.
    pub max_current: Amps,
    /// Lowest charge current it can regulate.
    pub min_current: Amps,
    /// Highest charge power.
    pub max_power: Watts,
    /// Highest discharge current (0: no bidirectional power).
    pub max_discharge_current: Amps,
    /// Highest discharge power (0: no bidirectional power).
    pub max_discharge_power: Watts,
}

impl Limits {
    /// A small bidirectional charger (the FoccciCape's class: 11 kW, 150–500 V, 25 A both ways).
    pub const DEFAULT: Self = Self {
        max_voltage: Volts(500.0),
        min_voltage: Volts(150.0),
        max_current: Amps(25.0),
        min_current: Amps(0.0),
        max_power: Watts(11_000.0),
        max_discharge_current: Amps(25.0),
        max_discharge_power: Watts(11_000.0),
    };

    /// Whether the charger may discharge the car.
    pub fn can_discharge(&self) -> bool {
        self.max_discharge_current.0 > 0.0 && self.max_discharge_power.0 > 0.0
    }

    /// These limits with the power the site grants: `charge` and `discharge` (both ≥ 0) cap the
    /// powers (the mapping of `devices::ChargeLimits`).
    pub fn granted(self, charge: Watts, discharge: Watts) -> Self {
        Self {
            max_power: self.max_power.min(charge.max(Watts::ZERO)),
            max_discharge_power: self.max_discharge_power.min(discharge.max(Watts::ZERO)),
            ..self
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Whether the car may charge (external payment: the site or the user decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Authorization {
    /// Not decided yet: the car is told Ongoing and asks again.
    Pending,
    /// The car may charge.
    #[default]
    Granted,
    /// The car may not charge: the session ends.
    Denied,
}

/// Everything a session reads from the charger, sampled when a request is handled.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ChargerStatus {
    /// The power stage's output now.
    pub present: Measurements,
    /// The isolation monitor's verdict.
    pub isolation: Isolation,
    /// The limits now.
    pub limits: Limits,
    /// The power the charger should transfer where it decides (ISO 15118-20 dynamic control
    /// mode): positive charges the car, negative discharges it. `None`: as much as the car and
    /// the limits allow.
    pub setpoint: Option<Watts>,
    /// Whether the car may charge.
    pub authorization: Authorization,
    /// A hardware fault: the car is told to stop at once.
    pub fault: Option<Fault>,
    /// The site or the user wants the session to end: the car is told to stop.
    pub stop: bool,
}

/// What a session needs from the power stage now: the DC power stage role's command
/// (`Off`, `CableCheck`, `PreCharge`, `Deliver`).
pub type PowerDemand = devices::StageCommand;

/// What a session needs from the charger now.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Demand {
    /// The power stage's mode and targets.
    pub power: PowerDemand,
    /// Whether the isolation monitor should test the cable.
    pub isolation_test: bool,
}

impl Demand {
    /// The safe state.
    pub const OFF: Self = Self {
        power: PowerDemand::Off,
        isolation_test: false,
    };
}

/// Parameters of [`SimPowerStage`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimPowerStageConfig {
    /// How fast the output voltage follows its target.
    pub voltage_slew: f64,
    /// How fast the current follows its target, in A/s.
    pub current_slew: f64,
    /// How fast the output discharges when off, in V/s.
    pub discharge_rate: f64,
    /// Resistance between the output and the car's battery in ohms: once the car's contactors
    /// close (delivery starts) the battery holds the voltage, which rises by `current × this`.
    pub load_resistance: f64,
    /// The rating: demands are clamped to it.
    pub limits: Limits,
}

impl Default for SimPowerStageConfig {
    fn default() -> Self {
        Self {
            // A 400 V car is pre-charged in about a second, as with real chargers.
            voltage_slew: 400.0,
            current_slew: 100.0,
            // Output capacitors discharged within a second (welding detection needs < 20 V).
            discharge_rate: 1000.0,
            load_resistance: 0.1,
            limits: Limits::DEFAULT,
        }
    }
}

/// A simulated power stage: an ideal bidirectional DC supply whose voltage and current slew
/// towards the demand at fixed rates. Current only flows in [`PowerDemand::Deliver`] (before,
/// the car's contactors are open); then the car's battery holds the output at the voltage it had
/// when delivery started, plus the drop over the load resistance, up to the voltage limit.
/// Deterministic: its state is a function of the demands and the times they were applied.
#[derive(Debug, Clone)]
pub struct SimPowerStage {
    config: SimPowerStageConfig,
    demand: PowerDemand,
    voltage: f64,
    current: f64,
    at: Option<Timestamp>,
    fault: Option<Fault>,
    /// The battery voltage seen when delivery started (the car's contactors closed).
    battery: Option<f64>,
    /// The last measurement: when, voltage, current.
    last: Option<(Timestamp, f64, f64)>,
}

impl SimPowerStage {
    /// An idle stage.
    pub fn new(config: SimPowerStageConfig) -> Self {
        Self {
            config,
            demand: PowerDemand::Off,
            voltage: 0.0,
            current: 0.0,
            at: None,
            fault: None,
            battery: None,
            last: None,
        }
    }

    /// The demand it follows now.
    pub fn demand(&self) -> PowerDemand {
        self.demand
    }

    /// Makes the stage report (or stop reporting) a fault; a faulty stage turns itself off.
    pub fn set_fault(&mut self, now: Timestamp, fault: Option<Fault>) {
        self.advance(now);
        self.fault = fault;
    }

    /// Whether the stage is in its safe state: off, no current.
    pub fn is_off(&self) -> bool {
        self.demand == PowerDemand::Off && self.current == 0.0
    }

    /// Moves the simulated output forward to `now`.
    fn advance(&mut self, now: Timestamp) {
        let dt = match self.at {
            Some(at) => now.saturating_duration_since(at).as_secs_f64(),
            None => 0.0,
        };
        self.at = Some(self.at.map_or(now, |at| at.max(now)));
        let limits = self.config.limits;
        let demand = if self.fault.is_some() {
            PowerDemand::Off
        } else {
            self.demand
        };
        let (target_v, target_i) = match demand {
            PowerDemand::Off => (None, 0.0),
            PowerDemand::CableCheck { voltage } | PowerDemand::PreCharge { voltage, .. } => {
                (Some(voltage.0), 0.0)
            }
            PowerDemand::Deliver { voltage, current } => {
                let i = current
                    .0
                    .clamp(-limits.max_discharge_current.0, limits.max_current.0);
                (Some(voltage.0), i)
            }
        };
        // Current first: the contract ramps it to zero before the voltage goes.
        self.current = slew(self.current, target_i, self.config.current_slew * dt);
        let delivering = matches!(demand, PowerDemand::Deliver { .. });
        if !delivering {
            self.battery = None;
        } else if self.battery.is_none() {
            self.battery = Some(self.voltage);
        }
        self.voltage = match (target_v, self.battery) {
            (Some(limit), Some(battery)) => {
                let v = battery + self.current * self.config.load_resistance;
                v.clamp(0.0, limit.clamp(0.0, limits.max_voltage.0))
            }
            (Some(v), None) => {
                let v = v.clamp(0.0, limits.max_voltage.0);
                slew(self.voltage, v, self.config.voltage_slew * dt)
            }
            (None, _) => slew(self.voltage, 0.0, self.config.discharge_rate * dt),
        };
        if !self.voltage.is_finite() {
            self.voltage = 0.0;
        }
        if !self.current.is_finite() {
            self.current = 0.0;
        }
    }
}

fn slew(from: f64, to: f64, step: f64) -> f64 {
    if (to - from).abs() <= step {
        to
    } else if to > from {
        from + step
    } else {
        from - step
    }
}

impl SimPowerStage {
    /// Takes the session's demand (called after every session step, repeated or not).
    pub fn apply(&mut self, now: Timestamp, demand: PowerDemand) {
        self.advance(now);
        self.demand = demand;
    }

    /// The output now.
    pub fn measure(&mut self, now: Timestamp) -> Measurements {
        self.advance(now);
        self.last = Some((now, self.voltage, self.current));
        Measurements {
            voltage: Volts(self.voltage),
            current: Amps(self.current),
        }
    }

    /// A fault the stage detected, if any.
    pub fn fault(&self) -> Option<Fault> {
        self.fault
    }
}

/// The simulated stage as the device role: commands advance it, the status is its last
/// measurement.
impl devices::DcPowerStage for SimPowerStage {
    fn command(&mut self, now: Timestamp, cmd: PowerDemand) -> Result<(), devices::DeviceError> {
        self.apply(now, cmd);
        self.measure(now);
        Ok(())
    }

    fn status(&self) -> Option<devices::Stamped<devices::StageStatus>> {
        self.last.map(|(at, voltage, current)| {
            devices::Stamped::new(
                at,
                devices::StageStatus {
                    voltage: Volts(voltage),
                    current: Amps(current),
                    fault: self.fault,
                },
            )
        })
    }
}

/// A simulated isolation monitor: a test takes `duration`, then reports `result`.
#[derive(Debug, Clone)]
pub struct SimIsolationMonitor {
    duration: Duration,
    result: Isolation,
    started: Option<Timestamp>,
    last: Isolation,
}

impl SimIsolationMonitor {
    /// A monitor whose tests take `duration` and find `result`.
    pub fn new(duration: Duration, result: Isolation) -> Self {
        Self {
            duration,
            result,
            started: None,
            last: Isolation::Unknown,
        }
    }

    /// What later tests will find.
    pub fn set_result(&mut self, result: Isolation) {
        self.result = result;
    }
}

impl SimIsolationMonitor {
    /// Starts (`true`) or stops a test; repeated calls with the same value change nothing.
    pub fn set_testing(&mut self, now: Timestamp, testing: bool) {
        match (testing, self.started) {
            (true, None) => self.started = Some(now),
            (false, Some(_)) => {
                self.last = self.status(now);
                self.started = None;
            }
            _ => {}
        }
    }

    /// The verdict now.
    pub fn status(&mut self, now: Timestamp) -> Isolation {
        match self.started {
            Some(t) if now.saturating_duration_since(t) >= self.duration => self.result,
            Some(_) => Isolation::Testing,
            None => self.last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_unix_secs(1_750_000_000) + Duration::from_millis(ms)
    }

    #[test]
    fn the_sim_stage_slews_and_turns_off_safely() {
        let mut stage = SimPowerStage::new(SimPowerStageConfig::default());
        assert!(stage.is_off());
        stage.apply(
            t(0),
            PowerDemand::PreCharge {
                voltage: Volts(400.0),
                current_limit: Amps(2.0),
            },
        );
        assert_eq!(stage.measure(t(500)).voltage, Volts(200.0));
        assert_eq!(stage.measure(t(1000)).voltage, Volts(400.0));
        assert_eq!(stage.measure(t(1000)).current, Amps(0.0));
        stage.apply(
            t(1000),
            PowerDemand::Deliver {
                voltage: Volts(410.0),
                current: Amps(20.0),
            },
        );
        let m = stage.measure(t(1100));
        assert_eq!(m.current, Amps(10.0));
        // The battery holds the voltage: 400 V plus 10 A over 0.1 ohm.
        assert!((m.voltage.0 - 401.0).abs() < 1e-9, "{m:?}");
        // Clamped to the rating.
        stage.apply(
            t(1100),
            PowerDemand::Deliver {
                voltage: Volts(900.0),
                current: Amps(-80.0),
            },
        );
        let m = stage.measure(t(3000));
        assert_eq!(m.current, Amps(-Limits::DEFAULT.max_discharge_current.0));
        assert!((m.voltage.0 - 397.5).abs() < 1e-9, "{m:?}");
        // The voltage limit holds.
        stage.apply(
            t(3000),
            PowerDemand::Deliver {
                voltage: Volts(395.0),
                current: Amps(20.0),
            },
        );
        assert_eq!(stage.measure(t(4000)).voltage, Volts(395.0));
        stage.apply(t(4000), PowerDemand::Off);
        assert!(!stage.is_off());
        let m = stage.measure(t(5000));
        assert_eq!((m.voltage, m.current), (Volts(0.0), Amps(0.0)));
        assert!(stage.is_off());
    }

    #[test]
    fn a_faulty_sim_stage_stops_on_its_own() {
        let mut stage = SimPowerStage::new(SimPowerStageConfig::default());
        stage.apply(
            t(0),
            PowerDemand::Deliver {
                voltage: Volts(400.0),
                current: Amps(20.0),
            },
        );
        assert_eq!(stage.measure(t(2000)).current, Amps(20.0));
        stage.set_fault(t(2000), Some(Fault::Malfunction));
        assert_eq!(stage.fault(), Some(Fault::Malfunction));
        assert_eq!(stage.measure(t(3000)).current, Amps(0.0));
    }

    #[test]
    fn the_sim_monitor_reports_after_its_test_time() {
        let mut imd = SimIsolationMonitor::new(Duration::from_secs(2), Isolation::Valid);
        assert_eq!(imd.status(t(0)), Isolation::Unknown);
        imd.set_testing(t(0), true);
        imd.set_testing(t(1000), true);
        assert_eq!(imd.status(t(1999)), Isolation::Testing);
        assert_eq!(imd.status(t(2000)), Isolation::Valid);
        imd.set_testing(t(2500), false);
        assert_eq!(imd.status(t(9000)), Isolation::Valid);
        imd.set_result(Isolation::Fault);
        imd.set_testing(t(9000), true);
        assert_eq!(imd.status(t(11000)), Isolation::Fault);
    }

    #[test]
    fn granted_limits_cap_the_powers() {
        let l = Limits::DEFAULT.granted(Watts(3000.0), Watts(-5.0));
        assert_eq!(l.max_power, Watts(3000.0));
        assert_eq!(l.max_discharge_power, Watts(0.0));
        assert!(!l.can_discharge());
        assert!(Limits::DEFAULT.can_discharge());
    }
}
