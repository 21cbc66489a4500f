//! The DC port's sequence against a plant (a converter with lag, relays that take time to move
//! and may weld, read-backs that may stop), on virtual time: hand-written scenarios, and a
//! property test over random event orders for the invariants of `charge_point::port`.
#![allow(clippy::unwrap_used)] // A failing unwrap is a failing test.

use std::time::Duration;

use charge_point::{CpState, DcPort, PortConfig, PortInputs, PortState};
use devices::{ChargeLimits, ConverterCommand, ConverterStatus, Stamped};
use proptest::prelude::*;
use units::{Amps, Timestamp, Volts, Watts};
use v2g::charger::{Demand, PowerDemand};

const T0: Timestamp = Timestamp::from_unix_secs(1_750_000_000);

/// A relay whose contacts follow the command after `delay`, unless welded.
#[derive(Debug, Clone)]
struct PlantRelay {
    position: bool,
    commanded: bool,
    since: Timestamp,
    welded: bool,
    silent: bool,
}

impl PlantRelay {
    fn new() -> Self {
        Self {
            position: false,
            commanded: false,
            since: T0,
            welded: false,
            silent: false,
        }
    }

    fn command(&mut self, now: Timestamp, on: bool) {
        if on != self.commanded {
            self.commanded = on;
            self.since = now;
        }
    }

    fn advance(&mut self, now: Timestamp) {
        if !self.welded && now.saturating_duration_since(self.since) >= Duration::from_millis(30) {
            self.position = self.commanded;
        }
    }

    fn feedback(&self, now: Timestamp) -> Option<Stamped<bool>> {
        (!self.silent).then(|| Stamped::new(now, self.position))
    }
}

/// The converter: its power follows the applied command with a 0.5 s time constant.
#[derive(Debug, Clone)]
struct PlantConverter {
    power: f64,
    cmd: ConverterCommand,
    silent: bool,
    fault: bool,
    /// The last reading that came through: (when, power).
    last_reading: Timestamp,
    last_power: f64,
}

impl PlantConverter {
    fn advance(&mut self, dt: f64, now: Timestamp) {
        let target = if self.cmd.enabled && !self.fault {
            self.cmd.power_w.0
        } else {
            0.0
        };
        self.power += (target - self.power) * (dt / 0.5).min(1.0);
        if !self.silent {
            self.last_reading = now;
            self.last_power = self.power;
        }
    }

    fn status(&self) -> Stamped<ConverterStatus> {
        Stamped::new(
            self.last_reading,
            ConverterStatus {
                power_w: Watts(self.last_power),
                dc_voltage_v: Some(Volts(380.0)),
                enabled: self.cmd.enabled,
                fault: self.fault,
            },
        )
    }
}

/// One thing that happens between two steps.
#[derive(Debug, Clone)]
enum Event {
    Demand(Demand),
    NeedsPort(bool),
    Pilot(CpState),
    Allowed(bool),
    Grant(ChargeLimits),
    SiteCommand(Watts),
    Weld(bool),
    WeldPrecharge(bool),
    FeedbackSilent(bool),
    ConverterSilent(bool),
    ConverterFault(bool),
    MayDischarge(bool),
    Wait(Duration),
}

fn demand() -> impl Strategy<Value = Demand> {
    prop_oneof![
        Just(Demand::OFF),
        (100.0..500.0f64).prop_map(|v| Demand {
            power: PowerDemand::CableCheck { voltage: Volts(v) },
            isolation_test: true,
        }),
        (100.0..500.0f64).prop_map(|v| Demand {
            power: PowerDemand::PreCharge {
                voltage: Volts(v),
                current_limit: Amps(2.0),
            },
            isolation_test: false,
        }),
        (-40.0..40.0f64).prop_map(|i| Demand {
            power: PowerDemand::Deliver {
                voltage: Volts(420.0),
                current: Amps(i),
            },
            isolation_test: false,
        }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => demand().prop_map(Event::Demand),
        2 => any::<bool>().prop_map(Event::NeedsPort),
        3 => prop_oneof![
            Just(CpState::A),
            Just(CpState::B),
            Just(CpState::C),
            Just(CpState::E),
            Just(CpState::Unknown)
        ]
        .prop_map(Event::Pilot),
        1 => any::<bool>().prop_map(Event::Allowed),
        2 => (0.0..11_000.0f64, 0.0..11_000.0f64, proptest::option::of(-11_000.0..11_000.0f64))
            .prop_map(|(c, d, s)| Event::Grant(ChargeLimits {
                max_charge_w: Watts(c),
                max_discharge_w: Watts(d),
                setpoint_w: s.map(Watts),
                allowed: true,
            })),
        1 => (-5000.0..5000.0f64).prop_map(|w| Event::SiteCommand(Watts(w))),
        1 => any::<bool>().prop_map(Event::Weld),
        1 => any::<bool>().prop_map(Event::WeldPrecharge),
        1 => any::<bool>().prop_map(Event::FeedbackSilent),
        1 => any::<bool>().prop_map(Event::ConverterSilent),
        1 => any::<bool>().prop_map(Event::ConverterFault),
        1 => any::<bool>().prop_map(Event::MayDischarge),
        8 => (1u64..3000).prop_map(|ms| Event::Wait(Duration::from_millis(ms))),
    ]
}

/// The port, its plant and what the test tracks to check the invariants.
struct Bench {
    now: Timestamp,
    port: DcPort,
    config: PortConfig,
    changeover: PlantRelay,
    precharge: PlantRelay,
    converter: PlantConverter,
    inputs: PortInputs,
    site_command: Watts,
    /// Since when the converter's real power has been below idle with the port holding it off.
    quiet_since: Option<Timestamp>,
    last_changeover_cmd: bool,
    /// The inlet's voltage: the precharge supply (500 V, τ 3.7 s) raises it, the car's
    /// battery (380 V) holds it while the converter runs into it, the bleed drains it.
    inlet: f64,
}

impl Bench {
    fn new() -> Self {
        let config = PortConfig::default();
        Self {
            now: T0,
            port: DcPort::new(config),
            config,
            changeover: PlantRelay::new(),
            precharge: PlantRelay::new(),
            converter: PlantConverter {
                power: 0.0,
                cmd: ConverterCommand::SAFE,
                silent: false,
                fault: false,
                last_reading: T0,
                last_power: 0.0,
            },
            inputs: PortInputs {
                demand: Demand::OFF,
                session_needs_port: false,
                pilot: CpState::A,
                allowed: true,
                grant: ChargeLimits::range(Watts(11_000.0), Watts(11_000.0)),
                converter: None,
                changeover: None,
                precharge: None,
                inlet_voltage: Some(Volts(0.0)),
                may_discharge: false,
            },
            inlet: 0.0,
            site_command: Watts(3000.0),
            quiet_since: None,
            last_changeover_cmd: false,
        }
    }

    fn apply(&mut self, event: &Event) {
        match *event {
            Event::Demand(d) => {
                // A session that demands anything needs the port; one that demands nothing may
                // still (between its requests).
                if d.power != PowerDemand::Off {
                    self.inputs.session_needs_port = true;
                }
                self.inputs.demand = d;
            }
            Event::NeedsPort(n) => self.inputs.session_needs_port = n,
            Event::Pilot(p) => self.inputs.pilot = p,
            Event::Allowed(a) => self.inputs.allowed = a,
            Event::Grant(g) => self.inputs.grant = g,
            Event::SiteCommand(w) => self.site_command = w,
            Event::Weld(w) => self.changeover.welded = w,
            Event::WeldPrecharge(w) => self.precharge.welded = w,
            Event::FeedbackSilent(s) => {
                self.changeover.silent = s;
                self.precharge.silent = s;
            }
            Event::ConverterSilent(s) => self.converter.silent = s,
            Event::ConverterFault(f) => self.converter.fault = f,
            Event::MayDischarge(m) => self.inputs.may_discharge = m,
            Event::Wait(d) => self.run(d),
        }
        self.step();
    }

    /// Advances the plant in steps of at most 20 ms (the session's pace), stepping the port.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            let next = (self.now + Duration::from_millis(20)).min(end);
            let dt = next.saturating_duration_since(self.now).as_secs_f64();
            self.now = next;
            self.converter.advance(dt, self.now);
            self.changeover.advance(self.now);
            self.precharge.advance(self.now);
            let approach = |v: f64, to: f64, tau: f64| v + (to - v) * (1.0 - (-dt / tau).exp());
            self.inlet = if self.precharge.position {
                approach(self.inlet, 500.0, 3.7)
            } else if self.changeover.position && self.converter.power.abs() > 1.0 {
                380.0
            } else {
                approach(self.inlet, 0.0, 10.0)
            };
            self.inputs.inlet_voltage = Some(Volts(self.inlet));
            self.step();
        }
    }

    fn step(&mut self) {
        let now = self.now;
        self.inputs.converter = Some(self.converter.status());
        self.inputs.changeover = self.changeover.feedback(now);
        self.inputs.precharge = self.precharge.feedback(now);
        let cmd = self.port.step(now, &self.inputs);
        let state = self.port.state();

        // Invariant: the changeover relay moves only after the converter has really been idle,
        // held off by the charge point, for the settle time.
        if cmd.changeover != self.last_changeover_cmd {
            let quiet = self.quiet_since.map(|t| now.saturating_duration_since(t));
            assert!(
                quiet.is_some_and(|q| q >= self.config.settle),
                "changeover moved to {} at {:?} with the converter at {:.0} W, quiet for {quiet:?}",
                cmd.changeover,
                now.saturating_duration_since(T0),
                self.converter.power,
            );
        }
        self.last_changeover_cmd = cmd.changeover;

        // Invariant: one owner. The charge point commands the converter in every state but
        // Stationary; the site only there, where the relay is (commanded and really) off.
        assert_eq!(cmd.converter.is_some(), state != PortState::Stationary);
        let applied = match cmd.converter {
            Some(c) => c,
            None => {
                assert!(!cmd.changeover && !cmd.precharge);
                ConverterCommand {
                    enabled: true,
                    power_w: self.site_command,
                }
            }
        };

        // Invariant: the precharge relay only during PreCharge, on the car.
        if cmd.precharge {
            assert_eq!(state, PortState::Connected);
            assert!(matches!(
                self.inputs.demand.power,
                PowerDemand::PreCharge { .. }
            ));
        }

        // Invariant: power into or out of the car only in delivery, within the grant, and out
        // of the car only where allowed.
        if let Some(c) = cmd.converter
            && c.enabled
            && c.power_w != Watts::ZERO
        {
            assert_eq!(state, PortState::Connected);
            assert!(matches!(
                self.inputs.demand.power,
                PowerDemand::Deliver { .. }
            ));
            let g = self.inputs.grant;
            assert!(
                c.power_w.0 <= g.max_charge_w.0.max(0.0) + 1e-9,
                "{c:?} {g:?}"
            );
            assert!(
                -c.power_w.0 <= g.max_discharge_w.0.max(0.0) + 1e-9,
                "{c:?} {g:?}"
            );
            if c.power_w.0 < 0.0 {
                assert!(self.inputs.may_discharge);
            }
        }

        self.converter.cmd = applied;
        self.changeover.command(now, cmd.changeover);
        self.precharge.command(now, cmd.precharge);
        let held_off = cmd
            .converter
            .is_some_and(|c| !c.enabled || c.power_w == Watts::ZERO);
        let quiet = held_off && self.converter.power.abs() < self.config.idle_w.0;
        self.quiet_since = if quiet {
            Some(self.quiet_since.unwrap_or(now))
        } else {
            None
        };
    }
}

fn deliver(current: f64) -> Demand {
    Demand {
        power: PowerDemand::Deliver {
            voltage: Volts(420.0),
            current: Amps(current),
        },
        isolation_test: false,
    }
}

fn precharge() -> Demand {
    Demand {
        power: PowerDemand::PreCharge {
            voltage: Volts(380.0),
            current_limit: Amps(2.0),
        },
        isolation_test: false,
    }
}

#[test]
fn a_session_takes_the_port_and_gives_it_back() {
    let mut b = Bench::new();
    // The site runs the converter into the home battery.
    b.run(Duration::from_secs(2));
    assert_eq!(b.port.state(), PortState::Stationary);
    assert!(b.converter.power > 2900.0);
    // A car: cable check. The converter stops, then the relay moves.
    b.apply(&Event::Pilot(CpState::B));
    b.apply(&Event::Demand(Demand {
        power: PowerDemand::CableCheck {
            voltage: Volts(500.0),
        },
        isolation_test: true,
    }));
    assert!(matches!(b.port.state(), PortState::Claiming { .. }));
    assert!(!b.port.commands().changeover);
    b.run(Duration::from_secs(5));
    assert_eq!(b.port.state(), PortState::Connected);
    assert!(b.changeover.position);
    assert!(b.converter.power.abs() < 1.0);
    // PreCharge: the precharge relay, nothing else, until the inlet reaches the car's 380 V;
    // then it holds the inlet there.
    b.apply(&Event::Demand(precharge()));
    assert!(b.port.commands().precharge);
    assert_eq!(b.port.commands().converter, Some(ConverterCommand::SAFE));
    b.run(Duration::from_secs(8));
    assert!((365.0..=385.0).contains(&b.inlet), "{}", b.inlet);
    for _ in 0..50 {
        b.run(Duration::from_millis(100));
        assert!((365.0..=385.0).contains(&b.inlet), "{}", b.inlet);
    }
    // Delivery at 20 A and 380 V, granted 5 kW: 5 kW.
    b.apply(&Event::Pilot(CpState::C));
    b.apply(&Event::Grant(ChargeLimits::range(
        Watts(5000.0),
        Watts::ZERO,
    )));
    b.apply(&Event::Demand(deliver(20.0)));
    assert!(!b.port.commands().precharge);
    assert_eq!(
        b.port.commands().converter,
        Some(ConverterCommand {
            enabled: true,
            power_w: Watts(5000.0)
        })
    );
    b.run(Duration::from_secs(3));
    assert!(
        (b.converter.power - 5000.0).abs() < 50.0,
        "{}",
        b.converter.power
    );
    // The car is unplugged mid-charge: current off at once, the relay only once idle.
    b.apply(&Event::Pilot(CpState::A));
    assert!(matches!(b.port.state(), PortState::Releasing { .. }));
    assert_eq!(b.port.commands().converter, Some(ConverterCommand::SAFE));
    assert!(
        b.port.commands().changeover,
        "the relay holds while current flows"
    );
    b.run(Duration::from_secs(5));
    assert_eq!(b.port.state(), PortState::Stationary);
    assert!(!b.changeover.position);
    // The site has the converter back.
    b.run(Duration::from_secs(3));
    assert!(b.converter.power > 2900.0);
}

#[test]
fn the_car_is_never_discharged_unless_allowed() {
    let mut b = Bench::new();
    b.apply(&Event::Pilot(CpState::C));
    b.apply(&Event::Demand(precharge()));
    b.run(Duration::from_secs(5));
    assert_eq!(b.port.state(), PortState::Connected);
    // The site wants 3 kW out of the car (V2H), the car asks to charge (DIN).
    b.apply(&Event::Grant(ChargeLimits {
        max_charge_w: Watts(11_000.0),
        max_discharge_w: Watts(3000.0),
        setpoint_w: Some(Watts(-3000.0)),
        allowed: true,
    }));
    b.apply(&Event::Demand(deliver(10.0)));
    assert_eq!(
        b.port.commands().converter.unwrap().power_w,
        Watts::ZERO,
        "no discharge without may_discharge"
    );
    // Opt-in (or a BPT session): the converter draws 3 kW from the car.
    b.apply(&Event::MayDischarge(true));
    assert_eq!(b.port.commands().converter.unwrap().power_w, Watts(-3000.0));
    // The site wants 2 kW into the car, the car asks for 10 A × 380 V = 3.8 kW: 2 kW.
    b.apply(&Event::Grant(ChargeLimits {
        max_charge_w: Watts(11_000.0),
        max_discharge_w: Watts(3000.0),
        setpoint_w: Some(Watts(2000.0)),
        allowed: true,
    }));
    assert_eq!(b.port.commands().converter.unwrap().power_w, Watts(2000.0));
}

#[test]
fn unknown_converter_power_holds_the_relay() {
    let mut b = Bench::new();
    // The site runs the converter; then its readings stop.
    b.run(Duration::from_secs(2));
    b.apply(&Event::ConverterSilent(true));
    b.apply(&Event::Pilot(CpState::B));
    b.apply(&Event::Demand(precharge()));
    b.run(Duration::from_secs(30));
    assert!(matches!(b.port.state(), PortState::Claiming { .. }));
    assert!(!b.changeover.position);
    b.apply(&Event::ConverterSilent(false));
    b.run(Duration::from_secs(5));
    assert_eq!(b.port.state(), PortState::Connected);
}

#[test]
fn a_welded_changeover_is_a_fault_that_holds_the_converter() {
    let mut b = Bench::new();
    b.apply(&Event::Pilot(CpState::C));
    b.apply(&Event::Demand(precharge()));
    b.run(Duration::from_secs(5));
    b.apply(&Event::Demand(deliver(10.0)));
    b.run(Duration::from_secs(2));
    b.apply(&Event::Weld(true));
    b.apply(&Event::Demand(Demand::OFF));
    b.apply(&Event::NeedsPort(false));
    b.run(Duration::from_secs(10));
    assert_eq!(b.port.state(), PortState::Fault);
    assert_eq!(b.port.commands().converter, Some(ConverterCommand::SAFE));
    assert!(b.changeover.position, "still welded");
    // The site cannot take the converter back while the relay is welded to the car.
    b.apply(&Event::Pilot(CpState::A));
    b.run(Duration::from_secs(10));
    assert_eq!(b.port.state(), PortState::Fault);
    // Repaired (the read-back shows it open): back to stationary.
    b.apply(&Event::Weld(false));
    b.run(Duration::from_secs(1));
    assert_eq!(b.port.state(), PortState::Stationary);
}

#[test]
fn a_stuck_precharge_relay_ends_delivery_without_switching_under_load() {
    let mut b = Bench::new();
    b.apply(&Event::Pilot(CpState::C));
    b.apply(&Event::Demand(precharge()));
    b.run(Duration::from_secs(4));
    assert!(b.precharge.position, "pre-charging");
    b.apply(&Event::WeldPrecharge(true));
    b.apply(&Event::Demand(deliver(20.0)));
    b.run(Duration::from_secs(10));
    assert_eq!(b.port.state(), PortState::Fault);
    assert!(!b.changeover.position);
    assert!(b.converter.power.abs() < 1.0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever happens in whatever order, the invariants hold at every step (checked inside
    /// `Bench::step`).
    #[test]
    fn the_invariants_hold_whatever_happens(events in proptest::collection::vec(event(), 1..120)) {
        let mut b = Bench::new();
        for e in &events {
            b.apply(e);
        }
        // And when everything calms down (no car, read-backs and converter healthy), the port
        // ends on the battery side with the site in charge.
        for e in [
            Event::Weld(false),
            Event::WeldPrecharge(false),
            Event::FeedbackSilent(false),
            Event::ConverterSilent(false),
            Event::ConverterFault(false),
            Event::Pilot(CpState::A),
            Event::Demand(Demand::OFF),
            Event::NeedsPort(false),
            Event::Wait(Duration::from_secs(20)),
        ] {
            b.apply(&e);
        }
        prop_assert_eq!(b.port.state(), PortState::Stationary);
        prop_assert!(!b.changeover.position && !b.precharge.position);
    }
}
