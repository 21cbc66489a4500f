//! The openinverter FoccciCape's wiring on a BeagleBone Black/Green, as parameters for the
//! backends of this crate.
//!
//! Sources (see `shared/docs/ems-research.md` §2.1): `uhi22/DiDeBoCCS:setup_focccicape.md` and
//! `source/cppwm.py` @19d98bf (CP PWM on P9_42 = `/sys/class/pwm/pwmchip0/pwm0`, 1 000 000 ns
//! period, the single-wire button), `uhi22/pyPLC:hardwareInterface.py` @079cd68 (relays P9_14
//! and P9_16, button LED P9_28, button read-back P9_30, pressed reads 0),
//! `jsphuebner/esp-egycounter:battery-control/config.json` @ee5f16b (P9_14 "changeover", P9_16
//! "precharge", `pwmbase` `/sys/class/pwm/pwm-0:0/` on johu's kernel: [`SysfsPwm`] finds that
//! name by itself).
//!
//! # The control pilot's ADC input is not verified
//!
//! No source available to us says which AIN the cape measures the pilot on, nor through what
//! divider: DiDeBoCCS's `cppwm.py` lists CP voltage sensing as a to-do, pyPLC's FoccciCape mode
//! and johu's `ccscontrol.py` only drive the PWM, and the cape's schematic
//! (<https://openinverter.org/wiki/FoccciCape>) was not at hand. The `*_UNVERIFIED` constants
//! are placeholders, **to be checked against the schematic** before a car is plugged in: AIN0
//! (P9_39; DiDeBoCCS uses AIN1, P9_40, for its own HV measurement board) through a divider that
//! maps −15…+15 V onto the ADC's 0…1.8 V, which keeps the ±12 V pilot inside the ADC's range
//! with some headroom. A wrong divider reads wrong levels, so the pilot's states would be
//! misread; configure `adc` explicitly until the schematic confirms these values.
//!
//! [`SysfsPwm`]: crate::SysfsPwm

use std::path::PathBuf;

use crate::gpio::{GpioButtonParams, GpioLine, GpioRelayParams};
use crate::iio::{AM335X_SCALE_MV, IioAdcParams};
use crate::pilot::SysfsControlPilotParams;
use crate::pwm::SysfsPwmParams;

/// The control pilot's PWM output pin (eCAP0, muxed with `config-pin P9_42 pwm`).
pub const CP_PWM_PIN: &str = "P9_42";
/// P9_42's PWM chip on the BeagleBone Debian 11 kernel (5.10-ti).
pub const CP_PWM_CHIP: &str = "pwmchip0";
/// P9_42's channel on that chip.
pub const CP_PWM_CHANNEL: u32 = 0;
/// 1 kHz (IEC 61851-1 Annex A).
pub const CP_PWM_PERIOD_NS: u64 = 1_000_000;
/// The relay that switches the inverter's battery port between the home battery and the car.
pub const CHANGEOVER_RELAY_PIN: &str = "P9_14";
/// The precharge relay.
pub const PRECHARGE_RELAY_PIN: &str = "P9_16";
/// The button's LED, which also supplies the button (P9_28 must be muxed to GPIO: it is SPI1_CS0
/// by default).
pub const BUTTON_LED_PIN: &str = "P9_28";
/// The button's read-back: low when pressed, readable only while the LED line is high.
pub const BUTTON_PIN: &str = "P9_30";

/// **Unverified** (see the module docs): the AIN the cape measures the pilot on. AIN0 is P9_39.
pub const CP_ADC_CHANNEL_UNVERIFIED: u32 = 0;
/// **Unverified**: the divider's gain, pilot volts per ADC volt (30 V over 1.8 V).
pub const CP_ADC_GAIN_UNVERIFIED: f64 = 30.0 / 1.8;
/// **Unverified**: the divider's offset, V (0 V at the ADC is −15 V on the pilot).
pub const CP_ADC_OFFSET_V_UNVERIFIED: f64 = -15.0;

/// The control pilot: PWM on P9_42 at 1 kHz, ADC on the **unverified** channel and divider.
pub fn control_pilot() -> SysfsControlPilotParams {
    SysfsControlPilotParams {
        pwm: SysfsPwmParams {
            chip: CP_PWM_CHIP.into(),
            channel: CP_PWM_CHANNEL,
            period_ns: CP_PWM_PERIOD_NS,
            ..SysfsPwmParams::default()
        },
        adc: IioAdcParams {
            root: PathBuf::from("/sys/bus/iio/devices/iio:device0"),
            scale_mv: Some(AM335X_SCALE_MV),
            gain: CP_ADC_GAIN_UNVERIFIED,
            offset_v: CP_ADC_OFFSET_V_UNVERIFIED,
            ..IioAdcParams::new(CP_ADC_CHANNEL_UNVERIFIED)
        },
        samples: 100,
        interval: std::time::Duration::from_millis(50),
    }
}

/// The changeover relay on P9_14, without read-back (the cape has no input for one).
pub fn changeover_relay() -> GpioRelayParams {
    GpioRelayParams::pin(CHANGEOVER_RELAY_PIN)
}

/// The precharge relay on P9_16, without read-back.
pub fn precharge_relay() -> GpioRelayParams {
    GpioRelayParams::pin(PRECHARGE_RELAY_PIN)
}

/// The button on P9_30 with its LED on P9_28, one wire.
pub fn button() -> GpioButtonParams {
    GpioButtonParams {
        led: GpioLine::pin(BUTTON_LED_PIN),
        button: GpioLine::pin(BUTTON_PIN),
        button_needs_led: true,
        pressed_low: true,
    }
}

/// Everything on the cape this crate drives.
#[derive(Debug, Clone, PartialEq)]
pub struct FoccciCape {
    /// See [`control_pilot`].
    pub control_pilot: SysfsControlPilotParams,
    /// See [`changeover_relay`].
    pub changeover_relay: GpioRelayParams,
    /// See [`precharge_relay`].
    pub precharge_relay: GpioRelayParams,
    /// See [`button`].
    pub button: GpioButtonParams,
}

/// The cape's defaults.
pub fn preset() -> FoccciCape {
    FoccciCape {
        control_pilot: control_pilot(),
        changeover_relay: changeover_relay(),
        precharge_relay: precharge_relay(),
        button: button(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use devices::{ControlPilot, PilotSignal, Relay};
    use units::{Clock, Timestamp, VirtualClock};

    use super::*;
    use crate::gpio::{FakeGpio, LineAddr};
    use crate::iio::tests::IioTree;
    use crate::pwm::tests::PwmTree;
    use crate::{GpioButtonLed, GpioRelay, SysfsControlPilot};

    /// The pins of `shared/docs/ems-research.md` §2.1, "FoccciCape hardware as seen by
    /// software".
    #[test]
    fn the_preset_is_the_cape_of_the_research_notes() {
        let cape = preset();
        // "CP PWM: P9_42 → /sys/class/pwm/pwmchip0/pwm0/, period 1 000 000 ns"
        assert_eq!(CP_PWM_PIN, "P9_42");
        let pwm = &cape.control_pilot.pwm;
        assert_eq!(pwm.root, PathBuf::from("/sys/class/pwm"));
        assert_eq!((pwm.chip.as_str(), pwm.channel), ("pwmchip0", 0));
        assert_eq!(pwm.period_ns, 1_000_000);
        assert_eq!(
            pwm.channel_dir, None,
            "pwm0 and johu's pwm-0:0 are both found"
        );
        // "Relays: P9_14 and P9_16 … P9_14 as changeover … P9_16 as precharge"
        assert_eq!(cape.changeover_relay.pin.as_deref(), Some("P9_14"));
        assert_eq!(cape.precharge_relay.pin.as_deref(), Some("P9_16"));
        assert!(!cape.changeover_relay.active_low && cape.changeover_relay.feedback.is_none());
        // "Button with LED on a single wire: drive P9_28 high (LED on) to be able to read the
        // button on P9_30; pressed reads 0."
        assert_eq!(cape.button.led, GpioLine::pin("P9_28"));
        assert_eq!(cape.button.button, GpioLine::pin("P9_30"));
        assert!(cape.button.button_needs_led && cape.button.pressed_low);
        assert_eq!(cape.button, GpioButtonParams::default());
        // The ADC: the BeagleBone's, scaled as the AM335x, channel and divider unverified.
        let adc = &cape.control_pilot.adc;
        assert_eq!(adc.root, PathBuf::from("/sys/bus/iio/devices/iio:device0"));
        assert_eq!(adc.scale_mv, Some(AM335X_SCALE_MV));
        assert_eq!(adc.channel, CP_ADC_CHANNEL_UNVERIFIED);
        // The placeholder divider keeps ±12 V (and some more) inside the ADC's 0–1.8 V.
        let adc_volts = |pilot: f64| (pilot - adc.offset_v) / adc.gain;
        for pilot in [-13.0, -12.0, 0.0, 12.0, 13.0] {
            assert!((0.0..=1.8).contains(&adc_volts(pilot)), "{pilot} V");
        }
    }

    #[test]
    fn the_preset_opens_on_a_beaglebone_shaped_fake() {
        let gpio = FakeGpio::beaglebone();
        let clock = Arc::new(VirtualClock::new(Timestamp::from_unix_secs(1_800_000_000)));
        let cape = preset();
        let mut changeover =
            GpioRelay::open_with("changeover", &cape.changeover_relay, &gpio, clock.clone())
                .unwrap();
        let precharge =
            GpioRelay::open_with("precharge", &cape.precharge_relay, &gpio, clock.clone()).unwrap();
        let _button = GpioButtonLed::open_with("button", &cape.button, &gpio).unwrap();
        changeover.set(clock.now(), true).unwrap();
        assert!(gpio.level(&LineAddr::new("/dev/gpiochip1", 18)), "P9_14");
        assert!(
            gpio.is_requested(&LineAddr::new("/dev/gpiochip1", 19)),
            "P9_16"
        );
        assert!(
            gpio.is_requested(&LineAddr::new("/dev/gpiochip3", 17)),
            "P9_28"
        );
        assert!(
            gpio.is_requested(&LineAddr::new("/dev/gpiochip3", 16)),
            "P9_30"
        );
        drop(precharge);

        let pwm = PwmTree::new(1);
        let kernel = pwm.kernel_exports(Duration::ZERO);
        let adc = IioTree::new();
        adc.set(
            &format!("in_voltage{CP_ADC_CHANNEL_UNVERIFIED}_raw"),
            "3686",
        );
        let mut params = cape.control_pilot.clone();
        params.pwm.root = pwm.root();
        params.adc.root = adc.dir.path().to_owned();
        params.interval = Duration::from_millis(1);
        let mut cp = SysfsControlPilot::open("cp", &params, clock).unwrap();
        assert!(kernel.join().unwrap(), "pwm0 exported");
        cp.set_signal(Timestamp::UNIX_EPOCH, PilotSignal::DIGITAL)
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while pwm.read("pwmchip0/pwm0/duty_cycle") != "50000" {
            assert!(std::time::Instant::now() < deadline, "5 % never written");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
