//! Device roles on Linux hardware.
//!
//! - [`GpioRelay`]: a relay driver on a GPIO line (gpio character device, uAPI v2, through
//!   `gpiocdev`), such as the FoccciCape's two relay drivers on P9_14 and P9_16.
//! - [`GpioButtonLed`]: a push button with an indicator LED, including the FoccciCape's single-wire
//!   variant where the LED line (P9_28) must be high to read the button (P9_30).
//! - [`pin`]: BeagleBone header pin names (`P9_14`) to GPIO chip and line.
//!
//! The timing logic (blink patterns, debouncing, press counting) is sans-IO in
//! [`button`] and tested on its own; the hardware types only move bits.

pub mod button;
mod error;
pub mod gpio;
pub mod iio;
pub mod pilot;
pub mod pin;
pub mod pwm;
mod sysfs;

pub use error::OpenError;
pub use gpio::{
    GpioButtonLed, GpioButtonParams, GpioLine, GpioRelay, GpioRelayParams, RelayFeedbackParams,
};
pub use iio::{IioAdc, IioAdcParams};
pub use pilot::{SysfsControlPilot, SysfsControlPilotParams};
pub use pwm::{SysfsPwm, SysfsPwmParams};
