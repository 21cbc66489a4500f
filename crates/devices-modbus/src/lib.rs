//! gridlet devices on Modbus: meters read from register tables (`models/*.toml`), the
//! DTSU666-H meter emulation that a Huawei SUN2000 polls, and commanded inverters (SunSpec,
//! Huawei SUN2000 and its LUNA battery, Sungrow SH in EMS mode), over RTU on RS485, Modbus TCP or RTU
//! over TCP, on tokio-modbus.

pub mod device;
pub mod emulation;
pub mod huawei;
pub mod inverter;
pub mod link;
pub mod meter;
pub mod model;
mod rs485;
pub mod sungrow;
pub mod sunspec;
pub mod udp;

pub use device::{DeviceValues, ModbusDevice};
pub use emulation::{
    EmulationError, EmulationParams, Emulator, MeterEmulation, Subtract, WithoutConverter,
};
pub use inverter::{InverterKind, InverterParams};
pub use link::{LinkParams, ParamError};
pub use meter::{GridMeterSource, MeterHandle, MeterParams, MeterSource, ModbusMeter, OpenError};
pub use model::{Field, MeterValues, Model};
/// The request and response types of the emulator's core, as tokio-modbus defines them.
pub use tokio_modbus::{ExceptionCode, Request, Response};
