//! The car's side of a V2G session (the EVCC), sans-IO: the EV simulator's protocol core, and a
//! way to test chargers.
//!
//! One [`Evcc`] runs one session over one connection: SupportedAppProtocol with the configured
//! protocols, then the protocol's request sequence ([`din`], [`iso2`], [`iso20`]) with the
//! standard's per-message timeouts, driven by a [`Battery`] model: it waits in PreCharge until
//! the charger's measured voltage matches its own (as real cars do), asks for current in the
//! charge loop every `period`, ramps the current down before it stops, and measures every
//! response time (what `gridlet ev` reports as latency).
//!
//! The rules every request of every protocol shares (header, SessionID, the response and its
//! code) are written once, in [`envelope`]; each protocol module has only its request
//! sequence.
//!
//! [`Behaviour`] makes it misbehave the ways real cars do, to test chargers.

pub mod battery;
mod din;
pub(crate) mod envelope;
mod iso2;
mod iso20;

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use tracing::{debug, info, warn};
use units::{Amps, Percent, Timestamp, Volts, WattHours, Watts};
use v2g_messages::app_handshake;

pub use battery::{Battery, BatteryConfig};

use crate::app_protocol::{self, Protocol};
use crate::session_id::SessionId;
use crate::wire::{self, Decoder, Frame, PayloadType, WireError};
use crate::{ControlMode, Party, timing};

/// How the simulated car charges.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvccConfig {
    /// Protocols offered in SupportedAppProtocol, most preferred first.
    pub protocols: Vec<Protocol>,
    /// The EVCCID: the car's MAC (DIN 70121, ISO 15118-2 send it as bytes, ISO 15118-20 as hex
    /// text).
    pub evcc_id: Vec<u8>,
    /// The battery.
    pub battery: BatteryConfig,
    /// Stop charging at this SoC.
    pub target_soc: Percent,
    /// Stop after this many charge loop cycles.
    pub max_cycles: Option<u32>,
    /// Stop after this long in the charge loop.
    pub max_duration: Option<Duration>,
    /// Discharge the battery (ISO 15118-20 DC_BPT) instead of charging it.
    pub discharge: bool,
    /// Offer bidirectional power (ISO 15118-20 DC_BPT) whenever the charger does, and let the
    /// charger decide the direction (dynamic mode): the car stays in the charge loop until it is
    /// asked to stop ([`Evcc::request_stop`]), whatever its SoC: V2H the standard way.
    pub bidirectional: bool,
    /// Do not discharge below this SoC.
    pub min_soc: Percent,
    /// The ISO 15118-20 control mode the car prefers, if the charger offers it.
    pub control_mode: ControlMode,
    /// The charge loop period (real cars: 90–250 ms).
    pub period: Duration,
    /// PreCharge is done when the charger's voltage is within this of the battery's.
    pub precharge_tolerance: Volts,
    /// Ways to misbehave.
    pub behaviour: Behaviour,
}

impl Default for EvccConfig {
    fn default() -> Self {
        Self {
            protocols: Protocol::ALL.to_vec(),
            evcc_id: vec![0x02, 0, 0, 0, 0, 0x02],
            battery: BatteryConfig::default(),
            target_soc: Percent(80.0),
            max_cycles: None,
            max_duration: None,
            discharge: false,
            bidirectional: false,
            min_soc: Percent(20.0),
            control_mode: ControlMode::Scheduled,
            period: Duration::from_millis(100),
            precharge_tolerance: Volts(20.0),
            behaviour: Behaviour::default(),
        }
    }
}

/// Misbehaviour seen in real cars, for testing chargers. All off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Behaviour {
    /// Send SessionStopReq right after ChargeParameterDiscovery (FreeV2G #170).
    pub stop_after_parameters: bool,
    /// Stop sending after this many charge loop cycles, keeping the connection open.
    pub silent_after_cycles: Option<u32>,
    /// Send this charge loop cycle (1-based) with a wrong SessionID.
    pub wrong_session_id_at_cycle: Option<u32>,
    /// Send the charge loop request right after ChargeParameterDiscovery, skipping cable check
    /// and pre-charge (a sequence error).
    pub skip_to_charge_loop: bool,
    /// Ask for a negative pre-charge voltage first (Skoda Enyaq).
    pub negative_precharge: bool,
}

/// What the car learned about the charger.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct EvseView {
    /// Its last measured voltage.
    pub present_voltage: Volts,
    /// Its last measured current.
    pub present_current: Amps,
    /// Its highest voltage.
    pub max_voltage: Option<Volts>,
    /// Its highest charge current.
    pub max_current: Option<Amps>,
    /// Its highest charge power.
    pub max_power: Option<Watts>,
    /// Its highest discharge current (ISO 15118-20 BPT).
    pub max_discharge_current: Option<Amps>,
    /// Its highest discharge power.
    pub max_discharge_power: Option<Watts>,
    /// It asked the car to stop.
    pub stop_requested: bool,
}

/// Why a session did not end with SessionStopRes OK.
#[derive(Debug, Clone, PartialEq)]
pub enum EvccError {
    /// The charger speaks none of our protocols.
    NoCommonProtocol,
    /// The charger answered a request with a negative response code.
    Refused {
        /// The request.
        request: &'static str,
        /// The response code.
        code: String,
    },
    /// The charger's answer was not the response to our request.
    Unexpected {
        /// What we waited for.
        expected: &'static str,
        /// What came.
        got: String,
    },
    /// No response within the message timeout.
    Timeout {
        /// The request.
        request: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// A repeated request (CableCheck, PreCharge, an Ongoing answer) took too long in total.
    LoopTimeout {
        /// The loop.
        what: &'static str,
        /// Its limit.
        after: Duration,
    },
    /// The charger sent bytes that are not V2GTP frames.
    Framing(WireError),
    /// The charger sent an undecodable message.
    Undecodable(String),
    /// We could not encode a request (a bug here).
    Encoding(String),
    /// The connection closed before the session ended.
    ConnectionLost,
    /// The car went silent on purpose ([`Behaviour::silent_after_cycles`]).
    Silent,
}

impl EvccError {
    /// Who is at fault.
    pub fn party(&self) -> Party {
        match self {
            Self::Encoding(_) | Self::Silent => Party::Car,
            _ => Party::Charger,
        }
    }
}

impl fmt::Display for EvccError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCommonProtocol => f.write_str("the charger speaks none of our protocols"),
            Self::Refused { request, code } => write!(f, "the charger refused {request}: {code}"),
            Self::Unexpected { expected, got } => {
                write!(f, "the charger sent {got}, expected {expected}")
            }
            Self::Timeout { request, after } => {
                write!(f, "the charger did not answer {request} within {after:?}")
            }
            Self::LoopTimeout { what, after } => {
                write!(f, "{what} did not finish within {after:?}")
            }
            Self::Framing(e) => write!(f, "the charger sent a bad frame: {e}"),
            Self::Undecodable(e) => write!(f, "the charger sent an undecodable message: {e}"),
            Self::Encoding(e) => write!(f, "could not encode a request (a bug): {e}"),
            Self::ConnectionLost => f.write_str("the charger or the link closed the connection"),
            Self::Silent => f.write_str("the car went silent (as configured)"),
        }
    }
}

/// Response times: count, median, 99th percentile, maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LatencyStats {
    /// Samples.
    pub count: usize,
    /// Median.
    #[serde(with = "micros")]
    pub p50: Duration,
    /// 99th percentile.
    #[serde(with = "micros")]
    pub p99: Duration,
    /// Maximum.
    #[serde(with = "micros")]
    pub max: Duration,
}

mod micros {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}

/// A session's response times, kept exact for [`LatencyStats`] in a quarter of the memory of
/// `Vec<Duration>`: whole microseconds in a `u32` (up to 71 minutes; longer saturates, far
/// beyond any timeout). A day-long session at 4 responses per second keeps 1.4 MB, not 5.5 MB.
#[derive(Debug, Clone, Default)]
struct Latencies(Vec<u32>);

impl Latencies {
    fn push(&mut self, d: Duration) {
        self.0
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    fn stats(&self) -> LatencyStats {
        if self.0.is_empty() {
            return LatencyStats::default();
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = |p: f64| {
            let r = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            Duration::from_micros(u64::from(sorted[r.clamp(1, sorted.len()) - 1]))
        };
        LatencyStats {
            count: sorted.len(),
            p50: rank(50.0),
            p99: rank(99.0),
            max: Duration::from_micros(u64::from(sorted[sorted.len() - 1])),
        }
    }
}

impl LatencyStats {
    /// Statistics of `samples` (nearest-rank percentiles).
    pub fn of(samples: &[Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let rank = |p: f64| {
            let r = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[r.clamp(1, sorted.len()) - 1]
        };
        Self {
            count: sorted.len(),
            p50: rank(50.0),
            p99: rank(99.0),
            max: sorted[sorted.len() - 1],
        }
    }
}

/// The record of a finished session, as `gridlet ev` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct EvccSummary {
    /// The negotiated protocol.
    pub protocol: Option<Protocol>,
    /// The SessionID the charger gave.
    pub session_id: Option<SessionId>,
    /// Requests sent.
    pub requests: u32,
    /// Charge loop requests answered.
    pub charge_loop_cycles: u32,
    /// Energy into the battery, from the charger's reported voltage and current.
    pub charged: WattHours,
    /// Energy out of the battery.
    pub discharged: WattHours,
    /// SoC at the start.
    pub soc_start: Percent,
    /// SoC at the end.
    pub soc_end: Percent,
    /// Response times of the charge loop requests.
    pub charge_loop_latency: LatencyStats,
    /// Response times of all requests.
    pub latency: LatencyStats,
    /// From the first request to the end.
    pub duration: Duration,
    /// `Ok` when the session ended with SessionStopRes OK.
    pub result: Result<(), EvccError>,
}

/// What happened, for the simulator's log.
#[derive(Debug, Clone, PartialEq)]
pub enum EvccEvent {
    /// The charger picked this protocol.
    Negotiated(Protocol),
    /// SessionSetup answered.
    SessionStarted(SessionId),
    /// A response arrived.
    Response {
        /// To this request.
        request: &'static str,
        /// After this long.
        latency: Duration,
    },
    /// The charge loop started.
    Charging,
    /// The session is over; close the connection.
    Ended(Box<EvccSummary>),
}

/// What to do after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Send the next request now.
    Send,
    /// Send the next request after a pause (repeats, the charge loop period).
    After(Duration),
    /// The session ended as intended.
    Done,
    /// Stop talking (misbehaviour).
    Silent,
}

/// A request ready to go.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) name: &'static str,
    /// The name of its response.
    pub(crate) response: &'static str,
    pub(crate) frame: Frame,
    pub(crate) timeout: Duration,
}

/// The state shared by the protocol machines: the battery, what the charger said, counters.
#[derive(Debug)]
pub(crate) struct Car {
    pub(crate) config: EvccConfig,
    pub(crate) battery: Battery,
    pub(crate) session_id: SessionId,
    pub(crate) evse: EvseView,
    /// Charge loop cycles answered.
    pub(crate) cycles: u32,
    /// When the charge loop started.
    pub(crate) loop_started: Option<Timestamp>,
    /// A repeated request's loop and when it started (for its total timeout).
    phase: Option<(&'static str, Timestamp)>,
    /// When the charger's last measurement arrived (to integrate energy).
    last_sample: Option<Timestamp>,
    pub(crate) charged_wh: f64,
    pub(crate) discharged_wh: f64,
    /// Cycles spent ramping the current down before PowerDelivery(stop).
    pub(crate) ramp_down: Option<u32>,
    /// The driver wants to leave: end the session at the next chance.
    pub(crate) stop_requested: bool,
    /// The charger's SAScheduleTupleID (ISO 15118-2) or ScheduleTupleID (-20).
    pub(crate) schedule_id: Option<u32>,
    /// PreCharge requests sent.
    pub(crate) precharge_requests: u32,
    /// WeldingDetection requests sent.
    pub(crate) welding_requests: u32,
}

/// Longest ramp-down of the current before PowerDelivery(stop).
const RAMP_DOWN_CYCLES: u32 = 20;
/// Below this current the car opens its contactors.
const CONTACTOR_OPEN_CURRENT: f64 = 2.0;
/// Welding detection is done when the charger's voltage is below this, or after
/// [`WELDING_DETECTION_REQUESTS`].
const WELDING_DETECTION_VOLTAGE: f64 = 20.0;
const WELDING_DETECTION_REQUESTS: u32 = 20;

impl Car {
    /// Checks a loop of repeated requests against its total limit.
    pub(crate) fn in_loop(
        &mut self,
        now: Timestamp,
        what: &'static str,
        limit: Duration,
    ) -> Result<(), EvccError> {
        match self.phase {
            Some((w, since)) if w == what => {
                if now.saturating_duration_since(since) > limit {
                    Err(EvccError::LoopTimeout { what, after: limit })
                } else {
                    Ok(())
                }
            }
            _ => {
                self.phase = Some((what, now));
                Ok(())
            }
        }
    }

    /// The charger's measurement from a response: integrates the energy since the last one.
    pub(crate) fn measured(&mut self, now: Timestamp, voltage: f64, current: f64) {
        let (voltage, current) = (Volts(voltage), Amps(current));
        if let Some(at) = self.last_sample {
            let dt = now.saturating_duration_since(at);
            let e = self.battery.transfer(voltage, current, dt);
            if e.0 >= 0.0 {
                self.charged_wh += e.0;
            } else {
                self.discharged_wh -= e.0;
            }
        }
        self.last_sample = Some(now);
        self.evse.present_voltage = voltage;
        self.evse.present_current = current;
    }

    /// Whether PreCharge is done: the charger's voltage is within the tolerance of ours.
    pub(crate) fn precharged(&self) -> bool {
        (self.evse.present_voltage.0 - self.battery.voltage().0).abs()
            <= self.config.precharge_tolerance.0
    }

    /// Whether the car wants to leave the charge loop.
    pub(crate) fn wants_to_stop(&self, now: Timestamp) -> bool {
        let c = &self.config;
        let soc = self.battery.soc();
        self.evse.stop_requested
            || self.stop_requested
            || c.max_cycles.is_some_and(|n| self.cycles >= n)
            || c.max_duration.is_some_and(|d| {
                self.loop_started
                    .is_some_and(|t| now.saturating_duration_since(t) >= d)
            })
            // A bidirectional car lets the charger decide; it says its SoC and limits.
            || (!c.discharge && !c.bidirectional && soc.0 >= c.target_soc.0)
            || (c.discharge && soc.0 <= c.min_soc.0)
    }

    /// Decides on the charge loop after a response: keep going, ramp down, or stop.
    /// Returns true when the car should leave the loop now (PowerDelivery stop).
    pub(crate) fn loop_done(&mut self, now: Timestamp) -> bool {
        if let Some(n) = self.ramp_down.as_mut() {
            *n += 1;
            return self.evse.present_current.0.abs() < CONTACTOR_OPEN_CURRENT
                || *n >= RAMP_DOWN_CYCLES;
        }
        if self.wants_to_stop(now) {
            self.ramp_down = Some(0);
            if self.evse.present_current.0.abs() < CONTACTOR_OPEN_CURRENT {
                return true;
            }
        }
        false
    }

    /// The current the car asks for in the charge loop (negative: discharge), 0 while it ramps
    /// down.
    pub(crate) fn target_current(&self) -> Amps {
        if self.ramp_down.is_some() {
            return Amps::ZERO;
        }
        if self.config.discharge {
            let mut i = self.battery.discharge_current(self.config.min_soc);
            if let Some(max) = self.evse.max_discharge_current {
                i = i.min(max);
            }
            -i
        } else {
            let mut i = self.battery.charge_current(self.config.target_soc);
            if let Some(max) = self.evse.max_current {
                i = i.min(max);
            }
            if let Some(p) = self.evse.max_power {
                i = i.min(p.at(self.battery.voltage()));
            }
            i
        }
    }

    /// The voltage the car asks for in the charge loop: its maximum, as cars do.
    pub(crate) fn target_voltage(&self) -> Volts {
        self.battery.config().max_voltage
    }

    /// Whether welding detection is done.
    pub(crate) fn welded_open(&self) -> bool {
        self.evse.present_voltage.0 < WELDING_DETECTION_VOLTAGE
            || self.welding_requests >= WELDING_DETECTION_REQUESTS
    }

    /// The SessionID for the next request (a wrong one if the behaviour says so).
    pub(crate) fn header_session_id(&self) -> Vec<u8> {
        if self.config.behaviour.wrong_session_id_at_cycle == Some(self.cycles + 1)
            && self.loop_started.is_some()
        {
            self.session_id.0.iter().map(|b| b ^ 0xff).collect()
        } else {
            self.session_id.0.clone()
        }
    }
}

/// The protocol stage of the session.
#[derive(Debug)]
enum Stage {
    Handshake,
    Din(din::Ev),
    Iso2(iso2::Ev),
    Iso20(iso20::Ev),
    Ended,
}

/// A request in flight.
#[derive(Debug, Clone, Copy)]
struct Awaiting {
    request: &'static str,
    response: &'static str,
    sent: Timestamp,
    deadline: Timestamp,
    timeout: Duration,
}

/// The car's side of one V2G session. See the [module docs](self).
#[derive(Debug)]
pub struct Evcc {
    car: Car,
    stage: Stage,
    decoder: Decoder,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<EvccEvent>,
    awaiting: Option<Awaiting>,
    next_send: Option<Timestamp>,
    protocol: Option<Protocol>,
    requests: u32,
    latencies: Latencies,
    loop_latencies: Latencies,
    started: Timestamp,
    soc_start: Percent,
    summary: Option<EvccSummary>,
}

impl Evcc {
    /// A session on a connection opened at `now`: the first request
    /// (SupportedAppProtocolReq) is ready to send.
    pub fn new(config: EvccConfig, now: Timestamp) -> Self {
        let battery = Battery::new(config.battery);
        let soc_start = battery.soc();
        let mut evcc = Self {
            car: Car {
                config,
                battery,
                session_id: SessionId::zero(),
                evse: EvseView::default(),
                cycles: 0,
                loop_started: None,
                phase: None,
                last_sample: None,
                charged_wh: 0.0,
                discharged_wh: 0.0,
                ramp_down: None,
                stop_requested: false,
                schedule_id: None,
                precharge_requests: 0,
                welding_requests: 0,
            },
            stage: Stage::Handshake,
            decoder: Decoder::new(wire::DEFAULT_MAX_PAYLOAD),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            awaiting: None,
            next_send: Some(now),
            protocol: None,
            requests: 0,
            latencies: Latencies::default(),
            loop_latencies: Latencies::default(),
            started: now,
            soc_start,
            summary: None,
        };
        evcc.handle_timeout(now);
        evcc
    }

    /// The battery now.
    pub fn battery(&self) -> &Battery {
        &self.car.battery
    }

    /// The driver wants to leave: the car ramps down and ends the session (PowerDelivery stop,
    /// welding detection, SessionStop) at its next chance.
    pub fn request_stop(&mut self) {
        self.car.stop_requested = true;
    }

    /// Sets the battery's state of charge from outside: a simulation whose car battery is its
    /// own (metered on its DC bus) keeps the session's battery in step with it, instead of the
    /// session integrating what the charger reports.
    pub fn sync_battery_soc(&mut self, soc: Percent) {
        self.car.battery.set_soc(soc);
    }

    /// What the car knows about the charger.
    pub fn evse(&self) -> &EvseView {
        &self.car.evse
    }

    /// The negotiated protocol.
    pub fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }

    /// The session is over: close the connection after the last [`Evcc::poll_transmit`].
    pub fn is_closed(&self) -> bool {
        matches!(self.stage, Stage::Ended)
    }

    /// The summary, once the session is over.
    pub fn summary(&self) -> Option<&EvccSummary> {
        self.summary.as_ref()
    }

    /// Bytes from the charger.
    pub fn handle_data(&mut self, now: Timestamp, data: &[u8]) {
        if self.is_closed() {
            return;
        }
        self.decoder.push(data);
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => {
                    self.handle_frame(now, &frame);
                    if self.is_closed() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => return self.end(now, Err(EvccError::Framing(e))),
            }
        }
    }

    /// The connection closed.
    pub fn handle_close(&mut self, now: Timestamp) {
        if !self.is_closed() {
            self.end(now, Err(EvccError::ConnectionLost));
        }
    }

    /// The next deadline: a response timeout or the next request.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.is_closed() {
            return None;
        }
        match (self.awaiting.map(|a| a.deadline), self.next_send) {
            (Some(a), Some(n)) => Some(a.min(n)),
            (a, n) => a.or(n),
        }
    }

    /// Time passed: sends a due request, or fails on a response timeout.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.is_closed() {
            return;
        }
        if let Some(a) = self.awaiting
            && now >= a.deadline
        {
            return self.end(
                now,
                Err(EvccError::Timeout {
                    request: a.request,
                    after: a.timeout,
                }),
            );
        }
        if self.next_send.is_some_and(|t| now >= t) {
            self.next_send = None;
            self.send(now);
        }
    }

    /// Bytes to send, one frame at a time.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<EvccEvent> {
        self.events.pop_front()
    }

    fn send(&mut self, now: Timestamp) {
        let outgoing = match &mut self.stage {
            Stage::Handshake => {
                let req = app_protocol::request(&self.car.config.protocols);
                app_handshake::encode(&app_handshake::Document::SupportedAppProtocolReq(req))
                    .map(|bytes| Outgoing {
                        name: "supportedAppProtocolReq",
                        response: "supportedAppProtocolRes",
                        frame: Frame::new(PayloadType::Exi, bytes),
                        timeout: timing::EVCC_MSG_TIMEOUT,
                    })
                    .map_err(|e| EvccError::Encoding(e.to_string()))
            }
            Stage::Din(ev) => envelope::send(ev, &mut self.car, now),
            Stage::Iso2(ev) => envelope::send(ev, &mut self.car, now),
            Stage::Iso20(ev) => envelope::send(ev, &mut self.car, now),
            Stage::Ended => return,
        };
        match outgoing {
            Ok(out) => {
                debug!("--> {}", out.name);
                self.requests += 1;
                self.transmit.push_back(out.frame.to_bytes());
                self.awaiting = Some(Awaiting {
                    request: out.name,
                    response: out.response,
                    sent: now,
                    deadline: now + out.timeout,
                    timeout: out.timeout,
                });
            }
            Err(e) => self.end(now, Err(e)),
        }
    }

    fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
        let Some(awaiting) = self.awaiting.take() else {
            return self.end(
                now,
                Err(EvccError::Unexpected {
                    expected: "nothing",
                    got: format!("a frame of type {}", frame.payload_type),
                }),
            );
        };
        let latency = now.saturating_duration_since(awaiting.sent);
        self.latencies.push(latency);
        self.events.push_back(EvccEvent::Response {
            request: awaiting.request,
            latency,
        });
        let cycles_before = self.car.cycles;
        let had_session = !self.car.session_id.is_zero();
        let car = &mut self.car;
        let awaited = (awaiting.request, awaiting.response);
        let next = match &mut self.stage {
            Stage::Handshake => None,
            Stage::Din(ev) => Some(envelope::receive(ev, car, now, frame, awaited)),
            Stage::Iso2(ev) => Some(envelope::receive(ev, car, now, frame, awaited)),
            Stage::Iso20(ev) => Some(envelope::receive(ev, car, now, frame, awaited)),
            Stage::Ended => return,
        };
        let next = match next {
            Some(next) => next,
            None => self.handshake(frame),
        };
        if !had_session && !self.car.session_id.is_zero() {
            info!(session_id = %self.car.session_id, "session set up");
            self.events
                .push_back(EvccEvent::SessionStarted(self.car.session_id.clone()));
        }
        if self.car.cycles > cycles_before {
            if cycles_before == 0 {
                self.events.push_back(EvccEvent::Charging);
            }
            self.loop_latencies.push(latency);
        }
        match next {
            Ok(Next::Send) => self.send(now),
            Ok(Next::After(d)) => self.next_send = Some(now + d),
            Ok(Next::Done) => self.end(now, Ok(())),
            Ok(Next::Silent) => {
                info!("going silent, as configured");
                self.next_send = None;
            }
            Err(e) => self.end(now, Err(e)),
        }
    }

    fn handshake(&mut self, frame: &Frame) -> Result<Next, EvccError> {
        let res = match app_handshake::decode(&frame.payload) {
            Ok(app_handshake::Document::SupportedAppProtocolRes(res)) => res,
            Ok(_) => {
                return Err(EvccError::Unexpected {
                    expected: "supportedAppProtocolRes",
                    got: "supportedAppProtocolReq".into(),
                });
            }
            Err(e) => return Err(EvccError::Undecodable(e.to_string())),
        };
        let offered = app_protocol::request(&self.car.config.protocols);
        let chosen = res.schema_id.and_then(|id| {
            offered
                .app_protocol
                .iter()
                .position(|p| p.schema_id == id)
                .and_then(|i| self.car.config.protocols.get(i).copied())
        });
        let protocol = match (res.response_code, chosen) {
            (app_handshake::ResponseCodeType::FailedNoNegotiation, _) | (_, None) => {
                return Err(EvccError::NoCommonProtocol);
            }
            (_, Some(p)) => p,
        };
        info!("charger chose {protocol}");
        self.protocol = Some(protocol);
        self.events.push_back(EvccEvent::Negotiated(protocol));
        self.stage = match protocol {
            Protocol::Din => Stage::Din(din::Ev::new()),
            Protocol::Iso2 => Stage::Iso2(iso2::Ev::new()),
            Protocol::Iso20Dc => Stage::Iso20(iso20::Ev::new()),
        };
        Ok(Next::Send)
    }

    fn end(&mut self, now: Timestamp, result: Result<(), EvccError>) {
        match &result {
            Ok(()) => info!("session ended"),
            Err(e) => warn!("session failed: {e}"),
        }
        self.stage = Stage::Ended;
        self.awaiting = None;
        self.next_send = None;
        let summary = EvccSummary {
            protocol: self.protocol,
            session_id: (!self.car.session_id.is_zero()).then(|| self.car.session_id.clone()),
            requests: self.requests,
            charge_loop_cycles: self.car.cycles,
            charged: WattHours(self.car.charged_wh),
            discharged: WattHours(self.car.discharged_wh),
            soc_start: self.soc_start,
            soc_end: self.car.battery.soc(),
            charge_loop_latency: self.loop_latencies.stats(),
            latency: self.latencies.stats(),
            duration: now.saturating_duration_since(self.started),
            result,
        };
        self.summary = Some(summary.clone());
        self.events.push_back(EvccEvent::Ended(Box::new(summary)));
    }
}

#[cfg(test)]
mod latency_tests {
    use super::*;

    #[test]
    fn compact_latencies_give_the_exact_statistics() {
        let samples: Vec<Duration> = (0..1000u64)
            .map(|i| Duration::from_micros((i * 7919) % 250_000 + 300))
            .collect();
        let mut compact = Latencies::default();
        for &d in &samples {
            compact.push(d);
        }
        assert_eq!(compact.stats(), LatencyStats::of(&samples));
        assert_eq!(Latencies::default().stats(), LatencyStats::default());
        // Beyond u32 microseconds it saturates rather than wraps.
        let mut long = Latencies::default();
        long.push(Duration::from_secs(10_000));
        assert_eq!(long.stats().max, Duration::from_micros(u64::from(u32::MAX)));
    }
}
