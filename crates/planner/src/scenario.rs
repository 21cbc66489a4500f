//! The planning problem as the user states it (the `gridlet plan --input` file, issue 12): powers
//! in W, energies in Wh, prices per kWh, one array entry per step.

use serde::{Deserialize, Serialize};

/// Everything the planner needs for one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Step length in minutes (15 for quarter-hourly day-ahead prices; any positive length).
    pub step_min: f64,
    /// Price of imported energy per kWh, per step. Its length is the number of steps.
    pub price_import: Vec<f64>,
    /// Price paid for exported energy per kWh, per step (may be negative).
    pub price_export: Vec<f64>,
    /// PV forecast, W, per step.
    pub pv_w: Vec<f64>,
    /// House load forecast (without battery and car), W, per step.
    pub load_w: Vec<f64>,
    /// The grid connection's limits.
    pub grid: Grid,
    /// The home battery, if there is one.
    #[serde(default)]
    pub battery: Option<Battery>,
    /// Whether the battery can be used, per step (empty: always). False while it cannot, e.g.
    /// while the car holds a DC port the battery shares with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub battery_available: Vec<bool>,
    /// The car, if there is one.
    #[serde(default)]
    pub car: Option<Car>,
}

/// Grid import and export limits (fuse, feed-in cap).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    /// Largest import, W.
    pub import_max_w: f64,
    /// Largest export, W (0 for a zero-export site).
    pub export_max_w: f64,
}

/// The home battery.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Battery {
    /// Usable capacity, Wh.
    pub capacity_wh: f64,
    /// State of charge now (before the first step), Wh.
    pub soc_wh: f64,
    /// Lowest SoC the plan may use, Wh. A battery already below it may not discharge further.
    pub min_soc_wh: f64,
    /// Largest charge power at the battery's terminals (AC side), W.
    pub charge_max_w: f64,
    /// Largest discharge power (AC side), W.
    pub discharge_max_w: f64,
    /// Share of the charge power that ends up stored, (0, 1].
    pub charge_efficiency: f64,
    /// Share of the stored energy taken out that reaches the AC side, (0, 1].
    pub discharge_efficiency: f64,
    /// Wear cost per kWh discharged.
    pub wear_per_kwh: f64,
    /// Value of each kWh left at the end of the horizon.
    pub end_value_per_kwh: f64,
}

/// The car: a battery that is only there while plugged, and that leaves with a target SoC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Car {
    /// Usable capacity, Wh.
    pub capacity_wh: f64,
    /// State of charge now, Wh.
    pub soc_wh: f64,
    /// SoC the car should never go below, Wh (soft: driving may force it lower, which the plan
    /// reports as infeasible).
    pub min_soc_wh: f64,
    /// Largest charge power, W.
    pub charge_max_w: f64,
    /// Largest discharge power (V2H), W.
    pub discharge_max_w: f64,
    /// Share of the charge power that ends up stored, (0, 1].
    pub charge_efficiency: f64,
    /// Share of the stored energy taken out that reaches the house, (0, 1].
    pub discharge_efficiency: f64,
    /// Wear cost per kWh discharged.
    pub wear_per_kwh: f64,
    /// Value of each kWh left at the end of the horizon.
    pub end_value_per_kwh: f64,
    /// Whether the car may discharge into the house (V2H).
    pub v2h: bool,
    /// Whether the car is plugged in, per step.
    pub plugged: Vec<bool>,
    /// The trips: a departure at step k means the car leaves when step k starts.
    #[serde(default)]
    pub departures: Vec<Departure>,
    /// Energy the car uses while driving, Wh per step (all zero when absent).
    #[serde(default)]
    pub drive_wh: Vec<f64>,
}

/// A trip the car must be ready for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Departure {
    /// The step at whose start the car leaves (0..=steps): its SoC after step `step - 1` must
    /// reach `soc_wh`.
    pub step: usize,
    /// Target SoC, Wh.
    pub soc_wh: f64,
}

/// A scenario the planner cannot work with; the message names the field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// A per-step array has the wrong length.
    #[error("{field} has {len} entries, price_import has {steps}: one entry per step")]
    Length {
        /// The array.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The number of steps.
        steps: usize,
    },
    /// A value out of its range.
    #[error("{field} = {value} {why}")]
    Range {
        /// The field (dotted path, with the index for arrays).
        field: String,
        /// The value.
        value: f64,
        /// What it must be.
        why: &'static str,
    },
    /// A departure after the horizon.
    #[error("car.departures[{index}].step = {step} is after the horizon ({steps} steps)")]
    DepartureStep {
        /// Index in `car.departures`.
        index: usize,
        /// Its step.
        step: usize,
        /// The number of steps.
        steps: usize,
    },
    /// No steps at all.
    #[error("price_import is empty: the scenario needs at least one step")]
    Empty,
}

impl Scenario {
    /// The number of steps.
    pub fn steps(&self) -> usize {
        self.price_import.len()
    }

    /// Whether the battery can be used in step `t`.
    pub fn battery_available(&self, t: usize) -> bool {
        self.battery_available.get(t).copied().unwrap_or(true)
    }

    /// The step length in hours.
    pub fn step_h(&self) -> f64 {
        self.step_min / 60.0
    }

    /// Checks lengths and ranges, so that the model is well formed.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let n = self.steps();
        if n == 0 {
            return Err(ScenarioError::Empty);
        }
        positive("step_min", self.step_min)?;
        let arrays: [(&'static str, &[f64]); 3] = [
            ("price_export", &self.price_export),
            ("pv_w", &self.pv_w),
            ("load_w", &self.load_w),
        ];
        for (field, a) in arrays {
            if a.len() != n {
                return Err(ScenarioError::Length {
                    field,
                    len: a.len(),
                    steps: n,
                });
            }
        }
        if !self.battery_available.is_empty() && self.battery_available.len() != n {
            return Err(ScenarioError::Length {
                field: "battery_available",
                len: self.battery_available.len(),
                steps: n,
            });
        }
        for (name, a) in [
            ("price_import", &self.price_import),
            ("price_export", &self.price_export),
        ] {
            for (i, &v) in a.iter().enumerate() {
                finite(&format!("{name}[{i}]"), v)?;
            }
        }
        for (name, a) in [("pv_w", &self.pv_w), ("load_w", &self.load_w)] {
            for (i, &v) in a.iter().enumerate() {
                non_negative(&format!("{name}[{i}]"), v)?;
            }
        }
        non_negative("grid.import_max_w", self.grid.import_max_w)?;
        non_negative("grid.export_max_w", self.grid.export_max_w)?;
        if let Some(b) = &self.battery {
            storage(
                "battery",
                &StorageRef {
                    capacity_wh: b.capacity_wh,
                    soc_wh: b.soc_wh,
                    min_soc_wh: b.min_soc_wh,
                    charge_max_w: b.charge_max_w,
                    discharge_max_w: b.discharge_max_w,
                    charge_efficiency: b.charge_efficiency,
                    discharge_efficiency: b.discharge_efficiency,
                    wear_per_kwh: b.wear_per_kwh,
                    end_value_per_kwh: b.end_value_per_kwh,
                },
            )?;
        }
        if let Some(c) = &self.car {
            storage(
                "car",
                &StorageRef {
                    capacity_wh: c.capacity_wh,
                    soc_wh: c.soc_wh,
                    min_soc_wh: c.min_soc_wh,
                    charge_max_w: c.charge_max_w,
                    discharge_max_w: c.discharge_max_w,
                    charge_efficiency: c.charge_efficiency,
                    discharge_efficiency: c.discharge_efficiency,
                    wear_per_kwh: c.wear_per_kwh,
                    end_value_per_kwh: c.end_value_per_kwh,
                },
            )?;
            if c.plugged.len() != n {
                return Err(ScenarioError::Length {
                    field: "car.plugged",
                    len: c.plugged.len(),
                    steps: n,
                });
            }
            if !c.drive_wh.is_empty() && c.drive_wh.len() != n {
                return Err(ScenarioError::Length {
                    field: "car.drive_wh",
                    len: c.drive_wh.len(),
                    steps: n,
                });
            }
            for (i, &v) in c.drive_wh.iter().enumerate() {
                non_negative(&format!("car.drive_wh[{i}]"), v)?;
            }
            for (index, d) in c.departures.iter().enumerate() {
                if d.step > n {
                    return Err(ScenarioError::DepartureStep {
                        index,
                        step: d.step,
                        steps: n,
                    });
                }
                non_negative(&format!("car.departures[{index}].soc_wh"), d.soc_wh)?;
            }
        }
        Ok(())
    }
}

/// The fields the battery and the car share, for validation.
struct StorageRef {
    capacity_wh: f64,
    soc_wh: f64,
    min_soc_wh: f64,
    charge_max_w: f64,
    discharge_max_w: f64,
    charge_efficiency: f64,
    discharge_efficiency: f64,
    wear_per_kwh: f64,
    end_value_per_kwh: f64,
}

fn storage(name: &str, s: &StorageRef) -> Result<(), ScenarioError> {
    positive(&format!("{name}.capacity_wh"), s.capacity_wh)?;
    non_negative(&format!("{name}.soc_wh"), s.soc_wh)?;
    non_negative(&format!("{name}.min_soc_wh"), s.min_soc_wh)?;
    if s.soc_wh > s.capacity_wh {
        return Err(ScenarioError::Range {
            field: format!("{name}.soc_wh"),
            value: s.soc_wh,
            why: "is above capacity_wh",
        });
    }
    if s.min_soc_wh > s.capacity_wh {
        return Err(ScenarioError::Range {
            field: format!("{name}.min_soc_wh"),
            value: s.min_soc_wh,
            why: "is above capacity_wh",
        });
    }
    non_negative(&format!("{name}.charge_max_w"), s.charge_max_w)?;
    non_negative(&format!("{name}.discharge_max_w"), s.discharge_max_w)?;
    for (field, v) in [
        ("charge_efficiency", s.charge_efficiency),
        ("discharge_efficiency", s.discharge_efficiency),
    ] {
        if !(v > 0.0 && v <= 1.0) {
            return Err(ScenarioError::Range {
                field: format!("{name}.{field}"),
                value: v,
                why: "must be in (0, 1]",
            });
        }
    }
    non_negative(&format!("{name}.wear_per_kwh"), s.wear_per_kwh)?;
    finite(&format!("{name}.end_value_per_kwh"), s.end_value_per_kwh)?;
    Ok(())
}

fn finite(field: &str, value: f64) -> Result<(), ScenarioError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(ScenarioError::Range {
            field: field.into(),
            value,
            why: "must be a finite number",
        })
    }
}

fn non_negative(field: &str, value: f64) -> Result<(), ScenarioError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(ScenarioError::Range {
            field: field.into(),
            value,
            why: "must be zero or positive",
        })
    }
}

fn positive(field: &str, value: f64) -> Result<(), ScenarioError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ScenarioError::Range {
            field: field.into(),
            value,
            why: "must be positive",
        })
    }
}
