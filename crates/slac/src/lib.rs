//! ISO 15118-3 SLAC, the matching of a car's and a charger's powerline modems, as sans-IO state
//! machines: [`Evse`] for the charger, [`Ev`] for the car (our EV simulator, tests, and testing
//! real chargers).
//!
//! Like quinn-proto, the machines do no I/O and read no clock: frames, timeouts and control-pilot
//! events go in through `handle_*(now, ...)`, frames to send, the next deadline and events come
//! out through `poll_transmit`, `poll_timeout` and `poll_event`. Randomness (NMKs, RunIDs, sound
//! payloads) comes from a ChaCha RNG seeded by the caller, so runs are reproducible.
//!
//! The timings and counts are ISO 15118-3 Table A.1's, in [`timing`]. Requirement ids such as
//! `[V2G3-A09-16]` are given as public implementations cite them.

pub mod ev;
pub mod evse;
pub mod sim;
pub mod timing;

pub use ev::{Ev, EvConfig, EvEvent, EvFailure, EvMatch};
pub use evse::{Evse, EvseConfig, EvseEvent, EvseFailure, EvseMatch};

use homeplug::{Nid, Nmk, SecurityLevel};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::RngCore;

/// A fresh random NMK and the NID HomePlug AV derives from it (security level Simple Connect, as
/// ISO 15118-3 uses).
fn random_network(rng: &mut ChaCha20Rng) -> (Nmk, Nid) {
    let mut nmk = Nmk::default();
    rng.fill_bytes(&mut nmk.0);
    let nid = Nid::from_nmk(&nmk, SecurityLevel::SimpleConnect);
    (nmk, nid)
}
