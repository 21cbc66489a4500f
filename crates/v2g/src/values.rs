//! Numbers on the wire: DIN 70121 and ISO 15118-2 send `value × 10^multiplier` with a 16-bit
//! value and a multiplier of −3..3; ISO 15118-20 sends `value × 10^exponent` (RationalNumber).
//! Both directions here never panic: out-of-range numbers saturate, NaN becomes 0.

use v2g_messages::{din, iso2, iso20::common_types::RationalNumberType};

/// The multiplier range of DIN 70121 and ISO 15118-2 (`unitMultiplierType`).
const MIN_EXP: i8 = -3;
const MAX_EXP: i8 = 3;

/// `value × 10^exp`.
pub fn scaled(value: i16, exp: i8) -> f64 {
    f64::from(value) * 10f64.powi(i32::from(exp))
}

/// The (exponent, value) pair for `x`: the largest exponent ≤ 0 that represents `x` exactly
/// (so 400 V is `400 × 10^0`, as chargers send it), else the smallest that fits 16 bits.
pub fn fixed(x: f64) -> (i8, i16) {
    if !x.is_finite() {
        return (0, 0);
    }
    let fits = |e: i8| {
        let v = (x / 10f64.powi(i32::from(e))).round();
        (v.abs() <= f64::from(i16::MAX)).then_some(v)
    };
    for e in (MIN_EXP..=0).rev() {
        if let Some(v) = fits(e)
            && (x - v * 10f64.powi(i32::from(e))).abs() < 1e-9 * x.abs().max(1.0)
        {
            return (e, v as i16);
        }
    }
    for e in MIN_EXP..=MAX_EXP {
        if let Some(v) = fits(e) {
            return (e, v as i16);
        }
    }
    (MAX_EXP, if x < 0.0 { -i16::MAX } else { i16::MAX })
}

/// A DIN physical value of `x` in `unit`.
pub fn din_value(x: f64, unit: din::UnitSymbolType) -> din::PhysicalValueType {
    let (multiplier, value) = fixed(x);
    din::PhysicalValueType {
        multiplier,
        unit: Some(unit),
        value,
    }
}

/// The number a DIN physical value stands for.
pub fn from_din(v: &din::PhysicalValueType) -> f64 {
    scaled(v.value, v.multiplier)
}

/// An ISO 15118-2 physical value of `x` in `unit`.
pub fn iso2_value(x: f64, unit: iso2::UnitSymbolType) -> iso2::PhysicalValueType {
    let (multiplier, value) = fixed(x);
    iso2::PhysicalValueType {
        multiplier,
        unit,
        value,
    }
}

/// The number an ISO 15118-2 physical value stands for.
pub fn from_iso2(v: &iso2::PhysicalValueType) -> f64 {
    scaled(v.value, v.multiplier)
}

/// An ISO 15118-20 rational number of `x`.
pub fn rational(x: f64) -> RationalNumberType {
    let (exponent, value) = fixed(x);
    RationalNumberType { exponent, value }
}

/// The number an ISO 15118-20 rational number stands for.
pub fn from_rational(v: &RationalNumberType) -> f64 {
    scaled(v.value, v.exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_values_keep_a_small_exponent() {
        assert_eq!(fixed(400.0), (0, 400));
        assert_eq!(fixed(0.0), (0, 0));
        assert_eq!(fixed(-25.0), (0, -25));
        assert_eq!(fixed(353.4), (-1, 3534));
        assert_eq!(fixed(103.28), (-2, 10328));
        assert_eq!(fixed(1.5), (-1, 15));
        assert_eq!(fixed(11_000.0), (0, 11_000));
        // Too big for 16 bits at 10^0: scaled down.
        assert_eq!(fixed(74_400.0), (1, 7440));
        assert_eq!(fixed(-150_000.0), (1, -15000));
        // Not exact at any exponent: best precision that fits.
        assert_eq!(fixed(1.0 / 3.0), (-3, 333));
        assert_eq!(fixed(12_345.678), (0, 12_346));
    }

    #[test]
    fn nonsense_saturates() {
        assert_eq!(fixed(f64::NAN), (0, 0));
        assert_eq!(fixed(f64::INFINITY), (0, 0));
        assert_eq!(fixed(1e12), (3, i16::MAX));
        assert_eq!(fixed(-1e12), (3, -i16::MAX));
        assert_eq!(
            scaled(i16::MIN, i8::MIN),
            f64::from(i16::MIN) * 10f64.powi(-128)
        );
    }

    #[test]
    fn values_round_trip_through_each_protocol() {
        for x in [0.0, 2.0, 353.4, 412.8, 7440.0, 74_400.0, -20.5] {
            assert!((from_din(&din_value(x, din::UnitSymbolType::V)) - x).abs() < 1e-9);
            assert!((from_iso2(&iso2_value(x, iso2::UnitSymbolType::A)) - x).abs() < 1e-9);
            assert!((from_rational(&rational(x)) - x).abs() < 1e-9);
        }
        // The Alpitronic's EVSEMaximumPowerLimit (V012): 7440 × 10^1 W.
        let p = din::PhysicalValueType {
            multiplier: 1,
            unit: Some(din::UnitSymbolType::W),
            value: 7440,
        };
        assert_eq!(from_din(&p), 74_400.0);
    }
}
