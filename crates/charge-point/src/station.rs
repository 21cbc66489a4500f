//! The charge point as one sans-IO machine: the control pilot, the DC port and the view of the
//! V2G session, between the session (what it demands, what it reads), the hardware (readings in,
//! commands out) and the site (the grant in, the status out).
//!
//! The driver (the daemon's charge-point task, or the simulation) feeds it pilot readings,
//! SLAC's init timeout, the session's events and demand, the site's grant and the hardware's
//! readings, calls [`Station::step`] after each and applies the [`Outputs`]; it answers the
//! session from [`Station::charger_status`] and the site from [`Station::status`], and acts on
//! [`StationEvent`]s (SLAC's plug events, ending a session whose car has gone).
//!
//! What the session may do depends on the pilot: no car (A), an error (E, a diode fault, lost
//! readings) or the charger unavailable ends the session and takes the power away at once; the
//! car's S2 (state C or D) must be closed for energy to flow. CableCheck waits (the isolation
//! test is "running") until the port is on the car; without an isolation monitor (declared in
//! the configuration) the test passes there, and says so.

use std::collections::VecDeque;
use std::time::Duration;

use devices::{
    ChargeLimits, ChargePointState, ChargePointStatus, ChargeProtocol, ConverterStatus, Isolation,
    PilotReading, PilotSignal, SessionOutcome, SetpointWatchdog, Stamped,
};
use tracing::{info, warn};
use units::{Amps, Percent, Timestamp, Volts, WattHours, Watts};
use v2g::Protocol;
use v2g::charger::{
    Authorization, ChargerStatus, Demand, Fault, Limits, Measurements, PowerDemand,
};
use v2g::secc::{EvStatus, SeccEvent, SessionState};

use crate::pilot::{CpState, Offer, Pilot, PilotConfig, PilotEvent};
use crate::port::{DcPort, PortCommands, PortConfig, PortFault, PortInputs, PortState};

/// Discharging cars that never asked for it (DIN 70121, ISO 15118-2): the predecessor's V2H.
/// During the charge loop the car's contactors are closed and the converter behind the
/// changeover can draw from its battery as from its own. **The car does not know**: it sees
/// less (zero) current than it asked for, and its SoC falls. Off unless configured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LegacyV2h {
    /// The most power drawn from the car.
    pub max_discharge: Watts,
    /// Never below this SoC (as the car reports it; a car that reports none is never
    /// discharged).
    pub min_soc: Percent,
    /// Never below this inlet voltage (the car's battery near empty).
    pub min_voltage: Volts,
}

/// How the charge point is set up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StationConfig {
    /// Reading the pilot.
    pub pilot: PilotConfig,
    /// The DC port's sequence.
    pub port: PortConfig,
    /// What the charger can do at most (the converter behind the inlet, the inlet's rating).
    pub rating: Limits,
    /// An isolation monitor is fitted. Without one CableCheck passes once the port is on the
    /// car (logged at every session): IEC 61851-23 requires one; the predecessor had none.
    pub isolation_monitor: bool,
    /// Discharging DIN 70121 / ISO 15118-2 cars (opt-in).
    pub legacy_v2h: Option<LegacyV2h>,
    /// A grant not repeated within this counts as zero.
    pub grant_timeout: Duration,
}

impl Default for StationConfig {
    fn default() -> Self {
        Self {
            pilot: PilotConfig::default(),
            port: PortConfig::default(),
            rating: Limits::DEFAULT,
            isolation_monitor: true,
            legacy_v2h: None,
            grant_timeout: Duration::from_secs(5),
        }
    }
}

/// The hardware's newest readings.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Hardware {
    /// The converter behind the changeover relay.
    pub converter: Option<Stamped<ConverterStatus>>,
    /// The changeover relay's read-back.
    pub changeover: Option<Stamped<bool>>,
    /// The precharge relay's read-back.
    pub precharge: Option<Stamped<bool>>,
    /// The inlet voltage, if a sensor measures it (else the converter's DC voltage counts).
    pub inlet_voltage: Option<Stamped<Volts>>,
    /// The isolation monitor's verdict.
    pub isolation: Option<Stamped<Isolation>>,
}

/// What to apply after a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outputs {
    /// The pilot signal.
    pub pilot: PilotSignal,
    /// Relays and, while the charge point owns it, the converter.
    pub port: PortCommands,
    /// Whether the isolation monitor should test.
    pub isolation_test: bool,
}

/// What the driver must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StationEvent {
    /// A car was plugged in: SLAC may start (`slac::Evse::handle_car_plugged`).
    CarPlugged,
    /// The car left, or the pilot says it cannot be served (error, lost readings): drop SLAC's
    /// match and key (`slac::Evse::handle_car_left`) and end the session now; the power is
    /// already off.
    CarLeft,
    /// The E/F toggle is over: the car restarts SLAC, re-arm its init timer
    /// (`slac::Evse::handle_car_plugged`).
    SlacRestart,
}

/// The session as the charge point sees it.
#[derive(Debug, Clone, Default)]
struct SessionView {
    protocol: Option<Protocol>,
    state: Option<SessionState>,
    ev: EvStatus,
    demand: Demand,
    ended: Option<bool>,
    started: Option<Timestamp>,
    energy_in: f64,
    energy_out: f64,
    last_sample: Option<(Timestamp, Watts)>,
}

/// The charge point. See the [module docs](self).
#[derive(Debug)]
pub struct Station {
    config: StationConfig,
    pilot: Pilot,
    port: DcPort,
    grant: SetpointWatchdog<ChargeLimits>,
    session: SessionView,
    /// The newest present voltage and power, for the site's status.
    present: Measurements,
    said_no_imd: bool,
    /// Shutting down: no new session, F once the running one has ended.
    closing: bool,
    last_outcome: Option<SessionOutcome>,
    events: VecDeque<StationEvent>,
}

impl Station {
    /// A charge point with no car, offering charging.
    pub fn new(config: StationConfig) -> Self {
        Self {
            pilot: Pilot::new(config.pilot, Offer::Idle),
            port: DcPort::new(config.port),
            grant: SetpointWatchdog::new(ChargeLimits::ZERO, config.grant_timeout),
            session: SessionView::default(),
            present: Measurements::default(),
            said_no_imd: false,
            closing: false,
            last_outcome: None,
            events: VecDeque::new(),
            config,
        }
    }

    /// The site grants `limits` (repeat within the grant timeout; a stale grant is
    /// `ChargeLimits::ZERO`, which also withdraws the permission to serve the car).
    pub fn set_grant(&mut self, now: Timestamp, limits: ChargeLimits) {
        self.grant.set(now, limits);
    }

    /// The car's state on the pilot.
    pub fn pilot_state(&self) -> CpState {
        self.pilot.state()
    }

    /// The DC port's sequence.
    pub fn port_state(&self) -> PortState {
        self.port.state()
    }

    /// Why the port is in fault, if it is.
    pub fn port_fault(&self) -> Option<PortFault> {
        self.port.fault()
    }

    /// Whether the charge point commands the converter now (else the site does).
    pub fn owns_converter(&self) -> bool {
        self.port.owns_converter()
    }

    /// The charger is shutting down (or going out of service): a running session is asked to
    /// stop (the car ramps down and ends it), then the pilot shows F (unavailable). The power
    /// does not wait for the car: with the grant gone ([`Self::set_grant`]) the port is
    /// released at once.
    pub fn shut_down(&mut self) {
        self.closing = true;
        if !self.session_running() {
            self.pilot.set_offer(Offer::Unavailable);
        }
    }

    fn session_running(&self) -> bool {
        self.session.state.is_some_and(|s| s != SessionState::Ended)
    }

    /// A pilot measurement.
    pub fn handle_pilot(&mut self, now: Timestamp, reading: Stamped<PilotReading>) {
        self.pilot.handle_reading(now, reading);
        self.pilot_events(now);
    }

    /// SLAC reported TT_EVSE_SLAC_init without a car starting: toggle E/F so it restarts
    /// ([V2G3-M06-07]).
    pub fn handle_slac_init_timeout(&mut self, now: Timestamp) {
        if self.pilot.state().car_connected() && self.session.state.is_none() {
            info!("no SLAC from the car: toggling the pilot through F");
            self.pilot.toggle_ef(now);
        }
    }

    /// A session event.
    pub fn handle_session(&mut self, now: Timestamp, event: &SeccEvent) {
        match event {
            SeccEvent::Negotiated(n) => {
                self.session = SessionView {
                    protocol: Some(n.protocol),
                    started: Some(now),
                    ..SessionView::default()
                };
            }
            SeccEvent::State(state) => {
                if *state == SessionState::CableCheck
                    && !self.config.isolation_monitor
                    && !self.said_no_imd
                {
                    warn!(
                        "no isolation monitor is fitted (configured): CableCheck passes untested"
                    );
                    self.said_no_imd = true;
                }
                self.session.state = Some(*state);
            }
            SeccEvent::Ev(ev) => self.session.ev = ev.clone(),
            SeccEvent::Ended(end) => {
                self.session.ended = Some(end.reason.is_normal());
                self.last_outcome = Some(match end.reason.party() {
                    v2g::Party::None => SessionOutcome::Stopped,
                    v2g::Party::Car => SessionOutcome::CarFault,
                    v2g::Party::Charger => SessionOutcome::ChargerFault,
                });
                self.session.state = Some(SessionState::Ended);
                self.session.demand = Demand::OFF;
                self.said_no_imd = false;
            }
            SeccEvent::SessionStarted { .. } | SeccEvent::Warning(_) => {}
        }
    }

    /// The session's demand after its newest step.
    pub fn handle_demand(&mut self, demand: Demand) {
        self.session.demand = demand;
    }

    /// A new connection: the previous session's view is gone.
    pub fn handle_connected(&mut self) {
        self.session = SessionView::default();
    }

    /// Deadlines up to `now` have passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.pilot.handle_timeout(now);
        self.pilot_events(now);
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.pilot.poll_timeout()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<StationEvent> {
        self.events.pop_front()
    }

    fn pilot_events(&mut self, now: Timestamp) {
        while let Some(event) = self.pilot.poll_event() {
            match event {
                PilotEvent::State { from, to } => {
                    info!("control pilot: {from:?} -> {to:?}");
                    if to.car_connected() && !from.car_connected() && from != CpState::F {
                        // The session view is the connection's (`handle_connected`): a car that
                        // starts at SDP may be talking before the pilot has settled.
                        self.pilot.set_offer(Offer::Digital);
                        self.events.push_back(StationEvent::CarPlugged);
                    } else if !to.car_connected() && to != CpState::F && from.car_connected() {
                        self.leave(now);
                    }
                }
                PilotEvent::DiodeFault => {
                    warn!("control pilot: no diode on the car side: not charging");
                    self.leave(now);
                }
                PilotEvent::ToggleDone => self.events.push_back(StationEvent::SlacRestart),
            }
        }
    }

    fn leave(&mut self, _now: Timestamp) {
        self.session.demand = Demand::OFF;
        if self.pilot.state() == CpState::A || self.pilot.state() == CpState::Unknown {
            self.pilot.set_offer(Offer::Idle);
        }
        self.events.push_back(StationEvent::CarLeft);
    }

    /// One step at `now`: the port's sequence with the newest session demand, pilot and
    /// hardware; returns what to apply.
    pub fn step(&mut self, now: Timestamp, hw: &Hardware) -> Outputs {
        if self.closing && !self.session_running() {
            self.pilot.set_offer(Offer::Unavailable);
        }
        let inlet = self.inlet_voltage(now, hw);
        let pilot = self.pilot.state();
        // Energy only with S2 closed; before (cable check, pre-charge) the car's contactors are
        // open anyway.
        let mut demand = self.session.demand;
        if matches!(demand.power, PowerDemand::Deliver { .. }) && !pilot.energy_allowed() {
            demand.power = PowerDemand::Deliver {
                voltage: inlet.unwrap_or(Volts::ZERO),
                current: Amps::ZERO,
            };
        }
        let port = self.port.step(
            now,
            &PortInputs {
                demand,
                session_needs_port: matches!(
                    self.session.state,
                    Some(
                        SessionState::CableCheck
                            | SessionState::PreCharge
                            | SessionState::Charging
                            | SessionState::Stopping
                    )
                ),
                pilot,
                allowed: self.grant.effective(now).allowed,
                grant: self.grant.effective(now),
                converter: hw.converter,
                changeover: hw.changeover,
                precharge: hw.precharge,
                inlet_voltage: inlet,
                may_discharge: self.may_discharge(inlet),
            },
        );
        self.present = self.measure(now, hw);
        self.sample_energy(now);
        Outputs {
            pilot: self.pilot.signal(),
            port,
            isolation_test: demand.isolation_test && self.port.connected(),
        }
    }

    /// What the session reads now.
    pub fn charger_status(&self, now: Timestamp, hw: &Hardware) -> ChargerStatus {
        let grant = self.grant.effective(now);
        let converter = hw
            .converter
            .and_then(|c| c.fresh(now, self.config.port.converter_timeout).copied());
        let isolation = if !self.port.connected() {
            // The test cannot start before the port is on the car: the car keeps asking.
            Isolation::Testing
        } else if !self.config.isolation_monitor {
            Isolation::Valid
        } else {
            hw.isolation
                .and_then(|i| i.fresh(now, self.config.port.converter_timeout).copied())
                .unwrap_or(Isolation::Testing)
        };
        let fault = if self.port.fault().is_some()
            || converter.is_some_and(|c| c.fault)
            || (self.port.connected() && converter.is_none())
        {
            Some(Fault::Malfunction)
        } else if matches!(self.pilot.state(), CpState::E | CpState::F)
            && !self.pilot.toggling()
            && self.session.state.is_some()
        {
            Some(Fault::EmergencyStop)
        } else {
            None
        };
        let discharge = if self.bidirectional() {
            grant.max_discharge_w
        } else {
            Watts::ZERO
        };
        let mut present = self.present;
        if !self.bidirectional() {
            // A car that never asked to be discharged is told no current flows, never a
            // negative one (it would take it for a fault).
            present.current = present.current.max(Amps::ZERO);
        }
        ChargerStatus {
            present,
            isolation,
            limits: self.config.rating.granted(grant.max_charge_w, discharge),
            setpoint: grant.setpoint_w,
            authorization: if grant.allowed {
                Authorization::Granted
            } else {
                Authorization::Pending
            },
            fault,
            stop: (self.closing || !grant.allowed)
                && matches!(self.session.state, Some(SessionState::Charging)),
        }
    }

    /// The charge point's status for the site.
    pub fn status(&self) -> ChargePointStatus {
        let state = if !self.pilot.state().car_connected() && self.session.state.is_none() {
            ChargePointState::Unplugged
        } else if self.port.fault().is_some() || self.session.ended == Some(false) {
            ChargePointState::Fault
        } else {
            match self.session.state {
                Some(SessionState::Charging) if self.port.connected() => ChargePointState::Ready,
                Some(SessionState::Stopping) => ChargePointState::Stopping,
                _ if !self.pilot.state().car_connected() => ChargePointState::Unplugged,
                _ => ChargePointState::Connecting,
            }
        };
        let ev = &self.session.ev;
        let voltage = self.present.voltage;
        let target = match self.session.demand.power {
            PowerDemand::Deliver { voltage, current } => Some((voltage, current)),
            PowerDemand::PreCharge { voltage, .. } => Some((voltage, Amps::ZERO)),
            _ => None,
        };
        // What the car can take, not what it asks now: in the modes where the charger decides
        // (ISO 15118-20 dynamic) the request is the charger's own set-point, and a site that
        // took it for the car's limit would ratchet the power down.
        let by_current = ev.max_current.map(|i| i * voltage);
        let ev_max_charge = match (ev.max_power, by_current) {
            (Some(p), Some(i)) => p.min(i),
            (Some(p), None) => p,
            (None, Some(i)) => i,
            (None, None) => match self.session.demand.power {
                PowerDemand::Deliver { current, .. } if current.0 > 0.0 => current * voltage,
                _ => Watts::ZERO,
            },
        };
        let ev_max_discharge = if self.bidirectional() {
            ev.max_discharge_power
                .or_else(|| ev.max_discharge_current.map(|i| i * voltage))
                .unwrap_or(Watts::ZERO)
        } else {
            self.legacy_discharge(Some(voltage))
        };
        ChargePointStatus {
            state,
            ev_soc_pct: ev.soc,
            ev_max_charge_w: ev_max_charge.max(Watts::ZERO),
            ev_max_discharge_w: ev_max_discharge.max(Watts::ZERO),
            power_w: self.present.voltage * self.present.current,
            dc_voltage_v: (voltage.0 > 0.0).then_some(voltage),
            session_energy_wh: WattHours(self.session.energy_in - self.session.energy_out),
            owns_port: self.port.owns_converter(),
            protocol: self.session.protocol.map(|p| match p {
                Protocol::Din => ChargeProtocol::Din,
                Protocol::Iso2 => ChargeProtocol::Iso2,
                Protocol::Iso20Dc => ChargeProtocol::Iso20,
            }),
            ev_target_voltage_v: target.map(|(v, _)| v),
            ev_target_current_a: target.map(|(_, i)| i),
            current_a: (self.port.connected()).then_some(self.present.current),
            session_started: self.session.started,
            last_outcome: self.last_outcome,
        }
    }

    /// The car's session takes power out of the car by its own protocol (ISO 15118-20 BPT).
    fn bidirectional(&self) -> bool {
        self.session.protocol == Some(Protocol::Iso20Dc)
            && (self
                .session
                .ev
                .max_discharge_current
                .is_some_and(|i| i.0 > 0.0)
                || self
                    .session
                    .ev
                    .max_discharge_power
                    .is_some_and(|p| p.0 > 0.0))
    }

    /// What the opt-in V2H may draw from a DIN 70121 / ISO 15118-2 car now.
    fn legacy_discharge(&self, inlet: Option<Volts>) -> Watts {
        let Some(v2h) = self.config.legacy_v2h else {
            return Watts::ZERO;
        };
        let legacy = matches!(self.session.protocol, Some(Protocol::Din | Protocol::Iso2));
        let soc_ok = self.session.ev.soc.is_some_and(|s| s.0 > v2h.min_soc.0);
        let voltage_ok = inlet.is_some_and(|v| v.0 >= v2h.min_voltage.0);
        if legacy && soc_ok && voltage_ok {
            v2h.max_discharge
        } else {
            Watts::ZERO
        }
    }

    fn may_discharge(&self, inlet: Option<Volts>) -> bool {
        self.bidirectional() || self.legacy_discharge(inlet) > Watts::ZERO
    }

    fn inlet_voltage(&self, now: Timestamp, hw: &Hardware) -> Option<Volts> {
        let max_age = self.config.port.converter_timeout;
        hw.inlet_voltage
            .and_then(|v| v.fresh(now, max_age).copied())
            .or_else(|| {
                hw.converter
                    .and_then(|c| c.fresh(now, max_age).and_then(|c| c.dc_voltage_v))
            })
            .filter(|v| v.0.is_finite())
    }

    /// The inlet as the session sees it: the voltage, and the converter's current while it
    /// runs into (or out of) the car.
    fn measure(&self, now: Timestamp, hw: &Hardware) -> Measurements {
        let voltage = self.inlet_voltage(now, hw).unwrap_or(Volts::ZERO);
        let current = match (self.port.connected(), hw.converter) {
            (true, Some(c)) => c
                .fresh(now, self.config.port.converter_timeout)
                .map_or(Amps::ZERO, |c| crate::port::current_at(c.power_w, voltage)),
            _ => Amps::ZERO,
        };
        Measurements { voltage, current }
    }

    fn sample_energy(&mut self, now: Timestamp) {
        let power = self.present.voltage * self.present.current;
        if let Some((at, last)) = self.session.last_sample {
            let hours = now.saturating_duration_since(at).as_secs_f64() / 3600.0;
            let mean = (last.0 + power.0) / 2.0;
            if mean.is_finite() {
                if mean >= 0.0 {
                    self.session.energy_in += mean * hours;
                } else {
                    self.session.energy_out -= mean * hours;
                }
            }
        }
        self.session.last_sample = Some((now, power));
    }
}
