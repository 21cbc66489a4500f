//! The DC port of the hybrid-inverter topology, sans-IO: one converter whose high-voltage port a
//! changeover relay connects either to the home battery or, through the CCS inlet, to the car;
//! a precharge relay that raises the inlet to the car's voltage (the FoccciCape's precharge
//! supply); the site's converter or the charge point's, never both.
//!
//! The sequence, one state per step of it:
//!
//! ```text
//! Stationary ──session needs the port─▶ Claiming ──converter idle for `settle`──▶ Switching
//!     ▲                                  │ (car gone: relay never moved)           │ settle, read-back on
//!     │                                  ▼                                         ▼
//! Returning ◀──idle for `settle`── Releasing ◀──demand off, car gone, not allowed── Connected
//!  (relay off; read-back must follow: welding check)                 (precharge relay during PreCharge,
//!                                                                     converter during delivery)
//! ```
//!
//! **Architecture invariants** (property-tested in `tests/port.rs`):
//! - the changeover relay only moves while the converter is commanded off and its measured power
//!   has been below `idle_w` for `settle` (never with unknown power);
//! - exactly one owner commands the converter: the site in `Stationary`, the charge point in
//!   every other state ([`PortCommands::converter`] is `Some` exactly then);
//! - the precharge relay is on only while the port is on the car and the session demands
//!   PreCharge;
//! - current flows only in `Connected` with a Deliver demand, within the site's grant.
//!
//! A relay whose read-back disagrees with its command for `feedback_timeout` (welded, or not
//! switching), or whose read-back is stale while it matters, latches `Fault`: everything off,
//! the converter held off by the charge point so the site cannot run it into the wrong store,
//! until the read-back shows the relay open again.

use std::time::Duration;

use devices::{ChargeLimits, ConverterCommand, ConverterStatus, Stamped};
use serde::Serialize;
use tracing::debug;
use units::{Amps, Timestamp, Volts, Watts};
use v2g::charger::{Demand, PowerDemand};

use crate::pilot::CpState;

/// How far below the pre-charge target the inlet may sag before the precharge relay closes
/// again (cars accept ±20 V).
pub const PRECHARGE_HYSTERESIS: Volts = Volts(10.0);

/// Tuning of the sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PortConfig {
    /// The converter counts as idle below this measured power.
    pub idle_w: Watts,
    /// How long the converter must be idle before a relay moves, and how long a relay takes to
    /// settle after it moved.
    pub settle: Duration,
    /// How long a relay's read-back may disagree with its command before it is a fault.
    pub feedback_timeout: Duration,
    /// Converter readings older than this count as unknown.
    pub converter_timeout: Duration,
}

impl Default for PortConfig {
    fn default() -> Self {
        Self {
            idle_w: Watts(50.0),
            settle: Duration::from_secs(1),
            feedback_timeout: Duration::from_secs(2),
            converter_timeout: Duration::from_secs(5),
        }
    }
}

/// Where the port's sequence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum PortState {
    /// On the home battery; the site commands the converter.
    Stationary,
    /// The car asks for power: the converter is stopped, waiting until it is idle.
    Claiming {
        /// When the converter was commanded off.
        since: Timestamp,
        /// The first reading since then that showed it idle, if the newest still does.
        idle_since: Option<Timestamp>,
    },
    /// The changeover relay moved to the car; waiting for it to settle.
    Switching {
        /// When it was commanded.
        since: Timestamp,
    },
    /// On the car: pre-charge, then delivery.
    Connected,
    /// The session is over or the car gone: current to zero, waiting until the converter is idle.
    Releasing {
        /// When the converter was commanded off.
        since: Timestamp,
        /// The first reading since then that showed it idle, if the newest still does.
        idle_since: Option<Timestamp>,
    },
    /// The changeover relay moved back; waiting for it to settle and its read-back to follow.
    Returning {
        /// When it was commanded.
        since: Timestamp,
    },
    /// A relay did not do what it was told. Everything off until its read-back shows it open.
    Fault,
}

/// What the session and the site ask of the port, and what the hardware says, at one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PortInputs {
    /// The session's demand now (`Demand::OFF` without a session).
    pub demand: Demand,
    /// The session needs the port: from CableCheck until it ends (between its requests the
    /// demand may be off for a moment; the port stays).
    pub session_needs_port: bool,
    /// The car's state on the pilot.
    pub pilot: CpState,
    /// Whether the site and the user allow this car to be served (mode, button, enable).
    pub allowed: bool,
    /// What the site grants (stale grants are the caller's to zero).
    pub grant: ChargeLimits,
    /// The converter's newest status.
    pub converter: Option<Stamped<ConverterStatus>>,
    /// The changeover relay's read-back (`None`: it has none).
    pub changeover: Option<Stamped<bool>>,
    /// The precharge relay's read-back (`None`: it has none).
    pub precharge: Option<Stamped<bool>>,
    /// The inlet voltage, measured.
    pub inlet_voltage: Option<Volts>,
    /// Whether power may flow out of the car: an ISO 15118-20 BPT session, or (opt-in) a DIN
    /// 70121 / ISO 15118-2 session within the configured V2H limits. Without it the converter
    /// never draws from the car, whatever the grant says.
    pub may_discharge: bool,
}

/// What the port's owner must apply after a step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PortCommands {
    /// The changeover relay (true: the converter's port on the car).
    pub changeover: bool,
    /// The precharge relay.
    pub precharge: bool,
    /// The converter command while the charge point owns the converter; `None`: the site's.
    pub converter: Option<ConverterCommand>,
}

/// Why the port is in [`PortState::Fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortFault {
    /// The changeover relay's read-back disagreed with its command.
    Changeover,
    /// The precharge relay's read-back disagreed with its command.
    Precharge,
}

/// The DC port's sequence. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct DcPort {
    config: PortConfig,
    state: PortState,
    fault: Option<PortFault>,
    changeover_mismatch: Option<Timestamp>,
    precharge_mismatch: Option<Timestamp>,
    /// The precharge relay's last command, for its hysteresis.
    last_precharge: bool,
    last: PortCommands,
}

impl DcPort {
    /// On the home battery, relays off.
    pub fn new(config: PortConfig) -> Self {
        Self {
            config,
            state: PortState::Stationary,
            fault: None,
            changeover_mismatch: None,
            precharge_mismatch: None,
            last_precharge: false,
            last: PortCommands {
                changeover: false,
                precharge: false,
                converter: None,
            },
        }
    }

    /// Where the sequence is.
    pub fn state(&self) -> PortState {
        self.state
    }

    /// Why it is in `Fault`, if it is.
    pub fn fault(&self) -> Option<PortFault> {
        self.fault
    }

    /// Whether the port is on the car and settled (pre-charge and delivery may happen).
    pub fn connected(&self) -> bool {
        self.state == PortState::Connected
    }

    /// Whether the charge point commands the converter now (else the site does).
    pub fn owns_converter(&self) -> bool {
        self.state != PortState::Stationary
    }

    /// The commands of the last step.
    pub fn commands(&self) -> PortCommands {
        self.last
    }

    /// One step at `now`: advances the sequence and returns what to apply.
    pub fn step(&mut self, now: Timestamp, inp: &PortInputs) -> PortCommands {
        let cfg = self.config;
        let settled = |since: Timestamp| now.saturating_duration_since(since) >= cfg.settle;
        let reading = inp
            .converter
            .filter(|s| s.age(now) <= cfg.converter_timeout);
        let converter = reading.map(|s| s.value);
        // Idle means measured small, by readings taken after the converter was commanded off
        // (`off_since`), for the whole settle time: an older reading says nothing of now, and an
        // unknown converter is never idle.
        let track = |off_since: Timestamp, idle_since: Option<Timestamp>| match reading {
            Some(r) if r.at >= off_since && r.value.power_w.abs() < cfg.idle_w => {
                Some(idle_since.unwrap_or(r.at))
            }
            _ => None,
        };
        let quiet = |idle_since: Option<Timestamp>| {
            matches!((idle_since, reading), (Some(first), Some(r))
                if r.at.saturating_duration_since(first) >= cfg.settle)
        };
        let car_asks = inp.allowed
            && self.fault.is_none()
            && inp.pilot.car_connected()
            && inp.session_needs_port
            && !converter.is_some_and(|c| c.fault);

        let release = PortState::Releasing {
            since: now,
            idle_since: None,
        };
        let before = self.state;
        self.state = match self.state {
            PortState::Stationary if car_asks => PortState::Claiming {
                since: now,
                idle_since: None,
            },
            PortState::Claiming { .. } if !car_asks => PortState::Stationary,
            PortState::Claiming { since, idle_since } => match track(since, idle_since) {
                idle_since if quiet(idle_since) => PortState::Switching { since: now },
                idle_since => PortState::Claiming { since, idle_since },
            },
            // The converter has been off since the claim: the watch goes on.
            PortState::Switching { .. } if !car_asks => PortState::Releasing {
                since: now,
                idle_since: None,
            },
            PortState::Switching { since }
                if settled(since) && feedback_agrees(inp.changeover, true, now, cfg) =>
            {
                PortState::Connected
            }
            PortState::Connected if !car_asks => release,
            PortState::Releasing { since, idle_since } => match track(since, idle_since) {
                idle_since if quiet(idle_since) => PortState::Returning { since: now },
                idle_since => PortState::Releasing { since, idle_since },
            },
            PortState::Returning { since }
                if settled(since) && feedback_agrees(inp.changeover, false, now, cfg) =>
            {
                PortState::Stationary
            }
            PortState::Fault
                if feedback_agrees(inp.changeover, false, now, cfg)
                    && feedback_agrees(inp.precharge, false, now, cfg)
                    && !inp.pilot.energy_allowed() =>
            {
                self.fault = None;
                PortState::Stationary
            }
            s => s,
        };

        let changeover = matches!(
            self.state,
            PortState::Switching { .. } | PortState::Connected | PortState::Releasing { .. }
        );
        let precharge = self.state == PortState::Connected && self.precharging(inp);

        // Read-back checks: a welded or dead relay latches the fault. The changeover relay still
        // never moves under load: with it on the car, the fault goes through Releasing (current
        // to zero, idle, relay off) and ends in Fault once the relay is commanded off.
        if self.fault.is_none()
            && let Some(fault) = self.check_feedback(now, inp, changeover, precharge)
        {
            self.fault = Some(fault);
        }
        if self.fault.is_some() {
            self.state = match self.state {
                PortState::Switching { .. } | PortState::Connected => release,
                PortState::Releasing { .. } | PortState::Fault => self.state,
                // The changeover relay is (being) opened: hold everything off there.
                PortState::Stationary
                | PortState::Claiming { .. }
                | PortState::Returning { .. } => PortState::Fault,
            };
        }
        let changeover = matches!(
            self.state,
            PortState::Switching { .. } | PortState::Connected | PortState::Releasing { .. }
        );
        let precharge = self.state == PortState::Connected && self.precharging(inp);
        self.last_precharge = precharge;

        if std::mem::discriminant(&self.state) != std::mem::discriminant(&before) {
            debug!(state = ?self.state, fault = ?self.fault, "DC port");
        }
        if precharge != self.last.precharge {
            debug!(precharge, inlet = ?inp.inlet_voltage, "precharge relay");
        }
        self.last = match self.state {
            PortState::Stationary => PortCommands {
                changeover: false,
                precharge: false,
                converter: None,
            },
            PortState::Fault => PortCommands {
                changeover: false,
                precharge: false,
                converter: Some(ConverterCommand::SAFE),
            },
            PortState::Connected => PortCommands {
                changeover: true,
                precharge,
                converter: Some(deliver(inp, converter)),
            },
            _ => PortCommands {
                changeover,
                precharge: false,
                converter: Some(ConverterCommand::SAFE),
            },
        };
        self.last
    }

    /// Whether the precharge relay should be closed: during PreCharge, until the inlet reaches
    /// the car's target voltage, and again once it has sagged [`PRECHARGE_HYSTERESIS`] below.
    /// The precharge supply is not regulated (the FoccciCape's charges towards its source
    /// voltage): the relay regulates it. Without a measured inlet voltage, on throughout.
    fn precharging(&self, inp: &PortInputs) -> bool {
        let PowerDemand::PreCharge { voltage, .. } = inp.demand.power else {
            return false;
        };
        match inp.inlet_voltage {
            Some(v) if self.last_precharge => v < voltage,
            Some(v) => v.0 < voltage.0 - PRECHARGE_HYSTERESIS.0,
            None => true,
        }
    }

    fn check_feedback(
        &mut self,
        now: Timestamp,
        inp: &PortInputs,
        changeover: bool,
        precharge: bool,
    ) -> Option<PortFault> {
        let cfg = self.config;
        // A relay that just moved gets `feedback_timeout` to follow; the clock starts at the
        // first disagreeing (or stale) read-back after the command.
        let check = |fb: Option<Stamped<bool>>, want: bool, since: &mut Option<Timestamp>| {
            if feedback_agrees(fb, want, now, cfg) {
                *since = None;
                false
            } else {
                let first = *since.get_or_insert(now);
                now.saturating_duration_since(first) >= cfg.feedback_timeout
            }
        };
        if check(inp.changeover, changeover, &mut self.changeover_mismatch) {
            return Some(PortFault::Changeover);
        }
        if check(inp.precharge, precharge, &mut self.precharge_mismatch) {
            return Some(PortFault::Precharge);
        }
        None
    }
}

/// Whether a relay's read-back shows `want`: no read-back at all counts as agreeing (the
/// relay has none); one older than the feedback timeout does not.
fn feedback_agrees(fb: Option<Stamped<bool>>, want: bool, now: Timestamp, cfg: PortConfig) -> bool {
    match fb {
        None => true,
        Some(fb) => fb.value == want && fb.age(now) <= cfg.feedback_timeout,
    }
}

/// The converter command on the car: only in delivery, the car's current at the inlet voltage,
/// within the site's grant. Negative (out of the car) only if the site grants discharge.
fn deliver(inp: &PortInputs, converter: Option<ConverterStatus>) -> ConverterCommand {
    let PowerDemand::Deliver { voltage, current } = inp.demand.power else {
        return ConverterCommand::SAFE;
    };
    let Some(status) = converter.filter(|c| !c.fault) else {
        return ConverterCommand::SAFE;
    };
    // Power is the converter's unit: the car's current at the voltage the inlet has now (its
    // battery, once its contactors are closed), not at its voltage limit.
    let at = inp
        .inlet_voltage
        .or(status.dc_voltage_v)
        .filter(|v| v.0.is_finite() && v.0 > 0.0)
        .unwrap_or(voltage);
    let wanted = Watts(current.0 * at.0);
    let wanted = match inp.grant.setpoint_w {
        // Where the site decides (V2H holding the grid at zero, dynamic mode), its set-point,
        // but never more into the car than the car asks.
        Some(sp) => sp
            .min(wanted.max(Watts::ZERO))
            .max(-inp.grant.max_discharge_w),
        None => wanted,
    };
    let floor = if inp.may_discharge {
        -inp.grant.max_discharge_w.max(Watts::ZERO)
    } else {
        Watts::ZERO
    };
    let power = wanted.clamp(
        floor.min(Watts::ZERO),
        inp.grant.max_charge_w.max(Watts::ZERO),
    );
    let power = if power.0.is_finite() {
        power
    } else {
        Watts::ZERO
    };
    ConverterCommand {
        enabled: true,
        power_w: power,
    }
}

/// The current a converter running at `power` delivers at `voltage` (positive into the car).
pub fn current_at(power: Watts, voltage: Volts) -> Amps {
    if voltage.0 > 1.0 && power.0.is_finite() {
        Amps(power.0 / voltage.0)
    } else {
        Amps::ZERO
    }
}
