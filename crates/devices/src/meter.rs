use serde::Serialize;
use units::{WattHours, Watts};

use crate::Stamped;

/// One reading of the meter at the grid connection point.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct GridReading {
    /// Total active power. **Positive = import from the grid**, negative = export (the
    /// convention of the DTSU666 register 2126 and of most meters).
    pub power_w: Watts,
    /// Active power per phase L1..L3 (same sign), if the meter reports it.
    pub phases_w: Option<[Watts; 3]>,
    /// Imported energy counter, if the meter reports it.
    pub import_wh: Option<WattHours>,
    /// Exported energy counter, if the meter reports it.
    pub export_wh: Option<WattHours>,
}

/// The meter at the grid connection point: the controller's main feedback.
///
/// Contract: [`reading`](Self::reading) returns the newest complete reading, stamped with when it
/// was measured, or `None` before the first one. A backend that loses its meter keeps returning
/// the last reading with its old stamp; the controller notices the age and stops regulating.
pub trait GridMeter: Send {
    /// The newest reading.
    fn reading(&self) -> Option<Stamped<GridReading>>;
}
