//! The charger application: SLAC, SDP and the V2G sessions on one powerline interface, all at
//! once. SDP is answered whenever the charger is ready, with or without a SLAC match, so peers
//! that start at SDP (Josev) work too. With SLAC the charger keeps the matched car's network key
//! until the car has gone, as the V2G stage tells ([`crate::presence`]: there is no control
//! pilot here), and only then draws a new key for the next car.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, SocketAddrV6};
use std::ops::ControlFlow;
use std::time::Duration;

use plc::{Link, RawLink, drive_with_inputs};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{info, warn};
use units::Clock;
use v2g::sdp::{DYNAMIC_PORTS, SdpServer, SdpServerConfig};
use v2g::wire::SdpResponse;

use crate::iface::{Iface, IfaceError};
use crate::presence::{Activity, ChargerSlac, ChargerSlacEvent, SlacInput};
use crate::sdp::SdpServerSocket;
use crate::session::{Charger, ServeEvent, ServeOptions, serve_sessions};

/// How the charger runs.
#[derive(Debug, Clone)]
pub struct EvseOptions {
    /// The powerline interface (`eth1` on the FoccciCape).
    pub iface: String,
    /// The V2G server's TCP port; `None`: a random one in 49152–65535.
    pub port: Option<u16>,
    /// Run SLAC (needs root: a raw socket).
    pub slac: bool,
    /// After each match, ask the modem until the car has joined our network
    /// (VS_PL_LINK_STATUS, Qualcomm modems only); see [`slac::EvseConfig::link_detection`].
    pub link_detection: bool,
    /// How sessions are served.
    pub serve: ServeOptions,
    /// How long to wait for the interface's link-local address at start.
    pub iface_wait: Duration,
}

/// What the charger application reports.
#[derive(Debug, Clone, PartialEq)]
pub enum EvseEvent {
    /// The V2G server listens.
    Listening(SocketAddrV6),
    /// SLAC, and the matched car's departure.
    Slac(ChargerSlacEvent),
    /// An SDP request was answered.
    Sdp {
        /// The car.
        peer: SocketAddr,
        /// The answer.
        response: SdpResponse,
    },
    /// Sessions.
    Serve(ServeEvent),
}

/// Why the charger stopped.
#[derive(Debug, thiserror::Error)]
pub enum EvseError {
    /// The interface is not usable.
    #[error(transparent)]
    Iface(#[from] IfaceError),
    /// A socket failed.
    #[error("{iface}: {what}")]
    Io {
        /// The interface.
        iface: String,
        /// What was being done.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The powerline link (SLAC) failed.
    #[error(transparent)]
    Slac(#[from] plc::Error),
}

/// Binds the V2G server on the interface's link-local address: `port`, or a random port of the
/// dynamic range (cars refuse others).
pub fn bind_listener(
    iface: &Iface,
    port: Option<u16>,
    mut random: impl FnMut() -> u16,
) -> io::Result<TcpListener> {
    let bind = |port| {
        let addr = SocketAddrV6::new(iface.link_local, port, 0, iface.index);
        let std = std::net::TcpListener::bind(addr)?;
        std.set_nonblocking(true)?;
        TcpListener::from_std(std)
    };
    if let Some(port) = port {
        return bind(port);
    }
    let span = u32::from(*DYNAMIC_PORTS.end() - *DYNAMIC_PORTS.start()) + 1;
    let mut last = io::Error::other("no port tried");
    for _ in 0..64 {
        let offset = u16::try_from(u32::from(random()) % span).unwrap_or(0);
        match bind(*DYNAMIC_PORTS.start() + offset) {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Runs the charger until `options.serve.sessions` sessions were served or `shutdown`
/// completes. Events go to `on_event`. The charger's hardware is in its safe state on return,
/// whatever the outcome. Without a control pilot: SLAC takes a car as plugged in all the time
/// and keeps its key until the V2G stage says the car has gone ([`crate::presence`]).
pub async fn run_evse<C: Charger + ?Sized>(
    options: &EvseOptions,
    charger: &mut C,
    clock: &impl Clock,
    seed: impl FnMut() -> [u8; 32],
    on_event: impl FnMut(EvseEvent),
    shutdown: impl Future<Output = ()>,
) -> Result<(), EvseError> {
    let (tx, rx) = mpsc::unbounded_channel();
    run_evse_with(
        options,
        SlacDriving::WithoutPilot,
        (tx, rx),
        charger,
        clock,
        seed,
        on_event,
        shutdown,
    )
    .await
}

/// Who tells SLAC that a car is plugged in or has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlacDriving {
    /// Nobody: a car is taken as plugged in all the time, and gone when the V2G stage says so.
    WithoutPilot,
    /// The control pilot, through [`SlacInput::CarPlugged`] and [`SlacInput::CarLeft`] sent on
    /// the inputs channel.
    Pilot,
}

/// [`run_evse`], with SLAC driven as `driving` says, and its inputs channel given: with a pilot
/// the caller keeps a clone of the sender for the pilot's plug events.
#[allow(clippy::too_many_arguments)] // Two call sites; a struct would only rename them.
pub async fn run_evse_with<C: Charger + ?Sized>(
    options: &EvseOptions,
    driving: SlacDriving,
    (activity_tx, mut activity_rx): (
        mpsc::UnboundedSender<SlacInput>,
        mpsc::UnboundedReceiver<SlacInput>,
    ),
    charger: &mut C,
    clock: &impl Clock,
    mut seed: impl FnMut() -> [u8; 32],
    mut on_event: impl FnMut(EvseEvent),
    shutdown: impl Future<Output = ()>,
) -> Result<(), EvseError> {
    let name = options.iface.clone();
    let io_err = |what| {
        let iface = name.clone();
        move |source| EvseError::Io {
            iface,
            what,
            source,
        }
    };
    let iface = Iface::lookup(&options.iface, options.iface_wait).await?;
    let port_seed = seed();
    let mut tries = 0usize;
    let listener = bind_listener(&iface, options.port, || {
        // Not a secret, just spread: consecutive byte pairs of fresh entropy.
        let i = (2 * tries) % 32;
        tries += 1;
        u16::from_le_bytes([port_seed[i], port_seed[(i + 1) % 32]])
    })
    .map_err(io_err("binding the V2G server"))?;
    let port = listener
        .local_addr()
        .map_err(io_err("V2G server address"))?
        .port();
    let addr = SocketAddrV6::new(iface.link_local, port, 0, iface.index);
    info!(
        "V2G server on [{}%{}]:{}",
        addr.ip(),
        iface.name,
        addr.port()
    );
    on_event(EvseEvent::Listening(addr));
    let sdp_socket = SdpServerSocket::bind(&iface).map_err(io_err("binding SDP (UDP 15118)"))?;
    let mut sdp = SdpServer::new(SdpServerConfig {
        addr: iface.link_local,
        port: addr.port(),
        tls_port: None,
    });

    let (tx, mut rx) = mpsc::unbounded_channel();
    let sdp_tx = tx.clone();
    let sdp_task = sdp_socket.serve(&mut sdp, move |peer, response| {
        let _ = sdp_tx.send(EvseEvent::Sdp {
            peer,
            response: *response,
        });
    });
    let slac_tx = tx.clone();
    let slac_seed = seed();
    let slac_task = async {
        if !options.slac {
            return std::future::pending::<Result<(), EvseError>>().await;
        }
        let link = RawLink::open(&iface.name)?;
        let mut config = slac::EvseConfig::new(link.mac(), slac_seed);
        config.link_detection = options.link_detection;
        let mut slac = match driving {
            SlacDriving::WithoutPilot => ChargerSlac::new(config, clock.now()),
            SlacDriving::Pilot => ChargerSlac::with_pilot(config, clock.now()),
        };
        drive_with_inputs(
            &link,
            clock,
            &mut slac,
            &mut activity_rx,
            |slac, now, input| slac.handle_input(now, input),
            |_, event| {
                match &event {
                    ChargerSlacEvent::Slac(slac::EvseEvent::Matched(m)) => {
                        info!("SLAC: matched {}", m.ev_mac);
                    }
                    ChargerSlacEvent::Slac(slac::EvseEvent::ModemSilent) => {
                        warn!("SLAC: the local modem did not confirm the key");
                    }
                    _ => {}
                }
                let _ = slac_tx.send(EvseEvent::Slac(event));
                ControlFlow::Continue(())
            },
        )
        .await
        .map_err(|source| EvseError::Io {
            iface: iface.name.clone(),
            what: "powerline link",
            source,
        })
    };
    let serve_tx = tx;
    let sessions = serve_sessions(
        &listener,
        charger,
        clock,
        &options.serve,
        &mut seed,
        move |e| {
            let _ = serve_tx.send(EvseEvent::Serve(e));
        },
        shutdown,
    );
    let result = {
        tokio::pin!(sdp_task, slac_task, sessions);
        loop {
            tokio::select! {
                biased;
                Some(event) = rx.recv() => {
                    if let Some(activity) = activity(&event) {
                        let _ = activity_tx.send(SlacInput::Activity(activity));
                    }
                    on_event(event);
                }
                r = &mut sessions => break r.map_err(io_err("V2G server")),
                r = &mut sdp_task => break r.map_err(io_err("SDP server")),
                r = &mut slac_task => break r,
            }
        }
    };
    // Whatever stopped us: the safe state.
    charger.apply(clock.now(), v2g::charger::Demand::OFF);
    while let Ok(event) = rx.try_recv() {
        on_event(event);
    }
    result
}

/// What the SLAC task's presence rule needs to know of an event of the SDP or session server.
fn activity(event: &EvseEvent) -> Option<Activity> {
    match event {
        EvseEvent::Sdp { .. } => Some(Activity::SdpAnswered),
        EvseEvent::Serve(ServeEvent::Connected(_)) => Some(Activity::Connected),
        EvseEvent::Serve(ServeEvent::Closed { paused }) => {
            Some(Activity::Closed { paused: *paused })
        }
        _ => None,
    }
}
