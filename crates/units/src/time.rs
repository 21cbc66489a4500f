use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time: microseconds since the Unix epoch, UTC.
///
/// One type serves both as the monotonic "now" that sans-IO cores compare against deadlines and
/// as wall-clock time for time-of-day rules and PV models: [`SystemClock`] anchors a monotonic
/// clock to the wall clock once, so it never jumps backwards when NTP corrects the system time.
/// Arithmetic saturates instead of panicking.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Self = Self(0);

    /// From microseconds since the Unix epoch.
    pub const fn from_unix_micros(us: i64) -> Self {
        Self(us)
    }

    /// From whole seconds since the Unix epoch.
    pub const fn from_unix_secs(s: i64) -> Self {
        Self(s.saturating_mul(1_000_000))
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_unix_micros(self) -> i64 {
        self.0
    }

    /// Seconds since the Unix epoch, with fraction.
    pub fn as_unix_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// The time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        self.checked_duration_since(earlier)
            .unwrap_or(Duration::ZERO)
    }

    /// The time elapsed from `earlier` to `self`, or `None` if `earlier` is later.
    pub fn checked_duration_since(self, earlier: Self) -> Option<Duration> {
        let us = self.0.checked_sub(earlier.0)?;
        u64::try_from(us).ok().map(Duration::from_micros)
    }

    /// This instant as a [`jiff::Timestamp`], for calendar and time-zone arithmetic.
    pub fn to_jiff(self) -> jiff::Timestamp {
        // Every i64 microsecond count within jiff's range (years -9999..=9999) converts; beyond
        // it we clamp, which only a corrupt input could reach.
        jiff::Timestamp::from_microsecond(self.0).unwrap_or(if self.0 < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        })
    }

    /// From a [`jiff::Timestamp`].
    pub fn from_jiff(ts: jiff::Timestamp) -> Self {
        Self(ts.as_microsecond())
    }

    /// Parses an RFC 3339 timestamp such as `2026-06-21T00:00:00Z`.
    pub fn parse_rfc3339(s: &str) -> Result<Self, jiff::Error> {
        s.parse::<jiff::Timestamp>().map(Self::from_jiff)
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Add<Duration> for Timestamp {
    type Output = Self;
    fn add(self, rhs: Duration) -> Self {
        Self(self.0.saturating_add(micros(rhs)))
    }
}

impl AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Self;
    fn sub(self, rhs: Duration) -> Self {
        Self(self.0.saturating_sub(micros(rhs)))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_jiff())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_jiff())
    }
}

/// Serialized as an RFC 3339 string, which every consumer (browsers, MQTT, InfluxDB tools) reads.
impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.to_jiff())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

/// The source of "now". Cores never read the system time; their drivers ask a `Clock`.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time. Successive calls never go backwards.
    fn now(&self) -> Timestamp;
}

/// The real clock: a monotonic clock anchored once to the wall clock at creation.
#[derive(Debug, Clone)]
pub struct SystemClock {
    anchor_wall: Timestamp,
    anchor_mono: std::time::Instant,
}

impl SystemClock {
    /// Anchors to the current wall-clock time.
    pub fn new() -> Self {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(micros)
            // A system clock before 1970 is broken; start at the epoch rather than fail.
            .unwrap_or(0);
        Self {
            anchor_wall: Timestamp(wall),
            anchor_mono: std::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        self.anchor_wall + self.anchor_mono.elapsed()
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    now: Arc<AtomicI64>,
}

impl VirtualClock {
    /// A virtual clock showing `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(start.0)),
        }
    }

    /// Moves time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let us = micros(d);
        // fetch_update cannot fail with a closure that always returns Some.
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(us))
            });
    }

    /// Moves time forward to `t`; a `t` in the past is ignored, because clocks never go back.
    pub fn advance_to(&self, t: Timestamp) {
        self.now.fetch_max(t.0, Ordering::SeqCst);
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now.load(Ordering::SeqCst))
    }
}

/// A duration given on a command line or in a config file could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid duration {input:?}: expected a number with a unit, like 500ms, 30s, 15m, 24h or 2d"
)]
pub struct ParseDurationError {
    input: String,
}

/// Parses a human duration: `500ms`, `30s`, `15m`, `24h`, `2d`, or a combination like `1h30m`.
pub fn parse_duration(input: &str) -> Result<Duration, ParseDurationError> {
    let err = || ParseDurationError {
        input: input.to_owned(),
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if digits == 0 {
            return Err(err());
        }
        let value: f64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_secs = match rest[..unit_len].trim() {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(value * unit_secs).map_err(|_| err())?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_advances_and_never_goes_back() {
        let c = VirtualClock::new(Timestamp::from_unix_secs(1000));
        let c2 = c.clone();
        c.advance(Duration::from_millis(1500));
        assert_eq!(c2.now(), Timestamp::from_unix_micros(1_001_500_000));
        c.advance_to(Timestamp::from_unix_secs(10));
        assert_eq!(c.now(), Timestamp::from_unix_micros(1_001_500_000));
    }

    #[test]
    fn timestamp_arithmetic_saturates() {
        let t = Timestamp::from_unix_secs(10);
        assert_eq!(
            (t + Duration::from_secs(5)).saturating_duration_since(t),
            Duration::from_secs(5)
        );
        assert_eq!(
            t.saturating_duration_since(t + Duration::from_secs(1)),
            Duration::ZERO
        );
        assert_eq!(t.checked_duration_since(t + Duration::from_secs(1)), None);
        let max = Timestamp::from_unix_micros(i64::MAX);
        assert_eq!(max + Duration::from_secs(1), max);
    }

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp::parse_rfc3339("2026-06-21T12:00:00Z").unwrap();
        assert_eq!(t.to_string(), "2026-06-21T12:00:00Z");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-06-21T12:00:00Z\"");
        let back: Timestamp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        for bad in ["", "h", "10", "10x", "-5s", "1e9999h"] {
            assert!(parse_duration(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn system_clock_is_monotonic() {
        let c = SystemClock::new();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
        // Anchored to the wall clock: later than 2020.
        assert!(a > Timestamp::from_unix_secs(1_577_836_800));
    }
}

/// Formats a duration the way [`parse_duration`] reads it (`1h30m`, `500ms`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, len) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= len {
            out.push_str(&format!("{}{unit}", ms / len));
            ms %= len;
        }
    }
    if ms > 0 {
        out.push_str(&format!("{ms}ms"));
    }
    out
}

/// Serde for `std::time::Duration` as a human string (`"5s"`, `"10m"`), for config files.
/// Use with `#[serde(with = "units::duration_str")]`.
pub mod duration_str {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    /// Serializes as a human string.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    /// Reads a human string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_str(DurationVisitor)
    }

    struct DurationVisitor;

    impl serde::de::Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration string like \"1s\"")
        }

        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Duration, E> {
            super::parse_duration(s).map_err(E::custom)
        }
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn format_round_trips() {
        for d in [0, 500, 1000, 61_000, 5_400_000, 90_061_001] {
            let d = Duration::from_millis(d);
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
    }
}
