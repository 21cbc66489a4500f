//! The control loop driver: ticks the site on real or virtual time, applies requests from the
//! API between ticks, publishes snapshots, and on stop puts every actuator into its safe state
//! and waits (bounded) until that is confirmed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use sim::SharedWorld;
use site::{Site, Snapshot};
use tokio::sync::{mpsc, watch};
use units::{Clock, Timestamp};

/// How the loop's time advances.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pace {
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
pub(crate) enum StopCause {
    /// `--until` was reached.
    Until,
    /// SIGTERM.
    Sigterm,
    /// SIGINT (Ctrl-C).
    Sigint,
}

/// A request from the API, applied between two ticks.
#[derive(Debug)]
pub(crate) enum Request {
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
        crate::settings::Patch,
        tokio::sync::oneshot::Sender<Result<crate::settings::Settings, String>>,
    ),
}

/// What the API sees: the latest snapshot, and the simulation's totals if simulated.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Published {
    pub(crate) site: Snapshot,
    pub(crate) sim: Option<SimPublished>,
    /// The planner's plan (`/api/v1/plan`), shared until it re-plans.
    #[serde(skip)]
    pub(crate) plan: Option<Arc<site::PlanStatus>>,
    /// The user's settings (`/api/v1/settings`), as the controller holds them.
    #[serde(skip)]
    pub(crate) settings: crate::settings::Settings,
}

/// Simulation extras for the API.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SimPublished {
    pub(crate) totals: sim::EnergyTotals,
    pub(crate) led: devices::LedMode,
    pub(crate) speed: Option<f64>,
}

/// How the run ended.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Outcome {
    pub(crate) cause: StopCause,
    pub(crate) at: Timestamp,
    /// True if every actuator confirmed its safe state before the deadline.
    pub(crate) safe: bool,
    /// Devices that refused their safe-state command.
    pub(crate) errors: Vec<String>,
}

/// How long the shutdown waits for the converter to confirm it has stopped.
const SAFE_STATE_PATIENCE: Duration = Duration::from_secs(5);
const SAFE_STATE_POLL: Duration = Duration::from_millis(100);

/// The simulated car's CCS sessions, in-process.
pub(crate) type SimLink = ccs::memory::MemoryLink<crate::assemble::WorldCar>;

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
    /// The assembled site at `start`. A CCS charge point whose car is simulated gets its
    /// in-process sessions here; one on a real interface is returned, to be run beside.
    pub fn new(
        assembled: crate::assemble::Assembled,
        start: Timestamp,
    ) -> anyhow::Result<(Self, Option<crate::assemble::CcsRun>)> {
        let world = assembled.world;
        let (link, ccs) = match assembled.ccs {
            Some(mut run) if run.sim_car.is_some() => {
                let w = world
                    .clone()
                    .context("a simulated car needs the simulated world")?;
                let evcc = run.sim_car.take().unwrap_or_default();
                let seed = sim::lock(&w).seed().to_le_bytes();
                let mut seed32 = [0u8; 32];
                for (i, b) in seed32.iter_mut().enumerate() {
                    *b = seed[i % seed.len()] ^ 0xA5;
                }
                let link = ccs::memory::MemoryLink::new(
                    run.point.clone(),
                    Arc::clone(&run.options.serve.secc),
                    evcc,
                    crate::assemble::WorldCar(w),
                    seed32,
                    start,
                );
                (Some(link), None)
            }
            other => (None, other),
        };
        Ok((
            Self {
                site: assembled.site,
                world,
                link,
            },
            ccs,
        ))
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

/// The loop. Ends at `until` (if given) or when `stop` reports a signal.
pub(crate) struct Runner {
    pub(crate) stepper: Stepper,
    pub(crate) tick: Duration,
    pub(crate) pace: Pace,
    pub(crate) until: Option<Timestamp>,
    pub(crate) publish: watch::Sender<Option<Arc<Published>>>,
    pub(crate) requests: mpsc::Receiver<Request>,
    pub(crate) stop: watch::Receiver<Option<StopCause>>,
    /// The service manager's notifications (READY, WATCHDOG, STATUS, STOPPING).
    pub(crate) notify: crate::systemd::Notifier,
    /// Fault injection for the watchdog's tests: the loop hangs this long after its start.
    pub(crate) stall_after: Option<Duration>,
    /// The plan last published.
    pub(crate) plan: Option<Arc<site::PlanStatus>>,
}

/// Fault injection (tests only): with `GRIDLET_FAULT_STALL_TICK_AFTER=2s` the tick loop hangs
/// that long after its start, as on a blocked device read, while the process, its HTTP server
/// and its other tasks live on: the service manager's watchdog must notice.
const STALL_VAR: &str = "GRIDLET_FAULT_STALL_TICK_AFTER";

fn stall_after_from_env() -> anyhow::Result<Option<Duration>> {
    match std::env::var(STALL_VAR) {
        Ok(v) => units::parse_duration(&v)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{STALL_VAR}={v:?}: {e}")),
        Err(_) => Ok(None),
    }
}

impl Runner {
    pub(crate) async fn run(mut self) -> (Outcome, Stepper) {
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
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => None,
            _ = self.stop.changed() => *self.stop.borrow(),
        }
    }

    fn apply_requests(&mut self, now: Timestamp) {
        while let Ok(req) = self.requests.try_recv() {
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
                    let result = crate::settings::apply(ctl, &patch)
                        .map(|()| crate::settings::Settings::of(ctl))
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
        let settings = crate::settings::Settings::of(self.stepper.site.controller());
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
        while now <= deadline {
            self.stepper.advance_world(now);
            if self.stepper.site.is_safe(now) {
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
                "safe state not confirmed within {SAFE_STATE_PATIENCE:?}: the actuators' own watchdogs take over"
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
pub(crate) fn spawn_signal_handler(stop: watch::Sender<Option<StopCause>>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let cause = tokio::select! {
            _ = term.recv() => StopCause::Sigterm,
            _ = int.recv() => StopCause::Sigint,
        };
        stop.send_replace(Some(cause));
    });
    Ok(())
}

/// Everything a run needs besides the site.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DriveOptions {
    pub(crate) tick: Duration,
    pub(crate) pace: Pace,
    pub(crate) until: Option<Timestamp>,
    pub(crate) listen: Option<std::net::SocketAddr>,
}

/// How a run ended, and what the simulation has to report.
pub(crate) struct Driven {
    pub(crate) outcome: Outcome,
    pub(crate) world: Option<SharedWorld>,
    /// The simulated car's CCS sessions.
    pub(crate) charge_sessions: Vec<ccs::memory::SessionRecord>,
}

/// Runs a site to the end: signal handling, HTTP (if `listen`), the loop and the shutdown.
pub(crate) async fn drive(
    mut assembled: crate::assemble::Assembled,
    opts: DriveOptions,
) -> anyhow::Result<Driven> {
    let (stop_tx, stop_rx) = watch::channel(None);
    spawn_signal_handler(stop_tx)?;
    let (publish_tx, publish_rx) = watch::channel(None);
    let publish_rx_settings = publish_rx.clone();
    let (request_tx, request_rx) = mpsc::channel(64);
    if let Some(can) = assembled.can.take() {
        if !matches!(opts.pace, Pace::System) {
            anyhow::bail!("CAN devices are real and run in real time: run them with `gridlet run`");
        }
        can.spawn(publish_rx.clone());
    }
    if let Some(settings) = assembled.mqtt.take() {
        crate::mqtt::spawn(
            settings,
            publish_rx.clone(),
            request_tx.clone(),
            stop_rx.clone(),
        );
    }
    let history = assembled
        .history
        .take()
        .and_then(|h| h.start(publish_rx.clone()));
    if let Some(addr) = opts.listen {
        let bound = crate::http::serve(
            addr,
            publish_rx.clone(),
            request_tx,
            assembled.world.is_some(),
            assembled.http.clone(),
            stop_rx.clone(),
            crate::history_front::routes(
                history.as_ref().map(crate::history_front::Running::reader),
                publish_rx,
            ),
        )
        .await?;
        tracing::info!("listening on http://{bound}");
    }
    let start = match opts.pace {
        Pace::System => units::SystemClock::new().now(),
        Pace::Virtual { start, .. } | Pace::Max { start } => start,
    };
    if let Some(fetcher) = assembled.prices.take() {
        if matches!(opts.pace, Pace::System) {
            tokio::spawn(fetcher.run(Arc::new(units::SystemClock::new())));
        } else {
            tracing::warn!("[prices] are fetched in real time only; simulated time uses the cache");
        }
    }
    let settings_path = assembled.settings.take();
    let (mut stepper, ccs_run) = Stepper::new(assembled, start)?;
    if let Some(path) = settings_path {
        crate::settings::restore(&path, stepper.site.controller_mut());
        crate::settings::spawn_persister(path, publish_rx_settings);
    }
    let world = stepper.world().cloned();
    let ccs = match ccs_run {
        Some(run) => {
            if !matches!(opts.pace, Pace::System) {
                anyhow::bail!(
                    "the CCS charge point talks to real cars in real time: run it with \
                     `gridlet run`, or give it a simulated car ([charge_point.car])"
                );
            }
            Some(tokio::spawn(run_ccs(run, stop_rx.clone(), world.clone())))
        }
        None => None,
    };
    let runner = Runner {
        stepper,
        tick: opts.tick,
        pace: opts.pace,
        until: opts.until,
        publish: publish_tx,
        requests: request_rx,
        stop: stop_rx,
        notify: crate::systemd::Notifier::from_env(),
        stall_after: stall_after_from_env()?,
        plan: None,
    };
    let (outcome, stepper) = runner.run().await;
    // The loop has stopped publishing: the last samples are committed.
    if let Some(h) = history {
        h.finish().await;
    }
    if let Some(task) = ccs {
        // It stops on the same signal and releases its port within its own patience.
        let patience = ccs::point::RELEASE_PATIENCE + Duration::from_secs(1);
        if tokio::time::timeout(patience, task).await.is_err() {
            tracing::error!("the charge point did not stop within {patience:?}");
        }
    }
    Ok(Driven {
        outcome,
        world,
        charge_sessions: stepper.charge_sessions(),
    })
}

/// How often a real-time run moves the simulated world on besides the ticks: the charge
/// point's session needs its inlet and converter at the session's pace.
const WORLD_STEP: Duration = Duration::from_millis(50);

/// Runs the CCS charge point until the stop signal: its application (SLAC, SDP, sessions), the
/// simulated pilot's car if the pilot is simulated, and the world at the session's pace.
async fn run_ccs(
    run: crate::assemble::CcsRun,
    mut stop: watch::Receiver<Option<StopCause>>,
    world: Option<SharedWorld>,
) {
    use ccs::evse::EvseEvent;
    use ccs::presence::ChargerSlacEvent;
    use ccs::session::ServeEvent;
    use sim::PilotLoad;
    use v2g::secc::{SeccEvent, SessionState};

    let system = units::SystemClock::new();
    let clock = plc::TokioClock::new(system.now());
    if let Some(w) = world.clone() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(WORLD_STEP);
            loop {
                tick.tick().await;
                sim::lock(&w).advance_to(system.now());
            }
        });
    }
    let sim_pilot = run.sim_pilot.clone();
    // A simulated pilot's car is the one on the powerline: plugged in while it talks, ready for
    // energy (S2 closed) from CableCheck to the end of the charge loop, gone with its session.
    let load = |l: PilotLoad| {
        if let Some(p) = &sim_pilot {
            p.set_load(l);
        }
    };
    let on_event = |event: &EvseEvent| match event {
        EvseEvent::Listening(addr) => tracing::info!("charge point: V2G server on {addr}"),
        EvseEvent::Slac(ChargerSlacEvent::Slac(slac::EvseEvent::Matched(m))) => {
            tracing::info!("charge point: SLAC matched car {}", m.ev_mac);
            load(PilotLoad::Connected);
        }
        EvseEvent::Slac(ChargerSlacEvent::CarGone(why)) => {
            tracing::info!("charge point: the car has gone ({why})");
            load(PilotLoad::None);
        }
        EvseEvent::Slac(_) => {}
        EvseEvent::Sdp { peer, .. } => {
            tracing::debug!("charge point: SDP from {peer}");
            if let Some(p) = &sim_pilot
                && sim::lock(&p.0).pilot_load() == Some(PilotLoad::None)
            {
                load(PilotLoad::Connected);
            }
        }
        EvseEvent::Serve(ServeEvent::Connected(peer)) => {
            tracing::info!("charge point: car connected from {peer}");
        }
        EvseEvent::Serve(ServeEvent::Session(SeccEvent::State(state))) => {
            tracing::info!("charge point: session {state:?}");
            match state {
                SessionState::CableCheck | SessionState::PreCharge | SessionState::Charging => {
                    load(PilotLoad::Ready);
                }
                SessionState::Stopping => load(PilotLoad::Connected),
                _ => {}
            }
        }
        EvseEvent::Serve(ServeEvent::Session(SeccEvent::Ended(end))) => {
            tracing::info!(
                "charge point: session ended: {} ({} charge loop cycles, {:.1} Wh in, {:.1} Wh out)",
                end.reason,
                end.charge_loop_cycles,
                end.charged.0,
                end.discharged.0
            );
        }
        EvseEvent::Serve(ServeEvent::Closed { .. }) => load(PilotLoad::None),
        EvseEvent::Serve(_) => {}
    };
    let shutdown = async move {
        while stop.borrow().is_none() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    let seed = || ccs::entropy().unwrap_or_else(|_| rand_seed());
    if let Err(e) = ccs::point::run_point(
        &run.options,
        run.driving,
        run.point.clone(),
        &clock,
        seed,
        on_event,
        shutdown,
    )
    .await
    {
        tracing::error!("charge point: {e:#}");
        // The site goes on without it; the charge point's actuators are in their safe state.
        run.point.safe_state(clock.now());
    }
}

/// Entropy when /dev/urandom cannot be read: the time, which is no secret but varies.
fn rand_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    let t = units::SystemClock::new()
        .now()
        .as_unix_micros()
        .to_le_bytes();
    for (i, b) in seed.iter_mut().enumerate() {
        *b = t[i % t.len()] ^ (i as u8);
    }
    seed
}
