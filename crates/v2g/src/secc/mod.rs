//! The charger's side of a V2G session (the SECC), sans-IO.
//!
//! One [`Secc`] serves one TCP connection: it reassembles V2GTP frames from the bytes the car
//! sends, negotiates the protocol with SupportedAppProtocol, and hands every further request to
//! that protocol's state machine ([`din`], [`iso2`], [`iso20`]), which answers it. Each state
//! machine is an enum of `Expect*` states; a request a state does not allow is answered with the
//! matching response and FAILED_SequenceError, a request with another SessionID with
//! FAILED_UnknownSession, and after any FAILED response the session ends and the connection is
//! closed ([V2G-DC-665], [V2G2-538], [V2G2-736]).
//!
//! The session reads the charger through one [`ChargerStatus`] per request and drives it through
//! [`Secc::demand`]; see [`crate::charger`]. Once the session has ended, the demand is
//! [`Demand::OFF`].
//!
//! The rules every state of every protocol shares (framing, SessionID, faults, negative
//! responses) are written once, in [`envelope`]; each protocol module has only its state table
//! and its response builders.
//!
//! Timers (all in [`crate::timing`]): the communication setup limit until SessionSetup, the
//! sequence timeout between requests, and while current flows a one-second power watchdog that
//! turns the power stage off (without ending the session) when the car stops asking.

mod charging;
pub mod din;
pub(crate) mod envelope;
pub mod iso2;
pub mod iso20;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde::Serialize;
use tracing::{debug, info, warn};
use units::{Amps, Percent, Timestamp, Volts, WattHours, Watts};
use v2g_messages::app_handshake;

use crate::app_protocol::{self, Negotiated, Protocol, Selection};
use crate::charger::{ChargerStatus, Demand, Fault, Isolation};
use crate::dialect::{Din, Iso2, Iso20};
use crate::session_id::SessionId;
use crate::wire::{self, Decoder, Frame, PayloadType, WireError};
use crate::{ControlMode, Party, timing};

pub(crate) use charging::Charging;
use envelope::Session;

/// How the charger runs its sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct SeccConfig {
    /// The protocols offered, in our order of preference.
    pub protocols: Vec<Protocol>,
    /// How the protocol is picked from those the car offers.
    pub selection: Selection,
    /// The EVSEID sent in ISO 15118-2 and -20 (`ZZ00000` when the operator has none).
    pub evse_id: String,
    /// The EVSEID sent in DIN 70121 (hexBinary; chargers in the field send `00`).
    pub din_evse_id: Vec<u8>,
    /// Largest V2GTP payload accepted.
    pub max_payload: u32,
    /// The ISO 15118-20 control modes offered (ServiceDetail parameter sets), preferred first.
    pub control_modes: Vec<ControlMode>,
    /// Whether charging is free (FreeService in ServiceDiscovery).
    pub free_service: bool,
    /// PreCharge current limit (2 A by DIN 70121 and ISO 15118-2).
    pub precharge_current_limit: Amps,
    /// EVSEPeakCurrentRipple announced in ChargeParameterDiscovery (mandatory in DIN/ISO-2).
    pub peak_current_ripple: Amps,
    /// Offer bidirectional power (ISO 15118-20 DC_BPT) when the power stage can discharge.
    pub bidirectional: bool,
    /// The meter's ID in ISO 15118-20 MeterInfo.
    pub meter_id: String,
    /// The timers.
    pub timeouts: SeccTimeouts,
}

/// The charger's timers; defaults in [`crate::timing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeccTimeouts {
    /// From the connection to SessionSetupReq.
    pub communication_setup: Duration,
    /// Between a response and the next request.
    pub sequence: Duration,
    /// Longest isolation test.
    pub cable_check: Duration,
    /// Longest run of Ongoing authorization answers.
    pub ongoing: Duration,
    /// Silence after which the power stage is turned off while current flows.
    pub power_watchdog: Duration,
}

impl Default for SeccTimeouts {
    fn default() -> Self {
        Self {
            communication_setup: timing::SECC_COMMUNICATION_SETUP,
            sequence: timing::SECC_SEQUENCE_TIMEOUT,
            cable_check: timing::SECC_CABLE_CHECK_LIMIT,
            ongoing: timing::SECC_ONGOING_LIMIT,
            power_watchdog: timing::SECC_POWER_WATCHDOG,
        }
    }
}

impl Default for SeccConfig {
    fn default() -> Self {
        Self {
            protocols: Protocol::ALL.to_vec(),
            selection: Selection::CarPriority,
            evse_id: "ZZ00000".to_owned(),
            din_evse_id: vec![0],
            max_payload: wire::DEFAULT_MAX_PAYLOAD,
            control_modes: vec![ControlMode::Scheduled, ControlMode::Dynamic],
            free_service: false,
            precharge_current_limit: Amps(2.0),
            peak_current_ripple: Amps(1.0),
            bidirectional: true,
            meter_id: "gridlet".to_owned(),
            timeouts: SeccTimeouts::default(),
        }
    }
}

/// Where a session is, for the charger application (maps onto `devices::ChargePointState`:
/// everything before [`SessionState::Charging`] is "connecting").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionState {
    /// Handshake, session setup, services, payment.
    Setup,
    /// Waiting for the authorization (ContractAuthentication, Authorization).
    Authorization,
    /// Exchanging limits and schedules.
    Parameters,
    /// Isolation test.
    CableCheck,
    /// Raising the output to the battery voltage.
    PreCharge,
    /// Current may flow (the charge loop).
    Charging,
    /// The car ended the charge loop: current off, welding detection, session stop.
    Stopping,
    /// Over.
    Ended,
}

/// What the car tells about itself. Fields the protocol does not carry stay `None`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct EvStatus {
    /// State of charge.
    pub soc: Option<Percent>,
    /// Whether the car says it is ready.
    pub ready: bool,
    /// The car's error code, if not NO_ERROR.
    pub error: Option<String>,
    /// Highest voltage the car accepts.
    pub max_voltage: Option<Volts>,
    /// Highest charge current.
    pub max_current: Option<Amps>,
    /// Highest charge power.
    pub max_power: Option<Watts>,
    /// Highest discharge current (ISO 15118-20 BPT).
    pub max_discharge_current: Option<Amps>,
    /// Highest discharge power (ISO 15118-20 BPT).
    pub max_discharge_power: Option<Watts>,
    /// Battery capacity.
    pub capacity: Option<WattHours>,
    /// The SoC the car wants to reach.
    pub target_soc: Option<Percent>,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq)]
pub enum EndReason {
    /// The car ended it with SessionStopReq (Terminate, or Pause to come back later).
    Stopped {
        /// The car asked to pause (ISO 15118-2/-20): it may resume with the same SessionID.
        pause: bool,
    },
    /// The car offered no protocol we speak (answered Failed_NoNegotiation).
    NoCommonProtocol,
    /// A request the protocol does not allow in this state (answered FAILED_SequenceError).
    SequenceError {
        /// The request.
        request: &'static str,
        /// What the session expected.
        expected: &'static str,
    },
    /// A request with another SessionID (answered FAILED_UnknownSession).
    UnknownSession {
        /// The request.
        request: &'static str,
    },
    /// A request the charger refused (answered with the negative response code named).
    Rejected {
        /// The request.
        request: &'static str,
        /// The response code sent.
        code: &'static str,
    },
    /// The site or the user did not authorize the car.
    NotAuthorized,
    /// The isolation test failed or took too long.
    CableCheckFailed(Isolation),
    /// The charger's hardware failed (answered FAILED with EVSE_EmergencyShutdown or
    /// EVSE_Malfunction).
    Fault(Fault),
    /// No request for too long.
    Timeout {
        /// What the session was waiting for.
        waiting_for: &'static str,
        /// How long it waited.
        after: Duration,
    },
    /// The connection closed (the car closed it, reset it, or the link failed).
    ConnectionLost,
    /// The bytes were not V2GTP frames we accept.
    Framing(WireError),
    /// A message that is not a valid EXI document of the negotiated schema, or not a request.
    Undecodable(String),
    /// A response could not be encoded: a bug on our side.
    Encoding(String),
    /// The charger application ended the session (shutdown, a new connection took over).
    Aborted,
}

impl EndReason {
    /// Who is at fault.
    pub fn party(&self) -> Party {
        match self {
            Self::Stopped { .. } => Party::None,
            Self::NoCommonProtocol
            | Self::SequenceError { .. }
            | Self::UnknownSession { .. }
            | Self::Rejected { .. }
            | Self::Timeout { .. }
            | Self::ConnectionLost
            | Self::Framing(_)
            | Self::Undecodable(_) => Party::Car,
            Self::NotAuthorized
            | Self::CableCheckFailed(_)
            | Self::Fault(_)
            | Self::Encoding(_)
            | Self::Aborted => Party::Charger,
        }
    }

    /// Whether the session ended the way the protocol intends.
    pub fn is_normal(&self) -> bool {
        matches!(self, Self::Stopped { .. })
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stopped { pause: false } => f.write_str("the car stopped the session"),
            Self::Stopped { pause: true } => f.write_str("the car paused the session"),
            Self::NoCommonProtocol => f.write_str("the car offered no protocol we speak"),
            Self::SequenceError { request, expected } => write!(
                f,
                "the car sent {request} out of sequence (expected {expected}): FAILED_SequenceError"
            ),
            Self::UnknownSession { request } => write!(
                f,
                "the car sent {request} with another SessionID: FAILED_UnknownSession"
            ),
            Self::Rejected { request, code } => {
                write!(f, "the car's {request} was refused with {code}")
            }
            Self::NotAuthorized => f.write_str("the charger did not authorize the car"),
            Self::CableCheckFailed(isolation) => {
                write!(f, "the charger's isolation test failed ({isolation:?})")
            }
            Self::Fault(fault) => write!(f, "the charger failed: {fault:?}"),
            Self::Timeout { waiting_for, after } => {
                write!(f, "the car sent no {waiting_for} within {after:?}")
            }
            Self::ConnectionLost => f.write_str("the car or the link closed the connection"),
            Self::Framing(e) => write!(f, "the car sent a bad frame: {e}"),
            Self::Undecodable(e) => write!(f, "the car sent an undecodable message: {e}"),
            Self::Encoding(e) => {
                write!(f, "the charger could not encode its response (a bug): {e}")
            }
            Self::Aborted => f.write_str("the charger ended the session"),
        }
    }
}

/// The record of a finished session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEnd {
    /// Why it ended.
    pub reason: EndReason,
    /// The protocol, if negotiated.
    pub protocol: Option<Protocol>,
    /// The SessionID, if set up.
    pub session_id: Option<SessionId>,
    /// Requests answered (including SupportedAppProtocolReq).
    pub requests: u32,
    /// Charge loop requests answered (CurrentDemandReq, DC_ChargeLoopReq).
    pub charge_loop_cycles: u32,
    /// Energy into the car.
    pub charged: WattHours,
    /// Energy out of the car.
    pub discharged: WattHours,
    /// From the connection to the end.
    pub duration: Duration,
}

/// What happened, for the charger application and its logs.
#[derive(Debug, Clone, PartialEq)]
pub enum SeccEvent {
    /// The protocol was negotiated.
    Negotiated(Negotiated),
    /// SessionSetup answered.
    SessionStarted {
        /// The SessionID.
        session_id: SessionId,
        /// The car's EVCCID (its MAC in DIN/ISO-2), as hex or text.
        evcc_id: String,
        /// The car resumed a paused session.
        resumed: bool,
    },
    /// The session moved on.
    State(SessionState),
    /// The car's status or limits changed.
    Ev(EvStatus),
    /// Something worth a warning that does not end the session (the power watchdog tripped, a
    /// request was out of range and clamped).
    Warning(String),
    /// The session is over; the connection should be closed once the last response is sent.
    Ended(SessionEnd),
}

/// What a protocol state machine did with one request.
#[derive(Debug)]
pub(crate) struct Step {
    /// The response frame.
    pub(crate) response: Option<Frame>,
    /// The session ends after this response.
    pub(crate) end: Option<EndReason>,
}

impl Step {
    pub(crate) fn reply(frame: Frame) -> Self {
        Self {
            response: Some(frame),
            end: None,
        }
    }

    pub(crate) fn reply_and_end(frame: Frame, end: EndReason) -> Self {
        Self {
            response: Some(frame),
            end: Some(end),
        }
    }

    pub(crate) fn end(end: EndReason) -> Self {
        Self {
            response: None,
            end: Some(end),
        }
    }
}

/// What a protocol state machine may use while handling a request.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Timestamp,
    pub(crate) status: &'a ChargerStatus,
    pub(crate) config: &'a SeccConfig,
    pub(crate) rng: &'a mut ChaCha20Rng,
    /// A paused session the car may resume.
    pub(crate) paused: Option<&'a SessionId>,
    pub(crate) charging: &'a mut Charging,
    pub(crate) events: &'a mut VecDeque<SeccEvent>,
}

impl Ctx<'_> {
    /// Announces a new session.
    pub(crate) fn session_started(
        &mut self,
        session_id: &SessionId,
        evcc_id: String,
        resumed: bool,
    ) {
        info!(%session_id, evcc_id, resumed, "session set up");
        self.events.push_back(SeccEvent::SessionStarted {
            session_id: session_id.clone(),
            evcc_id,
            resumed,
        });
    }

    /// Moves to `state`, announcing it if it changed.
    pub(crate) fn state(&mut self, state: SessionState) {
        self.charging.set_state(state, self.events);
    }

    /// Updates what the car told, announcing a change.
    pub(crate) fn ev(&mut self, update: impl FnOnce(&mut EvStatus)) {
        self.charging.update_ev(update, self.events);
    }

    /// A warning for the logs.
    pub(crate) fn warn(&mut self, text: String) {
        warn!("{text}");
        self.events.push_back(SeccEvent::Warning(text));
    }

    /// An authorization request, Ongoing since `since` (see [`Charging::authorize`]).
    pub(crate) fn authorize(&self, since: Option<Timestamp>) -> charging::Authorize {
        self.charging
            .authorize(since, self.now, self.status, self.config)
    }

    /// A CableCheckReq of the test started at `since` (see [`Charging::cable_check`]).
    pub(crate) fn cable_check(&mut self, since: Option<Timestamp>) -> charging::CableCheck {
        self.charging
            .cable_check(since, self.now, self.status, self.config)
    }

    /// The ISO 15118-20 header timestamp: seconds since the Unix epoch.
    pub(crate) fn unix_secs(&self) -> u64 {
        crate::dialect::unix_secs(self.now)
    }
}

/// The protocol stage of a connection.
#[derive(Debug)]
enum Stage {
    /// Waiting for SupportedAppProtocolReq.
    ExpectSupportedAppProtocol,
    Din(Session<Din>),
    Iso2(Session<Iso2>),
    Iso20(Session<Iso20>),
    /// Over: nothing more is read.
    Ended,
}

/// The charger's side of one V2G connection. See the [module docs](self).
#[derive(Debug)]
pub struct Secc {
    config: Arc<SeccConfig>,
    decoder: Decoder,
    stage: Stage,
    rng: ChaCha20Rng,
    paused: Option<SessionId>,
    charging: Charging,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<SeccEvent>,
    started: Timestamp,
    /// When the last request was answered (the start of the sequence timeout).
    last_request: Timestamp,
    /// The power watchdog tripped: no current until the next request.
    watchdog_tripped: bool,
    requests: u32,
    protocol: Option<Protocol>,
    session_id: Option<SessionId>,
}

impl Secc {
    /// A session for a connection the car opened at `now`. `seed` seeds the SessionID RNG: OS
    /// entropy in production, fixed in tests.
    pub fn new(config: Arc<SeccConfig>, seed: [u8; 32], now: Timestamp) -> Self {
        Self {
            decoder: Decoder::new(config.max_payload),
            config,
            stage: Stage::ExpectSupportedAppProtocol,
            rng: ChaCha20Rng::from_seed(seed),
            paused: None,
            charging: Charging::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            started: now,
            last_request: now,
            watchdog_tripped: false,
            requests: 0,
            protocol: None,
            session_id: None,
        }
    }

    /// Lets the car resume `paused`, a session it paused on an earlier connection (ISO 15118-2
    /// and -20: SessionSetupReq with that SessionID is answered OK_OldSessionJoined).
    #[must_use]
    pub fn resuming(mut self, paused: Option<SessionId>) -> Self {
        self.paused = paused;
        self
    }

    /// The negotiated protocol.
    pub fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }

    /// The session's ID once set up.
    pub fn session_id(&self) -> Option<&SessionId> {
        self.session_id.as_ref()
    }

    /// What the charger should do now. [`Demand::OFF`] once the session is over, and while the
    /// power watchdog has tripped.
    pub fn demand(&self) -> Demand {
        if self.is_closed() || self.watchdog_tripped {
            Demand::OFF
        } else {
            self.charging.demand
        }
    }

    /// The session is over: close the connection after the last [`Secc::poll_transmit`].
    pub fn is_closed(&self) -> bool {
        matches!(self.stage, Stage::Ended)
    }

    /// Bytes from the car. `status` is the charger now.
    pub fn handle_data(&mut self, now: Timestamp, data: &[u8], status: &ChargerStatus) {
        if self.is_closed() {
            return;
        }
        self.charging.sample(now, status.present);
        self.decoder.push(data);
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => {
                    self.handle_frame(now, &frame, status);
                    if self.is_closed() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    self.end(now, EndReason::Framing(e));
                    return;
                }
            }
        }
    }

    /// The connection closed (end of stream, reset, or an I/O error).
    pub fn handle_close(&mut self, now: Timestamp) {
        if !self.is_closed() {
            self.end(now, EndReason::ConnectionLost);
        }
    }

    /// The charger application ends the session (shutdown, replaced by a new connection).
    pub fn handle_abort(&mut self, now: Timestamp) {
        if !self.is_closed() {
            self.end(now, EndReason::Aborted);
        }
    }

    /// The next deadline: communication setup or sequence timeout, and the power watchdog.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.is_closed() {
            return None;
        }
        let sequence = self.last_request + self.sequence_limit().1;
        let watchdog = (self.delivering() && !self.watchdog_tripped)
            .then(|| self.last_request + self.config.timeouts.power_watchdog);
        Some(watchdog.map_or(sequence, |w| w.min(sequence)))
    }

    /// Time passed: fires the deadlines due at `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.is_closed() {
            return;
        }
        let since = now.saturating_duration_since(self.last_request);
        let (waiting_for, limit) = self.sequence_limit();
        if since >= limit {
            self.end(
                now,
                EndReason::Timeout {
                    waiting_for,
                    after: limit,
                },
            );
            return;
        }
        if self.delivering()
            && !self.watchdog_tripped
            && since >= self.config.timeouts.power_watchdog
        {
            self.watchdog_tripped = true;
            let text = format!(
                "no request from the car for {since:?} while current flows: power stage off"
            );
            warn!("{text}");
            self.events.push_back(SeccEvent::Warning(text));
        }
    }

    /// Bytes to send to the car, one V2GTP frame at a time.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SeccEvent> {
        self.events.pop_front()
    }

    fn delivering(&self) -> bool {
        matches!(
            self.charging.demand.power,
            crate::charger::PowerDemand::Deliver { .. }
        )
    }

    fn sequence_limit(&self) -> (&'static str, Duration) {
        if self.session_id.is_none() {
            ("SessionSetupReq", self.config.timeouts.communication_setup)
        } else {
            ("request", self.config.timeouts.sequence)
        }
    }

    fn handle_frame(&mut self, now: Timestamp, frame: &Frame, status: &ChargerStatus) {
        self.requests += 1;
        self.last_request = now;
        self.watchdog_tripped = false;
        let mut ctx = Ctx {
            now,
            status,
            config: &self.config,
            rng: &mut self.rng,
            paused: self.paused.as_ref(),
            charging: &mut self.charging,
            events: &mut self.events,
        };
        let step = match &mut self.stage {
            Stage::ExpectSupportedAppProtocol => {
                let (step, session) = handshake(&mut ctx, frame);
                if let Some(session) = session {
                    self.protocol = Some(session.protocol());
                    self.stage = session;
                }
                step
            }
            Stage::Din(s) => s.handle(&mut ctx, frame),
            Stage::Iso2(s) => s.handle(&mut ctx, frame),
            Stage::Iso20(s) => s.handle(&mut ctx, frame),
            Stage::Ended => return,
        };
        let id = match &self.stage {
            Stage::Din(s) => s.session_id(),
            Stage::Iso2(s) => s.session_id(),
            Stage::Iso20(s) => s.session_id(),
            Stage::ExpectSupportedAppProtocol | Stage::Ended => None,
        };
        if let Some(id) = id {
            self.session_id = Some(id.clone());
        }
        if let Some(frame) = step.response {
            self.transmit.push_back(frame.to_bytes());
        }
        if let Some(reason) = step.end {
            self.end(now, reason);
        }
    }

    fn end(&mut self, now: Timestamp, reason: EndReason) {
        if reason.is_normal() {
            info!("session ended: {reason}");
        } else {
            warn!("session ended: {reason}");
        }
        self.stage = Stage::Ended;
        self.charging.stop();
        self.charging
            .set_state(SessionState::Ended, &mut self.events);
        self.events.push_back(SeccEvent::Ended(SessionEnd {
            reason,
            protocol: self.protocol,
            session_id: self.session_id.clone(),
            requests: self.requests,
            charge_loop_cycles: self.charging.cycles,
            charged: WattHours(self.charging.charged_wh),
            discharged: WattHours(self.charging.discharged_wh),
            duration: now.saturating_duration_since(self.started),
        }));
    }
}

impl Stage {
    fn protocol(&self) -> Protocol {
        match self {
            Self::Iso2(_) => Protocol::Iso2,
            Self::Iso20(_) => Protocol::Iso20Dc,
            _ => Protocol::Din,
        }
    }
}

/// SupportedAppProtocolReq: picks the protocol and creates its state machine.
fn handshake(ctx: &mut Ctx<'_>, frame: &Frame) -> (Step, Option<Stage>) {
    if frame.payload_type != PayloadType::Exi {
        return (
            Step::end(EndReason::Framing(WireError::PayloadType {
                found: frame.payload_type,
                expected: PayloadType::Exi,
            })),
            None,
        );
    }
    let req = match app_handshake::decode(&frame.payload) {
        Ok(app_handshake::Document::SupportedAppProtocolReq(req)) => req,
        Ok(other) => {
            return (
                Step::end(EndReason::Undecodable(format!(
                    "expected supportedAppProtocolReq, got {}",
                    other.name()
                ))),
                None,
            );
        }
        Err(e) => return (Step::end(EndReason::Undecodable(e.to_string())), None),
    };
    for p in &req.app_protocol {
        debug!(
            namespace = p.protocol_namespace,
            version = format!("{}.{}", p.version_number_major, p.version_number_minor),
            schema_id = p.schema_id,
            priority = p.priority,
            "car offers"
        );
    }
    let (res, negotiated) =
        app_protocol::negotiate(&req, &ctx.config.protocols, ctx.config.selection);
    let response =
        match app_handshake::encode(&app_handshake::Document::SupportedAppProtocolRes(res)) {
            Ok(bytes) => Frame::new(PayloadType::Exi, bytes),
            Err(e) => return (Step::end(EndReason::Encoding(e.to_string())), None),
        };
    let Some(negotiated) = negotiated else {
        return (
            Step::reply_and_end(response, EndReason::NoCommonProtocol),
            None,
        );
    };
    info!(
        "protocol {} (SchemaID {})",
        negotiated.protocol, negotiated.schema_id
    );
    ctx.events.push_back(SeccEvent::Negotiated(negotiated));
    let stage = match negotiated.protocol {
        Protocol::Din => Stage::Din(Session::new()),
        Protocol::Iso2 => Stage::Iso2(Session::new()),
        Protocol::Iso20Dc => Stage::Iso20(Session::new()),
    };
    (Step::reply(response), Some(stage))
}
