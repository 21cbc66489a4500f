//! The house's own consumption: standby, fridge, lights after dark, and appliances that start at
//! random with a daily rhythm (kettle, cooking, oven, washing machine, dishwasher, TV).

use rand::Rng;
use serde::{Deserialize, Serialize};
use units::{Timestamp, Watts};

use crate::rng::SimRng;

/// The house model's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HouseParams {
    /// Always-on consumption (routers, standby, heating pumps).
    pub standby_w: Watts,
    /// Lighting while people are awake and the sun is down.
    pub lights_w: Watts,
    /// Multiplies how often appliances run: 1.0 is a household of about 2–3 people
    /// (roughly 7 kWh/day with standby and fridge).
    pub activity: f64,
}

impl Default for HouseParams {
    fn default() -> Self {
        Self {
            standby_w: Watts(120.0),
            lights_w: Watts(150.0),
            activity: 1.0,
        }
    }
}

/// One phase of an appliance run: its length and power, and optionally a thermostat duty cycle
/// (on for `duty` of each `period`).
#[derive(Debug, Clone, Copy)]
struct Phase {
    secs: f64,
    watts: f64,
    duty: Option<(f64, f64)>,
}

const fn steady(secs: f64, watts: f64) -> Phase {
    Phase {
        secs,
        watts,
        duty: None,
    }
}

const fn cycling(secs: f64, watts: f64, duty: f64, period: f64) -> Phase {
    Phase {
        secs,
        watts,
        duty: Some((duty, period)),
    }
}

#[derive(Debug)]
struct Appliance {
    /// Mean runs per day at activity 1.0.
    runs_per_day: f64,
    /// Relative likelihood of a start in each local hour.
    hourly: [f64; 24],
    phases: &'static [Phase],
}

// Local-hour start weights.
const MORNING_EVENING: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.2, 1.0, 3.0, 2.0, 1.0, 0.8, 0.8, 1.0, 0.8, 0.6, 0.8, 1.0, 1.5, 2.0,
    1.5, 1.0, 0.8, 0.3, 0.0,
];
const MEALS: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2, 0.5, 0.3, 0.1, 0.2, 1.5, 2.0, 0.5, 0.1, 0.1, 0.3, 1.5, 3.0,
    2.0, 0.5, 0.1, 0.0, 0.0,
];
const DAYTIME: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2, 0.5, 1.0, 1.5, 1.5, 1.2, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 0.5, 0.3, 0.0, 0.0,
];
const EVENING: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2, 0.1, 0.0, 0.0, 0.0, 0.2, 0.2, 0.1, 0.1, 0.3, 0.5, 1.0,
    2.0, 3.0, 2.0, 1.0, 0.2,
];

static APPLIANCES: [Appliance; 6] = [
    // Kettle.
    Appliance {
        runs_per_day: 4.0,
        hourly: MORNING_EVENING,
        phases: &[steady(180.0, 2000.0)],
    },
    // Cooktop, thermostat-controlled.
    Appliance {
        runs_per_day: 1.2,
        hourly: MEALS,
        phases: &[cycling(1800.0, 1800.0, 0.55, 40.0)],
    },
    // Oven: heat-up, then holding temperature.
    Appliance {
        runs_per_day: 0.35,
        hourly: MEALS,
        phases: &[steady(600.0, 2600.0), cycling(2400.0, 2600.0, 0.4, 90.0)],
    },
    // Washing machine: heating, washing, spinning.
    Appliance {
        runs_per_day: 0.5,
        hourly: DAYTIME,
        phases: &[
            steady(1200.0, 2100.0),
            cycling(3000.0, 250.0, 0.7, 60.0),
            steady(600.0, 550.0),
        ],
    },
    // Dishwasher: heating, washing, heating for drying.
    Appliance {
        runs_per_day: 0.7,
        hourly: EVENING,
        phases: &[
            steady(1000.0, 2000.0),
            steady(2700.0, 120.0),
            steady(800.0, 1900.0),
        ],
    },
    // TV and friends.
    Appliance {
        runs_per_day: 1.0,
        hourly: EVENING,
        phases: &[steady(7200.0, 150.0)],
    },
];

#[derive(Debug, Clone, Copy)]
struct Run {
    appliance: usize,
    started: f64,
}

/// The house load model.
#[derive(Debug, Clone)]
pub(crate) struct House {
    params: HouseParams,
    rng: SimRng,
    runs: Vec<Run>,
    /// Mean-reverting wander of the small loads.
    wander: f64,
    fridge_phase: f64,
}

impl House {
    pub(crate) fn new(params: HouseParams, mut rng: SimRng) -> Self {
        let fridge_phase = rng.random::<f64>() * 3600.0;
        Self {
            params,
            rng,
            runs: Vec::new(),
            wander: 0.0,
            fridge_phase,
        }
    }

    /// The house's power at the end of a `dt`-second step ending at `t`, where `local_hour` is
    /// the local hour (0–23) and `dark` tells whether the sun is down.
    pub(crate) fn step(&mut self, t: Timestamp, dt: f64, local_hour: usize, dark: bool) -> Watts {
        let now = t.as_unix_secs_f64();
        let hour = local_hour.min(23);
        for (i, a) in APPLIANCES.iter().enumerate() {
            let weight_sum: f64 = a.hourly.iter().sum();
            let rate_per_s =
                a.runs_per_day * self.params.activity * a.hourly[hour] / weight_sum / 3600.0;
            let running = self.runs.iter().any(|r| r.appliance == i);
            if !running && self.rng.random::<f64>() < rate_per_s * dt {
                self.runs.push(Run {
                    appliance: i,
                    started: now,
                });
            }
        }
        let mut power = 0.0;
        self.runs.retain(|r| {
            let mut elapsed = now - r.started;
            for ph in APPLIANCES[r.appliance].phases {
                if elapsed < ph.secs {
                    power += match ph.duty {
                        Some((duty, period)) if (elapsed % period) >= duty * period => 0.0,
                        _ => ph.watts,
                    };
                    return true;
                }
                elapsed -= ph.secs;
            }
            false
        });
        // Fridge: 20 minutes on in every hour.
        let fridge = if (now + self.fridge_phase) % 3600.0 < 1200.0 {
            110.0
        } else {
            0.0
        };
        let awake = (6..23).contains(&hour);
        let lights = if dark && awake {
            self.params.lights_w.0
        } else {
            0.0
        };
        let noise: f64 = self.rng.random::<f64>() - 0.5;
        self.wander += -self.wander * (dt / 300.0).min(1.0) + noise * 8.0 * dt.sqrt();
        self.wander = self.wander.clamp(-60.0, 60.0);
        Watts((self.params.standby_w.0 + fridge + lights + power + self.wander).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, streams::HOUSE};

    #[test]
    fn a_day_uses_a_plausible_amount_and_has_peaks() {
        let mut h = House::new(HouseParams::default(), stream(7, HOUSE));
        let start = Timestamp::parse_rfc3339("2026-06-21T00:00:00Z").unwrap();
        let mut energy_wh = 0.0;
        let mut peak = 0.0_f64;
        for s in 0..86_400 {
            let t = start + std::time::Duration::from_secs(s);
            let hour = (s / 3600) as usize;
            let p = h.step(t, 1.0, hour, !(5..21).contains(&hour));
            energy_wh += p.0 / 3600.0;
            peak = peak.max(p.0);
        }
        assert!((4000.0..12000.0).contains(&energy_wh), "{energy_wh} Wh");
        assert!(peak > 1800.0, "appliances ran: peak {peak} W");
    }
}
