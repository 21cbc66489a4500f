//! Issue 12, Done-when 4 (in part): on the simulated reference site over two days of the
//! simulated day-ahead market, planned operation costs less than charging the car at once on
//! arrival (same weather, house and car trips), and the planned car leaves with its target
//! each morning. Virtual time; about 16 s of CPU in the dev profile. The threshold rules' cost
//! is printed, not asserted: they leave the car short of its target day after day (see
//! ARCHITECTURE.md, "The week comparison"), and the comparison does not yet price that.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failing test.

use std::time::Duration;

use gridlet::compare::compare;
use gridlet::config::{EXAMPLE_SIM, parse};
use units::Timestamp;

#[test]
fn planned_operation_costs_less_than_charging_on_arrival_and_the_car_leaves_ready() {
    let cfg = parse("sim.toml", EXAMPLE_SIM).unwrap();
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let local: jiff::civil::DateTime = "2026-06-21T00:00:00".parse().unwrap();
    let start = Timestamp::from_jiff(tz.to_timestamp(local).unwrap());
    let days = 2;
    let cmp = compare(&cfg, start, Duration::from_secs(days * 86_400)).unwrap();
    println!("{cmp}");
    let p = &cmp.planned;
    // Every morning the car left with its target, 80 % ([control.ev] target_soc_pct; the SoC
    // gate stops at it, so within a step's worth of rounding).
    assert_eq!(p.departure_soc_pct.len() as u64, days, "{p:?}");
    assert!(
        p.departure_soc_pct.iter().all(|&s| s >= 78.0),
        "the planned car left short: {:?}",
        p.departure_soc_pct
    );
    assert!(
        cmp.solves >= days * 96,
        "re-planned every 15 minutes: {}",
        cmp.solves
    );
    assert!(
        p.cost < cmp.charge_on_arrival.cost,
        "planned {:.2} vs charge on arrival {:.2}",
        p.cost,
        cmp.charge_on_arrival.cost
    );
}
