use units::{PricePerKwh, Timestamp};

/// The price of grid energy over time: a fixed tariff, a day-ahead market, a simulation.
///
/// Contract: `price_at` is cheap (prices are fetched and cached by the backend's own task) and
/// returns `None` for times it has no price for; the controller then ignores its price rules.
pub trait Tariff: Send {
    /// The all-in import price at `t`.
    fn price_at(&self, t: Timestamp) -> Option<PricePerKwh>;
}

/// A fixed price, for sites without a dynamic tariff.
#[derive(Debug, Clone, Copy)]
pub struct FixedTariff(pub PricePerKwh);

impl Tariff for FixedTariff {
    fn price_at(&self, _t: Timestamp) -> Option<PricePerKwh> {
        Some(self.0)
    }
}
