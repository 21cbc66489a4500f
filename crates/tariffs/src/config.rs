//! The `[prices]` table: which provider, its parameters, the end-user formula, the feed-in
//! tariff and the disk cache. Checked here; the configuration file's loader locates errors
//! (`FILE:LINE:COLUMN`) from the dotted path [`PricesConfig::validate`] returns.

use std::path::PathBuf;

use serde::Deserialize;
use units::PricePerKwh;

use crate::energidataservice::Currency;
use crate::tibber::Component;
use crate::{
    FeedIn, ParseError, PriceFormula, PriceSlot, Provider, TouRate, awattar, energidataservice,
    entsoe, octopus, tibber,
};
#[cfg(feature = "fetch")]
use crate::{PriceFeed, Schedule, TimeOfUse, fetch::Fetcher};
#[cfg(feature = "fetch")]
use jiff::{civil::Time, tz::TimeZone};

/// `[prices]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricesConfig {
    /// `[prices.provider]`: where prices come from.
    pub provider: ProviderConfig,
    /// The end-user price from the provider's price.
    #[serde(default)]
    pub formula: PriceFormula,
    /// What export earns.
    #[serde(default)]
    pub feed_in: FeedIn,
    /// Where fetched prices are cached across restarts (none: not cached).
    #[serde(default)]
    pub cache: Option<PathBuf>,
}

/// An aWATTar market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Country {
    /// Germany.
    #[default]
    De,
    /// Austria.
    At,
}

/// `[prices.provider]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ProviderConfig {
    /// aWATTar day-ahead spot prices (EUR/MWh, without fees or VAT: set a formula).
    Awattar {
        #[serde(default)]
        country: Country,
        /// Another endpoint (tests, proxies).
        url: Option<String>,
    },
    /// Tibber: `total` is all-in; `energy` is the spot part.
    Tibber {
        token: String,
        home_id: Option<String>,
        #[serde(default)]
        price: Component,
        #[serde(default = "fifteen")]
        slot_minutes: i64,
        url: Option<String>,
    },
    /// ENTSO-E Transparency Platform (EUR/MWh spot).
    Entsoe {
        token: String,
        /// The bidding zone's EIC code (DE-LU by default).
        #[serde(default = "de_lu")]
        domain: String,
        #[serde(default = "fifteen")]
        slot_minutes: i64,
        url: Option<String>,
    },
    /// Energi Data Service, Denmark (per MWh spot).
    Energidataservice {
        area: String,
        #[serde(default)]
        currency: Currency,
        url: Option<String>,
    },
    /// Octopus Agile (pence/kWh, all-in).
    Octopus {
        product: String,
        region: String,
        #[serde(default = "yes")]
        inc_vat: bool,
        url: Option<String>,
    },
    /// One price at all times.
    Fixed { price: PricePerKwh },
    /// Prices by local time of day in the site's time zone.
    TimeOfUse {
        default: PricePerKwh,
        #[serde(default)]
        rates: Vec<TouRate>,
    },
    /// Prices recorded earlier, read once from a file in a provider's own reply format (the
    /// same parser as the live provider): replays, and `gridlet sim` over a recorded week.
    File {
        /// The file (relative paths: to the working directory).
        path: PathBuf,
        /// Whose reply the file holds.
        #[serde(default)]
        format: FileFormat,
        /// The slot length of an ENTSO-E document's series to read.
        #[serde(default = "sixty")]
        slot_minutes: i64,
    },
}

/// The reply format of a [`ProviderConfig::File`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// aWATTar `marketdata` JSON (EUR/MWh spot).
    #[default]
    Awattar,
    /// ENTSO-E A44 `Publication_MarketDocument` XML (EUR/MWh spot).
    Entsoe,
    /// Octopus Agile `standard-unit-rates` JSON (pence/kWh incl. VAT).
    Octopus,
}

impl FileFormat {
    /// Parses a file's content; `slot_minutes` picks an ENTSO-E series.
    pub fn parse(self, body: &[u8], slot_minutes: i64) -> Result<Vec<PriceSlot>, ParseError> {
        match self {
            Self::Awattar => awattar::parse(body),
            Self::Entsoe => entsoe::parse(body, slot_minutes),
            Self::Octopus => octopus::parse(body, true),
        }
    }
}

fn fifteen() -> i64 {
    15
}
fn de_lu() -> String {
    entsoe::DE_LU.into()
}
fn sixty() -> i64 {
    60
}
fn yes() -> bool {
    true
}

/// A built `[prices]`: the feed the site reads and, for fetched prices, its task.
#[cfg(feature = "fetch")]
#[derive(Debug)]
pub struct Built {
    /// The prices.
    pub feed: PriceFeed,
    /// The task to run, for providers that fetch.
    pub fetcher: Option<Fetcher>,
}

impl PricesConfig {
    /// Checks the table; the error is the dotted path below `prices` and what is wrong.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let at = |k: &str, m: String| (format!("prices.{k}"), m);
        self.formula
            .validate()
            .map_err(|(k, m)| at(&format!("formula.{k}"), m))?;
        self.feed_in
            .validate()
            .map_err(|(k, m)| at(&format!("feed_in.{k}"), m))?;
        self.provider()
            .map(|_| ())
            .map_err(|(k, m)| at(&format!("provider.{k}"), m))?;
        if let ProviderConfig::TimeOfUse { rates, .. } = &self.provider {
            for r in rates {
                if r.from == r.to && r.days.is_empty() {
                    return Err(at(
                        "provider.rates",
                        "a rate from a time to the same time covers every day: use default".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The HTTP provider, if the prices are fetched; errors name the key.
    fn provider(&self) -> Result<Option<Provider>, (&'static str, String)> {
        let base = |url: &Option<String>, default: &str| {
            let s = url.as_deref().unwrap_or(default);
            let mut u = url::Url::parse(s).map_err(|e| ("url", format!("{s:?}: {e}")))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(("url", format!("{s:?} is not http(s)")));
            }
            // A base path without a trailing slash would lose its last segment in `join`.
            if !u.path().ends_with('/') && default != tibber::BASE && default != entsoe::BASE {
                let p = format!("{}/", u.path());
                u.set_path(&p);
            }
            Ok(u)
        };
        let token = |t: &str| {
            if t.trim().is_empty() {
                Err(("token", "is empty".to_owned()))
            } else {
                Ok(t.to_owned())
            }
        };
        Ok(Some(match &self.provider {
            ProviderConfig::Awattar { country, url } => Provider::Awattar {
                base: base(
                    url,
                    match country {
                        Country::De => awattar::BASE_DE,
                        Country::At => awattar::BASE_AT,
                    },
                )?,
            },
            ProviderConfig::Tibber {
                token: t,
                home_id,
                price,
                slot_minutes,
                url,
            } => {
                if !matches!(slot_minutes, 15 | 60) {
                    return Err(("slot_minutes", "Tibber has 15 or 60".into()));
                }
                Provider::Tibber {
                    base: base(url, tibber::BASE)?,
                    token: token(t)?,
                    home_id: home_id.clone(),
                    component: *price,
                    slot_minutes: *slot_minutes,
                }
            }
            ProviderConfig::Entsoe {
                token: t,
                domain,
                slot_minutes,
                url,
            } => {
                if !matches!(slot_minutes, 15 | 30 | 60) {
                    return Err(("slot_minutes", "must be 15, 30 or 60".into()));
                }
                if domain.len() != 16
                    || !domain
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    return Err((
                        "domain",
                        format!("{domain:?} is not a 16-character EIC code"),
                    ));
                }
                Provider::Entsoe {
                    base: base(url, entsoe::BASE)?,
                    token: token(t)?,
                    domain: domain.clone(),
                    slot_minutes: *slot_minutes,
                }
            }
            ProviderConfig::Energidataservice {
                area,
                currency,
                url,
            } => {
                if area != "DK1" && area != "DK2" {
                    return Err(("area", format!("{area:?} is not DK1 or DK2")));
                }
                Provider::EnergiDataService {
                    base: base(url, energidataservice::BASE)?,
                    area: area.clone(),
                    currency: *currency,
                }
            }
            ProviderConfig::Octopus {
                product,
                region,
                inc_vat,
                url,
            } => {
                if product.is_empty()
                    || !product
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    return Err((
                        "product",
                        format!("{product:?} is not a product code like AGILE-24-10-01"),
                    ));
                }
                if !(region.len() == 1 && region.bytes().all(|b| (b'A'..=b'P').contains(&b))) {
                    return Err(("region", format!("{region:?} is not a region letter A–P")));
                }
                Provider::Octopus {
                    base: base(url, octopus::BASE)?,
                    product: product.clone(),
                    region: region.clone(),
                    inc_vat: *inc_vat,
                }
            }
            ProviderConfig::File {
                path, slot_minutes, ..
            } => {
                if path.as_os_str().is_empty() {
                    return Err(("path", "is empty".into()));
                }
                if !matches!(slot_minutes, 15 | 30 | 60) {
                    return Err(("slot_minutes", "must be 15, 30 or 60".into()));
                }
                return Ok(None);
            }
            ProviderConfig::Fixed { price } | ProviderConfig::TimeOfUse { default: price, .. } => {
                if !price.0.is_finite() {
                    return Err(("price", "must be finite".into()));
                }
                return Ok(None);
            }
        }))
    }

    /// Builds the feed and its fetch task. `site_tz` is the zone of time-of-use rates.
    #[cfg(feature = "fetch")]
    pub fn build(&self, site_tz: &TimeZone) -> Result<Built, String> {
        let provider = self
            .provider()
            .map_err(|(k, m)| format!("prices.provider.{k}: {m}"))?;
        let (formula, feed_in) = (self.formula, self.feed_in);
        let Some(provider) = provider else {
            let feed = match &self.provider {
                ProviderConfig::TimeOfUse { default, rates } => PriceFeed::time_of_use(
                    TimeOfUse {
                        timezone: site_tz.clone(),
                        default: *default,
                        rates: rates.clone(),
                    },
                    formula,
                    feed_in,
                ),
                ProviderConfig::Fixed { price } => PriceFeed::fixed(*price, formula, feed_in),
                ProviderConfig::File {
                    path,
                    format,
                    slot_minutes,
                } => {
                    let slots = read_file(path, *format, *slot_minutes)?;
                    let feed = PriceFeed::fetched("file", formula, feed_in);
                    if let Some(first) = slots.first() {
                        feed.update(first.start, slots);
                    }
                    feed
                }
                _ => return Err("prices.provider: no provider".into()),
            };
            return Ok(Built {
                feed,
                fetcher: None,
            });
        };
        let feed = PriceFeed::fetched(provider.name(), formula, feed_in);
        let fetcher = Fetcher::new(
            provider.clone(),
            feed.clone(),
            schedule_for(&provider)?,
            self.cache.clone(),
        )?;
        Ok(Built {
            feed,
            fetcher: Some(fetcher),
        })
    }
}

/// Reads a [`ProviderConfig::File`]; the error names the file and what is wrong with it.
pub fn read_file(
    path: &std::path::Path,
    format: FileFormat,
    slot_minutes: i64,
) -> Result<Vec<PriceSlot>, String> {
    let at = |m: String| format!("prices.provider.path: {}: {m}", path.display());
    let body = std::fs::read(path).map_err(|e| at(e.to_string()))?;
    let slots = format
        .parse(&body, slot_minutes)
        .map_err(|e| at(e.to_string()))?;
    if slots.is_empty() {
        return Err(at("holds no price slots".into()));
    }
    Ok(slots)
}

/// The market's publication: EPEX and Nord Pool day-ahead results around 13:00 CET, Octopus
/// Agile rates around 16:00 UK time.
#[cfg(feature = "fetch")]
fn schedule_for(p: &Provider) -> Result<Schedule, String> {
    let (zone, at) = match p {
        Provider::Octopus { .. } => ("Europe/London", Time::constant(16, 0, 0, 0)),
        _ => ("Europe/Berlin", Time::constant(13, 0, 0, 0)),
    };
    let tz = TimeZone::get(zone).map_err(|e| format!("time zone {zone}: {e}"))?;
    let mut s = Schedule::day_ahead(tz);
    s.publication = at;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<(), (String, String)> {
        #[derive(Deserialize)]
        struct F {
            prices: PricesConfig,
        }
        let f: F = toml::from_str(src).map_err(|e| ("toml".into(), e.to_string()))?;
        f.prices.validate()
    }

    #[test]
    fn providers_and_their_defaults_read() {
        parse("[prices.provider]\ntype = \"awattar\"\n").unwrap();
        parse("[prices]\nformula = { fee = 0.2, vat = 0.19 }\nfeed_in = { type = \"fixed\", price = 0.08 }\n[prices.provider]\ntype = \"entsoe\"\ntoken = \"t\"\n").unwrap();
        parse("[prices.provider]\ntype = \"time-of-use\"\ndefault = 0.3\nrates = [{ from = \"22:00\", to = \"06:00\", price = 0.2, days = [\"sat\", \"sun\"] }]\n").unwrap();
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = parse("[prices.provider]\ntype = \"tibber\"\ntoken = \"\"\n").unwrap_err();
        assert_eq!(e.0, "prices.provider.token");
        let e = parse("[prices.provider]\ntype = \"entsoe\"\ntoken = \"t\"\nslot_minutes = 20\n")
            .unwrap_err();
        assert_eq!(e.0, "prices.provider.slot_minutes");
        let e = parse("[prices]\nformula = { vat = 19 }\n[prices.provider]\ntype = \"awattar\"\n")
            .unwrap_err();
        assert_eq!(e.0, "prices.formula.vat");
        let e = parse(
            "[prices.provider]\ntype = \"octopus\"\nproduct = \"AGILE-24-10-01\"\nregion = \"Z\"\n",
        )
        .unwrap_err();
        assert_eq!(e.0, "prices.provider.region");
        let e = parse("[prices.provider]\ntype = \"awattar\"\nurl = \"ftp://x\"\n").unwrap_err();
        assert_eq!(e.0, "prices.provider.url");
    }
}

#[cfg(all(test, feature = "fetch"))]
mod file_tests {
    use super::*;
    use devices::Tariff;
    use units::Timestamp;

    fn week() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/tariffs/awattar-de-2025-06-16-week.json")
    }

    #[test]
    fn a_recorded_file_feeds_its_prices_through_the_formula() {
        let cfg = PricesConfig {
            provider: ProviderConfig::File {
                path: week(),
                format: FileFormat::Awattar,
                slot_minutes: 60,
            },
            formula: PriceFormula {
                spot_factor: 1.0,
                fee: 0.19,
                vat: 0.19,
            },
            feed_in: FeedIn::None,
            cache: None,
        };
        cfg.validate().unwrap();
        let built = cfg.build(&TimeZone::UTC).unwrap();
        assert!(built.fetcher.is_none(), "a file is read once, not fetched");
        let all = built.feed.prices(
            Timestamp::UNIX_EPOCH,
            Timestamp::from_unix_secs(4_000_000_000),
        );
        // Eight days of hours, from 2025-06-16 00:00 CEST.
        assert_eq!(all.len(), 192);
        assert_eq!(all[0].start, Timestamp::from_unix_secs(1_750_024_800));
        // The first hour: 105.72 EUR/MWh spot.
        assert!((all[0].price.0 - (0.10572 + 0.19) * 1.19).abs() < 1e-9);
        assert_eq!(built.feed.horizon(), all.last().map(|s| s.end));
    }

    #[test]
    fn a_missing_or_malformed_file_is_a_clear_error() {
        let e = read_file(
            std::path::Path::new("/nonexistent.json"),
            FileFormat::Awattar,
            60,
        )
        .unwrap_err();
        assert!(
            e.starts_with("prices.provider.path: /nonexistent.json"),
            "{e}"
        );
        let e = read_file(&week(), FileFormat::Entsoe, 60).unwrap_err();
        assert!(e.contains("awattar-de-2025-06-16-week.json"), "{e}");
    }
}
