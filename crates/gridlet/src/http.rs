//! HTTP: the live page at `/` and the REST API under `/api/v1`.
//!
//! Handlers never touch the site directly: they read the latest published snapshot and queue
//! requests that the control loop applies between two ticks.
//!
//! Every request passes `guard_fn` first: on a listener that is not loopback, writes need the
//! `[http]` bearer token (reads too with `open_reads = false`); bodies over [`MAX_BODY`] are
//! refused with 413 before they are read; authorized writes are rate-limited (429).
//!
//! The OpenAPI document (`GET /api/v1/openapi.json`) is generated from the handlers: every route
//! is registered through utoipa-axum's `routes!`, which adds the handler's `#[utoipa::path]` to
//! the document in the same call, and [`document_guard`] adds what the guard answers to every
//! operation. A test compares the document's (path, method) set with the router's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use utoipa::OpenApi as _;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::runner::{Published, Request, StopCause};

/// The largest request body: the API's bodies are a few dozen bytes.
pub(crate) const MAX_BODY: usize = 16 * 1024;
/// Writes allowed in a burst, and refilled per second: a page or a script changes a setting a
/// few times; a loop that writes faster is a bug or an attack, and the control loop's request
/// queue must not be the one to overflow.
const WRITE_BURST: f64 = 20.0;
const WRITES_PER_SECOND: f64 = 5.0;

/// Who may read and write (`[http]` token, open_reads).
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The bearer token, if one is configured.
    pub token: Option<String>,
    /// Reads need no token.
    pub open_reads: bool,
}

#[derive(Debug)]
struct Guard {
    access: Access,
    /// Writes need the token: the listener is reachable from other machines.
    writes_need_token: bool,
    bucket: std::sync::Mutex<(f64, std::time::Instant)>,
}

impl Guard {
    fn take_write(&self) -> bool {
        let mut b = self
            .bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        let tokens =
            (b.0 + now.duration_since(b.1).as_secs_f64() * WRITES_PER_SECOND).min(WRITE_BURST);
        if tokens < 1.0 {
            *b = (tokens, now);
            return false;
        }
        *b = (tokens - 1.0, now);
        true
    }

    fn authorized(&self, headers: &axum::http::HeaderMap) -> bool {
        let Some(want) = &self.access.token else {
            return false;
        };
        let got = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        // Compared in constant time: the answer's timing must not tell how much was right.
        got.is_some_and(|g| {
            g.len() == want.len()
                && g.bytes()
                    .zip(want.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
    }
}

async fn guard_fn(
    State(g): State<Arc<Guard>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let too_big = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY as u64);
    if too_big {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {MAX_BODY} bytes"),
        )
            .into_response();
    }
    let read = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let needs_token = if read {
        !g.access.open_reads
    } else {
        g.writes_need_token
    };
    if needs_token && !g.authorized(req.headers()) {
        let why = if g.access.token.is_some() {
            "missing or wrong bearer token (Authorization: Bearer ...)"
        } else {
            "this listener is not loopback: set [http] token or token_file to allow writes"
        };
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            why,
        )
            .into_response();
    }
    if !read && !g.take_write() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            "too many writes; retry in a second",
        )
            .into_response();
    }
    next.run(req).await
}

#[derive(Clone)]
struct AppState {
    published: watch::Receiver<Option<Arc<Published>>>,
    requests: mpsc::Sender<Request>,
    simulated: bool,
}

/// Binds `addr` and serves until `stop` reports a stop. Returns the bound address (useful with
/// port 0).
pub(crate) async fn serve(
    addr: SocketAddr,
    published: watch::Receiver<Option<Arc<Published>>>,
    requests: mpsc::Sender<Request>,
    simulated: bool,
    access: Access,
    mut stop: watch::Receiver<Option<StopCause>>,
    extra: OpenApiRouter,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot listen on {addr} (is another gridlet running? choose another with --listen)"
        )
    })?;
    let bound = listener.local_addr()?;
    let guard = Arc::new(Guard {
        writes_need_token: !addr.ip().is_loopback(),
        access,
        bucket: std::sync::Mutex::new((WRITE_BURST, std::time::Instant::now())),
    });
    if guard.writes_need_token && guard.access.token.is_none() {
        tracing::warn!(
            "listening on {addr} without [http] token: the API is read-only from the network"
        );
    }
    let (app, _) = app(
        AppState {
            published,
            requests,
            simulated,
        },
        extra,
    )?;
    let app = app
        .layer(axum::middleware::from_fn_with_state(guard, guard_fn))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY));
    tokio::spawn(async move {
        let shutdown = async move {
            while stop.borrow().is_none() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!("HTTP server failed: {e}");
        }
    });
    Ok(bound)
}

/// The document's fixed parts; the paths come from the routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "gridlet",
        description = "gridlet's REST API: the live state, the plan, history and energy totals, \
and the few writes a person or a home automation needs. Writes are queued for the control loop \
and applied between two ticks (202). On a listener that is not loopback, writes need the \
`[http] token` as a bearer token, and reads too with `open_reads = false`."
    ),
    tags(
        (name = "live", description = "The control loop's latest snapshot and plan"),
        (name = "control", description = "Writes, applied between two ticks"),
        (name = "simulation", description = "Only on a simulated site (`gridlet sim`)"),
        (name = "history", description = "The history store and energy totals"),
        (name = "meta", description = "The page, this document, Prometheus metrics"),
    )
)]
struct ApiDoc;

/// The document as served: generated once, when the server starts.
#[derive(Clone)]
struct DocJson(Arc<str>);

/// The whole router (without the guard) and its document: this module's routes, `extra` (the
/// other front ends' routes, behind the same guard) and `/api/v1/openapi.json`.
fn app(state: AppState, extra: OpenApiRouter) -> anyhow::Result<(Router, OpenApi)> {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(status))
        .routes(routes!(plan))
        .routes(routes!(set_mode))
        .routes(routes!(set_ev))
        .routes(routes!(press_button))
        .routes(routes!(inject_fault))
        .routes(routes!(openapi_json))
        .with_state(state.clone())
        .merge(crate::web::routes(state.published, state.requests))
        .merge(extra)
        .split_for_parts();
    document_guard(&mut doc);
    let json = doc
        .to_json()
        .context("cannot serialize the OpenAPI document")?;
    Ok((router.layer(Extension(DocJson(json.into()))), doc))
}

/// Adds to every operation what [`guard_fn`] (and axum's JSON extractor) may answer instead of
/// the handler, and the bearer scheme: the guard sits in front of every route, so this is true
/// of routes added by other modules too.
fn document_guard(doc: &mut OpenApi) {
    use utoipa::openapi::security::{
        HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    };
    use utoipa::openapi::{ContentBuilder, ObjectBuilder, ResponseBuilder, Type};

    let text = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "text/plain",
                ContentBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            )
            .build()
    };
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The `[http] token` (or `token_file`). Needed for writes on a listener that \
is not loopback, and for reads with `open_reads = false`.",
                ))
                .build(),
        ),
    );
    for item in doc.paths.paths.values_mut() {
        let ops = [
            (true, item.get.as_mut()),
            (false, item.put.as_mut()),
            (false, item.post.as_mut()),
            (false, item.delete.as_mut()),
            (false, item.patch.as_mut()),
        ];
        for (read, op) in ops {
            let Some(op) = op else { continue };
            let r = &mut op.responses.responses;
            let mut add = |code: &str, description: &str| {
                r.entry(code.to_owned())
                    .or_insert_with(|| text(description).into());
            };
            if read {
                add("401", "`open_reads = false` and no or a wrong bearer token");
            } else {
                add(
                    "401",
                    "No or a wrong bearer token on a listener that is not loopback",
                );
                add("413", "The body is over 16 KiB");
                add(
                    "429",
                    "More than 20 writes in a burst or 5 per second; retry after 1 s",
                );
            }
            if op.request_body.is_some() {
                add("400", "The body is not JSON");
                add("415", "No `Content-Type: application/json`");
                add(
                    "422",
                    "The JSON does not match the schema (the message names the field)",
                );
            }
            let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
            op.security = Some(if read {
                // Open, or the token with `open_reads = false`.
                vec![SecurityRequirement::default(), bearer]
            } else {
                vec![bearer]
            });
        }
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
async fn openapi_json(Extension(doc): Extension<DocJson>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.to_string(),
    )
        .into_response()
}

/// `GET /api/v1/status`, for the document. The site snapshot (`site::Snapshot`) spans the device
/// crates and grows with them: the document names its fixed members and leaves it open.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Never built: it describes `runner::Published`.
struct Status {
    site: SiteSnapshot,
    /// Only on a simulated site: its energy totals (Wh), LED and speed.
    sim: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The latest tick's snapshot: besides these, `grid`, `pv`, `battery`, `converter`,
/// `charge_point` (with the car), `changeover`, `relays`, `price`, `commands` and `devices`
/// (each device's health); absent devices are `null`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Never built: it describes `site::Snapshot`.
struct SiteSnapshot {
    /// When the tick ran (RFC 3339; virtual time in a simulation).
    #[schema(format = DateTime)]
    time: String,
    /// Total PV power, W.
    pv_power_w: f64,
    /// The controller's decisions.
    controller: ControllerStatus,
    /// Devices that refused a command in this tick.
    device_errors: Vec<String>,
}

/// The controller's decisions (`controller::ControllerStatus`): the mode and more.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Never built: it describes `controller::ControllerStatus`.
struct ControllerStatus {
    mode: controller::Mode,
}

/// The latest snapshot.
#[utoipa::path(
    get,
    path = "/api/v1/status",
    tag = "live",
    responses(
        (status = 200, description = "The latest snapshot", body = Status),
        (status = 503, description = "Starting: no tick yet", body = String, content_type = "text/plain"),
    )
)]
async fn status(State(s): State<AppState>) -> Response {
    let published = s.published.borrow().clone();
    match published {
        Some(p) => Json(p.as_ref()).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response(),
    }
}

/// The planner's plan: its steps (time, prices, PV, load, planned powers and SoCs), its cost,
/// when and why it was planned, and why the thresholds decide if they do.
#[utoipa::path(
    get,
    path = "/api/v1/plan",
    tag = "live",
    responses(
        (status = 200, description = "The plan (`site::PlanStatus`: `plan`, `fallback`, `solves`, ...)",
            body = serde_json::Map<String, serde_json::Value>),
        (status = 404, description = "No planner is configured", body = String, content_type = "text/plain"),
        (status = 503, description = "Starting: no tick yet", body = String, content_type = "text/plain"),
    )
)]
async fn plan(State(s): State<AppState>) -> Response {
    let published = s.published.borrow().clone();
    match published {
        Some(p) => match &p.plan {
            Some(plan) => Json(plan.as_ref()).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                "no planner: set [planner] enabled = true",
            )
                .into_response(),
        },
        None => (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response(),
    }
}

/// Select the operating mode.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mode": "hold"}))]
struct ModeBody {
    mode: controller::Mode,
}

/// Allow or forbid serving the car.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true}))]
struct EvBody {
    enabled: bool,
}

/// Inject a fault into the simulation for a while.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"fault": "meter-silent", "duration": "30s"}))]
struct FaultBody {
    fault: sim::Fault,
    /// How long: a number with a unit (`500ms`, `30s`, `15m`, `2h`, `1h30m`).
    #[serde(with = "units::duration_str")]
    #[schema(value_type = String, pattern = "^([0-9]+(ms|s|m|h|d))+$")]
    duration: Duration,
}

/// Queues a request for the control loop. Never waits: a full queue means the loop is behind,
/// and the client should retry rather than pile up more.
async fn queue(s: &AppState, req: Request) -> Response {
    match s.requests.try_send(req) {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(mpsc::error::TrySendError::Full(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests queued; retry",
        )
            .into_response(),
        Err(mpsc::error::TrySendError::Closed(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the control loop has stopped",
        )
            .into_response(),
    }
}

/// Select the operating mode.
#[utoipa::path(
    post,
    path = "/api/v1/mode",
    tag = "control",
    request_body = ModeBody,
    responses(
        (status = 202, description = "Queued for the control loop"),
        (status = 503, description = "The control loop is behind or stopped", body = String, content_type = "text/plain"),
    )
)]
async fn set_mode(State(s): State<AppState>, Json(b): Json<ModeBody>) -> Response {
    queue(&s, Request::SetMode(b.mode)).await
}

/// Allow or forbid serving the car.
#[utoipa::path(
    post,
    path = "/api/v1/ev",
    tag = "control",
    request_body = EvBody,
    responses(
        (status = 202, description = "Queued for the control loop"),
        (status = 503, description = "The control loop is behind or stopped", body = String, content_type = "text/plain"),
    )
)]
async fn set_ev(State(s): State<AppState>, Json(b): Json<EvBody>) -> Response {
    queue(&s, Request::SetEvEnabled(b.enabled)).await
}

fn not_simulated() -> Response {
    (StatusCode::NOT_FOUND, "this site is not simulated").into_response()
}

/// Press the simulated button (the charge point's start/stop button).
#[utoipa::path(
    post,
    path = "/api/v1/sim/button",
    tag = "simulation",
    responses(
        (status = 202, description = "Queued for the control loop"),
        (status = 404, description = "The site is not simulated", body = String, content_type = "text/plain"),
        (status = 503, description = "The control loop is behind or stopped", body = String, content_type = "text/plain"),
    )
)]
async fn press_button(State(s): State<AppState>) -> Response {
    if !s.simulated {
        return not_simulated();
    }
    queue(&s, Request::PressSimButton).await
}

/// Inject a fault into the simulation for a while.
#[utoipa::path(
    post,
    path = "/api/v1/sim/fault",
    tag = "simulation",
    request_body = FaultBody,
    responses(
        (status = 202, description = "Queued for the control loop"),
        (status = 404, description = "The site is not simulated", body = String, content_type = "text/plain"),
        (status = 503, description = "The control loop is behind or stopped", body = String, content_type = "text/plain"),
    )
)]
async fn inject_fault(State(s): State<AppState>, Json(b): Json<FaultBody>) -> Response {
    if !s.simulated {
        return not_simulated();
    }
    queue(&s, Request::InjectSimFault(b.fault, b.duration)).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use axum::body::Body;
    use tower::ServiceExt as _;

    use super::*;

    /// The router's (path, method) pairs. axum lists no routes, so the paths come from its
    /// `Debug` output (the route table's paths are its only `"/..."` strings) and each path's
    /// methods from the `Allow` header of a 405.
    async fn routes(router: &Router) -> BTreeSet<(String, String)> {
        let debug = format!("{router:?}");
        let paths: BTreeSet<&str> = debug
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.starts_with('/') && !s.contains("__private__"))
            .collect();
        let mut out = BTreeSet::new();
        for path in paths {
            // A concrete path for one with parameters.
            let concrete: String = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "x" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let res = router
                .clone()
                .oneshot(
                    axum::http::Request::builder()
                        .method("TRACE")
                        .uri(&concrete)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "TRACE {path}");
            let allow = res.headers()[header::ALLOW].to_str().unwrap().to_owned();
            for m in allow.split(',').map(str::trim) {
                // axum answers HEAD wherever it answers GET.
                if m != "HEAD" {
                    out.insert((path.to_owned(), m.to_owned()));
                }
            }
        }
        out
    }

    fn documented(doc: &OpenApi) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            for (m, op) in [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("PATCH", &item.patch),
                ("HEAD", &item.head),
                ("OPTIONS", &item.options),
                ("TRACE", &item.trace),
            ] {
                if op.is_some() {
                    out.insert((path.clone(), m.to_owned()));
                }
            }
        }
        out
    }

    fn whole_app() -> (Router, OpenApi) {
        let (_ptx, published) = watch::channel(None);
        let (requests, _rx) = mpsc::channel(1);
        app(
            AppState {
                published: published.clone(),
                requests,
                simulated: true,
            },
            crate::history_front::routes(None, published),
        )
        .unwrap()
    }

    /// The document cannot drift from the router: every route served is documented, and every
    /// documented one is served. A route added with plain `.route()` (not `routes!`) fails here.
    #[tokio::test]
    async fn the_document_lists_exactly_the_routes_served() {
        let (router, doc) = whole_app();
        let served = routes(&router).await;
        // The Debug-based listing still works (axum's Debug output could change).
        assert!(
            served.contains(&("/api/v1/status".to_owned(), "GET".to_owned()))
                && served.contains(&("/api/v1/mode".to_owned(), "POST".to_owned()))
                && served.len() >= 12,
            "the router's routes were not found: {served:?}"
        );
        let documented = documented(&doc);
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty() && unserved.is_empty(),
            "served but not documented: {undocumented:?}; documented but not served: {unserved:?}"
        );
    }

    /// The guard's answers and the bearer scheme are on every operation.
    #[test]
    fn every_write_documents_the_token_and_the_limits() {
        let (_, doc) = whole_app();
        let json = serde_json::to_value(&doc).unwrap();
        assert!(json["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
        let mut writes = 0;
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let codes = op["responses"].as_object().unwrap();
                assert!(codes.contains_key("401"), "{method} {path}");
                if method != "get" {
                    writes += 1;
                    for c in ["401", "413", "429"] {
                        assert!(codes.contains_key(c), "{method} {path}: no {c}");
                    }
                    assert_eq!(op["security"], serde_json::json!([{"bearer": []}]));
                }
                if op.get("requestBody").is_some() {
                    for c in ["400", "415", "422"] {
                        assert!(codes.contains_key(c), "{method} {path}: no {c}");
                    }
                }
            }
        }
        assert!(writes >= 4, "{writes} writes documented");
    }
}
