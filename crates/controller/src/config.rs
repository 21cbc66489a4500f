//! Controller settings. These types are read straight from the `[control]` and `[[relay]]`
//! sections of the configuration file, so every field has a unit in its name and a default.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use units::{Percent, PricePerKwh, Watts, duration_str};

use crate::relay_rule::Condition;

/// How the site uses its battery (or the car on the shared DC port).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Hold the grid power at its target: store surplus, cover deficits (the default).
    #[default]
    SelfConsumption,
    /// Keep the stored energy: charge from surplus, never discharge.
    Hold,
    /// Charge from the grid at `grid_charge_power_w`, within the import limit.
    ChargeFromGrid,
    /// Converter stopped.
    Off,
}

/// The `[control]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlSettings {
    /// Operating mode at start.
    pub mode: Mode,
    /// Grid power to hold (+ import). 0 W = zero exchange.
    pub grid_target_w: Watts,
    /// Proportional gain of the grid power loop (W of set-point per W of error).
    pub kp: f64,
    /// Integral gain of the grid power loop, per second.
    pub ki: f64,
    /// A grid reading older than this stops regulation (converter to 0 W).
    #[serde(with = "duration_str")]
    pub meter_timeout: Duration,
    /// A BMS state older than this zeroes both battery limits.
    #[serde(with = "duration_str")]
    pub bms_timeout: Duration,
    /// A charge point status older than this counts as "no car".
    #[serde(with = "duration_str")]
    pub charge_point_timeout: Duration,
    /// Largest grid import (main fuse); grid charging backs off above it.
    pub grid_import_limit_w: Option<Watts>,
    /// Largest grid export (feed-in limit); PV is curtailed above it.
    pub grid_export_limit_w: Option<Watts>,
    /// Charge power in charge-from-grid mode and for cheap-price grid charging.
    pub grid_charge_power_w: Watts,
    /// Home battery limits.
    pub battery: BatterySettings,
    /// Price thresholds.
    pub price: PriceSettings,
    /// The car on the shared DC port.
    pub ev: EvSettings,
    /// Changeover relay sequencing.
    pub changeover: ChangeoverSettings,
}

impl Default for ControlSettings {
    fn default() -> Self {
        Self {
            mode: Mode::SelfConsumption,
            grid_target_w: Watts::ZERO,
            // Tuned on the simulated site (1 s meter, converter with ~1 s lag): a 3 kW step
            // settles within ±50 W in about 6 s; with a 2 s converter lag in about 10 s.
            kp: 0.3,
            ki: 0.5,
            meter_timeout: Duration::from_secs(5),
            bms_timeout: Duration::from_secs(2),
            charge_point_timeout: Duration::from_secs(5),
            grid_import_limit_w: None,
            grid_export_limit_w: None,
            grid_charge_power_w: Watts(3000.0),
            battery: BatterySettings::default(),
            price: PriceSettings::default(),
            ev: EvSettings::default(),
            changeover: ChangeoverSettings::default(),
        }
    }
}

/// `[control.battery]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatterySettings {
    /// No discharge at or below this state of charge (reserve).
    pub min_soc_pct: Percent,
    /// No charge at or above this state of charge.
    pub max_soc_pct: Percent,
    /// Hysteresis around both thresholds, so the limits do not chatter.
    pub soc_hysteresis_pct: Percent,
}

impl Default for BatterySettings {
    fn default() -> Self {
        Self {
            min_soc_pct: Percent(10.0),
            max_soc_pct: Percent(100.0),
            soc_hysteresis_pct: Percent(2.0),
        }
    }
}

/// `[control.price]`: thresholds on the current price. Each is off when absent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriceSettings {
    /// At or below this price, charge the home battery from the grid.
    pub grid_charge_below: Option<PricePerKwh>,
    /// At or below this price, do not discharge the home battery (keep it for dearer hours).
    pub no_discharge_below: Option<PricePerKwh>,
    /// At or below this price, charge the car at its maximum from the grid.
    pub ev_charge_below: Option<PricePerKwh>,
    /// Below this price, export nothing (curtail PV): feeding in would cost money.
    pub curtail_below: Option<PricePerKwh>,
}

/// `[control.ev]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvSettings {
    /// Whether the car may be served at start; the button toggles it.
    pub enabled_at_start: bool,
    /// Stop charging the car at this state of charge.
    pub target_soc_pct: Percent,
    /// Discharge the car into the house (V2H).
    pub v2h: bool,
    /// Never discharge the car below this state of charge.
    pub v2h_min_soc_pct: Percent,
    /// Hysteresis around the car's thresholds.
    pub soc_hysteresis_pct: Percent,
}

impl Default for EvSettings {
    fn default() -> Self {
        Self {
            enabled_at_start: true,
            target_soc_pct: Percent(80.0),
            v2h: true,
            v2h_min_soc_pct: Percent(40.0),
            // The Python controller this replaces used 3 %.
            soc_hysteresis_pct: Percent(3.0),
        }
    }
}

/// `[control.changeover]`: how the DC port is moved between battery and car.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangeoverSettings {
    /// The converter counts as idle below this power; the relay only switches when idle.
    pub idle_w: Watts,
    /// How long the converter must be idle before the relay switches, and how long after
    /// switching before it may run again.
    #[serde(with = "duration_str")]
    pub settle: Duration,
    /// How long the relay may disagree with its command before the controller gives up.
    #[serde(with = "duration_str")]
    pub feedback_timeout: Duration,
}

impl Default for ChangeoverSettings {
    fn default() -> Self {
        Self {
            idle_w: Watts(50.0),
            settle: Duration::from_secs(1),
            feedback_timeout: Duration::from_secs(3),
        }
    }
}

/// The converter's rating, from its device section.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConverterRating {
    /// Largest charge power.
    pub max_charge_w: Watts,
    /// Largest discharge power.
    pub max_discharge_w: Watts,
}

/// One relay's rule: it is on while every condition holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelayRule {
    /// The relay's name, for status and logs.
    pub name: String,
    /// Conditions; all must hold.
    pub when: Vec<Condition>,
    /// What the relay's load draws. While the relay is on, this counts as surplus, so a load
    /// switched on by surplus does not switch itself off by consuming it.
    pub load_w: Watts,
    /// Once switched on, stay on at least this long (compressors, heat pumps).
    pub min_on: Duration,
    /// Once switched off, stay off at least this long.
    pub min_off: Duration,
}

/// Everything the controller needs to know about the site.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// `[control]`.
    pub control: ControlSettings,
    /// The converter, if the site has one.
    pub converter: Option<ConverterRating>,
    /// True if the site has a home battery with a BMS on the converter's DC port.
    pub battery: bool,
    /// The rated power of each PV inverter, in the order of the inputs.
    pub pv_rated: Vec<Watts>,
    /// True if a changeover relay connects the converter's DC port to the car.
    pub changeover: bool,
    /// The relays with rules, in the order of the commands.
    pub relays: Vec<RelayRule>,
    /// For time-of-day rules.
    pub timezone: jiff::tz::TimeZone,
}

/// A configuration that cannot work. Reported by `gridlet config check`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A value is out of its range.
    #[error("{field}: {problem}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

impl ControllerConfig {
    /// Checks the settings for values that cannot work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &str, problem: &str| {
            Err(ConfigError::Invalid {
                field: field.to_owned(),
                problem: problem.to_owned(),
            })
        };
        let c = &self.control;
        if !(c.kp.is_finite() && c.kp >= 0.0) {
            return bad("control.kp", "must be a number ≥ 0");
        }
        if !(c.ki.is_finite() && c.ki >= 0.0) {
            return bad("control.ki", "must be a number ≥ 0");
        }
        let pct = |p: Percent| p.is_finite() && (0.0..=100.0).contains(&p.0);
        for (field, p) in [
            ("control.battery.min_soc_pct", c.battery.min_soc_pct),
            ("control.battery.max_soc_pct", c.battery.max_soc_pct),
            ("control.ev.target_soc_pct", c.ev.target_soc_pct),
            ("control.ev.v2h_min_soc_pct", c.ev.v2h_min_soc_pct),
        ] {
            if !pct(p) {
                return bad(field, "must be within 0..=100 %");
            }
        }
        if c.battery.min_soc_pct >= c.battery.max_soc_pct {
            return bad(
                "control.battery.min_soc_pct",
                "must be below control.battery.max_soc_pct",
            );
        }
        if c.ev.v2h && c.ev.v2h_min_soc_pct >= c.ev.target_soc_pct {
            return bad(
                "control.ev.v2h_min_soc_pct",
                "must be below control.ev.target_soc_pct",
            );
        }
        if c.grid_charge_power_w.0 < 0.0 || !c.grid_charge_power_w.is_finite() {
            return bad("control.grid_charge_power_w", "must be ≥ 0");
        }
        for (name, limit) in [
            ("control.grid_import_limit_w", c.grid_import_limit_w),
            ("control.grid_export_limit_w", c.grid_export_limit_w),
        ] {
            if limit.is_some_and(|l| !(l.is_finite() && l.0 >= 0.0)) {
                return bad(name, "must be ≥ 0");
            }
        }
        for (field, t) in [
            ("control.meter_timeout", c.meter_timeout),
            ("control.bms_timeout", c.bms_timeout),
            ("control.charge_point_timeout", c.charge_point_timeout),
        ] {
            if t.is_zero() {
                return bad(field, "must be longer than 0 s");
            }
        }
        if let Some(r) = &self.converter
            && !(r.max_charge_w.0 >= 0.0 && r.max_discharge_w.0 >= 0.0)
        {
            return bad("converter.max_charge_w", "ratings must be ≥ 0");
        }
        for r in &self.relays {
            let field = format!("relay.{}.when", r.name);
            if r.when.is_empty() {
                return bad(&field, "needs at least one condition");
            }
            for cond in &r.when {
                if let Err(problem) = cond.validate() {
                    return bad(&field, &problem);
                }
            }
        }
        Ok(())
    }
}
