use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub, SubAssign};
use std::time::Duration;

use serde::{Deserialize, Serialize};

macro_rules! quantity {
    ($(#[$meta:meta])* $name:ident, $unit:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub f64);

        impl $name {
            /// Zero of this quantity.
            pub const ZERO: Self = Self(0.0);

            /// The value in this quantity's base unit.
            pub const fn value(self) -> f64 {
                self.0
            }

            /// Absolute value.
            pub fn abs(self) -> Self {
                Self(self.0.abs())
            }

            /// The smaller of two values.
            pub fn min(self, other: Self) -> Self {
                Self(self.0.min(other.0))
            }

            /// The larger of two values.
            pub fn max(self, other: Self) -> Self {
                Self(self.0.max(other.0))
            }

            /// Clamps into `[lo, hi]`. If `lo > hi` the result is `hi`, never a panic: limits come
            /// from devices and may be inconsistent, and the lower bound is the one to give up.
            pub fn clamp(self, lo: Self, hi: Self) -> Self {
                Self(self.0.max(lo.0).min(hi.0))
            }

            /// True if the value is a finite number (not NaN or infinite).
            pub fn is_finite(self) -> bool {
                self.0.is_finite()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", self.0, $unit)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match f.precision() {
                    Some(p) => write!(f, "{:.*} {}", p, self.0, $unit),
                    None => write!(f, "{} {}", self.0, $unit),
                }
            }
        }

        impl Add for $name {
            type Output = Self;
            fn add(self, rhs: Self) -> Self {
                Self(self.0 + rhs.0)
            }
        }

        impl AddAssign for $name {
            fn add_assign(&mut self, rhs: Self) {
                self.0 += rhs.0;
            }
        }

        impl Sub for $name {
            type Output = Self;
            fn sub(self, rhs: Self) -> Self {
                Self(self.0 - rhs.0)
            }
        }

        impl SubAssign for $name {
            fn sub_assign(&mut self, rhs: Self) {
                self.0 -= rhs.0;
            }
        }

        impl Neg for $name {
            type Output = Self;
            fn neg(self) -> Self {
                Self(-self.0)
            }
        }

        impl Mul<f64> for $name {
            type Output = Self;
            fn mul(self, rhs: f64) -> Self {
                Self(self.0 * rhs)
            }
        }

        impl Div<f64> for $name {
            type Output = Self;
            fn div(self, rhs: f64) -> Self {
                Self(self.0 / rhs)
            }
        }

        /// The ratio of two values of the same quantity.
        impl Div for $name {
            type Output = f64;
            fn div(self, rhs: Self) -> f64 {
                self.0 / rhs.0
            }
        }

        impl Sum for $name {
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                Self(iter.map(|v| v.0).sum())
            }
        }
    };
}

quantity!(
    /// Power in watts.
    Watts, "W"
);
quantity!(
    /// Energy in watt-hours.
    WattHours, "Wh"
);
quantity!(
    /// Electric potential in volts.
    Volts, "V"
);
quantity!(
    /// Electric current in amperes.
    Amps, "A"
);
quantity!(
    /// A percentage, 0–100 for a state of charge.
    Percent, "%"
);
quantity!(
    /// An energy price in the configured currency per kWh (e.g. EUR/kWh). Negative prices are
    /// real on day-ahead markets and are kept.
    PricePerKwh, "/kWh"
);

const SECONDS_PER_HOUR: f64 = 3600.0;

impl Watts {
    /// Builds a power from kilowatts.
    pub fn from_kw(kw: f64) -> Self {
        Self(kw * 1000.0)
    }

    /// The energy this power delivers over `dt`.
    pub fn over(self, dt: Duration) -> WattHours {
        WattHours(self.0 * dt.as_secs_f64() / SECONDS_PER_HOUR)
    }

    /// The positive part (power flowing in the role's positive direction), else zero.
    pub fn positive_part(self) -> Self {
        Self(self.0.max(0.0))
    }

    /// The magnitude of the negative part, else zero.
    pub fn negative_part(self) -> Self {
        Self((-self.0).max(0.0))
    }
}

impl WattHours {
    /// Builds an energy from kilowatt-hours.
    pub fn from_kwh(kwh: f64) -> Self {
        Self(kwh * 1000.0)
    }

    /// The energy in kilowatt-hours.
    pub fn kwh(self) -> f64 {
        self.0 / 1000.0
    }

    /// The constant power that delivers this energy over `dt` (zero for a zero duration).
    pub fn per(self, dt: Duration) -> Watts {
        let s = dt.as_secs_f64();
        if s == 0.0 {
            Watts::ZERO
        } else {
            Watts(self.0 * SECONDS_PER_HOUR / s)
        }
    }
}

impl Mul<Amps> for Volts {
    type Output = Watts;
    fn mul(self, rhs: Amps) -> Watts {
        Watts(self.0 * rhs.0)
    }
}

impl Mul<Volts> for Amps {
    type Output = Watts;
    fn mul(self, rhs: Volts) -> Watts {
        Watts(self.0 * rhs.0)
    }
}

impl Watts {
    /// The current this power draws at `v`; zero if `v` is not positive, because a current limit
    /// derived from a dead voltage reading must not become infinite.
    pub fn at(self, v: Volts) -> Amps {
        if v.0 > 0.0 {
            Amps(self.0 / v.0)
        } else {
            Amps::ZERO
        }
    }
}

impl Percent {
    /// The value as a fraction, 0.0–1.0 for 0–100 %.
    pub fn fraction(self) -> f64 {
        self.0 / 100.0
    }

    /// Builds a percentage from a fraction.
    pub fn from_fraction(f: f64) -> Self {
        Self(f * 100.0)
    }
}

impl PricePerKwh {
    /// The cost of `energy` at this price.
    pub fn cost(self, energy: WattHours) -> f64 {
        self.0 * energy.kwh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_times_time_is_energy() {
        let e = Watts(3000.0).over(Duration::from_secs(1200));
        assert!((e.0 - 1000.0).abs() < 1e-9);
        assert!((e.per(Duration::from_secs(1200)).0 - 3000.0).abs() < 1e-9);
        assert_eq!(WattHours(5.0).per(Duration::ZERO), Watts::ZERO);
    }

    #[test]
    fn electrical_relations() {
        assert_eq!(Volts(400.0) * Amps(10.0), Watts(4000.0));
        assert_eq!(Watts(4000.0).at(Volts(400.0)), Amps(10.0));
        assert_eq!(Watts(4000.0).at(Volts(0.0)), Amps::ZERO);
    }

    #[test]
    fn clamp_with_inverted_bounds_takes_upper() {
        assert_eq!(Watts(50.0).clamp(Watts(100.0), Watts(10.0)), Watts(10.0));
        assert_eq!(
            Watts(-500.0).clamp(Watts(-100.0), Watts(100.0)),
            Watts(-100.0)
        );
    }

    #[test]
    fn parts_and_display() {
        assert_eq!(Watts(-20.0).positive_part(), Watts::ZERO);
        assert_eq!(Watts(-20.0).negative_part(), Watts(20.0));
        assert_eq!(format!("{:.1}", Watts(12.345)), "12.3 W");
        assert_eq!(format!("{}", Percent(50.0)), "50 %");
        assert!((PricePerKwh(0.30).cost(WattHours(2000.0)) - 0.6).abs() < 1e-12);
    }

    #[test]
    fn serde_is_a_plain_number() {
        assert_eq!(serde_json::to_string(&Watts(1.5)).unwrap(), "1.5");
        let v: Volts = serde_json::from_str("230").unwrap();
        assert_eq!(v, Volts(230.0));
    }
}
