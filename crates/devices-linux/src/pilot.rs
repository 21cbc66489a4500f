//! The control pilot on a sysfs PWM output and an IIO ADC input (IEC 61851-1 Annex A).
//!
//! The charger drives the pilot through its 1 kΩ source resistance with a ±12 V signal; the car's
//! resistors pull the positive level down (9 V state B, 6 V C, 3 V D) and its diode leaves the
//! negative level alone. So the charger measures both plateaus: the highest level of a burst of
//! samples is the positive plateau, the lowest the negative one.
//!
//! The ADC is sampled by plain sysfs reads, which land at random phases of the 1 kHz signal. At
//! the 5 % duty of digital communication the positive plateau lasts 50 µs of every 1 ms, so a
//! burst of N reads misses it with a probability of about 0.95^N (N = 100: 0.6 %; edges make it
//! a little worse). Such a burst reports the negative level as `high`: whoever turns readings
//! into pilot states must want a state on several consecutive readings before acting on it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use devices::{ControlPilot, DeviceError, PilotReading, PilotSignal, Stamped};
use serde::Deserialize;
use units::{Clock, Timestamp, Volts, duration_str};

use crate::error::{OpenError, link};
use crate::iio::{IioAdc, IioAdcParams};
use crate::pwm::{SysfsPwm, SysfsPwmParams};

const SAMPLES: u32 = 100;
/// 20 readings a second: a plug pulled or a state change is seen within about 50 ms, at a cost
/// of 2000 ADC reads a second, a few per cent of the BeagleBone's CPU.
const INTERVAL: Duration = Duration::from_millis(50);

fn default_samples() -> u32 {
    SAMPLES
}

fn default_interval() -> Duration {
    INTERVAL
}

/// `[... pilot] type = "sysfs"`: the pilot's PWM output and its ADC input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysfsControlPilotParams {
    /// The PWM channel that drives the pilot (default: P9_42, `pwmchip0` channel 0, 1 kHz).
    #[serde(default)]
    pub pwm: SysfsPwmParams,
    /// The ADC channel that measures it, with the board's divider. No default: the channel and
    /// divider depend on the board (see [`crate::focccicape`]).
    pub adc: IioAdcParams,
    /// ADC reads per burst.
    #[serde(default = "default_samples")]
    pub samples: u32,
    /// Pause between the end of a burst and the start of the next (`50ms`).
    #[serde(default = "default_interval", with = "duration_str")]
    pub interval: Duration,
}

/// Checked by `gridlet config check` (the error names the key) and again on open.
impl devices::config::DeviceParams for SysfsControlPilotParams {
    fn validate(&self) -> Result<(), devices::config::FieldError> {
        use devices::config::FieldError;
        if !(1..=10_000).contains(&self.samples) {
            return Err(FieldError::new(
                "samples",
                format!("{} is outside 1..=10000", self.samples),
            ));
        }
        if self.interval < Duration::from_millis(1) || self.interval > Duration::from_secs(10) {
            return Err(FieldError::new(
                "interval",
                format!(
                    "{} is outside 1ms..=10s",
                    units::format_duration(self.interval)
                ),
            ));
        }
        // The pilot is a 1 kHz signal (IEC 61851-1 Annex A); a period 10 % off is a typing
        // error, not a tolerance.
        if !(900_000..=1_100_000).contains(&self.pwm.period_ns) {
            return Err(FieldError::new(
                "pwm.period_ns",
                format!("{} is not about 1000000 (1 kHz)", self.pwm.period_ns),
            ));
        }
        Ok(())
    }
}

/// The highest and lowest voltage of one burst of samples, sans-IO.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Burst {
    max: Option<f64>,
    min: Option<f64>,
    samples: u32,
}

impl Burst {
    /// An empty burst.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sample. A NaN (which no finite scaling produces) is ignored rather than let
    /// poison the extremes.
    pub fn add(&mut self, v: Volts) {
        let v = v.0;
        if v.is_nan() {
            return;
        }
        self.max = Some(self.max.map_or(v, |m| m.max(v)));
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        self.samples += 1;
    }

    /// Samples added.
    pub fn samples(&self) -> u32 {
        self.samples
    }

    /// The reading of the burst, taken while `signal` was on the pilot (`None`: unknown), or
    /// `None` without samples. A constant +12 V (duty 1000 ‰) has no negative half-wave, so
    /// its `low` is `None`: the lowest sample is only the positive plateau again.
    pub fn reading(&self, signal: Option<PilotSignal>) -> Option<PilotReading> {
        let high = Volts(self.max?);
        let static_high = signal.is_some_and(|s| s.duty_permille() >= 1000);
        Some(PilotReading {
            high,
            low: if static_high {
                None
            } else {
                self.min.map(Volts)
            },
        })
    }
}

#[derive(Debug)]
struct Shared {
    /// The signal to drive.
    desired: PilotSignal,
    /// Bumped on every change of `desired`.
    generation: u64,
    /// Why the newest write of the signal failed, until one succeeds.
    write_error: Option<DeviceError>,
    reading: Option<Stamped<PilotReading>>,
    stop: bool,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // The shared values are plain snapshots, valid whatever a panicking holder was doing.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The control pilot on a sysfs PWM channel and an IIO ADC channel, run by its own thread.
///
/// The thread writes the commanded signal when it changes (and again after an interval while a
/// write fails), and between writes takes a burst of `samples` ADC reads every `interval`,
/// publishing the highest and lowest level stamped with the time the burst began (so a reading
/// is never younger than its stamp says). The first burst on a new signal waits one interval,
/// for the front-end's filter to settle. [`ControlPilot::set_signal`] only stores the command,
/// and returns the error of the last write if it failed.
///
/// From [`open`](Self::open) until the first command, and again when dropped, the pilot is at
/// its safe state, −12 V (state F).
#[derive(Debug)]
pub struct SysfsControlPilot {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl SysfsControlPilot {
    /// Opens the PWM and ADC channels, drives −12 V and starts the thread. `clock` stamps the
    /// readings; give it the clock the readings will be compared with.
    pub fn open(
        name: &str,
        params: &SysfsControlPilotParams,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OpenError> {
        devices::config::DeviceParams::validate(params)
            .map_err(|e| OpenError::config(name, e.to_string()))?;
        let mut pwm = SysfsPwm::open(name, &params.pwm)?;
        let adc = IioAdc::open(name, &params.adc)?;
        let safe = PilotSignal::Unavailable;
        pwm.set_duty_permille(safe.duty_permille())?;
        let shared = Arc::new((
            Mutex::new(Shared {
                desired: safe,
                generation: 0,
                write_error: None,
                reading: None,
                stop: false,
            }),
            Condvar::new(),
        ));
        let worker = Worker {
            name: name.to_owned(),
            pwm,
            adc,
            clock,
            samples: params.samples,
            interval: params.interval,
            shared: shared.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("gridlet-{name}"))
            .spawn(move || worker.run(safe))
            .map_err(|e| link(name, format!("cannot start its thread: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }
}

/// The thread's side: sole owner of the PWM channel, so the signal on the wire is always the
/// one it last wrote successfully.
struct Worker {
    name: String,
    pwm: SysfsPwm,
    adc: IioAdc,
    clock: Arc<dyn Clock>,
    samples: u32,
    interval: Duration,
    shared: Arc<(Mutex<Shared>, Condvar)>,
}

impl Worker {
    fn run(mut self, mut applied: PilotSignal) {
        let shared = self.shared.clone();
        let (state, wake) = &*shared;
        let mut applied_generation = 0;
        let mut adc_error: Option<DeviceError> = None;
        loop {
            let (desired, generation) = {
                let st = lock(state);
                if st.stop {
                    break;
                }
                (st.desired, st.generation)
            };
            if generation != applied_generation {
                let result = self.pwm.set_duty_permille(desired.duty_permille());
                let mut st = lock(state);
                match result {
                    Ok(()) => {
                        applied = desired;
                        applied_generation = generation;
                        st.write_error = None;
                        // Measure the new signal only once the front-end has settled on it.
                        self.wait(st, wake, generation);
                        continue;
                    }
                    Err(e) => {
                        if st.write_error.as_ref() != Some(&e) {
                            tracing::warn!("{e}");
                        }
                        st.write_error = Some(e);
                        // The old signal is still on the wire: go on measuring it, and try
                        // again after the interval.
                    }
                }
            }
            let at = self.clock.now();
            let burst = self.burst();
            let mut st = lock(state);
            match burst {
                Ok(b) => {
                    if let Some(r) = b.reading(Some(applied)) {
                        st.reading = Some(Stamped::new(at, r));
                    }
                    adc_error = None;
                }
                // No reading: the last one ages, and the caller sees it go stale.
                Err(e) => {
                    if adc_error.as_ref() != Some(&e) {
                        tracing::warn!("{e}");
                    }
                    adc_error = Some(e);
                }
            }
            self.wait(st, wake, generation);
        }
        if let Err(e) = self
            .pwm
            .set_duty_permille(PilotSignal::Unavailable.duty_permille())
        {
            tracing::error!("{}: cannot drive the safe state (-12 V): {e}", self.name);
        }
    }

    fn burst(&self) -> Result<Burst, DeviceError> {
        let mut b = Burst::new();
        for _ in 0..self.samples {
            b.add(self.adc.read_volts()?);
        }
        Ok(b)
    }

    /// Waits one interval, or less if a new command or the stop comes.
    fn wait(&self, st: MutexGuard<'_, Shared>, wake: &Condvar, generation: u64) {
        let _ = wake
            .wait_timeout_while(st, self.interval, |s| !s.stop && s.generation == generation)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

impl ControlPilot for SysfsControlPilot {
    fn set_signal(&mut self, _now: Timestamp, signal: PilotSignal) -> Result<(), DeviceError> {
        let (state, wake) = &*self.shared;
        let mut st = lock(state);
        if st.desired != signal {
            st.desired = signal;
            st.generation += 1;
            wake.notify_all();
        }
        match &st.write_error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn reading(&self) -> Option<Stamped<PilotReading>> {
        lock(&self.shared.0).reading
    }
}

impl Drop for SysfsControlPilot {
    fn drop(&mut self) {
        // The thread drives −12 V as it ends.
        lock(&self.shared.0).stop = true;
        self.shared.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Instant;

    use units::VirtualClock;

    use super::*;
    use crate::iio::AM335X_SCALE_MV;
    use crate::iio::tests::IioTree;
    use crate::pwm::tests::PwmTree;

    const DUTY: &str = "pwmchip0/pwm0/duty_cycle";

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

    struct Bench {
        pwm: PwmTree,
        adc: IioTree,
        clock: Arc<VirtualClock>,
    }

    impl Bench {
        fn new() -> Self {
            let pwm = PwmTree::new(1);
            pwm.add_channel("pwmchip0/pwm0");
            let adc = IioTree::new();
            adc.set("in_voltage0_raw", "4095");
            Self {
                pwm,
                adc,
                clock: Arc::new(VirtualClock::new(t0())),
            }
        }

        fn params(&self) -> SysfsControlPilotParams {
            SysfsControlPilotParams {
                pwm: self.pwm.params(),
                adc: IioAdcParams {
                    scale_mv: Some(AM335X_SCALE_MV),
                    gain: 30.0 / 1.8,
                    offset_v: -15.0,
                    ..self.adc.params(0)
                },
                samples: 5,
                interval: Duration::from_millis(1),
            }
        }

        fn open(&self) -> SysfsControlPilot {
            SysfsControlPilot::open("cp", &self.params(), self.clock.clone()).unwrap()
        }

        fn duty(&self) -> String {
            self.pwm.read(DUTY)
        }
    }

    #[test]
    fn the_safe_state_is_driven_from_open_and_again_when_dropped() {
        let b = Bench::new();
        let mut cp = b.open();
        assert_eq!(b.duty(), "0", "opened at -12 V");
        assert_eq!(b.pwm.read("pwmchip0/pwm0/enable"), "1");
        assert_eq!(b.pwm.read("pwmchip0/pwm0/period"), "1000000");
        cp.set_signal(t0(), PilotSignal::Static).unwrap();
        wait_for("+12 V", || b.duty() == "1000000");
        drop(cp);
        assert_eq!(b.duty(), "0", "dropped: -12 V again");
    }

    #[test]
    fn each_signal_is_written_when_commanded() {
        let b = Bench::new();
        let mut cp = b.open();
        for (signal, duty) in [
            (PilotSignal::Static, "1000000"),
            (PilotSignal::DIGITAL, "50000"),
            (PilotSignal::Pwm { duty_permille: 266 }, "266000"),
            (PilotSignal::Unavailable, "0"),
            (
                PilotSignal::Pwm {
                    duty_permille: 4000,
                },
                "1000000",
            ),
        ] {
            cp.set_signal(t0(), signal).unwrap();
            wait_for(duty, || b.duty() == duty);
        }
        // safe_state is the role's default: −12 V.
        cp.safe_state(t0()).unwrap();
        wait_for("-12 V", || b.duty() == "0");
    }

    #[test]
    fn a_failed_write_is_reported_and_tried_again() {
        let b = Bench::new();
        let mut cp = b.open();
        let duty = b.pwm.root().join(DUTY);
        fs::remove_file(&duty).unwrap();
        fs::create_dir(&duty).unwrap(); // unreadable and unwritable as an attribute
        cp.set_signal(t0(), PilotSignal::Static).unwrap();
        let mut err = None;
        wait_for("the write error", || {
            err = cp.set_signal(t0(), PilotSignal::Static).err();
            err.is_some()
        });
        let err = err.unwrap();
        assert!(
            matches!(&err, DeviceError::Link { device, reason } if device == "cp" && reason.contains("duty_cycle")),
            "{err}"
        );
        fs::remove_dir(&duty).unwrap();
        fs::write(&duty, "0\n").unwrap();
        wait_for("the retried write", || b.duty() == "1000000");
        wait_for("the error cleared", || {
            cp.set_signal(t0(), PilotSignal::Static).is_ok()
        });
    }

    #[test]
    fn readings_are_stamped_with_their_burst_and_follow_the_signal() {
        let b = Bench::new();
        b.adc.set("in_voltage0_raw", "3686"); // 1.6197 V at the pin: about +12 V
        let mut cp = b.open();
        wait_for("a reading", || cp.reading().is_some());
        let r = cp.reading().unwrap();
        assert_eq!(r.at, t0());
        let v = 3686.0 * AM335X_SCALE_MV / 1000.0 * (30.0 / 1.8) - 15.0;
        assert!((r.value.high.0 - v).abs() < 1e-9, "{r:?}");
        assert_eq!(
            r.value.low.map(|l| l.0),
            Some(r.value.high.0),
            "-12 V has a low half-wave: the one level seen"
        );

        cp.set_signal(t0(), PilotSignal::Static).unwrap();
        wait_for("a reading without a low level", || {
            cp.reading().is_some_and(|r| r.value.low.is_none())
        });

        let t1 = t0() + Duration::from_secs(2);
        b.clock.advance_to(t1);
        wait_for("a reading stamped t1", || {
            cp.reading().is_some_and(|r| r.at == t1)
        });
    }

    #[test]
    fn readings_go_stale_while_the_adc_fails() {
        let b = Bench::new();
        let cp = b.open();
        wait_for("a reading", || cp.reading().is_some());
        b.adc.set("in_voltage0_raw", "broken");
        let t1 = t0() + Duration::from_secs(1);
        b.clock.advance_to(t1);
        // With a 1 ms interval, 50 ms is dozens of failed bursts.
        std::thread::sleep(Duration::from_millis(50));
        let r = cp.reading().unwrap();
        assert_eq!(r.at, t0(), "no reading since the ADC broke");
        assert_eq!(r.fresh(t1, Duration::from_millis(500)), None);
        b.adc.set("in_voltage0_raw", "100");
        wait_for("fresh again", || cp.reading().is_some_and(|r| r.at == t1));
    }

    #[test]
    fn a_burst_keeps_its_extremes() {
        let mut burst = Burst::new();
        assert_eq!(burst.reading(None), None, "no samples, no reading");
        // A 5 % PWM into state B: mostly the negative plateau, some +9 V, an edge.
        for v in [-12.0, -11.9, 8.9, -12.1, f64::NAN, 3.0, -12.0] {
            burst.add(Volts(v));
        }
        assert_eq!(burst.samples(), 6);
        let r = burst.reading(Some(PilotSignal::DIGITAL)).unwrap();
        assert_eq!((r.high, r.low), (Volts(8.9), Some(Volts(-12.1))));
        assert_eq!(burst.reading(None).unwrap().low, Some(Volts(-12.1)));
        for s in [
            PilotSignal::Static,
            PilotSignal::Pwm {
                duty_permille: 1000,
            },
        ] {
            assert_eq!(burst.reading(Some(s)).unwrap().low, None, "{s:?}");
        }
        let r = burst.reading(Some(PilotSignal::Unavailable)).unwrap();
        assert_eq!(r.low, Some(Volts(-12.1)));
    }

    #[test]
    fn params_validate_and_read_from_toml() {
        let b = Bench::new();
        for p in [
            SysfsControlPilotParams {
                samples: 0,
                ..b.params()
            },
            SysfsControlPilotParams {
                interval: Duration::ZERO,
                ..b.params()
            },
            SysfsControlPilotParams {
                pwm: SysfsPwmParams {
                    period_ns: 50_000,
                    ..b.pwm.params()
                },
                ..b.params()
            },
        ] {
            let err = SysfsControlPilot::open("cp", &p, b.clock.clone()).unwrap_err();
            assert!(
                matches!(&err, OpenError::Config { device, .. } if device == "cp"),
                "{err}"
            );
        }
        assert_eq!(b.pwm.read("pwmchip0/pwm0/enable"), "0", "nothing driven");

        let p: SysfsControlPilotParams =
            toml::from_str("adc = { channel = 4, scale_mv = 0.5 }\ninterval = '20ms'").unwrap();
        assert_eq!(p.pwm, SysfsPwmParams::default());
        assert_eq!(
            (p.samples, p.interval),
            (SAMPLES, Duration::from_millis(20))
        );
        assert_eq!(p.adc.channel, 4);
        assert!(
            toml::from_str::<SysfsControlPilotParams>("samples = 10").is_err(),
            "the ADC has no default"
        );
        assert!(
            toml::from_str::<SysfsControlPilotParams>("adc = { channel = 0 }\nsample = 10")
                .is_err()
        );
    }
}
