//! Device health for the status API: every backend with its own I/O (a Modbus meter, a CAN BMS,
//! a meter emulation) reports whether its newest reading is good, and why not.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use units::Timestamp;

/// How a device is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// The newest exchange succeeded and its data is fresh.
    Ok,
    /// No error, but no good reading for longer than the device's stale limit.
    Stale,
    /// The newest exchange failed; `reason` says how.
    Error,
}

/// One device in `/api/v1/status` under `devices`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceStatus {
    /// The configured name (`grid_meter`, `meter_emulation.huawei`).
    pub name: String,
    /// The configured type (`sdm630`, `dtsu666-h`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its health at the time of the snapshot.
    pub health: Health,
    /// Why it is not `ok`.
    pub reason: Option<String>,
    /// When it last had a good reading (or served one, for a server).
    pub last_good: Option<Timestamp>,
}

/// A device that reports its health. Implemented by backends with their own I/O task; never
/// blocks.
pub trait Monitored: Send {
    /// The device's status at `now`.
    fn device_status(&self, now: Timestamp) -> DeviceStatus;
}

#[derive(Debug, Default)]
struct Record {
    last_good: Option<Timestamp>,
    error: Option<(Timestamp, String)>,
}

/// The health record an I/O task keeps and the site reads: the time of the last good exchange
/// and the newest error. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct HealthCell {
    name: Arc<str>,
    kind: Arc<str>,
    stale_after: Duration,
    record: Arc<Mutex<Record>>,
}

impl HealthCell {
    /// A record for device `name` of type `kind` whose readings are stale after `stale_after`.
    pub fn new(
        name: impl Into<Arc<str>>,
        kind: impl Into<Arc<str>>,
        stale_after: Duration,
    ) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            stale_after,
            record: Arc::default(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Record) -> R) -> R {
        f(&mut self.record.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A good exchange at `at`: clears the error.
    pub fn ok(&self, at: Timestamp) {
        self.with(|r| {
            r.last_good = Some(at);
            r.error = None;
        });
    }

    /// A failed exchange at `at`, and why.
    pub fn error(&self, at: Timestamp, reason: impl Into<String>) {
        let reason = reason.into();
        self.with(|r| r.error = Some((at, reason)));
    }

    /// The newest error's reason, if the newest exchange failed.
    pub fn last_error(&self) -> Option<String> {
        self.with(|r| r.error.as_ref().map(|(_, e)| e.clone()))
    }

    /// The time of the last good exchange.
    pub fn last_good(&self) -> Option<Timestamp> {
        self.with(|r| r.last_good)
    }
}

impl Monitored for HealthCell {
    fn device_status(&self, now: Timestamp) -> DeviceStatus {
        let (last_good, error) = self.with(|r| (r.last_good, r.error.clone()));
        let (health, reason) = match (error, last_good) {
            (Some((_, e)), _) => (Health::Error, Some(e)),
            (None, None) => (Health::Stale, Some("no reading yet".to_owned())),
            (None, Some(t)) if now.saturating_duration_since(t) > self.stale_after => (
                Health::Stale,
                Some(format!(
                    "no good reading for {:.1} s",
                    now.saturating_duration_since(t).as_secs_f64()
                )),
            ),
            (None, Some(_)) => (Health::Ok, None),
        };
        DeviceStatus {
            name: self.name.to_string(),
            kind: self.kind.to_string(),
            health,
            reason,
            last_good,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_exchanges_and_age() {
        let t0 = Timestamp::from_unix_secs(1);
        let h = HealthCell::new("grid_meter", "sdm630", Duration::from_secs(5));
        let s = h.device_status(t0);
        assert_eq!((s.health, s.last_good), (Health::Stale, None));
        h.ok(t0);
        assert_eq!(
            h.device_status(t0 + Duration::from_secs(5)).health,
            Health::Ok
        );
        let s = h.device_status(t0 + Duration::from_secs(6));
        assert_eq!(s.health, Health::Stale);
        assert_eq!(s.reason.as_deref(), Some("no good reading for 6.0 s"));
        h.error(t0 + Duration::from_secs(7), "no answer within 1s");
        let s = h.device_status(t0 + Duration::from_secs(7));
        assert_eq!(s.health, Health::Error);
        assert_eq!(s.reason.as_deref(), Some("no answer within 1s"));
        assert_eq!(s.last_good, Some(t0));
        h.ok(t0 + Duration::from_secs(8));
        assert_eq!(
            h.device_status(t0 + Duration::from_secs(8)).health,
            Health::Ok
        );
        let json = serde_json::to_value(h.device_status(t0)).unwrap();
        assert_eq!(json["type"], "sdm630");
        assert_eq!(json["health"], "ok");
    }
}
