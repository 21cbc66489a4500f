//! The car application: SLAC (optional), then SDP, then one V2G session over TCP, as a car
//! does after it is plugged in. Used by `gridlet ev` against our charger and real ones.

use std::net::SocketAddrV6;
use std::ops::ControlFlow;
use std::time::Duration;

use plc::{Link, RawLink, drive};
use tokio::net::TcpStream;
use tracing::info;
use units::Clock;
use v2g::evcc::{Evcc, EvccConfig, EvccEvent, EvccSummary};
use v2g::sdp::SdpClientConfig;
use v2g::wire::SdpResponse;

use crate::iface::{Iface, IfaceError};
use crate::sdp::{DiscoverError, discover};
use crate::session::run_car;

/// How the car runs.
#[derive(Debug, Clone)]
pub struct EvOptions {
    /// The powerline interface.
    pub iface: String,
    /// Run SLAC first (needs root). Without it the car starts at SDP, as Josev does.
    pub slac: bool,
    /// A fixed SLAC RunID (Tesla sends "TESLA EV").
    pub run_id: Option<homeplug::RunId>,
    /// SDP.
    pub sdp: SdpClientConfig,
    /// The session.
    pub evcc: EvccConfig,
    /// How long to wait for the TCP connection.
    pub connect_timeout: Duration,
    /// How long to wait for the interface's link-local address at start.
    pub iface_wait: Duration,
}

/// What the car application reports.
#[derive(Debug, Clone, PartialEq)]
pub enum EvEvent {
    /// SLAC.
    Slac(slac::EvEvent),
    /// SDP found the charger.
    Found {
        /// Its answer.
        response: SdpResponse,
        /// Requests it took.
        requests: u32,
    },
    /// Connected to the charger.
    Connected(SocketAddrV6),
    /// A session event.
    Session(EvccEvent),
}

/// Why the car did not get to a session.
#[derive(Debug, thiserror::Error)]
pub enum EvError {
    /// The interface is not usable.
    #[error(transparent)]
    Iface(#[from] IfaceError),
    /// The powerline link could not be opened.
    #[error(transparent)]
    Link(#[from] plc::Error),
    /// The powerline link failed during SLAC.
    #[error("{iface}: powerline link")]
    LinkIo {
        /// The interface.
        iface: String,
        /// The error.
        source: std::io::Error,
    },
    /// SLAC found no charger.
    #[error("{iface}: SLAC failed: {reason}")]
    Slac {
        /// The interface.
        iface: String,
        /// Why.
        reason: slac::EvFailure,
    },
    /// SDP found no charger.
    #[error(transparent)]
    Sdp(#[from] DiscoverError),
    /// The charger's V2G server did not accept the connection.
    #[error("connecting to the charger at {addr}")]
    Connect {
        /// Where.
        addr: SocketAddrV6,
        /// The error.
        source: std::io::Error,
    },
}

/// Plugs the car in: SLAC, SDP, one session. The summary says how the session went.
pub async fn run_ev(
    options: &EvOptions,
    clock: &impl Clock,
    seed: [u8; 32],
    mut on_event: impl FnMut(EvEvent),
) -> Result<EvccSummary, EvError> {
    if options.slac {
        let link = RawLink::open(&options.iface)?;
        let mut config = slac::EvConfig::new(link.mac(), seed);
        config.run_id = options.run_id;
        let mut ev = slac::Ev::new(config);
        ev.handle_start(clock.now());
        let mut failure = None;
        drive(&link, clock, &mut ev, |_, event| {
            let stop = match &event {
                slac::EvEvent::Matched(m) => {
                    info!("SLAC: matched charger {}, network {}", m.evse_mac, m.nid);
                    true
                }
                slac::EvEvent::Failed { reason } => {
                    failure = Some(*reason);
                    true
                }
                _ => false,
            };
            on_event(EvEvent::Slac(event));
            if stop {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .await
        .map_err(|source| EvError::LinkIo {
            iface: options.iface.clone(),
            source,
        })?;
        if let Some(reason) = failure {
            return Err(EvError::Slac {
                iface: options.iface.clone(),
                reason,
            });
        }
    }
    let iface = Iface::lookup(&options.iface, options.iface_wait).await?;
    let (response, requests) = discover(&iface, options.sdp, clock).await?;
    on_event(EvEvent::Found { response, requests });
    let addr = SocketAddrV6::new(response.addr, response.port, 0, iface.index);
    let stream = match tokio::time::timeout(options.connect_timeout, TcpStream::connect(addr)).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(source)) => return Err(EvError::Connect { addr, source }),
        Err(_) => {
            return Err(EvError::Connect {
                addr,
                source: std::io::ErrorKind::TimedOut.into(),
            });
        }
    };
    info!("connected to the charger at {addr}");
    on_event(EvEvent::Connected(addr));
    let evcc = Evcc::new(options.evcc.clone(), clock.now());
    Ok(run_car(stream, evcc, clock, |e| on_event(EvEvent::Session(e))).await)
}
