//! PV forecasts per site: one source per array, fetched together and summed.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tariffs::{Backoff, FetchError, HttpRequest, ParseError};
use units::{Timestamp, Watts};

use crate::{PanelArray, PowerSeries, forecast_solar, open_meteo};

/// Where one array's forecast comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PvSource {
    /// forecast.solar's estimate.
    ForecastSolar {
        /// The API root.
        base: url::Url,
        /// A paid plan's key.
        api_key: Option<String>,
        /// Latitude.
        lat: f64,
        /// Longitude.
        lon: f64,
        /// The array.
        array: PanelArray,
    },
    /// open-meteo irradiance through the panel model.
    OpenMeteo {
        /// The API root.
        base: url::Url,
        /// Latitude.
        lat: f64,
        /// Longitude.
        lon: f64,
        /// The array.
        array: PanelArray,
    },
}

impl PvSource {
    /// Its name in errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ForecastSolar { .. } => "forecast.solar",
            Self::OpenMeteo { .. } => "open-meteo",
        }
    }

    /// The request.
    pub fn request(&self) -> Result<HttpRequest, String> {
        match self {
            Self::ForecastSolar {
                base,
                api_key,
                lat,
                lon,
                array,
            } => forecast_solar::request(base, api_key.as_deref(), *lat, *lon, array),
            Self::OpenMeteo {
                base,
                lat,
                lon,
                array,
            } => open_meteo::request(base, *lat, *lon, array, 3),
        }
    }

    /// Reads the answer.
    pub fn parse(&self, body: &[u8]) -> Result<PowerSeries, ParseError> {
        match self {
            Self::ForecastSolar { array, .. } => forecast_solar::parse(body, array),
            Self::OpenMeteo { array, .. } => open_meteo::parse(body, array),
        }
    }

    fn refusal(&self, body: &[u8]) -> Option<String> {
        match self {
            Self::ForecastSolar { .. } => forecast_solar::refusal(body),
            Self::OpenMeteo { .. } => open_meteo::refusal(body),
        }
    }

    /// Fetches the array's forecast.
    pub async fn fetch(&self, client: &tariffs::fetch::Client) -> Result<PowerSeries, FetchError> {
        let name = self.name();
        let req = self.request().map_err(|r| FetchError::Request {
            provider: name,
            reason: tariffs::RequestError(r),
        })?;
        let body = tariffs::fetch::send(client, name, &req, |b| self.refusal(b)).await?;
        self.parse(&body).map_err(|error| FetchError::Parse {
            provider: name,
            url: req.redacted_url(),
            error,
        })
    }
}

/// A PV forecast the planner reads.
#[derive(Debug, Clone, PartialEq)]
pub enum PvForecast {
    /// The same power at all times (e.g. 0 W: plan without PV).
    Constant(Watts),
    /// Fetched, summed over the arrays.
    Series(PowerSeries),
}

impl PvForecast {
    /// The mean power over `[from, to)`; `None` beyond the forecast.
    pub fn mean(&self, from: Timestamp, to: Timestamp) -> Option<Watts> {
        match self {
            Self::Constant(w) => Some(*w),
            Self::Series(s) => s.mean(from, to),
        }
    }
}

/// The forecast shared between the fetch task and its readers.
#[derive(Debug, Clone, Default)]
pub struct SharedPv(Arc<Mutex<(PowerSeries, Option<String>)>>);

impl SharedPv {
    fn lock(&self) -> MutexGuard<'_, (PowerSeries, Option<String>)> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The latest good forecast.
    pub fn forecast(&self) -> PvForecast {
        PvForecast::Series(self.lock().0.clone())
    }

    /// The error of the last attempt, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.lock().1.clone()
    }
}

/// The PV fetch task: every array each period; a failure keeps the last good forecast and
/// backs off.
#[derive(Debug)]
pub struct PvFetcher {
    sources: Vec<PvSource>,
    client: tariffs::fetch::Client,
    shared: SharedPv,
    /// Between good fetches (forecast.solar's free plan allows 12 calls an hour).
    pub period: Duration,
    backoff: Backoff,
    next: Timestamp,
}

impl PvFetcher {
    /// A task for the site's arrays.
    pub fn new(sources: Vec<PvSource>, shared: SharedPv) -> Result<Self, String> {
        Ok(Self {
            sources,
            client: tariffs::fetch::client()?,
            shared,
            period: Duration::from_secs(3600),
            backoff: Backoff::new(Duration::from_secs(60), Duration::from_secs(30 * 60)),
            next: Timestamp::UNIX_EPOCH,
        })
    }

    /// Fetches if due at `now`; returns when the next fetch is due.
    pub async fn step(&mut self, now: Timestamp) -> Timestamp {
        if now < self.next {
            return self.next;
        }
        let mut total = PowerSeries::default();
        let mut error = None;
        for s in &self.sources {
            match s.fetch(&self.client).await {
                Ok(series) => total = total.plus(&series),
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        let mut shared = self.shared.lock();
        match error {
            None => {
                self.backoff.reset();
                *shared = (total, None);
                self.next = now + self.period;
            }
            Some(e) => {
                tracing::warn!("{e}; keeping the last PV forecast");
                shared.1 = Some(e);
                self.next = now + self.backoff.next_delay();
            }
        }
        self.next
    }
}
