//! CAN devices in the daemon: the I/O tasks of the CAN BMS backends and of the battery
//! emulations, and the feed of the site's newest BMS and charge point state to the emulations.

use std::sync::Arc;

use devices_can::config::{EmulationParams, Task};
use devices_can::{EmulationStatus, SourceInput};
use indexmap::IndexMap;
use tokio::sync::watch;
use units::Clock;

use crate::runner::Published;

/// The CAN devices of a site, assembled but not yet running.
pub struct CanDevices {
    clock: Arc<dyn Clock>,
    tasks: Vec<(String, Task)>,
    input: watch::Sender<SourceInput>,
    emulations: Vec<(String, watch::Receiver<EmulationStatus>)>,
}

impl std::fmt::Debug for CanDevices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CanDevices")
            .field(
                "tasks",
                &self.tasks.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for CanDevices {
    fn default() -> Self {
        Self {
            clock: Arc::new(units::SystemClock::new()),
            tasks: Vec::new(),
            input: watch::channel(SourceInput::default()).0,
            emulations: Vec::new(),
        }
    }
}

impl CanDevices {
    /// The clock the backends stamp their frames with (the system's: CAN devices are real).
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.clock)
    }

    /// Adds a BMS backend's task; returns the backend.
    pub fn bms(&mut self, (bms, task): (devices_can::CanBms, Task)) -> Box<dyn devices::Bms> {
        self.tasks.push(("battery".into(), task));
        Box::new(bms)
    }

    /// Adds the battery emulations; returns their entries for the status's `devices`.
    pub fn emulations(
        &mut self,
        cfg: &IndexMap<String, EmulationParams>,
    ) -> Vec<Box<dyn devices::Monitored>> {
        let mut monitors: Vec<Box<dyn devices::Monitored>> = Vec::new();
        for (name, params) in cfg {
            let label = format!("battery_emulation.{name}");
            let (task, status) = params.open(&label, self.input.subscribe(), self.clock());
            self.tasks.push((label.clone(), task));
            let kind = match params {
                EmulationParams::BydHvs(_) => "byd-hvs",
                EmulationParams::Pylontech(_) => "pylontech",
            };
            monitors.push(Box::new(EmulationMonitor {
                name: label.clone(),
                kind,
                status: status.clone(),
                last_good: std::sync::Mutex::new(None),
            }));
            self.emulations.push((label, status));
        }
        monitors
    }

    /// True if there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Starts every task on the current runtime, and feeds the emulations from the site's
    /// published snapshots. The tasks end with the runtime.
    pub(crate) fn spawn(self, mut published: watch::Receiver<Option<Arc<Published>>>) {
        for (name, task) in self.tasks {
            tracing::debug!("{name}: starting");
            tokio::spawn(task);
        }
        let input = self.input;
        tokio::spawn(async move {
            while published.changed().await.is_ok() {
                let p = published.borrow_and_update().clone();
                if let Some(p) = p {
                    input.send_replace(SourceInput {
                        bms: p.site.battery,
                        charge_point: p.site.charge_point,
                    });
                }
            }
        });
        for (name, mut status) in self.emulations {
            tokio::spawn(async move {
                let mut last = (false, false);
                while status.changed().await.is_ok() {
                    let s = status.borrow_and_update().clone();
                    let now = (s.inverter_alive, s.source_fresh);
                    if now != last {
                        tracing::info!(
                            "{name}: inverter {}, data {}{}",
                            if s.inverter_alive {
                                "present"
                            } else {
                                "silent"
                            },
                            if s.source_fresh {
                                "fresh"
                            } else {
                                "stale: reporting 0 A"
                            },
                            s.inverter_name
                                .map(|n| format!(", inverter {n:?}"))
                                .unwrap_or_default(),
                        );
                        last = now;
                    }
                }
            });
        }
    }
}

/// A battery emulation in the status's `devices`: `ok` while the inverter is heard and the data
/// is fresh; `stale` with the reason otherwise (the emulation then reports 0 A, or is silent
/// towards a silent inverter); `error` while the inverter is not heard and what came last did
/// not decode.
struct EmulationMonitor {
    name: String,
    kind: &'static str,
    status: watch::Receiver<EmulationStatus>,
    /// The last status call that found it ok (the site asks every tick).
    last_good: std::sync::Mutex<Option<units::Timestamp>>,
}

impl EmulationMonitor {
    fn health(s: &EmulationStatus) -> (devices::Health, Option<String>) {
        use devices::Health;
        let undecodable = s
            .last_error
            .as_ref()
            .map(|e| format!("{} undecodable frames, the last: {e}", s.invalid));
        match (s.inverter_alive, s.source_fresh) {
            (true, true) => (Health::Ok, None),
            (true, false) => (
                Health::Stale,
                Some("no fresh battery data: reporting 0 A".to_owned()),
            ),
            (false, _) => match undecodable {
                Some(e) => (Health::Error, Some(format!("inverter not heard; {e}"))),
                None => (Health::Stale, Some("inverter not heard".to_owned())),
            },
        }
    }
}

impl devices::Monitored for EmulationMonitor {
    fn device_status(&self, now: units::Timestamp) -> devices::DeviceStatus {
        let (health, reason) = Self::health(&self.status.borrow());
        let mut last_good = self
            .last_good
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if health == devices::Health::Ok {
            *last_good = Some(now);
        }
        devices::DeviceStatus {
            name: self.name.clone(),
            kind: self.kind.to_owned(),
            health,
            reason,
            last_good: *last_good,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::{Health, Monitored as _};

    #[test]
    fn an_emulation_reports_its_inverter_and_its_data() {
        let (tx, rx) = watch::channel(EmulationStatus::default());
        let m = EmulationMonitor {
            name: "battery_emulation.inverter".into(),
            kind: "byd-hvs",
            status: rx,
            last_good: std::sync::Mutex::new(None),
        };
        let t = units::Timestamp::from_unix_secs(10);
        let s = m.device_status(t);
        assert_eq!(
            (s.health, s.reason.as_deref()),
            (Health::Stale, Some("inverter not heard"))
        );
        tx.send_replace(EmulationStatus {
            inverter_alive: true,
            ..EmulationStatus::default()
        });
        let s = m.device_status(t);
        assert_eq!(s.health, Health::Stale);
        assert!(s.reason.unwrap_or_default().contains("0 A"));
        tx.send_replace(EmulationStatus {
            inverter_alive: true,
            source_fresh: true,
            ..EmulationStatus::default()
        });
        let s = m.device_status(t);
        assert_eq!(
            (s.health, s.last_good, s.kind.as_str()),
            (Health::Ok, Some(t), "byd-hvs")
        );
        tx.send_replace(EmulationStatus {
            invalid: 3,
            last_error: Some("frame 0x151: 2 bytes, expected 8".into()),
            ..EmulationStatus::default()
        });
        let s = m.device_status(units::Timestamp::from_unix_secs(20));
        assert_eq!(s.health, Health::Error);
        assert!(
            s.reason
                .unwrap_or_default()
                .contains("3 undecodable frames")
        );
        assert_eq!(s.last_good, Some(t));
    }
}
