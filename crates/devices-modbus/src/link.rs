//! Where a Modbus device is: the `modbus = { ... }` table of a device's configuration, checked
//! here (the binary only points at the key), and how to open it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use units::duration_str;

/// A setting that cannot be used: the key (relative to the device's table) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ParamError {
    /// Dotted key relative to the device's table (`modbus.tcp`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl From<ParamError> for devices::config::FieldError {
    fn from(e: ParamError) -> Self {
        Self::new(e.key, e.message)
    }
}

impl ParamError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Serial parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    /// None (8N1).
    #[default]
    None,
    /// Even.
    Even,
    /// Odd.
    Odd,
}

/// Kernel RS485 mode (`TIOCSRS485`): the UART driver switches the transceiver's driver enable
/// with RTS, for boards whose RS485 transceiver is wired that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rs485Params {
    /// RTS level while sending (`SER_RS485_RTS_ON_SEND`).
    pub rts_on_send: bool,
    /// RTS level after sending (`SER_RS485_RTS_AFTER_SEND`).
    pub rts_after_send: bool,
    /// Delay between RTS and the first bit, ms.
    pub delay_before_send_ms: u32,
    /// Delay between the last bit and RTS, ms.
    pub delay_after_send_ms: u32,
}

impl Default for Rs485Params {
    fn default() -> Self {
        Self {
            rts_on_send: true,
            rts_after_send: false,
            delay_before_send_ms: 0,
            delay_after_send_ms: 0,
        }
    }
}

/// `modbus = { ... }`: exactly one of `tcp`, `rtu_over_tcp`, `rtu` (clients) or `tcp_listen`,
/// `rtu_over_tcp_listen`, `rtu` (servers), and the unit address.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkParams {
    /// Modbus TCP: `host:port` of the device (client) .
    pub tcp: Option<String>,
    /// Modbus RTU frames over TCP (serial-to-Ethernet converters): `host:port`.
    pub rtu_over_tcp: Option<String>,
    /// Modbus RTU on a serial port (`/dev/ttyS1`): client or server.
    pub rtu: Option<PathBuf>,
    /// Server: Modbus TCP on this address.
    pub tcp_listen: Option<std::net::SocketAddr>,
    /// Server: RTU frames over TCP on this address.
    pub rtu_over_tcp_listen: Option<std::net::SocketAddr>,
    /// Server: Modbus over UDP (MBAP framing, one request per datagram) on this address.
    pub udp_listen: Option<std::net::SocketAddr>,
    /// Unit (slave) address; the model's default when absent.
    pub unit: Option<u8>,
    /// Serial: baud rate.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Serial: parity.
    #[serde(default)]
    pub parity: Parity,
    /// Serial: stop bits (1 or 2).
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    /// Serial: kernel RS485 mode (omit when the transceiver switches itself).
    pub rs485: Option<Rs485Params>,
    /// Client: how long to wait for each answer.
    #[serde(default = "default_timeout", with = "duration_str")]
    pub timeout: Duration,
    /// Client: failed exchanges retried at once (on a new connection) before backing off.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_baud() -> u32 {
    9600
}
fn default_stop_bits() -> u8 {
    1
}
fn default_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_retries() -> u32 {
    1
}

/// A checked client link.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientLink {
    /// Modbus TCP to `host:port`.
    Tcp(String),
    /// RTU framing over TCP to `host:port`.
    RtuOverTcp(String),
    /// RTU on a serial port.
    Rtu(Serial),
}

/// A checked server link.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerLink {
    /// Modbus TCP on this address.
    Tcp(std::net::SocketAddr),
    /// RTU framing over TCP on this address.
    RtuOverTcp(std::net::SocketAddr),
    /// MBAP framing over UDP on this address.
    Udp(std::net::SocketAddr),
    /// RTU on a serial port.
    Rtu(Serial),
}

/// A serial port's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Serial {
    /// The device.
    pub path: PathBuf,
    /// Baud rate.
    pub baud: u32,
    /// Parity.
    pub parity: Parity,
    /// Stop bits.
    pub stop_bits: u8,
    /// Kernel RS485 mode.
    pub rs485: Option<Rs485Params>,
}

impl fmt::Display for ClientLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "tcp {a}"),
            Self::RtuOverTcp(a) => write!(f, "rtu-over-tcp {a}"),
            Self::Rtu(s) => write!(f, "rtu {}", s.path.display()),
        }
    }
}

impl fmt::Display for ServerLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "tcp {a}"),
            Self::RtuOverTcp(a) => write!(f, "rtu-over-tcp {a}"),
            Self::Udp(a) => write!(f, "udp {a}"),
            Self::Rtu(s) => write!(f, "rtu {}", s.path.display()),
        }
    }
}

fn host_port(key: &str, s: &str) -> Result<String, ParamError> {
    let bad = || ParamError::new(key, format!("{s:?} is not host:port"));
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(s.to_owned())
}

impl LinkParams {
    fn serial(&self) -> Result<Option<Serial>, ParamError> {
        let Some(path) = &self.rtu else {
            if self.rs485.is_some() {
                return Err(ParamError::new("modbus.rs485", "only for `rtu`"));
            }
            return Ok(None);
        };
        if !matches!(self.baud, 300..=921_600) {
            return Err(ParamError::new("modbus.baud", "must be 300..=921600"));
        }
        if !matches!(self.stop_bits, 1 | 2) {
            return Err(ParamError::new("modbus.stop_bits", "must be 1 or 2"));
        }
        Ok(Some(Serial {
            path: path.clone(),
            baud: self.baud,
            parity: self.parity,
            stop_bits: self.stop_bits,
            rs485: self.rs485,
        }))
    }

    fn check_common(&self) -> Result<(), ParamError> {
        if self.unit == Some(0) || self.unit.is_some_and(|u| u > 247) {
            return Err(ParamError::new("modbus.unit", "must be 1..=247"));
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(30) {
            return Err(ParamError::new(
                "modbus.timeout",
                "must be between 1ms and 30s",
            ));
        }
        if self.retries > 10 {
            return Err(ParamError::new("modbus.retries", "at most 10"));
        }
        Ok(())
    }

    /// The link of a client (a device we poll).
    pub fn client(&self) -> Result<ClientLink, ParamError> {
        self.check_common()?;
        if self.tcp_listen.is_some()
            || self.rtu_over_tcp_listen.is_some()
            || self.udp_listen.is_some()
        {
            return Err(ParamError::new(
                if self.tcp_listen.is_some() {
                    "modbus.tcp_listen"
                } else if self.udp_listen.is_some() {
                    "modbus.udp_listen"
                } else {
                    "modbus.rtu_over_tcp_listen"
                },
                "this device is polled: give `tcp`, `rtu_over_tcp` or `rtu`",
            ));
        }
        let serial = self.serial()?;
        match (&self.tcp, &self.rtu_over_tcp, serial) {
            (Some(a), None, None) => Ok(ClientLink::Tcp(host_port("modbus.tcp", a)?)),
            (None, Some(a), None) => {
                Ok(ClientLink::RtuOverTcp(host_port("modbus.rtu_over_tcp", a)?))
            }
            (None, None, Some(s)) => Ok(ClientLink::Rtu(s)),
            (None, None, None) => Err(ParamError::new(
                "modbus",
                "give one of `tcp = \"host:port\"`, `rtu_over_tcp = \"host:port\"`, `rtu = \"/dev/ttyX\"`",
            )),
            _ => Err(ParamError::new(
                "modbus",
                "give only one of `tcp`, `rtu_over_tcp`, `rtu`",
            )),
        }
    }

    /// The link of a server (a device we play).
    pub fn server(&self) -> Result<ServerLink, ParamError> {
        self.check_common()?;
        if self.tcp.is_some() || self.rtu_over_tcp.is_some() {
            return Err(ParamError::new(
                if self.tcp.is_some() {
                    "modbus.tcp"
                } else {
                    "modbus.rtu_over_tcp"
                },
                "this device is served: give `tcp_listen`, `rtu_over_tcp_listen` or `rtu`",
            ));
        }
        let serial = self.serial()?;
        match (
            self.tcp_listen,
            self.rtu_over_tcp_listen,
            self.udp_listen,
            serial,
        ) {
            (Some(a), None, None, None) => Ok(ServerLink::Tcp(a)),
            (None, Some(a), None, None) => Ok(ServerLink::RtuOverTcp(a)),
            (None, None, Some(a), None) => Ok(ServerLink::Udp(a)),
            (None, None, None, Some(s)) => Ok(ServerLink::Rtu(s)),
            (None, None, None, None) => Err(ParamError::new(
                "modbus",
                "give one of `tcp_listen = \"addr:port\"`, `rtu_over_tcp_listen = \"addr:port\"`, `udp_listen = \"addr:port\"`, `rtu = \"/dev/ttyX\"`",
            )),
            _ => Err(ParamError::new(
                "modbus",
                "give only one of `tcp_listen`, `rtu_over_tcp_listen`, `udp_listen`, `rtu`",
            )),
        }
    }
}

/// Opens a serial port in RTU settings (8 data bits), with kernel RS485 mode if configured.
pub(crate) fn open_serial(s: &Serial) -> std::io::Result<tokio_serial::SerialStream> {
    use tokio_serial::{DataBits, SerialPortBuilderExt as _, StopBits};
    let parity = match s.parity {
        Parity::None => tokio_serial::Parity::None,
        Parity::Even => tokio_serial::Parity::Even,
        Parity::Odd => tokio_serial::Parity::Odd,
    };
    let port = tokio_serial::new(s.path.to_string_lossy(), s.baud)
        .data_bits(DataBits::Eight)
        .parity(parity)
        .stop_bits(if s.stop_bits == 2 {
            StopBits::Two
        } else {
            StopBits::One
        })
        .open_native_async()?;
    if let Some(rs485) = &s.rs485 {
        crate::rs485::enable(&port, rs485)?;
    }
    Ok(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> LinkParams {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn links_are_checked_with_their_key() {
        let p = parse("tcp = \"127.0.0.1:5020\"\nunit = 1\n");
        assert_eq!(
            p.client().unwrap(),
            ClientLink::Tcp("127.0.0.1:5020".into())
        );
        assert_eq!(p.server().unwrap_err().key, "modbus.tcp");
        let p = parse("tcp = \"meter.local\"\n");
        assert_eq!(
            p.client().unwrap_err().to_string(),
            "modbus.tcp: \"meter.local\" is not host:port"
        );
        let p = parse("rtu = \"/dev/ttyS1\"\nbaud = 7\n");
        assert_eq!(p.client().unwrap_err().key, "modbus.baud");
        let p = parse("rtu = \"/dev/ttyS1\"\nunit = 0\n");
        assert_eq!(p.client().unwrap_err().key, "modbus.unit");
        let p = parse("tcp = \"a:1\"\nrtu = \"/dev/ttyS1\"\n");
        assert_eq!(p.client().unwrap_err().key, "modbus");
        let p = parse("tcp_listen = \"127.0.0.1:5021\"\nunit = 11\n");
        assert!(matches!(p.server().unwrap(), ServerLink::Tcp(_)));
        let p = parse("rtu = \"/dev/ttyS1\"\nrs485 = {}\n");
        let ServerLink::Rtu(s) = p.server().unwrap() else {
            panic!()
        };
        assert_eq!((s.baud, s.parity, s.stop_bits), (9600, Parity::None, 1));
        assert_eq!(s.rs485, Some(Rs485Params::default()));
        assert!(toml::from_str::<LinkParams>("tcp = \"a:1\"\nbaudrate = 1\n").is_err());
    }
}
