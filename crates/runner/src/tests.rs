//! The loop on virtual time: tokio's paused clock stands in for the wall clock, so pacing is
//! measured exactly and every run is deterministic.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use controller::Mode;
use sim::{SharedWorld, lock};
use site::Snapshot;
use units::{Timestamp, Watts};

use crate::{
    Bus, Outcome, Pace, REQUEST_QUEUE, Request, Runner, Schedule, Stepper, StopCause, Supervisor,
};

// The site's safety tests start from the same site.
#[path = "../../site/tests/support/evening.rs"]
mod evening;
use evening::start;

const TICK: Duration = Duration::from_secs(1);

/// Counts what the loop tells its service manager.
#[derive(Debug, Clone, Default)]
struct Counting {
    ticks: Arc<AtomicU64>,
    events: Arc<Mutex<Vec<String>>>,
}

impl Supervisor for Counting {
    fn watchdog_every(&self) -> Option<Duration> {
        None
    }
    fn ready(&mut self, _: &Snapshot, _: std::time::Instant) {
        self.ticks.fetch_add(1, Ordering::SeqCst);
        self.events.lock().unwrap().push("ready".into());
    }
    fn tick(&mut self, _: &Snapshot, _: std::time::Instant) {
        self.ticks.fetch_add(1, Ordering::SeqCst);
    }
    fn stopping(&mut self, why: &str) {
        self.events.lock().unwrap().push(format!("stopping: {why}"));
    }
    fn stopped(&mut self, safe: bool) {
        self.events
            .lock()
            .unwrap()
            .push(format!("stopped: safe={safe}"));
    }
}

/// The loop over the evening site, whose converter discharges the battery to cover a 1.5 kW
/// house (an actuator that is busy when the loop stops), before it runs: front ends take their
/// handles from `bus` first.
struct Fixture {
    stepper: Stepper,
    world: SharedWorld,
    bus: Bus,
    sup: Counting,
}

impl Fixture {
    fn new() -> Self {
        let (site, world) = evening::site();
        let stepper = Stepper::new(site, Some(world.clone()), None, start()).unwrap();
        Self {
            stepper,
            world,
            bus: Bus::new(),
            sup: Counting::default(),
        }
    }

    /// Runs the loop at `pace` until `until` after the start (`None`: until stopped); returns
    /// the outcome, the stepper and the (paused) wall-clock time it took.
    async fn run(self, pace: Pace, until: Option<Duration>) -> (Outcome, Stepper, Duration) {
        let schedule = Schedule {
            tick: TICK,
            pace,
            until: until.map(|d| start() + d),
        };
        let r = Runner::new(self.stepper, self.bus, schedule, Box::new(self.sup)).unwrap();
        let wall = tokio::time::Instant::now();
        let (outcome, stepper) = r.run().await;
        (outcome, stepper, wall.elapsed())
    }
}

#[tokio::test(start_paused = true)]
async fn virtual_pace_runs_speed_times_faster_than_the_wall_clock() {
    let f = Fixture::new();
    let published = f.bus.handle().subscribe();
    let sup = f.sup.clone();
    let pace = Pace::Virtual {
        start: start(),
        speed: 60.0,
    };
    let (outcome, _, wall) = f.run(pace, Some(Duration::from_secs(600))).await;
    assert_eq!(outcome.cause, StopCause::Until);
    // 10 simulated minutes at 60× are 10 s of wall clock; the shutdown on virtual time adds none.
    assert_eq!(wall, Duration::from_secs(10), "wall {wall:?}");
    // A tick at the start and one per second up to `until`, inclusive.
    assert_eq!(sup.ticks.load(Ordering::SeqCst), 601);
    let last = published.borrow().clone().unwrap();
    assert_eq!(last.site.time, start() + Duration::from_secs(600));
    assert_eq!(last.sim.as_ref().unwrap().speed, Some(60.0));
}

#[tokio::test(start_paused = true)]
async fn max_pace_takes_no_wall_clock_time() {
    let f = Fixture::new();
    let sup = f.sup.clone();
    let pace = Pace::Max { start: start() };
    let (outcome, _, wall) = f.run(pace, Some(Duration::from_secs(3600))).await;
    assert_eq!(outcome.cause, StopCause::Until);
    assert_eq!(wall, Duration::ZERO);
    assert_eq!(sup.ticks.load(Ordering::SeqCst), 3601);
}

#[tokio::test(start_paused = true)]
async fn a_stop_puts_every_actuator_into_its_safe_state() {
    let f = Fixture::new();
    let (front, stopper, sup, world) = (
        f.bus.handle(),
        f.bus.stopper(),
        f.sup.clone(),
        f.world.clone(),
    );
    let pace = Pace::Virtual {
        start: start(),
        speed: 10.0,
    };
    // A front end that stops the run (as SIGTERM does) once the converter is discharging.
    let w = world.clone();
    let watcher = tokio::spawn(async move {
        let mut rx = front.subscribe();
        loop {
            rx.changed().await.unwrap();
            let t = rx.borrow_and_update().as_ref().unwrap().site.time;
            let discharging = lock(&w).converter_status().unwrap().value.power_w;
            if t >= start() + Duration::from_secs(60) && discharging < Watts(-1000.0) {
                stopper.send_replace(Some(StopCause::Sigterm));
                return (t, discharging);
            }
        }
    });
    let (outcome, _, _) = f.run(pace, None).await;
    let (stopped_at, busy) = watcher.await.unwrap();
    assert!(busy < Watts(-1000.0));
    assert_eq!(outcome.cause, StopCause::Sigterm);
    assert!(outcome.safe, "{outcome:?}");
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    // The stop took effect at the next tick at the latest, and the converter confirmed it had
    // stopped within the shutdown's patience.
    assert!(
        outcome.at >= stopped_at && outcome.at <= stopped_at + TICK + super::SAFE_STATE_PATIENCE
    );
    let w = lock(&world);
    let command = w.actuators().converter.unwrap();
    assert!(
        !command.enabled && command.power_w == Watts::ZERO,
        "{command:?}"
    );
    assert!(w.converter_status().unwrap().value.power_w.abs() < Watts(50.0));
    drop(w);
    let events = sup.events.lock().unwrap().clone();
    assert_eq!(events, ["ready", "stopping: SIGTERM", "stopped: safe=true"]);
}

#[tokio::test(start_paused = true)]
async fn requests_are_applied_between_two_ticks() {
    let f = Fixture::new();
    let front = f.bus.handle();
    let pace = Pace::Virtual {
        start: start(),
        speed: 100.0,
    };
    let sender = tokio::spawn(async move {
        let mut rx = front.subscribe();
        let mut sent: Option<Timestamp> = None;
        loop {
            if rx.changed().await.is_err() {
                return None;
            }
            let p = rx.borrow_and_update().clone().unwrap();
            match sent {
                None if p.site.time >= start() + Duration::from_secs(5) => {
                    assert_eq!(p.site.controller.mode, Mode::SelfConsumption);
                    front
                        .requests()
                        .try_send(Request::SetMode(Mode::Hold))
                        .unwrap();
                    front
                        .requests()
                        .try_send(Request::SetEvEnabled(false))
                        .unwrap();
                    sent = Some(p.site.time);
                }
                Some(at) if p.site.controller.mode == Mode::Hold => {
                    return Some((at, p.site.time, p.site.controller.ev_enabled));
                }
                Some(_) | None => {}
            }
        }
    });
    let (_, stepper, _) = f.run(pace, Some(Duration::from_secs(60))).await;
    let (sent_at, applied_at, ev_enabled) = sender.await.unwrap().unwrap();
    // Sent after the tick at `sent_at`: applied before the next one, both requests together.
    assert_eq!(applied_at, sent_at + TICK);
    assert!(!ev_enabled);
    assert_eq!(stepper.site.controller().status().mode, Mode::Hold);
}

#[tokio::test(start_paused = true)]
async fn a_slow_front_end_never_holds_up_the_loop() {
    let f = Fixture::new();
    let sup = f.sup.clone();
    let pace = Pace::Virtual {
        start: start(),
        speed: 60.0,
    };
    // A reader that takes an hour of wall clock over each snapshot.
    let slow = f.bus.handle();
    let seen = Arc::new(AtomicU64::new(0));
    let seen2 = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut rx = slow.subscribe();
        while rx.changed().await.is_ok() {
            let _newest = rx.borrow_and_update().clone();
            seen2.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
    // A reader that never reads.
    let _idle = f.bus.handle().subscribe();
    // A writer that sends requests as fast as the queue takes them.
    let flood = f.bus.handle();
    let sent = Arc::new(AtomicU64::new(0));
    let sent2 = Arc::clone(&sent);
    tokio::spawn(async move {
        let tx = flood.requests();
        while tx.send(Request::SetEvEnabled(true)).await.is_ok() {
            sent2.fetch_add(1, Ordering::SeqCst);
        }
    });
    let (outcome, _, wall) = f.run(pace, Some(Duration::from_secs(600))).await;
    assert_eq!(outcome.cause, StopCause::Until);
    // The same pace as with no front end at all: every tick, on time.
    assert_eq!(wall, Duration::from_secs(10), "wall {wall:?}");
    assert_eq!(sup.ticks.load(Ordering::SeqCst), 601);
    // The slow reader saw only the first snapshot in its hour; the writer was served a queue's
    // worth per tick at most.
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    let sent = sent.load(Ordering::SeqCst);
    assert!(sent > 601, "the flood was served: {sent}");
    assert!(
        sent <= (601 + 1) * REQUEST_QUEUE as u64,
        "at most a queue per tick: {sent}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_published_channel_closes_when_the_loop_ends() {
    let f = Fixture::new();
    let front = f.bus.handle();
    let mut rx = front.subscribe();
    assert!(front.latest().is_none(), "nothing before the first tick");
    let pace = Pace::Max { start: start() };
    let (outcome, _, _) = f.run(pace, Some(Duration::from_secs(30))).await;
    // A recorder sees the last snapshot, then the end: it knows it has everything.
    let last = rx.borrow_and_update().clone().unwrap();
    assert_eq!(last.site.time, start() + Duration::from_secs(30));
    assert!(outcome.safe);
    assert!(rx.changed().await.is_err());
    // The request queue is gone with the loop: a sender is told so.
    assert!(front.requests().try_send(Request::PressSimButton).is_err());
}
