//! The CCS charge point, sans-IO: what joins the charger's protocol stack (`slac`, `v2g`) to its
//! hardware and to the site.
//!
//! - [`pilot`]: the IEC 61851-1 control pilot: the signal to drive, the car's state A–F read
//!   back with hysteresis and debounce, the diode check, the E/F toggle that restarts SLAC.
//! - [`port`]: the DC port of the hybrid-inverter topology (one converter, a changeover relay
//!   between the home battery and the car, a precharge relay): the sequence that never switches
//!   a relay under current and gives the converter exactly one owner.
//! - [`station`]: both, and the view of the V2G session, as one machine between the session,
//!   the hardware and the site: what the session reads (`ChargerStatus`), what the site sees
//!   (`ChargePointStatus`), SLAC's plug events.
//!
//! Like the protocol cores, nothing here reads a clock or does I/O: `step(now, inputs)` in,
//! commands out. The drivers (the daemon's charge point task, the simulation) apply them.

pub mod pilot;
pub mod port;
pub mod station;

pub use pilot::{CpState, Offer, Pilot, PilotConfig, PilotEvent};
pub use port::{DcPort, PortCommands, PortConfig, PortFault, PortInputs, PortState};
pub use station::{Hardware, LegacyV2h, Outputs, Station, StationConfig, StationEvent};
