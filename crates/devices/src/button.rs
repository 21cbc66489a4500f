use serde::{Deserialize, Serialize};
use units::Timestamp;

use crate::DeviceError;

/// What the indicator LED shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LedMode {
    /// Dark.
    #[default]
    Off,
    /// Lit.
    On,
    /// About 1 Hz: waiting (for a car, for the user).
    BlinkSlow,
    /// About 4 Hz: attention (a session being set up, a transition in progress).
    BlinkFast,
    /// A short flash every 2 s: ready, nothing connected.
    Flash,
    /// Two short flashes every 2 s: power flows out of the car (V2H).
    DoubleFlash,
    /// Three fast flashes, then a pause, every 2 s: a fault needs the user.
    Alert,
}

/// A push button with an indicator LED (on the FoccciCape both share one wire: the LED must be
/// driven high to read the button, which the backend hides).
///
/// Safe state: LED off.
pub trait ButtonLed: Send {
    /// How many presses were seen since start. A counter rather than a level, so that a short
    /// press between two controller ticks is never lost.
    fn presses(&self) -> u64;

    /// Sets the LED.
    fn set_led(&mut self, now: Timestamp, mode: LedMode) -> Result<(), DeviceError>;

    /// Goes to the safe state: LED off.
    fn safe_state(&mut self, now: Timestamp) -> Result<(), DeviceError> {
        self.set_led(now, LedMode::Off)
    }
}
