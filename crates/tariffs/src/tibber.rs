//! Tibber: `POST https://api.tibber.com/v1-beta/gql` with `Authorization: Bearer <token>` and a
//! GraphQL query for `priceInfo(resolution: QUARTER_HOURLY)`; the answer lists `today` and
//! `tomorrow` (empty until published) with `total` (all-in, taxes included), `energy` (the spot
//! part) and `startsAt` (`shared/docs/ems-research.md` §3e, evcc `tariff/tibber.go`: a slot ends
//! at `startsAt` plus the resolution).

use serde::Deserialize;
use units::{PricePerKwh, Timestamp};

use crate::{HttpRequest, Method, ParseError, PriceSlot, normalise, parse_instant, plus_minutes};

/// The API.
pub const BASE: &str = "https://api.tibber.com/v1-beta/gql";

/// Which of Tibber's prices to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    /// `total`: what the customer pays per kWh (energy, grid, taxes).
    #[default]
    Total,
    /// `energy`: the spot part, to apply one's own formula to.
    Energy,
}

/// The request: the price info of every home, in slots of `slot_minutes` (15 or 60).
pub fn request(base: &url::Url, token: &str, slot_minutes: i64) -> HttpRequest {
    let resolution = if slot_minutes == 15 {
        "QUARTER_HOURLY"
    } else {
        "HOURLY"
    };
    let query = format!(
        "{{ viewer {{ homes {{ id currentSubscription {{ priceInfo(resolution: {resolution}) {{ \
         today {{ total energy tax startsAt }} tomorrow {{ total energy tax startsAt }} }} }} }} }} }}"
    );
    HttpRequest {
        method: Method::Post,
        url: base.clone(),
        headers: vec![
            ("Authorization".into(), format!("Bearer {token}")),
            ("Content-Type".into(), "application/json".into()),
        ],
        body: Some(serde_json::json!({ "query": query }).to_string()),
        secrets: vec![token.to_owned()],
    }
}

#[derive(Deserialize)]
struct Body {
    data: Option<Data>,
    #[serde(default)]
    errors: Vec<GqlError>,
}

#[derive(Deserialize)]
struct GqlError {
    message: String,
}

#[derive(Deserialize)]
struct Data {
    viewer: Viewer,
}

#[derive(Deserialize)]
struct Viewer {
    homes: Vec<Home>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Home {
    #[serde(default)]
    id: Option<String>,
    current_subscription: Option<Subscription>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    price_info: PriceInfo,
}

#[derive(Deserialize)]
struct PriceInfo {
    #[serde(default)]
    today: Vec<Price>,
    #[serde(default)]
    tomorrow: Vec<Price>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Price {
    total: Option<f64>,
    energy: Option<f64>,
    starts_at: String,
}

/// Parses the answer: the prices of home `home_id` (else the first home with a subscription), in
/// slots of `slot_minutes`.
pub fn parse(
    body: &[u8],
    home_id: Option<&str>,
    component: Component,
    slot_minutes: i64,
) -> Result<Vec<PriceSlot>, ParseError> {
    let b: Body = serde_json::from_slice(body).map_err(ParseError::json)?;
    if let Some(e) = b.errors.first() {
        return Err(ParseError::Refused(e.message.clone()));
    }
    let data = b
        .data
        .ok_or_else(|| ParseError::Malformed("neither data nor errors".into()))?;
    let home = data
        .viewer
        .homes
        .into_iter()
        .filter(|h| home_id.is_none_or(|id| h.id.as_deref() == Some(id)))
        .find(|h| h.current_subscription.is_some())
        .ok_or_else(|| match home_id {
            Some(id) => ParseError::Refused(format!("no home {id:?} with a subscription")),
            None => ParseError::Refused("no home with a subscription".into()),
        })?;
    let info = home
        .current_subscription
        .map(|s| s.price_info)
        .ok_or_else(|| ParseError::Malformed("no subscription".into()))?;
    let mut out = Vec::new();
    for p in info.today.into_iter().chain(info.tomorrow) {
        let start: Timestamp = parse_instant(&p.starts_at)?;
        let value = match component {
            Component::Total => p.total,
            Component::Energy => p.energy,
        }
        .ok_or_else(|| {
            ParseError::Malformed(format!("no {component:?} price at {}", p.starts_at))
        })?;
        out.push(PriceSlot {
            start,
            end: plus_minutes(start, slot_minutes),
            price: PricePerKwh(value),
        });
    }
    Ok(normalise(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = br#"{"data":{"viewer":{"homes":[{"currentSubscription":{"priceInfo":{"today":[{"total":0.3124,"energy":0.087,"tax":0.2254,"startsAt":"2025-10-08T05:00:00.000+02:00"}],"tomorrow":[]}}}]}}}"#;

    #[test]
    fn the_documented_sample_parses() {
        let s = parse(SAMPLE, None, Component::Total, 15).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].start,
            Timestamp::parse_rfc3339("2025-10-08T03:00:00Z").unwrap()
        );
        assert_eq!(
            s[0].end,
            Timestamp::parse_rfc3339("2025-10-08T03:15:00Z").unwrap()
        );
        assert_eq!(s[0].price, PricePerKwh(0.3124));
        let e = parse(SAMPLE, None, Component::Energy, 15).unwrap();
        assert_eq!(e[0].price, PricePerKwh(0.087));
        assert!(matches!(
            parse(SAMPLE, Some("other"), Component::Total, 15),
            Err(ParseError::Refused(_))
        ));
    }

    #[test]
    fn graphql_errors_are_refusals() {
        let b = br#"{"errors":[{"message":"Context creation failed: invalid token"}],"data":null}"#;
        let e = parse(b, None, Component::Total, 15).unwrap_err();
        assert!(e.to_string().contains("invalid token"), "{e}");
    }

    #[test]
    fn the_request_carries_the_token_and_resolution() {
        let r = request(&url::Url::parse(BASE).unwrap(), "tok", 15);
        assert_eq!(r.method, Method::Post);
        assert!(
            r.headers
                .contains(&("Authorization".into(), "Bearer tok".into()))
        );
        assert!(r.body.unwrap().contains("QUARTER_HOURLY"));
    }
}
