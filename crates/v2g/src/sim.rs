//! A charger and a car connected in memory, on virtual time: [`Pair`] runs a [`Secc`] with a
//! simulated power stage and isolation monitor ([`Station`]) against an [`Evcc`], moving the
//! bytes between them with a fixed one-way latency. Deterministic: the same configuration and
//! seed give the same run. For tests, fuzzing and demos.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use units::{Timestamp, Watts};

use crate::charger::{
    Authorization, ChargerStatus, Demand, Fault, Limits, SimIsolationMonitor, SimPowerStage,
    SimPowerStageConfig,
};
use crate::evcc::{Evcc, EvccConfig, EvccEvent};
use crate::secc::{Secc, SeccConfig, SeccEvent};

/// The charger's hardware and site, simulated.
#[derive(Debug, Clone)]
pub struct Station {
    /// The power stage.
    pub stage: SimPowerStage,
    /// The isolation monitor.
    pub imd: SimIsolationMonitor,
    /// The limits (rating and grant).
    pub limits: Limits,
    /// Whether the car may charge.
    pub authorization: Authorization,
    /// The power the site wants in ISO 15118-20 dynamic mode.
    pub setpoint: Option<Watts>,
    /// The site wants the session to end.
    pub stop: bool,
}

impl Default for Station {
    fn default() -> Self {
        Self {
            stage: SimPowerStage::new(SimPowerStageConfig::default()),
            imd: SimIsolationMonitor::new(
                Duration::from_millis(1500),
                crate::charger::Isolation::Valid,
            ),
            limits: Limits::DEFAULT,
            authorization: Authorization::Granted,
            setpoint: None,
            stop: false,
        }
    }
}

impl Station {
    /// What a session reads now.
    pub fn status(&mut self, now: Timestamp) -> ChargerStatus {
        ChargerStatus {
            present: self.stage.measure(now),
            isolation: self.imd.status(now),
            limits: self.limits,
            setpoint: self.setpoint,
            authorization: self.authorization,
            fault: self.stage.fault(),
            stop: self.stop,
        }
    }

    /// Applies a session's demand.
    pub fn apply(&mut self, now: Timestamp, demand: Demand) {
        self.stage.apply(now, demand.power);
        self.imd.set_testing(now, demand.isolation_test);
    }

    /// Injects a power stage fault.
    pub fn fail(&mut self, now: Timestamp, fault: Fault) {
        self.stage.set_fault(now, Some(fault));
    }
}

/// Which way bytes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Car to charger: requests.
    ToCharger,
    /// Charger to car: responses.
    ToCar,
}

/// A charger session and a car session on one in-memory connection. See the
/// [module docs](self).
#[derive(Debug)]
pub struct Pair {
    /// Virtual time now.
    pub now: Timestamp,
    /// The charger's session.
    pub secc: Secc,
    /// The car's session.
    pub evcc: Evcc,
    /// The charger's hardware.
    pub station: Station,
    /// One-way latency of the connection.
    pub latency: Duration,
    /// Every event of the charger, in order.
    pub secc_events: Vec<SeccEvent>,
    /// Every event of the car, in order.
    pub evcc_events: Vec<EvccEvent>,
    /// Every frame the charger sent, with when.
    pub charger_frames: Vec<(Timestamp, Vec<u8>)>,
    /// Every frame the car sent, with when.
    pub car_frames: Vec<(Timestamp, Vec<u8>)>,
    /// The demand after every step, with when: the power stage's history.
    pub demands: Vec<(Timestamp, Demand)>,
    in_flight: VecDeque<(Timestamp, Direction, Vec<u8>)>,
    closed_for_car: bool,
    closed_for_charger: bool,
}

impl Pair {
    /// A session between a charger with `secc` and a car with `evcc`, starting at `now`.
    pub fn new(secc: SeccConfig, evcc: EvccConfig, seed: [u8; 32], now: Timestamp) -> Self {
        Self::with_station(secc, evcc, Station::default(), seed, now)
    }

    /// The same with a prepared station.
    pub fn with_station(
        secc: SeccConfig,
        evcc: EvccConfig,
        station: Station,
        seed: [u8; 32],
        now: Timestamp,
    ) -> Self {
        let mut pair = Self {
            now,
            secc: Secc::new(Arc::new(secc), seed, now),
            evcc: Evcc::new(evcc, now),
            station,
            latency: Duration::from_millis(1),
            secc_events: Vec::new(),
            evcc_events: Vec::new(),
            charger_frames: Vec::new(),
            car_frames: Vec::new(),
            demands: Vec::new(),
            in_flight: VecDeque::new(),
            closed_for_car: false,
            closed_for_charger: false,
        };
        pair.collect();
        pair
    }

    /// Runs until both sides are done or `limit` of virtual time passed. Returns true if both
    /// closed.
    pub fn run(&mut self, limit: Duration) -> bool {
        let end = self.now + limit;
        while let Some(next) = self.next_time() {
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            self.step();
        }
        self.now = self.now.max(end.min(self.next_time().unwrap_or(end)));
        self.secc.is_closed() && self.evcc.is_closed()
    }

    /// Runs until `until` says so or `limit` passes; true if it said so.
    pub fn run_until(&mut self, limit: Duration, mut until: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now + limit;
        while !until(self) {
            match self.next_time() {
                Some(next) if next <= end => {
                    self.now = self.now.max(next);
                    self.step();
                }
                _ => return false,
            }
        }
        true
    }

    /// Advances virtual time by `d`, handling everything due meanwhile.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(next) = self.next_time() {
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            self.step();
        }
        self.now = end;
        self.step();
    }

    /// The connection breaks (a TCP reset): both sides learn it at once, bytes in flight are
    /// lost.
    pub fn reset(&mut self) {
        self.in_flight.clear();
        self.secc.handle_close(self.now);
        self.evcc.handle_close(self.now);
        self.closed_for_car = true;
        self.closed_for_charger = true;
        self.collect();
    }

    /// Sends raw bytes to the charger as if the car had sent them.
    pub fn inject_to_charger(&mut self, bytes: &[u8]) {
        let status = self.station.status(self.now);
        self.secc.handle_data(self.now, bytes, &status);
        self.collect();
    }

    fn next_time(&self) -> Option<Timestamp> {
        [
            self.in_flight.front().map(|(t, _, _)| *t),
            self.secc.poll_timeout(),
            self.evcc.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles everything due at `self.now`.
    fn step(&mut self) {
        let now = self.now;
        while self.in_flight.front().is_some_and(|(t, _, _)| *t <= now) {
            let Some((_, direction, bytes)) = self.in_flight.pop_front() else {
                break;
            };
            match direction {
                Direction::ToCharger => {
                    let status = self.station.status(now);
                    self.secc.handle_data(now, &bytes, &status);
                }
                Direction::ToCar => self.evcc.handle_data(now, &bytes),
            }
            self.collect();
        }
        if self.secc.poll_timeout().is_some_and(|t| t <= now) {
            self.secc.handle_timeout(now);
        }
        if self.evcc.poll_timeout().is_some_and(|t| t <= now) {
            self.evcc.handle_timeout(now);
        }
        self.collect();
    }

    /// Moves frames into flight, events into the logs, the demand onto the station, and
    /// closes the other end once one side closed and its bytes arrived.
    fn collect(&mut self) {
        let now = self.now;
        while let Some(bytes) = self.secc.poll_transmit() {
            self.charger_frames.push((now, bytes.clone()));
            if !self.closed_for_car {
                self.in_flight
                    .push_back((now + self.latency, Direction::ToCar, bytes));
            }
        }
        while let Some(bytes) = self.evcc.poll_transmit() {
            self.car_frames.push((now, bytes.clone()));
            if !self.closed_for_charger {
                self.in_flight
                    .push_back((now + self.latency, Direction::ToCharger, bytes));
            }
        }
        self.in_flight.make_contiguous().sort_by_key(|(t, _, _)| *t);
        while let Some(e) = self.secc.poll_event() {
            self.secc_events.push(e);
        }
        while let Some(e) = self.evcc.poll_event() {
            self.evcc_events.push(e);
        }
        let demand = self.secc.demand();
        self.station.apply(now, demand);
        if self.demands.last().is_none_or(|(_, d)| *d != demand) {
            self.demands.push((now, demand));
        }
        let pending = |dir| self.in_flight.iter().any(|(_, d, _)| *d == dir);
        // A side that closed its end: the other sees the end of stream once the bytes arrived.
        if self.secc.is_closed() && !self.closed_for_car && !pending(Direction::ToCar) {
            self.closed_for_car = true;
            self.evcc.handle_close(now);
            while let Some(e) = self.evcc.poll_event() {
                self.evcc_events.push(e);
            }
        }
        if self.evcc.is_closed() && !self.closed_for_charger && !pending(Direction::ToCharger) {
            self.closed_for_charger = true;
            self.secc.handle_close(now);
            while let Some(e) = self.secc.poll_event() {
                self.secc_events.push(e);
            }
            let demand = self.secc.demand();
            self.station.apply(now, demand);
            if self.demands.last().is_none_or(|(_, d)| *d != demand) {
                self.demands.push((now, demand));
            }
        }
    }

    /// Every frame either side sent, in the order sent (a request before the response sent at
    /// the same instant), with which way it went.
    pub fn frames(&self) -> Vec<(Timestamp, Direction, &[u8])> {
        let mut frames: Vec<_> = self
            .car_frames
            .iter()
            .map(|(t, b)| (*t, Direction::ToCharger, &b[..]))
            .chain(
                self.charger_frames
                    .iter()
                    .map(|(t, b)| (*t, Direction::ToCar, &b[..])),
            )
            .collect();
        frames.sort_by_key(|(t, direction, _)| (*t, *direction == Direction::ToCar));
        frames
    }

    /// The frames sent `direction` with when they arrive (one latency later): the car's
    /// requests as the charger gets them (`ToCharger`) or the charger's responses as the car
    /// does (`ToCar`). What a test replays against one side alone.
    pub fn arrivals(&self, direction: Direction) -> Vec<(Timestamp, Vec<u8>)> {
        let sent = match direction {
            Direction::ToCharger => &self.car_frames,
            Direction::ToCar => &self.charger_frames,
        };
        sent.iter()
            .map(|(t, b)| (*t + self.latency, b.clone()))
            .collect()
    }

    /// The charger's record of the session, once it ended.
    pub fn charger_end(&self) -> Option<&crate::secc::SessionEnd> {
        self.secc_events.iter().find_map(|e| match e {
            SeccEvent::Ended(end) => Some(end),
            _ => None,
        })
    }
}
