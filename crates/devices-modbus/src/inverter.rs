//! The configuration of the commanded Modbus devices (`[pv.NAME] type = "sunspec" |
//! "huawei-sun2000"`, `[converter] type = "sunspec-storage" | "huawei-luna" | "sungrow-sh"`,
//! `[grid_meter] type = "sunspec"`), checked here with the key at fault, and how to open them.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use units::{Clock, Watts, duration_str};

use crate::device::{DriverSettings, ModbusDevice, Protocol};
use crate::huawei::{Huawei, HuaweiRole};
use crate::link::{LinkParams, ParamError};
use crate::meter::OpenError;
use crate::sungrow::Sungrow;
use crate::sunspec::{SunSpec, SunSpecRole};

/// Settings shared by every commanded device.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InverterParams {
    /// Where it is.
    pub modbus: LinkParams,
    /// How often it is read (and its set-points checked).
    #[serde(default = "default_poll", with = "duration_str")]
    pub poll: Duration,
    /// PV inverters: nameplate AC power, W (a limit in W is written as % of it).
    pub rated_w: Option<Watts>,
    /// Converters: the most the battery port charges with, W (the controller's rating).
    pub max_charge_w: Option<Watts>,
    /// Converters: the most the battery port discharges with, W.
    pub max_discharge_w: Option<Watts>,
    /// PV inverters: the limit of the safe state (absent: unlimited).
    pub fallback_limit_w: Option<Watts>,
    /// A set-point not repeated within this falls back to the safe one (PV: the fallback
    /// limit; battery: 0 W).
    #[serde(default = "default_setpoint_timeout", with = "duration_str")]
    pub setpoint_timeout: Duration,
    /// SunSpec: the register of the "SunS" marker (absent: 40000, 0, 50000 are tried).
    pub base: Option<u16>,
    /// SunSpec: the revert timeout written with each set-point: a device that hears nothing
    /// from gridlet for this long returns to its own default (unlimited, battery on its own).
    #[serde(default = "default_revert", with = "duration_str")]
    pub revert_timeout: Duration,
    /// Huawei: quiet time after connecting before the first request.
    #[serde(default = "default_quiet", with = "duration_str")]
    pub connect_delay: Duration,
    /// Huawei: the grid feed-in limit the inverter enforces itself with its meter
    /// (47415 = 6, 47416 = W); absent: the inverter's setting is left alone.
    pub feed_in_limit_w: Option<Watts>,
}

fn default_poll() -> Duration {
    Duration::from_secs(1)
}
fn default_setpoint_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_revert() -> Duration {
    Duration::from_secs(30)
}
fn default_quiet() -> Duration {
    Duration::from_secs(1)
}

/// The device types of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InverterKind {
    /// `sunspec` grid meter (201–204).
    SunSpecMeter,
    /// `sunspec` PV inverter (101–103 with 704 or 123).
    SunSpecInverter,
    /// `sunspec-storage` converter (124).
    SunSpecStorage,
    /// `huawei-sun2000` PV inverter.
    HuaweiSun2000,
    /// `huawei-sun2000` grid meter (its meter's read-back).
    HuaweiMeter,
    /// `huawei-luna` converter (the SUN2000's LUNA battery).
    HuaweiLuna,
    /// `sungrow-sh` converter (the SH hybrid's battery in EMS mode).
    SungrowSh,
}

impl InverterKind {
    /// The type name in the configuration.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::SunSpecMeter | Self::SunSpecInverter => "sunspec",
            Self::SunSpecStorage => "sunspec-storage",
            Self::HuaweiSun2000 | Self::HuaweiMeter => "huawei-sun2000",
            Self::HuaweiLuna => "huawei-luna",
            Self::SungrowSh => "sungrow-sh",
        }
    }

    fn is_pv(self) -> bool {
        matches!(self, Self::SunSpecInverter | Self::HuaweiSun2000)
    }
}

impl InverterParams {
    /// Checks the settings for a device of `kind`; the error's key is relative to its table.
    pub fn check(&self, kind: InverterKind) -> Result<crate::link::ClientLink, ParamError> {
        if self.poll < Duration::from_millis(100) || self.poll > Duration::from_secs(60) {
            return Err(ParamError::new("poll", "must be between 100ms and 60s"));
        }
        if self.setpoint_timeout < self.poll || self.setpoint_timeout > Duration::from_secs(600) {
            return Err(ParamError::new(
                "setpoint_timeout",
                "must be between `poll` and 600s",
            ));
        }
        let watts = |key: &str, w: Option<Watts>| match w {
            Some(w) if !(w.0.is_finite() && w.0 >= 0.0) => {
                Err(ParamError::new(key, "must be ≥ 0 W"))
            }
            _ => Ok(()),
        };
        watts("rated_w", self.rated_w)?;
        watts("fallback_limit_w", self.fallback_limit_w)?;
        watts("feed_in_limit_w", self.feed_in_limit_w)?;
        watts("max_charge_w", self.max_charge_w)?;
        watts("max_discharge_w", self.max_discharge_w)?;
        let converter = matches!(
            kind,
            InverterKind::SunSpecStorage | InverterKind::HuaweiLuna | InverterKind::SungrowSh
        );
        for (key, w) in [
            ("max_charge_w", self.max_charge_w),
            ("max_discharge_w", self.max_discharge_w),
        ] {
            if converter && w.is_none() {
                return Err(ParamError::new(
                    key,
                    "a battery converter needs its rating (max_charge_w, max_discharge_w = W)",
                ));
            }
            if !converter && w.is_some() {
                return Err(ParamError::new(key, "only for battery converters"));
            }
        }
        if kind.is_pv() {
            if self.rated_w.is_none_or(|w| w.0 <= 0.0) {
                return Err(ParamError::new(
                    "rated_w",
                    "a PV inverter needs its nameplate AC power (rated_w = W)",
                ));
            }
        } else {
            for (key, set) in [
                ("rated_w", self.rated_w.is_some()),
                ("fallback_limit_w", self.fallback_limit_w.is_some()),
            ] {
                if set {
                    return Err(ParamError::new(key, "only for PV inverters"));
                }
            }
        }
        let sunspec = matches!(
            kind,
            InverterKind::SunSpecMeter
                | InverterKind::SunSpecInverter
                | InverterKind::SunSpecStorage
        );
        if !sunspec && self.base.is_some() {
            return Err(ParamError::new("base", "only for SunSpec devices"));
        }
        if sunspec
            && (self.revert_timeout < self.poll * 3
                || self.revert_timeout > Duration::from_secs(3600))
        {
            return Err(ParamError::new(
                "revert_timeout",
                "must be between 3 × poll and 3600s",
            ));
        }
        if kind != InverterKind::HuaweiSun2000 && self.feed_in_limit_w.is_some() {
            return Err(ParamError::new(
                "feed_in_limit_w",
                "only for huawei-sun2000",
            ));
        }
        if self.connect_delay > Duration::from_secs(30) {
            return Err(ParamError::new("connect_delay", "at most 30s"));
        }
        let huawei = matches!(
            kind,
            InverterKind::HuaweiSun2000 | InverterKind::HuaweiMeter | InverterKind::HuaweiLuna
        );
        if huawei && self.modbus.unit == Some(0) {
            // The SUN2000's own access point (port 6607) answers unit 0; on TCP that is an
            // address like any other (on RTU it would be a broadcast, which nobody answers).
            if self.modbus.tcp.is_none() {
                return Err(ParamError::new("modbus.unit", "unit 0 only over `tcp`"));
            }
            let mut m = self.modbus.clone();
            m.unit = None;
            return m.client();
        }
        self.modbus.client()
    }

    /// Opens the device `name` as `kind` on the current tokio runtime.
    pub fn open(
        &self,
        name: &str,
        kind: InverterKind,
        clock: Arc<dyn Clock>,
        stale_after: Duration,
    ) -> Result<ModbusDevice, OpenError> {
        let link = self.check(kind).map_err(|source| OpenError::Config {
            device: name.to_owned(),
            source,
        })?;
        let rated = self.rated_w.map_or(0.0, |w| w.0);
        let sunspec = |role| -> Box<dyn Protocol> {
            Box::new(SunSpec::new(role, self.base, rated, self.revert_timeout))
        };
        let protocol: Box<dyn Protocol> = match kind {
            InverterKind::SunSpecMeter => sunspec(SunSpecRole::Meter),
            InverterKind::SunSpecInverter => sunspec(SunSpecRole::Inverter),
            InverterKind::SunSpecStorage => sunspec(SunSpecRole::Storage),
            InverterKind::HuaweiSun2000 => Box::new(Huawei::new(
                HuaweiRole::Pv {
                    rated_w: rated,
                    feed_in_limit_w: self.feed_in_limit_w.map(|w| w.0),
                },
                self.connect_delay,
            )),
            InverterKind::HuaweiMeter => {
                Box::new(Huawei::new(HuaweiRole::Meter, self.connect_delay))
            }
            InverterKind::HuaweiLuna => {
                Box::new(Huawei::new(HuaweiRole::Battery, self.connect_delay))
            }
            InverterKind::SungrowSh => Box::new(Sungrow),
        };
        ModbusDevice::open(
            name,
            kind.type_name(),
            protocol,
            DriverSettings {
                link,
                unit: self.modbus.unit.unwrap_or(1),
                timeout: self.modbus.timeout,
                retries: self.modbus.retries,
                poll: self.poll,
                stale_after,
                setpoint_timeout: self.setpoint_timeout,
                rated_w: rated,
                fallback_limit_w: self.fallback_limit_w.map(|w| w.0),
            },
            clock,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> InverterParams {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn settings_are_checked_with_their_key() {
        let ok = "modbus = { tcp = \"127.0.0.1:502\" }\nrated_w = 8000\n";
        assert!(parse(ok).check(InverterKind::SunSpecInverter).is_ok());
        let e = parse("modbus = { tcp = \"127.0.0.1:502\" }\n")
            .check(InverterKind::HuaweiSun2000)
            .unwrap_err();
        assert_eq!(e.key, "rated_w");
        let e = parse(ok).check(InverterKind::SungrowSh).unwrap_err();
        assert_eq!(e.key, "max_charge_w");
        let conv =
            "modbus = { tcp = \"127.0.0.1:502\" }\nmax_charge_w = 5000\nmax_discharge_w = 5000\n";
        assert!(parse(conv).check(InverterKind::SungrowSh).is_ok());
        let e = parse(&format!("{conv}rated_w = 1\n"))
            .check(InverterKind::HuaweiLuna)
            .unwrap_err();
        assert_eq!(e.key, "rated_w");
        let e = parse(&format!("{ok}revert_timeout = \"1s\"\n"))
            .check(InverterKind::SunSpecInverter)
            .unwrap_err();
        assert_eq!(e.key, "revert_timeout");
        let e = parse(&format!("{ok}feed_in_limit_w = 0\n"))
            .check(InverterKind::SunSpecInverter)
            .unwrap_err();
        assert_eq!(e.key, "feed_in_limit_w");
        let e = parse(&format!("{ok}base = 40000\n"))
            .check(InverterKind::HuaweiSun2000)
            .unwrap_err();
        assert_eq!(e.key, "base");
        let ap = "modbus = { tcp = \"192.168.200.1:6607\", unit = 0 }\nrated_w = 1\n";
        assert!(parse(ap).check(InverterKind::HuaweiSun2000).is_ok());
        let e = parse(ap).check(InverterKind::SunSpecInverter).unwrap_err();
        assert_eq!(e.key, "modbus.unit");
        let e = parse("modbus = { tcp = \"x\" }\n")
            .check(InverterKind::SunSpecMeter)
            .unwrap_err();
        assert_eq!(e.key, "modbus.tcp");
        assert!(
            toml::from_str::<InverterParams>("modbus = { tcp = \"a:1\" }\nwatts = 1\n").is_err()
        );
    }
}
