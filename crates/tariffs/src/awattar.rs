//! aWATTar (Germany, Austria): `GET https://api.awattar.{de|at}/v1/marketdata?start=<ms>&end=<ms>`
//! answers `{"object":"list","data":[{"start_timestamp":ms,"end_timestamp":ms,"marketprice":
//! 42.09,"unit":"Eur/MWh"}],"url":…}`: the day-ahead spot price in EUR/MWh without VAT
//! (`shared/docs/ems-research.md` §3e, evcc `tariff/awattar/api.go`). Slots are whatever the
//! API returns (60 min, 15 min since the market moved to quarter hours).

use serde::Deserialize;
use units::{PricePerKwh, Timestamp};

use crate::{HttpRequest, ParseError, PriceSlot, normalise};

/// The API for Germany.
pub const BASE_DE: &str = "https://api.awattar.de";
/// The API for Austria.
pub const BASE_AT: &str = "https://api.awattar.at";

#[derive(Deserialize)]
struct Body {
    data: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    start_timestamp: i64,
    end_timestamp: i64,
    marketprice: f64,
    unit: String,
}

/// The request for `[from, to)` against `base` (the country's API or a test server).
pub fn request(base: &url::Url, from: Timestamp, to: Timestamp) -> Result<HttpRequest, String> {
    let mut u = base
        .join("v1/marketdata")
        .map_err(|e| format!("bad base URL {base}: {e}"))?;
    let ms = |t: Timestamp| (t.as_unix_micros() / 1000).to_string();
    u.query_pairs_mut()
        .append_pair("start", &ms(from))
        .append_pair("end", &ms(to));
    Ok(HttpRequest::get(u))
}

/// Parses a `marketdata` body into spot prices per kWh.
pub fn parse(body: &[u8]) -> Result<Vec<PriceSlot>, ParseError> {
    let b: Body = serde_json::from_slice(body).map_err(ParseError::json)?;
    let mut out = Vec::with_capacity(b.data.len());
    for e in b.data {
        let per_kwh = match e.unit.to_ascii_lowercase().as_str() {
            "eur/mwh" => 1e-3,
            "eur/kwh" => 1.0,
            _ => return Err(ParseError::Malformed(format!("unknown unit {:?}", e.unit))),
        };
        let ms = |v: i64| Timestamp::from_unix_micros(v.saturating_mul(1000));
        out.push(PriceSlot {
            start: ms(e.start_timestamp),
            end: ms(e.end_timestamp),
            price: PricePerKwh(e.marketprice * per_kwh),
        });
    }
    Ok(normalise(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_sample_parses() {
        let body = br#"{"object":"list","data":[{"start_timestamp":1428591600000,"end_timestamp":1428595200000,"marketprice":42.09,"unit":"Eur/MWh"}],"url":"/at/v1/marketdata"}"#;
        let s = parse(body).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].start, Timestamp::from_unix_secs(1_428_591_600));
        assert_eq!(s[0].end, Timestamp::from_unix_secs(1_428_595_200));
        assert!((s[0].price.0 - 0.04209).abs() < 1e-12);
        assert!(parse(br#"{"data":[{"start_timestamp":0,"end_timestamp":1,"marketprice":1,"unit":"ct"}]}"#).is_err());
    }

    #[test]
    fn the_request_asks_for_milliseconds() {
        let r = request(
            &url::Url::parse(BASE_DE).unwrap(),
            Timestamp::from_unix_secs(1),
            Timestamp::from_unix_secs(2),
        )
        .unwrap();
        assert_eq!(
            r.url.as_str(),
            "https://api.awattar.de/v1/marketdata?start=1000&end=2000"
        );
    }
}
