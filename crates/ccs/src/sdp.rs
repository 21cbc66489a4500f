//! SDP over real sockets: the charger's server on UDP port 15118 of one interface, and the
//! car's discovery (multicast to `ff02::1` on that interface, with the client's retries).

use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};
use units::Clock;
use v2g::sdp::{SDP_MULTICAST, SDP_PORT, SdpClient, SdpClientConfig, SdpEvent, SdpServer};
use v2g::wire::SdpResponse;

use crate::iface::Iface;

/// A UDP socket bound to `addr` on `iface` only (`SO_BINDTODEVICE`: the charger's other
/// interfaces, the home network, never see SDP).
fn udp_socket(iface: &Iface, addr: SocketAddrV6) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_only_v6(true)?;
    socket.set_reuse_address(true)?;
    socket.bind_device(Some(iface.name.as_bytes()))?;
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// The charger's SDP socket: port 15118 on the powerline interface, in the all-nodes group.
#[derive(Debug)]
pub struct SdpServerSocket {
    socket: UdpSocket,
    iface: String,
}

impl SdpServerSocket {
    /// Binds port 15118 on `iface`.
    pub fn bind(iface: &Iface) -> io::Result<Self> {
        let socket = udp_socket(
            iface,
            SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, SDP_PORT, 0, 0),
        )?;
        // The kernel is in the all-nodes group on every interface anyway; joining it here as
        // well (as EVerest does) can fail with "address in use", which is fine.
        match socket.join_multicast_v6(&SDP_MULTICAST, iface.index) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {}
            Err(e) => return Err(e),
        }
        Ok(Self {
            socket,
            iface: iface.name.clone(),
        })
    }

    /// Answers requests until the socket fails. Every answer goes to `on_answer`.
    pub async fn serve(
        &self,
        server: &mut SdpServer,
        mut on_answer: impl FnMut(SocketAddr, &SdpResponse),
    ) -> io::Result<()> {
        let mut buf = [0u8; 1500];
        loop {
            let (n, from) = self.socket.recv_from(&mut buf).await?;
            match server.handle_request(&buf[..n]) {
                Ok(response) => {
                    self.socket.send_to(&response.emit(), from).await?;
                    on_answer(from, &response);
                }
                Err(why) => debug!("{}: SDP from {from} ignored: {why}", self.iface),
            }
        }
    }
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// A socket call failed.
    #[error("{iface}: SDP socket")]
    Io {
        /// The interface.
        iface: String,
        /// The error.
        source: io::Error,
    },
    /// No charger answered.
    #[error("{iface}: no charger answered {requests} SDP requests")]
    NoAnswer {
        /// The interface.
        iface: String,
        /// Requests sent.
        requests: u32,
    },
}

/// Finds the charger on `iface`: multicasts SDP requests until one is answered.
pub async fn discover(
    iface: &Iface,
    config: SdpClientConfig,
    clock: &impl Clock,
) -> Result<(SdpResponse, u32), DiscoverError> {
    let io = |source| DiscoverError::Io {
        iface: iface.name.clone(),
        source,
    };
    let socket = udp_socket(
        iface,
        SocketAddrV6::new(iface.link_local, 0, 0, iface.index),
    )
    .map_err(io)?;
    socket.set_multicast_loop_v6(false).map_err(io)?;
    let group = SocketAddrV6::new(SDP_MULTICAST, SDP_PORT, 0, iface.index);
    let mut client = SdpClient::new(config, clock.now());
    let mut buf = [0u8; 1500];
    loop {
        while let Some(req) = client.poll_transmit() {
            socket.send_to(&req, group).await.map_err(io)?;
        }
        while let Some(event) = client.poll_event() {
            match event {
                SdpEvent::Found { response, requests } => {
                    info!(
                        "{}: charger at [{}]:{} ({} request(s))",
                        iface.name, response.addr, response.port, requests
                    );
                    if !v2g::sdp::DYNAMIC_PORTS.contains(&response.port) {
                        warn!(
                            "the charger's port {} is outside 49152-65535: many cars refuse it",
                            response.port
                        );
                    }
                    return Ok((response, requests));
                }
                SdpEvent::Ignored(why) => debug!("SDP response ignored: {why:?}"),
                SdpEvent::Failed { requests } => {
                    return Err(DiscoverError::NoAnswer {
                        iface: iface.name.clone(),
                        requests,
                    });
                }
            }
        }
        let Some(deadline) = client.poll_timeout() else {
            return Err(DiscoverError::NoAnswer {
                iface: iface.name.clone(),
                requests: client.requests(),
            });
        };
        let wait = deadline.saturating_duration_since(clock.now());
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let (n, _) = r.map_err(io)?;
                client.handle_datagram(clock.now(), &buf[..n]);
            }
            () = tokio::time::sleep(wait) => client.handle_timeout(clock.now()),
        }
    }
}
