//! Energi Data Service (Denmark, DK1/DK2), dataset `DayAheadPrices`:
//! `GET https://api.energidataservice.dk/dataset/DayAheadPrices?start=…&end=…&filter=
//! {"PriceArea":["DK1"]}` answers `{"records":[{"TimeUTC":"2025-10-02T22:00:00","PriceArea":
//! "DK1","DayAheadPriceDKK":612.3,"DayAheadPriceEUR":82.1}]}`: 15-minute slots, per MWh, times in
//! UTC without an offset. The legacy hourly dataset `Elspotprices` (until 2025-09-30) has
//! `HourUTC` and `SpotPriceDKK`/`SpotPriceEUR` and is read too (`shared/docs/ems-research.md`
//! §3e).

use serde::Deserialize;
use units::{PricePerKwh, Timestamp};

use crate::{HttpRequest, ParseError, PriceSlot, normalise, parse_utc_civil, plus_minutes};

/// The API.
pub const BASE: &str = "https://api.energidataservice.dk";

/// The currency of the price column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    /// Danish kroner.
    #[default]
    Dkk,
    /// Euro.
    Eur,
}

/// The request for `[from, to)` in `area` (`DK1`, `DK2`).
pub fn request(
    base: &url::Url,
    area: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<HttpRequest, String> {
    let mut u = base
        .join("dataset/DayAheadPrices")
        .map_err(|e| format!("bad base URL {base}: {e}"))?;
    let fmt = |t: Timestamp| t.to_jiff().strftime("%Y-%m-%dT%H:%M").to_string();
    u.query_pairs_mut()
        .append_pair("start", &fmt(from))
        .append_pair("end", &fmt(to))
        .append_pair("timezone", "UTC")
        .append_pair(
            "filter",
            &serde_json::json!({ "PriceArea": [area] }).to_string(),
        )
        .append_pair("sort", "TimeUTC");
    Ok(HttpRequest::get(u))
}

#[derive(Deserialize)]
struct Body {
    records: Vec<Record>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Record {
    #[serde(rename = "TimeUTC")]
    time_utc: Option<String>,
    #[serde(rename = "HourUTC")]
    hour_utc: Option<String>,
    price_area: Option<String>,
    #[serde(rename = "DayAheadPriceDKK")]
    day_ahead_price_dkk: Option<f64>,
    #[serde(rename = "DayAheadPriceEUR")]
    day_ahead_price_eur: Option<f64>,
    #[serde(rename = "SpotPriceDKK")]
    spot_price_dkk: Option<f64>,
    #[serde(rename = "SpotPriceEUR")]
    spot_price_eur: Option<f64>,
}

/// Parses either dataset into prices per kWh in `currency` for `area`. A record without a
/// price (not yet published in that currency) is skipped.
pub fn parse(body: &[u8], area: &str, currency: Currency) -> Result<Vec<PriceSlot>, ParseError> {
    let b: Body = serde_json::from_slice(body).map_err(ParseError::json)?;
    let mut out = Vec::with_capacity(b.records.len());
    for r in b.records {
        if r.price_area.as_deref().is_some_and(|a| a != area) {
            continue;
        }
        let (time, minutes, price) = match (&r.time_utc, &r.hour_utc) {
            (Some(t), _) => (
                t,
                15,
                match currency {
                    Currency::Dkk => r.day_ahead_price_dkk,
                    Currency::Eur => r.day_ahead_price_eur,
                },
            ),
            (None, Some(t)) => (
                t,
                60,
                match currency {
                    Currency::Dkk => r.spot_price_dkk,
                    Currency::Eur => r.spot_price_eur,
                },
            ),
            (None, None) => {
                return Err(ParseError::Malformed(
                    "a record without TimeUTC or HourUTC".into(),
                ));
            }
        };
        let Some(price) = price else { continue };
        let start = parse_utc_civil(time)?;
        out.push(PriceSlot {
            start,
            end: plus_minutes(start, minutes),
            price: PricePerKwh(price / 1000.0),
        });
    }
    Ok(normalise(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_datasets_parse() {
        let b = br#"{"records":[{"TimeUTC":"2025-10-02T22:00:00","TimeDK":"2025-10-03T00:00:00","PriceArea":"DK1","DayAheadPriceDKK":612.3,"DayAheadPriceEUR":82.06},{"TimeUTC":"2025-10-02T22:00:00","PriceArea":"DK2","DayAheadPriceDKK":1.0}]}"#;
        let s = parse(b, "DK1", Currency::Dkk).unwrap();
        assert_eq!(s.len(), 1);
        assert!((s[0].price.0 - 0.6123).abs() < 1e-12);
        assert_eq!(
            s[0].end,
            Timestamp::parse_rfc3339("2025-10-02T22:15:00Z").unwrap()
        );
        let legacy = br#"{"records":[{"HourUTC":"2025-09-01T10:00:00","HourDK":"2025-09-01T12:00:00","PriceArea":"DK1","SpotPriceDKK":500.0,"SpotPriceEUR":67.0}]}"#;
        let s = parse(legacy, "DK1", Currency::Eur).unwrap();
        assert!((s[0].price.0 - 0.067).abs() < 1e-12);
        assert_eq!(
            s[0].end,
            Timestamp::parse_rfc3339("2025-09-01T11:00:00Z").unwrap()
        );
    }
}
