use serde::Serialize;
use units::{Amps, Percent, Timestamp, Volts, WattHours, Watts};

use crate::{DeviceError, Stamped};

/// Where the charge point is in a charging session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChargePointState {
    /// No car (control pilot state A).
    #[default]
    Unplugged,
    /// A car is connected and the session is being set up: SLAC, V2G handshake, cable check,
    /// pre-charge. No power may flow yet.
    Connecting,
    /// The car's contactors are closed and it accepts power (DIN/ISO CurrentDemand or ISO 15118-20
    /// DC_ChargeLoop): the DC port may be switched to the car.
    Ready,
    /// The session is ending: current must go to zero before the car opens its contactors.
    Stopping,
    /// The session failed; the charger waits for the car to be unplugged or restarts.
    Fault,
}

/// The V2G protocol of a charging session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChargeProtocol {
    /// DIN SPEC 70121.
    Din,
    /// ISO 15118-2.
    Iso2,
    /// ISO 15118-20 (DC, DC_BPT).
    Iso20,
}

/// How a charging session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionOutcome {
    /// As the protocol intends: the car stopped it.
    Stopped,
    /// The car failed it (bad requests, timeouts, it left).
    CarFault,
    /// The charger failed it (its hardware, the site, an isolation fault).
    ChargerFault,
}

/// State of the charge point (the CCS DC EVSE) and of the connected car.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ChargePointStatus {
    /// Session state.
    pub state: ChargePointState,
    /// The car's state of charge, if it reports one.
    pub ev_soc_pct: Option<Percent>,
    /// The charge power the car accepts now (its request), ≥ 0.
    pub ev_max_charge_w: Watts,
    /// The discharge power the car offers now (ISO 15118-20 BPT, or the configured V2H limit),
    /// ≥ 0; zero if it offers none.
    pub ev_max_discharge_w: Watts,
    /// DC power at the inlet, **positive = into the car**.
    pub power_w: Watts,
    /// DC voltage at the inlet, if measured.
    pub dc_voltage_v: Option<Volts>,
    /// Energy into the car in this session (net).
    pub session_energy_wh: WattHours,
    /// The charge point holds the converter's DC port (it sequences the changeover relay and
    /// commands the converter for the car): the site's converter commands do not apply, and the
    /// site steers the car's power through [`ChargeLimits::setpoint_w`] instead.
    pub owns_port: bool,
    /// The session's protocol, once negotiated.
    pub protocol: Option<ChargeProtocol>,
    /// What the car asks for in the charge loop: its target voltage.
    pub ev_target_voltage_v: Option<Volts>,
    /// What the car asks for in the charge loop: its target current (negative: discharge).
    pub ev_target_current_a: Option<Amps>,
    /// DC current at the inlet, **positive = into the car**, if measured.
    pub current_a: Option<Amps>,
    /// When the session began (the car connected).
    pub session_started: Option<Timestamp>,
    /// How the last session ended, once it has.
    pub last_outcome: Option<SessionOutcome>,
}

/// The power the site grants the charge point; it advertises these to the car.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ChargeLimits {
    /// Largest charge power, ≥ 0.
    pub max_charge_w: Watts,
    /// Largest discharge power (V2H), ≥ 0.
    pub max_discharge_w: Watts,
    /// Where the site decides the power (V2H holding the grid at its target, ISO 15118-20
    /// dynamic mode), the power it wants, **positive = into the car**, within the two limits;
    /// `None`: the car's request, within the limits.
    pub setpoint_w: Option<Watts>,
    /// Whether the car may be served at all (the user's enable, the mode). Not allowed: a new
    /// session waits in authorization, a running one is asked to stop.
    pub allowed: bool,
}

impl ChargeLimits {
    /// The charge point's safe state.
    pub const ZERO: Self = Self {
        max_charge_w: Watts::ZERO,
        max_discharge_w: Watts::ZERO,
        setpoint_w: None,
        allowed: false,
    };

    /// An allowed range with no set-point: the car's request within `max_charge_w` and
    /// `max_discharge_w`.
    pub const fn range(max_charge_w: Watts, max_discharge_w: Watts) -> Self {
        Self {
            max_charge_w,
            max_discharge_w,
            setpoint_w: None,
            allowed: true,
        }
    }
}

/// The CCS DC charge point: session status and the limits the site grants.
///
/// Safe state: limits of 0 W. The charger then ramps the car's current to zero and ends the
/// session. Limits older than the backend's set-point timeout count as 0 W.
pub trait ChargePoint: Send {
    /// The newest status.
    fn status(&self) -> Option<Stamped<ChargePointStatus>>;

    /// Grants limits. Must be repeated at least once per set-point timeout.
    fn set_limits(&mut self, now: Timestamp, limits: ChargeLimits) -> Result<(), DeviceError>;

    /// Goes to the safe state: limits of 0 W.
    fn safe_state(&mut self, now: Timestamp) -> Result<(), DeviceError> {
        self.set_limits(now, ChargeLimits::ZERO)
    }

    /// After [`Self::safe_state`]: whether the charge point's own actuators have reached it (a
    /// charge point with relays of its own releases them only once no current flows). Called
    /// repeatedly until true or the caller's patience ends; it may drive the charge point on.
    fn is_safe(&mut self, _now: Timestamp) -> bool {
        true
    }
}
