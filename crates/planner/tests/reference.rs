//! The planner against an independent reference (issue 12, Done-when 2): a dynamic program over
//! the SoCs on a grid of `G` Wh, which enumerates every plan whose SoCs lie on the grid, with one
//! direction per storage and per grid connection in each step, and keeps the cheapest.
//!
//! With efficiencies of 1 and every power, energy and limit a multiple of the grid, the model is
//! a network flow with integral data: its optimum lies on the grid, so the planner's cost must
//! equal the DP's, and the DP says exactly when a scenario is infeasible. With efficiencies
//! below 1 (one storage, fine grid) the DP can only be a little worse than the true optimum.

use planner::{Backend, Battery, Car, Departure, Grid, Options, Scenario, plan, plan_with};
use proptest::prelude::*;

/// The reference: the least cost over grid-SoC plans, or `None` when no plan meets every limit
/// and departure. Steps of one hour keep W and Wh alike.
fn dp(s: &Scenario, g: f64) -> Option<f64> {
    let h = s.step_h();
    let n = s.steps();
    let levels = |cap: f64| (cap / g).round() as usize + 1;
    let (nb, nc) = (
        s.battery.map_or(1, |b| levels(b.capacity_wh)),
        s.car.as_ref().map_or(1, |c| levels(c.capacity_wh)),
    );
    let idx = |soc: f64| (soc / g).round() as usize;
    let mut cost = vec![f64::INFINITY; nb * nc];
    let start_b = s.battery.map_or(0, |b| idx(b.soc_wh));
    let start_c = s.car.as_ref().map_or(0, |c| idx(c.soc_wh));
    cost[start_b * nc + start_c] = 0.0;
    if s.car.as_ref().is_some_and(|c| {
        c.departures
            .iter()
            .any(|d| d.step == 0 && c.soc_wh < d.soc_wh - 1e-9)
    }) {
        return None;
    }
    for t in 0..n {
        let mut next = vec![f64::INFINITY; nb * nc];
        for ib in 0..nb {
            for ic in 0..nc {
                let here = cost[ib * nc + ic];
                if here.is_infinite() {
                    continue;
                }
                for jb in 0..nb {
                    // Battery: power from the SoC change (kept non-simultaneous).
                    let (mut bc, mut bd, mut wear) = (0.0, 0.0, 0.0);
                    if let Some(b) = &s.battery {
                        let soc = jb as f64 * g;
                        if soc < b.min_soc_wh.min(b.soc_wh) - 1e-9 {
                            continue;
                        }
                        let de = (jb as f64 - ib as f64) * g;
                        if de >= 0.0 {
                            bc = de / b.charge_efficiency / h;
                        } else {
                            bd = -de * b.discharge_efficiency / h;
                        }
                        if bc > b.charge_max_w + 1e-9 || bd > b.discharge_max_w + 1e-9 {
                            continue;
                        }
                        wear += bd * h / 1000.0 * b.wear_per_kwh;
                    } else if jb != 0 {
                        continue;
                    }
                    for jc in 0..nc {
                        let (mut cc, mut cd, mut wear) = (0.0, 0.0, wear);
                        if let Some(c) = &s.car {
                            let soc = jc as f64 * g;
                            if soc < c.min_soc_wh - 1e-9 {
                                continue;
                            }
                            let drive = c.drive_wh.get(t).copied().unwrap_or(0.0);
                            let de = (jc as f64 - ic as f64) * g + drive;
                            if de >= 0.0 {
                                cc = de / c.charge_efficiency / h;
                            } else {
                                cd = -de * c.discharge_efficiency / h;
                            }
                            let cmax = if c.plugged[t] { c.charge_max_w } else { 0.0 };
                            let dmax = if c.plugged[t] && c.v2h {
                                c.discharge_max_w
                            } else {
                                0.0
                            };
                            if cc > cmax + 1e-9 || cd > dmax + 1e-9 {
                                continue;
                            }
                            // Departure at step t + 1: the SoC after step t.
                            if c.departures
                                .iter()
                                .any(|d| d.step == t + 1 && soc < d.soc_wh - 1e-9)
                            {
                                continue;
                            }
                            wear += cd * h / 1000.0 * c.wear_per_kwh;
                        } else if jc != 0 {
                            continue;
                        }
                        let net = s.load_w[t] - s.pv_w[t] + bc + cc - bd - cd;
                        let (import, export) = (net.max(0.0), (-net).max(0.0));
                        if import > s.grid.import_max_w + 1e-9
                            || export > s.grid.export_max_w + 1e-9
                        {
                            continue;
                        }
                        let step =
                            (import * s.price_import[t] - export * s.price_export[t]) / 1000.0 * h
                                + wear;
                        let k = jb * nc + jc;
                        next[k] = next[k].min(here + step);
                    }
                }
            }
        }
        cost = next;
    }
    let mut best = f64::INFINITY;
    for ib in 0..nb {
        for ic in 0..nc {
            let mut v = cost[ib * nc + ic];
            if let Some(b) = &s.battery {
                v -= b.end_value_per_kwh * ib as f64 * g / 1000.0;
            }
            if let Some(c) = &s.car {
                v -= c.end_value_per_kwh * ic as f64 * g / 1000.0;
            }
            best = best.min(v);
        }
    }
    best.is_finite().then_some(best)
}

const G: f64 = 250.0;

/// Multiples of the grid, W (one-hour steps: W = Wh).
fn units(max: u32) -> impl Strategy<Value = f64> {
    (0..=max).prop_map(|k| k as f64 * G)
}

fn price() -> impl Strategy<Value = f64> {
    // Cents, negative now and then.
    (-10i32..=40).prop_map(|c| c as f64 / 100.0)
}

/// Small scenarios with a battery and a car, efficiencies 1, everything on the grid.
fn integral() -> impl Strategy<Value = Scenario> {
    (3usize..=6).prop_flat_map(|n| {
        (
            prop::collection::vec((price(), price(), units(12), units(12)), n),
            (units(8), units(12)),
            (
                units(8),
                0u32..=8,
                0u32..=8,
                units(8),
                units(8),
                0u32..=5,
                0u32..=10,
            ),
            (
                units(12),
                0u32..=12,
                0u32..=12,
                units(8),
                units(8),
                0u32..=5,
                any::<bool>(),
            ),
            (
                prop::collection::vec(any::<bool>(), n),
                0..=n,
                0u32..=8,
                0usize..n,
                units(4),
            ),
        )
            .prop_map(move |(steps, grid, b, c, car)| {
                let (bcap, bsoc, bmin, bc, bd, bwear, bend) = b;
                let bsoc = (bsoc as f64 * G).min(bcap);
                let bmin = (bmin as f64 * G).min(bcap);
                let (ccap, csoc, cmin, cc, cd, cwear, v2h) = c;
                let (plugged, dep_step, dep_soc, drive_step, drive) = car;
                let mut drive_wh = vec![0.0; n];
                if !plugged[drive_step] {
                    drive_wh[drive_step] = drive;
                }
                Scenario {
                    step_min: 60.0,
                    price_import: steps.iter().map(|s| s.0).collect(),
                    // Export below import mostly, above now and then (import and export at
                    // once then pays, so the grid needs its binary).
                    price_export: steps.iter().map(|s| s.1 * 0.5).collect(),
                    pv_w: steps.iter().map(|s| s.2).collect(),
                    load_w: steps.iter().map(|s| s.3).collect(),
                    grid: Grid {
                        import_max_w: 3000.0 + grid.0,
                        export_max_w: 1000.0 + grid.1,
                    },
                    battery_available: Vec::new(),
                    battery: Some(Battery {
                        capacity_wh: bcap.max(G),
                        soc_wh: bsoc,
                        min_soc_wh: bmin,
                        charge_max_w: bc,
                        discharge_max_w: bd,
                        charge_efficiency: 1.0,
                        discharge_efficiency: 1.0,
                        wear_per_kwh: bwear as f64 / 100.0,
                        end_value_per_kwh: bend as f64 / 100.0,
                    }),
                    car: Some(Car {
                        capacity_wh: ccap.max(G),
                        soc_wh: (csoc.max(cmin / 2) as f64 * G).min(ccap.max(G)),
                        min_soc_wh: (cmin as f64 * G).min(ccap.max(G)) * 0.5,
                        charge_max_w: G + cc,
                        discharge_max_w: cd,
                        charge_efficiency: 1.0,
                        discharge_efficiency: 1.0,
                        wear_per_kwh: cwear as f64 / 100.0,
                        end_value_per_kwh: 0.1,
                        v2h,
                        plugged,
                        departures: vec![Departure {
                            step: dep_step,
                            soc_wh: dep_soc as f64 * G,
                        }],
                        drive_wh,
                    }),
                }
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Exact: the planner's cost equals the DP's, and it is infeasible exactly when the DP
    /// finds no plan. Both back ends.
    #[test]
    fn equals_the_dynamic_program(s in integral()) {
        // Half-grid min SoCs are off the grid: round them up for both.
        let mut s = s;
        if let Some(c) = s.car.as_mut() {
            c.min_soc_wh = (c.min_soc_wh / G).ceil() * G;
        }
        let reference = dp(&s, G);
        for backend in [Backend::Clarabel, Backend::Microlp] {
            let p = plan_with(&s, &Options { backend, ..Options::default() }).expect("plans");
            match reference {
                Some(cost) => {
                    prop_assert!(p.feasible, "{backend:?}: DP finds a plan of cost {cost}, planner says infeasible: {:?}", p.shortfalls);
                    prop_assert!((p.cost - cost).abs() < 1e-5 * (1.0 + cost.abs()),
                        "{backend:?}: planner {} DP {cost}", p.cost);
                }
                None => prop_assert!(!p.feasible, "{backend:?}: DP finds no plan, planner says feasible"),
            }
        }
    }
}

/// Efficiencies below 1 and negative prices (charging and discharging at once would burn energy
/// for money there, so those steps need their binaries): one battery, a fine grid. The DP is
/// restricted to the grid, so it may only be a little worse than the optimum; the bound is the
/// cost of moving each step's SoC by one grid step at the dearest price.
#[test]
fn close_to_the_dynamic_program_with_losses() {
    let prices = [
        (0.30, 0.08, 0.0, 500.0),
        (-0.05, -0.10, 3000.0, 300.0),
        (-0.08, -0.12, 3500.0, 300.0),
        (0.10, 0.05, 2000.0, 400.0),
        (0.35, 0.08, 0.0, 1500.0),
        (0.40, 0.08, 0.0, 1200.0),
        (0.25, 0.08, 0.0, 600.0),
    ];
    let g = 5.0;
    for (ce, de) in [(0.95, 0.95), (0.9, 0.85), (1.0, 0.8)] {
        let s = Scenario {
            step_min: 60.0,
            price_import: prices.iter().map(|p| p.0).collect(),
            price_export: prices.iter().map(|p| p.1).collect(),
            pv_w: prices.iter().map(|p| p.2).collect(),
            load_w: prices.iter().map(|p| p.3).collect(),
            grid: Grid {
                import_max_w: 6000.0,
                export_max_w: 2000.0,
            },
            battery_available: Vec::new(),
            battery: Some(Battery {
                capacity_wh: 3000.0,
                soc_wh: 1000.0,
                min_soc_wh: 300.0,
                charge_max_w: 2000.0,
                discharge_max_w: 1500.0,
                charge_efficiency: ce,
                discharge_efficiency: de,
                wear_per_kwh: 0.02,
                end_value_per_kwh: 0.12,
            }),
            car: None,
        };
        let reference = dp(&s, g).expect("feasible");
        let p = plan(&s).expect("plans");
        assert!(p.feasible);
        assert!(
            p.stats.binaries > 0,
            "negative prices need binaries: {:?}",
            p.stats
        );
        let bound = s.steps() as f64 * 2.0 * g / 1000.0 * 0.40 / (ce * de) + 0.12 * g / 1000.0;
        assert!(
            p.cost <= reference + 1e-6 && reference - p.cost <= bound,
            "η {ce}/{de}: planner {} DP {reference} (bound {bound})",
            p.cost
        );
        for st in &p.steps {
            assert!(
                !(st.battery_charge_w > 0.0 && st.battery_discharge_w > 0.0),
                "{st:?}"
            );
            assert!(!(st.import_w > 0.0 && st.export_w > 0.0), "{st:?}");
        }
    }
}
