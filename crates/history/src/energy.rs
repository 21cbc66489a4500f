//! Energy totals per local day, sans-IO: the flows of successive snapshots integrated over
//! time. Months and years are sums of days (the store adds them up).

use std::collections::VecDeque;
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use units::Timestamp;

use crate::series::Flows;

/// Energy of one period, Wh (cost in the price's currency).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Energy {
    /// PV production.
    pub pv_wh: f64,
    /// Bought from the grid.
    pub import_wh: f64,
    /// Sold to the grid.
    pub export_wh: f64,
    /// Into the home battery (DC).
    pub battery_in_wh: f64,
    /// Out of the home battery (DC).
    pub battery_out_wh: f64,
    /// Into the car (DC, at the inlet).
    pub car_charge_wh: f64,
    /// Out of the car (V2H).
    pub car_discharge_wh: f64,
    /// What the imports cost at the prices of their time (only while a price is known).
    pub import_cost: f64,
}

impl Energy {
    /// The fields in a fixed order (the store's columns).
    pub const FIELDS: [&'static str; 8] = [
        "pv_wh",
        "import_wh",
        "export_wh",
        "battery_in_wh",
        "battery_out_wh",
        "car_charge_wh",
        "car_discharge_wh",
        "import_cost",
    ];

    /// The values in the order of [`FIELDS`](Self::FIELDS).
    pub fn to_array(self) -> [f64; 8] {
        [
            self.pv_wh,
            self.import_wh,
            self.export_wh,
            self.battery_in_wh,
            self.battery_out_wh,
            self.car_charge_wh,
            self.car_discharge_wh,
            self.import_cost,
        ]
    }

    /// From values in the order of [`FIELDS`](Self::FIELDS).
    pub fn from_array(a: [f64; 8]) -> Self {
        Self {
            pv_wh: a[0],
            import_wh: a[1],
            export_wh: a[2],
            battery_in_wh: a[3],
            battery_out_wh: a[4],
            car_charge_wh: a[5],
            car_discharge_wh: a[6],
            import_cost: a[7],
        }
    }

    /// Adds what `flows` deliver during `hours`.
    fn add(&mut self, flows: &Flows, hours: f64) {
        let split = |w: Option<f64>| {
            let w = w.unwrap_or(0.0);
            (w.max(0.0) * hours, (-w).max(0.0) * hours)
        };
        self.pv_wh += flows.pv_w.unwrap_or(0.0).max(0.0) * hours;
        let (import, export) = split(flows.grid_w);
        self.import_wh += import;
        self.export_wh += export;
        if let Some(p) = flows.price {
            self.import_cost += import / 1000.0 * p;
        }
        let (bat_in, bat_out) = split(flows.battery_w);
        self.battery_in_wh += bat_in;
        self.battery_out_wh += bat_out;
        let (car_in, car_out) = split(flows.car_w);
        self.car_charge_wh += car_in;
        self.car_discharge_wh += car_out;
    }
}

/// Integrates flows into per-day totals: each snapshot's flows count until the next snapshot,
/// on the local day the interval began. A gap longer than `max_gap` (the daemon was down)
/// counts nothing: no energy is invented for time nobody watched.
#[derive(Debug)]
pub struct EnergyMeter {
    tz: TimeZone,
    max_gap: Duration,
    last: Option<(Timestamp, Flows)>,
    day: Option<(Date, Energy)>,
    closed: VecDeque<(Date, Energy)>,
}

impl EnergyMeter {
    /// A meter counting local days of `tz`.
    pub fn new(tz: TimeZone, max_gap: Duration) -> Self {
        Self {
            tz,
            max_gap,
            last: None,
            day: None,
            closed: VecDeque::new(),
        }
    }

    /// The local day of `t`.
    pub fn day_of(&self, t: Timestamp) -> Date {
        self.tz.to_datetime(t.to_jiff()).date()
    }

    /// Continues `day`'s totals (read back from the store after a restart).
    pub fn resume(&mut self, day: Date, totals: Energy) {
        self.day = Some((day, totals));
    }

    /// The flows of a snapshot taken at `now`.
    pub fn handle_flows(&mut self, now: Timestamp, flows: Flows) {
        if let Some((t0, f0)) = self.last.replace((now, flows)) {
            let Some(dt) = now.checked_duration_since(t0) else {
                return;
            };
            if dt.is_zero() || dt > self.max_gap {
                return;
            }
            let day = self.day_of(t0);
            match &mut self.day {
                Some((d, e)) if *d == day => e.add(&f0, dt.as_secs_f64() / 3600.0),
                _ => {
                    if let Some(done) = self.day.take() {
                        self.closed.push_back(done);
                    }
                    let mut e = Energy::default();
                    e.add(&f0, dt.as_secs_f64() / 3600.0);
                    self.day = Some((day, e));
                }
            }
        }
    }

    /// The running day's totals so far.
    pub fn today(&self) -> Option<(Date, Energy)> {
        self.day
    }

    /// A day that has ended, with its final totals.
    pub fn poll_closed(&mut self) -> Option<(Date, Energy)> {
        self.closed.pop_front()
    }
}
