//! When to fetch, as a sans-IO state machine on injected time: day-ahead prices for tomorrow
//! appear around 12:45–13:00 CET (`shared/docs/ems-research.md` §3e), so the schedule polls
//! closely from the publication time until tomorrow's prices are in, refreshes at a slow pace
//! otherwise, and backs off exponentially after errors.

use std::time::Duration;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use units::Timestamp;

/// Exponential backoff: `base`, 2×, 4×… up to `max`.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff from `base` to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            failures: 0,
        }
    }

    /// The delay after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let d = self
            .base
            .checked_mul(1u32.checked_shl(self.failures).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        d
    }

    /// After a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// The fetch schedule of one provider.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The market's time zone (publication time and "tomorrow").
    pub timezone: TimeZone,
    /// When tomorrow's prices are expected, local time.
    pub publication: Time,
    /// Refresh period when nothing new is expected.
    pub refresh: Duration,
    /// Poll period from publication until tomorrow's prices are in.
    pub poll: Duration,
    /// After errors.
    pub backoff: Backoff,
    next: Timestamp,
}

impl Schedule {
    /// The schedule for a day-ahead market in `timezone` (`Europe/Berlin` for EPEX): tomorrow's
    /// prices from 13:00, refresh hourly, poll every 15 minutes while they are late, back off
    /// from 1 minute to 30 minutes after errors. The first fetch is due at once.
    pub fn day_ahead(timezone: TimeZone) -> Self {
        Self {
            timezone,
            publication: Time::constant(13, 0, 0, 0),
            refresh: Duration::from_secs(3600),
            poll: Duration::from_secs(15 * 60),
            backoff: Backoff::new(Duration::from_secs(60), Duration::from_secs(30 * 60)),
            next: Timestamp::UNIX_EPOCH,
        }
    }

    /// When the next fetch is due.
    pub fn next_fetch(&self) -> Timestamp {
        self.next
    }

    /// Whether a fetch is due at `now`.
    pub fn due(&self, now: Timestamp) -> bool {
        now >= self.next
    }

    /// Local midnight `days` after the local date of `now`, and the publication time on that
    /// local date.
    fn local(&self, now: Timestamp, days: i64, at: Time) -> Option<Timestamp> {
        let date = self.timezone.to_datetime(now.to_jiff()).date();
        let d = date.checked_add(jiff::Span::new().days(days)).ok()?;
        self.timezone
            .to_timestamp(d.to_datetime(at))
            .ok()
            .map(Timestamp::from_jiff)
    }

    /// A fetch at `now` succeeded; `horizon` is the end of the last known price.
    pub fn succeeded(&mut self, now: Timestamp, horizon: Option<Timestamp>) {
        self.backoff.reset();
        let refresh = now + self.refresh;
        let end_of_tomorrow = self.local(now, 2, Time::midnight());
        let has_tomorrow = matches!((horizon, end_of_tomorrow), (Some(h), Some(e)) if h >= e);
        let publication = self.local(now, 0, self.publication);
        self.next = match publication {
            // Tomorrow is known, or it is not published yet: the slow refresh, but not past
            // the publication time.
            _ if has_tomorrow => refresh,
            Some(p) if now < p => refresh.min(p),
            // Published by now but not yet in the answer: poll.
            _ => now + self.poll,
        };
    }

    /// A fetch at `now` failed: try again after the backoff.
    pub fn failed(&mut self, now: Timestamp) {
        self.next = now + self.backoff.next_delay();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn berlin() -> Schedule {
        Schedule::day_ahead(TimeZone::get("Europe/Berlin").unwrap())
    }

    #[test]
    fn the_first_fetch_is_due_at_once() {
        assert!(berlin().due(ts("2026-01-15T08:00:00Z")));
    }

    #[test]
    fn before_publication_it_refreshes_but_not_past_13_00() {
        let mut s = berlin();
        // 11:30 CET, prices until tonight only.
        let now = ts("2026-01-15T10:30:00Z");
        s.succeeded(now, Some(ts("2026-01-15T23:00:00Z")));
        assert_eq!(s.next_fetch(), ts("2026-01-15T11:30:00Z"));
        s.succeeded(ts("2026-01-15T11:30:00Z"), Some(ts("2026-01-15T23:00:00Z")));
        assert_eq!(s.next_fetch(), ts("2026-01-15T12:00:00Z"), "13:00 CET");
    }

    #[test]
    fn after_publication_it_polls_until_tomorrow_is_in() {
        let mut s = berlin();
        let now = ts("2026-01-15T12:00:00Z");
        s.succeeded(now, Some(ts("2026-01-15T23:00:00Z")));
        assert_eq!(s.next_fetch(), ts("2026-01-15T12:15:00Z"));
        // Tomorrow (until 2026-01-16T23:00Z) is in: back to hourly.
        s.succeeded(ts("2026-01-15T12:15:00Z"), Some(ts("2026-01-16T23:00:00Z")));
        assert_eq!(s.next_fetch(), ts("2026-01-15T13:15:00Z"));
    }

    #[test]
    fn on_the_25_hour_day_tomorrow_ends_at_local_midnight() {
        let mut s = berlin();
        // 2026-10-24 14:00 CEST; tomorrow (the 25th) has 25 hours and ends at 23:00Z.
        let now = ts("2026-10-24T12:00:00Z");
        s.succeeded(now, Some(ts("2026-10-25T22:00:00Z")));
        assert_eq!(
            s.next_fetch(),
            now + Duration::from_secs(900),
            "an hour short"
        );
        s.succeeded(now, Some(ts("2026-10-25T23:00:00Z")));
        assert_eq!(s.next_fetch(), now + Duration::from_secs(3600));
    }

    #[test]
    fn errors_back_off_exponentially_then_reset() {
        let mut s = berlin();
        let mut now = ts("2026-01-15T08:00:00Z");
        let mut delays = Vec::new();
        for _ in 0..7 {
            s.failed(now);
            delays.push(s.next_fetch().saturating_duration_since(now).as_secs() / 60);
            now = s.next_fetch();
        }
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30]);
        s.succeeded(now, None);
        s.failed(now);
        assert_eq!(s.next_fetch(), now + Duration::from_secs(60));
    }
}
