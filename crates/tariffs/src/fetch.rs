//! The I/O: one tokio task per provider fetches on its [`Schedule`], writes a disk cache and
//! publishes into its [`PriceFeed`]. Errors are logged and kept in the feed's status; the feed
//! keeps the last good prices, so the site runs on cached prices while offline.
//!
//! HTTP is `reqwest` with rustls (no OpenSSL: the board build cross-compiles).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use units::{Clock, Timestamp};

use crate::{
    FetchError, HttpRequest, Method, ParseError, PriceCache, PriceFeed, PriceSlot, Provider,
    Schedule, Tariff,
};

/// The longest a request may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read: a year of quarter-hour prices in the most verbose format (ENTSO-E
/// XML) is about 4 MB.
const MAX_BODY: usize = 16 << 20;
/// How much of an error body goes into the error.
const DETAIL_CHARS: usize = 200;

/// The HTTP client (reqwest), re-exported so that other crates' fetch tasks share it.
pub use reqwest::Client;

/// The HTTP client every fetch task uses.
pub fn client() -> Result<Client, String> {
    Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("gridlet/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// Sends `req` and returns the body of a successful answer. `refusal` reads an error body for
/// the service's own reason (ENTSO-E answers errors with an acknowledgement document).
pub async fn send(
    client: &Client,
    provider: &'static str,
    req: &HttpRequest,
    refusal: impl Fn(&[u8]) -> Option<String>,
) -> Result<Vec<u8>, FetchError> {
    let url = req.redacted_url();
    let mut r = match req.method {
        Method::Get => client.get(req.url.clone()),
        Method::Post => client.post(req.url.clone()),
    };
    for (k, v) in &req.headers {
        r = r.header(k, v);
    }
    if let Some(b) = &req.body {
        r = r.body(b.clone());
    }
    let unreachable = |e: reqwest::Error| FetchError::Unreachable {
        provider,
        url: url.clone(),
        // Without the URL: reqwest's text repeats it, tokens included.
        reason: e.without_url().to_string(),
    };
    let mut resp = r.send().await.map_err(unreachable)?;
    let status = resp.status();
    // Read at most MAX_BODY: a misbehaving server cannot make the daemon allocate without bound.
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(FetchError::Parse {
                provider,
                url,
                error: ParseError::Malformed(format!("body larger than {MAX_BODY} bytes")),
            });
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let detail = match refusal(&body) {
            Some(reason) => reason,
            None => {
                let text = String::from_utf8_lossy(&body);
                let text: String = text.chars().take(DETAIL_CHARS).collect();
                if text.trim().is_empty() {
                    status.canonical_reason().unwrap_or("no reason").to_owned()
                } else {
                    text
                }
            }
        };
        return Err(FetchError::Status {
            provider,
            url,
            status: status.as_u16(),
            detail,
        });
    }
    Ok(body)
}

/// Fetches `provider`'s prices for the window around `now`.
pub async fn fetch(
    client: &Client,
    provider: &Provider,
    now: Timestamp,
) -> Result<Vec<PriceSlot>, FetchError> {
    let name = provider.name();
    let (from, to) = Provider::window(now);
    let req = provider
        .request(from, to)
        .map_err(|reason| FetchError::Request {
            provider: name,
            reason,
        })?;
    let refusal = |b: &[u8]| match provider.parse(b) {
        Err(ParseError::Refused(reason)) => Some(reason),
        _ => None,
    };
    let body = send(client, name, &req, refusal).await?;
    provider.parse(&body).map_err(|error| FetchError::Parse {
        provider: name,
        url: req.redacted_url(),
        error,
    })
}

/// One provider's fetch task.
#[derive(Debug)]
pub struct Fetcher {
    provider: Provider,
    client: Client,
    feed: PriceFeed,
    schedule: Schedule,
    cache: Option<PathBuf>,
}

impl Fetcher {
    /// A task publishing into `feed`, with a disk cache at `cache`. A cache for the same
    /// configuration is loaded at once, so prices are there before the first fetch.
    pub fn new(
        provider: Provider,
        feed: PriceFeed,
        schedule: Schedule,
        cache: Option<PathBuf>,
    ) -> Result<Self, String> {
        if let Some(path) = &cache {
            match PriceCache::load(path) {
                Ok(Some(c)) => {
                    if feed.restore(c, &provider.cache_key()) {
                        tracing::info!(provider = provider.name(), path = %path.display(), "prices from the cache");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("{e}"),
            }
        }
        Ok(Self {
            provider,
            client: client()?,
            feed,
            schedule,
            cache,
        })
    }

    /// The feed it writes.
    pub fn feed(&self) -> &PriceFeed {
        &self.feed
    }

    /// The schedule (for tests and status).
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Fetches if due at `now`; returns when the next fetch is due.
    pub async fn step(&mut self, now: Timestamp) -> Timestamp {
        if self.schedule.due(now) {
            match fetch(&self.client, &self.provider, now).await {
                Ok(slots) => {
                    tracing::debug!(
                        provider = self.provider.name(),
                        slots = slots.len(),
                        "prices fetched"
                    );
                    self.feed.update(now, slots);
                    self.schedule.succeeded(now, self.feed.horizon());
                    if let Some(path) = &self.cache
                        && let Err(e) = self.feed.snapshot(&self.provider.cache_key()).save(path)
                    {
                        tracing::warn!("{e}");
                    }
                }
                Err(e) => {
                    self.schedule.failed(now);
                    tracing::warn!(
                        retry_at = %self.schedule.next_fetch(),
                        "{e}; keeping the prices known so far"
                    );
                    self.feed.failed(e.to_string());
                }
            }
        }
        self.schedule.next_fetch()
    }

    /// Runs until the task is dropped: sleeps until the next fetch is due on `clock`. The
    /// sleep is capped so that a clock that jumps (virtual time, suspend) is noticed soon.
    pub async fn run(mut self, clock: Arc<dyn Clock>) {
        loop {
            let now = clock.now();
            let next = self.step(now).await;
            let wait = next
                .saturating_duration_since(clock.now())
                .min(Duration::from_secs(60));
            tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
        }
    }
}
