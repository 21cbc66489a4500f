//! GPIO backends: relays (with an optional read-back input) and the button with its LED.
//!
//! They reach the lines through [`Gpio`]: [`CdevGpio`] on the board (gpio character device,
//! uAPI v2), [`FakeGpio`] in tests.

mod fake;
mod lines;

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use devices::{ButtonLed, DeviceError, LedMode, Relay, Stamped};
use serde::Deserialize;
use units::{Clock, SystemClock, Timestamp, duration_str};

pub use fake::FakeGpio;
pub use lines::{CdevGpio, Gpio, GpioError, InputLine, LineAddr, OutputLine};

use crate::button::{ButtonLedLogic, POLL};
use crate::error::{OpenError, link};

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

    /// Resolves to a [`LineAddr`].
    pub fn addr(&self) -> Result<LineAddr, String> {
        self.resolve()
            .map(|(chip, offset)| LineAddr::new(chip, offset))
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
    /// A read-back input, such as a contactor's auxiliary contact. Without one, the read-back is
    /// the level the output drives.
    #[serde(default)]
    pub feedback: Option<RelayFeedbackParams>,
}

impl GpioRelayParams {
    /// A relay on a header pin, without read-back.
    pub fn pin(name: &str) -> Self {
        Self {
            pin: Some(name.to_owned()),
            ..Default::default()
        }
    }

    /// The output line.
    pub fn gpio_line(&self) -> GpioLine {
        GpioLine {
            pin: self.pin.clone(),
            chip: self.chip.clone(),
            line: self.line,
        }
    }
}

/// The default read-back period: ten reads per second of the controller's default 1 s tick, so a
/// read-back is never more than 100 ms older than the tick that looks at it, at a cost (one
/// ioctl) that does not matter.
const FEEDBACK_PERIOD: Duration = Duration::from_millis(100);

fn default_feedback_period() -> Duration {
    FEEDBACK_PERIOD
}

/// `feedback = { pin = "P8_8", active_low = true }`: the input that tells whether the relay
/// really switched.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayFeedbackParams {
    /// BeagleBone header pin, e.g. `P8_8`.
    pub pin: Option<String>,
    /// GPIO chip (with `line`, instead of `pin`).
    pub chip: Option<String>,
    /// Line offset on the chip.
    pub line: Option<u32>,
    /// The input reads low when the contact is closed (a contact to ground with a pull-up, the
    /// usual wiring): closed means the relay is on.
    #[serde(default)]
    pub active_low: bool,
    /// How often the input is read (`100ms`).
    #[serde(default = "default_feedback_period", with = "duration_str")]
    pub period: Duration,
}

impl RelayFeedbackParams {
    /// A read-back on a header pin, read every 100 ms.
    pub fn pin(name: &str, active_low: bool) -> Self {
        Self {
            pin: Some(name.to_owned()),
            chip: None,
            line: None,
            active_low,
            period: FEEDBACK_PERIOD,
        }
    }

    /// The input line.
    pub fn gpio_line(&self) -> GpioLine {
        GpioLine {
            pin: self.pin.clone(),
            chip: self.chip.clone(),
            line: self.line,
        }
    }
}

/// Locks, and carries on with the data of a thread that panicked: every shared value here is a
/// plain snapshot that is valid whatever the panic interrupted.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct FeedbackShared {
    value: Option<Stamped<bool>>,
    stop: bool,
}

/// The thread that reads a relay's read-back input.
#[derive(Debug)]
struct FeedbackReader {
    shared: Arc<(Mutex<FeedbackShared>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl FeedbackReader {
    fn start(
        name: &str,
        mut input: Box<dyn InputLine>,
        period: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, DeviceError> {
        let shared = Arc::new((Mutex::new(FeedbackShared::default()), Condvar::new()));
        let sh = shared.clone();
        let device = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(format!("gridlet-{name}"))
            .spawn(move || {
                let (state, wake) = &*sh;
                let mut last_error: Option<GpioError> = None;
                loop {
                    // Stamped before the read: should the read take long, the value is
                    // at least as fresh as its stamp says, never fresher.
                    let at = clock.now();
                    let read = input.get();
                    let mut st = lock(state);
                    match read {
                        Ok(on) => {
                            st.value = Some(Stamped::new(at, on));
                            last_error = None;
                        }
                        Err(e) => {
                            // A failed read proves nothing about the contact: unknown.
                            st.value = None;
                            if last_error.as_ref() != Some(&e) {
                                tracing::warn!("{device}: read-back failed: {e}");
                                last_error = Some(e);
                            }
                        }
                    }
                    let (st, _) = wake
                        .wait_timeout_while(st, period, |s| !s.stop)
                        .unwrap_or_else(PoisonError::into_inner);
                    if st.stop {
                        break;
                    }
                }
            })
            .map_err(|e| link(name, format!("cannot start its read-back thread: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    fn value(&self) -> Option<Stamped<bool>> {
        lock(&self.shared.0).value
    }
}

impl Drop for FeedbackReader {
    fn drop(&mut self) {
        lock(&self.shared.0).stop = true;
        self.shared.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A relay on a GPIO output. Requested as "off" at start, switched off again when dropped.
///
/// With a read-back input ([`RelayFeedbackParams`]) a thread reads it every `period` and
/// [`Relay::feedback`] is the newest read, stamped with when it was taken: if the reads stop,
/// the stamp stops moving and the controller sees the feedback go stale. Without one, the
/// read-back is the level the output was last driven to, stamped when the kernel accepted it:
/// a GPIO output reads back what it drives.
#[derive(Debug)]
pub struct GpioRelay {
    name: String,
    output: Box<dyn OutputLine>,
    driven: Option<Stamped<bool>>,
    feedback: Option<FeedbackReader>,
}

impl GpioRelay {
    /// Opens the relay on the gpio character device. A read-back input is stamped by a
    /// [`SystemClock`] of the relay's own; use [`open_with`](Self::open_with) to share the
    /// runner's clock, so that the stamps and the tick's `now` come from one clock.
    pub fn open(name: &str, params: &GpioRelayParams) -> Result<Self, OpenError> {
        Self::open_with(name, params, &CdevGpio, Arc::new(SystemClock::new()))
    }

    /// Opens the relay on `gpio`; `clock` stamps the read-back input's reads.
    pub fn open_with(
        name: &str,
        params: &GpioRelayParams,
        gpio: &dyn Gpio,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OpenError> {
        let out = params
            .gpio_line()
            .addr()
            .map_err(|e| OpenError::config(name, e))?;
        let feedback = match &params.feedback {
            None => None,
            Some(f) => {
                let addr = f
                    .gpio_line()
                    .addr()
                    .map_err(|e| OpenError::config(name, format!("feedback: {e}")))?;
                if addr == out {
                    return Err(OpenError::config(
                        name,
                        format!("feedback: {addr} is the relay's own output"),
                    ));
                }
                if f.period < Duration::from_millis(1) || f.period > Duration::from_secs(60) {
                    return Err(OpenError::config(
                        name,
                        format!(
                            "feedback: period {} is outside 1ms..=60s",
                            units::format_duration(f.period)
                        ),
                    ));
                }
                Some((addr, f))
            }
        };
        let output = gpio
            .output(&out, &format!("gridlet {name}"), params.active_low, false)
            .map_err(|e| link(name, e))?;
        let feedback = match feedback {
            None => None,
            Some((addr, f)) => {
                let input = gpio
                    .input(&addr, &format!("gridlet {name} feedback"), f.active_low)
                    .map_err(|e| link(name, format!("feedback: {e}")))?;
                Some(FeedbackReader::start(name, input, f.period, clock)?)
            }
        };
        Ok(Self {
            name: name.to_owned(),
            output,
            driven: None,
            feedback,
        })
    }
}

impl Relay for GpioRelay {
    fn set(&mut self, now: Timestamp, on: bool) -> Result<(), DeviceError> {
        match self.output.set(on) {
            Ok(()) => {
                self.driven = Some(Stamped::new(now, on));
                Ok(())
            }
            Err(e) => {
                self.driven = None;
                Err(link(&self.name, e))
            }
        }
    }

    fn feedback(&self) -> Option<Stamped<bool>> {
        match &self.feedback {
            Some(reader) => reader.value(),
            None => self.driven,
        }
    }
}

impl Drop for GpioRelay {
    fn drop(&mut self) {
        // The kernel keeps a released line's last level on most chips: leave it off.
        let _ = self.output.set(false);
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
    stop: bool,
}

/// How long the LED line is raised to read a dark button: long enough for the input to settle
/// through the LED, short enough not to be seen.
const PULSE: Duration = Duration::from_millis(1);

/// The I/O of one button-and-LED poll; the decisions are [`ButtonLedLogic`]'s.
#[derive(Debug)]
struct ButtonDriver {
    led: Box<dyn OutputLine>,
    button: Box<dyn InputLine>,
    needs_led: bool,
    pressed_low: bool,
}

impl ButtonDriver {
    fn poll(&mut self, shared: &Mutex<Shared>) {
        let action = lock(shared).logic.poll(self.needs_led);
        let mut result = Ok(());
        if action.pulse {
            // Power the button circuit just long enough to read it.
            result = self.led.set(true);
            std::thread::sleep(PULSE);
        } else {
            result = result.and(self.led.set(action.led));
        }
        let sample = action.sample.then(|| self.button.get());
        if action.pulse {
            result = result.and(self.led.set(false));
        }
        let mut sh = lock(shared);
        match sample {
            // The line reads active when high: pressed is low if `pressed_low`.
            Some(Ok(high)) => sh.logic.sample(high != self.pressed_low),
            Some(Err(e)) => sh.error = Some(e.to_string()),
            None => {}
        }
        if let Err(e) = result {
            sh.error = Some(e.to_string());
        }
    }
}

/// A button with an LED on two GPIO lines, run by its own thread every 10 ms.
#[derive(Debug)]
pub struct GpioButtonLed {
    name: String,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl GpioButtonLed {
    /// Requests both lines on the gpio character device and starts the thread.
    pub fn open(name: &str, params: &GpioButtonParams) -> Result<Self, OpenError> {
        Self::open_with(name, params, &CdevGpio)
    }

    /// Requests both lines on `gpio` and starts the thread.
    pub fn open_with(
        name: &str,
        params: &GpioButtonParams,
        gpio: &dyn Gpio,
    ) -> Result<Self, OpenError> {
        let led_addr = params
            .led
            .addr()
            .map_err(|e| OpenError::config(name, format!("led: {e}")))?;
        let button_addr = params
            .button
            .addr()
            .map_err(|e| OpenError::config(name, format!("button: {e}")))?;
        if led_addr == button_addr {
            return Err(OpenError::config(
                name,
                format!("led and button are both {led_addr}"),
            ));
        }
        let led = gpio
            .output(&led_addr, &format!("gridlet {name} led"), false, false)
            .map_err(|e| link(name, format!("LED: {e}")))?;
        let button = gpio
            .input(&button_addr, &format!("gridlet {name} button"), false)
            .map_err(|e| link(name, format!("button: {e}")))?;
        let mut driver = ButtonDriver {
            led,
            button,
            needs_led: params.button_needs_led,
            pressed_low: params.pressed_low,
        };
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("gridlet-{name}"))
            .spawn(move || {
                let (state, wake) = &*sh;
                loop {
                    driver.poll(state);
                    let st = lock(state);
                    let (st, _) = wake
                        .wait_timeout_while(st, POLL, |s| !s.stop)
                        .unwrap_or_else(PoisonError::into_inner);
                    if st.stop {
                        break;
                    }
                }
                let _ = driver.led.set(false);
            })
            .map_err(|e| link(name, format!("cannot start its thread: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            shared,
            thread: Some(thread),
        })
    }
}

impl ButtonLed for GpioButtonLed {
    fn presses(&self) -> u64 {
        lock(&self.shared.0).logic.presses()
    }

    fn set_led(&mut self, _now: Timestamp, mode: LedMode) -> Result<(), DeviceError> {
        let mut sh = lock(&self.shared.0);
        sh.logic.set_mode(mode);
        match sh.error.take() {
            Some(e) => Err(link(&self.name, e)),
            None => Ok(()),
        }
    }
}

impl Drop for GpioButtonLed {
    fn drop(&mut self) {
        lock(&self.shared.0).stop = true;
        self.shared.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use units::VirtualClock;

    use super::*;

    /// Waits until `cond` holds, for at most 10 s: the threads under test run on a machine
    /// shared with other builds, so the bound only catches a hang.
    fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn t0() -> Timestamp {
        Timestamp::from_unix_secs(1_800_000_000)
    }

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
            matches!(&err, OpenError::Device(DeviceError::Link { device, .. }) if device == "precharge"),
            "{err}"
        );
        assert!(GpioButtonLed::open("button", &GpioButtonParams::default()).is_err());
    }

    #[test]
    fn bad_relay_parameters_are_configuration_errors() {
        let gpio = FakeGpio::beaglebone();
        let clock = Arc::new(VirtualClock::new(t0()));
        let open = |p: &GpioRelayParams| {
            GpioRelay::open_with("precharge", p, &gpio, clock.clone()).unwrap_err()
        };
        let err = open(&GpioRelayParams::pin("P9_99"));
        assert!(
            matches!(&err, OpenError::Config { device, reason } if device == "precharge" && reason.contains("P9_99")),
            "{err}"
        );
        let own = GpioRelayParams {
            feedback: Some(RelayFeedbackParams::pin("P9_16", false)),
            ..GpioRelayParams::pin("P9_16")
        };
        assert!(open(&own).to_string().contains("own output"), "{own:?}");
        let slow = GpioRelayParams {
            feedback: Some(RelayFeedbackParams {
                period: Duration::ZERO,
                ..RelayFeedbackParams::pin("P8_8", false)
            }),
            ..GpioRelayParams::pin("P9_16")
        };
        assert!(open(&slow).to_string().contains("period"));
        // Nothing was left requested by the failed opens.
        assert!(!gpio.is_requested(&LineAddr::new("/dev/gpiochip1", 19)));
    }

    #[test]
    fn relay_params_read_from_toml() {
        let p: GpioRelayParams = toml::from_str(
            "pin = 'P9_16'\nfeedback = { pin = 'P8_8', active_low = true, period = '250ms' }",
        )
        .unwrap();
        assert_eq!(
            p.feedback,
            Some(RelayFeedbackParams {
                period: Duration::from_millis(250),
                ..RelayFeedbackParams::pin("P8_8", true)
            })
        );
        let p: GpioRelayParams =
            toml::from_str("pin = 'P9_16'\nfeedback = { chip = 'gpiochip2', line = 3 }").unwrap();
        assert_eq!(p.feedback.unwrap().period, FEEDBACK_PERIOD);
        assert!(toml::from_str::<GpioRelayParams>("pin = 'P9_16'\nfeedbak = {}").is_err());
        assert!(
            toml::from_str::<GpioRelayParams>("pin = 'P9_16'\nfeedback = { pin = 'P8_8', x = 1 }")
                .is_err()
        );
    }

    #[test]
    fn relay_without_read_back_reports_what_it_drives() {
        let gpio = FakeGpio::beaglebone();
        let line = LineAddr::new("/dev/gpiochip1", 19);
        let clock = Arc::new(VirtualClock::new(t0()));
        let mut relay = GpioRelay::open_with(
            "precharge",
            &GpioRelayParams {
                active_low: true,
                ..GpioRelayParams::pin("P9_16")
            },
            &gpio,
            clock,
        )
        .unwrap();
        assert_eq!(relay.feedback(), None, "nothing driven yet");
        assert!(
            gpio.level(&line),
            "requested off: high, as it is active-low"
        );
        let t1 = t0() + Duration::from_secs(1);
        relay.set(t1, true).unwrap();
        assert!(!gpio.level(&line));
        assert_eq!(relay.feedback(), Some(Stamped::new(t1, true)));
        gpio.set_failing(&line, true);
        assert!(matches!(
            relay.set(t1, false),
            Err(DeviceError::Link { device, .. }) if device == "precharge"
        ));
        assert_eq!(relay.feedback(), None, "unknown after a failed write");
        gpio.set_failing(&line, false);
        relay.set(t1, true).unwrap();
        drop(relay);
        assert!(gpio.level(&line), "dropped: off");
        assert!(!gpio.is_requested(&line), "dropped: released");
    }

    #[test]
    fn relay_read_back_comes_from_the_feedback_input_stamped_when_read() {
        let gpio = FakeGpio::beaglebone();
        let aux = LineAddr::new("/dev/gpiochip2", 3); // P8_8
        gpio.set_level(&aux, true); // contact open, pulled up
        let clock = Arc::new(VirtualClock::new(t0()));
        let params = GpioRelayParams {
            feedback: Some(RelayFeedbackParams {
                period: Duration::from_millis(1),
                ..RelayFeedbackParams::pin("P8_8", true)
            }),
            ..GpioRelayParams::pin("P9_14")
        };
        let mut relay = GpioRelay::open_with("changeover", &params, &gpio, clock.clone()).unwrap();
        wait_for("the first read", || relay.feedback().is_some());
        assert_eq!(relay.feedback(), Some(Stamped::new(t0(), false)));

        // Switching the output changes nothing until the contact itself closes.
        relay.set(t0(), true).unwrap();
        assert!(gpio.level(&LineAddr::new("/dev/gpiochip1", 18)));
        let reads = gpio.reads(&aux);
        wait_for("two more reads", || gpio.reads(&aux) >= reads + 2);
        assert_eq!(relay.feedback().map(|f| f.value), Some(false));

        let t1 = t0() + Duration::from_millis(300);
        clock.advance_to(t1);
        gpio.set_level(&aux, false); // contact closed
        wait_for("the closed contact", || {
            relay.feedback() == Some(Stamped::new(t1, true))
        });

        // A failing input is no read-back at all.
        gpio.set_failing(&aux, true);
        wait_for("the failed read", || relay.feedback().is_none());
        gpio.set_failing(&aux, false);
        wait_for("reads again", || relay.feedback().is_some());
        drop(relay);
        assert!(!gpio.is_requested(&aux), "dropped: the input is released");
    }

    #[test]
    fn relay_read_back_goes_stale_when_reads_stop() {
        let gpio = FakeGpio::beaglebone();
        let aux = LineAddr::new("/dev/gpiochip2", 3);
        let clock = Arc::new(VirtualClock::new(t0()));
        let params = GpioRelayParams {
            feedback: Some(RelayFeedbackParams {
                period: Duration::from_millis(1),
                ..RelayFeedbackParams::pin("P8_8", false)
            }),
            ..GpioRelayParams::pin("P9_14")
        };
        let relay = GpioRelay::open_with("changeover", &params, &gpio, clock.clone()).unwrap();
        let t1 = t0() + Duration::from_secs(1);
        clock.advance_to(t1);
        wait_for("a read at t1", || {
            relay.feedback().is_some_and(|f| f.at == t1)
        });

        // The input hangs: the thread is stuck in a read, so no read after this one can carry
        // a stamp later than t1.
        gpio.hold_reads(&aux, true);
        wait_for("a hanging read", || gpio.blocked_reads() == 1);
        let t2 = t1 + Duration::from_secs(5);
        clock.advance_to(t2);
        std::thread::sleep(Duration::from_millis(20));
        let fb = relay.feedback().unwrap();
        assert_eq!(fb.at, t1, "the stamp stopped moving");
        assert_eq!(fb.age(t2), Duration::from_secs(5));
        assert_eq!(fb.fresh(t2, Duration::from_secs(1)), None);

        gpio.hold_reads(&aux, false);
        wait_for("fresh again", || {
            relay.feedback().is_some_and(|f| f.at == t2)
        });
    }

    fn focccicape_button(gpio: &FakeGpio) -> (LineAddr, LineAddr) {
        let led = LineAddr::new("/dev/gpiochip3", 17); // P9_28
        let button = LineAddr::new("/dev/gpiochip3", 16); // P9_30
        gpio.supply_input_from(&button, &led);
        gpio.set_level(&button, true); // released
        (led, button)
    }

    fn driver(gpio: &FakeGpio, led: &LineAddr, button: &LineAddr) -> ButtonDriver {
        ButtonDriver {
            led: gpio.output(led, "t", false, false).unwrap(),
            button: gpio.input(button, "t", false).unwrap(),
            needs_led: true,
            pressed_low: true,
        }
    }

    #[test]
    fn single_wire_button_is_read_only_while_its_led_line_is_high() {
        let gpio = FakeGpio::beaglebone();
        let (led, button) = focccicape_button(&gpio);
        let mut d = driver(&gpio, &led, &button);
        let shared = Mutex::new(Shared::default());
        let polls = |d: &mut ButtonDriver, n: usize| (0..n).for_each(|_| d.poll(&shared));

        // LED dark: a read without the LED line high would read low, a phantom press.
        polls(&mut d, 50);
        assert_eq!(lock(&shared).logic.presses(), 0);
        let writes = gpio.writes(&led);
        assert!(
            writes.contains(&true),
            "the dark LED is pulsed to read the button"
        );
        assert!(!gpio.level(&led), "and left dark");

        gpio.set_level(&button, false); // pressed
        polls(&mut d, 20);
        gpio.set_level(&button, true);
        polls(&mut d, 20);
        assert_eq!(lock(&shared).logic.presses(), 1);

        lock(&shared).logic.set_mode(LedMode::On);
        polls(&mut d, 5);
        assert!(gpio.level(&led));
        gpio.set_level(&button, false);
        polls(&mut d, 3);
        assert_eq!(lock(&shared).logic.presses(), 2, "lit: read every poll");
        assert_eq!(lock(&shared).error, None);

        gpio.set_failing(&button, true);
        polls(&mut d, 1);
        assert!(
            lock(&shared)
                .error
                .as_deref()
                .is_some_and(|e| e.contains("line 16"))
        );
    }

    #[test]
    fn button_led_runs_on_its_thread_and_reports_errors_through_set_led() {
        let gpio = FakeGpio::beaglebone();
        let (led, button) = focccicape_button(&gpio);
        let mut b =
            GpioButtonLed::open_with("button", &GpioButtonParams::default(), &gpio).unwrap();
        gpio.set_level(&button, false);
        wait_for("a press", || b.presses() == 1);
        gpio.set_level(&button, true);
        b.set_led(t0(), LedMode::On).unwrap();
        wait_for("the LED", || gpio.level(&led));
        gpio.set_failing(&led, true);
        wait_for("the write error", || lock(&b.shared.0).error.is_some());
        let err = b.set_led(t0(), LedMode::Off).unwrap_err();
        assert!(
            matches!(&err, DeviceError::Link { device, reason } if device == "button" && reason.contains("line 17")),
            "{err}"
        );
        gpio.set_failing(&led, false);
        drop(b);
        assert!(!gpio.level(&led), "dropped: LED off");
        assert!(!gpio.is_requested(&led) && !gpio.is_requested(&button));
    }
}
