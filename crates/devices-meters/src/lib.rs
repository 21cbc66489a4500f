//! gridlet grid meters that are not on Modbus, each behind the `devices::GridMeter` role:
//!
//! - [`speedwire`]: the SMA Energy Meter / Sunny Home Manager datagram (UDP 9522, multicast
//!   239.12.255.254): a typed view ([`speedwire::Datagram`]) and [`speedwire::Repr`] with
//!   `parse`/`emit`, the meter's values in SI units ([`speedwire::EmReading`]).
//! - [`sml`]: SML 1.04 telegrams from an optical read head, decoded by the `sml-rs` crate inside
//!   the sans-IO [`sml::SmlStream`]; OBIS 1.8.0, 2.8.0, 16.7.0 and 36/56/76.7.0.
//! - [`json`]: a meter's values in MQTT messages (JSON paths, the publisher's sign).
//! - [`config`]: the TOML parameters of each, with defaults and checks naming the key.
//! - With the default feature `io`: [`NetMeter`], one thin tokio task per meter (UDP socket,
//!   serial port, MQTT client on rumqttc) publishing its newest stamped [`Measurements`] and its
//!   health; the role only reads them, so a silent meter never delays the control tick.
//!
//! Decoders never panic on input and say what is wrong (fuzzed: `fuzz/fuzz_targets/meter_*`).

pub mod config;
pub mod json;
#[cfg(feature = "io")]
mod meter;
pub mod sml;
pub mod speedwire;

pub use config::{MqttParams, ParamError, SmaEmParams, SmlParams};
#[cfg(feature = "io")]
pub use meter::{MeterHandle, NetMeter, OpenError};

/// A meter's values, SI units; power positive = import.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Measurements {
    /// Total active power, W.
    pub power_w: f64,
    /// Active power per phase, W.
    pub phases_w: Option<[f64; 3]>,
    /// Voltages L1..L3 to neutral, V.
    pub voltages_v: Option<[f64; 3]>,
    /// Currents L1..L3, A.
    pub currents_a: Option<[f64; 3]>,
    /// Grid frequency, Hz.
    pub frequency_hz: Option<f64>,
    /// Imported energy, Wh.
    pub import_wh: Option<f64>,
    /// Exported energy, Wh.
    pub export_wh: Option<f64>,
}
