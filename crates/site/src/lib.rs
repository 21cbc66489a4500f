//! The site: the configured devices behind their role traits, and the [`SiteController`] that
//! drives them, one [`Site::tick`] at a time.
//!
//! A tick reads every device's newest state, runs one controller step and applies the commands.
//! It is synchronous and never blocks (device traits are facades over state their backends keep
//! up to date), so the same `Site` runs in real time on the board and in lock-step on virtual
//! time in the simulation.
//!
//! [`Site::shutdown`] puts every actuator into its documented safe state; the driver then waits
//! (bounded) until [`Site::is_safe`] confirms it before the process exits.

mod planning;

pub use planning::{
    Forecast, PlanInputs, PlanStatus, PlanStepView, PlanView, PlannerSettings, Planning, Trigger,
    intent_for,
};

use controller::{Commands, ControllerStatus, Inputs, SiteController};
use devices::{
    Bms, BmsState, ButtonLed, ChargePoint, ChargePointStatus, Converter, ConverterStatus,
    DeviceError, DeviceStatus, GridMeter, GridReading, Monitored, PvInverter, PvStatus, Relay,
    Stamped, Tariff,
};
use serde::Serialize;
use units::{PricePerKwh, Timestamp, Watts};

/// A device with its configured name.
#[derive(Debug)]
pub struct Named<T> {
    /// The name from the configuration.
    pub name: String,
    /// The device.
    pub device: T,
}

impl<T> Named<T> {
    /// Names a device.
    pub fn new(name: impl Into<String>, device: T) -> Self {
        Self {
            name: name.into(),
            device,
        }
    }
}

/// Every device of the site. Rule relays are in the same order as the controller's relay rules,
/// PV inverters in the order of its `pv_rated`.
#[derive(Default)]
pub struct Devices {
    /// The grid meter.
    pub grid_meter: Option<Box<dyn GridMeter>>,
    /// PV inverters.
    pub pv: Vec<Named<Box<dyn PvInverter>>>,
    /// The home battery's BMS.
    pub bms: Option<Box<dyn Bms>>,
    /// The converter.
    pub converter: Option<Box<dyn Converter>>,
    /// The charge point.
    pub charge_point: Option<Box<dyn ChargePoint>>,
    /// The changeover relay (DC port to the car).
    pub changeover: Option<Box<dyn Relay>>,
    /// Relays switched by rules.
    pub relays: Vec<Named<Box<dyn Relay>>>,
    /// The button with LED.
    pub button: Option<Box<dyn ButtonLed>>,
    /// The price source.
    pub tariff: Option<Box<dyn Tariff>>,
    /// PV and load forecasts for the planner.
    pub forecast: Option<Box<dyn Forecast>>,
    /// Devices that report their health (`/api/v1/status` `devices`), whatever their role.
    pub monitored: Vec<Box<dyn Monitored>>,
}

impl std::fmt::Debug for Devices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devices")
            .field("grid_meter", &self.grid_meter.is_some())
            .field("pv", &self.pv.iter().map(|p| &p.name).collect::<Vec<_>>())
            .field("bms", &self.bms.is_some())
            .field("converter", &self.converter.is_some())
            .field("charge_point", &self.charge_point.is_some())
            .field("changeover", &self.changeover.is_some())
            .field(
                "relays",
                &self.relays.iter().map(|r| &r.name).collect::<Vec<_>>(),
            )
            .field("button", &self.button.is_some())
            .field("tariff", &self.tariff.is_some())
            .field("forecast", &self.forecast.is_some())
            .field("monitored", &self.monitored.len())
            .finish()
    }
}

/// A PV inverter in the snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PvSnapshot {
    /// Its name.
    pub name: String,
    /// Its newest status.
    pub status: Option<Stamped<PvStatus>>,
}

/// A relay in the snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelaySnapshot {
    /// Its name.
    pub name: String,
    /// Its read-back state.
    pub on: Option<bool>,
}

/// Everything one tick saw and decided: the live state for the API, the UI and history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// When the tick ran.
    pub time: Timestamp,
    /// Grid meter.
    pub grid: Option<Stamped<GridReading>>,
    /// PV inverters.
    pub pv: Vec<PvSnapshot>,
    /// Total PV power (fresh readings only).
    pub pv_power_w: Watts,
    /// Home battery.
    pub battery: Option<Stamped<BmsState>>,
    /// Converter.
    pub converter: Option<Stamped<ConverterStatus>>,
    /// Charge point and car.
    pub charge_point: Option<Stamped<ChargePointStatus>>,
    /// Changeover relay read-back.
    pub changeover: Option<bool>,
    /// Rule relays.
    pub relays: Vec<RelaySnapshot>,
    /// Current price.
    pub price: Option<PricePerKwh>,
    /// Current feed-in (export) price, where the tariff knows one.
    pub feed_in_price: Option<PricePerKwh>,
    /// The controller's decisions.
    pub controller: ControllerStatus,
    /// The commands applied.
    pub commands: Commands,
    /// Devices that refused a command in this tick.
    pub device_errors: Vec<String>,
    /// The health of every device that reports it.
    pub devices: Vec<DeviceStatus>,
}

/// The site. See the crate docs.
#[derive(Debug)]
pub struct Site {
    devices: Devices,
    controller: SiteController,
    planning: Option<Planning>,
}

impl Site {
    /// A site from its devices and its controller.
    pub fn new(devices: Devices, controller: SiteController) -> Self {
        Self {
            devices,
            controller,
            planning: None,
        }
    }

    /// Plans with `planning`: its current step's intent becomes the controller's input.
    pub fn set_planning(&mut self, planning: Planning) {
        self.planning = Some(planning);
    }

    /// The planning task, if any.
    pub fn planning(&self) -> Option<&Planning> {
        self.planning.as_ref()
    }

    /// The planning task, if any (to change the departure).
    pub fn planning_mut(&mut self) -> Option<&mut Planning> {
        self.planning.as_mut()
    }

    /// The controller (to change modes).
    pub fn controller_mut(&mut self) -> &mut SiteController {
        &mut self.controller
    }

    /// The controller.
    pub fn controller(&self) -> &SiteController {
        &self.controller
    }

    /// One tick at `now`: read, decide, apply.
    pub fn tick(&mut self, now: Timestamp) -> Snapshot {
        let d = &mut self.devices;
        let grid = d.grid_meter.as_ref().and_then(|m| m.reading());
        let pv: Vec<_> = d.pv.iter().map(|p| p.device.status()).collect();
        let bms = d.bms.as_ref().and_then(|b| b.state());
        let converter = d.converter.as_ref().and_then(|c| c.status());
        let charge_point = d.charge_point.as_ref().and_then(|c| c.status());
        let changeover_feedback = d.changeover.as_ref().and_then(|r| r.feedback());
        let price = d.tariff.as_ref().and_then(|t| t.price_at(now));
        let feed_in_price = d.tariff.as_ref().and_then(|t| t.feed_in_at(now));
        let button_presses = d.button.as_ref().map_or(0, |b| b.presses());
        let plan = match &mut self.planning {
            Some(p) if p.settings().enabled => {
                let c = &self.controller.config().control;
                p.tick(
                    now,
                    self.controller.config(),
                    &PlanInputs {
                        tariff: d.tariff.as_deref(),
                        forecast: d.forecast.as_deref(),
                        battery_soc: bms
                            .and_then(|b| b.fresh(now, c.bms_timeout).map(|b| b.soc_pct)),
                        charge_point: charge_point
                            .and_then(|s| s.fresh(now, c.charge_point_timeout).copied()),
                    },
                )
            }
            _ => None,
        };
        let commands = self.controller.step(
            now,
            &Inputs {
                grid,
                pv: &pv,
                bms,
                converter,
                charge_point,
                changeover_feedback,
                price,
                button_presses,
                plan,
            },
        );

        let mut errors = Vec::new();
        let mut note = |r: Result<(), DeviceError>| {
            if let Err(e) = r {
                errors.push(e.to_string());
            }
        };
        if let Some(c) = &mut d.converter {
            note(c.command(now, commands.converter));
        }
        if let (Some(relay), Some(on)) = (&mut d.changeover, commands.changeover) {
            note(relay.set(now, on));
        }
        for (p, limit) in d.pv.iter_mut().zip(&commands.pv_limits) {
            note(p.device.set_limit(now, *limit));
        }
        if let Some(cp) = &mut d.charge_point {
            note(cp.set_limits(now, commands.charge_limits));
        }
        for (r, on) in d.relays.iter_mut().zip(&commands.relays) {
            note(r.device.set(now, *on));
        }
        if let Some(b) = &mut d.button {
            note(b.set_led(now, commands.led));
        }

        let meter_timeout = self.controller.config().control.meter_timeout;
        let pv_power_w = pv
            .iter()
            .filter_map(|s| s.and_then(|s| s.fresh(now, meter_timeout).map(|v| v.power_w)))
            .sum();
        Snapshot {
            time: now,
            grid,
            pv: d
                .pv
                .iter()
                .zip(pv)
                .map(|(p, status)| PvSnapshot {
                    name: p.name.clone(),
                    status,
                })
                .collect(),
            pv_power_w,
            battery: bms,
            converter,
            charge_point,
            changeover: changeover_feedback.map(|f| f.value),
            relays: d
                .relays
                .iter()
                .map(|r| RelaySnapshot {
                    name: r.name.clone(),
                    on: r.device.is_on(),
                })
                .collect(),
            price,
            feed_in_price,
            controller: self.controller.status().clone(),
            commands,
            device_errors: errors,
            devices: d.monitored.iter().map(|m| m.device_status(now)).collect(),
        }
    }

    /// Puts every actuator into its safe state. Returns the devices that refused; their
    /// backends fall back on their own set-point watchdogs.
    pub fn shutdown(&mut self, now: Timestamp) -> Vec<String> {
        let d = &mut self.devices;
        let mut errors = Vec::new();
        let mut note = |r: Result<(), DeviceError>| {
            if let Err(e) = r {
                errors.push(e.to_string());
            }
        };
        // The converter first: power must stop before anything else changes.
        if let Some(c) = &mut d.converter {
            note(c.safe_state(now));
        }
        if let Some(cp) = &mut d.charge_point {
            note(cp.safe_state(now));
        }
        for p in &mut d.pv {
            note(p.device.safe_state(now));
        }
        for r in &mut d.relays {
            note(r.device.safe_state(now));
        }
        if let Some(b) = &mut d.button {
            note(b.safe_state(now));
        }
        errors
    }

    /// The changeover relay is only opened once the converter is idle (it must never break DC
    /// under load). Call after [`shutdown`](Self::shutdown) until it returns true or the
    /// driver's patience ends. Returns true when the converter is idle and every relay is off.
    pub fn is_safe(&mut self, now: Timestamp) -> bool {
        self.not_yet_safe(now).is_none()
    }

    /// [`is_safe`](Self::is_safe), with what is not safe yet (for the log of a shutdown that
    /// runs out of patience).
    pub fn not_yet_safe(&mut self, now: Timestamp) -> Option<String> {
        let idle_w = self.controller.config().control.changeover.idle_w;
        let d = &mut self.devices;
        // Idle as read after the device took the safe command: an older reading may show a
        // converter merely passing through 0 W on its way to the last set-point.
        let busy = d.converter.as_ref().and_then(|c| {
            if !c.safe_state_held() {
                return Some("the converter has not acknowledged the stop".to_owned());
            }
            match c.status() {
                None => Some("the converter's state is unknown".to_owned()),
                Some(s) if s.value.enabled => Some("the converter is still enabled".to_owned()),
                Some(s) if s.value.power_w.abs() >= idle_w => {
                    Some(format!("the converter still carries {}", s.value.power_w))
                }
                Some(_) => None,
            }
        });
        if busy.is_none()
            && let Some(r) = &mut d.changeover
        {
            // Idle: the DC port can be released. An error leaves it as it is.
            let _ = r.safe_state(now);
        }
        let charge_point_safe = d.charge_point.as_mut().is_none_or(|c| c.is_safe(now));
        let relay_on = d
            .relays
            .iter()
            .find(|r| r.device.is_on() == Some(true))
            .map(|r| format!("relay {} is still on", r.name));
        let changeover_on = d
            .changeover
            .as_ref()
            .is_some_and(|r| r.is_on() == Some(true));
        busy.or(relay_on)
            .or_else(|| changeover_on.then(|| "the changeover relay is still closed".to_owned()))
            .or_else(|| {
                (!charge_point_safe)
                    .then(|| "the charge point has not released its port".to_owned())
            })
    }
}
