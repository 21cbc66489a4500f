use serde::Serialize;
use units::{Timestamp, Volts, Watts};

use crate::{DeviceError, Stamped};

/// What the controller asks of the power converter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConverterCommand {
    /// False stops the converter (alarm, off mode, shutdown).
    pub enabled: bool,
    /// AC power set-point. **Positive = charging the DC port** (AC → DC), negative = discharging
    /// it into the house.
    pub power_w: Watts,
}

impl ConverterCommand {
    /// The converter's safe state: stopped, 0 W.
    pub const SAFE: Self = Self {
        enabled: false,
        power_w: Watts::ZERO,
    };
}

/// State of the power converter.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ConverterStatus {
    /// Measured AC power, same sign as the set-point (+ = charging the DC port).
    pub power_w: Watts,
    /// DC port voltage, if measured.
    pub dc_voltage_v: Option<Volts>,
    /// True while the converter runs.
    pub enabled: bool,
    /// True if the converter reports a fault and will not follow set-points.
    pub fault: bool,
}

/// A bidirectional power converter between the house's AC bus and a DC port: the hybrid
/// inverter's battery port. On the reference installation a changeover relay connects that port
/// either to the home battery or, through the CCS inlet, to the car.
///
/// Safe state: disabled, 0 W. A backend applies a [`SetpointWatchdog`](crate::SetpointWatchdog):
/// a set-point older than its timeout (default 5 s) is replaced by 0 W.
pub trait Converter: Send {
    /// The newest status.
    fn status(&self) -> Option<Stamped<ConverterStatus>>;

    /// Applies a command. Must be repeated at least once per set-point timeout.
    fn command(&mut self, now: Timestamp, cmd: ConverterCommand) -> Result<(), DeviceError>;

    /// Goes to the safe state: disabled, 0 W.
    fn safe_state(&mut self, now: Timestamp) -> Result<(), DeviceError> {
        self.command(now, ConverterCommand::SAFE)
    }
}
