//! The parameters of `/api/v1/history` and `/api/v1/energy`, checked: every mistake is a
//! [`QueryError`] that says which parameter is wrong and what it takes (a 400 for the client).

use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use units::Timestamp;

use crate::downsample::Resolution;
use crate::store::{Period, Retention};

/// The most points one answer may hold (series × buckets): bounds the daemon's memory per
/// request.
pub const MAX_POINTS: i64 = 50_000;

/// A parameter the client got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {problem}")]
pub struct QueryError {
    /// The parameter.
    pub param: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn bad(param: &'static str, problem: impl Into<String>) -> QueryError {
    QueryError {
        param,
        problem: problem.into(),
    }
}

/// The answer's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Columnar JSON.
    Json,
    /// `time,series,mean,min,max`.
    Csv,
}

/// A checked history query.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    /// Series keys.
    pub series: Vec<String>,
    /// Start, Unix seconds (inclusive).
    pub from: i64,
    /// End, Unix seconds (exclusive).
    pub to: i64,
    /// Bucket length, seconds.
    pub step: i64,
    /// Answer format.
    pub format: Format,
}

/// The raw parameters, as they come in the query string.
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct HistoryParams {
    /// Comma-separated series keys.
    #[cfg_attr(feature = "openapi", param(example = "grid.power_w,pv.power_w"))]
    pub series: Option<String>,
    /// RFC 3339, Unix seconds, or a duration before `to` (`24h`).
    #[cfg_attr(feature = "openapi", param(example = "1h"))]
    pub from: Option<String>,
    /// RFC 3339 or Unix seconds; default: the newest snapshot's time.
    pub to: Option<String>,
    /// Seconds or a duration (`15m`); default: the span over some 500 buckets.
    pub step: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

fn parse_time(param: &'static str, s: &str) -> Result<i64, QueryError> {
    if let Ok(t) = s.parse::<i64>() {
        return Ok(t);
    }
    Timestamp::parse_rfc3339(s)
        .map(|t| t.as_unix_micros().div_euclid(1_000_000))
        .map_err(|_| bad(param, format!("{s:?} is not RFC 3339 or Unix seconds")))
}

fn parse_secs(param: &'static str, s: &str) -> Result<i64, QueryError> {
    let d = match s.parse::<u64>() {
        Ok(n) => Duration::from_secs(n),
        Err(_) => units::parse_duration(s)
            .map_err(|_| bad(param, format!("{s:?} is not seconds or a duration (15m)")))?,
    };
    i64::try_from(d.as_secs()).map_err(|_| bad(param, "too long"))
}

impl HistoryQuery {
    /// Checks `p`; `now` (the newest snapshot's time) is the default end.
    pub fn parse(p: &HistoryParams, now: Timestamp) -> Result<Self, QueryError> {
        let series: Vec<String> = p
            .series
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if series.is_empty() {
            return Err(bad(
                "series",
                "name at least one series, comma-separated (grid.power_w,pv.power_w); \
                 /api/v1/history/series lists them",
            ));
        }
        if series.len() > 64 {
            return Err(bad("series", "at most 64 series per request"));
        }
        let to = match &p.to {
            Some(s) => parse_time("to", s)?,
            None => now.as_unix_micros().div_euclid(1_000_000) + 1,
        };
        let from = match &p.from {
            None => to - 86_400,
            Some(s) => match parse_time("from", s) {
                Ok(t) => t,
                // A duration: that long before `to`.
                Err(e) => to - parse_secs("from", s).map_err(|_| e)?,
            },
        };
        if from >= to {
            return Err(bad("from", "must be before `to`"));
        }
        let span = to - from;
        let step = match &p.step {
            Some(s) => parse_secs("step", s)?,
            None => (span / 500).max(Resolution::Raw.secs()),
        };
        if step < Resolution::Raw.secs() {
            return Err(bad("step", "at least 10 s (the finest resolution stored)"));
        }
        let points = (span / step + 1).saturating_mul(series.len() as i64);
        if points > MAX_POINTS {
            return Err(bad(
                "step",
                format!(
                    "{points} points asked for, at most {MAX_POINTS}: a longer step or fewer \
                     series"
                ),
            ));
        }
        let format = match p.format.as_deref() {
            None | Some("json") => Format::Json,
            Some("csv") => Format::Csv,
            Some(f) => return Err(bad("format", format!("{f:?} is not json or csv"))),
        };
        Ok(Self {
            series,
            from,
            to,
            step,
            format,
        })
    }

    /// The resolution to read: the coarsest not coarser than the step, unless its retention
    /// no longer reaches back to `from` (seen from `newest`), then the next coarser one.
    pub fn resolution(&self, newest: i64, retention: &Retention) -> Resolution {
        let fits = |r: Resolution| r.secs() <= self.step;
        let reaches = |r: Resolution| {
            let keep = i64::try_from(retention.of(r).as_secs()).unwrap_or(i64::MAX / 2);
            self.from >= newest - keep
        };
        let finest_fitting = Resolution::ALL
            .iter()
            .rev()
            .copied()
            .find(|r| fits(*r))
            .unwrap_or(Resolution::Raw);
        Resolution::ALL
            .iter()
            .copied()
            .filter(|r| *r >= finest_fitting)
            .find(|r| reaches(*r))
            .unwrap_or(Resolution::Quarter)
    }
}

/// The raw parameters of `/api/v1/energy`.
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct EnergyParams {
    /// `day`, `month` or `year`.
    #[cfg_attr(feature = "openapi", param(example = "day"))]
    pub period: Option<String>,
    /// First local date (`2026-06-01`); default: 30 days, 12 months or 10 years back.
    pub from: Option<String>,
    /// Last local date; default: today.
    pub to: Option<String>,
}

/// A checked energy query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnergyQuery {
    /// The period.
    pub period: Period,
    /// First day.
    pub from: Date,
    /// Last day (inclusive).
    pub to: Date,
}

impl EnergyQuery {
    /// Checks `p`; `now` in `tz` is today.
    pub fn parse(p: &EnergyParams, now: Timestamp, tz: &TimeZone) -> Result<Self, QueryError> {
        let period = match p.period.as_deref() {
            None | Some("day") => Period::Day,
            Some("month") => Period::Month,
            Some("year") => Period::Year,
            Some(x) => return Err(bad("period", format!("{x:?} is not day, month or year"))),
        };
        let date = |param: &'static str, s: &str| {
            s.parse::<Date>()
                .map_err(|_| bad(param, format!("{s:?} is not a date (2026-06-21)")))
        };
        let today = tz.to_datetime(now.to_jiff()).date();
        let to = match &p.to {
            Some(s) => date("to", s)?,
            None => today,
        };
        let from = match &p.from {
            Some(s) => date("from", s)?,
            None => {
                let back = match period {
                    Period::Day => jiff::Span::new().days(29),
                    Period::Month => jiff::Span::new().months(11),
                    Period::Year => jiff::Span::new().years(9),
                };
                let first = to.checked_sub(back).unwrap_or(to);
                match period {
                    Period::Day => first,
                    Period::Month => first.first_of_month(),
                    Period::Year => first.first_of_year(),
                }
            }
        };
        if from > to {
            return Err(bad("from", "must not be after `to`"));
        }
        Ok(Self { period, from, to })
    }
}
