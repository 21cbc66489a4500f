use std::time::Duration;

use units::Timestamp;

/// Holds a set-point and falls back to a safe value once the set-point is older than its timeout.
///
/// Every actuator backend keeps its set-points in one of these and applies
/// [`effective`](Self::effective) each time it writes to the hardware, so a controller that stops
/// sending (crash, hang, lost MQTT peer) cannot leave power flowing: the Python controller this
/// project replaces fell back to 0 W after 5 s without a set-point, and so do we by default.
#[derive(Debug, Clone)]
pub struct SetpointWatchdog<T> {
    value: T,
    safe: T,
    set_at: Option<Timestamp>,
    timeout: Duration,
}

impl<T: Copy> SetpointWatchdog<T> {
    /// A watchdog that starts in the safe state.
    pub fn new(safe: T, timeout: Duration) -> Self {
        Self {
            value: safe,
            safe,
            set_at: None,
            timeout,
        }
    }

    /// Stores a new set-point received at `now`.
    pub fn set(&mut self, now: Timestamp, value: T) {
        self.value = value;
        self.set_at = Some(now);
    }

    /// Forgets the set-point: the safe value applies from now on.
    pub fn reset(&mut self) {
        self.value = self.safe;
        self.set_at = None;
    }

    /// True if no set-point was received within the timeout before `now`.
    pub fn is_stale(&self, now: Timestamp) -> bool {
        match self.set_at {
            Some(at) => now.saturating_duration_since(at) > self.timeout,
            None => true,
        }
    }

    /// The value to apply at `now`: the set-point while it is fresh, else the safe value.
    pub fn effective(&self, now: Timestamp) -> T {
        if self.is_stale(now) {
            self.safe
        } else {
            self.value
        }
    }

    /// The configured timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_back_after_timeout_and_recovers_on_new_setpoint() {
        let t0 = Timestamp::from_unix_secs(100);
        let mut w = SetpointWatchdog::new(0.0_f64, Duration::from_secs(5));
        assert_eq!(w.effective(t0), 0.0, "safe until the first set-point");
        w.set(t0, 2000.0);
        assert_eq!(w.effective(t0 + Duration::from_secs(5)), 2000.0);
        assert_eq!(w.effective(t0 + Duration::from_millis(5001)), 0.0);
        assert!(w.is_stale(t0 + Duration::from_millis(5001)));
        w.set(t0 + Duration::from_secs(6), -1500.0);
        assert_eq!(w.effective(t0 + Duration::from_secs(7)), -1500.0);
        w.reset();
        assert_eq!(w.effective(t0 + Duration::from_secs(7)), 0.0);
    }
}
