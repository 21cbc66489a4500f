//! Relay rules: conditions with hysteresis, combined with minimum on and off times.

use serde::{Deserialize, Serialize};
use units::{Percent, PricePerKwh, Timestamp, Watts};

use crate::config::RelayRule;

/// A threshold with hysteresis, in one of two directions:
/// - rising: `on_above` and `off_below` (on when the value rises to `on_above`, off again when it
///   falls below `off_below`), e.g. PV surplus;
/// - falling: `on_below` and `off_above`, e.g. a cheap price.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold<T> {
    /// Rising: switch on at or above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_above: Option<T>,
    /// Rising: switch off below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_below: Option<T>,
    /// Falling: switch on at or below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_below: Option<T>,
    /// Falling: switch off above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_above: Option<T>,
}

impl<T: Copy + PartialOrd> Threshold<T> {
    fn validate(&self) -> Result<(), String> {
        match (self.on_above, self.off_below, self.on_below, self.off_above) {
            (Some(on), Some(off), None, None) if off <= on => Ok(()),
            (Some(_), Some(_), None, None) => Err("off_below must not exceed on_above".into()),
            (None, None, Some(on), Some(off)) if off >= on => Ok(()),
            (None, None, Some(_), Some(_)) => Err("off_above must not be below on_below".into()),
            _ => Err(
                "a threshold needs either `on_above` and `off_below`, or `on_below` and `off_above`"
                    .into(),
            ),
        }
    }

    /// The new state given the old one and the value. A missing value (stale or unknown input)
    /// makes the condition false: a relay never switches on because of data we do not have.
    fn eval(&self, was: bool, value: Option<T>) -> bool {
        let Some(v) = value else { return false };
        match (self.on_above, self.off_below, self.on_below, self.off_above) {
            (Some(on), Some(off), _, _) => {
                if was {
                    v >= off
                } else {
                    v >= on
                }
            }
            (_, _, Some(on), Some(off)) => {
                if was {
                    v <= off
                } else {
                    v <= on
                }
            }
            _ => false,
        }
    }
}

/// One condition of a relay rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Grid export in W (negative = import), plus the relay's own `load_w` while it is on.
    SurplusW(Threshold<Watts>),
    /// The home battery's state of charge.
    SocPct(Threshold<Percent>),
    /// The current energy price.
    Price(Threshold<PricePerKwh>),
    /// A local time-of-day window; `from` after `to` wraps over midnight.
    Time {
        /// Start, inclusive, e.g. `"22:00"`.
        from: jiff::civil::Time,
        /// End, exclusive.
        to: jiff::civil::Time,
    },
}

impl Condition {
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            Self::SurplusW(t) => t.validate(),
            Self::SocPct(t) => t.validate(),
            Self::Price(t) => t.validate(),
            Self::Time { from, to } if from == to => {
                Err("an empty time window (from == to) never holds".into())
            }
            Self::Time { .. } => Ok(()),
        }
    }
}

/// What the relay conditions may look at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RuleInputs {
    /// Grid export (−grid power), if the meter is fresh.
    pub(crate) surplus: Option<Watts>,
    /// Home battery SoC, if the BMS is fresh.
    pub(crate) soc: Option<Percent>,
    /// Current price, if known.
    pub(crate) price: Option<PricePerKwh>,
    /// Local wall-clock time of day.
    pub(crate) time_of_day: jiff::civil::Time,
}

/// Why a relay is in its state, for the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelayReason {
    /// All conditions hold.
    ConditionsMet,
    /// A condition does not hold.
    ConditionsNotMet,
    /// Conditions changed, but the minimum on time has not passed.
    MinOnTime,
    /// Conditions changed, but the minimum off time has not passed.
    MinOffTime,
    /// The user forces it ([`RelayOverride`]); the safe state still wins.
    Override,
}

/// The user's override of a rule relay (the page, the API): the rule decides, or the relay is
/// forced on or off. Forced relays still go off in the safe state (shutdown, lost control loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RelayOverride {
    /// The rule decides.
    #[default]
    Auto,
    /// Forced on.
    On,
    /// Forced off.
    Off,
}

/// The run-time state of one relay rule.
#[derive(Debug, Clone)]
pub(crate) struct RelayRuleState {
    on: bool,
    last_switch: Option<Timestamp>,
    conditions: Vec<bool>,
    reason: RelayReason,
}

impl RelayRuleState {
    pub(crate) fn new(rule: &RelayRule) -> Self {
        Self {
            on: false,
            last_switch: None,
            conditions: vec![false; rule.when.len()],
            reason: RelayReason::ConditionsNotMet,
        }
    }

    pub(crate) fn reason(&self) -> RelayReason {
        self.reason
    }

    /// Evaluates the rule at `now` and returns whether the relay should be on.
    pub(crate) fn step(&mut self, now: Timestamp, rule: &RelayRule, inp: &RuleInputs) -> bool {
        for (state, cond) in self.conditions.iter_mut().zip(&rule.when) {
            *state = match cond {
                Condition::SurplusW(t) => {
                    let own = if self.on { rule.load_w } else { Watts::ZERO };
                    t.eval(*state, inp.surplus.map(|s| s + own))
                }
                Condition::SocPct(t) => t.eval(*state, inp.soc),
                Condition::Price(t) => t.eval(*state, inp.price),
                Condition::Time { from, to } => {
                    let t = inp.time_of_day;
                    if from <= to {
                        *from <= t && t < *to
                    } else {
                        t >= *from || t < *to
                    }
                }
            };
        }
        let want = self.conditions.iter().all(|c| *c);
        let held_for = self.last_switch.map(|at| now.saturating_duration_since(at));
        if want == self.on {
            self.reason = if want {
                RelayReason::ConditionsMet
            } else {
                RelayReason::ConditionsNotMet
            };
        } else {
            let min = if self.on { rule.min_on } else { rule.min_off };
            if held_for.is_none_or(|h| h >= min) {
                self.on = want;
                self.last_switch = Some(now);
                self.reason = if want {
                    RelayReason::ConditionsMet
                } else {
                    RelayReason::ConditionsNotMet
                };
            } else {
                self.reason = if self.on {
                    RelayReason::MinOnTime
                } else {
                    RelayReason::MinOffTime
                };
            }
        }
        self.on
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_unix_secs(s)
    }

    fn inputs(surplus: Option<f64>) -> RuleInputs {
        RuleInputs {
            surplus: surplus.map(Watts),
            soc: Some(Percent(50.0)),
            price: Some(PricePerKwh(0.2)),
            time_of_day: jiff::civil::time(12, 0, 0, 0),
        }
    }

    fn surplus_rule(min_on: u64, min_off: u64) -> RelayRule {
        RelayRule {
            name: "boiler".into(),
            when: vec![Condition::SurplusW(Threshold {
                on_above: Some(Watts(2000.0)),
                off_below: Some(Watts(200.0)),
                ..Default::default()
            })],
            load_w: Watts::ZERO,
            min_on: Duration::from_secs(min_on),
            min_off: Duration::from_secs(min_off),
        }
    }

    #[test]
    fn surplus_hysteresis() {
        let rule = surplus_rule(0, 0);
        let mut s = RelayRuleState::new(&rule);
        assert!(
            !s.step(t(0), &rule, &inputs(Some(1500.0))),
            "below on_above"
        );
        assert!(
            s.step(t(1), &rule, &inputs(Some(2100.0))),
            "reaches on_above"
        );
        assert!(
            s.step(t(2), &rule, &inputs(Some(500.0))),
            "still above off_below"
        );
        assert!(
            !s.step(t(3), &rule, &inputs(Some(100.0))),
            "below off_below"
        );
        assert!(
            !s.step(t(4), &rule, &inputs(Some(500.0))),
            "needs on_above again"
        );
    }

    #[test]
    fn the_relays_own_load_counts_as_surplus_while_on() {
        let mut rule = surplus_rule(0, 0);
        rule.load_w = Watts(2000.0);
        let mut s = RelayRuleState::new(&rule);
        assert!(s.step(t(0), &rule, &inputs(Some(2500.0))));
        // The 2 kW heater now uses most of the surplus: 500 W export is 2.5 kW available.
        assert!(s.step(t(1), &rule, &inputs(Some(500.0))));
        // Importing 300 W: 1.7 kW available, still above off_below.
        assert!(s.step(t(2), &rule, &inputs(Some(-300.0))));
        // Importing 1.9 kW: only 100 W of it is PV: off.
        assert!(!s.step(t(3), &rule, &inputs(Some(-1900.0))));
        // Off, the load no longer counts: 1.9 kW export is below on_above (2 kW).
        assert!(!s.step(t(4), &rule, &inputs(Some(1900.0))));
    }

    #[test]
    fn min_on_and_off_times_hold_the_state() {
        let rule = surplus_rule(600, 300);
        let mut s = RelayRuleState::new(&rule);
        assert!(
            s.step(t(0), &rule, &inputs(Some(3000.0))),
            "first switch is free"
        );
        assert!(s.step(t(10), &rule, &inputs(Some(0.0))), "held by min_on");
        assert_eq!(s.reason(), RelayReason::MinOnTime);
        assert!(!s.step(t(600), &rule, &inputs(Some(0.0))), "min_on passed");
        assert!(
            !s.step(t(700), &rule, &inputs(Some(3000.0))),
            "held by min_off"
        );
        assert_eq!(s.reason(), RelayReason::MinOffTime);
        assert!(s.step(t(900), &rule, &inputs(Some(3000.0))));
    }

    #[test]
    fn missing_input_switches_off() {
        let rule = surplus_rule(0, 0);
        let mut s = RelayRuleState::new(&rule);
        assert!(s.step(t(0), &rule, &inputs(Some(3000.0))));
        assert!(!s.step(t(1), &rule, &inputs(None)), "meter stale: off");
    }

    #[test]
    fn falling_price_threshold_and_time_window_over_midnight() {
        let rule = RelayRule {
            name: "heater".into(),
            when: vec![
                Condition::Price(Threshold {
                    on_below: Some(PricePerKwh(0.10)),
                    off_above: Some(PricePerKwh(0.12)),
                    ..Default::default()
                }),
                Condition::Time {
                    from: jiff::civil::time(22, 0, 0, 0),
                    to: jiff::civil::time(6, 0, 0, 0),
                },
            ],
            load_w: Watts::ZERO,
            min_on: Duration::ZERO,
            min_off: Duration::ZERO,
        };
        let mut s = RelayRuleState::new(&rule);
        let at = |h, price| RuleInputs {
            surplus: None,
            soc: None,
            price: Some(PricePerKwh(price)),
            time_of_day: jiff::civil::time(h, 0, 0, 0),
        };
        assert!(
            !s.step(t(0), &rule, &at(12, 0.05)),
            "cheap but outside the window"
        );
        assert!(s.step(t(1), &rule, &at(23, 0.05)));
        assert!(s.step(t(2), &rule, &at(2, 0.11)), "within hysteresis");
        assert!(!s.step(t(3), &rule, &at(3, 0.13)), "too dear");
        assert!(
            !s.step(t(4), &rule, &at(6, 0.05)),
            "window end is exclusive"
        );
    }

    #[test]
    fn thresholds_validate() {
        let ok: Threshold<Watts> = Threshold {
            on_above: Some(Watts(10.0)),
            off_below: Some(Watts(5.0)),
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        let inverted = Threshold {
            on_above: Some(Watts(5.0)),
            off_below: Some(Watts(10.0)),
            ..Default::default()
        };
        assert!(inverted.validate().is_err());
        let mixed = Threshold {
            on_above: Some(Watts(5.0)),
            off_above: Some(Watts(10.0)),
            ..Default::default()
        };
        assert!(mixed.validate().is_err());
        assert!(Threshold::<Watts>::default().validate().is_err());
    }
}
