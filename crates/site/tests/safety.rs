//! Safety behaviour of the whole site (controller + simulated devices) on virtual time.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use controller::{Behaviour, StopReason, Warning};
use devices::Converter;
use sim::{Fault, SharedWorld, SimConverter, SimSettings, World, lock};
use site::Site;
use units::{Timestamp, Watts};

#[path = "support/evening.rs"]
mod evening;
use evening::{battery_site, site, start};

const TICK: Duration = Duration::from_secs(1);

/// Runs the site for `secs` ticks from `t`; returns the time after.
fn run(site: &mut Site, world: &SharedWorld, mut t: Timestamp, secs: u64) -> Timestamp {
    for _ in 0..secs {
        lock(world).advance_to(t);
        site.tick(t);
        t += TICK;
    }
    t
}

fn converter_power(world: &SharedWorld) -> Watts {
    lock(world).converter_status().unwrap().value.power_w
}

#[test]
fn the_grid_is_held_at_zero_by_discharging() {
    let (mut site, world) = site();
    let t = run(&mut site, &world, start(), 60);
    lock(&world).advance_to(t);
    let grid = lock(&world).meter().unwrap().value.power_w;
    assert!(grid.abs() < Watts(150.0), "grid {grid:?}");
    assert!(converter_power(&world) < Watts(-1300.0));
}

#[test]
fn a_stale_setpoint_becomes_0w_within_its_timeout() {
    let (mut site, world) = site();
    let t = run(&mut site, &world, start(), 60);
    assert!(converter_power(&world) < Watts(-1300.0));
    // The controller stops (hangs, crashes): nobody refreshes the set-point. Its last one was
    // sent at t − 1 s; the converter's watchdog (5 s) must zero it, then the converter ramps
    // down with its lag.
    let last_command = t - TICK;
    let mut w = lock(&world);
    w.advance_to(last_command + Duration::from_millis(4900));
    assert!(
        w.actuators().converter.unwrap().power_w < Watts(-1000.0),
        "fresh for 5 s"
    );
    w.advance_to(last_command + Duration::from_millis(5001));
    let effective = w.actuators().converter.unwrap();
    assert!(!effective.enabled && effective.power_w == Watts::ZERO);
    w.advance_to(last_command + Duration::from_secs(9));
    assert!(
        w.converter_status().unwrap().value.power_w.abs() < Watts(10.0),
        "the converter has ramped down"
    );
}

#[test]
fn a_silent_bms_zeroes_the_limits_within_2s() {
    let (mut site, world) = site();
    let t = run(&mut site, &world, start(), 60);
    lock(&world).inject(Fault::BmsSilent, t + Duration::from_secs(30));
    // The last BMS state is stamped t − 1 s... the limits must be zero once it is 2 s old.
    let mut t = t;
    let mut zero_at = None;
    for _ in 0..5 {
        lock(&world).advance_to(t);
        let snap = site.tick(t);
        if snap.controller.discharge_limit_w == Watts::ZERO
            && snap.controller.charge_limit_w == Watts::ZERO
        {
            assert_eq!(snap.commands.converter.power_w, Watts::ZERO);
            assert!(snap.controller.warnings.contains(&Warning::BmsSilent));
            zero_at = Some(t);
            break;
        }
        t += TICK;
    }
    let silent_since = lock(&world).bms().unwrap().at;
    let zero_at = zero_at.expect("limits zeroed");
    let after = zero_at.saturating_duration_since(silent_since);
    assert!(
        after <= Duration::from_secs(3) && after > Duration::from_secs(2),
        "zeroed {after:?} after the last BMS message"
    );
}

#[test]
fn a_bms_alarm_stops_the_converter() {
    let (mut site, world) = site();
    let t = run(&mut site, &world, start(), 60);
    lock(&world).inject(Fault::BmsAlarm, t + Duration::from_secs(60));
    lock(&world).advance_to(t + Duration::from_millis(10));
    let snap = site.tick(t + Duration::from_millis(10));
    assert!(!snap.commands.converter.enabled);
    assert_eq!(
        snap.controller.behaviour,
        Behaviour::Stopped {
            reason: StopReason::BmsAlarm
        }
    );
    let t = run(&mut site, &world, t + TICK, 5);
    lock(&world).advance_to(t);
    assert!(converter_power(&world).abs() < Watts(10.0));
    assert!(!lock(&world).converter_status().unwrap().value.enabled);
}

#[test]
fn a_silent_meter_stops_regulation() {
    let (mut site, world) = site();
    let t = run(&mut site, &world, start(), 60);
    lock(&world).inject(Fault::MeterSilent, t + Duration::from_secs(60));
    // Stale after 5 s; the converter then ramps down with its lag.
    let t = run(&mut site, &world, t, 12);
    lock(&world).advance_to(t);
    assert!(converter_power(&world).abs() < Watts(10.0));
}

/// A converter written from its own task (as on Modbus): its status may predate the safe
/// command, so the shutdown must also wait for the backend to say the device holds it.
struct Unacknowledged {
    inner: SimConverter,
    held: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Converter for Unacknowledged {
    fn status(&self) -> Option<devices::Stamped<devices::ConverterStatus>> {
        self.inner.status()
    }
    fn command(
        &mut self,
        now: Timestamp,
        cmd: devices::ConverterCommand,
    ) -> Result<(), devices::DeviceError> {
        self.inner.command(now, cmd)
    }
    fn safe_state_held(&self) -> bool {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn shutdown_waits_until_the_converter_holds_the_safe_state() {
    let held = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (mut site, world) = evening::battery_site_with(evening::world(), start(), |w| {
        Box::new(Unacknowledged {
            inner: SimConverter(w),
            held: held.clone(),
        })
    });
    let mut t = run(&mut site, &world, start(), 60);
    assert!(site.shutdown(t).is_empty());
    // Long enough for the simulated converter to be idle by its own status.
    for _ in 0..50 {
        t += Duration::from_millis(100);
        lock(&world).advance_to(t);
        assert!(!site.is_safe(t), "safe before the device holds it");
    }
    assert!(converter_power(&world).abs() < Watts(10.0));
    held.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(site.is_safe(t));
}

#[test]
fn shutdown_reaches_the_safe_state() {
    let (mut site, world) = site();
    let mut t = run(&mut site, &world, start(), 60);
    assert!(converter_power(&world).abs() > Watts(1000.0));
    assert!(site.shutdown(t).is_empty());
    let deadline = t + Duration::from_secs(5);
    while !site.is_safe(t) {
        assert!(t < deadline, "not safe after 5 s");
        t += Duration::from_millis(100);
        lock(&world).advance_to(t);
    }
    let a = lock(&world).actuators();
    assert_eq!(a.converter, Some(devices::ConverterCommand::SAFE));
    // A controller that is gone cannot re-enable it: the watchdog's safe value is also SAFE.
    let mut conv = SimConverter(world.clone());
    conv.safe_state(t).unwrap();
    lock(&world).advance_to(t + Duration::from_secs(10));
    assert_eq!(
        lock(&world).actuators().converter,
        Some(devices::ConverterCommand::SAFE)
    );
}

#[test]
fn a_3kw_load_step_in_the_simulated_house_settles_within_50w_in_30s() {
    // At night no appliance starts (their start weights are zero before 5:00); the fridge and
    // the standby wander remain, as in a real house.
    let night = Timestamp::parse_rfc3339("2026-06-21T01:00:00Z").unwrap();
    let mut world = World::new(&SimSettings::default(), jiff::tz::TimeZone::UTC, night);
    let kettle = world.add_relay(sim::LoadParams {
        load_w: Watts(3000.0),
        ..Default::default()
    });
    let (mut site, world) = battery_site(world, night);
    let step_at = run(&mut site, &world, night, 120);
    let grid = |w: &SharedWorld| lock(w).meter().unwrap().value.power_w;
    assert!(grid(&world).abs() < Watts(50.0), "settled before the step");
    lock(&world).set_relay(sim::RelayRef::Load(kettle), true);
    let mut t = step_at;
    let mut worst_after_30s = Watts::ZERO;
    let mut first = None;
    for s in 0..60 {
        lock(&world).advance_to(t);
        let g = grid(&world);
        if s == 0 {
            first = Some(g);
        }
        if s >= 30 {
            worst_after_30s = worst_after_30s.max(g.abs());
        }
        site.tick(t);
        t += TICK;
    }
    assert!(first.unwrap() > Watts(2000.0), "the step reached the meter");
    assert!(
        worst_after_30s < Watts(50.0),
        "grid off target by up to {worst_after_30s:?} from 30 s after the step"
    );
}
