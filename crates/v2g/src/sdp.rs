//! SDP, the SECC Discovery Protocol (ISO 15118-2 §7.10.1): how the car finds the charger's TCP
//! server. The car multicasts a request (UDP port 15118, `ff02::1`) saying whether it wants TLS;
//! the charger answers with its link-local address, port and the security it offers.
//!
//! [`SdpServer`] is the charger's side: a request for TLS gets a plain TCP offer unless TLS is
//! configured (EVerest does the same; an Audi Q4 asks 50 times for TLS and loses 12 s with a
//! charger that stays silent). [`SdpClient`] is the car's: it repeats its request every 250 ms,
//! up to 50 times, and can ask for TLS first and fall back, like that Audi.

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::ops::RangeInclusive;
use std::time::Duration;

use units::Timestamp;

use crate::timing;
use crate::wire::{SdpRequest, SdpResponse, Security, Transport, WireError};

/// The UDP port SDP servers listen on.
pub const SDP_PORT: u16 = 15118;
/// The multicast group SDP requests go to: all nodes on the link.
pub const SDP_MULTICAST: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// The ports a charger's V2G server may use (the dynamic range; Josev's EV and the cars that
/// talk to Alpitronic chargers refuse others, shared/docs/ccs-research.md §1.3).
pub const DYNAMIC_PORTS: RangeInclusive<u16> = 49152..=65535;

/// Where the charger's V2G server listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpServerConfig {
    /// Its link-local address on the powerline interface.
    pub addr: Ipv6Addr,
    /// Its plain TCP port.
    pub port: u16,
    /// Its TLS port, if it has a TLS server.
    pub tls_port: Option<u16>,
}

/// Why a datagram got no answer. Every one is the sender's doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    /// Not a valid SDP request.
    #[error("not an SDP request: {0}")]
    Malformed(WireError),
    /// A transport other than TCP.
    #[error("SDP request for transport {0:?}: only TCP is served")]
    Transport(Transport),
    /// A security byte that is neither TLS nor none.
    #[error("SDP request with unknown security {0:#04x}")]
    Security(u8),
}

/// The charger's SDP server. Stateless apart from its counters.
#[derive(Debug, Clone)]
pub struct SdpServer {
    config: SdpServerConfig,
    answered: u64,
    tls_requests_answered_plain: u64,
}

impl SdpServer {
    /// A server announcing `config`.
    pub fn new(config: SdpServerConfig) -> Self {
        Self {
            config,
            answered: 0,
            tls_requests_answered_plain: 0,
        }
    }

    /// What it announces.
    pub fn config(&self) -> &SdpServerConfig {
        &self.config
    }

    /// Requests answered so far.
    pub fn answered(&self) -> u64 {
        self.answered
    }

    /// The answer to a datagram, or why there is none.
    pub fn handle_request(&mut self, datagram: &[u8]) -> Result<SdpResponse, Ignored> {
        let req = SdpRequest::parse(datagram).map_err(Ignored::Malformed)?;
        if req.transport != Transport::Tcp {
            return Err(Ignored::Transport(req.transport));
        }
        let (port, security) = match (req.security, self.config.tls_port) {
            (Security::Tls, Some(tls)) => (tls, Security::Tls),
            (Security::Tls, None) => {
                self.tls_requests_answered_plain += 1;
                (self.config.port, Security::None)
            }
            (Security::None, _) => (self.config.port, Security::None),
            (Security::Unknown(b), _) => return Err(Ignored::Security(b)),
        };
        self.answered += 1;
        Ok(SdpResponse {
            addr: self.config.addr,
            port,
            security,
            transport: Transport::Tcp,
        })
    }
}

/// How the car runs SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpClientConfig {
    /// Ask for TLS in the first requests...
    pub tls_first: bool,
    /// ...this many times before asking without (the Audi Q4: 50). With `tls_first` and a
    /// charger that offers plain TCP, the car takes it at once.
    pub tls_requests: u32,
    /// Time to wait for a response before repeating.
    pub timeout: Duration,
    /// Requests before giving up.
    pub max_requests: u32,
}

impl Default for SdpClientConfig {
    fn default() -> Self {
        Self {
            tls_first: false,
            tls_requests: 0,
            timeout: timing::SDP_RESPONSE_TIMEOUT,
            max_requests: timing::SDP_MAX_REQUESTS,
        }
    }
}

/// What the car's SDP client reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpEvent {
    /// A charger answered.
    Found {
        /// Its answer.
        response: SdpResponse,
        /// Requests it took.
        requests: u32,
    },
    /// A datagram that is not a usable answer.
    Ignored(IgnoredResponse),
    /// No answer to any request.
    Failed {
        /// Requests sent.
        requests: u32,
    },
}

/// Why the client ignored a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoredResponse {
    /// Not an SDP response.
    Malformed(WireError),
    /// An offer of TLS, which this client does not speak.
    Tls,
    /// An offer of another transport than TCP.
    Transport(Transport),
}

/// The car's SDP client, sans-IO.
#[derive(Debug, Clone)]
pub struct SdpClient {
    config: SdpClientConfig,
    sent: u32,
    deadline: Option<Timestamp>,
    done: bool,
    transmit: VecDeque<[u8; SdpRequest::LEN]>,
    events: VecDeque<SdpEvent>,
}

impl SdpClient {
    /// A client starting at `now`: the first request is ready to send.
    pub fn new(config: SdpClientConfig, now: Timestamp) -> Self {
        let mut client = Self {
            config,
            sent: 0,
            deadline: None,
            done: false,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        };
        client.send(now);
        client
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u32 {
        self.sent
    }

    /// A datagram arrived on the SDP socket.
    pub fn handle_datagram(&mut self, _now: Timestamp, datagram: &[u8]) {
        if self.done {
            return;
        }
        let ignored = match SdpResponse::parse(datagram) {
            Err(e) => IgnoredResponse::Malformed(e),
            Ok(r) if r.transport != Transport::Tcp => IgnoredResponse::Transport(r.transport),
            Ok(r) if r.security != Security::None => IgnoredResponse::Tls,
            Ok(response) => {
                self.done = true;
                self.deadline = None;
                self.events.push_back(SdpEvent::Found {
                    response,
                    requests: self.sent,
                });
                return;
            }
        };
        self.events.push_back(SdpEvent::Ignored(ignored));
    }

    /// Time passed: repeats the request, or gives up.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.done || self.deadline.is_none_or(|d| now < d) {
            return;
        }
        if self.sent >= self.config.max_requests {
            self.done = true;
            self.deadline = None;
            self.events.push_back(SdpEvent::Failed {
                requests: self.sent,
            });
            return;
        }
        self.send(now);
    }

    /// The next request to multicast.
    pub fn poll_transmit(&mut self) -> Option<[u8; SdpRequest::LEN]> {
        self.transmit.pop_front()
    }

    /// When to call [`SdpClient::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.deadline
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SdpEvent> {
        self.events.pop_front()
    }

    fn send(&mut self, now: Timestamp) {
        let tls = self.config.tls_first && self.sent < self.config.tls_requests;
        let req = SdpRequest {
            security: if tls { Security::Tls } else { Security::None },
            transport: Transport::Tcp,
        };
        self.transmit.push_back(req.emit());
        self.sent += 1;
        self.deadline = Some(now + self.config.timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(tls_port: Option<u16>) -> SdpServer {
        SdpServer::new(SdpServerConfig {
            addr: "fe80::1".parse().unwrap(),
            port: 51110,
            tls_port,
        })
    }

    fn req(security: Security, transport: Transport) -> [u8; SdpRequest::LEN] {
        SdpRequest {
            security,
            transport,
        }
        .emit()
    }

    #[test]
    fn a_tls_request_gets_a_plain_offer_unless_tls_is_configured() {
        let mut plain = server(None);
        let res = plain
            .handle_request(&req(Security::Tls, Transport::Tcp))
            .unwrap();
        assert_eq!((res.port, res.security), (51110, Security::None));
        let res = plain
            .handle_request(&req(Security::None, Transport::Tcp))
            .unwrap();
        assert_eq!((res.port, res.security), (51110, Security::None));
        assert_eq!(res.addr, "fe80::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(plain.answered(), 2);

        let mut with_tls = server(Some(64109));
        let res = with_tls
            .handle_request(&req(Security::Tls, Transport::Tcp))
            .unwrap();
        assert_eq!((res.port, res.security), (64109, Security::Tls));
        let res = with_tls
            .handle_request(&req(Security::None, Transport::Tcp))
            .unwrap();
        assert_eq!((res.port, res.security), (51110, Security::None));
    }

    #[test]
    fn real_requests_are_answered() {
        // The Ioniq (S012) and the Tesla's TLS request (S032).
        let mut s = server(None);
        for hex in ["01fe9000000000021000", "01fe9000000000020000"] {
            let res = s.handle_request(&hex::decode(hex).unwrap()).unwrap();
            assert_eq!(res.security, Security::None);
            assert_eq!(res.emit().len(), 28);
        }
    }

    #[test]
    fn bad_requests_are_ignored_with_a_reason() {
        let mut s = server(None);
        assert_eq!(
            s.handle_request(&req(Security::None, Transport::Udp)),
            Err(Ignored::Transport(Transport::Udp))
        );
        assert_eq!(
            s.handle_request(&req(Security::Unknown(0x42), Transport::Tcp)),
            Err(Ignored::Security(0x42))
        );
        assert!(matches!(
            s.handle_request(&[0x01, 0xfe, 0x90, 0x00]),
            Err(Ignored::Malformed(_))
        ));
        assert_eq!(s.answered(), 0);
    }

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_unix_secs(1_750_000_000) + Duration::from_millis(ms)
    }

    #[test]
    fn the_client_repeats_every_250_ms_and_gives_up_after_50() {
        let mut c = SdpClient::new(SdpClientConfig::default(), t(0));
        let mut sent = 0;
        let mut now = t(0);
        loop {
            while c.poll_transmit().is_some() {
                sent += 1;
            }
            let Some(next) = c.poll_timeout() else { break };
            assert_eq!(
                next.saturating_duration_since(now),
                Duration::from_millis(250)
            );
            now = next;
            c.handle_timeout(now);
        }
        assert_eq!(sent, 50);
        assert_eq!(c.poll_event(), Some(SdpEvent::Failed { requests: 50 }));
        assert_eq!(now, t(50 * 250));
    }

    #[test]
    fn the_client_takes_the_first_plain_tcp_offer() {
        let config = SdpClientConfig {
            tls_first: true,
            tls_requests: 50,
            ..SdpClientConfig::default()
        };
        let mut c = SdpClient::new(config, t(0));
        let first = c.poll_transmit().unwrap();
        assert_eq!(SdpRequest::parse(&first).unwrap().security, Security::Tls);
        // A silent charger (pyPLC ignores TLS requests): the Audi-like car repeats with TLS.
        c.handle_timeout(t(250));
        let second = c.poll_transmit().unwrap();
        assert_eq!(SdpRequest::parse(&second).unwrap().security, Security::Tls);
        // Ours answers the TLS request with a plain offer, which the car takes.
        let mut s = server(None);
        let res = s.handle_request(&second).unwrap();
        c.handle_datagram(t(260), &res.emit());
        assert_eq!(
            c.poll_event(),
            Some(SdpEvent::Found {
                response: res,
                requests: 2
            })
        );
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn the_client_falls_back_to_plain_requests() {
        let config = SdpClientConfig {
            tls_first: true,
            tls_requests: 2,
            ..SdpClientConfig::default()
        };
        let mut c = SdpClient::new(config, t(0));
        let mut securities = Vec::new();
        for i in 1..=4 {
            let req = c.poll_transmit().unwrap();
            securities.push(SdpRequest::parse(&req).unwrap().security);
            c.handle_timeout(t(250 * i));
        }
        assert_eq!(
            securities,
            [Security::Tls, Security::Tls, Security::None, Security::None]
        );
    }

    #[test]
    fn the_client_ignores_what_it_cannot_use() {
        let mut c = SdpClient::new(SdpClientConfig::default(), t(0));
        c.handle_datagram(t(1), b"garbage");
        let tls_offer = SdpResponse {
            addr: Ipv6Addr::LOCALHOST,
            port: 50000,
            security: Security::Tls,
            transport: Transport::Tcp,
        };
        c.handle_datagram(t(2), &tls_offer.emit());
        assert!(matches!(
            c.poll_event(),
            Some(SdpEvent::Ignored(IgnoredResponse::Malformed(_)))
        ));
        assert_eq!(
            c.poll_event(),
            Some(SdpEvent::Ignored(IgnoredResponse::Tls))
        );
        // Still trying.
        assert_eq!(c.poll_timeout(), Some(t(250)));
    }
}
