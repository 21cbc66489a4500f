use units::Timestamp;

use crate::DeviceError;

/// A switched output (relay driver, contactor, SG-Ready input).
///
/// Safe state: **off** (de-energised), on errors and on shutdown. A relay is not watched by a
/// set-point timeout: it holds its state until told otherwise, because loads such as heat pumps
/// must not chatter when the controller restarts; the controller switches it off explicitly.
pub trait Relay: Send {
    /// Switches the relay.
    fn set(&mut self, now: Timestamp, on: bool) -> Result<(), DeviceError>;

    /// The state the relay is known to be in, or `None` if unknown (read-back failed).
    fn is_on(&self) -> Option<bool>;

    /// Goes to the safe state: off.
    fn safe_state(&mut self, now: Timestamp) -> Result<(), DeviceError> {
        self.set(now, false)
    }
}
