//! Downsampling, sans-IO: the ticks' values into 10 s raw samples, those into 1 min and 15 min
//! aggregates with mean, min and max. Buckets are aligned to the Unix epoch, so a bucket's start
//! is its key everywhere (store, API, restarts).

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use units::Timestamp;

/// A stored resolution.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// 10 s: the mean of the ticks in the bucket.
    Raw,
    /// 1 min aggregates of the raw samples.
    Minute,
    /// 15 min aggregates of the raw samples.
    Quarter,
}

impl Resolution {
    /// Finest first.
    pub const ALL: [Self; 3] = [Self::Raw, Self::Minute, Self::Quarter];

    /// The bucket length in seconds.
    pub const fn secs(self) -> i64 {
        match self {
            Self::Raw => 10,
            Self::Minute => 60,
            Self::Quarter => 900,
        }
    }

    /// The start of the bucket that holds `t` (Unix seconds).
    pub const fn bucket(self, t: i64) -> i64 {
        t.div_euclid(self.secs()) * self.secs()
    }

    fn index(self) -> usize {
        match self {
            Self::Raw => 0,
            Self::Minute => 1,
            Self::Quarter => 2,
        }
    }
}

/// One closed bucket of one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Its resolution.
    pub resolution: Resolution,
    /// The bucket's start, Unix seconds.
    pub t: i64,
    /// The series key (`grid.power_w`).
    pub series: String,
    /// Mean over the bucket.
    pub mean: f64,
    /// Smallest value seen in the bucket.
    pub min: f64,
    /// Largest value seen in the bucket.
    pub max: f64,
    /// How many ticks the bucket saw (weights the mean of coarser buckets).
    pub count: u32,
}

#[derive(Debug, Clone, Copy)]
struct Acc {
    sum: f64,
    count: u32,
    min: f64,
    max: f64,
}

impl Acc {
    fn add(&mut self, mean: f64, count: u32, min: f64, max: f64) {
        self.sum += mean * f64::from(count);
        self.count += count;
        self.min = self.min.min(min);
        self.max = self.max.max(max);
    }
}

impl Default for Acc {
    fn default() -> Self {
        Self {
            sum: 0.0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

#[derive(Debug)]
struct Open {
    start: i64,
    series: BTreeMap<String, Acc>,
}

/// The downsampler: values in ([`handle_values`](Self::handle_values)), closed buckets out
/// ([`poll_row`](Self::poll_row)). A bucket closes when a value of a later bucket arrives or on
/// [`flush`](Self::flush).
#[derive(Debug, Default)]
pub struct Downsampler {
    open: [Option<Open>; 3],
    ready: VecDeque<Row>,
}

impl Downsampler {
    /// An empty downsampler.
    pub fn new() -> Self {
        Self::default()
    }

    /// The values of one tick at `now`.
    pub fn handle_values<'a>(
        &mut self,
        now: Timestamp,
        values: impl IntoIterator<Item = (&'a str, f64)>,
    ) {
        let t = now.as_unix_micros().div_euclid(1_000_000);
        let start = Resolution::Raw.bucket(t);
        self.roll(Resolution::Raw, start);
        // Coarser buckets that ended with the raw one close now, not with the next raw row.
        self.roll(Resolution::Minute, Resolution::Minute.bucket(t));
        self.roll(Resolution::Quarter, Resolution::Quarter.bucket(t));
        let open = self.open[0].get_or_insert_with(|| Open {
            start,
            series: BTreeMap::new(),
        });
        for (key, v) in values {
            if !v.is_finite() {
                continue;
            }
            match open.series.get_mut(key) {
                Some(acc) => acc.add(v, 1, v, v),
                None => {
                    let mut acc = Acc::default();
                    acc.add(v, 1, v, v);
                    open.series.insert(key.to_owned(), acc);
                }
            }
        }
    }

    /// Raw rows already stored (after a restart): the 1 min and 15 min buckets they belong to
    /// continue with them instead of starting empty. Each counts as `count` ticks.
    pub fn resume(&mut self, raw: impl IntoIterator<Item = Row>) {
        for row in raw {
            if row.resolution == Resolution::Raw {
                self.feed_coarse(&row);
            }
        }
    }

    /// The next closed bucket, finest first within a close.
    pub fn poll_row(&mut self) -> Option<Row> {
        self.ready.pop_front()
    }

    /// Closes every open bucket (at shutdown). Their rows are partial; a later run that
    /// resumes from the raw rows writes the complete ones over them.
    pub fn flush(&mut self) {
        for r in Resolution::ALL {
            self.close(r);
        }
    }

    /// Closes `res`'s open bucket if `start` begins a later one.
    fn roll(&mut self, res: Resolution, start: i64) {
        if self.open[res.index()]
            .as_ref()
            .is_some_and(|o| o.start != start)
        {
            self.close(res);
        }
    }

    fn close(&mut self, res: Resolution) {
        let Some(open) = self.open[res.index()].take() else {
            return;
        };
        for (series, acc) in open.series {
            if acc.count == 0 {
                continue;
            }
            let row = Row {
                resolution: res,
                t: open.start,
                series,
                mean: acc.sum / f64::from(acc.count),
                min: acc.min,
                max: acc.max,
                count: acc.count,
            };
            if res == Resolution::Raw {
                self.feed_coarse(&row);
            }
            self.ready.push_back(row);
        }
    }

    fn feed_coarse(&mut self, row: &Row) {
        for res in [Resolution::Minute, Resolution::Quarter] {
            let start = res.bucket(row.t);
            self.roll(res, start);
            let open = self.open[res.index()].get_or_insert_with(|| Open {
                start,
                series: BTreeMap::new(),
            });
            open.series.entry(row.series.clone()).or_default().add(
                row.mean,
                row.count.max(1),
                row.min,
                row.max,
            );
        }
    }
}
