//! The configuration of CAN devices, as the binary's TOML file holds them, with their defaults
//! and checks. A check names the offending key (relative to the device's table), so the binary
//! can point at FILE:LINE:COLUMN.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;
use units::{Amps, Clock, Volts, duration_str};

use crate::bms::{BmsProtocol, CanBms};
use crate::bus::CanLink;
use crate::emulation::{
    BydHvs, EmulationDriver, EmulationStatus, Pylontech, Rating, Source, SourceInput,
};

/// A driver task to spawn on the daemon's runtime.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A setting that cannot be used: the key (relative to the device's table) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct InvalidSetting {
    /// The key, e.g. `can` or `pdo_base`.
    pub key: &'static str,
    /// What is wrong.
    pub problem: String,
}

impl From<InvalidSetting> for devices::config::FieldError {
    fn from(e: InvalidSetting) -> Self {
        Self::new(e.key, e.problem)
    }
}

impl devices::config::DeviceParams for OpenInverterBmsParams {
    fn validate(&self) -> Result<(), devices::config::FieldError> {
        Self::validate(self).map_err(Into::into)
    }
}

impl devices::config::DeviceParams for PylontechBmsParams {
    fn validate(&self) -> Result<(), devices::config::FieldError> {
        Self::validate(self).map_err(Into::into)
    }
}

impl devices::config::DeviceParams for EmulationParams {
    fn validate(&self) -> Result<(), devices::config::FieldError> {
        Self::validate(self).map_err(Into::into)
    }
}

fn invalid(key: &'static str, problem: impl Into<String>) -> InvalidSetting {
    InvalidSetting {
        key,
        problem: problem.into(),
    }
}

fn default_can() -> String {
    "can0".into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_pdo_base() -> u16 {
    crate::openinverter::PDO_BASE
}

/// A Linux network interface name the kernel accepts (IFNAMSIZ = 16 with the NUL).
fn check_iface(name: &str) -> Result<(), InvalidSetting> {
    if name.is_empty()
        || name.len() > 15
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            "can",
            format!(
                "{name:?} is not a network interface name (1–15 characters, no '/', ':' or spaces)"
            ),
        ));
    }
    Ok(())
}

fn check_timeout(key: &'static str, d: Duration) -> Result<(), InvalidSetting> {
    if d < Duration::from_millis(100) || d > Duration::from_secs(60) {
        return Err(invalid(key, "must be between 100ms and 60s"));
    }
    Ok(())
}

/// `[battery] type = "openinverter-can"`: the openinverter BMS.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenInverterBmsParams {
    /// The SocketCAN interface.
    #[serde(default = "default_can")]
    pub can: String,
    /// The BMS's `pdobase`: its PDOs are this identifier and the next.
    #[serde(default = "default_pdo_base")]
    pub pdo_base: u16,
    /// Without fresh frames for this long, the limits are zero.
    #[serde(default = "default_timeout", with = "duration_str")]
    pub timeout: Duration,
}

impl Default for OpenInverterBmsParams {
    fn default() -> Self {
        Self {
            can: default_can(),
            pdo_base: default_pdo_base(),
            timeout: default_timeout(),
        }
    }
}

impl OpenInverterBmsParams {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        check_iface(&self.can)?;
        if self.pdo_base >= crate::CanId::MAX_STANDARD {
            return Err(invalid(
                "pdo_base",
                format!(
                    "{} leaves no room for the second PDO: at most 2046",
                    self.pdo_base
                ),
            ));
        }
        check_timeout("timeout", self.timeout)
    }

    /// The backend and its driver task.
    pub fn open(&self, name: &str, clock: Arc<dyn Clock>) -> (CanBms, Task) {
        let (bms, driver) = CanBms::new(
            name,
            BmsProtocol::OpenInverter {
                pdo_base: self.pdo_base,
            },
            self.timeout,
            CanLink::SocketCan(self.can.clone()),
            clock,
        );
        (bms, Box::pin(driver.run()))
    }
}

/// `[battery] type = "pylontech-can"`: a BMS speaking the Pylontech / SMA / Victron
/// low-voltage protocol.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PylontechBmsParams {
    /// The SocketCAN interface.
    #[serde(default = "default_can")]
    pub can: String,
    /// Without fresh frames for this long, the limits are zero.
    #[serde(default = "default_timeout", with = "duration_str")]
    pub timeout: Duration,
}

impl Default for PylontechBmsParams {
    fn default() -> Self {
        Self {
            can: default_can(),
            timeout: default_timeout(),
        }
    }
}

impl PylontechBmsParams {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        check_iface(&self.can)?;
        check_timeout("timeout", self.timeout)
    }

    /// The backend and its driver task.
    pub fn open(&self, name: &str, clock: Arc<dyn Clock>) -> (CanBms, Task) {
        let (bms, driver) = CanBms::new(
            name,
            BmsProtocol::Pylontech,
            self.timeout,
            CanLink::SocketCan(self.can.clone()),
            clock,
        );
        (bms, Box::pin(driver.run()))
    }
}

/// `[battery_emulation.NAME]`: a battery emulated towards a hybrid inverter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(remote = "Self", rename_all = "kebab-case")]
pub enum EmulationParams {
    /// BYD Battery-Box Premium HVS (high voltage).
    BydHvs(EmulationSettings),
    /// Pylontech (low voltage).
    Pylontech(EmulationSettings),
}

/// The settings of either emulation; unset values take the emulated battery's defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulationSettings {
    /// The SocketCAN interface towards the inverter.
    #[serde(default = "default_can")]
    pub can: String,
    /// What the battery reports: `bms`, `charge-point` or `auto`.
    #[serde(default)]
    pub source: Source,
    /// Highest charge voltage (BYD 400 V, Pylontech 53.2 V).
    pub max_voltage_v: Option<Volts>,
    /// Lowest discharge voltage (BYD 300 V, Pylontech 44.8 V).
    pub min_voltage_v: Option<Volts>,
    /// Cap on the current limits (BYD 20 A as the predecessor, Pylontech 100 A).
    pub max_current_a: Option<Amps>,
    /// Capacity sent in the identification (BYD 25 500 Wh as the predecessor, Pylontech
    /// 4 800 Wh; Pylontech does not send it).
    pub capacity_wh: Option<u32>,
    /// Source data older than this counts as none (0 A).
    #[serde(default = "default_source_timeout", with = "duration_str")]
    pub source_timeout: Duration,
}

fn default_source_timeout() -> Duration {
    Duration::from_secs(5)
}

impl Default for EmulationSettings {
    fn default() -> Self {
        Self {
            can: default_can(),
            source: Source::default(),
            max_voltage_v: None,
            min_voltage_v: None,
            max_current_a: None,
            capacity_wh: None,
            source_timeout: default_source_timeout(),
        }
    }
}

devices::tagged_enum!(EmulationParams);

impl EmulationParams {
    /// The settings.
    pub fn settings(&self) -> &EmulationSettings {
        match self {
            Self::BydHvs(s) | Self::Pylontech(s) => s,
        }
    }

    /// The rating, defaults applied.
    pub fn rating(&self) -> Rating {
        let s = self.settings();
        let (max_v, min_v, max_a, cap) = match self {
            Self::BydHvs(_) => (400.0, 300.0, 20.0, 25_500),
            Self::Pylontech(_) => (53.2, 44.8, 100.0, 4_800),
        };
        Rating {
            max_voltage: s.max_voltage_v.unwrap_or(Volts(max_v)),
            min_voltage: s.min_voltage_v.unwrap_or(Volts(min_v)),
            max_current: s.max_current_a.unwrap_or(Amps(max_a)),
            capacity_wh: s.capacity_wh.unwrap_or(cap),
            source_timeout: s.source_timeout,
        }
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let s = self.settings();
        check_iface(&s.can)?;
        let r = self.rating();
        // The frames carry 0.1 V and 0.1 A in 16 bits (Pylontech's currents signed).
        let (v_max, a_max) = match self {
            Self::BydHvs(_) => (6553.5, 6553.5),
            Self::Pylontech(_) => (327.67, 3276.7),
        };
        if !(r.max_voltage.0 > 0.0 && r.max_voltage.0 <= v_max) {
            return Err(invalid("max_voltage_v", format!("must be in (0, {v_max}]")));
        }
        if !(r.min_voltage.0 >= 0.0 && r.min_voltage < r.max_voltage) {
            return Err(invalid(
                "min_voltage_v",
                "must be ≥ 0 and below max_voltage_v",
            ));
        }
        if !(r.max_current.0 > 0.0 && r.max_current.0 <= a_max) {
            return Err(invalid("max_current_a", format!("must be in (0, {a_max}]")));
        }
        if r.capacity_wh == 0 || r.capacity_wh > 6_553_500 {
            return Err(invalid("capacity_wh", "must be in 1–6553500"));
        }
        check_timeout("source_timeout", s.source_timeout)
    }

    /// The emulation's driver task, fed from `input`, and its status.
    pub fn open(
        &self,
        name: &str,
        input: watch::Receiver<SourceInput>,
        clock: Arc<dyn Clock>,
    ) -> (Task, watch::Receiver<EmulationStatus>) {
        let s = self.settings();
        let link = CanLink::SocketCan(s.can.clone());
        match self {
            Self::BydHvs(_) => {
                let core = BydHvs::new(self.rating());
                let (d, status) = EmulationDriver::new(name, core, s.source, input, link, clock);
                (Box::pin(d.run()), status)
            }
            Self::Pylontech(_) => {
                let core = Pylontech::new(self.rating(), clock.now());
                let (d, status) = EmulationDriver::new(name, core, s.source, input, link, clock);
                (Box::pin(d.run()), status)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let p: OpenInverterBmsParams = toml::from_str("").unwrap();
        assert_eq!(p, OpenInverterBmsParams::default());
        assert_eq!(p.pdo_base, 0x1F4);
        p.validate().unwrap();
        let p: OpenInverterBmsParams = toml::from_str("pdo_base = 2047").unwrap();
        assert_eq!(p.validate().unwrap_err().key, "pdo_base");
        let p: PylontechBmsParams = toml::from_str("can = \"can 0\"").unwrap();
        assert_eq!(p.validate().unwrap_err().key, "can");
        let p: PylontechBmsParams = toml::from_str("timeout = \"10ms\"").unwrap();
        assert_eq!(p.validate().unwrap_err().key, "timeout");
        assert!(toml::from_str::<PylontechBmsParams>("colour = 1").is_err());
    }

    #[test]
    fn emulation_defaults_per_battery() {
        let p: EmulationParams =
            toml::from_str("type = \"byd-hvs\"\ncan = \"can1\"\nsource = \"auto\"").unwrap();
        p.validate().unwrap();
        assert_eq!(p.settings().source, Source::Auto);
        assert_eq!(p.rating().max_voltage, Volts(400.0));
        assert_eq!(p.rating().capacity_wh, 25_500);
        let p: EmulationParams = toml::from_str("type = \"pylontech\"").unwrap();
        assert_eq!(p, EmulationParams::Pylontech(EmulationSettings::default()));
        assert_eq!(p.rating().max_voltage, Volts(53.2));
        assert_eq!(p.settings().source, Source::Bms);
        let p: EmulationParams =
            toml::from_str("type = \"pylontech\"\nmax_voltage_v = 400").unwrap();
        assert_eq!(p.validate().unwrap_err().key, "max_voltage_v");
        let p: EmulationParams = toml::from_str("type = \"byd-hvs\"\nmin_voltage_v = 450").unwrap();
        assert_eq!(p.validate().unwrap_err().key, "min_voltage_v");
        assert!(toml::from_str::<EmulationParams>("type = \"tesla\"").is_err());
        assert!(toml::from_str::<EmulationParams>("type = \"byd-hvs\"\nsource = \"sun\"").is_err());
    }
}
