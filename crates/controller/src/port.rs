//! The changeover sequence that moves the converter's DC port between the home battery and the
//! car.
//!
//! The relay carries high-voltage DC and must never switch under load: DC arcs do not extinguish
//! by themselves. So every change goes: stop the converter → wait until its measured power has
//! been below `idle_w` for `settle` → switch → wait `settle` → run again. If the converter's
//! power is unknown, the relay does not switch at all.

use devices::Stamped;
use serde::Serialize;
use units::Timestamp;

use crate::config::ChangeoverSettings;

/// Which energy store the converter's DC port feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Port {
    /// The home battery.
    Battery,
    /// The car, through the CCS inlet.
    Vehicle,
}

/// Where the changeover sequence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum PortState {
    /// Connected to the battery since `since` (relay off).
    Battery {
        /// When the relay reached this position.
        since: Timestamp,
    },
    /// Stopping the converter to switch to the car.
    ToVehicle {
        /// Since when the converter has been idle, if it is.
        idle_since: Option<Timestamp>,
    },
    /// Connected to the car since `since` (relay on).
    Vehicle {
        /// When the relay reached this position.
        since: Timestamp,
    },
    /// Stopping the converter to switch back to the battery.
    ToBattery {
        /// Since when the converter has been idle, if it is.
        idle_since: Option<Timestamp>,
    },
    /// The relay's read-back disagreed with its command for too long. The converter stays off
    /// and the relay is commanded off until its read-back says off.
    Fault,
}

/// What the sequence decides in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortDecision {
    /// The relay command (true = car).
    pub(crate) relay_on: bool,
    /// The port whose limits apply.
    pub(crate) port: Port,
    /// True if the converter may carry power now.
    pub(crate) may_run: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Changeover {
    state: PortState,
    mismatch_since: Option<Timestamp>,
}

impl Changeover {
    /// Starts on the battery. `settled_since` is when the relay last moved; at start-up, unknown
    /// but long ago.
    pub(crate) fn new(settled_since: Timestamp) -> Self {
        Self {
            state: PortState::Battery {
                since: settled_since,
            },
            mismatch_since: None,
        }
    }

    pub(crate) fn state(&self) -> PortState {
        self.state
    }

    /// The port is not ours to sequence: a charge point holds it (`held`) or not, and says
    /// whether the car takes power (`ready`). The state follows for the status and the LED.
    pub(crate) fn follow(&mut self, now: Timestamp, held: bool, ready: bool) -> PortDecision {
        self.mismatch_since = None;
        self.state = match (self.state, held) {
            (PortState::Vehicle { since }, true) => PortState::Vehicle { since },
            (_, true) => PortState::Vehicle { since: now },
            (PortState::Battery { since }, false) => PortState::Battery { since },
            (_, false) => PortState::Battery { since: now },
        };
        PortDecision {
            relay_on: false,
            port: if held { Port::Vehicle } else { Port::Battery },
            may_run: !held || ready,
        }
    }

    /// Advances the sequence.
    ///
    /// - `want_vehicle`: the car is ready and allowed;
    /// - `converter_idle`: the converter's measured power is below `idle_w`, `None` if unknown;
    /// - `feedback`: the relay's read-back, `None` if it has none; a read-back older than
    ///   `feedback_timeout` proves nothing and counts as disagreeing with any command.
    pub(crate) fn step(
        &mut self,
        now: Timestamp,
        cfg: &ChangeoverSettings,
        want_vehicle: bool,
        converter_idle: Option<bool>,
        feedback: Option<Stamped<bool>>,
    ) -> PortDecision {
        // `None`: no read-back fitted; `Some(None)`: a read-back that stopped coming.
        let feedback: Option<Option<bool>> =
            feedback.map(|f| (f.age(now) <= cfg.feedback_timeout).then_some(f.value));
        let settled = |since: Timestamp| now.saturating_duration_since(since) >= cfg.settle;
        let track_idle = |idle_since: Option<Timestamp>| match converter_idle {
            Some(true) => Some(idle_since.unwrap_or(now)),
            _ => None,
        };
        self.state = match self.state {
            PortState::Battery { .. } if want_vehicle => PortState::ToVehicle {
                idle_since: track_idle(None),
            },
            PortState::ToVehicle { .. } if !want_vehicle => PortState::Battery {
                // The relay never moved: the battery side may run again at once.
                since: now - cfg.settle,
            },
            PortState::ToVehicle { idle_since } => match track_idle(idle_since) {
                Some(idle) if settled(idle) => PortState::Vehicle { since: now },
                idle_since => PortState::ToVehicle { idle_since },
            },
            PortState::Vehicle { .. } if !want_vehicle => PortState::ToBattery {
                idle_since: track_idle(None),
            },
            PortState::ToBattery { idle_since } => match track_idle(idle_since) {
                Some(idle) if settled(idle) => PortState::Battery { since: now },
                idle_since => PortState::ToBattery { idle_since },
            },
            PortState::Fault if matches!(feedback, None | Some(Some(false))) => {
                self.mismatch_since = None;
                PortState::Battery { since: now }
            }
            s => s,
        };
        let relay_on = matches!(
            self.state,
            PortState::Vehicle { .. } | PortState::ToBattery { .. }
        );
        // Read-back check: a welded or unpowered relay must not let the converter run into the
        // wrong store.
        if let Some(fb) = feedback
            && fb != Some(relay_on)
            && self.state != PortState::Fault
        {
            let since = *self.mismatch_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= cfg.feedback_timeout {
                self.state = PortState::Fault;
            }
        } else {
            self.mismatch_since = None;
        }
        let feedback_ok = |want: bool| feedback.is_none_or(|fb| fb == Some(want));
        match self.state {
            PortState::Battery { since } => PortDecision {
                relay_on: false,
                port: Port::Battery,
                may_run: settled(since) && feedback_ok(false),
            },
            PortState::Vehicle { since } => PortDecision {
                relay_on: true,
                port: Port::Vehicle,
                may_run: settled(since) && feedback_ok(true),
            },
            PortState::ToVehicle { .. } => PortDecision {
                relay_on: false,
                port: Port::Battery,
                may_run: false,
            },
            PortState::ToBattery { .. } => PortDecision {
                relay_on: true,
                port: Port::Vehicle,
                may_run: false,
            },
            PortState::Fault => PortDecision {
                relay_on: false,
                port: Port::Battery,
                may_run: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_unix_micros(ms * 1000)
    }

    /// A read-back taken at `ms`.
    fn fb(ms: i64, on: bool) -> Option<Stamped<bool>> {
        Some(Stamped::new(t(ms), on))
    }

    #[test]
    fn never_switches_under_load_or_with_unknown_power() {
        let cfg = ChangeoverSettings::default();
        let mut c = Changeover::new(t(0));
        let d = c.step(t(2000), &cfg, true, Some(false), None);
        assert!(!d.may_run && !d.relay_on, "stopping first");
        // Still loaded for 10 s: no switch.
        for ms in (2100..12000).step_by(100) {
            assert!(!c.step(t(ms), &cfg, true, Some(false), None).relay_on);
        }
        // Unknown power: no switch either.
        for ms in (12000..20000).step_by(100) {
            assert!(!c.step(t(ms), &cfg, true, None, None).relay_on);
        }
        // Idle, but the settle time must pass first.
        assert!(!c.step(t(20000), &cfg, true, Some(true), None).relay_on);
        assert!(!c.step(t(20900), &cfg, true, Some(true), None).relay_on);
        let d = c.step(t(21000), &cfg, true, Some(true), None);
        assert!(d.relay_on && !d.may_run, "switched, settling");
        assert_eq!(d.port, Port::Vehicle);
        let d = c.step(t(22000), &cfg, true, Some(true), None);
        assert!(d.relay_on && d.may_run, "runs into the car after settling");
    }

    #[test]
    fn back_to_battery_when_the_car_stops() {
        let cfg = ChangeoverSettings::default();
        let mut c = Changeover::new(t(0));
        c.step(t(0), &cfg, true, Some(true), fb(0, false));
        c.step(t(1000), &cfg, true, Some(true), fb(1000, false));
        assert!(matches!(c.state(), PortState::Vehicle { .. }));
        let d = c.step(t(5000), &cfg, false, Some(false), fb(5000, true));
        assert!(d.relay_on && !d.may_run, "relay holds until idle");
        c.step(t(5500), &cfg, false, Some(true), fb(5500, true));
        let d = c.step(t(6500), &cfg, false, Some(true), fb(6500, true));
        assert!(!d.relay_on && !d.may_run);
        let d = c.step(t(7500), &cfg, false, Some(true), fb(7500, false));
        assert!(d.may_run && d.port == Port::Battery);
    }

    #[test]
    fn cancelled_changeover_resumes_at_once() {
        let cfg = ChangeoverSettings::default();
        let mut c = Changeover::new(t(0));
        c.step(t(5000), &cfg, true, Some(false), None);
        let d = c.step(t(5100), &cfg, false, Some(false), None);
        assert!(d.may_run && !d.relay_on);
    }

    #[test]
    fn relay_feedback_mismatch_faults_and_recovers() {
        let cfg = ChangeoverSettings {
            feedback_timeout: Duration::from_secs(3),
            ..Default::default()
        };
        let mut c = Changeover::new(t(0));
        // Commanded off, but the read-back says on (welded contact).
        assert!(
            !c.step(t(1000), &cfg, false, Some(true), fb(1000, true))
                .may_run
        );
        c.step(t(3900), &cfg, false, Some(true), fb(3900, true));
        assert_ne!(c.state(), PortState::Fault);
        c.step(t(4000), &cfg, false, Some(true), fb(4000, true));
        assert_eq!(c.state(), PortState::Fault);
        // No transition out while the read-back still says on, even if the car is ready.
        let d = c.step(t(9000), &cfg, true, Some(true), fb(9000, true));
        assert!(!d.may_run && !d.relay_on);
        c.step(t(10000), &cfg, false, Some(true), fb(10000, false));
        assert!(matches!(c.state(), PortState::Battery { .. }));
    }

    #[test]
    fn a_read_back_that_stops_coming_is_a_fault() {
        let cfg = ChangeoverSettings {
            feedback_timeout: Duration::from_secs(3),
            ..Default::default()
        };
        let mut c = Changeover::new(t(0));
        assert!(
            c.step(t(1000), &cfg, false, Some(true), fb(1000, false))
                .may_run
        );
        // The last read-back was taken at 1 s; by 4.1 s it proves nothing.
        assert!(
            !c.step(t(4100), &cfg, false, Some(true), fb(1000, false))
                .may_run
        );
        c.step(t(7200), &cfg, false, Some(true), fb(1000, false));
        assert_eq!(c.state(), PortState::Fault);
        // Fresh again, and off: recovered.
        c.step(t(8000), &cfg, false, Some(true), fb(8000, false));
        assert!(matches!(c.state(), PortState::Battery { .. }));
    }
}
