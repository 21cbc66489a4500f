//! The site controller against a small plant model, on virtual time.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use controller::{
    Behaviour, ControlSettings, ControllerConfig, ConverterRating, GridChargeReason, Inputs,
    IntentSource, Mode, NoDischargeReason, PortState, RelayOverride, RelayReason, SiteController,
    StepIntent, StopReason, StoreIntent, Warning,
};
use devices::{
    BmsAlarm, BmsState, ChargePointState, ChargePointStatus, ConverterStatus, GridReading, LedMode,
    Stamped,
};
use units::{Amps, Percent, PricePerKwh, Timestamp, Volts, Watts};

const TICK: Duration = Duration::from_secs(1);

/// A converter with first-order lag feeding a battery, a house load and the grid meter.
struct Plant {
    now: Timestamp,
    load: Watts,
    pv: Watts,
    converter: Watts,
    converter_target: Watts,
    lag: Duration,
    soc: Percent,
    bms_alarm: bool,
    bms_silent_since: Option<Timestamp>,
    bms_last: Option<Stamped<BmsState>>,
    car: Option<ChargePointStatus>,
    price: Option<PricePerKwh>,
    plan: Option<StepIntent>,
    presses: u64,
    relay: bool,
}

impl Plant {
    fn new() -> Self {
        Self {
            now: Timestamp::from_unix_secs(1_780_000_000),
            load: Watts(500.0),
            pv: Watts::ZERO,
            converter: Watts::ZERO,
            converter_target: Watts::ZERO,
            lag: Duration::from_secs(1),
            soc: Percent(50.0),
            bms_alarm: false,
            bms_silent_since: None,
            bms_last: None,
            car: None,
            price: None,
            plan: None,
            presses: 0,
            relay: false,
        }
    }

    fn grid(&self) -> Watts {
        self.load - self.pv + self.converter
    }

    fn bms(&mut self) -> Option<Stamped<BmsState>> {
        if self.bms_silent_since.is_none() {
            let mut s = BmsState {
                soc_pct: self.soc,
                voltage_v: Volts(400.0),
                current_a: self.converter.at(Volts(400.0)),
                max_charge_a: Amps(12.5),
                max_discharge_a: Amps(12.5),
                ..Default::default()
            };
            if self.bms_alarm {
                s.alarms.insert(BmsAlarm::OverTemperature);
            }
            self.bms_last = Some(Stamped::new(self.now, s));
        }
        self.bms_last
    }

    fn step(&mut self, ctl: &mut SiteController) -> controller::Commands {
        let bms = self.bms();
        let converter = Some(Stamped::new(
            self.now,
            ConverterStatus {
                power_w: self.converter,
                enabled: true,
                ..Default::default()
            },
        ));
        let inputs = Inputs {
            grid: Some(Stamped::new(
                self.now,
                GridReading {
                    power_w: self.grid(),
                    ..Default::default()
                },
            )),
            pv: &[],
            bms,
            converter,
            charge_point: self.car.map(|c| Stamped::new(self.now, c)),
            changeover_feedback: Some(Stamped::new(self.now, self.relay)),
            price: self.price,
            button_presses: self.presses,
            plan: self.plan,
        };
        let cmd = ctl.step(self.now, &inputs);
        let cp_holds = self.car.is_some_and(|c| c.owns_port);
        self.converter_target = if cp_holds {
            // The charge point drives the converter at the site's set-point, within the grant.
            let g = cmd.charge_limits;
            g.setpoint_w
                .unwrap_or(Watts::ZERO)
                .clamp(-g.max_discharge_w, g.max_charge_w)
        } else if cmd.converter.enabled {
            cmd.converter.power_w
        } else {
            Watts::ZERO
        };
        if let Some(r) = cmd.changeover {
            self.relay = r;
        }
        // Advance the converter with its lag over one tick.
        let k = 1.0 - (-TICK.as_secs_f64() / self.lag.as_secs_f64()).exp();
        self.converter = self.converter + (self.converter_target - self.converter) * k;
        self.now += TICK;
        cmd
    }
}

fn config(settings: ControlSettings, changeover: bool) -> ControllerConfig {
    ControllerConfig {
        control: settings,
        converter: Some(ConverterRating {
            max_charge_w: Watts(5000.0),
            max_discharge_w: Watts(5000.0),
        }),
        battery: true,
        pv_rated: vec![],
        changeover,
        relays: vec![],
        timezone: jiff::tz::TimeZone::UTC,
    }
}

fn controller(plant: &Plant, settings: ControlSettings) -> SiteController {
    SiteController::new(config(settings, false), plant.now).unwrap()
}

/// Runs until the grid settles, applies a load step, and returns the grid power each second
/// after the step.
fn load_step_response(target: Watts, step: Watts, lag: Duration) -> Vec<Watts> {
    let mut plant = Plant::new();
    plant.lag = lag;
    let settings = ControlSettings {
        grid_target_w: target,
        ..Default::default()
    };
    let mut ctl = controller(&plant, settings);
    for _ in 0..60 {
        plant.step(&mut ctl);
    }
    plant.load += step;
    (0..60)
        .map(|_| {
            let g = plant.grid();
            plant.step(&mut ctl);
            g
        })
        .collect()
}

#[test]
fn a_3kw_load_step_settles_within_50w_in_30s() {
    for (target, step, lag) in [
        (0.0, 3000.0, 1.0),
        (0.0, -3000.0, 1.0),
        (200.0, 3000.0, 1.0),
        (0.0, 3000.0, 2.0),
    ] {
        let target = Watts(target);
        let grid = load_step_response(target, Watts(step), Duration::from_secs_f64(lag));
        assert!(
            (grid[0] - target).abs() > Watts(2500.0),
            "the step is visible"
        );
        let settled_at = grid
            .iter()
            .rposition(|g| (*g - target).abs() > Watts(50.0))
            .map_or(0, |i| i + 1);
        assert!(
            settled_at <= 30,
            "target {target}, step {step} W, lag {lag} s: settled after {settled_at} s: {grid:?}"
        );
        println!("target {target}, step {step} W, lag {lag} s: within ±50 W after {settled_at} s");
    }
}

#[test]
fn bms_silent_zeroes_limits_within_2s() {
    let mut plant = Plant::new();
    plant.load = Watts(3000.0);
    let mut ctl = controller(&plant, ControlSettings::default());
    for _ in 0..30 {
        plant.step(&mut ctl);
    }
    assert!(ctl.status().discharge_limit_w > Watts(4000.0));
    assert!(
        plant.converter < Watts(-2500.0),
        "discharging to cover the load"
    );
    let silent = plant.now;
    plant.bms_silent_since = Some(silent);
    // Within the timeout the last state still counts.
    plant.step(&mut ctl);
    plant.step(&mut ctl);
    assert!(ctl.status().discharge_limit_w > Watts::ZERO);
    // Just past 2 s: both limits zero and the set-point with them.
    plant.now = silent + Duration::from_millis(2001);
    let cmd = plant.step(&mut ctl);
    let st = ctl.status();
    assert_eq!(st.charge_limit_w, Watts::ZERO);
    assert_eq!(st.discharge_limit_w, Watts::ZERO);
    assert_eq!(cmd.converter.power_w, Watts::ZERO);
    assert!(st.warnings.contains(&Warning::BmsSilent));
    // The BMS comes back: regulation resumes.
    plant.bms_silent_since = None;
    for _ in 0..20 {
        plant.step(&mut ctl);
    }
    assert!(plant.converter < Watts(-2000.0));
}

#[test]
fn bms_alarm_stops_the_converter() {
    let mut plant = Plant::new();
    plant.load = Watts(2000.0);
    let mut ctl = controller(&plant, ControlSettings::default());
    for _ in 0..20 {
        plant.step(&mut ctl);
    }
    assert!(plant.converter_target < Watts(-1000.0));
    plant.bms_alarm = true;
    let cmd = plant.step(&mut ctl);
    assert!(!cmd.converter.enabled, "converter off on alarm");
    assert_eq!(cmd.converter.power_w, Watts::ZERO);
    assert_eq!(
        ctl.status().behaviour,
        Behaviour::Stopped {
            reason: StopReason::BmsAlarm
        }
    );
    assert!(matches!(
        ctl.status().warnings.as_slice(),
        [Warning::BmsAlarm { .. }]
    ));
}

#[test]
fn stale_meter_stops_regulation() {
    let mut plant = Plant::new();
    plant.load = Watts(2000.0);
    let mut ctl = controller(&plant, ControlSettings::default());
    for _ in 0..20 {
        plant.step(&mut ctl);
    }
    let last = Stamped::new(
        plant.now,
        GridReading {
            power_w: Watts(0.0),
            ..Default::default()
        },
    );
    let now = plant.now + Duration::from_secs(6);
    let cmd = ctl.step(
        now,
        &Inputs {
            grid: Some(last),
            bms: plant.bms(),
            ..Default::default()
        },
    );
    assert_eq!(cmd.converter.power_w, Watts::ZERO);
    assert!(ctl.status().warnings.contains(&Warning::MeterStale));
}

#[test]
fn hold_mode_never_discharges_but_stores_surplus() {
    let mut plant = Plant::new();
    plant.load = Watts(2000.0);
    let mut ctl = controller(
        &plant,
        ControlSettings {
            mode: Mode::Hold,
            ..Default::default()
        },
    );
    for _ in 0..30 {
        plant.step(&mut ctl);
        assert!(plant.converter_target >= Watts::ZERO);
    }
    plant.pv = Watts(4000.0);
    for _ in 0..30 {
        plant.step(&mut ctl);
    }
    assert!(
        (plant.converter - Watts(2000.0)).abs() < Watts(50.0),
        "surplus stored: {:?}",
        plant.converter
    );
}

#[test]
fn charge_from_grid_respects_the_import_limit() {
    let mut plant = Plant::new();
    plant.load = Watts(8000.0);
    let mut ctl = controller(
        &plant,
        ControlSettings {
            mode: Mode::ChargeFromGrid,
            grid_charge_power_w: Watts(4000.0),
            grid_import_limit_w: Some(Watts(10000.0)),
            ..Default::default()
        },
    );
    for _ in 0..30 {
        plant.step(&mut ctl);
    }
    assert!(
        (plant.grid() - Watts(10000.0)).abs() < Watts(100.0),
        "held at the fuse limit: {:?}",
        plant.grid()
    );
    plant.load = Watts(3000.0);
    for _ in 0..30 {
        plant.step(&mut ctl);
    }
    assert!((plant.converter - Watts(4000.0)).abs() < Watts(10.0));
}

#[test]
fn price_thresholds_switch_behaviour() {
    let mut plant = Plant::new();
    plant.load = Watts(1000.0);
    let settings = ControlSettings {
        price: controller::PriceSettings {
            grid_charge_below: Some(PricePerKwh(0.10)),
            no_discharge_below: Some(PricePerKwh(0.20)),
            ..Default::default()
        },
        grid_charge_power_w: Watts(2500.0),
        ..Default::default()
    };
    let mut ctl = controller(&plant, settings);
    plant.price = Some(PricePerKwh(0.30));
    for _ in 0..20 {
        plant.step(&mut ctl);
    }
    assert_eq!(ctl.status().behaviour, Behaviour::Regulating);
    assert!(plant.converter < Watts(-900.0), "dear: discharging");
    plant.price = Some(PricePerKwh(0.15));
    for _ in 0..20 {
        plant.step(&mut ctl);
    }
    assert!(matches!(
        ctl.status().behaviour,
        Behaviour::RegulatingNoDischarge { .. }
    ));
    assert!(plant.converter.abs() < Watts(10.0), "middling: holding");
    plant.price = Some(PricePerKwh(0.05));
    for _ in 0..20 {
        plant.step(&mut ctl);
    }
    assert!(matches!(
        ctl.status().behaviour,
        Behaviour::ChargingFromGrid { .. }
    ));
    assert!(
        (plant.converter - Watts(2500.0)).abs() < Watts(10.0),
        "cheap: charging"
    );
}

#[test]
fn soc_window_with_hysteresis() {
    let mut plant = Plant::new();
    plant.load = Watts(1000.0);
    let mut ctl = controller(&plant, ControlSettings::default());
    plant.soc = Percent(10.0);
    plant.step(&mut ctl);
    assert_eq!(
        ctl.status().discharge_limit_w,
        Watts::ZERO,
        "at the reserve"
    );
    plant.soc = Percent(11.0);
    plant.step(&mut ctl);
    assert_eq!(
        ctl.status().discharge_limit_w,
        Watts::ZERO,
        "inside the hysteresis"
    );
    plant.soc = Percent(12.5);
    plant.step(&mut ctl);
    assert!(ctl.status().discharge_limit_w > Watts::ZERO);
    plant.soc = Percent(100.0);
    plant.step(&mut ctl);
    assert_eq!(ctl.status().charge_limit_w, Watts::ZERO, "full");
}

fn car(state: ChargePointState, soc: f64) -> ChargePointStatus {
    ChargePointStatus {
        state,
        ev_soc_pct: Some(Percent(soc)),
        ev_max_charge_w: Watts(11000.0),
        ev_max_discharge_w: Watts(7000.0),
        ..Default::default()
    }
}

#[test]
fn car_takes_over_the_port_and_hands_it_back() {
    let mut plant = Plant::new();
    plant.load = Watts(2000.0);
    let mut ctl = SiteController::new(config(ControlSettings::default(), true), plant.now).unwrap();
    for _ in 0..20 {
        plant.step(&mut ctl);
    }
    assert!(plant.converter < Watts(-1900.0), "battery covers the house");
    assert_eq!(ctl.status().discharge_limit_w, Watts(5000.0));
    // A car becomes ready: the converter stops before the relay moves.
    plant.car = Some(car(ChargePointState::Ready, 70.0));
    let mut switched_at = None;
    for i in 0..20 {
        let was_on = plant.relay;
        let power_before = plant.converter;
        let cmd = plant.step(&mut ctl);
        if cmd.changeover == Some(true) && !was_on {
            assert!(
                power_before.abs() < Watts(50.0),
                "switched under {power_before:?}"
            );
            switched_at = Some(i);
        }
    }
    assert!(switched_at.is_some(), "relay switched to the car");
    assert!(matches!(ctl.status().port, PortState::Vehicle { .. }));
    for _ in 0..30 {
        plant.step(&mut ctl);
    }
    assert!(
        plant.converter < Watts(-1900.0),
        "V2H covers the house: {:?}",
        plant.converter
    );
    assert_eq!(ctl.status().discharge_limit_w, Watts(5000.0));
    // The car reaches its V2H floor: no more discharge.
    plant.car = Some(car(ChargePointState::Ready, 40.0));
    plant.step(&mut ctl);
    assert_eq!(ctl.status().discharge_limit_w, Watts::ZERO);
    // The car stops: back to the battery, again without switching under load.
    plant.car = Some(car(ChargePointState::Stopping, 40.0));
    let mut back = false;
    for _ in 0..20 {
        let was_on = plant.relay;
        let power_before = plant.converter;
        let cmd = plant.step(&mut ctl);
        if cmd.changeover == Some(false) && was_on {
            assert!(power_before.abs() < Watts(50.0));
            back = true;
        }
    }
    assert!(back);
    for _ in 0..20 {
        plant.step(&mut ctl);
    }
    assert!(plant.converter < Watts(-1900.0), "battery again");
}

#[test]
fn button_toggles_the_car_and_led_follows() {
    let mut plant = Plant::new();
    let mut ctl = SiteController::new(config(ControlSettings::default(), true), plant.now).unwrap();
    let cmd = plant.step(&mut ctl);
    assert_eq!(cmd.led, LedMode::BlinkSlow, "enabled, waiting for a car");
    plant.presses = 1;
    let cmd = plant.step(&mut ctl);
    assert!(!ctl.status().ev_enabled);
    assert_eq!(cmd.led, LedMode::Off);
    assert_eq!(cmd.charge_limits, devices::ChargeLimits::ZERO);
    plant.car = Some(car(ChargePointState::Ready, 60.0));
    for _ in 0..10 {
        let cmd = plant.step(&mut ctl);
        assert_eq!(
            cmd.changeover,
            Some(false),
            "disabled: the car is not served"
        );
    }
    plant.presses = 2;
    for _ in 0..10 {
        plant.step(&mut ctl);
    }
    assert!(matches!(ctl.status().port, PortState::Vehicle { .. }));
    assert_eq!(plant.step(&mut ctl).led, LedMode::On);
}

#[test]
fn safe_commands_stop_everything() {
    let plant = Plant::new();
    let ctl = SiteController::new(config(ControlSettings::default(), true), plant.now).unwrap();
    let safe = ctl.safe_commands();
    assert!(!safe.converter.enabled);
    assert_eq!(safe.converter.power_w, Watts::ZERO);
    assert_eq!(safe.changeover, Some(false));
    assert_eq!(safe.charge_limits, devices::ChargeLimits::ZERO);
    assert_eq!(safe.led, LedMode::Off);
}

#[test]
fn invalid_settings_are_rejected() {
    let plant = Plant::new();
    let mut s = ControlSettings::default();
    s.battery.min_soc_pct = Percent(90.0);
    s.battery.max_soc_pct = Percent(80.0);
    let err = SiteController::new(config(s, false), plant.now).unwrap_err();
    assert!(err.to_string().contains("min_soc_pct"), "{err}");
}

/// A CCS charge point that holds the DC port itself: the controller does not touch the relay
/// and steers the car's power through the grant's set-point: PV surplus into the car, and V2H
/// holding the grid at zero, within the car's own limits and SoC gates.
#[test]
fn a_charge_point_holding_the_port_follows_the_grid_loop() {
    let mut plant = Plant::new();
    plant.load = Watts(500.0);
    plant.pv = Watts(3500.0);
    let settings = ControlSettings {
        ev: controller::EvSettings {
            v2h: true,
            ..Default::default()
        },
        ..ControlSettings::default()
    };
    let mut ctl = SiteController::new(config(settings, false), plant.now).unwrap();
    let mut status = car(ChargePointState::Ready, 60.0);
    status.owns_port = true;
    plant.car = Some(status);
    for _ in 0..40 {
        let cmd = plant.step(&mut ctl);
        assert_eq!(cmd.changeover, None, "the relay is the charge point's");
    }
    // 3 kW of surplus go into the car; the grid is at zero.
    assert!(
        (plant.converter.0 - 3000.0).abs() < 50.0,
        "{:?}",
        plant.converter
    );
    assert!(plant.grid().abs() < Watts(50.0));
    let g = ctl.status();
    assert!(matches!(g.port, PortState::Vehicle { .. }));
    let mut charging = plant.car.unwrap();
    charging.power_w = plant.converter;
    plant.car = Some(charging);
    assert_eq!(plant.step(&mut ctl).led, LedMode::On, "charging");
    // Night: the house takes 2 kW, the car covers it (V2H).
    plant.pv = Watts::ZERO;
    plant.load = Watts(2000.0);
    for _ in 0..40 {
        plant.step(&mut ctl);
    }
    assert!(
        (plant.converter.0 + 2000.0).abs() < 50.0,
        "{:?}",
        plant.converter
    );
    assert!(plant.grid().abs() < Watts(50.0));
    let mut discharging = plant.car.unwrap();
    discharging.power_w = plant.converter;
    plant.car = Some(discharging);
    assert_eq!(plant.step(&mut ctl).led, LedMode::DoubleFlash, "V2H");
    // The car reaches its V2H floor: the grant allows no more discharge.
    let mut low = car(ChargePointState::Ready, 40.0);
    low.owns_port = true;
    plant.car = Some(low);
    let cmd = plant.step(&mut ctl);
    assert_eq!(cmd.charge_limits.max_discharge_w, Watts::ZERO);
    assert!(cmd.charge_limits.setpoint_w.unwrap() >= Watts::ZERO);
    // Serving the car switched off: nothing allowed.
    ctl.set_ev_enabled(false);
    let cmd = plant.step(&mut ctl);
    assert!(!cmd.charge_limits.allowed);
    assert_eq!(cmd.charge_limits.max_charge_w, Watts::ZERO);
}

#[test]
fn a_plan_intent_takes_the_place_of_the_thresholds() {
    let mut plant = Plant::new();
    plant.load = Watts(1000.0);
    let settings = ControlSettings {
        price: controller::PriceSettings {
            grid_charge_below: Some(PricePerKwh(0.10)),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut ctl = controller(&plant, settings);
    // Cheap enough for the threshold to charge; the plan instead holds the grid at 3 kW import
    // (1 kW house, 2 kW into the battery).
    plant.price = Some(PricePerKwh(0.05));
    let follow = StoreIntent::Follow {
        grid_target_w: Watts(3000.0),
        no_discharge: Some(NoDischargeReason::Plan),
    };
    plant.plan = Some(StepIntent {
        battery: follow,
        car: follow,
        curtail: false,
        source: IntentSource::Plan,
    });
    for _ in 0..40 {
        plant.step(&mut ctl);
    }
    assert_eq!(
        ctl.status().behaviour,
        Behaviour::RegulatingNoDischarge {
            reason: NoDischargeReason::Plan
        }
    );
    assert_eq!(ctl.status().intent.source, IntentSource::Plan);
    assert!(
        (plant.grid() - Watts(3000.0)).abs() < Watts(50.0),
        "{:?}",
        plant.grid()
    );
    // The meter moves between plan steps: the loop follows it, the target stays.
    plant.load = Watts(1500.0);
    for _ in 0..40 {
        plant.step(&mut ctl);
    }
    assert!(
        (plant.grid() - Watts(3000.0)).abs() < Watts(50.0),
        "{:?}",
        plant.grid()
    );
    assert!((plant.converter - Watts(1500.0)).abs() < Watts(50.0));
    // A fixed charge power from the plan.
    let charge = StoreIntent::Charge {
        power_w: Some(Watts(1200.0)),
        reason: GridChargeReason::Plan,
    };
    plant.plan = plant.plan.map(|p| StepIntent {
        battery: charge,
        ..p
    });
    for _ in 0..20 {
        plant.step(&mut ctl);
    }
    assert!((plant.converter - Watts(1200.0)).abs() < Watts(10.0));
    // A manual mode overrides the plan: hold never charges from the grid.
    ctl.set_mode(Mode::Hold);
    for _ in 0..40 {
        plant.step(&mut ctl);
    }
    assert_eq!(ctl.status().intent.source, IntentSource::Rules);
    assert!(plant.converter.abs() < Watts(10.0), "{:?}", plant.converter);
}

/// The user's settings (the page, the API): a car charge target stops charging there, V2H off
/// forbids discharge, a current cap limits the car's power at the inlet's voltage.
#[test]
fn user_ev_settings_limit_the_car() {
    let mut plant = Plant::new();
    plant.pv = Watts(9000.0);
    let mut ctl =
        SiteController::new(config(ControlSettings::default(), false), plant.now).unwrap();
    let mut status = car(ChargePointState::Ready, 60.0);
    status.owns_port = true;
    status.dc_voltage_v = Some(Volts(400.0));
    plant.car = Some(status);
    let cmd = plant.step(&mut ctl);
    assert_eq!(
        cmd.charge_limits.max_charge_w,
        Watts(5000.0),
        "converter rating"
    );
    assert_eq!(cmd.charge_limits.max_discharge_w, Watts(5000.0));
    // 10 A at 400 V: 4 kW.
    ctl.set_ev_max_current(Some(Amps(10.0))).unwrap();
    let cmd = plant.step(&mut ctl);
    assert_eq!(cmd.charge_limits.max_charge_w, Watts(4000.0));
    for _ in 0..40 {
        plant.step(&mut ctl);
    }
    assert!(plant.converter <= Watts(4000.0), "{:?}", plant.converter);
    assert!(ctl.set_ev_max_current(Some(Amps(-1.0))).is_err());
    // Charge target 55 %: the car at 60 % gets no more charge; V2H off: no discharge either.
    ctl.set_ev_limits(Percent(55.0), false).unwrap();
    let cmd = plant.step(&mut ctl);
    assert_eq!(cmd.charge_limits.max_charge_w, Watts::ZERO);
    assert_eq!(cmd.charge_limits.max_discharge_w, Watts::ZERO);
    // A target below the V2H floor with V2H on is refused, and nothing changes.
    assert!(ctl.set_ev_limits(Percent(30.0), true).is_err());
    assert_eq!(ctl.config().control.ev.target_soc_pct, Percent(55.0));
    assert!(ctl.set_ev_limits(Percent(101.0), false).is_err());
    // Back to 90 % with V2H: charge and discharge again, the cap still applies.
    ctl.set_ev_limits(Percent(90.0), true).unwrap();
    let cmd = plant.step(&mut ctl);
    assert_eq!(cmd.charge_limits.max_charge_w, Watts(4000.0));
    assert_eq!(cmd.charge_limits.max_discharge_w, Watts(5000.0));
    ctl.set_ev_max_current(None).unwrap();
    assert_eq!(
        plant.step(&mut ctl).charge_limits.max_charge_w,
        Watts(5000.0)
    );
}

/// A relay forced on or off by the user holds against its rule; `auto` gives it back; the
/// safe state switches it off whatever the override.
#[test]
fn relay_override_forces_a_relay_but_not_the_safe_state() {
    let mut plant = Plant::new();
    let mut cfg = config(ControlSettings::default(), false);
    cfg.relays = vec![controller::RelayRule {
        name: "heater".into(),
        when: vec![controller::Condition::SurplusW(controller::Threshold {
            on_above: Some(Watts(1000.0)),
            off_below: Some(Watts(500.0)),
            ..Default::default()
        })],
        load_w: Watts::ZERO,
        min_on: Duration::ZERO,
        min_off: Duration::ZERO,
    }];
    let mut ctl = SiteController::new(cfg, plant.now).unwrap();
    assert_eq!(plant.step(&mut ctl).relays, vec![false], "no surplus");
    ctl.set_relay_override("heater", RelayOverride::On).unwrap();
    for _ in 0..5 {
        assert_eq!(plant.step(&mut ctl).relays, vec![true]);
    }
    assert_eq!(ctl.status().relays[0].reason, RelayReason::Override);
    assert!(ctl.status().relays[0].on);
    assert_eq!(ctl.safe_commands().relays, vec![false], "safe state wins");
    ctl.set_relay_override("heater", RelayOverride::Auto)
        .unwrap();
    assert_eq!(plant.step(&mut ctl).relays, vec![false]);
    plant.pv = Watts(3000.0);
    plant.soc = Percent(100.0);
    assert_eq!(plant.step(&mut ctl).relays, vec![true], "surplus");
    ctl.set_relay_override("heater", RelayOverride::Off)
        .unwrap();
    assert_eq!(plant.step(&mut ctl).relays, vec![false]);
    assert!(ctl.set_relay_override("pump", RelayOverride::On).is_err());
}
