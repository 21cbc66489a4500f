//! The simulated site with its car on the CCS charge point, on virtual time: the car's sessions
//! run through the real protocol stack (pilot, SLAC, SDP, ISO 15118-20 / DIN 70121) against the
//! simulated car, in-process, and the site steers their power: PV surplus into the car by day,
//! V2H holding the grid at zero by night (ISO 15118-20 BPT, or DIN 70121 with the opt-in).
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failing test.

use std::time::Duration;

use gridlet::assemble::assemble;
use gridlet::config::{EXAMPLE_SIM, parse};
use gridlet::runner::Stepper;
use site::Snapshot;
use units::Timestamp;

/// Midnight of 2026-06-21 in Berlin, as `gridlet sim --until` starts.
fn start() -> Timestamp {
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let local: jiff::civil::DateTime = "2026-06-21T00:00:00".parse().unwrap();
    Timestamp::from_jiff(tz.to_timestamp(local).unwrap())
}

/// Runs `config` for `hours` in 1 s ticks; every snapshot, and the charge sessions.
fn run(config: &str, hours: u64) -> (Vec<Snapshot>, Vec<ccs::memory::SessionRecord>) {
    let cfg = parse("test.toml", config).unwrap_or_else(|e| panic!("{e}"));
    let start = start();
    let (mut stepper, ccs) = Stepper::new(assemble(&cfg, start).unwrap(), start).unwrap();
    assert!(ccs.is_none(), "the car is simulated: nothing runs beside");
    let mut snapshots = Vec::new();
    for s in 0..hours * 3600 {
        snapshots.push(stepper.tick(start + Duration::from_secs(s)));
    }
    stepper.finish(start + Duration::from_secs(hours * 3600));
    (snapshots, stepper.charge_sessions())
}

/// The reference site with its car section replaced by `car` and the charge point's extra
/// keys `extra` (inserted under `[charge_point]`).
fn site_with(car: &str, session: &str, extra: &str) -> String {
    let cp = EXAMPLE_SIM.find("[charge_point.car]").unwrap();
    let relay = EXAMPLE_SIM.find("[relay.hot_water]").unwrap();
    let head = EXAMPLE_SIM[..cp].replacen(
        "inlet = { type = \"sim\" }",
        &format!("inlet = {{ type = \"sim\" }}\n{extra}"),
        1,
    );
    format!(
        "{head}[charge_point.car]\n{car}\n\n[charge_point.car_session]\n{session}\n\n{}",
        &EXAMPLE_SIM[relay..]
    )
}

/// The car's power at the inlet (+ into the car) and the grid's, in the ticks where the car's
/// session holds the port.
fn car_ticks(snapshots: &[Snapshot]) -> Vec<(f64, f64, f64)> {
    snapshots
        .iter()
        .filter_map(|s| {
            let cp = s.charge_point?.value;
            let grid = s.grid?.value.power_w.0;
            cp.owns_port.then_some((cp.power_w.0, grid, s.pv_power_w.0))
        })
        .collect()
}

/// Grid power stays near zero while the car discharges: most ticks within ±100 W (the house's
/// steps take a few seconds to settle), and on average well within.
fn assert_grid_settled(label: &str, ticks: &[(f64, f64, f64)]) {
    let v2h: Vec<f64> = ticks
        .iter()
        .filter(|(car, _, _)| *car < -100.0)
        .map(|(_, grid, _)| *grid)
        .collect();
    assert!(
        v2h.len() > 1800,
        "{label}: the car discharged in {} ticks",
        v2h.len()
    );
    let within = v2h.iter().filter(|g| g.abs() <= 100.0).count() as f64 / v2h.len() as f64;
    let mean = v2h.iter().map(|g| g.abs()).sum::<f64>() / v2h.len() as f64;
    println!(
        "{label}: V2H for {} s, grid within ±100 W in {:.1} % of them, mean |grid| {mean:.0} W",
        v2h.len(),
        within * 100.0
    );
    assert!(within >= 0.9, "{label}: {within}");
    assert!(mean <= 100.0, "{label}: {mean}");
}

#[test]
fn the_reference_day_charges_the_car_over_ccs_from_pv_surplus() {
    let (snapshots, sessions) = run(EXAMPLE_SIM, 24);
    println!("{sessions:#?}");
    // The car is at home at midnight (a session), leaves at 07:30, is back at 17:30.
    assert!(sessions.len() >= 2, "{sessions:?}");
    assert!(sessions.iter().all(|s| s.protocol == Some("iso20")));
    assert!(sessions.iter().all(|s| s.charge_loop_cycles > 1000));
    let evening = sessions.last().unwrap();
    assert!(evening.charged_wh > 100.0, "{evening:?}");
    // While the sun gives a surplus in the evening, it goes into the car and the grid stays
    // at zero: the car takes what would otherwise be exported.
    let ticks = car_ticks(&snapshots);
    let from_pv: Vec<_> = ticks
        .iter()
        .filter(|(car, _, pv)| *car > 100.0 && *pv > *car)
        .collect();
    let exported = from_pv.iter().filter(|(_, grid, _)| *grid < -100.0).count();
    println!(
        "charging from PV surplus for {} s, exporting more than 100 W in {exported} of them",
        from_pv.len()
    );
    assert!(from_pv.len() > 1800, "{} s", from_pv.len());
    assert!((exported as f64) < 0.1 * from_pv.len() as f64);
}

#[test]
fn v2h_over_iso20_bpt_holds_the_grid_at_zero_at_night() {
    // A full car plugged in all night, the house importing.
    let config = site_with(
        "capacity_wh = 60000\ninitial_soc_pct = 90\nmax_charge_w = 11000\nmax_discharge_w = 7000\n\
         min_soc_pct = 10\ndepart = \"07:30\"\narrive = \"17:30\"\ntrip_wh = 1000",
        "protocols = [\"iso20\"]\nbidirectional = true\nperiod = \"500ms\"",
        "",
    );
    let (snapshots, sessions) = run(&config, 6);
    assert_eq!(sessions[0].protocol, Some("iso20"));
    assert!(sessions[0].discharged_wh > 500.0, "{sessions:?}");
    assert_grid_settled("ISO 15118-20 BPT", &car_ticks(&snapshots));
}

#[test]
fn v2h_over_din_with_the_opt_in_holds_the_grid_at_zero_at_night() {
    let config = site_with(
        "capacity_wh = 60000\ninitial_soc_pct = 90\nmax_charge_w = 11000\nmax_discharge_w = 7000\n\
         min_soc_pct = 10\ndepart = \"07:30\"\narrive = \"17:30\"\ntrip_wh = 1000",
        "protocols = [\"din\"]\nbidirectional = false\nperiod = \"500ms\"",
        "legacy_v2h = { max_discharge_w = 3000, min_soc_pct = 40, min_voltage_v = 300 }",
    );
    let (snapshots, sessions) = run(&config, 6);
    assert_eq!(sessions[0].protocol, Some("din"));
    // A DIN car charging to its target would end the session: it is full, but the session runs
    // on while the house draws from it.
    assert_grid_settled("DIN 70121 with the opt-in", &car_ticks(&snapshots));
}

#[test]
fn a_din_car_is_never_discharged_without_the_opt_in() {
    let config = site_with(
        "capacity_wh = 60000\ninitial_soc_pct = 70\nmax_charge_w = 11000\nmax_discharge_w = 7000\n\
         min_soc_pct = 10\ndepart = \"07:30\"\narrive = \"17:30\"\ntrip_wh = 1000",
        "protocols = [\"din\"]\nbidirectional = false\nperiod = \"500ms\"",
        "",
    );
    let (snapshots, _) = run(&config, 3);
    let ticks = car_ticks(&snapshots);
    assert!(!ticks.is_empty(), "the car's session held the port");
    assert!(
        ticks.iter().all(|(car, _, _)| *car > -50.0),
        "discharged without the opt-in"
    );
}
