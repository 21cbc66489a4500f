//! The I/O side of the powerline modem: links that carry HomePlug frames (ethertype 0x88E1), the
//! tokio driver that runs a sans-IO [`slac`] state machine over a link, and modem queries.
//!
//! - [`RawLink`]: an AF_PACKET raw socket bound to one interface and ethertype 0x88E1, registered
//!   with tokio (`AsyncFd`). The only code in gridlet's protocol stack that needs `unsafe`.
//! - [`MemoryLink`] and [`PowerlineHub`]: in-process links over [`slac::sim::Powerline`], for
//!   tests and simulations.
//! - [`drive`]: feeds frames and timeouts into a [`Machine`] (the SLAC EVSE or EV) and sends
//!   what it wants sent, until the caller's event handler says stop; [`drive_with_inputs`] also
//!   takes the machine's other inputs (control pilot, what the V2G stage saw) from a channel.
//! - [`query_firmware`]: VS_SW_VER against the local modem, like `int6klist`.
//! - [`run_flasher`]: drives a [`flasher::Flasher`] (flash, PIB read/write, reset, key, status)
//!   over a link until it is done or failed.

mod clock;
mod driver;
mod link;
mod memory;
mod modem;
mod raw;

pub use clock::TokioClock;
pub use driver::{Machine, drive, drive_with_inputs};
pub use link::Link;
pub use memory::{MemoryLink, PowerlineHub};
pub use modem::{ModemInfo, query_firmware, run_flasher};
pub use raw::RawLink;

/// Something went wrong with the interface or the modem. Says which interface.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket call failed (no such interface, not root, interface down, ...).
    #[error("{iface}: {op}")]
    Io {
        /// The interface.
        iface: String,
        /// What we tried.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The process lacks a capability the operation needs (not root, and not granted it).
    #[error(
        "{iface}: {op} needs {capability} (run as root or grant the capability: \
         AmbientCapabilities={capability} in the systemd unit, or setcap)"
    )]
    MissingCapability {
        /// The interface.
        iface: String,
        /// What we tried.
        op: &'static str,
        /// The capability, as capabilities(7) names it.
        capability: &'static str,
        /// The OS error (EPERM).
        source: std::io::Error,
    },
    /// No modem answered on the interface.
    #[error(
        "{iface}: no powerline modem answered VS_SW_VER.REQ within {timeout:?} \
         (is the modem powered and its firmware running?)"
    )]
    NoModem {
        /// The interface.
        iface: String,
        /// How long we waited.
        timeout: std::time::Duration,
    },
}
