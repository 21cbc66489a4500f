//! Energy totals per local day, sans-IO: the flows of successive snapshots integrated over
//! time. Months and years are sums of days (the store adds them up).

use std::collections::VecDeque;
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use units::Timestamp;

use crate::series::Flows;

/// Energy of one period, Wh (money in the price's currency).
///
/// Money counts only while a price is known: `import_cost` while the import price is,
/// `export_revenue` while the feed-in price is. `baseline_cost` and `savings` are derived per
/// local day (a month or a year is the sum of its days):
///
/// - **baseline** = what the site would have paid without PV, home battery and V2H: the house's
///   load bought at the import price of its time, plus the car's net energy of the day (charge −
///   discharge, if positive) bought at the day's mean import price (time-weighted over the hours
///   with a known price). The car is charged either way; without V2H and a battery it would
///   have been charged from the grid at no chosen time, hence the mean.
/// - **savings** = baseline − what the site did pay (`import_cost − export_revenue`).
///
/// Both count only the hours with a known import price (`priced_hours`); a day without any is
/// 0 for both. With prices for part of a day only, the house and the imports count over the
/// priced part, the car's net energy over the whole day.
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
    /// The house's own draw: everything but the home battery and the car (`history::flows`
    /// derives it from the AC balance).
    pub house_wh: f64,
    /// What the exports earned at the feed-in prices of their time (only while one is known).
    pub export_revenue: f64,
    /// What the site would have paid without PV, home battery and V2H (see the type's docs).
    pub baseline_cost: f64,
    /// `baseline_cost − (import_cost − export_revenue)`, per day (see the type's docs).
    pub savings: f64,
    /// Hours with a known import price: what cost, baseline and savings cover.
    pub priced_hours: f64,
    /// Σ house energy × import price over the priced hours (part of the baseline).
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub house_cost: f64,
    /// ∫ import price dt over the priced hours (price × h): the day's mean price is this over
    /// `priced_hours`.
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub price_integral: f64,
}

impl Energy {
    /// The fields in a fixed order (the store's columns; the first eight are the original
    /// schema's, the rest were added by a migration).
    pub const FIELDS: [&'static str; 15] = [
        "pv_wh",
        "import_wh",
        "export_wh",
        "battery_in_wh",
        "battery_out_wh",
        "car_charge_wh",
        "car_discharge_wh",
        "import_cost",
        "house_wh",
        "export_revenue",
        "baseline_cost",
        "savings",
        "priced_hours",
        "house_cost",
        "price_integral",
    ];

    /// The values in the order of [`FIELDS`](Self::FIELDS).
    pub fn to_array(self) -> [f64; 15] {
        [
            self.pv_wh,
            self.import_wh,
            self.export_wh,
            self.battery_in_wh,
            self.battery_out_wh,
            self.car_charge_wh,
            self.car_discharge_wh,
            self.import_cost,
            self.house_wh,
            self.export_revenue,
            self.baseline_cost,
            self.savings,
            self.priced_hours,
            self.house_cost,
            self.price_integral,
        ]
    }

    /// From values in the order of [`FIELDS`](Self::FIELDS).
    pub fn from_array(a: [f64; 15]) -> Self {
        Self {
            pv_wh: a[0],
            import_wh: a[1],
            export_wh: a[2],
            battery_in_wh: a[3],
            battery_out_wh: a[4],
            car_charge_wh: a[5],
            car_discharge_wh: a[6],
            import_cost: a[7],
            house_wh: a[8],
            export_revenue: a[9],
            baseline_cost: a[10],
            savings: a[11],
            priced_hours: a[12],
            house_cost: a[13],
            price_integral: a[14],
        }
    }

    /// The day's mean import price over its priced hours.
    pub fn mean_price(&self) -> Option<f64> {
        (self.priced_hours > 0.0).then(|| self.price_integral / self.priced_hours)
    }

    /// Adds what `flows` deliver during `hours` to a day's totals, and derives the day's
    /// baseline and savings anew.
    fn add(&mut self, flows: &Flows, hours: f64) {
        let split = |w: Option<f64>| {
            let w = w.unwrap_or(0.0);
            (w.max(0.0) * hours, (-w).max(0.0) * hours)
        };
        self.pv_wh += flows.pv_w.unwrap_or(0.0).max(0.0) * hours;
        let (import, export) = split(flows.grid_w);
        self.import_wh += import;
        self.export_wh += export;
        let house = flows.house_w.unwrap_or(0.0).max(0.0) * hours;
        self.house_wh += house;
        if let Some(p) = flows.price {
            self.import_cost += import / 1000.0 * p;
            self.house_cost += house / 1000.0 * p;
            self.priced_hours += hours;
            self.price_integral += p * hours;
        }
        if let Some(p) = flows.feed_in {
            self.export_revenue += export / 1000.0 * p;
        }
        let (bat_in, bat_out) = split(flows.battery_w);
        self.battery_in_wh += bat_in;
        self.battery_out_wh += bat_out;
        let (car_in, car_out) = split(flows.car_w);
        self.car_charge_wh += car_in;
        self.car_discharge_wh += car_out;
        self.settle_day();
    }

    /// Baseline and savings from a day's totals (not linear in them: the car's net energy is
    /// clamped and priced at the day's mean, so a month is the sum of its days, never this).
    fn settle_day(&mut self) {
        match self.mean_price() {
            Some(mean) => {
                let car_net_kwh = (self.car_charge_wh - self.car_discharge_wh).max(0.0) / 1000.0;
                self.baseline_cost = self.house_cost + car_net_kwh * mean;
                self.savings = self.baseline_cost - (self.import_cost - self.export_revenue);
            }
            None => {
                self.baseline_cost = 0.0;
                self.savings = 0.0;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-06-01 00:00 UTC.
    const DAY0: i64 = 1_780_272_000;

    fn at_h(h: i64) -> Timestamp {
        Timestamp::from_unix_secs(DAY0 + h * 3600)
    }

    /// The import price curve: 0.10 at night, 0.30 by day, 0.40 in the evening.
    fn price(h: i64) -> f64 {
        match h % 24 {
            0..4 => 0.10,
            4..16 => 0.30,
            _ => 0.40,
        }
    }

    /// Flows with the grid closing the balance (grid = house + battery + car − PV).
    fn flows(h: i64, house: f64, pv: f64, battery: f64, car: f64, priced: bool) -> Flows {
        Flows {
            pv_w: Some(pv),
            grid_w: Some(house + battery + car - pv),
            battery_w: Some(battery),
            car_w: Some(car),
            house_w: Some(house),
            price: priced.then(|| price(h)),
            feed_in: priced.then_some(0.08),
        }
    }

    /// One day of segments `(start hour, house, pv, battery, car)`, each lasting until the
    /// next (the last until midnight); the day's totals.
    fn day(segments: &[(i64, f64, f64, f64, f64)], priced: bool) -> Energy {
        let mut m = EnergyMeter::new(TimeZone::UTC, Duration::from_secs(13 * 3600));
        for &(h, house, pv, bat, car) in segments {
            m.handle_flows(at_h(h), flows(h, house, pv, bat, car, priced));
        }
        m.handle_flows(at_h(24), Flows::default());
        // The day closes once time after midnight counts; its totals are complete now.
        let (d, e) = m.today().unwrap();
        assert_eq!(d.to_string(), "2026-06-01");
        e
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// 00–04 at 0.10: the car charges 3 kW from the grid, the house takes 0.5 kW. 04–16 at
    /// 0.30: 2.5 kW of PV, 1 kW into the battery, 1 kW exported at 0.08. 16–20 at 0.40: the
    /// house takes 2 kW, the car gives `v2h` kW and the battery the rest. 20–24 at 0.40: the
    /// house imports 0.5 kW.
    fn v2h_day(v2h: f64, priced: bool) -> Energy {
        day(
            &[
                (0, 500.0, 0.0, 0.0, 3000.0),
                (4, 500.0, 2500.0, 1000.0, 0.0),
                (16, 2000.0, 0.0, -500.0, -v2h),
                (20, 500.0, 0.0, 0.0, 0.0),
            ],
            priced,
        )
    }

    #[test]
    fn a_v2h_day_saves_the_spread_between_cheap_charging_and_the_evening_price() {
        let e = v2h_day(1500.0, true);
        assert!(close(e.import_wh, 14_000.0 + 2000.0), "{e:?}");
        assert!(close(e.export_wh, 12_000.0));
        assert!(close(e.pv_wh, 30_000.0));
        assert!(close(e.house_wh, 2000.0 + 6000.0 + 8000.0 + 2000.0));
        assert!(close(e.car_charge_wh, 12_000.0));
        assert!(close(e.car_discharge_wh, 6000.0));
        assert!(close(e.battery_in_wh, 12_000.0));
        assert!(close(e.battery_out_wh, 2000.0));
        // 14 kWh at 0.10 + 2 kWh at 0.40.
        assert!(close(e.import_cost, 1.40 + 0.80), "{}", e.import_cost);
        // 12 kWh at 0.08.
        assert!(close(e.export_revenue, 0.96));
        assert!(close(e.priced_hours, 24.0));
        // (4 h × 0.10 + 12 h × 0.30 + 8 h × 0.40) / 24 h.
        assert!(close(e.mean_price().unwrap(), 0.30));
        // House: 2 kWh × 0.10 + 6 × 0.30 + 8 × 0.40 + 2 × 0.40 = 6.00; the car's net 6 kWh
        // at the mean 0.30 = 1.80.
        assert!(close(e.baseline_cost, 6.00 + 1.80), "{}", e.baseline_cost);
        // 7.80 − (2.20 − 0.96).
        assert!(close(e.savings, 6.56), "{}", e.savings);

        // The same day without V2H: the grid covers the car's 1.5 kW in the evening.
        let plain = v2h_day(0.0, true);
        assert!(close(plain.import_cost, 2.20 + 6.0 * 0.40));
        assert!(close(plain.baseline_cost, 6.00 + 12.0 * 0.30));
        assert!(
            close(plain.savings, 9.60 - (4.60 - 0.96)),
            "{}",
            plain.savings
        );
        // What V2H adds: each discharged kWh avoided the evening's 0.40 and would have been
        // bought back at the day's mean 0.30.
        assert!(close(e.savings - plain.savings, 6.0 * (0.40 - 0.30)));
    }

    #[test]
    fn a_day_without_prices_counts_energy_and_no_money() {
        let e = v2h_day(1500.0, false);
        assert!(close(e.import_wh, 16_000.0));
        assert!(close(e.house_wh, 18_000.0));
        assert_eq!(
            (
                e.import_cost,
                e.export_revenue,
                e.baseline_cost,
                e.savings,
                e.priced_hours
            ),
            (0.0, 0.0, 0.0, 0.0, 0.0)
        );
        assert_eq!(e.mean_price(), None);
    }

    #[test]
    fn exports_earn_only_while_a_feed_in_price_is_known_and_savings_need_an_import_price() {
        let mut m = EnergyMeter::new(TimeZone::UTC, Duration::from_secs(3600));
        // One hour exporting 2 kW paid 0.08, one hour exporting 2 kW with no feed-in price.
        let export = |feed_in| Flows {
            pv_w: Some(2000.0),
            grid_w: Some(-2000.0),
            house_w: Some(0.0),
            feed_in,
            ..Flows::default()
        };
        m.handle_flows(at_h(0), export(Some(0.08)));
        m.handle_flows(at_h(1), export(None));
        m.handle_flows(at_h(2), Flows::default());
        let (_, e) = m.today().unwrap();
        assert!(close(e.export_wh, 4000.0));
        assert!(close(e.export_revenue, 0.16));
        // No import price all day: the baseline is unknown, so no savings are claimed.
        assert_eq!((e.baseline_cost, e.savings), (0.0, 0.0));
    }

    #[test]
    fn savings_continue_from_totals_resumed_after_a_restart() {
        let segments = [
            (0, 500.0, 0.0, 0.0, 3000.0),
            (4, 500.0, 2500.0, 1000.0, 0.0),
            (16, 2000.0, 0.0, -500.0, -1500.0),
            (20, 500.0, 0.0, 0.0, 0.0),
        ];
        let whole = day(&segments, true);
        // Stopped at 16:00, the day's totals read back from the store, started again.
        let mut first = EnergyMeter::new(TimeZone::UTC, Duration::from_secs(13 * 3600));
        for &(h, house, pv, bat, car) in &segments[..2] {
            first.handle_flows(at_h(h), flows(h, house, pv, bat, car, true));
        }
        first.handle_flows(at_h(16), Flows::default());
        let (d, stored) = first.today().unwrap();
        let stored = Energy::from_array(stored.to_array());
        let mut second = EnergyMeter::new(TimeZone::UTC, Duration::from_secs(13 * 3600));
        second.resume(d, stored);
        for &(h, house, pv, bat, car) in &segments[2..] {
            second.handle_flows(at_h(h), flows(h, house, pv, bat, car, true));
        }
        second.handle_flows(at_h(24), Flows::default());
        let (_, resumed) = second.today().unwrap();
        for (a, b) in whole.to_array().into_iter().zip(resumed.to_array()) {
            assert!(close(a, b), "{whole:?} {resumed:?}");
        }
    }
}
