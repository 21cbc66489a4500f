use serde::Serialize;
use units::{Timestamp, WattHours, Watts};

use crate::{DeviceError, Stamped};

/// State of a PV inverter.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct PvStatus {
    /// AC output power, ≥ 0.
    pub power_w: Watts,
    /// The output limit in effect, `None` if not curtailed.
    pub limit_w: Option<Watts>,
    /// Nameplate AC power.
    pub rated_w: Watts,
    /// Lifetime energy counter, if reported.
    pub energy_wh: Option<WattHours>,
}

/// A PV inverter whose output can be curtailed (feed-in limits, negative prices).
///
/// Safe state: the backend's configured fallback limit, which is applied when no limit was set
/// within the backend's set-point timeout, on errors and on shutdown. It is "no limit" unless the
/// installation has a legal export limit, in which case it should be configured to that.
pub trait PvInverter: Send {
    /// The newest status.
    fn status(&self) -> Option<Stamped<PvStatus>>;

    /// Limits the AC output to `limit` (`None` removes the limit). Must be repeated at least
    /// once per set-point timeout, or the backend falls back to its safe state.
    fn set_limit(&mut self, now: Timestamp, limit: Option<Watts>) -> Result<(), DeviceError>;

    /// Goes to the safe state: the configured fallback limit.
    fn safe_state(&mut self, now: Timestamp) -> Result<(), DeviceError>;
}
