//! The control pilot (IEC 61851-1 Annex A), sans-IO: what the charger drives onto the pilot, and
//! the car's state it reads back.
//!
//! The charger drives +12 V (static: present, no charging offered), a 1 kHz ±12 V square wave at
//! 5 % (digital communication required: SLAC and a V2G session follow), or −12 V (state F:
//! unavailable). The car loads the positive half-wave through a diode and resistors, which
//! pull it down to the level of its state:
//!
//! | state | positive level | meaning |
//! |---|---|---|
//! | A | 12 V | no car |
//! | B | 9 V | car connected, not ready for energy |
//! | C | 6 V | car ready, energy may flow |
//! | D | 3 V | as C, with ventilation required |
//! | E | 0 V | pilot shorted to PE, or no power: error |
//! | F | −12 V | the charger itself signals unavailable |
//!
//! A reading is classified by bands between the nominal levels (boundaries at 10.5, 7.5, 4.5 and
//! 1.5 V), with [`PilotConfig::hysteresis`] around each boundary: the present state holds until a
//! reading is clearly beyond its band. A new state takes effect once every reading for
//! [`PilotConfig::debounce`] agrees (a connector being plugged bounces). While the signal
//! oscillates the negative plateau proves the car's diode: a car state without it (above
//! [`DIODE_MAX`]) is a diode fault. Readings older than [`PilotConfig::reading_timeout`] leave
//! the state unknown, which stops power as an error does.
//!
//! [`Pilot::toggle_ef`] drives state F for T_step_EF and then returns to the offer: a charger
//! restarts a car's SLAC that way after TT_EVSE_SLAC_init ([V2G3-M06-07]).

use std::collections::VecDeque;
use std::time::Duration;

use devices::{PilotReading, PilotSignal, Stamped};
use serde::Serialize;
use units::{Timestamp, Volts};

/// T_step_EF: the least time in state E or F when the charger toggles to restart the car's
/// SLAC (ISO 15118-3 Table A.1).
pub const T_STEP_EF: Duration = Duration::from_secs(4);

/// The negative plateau must be below this while the signal oscillates and a car is connected:
/// nominally −12 V; IEC 61851-1 allows −11 V at most ([`PilotConfig`] keeps a margin).
pub const DIODE_MAX: Volts = Volts(-10.0);

/// The car's state as the pilot shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CpState {
    /// No car.
    A,
    /// Car connected, not ready for energy.
    B,
    /// Car ready for energy.
    C,
    /// Car ready, ventilation required.
    D,
    /// Pilot at 0 V: shorted to PE, or the charger's pilot has no power.
    E,
    /// The charger drives −12 V (unavailable, or toggling to restart SLAC).
    F,
    /// No usable reading (none yet, too old, or between bands at start).
    Unknown,
}

impl CpState {
    /// A car is connected (B, C or D).
    pub fn car_connected(self) -> bool {
        matches!(self, Self::B | Self::C | Self::D)
    }

    /// The car has closed S2: it accepts energy (C or D).
    pub fn energy_allowed(self) -> bool {
        matches!(self, Self::C | Self::D)
    }

    /// The nominal positive level of each car-driven state.
    fn nominal(self) -> Option<f64> {
        match self {
            Self::A => Some(12.0),
            Self::B => Some(9.0),
            Self::C => Some(6.0),
            Self::D => Some(3.0),
            Self::E => Some(0.0),
            Self::F | Self::Unknown => None,
        }
    }
}

/// What the charger offers on the pilot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Offer {
    /// −12 V: unavailable (out of service, fault, shutting down).
    Unavailable,
    /// +12 V static: present, but no charging offered now.
    Idle,
    /// 5 % PWM: charging by digital communication (SLAC, V2G).
    Digital,
}

/// Tuning of the pilot's reading of the car.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PilotConfig {
    /// How long every reading must agree before a new state takes effect.
    pub debounce: Duration,
    /// The margin around the band boundaries within which the present state holds.
    pub hysteresis: Volts,
    /// A reading older than this leaves the state unknown.
    pub reading_timeout: Duration,
    /// How long the charger drives state F when it toggles to restart SLAC.
    pub toggle_time: Duration,
}

impl Default for PilotConfig {
    fn default() -> Self {
        Self {
            // A plug bounces for some milliseconds; cars switch S2 cleanly.
            debounce: Duration::from_millis(50),
            hysteresis: Volts(0.5),
            reading_timeout: Duration::from_millis(500),
            toggle_time: T_STEP_EF,
        }
    }
}

/// What changed on the pilot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PilotEvent {
    /// The car's state changed.
    State {
        /// Before.
        from: CpState,
        /// Now.
        to: CpState,
    },
    /// While the signal oscillates the negative plateau is missing: the car's diode is absent or
    /// shorted (or something that is not a car is connected). Cleared when the car leaves.
    DiodeFault,
    /// The E/F toggle is over; the offer applies again.
    ToggleDone,
}

/// The control pilot. See the [module docs](self).
#[derive(Debug)]
pub struct Pilot {
    config: PilotConfig,
    offer: Offer,
    toggle_until: Option<Timestamp>,
    state: CpState,
    /// A different classification seen since then, not yet debounced.
    candidate: Option<(CpState, Timestamp)>,
    last_reading: Option<Timestamp>,
    diode_fault: bool,
    events: VecDeque<PilotEvent>,
}

impl Pilot {
    /// A pilot that offers `offer`, with no reading yet.
    pub fn new(config: PilotConfig, offer: Offer) -> Self {
        Self {
            config,
            offer,
            toggle_until: None,
            state: CpState::Unknown,
            candidate: None,
            last_reading: None,
            diode_fault: false,
            events: VecDeque::new(),
        }
    }

    /// What the charger offers from now on (the E/F toggle, while it runs, takes precedence).
    pub fn set_offer(&mut self, offer: Offer) {
        self.offer = offer;
    }

    /// The offer.
    pub fn offer(&self) -> Offer {
        self.offer
    }

    /// Drives state F for [`PilotConfig::toggle_time`], then the offer again: the car restarts
    /// its SLAC ([V2G3-M06-07]).
    pub fn toggle_ef(&mut self, now: Timestamp) {
        self.toggle_until = Some(now + self.config.toggle_time);
    }

    /// Whether the E/F toggle runs.
    pub fn toggling(&self) -> bool {
        self.toggle_until.is_some()
    }

    /// The signal to drive now.
    pub fn signal(&self) -> PilotSignal {
        if self.toggle_until.is_some() {
            return PilotSignal::Unavailable;
        }
        match self.offer {
            Offer::Unavailable => PilotSignal::Unavailable,
            Offer::Idle => PilotSignal::Static,
            // A car without its diode must get no oscillating pilot (it could be a short, or
            // a non-conforming adapter): static +12 V still shows when it leaves.
            Offer::Digital if self.diode_fault => PilotSignal::Static,
            Offer::Digital => PilotSignal::DIGITAL,
        }
    }

    /// The car's state now.
    pub fn state(&self) -> CpState {
        self.state
    }

    /// Whether a diode fault is latched (until the car leaves).
    pub fn diode_fault(&self) -> bool {
        self.diode_fault
    }

    /// A measurement of the pilot, taken at `reading.at` while [`Self::signal`] was driven.
    pub fn handle_reading(&mut self, now: Timestamp, reading: Stamped<PilotReading>) {
        if reading.age(now) > self.config.reading_timeout {
            self.handle_timeout(now);
            return;
        }
        let signal = self.signal();
        if matches!(signal, PilotSignal::Pwm { .. }) && reading.value.high.0 < DIODE_MAX.0 {
            // At 5 % duty the positive plateau lasts 50 µs a period: a sampling burst can miss
            // it and see only −12 V, which no car state produces. Not a reading of the car, and
            // not a fresh one: a pilot stuck at −12 V goes stale and stops the power.
            return;
        }
        self.last_reading = Some(self.last_reading.map_or(reading.at, |t| t.max(reading.at)));
        if signal == PilotSignal::Unavailable {
            // Our own −12 V hides the car: nothing to classify.
            self.settle(CpState::F, reading.at);
            return;
        }
        let seen = self.classify(reading.value.high);
        if seen.car_connected()
            && matches!(signal, PilotSignal::Pwm { .. })
            && reading.value.low.is_some_and(|low| low > DIODE_MAX)
            && !self.diode_fault
        {
            self.diode_fault = true;
            self.events.push_back(PilotEvent::DiodeFault);
        }
        self.settle(seen, reading.at);
    }

    /// Deadlines up to `now` have passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.toggle_until.is_some_and(|t| t <= now) {
            self.toggle_until = None;
            self.candidate = None;
            self.events.push_back(PilotEvent::ToggleDone);
        }
        let stale = self
            .last_reading
            .is_none_or(|t| now.saturating_duration_since(t) > self.config.reading_timeout);
        if stale && self.state != CpState::Unknown && self.toggle_until.is_none() {
            self.candidate = None;
            self.change(CpState::Unknown);
        }
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let stale_at = match self.state {
            CpState::Unknown => None,
            _ => self
                .last_reading
                .map(|t| t + self.config.reading_timeout + Duration::from_micros(1)),
        };
        self.toggle_until.into_iter().chain(stale_at).min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<PilotEvent> {
        self.events.pop_front()
    }

    /// The state a positive level shows, with hysteresis around the present state.
    fn classify(&self, high: Volts) -> CpState {
        let v = high.0;
        if !v.is_finite() {
            return CpState::Unknown;
        }
        if let Some(nominal) = self.state.nominal() {
            // Stay while within the band widened by the hysteresis.
            let half = 1.5 + self.config.hysteresis.0;
            if (v - nominal).abs() <= half && !(self.state == CpState::A && v > 14.0) {
                return self.state;
            }
        }
        match v {
            v if v > 14.0 => CpState::Unknown,
            v if v >= 10.5 => CpState::A,
            v if v >= 7.5 => CpState::B,
            v if v >= 4.5 => CpState::C,
            v if v >= 1.5 => CpState::D,
            v if v >= -1.5 => CpState::E,
            // A negative positive plateau: the pilot is held low, an error like E.
            _ => CpState::E,
        }
    }

    /// Takes `seen` into account: a change once it has held for the debounce time.
    fn settle(&mut self, seen: CpState, at: Timestamp) {
        if seen == self.state {
            self.candidate = None;
            return;
        }
        let since = match self.candidate {
            Some((state, since)) if state == seen => since,
            _ => {
                self.candidate = Some((seen, at));
                at
            }
        };
        // The first reading after start or a loss needs no debounce against nothing, but
        // still a second agreeing reading unless the debounce is zero.
        if at.saturating_duration_since(since) >= self.config.debounce {
            self.candidate = None;
            self.change(seen);
        }
    }

    fn change(&mut self, to: CpState) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        if to == CpState::A {
            self.diode_fault = false;
        }
        self.events.push_back(PilotEvent::State { from, to });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_unix_secs(1_750_000_000);

    fn at(ms: u64) -> Timestamp {
        T0 + Duration::from_millis(ms)
    }

    fn reading(ms: u64, high: f64, low: Option<f64>) -> Stamped<PilotReading> {
        Stamped::new(
            at(ms),
            PilotReading {
                high: Volts(high),
                low: low.map(Volts),
            },
        )
    }

    /// Feeds `high`/`low` every 10 ms from `from` to `to` ms.
    fn feed(p: &mut Pilot, from: u64, to: u64, high: f64, low: Option<f64>) {
        for ms in (from..to).step_by(10) {
            p.handle_reading(at(ms), reading(ms, high, low));
        }
    }

    fn events(p: &mut Pilot) -> Vec<PilotEvent> {
        std::iter::from_fn(|| p.poll_event()).collect()
    }

    #[test]
    fn a_car_plugs_in_asks_for_energy_and_leaves() {
        let mut p = Pilot::new(PilotConfig::default(), Offer::Idle);
        assert_eq!(p.signal(), PilotSignal::Static);
        feed(&mut p, 0, 100, 12.0, None);
        assert_eq!(p.state(), CpState::A);
        // Plugged in: 9 V, after the debounce.
        feed(&mut p, 100, 140, 9.0, None);
        assert_eq!(p.state(), CpState::A, "not yet debounced");
        feed(&mut p, 140, 200, 9.0, None);
        assert_eq!(p.state(), CpState::B);
        p.set_offer(Offer::Digital);
        assert_eq!(p.signal(), PilotSignal::DIGITAL);
        feed(&mut p, 200, 300, 9.0, Some(-12.0));
        feed(&mut p, 300, 400, 6.0, Some(-12.0));
        assert_eq!(p.state(), CpState::C);
        assert!(p.state().energy_allowed());
        feed(&mut p, 400, 500, 12.0, Some(-12.0));
        assert_eq!(p.state(), CpState::A);
        let states: Vec<_> = events(&mut p)
            .into_iter()
            .filter_map(|e| match e {
                PilotEvent::State { to, .. } => Some(to),
                _ => None,
            })
            .collect();
        assert_eq!(states, [CpState::A, CpState::B, CpState::C, CpState::A]);
    }

    #[test]
    fn bounces_and_levels_near_a_boundary_do_not_change_the_state() {
        let mut p = Pilot::new(PilotConfig::default(), Offer::Digital);
        feed(&mut p, 0, 100, 9.0, Some(-12.0));
        assert_eq!(p.state(), CpState::B);
        // A 30 ms dip to 6 V (a bounce) does not make C.
        feed(&mut p, 100, 130, 6.0, Some(-12.0));
        feed(&mut p, 130, 200, 9.0, Some(-12.0));
        assert_eq!(p.state(), CpState::B);
        // 7.2 V is below the B/C boundary (7.5 V) but within B's hysteresis: still B.
        feed(&mut p, 200, 400, 7.2, Some(-12.0));
        assert_eq!(p.state(), CpState::B);
        // 6.8 V is clearly C.
        feed(&mut p, 400, 500, 6.8, Some(-12.0));
        assert_eq!(p.state(), CpState::C);
        // Back up to 7.8 V: within C's hysteresis, stays C.
        feed(&mut p, 500, 700, 7.8, Some(-12.0));
        assert_eq!(p.state(), CpState::C);
    }

    #[test]
    fn a_missing_diode_is_a_fault_until_the_car_leaves() {
        let mut p = Pilot::new(PilotConfig::default(), Offer::Digital);
        feed(&mut p, 0, 100, 12.0, Some(-12.0));
        // Something that pulls to 9 V but has no diode: the negative plateau is near 0.
        feed(&mut p, 100, 200, 9.0, Some(-1.0));
        assert!(p.diode_fault());
        assert!(events(&mut p).contains(&PilotEvent::DiodeFault));
        // No PWM for it.
        assert_eq!(p.signal(), PilotSignal::Static);
        feed(&mut p, 200, 300, 12.0, None);
        assert_eq!(p.state(), CpState::A);
        assert!(!p.diode_fault());
        assert_eq!(p.signal(), PilotSignal::DIGITAL);
    }

    #[test]
    fn a_burst_that_missed_the_positive_plateau_changes_nothing() {
        let mut p = Pilot::new(PilotConfig::default(), Offer::Digital);
        feed(&mut p, 0, 100, 6.0, Some(-12.0));
        assert_eq!(p.state(), CpState::C);
        // Two bursts in a row saw only the negative half-wave.
        feed(&mut p, 100, 200, -12.0, Some(-12.0));
        assert_eq!(p.state(), CpState::C);
        assert!(
            events(&mut p)
                .iter()
                .all(|e| !matches!(e, PilotEvent::State { to: CpState::E, .. }))
        );
    }

    #[test]
    fn a_pilot_stuck_at_minus_12v_goes_stale_and_unknown() {
        let mut p = Pilot::new(PilotConfig::default(), Offer::Digital);
        feed(&mut p, 0, 100, 6.0, Some(-12.0));
        assert_eq!(p.state(), CpState::C);
        // Every burst from now on sees only −12 V (state F on the wire while we drive 5 %).
        feed(&mut p, 100, 700, -12.0, Some(-12.0));
        p.handle_timeout(at(700));
        assert_eq!(p.state(), CpState::Unknown);
    }

    #[test]
    fn a_shorted_pilot_is_state_e() {
        let mut p = Pilot::new(PilotConfig::default(), Offer::Digital);
        feed(&mut p, 0, 100, 6.0, Some(-12.0));
        assert_eq!(p.state(), CpState::C);
        feed(&mut p, 100, 200, 0.2, Some(-0.3));
        assert_eq!(p.state(), CpState::E);
    }

    #[test]
    fn lost_readings_leave_the_state_unknown() {
        let mut p = Pilot::new(PilotConfig::default(), Offer::Digital);
        feed(&mut p, 0, 100, 6.0, Some(-12.0));
        assert_eq!(p.state(), CpState::C);
        let deadline = p.poll_timeout().unwrap();
        assert!(deadline > at(590) && deadline <= at(591), "{deadline:?}");
        p.handle_timeout(at(580));
        assert_eq!(p.state(), CpState::C);
        p.handle_timeout(deadline);
        assert_eq!(p.state(), CpState::Unknown);
        // A reading that arrives too late counts as none.
        p.handle_reading(at(2000), reading(1000, 6.0, Some(-12.0)));
        assert_eq!(p.state(), CpState::Unknown);
    }

    #[test]
    fn the_ef_toggle_drives_f_for_t_step_ef_then_the_offer() {
        let mut p = Pilot::new(PilotConfig::default(), Offer::Digital);
        feed(&mut p, 0, 100, 9.0, Some(-12.0));
        p.toggle_ef(at(100));
        assert_eq!(p.signal(), PilotSignal::Unavailable);
        // Our own −12 V is all there is to see.
        feed(&mut p, 100, 4100, -12.0, Some(-12.0));
        assert_eq!(p.state(), CpState::F);
        assert!(p.toggling(), "F for all of T_step_EF");
        assert!(p.poll_timeout().is_some_and(|t| t <= at(100) + T_STEP_EF));
        p.handle_timeout(at(100) + T_STEP_EF);
        assert!(!p.toggling());
        assert_eq!(p.signal(), PilotSignal::DIGITAL);
        assert!(events(&mut p).contains(&PilotEvent::ToggleDone));
        feed(&mut p, 4100, 4200, 9.0, Some(-12.0));
        assert_eq!(p.state(), CpState::B);
    }

    #[test]
    fn nonsense_readings_never_panic_and_never_show_a_car() {
        let mut p = Pilot::new(PilotConfig::default(), Offer::Digital);
        for (i, v) in [f64::NAN, f64::INFINITY, -f64::INFINITY, 1e300, -1e300, 40.0]
            .into_iter()
            .enumerate()
        {
            let ms = i as u64 * 100;
            feed(&mut p, ms, ms + 100, v, Some(v));
            assert!(!p.state().energy_allowed(), "{v}: {:?}", p.state());
        }
    }
}
