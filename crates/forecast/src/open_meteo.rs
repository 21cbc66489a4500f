//! open-meteo: `GET https://api.open-meteo.com/v1/forecast?latitude=…&longitude=…&tilt=<dec>&
//! azimuth=<az>&minutely_15=temperature_2m,global_tilted_irradiance_instant&forecast_days=3&
//! timezone=GMT&timeformat=unixtime` answers arrays `minutely_15.time[]` (Unix seconds),
//! `global_tilted_irradiance_instant[]` (W/m² on the array's plane) and `temperature_2m[]` (°C),
//! nulls where the model has no value; errors are `{"error":true,"reason":"…"}`
//! (`shared/docs/ems-research.md` §5). [`PanelArray`] turns them into power.

use serde::Deserialize;
use tariffs::{HttpRequest, ParseError};
use units::Timestamp;

use crate::{PanelArray, PowerSample, PowerSeries};

/// The API.
pub const BASE: &str = "https://api.open-meteo.com/";

/// The request for `array` at latitude/longitude, `days` ahead.
pub fn request(
    base: &url::Url,
    lat: f64,
    lon: f64,
    array: &PanelArray,
    days: u8,
) -> Result<HttpRequest, String> {
    let mut u = base
        .join("v1/forecast")
        .map_err(|e| format!("bad base URL {base}: {e}"))?;
    u.query_pairs_mut()
        .append_pair("latitude", &lat.to_string())
        .append_pair("longitude", &lon.to_string())
        .append_pair("tilt", &array.tilt_deg.to_string())
        .append_pair("azimuth", &array.azimuth_deg.to_string())
        .append_pair(
            "minutely_15",
            "temperature_2m,global_tilted_irradiance_instant",
        )
        .append_pair("forecast_days", &days.to_string())
        .append_pair("timezone", "GMT")
        .append_pair("timeformat", "unixtime");
    Ok(HttpRequest::get(u))
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    error: bool,
    reason: Option<String>,
    minutely_15: Option<Minutely>,
}

#[derive(Deserialize)]
struct Minutely {
    time: Vec<i64>,
    global_tilted_irradiance_instant: Vec<Option<f64>>,
    temperature_2m: Vec<Option<f64>>,
}

/// The reason of an error answer, if it is one.
pub fn refusal(body: &[u8]) -> Option<String> {
    let b: Body = serde_json::from_slice(body).ok()?;
    b.error.then(|| b.reason.unwrap_or_else(|| "error".into()))
}

/// Parses a forecast into the array's power. Steps without irradiance are left out; a missing
/// temperature counts as 25 °C.
pub fn parse(body: &[u8], array: &PanelArray) -> Result<PowerSeries, ParseError> {
    let b: Body =
        serde_json::from_slice(body).map_err(|e| ParseError::Malformed(format!("JSON: {e}")))?;
    if b.error {
        return Err(ParseError::Refused(
            b.reason.unwrap_or_else(|| "error".into()),
        ));
    }
    let m = b
        .minutely_15
        .ok_or_else(|| ParseError::Malformed("no minutely_15".into()))?;
    if m.global_tilted_irradiance_instant.len() != m.time.len()
        || m.temperature_2m.len() != m.time.len()
    {
        return Err(ParseError::Malformed(
            "minutely_15 arrays of different lengths".into(),
        ));
    }
    let samples = m
        .time
        .iter()
        .zip(&m.global_tilted_irradiance_instant)
        .zip(&m.temperature_2m)
        .filter_map(|((&t, gti), temp)| {
            Some(PowerSample {
                at: Timestamp::from_unix_secs(t),
                power: array.power((*gti)?, temp.unwrap_or(25.0)),
            })
        })
        .collect();
    Ok(PowerSeries::new(samples))
}

#[cfg(test)]
mod tests {
    use super::*;
    use units::Watts;

    fn array() -> PanelArray {
        PanelArray {
            kwp: 10.0,
            tilt_deg: 30.0,
            azimuth_deg: 0.0,
            losses: 0.14,
            ac_limit_w: None,
        }
    }

    #[test]
    fn irradiance_becomes_power() {
        let b = br#"{"latitude":52.52,"longitude":13.42,"utc_offset_seconds":0,"timezone":"GMT","minutely_15_units":{"time":"unixtime","temperature_2m":"\u00b0C","global_tilted_irradiance_instant":"W/m\u00b2"},"minutely_15":{"time":[1782000000,1782000900,1782001800],"temperature_2m":[-5.0,null,20.0],"global_tilted_irradiance_instant":[1000.0,500.0,null]}}"#;
        let s = parse(b, &array()).unwrap();
        assert_eq!(s.samples().len(), 2);
        assert!((s.samples()[0].power.0 - 8600.0).abs() < 1e-6);
        // 500 W/m² at 25 °C air: cell 40 °C, −6 %.
        assert!((s.samples()[1].power.0 - 4300.0 * 0.94).abs() < 1e-6);
        let _ = Watts(0.0);
    }

    #[test]
    fn errors_and_ragged_arrays_are_reported() {
        let e = parse(
            br#"{"error":true,"reason":"Latitude must be in range of -90 to 90"}"#,
            &array(),
        );
        assert!(matches!(e, Err(ParseError::Refused(r)) if r.contains("Latitude")));
        let e = parse(br#"{"minutely_15":{"time":[1],"temperature_2m":[],"global_tilted_irradiance_instant":[1]}}"#, &array());
        assert!(matches!(e, Err(ParseError::Malformed(_))));
    }
}
