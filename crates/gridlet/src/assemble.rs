//! Builds the site from a configuration: one factory `match` per role, so the set of device
//! types is closed and checked by the compiler.

use anyhow::Context;
use devices::{FixedTariff, PortConverter};
use devices_linux::{GpioButtonLed, GpioRelay};
use sim::{
    PriceModel, RelayRef, SharedWorld, SimBms, SimButtonLed, SimChargePoint, SimControlPilot,
    SimConverter, SimGridMeter, SimIsolationMonitor, SimPvInverter, SimRelay, SimTariff, World,
};
use site::{Devices, Named, Site};
use units::{Amps, Timestamp};
use v2g::charger::Limits;

use crate::config::{
    BatteryConfig, ButtonConfig, CcsConfig, ChargePointConfig, Config, ConverterConfig,
    GridMeterConfig, ImdDevice, InletDevice, MeterEmulationConfig, PilotDevice, PvConfig,
    RelayDevice,
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

fn relay(
    name: &str,
    device: &RelayDevice,
    sim: &mut impl FnMut() -> SharedWorld,
    which: RelayRef,
) -> anyhow::Result<Box<dyn devices::Relay>> {
    Ok(match device {
        RelayDevice::Sim(_) => Box::new(SimRelay {
            world: sim(),
            which,
        }),
        RelayDevice::Gpio(p) => {
            Box::new(GpioRelay::open(name, p).with_context(|| format!("{name} relay"))?)
        }
    })
}

/// The CCS charge point: its hardware, the station, the application's options.
fn ccs_point(
    c: &CcsConfig,
    converter: PortConverter,
    sim: &mut impl FnMut() -> SharedWorld,
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
        sim::lock(&sim()).set_inlet(params);
    }
    if matches!(c.changeover, RelayDevice::Sim(_)) {
        sim::lock(&sim()).set_changeover();
    }
    let mut sim_pilot = None;
    let pilot: Box<dyn devices::ControlPilot> = match &c.pilot {
        PilotDevice::Sim => {
            let p = SimControlPilot(sim());
            sim_pilot = Some(p.clone());
            Box::new(p)
        }
        PilotDevice::Sysfs(params) => Box::new(
            devices_linux::SysfsControlPilot::open(
                "pilot",
                params,
                std::sync::Arc::new(units::SystemClock::new()),
            )
            .context("control pilot")?,
        ),
    };
    let isolation: Option<Box<dyn devices::IsolationMonitor>> = match c.isolation_monitor {
        ImdDevice::None => None,
        ImdDevice::Sim => {
            let w = sim();
            sim::lock(&w).set_isolation_monitor(devices::Isolation::Valid);
            Some(Box::new(SimIsolationMonitor(w)))
        }
    };
    let inlet: Option<Box<dyn ccs::point::InletSensor>> = match &c.inlet {
        InletDevice::None => None,
        InletDevice::Sim(_) => Some(Box::new(SimInlet(sim()))),
    };
    let hw = ccs::point::PointHardware {
        pilot,
        changeover: relay("changeover", &c.changeover, sim, RelayRef::Changeover)?,
        precharge: relay("precharge", &c.precharge, sim, RelayRef::Precharge)?,
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
            sim::lock(&sim()).set_ccs_car(*params);
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

/// A meter of `devices-meters` (SMA Speedwire, SML, MQTT): its health in the status, a second
/// handle on its readings as the meter emulation's source.
fn net_meter(
    meter: devices_meters::NetMeter,
    d: &mut Devices,
    grid_source: &mut Option<std::sync::Arc<dyn devices_modbus::MeterSource>>,
) -> Box<dyn devices::GridMeter> {
    *grid_source = Some(std::sync::Arc::new(devices_modbus::GridMeterSource(
        std::sync::Mutex::new(Box::new(meter.handle())),
    )));
    d.monitored.push(Box::new(meter.health()));
    Box::new(meter)
}

/// Builds the site at `start`.
pub fn assemble(cfg: &Config, start: Timestamp) -> anyhow::Result<Assembled> {
    let tz = cfg.timezone().map_err(anyhow::Error::msg)?;
    let world = World::new(&cfg.sim, tz, start).shared();
    let mut uses_world = false;
    let mut sim = || {
        uses_world = true;
        world.clone()
    };
    let mut d = Devices::default();
    // Devices with their own I/O (Modbus) run on the tokio runtime the caller has entered, and
    // stamp their readings with the real clock.
    let clock: std::sync::Arc<dyn units::Clock> = std::sync::Arc::new(units::SystemClock::new());
    let mut grid_source: Option<std::sync::Arc<dyn devices_modbus::MeterSource>> = None;
    let timeout = cfg.control.meter_timeout;
    d.grid_meter = match &cfg.grid_meter {
        None => None,
        Some(GridMeterConfig::Sim) => {
            let source = devices_modbus::GridMeterSource(std::sync::Mutex::new(Box::new(
                SimGridMeter(sim()),
            )));
            grid_source = Some(std::sync::Arc::new(source));
            Some(Box::new(SimGridMeter(sim())) as Box<dyn devices::GridMeter>)
        }
        Some(m) if m.inverter().is_some() => {
            let (kind, params) = m.inverter().context("grid_meter")?;
            let meter =
                params.open("grid_meter", kind, clock.clone(), cfg.control.meter_timeout)?;
            d.monitored.push(Box::new(meter.health()));
            grid_source = Some(std::sync::Arc::new(meter.share()));
            Some(Box::new(meter) as Box<dyn devices::GridMeter>)
        }
        Some(GridMeterConfig::SmaEm(p)) => {
            let meter = devices_meters::NetMeter::sma_em("grid_meter", p, clock.clone(), timeout)?;
            Some(net_meter(meter, &mut d, &mut grid_source))
        }
        Some(GridMeterConfig::Sml(p)) => {
            let meter = devices_meters::NetMeter::sml("grid_meter", p, clock.clone(), timeout)?;
            Some(net_meter(meter, &mut d, &mut grid_source))
        }
        Some(GridMeterConfig::Mqtt(p)) => {
            let meter = devices_meters::NetMeter::mqtt("grid_meter", p, clock.clone(), timeout)?;
            Some(net_meter(meter, &mut d, &mut grid_source))
        }
        Some(m) => {
            let (model, params) = m.modbus().context("grid_meter")?;
            let meter = devices_modbus::ModbusMeter::open(
                "grid_meter",
                model,
                params,
                clock.clone(),
                cfg.control.meter_timeout,
            )?;
            grid_source = Some(std::sync::Arc::new(meter.handle()));
            d.monitored.push(Box::new(meter.health()));
            Some(Box::new(meter))
        }
    };
    for (name, pv) in &cfg.pv {
        let device: Box<dyn devices::PvInverter> = match pv {
            PvConfig::Sim(p) => {
                let w = sim();
                let index = sim::lock(&w).add_pv(*p);
                Box::new(SimPvInverter { world: w, index })
            }
            PvConfig::Sunspec(_) | PvConfig::HuaweiSun2000(_) => {
                let (kind, params) = pv.inverter().context("pv")?;
                let dev = params.open(
                    &format!("pv.{name}"),
                    kind,
                    clock.clone(),
                    cfg.control.meter_timeout,
                )?;
                d.monitored.push(Box::new(dev.health()));
                Box::new(dev)
            }
        };
        d.pv.push(Named::new(name, device));
    }
    let mut can = crate::can::CanDevices::default();
    d.bms = cfg.battery.as_ref().map(|b| match b {
        BatteryConfig::Sim(p) => {
            let w = sim();
            sim::lock(&w).set_battery(*p);
            Box::new(SimBms(w)) as Box<dyn devices::Bms>
        }
        BatteryConfig::OpeninverterCan(p) => can.bms(p.open("battery", can.clock())),
        BatteryConfig::PylontechCan(p) => can.bms(p.open("battery", can.clock())),
    });
    d.monitored.extend(can.emulations(&cfg.battery_emulation));
    d.converter = match &cfg.converter {
        None => None,
        Some(ConverterConfig::Sim(p)) => {
            let w = sim();
            sim::lock(&w).set_converter(*p);
            Some(Box::new(SimConverter(w)) as Box<dyn devices::Converter>)
        }
        Some(c) => {
            let (kind, params) = c.inverter().context("converter")?;
            let dev = params.open("converter", kind, clock.clone(), cfg.control.meter_timeout)?;
            d.monitored.push(Box::new(dev.health()));
            Some(Box::new(dev) as Box<dyn devices::Converter>)
        }
    };
    let mut ccs = None;
    // A second handle on the converter, only read (the meter emulation's `subtract`).
    let mut converter_reader: Option<Box<dyn devices::Converter>> = None;
    match &cfg.charge_point {
        None => {}
        Some(ChargePointConfig::Sim(p)) => {
            let w = sim();
            sim::lock(&w).set_car(*p);
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
            converter_reader = Some(Box::new(port.site()));
            let run = ccs_point(c, port, &mut sim, start)?;
            d.charge_point = Some(Box::new(run.point.clone()));
            ccs = Some(run);
        }
    }
    for (name, e) in &cfg.meter_emulation {
        let MeterEmulationConfig::Dtsu666H(p) = e;
        let meter = grid_source
            .clone()
            .with_context(|| format!("meter_emulation.{name}: there is no [grid_meter]"))?;
        let source: std::sync::Arc<dyn devices_modbus::MeterSource> = match p.subtract {
            None => meter,
            Some(devices_modbus::Subtract::Converter) => {
                let converter = converter_reader
                    .take()
                    .or_else(|| match &cfg.converter {
                        Some(ConverterConfig::Sim(_)) => {
                            Some(Box::new(SimConverter(world.clone())))
                        }
                        // A converter on Modbus is shared through the CCS port (above) only.
                        _ => None,
                    })
                    .with_context(|| {
                        format!("meter_emulation.{name}.subtract: there is no [converter]")
                    })?;
                std::sync::Arc::new(devices_modbus::WithoutConverter {
                    meter,
                    converter: std::sync::Mutex::new(converter),
                    max_skew: p.source_timeout,
                })
            }
        };
        let emulation = devices_modbus::MeterEmulation::open(
            &format!("meter_emulation.{name}"),
            "dtsu666-h",
            p,
            source,
            clock.clone(),
        )?;
        d.monitored.push(Box::new(emulation));
    }
    d.changeover = match &cfg.changeover {
        None => None,
        Some(RelayDevice::Sim(_)) => {
            let w = sim();
            sim::lock(&w).set_changeover();
            Some(Box::new(SimRelay {
                world: w,
                which: RelayRef::Changeover,
            }) as Box<dyn devices::Relay>)
        }
        Some(RelayDevice::Gpio(p)) => Some(Box::new(
            GpioRelay::open("changeover", p).context("changeover relay")?,
        )),
    };
    for (name, r) in &cfg.relay {
        let device: Box<dyn devices::Relay> = match &r.device {
            RelayDevice::Sim(load) => {
                let w = sim();
                let i = sim::lock(&w).add_relay(*load);
                Box::new(SimRelay {
                    world: w,
                    which: RelayRef::Load(i),
                })
            }
            RelayDevice::Gpio(p) => {
                Box::new(GpioRelay::open(name, p).with_context(|| format!("relay {name}"))?)
            }
        };
        d.relays.push(Named::new(name, device));
    }
    d.button = match &cfg.button {
        None => None,
        Some(ButtonConfig::Sim) => {
            Some(Box::new(SimButtonLed(sim())) as Box<dyn devices::ButtonLed>)
        }
        Some(ButtonConfig::Gpio(p)) => Some(Box::new(
            GpioButtonLed::open("button", p).context("button")?,
        )),
    };
    d.tariff = match cfg.price {
        PriceModel::None => None,
        PriceModel::Fixed { price } => {
            Some(Box::new(FixedTariff(price)) as Box<dyn devices::Tariff>)
        }
        PriceModel::SimMarket { .. } => {
            let w = sim();
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
        if let (tariffs::ProviderConfig::File { .. }, true) = (&p.provider, uses_world) {
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
        mqtt: cfg.mqtt.clone(),
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
