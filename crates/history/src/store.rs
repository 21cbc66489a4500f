//! The embedded store: SQLite (rusqlite, bundled) in WAL mode.
//!
//! Why SQLite and not redb: range queries with re-bucketing (`GROUP BY t / step`) and the
//! month and year sums are one SQL statement each; `PRAGMA integrity_check` proves a store
//! intact after a power cut; and any `sqlite3` shell can read a user's history without gridlet.
//! WAL mode appends each commit to the `-wal` file (a few pages) instead of rewriting pages in
//! place, and a crash at any point leaves the last committed transaction.
//!
//! Tables are keyed by time first (`(t, series)`, `WITHOUT ROWID`), so each commit appends to
//! the last leaf page of each table instead of touching one page per series: the write rate per
//! commit stays a few pages however many series there are.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::civil::Date;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::downsample::{Resolution, Row};
use crate::energy::Energy;

/// A store operation that failed; names the file.
#[derive(Debug, thiserror::Error)]
#[error("history store {path}: {source}")]
pub struct StoreError {
    path: PathBuf,
    #[source]
    source: rusqlite::Error,
}

/// How a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sync {
    /// Every commit is fsynced (`synchronous=FULL`): a power cut loses nothing committed.
    #[default]
    Full,
    /// The WAL is fsynced only at checkpoints (`synchronous=NORMAL`): never corrupt, but a power
    /// cut may lose the commits since the last checkpoint (a process kill loses nothing).
    Normal,
}

/// How long each resolution is kept; energy totals are kept for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// 10 s samples.
    pub raw: Duration,
    /// 1 min aggregates.
    pub minute: Duration,
    /// 15 min aggregates.
    pub quarter: Duration,
}

impl Default for Retention {
    /// 2 days of 10 s, 30 days of 1 min, 5 years of 15 min: some 25 MB with the reference
    /// site's 40 series on the board's SD card.
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Self {
            raw: Duration::from_secs(2 * DAY),
            minute: Duration::from_secs(30 * DAY),
            quarter: Duration::from_secs(5 * 365 * DAY),
        }
    }
}

impl Retention {
    /// The retention of `res`.
    pub fn of(&self, res: Resolution) -> Duration {
        match res {
            Resolution::Raw => self.raw,
            Resolution::Minute => self.minute,
            Resolution::Quarter => self.quarter,
        }
    }
}

/// What one commit writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Closed buckets.
    pub rows: Vec<Row>,
    /// Days whose totals changed, with their totals so far.
    pub days: Vec<(Date, Energy)>,
    /// Delete what the retention no longer keeps, as of this time (Unix seconds).
    pub prune_at: Option<i64>,
}

/// One series of a query's answer, columnar (as charting libraries take it).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesData {
    /// The series key.
    pub series: String,
    /// Bucket starts, Unix seconds.
    pub t: Vec<i64>,
    /// Means.
    pub mean: Vec<f64>,
    /// Minima.
    pub min: Vec<f64>,
    /// Maxima.
    pub max: Vec<f64>,
}

/// A period of the energy totals.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Period {
    /// Local days (`2026-06-21`).
    Day,
    /// Months (`2026-06`).
    Month,
    /// Years (`2026`).
    Year,
}

/// Energy totals of one period.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodEnergy {
    /// `2026-06-21`, `2026-06` or `2026`.
    pub period: String,
    /// The totals.
    #[serde(flatten)]
    pub energy: Energy,
}

/// The store. One connection; the writer and the readers each open their own.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    ids: HashMap<String, i64>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS raw (
    t INTEGER NOT NULL, series INTEGER NOT NULL, v REAL NOT NULL,
    PRIMARY KEY (t, series)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg (
    res INTEGER NOT NULL, t INTEGER NOT NULL, series INTEGER NOT NULL,
    mean REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (res, t, series)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS energy (
    day TEXT PRIMARY KEY,
    pv_wh REAL NOT NULL, import_wh REAL NOT NULL, export_wh REAL NOT NULL,
    battery_in_wh REAL NOT NULL, battery_out_wh REAL NOT NULL,
    car_charge_wh REAL NOT NULL, car_discharge_wh REAL NOT NULL,
    import_cost REAL NOT NULL);
";
// `energy` as first released; the columns of `Energy::FIELDS` after `import_cost` came later and
// are added by `Store::migrate`, to new and old stores alike (0 in the rows written before).

/// `INSERT OR REPLACE INTO energy (day, <fields>) VALUES (?1, ...)`.
fn energy_insert_sql() -> String {
    let n = Energy::FIELDS.len();
    let marks: Vec<String> = (1..=n + 1).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT OR REPLACE INTO energy (day, {}) VALUES ({})",
        Energy::FIELDS.join(", "),
        marks.join(", ")
    )
}

impl Store {
    /// Opens (creating if needed) the store at `path` for writing.
    pub fn open(path: &Path, sync: Sync) -> Result<Self, StoreError> {
        let mut s = Self::connect(path)?;
        let pragma = match sync {
            Sync::Full => "FULL",
            Sync::Normal => "NORMAL",
        };
        s.wrap(|c| {
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", pragma)?;
            c.execute_batch(SCHEMA)
        })?;
        s.migrate()?;
        s.load_ids()?;
        Ok(s)
    }

    /// Opens an existing store for queries. It may be written meanwhile (WAL: readers see the
    /// last commit).
    pub fn open_reader(path: &Path) -> Result<Self, StoreError> {
        let mut s = Self::connect(path)?;
        // A store just created by the writer may not have its tables yet.
        s.wrap(|c| c.execute_batch(SCHEMA))?;
        s.migrate()?;
        s.load_ids()?;
        Ok(s)
    }

    /// Adds the `energy` columns a store made by an older gridlet lacks (`DEFAULT 0`: its rows
    /// read back with the new fields 0). In an immediate transaction, checked again inside, so
    /// that the writer and a reader opening at once do not both add a column.
    fn migrate(&mut self) -> Result<(), StoreError> {
        fn missing(c: &Connection) -> rusqlite::Result<Vec<&'static str>> {
            let mut st = c.prepare("SELECT name FROM pragma_table_info('energy')")?;
            let have = st
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<std::collections::HashSet<_>>>()?;
            Ok(Energy::FIELDS
                .into_iter()
                .filter(|f| !have.contains(*f))
                .collect())
        }
        if self.wrap(missing)?.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        (|| {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for f in missing(&tx)? {
                tx.execute_batch(&format!(
                    "ALTER TABLE energy ADD COLUMN {f} REAL NOT NULL DEFAULT 0"
                ))?;
            }
            tx.commit()
        })()
        .map_err(|source| StoreError { path, source })
    }

    fn connect(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError {
            path: path.to_owned(),
            source,
        })?;
        let s = Self {
            conn,
            path: path.to_owned(),
            ids: HashMap::new(),
        };
        s.wrap(|c| {
            c.busy_timeout(Duration::from_secs(5))?;
            // 512 KiB of page cache: the daemon's memory budget is 20 MB in all.
            c.pragma_update(None, "cache_size", -512)
        })?;
        Ok(s)
    }

    fn wrap<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        f(&self.conn).map_err(|source| StoreError {
            path: self.path.clone(),
            source,
        })
    }

    fn load_ids(&mut self) -> Result<(), StoreError> {
        let ids = self.wrap(|c| {
            let mut st = c.prepare("SELECT key, id FROM series")?;
            st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<rusqlite::Result<HashMap<_, _>>>()
        })?;
        self.ids = ids;
        Ok(())
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a batch in one transaction: all of it or (after a crash) none of it.
    pub fn write(&mut self, batch: &Batch, retention: &Retention) -> Result<(), StoreError> {
        let mut ids = std::mem::take(&mut self.ids);
        let path = self.path.clone();
        let result = (|| {
            let tx = self.conn.transaction()?;
            {
                let mut new_series = tx.prepare_cached("INSERT INTO series (key) VALUES (?1)")?;
                let mut raw = tx.prepare_cached(
                    "INSERT OR REPLACE INTO raw (t, series, v) VALUES (?1, ?2, ?3)",
                )?;
                let mut agg = tx.prepare_cached(
                    "INSERT OR REPLACE INTO agg (res, t, series, mean, min, max, n) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for row in &batch.rows {
                    let id = match ids.get(&row.series) {
                        Some(id) => *id,
                        None => {
                            new_series.execute([&row.series])?;
                            let id = tx.last_insert_rowid();
                            ids.insert(row.series.clone(), id);
                            id
                        }
                    };
                    match row.resolution {
                        Resolution::Raw => {
                            raw.execute(params![row.t, id, row.mean])?;
                        }
                        res => {
                            agg.execute(params![
                                res.secs(),
                                row.t,
                                id,
                                row.mean,
                                row.min,
                                row.max,
                                row.count
                            ])?;
                        }
                    }
                }
                let mut day = tx.prepare_cached(&energy_insert_sql())?;
                for (d, e) in &batch.days {
                    let values = e.to_array().map(rusqlite::types::Value::Real);
                    let row =
                        std::iter::once(rusqlite::types::Value::Text(d.to_string())).chain(values);
                    day.execute(rusqlite::params_from_iter(row))?;
                }
                if let Some(now) = batch.prune_at {
                    let keep = |res: Resolution| {
                        now - i64::try_from(retention.of(res).as_secs()).unwrap_or(i64::MAX / 2)
                    };
                    tx.execute("DELETE FROM raw WHERE t < ?1", [keep(Resolution::Raw)])?;
                    for res in [Resolution::Minute, Resolution::Quarter] {
                        tx.execute(
                            "DELETE FROM agg WHERE res = ?1 AND t < ?2",
                            [res.secs(), keep(res)],
                        )?;
                    }
                }
            }
            tx.commit()
        })();
        if result.is_err() {
            // Ids of a rolled-back transaction do not exist: read them again.
            self.ids = HashMap::new();
            let _ = self.load_ids();
        } else {
            self.ids = ids;
        }
        result.map_err(|source| StoreError { path, source })
    }

    /// The newest raw sample's time, Unix seconds.
    pub fn newest(&self) -> Result<Option<i64>, StoreError> {
        self.wrap(|c| c.query_row("SELECT MAX(t) FROM raw", [], |r| r.get(0)))
    }

    /// The raw rows from `since` on (Unix seconds), oldest first, each counting as one tick:
    /// what a restart resumes its open 1 min and 15 min buckets with.
    pub fn raw_since(&self, since: i64) -> Result<Vec<Row>, StoreError> {
        self.wrap(|c| {
            let mut st = c.prepare(
                "SELECT raw.t, series.key, raw.v FROM raw JOIN series ON series.id = raw.series \
                 WHERE raw.t >= ?1 ORDER BY raw.t",
            )?;
            st.query_map([since], |r| {
                let v: f64 = r.get(2)?;
                Ok(Row {
                    resolution: Resolution::Raw,
                    t: r.get(0)?,
                    series: r.get(1)?,
                    mean: v,
                    min: v,
                    max: v,
                    count: 1,
                })
            })?
            .collect()
        })
    }

    /// The series stored, as of now: re-read, since a reader opened before the writer's first
    /// commit would otherwise list none for ever.
    pub fn series(&mut self) -> Result<Vec<String>, StoreError> {
        self.load_ids()?;
        let mut v: Vec<String> = self.ids.keys().cloned().collect();
        v.sort();
        Ok(v)
    }

    /// One series at `res` from `from` to `to` (Unix seconds, `to` exclusive), re-bucketed to
    /// `step` seconds (at least the resolution's).
    pub fn query(
        &mut self,
        series: &str,
        res: Resolution,
        from: i64,
        to: i64,
        step: i64,
    ) -> Result<SeriesData, StoreError> {
        if !self.ids.contains_key(series) {
            // Created since this reader opened?
            self.load_ids()?;
        }
        let mut out = SeriesData {
            series: series.to_owned(),
            t: Vec::new(),
            mean: Vec::new(),
            min: Vec::new(),
            max: Vec::new(),
        };
        let Some(&id) = self.ids.get(series) else {
            return Ok(out);
        };
        let step = step.max(res.secs());
        self.wrap(|c| {
            let (sql, args) = match res {
                Resolution::Raw => (
                    "SELECT (t / ?1) * ?1 AS b, AVG(v), MIN(v), MAX(v) FROM raw \
                     WHERE t >= ?2 AND t < ?3 AND series = ?4 GROUP BY b ORDER BY b",
                    vec![step, from, to, id],
                ),
                _ => (
                    "SELECT (t / ?1) * ?1 AS b, SUM(mean * n) / SUM(n), MIN(min), MAX(max) \
                     FROM agg WHERE res = ?5 AND t >= ?2 AND t < ?3 AND series = ?4 \
                     GROUP BY b ORDER BY b",
                    vec![step, from, to, id, res.secs()],
                ),
            };
            let mut st = c.prepare_cached(sql)?;
            let mut rows = st.query(rusqlite::params_from_iter(args))?;
            while let Some(r) = rows.next()? {
                out.t.push(r.get(0)?);
                out.mean.push(r.get(1)?);
                out.min.push(r.get(2)?);
                out.max.push(r.get(3)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The stored totals of `day`.
    pub fn day(&self, day: Date) -> Result<Option<Energy>, StoreError> {
        self.wrap(|c| {
            c.query_row(
                &format!(
                    "SELECT {} FROM energy WHERE day = ?1",
                    Energy::FIELDS.join(", ")
                ),
                [day.to_string()],
                read_energy(0),
            )
            .optional()
        })
    }

    /// Energy totals per `period` for the periods that begin on the days from `from` to `to`
    /// (inclusive).
    pub fn energy(
        &self,
        period: Period,
        from: Date,
        to: Date,
    ) -> Result<Vec<PeriodEnergy>, StoreError> {
        let len = match period {
            Period::Day => 10,
            Period::Month => 7,
            Period::Year => 4,
        };
        // Every field is a sum over days: the savings of a month are its days' savings (each
        // derived from its own day's totals), never derived again from the month's sums.
        let sums: Vec<String> = Energy::FIELDS.iter().map(|f| format!("SUM({f})")).collect();
        let sql = format!(
            "SELECT substr(day, 1, {len}) AS p, {} FROM energy \
             WHERE day >= ?1 AND day <= ?2 GROUP BY p ORDER BY p",
            sums.join(", ")
        );
        self.wrap(|c| {
            let mut st = c.prepare(&sql)?;
            st.query_map([from.to_string(), to.to_string()], |r| {
                Ok(PeriodEnergy {
                    period: r.get(0)?,
                    energy: read_energy(1)(r)?,
                })
            })?
            .collect()
        })
    }

    /// `PRAGMA integrity_check`: `"ok"` for an intact store.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.wrap(|c| {
            let mut st = c.prepare("PRAGMA integrity_check")?;
            let lines: Vec<String> = st
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(lines.join("\n"))
        })
    }

    /// How many buckets of `res` hold at least one row: a gap-free week has 7 × 1440 minutes.
    pub fn buckets(&self, res: Resolution) -> Result<i64, StoreError> {
        self.wrap(|c| match res {
            Resolution::Raw => c.query_row("SELECT COUNT(DISTINCT t) FROM raw", [], |r| r.get(0)),
            _ => c.query_row(
                "SELECT COUNT(DISTINCT t) FROM agg WHERE res = ?1",
                [res.secs()],
                |r| r.get(0),
            ),
        })
    }

    /// Rows per table (`raw`, `agg`, `energy`): for tests and size estimates.
    pub fn counts(&self) -> Result<[i64; 3], StoreError> {
        self.wrap(|c| {
            let n = |t: &str| c.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0));
            Ok([n("raw")?, n("agg")?, n("energy")?])
        })
    }
}

fn read_energy(first: usize) -> impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Energy> {
    move |r| {
        let mut a = [0.0; Energy::FIELDS.len()];
        for (i, v) in a.iter_mut().enumerate() {
            *v = r.get::<_, Option<f64>>(first + i)?.unwrap_or(0.0);
        }
        Ok(Energy::from_array(a))
    }
}
