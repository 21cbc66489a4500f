//! Downsampling, energy totals, retention and the store on virtual time.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use history::query::{EnergyParams, EnergyQuery, HistoryParams, HistoryQuery};
use history::{Batch, Downsampler, Flows, Period, Recorder, Resolution, Retention, Store, Sync};
use jiff::tz::TimeZone;
use units::Timestamp;

/// 2026-06-21T00:00:00Z (a multiple of 86,400 s).
const T0: i64 = 1_782_000_000;

fn at(s: i64) -> Timestamp {
    Timestamp::from_unix_secs(T0 + s)
}

fn rows(d: &mut Downsampler) -> Vec<history::Row> {
    std::iter::from_fn(|| d.poll_row()).collect()
}

#[test]
fn ticks_become_10s_means_then_1min_and_15min_with_min_and_max() {
    let mut d = Downsampler::new();
    // One tick per second for 15 minutes and one more: v = the second of the day.
    for s in 0..=900 {
        d.handle_values(at(s), [("x", s as f64)]);
    }
    let out = rows(&mut d);
    let raw: Vec<_> = out
        .iter()
        .filter(|r| r.resolution == Resolution::Raw)
        .collect();
    assert_eq!(raw.len(), 90);
    assert_eq!(raw[0].t, T0);
    assert_eq!((raw[0].mean, raw[0].min, raw[0].max), (4.5, 0.0, 9.0));
    assert_eq!(raw[1].count, 10);
    let minutes: Vec<_> = out
        .iter()
        .filter(|r| r.resolution == Resolution::Minute)
        .collect();
    assert_eq!(minutes.len(), 15);
    assert_eq!(
        (
            minutes[1].t,
            minutes[1].mean,
            minutes[1].min,
            minutes[1].max
        ),
        (T0 + 60, 89.5, 60.0, 119.0)
    );
    let quarters: Vec<_> = out
        .iter()
        .filter(|r| r.resolution == Resolution::Quarter)
        .collect();
    assert_eq!(quarters.len(), 1);
    assert_eq!(
        (quarters[0].mean, quarters[0].min, quarters[0].max),
        (449.5, 0.0, 899.0)
    );
    // The tick at 900 s is in open buckets until flushed.
    d.flush();
    let last = rows(&mut d);
    assert_eq!(last.len(), 3);
    assert!(last.iter().all(|r| r.t == T0 + 900 && r.mean == 900.0));
}

#[test]
fn a_missing_series_and_gaps_leave_gaps() {
    let mut d = Downsampler::new();
    d.handle_values(at(0), [("a", 1.0), ("b", 2.0)]);
    d.handle_values(at(5), [("a", 3.0), ("b", f64::NAN)]);
    // The daemon was down for an hour.
    d.handle_values(at(3600), [("a", 5.0)]);
    let out = rows(&mut d);
    let raw: Vec<_> = out
        .iter()
        .filter(|r| r.resolution == Resolution::Raw)
        .map(|r| (r.t - T0, r.series.as_str(), r.mean))
        .collect();
    assert_eq!(raw, [(0, "a", 2.0), (0, "b", 2.0)]);
    let q: Vec<_> = out
        .iter()
        .filter(|r| r.resolution == Resolution::Quarter)
        .map(|r| (r.t - T0, r.series.as_str(), r.count))
        .collect();
    assert_eq!(q, [(0, "a", 2), (0, "b", 1)]);
}

#[test]
fn resumed_buckets_continue_with_the_stored_samples() {
    let mut d = Downsampler::new();
    let stored = (0..3).map(|i| history::Row {
        resolution: Resolution::Raw,
        t: T0 + 10 * i,
        series: "x".into(),
        mean: 10.0,
        min: 10.0,
        max: 10.0,
        count: 1,
    });
    d.resume(stored);
    for s in 30..60 {
        d.handle_values(at(s), [("x", 20.0)]);
    }
    d.handle_values(at(60), [("x", 0.0)]);
    let m: Vec<_> = rows(&mut d)
        .into_iter()
        .filter(|r| r.resolution == Resolution::Minute)
        .collect();
    assert_eq!(m.len(), 1);
    // 3 stored samples (one tick each) and 30 new ticks.
    assert_eq!(m[0].count, 33);
    assert_eq!(m[0].min, 10.0);
    assert!((m[0].mean - (30.0 + 600.0) / 33.0).abs() < 1e-9);
}

fn flows(grid_w: f64, pv_w: f64, battery_w: f64, car_w: f64) -> Flows {
    Flows {
        pv_w: Some(pv_w),
        grid_w: Some(grid_w),
        battery_w: Some(battery_w),
        car_w: Some(car_w),
        house_w: Some(grid_w + pv_w - battery_w - car_w),
        price: Some(0.30),
        feed_in: None,
    }
}

#[test]
fn energy_is_integrated_per_local_day_and_not_across_gaps() {
    let tz = TimeZone::get("Europe/Berlin").unwrap();
    let mut r = Recorder::new(tz);
    // 02:00 to 04:00 in Berlin (CEST): one hour importing, one exporting.
    for s in (0..=7200).step_by(10) {
        let f = if s < 3600 {
            flows(1000.0, 0.0, 500.0, 0.0)
        } else {
            flows(-2000.0, 3000.0, -400.0, 7000.0)
        };
        r.handle_values(at(s), [], f);
    }
    // Two hours of downtime: nothing counted, then a minute more.
    for s in (14_400..=14_460).step_by(10) {
        r.handle_values(at(s), [], flows(0.0, 6000.0, 0.0, 0.0));
    }
    let b = r.take_batch();
    let days: Vec<_> = b.days.iter().map(|(d, e)| (d.to_string(), *e)).collect();
    assert_eq!(days.len(), 1, "{days:?}");
    let (day, e) = &days[0];
    assert_eq!(day, "2026-06-21");
    assert!((e.import_wh - 1000.0).abs() < 1e-6, "{e:?}");
    assert!((e.export_wh - 2000.0).abs() < 1e-6);
    assert!((e.pv_wh - 3000.0 - 100.0).abs() < 1e-6);
    assert!((e.battery_in_wh - 500.0).abs() < 1e-6);
    assert!((e.battery_out_wh - 400.0).abs() < 1e-6);
    assert!((e.car_charge_wh - 7000.0).abs() < 1e-6);
    assert!((e.import_cost - 0.30).abs() < 1e-9);
}

#[test]
fn the_store_keeps_each_resolution_for_its_retention() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    // Durability is not what this test is about: no fsync per commit.
    let mut store = Store::open(&path, Sync::Normal).unwrap();
    let retention = Retention {
        raw: Duration::from_secs(3600),
        minute: Duration::from_secs(6 * 3600),
        quarter: Duration::from_secs(86_400),
    };
    let tz = TimeZone::UTC;
    let mut rec = Recorder::new(tz);
    // Two simulated days, one sample every 10 s, committed every minute of sample time.
    let mut commits = 0;
    for s in (0..2 * 86_400).step_by(10) {
        rec.handle_values(
            at(s),
            [("grid.power_w", (s % 3600) as f64)],
            Flows::default(),
        );
        if s % 60 == 50 {
            store.write(&rec.take_batch(), &retention).unwrap();
            commits += 1;
        }
    }
    assert_eq!(commits, 2 * 1440);
    let newest = store.newest().unwrap().unwrap();
    assert_eq!(newest, T0 + 2 * 86_400 - 20);
    let count = |res: Resolution| {
        let mut s = Store::open_reader(&path).unwrap();
        s.query("grid.power_w", res, 0, i64::MAX / 4, res.secs())
            .unwrap()
            .t
    };
    // Pruned once an hour: at most an hour more than the retention is still there.
    let raw_t = count(Resolution::Raw);
    assert!(
        raw_t[0] >= newest - 2 * 3600 && raw_t[0] < newest - 3600,
        "{}",
        raw_t[0] - newest
    );
    let min_t = count(Resolution::Minute);
    assert!(min_t[0] >= newest - 7 * 3600 && min_t[0] < newest - 6 * 3600);
    let q_t = count(Resolution::Quarter);
    assert!(q_t[0] >= newest - 86_400 - 3600 && q_t[0] < newest - 86_400);
    // A 1 h step over the minute rows: the hourly saw-tooth's mean, min and max.
    let mut reader = Store::open_reader(&path).unwrap();
    let h = reader
        .query(
            "grid.power_w",
            Resolution::Minute,
            newest - 3 * 3600,
            newest,
            3600,
        )
        .unwrap();
    assert_eq!(h.t.len(), 3);
    assert_eq!(h.min[1], 0.0);
    assert_eq!(h.max[1], 3590.0);
    assert!((h.mean[1] - 1795.0).abs() < 1e-6);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn energy_rows_add_up_to_months_and_years_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let mut store = Store::open(&path, Sync::Normal).unwrap();
    let e = |pv| history::Energy {
        pv_wh: pv,
        import_cost: 0.5,
        ..Default::default()
    };
    let d = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
    let batch = Batch {
        days: vec![
            (d("2026-05-31"), e(1000.0)),
            (d("2026-06-01"), e(2000.0)),
            (d("2026-06-02"), e(3000.0)),
            (d("2027-01-01"), e(4000.0)),
        ],
        ..Default::default()
    };
    store.write(&batch, &Retention::default()).unwrap();
    drop(store);
    let store = Store::open_reader(&path).unwrap();
    let months = store
        .energy(Period::Month, d("2026-01-01"), d("2027-12-31"))
        .unwrap();
    let m: Vec<_> = months
        .iter()
        .map(|p| (p.period.as_str(), p.energy.pv_wh, p.energy.import_cost))
        .collect();
    assert_eq!(
        m,
        [
            ("2026-05", 1000.0, 0.5),
            ("2026-06", 5000.0, 1.0),
            ("2027-01", 4000.0, 0.5)
        ]
    );
    let years = store
        .energy(Period::Year, d("2026-06-01"), d("2027-12-31"))
        .unwrap();
    assert_eq!(years.len(), 2);
    assert_eq!(years[0].energy.pv_wh, 5000.0);
    assert_eq!(store.day(d("2026-06-02")).unwrap().unwrap().pv_wh, 3000.0);
}

#[test]
fn a_restarted_recorder_continues_todays_energy_and_the_open_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let retention = Retention::default();
    let mut store = Store::open(&path, Sync::Full).unwrap();
    let mut rec = Recorder::new(TimeZone::UTC);
    for s in 0..=125 {
        rec.handle_values(at(s), [("x", 1.0)], flows(3600.0, 0.0, 0.0, 0.0));
    }
    store.write(&rec.take_batch(), &retention).unwrap();
    drop((rec, store));
    // A new run (after a kill: nothing flushed) 5 s later.
    let mut store = Store::open(&path, Sync::Full).unwrap();
    let mut rec = Recorder::new(TimeZone::UTC);
    rec.resume(&store, at(130)).unwrap();
    for s in 130..=960 {
        rec.handle_values(at(s), [("x", 3.0)], flows(3600.0, 0.0, 0.0, 0.0));
    }
    let b = rec.take_batch();
    let (_, e) = b.days.last().unwrap();
    // 125 s + 830 s at 3.6 kW; the 5 s of downtime count nothing.
    assert!((e.import_wh - 955.0).abs() < 1e-6, "{e:?}");
    let q = b
        .rows
        .iter()
        .find(|r| r.resolution == Resolution::Quarter)
        .unwrap();
    // 12 stored samples of the first run (0..120 s) and 830 ticks of this one.
    assert_eq!(q.count, 12 + 770);
    store.write(&b, &retention).unwrap();
}

#[test]
fn history_parameters_are_checked_with_the_parameter_named() {
    let now = at(86_400);
    let p = |series: &str, from: Option<&str>, step: Option<&str>, format: Option<&str>| {
        HistoryParams {
            series: Some(series.into()),
            from: from.map(Into::into),
            to: None,
            step: step.map(Into::into),
            format: format.map(Into::into),
        }
    };
    let q =
        HistoryQuery::parse(&p("grid.power_w, pv.power_w", Some("6h"), None, None), now).unwrap();
    assert_eq!(q.series, ["grid.power_w", "pv.power_w"]);
    assert_eq!(q.to - q.from, 6 * 3600);
    assert_eq!(q.step, 6 * 3600 / 500);
    let q = HistoryQuery::parse(
        &p("x", Some("2026-06-21T00:00:00Z"), Some("15m"), Some("csv")),
        now,
    )
    .unwrap();
    assert_eq!((q.from, q.step), (T0, 900));
    assert_eq!(q.format, history::query::Format::Csv);
    let err = |p: HistoryParams| HistoryQuery::parse(&p, now).unwrap_err().to_string();
    assert!(err(p("", None, None, None)).starts_with("series:"));
    assert!(err(p("x", Some("yesterday"), None, None)).starts_with("from:"));
    assert!(err(p("x", None, Some("1s"), None)).starts_with("step: at least 10 s"));
    assert!(err(p("x", Some("365d"), Some("10"), None)).starts_with("step:"));
    assert!(err(p("x", None, None, Some("xml"))).starts_with("format:"));
    // Resolution: the coarsest within the step, unless expired.
    let r = Retention::default();
    let newest = T0 + 86_400;
    let q = HistoryQuery::parse(&p("x", Some("1h"), Some("60"), None), now).unwrap();
    assert_eq!(q.resolution(newest, &r), Resolution::Minute);
    let q = HistoryQuery::parse(&p("x", Some("1h"), Some("30"), None), now).unwrap();
    assert_eq!(q.resolution(newest, &r), Resolution::Raw);
    let q = HistoryQuery::parse(&p("x", Some("3d"), Some("60"), None), now).unwrap();
    assert_eq!(q.resolution(newest, &r), Resolution::Minute);
    let q = HistoryQuery::parse(&p("x", Some("40d"), Some("120"), None), now).unwrap();
    assert_eq!(q.resolution(newest, &r), Resolution::Quarter);
}

#[test]
fn energy_parameters_default_to_recent_periods() {
    let tz = TimeZone::UTC;
    let now = at(86_400 * 10);
    let q = EnergyQuery::parse(
        &EnergyParams {
            period: Some("month".into()),
            ..Default::default()
        },
        now,
        &tz,
    )
    .unwrap();
    assert_eq!(q.period, Period::Month);
    assert_eq!(
        (q.from.to_string(), q.to.to_string()),
        ("2025-08-01".into(), "2026-07-01".into())
    );
    let e = EnergyQuery::parse(
        &EnergyParams {
            period: Some("week".into()),
            ..Default::default()
        },
        now,
        &tz,
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("period:"), "{e}");
}

/// A reader opened before the first commit (the API's, on a fresh store) lists the series
/// written since.
#[test]
fn a_reader_lists_the_series_written_after_it_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let mut store = Store::open(&path, Sync::Normal).unwrap();
    let mut reader = Store::open_reader(&path).unwrap();
    assert!(reader.series().unwrap().is_empty());
    let batch = Batch {
        rows: vec![history::Row {
            resolution: Resolution::Raw,
            t: T0,
            series: "grid.power_w".into(),
            mean: 1.0,
            min: 1.0,
            max: 1.0,
            count: 1,
        }],
        ..Default::default()
    };
    store.write(&batch, &Retention::default()).unwrap();
    assert_eq!(reader.series().unwrap(), ["grid.power_w"]);
}

/// The `energy` table as the first released gridlet made it.
const OLD_ENERGY_SCHEMA: &str = "CREATE TABLE energy (
    day TEXT PRIMARY KEY,
    pv_wh REAL NOT NULL, import_wh REAL NOT NULL, export_wh REAL NOT NULL,
    battery_in_wh REAL NOT NULL, battery_out_wh REAL NOT NULL,
    car_charge_wh REAL NOT NULL, car_discharge_wh REAL NOT NULL,
    import_cost REAL NOT NULL);";

#[test]
fn a_store_of_the_old_schema_gains_the_money_columns_and_reads_old_rows_with_them_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(OLD_ENERGY_SCHEMA).unwrap();
        c.execute(
            "INSERT INTO energy VALUES ('2026-05-30', 1000, 200, 300, 40, 50, 60, 70, 0.5)",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO energy VALUES ('2026-05-31', 2000, 400, 600, 80, 100, 120, 140, 1.5)",
            [],
        )
        .unwrap();
    }
    let d = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
    // A reader may be the first to open it after the upgrade: it migrates too.
    let reader = Store::open_reader(&path).unwrap();
    let old = reader.day(d("2026-05-30")).unwrap().unwrap();
    assert_eq!(
        old,
        history::Energy {
            pv_wh: 1000.0,
            import_wh: 200.0,
            export_wh: 300.0,
            battery_in_wh: 40.0,
            battery_out_wh: 50.0,
            car_charge_wh: 60.0,
            car_discharge_wh: 70.0,
            import_cost: 0.5,
            ..Default::default()
        }
    );
    // The writer finds the columns there and adds a day with every field set.
    let mut store = Store::open(&path, Sync::Normal).unwrap();
    let mut values = [0.0; history::Energy::FIELDS.len()];
    for (i, v) in values.iter_mut().enumerate() {
        *v = (i + 1) as f64 * 1.25;
    }
    let new = history::Energy::from_array(values);
    let batch = Batch {
        days: vec![(d("2026-06-01"), new)],
        ..Default::default()
    };
    store.write(&batch, &Retention::default()).unwrap();
    assert_eq!(store.day(d("2026-06-01")).unwrap(), Some(new));
    assert_eq!(store.integrity_check().unwrap(), "ok");
    // Months still add up, old rows contributing 0 to the new fields.
    let months = reader
        .energy(Period::Month, d("2026-01-01"), d("2026-12-31"))
        .unwrap();
    assert_eq!(months.len(), 2);
    assert_eq!(months[0].period, "2026-05");
    assert_eq!(months[0].energy.pv_wh, 3000.0);
    assert_eq!(months[0].energy.import_cost, 2.0);
    assert_eq!(months[0].energy.savings, 0.0);
    assert_eq!(months[0].energy.export_revenue, 0.0);
    assert_eq!(months[1].energy, new);
    // Opened again: nothing left to migrate, nothing changed.
    drop((reader, store));
    let store = Store::open(&path, Sync::Normal).unwrap();
    assert_eq!(store.day(d("2026-06-01")).unwrap(), Some(new));
    assert_eq!(store.day(d("2026-05-30")).unwrap(), Some(old));
}

#[test]
fn a_months_savings_are_the_sum_of_its_days_savings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let mut store = Store::open(&path, Sync::Normal).unwrap();
    let tz = TimeZone::UTC;
    let mut rec = Recorder::new(tz);
    // Day 1, priced 0.20, feed-in 0.05: 1 h of charging the car 4 kW from the grid. Day 2 at
    // 0.40: 1 h of V2H covering the house's 3 kW. Snapshots every 10 s.
    let f = |grid: f64, house: f64, car: f64, price: f64| Flows {
        grid_w: Some(grid),
        house_w: Some(house),
        car_w: Some(car),
        price: Some(price),
        feed_in: Some(0.05),
        ..Flows::default()
    };
    for s in (0..=3600).step_by(10) {
        rec.handle_values(at(s), [], f(4000.0, 0.0, 4000.0, 0.20));
    }
    for s in (86_400..=90_000).step_by(10) {
        rec.handle_values(at(s), [], f(0.0, 3000.0, -3000.0, 0.40));
    }
    store
        .write(&rec.take_batch(), &Retention::default())
        .unwrap();
    let d = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
    let days = store
        .energy(Period::Day, d("2026-06-21"), d("2026-06-22"))
        .unwrap();
    let (a, b) = (days[0].energy, days[1].energy);
    let close = |x: f64, y: f64| (x - y).abs() < 1e-9;
    // Day 1: the car's 4 kWh bought at the day's mean 0.20, as the baseline would: no saving.
    // (The last snapshot of day 1, at 01:00, counts until the next, a day later: a gap.)
    assert!(close(a.import_cost, 0.80), "{a:?}");
    assert!(close(a.baseline_cost, 0.80));
    assert!(close(a.savings, 0.0));
    // Day 2: the house's 3 kWh at 0.40 not bought; the car gave more than it took: its net
    // energy counts 0.
    assert!(close(b.baseline_cost, 1.20), "{b:?}");
    assert!(close(b.savings, 1.20));
    let month = store
        .energy(Period::Month, d("2026-06-01"), d("2026-06-30"))
        .unwrap();
    assert_eq!(month.len(), 1);
    let m = month[0].energy;
    assert!(close(m.savings, a.savings + b.savings));
    assert!(close(m.car_charge_wh - m.car_discharge_wh, 1000.0));
    // Not the savings the month's sums would give (the car's net 1 kWh at some mean price):
    // each day settles its own car.
    assert!(close(m.baseline_cost, 2.00));
}

/// A tariff that pays 0.07 per exported kWh before 2026-06-21 12:00 UTC and nothing known after.
struct MorningFeedIn;

impl devices::Tariff for MorningFeedIn {
    fn prices(&self, from: Timestamp, to: Timestamp) -> Vec<devices::PriceSlot> {
        devices::FixedTariff(units::PricePerKwh(0.30)).prices(from, to)
    }
    fn horizon(&self) -> Option<Timestamp> {
        None
    }
    fn feed_in(&self, _from: Timestamp, _to: Timestamp) -> Vec<devices::PriceSlot> {
        vec![devices::PriceSlot {
            start: at(0),
            end: at(12 * 3600),
            price: units::PricePerKwh(0.07),
        }]
    }
}

#[test]
fn a_snapshots_flows_close_the_house_balance_and_carry_the_feed_in_price() {
    use devices::{BmsState, ChargePointStatus, ConverterStatus, GridReading, PvStatus, Stamped};
    use units::{Amps, Volts, Watts};
    let cfg = controller::ControllerConfig {
        control: controller::ControlSettings::default(),
        converter: None,
        battery: false,
        pv_rated: vec![],
        changeover: false,
        relays: vec![],
        timezone: TimeZone::UTC,
    };
    let mut site = site::Site::new(
        site::Devices {
            tariff: Some(Box::new(MorningFeedIn)),
            ..Default::default()
        },
        controller::SiteController::new(cfg, at(0)).unwrap(),
    );
    let now = at(3600);
    let mut s = site.tick(now);
    assert_eq!(s.feed_in_price, Some(units::PricePerKwh(0.07)));
    assert_eq!(site.tick(at(13 * 3600)).feed_in_price, None);
    // Grid 1.5 kW import, PV 2 kW, a converter taking 1 kW: the house takes 2.5 kW.
    s.grid = Some(Stamped::new(
        now,
        GridReading {
            power_w: Watts(1500.0),
            ..Default::default()
        },
    ));
    s.pv = vec![site::PvSnapshot {
        name: "roof".into(),
        status: Some(Stamped::new(
            now,
            PvStatus {
                power_w: Watts(2000.0),
                ..Default::default()
            },
        )),
    }];
    s.pv_power_w = Watts(2000.0);
    s.converter = Some(Stamped::new(
        now,
        ConverterStatus {
            power_w: Watts(1000.0),
            ..Default::default()
        },
    ));
    let f = history::flows(&s);
    assert_eq!(
        (f.house_w, f.price, f.feed_in),
        (Some(2500.0), Some(0.30), Some(0.07))
    );
    let house = history::values(&s)
        .into_iter()
        .find(|v| v.key() == "house.power_w")
        .unwrap();
    assert_eq!(house.value, 2500.0);
    // A converter gone silent: the house is unknown, not the converter's last word.
    s.converter = Some(Stamped::new(at(0), ConverterStatus::default()));
    assert_eq!(history::flows(&s).house_w, None);
    // No converter: the battery's and the car's DC powers close the balance.
    s.converter = None;
    s.battery = Some(Stamped::new(
        now,
        BmsState {
            voltage_v: Volts(50.0),
            current_a: Amps(10.0),
            ..Default::default()
        },
    ));
    s.charge_point = Some(Stamped::new(
        now,
        ChargePointStatus {
            power_w: Watts(-700.0),
            ..Default::default()
        },
    ));
    assert_eq!(
        history::flows(&s).house_w,
        Some(1500.0 + 2000.0 - 500.0 + 700.0)
    );
    // Meters read at different moments can make the balance negative: the house takes 0.
    s.grid = Some(Stamped::new(
        now,
        GridReading {
            power_w: Watts(-4000.0),
            ..Default::default()
        },
    ));
    assert_eq!(history::flows(&s).house_w, Some(0.0));
}
