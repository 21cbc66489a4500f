//! Electricity prices over time, from day-ahead markets and tariffs.
//!
//! Each provider is a sans-IO pair: [`Provider::request`] says what to ask for a window, and
//! [`Provider::parse`] turns the response body into [`PriceSlot`]s of spot (or all-in) prices in
//! currency per kWh. Formats: `shared/docs/ems-research.md` §3e. [`PriceFormula`] turns a spot
//! price into the end-user price, [`FeedIn`] into the export price. The only I/O is in
//! [`fetch`]: one tokio task per provider fetches on a [`Schedule`] (day-ahead publication
//! times, backoff after errors), keeps a disk cache, and publishes into a [`PriceFeed`], the
//! [`devices::Tariff`] the controller reads.

pub mod awattar;
mod book;
mod config;
pub mod energidataservice;
pub mod entsoe;
#[cfg(feature = "fetch")]
pub mod fetch;
mod formula;
pub mod octopus;
mod provider;
mod request;
mod schedule;
pub mod tibber;
mod tou;

pub use book::{CacheError, FeedStatus, PriceCache, PriceFeed};
#[cfg(feature = "fetch")]
pub use config::Built;
pub use config::{Country, FileFormat, PricesConfig, ProviderConfig, read_file};
pub use devices::{PriceSlot, Tariff};
pub use formula::{FeedIn, PriceFormula};
pub use provider::{FetchError, ParseError, Provider, RequestError};
pub use request::{HttpRequest, Method};
pub use schedule::{Backoff, Schedule};
pub use tou::{Day, TimeOfUse, TouRate};

use units::Timestamp;

/// Microseconds in a minute.
const MINUTE_US: i64 = 60_000_000;

/// `t` plus `minutes`.
fn plus_minutes(t: Timestamp, minutes: i64) -> Timestamp {
    Timestamp::from_unix_micros(t.as_unix_micros().saturating_add(minutes * MINUTE_US))
}

/// Parses an RFC 3339 / ISO 8601 instant with an offset or `Z` (seconds optional, as ENTSO-E
/// writes `2026-01-01T23:00Z`).
fn parse_instant(s: &str) -> Result<Timestamp, ParseError> {
    let s = s.trim();
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(Timestamp::from_jiff(t));
    }
    // `…T23:00Z`: add the seconds jiff wants.
    if let Some(head) = s.strip_suffix('Z')
        && head.len() == 16
        && let Ok(t) = format!("{head}:00Z").parse::<jiff::Timestamp>()
    {
        return Ok(Timestamp::from_jiff(t));
    }
    Err(ParseError::Malformed(format!("bad timestamp {s:?}")))
}

/// Parses a date-time without offset that the source documents as UTC (`2025-10-02T22:00:00`).
fn parse_utc_civil(s: &str) -> Result<Timestamp, ParseError> {
    let dt: jiff::civil::DateTime = s
        .trim()
        .parse()
        .map_err(|_| ParseError::Malformed(format!("bad UTC date-time {s:?}")))?;
    jiff::tz::TimeZone::UTC
        .to_timestamp(dt)
        .map(Timestamp::from_jiff)
        .map_err(|_| ParseError::Malformed(format!("date-time out of range {s:?}")))
}

/// Sorts slots, drops empty or non-finite ones and, where two overlap, keeps the first given.
fn normalise(mut slots: Vec<PriceSlot>) -> Vec<PriceSlot> {
    slots.retain(|s| s.start < s.end && s.price.0.is_finite());
    // Stable: among equal starts the earlier-given slot stays first and wins.
    slots.sort_by_key(|s| s.start);
    let mut out: Vec<PriceSlot> = Vec::with_capacity(slots.len());
    for s in slots {
        if out.last().is_some_and(|last| s.start < last.end) {
            continue;
        }
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use units::PricePerKwh;

    #[test]
    fn instants_parse_with_and_without_seconds() {
        let a = parse_instant("2026-01-01T23:00Z").unwrap();
        let b = parse_instant("2026-01-01T23:00:00Z").unwrap();
        let c = parse_instant("2026-01-02T00:00:00.000+01:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(parse_utc_civil("2026-01-01T23:00:00").unwrap(), a);
        assert!(parse_instant("yesterday").is_err());
    }

    #[test]
    fn normalise_sorts_and_drops_overlaps() {
        let s = |a: i64, b: i64, p: f64| PriceSlot {
            start: Timestamp::from_unix_secs(a),
            end: Timestamp::from_unix_secs(b),
            price: PricePerKwh(p),
        };
        let out = normalise(vec![
            s(900, 1800, 2.0),
            s(0, 900, 1.0),
            s(0, 1800, 9.0),
            s(5, 5, 0.0),
        ]);
        assert_eq!(out, vec![s(0, 900, 1.0), s(900, 1800, 2.0)]);
    }
}
