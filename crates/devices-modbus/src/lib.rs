//! gridlet devices on Modbus: meters read from register tables (`models/*.toml`), and the
//! DTSU666-H meter emulation that a Huawei SUN2000 polls, over RTU on RS485, Modbus TCP or RTU
//! over TCP, on tokio-modbus.

pub mod emulation;
pub mod link;
pub mod meter;
pub mod model;
mod rs485;
pub mod udp;

pub use emulation::{
    EmulationError, EmulationParams, Emulator, MeterEmulation, Subtract, WithoutConverter,
};
pub use link::{LinkParams, ParamError};
pub use meter::{GridMeterSource, MeterHandle, MeterParams, MeterSource, ModbusMeter, OpenError};
pub use model::{Field, MeterValues, Model};
/// The request and response types of the emulator's core, as tokio-modbus defines them.
pub use tokio_modbus::{ExceptionCode, Request, Response};
