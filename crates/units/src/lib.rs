//! Physical quantities and injected time, shared by every gridlet crate.
//!
//! Quantities are `f64` newtypes so that a power can never be passed where an energy or a voltage is
//! expected (parse, don't validate). Sign conventions are part of each role's contract in the
//! `devices` crate, not of the unit: a [`Watts`] value is just a power.
//!
//! Time is never read from the operating system inside a protocol core or controller: callers pass
//! a [`Timestamp`] obtained from a [`Clock`]. Tests use [`VirtualClock`] and are deterministic.

mod quantity;
mod time;

pub use quantity::{Amps, Percent, PricePerKwh, Volts, WattHours, Watts};
pub use time::{
    Clock, ParseDurationError, SystemClock, Timestamp, VirtualClock, duration_str, format_duration,
    parse_duration,
};
