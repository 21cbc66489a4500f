//! Time-of-use tariffs: prices by local time of day (and optionally weekday), with the day's
//! boundaries in the site's time zone, so a 23 h or 25 h day keeps its rates at the right
//! local times.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use units::{PricePerKwh, Timestamp};

use crate::PriceSlot;

/// One rate: `price` from local `from` to local `to` (wrapping past midnight when `to` ≤
/// `from`), on `days` (every day when empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TouRate {
    /// Local start time, `"22:00"`.
    pub from: Time,
    /// Local end time, `"06:00"`.
    pub to: Time,
    /// The price.
    pub price: PricePerKwh,
    /// Weekdays (`"mon"`…`"sun"`) of the rate's start; all when empty.
    #[serde(default)]
    pub days: Vec<Day>,
}

/// A weekday, as written in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl From<Day> for Weekday {
    fn from(d: Day) -> Self {
        match d {
            Day::Mon => Self::Monday,
            Day::Tue => Self::Tuesday,
            Day::Wed => Self::Wednesday,
            Day::Thu => Self::Thursday,
            Day::Fri => Self::Friday,
            Day::Sat => Self::Saturday,
            Day::Sun => Self::Sunday,
        }
    }
}

/// A time-of-use tariff: the first rate that covers a local time applies, else `default`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeOfUse {
    /// The zone of the rates' times.
    pub timezone: TimeZone,
    /// The price outside every rate.
    pub default: PricePerKwh,
    /// The rates, first match wins.
    pub rates: Vec<TouRate>,
}

impl TouRate {
    /// Whether the rate covers local time `t` on `date`.
    fn covers(&self, date: Date, t: Time) -> bool {
        let on = |d: Date| {
            self.days.is_empty() || self.days.iter().any(|&x| Weekday::from(x) == d.weekday())
        };
        if self.from < self.to {
            on(date) && self.from <= t && t < self.to
        } else {
            // Wraps midnight: the evening part starts today, the morning part started yesterday.
            (t >= self.from && on(date)) || (t < self.to && date.yesterday().is_ok_and(on))
        }
    }
}

impl TimeOfUse {
    /// The price at `t`.
    pub fn price_at(&self, t: Timestamp) -> PricePerKwh {
        let local = self.timezone.to_datetime(t.to_jiff());
        self.rates
            .iter()
            .find(|r| r.covers(local.date(), local.time()))
            .map_or(self.default, |r| r.price)
    }

    /// The slots over `[from, to)`: one per stretch of equal price, cut at local midnights and
    /// rate boundaries.
    pub fn prices(&self, from: Timestamp, to: Timestamp) -> Vec<PriceSlot> {
        if from >= to {
            return Vec::new();
        }
        let first = self.timezone.to_datetime(from.to_jiff()).date();
        let last = self.timezone.to_datetime(to.to_jiff()).date();
        let mut cuts = vec![from, to];
        let mut day = first.yesterday().unwrap_or(first);
        while day <= last {
            let times = std::iter::once(Time::midnight())
                .chain(self.rates.iter().flat_map(|r| [r.from, r.to]));
            for time in times {
                // A local time in a spring-forward gap maps to the instant after the gap.
                if let Ok(ts) = self.timezone.to_timestamp(day.to_datetime(time)) {
                    let ts = Timestamp::from_jiff(ts);
                    if from < ts && ts < to {
                        cuts.push(ts);
                    }
                }
            }
            let Ok(next) = day.tomorrow() else { break };
            day = next;
        }
        cuts.sort();
        cuts.dedup();
        let mut out: Vec<PriceSlot> = Vec::new();
        for w in cuts.windows(2) {
            let (start, end) = (w[0], w[1]);
            let price = self.price_at(start);
            match out.last_mut() {
                Some(last) if last.price == price && last.end == start => last.end = end,
                _ => out.push(PriceSlot { start, end, price }),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin_night_rate() -> TimeOfUse {
        TimeOfUse {
            timezone: TimeZone::get("Europe/Berlin").unwrap(),
            default: PricePerKwh(0.30),
            rates: vec![TouRate {
                from: Time::constant(22, 0, 0, 0),
                to: Time::constant(6, 0, 0, 0),
                price: PricePerKwh(0.20),
                days: vec![],
            }],
        }
    }

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn a_night_rate_wraps_midnight() {
        let t = berlin_night_rate();
        // 2026-01-15, CET (UTC+1): night 21:00Z–05:00Z.
        let s = t.prices(ts("2026-01-15T00:00:00Z"), ts("2026-01-16T00:00:00Z"));
        let shape: Vec<(Timestamp, f64)> = s.iter().map(|s| (s.start, s.price.0)).collect();
        assert_eq!(
            shape,
            vec![
                (ts("2026-01-15T00:00:00Z"), 0.20),
                (ts("2026-01-15T05:00:00Z"), 0.30),
                (ts("2026-01-15T21:00:00Z"), 0.20),
            ]
        );
        assert_eq!(s[2].end, ts("2026-01-16T00:00:00Z"));
    }

    #[test]
    fn the_25_hour_day_keeps_local_boundaries() {
        let t = berlin_night_rate();
        // 2026-10-25: clocks go back at 03:00 CEST; 06:00 local is 05:00Z, 22:00 is 21:00Z.
        let s = t.prices(ts("2026-10-24T22:00:00Z"), ts("2026-10-25T23:00:00Z"));
        assert_eq!(s[0].end, ts("2026-10-25T05:00:00Z"));
        assert_eq!(s[1].start, ts("2026-10-25T05:00:00Z"));
        assert_eq!(s[1].end, ts("2026-10-25T21:00:00Z"));
        let night = s[0].end.saturating_duration_since(s[0].start);
        assert_eq!(
            night.as_secs(),
            7 * 3600,
            "22:00–06:00 with an extra hour, from midnight"
        );
    }

    #[test]
    fn weekday_rates_apply_on_their_days() {
        let mut t = berlin_night_rate();
        t.rates = vec![TouRate {
            from: Time::midnight(),
            to: Time::midnight(),
            price: PricePerKwh(0.1),
            days: vec![Day::Sun],
        }];
        // 2026-01-18 is a Sunday.
        assert_eq!(t.price_at(ts("2026-01-18T12:00:00Z")), PricePerKwh(0.1));
        assert_eq!(t.price_at(ts("2026-01-19T12:00:00Z")), PricePerKwh(0.30));
    }
}
