//! GPIO backends through the gpio character device (`/dev/gpiochipN`, uAPI v2).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use devices::{ButtonLed, DeviceError, LedMode, Relay, Stamped};
use gpiocdev::line::Value;
use gpiocdev::request::Request;
use serde::Deserialize;
use units::Timestamp;

use crate::button::{ButtonLedLogic, POLL};

/// A GPIO line: a BeagleBone header pin (`pin = "P9_14"`) or a chip and line offset.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioLine {
    /// BeagleBone header pin, e.g. `P9_14`.
    pub pin: Option<String>,
    /// GPIO chip, e.g. `/dev/gpiochip1` or `gpiochip1`.
    pub chip: Option<String>,
    /// Line offset on the chip.
    pub line: Option<u32>,
}

impl GpioLine {
    /// A line by header pin.
    pub fn pin(name: &str) -> Self {
        Self {
            pin: Some(name.to_owned()),
            ..Default::default()
        }
    }

    /// Resolves to a chip path and offset, or says what is missing.
    pub fn resolve(&self) -> Result<(String, u32), String> {
        match (&self.pin, &self.chip, self.line) {
            (Some(pin), None, None) => crate::pin::beaglebone(pin)
                .ok_or_else(|| format!("{pin:?} is not a BeagleBone header GPIO pin")),
            (None, Some(chip), Some(line)) => {
                let path = if chip.starts_with('/') {
                    chip.clone()
                } else {
                    format!("/dev/{chip}")
                };
                Ok((path, line))
            }
            _ => Err("give either `pin` or both `chip` and `line`".into()),
        }
    }
}

fn link(device: &str, what: impl std::fmt::Display) -> DeviceError {
    DeviceError::Link {
        device: device.to_owned(),
        reason: what.to_string(),
    }
}

/// `[...] type = "gpio"` for a relay.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioRelayParams {
    /// BeagleBone header pin, e.g. `P9_14`.
    pub pin: Option<String>,
    /// GPIO chip, e.g. `/dev/gpiochip1` or `gpiochip1` (with `line`, instead of `pin`).
    pub chip: Option<String>,
    /// Line offset on the chip.
    pub line: Option<u32>,
    /// The relay is energised by a low level.
    #[serde(default)]
    pub active_low: bool,
}

impl GpioRelayParams {
    /// The output line.
    pub fn gpio_line(&self) -> GpioLine {
        GpioLine {
            pin: self.pin.clone(),
            chip: self.chip.clone(),
            line: self.line,
        }
    }
}

/// A relay on a GPIO output. Requested as "off" at start, switched off again when dropped.
#[derive(Debug)]
pub struct GpioRelay {
    name: String,
    request: Request,
    offset: u32,
    /// The level last written, stamped when the kernel accepted it: a GPIO output reads back
    /// what it drives, so that is its feedback.
    state: Option<Stamped<bool>>,
}

impl GpioRelay {
    /// Requests the line as an output, off.
    pub fn open(name: &str, params: &GpioRelayParams) -> Result<Self, DeviceError> {
        let (chip, offset) = params.gpio_line().resolve().map_err(|e| link(name, e))?;
        let mut builder = Request::builder();
        builder
            .on_chip(&chip)
            .with_consumer(format!("gridlet {name}"))
            .with_line(offset)
            .as_output(Value::Inactive);
        if params.active_low {
            builder.as_active_low();
        }
        let request = builder
            .request()
            .map_err(|e| link(name, format!("{chip} line {offset}: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            request,
            offset,
            state: None,
        })
    }
}

impl Relay for GpioRelay {
    fn set(&mut self, now: Timestamp, on: bool) -> Result<(), DeviceError> {
        let value = if on { Value::Active } else { Value::Inactive };
        match self.request.set_value(self.offset, value) {
            Ok(()) => {
                self.state = Some(Stamped::new(now, on));
                Ok(())
            }
            Err(e) => {
                self.state = None;
                Err(link(&self.name, e))
            }
        }
    }

    fn feedback(&self) -> Option<Stamped<bool>> {
        self.state
    }
}

impl Drop for GpioRelay {
    fn drop(&mut self) {
        // The kernel keeps a released line's last level on most chips: leave it off.
        let _ = self.request.set_value(self.offset, Value::Inactive);
    }
}

/// `[button] type = "gpio"`: a push button with an LED. The defaults are the FoccciCape's:
/// LED on P9_28, button on P9_30, read only while the LED line is high, pressed reads low.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpioButtonParams {
    /// The LED output.
    pub led: GpioLine,
    /// The button input.
    pub button: GpioLine,
    /// The button can only be read while the LED line is high (single-wire circuit).
    pub button_needs_led: bool,
    /// A pressed button reads low.
    pub pressed_low: bool,
}

impl Default for GpioButtonParams {
    fn default() -> Self {
        Self {
            led: GpioLine::pin("P9_28"),
            button: GpioLine::pin("P9_30"),
            button_needs_led: true,
            pressed_low: true,
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    logic: ButtonLedLogic,
    error: Option<String>,
}

/// A button with an LED on two GPIO lines, run by its own thread every 10 ms.
#[derive(Debug)]
pub struct GpioButtonLed {
    name: String,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl GpioButtonLed {
    /// Requests both lines and starts the thread.
    pub fn open(name: &str, params: &GpioButtonParams) -> Result<Self, DeviceError> {
        let (led_chip, led_line) = params.led.resolve().map_err(|e| link(name, e))?;
        let (btn_chip, btn_line) = params.button.resolve().map_err(|e| link(name, e))?;
        let led = Request::builder()
            .on_chip(&led_chip)
            .with_consumer(format!("gridlet {name} led"))
            .with_line(led_line)
            .as_output(Value::Inactive)
            .request()
            .map_err(|e| link(name, format!("LED {led_chip} line {led_line}: {e}")))?;
        let button = Request::builder()
            .on_chip(&btn_chip)
            .with_consumer(format!("gridlet {name} button"))
            .with_line(btn_line)
            .as_input()
            .request()
            .map_err(|e| link(name, format!("button {btn_chip} line {btn_line}: {e}")))?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (shared.clone(), stop.clone());
        let (needs_led, pressed_low) = (params.button_needs_led, params.pressed_low);
        let thread = std::thread::Builder::new()
            .name(format!("gridlet-{name}"))
            .spawn(move || {
                let set = |on: bool| {
                    led.set_value(led_line, if on { Value::Active } else { Value::Inactive })
                };
                while !st.load(Ordering::Relaxed) {
                    let action = lock(&s).logic.poll(needs_led);
                    let mut result = Ok(());
                    if action.pulse {
                        // Power the button circuit just long enough to read it.
                        result = set(true);
                        std::thread::sleep(Duration::from_millis(1));
                    } else {
                        result = result.and(set(action.led));
                    }
                    let sample = if action.sample {
                        Some(button.value(btn_line))
                    } else {
                        None
                    };
                    if action.pulse {
                        result = result.and(set(false));
                    }
                    let mut sh = lock(&s);
                    match sample {
                        Some(Ok(v)) => sh.logic.sample((v == Value::Inactive) == pressed_low),
                        Some(Err(e)) => sh.error = Some(e.to_string()),
                        None => {}
                    }
                    if let Err(e) = result {
                        sh.error = Some(e.to_string());
                    }
                    drop(sh);
                    std::thread::sleep(POLL);
                }
                let _ = set(false);
            })
            .map_err(|e| link(name, format!("cannot start its thread: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            shared,
            stop,
            thread: Some(thread),
        })
    }
}

impl ButtonLed for GpioButtonLed {
    fn presses(&self) -> u64 {
        lock(&self.shared).logic.presses()
    }

    fn set_led(&mut self, _now: Timestamp, mode: LedMode) -> Result<(), DeviceError> {
        let mut sh = lock(&self.shared);
        sh.logic.set_mode(mode);
        match sh.error.take() {
            Some(e) => Err(link(&self.name, e)),
            None => Ok(()),
        }
    }
}

impl Drop for GpioButtonLed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_resolve() {
        assert_eq!(
            GpioLine::pin("P9_14").resolve(),
            Ok(("/dev/gpiochip1".into(), 18))
        );
        let explicit = GpioLine {
            chip: Some("gpiochip2".into()),
            line: Some(5),
            ..Default::default()
        };
        assert_eq!(explicit.resolve(), Ok(("/dev/gpiochip2".into(), 5)));
        assert!(GpioLine::default().resolve().is_err());
        assert!(GpioLine::pin("P9_99").resolve().is_err());
    }

    #[test]
    fn opening_a_missing_chip_is_a_link_error() {
        let params = GpioRelayParams {
            chip: Some("/dev/gpiochip-does-not-exist".into()),
            line: Some(1),
            ..Default::default()
        };
        let err = GpioRelay::open("precharge", &params).unwrap_err();
        assert!(
            matches!(&err, DeviceError::Link { device, .. } if device == "precharge"),
            "{err}"
        );
        assert!(GpioButtonLed::open("button", &GpioButtonParams::default()).is_err());
    }
}
