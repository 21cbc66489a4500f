//! Forecast settings, for a `[forecast]` table: the site's place, its arrays, and where PV and
//! load forecasts come from. Checked here with dotted key paths, like `tariffs::PricesConfig`.

use std::collections::BTreeMap;

use serde::Deserialize;
use units::Watts;

use crate::{PanelArray, PvSource, forecast_solar, open_meteo};

/// `[forecast]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastConfig {
    /// Latitude in degrees (north positive).
    #[serde(default)]
    pub latitude: f64,
    /// Longitude in degrees (east positive).
    #[serde(default)]
    pub longitude: f64,
    /// The PV arrays, by name.
    #[serde(default)]
    pub arrays: BTreeMap<String, PanelArray>,
    /// Where the PV forecast comes from.
    #[serde(default)]
    pub pv: PvConfig,
    /// Where the load forecast comes from.
    #[serde(default)]
    pub load: LoadConfig,
}

/// `[forecast] pv`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PvConfig {
    /// A constant (0 W by default: plan without PV).
    Constant {
        #[serde(default)]
        power_w: Watts,
    },
    /// open-meteo irradiance through each array's panel model (free, no key).
    OpenMeteo {
        /// Another endpoint.
        url: Option<String>,
    },
    /// forecast.solar's estimate per array.
    ForecastSolar {
        /// A paid plan's key.
        api_key: Option<String>,
        /// Another endpoint.
        url: Option<String>,
    },
}

/// `[forecast] load`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LoadConfig {
    /// The same load at all times.
    Constant {
        /// The load.
        power_w: Watts,
    },
    /// From the site's own history, `fallback_w` until the history covers a time.
    Profile {
        /// Before there is history.
        fallback_w: Watts,
    },
}

impl Default for PvConfig {
    fn default() -> Self {
        Self::OpenMeteo { url: None }
    }
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self::Profile {
            fallback_w: Watts(500.0),
        }
    }
}

impl ForecastConfig {
    /// Checks the table; the error is the dotted path below `forecast` and what is wrong.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let at = |k: &str, m: String| (format!("forecast.{k}"), m);
        self.sources().map(|_| ()).map_err(|(k, m)| at(&k, m))?;
        let finite_nonneg = |w: Watts| w.0.is_finite() && w.0 >= 0.0;
        match self.load {
            LoadConfig::Constant { power_w } if !finite_nonneg(power_w) => {
                Err(at("load.power_w", "must be ≥ 0".into()))
            }
            LoadConfig::Profile { fallback_w } if !finite_nonneg(fallback_w) => {
                Err(at("load.fallback_w", "must be ≥ 0".into()))
            }
            _ => Ok(()),
        }
    }

    /// The PV sources, one per array; none for a constant. Errors name the key.
    pub fn sources(&self) -> Result<Vec<PvSource>, (String, String)> {
        let fetched = !matches!(self.pv, PvConfig::Constant { .. });
        if let PvConfig::Constant { power_w } = self.pv
            && !(power_w.0.is_finite() && power_w.0 >= 0.0)
        {
            return Err(("pv.power_w".into(), "must be ≥ 0".into()));
        }
        if fetched {
            if !(-90.0..=90.0).contains(&self.latitude) {
                return Err(("latitude".into(), "must be −90 to 90".into()));
            }
            if !(-180.0..=180.0).contains(&self.longitude) {
                return Err(("longitude".into(), "must be −180 to 180".into()));
            }
            if self.arrays.is_empty() {
                return Err((
                    "arrays".into(),
                    "a fetched PV forecast needs at least one [forecast.arrays.NAME]".into(),
                ));
            }
        }
        for (name, a) in &self.arrays {
            a.validate()
                .map_err(|(k, m)| (format!("arrays.{name}.{k}"), m))?;
        }
        let base = |url: &Option<String>, default: &str| {
            let s = url.as_deref().unwrap_or(default);
            url::Url::parse(s)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| ("pv.url".to_owned(), format!("{s:?} is not an http(s) URL")))
        };
        let (lat, lon) = (self.latitude, self.longitude);
        Ok(match &self.pv {
            PvConfig::Constant { .. } => Vec::new(),
            PvConfig::OpenMeteo { url } => {
                let base = base(url, open_meteo::BASE)?;
                self.arrays
                    .values()
                    .map(|&array| PvSource::OpenMeteo {
                        base: base.clone(),
                        lat,
                        lon,
                        array,
                    })
                    .collect()
            }
            PvConfig::ForecastSolar { api_key, url } => {
                let base = base(url, forecast_solar::BASE)?;
                self.arrays
                    .values()
                    .map(|&array| PvSource::ForecastSolar {
                        base: base.clone(),
                        api_key: api_key.clone(),
                        lat,
                        lon,
                        array,
                    })
                    .collect()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<ForecastConfig, (String, String)> {
        #[derive(Deserialize)]
        struct F {
            forecast: ForecastConfig,
        }
        let f: F = toml::from_str(src).map_err(|e| ("toml".into(), e.to_string()))?;
        f.forecast.validate()?;
        Ok(f.forecast)
    }

    #[test]
    fn arrays_become_one_source_each() {
        let c = parse(
            "[forecast]\nlatitude = 52.5\nlongitude = 13.4\npv = { type = \"forecast-solar\" }\n\
             [forecast.arrays.east]\nkwp = 4\ntilt_deg = 30\nazimuth_deg = -90\n\
             [forecast.arrays.west]\nkwp = 4\ntilt_deg = 30\nazimuth_deg = 90\nac_limit_w = 3000\n",
        )
        .unwrap();
        assert_eq!(c.sources().unwrap().len(), 2);
        let c = parse("[forecast]\npv = { type = \"constant\" }\nload = { type = \"constant\", power_w = 400 }\n").unwrap();
        assert!(c.sources().unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("[forecast]\nlatitude = 52.5\n").unwrap_err();
        assert_eq!(e.0, "forecast.arrays");
        let e = parse("[forecast]\nlatitude = 52.5\n[forecast.arrays.roof]\nkwp = 4\ntilt_deg = 100\nazimuth_deg = 0\n").unwrap_err();
        assert_eq!(e.0, "forecast.arrays.roof.tilt_deg");
        let e = parse("[forecast]\nlatitude = 95\n[forecast.arrays.roof]\nkwp = 4\ntilt_deg = 10\nazimuth_deg = 0\n").unwrap_err();
        assert_eq!(e.0, "forecast.latitude");
    }
}
