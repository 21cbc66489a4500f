//! Device roles on Linux hardware.
//!
//! - [`GpioRelay`]: a relay driver on a GPIO line, such as the FoccciCape's two relay drivers on
//!   P9_14 and P9_16, optionally with a read-back input (a contactor's auxiliary contact) read by
//!   its own thread and stamped with when it was read.
//! - [`GpioButtonLed`]: a push button with an indicator LED, including the FoccciCape's single-wire
//!   variant where the LED line (P9_28) must be high to read the button (P9_30).
//! - [`SysfsControlPilot`]: the charger's control pilot (IEC 61851-1 Annex A): a [`SysfsPwm`]
//!   channel drives it, bursts of [`IioAdc`] reads measure it, on a thread of its own.
//! - [`SysfsPwm`]: a PWM channel through `/sys/class/pwm` (export, ordered writes).
//! - [`IioAdc`]: an ADC channel through `/sys/bus/iio` (`in_voltageN_raw` and its scale), plus
//!   the board's divider.
//! - [`focccicape`]: the FoccciCape's pins and defaults as parameters of the above.
//! - [`pin`]: BeagleBone header pin names (`P9_14`) to GPIO chip and line.
//!
//! Every backend has serde parameters (`deny_unknown_fields`) and an `open` that validates them:
//! [`OpenError::Config`] when the configuration is at fault, [`OpenError::Device`] when the
//! hardware or its kernel interface is. At run time the role traits return
//! [`devices::DeviceError`]s that name the device and the file or line.
//!
//! Trait methods never block: the backends that poll (read-back, button, pilot) run a thread that
//! keeps the newest stamped state, and the trait methods read it or store the next command.
//! Readings are stamped by an injected [`units::Clock`], so that tests run on virtual time and
//! stamps compare with the controller's `now`.
//!
//! The decisions are sans-IO and tested on their own: blink patterns, debouncing and press
//! counting in [`button`], the order of PWM attribute writes in [`pwm::plan`], a burst's extremes
//! in [`pilot::Burst`], ADC scaling in [`iio::AdcScaling`]. The I/O is tested against fakes: GPIO
//! lines through the [`gpio::Gpio`] trait on [`gpio::FakeGpio`] (the build machines' kernels have
//! no GPIO chips and no gpio-sim), sysfs through a configurable root pointed at a temporary tree.

pub mod button;
mod error;
pub mod focccicape;
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
