use serde::Serialize;
use units::{Timestamp, Volts, Watts};

use crate::{DeviceError, Stamped};

/// What the controller asks of the power converter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConverterCommand {
    /// False stops the converter (alarm, off mode, shutdown).
    pub enabled: bool,
    /// AC power set-point. **Positive = charging the DC port** (AC → DC), negative = discharging
    /// it into the house.
    pub power_w: Watts,
}

impl ConverterCommand {
    /// The converter's safe state: stopped, 0 W.
    pub const SAFE: Self = Self {
        enabled: false,
        power_w: Watts::ZERO,
    };
}

/// State of the power converter.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ConverterStatus {
    /// Measured AC power, same sign as the set-point (+ = charging the DC port).
    pub power_w: Watts,
    /// DC port voltage, if measured.
    pub dc_voltage_v: Option<Volts>,
    /// True while the converter runs.
    pub enabled: bool,
    /// True if the converter reports a fault and will not follow set-points.
    pub fault: bool,
}

/// A bidirectional power converter between the house's AC bus and a DC port: the hybrid
/// inverter's battery port. On the reference installation a changeover relay connects that port
/// either to the home battery or, through the CCS inlet, to the car.
///
/// Safe state: disabled, 0 W. A backend applies a [`SetpointWatchdog`](crate::SetpointWatchdog):
/// a set-point older than its timeout (default 5 s) is replaced by 0 W.
pub trait Converter: Send {
    /// The newest status.
    fn status(&self) -> Option<Stamped<ConverterStatus>>;

    /// Applies a command. Must be repeated at least once per set-point timeout.
    fn command(&mut self, now: Timestamp, cmd: ConverterCommand) -> Result<(), DeviceError>;

    /// Goes to the safe state: disabled, 0 W.
    fn safe_state(&mut self, now: Timestamp) -> Result<(), DeviceError> {
        self.command(now, ConverterCommand::SAFE)
    }

    /// Whether the device is known to hold the safe state, so that [`status`](Self::status)
    /// shows what it does under it. A backend that applies commands at once (the simulation)
    /// keeps the default; one that writes them from its own task (Modbus) answers true only
    /// once the device has acknowledged disabled / 0 W and a status was read after that. The
    /// shutdown waits for it: a status read before the write may show a converter that is
    /// merely ramping through 0 W, and the process must not exit before the write is done.
    fn safe_state_held(&self) -> bool {
        true
    }
}

/// One converter, two would-be commanders: the site's controller (its home battery) and the
/// charge point (the car, while it holds the DC port). Exactly one commands it at any time:
/// [`PortConverter::site`] is ignored while [`PortConverter::charge_point`] holds the port. The
/// check and the command happen under one lock, so a site command racing with the charge
/// point's claim cannot slip in after it.
#[derive(Clone)]
pub struct PortConverter {
    inner: std::sync::Arc<std::sync::Mutex<(Box<dyn Converter>, bool)>>,
}

impl std::fmt::Debug for PortConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortConverter")
            .field("held_by_charge_point", &self.held())
            .finish_non_exhaustive()
    }
}

impl PortConverter {
    /// Shares `converter`; the site commands it until the charge point takes the port.
    pub fn new(converter: Box<dyn Converter>) -> Self {
        Self {
            inner: std::sync::Arc::new(std::sync::Mutex::new((converter, false))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Box<dyn Converter>, bool)> {
        // A panic while holding the lock is a bug elsewhere; the converter itself is fine.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the charge point holds the port now.
    pub fn held(&self) -> bool {
        self.lock().1
    }

    /// The site's handle: its commands apply only while the charge point does not hold the
    /// port.
    pub fn site(&self) -> SiteConverter {
        SiteConverter(self.clone())
    }

    /// The charge point's command: `Some` takes (or keeps) the port and commands the converter,
    /// `None` gives the port back to the site (whose next command applies).
    pub fn charge_point(
        &self,
        now: Timestamp,
        cmd: Option<ConverterCommand>,
    ) -> Result<(), DeviceError> {
        let mut guard = self.lock();
        guard.1 = cmd.is_some();
        match cmd {
            Some(cmd) => guard.0.command(now, cmd),
            None => Ok(()),
        }
    }

    /// The converter's newest status.
    pub fn status(&self) -> Option<Stamped<ConverterStatus>> {
        self.lock().0.status()
    }

    /// See [`Converter::safe_state_held`].
    pub fn safe_state_held(&self) -> bool {
        self.lock().0.safe_state_held()
    }
}

/// The site's view of a [`PortConverter`].
#[derive(Debug, Clone)]
pub struct SiteConverter(PortConverter);

impl Converter for SiteConverter {
    fn status(&self) -> Option<Stamped<ConverterStatus>> {
        self.0.status()
    }

    fn command(&mut self, now: Timestamp, cmd: ConverterCommand) -> Result<(), DeviceError> {
        let mut guard = self.0.lock();
        if guard.1 {
            // The charge point holds the port: it commands the converter for the car.
            return Ok(());
        }
        guard.0.command(now, cmd)
    }

    /// The safe state applies whoever holds the port: shutdown and faults stop the converter
    /// (the charge point's own safe state stops it too).
    fn safe_state(&mut self, now: Timestamp) -> Result<(), DeviceError> {
        self.0.lock().0.command(now, ConverterCommand::SAFE)
    }

    fn safe_state_held(&self) -> bool {
        self.0.safe_state_held()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Records every command it gets.
    #[derive(Debug, Default, Clone)]
    struct Recorder(Arc<Mutex<Vec<ConverterCommand>>>);

    impl Converter for Recorder {
        fn status(&self) -> Option<Stamped<ConverterStatus>> {
            None
        }

        fn command(&mut self, _now: Timestamp, cmd: ConverterCommand) -> Result<(), DeviceError> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(cmd);
            Ok(())
        }
    }

    fn run(w: f64) -> ConverterCommand {
        ConverterCommand {
            enabled: true,
            power_w: Watts(w),
        }
    }

    #[test]
    fn only_the_holder_commands_the_converter() {
        let rec = Recorder::default();
        let port = PortConverter::new(Box::new(rec.clone()));
        let mut site = port.site();
        let now = Timestamp::from_unix_secs(0);
        site.command(now, run(3000.0)).unwrap();
        port.charge_point(now, Some(ConverterCommand::SAFE))
            .unwrap();
        assert!(port.held());
        // Ignored while the charge point holds the port.
        site.command(now, run(4000.0)).unwrap();
        port.charge_point(now, Some(run(-2000.0))).unwrap();
        // But the site's safe state always applies.
        site.safe_state(now).unwrap();
        port.charge_point(now, None).unwrap();
        site.command(now, run(1000.0)).unwrap();
        let got = rec.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(
            got,
            [
                run(3000.0),
                ConverterCommand::SAFE,
                run(-2000.0),
                ConverterCommand::SAFE,
                run(1000.0)
            ]
        );
    }
}
