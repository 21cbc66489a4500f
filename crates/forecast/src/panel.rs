//! A PV array from irradiance: the simple model evcc's open-meteo template uses
//! (`shared/docs/ems-research.md` §5): P = kWp · GTI/1000 W/m² · (1 + γ·(T_cell − 25 °C)) ·
//! (1 − losses), T_cell = T_air + k·GTI, clamped to the inverter's AC limit.

use serde::{Deserialize, Serialize};
use units::Watts;

/// Power temperature coefficient of crystalline silicon, per kelvin.
const GAMMA_PER_K: f64 = -0.004;
/// Cell heating per irradiance (Ross coefficient, roof-mounted), K per W/m².
const ROSS_K: f64 = 0.03;

/// One array: its size and orientation (the forecast services' conventions: tilt 0 =
/// horizontal, 90 = vertical; azimuth 0 = south, −90 = east, 90 = west).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelArray {
    /// Peak power in kW (STC).
    pub kwp: f64,
    /// Tilt from horizontal in degrees.
    pub tilt_deg: f64,
    /// Azimuth in degrees, 0 = south.
    pub azimuth_deg: f64,
    /// Wiring, soiling, mismatch and inverter losses as a fraction.
    #[serde(default = "default_losses")]
    pub losses: f64,
    /// The inverter's AC limit, if below the array's power.
    #[serde(default)]
    pub ac_limit_w: Option<Watts>,
}

fn default_losses() -> f64 {
    0.14
}

impl PanelArray {
    /// AC power at global tilted irradiance `gti_w_m2` and air temperature `t_air_c`.
    pub fn power(&self, gti_w_m2: f64, t_air_c: f64) -> Watts {
        if !(gti_w_m2.is_finite() && gti_w_m2 > 0.0) {
            return Watts(0.0);
        }
        let t_air = if t_air_c.is_finite() { t_air_c } else { 25.0 };
        let t_cell = t_air + ROSS_K * gti_w_m2;
        let dc = self.kwp * 1000.0 * gti_w_m2 / 1000.0 * (1.0 + GAMMA_PER_K * (t_cell - 25.0));
        let ac = (dc * (1.0 - self.losses)).max(0.0);
        Watts(self.ac_limit_w.map_or(ac, |l| ac.min(l.0)))
    }

    /// Checks the fields; the error names the field.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.kwp.is_finite() && self.kwp > 0.0) {
            return Err(("kwp", "must be > 0".into()));
        }
        if !(0.0..=90.0).contains(&self.tilt_deg) {
            return Err(("tilt_deg", "must be 0 (flat) to 90 (vertical)".into()));
        }
        if !(-180.0..=180.0).contains(&self.azimuth_deg) {
            return Err(("azimuth_deg", "must be −180 to 180 (0 = south)".into()));
        }
        if !(0.0..1.0).contains(&self.losses) {
            return Err(("losses", "is a fraction below 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array() -> PanelArray {
        PanelArray {
            kwp: 10.0,
            tilt_deg: 30.0,
            azimuth_deg: 0.0,
            losses: 0.14,
            ac_limit_w: None,
        }
    }

    #[test]
    fn standard_conditions_give_the_rating_less_losses() {
        // 1000 W/m² at a cell temperature of 25 °C: air at 25 − 30 = −5 °C.
        let p = array().power(1000.0, -5.0);
        assert!((p.0 - 8600.0).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn heat_derates_and_the_inverter_clips() {
        let hot = array().power(1000.0, 35.0);
        // T_cell 65 °C: −16 %.
        assert!((hot.0 - 8600.0 * 0.84).abs() < 1e-6, "{hot:?}");
        let clipped = PanelArray {
            ac_limit_w: Some(Watts(5000.0)),
            ..array()
        };
        assert_eq!(clipped.power(1000.0, 20.0), Watts(5000.0));
        assert_eq!(array().power(0.0, 20.0), Watts(0.0));
        assert_eq!(array().power(f64::NAN, 20.0), Watts(0.0));
        assert!(
            PanelArray {
                tilt_deg: 95.0,
                ..array()
            }
            .validate()
            .is_err()
        );
    }
}
