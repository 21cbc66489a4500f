//! The button-and-LED logic, without I/O: LED patterns, when to sample the button, debouncing and
//! press counting. The hardware loop calls [`ButtonLedLogic::poll`] every [`POLL`].

use std::time::Duration;

use devices::LedMode;

/// How often the hardware loop polls.
pub const POLL: Duration = Duration::from_millis(10);
/// With the LED dark, the button can only be read during a short LED pulse (single-wire
/// circuit); one pulse every this many polls (50 ms) keeps the glow invisible and still catches
/// every human press.
const DARK_SAMPLE_EVERY: u64 = 5;
/// Consecutive equal samples needed to accept a new button state.
const DEBOUNCE_SAMPLES: u8 = 2;

/// What the hardware loop must do in one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollAction {
    /// The LED level after this poll.
    pub led: bool,
    /// Read the button now (with the LED line high if `pulse`).
    pub sample: bool,
    /// The LED is dark: raise it only briefly to read the button, then lower it again.
    pub pulse: bool,
}

/// Debounced press counting and LED pattern generation.
#[derive(Debug, Clone, Default)]
pub struct ButtonLedLogic {
    mode: LedMode,
    polls: u64,
    stable: bool,
    differing: u8,
    presses: u64,
}

impl ButtonLedLogic {
    /// Sets the LED mode.
    pub fn set_mode(&mut self, mode: LedMode) {
        self.mode = mode;
    }

    /// Presses counted so far.
    pub fn presses(&self) -> u64 {
        self.presses
    }

    /// The LED pattern: true = lit, for time `t` since start.
    pub fn pattern(mode: LedMode, t: Duration) -> bool {
        let ms = t.as_millis();
        match mode {
            LedMode::Off => false,
            LedMode::On => true,
            LedMode::BlinkSlow => (ms / 500).is_multiple_of(2),
            LedMode::BlinkFast => (ms / 125).is_multiple_of(2),
            // Within a 2 s cycle: lit for 100 ms at each flash's start.
            LedMode::Flash => ms % 2000 < 100,
            LedMode::DoubleFlash => {
                let c = ms % 2000;
                c < 100 || (250..350).contains(&c)
            }
            LedMode::Alert => {
                let c = ms % 2000;
                c < 750 && (c / 125).is_multiple_of(2)
            }
        }
    }

    /// The next poll's action. `needs_led` says whether the button can only be read with the LED
    /// line high (the FoccciCape's single wire).
    pub fn poll(&mut self, needs_led: bool) -> PollAction {
        let t = POLL * u32::try_from(self.polls).unwrap_or(u32::MAX);
        let led = Self::pattern(self.mode, t);
        let n = self.polls;
        self.polls += 1;
        if led || !needs_led {
            PollAction {
                led,
                sample: true,
                pulse: false,
            }
        } else {
            let sample = n.is_multiple_of(DARK_SAMPLE_EVERY);
            PollAction {
                led: false,
                sample,
                pulse: sample,
            }
        }
    }

    /// Feeds a button sample (true = pressed).
    pub fn sample(&mut self, pressed: bool) {
        if pressed == self.stable {
            self.differing = 0;
            return;
        }
        self.differing += 1;
        if self.differing >= DEBOUNCE_SAMPLES {
            self.stable = pressed;
            self.differing = 0;
            if pressed {
                self.presses += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_debounced_presses() {
        let mut l = ButtonLedLogic::default();
        for s in [true, false, true, false] {
            l.sample(s);
        }
        assert_eq!(l.presses(), 0, "bounces are not presses");
        l.sample(true);
        l.sample(true);
        assert_eq!(l.presses(), 1);
        l.sample(true);
        l.sample(false);
        l.sample(true);
        assert_eq!(l.presses(), 1, "a bounce while held");
        l.sample(false);
        l.sample(false);
        l.sample(true);
        l.sample(true);
        assert_eq!(l.presses(), 2);
    }

    #[test]
    fn dark_led_pulses_to_sample() {
        let mut l = ButtonLedLogic::default();
        let actions: Vec<_> = (0..10).map(|_| l.poll(true)).collect();
        assert_eq!(actions.iter().filter(|a| a.sample).count(), 2);
        assert!(actions.iter().all(|a| !a.led));
        assert!(actions.iter().filter(|a| a.sample).all(|a| a.pulse));
        // Without the shared wire, every poll samples without pulsing.
        assert!((0..10).map(|_| l.poll(false)).all(|a| a.sample && !a.pulse));
    }

    #[test]
    fn blink_patterns() {
        let ms = Duration::from_millis;
        assert!(ButtonLedLogic::pattern(LedMode::BlinkSlow, ms(100)));
        assert!(!ButtonLedLogic::pattern(LedMode::BlinkSlow, ms(600)));
        assert!(!ButtonLedLogic::pattern(LedMode::BlinkFast, ms(130)));
        assert!(ButtonLedLogic::pattern(LedMode::On, ms(1)));
        // Each pattern is lit for a recognisable share of its 2 s cycle.
        let lit = |mode| {
            (0..2000)
                .filter(|&t| ButtonLedLogic::pattern(mode, ms(t)))
                .count()
        };
        assert_eq!(lit(LedMode::Flash), 100);
        assert_eq!(lit(LedMode::DoubleFlash), 200);
        assert_eq!(lit(LedMode::Alert), 375);
        assert_eq!(lit(LedMode::BlinkSlow), 1000);
        let mut l = ButtonLedLogic::default();
        l.set_mode(LedMode::On);
        assert!(
            (0..10)
                .map(|_| l.poll(true))
                .all(|a| a.led && a.sample && !a.pulse)
        );
    }
}
