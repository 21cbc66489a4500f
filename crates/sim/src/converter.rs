//! The bidirectional converter (the hybrid inverter's battery port): follows its set-point with a
//! first-order lag, within its rating, with conversion losses, and falls back to 0 W when its
//! set-point goes stale.

use std::time::Duration;

use devices::{ConverterCommand, ConverterStatus, SetpointWatchdog};
use serde::{Deserialize, Serialize};
use units::{Timestamp, Watts, duration_str};

/// The simulated converter's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConverterParams {
    /// Largest charge power (AC side).
    pub max_charge_w: Watts,
    /// Largest discharge power (AC side).
    pub max_discharge_w: Watts,
    /// One-way conversion efficiency.
    pub efficiency: f64,
    /// Time constant of the power response.
    #[serde(with = "duration_str")]
    pub lag: Duration,
    /// A set-point older than this is replaced by 0 W.
    #[serde(with = "duration_str")]
    pub setpoint_timeout: Duration,
}

impl Default for ConverterParams {
    fn default() -> Self {
        Self {
            max_charge_w: Watts(5000.0),
            max_discharge_w: Watts(5000.0),
            efficiency: 0.97,
            lag: Duration::from_millis(800),
            setpoint_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Converter {
    pub(crate) params: ConverterParams,
    command: SetpointWatchdog<ConverterCommand>,
    /// AC power, + = charging the DC port.
    power: Watts,
    fault_until: Option<Timestamp>,
}

impl Converter {
    pub(crate) fn new(params: ConverterParams) -> Self {
        Self {
            command: SetpointWatchdog::new(ConverterCommand::SAFE, params.setpoint_timeout),
            params,
            power: Watts::ZERO,
            fault_until: None,
        }
    }

    pub(crate) fn command(&mut self, now: Timestamp, cmd: ConverterCommand) {
        self.command.set(now, cmd);
    }

    /// The command in force at `now`, after the set-point watchdog.
    pub(crate) fn effective(&self, now: Timestamp) -> ConverterCommand {
        self.command.effective(now)
    }

    pub(crate) fn inject_fault(&mut self, until: Timestamp) {
        self.fault_until = Some(until);
    }

    fn faulted(&self, now: Timestamp) -> bool {
        self.fault_until.is_some_and(|u| now < u)
    }

    /// The AC power the converter aims for at `now`, after its lag over `dt`.
    pub(crate) fn target(&self, now: Timestamp, dt: f64) -> Watts {
        let cmd = self.command.effective(now);
        let setpoint = if cmd.enabled && !self.faulted(now) {
            cmd.power_w
                .clamp(-self.params.max_discharge_w, self.params.max_charge_w)
        } else {
            Watts::ZERO
        };
        let k = 1.0 - (-dt / self.params.lag.as_secs_f64().max(1e-3)).exp();
        self.power + (setpoint - self.power) * k
    }

    /// DC power for an AC power (+ = into the DC port).
    pub(crate) fn dc_for_ac(&self, ac: Watts) -> Watts {
        if ac.0 >= 0.0 {
            ac * self.params.efficiency
        } else {
            ac / self.params.efficiency
        }
    }

    /// AC power for what actually flowed on the DC side.
    pub(crate) fn ac_for_dc(&self, dc: Watts) -> Watts {
        if dc.0 >= 0.0 {
            dc / self.params.efficiency
        } else {
            dc * self.params.efficiency
        }
    }

    pub(crate) fn set_power(&mut self, ac: Watts) {
        self.power = ac;
    }

    pub(crate) fn status(&self, now: Timestamp) -> ConverterStatus {
        let cmd = self.command.effective(now);
        ConverterStatus {
            power_w: self.power,
            dc_voltage_v: None,
            enabled: cmd.enabled && !self.faulted(now),
            fault: self.faulted(now),
        }
    }
}
