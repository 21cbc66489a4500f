//! An ADC channel through the IIO sysfs interface (the kernel's
//! `Documentation/ABI/testing/sysfs-bus-iio`): `in_voltageN_raw`, scaled as the ABI says,
//! `(raw + offset) × scale` in millivolts, then through the board's divider.
//!
//! Plain sysfs reads, no libiio: libiio is a C library whose armhf build cannot be installed
//! next to our cross toolchain, and one attribute per sample is all the control pilot needs.

use std::fs::File;
use std::path::{Path, PathBuf};

use devices::DeviceError;
use serde::Deserialize;
use units::Volts;

use crate::error::{OpenError, link};
use crate::sysfs;

/// The AM335x's ADC (BeagleBone AIN0–AIN6, BeagleBone System Reference Manual): 12 bits over
/// 0–1.8 V, 1800 mV / 4096 LSB. Mainline's driver (`ti_am335x_adc`) reports raw counts only (some
/// BeagleBoard kernels carry a patch that adds this fixed scale), so this is the scale to
/// configure when the device has no scale attribute.
pub const AM335X_SCALE_MV: f64 = 1800.0 / 4096.0;

fn default_root() -> PathBuf {
    PathBuf::from("/sys/bus/iio/devices/iio:device0")
}

fn one() -> f64 {
    1.0
}

/// `[... adc]`: one IIO voltage channel and the divider in front of it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IioAdcParams {
    /// The IIO device's directory (`/sys/bus/iio/devices/iio:device0`, the BeagleBone's ADC).
    #[serde(default = "default_root")]
    pub root: PathBuf,
    /// The channel: `in_voltage<channel>_raw`.
    pub channel: u32,
    /// mV per LSB, used only if the driver publishes neither `in_voltage<channel>_scale` nor
    /// `in_voltage_scale` (for the AM335x: [`AM335X_SCALE_MV`]).
    #[serde(default)]
    pub scale_mv: Option<f64>,
    /// The board's divider: volts at the input = ADC volts × `gain` + `offset_v`.
    #[serde(default = "one")]
    pub gain: f64,
    /// See `gain`.
    #[serde(default)]
    pub offset_v: f64,
}

impl IioAdcParams {
    /// Channel `channel` of the BeagleBone's ADC, unscaled by any divider.
    pub fn new(channel: u32) -> Self {
        Self {
            root: default_root(),
            channel,
            scale_mv: None,
            gain: 1.0,
            offset_v: 0.0,
        }
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(s) = self.scale_mv
            && !(s.is_finite() && s > 0.0)
        {
            return Err(format!("scale_mv {s} is not a positive number"));
        }
        if !(self.gain.is_finite() && self.gain != 0.0) {
            return Err(format!("gain {} is not a non-zero number", self.gain));
        }
        if !self.offset_v.is_finite() {
            return Err(format!("offset_v {} is not a number", self.offset_v));
        }
        Ok(())
    }
}

/// From raw counts to volts at the board's input, sans-IO.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdcScaling {
    /// The driver's offset, LSB (`in_voltage*_offset`, 0 if none).
    pub raw_offset: f64,
    /// mV per LSB.
    pub scale_mv: f64,
    /// The divider's gain.
    pub gain: f64,
    /// The divider's offset, V.
    pub offset_v: f64,
}

impl AdcScaling {
    /// The voltage at the ADC's pin for `raw`.
    pub fn adc_volts(&self, raw: i64) -> f64 {
        (raw as f64 + self.raw_offset) * self.scale_mv / 1000.0
    }

    /// The voltage at the board's input for `raw`.
    pub fn volts(&self, raw: i64) -> Volts {
        Volts(self.adc_volts(raw) * self.gain + self.offset_v)
    }
}

/// One IIO voltage channel, its raw attribute kept open for repeated reads.
#[derive(Debug)]
pub struct IioAdc {
    name: String,
    raw_path: PathBuf,
    raw: File,
    scaling: AdcScaling,
}

/// Reads the first of `paths` that exists as a finite number, or `None` if none exists. A file
/// that exists but does not hold a usable number is an error, never skipped: a silently wrong
/// scale would shift every reading.
fn first_number(
    paths: &[PathBuf],
    positive: bool,
    name: &str,
) -> Result<Option<(f64, PathBuf)>, DeviceError> {
    let Some(path) = paths.iter().find(|p| p.exists()) else {
        return Ok(None);
    };
    let expected = if positive {
        "a positive number"
    } else {
        "a number"
    };
    let v: f64 = sysfs::read_parse(path, expected).map_err(|e| e.device(name))?;
    if !v.is_finite() || (positive && v <= 0.0) {
        return Err(DeviceError::InvalidData {
            device: name.to_owned(),
            reason: format!("{}: {v} is not {expected}", path.display()),
        });
    }
    Ok(Some((v, path.clone())))
}

impl IioAdc {
    /// Opens the channel, reads its scale and offset, and reads it once to prove it works.
    pub fn open(name: &str, params: &IioAdcParams) -> Result<Self, OpenError> {
        params
            .validate()
            .map_err(|e| OpenError::config(name, format!("adc: {e}")))?;
        if !params.root.is_dir() {
            return Err(link(
                name,
                format!(
                    "no IIO device at {} (is the ADC enabled, e.g. the BB-ADC overlay?)",
                    params.root.display()
                ),
            )
            .into());
        }
        let n = params.channel;
        let attr = |a: String| params.root.join(a);
        let raw_path = attr(format!("in_voltage{n}_raw"));
        let raw = File::open(&raw_path)
            .map_err(|e| link(name, format!("{}: {e}", raw_path.display())))?;
        let scale = first_number(
            &[
                attr(format!("in_voltage{n}_scale")),
                attr("in_voltage_scale".into()),
            ],
            true,
            name,
        )?;
        let scale_mv = match (scale, params.scale_mv) {
            (Some((s, _)), _) => s,
            (None, Some(s)) => s,
            (None, None) => {
                return Err(OpenError::config(
                    name,
                    format!(
                        "adc: {} has neither in_voltage{n}_scale nor in_voltage_scale: set \
                         scale_mv (the AM335x's ADC: {AM335X_SCALE_MV})",
                        params.root.display()
                    ),
                ));
            }
        };
        let raw_offset = first_number(
            &[
                attr(format!("in_voltage{n}_offset")),
                attr("in_voltage_offset".into()),
            ],
            false,
            name,
        )?
        .map_or(0.0, |(o, _)| o);
        let adc = Self {
            name: name.to_owned(),
            raw_path,
            raw,
            scaling: AdcScaling {
                raw_offset,
                scale_mv,
                gain: params.gain,
                offset_v: params.offset_v,
            },
        };
        adc.read_raw()?;
        Ok(adc)
    }

    /// How raw counts become volts.
    pub fn scaling(&self) -> AdcScaling {
        self.scaling
    }

    /// The `in_voltageN_raw` file.
    pub fn raw_path(&self) -> &Path {
        &self.raw_path
    }

    /// One conversion, raw.
    pub fn read_raw(&self) -> Result<i64, DeviceError> {
        let text = sysfs::read_open(&self.raw, &self.raw_path).map_err(|e| e.device(&self.name))?;
        sysfs::parse(&self.raw_path, text, "a raw ADC count").map_err(|e| e.device(&self.name))
    }

    /// One conversion, in volts at the board's input.
    pub fn read_volts(&self) -> Result<Volts, DeviceError> {
        self.read_raw().map(|raw| self.scaling.volts(raw))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::fs;

    use super::*;

    /// A fake IIO device directory.
    pub(crate) struct IioTree {
        pub(crate) dir: tempfile::TempDir,
    }

    impl IioTree {
        pub(crate) fn new() -> Self {
            Self {
                dir: tempfile::tempdir().unwrap(),
            }
        }

        pub(crate) fn set(&self, attr: &str, value: &str) {
            fs::write(self.dir.path().join(attr), format!("{value}\n")).unwrap();
        }

        pub(crate) fn params(&self, channel: u32) -> IioAdcParams {
            IioAdcParams {
                root: self.dir.path().to_owned(),
                ..IioAdcParams::new(channel)
            }
        }
    }

    fn approx(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn scales_by_the_channel_scale_then_the_shared_one_then_the_configured_one() {
        let tree = IioTree::new();
        tree.set("in_voltage3_raw", "2048");
        let configured = IioAdcParams {
            scale_mv: Some(AM335X_SCALE_MV),
            ..tree.params(3)
        };
        let adc = IioAdc::open("cp", &configured).unwrap();
        assert!(
            approx(adc.read_volts().unwrap().0, 0.9),
            "2048 × 1800/4096 mV"
        );

        tree.set("in_voltage_scale", "0.5");
        let adc = IioAdc::open("cp", &configured).unwrap();
        assert!(
            approx(adc.read_volts().unwrap().0, 1.024),
            "the driver's scale wins"
        );

        tree.set("in_voltage3_scale", "0.25");
        tree.set("in_voltage3_offset", "-48");
        let adc = IioAdc::open("cp", &configured).unwrap();
        assert_eq!(adc.scaling().scale_mv, 0.25, "the channel's own scale wins");
        assert!(
            approx(adc.read_volts().unwrap().0, 0.5),
            "(2048 - 48) × 0.25 mV"
        );
    }

    #[test]
    fn no_scale_anywhere_is_a_configuration_error() {
        let tree = IioTree::new();
        tree.set("in_voltage0_raw", "1");
        let err = IioAdc::open("cp", &tree.params(0)).unwrap_err();
        assert!(
            matches!(&err, OpenError::Config { device, reason } if device == "cp" && reason.contains("scale_mv")),
            "{err}"
        );
    }

    #[test]
    fn the_divider_maps_the_adc_range_onto_the_input_range() {
        // A divider that maps −15…+15 V onto 0…1.8 V.
        let tree = IioTree::new();
        tree.set("in_voltage0_raw", "0");
        let params = IioAdcParams {
            scale_mv: Some(AM335X_SCALE_MV),
            gain: 30.0 / 1.8,
            offset_v: -15.0,
            ..tree.params(0)
        };
        let adc = IioAdc::open("cp", &params).unwrap();
        assert!(approx(adc.read_volts().unwrap().0, -15.0));
        tree.set("in_voltage0_raw", "2048");
        assert!(
            approx(adc.read_volts().unwrap().0, 0.0),
            "re-read from the open file"
        );
        let s = adc.scaling();
        assert!(approx(s.volts(4096).0, 15.0));
        assert!(approx(s.adc_volts(4096), 1.8));
    }

    #[test]
    fn bad_contents_are_errors_naming_the_file() {
        let tree = IioTree::new();
        tree.set("in_voltage1_raw", "12 34");
        let params = IioAdcParams {
            scale_mv: Some(1.0),
            ..tree.params(1)
        };
        let err = IioAdc::open("cp", &params).unwrap_err();
        assert!(
            matches!(&err, OpenError::Device(DeviceError::InvalidData { reason, .. }) if reason.contains("in_voltage1_raw") && reason.contains("\"12 34\"")),
            "{err}"
        );

        tree.set("in_voltage1_raw", "100");
        for bad in ["-0.5", "nan", "x"] {
            tree.set("in_voltage_scale", bad);
            let err = IioAdc::open("cp", &params).unwrap_err().to_string();
            assert!(err.contains("in_voltage_scale"), "{bad}: {err}");
        }
        fs::remove_file(tree.dir.path().join("in_voltage_scale")).unwrap();
        tree.set("in_voltage_offset", "inf");
        assert!(IioAdc::open("cp", &params).is_err());
        fs::remove_file(tree.dir.path().join("in_voltage_offset")).unwrap();

        let adc = IioAdc::open("cp", &params).unwrap();
        tree.set("in_voltage1_raw", "");
        assert!(matches!(
            adc.read_volts(),
            Err(DeviceError::InvalidData { .. })
        ));
    }

    #[test]
    fn a_missing_device_or_channel_is_a_link_error() {
        let tree = IioTree::new();
        let err = IioAdc::open(
            "cp",
            &IioAdcParams {
                root: tree.dir.path().join("iio:device7"),
                ..IioAdcParams::new(0)
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("no IIO device at") && err.contains("iio:device7"),
            "{err}"
        );
        let err = IioAdc::open("cp", &tree.params(5)).unwrap_err();
        assert!(
            matches!(&err, OpenError::Device(DeviceError::Link { reason, .. }) if reason.contains("in_voltage5_raw")),
            "{err}"
        );
    }

    #[test]
    fn params_validate_and_read_from_toml() {
        let tree = IioTree::new();
        tree.set("in_voltage0_raw", "0");
        for p in [
            IioAdcParams {
                gain: 0.0,
                ..tree.params(0)
            },
            IioAdcParams {
                scale_mv: Some(-1.0),
                ..tree.params(0)
            },
            IioAdcParams {
                offset_v: f64::NAN,
                ..tree.params(0)
            },
        ] {
            assert!(matches!(
                IioAdc::open("cp", &p),
                Err(OpenError::Config { .. })
            ));
        }
        let p: IioAdcParams =
            toml::from_str("channel = 2\nscale_mv = 0.5\ngain = 16.0\noffset_v = -15.0").unwrap();
        assert_eq!(p.root, default_root());
        assert_eq!((p.channel, p.scale_mv, p.gain), (2, Some(0.5), 16.0));
        assert!(
            toml::from_str::<IioAdcParams>("scale_mv = 0.5").is_err(),
            "no channel"
        );
        assert!(toml::from_str::<IioAdcParams>("channel = 0\noffset = 1.0").is_err());
    }
}
