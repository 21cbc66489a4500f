//! ENTSO-E Transparency Platform, day-ahead prices (document type A44):
//! `GET https://web-api.tp.entsoe.eu/api?securityToken=…&documentType=A44&in_Domain=<EIC>&
//! out_Domain=<EIC>&periodStart=YYYYMMDDHHMM&periodEnd=YYYYMMDDHHMM` (UTC) answers a
//! `Publication_MarketDocument`: `TimeSeries` with `Period`s of a `timeInterval`, a `resolution`
//! (`PT15M`, `PT30M`, `PT60M`) and `Point`s (`position` from 1, `price.amount` in EUR/MWh).
//! Rules (`shared/docs/ems-research.md` §3e, after evcc `tariff/entsoe`): with curve type A03
//! positions whose price did not change are omitted and repeat the previous one; pick the
//! wanted resolution; where several series cover the same time keep the lowest
//! `classificationSequence…position`; errors come as an `Acknowledgement_MarketDocument` with a
//! `Reason`.

use quick_xml::Reader;
use quick_xml::events::Event;
use units::{PricePerKwh, Timestamp};

use crate::{HttpRequest, ParseError, PriceSlot, normalise, parse_instant, plus_minutes};

/// The API.
pub const BASE: &str = "https://web-api.tp.entsoe.eu/api";
/// Bidding zone DE-LU.
pub const DE_LU: &str = "10Y1001A1001A82H";

/// The request for `[from, to)` in bidding zone `domain` (an EIC code).
pub fn request(
    base: &url::Url,
    token: &str,
    domain: &str,
    from: Timestamp,
    to: Timestamp,
) -> HttpRequest {
    let fmt = |t: Timestamp| t.to_jiff().strftime("%Y%m%d%H%M").to_string();
    let mut u = base.clone();
    u.query_pairs_mut()
        .append_pair("securityToken", token)
        .append_pair("documentType", "A44")
        .append_pair("in_Domain", domain)
        .append_pair("out_Domain", domain)
        .append_pair("periodStart", &fmt(from))
        .append_pair("periodEnd", &fmt(to));
    HttpRequest::get(u)
}

#[derive(Debug, Default)]
struct Series {
    classification: u32,
    curve: String,
    periods: Vec<Period>,
}

#[derive(Debug, Default)]
struct Period {
    start: String,
    end: String,
    resolution: String,
    points: Vec<(u32, f64)>,
}

/// The most slots one period may have: a year of quarter hours (the API's longest request), so
/// that a hostile period cannot make the A03 filling allocate without bound.
const MAX_PERIOD_SLOTS: i64 = 366 * 96;

/// Minutes of an ISO 8601 resolution the market uses.
fn resolution_minutes(r: &str) -> Option<i64> {
    match r.trim() {
        "PT15M" => Some(15),
        "PT30M" => Some(30),
        "PT60M" | "PT1H" => Some(60),
        _ => None,
    }
}

/// Parses a day-ahead document into spot prices per kWh, preferring slots of `want_minutes`
/// (else the finest resolution the document has).
pub fn parse(body: &[u8], want_minutes: i64) -> Result<Vec<PriceSlot>, ParseError> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut series: Vec<Series> = Vec::new();
    let mut point: (Option<u32>, Option<f64>) = (None, None);
    let mut root: Option<String> = None;
    let mut reason = String::new();
    let mut buf = Vec::new();
    let malformed = |e: &dyn std::fmt::Display| ParseError::Malformed(format!("XML: {e}"));
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(|e| malformed(&e))?
        {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if root.is_none() {
                    root = Some(name.clone());
                }
                match name.as_str() {
                    "TimeSeries" => series.push(Series {
                        classification: 1,
                        ..Series::default()
                    }),
                    "Period" => {
                        if let Some(s) = series.last_mut() {
                            s.periods.push(Period::default());
                        }
                    }
                    "Point" => point = (None, None),
                    _ => {}
                }
                path.push(name);
            }
            Event::End(_) => {
                if path.last().map(String::as_str) == Some("Point") {
                    let (Some(pos), Some(price)) = point else {
                        return Err(ParseError::Malformed(
                            "a Point without position or price.amount".into(),
                        ));
                    };
                    if let Some(p) = series.last_mut().and_then(|s| s.periods.last_mut()) {
                        p.points.push((pos, price));
                    }
                }
                path.pop();
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| malformed(&e))?.into_owned();
                let leaf = path.last().map(String::as_str).unwrap_or("");
                let parent = path
                    .len()
                    .checked_sub(2)
                    .and_then(|i| path.get(i))
                    .map(String::as_str)
                    .unwrap_or("");
                let num =
                    |what: &str| ParseError::Malformed(format!("{what}: not a number: {text:?}"));
                match (parent, leaf) {
                    ("Reason", "text") => reason = text,
                    ("Point", "position") => {
                        point.0 = Some(text.trim().parse().map_err(|_| num("position"))?);
                    }
                    ("Point", "price.amount") => {
                        point.1 = Some(text.trim().parse().map_err(|_| num("price.amount"))?);
                    }
                    ("TimeSeries", "curveType") => {
                        if let Some(s) = series.last_mut() {
                            s.curve = text;
                        }
                    }
                    (
                        "TimeSeries",
                        "classificationSequence_AttributeInstanceComponent.position",
                    ) => {
                        if let Some(s) = series.last_mut() {
                            s.classification =
                                text.trim().parse().map_err(|_| num("classification"))?;
                        }
                    }
                    ("Period", "resolution") => {
                        if let Some(p) = series.last_mut().and_then(|s| s.periods.last_mut()) {
                            p.resolution = text;
                        }
                    }
                    ("timeInterval", "start" | "end") => {
                        let in_period = path.len() >= 3
                            && path.get(path.len() - 3).map(String::as_str) == Some("Period");
                        if in_period
                            && let Some(p) = series.last_mut().and_then(|s| s.periods.last_mut())
                        {
                            if leaf == "start" {
                                p.start = text;
                            } else {
                                p.end = text;
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    match root.as_deref() {
        Some("Publication_MarketDocument") => {}
        Some("Acknowledgement_MarketDocument") => {
            return Err(ParseError::Refused(if reason.is_empty() {
                "acknowledgement without a reason".into()
            } else {
                reason
            }));
        }
        Some(other) => {
            return Err(ParseError::Malformed(format!(
                "unexpected document {other:?}"
            )));
        }
        None => return Err(ParseError::Malformed("empty document".into())),
    }
    // The resolution: the wanted one if present, else the finest.
    let present: Vec<i64> = series
        .iter()
        .flat_map(|s| &s.periods)
        .filter_map(|p| resolution_minutes(&p.resolution))
        .collect();
    let Some(res) = (if present.contains(&want_minutes) {
        Some(want_minutes)
    } else {
        present.iter().copied().min()
    }) else {
        return Ok(Vec::new());
    };
    // Lowest classification first: `normalise` keeps the first of overlapping slots.
    series.sort_by_key(|s| s.classification);
    let mut out = Vec::new();
    for s in &series {
        let fill = s.curve.trim() == "A03";
        for p in &s.periods {
            if resolution_minutes(&p.resolution) != Some(res) {
                continue;
            }
            period_slots(p, res, fill, &mut out)?;
        }
    }
    Ok(normalise(out))
}

/// The slots of one period. With `fill` (curve A03), omitted positions repeat the previous
/// point up to the end of the period.
fn period_slots(
    p: &Period,
    res: i64,
    fill: bool,
    out: &mut Vec<PriceSlot>,
) -> Result<(), ParseError> {
    let start = parse_instant(&p.start)?;
    let end = parse_instant(&p.end)?;
    let span_min = end.as_unix_micros().saturating_sub(start.as_unix_micros()) / crate::MINUTE_US;
    if span_min <= 0 || span_min % res != 0 {
        return Err(ParseError::Malformed(format!(
            "period {} to {} is not a whole number of {res}-minute slots",
            p.start, p.end
        )));
    }
    let count = span_min / res;
    if count > MAX_PERIOD_SLOTS {
        return Err(ParseError::Malformed(format!(
            "period {} to {} is longer than a year",
            p.start, p.end
        )));
    }
    let mut points = p.points.clone();
    points.sort_by_key(|(pos, _)| *pos);
    let slot = |pos: i64, price: f64| {
        let s = plus_minutes(start, (pos - 1) * res);
        PriceSlot {
            start: s,
            end: plus_minutes(s, res),
            price: PricePerKwh(price / 1000.0),
        }
    };
    for (i, &(pos, price)) in points.iter().enumerate() {
        let pos = i64::from(pos);
        if pos < 1 || pos > count {
            return Err(ParseError::Malformed(format!(
                "position {pos} outside the period's {count} slots"
            )));
        }
        let next = if fill {
            points.get(i + 1).map_or(count + 1, |&(n, _)| i64::from(n))
        } else {
            pos + 1
        };
        for q in pos..next.min(count + 1) {
            out.push(slot(q, price));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(curve: &str, resolution: &str, points: &[(u32, f64)]) -> String {
        let pts: String = points
            .iter()
            .map(|(p, v)| {
                format!("<Point><position>{p}</position><price.amount>{v}</price.amount></Point>")
            })
            .collect();
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3">
<type>A44</type>
<period.timeInterval><start>2026-01-01T23:00Z</start><end>2026-01-02T00:00Z</end></period.timeInterval>
<TimeSeries><businessType>A62</businessType><curveType>{curve}</curveType>
<Period><timeInterval><start>2026-01-01T23:00Z</start><end>2026-01-02T00:00Z</end></timeInterval>
<resolution>{resolution}</resolution>{pts}</Period></TimeSeries>
</Publication_MarketDocument>"#
        )
    }

    #[test]
    fn a03_repeats_omitted_positions() {
        let s = parse(doc("A03", "PT15M", &[(1, 85.12), (3, 83.4)]).as_bytes(), 15).unwrap();
        let prices: Vec<f64> = s.iter().map(|s| s.price.0).collect();
        assert_eq!(prices, vec![0.08512, 0.08512, 0.0834, 0.0834]);
        assert_eq!(
            s[0].start,
            Timestamp::parse_rfc3339("2026-01-01T23:00:00Z").unwrap()
        );
        assert_eq!(
            s[3].end,
            Timestamp::parse_rfc3339("2026-01-02T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn a01_leaves_gaps() {
        let s = parse(doc("A01", "PT15M", &[(1, 10.0), (3, 30.0)]).as_bytes(), 15).unwrap();
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn positions_beyond_the_period_are_errors() {
        let e = parse(doc("A01", "PT60M", &[(2, 10.0)]).as_bytes(), 60).unwrap_err();
        assert!(e.to_string().contains("position 2"), "{e}");
    }

    #[test]
    fn the_lowest_classification_position_wins() {
        let series = |cls: u32, price: f64| {
            format!(
                "<TimeSeries><curveType>A01</curveType>\
                 <classificationSequence_AttributeInstanceComponent.position>{cls}</classificationSequence_AttributeInstanceComponent.position>\
                 <Period><timeInterval><start>2026-01-01T23:00Z</start><end>2026-01-02T00:00Z</end></timeInterval>\
                 <resolution>PT60M</resolution><Point><position>1</position><price.amount>{price}</price.amount></Point></Period></TimeSeries>"
            )
        };
        let d = format!(
            "<Publication_MarketDocument>{}{}</Publication_MarketDocument>",
            series(2, 20.0),
            series(1, 10.0)
        );
        let s = parse(d.as_bytes(), 60).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].price, PricePerKwh(0.01));
    }

    #[test]
    fn periods_longer_than_a_year_are_errors() {
        let d = doc("A03", "PT15M", &[(1, 1.0)]).replace(
            "2026-01-02T00:00Z</end></timeInterval>",
            "2126-01-02T00:00Z</end></timeInterval>",
        );
        let e = parse(d.as_bytes(), 15).unwrap_err();
        assert!(e.to_string().contains("longer than a year"), "{e}");
    }

    #[test]
    fn acknowledgements_are_refusals_with_the_reason() {
        let b = br#"<Acknowledgement_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0"><Reason><code>999</code><text>No matching data found for Data item Day-ahead Prices</text></Reason></Acknowledgement_MarketDocument>"#;
        let e = parse(b, 15).unwrap_err();
        assert!(
            matches!(e, ParseError::Refused(ref r) if r.contains("No matching data")),
            "{e}"
        );
    }

    #[test]
    fn the_request_uses_utc_minutes() {
        let r = request(
            &url::Url::parse(BASE).unwrap(),
            "t",
            DE_LU,
            Timestamp::parse_rfc3339("2026-01-01T23:00:00Z").unwrap(),
            Timestamp::parse_rfc3339("2026-01-02T23:00:00Z").unwrap(),
        );
        let q = r.url.query().unwrap_or_default().to_owned();
        assert!(
            q.contains("periodStart=202601012300&periodEnd=202601022300"),
            "{q}"
        );
        assert!(q.contains("in_Domain=10Y1001A1001A82H"), "{q}");
    }
}
