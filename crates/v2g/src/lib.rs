//! V2G communication between a charger and a car (DIN SPEC 70121, ISO 15118-2, ISO 15118-20)
//! as sans-IO state machines.
//!
//! After SLAC the car finds the charger with SDP (UDP, IPv6 link-local multicast) and opens a
//! TCP connection; then the charger (SECC) answers the car's (EVCC) EXI requests until the
//! session ends. This crate has every protocol piece of that, without sockets or clocks:
//!
//! - [`wire`]: V2GTP framing and the SDP messages.
//! - [`sdp`]: the SDP server (charger) and client (car, with retries).
//! - [`app_protocol`]: the protocols and their negotiation (SupportedAppProtocol).
//! - [`secc`]: the charger's session ([`secc::Secc`]): one state machine per protocol, chosen
//!   by negotiation, talking to the charger only through [`charger`].
//! - [`evcc`]: the car's session ([`evcc::Evcc`]) with a battery model, for the EV simulator
//!   and for testing chargers.
//! - [`charger`]: the narrow interface to the power stage, the isolation monitor and the site,
//!   with simulated implementations.
//! - [`sim`]: a charger and a car connected in memory on virtual time.
//! - [`transcript`]: decoding the frames of a recorded session.
//!
//! Like quinn-proto, inputs go in through `handle_*(now, ...)`, outputs come out of
//! `poll_transmit`, `poll_timeout` and `poll_event`; randomness (the SessionID) comes from a
//! caller-seeded ChaCha RNG. Requirement ids (`[V2G-DC-xxx]` DIN 70121, `[V2G2-xxx]` ISO 15118-2,
//! `[V2G20-xxx]` ISO 15118-20) are given as the public implementations (EVerest, Josev) cite
//! them.

pub mod app_protocol;
pub mod charger;
mod dialect;
pub mod evcc;
pub mod sdp;
pub mod secc;
pub mod session_id;
pub mod sim;
pub mod timing;
pub mod transcript;
pub mod values;
pub mod wire;

pub use app_protocol::{Negotiated, Protocol, Selection};
pub use session_id::SessionId;

/// Who decides the power in an ISO 15118-20 charge loop (the ControlMode service parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControlMode {
    /// The car follows a schedule and sends target current and voltage (value 1).
    Scheduled,
    /// The charger decides the power within the car's limits (value 2): what a home charger
    /// needs to follow the house.
    Dynamic,
}

impl ControlMode {
    /// The ControlMode parameter value (ISO 15118-20 Table 205).
    pub const fn code(self) -> i32 {
        match self {
            Self::Scheduled => 1,
            Self::Dynamic => 2,
        }
    }

    /// From the parameter value.
    pub const fn from_code(code: i32) -> Option<Self> {
        match code {
            1 => Some(Self::Scheduled),
            2 => Some(Self::Dynamic),
            _ => None,
        }
    }
}

/// Who caused a session to end badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Party {
    /// Nobody: the session ended as the protocol intends.
    None,
    /// The car (or whatever speaks for it): bad requests, timeouts, a closed connection.
    Car,
    /// The charger: its hardware, its site, or a bug here.
    Charger,
}
