//! HTTP: the live page at `/` and the REST API under `/api/v1`.
//!
//! Handlers never touch the site directly: they read the latest published snapshot and queue
//! requests that the control loop applies between two ticks.
//!
//! Every request passes `guard_fn` first: on a listener that is not loopback, writes need the
//! `[http]` bearer token (reads too with `open_reads = false`); bodies over [`MAX_BODY`] are
//! refused with 413 before they are read; authorized writes are rate-limited (429).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

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
    extra: Router,
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
    let app = router(AppState {
        published,
        requests,
        simulated,
    })
    // Other front ends' routes (history, /metrics), behind the same guard.
    .merge(extra)
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

fn router(state: AppState) -> Router {
    let web = crate::web::routes(state.published.clone(), state.requests.clone());
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/plan", get(plan))
        .route("/api/v1/mode", post(set_mode))
        .route("/api/v1/ev", post(set_ev))
        .route("/api/v1/sim/button", post(press_button))
        .route("/api/v1/sim/fault", post(inject_fault))
        .with_state(state)
        .merge(web)
}

async fn status(State(s): State<AppState>) -> Response {
    let published = s.published.borrow().clone();
    match published {
        Some(p) => Json(p.as_ref()).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response(),
    }
}

/// The planner's plan: its steps (time, prices, PV, load, planned powers and SoCs), its cost,
/// when and why it was planned, and why the thresholds decide if they do.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    mode: controller::Mode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvBody {
    enabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultBody {
    fault: sim::Fault,
    #[serde(with = "units::duration_str")]
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

async fn set_mode(State(s): State<AppState>, Json(b): Json<ModeBody>) -> Response {
    queue(&s, Request::SetMode(b.mode)).await
}

async fn set_ev(State(s): State<AppState>, Json(b): Json<EvBody>) -> Response {
    queue(&s, Request::SetEvEnabled(b.enabled)).await
}

fn not_simulated() -> Response {
    (StatusCode::NOT_FOUND, "this site is not simulated").into_response()
}

async fn press_button(State(s): State<AppState>) -> Response {
    if !s.simulated {
        return not_simulated();
    }
    queue(&s, Request::PressSimButton).await
}

async fn inject_fault(State(s): State<AppState>, Json(b): Json<FaultBody>) -> Response {
    if !s.simulated {
        return not_simulated();
    }
    queue(&s, Request::InjectSimFault(b.fault, b.duration)).await
}
