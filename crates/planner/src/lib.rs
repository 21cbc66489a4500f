//! The planner (issue 12): a linear program over the price horizon that decides, per step, grid
//! import and export, the home battery's and the car's charge and discharge, so that the cost
//! (energy, wear, minus the value of what is stored at the end) is least, every limit holds and
//! the car is ready when it leaves. No I/O: a [`Scenario`] in, a [`Plan`] out.
//!
//! The model is documented in ARCHITECTURE.md ("Planner"). Wishes that may be impossible (the
//! departure target, the car's minimum SoC, the power balance against the grid's limits) are
//! softened by slacks with a penalty far above any price, so an impossible scenario still gets
//! the plan that comes closest, with `feasible: false` and the [`Shortfall`]s.

mod lp;
mod plan;
mod scenario;

pub use lp::{Backend, Options, POWER_TOLERANCE_W, PlanError, SOC_TOLERANCE_WH, plan, plan_with};
pub use plan::{Plan, Shortfall, SolveStats, Step, cost};
pub use scenario::{Battery, Car, Departure, Grid, Scenario, ScenarioError};
