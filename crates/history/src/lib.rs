//! History: every live value of the site at 10 s, downsampled to 1 min and 15 min with mean,
//! min and max, energy totals per day (months and years are their sums), kept in an embedded
//! SQLite store with a retention per resolution; the query side of `/api/v1/history` and
//! `/api/v1/energy`; InfluxDB line protocol for an optional export.
//!
//! Sans-IO except [`store`]: [`Recorder`] takes snapshots and hands out [`Batch`]es; whoever
//! drives it decides when to commit them (the daemon: when a 10 s sample closes, at most once
//! per `commit_every` of wall time) and where they go.

pub mod downsample;
pub mod energy;
pub mod influx;
pub mod query;
pub mod series;
pub mod store;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use site::Snapshot;
use units::Timestamp;

pub use downsample::{Downsampler, Resolution, Row};
pub use energy::{Energy, EnergyMeter};
pub use series::{Flows, Value, flows, values};
pub use store::{Batch, Period, PeriodEnergy, Retention, SeriesData, Store, StoreError, Sync};

/// Snapshots further apart than this (the daemon was down) add no energy.
pub const MAX_ENERGY_GAP: Duration = Duration::from_secs(60);

/// How often the retention deletes old rows, in sample time.
const PRUNE_EVERY: i64 = 3600;

/// The recorder: snapshots in, batches for the store out. See the crate docs.
#[derive(Debug)]
pub struct Recorder {
    down: Downsampler,
    energy: EnergyMeter,
    rows: Vec<Row>,
    days: BTreeMap<Date, Energy>,
    raw_closed: bool,
    newest: Option<i64>,
    pruned_at: Option<i64>,
}

impl Recorder {
    /// A recorder counting energy per local day of `tz`.
    pub fn new(tz: TimeZone) -> Self {
        Self {
            down: Downsampler::new(),
            energy: EnergyMeter::new(tz, MAX_ENERGY_GAP),
            rows: Vec::new(),
            days: BTreeMap::new(),
            raw_closed: false,
            newest: None,
            pruned_at: None,
        }
    }

    /// Continues from what `store` holds at `now`: today's energy totals, and the 1 min and
    /// 15 min buckets that were open when the last run stopped.
    pub fn resume(&mut self, store: &Store, now: Timestamp) -> Result<(), StoreError> {
        let t = now.as_unix_micros().div_euclid(1_000_000);
        let day = self.energy.day_of(now);
        if let Some(e) = store.day(day)? {
            self.energy.resume(day, e);
        }
        let since = Resolution::Quarter.bucket(t);
        self.down.resume(store.raw_since(since)?);
        Ok(())
    }

    /// One tick's snapshot.
    pub fn handle_snapshot(&mut self, s: &Snapshot) {
        let values = values(s);
        let keys: Vec<(String, f64)> = values.iter().map(|v| (v.key(), v.value)).collect();
        self.handle_values(s.time, keys.iter().map(|(k, v)| (k.as_str(), *v)), flows(s));
    }

    /// One tick's values and flows at `now` (what [`handle_snapshot`](Self::handle_snapshot)
    /// takes from a snapshot).
    pub fn handle_values<'a>(
        &mut self,
        now: Timestamp,
        values: impl IntoIterator<Item = (&'a str, f64)>,
        flows: Flows,
    ) {
        self.down.handle_values(now, values);
        self.energy.handle_flows(now, flows);
        while let Some(d) = self.energy.poll_closed() {
            self.days.insert(d.0, d.1);
        }
        if let Some((d, e)) = self.energy.today() {
            self.days.insert(d, e);
        }
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(row) = self.down.poll_row() {
            if row.resolution == Resolution::Raw {
                self.raw_closed = true;
                self.newest = Some(self.newest.map_or(row.t, |n| n.max(row.t)));
            }
            self.rows.push(row);
        }
    }

    /// True when a 10 s sample has closed since the last batch: time to commit.
    pub fn has_sample(&self) -> bool {
        self.raw_closed
    }

    /// The rows of 10 s samples waiting for the next batch (for an export beside the store).
    pub fn pending_rows(&self) -> &[Row] {
        &self.rows
    }

    /// Closes every open bucket: the daemon stops.
    pub fn flush(&mut self) {
        self.down.flush();
        self.drain();
    }

    /// Everything not yet handed out. Once an hour of sample time it asks the store to prune.
    pub fn take_batch(&mut self) -> Batch {
        self.raw_closed = false;
        let prune_at = match (self.newest, self.pruned_at) {
            (Some(n), None) => Some(n),
            (Some(n), Some(p)) if n - p >= PRUNE_EVERY || n < p => Some(n),
            _ => None,
        };
        if prune_at.is_some() {
            self.pruned_at = prune_at;
        }
        Batch {
            rows: std::mem::take(&mut self.rows),
            days: std::mem::take(&mut self.days).into_iter().collect(),
            prune_at,
        }
    }
}
