//! The end-user price as a function of the spot price, and the feed-in price.

use serde::{Deserialize, Serialize};
use units::PricePerKwh;

/// The all-in import price from the spot price, evcc's `(spot + charges) × (1 + tax)` with a
/// factor for tariffs that pass on a share of the spot price:
/// `price = (spot × spot_factor + fee) × (1 + vat)`. Prices per kWh, `vat` as a fraction
/// (0.19 = 19 %). The default is the identity (the provider's price as is).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriceFormula {
    /// Share of the spot price passed on (1 = all of it).
    pub spot_factor: f64,
    /// Grid fees, levies and taxes per kWh before VAT.
    pub fee: f64,
    /// VAT as a fraction.
    pub vat: f64,
}

impl Default for PriceFormula {
    fn default() -> Self {
        Self {
            spot_factor: 1.0,
            fee: 0.0,
            vat: 0.0,
        }
    }
}

impl PriceFormula {
    /// The end-user price at `spot`.
    pub fn apply(&self, spot: PricePerKwh) -> PricePerKwh {
        PricePerKwh((spot.0 * self.spot_factor + self.fee) * (1.0 + self.vat))
    }

    /// Checks the fields; the error names the field.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for (name, v) in [
            ("spot_factor", self.spot_factor),
            ("fee", self.fee),
            ("vat", self.vat),
        ] {
            if !v.is_finite() {
                return Err((name, "must be a finite number".into()));
            }
        }
        if !(0.0..=1.0).contains(&self.vat) {
            return Err(("vat", "is a fraction: 0.19 for 19 %".into()));
        }
        Ok(())
    }
}

/// What exported energy earns.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FeedIn {
    /// Nothing (or unknown).
    #[default]
    None,
    /// A fixed price per kWh (a feed-in tariff).
    Fixed {
        /// The price.
        price: PricePerKwh,
    },
    /// Direct marketing: `spot × spot_factor + offset` (offset usually negative: the
    /// marketer's fee), not below `floor` when set (many contracts pay nothing at negative
    /// prices: `floor = 0`).
    Spot {
        /// Share of the spot price paid.
        #[serde(default = "one")]
        spot_factor: f64,
        /// Added per kWh.
        #[serde(default)]
        offset: f64,
        /// The least paid per kWh.
        #[serde(default)]
        floor: Option<f64>,
    },
}

fn one() -> f64 {
    1.0
}

impl FeedIn {
    /// The export price at `spot`; `None` when export is not paid.
    pub fn apply(&self, spot: PricePerKwh) -> Option<PricePerKwh> {
        match *self {
            Self::None => None,
            Self::Fixed { price } => Some(price),
            Self::Spot {
                spot_factor,
                offset,
                floor,
            } => {
                let p = spot.0 * spot_factor + offset;
                Some(PricePerKwh(floor.map_or(p, |f| p.max(f))))
            }
        }
    }

    /// Whether the price follows the spot market (else it is known for any time).
    pub fn follows_spot(&self) -> bool {
        matches!(self, Self::Spot { .. })
    }

    /// Checks the fields; the error names the field.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let bad = |v: f64| !v.is_finite();
        match *self {
            Self::None => Ok(()),
            Self::Fixed { price } if bad(price.0) => Err(("price", "must be finite".into())),
            Self::Fixed { .. } => Ok(()),
            Self::Spot {
                spot_factor,
                offset,
                floor,
            } => {
                if bad(spot_factor) {
                    Err(("spot_factor", "must be finite".into()))
                } else if bad(offset) {
                    Err(("offset", "must be finite".into()))
                } else if floor.is_some_and(bad) {
                    Err(("floor", "must be finite".into()))
                } else {
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formula_adds_fees_then_vat() {
        let f = PriceFormula {
            spot_factor: 1.0,
            fee: 0.20,
            vat: 0.19,
        };
        let p = f.apply(PricePerKwh(0.10));
        assert!((p.0 - 0.357).abs() < 1e-12, "{p:?}");
        assert_eq!(
            PriceFormula::default().apply(PricePerKwh(-0.05)),
            PricePerKwh(-0.05)
        );
        assert!(PriceFormula { vat: 19.0, ..f }.validate().is_err());
    }

    #[test]
    fn feed_in_is_fixed_or_follows_spot_with_a_floor() {
        assert_eq!(FeedIn::None.apply(PricePerKwh(0.1)), None);
        let fixed = FeedIn::Fixed {
            price: PricePerKwh(0.08),
        };
        assert_eq!(fixed.apply(PricePerKwh(-1.0)), Some(PricePerKwh(0.08)));
        let spot = FeedIn::Spot {
            spot_factor: 1.0,
            offset: -0.01,
            floor: Some(0.0),
        };
        assert_eq!(spot.apply(PricePerKwh(-0.05)), Some(PricePerKwh(0.0)));
        let p = spot.apply(PricePerKwh(0.11)).unwrap();
        assert!((p.0 - 0.10).abs() < 1e-12);
    }
}
