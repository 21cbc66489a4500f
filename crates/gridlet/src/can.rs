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

    /// Adds the battery emulations.
    pub fn emulations(&mut self, cfg: &IndexMap<String, EmulationParams>) {
        for (name, params) in cfg {
            let label = format!("battery_emulation.{name}");
            let (task, status) = params.open(&label, self.input.subscribe(), self.clock());
            self.tasks.push((label.clone(), task));
            self.emulations.push((label, status));
        }
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
