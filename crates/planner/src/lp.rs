//! The linear program (ARCHITECTURE.md, "Planner"): built in kW and kWh, so that the
//! coefficients stay near 1 whatever the site's size, and solved by good_lp's pure-Rust back ends.

use good_lp::solvers::{ResolutionError, Solution, SolverModel, WithMipGap, WithTimeLimit};
use good_lp::{Constraint, Expression, ProblemVariables, Variable, clarabel, microlp, variable};

use crate::plan::{Plan, Shortfall, SolveStats, Step, cost};
use crate::scenario::{Departure, Scenario, ScenarioError};

/// The LP back end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// microlp: simplex with branch and bound. Always used for a model with binaries.
    Microlp,
    /// Clarabel: interior point, the faster of the two on the 192-step LP (ARCHITECTURE.md,
    /// "Planner"). No integer variables: a model with exclusivity binaries goes to microlp.
    #[default]
    Clarabel,
}

/// How to solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// The LP back end.
    pub backend: Backend,
    /// Time limit of a solve with binaries, seconds (branch and bound has no useful bound
    /// otherwise; the best plan found so far is used).
    pub milp_time_limit_s: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            backend: Backend::Clarabel,
            milp_time_limit_s: 5.0,
        }
    }
}

/// Why there is no plan at all (an infeasible wish still gets one, see [`Plan::feasible`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The scenario is malformed: the caller's fault.
    #[error("scenario: {0}")]
    Scenario(#[from] ScenarioError),
    /// The solver failed on a well-formed model: our fault (the model always has a solution,
    /// every hard wish being softened by a penalised slack).
    #[error("the {backend:?} solver failed: {error}")]
    Solver {
        /// The back end.
        backend: Backend,
        /// Its message.
        error: String,
    },
}

/// Plans with the default options.
pub fn plan(scenario: &Scenario) -> Result<Plan, PlanError> {
    plan_with(scenario, &Options::default())
}

/// Plans: validates, solves the LP, adds exclusivity binaries where a solution charges and
/// discharges (or imports and exports) at once, and reads the plan back.
pub fn plan_with(scenario: &Scenario, options: &Options) -> Result<Plan, PlanError> {
    scenario.validate()?;
    let n = scenario.steps();
    let mut exclusive: Vec<Exclusive> = (0..n).map(|t| Exclusive::a_priori(scenario, t)).collect();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let model = Model::build(scenario, &exclusive);
        let raw = match model.solve(options) {
            Ok(raw) => raw,
            // Branch and bound found no plan within its time limit (a slow board, negative
            // prices at every step): a plan from fixed directions beats none.
            Err(_) if model.binaries > 0 => return dive(scenario, options, rounds),
            Err(e) => return Err(e),
        };
        // A solution may still charge and discharge at once where the a-priori test saw no
        // reason to: burning energy to make room for a PV surplus that would otherwise exceed
        // the export limit, or a tie between equally good plans. Those steps get a binary and
        // the model is solved again. The model with binaries on a subset of the steps is a
        // relaxation of the one with binaries everywhere, so a solution of it that uses one
        // direction per pair everywhere is optimal for the exact model too. After
        // `ROUNDS - 1` rounds every step that can burn gets its binary.
        let mut more = false;
        for (t, ex) in exclusive.iter_mut().enumerate() {
            let r = &raw.steps[t];
            let grid = !ex.grid && both(r.import, r.export);
            let battery = !ex.battery && both(r.battery_charge, r.battery_discharge);
            let car = !ex.car && both(r.car_charge, r.car_discharge);
            ex.grid |= grid;
            ex.battery |= battery;
            ex.car |= car;
            more |= grid || battery || car;
        }
        if !more {
            return Ok(model.read(raw, rounds));
        }
        if rounds + 1 == ROUNDS {
            for (t, ex) in exclusive.iter_mut().enumerate() {
                *ex = Exclusive::everywhere(scenario, t);
            }
        }
    }
}

/// The fallback when branch and bound finds nothing in time: solve the LP without binaries, fix
/// each pair that uses both directions to its larger one, and solve again until no pair does.
/// Every round fixes at least one pair, and the slacks keep every model solvable, so it ends
/// with a plan with one direction per pair; not always the cheapest one.
fn dive(scenario: &Scenario, options: &Options, rounds: usize) -> Result<Plan, PlanError> {
    let mut fixed = vec![Exclusive::default(); scenario.steps()];
    let mut dives = 0;
    loop {
        dives += 1;
        let model = Model::build(scenario, &fixed);
        let raw = model.solve(options)?;
        let mut more = false;
        for (t, f) in fixed.iter_mut().enumerate() {
            let r = &raw.steps[t];
            let pick = |a: f64, b: f64| if a >= b { Dir::In } else { Dir::Out };
            if both(r.import, r.export) {
                f.grid_fixed = Some(pick(r.import, r.export));
                more = true;
            }
            if both(r.battery_charge, r.battery_discharge) {
                f.battery_fixed = Some(pick(r.battery_charge, r.battery_discharge));
                more = true;
            }
            if both(r.car_charge, r.car_discharge) {
                f.car_fixed = Some(pick(r.car_charge, r.car_discharge));
                more = true;
            }
        }
        if !more {
            let mut plan = model.read(raw, rounds + dives);
            plan.stats.fixed_directions = true;
            return Ok(plan);
        }
    }
}

/// Relative optimality gap at which branch and bound stops.
const MIP_GAP: f32 = 1e-4;

/// Solves at most this many times (the last one with binaries on every step).
const ROUNDS: usize = 4;

/// Both directions at once, above the solvers' tolerance (kW).
fn both(a: f64, b: f64) -> bool {
    a > 1e-4 && b > 1e-4
}

/// Which pairs of a step get an exclusivity binary, or a fixed direction (the fallback).
#[derive(Debug, Clone, Copy, Default)]
struct Exclusive {
    grid: bool,
    battery: bool,
    car: bool,
    grid_fixed: Option<Dir>,
    battery_fixed: Option<Dir>,
    car_fixed: Option<Dir>,
}

/// A pair's direction: import or charge (`In`), export or discharge (`Out`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    In,
    Out,
}

/// The upper bound of a pair's side: zero when the pair is fixed to the other direction.
fn side(max: f64, fixed: Option<Dir>, this: Dir) -> f64 {
    if fixed.is_some_and(|f| f != this) {
        0.0
    } else {
        max
    }
}

impl Exclusive {
    /// Where simultaneous directions pay for sure. Charging and discharging one storage at once
    /// only burns energy (1 − ηc·ηd of it) and wear; that earns money at once where using up
    /// energy does: a negative import or export price. Importing and exporting at once pays
    /// where the import price is below the export price. Elsewhere the LP optimum uses one
    /// direction per pair unless burning makes room for a PV surplus later or two plans tie;
    /// [`plan_with`] finds those steps from the solution.
    fn a_priori(s: &Scenario, t: usize) -> Self {
        let burn_pays = s.price_import[t] < 0.0 || s.price_export[t] < 0.0;
        Self::pairs(s, t, burn_pays, s.price_import[t] < s.price_export[t])
    }

    /// Every pair that can have both directions at this step.
    fn everywhere(s: &Scenario, t: usize) -> Self {
        Self::pairs(s, t, true, true)
    }

    /// The pairs of step `t` that can have both directions, among the storages when `burn` and
    /// the grid when `grid`.
    fn pairs(s: &Scenario, t: usize, burn: bool, grid: bool) -> Self {
        Self {
            grid: grid && s.grid.import_max_w > 0.0 && s.grid.export_max_w > 0.0,
            battery: burn
                && s.battery_available(t)
                && s.battery
                    .is_some_and(|b| b.charge_max_w > 0.0 && b.discharge_max_w > 0.0),
            car: burn
                && s.car.as_ref().is_some_and(|c| {
                    c.plugged[t] && c.v2h && c.charge_max_w > 0.0 && c.discharge_max_w > 0.0
                }),
            ..Self::default()
        }
    }
}

/// The variables of one step (kW); `None` where the variable would be fixed at zero.
#[derive(Debug, Clone, Copy)]
struct StepVars {
    import: Variable,
    export: Variable,
    battery_charge: Option<Variable>,
    battery_discharge: Option<Variable>,
    battery_soc: Option<Variable>,
    car_charge: Option<Variable>,
    car_discharge: Option<Variable>,
    car_soc: Option<Variable>,
    /// Load nothing can cover (only where the grid alone cannot).
    unserved: Option<Variable>,
    /// PV nothing can take (only where it exceeds the export limit).
    surplus: Option<Variable>,
}

/// The solver's values of one step (kW, kWh).
#[derive(Debug, Clone, Copy, Default)]
struct RawStep {
    import: f64,
    export: f64,
    battery_charge: f64,
    battery_discharge: f64,
    car_charge: f64,
    car_discharge: f64,
    unserved: f64,
    surplus: f64,
}

#[derive(Debug)]
struct Raw {
    steps: Vec<RawStep>,
}

/// The model: variables, objective and constraints, before a back end is chosen.
struct Model<'a> {
    scenario: &'a Scenario,
    vars: ProblemVariables,
    steps: Vec<StepVars>,
    departures: Vec<(Departure, Option<Variable>)>,
    objective: Expression,
    constraints: Vec<Constraint>,
    binaries: usize,
}

impl std::fmt::Debug for Model<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("variables", &self.vars.len())
            .field("constraints", &self.constraints.len())
            .field("binaries", &self.binaries)
            .finish_non_exhaustive()
    }
}

impl<'a> Model<'a> {
    fn build(s: &'a Scenario, exclusive: &[Exclusive]) -> Self {
        let n = s.steps();
        let h = s.step_h();
        let mut vars = ProblemVariables::new();
        let mut objective = Expression::with_capacity(6 * n);
        let mut constraints = Vec::with_capacity(5 * n);
        let mut binaries = 0;
        let penalty = penalty(s);
        let import_max = s.grid.import_max_w / 1000.0;
        let export_max = s.grid.export_max_w / 1000.0;

        // The car may be forced below its minimum only by a low start or by driving: only from
        // then on does its minimum need a slack.
        let mut car_low_possible = s.car.as_ref().is_some_and(|c| c.soc_wh < c.min_soc_wh);
        let mut car_driven = 0.0;

        let mut steps = Vec::with_capacity(n);
        for (t, excl) in exclusive.iter().enumerate() {
            let import = vars.add(variable().min(0.0).max(side(
                import_max,
                excl.grid_fixed,
                Dir::In,
            )));
            let export = vars.add(variable().min(0.0).max(side(
                export_max,
                excl.grid_fixed,
                Dir::Out,
            )));
            objective.add_mul(s.price_import[t] * h, import);
            objective.add_mul(-s.price_export[t] * h, export);
            // Balance (kW): pv + import + discharges + unserved = load + export + charges + surplus.
            let mut balance = Expression::with_capacity(8);
            balance.add_mul(1.0, import);
            balance.add_mul(-1.0, export);
            if excl.grid {
                let z = vars.add(variable().binary());
                binaries += 1;
                constraints.push(Expression::from(import).leq(import_max * z));
                constraints.push(Expression::from(export).leq(export_max * (1.0 - z)));
            }

            let net_load = (s.load_w[t] - s.pv_w[t]) / 1000.0;
            let unserved = (net_load > import_max).then(|| {
                let v = vars.add(variable().min(0.0).max(net_load.max(0.0)));
                objective.add_mul(penalty * h, v);
                balance.add_mul(1.0, v);
                v
            });
            let surplus = (-net_load > export_max).then(|| {
                let v = vars.add(variable().min(0.0).max((-net_load).max(0.0)));
                objective.add_mul(penalty * h, v);
                balance.add_mul(-1.0, v);
                v
            });

            let (mut battery_charge, mut battery_discharge, mut battery_soc) = (None, None, None);
            if let Some(b) = &s.battery {
                let avail = if s.battery_available(t) { 1.0 } else { 0.0 };
                let c = vars.add(variable().min(0.0).max(side(
                    avail * b.charge_max_w / 1000.0,
                    excl.battery_fixed,
                    Dir::In,
                )));
                let d = vars.add(variable().min(0.0).max(side(
                    avail * b.discharge_max_w / 1000.0,
                    excl.battery_fixed,
                    Dir::Out,
                )));
                // A battery below its minimum may stay there but not go lower.
                let lo = b.min_soc_wh.min(b.soc_wh) / 1000.0;
                let soc = vars.add(variable().min(lo).max(b.capacity_wh / 1000.0));
                objective.add_mul(b.wear_per_kwh * h, d);
                balance.add_mul(1.0, d);
                balance.add_mul(-1.0, c);
                let mut dyn_ = Expression::with_capacity(4);
                dyn_.add_mul(1.0, soc);
                dyn_.add_mul(-b.charge_efficiency * h, c);
                dyn_.add_mul(h / b.discharge_efficiency, d);
                let before = match steps.last() {
                    Some(StepVars {
                        battery_soc: Some(prev),
                        ..
                    }) => {
                        dyn_.add_mul(-1.0, *prev);
                        0.0
                    }
                    _ => b.soc_wh / 1000.0,
                };
                constraints.push(dyn_.eq(before));
                if excl.battery {
                    let z = vars.add(variable().binary());
                    binaries += 1;
                    constraints.push(Expression::from(c).leq(b.charge_max_w / 1000.0 * z));
                    constraints
                        .push(Expression::from(d).leq(b.discharge_max_w / 1000.0 * (1.0 - z)));
                }
                if t == n - 1 {
                    objective.add_mul(-b.end_value_per_kwh, soc);
                }
                (battery_charge, battery_discharge, battery_soc) = (Some(c), Some(d), Some(soc));
            }

            let (mut car_charge, mut car_discharge, mut car_soc) = (None, None, None);
            if let Some(car) = &s.car {
                let plugged = car.plugged[t];
                let c = (plugged && car.charge_max_w > 0.0).then(|| {
                    let max = side(car.charge_max_w / 1000.0, excl.car_fixed, Dir::In);
                    vars.add(variable().min(0.0).max(max))
                });
                let d = (plugged && car.v2h && car.discharge_max_w > 0.0).then(|| {
                    let max = side(car.discharge_max_w / 1000.0, excl.car_fixed, Dir::Out);
                    vars.add(variable().min(0.0).max(max))
                });
                // Driving can take the SoC below the minimum, which is soft; charging only
                // raises it, so the start less all driving so far bounds it below (a bound
                // instead of a free variable keeps the simplex fast).
                let drive = car.drive_wh.get(t).copied().unwrap_or(0.0) / 1000.0;
                car_driven += drive;
                let lowest = car.soc_wh.min(car.min_soc_wh) / 1000.0 - car_driven;
                let soc = vars.add(variable().min(lowest).max(car.capacity_wh / 1000.0));
                car_low_possible |= drive > 0.0;
                let mut dyn_ = Expression::with_capacity(4);
                dyn_.add_mul(1.0, soc);
                if let Some(c) = c {
                    balance.add_mul(-1.0, c);
                    dyn_.add_mul(-car.charge_efficiency * h, c);
                }
                if let Some(d) = d {
                    balance.add_mul(1.0, d);
                    dyn_.add_mul(h / car.discharge_efficiency, d);
                    objective.add_mul(car.wear_per_kwh * h, d);
                }
                let before = match steps.last() {
                    Some(StepVars {
                        car_soc: Some(prev),
                        ..
                    }) => {
                        dyn_.add_mul(-1.0, *prev);
                        0.0
                    }
                    _ => car.soc_wh / 1000.0,
                };
                constraints.push(dyn_.eq(before - drive));
                if car_low_possible {
                    let low = vars.add(variable().min(0.0));
                    objective.add_mul(penalty, low);
                    constraints.push((soc + low).geq(car.min_soc_wh / 1000.0));
                } else {
                    constraints.push(Expression::from(soc).geq(car.min_soc_wh / 1000.0));
                }
                if let (Some(c), Some(d), true) = (c, d, excl.car) {
                    let z = vars.add(variable().binary());
                    binaries += 1;
                    constraints.push(Expression::from(c).leq(car.charge_max_w / 1000.0 * z));
                    constraints
                        .push(Expression::from(d).leq(car.discharge_max_w / 1000.0 * (1.0 - z)));
                }
                if t == n - 1 {
                    objective.add_mul(-car.end_value_per_kwh, soc);
                }
                (car_charge, car_discharge, car_soc) = (c, d, Some(soc));
            }
            constraints.push(balance.eq(net_load));
            steps.push(StepVars {
                import,
                export,
                battery_charge,
                battery_discharge,
                battery_soc,
                car_charge,
                car_discharge,
                car_soc,
                unserved,
                surplus,
            });
        }

        // Departures: the SoC after step k − 1 reaches the target, or the shortfall pays the
        // penalty (the closest plan). A departure at step 0 is the present: nothing to plan.
        let mut departures = Vec::new();
        if let Some(car) = &s.car {
            for d in &car.departures {
                let slack = (d.step > 0).then(|| {
                    let v = vars.add(variable().min(0.0));
                    objective.add_mul(penalty, v);
                    let soc = steps[d.step - 1]
                        .car_soc
                        .expect("the car has a SoC every step");
                    constraints.push((soc + v).geq(d.soc_wh / 1000.0));
                    v
                });
                departures.push((*d, slack));
            }
        }
        Self {
            scenario: s,
            vars,
            steps,
            departures,
            objective,
            constraints,
            binaries,
        }
    }

    fn solve(&self, options: &Options) -> Result<Raw, PlanError> {
        let vars = self.vars.clone();
        let objective = self.objective.clone();
        let constraints = self.constraints.clone();
        let problem = vars.minimise(objective);
        let backend = if self.binaries > 0 {
            Backend::Microlp
        } else {
            options.backend
        };
        let result = match backend {
            Backend::Microlp => {
                let mut m = problem.using(microlp);
                if self.binaries > 0 {
                    m = m.with_time_limit(options.milp_time_limit_s);
                    // HiGHS's default relative gap: proving the last 0.01 % can take seconds
                    // when every step has a binary (ARCHITECTURE.md, "Planner").
                    m = m.with_mip_gap(MIP_GAP).map_err(|e| PlanError::Solver {
                        backend,
                        error: e.to_string(),
                    })?;
                }
                solve(m, constraints, &self.steps)
            }
            Backend::Clarabel => solve(problem.using(clarabel), constraints, &self.steps),
        };
        result.map_err(|e| PlanError::Solver {
            backend,
            error: e.to_string(),
        })
    }

    /// The plan from the solver's values: clamped into the bounds (the solvers' tolerances
    /// leave values a hair outside), the SoCs recomputed from the powers, the cost from the
    /// formula, and the shortfalls.
    fn read(&self, raw: Raw, rounds: usize) -> Plan {
        let s = self.scenario;
        let h = s.step_h();
        let clean = |v: f64, max_w: f64| {
            let w = v * 1000.0;
            // Below the tolerance is solver noise: zero, so that a pair never shows both.
            if w < POWER_TOLERANCE_W {
                0.0
            } else {
                w.min(max_w)
            }
        };
        let mut steps = Vec::with_capacity(raw.steps.len());
        let mut shortfalls = Vec::new();
        let mut battery_soc = s.battery.map_or(0.0, |b| b.soc_wh);
        let mut car_soc = s.car.as_ref().map_or(0.0, |c| c.soc_wh);
        let mut car_low: Option<(usize, usize, f64)> = None;
        for (t, r) in raw.steps.iter().enumerate() {
            let mut step = Step {
                import_w: clean(r.import, s.grid.import_max_w),
                export_w: clean(r.export, s.grid.export_max_w),
                ..Step::default()
            };
            if let Some(b) = &s.battery {
                step.battery_charge_w = clean(r.battery_charge, b.charge_max_w);
                step.battery_discharge_w = clean(r.battery_discharge, b.discharge_max_w);
                battery_soc += (step.battery_charge_w * b.charge_efficiency
                    - step.battery_discharge_w / b.discharge_efficiency)
                    * h;
                battery_soc = battery_soc.clamp(b.min_soc_wh.min(b.soc_wh), b.capacity_wh);
                step.battery_soc_wh = battery_soc;
            }
            if let Some(c) = &s.car {
                step.car_charge_w = clean(r.car_charge, c.charge_max_w);
                step.car_discharge_w = clean(r.car_discharge, c.discharge_max_w);
                car_soc += (step.car_charge_w * c.charge_efficiency
                    - step.car_discharge_w / c.discharge_efficiency)
                    * h
                    - c.drive_wh.get(t).copied().unwrap_or(0.0);
                car_soc = car_soc.min(c.capacity_wh);
                step.car_soc_wh = car_soc;
                if car_soc < c.min_soc_wh - SOC_TOLERANCE_WH {
                    let e = car_low.get_or_insert((t, 0, car_soc));
                    e.1 += 1;
                    e.2 = e.2.min(car_soc);
                }
            }
            if r.unserved * 1000.0 > POWER_TOLERANCE_W {
                shortfalls.push(Shortfall::Unserved {
                    step: t,
                    w: r.unserved * 1000.0,
                });
            }
            if r.surplus * 1000.0 > POWER_TOLERANCE_W {
                shortfalls.push(Shortfall::Surplus {
                    step: t,
                    w: r.surplus * 1000.0,
                });
            }
            steps.push(step);
        }
        if let Some((step, n, lowest_wh)) = car_low {
            shortfalls.push(Shortfall::CarBelowMin {
                step,
                steps: n,
                lowest_wh,
            });
        }
        if let Some(car) = &s.car {
            for (d, _) in &self.departures {
                let reached_wh = if d.step == 0 {
                    car.soc_wh
                } else {
                    steps[d.step - 1].car_soc_wh
                };
                if reached_wh < d.soc_wh - SOC_TOLERANCE_WH {
                    shortfalls.push(Shortfall::Departure {
                        step: d.step,
                        target_wh: d.soc_wh,
                        reached_wh,
                    });
                }
            }
        }
        let stats = SolveStats {
            variables: self.vars.len() - self.binaries,
            constraints: self.constraints.len(),
            binaries: self.binaries,
            rounds,
            fixed_directions: false,
        };
        Plan {
            feasible: shortfalls.is_empty(),
            cost: cost(s, &steps),
            steps,
            shortfalls,
            stats,
        }
    }
}

/// A SoC this close to its bound counts as meeting it (the solvers' tolerance, far below
/// anything a battery measures).
pub const SOC_TOLERANCE_WH: f64 = 0.1;
/// A power this small counts as zero.
pub const POWER_TOLERANCE_W: f64 = 0.1;

/// Per kWh of a softened wish: above anything energy can earn or cost in the scenario, so that
/// a shortfall happens only where no plan avoids it.
fn penalty(s: &Scenario) -> f64 {
    let max_abs = |a: &[f64]| a.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let mut scale = 1.0 + max_abs(&s.price_import) + max_abs(&s.price_export);
    let mut eta = 1.0_f64;
    if let Some(b) = &s.battery {
        scale += b.wear_per_kwh + b.end_value_per_kwh.abs();
        eta = eta.min(b.charge_efficiency * b.discharge_efficiency);
    }
    if let Some(c) = &s.car {
        scale += c.wear_per_kwh + c.end_value_per_kwh.abs();
        eta = eta.min(c.charge_efficiency * c.discharge_efficiency);
    }
    1000.0 * scale / eta
}

fn solve<M: SolverModel>(
    mut model: M,
    constraints: Vec<Constraint>,
    steps: &[StepVars],
) -> Result<Raw, ResolutionError>
where
    M::Error: Into<ResolutionError>,
{
    for c in constraints {
        model.add_constraint(c);
    }
    let solution = model.solve().map_err(Into::into)?;
    let v = |x: Option<Variable>| x.map_or(0.0, |x| solution.value(x));
    Ok(Raw {
        steps: steps
            .iter()
            .map(|s| RawStep {
                import: solution.value(s.import),
                export: solution.value(s.export),
                battery_charge: v(s.battery_charge),
                battery_discharge: v(s.battery_discharge),
                car_charge: v(s.car_charge),
                car_discharge: v(s.car_discharge),
                unserved: v(s.unserved),
                surplus: v(s.surplus),
            })
            .collect(),
    })
}
