//! The prices a site knows: what the fetch task last got (or the disk cache held), with the
//! end-user formula and feed-in tariff applied on the way out.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use units::{PricePerKwh, Timestamp};

use crate::{FeedIn, PriceFormula, PriceSlot, Tariff, TimeOfUse, plus_minutes};

/// Where the provider's prices come from.
#[derive(Debug, Clone)]
enum Source {
    /// Fetched day-ahead slots (spot or all-in, before the formula).
    Fetched(Vec<PriceSlot>),
    /// A fixed price.
    Fixed(PricePerKwh),
    /// A time-of-use tariff.
    TimeOfUse(TimeOfUse),
}

/// How fresh the prices are, for the page, the API and `gridlet prices`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FeedStatus {
    /// The provider.
    pub provider: String,
    /// When prices were last fetched (or, from the cache, when the cache was written).
    pub fetched_at: Option<Timestamp>,
    /// The error of the last attempt, if it failed: the prices are then the last good ones.
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct State {
    source: Source,
    formula: PriceFormula,
    feed_in: FeedIn,
    status: FeedStatus,
}

/// The site's prices: a [`Tariff`] that the controller reads and the fetch task writes. Clones
/// share the same prices.
#[derive(Debug, Clone)]
pub struct PriceFeed(Arc<Mutex<State>>);

/// How long past slots are kept (the page shows the day so far).
const KEEP_PAST_MIN: i64 = 24 * 60;

impl PriceFeed {
    fn with(provider: &str, source: Source, formula: PriceFormula, feed_in: FeedIn) -> Self {
        Self(Arc::new(Mutex::new(State {
            source,
            formula,
            feed_in,
            status: FeedStatus {
                provider: provider.to_owned(),
                ..FeedStatus::default()
            },
        })))
    }

    /// A feed of fetched day-ahead prices, empty until the first fetch (or [`Self::load`]).
    pub fn fetched(provider: &str, formula: PriceFormula, feed_in: FeedIn) -> Self {
        Self::with(provider, Source::Fetched(Vec::new()), formula, feed_in)
    }

    /// A fixed price.
    pub fn fixed(price: PricePerKwh, formula: PriceFormula, feed_in: FeedIn) -> Self {
        Self::with("fixed", Source::Fixed(price), formula, feed_in)
    }

    /// A time-of-use tariff.
    pub fn time_of_use(tou: TimeOfUse, formula: PriceFormula, feed_in: FeedIn) -> Self {
        Self::with("time-of-use", Source::TimeOfUse(tou), formula, feed_in)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent data (every write is
        // one assignment), so a poisoned lock is still usable.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes freshly fetched slots at `now`: they replace what was known over their span; older
    /// known slots outside it stay (yesterday's, or tomorrow's when a provider answers only
    /// part of the window), and slots ended a day before `now` are dropped.
    pub fn update(&self, now: Timestamp, fresh: Vec<PriceSlot>) {
        let mut st = self.lock();
        if let Source::Fetched(known) = &mut st.source {
            let (lo, hi) = match (fresh.first(), fresh.last()) {
                (Some(a), Some(b)) => (a.start, b.end),
                _ => (now, now),
            };
            let cutoff = plus_minutes(now, -KEEP_PAST_MIN);
            let mut merged: Vec<PriceSlot> = known
                .iter()
                .filter(|s| (s.end <= lo || s.start >= hi) && s.end > cutoff)
                .copied()
                .chain(fresh)
                .collect();
            merged.sort_by_key(|s| s.start);
            *known = merged;
        }
        st.status.fetched_at = Some(now);
        st.status.last_error = None;
    }

    /// Notes a failed fetch; the known prices stay.
    pub fn failed(&self, error: String) {
        self.lock().status.last_error = Some(error);
    }

    /// The freshness.
    pub fn status(&self) -> FeedStatus {
        self.lock().status.clone()
    }

    /// The provider's own prices over `[from, to)`, before the formula.
    pub fn spot(&self, from: Timestamp, to: Timestamp) -> Vec<PriceSlot> {
        let st = self.lock();
        match &st.source {
            Source::Fetched(s) => s
                .iter()
                .filter(|s| s.end > from && s.start < to)
                .copied()
                .collect(),
            Source::Fixed(p) => devices::FixedTariff(*p).prices(from, to),
            Source::TimeOfUse(t) => t.prices(from, to),
        }
    }

    /// What to write to the disk cache.
    pub fn snapshot(&self, key: &str) -> PriceCache {
        let st = self.lock();
        PriceCache {
            key: key.to_owned(),
            fetched_at: st.status.fetched_at,
            slots: match &st.source {
                Source::Fetched(s) => s.clone(),
                _ => Vec::new(),
            },
        }
    }

    /// Starts from a cache read at start-up, if it is for the same configuration (`key`).
    pub fn restore(&self, cache: PriceCache, key: &str) -> bool {
        if cache.key != key {
            return false;
        }
        let mut st = self.lock();
        if let Source::Fetched(known) = &mut st.source {
            *known = crate::normalise(cache.slots);
            st.status.fetched_at = cache.fetched_at;
            true
        } else {
            false
        }
    }
}

impl Tariff for PriceFeed {
    fn prices(&self, from: Timestamp, to: Timestamp) -> Vec<PriceSlot> {
        let formula = self.lock().formula;
        self.spot(from, to)
            .into_iter()
            .map(|s| PriceSlot {
                price: formula.apply(s.price),
                ..s
            })
            .collect()
    }

    fn horizon(&self) -> Option<Timestamp> {
        match &self.lock().source {
            Source::Fetched(s) => Some(s.last().map_or(Timestamp::UNIX_EPOCH, |s| s.end)),
            Source::Fixed(_) | Source::TimeOfUse(_) => None,
        }
    }

    fn feed_in(&self, from: Timestamp, to: Timestamp) -> Vec<PriceSlot> {
        let feed_in = self.lock().feed_in;
        match feed_in {
            FeedIn::None => Vec::new(),
            FeedIn::Fixed { price } => devices::FixedTariff(price).prices(from, to),
            FeedIn::Spot { .. } => self
                .spot(from, to)
                .into_iter()
                .filter_map(|s| feed_in.apply(s.price).map(|price| PriceSlot { price, ..s }))
                .collect(),
        }
    }
}

/// The disk cache: the known slots and when they were fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceCache {
    /// The configuration it was fetched for ([`crate::Provider::cache_key`]).
    pub key: String,
    /// When.
    pub fetched_at: Option<Timestamp>,
    /// The slots, before the formula.
    pub slots: Vec<PriceSlot>,
}

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// File system.
    #[error("price cache {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// Not our format (another version, a damaged file).
    #[error("price cache {path}: unreadable, ignored: {source}")]
    Format {
        path: String,
        source: serde_json::Error,
    },
}

impl PriceCache {
    /// Reads the cache; `Ok(None)` when there is none yet.
    pub fn load(path: &Path) -> Result<Option<Self>, CacheError> {
        let label = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|source| CacheError::Format {
                        path: label,
                        source,
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CacheError::Io {
                path: label,
                source,
            }),
        }
    }

    /// Writes the cache atomically: a temporary file beside it, synced, then renamed over it,
    /// so a power cut leaves the old cache or the new one, never half of one.
    pub fn save(&self, path: &Path) -> Result<(), CacheError> {
        let io = |source| CacheError::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("tmp");
        let json = serde_json::to_vec(self).map_err(|e| io(std::io::Error::other(e)))?;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&json).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(a: i64, p: f64) -> PriceSlot {
        PriceSlot {
            start: Timestamp::from_unix_secs(a * 900),
            end: Timestamp::from_unix_secs((a + 1) * 900),
            price: PricePerKwh(p),
        }
    }

    #[test]
    fn fresh_slots_replace_their_span_only() {
        let feed = PriceFeed::fetched("t", PriceFormula::default(), FeedIn::None);
        let now = Timestamp::from_unix_secs(100 * 900);
        feed.update(now, (100..110).map(|i| slot(i, 1.0)).collect());
        feed.update(now, (104..106).map(|i| slot(i, 2.0)).collect());
        let all = feed.spot(Timestamp::UNIX_EPOCH, Timestamp::from_unix_secs(1 << 40));
        let prices: Vec<f64> = all.iter().map(|s| s.price.0).collect();
        assert_eq!(prices, vec![1., 1., 1., 1., 2., 2., 1., 1., 1., 1.]);
        assert_eq!(feed.horizon(), Some(slot(109, 0.0).end));
    }

    #[test]
    fn formula_and_feed_in_apply_on_the_way_out() {
        let formula = PriceFormula {
            spot_factor: 1.0,
            fee: 0.1,
            vat: 0.0,
        };
        let feed_in = FeedIn::Spot {
            spot_factor: 1.0,
            offset: 0.0,
            floor: Some(0.0),
        };
        let feed = PriceFeed::fetched("t", formula, feed_in);
        feed.update(Timestamp::UNIX_EPOCH, vec![slot(0, -0.05)]);
        let t = Timestamp::from_unix_secs(10);
        assert!((feed.price_at(t).unwrap().0 - 0.05).abs() < 1e-12);
        assert_eq!(
            feed.feed_in(t, plus_minutes(t, 1))[0].price,
            PricePerKwh(0.0)
        );
        // What the site's snapshot reads each tick; nothing outside the known slots.
        assert_eq!(feed.feed_in_at(t), Some(PricePerKwh(0.0)));
        assert_eq!(feed.feed_in_at(Timestamp::from_unix_secs(7200)), None);
    }

    #[test]
    fn the_cache_round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prices.json");
        assert!(PriceCache::load(&path).unwrap().is_none());
        let feed = PriceFeed::fetched("t", PriceFormula::default(), FeedIn::None);
        feed.update(Timestamp::UNIX_EPOCH, vec![slot(0, 0.1)]);
        feed.snapshot("k").save(&path).unwrap();
        assert!(!path.with_extension("tmp").exists());
        let other = PriceFeed::fetched("t", PriceFormula::default(), FeedIn::None);
        let cache = PriceCache::load(&path).unwrap().unwrap();
        assert!(!other.restore(cache.clone(), "another"));
        assert!(other.restore(cache, "k"));
        assert_eq!(
            other.price_at(Timestamp::from_unix_secs(1)),
            Some(PricePerKwh(0.1))
        );
        std::fs::write(&path, b"{").unwrap();
        assert!(matches!(
            PriceCache::load(&path),
            Err(CacheError::Format { .. })
        ));
    }
}
