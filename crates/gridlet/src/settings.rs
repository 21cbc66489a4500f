//! `/api/v1/settings`: the user's settings ([`runner::settings`]) read and changed over HTTP;
//! the control loop applies a patch between two ticks and answers with the result.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, oneshot, watch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use runner::settings::{Patch, Settings};

use crate::runner::{Published, Request};

#[derive(Clone)]
struct RouteState {
    published: watch::Receiver<Option<Arc<Published>>>,
    requests: mpsc::Sender<Request>,
}

/// `GET /api/v1/settings` and `POST /api/v1/settings` (a partial update).
pub(crate) fn routes(
    published: watch::Receiver<Option<Arc<Published>>>,
    requests: mpsc::Sender<Request>,
) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(get_settings, post_settings))
        .with_state(RouteState {
            published,
            requests,
        })
}

/// The user's current settings.
#[utoipa::path(
    get,
    path = "/api/v1/settings",
    tag = "control",
    responses(
        (status = 200, description = "The settings in force", body = Settings),
        (status = 503, description = "Starting: no tick yet", body = String, content_type = "text/plain"),
    )
)]
async fn get_settings(State(s): State<RouteState>) -> Response {
    let published = s.published.borrow().clone();
    match published {
        Some(p) => Json(&p.settings).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response(),
    }
}

/// How long a write waits for the control loop to apply it.
const APPLY_PATIENCE: Duration = Duration::from_secs(5);

/// Changes some settings at once (absent fields stay); the control loop applies the whole patch
/// or none of it, and the result is stored for the next start.
#[utoipa::path(
    post,
    path = "/api/v1/settings",
    tag = "control",
    request_body = Patch,
    responses(
        (status = 200, description = "Applied: the settings now in force", body = Settings),
        (status = 503, description = "The control loop is busy, stopped or did not answer", body = String, content_type = "text/plain"),
    )
)]
async fn post_settings(State(s): State<RouteState>, Json(patch): Json<Patch>) -> Response {
    let (tx, rx) = oneshot::channel();
    if s.requests
        .try_send(Request::UpdateSettings(patch, tx))
        .is_err()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the control loop is busy or stopped; retry",
        )
            .into_response();
    }
    match tokio::time::timeout(APPLY_PATIENCE, rx).await {
        Ok(Ok(Ok(settings))) => Json(settings).into_response(),
        Ok(Ok(Err(e))) => (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")).into_response(),
        Ok(Err(_)) | Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the control loop did not answer",
        )
            .into_response(),
    }
}
