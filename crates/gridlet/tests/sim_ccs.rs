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
    let (mut stepper, ccs) = assemble(&cfg, start).unwrap().into_stepper(start).unwrap();
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

/// A site whose car is plugged in and in its charge loop, stepped finely to time what follows a
/// fault.
struct Session {
    stepper: Stepper,
    now: Timestamp,
}

impl Session {
    /// The reference site at 21:00 (the car home since 17:30, SoC 75 %): runs until the car's
    /// session moves power (V2H in the evening).
    fn in_charge_loop() -> Self {
        let config = site_with(
            "capacity_wh = 60000\ninitial_soc_pct = 75\nmax_charge_w = 11000\nmax_discharge_w = 7000\n\
             min_soc_pct = 10\ndepart = \"07:30\"\narrive = \"17:30\"\ntrip_wh = 1000",
            "protocols = [\"iso20\"]\nbidirectional = true\nperiod = \"250ms\"",
            "",
        );
        let cfg = parse("test.toml", &config).unwrap();
        let start = start() + Duration::from_secs(21 * 3600);
        let (stepper, _) = assemble(&cfg, start).unwrap().into_stepper(start).unwrap();
        let mut s = Self {
            stepper,
            now: start,
        };
        for _ in 0..1800 {
            let snap = s.tick();
            let cp = snap.charge_point.unwrap().value;
            if cp.owns_port && cp.power_w.0.abs() > 100.0 {
                // Well into the loop.
                for _ in 0..20 {
                    s.tick();
                }
                return s;
            }
        }
        panic!("the car's session never moved power");
    }

    fn tick(&mut self) -> Snapshot {
        self.now += Duration::from_secs(1);
        self.stepper.tick(self.now)
    }

    fn inject(&mut self, fault: sim::Fault, lasting: Duration) {
        let w = self.stepper.world().unwrap();
        let mut w = sim::lock(w);
        let until = w.now() + lasting;
        w.inject(fault, until);
    }

    /// Steps 10 ms at a time until `done` holds; how long that took.
    fn time_until(&mut self, limit: Duration, done: impl Fn(&sim::World) -> bool) -> Duration {
        let t0 = self.now;
        while self.now.saturating_duration_since(t0) <= limit {
            self.now += Duration::from_millis(10);
            self.stepper.advance_world(self.now);
            if done(&sim::lock(self.stepper.world().unwrap())) {
                return self.now.saturating_duration_since(t0);
            }
        }
        panic!("not within {limit:?}");
    }

    /// The converter commanded off, as the world applies it.
    fn converter_off(w: &sim::World) -> bool {
        w.actuators()
            .converter
            .is_some_and(|c| !c.enabled || c.power_w == units::Watts::ZERO)
    }

    /// After a fault: ticks until the port is back on the home battery with its relays open.
    fn assert_released(&mut self, within: Duration) {
        let t0 = self.now;
        loop {
            let snap = self.tick();
            let cp = snap.charge_point.unwrap().value;
            let a = sim::lock(self.stepper.world().unwrap()).actuators();
            if !cp.owns_port && a.changeover == Some(false) {
                return;
            }
            assert!(
                self.now.saturating_duration_since(t0) < within,
                "port not released: {cp:?} {a:?}"
            );
        }
    }

    fn sessions(&self) -> Vec<ccs::memory::SessionRecord> {
        self.stepper.charge_sessions()
    }
}

#[test]
fn unplugged_in_the_charge_loop_the_current_stops_within_100ms() {
    let mut s = Session::in_charge_loop();
    s.inject(sim::Fault::CarUnplugged, Duration::ZERO);
    let took = s.time_until(Duration::from_millis(100), Session::converter_off);
    println!("unplugged: converter off after {took:?}");
    // The car's contactors are open with its plug out; ours only once no current flows.
    s.assert_released(Duration::from_secs(10));
    let last = s.sessions().pop().unwrap();
    assert!(!last.end_reason.contains("stopped"), "{last:?}");
}

#[test]
fn a_shorted_pilot_ends_the_session_and_stops_the_current() {
    let mut s = Session::in_charge_loop();
    s.inject(sim::Fault::PilotShorted, Duration::from_secs(60));
    // Sampled every 250 ms in the simulation (20 ms on the board), 50 ms debounce.
    let took = s.time_until(Duration::from_millis(600), Session::converter_off);
    println!("pilot at 0 V (state E): converter off after {took:?}");
    s.assert_released(Duration::from_secs(10));
    let last = s.sessions().pop().unwrap();
    assert!(last.end_reason.contains("charger"), "{last:?}");
}

#[test]
fn a_power_stage_fault_ends_the_session_with_emergency_shutdown() {
    let mut s = Session::in_charge_loop();
    s.inject(sim::Fault::ConverterFault, Duration::from_secs(60));
    // The next charge loop request (every 250 ms) gets FAILED with EVSE_EmergencyShutdown.
    let took = s.time_until(Duration::from_millis(600), |w| {
        w.actuators()
            .converter_power_w
            .is_some_and(|p| p.0.abs() < 500.0)
    });
    println!("converter fault: power below 500 W after {took:?}");
    for _ in 0..3 {
        s.tick();
    }
    let last = s.sessions().pop().expect("the session ended");
    assert!(
        last.end_reason.contains("Malfunction") || last.end_reason.contains("charger"),
        "{last:?}"
    );
    s.assert_released(Duration::from_secs(20));
}

#[test]
fn an_isolation_fault_fails_the_cable_check_and_no_power_flows() {
    // The fault is there when the car arrives at 17:30.
    let config = site_with(
        "capacity_wh = 60000\ninitial_soc_pct = 50\nmax_charge_w = 11000\nmax_discharge_w = 7000\n\
         min_soc_pct = 10\ndepart = \"07:30\"\narrive = \"17:30\"\ntrip_wh = 1000",
        "protocols = [\"iso20\"]\nbidirectional = true\nperiod = \"250ms\"",
        "",
    );
    let cfg = parse("test.toml", &config).unwrap();
    let start = start() + Duration::from_secs(17 * 3600 + 20 * 60);
    let (mut stepper, _) = assemble(&cfg, start).unwrap().into_stepper(start).unwrap();
    {
        let mut w = sim::lock(stepper.world().unwrap());
        let until = w.now() + Duration::from_secs(3600);
        w.inject(sim::Fault::IsolationFault, until);
    }
    let mut max_power: f64 = 0.0;
    for s in 0..1800 {
        let snap = stepper.tick(start + Duration::from_secs(s));
        if let Some(cp) = snap.charge_point {
            max_power = max_power.max(cp.value.power_w.0.abs());
        }
    }
    let sessions = stepper.charge_sessions();
    println!("{sessions:?}");
    assert!(!sessions.is_empty(), "the car tried");
    assert!(sessions.iter().all(|s| s.charge_loop_cycles == 0));
    assert!(
        sessions[0].end_reason.contains("isolation")
            || sessions[0].end_reason.contains("cable check")
            || sessions[0].end_reason.contains("CableCheck"),
        "{:?}",
        sessions[0]
    );
    assert!(max_power < 1.0, "{max_power} W flowed");
}

#[test]
fn a_silent_meter_during_v2h_brings_the_cars_power_to_zero() {
    let mut s = Session::in_charge_loop();
    s.inject(sim::Fault::MeterSilent, Duration::from_secs(120));
    // The meter timeout (5 s), then the next tick, then the converter's lag.
    let t0 = s.now;
    let mut settled = None;
    for _ in 0..20 {
        let snap = s.tick();
        let cp = snap.charge_point.unwrap().value;
        if cp.power_w.0.abs() < 100.0 && settled.is_none() {
            settled = Some(s.now.saturating_duration_since(t0));
        }
    }
    let settled = settled.expect("the car's power did not go to zero");
    println!("meter silent: the car's power below 100 W after {settled:?}");
    assert!(settled <= Duration::from_secs(8));
    // It stays there while the meter is silent.
    for _ in 0..30 {
        let cp = s.tick().charge_point.unwrap().value;
        assert!(cp.power_w.0.abs() < 100.0, "{cp:?}");
    }
}

#[test]
fn a_silent_home_bms_during_v2h_leaves_the_car_in_charge() {
    // The home battery is off the port while the car holds it: its BMS going silent changes
    // nothing for the car; the grid stays at zero.
    let mut s = Session::in_charge_loop();
    s.inject(sim::Fault::BmsSilent, Duration::from_secs(600));
    let mut grids = Vec::new();
    for _ in 0..300 {
        let snap = s.tick();
        let cp = snap.charge_point.unwrap().value;
        assert!(cp.owns_port);
        grids.push(snap.grid.unwrap().value.power_w.0);
        assert!(
            snap.controller
                .warnings
                .iter()
                .any(|w| matches!(w, controller::Warning::BmsSilent))
                || grids.len() < 5
        );
    }
    let mean = grids.iter().map(|g| g.abs()).sum::<f64>() / grids.len() as f64;
    println!("BMS silent during V2H: mean |grid| {mean:.0} W");
    assert!(mean < 100.0);
}
