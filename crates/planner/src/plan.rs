//! The planner's answer: power and SoC per step, its cost, and what could not be met.

use serde::Serialize;

use crate::scenario::Scenario;

/// One step of the plan: average powers over the step (W) and the SoCs at its end (Wh).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Step {
    /// Grid import, W.
    pub import_w: f64,
    /// Grid export, W.
    pub export_w: f64,
    /// Home battery charge power, W.
    pub battery_charge_w: f64,
    /// Home battery discharge power, W.
    pub battery_discharge_w: f64,
    /// Car charge power, W (zero while unplugged).
    pub car_charge_w: f64,
    /// Car discharge power (V2H), W.
    pub car_discharge_w: f64,
    /// Home battery SoC after the step, Wh (0 without a battery).
    pub battery_soc_wh: f64,
    /// Car SoC after the step, Wh (0 without a car).
    pub car_soc_wh: f64,
}

/// Something the scenario asks for that no plan can give; the plan returned comes closest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shortfall {
    /// The car leaves at `step` with less than its target.
    Departure {
        /// The departure step.
        step: usize,
        /// The target, Wh.
        target_wh: f64,
        /// What the plan reaches, Wh.
        reached_wh: f64,
    },
    /// The car's SoC falls below its minimum (driving more than it can hold or be charged for).
    CarBelowMin {
        /// The first step whose end is below the minimum.
        step: usize,
        /// The steps below the minimum.
        steps: usize,
        /// The lowest SoC, Wh.
        lowest_wh: f64,
    },
    /// Load that neither the grid nor the storages can cover.
    Unserved {
        /// The step.
        step: usize,
        /// The uncovered power, W.
        w: f64,
    },
    /// PV surplus that neither export nor the storages can take (needs curtailment).
    Surplus {
        /// The step.
        step: usize,
        /// The surplus power, W.
        w: f64,
    },
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::Departure {
                step,
                target_wh,
                reached_wh,
            } => write!(
                f,
                "the car leaves at step {step} with {reached_wh:.0} Wh, short of its target \
                 {target_wh:.0} Wh by {:.0} Wh",
                target_wh - reached_wh
            ),
            Self::CarBelowMin {
                step,
                steps,
                lowest_wh,
            } => write!(
                f,
                "the car is below its minimum SoC from step {step} ({steps} steps, lowest \
                 {lowest_wh:.0} Wh)"
            ),
            Self::Unserved { step, w } => {
                write!(
                    f,
                    "step {step}: {w:.0} W of load exceed the grid and storage limits"
                )
            }
            Self::Surplus { step, w } => write!(
                f,
                "step {step}: {w:.0} W of PV exceed the export limit and what the storages take \
                 (curtail)"
            ),
        }
    }
}

/// Size and effort of the solve, for benchmarks and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SolveStats {
    /// Continuous variables.
    pub variables: usize,
    /// Constraints (rows).
    pub constraints: usize,
    /// Exclusivity binaries (only where negative prices or a PV surplus make simultaneous
    /// charge and discharge pay).
    pub binaries: usize,
    /// Solves (1, or more when a solution still charged and discharged at once and that step got
    /// a binary).
    pub rounds: usize,
    /// Branch and bound found no plan within its time limit, so each pair's direction was
    /// fixed from the LP without binaries: one direction per pair, not always the cheapest plan.
    pub fixed_directions: bool,
}

/// The plan over the horizon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Whether every departure target, minimum SoC and the power balance are met.
    pub feasible: bool,
    /// Σ (import × price_import − export × price_export + discharge × wear) × step − end value ×
    /// final SoCs, in the scenario's currency (penalties of the shortfalls not included).
    pub cost: f64,
    /// One entry per step.
    pub steps: Vec<Step>,
    /// What could not be met (empty when feasible).
    pub shortfalls: Vec<Shortfall>,
    /// Size and effort of the solve.
    pub stats: SolveStats,
}

/// The cost formula of issue 12 evaluated on given steps (independent of the solver, so tests
/// and the reference solutions share it).
pub fn cost(scenario: &Scenario, steps: &[Step]) -> f64 {
    let h = scenario.step_h();
    let mut total = 0.0;
    for (t, s) in steps.iter().enumerate() {
        total += (s.import_w * scenario.price_import[t] - s.export_w * scenario.price_export[t])
            / 1000.0
            * h;
        if let Some(b) = &scenario.battery {
            total += s.battery_discharge_w / 1000.0 * h * b.wear_per_kwh;
        }
        if let Some(c) = &scenario.car {
            total += s.car_discharge_w / 1000.0 * h * c.wear_per_kwh;
        }
    }
    if let Some(last) = steps.last() {
        if let Some(b) = &scenario.battery {
            total -= b.end_value_per_kwh * last.battery_soc_wh / 1000.0;
        }
        if let Some(c) = &scenario.car {
            total -= c.end_value_per_kwh * last.car_soc_wh / 1000.0;
        }
    }
    total
}
