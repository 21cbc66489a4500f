//! The entities gridlet publishes: what each is called, where its value sits in the published
//! snapshot (the JSON of `/api/v1/status`), and how Home Assistant should show it.
//!
//! The catalogue is data, built from the snapshot itself: the fixed values of a site, plus one
//! entity per PV array, relay and monitored device that the snapshot lists, and one per user
//! setting (`/settings`, as `/api/v1/settings` has them: numbers, switches and a select per rule
//! relay's override). An entity appears once its value has been seen (a site without a battery
//! announces no battery sensors).

use serde_json::Value;

/// Home Assistant's MQTT component of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// A read-only value.
    Sensor,
    /// A read-only on/off value.
    BinarySensor,
    /// One of a fixed set of options, settable.
    Select,
    /// A number in a range, settable.
    Number,
    /// On/off, settable.
    Switch,
    /// An action without state.
    Button,
}

impl Component {
    /// The component's name in discovery topics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sensor => "sensor",
            Self::BinarySensor => "binary_sensor",
            Self::Select => "select",
            Self::Number => "number",
            Self::Switch => "switch",
            Self::Button => "button",
        }
    }

    /// True if the entity takes commands on `PREFIX/ID/set`.
    pub fn is_command(self) -> bool {
        matches!(
            self,
            Self::Select | Self::Number | Self::Switch | Self::Button
        )
    }
}

/// Where an entity's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A JSON pointer into the snapshot.
    Pointer(String),
    /// The product of two pointers (a battery's power from its voltage and current).
    Product(String, String),
    /// No state (buttons).
    None,
}

/// What an entity is a command for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandKind {
    /// The operating mode (`controller::Mode`).
    Mode,
    /// Whether the car may be served.
    EvEnabled,
    /// The simulated push button.
    SimButton,
    /// The car's charge target, % (a user setting).
    EvTargetSoc,
    /// The cap on the car's DC current, A; 0 clears it (a user setting).
    EvMaxCurrent,
    /// Whether the car may discharge into the house (a user setting).
    V2h,
    /// The override of the rule relay with this name (a user setting).
    RelayOverride(String),
}

/// The range of a number entity, as Home Assistant's `min`, `max` and `step`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Smallest value accepted.
    pub min: f64,
    /// Largest value accepted.
    pub max: f64,
    /// Home Assistant's step (its slider); any value in the range is accepted.
    pub step: f64,
}

/// One published value and, for selects, switches and buttons, its command.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    /// Object id: the topic level under the prefix, and the end of the unique id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Home Assistant component.
    pub component: Component,
    /// Where the value is.
    pub source: Source,
    /// Home Assistant `device_class`.
    pub device_class: Option<&'static str>,
    /// Home Assistant `state_class` (`measurement`, `total`, `total_increasing`): what the
    /// energy dashboard needs.
    pub state_class: Option<&'static str>,
    /// Unit of measurement.
    pub unit: Option<String>,
    /// Decimals published (numbers are rounded: fewer bytes, fewer changes).
    pub precision: u8,
    /// Options of a select.
    pub options: Vec<&'static str>,
    /// The command it takes.
    pub command: Option<CommandKind>,
    /// The range of a number.
    pub range: Option<Range>,
    /// The payload sent when the value is JSON null, instead of [`crate::UNKNOWN`] (the car's
    /// current cap: null is "no cap", published as 0).
    pub null_state: Option<&'static str>,
    /// A measurement, throttled to the publish interval; states go out on every change.
    pub throttled: bool,
}

impl Entity {
    fn sensor(id: impl Into<String>, name: impl Into<String>, pointer: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            component: Component::Sensor,
            source: Source::Pointer(pointer.into()),
            device_class: None,
            state_class: None,
            unit: None,
            precision: 0,
            options: Vec::new(),
            command: None,
            range: None,
            null_state: None,
            throttled: false,
        }
    }

    fn power(id: impl Into<String>, name: impl Into<String>, pointer: impl Into<String>) -> Self {
        Self::sensor(id, name, pointer).measured("power", "W", 0)
    }

    fn energy(id: impl Into<String>, name: impl Into<String>, pointer: impl Into<String>) -> Self {
        let mut e = Self::sensor(id, name, pointer).measured("energy", "Wh", 0);
        e.state_class = Some("total_increasing");
        e
    }

    fn measured(mut self, class: &'static str, unit: &str, precision: u8) -> Self {
        self.device_class = Some(class);
        self.state_class = Some("measurement");
        self.unit = Some(unit.to_owned());
        self.precision = precision;
        self.throttled = true;
        self
    }

    /// The state topic: `PREFIX/ID`.
    pub fn state_topic(&self, prefix: &str) -> String {
        format!("{prefix}/{}", self.id)
    }

    /// The command topic: `PREFIX/ID/set`.
    pub fn command_topic(&self, prefix: &str) -> String {
        format!("{prefix}/{}/set", self.id)
    }

    /// The entity's state in `snapshot` as an MQTT payload, or `None` if it has none there.
    /// A value that is present but unknown (JSON null) is `None` too: Home Assistant shows it
    /// as unknown when the payload is the text `None`, which [`crate::Bridge`] sends.
    pub fn state(&self, snapshot: &Value) -> Option<String> {
        let value = match &self.source {
            Source::None => return None,
            Source::Pointer(p) => match snapshot.pointer(p)? {
                Value::Null => return self.null_state.map(str::to_owned),
                v => v.clone(),
            },
            Source::Product(a, b) => {
                let a = snapshot.pointer(a)?.as_f64()?;
                let b = snapshot.pointer(b)?.as_f64()?;
                Value::from(a * b)
            }
        };
        match value {
            Value::Null => None,
            Value::Bool(b) => Some(if b { "ON" } else { "OFF" }.to_owned()),
            Value::Number(n) => {
                let x = n.as_f64()?;
                if !x.is_finite() {
                    return None;
                }
                let p = usize::from(self.precision);
                let s = format!("{x:.p$}");
                // "-0" reads as a change from "0" and confuses charts.
                Some(
                    if s.trim_start_matches('-')
                        .trim_matches(['0', '.'])
                        .is_empty()
                    {
                        s.trim_start_matches('-').to_owned()
                    } else {
                        s
                    },
                )
            }
            Value::String(s) => Some(s),
            // Structured values are not states; the catalogue only points at scalars.
            Value::Array(_) | Value::Object(_) => None,
        }
    }

    /// True if the snapshot has this entity (its value is present, even if unknown now).
    fn present_in(&self, snapshot: &Value) -> bool {
        match &self.source {
            Source::None => true,
            Source::Pointer(p) => snapshot
                .pointer(p)
                .is_some_and(|v| !v.is_null() || self.null_state.is_some()),
            Source::Product(a, b) => [a, b]
                .iter()
                .all(|p| snapshot.pointer(p).is_some_and(|v| !v.is_null())),
        }
    }
}

/// The operating modes, as the API and the `mode` select name them.
pub const MODES: [&str; 4] = ["self-consumption", "hold", "charge-from-grid", "off"];

/// A rule relay's overrides, as the API and the `override_*` selects name them
/// (`controller::RelayOverride`).
pub const OVERRIDES: [&str; 3] = ["auto", "on", "off"];

/// The top of the car current cap's range when the configuration names no charger rating:
/// CCS's DC ceiling (IEC 61851-23 DC, 500 A).
pub const DEFAULT_EV_CURRENT_MAX_A: f64 = 500.0;

/// The car's charge target: 0–100 %, step 1.
pub const EV_TARGET_SOC_RANGE: Range = Range {
    min: 0.0,
    max: 100.0,
    step: 1.0,
};

/// Every entity `snapshot` (a published snapshot as JSON, with the user's settings under
/// `/settings`) has values for. `currency` names the price unit; `ev_current_max_a` is the top
/// of the car current cap's range (the charger's rating).
pub fn catalogue(snapshot: &Value, currency: &str, ev_current_max_a: f64) -> Vec<Entity> {
    let mut all = vec![
        Entity::power("grid_power", "Grid power", "/site/grid/power_w"),
        Entity::energy("grid_import", "Grid import", "/site/grid/import_wh"),
        Entity::energy("grid_export", "Grid export", "/site/grid/export_wh"),
        Entity::power("pv_power", "PV power", "/site/pv_power_w"),
        Entity::sensor("battery_soc", "Battery SoC", "/site/battery/soc_pct")
            .measured("battery", "%", 1),
        Entity::sensor(
            "battery_voltage",
            "Battery voltage",
            "/site/battery/voltage_v",
        )
        .measured("voltage", "V", 1),
        Entity::sensor(
            "battery_current",
            "Battery current",
            "/site/battery/current_a",
        )
        .measured("current", "A", 1),
        Entity {
            source: Source::Product(
                "/site/battery/voltage_v".into(),
                "/site/battery/current_a".into(),
            ),
            ..Entity::power("battery_power", "Battery power", "")
        },
        Entity::sensor(
            "battery_temperature",
            "Battery temperature",
            "/site/battery/temperature_c",
        )
        .measured("temperature", "°C", 1),
        Entity::power(
            "converter_power",
            "Converter power",
            "/site/converter/power_w",
        ),
        Entity::sensor("ev_state", "Car state", "/site/charge_point/state"),
        Entity::sensor("ev_protocol", "Car protocol", "/site/charge_point/protocol"),
        Entity::sensor("ev_soc", "Car SoC", "/site/charge_point/ev_soc_pct")
            .measured("battery", "%", 0),
        Entity::power("ev_power", "Car power", "/site/charge_point/power_w"),
        Entity::sensor(
            "ev_voltage",
            "Car voltage",
            "/site/charge_point/dc_voltage_v",
        )
        .measured("voltage", "V", 0),
        Entity::sensor("ev_current", "Car current", "/site/charge_point/current_a")
            .measured("current", "A", 1),
        Entity {
            // A session's energy starts again at 0 and goes negative while discharging: a total,
            // not total_increasing.
            state_class: Some("total"),
            ..Entity::energy(
                "ev_session_energy",
                "Car session energy",
                "/site/charge_point/session_energy_wh",
            )
        },
        Entity {
            unit: Some(format!("{currency}/kWh")),
            precision: 4,
            ..Entity::sensor("price", "Price", "/site/price")
        },
        Entity::power(
            "setpoint",
            "Converter set-point",
            "/site/controller/setpoint_w",
        ),
        Entity::sensor(
            "behaviour",
            "Controller behaviour",
            "/site/controller/behaviour/kind",
        ),
        Entity {
            component: Component::Select,
            options: MODES.to_vec(),
            command: Some(CommandKind::Mode),
            ..Entity::sensor("mode", "Mode", "/site/controller/mode")
        },
        Entity {
            component: Component::Switch,
            command: Some(CommandKind::EvEnabled),
            ..Entity::sensor("ev_enabled", "Serve the car", "/site/controller/ev_enabled")
        },
        Entity {
            component: Component::Number,
            device_class: Some("battery"),
            unit: Some("%".to_owned()),
            range: Some(EV_TARGET_SOC_RANGE),
            command: Some(CommandKind::EvTargetSoc),
            ..Entity::sensor(
                "ev_target_soc",
                "Car charge target",
                "/settings/ev_target_soc_pct",
            )
        },
        Entity {
            component: Component::Number,
            device_class: Some("current"),
            unit: Some("A".to_owned()),
            precision: 1,
            range: Some(Range {
                min: 0.0,
                max: ev_current_max_a,
                step: 1.0,
            }),
            command: Some(CommandKind::EvMaxCurrent),
            null_state: Some("0"),
            ..Entity::sensor(
                "ev_max_current",
                "Car current cap (0: none)",
                "/settings/ev_max_current_a",
            )
        },
        Entity {
            component: Component::Switch,
            command: Some(CommandKind::V2h),
            ..Entity::sensor("v2h", "Car supplies the house (V2H)", "/settings/v2h")
        },
    ];
    let list = |p: &str| {
        snapshot
            .pointer(p)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .to_vec()
    };
    for (i, pv) in list("/site/pv").iter().enumerate() {
        let Some(name) = pv.get("name").and_then(Value::as_str) else {
            continue;
        };
        let id = object_id(name);
        all.push(Entity::power(
            format!("pv_{id}_power"),
            format!("PV {name} power"),
            format!("/site/pv/{i}/status/power_w"),
        ));
        all.push(Entity::energy(
            format!("pv_{id}_energy"),
            format!("PV {name} energy"),
            format!("/site/pv/{i}/status/energy_wh"),
        ));
    }
    for (i, relay) in list("/site/relays").iter().enumerate() {
        let Some(name) = relay.get("name").and_then(Value::as_str) else {
            continue;
        };
        all.push(Entity {
            component: Component::BinarySensor,
            device_class: Some("power"),
            ..Entity::sensor(
                format!("relay_{}", object_id(name)),
                format!("Relay {name}"),
                format!("/site/relays/{i}/on"),
            )
        });
    }
    // Rule relays by name (a map, sorted): `override_ID`, a family of its own, so no relay name
    // can make an id another entity has; two names with one id get `_2`, `_3` in name order.
    let relays = snapshot
        .pointer("/settings/relays")
        .and_then(Value::as_object);
    let mut taken: Vec<String> = Vec::new();
    for name in relays.into_iter().flat_map(|m| m.keys()) {
        let base = format!("override_{}", object_id(name));
        let mut id = base.clone();
        let mut n = 1;
        while taken.contains(&id) {
            n += 1;
            id = format!("{base}_{n}");
        }
        taken.push(id.clone());
        all.push(Entity {
            component: Component::Select,
            options: OVERRIDES.to_vec(),
            command: Some(CommandKind::RelayOverride(name.clone())),
            ..Entity::sensor(
                id,
                format!("Relay {name} override"),
                format!("/settings/relays/{}", pointer_escape(name)),
            )
        });
    }
    for (i, dev) in list("/site/devices").iter().enumerate() {
        let Some(name) = dev.get("name").and_then(Value::as_str) else {
            continue;
        };
        all.push(Entity::sensor(
            format!("device_{}_health", object_id(name)),
            format!("{name} health"),
            format!("/site/devices/{i}/health"),
        ));
    }
    if snapshot.pointer("/sim").is_some_and(|v| !v.is_null()) {
        all.push(Entity {
            component: Component::Button,
            source: Source::None,
            command: Some(CommandKind::SimButton),
            ..Entity::sensor("button", "Button (simulated)", "")
        });
    }
    all.retain(|e| e.present_in(snapshot));
    all
}

/// `name` as one JSON pointer token (RFC 6901 §3: `~` is `~0`, `/` is `~1`).
fn pointer_escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// A name as a topic level and id: lower-case letters, digits and `_`.
pub fn object_id(name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() { "_".to_owned() } else { id }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot() -> Value {
        json!({
            "site": {
                "grid": {"power_w": 1234.56, "import_wh": 10.0, "export_wh": 2.0},
                "pv": [{"name": "Roof East", "status": {"power_w": -0.2, "energy_wh": 5.0}}],
                "pv_power_w": 0.0,
                "battery": {"soc_pct": 50.04, "voltage_v": 400.0, "current_a": -2.5,
                            "temperature_c": null},
                "charge_point": null,
                "price": 0.31234567,
                "relays": [{"name": "hot_water", "on": true}],
                "controller": {"mode": "hold", "ev_enabled": false,
                               "behaviour": {"kind": "regulating"}, "setpoint_w": 10.0},
                "devices": [{"name": "meter_emulation.huawei", "health": "ok"}]
            },
            "sim": null,
            "settings": {"mode": "hold", "ev_enabled": false, "ev_target_soc_pct": 80.0,
                         "ev_max_current_a": null, "v2h": true,
                         "relays": {"hot_water": "on"}}
        })
    }

    #[test]
    fn catalogue_has_what_the_snapshot_has() {
        let s = snapshot();
        let ids: Vec<String> = catalogue(&s, "EUR", 32.0)
            .into_iter()
            .map(|e| e.id)
            .collect();
        for want in [
            "grid_power",
            "battery_power",
            "pv_roof_east_power",
            "relay_hot_water",
            "device_meter_emulation_huawei_health",
            "mode",
            "ev_enabled",
        ] {
            assert!(ids.iter().any(|i| i == want), "{want} missing from {ids:?}");
        }
        // No car, no simulation, no temperature reading: not announced.
        for absent in ["ev_power", "button", "battery_temperature"] {
            assert!(!ids.iter().any(|i| i == absent), "{absent} in {ids:?}");
        }
    }

    #[test]
    fn states_are_formatted_for_home_assistant() {
        let s = snapshot();
        let cat = catalogue(&s, "EUR", 32.0);
        let state = |id: &str| cat.iter().find(|e| e.id == id).unwrap().state(&s);
        assert_eq!(state("grid_power").as_deref(), Some("1235"));
        assert_eq!(state("battery_soc").as_deref(), Some("50.0"));
        assert_eq!(state("battery_power").as_deref(), Some("-1000"));
        assert_eq!(state("pv_roof_east_power").as_deref(), Some("0"));
        assert_eq!(state("price").as_deref(), Some("0.3123"));
        assert_eq!(state("relay_hot_water").as_deref(), Some("ON"));
        assert_eq!(state("ev_enabled").as_deref(), Some("OFF"));
        assert_eq!(state("mode").as_deref(), Some("hold"));
        let price = cat.iter().find(|e| e.id == "price").unwrap();
        assert_eq!(price.unit.as_deref(), Some("EUR/kWh"));
    }

    #[test]
    fn every_user_setting_is_an_entity() {
        let mut s = snapshot();
        let cat = catalogue(&s, "EUR", 32.0);
        let get = |id: &str| cat.iter().find(|e| e.id == id).unwrap().clone();
        let target = get("ev_target_soc");
        assert_eq!(target.component, Component::Number);
        assert_eq!(target.command, Some(CommandKind::EvTargetSoc));
        assert_eq!(target.range, Some(EV_TARGET_SOC_RANGE));
        assert_eq!(target.unit.as_deref(), Some("%"));
        assert_eq!(target.state(&s).as_deref(), Some("80"));
        let cap = get("ev_max_current");
        assert_eq!(cap.component, Component::Number);
        assert_eq!(cap.range.map(|r| (r.min, r.max)), Some((0.0, 32.0)));
        assert_eq!(cap.unit.as_deref(), Some("A"));
        assert_eq!(cap.state(&s).as_deref(), Some("0"), "no cap: 0");
        let v2h = get("v2h");
        assert_eq!(v2h.component, Component::Switch);
        assert_eq!(v2h.state(&s).as_deref(), Some("ON"));
        let relay = get("override_hot_water");
        assert_eq!(relay.component, Component::Select);
        assert_eq!(relay.options, OVERRIDES);
        assert_eq!(
            relay.command,
            Some(CommandKind::RelayOverride("hot_water".into()))
        );
        assert_eq!(relay.state(&s).as_deref(), Some("on"));

        s["settings"]["ev_max_current_a"] = json!(16.0);
        assert_eq!(cap.state(&s).as_deref(), Some("16.0"));
        // No settings in the snapshot (an older publisher): no setting entities.
        s["settings"] = Value::Null;
        let ids: Vec<String> = catalogue(&s, "EUR", 32.0)
            .into_iter()
            .map(|e| e.id)
            .collect();
        for absent in [
            "ev_target_soc",
            "ev_max_current",
            "v2h",
            "override_hot_water",
        ] {
            assert!(!ids.iter().any(|i| i == absent), "{absent} in {ids:?}");
        }
    }

    #[test]
    fn relay_override_ids_are_safe_and_unique() {
        let mut s = snapshot();
        s["settings"]["relays"] = json!({
            "Hot water": "auto", "hot/water": "off", "hot_water": "on",
            "a~b/#+": "auto", "": "on", "Wärmepumpe": "off"
        });
        let cat = catalogue(&s, "EUR", 32.0);
        let overrides: Vec<&Entity> = cat
            .iter()
            .filter(|e| matches!(e.command, Some(CommandKind::RelayOverride(_))))
            .collect();
        assert_eq!(overrides.len(), 6);
        let mut ids: Vec<&str> = overrides.iter().map(|e| e.id.as_str()).collect();
        for id in &ids {
            assert!(
                id.starts_with("override_")
                    && id
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{id}"
            );
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 6, "unique: {ids:?}");
        // Each reads its own relay's value through an escaped pointer.
        for e in overrides {
            let Some(CommandKind::RelayOverride(name)) = &e.command else {
                unreachable!()
            };
            assert_eq!(
                e.state(&s).as_deref(),
                s["settings"]["relays"][name].as_str(),
                "{name}"
            );
        }
    }

    #[test]
    fn overrides_match_the_controller() {
        for o in OVERRIDES {
            let v: controller::RelayOverride = serde_json::from_value(json!(o)).unwrap();
            assert_eq!(serde_json::to_value(v).unwrap(), json!(o));
        }
    }

    #[test]
    fn modes_match_the_controller() {
        for m in MODES {
            let mode: controller::Mode = serde_json::from_value(json!(m)).unwrap();
            assert_eq!(serde_json::to_value(mode).unwrap(), json!(m));
        }
    }
}
