//! The configuration file: one TOML file, read with serde; unknown keys are errors, and every
//! error names the file, line and column.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use controller::{Condition, ControlSettings, ControllerConfig, ConverterRating, RelayRule};
use devices::config::{DeviceParams, FieldError};

use crate::assemble::OpenContext;
use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::IntoDeserializer as _;
use sim::{BatteryParams, CarParams, ConverterParams, PriceModel, PvParams, SimSettings};
use units::{Amps, Percent, Volts, Watts, duration_str};

/// The annotated example `gridlet config example` prints (the FoccciCape board).
pub const EXAMPLE_FOCCCI_CAPE: &str = include_str!("../config/foccci-cape.toml");
/// The simulated site `gridlet sim` runs when no file is given.
pub const EXAMPLE_SIM: &str = include_str!("../config/sim.toml");
/// The CCS charger on a real interface with simulated power hardware and house.
pub const EXAMPLE_CCS_SIM: &str = include_str!("../config/ccs-sim.toml");

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub(crate) site: SiteSection,
    #[serde(default)]
    pub(crate) http: HttpSection,
    #[serde(default)]
    pub(crate) control: ControlSettings,
    #[serde(default)]
    pub(crate) price: PriceModel,
    /// Real prices: a provider, the end-user formula, the feed-in tariff.
    pub(crate) prices: Option<tariffs::PricesConfig>,
    pub(crate) grid_meter: Option<GridMeterConfig>,
    /// `[meter_emulation.NAME]`: meters we play for inverters that need one.
    #[serde(default)]
    pub(crate) meter_emulation: IndexMap<String, MeterEmulationConfig>,
    #[serde(default)]
    pub(crate) pv: IndexMap<String, PvConfig>,
    pub(crate) battery: Option<BatteryConfig>,
    /// `[battery_emulation.NAME]`: batteries emulated towards hybrid inverters on CAN.
    #[serde(default)]
    pub(crate) battery_emulation: IndexMap<String, devices_can::config::EmulationParams>,
    pub(crate) converter: Option<ConverterConfig>,
    pub(crate) charge_point: Option<ChargePointConfig>,
    pub(crate) changeover: Option<RelayDevice>,
    #[serde(default)]
    pub(crate) relay: IndexMap<String, RelayConfig>,
    pub(crate) button: Option<ButtonConfig>,
    #[serde(default)]
    pub(crate) sim: SimSettings,
    /// `[mqtt]`: live values, commands and Home Assistant discovery on a broker.
    pub(crate) mqtt: Option<mqtt::MqttSettings>,
    /// `[history]`: the recorded live values, energy totals, the InfluxDB export.
    pub(crate) history: Option<crate::history_front::HistoryConfig>,
    /// `[planner]`: plan the battery and the car over the price horizon.
    #[serde(default)]
    pub(crate) planner: site::PlannerSettings,
    /// `[forecast]`: PV and load forecasts for the planner (the simulation forecasts its own
    /// when absent).
    pub(crate) forecast: Option<forecast::ForecastConfig>,
}

/// `[site]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SiteSection {
    /// IANA time zone for time-of-day rules and schedules; the system's when absent.
    pub(crate) timezone: Option<String>,
    /// Control period.
    #[serde(with = "duration_str")]
    pub(crate) tick: Duration,
    /// Where the user's settings (mode, car limits, relay overrides: the page, the API) are
    /// kept across restarts, e.g. `/var/lib/gridlet/settings.json`; without it they last until
    /// the daemon stops.
    pub(crate) settings: Option<std::path::PathBuf>,
}

impl Default for SiteSection {
    fn default() -> Self {
        Self {
            timezone: None,
            tick: Duration::from_secs(1),
            settings: None,
        }
    }
}

/// `[http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct HttpSection {
    /// Where the web UI and the REST API listen.
    pub(crate) listen: SocketAddr,
    /// The bearer token that writes (and, with `open_reads = false`, reads) need whenever the
    /// listener is not loopback. Prefer `token_file`.
    pub(crate) token: Option<String>,
    /// A file holding the token (its first line).
    pub(crate) token_file: Option<std::path::PathBuf>,
    /// Reads (`GET`) need no token.
    pub(crate) open_reads: bool,
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            token_file: None,
            open_reads: true,
        }
    }
}

/// The shortest token accepted: guessing must be hopeless even without the rate limit.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

impl HttpSection {
    /// The access rules, with the token read from `token_file`. The error names the file.
    pub(crate) fn access(&self) -> anyhow::Result<crate::http::Access> {
        let token = match (&self.token, &self.token_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("[http] token_file {}: {e}", path.display()))?;
                let t = text.lines().next().unwrap_or_default().trim().to_owned();
                if t.len() < MIN_TOKEN_LEN {
                    anyhow::bail!(
                        "[http] token_file {}: the token must have at least {MIN_TOKEN_LEN} characters",
                        path.display()
                    );
                }
                Some(t)
            }
            (None, None) => None,
        };
        Ok(crate::http::Access {
            token,
            open_reads: self.open_reads,
        })
    }
}

/// `[grid_meter]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", rename_all = "kebab-case")]
pub(crate) enum GridMeterConfig {
    /// The simulated site's meter.
    Sim,
    /// Eastron SDM630 on Modbus (input registers, float32).
    Sdm630(devices_modbus::MeterParams),
    /// Eastron SDM72D-M v2 on Modbus.
    Sdm72(devices_modbus::MeterParams),
    /// CHINT DTSU666 (standard map) on Modbus.
    Dtsu666(devices_modbus::MeterParams),
    /// A SunSpec meter (models 201–204), found by SunSpec discovery.
    Sunspec(devices_modbus::InverterParams),
    /// The meter of a Huawei SUN2000, read back through the inverter (37113).
    HuaweiSun2000(devices_modbus::InverterParams),
    /// SMA Energy Meter / Sunny Home Manager on Speedwire (UDP multicast).
    SmaEm(devices_meters::SmaEmParams),
    /// An SML smart meter on an optical read head.
    Sml(devices_meters::SmlParams),
    /// Readings published on an MQTT broker.
    Mqtt(devices_meters::MqttParams),
}

impl GridMeterConfig {
    /// The Modbus model and its settings, for a meter on Modbus.
    pub(crate) fn modbus(&self) -> Option<(&'static str, &devices_modbus::MeterParams)> {
        match self {
            Self::Sim | Self::SmaEm(_) | Self::Sml(_) | Self::Mqtt(_) => None,
            Self::Sdm630(p) => Some(("sdm630", p)),
            Self::Sdm72(p) => Some(("sdm72", p)),
            Self::Dtsu666(p) => Some(("dtsu666", p)),
            Self::Sunspec(_) | Self::HuaweiSun2000(_) => None,
        }
    }

    /// The kind and settings, for a commanded Modbus device read as a meter.
    pub(crate) fn inverter(
        &self,
    ) -> Option<(
        devices_modbus::InverterKind,
        &devices_modbus::InverterParams,
    )> {
        use devices_modbus::InverterKind as K;
        match self {
            Self::Sunspec(p) => Some((K::SunSpecMeter, p)),
            Self::HuaweiSun2000(p) => Some((K::HuaweiMeter, p)),
            _ => None,
        }
    }
}

/// `[meter_emulation.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self")]
pub(crate) enum MeterEmulationConfig {
    /// The CHINT DTSU666-H a Huawei SUN2000 polls (RTU unit 11, 9600 8N1 by default).
    #[serde(rename = "dtsu666-h")]
    Dtsu666H(devices_modbus::EmulationParams),
}

/// `[pv.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", rename_all = "kebab-case")]
pub(crate) enum PvConfig {
    /// A simulated array.
    Sim(PvParams),
    /// A SunSpec inverter (101–103; limit by 704 or 123 with a revert timeout).
    Sunspec(devices_modbus::InverterParams),
    /// A Huawei SUN2000 (AC output 32080; derating 40126, feed-in limit 47415/47416).
    HuaweiSun2000(devices_modbus::InverterParams),
}

impl PvConfig {
    fn rated(&self) -> Watts {
        match self {
            Self::Sim(p) => p.rated_w,
            Self::Sunspec(p) | Self::HuaweiSun2000(p) => p.rated_w.unwrap_or(Watts::ZERO),
        }
    }

    /// The kind and settings, for a PV inverter on Modbus.
    pub(crate) fn inverter(
        &self,
    ) -> Option<(
        devices_modbus::InverterKind,
        &devices_modbus::InverterParams,
    )> {
        use devices_modbus::InverterKind as K;
        match self {
            Self::Sim(_) => None,
            Self::Sunspec(p) => Some((K::SunSpecInverter, p)),
            Self::HuaweiSun2000(p) => Some((K::HuaweiSun2000, p)),
        }
    }
}

/// `[battery]`: the home battery's BMS.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", rename_all = "kebab-case")]
pub(crate) enum BatteryConfig {
    /// A simulated battery.
    Sim(BatteryParams),
    /// The openinverter BMS on CAN (0x1F4/0x1F5).
    OpeninverterCan(devices_can::config::OpenInverterBmsParams),
    /// A BMS speaking the Pylontech / SMA / Victron low-voltage CAN protocol.
    PylontechCan(devices_can::config::PylontechBmsParams),
}

/// `[converter]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", rename_all = "kebab-case")]
pub(crate) enum ConverterConfig {
    /// A simulated converter.
    Sim(ConverterParams),
    /// A SunSpec storage inverter (model 124: InWRte/OutWRte with a revert timeout).
    SunspecStorage(devices_modbus::InverterParams),
    /// The LUNA battery of a Huawei SUN2000 (SoC 37760, power 37765; forcible charge/discharge
    /// 47100, 47247/47249).
    HuaweiLuna(devices_modbus::InverterParams),
    /// A Sungrow SH hybrid's battery in EMS compulsory mode (13050–13052).
    SungrowSh(devices_modbus::InverterParams),
}

impl ConverterConfig {
    fn rating(&self) -> ConverterRating {
        match self {
            Self::Sim(p) => ConverterRating {
                max_charge_w: p.max_charge_w,
                max_discharge_w: p.max_discharge_w,
            },
            Self::SunspecStorage(p) | Self::HuaweiLuna(p) | Self::SungrowSh(p) => ConverterRating {
                max_charge_w: p.max_charge_w.unwrap_or(Watts::ZERO),
                max_discharge_w: p.max_discharge_w.unwrap_or(Watts::ZERO),
            },
        }
    }

    /// The kind and settings, for a converter on Modbus.
    pub(crate) fn inverter(
        &self,
    ) -> Option<(
        devices_modbus::InverterKind,
        &devices_modbus::InverterParams,
    )> {
        use devices_modbus::InverterKind as K;
        match self {
            Self::Sim(_) => None,
            Self::SunspecStorage(p) => Some((K::SunSpecStorage, p)),
            Self::HuaweiLuna(p) => Some((K::HuaweiLuna, p)),
            Self::SungrowSh(p) => Some((K::SungrowSh, p)),
        }
    }
}

/// `[charge_point]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", rename_all = "kebab-case")]
pub(crate) enum ChargePointConfig {
    /// A simulated charge point with a simulated car (a model of a session, no protocol).
    Sim(CarParams),
    /// The CCS charger: control pilot, SLAC, SDP and V2G sessions on a powerline interface,
    /// sequencing its own changeover and precharge relays and the converter while it holds the
    /// DC port.
    Ccs(Box<CcsConfig>),
}

/// `[charge_point] type = "ccs"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CcsConfig {
    /// The powerline interface (`eth1` on the FoccciCape).
    #[serde(default = "default_iface")]
    pub(crate) iface: String,
    /// Run SLAC (cars need it; peers that start at SDP, like Josev's EV, do not).
    #[serde(default = "yes")]
    pub(crate) slac: bool,
    /// After each match, wait until the car has joined our network (VS_PL_LINK_STATUS,
    /// Qualcomm modems only).
    #[serde(default)]
    pub(crate) link_detection: bool,
    /// Protocols offered, in our order of preference: `din`, `iso2`, `iso20`.
    #[serde(default = "default_protocols")]
    pub(crate) protocols: Vec<String>,
    /// Pick the protocol by our order instead of the car's priorities.
    #[serde(default)]
    pub(crate) prefer_ours: bool,
    /// ISO 15118-20 control modes offered, preferred first: `scheduled`, `dynamic`.
    #[serde(default = "default_control_modes")]
    pub(crate) control_modes: Vec<String>,
    /// The V2G server's TCP port (default: random in 49152–65535).
    #[serde(default)]
    pub(crate) port: Option<u16>,
    /// The charger's rating as the car sees it.
    #[serde(default = "default_max_voltage")]
    pub(crate) max_voltage_v: Volts,
    #[serde(default = "default_min_voltage")]
    pub(crate) min_voltage_v: Volts,
    #[serde(default = "default_max_current")]
    pub(crate) max_current_a: Amps,
    #[serde(default = "default_max_power")]
    pub(crate) max_power_w: Watts,
    /// 0 W: the car is never discharged over ISO 15118-20 BPT.
    #[serde(default = "default_max_power")]
    pub(crate) max_discharge_power_w: Watts,
    /// The control pilot (PWM out, ADC in).
    pub(crate) pilot: PilotDevice,
    /// The changeover relay between the home battery and the inlet.
    pub(crate) changeover: RelayDevice,
    /// The precharge relay.
    pub(crate) precharge: RelayDevice,
    /// The isolation monitor, or `{ type = "none" }`: then CableCheck passes untested (and says
    /// so); IEC 61851-23 requires one.
    pub(crate) isolation_monitor: ImdDevice,
    /// The inlet's DC voltage measurement, if any (else the converter's DC voltage).
    #[serde(default)]
    pub(crate) inlet: InletDevice,
    /// Opt-in: discharge DIN 70121 / ISO 15118-2 cars (which never asked for it) into the
    /// house, as the predecessor did. See the README for the risk.
    pub(crate) legacy_v2h: Option<LegacyV2hConfig>,
    /// A simulated car (its schedule and battery) whose sessions run in-process against this
    /// charge point over a simulated powerline, on the simulation's time (`gridlet sim`). Without
    /// it, the car is whatever talks on `iface`.
    pub(crate) car: Option<CarParams>,
    /// The simulated car's side of its sessions.
    #[serde(default)]
    pub(crate) car_session: CarSessionConfig,
}

/// `[charge_point.car_session]`: how the simulated car talks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct CarSessionConfig {
    /// Protocols the car offers, most preferred first: `din`, `iso2`, `iso20`.
    pub(crate) protocols: Vec<String>,
    /// The car offers bidirectional power (ISO 15118-20 DC_BPT) and lets the charger decide the
    /// power (dynamic mode): V2H the standard way.
    pub(crate) bidirectional: bool,
    /// The charge loop period (real cars: 90–250 ms; longer keeps a simulated year fast, and
    /// below the charger's 1 s power watchdog).
    #[serde(with = "duration_str")]
    pub(crate) period: Duration,
}

impl Default for CarSessionConfig {
    fn default() -> Self {
        Self {
            protocols: vec!["iso20".into(), "din".into()],
            bidirectional: true,
            period: Duration::from_millis(500),
        }
    }
}

fn default_iface() -> String {
    "eth1".into()
}
fn yes() -> bool {
    true
}
fn default_protocols() -> Vec<String> {
    vec!["iso20".into(), "iso2".into(), "din".into()]
}
fn default_control_modes() -> Vec<String> {
    vec!["scheduled".into(), "dynamic".into()]
}
fn default_max_voltage() -> Volts {
    Volts(500.0)
}
fn default_min_voltage() -> Volts {
    Volts(150.0)
}
fn default_max_current() -> Amps {
    Amps(25.0)
}
fn default_max_power() -> Watts {
    Watts(11_000.0)
}

/// The control pilot.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", rename_all = "kebab-case")]
pub(crate) enum PilotDevice {
    /// The simulated inlet's pilot. Its car is the one on the powerline: it is taken as plugged
    /// in while it talks (SLAC, SDP) and ready for energy from CableCheck on, as Josev's EV
    /// does without a pilot.
    Sim,
    /// sysfs PWM out and an IIO ADC channel in (the FoccciCape: P9_42).
    Sysfs(Box<devices_linux::SysfsControlPilotParams>),
}

/// The isolation monitor.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", rename_all = "kebab-case")]
pub(crate) enum ImdDevice {
    /// None is fitted.
    None,
    /// A simulated one: every test takes 1.5 s and finds the isolation valid.
    Sim,
}

/// The inlet's voltage measurement.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(remote = "Self", rename_all = "kebab-case")]
pub(crate) enum InletDevice {
    /// None: the converter's DC voltage counts.
    #[default]
    None,
    /// The simulated inlet (the FoccciCape's precharge supply: 10 µF behind 1 MΩ).
    Sim(sim::InletParams),
}

/// `[charge_point.legacy_v2h]`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LegacyV2hConfig {
    /// The most power drawn from the car.
    pub(crate) max_discharge_w: Watts,
    /// Never below this state of charge (a car that reports none is never discharged).
    pub(crate) min_soc_pct: Percent,
    /// Never below this inlet voltage.
    pub(crate) min_voltage_v: Volts,
}

/// A switched output.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", rename_all = "kebab-case")]
pub(crate) enum RelayDevice {
    /// A simulated relay, switching a simulated load.
    Sim(sim::LoadParams),
    /// A relay driver on a GPIO line (`pin = "P9_14"`, or `chip` and `line`).
    Gpio(devices_linux::GpioRelayParams),
}

/// `[relay.NAME]`: a relay with its rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RelayConfig {
    pub(crate) device: RelayDevice,
    pub(crate) when: Vec<Condition>,
    /// What the load draws; counts as surplus while the relay is on.
    #[serde(default)]
    pub(crate) load_w: Watts,
    #[serde(default, with = "duration_str")]
    pub(crate) min_on: Duration,
    #[serde(default, with = "duration_str")]
    pub(crate) min_off: Duration,
}

/// `[button]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", rename_all = "kebab-case")]
pub(crate) enum ButtonConfig {
    /// The simulated button (pressed through the web UI).
    Sim,
    /// A button and LED on GPIO lines; the defaults are the FoccciCape's (LED P9_28, button
    /// P9_30, one wire).
    Gpio(devices_linux::GpioButtonParams),
}

// Device tables keep the positions of their values (see `devices::config`).
devices::tagged_enum!(
    GridMeterConfig,
    MeterEmulationConfig,
    PvConfig,
    BatteryConfig,
    ConverterConfig,
    ChargePointConfig,
    PilotDevice,
    ImdDevice,
    InletDevice,
    RelayDevice,
    ButtonConfig,
);

/// Every device role's table and the `type` names it takes (the example documents each).
pub fn device_types() -> Vec<(&'static str, &'static [&'static str])> {
    use devices::config::Tagged;
    vec![
        ("grid_meter", GridMeterConfig::type_names()),
        ("meter_emulation.NAME", MeterEmulationConfig::type_names()),
        ("pv.NAME", PvConfig::type_names()),
        ("battery", BatteryConfig::type_names()),
        (
            "battery_emulation.NAME",
            devices_can::config::EmulationParams::type_names(),
        ),
        ("converter", ConverterConfig::type_names()),
        ("charge_point", ChargePointConfig::type_names()),
        ("charge_point.pilot", PilotDevice::type_names()),
        ("charge_point.isolation_monitor", ImdDevice::type_names()),
        ("charge_point.inlet", InletDevice::type_names()),
        ("relay.NAME.device", RelayDevice::type_names()),
        ("button", ButtonConfig::type_names()),
    ]
}

impl GridMeterConfig {
    /// The backend's settings, checked by its crate; the key is relative to `[grid_meter]`.
    fn validate(&self) -> Result<(), FieldError> {
        match self {
            Self::Sim => Ok(()),
            Self::Sdm630(p) | Self::Sdm72(p) | Self::Dtsu666(p) => p.validate(),
            Self::Sunspec(_) | Self::HuaweiSun2000(_) => check_inverter(self.inverter()),
            Self::SmaEm(p) => p.validate(),
            Self::Sml(p) => p.validate(),
            Self::Mqtt(p) => p.validate(),
        }
    }

    /// Opens the meter; it becomes the meter emulations' source.
    pub(crate) fn open(&self, cx: &mut OpenContext) -> anyhow::Result<Box<dyn devices::GridMeter>> {
        const NAME: &str = "grid_meter";
        let (clock, timeout) = (cx.clock.clone(), cx.timeout);
        Ok(match self {
            Self::Sim => {
                let source = devices_modbus::GridMeterSource(std::sync::Mutex::new(Box::new(
                    sim::SimGridMeter(cx.sim()),
                )));
                cx.grid_source = Some(Arc::new(source));
                let probe = sim::SimGridMeter(cx.sim());
                cx.sim_device(NAME, "sim-grid-meter", move || {
                    devices::GridMeter::reading(&probe).map(|r| r.at)
                });
                Box::new(sim::SimGridMeter(cx.sim()))
            }
            Self::Sdm630(p) | Self::Sdm72(p) | Self::Dtsu666(p) => {
                let (model, _) = self.modbus().context(NAME)?;
                let meter = devices_modbus::ModbusMeter::open(NAME, model, p, clock, timeout)?;
                cx.grid_source = Some(Arc::new(meter.handle()));
                cx.monitored.push(Box::new(meter.health()));
                Box::new(meter)
            }
            Self::Sunspec(p) | Self::HuaweiSun2000(p) => {
                let (kind, _) = self.inverter().context(NAME)?;
                let meter = p.open(NAME, kind, clock, timeout)?;
                cx.monitored.push(Box::new(meter.health()));
                cx.grid_source = Some(Arc::new(meter.share()));
                Box::new(meter)
            }
            Self::SmaEm(p) => {
                cx.net_meter(devices_meters::NetMeter::sma_em(NAME, p, clock, timeout)?)
            }
            Self::Sml(p) => cx.net_meter(devices_meters::NetMeter::sml(NAME, p, clock, timeout)?),
            Self::Mqtt(p) => cx.net_meter(devices_meters::NetMeter::mqtt(NAME, p, clock, timeout)?),
        })
    }
}

impl MeterEmulationConfig {
    /// The backend's settings, checked by its crate, and its source among the site's roles;
    /// the key is relative to `[meter_emulation.NAME]`.
    fn validate(&self, site: &Config) -> Result<(), FieldError> {
        match self {
            Self::Dtsu666H(p) => {
                p.validate()?;
                if site.grid_meter.is_none() {
                    return Err(FieldError::new("source", "there is no [grid_meter]"));
                }
                if p.subtract.is_some() {
                    // The emulation reads the converter beside its commander: the simulated
                    // one, or a converter on Modbus through the CCS port that shares it.
                    match (&site.converter, &site.charge_point) {
                        (None, _) => {
                            return Err(FieldError::new("subtract", "there is no [converter]"));
                        }
                        (Some(ConverterConfig::Sim(_)), _)
                        | (Some(_), Some(ChargePointConfig::Ccs(_))) => {}
                        (Some(_), _) => {
                            return Err(FieldError::new(
                                "subtract",
                                "a [converter] on Modbus is read beside its commander only \
                                 through [charge_point] type = \"ccs\"",
                            ));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Opens the emulation of `[meter_emulation.NAME]`, fed from the grid meter opened before
    /// (minus the converter with `subtract`); it is listed in the status's `devices`.
    pub(crate) fn open(&self, name: &str, cx: &mut OpenContext) -> anyhow::Result<()> {
        let table = format!("meter_emulation.{name}");
        match self {
            Self::Dtsu666H(p) => {
                let meter = cx
                    .grid_source
                    .clone()
                    .with_context(|| format!("{table}: there is no [grid_meter]"))?;
                let source: Arc<dyn devices_modbus::MeterSource> = match p.subtract {
                    None => meter,
                    Some(devices_modbus::Subtract::Converter) => {
                        let reader = cx.converter_reader.as_ref().with_context(|| {
                            // A converter on Modbus is shared through a CCS port only.
                            format!("{table}.subtract: there is no [converter]")
                        })?;
                        Arc::new(devices_modbus::WithoutConverter {
                            meter,
                            converter: std::sync::Mutex::new(reader()),
                            max_skew: p.source_timeout,
                        })
                    }
                };
                let emulation = devices_modbus::MeterEmulation::open(
                    &table,
                    "dtsu666-h",
                    p,
                    source,
                    cx.clock.clone(),
                )?;
                cx.monitored.push(Box::new(emulation));
            }
        }
        Ok(())
    }
}

impl PvConfig {
    fn validate(&self) -> Result<(), FieldError> {
        match self {
            Self::Sim(p) => p.validate(),
            Self::Sunspec(_) | Self::HuaweiSun2000(_) => check_inverter(self.inverter()),
        }
    }

    /// Opens the inverter of `[pv.NAME]`.
    pub(crate) fn open(
        &self,
        name: &str,
        cx: &mut OpenContext,
    ) -> anyhow::Result<Box<dyn devices::PvInverter>> {
        Ok(match self {
            Self::Sim(p) => {
                let world = cx.sim();
                let index = sim::lock(&world).add_pv(*p);
                let probe = sim::SimPvInverter {
                    world: world.clone(),
                    index,
                };
                cx.sim_device(&format!("pv.{name}"), "sim-pv", move || {
                    devices::PvInverter::status(&probe).map(|r| r.at)
                });
                Box::new(sim::SimPvInverter { world, index })
            }
            Self::Sunspec(p) | Self::HuaweiSun2000(p) => {
                let (kind, _) = self.inverter().context("pv")?;
                let dev = p.open(&format!("pv.{name}"), kind, cx.clock.clone(), cx.timeout)?;
                cx.monitored.push(Box::new(dev.health()));
                Box::new(dev)
            }
        })
    }
}

impl BatteryConfig {
    fn validate(&self) -> Result<(), FieldError> {
        match self {
            Self::Sim(p) => p.validate(),
            Self::OpeninverterCan(p) => DeviceParams::validate(p),
            Self::PylontechCan(p) => DeviceParams::validate(p),
        }
    }

    /// Opens the BMS of `[battery]`; a CAN backend's I/O task joins `cx.can`.
    pub(crate) fn open(&self, cx: &mut OpenContext) -> Box<dyn devices::Bms> {
        match self {
            Self::Sim(p) => {
                let w = cx.sim();
                sim::lock(&w).set_battery(*p);
                let probe = sim::SimBms(w.clone());
                cx.sim_device("battery", "sim-bms", move || {
                    devices::Bms::state(&probe).map(|r| r.at)
                });
                Box::new(sim::SimBms(w))
            }
            Self::OpeninverterCan(p) => cx.can.bms(p.open("battery", cx.can.clock())),
            Self::PylontechCan(p) => cx.can.bms(p.open("battery", cx.can.clock())),
        }
    }
}

impl ConverterConfig {
    fn validate(&self) -> Result<(), FieldError> {
        match self {
            Self::Sim(p) => p.validate(),
            Self::SunspecStorage(_) | Self::HuaweiLuna(_) | Self::SungrowSh(_) => {
                check_inverter(self.inverter())
            }
        }
    }

    /// Opens the converter of `[converter]`.
    pub(crate) fn open(&self, cx: &mut OpenContext) -> anyhow::Result<Box<dyn devices::Converter>> {
        Ok(match self {
            Self::Sim(p) => {
                let w = cx.sim();
                sim::lock(&w).set_converter(*p);
                let reader = w.clone();
                cx.converter_reader = Some(Arc::new(move || {
                    Box::new(sim::SimConverter(reader.clone())) as Box<dyn devices::Converter>
                }));
                let probe = sim::SimConverter(w.clone());
                cx.sim_device("converter", "sim-converter", move || {
                    devices::Converter::status(&probe).map(|r| r.at)
                });
                Box::new(sim::SimConverter(w))
            }
            Self::SunspecStorage(p) | Self::HuaweiLuna(p) | Self::SungrowSh(p) => {
                let (kind, _) = self.inverter().context("converter")?;
                let dev = p.open("converter", kind, cx.clock.clone(), cx.timeout)?;
                cx.monitored.push(Box::new(dev.health()));
                Box::new(dev)
            }
        })
    }
}

impl RelayDevice {
    /// Opens the relay `name`; a simulated one is wired into the world by `place` (which
    /// relay of the world it is).
    pub(crate) fn open(
        &self,
        name: &str,
        cx: &mut OpenContext,
        place: impl FnOnce(&mut sim::World, &sim::LoadParams) -> sim::RelayRef,
    ) -> anyhow::Result<Box<dyn devices::Relay>> {
        Ok(match self {
            Self::Sim(load) => {
                let world = cx.sim();
                let which = place(&mut sim::lock(&world), load);
                let probe = sim::SimRelay {
                    world: world.clone(),
                    which,
                };
                cx.sim_device(name, "sim-relay", move || {
                    devices::Relay::feedback(&probe).map(|r| r.at)
                });
                Box::new(sim::SimRelay { world, which })
            }
            Self::Gpio(p) => {
                let relay = devices_linux::GpioRelay::open(name, p)
                    .with_context(|| format!("{name} relay"))?;
                Box::new(cx.actuator(name, "gpio", relay))
            }
        })
    }
}

impl ButtonConfig {
    /// Opens the button and LED of `[button]`.
    pub(crate) fn open(&self, cx: &mut OpenContext) -> anyhow::Result<Box<dyn devices::ButtonLed>> {
        Ok(match self {
            Self::Sim => {
                // The simulated button has no reading of its own: it is as fresh as its world.
                let world = cx.sim();
                let probe = world.clone();
                cx.sim_device("button", "sim-button", move || {
                    Some(sim::lock(&probe).now())
                });
                Box::new(sim::SimButtonLed(world))
            }
            Self::Gpio(p) => {
                let button = devices_linux::GpioButtonLed::open("button", p).context("button")?;
                Box::new(cx.actuator("button", "gpio", button))
            }
        })
    }
}

/// A commanded Modbus device's settings, checked for its kind.
fn check_inverter(
    device: Option<(
        devices_modbus::InverterKind,
        &devices_modbus::InverterParams,
    )>,
) -> Result<(), FieldError> {
    match device {
        Some((kind, p)) => p.check(kind).map(drop).map_err(Into::into),
        None => Ok(()),
    }
}

/// A device table's check as `(dotted path of the key, problem)`.
fn at(table: &str) -> impl Fn(FieldError) -> (String, String) + '_ {
    move |e| (format!("{table}.{}", e.key), e.message)
}

/// A configuration file that cannot be used. Displays as `FILE:LINE:COLUMN: message`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigFileError> {
    let label = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
        path: label.clone(),
        source,
    })?;
    parse(&label, &src)
}

/// Parses and checks configuration text; `label` names it in errors.
pub fn parse(label: &str, src: &str) -> Result<Config, ConfigFileError> {
    let invalid = |span: Option<Range<usize>>, message: String| {
        let (line, column) = line_column(src, span.map_or(0, |s| s.start));
        ConfigFileError::Invalid {
            path: label.to_owned(),
            line,
            column,
            message,
        }
    };
    let mut doc = toml::de::DeTable::parse(src)
        .map_err(|e| invalid(e.span(), e.message().trim().to_owned()))?;
    // The device tables read `type` first (`devices::config::deserialize_tagged`).
    type_first(doc.get_mut());
    let config = Config::deserialize(doc.into_deserializer()).map_err(|e| {
        let message = e.message().trim();
        let mut span = e.span();
        let mut key = span.as_ref().and_then(|s| key_at(src, s.start));
        // Tables that serde buffers (internally tagged ones outside the devices: prices,
        // forecasts) lose their values' positions: guess from the message.
        if !key.as_ref().is_some_and(|(_, leaf)| *leaf) {
            span = value_span(src, message).or_else(|| refine_span(src, span, message));
            key = span.as_ref().and_then(|s| key_at(src, s.start)).or(key);
        }
        match key {
            Some((key, _)) => invalid(span, format!("{key}: {message}")),
            None => invalid(span, message.to_owned()),
        }
    })?;
    if let Err((path, message)) = config.check() {
        let keys: Vec<&str> = path.split('.').collect();
        return Err(invalid(locate(src, &keys), format!("{path}: {message}")));
    }
    Ok(config)
}

impl Config {
    /// The time zone, resolved.
    pub(crate) fn timezone(&self) -> Result<jiff::tz::TimeZone, String> {
        match &self.site.timezone {
            Some(name) => jiff::tz::TimeZone::get(name)
                .map_err(|e| format!("unknown time zone {name:?}: {e}")),
            None => Ok(jiff::tz::TimeZone::system()),
        }
    }

    /// The controller's configuration.
    pub(crate) fn controller(&self) -> Result<ControllerConfig, String> {
        Ok(ControllerConfig {
            control: self.control.clone(),
            converter: self.converter.as_ref().map(ConverterConfig::rating),
            battery: self.battery.is_some(),
            pv_rated: self.pv.values().map(PvConfig::rated).collect(),
            // A CCS charge point sequences its own changeover relay.
            changeover: self.changeover.is_some()
                && matches!(self.charge_point, Some(ChargePointConfig::Sim(_))),
            relays: self
                .relay
                .iter()
                .map(|(name, r)| RelayRule {
                    name: name.clone(),
                    when: r.when.clone(),
                    load_w: r.load_w,
                    min_on: r.min_on,
                    min_off: r.min_off,
                })
                .collect(),
            timezone: self.timezone()?,
        })
    }

    /// Semantic checks beyond the syntax. The error names the dotted path of the offending key.
    fn check(&self) -> Result<(), (String, String)> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if self.timezone().is_err() {
            return Err((
                "site.timezone".into(),
                self.timezone().err().unwrap_or_default(),
            ));
        }
        if let Some(p) = &self.prices {
            if self.price != PriceModel::None {
                return Err((
                    "prices".into(),
                    "[price] (the simulation's market) and [prices] are both set: keep one".into(),
                ));
            }
            p.validate()?;
        }
        if self.http.token.is_some() && self.http.token_file.is_some() {
            return Err((
                "http.token_file".into(),
                "give `token` or `token_file`, not both".into(),
            ));
        }
        if let Some(t) = &self.http.token
            && (t.len() < MIN_TOKEN_LEN || t.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err((
                "http.token".into(),
                format!("at least {MIN_TOKEN_LEN} characters, no spaces"),
            ));
        }
        if let Some(m) = &self.mqtt {
            m.validate()
                .map_err(|e| (format!("mqtt.{}", e.key), e.reason))?;
        }
        if let Some(f) = &self.forecast {
            f.validate()?;
            if !matches!(f.pv, forecast::PvConfig::Constant { .. }) {
                return Err((
                    "forecast.pv".into(),
                    "only `constant` is wired into the daemon yet (open-meteo and \
                     forecast.solar fetching is not)"
                        .into(),
                ));
            }
        }
        let pl = &self.planner;
        if pl.every.is_zero() || pl.step.is_zero() || pl.horizon < pl.step {
            return Err((
                "planner".into(),
                "every and step must be positive, horizon at least one step".into(),
            ));
        }
        if self.site.tick.is_zero() || self.site.tick > Duration::from_secs(10) {
            return Err(("site.tick".into(), "must be between 1ms and 10s".into()));
        }
        if self.changeover.is_some() && self.charge_point.is_none() {
            return Err((
                "changeover".into(),
                "a changeover relay needs a [charge_point]".into(),
            ));
        }
        if let Some(ChargePointConfig::Ccs(c)) = &self.charge_point {
            if self.changeover.is_some() {
                return Err((
                    "changeover".into(),
                    "the CCS charge point has its own: [charge_point] changeover".into(),
                ));
            }
            if self.converter.is_none() {
                return Err((
                    "charge_point".into(),
                    "a CCS charge point needs the [converter] whose port it switches to the car"
                        .into(),
                ));
            }
            for p in &c.protocols {
                p.parse::<v2g::Protocol>()
                    .map_err(|e| ("charge_point.protocols".to_owned(), e.to_string()))?;
            }
            if c.protocols.is_empty() {
                return Err(("charge_point.protocols".into(), "offer at least one".into()));
            }
            for m in &c.control_modes {
                if m != "scheduled" && m != "dynamic" {
                    return Err((
                        "charge_point.control_modes".into(),
                        format!("{m:?} is not scheduled or dynamic"),
                    ));
                }
            }
            let rating = [
                ("max_voltage_v", c.max_voltage_v.0),
                ("max_current_a", c.max_current_a.0),
                ("max_power_w", c.max_power_w.0),
            ];
            for (key, v) in rating {
                if !positive(v) {
                    return Err((format!("charge_point.{key}"), "must be > 0".into()));
                }
            }
            if !(c.min_voltage_v.0 >= 0.0 && c.min_voltage_v < c.max_voltage_v) {
                return Err((
                    "charge_point.min_voltage_v".into(),
                    "must be ≥ 0 and below max_voltage_v".into(),
                ));
            }
            if !(c.max_discharge_power_w.0.is_finite() && c.max_discharge_power_w.0 >= 0.0) {
                return Err((
                    "charge_point.max_discharge_power_w".into(),
                    "must be ≥ 0".into(),
                ));
            }
            for p in &c.car_session.protocols {
                p.parse::<v2g::Protocol>().map_err(|e| {
                    (
                        "charge_point.car_session.protocols".to_owned(),
                        e.to_string(),
                    )
                })?;
            }
            if c.car_session.period.is_zero() || c.car_session.period >= Duration::from_secs(1) {
                return Err((
                    "charge_point.car_session.period".into(),
                    "must be between 1ms and 1s (the charger's power watchdog)".into(),
                ));
            }
            if let Some(car) = &c.car {
                car.validate().map_err(at("charge_point.car"))?;
            }
            if let InletDevice::Sim(p) = &c.inlet {
                p.validate().map_err(at("charge_point.inlet"))?;
            }
            if let PilotDevice::Sysfs(p) = &c.pilot {
                DeviceParams::validate(p).map_err(at("charge_point.pilot"))?;
            }
            if let Some(v) = &c.legacy_v2h
                && !(v.max_discharge_w.0.is_finite()
                    && v.max_discharge_w.0 >= 0.0
                    && (0.0..=100.0).contains(&v.min_soc_pct.0))
            {
                return Err((
                    "charge_point.legacy_v2h".into(),
                    "max_discharge_w must be ≥ 0 and min_soc_pct within 0–100".into(),
                ));
            }
        }
        if self.battery.is_some() && self.converter.is_none() {
            return Err((
                "battery".into(),
                "a battery needs a [converter] to be charged and discharged".into(),
            ));
        }
        if let Some(m) = &self.grid_meter {
            m.validate().map_err(at("grid_meter"))?;
        }
        for (name, pv) in &self.pv {
            pv.validate().map_err(at(&format!("pv.{name}")))?;
        }
        if let Some(b) = &self.battery {
            b.validate().map_err(at("battery"))?;
        }
        if let Some(c) = &self.converter {
            c.validate().map_err(at("converter"))?;
        }
        if let Some(ChargePointConfig::Sim(c)) = &self.charge_point {
            c.validate().map_err(at("charge_point"))?;
        }
        for (name, r) in &self.relay {
            if let RelayDevice::Sim(load) = &r.device {
                load.validate()
                    .map_err(at(&format!("relay.{name}.device")))?;
            }
        }
        self.check_can()?;
        if let Some(h) = &self.history {
            h.check()?;
        }
        let ccs_relays: Vec<(String, &RelayDevice)> = match &self.charge_point {
            Some(ChargePointConfig::Ccs(c)) => vec![
                ("charge_point.changeover".to_owned(), &c.changeover),
                ("charge_point.precharge".to_owned(), &c.precharge),
            ],
            _ => vec![],
        };
        let gpio_lines = self
            .changeover
            .iter()
            .map(|r| ("changeover".to_owned(), r))
            .chain(ccs_relays)
            .chain(
                self.relay
                    .iter()
                    .map(|(name, r)| (format!("relay.{name}.device"), &r.device)),
            )
            .filter_map(|(path, r)| match r {
                RelayDevice::Gpio(p) => Some((path, p.gpio_line())),
                RelayDevice::Sim(_) => None,
            })
            .chain(self.button.iter().flat_map(|b| match b {
                ButtonConfig::Gpio(p) => vec![
                    ("button.led".to_owned(), p.led.clone()),
                    ("button.button".to_owned(), p.button.clone()),
                ],
                ButtonConfig::Sim => vec![],
            }));
        for (path, line) in gpio_lines {
            line.resolve().map_err(|e| (path, e))?;
        }
        for (name, e) in &self.meter_emulation {
            e.validate(self)
                .map_err(at(&format!("meter_emulation.{name}")))?;
        }
        let cfg = self.controller().map_err(|e| ("site".to_owned(), e))?;
        cfg.validate().map_err(|e| match e {
            controller::ConfigError::Invalid { field, problem } => (field, problem),
        })
    }
}

impl Config {
    /// The CAN devices' settings, checked by their crate; the error names the key.
    fn check_can(&self) -> Result<(), (String, String)> {
        for (name, e) in &self.battery_emulation {
            let table = format!("battery_emulation.{name}");
            DeviceParams::validate(e).map_err(at(&table))?;
            let source = e.settings().source;
            use devices_can::Source;
            if matches!(source, Source::Bms | Source::Auto) && self.battery.is_none() {
                return Err((
                    format!("{table}.source"),
                    "reports the home BMS, but there is no [battery]".into(),
                ));
            }
            if matches!(source, Source::ChargePoint) && self.charge_point.is_none() {
                return Err((
                    format!("{table}.source"),
                    "reports the car, but there is no [charge_point]".into(),
                ));
            }
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// Moves every table's `type` key to its front, at any depth.
fn type_first(table: &mut toml::de::DeTable<'_>) {
    if let Some((tag, value)) = table.remove_entry(devices::config::TAG) {
        let rest: Vec<_> = table.keys().cloned().collect();
        table.insert(tag, value);
        for key in rest {
            if let Some((k, v)) = table.remove_entry(key.get_ref().as_ref()) {
                table.insert(k, v);
            }
        }
    }
    for (_, v) in table.iter_mut() {
        type_first_in(v.get_mut());
    }
}

fn type_first_in(value: &mut toml::de::DeValue<'_>) {
    match value {
        toml::de::DeValue::Table(t) => type_first(t),
        toml::de::DeValue::Array(a) => a.iter_mut().for_each(|v| type_first_in(v.get_mut())),
        _ => {}
    }
}

/// The dotted path of the most specific key whose key or value holds the byte `offset`, and
/// whether that value is a leaf (not a table, whose span is only its header).
fn key_at(src: &str, offset: usize) -> Option<(String, bool)> {
    fn walk(
        value: &toml::de::DeValue<'_>,
        path: &mut Vec<String>,
        offset: usize,
        best: &mut Option<(usize, String, bool)>,
    ) {
        let mut visit = |path: &mut Vec<String>,
                         key: Option<Range<usize>>,
                         v: &toml::Spanned<toml::de::DeValue<'_>>| {
            let vs = v.span();
            let hit = vs.contains(&offset) || vs.start == offset;
            if hit || key.is_some_and(|k| k.contains(&offset)) {
                // A key is more specific than any value holding it (an inline table).
                let len = if hit { vs.len() } else { 0 };
                if best.as_ref().is_none_or(|b| len <= b.0) {
                    let leaf = !matches!(v.get_ref(), toml::de::DeValue::Table(_));
                    *best = Some((len, path.join("."), leaf));
                }
            }
            walk(v.get_ref(), path, offset, best);
        };
        match value {
            toml::de::DeValue::Table(t) => {
                for (k, v) in t.iter() {
                    path.push(k.get_ref().to_string());
                    visit(path, Some(k.span()), v);
                    path.pop();
                }
            }
            toml::de::DeValue::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(i.to_string());
                    visit(path, None, v);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let root = toml::de::DeTable::parse(src).ok()?;
    let mut best = None;
    walk(
        &toml::de::DeValue::Table(root.into_inner()),
        &mut Vec::new(),
        offset,
        &mut best,
    );
    best.map(|(_, path, leaf)| (path, leaf))
}

/// Serde reports errors inside tagged tables at the table's header. When the message names a
/// key (``unknown field `foo` ``), point at that key instead.
fn refine_span(src: &str, span: Option<Range<usize>>, message: &str) -> Option<Range<usize>> {
    let span = span?;
    let key = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    let Some(key) = key else { return Some(span) };
    // The table's body runs from the header to the next header.
    let body_start = span.end.min(src.len());
    let body = src.get(body_start..)?;
    let body_end = body
        .match_indices("\n[")
        .next()
        .map_or(body.len(), |(i, _)| i);
    let mut offset = body_start;
    for line in body.get(..body_end)?.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            let start = offset + (line.len() - trimmed.len());
            return Some(start..start + key.len());
        }
        offset += line.len();
    }
    Some(span)
}

/// Serde loses the span of a value inside a tagged table (a device's settings). When the message
/// quotes the value (`unknown variant `up``, `invalid type: string "x"`) and it occurs once in
/// the file, point at it.
fn value_span(src: &str, message: &str) -> Option<Range<usize>> {
    let value = message
        .strip_prefix("unknown variant `")
        .and_then(|r| r.split('`').next())
        .or_else(|| {
            message
                .strip_prefix("invalid type: string \"")
                .and_then(|r| r.split('"').next())
        })?;
    let quoted = format!("\"{value}\"");
    let mut found = src.match_indices(&quoted);
    let (start, _) = found.next()?;
    found
        .next()
        .is_none()
        .then_some(start..start + quoted.len())
}

/// The span of the key at a dotted path, or of the deepest table on it that exists.
fn locate(src: &str, path: &[&str]) -> Option<Range<usize>> {
    let root = toml::de::DeTable::parse(src).ok()?;
    let mut table = root.get_ref();
    let mut found = None;
    for key in path {
        let (k, v) = table.get_key_value(*key)?;
        found = Some(k.span());
        match v.get_ref() {
            toml::de::DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        parse("f.toml", src).unwrap_err().to_string()
    }

    #[test]
    fn the_examples_are_valid() {
        parse("sim.toml", EXAMPLE_SIM).unwrap();
        parse("foccci-cape.toml", EXAMPLE_FOCCCI_CAPE).unwrap();
        parse("ccs-sim.toml", EXAMPLE_CCS_SIM).unwrap();
    }

    #[test]
    fn an_empty_file_is_valid() {
        let c = parse("empty.toml", "").unwrap();
        assert!(c.pv.is_empty() && c.converter.is_none());
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        assert_eq!(
            err("[control]\nmode = \"self-consumption\"\ngrid_target_w = \n"),
            "f.toml:3:17: string values must be quoted, expected literal string"
        );
    }

    #[test]
    fn unknown_keys_are_errors_at_the_key() {
        let e = err("[control]\nkp = 0.3\nkq = 1\n");
        assert!(
            e.starts_with("f.toml:3:1: control.kq: unknown field `kq`"),
            "{e}"
        );
        let e = err(
            "[battery]\ntype = \"sim\"\ncapacity_wh = 5000\ncolour = \"red\"\n\n[converter]\ntype = \"sim\"\n",
        );
        assert!(
            e.starts_with("f.toml:4:1: battery.colour: unknown field `colour`"),
            "{e}"
        );
        let e = err("wat = 1\n");
        assert!(e.starts_with("f.toml:1:1: wat: unknown field `wat`"), "{e}");
    }

    #[test]
    fn unknown_device_types_are_errors() {
        let e = err("[grid_meter]\ntype = \"smart\"\n");
        assert!(
            e.starts_with("f.toml:2:8: grid_meter.type: unknown variant `smart`"),
            "{e}"
        );
    }

    #[test]
    fn semantic_errors_point_at_the_key() {
        let e = err("[control.battery]\nmin_soc_pct = 90\nmax_soc_pct = 80\n");
        assert!(
            e.starts_with("f.toml:2:1: control.battery.min_soc_pct:"),
            "{e}"
        );
        let e = err("[site]\ntimezone = \"Mars/Olympus\"\n");
        assert!(e.starts_with("f.toml:2:1: site.timezone:"), "{e}");
        let e = err(
            "[relay.boiler]\ndevice = { type = \"sim\" }\nwhen = [{ surplus_w = { on_above = 100, off_below = 500 } }]\n",
        );
        assert!(e.starts_with("f.toml:3:1: relay.boiler.when:"), "{e}");
        let e = err("[button]\ntype = \"gpio\"\nled = { pin = \"P9_99\" }\n");
        assert!(e.starts_with("f.toml:3:1: button.led:"), "{e}");
    }

    #[test]
    fn modbus_devices_are_checked_at_their_key() {
        let meter =
            "[grid_meter]\ntype = \"sdm630\"\nmodbus = { tcp = \"127.0.0.1:5020\", unit = 1 }\n";
        let emulation = "[meter_emulation.huawei]\ntype = \"dtsu666-h\"\nsource = \"grid_meter\"\nmodbus = { tcp_listen = \"127.0.0.1:5021\", unit = 11 }\n";
        let c = parse("f.toml", &format!("{meter}\n{emulation}")).unwrap();
        assert!(matches!(c.grid_meter, Some(GridMeterConfig::Sdm630(_))));
        assert_eq!(c.meter_emulation.len(), 1);
        let e = err("[grid_meter]\ntype = \"sdm630\"\nmodbus = { tcp = \"meter\", unit = 1 }\n");
        assert!(
            e.starts_with("f.toml:3:12: grid_meter.modbus.tcp: \"meter\" is not host:port"),
            "{e}"
        );
        let e =
            err("[grid_meter]\ntype = \"dtsu666\"\nmodbus = { rtu = \"/dev/ttyS1\", baud = 12 }\n");
        assert!(e.starts_with("f.toml:3:32: grid_meter.modbus.baud:"), "{e}");
        let e = err("[grid_meter]\ntype = \"sdm72\"\nmodbus = { tcp = \"a:1\", colour = 1 }\n");
        assert!(e.contains("unknown field `colour`"), "{e}");
        let e = err(emulation);
        assert!(
            e.starts_with("f.toml:3:1: meter_emulation.huawei.source:"),
            "{e}"
        );
        let e = err(&format!(
            "{meter}\n{}",
            emulation.replace("tcp_listen", "tcp")
        ));
        assert!(
            e.starts_with("f.toml:8:12: meter_emulation.huawei.modbus.tcp: this device is served"),
            "{e}"
        );
        // `subtract` reads the converter beside its commander.
        let subtract = format!("{meter}\n{emulation}subtract = \"converter\"\n");
        let e = err(&subtract);
        assert!(
            e.contains("meter_emulation.huawei.subtract: there is no [converter]"),
            "{e}"
        );
        let luna = "[converter]\ntype = \"huawei-luna\"\nmodbus = { tcp = \"10.0.0.3:502\" }\n\
                    max_charge_w = 5000\nmax_discharge_w = 5000\n";
        let e = err(&format!("{subtract}{luna}"));
        assert!(
            e.contains("meter_emulation.huawei.subtract: a [converter] on Modbus"),
            "{e}"
        );
        parse(
            "f.toml",
            &format!("{subtract}[converter]\ntype = \"sim\"\n"),
        )
        .unwrap();
    }

    #[test]
    fn inverters_are_checked_at_their_key() {
        let c = parse(
            "f.toml",
            "[grid_meter]\ntype = \"sunspec\"\nmodbus = { tcp = \"10.0.0.2:502\", unit = 200 }\n\
             [pv.roof]\ntype = \"sunspec\"\nmodbus = { tcp = \"10.0.0.2:502\" }\nrated_w = 8000\n\
             [pv.garage]\ntype = \"huawei-sun2000\"\nmodbus = { tcp = \"10.0.0.3:502\" }\nrated_w = 5000\nfeed_in_limit_w = 0\n\
             [converter]\ntype = \"sungrow-sh\"\nmodbus = { tcp = \"10.0.0.4:502\" }\nmax_charge_w = 5000\nmax_discharge_w = 4000\n",
        )
        .unwrap();
        assert!(matches!(c.grid_meter, Some(GridMeterConfig::Sunspec(_))));
        assert_eq!(
            c.pv.values().map(PvConfig::rated).collect::<Vec<_>>(),
            [Watts(8000.0), Watts(5000.0)]
        );
        let r = c.converter.as_ref().unwrap().rating();
        assert_eq!(
            (r.max_charge_w, r.max_discharge_w),
            (Watts(5000.0), Watts(4000.0))
        );
        let e = err("[pv.roof]\ntype = \"sunspec\"\nmodbus = { tcp = \"10.0.0.2:502\" }\n");
        assert!(
            e.starts_with("f.toml:1:1: pv.roof.rated_w: a PV inverter needs"),
            "{e}"
        );
        let e = err(
            "[pv.roof]\ntype = \"huawei-sun2000\"\nmodbus = { tcp = \"10.0.0.2:502\" }\nrated_w = 5000\nbase = 40000\n",
        );
        assert!(
            e.starts_with("f.toml:5:1: pv.roof.base: only for SunSpec"),
            "{e}"
        );
        let e = err(
            "[converter]\ntype = \"huawei-luna\"\nmodbus = { tcp = \"x:y\" }\nmax_charge_w = 1\nmax_discharge_w = 1\n",
        );
        assert!(e.starts_with("f.toml:3:12: converter.modbus.tcp:"), "{e}");
        let e = err(
            "[converter]\ntype = \"sunspec-storage\"\nmodbus = { tcp = \"a:1\" }\nmax_charge_w = 1\nmax_discharge_w = 1\nrevert_timeout = \"1s\"\n",
        );
        assert!(
            e.starts_with("f.toml:6:1: converter.revert_timeout:"),
            "{e}"
        );
        let e = err(
            "[grid_meter]\ntype = \"huawei-sun2000\"\nmodbus = { tcp = \"a:1\" }\nrated_w = 1\n",
        );
        assert!(
            e.starts_with("f.toml:4:1: grid_meter.rated_w: only for PV"),
            "{e}"
        );
    }

    #[test]
    fn the_examples_inverters_parse_with_their_defaults() {
        let pv = uncommented("# A real PV inverter on Modbus");
        let (sunspec, huawei) = pv.split_once("type = \"huawei-sun2000\"").unwrap();
        for table in [
            format!("[pv.roof]\n{sunspec}"),
            format!("[pv.roof]\ntype = \"huawei-sun2000\"{huawei}"),
            format!(
                "[converter]\n{}",
                uncommented("# A hybrid inverter's battery port on Modbus")
            ),
        ] {
            parse("f.toml", &table).unwrap_or_else(|e| panic!("{table}\n{e}"));
        }
    }

    #[test]
    fn values_have_units_and_durations_read() {
        let c = parse(
            "f.toml",
            "[control]\nmeter_timeout = \"10s\"\ngrid_export_limit_w = 4600\n",
        )
        .unwrap();
        assert_eq!(c.control.meter_timeout, Duration::from_secs(10));
        assert_eq!(c.control.grid_export_limit_w, Some(Watts(4600.0)));
        let e = err("[control]\nmeter_timeout = \"soon\"\n");
        assert!(
            e.starts_with("f.toml:2:17: control.meter_timeout: invalid duration"),
            "{e}"
        );
    }

    #[test]
    fn http_tokens_are_checked() {
        let e = err("[http]\ntoken = \"short\"\n");
        assert!(e.starts_with("f.toml:2:1: http.token: at least 16"), "{e}");
        let e = err("[http]\ntoken = \"0123456789abcdef\"\ntoken_file = \"/t\"\n");
        assert!(e.starts_with("f.toml:3:1: http.token_file:"), "{e}");
        let c = parse(
            "f.toml",
            "[http]\ntoken = \"0123456789abcdef\"\nopen_reads = false\n",
        )
        .unwrap();
        let a = c.http.access().unwrap();
        assert_eq!(a.token.as_deref(), Some("0123456789abcdef"));
        assert!(!a.open_reads);
        let c = parse("f.toml", "[http]\ntoken_file = \"/nonexistent/token\"\n").unwrap();
        let e = c.http.access().unwrap_err().to_string();
        assert!(e.contains("/nonexistent/token"), "{e}");
    }

    #[test]
    fn the_examples_mqtt_table_parses_and_errors_point_at_the_key() {
        let table: Vec<&str> = EXAMPLE_FOCCCI_CAPE
            .split_once("\n# [mqtt]\n")
            .unwrap()
            .1
            .lines()
            .map(|l| l.trim_start_matches("# "))
            // `ca_file` needs `tls = true`: shown beside it, not meant together with `false`.
            .filter(|l| !l.starts_with("ca_file"))
            .collect();
        let c = parse("f.toml", &format!("[mqtt]\n{}\n", table.join("\n"))).unwrap();
        let m = c.mqtt.unwrap();
        let mut want = mqtt::MqttSettings::new("192.168.1.10:1883".parse().unwrap());
        want.user = Some("gridlet".into());
        want.password_file = Some("/etc/gridlet/mqtt-password".into());
        assert_eq!(m, want, "the example shows the defaults");

        let e = err("[mqtt]\nbroker = \"nohost\"\n");
        assert!(e.starts_with("f.toml:2:10: "), "{e}");
        assert!(e.contains("HOST:PORT"), "{e}");
        let e = err("[mqtt]\nbroker = \"h:1883\"\nprefix = \"a/#\"\n");
        assert!(e.starts_with("f.toml:3:1: mqtt.prefix: "), "{e}");
        let e = err("[mqtt]\nbroker = \"h:1883\"\nqos = 2\n");
        assert!(e.starts_with("f.toml:3:1: "), "{e}");
    }

    /// The example's commented CAN settings, uncommented: the lines after `marker` up to the
    /// next blank line, without their `# ` and with `[`-less lines indented `#   ` kept.
    fn uncommented(marker: &str) -> String {
        EXAMPLE_FOCCCI_CAPE
            .split_once(marker)
            .map(|(_, rest)| rest)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with('#'))
            .filter(|l| !l.starts_with("#  ") || l.starts_with("#   "))
            .map(|l| l.trim_start_matches('#').trim_start())
            .filter(|l| !l.starts_with("or") && !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_examples_can_devices_parse_with_their_defaults() {
        let battery = uncommented("# interface's:");
        let (oi, pylon) = battery.split_once("type = \"pylontech-can\"").unwrap();
        let base = "[converter]\ntype = \"sim\"\n";
        let c = parse("f.toml", &format!("{base}[battery]\n{oi}\n")).unwrap();
        assert!(matches!(
            c.battery,
            Some(BatteryConfig::OpeninverterCan(p)) if p == Default::default()
        ));
        let c = parse(
            "f.toml",
            &format!("{base}[battery]\ntype = \"pylontech-can\"{pylon}\n"),
        )
        .unwrap();
        assert!(matches!(
            c.battery,
            Some(BatteryConfig::PylontechCan(p)) if p == Default::default()
        ));
        let emulation = uncommented("(defaults shown; the Pylontech defaults in brackets):");
        let c = parse("f.toml", &format!("{base}[battery]\n{oi}\n{emulation}\n")).unwrap();
        let e = &c.battery_emulation["inverter"];
        let byd = devices_can::config::EmulationParams::BydHvs(Default::default());
        assert_eq!(e.rating(), byd.rating());
        assert_eq!(e.settings().can, "can0");
    }

    #[test]
    fn the_examples_meters_parse_with_their_defaults() {
        let block = |from: &str, to: &str| -> String {
            let rest = EXAMPLE_FOCCCI_CAPE.split_once(from).unwrap().1;
            rest.split_once(to)
                .unwrap()
                .0
                .lines()
                .skip(1)
                .map(|l| l.trim_start_matches('#').trim())
                .filter(|l| !l.is_empty() && !l.contains("...") && !l.starts_with('('))
                .filter(|l| !l.starts_with("serial"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let meter = |b: String| parse("f.toml", &format!("[grid_meter]\n{b}\n")).unwrap();
        let c = meter(block("(Speedwire, UDP multicast)", "# An SML"));
        assert!(matches!(c.grid_meter, Some(GridMeterConfig::SmaEm(p)) if p == Default::default()));
        let c = meter(block(
            "on an optical read head, 9600 8N1",
            "# A meter whose",
        ));
        assert!(matches!(c.grid_meter, Some(GridMeterConfig::Sml(p)) if p == Default::default()));
        let c = meter(block("Defaults shown: the predecessor's", "# These meters"));
        assert!(matches!(c.grid_meter, Some(GridMeterConfig::Mqtt(p)) if p == Default::default()));
    }

    #[test]
    fn meter_settings_are_checked_at_their_key() {
        let e = err("[grid_meter]\ntype = \"sma-em\"\ngroup = \"10.0.0.1\"\n");
        assert!(e.starts_with("f.toml:3:1: grid_meter.group:"), "{e}");
        let e = err("[grid_meter]\ntype = \"sma-em\"\nserial = \"x\"\n");
        assert!(
            e.starts_with("f.toml:3:10: grid_meter.serial: invalid type"),
            "{e}"
        );
        let e = err("[grid_meter]\ntype = \"sma-em\"\nserial = 0\n");
        assert!(e.starts_with("f.toml:3:1: grid_meter.serial:"), "{e}");
        let e = err("[grid_meter]\ntype = \"sml\"\ndevice = \"/dev/ttyUSB1\"\nbaud = 9601\n");
        assert!(e.starts_with("f.toml:4:1: grid_meter.baud:"), "{e}");
        let e = err("[grid_meter]\ntype = \"mqtt\"\nbroker = \"mqtt.local\"\n");
        assert!(e.starts_with("f.toml:3:1: grid_meter.broker:"), "{e}");
        let e = err("[grid_meter]\ntype = \"mqtt\"\npower = \"a..b\"\n");
        assert!(e.starts_with("f.toml:3:1: grid_meter.power:"), "{e}");
        let e = err("[grid_meter]\ntype = \"mqtt\"\nsign = \"up\"\n");
        assert!(
            e.starts_with("f.toml:3:8: grid_meter.sign: unknown variant `up`"),
            "{e}"
        );
        let e = err("[grid_meter]\ntype = \"sml\"\nport = \"/dev/ttyS1\"\n");
        assert!(
            e.starts_with("f.toml:3:1: grid_meter.port: unknown field `port`"),
            "{e}"
        );
    }

    #[test]
    fn can_settings_are_checked_at_their_key() {
        let e = err(
            "[converter]\ntype = \"sim\"\n[battery]\ntype = \"openinverter-can\"\ncan = \"can0\"\npdo_base = 4000\n",
        );
        assert!(e.starts_with("f.toml:6:1: battery.pdo_base:"), "{e}");
        let e =
            err("[converter]\ntype = \"sim\"\n[battery]\ntype = \"pylontech-can\"\ncan = \"\"\n");
        assert!(e.starts_with("f.toml:5:1: battery.can:"), "{e}");
        let e = err("[battery_emulation.inv]\ntype = \"byd-hvs\"\nsource = \"bms\"\n");
        assert!(
            e.starts_with("f.toml:3:1: battery_emulation.inv.source:"),
            "{e}"
        );
        let e = err(
            "[battery_emulation.inv]\ntype = \"byd-hvs\"\nsource = \"charge-point\"\nmin_voltage_v = 500\n",
        );
        assert!(
            e.starts_with("f.toml:4:1: battery_emulation.inv.min_voltage_v:"),
            "{e}"
        );
        let e = err("[battery_emulation.inv]\ntype = \"byd\"\n");
        assert!(
            e.starts_with("f.toml:2:8: battery_emulation.inv.type: unknown variant `byd`"),
            "{e}"
        );
        let e = err("[battery_emulation.inv]\ntype = \"pylontech\"\nport = \"can1\"\n");
        assert!(
            e.starts_with("f.toml:3:1: battery_emulation.inv.port: unknown field `port`"),
            "{e}"
        );
    }

    #[test]
    fn prices_errors_point_at_the_key() {
        let e = err("[prices.provider]\ntype = \"entsoe\"\ntoken = \"t\"\nslot_minutes = 20\n");
        assert!(
            e.starts_with("f.toml:4:1: prices.provider.slot_minutes: must be 15, 30 or 60"),
            "{e}"
        );
        let e = err("[prices]\nformula = { vat = 19 }\n[prices.provider]\ntype = \"awattar\"\n");
        assert!(e.starts_with("f.toml:2:13: prices.formula.vat:"), "{e}");
        let e = err("[prices.provider]\ntype = \"awattar\"\ncolour = 1\n");
        assert!(
            e.starts_with("f.toml:3:1: prices.provider.colour: unknown field `colour`"),
            "{e}"
        );
        let e = err(
            "[price]\ntype = \"fixed\"\nprice = 0.3\n[prices.provider]\ntype = \"fixed\"\nprice = 0.3\n",
        );
        assert!(e.contains("prices: [price]"), "{e}");
        let c = parse(
            "f.toml",
            "[prices.provider]\ntype = \"awattar\"\ncountry = \"at\"\n",
        )
        .unwrap();
        assert!(c.prices.is_some());
    }

    #[test]
    fn line_columns_count_characters() {
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("äö\nx", 5), (2, 1));
        assert_eq!(line_column("", 10), (1, 1));
    }
}
