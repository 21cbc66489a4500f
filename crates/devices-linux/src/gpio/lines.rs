//! Line access: the few operations the GPIO backends need, behind a trait so that they run on the
//! gpio character device on the board and on [`FakeGpio`](super::FakeGpio) in tests (the build
//! machines' kernels have neither GPIO chips nor gpio-sim).

use std::fmt;

use gpiocdev::line::Value;
use gpiocdev::request::Request;

/// One line on one chip: the chip's character device and the line's offset on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineAddr {
    /// The chip's character device, e.g. `/dev/gpiochip1`.
    pub chip: String,
    /// The line's offset on the chip.
    pub offset: u32,
}

impl LineAddr {
    /// The line `offset` on `chip`.
    pub fn new(chip: impl Into<String>, offset: u32) -> Self {
        Self {
            chip: chip.into(),
            offset,
        }
    }
}

impl fmt::Display for LineAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.chip, self.offset)
    }
}

/// A line could not be requested, read or written. Names the line; the reason is the kernel's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}: {reason}")]
pub struct GpioError {
    /// The line.
    pub line: LineAddr,
    /// What went wrong.
    pub reason: String,
}

impl GpioError {
    /// An error on `line`.
    pub fn new(line: &LineAddr, reason: impl fmt::Display) -> Self {
        Self {
            line: line.clone(),
            reason: reason.to_string(),
        }
    }
}

/// Requests lines. Values are logical: with `active_low` the kernel (or the fake) inverts them,
/// so `true` always means "active" (relay energised, LED lit, contact closed).
pub trait Gpio: Send + Sync + fmt::Debug {
    /// Requests `line` as an output driven to `initial` from the start (no glitch through the
    /// other level: a relay must not click while the daemon starts).
    fn output(
        &self,
        line: &LineAddr,
        consumer: &str,
        active_low: bool,
        initial: bool,
    ) -> Result<Box<dyn OutputLine>, GpioError>;

    /// Requests `line` as an input.
    fn input(
        &self,
        line: &LineAddr,
        consumer: &str,
        active_low: bool,
    ) -> Result<Box<dyn InputLine>, GpioError>;
}

/// A requested output line. Released when dropped.
pub trait OutputLine: Send + fmt::Debug {
    /// Drives the line active (`true`) or inactive.
    fn set(&mut self, active: bool) -> Result<(), GpioError>;
}

/// A requested input line. Released when dropped.
pub trait InputLine: Send + fmt::Debug {
    /// Reads the line: `true` if active.
    fn get(&mut self) -> Result<bool, GpioError>;
}

/// The gpio character device (`/dev/gpiochipN`, uAPI v2) through `gpiocdev`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CdevGpio;

#[derive(Debug)]
struct CdevLine {
    addr: LineAddr,
    request: Request,
}

fn value(active: bool) -> Value {
    if active {
        Value::Active
    } else {
        Value::Inactive
    }
}

impl Gpio for CdevGpio {
    fn output(
        &self,
        line: &LineAddr,
        consumer: &str,
        active_low: bool,
        initial: bool,
    ) -> Result<Box<dyn OutputLine>, GpioError> {
        let mut builder = Request::builder();
        builder
            .on_chip(&line.chip)
            .with_consumer(consumer)
            .with_line(line.offset)
            .as_output(value(initial));
        if active_low {
            builder.as_active_low();
        }
        let request = builder.request().map_err(|e| GpioError::new(line, e))?;
        Ok(Box::new(CdevLine {
            addr: line.clone(),
            request,
        }))
    }

    fn input(
        &self,
        line: &LineAddr,
        consumer: &str,
        active_low: bool,
    ) -> Result<Box<dyn InputLine>, GpioError> {
        let mut builder = Request::builder();
        builder
            .on_chip(&line.chip)
            .with_consumer(consumer)
            .with_line(line.offset)
            .as_input();
        if active_low {
            builder.as_active_low();
        }
        let request = builder.request().map_err(|e| GpioError::new(line, e))?;
        Ok(Box::new(CdevLine {
            addr: line.clone(),
            request,
        }))
    }
}

impl OutputLine for CdevLine {
    fn set(&mut self, active: bool) -> Result<(), GpioError> {
        self.request
            .set_value(self.addr.offset, value(active))
            .map_err(|e| GpioError::new(&self.addr, e))
    }
}

impl InputLine for CdevLine {
    fn get(&mut self) -> Result<bool, GpioError> {
        self.request
            .value(self.addr.offset)
            .map(|v| v == Value::Active)
            .map_err(|e| GpioError::new(&self.addr, e))
    }
}
