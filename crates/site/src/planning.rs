//! The planning task: builds the planner's scenario from the tariff's horizon, the forecasts and
//! the stores' states, solves it every `every` (15 min) and on events (car plugged or unplugged,
//! departure or target changed, new prices), and turns the current step into the controller's
//! [`StepIntent`].
//!
//! It runs inside [`Site::tick`](crate::Site::tick) on the tick's time: no clock, no I/O (the
//! forecasts and prices are facades over state their fetch tasks keep), deterministic on
//! virtual time. A solve that fails, or a plan that misses more than the car's departure target
//! (which leaves the closest plan in force), falls back to the thresholds' intent, and
//! [`PlanStatus::fallback`] says why.

use std::time::Duration;

use controller::{
    ControllerConfig, GridChargeReason, IntentSource, NoDischargeReason, StepIntent, StoreIntent,
};
use devices::{ChargePointState, ChargePointStatus, PriceSlot, Tariff};
use serde::{Deserialize, Serialize};
use units::{Percent, Timestamp, Watts, duration_str};

/// Forecasts of PV power and house load, read when planning.
pub trait Forecast: Send {
    /// The mean PV power expected over `[from, to)`; `None` beyond the forecast.
    fn pv_w(&self, from: Timestamp, to: Timestamp) -> Option<Watts>;
    /// The mean house load expected over `[from, to)` (without the battery and the car).
    fn load_w(&self, from: Timestamp, to: Timestamp) -> Option<Watts>;
}

/// `[planner]`: the planner and what it needs to know beyond `[control]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlannerSettings {
    /// Plan (true) or decide by the thresholds of `[control.price]` alone (false).
    pub enabled: bool,
    /// Re-plan this often, besides on events.
    #[serde(with = "duration_str")]
    pub every: Duration,
    /// How far ahead to plan (at most as far as prices are known).
    #[serde(with = "duration_str")]
    pub horizon: Duration,
    /// The plan's step.
    #[serde(with = "duration_str")]
    pub step: Duration,
    /// Price paid for exported energy per kWh when the tariff states none.
    pub feed_in_per_kwh: f64,
    /// The home battery's usable capacity, Wh.
    pub battery_capacity_wh: f64,
    /// Its one-way efficiency (charge and discharge each).
    pub battery_efficiency: f64,
    /// Wear cost per kWh discharged from the home battery.
    pub battery_wear_per_kwh: f64,
    /// The car's usable capacity, Wh.
    pub car_capacity_wh: f64,
    /// Its one-way efficiency.
    pub car_efficiency: f64,
    /// Wear cost per kWh discharged from the car (V2H).
    pub car_wear_per_kwh: f64,
    /// When the car usually leaves (local time); its target is `[control.ev] target_soc_pct`.
    pub departure: jiff::civil::Time,
    /// Value of each kWh left in the stores at the end of the horizon.
    pub end_value_per_kwh: f64,
    /// The battery and the car share the converter's DC port (a changeover relay): the battery
    /// cannot be used while the car is plugged.
    pub shared_port: bool,
}

impl Default for PlannerSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            every: Duration::from_secs(15 * 60),
            horizon: Duration::from_secs(48 * 3600),
            step: Duration::from_secs(15 * 60),
            feed_in_per_kwh: 0.08,
            battery_capacity_wh: 10_000.0,
            battery_efficiency: 0.95,
            battery_wear_per_kwh: 0.02,
            car_capacity_wh: 60_000.0,
            car_efficiency: 0.93,
            car_wear_per_kwh: 0.03,
            departure: jiff::civil::time(7, 30, 0, 0),
            end_value_per_kwh: 0.15,
            shared_port: true,
        }
    }
}

/// One step of the plan as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanStepView {
    /// When the step starts.
    pub time: Timestamp,
    /// Import price per kWh.
    pub price_import: f64,
    /// Export price per kWh.
    pub price_export: f64,
    /// PV forecast, W.
    pub pv_w: f64,
    /// Load forecast, W.
    pub load_w: f64,
    /// The planned powers and SoCs.
    #[serde(flatten)]
    pub step: planner::Step,
}

/// The plan in force (or the last one tried).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanView {
    /// When it was planned.
    pub planned_at: Timestamp,
    /// Why it was planned then.
    pub trigger: Trigger,
    /// The step length, minutes.
    pub step_min: f64,
    /// Its cost (energy, wear, minus the value left at the end), currency units.
    pub cost: f64,
    /// Whether every wish (departure target, ...) is met.
    pub feasible: bool,
    /// What it cannot meet.
    pub shortfalls: Vec<String>,
    /// The steps.
    pub steps: Vec<PlanStepView>,
}

/// What made the planner plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// The first plan.
    Start,
    /// The periodic re-plan.
    Periodic,
    /// The car was plugged in or unplugged.
    Car,
    /// The departure time or target changed.
    Departure,
    /// New prices were published.
    Prices,
}

/// What `/api/v1/plan` shows.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PlanStatus {
    /// Why the thresholds decide instead of the plan, if they do.
    pub fallback: Option<String>,
    /// The plan.
    pub plan: Option<PlanView>,
    /// How many times it planned.
    pub solves: u64,
}

/// The car as planned for.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CarKey {
    plugged: bool,
}

/// The planning task. See the module docs.
#[derive(Debug)]
pub struct Planning {
    settings: PlannerSettings,
    /// The plan's start (floored to the step), when it is in force.
    start: Option<Timestamp>,
    last_solve: Option<Timestamp>,
    car: Option<CarKey>,
    horizon: Option<Option<Timestamp>>,
    dirty: Option<Trigger>,
    status: PlanStatus,
}

impl Planning {
    /// A planning task with `settings`.
    pub fn new(settings: PlannerSettings) -> Self {
        Self {
            settings,
            start: None,
            last_solve: None,
            car: None,
            horizon: None,
            dirty: Some(Trigger::Start),
            status: PlanStatus {
                fallback: Some("not planned yet".into()),
                ..Default::default()
            },
        }
    }

    /// The settings.
    pub fn settings(&self) -> &PlannerSettings {
        &self.settings
    }

    /// The car's departure changed (from the API): re-plan at the next tick.
    pub fn set_departure(&mut self, departure: jiff::civil::Time) {
        self.settings.departure = departure;
        self.dirty = Some(Trigger::Departure);
    }

    /// The plan and why it does not apply, if it does not.
    pub fn status(&self) -> &PlanStatus {
        &self.status
    }

    /// One tick: re-plans when due, then returns the current step's intent (`None`: the
    /// thresholds decide).
    pub fn tick(
        &mut self,
        now: Timestamp,
        cfg: &ControllerConfig,
        inp: &PlanInputs<'_>,
    ) -> Option<StepIntent> {
        let car = CarKey {
            plugged: inp.charge_point.is_some_and(|s| plugged(&s)),
        };
        let horizon = inp.tariff.and_then(|t| t.horizon());
        if self.dirty.is_none() {
            if self.car.is_some_and(|c| c != car) {
                self.dirty = Some(Trigger::Car);
            } else if self.horizon.is_some_and(|h| h != horizon) {
                self.dirty = Some(Trigger::Prices);
            } else if self
                .last_solve
                .is_some_and(|at| now.saturating_duration_since(at) >= self.settings.every)
            {
                self.dirty = Some(Trigger::Periodic);
            }
        }
        self.car = Some(car);
        self.horizon = Some(horizon);
        if let Some(trigger) = self.dirty.take() {
            self.last_solve = Some(now);
            self.solve(now, trigger, cfg, inp);
        }
        self.intent(now)
    }

    fn fail(&mut self, why: String) {
        self.start = None;
        self.status.fallback = Some(why);
    }

    fn solve(
        &mut self,
        now: Timestamp,
        trigger: Trigger,
        cfg: &ControllerConfig,
        inp: &PlanInputs<'_>,
    ) {
        self.status.solves += 1;
        let (scenario, start, times) = match self.scenario(now, cfg, inp) {
            Ok(s) => s,
            Err(why) => return self.fail(why),
        };
        let plan = match planner::plan(&scenario) {
            Ok(p) => p,
            Err(e) => return self.fail(format!("the planner failed ({e}): the thresholds decide")),
        };
        let steps = times
            .iter()
            .zip(&plan.steps)
            .enumerate()
            .map(|(k, (&time, step))| PlanStepView {
                time,
                price_import: scenario.price_import[k],
                price_export: scenario.price_export[k],
                pv_w: scenario.pv_w[k],
                load_w: scenario.load_w[k],
                step: *step,
            })
            .collect();
        self.status.plan = Some(PlanView {
            planned_at: now,
            trigger,
            step_min: scenario.step_min,
            cost: plan.cost,
            feasible: plan.feasible,
            shortfalls: plan.shortfalls.iter().map(ToString::to_string).collect(),
            steps,
        });
        // A departure target out of reach still leaves the plan that comes closest (the car
        // charged as much as the limits allow before it leaves, cheapest first): better for the
        // driver than the thresholds, which may not charge it at all. The plan view keeps the
        // shortfall. Other shortfalls (load unserved, surplus unplaced) mean the model does
        // not fit the site: the thresholds decide.
        let departures_only = plan
            .shortfalls
            .iter()
            .all(|s| matches!(s, planner::Shortfall::Departure { .. }));
        if plan.feasible || departures_only {
            self.start = Some(start);
            self.status.fallback = None;
        } else {
            self.fail(format!(
                "the plan cannot meet every target ({}): the thresholds decide",
                plan.shortfalls
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }

    /// The scenario from `now`, its first step's start and every step's start.
    #[allow(clippy::type_complexity)]
    fn scenario(
        &self,
        now: Timestamp,
        cfg: &ControllerConfig,
        inp: &PlanInputs<'_>,
    ) -> Result<(planner::Scenario, Timestamp, Vec<Timestamp>), String> {
        let s = &self.settings;
        let c = &cfg.control;
        let step_us = i64::try_from(s.step.as_micros()).unwrap_or(i64::MAX).max(1);
        let start = Timestamp::from_unix_micros(now.as_unix_micros().div_euclid(step_us) * step_us);
        let tariff = inp
            .tariff
            .ok_or_else(|| "no tariff: the thresholds decide".to_string())?;
        let end = start + s.horizon;
        let prices = tariff.prices(start, end);
        let feed_in = tariff.feed_in(start, end);
        let mut times = Vec::new();
        let (mut price_import, mut price_export, mut pv_w, mut load_w) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut t = start;
        while t < end {
            let next = t + s.step;
            let Some(p) = slot_at(&prices, t) else { break };
            price_import.push(p);
            price_export.push(slot_at(&feed_in, t).unwrap_or(s.feed_in_per_kwh));
            let forecast = |f: Option<Watts>| f.map_or(0.0, |w| w.0.max(0.0));
            pv_w.push(forecast(inp.forecast.and_then(|f| f.pv_w(t, next))));
            load_w.push(forecast(inp.forecast.and_then(|f| f.load_w(t, next))));
            times.push(t);
            t = next;
        }
        let n = times.len();
        if n < 2 {
            return Err("no prices ahead: the thresholds decide".into());
        }
        let rating = cfg.converter;
        let (charge_max, discharge_max) =
            rating.map_or((0.0, 0.0), |r| (r.max_charge_w.0, r.max_discharge_w.0));
        let pct = |p: Percent, cap: f64| p.0 / 100.0 * cap;
        let battery = match (cfg.battery, inp.battery_soc) {
            (true, Some(soc)) => Some(planner::Battery {
                capacity_wh: pct(c.battery.max_soc_pct, s.battery_capacity_wh),
                soc_wh: pct(soc, s.battery_capacity_wh)
                    .min(pct(c.battery.max_soc_pct, s.battery_capacity_wh)),
                min_soc_wh: pct(c.battery.min_soc_pct, s.battery_capacity_wh),
                charge_max_w: charge_max,
                discharge_max_w: discharge_max,
                charge_efficiency: s.battery_efficiency,
                discharge_efficiency: s.battery_efficiency,
                wear_per_kwh: s.battery_wear_per_kwh,
                end_value_per_kwh: s.end_value_per_kwh,
            }),
            (true, None) => {
                return Err("the battery's state is unknown: the thresholds decide".into());
            }
            (false, _) => None,
        };
        let mut battery_available = Vec::new();
        let car = match inp.charge_point {
            Some(cp) if plugged(&cp) && cp.ev_soc_pct.is_some() => {
                let soc = cp.ev_soc_pct.unwrap_or(Percent(0.0));
                let departure = next_departure(now, s.departure, &cfg.timezone);
                let dep_step = times.iter().position(|&t| t >= departure);
                let plugged: Vec<bool> = (0..n).map(|k| dep_step.is_none_or(|d| k < d)).collect();
                if s.shared_port {
                    battery_available = plugged.iter().map(|p| !p).collect();
                }
                let target = pct(c.ev.target_soc_pct, s.car_capacity_wh);
                let soc_wh = pct(soc, s.car_capacity_wh);
                Some(planner::Car {
                    capacity_wh: s.car_capacity_wh.max(soc_wh),
                    soc_wh,
                    min_soc_wh: pct(c.ev.v2h_min_soc_pct, s.car_capacity_wh).min(soc_wh),
                    charge_max_w: cp.ev_max_charge_w.0.max(0.0).min(charge_max),
                    discharge_max_w: cp.ev_max_discharge_w.0.max(0.0).min(discharge_max),
                    charge_efficiency: s.car_efficiency,
                    discharge_efficiency: s.car_efficiency,
                    wear_per_kwh: s.car_wear_per_kwh,
                    end_value_per_kwh: s.end_value_per_kwh,
                    v2h: c.ev.v2h,
                    plugged,
                    departures: dep_step
                        .map(|step| planner::Departure {
                            step,
                            // Never ask for more than the controller's charge gate allows.
                            soc_wh: target.max(0.0),
                        })
                        .into_iter()
                        .collect(),
                    drive_wh: vec![0.0; n],
                })
            }
            _ => None,
        };
        let scenario = planner::Scenario {
            step_min: s.step.as_secs_f64() / 60.0,
            price_import,
            price_export,
            pv_w,
            load_w,
            grid: planner::Grid {
                import_max_w: c.grid_import_limit_w.map_or(1e6, |w| w.0),
                export_max_w: c.grid_export_limit_w.map_or(1e6, |w| w.0),
            },
            battery,
            battery_available,
            car,
        };
        scenario
            .validate()
            .map_err(|e| format!("the scenario is not valid ({e}): the thresholds decide"))?;
        Ok((scenario, start, times))
    }

    /// The current step's intent, if a plan is in force and covers `now`.
    fn intent(&self, now: Timestamp) -> Option<StepIntent> {
        let start = self.start?;
        let plan = self.status.plan.as_ref()?;
        let k = usize::try_from(
            now.saturating_duration_since(start).as_micros()
                / self.settings.step.as_micros().max(1),
        )
        .ok()?;
        let v = plan.steps.get(k)?;
        Some(intent_for(v))
    }
}

/// The controller's intent for one planned step: the store on the port charges at the planned
/// power while the plan imports for it, else the loop holds the planned grid power (storing
/// surplus, covering deficits where the plan discharges). See ARCHITECTURE.md ("Planning").
pub fn intent_for(v: &PlanStepView) -> StepIntent {
    const ON: f64 = 1.0;
    let s = &v.step;
    let net = Watts(s.import_w - s.export_w);
    let store = |charge: f64, discharge: f64| {
        if charge > ON && s.import_w > ON {
            StoreIntent::Charge {
                power_w: Some(Watts(charge)),
                reason: GridChargeReason::Plan,
            }
        } else if charge > ON {
            StoreIntent::Follow {
                grid_target_w: net,
                no_discharge: Some(NoDischargeReason::Plan),
            }
        } else if discharge > ON {
            StoreIntent::follow(net)
        } else {
            // Idle: keep the energy, store only surplus beyond what the plan exports.
            StoreIntent::Follow {
                grid_target_w: net.min(Watts::ZERO),
                no_discharge: Some(NoDischargeReason::Plan),
            }
        }
    };
    StepIntent {
        battery: store(s.battery_charge_w, s.battery_discharge_w),
        car: store(s.car_charge_w, s.car_discharge_w),
        curtail: v.price_export < 0.0,
        source: IntentSource::Plan,
    }
}

/// What the site gathers for the planning task.
#[derive(Clone, Copy, Default)]
pub struct PlanInputs<'a> {
    /// The prices.
    pub tariff: Option<&'a dyn Tariff>,
    /// The forecasts.
    pub forecast: Option<&'a dyn Forecast>,
    /// The home battery's SoC.
    pub battery_soc: Option<Percent>,
    /// The charge point and car.
    pub charge_point: Option<ChargePointStatus>,
}

impl std::fmt::Debug for PlanInputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanInputs")
            .field("tariff", &self.tariff.is_some())
            .field("forecast", &self.forecast.is_some())
            .field("battery_soc", &self.battery_soc)
            .field("charge_point", &self.charge_point)
            .finish()
    }
}

fn plugged(s: &ChargePointStatus) -> bool {
    !matches!(
        s.state,
        ChargePointState::Unplugged | ChargePointState::Fault
    )
}

fn slot_at(slots: &[PriceSlot], t: Timestamp) -> Option<f64> {
    slots.iter().find(|s| s.contains(t)).map(|s| s.price.0)
}

/// The next time after `now` at local time `at`.
fn next_departure(now: Timestamp, at: jiff::civil::Time, tz: &jiff::tz::TimeZone) -> Timestamp {
    let local = tz.to_datetime(now.to_jiff());
    let mut day = local.date();
    for _ in 0..3 {
        if let Ok(t) = tz.to_timestamp(day.to_datetime(at)) {
            let t = Timestamp::from_jiff(t);
            if t > now {
                return t;
            }
        }
        day = day.tomorrow().unwrap_or(day);
    }
    now + Duration::from_secs(86_400)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use controller::{ControlSettings, ConverterRating, PriceSettings};
    use units::PricePerKwh;

    /// Cheap at night (before 06:00 UTC), dear otherwise.
    struct NightTariff;
    impl Tariff for NightTariff {
        fn prices(&self, from: Timestamp, to: Timestamp) -> Vec<PriceSlot> {
            let h = 3_600_000_000;
            let mut t = from.as_unix_micros().div_euclid(h) * h;
            let mut out = Vec::new();
            while t < to.as_unix_micros() {
                let hour = t.div_euclid(h).rem_euclid(24);
                out.push(PriceSlot {
                    start: Timestamp::from_unix_micros(t),
                    end: Timestamp::from_unix_micros(t + h),
                    price: PricePerKwh(if hour < 6 { 0.10 } else { 0.40 }),
                });
                t += h;
            }
            out
        }
        fn horizon(&self) -> Option<Timestamp> {
            None
        }
    }

    struct Flat;
    impl Forecast for Flat {
        fn pv_w(&self, _: Timestamp, _: Timestamp) -> Option<Watts> {
            Some(Watts::ZERO)
        }
        fn load_w(&self, _: Timestamp, _: Timestamp) -> Option<Watts> {
            Some(Watts(500.0))
        }
    }

    fn cfg() -> ControllerConfig {
        ControllerConfig {
            control: ControlSettings {
                price: PriceSettings {
                    grid_charge_below: Some(PricePerKwh(0.05)),
                    ..Default::default()
                },
                grid_import_limit_w: Some(Watts(11_000.0)),
                ..Default::default()
            },
            converter: Some(ConverterRating {
                max_charge_w: Watts(5000.0),
                max_discharge_w: Watts(5000.0),
            }),
            battery: true,
            pv_rated: Vec::new(),
            changeover: false,
            relays: Vec::new(),
            timezone: jiff::tz::TimeZone::UTC,
        }
    }

    fn car(state: ChargePointState, soc: f64) -> ChargePointStatus {
        ChargePointStatus {
            state,
            ev_soc_pct: Some(Percent(soc)),
            ev_max_charge_w: Watts(11_000.0),
            ev_max_discharge_w: Watts(7000.0),
            ..Default::default()
        }
    }

    #[test]
    fn plans_on_start_every_15_minutes_and_on_events_and_executes_the_step() {
        let cfg = cfg();
        let mut p = Planning::new(PlannerSettings {
            enabled: true,
            ..Default::default()
        });
        // 20:00 UTC, car plugged at 40 %, leaving at 07:30 with 80 %.
        let t0 = Timestamp::parse_rfc3339("2026-06-21T20:00:00Z").unwrap();
        let mut inp = PlanInputs {
            tariff: Some(&NightTariff),
            forecast: Some(&Flat),
            battery_soc: Some(Percent(50.0)),
            charge_point: Some(car(ChargePointState::Ready, 40.0)),
        };
        let intent = p.tick(t0, &cfg, &inp).unwrap();
        assert_eq!(p.status().solves, 1);
        assert_eq!(p.status().fallback, None);
        let plan = p.status().plan.clone().unwrap();
        assert_eq!(plan.trigger, Trigger::Start);
        assert!(plan.feasible);
        // Dear now: the car waits for the night (it holds the port: the battery is idle).
        assert_eq!(intent.source, IntentSource::Plan);
        assert!(
            matches!(intent.car, StoreIntent::Follow { .. }),
            "{intent:?}"
        );
        assert!(plan.steps[0].step.car_charge_w < 1.0);
        assert!(plan.steps.iter().all(|s| s.step.battery_charge_w < 1.0
            || s.time >= Timestamp::parse_rfc3339("2026-06-22T07:30:00Z").unwrap()));
        // Charged at night, ready by 07:30.
        let dep = plan
            .steps
            .iter()
            .position(|s| s.time >= Timestamp::parse_rfc3339("2026-06-22T07:30:00Z").unwrap())
            .unwrap();
        assert!(plan.steps[dep - 1].step.car_soc_wh >= 48_000.0 - 1.0);
        let night = Timestamp::parse_rfc3339("2026-06-22T02:00:00Z").unwrap();
        // Not due within 15 minutes.
        p.tick(t0 + Duration::from_secs(600), &cfg, &inp);
        assert_eq!(p.status().solves, 1);
        p.tick(t0 + Duration::from_secs(900), &cfg, &inp);
        assert_eq!(p.status().solves, 2);
        assert_eq!(p.status().plan.as_ref().unwrap().trigger, Trigger::Periodic);
        // The car leaves: re-planned at once.
        inp.charge_point = Some(car(ChargePointState::Unplugged, 40.0));
        p.tick(t0 + Duration::from_secs(901), &cfg, &inp);
        assert_eq!(p.status().plan.as_ref().unwrap().trigger, Trigger::Car);
        // A departure change re-plans too.
        p.set_departure(jiff::civil::time(6, 0, 0, 0));
        p.tick(t0 + Duration::from_secs(902), &cfg, &inp);
        assert_eq!(
            p.status().plan.as_ref().unwrap().trigger,
            Trigger::Departure
        );
        // Without the car the battery charges at night, from the grid at the planned power.
        let mut charging = None;
        let mut t = t0 + Duration::from_secs(902);
        while t < night {
            t += Duration::from_secs(900);
            charging = charging.or(p.tick(t, &cfg, &inp).filter(|i| {
                matches!(
                    i.battery,
                    StoreIntent::Charge {
                        reason: GridChargeReason::Plan,
                        ..
                    }
                )
            }));
        }
        assert!(charging.is_some(), "the battery charges in the cheap night");
    }

    #[test]
    fn no_prices_fall_back_to_the_thresholds_and_an_impossible_target_keeps_the_closest_plan() {
        let cfg = cfg();
        let mut p = Planning::new(PlannerSettings {
            enabled: true,
            ..Default::default()
        });
        let t0 = Timestamp::parse_rfc3339("2026-06-21T20:00:00Z").unwrap();
        let inp = PlanInputs {
            forecast: Some(&Flat),
            battery_soc: Some(Percent(50.0)),
            ..Default::default()
        };
        assert_eq!(p.tick(t0, &cfg, &inp), None);
        assert!(p.status().fallback.as_ref().unwrap().contains("no tariff"));
        // At 07:00 with 10 %: 80 % of 60 kWh by 07:30 is out of reach.
        let mut p = Planning::new(PlannerSettings {
            enabled: true,
            ..Default::default()
        });
        let inp = PlanInputs {
            tariff: Some(&NightTariff),
            charge_point: Some(car(ChargePointState::Ready, 10.0)),
            ..inp
        };
        let t = Timestamp::parse_rfc3339("2026-06-22T07:00:00Z").unwrap();
        // The target is out of reach: the closest plan stays in force (the car charges now,
        // as much as it can before it leaves), and the plan says what it misses.
        let intent = p.tick(t, &cfg, &inp).expect("the closest plan is executed");
        assert!(
            matches!(intent.car, StoreIntent::Charge { .. }),
            "{intent:?}"
        );
        assert_eq!(p.status().fallback, None);
        let plan = p.status().plan.as_ref().unwrap();
        assert!(!plan.feasible);
        assert!(
            plan.shortfalls[0].contains("short of its target"),
            "{:?}",
            plan.shortfalls
        );
    }
}
