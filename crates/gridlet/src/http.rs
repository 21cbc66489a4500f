//! HTTP: the live page at `/` and the REST API under `/api/v1`.
//!
//! Handlers never touch the site directly: they read the latest published snapshot and queue
//! requests that the control loop applies between two ticks.

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

const INDEX_HTML: &str = include_str!("../web/index.html");

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
    mut stop: watch::Receiver<Option<StopCause>>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot listen on {addr} (is another gridlet running? choose another with --listen)"
        )
    })?;
    let bound = listener.local_addr()?;
    let app = router(AppState {
        published,
        requests,
        simulated,
    });
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
    Router::new()
        .route("/", get(index))
        .route("/api/v1/status", get(status))
        .route("/api/v1/plan", get(plan))
        .route("/api/v1/mode", post(set_mode))
        .route("/api/v1/ev", post(set_ev))
        .route("/api/v1/sim/button", post(press_button))
        .route("/api/v1/sim/fault", post(inject_fault))
        .with_state(state)
}

async fn index() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX_HTML,
    )
        .into_response()
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
