//! The CCS charging link on Linux, after SLAC: SDP over IPv6 link-local multicast and the V2G
//! sessions over TCP, for the charger ([`evse::run_evse`]) and the car ([`ev::run_ev`]).
//!
//! Thin tokio drivers around the sans-IO cores of `v2g` (SDP, sessions) and `slac`, as quinn
//! is around quinn-proto: they move bytes and time, the cores decide. The charger's hardware is
//! reached only through [`session::Charger`] (status in, demand out).
//!
//! - [`iface`]: the powerline interface's index, MAC and link-local address.
//! - [`sdp`]: the SDP server socket and the car's discovery.
//! - [`session`]: serving sessions one after another; running the car's.
//! - [`presence`]: without a control pilot, when the matched car has gone and the charger may
//!   change its network key (sans-IO, the one decision this crate makes itself).
//! - [`evse`], [`ev`]: the applications behind `gridlet evse` and `gridlet ev`.
//! - [`memory`]: the charge point and a simulated car on an in-memory powerline on virtual time
//!   (the same `PointHandle` and sans-IO cores; `gridlet sim`'s car sessions).
//! - [`point`]: the charger application joined to the charge point's hardware and the site
//!   (`charge_point::Station`), behind `gridlet run` with a CCS charge point.

pub mod ev;
pub mod evse;
pub mod iface;
pub mod memory;
pub mod point;
pub mod presence;
pub mod sdp;
pub mod session;

use std::io::{self, Read};

/// 32 bytes from the kernel's CSPRNG: seeds for SessionIDs, SLAC keys and port choice.
pub fn entropy() -> io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
    Ok(seed)
}
