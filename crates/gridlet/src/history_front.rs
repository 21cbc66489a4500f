//! History as a front end of the runner: it only reads the published snapshots (it knows no
//! other front end), records them through `history::Recorder` into the SQLite store on a
//! writer thread of its own, feeds the optional InfluxDB export, and serves
//! `/api/v1/history`, `/api/v1/history/series`, `/api/v1/energy` and `/metrics`.
//!
//! Nothing here can hold up the tick: the recorder's work per snapshot is a few map updates,
//! commits happen on the writer thread (a full queue drops a batch, logged), and the export is
//! a task of its own behind a bounded channel.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use history::influx::{Exporter, SendResult, Target};
use history::query::{EnergyParams, EnergyQuery, Format, HistoryParams, HistoryQuery};
use history::{Batch, Recorder, Retention, Store};
use jiff::tz::TimeZone;
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use units::{Clock, Timestamp};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::runner::Published;

/// `[history]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryConfig {
    /// The SQLite file (created with its directory's `-wal` and `-shm` beside it).
    pub(crate) path: PathBuf,
    /// At most one commit per this much wall-clock time; a commit follows each 10 s sample
    /// otherwise, so a power cut loses at most the sample being collected.
    #[serde(default = "default_commit_every", with = "units::duration_str")]
    pub(crate) commit_every: Duration,
    /// `full`: every commit is fsynced (nothing committed is lost on a power cut); `normal`:
    /// only at checkpoints (fewer writes; a power cut may lose the last minutes).
    #[serde(default)]
    pub(crate) sync: history::Sync,
    /// How long 10 s samples are kept.
    #[serde(default = "default_keep_raw", with = "units::duration_str")]
    pub(crate) keep_raw: Duration,
    /// How long 1 min aggregates are kept.
    #[serde(default = "default_keep_minute", with = "units::duration_str")]
    pub(crate) keep_minute: Duration,
    /// How long 15 min aggregates are kept (energy totals are kept for ever).
    #[serde(default = "default_keep_quarter", with = "units::duration_str")]
    pub(crate) keep_quarter: Duration,
    /// The prices' currency, named with the energy totals' money (`/api/v1/energy`, the page).
    #[serde(default = "default_currency")]
    pub(crate) currency: String,
    /// `[history.influx]`: also send every 10 s sample to InfluxDB or VictoriaMetrics.
    pub(crate) influx: Option<InfluxConfig>,
}

fn default_currency() -> String {
    "EUR".into()
}

fn default_commit_every() -> Duration {
    Duration::from_secs(10)
}
fn default_keep_raw() -> Duration {
    Retention::default().raw
}
fn default_keep_minute() -> Duration {
    Retention::default().minute
}
fn default_keep_quarter() -> Duration {
    Retention::default().quarter
}

/// `[history.influx]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InfluxConfig {
    /// `http://host:8086` (InfluxDB) or `http://host:8428` (VictoriaMetrics).
    pub(crate) url: String,
    /// `v1` (`/write?db=`) or `v2` (`/api/v2/write?org=&bucket=` with a token).
    #[serde(default = "default_api")]
    pub(crate) api: String,
    /// v1: the database.
    pub(crate) db: Option<String>,
    /// v1: basic-auth user and password, if the server wants them.
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    /// v2: organisation, bucket and token (or a file holding the token).
    pub(crate) org: Option<String>,
    pub(crate) bucket: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) token_file: Option<PathBuf>,
    /// The measurement name.
    #[serde(default = "default_measurement")]
    pub(crate) measurement: String,
    /// Tags on every line (`site = "home"`).
    #[serde(default)]
    pub(crate) tags: indexmap::IndexMap<String, String>,
    /// Lines per request.
    #[serde(default = "default_batch")]
    pub(crate) batch: usize,
    /// Lines kept while the server is away (a day of 10 s samples by default); older ones are
    /// dropped.
    #[serde(default = "default_queue")]
    pub(crate) queue: usize,
}

fn default_api() -> String {
    "v1".into()
}
fn default_measurement() -> String {
    "gridlet".into()
}
fn default_batch() -> usize {
    500
}
fn default_queue() -> usize {
    8640
}

impl HistoryConfig {
    /// Records into `path`: the given settings with another file, or the defaults.
    pub(crate) fn set_path(cfg: &mut Option<Self>, path: PathBuf) {
        match cfg {
            Some(c) => c.path = path,
            None => {
                *cfg = Some(Self {
                    path,
                    commit_every: default_commit_every(),
                    sync: history::Sync::default(),
                    keep_raw: default_keep_raw(),
                    keep_minute: default_keep_minute(),
                    keep_quarter: default_keep_quarter(),
                    currency: default_currency(),
                    influx: None,
                });
            }
        }
    }

    fn retention(&self) -> Retention {
        Retention {
            raw: self.keep_raw,
            minute: self.keep_minute,
            quarter: self.keep_quarter,
        }
    }

    /// Semantic checks; the error names the dotted key.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        let err = |k: &str, m: &str| Err((format!("history.{k}"), m.to_owned()));
        if self.path.as_os_str().is_empty() {
            return err("path", "must name a file");
        }
        if self.commit_every < Duration::from_secs(1)
            || self.commit_every > Duration::from_secs(600)
        {
            return err("commit_every", "must be between 1s and 10m");
        }
        if self.keep_raw < Duration::from_secs(3600) {
            return err("keep_raw", "must be at least 1h");
        }
        if self.keep_minute < self.keep_raw {
            return err("keep_minute", "must be at least keep_raw");
        }
        if self.keep_quarter < self.keep_minute {
            return err("keep_quarter", "must be at least keep_minute");
        }
        if self.currency.trim().is_empty() || self.currency.chars().count() > 8 {
            return err("currency", "must be a short name such as \"EUR\"");
        }
        if let Some(i) = &self.influx {
            // A missing key is reported at the table (key ""), a wrong one at itself.
            i.target().map_err(|(k, m)| match k.as_str() {
                "" => ("history.influx".to_owned(), m),
                k => (format!("history.influx.{k}"), m),
            })?;
            if i.batch == 0 || i.queue < i.batch {
                return Err((
                    "history.influx.queue".into(),
                    "batch must be > 0 and queue at least batch".into(),
                ));
            }
        }
        Ok(())
    }
}

impl InfluxConfig {
    /// The target; the error names the key within `[history.influx]`.
    fn target(&self) -> Result<Target, (String, String)> {
        let e = |k: &str, m: String| Err((k.to_owned(), m));
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return e(
                "url",
                format!("{:?} is not an http:// or https:// URL", self.url),
            );
        }
        if self.measurement.is_empty() {
            return e("measurement", "must not be empty".into());
        }
        match self.api.as_str() {
            "v1" => {
                let Some(db) = self.db.clone().filter(|d| !d.is_empty()) else {
                    return e(
                        "",
                        "db: the v1 API needs the database (db = \"gridlet\")".into(),
                    );
                };
                let auth = match (&self.user, &self.password) {
                    (Some(u), Some(p)) => Some((u.clone(), p.clone())),
                    (None, None) => None,
                    _ => return e("user", "give both user and password, or neither".into()),
                };
                Ok(Target::V1 {
                    url: self.url.clone(),
                    db,
                    auth,
                })
            }
            "v2" => {
                let (Some(org), Some(bucket)) = (self.org.clone(), self.bucket.clone()) else {
                    return e("", "org, bucket: the v2 API needs both".into());
                };
                let token = match (&self.token, &self.token_file) {
                    (Some(t), None) => t.clone(),
                    (None, Some(f)) => std::fs::read_to_string(f)
                        .map(|t| t.trim().to_owned())
                        .map_err(|err| {
                            ("token_file".to_owned(), format!("{}: {err}", f.display()))
                        })?,
                    _ => {
                        return e(
                            "",
                            "token: the v2 API needs token or token_file (one)".into(),
                        );
                    }
                };
                Ok(Target::V2 {
                    url: self.url.clone(),
                    org,
                    bucket,
                    token,
                })
            }
            other => e("api", format!("{other:?} is not v1 or v2")),
        }
    }
}

/// What the assembly makes of `[history]`; [`HistoryFront::start`] runs it beside the loop.
#[derive(Debug)]
pub struct HistoryFront {
    cfg: HistoryConfig,
    tz: TimeZone,
}

impl HistoryFront {
    pub(crate) fn new(cfg: HistoryConfig, tz: TimeZone) -> Self {
        Self { cfg, tz }
    }
}

/// The reading side, for the HTTP routes.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    path: PathBuf,
    retention: Retention,
    tz: TimeZone,
    currency: String,
    store: Arc<Mutex<Option<Store>>>,
}

impl Reader {
    /// Runs `f` on the reader's connection (opened on first use) off the async threads.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, history::StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let store = Arc::clone(&self.store);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = store
                .lock()
                .map_err(|_| "history reader poisoned".to_owned())?;
            if guard.is_none() {
                *guard = Some(Store::open_reader(&path).map_err(|e| e.to_string())?);
            }
            let s = guard.as_mut().ok_or("history reader missing")?;
            f(s).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("history reader: {e}"))?
    }
}

/// A running history front end.
#[derive(Debug)]
pub(crate) struct Running {
    reader: Reader,
    recorder: tokio::task::JoinHandle<()>,
    export: Option<tokio::task::JoinHandle<()>>,
}

/// How long a stop waits for the export's last batch.
const EXPORT_PATIENCE: Duration = Duration::from_secs(5);

impl Running {
    pub(crate) fn reader(&self) -> Reader {
        self.reader.clone()
    }

    /// Waits until the last snapshot is recorded and committed (the runner has stopped, so
    /// the published channel has closed).
    pub(crate) async fn finish(self) {
        if let Err(e) = self.recorder.await {
            tracing::error!("history: the recorder failed: {e}");
        }
        if let Some(export) = self.export
            && tokio::time::timeout(EXPORT_PATIENCE, export).await.is_err()
        {
            tracing::warn!(
                "history: the InfluxDB export did not finish within {EXPORT_PATIENCE:?}"
            );
        }
    }
}

impl HistoryFront {
    /// Opens the store and starts recording the published snapshots. A store that cannot be
    /// opened is logged and history stays off: the site runs on without it.
    pub(crate) fn start(
        self,
        published: watch::Receiver<Option<Arc<Published>>>,
    ) -> Option<Running> {
        let cfg = self.cfg;
        let retention = cfg.retention();
        if let Some(dir) = cfg.path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            tracing::error!("history is off: cannot create {}: {e}", dir.display());
            return None;
        }
        let store = match Store::open(&cfg.path, cfg.sync) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("history is off: {e}");
                return None;
            }
        };
        tracing::info!("history: recording into {}", cfg.path.display());
        let (export_tx, export) = match &cfg.influx {
            Some(i) => match i.target() {
                Ok(target) => {
                    let (tx, rx) = mpsc::channel(64);
                    let tags: Vec<(String, String)> =
                        i.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    let lines = LineMaker {
                        measurement: i.measurement.clone(),
                        tags,
                    };
                    let task = tokio::spawn(export(rx, target, i.queue, i.batch));
                    (Some((tx, lines)), Some(task))
                }
                Err((k, m)) => {
                    tracing::error!("history.influx.{k}: {m}; no export");
                    (None, None)
                }
            },
            None => (None, None),
        };
        let recorder = tokio::spawn(record(
            published,
            Recorder::new(self.tz.clone()),
            store,
            retention,
            cfg.commit_every,
            export_tx,
        ));
        Some(Running {
            reader: Reader {
                path: cfg.path,
                retention,
                tz: self.tz,
                currency: cfg.currency,
                store: Arc::new(Mutex::new(None)),
            },
            recorder,
            export,
        })
    }
}

#[derive(Debug)]
struct LineMaker {
    measurement: String,
    tags: Vec<(String, String)>,
}

/// Commits queued for the writer thread; beyond that the disk is far behind and batches drop.
const WRITE_QUEUE: usize = 8;
/// Rows that make a batch due however recent the last commit: a simulation far faster than
/// the wall clock commits in batches of this size instead of holding minutes of its time in
/// memory (some 0.5 MB each).
const MAX_PENDING_ROWS: usize = 4096;

async fn record(
    mut published: watch::Receiver<Option<Arc<Published>>>,
    mut recorder: Recorder,
    store: Store,
    retention: Retention,
    commit_every: Duration,
    export: Option<(mpsc::Sender<Vec<String>>, LineMaker)>,
) {
    // A commit per closed 10 s sample, but no two closer than 9/10 of `commit_every` (a
    // simulation runs faster than the wall clock; 9/10 so that jitter of the 10 s samples on
    // the wall clock does not push every other commit to the next sample).
    let min_gap = commit_every.mul_f64(0.9);
    let mut last_commit: Option<std::time::Instant> = None;
    let mut store = Some(store);
    let mut writer: Option<(
        std::sync::mpsc::SyncSender<Batch>,
        std::thread::JoinHandle<()>,
    )> = None;
    let mut dropped = 0u64;
    let send = |batch: Batch,
                writer: &Option<(std::sync::mpsc::SyncSender<Batch>, _)>,
                dropped: &mut u64| {
        if let Some((tx, lines)) = &export {
            let l = history::influx::lines(&lines.measurement, &lines.tags, &batch.rows);
            if !l.is_empty() && tx.try_send(l).is_err() {
                tracing::debug!("history: the InfluxDB export is behind; lines dropped");
            }
        }
        if let Some((tx, _)) = writer
            && tx.try_send(batch).is_err()
        {
            *dropped += 1;
            if dropped.is_power_of_two() {
                tracing::error!("history: the store is behind; {dropped} batches dropped");
            }
        }
    };
    loop {
        if published.changed().await.is_err() {
            break;
        }
        let Some(p) = published.borrow_and_update().clone() else {
            continue;
        };
        if let Some(s) = store.take() {
            // The first snapshot: continue where the last run left off, then hand the store
            // to its writer thread.
            if let Err(e) = recorder.resume(&s, p.site.time) {
                tracing::warn!("history: cannot resume from the store: {e}");
            }
            writer = spawn_writer(s, retention);
        }
        recorder.handle_snapshot(&p.site);
        let due = last_commit.is_none_or(|t| t.elapsed() >= min_gap)
            || recorder.pending_rows().len() >= MAX_PENDING_ROWS;
        if recorder.has_sample() && due {
            send(recorder.take_batch(), &writer, &mut dropped);
            last_commit = Some(std::time::Instant::now());
        }
    }
    recorder.flush();
    send(recorder.take_batch(), &writer, &mut dropped);
    if let Some((tx, thread)) = writer {
        drop(tx);
        let joined = tokio::task::spawn_blocking(move || thread.join()).await;
        if !matches!(joined, Ok(Ok(()))) {
            tracing::error!("history: the writer thread failed");
        }
    }
}

fn spawn_writer(
    mut store: Store,
    retention: Retention,
) -> Option<(
    std::sync::mpsc::SyncSender<Batch>,
    std::thread::JoinHandle<()>,
)> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(WRITE_QUEUE);
    let thread = std::thread::Builder::new()
        .name("history-writer".into())
        .spawn(move || {
            let mut failing = false;
            for batch in rx {
                match store.write(&batch, &retention) {
                    Ok(()) if failing => {
                        tracing::info!("history: writing again");
                        failing = false;
                    }
                    Ok(()) => {}
                    Err(e) => {
                        if !failing {
                            tracing::error!("history: {e}; this batch is lost");
                        }
                        failing = true;
                    }
                }
            }
        });
    match thread {
        Ok(t) => Some((tx, t)),
        Err(e) => {
            tracing::error!("history is off: no writer thread: {e}");
            None
        }
    }
}

/// The export task: lines in, batches posted, retried with backoff; never waits on the tick.
async fn export(
    mut rx: mpsc::Receiver<Vec<String>>,
    target: Target,
    max_lines: usize,
    batch: usize,
) {
    let client = match tariffs::fetch::client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("history.influx: {e}; no export");
            return;
        }
    };
    let clock = units::SystemClock::new();
    let mut q = Exporter::new(max_lines, batch);
    let mut failing = false;
    let mut open = true;
    loop {
        while let Some(body) = q.poll_batch(clock.now()) {
            let result = post(&client, &target, body).await;
            match (&result, failing) {
                (Err(e), false) => {
                    tracing::warn!("history.influx: {e}; retrying with backoff");
                    failing = true;
                }
                (Ok(_), true) => {
                    tracing::info!("history.influx: sending again");
                    failing = false;
                }
                _ => {}
            }
            q.handle_result(clock.now(), result.unwrap_or(SendResult::Failed));
            if !open {
                break;
            }
        }
        if !open {
            return;
        }
        let wait = q
            .next_try()
            .map(|t| t.saturating_duration_since(clock.now()));
        tokio::select! {
            lines = rx.recv() => match lines {
                Some(l) => q.handle_lines(l),
                // The daemon stops: one last try with what is queued.
                None => open = false,
            },
            () = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))), if wait.is_some() => {}
        }
    }
}

async fn post(
    client: &tariffs::fetch::Client,
    target: &Target,
    body: String,
) -> Result<SendResult, String> {
    let mut req = client
        .post(target.url())
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(body);
    if let Some(a) = target.authorization() {
        req = req.header("Authorization", a);
    }
    // The error text without the URL: a v1 password could be in it.
    let res = req
        .send()
        .await
        .map_err(|e| format!("cannot reach the server: {}", e.without_url()))?;
    let status = res.status();
    if status.is_success() {
        Ok(SendResult::Ok)
    } else if status.is_client_error() {
        let text = res.text().await.unwrap_or_default();
        tracing::warn!(
            "history.influx: the server refuses the lines ({status}): {}",
            text.chars().take(200).collect::<String>()
        );
        Ok(SendResult::Rejected)
    } else {
        Err(format!("the server answers {status}"))
    }
}

#[derive(Clone)]
struct RouteState {
    reader: Option<Reader>,
    published: watch::Receiver<Option<Arc<Published>>>,
}

/// `/api/v1/history`, `/api/v1/history/series`, `/api/v1/energy` and `/metrics`; the history
/// routes answer 404 while history is off.
pub(crate) fn routes(
    reader: Option<Reader>,
    published: watch::Receiver<Option<Arc<Published>>>,
) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(history_route))
        .routes(routes!(series_route))
        .routes(routes!(energy_route))
        .routes(routes!(metrics_route))
        .with_state(RouteState { reader, published })
}

/// `/api/v1/history` as JSON.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct HistoryAnswer {
    /// First bucket, Unix seconds.
    from: i64,
    /// End, Unix seconds.
    to: i64,
    /// Bucket width, seconds.
    step: i64,
    /// The stored resolution the buckets were made from.
    resolution: history::Resolution,
    /// One entry per requested series, columnar.
    series: Vec<history::SeriesData>,
}

/// `/api/v1/energy`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct EnergyAnswer {
    period: history::Period,
    /// First local date.
    #[schema(format = Date)]
    from: String,
    /// Last local date (inclusive).
    #[schema(format = Date)]
    to: String,
    /// The currency of `import_cost`, `export_revenue`, `baseline_cost` and `savings`
    /// (`[history] currency`).
    currency: String,
    /// One entry per period with data, oldest first.
    totals: Vec<history::PeriodEnergy>,
}

fn off() -> Response {
    (
        StatusCode::NOT_FOUND,
        "history is off: configure [history] path (or gridlet sim --history FILE)\n",
    )
        .into_response()
}

fn bad_request(e: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response()
}

fn server_error(e: String) -> Response {
    tracing::error!("history: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response()
}

impl RouteState {
    /// The site's time: the newest snapshot's (virtual in a simulation).
    fn now(&self) -> Timestamp {
        self.published
            .borrow()
            .as_ref()
            .map_or_else(|| units::SystemClock::new().now(), |p| p.site.time)
    }
}

type Params<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// Recorded series over a time range, as JSON or CSV.
#[utoipa::path(
    get,
    path = "/api/v1/history",
    tag = "history",
    params(HistoryParams),
    responses(
        (status = 200, description = "The buckets", content(
            (HistoryAnswer = "application/json"),
            (String = "text/csv", example = "time,series,mean,min,max\n2026-06-21T12:00:00Z,grid_w,-1200,-1500,-900\n"),
        )),
        (status = 400, description = "A parameter is wrong (the message names it)", body = String, content_type = "text/plain"),
        (status = 404, description = "History is off", body = String, content_type = "text/plain"),
        (status = 500, description = "The store failed", body = String, content_type = "text/plain"),
    )
)]
async fn history_route(State(s): State<RouteState>, params: Params<HistoryParams>) -> Response {
    let Some(reader) = s.reader.clone() else {
        return off();
    };
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => return bad_request(e.body_text()),
    };
    let q = match HistoryQuery::parse(&params, s.now()) {
        Ok(q) => q,
        Err(e) => return bad_request(e),
    };
    let retention = reader.retention;
    let q2 = q.clone();
    let answer = reader
        .with(move |store| {
            let newest = store.newest()?.unwrap_or(q2.to);
            let res = q2.resolution(newest, &retention);
            let mut out = Vec::with_capacity(q2.series.len());
            for name in &q2.series {
                out.push(store.query(name, res, q2.from, q2.to, q2.step)?);
            }
            Ok((res, out))
        })
        .await;
    let (res, data) = match answer {
        Ok(a) => a,
        Err(e) => return server_error(e),
    };
    match q.format {
        Format::Json => Json(HistoryAnswer {
            from: q.from,
            to: q.to,
            step: q.step.max(res.secs()),
            resolution: res,
            series: data,
        })
        .into_response(),
        Format::Csv => {
            let mut csv = String::from("time,series,mean,min,max\n");
            for d in &data {
                for i in 0..d.t.len() {
                    let t = Timestamp::from_unix_secs(d.t[i]);
                    csv.push_str(&format!(
                        "{t},{},{},{},{}\n",
                        d.series, d.mean[i], d.min[i], d.max[i]
                    ));
                }
            }
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response()
        }
    }
}

/// The recorded series' keys.
#[utoipa::path(
    get,
    path = "/api/v1/history/series",
    tag = "history",
    responses(
        (status = 200, description = "The keys, sorted", body = Vec<String>),
        (status = 404, description = "History is off", body = String, content_type = "text/plain"),
        (status = 500, description = "The store failed", body = String, content_type = "text/plain"),
    )
)]
async fn series_route(State(s): State<RouteState>) -> Response {
    let Some(reader) = s.reader.clone() else {
        return off();
    };
    match reader.with(Store::series).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => server_error(e),
    }
}

/// Energy totals per local day, month or year.
#[utoipa::path(
    get,
    path = "/api/v1/energy",
    tag = "history",
    params(EnergyParams),
    responses(
        (status = 200, description = "The totals", body = EnergyAnswer),
        (status = 400, description = "A parameter is wrong (the message names it)", body = String, content_type = "text/plain"),
        (status = 404, description = "History is off", body = String, content_type = "text/plain"),
        (status = 500, description = "The store failed", body = String, content_type = "text/plain"),
    )
)]
async fn energy_route(State(s): State<RouteState>, params: Params<EnergyParams>) -> Response {
    let Some(reader) = s.reader.clone() else {
        return off();
    };
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => return bad_request(e.body_text()),
    };
    let q = match EnergyQuery::parse(&params, s.now(), &reader.tz) {
        Ok(q) => q,
        Err(e) => return bad_request(e),
    };
    match reader
        .with(move |store| store.energy(q.period, q.from, q.to))
        .await
    {
        Ok(totals) => Json(EnergyAnswer {
            period: q.period,
            from: q.from.to_string(),
            to: q.to.to_string(),
            currency: reader.currency.clone(),
            totals,
        })
        .into_response(),
        Err(e) => server_error(e),
    }
}

/// The live values in Prometheus' text exposition format (version 0.0.4).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 503, description = "Starting: no tick yet", body = String, content_type = "text/plain"),
    )
)]
async fn metrics_route(State(s): State<RouteState>) -> Response {
    let published = s.published.borrow().clone();
    let Some(p) = published else {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response();
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics_text(&p.site),
    )
        .into_response()
}

fn metrics_text(site: &site::Snapshot) -> String {
    let mut values = history::values(site);
    // One metric's samples together, each metric's TYPE once.
    values.sort_by_key(history::Value::metric);
    let mut out = String::new();
    let mut current = String::new();
    for v in &values {
        let metric = v.metric();
        if metric != current {
            out.push_str(&format!("# TYPE {metric} gauge\n"));
            current = metric.clone();
        }
        match &v.name {
            Some(n) => {
                let n = n
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                out.push_str(&format!("{metric}{{name=\"{n}\"}} {}\n", v.value));
            }
            None => out.push_str(&format!("{metric} {}\n", v.value)),
        }
    }
    out.push_str("# TYPE gridlet_snapshot_time_seconds gauge\n");
    out.push_str(&format!(
        "gridlet_snapshot_time_seconds {}\n",
        site.time.as_unix_secs_f64()
    ));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::config::{EXAMPLE_FOCCCI_CAPE, parse};

    /// The example's commented `[history]` tables, uncommented.
    fn example_history() -> String {
        let (_, rest) = EXAMPLE_FOCCCI_CAPE.split_once("# [history]\n").unwrap();
        let mut out = String::from("[history]\n");
        for l in rest.lines().take_while(|l| l.starts_with('#')) {
            let l = l.trim_start_matches('#').trim_start();
            let key = l.split(" = ").next().unwrap_or_default();
            let is_setting =
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if l.starts_with('[') || (is_setting && l.contains(" = ")) {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    #[test]
    fn the_examples_history_parses_with_its_defaults() {
        let text = example_history();
        assert!(text.contains("[history.influx]"), "{text}");
        let c = parse("f.toml", &text).unwrap();
        let h = c.history.unwrap();
        assert_eq!(h.retention(), history::Retention::default());
        assert_eq!(h.commit_every, super::default_commit_every());
        assert_eq!(h.currency, "EUR");
        let i = h.influx.unwrap();
        assert_eq!(
            i.target().unwrap().url(),
            "http://192.168.1.10:8086/write?db=gridlet&precision=s"
        );
        assert_eq!(i.tags["site"], "home");
    }

    fn err(src: &str) -> String {
        parse("f.toml", src).unwrap_err().to_string()
    }

    #[test]
    fn history_errors_point_at_the_key() {
        let e = err("[history]\npath = \"h.sqlite\"\nkeep_raw = \"10m\"\n");
        assert!(
            e.starts_with("f.toml:3:1: history.keep_raw: must be at least 1h"),
            "{e}"
        );
        let e = err("[history]\npath = \"h.sqlite\"\nkeep_minute = \"1d\"\n");
        assert!(e.starts_with("f.toml:3:1: history.keep_minute:"), "{e}");
        let e = err("[history]\npath = \"h.sqlite\"\ncommit_every = \"1h\"\n");
        assert!(e.starts_with("f.toml:3:1: history.commit_every:"), "{e}");
        let e = err("[history]\npath = \"h.sqlite\"\nsync = \"sometimes\"\n");
        assert!(
            e.starts_with("f.toml:3:8: history.sync: unknown variant `sometimes`"),
            "{e}"
        );
        let e = err("[history]\npath = \"h.sqlite\"\ncurrency = \"\"\n");
        assert!(e.starts_with("f.toml:3:1: history.currency:"), "{e}");
        let e = err("[history]\npath = \"h.sqlite\"\ncolour = 1\n");
        assert!(
            e.starts_with("f.toml:3:1: history.colour: unknown field `colour`"),
            "{e}"
        );
        let e = err("[history]\nkeep_raw = \"2d\"\n");
        assert!(
            e.starts_with("f.toml:1:1: history: missing field `path`"),
            "{e}"
        );
        let influx = "[history]\npath = \"h.sqlite\"\n[history.influx]\n";
        let e = err(&format!(
            "{influx}url = \"192.168.1.10:8086\"\ndb = \"g\"\n"
        ));
        assert!(e.starts_with("f.toml:4:1: history.influx.url:"), "{e}");
        let e = err(&format!("{influx}url = \"http://h:8086\"\n"));
        assert!(
            e.starts_with("f.toml:3:10: history.influx: db: the v1 API"),
            "{e}"
        );
        let e = err(&format!(
            "{influx}url = \"http://h:8086\"\napi = \"v2\"\norg = \"o\"\nbucket = \"b\"\n"
        ));
        assert!(e.starts_with("f.toml:3:10: history.influx: token:"), "{e}");
        let e = err(&format!("{influx}url = \"http://h:8086\"\napi = \"v3\"\n"));
        assert!(e.starts_with("f.toml:5:1: history.influx.api:"), "{e}");
        let ok = parse(
            "f.toml",
            &format!(
                "{influx}url = \"http://h:8086\"\napi = \"v2\"\norg = \"o\"\nbucket = \"b\"\ntoken = \"t\"\n"
            ),
        )
        .unwrap();
        assert!(ok.history.unwrap().influx.is_some());
    }
}
