//! The simulated site: a seeded, deterministic physical model of a house with PV, a home battery
//! behind a bidirectional converter, a car on a CCS charge point, relay-switched loads and the
//! grid connection, plus the `Sim*` backend of every device role in [`devices`].
//!
//! The [`World`] integrates power flows on the AC bus in steps of at most one second. Every
//! backend is a view onto a shared world ([`SharedWorld`]): sensors read what the model last
//! computed (stamped with the model's time), actuators store set-points that the model applies in
//! the next step, through the same set-point watchdogs as real hardware.
//!
//! Energy is accounted on the AC bus: `pv + grid_import + battery_discharge + ev_discharge =
//! load + grid_export + battery_charge + ev_charge`. Conversion and storage losses happen behind
//! the converter and show up in the stores' state of charge.

mod backends;
mod battery;
mod car;
mod converter;
mod house;
mod inlet;
mod params;
mod price;
mod rng;
mod solar;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use devices::{
    BmsAlarm, BmsState, ChargePointStatus, ConverterStatus, GridReading, LedMode, PvStatus,
    SetpointWatchdog, Stamped,
};
use serde::{Deserialize, Serialize};
use units::{Percent, PricePerKwh, Timestamp, WattHours, Watts};

pub use backends::{
    SimBms, SimButtonLed, SimChargePoint, SimControlPilot, SimConverter, SimGridMeter,
    SimIsolationMonitor, SimPvInverter, SimRelay, SimTariff,
};
pub use battery::BatteryParams;
pub use car::CarParams;
pub use converter::ConverterParams;
pub use house::HouseParams;
pub use inlet::{InletParams, PilotLoad};
pub use price::PriceModel;
pub use solar::{Location, PvParams};

use crate::battery::Battery;
use crate::car::Car;
use crate::converter::Converter;
use crate::house::House;
use crate::inlet::Inlet;
use crate::rng::{stream, streams};
use crate::solar::Sky;

/// The longest integration step; longer advances are split.
pub const MAX_STEP: Duration = Duration::from_secs(1);

/// The `[sim]` section: the world around the devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimSettings {
    /// Seed of every random process (weather, appliances, trips, prices).
    pub seed: u64,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// The house's own consumption.
    pub house: HouseParams,
}

impl Default for SimSettings {
    fn default() -> Self {
        let loc = Location::default();
        Self {
            seed: 1,
            latitude: loc.latitude,
            longitude: loc.longitude,
            house: HouseParams::default(),
        }
    }
}

/// A fault to inject into the model, for tests and demonstrations.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// The BMS stops sending.
    BmsSilent,
    /// The BMS raises an over-temperature alarm.
    BmsAlarm,
    /// The grid meter stops sending.
    MeterSilent,
    /// The converter reports a fault and stops.
    ConverterFault,
    /// The control pilot is shorted to PE (state E).
    PilotShorted,
    /// The isolation monitor finds an insulation fault.
    IsolationFault,
    /// The car is unplugged now, whatever its session does (it comes back at its next arrival).
    CarUnplugged,
}

/// Energy totals since the start, in Wh, on the AC bus.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct EnergyTotals {
    /// PV production.
    pub pv: f64,
    /// PV production lost to curtailment.
    pub pv_curtailed: f64,
    /// House and relay loads.
    pub load: f64,
    /// Energy bought.
    pub grid_import: f64,
    /// Energy sold.
    pub grid_export: f64,
    /// Into the converter towards the home battery.
    pub battery_charge: f64,
    /// Out of the converter from the home battery.
    pub battery_discharge: f64,
    /// Into the converter towards the car.
    pub ev_charge: f64,
    /// Out of the converter from the car (V2H).
    pub ev_discharge: f64,
    /// Cost of imports at the simulated price, in currency units.
    pub import_cost: f64,
    /// Value of exports at the simulated price.
    pub export_value: f64,
}

/// The summary `gridlet sim --report` writes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Simulated start.
    pub start: Timestamp,
    /// Simulated end.
    pub end: Timestamp,
    /// The seed.
    pub seed: u64,
    /// Energy totals (Wh), flattened into the report.
    #[serde(flatten)]
    pub energy: EnergyTotals,
    /// `pv + import + battery_discharge + ev_discharge − load − export − battery_charge −
    /// ev_charge`: zero up to rounding when the accounting is right.
    pub balance_error_wh: f64,
    /// Home battery SoC at the start and the end.
    pub battery_soc_start_pct: Option<f64>,
    /// See `battery_soc_start_pct`.
    pub battery_soc_end_pct: Option<f64>,
    /// Car SoC at the start and the end.
    pub ev_soc_start_pct: Option<f64>,
    /// See `ev_soc_start_pct`.
    pub ev_soc_end_pct: Option<f64>,
    /// Conversion and storage losses: energy that went into the stores' ports and is not
    /// stored any more.
    pub losses_wh: f64,
    /// Share of the load not bought from the grid.
    pub self_sufficiency_pct: f64,
    /// Share of PV used on site rather than exported.
    pub self_consumption_pct: f64,
}

#[derive(Debug, Clone)]
struct Pv {
    params: PvParams,
    limit: SetpointWatchdog<Option<Watts>>,
    power: Watts,
    energy: WattHours,
}

/// A load switched by a simulated relay.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadParams {
    /// Power while switched on (and not satisfied).
    pub load_w: Watts,
    /// For a thermal load (water heater, buffer tank): the energy it can take before its own
    /// thermostat stops it. It starts half full.
    pub store_wh: Option<WattHours>,
    /// What the store loses on average (hot water used, heat losses).
    pub drain_w: Watts,
}

#[derive(Debug, Clone)]
struct RelaySlot {
    on: bool,
    params: LoadParams,
    /// Energy in the load's store.
    level: WattHours,
}

impl RelaySlot {
    fn new(params: LoadParams) -> Self {
        Self {
            on: false,
            params,
            level: params.store_wh.map_or(WattHours::ZERO, |c| c * 0.5),
        }
    }

    /// The power drawn over the next `dt` seconds, updating the store.
    fn draw(&mut self, dt: f64) -> Watts {
        let satisfied = self.params.store_wh.is_some_and(|cap| self.level >= cap);
        let p = if self.on && !satisfied {
            self.params.load_w
        } else {
            Watts::ZERO
        };
        if let Some(cap) = self.params.store_wh {
            self.level = (self.level + (p - self.params.drain_w).over_secs_wh(dt))
                .clamp(WattHours::ZERO, cap);
        }
        p
    }
}

/// Which of the converter's stores the changeover relay selects.
fn port_is_vehicle(changeover: Option<&RelaySlot>) -> bool {
    changeover.is_some_and(|r| r.on)
}

/// The simulated site. See the crate docs.
#[derive(Debug)]
pub struct World {
    seed: u64,
    location: Location,
    timezone: jiff::tz::TimeZone,
    start: Timestamp,
    now: Timestamp,
    sky: Sky,
    house: House,
    house_params: HouseParams,
    house_power: Watts,
    /// The sky's transmittance from the last step of the random processes.
    sky_now: f64,
    /// When the random processes last stepped (on a 1 s grid from the start).
    stochastic_at: Option<Timestamp>,
    pv: Vec<Pv>,
    battery: Option<Battery>,
    battery_start: Option<(Percent, WattHours)>,
    converter: Option<Converter>,
    car: Option<Car>,
    car_start: Option<(Percent, WattHours)>,
    relays: Vec<RelaySlot>,
    changeover: Option<RelaySlot>,
    /// The CCS inlet (precharge supply, pilot), with a car that is not simulated here (a real
    /// one on the powerline) unless `car` is set.
    inlet: Option<Inlet>,
    /// The isolation monitor: since when it tests, and what it finds.
    imd: Option<(Option<Timestamp>, devices::Isolation)>,
    /// DC energy that went into (+) or out of a car that is not simulated here.
    external_car_wh: f64,
    presses: u64,
    led: LedMode,
    price: PriceModel,
    /// Recorded prices replayed instead of `price` (sorted, not overlapping).
    recorded: Option<Arc<[devices::PriceSlot]>>,
    grid: Watts,
    meter_import: WattHours,
    meter_export: WattHours,
    totals: EnergyTotals,
    faults: Vec<(Fault, Timestamp)>,
    // Sensor values as last published, with their stamps; silent sensors keep old stamps.
    meter_reading: Option<Stamped<GridReading>>,
    bms_reading: Option<Stamped<BmsState>>,
}

/// A world shared between the runner and the device backends.
pub type SharedWorld = Arc<Mutex<World>>;

/// Locks a shared world. A panic while holding the lock (a bug) must not take every device down
/// with it, so a poisoned lock is used as is.
pub fn lock(world: &SharedWorld) -> MutexGuard<'_, World> {
    world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl World {
    /// An empty site (house only) at `start`.
    pub fn new(settings: &SimSettings, timezone: jiff::tz::TimeZone, start: Timestamp) -> Self {
        let seed = settings.seed;
        Self {
            seed,
            location: Location {
                latitude: settings.latitude,
                longitude: settings.longitude,
            },
            timezone,
            start,
            now: start,
            sky: Sky::new(stream(seed, streams::SKY)),
            house: House::new(settings.house, stream(seed, streams::HOUSE)),
            house_params: settings.house,
            house_power: Watts::ZERO,
            sky_now: 1.0,
            stochastic_at: None,
            pv: Vec::new(),
            battery: None,
            battery_start: None,
            converter: None,
            car: None,
            car_start: None,
            relays: Vec::new(),
            changeover: None,
            inlet: None,
            imd: None,
            external_car_wh: 0.0,
            presses: 0,
            led: LedMode::Off,
            price: PriceModel::None,
            recorded: None,
            grid: Watts::ZERO,
            meter_import: WattHours::ZERO,
            meter_export: WattHours::ZERO,
            totals: EnergyTotals::default(),
            faults: Vec::new(),
            meter_reading: None,
            bms_reading: None,
        }
    }

    /// Wraps the world for sharing with backends.
    pub fn shared(self) -> SharedWorld {
        Arc::new(Mutex::new(self))
    }

    /// Adds a PV array; returns its index.
    pub fn add_pv(&mut self, params: PvParams) -> usize {
        self.pv.push(Pv {
            limit: SetpointWatchdog::new(params.fallback_limit_w, params.limit_timeout),
            params,
            power: Watts::ZERO,
            energy: WattHours::ZERO,
        });
        self.pv.len() - 1
    }

    /// Installs the home battery.
    pub fn set_battery(&mut self, params: BatteryParams) {
        let b = Battery::new(params);
        self.battery_start = Some((b.soc(), b.stored()));
        self.battery = Some(b);
    }

    /// Installs the converter.
    pub fn set_converter(&mut self, params: ConverterParams) {
        self.converter = Some(Converter::new(params));
    }

    /// Installs the car and its charge point.
    pub fn set_car(&mut self, params: CarParams) {
        let c = Car::new(params, stream(self.seed, streams::CAR));
        self.car_start = Some((c.soc(), c.stored()));
        self.car = Some(c);
    }

    /// Installs a car whose sessions are real CCS sessions (run beside the world, over the
    /// simulated inlet): the world keeps its schedule, battery and contactors.
    pub fn set_ccs_car(&mut self, params: CarParams) {
        let c = Car::with_ccs(params, stream(self.seed, streams::CAR));
        self.car_start = Some((c.soc(), c.stored()));
        self.car = Some(c);
    }

    /// Whether the car is plugged in.
    pub fn car_plugged(&self) -> bool {
        self.car.as_ref().is_some_and(Car::plugged)
    }

    /// Whether the car is about to leave (it should end its session).
    pub fn car_leaving(&self) -> bool {
        self.car.as_ref().is_some_and(Car::leaving)
    }

    /// The car's state of charge.
    pub fn car_soc(&self) -> Option<Percent> {
        self.car.as_ref().map(Car::soc)
    }

    /// Whether the charger drives the 5 % pilot (digital communication).
    pub fn pilot_digital(&self) -> bool {
        self.inlet
            .as_ref()
            .is_some_and(|i| matches!(i.signal, devices::PilotSignal::Pwm { duty_permille } if duty_permille <= 100))
    }

    /// The car's switches: its pilot resistors (plugged in, S2) and its contactors.
    pub fn set_car_switches(&mut self, plugged: bool, s2_closed: bool, contactors: bool) {
        if let Some(i) = &mut self.inlet {
            i.load = match (plugged, s2_closed) {
                (false, _) => PilotLoad::None,
                (true, false) => PilotLoad::Connected,
                (true, true) => PilotLoad::Ready,
            };
        }
        if let Some(c) = &mut self.car {
            c.set_contactors(plugged && contactors);
        }
    }

    /// Installs the changeover relay that moves the converter's DC port to the car.
    pub fn set_changeover(&mut self) {
        self.changeover = Some(RelaySlot::new(LoadParams::default()));
    }

    /// Installs a CCS inlet behind the changeover relay, with its precharge relay and pilot
    /// (the CCS charge point's hardware). Without a simulated car, the car on it is a real one
    /// on the powerline: its battery takes what the converter gives once it runs.
    pub fn set_inlet(&mut self, params: InletParams) {
        self.inlet = Some(Inlet::new(params));
    }

    /// Installs an isolation monitor whose tests find `result` after 1.5 s.
    pub fn set_isolation_monitor(&mut self, result: devices::Isolation) {
        self.imd = Some((None, result));
    }

    /// Adds a relay switching a load; returns its index.
    pub fn add_relay(&mut self, load: LoadParams) -> usize {
        self.relays.push(RelaySlot::new(load));
        self.relays.len() - 1
    }

    /// Selects the price model.
    pub fn set_price(&mut self, price: PriceModel) {
        self.price = price;
    }

    /// Replays recorded prices (end-user prices per slot) instead of the price model: energy
    /// is booked at them, and they are published like a day-ahead market's (tomorrow's from
    /// 13:00 local time). Outside the recording there is no price.
    pub fn set_recorded_prices(&mut self, mut slots: Vec<devices::PriceSlot>) {
        slots.sort_by_key(|s| s.start);
        self.recorded = Some(slots.into());
    }

    /// The recorded slot at `t`.
    fn recorded_at(&self, t: Timestamp) -> Option<Option<PricePerKwh>> {
        let r = self.recorded.as_ref()?;
        let i = r.partition_point(|s| s.end <= t);
        Some(r.get(i).filter(|s| s.start <= t).map(|s| s.price))
    }

    /// Presses the simulated button.
    pub fn press_button(&mut self) {
        self.presses += 1;
    }

    /// Injects `fault` until `until`.
    pub fn inject(&mut self, fault: Fault, until: Timestamp) {
        match fault {
            Fault::BmsAlarm => {
                if let Some(b) = &mut self.battery {
                    b.inject_alarm(BmsAlarm::OverTemperature, until);
                }
            }
            Fault::ConverterFault => {
                if let Some(c) = &mut self.converter {
                    c.inject_fault(until);
                }
            }
            Fault::CarUnplugged => {
                if let Some(c) = &mut self.car {
                    c.pull_plug();
                }
            }
            Fault::BmsSilent | Fault::MeterSilent | Fault::PilotShorted | Fault::IsolationFault => {
                self.faults.push((fault, until));
            }
        }
    }

    fn silent(&self, fault: Fault) -> bool {
        self.faults
            .iter()
            .any(|(f, u)| *f == fault && self.now < *u)
    }

    /// The seed of every random process.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The model's time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The local hour of day (fractional) at `t`.
    fn local(&self, t: Timestamp) -> jiff::civil::DateTime {
        self.timezone.to_datetime(t.to_jiff())
    }

    /// Integrates the model up to `t`, in steps of at most [`MAX_STEP`].
    pub fn advance_to(&mut self, t: Timestamp) {
        if self.meter_reading.is_none() && self.now == self.start {
            // A zero-length first step publishes the initial state, so the site has readings
            // from its very first tick.
            self.step(0.0);
        }
        while self.now < t {
            let next = (self.now + MAX_STEP).min(t);
            let dt = next.saturating_duration_since(self.now).as_secs_f64();
            self.now = next;
            self.step(dt);
        }
    }

    /// The random processes' step at `t`, over `dt` seconds.
    fn stochastic(&mut self, t: Timestamp, dt: f64) {
        let local = self.local(t);
        let sun = solar::sun_position(t, self.location);
        let dark = sun.elevation < 3f64.to_radians();
        self.house_power = self.house.step(t, dt, local.hour().max(0) as usize, dark);
        self.sky_now = self.sky.transmittance(t, dt);
    }

    fn step(&mut self, dt: f64) {
        let now = self.now;
        let local = self.local(now);
        let hour_f = f64::from(local.hour())
            + f64::from(local.minute()) / 60.0
            + f64::from(local.second()) / 3600.0;
        let sun = solar::sun_position(now, self.location);

        // The weather and the appliances are random processes on a one-second grid from the
        // start, whatever steps the rest takes: a car session that steps the world every few
        // hundred milliseconds must not change the weather.
        if self.stochastic_at.is_none() {
            self.stochastic_at = Some(now);
            self.stochastic(now, 0.0);
        }
        while let Some(at) = self.stochastic_at
            && at + MAX_STEP <= now
        {
            let next = at + MAX_STEP;
            self.stochastic_at = Some(next);
            self.stochastic(next, MAX_STEP.as_secs_f64());
        }

        // Loads.
        let relay_load: Watts = self.relays.iter_mut().map(|r| r.draw(dt)).sum();
        let load = self.house_power + relay_load;

        // PV.
        let sky = self.sky_now;
        let mut pv_total = Watts::ZERO;
        for pv in &mut self.pv {
            let poa = solar::clear_sky_poa(
                sun,
                pv.params.tilt_deg.to_radians(),
                pv.params.azimuth_deg.to_radians(),
            ) * sky;
            let available = solar::pv_ac_power(&pv.params, poa);
            let actual = match pv.limit.effective(now) {
                Some(limit) => available.min(limit.max(Watts::ZERO)),
                None => available,
            };
            self.totals.pv_curtailed += (available - actual).over_secs(dt);
            pv.power = actual;
            pv.energy += actual.over_secs_wh(dt);
            pv_total += actual;
        }

        // The car's schedule.
        if let Some(car) = &mut self.car {
            car.advance(now, local.time());
        }

        // Converter → DC port.
        let vehicle = port_is_vehicle(self.changeover.as_ref());
        let mut converter_ac = Watts::ZERO;
        if let Some(conv) = &mut self.converter {
            let wanted_ac = conv.target(now, dt);
            let cmd = conv.effective(now);
            let commanded_to_run = cmd.enabled && cmd.power_w != Watts::ZERO;
            let wanted_dc = conv.dc_for_ac(wanted_ac);
            let flowed_dc = match (vehicle, &mut self.battery, &mut self.car, &mut self.inlet) {
                (false, Some(b), _, _) => b.exchange(now, wanted_dc, dt),
                (true, _, Some(car), _) => car.exchange(now, wanted_dc, dt),
                (true, _, None, Some(inlet)) => {
                    // A real car on the powerline: the charge point commands the converter on
                    // the inlet only in delivery, once the car has closed its contactors, so its
                    // battery is on the inlet from that command on (not from what is left of a
                    // ramp-down, which runs disabled), at the voltage it was pre-charged to.
                    if commanded_to_run && !inlet.battery_connected() {
                        inlet.set_battery(Some(inlet.voltage().0));
                    }
                    if inlet.battery_connected() {
                        self.external_car_wh += wanted_dc.over_secs(dt);
                        wanted_dc
                    } else {
                        Watts::ZERO
                    }
                }
                // Nothing on the port: no current can flow.
                _ => Watts::ZERO,
            };
            converter_ac = if flowed_dc == wanted_dc {
                wanted_ac
            } else {
                conv.ac_for_dc(flowed_dc)
            };
            conv.set_power(converter_ac);
        }
        if !vehicle && let Some(car) = &mut self.car {
            // Not connected to the converter: the car sees no power.
            car.exchange(now, Watts::ZERO, dt);
        }
        if let (Some(inlet), Some(car)) = (&mut self.inlet, &self.car) {
            // A CCS car's battery is on the inlet while its contactors are closed.
            inlet.set_battery(car.contactors().then(|| car.battery_voltage()));
        }
        if let Some(inlet) = &mut self.inlet {
            if !vehicle && self.car.is_none() {
                // The converter's port went back to the home battery: the car's battery is no
                // longer held on it (the session is over, its contactors open).
                inlet.set_battery(None);
            }
            inlet.advance(dt);
        }

        // The grid meter is the sum on the AC bus.
        self.grid = load + converter_ac - pv_total;
        let e = |p: Watts| p.over_secs(dt);
        let price = self
            .recorded_at(now)
            .unwrap_or_else(|| self.price.price(self.seed, now, hour_f));
        let t = &mut self.totals;
        t.pv += e(pv_total);
        t.load += e(load);
        t.grid_import += e(self.grid.positive_part());
        t.grid_export += e(self.grid.negative_part());
        if vehicle {
            t.ev_charge += e(converter_ac.positive_part());
            t.ev_discharge += e(converter_ac.negative_part());
        } else {
            t.battery_charge += e(converter_ac.positive_part());
            t.battery_discharge += e(converter_ac.negative_part());
        }
        if let Some(p) = price {
            t.import_cost += p.cost(self.grid.positive_part().over_secs_wh(dt));
            t.export_value += p.cost(self.grid.negative_part().over_secs_wh(dt));
        }
        self.meter_import += self.grid.positive_part().over_secs_wh(dt);
        self.meter_export += self.grid.negative_part().over_secs_wh(dt);

        // Sensors publish, unless silenced.
        if !self.silent(Fault::MeterSilent) {
            self.meter_reading = Some(Stamped::new(
                now,
                GridReading {
                    power_w: self.grid,
                    phases_w: Some([self.grid / 3.0; 3]),
                    import_wh: Some(self.meter_import),
                    export_wh: Some(self.meter_export),
                },
            ));
        }
        if !self.silent(Fault::BmsSilent)
            && let Some(b) = &self.battery
        {
            self.bms_reading = Some(Stamped::new(now, b.bms_state(now)));
        }
    }

    /// The grid meter's newest reading.
    pub fn meter(&self) -> Option<Stamped<GridReading>> {
        self.meter_reading
    }

    /// The BMS's newest state.
    pub fn bms(&self) -> Option<Stamped<BmsState>> {
        self.bms_reading
    }

    /// PV array `i`'s status.
    pub fn pv_status(&self, i: usize) -> Option<Stamped<PvStatus>> {
        self.pv.get(i).map(|pv| {
            Stamped::new(
                self.now,
                PvStatus {
                    power_w: pv.power,
                    limit_w: pv.limit.effective(self.now),
                    rated_w: pv.params.rated_w,
                    energy_wh: Some(pv.energy),
                },
            )
        })
    }

    /// Sets PV array `i`'s limit.
    pub fn set_pv_limit(&mut self, i: usize, now: Timestamp, limit: Option<Watts>) {
        if let Some(pv) = self.pv.get_mut(i) {
            pv.limit.set(now, limit);
        }
    }

    /// Drops PV array `i`'s limit: its fallback limit applies.
    pub fn reset_pv_limit(&mut self, i: usize) {
        if let Some(pv) = self.pv.get_mut(i) {
            pv.limit.reset();
        }
    }

    /// What every actuator is doing now, as the model sees it.
    pub fn actuators(&self) -> Actuators {
        let now = self.now;
        Actuators {
            converter: self.converter.as_ref().map(|c| c.effective(now)),
            converter_power_w: self.converter.as_ref().map(|c| c.status(now).power_w),
            changeover: self.changeover.as_ref().map(|r| r.on),
            relays: self.relays.iter().map(|r| r.on).collect(),
            pv_limits_w: self.pv.iter().map(|p| p.limit.effective(now)).collect(),
            charge_limits: self.car.as_ref().map(|c| c.granted(now)),
            led: self.led,
        }
    }

    /// The converter's status. Its DC port's voltage is measured while it is on the inlet.
    pub fn converter_status(&self) -> Option<Stamped<ConverterStatus>> {
        let inlet = self
            .inlet
            .as_ref()
            .filter(|_| port_is_vehicle(self.changeover.as_ref()))
            .map(Inlet::voltage);
        self.converter.as_ref().map(|c| {
            let mut status = c.status(self.now);
            status.dc_voltage_v = inlet;
            Stamped::new(self.now, status)
        })
    }

    /// The control pilot as the charger measures it.
    pub fn pilot_reading(&self) -> Option<Stamped<devices::PilotReading>> {
        let shorted = self.silent(Fault::PilotShorted);
        self.inlet.as_ref().map(|i| {
            let reading = if shorted {
                devices::PilotReading {
                    high: units::Volts(0.0),
                    low: Some(units::Volts(0.0)),
                }
            } else {
                i.pilot_reading()
            };
            Stamped::new(self.now, reading)
        })
    }

    /// The charger drives `signal` onto the pilot.
    pub fn set_pilot_signal(&mut self, signal: devices::PilotSignal) {
        if let Some(i) = &mut self.inlet {
            i.signal = signal;
        }
    }

    /// What the car on the inlet does to the pilot.
    pub fn set_pilot_load(&mut self, load: PilotLoad) {
        if let Some(i) = &mut self.inlet {
            i.load = load;
        }
    }

    /// What the car on the inlet does to the pilot.
    pub fn pilot_load(&self) -> Option<PilotLoad> {
        self.inlet.as_ref().map(|i| i.load)
    }

    /// The inlet's DC voltage.
    pub fn inlet_voltage(&self) -> Option<Stamped<units::Volts>> {
        self.inlet
            .as_ref()
            .map(|i| Stamped::new(self.now, i.voltage()))
    }

    /// Starts or stops an isolation test.
    pub fn set_isolation_testing(&mut self, testing: bool) {
        let now = self.now;
        if let Some((since, _)) = &mut self.imd {
            match (testing, *since) {
                (true, None) => *since = Some(now),
                (false, Some(_)) => *since = None,
                _ => {}
            }
        }
    }

    /// The isolation monitor's verdict: testing for 1.5 s, then its configured result.
    pub fn isolation(&self) -> Option<Stamped<devices::Isolation>> {
        let (since, result) = self.imd?;
        let result = if self.silent(Fault::IsolationFault) {
            devices::Isolation::Fault
        } else {
            result
        };
        let verdict = match since {
            Some(t) if self.now.saturating_duration_since(t) >= Duration::from_millis(1500) => {
                result
            }
            Some(_) => devices::Isolation::Testing,
            None => devices::Isolation::Unknown,
        };
        Some(Stamped::new(self.now, verdict))
    }

    /// Commands the converter.
    pub fn command_converter(&mut self, now: Timestamp, cmd: devices::ConverterCommand) {
        if let Some(c) = &mut self.converter {
            c.command(now, cmd);
        }
    }

    /// The charge point's status.
    pub fn charge_point_status(&self) -> Option<Stamped<ChargePointStatus>> {
        self.car
            .as_ref()
            .map(|c| Stamped::new(self.now, c.status(self.now)))
    }

    /// Grants the charge point limits.
    pub fn set_charge_limits(&mut self, now: Timestamp, limits: devices::ChargeLimits) {
        if let Some(c) = &mut self.car {
            c.set_limits(now, limits);
        }
    }

    fn relay_slot(&mut self, which: RelayRef) -> Option<&mut RelaySlot> {
        match which {
            RelayRef::Changeover => self.changeover.as_mut(),
            RelayRef::Load(i) => self.relays.get_mut(i),
            RelayRef::Precharge => None,
        }
    }

    /// Switches a relay.
    pub fn set_relay(&mut self, which: RelayRef, on: bool) {
        if which == RelayRef::Precharge {
            if let Some(i) = &mut self.inlet {
                i.precharge = on;
            }
        } else if let Some(r) = self.relay_slot(which) {
            r.on = on;
        }
    }

    /// A relay's state.
    pub fn relay(&self, which: RelayRef) -> Option<bool> {
        match which {
            RelayRef::Changeover => self.changeover.as_ref().map(|r| r.on),
            RelayRef::Load(i) => self.relays.get(i).map(|r| r.on),
            RelayRef::Precharge => self.inlet.as_ref().map(|i| i.precharge),
        }
    }

    /// The button's press counter.
    pub fn presses(&self) -> u64 {
        self.presses
    }

    /// Sets the LED.
    pub fn set_led(&mut self, mode: LedMode) {
        self.led = mode;
    }

    /// The LED.
    pub fn led(&self) -> LedMode {
        self.led
    }

    /// The price at `t`.
    pub fn price_at(&self, t: Timestamp) -> Option<PricePerKwh> {
        if let Some(p) = self.recorded_at(t) {
            return p;
        }
        let l = self.local(t);
        let hour = f64::from(l.hour()) + f64::from(l.minute()) / 60.0;
        self.price.price(self.seed, t, hour)
    }

    /// The market's price slots overlapping `[from, to)` (15 minutes, or one slot for a fixed
    /// price), up to what the market has published by now (see [`World::price_horizon`]).
    pub fn prices(&self, from: Timestamp, to: Timestamp) -> Vec<devices::PriceSlot> {
        let to = self.price_horizon().map_or(to, |h| to.min(h));
        if let Some(r) = &self.recorded {
            return r
                .iter()
                .filter(|s| s.end > from && s.start < to)
                .copied()
                .collect();
        }
        match self.price {
            PriceModel::None => Vec::new(),
            PriceModel::Fixed { price } => {
                devices::Tariff::prices(&devices::FixedTariff(price), from, to)
            }
            PriceModel::SimMarket { .. } => {
                let slot_us = price::SLOT_SECS * 1_000_000;
                let mut start = Timestamp::from_unix_micros(
                    from.as_unix_micros().div_euclid(slot_us) * slot_us,
                );
                let mut out = Vec::new();
                while start < to {
                    let end = Timestamp::from_unix_micros(start.as_unix_micros() + slot_us);
                    if let Some(price) = self.price_at(start) {
                        out.push(devices::PriceSlot { start, end, price });
                    }
                    start = end;
                }
                out
            }
        }
    }

    /// How far the synthetic market (or the recorded prices) has published: like a day-ahead market, tomorrow's prices
    /// from 13:00 local time on, else today's. `None` for a fixed price (known for any time).
    pub fn price_horizon(&self) -> Option<Timestamp> {
        match self.price {
            PriceModel::None | PriceModel::Fixed { .. } if self.recorded.is_none() => None,
            _ => {
                let local = self.local(self.now);
                let days = if local.hour() >= 13 { 2 } else { 1 };
                let end = local
                    .date()
                    .checked_add(jiff::Span::new().days(days))
                    .ok()
                    .and_then(|d| {
                        self.timezone
                            .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                            .ok()
                    })
                    .map(Timestamp::from_jiff);
                let end = end.unwrap_or(self.now);
                // A recording ends where it ends.
                let recorded_end = self.recorded.as_ref().and_then(|r| r.last()).map(|s| s.end);
                Some(recorded_end.map_or(end, |r| end.min(r)))
            }
        }
    }

    /// The world's own PV forecast, as a planner would get it from a forecast service: the
    /// clear-sky power of every array over `[from, to)` times the weather's mean transmittance
    /// (clear, mixed and overcast days in their proportions), sampled every 5 minutes.
    pub fn pv_forecast(&self, from: Timestamp, to: Timestamp) -> Watts {
        /// 0.45 × 0.98 + 0.35 × 0.8 (mixed, with clouds passing) + 0.2 × 0.3.
        const MEAN_SKY: f64 = 0.78;
        let mut t = from;
        let (mut sum, mut n) = (0.0, 0u32);
        while t < to {
            let sun = solar::sun_position(t, self.location);
            sum += self
                .pv
                .iter()
                .map(|pv| {
                    let poa = solar::clear_sky_poa(
                        sun,
                        pv.params.tilt_deg.to_radians(),
                        pv.params.azimuth_deg.to_radians(),
                    ) * MEAN_SKY;
                    solar::pv_ac_power(&pv.params, poa).0
                })
                .sum::<f64>();
            n += 1;
            t += Duration::from_secs(300);
        }
        Watts(if n > 0 { sum / f64::from(n) } else { 0.0 })
    }

    /// The house's mean load over `[from, to)` as its model makes it on average: standby and
    /// fridge, appliances (about 7 kWh a day at activity 1.0, more in the evening), lights
    /// after dark.
    pub fn load_forecast(&self, from: Timestamp, to: Timestamp) -> Watts {
        let h = &self.house_params;
        let mid = from + to.saturating_duration_since(from) / 2;
        let hour = self.local(mid).hour();
        let evening = (17..23).contains(&hour);
        let awake = (6..23).contains(&hour);
        let appliances = if evening {
            350.0
        } else if awake {
            200.0
        } else {
            60.0
        };
        let lights = if evening || (6..8).contains(&hour) {
            h.lights_w.0
        } else {
            0.0
        };
        Watts(h.standby_w.0 + appliances * h.activity + lights)
    }

    /// Energy totals so far.
    pub fn totals(&self) -> EnergyTotals {
        self.totals
    }

    /// The summary report from the start to now.
    pub fn report(&self) -> Report {
        let t = self.totals;
        let balance = t.pv + t.grid_import + t.battery_discharge + t.ev_discharge
            - t.load
            - t.grid_export
            - t.battery_charge
            - t.ev_charge;
        let battery_end = self.battery.as_ref().map(|b| (b.soc(), b.stored()));
        let car_end = self.car.as_ref().map(|c| (c.soc(), c.stored()));
        let stored_delta = |start: Option<(Percent, WattHours)>,
                            end: Option<(Percent, WattHours)>| {
            match (start, end) {
                (Some((_, a)), Some((_, b))) => (b - a).0,
                _ => 0.0,
            }
        };
        // The car's trips take energy out of its battery that never crossed the AC bus.
        let trips = self.car_trip_energy();
        // A real car's battery (on the powerline, not simulated) keeps what reached it.
        let losses = (t.battery_charge
            - t.battery_discharge
            - stored_delta(self.battery_start, battery_end))
            + (t.ev_charge - t.ev_discharge - stored_delta(self.car_start, car_end) - trips
                + self.car_topped_up_energy()
                - self.external_car_wh);
        let pct = |num: f64, den: f64| if den > 0.0 { 100.0 * num / den } else { 0.0 };
        Report {
            start: self.start,
            end: self.now,
            seed: self.seed,
            energy: t,
            balance_error_wh: balance,
            battery_soc_start_pct: self.battery_start.map(|s| s.0.0),
            battery_soc_end_pct: battery_end.map(|s| s.0.0),
            ev_soc_start_pct: self.car_start.map(|s| s.0.0),
            ev_soc_end_pct: car_end.map(|s| s.0.0),
            losses_wh: losses,
            self_sufficiency_pct: pct(t.load - t.grid_import, t.load).clamp(0.0, 100.0),
            self_consumption_pct: pct(t.pv - t.grid_export, t.pv).clamp(0.0, 100.0),
        }
    }

    /// Makes the simulated driver top the car up to `target` at a public charger whenever it
    /// leaves below it (none: never; the default). The week comparison uses it so that every
    /// strategy delivers the same service; [`Self::car_topped_up_energy`] says how much.
    pub fn set_car_top_up(&mut self, target: Option<Percent>) {
        if let Some(c) = &mut self.car {
            c.set_top_up(target);
        }
    }

    /// Energy the simulated car was topped up with away from home since the start, Wh.
    pub fn car_topped_up_energy(&self) -> f64 {
        self.car.as_ref().map_or(0.0, Car::topped_up_wh)
    }

    /// Energy the simulated car used on its trips since the start, Wh (a trip takes what the
    /// battery has down to 5 %, so an empty car drives less of it).
    pub fn car_trip_energy(&self) -> f64 {
        self.car.as_ref().map_or(0.0, Car::trip_energy_wh)
    }
}

/// The state of every simulated actuator, with set-point watchdogs applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Actuators {
    /// The converter's effective command.
    pub converter: Option<devices::ConverterCommand>,
    /// The converter's AC power.
    pub converter_power_w: Option<Watts>,
    /// The changeover relay.
    pub changeover: Option<bool>,
    /// Load relays.
    pub relays: Vec<bool>,
    /// PV limits in force.
    pub pv_limits_w: Vec<Option<Watts>>,
    /// Limits the charge point grants the car.
    pub charge_limits: Option<devices::ChargeLimits>,
    /// The LED.
    pub led: LedMode,
}

/// Which simulated relay a [`SimRelay`] drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayRef {
    /// The changeover relay.
    Changeover,
    /// A load relay, by index.
    Load(usize),
    /// The CCS inlet's precharge relay.
    Precharge,
}

trait OverSecs {
    fn over_secs(self, dt: f64) -> f64;
    fn over_secs_wh(self, dt: f64) -> WattHours;
}

impl OverSecs for Watts {
    fn over_secs(self, dt: f64) -> f64 {
        self.0 * dt / 3600.0
    }
    fn over_secs_wh(self, dt: f64) -> WattHours {
        WattHours(self.over_secs(dt))
    }
}
