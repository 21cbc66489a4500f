//! A meter's values in JSON messages (the MQTT meter): where each value is (a [`JsonPath`]) and
//! which sign the publisher uses. Sans-IO: a payload in, [`Measurements`] or the reason out.
//!
//! The predecessor's meter service publishes `/ebz/readings` as
//! `{"id": …, "etotal": kWh, "ptotal": W (import +), "pphase": [W, W, W]}`; those are the
//! defaults of [`crate::config::MqttParams`].

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::Measurements;

/// A path into a JSON document: keys and array indexes separated by dots (`ptotal`,
/// `meter.power`, `pphase.0`, also written `$.pphase[0]`); empty: the whole payload (a topic
/// that carries a bare number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl JsonPath {
    /// Parses a path; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let body = trimmed
            .strip_prefix("$.")
            .or_else(|| trimmed.strip_prefix('$'))
            .unwrap_or(trimmed);
        let mut segments = Vec::new();
        if !body.is_empty() {
            // `a[0].b` is `a.0.b`.
            let dotted = body.replace('[', ".").replace(']', "");
            for part in dotted.split('.') {
                if part.is_empty() {
                    return Err(format!("{text:?} has an empty segment"));
                }
                segments.push(match part.parse::<usize>() {
                    Ok(i) => Segment::Index(i),
                    Err(_) => Segment::Key(part.to_owned()),
                });
            }
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The value at the path, if there is one.
    pub fn get<'a>(&self, v: &'a Value) -> Option<&'a Value> {
        self.segments.iter().try_fold(v, |v, s| match s {
            Segment::Key(k) => v.get(k),
            Segment::Index(i) => v.get(*i),
        })
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text.is_empty() {
            f.write_str("(the whole payload)")
        } else {
            f.write_str(&self.text)
        }
    }
}

impl<'de> Deserialize<'de> for JsonPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Which sign the publisher gives imported power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sign {
    /// Positive = import from the grid (ours, the predecessor's, most meters').
    #[default]
    ImportPositive,
    /// Positive = export (some inverters' "feed-in" values).
    ExportPositive,
}

/// Where the phases are: one array of three, or three paths.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Phases {
    /// An array `[L1, L2, L3]` at this path.
    Array(JsonPath),
    /// Each phase at its own path.
    Each([JsonPath; 3]),
}

/// Why a payload gave no reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON.
    #[error("payload is not JSON: {0}")]
    Syntax(String),
    /// The power is not there.
    #[error("no value at {0}")]
    Missing(String),
    /// Not a finite number (nor a string holding one).
    #[error("{path} is not a number: {value}")]
    NotANumber {
        /// Where.
        path: String,
        /// What was there (shortened).
        value: String,
    },
}

/// How to read a JSON meter message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonMeter {
    /// Total active power, W.
    pub power: JsonPath,
    /// Power per phase, W (absent values are no error).
    pub phases: Option<Phases>,
    /// Imported energy, kWh (absent: no error).
    pub import_kwh: Option<JsonPath>,
    /// Exported energy, kWh (absent: no error).
    pub export_kwh: Option<JsonPath>,
    /// The publisher's sign.
    pub sign: Sign,
}

fn number(path: &JsonPath, v: &Value) -> Result<f64, JsonError> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    n.filter(|n| n.is_finite())
        .ok_or_else(|| JsonError::NotANumber {
            path: path.to_string(),
            value: v.to_string().chars().take(40).collect(),
        })
}

impl JsonMeter {
    /// The values of one message.
    pub fn decode(&self, payload: &[u8]) -> Result<Measurements, JsonError> {
        let doc: Value =
            serde_json::from_slice(payload).map_err(|e| JsonError::Syntax(e.to_string()))?;
        let sign = match self.sign {
            Sign::ImportPositive => 1.0,
            Sign::ExportPositive => -1.0,
        };
        let required = |p: &JsonPath| {
            p.get(&doc)
                .ok_or_else(|| JsonError::Missing(p.to_string()))
                .and_then(|v| number(p, v))
        };
        let optional = |p: &Option<JsonPath>| -> Result<Option<f64>, JsonError> {
            match p.as_ref().and_then(|p| Some((p, p.get(&doc)?))) {
                None | Some((_, Value::Null)) => Ok(None),
                Some((p, v)) => number(p, v).map(Some),
            }
        };
        let power_w = sign * required(&self.power)?;
        let phases_w = match &self.phases {
            None => None,
            Some(Phases::Array(p)) => match p.get(&doc) {
                None | Some(Value::Null) => None,
                Some(Value::Array(a)) if a.len() == 3 => {
                    let mut out = [0.0; 3];
                    for (o, v) in out.iter_mut().zip(a) {
                        *o = sign * number(p, v)?;
                    }
                    Some(out)
                }
                Some(v) => {
                    return Err(JsonError::NotANumber {
                        path: p.to_string(),
                        value: format!(
                            "{} (expected an array of 3)",
                            v.to_string().chars().take(40).collect::<String>()
                        ),
                    });
                }
            },
            Some(Phases::Each(ps)) => {
                let [a, b, c] = ps.clone().map(Some);
                match (optional(&a)?, optional(&b)?, optional(&c)?) {
                    (Some(a), Some(b), Some(c)) => Some([a, b, c].map(|w| sign * w)),
                    _ => None,
                }
            }
        };
        Ok(Measurements {
            power_w,
            phases_w,
            import_wh: optional(&self.import_kwh)?.map(|k| k * 1000.0),
            export_wh: optional(&self.export_kwh)?.map(|k| k * 1000.0),
            ..Measurements::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn predecessor() -> JsonMeter {
        JsonMeter {
            power: JsonPath::parse("ptotal").unwrap(),
            phases: Some(Phases::Array(JsonPath::parse("pphase").unwrap())),
            import_kwh: Some(JsonPath::parse("etotal").unwrap()),
            export_kwh: None,
            sign: Sign::ImportPositive,
        }
    }

    #[test]
    fn the_predecessors_readings_decode() {
        let m = predecessor()
            .decode(br#"{"id":"1EBZ0100507409","etotal":4321.5,"ptotal":-1234.5,"pphase":[-400,-434.5,-400]}"#)
            .unwrap();
        assert_eq!(m.power_w, -1234.5);
        assert_eq!(m.phases_w, Some([-400.0, -434.5, -400.0]));
        assert_eq!(m.import_wh, Some(4_321_500.0));
        // Optional values may be missing.
        let m = predecessor().decode(br#"{"ptotal":"12.5"}"#).unwrap();
        assert_eq!((m.power_w, m.phases_w, m.import_wh), (12.5, None, None));
    }

    #[test]
    fn paths_signs_and_bare_numbers() {
        let j = JsonMeter {
            power: JsonPath::parse("$.sma.p[1]").unwrap(),
            phases: Some(Phases::Each([
                JsonPath::parse("l.0").unwrap(),
                JsonPath::parse("l.1").unwrap(),
                JsonPath::parse("l.2").unwrap(),
            ])),
            import_kwh: None,
            export_kwh: Some(JsonPath::parse("e").unwrap()),
            sign: Sign::ExportPositive,
        };
        let m = j
            .decode(br#"{"sma":{"p":[0,300]},"l":[100,100,100],"e":2}"#)
            .unwrap();
        assert_eq!(m.power_w, -300.0);
        assert_eq!(m.phases_w, Some([-100.0; 3]));
        assert_eq!(m.export_wh, Some(2000.0));
        let bare = JsonMeter {
            power: JsonPath::parse("").unwrap(),
            phases: None,
            import_kwh: None,
            export_kwh: None,
            sign: Sign::ImportPositive,
        };
        assert_eq!(bare.decode(b" 815.5\n").unwrap().power_w, 815.5);
        assert!(JsonPath::parse("a..b").is_err());
    }

    #[test]
    fn garbage_says_what_is_wrong() {
        let j = predecessor();
        assert!(matches!(j.decode(b"\xff\x00"), Err(JsonError::Syntax(_))));
        assert_eq!(
            j.decode(br#"{"etotal":1}"#),
            Err(JsonError::Missing("ptotal".into()))
        );
        assert!(matches!(
            j.decode(br#"{"ptotal":"NaN"}"#),
            Err(JsonError::NotANumber { .. })
        ));
        assert!(matches!(
            j.decode(br#"{"ptotal":1,"pphase":[1,2]}"#),
            Err(JsonError::NotANumber { .. })
        ));
        assert!(matches!(
            j.decode(br#"{"ptotal":1e999}"#),
            Err(JsonError::Syntax(_) | JsonError::NotANumber { .. })
        ));
    }
}
