//! The MQTT session's logic with no I/O: snapshots and broker events in, publishes and commands
//! out. The driver ([`crate::run`]) feeds it from rumqttc and the runner's bus.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use controller::RelayOverride;
use serde_json::{Value, json};
use units::{Amps, Percent, Timestamp};

use crate::entity::{
    CommandKind, Component, DEFAULT_EV_CURRENT_MAX_A, Entity, MODES, OVERRIDES, Range, Source,
    catalogue,
};
use crate::settings::MqttSettings;

/// A command from a `.../set` topic, validated. The user settings among them (target, cap, V2H,
/// relay overrides) are checked again by the control loop, as a change through the page is
/// (`runner::settings::apply`), and may still be refused there.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Select the operating mode.
    SetMode(controller::Mode),
    /// Allow or forbid serving the car.
    SetEvEnabled(bool),
    /// Press the simulated button.
    PressSimButton,
    /// Stop charging the car at this state of charge.
    SetEvTargetSoc(Percent),
    /// Cap the car's DC current; `None` removes the cap.
    SetEvMaxCurrent(Option<Amps>),
    /// Allow or forbid discharging the car into the house.
    SetV2h(bool),
    /// Force a rule relay on or off, or give it back to its rule.
    SetRelayOverride {
        /// The relay's name (as configured, not its object id).
        relay: String,
        /// The override.
        to: RelayOverride,
    },
}

/// What the bridge wants sent to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// Publish `payload` on `topic` (QoS 1).
    Publish {
        /// Topic.
        topic: String,
        /// Payload.
        payload: String,
        /// Retained: the broker keeps it for every later subscriber (states, discovery).
        retain: bool,
    },
    /// Subscribe to a topic filter (QoS 1).
    Subscribe(String),
}

/// The payload a state topic carries when the value is unknown now (Home Assistant shows
/// "unknown").
pub const UNKNOWN: &str = "None";
/// The largest command payload accepted; the longest valid one is a mode name.
pub const MAX_COMMAND_BYTES: usize = 64;

/// The MQTT session's logic. See the module docs.
#[derive(Debug)]
pub struct Bridge {
    prefix: String,
    discovery_prefix: Option<String>,
    node_id: String,
    currency: String,
    ev_current_max_a: f64,
    interval: Duration,
    sw_version: String,
    /// Every entity seen since start. Never shrinks: a car that leaves makes its sensors
    /// unknown, it does not delete them from Home Assistant.
    entities: Vec<Entity>,
    connected: bool,
    /// Entities whose discovery went out on this connection.
    announced: Vec<bool>,
    /// Per state topic: the payload last sent on this connection, and when.
    sent: HashMap<String, (String, Timestamp)>,
    last: Option<Value>,
    transmit: VecDeque<Outgoing>,
    commands: VecDeque<Command>,
}

impl Bridge {
    /// A bridge for `settings`; `sw_version` goes into the Home Assistant device.
    pub fn new(settings: &MqttSettings, sw_version: impl Into<String>) -> Self {
        Self {
            prefix: settings.prefix.clone(),
            discovery_prefix: settings
                .discovery
                .then(|| settings.discovery_prefix.clone()),
            node_id: settings.client_id.clone(),
            currency: settings.currency.clone(),
            ev_current_max_a: settings
                .ev_current_max_a
                .filter(|a| a.is_finite() && *a > 0.0)
                .unwrap_or(DEFAULT_EV_CURRENT_MAX_A),
            interval: settings.interval,
            sw_version: sw_version.into(),
            entities: Vec::new(),
            connected: false,
            announced: Vec::new(),
            sent: HashMap::new(),
            last: None,
            transmit: VecDeque::new(),
            commands: VecDeque::new(),
        }
    }

    /// `PREFIX/status`: `online` while connected, `offline` (the last will) otherwise.
    pub fn status_topic(&self) -> String {
        format!("{}/status", self.prefix)
    }

    /// `PREFIX/error`: answers to commands that were refused.
    pub fn error_topic(&self) -> String {
        format!("{}/error", self.prefix)
    }

    /// The filter of the command topics.
    pub fn command_filter(&self) -> String {
        format!("{}/+/set", self.prefix)
    }

    /// The entities known so far.
    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    /// The broker accepted the connection (CONNACK): subscribe, say `online`, and send
    /// discovery and every state again (a restarted broker may have lost its retained
    /// messages).
    pub fn handle_connected(&mut self, now: Timestamp) {
        self.connected = true;
        self.sent.clear();
        self.announced = vec![false; self.entities.len()];
        self.transmit.clear();
        self.transmit
            .push_back(Outgoing::Subscribe(self.command_filter()));
        self.transmit.push_back(Outgoing::Publish {
            topic: self.status_topic(),
            payload: "online".into(),
            retain: true,
        });
        if let Some(last) = self.last.take() {
            self.publish(now, &last, true);
            self.last = Some(last);
        }
    }

    /// The connection is gone: nothing is queued until the next CONNACK, which resends it all.
    pub fn handle_disconnected(&mut self) {
        self.connected = false;
        self.transmit.clear();
    }

    /// A new snapshot (the published site as JSON).
    pub fn handle_snapshot(&mut self, now: Timestamp, snapshot: Value) {
        for e in catalogue(&snapshot, &self.currency, self.ev_current_max_a) {
            if !self.entities.iter().any(|k| k.id == e.id) {
                self.entities.push(e);
                self.announced.push(false);
            }
        }
        if self.connected {
            self.publish(now, &snapshot, false);
        }
        self.last = Some(snapshot);
    }

    fn publish(&mut self, now: Timestamp, snapshot: &Value, all: bool) {
        for (i, e) in self.entities.iter().enumerate() {
            if !self.announced[i] {
                if let Some(dp) = &self.discovery_prefix {
                    let (topic, payload) =
                        discovery(e, dp, &self.prefix, &self.node_id, &self.sw_version);
                    self.transmit.push_back(Outgoing::Publish {
                        topic,
                        payload: payload.to_string(),
                        retain: true,
                    });
                }
                self.announced[i] = true;
            }
            if e.source == Source::None {
                continue;
            }
            let payload = e.state(snapshot).unwrap_or_else(|| UNKNOWN.to_owned());
            let topic = e.state_topic(&self.prefix);
            let due = match self.sent.get(&topic) {
                None => true,
                Some((p, _)) if *p == payload => false,
                Some((_, at)) => {
                    all || !e.throttled || now.saturating_duration_since(*at) >= self.interval
                }
            };
            if due {
                self.sent.insert(topic.clone(), (payload.clone(), now));
                self.transmit.push_back(Outgoing::Publish {
                    topic,
                    payload,
                    retain: true,
                });
            }
        }
    }

    /// A message on a subscribed topic. A valid command is queued for [`Self::poll_command`];
    /// anything else is answered on `PREFIX/error` with what was wrong.
    pub fn handle_message(&mut self, topic: &str, payload: &[u8]) {
        match self.parse_command(topic, payload) {
            Ok(c) => self.commands.push_back(c),
            Err(reason) => self.handle_refusal(topic, payload, &reason),
        }
    }

    /// A command was refused after it left the bridge (the control loop found the value does
    /// not fit the configuration, or did not take it): answered on `PREFIX/error` as a refusal
    /// here is.
    pub fn handle_refusal(&mut self, topic: &str, payload: &[u8], reason: &str) {
        tracing::warn!("MQTT command on {topic} refused: {reason}");
        let shown = String::from_utf8_lossy(&payload[..payload.len().min(MAX_COMMAND_BYTES)]);
        self.transmit.push_back(Outgoing::Publish {
            topic: self.error_topic(),
            payload: json!({"topic": topic, "payload": shown, "error": reason}).to_string(),
            retain: false,
        });
    }

    fn parse_command(&self, topic: &str, payload: &[u8]) -> Result<Command, String> {
        let id = topic
            .strip_prefix(&self.prefix)
            .and_then(|t| t.strip_prefix('/'))
            .and_then(|t| t.strip_suffix("/set"))
            .ok_or_else(|| format!("{topic:?} is not a command topic"))?;
        let (kind, range) = self
            .entities
            .iter()
            .find(|e| e.id == id)
            .and_then(|e| Some((e.command.clone()?, e.range)))
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .entities
                    .iter()
                    .filter(|e| e.component.is_command())
                    .map(|e| e.id.as_str())
                    .collect();
                format!("no command {id:?}; commands: {}", known.join(", "))
            })?;
        if payload.len() > MAX_COMMAND_BYTES {
            return Err(format!(
                "payload of {} bytes; at most {MAX_COMMAND_BYTES}",
                payload.len()
            ));
        }
        let text = std::str::from_utf8(payload)
            .map_err(|_| "payload is not UTF-8".to_owned())?
            .trim();
        // Home Assistant sends the bare option; scripts often send JSON strings.
        let text = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(text);
        match kind {
            CommandKind::Mode => {
                let lower = text.to_ascii_lowercase().replace('_', "-");
                if !MODES.contains(&lower.as_str()) {
                    return Err(format!("mode {text:?}; one of {}", MODES.join(", ")));
                }
                serde_json::from_value(Value::String(lower))
                    .map(Command::SetMode)
                    .map_err(|e| e.to_string())
            }
            CommandKind::EvEnabled => on_off(text).map(Command::SetEvEnabled),
            CommandKind::SimButton => match text {
                "PRESS" | "press" | "" => Ok(Command::PressSimButton),
                _ => Err(format!("{text:?}; PRESS")),
            },
            CommandKind::EvTargetSoc => {
                number(text, range.unwrap_or(crate::entity::EV_TARGET_SOC_RANGE))
                    .map(|x| Command::SetEvTargetSoc(Percent(x)))
            }
            CommandKind::EvMaxCurrent => {
                // Home Assistant's number cannot send "no value": 0 is "no cap" (stopping the
                // car is `ev_enabled`); an empty payload or `none` clears it too.
                if matches!(text.to_ascii_lowercase().as_str(), "" | "none" | "null") {
                    return Ok(Command::SetEvMaxCurrent(None));
                }
                let range = range.unwrap_or(Range {
                    min: 0.0,
                    max: self.ev_current_max_a,
                    step: 1.0,
                });
                number(text, range).map(|a| Command::SetEvMaxCurrent((a > 0.0).then_some(Amps(a))))
            }
            CommandKind::V2h => on_off(text).map(Command::SetV2h),
            CommandKind::RelayOverride(relay) => {
                let lower = text.to_ascii_lowercase();
                if !OVERRIDES.contains(&lower.as_str()) {
                    return Err(format!("{text:?}; one of {}", OVERRIDES.join(", ")));
                }
                serde_json::from_value(Value::String(lower))
                    .map(|to| Command::SetRelayOverride { relay, to })
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// The next message for the broker.
    pub fn poll_transmit(&mut self) -> Option<Outgoing> {
        self.transmit.pop_front()
    }

    /// Puts back a message the client could not take (its queue was full).
    pub fn unpoll_transmit(&mut self, o: Outgoing) {
        self.transmit.push_front(o);
    }

    /// The next validated command for the site.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }
}

/// A switch's payload: `ON`/`OFF` (Home Assistant), `true`/`false` or `1`/`0` (scripts).
fn on_off(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        _ => Err(format!("{text:?}; ON or OFF")),
    }
}

/// A number's payload, in `range` (any value in it: the step is only Home Assistant's slider).
fn number(text: &str, range: Range) -> Result<f64, String> {
    let x: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !(x.is_finite() && (range.min..=range.max).contains(&x)) {
        return Err(format!("{text}: out of range {}–{}", range.min, range.max));
    }
    Ok(x)
}

/// The Home Assistant discovery message of `e`: topic and payload.
/// Topic `DISCOVERY/COMPONENT/NODE/ID/config` (HA's MQTT discovery).
pub fn discovery(
    e: &Entity,
    discovery_prefix: &str,
    prefix: &str,
    node_id: &str,
    sw_version: &str,
) -> (String, Value) {
    let topic = format!(
        "{discovery_prefix}/{}/{node_id}/{}/config",
        e.component.as_str(),
        e.id
    );
    let mut p = json!({
        "name": e.name,
        "unique_id": format!("{node_id}_{}", e.id),
        "object_id": format!("{node_id}_{}", e.id),
        "availability_topic": format!("{prefix}/status"),
        "device": {
            "identifiers": [node_id],
            "name": node_id,
            "manufacturer": "gridlet",
            "model": "gridlet home energy controller",
            "sw_version": sw_version,
        },
        "origin": {"name": "gridlet", "sw_version": sw_version},
    });
    let m = p.as_object_mut().expect("a JSON object literal");
    if e.source != Source::None {
        m.insert("state_topic".into(), e.state_topic(prefix).into());
    }
    if let Some(c) = e.device_class {
        m.insert("device_class".into(), c.into());
    }
    if let Some(c) = e.state_class {
        m.insert("state_class".into(), c.into());
    }
    if let Some(u) = &e.unit {
        m.insert("unit_of_measurement".into(), u.as_str().into());
        m.insert("suggested_display_precision".into(), e.precision.into());
    }
    if e.component.is_command() {
        m.insert("command_topic".into(), e.command_topic(prefix).into());
    }
    match e.component {
        Component::Select => {
            m.insert("options".into(), e.options.clone().into());
        }
        Component::Number => {
            if let Some(r) = e.range {
                m.insert("min".into(), r.min.into());
                m.insert("max".into(), r.max.into());
                m.insert("step".into(), r.step.into());
            }
        }
        Component::Switch | Component::BinarySensor => {
            m.insert("payload_on".into(), "ON".into());
            m.insert("payload_off".into(), "OFF".into());
        }
        Component::Button => {
            m.insert("payload_press".into(), "PRESS".into());
        }
        Component::Sensor => {}
    }
    (topic, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_unix_secs(1_800_000_000) + Duration::from_secs(s)
    }

    fn snap(grid_w: f64, mode: &str) -> Value {
        json!({"site": {"grid": {"power_w": grid_w, "import_wh": 1.0, "export_wh": 0.0},
                        "pv": [], "pv_power_w": 0.0, "relays": [], "devices": [],
                        "controller": {"mode": mode, "ev_enabled": true,
                                       "behaviour": {"kind": "regulating"}, "setpoint_w": 0.0}},
               "sim": {"led": "off"},
               "settings": {"mode": mode, "ev_enabled": true, "ev_target_soc_pct": 80.0,
                            "ev_max_current_a": 16.0, "v2h": false,
                            "relays": {"Hot water": "auto", "pool/pump": "off"}}})
    }

    fn drain(b: &mut Bridge) -> Vec<Outgoing> {
        std::iter::from_fn(|| b.poll_transmit()).collect()
    }

    fn published(out: &[Outgoing], topic: &str) -> Option<String> {
        out.iter().rev().find_map(|o| match o {
            Outgoing::Publish {
                topic: t, payload, ..
            } if t == topic => Some(payload.clone()),
            _ => None,
        })
    }

    fn bridge() -> Bridge {
        let mut settings = MqttSettings::new("localhost:1883".parse().unwrap());
        settings.ev_current_max_a = Some(32.0);
        Bridge::new(&settings, "0.1.0")
    }

    fn commands(b: &mut Bridge) -> Vec<Command> {
        std::iter::from_fn(|| b.poll_command()).collect()
    }

    /// `message` on `topic` is refused with an answer on the error topic that names `why`.
    fn refused(b: &mut Bridge, topic: &str, payload: &[u8], why: &str) {
        b.handle_message(topic, payload);
        assert_eq!(b.poll_command(), None, "{topic} {payload:?}");
        let out = drain(b);
        assert_eq!(out.len(), 1, "{out:?}");
        let answer = published(&out, "gridlet/error").unwrap();
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["topic"], topic);
        assert!(
            answer["error"].as_str().unwrap().contains(why),
            "{answer} lacks {why:?}"
        );
        assert!(matches!(&out[0], Outgoing::Publish { retain: false, .. }));
    }

    #[test]
    fn connect_sends_subscription_status_discovery_and_states() {
        let mut b = bridge();
        b.handle_snapshot(t(0), snap(100.0, "hold"));
        assert!(drain(&mut b).is_empty(), "nothing before CONNACK");
        b.handle_connected(t(0));
        let out = drain(&mut b);
        assert_eq!(out[0], Outgoing::Subscribe("gridlet/+/set".into()));
        assert_eq!(published(&out, "gridlet/status").as_deref(), Some("online"));
        assert_eq!(
            published(&out, "gridlet/grid_power").as_deref(),
            Some("100")
        );
        assert_eq!(published(&out, "gridlet/mode").as_deref(), Some("hold"));
        let disc = published(&out, "homeassistant/select/gridlet/mode/config").unwrap();
        let disc: Value = serde_json::from_str(&disc).unwrap();
        assert_eq!(disc["command_topic"], "gridlet/mode/set");
        assert_eq!(disc["options"].as_array().unwrap().len(), MODES.len());
        let disc = published(&out, "homeassistant/sensor/gridlet/grid_import/config").unwrap();
        let disc: Value = serde_json::from_str(&disc).unwrap();
        assert_eq!(disc["device_class"], "energy");
        assert_eq!(disc["state_class"], "total_increasing");
        assert_eq!(disc["unit_of_measurement"], "Wh");
        assert!(published(&out, "homeassistant/button/gridlet/button/config").is_some());
        // Every entity announced, every state retained.
        for e in b.entities() {
            let topic = format!(
                "homeassistant/{}/gridlet/{}/config",
                e.component.as_str(),
                e.id
            );
            assert!(published(&out, &topic).is_some(), "{topic}");
        }
        assert!(out.iter().all(|o| match o {
            Outgoing::Publish { retain, .. } => *retain,
            Outgoing::Subscribe(_) => true,
        }));
    }

    #[test]
    fn measurements_are_throttled_states_are_not() {
        let mut b = bridge();
        b.handle_connected(t(0));
        b.handle_snapshot(t(0), snap(100.0, "hold"));
        drain(&mut b);
        // 1 s later: the power changed (throttled for 5 s), the mode changed (at once).
        b.handle_snapshot(t(1), snap(200.0, "off"));
        let out = drain(&mut b);
        assert_eq!(published(&out, "gridlet/grid_power"), None);
        assert_eq!(published(&out, "gridlet/mode").as_deref(), Some("off"));
        b.handle_snapshot(t(5), snap(300.0, "off"));
        let out = drain(&mut b);
        assert_eq!(
            published(&out, "gridlet/grid_power").as_deref(),
            Some("300")
        );
        assert_eq!(
            published(&out, "gridlet/mode"),
            None,
            "unchanged: not resent"
        );
        // Discovery only once per connection.
        assert!(
            out.iter().all(
                |o| !matches!(o, Outgoing::Publish { topic, .. } if topic.ends_with("/config"))
            )
        );
    }

    #[test]
    fn reconnect_resends_everything() {
        let mut b = bridge();
        b.handle_connected(t(0));
        b.handle_snapshot(t(0), snap(100.0, "hold"));
        let first = drain(&mut b).len();
        b.handle_disconnected();
        b.handle_snapshot(t(1), snap(150.0, "hold"));
        assert!(drain(&mut b).is_empty());
        b.handle_connected(t(2));
        let out = drain(&mut b);
        assert_eq!(
            out.len(),
            first,
            "subscription, status, discovery and states again"
        );
        assert_eq!(
            published(&out, "gridlet/grid_power").as_deref(),
            Some("150")
        );
    }

    #[test]
    fn vanished_values_become_unknown() {
        let mut b = bridge();
        b.handle_connected(t(0));
        b.handle_snapshot(t(0), snap(100.0, "hold"));
        drain(&mut b);
        let mut s = snap(0.0, "hold");
        s["site"]["grid"] = Value::Null;
        b.handle_snapshot(t(10), s);
        let out = drain(&mut b);
        assert_eq!(
            published(&out, "gridlet/grid_power").as_deref(),
            Some(UNKNOWN)
        );
    }

    #[test]
    fn settings_have_states_and_discovery() {
        let mut b = bridge();
        b.handle_snapshot(t(0), snap(0.0, "hold"));
        b.handle_connected(t(0));
        let out = drain(&mut b);
        let disc = |topic: &str| -> Value {
            serde_json::from_str(&published(&out, topic).expect(topic)).unwrap()
        };
        let d = disc("homeassistant/number/gridlet/ev_target_soc/config");
        assert_eq!(d["command_topic"], "gridlet/ev_target_soc/set");
        assert_eq!(d["state_topic"], "gridlet/ev_target_soc");
        assert_eq!(
            (&d["min"], &d["max"], &d["step"]),
            (&json!(0.0), &json!(100.0), &json!(1.0))
        );
        assert_eq!(d["unit_of_measurement"], "%");
        let d = disc("homeassistant/number/gridlet/ev_max_current/config");
        assert_eq!(d["command_topic"], "gridlet/ev_max_current/set");
        assert_eq!((&d["min"], &d["max"]), (&json!(0.0), &json!(32.0)));
        assert_eq!(d["unit_of_measurement"], "A");
        assert_eq!(d["device_class"], "current");
        let d = disc("homeassistant/switch/gridlet/v2h/config");
        assert_eq!(d["command_topic"], "gridlet/v2h/set");
        assert_eq!(
            (&d["payload_on"], &d["payload_off"]),
            (&json!("ON"), &json!("OFF"))
        );
        let d = disc("homeassistant/select/gridlet/override_hot_water/config");
        assert_eq!(d["command_topic"], "gridlet/override_hot_water/set");
        assert_eq!(d["state_topic"], "gridlet/override_hot_water");
        assert_eq!(d["options"], json!(["auto", "on", "off"]));
        assert!(
            published(
                &out,
                "homeassistant/select/gridlet/override_pool_pump/config"
            )
            .is_some()
        );
        // Retained states, so Home Assistant shows the values at once.
        for (topic, want) in [
            ("gridlet/ev_target_soc", "80"),
            ("gridlet/ev_max_current", "16.0"),
            ("gridlet/v2h", "OFF"),
            ("gridlet/override_hot_water", "auto"),
            ("gridlet/override_pool_pump", "off"),
        ] {
            assert_eq!(published(&out, topic).as_deref(), Some(want), "{topic}");
        }
        // A change is published at once (a state, not a throttled measurement).
        let mut s = snap(0.0, "hold");
        s["settings"]["v2h"] = json!(true);
        s["settings"]["ev_max_current_a"] = Value::Null;
        b.handle_snapshot(t(1), s);
        let out = drain(&mut b);
        assert_eq!(published(&out, "gridlet/v2h").as_deref(), Some("ON"));
        assert_eq!(
            published(&out, "gridlet/ev_max_current").as_deref(),
            Some("0")
        );
    }

    #[test]
    fn setting_commands_are_validated() {
        let mut b = bridge();
        b.handle_snapshot(t(0), snap(0.0, "hold"));
        b.handle_connected(t(0));
        drain(&mut b);
        b.handle_message("gridlet/ev_target_soc/set", b"85");
        b.handle_message("gridlet/ev_target_soc/set", b" 60.5 ");
        b.handle_message("gridlet/ev_max_current/set", b"16");
        b.handle_message("gridlet/ev_max_current/set", b"0");
        b.handle_message("gridlet/ev_max_current/set", b"");
        b.handle_message("gridlet/ev_max_current/set", b"none");
        b.handle_message("gridlet/v2h/set", b"ON");
        b.handle_message("gridlet/v2h/set", b"false");
        b.handle_message("gridlet/override_hot_water/set", b"ON");
        b.handle_message("gridlet/override_pool_pump/set", b"\"auto\"");
        assert_eq!(
            commands(&mut b),
            [
                Command::SetEvTargetSoc(Percent(85.0)),
                Command::SetEvTargetSoc(Percent(60.5)),
                Command::SetEvMaxCurrent(Some(Amps(16.0))),
                Command::SetEvMaxCurrent(None),
                Command::SetEvMaxCurrent(None),
                Command::SetEvMaxCurrent(None),
                Command::SetV2h(true),
                Command::SetV2h(false),
                Command::SetRelayOverride {
                    relay: "Hot water".into(),
                    to: RelayOverride::On
                },
                Command::SetRelayOverride {
                    relay: "pool/pump".into(),
                    to: RelayOverride::Auto
                },
            ]
        );
        assert!(drain(&mut b).is_empty());

        let bad: [(&str, &[u8], &str); 11] = [
            ("gridlet/ev_target_soc/set", b"101", "out of range"),
            ("gridlet/ev_target_soc/set", b"-1", "out of range"),
            ("gridlet/ev_target_soc/set", b"NaN", "out of range"),
            ("gridlet/ev_target_soc/set", b"eighty", "not a number"),
            ("gridlet/ev_target_soc/set", b"", "not a number"),
            ("gridlet/ev_max_current/set", b"33", "out of range"),
            ("gridlet/ev_max_current/set", b"inf", "out of range"),
            ("gridlet/v2h/set", b"yes please", "ON or OFF"),
            ("gridlet/override_hot_water/set", b"maybe", "auto, on, off"),
            ("gridlet/override_sauna/set", b"on", "no command"),
            ("gridlet/override_hot_water/set", &[0xc3, 0x28], "UTF-8"),
        ];
        for (topic, payload, why) in bad {
            refused(&mut b, topic, payload, why);
        }
        refused(&mut b, "gridlet/ev_target_soc/set", &[b'1'; 65], "at most");

        // A refusal from the control loop is answered the same way.
        b.handle_refusal("gridlet/ev_target_soc/set", b"10", "below the V2H floor");
        let out = drain(&mut b);
        let answer: Value =
            serde_json::from_str(&published(&out, "gridlet/error").unwrap()).unwrap();
        assert_eq!(
            answer,
            json!({"topic": "gridlet/ev_target_soc/set", "payload": "10",
                   "error": "below the V2H floor"})
        );
    }

    #[test]
    fn commands_are_validated() {
        let mut b = bridge();
        b.handle_snapshot(t(0), snap(0.0, "hold"));
        b.handle_connected(t(0));
        drain(&mut b);
        b.handle_message("gridlet/mode/set", b"charge-from-grid");
        b.handle_message("gridlet/mode/set", b"\"OFF\"");
        b.handle_message("gridlet/ev_enabled/set", b"OFF");
        b.handle_message("gridlet/button/set", b"PRESS");
        assert_eq!(
            commands(&mut b),
            [
                Command::SetMode(controller::Mode::ChargeFromGrid),
                Command::SetMode(controller::Mode::Off),
                Command::SetEvEnabled(false),
                Command::PressSimButton,
            ]
        );
        assert!(drain(&mut b).is_empty());

        let bad: [(&str, &[u8], &str); 5] = [
            ("gridlet/mode/set", b"turbo", "one of"),
            ("gridlet/mode/set", &[0xff, 0xfe], "UTF-8"),
            ("gridlet/grid_power/set", b"5", "no command"),
            ("gridlet/ev_enabled/set", b"maybe", "ON or OFF"),
            ("gridlet/mode/set", &[b'a'; 100], "at most"),
        ];
        for (topic, payload, why) in bad {
            refused(&mut b, topic, payload, why);
        }
    }
}
