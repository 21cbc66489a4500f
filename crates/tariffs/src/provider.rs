//! The day-ahead providers behind one interface: what to request, how to read the answer.

use units::Timestamp;

use crate::energidataservice::Currency;
use crate::tibber::Component;
use crate::{
    HttpRequest, PriceSlot, awattar, energidataservice, entsoe, octopus, plus_minutes, tibber,
};

/// A response body that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// The body is not in the documented format.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The service answered with an error of its own (bad token, no data for the area).
    #[error("the service refused: {0}")]
    Refused(String),
}

impl ParseError {
    pub(crate) fn json(e: serde_json::Error) -> Self {
        Self::Malformed(format!("JSON: {e}"))
    }
}

/// Why a fetch failed. Every variant names the provider; the URL never shows tokens.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// No answer: DNS, connection, TLS, timeout.
    #[error("{provider}: cannot reach {url}: {reason}")]
    Unreachable {
        provider: &'static str,
        url: String,
        reason: String,
    },
    /// An HTTP error status; `detail` is the service's own reason when it gave one.
    #[error("{provider}: HTTP {status} from {url}: {detail}")]
    Status {
        provider: &'static str,
        url: String,
        status: u16,
        detail: String,
    },
    /// A body that could not be read.
    #[error("{provider}: {url}: {error}")]
    Parse {
        provider: &'static str,
        url: String,
        error: ParseError,
    },
    /// The request could not be built (a bad URL in the configuration).
    #[error("{provider}: {reason}")]
    Request {
        provider: &'static str,
        #[source]
        reason: RequestError,
    },
}

/// A request that cannot be built.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

/// A day-ahead price source reached over HTTP.
#[derive(Debug, Clone, PartialEq)]
pub enum Provider {
    /// aWATTar, Germany or Austria: spot EUR/MWh.
    Awattar {
        /// `https://api.awattar.de` or `.at`.
        base: url::Url,
    },
    /// Tibber GraphQL.
    Tibber {
        /// The endpoint.
        base: url::Url,
        /// The personal access token.
        token: String,
        /// The home (first with a subscription when `None`).
        home_id: Option<String>,
        /// `total` (all-in) or `energy` (spot).
        component: Component,
        /// 15 or 60.
        slot_minutes: i64,
    },
    /// ENTSO-E Transparency Platform, A44.
    Entsoe {
        /// The endpoint.
        base: url::Url,
        /// The security token.
        token: String,
        /// The bidding zone's EIC code.
        domain: String,
        /// The wanted resolution: 15, 30 or 60.
        slot_minutes: i64,
    },
    /// Energi Data Service, `DayAheadPrices`.
    EnergiDataService {
        /// The API root.
        base: url::Url,
        /// `DK1` or `DK2`.
        area: String,
        /// DKK or EUR.
        currency: Currency,
    },
    /// Octopus Agile.
    Octopus {
        /// The API root.
        base: url::Url,
        /// The product code.
        product: String,
        /// The region letter.
        region: String,
        /// Prices with VAT.
        inc_vat: bool,
    },
}

impl Provider {
    /// Its name in errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Awattar { .. } => "aWATTar",
            Self::Tibber { .. } => "Tibber",
            Self::Entsoe { .. } => "ENTSO-E",
            Self::EnergiDataService { .. } => "Energi Data Service",
            Self::Octopus { .. } => "Octopus",
        }
    }

    /// A key that changes when the configuration asks for different prices; a disk cache of
    /// another key is not used.
    pub fn cache_key(&self) -> String {
        match self {
            Self::Awattar { base } => format!("awattar {base}"),
            Self::Tibber {
                base,
                home_id,
                component,
                slot_minutes,
                ..
            } => format!("tibber {base} {home_id:?} {component:?} {slot_minutes}"),
            Self::Entsoe {
                base,
                domain,
                slot_minutes,
                ..
            } => format!("entsoe {base} {domain} {slot_minutes}"),
            Self::EnergiDataService {
                base,
                area,
                currency,
            } => format!("energidataservice {base} {area} {currency:?}"),
            Self::Octopus {
                base,
                product,
                region,
                inc_vat,
            } => format!("octopus {base} {product} {region} {inc_vat}"),
        }
    }

    /// The window to ask for at `now`: from two hours back (the current slot and a margin) to
    /// two days ahead, as evcc does for aWATTar; Tibber always answers today and tomorrow.
    pub fn window(now: Timestamp) -> (Timestamp, Timestamp) {
        (plus_minutes(now, -120), plus_minutes(now, 48 * 60))
    }

    /// The request for `[from, to)`.
    pub fn request(&self, from: Timestamp, to: Timestamp) -> Result<HttpRequest, RequestError> {
        match self {
            Self::Awattar { base } => awattar::request(base, from, to),
            Self::Tibber {
                base,
                token,
                slot_minutes,
                ..
            } => Ok(tibber::request(base, token, *slot_minutes)),
            Self::Entsoe {
                base,
                token,
                domain,
                ..
            } => Ok(entsoe::request(base, token, domain, from, to)),
            Self::EnergiDataService { base, area, .. } => {
                energidataservice::request(base, area, from, to)
            }
            Self::Octopus {
                base,
                product,
                region,
                ..
            } => octopus::request(base, product, region, from, to),
        }
        .map_err(RequestError)
    }

    /// Reads a response body.
    pub fn parse(&self, body: &[u8]) -> Result<Vec<PriceSlot>, ParseError> {
        match self {
            Self::Awattar { .. } => awattar::parse(body),
            Self::Tibber {
                home_id,
                component,
                slot_minutes,
                ..
            } => tibber::parse(body, home_id.as_deref(), *component, *slot_minutes),
            Self::Entsoe { slot_minutes, .. } => entsoe::parse(body, *slot_minutes),
            Self::EnergiDataService { area, currency, .. } => {
                energidataservice::parse(body, area, *currency)
            }
            Self::Octopus { inc_vat, .. } => octopus::parse(body, *inc_vat),
        }
    }
}
