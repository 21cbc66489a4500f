//! A synthetic day-ahead market: 15-minute prices with a night trough, morning and evening peaks
//! and a midday solar dip that on sunny days goes below zero.

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use units::{PricePerKwh, Timestamp};

use crate::rng::SimRng;

/// Where the simulated site gets its price from.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PriceModel {
    /// No price.
    #[default]
    None,
    /// A fixed price.
    Fixed {
        /// The price.
        price: PricePerKwh,
    },
    /// The synthetic market: an all-in household price (energy, grid fees, taxes) around
    /// `mean`, following a synthetic spot price.
    SimMarket {
        /// The price level.
        mean: PricePerKwh,
    },
}

/// Slot length of the synthetic market, as on European day-ahead markets since October 2025.
pub(crate) const SLOT_SECS: i64 = 900;

impl PriceModel {
    /// The price at `t`, for local hour-of-day `hour` (0.0–24.0).
    pub(crate) fn price(&self, seed: u64, t: Timestamp, hour: f64) -> Option<PricePerKwh> {
        match *self {
            Self::None => None,
            Self::Fixed { price } => Some(price),
            Self::SimMarket { mean } => {
                let secs = t.as_unix_micros().div_euclid(1_000_000);
                let slot = secs.div_euclid(SLOT_SECS);
                let day = secs.div_euclid(86_400);
                // Per-day and per-slot randomness from the slot number alone, so a price never
                // depends on how long the simulation has run.
                let mut day_rng =
                    SimRng::seed_from_u64(seed ^ (day as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let solar_depth: f64 = day_rng.random::<f64>();
                let mut slot_rng =
                    SimRng::seed_from_u64(seed ^ (slot as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
                let noise: f64 = slot_rng.random::<f64>() - 0.5;
                let bump = |center: f64, width: f64| (-((hour - center) / width).powi(2)).exp();
                let shape = 0.06 * bump(8.0, 1.5) + 0.10 * bump(19.0, 2.0)
                    - 0.04 * bump(3.5, 2.5)
                    - (0.04 + 0.16 * solar_depth) * bump(13.0, 2.2);
                Some(PricePerKwh(mean.0 + shape + 0.02 * noise))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SimSettings, World};

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn the_market_publishes_tomorrow_at_13_00_in_quarter_hours() {
        let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let mut w = World::new(&SimSettings::default(), tz, ts("2026-01-15T08:00:00Z"));
        w.set_price(PriceModel::SimMarket {
            mean: PricePerKwh(0.3),
        });
        // 09:00 CET: today only, until 23:00Z.
        assert_eq!(w.price_horizon(), Some(ts("2026-01-15T23:00:00Z")));
        let s = w.prices(ts("2026-01-15T08:05:00Z"), ts("2026-01-17T00:00:00Z"));
        assert_eq!(s.first().map(|s| s.start), Some(ts("2026-01-15T08:00:00Z")));
        assert_eq!(s.last().map(|s| s.end), Some(ts("2026-01-15T23:00:00Z")));
        assert_eq!(s.len(), 60);
        assert!(s.iter().all(|x| w.price_at(x.start) == Some(x.price)));
        // 14:00 CET: tomorrow too.
        w.advance_to(ts("2026-01-15T13:00:00Z"));
        assert_eq!(w.price_horizon(), Some(ts("2026-01-16T23:00:00Z")));
    }
}
