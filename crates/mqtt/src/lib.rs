//! gridlet's MQTT front end.
//!
//! Every live value of the published snapshot goes to `PREFIX/ID` (retained: they are states),
//! commands come in on `PREFIX/ID/set` and refused ones are answered on `PREFIX/error`;
//! `PREFIX/status` is `online` while connected and `offline` as the last will. Home Assistant
//! finds every entity through MQTT discovery (`homeassistant/COMPONENT/NODE/ID/config`) with the
//! device and state classes its energy dashboard needs.
//!
//! [`Bridge`] is the logic with no I/O (snapshots and broker events in, publishes and commands
//! out); [`run`] drives it with rumqttc. It reads the runner's published snapshots and sends
//! [`Command`]s back; it knows no other front end.

mod bridge;
#[cfg(feature = "io")]
mod driver;
pub mod entity;
mod settings;

pub use bridge::{Bridge, Command, MAX_COMMAND_BYTES, Outgoing, UNKNOWN, discovery};
#[cfg(feature = "io")]
pub use driver::{MqttError, Order, run};
pub use settings::{Broker, MqttSettings, SettingsError};
