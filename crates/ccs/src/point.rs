//! The charge point on Linux: the charger application of [`crate::evse`] (SLAC, SDP, V2G
//! sessions) joined, through [`charge_point::Station`], to the charge point's hardware (control
//! pilot, changeover and precharge relays, the converter it shares with the site, isolation
//! monitor, inlet voltage) and to the site.
//!
//! [`PointHandle`] is the one place where they meet, behind a mutex: the session reads and
//! applies through it ([`Charger`]), the site grants and reads through it
//! ([`devices::ChargePoint`]), and [`run_point`]'s pilot task drives it every
//! [`PILOT_PERIOD`] (pilot readings, relays, the converter while the station holds the port).
//! Every access steps the station with the newest hardware readings, so the session's demand
//! reaches the hardware at the session's pace, and the pilot's at the pilot's.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use charge_point::{Hardware, Outputs, Station, StationConfig, StationEvent};
use devices::{
    ChargeLimits, ChargePointStatus, ControlPilot, DeviceError, IsolationMonitor, PilotSignal,
    PortConverter, Relay, Stamped,
};
use tokio::sync::mpsc;
use tracing::warn;
use units::{Clock, Timestamp, Volts};
use v2g::charger::{ChargerStatus, Demand};

use crate::evse::{EvseError, EvseEvent, EvseOptions, SlacDriving, run_evse_with};
use crate::presence::SlacInput;
use crate::session::{Charger, ServeEvent};

/// How often the pilot is read and the station driven when no session step does it.
pub const PILOT_PERIOD: Duration = Duration::from_millis(20);

/// A measurement of the inlet's DC voltage (an ADC channel behind a divider, or the simulated
/// inlet). Without one the converter's DC voltage counts.
pub trait InletSensor: Send {
    /// The newest measurement.
    fn voltage(&self) -> Option<Stamped<Volts>>;
}

/// The charge point's hardware.
pub struct PointHardware {
    /// The control pilot.
    pub pilot: Box<dyn ControlPilot>,
    /// The changeover relay between the home battery and the inlet.
    pub changeover: Box<dyn Relay>,
    /// The precharge relay.
    pub precharge: Box<dyn Relay>,
    /// The converter, shared with the site.
    pub converter: PortConverter,
    /// The isolation monitor, if one is fitted (the station's configuration says whether).
    pub isolation: Option<Box<dyn IsolationMonitor>>,
    /// The inlet voltage, if measured.
    pub inlet: Option<Box<dyn InletSensor>>,
}

impl std::fmt::Debug for PointHardware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointHardware")
            .field("converter", &self.converter)
            .field("isolation", &self.isolation.is_some())
            .field("inlet", &self.inlet.is_some())
            .finish_non_exhaustive()
    }
}

/// What the charge point tells about its session, for the API.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct SessionInfo {
    /// The protocol, once negotiated.
    pub protocol: Option<&'static str>,
    /// The session's state.
    pub state: Option<String>,
    /// How the last session ended.
    pub end_reason: Option<String>,
}

#[derive(Debug)]
struct Point {
    station: Station,
    hw: PointHardware,
    /// The stamp of the last pilot reading fed in.
    last_pilot: Option<Timestamp>,
    /// The signal last written, and when.
    last_signal: Option<(PilotSignal, Timestamp)>,
    /// The relays' last commands, to write only changes (and refresh now and then).
    last_outputs: Option<(Outputs, Timestamp)>,
    /// The newest time seen.
    now: Timestamp,
    /// SLAC's inputs, with a pilot.
    slac: Option<mpsc::UnboundedSender<SlacInput>>,
    /// A session is running.
    in_session: bool,
    abort: bool,
    session: SessionInfo,
    errors: Vec<String>,
}

/// Rewrite unchanged outputs this often anyway (a relay or PWM driver that lost its state).
const REWRITE: Duration = Duration::from_secs(1);

impl Point {
    fn readings(&self) -> Hardware {
        Hardware {
            converter: self.hw.converter.status(),
            changeover: self.hw.changeover.feedback(),
            precharge: self.hw.precharge.feedback(),
            inlet_voltage: self.hw.inlet.as_ref().and_then(|s| s.voltage()),
            isolation: self.hw.isolation.as_ref().and_then(|m| m.status()),
        }
    }

    /// Feeds the newest pilot reading and timers, steps the station and applies its outputs.
    fn drive(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        let now = self.now;
        if let Some(reading) = self.hw.pilot.reading()
            && self.last_pilot.is_none_or(|t| reading.at > t)
        {
            self.last_pilot = Some(reading.at);
            self.station.handle_pilot(now, reading);
        }
        if self.station.poll_timeout().is_some_and(|t| t <= now) {
            self.station.handle_timeout(now);
        }
        let hw = self.readings();
        let out = self.station.step(now, &hw);
        self.apply(now, out);
        while let Some(event) = self.station.poll_event() {
            let input = match event {
                StationEvent::CarPlugged | StationEvent::SlacRestart => SlacInput::CarPlugged,
                StationEvent::CarLeft => {
                    if self.in_session {
                        self.abort = true;
                    }
                    SlacInput::CarLeft
                }
            };
            if let Some(slac) = &self.slac {
                let _ = slac.send(input);
            }
        }
    }

    fn apply(&mut self, now: Timestamp, out: Outputs) {
        let stale = self
            .last_outputs
            .is_none_or(|(_, at)| now.saturating_duration_since(at) >= REWRITE);
        let last = self.last_outputs.map(|(o, _)| o);
        let mut errors = Vec::new();
        let mut note = |r: Result<(), DeviceError>| {
            if let Err(e) = r {
                errors.push(e.to_string());
            }
        };
        if stale || last.map(|o| o.pilot) != Some(out.pilot) {
            note(self.hw.pilot.set_signal(now, out.pilot));
            self.last_signal = Some((out.pilot, now));
        }
        if stale || last.map(|o| o.port.changeover) != Some(out.port.changeover) {
            note(self.hw.changeover.set(now, out.port.changeover));
        }
        if stale || last.map(|o| o.port.precharge) != Some(out.port.precharge) {
            note(self.hw.precharge.set(now, out.port.precharge));
        }
        // The converter every time: its own watchdog wants fresh set-points.
        note(self.hw.converter.charge_point(now, out.port.converter));
        if let Some(m) = &mut self.hw.isolation
            && (stale || last.map(|o| o.isolation_test) != Some(out.isolation_test))
        {
            note(m.set_testing(now, out.isolation_test));
        }
        if stale || last != Some(out) {
            self.last_outputs = Some((out, now));
        }
        if errors != self.errors {
            for e in &errors {
                warn!("charge point: {e}");
            }
            self.errors = errors;
        }
    }

    /// Everything off: pilot F, relays open, the converter stopped and back to the site.
    fn safe_state(&mut self, now: Timestamp) {
        let _ = self
            .hw
            .converter
            .charge_point(now, Some(devices::ConverterCommand::SAFE));
        let _ = self.hw.pilot.safe_state(now);
        let _ = self.hw.precharge.safe_state(now);
        if let Some(m) = &mut self.hw.isolation {
            let _ = m.safe_state(now);
        }
        // The changeover relay only once the converter is idle: the station's sequence does
        // that when driven; at shutdown the site's safe state waits for the converter.
    }
}

/// The charge point, shared by the session, the site and the pilot task. Cloning shares it.
#[derive(Debug, Clone)]
pub struct PointHandle(Arc<Mutex<Point>>);

impl PointHandle {
    /// A charge point on `hw`, set up as `config`, at `now`.
    pub fn new(config: StationConfig, hw: PointHardware, now: Timestamp) -> Self {
        Self(Arc::new(Mutex::new(Point {
            station: Station::new(config),
            hw,
            last_pilot: None,
            last_signal: None,
            last_outputs: None,
            now,
            slac: None,
            in_session: false,
            abort: false,
            session: SessionInfo::default(),
            errors: Vec::new(),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Point> {
        // A panic while holding the lock is a bug; the hardware state is still the best there
        // is, and every caller re-drives it.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the pilot, steps the station and applies its outputs at `now`.
    pub fn drive(&self, now: Timestamp) {
        self.lock().drive(now);
    }

    /// The session's protocol, state and end, for the API.
    pub fn session(&self) -> SessionInfo {
        self.lock().session.clone()
    }

    /// Every actuator of the charge point to its safe state.
    pub fn safe_state(&self, now: Timestamp) {
        self.lock().safe_state(now);
    }

    /// Where the pilot's plug events go (SLAC driven by the pilot).
    pub(crate) fn set_slac_inputs(&self, tx: mpsc::UnboundedSender<SlacInput>) {
        self.lock().slac = Some(tx);
    }

    pub(crate) fn on_serve_event(&self, now: Timestamp, event: &ServeEvent) {
        let mut p = self.lock();
        match event {
            ServeEvent::Connected(_) => {
                p.station.handle_connected();
                p.in_session = true;
                p.abort = false;
                p.session = SessionInfo::default();
            }
            ServeEvent::Session(e) => {
                p.station.handle_session(now, e);
                match e {
                    v2g::secc::SeccEvent::Negotiated(n) => {
                        p.session.protocol = Some(n.protocol.name())
                    }
                    v2g::secc::SeccEvent::State(s) => p.session.state = Some(format!("{s:?}")),
                    v2g::secc::SeccEvent::Ended(end) => {
                        p.session.end_reason = Some(end.reason.to_string());
                        p.in_session = false;
                    }
                    _ => {}
                }
            }
            ServeEvent::Closed { .. } => p.in_session = false,
            ServeEvent::Frame { .. } => {}
        }
        p.drive(now);
    }

    fn on_slac_event(&self, now: Timestamp, event: &slac::EvseEvent) {
        if matches!(event, slac::EvseEvent::SlacInitTimeout) {
            self.on_slac_init_timeout(now);
        }
    }

    /// SLAC's TT_EVSE_SLAC_init passed without a car: the E/F toggle.
    pub(crate) fn on_slac_init_timeout(&self, now: Timestamp) {
        let mut p = self.lock();
        p.station.handle_slac_init_timeout(now);
        p.drive(now);
    }
}

impl Charger for PointHandle {
    fn status(&mut self, now: Timestamp) -> ChargerStatus {
        let mut p = self.lock();
        p.drive(now);
        let hw = p.readings();
        p.station.charger_status(now, &hw)
    }

    fn apply(&mut self, now: Timestamp, demand: Demand) {
        let mut p = self.lock();
        p.station.handle_demand(demand);
        p.drive(now);
    }

    fn take_abort(&mut self) -> bool {
        std::mem::take(&mut self.lock().abort)
    }
}

impl devices::ChargePoint for PointHandle {
    fn status(&self) -> Option<Stamped<ChargePointStatus>> {
        let p = self.lock();
        Some(Stamped::new(p.now, p.station.status()))
    }

    fn set_limits(&mut self, now: Timestamp, limits: ChargeLimits) -> Result<(), DeviceError> {
        let mut p = self.lock();
        p.station.set_grant(now, limits);
        p.drive(now);
        Ok(())
    }

    /// No grant, the pilot to F: the car stops, the port is released once no current flows.
    fn safe_state(&mut self, now: Timestamp) -> Result<(), DeviceError> {
        let mut p = self.lock();
        p.station.set_grant(now, ChargeLimits::ZERO);
        p.station.shut_down();
        p.drive(now);
        Ok(())
    }

    fn is_safe(&mut self, now: Timestamp) -> bool {
        let mut p = self.lock();
        p.drive(now);
        let out = p.last_outputs.map(|(o, _)| o);
        p.station.port_state() == charge_point::PortState::Stationary
            && out.is_some_and(|o| !o.port.changeover && !o.port.precharge)
    }
}

/// Runs the charge point: the pilot task and the charger application (SLAC driven by the pilot
/// with [`SlacDriving::Pilot`], else by the V2G stage), until `shutdown` completes or the
/// application fails. On return every actuator of the charge point is in its safe state.
pub async fn run_point(
    options: &EvseOptions,
    driving: SlacDriving,
    point: PointHandle,
    clock: &impl Clock,
    seed: impl FnMut() -> [u8; 32],
    mut on_event: impl FnMut(&EvseEvent),
    shutdown: impl Future<Output = ()>,
) -> Result<(), EvseError> {
    let (slac_tx, slac_rx) = mpsc::unbounded_channel();
    if driving == SlacDriving::Pilot {
        point.set_slac_inputs(slac_tx.clone());
    }
    let pilot = {
        let point = point.clone();
        async move {
            let mut tick = tokio::time::interval(PILOT_PERIOD);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                point.drive(clock.now());
            }
        }
    };
    let mut charger = point.clone();
    let events = point.clone();
    let app = run_evse_with(
        options,
        driving,
        (slac_tx, slac_rx),
        &mut charger,
        clock,
        seed,
        |event| {
            let now = clock.now();
            match &event {
                EvseEvent::Serve(e) => events.on_serve_event(now, e),
                EvseEvent::Slac(crate::presence::ChargerSlacEvent::Slac(e)) => {
                    events.on_slac_event(now, e);
                }
                _ => {}
            }
            on_event(&event);
        },
        shutdown,
    );
    let result = tokio::select! {
        r = app => r,
        () = pilot => Ok(()),
    };
    // The session is over: release the port (current to zero, then the relay) before the
    // last safe state, for at most RELEASE_PATIENCE.
    let mut handle = point.clone();
    let _ = devices::ChargePoint::safe_state(&mut handle, clock.now());
    let deadline = clock.now() + RELEASE_PATIENCE;
    while !devices::ChargePoint::is_safe(&mut handle, clock.now()) && clock.now() < deadline {
        tokio::time::sleep(PILOT_PERIOD).await;
    }
    point.safe_state(clock.now());
    result
}

/// How long a stopping charge point waits for its port to be released.
pub const RELEASE_PATIENCE: Duration = Duration::from_secs(5);
