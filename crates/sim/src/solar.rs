//! PV: sun position, clear-sky irradiance on a tilted plane, clouds, module temperature and the
//! inverter's clipping.

use std::f64::consts::PI;

use rand::Rng;
use serde::{Deserialize, Serialize};
use units::{Timestamp, Watts};

use crate::rng::SimRng;

/// Where the site is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
}

impl Default for Location {
    fn default() -> Self {
        // Berlin.
        Self {
            latitude: 52.52,
            longitude: 13.40,
        }
    }
}

/// Sun position: elevation above the horizon and azimuth clockwise from north, in radians.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SunPosition {
    pub(crate) elevation: f64,
    pub(crate) azimuth: f64,
}

/// The NOAA "general solar position" approximation (fractional-year series for the equation of
/// time and the declination); better than 0.5° over the year, plenty for a load model.
pub(crate) fn sun_position(t: Timestamp, loc: Location) -> SunPosition {
    let utc = jiff::tz::TimeZone::UTC.to_datetime(t.to_jiff());
    let minutes =
        f64::from(utc.hour()) * 60.0 + f64::from(utc.minute()) + f64::from(utc.second()) / 60.0;
    let doy = f64::from(utc.day_of_year());
    let gamma = 2.0 * PI / 365.0 * (doy - 1.0 + (minutes / 60.0 - 12.0) / 24.0);
    let eqtime = 229.18
        * (0.000075 + 0.001868 * gamma.cos()
            - 0.032077 * gamma.sin()
            - 0.014615 * (2.0 * gamma).cos()
            - 0.040849 * (2.0 * gamma).sin());
    let decl = 0.006918 - 0.399912 * gamma.cos() + 0.070257 * gamma.sin()
        - 0.006758 * (2.0 * gamma).cos()
        + 0.000907 * (2.0 * gamma).sin()
        - 0.002697 * (3.0 * gamma).cos()
        + 0.00148 * (3.0 * gamma).sin();
    let true_solar_minutes = minutes + eqtime + 4.0 * loc.longitude;
    let hour_angle = (true_solar_minutes / 4.0 - 180.0).to_radians();
    let lat = loc.latitude.to_radians();
    let cos_zenith =
        (lat.sin() * decl.sin() + lat.cos() * decl.cos() * hour_angle.cos()).clamp(-1.0, 1.0);
    let elevation = PI / 2.0 - cos_zenith.acos();
    let azimuth = (-hour_angle.sin())
        .atan2(decl.tan() * lat.cos() - lat.sin() * hour_angle.cos())
        .rem_euclid(2.0 * PI);
    SunPosition { elevation, azimuth }
}

/// Clear-sky irradiance in W/m² on a plane with `tilt` and `azimuth` (radians, azimuth clockwise
/// from north): Kasten–Young air mass, Meinel's direct-normal model, a diffuse share of 10 % of
/// the direct beam and 20 % ground albedo.
pub(crate) fn clear_sky_poa(sun: SunPosition, tilt: f64, azimuth: f64) -> f64 {
    if sun.elevation <= 0.0 {
        return 0.0;
    }
    let zenith = PI / 2.0 - sun.elevation;
    let zenith_deg = zenith.to_degrees();
    let air_mass = 1.0 / (zenith.cos() + 0.50572 * (96.07995 - zenith_deg).powf(-1.6364));
    let dni = 1361.0 * 0.7_f64.powf(air_mass.powf(0.678));
    let dhi = 0.1 * dni;
    let ghi = dni * zenith.cos() + dhi;
    let cos_incidence =
        zenith.cos() * tilt.cos() + zenith.sin() * tilt.sin() * (sun.azimuth - azimuth).cos();
    dni * cos_incidence.max(0.0)
        + dhi * (1.0 + tilt.cos()) / 2.0
        + 0.2 * ghi * (1.0 - tilt.cos()) / 2.0
}

/// The sky over the site: a weather type per day and passing clouds within it. Shared by all
/// arrays, as the real sky is.
#[derive(Debug, Clone)]
pub(crate) struct Sky {
    rng: SimRng,
    day: Option<i64>,
    kind: DayKind,
    /// Slowly varying transmittance of the day's base cloud layer.
    base: f64,
    /// A passing cloud: its transmittance and end (unix seconds).
    cloud: Option<(f64, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayKind {
    Clear,
    Mixed,
    Overcast,
}

impl Sky {
    pub(crate) fn new(rng: SimRng) -> Self {
        Self {
            rng,
            day: None,
            kind: DayKind::Clear,
            base: 1.0,
            cloud: None,
        }
    }

    /// The share of clear-sky irradiance that reaches the panels at `t`, advancing the weather
    /// by `dt` seconds.
    pub(crate) fn transmittance(&mut self, t: Timestamp, dt: f64) -> f64 {
        let secs = t.as_unix_secs_f64();
        let day = (secs / 86_400.0).floor() as i64;
        if self.day != Some(day) {
            self.day = Some(day);
            let r: f64 = self.rng.random();
            self.kind = if r < 0.45 {
                DayKind::Clear
            } else if r < 0.8 {
                DayKind::Mixed
            } else {
                DayKind::Overcast
            };
            self.base = match self.kind {
                DayKind::Clear => 1.0,
                DayKind::Mixed => 0.9,
                DayKind::Overcast => 0.3,
            };
        }
        // The base layer drifts (mean-reverting), more on grey days.
        let (mean, spread) = match self.kind {
            DayKind::Clear => (0.98, 0.01),
            DayKind::Mixed => (0.9, 0.03),
            DayKind::Overcast => (0.3, 0.05),
        };
        let noise: f64 = self.rng.random::<f64>() - 0.5;
        self.base +=
            (mean - self.base) * (dt / 1800.0).min(1.0) + noise * spread * (dt / 60.0).sqrt();
        self.base = self.base.clamp(0.1, 1.0);
        // Cumulus passing in front of the sun: on mixed days about every 6 minutes on average,
        // each for about 90 s, letting 30–60 % through.
        if self.cloud.is_some_and(|(_, end)| secs >= end) {
            self.cloud = None;
        }
        let rate_per_s = match self.kind {
            DayKind::Clear => 1.0 / 7200.0,
            DayKind::Mixed => 1.0 / 360.0,
            DayKind::Overcast => 0.0,
        };
        if self.cloud.is_none() && self.rng.random::<f64>() < rate_per_s * dt {
            let duration = 20.0 + self.rng.random::<f64>() * 140.0;
            let pass = 0.3 + self.rng.random::<f64>() * 0.3;
            self.cloud = Some((pass, secs + duration));
        }
        self.base * self.cloud.map_or(1.0, |(pass, _)| pass)
    }
}

/// A simulated PV array with its inverter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PvParams {
    /// DC peak power in kWp.
    pub kwp: f64,
    /// Inverter AC rating; the array clips above it.
    pub rated_w: Watts,
    /// Panel tilt from horizontal, degrees.
    pub tilt_deg: f64,
    /// Panel azimuth clockwise from north, degrees (180 = south).
    pub azimuth_deg: f64,
    /// A curtailment limit not refreshed for this long falls back to `fallback_limit_w`.
    #[serde(with = "units::duration_str")]
    pub limit_timeout: std::time::Duration,
    /// The inverter's safe-state limit (e.g. a legal export limit); none by default.
    pub fallback_limit_w: Option<Watts>,
}

impl Default for PvParams {
    fn default() -> Self {
        Self {
            kwp: 8.0,
            rated_w: Watts(8000.0),
            tilt_deg: 30.0,
            azimuth_deg: 180.0,
            limit_timeout: std::time::Duration::from_secs(60),
            fallback_limit_w: None,
        }
    }
}

/// AC power an array produces for `poa` W/m², before curtailment: module temperature derating
/// (−0.35 %/K, cells 30 K above 20 °C air at 1000 W/m²), 14 % system losses, inverter clipping.
pub(crate) fn pv_ac_power(p: &PvParams, poa: f64) -> Watts {
    if poa <= 0.0 {
        return Watts::ZERO;
    }
    let cell_temp = 20.0 + poa * 0.03;
    let temp_factor = 1.0 - 0.0035 * (cell_temp - 25.0);
    let dc = p.kwp * 1000.0 * poa / 1000.0 * temp_factor * 0.86;
    Watts(dc.max(0.0)).min(p.rated_w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn sun_is_highest_at_solar_noon_in_summer() {
        let berlin = Location::default();
        // Solar noon in Berlin at the June solstice is about 11:08 UTC.
        let noon = sun_position(at("2026-06-21T11:08:00Z"), berlin);
        let expected = 90.0 - 52.52 + 23.44;
        assert!(
            (noon.elevation.to_degrees() - expected).abs() < 0.5,
            "{noon:?}"
        );
        assert!((noon.azimuth.to_degrees() - 180.0).abs() < 3.0, "{noon:?}");
        let night = sun_position(at("2026-06-21T23:00:00Z"), berlin);
        assert!(night.elevation < 0.0);
        let morning = sun_position(at("2026-06-21T05:00:00Z"), berlin);
        assert!(
            morning.azimuth.to_degrees() < 110.0,
            "sun in the east: {morning:?}"
        );
        let winter = sun_position(at("2026-12-21T11:08:00Z"), berlin);
        assert!((winter.elevation.to_degrees() - (90.0 - 52.52 - 23.44)).abs() < 0.7);
    }

    #[test]
    fn clear_sky_and_array_output_are_plausible() {
        let sun = sun_position(at("2026-06-21T11:08:00Z"), Location::default());
        let poa = clear_sky_poa(sun, 30f64.to_radians(), PI);
        assert!((850.0..1100.0).contains(&poa), "{poa}");
        let p = pv_ac_power(&PvParams::default(), poa);
        assert!(p > Watts(5500.0) && p <= Watts(8000.0), "{p}");
        let sun = sun_position(at("2026-06-21T22:00:00Z"), Location::default());
        assert_eq!(clear_sky_poa(sun, 0.5, PI), 0.0);
    }
}
