//! The control loop driver: ticks the site on real or virtual time, applies requests from the
//! front ends between ticks, publishes snapshots, and on stop puts every actuator into its safe
//! state and waits (bounded) until that is confirmed.
//!
//! The loop and its front ends (HTTP and the page, MQTT, the history writer, CAN) meet on one
//! [`Bus`]: the loop publishes each tick's [`Published`] on a `watch` channel and takes
//! [`Request`]s from a bounded queue between ticks. A front end holds a [`Handle`] and nothing
//! else of the loop; this crate knows no front end, and no front end knows another (the binary
//! composes them). Nothing a front end does can hold up a tick: a slow reader only skips
//! snapshots (a `watch` keeps the newest, never a backlog), a full request queue is the sender's
//! problem (`try_send` fails), and the loop takes at most [`REQUEST_QUEUE`] requests per tick.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sim::SharedWorld;
use site::{Site, Snapshot};
use tokio::sync::{mpsc, watch};
use units::{Clock, Timestamp};

pub mod settings;

mod bus;
pub use bus::{Bus, Handle, REQUEST_QUEUE};

#[cfg(test)]
mod tests;

/// What can go wrong setting up a run: the configuration's fault, found before the first tick.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// A simulated car was configured without the simulated world it lives in.
    #[error("a simulated car needs the simulated world")]
    CarWithoutWorld,
    /// `GRIDLET_FAULT_STALL_TICK_AFTER` is not a duration.
    #[error("{}={value:?}: {why}", STALL_VAR)]
    StallVar { value: String, why: String },
    /// The signal handlers could not be installed.
    #[error("cannot install the SIGTERM/SIGINT handlers: {0}")]
    Signals(#[source] std::io::Error),
}

/// The service manager's view of the loop: told when the site runs, after every tick (the
/// watchdog is kept by the loop itself, so a hung tick stops the pings) and when it stops.
/// The daemon's is systemd's notification protocol; [`Unsupervised`] does nothing.
pub trait Supervisor: Send {
    /// The interval of the watchdog pings the service manager wants, if any.
    fn watchdog_every(&self) -> Option<Duration>;
    /// The first tick has run.
    fn ready(&mut self, snapshot: &Snapshot, now: std::time::Instant);
    /// Another tick has run.
    fn tick(&mut self, snapshot: &Snapshot, now: std::time::Instant);
    /// The safe-state shutdown begins, for `why`.
    fn stopping(&mut self, why: &str);
    /// The shutdown has ended; `safe` if every actuator confirmed its safe state.
    fn stopped(&mut self, safe: bool);
}

/// No service manager (tests, a run from a terminal).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unsupervised;

impl Supervisor for Unsupervised {
    fn watchdog_every(&self) -> Option<Duration> {
        None
    }
    fn ready(&mut self, _: &Snapshot, _: std::time::Instant) {}
    fn tick(&mut self, _: &Snapshot, _: std::time::Instant) {}
    fn stopping(&mut self, _: &str) {}
    fn stopped(&mut self, _: bool) {}
}

/// How the loop's time advances.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Wall-clock time from the system clock (the daemon on the board).
    System,
    /// Virtual time from `start`, `speed` times faster than the wall clock.
    Virtual { start: Timestamp, speed: f64 },
    /// Virtual time from `start`, as fast as the machine can.
    Max { start: Timestamp },
}

/// Why the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopCause {
    /// `--until` was reached.
    Until,
    /// SIGTERM.
    Sigterm,
    /// SIGINT (Ctrl-C).
    Sigint,
}

/// A request from the API, applied between two ticks.
#[derive(Debug)]
pub enum Request {
    /// Select the operating mode.
    SetMode(controller::Mode),
    /// Allow or forbid serving the car.
    SetEvEnabled(bool),
    /// Press the simulated button.
    PressSimButton,
    /// Inject a fault into the simulation for a while.
    InjectSimFault(sim::Fault, Duration),
    /// Change the user's settings, all or nothing; answered with the new settings or why not.
    UpdateSettings(
        settings::Patch,
        tokio::sync::oneshot::Sender<Result<settings::Settings, String>>,
    ),
}

/// What the API sees: the latest snapshot, and the simulation's totals if simulated.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub site: Snapshot,
    pub sim: Option<SimPublished>,
    /// The planner's plan (`/api/v1/plan`), shared until it re-plans.
    #[serde(skip)]
    pub plan: Option<Arc<site::PlanStatus>>,
    /// The user's settings (`/api/v1/settings`), as the controller holds them.
    #[serde(skip)]
    pub settings: settings::Settings,
}

/// Simulation extras for the API.
#[derive(Debug, Clone, Serialize)]
pub struct SimPublished {
    pub totals: sim::EnergyTotals,
    pub led: devices::LedMode,
    pub speed: Option<f64>,
}

/// How the run ended.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub cause: StopCause,
    pub at: Timestamp,
    /// True if every actuator confirmed its safe state before the deadline.
    pub safe: bool,
    /// Devices that refused their safe-state command.
    pub errors: Vec<String>,
}

/// How long the shutdown waits for every actuator to confirm its safe state. A car charged at
/// full power needs the most: the converter's ramp to 0 W (about 4 s for the simulated 5 kW
/// one), `settle` idle before the contactors open, `settle` again before the port is back on
/// the battery (1 s each by default), and on Modbus a poll to write and one to read it back.
/// 5 s was too short for that; systemd's `TimeoutStopSec=15s` leaves room for 10.
const SAFE_STATE_PATIENCE: Duration = Duration::from_secs(10);
const SAFE_STATE_POLL: Duration = Duration::from_millis(100);

/// The simulated car's CCS sessions, in-process.
pub type SimLink = ccs::memory::MemoryLink<WorldCar>;

/// The simulated car's body, as its protocol stack in [`ccs::memory`] sees it.
#[derive(Debug, Clone)]
pub struct WorldCar(pub SharedWorld);

impl ccs::memory::CarBody for WorldCar {
    fn plugged_in(&self) -> bool {
        sim::lock(&self.0).car_plugged()
    }

    fn leaving(&self) -> bool {
        sim::lock(&self.0).car_leaving()
    }

    fn soc(&self) -> units::Percent {
        sim::lock(&self.0).car_soc().unwrap_or(units::Percent(0.0))
    }

    fn pilot_digital(&self) -> bool {
        sim::lock(&self.0).pilot_digital()
    }

    fn set_switches(&mut self, s: ccs::memory::CarSwitches) {
        sim::lock(&self.0).set_car_switches(s.plugged, s.s2_closed, s.contactors_closed);
    }
}

/// A simulated car at a charge point, its sessions run in-process by the [`Stepper`].
#[derive(Debug)]
pub struct SimCar {
    /// The charge point it is plugged into.
    pub point: ccs::point::PointHandle,
    /// The charge point's side of the session (SECC).
    pub secc: Arc<v2g::secc::SeccConfig>,
    /// The car's side of the session.
    pub evcc: v2g::evcc::EvccConfig,
}

/// The site, the simulated world and the simulated car's sessions, moved on together: what one
/// control tick does, on whatever time the caller keeps. The runner drives one; tests drive one
/// directly on virtual time.
#[derive(Debug)]
pub struct Stepper {
    /// The site.
    pub site: Site,
    world: Option<SharedWorld>,
    link: Option<SimLink>,
}

impl Stepper {
    /// The site at `start`, with the simulated world if any device is simulated. A CCS charge
    /// point whose car is simulated (`car`) gets its in-process sessions here.
    pub fn new(
        site: Site,
        world: Option<SharedWorld>,
        car: Option<SimCar>,
        start: Timestamp,
    ) -> Result<Self, RunnerError> {
        let link = match car {
            Some(car) => {
                let w = world.clone().ok_or(RunnerError::CarWithoutWorld)?;
                let seed = sim::lock(&w).seed().to_le_bytes();
                let mut seed32 = [0u8; 32];
                for (i, b) in seed32.iter_mut().enumerate() {
                    *b = seed[i % seed.len()] ^ 0xA5;
                }
                let link = ccs::memory::MemoryLink::new(
                    car.point,
                    car.secc,
                    car.evcc,
                    WorldCar(w),
                    seed32,
                    start,
                );
                Some(link)
            }
            None => None,
        };
        Ok(Self { site, world, link })
    }

    /// The simulated world, if any.
    pub fn world(&self) -> Option<&SharedWorld> {
        self.world.as_ref()
    }

    /// Moves the simulated world to `now`; with in-process car sessions, in steps between their
    /// events, each handled at its own time (a charge loop request every few hundred ms).
    pub fn advance_world(&mut self, now: Timestamp) {
        let Some(w) = &self.world else { return };
        if let Some(link) = &mut self.link {
            while let Some(at) = link.next_event().filter(|at| *at <= now) {
                sim::lock(w).advance_to(at);
                link.advance_to(at);
            }
        }
        sim::lock(w).advance_to(now);
        if let Some(link) = &mut self.link {
            // A car that came or went since its last event is handled now.
            link.advance_to(now);
        }
    }

    /// One control tick at `now`: the world moved on, then the site's.
    pub fn tick(&mut self, now: Timestamp) -> Snapshot {
        self.advance_world(now);
        self.site.tick(now)
    }

    /// The simulation is over: a car session still running is ended and recorded.
    pub fn finish(&mut self, now: Timestamp) {
        if let Some(link) = &mut self.link {
            link.finish(now);
        }
    }

    /// The simulated car's sessions so far.
    pub fn charge_sessions(&self) -> Vec<ccs::memory::SessionRecord> {
        self.link
            .as_ref()
            .map(|l| l.sessions().to_vec())
            .unwrap_or_default()
    }
}

/// When the loop ticks and when it ends.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// The control tick.
    pub tick: Duration,
    /// How the loop's time advances.
    pub pace: Pace,
    /// The end of the run (a simulation's `--until`); `None` runs until a signal.
    pub until: Option<Timestamp>,
}

impl Schedule {
    /// The site's time at the first tick: now on the system clock, or the virtual start.
    pub fn start(&self) -> Timestamp {
        match self.pace {
            Pace::System => units::SystemClock::new().now(),
            Pace::Virtual { start, .. } | Pace::Max { start } => start,
        }
    }
}

/// The loop. Ends at `until` (if given) or when `stop` reports a signal.
pub struct Runner {
    stepper: Stepper,
    tick: Duration,
    pace: Pace,
    until: Option<Timestamp>,
    publish: watch::Sender<Option<Arc<Published>>>,
    requests: mpsc::Receiver<Request>,
    stop: watch::Receiver<Option<StopCause>>,
    /// The service manager's notifications (READY, WATCHDOG, STATUS, STOPPING).
    notify: Box<dyn Supervisor>,
    /// Fault injection for the watchdog's tests: the loop hangs this long after its start.
    stall_after: Option<Duration>,
    /// The plan last published.
    plan: Option<Arc<site::PlanStatus>>,
    /// Kept so that `stop` only changes when someone stops the run, not when the last
    /// switch elsewhere is dropped.
    _stop_switch: watch::Sender<Option<StopCause>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("stepper", &self.stepper)
            .field("tick", &self.tick)
            .field("pace", &self.pace)
            .field("until", &self.until)
            .finish_non_exhaustive()
    }
}

/// Fault injection (tests only): with `GRIDLET_FAULT_STALL_TICK_AFTER=2s` the tick loop hangs
/// that long after its start, as on a blocked device read, while the process, its HTTP server
/// and its other tasks live on: the service manager's watchdog must notice.
const STALL_VAR: &str = "GRIDLET_FAULT_STALL_TICK_AFTER";

fn stall_after_from_env() -> Result<Option<Duration>, RunnerError> {
    match std::env::var(STALL_VAR) {
        Ok(v) => units::parse_duration(&v)
            .map(Some)
            .map_err(|e| RunnerError::StallVar {
                value: v,
                why: e.to_string(),
            }),
        Err(_) => Ok(None),
    }
}

impl Runner {
    /// The loop of `stepper` on `bus`, ticking on `schedule`, telling `notify` how it goes.
    pub fn new(
        stepper: Stepper,
        bus: Bus,
        schedule: Schedule,
        notify: Box<dyn Supervisor>,
    ) -> Result<Self, RunnerError> {
        let bus::LoopSide {
            publish,
            requests,
            stop_switch,
        } = bus.into_loop_side();
        let stop = stop_switch.subscribe();
        Ok(Self {
            stepper,
            tick: schedule.tick,
            pace: schedule.pace,
            until: schedule.until,
            publish,
            requests,
            stop,
            notify,
            stall_after: stall_after_from_env()?,
            plan: None,
            _stop_switch: stop_switch,
        })
    }

    /// Runs until `until` or a stop signal, then puts the site into its safe state. Returns how
    /// it ended and the stepper (for the simulation's report).
    pub async fn run(mut self) -> (Outcome, Stepper) {
        let clock = units::SystemClock::new();
        let wall_start = tokio::time::Instant::now();
        let start = match self.pace {
            Pace::System => clock.now(),
            Pace::Virtual { start, .. } | Pace::Max { start } => start,
        };
        let mut now = start;
        let mut ticks: u64 = 0;
        let mut last_error: Option<String> = None;
        let mut previous: Option<controller::ControllerStatus> = None;
        if let Some(every) = self.notify.watchdog_every()
            && every < self.tick
        {
            tracing::warn!(
                "the service manager's watchdog wants a ping every {every:?}, but the tick is \
                 {:?}: WatchdogSec should be at least twice the tick",
                self.tick
            );
        }
        let cause = loop {
            if let Some(after) = self.stall_after
                && wall_start.elapsed() >= after
            {
                tracing::warn!("fault injection ({STALL_VAR}): the tick loop stalls");
                std::future::pending::<()>().await;
            }
            self.stepper.advance_world(now);
            self.apply_requests(now);
            let snapshot = self.stepper.site.tick(now);
            // The loop's own liveness: the watchdog is pinged here and nowhere else.
            let wall = std::time::Instant::now();
            if ticks == 0 {
                self.notify.ready(&snapshot, wall);
            } else {
                self.notify.tick(&snapshot, wall);
            }
            // Log device errors when they change, not every tick.
            let error = snapshot.device_errors.first().cloned();
            if error != last_error {
                if let Some(e) = &error {
                    tracing::warn!("{e}");
                }
                last_error = error;
            }
            if let Some(prev) = &previous {
                log_transitions(now, prev, &snapshot.controller);
            }
            previous = Some(snapshot.controller.clone());
            self.publish_snapshot(snapshot);
            ticks += 1;
            if let Some(until) = self.until
                && now >= until
            {
                break StopCause::Until;
            }
            if let Some(cause) = *self.stop.borrow() {
                break cause;
            }
            let next = now + self.tick;
            match self.pace {
                Pace::Max { .. } => {
                    // Let the HTTP server, the signal handler and the front ends run now and
                    // then: every 5 ticks, so that the history recorder sees at least two
                    // snapshots of each 10 s sample (a yield with nothing else ready is cheap).
                    if ticks.is_multiple_of(5) {
                        tokio::task::yield_now().await;
                    }
                    now = next;
                }
                Pace::Virtual { speed, .. } => {
                    let wall = wall_start + next.saturating_duration_since(start).div_f64(speed);
                    if let Some(cause) = self.sleep_until(wall).await {
                        break cause;
                    }
                    now = next;
                }
                Pace::System => {
                    let wall = wall_start + next.saturating_duration_since(start);
                    if let Some(cause) = self.sleep_until(wall).await {
                        break cause;
                    }
                    // Real time: whatever the clock says, so a stall is not "caught up".
                    now = clock.now().max(next);
                }
            }
        };
        let outcome = self.shutdown(cause, now, &clock).await;
        self.stepper.finish(outcome.at);
        (outcome, self.stepper)
    }

    /// Sleeps until `deadline`, or returns early with a stop cause.
    async fn sleep_until(&mut self, deadline: tokio::time::Instant) -> Option<StopCause> {
        if deadline <= tokio::time::Instant::now() {
            // Behind (a machine that cannot keep this speed): a sleep that is already over
            // would not let the front ends run until tokio's budget runs out, some hundred
            // ticks later, and the history would miss their snapshots. Let them see this one.
            tokio::task::yield_now().await;
            return *self.stop.borrow();
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => None,
            _ = self.stop.changed() => *self.stop.borrow(),
        }
    }

    fn apply_requests(&mut self, now: Timestamp) {
        // At most a queue's worth per tick: a front end that sends as fast as the loop takes
        // cannot keep the tick from running.
        for _ in 0..REQUEST_QUEUE {
            let Ok(req) = self.requests.try_recv() else {
                break;
            };
            tracing::info!(?req, "request");
            match req {
                Request::SetMode(m) => self.stepper.site.controller_mut().set_mode(m),
                Request::SetEvEnabled(on) => self.stepper.site.controller_mut().set_ev_enabled(on),
                Request::PressSimButton => {
                    if let Some(w) = self.stepper.world() {
                        sim::lock(w).press_button();
                    }
                }
                Request::InjectSimFault(f, d) => {
                    if let Some(w) = self.stepper.world() {
                        sim::lock(w).inject(f, now + d);
                    }
                }
                Request::UpdateSettings(patch, answer) => {
                    let ctl = self.stepper.site.controller_mut();
                    let result = settings::apply(ctl, &patch)
                        .map(|()| settings::Settings::of(ctl))
                        .map_err(|e| e.to_string());
                    // The asker may have given up waiting: the change stands all the same.
                    let _ = answer.send(result);
                }
            }
        }
    }

    fn publish_snapshot(&mut self, site: Snapshot) {
        let plan = self.stepper.site.planning().map(|p| {
            let st = p.status();
            match &self.plan {
                Some(cached) if cached.solves == st.solves => Arc::clone(cached),
                _ => Arc::new(st.clone()),
            }
        });
        self.plan.clone_from(&plan);
        let sim = self.stepper.world().map(|w| {
            let w = sim::lock(w);
            SimPublished {
                totals: w.totals(),
                led: w.led(),
                speed: match self.pace {
                    Pace::Virtual { speed, .. } => Some(speed),
                    Pace::Max { .. } | Pace::System => None,
                },
            }
        });
        let settings = settings::Settings::of(self.stepper.site.controller());
        self.publish.send_replace(Some(Arc::new(Published {
            site,
            sim,
            plan,
            settings,
        })));
    }

    /// Safe state: command it, then wait until the converter is idle and the relays are off.
    async fn shutdown(
        &mut self,
        cause: StopCause,
        mut now: Timestamp,
        clock: &units::SystemClock,
    ) -> Outcome {
        tracing::info!(
            ?cause,
            "stopping: putting every actuator into its safe state"
        );
        self.notify.stopping(match cause {
            StopCause::Until => "end of the simulation",
            StopCause::Sigterm => "SIGTERM",
            StopCause::Sigint => "SIGINT",
        });
        let errors = self.stepper.site.shutdown(now);
        for e in &errors {
            tracing::error!("safe state refused: {e}");
        }
        let deadline = now + SAFE_STATE_PATIENCE;
        let mut safe = false;
        let mut pending = None;
        while now <= deadline {
            self.stepper.advance_world(now);
            pending = self.stepper.site.not_yet_safe(now);
            if pending.is_none() {
                safe = true;
                break;
            }
            match self.pace {
                Pace::System => {
                    tokio::time::sleep(SAFE_STATE_POLL).await;
                    now = clock.now();
                }
                Pace::Virtual { .. } | Pace::Max { .. } => now += SAFE_STATE_POLL,
            }
        }
        self.notify.stopped(safe);
        if safe {
            tracing::info!("safe state confirmed");
        } else {
            tracing::error!(
                "safe state not confirmed within {SAFE_STATE_PATIENCE:?} ({}): the actuators' own watchdogs take over",
                pending.as_deref().unwrap_or("?")
            );
        }
        Outcome {
            cause,
            at: now,
            safe,
            errors,
        }
    }
}

/// Logs what changed in the controller's decisions: the journal of a running site. `at` is the
/// site's time (virtual in a simulation), so it is part of each line.
fn log_transitions(
    at: Timestamp,
    prev: &controller::ControllerStatus,
    now: &controller::ControllerStatus,
) {
    use std::mem::discriminant;
    if prev.mode != now.mode {
        tracing::info!(%at, "mode {:?} -> {:?}", prev.mode, now.mode);
    }
    if prev.behaviour != now.behaviour {
        tracing::info!(%at, "behaviour {:?}", now.behaviour);
    }
    if discriminant(&prev.port) != discriminant(&now.port) {
        tracing::info!(%at, "DC port {:?}", now.port);
    }
    if prev.ev_enabled != now.ev_enabled {
        tracing::info!(%at, "car {}", if now.ev_enabled { "enabled" } else { "disabled" });
    }
    for (a, b) in prev.relays.iter().zip(&now.relays) {
        if a.on != b.on {
            tracing::info!(%at, "relay {} {} ({:?})", b.name, if b.on { "on" } else { "off" }, b.reason);
        }
    }
    for w in &now.warnings {
        if !prev.warnings.contains(w) {
            tracing::warn!(%at, "{w:?}");
        }
    }
    for w in &prev.warnings {
        if !now.warnings.contains(w) {
            tracing::info!(%at, "cleared: {w:?}");
        }
    }
}

/// Sets `stop` on SIGINT or SIGTERM.
pub fn spawn_signal_handler(stop: watch::Sender<Option<StopCause>>) -> Result<(), RunnerError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(RunnerError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(RunnerError::Signals)?;
    tokio::spawn(async move {
        let cause = tokio::select! {
            _ = term.recv() => StopCause::Sigterm,
            _ = int.recv() => StopCause::Sigint,
        };
        stop.send_replace(Some(cause));
    });
    Ok(())
}
