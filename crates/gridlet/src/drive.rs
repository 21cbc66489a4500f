//! Runs a site to the end: the runner's loop (crate `runner`) with the front ends this
//! configuration asks for on its bus (HTTP with the history routes merged in, MQTT, the history
//! writer, CAN), the CCS charge point beside, and the price fetcher. The front ends are composed
//! here and only here: none of them knows another.

use std::sync::Arc;
use std::time::Duration;

use runner::{Bus, Outcome, Pace, Runner, Schedule, StopCause};
use sim::SharedWorld;
use tokio::sync::watch;
use units::{Clock, Timestamp};

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

/// Runs a site to the end: signal handling, the front ends (HTTP if `listen`), the loop and
/// the shutdown.
pub(crate) async fn drive(
    mut assembled: crate::assemble::Assembled,
    opts: DriveOptions,
) -> anyhow::Result<Driven> {
    let bus = Bus::new();
    runner::spawn_signal_handler(bus.stopper())?;
    let front = bus.handle();
    if let Some(can) = assembled.can.take() {
        if !matches!(opts.pace, Pace::System) {
            anyhow::bail!("CAN devices are real and run in real time: run them with `gridlet run`");
        }
        can.spawn(front.subscribe());
    }
    if let Some(settings) = assembled.mqtt.take() {
        crate::mqtt::spawn(
            settings,
            front.subscribe(),
            front.requests(),
            front.stop_signal(),
        );
    }
    let history = assembled
        .history
        .take()
        .and_then(|h| h.start(front.subscribe()));
    if let Some(addr) = opts.listen {
        let bound = crate::http::serve(
            addr,
            front.subscribe(),
            front.requests(),
            assembled.world.is_some(),
            assembled.http.clone(),
            front.stop_signal(),
            crate::history_front::routes(
                history.as_ref().map(crate::history_front::Running::reader),
                front.subscribe(),
            ),
        )
        .await?;
        tracing::info!("listening on http://{bound}");
    }
    // The user's settings: read back before the first tick, stored whenever they change.
    let settings_path = assembled.settings.take();
    let settings_feed = settings_path.as_ref().map(|_| front.subscribe());
    // The loop's bus is the front ends' only way in: the drive keeps no end of it.
    let stop_rx = front.stop_signal();
    drop(front);
    let schedule = Schedule {
        tick: opts.tick,
        pace: opts.pace,
        until: opts.until,
    };
    let start = schedule.start();
    if let Some(fetcher) = assembled.prices.take() {
        if matches!(opts.pace, Pace::System) {
            tokio::spawn(fetcher.run(Arc::new(units::SystemClock::new())));
        } else {
            tracing::warn!("[prices] are fetched in real time only; simulated time uses the cache");
        }
    }
    let (mut stepper, ccs_run) = assembled.into_stepper(start)?;
    if let (Some(path), Some(feed)) = (settings_path, settings_feed) {
        runner::settings::restore(&path, stepper.site.controller_mut());
        runner::settings::spawn_persister(path, feed);
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
            Some(tokio::spawn(run_ccs(run, stop_rx, world.clone())))
        }
        None => None,
    };
    let runner = Runner::new(
        stepper,
        bus,
        schedule,
        Box::new(crate::systemd::Notifier::from_env()),
    )?;
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
