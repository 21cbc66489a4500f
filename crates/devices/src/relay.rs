use units::Timestamp;

use crate::{DeviceError, Stamped};

/// A switched output (relay driver, contactor, SG-Ready input).
///
/// Safe state: **off** (de-energised), on errors and on shutdown. A relay is not watched by a
/// set-point timeout: it holds its state until told otherwise, because loads such as heat pumps
/// must not chatter when the controller restarts; the controller switches it off explicitly.
pub trait Relay: Send {
    /// Switches the relay.
    fn set(&mut self, now: Timestamp, on: bool) -> Result<(), DeviceError>;

    /// The state the relay was last read back in, stamped with when it was read, or `None` if
    /// unknown (no read-back yet, or it failed). The stamp lets a caller tell stale feedback
    /// (a read-back that stopped coming) from a fresh one: a contactor's auxiliary contact read
    /// a minute ago proves nothing about now.
    fn feedback(&self) -> Option<Stamped<bool>>;

    /// The state the relay is known to be in, however old the read-back.
    fn is_on(&self) -> Option<bool> {
        self.feedback().map(|f| f.value)
    }

    /// Goes to the safe state: off.
    fn safe_state(&mut self, now: Timestamp) -> Result<(), DeviceError> {
        self.set(now, false)
    }
}
