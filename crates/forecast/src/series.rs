//! Power over time as samples, read by linear interpolation.

use serde::{Deserialize, Serialize};
use units::{Timestamp, Watts};

/// Power at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PowerSample {
    /// When.
    pub at: Timestamp,
    /// The power.
    pub power: Watts,
}

/// Samples sorted by time; between two samples the power is interpolated linearly, outside
/// them it is unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PowerSeries(Vec<PowerSample>);

impl PowerSeries {
    /// From samples in any order; non-finite powers are dropped, and of two samples at the same
    /// instant the first stays.
    pub fn new(mut samples: Vec<PowerSample>) -> Self {
        samples.retain(|s| s.power.0.is_finite());
        samples.sort_by_key(|s| s.at);
        samples.dedup_by_key(|s| s.at);
        Self(samples)
    }

    /// The samples.
    pub fn samples(&self) -> &[PowerSample] {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The last instant covered.
    pub fn end(&self) -> Option<Timestamp> {
        self.0.last().map(|s| s.at)
    }

    /// The power at `t`, if `t` is within the samples.
    pub fn at(&self, t: Timestamp) -> Option<Watts> {
        let i = self.0.partition_point(|s| s.at <= t);
        let after = self.0.get(i);
        let before = i.checked_sub(1).and_then(|j| self.0.get(j))?;
        if before.at == t {
            return Some(before.power);
        }
        let after = after?;
        let span = (after.at.as_unix_micros() - before.at.as_unix_micros()) as f64;
        let f = (t.as_unix_micros() - before.at.as_unix_micros()) as f64 / span;
        Some(Watts(before.power.0 + f * (after.power.0 - before.power.0)))
    }

    /// The mean power over `[from, to)` (exact for the piecewise-linear curve), if the samples
    /// cover it.
    pub fn mean(&self, from: Timestamp, to: Timestamp) -> Option<Watts> {
        if to <= from {
            return self.at(from);
        }
        let (a, b) = (self.at(from)?, self.at(to)?);
        let mut pts = vec![(from, a)];
        pts.extend(
            self.0
                .iter()
                .filter(|s| from < s.at && s.at < to)
                .map(|s| (s.at, s.power)),
        );
        pts.push((to, b));
        let area: f64 = pts
            .windows(2)
            .map(|w| {
                let dt = (w[1].0.as_unix_micros() - w[0].0.as_unix_micros()) as f64;
                dt * (w[0].1.0 + w[1].1.0) / 2.0
            })
            .sum();
        Some(Watts(
            area / (to.as_unix_micros() - from.as_unix_micros()) as f64,
        ))
    }

    /// The sum of two series (arrays of one site), over the time both cover.
    pub fn plus(&self, other: &Self) -> Self {
        if self.is_empty() {
            return other.clone();
        }
        if other.is_empty() {
            return self.clone();
        }
        let mut times: Vec<Timestamp> = self.0.iter().chain(&other.0).map(|s| s.at).collect();
        times.sort();
        times.dedup();
        Self::new(
            times
                .into_iter()
                .filter_map(|t| {
                    Some(PowerSample {
                        at: t,
                        power: Watts(self.at(t)?.0 + other.at(t)?.0),
                    })
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: i64, w: f64) -> PowerSample {
        PowerSample {
            at: Timestamp::from_unix_secs(secs),
            power: Watts(w),
        }
    }

    #[test]
    fn interpolates_and_averages() {
        let p = PowerSeries::new(vec![s(100, 1000.0), s(0, 0.0), s(200, 1000.0)]);
        assert_eq!(p.at(Timestamp::from_unix_secs(50)), Some(Watts(500.0)));
        assert_eq!(p.at(Timestamp::from_unix_secs(200)), Some(Watts(1000.0)));
        assert_eq!(p.at(Timestamp::from_unix_secs(201)), None);
        let m = p
            .mean(Timestamp::from_unix_secs(0), Timestamp::from_unix_secs(200))
            .unwrap();
        assert!((m.0 - 750.0).abs() < 1e-9);
        let two = p.plus(&PowerSeries::new(vec![s(0, 10.0), s(150, 10.0)]));
        assert_eq!(two.samples().len(), 3);
        assert_eq!(two.at(Timestamp::from_unix_secs(100)), Some(Watts(1010.0)));
    }
}
