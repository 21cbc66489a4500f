//! The week comparison of `gridlet sim --compare` (issue 12, Done-when 4): the same simulated
//! site, car trips, PV, house and prices, run three times on virtual time: planned operation,
//! the `[control.price]` threshold rules, and "charge at once on arrival" (the car at full power
//! as soon as it is plugged, the battery on self-consumption).
//!
//! The three are judged on the same service, so that no strategy looks cheap by delivering
//! less:
//! - **The car leaves with its target** (`[control.ev] target_soc_pct`) every time. Where a
//!   strategy let it leave below, the simulated driver tops it up to the target at a public
//!   charger on the way ([`sim::World::set_car_top_up`]), and that energy is paid at
//!   [`Valuation::public_per_kwh`] (default 0.59 per kWh: a public AC charging price in
//!   Germany in 2025). The trips are then the same in every run. Trip energy a run still could
//!   not drive (none with the top-up) is paid at the same price.
//! - **The stores end where they would**: the energy the home battery and the car hold at the
//!   end over what they started with is credited (or, if less, charged) at the run's mean
//!   import price, what it would cost to buy it back on average.
//! - Energy bought is booked at the simulated import price of each tick; energy sold earns
//!   `[planner] feed_in_per_kwh`.
//!
//! `cost = import − feed-in + public top-up − stored × mean price + undriven × public price`.

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use units::{PricePerKwh, Timestamp};

use crate::config::Config;

/// How the comparison prices service a strategy did not deliver at home.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Valuation {
    /// Price per kWh of energy the car is topped up with away from home when it leaves below
    /// its target (a public charger's).
    pub public_per_kwh: f64,
}

impl Default for Valuation {
    fn default() -> Self {
        Self {
            public_per_kwh: 0.59,
        }
    }
}

/// One strategy's week.
#[derive(Debug, Clone, Serialize)]
pub struct StrategyResult {
    /// Its name.
    pub strategy: &'static str,
    /// Energy bought, currency units.
    pub import_cost: f64,
    /// Feed-in paid.
    pub export_value: f64,
    /// Value of what the stores hold at the end over the start, at the mean import price.
    pub stored_value: f64,
    /// Energy the car was topped up with away from home (it left below its target), kWh.
    pub public_kwh: f64,
    /// Its price, at the public charging price.
    pub public_cost: f64,
    /// Trip energy this run's car could not drive (too empty), at the public charging price.
    pub undriven_value: f64,
    /// Energy the car drove, kWh.
    pub trips_kwh: f64,
    /// Mean import price over the run.
    pub mean_price: f64,
    /// `import_cost - export_value + public_cost - stored_value + undriven_value`.
    pub cost: f64,
    /// The car's SoC when it left, each time.
    pub departure_soc_pct: Vec<f64>,
    /// Grid energy bought and sold, kWh.
    pub import_kwh: f64,
    /// Grid energy sold, kWh.
    pub export_kwh: f64,
}

/// The three strategies and the saving.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Planned operation.
    pub planned: StrategyResult,
    /// The threshold rules.
    pub threshold_rules: StrategyResult,
    /// Charge at once on arrival.
    pub charge_on_arrival: StrategyResult,
    /// `threshold_rules.cost - planned.cost`.
    pub saving_vs_thresholds: f64,
    /// `charge_on_arrival.cost - planned.cost`.
    pub saving_vs_arrival: f64,
    /// How many plans the planned run solved.
    pub solves: u64,
    /// The prices for service not delivered at home.
    pub valuation: Valuation,
}

/// Runs the three strategies from `start` for `length` in ticks of `[site] tick`.
pub fn compare(
    cfg: &Config,
    start: Timestamp,
    length: Duration,
    valuation: Valuation,
) -> anyhow::Result<Comparison> {
    let mut planned = cfg.clone();
    planned.planner.enabled = true;
    let mut rules = cfg.clone();
    rules.planner.enabled = false;
    let mut arrival = rules.clone();
    arrival.control.price = controller::PriceSettings {
        ev_charge_below: Some(PricePerKwh(f64::MAX)),
        ..Default::default()
    };
    let (mut p, solves) = run("planned", &planned, start, length, valuation)?;
    let (mut r, _) = run("threshold rules", &rules, start, length, valuation)?;
    let (mut a, _) = run("charge on arrival", &arrival, start, length, valuation)?;
    let asked = p.trips_kwh.max(r.trips_kwh).max(a.trips_kwh);
    for s in [&mut p, &mut r, &mut a] {
        s.undriven_value = (asked - s.trips_kwh) * valuation.public_per_kwh;
        s.cost += s.undriven_value;
    }
    Ok(Comparison {
        saving_vs_thresholds: r.cost - p.cost,
        saving_vs_arrival: a.cost - p.cost,
        planned: p,
        threshold_rules: r,
        charge_on_arrival: a,
        solves,
        valuation,
    })
}

fn run(
    strategy: &'static str,
    cfg: &Config,
    start: Timestamp,
    length: Duration,
    valuation: Valuation,
) -> anyhow::Result<(StrategyResult, u64)> {
    let (mut stepper, beside) = crate::assemble::assemble(cfg, start)?.into_stepper(start)?;
    anyhow::ensure!(
        beside.is_none(),
        "the comparison needs a simulated car (a [charge_point.car])"
    );
    if let Some(world) = stepper.world() {
        sim::lock(world).set_car_top_up(Some(cfg.control.ev.target_soc_pct));
    }
    let end = start + length;
    let mut now = start;
    let mut plugged_soc: Option<f64> = None;
    let mut departures = Vec::new();
    while now < end {
        let snap = stepper.tick(now);
        let car = snap.charge_point.map(|s| s.value);
        let plugged = car.filter(|c| c.state != devices::ChargePointState::Unplugged);
        match (plugged, plugged_soc) {
            (Some(c), _) => plugged_soc = c.ev_soc_pct.map(|p| p.0).or(plugged_soc),
            (None, Some(soc)) => {
                departures.push(soc);
                plugged_soc = None;
            }
            (None, None) => {}
        }
        now += cfg.site.tick;
    }
    stepper.finish(now);
    let solves = stepper.site.planning().map_or(0, |p| p.status().solves);
    let world = stepper
        .world()
        .context("the comparison needs the simulated world")?;
    let w = sim::lock(world);
    let report = w.report();
    let t = report.energy;
    let pl = &cfg.planner;
    let stored = |a: Option<f64>, b: Option<f64>, cap: f64| match (a, b) {
        (Some(a), Some(b)) => (b - a) / 100.0 * cap / 1000.0,
        _ => 0.0,
    };
    let stored_kwh = stored(
        report.battery_soc_start_pct,
        report.battery_soc_end_pct,
        pl.battery_capacity_wh,
    ) + stored(
        report.ev_soc_start_pct,
        report.ev_soc_end_pct,
        pl.car_capacity_wh,
    );
    let export_value = t.grid_export / 1000.0 * pl.feed_in_per_kwh;
    // The mean import price over the run, every 15 minutes.
    let mut mean = (0.0, 0u32);
    let mut at = start;
    while at < end {
        if let Some(p) = w.price_at(at) {
            mean = (mean.0 + p.0, mean.1 + 1);
        }
        at += Duration::from_secs(900);
    }
    let mean_price = if mean.1 > 0 {
        mean.0 / f64::from(mean.1)
    } else {
        0.0
    };
    let stored_value = stored_kwh * mean_price;
    let public_kwh = w.car_topped_up_energy() / 1000.0;
    let public_cost = public_kwh * valuation.public_per_kwh;
    Ok((
        StrategyResult {
            strategy,
            import_cost: t.import_cost,
            export_value,
            stored_value,
            public_kwh,
            public_cost,
            undriven_value: 0.0,
            trips_kwh: w.car_trip_energy() / 1000.0,
            mean_price,
            cost: t.import_cost - export_value + public_cost - stored_value,
            departure_soc_pct: departures,
            import_kwh: t.grid_import / 1000.0,
            export_kwh: t.grid_export / 1000.0,
        },
        solves,
    ))
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<18} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  car SoC at departure (%)",
            "strategy",
            "cost",
            "import",
            "feed-in",
            "public",
            "stored",
            "undriven",
            "imp kWh",
            "pub kWh"
        )?;
        for r in [
            &self.planned,
            &self.threshold_rules,
            &self.charge_on_arrival,
        ] {
            writeln!(
                f,
                "{:<18} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.1} {:>8.1}  {}",
                r.strategy,
                r.cost,
                r.import_cost,
                r.export_value,
                r.public_cost,
                r.stored_value,
                r.undriven_value,
                r.import_kwh,
                r.public_kwh,
                r.departure_soc_pct
                    .iter()
                    .map(|s| format!("{s:.0}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )?;
        }
        write!(
            f,
            "planned saves {:.2} ({:.0} %) against the threshold rules and {:.2} ({:.0} %) \
             against charging on arrival ({} plans solved; a car leaving below its target is \
             topped up at {:.2}/kWh, stored energy counts at the mean import price {:.3}/kWh)",
            self.saving_vs_thresholds,
            pct(self.saving_vs_thresholds, self.threshold_rules.cost),
            self.saving_vs_arrival,
            pct(self.saving_vs_arrival, self.charge_on_arrival.cost),
            self.solves,
            self.valuation.public_per_kwh,
            self.planned.mean_price,
        )
    }
}

/// `part` as a percentage of `whole` (0 for a zero whole).
fn pct(part: f64, whole: f64) -> f64 {
    if whole.abs() > f64::EPSILON {
        100.0 * part / whole.abs()
    } else {
        0.0
    }
}
