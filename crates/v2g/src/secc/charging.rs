//! What every protocol does the same way: authorization, the isolation test, pre-charge, and
//! turning the car's targets into a [`Demand`] within the charger's and the car's limits.

use std::collections::VecDeque;

use tracing::debug;
use units::{Amps, Timestamp, Volts};

use super::{EvStatus, SeccConfig, SeccEvent, SessionState};
use crate::charger::{
    Authorization, ChargerStatus, Demand, Fault, Isolation, Measurements, PowerDemand,
};

/// The charger's condition as the DC status codes of every protocol express it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    /// Ready to charge.
    Ready,
    /// The isolation test runs.
    IsolationMonitoringActive,
    /// The site or the user asks the car to stop (EVSE_Shutdown with StopCharging).
    Shutdown,
    /// Emergency stop.
    EmergencyShutdown,
    /// Hardware failure.
    Malfunction,
}

/// The outcome of an authorization request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Authorize {
    Granted,
    /// Pending since the first Ongoing answer: the state keeps `since` for the next request.
    Ongoing {
        since: Timestamp,
    },
    Denied,
    /// Pending for longer than the charger answers Ongoing.
    TimedOut,
}

/// The outcome of a CableCheckReq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CableCheck {
    /// The test runs, started at `since` (the state keeps it for the next request): answer
    /// Ongoing.
    Ongoing { since: Timestamp },
    /// Passed with this level: answer Finished.
    Done(Isolation),
    /// Failed (a fault, or no verdict in time): answer FAILED.
    Failed(Isolation),
}

/// Which limit held the current back in a charge loop step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Delivery {
    pub(crate) current_limit_achieved: bool,
    pub(crate) voltage_limit_achieved: bool,
    pub(crate) power_limit_achieved: bool,
}

impl Delivery {
    /// Flags the charger's limit that holds back `asked` (a magnitude): the lower of its current
    /// limit and its power limit at the present voltage, both when they are equal. A car asking
    /// 100 A at 400 V from an 11 kW / 25 A charger is held by the current (25 A < 27.5 A), not
    /// the power. The flags are CurrentDemandRes' EVSECurrentLimitAchieved and
    /// EVSEPowerLimitAchieved (DIN 70121, ISO 15118-2) and DC_ChargeLoopRes' (ISO 15118-20).
    fn bind(&mut self, asked: Amps, by_current: Amps, by_power: Amps) {
        let held = by_current.min(by_power);
        if asked > held {
            self.current_limit_achieved = by_current <= by_power;
            self.power_limit_achieved = by_power <= by_current;
        }
    }
}

/// The protocol-independent part of a session.
#[derive(Debug, Clone, Default)]
pub(crate) struct Charging {
    pub(crate) demand: Demand,
    pub(crate) cycles: u32,
    state: Option<SessionState>,
    ev: EvStatus,
    /// The last output voltage demanded (pre-charge or delivery).
    voltage: Option<Volts>,
    /// The last measurement, to integrate energy.
    last_sample: Option<(Timestamp, Measurements)>,
    /// Energy into the car so far.
    pub(crate) charged_wh: f64,
    /// Energy out of the car so far.
    pub(crate) discharged_wh: f64,
}

impl Charging {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Integrates the energy since the last measurement (trapezoid rule).
    pub(crate) fn sample(&mut self, now: Timestamp, m: Measurements) {
        if let Some((at, prev)) = self.last_sample {
            let hours = now.saturating_duration_since(at).as_secs_f64() / 3600.0;
            let power = (prev.voltage.0 * prev.current.0 + m.voltage.0 * m.current.0) / 2.0;
            if power.is_finite() {
                if power >= 0.0 {
                    self.charged_wh += power * hours;
                } else {
                    self.discharged_wh -= power * hours;
                }
            }
        }
        self.last_sample = Some((now, m));
    }

    pub(crate) fn set_state(&mut self, state: SessionState, events: &mut VecDeque<SeccEvent>) {
        if self.state != Some(state) {
            debug!(?state, "session state");
            self.state = Some(state);
            events.push_back(SeccEvent::State(state));
        }
    }

    pub(crate) fn update_ev(
        &mut self,
        update: impl FnOnce(&mut EvStatus),
        events: &mut VecDeque<SeccEvent>,
    ) {
        let before = self.ev.clone();
        update(&mut self.ev);
        if self.ev != before {
            events.push_back(SeccEvent::Ev(self.ev.clone()));
        }
    }

    /// The charger's condition for the status fields of a response.
    pub(crate) fn condition(&self, status: &ChargerStatus) -> Condition {
        match status.fault {
            Some(Fault::EmergencyStop) => Condition::EmergencyShutdown,
            Some(Fault::Malfunction) => Condition::Malfunction,
            None if status.stop => Condition::Shutdown,
            None if self.demand.isolation_test => Condition::IsolationMonitoringActive,
            None => Condition::Ready,
        }
    }

    /// Authorization (ContractAuthentication, Authorization): the site decides; Ongoing while it
    /// has not, for at most the configured time from the first Ongoing answer (`since`).
    pub(crate) fn authorize(
        &self,
        since: Option<Timestamp>,
        now: Timestamp,
        status: &ChargerStatus,
        config: &SeccConfig,
    ) -> Authorize {
        match status.authorization {
            Authorization::Granted => Authorize::Granted,
            Authorization::Denied => Authorize::Denied,
            Authorization::Pending => {
                let since = since.unwrap_or(now);
                if now.saturating_duration_since(since) >= config.timeouts.ongoing {
                    Authorize::TimedOut
                } else {
                    Authorize::Ongoing { since }
                }
            }
        }
    }

    /// One CableCheckReq of a test started at `since`. The first (`None`) starts the test (test
    /// voltage: the car's maximum, within ours); a verdict counts only from a later request, so
    /// that a result left over from an earlier test is never taken for this one.
    pub(crate) fn cable_check(
        &mut self,
        since: Option<Timestamp>,
        now: Timestamp,
        status: &ChargerStatus,
        config: &SeccConfig,
    ) -> CableCheck {
        let Some(started) = since else {
            let max = status.limits.max_voltage;
            let voltage = self
                .ev
                .max_voltage
                .map_or(max, |v| v.clamp(Volts::ZERO, max));
            self.demand = Demand {
                power: PowerDemand::CableCheck { voltage },
                isolation_test: true,
            };
            return CableCheck::Ongoing { since: now };
        };
        match status.isolation {
            level @ (Isolation::Valid | Isolation::Warning) => {
                // Discharge the output: pre-charge starts from the car's request.
                self.demand = Demand::OFF;
                CableCheck::Done(level)
            }
            Isolation::Fault => {
                self.demand = Demand::OFF;
                CableCheck::Failed(Isolation::Fault)
            }
            level @ (Isolation::Unknown | Isolation::Testing) => {
                if now.saturating_duration_since(started) >= config.timeouts.cable_check {
                    self.demand = Demand::OFF;
                    CableCheck::Failed(level)
                } else {
                    CableCheck::Ongoing { since: started }
                }
            }
        }
    }

    /// One PreChargeReq: raise the output to `target_voltage` with at most the pre-charge
    /// current. Returns a warning when the request was not applied.
    ///
    /// A negative voltage or current (Skoda Enyaq, EVerest's `hack_skoda_enyaq`) keeps the
    /// previous demand: cars that send it correct themselves in the next request.
    pub(crate) fn precharge(
        &mut self,
        target_voltage: f64,
        target_current: f64,
        status: &ChargerStatus,
        config: &SeccConfig,
    ) -> Option<String> {
        if !(target_voltage.is_finite() && target_current.is_finite())
            || target_voltage < 0.0
            || target_current < 0.0
        {
            return Some(format!(
                "the car asked to pre-charge to {target_voltage} V at {target_current} A: \
                 ignored, previous demand kept"
            ));
        }
        let voltage = Volts(target_voltage).min(status.limits.max_voltage);
        let current_limit = Amps(target_current).min(config.precharge_current_limit);
        self.voltage = Some(voltage);
        self.demand = Demand {
            power: PowerDemand::PreCharge {
                voltage,
                current_limit,
            },
            isolation_test: false,
        };
        (voltage.0 < target_voltage).then(|| {
            format!(
                "the car asked to pre-charge to {target_voltage} V, above the charger's {}: \
                 clamped",
                status.limits.max_voltage
            )
        })
    }

    /// PowerDelivery(start): the car closes its contactors; hold the voltage, no current yet.
    pub(crate) fn start_delivery(&mut self) {
        let voltage = self.voltage.unwrap_or(Volts::ZERO);
        self.demand = Demand {
            power: PowerDemand::Deliver {
                voltage,
                current: Amps::ZERO,
            },
            isolation_test: false,
        };
    }

    /// One charge loop step with the car's targets (DIN, ISO 15118-2, ISO 15118-20 scheduled
    /// mode). A negative current is a discharge request, allowed only with `bidirectional`.
    pub(crate) fn deliver(
        &mut self,
        target_voltage: f64,
        target_current: f64,
        bidirectional: bool,
        status: &ChargerStatus,
    ) -> (Delivery, Option<String>) {
        self.cycles += 1;
        let mut warning = None;
        // [V2G20-2183] lets a car send only one of voltage and current (EVerest keeps the last
        // non-zero voltage); a negative voltage (Skoda Enyaq) is treated the same way.
        let voltage = if target_voltage.is_finite() && target_voltage > 0.0 {
            Volts(target_voltage)
        } else {
            warning = Some(format!(
                "the car asked for {target_voltage} V: the last voltage target is kept"
            ));
            self.voltage.unwrap_or(status.present.voltage)
        };
        let mut current = if target_current.is_finite() {
            Amps(target_current)
        } else {
            Amps::ZERO
        };
        if current.0 < 0.0 && !bidirectional {
            warning = Some(format!(
                "the car asked for {target_current} A without bidirectional power: 0 A"
            ));
            current = Amps::ZERO;
        }
        let (delivery, voltage, current) = self.limit(voltage, current, status);
        self.voltage = Some(voltage);
        self.demand = Demand {
            power: PowerDemand::Deliver { voltage, current },
            isolation_test: false,
        };
        (delivery, warning)
    }

    /// One charge loop step where the charger decides the power (ISO 15118-20 dynamic mode):
    /// `power` (negative: discharge) at up to `max_voltage`.
    pub(crate) fn deliver_power(
        &mut self,
        power: f64,
        max_voltage: f64,
        status: &ChargerStatus,
    ) -> Delivery {
        self.cycles += 1;
        let voltage = if max_voltage.is_finite() && max_voltage > 0.0 {
            Volts(max_voltage)
        } else {
            self.voltage.unwrap_or(status.present.voltage)
        };
        let at = Self::conversion_voltage(voltage, status);
        let current = if power.is_finite() && at.0 > 0.0 {
            Amps(power / at.0)
        } else {
            Amps::ZERO
        };
        let (delivery, voltage, current) = self.limit(voltage, current, status);
        self.voltage = Some(voltage);
        self.demand = Demand {
            power: PowerDemand::Deliver { voltage, current },
            isolation_test: false,
        };
        delivery
    }

    /// The session ends or the charge loop stops: the safe state.
    pub(crate) fn stop(&mut self) {
        self.demand = Demand::OFF;
    }

    /// The voltage currents and powers are converted at: the measured one once the output is
    /// up, the target before.
    fn conversion_voltage(target: Volts, status: &ChargerStatus) -> Volts {
        if status.present.voltage.0 > 50.0 {
            status.present.voltage
        } else {
            target
        }
    }

    /// Clamps a (voltage, current) request to the charger's and the car's limits.
    fn limit(
        &self,
        voltage: Volts,
        current: Amps,
        status: &ChargerStatus,
    ) -> (Delivery, Volts, Amps) {
        let limits = &status.limits;
        let mut delivery = Delivery::default();
        let mut max_voltage = limits.max_voltage;
        if let Some(ev) = self.ev.max_voltage {
            max_voltage = max_voltage.min(ev);
        }
        if voltage > limits.max_voltage {
            delivery.voltage_limit_achieved = true;
        }
        // Never below zero, whatever limit the car sends.
        let voltage = voltage.clamp(Volts::ZERO, max_voltage.max(Volts::ZERO));
        let at = Self::conversion_voltage(voltage, status);
        let current = if current.0 >= 0.0 {
            let by_power = limits.max_power.at(at);
            let mut max = limits.max_current.min(by_power);
            if let Some(ev) = self.ev.max_current {
                max = max.min(ev);
            }
            delivery.bind(current, limits.max_current, by_power);
            current.min(max.max(Amps::ZERO))
        } else {
            let by_power = limits.max_discharge_power.at(at);
            let mut max = limits.max_discharge_current.min(by_power);
            if let Some(ev) = self.ev.max_discharge_current {
                max = max.min(ev);
            }
            delivery.bind(-current, limits.max_discharge_current, by_power);
            current.max(-max.max(Amps::ZERO))
        };
        (delivery, voltage, current)
    }
}

#[cfg(test)]
mod tests {
    use units::Watts;

    use super::*;
    use crate::charger::Limits;

    /// The charger's output at 400 V, with `limits`.
    fn status(limits: Limits) -> ChargerStatus {
        ChargerStatus {
            present: Measurements {
                voltage: Volts(400.0),
                current: Amps::ZERO,
            },
            isolation: Isolation::Valid,
            limits,
            setpoint: None,
            authorization: Authorization::Granted,
            fault: None,
            stop: false,
        }
    }

    fn flags(d: Delivery) -> (bool, bool, bool) {
        (
            d.current_limit_achieved,
            d.power_limit_achieved,
            d.voltage_limit_achieved,
        )
    }

    #[test]
    fn the_binding_limit_is_the_one_flagged() {
        let small = Limits::DEFAULT; // 11 kW, 25 A, 500 V
        // 100 A at 400 V from 11 kW / 25 A: 25 A < 27.5 A, the current binds.
        let (d, _) = Charging::new().deliver(400.0, 100.0, false, &status(small));
        assert_eq!(flags(d), (true, false, false));
        // 40 A allowed but only 11 kW: 27.5 A at 400 V, the power binds.
        let wide = Limits {
            max_current: Amps(40.0),
            ..small
        };
        let (d, _) = Charging::new().deliver(400.0, 100.0, false, &status(wide));
        assert_eq!(flags(d), (false, true, false));
        // Both limits at 25 A (10 kW at 400 V): both bind.
        let both = Limits {
            max_power: Watts(10_000.0),
            ..small
        };
        let (d, _) = Charging::new().deliver(400.0, 100.0, false, &status(both));
        assert_eq!(flags(d), (true, true, false));
        // Within both: nothing binds.
        let (d, _) = Charging::new().deliver(400.0, 20.0, false, &status(small));
        assert_eq!(flags(d), (false, false, false));
        // 450 V asked from a 420 V charger: the voltage binds, the current is within limits.
        let low = Limits {
            max_voltage: Volts(420.0),
            ..small
        };
        let mut charging = Charging::new();
        let (d, _) = charging.deliver(450.0, 10.0, false, &status(low));
        assert_eq!(flags(d), (false, false, true));
        assert!(matches!(
            charging.demand.power,
            PowerDemand::Deliver { voltage, current } if voltage == Volts(420.0) && current == Amps(10.0)
        ));
    }

    #[test]
    fn a_negative_voltage_limit_of_the_car_never_makes_a_negative_target() {
        let mut charging = Charging::new();
        charging.ev.max_voltage = Some(Volts(-1.0));
        charging.deliver(400.0, 10.0, false, &status(Limits::DEFAULT));
        assert!(matches!(
            charging.demand.power,
            PowerDemand::Deliver { voltage, .. } if voltage == Volts::ZERO
        ));
    }

    #[test]
    fn discharge_flags_the_binding_discharge_limit() {
        let limits = Limits {
            max_discharge_current: Amps(20.0),
            max_discharge_power: Watts(11_000.0),
            ..Limits::DEFAULT
        };
        // -30 A: the 20 A discharge current binds (11 kW would allow 27.5 A).
        let (d, _) = Charging::new().deliver(400.0, -30.0, true, &status(limits));
        assert_eq!(flags(d), (true, false, false));
        // 4 kW allowed: 10 A at 400 V, the power binds.
        let limits = Limits {
            max_discharge_power: Watts(4_000.0),
            ..limits
        };
        let (d, _) = Charging::new().deliver(400.0, -30.0, true, &status(limits));
        assert_eq!(flags(d), (false, true, false));
        // Dynamic mode: -8 kW asked, 4 kW allowed.
        let d = Charging::new().deliver_power(-8_000.0, 400.0, &status(limits));
        assert_eq!(flags(d), (false, true, false));
    }
}
