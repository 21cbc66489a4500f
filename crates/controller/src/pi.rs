//! The grid power loop: a PI controller in velocity form.
//!
//! Velocity form (`u += -kp·Δe − ki·e·dt`) keeps the output itself as the only state, so clamping
//! the output to the battery's limits is all the anti-windup it needs, and a change of limits
//! never makes the set-point jump.

use std::time::Duration;

use units::{Timestamp, Watts};

/// Samples further apart than this are treated as this far apart, so a long outage does not
/// produce one huge integral step when the meter comes back.
const MAX_DT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub(crate) struct GridLoop {
    output: Watts,
    last_error: Option<Watts>,
    last_sample: Option<Timestamp>,
}

impl GridLoop {
    pub(crate) fn new() -> Self {
        Self {
            output: Watts::ZERO,
            last_error: None,
            last_sample: None,
        }
    }

    /// Restarts the loop from `output` (mode or port changes, lost meter).
    pub(crate) fn reset(&mut self, output: Watts) {
        self.output = output;
        self.last_error = None;
        self.last_sample = None;
    }

    /// Feeds a grid sample taken at `at` and returns the set-point (+ = charge) within
    /// `[lo, hi]`. A sample already seen (same stamp) only re-applies the limits: the loop must
    /// integrate each measurement once, however often the controller ticks.
    pub(crate) fn update(
        &mut self,
        at: Timestamp,
        grid: Watts,
        target: Watts,
        (kp, ki): (f64, f64),
        (lo, hi): (Watts, Watts),
    ) -> Watts {
        if self.last_sample.is_none_or(|last| at > last) {
            let dt = self
                .last_sample
                .map_or(Duration::from_secs(1), |last| {
                    at.saturating_duration_since(last)
                })
                .min(MAX_DT);
            // Importing more than the target (error > 0) means: charge less / discharge more.
            let error = grid - target;
            let delta_error = self.last_error.map_or(Watts::ZERO, |last| error - last);
            self.output = self.output - delta_error * kp - error * (ki * dt.as_secs_f64());
            self.last_error = Some(error);
            self.last_sample = Some(at);
        }
        self.output = self.output.clamp(lo, hi);
        self.output
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_each_sample_once_and_respects_limits() {
        let mut l = GridLoop::new();
        let t = Timestamp::from_unix_secs(0);
        let lim = (Watts(-5000.0), Watts(5000.0));
        let a = l.update(t, Watts(1000.0), Watts::ZERO, (0.3, 0.5), lim);
        assert!(
            (a.0 + 500.0).abs() < 1e-9,
            "integral only on the first sample: {a}"
        );
        let b = l.update(t, Watts(1000.0), Watts::ZERO, (0.3, 0.5), lim);
        assert_eq!(a, b, "the same sample is not integrated twice");
        let c = l.update(
            t,
            Watts(1000.0),
            Watts::ZERO,
            (0.3, 0.5),
            (Watts(-100.0), lim.1),
        );
        assert_eq!(c, Watts(-100.0), "clamped to a tighter limit");
        let d = l.update(
            t + Duration::from_secs(1),
            Watts(-200.0),
            Watts::ZERO,
            (0.3, 0.5),
            lim,
        );
        // Δe = −1200 → +360, −e·ki = +100: from −100 to +360.
        assert!((d.0 - 360.0).abs() < 1e-9, "{d}");
    }
}
