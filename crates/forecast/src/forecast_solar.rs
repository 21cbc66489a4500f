//! forecast.solar: `GET https://api.forecast.solar/[<apikey>/]estimate/<lat>/<lon>/<dec>/<az>/
//! <kwp>?time=utc` answers `{"result":{"watts":{"<time>":W,…},…},"message":{"code":0,"type":
//! "success",…}}`; errors (rate limit, bad place) come with `"type":"error"` and a `text`
//! (`shared/docs/ems-research.md` §5). The watts are the array's estimated power at each instant.

use std::collections::BTreeMap;

use serde::Deserialize;
use tariffs::{HttpRequest, ParseError};
use units::{Timestamp, Watts};

use crate::{PanelArray, PowerSample, PowerSeries};

/// The API.
pub const BASE: &str = "https://api.forecast.solar/";

/// The request for `array` at latitude/longitude.
pub fn request(
    base: &url::Url,
    api_key: Option<&str>,
    lat: f64,
    lon: f64,
    array: &PanelArray,
) -> Result<HttpRequest, String> {
    let key = api_key.map(|k| format!("{k}/")).unwrap_or_default();
    let path = format!(
        "{key}estimate/{lat}/{lon}/{}/{}/{}",
        array.tilt_deg, array.azimuth_deg, array.kwp
    );
    let mut u = base
        .join(&path)
        .map_err(|e| format!("bad base URL {base}: {e}"))?;
    u.query_pairs_mut().append_pair("time", "utc");
    let mut r = HttpRequest::get(u);
    r.secrets.extend(api_key.map(str::to_owned));
    Ok(r)
}

#[derive(Deserialize)]
struct Body {
    result: Option<ResultBody>,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct ResultBody {
    watts: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
}

/// The text of an error answer, if it is one.
pub fn refusal(body: &[u8]) -> Option<String> {
    let b: Body = serde_json::from_slice(body).ok()?;
    let m = b.message?;
    (m.kind.as_deref() == Some("error")).then(|| m.text.unwrap_or_else(|| "error".into()))
}

/// Parses an estimate; the power is clamped to the array's AC limit.
pub fn parse(body: &[u8], array: &PanelArray) -> Result<PowerSeries, ParseError> {
    let b: Body =
        serde_json::from_slice(body).map_err(|e| ParseError::Malformed(format!("JSON: {e}")))?;
    if let Some(reason) = refusal(body) {
        return Err(ParseError::Refused(reason));
    }
    let result = b
        .result
        .ok_or_else(|| ParseError::Malformed("no result".into()))?;
    let mut out = Vec::with_capacity(result.watts.len());
    for (time, w) in result.watts {
        let at = parse_time(&time)?;
        let w = if w.is_finite() { w.max(0.0) } else { 0.0 };
        out.push(PowerSample {
            at,
            power: Watts(array.ac_limit_w.map_or(w, |l| w.min(l.0))),
        });
    }
    Ok(PowerSeries::new(out))
}

/// `2026-06-21T04:00:00+00:00` (with `time=utc`), or `2026-06-21 04:00:00` taken as UTC.
fn parse_time(s: &str) -> Result<Timestamp, ParseError> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(Timestamp::from_jiff(t));
    }
    s.replace(' ', "T")
        .parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| jiff::tz::TimeZone::UTC.to_timestamp(dt).ok())
        .map(Timestamp::from_jiff)
        .ok_or_else(|| ParseError::Malformed(format!("bad time {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array() -> PanelArray {
        PanelArray {
            kwp: 5.0,
            tilt_deg: 30.0,
            azimuth_deg: -90.0,
            losses: 0.14,
            ac_limit_w: Some(Watts(3000.0)),
        }
    }

    #[test]
    fn estimates_parse_and_clip() {
        let b = br#"{"result":{"watts":{"2026-06-21T03:00:00+00:00":0,"2026-06-21T09:00:00+00:00":3500,"2026-06-21T04:00:00+00:00":120},"watt_hours_day":{"2026-06-21":30000}},"message":{"code":0,"type":"success","text":"","info":{"place":"x","timezone":"Europe/Berlin"},"ratelimit":{"period":3600,"limit":12,"remaining":10}}}"#;
        let s = parse(b, &array()).unwrap();
        assert_eq!(s.samples().len(), 3);
        assert_eq!(s.samples()[1].power, Watts(120.0));
        assert_eq!(s.samples()[2].power, Watts(3000.0));
    }

    #[test]
    fn errors_are_refusals() {
        let b = br#"{"result":null,"message":{"code":429,"type":"error","text":"Rate limit for API calls reached."}}"#;
        assert_eq!(
            parse(b, &array()),
            Err(ParseError::Refused(
                "Rate limit for API calls reached.".into()
            ))
        );
    }

    #[test]
    fn the_request_has_the_documented_path() {
        let r = request(&url::Url::parse(BASE).unwrap(), None, 52.5, 13.4, &array()).unwrap();
        assert_eq!(
            r.url.as_str(),
            "https://api.forecast.solar/estimate/52.5/13.4/30/-90/5?time=utc"
        );
        let r = request(
            &url::Url::parse(BASE).unwrap(),
            Some("k3y"),
            52.5,
            13.4,
            &array(),
        )
        .unwrap();
        assert!(r.url.path().starts_with("/k3y/estimate/"));
        assert!(!r.redacted_url().contains("k3y"));
    }
}
