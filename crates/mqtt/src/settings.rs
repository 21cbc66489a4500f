//! The `[mqtt]` table of the configuration file.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `[mqtt]`: where the broker is, how to log in, and how topics are named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSettings {
    /// The broker, `HOST:PORT` (1883 is MQTT's port, 8883 MQTT over TLS).
    pub broker: Broker,
    /// User name, if the broker asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password (prefer `password_file`: the configuration file is often readable by others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A file holding the password (its first line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Connect with TLS. The broker's certificate is checked against `ca_file`, or against the
    /// Mozilla root certificates bundled in the binary.
    #[serde(default)]
    pub tls: bool,
    /// PEM file with the certificate authority of the broker (a self-signed broker's own CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// MQTT client id; also the Home Assistant device id. Letters, digits, `_` and `-`.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Topic prefix of every value and command: `gridlet/grid_power`, `gridlet/mode/set`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Home Assistant discovery prefix; `discovery = false` turns discovery off.
    #[serde(default = "default_discovery_prefix")]
    pub discovery_prefix: String,
    /// Announce every entity to Home Assistant (MQTT discovery).
    #[serde(default = "yes")]
    pub discovery: bool,
    /// A changing measurement is published at most this often (state changes such as the mode
    /// go out at once). Keeps a 1 s control loop from flooding the broker.
    #[serde(default = "default_interval", with = "units::duration_str")]
    pub interval: Duration,
    /// MQTT keep-alive; the broker publishes the last will (`PREFIX/status` = `offline`) after
    /// 1.5 times this without a packet.
    #[serde(default = "default_keep_alive", with = "units::duration_str")]
    pub keep_alive: Duration,
    /// Currency of the price sensor's unit (`EUR/kWh`).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// The top of the car current cap's range in Home Assistant: the charger's rating
    /// (`[charge_point] max_current_a`), set by the daemon, not a key of the file. `None`:
    /// [`crate::entity::DEFAULT_EV_CURRENT_MAX_A`].
    #[serde(skip)]
    pub ev_current_max_a: Option<f64>,
}

fn default_client_id() -> String {
    "gridlet".to_owned()
}
fn default_prefix() -> String {
    "gridlet".to_owned()
}
fn default_discovery_prefix() -> String {
    "homeassistant".to_owned()
}
fn yes() -> bool {
    true
}
fn default_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_keep_alive() -> Duration {
    Duration::from_secs(30)
}
fn default_currency() -> String {
    "EUR".to_owned()
}

impl MqttSettings {
    /// Settings with defaults for `broker`.
    pub fn new(broker: Broker) -> Self {
        Self {
            broker,
            user: None,
            password: None,
            password_file: None,
            tls: false,
            ca_file: None,
            client_id: default_client_id(),
            prefix: default_prefix(),
            discovery_prefix: default_discovery_prefix(),
            discovery: true,
            interval: default_interval(),
            keep_alive: default_keep_alive(),
            currency: default_currency(),
            ev_current_max_a: None,
        }
    }

    /// Checks what serde cannot: names that end up in topics, and contradicting options.
    /// Returns the offending key and why.
    pub fn validate(&self) -> Result<(), SettingsError> {
        check_name("client_id", &self.client_id)?;
        check_topic("prefix", &self.prefix)?;
        check_topic("discovery_prefix", &self.discovery_prefix)?;
        if self.password.is_some() && self.password_file.is_some() {
            return Err(SettingsError::new(
                "password_file",
                "give `password` or `password_file`, not both",
            ));
        }
        if (self.password.is_some() || self.password_file.is_some()) && self.user.is_none() {
            return Err(SettingsError::new("user", "a password needs a `user`"));
        }
        if self.ca_file.is_some() && !self.tls {
            return Err(SettingsError::new(
                "ca_file",
                "`ca_file` needs `tls = true`",
            ));
        }
        if self.interval.is_zero() || self.interval > Duration::from_secs(3600) {
            return Err(SettingsError::new(
                "interval",
                "must be between 1 ms and 1 h",
            ));
        }
        if self.keep_alive < Duration::from_secs(5) || self.keep_alive > Duration::from_secs(3600) {
            return Err(SettingsError::new(
                "keep_alive",
                "must be between 5 s and 1 h",
            ));
        }
        Ok(())
    }

    /// The password: given, or read from `password_file` (its first line).
    pub fn resolve_password(&self) -> Result<Option<String>, SettingsError> {
        if let Some(p) = &self.password {
            return Ok(Some(p.clone()));
        }
        let Some(path) = &self.password_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            SettingsError::new(
                "password_file",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        Ok(Some(text.lines().next().unwrap_or_default().to_owned()))
    }
}

fn check_name(key: &'static str, v: &str) -> Result<(), SettingsError> {
    if v.is_empty()
        || v.len() > 64
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(SettingsError::new(
            key,
            format!("{v:?}: 1 to 64 letters, digits, `_` or `-`"),
        ));
    }
    Ok(())
}

fn check_topic(key: &'static str, v: &str) -> Result<(), SettingsError> {
    // Wildcards and empty levels would make the topic filters we subscribe to match more than
    // our own commands.
    if v.is_empty()
        || v.len() > 128
        || v.starts_with('/')
        || v.ends_with('/')
        || v.contains("//")
        || v.contains(['+', '#', '\0'])
    {
        return Err(SettingsError::new(
            key,
            format!("{v:?}: a topic without `+`, `#`, empty levels or leading/trailing `/`"),
        ));
    }
    Ok(())
}

/// A wrong `[mqtt]` setting: which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[mqtt] {key}: {reason}")]
pub struct SettingsError {
    /// The key in the `[mqtt]` table.
    pub key: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl SettingsError {
    fn new(key: &'static str, reason: impl Into<String>) -> Self {
        Self {
            key,
            reason: reason.into(),
        }
    }
}

/// `HOST:PORT` of a broker. Parsed when the file is read, so a typo is reported at its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// Host name or IP address (IPv6 in brackets in the text form).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl FromStr for Broker {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (host, port) = s.rsplit_once(':').ok_or_else(|| {
            format!("broker {s:?}: expected HOST:PORT, e.g. \"192.168.1.10:1883\"")
        })?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("broker {s:?}: {port:?} is not a port (1-65535)"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("broker {s:?}: no host name"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Serialize for Broker {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Broker {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_forms() {
        let b: Broker = "192.168.1.10:1883".parse().unwrap();
        assert_eq!((b.host.as_str(), b.port), ("192.168.1.10", 1883));
        let b: Broker = "[fd00::1]:8883".parse().unwrap();
        assert_eq!((b.host.as_str(), b.port), ("fd00::1", 8883));
        assert_eq!(b.to_string(), "[fd00::1]:8883");
        for bad in ["broker", "host:", ":1883", "host:0", "host:70000", "a b:1"] {
            assert!(bad.parse::<Broker>().is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_from_toml_and_validation() {
        let s: MqttSettings = toml::from_str("broker = \"localhost:1883\"").unwrap();
        assert_eq!(s, MqttSettings::new("localhost:1883".parse().unwrap()));
        s.validate().unwrap();
        assert_eq!(s.interval, Duration::from_secs(5));

        let err = toml::from_str::<MqttSettings>("broker = \"localhost\"").unwrap_err();
        assert!(err.to_string().contains("HOST:PORT"), "{err}");

        let mut bad = s.clone();
        bad.prefix = "home/#".into();
        assert_eq!(bad.validate().unwrap_err().key, "prefix");
        let mut bad = s.clone();
        bad.password = Some("x".into());
        assert_eq!(bad.validate().unwrap_err().key, "user");
        let mut bad = s.clone();
        bad.client_id = "grid let".into();
        assert_eq!(bad.validate().unwrap_err().key, "client_id");
        let mut bad = s;
        bad.ca_file = Some("/etc/ca.pem".into());
        assert_eq!(bad.validate().unwrap_err().key, "ca_file");
    }
}
