//! The charge point and a simulated car on an in-memory powerline, on virtual time: what
//! `gridlet sim` runs for the car's sessions, and what tests drive.
//!
//! The charger's side is the daemon's: the same [`PointHandle`] (station and hardware), SLAC's
//! [`ChargerSlac`] driven by the pilot's events, the SDP server and one [`Secc`] per
//! connection. Only the transport differs: a simulated powerline ([`slac::sim::Powerline`])
//! whose modems carry SDP and V2G only while they hold one network key, as real modems do, in
//! place of raw and IP sockets. The car's side is [`slac::Ev`], the SDP client and an [`Evcc`]
//! whose battery is the simulated car's ([`CarBody`]).
//!
//! Everything happens at its own time: [`MemoryLink::advance_to`] handles each event in order
//! (frames arriving after the line's latency, timers, the pilot sampled every
//! [`PILOT_SAMPLE`]), so the driver can move the physical world forward between them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use homeplug::MacAddr;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use slac::sim::{HostId, Powerline};
use tokio::sync::mpsc;
use tracing::{debug, info};
use units::{Percent, Timestamp, WattHours};
use v2g::Protocol;
use v2g::evcc::{Evcc, EvccConfig, EvccEvent};
use v2g::sdp::{SdpClient, SdpClientConfig, SdpEvent, SdpServer, SdpServerConfig};
use v2g::secc::{Secc, SeccConfig, SeccEvent, SessionState};

use crate::point::PointHandle;
use crate::presence::{ChargerSlac, SlacInput};
use crate::session::{Charger, ServeEvent};

/// How often the charger samples the pilot: well within the station's 500 ms reading timeout,
/// and a plug-in confirmed within half a second (on the board: every 20 ms).
pub const PILOT_SAMPLE: Duration = Duration::from_millis(250);
/// One-way latency of the simulated powerline.
pub const LATENCY: Duration = Duration::from_millis(1);

const CHARGER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const CAR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

/// What the car does with its pilot resistors and its contactors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CarSwitches {
    /// Plugged in (its resistors on the pilot: state B).
    pub plugged: bool,
    /// S2 closed: it accepts energy (state C).
    pub s2_closed: bool,
    /// Its battery contactors: closed in the charge loop.
    pub contactors_closed: bool,
}

/// The car's physics, as its protocol stack sees it: the simulated world implements it.
pub trait CarBody {
    /// Whether the car is at the charge point with its plug in.
    fn plugged_in(&self) -> bool;
    /// Whether the driver is about to leave: the car ends its session.
    fn leaving(&self) -> bool;
    /// The battery's state of charge now.
    fn soc(&self) -> Percent;
    /// Whether the charger drives the 5 % pilot (SLAC may begin).
    fn pilot_digital(&self) -> bool;
    /// The car's switches from now on.
    fn set_switches(&mut self, switches: CarSwitches);
}

/// A session as the report lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SessionRecord {
    /// When the car connected.
    pub started: Timestamp,
    /// When it ended.
    pub ended: Timestamp,
    /// `din`, `iso2` or `iso20`.
    pub protocol: Option<&'static str>,
    /// Energy into the car, as the charger metered it.
    pub charged_wh: f64,
    /// Energy out of the car.
    pub discharged_wh: f64,
    /// Charge loop cycles.
    pub charge_loop_cycles: u32,
    /// Why it ended.
    pub end_reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    SdpRequest,
    SdpResponse,
    ToCharger,
    ToCar,
}

/// The car's protocol stack.
#[derive(Debug)]
struct CarStack {
    ev: Option<slac::Ev>,
    matched: bool,
    sdp: Option<SdpClient>,
    evcc: Option<Evcc>,
    /// The session is over for this plug-in (done or failed): the car waits to be unplugged.
    done: bool,
    switches: CarSwitches,
}

impl CarStack {
    fn new() -> Self {
        Self {
            ev: None,
            matched: false,
            sdp: None,
            evcc: None,
            done: false,
            switches: CarSwitches::default(),
        }
    }
}

/// The charge point and the car on one in-memory powerline. See the [module docs](self).
#[derive(Debug)]
pub struct MemoryLink<B: CarBody> {
    point: PointHandle,
    slac_inputs: mpsc::UnboundedReceiver<SlacInput>,
    evse: ChargerSlac,
    sdp: SdpServer,
    secc: Option<Secc>,
    secc_config: Arc<SeccConfig>,
    evcc_config: EvccConfig,
    rng: ChaCha20Rng,
    line: Powerline,
    charger_host: HostId,
    car_host: HostId,
    in_flight: VecDeque<(Timestamp, Hop, Vec<u8>)>,
    body: B,
    car: CarStack,
    now: Timestamp,
    next_pilot: Timestamp,
    started: Option<Timestamp>,
    sessions: Vec<SessionRecord>,
}

impl<B: CarBody> MemoryLink<B> {
    /// The charge point `point` (its pilot driving SLAC) and the car `body` whose sessions use
    /// `evcc`, from `now`. `seed` seeds every random draw (keys, RunIDs, SessionIDs).
    pub fn new(
        point: PointHandle,
        secc: Arc<SeccConfig>,
        evcc: EvccConfig,
        body: B,
        seed: [u8; 32],
        now: Timestamp,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        point.set_slac_inputs(tx);
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut line = Powerline::new(LATENCY);
        let charger_host = line.attach_evse(CHARGER_MAC, &slac::sim::REAL_AAG);
        let car_host = line.attach_ev(CAR_MAC);
        let mut evse_seed = [0u8; 32];
        rng.fill_bytes(&mut evse_seed);
        let evse = ChargerSlac::with_pilot(slac::EvseConfig::new(CHARGER_MAC, evse_seed), now);
        let sdp = SdpServer::new(SdpServerConfig {
            addr: std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 1),
            port: 50_000,
            tls_port: None,
        });
        Self {
            point,
            slac_inputs: rx,
            evse,
            sdp,
            secc: None,
            secc_config: secc,
            evcc_config: evcc,
            rng,
            line,
            charger_host,
            car_host,
            in_flight: VecDeque::new(),
            body,
            car: CarStack::new(),
            now,
            next_pilot: now,
            started: None,
            sessions: Vec::new(),
        }
    }

    /// The car's body (the simulated world's view of the car).
    pub fn body(&self) -> &B {
        &self.body
    }

    /// The same, to change.
    pub fn body_mut(&mut self) -> &mut B {
        &mut self.body
    }

    /// The sessions so far.
    pub fn sessions(&self) -> &[SessionRecord] {
        &self.sessions
    }

    /// The charge point.
    pub fn point(&self) -> &PointHandle {
        &self.point
    }

    /// The simulation ends: a session still running is ended by the charger and recorded.
    pub fn finish(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        if let Some(secc) = &mut self.secc
            && !secc.is_closed()
        {
            secc.handle_abort(self.now);
            self.flush(self.now);
        }
    }

    /// When something happens next (a frame arrives, a timer expires, the pilot is sampled).
    pub fn next_event(&self) -> Option<Timestamp> {
        let car = &self.car;
        [
            Some(self.next_pilot),
            self.in_flight.front().map(|(t, _, _)| *t),
            self.line.next_arrival(),
            plc::Machine::poll_timeout(&self.evse),
            car.ev.as_ref().and_then(slac::Ev::poll_timeout),
            car.sdp.as_ref().and_then(SdpClient::poll_timeout),
            self.secc.as_ref().and_then(Secc::poll_timeout),
            car.evcc.as_ref().and_then(Evcc::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles everything due up to `t`, each at its own time; a car plugged in or pulled out
    /// since is handled at `t` itself.
    pub fn advance_to(&mut self, t: Timestamp) {
        while let Some(next) = self.next_event() {
            if next > t {
                break;
            }
            self.now = self.now.max(next);
            self.step();
        }
        self.now = self.now.max(t);
        if self.body.plugged_in() != self.car.switches.plugged {
            self.step();
        }
    }

    /// Everything due at `self.now`.
    fn step(&mut self) {
        let now = self.now;
        self.car_plug(now);
        if self.next_pilot <= now {
            self.next_pilot = now + PILOT_SAMPLE;
            self.point.drive(now);
        }
        while let Ok(input) = self.slac_inputs.try_recv() {
            self.evse.handle_input(now, input);
        }
        // The powerline: SLAC frames.
        while let Some((to, bytes)) = self.line.poll(now) {
            if to == self.charger_host {
                self.evse.handle_frame(now, &bytes);
            } else if let Some(ev) = &mut self.car.ev {
                ev.handle_frame(now, &bytes);
            }
        }
        if plc::Machine::poll_timeout(&self.evse).is_some_and(|d| d <= now) {
            self.evse.handle_timeout(now);
        }
        if let Some(ev) = &mut self.car.ev
            && ev.poll_timeout().is_some_and(|d| d <= now)
        {
            ev.handle_timeout(now);
        }
        // SDP and V2G: only within one network.
        while self.in_flight.front().is_some_and(|(at, _, _)| *at <= now) {
            let Some((_, hop, bytes)) = self.in_flight.pop_front() else {
                break;
            };
            if !self.link_up() {
                debug!("{hop:?} lost: the modems are not in one network");
                continue;
            }
            self.deliver(now, hop, &bytes);
        }
        self.timers(now);
        self.flush(now);
    }

    fn link_up(&self) -> bool {
        let a = self.line.modem_key(self.charger_host);
        let b = self.line.modem_key(self.car_host);
        a.is_some() && a == b
    }

    /// The car follows its body: plugged in (resistors on), starting SLAC once the charger
    /// offers digital communication; unplugged (everything dropped at once).
    fn car_plug(&mut self, now: Timestamp) {
        let plugged = self.body.plugged_in();
        if plugged && !self.car.switches.plugged {
            self.car = CarStack::new();
            self.car.switches.plugged = true;
            self.body.set_switches(self.car.switches);
        } else if !plugged && self.car.switches.plugged {
            if let Some(evcc) = &mut self.car.evcc {
                evcc.handle_close(now);
            }
            if let Some(secc) = &mut self.secc {
                // The cable is gone: so is the connection.
                secc.handle_close(now);
            }
            self.car = CarStack::new();
            self.body.set_switches(self.car.switches);
        }
        if self.body.leaving()
            && let Some(evcc) = &mut self.car.evcc
        {
            evcc.request_stop();
        }
        if self.car.switches.plugged
            && self.car.ev.is_none()
            && !self.car.done
            && self.body.pilot_digital()
        {
            let mut seed = [0u8; 32];
            self.rng.fill_bytes(&mut seed);
            let mut ev = slac::Ev::new(slac::EvConfig::new(CAR_MAC, seed));
            ev.handle_start(now);
            self.car.ev = Some(ev);
        }
    }

    fn deliver(&mut self, now: Timestamp, hop: Hop, bytes: &[u8]) {
        match hop {
            Hop::SdpRequest => {
                if let Ok(response) = self.sdp.handle_request(bytes) {
                    self.in_flight.push_back((
                        now + LATENCY,
                        Hop::SdpResponse,
                        response.emit().to_vec(),
                    ));
                }
            }
            Hop::SdpResponse => {
                if let Some(sdp) = &mut self.car.sdp {
                    sdp.handle_datagram(now, bytes);
                }
            }
            Hop::ToCharger => {
                if let Some(secc) = &mut self.secc {
                    let mut point = self.point.clone();
                    let status = point.status(now);
                    secc.handle_data(now, bytes, &status);
                }
            }
            Hop::ToCar => {
                if let Some(evcc) = &mut self.car.evcc {
                    evcc.sync_battery_soc(self.body.soc());
                    evcc.handle_data(now, bytes);
                }
            }
        }
    }

    fn timers(&mut self, now: Timestamp) {
        if let Some(sdp) = &mut self.car.sdp
            && sdp.poll_timeout().is_some_and(|d| d <= now)
        {
            sdp.handle_timeout(now);
        }
        if let Some(secc) = &mut self.secc
            && secc.poll_timeout().is_some_and(|d| d <= now)
        {
            secc.handle_timeout(now);
        }
        if let Some(evcc) = &mut self.car.evcc
            && evcc.poll_timeout().is_some_and(|d| d <= now)
        {
            evcc.sync_battery_soc(self.body.soc());
            evcc.handle_timeout(now);
        }
    }

    /// Moves what every machine wants sent onto the line, handles their events, applies the
    /// session's demand, until nothing moves.
    fn flush(&mut self, now: Timestamp) {
        for _ in 0..64 {
            let mut moved = false;
            while let Some(repr) = plc::Machine::poll_transmit(&mut self.evse) {
                self.line.send(now, self.charger_host, &repr.to_bytes());
                moved = true;
            }
            while let Some(event) = plc::Machine::poll_event(&mut self.evse) {
                self.on_slac(now, &event);
                moved = true;
            }
            if let Some(ev) = &mut self.car.ev {
                while let Some(repr) = ev.poll_transmit() {
                    self.line.send(now, self.car_host, &repr.to_bytes());
                    moved = true;
                }
            }
            let ev_events: Vec<slac::EvEvent> = match &mut self.car.ev {
                Some(ev) => std::iter::from_fn(|| ev.poll_event()).collect(),
                None => Vec::new(),
            };
            for event in ev_events {
                moved = true;
                match event {
                    slac::EvEvent::Matched(m) => {
                        debug!("the car matched, network {}", m.nid);
                        self.car.matched = true;
                        self.car.sdp = Some(SdpClient::new(SdpClientConfig::default(), now));
                    }
                    slac::EvEvent::Failed { reason } => {
                        info!("the car's SLAC failed: {reason}");
                        self.car.done = true;
                    }
                    _ => {}
                }
            }
            let mut sdp_events = Vec::new();
            if let Some(sdp) = &mut self.car.sdp {
                while let Some(req) = sdp.poll_transmit() {
                    self.in_flight
                        .push_back((now + LATENCY, Hop::SdpRequest, req.to_vec()));
                    moved = true;
                }
                sdp_events.extend(std::iter::from_fn(|| sdp.poll_event()));
            }
            for event in sdp_events {
                moved = true;
                match event {
                    SdpEvent::Found { .. } => {
                        self.car.sdp = None;
                        self.connect(now);
                    }
                    SdpEvent::Failed { requests } => {
                        info!("the car found no charger after {requests} SDP requests");
                        self.car.sdp = None;
                        self.car.done = true;
                    }
                    SdpEvent::Ignored(_) => {}
                }
            }
            moved |= self.flush_session(now);
            if !moved {
                return;
            }
        }
    }

    /// The car connects: a new session on each side.
    fn connect(&mut self, now: Timestamp) {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        if let Some(old) = &mut self.secc {
            old.handle_abort(now);
        }
        self.secc = Some(Secc::new(Arc::clone(&self.secc_config), seed, now));
        let mut evcc = Evcc::new(self.evcc_config.clone(), now);
        evcc.sync_battery_soc(self.body.soc());
        self.car.evcc = Some(evcc);
        self.started = Some(now);
        self.point.on_serve_event(
            now,
            &ServeEvent::Connected(std::net::SocketAddr::from((
                std::net::Ipv6Addr::LOCALHOST,
                0,
            ))),
        );
    }

    fn flush_session(&mut self, now: Timestamp) -> bool {
        let mut moved = false;
        let mut point = self.point.clone();
        if let Some(secc) = &mut self.secc {
            if point.take_abort() {
                secc.handle_abort(now);
            }
            while let Some(bytes) = secc.poll_transmit() {
                self.in_flight.push_back((now + LATENCY, Hop::ToCar, bytes));
                moved = true;
            }
            let events: Vec<SeccEvent> = std::iter::from_fn(|| secc.poll_event()).collect();
            let demand = secc.demand();
            let closed = secc.is_closed();
            for event in &events {
                moved = true;
                match event {
                    SeccEvent::State(SessionState::CableCheck) => {
                        // The car closed S2 before asking for the cable check.
                        self.car.switches.s2_closed = true;
                        self.body.set_switches(self.car.switches);
                    }
                    SeccEvent::State(SessionState::Stopping) => {
                        self.car.switches.s2_closed = false;
                        self.body.set_switches(self.car.switches);
                    }
                    SeccEvent::Ended(end) => self.record(now, end),
                    _ => {}
                }
                point.on_serve_event(now, &ServeEvent::Session(event.clone()));
            }
            point.apply(now, demand);
            if closed {
                self.secc = None;
                point.on_serve_event(now, &ServeEvent::Closed { paused: false });
                if let Some(evcc) = &mut self.car.evcc {
                    evcc.handle_close(now);
                }
            }
        }
        if let Some(evcc) = &mut self.car.evcc {
            while let Some(bytes) = evcc.poll_transmit() {
                self.in_flight
                    .push_back((now + LATENCY, Hop::ToCharger, bytes));
                moved = true;
            }
            while let Some(event) = evcc.poll_event() {
                moved = true;
                match event {
                    EvccEvent::Charging => {
                        self.car.switches.contactors_closed = true;
                        self.body.set_switches(self.car.switches);
                    }
                    EvccEvent::Ended(_) => {
                        self.car.switches.contactors_closed = false;
                        self.car.switches.s2_closed = false;
                        self.body.set_switches(self.car.switches);
                    }
                    _ => {}
                }
            }
            if evcc.summary().is_some() {
                self.car.evcc = None;
                self.car.done = true;
                if let Some(secc) = &mut self.secc {
                    secc.handle_close(now);
                }
                moved = true;
            }
        }
        // Keep the car's contactors honest: open once its session is gone.
        if self.car.evcc.is_none() && self.car.switches.contactors_closed {
            self.car.switches.contactors_closed = false;
            self.body.set_switches(self.car.switches);
        }
        moved
    }

    fn on_slac(&mut self, now: Timestamp, event: &crate::presence::ChargerSlacEvent) {
        if let crate::presence::ChargerSlacEvent::Slac(slac::EvseEvent::SlacInitTimeout) = event {
            self.point.on_slac_init_timeout(now);
        }
    }

    fn record(&mut self, now: Timestamp, end: &v2g::secc::SessionEnd) {
        let record = SessionRecord {
            started: self.started.unwrap_or(now),
            ended: now,
            protocol: end.protocol.map(Protocol::name),
            charged_wh: end.charged.0,
            discharged_wh: end.discharged.0,
            charge_loop_cycles: end.charge_loop_cycles,
            end_reason: end.reason.to_string(),
        };
        info!(
            "session ended: {} ({} Wh in, {} Wh out, {} cycles)",
            record.end_reason,
            WattHours(record.charged_wh).0.round(),
            WattHours(record.discharged_wh).0.round(),
            record.charge_loop_cycles
        );
        self.sessions.push(record);
    }
}
