//! The step intent: what the site should do until the next plan step, the controller's one input
//! besides the meters.
//!
//! A planner produces one per step (its grid and storage targets, the car's granted range); when
//! no plan runs, [`StepIntent::from_rules`] produces it from the mode and the price thresholds.
//! Either way the controller executes it the same way (issue 12, "one path into the
//! controller"): the thresholds are a fallback, not a second controller.

use serde::Serialize;
use units::{PricePerKwh, Watts};

use crate::config::{ControlSettings, Mode};
use crate::{GridChargeReason, NoDischargeReason};

/// What the store on the converter's DC port (the home battery or the car) is to do.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StoreIntent {
    /// Hold the grid at `grid_target_w` (+ import) with the PI loop, moving the store within its
    /// limits: store surplus, cover deficits.
    Follow {
        /// The grid power to hold.
        grid_target_w: Watts,
        /// `Some(why)`: charge only, never discharge.
        no_discharge: Option<NoDischargeReason>,
    },
    /// Charge at `power_w` (`None`: as fast as the store and the converter take), within the
    /// grid's import limit.
    Charge {
        /// The charge power.
        power_w: Option<Watts>,
        /// Why.
        reason: GridChargeReason,
    },
}

impl StoreIntent {
    /// Hold the grid at `grid_target_w`, charging and discharging.
    pub const fn follow(grid_target_w: Watts) -> Self {
        Self::Follow {
            grid_target_w,
            no_discharge: None,
        }
    }
}

/// Who decided the intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntentSource {
    /// The mode and the price thresholds (no plan, a plan that failed, or a manual mode).
    Rules,
    /// The planner's current step.
    Plan,
}

/// The intent for the current step. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepIntent {
    /// The home battery, while it is on the DC port.
    pub battery: StoreIntent,
    /// The car, while it is on the DC port: with [`StoreIntent::Follow`] the charge point is
    /// granted the store's whole range and the loop's set-point, with [`StoreIntent::Charge`] a
    /// fixed charge power.
    pub car: StoreIntent,
    /// Export nothing (curtail PV to zero export): feeding in would cost money.
    pub curtail: bool,
    /// Who decided.
    pub source: IntentSource,
}

impl StepIntent {
    /// What the mode and the price thresholds of `[control]` ask for at `price`. Mode
    /// [`Mode::Off`] is handled before any intent (the converter stops), so its intent is
    /// plain regulation.
    pub fn from_rules(mode: Mode, c: &ControlSettings, price: Option<PricePerKwh>) -> Self {
        let cheap = |threshold: Option<PricePerKwh>| matches!((price, threshold), (Some(p), Some(t)) if p <= t);
        let follow = StoreIntent::follow(c.grid_target_w);
        let hold = StoreIntent::Follow {
            grid_target_w: c.grid_target_w,
            no_discharge: Some(NoDischargeReason::HoldMode),
        };
        let battery = match mode {
            Mode::ChargeFromGrid => StoreIntent::Charge {
                power_w: Some(c.grid_charge_power_w),
                reason: GridChargeReason::Mode,
            },
            Mode::SelfConsumption if cheap(c.price.grid_charge_below) => StoreIntent::Charge {
                power_w: Some(c.grid_charge_power_w),
                reason: GridChargeReason::CheapPrice,
            },
            Mode::Hold => hold,
            _ if cheap(c.price.no_discharge_below) => StoreIntent::Follow {
                grid_target_w: c.grid_target_w,
                no_discharge: Some(NoDischargeReason::CheapPrice),
            },
            _ => follow,
        };
        let car = match mode {
            Mode::Hold => hold,
            _ if cheap(c.price.ev_charge_below) => StoreIntent::Charge {
                power_w: None,
                reason: GridChargeReason::CheapPriceForCar,
            },
            _ => follow,
        };
        Self {
            battery,
            car,
            curtail: cheap(c.price.curtail_below),
            source: IntentSource::Rules,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PriceSettings;

    fn settings() -> ControlSettings {
        ControlSettings {
            grid_target_w: Watts(50.0),
            price: PriceSettings {
                grid_charge_below: Some(PricePerKwh(0.10)),
                no_discharge_below: Some(PricePerKwh(0.20)),
                ev_charge_below: Some(PricePerKwh(0.15)),
                curtail_below: Some(PricePerKwh(0.0)),
            },
            ..Default::default()
        }
    }

    #[test]
    fn thresholds_map_to_intents() {
        let c = settings();
        let at = |p: f64| StepIntent::from_rules(Mode::SelfConsumption, &c, Some(PricePerKwh(p)));
        assert_eq!(at(0.30).battery, StoreIntent::follow(Watts(50.0)));
        assert_eq!(at(0.30).car, StoreIntent::follow(Watts(50.0)));
        assert!(!at(0.30).curtail);
        assert_eq!(
            at(0.18).battery,
            StoreIntent::Follow {
                grid_target_w: Watts(50.0),
                no_discharge: Some(NoDischargeReason::CheapPrice)
            }
        );
        // The no-discharge threshold is the battery's only.
        assert_eq!(at(0.18).car, StoreIntent::follow(Watts(50.0)));
        assert_eq!(
            at(0.12).car,
            StoreIntent::Charge {
                power_w: None,
                reason: GridChargeReason::CheapPriceForCar
            }
        );
        assert_eq!(
            at(0.05).battery,
            StoreIntent::Charge {
                power_w: Some(c.grid_charge_power_w),
                reason: GridChargeReason::CheapPrice
            }
        );
        assert!(at(-0.01).curtail);
        assert_eq!(at(0.3).source, IntentSource::Rules);
        // No price: no threshold applies.
        let none = StepIntent::from_rules(Mode::SelfConsumption, &c, None);
        assert_eq!(none.battery, StoreIntent::follow(Watts(50.0)));
        assert!(!none.curtail);
    }

    #[test]
    fn manual_modes_override_thresholds() {
        let c = settings();
        let cheap = Some(PricePerKwh(0.0));
        let hold = StepIntent::from_rules(Mode::Hold, &c, cheap);
        let held = StoreIntent::Follow {
            grid_target_w: Watts(50.0),
            no_discharge: Some(NoDischargeReason::HoldMode),
        };
        assert_eq!((hold.battery, hold.car), (held, held));
        let grid = StepIntent::from_rules(Mode::ChargeFromGrid, &c, Some(PricePerKwh(0.5)));
        assert_eq!(
            grid.battery,
            StoreIntent::Charge {
                power_w: Some(c.grid_charge_power_w),
                reason: GridChargeReason::Mode
            }
        );
        assert_eq!(grid.car, StoreIntent::follow(Watts(50.0)));
    }
}
