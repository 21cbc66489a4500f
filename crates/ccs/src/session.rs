//! The V2G sessions over TCP: the charger serving one connection after another
//! ([`serve_sessions`]), and the car running one ([`run_car`]).
//!
//! The drivers only move bytes and time: every decision is the sans-IO machine's. A response is
//! written as soon as the request that caused it is handled (`TCP_NODELAY`, no batching), and
//! the charger applies the session's demand to its hardware after every step and at least every
//! [`REFRESH`], so a power stage with its own set-point watchdog stays fed and the safe state
//! follows a session's end at once.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};
use units::{Clock, Timestamp};
use v2g::SessionId;
use v2g::charger::{Authorization, ChargerStatus, Demand};
use v2g::evcc::{Evcc, EvccEvent, EvccSummary};
use v2g::secc::{EndReason, Secc, SeccConfig, SeccEvent};

/// The longest the charger goes without re-applying the session's demand to its hardware.
pub const REFRESH: Duration = Duration::from_millis(100);

/// The charger's hardware and site as a session sees them.
pub trait Charger {
    /// What a session reads now.
    fn status(&mut self, now: Timestamp) -> ChargerStatus;
    /// Applies a session's demand (repeatedly; the same demand may come again).
    fn apply(&mut self, now: Timestamp, demand: Demand);

    /// Whether the running session must end now (the car was unplugged, the pilot failed):
    /// asked after every step and at least every [`REFRESH`]; true once per such event.
    fn take_abort(&mut self) -> bool {
        false
    }
}

impl Charger for v2g::sim::Station {
    fn status(&mut self, now: Timestamp) -> ChargerStatus {
        Self::status(self, now)
    }

    fn apply(&mut self, now: Timestamp, demand: Demand) {
        Self::apply(self, now, demand);
    }
}

/// How the charger serves sessions.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The sessions' configuration.
    pub secc: Arc<SeccConfig>,
    /// Answer authorization requests with Ongoing for this long after each connection, then
    /// as the charger's status says (to exercise the cars' Ongoing loop without a site).
    pub authorization_delay: Duration,
    /// Stop after this many sessions.
    pub sessions: Option<u32>,
}

/// What the charger reports while it serves sessions.
#[derive(Debug, Clone, PartialEq)]
pub enum ServeEvent {
    /// A car connected.
    Connected(SocketAddr),
    /// A session event.
    Session(SeccEvent),
    /// The session ended and its connection is closed (not sent when a new connection
    /// replaced it: the car reconnected). `paused`: the car paused the session and may resume it.
    Closed {
        /// The session was paused (ISO 15118-2 SessionStop with Pause).
        paused: bool,
    },
    /// A frame went over the connection (`true`: from the charger), with when.
    Frame {
        /// Sent by the charger (else received).
        from_charger: bool,
        /// When.
        at: Timestamp,
        /// The bytes (one V2GTP frame, or what the car sent in one read).
        bytes: Vec<u8>,
    },
}

/// Serves sessions on `listener` one after another until `options.sessions` are done or
/// `shutdown` completes; the hardware is in its safe state on return. A new connection while a
/// session runs ends that session (the car reconnected after losing the old one).
///
/// `seed` yields 32 bytes of fresh entropy per session (its SessionID).
pub async fn serve_sessions<C: Charger + ?Sized>(
    listener: &TcpListener,
    charger: &mut C,
    clock: &impl Clock,
    options: &ServeOptions,
    mut seed: impl FnMut() -> [u8; 32],
    mut on_event: impl FnMut(ServeEvent),
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    tokio::pin!(shutdown);
    let mut served = 0;
    let mut paused: Option<SessionId> = None;
    let mut pending: Option<(TcpStream, SocketAddr)> = None;
    loop {
        if options.sessions.is_some_and(|n| served >= n) {
            charger.apply(clock.now(), Demand::OFF);
            return Ok(());
        }
        let (stream, peer) = match pending.take() {
            Some(accepted) => accepted,
            None => {
                let mut refresh = tokio::time::interval(REFRESH);
                loop {
                    tokio::select! {
                        accepted = listener.accept() => break accepted?,
                        () = &mut shutdown => {
                            charger.apply(clock.now(), Demand::OFF);
                            return Ok(());
                        }
                        _ = refresh.tick() => charger.apply(clock.now(), Demand::OFF),
                    }
                }
            }
        };
        served += 1;
        info!("car connected from {peer}");
        on_event(ServeEvent::Connected(peer));
        let secc = Secc::new(options.secc.clone(), seed(), clock.now()).resuming(paused.take());
        let outcome = serve_connection(
            stream,
            secc,
            charger,
            clock,
            options,
            listener,
            &mut on_event,
            &mut shutdown,
        )
        .await;
        charger.apply(clock.now(), Demand::OFF);
        match outcome {
            Outcome::Ended { paused: p } => {
                on_event(ServeEvent::Closed {
                    paused: p.is_some(),
                });
                paused = p;
            }
            Outcome::Replaced(accepted) => pending = Some(accepted),
            Outcome::Shutdown => return Ok(()),
        }
    }
}

enum Outcome {
    /// The session ended; a paused session's ID may come back.
    Ended { paused: Option<SessionId> },
    /// A new connection arrived and ended the session.
    Replaced((TcpStream, SocketAddr)),
    /// The application is stopping.
    Shutdown,
}

#[allow(clippy::too_many_arguments)] // One call site; a struct would only rename them.
async fn serve_connection<C: Charger + ?Sized>(
    stream: TcpStream,
    mut secc: Secc,
    charger: &mut C,
    clock: &impl Clock,
    options: &ServeOptions,
    listener: &TcpListener,
    on_event: &mut impl FnMut(ServeEvent),
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Outcome {
    let connected = clock.now();
    if let Err(e) = stream.set_nodelay(true) {
        warn!("TCP_NODELAY: {e}");
    }
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = vec![0u8; 65536];
    let mut refresh = tokio::time::interval(REFRESH);
    let mut paused = None;
    loop {
        while let Some(bytes) = secc.poll_transmit() {
            let at = clock.now();
            if let Err(e) = wr.write_all(&bytes).await {
                debug!("write: {e}");
                secc.handle_close(clock.now());
            }
            on_event(ServeEvent::Frame {
                from_charger: true,
                at,
                bytes,
            });
        }
        if charger.take_abort() {
            info!("the car is gone: ending its session");
            secc.handle_abort(clock.now());
        }
        charger.apply(clock.now(), secc.demand());
        while let Some(event) = secc.poll_event() {
            if let SeccEvent::Ended(end) = &event
                && end.reason == (EndReason::Stopped { pause: true })
            {
                paused = end.session_id.clone();
            }
            on_event(ServeEvent::Session(event));
        }
        if secc.is_closed() {
            // Whatever the outcome, the car learns at once that the session is over.
            let _ = wr.shutdown().await;
            return Outcome::Ended { paused };
        }
        let wait = secc.poll_timeout().map_or(Duration::from_secs(3600), |t| {
            t.saturating_duration_since(clock.now())
        });
        tokio::select! {
            r = rd.read(&mut buf) => {
                let now = clock.now();
                match r {
                    Ok(0) => secc.handle_close(now),
                    Err(e) => {
                        debug!("read: {e}");
                        secc.handle_close(now);
                    }
                    Ok(n) => {
                        let mut status = charger.status(now);
                        if now.saturating_duration_since(connected) < options.authorization_delay
                            && status.authorization == Authorization::Granted
                        {
                            status.authorization = Authorization::Pending;
                        }
                        secc.handle_data(now, &buf[..n], &status);
                        on_event(ServeEvent::Frame {
                            from_charger: false,
                            at: now,
                            bytes: buf[..n].to_vec(),
                        });
                    }
                }
            }
            () = tokio::time::sleep(wait) => secc.handle_timeout(clock.now()),
            _ = refresh.tick() => {}
            accepted = listener.accept() => {
                secc.handle_abort(clock.now());
                while let Some(event) = secc.poll_event() {
                    on_event(ServeEvent::Session(event));
                }
                let _ = wr.shutdown().await;
                match accepted {
                    Ok(accepted) => return Outcome::Replaced(accepted),
                    Err(e) => {
                        warn!("accept: {e}");
                        return Outcome::Ended { paused: None };
                    }
                }
            }
            () = shutdown.as_mut() => {
                secc.handle_abort(clock.now());
                while let Some(event) = secc.poll_event() {
                    on_event(ServeEvent::Session(event));
                }
                let _ = wr.shutdown().await;
                return Outcome::Shutdown;
            }
        }
    }
}

/// Runs the car's session over `stream` until it ends; returns its summary.
pub async fn run_car(
    stream: TcpStream,
    mut evcc: Evcc,
    clock: &impl Clock,
    mut on_event: impl FnMut(EvccEvent),
) -> EvccSummary {
    if let Err(e) = stream.set_nodelay(true) {
        warn!("TCP_NODELAY: {e}");
    }
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = vec![0u8; 65536];
    loop {
        while let Some(bytes) = evcc.poll_transmit() {
            if let Err(e) = wr.write_all(&bytes).await {
                debug!("write: {e}");
                evcc.handle_close(clock.now());
            }
        }
        while let Some(event) = evcc.poll_event() {
            on_event(event);
        }
        if let Some(summary) = evcc.summary() {
            let _ = wr.shutdown().await;
            return summary.clone();
        }
        let wait = evcc.poll_timeout().map_or(Duration::from_secs(3600), |t| {
            t.saturating_duration_since(clock.now())
        });
        tokio::select! {
            r = rd.read(&mut buf) => {
                // The time the response arrived: the car's latency measurement.
                let now = clock.now();
                match r {
                    Ok(0) => evcc.handle_close(now),
                    Err(e) => {
                        debug!("read: {e}");
                        evcc.handle_close(now);
                    }
                    Ok(n) => evcc.handle_data(now, &buf[..n]),
                }
            }
            () = tokio::time::sleep(wait) => evcc.handle_timeout(clock.now()),
        }
    }
}
