//! Builds the site from a configuration. Each role's enum in [`crate::config`] opens its own
//! backends (`open()`, beside `validate()`), so a new backend is a variant and its arms there;
//! this file wires the roles together.

use anyhow::Context;
use devices::{FixedTariff, PortConverter};
use sim::{
    PriceModel, RelayRef, SharedWorld, SimChargePoint, SimControlPilot, SimIsolationMonitor,
    SimTariff, World,
};
use site::{Devices, Named, Site};
use units::{Amps, Timestamp};
use v2g::charger::Limits;

use crate::config::{
    CcsConfig, ChargePointConfig, Config, ImdDevice, InletDevice, PilotDevice, RelayDevice,
};

/// A built site, with the simulated world if any device is simulated.
#[derive(Debug)]
pub struct Assembled {
    pub site: Site,
    pub world: Option<SharedWorld>,
    /// The CCS charge point's application, to run beside the site's loop.
    pub ccs: Option<CcsRun>,
    /// The `[prices]` provider's fetch task, to run beside the site's loop.
    pub prices: Option<tariffs::fetch::Fetcher>,
    /// The CAN devices' I/O tasks, to run beside the site's loop.
    pub can: Option<crate::can::CanDevices>,
    /// `[mqtt]`: the MQTT front end to run beside the site's loop.
    pub mqtt: Option<mqtt::MqttSettings>,
    /// `[http]`: who may read and write through the API.
    pub http: crate::http::Access,
    /// `[history]`, to record the published snapshots beside the site's loop.
    pub history: Option<crate::history_front::HistoryFront>,
    /// `[site] settings`: where the user's settings are kept across restarts.
    pub settings: Option<std::path::PathBuf>,
}

impl Assembled {
    /// The site's stepper from `start`. A CCS charge point whose car is simulated gets its
    /// in-process sessions in it; one on a real interface is returned, to be run beside.
    pub fn into_stepper(
        self,
        start: Timestamp,
    ) -> anyhow::Result<(runner::Stepper, Option<CcsRun>)> {
        let (car, ccs) = match self.ccs {
            Some(mut run) if run.sim_car.is_some() => {
                let car = runner::SimCar {
                    point: run.point.clone(),
                    secc: std::sync::Arc::clone(&run.options.serve.secc),
                    evcc: run.sim_car.take().unwrap_or_default(),
                };
                (Some(car), None)
            }
            other => (None, other),
        };
        let stepper = runner::Stepper::new(self.site, self.world, car, start)?;
        Ok((stepper, ccs))
    }
}

/// What it takes to run a CCS charge point: its application's options, how SLAC learns of
/// cars, the charge point shared with the site, and (simulated pilot) the pilot to move.
#[derive(Debug)]
pub struct CcsRun {
    pub options: ccs::evse::EvseOptions,
    pub driving: ccs::evse::SlacDriving,
    pub point: ccs::point::PointHandle,
    pub sim_pilot: Option<SimControlPilot>,
    /// A simulated car whose sessions run in-process (`gridlet sim`): its session's settings.
    pub sim_car: Option<v2g::evcc::EvccConfig>,
}

/// The session settings of the simulated car `params`.
fn sim_car_session(
    params: &sim::CarParams,
    c: &CcsConfig,
) -> anyhow::Result<v2g::evcc::EvccConfig> {
    use v2g::evcc::{BatteryConfig, EvccConfig};
    let protocols = c
        .car_session
        .protocols
        .iter()
        .map(|p| p.parse::<v2g::Protocol>())
        .collect::<Result<Vec<_>, _>>()
        .context("charge_point.car_session.protocols")?;
    let nominal = units::Volts(400.0);
    Ok(EvccConfig {
        protocols,
        battery: BatteryConfig {
            capacity: params.capacity_wh,
            soc: params.initial_soc_pct,
            // The world's car battery: 330 V empty to 420 V full.
            min_voltage: units::Volts(330.0),
            max_voltage: units::Volts(420.0),
            max_current: params.max_charge_w.at(nominal),
            max_power: params.max_charge_w,
            max_discharge_current: params.max_discharge_w.at(nominal),
            max_discharge_power: params.max_discharge_w,
            ..BatteryConfig::default()
        },
        // The car charges until full unless the site stops earlier ([control.ev]).
        target_soc: units::Percent(100.0),
        min_soc: params.min_soc_pct,
        bidirectional: c.car_session.bidirectional,
        control_mode: if c.car_session.bidirectional {
            v2g::ControlMode::Dynamic
        } else {
            v2g::ControlMode::Scheduled
        },
        period: c.car_session.period,
        ..EvccConfig::default()
    })
}

/// The simulated inlet's voltage, for the station.
struct SimInlet(SharedWorld);

impl ccs::point::InletSensor for SimInlet {
    fn voltage(&self) -> Option<devices::Stamped<units::Volts>> {
        sim::lock(&self.0).inlet_voltage()
    }
}

/// What a device's `open()` (beside its role's `validate()` in [`crate::config`]) needs from
/// the site being built, and what it leaves there.
pub(crate) struct OpenContext {
    world: SharedWorld,
    uses_world: bool,
    /// Stamps the readings of devices with their own I/O.
    pub(crate) clock: std::sync::Arc<dyn units::Clock>,
    /// A reading older than this is stale.
    pub(crate) timeout: std::time::Duration,
    /// The devices' entries in the status's `devices`, in the order opened.
    pub(crate) monitored: Vec<Box<dyn devices::Monitored>>,
    /// The grid meter's readings, as the meter emulations' source.
    pub(crate) grid_source: Option<std::sync::Arc<dyn devices_modbus::MeterSource>>,
    /// Makes a handle on the converter that is only read (the meter emulation's `subtract`):
    /// the simulated converter, or the CCS port's site side. `None`: no converter, or one that
    /// cannot be shared (a Modbus converter outside a CCS port).
    pub(crate) converter_reader: Option<ConverterReader>,
    /// The CAN devices' I/O tasks.
    pub(crate) can: crate::can::CanDevices,
}

/// See [`OpenContext::converter_reader`].
pub(crate) type ConverterReader =
    std::sync::Arc<dyn Fn() -> Box<dyn devices::Converter> + Send + Sync>;

impl OpenContext {
    /// The simulated world, for a simulated device (the site then runs it).
    pub(crate) fn sim(&mut self) -> SharedWorld {
        self.uses_world = true;
        self.world.clone()
    }

    /// Lists a simulated device in the status's `devices` as `kind` (`sim-…`): its health is
    /// its model's newest reading's age (`newest`, on the world's clock).
    pub(crate) fn sim_device(
        &mut self,
        name: &str,
        kind: &str,
        newest: impl Fn() -> Option<Timestamp> + Send + 'static,
    ) {
        self.monitored.push(Box::new(SimHealth {
            name: name.to_owned(),
            kind: kind.to_owned(),
            stale_after: self.timeout,
            newest: Box::new(newest),
        }));
    }

    /// A meter of `devices-meters` (SMA Speedwire, SML, MQTT): its health in the status, a
    /// second handle on its readings as the meter emulation's source.
    pub(crate) fn net_meter(
        &mut self,
        meter: devices_meters::NetMeter,
    ) -> Box<dyn devices::GridMeter> {
        self.grid_source = Some(std::sync::Arc::new(devices_modbus::GridMeterSource(
            std::sync::Mutex::new(Box::new(meter.handle())),
        )));
        self.monitored.push(Box::new(meter.health()));
        Box::new(meter)
    }
}

impl OpenContext {
    /// Lists an actuator with no reading of its own (a GPIO relay, button or pilot) in the
    /// status's `devices`: `ok` since it opened and after each write that succeeded, `error`
    /// with the reason after one that failed. Returns it wrapped to record its writes.
    pub(crate) fn actuator<D>(&mut self, name: &str, kind: &str, device: D) -> Recorded<D> {
        // A held output does not go stale: only its writes say how it is.
        let cell = devices::HealthCell::new(name, kind, std::time::Duration::MAX);
        cell.ok(self.clock.now());
        self.monitored.push(Box::new(cell.clone()));
        Recorded {
            inner: device,
            cell,
        }
    }
}

/// An actuator whose writes are recorded in its health (see [`OpenContext::actuator`]).
pub(crate) struct Recorded<D> {
    inner: D,
    cell: devices::HealthCell,
}

impl<D> Recorded<D> {
    fn record(
        &self,
        now: Timestamp,
        r: Result<(), devices::DeviceError>,
    ) -> Result<(), devices::DeviceError> {
        match &r {
            Ok(()) => self.cell.ok(now),
            Err(e) => self.cell.error(now, e.to_string()),
        }
        r
    }
}

impl<D: devices::Relay> devices::Relay for Recorded<D> {
    fn set(&mut self, now: Timestamp, on: bool) -> Result<(), devices::DeviceError> {
        let r = self.inner.set(now, on);
        self.record(now, r)
    }
    fn feedback(&self) -> Option<devices::Stamped<bool>> {
        self.inner.feedback()
    }
    fn is_on(&self) -> Option<bool> {
        self.inner.is_on()
    }
    fn safe_state(&mut self, now: Timestamp) -> Result<(), devices::DeviceError> {
        let r = self.inner.safe_state(now);
        self.record(now, r)
    }
}

impl<D: devices::ButtonLed> devices::ButtonLed for Recorded<D> {
    fn presses(&self) -> u64 {
        self.inner.presses()
    }
    fn set_led(
        &mut self,
        now: Timestamp,
        mode: devices::LedMode,
    ) -> Result<(), devices::DeviceError> {
        let r = self.inner.set_led(now, mode);
        self.record(now, r)
    }
    fn safe_state(&mut self, now: Timestamp) -> Result<(), devices::DeviceError> {
        let r = self.inner.safe_state(now);
        self.record(now, r)
    }
}

impl<D: devices::ControlPilot> devices::ControlPilot for Recorded<D> {
    fn set_signal(
        &mut self,
        now: Timestamp,
        signal: devices::PilotSignal,
    ) -> Result<(), devices::DeviceError> {
        let r = self.inner.set_signal(now, signal);
        self.record(now, r)
    }
    fn reading(&self) -> Option<devices::Stamped<devices::PilotReading>> {
        self.inner.reading()
    }
    fn safe_state(&mut self, now: Timestamp) -> Result<(), devices::DeviceError> {
        let r = self.inner.safe_state(now);
        self.record(now, r)
    }
}

/// A simulated device's entry in the status: ok while its model has a fresh reading.
struct SimHealth {
    name: String,
    kind: String,
    stale_after: std::time::Duration,
    newest: Box<dyn Fn() -> Option<Timestamp> + Send>,
}

impl devices::Monitored for SimHealth {
    fn device_status(&self, now: Timestamp) -> devices::DeviceStatus {
        let last_good = (self.newest)();
        let (health, reason) = match last_good {
            None => (devices::Health::Stale, Some("no reading yet".to_owned())),
            Some(t) if now.saturating_duration_since(t) > self.stale_after => (
                devices::Health::Stale,
                Some(format!(
                    "no reading for {:.1} s",
                    now.saturating_duration_since(t).as_secs_f64()
                )),
            ),
            Some(_) => (devices::Health::Ok, None),
        };
        devices::DeviceStatus {
            name: self.name.clone(),
            kind: self.kind.clone(),
            health,
            reason,
            last_good,
        }
    }
}

/// The CCS charge point: its hardware, the station, the application's options.
fn ccs_point(
    c: &CcsConfig,
    converter: PortConverter,
    cx: &mut OpenContext,
    start: Timestamp,
) -> anyhow::Result<CcsRun> {
    let needs_inlet = matches!(c.pilot, PilotDevice::Sim)
        || matches!(c.precharge, RelayDevice::Sim(_))
        || matches!(c.inlet, InletDevice::Sim(_));
    if needs_inlet {
        let params = match &c.inlet {
            InletDevice::Sim(p) => *p,
            InletDevice::None => sim::InletParams::default(),
        };
        sim::lock(&cx.sim()).set_inlet(params);
    }
    if matches!(c.changeover, RelayDevice::Sim(_)) {
        sim::lock(&cx.sim()).set_changeover();
    }
    let mut sim_pilot = None;
    let pilot: Box<dyn devices::ControlPilot> = match &c.pilot {
        PilotDevice::Sim => {
            let p = SimControlPilot(cx.sim());
            sim_pilot = Some(p.clone());
            let probe = p.clone();
            cx.sim_device("charge_point.pilot", "sim-pilot", move || {
                devices::ControlPilot::reading(&probe).map(|r| r.at)
            });
            Box::new(p)
        }
        PilotDevice::Sysfs(params) => {
            let pilot = devices_linux::SysfsControlPilot::open(
                "pilot",
                params,
                std::sync::Arc::new(units::SystemClock::new()),
            )
            .context("control pilot")?;
            Box::new(cx.actuator("charge_point.pilot", "sysfs", pilot))
        }
    };
    let isolation: Option<Box<dyn devices::IsolationMonitor>> = match c.isolation_monitor {
        ImdDevice::None => None,
        ImdDevice::Sim => {
            let w = cx.sim();
            sim::lock(&w).set_isolation_monitor(devices::Isolation::Valid);
            let probe = SimIsolationMonitor(w.clone());
            cx.sim_device(
                "charge_point.isolation_monitor",
                "sim-isolation-monitor",
                move || devices::IsolationMonitor::status(&probe).map(|r| r.at),
            );
            Some(Box::new(SimIsolationMonitor(w)))
        }
    };
    let inlet: Option<Box<dyn ccs::point::InletSensor>> = match &c.inlet {
        InletDevice::None => None,
        InletDevice::Sim(_) => {
            let probe = SimInlet(cx.sim());
            cx.sim_device("charge_point.inlet", "sim-inlet", move || {
                ccs::point::InletSensor::voltage(&probe).map(|r| r.at)
            });
            Some(Box::new(SimInlet(cx.sim())))
        }
    };
    let hw = ccs::point::PointHardware {
        pilot,
        changeover: c
            .changeover
            .open("changeover", cx, |_, _| RelayRef::Changeover)?,
        precharge: c
            .precharge
            .open("precharge", cx, |_, _| RelayRef::Precharge)?,
        converter,
        isolation,
        inlet,
    };
    let rating = Limits {
        max_voltage: c.max_voltage_v,
        min_voltage: c.min_voltage_v,
        max_current: c.max_current_a,
        min_current: Amps::ZERO,
        max_power: c.max_power_w,
        max_discharge_current: if c.max_discharge_power_w.0 > 0.0 {
            c.max_current_a
        } else {
            Amps::ZERO
        },
        max_discharge_power: c.max_discharge_power_w,
    };
    let station = charge_point::StationConfig {
        rating,
        isolation_monitor: !matches!(c.isolation_monitor, ImdDevice::None),
        legacy_v2h: c.legacy_v2h.map(|v| charge_point::LegacyV2h {
            max_discharge: v.max_discharge_w,
            min_soc: v.min_soc_pct,
            min_voltage: v.min_voltage_v,
        }),
        ..charge_point::StationConfig::default()
    };
    let protocols = c
        .protocols
        .iter()
        .map(|p| p.parse::<v2g::Protocol>())
        .collect::<Result<Vec<_>, _>>()
        .context("charge_point.protocols")?;
    let control_modes = c
        .control_modes
        .iter()
        .map(|m| match m.as_str() {
            "dynamic" => v2g::ControlMode::Dynamic,
            _ => v2g::ControlMode::Scheduled,
        })
        .collect();
    let secc = v2g::secc::SeccConfig {
        protocols,
        selection: if c.prefer_ours {
            v2g::Selection::OurPreference
        } else {
            v2g::Selection::CarPriority
        },
        control_modes,
        ..v2g::secc::SeccConfig::default()
    };
    let options = ccs::evse::EvseOptions {
        iface: c.iface.clone(),
        port: c.port,
        slac: c.slac,
        link_detection: c.link_detection,
        serve: ccs::session::ServeOptions {
            secc: std::sync::Arc::new(secc),
            authorization_delay: std::time::Duration::ZERO,
            sessions: None,
        },
        iface_wait: std::time::Duration::from_secs(5),
    };
    // A real pilot tells SLAC when a car is plugged in; a simulated one only sees the car once
    // it talks, so SLAC then takes a car as plugged in all the time (as `gridlet evse`).
    let driving = match c.pilot {
        PilotDevice::Sysfs(_) => ccs::evse::SlacDriving::Pilot,
        PilotDevice::Sim => ccs::evse::SlacDriving::WithoutPilot,
    };
    let sim_car = match &c.car {
        Some(params) => {
            sim::lock(&cx.sim()).set_ccs_car(*params);
            Some(sim_car_session(params, c)?)
        }
        None => None,
    };
    Ok(CcsRun {
        options,
        // In-process, the simulated pilot sees the simulated car's resistors: SLAC follows it.
        driving: if sim_car.is_some() {
            ccs::evse::SlacDriving::Pilot
        } else {
            driving
        },
        point: ccs::point::PointHandle::new(station, hw, start),
        sim_pilot,
        sim_car,
    })
}

/// Builds the site at `start`.
pub fn assemble(cfg: &Config, start: Timestamp) -> anyhow::Result<Assembled> {
    let tz = cfg.timezone().map_err(anyhow::Error::msg)?;
    let world = World::new(&cfg.sim, tz, start).shared();
    let mut d = Devices::default();
    // Devices with their own I/O (Modbus) run on the tokio runtime the caller has entered, and
    // stamp their readings with the real clock.
    let mut cx = OpenContext {
        world: world.clone(),
        uses_world: false,
        clock: std::sync::Arc::new(units::SystemClock::new()),
        timeout: cfg.control.meter_timeout,
        monitored: Vec::new(),
        grid_source: None,
        converter_reader: None,
        can: crate::can::CanDevices::default(),
    };
    d.grid_meter = match &cfg.grid_meter {
        None => None,
        Some(m) => Some(m.open(&mut cx)?),
    };
    for (name, pv) in &cfg.pv {
        d.pv.push(Named::new(name, pv.open(name, &mut cx)?));
    }
    d.bms = cfg.battery.as_ref().map(|b| b.open(&mut cx));
    let emulations = cx.can.emulations(&cfg.battery_emulation);
    cx.monitored.extend(emulations);
    d.converter = match &cfg.converter {
        None => None,
        Some(c) => Some(c.open(&mut cx)?),
    };
    let mut ccs = None;
    match &cfg.charge_point {
        None => {}
        Some(ChargePointConfig::Sim(p)) => {
            let w = cx.sim();
            sim::lock(&w).set_car(*p);
            let probe = SimChargePoint(w.clone());
            cx.sim_device("charge_point", "sim-charge-point", move || {
                devices::ChargePoint::status(&probe).map(|r| r.at)
            });
            d.charge_point = Some(Box::new(SimChargePoint(w)));
        }
        Some(ChargePointConfig::Ccs(c)) => {
            // The charge point and the site share the converter: one commands it at a time.
            let converter = d
                .converter
                .take()
                .context("a CCS charge point needs a [converter]")?;
            let port = PortConverter::new(converter);
            d.converter = Some(Box::new(port.site()));
            let reader = port.clone();
            cx.converter_reader = Some(std::sync::Arc::new(move || Box::new(reader.site())));
            let run = ccs_point(c, port, &mut cx, start)?;
            d.charge_point = Some(Box::new(run.point.clone()));
            ccs = Some(run);
        }
    }
    for (name, e) in &cfg.meter_emulation {
        e.open(name, &mut cx)?;
    }
    d.changeover = match &cfg.changeover {
        None => None,
        Some(r) => Some(r.open("changeover", &mut cx, |w, _| {
            w.set_changeover();
            RelayRef::Changeover
        })?),
    };
    for (name, r) in &cfg.relay {
        let device = r
            .device
            .open(name, &mut cx, |w, load| RelayRef::Load(w.add_relay(*load)))?;
        d.relays.push(Named::new(name, device));
    }
    d.button = match &cfg.button {
        None => None,
        Some(b) => Some(b.open(&mut cx)?),
    };
    d.tariff = match cfg.price {
        PriceModel::None => None,
        PriceModel::Fixed { price } => {
            Some(Box::new(FixedTariff(price)) as Box<dyn devices::Tariff>)
        }
        PriceModel::SimMarket { .. } => {
            let w = cx.sim();
            sim::lock(&w).set_price(cfg.price);
            Some(Box::new(SimTariff(w)) as Box<dyn devices::Tariff>)
        }
    };
    if let PriceModel::Fixed { .. } = cfg.price {
        // The simulated world books its energy at the same price.
        sim::lock(&world).set_price(cfg.price);
    }
    let mut prices = None;
    if let Some(p) = &cfg.prices {
        let tz = cfg.timezone().map_err(anyhow::Error::msg)?;
        let built = p.build(&tz).map_err(anyhow::Error::msg)?;
        if let (tariffs::ProviderConfig::File { .. }, true) = (&p.provider, cx.uses_world) {
            // A simulated site replays recorded prices as its market: it books its energy at
            // them and publishes them day-ahead (tomorrow's at 13:00), as the file's provider
            // would have.
            let all = devices::Tariff::prices(
                &built.feed,
                Timestamp::UNIX_EPOCH,
                Timestamp::from_unix_secs(i64::from(u32::MAX)),
            );
            sim::lock(&world).set_recorded_prices(all);
            d.tariff = Some(Box::new(SimTariff(world.clone())));
        } else {
            d.tariff = Some(Box::new(built.feed));
        }
        prices = built.fetcher;
    }

    let OpenContext {
        uses_world,
        monitored,
        can,
        ..
    } = cx;
    d.monitored = monitored;
    d.forecast = match &cfg.forecast {
        Some(f) => Some(Box::new(ConfigForecast::new(
            f,
            cfg.timezone().map_err(anyhow::Error::msg)?,
        )) as Box<dyn site::Forecast>),
        None if uses_world => Some(Box::new(WorldForecast(world.clone()))),
        None => None,
    };

    let controller =
        controller::SiteController::new(cfg.controller().map_err(anyhow::Error::msg)?, start)
            .context("controller configuration")?;
    let mut site = Site::new(d, controller);
    if cfg.planner.enabled {
        site.set_planning(site::Planning::new(cfg.planner.clone()));
    }
    Ok(Assembled {
        site,
        world: uses_world.then_some(world),
        ccs,
        prices,
        can: (!can.is_empty()).then_some(can),
        mqtt: cfg.mqtt.clone().map(|mut m| {
            // The top of Home Assistant's range for the car current cap: the charger's rating.
            if let Some(ChargePointConfig::Ccs(c)) = &cfg.charge_point {
                m.ev_current_max_a = Some(c.max_current_a.0);
            }
            m
        }),
        http: cfg.http.access()?,
        history: match &cfg.history {
            Some(h) => Some(crate::history_front::HistoryFront::new(
                h.clone(),
                cfg.timezone().map_err(anyhow::Error::msg)?,
            )),
            None => None,
        },
        settings: cfg.site.settings.clone(),
    })
}

/// The simulated world's own forecasts (`gridlet sim` without `[forecast]`).
struct WorldForecast(SharedWorld);

impl site::Forecast for WorldForecast {
    fn pv_w(&self, from: Timestamp, to: Timestamp) -> Option<units::Watts> {
        Some(sim::lock(&self.0).pv_forecast(from, to))
    }
    fn load_w(&self, from: Timestamp, to: Timestamp) -> Option<units::Watts> {
        Some(sim::lock(&self.0).load_forecast(from, to))
    }
}

/// `[forecast]` with a constant PV forecast (the only one wired yet) and a constant load or the
/// profile's fallback (the profile learns from history the daemon does not feed it yet).
struct ConfigForecast {
    pv: forecast::PvForecast,
    load: forecast::LoadForecast,
}

impl ConfigForecast {
    fn new(cfg: &forecast::ForecastConfig, tz: jiff::tz::TimeZone) -> Self {
        let pv = match cfg.pv {
            forecast::PvConfig::Constant { power_w } => forecast::PvForecast::Constant(power_w),
            _ => forecast::PvForecast::Constant(units::Watts::ZERO),
        };
        let load = match cfg.load {
            forecast::LoadConfig::Constant { power_w } => forecast::LoadForecast::Constant(power_w),
            forecast::LoadConfig::Profile { fallback_w } => forecast::LoadForecast::Profile {
                profile: forecast::LoadProfile::new(tz),
                fallback: fallback_w,
            },
        };
        Self { pv, load }
    }
}

impl site::Forecast for ConfigForecast {
    fn pv_w(&self, from: Timestamp, to: Timestamp) -> Option<units::Watts> {
        self.pv.mean(from, to)
    }
    fn load_w(&self, from: Timestamp, _to: Timestamp) -> Option<units::Watts> {
        Some(self.load.at(from))
    }
}

#[cfg(test)]
mod tests {
    use devices::{Health, Relay};

    use super::*;

    /// A relay whose line fails while `broken`.
    struct Line {
        broken: bool,
    }

    impl Relay for Line {
        fn set(&mut self, _: Timestamp, _: bool) -> Result<(), devices::DeviceError> {
            if self.broken {
                return Err(devices::DeviceError::Link {
                    device: "hot_water".into(),
                    reason: "line released".into(),
                });
            }
            Ok(())
        }
        fn feedback(&self) -> Option<devices::Stamped<bool>> {
            None
        }
    }

    fn context(cfg: &Config) -> OpenContext {
        OpenContext {
            world: World::new(&cfg.sim, jiff::tz::TimeZone::UTC, Timestamp::UNIX_EPOCH).shared(),
            uses_world: false,
            clock: std::sync::Arc::new(units::SystemClock::new()),
            timeout: std::time::Duration::from_secs(5),
            monitored: Vec::new(),
            grid_source: None,
            converter_reader: None,
            can: crate::can::CanDevices::default(),
        }
    }

    /// A meter emulation opens through its config enum, from what the roles opened before left
    /// in the context: the grid meter, and the converter's reader for `subtract`.
    #[tokio::test]
    async fn a_meter_emulation_opens_from_the_roles_before_it() {
        let src = "[grid_meter]\ntype = \"sim\"\n[converter]\ntype = \"sim\"\n\
                   [meter_emulation.huawei]\ntype = \"dtsu666-h\"\nsource = \"grid_meter\"\n\
                   subtract = \"converter\"\nmodbus = { tcp_listen = \"127.0.0.1:0\", unit = 11 }\n";
        let cfg = crate::config::parse("t.toml", src).unwrap();
        let emulation = &cfg.meter_emulation["huawei"];
        let mut cx = context(&cfg);
        let e = emulation.open("huawei", &mut cx).unwrap_err();
        assert_eq!(
            e.to_string(),
            "meter_emulation.huawei: there is no [grid_meter]"
        );
        if let Some(m) = &cfg.grid_meter {
            m.open(&mut cx).unwrap();
        }
        let e = emulation.open("huawei", &mut cx).unwrap_err();
        assert_eq!(
            e.to_string(),
            "meter_emulation.huawei.subtract: there is no [converter]"
        );
        if let Some(c) = &cfg.converter {
            c.open(&mut cx).unwrap();
        }
        let before = cx.monitored.len();
        emulation.open("huawei", &mut cx).unwrap();
        let status = cx.monitored[before].device_status(cx.clock.now());
        assert_eq!(
            (status.name.as_str(), status.kind.as_str()),
            ("meter_emulation.huawei", "dtsu666-h")
        );
    }

    #[test]
    fn an_actuator_is_listed_with_the_reason_its_write_failed() {
        let cfg = crate::config::parse("t.toml", "").unwrap();
        let mut cx = context(&cfg);
        let mut relay = cx.actuator("hot_water", "gpio", Line { broken: false });
        let now = cx.clock.now();
        let status = |cx: &OpenContext| cx.monitored[0].device_status(now);
        assert_eq!(status(&cx).health, Health::Ok);
        assert_eq!(status(&cx).kind, "gpio");
        relay.inner.broken = true;
        assert!(relay.set(now, true).is_err());
        let s = status(&cx);
        assert_eq!(s.health, Health::Error);
        assert!(s.reason.unwrap().contains("line released"));
        relay.inner.broken = false;
        relay.safe_state(now).unwrap();
        assert_eq!(status(&cx).health, Health::Ok);
        assert_eq!(status(&cx).last_good, Some(now));
    }
}
