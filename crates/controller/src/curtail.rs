//! PV curtailment to an export limit (feed-in limit, or zero export at negative prices).
//!
//! The battery loop absorbs surplus first; curtailment only acts on what still leaves the house
//! above the limit. It cuts at once to what is needed and releases gradually, because exceeding a
//! legal feed-in limit counts and giving PV power back a few seconds late costs next to nothing.

use units::{Timestamp, Watts};

/// Export within this margin above the limit is left to the battery loop, so grid-meter noise
/// does not throttle PV while the battery can still take the power.
const MARGIN: Watts = Watts(30.0);
/// Share of the headroom given back per meter sample.
const RELEASE_GAIN: f64 = 0.5;

#[derive(Debug, Clone, Default)]
pub(crate) struct Curtailment {
    total: Option<Watts>,
    last_sample: Option<Timestamp>,
}

impl Curtailment {
    /// The total PV limit in force, if any.
    pub(crate) fn total(&self) -> Option<Watts> {
        self.total
    }

    /// Updates the limit from a grid sample and returns one limit per inverter, shared by
    /// rated power.
    ///
    /// `grid`: the fresh grid sample (+ import); `pv_now`: the PV output now; `rated`: each
    /// inverter's rating; `export_limit`: the limit, `None` for none.
    pub(crate) fn step(
        &mut self,
        grid: Option<(Timestamp, Watts)>,
        pv_now: Watts,
        rated: &[Watts],
        export_limit: Option<Watts>,
    ) -> Vec<Option<Watts>> {
        let rated_sum: Watts = rated.iter().copied().sum();
        match (export_limit, grid) {
            (None, _) => {
                self.total = None;
                self.last_sample = None;
            }
            (Some(limit), Some((at, grid_w))) if self.last_sample.is_none_or(|l| at > l) => {
                self.last_sample = Some(at);
                let headroom = limit - (-grid_w);
                if headroom < -MARGIN {
                    let base = self.total.unwrap_or(rated_sum).min(pv_now);
                    self.total = Some((base + headroom).max(Watts::ZERO));
                } else if let Some(total) = self.total {
                    let released = total + headroom.positive_part() * RELEASE_GAIN;
                    // Back to no limit once the limit is above everything PV could produce.
                    self.total = (released < rated_sum).then_some(released);
                }
            }
            // No new sample (or the meter is stale): keep the last limit. Lifting it without a
            // meter could break a legal export limit.
            _ => {}
        }
        match self.total {
            None => vec![None; rated.len()],
            Some(total) => rated
                .iter()
                .map(|r| {
                    let share = if rated_sum.0 > 0.0 {
                        *r / rated_sum
                    } else {
                        1.0 / rated.len() as f64
                    };
                    Some(total * share)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_unix_secs(s)
    }

    #[test]
    fn cuts_to_the_limit_and_releases() {
        let mut c = Curtailment::default();
        let rated = [Watts(6000.0), Watts(2000.0)];
        // Exporting 5 kW with a 3 kW limit and 6 kW of PV: cut to 4 kW total.
        let l = c.step(
            Some((t(0), Watts(-5000.0))),
            Watts(6000.0),
            &rated,
            Some(Watts(3000.0)),
        );
        assert_eq!(l, vec![Some(Watts(3000.0)), Some(Watts(1000.0))]);
        // Now exporting exactly 3 kW: hold.
        let l = c.step(
            Some((t(1), Watts(-3000.0))),
            Watts(4000.0),
            &rated,
            Some(Watts(3000.0)),
        );
        assert_eq!(l[0], Some(Watts(3000.0)));
        // Load rises, export drops to 1 kW: release half the headroom per sample.
        let l = c.step(
            Some((t(2), Watts(-1000.0))),
            Watts(4000.0),
            &rated,
            Some(Watts(3000.0)),
        );
        assert_eq!(l[0], Some(Watts(3750.0)));
        // Lots of headroom: 5000 + 5000 / 2 = 7500 in total, then the limit goes away once above the rating.
        let l = c.step(
            Some((t(3), Watts(2000.0))),
            Watts(5000.0),
            &rated,
            Some(Watts(3000.0)),
        );
        assert_eq!(l[0], Some(Watts(5625.0)));
        let l = c.step(
            Some((t(4), Watts(2000.0))),
            Watts(5000.0),
            &rated,
            Some(Watts(3000.0)),
        );
        assert_eq!(l, vec![None, None]);
    }

    #[test]
    fn stale_meter_keeps_the_limit() {
        let mut c = Curtailment::default();
        let rated = [Watts(5000.0)];
        c.step(
            Some((t(0), Watts(-4000.0))),
            Watts(5000.0),
            &rated,
            Some(Watts(0.0)),
        );
        assert_eq!(c.total(), Some(Watts(1000.0)));
        let l = c.step(None, Watts(5000.0), &rated, Some(Watts(0.0)));
        assert_eq!(l, vec![Some(Watts(1000.0))]);
    }

    #[test]
    fn small_excess_is_left_to_the_battery() {
        let mut c = Curtailment::default();
        let l = c.step(
            Some((t(0), Watts(-20.0))),
            Watts(3000.0),
            &[Watts(5000.0)],
            Some(Watts::ZERO),
        );
        assert_eq!(l, vec![None]);
    }
}
