//! gridlet devices on CAN: battery management systems read on a bus, and batteries emulated
//! towards hybrid inverters.
//!
//! - Frame codecs, no I/O: [`openinverter`] (the openinverter BMS's 0x1F4/0x1F5 PDOs),
//!   [`pylontech`] (the Pylontech / SMA / Victron low-voltage protocol, both directions) and
//!   [`byd`] (BYD Battery-Box HVS, both directions). Each has a `Repr` with `parse` from and
//!   `emit` into a [`CanFrame`]; bit-packed layouts also have typed views over the data bytes.
//!   Decoders report wrong lengths, unknown identifiers and impossible values as [`Error`]s and
//!   never panic (fuzzed: `fuzz/fuzz_targets/can_*`).
//! - Sans-IO cores: [`BmsReader`] (frames in, a stamped [`devices::BmsState`] out, with
//!   staleness) and the emulations [`BydHvs`] and [`Pylontech`] (`handle_frame(now, frame)`,
//!   `handle_timeout(now)`, `poll_transmit()`, `poll_timeout()`).
//! - The bus ([`CanBus`]): SocketCAN through the `socketcan` crate, or [`MemoryBus`].
//! - Thin tokio drivers: [`BmsDriver`] feeds the [`CanBms`] backend of the `devices::Bms`
//!   role; [`EmulationDriver`] runs an emulation from the site's newest BMS and charge point
//!   state. Both reopen a failed bus with backoff and never end on bad input.
//! - [`config`]: the TOML parameters of each, with defaults and checks.
//!
//! The buses, drivers and configuration are behind the default feature `io` (tokio, socketcan);
//! without it the crate is the codecs and cores alone.

pub mod bms;
#[cfg(feature = "io")]
pub mod bus;
pub mod byd;
#[cfg(feature = "io")]
pub mod config;
pub mod emulation;
mod frame;
pub mod openinverter;
pub mod pylontech;

#[cfg(feature = "io")]
pub use bms::{BmsDriver, CanBms};
pub use bms::{BmsProtocol, BmsReader, Handled, ReaderStats};
#[cfg(feature = "io")]
pub use bus::{AnyBus, BusError, CanBus, CanLink, MemoryBus, MemoryPort, SocketCanBus};
#[cfg(feature = "io")]
pub use emulation::EmulationDriver;
pub use emulation::{
    BatteryData, BydHvs, Emulation, EmulationStatus, Pylontech, Rating, Source, SourceInput,
};
pub use frame::{CanFrame, CanId, Error};
