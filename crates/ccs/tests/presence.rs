//! The charger's network key across cars, on virtual time: our charger's SLAC task (as
//! `gridlet evse` runs it, with no control pilot) and our car over the in-memory powerline. The
//! charger's modem must hold the key it handed to the car from the match until the car has gone,
//! and hold a new one before the next car's CM_SLAC_PARM.REQ is answered.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing unwrap is a failing test.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccs::presence::{Activity, ChargerSlac, ChargerSlacEvent, Departure, SDP_AFTER_MATCH};
use homeplug::{MacAddr, Message, Nmk};
use plc::{MemoryLink, PowerlineHub, TokioClock, drive, drive_with_inputs};
use slac::sim::{HostId, Powerline, REAL_AAG};
use slac::{Ev, EvConfig, EvEvent, EvMatch, EvseConfig, EvseEvent};
use tokio::sync::mpsc;
use units::{Clock, Timestamp};

const EVSE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const EV_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const T0: Timestamp = Timestamp::from_unix_secs(1_750_000_000);

type Events = Arc<Mutex<Vec<(Timestamp, ChargerSlacEvent)>>>;

/// The charger's SLAC task running over the hub, and what the test needs to watch it.
struct Bench {
    clock: TokioClock,
    line: Arc<Mutex<Powerline>>,
    charger: HostId,
    car: MemoryLink,
    activity: mpsc::UnboundedSender<Activity>,
    events: Events,
}

impl Bench {
    fn start() -> Self {
        let clock = TokioClock::new(T0);
        let mut hub = PowerlineHub::new(Duration::from_millis(1));
        let charger_link = hub.attach_evse(EVSE_MAC, &REAL_AAG);
        let car = hub.attach_ev(EV_MAC);
        let line = hub.line();
        let charger = charger_link.host();
        hub.spawn(clock.clone());
        let (activity, mut inputs) = mpsc::unbounded_channel();
        let events: Events = Arc::default();
        let log = Arc::clone(&events);
        let task_clock = clock.clone();
        tokio::spawn(async move {
            let mut slac = ChargerSlac::new(EvseConfig::new(EVSE_MAC, [9; 32]), task_clock.now());
            let _ = drive_with_inputs(
                &charger_link,
                &task_clock,
                &mut slac,
                &mut inputs,
                |slac, now, a| slac.handle_activity(now, a),
                |_, event| {
                    log.lock().unwrap().push((task_clock.now(), event));
                    ControlFlow::Continue(())
                },
            )
            .await;
        });
        Self {
            clock,
            line,
            charger,
            car,
            activity,
            events,
        }
    }

    /// The key the charger's modem holds now.
    fn charger_key(&self) -> Nmk {
        self.line
            .lock()
            .unwrap()
            .modem_key(self.charger)
            .expect("the charger programmed a key")
    }

    /// A car (seeded with `seed`) plugs in and matches.
    async fn car_matches(&self, seed: u8) -> EvMatch {
        let mut ev = Ev::new(EvConfig::new(EV_MAC, [seed; 32]));
        ev.handle_start(self.clock.now());
        let mut matched = None;
        drive(&self.car, &self.clock, &mut ev, |_, event| match event {
            EvEvent::Matched(m) => {
                matched = Some(m);
                ControlFlow::Break(())
            }
            EvEvent::Failed { reason } => panic!("the car failed: {reason}"),
            _ => ControlFlow::Continue(()),
        })
        .await
        .unwrap();
        matched.unwrap()
    }

    async fn tell(&self, activity: Activity, after: Duration) {
        tokio::time::sleep(after).await;
        self.activity.send(activity).unwrap();
        // Let the task take it in.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    /// When the charger sent each key to its modem, with the key.
    fn key_changes(&self) -> Vec<(Timestamp, Nmk)> {
        self.line
            .lock()
            .unwrap()
            .log()
            .iter()
            .filter(|s| s.from == self.charger)
            .filter_map(|s| match &s.repr.message {
                Message::SetKeyReq(req) => Some((s.at, req.new_key)),
                _ => None,
            })
            .collect()
    }

    /// When the charger answered a CM_SLAC_PARM.REQ.
    fn param_answers(&self) -> Vec<Timestamp> {
        self.line
            .lock()
            .unwrap()
            .log()
            .iter()
            .filter(|s| {
                s.from == self.charger && matches!(s.repr.message, Message::SlacParamCnf(_))
            })
            .map(|s| s.at)
            .collect()
    }

    fn departures(&self) -> Vec<Departure> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, e)| match e {
                ChargerSlacEvent::CarGone(d) => Some(*d),
                _ => None,
            })
            .collect()
    }

    fn matches(&self) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| matches!(e, ChargerSlacEvent::Slac(EvseEvent::Matched(_))))
            .count()
    }
}

#[tokio::test(start_paused = true)]
async fn the_chargers_key_stays_until_the_car_leaves_and_changes_before_the_next_car() {
    let bench = Bench::start();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let first_key = bench.charger_key();

    // Car 1: matches, finds the charger by SDP, charges for an hour, ends its session.
    let car1 = bench.car_matches(1).await;
    assert_eq!(
        car1.nmk, first_key,
        "the car got the key the charger's modem holds"
    );
    let matched_at = bench.clock.now();
    bench
        .tell(Activity::SdpAnswered, Duration::from_millis(700))
        .await;
    bench
        .tell(Activity::Connected, Duration::from_millis(20))
        .await;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            bench.charger_key(),
            car1.nmk,
            "the key held while the car charges"
        );
    }
    let closed_at = bench.clock.now();
    bench
        .tell(Activity::Closed { paused: false }, Duration::ZERO)
        .await;

    // From the match until the session closed the charger sent its modem no key.
    let changes = bench.key_changes();
    assert!(
        changes
            .iter()
            .all(|(at, _)| *at < matched_at || *at >= closed_at),
        "{changes:?}"
    );
    assert_eq!(bench.departures(), [Departure::SessionClosed]);
    let second_key = bench.charger_key();
    assert_ne!(second_key, car1.nmk, "a new key once the car has gone");

    // Car 2 plugs in a minute later and gets the new key, programmed before its request was
    // answered.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let car2 = bench.car_matches(2).await;
    assert_eq!(car2.nmk, second_key);
    let changes = bench.key_changes();
    let (changed_at, key) = changes.last().unwrap();
    assert_eq!(*key, second_key);
    let answered = *bench.param_answers().last().unwrap();
    assert!(*changed_at < answered, "{changed_at:?} vs {answered:?}");
    assert_eq!(bench.matches(), 2);
    // One key at start, one after car 1: no others.
    assert_eq!(changes.len(), 2, "{changes:?}");
}

#[tokio::test(start_paused = true)]
async fn a_car_that_never_asks_for_sdp_loses_the_key_after_the_sdp_window() {
    let bench = Bench::start();
    let car = bench.car_matches(1).await;
    tokio::time::sleep(SDP_AFTER_MATCH - Duration::from_millis(100)).await;
    assert_eq!(bench.charger_key(), car.nmk);
    assert!(bench.departures().is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bench.departures(), [Departure::NoSdp]);
    assert_ne!(bench.charger_key(), car.nmk);
    // The next car matches with the new key.
    let next = bench.car_matches(3).await;
    assert_eq!(next.nmk, bench.charger_key());
}

#[tokio::test(start_paused = true)]
async fn a_paused_car_keeps_the_key_and_resumes() {
    let bench = Bench::start();
    let car = bench.car_matches(1).await;
    bench
        .tell(Activity::SdpAnswered, Duration::from_millis(600))
        .await;
    bench
        .tell(Activity::Connected, Duration::from_millis(10))
        .await;
    bench
        .tell(Activity::Closed { paused: true }, Duration::from_secs(30))
        .await;
    // It comes back 20 s later over the same network, resumes, and then stops for good.
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(bench.charger_key(), car.nmk);
    bench.tell(Activity::SdpAnswered, Duration::ZERO).await;
    bench
        .tell(Activity::Connected, Duration::from_millis(10))
        .await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(bench.charger_key(), car.nmk);
    bench
        .tell(Activity::Closed { paused: false }, Duration::ZERO)
        .await;
    assert_eq!(bench.departures(), [Departure::SessionClosed]);
    assert_ne!(bench.charger_key(), car.nmk);
}
