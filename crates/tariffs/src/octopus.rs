//! Octopus Energy (UK) Agile: `GET https://api.octopus.energy/v1/products/<PRODUCT>/
//! electricity-tariffs/E-1R-<PRODUCT>-<REGION>/standard-unit-rates/?period_from=…&period_to=…`
//! answers `{"count":…,"next":…,"results":[{"value_exc_vat":…,"value_inc_vat":…,"valid_from":
//! "…Z","valid_to":"…Z","payment_method":null}]}`: half-hour slots in pence per kWh, newest
//! first (`shared/docs/ems-research.md` §3e, evcc `tariff/octopus`). Agile is an end-user price
//! already; pounds per kWh out.

use serde::Deserialize;
use units::{PricePerKwh, Timestamp};

use crate::{HttpRequest, ParseError, PriceSlot, normalise, parse_instant};

/// The API.
pub const BASE: &str = "https://api.octopus.energy";

/// The request for `[from, to)`: product code (`AGILE-24-10-01`) and region letter (`A`–`P`).
/// One page of 1500 rates covers a month of half hours, far more than the day ahead.
pub fn request(
    base: &url::Url,
    product: &str,
    region: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<HttpRequest, String> {
    let path = format!(
        "v1/products/{product}/electricity-tariffs/E-1R-{product}-{region}/standard-unit-rates/"
    );
    let mut u = base
        .join(&path)
        .map_err(|e| format!("bad base URL {base}: {e}"))?;
    u.query_pairs_mut()
        .append_pair("period_from", &from.to_string())
        .append_pair("period_to", &to.to_string())
        .append_pair("page_size", "1500");
    Ok(HttpRequest::get(u))
}

#[derive(Deserialize)]
struct Body {
    results: Vec<Rate>,
}

#[derive(Deserialize)]
struct Rate {
    value_exc_vat: f64,
    value_inc_vat: f64,
    valid_from: String,
    valid_to: Option<String>,
}

/// Parses a page of unit rates, with or without VAT, into pounds per kWh.
pub fn parse(body: &[u8], inc_vat: bool) -> Result<Vec<PriceSlot>, ParseError> {
    let b: Body = serde_json::from_slice(body).map_err(ParseError::json)?;
    let mut out = Vec::with_capacity(b.results.len());
    for r in b.results {
        let Some(to) = &r.valid_to else {
            // An open-ended rate is a fixed tariff's, not Agile's half hours.
            return Err(ParseError::Malformed(format!(
                "rate from {} has no valid_to: not an Agile tariff?",
                r.valid_from
            )));
        };
        let pence = if inc_vat {
            r.value_inc_vat
        } else {
            r.value_exc_vat
        };
        out.push(PriceSlot {
            start: parse_instant(&r.valid_from)?,
            end: parse_instant(to)?,
            price: PricePerKwh(pence / 100.0),
        });
    }
    Ok(normalise(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_newest_first_in_pence() {
        let b = br#"{"count":2,"next":null,"previous":null,"results":[
{"value_exc_vat":20.0,"value_inc_vat":21.0,"valid_from":"2026-01-01T00:30:00Z","valid_to":"2026-01-01T01:00:00Z","payment_method":null},
{"value_exc_vat":10.0,"value_inc_vat":10.5,"valid_from":"2026-01-01T00:00:00Z","valid_to":"2026-01-01T00:30:00Z","payment_method":null}]}"#;
        let s = parse(b, true).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].price, PricePerKwh(0.105));
        assert_eq!(s[1].price, PricePerKwh(0.21));
        assert_eq!(parse(b, false).unwrap()[0].price, PricePerKwh(0.1));
    }
}
