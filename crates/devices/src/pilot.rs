use serde::{Deserialize, Serialize};
use units::{Timestamp, Volts};

use crate::{DeviceError, Stamped};

/// What the charger drives onto the control pilot (IEC 61851-1 §A.2, through a 1 kΩ source
/// resistance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "signal")]
pub enum PilotSignal {
    /// A constant +12 V: the charger is there but offers no charging (states A1, B1).
    Static,
    /// A 1 kHz ±12 V square wave with this duty cycle in tenths of a percent. 50 (5 %) asks for
    /// digital communication (ISO 15118-3, DIN 70121); 100–960 would advertise an AC current.
    Pwm {
        /// Duty cycle in ‰ (0–1000).
        duty_permille: u16,
    },
    /// A constant −12 V: state F, the charger is unavailable or in error.
    Unavailable,
}

impl PilotSignal {
    /// 5 % duty: high-level (digital) communication required, the only duty a DC charger uses.
    pub const DIGITAL: Self = Self::Pwm { duty_permille: 50 };

    /// The duty cycle a PWM output needs for this signal, in ‰: static +12 V is 1000 ‰,
    /// −12 V is 0 ‰.
    pub fn duty_permille(self) -> u16 {
        match self {
            Self::Static => 1000,
            Self::Pwm { duty_permille } => duty_permille.min(1000),
            Self::Unavailable => 0,
        }
    }
}

/// The control pilot voltage as measured over one sampling burst: the plateau of the positive
/// half-wave (which tells the car's state) and of the negative one (which proves the car's
/// diode while the signal oscillates).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PilotReading {
    /// The highest level seen: 12 V with no car, 9 V (state B), 6 V (C), 3 V (D), 0 V (E).
    pub high: Volts,
    /// The lowest level seen: about −12 V while the signal swings negative; `None` if the
    /// backend could not see the negative half-wave (a constant +12 V has none).
    pub low: Option<Volts>,
}

/// The control pilot: the signal the charger drives and the voltage the car's resistors and
/// diode turn it into (IEC 61851-1 Annex A).
///
/// Safe state: [`PilotSignal::Unavailable`] (−12 V, state F): a car sees the charger as
/// unavailable and opens its contactors; a charger that is shutting down or has lost its
/// controller must not let a session start.
pub trait ControlPilot: Send {
    /// Drives `signal` from now on.
    fn set_signal(&mut self, now: Timestamp, signal: PilotSignal) -> Result<(), DeviceError>;

    /// The newest measurement.
    fn reading(&self) -> Option<Stamped<PilotReading>>;

    /// Goes to the safe state: −12 V (state F).
    fn safe_state(&mut self, now: Timestamp) -> Result<(), DeviceError> {
        self.set_signal(now, PilotSignal::Unavailable)
    }
}
