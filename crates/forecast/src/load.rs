//! The house load from its own past: per weekday and quarter hour of local time, the mean of
//! past weeks, recent weeks weighing more (an exponential average per bucket). Local time keeps
//! the habits where they are across daylight-saving changes.

use jiff::tz::TimeZone;
use units::{Timestamp, Watts};

/// Quarter hours per day.
const SLOTS: usize = 96;
/// Weight of the newest week in a bucket's average.
const NEW_WEEK_WEIGHT: f64 = 0.3;

/// A weekday × quarter-hour profile of past load.
#[derive(Debug, Clone)]
pub struct LoadProfile {
    tz: TimeZone,
    /// Per weekday (Monday first) and quarter hour: the average, if any.
    buckets: Vec<Option<f64>>,
    /// The bucket being filled: its index, the start of its occurrence, power sum and samples.
    current: Option<(usize, i64, f64, u32)>,
}

impl LoadProfile {
    /// An empty profile in the site's time zone.
    pub fn new(tz: TimeZone) -> Self {
        Self {
            tz,
            buckets: vec![None; 7 * SLOTS],
            current: None,
        }
    }

    /// Bucket of `t` and the start (Unix minutes, local quarter) of its occurrence.
    fn bucket(&self, t: Timestamp) -> (usize, i64) {
        let local = self.tz.to_datetime(t.to_jiff());
        let day = usize::from(local.weekday().to_monday_zero_offset().unsigned_abs());
        let slot = usize::from(local.hour().unsigned_abs()) * 4
            + usize::from(local.minute().unsigned_abs()) / 15;
        // Distinct occurrences of one bucket are a week apart: the UTC quarter hour number
        // tells them apart (and the repeated hour of a 25 h day joins its bucket twice).
        (
            day * SLOTS + slot.min(SLOTS - 1),
            t.as_unix_micros().div_euclid(900_000_000),
        )
    }

    /// Records a measured load at `t`. Samples of one quarter hour are averaged; each finished
    /// quarter hour updates its bucket.
    pub fn record(&mut self, t: Timestamp, load: Watts) {
        if !load.0.is_finite() {
            return;
        }
        let (b, occ) = self.bucket(t);
        match &mut self.current {
            Some((cb, cocc, sum, n)) if *cb == b && *cocc == occ => {
                *sum += load.0;
                *n += 1;
            }
            _ => {
                self.flush();
                self.current = Some((b, occ, load.0, 1));
            }
        }
    }

    fn flush(&mut self) {
        if let Some((b, _, sum, n)) = self.current.take()
            && n > 0
            && let Some(slot) = self.buckets.get_mut(b)
        {
            let mean = sum / f64::from(n);
            *slot = Some(slot.map_or(mean, |old| old + NEW_WEEK_WEIGHT * (mean - old)));
        }
    }

    /// The expected load at `t`: its weekday's quarter hour, else the same quarter hour on
    /// other days, else `None` (no history yet).
    pub fn predict(&self, t: Timestamp) -> Option<Watts> {
        let (b, _) = self.bucket(t);
        if let Some(Some(v)) = self.buckets.get(b) {
            return Some(Watts(*v));
        }
        let slot = b % SLOTS;
        let same: Vec<f64> = (0..7)
            .filter_map(|d| self.buckets.get(d * SLOTS + slot).copied().flatten())
            .collect();
        (!same.is_empty()).then(|| Watts(same.iter().sum::<f64>() / same.len() as f64))
    }
}

/// The house load the planner assumes.
#[derive(Debug, Clone)]
pub enum LoadForecast {
    /// The same load at all times.
    Constant(Watts),
    /// From history, with `fallback` where there is none yet.
    Profile {
        /// The history.
        profile: LoadProfile,
        /// Before the history covers a time.
        fallback: Watts,
    },
}

impl LoadForecast {
    /// The expected load at `t`.
    pub fn at(&self, t: Timestamp) -> Watts {
        match self {
            Self::Constant(w) => *w,
            Self::Profile { profile, fallback } => profile.predict(t).unwrap_or(*fallback),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    #[test]
    fn weekday_and_time_of_day_are_kept_apart() {
        let mut p = LoadProfile::new(berlin());
        // Monday 2026-01-12, 18:00–18:15 CET: 2 kW; Tuesday same time: 500 W.
        p.record(ts("2026-01-12T17:00:00Z"), Watts(1800.0));
        p.record(ts("2026-01-12T17:10:00Z"), Watts(2200.0));
        p.record(ts("2026-01-13T17:00:00Z"), Watts(500.0));
        p.record(ts("2026-01-13T17:15:00Z"), Watts(600.0));
        // A week later, Monday 18:05.
        assert_eq!(p.predict(ts("2026-01-19T17:05:00Z")), Some(Watts(2000.0)));
        assert_eq!(p.predict(ts("2026-01-20T17:05:00Z")), Some(Watts(500.0)));
        // Wednesday: no own history, the other days' mean.
        assert_eq!(p.predict(ts("2026-01-21T17:05:00Z")), Some(Watts(1250.0)));
        assert_eq!(p.predict(ts("2026-01-21T03:00:00Z")), None);
    }

    #[test]
    fn recent_weeks_weigh_more() {
        let mut p = LoadProfile::new(berlin());
        p.record(ts("2026-01-12T17:00:00Z"), Watts(1000.0));
        p.record(ts("2026-01-19T17:00:00Z"), Watts(2000.0));
        p.record(ts("2026-01-19T17:20:00Z"), Watts(0.0));
        let v = p.predict(ts("2026-01-26T17:00:00Z")).unwrap();
        assert!((v.0 - 1300.0).abs() < 1e-9, "{v:?}");
    }

    #[test]
    fn habits_stay_at_local_time_across_daylight_saving() {
        let mut p = LoadProfile::new(berlin());
        // Saturday 2026-03-28, 07:00 CET = 06:00Z.
        p.record(ts("2026-03-28T06:00:00Z"), Watts(3000.0));
        p.record(ts("2026-03-28T06:20:00Z"), Watts(100.0));
        // A week later, 07:00 CEST = 05:00Z.
        assert_eq!(p.predict(ts("2026-04-04T05:00:00Z")), Some(Watts(3000.0)));
        let f = LoadForecast::Profile {
            profile: p,
            fallback: Watts(400.0),
        };
        assert_eq!(f.at(ts("2026-04-04T12:00:00Z")), Watts(400.0));
        assert_eq!(
            LoadForecast::Constant(Watts(300.0)).at(ts("2026-04-04T12:00:00Z")),
            Watts(300.0)
        );
    }
}
