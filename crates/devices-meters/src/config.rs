//! The `[grid_meter]` parameters of each meter, with their defaults and checks; an error names
//! the key relative to the meter's table, so the binary can point at FILE:LINE:COLUMN.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

use crate::json::{JsonMeter, JsonPath, Phases, Sign};
use crate::speedwire;

/// A setting that cannot be used: the key (relative to the device's table) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ParamError {
    /// Dotted key relative to the device's table (`group`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl From<ParamError> for devices::config::FieldError {
    fn from(e: ParamError) -> Self {
        Self::new(e.key, e.message)
    }
}

impl devices::config::DeviceParams for SmaEmParams {
    fn validate(&self) -> Result<(), devices::config::FieldError> {
        self.check().map_err(Into::into)
    }
}

impl devices::config::DeviceParams for SmlParams {
    fn validate(&self) -> Result<(), devices::config::FieldError> {
        self.check().map_err(Into::into)
    }
}

impl devices::config::DeviceParams for MqttParams {
    fn validate(&self) -> Result<(), devices::config::FieldError> {
        self.json().map(drop).map_err(Into::into)
    }
}

impl ParamError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// `[grid_meter] type = "sma-em"`: an SMA Energy Meter or Sunny Home Manager on Speedwire.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmaEmParams {
    /// Where datagrams are received (`0.0.0.0:9522`).
    pub listen: SocketAddr,
    /// Join the multicast group (the meter's default); `false` for meters set to unicast.
    pub multicast: bool,
    /// The multicast group.
    pub group: Ipv4Addr,
    /// The address of the interface to join the group on; `0.0.0.0`: the kernel's choice.
    pub interface: Ipv4Addr,
    /// Read only the meter with this serial number (several meters, or a Home Manager and an
    /// Energy Meter, share the group); none: the first one heard, then only it.
    pub serial: Option<u32>,
}

impl Default for SmaEmParams {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], speedwire::PORT)),
            multicast: true,
            group: speedwire::GROUP,
            interface: Ipv4Addr::UNSPECIFIED,
            serial: None,
        }
    }
}

impl SmaEmParams {
    /// Checks the settings.
    pub fn check(&self) -> Result<(), ParamError> {
        if self.multicast && !self.group.is_multicast() {
            return Err(ParamError::new(
                "group",
                format!("{} is not a multicast address (224.0.0.0/4)", self.group),
            ));
        }
        if self.multicast && !self.listen.is_ipv4() {
            return Err(ParamError::new(
                "listen",
                "an IPv6 address cannot join an IPv4 multicast group",
            ));
        }
        if self.serial == Some(0) {
            return Err(ParamError::new("serial", "0 is no meter's serial number"));
        }
        Ok(())
    }
}

/// `[grid_meter] type = "sml"`: an SML smart meter on an optical read head.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmlParams {
    /// The read head's serial port.
    pub device: PathBuf,
    /// Its baud rate (SML meters: 9600 8N1).
    pub baud: u32,
}

impl Default for SmlParams {
    fn default() -> Self {
        Self {
            device: PathBuf::from("/dev/ttyUSB0"),
            baud: 9600,
        }
    }
}

impl SmlParams {
    /// Checks the settings.
    pub fn check(&self) -> Result<(), ParamError> {
        if self.device.as_os_str().is_empty() {
            return Err(ParamError::new("device", "must name a serial port"));
        }
        if !matches!(
            self.baud,
            300 | 1200 | 2400 | 4800 | 9600 | 19200 | 38400 | 57600 | 115_200
        ) {
            return Err(ParamError::new(
                "baud",
                format!(
                    "{} is not a serial rate (SML meters send at 9600)",
                    self.baud
                ),
            ));
        }
        Ok(())
    }
}

/// `[grid_meter] type = "mqtt"`: readings published on an MQTT broker, JSON or a bare number.
/// The defaults read the predecessor's `/ebz/readings`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttParams {
    /// The broker, `host:port`.
    pub broker: String,
    /// The topic (wildcards allowed).
    pub topic: String,
    /// JSON path of the total active power, W; `""`: the payload is the number.
    pub power: String,
    /// JSON path of an array of three phase powers, or three paths; absent values are no error.
    pub phases: Option<PhasesParam>,
    /// JSON path of the imported energy, kWh.
    pub import_kwh: Option<String>,
    /// JSON path of the exported energy, kWh.
    pub export_kwh: Option<String>,
    /// `import-positive` (default) or `export-positive`.
    pub sign: Sign,
    /// Our MQTT client id.
    pub client_id: String,
    /// Broker login.
    pub username: Option<String>,
    /// Broker password.
    pub password: Option<String>,
}

/// `phases = "pphase"` or `phases = ["l1", "l2", "l3"]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PhasesParam {
    /// An array of three at this path.
    Array(String),
    /// Three paths.
    Each([String; 3]),
}

impl Default for MqttParams {
    fn default() -> Self {
        Self {
            broker: "127.0.0.1:1883".to_owned(),
            topic: "/ebz/readings".to_owned(),
            power: "ptotal".to_owned(),
            phases: Some(PhasesParam::Array("pphase".to_owned())),
            import_kwh: Some("etotal".to_owned()),
            export_kwh: None,
            sign: Sign::ImportPositive,
            client_id: "gridlet-grid-meter".to_owned(),
            username: None,
            password: None,
        }
    }
}

impl MqttParams {
    /// The broker's host and port.
    pub fn broker(&self) -> Result<(String, u16), ParamError> {
        let bad = || {
            ParamError::new(
                "broker",
                format!(
                    "{:?} is not host:port (e.g. \"127.0.0.1:1883\")",
                    self.broker
                ),
            )
        };
        let (host, port) = self.broker.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok((host.to_owned(), port))
    }

    /// How to read the messages; checks every setting.
    pub fn json(&self) -> Result<JsonMeter, ParamError> {
        self.broker()?;
        if self.topic.is_empty() || self.topic.contains('\0') {
            return Err(ParamError::new("topic", "must be a topic filter"));
        }
        if self.client_id.is_empty() || self.client_id.len() > 64 {
            return Err(ParamError::new("client_id", "must be 1 to 64 characters"));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(ParamError::new("password", "needs a username"));
        }
        let path = |key: &str, p: &str| JsonPath::parse(p).map_err(|e| ParamError::new(key, e));
        let optional =
            |key: &str, p: &Option<String>| p.as_deref().map(|p| path(key, p)).transpose();
        Ok(JsonMeter {
            power: path("power", &self.power)?,
            phases: match &self.phases {
                None => None,
                Some(PhasesParam::Array(p)) => Some(Phases::Array(path("phases", p)?)),
                Some(PhasesParam::Each([a, b, c])) => Some(Phases::Each([
                    path("phases", a)?,
                    path("phases", b)?,
                    path("phases", c)?,
                ])),
            },
            import_kwh: optional("import_kwh", &self.import_kwh)?,
            export_kwh: optional("export_kwh", &self.export_kwh)?,
            sign: self.sign,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_settings_name_their_key() {
        SmaEmParams::default().check().unwrap();
        SmlParams::default().check().unwrap();
        MqttParams::default().json().unwrap();
        let p = SmaEmParams {
            group: Ipv4Addr::new(192, 168, 1, 1),
            ..SmaEmParams::default()
        };
        assert_eq!(p.check().unwrap_err().key, "group");
        let p = SmlParams {
            baud: 9601,
            ..SmlParams::default()
        };
        assert_eq!(p.check().unwrap_err().key, "baud");
        for (broker, ok) in [
            ("mqtt:1883", true),
            ("[::1]:1883", true),
            ("mqtt", false),
            (":1", false),
        ] {
            let p = MqttParams {
                broker: broker.into(),
                ..MqttParams::default()
            };
            assert_eq!(p.json().is_ok(), ok, "{broker}");
        }
        let p = MqttParams {
            power: "a..b".into(),
            ..MqttParams::default()
        };
        assert_eq!(p.json().unwrap_err().key, "power");
    }
}
