use serde::{Deserialize, Serialize};
use units::{PricePerKwh, Timestamp};

/// One price slot `[start, end)`: 15, 30 or 60 minutes on day-ahead markets, any length for
/// fixed and time-of-use tariffs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PriceSlot {
    /// First instant of the slot.
    pub start: Timestamp,
    /// First instant after the slot.
    pub end: Timestamp,
    /// The price over the slot.
    pub price: PricePerKwh,
}

impl PriceSlot {
    /// Whether `t` falls in the slot.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

/// The price of grid energy over time: a fixed tariff, a day-ahead market, a simulation.
///
/// Contract: every method is cheap (prices are fetched and cached by the backend's own task).
/// `prices` returns the known slots overlapping `[from, to)`, sorted and without overlaps; times
/// without a known price have no slot, and the controller then ignores its price rules.
pub trait Tariff: Send {
    /// The all-in import price slots overlapping `[from, to)`.
    fn prices(&self, from: Timestamp, to: Timestamp) -> Vec<PriceSlot>;

    /// The end of the last known import price: how far ahead a planner can see. `None` when
    /// prices are known for any time (fixed and time-of-use tariffs).
    fn horizon(&self) -> Option<Timestamp>;

    /// The feed-in (export) price slots overlapping `[from, to)`; none when exported energy is
    /// not paid or the tariff does not say.
    fn feed_in(&self, from: Timestamp, to: Timestamp) -> Vec<PriceSlot> {
        let _ = (from, to);
        Vec::new()
    }

    /// The feed-in (export) price at `t`; `None` when exports are not paid or the tariff does
    /// not say.
    fn feed_in_at(&self, t: Timestamp) -> Option<PricePerKwh> {
        let to = Timestamp::from_unix_micros(t.as_unix_micros().saturating_add(1));
        self.feed_in(t, to)
            .into_iter()
            .find(|s| s.contains(t))
            .map(|s| s.price)
    }

    /// The all-in import price at `t`.
    fn price_at(&self, t: Timestamp) -> Option<PricePerKwh> {
        let to = Timestamp::from_unix_micros(t.as_unix_micros().saturating_add(1));
        self.prices(t, to)
            .into_iter()
            .find(|s| s.contains(t))
            .map(|s| s.price)
    }
}

/// A fixed price, for sites without a dynamic tariff.
#[derive(Debug, Clone, Copy)]
pub struct FixedTariff(pub PricePerKwh);

impl Tariff for FixedTariff {
    fn prices(&self, from: Timestamp, to: Timestamp) -> Vec<PriceSlot> {
        if from < to {
            vec![PriceSlot {
                start: from,
                end: to,
                price: self.0,
            }]
        } else {
            Vec::new()
        }
    }

    fn horizon(&self) -> Option<Timestamp> {
        None
    }

    fn price_at(&self, _t: Timestamp) -> Option<PricePerKwh> {
        Some(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_tariff_covers_any_window() {
        let t = FixedTariff(PricePerKwh(0.3));
        let a = Timestamp::from_unix_secs(100);
        let b = Timestamp::from_unix_secs(200);
        assert_eq!(t.price_at(a), Some(PricePerKwh(0.3)));
        assert_eq!(t.prices(a, b).len(), 1);
        assert!(t.prices(b, a).is_empty());
        assert_eq!(t.horizon(), None);
        // A fixed import price says nothing about exports.
        assert_eq!(t.feed_in_at(a), None);
    }
}
