//! The car and the charge point's session with it: the car leaves in the morning and comes back
//! in the evening with less energy; while plugged in, the session goes through set-up (SLAC,
//! V2G, cable check, pre-charge) to power transfer and ends when the car leaves.

use std::time::Duration;

use devices::{ChargeLimits, ChargePointState, ChargePointStatus, SetpointWatchdog};
use rand::Rng;
use serde::{Deserialize, Serialize};
use units::{Percent, Timestamp, WattHours, Watts, duration_str};

use crate::rng::SimRng;

/// The simulated car's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CarParams {
    /// Usable battery capacity.
    pub capacity_wh: WattHours,
    /// SoC at the start of the simulation.
    pub initial_soc_pct: Percent,
    /// Largest DC charge power the car accepts (below 80 % SoC; it tapers above).
    pub max_charge_w: Watts,
    /// Largest DC discharge power the car offers for V2H; 0 = no V2H.
    pub max_discharge_w: Watts,
    /// The car's own floor for discharge.
    pub min_soc_pct: Percent,
    /// Local time the car leaves.
    pub depart: jiff::civil::Time,
    /// Local time the car comes back and is plugged in.
    pub arrive: jiff::civil::Time,
    /// Mean energy used while away; each trip varies ±50 %.
    pub trip_wh: WattHours,
    /// Time from plug-in to power transfer (SLAC, V2G set-up, cable check, pre-charge).
    #[serde(with = "duration_str")]
    pub connect_time: Duration,
    /// A grant of limits not refreshed for this long counts as zero.
    #[serde(with = "duration_str")]
    pub limits_timeout: Duration,
}

impl Default for CarParams {
    fn default() -> Self {
        Self {
            capacity_wh: WattHours(60_000.0),
            initial_soc_pct: Percent(55.0),
            max_charge_w: Watts(11_000.0),
            max_discharge_w: Watts(7000.0),
            min_soc_pct: Percent(10.0),
            depart: jiff::civil::time(7, 30, 0, 0),
            arrive: jiff::civil::time(17, 30, 0, 0),
            trip_wh: WattHours(8000.0),
            connect_time: Duration::from_secs(20),
            limits_timeout: Duration::from_secs(5),
        }
    }
}

/// How long a car takes to stop the session before it is unplugged.
const STOP_TIME: Duration = Duration::from_secs(3);
/// The same for a car with a real CCS session: it ramps down, opens its contactors, checks
/// for welding and ends the session before the driver pulls the plug.
const CCS_STOP_TIME: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Session {
    Away,
    Connecting { since: Timestamp },
    Ready,
    Stopping { since: Timestamp },
}

#[derive(Debug, Clone)]
pub(crate) struct Car {
    params: CarParams,
    rng: SimRng,
    soc: f64,
    session: Session,
    granted: SetpointWatchdog<ChargeLimits>,
    power: Watts,
    session_energy: WattHours,
    last_local: Option<jiff::civil::Time>,
    /// Energy used by trips so far.
    trips_wh: f64,
    /// The driver tops the car up to this SoC (fraction) elsewhere when it leaves below it.
    top_up_to: Option<f64>,
    /// Energy so topped up, Wh.
    topped_up_wh: f64,
    /// The session is a real CCS session run elsewhere (`true`), not this model's.
    ccs: bool,
    /// With a CCS session: the car's contactors (closed in the charge loop).
    contactors: bool,
}

/// True if `t` is in the circular window `[from, to)`.
fn in_window(t: jiff::civil::Time, from: jiff::civil::Time, to: jiff::civil::Time) -> bool {
    if from <= to {
        from <= t && t < to
    } else {
        t >= from || t < to
    }
}

/// True if the circular interval `(a, b]` contains `x` (times of day).
fn passed(a: jiff::civil::Time, b: jiff::civil::Time, x: jiff::civil::Time) -> bool {
    if a == b {
        false
    } else if a < b {
        a < x && x <= b
    } else {
        x > a || x <= b
    }
}

impl Car {
    pub(crate) fn new(params: CarParams, rng: SimRng) -> Self {
        Self {
            soc: params.initial_soc_pct.fraction().clamp(0.0, 1.0),
            granted: SetpointWatchdog::new(ChargeLimits::ZERO, params.limits_timeout),
            params,
            rng,
            session: Session::Away,
            power: Watts::ZERO,
            session_energy: WattHours::ZERO,
            last_local: None,
            trips_wh: 0.0,
            top_up_to: None,
            topped_up_wh: 0.0,
            ccs: false,
            contactors: false,
        }
    }

    /// A car whose sessions are real CCS sessions: it only provides the schedule, the battery
    /// and its contactors.
    pub(crate) fn with_ccs(params: CarParams, rng: SimRng) -> Self {
        Self {
            ccs: true,
            ..Self::new(params, rng)
        }
    }

    /// The plug is pulled now, whatever the session does; the car is back at its next arrival.
    pub(crate) fn pull_plug(&mut self) {
        self.session = Session::Away;
        self.contactors = false;
    }

    /// Plugged in (from arrival until it is unplugged at departure).
    pub(crate) fn plugged(&self) -> bool {
        self.session != Session::Away
    }

    /// Departure is near: the car is ending its session.
    pub(crate) fn leaving(&self) -> bool {
        matches!(self.session, Session::Stopping { .. })
    }

    /// The car's contactors (a CCS car closes them in the charge loop).
    pub(crate) fn set_contactors(&mut self, closed: bool) {
        self.contactors = closed;
    }

    /// Whether its battery is on the inlet.
    pub(crate) fn contactors(&self) -> bool {
        self.ccs && self.contactors && self.plugged()
    }

    /// The battery's open-circuit voltage: 330 V empty to 420 V full (as the CCS car's
    /// session assumes).
    pub(crate) fn battery_voltage(&self) -> f64 {
        330.0 + 90.0 * self.soc
    }

    pub(crate) fn soc(&self) -> Percent {
        Percent::from_fraction(self.soc)
    }

    pub(crate) fn stored(&self) -> WattHours {
        self.params.capacity_wh * self.soc
    }

    /// Energy the car used on trips since the start.
    pub(crate) fn trip_energy_wh(&self) -> f64 {
        self.trips_wh
    }

    /// From now on, a car leaving below `target` is topped up to it at a public charger on its
    /// way (none: never).
    pub(crate) fn set_top_up(&mut self, target: Option<Percent>) {
        self.top_up_to = target.map(|t| t.fraction().clamp(0.0, 1.0));
    }

    /// Energy topped up away from home since the start, Wh.
    pub(crate) fn topped_up_wh(&self) -> f64 {
        self.topped_up_wh
    }

    /// The limits in force at `now`, after the set-point watchdog.
    pub(crate) fn granted(&self, now: Timestamp) -> ChargeLimits {
        self.granted.effective(now)
    }

    pub(crate) fn set_limits(&mut self, now: Timestamp, limits: ChargeLimits) {
        self.granted.set(now, limits);
    }

    /// Moves the schedule to local time `local` at `now`.
    pub(crate) fn advance(&mut self, now: Timestamp, local: jiff::civil::Time) {
        let p = self.params;
        let last = self.last_local.replace(local);
        match (self.session, last) {
            // First step: plugged in if the car is at home now.
            (Session::Away, None) if !in_window(local, p.depart, p.arrive) => {
                self.plug_in(now);
            }
            (Session::Away, Some(last)) if passed(last, local, p.arrive) => {
                let trip = p.trip_wh.0 * (0.5 + self.rng.random::<f64>());
                let before = self.soc;
                self.soc = (self.soc - trip / p.capacity_wh.0).max(0.05);
                self.trips_wh += (before - self.soc) * p.capacity_wh.0;
                self.plug_in(now);
            }
            (Session::Connecting { .. } | Session::Ready, Some(last))
                if passed(last, local, p.depart) =>
            {
                self.session = Session::Stopping { since: now };
            }
            (Session::Connecting { since }, _)
                if now.saturating_duration_since(since) >= p.connect_time =>
            {
                self.session = Session::Ready;
            }
            (Session::Stopping { since }, _)
                if now.saturating_duration_since(since)
                    >= if self.ccs { CCS_STOP_TIME } else { STOP_TIME } =>
            {
                self.session = Session::Away;
                self.contactors = false;
                if let Some(target) = self.top_up_to
                    && self.soc < target
                {
                    self.topped_up_wh += (target - self.soc) * p.capacity_wh.0;
                    self.soc = target;
                }
            }
            _ => {}
        }
    }

    fn plug_in(&mut self, now: Timestamp) {
        self.session = Session::Connecting { since: now };
        self.session_energy = WattHours::ZERO;
    }

    /// What the car itself accepts: constant power to 80 %, then tapering to 10 % at full.
    fn charge_capability(&self) -> Watts {
        if self.soc >= 0.995 {
            Watts::ZERO
        } else if self.soc > 0.8 {
            self.params.max_charge_w * (1.0 - 0.9 * (self.soc - 0.8) / 0.2)
        } else {
            self.params.max_charge_w
        }
    }

    fn discharge_capability(&self) -> Watts {
        if self.soc > self.params.min_soc_pct.fraction() {
            self.params.max_discharge_w
        } else {
            Watts::ZERO
        }
    }

    /// Offers `requested` DC power (+ = into the car) for `dt`; returns what flowed. Power only
    /// flows in power transfer, within what the car accepts and what the site granted (the
    /// charger enforces its grant on the DC side too).
    pub(crate) fn exchange(&mut self, now: Timestamp, requested: Watts, dt: f64) -> Watts {
        let granted = self.granted.effective(now);
        let actual = if self.ccs {
            // The charger enforces its grant; the battery takes what its BMS accepts, and only
            // through closed contactors.
            if self.contactors() {
                requested.clamp(-self.discharge_capability(), self.charge_capability())
            } else {
                Watts::ZERO
            }
        } else if self.session == Session::Ready {
            requested.clamp(
                -self.discharge_capability().min(granted.max_discharge_w),
                self.charge_capability().min(granted.max_charge_w),
            )
        } else {
            Watts::ZERO
        };
        // Losses inside the car (charger cable, pack) of 2 % each way.
        let stored = if actual.0 >= 0.0 {
            actual.0 * 0.98
        } else {
            actual.0 / 0.98
        };
        self.soc = (self.soc + stored * dt / 3600.0 / self.params.capacity_wh.0).clamp(0.0, 1.0);
        self.power = actual;
        self.session_energy += actual.over(Duration::from_secs_f64(dt));
        actual
    }

    pub(crate) fn status(&self, now: Timestamp) -> ChargePointStatus {
        let granted = self.granted.effective(now);
        let state = match self.session {
            Session::Away => ChargePointState::Unplugged,
            Session::Connecting { .. } => ChargePointState::Connecting,
            Session::Ready => ChargePointState::Ready,
            Session::Stopping { .. } => ChargePointState::Stopping,
        };
        let ready = state == ChargePointState::Ready;
        ChargePointStatus {
            state,
            ev_soc_pct: (state != ChargePointState::Unplugged).then(|| self.soc()),
            ev_max_charge_w: if ready {
                self.charge_capability().min(granted.max_charge_w)
            } else {
                Watts::ZERO
            },
            ev_max_discharge_w: if ready {
                self.discharge_capability().min(granted.max_discharge_w)
            } else {
                Watts::ZERO
            },
            power_w: self.power,
            dc_voltage_v: ready.then_some(units::Volts(380.0 + 40.0 * self.soc)),
            session_energy_wh: self.session_energy,
            // The site's controller sequences this model's changeover relay.
            owns_port: false,
            // A model of a session, not a protocol.
            ..ChargePointStatus::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, streams::CAR};

    fn hm(h: i8, m: i8) -> jiff::civil::Time {
        jiff::civil::time(h, m, 0, 0)
    }

    #[test]
    fn leaves_and_comes_back_with_less_energy() {
        let mut car = Car::new(CarParams::default(), stream(1, CAR));
        let t0 = Timestamp::from_unix_secs(0);
        let at = |m: u64| t0 + Duration::from_secs(m * 60);
        let limits = ChargeLimits::range(Watts(5000.0), Watts(5000.0));
        car.advance(at(0), hm(6, 0));
        assert_eq!(car.status(at(0)).state, ChargePointState::Connecting);
        car.advance(at(1), hm(6, 1));
        car.set_limits(at(1), limits);
        assert_eq!(car.status(at(1)).state, ChargePointState::Ready);
        assert_eq!(car.status(at(1)).ev_max_charge_w, Watts(5000.0));
        assert_eq!(car.exchange(at(1), Watts(9000.0), 1.0), Watts(5000.0));
        // Stale grant: nothing flows.
        assert_eq!(car.exchange(at(2), Watts(3000.0), 1.0), Watts::ZERO);
        car.advance(at(90), hm(7, 30));
        assert_eq!(car.status(at(90)).state, ChargePointState::Stopping);
        assert_eq!(car.exchange(at(90), Watts(3000.0), 1.0), Watts::ZERO);
        car.advance(at(91), hm(7, 31));
        assert_eq!(car.status(at(91)).state, ChargePointState::Unplugged);
        let soc_out = car.soc();
        car.advance(at(600), hm(17, 31));
        assert_eq!(car.status(at(600)).state, ChargePointState::Connecting);
        assert!(car.soc() < soc_out, "the trip used energy");
    }

    #[test]
    fn starts_away_during_the_day() {
        let mut car = Car::new(CarParams::default(), stream(1, CAR));
        car.advance(Timestamp::from_unix_secs(0), hm(12, 0));
        assert_eq!(
            car.status(Timestamp::from_unix_secs(0)).state,
            ChargePointState::Unplugged
        );
    }
}
