//! The site controller: sans-IO, `step(now, inputs) -> commands`.
//!
//! Once per tick the driver gathers the newest readings of every device ([`Inputs`]), calls
//! [`SiteController::step`] with the current time and applies the returned [`Commands`]. The
//! controller reads no clock, does no I/O and cannot fail; everything it decides is visible in
//! [`SiteController::status`].
//!
//! What it does, in order of precedence:
//! 1. **Safety.** A grid reading older than `meter_timeout` stops regulation (0 W). A BMS state
//!    older than `bms_timeout` (2 s) zeroes both battery limits. A BMS alarm stops the converter
//!    while the battery is on the DC port. The changeover relay never switches under load.
//! 2. **Mode and prices.** Off, hold (no discharge), charge from grid, or self-consumption with
//!    price thresholds that switch to grid charging or block discharge.
//! 3. **The grid loop.** A PI loop holds the grid power at its target by moving the converter's
//!    set-point within the active store's limits (BMS or car, SoC window, converter rating).
//! 4. **Curtailment** of PV above the export limit, **relay rules**, the **button** (toggles
//!    whether the car may be served) and the **LED**.

mod config;
mod curtail;
mod intent;
mod pi;
mod port;
mod relay_rule;

use devices::{
    BmsAlarms, BmsState, ChargeLimits, ChargePointState, ChargePointStatus, ConverterCommand,
    ConverterStatus, GridReading, LedMode, PvStatus, Stamped,
};
use serde::Serialize;
use units::{Amps, Percent, PricePerKwh, Timestamp, Watts};

pub use config::{
    BatterySettings, ChangeoverSettings, ConfigError, ControlSettings, ControllerConfig,
    ConverterRating, EvSettings, Mode, PriceSettings, RelayRule,
};
pub use intent::{IntentSource, StepIntent, StoreIntent};
pub use port::{Port, PortState};
pub use relay_rule::{Condition, RelayOverride, RelayReason, Threshold};

use crate::curtail::Curtailment;
use crate::pi::GridLoop;
use crate::port::Changeover;
use crate::relay_rule::{RelayRuleState, RuleInputs};

/// The newest readings of every device, as the driver gathered them for one tick.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// The grid meter.
    pub grid: Option<Stamped<GridReading>>,
    /// Each PV inverter, in configuration order.
    pub pv: &'a [Option<Stamped<PvStatus>>],
    /// The home battery's BMS.
    pub bms: Option<Stamped<BmsState>>,
    /// The converter.
    pub converter: Option<Stamped<ConverterStatus>>,
    /// The charge point.
    pub charge_point: Option<Stamped<ChargePointStatus>>,
    /// The changeover relay's read-back, if it has one, with when it was read.
    pub changeover_feedback: Option<Stamped<bool>>,
    /// The current energy price.
    pub price: Option<PricePerKwh>,
    /// The button's press counter.
    pub button_presses: u64,
    /// The planner's intent for the current step, if a plan runs. It applies in
    /// self-consumption mode; without it, or in a manual mode, the mode and the price
    /// thresholds make the intent ([`StepIntent::from_rules`]).
    pub plan: Option<StepIntent>,
}

/// What the driver must apply after a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Commands {
    /// The converter command.
    pub converter: ConverterCommand,
    /// The changeover relay (true = DC port to the car); `None` if the site has none.
    pub changeover: Option<bool>,
    /// One limit per PV inverter (`None` = unlimited).
    pub pv_limits: Vec<Option<Watts>>,
    /// What the charge point may offer the car.
    pub charge_limits: ChargeLimits,
    /// One state per rule relay.
    pub relays: Vec<bool>,
    /// The indicator LED.
    pub led: LedMode,
}

/// What the grid loop does this tick, and why.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Behaviour {
    /// Holding the grid at its target.
    Regulating,
    /// Holding the grid at its target, without discharging.
    RegulatingNoDischarge {
        /// Why discharge is blocked.
        reason: NoDischargeReason,
    },
    /// Charging at a fixed power from the grid.
    ChargingFromGrid {
        /// Why.
        reason: GridChargeReason,
    },
    /// The converter is stopped or held at 0 W.
    Stopped {
        /// Why.
        reason: StopReason,
    },
}

/// Why discharge is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoDischargeReason {
    /// The mode is hold.
    HoldMode,
    /// The price is at or below `no_discharge_below`.
    CheapPrice,
    /// The plan keeps the stored energy for later.
    Plan,
}

/// Why the site charges from the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GridChargeReason {
    /// The mode is charge-from-grid.
    Mode,
    /// The price is at or below `grid_charge_below`.
    CheapPrice,
    /// The price is at or below `ev_charge_below` and the car is on the port.
    CheapPriceForCar,
    /// The plan charges from the grid now.
    Plan,
}

/// Why the converter is stopped or at 0 W.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// The mode is off.
    ModeOff,
    /// The site has no converter.
    NoConverter,
    /// The BMS reports an alarm.
    BmsAlarm,
    /// The converter reports a fault.
    ConverterFault,
    /// The grid reading is stale: nothing to regulate against.
    MeterStale,
    /// The DC port is being switched.
    Changeover,
    /// The active store allows neither charge nor discharge.
    NoHeadroom,
}

/// Something the user should know about; shown on the status page.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Warning {
    /// No grid reading within `meter_timeout`.
    MeterStale,
    /// No BMS state within `bms_timeout`; battery limits are zero.
    BmsSilent,
    /// The BMS reports alarms.
    BmsAlarm {
        /// The active alarms.
        alarms: BmsAlarms,
    },
    /// The converter reports a fault.
    ConverterFault,
    /// The converter's power is unknown, so the changeover relay cannot switch safely.
    ConverterStatusUnknown,
    /// The changeover relay's read-back disagrees with its command.
    ChangeoverFault,
    /// The charge point status is stale; the car is treated as absent.
    ChargePointStale,
}

/// One rule relay's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelayStatus {
    /// Its name.
    pub name: String,
    /// Commanded state.
    pub on: bool,
    /// Why.
    pub reason: RelayReason,
}

/// Everything the controller decided in its last step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControllerStatus {
    /// The selected mode.
    pub mode: Mode,
    /// What the loop does.
    pub behaviour: Behaviour,
    /// The changeover sequence.
    pub port: PortState,
    /// Whether the car may be served (button).
    pub ev_enabled: bool,
    /// The converter set-point (+ = charge).
    pub setpoint_w: Watts,
    /// The active store's charge limit.
    pub charge_limit_w: Watts,
    /// The active store's discharge limit.
    pub discharge_limit_w: Watts,
    /// The total PV limit, if curtailing.
    pub pv_limit_w: Option<Watts>,
    /// The price the decision used.
    pub price: Option<PricePerKwh>,
    /// The intent the step executed: the plan's, or the rules'.
    pub intent: StepIntent,
    /// Rule relays.
    pub relays: Vec<RelayStatus>,
    /// Active warnings.
    pub warnings: Vec<Warning>,
}

/// A hysteresis gate on a state of charge: blocked at the limit, free again `hysteresis` away.
#[derive(Debug, Clone, Copy, Default)]
struct SocGate {
    blocked: bool,
}

impl SocGate {
    /// Upper gate: blocks at or above `limit`.
    fn upper(&mut self, soc: Percent, limit: Percent, hysteresis: Percent) -> bool {
        self.blocked = if self.blocked {
            soc > limit - hysteresis
        } else {
            soc >= limit
        };
        !self.blocked
    }

    /// Lower gate: blocks at or below `limit`.
    fn lower(&mut self, soc: Percent, limit: Percent, hysteresis: Percent) -> bool {
        self.blocked = if self.blocked {
            soc < limit + hysteresis
        } else {
            soc <= limit
        };
        !self.blocked
    }
}

/// The site controller. See the crate docs.
#[derive(Debug)]
pub struct SiteController {
    cfg: ControllerConfig,
    mode: Mode,
    ev_enabled: bool,
    grid_loop: GridLoop,
    changeover: Changeover,
    curtail: Curtailment,
    relays: Vec<RelayRuleState>,
    relay_overrides: Vec<RelayOverride>,
    ev_max_current: Option<Amps>,
    battery_charge_gate: SocGate,
    battery_discharge_gate: SocGate,
    ev_charge_gate: SocGate,
    ev_discharge_gate: SocGate,
    last_presses: Option<u64>,
    status: ControllerStatus,
}

impl SiteController {
    /// A controller for `cfg`, starting at `now`.
    pub fn new(cfg: ControllerConfig, now: Timestamp) -> Result<Self, ConfigError> {
        cfg.validate()?;
        // The relay is off (battery) at start; it has not just moved.
        let changeover = Changeover::new(now - cfg.control.changeover.settle);
        let relays: Vec<_> = cfg.relays.iter().map(RelayRuleState::new).collect();
        let status = ControllerStatus {
            mode: cfg.control.mode,
            behaviour: Behaviour::Stopped {
                reason: StopReason::MeterStale,
            },
            port: changeover.state(),
            ev_enabled: cfg.control.ev.enabled_at_start,
            setpoint_w: Watts::ZERO,
            charge_limit_w: Watts::ZERO,
            discharge_limit_w: Watts::ZERO,
            pv_limit_w: None,
            price: None,
            intent: StepIntent::from_rules(cfg.control.mode, &cfg.control, None),
            relays: cfg
                .relays
                .iter()
                .map(|r| RelayStatus {
                    name: r.name.clone(),
                    on: false,
                    reason: RelayReason::ConditionsNotMet,
                })
                .collect(),
            warnings: Vec::new(),
        };
        Ok(Self {
            mode: cfg.control.mode,
            ev_enabled: cfg.control.ev.enabled_at_start,
            grid_loop: GridLoop::new(),
            changeover,
            curtail: Curtailment::default(),
            relay_overrides: vec![RelayOverride::Auto; relays.len()],
            relays,
            ev_max_current: None,
            battery_charge_gate: SocGate::default(),
            battery_discharge_gate: SocGate::default(),
            ev_charge_gate: SocGate::default(),
            ev_discharge_gate: SocGate::default(),
            last_presses: None,
            status,
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ControllerConfig {
        &self.cfg
    }

    /// Selects the operating mode (from the API or MQTT).
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    /// The selected mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Allows or forbids serving the car (the button toggles this too).
    pub fn set_ev_enabled(&mut self, enabled: bool) {
        self.ev_enabled = enabled;
    }

    /// Sets the car's charge target (stop charging at this SoC) and whether it may discharge
    /// into the house (V2H), checked like the configuration's `[control.ev]`; on an error
    /// nothing changes.
    pub fn set_ev_limits(&mut self, target_soc_pct: Percent, v2h: bool) -> Result<(), ConfigError> {
        let mut cfg = self.cfg.clone();
        cfg.control.ev.target_soc_pct = target_soc_pct;
        cfg.control.ev.v2h = v2h;
        cfg.validate()?;
        self.cfg = cfg;
        Ok(())
    }

    /// Caps the DC current into the car (`None`: the car's and the converter's limits alone).
    /// Applied as power at the inlet's voltage (measured, else the car's target voltage).
    pub fn set_ev_max_current(&mut self, limit: Option<Amps>) -> Result<(), ConfigError> {
        if limit.is_some_and(|a| !(a.0.is_finite() && a.0 >= 0.0)) {
            return Err(ConfigError::Invalid {
                field: "ev_max_current_a".to_owned(),
                problem: "must be a number ≥ 0".to_owned(),
            });
        }
        self.ev_max_current = limit;
        Ok(())
    }

    /// The car's current cap, if any.
    pub fn ev_max_current(&self) -> Option<Amps> {
        self.ev_max_current
    }

    /// Forces rule relay `name` on or off, or gives it back to its rule. Errors if no rule
    /// relay has that name.
    pub fn set_relay_override(&mut self, name: &str, o: RelayOverride) -> Result<(), ConfigError> {
        let Some(i) = self.cfg.relays.iter().position(|r| r.name == name) else {
            return Err(ConfigError::Invalid {
                field: format!("relays.{name}"),
                problem: "no rule relay has this name".to_owned(),
            });
        };
        self.relay_overrides[i] = o;
        Ok(())
    }

    /// Each rule relay's override, in configuration order.
    pub fn relay_overrides(&self) -> impl Iterator<Item = (&str, RelayOverride)> {
        self.cfg
            .relays
            .iter()
            .map(|r| r.name.as_str())
            .zip(self.relay_overrides.iter().copied())
    }

    /// Whether the car may be served now (the status has it from the last step).
    pub fn ev_enabled(&self) -> bool {
        self.ev_enabled
    }

    /// What the last step decided.
    pub fn status(&self) -> &ControllerStatus {
        &self.status
    }

    /// The commands that put every actuator in its safe state (shutdown, fatal errors).
    pub fn safe_commands(&self) -> Commands {
        Commands {
            converter: ConverterCommand::SAFE,
            changeover: self.cfg.changeover.then_some(false),
            pv_limits: vec![None; self.cfg.pv_rated.len()],
            charge_limits: ChargeLimits::ZERO,
            relays: vec![false; self.cfg.relays.len()],
            led: LedMode::Off,
        }
    }

    /// One control step at `now`.
    pub fn step(&mut self, now: Timestamp, inp: &Inputs<'_>) -> Commands {
        let c = &self.cfg.control;
        let mut warnings = Vec::new();

        // 1. What we know, and how fresh it is.
        let grid = inp
            .grid
            .and_then(|g| g.fresh(now, c.meter_timeout).map(|r| (g.at, r.power_w)));
        if grid.is_none() {
            warnings.push(Warning::MeterStale);
        }
        let bms = inp.bms.and_then(|b| b.fresh(now, c.bms_timeout).copied());
        if self.cfg.battery && bms.is_none() {
            warnings.push(Warning::BmsSilent);
        }
        let bms_alarm = bms.filter(|b| b.alarms.any()).map(|b| b.alarms);
        if let Some(alarms) = bms_alarm {
            warnings.push(Warning::BmsAlarm { alarms });
        }
        let converter = inp
            .converter
            .and_then(|s| s.fresh(now, c.meter_timeout).copied());
        let converter_fault = converter.is_some_and(|s| s.fault);
        if converter_fault {
            warnings.push(Warning::ConverterFault);
        }
        let cp = match inp.charge_point {
            Some(s) => {
                let fresh = s.fresh(now, c.charge_point_timeout).copied();
                if fresh.is_none() {
                    warnings.push(Warning::ChargePointStale);
                }
                fresh
            }
            None => None,
        };
        let pv_now: Watts = inp
            .pv
            .iter()
            .filter_map(|s| s.and_then(|s| s.fresh(now, c.meter_timeout).map(|v| v.power_w)))
            .sum();

        // 2. The button toggles whether the car may be served.
        if let Some(last) = self.last_presses
            && inp.button_presses > last
            && (inp.button_presses - last) % 2 == 1
        {
            self.ev_enabled = !self.ev_enabled;
        }
        self.last_presses = Some(inp.button_presses);

        // 3. The DC port: sequenced here (a changeover relay of the site's), or held by the
        // charge point (the CCS charge point sequences its own relays and reports whether it
        // holds the port; the site's converter commands do not apply then).
        let car_ready = cp.is_some_and(|s| s.state == ChargePointState::Ready);
        let cp_holds_port = !self.cfg.changeover && cp.is_some_and(|s| s.owns_port);
        let port = if self.cfg.changeover {
            let want_vehicle = self.ev_enabled && car_ready && self.mode != Mode::Off;
            let converter_idle = converter.map(|s| s.power_w.abs() < c.changeover.idle_w);
            self.changeover.step(
                now,
                &c.changeover,
                want_vehicle,
                converter_idle,
                inp.changeover_feedback,
            )
        } else {
            self.changeover.follow(now, cp_holds_port, car_ready)
        };
        let port_state = self.changeover.state();
        if port_state == PortState::Fault {
            warnings.push(Warning::ChangeoverFault);
        }
        if matches!(
            port_state,
            PortState::ToVehicle { .. } | PortState::ToBattery { .. }
        ) && converter.is_none()
        {
            warnings.push(Warning::ConverterStatusUnknown);
        }

        // 4. The active store's limits.
        let rating = self.cfg.converter.unwrap_or(ConverterRating {
            max_charge_w: Watts::ZERO,
            max_discharge_w: Watts::ZERO,
        });
        let (mut charge_limit, mut discharge_limit) = match port.port {
            Port::Battery => match bms.filter(|_| self.cfg.battery) {
                Some(b) => {
                    let bc = &c.battery;
                    let charge_ok = self.battery_charge_gate.upper(
                        b.soc_pct,
                        bc.max_soc_pct,
                        bc.soc_hysteresis_pct,
                    );
                    let discharge_ok = self.battery_discharge_gate.lower(
                        b.soc_pct,
                        bc.min_soc_pct,
                        bc.soc_hysteresis_pct,
                    );
                    (
                        if charge_ok {
                            b.charge_limit().min(rating.max_charge_w)
                        } else {
                            Watts::ZERO
                        },
                        if discharge_ok {
                            b.discharge_limit().min(rating.max_discharge_w)
                        } else {
                            Watts::ZERO
                        },
                    )
                }
                None => (Watts::ZERO, Watts::ZERO),
            },
            Port::Vehicle => match cp {
                Some(s) => self.vehicle_limits(&s, rating),
                None => (Watts::ZERO, Watts::ZERO),
            },
        };
        if !port.may_run {
            charge_limit = Watts::ZERO;
            discharge_limit = Watts::ZERO;
        }

        // 5. The intent (the plan's, or the mode's and the thresholds'), and the loop.
        let c = &self.cfg.control;
        let price = inp.price;
        let intent = match inp.plan {
            Some(plan) if self.mode == Mode::SelfConsumption => plan,
            _ => StepIntent::from_rules(self.mode, c, price),
        };
        let store = match port.port {
            Port::Battery => intent.battery,
            Port::Vehicle => intent.car,
        };
        let stop = |reason| Behaviour::Stopped { reason };
        let behaviour = if self.cfg.converter.is_none() {
            stop(StopReason::NoConverter)
        } else if self.mode == Mode::Off {
            stop(StopReason::ModeOff)
        } else if converter_fault {
            stop(StopReason::ConverterFault)
        } else if bms_alarm.is_some() && port.port == Port::Battery {
            stop(StopReason::BmsAlarm)
        } else if !port.may_run {
            stop(StopReason::Changeover)
        } else if grid.is_none() {
            stop(StopReason::MeterStale)
        } else if charge_limit <= Watts::ZERO && discharge_limit <= Watts::ZERO {
            stop(StopReason::NoHeadroom)
        } else {
            match store {
                StoreIntent::Charge { reason, .. } => Behaviour::ChargingFromGrid { reason },
                StoreIntent::Follow {
                    no_discharge: Some(reason),
                    ..
                } => Behaviour::RegulatingNoDischarge { reason },
                StoreIntent::Follow {
                    no_discharge: None, ..
                } => Behaviour::Regulating,
            }
        };
        let gains = (c.kp, c.ki);
        let setpoint = match (behaviour, store, grid) {
            (
                Behaviour::Regulating | Behaviour::RegulatingNoDischarge { .. },
                StoreIntent::Follow {
                    grid_target_w,
                    no_discharge,
                },
                Some((at, g)),
            ) => {
                let low = if no_discharge.is_some() {
                    Watts::ZERO
                } else {
                    -discharge_limit
                };
                self.grid_loop
                    .update(at, g, grid_target_w, gains, (low, charge_limit))
            }
            (
                Behaviour::ChargingFromGrid { .. },
                StoreIntent::Charge { power_w, .. },
                Some((_, g)),
            ) => {
                let wanted = power_w.map_or(charge_limit, |p| p.min(charge_limit));
                // Stay under the main fuse: take back what the grid draws above its limit,
                // relative to what the converter draws now.
                let fuse_cap = match (c.grid_import_limit_w, converter) {
                    (Some(limit), Some(conv)) => conv.power_w + (limit - g),
                    (Some(limit), None) => limit - g,
                    (None, _) => wanted,
                };
                let sp = wanted.min(fuse_cap).max(Watts::ZERO);
                // Bumpless return to regulation.
                self.grid_loop.reset(sp);
                sp
            }
            _ => {
                self.grid_loop.reset(Watts::ZERO);
                Watts::ZERO
            }
        };
        let enabled = !matches!(
            behaviour,
            Behaviour::Stopped {
                reason: StopReason::ModeOff
                    | StopReason::NoConverter
                    | StopReason::BmsAlarm
                    | StopReason::ConverterFault
                    | StopReason::Changeover
            }
        );

        // 6. PV curtailment.
        let export_limit = if intent.curtail {
            Some(Watts::ZERO)
        } else {
            c.grid_export_limit_w
        };
        let pv_limits = self
            .curtail
            .step(grid, pv_now, &self.cfg.pv_rated, export_limit);

        // 7. Rule relays.
        let rule_inputs = RuleInputs {
            surplus: grid.map(|(_, g)| -g),
            soc: bms.filter(|_| self.cfg.battery).map(|b| b.soc_pct),
            price,
            time_of_day: self.cfg.timezone.to_datetime(now.to_jiff()).time(),
        };
        let relays: Vec<bool> = self
            .relays
            .iter_mut()
            .zip(&self.cfg.relays)
            .zip(&self.relay_overrides)
            .map(|((state, rule), o)| {
                // The rule keeps running under an override, so that its timers are right
                // when the relay is given back.
                let auto = state.step(now, rule, &rule_inputs);
                match o {
                    RelayOverride::Auto => auto,
                    RelayOverride::On => true,
                    RelayOverride::Off => false,
                }
            })
            .collect();

        // 8. What the charge point may offer the car: while it holds the port, the loop's
        // set-point within the car's limits (the car's power follows the grid loop: PV surplus,
        // V2H holding the grid at its target, cheap grid power); before, the rating.
        let serve = self.ev_enabled && self.mode != Mode::Off;
        let charge_limits = if serve && cp_holds_port {
            ChargeLimits {
                max_charge_w: charge_limit,
                max_discharge_w: discharge_limit,
                setpoint_w: Some(setpoint),
                allowed: true,
            }
        } else if serve && (self.cfg.changeover || cp.is_some()) {
            ChargeLimits::range(
                cp.and_then(|s| self.ev_current_cap_w(&s))
                    .map_or(rating.max_charge_w, |cap| cap.min(rating.max_charge_w)),
                if c.ev.v2h {
                    rating.max_discharge_w
                } else {
                    Watts::ZERO
                },
            )
        } else {
            ChargeLimits::ZERO
        };

        // 9. The LED shows whether and how the car is served.
        let led = if !self.ev_enabled || !(self.cfg.changeover || inp.charge_point.is_some()) {
            LedMode::Off
        } else if !self.cfg.changeover {
            // A charge point with its own sequence: what its session does.
            match cp {
                None => LedMode::Alert,
                Some(s) => match s.state {
                    ChargePointState::Unplugged => LedMode::Flash,
                    ChargePointState::Fault => LedMode::Alert,
                    // Plugged in and talking (a protocol agreed), or waiting for the car.
                    ChargePointState::Connecting if s.protocol.is_some() => LedMode::BlinkFast,
                    ChargePointState::Connecting => LedMode::BlinkSlow,
                    ChargePointState::Stopping => LedMode::BlinkFast,
                    ChargePointState::Ready if s.power_w < -c.changeover.idle_w => {
                        LedMode::DoubleFlash
                    }
                    ChargePointState::Ready if s.power_w > c.changeover.idle_w => LedMode::On,
                    // In the charge loop, waiting for power (no surplus, no grant).
                    ChargePointState::Ready => LedMode::BlinkSlow,
                },
            }
        } else {
            match port_state {
                PortState::Vehicle { .. } => LedMode::On,
                PortState::ToVehicle { .. } | PortState::ToBattery { .. } | PortState::Fault => {
                    LedMode::BlinkFast
                }
                PortState::Battery { .. } => LedMode::BlinkSlow,
            }
        };

        self.status = ControllerStatus {
            mode: self.mode,
            behaviour,
            port: port_state,
            ev_enabled: self.ev_enabled,
            setpoint_w: setpoint,
            charge_limit_w: charge_limit,
            discharge_limit_w: discharge_limit,
            pv_limit_w: self.curtail.total(),
            price,
            intent,
            relays: self
                .relays
                .iter()
                .zip(&self.cfg.relays)
                .zip(&relays)
                .zip(&self.relay_overrides)
                .map(|(((s, r), on), o)| RelayStatus {
                    name: r.name.clone(),
                    on: *on,
                    reason: if *o == RelayOverride::Auto {
                        s.reason()
                    } else {
                        RelayReason::Override
                    },
                })
                .collect(),
            warnings,
        };
        Commands {
            converter: ConverterCommand {
                enabled,
                power_w: if enabled { setpoint } else { Watts::ZERO },
            },
            changeover: self.cfg.changeover.then_some(port.relay_on),
            pv_limits,
            charge_limits,
            relays,
            led,
        }
    }

    /// The user's current cap as power at the inlet's voltage; with no voltage known yet (before
    /// the charge loop), no cap: the car draws nothing then.
    fn ev_current_cap_w(&self, s: &ChargePointStatus) -> Option<Watts> {
        let a = self.ev_max_current?;
        let v = s.dc_voltage_v.or(s.ev_target_voltage_v)?;
        Some(v * a)
    }

    /// Charge and discharge limits with the car on the port.
    fn vehicle_limits(&mut self, s: &ChargePointStatus, rating: ConverterRating) -> (Watts, Watts) {
        let ev = &self.cfg.control.ev;
        let (charge_ok, discharge_ok) = match s.ev_soc_pct {
            Some(soc) => (
                self.ev_charge_gate
                    .upper(soc, ev.target_soc_pct, ev.soc_hysteresis_pct),
                self.ev_discharge_gate
                    .lower(soc, ev.v2h_min_soc_pct, ev.soc_hysteresis_pct),
            ),
            // A car that reports no SoC may be charged within its own request, but never
            // discharged: we cannot tell how far.
            None => (true, false),
        };
        let mut charge = if charge_ok {
            s.ev_max_charge_w.positive_part().min(rating.max_charge_w)
        } else {
            Watts::ZERO
        };
        if let Some(cap) = self.ev_current_cap_w(s) {
            charge = charge.min(cap);
        }
        let discharge = if discharge_ok && ev.v2h {
            s.ev_max_discharge_w
                .positive_part()
                .min(rating.max_discharge_w)
        } else {
            Watts::ZERO
        };
        (charge, discharge)
    }
}
