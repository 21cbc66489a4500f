use serde::{Deserialize, Serialize};
use units::{Amps, Timestamp, Volts, Watts};

use crate::{DeviceError, Stamped};

/// What the DC power stage is asked to do, in the terms of a CCS session (DIN 70121, ISO 15118-2
/// and -20 DC all use these four).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum StageCommand {
    /// The safe state: no current, output contactors open, output discharged.
    #[default]
    Off,
    /// Apply `voltage` for the isolation test; the car's contactors are open.
    CableCheck {
        /// Test voltage.
        voltage: Volts,
    },
    /// Raise the output to the car's battery voltage; its contactors are still open, so the
    /// current stays below `current_limit` (2 A in DIN 70121 and ISO 15118-2).
    PreCharge {
        /// Target voltage.
        voltage: Volts,
        /// Current limit.
        current_limit: Amps,
    },
    /// Transfer energy: regulate `current` (negative: out of the car) without exceeding
    /// `voltage`.
    Deliver {
        /// Voltage limit (the car's target voltage).
        voltage: Volts,
        /// Target current, positive into the car.
        current: Amps,
    },
}

/// A fault that stops the stage and every session on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageFault {
    /// The emergency stop was pressed, or the site cut power for safety.
    EmergencyStop,
    /// The power stage, a contactor or a relay failed (including welded contacts).
    Malfunction,
}

/// What the DC power stage measures at the inlet.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct StageStatus {
    /// Output voltage.
    pub voltage: Volts,
    /// Output current, positive into the car.
    pub current: Amps,
    /// A fault the stage detected; a faulty stage has turned itself off.
    pub fault: Option<StageFault>,
}

impl StageStatus {
    /// The power at the inlet, positive into the car.
    pub fn power(&self) -> Watts {
        Watts(self.voltage.0 * self.current.0)
    }
}

/// The DC power stage of a CCS charger: the converter and its output contactors as a session
/// needs them (voltage for cable check and pre-charge, current for delivery).
///
/// Contract: `command` never blocks; the stage follows the newest command as fast as it can,
/// clamped to its rating. [`StageCommand::Off`] ramps the current to zero before opening the
/// contactors, then discharges the output ("`setMode(Off)` returns only when the current is below
/// a safe threshold for switching off the relays", as EVerest's power-supply interface puts it).
///
/// Safe state: [`StageCommand::Off`]. A backend also applies a set-point watchdog: a command not
/// repeated within its timeout (a session repeats it at least every 100 ms) counts as `Off`.
pub trait DcPowerStage: Send {
    /// Follows `cmd` from now on. Must be repeated at least once per set-point timeout.
    fn command(&mut self, now: Timestamp, cmd: StageCommand) -> Result<(), DeviceError>;

    /// The newest measurement.
    fn status(&self) -> Option<Stamped<StageStatus>>;

    /// Goes to the safe state: off.
    fn safe_state(&mut self, now: Timestamp) -> Result<(), DeviceError> {
        self.command(now, StageCommand::Off)
    }
}

/// The isolation monitor's verdict on the DC cable (IEC 61557-8 levels as ISO 15118 names
/// them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// No test has run.
    #[default]
    Unknown,
    /// A test is running.
    Testing,
    /// Isolation is fine.
    Valid,
    /// Isolation is degraded but charging may go on.
    Warning,
    /// Isolation failure: no power.
    Fault,
}

/// The insulation monitoring device (IMD) on the DC output, which tests the cable while the car
/// waits in CableCheck (IEC 61851-23's insulation check before charging).
///
/// Safe state: not testing (the test voltage comes from the power stage, whose own safe state
/// removes it).
pub trait IsolationMonitor: Send {
    /// Starts (`true`) or stops a test; repeated calls with the same value change nothing.
    fn set_testing(&mut self, now: Timestamp, testing: bool) -> Result<(), DeviceError>;

    /// The newest verdict.
    fn status(&self) -> Option<Stamped<Isolation>>;

    /// Goes to the safe state: no test.
    fn safe_state(&mut self, now: Timestamp) -> Result<(), DeviceError> {
        self.set_testing(now, false)
    }
}
