//! Device roles: one small trait per role, each with a documented contract, sign convention and
//! safe state.
//!
//! A role trait is a *facade over the latest known state* plus set-point methods. It never blocks:
//! a hardware backend runs its own I/O task (polling Modbus, reading CAN, writing GPIO) and the
//! trait methods read or replace what that task last saw or should write next. This keeps the
//! site controller synchronous and deterministic, and lets the simulation step every device in
//! lock-step on virtual time.
//!
//! Every reading carries the time it was taken ([`Stamped`]), so staleness is decided by the
//! controller, against the injected clock, not hidden inside a backend.
//!
//! # Safe states
//! Every actuator documents the state it falls back to on stale set-points, lost peers, errors and
//! shutdown. Backends enforce their own set-point timeout with [`SetpointWatchdog`], so a stalled
//! controller cannot leave power flowing.
//!
//! | role | safe state |
//! |---|---|
//! | [`Converter`] | disabled, 0 W |
//! | [`ChargePoint`] | limits 0 W (the charger ramps the session down and ends it) |
//! | [`ControlPilot`] | −12 V, state F (unavailable: the car opens its contactors) |
//! | [`DcPowerStage`] | off: current ramped to 0, output contactors open, output discharged |
//! | [`IsolationMonitor`] | not testing |
//! | [`PvInverter`] | its configured fallback limit (none by default: full output) |
//! | [`Relay`] | off (de-energised) |
//! | [`ButtonLed`] | LED off |

mod battery;
mod button;
mod charge_point;
pub mod config;
mod converter;
mod dc;
mod health;
mod meter;
mod pilot;
mod pv;
mod relay;
mod tariff;
mod watchdog;

use std::time::Duration;

use serde::Serialize;
use units::Timestamp;

pub use battery::{Bms, BmsAlarm, BmsAlarms, BmsState};
pub use button::{ButtonLed, LedMode};
pub use charge_point::{
    ChargeLimits, ChargePoint, ChargePointState, ChargePointStatus, ChargeProtocol, SessionOutcome,
};
pub use converter::{Converter, ConverterCommand, ConverterStatus, PortConverter, SiteConverter};
pub use dc::{DcPowerStage, Isolation, IsolationMonitor, StageCommand, StageFault, StageStatus};
pub use health::{DeviceStatus, Health, HealthCell, Monitored};
pub use meter::{GridMeter, GridReading};
pub use pilot::{ControlPilot, PilotReading, PilotSignal};
pub use pv::{PvInverter, PvStatus};
pub use relay::Relay;
pub use tariff::{FixedTariff, PriceSlot, Tariff};
pub use watchdog::SetpointWatchdog;

/// A value and the time it was measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stamped<T> {
    /// When the value was measured (not when it was read from the backend).
    pub at: Timestamp,
    /// The value.
    #[serde(flatten)]
    pub value: T,
}

impl<T> Stamped<T> {
    /// Stamps `value` with `at`.
    pub fn new(at: Timestamp, value: T) -> Self {
        Self { at, value }
    }

    /// How old the value is at `now` (zero if it claims to come from the future).
    pub fn age(&self, now: Timestamp) -> Duration {
        now.saturating_duration_since(self.at)
    }

    /// The value if it is at most `max_age` old at `now`.
    pub fn fresh(&self, now: Timestamp, max_age: Duration) -> Option<&T> {
        (self.age(now) <= max_age).then_some(&self.value)
    }
}

/// Why a device did not do what it was asked. Each variant names who is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The device did not answer in time (cable, power, address?).
    #[error("{device}: no answer within {timeout:?}")]
    Timeout {
        /// The configured device name.
        device: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// Our side of the link is not usable (interface down, port busy, permission).
    #[error("{device}: link unusable: {reason}")]
    Link {
        /// The configured device name.
        device: String,
        /// What the operating system said.
        reason: String,
    },
    /// The device answered but refused the command (exception code, NAK, out of range).
    #[error("{device}: refused the command: {reason}")]
    Rejected {
        /// The configured device name.
        device: String,
        /// What the device said.
        reason: String,
    },
    /// The device sent data we cannot use (bad checksum, impossible value).
    #[error("{device}: sent invalid data: {reason}")]
    InvalidData {
        /// The configured device name.
        device: String,
        /// What was wrong.
        reason: String,
    },
}
